/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Records the kernel side writes into the ring buffer. This header is the one
 * definition of every struct shared with userspace: the Rust side gets them
 * from the skeleton's BTF-generated types (see the `_keep_*` globals in
 * process.bpf.c), and `ferret_bpf::decode` has a layout test for each.
 *
 * Every record starts with `struct event_header`; `kind` says which struct
 * follows and `size` how many bytes of it were written (variable-length
 * records end in a `data` area holding several strings back to back, each
 * length given by a field before it).
 */
#ifndef FERRET_EVENTS_H
#define FERRET_EVENTS_H

/* Record kinds (event_header.kind). */
enum event_kind {
	EVENT_EXEC = 1, /* a successful or failed execve/execveat */
	EVENT_FORK = 2, /* a new process or thread */
	EVENT_EXIT = 3, /* a whole process (thread group) ended */
	EVENT_SYSCALL = 4, /* a file, network or security-relevant syscall (struct syscall_event) */
	EVENT_DNS = 5, /* a DNS packet on a watched port (struct dns_event) */
	EVENT_FLOW = 6, /* a TCP connection's or UDP conversation's traffic (struct flow_event) */
	EVENT_KIND_MAX = 7,
	/* Not a record: a frame of several close records of one CPU (struct
	 * flow_batch_header, then `count` struct flow_event), which the reader
	 * splits before decoding. Losses count per record, as EVENT_FLOW. */
	EVENT_FLOW_BATCH = 64,
};

/* Limits; documented in docs/events.md. An enum so they reach BTF (and Rust). */
enum ferret_limits {
	FERRET_PATH_MAX = 4096, /* bytes of one resolved path, NUL excluded */
	FERRET_ARGS_MAX = 16384, /* bytes of argv (NUL-separated) in one exec record */
	FERRET_PATH_DEPTH = 80, /* dentries walked (mount crossings included) per path */
	FERRET_FAILED_ARGS = 32, /* argv entries read from user memory for a failed exec */
	FERRET_FAILED_ARG_LEN = 256, /* bytes per entry for a failed exec */
	FERRET_TTY_LEN = 64,
	FERRET_CGROUP_LEVELS = 3, /* cgroup path components captured at exec */
	FERRET_CGROUP_NAME = 128, /* bytes per component */
	FERRET_DATA_MAX = 32768, /* size of exec_event.data */
	FERRET_SC_DATA = 20480, /* size of syscall_event.data: 3 paths and aux, each written below 16 KiB */
	FERRET_AUX_MAX = 512, /* bytes of syscall_event aux */
	FERRET_DNS_MAX = 512, /* bytes of a DNS message captured (the classic UDP limit) */
	FERRET_SC_NR_MAX = 1024, /* syscall numbers watched: 0..1023 in each table (native, ia32) */
	FERRET_TCP_CONN_WAYS = 16, /* ways of a bucket of the TCP connection table (lib/tcp_conns.h) */
	FERRET_FLOW_BATCH = 16, /* close records a CPU holds before it sends them in one frame */
};

/* exec_event.flags */
enum exec_flags {
	EXEC_F_ARGS_TRUNCATED = 1u << 0, /* argv longer than FERRET_ARGS_MAX (or, failed exec, too many/long entries) */
	EXEC_F_EXE_TRUNCATED = 1u << 1, /* executable path deeper/longer than the limits */
	EXEC_F_CWD_TRUNCATED = 1u << 2,
	EXEC_F_EXE_DELETED = 1u << 3, /* executable has no link left (deleted, or memfd) */
	EXEC_F_EXE_INTERNAL = 1u << 4, /* executable on a kernel-internal mount (memfd, shm, anon) */
	EXEC_F_PATH_FROM_USER = 1u << 5, /* exe path is the caller's string (failed exec): not resolved by the kernel */
	EXEC_F_SCRIPT = 1u << 6, /* a `#!` script: `filename` is the script, `interp` its interpreter */
	EXEC_F_EXECVEAT = 1u << 7, /* the syscall was execveat */
	EXEC_F_EMPTY_PATH = 1u << 8, /* execveat with AT_EMPTY_PATH (fd execution) */
	EXEC_F_CWD_UNREACHABLE = 1u << 9, /* cwd outside the process's root, or deleted */
	EXEC_F_EXE_UPPER = 1u << 10, /* executable in an overlayfs upper layer: written inside the container (drift) */
	EXEC_F_COMPAT = 1u << 11, /* made through the 32-bit (ia32) syscall entry (failed execs; see syscalls.bpf.c) */
};

/* fork_event.flags */
enum fork_flags {
	FORK_F_THREAD = 1u << 0, /* a new thread in the same process (CLONE_THREAD) */
	FORK_F_VFORK = 1u << 1, /* a new process sharing its parent's memory: vfork, posix_spawn, clone(CLONE_VM) */
};

/* The acting task, captured in the kernel at the moment of the event. */
struct task_ctx {
	__u64 start_boottime; /* process (thread-group leader) start, ns since boot incl. suspend */
	__u64 parent_start_boottime; /* same for the real parent's thread-group leader */
	__u64 cgroup_id; /* cgroup v2 id, 0 when no v2 hierarchy */
	__u64 cap_effective; /* capability sets of the task's credentials (bit n = capability n) */
	__u64 cap_permitted;
	__u32 pid; /* thread-group id, as userspace calls "pid" */
	__u32 tid;
	__u32 ppid;
	__u32 ns_pid; /* pid inside the task's own pid namespace */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 loginuid; /* audit login uid, 4294967295 when unset */
	__u32 sessionid;
	char comm[16];
};

struct event_header {
	__u64 ktime_boot_ns; /* CLOCK_BOOTTIME ns of the event (TCP flow records: see tcp_recent_boot_ns in net.bpf.c) */
	__u32 kind; /* enum event_kind */
	__u32 size; /* bytes of the record, header included */
	struct task_ctx task;
};

/*
 * A successful exec (captured at sched_process_exec from the kernel's own
 * linux_binprm: no user memory is trusted) or a failed one (ret < 0, captured
 * at syscall exit; the path is then the caller's string, flagged).
 *
 * data holds, in order: exe path, cwd, filename (the path as passed to
 * execve: for scripts, the script), interp (for scripts, the interpreter
 * named by `#!`), tty name, cgroup (the last FERRET_CGROUP_LEVELS components
 * of the task's cgroup path, where container runtimes put the container id),
 * argv (NUL-separated, as in /proc/PID/cmdline).
 */
struct exec_event {
	struct event_header hdr;
	__s32 ret; /* 0, or -errno */
	__u32 flags; /* EXEC_F_* */
	__u64 exe_ino;
	__u64 exe_size;
	__s64 exe_mtime_sec;
	__u32 exe_mtime_nsec;
	__u32 exe_dev; /* kernel dev_t: major << 20 | minor */
	__u32 exe_nlink;
	__u32 exe_mode;
	__u32 argc;
	__u32 old_pid; /* tid before exec (differs when a non-leader thread exec'd) */
	__u16 exe_len;
	__u16 cwd_len;
	__u16 filename_len;
	__u16 interp_len;
	__u16 tty_len;
	__u16 args_len;
	__u16 cgroup_len;
	__u16 _pad;
	char data[FERRET_DATA_MAX];
};

/* A new task. hdr.task is the parent that called fork/clone. */
struct fork_event {
	struct event_header hdr;
	__u64 child_start_boottime; /* the child process's start (its group leader's) */
	__u32 child_pid; /* child tgid */
	__u32 child_tid;
	__u32 flags; /* FORK_F_* */
	__u32 _pad;
};

/* A whole process ended. hdr.task is its last exiting thread. */
struct exit_event {
	struct event_header hdr;
	__u32 exit_code; /* wait status: (code << 8) or the signal number | 0x80 for a core dump */
	__u32 _pad;
};

/* The syscalls behind EVENT_SYSCALL (syscall_event.sc). Userspace names them. */
enum syscall_id {
	SC_OPEN = 1, SC_OPENAT, SC_OPENAT2, SC_CREAT,
	SC_RENAME, SC_RENAMEAT, SC_RENAMEAT2,
	SC_UNLINK, SC_UNLINKAT, SC_RMDIR,
	SC_LINK, SC_LINKAT, SC_SYMLINK, SC_SYMLINKAT,
	SC_CHMOD, SC_FCHMOD, SC_FCHMODAT, SC_FCHMODAT2,
	SC_CHOWN, SC_FCHOWN, SC_FCHOWNAT, SC_LCHOWN,
	SC_MKDIR, SC_MKDIRAT, SC_MOUNT, SC_UMOUNT2,
	SC_TRUNCATE, SC_FTRUNCATE, SC_UTIMENSAT, SC_UTIMES, SC_UTIME, SC_FUTIMESAT,
	SC_MEMFD_CREATE, SC_MMAP, SC_MPROTECT,
	SC_SOCKET, SC_CONNECT, SC_ACCEPT, SC_ACCEPT4, SC_BIND, SC_LISTEN,
	SC_PTRACE, SC_PROCESS_VM_READV, SC_PROCESS_VM_WRITEV,
	SC_INIT_MODULE, SC_FINIT_MODULE, SC_DELETE_MODULE,
	SC_SETUID, SC_SETGID, SC_SETREUID, SC_SETREGID, SC_SETRESUID, SC_SETRESGID, SC_CAPSET,
	SC_SETNS, SC_UNSHARE, SC_BPF, SC_USERFAULTFD,
	SC_DUP, SC_DUP2, SC_DUP3, SC_KILL, SC_TGKILL, SC_TKILL, SC_PRCTL,
	SC_MAX,
};

/* syscall_event.flags */
enum syscall_flags {
	SC_F_PATH_KERNEL = 1u << 0, /* path resolved by the kernel from an open file (not user memory) */
	SC_F_PATH_CHANGED = 1u << 1, /* the user path read at entry and at exit differ: a swap attempt */
	SC_F_PATH_TRUNCATED = 1u << 2,
	SC_F_FILE = 1u << 3, /* `file` holds the inode of the resolved file */
	SC_F_SOCK = 1u << 4, /* `sock` holds the socket's kernel view */
	SC_F_DIR_KERNEL = 1u << 5, /* `dir` is the kernel path of the dirfd (or cwd) a relative path is based on */
	SC_F_PATH_UNREACHABLE = 1u << 6, /* pseudo file (pipe, socket, memfd, anon inode) or outside the root */
	SC_F_INTERESTING = 1u << 7, /* a read-only open kept because it matched the interest set */
	SC_F_AUX_USER = 1u << 8, /* aux holds bytes read from user memory */
	SC_F_PATH2_CHANGED = 1u << 9,
	SC_F_COMPAT = 1u << 10, /* made through the 32-bit (ia32) syscall entry */
	SC_F_UPPER_LAYER = 1u << 11, /* `file` lives in an overlayfs upper layer: written inside the container */
	SC_F_MULTIPLEXED = 1u << 12, /* made through an ia32 multiplexer (socketcall, old mmap): args read from user memory */
	SC_F_ARGS_CHANGED = 1u << 13, /* those args read at entry and at exit differ: a swap attempt */
};

/*
 * Values of the syscall-number map that are not syscall_ids (ia32 table):
 * the multiplexers, whose real call and arguments are in user memory,
 * decoded at entry into the syscall_id they stand for; and execve/execveat,
 * whose failures the 64-bit-only execve tracepoints never see (reported as
 * exec records, struct exec_event).
 */
enum sc_special {
	SC_MUX_SOCKETCALL = 1000, /* socketcall(call, u32 args[]) */
	SC_MUX_OLD_MMAP = 1001, /* mmap(struct mmap_arg_struct *): six u32 */
	SC_IA32_EXECVE = 1002,
	SC_IA32_EXECVEAT = 1003,
};

/* Inode of a resolved file. */
struct file_info {
	__u64 ino;
	__u64 size;
	__u32 dev; /* kernel dev_t */
	__u32 mode; /* i_mode: type and permissions */
	__u32 nlink;
	__u32 uid;
	__u64 fs_magic; /* the superblock's magic: names pseudo files whose name the kernel makes up */
};

/* A socket as the kernel holds it. Addresses in network byte order. */
struct sock_info {
	__u16 family;
	__u16 type;
	__u16 protocol;
	__u16 state;
	__u16 lport; /* host byte order */
	__u16 rport; /* host byte order */
	__u32 _pad;
	__u8 laddr[16];
	__u8 raddr[16];
	__u64 cookie; /* socket cookie (joins flow records); 0 when none was ever asked for */
};

/*
 * One syscall, captured at its exit. args are the raw integer arguments;
 * data holds path (the main path), path2 (a second one: rename's new name,
 * a link's target...), dir (kernel path a relative path is relative to) and
 * aux (a small syscall-specific blob: a unix socket path, a module name,
 * mount's fs type, capset's data), in that order.
 */
struct syscall_event {
	struct event_header hdr;
	__s64 ret;
	__u64 args[6];
	__u32 sc; /* enum syscall_id */
	__u32 flags; /* enum syscall_flags */
	struct file_info file;
	struct sock_info sock;
	__u16 path_len;
	__u16 path2_len;
	__u16 dir_len;
	__u16 aux_len;
	__u32 repeats; /* identical events from this process suppressed since the last one sent */
	char data[FERRET_SC_DATA];
};

/*
 * A DNS message over UDP or TCP, seen by cgroup_skb on the way out (a query, in the
 * sender's context) or in (a response, in softirq context: the owner comes
 * from the socket-owner map the egress side fills, by socket cookie).
 */
struct dns_event {
	struct event_header hdr; /* the socket's owner (zeroed when unknown) */
	__u64 cookie; /* socket cookie */
	__u8 saddr[16]; /* network byte order; IPv4 in the first four bytes */
	__u8 daddr[16];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 egress; /* 1: leaving the host's socket, 0: arriving */
	__u8 owner_known;
	__u8 tcp; /* over TCP: data starts after the 2-byte length prefix */
	__u8 _pad[7];
	__u32 wire_len; /* the message's length: UDP payload, or TCP's length prefix */
	__u32 cap_len; /* bytes of it in data */
	char data[FERRET_DNS_MAX];
};

/* flow_event.flags */
enum flow_flags {
	FLOW_F_OWNER = 1u << 0, /* hdr.task is the socket's owner (else zeroed: found in userspace, or unknown) */
	FLOW_F_INBOUND = 1u << 1, /* the peer started it (accepted TCP; UDP whose first packet arrived) */
	FLOW_F_INTERIM = 1u << 2, /* still open: totals so far (long connections, every flows.active_secs) */
	FLOW_F_START_UNKNOWN = 1u << 3, /* began before ferret started: start_ns is when ferret first saw it */
	FLOW_F_NOT_ESTABLISHED = 1u << 4, /* a TCP connection that closed before it was established (refused, timed out) */
	FLOW_F_IDLE = 1u << 5, /* UDP: ended by the idle timeout */
	FLOW_F_OWNER_ACCEPT = 1u << 6, /* with FLOW_F_OWNER: the owner is the task whose accept returned the socket */
};

/*
 * Traffic of one TCP connection (written when it closes, and every
 * flows.active_secs while it is open) or one UDP conversation (a socket and a
 * peer; written by userspace from the udp_flows map when idle). Totals since
 * start: bytes are payload bytes (TCP: from the kernel's own counters, bytes
 * sent less those retransmitted, bytes received less a received FIN, so SYN
 * and FIN are not counted and a retransmission not twice); packets are IP
 * packets (TCP: the kernel's segment counts, pure ACKs included).
 */
struct flow_body {
	__u64 cookie; /* socket cookie */
	__u64 start_ns; /* boot ns of connect/accept or first packet */
	__u64 bytes_in;
	__u64 bytes_out;
	__u64 packets_in;
	__u64 packets_out;
	__u8 laddr[16]; /* network byte order; IPv4 in the first four bytes */
	__u8 raddr[16];
	__u16 lport; /* host byte order */
	__u16 rport;
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 _pad;
	__u32 flags; /* enum flow_flags */
	__u32 _pad2;
};

struct flow_event {
	struct event_header hdr; /* ktime_boot_ns: the close, or the last packet */
	struct flow_body f;
};

/*
 * The frame of EVENT_FLOW_BATCH: this header, FERRET_FLOW_BATCH record slots
 * (the first `count` in use), then `owners` task contexts that the records
 * name by index. A batch's records mostly share a few owners (one process's
 * connections), so each owner crosses the ring once, not once per record: a
 * close costs the ring 112 bytes instead of 208. The reader rebuilds whole
 * struct flow_event records. Laid out as event_header's start, so a reader
 * finds `kind` in the same place.
 */
struct flow_batch_header {
	__u64 _zero;
	__u32 kind; /* EVENT_FLOW_BATCH */
	__u32 size; /* bytes: this header, every record slot and the owners */
	__u32 count; /* 1 to FERRET_FLOW_BATCH */
	__u32 owners; /* 0 to FERRET_FLOW_BATCH */
};

#define FLOW_NO_OWNER 0xffffffffu

/* A record in a batch: a flow_event with its owner's index in place of its task context. */
struct flow_batch_rec {
	__u64 ktime_boot_ns;
	__u32 owner; /* index into the frame's owners, or FLOW_NO_OWNER */
	__u32 _pad;
	struct flow_body f;
};

/* Key of the udp_flows map: one local socket and one peer. */
struct udp_flow_key {
	__u64 cookie;
	__u8 raddr[16];
	__u16 rport;
	__u16 family;
	__u32 _pad;
};

/*
 * An entry of the tcp_conns table, found by socket cookie: a TCP connection
 * being tracked, from connect (or establishment) until its socket is destroyed. The
 * syscall programs write the owner of an accepted one at accept's exit.
 */
struct tcp_conn {
	__u64 cookie; /* the socket's; 0: a free slot (see bpf/lib/tcp_conns.h) */
	struct task_ctx owner;
	__u64 start_ns; /* boot ns of connect, establishment, or (start_unknown) first sight */
	__u64 last_report_ns; /* of the start or the last interim record */
	__u8 owner_known; /* 1: from connect's context; 2: written at accept */
	__u8 inbound;
	__u8 start_unknown;
	__u8 reported; /* its close record went out at a reset (flow_reset in net.bpf.c) */
	__u16 lport; /* the kernel clears an autobound socket's port when it closes */
	/* A connect's peer port and local address, as at connect: a disconnect
	 * before the handshake ends (no reset is sent) clears the socket's. */
	__u16 rport;
	__u8 laddr[16];
};

/* Value of the udp_flows map (counters added atomically by the packet hooks). */
struct udp_flow {
	struct task_ctx owner; /* set by the first packet sent, which is in the owner's context */
	__u64 first_ns;
	__u64 last_ns;
	__u64 bytes_in;
	__u64 bytes_out;
	__u64 packets_in;
	__u64 packets_out;
	__u8 laddr[16];
	__u16 lport;
	__u8 owner_known;
	__u8 inbound;
	__u32 _pad;
};

/* Counter indices in the per-CPU `counters` map, beyond per-kind drops. */
enum counter_index {
	/* [0, EVENT_KIND_MAX): events of that kind lost because the ring buffer was full */
	COUNTER_SCRATCH_MISS = EVENT_KIND_MAX, /* per-CPU scratch unavailable (should stay 0) */
	COUNTER_EXEC_ENTRY_MISS, /* failed exec seen at exit with no matching entry */
	COUNTER_OPEN_FILTERED, /* read-only opens dropped in the kernel: nobody is interested */
	COUNTER_DEDUPED, /* syscall events suppressed as repeats (reported later in `repeats`) */
	COUNTER_FLOW_TABLE_FULL, /* UDP packets not counted: the udp_flows map was full */
	COUNTER_TCP_TABLE_FULL, /* TCP connections not tracked: the tcp_conns map was full */
	COUNTER_MAX,
};

#endif /* FERRET_EVENTS_H */
