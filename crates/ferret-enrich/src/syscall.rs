//! Shapes a decoded syscall record into an event: its type, the `file` and
//! `net` objects, and the syscall's arguments decoded to names (open flags,
//! ptrace requests, namespace flags, signals...). Pure: no I/O.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ferret_bpf::decode::{syscall_flags as F, Sock, Syscall, SyscallFile, SyscallId as S};
use ferret_event::{Endpoint, FileInfo, Inode, NetInfo, SyscallInfo};
use serde_json::{json, Value};

use crate::{errno_name, signal_name};

/// The syscall's own name and the event type it becomes.
pub fn names(sc: u32) -> Option<(&'static str, &'static str)> {
    Some(match S(sc) {
        S::SC_OPEN => ("open", "file_open"),
        S::SC_OPENAT => ("openat", "file_open"),
        S::SC_OPENAT2 => ("openat2", "file_open"),
        S::SC_CREAT => ("creat", "file_open"),
        S::SC_RENAME => ("rename", "file_rename"),
        S::SC_RENAMEAT => ("renameat", "file_rename"),
        S::SC_RENAMEAT2 => ("renameat2", "file_rename"),
        S::SC_UNLINK => ("unlink", "file_unlink"),
        S::SC_UNLINKAT => ("unlinkat", "file_unlink"),
        S::SC_RMDIR => ("rmdir", "file_unlink"),
        S::SC_LINK => ("link", "file_link"),
        S::SC_LINKAT => ("linkat", "file_link"),
        S::SC_SYMLINK => ("symlink", "file_symlink"),
        S::SC_SYMLINKAT => ("symlinkat", "file_symlink"),
        S::SC_CHMOD => ("chmod", "file_chmod"),
        S::SC_FCHMOD => ("fchmod", "file_chmod"),
        S::SC_FCHMODAT => ("fchmodat", "file_chmod"),
        S::SC_FCHMODAT2 => ("fchmodat2", "file_chmod"),
        S::SC_CHOWN => ("chown", "file_chown"),
        S::SC_FCHOWN => ("fchown", "file_chown"),
        S::SC_FCHOWNAT => ("fchownat", "file_chown"),
        S::SC_LCHOWN => ("lchown", "file_chown"),
        S::SC_MKDIR => ("mkdir", "file_mkdir"),
        S::SC_MKDIRAT => ("mkdirat", "file_mkdir"),
        S::SC_MOUNT => ("mount", "mount"),
        S::SC_UMOUNT2 => ("umount2", "umount"),
        S::SC_TRUNCATE => ("truncate", "file_truncate"),
        S::SC_FTRUNCATE => ("ftruncate", "file_truncate"),
        S::SC_UTIMENSAT => ("utimensat", "file_utimes"),
        S::SC_UTIMES => ("utimes", "file_utimes"),
        S::SC_UTIME => ("utime", "file_utimes"),
        S::SC_FUTIMESAT => ("futimesat", "file_utimes"),
        S::SC_MEMFD_CREATE => ("memfd_create", "memfd_create"),
        S::SC_MMAP => ("mmap", "mmap_exec"),
        S::SC_MPROTECT => ("mprotect", "mprotect_exec"),
        S::SC_SOCKET => ("socket", "net_socket"),
        S::SC_CONNECT => ("connect", "net_connect"),
        S::SC_ACCEPT => ("accept", "net_accept"),
        S::SC_ACCEPT4 => ("accept4", "net_accept"),
        S::SC_BIND => ("bind", "net_bind"),
        S::SC_LISTEN => ("listen", "net_listen"),
        S::SC_PTRACE => ("ptrace", "ptrace"),
        S::SC_PROCESS_VM_READV => ("process_vm_readv", "process_vm_readv"),
        S::SC_PROCESS_VM_WRITEV => ("process_vm_writev", "process_vm_writev"),
        S::SC_INIT_MODULE => ("init_module", "module_load"),
        S::SC_FINIT_MODULE => ("finit_module", "module_load"),
        S::SC_DELETE_MODULE => ("delete_module", "module_unload"),
        S::SC_SETUID => ("setuid", "setuid"),
        S::SC_SETGID => ("setgid", "setgid"),
        S::SC_SETREUID => ("setreuid", "setuid"),
        S::SC_SETREGID => ("setregid", "setgid"),
        S::SC_SETRESUID => ("setresuid", "setuid"),
        S::SC_SETRESGID => ("setresgid", "setgid"),
        S::SC_CAPSET => ("capset", "capset"),
        S::SC_SETNS => ("setns", "setns"),
        S::SC_UNSHARE => ("unshare", "unshare"),
        S::SC_BPF => ("bpf", "bpf"),
        S::SC_USERFAULTFD => ("userfaultfd", "userfaultfd"),
        S::SC_DUP => ("dup", "dup"),
        S::SC_DUP2 => ("dup2", "dup"),
        S::SC_DUP3 => ("dup3", "dup"),
        S::SC_KILL => ("kill", "kill"),
        S::SC_TGKILL => ("tgkill", "kill"),
        S::SC_TKILL => ("tkill", "kill"),
        S::SC_PRCTL => ("prctl", "prctl"),
        _ => return None,
    })
}

fn bits(value: u64, table: &[(u64, &str)]) -> Vec<String> {
    let mut out: Vec<String> =
        table.iter().filter(|(b, _)| *b != 0 && value & b == *b).map(|(_, n)| n.to_string()).collect();
    let known = table.iter().fold(0u64, |acc, (b, _)| acc | b);
    if value & !known != 0 {
        out.push(format!("{:#x}", value & !known));
    }
    out
}

/// open(2) flags to names; the access mode first.
pub fn open_flags(flags: u64) -> Vec<String> {
    let mut out = vec![match flags & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    }
    .to_string()];
    // O_TMPFILE includes O_DIRECTORY; name it once.
    let tmpfile = libc::O_TMPFILE as u64;
    let mut rest = flags & !3;
    if rest & tmpfile == tmpfile {
        out.push("O_TMPFILE".into());
        rest &= !tmpfile;
    }
    out.extend(bits(
        rest,
        &[
            (libc::O_CREAT as u64, "O_CREAT"),
            (libc::O_EXCL as u64, "O_EXCL"),
            (libc::O_NOCTTY as u64, "O_NOCTTY"),
            (libc::O_TRUNC as u64, "O_TRUNC"),
            (libc::O_APPEND as u64, "O_APPEND"),
            (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
            (libc::O_DSYNC as u64, "O_DSYNC"),
            (0o40000, "O_DIRECT"),
            (0o100000, "O_LARGEFILE"),
            (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
            (libc::O_NOFOLLOW as u64, "O_NOFOLLOW"),
            (libc::O_NOATIME as u64, "O_NOATIME"),
            (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
            (0o4000000, "__O_SYNC"),
            (libc::O_PATH as u64, "O_PATH"),
        ],
    ));
    out
}

/// Namespace (clone) flags to names.
pub fn ns_flags(flags: u64) -> Vec<String> {
    bits(
        flags,
        &[
            (0x0000_0080, "CLONE_NEWTIME"),
            (0x0000_0200, "CLONE_FS"),
            (0x0000_0400, "CLONE_FILES"),
            (0x0002_0000, "CLONE_NEWNS"),
            (0x0004_0000, "CLONE_SYSVSEM"),
            (0x0200_0000, "CLONE_NEWCGROUP"),
            (0x0400_0000, "CLONE_NEWUTS"),
            (0x0800_0000, "CLONE_NEWIPC"),
            (0x1000_0000, "CLONE_NEWUSER"),
            (0x2000_0000, "CLONE_NEWPID"),
            (0x4000_0000, "CLONE_NEWNET"),
        ],
    )
}

pub fn ptrace_request(req: u64) -> String {
    match req {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        3 => "PTRACE_PEEKUSER",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSER",
        7 => "PTRACE_CONT",
        8 => "PTRACE_KILL",
        9 => "PTRACE_SINGLESTEP",
        12 => "PTRACE_GETREGS",
        13 => "PTRACE_SETREGS",
        14 => "PTRACE_GETFPREGS",
        15 => "PTRACE_SETFPREGS",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        24 => "PTRACE_SYSCALL",
        0x4200 => "PTRACE_SETOPTIONS",
        0x4201 => "PTRACE_GETEVENTMSG",
        0x4202 => "PTRACE_GETSIGINFO",
        0x4203 => "PTRACE_SETSIGINFO",
        0x4204 => "PTRACE_GETREGSET",
        0x4205 => "PTRACE_SETREGSET",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        0x4208 => "PTRACE_LISTEN",
        _ => return format!("PTRACE_{req}"),
    }
    .to_string()
}

pub fn bpf_cmd(cmd: u64) -> String {
    const NAMES: [&str; 37] = [
        "BPF_MAP_CREATE",
        "BPF_MAP_LOOKUP_ELEM",
        "BPF_MAP_UPDATE_ELEM",
        "BPF_MAP_DELETE_ELEM",
        "BPF_MAP_GET_NEXT_KEY",
        "BPF_PROG_LOAD",
        "BPF_OBJ_PIN",
        "BPF_OBJ_GET",
        "BPF_PROG_ATTACH",
        "BPF_PROG_DETACH",
        "BPF_PROG_TEST_RUN",
        "BPF_PROG_GET_NEXT_ID",
        "BPF_MAP_GET_NEXT_ID",
        "BPF_PROG_GET_FD_BY_ID",
        "BPF_MAP_GET_FD_BY_ID",
        "BPF_OBJ_GET_INFO_BY_FD",
        "BPF_PROG_QUERY",
        "BPF_RAW_TRACEPOINT_OPEN",
        "BPF_BTF_LOAD",
        "BPF_BTF_GET_FD_BY_ID",
        "BPF_TASK_FD_QUERY",
        "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        "BPF_MAP_FREEZE",
        "BPF_BTF_GET_NEXT_ID",
        "BPF_MAP_LOOKUP_BATCH",
        "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
        "BPF_MAP_UPDATE_BATCH",
        "BPF_MAP_DELETE_BATCH",
        "BPF_LINK_CREATE",
        "BPF_LINK_UPDATE",
        "BPF_LINK_GET_FD_BY_ID",
        "BPF_LINK_GET_NEXT_ID",
        "BPF_ENABLE_STATS",
        "BPF_ITER_CREATE",
        "BPF_LINK_DETACH",
        "BPF_PROG_BIND_MAP",
        "BPF_TOKEN_CREATE",
    ];
    NAMES.get(cmd as usize).map(|s| s.to_string()).unwrap_or_else(|| format!("BPF_{cmd}"))
}

pub fn prctl_option(opt: u64) -> String {
    match opt {
        1 => "PR_SET_PDEATHSIG",
        4 => "PR_SET_DUMPABLE",
        8 => "PR_SET_KEEPCAPS",
        15 => "PR_SET_NAME",
        16 => "PR_GET_NAME",
        22 => "PR_SET_SECCOMP",
        24 => "PR_CAPBSET_DROP",
        35 => "PR_SET_MM",
        36 => "PR_SET_CHILD_SUBREAPER",
        38 => "PR_SET_NO_NEW_PRIVS",
        47 => "PR_CAP_AMBIENT",
        0x5961_6d61 => "PR_SET_PTRACER",
        _ => return format!("PR_{opt}"),
    }
    .to_string()
}

fn prot(p: u64) -> Vec<String> {
    bits(p, &[(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")])
}

fn map_flags(f: u64) -> Vec<String> {
    bits(
        f,
        &[
            (0x01, "MAP_SHARED"),
            (0x02, "MAP_PRIVATE"),
            (0x10, "MAP_FIXED"),
            (0x20, "MAP_ANONYMOUS"),
            (0x100, "MAP_GROWSDOWN"),
            (0x800, "MAP_DENYWRITE"),
            (0x1000, "MAP_EXECUTABLE"),
            (0x2000, "MAP_LOCKED"),
            (0x4000, "MAP_NORESERVE"),
            (0x8000, "MAP_POPULATE"),
            (0x10000, "MAP_NONBLOCK"),
            (0x20000, "MAP_STACK"),
            (0x40000, "MAP_HUGETLB"),
            (0x100000, "MAP_FIXED_NOREPLACE"),
        ],
    )
}

/// An address family's name ("AF_INET"...).
pub(crate) fn family(f: u16) -> String {
    match i32::from(f) {
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        n => format!("AF_{n}"),
    }
}

fn sock_type(t: u16) -> String {
    match i32::from(t) {
        libc::SOCK_STREAM => "SOCK_STREAM".into(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".into(),
        libc::SOCK_RAW => "SOCK_RAW".into(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".into(),
        n => format!("SOCK_{n}"),
    }
}

fn protocol(p: u16, fam: u16) -> String {
    if i32::from(fam) == libc::AF_UNIX {
        return "unix".into();
    }
    match i32::from(p) {
        libc::IPPROTO_TCP => "tcp".into(),
        libc::IPPROTO_UDP => "udp".into(),
        libc::IPPROTO_ICMP => "icmp".into(),
        libc::IPPROTO_ICMPV6 => "icmpv6".into(),
        0 => "ip".into(),
        n => n.to_string(),
    }
}

/// An address in network byte order (IPv4 in the first four bytes) as text.
pub(crate) fn ip(fam: u16, raw: &[u8; 16]) -> Option<String> {
    match i32::from(fam) {
        libc::AF_INET => Some(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string()),
        libc::AF_INET6 => Some(Ipv6Addr::from(*raw).to_string()),
        _ => None,
    }
}

/// A unix socket path: NUL-led names are abstract, shown with a leading "@".
fn unix_path(raw: &[u8]) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    if raw[0] == 0 {
        let name = raw[1..].split(|&b| b == 0).next().unwrap_or(&[]);
        return Some(format!("@{}", ferret_event::text::escape_bytes(name).0));
    }
    let path = raw.split(|&b| b == 0).next().unwrap_or(&[]);
    Some(ferret_event::text::escape_bytes(path).0)
}

/// Parses a caller's sockaddr (only used when the socket kept no address).
fn user_sockaddr(raw: &[u8]) -> Option<(u16, Endpoint)> {
    let fam = u16::from_ne_bytes(raw.get(..2)?.try_into().ok()?);
    match i32::from(fam) {
        libc::AF_INET => {
            let port = u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?);
            let a = raw.get(4..8)?;
            Some((
                fam,
                Endpoint {
                    ip: Some(Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()),
                    port: Some(port),
                    ..Default::default()
                },
            ))
        }
        libc::AF_INET6 => {
            let port = u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?);
            let a: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
            Some((fam, Endpoint { ip: Some(Ipv6Addr::from(a).to_string()), port: Some(port), ..Default::default() }))
        }
        libc::AF_UNIX => Some((fam, Endpoint { path: unix_path(raw.get(2..)?), ..Default::default() })),
        _ => None,
    }
}

fn net(s: &Syscall, sock: Option<&Sock>) -> Option<NetInfo> {
    let sc = S(s.sc);
    let in_progress = sc == S::SC_CONNECT && s.ret == -i64::from(libc::EINPROGRESS);
    if let Some(k) = sock {
        let is_unix = i32::from(k.family) == libc::AF_UNIX;
        let unix = if is_unix && !s.has(F::AUX_USER) { unix_path(&s.aux) } else { None };
        let local = Endpoint { ip: ip(k.family, &k.laddr), port: (!is_unix).then_some(k.lport), ..Default::default() };
        let mut remote =
            Endpoint { ip: ip(k.family, &k.raddr), port: (!is_unix).then_some(k.rport), ..Default::default() };
        let mut source = "kernel";
        // A unix socket names its peer's path; bind names its own.
        let (mut local, mut remote_opt) = (Some(local), Some(remote.clone()));
        if is_unix {
            if matches!(sc, S::SC_BIND | S::SC_LISTEN) {
                local = Some(Endpoint { path: unix.clone(), ..Default::default() });
                remote_opt = None;
            } else {
                local = None;
                remote.path = unix.clone();
                remote_opt = Some(remote);
            }
        }
        if s.has(F::AUX_USER) {
            if let Some((_, ep)) = user_sockaddr(&s.aux) {
                source = "user";
                if sc == S::SC_BIND {
                    local = Some(ep);
                } else {
                    remote_opt = Some(ep);
                }
            }
        }
        if matches!(sc, S::SC_SOCKET) {
            local = None;
            remote_opt = None;
        }
        return Some(NetInfo {
            family: family(k.family),
            sock_type: sock_type(k.sock_type),
            protocol: protocol(k.protocol, k.family),
            local,
            remote: remote_opt,
            address_source: source.to_string(),
            in_progress,
            cookie: (k.cookie != 0).then_some(k.cookie),
        });
    }
    if sc == S::SC_SOCKET {
        // A failed socket(2): what was asked for.
        let fam = s.args[0] as u16;
        return Some(NetInfo {
            family: family(fam),
            sock_type: sock_type((s.args[1] & 0xf) as u16),
            protocol: protocol(s.args[2] as u16, fam),
            address_source: "user".into(),
            ..Default::default()
        });
    }
    None
}

fn inode(f: &SyscallFile) -> Inode {
    let kind = match f.mode & 0o170000 {
        0o100000 => "file",
        0o040000 => "dir",
        0o120000 => "symlink",
        0o140000 => "socket",
        0o010000 => "fifo",
        0o020000 => "char",
        0o060000 => "block",
        _ => "unknown",
    };
    Inode {
        dev: format!("{}:{}", f.dev >> 20, f.dev & 0xf_ffff),
        ino: f.ino,
        mode: format!("{:o}", f.mode),
        kind: kind.to_string(),
        nlink: f.nlink,
        uid: f.uid,
        size: f.size,
    }
}

fn join(dir: &str, rel: &str) -> String {
    let rel = rel.strip_prefix("./").unwrap_or(rel);
    if dir.ends_with('/') {
        format!("{dir}{rel}")
    } else {
        format!("{dir}/{rel}")
    }
}

/// The name the kernel makes up for a pseudo file whose dentry has none
/// (`d_dname`), which a dentry walk cannot see: built from the filesystem
/// and the inode, as /proc/PID/fd shows them (namespaces as "ns:[inode]").
fn pseudo_name(f: &SyscallFile) -> Option<String> {
    let kind = match f.fs_magic {
        0x534f_434b => "socket",
        0x5049_5045 => "pipe",
        0x6e73_6673 => "ns",
        0x0904_1934 => "anon_inode",
        0xcafe_4a11 => "bpf",
        _ => return None,
    };
    Some(format!("{kind}:[{}]", f.ino))
}

fn file(s: &Syscall) -> Option<FileInfo> {
    let sc = S(s.sc);
    let has_path = !s.path.is_empty() || s.file.is_some();
    if !has_path && s.path2.is_empty() {
        return None;
    }
    let (raw, raw_escaped) = ferret_event::text::escape_bytes(&s.path);
    let (target, target_escaped) = ferret_event::text::escape_bytes(&s.path2);
    let kernel = s.has(F::PATH_KERNEL);
    let unnamed = s.has(F::PATH_UNREACHABLE) && raw.trim_matches('/').is_empty();
    let (path, path_arg) = if unnamed {
        (s.file.as_ref().and_then(pseudo_name).or(Some(raw.clone())), None)
    } else if kernel || raw.starts_with('/') || s.dir.is_empty() {
        (Some(raw.clone()).filter(|p| !p.is_empty()), None)
    } else {
        let dir = ferret_event::text::escape_bytes(&s.dir).0;
        (Some(join(&dir, &raw)), Some(raw.clone()))
    };
    let flags = match sc {
        S::SC_OPEN => open_flags(s.args[1]),
        S::SC_OPENAT | S::SC_OPENAT2 => open_flags(s.args[2]),
        S::SC_CREAT => open_flags((libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64),
        _ => Vec::new(),
    };
    let creates = |f: u64| f & (libc::O_CREAT as u64 | libc::O_TMPFILE as u64) != 0;
    let mode = match sc {
        S::SC_OPEN if creates(s.args[1]) => Some(s.args[2]),
        S::SC_OPENAT | S::SC_OPENAT2 if creates(s.args[2]) => Some(s.args[3]),
        S::SC_CREAT | S::SC_CHMOD | S::SC_FCHMOD | S::SC_MKDIR => Some(s.args[1]),
        S::SC_FCHMODAT | S::SC_FCHMODAT2 | S::SC_MKDIRAT => Some(s.args[2]),
        _ => None,
    };
    Some(FileInfo {
        path,
        path_source: if kernel { "kernel" } else { "user" }.into(),
        path_arg,
        path_changed: s.has(F::PATH_CHANGED),
        path_truncated: s.has(F::PATH_TRUNCATED),
        path_escaped: raw_escaped || target_escaped,
        deleted: kernel && s.file.is_some_and(|f| f.nlink == 0) && !s.has(F::PATH_UNREACHABLE),
        pseudo: s.has(F::PATH_UNREACHABLE),
        target: (!s.path2.is_empty()).then_some(target),
        target_changed: s.has(F::PATH2_CHANGED),
        flags,
        mode: mode.map(|m| format!("{:04o}", m & 0o7777)),
        interesting: s.has(F::INTERESTING),
        upper_layer: s.has(F::UPPER_LAYER),
        inode: s.file.as_ref().map(inode),
    })
}

fn signal(sig: u64) -> Value {
    json!({"signal": sig, "signal_name": signal_name(sig as i32)})
}

fn args(s: &Syscall) -> BTreeMap<String, Value> {
    let a = &s.args;
    let i = |n: usize| a[n] as i64 as i32;
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    let aux = || ferret_event::text::escape_bytes(&s.aux).0;
    match S(s.sc) {
        S::SC_OPENAT
        | S::SC_OPENAT2
        | S::SC_UNLINKAT
        | S::SC_FCHMODAT
        | S::SC_FCHMODAT2
        | S::SC_FCHOWNAT
        | S::SC_MKDIRAT
        | S::SC_UTIMENSAT
        | S::SC_FUTIMESAT
        | S::SC_RENAMEAT
        | S::SC_RENAMEAT2
        | S::SC_LINKAT => {
            put("dirfd", json!(i(0)));
        }
        _ => {}
    }
    match S(s.sc) {
        S::SC_UNLINKAT => put("flags", json!(if a[2] & 0x200 != 0 { vec!["AT_REMOVEDIR"] } else { vec![] })),
        S::SC_RENAMEAT2 => {
            put("flags", json!(bits(a[4], &[(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")])))
        }
        S::SC_CHOWN | S::SC_LCHOWN | S::SC_FCHOWN => {
            put("uid", json!(a[1] as u32));
            put("gid", json!(a[2] as u32));
        }
        S::SC_FCHOWNAT => {
            put("uid", json!(a[2] as u32));
            put("gid", json!(a[3] as u32));
        }
        S::SC_FCHMOD | S::SC_FTRUNCATE => put("fd", json!(i(0))),
        S::SC_TRUNCATE => put("length", json!(a[1] as i64)),
        S::SC_MOUNT => {
            put("fstype", json!(aux()));
            put("flags", json!(a[3]));
        }
        S::SC_UMOUNT2 => put(
            "flags",
            json!(bits(a[1], &[(1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW")])),
        ),
        S::SC_MEMFD_CREATE => {
            put("name", json!(aux()));
            put(
                "flags",
                json!(bits(
                    a[1],
                    &[
                        (1, "MFD_CLOEXEC"),
                        (2, "MFD_ALLOW_SEALING"),
                        (4, "MFD_HUGETLB"),
                        (8, "MFD_NOEXEC_SEAL"),
                        (0x10, "MFD_EXEC")
                    ]
                )),
            );
        }
        S::SC_MMAP => {
            put("addr", json!(format!("{:#x}", a[0])));
            put("length", json!(a[1]));
            put("prot", json!(prot(a[2])));
            put("flags", json!(map_flags(a[3])));
            put("fd", json!(i(4)));
            put("anonymous", json!(a[3] & 0x20 != 0));
        }
        S::SC_MPROTECT => {
            put("addr", json!(format!("{:#x}", a[0])));
            put("length", json!(a[1]));
            put("prot", json!(prot(a[2])));
            put("anonymous", json!(s.file.is_none()));
        }
        S::SC_SOCKET => {
            put("domain", json!(family(a[0] as u16)));
            put("type", json!(sock_type((a[1] & 0xf) as u16)));
            put("protocol", json!(a[2]));
        }
        S::SC_CONNECT | S::SC_BIND | S::SC_LISTEN => {
            put("fd", json!(i(0)));
            if S(s.sc) == S::SC_LISTEN {
                put("backlog", json!(i(1)));
            }
        }
        S::SC_PTRACE => {
            put("request", json!(a[0]));
            put("request_name", json!(ptrace_request(a[0])));
            put("target_pid", json!(i(1)));
        }
        S::SC_PROCESS_VM_READV | S::SC_PROCESS_VM_WRITEV => put("target_pid", json!(i(0))),
        S::SC_INIT_MODULE => {
            put("length", json!(a[1]));
            put("params", json!(aux()));
        }
        S::SC_FINIT_MODULE => {
            put("fd", json!(i(0)));
            put("params", json!(aux()));
        }
        S::SC_DELETE_MODULE => put("name", json!(aux())),
        S::SC_SETUID => put("uid", json!(a[0] as u32)),
        S::SC_SETGID => put("gid", json!(a[0] as u32)),
        S::SC_SETREUID => {
            put("ruid", json!(a[0] as u32));
            put("euid", json!(a[1] as u32));
        }
        S::SC_SETREGID => {
            put("rgid", json!(a[0] as u32));
            put("egid", json!(a[1] as u32));
        }
        S::SC_SETRESUID => {
            put("ruid", json!(a[0] as u32));
            put("euid", json!(a[1] as u32));
            put("suid", json!(a[2] as u32));
        }
        S::SC_SETRESGID => {
            put("rgid", json!(a[0] as u32));
            put("egid", json!(a[1] as u32));
            put("sgid", json!(a[2] as u32));
        }
        S::SC_CAPSET if s.aux.len() >= 24 => {
            let w = |n: usize| u64::from(u32::from_ne_bytes(s.aux[n * 4..n * 4 + 4].try_into().unwrap_or([0; 4])));
            // Two __user_cap_data_struct {effective, permitted, inheritable}: low then high 32 bits.
            put("effective", json!(format!("{:#x}", w(0) | (w(3) << 32))));
            put("permitted", json!(format!("{:#x}", w(1) | (w(4) << 32))));
            put("inheritable", json!(format!("{:#x}", w(2) | (w(5) << 32))));
        }
        S::SC_SETNS => {
            put("fd", json!(i(0)));
            put("nstype", json!(ns_flags(a[1])));
        }
        S::SC_UNSHARE => put("flags", json!(ns_flags(a[0]))),
        S::SC_BPF => {
            put("cmd", json!(a[0]));
            put("cmd_name", json!(bpf_cmd(a[0])));
        }
        S::SC_USERFAULTFD => put("flags", json!(a[0])),
        S::SC_DUP | S::SC_DUP2 | S::SC_DUP3 => {
            let newfd = if S(s.sc) == S::SC_DUP { s.ret } else { a[1] as i64 };
            put("oldfd", json!(i(0)));
            put("newfd", json!(newfd));
            put("newfd_is_stdio", json!((0..=2).contains(&newfd)));
            let kind = s.file.as_ref().map(|f| inode(f).kind);
            put("oldfd_type", json!(kind));
        }
        S::SC_KILL => {
            put("target_pid", json!(i(0)));
            for (k, v) in signal(a[1]).as_object().into_iter().flatten() {
                put(k, v.clone());
            }
        }
        S::SC_TGKILL => {
            put("target_pid", json!(i(0)));
            put("target_tid", json!(i(1)));
            for (k, v) in signal(a[2]).as_object().into_iter().flatten() {
                put(k, v.clone());
            }
        }
        S::SC_TKILL => {
            put("target_tid", json!(i(0)));
            for (k, v) in signal(a[1]).as_object().into_iter().flatten() {
                put(k, v.clone());
            }
        }
        S::SC_PRCTL => {
            put("option", json!(a[0]));
            put("option_name", json!(prctl_option(a[0])));
            put("arg2", json!(a[1]));
        }
        _ => {}
    }
    m
}

/// Everything an event needs from a syscall record besides the process.
#[derive(Debug)]
pub struct Shaped {
    pub event_type: &'static str,
    pub error: Option<String>,
    pub file: Option<FileInfo>,
    pub net: Option<NetInfo>,
    pub syscall: SyscallInfo,
}

/// Shapes a record; None for a syscall id this build does not know.
pub fn shape(s: &Syscall) -> Option<Shaped> {
    let (name, event_type) = names(s.sc)?;
    let sc = S(s.sc);
    let is_net = matches!(sc, S::SC_SOCKET | S::SC_CONNECT | S::SC_ACCEPT | S::SC_ACCEPT4 | S::SC_BIND | S::SC_LISTEN);
    let net = if is_net || s.sock.is_some() { net(s, s.sock.as_ref()) } else { None };
    let file = if is_net { None } else { file(s) };
    Some(Shaped {
        event_type,
        error: errno_name(s.ret),
        file,
        net,
        syscall: SyscallInfo {
            name: name.to_string(),
            args: args(s),
            repeats: s.repeats,
            ia32: s.has(F::COMPAT),
            via: s.has(F::MULTIPLEXED).then(|| if is_net { "socketcall" } else { "mmap" }.to_string()),
            args_changed: s.has(F::ARGS_CHANGED),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_are_named() {
        let f = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC) as u64;
        assert_eq!(open_flags(f), vec!["O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC"]);
        assert_eq!(open_flags((libc::O_TMPFILE | libc::O_RDWR) as u64), vec!["O_RDWR", "O_TMPFILE"]);
        assert_eq!(open_flags(0x8000_0000), vec!["O_RDONLY", "0x80000000"]);
    }

    #[test]
    fn relative_user_paths_join_their_directory() {
        let s = Syscall {
            sc: S::SC_UNLINKAT.0,
            path: b"../x".to_vec(),
            dir: b"/tmp/a".to_vec(),
            flags: F::DIR_KERNEL,
            ..Default::default()
        };
        let sh = shape(&s).expect("known");
        let f = sh.file.expect("file");
        assert_eq!(f.path.as_deref(), Some("/tmp/a/../x"));
        assert_eq!(f.path_arg.as_deref(), Some("../x"));
        assert_eq!(f.path_source, "user");
        assert_eq!(sh.event_type, "file_unlink");
    }

    #[test]
    fn sockets_show_kernel_addresses() {
        let mut k = Sock {
            family: libc::AF_INET as u16,
            sock_type: 1,
            protocol: 6,
            lport: 40000,
            rport: 443,
            ..Default::default()
        };
        k.laddr[..4].copy_from_slice(&[127, 0, 0, 1]);
        k.raddr[..4].copy_from_slice(&[10, 1, 2, 3]);
        let s =
            Syscall { sc: S::SC_CONNECT.0, ret: -i64::from(libc::EINPROGRESS), sock: Some(k), ..Default::default() };
        let sh = shape(&s).expect("known");
        let n = sh.net.expect("net");
        assert_eq!(n.remote.as_ref().and_then(|r| r.ip.as_deref()), Some("10.1.2.3"));
        assert_eq!(n.remote.as_ref().and_then(|r| r.port), Some(443));
        assert!(n.in_progress);
        assert_eq!(sh.error.as_deref(), Some("EINPROGRESS"));
        assert_eq!((n.family.as_str(), n.sock_type.as_str(), n.protocol.as_str()), ("AF_INET", "SOCK_STREAM", "tcp"));
    }

    #[test]
    fn abstract_unix_names_get_an_at() {
        assert_eq!(unix_path(b"\0hidden\0\0").as_deref(), Some("@hidden"));
        assert_eq!(unix_path(b"/run/docker.sock").as_deref(), Some("/run/docker.sock"));
    }

    #[test]
    fn dup_onto_stdio_is_visible() {
        let s = Syscall {
            sc: S::SC_DUP2.0,
            args: [3, 1, 0, 0, 0, 0],
            ret: 1,
            file: Some(SyscallFile { mode: 0o140777, ..Default::default() }),
            ..Default::default()
        };
        let a = shape(&s).expect("known").syscall.args;
        assert_eq!(a["newfd_is_stdio"], json!(true));
        assert_eq!(a["oldfd_type"], json!("socket"));
    }

    #[test]
    fn every_syscall_id_has_names() {
        for id in 1..S::SC_MAX.0 {
            assert!(names(id).is_some(), "syscall id {id} has no name");
        }
    }
}
