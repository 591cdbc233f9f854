//! Enrichment: decoded kernel records in, [`ferret_event::Event`]s out.
//!
//! The [`Enricher`] keeps the process table current (fork/exec/exit) and
//! attaches the actor's image, lineage, host and hash to every event. Hashes
//! are computed off the reader's thread: an [`Enriched`] event may carry a
//! hash still in progress, which [`Enriched::finish`] waits for (bounded).

pub mod container;
pub mod containerd;
pub mod dns;
pub mod flow;
pub mod hash;
pub mod host;
pub mod proctable;
pub mod runtime;
pub mod syscall;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use ferret_bpf::decode::{
    exec_flags, flow_flags, fork_flags, Dns, Exec, Exit, FileId, Flow, Fork, Record, Syscall, Task,
};
use ferret_event::{Ancestor, Event, ExeFile, ExecInfo, ExitInfo, ForkInfo, Host, Process};

use crate::hash::{ExeHasher, HashSlot};
use crate::host::Clock;
use crate::proctable::{set_image, ExecIds, ProcInfo, ProcKey, ProcTable};

/// Tunables of enrichment.
#[derive(Debug, Clone)]
pub struct EnrichOptions {
    /// Ancestors carried by each event.
    pub ancestors: usize,
    /// Process table cap (entries).
    pub table_max: usize,
    /// Executables larger than this are not hashed.
    pub hash_max_bytes: u64,
    /// Hash cache entries.
    pub hash_cache: usize,
    /// Hash worker threads.
    pub hash_workers: usize,
    /// Replaying recorded kernel records: nothing is read from /proc and no executable is
    /// hashed (the processes and files are those of another time, or host).
    pub offline: bool,
}

impl Default for EnrichOptions {
    fn default() -> Self {
        Self {
            ancestors: 10,
            table_max: 32_768,
            hash_max_bytes: 256 * 1024 * 1024,
            hash_cache: 8192,
            hash_workers: 1,
            offline: false,
        }
    }
}

/// An event whose executable hash may still be computing.
#[derive(Debug)]
pub struct Enriched {
    pub event: Event,
    hash: Option<Arc<HashSlot>>,
}

impl Enriched {
    /// Fills `process.exe_sha256`, waiting at most `wait` for it.
    pub fn finish(mut self, wait: Duration) -> Event {
        if let Some(slot) = self.hash.take() {
            match slot.wait(wait) {
                Ok(h) => self.event.process.exe_sha256 = Some(h),
                Err(why) => self.event.process.exe_hash_error = Some(why),
            }
        } else if self.event.process.exe_sha256.is_none() && self.event.process.exe_hash_error.is_none() {
            self.event.process.exe_hash_error = Some(hash::reasons::UNKNOWN_EXE.to_string());
        }
        self.event
    }
}

/// errno name for a negative return value (`-2` gives "ENOENT").
pub fn errno_name(ret: i64) -> Option<String> {
    if ret >= 0 {
        return None;
    }
    let e = nix::errno::Errno::from_raw((-ret) as i32);
    Some(if e == nix::errno::Errno::UnknownErrno { format!("E{}", -ret) } else { format!("{e:?}") })
}

/// Signal name for a number (`9` gives "SIGKILL").
pub fn signal_name(sig: i32) -> Option<String> {
    nix::sys::signal::Signal::try_from(sig).ok().map(|s| s.as_str().to_string())
}

fn exe_file(f: &FileId) -> ExeFile {
    ExeFile {
        dev: format!("{}:{}", f.dev >> 20, f.dev & 0xf_ffff),
        ino: f.ino,
        size: f.size,
        mtime: host::rfc3339_epoch_ns(i128::from(f.mtime_sec) * 1_000_000_000 + i128::from(f.mtime_nsec)),
        mode: format!("{:o}", f.mode),
        nlink: f.nlink,
    }
}

fn lossy(bytes: &[u8]) -> (String, bool) {
    ferret_event::text::escape_bytes(bytes)
}

/// Joins a relative script path to the cwd the exec ran in.
fn script_path(filename: &str, cwd: Option<&str>) -> String {
    if filename.starts_with('/') {
        return filename.to_string();
    }
    match cwd {
        Some(c) if c.ends_with('/') => format!("{c}{filename}"),
        Some(c) => format!("{c}/{filename}"),
        None => filename.to_string(),
    }
}

/// Keeps the process table and turns records into events.
#[derive(Debug)]
pub struct Enricher {
    table: ProcTable,
    hasher: Arc<ExeHasher>,
    host: Arc<Host>,
    clock: Clock,
    opts: EnrichOptions,
    runtime: runtime::RuntimeMetadata,
    resolver: dns::ResolverCache,
    /// Socket cookie -> the task that accepted or connected it, for flows the kernel could
    /// not attribute (accepted connections are established in softirq context).
    sock_owners: lru::LruCache<u64, Task>,
    /// User and group names, per container (its own /etc/passwd) and for the host.
    user_names: users::UserNames,
    /// The last executable identity and process start shown, formatted: a burst of events
    /// comes from one process, which then formats neither again.
    last_exe_file: LastShown<FileId, Arc<ExeFile>>,
    last_start: LastShown<u64, String>,
}

/// The last value shown and what it was made from: made again only for another key.
#[derive(Debug)]
struct LastShown<K, V>(Option<(K, V)>);

impl<K: PartialEq, V: Clone> LastShown<K, V> {
    fn get(&mut self, key: K, make: impl FnOnce(&K) -> V) -> V {
        match &self.0 {
            Some((k, shown)) if *k == key => shown.clone(),
            _ => {
                let shown = make(&key);
                self.0 = Some((key, shown.clone()));
                shown
            }
        }
    }
}

impl Enricher {
    pub fn new(opts: EnrichOptions, host: Host, clock: Clock) -> Enricher {
        let ids = ExecIds::new(&host.boot_id);
        let table = ProcTable::new(opts.table_max, ids, host::clock_ticks_per_sec());
        let hasher = Arc::new(ExeHasher::new(opts.hash_max_bytes, opts.hash_cache, opts.hash_workers));
        let runtime = runtime::RuntimeMetadata::disabled("container runtime lookups not configured");
        Enricher {
            table,
            hasher,
            host: Arc::new(host),
            clock,
            opts,
            runtime,
            resolver: dns::ResolverCache::new(65_536),
            sock_owners: lru::LruCache::new(std::num::NonZeroUsize::new(65_536).expect("non-zero")),
            user_names: users::UserNames::default(),
            last_exe_file: LastShown(None),
            last_start: LastShown(None),
        }
    }

    /// Looks container metadata up through this runtime connection.
    pub fn with_runtime(mut self, runtime: runtime::RuntimeMetadata) -> Enricher {
        self.runtime = runtime;
        self
    }

    /// Seeds the process table from /proc; returns how many were found.
    pub fn seed(&mut self) -> usize {
        self.table.seed_from_proc()
    }

    pub fn table(&self) -> &ProcTable {
        &self.table
    }

    pub fn hasher(&self) -> &Arc<ExeHasher> {
        &self.hasher
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Turns one record into an event.
    pub fn enrich(&mut self, rec: Record) -> Enriched {
        match rec {
            Record::Exec(e) => self.on_exec(*e),
            Record::Fork(f) => self.on_fork(f),
            Record::Exit(x) => self.on_exit(x),
            Record::Syscall(s) => self.on_syscall(*s),
            Record::Dns(d) => self.on_dns(*d),
            Record::Flow(f) => self.on_flow(*f),
        }
    }

    fn on_flow(&mut self, f: Flow) -> Enriched {
        let (owner, task) = if f.has(flow_flags::OWNER) {
            let by = if f.has(flow_flags::OWNER_ACCEPT) { "accept" } else { "kernel" };
            (by, Some(f.header.task.clone()))
        } else {
            match self.sock_owners.get(&f.cookie) {
                Some(t) if f.cookie != 0 => ("accept", Some(t.clone())),
                _ => ("unknown", None),
            }
        };
        let (key, process, hash) = match &task {
            Some(task) => {
                let key = self.actor(task);
                let (process, hash) = self.process(&key, task);
                (key, process, hash)
            }
            None => (self.table.key(0, 0), Process::default(), None),
        };
        if !f.has(flow_flags::INTERIM) {
            self.sock_owners.pop(&f.cookie);
        }
        let mut ev = self.event(&key, "flow", f.header.ktime_boot_ns, 0, process);
        ev.net = Some(flow::net(&f));
        self.name_peer(&mut ev);
        ev.flow = Some(flow::info(&f, owner, &self.clock));
        Enriched { event: ev, hash }
    }

    fn on_dns(&mut self, d: Dns) -> Enriched {
        let event_type = if d.egress { "dns_query" } else { "dns_response" };
        let info = dns::parse(&d.payload, d.wire_len);
        let net = dns::net(&d);
        let (key, process, hash) = if d.owner_known {
            let task = &d.header.task;
            let key = self.actor(task);
            let (process, hash) = self.process(&key, task);
            (key, process, hash)
        } else {
            // A response for a socket whose sender was never seen (it sent
            // before ferret started): the packet is reported, the actor is not.
            (self.table.key(0, 0), Process::default(), None)
        };
        let mut ev = self.event(&key, event_type, d.header.ktime_boot_ns, 0, process);
        if !d.egress {
            let scope = ev.container.as_ref().map(|c| c.id.clone()).unwrap_or_default();
            self.resolver.learn(&scope, &info);
        }
        ev.net = Some(net);
        ev.dns = Some(info);
        Enriched { event: ev, hash }
    }

    fn on_syscall(&mut self, s: Syscall) -> Enriched {
        let task = &s.header.task;
        let key = self.actor(task);
        let (process, hash) = self.process(&key, task);
        let (event_type, shaped) = match syscall::shape(&s) {
            Some(sh) => (sh.event_type, Some(sh)),
            None => ("syscall", None),
        };
        if let Some(sock) = s.sock.as_ref().filter(|k| k.cookie != 0 && s.ret >= 0) {
            if event_type == "net_accept" || event_type == "net_connect" {
                self.sock_owners.put(sock.cookie, task.clone());
            }
        }
        let mut ev = self.event(&key, event_type, s.header.ktime_boot_ns, s.ret, process);
        if let Some(sh) = shaped {
            ev.error = sh.error;
            ev.file = sh.file;
            ev.net = sh.net;
            ev.syscall = Some(sh.syscall);
        }
        self.name_peer(&mut ev);
        Enriched { event: ev, hash }
    }

    /// Names the event's peer from the DNS answers its container (or the host) got.
    fn name_peer(&mut self, ev: &mut Event) {
        let scope = ev.container.as_ref().map(|c| c.id.clone()).unwrap_or_default();
        if let Some(remote) = ev.net.as_mut().and_then(|n| n.remote.as_mut()) {
            if let Some(ip) = remote.ip.clone() {
                remote.names = self.resolver.names(&scope, &ip);
            }
        }
    }

    /// Finds the acting process, creating it from /proc or the kernel's
    /// snapshot if this is the first we hear of it.
    fn actor(&mut self, task: &Task) -> ProcKey {
        let key = self.table.key(task.pid, task.start_boottime_ns);
        if self.table.touch(&key).is_some() {
            return key;
        }
        let parent = Some(self.table.key(task.ppid, task.parent_start_boottime_ns));
        let live = if self.opts.offline { None } else { self.table.read_from_proc(task.pid) };
        let info = match live {
            Some(mut p) if p.start_ticks == key.start_ticks => {
                p.parent = parent;
                p
            }
            _ => {
                // Gone already, or the pid was reused: keep what the kernel said.
                let (comm, _) = lossy(&task.comm);
                ProcInfo { pid: task.pid, start_ticks: key.start_ticks, comm, parent, ..Default::default() }
            }
        };
        let mut info = info;
        info.start_ns = task.start_boottime_ns;
        info.ppid = task.ppid;
        self.table.insert(info);
        key
    }

    /// The hash for a process: started now if the table has the file but no hash yet.
    fn hash_for(&mut self, key: &ProcKey) -> Option<Arc<HashSlot>> {
        if self.opts.offline {
            return None;
        }
        let hasher = self.hasher.clone();
        let p = self.table.touch(key)?;
        if p.hash.is_none() {
            if let Some(f) = p.exe_file {
                p.hash = Some(hasher.request(p.pid, &f, p.exe.as_deref()));
            }
        }
        p.hash.clone()
    }

    /// The container of a process in the table, with the runtime's metadata
    /// as far as it is known now (never waiting for it).
    fn container(&mut self, key: &ProcKey) -> Option<Arc<ferret_event::Container>> {
        let c = self.table.get(key).and_then(|p| p.container.clone())?;
        if c.metadata == "ok" {
            return Some(c);
        }
        let state = self.runtime.get(&c.id);
        let mut filled = (*c).clone();
        runtime::apply(&mut filled, &state);
        let filled = Arc::new(filled);
        if matches!(state, runtime::MetaState::Known(_)) {
            // Keep it: the next events of this process share it as is.
            if let Some(p) = self.table.touch(key) {
                p.container = Some(filled.clone());
            }
        }
        Some(filled)
    }

    fn process(&mut self, key: &ProcKey, task: &Task) -> (Process, Option<Arc<HashSlot>>) {
        let hash = self.hash_for(key);
        let depth = self.opts.ancestors;
        let ancestors: Vec<Arc<Ancestor>> =
            self.table.ancestors(key, depth).into_iter().map(|a| a.summary.clone()).collect();
        let Some(p) = self.table.get(key) else {
            return (Process::default(), None);
        };
        // A run of events of one process formats its image and start once.
        let exe_file = p.exe_file.map(|f| self.last_exe_file.get(f, |f| Arc::new(exe_file(f))));
        let clock = &self.clock;
        let start_time = self.last_start.get(task.start_boottime_ns, |ns| clock.rfc3339(*ns));
        let (comm, comm_escaped) = lossy(&task.comm);
        let mut escaped = p.escaped.clone();
        if comm_escaped {
            escaped.push("comm".to_string());
        }
        let parent = p.parent.and_then(|k| self.table.get(&k));
        let parent_exec_id = parent.map(|pp| pp.exec_id.clone());
        // Names as this machine sees them now: a replay elsewhere or later would name others.
        let (user_name, group_name) = if self.opts.offline {
            (None, None)
        } else {
            let container = p.container.as_ref().map(|c| c.id.as_str());
            // The parent too, when it is in the same container (never a host process: its
            // root is the host's).
            let same = parent
                .is_some_and(|pp| container.is_some() && pp.container.as_ref().map(|c| c.id.as_str()) == container);
            let pids = [task.pid, task.ppid];
            let n = if same { 2 } else { 1 };
            self.user_names.names(container, &pids[..n], task.euid, task.egid)
        };
        let proc = Process {
            pid: task.pid,
            tid: task.tid,
            ppid: task.ppid,
            uid: task.uid,
            euid: task.euid,
            gid: task.gid,
            egid: task.egid,
            loginuid: task.loginuid,
            user_name,
            group_name,
            comm,
            exe: p.exe.clone(),
            exe_sha256: None,
            exe_hash_error: None,
            exe_file,
            exe_deleted: p.exe_deleted,
            exe_memfd: p.exe_memfd,
            exe_upper_layer: p.exe_upper_layer,
            container_init: p.container.is_some() && task.ns_pid == 1,
            container_init_tree: p.container.as_ref().and(p.init_tree),
            args: p.args.clone(),
            args_truncated: p.args_truncated,
            cmdline: p.cmdline.clone(),
            cwd: p.cwd.clone(),
            tty: p.tty.clone(),
            start_time,
            exec_id: p.exec_id.clone(),
            parent_exec_id,
            ns_pid: task.ns_pid,
            cgroup_id: task.cgroup_id,
            // 16 hex digits, most significant first.
            cap_effective: Some(format!("{:016x}", task.cap_effective)),
            cap_permitted: Some(format!("{:016x}", task.cap_permitted)),
            ancestors,
            escaped,
        };
        (proc, hash)
    }

    fn event(&mut self, key: &ProcKey, event_type: &str, boot_ns: u64, ret: i64, process: Process) -> Event {
        let container = self.container(key);
        Event {
            id: uuid::Uuid::now_v7().to_string(),
            time: self.clock.rfc3339(boot_ns),
            event_type: event_type.to_string(),
            ret,
            error: errno_name(ret),
            host: self.host.clone(),
            process,
            container,
            ..Default::default()
        }
    }

    fn on_exec(&mut self, e: Exec) -> Enriched {
        let task = &e.header.task;
        let key = self.actor(task);
        let (cwd, _) = lossy(&e.cwd);
        let (filename, _) = lossy(&e.filename);
        let failed = e.ret < 0;
        let mut info = ExecInfo {
            filename: (!e.filename.is_empty() || failed)
                .then(|| if failed { lossy(&e.exe).0 } else { filename.clone() }),
            interpreter: None,
            script: None,
            path_source: if e.has(exec_flags::PATH_FROM_USER) { "user" } else { "kernel" }.to_string(),
            argc: e.argc,
            execveat: e.has(exec_flags::EXECVEAT),
            empty_path: e.has(exec_flags::EMPTY_PATH),
            ia32: e.has(exec_flags::COMPAT),
        };
        if failed {
            // Nothing ran: the actor keeps its image; the attempt is in `exec`.
            let (process, hash) = self.process(&key, task);
            let mut ev =
                self.event(&key, ferret_event::types::PROCESS_EXEC, e.header.ktime_boot_ns, i64::from(e.ret), process);
            let attempted: Vec<String> = e.args.iter().map(|a| lossy(a).0).collect();
            ev.extra.insert("attempted_args".to_string(), serde_json::Value::from(attempted));
            ev.extra.insert(
                "attempted_args_truncated".to_string(),
                serde_json::Value::from(e.has(exec_flags::ARGS_TRUNCATED)),
            );
            ev.exec = Some(info);
            return Enriched { event: ev, hash };
        }
        if e.has(exec_flags::SCRIPT) {
            info.interpreter = Some(lossy(&e.interp).0);
            info.script = Some(script_path(&filename, Some(&cwd)));
        }
        let path = (!e.has(exec_flags::EXE_INTERNAL)).then(|| lossy(&e.exe).0);
        let hash = self.hasher.request(task.pid, &e.exe_file, path.as_deref());
        if let Some(p) = self.table.touch(&key) {
            set_image(p, Some(&e.exe), &e.args, Some(&e.cwd), (!e.tty.is_empty()).then_some(&e.tty[..]));
            p.args_truncated = e.has(exec_flags::ARGS_TRUNCATED);
            p.exe_file = Some(e.exe_file);
            p.exe_deleted = e.has(exec_flags::EXE_DELETED);
            p.exe_memfd = e.has(exec_flags::EXE_INTERNAL) && e.exe.starts_with(b"/memfd:");
            p.exe_upper_layer = e.has(exec_flags::EXE_UPPER);
            p.comm = lossy(&task.comm).0;
            p.uid = task.uid;
            p.euid = task.euid;
            p.gid = task.gid;
            p.egid = task.egid;
            p.loginuid = task.loginuid;
            p.hash = Some(hash);
            let container = container::container_of(&lossy(&e.cgroup).0).map(Arc::new);
            // The init tree: the container's pid 1, or what the parent was (inherited at fork) in
            // the same container. A process a runtime starts in a running container (`docker
            // exec`, `kubectl exec`, nsenter) has a parent outside it: not in the tree. A parent
            // seen only in /proc leaves it unknown, as does a container sharing the host's pid
            // namespace (no pid 1 of its own to descend from).
            let same_container = p.container.as_ref().map(|c| &c.id) == container.as_ref().map(|c| &c.id);
            p.init_tree = match &container {
                None => None,
                Some(_) if task.ns_pid == task.pid => None,
                Some(_) if task.ns_pid == 1 => Some(true),
                Some(_) if same_container => p.init_tree,
                Some(_) => Some(false),
            };
            p.container = container;
            p.refresh_summary();
        }
        let (process, hash) = self.process(&key, task);
        let mut ev = self.event(&key, ferret_event::types::PROCESS_EXEC, e.header.ktime_boot_ns, 0, process);
        if e.has(exec_flags::EXE_TRUNCATED) {
            ev.extra.insert("exe_path_truncated".to_string(), serde_json::Value::from(true));
        }
        if e.has(exec_flags::CWD_TRUNCATED) {
            ev.extra.insert("cwd_truncated".to_string(), serde_json::Value::from(true));
        }
        ev.exec = Some(info);
        Enriched { event: ev, hash }
    }

    fn on_fork(&mut self, f: Fork) -> Enriched {
        let task = &f.header.task;
        let key = self.actor(task);
        let thread = f.flags & fork_flags::THREAD != 0;
        let child_key = self.table.key(f.child_pid, f.child_start_boottime_ns);
        if !thread {
            if let Some(parent) = self.table.get(&key) {
                let mut child = parent.clone();
                child.pid = f.child_pid;
                child.start_ticks = child_key.start_ticks;
                child.start_ns = f.child_start_boottime_ns;
                child.parent = Some(key);
                child.ppid = task.pid;
                child.exited = false;
                self.table.insert(child);
            }
        }
        let (process, hash) = self.process(&key, task);
        let mut ev = self.event(
            &key,
            ferret_event::types::PROCESS_FORK,
            f.header.ktime_boot_ns,
            i64::from(f.child_pid),
            process,
        );
        ev.child = Some(ForkInfo {
            pid: f.child_pid,
            tid: f.child_tid,
            thread,
            vfork: f.flags & fork_flags::VFORK != 0,
            exec_id: self.table.exec_id(if thread { key } else { child_key }),
        });
        Enriched { event: ev, hash }
    }

    fn on_exit(&mut self, x: Exit) -> Enriched {
        let task = &x.header.task;
        let key = self.actor(task);
        let (process, hash) = self.process(&key, task);
        let mut ev = self.event(&key, ferret_event::types::PROCESS_EXIT, x.header.ktime_boot_ns, 0, process);
        ev.exit = Some(ExitInfo {
            code: x.status(),
            signal: x.signal(),
            signal_name: x.signal().and_then(signal_name),
            core_dumped: x.core_dumped(),
        });
        self.table.exited(&key);
        Enriched { event: ev, hash }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferret_bpf::decode::Header;

    fn enricher() -> Enricher {
        let host =
            Host { hostname: "h".into(), boot_id: "aaaabbbb-cccc-dddd-eeee-ffff00001111".into(), kernel: "k".into() };
        Enricher::new(EnrichOptions::default(), host, Clock::with_boot_epoch_ns(1_700_000_000_000_000_000))
    }

    fn task(pid: u32, start: u64, ppid: u32, pstart: u64, comm: &[u8]) -> Task {
        Task {
            start_boottime_ns: start,
            parent_start_boottime_ns: pstart,
            pid,
            tid: pid,
            ppid,
            ns_pid: pid,
            loginuid: u32::MAX,
            sessionid: u32::MAX,
            comm: comm.to_vec(),
            ..Default::default()
        }
    }

    // Pids far above pid_max so /proc lookups find nothing and the kernel's
    // snapshot is all there is, as for a process that already exited.
    const P: u32 = 4_000_000_001;

    #[test]
    fn fork_exec_exit_builds_lineage_and_events() {
        let mut en = enricher();
        let parent = task(P, 1_000_000_000, 1, 0, b"bash");
        let child_start = 2_000_000_000;
        let fork = Fork {
            header: Header { ktime_boot_ns: 5, task: parent.clone() },
            child_pid: P + 1,
            child_tid: P + 1,
            child_start_boottime_ns: child_start,
            flags: 0,
        };
        let ev = en.enrich(Record::Fork(fork)).finish(Duration::ZERO);
        assert_eq!(ev.event_type, "process_fork");
        assert_eq!(ev.ret, i64::from(P + 1));
        let child = ev.child.expect("child info");
        assert!(!child.thread);

        let exec = Exec {
            header: Header { ktime_boot_ns: 6, task: task(P + 1, child_start, P, 1_000_000_000, b"x") },
            exe: b"/usr/bin/x".to_vec(),
            cwd: b"/tmp".to_vec(),
            filename: b"./s.sh".to_vec(),
            interp: b"/bin/sh".to_vec(),
            flags: exec_flags::SCRIPT,
            args: vec![b"s.sh".to_vec(), b"\xffbad".to_vec()],
            argc: 2,
            ..Default::default()
        };
        let ev = en.enrich(Record::Exec(Box::new(exec))).finish(Duration::ZERO);
        assert_eq!(ev.process.exe.as_deref(), Some("/usr/bin/x"));
        assert_eq!(*ev.process.args, vec!["s.sh".to_string(), "\\xffbad".to_string()]);
        assert_eq!(ev.process.escaped, vec!["args".to_string()]);
        assert_eq!(ev.process.exec_id, child.exec_id);
        assert_eq!(ev.process.ancestors.first().map(|a| a.pid), Some(P));
        let info = ev.exec.expect("exec info");
        assert_eq!(info.script.as_deref(), Some("/tmp/./s.sh"));
        assert_eq!(info.interpreter.as_deref(), Some("/bin/sh"));
        assert_eq!(ev.time, "2023-11-14T22:13:20.000000006Z");

        let exit = Exit {
            header: Header { ktime_boot_ns: 7, task: task(P + 1, child_start, P, 1_000_000_000, b"x") },
            exit_code: 9,
        };
        let ev = en.enrich(Record::Exit(exit)).finish(Duration::ZERO);
        let x = ev.exit.expect("exit info");
        assert_eq!((x.code, x.signal, x.signal_name.as_deref()), (None, Some(9), Some("SIGKILL")));
        assert_eq!(ev.process.exe.as_deref(), Some("/usr/bin/x"), "exit still names the image");
    }

    #[test]
    fn failed_exec_keeps_the_actor_image_and_reports_the_attempt() {
        let mut en = enricher();
        let t = task(P + 5, 3_000_000_000, 1, 0, b"sh");
        let exec = Exec {
            header: Header { ktime_boot_ns: 1, task: t },
            ret: -2,
            flags: exec_flags::PATH_FROM_USER,
            exe: b"/nope".to_vec(),
            args: vec![b"/nope".to_vec(), b"a".to_vec()],
            ..Default::default()
        };
        let ev = en.enrich(Record::Exec(Box::new(exec))).finish(Duration::ZERO);
        assert_eq!(ev.ret, -2);
        assert_eq!(ev.error.as_deref(), Some("ENOENT"));
        let info = ev.exec.expect("exec info");
        assert_eq!(info.path_source, "user");
        assert_eq!(info.filename.as_deref(), Some("/nope"));
        assert_eq!(ev.extra.get("attempted_args"), Some(&serde_json::json!(["/nope", "a"])));
        assert_eq!(ev.process.exe, None, "the actor's image is unknown, not the attempted path");
    }

    #[test]
    fn capability_sets_and_start_times_read_the_same_for_every_event() {
        let mut en = enricher();
        let mut t = task(P + 9, 4_000_000_000, 1, 0, b"cap");
        t.cap_effective = 0x1ff_ffff_ffff;
        t.cap_permitted = 1 << 21;
        let exit = |t: &Task| Exit { header: Header { ktime_boot_ns: 1, task: t.clone() }, exit_code: 0 };
        let first = en.enrich(Record::Exit(exit(&t))).finish(Duration::ZERO).process;
        assert_eq!(first.cap_effective.as_deref(), Some("000001ffffffffff"));
        assert_eq!(first.cap_permitted.as_deref(), Some(hex::encode((1u64 << 21).to_be_bytes()).as_str()));
        // Another process, then the first again: each start is its own, not the last one shown.
        let other = task(P + 10, u64::MAX, 1, 0, b"odd");
        let odd = en.enrich(Record::Exit(exit(&other))).finish(Duration::ZERO).process;
        let again = en.enrich(Record::Exit(exit(&t))).finish(Duration::ZERO).process;
        assert_eq!(again.start_time, first.start_time);
        assert_ne!(odd.start_time, first.start_time);
        assert!(!odd.start_time.is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(errno_name(-1).as_deref(), Some("EPERM"));
        assert_eq!(errno_name(0), None);
        assert_eq!(signal_name(15).as_deref(), Some("SIGTERM"));
    }
}
