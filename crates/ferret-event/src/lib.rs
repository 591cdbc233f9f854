//! The event and finding model: the JSON contract (one object per line) that
//! outputs write, `record`/`replay` read back, and tests assert on. See
//! `docs/events.md` for every field.
//!
//! Keys never change meaning; new keys may appear. Objects read back keep
//! keys this build does not know (`extra`), so a replay re-emits them.
//!
//! ```
//! use ferret_event::Record;
//! let line = r#"{"kind":"stats","time":"2026-11-26T17:00:00Z","uptime_secs":1.5}"#;
//! let rec: Record = serde_json::from_str(line).unwrap();
//! assert!(matches!(rec, Record::Stats(_)));
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod de;
pub mod text;

/// Any line of ferret's output. Deserialized by hand (`de.rs`): the derived code is slow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Event(Box<Event>),
    Finding(Box<Finding>),
    Stats(Box<Stats>),
}

/// Host context, the same on every event from one sensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Host {
    pub hostname: String,
    pub boot_id: String,
    pub kernel: String,
}

/// One ancestor in a process's lineage (nearest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Ancestor {
    pub pid: u32,
    pub exe: Option<String>,
    pub args: Arc<Vec<String>>,
    pub comm: String,
    pub uid: Option<u32>,
    pub exec_id: String,
    /// True once the ancestor has exited (it is kept while descendants live).
    #[serde(default)]
    pub exited: bool,
}

/// Identity of the executable file as the kernel saw it at exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExeFile {
    /// "major:minor" of the filesystem's device.
    pub dev: String,
    pub ino: u64,
    pub size: u64,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// File mode, octal (e.g. "100755").
    pub mode: String,
    pub nlink: u32,
}

/// The acting process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Process {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// Audit login uid; 4294967295 when unset.
    pub loginuid: u32,
    /// The name of `euid` as the process sees it: from its container's own
    /// /etc/passwd, or the host's databases. None when nothing names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The name of `egid`, the same way (/etc/group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    pub comm: String,
    /// Executable path (kernel-resolved; see `exe_path_source`). None when
    /// unknown (a process seen only through fork, whose image is not known).
    pub exe: Option<String>,
    pub exe_sha256: Option<String>,
    /// Why `exe_sha256` is null: "too_large", "process_exited",
    /// "file_changed", "unknown_exe", "pending", or an I/O error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_hash_error: Option<String>,
    /// Shared: the events of one image do not each format it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_file: Option<Arc<ExeFile>>,
    /// The executable had no link left when it ran (deleted, or memfd).
    #[serde(default)]
    pub exe_deleted: bool,
    /// The executable is a memfd (fileless execution).
    #[serde(default)]
    pub exe_memfd: bool,
    /// The executable lives in an overlayfs upper layer: it was written or
    /// modified inside the container, not shipped in its image (drift).
    #[serde(default)]
    pub exe_upper_layer: bool,
    /// The process is its container's init (pid 1 in the container's pid namespace).
    #[serde(default)]
    pub container_init: bool,
    /// In a container: whether the process descends from the container's init. False for
    /// what a runtime starts in a running container (`docker exec`, `kubectl exec`, nsenter):
    /// an interactive way in. Null on the host, or when not known (running before ferret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_init_tree: Option<bool>,
    /// Shared with the process table: events of one process do not copy it.
    pub args: Arc<Vec<String>>,
    /// True when argv was longer than the capture limit.
    #[serde(default)]
    pub args_truncated: bool,
    pub cmdline: Arc<str>,
    pub cwd: Option<String>,
    pub tty: Option<String>,
    /// Process start, RFC 3339.
    pub start_time: String,
    pub exec_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_exec_id: Option<String>,
    /// Pid inside the process's own pid namespace.
    pub ns_pid: u32,
    /// cgroup v2 id (0 when there is no v2 hierarchy).
    #[serde(default)]
    pub cgroup_id: u64,
    /// Effective and permitted capability sets at the event, as /proc/PID/status prints them
    /// (16 hex digits, bit n = capability n).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_effective: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_permitted: Option<String>,
    /// Each ancestor is shared with the process table (one summary per process).
    pub ancestors: Vec<Arc<Ancestor>>,
    /// Names of the string fields that held bytes which are not UTF-8 and
    /// were therefore escaped (see `text::escape_bytes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escaped: Vec<String>,
}

/// Details of a `process_exec` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExecInfo {
    /// The path as passed to execve (for a script: the script).
    pub filename: Option<String>,
    /// For `#!` scripts: the interpreter named on the `#!` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// For `#!` scripts: the script path (resolved against cwd when relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// "kernel" (resolved from the file the kernel ran) or "user" (the
    /// caller's string: failed execs, where no file ran).
    pub path_source: String,
    pub argc: u32,
    #[serde(default)]
    pub execveat: bool,
    /// execveat(fd, "", AT_EMPTY_PATH): running an open file descriptor.
    #[serde(default)]
    pub empty_path: bool,
    /// Made through the 32-bit (ia32) syscall entry (reported for failed execs; a successful
    /// one is an exec like any other).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ia32: bool,
}

/// Details of a `process_fork` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ForkInfo {
    pub pid: u32,
    pub tid: u32,
    /// A new thread of the same process.
    pub thread: bool,
    /// A new process sharing its parent's memory until it execs or exits:
    /// vfork, posix_spawn, or clone(CLONE_VM) without CLONE_THREAD.
    pub vfork: bool,
    /// The child's exec_id (equal to the parent's for a thread).
    pub exec_id: String,
}

/// Details of a `process_exit` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExitInfo {
    /// Exit status when the process called exit.
    pub code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    pub signal_name: Option<String>,
    pub core_dumped: bool,
}

/// The container a process runs in: its identity from the kernel's cgroup,
/// its metadata from the runtime's API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Container {
    /// The full 64-hex-digit container id.
    pub id: String,
    /// "docker", "containerd", "cri-o", "podman", "cri" (a kubelet cgroupfs
    /// layout), or "unknown".
    pub runtime: String,
    /// The cgroup path (its last components) the id was read from.
    pub cgroup: String,
    /// "ok", "pending" (being looked up: later events carry it), or
    /// "unavailable: <why>" (no runtime socket, the runtime does not know it...).
    #[serde(default)]
    pub metadata: String,
    pub name: Option<String>,
    /// The image reference the container was created from.
    pub image: Option<String>,
    /// `image` split: repository, tag and digest (each when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    pub image_id: Option<String>,
    pub privileged: Option<bool>,
    /// Host paths bind-mounted into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_mounts: Vec<String>,
    pub network_mode: Option<String>,
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Kubernetes, from the CRI labels (and the cgroup path for the uid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_container_name: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The inode a file event resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Inode {
    pub dev: String,
    pub ino: u64,
    /// Type and permissions, octal (e.g. "100644").
    pub mode: String,
    /// "file", "dir", "symlink", "socket", "fifo", "char", "block".
    pub kind: String,
    pub nlink: u32,
    pub uid: u32,
    pub size: u64,
}

/// The file of a file event (and of fd-based syscalls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FileInfo {
    /// The path: kernel-resolved (`path_source: "kernel"`), or the caller's
    /// string joined to the kernel path of its directory when relative.
    pub path: Option<String>,
    /// "kernel": from the file the kernel opened; "user": the caller's string.
    pub path_source: String,
    /// The caller's string as given, when it differs from `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_arg: Option<String>,
    /// The user path read at syscall entry and at exit differed: another
    /// thread rewrote it while the syscall ran (a TOCTOU attempt).
    #[serde(default)]
    pub path_changed: bool,
    #[serde(default)]
    pub path_truncated: bool,
    /// `path` or `target` held bytes that are not UTF-8 and were escaped
    /// (see `text::escape_bytes`).
    #[serde(default)]
    pub path_escaped: bool,
    /// The resolved file had no link left (unlinked while open).
    #[serde(default)]
    pub deleted: bool,
    /// A pseudo file (pipe, socket, memfd, anon inode) or a path outside the
    /// process's root.
    #[serde(default)]
    pub pseudo: bool,
    /// The second path: rename's and link's new name, symlink's target, mount's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub target_changed: bool,
    /// open flags decoded (O_WRONLY, O_CREAT...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Permission bits given (open with O_CREAT, chmod, mkdir), octal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// True when a read-only open was reported because it matched the interest set.
    #[serde(default)]
    pub interesting: bool,
    /// The file lives in an overlayfs upper layer: written or modified inside the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upper_layer: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<Inode>,
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Endpoint {
    pub ip: Option<String>,
    pub port: Option<u16>,
    /// For unix sockets: the socket path (abstract names start with "@").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The DNS names that resolved to `ip` for this container (or the host)
    /// shortly before, from the DNS responses ferret saw (Falco's `fd.sip.name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// The socket of a network event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetInfo {
    /// "AF_INET", "AF_INET6", "AF_UNIX", "AF_PACKET", "AF_NETLINK"...
    pub family: String,
    /// "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW"...
    #[serde(rename = "type")]
    pub sock_type: String,
    /// "tcp", "udp", "icmp", or the number.
    pub protocol: String,
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    /// "kernel": the socket's own addresses; "user": the caller's sockaddr
    /// (a failed connect or bind, where the socket kept none).
    pub address_source: String,
    /// connect returned EINPROGRESS: a non-blocking connect under way.
    #[serde(default)]
    pub in_progress: bool,
    /// The kernel's socket cookie, which the socket's `flow` records carry too (TCP and UDP
    /// sockets that ferret's flow hooks have seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
}

/// One DNS question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DnsQuestion {
    /// The name as asked, fully qualified ("example.com."), escaped if needed.
    pub name: String,
    /// "A", "AAAA", "TXT"...
    #[serde(rename = "type")]
    pub qtype: String,
}

/// One DNS answer record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DnsAnswer {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// The record's data in presentation format ("10.1.2.3", "\"text\"", "10 mx.example.").
    pub data: String,
}

/// A DNS message (`dns_query`, `dns_response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DnsInfo {
    pub id: u16,
    /// "NOERROR", "NXDOMAIN", "SERVFAIL"... (responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// The TC bit: the answer did not fit and the client should retry over TCP.
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub questions: Vec<DnsQuestion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
    /// Why the message could not be fully parsed; what could be read is above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
    /// UDP payload bytes on the wire (more than were captured when over 512).
    pub size: u32,
}

/// A `flow` event's traffic: one TCP connection or one UDP conversation (a socket and a peer),
/// totals from `start` to the event's `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlowInfo {
    /// "outbound" (a process here connected, or sent first) or "inbound" (the peer did).
    pub direction: String,
    /// "closed" (TCP closed), "failed" (TCP closed before it was established), "open" (an
    /// interim record of a connection still open), "idle" (UDP: ended by the idle timeout).
    pub state: String,
    /// Payload bytes (TCP: acknowledged by the peer when sent).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// IP packets (TCP segments, pure ACKs included).
    pub packets_in: u64,
    pub packets_out: u64,
    /// Connect, accept or first packet, RFC 3339.
    pub start: String,
    /// False when the connection was open before ferret started: `start` is when ferret first saw it.
    pub start_known: bool,
    pub duration_ms: u64,
    /// Where the process comes from: "kernel" (the connecting or sending task), "accept" (the
    /// process that accepted the connection), or "unknown".
    pub owner: String,
    /// Socket cookie: the same on this socket's connect or accept event.
    pub cookie: u64,
}

/// The syscall itself: its name (Falco's `evt.type`) and its decoded arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SyscallInfo {
    pub name: String,
    #[serde(default)]
    pub args: BTreeMap<String, Value>,
    /// Identical events of this process suppressed in the kernel since the
    /// previous one was sent (see `kernel.dedup_window_ms`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeats: u32,
    /// Made through the 32-bit (ia32) syscall entry: from a 32-bit program,
    /// or from a 64-bit one using `int 0x80` (a way to slip past monitors).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ia32: bool,
    /// The ia32 multiplexer the call came through ("socketcall", or "mmap" for
    /// the old mmap): its arguments were read from the caller's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Those arguments read at entry and at exit differed: another thread
    /// rewrote them while the syscall ran (the reported ones are from entry).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_changed: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One enriched event. Deserialized by hand (`de.rs`): the derived code is slow.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Event {
    pub id: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The syscall's return value: 0 or a positive result, or -errno.
    pub ret: i64,
    /// The errno name when `ret` < 0 (e.g. "ENOENT").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub host: Arc<Host>,
    pub process: Process,
    /// Null for host processes.
    pub container: Option<Arc<Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<ForkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<SyscallInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowInfo>,
    /// Keys this build does not know, kept for re-emission.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Event types.
pub mod types {
    pub const PROCESS_EXEC: &str = "process_exec";
    pub const PROCESS_FORK: &str = "process_fork";
    pub const PROCESS_EXIT: &str = "process_exit";
}

/// A detection (rules and detectors produce these; see DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Finding {
    pub id: String,
    pub time: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub rule: String,
    pub severity: String,
    pub mitre: Vec<String>,
    pub title: String,
    pub description: String,
    pub process: Process,
    pub container: Option<Arc<Container>>,
    pub host: Arc<Host>,
    pub evidence: Vec<Event>,
    pub action: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Counters: what the sensor saw, delivered and lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stats {
    pub time: String,
    pub uptime_secs: f64,
    /// Whether these are the final counters (at exit).
    #[serde(default)]
    pub last: bool,
    /// Records received from the kernel, per kind.
    #[serde(default)]
    pub received: BTreeMap<String, u64>,
    /// Records the kernel could not deliver (ring buffer full), per kind.
    #[serde(default)]
    pub kernel_dropped: BTreeMap<String, u64>,
    /// The same, per CPU (index = CPU), all kinds together.
    #[serde(default)]
    pub kernel_dropped_per_cpu: Vec<u64>,
    /// Records that did not decode.
    #[serde(default)]
    pub decode_errors: u64,
    /// Events written to the outputs.
    #[serde(default)]
    pub events_emitted: u64,
    #[serde(default)]
    pub findings_emitted: u64,
    /// Processes in the table (live and retained for lineage).
    #[serde(default)]
    pub process_table: u64,
    /// Processes evicted by the table's size cap.
    #[serde(default)]
    pub process_table_evicted: u64,
    #[serde(default)]
    pub hash_cache_hits: u64,
    #[serde(default)]
    pub hash_computed: u64,
    /// Other kernel-side anomalies (scratch misses...).
    #[serde(default)]
    pub kernel_other: BTreeMap<String, u64>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let line = r#"{"kind":"event","id":"a","time":"t","type":"process_exec","ret":0,
            "host":{"hostname":"h","boot_id":"b","kernel":"k"},
            "process":{"pid":1,"tid":1,"ppid":0,"uid":0,"euid":0,"gid":0,"egid":0,"loginuid":4294967295,
              "comm":"init","exe":"/sbin/init","exe_sha256":null,"args":[],"cmdline":"","cwd":"/","tty":null,
              "start_time":"s","exec_id":"e","ns_pid":1,"ancestors":[]},
            "container":null,"future_key":{"x":1}}"#;
        let rec: Record = serde_json::from_str(line).expect("parses");
        let Record::Event(ev) = &rec else { panic!("not an event") };
        assert_eq!(ev.extra.get("future_key"), Some(&serde_json::json!({"x":1})));
        let again: Record = serde_json::from_str(&serde_json::to_string(&rec).expect("serializes")).expect("reparses");
        assert_eq!(again, rec);
    }
}
