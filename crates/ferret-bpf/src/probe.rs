//! What this kernel and host allow, found by trying: each program type is
//! loaded and attached on its own (`bpf/probe.bpf.c`), host facilities are
//! read from /sys and /proc. Backs `ferret doctor` and the start-up checks of
//! `ferret run`.

use std::fs;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{OpenObject, UprobeOpts};

use crate::skel::probe::ProbeSkelBuilder;

/// Outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Works.
    Ok,
    /// Does not work here; the string says why (errno or reason).
    Unavailable(String),
}

impl Status {
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok)
    }
}

/// One program or attach type, tried for real.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Short name (`tp_btf`, `kprobe`...).
    pub name: &'static str,
    pub status: Status,
    /// Whether ferret needs it to run at all.
    pub required: bool,
    /// What ferret uses it for, or does instead when it is missing.
    pub role: &'static str,
}

struct ProbeSpec {
    name: &'static str,
    prog: &'static str,
    required: bool,
    role: &'static str,
}

const PROBES: &[ProbeSpec] = &[
    ProbeSpec {
        name: "tp_btf",
        prog: "probe_tp_btf",
        required: true,
        role: "exec, fork and exit (sched_process_*); file, network and security syscalls (sys_enter/sys_exit)",
    },
    ProbeSpec {
        name: "raw_tp",
        prog: "probe_raw_tp",
        required: false,
        role: "not used; tp_btf covers the same tracepoints",
    },
    ProbeSpec {
        name: "tracepoint",
        prog: "probe_tracepoint",
        required: false,
        role: "not used for sched; see syscall_tracepoint",
    },
    ProbeSpec {
        name: "syscall_tracepoint",
        prog: "probe_syscall_tracepoint",
        required: true,
        role: "failed execs (sys_enter/sys_exit_execve[at])",
    },
    ProbeSpec {
        name: "uprobe",
        prog: "probe_uprobe",
        required: false,
        role: "reserved for user-space hooks (TLS, shells)",
    },
    ProbeSpec {
        name: "kprobe",
        prog: "probe_kprobe",
        required: false,
        role: "not needed: tracepoints and tp_btf are used instead",
    },
    ProbeSpec { name: "fentry", prog: "probe_fentry", required: false, role: "not needed: tp_btf is used instead" },
    ProbeSpec {
        name: "lsm",
        prog: "probe_lsm",
        required: false,
        role: "not needed: enforcement uses bpf_send_signal and cgroup hooks",
    },
    ProbeSpec {
        name: "cgroup_skb",
        prog: "probe_cgroup_skb",
        required: false,
        role: "DNS capture and flow byte counts (root cgroup v2)",
    },
    ProbeSpec {
        name: "sock_ops",
        prog: "probe_sockops",
        required: false,
        role: "TCP flow records (connect, establishment)",
    },
    ProbeSpec {
        name: "tcp_destroy_sock",
        prog: "probe_tcp_destroy",
        required: false,
        role: "TCP flow records (close, with the kernel's counters)",
    },
    ProbeSpec {
        name: "tcp_send_reset",
        prog: "probe_tcp_send_reset",
        required: false,
        role: "TCP flow records of connections abandoned with a reset (before the kernel clears them)",
    },
    ProbeSpec {
        name: "cgroup_connect4",
        prog: "probe_cgroup_connect4",
        required: false,
        role: "connect enforcement (planned)",
    },
    ProbeSpec { name: "ringbuf", prog: "probe_ringbuf", required: true, role: "kernel to userspace event transport" },
    ProbeSpec {
        name: "bpf_send_signal",
        prog: "probe_send_signal",
        required: false,
        role: "in-kernel kill (planned enforcement)",
    },
];

fn errno_text(e: &libbpf_rs::Error) -> String {
    // One line: the context and, where libbpf gave one, the OS error.
    let mut s = format!("{e:#}");
    if let Some(first) = s.lines().next() {
        s = first.to_string();
    }
    s
}

/// Loads and attaches one probe program; returns how it went.
fn try_probe(spec: &ProbeSpec) -> Status {
    let mut storage = MaybeUninit::<OpenObject>::uninit();
    let mut open = match ProbeSkelBuilder::default().open(&mut storage) {
        Ok(o) => o,
        Err(e) => return Status::Unavailable(format!("open: {}", errno_text(&e))),
    };
    for mut p in open.open_object_mut().progs_mut() {
        let keep = p.name().to_str() == Some(spec.prog);
        p.set_autoload(keep);
    }
    if spec.name != "ringbuf" {
        if let Err(e) = open.maps.probe_ring.set_autocreate(false) {
            return Status::Unavailable(format!("map setup: {}", errno_text(&e)));
        }
    }
    let skel = match open.load() {
        Ok(s) => s,
        Err(e) => return Status::Unavailable(format!("load: {}", errno_text(&e))),
    };
    let prog = match skel.object().progs_mut().find(|p| p.name().to_str() == Some(spec.prog)) {
        Some(p) => p,
        None => return Status::Unavailable("program missing from object".into()),
    };
    let attached = match spec.name {
        "uprobe" => {
            let Some(libc) = libc_path() else { return Status::Unavailable("no libc found to attach to".into()) };
            prog.attach_uprobe_with_opts(
                -1,
                libc,
                0,
                UprobeOpts { func_name: Some("getpid".into()), ..Default::default() },
            )
        }
        "cgroup_skb" | "cgroup_connect4" | "sock_ops" => {
            let Some(root) = cgroup2_root() else {
                return Status::Unavailable("no cgroup v2 hierarchy mounted".into());
            };
            let dir = match fs::File::open(&root) {
                Ok(d) => d,
                Err(e) => return Status::Unavailable(format!("open {}: {e}", root.display())),
            };
            prog.attach_cgroup(dir.as_raw_fd())
        }
        _ => prog.attach(),
    };
    match attached {
        Ok(_link) => Status::Ok,
        Err(e) => Status::Unavailable(format!("attach: {}", errno_text(&e))),
    }
}

/// Tries every program/attach type. libbpf's own log is silenced meanwhile.
pub fn probe_all() -> Vec<ProbeResult> {
    let prev = libbpf_rs::set_print(None);
    let out = PROBES
        .iter()
        .map(|s| ProbeResult { name: s.name, status: try_probe(s), required: s.required, role: s.role })
        .collect();
    libbpf_rs::set_print(prev);
    out
}

fn libc_path() -> Option<PathBuf> {
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libc.so") || n.starts_with("libc-"))
        })
        .map(PathBuf::from)
}

/// Where the cgroup v2 hierarchy is mounted, if anywhere.
pub fn cgroup2_root() -> Option<PathBuf> {
    mounted("cgroup2")
}

/// Host facilities that do not need a program load to check.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub kernel_release: String,
    pub btf: Status,
    pub tracefs: Status,
    pub bpffs: Status,
    /// The active lockdown mode (`none`, `integrity`, `confidentiality`), if known.
    pub lockdown: Option<String>,
    /// `v2` (unified), `hybrid` (v1 controllers plus a v2 mount) or `v1`.
    pub cgroup_layout: String,
    pub cgroup2_root: Option<PathBuf>,
    /// Effective-capability check: root or CAP_BPF+CAP_PERFMON (+CAP_SYS_ADMIN for some attach types).
    pub privileges: Status,
}

/// The kernel's tick rate, from its build configuration (`/proc/config.gz`, or
/// `/boot/config-<release>`), if present and sane. With it the kernel side's repeat filter reads
/// jiffies, an inlined load, instead of calling for the clock on every event it folds.
pub fn kernel_hz() -> Option<u64> {
    let config = procfs::kernel_config().ok()?;
    match config.get("CONFIG_HZ")? {
        procfs::ConfigSetting::Value(v) => v.parse::<u64>().ok().filter(|hz| (1..=100_000).contains(hz)),
        _ => None,
    }
}

/// Where a filesystem of this type is mounted, if anywhere (the first).
fn mounted(fstype: &str) -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_src, target, t) = (f.next()?, f.next()?, f.next()?);
        (t == fstype).then(|| PathBuf::from(target))
    })
}

fn cap_eff() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn privileges() -> Status {
    let Some(caps) = cap_eff() else { return Status::Unavailable("cannot read CapEff from /proc/self/status".into()) };
    let has = |c: u32| caps & (1u64 << c) != 0;
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON"), (CAP_SYS_ADMIN, "CAP_SYS_ADMIN")]
        .iter()
        .filter(|(c, _)| !has(*c))
        .map(|(_, n)| *n)
        .collect();
    if missing.is_empty() {
        Status::Ok
    } else {
        Status::Unavailable(format!("missing {} (run as root)", missing.join(", ")))
    }
}

/// Reads the host facts; never fails (unknowns are reported as such).
pub fn host_facts() -> HostFacts {
    let kernel_release =
        fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
    let btf = if Path::new("/sys/kernel/btf/vmlinux").exists() {
        Status::Ok
    } else {
        Status::Unavailable("/sys/kernel/btf/vmlinux missing (kernel without CONFIG_DEBUG_INFO_BTF)".into())
    };
    let tracefs = match mounted("tracefs") {
        Some(_) => Status::Ok,
        None => Status::Unavailable("tracefs not mounted (mount -t tracefs nodev /sys/kernel/tracing)".into()),
    };
    let bpffs = match mounted("bpf") {
        Some(_) => Status::Ok,
        None => Status::Unavailable("bpffs not mounted (mount -t bpf bpf /sys/fs/bpf); only needed for pinning".into()),
    };
    let lockdown = fs::read_to_string("/sys/kernel/security/lockdown").ok().and_then(|s| {
        // "none [integrity] confidentiality": the bracketed one is active.
        s.split_whitespace().find(|w| w.starts_with('[')).map(|w| w.trim_matches(['[', ']']).to_string())
    });
    let root = cgroup2_root();
    let v1 = mounted("cgroup").is_some();
    let cgroup_layout = match (&root, v1) {
        (Some(_), false) => "v2",
        (Some(_), true) => "hybrid",
        (None, true) => "v1",
        (None, false) => "none",
    }
    .to_string();
    HostFacts {
        kernel_release,
        btf,
        tracefs,
        bpffs,
        lockdown,
        cgroup_layout,
        cgroup2_root: root,
        privileges: privileges(),
    }
}

/// Mounts tracefs and bpffs where absent (what `make run` does too). Errors
/// are returned, not fatal: the caller decides whether the sensor can run.
pub fn mount_pseudo_filesystems() -> Vec<String> {
    let mut errors = Vec::new();
    let mut mount = |fstype: &str, source: &str, target: &str| {
        if mounted(fstype).is_some() {
            return;
        }
        let c = |s: &str| std::ffi::CString::new(s).expect("static string without NUL");
        let (src, tgt, ty) = (c(source), c(target), c(fstype));
        // SAFETY: all pointers are valid NUL-terminated strings for the call.
        let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
        if rc != 0 {
            errors.push(format!("could not mount {fstype} on {target}: {}", std::io::Error::last_os_error()));
        }
    };
    mount("tracefs", "nodev", "/sys/kernel/tracing");
    mount("bpf", "bpf", "/sys/fs/bpf");
    mount("securityfs", "securityfs", "/sys/kernel/security");
    errors
}

/// The first reason ferret cannot run here, as one line, or None.
pub fn missing_requirement(facts: &HostFacts) -> Option<String> {
    if let Status::Unavailable(why) = &facts.privileges {
        return Some(format!("insufficient privileges: {why}"));
    }
    if let Status::Unavailable(why) = &facts.btf {
        return Some(format!("no kernel BTF: {why}"));
    }
    if let Status::Unavailable(why) = &facts.tracefs {
        return Some(why.clone());
    }
    None
}
