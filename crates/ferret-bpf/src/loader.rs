//! Loads and attaches the process programs, drains the ring buffer, and reads
//! the kernel-side loss counters.

use std::mem::MaybeUninit;
use std::time::Duration;

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use std::os::fd::AsFd;

use libbpf_rs::{MapCore, MapFlags, OpenObject, RingBuffer, RingBufferBuilder};

use crate::decode::limits::TCP_CONN_WAYS;
use crate::decode::{SyscallId, KIND_MAX};
use crate::skel::net::{NetSkel, NetSkelBuilder};
use crate::skel::process::types::counter_index;
use crate::skel::process::{ProcessSkel, ProcessSkelBuilder};
use crate::skel::syscalls::{SyscallsSkel, SyscallsSkelBuilder};

/// What the kernel side is told before it is loaded.
#[derive(Debug, Clone)]
pub struct SensorOptions {
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_buffer_bytes: u32,
    /// Report new threads as well as new processes.
    pub report_threads: bool,
    /// Bytes a CPU writes to the ring before it wakes the reader (0: every
    /// record). Below it, records wait for the reader's next poll tick.
    /// None: `default_wakeup_bytes` of the ring and the CPUs.
    pub wakeup_bytes: Option<u32>,
    /// Identical syscall events of one process within this window are sent
    /// once, the next one carrying the count (0: off).
    pub dedup_window_ms: u64,
    /// UDP ports carrying DNS; empty turns DNS capture off.
    pub dns_ports: Vec<u16>,
    /// Flow records; None turns them off.
    pub flows: Option<FlowOptions>,
}

/// How flow records are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowOptions {
    /// An open TCP connection is reported this often (totals so far).
    pub active: Duration,
    /// UDP conversations tracked at once (the kernel map's size); more are counted as lost.
    pub udp_max: u32,
    /// TCP connections tracked at once (the kernel table's size, rounded up to a power of
    /// two); a connection finding no free way in its two buckets is counted as lost.
    pub tcp_max: u32,
    /// The longest a close record waits in its CPU's batch before the batch is sent
    /// (a full batch goes at once); the reader's poll tick suits.
    pub batch_wait: Duration,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            active: Duration::from_secs(60),
            udp_max: 16384,
            tcp_max: 65536,
            batch_wait: Duration::from_millis(10),
        }
    }
}

impl Default for SensorOptions {
    fn default() -> Self {
        Self {
            ring_buffer_bytes: 16 * 1024 * 1024,
            report_threads: true,
            wakeup_bytes: None,
            dedup_window_ms: 1000,
            dns_ports: vec![53],
            flows: Some(FlowOptions::default()),
        }
    }
}

/// The syscalls watched: their number on this architecture, name, and
/// ferret's id for them (`enum syscall_id`).
pub const SYSCALL_HOOKS: &[(i64, &str, SyscallId)] = &[
    (libc::SYS_open, "open", SyscallId::SC_OPEN),
    (libc::SYS_openat, "openat", SyscallId::SC_OPENAT),
    (libc::SYS_openat2, "openat2", SyscallId::SC_OPENAT2),
    (libc::SYS_creat, "creat", SyscallId::SC_CREAT),
    (libc::SYS_rename, "rename", SyscallId::SC_RENAME),
    (libc::SYS_renameat, "renameat", SyscallId::SC_RENAMEAT),
    (libc::SYS_renameat2, "renameat2", SyscallId::SC_RENAMEAT2),
    (libc::SYS_unlink, "unlink", SyscallId::SC_UNLINK),
    (libc::SYS_unlinkat, "unlinkat", SyscallId::SC_UNLINKAT),
    (libc::SYS_rmdir, "rmdir", SyscallId::SC_RMDIR),
    (libc::SYS_link, "link", SyscallId::SC_LINK),
    (libc::SYS_linkat, "linkat", SyscallId::SC_LINKAT),
    (libc::SYS_symlink, "symlink", SyscallId::SC_SYMLINK),
    (libc::SYS_symlinkat, "symlinkat", SyscallId::SC_SYMLINKAT),
    (libc::SYS_chmod, "chmod", SyscallId::SC_CHMOD),
    (libc::SYS_fchmod, "fchmod", SyscallId::SC_FCHMOD),
    (libc::SYS_fchmodat, "fchmodat", SyscallId::SC_FCHMODAT),
    (libc::SYS_fchmodat2, "fchmodat2", SyscallId::SC_FCHMODAT2),
    (libc::SYS_chown, "chown", SyscallId::SC_CHOWN),
    (libc::SYS_fchown, "fchown", SyscallId::SC_FCHOWN),
    (libc::SYS_fchownat, "fchownat", SyscallId::SC_FCHOWNAT),
    (libc::SYS_lchown, "lchown", SyscallId::SC_LCHOWN),
    (libc::SYS_mkdir, "mkdir", SyscallId::SC_MKDIR),
    (libc::SYS_mkdirat, "mkdirat", SyscallId::SC_MKDIRAT),
    (libc::SYS_mount, "mount", SyscallId::SC_MOUNT),
    (libc::SYS_umount2, "umount2", SyscallId::SC_UMOUNT2),
    (libc::SYS_truncate, "truncate", SyscallId::SC_TRUNCATE),
    (libc::SYS_ftruncate, "ftruncate", SyscallId::SC_FTRUNCATE),
    (libc::SYS_utimensat, "utimensat", SyscallId::SC_UTIMENSAT),
    (libc::SYS_utimes, "utimes", SyscallId::SC_UTIMES),
    (libc::SYS_utime, "utime", SyscallId::SC_UTIME),
    (libc::SYS_futimesat, "futimesat", SyscallId::SC_FUTIMESAT),
    (libc::SYS_memfd_create, "memfd_create", SyscallId::SC_MEMFD_CREATE),
    (libc::SYS_mmap, "mmap", SyscallId::SC_MMAP),
    (libc::SYS_mprotect, "mprotect", SyscallId::SC_MPROTECT),
    (libc::SYS_socket, "socket", SyscallId::SC_SOCKET),
    (libc::SYS_connect, "connect", SyscallId::SC_CONNECT),
    (libc::SYS_accept, "accept", SyscallId::SC_ACCEPT),
    (libc::SYS_accept4, "accept4", SyscallId::SC_ACCEPT4),
    (libc::SYS_bind, "bind", SyscallId::SC_BIND),
    (libc::SYS_listen, "listen", SyscallId::SC_LISTEN),
    (libc::SYS_ptrace, "ptrace", SyscallId::SC_PTRACE),
    (libc::SYS_process_vm_readv, "process_vm_readv", SyscallId::SC_PROCESS_VM_READV),
    (libc::SYS_process_vm_writev, "process_vm_writev", SyscallId::SC_PROCESS_VM_WRITEV),
    (libc::SYS_init_module, "init_module", SyscallId::SC_INIT_MODULE),
    (libc::SYS_finit_module, "finit_module", SyscallId::SC_FINIT_MODULE),
    (libc::SYS_delete_module, "delete_module", SyscallId::SC_DELETE_MODULE),
    (libc::SYS_setuid, "setuid", SyscallId::SC_SETUID),
    (libc::SYS_setgid, "setgid", SyscallId::SC_SETGID),
    (libc::SYS_setreuid, "setreuid", SyscallId::SC_SETREUID),
    (libc::SYS_setregid, "setregid", SyscallId::SC_SETREGID),
    (libc::SYS_setresuid, "setresuid", SyscallId::SC_SETRESUID),
    (libc::SYS_setresgid, "setresgid", SyscallId::SC_SETRESGID),
    (libc::SYS_capset, "capset", SyscallId::SC_CAPSET),
    (libc::SYS_setns, "setns", SyscallId::SC_SETNS),
    (libc::SYS_unshare, "unshare", SyscallId::SC_UNSHARE),
    (libc::SYS_bpf, "bpf", SyscallId::SC_BPF),
    (libc::SYS_userfaultfd, "userfaultfd", SyscallId::SC_USERFAULTFD),
    (libc::SYS_dup, "dup", SyscallId::SC_DUP),
    (libc::SYS_dup2, "dup2", SyscallId::SC_DUP2),
    (libc::SYS_dup3, "dup3", SyscallId::SC_DUP3),
    (libc::SYS_kill, "kill", SyscallId::SC_KILL),
    (libc::SYS_tgkill, "tgkill", SyscallId::SC_TGKILL),
    (libc::SYS_tkill, "tkill", SyscallId::SC_TKILL),
    (libc::SYS_prctl, "prctl", SyscallId::SC_PRCTL),
];

/// The ia32 syscalls handled apart (`enum sc_special`): the multiplexers
/// `socketcall` (socket, bind, connect, listen, accept and accept4 of 32-bit
/// programs before Linux 4.3 gave them their own numbers, and still what
/// 32-bit libcs may call) and the old `mmap`, whose arguments are an array in
/// memory: the kernel side reads it and reports the call it stands for,
/// flagged `multiplexed`; and `execve`/`execveat`, whose failures the 64-bit
/// execve tracepoints never see: reported as exec records.
#[cfg(target_arch = "x86_64")]
pub const IA32_SPECIAL: &[(u32, &str, crate::skel::syscalls::types::sc_special)] = &[
    (102, "socketcall", crate::skel::syscalls::types::sc_special::SC_MUX_SOCKETCALL),
    (90, "mmap", crate::skel::syscalls::types::sc_special::SC_MUX_OLD_MMAP),
    (11, "execve", crate::skel::syscalls::types::sc_special::SC_IA32_EXECVE),
    (358, "execveat", crate::skel::syscalls::types::sc_special::SC_IA32_EXECVEAT),
];

/// The same syscalls as 32-bit (ia32) processes, or 64-bit ones using
/// `int 0x80`, make them on x86_64 (numbers from the kernel's syscall_32.tbl).
/// The 16-bit-id variants are watched too; the multiplexers whose arguments
/// are in memory, and execve/execveat, are in [`IA32_SPECIAL`].
#[cfg(target_arch = "x86_64")]
pub const SYSCALL_HOOKS_IA32: &[(u32, &str, SyscallId)] = &[
    (5, "open", SyscallId::SC_OPEN),
    (295, "openat", SyscallId::SC_OPENAT),
    (437, "openat2", SyscallId::SC_OPENAT2),
    (8, "creat", SyscallId::SC_CREAT),
    (38, "rename", SyscallId::SC_RENAME),
    (302, "renameat", SyscallId::SC_RENAMEAT),
    (353, "renameat2", SyscallId::SC_RENAMEAT2),
    (10, "unlink", SyscallId::SC_UNLINK),
    (301, "unlinkat", SyscallId::SC_UNLINKAT),
    (40, "rmdir", SyscallId::SC_RMDIR),
    (9, "link", SyscallId::SC_LINK),
    (303, "linkat", SyscallId::SC_LINKAT),
    (83, "symlink", SyscallId::SC_SYMLINK),
    (304, "symlinkat", SyscallId::SC_SYMLINKAT),
    (15, "chmod", SyscallId::SC_CHMOD),
    (94, "fchmod", SyscallId::SC_FCHMOD),
    (306, "fchmodat", SyscallId::SC_FCHMODAT),
    (452, "fchmodat2", SyscallId::SC_FCHMODAT2),
    (182, "chown", SyscallId::SC_CHOWN),
    (212, "chown32", SyscallId::SC_CHOWN),
    (95, "fchown", SyscallId::SC_FCHOWN),
    (207, "fchown32", SyscallId::SC_FCHOWN),
    (298, "fchownat", SyscallId::SC_FCHOWNAT),
    (16, "lchown", SyscallId::SC_LCHOWN),
    (198, "lchown32", SyscallId::SC_LCHOWN),
    (39, "mkdir", SyscallId::SC_MKDIR),
    (296, "mkdirat", SyscallId::SC_MKDIRAT),
    (21, "mount", SyscallId::SC_MOUNT),
    (52, "umount2", SyscallId::SC_UMOUNT2),
    (92, "truncate", SyscallId::SC_TRUNCATE),
    (93, "ftruncate", SyscallId::SC_FTRUNCATE),
    (320, "utimensat", SyscallId::SC_UTIMENSAT),
    (271, "utimes", SyscallId::SC_UTIMES),
    (30, "utime", SyscallId::SC_UTIME),
    (299, "futimesat", SyscallId::SC_FUTIMESAT),
    (356, "memfd_create", SyscallId::SC_MEMFD_CREATE),
    (192, "mmap2", SyscallId::SC_MMAP),
    (125, "mprotect", SyscallId::SC_MPROTECT),
    (359, "socket", SyscallId::SC_SOCKET),
    (362, "connect", SyscallId::SC_CONNECT),
    (364, "accept4", SyscallId::SC_ACCEPT4),
    (361, "bind", SyscallId::SC_BIND),
    (363, "listen", SyscallId::SC_LISTEN),
    (26, "ptrace", SyscallId::SC_PTRACE),
    (347, "process_vm_readv", SyscallId::SC_PROCESS_VM_READV),
    (348, "process_vm_writev", SyscallId::SC_PROCESS_VM_WRITEV),
    (128, "init_module", SyscallId::SC_INIT_MODULE),
    (350, "finit_module", SyscallId::SC_FINIT_MODULE),
    (129, "delete_module", SyscallId::SC_DELETE_MODULE),
    (23, "setuid", SyscallId::SC_SETUID),
    (213, "setuid32", SyscallId::SC_SETUID),
    (46, "setgid", SyscallId::SC_SETGID),
    (214, "setgid32", SyscallId::SC_SETGID),
    (70, "setreuid", SyscallId::SC_SETREUID),
    (203, "setreuid32", SyscallId::SC_SETREUID),
    (71, "setregid", SyscallId::SC_SETREGID),
    (204, "setregid32", SyscallId::SC_SETREGID),
    (164, "setresuid", SyscallId::SC_SETRESUID),
    (208, "setresuid32", SyscallId::SC_SETRESUID),
    (170, "setresgid", SyscallId::SC_SETRESGID),
    (210, "setresgid32", SyscallId::SC_SETRESGID),
    (185, "capset", SyscallId::SC_CAPSET),
    (346, "setns", SyscallId::SC_SETNS),
    (310, "unshare", SyscallId::SC_UNSHARE),
    (357, "bpf", SyscallId::SC_BPF),
    (374, "userfaultfd", SyscallId::SC_USERFAULTFD),
    (41, "dup", SyscallId::SC_DUP),
    (63, "dup2", SyscallId::SC_DUP2),
    (330, "dup3", SyscallId::SC_DUP3),
    (37, "kill", SyscallId::SC_KILL),
    (270, "tgkill", SyscallId::SC_TGKILL),
    (238, "tkill", SyscallId::SC_TKILL),
    (172, "prctl", SyscallId::SC_PRCTL),
];

/// The loaded and attached kernel side. Dropping it detaches every program.
pub struct Sensor {
    skel: ProcessSkel<'static>,
    syscalls: SyscallsSkel<'static>,
    /// DNS capture and flow records, when a cgroup v2 hierarchy is there to attach to.
    net: Option<NetPrograms>,
    /// Why DNS capture is off, when it is.
    dns_off: Option<String>,
    /// Why flow records are off, when they are.
    flows_off: Option<String>,
    /// The longest a close record waits in its CPU's batch; zero when no close is recorded.
    close_batch_wait: Duration,
}

impl std::fmt::Debug for Sensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sensor").finish_non_exhaustive()
    }
}

/// The network object and the links that keep its programs attached.
type NetPrograms = (NetSkel<'static>, Vec<libbpf_rs::Link>);

/// Kernel-side counters, summed over CPUs unless said otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Records lost because the ring buffer was full, per record kind
    /// (index = kind), and per CPU within each kind.
    pub dropped_per_cpu: Vec<Vec<u64>>,
    /// Per-CPU scratch memory unavailable (should stay 0).
    pub scratch_miss: u64,
    /// A failed exec whose entry record was missing (the LRU evicted it).
    pub exec_entry_miss: u64,
    /// Read-only opens dropped in the kernel because nothing is interested.
    pub open_filtered: u64,
    /// Syscall events suppressed as repeats (their count rides on the next one sent).
    pub deduped: u64,
    /// UDP packets not counted in a flow because the flow table was full.
    pub flow_table_full: u64,
    /// TCP connections not tracked because the connection table was full.
    pub tcp_table_full: u64,
}

impl KernelCounters {
    /// Drops of one record kind, summed over CPUs.
    pub fn dropped(&self, kind: u32) -> u64 {
        self.dropped_per_cpu.get(kind as usize).map(|v| v.iter().sum()).unwrap_or(0)
    }
    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_per_cpu.iter().flatten().sum()
    }
}

/// The most a CPU writes to the ring before it wakes the reader, by default.
const WAKEUP_BYTES_MAX: u32 = 1024 * 1024;

/// A CPU's wakeup threshold when none is configured: 1 MiB, or less when every possible CPU
/// holding that much unannounced would fill more than half the ring. Forced wakeups are costly
/// for the CPU that makes them: at 64 KiB (the default before) a loopback connect loop paid
/// about 80 ns of program time per close record for them. The reader drains the ring every poll
/// tick anyway, so the threshold is for bursts, not for latency.
pub fn default_wakeup_bytes(ring_buffer_bytes: u32, cpus: usize) -> u32 {
    let share = u64::from(ring_buffer_bytes) / 2 / (cpus.max(1) as u64);
    share.min(u64::from(WAKEUP_BYTES_MAX)) as u32
}

fn wakeup_bytes(opts: &SensorOptions, cpus: usize) -> u32 {
    opts.wakeup_bytes.unwrap_or_else(|| default_wakeup_bytes(opts.ring_buffer_bytes, cpus))
}

/// Entries of the TCP connection table (`bpf/lib/tcp_conns.h`): `tcp_max` rounded up to a power
/// of two, so that the buckets (one per `TCP_CONN_WAYS` entries) are too and the kernel side can
/// mask hashes; one bucket when flows are off.
fn tcp_conn_slots(opts: &SensorOptions) -> u32 {
    opts.flows
        .as_ref()
        .map_or(TCP_CONN_WAYS, |f| f.tcp_max.max(TCP_CONN_WAYS).checked_next_power_of_two().unwrap_or(1 << 31))
}

/// The secret key of the table's bucket hash: a process that can predict which bucket its
/// connection falls in could fill that bucket first and go untracked.
fn tcp_conn_hash_key() -> Result<u64> {
    let mut key = [0u8; 8];
    // SAFETY: getrandom writes at most key.len() bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(key.as_mut_ptr().cast(), key.len(), 0) };
    if n != key.len() as isize {
        anyhow::bail!("getrandom for the connection table's hash key: {}", std::io::Error::last_os_error());
    }
    Ok(u64::from_ne_bytes(key))
}

impl Sensor {
    /// Opens, configures, loads (the verifier runs here) and attaches.
    pub fn start(opts: &SensorOptions) -> Result<Sensor> {
        // The skeleton borrows its object storage for as long as it lives;
        // the sensor lives until the process ends, so the few bytes of
        // storage are leaked on purpose.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = ProcessSkelBuilder::default().open(storage).context("opening the eBPF object")?;

        let cpus = libbpf_rs::num_possible_cpus().context("counting possible CPUs")?;
        // The tick's length (0: unknown), for the repeat filter's and the flow times' clocks.
        let tick_ns = crate::probe::kernel_hz().map_or(0, |hz| 1_000_000_000 / hz);
        open.maps.exec_scratch.set_max_entries(cpus as u32).context("sizing exec_scratch")?;
        open.maps.events.set_max_entries(opts.ring_buffer_bytes).context("sizing the ring buffer")?;
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.report_threads = opts.report_threads;
            ro.self_tgid = std::process::id();
            ro.wakeup_bytes = wakeup_bytes(opts, cpus);
        }
        let mut skel = open.load().context("loading the process programs (verifier)")?;
        skel.attach().context("attaching the process programs")?;

        // The syscall programs write into the same ring buffer and counters.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = SyscallsSkelBuilder::default().open(storage).context("opening the syscall eBPF object")?;
        open.maps.events.reuse_fd(skel.maps.events.as_fd()).context("sharing the ring buffer")?;
        open.maps.counters.reuse_fd(skel.maps.counters.as_fd()).context("sharing the counters")?;
        // Failed ia32 execs are built in the process programs' per-CPU exec records.
        open.maps.exec_scratch.reuse_fd(skel.maps.exec_scratch.as_fd()).context("sharing exec_scratch")?;
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.self_tgid = std::process::id();
            ro.wakeup_bytes = wakeup_bytes(opts, cpus);
            ro.dedup_window_ns = opts.dedup_window_ms.saturating_mul(1_000_000);
            ro.tick_ns = tick_ns;
            ro.nr_cpus = cpus as u32;
        }
        // The TCP connections tracked: the network programs get the same table.
        let tcp_slots = tcp_conn_slots(opts);
        let tcp_hash_key = tcp_conn_hash_key()?;
        open.maps.tcp_conns.set_max_entries(tcp_slots).context("sizing tcp_conns")?;
        open.maps.tcp_conn_buckets.set_max_entries(tcp_slots / TCP_CONN_WAYS).context("sizing tcp_conn_buckets")?;
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.tcp_conn_bucket_mask = tcp_slots / TCP_CONN_WAYS - 1;
            ro.tcp_conns_mask = tcp_slots - 1;
            ro.tcp_conn_hash_key = tcp_hash_key;
        }
        let mut syscalls = open.load().context("loading the syscall programs (verifier)")?;
        for (nr, name, id) in SYSCALL_HOOKS {
            let key = u32::try_from(*nr).context("syscall number")?;
            syscalls
                .maps
                .sc_by_nr
                .update(&key.to_ne_bytes(), &id.0.to_ne_bytes(), MapFlags::ANY)
                .with_context(|| format!("watching {name}"))?;
        }
        // The 32-bit table follows the native one in the same map (syscalls.bpf.c).
        #[cfg(target_arch = "x86_64")]
        for (nr, name, value) in SYSCALL_HOOKS_IA32
            .iter()
            .map(|(nr, name, id)| (nr, name, id.0))
            .chain(IA32_SPECIAL.iter().map(|(nr, name, m)| (nr, name, m.0)))
        {
            let key = crate::decode::limits::SC_NR_MAX + nr;
            syscalls
                .maps
                .sc_by_nr
                .update(&key.to_ne_bytes(), &value.to_ne_bytes(), MapFlags::ANY)
                .with_context(|| format!("watching ia32 {name}"))?;
        }
        syscalls.attach().context("attaching the syscall programs")?;
        let dns_off = opts.dns_ports.is_empty().then(|| "no DNS ports configured".to_string());
        let flows_off = opts.flows.is_none().then(|| "turned off (flows.enabled)".to_string());
        let (net, dns_off, flows_off) = if dns_off.is_some() && flows_off.is_some() {
            (None, dns_off, flows_off)
        } else {
            match Self::start_net(&skel, &syscalls, tcp_hash_key, opts, cpus, tick_ns) {
                Ok((net, attach_off)) => (Some(net), dns_off, flows_off.or(attach_off)),
                Err(e) => (None, Some(format!("{e:#}")), Some(format!("{e:#}"))),
            }
        };
        let close_batch_wait = match (&opts.flows, &flows_off) {
            (Some(f), None) => f.batch_wait,
            _ => Duration::ZERO,
        };
        Ok(Sensor { skel, syscalls, net, dns_off, flows_off, close_batch_wait })
    }

    /// The longest a close record can wait in the kernel before its CPU's batch is sent
    /// (zero when flow records are off): the reader waits that out before its last drain.
    pub fn close_batch_wait(&self) -> Duration {
        self.close_batch_wait
    }

    /// Loads the DNS and flow programs and attaches them to the root of the
    /// cgroup v2 hierarchy, so every process below it is covered. The packet
    /// hooks are required; the TCP lifecycle hooks (sock_ops, tcp_destroy_sock and
    /// tcp_send_reset) are not: without them flow records are partial (no
    /// close records) and DNS still runs (the reason is returned). The connection table and its
    /// hash key are the syscall object's.
    fn start_net(
        process: &ProcessSkel<'static>,
        syscalls: &SyscallsSkel<'static>,
        tcp_hash_key: u64,
        opts: &SensorOptions,
        cpus: usize,
        tick_ns: u64,
    ) -> Result<(NetPrograms, Option<String>)> {
        let root = crate::probe::cgroup2_root().context("no cgroup v2 hierarchy to attach the packet hooks to")?;
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = NetSkelBuilder::default().open(storage).context("opening the network eBPF object")?;
        open.maps.events.reuse_fd(process.maps.events.as_fd()).context("sharing the ring buffer")?;
        open.maps.counters.reuse_fd(process.maps.counters.as_fd()).context("sharing the counters")?;
        open.maps.tcp_conns.reuse_fd(syscalls.maps.tcp_conns.as_fd()).context("sharing tcp_conns")?;
        open.maps
            .tcp_conn_buckets
            .reuse_fd(syscalls.maps.tcp_conn_buckets.as_fd())
            .context("sharing tcp_conn_buckets")?;
        open.progs.flow_destroy.set_autoload(opts.flows.is_some());
        open.progs.flow_reset.set_autoload(opts.flows.is_some());
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            if opts.dns_ports.len() > ro.dns_ports.len() {
                anyhow::bail!("at most {} DNS ports, not {}", ro.dns_ports.len(), opts.dns_ports.len());
            }
            for (slot, port) in ro.dns_ports.iter_mut().zip(&opts.dns_ports) {
                *slot = *port;
            }
            ro.dns_port_count = opts.dns_ports.len() as u32;
            // The masks and hash key of the table it shares (set up for the syscall object).
            ro.tcp_conn_bucket_mask = syscalls.maps.tcp_conn_buckets.max_entries() - 1;
            ro.tcp_conns_mask = syscalls.maps.tcp_conns.max_entries() - 1;
            ro.tcp_conn_hash_key = tcp_hash_key;
            // As for the other objects: without it every flow and DNS record woke the reader.
            ro.wakeup_bytes = wakeup_bytes(opts, cpus);
            // Flow times come from TCP's own clock reading when it is recent by this measure.
            ro.tick_ns = tick_ns;
        }
        if let Some(f) = &opts.flows {
            open.maps.udp_flows.set_max_entries(f.udp_max.max(1)).context("sizing udp_flows")?;
            open.maps.flow_batches.set_max_entries(cpus as u32).context("sizing flow_batches")?;
            if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                ro.flows_on = 1;
                // Compared as a signed number in the kernel.
                ro.flow_active_ns = u64::try_from(f.active.as_nanos()).unwrap_or(u64::MAX).clamp(1, i64::MAX as u64);
                ro.flow_batch_wait_ns = u64::try_from(f.batch_wait.as_nanos()).unwrap_or(u64::MAX).max(1);
            }
        }
        let net = open.load().context("loading the network programs (verifier)")?;
        let dir = std::fs::File::open(&root).with_context(|| format!("opening {}", root.display()))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        let mut links = vec![
            net.progs.net_egress.attach_cgroup(fd).context("attaching the egress packet hook")?,
            net.progs.net_ingress.attach_cgroup(fd).context("attaching the ingress packet hook")?,
        ];
        let mut attach_off = None;
        if opts.flows.is_some() {
            // Both or neither: the close record needs the entry sock_ops makes.
            let lifecycle = net.progs.flow_sockops.attach_cgroup(fd).context("sock_ops").and_then(|ops| {
                Ok([
                    ops,
                    net.progs.flow_destroy.attach().context("tp_btf/tcp_destroy_sock")?,
                    net.progs.flow_reset.attach().context("tp_btf/tcp_send_reset")?,
                ])
            });
            match lifecycle {
                Ok(l) => links.extend(l),
                // The packet hook then only reports connections it finds open (no close record).
                Err(e) => attach_off = Some(format!("attaching the TCP lifecycle hooks: {e:#}")),
            }
        }
        Ok(((net, links), attach_off))
    }

    /// Why DNS capture is off, or None when it runs.
    pub fn dns_off(&self) -> Option<&str> {
        self.dns_off.as_deref()
    }

    /// Why flow records are off (or partial), or None when they run.
    pub fn flows_off(&self) -> Option<&str> {
        self.flows_off.as_deref()
    }

    /// UDP conversations to report: each idle for at least `idle` (removed from the
    /// kernel's table), and with `all`, every other one too as an interim record (at
    /// shutdown). Returned as flow records in the ring buffer's layout, for the same decoder.
    /// `interim_after`: conversations not reported for this long also get an interim record;
    /// `reported` holds when each was last reported (kept by the caller between scans).
    /// `now` is CLOCK_BOOTTIME in ns, the clock the kernel stamps packets with.
    pub fn scan_udp_flows(
        &self,
        now: u64,
        idle: Duration,
        interim_after: Duration,
        all: bool,
        reported: &mut std::collections::HashMap<Vec<u8>, u64>,
    ) -> Vec<Vec<u8>> {
        let Some((net, _)) = &self.net else { return Vec::new() };
        let map = &net.maps.udp_flows;
        let idle = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
        let interim_after = u64::try_from(interim_after.as_nanos()).unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let keys: Vec<Vec<u8>> = map.keys().collect();
        let live: std::collections::HashSet<&Vec<u8>> = keys.iter().collect();
        reported.retain(|k, _| live.contains(k));
        for key in &keys {
            let Ok(Some(value)) = map.lookup(key, MapFlags::ANY) else { continue };
            let Some(v) = crate::decode::udp_flow_value(&value) else { continue };
            let ended = now.saturating_sub(v.last_ns) >= idle;
            let since = reported.get(key).copied().unwrap_or(v.first_ns);
            let interim = !ended && (all || now.saturating_sub(since) >= interim_after);
            let mut value = value;
            let mut end_ns = now;
            if ended {
                // Taken out atomically: a packet counted after the read above is in this
                // final value, or starts a new conversation; none is lost between the two.
                match map.lookup_and_delete(key) {
                    Ok(Some(last)) => value = last,
                    _ => continue,
                }
                reported.remove(key);
                let Some(last) = crate::decode::udp_flow_value(&value) else { continue };
                end_ns = now.min(last.last_ns);
            } else if interim {
                reported.insert(key.clone(), now);
            } else {
                continue;
            }
            if let Some(rec) = crate::decode::encode::udp_flow_record(key, &value, end_ns, !ended) {
                out.push(rec);
            }
        }
        out
    }

    /// Fills the interest set of read-only opens: `paths` match exactly, or
    /// as a prefix when they end in `/`; `names` match a file's own name.
    pub fn set_open_interest(&self, paths: &[String], names: &[String]) -> Result<()> {
        const LEN: usize = 256;
        for p in paths {
            let bytes = p.as_bytes();
            let exact = !p.ends_with('/');
            // Exact entries include the NUL the kernel appends to the path.
            let n = bytes.len() + usize::from(exact);
            if n > LEN - 1 || bytes.is_empty() {
                anyhow::bail!("interest path {p:?} must be 1 to {} bytes", LEN - 2);
            }
            let mut key = vec![0u8; 4 + LEN];
            key[..4].copy_from_slice(&((n * 8) as u32).to_ne_bytes());
            key[4..4 + bytes.len()].copy_from_slice(bytes);
            self.syscalls
                .maps
                .open_prefixes
                .update(&key, &[1u8], MapFlags::ANY)
                .with_context(|| format!("adding interest path {p:?}"))?;
        }
        for name in names {
            let bytes = name.as_bytes();
            if bytes.is_empty() || bytes.len() > 63 || bytes.contains(&b'/') {
                anyhow::bail!("interest name {name:?} must be 1 to 63 bytes without '/'");
            }
            let mut key = [0u8; 64];
            key[..bytes.len()].copy_from_slice(bytes);
            self.syscalls
                .maps
                .open_names
                .update(&key, &[1u8], MapFlags::ANY)
                .with_context(|| format!("adding interest name {name:?}"))?;
        }
        // Verdicts made under the old interest set no longer hold.
        let gen = self
            .syscalls
            .maps
            .path_generation
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)?
            .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes))
            .unwrap_or(0);
        self.syscalls
            .maps
            .path_generation
            .update(&0u32.to_ne_bytes(), &(gen + 1).to_ne_bytes(), MapFlags::ANY)
            .context("starting a new path generation")?;
        Ok(())
    }

    /// Builds a ring-buffer reader that hands every raw record to `on_record`.
    /// `on_record` returns `false` to stop the current poll early.
    pub fn ring_buffer<'a, F>(&'a self, mut on_record: F) -> Result<RingBuffer<'a>>
    where
        F: FnMut(&[u8]) -> bool + 'a,
    {
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&self.skel.maps.events, move |data: &[u8]| {
                // A batch of close records is split here: everything after sees records. All
                // of a batch is handed over even when asked to stop (the ring has moved past it).
                let go = match crate::decode::for_each_batched(data, &mut on_record) {
                    Some(go) => go,
                    None => on_record(data),
                };
                if go {
                    0
                } else {
                    1
                }
            })
            .context("adding the ring buffer")?;
        builder.build().context("building the ring buffer reader")
    }

    /// Reads the per-CPU counters.
    pub fn counters(&self) -> Result<KernelCounters> {
        let map = &self.skel.maps.counters;
        let read = |idx: u32| -> Result<Vec<u64>> {
            let per_cpu = map
                .lookup_percpu(&idx.to_ne_bytes(), MapFlags::ANY)
                .with_context(|| format!("reading counter {idx}"))?
                .unwrap_or_default();
            Ok(per_cpu
                .iter()
                .map(|b| b.get(..8).and_then(|s| s.try_into().ok()).map(u64::from_ne_bytes).unwrap_or(0))
                .collect())
        };
        let mut out = KernelCounters::default();
        for kind in 0..KIND_MAX {
            out.dropped_per_cpu.push(read(kind)?);
        }
        out.scratch_miss = read(counter_index::COUNTER_SCRATCH_MISS.0)?.iter().sum();
        out.exec_entry_miss = read(counter_index::COUNTER_EXEC_ENTRY_MISS.0)?.iter().sum();
        out.open_filtered = read(counter_index::COUNTER_OPEN_FILTERED.0)?.iter().sum();
        out.deduped = read(counter_index::COUNTER_DEDUPED.0)?.iter().sum();
        out.flow_table_full = read(counter_index::COUNTER_FLOW_TABLE_FULL.0)?.iter().sum();
        out.tcp_table_full = read(counter_index::COUNTER_TCP_TABLE_FULL.0)?.iter().sum();
        Ok(out)
    }

    /// Names of the loaded programs, for logs.
    pub fn program_names(&self) -> Vec<String> {
        self.skel
            .object()
            .progs()
            .chain(self.syscalls.object().progs())
            .chain(self.net.iter().flat_map(|(n, _)| n.object().progs()))
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect()
    }
}

/// Polls `rb` until `keep_going` says stop; returns the first poll error.
/// Every `tick` it also reads what arrived without a wakeup (see
/// `SensorOptions::wakeup_bytes`), so a record waits at most one tick (a close record
/// `batch_wait` longer: see [`Sensor::close_batch_wait`]).
pub fn poll_until(
    rb: &RingBuffer<'_>,
    tick: Duration,
    batch_wait: Duration,
    mut keep_going: impl FnMut() -> bool,
) -> Result<()> {
    while keep_going() {
        match rb.poll(tick) {
            Ok(()) => {}
            Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("polling the ring buffer"),
        }
        match rb.consume() {
            Ok(()) => {}
            Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the ring buffer"),
        }
    }
    // Drain what is left so nothing already delivered is lost at shutdown. Close records
    // still in a CPU's batch are sent by its timer within `batch_wait`: wait that out
    // first, with room for timer slack.
    if !batch_wait.is_zero() {
        std::thread::sleep(batch_wait + batch_wait / 2);
    }
    let _ = rb.consume();
    Ok(())
}

/// Routes libbpf's warnings (verifier failures among them) to stderr and
/// drops its informational chatter.
pub fn log_libbpf_warnings() {
    libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, |_, msg: String| eprint!("libbpf: {msg}"))));
}

#[cfg(test)]
mod tests {
    use super::default_wakeup_bytes;

    #[test]
    fn the_default_wakeup_keeps_all_cpus_pending_under_half_the_ring() {
        const MIB: u32 = 1024 * 1024;
        assert_eq!(default_wakeup_bytes(16 * MIB, 2), MIB);
        assert_eq!(default_wakeup_bytes(16 * MIB, 64), 128 * 1024);
        assert_eq!(default_wakeup_bytes(MIB, 2), 256 * 1024);
        assert_eq!(default_wakeup_bytes(1024 * MIB, 1), MIB);
        // No CPU count is taken as one, never a division by zero.
        assert_eq!(default_wakeup_bytes(MIB, 0), 512 * 1024);
    }
}
