//! Pure decoding of the records the kernel side writes into the ring buffer:
//! bytes in, typed records out. No syscalls, no global state, so it is unit
//! tested and fuzzed without root (`fuzz/fuzz_targets/decode.rs`).
//!
//! Every record is untrusted input: a length field that points past the end,
//! a truncated record or an unknown kind is a [`DecodeError`], never a panic.

use std::mem::{offset_of, size_of};

use crate::skel::process::types;
use crate::skel::syscalls::types as sc_types;

pub use sc_types::syscall_id as SyscallId;

/// Record kinds, as `enum event_kind` in `bpf/events.h`.
pub const KIND_EXEC: u32 = types::event_kind::EVENT_EXEC.0;
/// See [`KIND_EXEC`].
pub const KIND_FORK: u32 = types::event_kind::EVENT_FORK.0;
/// See [`KIND_EXEC`].
pub const KIND_EXIT: u32 = types::event_kind::EVENT_EXIT.0;
/// See [`KIND_EXEC`].
pub const KIND_SYSCALL: u32 = types::event_kind::EVENT_SYSCALL.0;
/// See [`KIND_EXEC`].
pub const KIND_DNS: u32 = types::event_kind::EVENT_DNS.0;
/// See [`KIND_EXEC`].
pub const KIND_FLOW: u32 = types::event_kind::EVENT_FLOW.0;
/// One past the last record kind: the number of per-kind drop counters.
pub const KIND_MAX: u32 = types::event_kind::EVENT_KIND_MAX.0;
/// Not a record kind: the frame in which a CPU sends several close records at once.
pub const KIND_FLOW_BATCH: u32 = types::event_kind::EVENT_FLOW_BATCH.0;

/// Limits of the kernel side, as `enum ferret_limits` in `bpf/events.h`.
pub mod limits {
    use super::types::ferret_limits as L;
    /// Bytes of one kernel-resolved path.
    pub const PATH_MAX: u32 = L::FERRET_PATH_MAX.0;
    /// Bytes of argv captured for a successful exec.
    pub const ARGS_MAX: u32 = L::FERRET_ARGS_MAX.0;
    /// Path components (mount crossings included) walked per path.
    pub const PATH_DEPTH: u32 = L::FERRET_PATH_DEPTH.0;
    /// argv entries read for a failed exec.
    pub const FAILED_ARGS: u32 = L::FERRET_FAILED_ARGS.0;
    /// Bytes per argv entry for a failed exec.
    pub const FAILED_ARG_LEN: u32 = L::FERRET_FAILED_ARG_LEN.0;
    /// Syscall numbers the programs can watch, per table (native, ia32).
    pub const SC_NR_MAX: u32 = L::FERRET_SC_NR_MAX.0;
    /// Ways of a bucket of the TCP connection table (`bpf/lib/tcp_conns.h`).
    pub const TCP_CONN_WAYS: u32 = L::FERRET_TCP_CONN_WAYS.0;
    /// Record slots in a batch frame of close records.
    pub const FLOW_BATCH: u32 = L::FERRET_FLOW_BATCH.0;
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the fixed part its kind needs.
    #[error("record of kind {kind} is {len} bytes, needs at least {need}")]
    Short { kind: u32, len: usize, need: usize },
    /// The header's kind is not one this build knows.
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    /// The string lengths add up to more than the record holds.
    #[error("string lengths ({total} bytes) exceed the record's data ({have} bytes)")]
    Overrun { total: usize, have: usize },
}

/// The acting task as the kernel saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    pub start_boottime_ns: u64,
    pub parent_start_boottime_ns: u64,
    pub cgroup_id: u64,
    /// Capability sets (bit n = capability n).
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub ns_pid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    /// `comm`, up to the first NUL; raw bytes (not necessarily UTF-8).
    pub comm: Vec<u8>,
}

/// Fields common to every record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// CLOCK_BOOTTIME of the event, in ns.
    pub ktime_boot_ns: u64,
    pub task: Task,
}

/// Identity of the executable file, as the kernel's inode had it at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct FileId {
    pub ino: u64,
    /// The kernel's dev_t (major << 20 | minor).
    pub dev: u32,
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    pub nlink: u32,
    pub mode: u32,
}

impl FileId {
    /// The device number in userspace's encoding (as `stat(2)` reports it).
    pub fn dev_userspace(&self) -> u64 {
        let major = u64::from(self.dev >> 20);
        let minor = u64::from(self.dev & 0xf_ffff);
        libc::makedev(major as u32, minor as u32)
    }
}

/// Bits of [`Exec::flags`], as `enum exec_flags` in `bpf/events.h`.
pub mod exec_flags {
    use super::types::exec_flags as F;
    pub const ARGS_TRUNCATED: u32 = F::EXEC_F_ARGS_TRUNCATED.0;
    pub const EXE_TRUNCATED: u32 = F::EXEC_F_EXE_TRUNCATED.0;
    pub const CWD_TRUNCATED: u32 = F::EXEC_F_CWD_TRUNCATED.0;
    pub const EXE_DELETED: u32 = F::EXEC_F_EXE_DELETED.0;
    pub const EXE_INTERNAL: u32 = F::EXEC_F_EXE_INTERNAL.0;
    pub const PATH_FROM_USER: u32 = F::EXEC_F_PATH_FROM_USER.0;
    pub const SCRIPT: u32 = F::EXEC_F_SCRIPT.0;
    pub const EXECVEAT: u32 = F::EXEC_F_EXECVEAT.0;
    pub const EMPTY_PATH: u32 = F::EXEC_F_EMPTY_PATH.0;
    pub const CWD_UNREACHABLE: u32 = F::EXEC_F_CWD_UNREACHABLE.0;
    pub const EXE_UPPER: u32 = F::EXEC_F_EXE_UPPER.0;
    pub const COMPAT: u32 = F::EXEC_F_COMPAT.0;
}

/// Bits of [`Fork::flags`], as `enum fork_flags` in `bpf/events.h`.
pub mod fork_flags {
    use super::types::fork_flags as F;
    pub const THREAD: u32 = F::FORK_F_THREAD.0;
    pub const VFORK: u32 = F::FORK_F_VFORK.0;
}

/// An exec, successful (`ret == 0`) or failed (`ret < 0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exec {
    pub header: Header,
    pub ret: i32,
    /// [`exec_flags`] bits.
    pub flags: u32,
    pub exe_file: FileId,
    pub argc: u32,
    pub old_pid: u32,
    /// Executable path: kernel-resolved, or the caller's string on failure.
    pub exe: Vec<u8>,
    pub cwd: Vec<u8>,
    /// The path as given to execve (for a script: the script).
    pub filename: Vec<u8>,
    /// For a `#!` script: the interpreter it names.
    pub interp: Vec<u8>,
    pub tty: Vec<u8>,
    /// The last components of the task's cgroup path ("parent/leaf").
    pub cgroup: Vec<u8>,
    /// argv entries (the raw NUL-separated block, split).
    pub args: Vec<Vec<u8>>,
}

impl Exec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// A new process or thread; `header.task` is the parent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fork {
    pub header: Header,
    pub child_pid: u32,
    pub child_tid: u32,
    pub child_start_boottime_ns: u64,
    /// [`fork_flags`] bits.
    pub flags: u32,
}

/// A process ended; `header.task` is its last thread.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exit {
    pub header: Header,
    /// The wait status as the kernel keeps it.
    pub exit_code: u32,
}

impl Exit {
    /// The exit status, when the process called exit.
    pub fn status(&self) -> Option<i32> {
        (self.exit_code & 0x7f == 0).then_some(((self.exit_code >> 8) & 0xff) as i32)
    }
    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        let sig = (self.exit_code & 0x7f) as i32;
        (sig != 0).then_some(sig)
    }
    /// Whether it dumped core.
    pub fn core_dumped(&self) -> bool {
        self.exit_code & 0x80 != 0
    }
}

/// Bits of [`Syscall::flags`], as `enum syscall_flags` in `bpf/events.h`.
pub mod syscall_flags {
    use super::sc_types::syscall_flags as F;
    pub const PATH_KERNEL: u32 = F::SC_F_PATH_KERNEL.0;
    pub const PATH_CHANGED: u32 = F::SC_F_PATH_CHANGED.0;
    pub const PATH_TRUNCATED: u32 = F::SC_F_PATH_TRUNCATED.0;
    pub const FILE: u32 = F::SC_F_FILE.0;
    pub const SOCK: u32 = F::SC_F_SOCK.0;
    pub const DIR_KERNEL: u32 = F::SC_F_DIR_KERNEL.0;
    pub const PATH_UNREACHABLE: u32 = F::SC_F_PATH_UNREACHABLE.0;
    pub const INTERESTING: u32 = F::SC_F_INTERESTING.0;
    pub const AUX_USER: u32 = F::SC_F_AUX_USER.0;
    pub const PATH2_CHANGED: u32 = F::SC_F_PATH2_CHANGED.0;
    pub const COMPAT: u32 = F::SC_F_COMPAT.0;
    pub const UPPER_LAYER: u32 = F::SC_F_UPPER_LAYER.0;
    pub const MULTIPLEXED: u32 = F::SC_F_MULTIPLEXED.0;
    pub const ARGS_CHANGED: u32 = F::SC_F_ARGS_CHANGED.0;
}

/// The inode of a file a syscall resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyscallFile {
    pub ino: u64,
    pub size: u64,
    /// Kernel dev_t.
    pub dev: u32,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    /// The filesystem's magic number (names pseudo files).
    pub fs_magic: u64,
}

/// A socket as the kernel holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sock {
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub state: u16,
    pub lport: u16,
    pub rport: u16,
    /// Network byte order; IPv4 in the first four bytes.
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    /// Socket cookie, to join flow records (0: none made yet).
    pub cookie: u64,
}

/// A file, network or security-relevant syscall, captured at its exit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Syscall {
    pub header: Header,
    /// `enum syscall_id`.
    pub sc: u32,
    pub ret: i64,
    pub args: [u64; 6],
    /// [`syscall_flags`] bits.
    pub flags: u32,
    pub file: Option<SyscallFile>,
    pub sock: Option<Sock>,
    pub path: Vec<u8>,
    pub path2: Vec<u8>,
    pub dir: Vec<u8>,
    pub aux: Vec<u8>,
    /// Identical events of this process suppressed in the kernel since the
    /// last one sent (de-duplication window).
    pub repeats: u32,
}

impl Syscall {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// A DNS message seen by the network programs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dns {
    /// The socket's owner; all zero when unknown (`owner_known` false).
    pub header: Header,
    pub owner_known: bool,
    pub cookie: u64,
    pub family: u16,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    /// Leaving the host's socket (a query) or arriving (a response).
    pub egress: bool,
    /// Over TCP (else UDP).
    pub tcp: bool,
    /// The message's length on the wire (`payload` may hold fewer).
    pub wire_len: u32,
    pub payload: Vec<u8>,
}

/// Bits of [`Flow::flags`], as `enum flow_flags` in `bpf/events.h`.
pub mod flow_flags {
    use crate::skel::net::types::flow_flags as F;
    pub const OWNER: u32 = F::FLOW_F_OWNER.0;
    pub const INBOUND: u32 = F::FLOW_F_INBOUND.0;
    pub const INTERIM: u32 = F::FLOW_F_INTERIM.0;
    pub const START_UNKNOWN: u32 = F::FLOW_F_START_UNKNOWN.0;
    pub const NOT_ESTABLISHED: u32 = F::FLOW_F_NOT_ESTABLISHED.0;
    pub const IDLE: u32 = F::FLOW_F_IDLE.0;
    pub const OWNER_ACCEPT: u32 = F::FLOW_F_OWNER_ACCEPT.0;
}

/// Traffic of one TCP connection or UDP conversation (totals since `start_ns`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flow {
    /// The owner when `flags` has OWNER; `ktime_boot_ns` is the close or the last packet.
    pub header: Header,
    pub cookie: u64,
    pub start_ns: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub family: u16,
    /// IPPROTO_TCP (6) or IPPROTO_UDP (17).
    pub protocol: u8,
    /// Network byte order; IPv4 in the first four bytes.
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    pub lport: u16,
    pub rport: u16,
    pub flags: u32,
}

impl Flow {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// One decoded ring-buffer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Exec(Box<Exec>),
    Fork(Fork),
    Exit(Exit),
    Syscall(Box<Syscall>),
    Dns(Box<Dns>),
    Flow(Box<Flow>),
}

impl Record {
    pub fn header(&self) -> &Header {
        match self {
            Record::Exec(e) => &e.header,
            Record::Fork(f) => &f.header,
            Record::Exit(x) => &x.header,
            Record::Syscall(s) => &s.header,
            Record::Dns(d) => &d.header,
            Record::Flow(f) => &f.header,
        }
    }

    /// The record kind (`KIND_*`).
    pub fn kind(&self) -> u32 {
        match self {
            Record::Exec(_) => KIND_EXEC,
            Record::Fork(_) => KIND_FORK,
            Record::Exit(_) => KIND_EXIT,
            Record::Syscall(_) => KIND_SYSCALL,
            Record::Dns(_) => KIND_DNS,
            Record::Flow(_) => KIND_FLOW,
        }
    }
}

/// Reads a whole fixed-size record struct (see [`read_fixed`]).
fn read_pod<T: Copy + Default>(bytes: &[u8], kind: u32) -> Result<T, DecodeError> {
    read_fixed(bytes, size_of::<T>(), kind)
}

fn cstr(raw: &[i8]) -> Vec<u8> {
    raw.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect()
}

fn header(h: &types::event_header) -> Header {
    let t = &h.task;
    Header {
        ktime_boot_ns: h.ktime_boot_ns,
        task: Task {
            start_boottime_ns: t.start_boottime,
            parent_start_boottime_ns: t.parent_start_boottime,
            cgroup_id: t.cgroup_id,
            cap_effective: t.cap_effective,
            cap_permitted: t.cap_permitted,
            pid: t.pid,
            tid: t.tid,
            ppid: t.ppid,
            ns_pid: t.ns_pid,
            uid: t.uid,
            euid: t.euid,
            gid: t.gid,
            egid: t.egid,
            loginuid: t.loginuid,
            sessionid: t.sessionid,
            comm: cstr(&t.comm),
        },
    }
}

/// Splits a NUL-separated argv block; a missing final NUL (a truncated
/// block) still yields the partial last entry.
pub fn split_args(block: &[u8]) -> Vec<Vec<u8>> {
    if block.is_empty() {
        return Vec::new();
    }
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    block.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The fixed part of an exec record: everything before `data`.
const EXEC_FIXED: usize = offset_of!(types::exec_event, data);

/// Reads the fixed part (the first `fixed` bytes: everything before the
/// variable `data` array) of a record struct; the rest stays default. The
/// record on the wire holds only the bytes written, not the whole array.
///
/// Only for the skeleton's `#[repr(C)]` record types, whose fields before
/// `data` are integers and integer arrays: any bytes form a valid value.
fn read_fixed<T: Copy + Default>(bytes: &[u8], fixed: usize, kind: u32) -> Result<T, DecodeError> {
    if bytes.len() < fixed {
        return Err(DecodeError::Short { kind, len: bytes.len(), need: fixed });
    }
    assert!(fixed <= size_of::<T>(), "fixed part larger than the type");
    let mut v = T::default();
    // SAFETY: `fixed` bytes are present in `bytes` and fit in `v` (both
    // checked above); the bytes land in integer fields only, as documented.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut v as *mut T).cast::<u8>(), fixed) };
    Ok(v)
}

fn decode_exec(bytes: &[u8]) -> Result<Exec, DecodeError> {
    let e: types::exec_event = read_fixed(bytes, EXEC_FIXED, KIND_EXEC)?;
    let data = &bytes[EXEC_FIXED..];
    let lens = [e.exe_len, e.cwd_len, e.filename_len, e.interp_len, e.tty_len, e.cgroup_len, e.args_len];
    let total: usize = lens.iter().map(|&l| usize::from(l)).sum();
    if total > data.len() {
        return Err(DecodeError::Overrun { total, have: data.len() });
    }
    let mut parts = Vec::with_capacity(lens.len());
    let mut at = 0usize;
    for len in lens {
        let len = usize::from(len);
        parts.push(&data[at..at + len]);
        at += len;
    }
    Ok(Exec {
        header: header(&e.hdr),
        ret: e.ret,
        flags: e.flags,
        exe_file: FileId {
            ino: e.exe_ino,
            dev: e.exe_dev,
            size: e.exe_size,
            mtime_sec: e.exe_mtime_sec,
            mtime_nsec: e.exe_mtime_nsec,
            nlink: e.exe_nlink,
            mode: e.exe_mode,
        },
        argc: e.argc,
        old_pid: e.old_pid,
        exe: parts[0].to_vec(),
        cwd: parts[1].to_vec(),
        filename: parts[2].to_vec(),
        interp: parts[3].to_vec(),
        tty: parts[4].to_vec(),
        cgroup: parts[5].to_vec(),
        args: split_args(parts[6]),
    })
}

const SC_FIXED: usize = offset_of!(sc_types::syscall_event, data);

fn header_sc(h: &sc_types::event_header) -> Header {
    // The same C struct seen through the other skeleton: identical layout.
    // SAFETY: both are the repr(C) integer-only event_header from events.h.
    let h: types::event_header = unsafe { std::mem::transmute_copy(h) };
    header(&h)
}

fn decode_syscall(bytes: &[u8]) -> Result<Syscall, DecodeError> {
    let e: sc_types::syscall_event = read_fixed(bytes, SC_FIXED, KIND_SYSCALL)?;
    let data = &bytes[SC_FIXED..];
    let lens = [e.path_len, e.path2_len, e.dir_len, e.aux_len].map(usize::from);
    let total: usize = lens.iter().sum();
    if total > data.len() {
        return Err(DecodeError::Overrun { total, have: data.len() });
    }
    let mut parts = Vec::with_capacity(4);
    let mut at = 0;
    for len in lens {
        parts.push(data[at..at + len].to_vec());
        at += len;
    }
    let aux = parts.pop().unwrap_or_default();
    let dir = parts.pop().unwrap_or_default();
    let path2 = parts.pop().unwrap_or_default();
    let path = parts.pop().unwrap_or_default();
    let has = |f: u32| e.flags & f != 0;
    Ok(Syscall {
        header: header_sc(&e.hdr),
        sc: e.sc,
        ret: e.ret,
        args: e.args,
        flags: e.flags,
        file: has(syscall_flags::FILE).then_some(SyscallFile {
            ino: e.file.ino,
            size: e.file.size,
            dev: e.file.dev,
            mode: e.file.mode,
            nlink: e.file.nlink,
            uid: e.file.uid,
            fs_magic: e.file.fs_magic,
        }),
        sock: has(syscall_flags::SOCK).then_some(Sock {
            family: e.sock.family,
            sock_type: e.sock.r#type,
            protocol: e.sock.protocol,
            state: e.sock.state,
            lport: e.sock.lport,
            rport: e.sock.rport,
            laddr: e.sock.laddr,
            raddr: e.sock.raddr,
            cookie: e.sock.cookie,
        }),
        path,
        path2,
        dir,
        aux,
        repeats: e.repeats,
    })
}

const DNS_FIXED: usize = offset_of!(crate::skel::net::types::dns_event, data);

fn decode_dns(bytes: &[u8]) -> Result<Dns, DecodeError> {
    use crate::skel::net::types as nt;
    let e: nt::dns_event = read_fixed(bytes, DNS_FIXED, KIND_DNS)?;
    let data = &bytes[DNS_FIXED..];
    let cap = e.cap_len as usize;
    if cap > data.len() {
        return Err(DecodeError::Overrun { total: cap, have: data.len() });
    }
    // SAFETY: the same C event_header seen through another skeleton.
    let h: types::event_header = unsafe { std::mem::transmute_copy(&e.hdr) };
    Ok(Dns {
        header: header(&h),
        owner_known: e.owner_known != 0,
        cookie: e.cookie,
        family: e.family,
        saddr: e.saddr,
        daddr: e.daddr,
        sport: e.sport,
        dport: e.dport,
        egress: e.egress != 0,
        tcp: e.tcp != 0,
        wire_len: e.wire_len,
        payload: data[..cap].to_vec(),
    })
}

fn decode_flow(bytes: &[u8]) -> Result<Flow, DecodeError> {
    use crate::skel::net::types as nt;
    let r: nt::flow_event = read_pod(bytes, KIND_FLOW)?;
    // SAFETY: the same C event_header seen through another skeleton.
    let h: types::event_header = unsafe { std::mem::transmute_copy(&r.hdr) };
    let e = &r.f;
    Ok(Flow {
        header: header(&h),
        cookie: e.cookie,
        start_ns: e.start_ns,
        bytes_in: e.bytes_in,
        bytes_out: e.bytes_out,
        packets_in: e.packets_in,
        packets_out: e.packets_out,
        family: e.family,
        protocol: e.protocol,
        laddr: e.laddr,
        raddr: e.raddr,
        lport: e.lport,
        rport: e.rport,
        flags: e.flags,
    })
}

/// The times of a `udp_flows` map value: first and last packet (boot ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFlowTimes {
    pub first_ns: u64,
    pub last_ns: u64,
}

/// Reads the times of a `udp_flows` value; None when the bytes are not one.
pub fn udp_flow_value(value: &[u8]) -> Option<UdpFlowTimes> {
    let v: crate::skel::net::types::udp_flow = read_pod(value, KIND_FLOW).ok()?;
    Some(UdpFlowTimes { first_ns: v.first_ns, last_ns: v.last_ns })
}

const FLOW_BATCH_SLOTS: usize = limits::FLOW_BATCH as usize;

/// Splits a batch frame (`EVENT_FLOW_BATCH`) into whole flow records, each rebuilt with its
/// owner from the frame's owners and handed to `each` (which returns false to stop early; the
/// rest of the frame is still handed over). Returns None for anything that is not a batch
/// frame, and otherwise whether every `each` returned true. A frame too short for what its
/// header claims, or that claims more records or owners than a frame holds, is handed over
/// whole instead, to fail in decoding: a malformed frame is seen, never read past.
pub fn for_each_batched(bytes: &[u8], mut each: impl FnMut(&[u8]) -> bool) -> Option<bool> {
    use crate::skel::net::types as nt;
    let head: nt::flow_batch_header = read_pod(bytes, KIND_FLOW_BATCH).ok()?;
    if head.kind != KIND_FLOW_BATCH {
        return None;
    }
    let (count, owners) = (head.count as usize, head.owners as usize);
    let slots_at = size_of::<nt::flow_batch_header>();
    let owners_at = slots_at + FLOW_BATCH_SLOTS * size_of::<nt::flow_batch_rec>();
    let end = owners_at + owners * size_of::<nt::task_ctx>();
    if count > FLOW_BATCH_SLOTS || owners > FLOW_BATCH_SLOTS || bytes.len() < end {
        return Some(each(bytes));
    }
    let mut go = true;
    for i in 0..count {
        let at = slots_at + i * size_of::<nt::flow_batch_rec>();
        let Ok(rec) = read_pod::<nt::flow_batch_rec>(&bytes[at..], KIND_FLOW_BATCH) else {
            return Some(each(bytes));
        };
        let mut e = nt::flow_event { f: rec.f, ..Default::default() };
        e.hdr.kind = KIND_FLOW;
        e.hdr.size = size_of::<nt::flow_event>() as u32;
        e.hdr.ktime_boot_ns = rec.ktime_boot_ns;
        let o = rec.owner as usize;
        if o < owners {
            let at = owners_at + o * size_of::<nt::task_ctx>();
            if let Ok(task) = read_pod::<nt::task_ctx>(&bytes[at..], KIND_FLOW_BATCH) {
                e.hdr.task = task;
            }
        }
        go &= each(pod_bytes(&e));
    }
    Some(go)
}

/// The bytes of a plain C struct from a skeleton.
fn pod_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is a repr(C) struct of integers and arrays of them (no padding is read as
    // anything but bytes); the slice lives as long as the borrow of v.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let h: types::event_header = read_pod(bytes, 0)?;
    match h.kind {
        k if k == KIND_EXEC => decode_exec(bytes).map(|e| Record::Exec(Box::new(e))),
        k if k == KIND_FORK => {
            let f: types::fork_event = read_pod(bytes, k)?;
            Ok(Record::Fork(Fork {
                header: header(&f.hdr),
                child_pid: f.child_pid,
                child_tid: f.child_tid,
                child_start_boottime_ns: f.child_start_boottime,
                flags: f.flags,
            }))
        }
        k if k == KIND_EXIT => {
            let x: types::exit_event = read_pod(bytes, k)?;
            Ok(Record::Exit(Exit { header: header(&x.hdr), exit_code: x.exit_code }))
        }
        k if k == KIND_SYSCALL => decode_syscall(bytes).map(|s| Record::Syscall(Box::new(s))),
        k if k == KIND_DNS => decode_dns(bytes).map(|d| Record::Dns(Box::new(d))),
        k if k == KIND_FLOW => decode_flow(bytes).map(|f| Record::Flow(Box::new(f))),
        k => Err(DecodeError::UnknownKind(k)),
    }
}

/// Test support: encodes records the way the kernel lays them out, so decode
/// tests and fuzz seeds do not depend on a running kernel.
pub mod encode {
    use super::*;

    fn as_bytes<T: Copy>(v: &T) -> Vec<u8> {
        pod_bytes(v).to_vec()
    }

    fn raw_header(kind: u32, size: usize, h: &Header) -> types::event_header {
        let t = &h.task;
        let mut comm = [0i8; 16];
        for (d, s) in comm.iter_mut().zip(t.comm.iter().take(15)) {
            *d = *s as i8;
        }
        types::event_header {
            ktime_boot_ns: h.ktime_boot_ns,
            kind,
            size: size as u32,
            task: types::task_ctx {
                start_boottime: t.start_boottime_ns,
                parent_start_boottime: t.parent_start_boottime_ns,
                cgroup_id: t.cgroup_id,
                cap_effective: t.cap_effective,
                cap_permitted: t.cap_permitted,
                pid: t.pid,
                tid: t.tid,
                ppid: t.ppid,
                ns_pid: t.ns_pid,
                uid: t.uid,
                euid: t.euid,
                gid: t.gid,
                egid: t.egid,
                loginuid: t.loginuid,
                sessionid: t.sessionid,
                comm,
            },
        }
    }

    /// Encodes an exec record with exactly the bytes the kernel would send.
    #[allow(clippy::field_reassign_with_default)] // a 32 KiB struct: built in place
    pub fn exec(e: &Exec) -> Vec<u8> {
        let mut args = Vec::new();
        for a in &e.args {
            args.extend_from_slice(a);
            args.push(0);
        }
        let parts: [&[u8]; 7] = [&e.exe, &e.cwd, &e.filename, &e.interp, &e.tty, &e.cgroup, &args];
        let data_len: usize = parts.iter().map(|p| p.len()).sum();
        let mut raw = types::exec_event::default();
        raw.hdr = raw_header(KIND_EXEC, EXEC_FIXED + data_len, &e.header);
        raw.ret = e.ret;
        raw.flags = e.flags;
        raw.exe_ino = e.exe_file.ino;
        raw.exe_size = e.exe_file.size;
        raw.exe_mtime_sec = e.exe_file.mtime_sec;
        raw.exe_mtime_nsec = e.exe_file.mtime_nsec;
        raw.exe_dev = e.exe_file.dev;
        raw.exe_nlink = e.exe_file.nlink;
        raw.exe_mode = e.exe_file.mode;
        raw.argc = e.argc;
        raw.old_pid = e.old_pid;
        raw.exe_len = e.exe.len() as u16;
        raw.cwd_len = e.cwd.len() as u16;
        raw.filename_len = e.filename.len() as u16;
        raw.interp_len = e.interp.len() as u16;
        raw.tty_len = e.tty.len() as u16;
        raw.cgroup_len = e.cgroup.len() as u16;
        raw.args_len = args.len() as u16;
        let mut out = as_bytes(&raw);
        out.truncate(EXEC_FIXED);
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    }

    pub fn fork(f: &Fork) -> Vec<u8> {
        let raw = types::fork_event {
            hdr: raw_header(KIND_FORK, size_of::<types::fork_event>(), &f.header),
            child_start_boottime: f.child_start_boottime_ns,
            child_pid: f.child_pid,
            child_tid: f.child_tid,
            flags: f.flags,
            ..Default::default()
        };
        as_bytes(&raw)
    }

    /// A UDP conversation from the `udp_flows` map (key and value bytes) as a flow record
    /// ending at `end_ns`; `interim` while it is still going. None when the bytes are not a
    /// key and a value.
    pub fn udp_flow_record(key: &[u8], value: &[u8], end_ns: u64, interim: bool) -> Option<Vec<u8>> {
        use crate::skel::net::types as nt;
        let k: nt::udp_flow_key = read_pod(key, KIND_FLOW).ok()?;
        let v: nt::udp_flow = read_pod(value, KIND_FLOW).ok()?;
        let mut flags = if interim { flow_flags::INTERIM } else { flow_flags::IDLE };
        if v.owner_known != 0 {
            flags |= flow_flags::OWNER;
        }
        if v.inbound != 0 {
            flags |= flow_flags::INBOUND;
        }
        let mut e = nt::flow_event {
            f: nt::flow_body {
                cookie: k.cookie,
                start_ns: v.first_ns,
                bytes_in: v.bytes_in,
                bytes_out: v.bytes_out,
                packets_in: v.packets_in,
                packets_out: v.packets_out,
                laddr: v.laddr,
                raddr: k.raddr,
                lport: v.lport,
                rport: k.rport,
                family: k.family,
                protocol: 17,
                flags,
                ..Default::default()
            },
            ..Default::default()
        };
        // SAFETY: the same C structs seen through another skeleton.
        e.hdr = unsafe { std::mem::transmute_copy(&types::event_header::default()) };
        e.hdr.kind = KIND_FLOW;
        e.hdr.size = size_of::<nt::flow_event>() as u32;
        e.hdr.ktime_boot_ns = end_ns;
        if v.owner_known != 0 {
            // SAFETY: as above.
            e.hdr.task = unsafe { std::mem::transmute_copy(&v.owner) };
        }
        Some(as_bytes(&e))
    }

    /// A flow record as the kernel writes it.
    pub fn flow(f: &Flow) -> Vec<u8> {
        use crate::skel::net::types as nt;
        let hdr = raw_header(KIND_FLOW, size_of::<nt::flow_event>(), &f.header);
        let raw = nt::flow_event {
            // SAFETY: the same C event_header seen through another skeleton.
            hdr: unsafe { std::mem::transmute_copy(&hdr) },
            f: flow_body(f),
        };
        as_bytes(&raw)
    }

    fn flow_body(f: &Flow) -> crate::skel::net::types::flow_body {
        crate::skel::net::types::flow_body {
            cookie: f.cookie,
            start_ns: f.start_ns,
            bytes_in: f.bytes_in,
            bytes_out: f.bytes_out,
            packets_in: f.packets_in,
            packets_out: f.packets_out,
            laddr: f.laddr,
            raddr: f.raddr,
            lport: f.lport,
            rport: f.rport,
            family: f.family,
            protocol: f.protocol,
            flags: f.flags,
            ..Default::default()
        }
    }

    /// A batch frame of close records, as a CPU sends them: every record slot, then the owners
    /// (each distinct task once, in order of first use); `count` may claim more than given.
    pub fn flow_batch(flows: &[Flow], count: u32) -> Vec<u8> {
        use crate::skel::net::types as nt;
        let mut owners: Vec<nt::task_ctx> = Vec::new();
        let mut slots = vec![0u8; FLOW_BATCH_SLOTS * size_of::<nt::flow_batch_rec>()];
        for (i, f) in flows.iter().enumerate().take(FLOW_BATCH_SLOTS) {
            // SAFETY: the same C task_ctx seen through another skeleton.
            let task: nt::task_ctx = unsafe { std::mem::transmute_copy(&raw_header(KIND_FLOW, 0, &f.header).task) };
            let owner = if f.flags & flow_flags::OWNER == 0 {
                u32::MAX
            } else if let Some(at) = owners.iter().position(|o| as_bytes(o) == as_bytes(&task)) {
                at as u32
            } else {
                owners.push(task);
                (owners.len() - 1) as u32
            };
            let rec = nt::flow_batch_rec { ktime_boot_ns: f.header.ktime_boot_ns, owner, _pad: 0, f: flow_body(f) };
            let at = i * size_of::<nt::flow_batch_rec>();
            slots[at..at + size_of::<nt::flow_batch_rec>()].copy_from_slice(&as_bytes(&rec));
        }
        let owner_bytes: Vec<u8> = owners.iter().flat_map(as_bytes).collect();
        let head = nt::flow_batch_header {
            kind: KIND_FLOW_BATCH,
            size: (size_of::<nt::flow_batch_header>() + slots.len() + owner_bytes.len()) as u32,
            count,
            owners: owners.len() as u32,
            ..Default::default()
        };
        let mut out = as_bytes(&head);
        out.extend(slots);
        out.extend(owner_bytes);
        out
    }

    pub fn exit(x: &Exit) -> Vec<u8> {
        let raw = types::exit_event {
            hdr: raw_header(KIND_EXIT, size_of::<types::exit_event>(), &x.header),
            exit_code: x.exit_code,
            ..Default::default()
        };
        as_bytes(&raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            start_boottime_ns: 123_000_000_000,
            parent_start_boottime_ns: 1_000_000,
            cgroup_id: 77,
            cap_effective: 0x1ff_ffff_ffff,
            cap_permitted: 0x1ff_ffff_ffff,
            pid: 4242,
            tid: 4243,
            ppid: 1,
            ns_pid: 1,
            uid: 1000,
            euid: 0,
            gid: 1000,
            egid: 0,
            loginuid: u32::MAX,
            sessionid: u32::MAX,
            comm: b"curl".to_vec(),
        }
    }

    fn sample_exec() -> Exec {
        Exec {
            header: Header { ktime_boot_ns: 5, task: task() },
            ret: 0,
            flags: exec_flags::SCRIPT | exec_flags::ARGS_TRUNCATED,
            exe_file: FileId {
                ino: 9,
                dev: (8 << 20) | 1,
                size: 100,
                mtime_sec: 1,
                mtime_nsec: 2,
                nlink: 1,
                mode: 0o100755,
            },
            argc: 3,
            old_pid: 4243,
            exe: b"/usr/bin/bash".to_vec(),
            cwd: b"/tmp/with\nnewline".to_vec(),
            filename: b"./x.sh".to_vec(),
            interp: b"/bin/bash".to_vec(),
            tty: b"pts0".to_vec(),
            cgroup: b"machine.slice/libpod-0123.scope".to_vec(),
            args: vec![b"x.sh".to_vec(), b"\xff\xfe quote\"".to_vec(), Vec::new()],
        }
    }

    #[test]
    fn exec_round_trips() {
        let e = sample_exec();
        let bytes = encode::exec(&e);
        assert_eq!(decode(&bytes), Ok(Record::Exec(Box::new(e))));
    }

    #[test]
    fn fork_and_exit_round_trip() {
        let f = Fork {
            header: Header { ktime_boot_ns: 1, task: task() },
            child_pid: 5,
            child_tid: 6,
            child_start_boottime_ns: 7,
            flags: fork_flags::THREAD,
        };
        assert_eq!(decode(&encode::fork(&f)), Ok(Record::Fork(f)));
        let x = Exit { header: Header { ktime_boot_ns: 2, task: task() }, exit_code: 7 << 8 };
        assert_eq!(decode(&encode::exit(&x)), Ok(Record::Exit(x.clone())));
        assert_eq!(x.status(), Some(7));
        assert_eq!(x.signal(), None);
        let killed = Exit { exit_code: 9, ..x };
        assert_eq!(killed.status(), None);
        assert_eq!(killed.signal(), Some(9));
        assert!(!killed.core_dumped());
    }

    #[test]
    fn truncated_args_keep_partial_last_entry() {
        assert_eq!(split_args(b"a\0bc\0de"), vec![b"a".to_vec(), b"bc".to_vec(), b"de".to_vec()]);
        assert_eq!(split_args(b"a\0\0"), vec![b"a".to_vec(), Vec::new()]);
        assert!(split_args(b"").is_empty());
    }

    #[test]
    fn hostile_records_are_errors_not_panics() {
        assert!(matches!(decode(&[]), Err(DecodeError::Short { .. })));
        let mut bytes = encode::exec(&sample_exec());
        // Claim more argv bytes than were sent.
        let args_len_at = offset_of!(types::exec_event, args_len);
        bytes[args_len_at..args_len_at + 2].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert!(matches!(decode(&bytes), Err(DecodeError::Overrun { .. })));
        // Every prefix of a valid record decodes or errors, never panics.
        let good = encode::exec(&sample_exec());
        for n in 0..good.len() {
            let _ = decode(&good[..n]);
        }
        let mut unknown = encode::exit(&Exit::default());
        let kind_at = offset_of!(types::event_header, kind);
        unknown[kind_at..kind_at + 4].copy_from_slice(&99u32.to_ne_bytes());
        assert_eq!(decode(&unknown), Err(DecodeError::UnknownKind(99)));
    }

    /// The fuzz target's property on stable Rust: mutated records decode or
    /// error, never panic, and a decoded exec never holds more bytes than sent.
    #[test]
    fn mutated_records_never_panic() {
        let seeds = [
            encode::exec(&sample_exec()),
            encode::fork(&Fork::default()),
            encode::exit(&Exit { exit_code: 0x8b, ..Default::default() }),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..30_000 {
            let mut b = seeds[i % seeds.len()].clone();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() as usize) % b.len().max(1);
                match next() % 4 {
                    0 if !b.is_empty() => b[at] = next() as u8,
                    0 | 1 => b.truncate(at),
                    2 => b.extend(std::iter::repeat_n(next() as u8, (next() % 64) as usize)),
                    _ => {
                        let at = at.min(b.len().saturating_sub(2));
                        if b.len() >= 2 {
                            b[at..at + 2].copy_from_slice(&(next() as u16).to_ne_bytes());
                        }
                    }
                }
            }
            if let Ok(Record::Exec(e)) = decode(&b) {
                let strings =
                    e.exe.len() + e.cwd.len() + e.filename.len() + e.interp.len() + e.tty.len() + e.cgroup.len();
                assert!(strings <= b.len());
            }
        }
    }

    /// The results of decoding each record a frame splits into; None when it is not a batch.
    fn split(frame: &[u8]) -> Option<Vec<Result<Record, DecodeError>>> {
        let mut got = Vec::new();
        for_each_batched(frame, |r| {
            got.push(decode(r));
            true
        })?;
        Some(got)
    }

    #[test]
    fn a_batch_frame_splits_into_its_records_with_their_owners_and_a_lying_frame_reads_nothing_past_it() {
        let task = |pid: u32| Task { pid, tid: pid, uid: pid * 10, ..Default::default() };
        let owned = |cookie: u64, pid: u32| Flow {
            header: Header { ktime_boot_ns: cookie * 1000, task: task(pid) },
            cookie,
            lport: 80,
            flags: flow_flags::OWNER,
            ..Default::default()
        };
        // Two owners taking turns, and a record with none.
        let flows =
            vec![owned(1, 100), owned(2, 200), owned(3, 100), Flow { cookie: 4, ..Default::default() }, owned(5, 200)];
        let frame = encode::flow_batch(&flows, 5);
        let got: Vec<Record> = split(&frame).expect("a batch").into_iter().map(|r| r.expect("a record")).collect();
        let want: Vec<Record> = flows.iter().cloned().map(|f| Record::Flow(Box::new(f))).collect();
        assert_eq!(got, want);

        // It claims five records but is cut in its owners: handed over whole, which fails.
        let short = &frame[..frame.len() - 10];
        let got = split(short).expect("a batch");
        assert!(got.len() == 1 && got[0].is_err(), "{got:?}");
        // It claims more records than a frame has slots: the same.
        let mut lying = frame.clone();
        lying[16..20].copy_from_slice(&(FLOW_BATCH_SLOTS as u32 + 1).to_ne_bytes());
        let got = split(&lying).expect("a batch");
        assert!(got.len() == 1 && got[0].is_err(), "{got:?}");
        // It claims fewer than it holds: only those.
        assert_eq!(split(&encode::flow_batch(&flows, 1)).expect("a batch").len(), 1);

        // A record is not a batch, nor is a frame too short for its header.
        assert!(split(&encode::flow(&flows[0])).is_none());
        assert!(split(&frame[..12]).is_none());
    }

    #[test]
    fn flow_records_round_trip_and_udp_table_entries_become_records() {
        let mut f = Flow {
            cookie: 7,
            start_ns: 10,
            bytes_in: 1,
            bytes_out: 2,
            packets_in: 3,
            packets_out: 4,
            family: libc::AF_INET as u16,
            protocol: 6,
            lport: 80,
            rport: 4242,
            flags: flow_flags::INBOUND,
            ..Default::default()
        };
        f.laddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        f.header.ktime_boot_ns = 99;
        let bytes = encode::flow(&f);
        assert_eq!(decode(&bytes), Ok(Record::Flow(Box::new(f))));
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "a short flow record is an error");
        }

        use crate::skel::net::types as nt;
        let key = nt::udp_flow_key { cookie: 9, rport: 53, family: libc::AF_INET as u16, ..Default::default() };
        let value = nt::udp_flow {
            first_ns: 5,
            last_ns: 8,
            bytes_out: 60,
            packets_out: 1,
            lport: 5353,
            owner_known: 1,
            ..Default::default()
        };
        let raw = |v: &[u8]| v.to_vec();
        // SAFETY (test): integer-only repr(C) structs viewed as bytes.
        let kb = raw(unsafe {
            std::slice::from_raw_parts((&key as *const nt::udp_flow_key).cast::<u8>(), size_of::<nt::udp_flow_key>())
        });
        let vb = raw(unsafe {
            std::slice::from_raw_parts((&value as *const nt::udp_flow).cast::<u8>(), size_of::<nt::udp_flow>())
        });
        assert_eq!(udp_flow_value(&vb), Some(UdpFlowTimes { first_ns: 5, last_ns: 8 }));
        let rec = encode::udp_flow_record(&kb, &vb, 8, false).expect("a record");
        let Ok(Record::Flow(d)) = decode(&rec) else { panic!("not a flow") };
        assert_eq!((d.cookie, d.rport, d.lport, d.protocol, d.bytes_out), (9, 53, 5353, 17, 60));
        assert!(d.has(flow_flags::IDLE) && d.has(flow_flags::OWNER) && !d.has(flow_flags::INBOUND));
        assert!(encode::udp_flow_record(&kb[..4], &vb, 8, false).is_none(), "short key bytes are refused");
    }

    #[test]
    fn dev_is_converted_to_userspace_encoding() {
        let id = FileId { dev: (259 << 20) | 3, ..Default::default() };
        assert_eq!(libc::major(id.dev_userspace()), 259);
        assert_eq!(libc::minor(id.dev_userspace()), 3);
    }
}
