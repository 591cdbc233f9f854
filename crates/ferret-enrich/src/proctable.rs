//! The process table: what is known of every process, kept from /proc at
//! start and from fork/exec/exit records after, so every event can carry the
//! actor's image and lineage.
//!
//! Processes are keyed by (pid, start time), never by pid alone, so a reused
//! pid is a new process. An exited process stays while a retained descendant
//! refers to it (its children keep their lineage), and is evicted when the
//! last one goes. A size cap bounds memory whatever happens: past it, the
//! least recently used entries go first, exited ones before live ones.
//! Each entry is about 1 KiB plus its argv and paths; the default cap of
//! 32,768 entries bounds the table near 40 MiB in the worst case (16 KiB argv
//! everywhere is far rarer: typical entries are under 2 KiB).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use ferret_bpf::decode::FileId;

use ferret_event::Ancestor;

use crate::hash::HashSlot;

/// Identity of one process instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcKey {
    pub pid: u32,
    /// Start time in clock ticks since boot, as /proc/PID/stat has it (the
    /// granularity both sources share).
    pub start_ticks: u64,
}

/// What is known of one process. Strings are already escaped for JSON (see
/// `ferret_event::text`); `escaped` names those that needed it.
#[derive(Debug, Clone, Default)]
pub struct ProcInfo {
    pub pid: u32,
    pub start_ticks: u64,
    /// Start, ns since boot (tick resolution for processes seeded from /proc).
    pub start_ns: u64,
    pub parent: Option<ProcKey>,
    pub ppid: u32,
    pub exec_id: String,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub comm: String,
    pub exe: Option<String>,
    pub exe_file: Option<FileId>,
    pub exe_deleted: bool,
    pub exe_memfd: bool,
    pub exe_upper_layer: bool,
    pub args: Arc<Vec<String>>,
    /// argv joined by spaces, computed once per exec.
    pub cmdline: Arc<str>,
    pub args_truncated: bool,
    pub cwd: Option<String>,
    pub tty: Option<String>,
    /// The container it runs in (from its cgroup at exec, or /proc when seeded).
    pub container: Option<Arc<ferret_event::Container>>,
    /// In a container: whether it descends from the container's init (set at exec, inherited
    /// at fork); None on the host, or when not known (seeded from /proc).
    pub init_tree: Option<bool>,
    pub escaped: Vec<String>,
    /// The executable's hash, requested at exec (or lazily for seeded ones).
    pub hash: Option<Arc<HashSlot>>,
    pub exited: bool,
    /// This process as an ancestor, shared by the events of its descendants;
    /// rebuilt by `refresh_summary` whenever what it shows changes.
    pub summary: Arc<Ancestor>,
    /// Retained entries whose `parent` is this one.
    pub(crate) children: u32,
    pub(crate) last_used: u64,
}

impl ProcInfo {
    pub fn key(&self) -> ProcKey {
        ProcKey { pid: self.pid, start_ticks: self.start_ticks }
    }

    /// Rebuilds the shared ancestor summary after the image, comm or
    /// exit state changed.
    pub fn refresh_summary(&mut self) {
        self.summary = Arc::new(Ancestor {
            pid: self.pid,
            exe: self.exe.clone(),
            args: self.args.clone(),
            comm: self.comm.clone(),
            uid: Some(self.uid),
            exec_id: self.exec_id.clone(),
            exited: self.exited,
        });
    }
}

/// Builds exec ids: stable for a process instance across sensor restarts
/// within one boot, unique across hosts and boots.
#[derive(Debug, Clone)]
pub struct ExecIds {
    boot: String,
}

impl ExecIds {
    pub fn new(boot_id: &str) -> ExecIds {
        let boot: String = boot_id.chars().filter(char::is_ascii_hexdigit).take(16).collect();
        ExecIds { boot }
    }
    pub fn make(&self, key: ProcKey) -> String {
        format!("{}:{}:{}", self.boot, key.start_ticks, key.pid)
    }
}

/// Counters of the table.
#[derive(Debug, Default, Clone, Copy)]
pub struct TableStats {
    pub len: usize,
    pub evicted_by_cap: u64,
}

/// The table itself.
#[derive(Debug)]
pub struct ProcTable {
    procs: HashMap<ProcKey, ProcInfo>,
    /// pid -> the live (or most recent) process with that pid.
    by_pid: HashMap<u32, ProcKey>,
    cap: usize,
    tick: u64,
    ids: ExecIds,
    ns_per_tick: u64,
    evicted_by_cap: u64,
}

impl ProcTable {
    pub fn new(cap: usize, ids: ExecIds, ticks_per_sec: u64) -> ProcTable {
        ProcTable {
            procs: HashMap::new(),
            by_pid: HashMap::new(),
            cap: cap.max(16),
            tick: 0,
            ids,
            ns_per_tick: 1_000_000_000 / ticks_per_sec.max(1),
            evicted_by_cap: 0,
        }
    }

    pub fn stats(&self) -> TableStats {
        TableStats { len: self.procs.len(), evicted_by_cap: self.evicted_by_cap }
    }

    /// Converts a boot-clock start time to the key's tick resolution.
    pub fn key(&self, pid: u32, start_ns: u64) -> ProcKey {
        ProcKey { pid, start_ticks: start_ns / self.ns_per_tick }
    }

    pub fn exec_id(&self, key: ProcKey) -> String {
        self.ids.make(key)
    }

    pub fn get(&self, key: &ProcKey) -> Option<&ProcInfo> {
        self.procs.get(key)
    }

    /// Marks an entry used now (for the LRU order) and returns it.
    pub fn touch(&mut self, key: &ProcKey) -> Option<&mut ProcInfo> {
        self.tick += 1;
        let tick = self.tick;
        let p = self.procs.get_mut(key)?;
        p.last_used = tick;
        Some(p)
    }

    /// Inserts or replaces an entry, keeping parent links counted.
    pub fn insert(&mut self, mut info: ProcInfo) {
        let key = info.key();
        info.exec_id = self.ids.make(key);
        info.refresh_summary();
        self.tick += 1;
        info.last_used = self.tick;
        if let Some(old) = self.procs.remove(&key) {
            info.children = old.children;
            if let Some(p) = old.parent {
                self.release_child(p);
            }
        }
        if let Some(p) = info.parent {
            if let Some(parent) = self.procs.get_mut(&p) {
                parent.children += 1;
            }
        }
        self.by_pid.insert(key.pid, key);
        self.procs.insert(key, info);
        if self.procs.len() > self.cap {
            self.evict_over_cap();
        }
    }

    /// The current process with this pid, if known.
    pub fn by_pid(&self, pid: u32) -> Option<ProcKey> {
        self.by_pid.get(&pid).copied()
    }

    /// Records an exit; the entry is removed now or once its last retained
    /// descendant goes.
    pub fn exited(&mut self, key: &ProcKey) {
        if let Some(p) = self.procs.get_mut(key) {
            p.exited = true;
            p.refresh_summary();
        }
        self.remove_if_unreferenced(*key);
    }

    fn release_child(&mut self, parent: ProcKey) {
        if let Some(p) = self.procs.get_mut(&parent) {
            p.children = p.children.saturating_sub(1);
            if p.exited && p.children == 0 {
                self.remove_if_unreferenced(parent);
            }
        }
    }

    /// Removes an entry and its traces (pid index, its parent's child
    /// count). Returns the parent when that left it exited and childless.
    fn unlink(&mut self, key: ProcKey) -> Option<ProcKey> {
        let p = self.procs.remove(&key)?;
        if self.by_pid.get(&key.pid) == Some(&key) {
            self.by_pid.remove(&key.pid);
        }
        let parent = p.parent?;
        let pp = self.procs.get_mut(&parent)?;
        pp.children = pp.children.saturating_sub(1);
        (pp.exited && pp.children == 0).then_some(parent)
    }

    fn remove_if_unreferenced(&mut self, key: ProcKey) {
        // Iterative, so a long exited chain cannot blow the stack.
        let mut next = Some(key);
        while let Some(k) = next.take() {
            if self.procs.get(&k).is_some_and(|p| p.exited && p.children == 0) {
                next = self.unlink(k);
            }
        }
    }

    /// Evicts an eighth of the cap: exited entries first, then by age of use.
    fn evict_over_cap(&mut self) {
        let target = self.cap - self.cap / 8;
        let mut order: Vec<(bool, u64, ProcKey)> =
            self.procs.values().map(|p| (!p.exited, p.last_used, p.key())).collect();
        order.sort_unstable();
        for (_, _, key) in order {
            if self.procs.len() <= target {
                break;
            }
            if self.procs.contains_key(&key) {
                self.evicted_by_cap += 1;
                // A parent left childless is evicted in its turn of the order.
                self.unlink(key);
            }
        }
    }

    /// Lineage of `key`, nearest first, at most `depth` entries.
    pub fn ancestors(&self, key: &ProcKey, depth: usize) -> Vec<&ProcInfo> {
        let mut out = Vec::new();
        let mut cur = self.procs.get(key).and_then(|p| p.parent);
        while let Some(k) = cur {
            if out.len() >= depth {
                break;
            }
            let Some(p) = self.procs.get(&k) else { break };
            // A corrupt cycle must not loop forever.
            if out.iter().any(|q: &&ProcInfo| q.key() == k) || k == *key {
                break;
            }
            out.push(p);
            cur = p.parent;
        }
        out
    }

    /// Seeds the table from /proc. Processes that vanish meanwhile are skipped.
    pub fn seed_from_proc(&mut self) -> usize {
        let Ok(all) = procfs::process::all_processes() else { return 0 };
        let mut found: Vec<ProcInfo> = Vec::new();
        for proc in all.flatten() {
            if let Some(info) = read_proc(&proc, self.ns_per_tick) {
                found.push(info);
            }
        }
        // Parents first, so links are counted; a pid's parent start comes from the same pass.
        let starts: HashMap<u32, u64> = found.iter().map(|p| (p.pid, p.start_ticks)).collect();
        found.sort_by_key(|p| p.start_ticks);
        let n = found.len();
        for mut info in found {
            info.parent = starts.get(&info.ppid).map(|&t| ProcKey { pid: info.ppid, start_ticks: t });
            if info.parent.map(|p| p.pid) == Some(info.pid) {
                info.parent = None;
            }
            self.insert(info);
        }
        n
    }

    /// Reads one process from /proc (for a process first seen mid-stream).
    pub fn read_from_proc(&self, pid: u32) -> Option<ProcInfo> {
        let proc = procfs::process::Process::new(pid as i32).ok()?;
        read_proc(&proc, self.ns_per_tick)
    }
}

fn escape_into(bytes: &[u8], field: &str, escaped: &mut Vec<String>) -> String {
    let (s, was) = ferret_event::text::escape_bytes(bytes);
    if was && !escaped.iter().any(|f| f == field) {
        escaped.push(field.to_string());
    }
    s
}

/// Escapes the raw strings of an image into `info`.
pub fn set_image(info: &mut ProcInfo, exe: Option<&[u8]>, args: &[Vec<u8>], cwd: Option<&[u8]>, tty: Option<&[u8]>) {
    let mut escaped = Vec::new();
    info.exe = exe.map(|e| escape_into(e, "exe", &mut escaped));
    let args: Vec<String> = args.iter().map(|a| escape_into(a, "args", &mut escaped)).collect();
    info.cmdline = Arc::from(args.join(" "));
    info.args = Arc::new(args);
    info.cwd = cwd.map(|c| escape_into(c, "cwd", &mut escaped));
    info.tty = tty.map(|t| escape_into(t, "tty", &mut escaped));
    info.escaped = escaped;
    info.refresh_summary();
}

fn read_proc(proc: &procfs::process::Process, ns_per_tick: u64) -> Option<ProcInfo> {
    use std::os::unix::ffi::OsStrExt;
    let stat = proc.stat().ok()?;
    let status = proc.status().ok();
    let pid = stat.pid as u32;
    // Kernel threads have no image; they are still ancestors of nothing we see.
    let exe_path = proc.exe().ok();
    let cwd = proc.cwd().ok();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args = ferret_bpf::decode::split_args(&cmdline);
    let exe_file = std::fs::metadata(format!("/proc/{pid}/exe")).ok().map(|m| FileId {
        ino: m.ino(),
        dev: ((libc::major(m.dev()) as u32) << 20) | (libc::minor(m.dev()) as u32 & 0xf_ffff),
        size: m.size(),
        mtime_sec: m.mtime(),
        mtime_nsec: m.mtime_nsec() as u32,
        nlink: m.nlink() as u32,
        mode: m.mode(),
    });
    let mut info = ProcInfo {
        pid,
        start_ticks: stat.starttime,
        start_ns: stat.starttime.saturating_mul(ns_per_tick),
        ppid: stat.ppid.max(0) as u32,
        uid: status.as_ref().map(|s| s.ruid).unwrap_or(0),
        euid: status.as_ref().map(|s| s.euid).unwrap_or(0),
        gid: status.as_ref().map(|s| s.rgid).unwrap_or(0),
        egid: status.as_ref().map(|s| s.egid).unwrap_or(0),
        loginuid: proc.loginuid().unwrap_or(u32::MAX),
        comm: stat.comm.clone(),
        exe_deleted: exe_file.is_some_and(|f| f.nlink == 0),
        exe_memfd: exe_path.as_ref().is_some_and(|p| p.as_os_str().as_bytes().starts_with(b"/memfd:")),
        exe_file,
        ..Default::default()
    };
    let exe_bytes = exe_path.as_ref().map(|p| {
        let b = p.as_os_str().as_bytes();
        b.strip_suffix(b" (deleted)").unwrap_or(b).to_vec()
    });
    let cwd_bytes = cwd.as_ref().map(|p| p.as_os_str().as_bytes().to_vec());
    set_image(&mut info, exe_bytes.as_deref(), &args, cwd_bytes.as_deref(), None);
    info.container = crate::container::proc_cgroup(pid).and_then(|c| crate::container::container_of(&c)).map(Arc::new);
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cap: usize) -> ProcTable {
        ProcTable::new(cap, ExecIds::new("0123456789abcdef-ffff"), 100)
    }

    fn proc(pid: u32, start: u64, parent: Option<ProcKey>) -> ProcInfo {
        ProcInfo { pid, start_ticks: start, parent, ppid: parent.map(|p| p.pid).unwrap_or(0), ..Default::default() }
    }

    fn k(pid: u32, start: u64) -> ProcKey {
        ProcKey { pid, start_ticks: start }
    }

    #[test]
    fn lineage_survives_parent_exit_and_is_freed_after() {
        let mut t = table(100);
        t.insert(proc(1, 1, None));
        t.insert(proc(10, 5, Some(k(1, 1))));
        t.insert(proc(11, 6, Some(k(10, 5))));
        t.exited(&k(10, 5));
        let chain: Vec<u32> = t.ancestors(&k(11, 6), 10).iter().map(|p| p.pid).collect();
        assert_eq!(chain, vec![10, 1]);
        assert!(t.get(&k(10, 5)).is_some_and(|p| p.exited));
        t.exited(&k(11, 6));
        assert!(t.get(&k(10, 5)).is_none(), "exited parent is freed with its last child");
        assert!(t.get(&k(11, 6)).is_none());
        assert_eq!(t.stats().len, 1);
    }

    #[test]
    fn pid_reuse_is_a_new_process() {
        let mut t = table(100);
        t.insert(proc(7, 100, None));
        t.exited(&k(7, 100));
        t.insert(proc(7, 200, None));
        assert_eq!(t.by_pid(7), Some(k(7, 200)));
        assert_ne!(t.exec_id(k(7, 100)), t.exec_id(k(7, 200)));
        assert_eq!(t.exec_id(k(7, 200)), "0123456789abcdef:200:7");
    }

    #[test]
    fn cap_bounds_the_table_keeping_recently_used_live_entries() {
        let mut t = table(64);
        t.insert(proc(1, 1, None));
        for i in 0..10 {
            t.insert(proc(100 + i, 10 + u64::from(i), Some(k(1, 1))));
        }
        for i in 0..500u32 {
            let parent = k(1000 + i, 1000 + u64::from(i));
            t.insert(proc(parent.pid, parent.start_ticks, None));
            t.insert(proc(5000 + i, 5000 + u64::from(i), Some(parent)));
            t.exited(&parent); // retained: its child lives
                               // The ten busy processes keep producing events.
            for j in 0..10 {
                t.touch(&k(100 + j, 10 + u64::from(j)));
            }
        }
        assert!(t.stats().len <= 64, "len {}", t.stats().len);
        assert!(t.stats().evicted_by_cap >= 500 + 500 - 64);
        for j in 0..10 {
            assert!(t.get(&k(100 + j, 10 + u64::from(j))).is_some(), "busy process {j} evicted");
        }
        // Exited entries went before live ones: none of the old exited parents is left.
        assert!((0..490u32).all(|i| t.get(&k(1000 + i, 1000 + u64::from(i))).is_none()));
    }

    #[test]
    fn ancestors_respect_depth_and_cycles() {
        let mut t = table(100);
        t.insert(proc(1, 1, None));
        let mut parent = k(1, 1);
        for i in 2..20 {
            t.insert(proc(i, u64::from(i), Some(parent)));
            parent = k(i, u64::from(i));
        }
        assert_eq!(t.ancestors(&parent, 5).len(), 5);
        assert_eq!(t.ancestors(&parent, 100).len(), 18);
        // A self-parented entry must not loop.
        t.insert(proc(50, 50, Some(k(50, 50))));
        assert!(t.ancestors(&k(50, 50), 10).is_empty());
    }

    #[test]
    fn seeds_from_proc_including_itself() {
        let mut t = table(100_000);
        assert!(t.seed_from_proc() > 1);
        let me = t.by_pid(std::process::id()).expect("own process seeded");
        let info = t.get(&me).expect("entry");
        assert!(info.exe.as_deref().is_some_and(|e| e.contains("ferret_enrich")));
        assert!(!t.ancestors(&me, 10).is_empty(), "has a parent");
    }
}
