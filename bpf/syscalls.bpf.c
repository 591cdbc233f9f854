// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * File, network and security-relevant syscalls, each captured at its exit
 * with its return value.
 *
 * Entry programs only remember the arguments (per thread). Exit programs
 * build one `syscall_event`:
 *  - an fd the syscall returned or used (open, accept, fchmod, connect...) is
 *    resolved through the task's fd table to the kernel's `struct file`: its
 *    path, inode and, for sockets, the kernel's own addresses. Nothing the
 *    caller can rewrite after the fact is trusted.
 *  - a path that exists only as the caller's string (unlink, rename, a
 *    failed open) is read from user memory at exit and compared with what
 *    was read at entry: a difference (a thread swapping the buffer while the
 *    syscall runs) is flagged, never hidden. Relative paths come with the
 *    kernel path of the directory they are relative to.
 *  - read-only opens, the flood, are dropped here unless the resolved path
 *    matches the interest maps userspace fills (exact paths, prefixes, file
 *    names), so rules decide what crosses the ring buffer.
 */
#include "lib/common.h"
#include "lib/exec.h"
#include "lib/tcp_conns.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 self_tgid = 0;
/* Identical events of one process within this window are sent once; the
 * next one sent after it carries how many were suppressed. 0: off. */
const volatile __u64 dedup_window_ns = 0;

/* The length of the kernel's tick (1e9 / CONFIG_HZ) when userspace found the
 * kernel's configuration, else 0. */
const volatile __u64 tick_ns = 0;

/*
 * The repeat filter's clock, in ns: jiffies (an inlined load) when the tick
 * length is known, else the boot clock. The clock is a helper call costing
 * about as much as the rest of the filter, taken for every event it folds, and
 * a window of about a second needs no finer tick. (jiffies stand still while
 * the machine is suspended: a repeat across a suspend may still be folded.)
 */
static __always_inline __u64 repeat_clock_ns(void)
{
	if (tick_ns)
		return bpf_jiffies64() * tick_ns;
	return bpf_ktime_get_boot_ns();
}

struct syscall_event *_keep_syscall_event;
enum syscall_id _keep_syscall_id;
enum syscall_flags _keep_syscall_flags;
enum sc_special _keep_sc_special;

#define O_ACCMODE 00000003
#define O_CREAT 00000100
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define O_TMPFILE 020000000
#define AT_FDCWD -100
#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

/* The interest set for read-only opens, filled by userspace. */
#define INTEREST_LEN 256
struct interest_key {
	__u32 prefixlen; /* in bits */
	char path[INTEREST_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct interest_key);
	__type(value, __u8);
} open_prefixes SEC(".maps"); /* exact paths end in a NUL that is part of the prefix */

#define NAME_KEY_LEN 64
struct name_key {
	char name[NAME_KEY_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct name_key);
	__type(value, __u8);
} open_names SEC(".maps"); /* file names (last component) */

/* What the entry program saw. */
struct sc_args {
	__u64 args[6];
	__u32 sc;
	__u32 sig_len; /* bytes of the path read at entry (<= 32) */
	__u64 open_flags; /* openat2: how.flags, read at entry */
	char sig[32]; /* first bytes of the main path at entry */
	char sig2[32]; /* first bytes of the second path at entry */
	__u32 sig2_len;
	__u32 compat; /* made through the ia32 entry */
	__u32 mux; /* the multiplexer (enum sc_special) it came through, or 0 */
	__u32 mux_len; /* bytes of args read from user memory */
	__u32 mux_args[6]; /* as read at entry, to compare at exit */
	__u64 mux_ptr; /* where they are in user memory */
};

/* Per-task storage: a pointer in the task, no hashing on the hot path. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_args);
} sc_inflight SEC(".maps");

/*
 * Read-only opens found uninteresting, by what decides their path (dentry,
 * mount, the task's root, inode), so a file opened again and again is
 * dismissed without a path walk. A verdict holds only for the generation it
 * was made in: every successful rename, link, symlink, unlink, mount or
 * umount, and every change of the interest set, starts a new one.
 *
 * A direct-mapped cache per CPU (a slot per inode number; a collision just
 * replaces the older verdict): the lookup is inlined array arithmetic with
 * no helper call, and no other CPU writes a CPU's slots, so an entry is
 * never half one file's and half another's.
 */
struct verdict_key {
	__u64 dentry;
	__u64 mnt;
	__u64 root;
	__u64 ino;
};

struct verdict {
	struct verdict_key key;
	__u64 gen;
};

#define VERDICT_SLOTS 8192

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, struct verdict);
} open_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} path_generation SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syscall_event);
} sc_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct interest_key);
} interest_scratch SEC(".maps");

/* The arguments of an exit-only syscall (see exit_only). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sc_args);
} args_scratch SEC(".maps");

/* Which argument is what, per syscall. -1: none. */
struct sc_spec {
	__s8 path; /* user path (main) */
	__s8 dirfd; /* dirfd the main path is relative to */
	__s8 path2; /* second user path */
	__s8 dirfd2;
	__s8 fd; /* an fd argument to resolve */
	__s8 aux_str; /* a user string for aux (fs type, module name...) */
	__u8 ret_fd; /* the return value is a new fd to resolve */
	__u8 is_open;
};

#define SPEC(p, d, p2, d2, f, a, r, o) ((struct sc_spec){ p, d, p2, d2, f, a, r, o })

static __always_inline struct sc_spec spec_of(__u32 sc)
{
	switch (sc) {
	case SC_OPEN: return SPEC(0, -1, -1, -1, -1, -1, 1, 1);
	case SC_OPENAT: return SPEC(1, 0, -1, -1, -1, -1, 1, 1);
	case SC_OPENAT2: return SPEC(1, 0, -1, -1, -1, -1, 1, 1);
	case SC_CREAT: return SPEC(0, -1, -1, -1, -1, -1, 1, 1);
	case SC_RENAME: return SPEC(0, -1, 1, -1, -1, -1, 0, 0);
	case SC_RENAMEAT: return SPEC(1, 0, 3, 2, -1, -1, 0, 0);
	case SC_RENAMEAT2: return SPEC(1, 0, 3, 2, -1, -1, 0, 0);
	case SC_UNLINK: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_UNLINKAT: return SPEC(1, 0, -1, -1, -1, -1, 0, 0);
	case SC_RMDIR: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_LINK: return SPEC(0, -1, 1, -1, -1, -1, 0, 0);
	case SC_LINKAT: return SPEC(1, 0, 3, 2, -1, -1, 0, 0);
	/* symlink(target, linkpath): the target is stored as is, never resolved. */
	case SC_SYMLINK: return SPEC(1, -1, 0, -1, -1, -1, 0, 0);
	case SC_SYMLINKAT: return SPEC(2, 1, 0, -1, -1, -1, 0, 0);
	case SC_CHMOD: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_FCHMOD: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_FCHMODAT: return SPEC(1, 0, -1, -1, -1, -1, 0, 0);
	case SC_FCHMODAT2: return SPEC(1, 0, -1, -1, -1, -1, 0, 0);
	case SC_CHOWN: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_FCHOWN: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_FCHOWNAT: return SPEC(1, 0, -1, -1, -1, -1, 0, 0);
	case SC_LCHOWN: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_MKDIR: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_MKDIRAT: return SPEC(1, 0, -1, -1, -1, -1, 0, 0);
	/* mount(source, target, fstype, flags, data) */
	case SC_MOUNT: return SPEC(1, -1, 0, -1, -1, 2, 0, 0);
	case SC_UMOUNT2: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_TRUNCATE: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_FTRUNCATE: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	/* utimensat(dirfd, NULL, ...) changes the file dirfd refers to */
	case SC_UTIMENSAT: return SPEC(1, 0, -1, -1, 0, -1, 0, 0);
	case SC_UTIMES: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_UTIME: return SPEC(0, -1, -1, -1, -1, -1, 0, 0);
	case SC_FUTIMESAT: return SPEC(1, 0, -1, -1, -1, -1, 0, 0);
	case SC_MEMFD_CREATE: return SPEC(-1, -1, -1, -1, -1, 0, 1, 0);
	case SC_MMAP: return SPEC(-1, -1, -1, -1, 4, -1, 0, 0);
	case SC_SOCKET: return SPEC(-1, -1, -1, -1, -1, -1, 1, 0);
	case SC_CONNECT: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_ACCEPT: return SPEC(-1, -1, -1, -1, -1, -1, 1, 0);
	case SC_ACCEPT4: return SPEC(-1, -1, -1, -1, -1, -1, 1, 0);
	case SC_BIND: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_LISTEN: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	/* init_module(image, len, params) */
	case SC_INIT_MODULE: return SPEC(-1, -1, -1, -1, -1, 2, 0, 0);
	case SC_FINIT_MODULE: return SPEC(-1, -1, -1, -1, 0, 1, 0, 0);
	case SC_DELETE_MODULE: return SPEC(-1, -1, -1, -1, -1, 0, 0, 0);
	case SC_SETNS: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_USERFAULTFD: return SPEC(-1, -1, -1, -1, -1, -1, 1, 0);
	case SC_DUP: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_DUP2: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	case SC_DUP3: return SPEC(-1, -1, -1, -1, 0, -1, 0, 0);
	default: return SPEC(-1, -1, -1, -1, -1, -1, 0, 0);
	}
}

static __always_inline __u64 arg(struct sc_args *a, __s8 i)
{
	if (i < 0 || i > 5)
		return 0;
	return a->args[i & 7];
}

/* ---- entry ---- */

/*
 * A syscall whose arguments are all values, or whose user memory is read only
 * at exit, needs nothing from its entry: the arguments are still in the
 * registers the kernel saved at entry (out of the caller's reach). Taking them
 * at exit spares a task-storage round trip: open and openat (the path comes
 * from the kernel's file), the socket calls (the addresses come from the
 * kernel's socket), and the plain-valued ones. Entry is needed for a user
 * path (remembered to catch a swap), openat2's flags (in user memory), mmap
 * and mprotect (dropped at entry unless they make memory executable), and the
 * ia32 multiplexers and execs (sc >= SC_MAX).
 */
static __always_inline int exit_only(__u32 sc)
{
	struct sc_spec sp;

	if (sc == SC_OPEN || sc == SC_OPENAT)
		return 1;
	if (sc >= SC_MAX || sc == SC_OPENAT2 || sc == SC_MMAP || sc == SC_MPROTECT)
		return 0;
	sp = spec_of(sc);
	return sp.path < 0 && sp.path2 < 0;
}

/* The syscall's arguments from the registers saved at entry. */
static __always_inline void regs_args(__u64 *args, int compat, struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	if (compat) {
		/* The ia32 convention: ebx, ecx, edx, esi, edi, ebp. */
		args[0] = (__u32)regs->bx;
		args[1] = (__u32)regs->cx;
		args[2] = (__u32)regs->dx;
		args[3] = (__u32)regs->si;
		args[4] = (__u32)regs->di;
		args[5] = (__u32)regs->bp;
		return;
	}
#endif
	/* (on arm64 these read orig_x0 for the first: x0 holds the return value at exit) */
	args[0] = PT_REGS_PARM1_SYSCALL(regs);
	args[1] = PT_REGS_PARM2_SYSCALL(regs);
	args[2] = PT_REGS_PARM3_SYSCALL(regs);
	args[3] = PT_REGS_PARM4_SYSCALL(regs);
	args[4] = PT_REGS_PARM5_SYSCALL(regs);
	args[5] = PT_REGS_PARM6_SYSCALL(regs);
}

/* socketcall or the old mmap: the real call is decoded at entry (demux). */
static __always_inline int ia32_mux(__u32 sc)
{
	return sc == SC_MUX_SOCKETCALL || sc == SC_MUX_OLD_MMAP;
}

static __always_inline int ia32_exec(__u32 sc)
{
	return sc == SC_IA32_EXECVE || sc == SC_IA32_EXECVEAT;
}

/* A failed ia32 exec, as process.bpf.c reports a failed 64-bit one (a
 * successful one is seen at sched_process_exec like any other). */
static __always_inline void ia32_exec_exit(__u32 sc, struct sc_args *a, long ret, struct task_struct *task)
{
	struct exec_args ea = { .compat = 1 };

	if (ret >= 0)
		return;
	if (sc == SC_IA32_EXECVE) {
		ea.filename = (const char *)a->args[0];
		ea.argv = (const char *const *)a->args[1];
		ea.dirfd = AT_FDCWD;
	} else {
		ea.dirfd = (__s32)a->args[0];
		ea.filename = (const char *)a->args[1];
		ea.argv = (const char *const *)a->args[2];
		ea.at_flags = a->args[4];
		ea.is_execveat = 1;
	}
	report_failed_exec(&ea, ret, task);
}

/* The syscall_id a socketcall `call` stands for, and its argument count. */
static __always_inline __u32 socketcall_id(__u64 call, __u32 *nargs)
{
	switch (call) {
	case 1: *nargs = 3; return SC_SOCKET; /* SYS_SOCKET */
	case 2: *nargs = 3; return SC_BIND;
	case 3: *nargs = 3; return SC_CONNECT;
	case 4: *nargs = 2; return SC_LISTEN;
	case 5: *nargs = 3; return SC_ACCEPT;
	case 18: *nargs = 4; return SC_ACCEPT4;
	default: return 0;
	}
}

/* Reads a multiplexer's u32 argument array from user memory. */
static __always_inline int read_mux_args(__u32 *dst, __u32 n, __u64 uptr)
{
	__u32 bytes = n * 4;

	if (bytes > 24)
		bytes = 24;
	return bpf_probe_read_user(dst, bytes & 31, (void *)uptr);
}

/*
 * socketcall and the old ia32 mmap: the real call's arguments, from the
 * user array (the kernel copies the same array right after this). The copy
 * is kept and compared at exit, so a thread rewriting it meanwhile is
 * flagged. Returns the syscall_id, or 0 when not watched.
 */
static __always_inline __u32 demux(struct sc_args *a, __u32 mux)
{
	__u32 n = 6, sc = SC_MMAP;

	if (mux == SC_MUX_SOCKETCALL) {
		sc = socketcall_id(a->args[0], &n);
		if (!sc)
			return 0;
	}
	__u64 uptr = mux == SC_MUX_SOCKETCALL ? a->args[1] : a->args[0];
	__builtin_memset(a->mux_args, 0, sizeof(a->mux_args));
	if (read_mux_args(a->mux_args, n, uptr))
		return 0;
	for (int i = 0; i < 6; i++)
		a->args[i] = a->mux_args[i];
	a->mux = mux;
	a->mux_len = n * 4;
	a->mux_ptr = uptr;
	return sc;
}

static __always_inline int enter(__u32 sc, int compat, struct pt_regs *regs, struct task_struct *task)
{
	struct sc_spec sp;
	struct sc_args *a;

	if (self_tgid && task->tgid == self_tgid)
		return 0;
	if ((sc >= SC_MAX && !ia32_mux(sc) && !ia32_exec(sc)) || exit_only(sc))
		return 0;
	a = bpf_task_storage_get(&sc_inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!a)
		return 0;
	a->sc = 0; /* nothing pending until this entry is complete */
	a->compat = compat;
	a->mux = 0;
	regs_args(a->args, compat, regs);
	if (ia32_exec(sc)) {
		a->sc = sc; /* only the registers are needed, at exit */
		return 0;
	}
	if (ia32_mux(sc)) {
		sc = demux(a, sc);
		if (!sc || sc >= SC_MAX)
			return 0;
	}
	sp = spec_of(sc);
	/* mmap and mprotect matter only when they make memory executable. */
	if ((sc == SC_MMAP || sc == SC_MPROTECT) && !(a->args[2] & PROT_EXEC))
		return 0;
	a->open_flags = 0;
	a->sig_len = 0;
	a->sig2_len = 0;
	if (sc == SC_OPENAT2) {
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)a->args[2]);
		a->open_flags = how.flags;
		a->args[3] = how.mode;
	}
	/* Opens resolve the file the kernel opened; other path syscalls keep
	 * the caller's string, so remember how it started to catch a swap. */
	if (!sp.is_open && sp.path >= 0) {
		long n = bpf_probe_read_user_str(a->sig, sizeof(a->sig), (void *)arg(a, sp.path));
		a->sig_len = n > 0 ? n : 0;
	}
	if (sp.path2 >= 0) {
		long n = bpf_probe_read_user_str(a->sig2, sizeof(a->sig2), (void *)arg(a, sp.path2));
		a->sig2_len = n > 0 ? n : 0;
	}
	a->sc = sc;
	return 0;
}

#define SLOT (FERRET_SC_DATA - FERRET_PATH_MAX) /* 16384: offsets are masked below it */

/* ---- de-duplication ---- */

/* What makes two events "identical": same process, syscall and outcome,
 * same file (inode) or peer, same path text, same plain arguments. */
struct dedup_key {
	__u32 tgid;
	__u32 sc;
	__s64 ret; /* errno, or 0 for any success (fd numbers vary) */
	__u64 ino;
	__u32 dev;
	__u16 rport;
	__u16 path_len;
	__u8 raddr[16];
	__u64 a0;
	__u64 a1;
	__u32 entry; /* SC_F_COMPAT and SC_F_MULTIPLEXED: how the call was made */
	__u32 _pad;
	char head[32];
};

struct dedup_val {
	__u64 last_ns; /* repeat_clock_ns() when last sent */
	__u32 suppressed;
	__u32 fronted; /* 1: per-CPU fronts may hold repeats of it (see repeat_front) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dedup_key);
	__type(value, struct dedup_val);
} dedup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dedup_key);
} dedup_scratch SEC(".maps");

/*
 * Per CPU, in front of the dedup map: the keys this CPU folded or sent last,
 * one per slot (picked by process and syscall, so that a loop of socket,
 * connect and accept keeps one each). A repeat found here is counted in
 * `pending` without hashing the key into the shared map (about a third of a
 * folded event's cost). The count goes to the map's entry when the slot
 * changes hands, and the event sent when the window ends collects what every
 * CPU's slot still holds for its key, so its count is whole even when the
 * process moved between CPUs.
 */
#define REPEAT_FRONT_SLOTS 16

struct repeat_front {
	struct dedup_key key;
	__u64 last_ns; /* the map entry's last_ns when this was taken */
	__u64 pending; /* repeats folded here, not yet in the map's entry (atomic: collected by other CPUs) */
	__u32 valid;
	__u32 _pad;
};

/* Possible CPUs, set by userspace: the fronts a sent event collects from. */
const volatile __u32 nr_cpus = 1;

struct repeat_fronts {
	struct repeat_front slot[REPEAT_FRONT_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct repeat_fronts);
} repeat_front SEC(".maps");

/* Adds a slot's pending repeats to its key's map entry (gone only if the map
 * evicted it), for the next event sent for the key to carry. */
static __always_inline void front_flush(struct repeat_front *fr)
{
	struct dedup_val *v;
	__u64 n;

	if (!fr->valid || !fr->pending)
		return;
	n = __sync_lock_test_and_set(&fr->pending, 0);
	v = n ? bpf_map_lookup_elem(&dedup, &fr->key) : 0;
	if (v)
		__sync_fetch_and_add(&v->suppressed, n);
}

struct front_sweep {
	struct dedup_key *key;
	__u32 slot;
	__u64 taken;
};

/* One CPU's pending repeats of the swept key, taken. */
static long front_sweep_cpu(__u64 cpu, void *arg)
{
	struct front_sweep *sw = arg;
	struct repeat_fronts *fronts;
	struct repeat_front *fr;
	__u32 zero = 0;

	fronts = bpf_map_lookup_percpu_elem(&repeat_front, &zero, cpu);
	if (!fronts)
		return 1; /* past the last CPU */
	fr = &fronts->slot[sw->slot & (REPEAT_FRONT_SLOTS - 1)];
	if (fr->valid && fr->pending && same_words(&fr->key, sw->key, sizeof(fr->key) / 8))
		sw->taken += __sync_lock_test_and_set(&fr->pending, 0);
	return 0;
}

static __always_inline void front_take(struct repeat_front *fr, struct dedup_key *k, __u64 last_ns)
{
	fr->key = *k;
	fr->last_ns = last_ns;
	fr->pending = 0;
	fr->valid = 1;
}

/* Syscalls whose first two arguments are plain values, part of identity. */
static __always_inline int plain_args(__u32 sc)
{
	switch (sc) {
	case SC_KILL: case SC_TGKILL: case SC_TKILL: case SC_PRCTL: case SC_PTRACE:
	case SC_SETUID: case SC_SETGID: case SC_SETREUID: case SC_SETREGID:
	case SC_SETRESUID: case SC_SETRESGID: case SC_UNSHARE: case SC_SETNS:
	case SC_DUP: case SC_DUP2: case SC_DUP3: case SC_SOCKET: case SC_USERFAULTFD:
	case SC_PROCESS_VM_READV: case SC_PROCESS_VM_WRITEV:
		return 1;
	default:
		return 0;
	}
}

/* FNV-1a over the aux bytes (a unix socket's path, or the caller's sockaddr),
 * which end at data[end). */
static __always_inline __u64 aux_hash(struct syscall_event *e, __u32 end)
{
	char buf[128] = {};
	__u32 n = e->aux_len < sizeof(buf) ? e->aux_len : sizeof(buf);
	__u64 h = 0xcbf29ce484222325ULL;

	if (n > end)
		return 0;
	barrier_var(n);
	if (n > sizeof(buf) || bpf_probe_read_kernel(buf, n, &e->data[(end - n) & (SLOT - 1)]))
		return 0;
	for (int i = 0; i < sizeof(buf); i++) {
		if (i >= n)
			break;
		h = (h ^ (__u8)buf[i]) * 0x100000001b3ULL;
	}
	return h;
}

/* Returns 1 if the event repeats one sent within the window (and counts it);
 * otherwise records it and sets e->repeats to the count suppressed before.
 * `end` is where the event's data ends (aux is last). Inlined: as a global
 * function (verified once, like put_kpath_from) it took another 110,000 of
 * sys_exit_any's verifier instructions off, but the call cost 15 to 30 ns on
 * every folded connect, accept and socket. */
static __always_inline int repeated(struct syscall_event *e, __u32 tgid, __u32 end)
{
	__u32 zero = 0;
	struct dedup_key *k;
	struct dedup_val *v, nv = {};
	struct repeat_fronts *fronts;
	struct repeat_front *fr = 0;
	__u32 slot = (tgid ^ e->sc) & (REPEAT_FRONT_SLOTS - 1);
	__u64 now;

	e->repeats = 0;
	if (!dedup_window_ns)
		return 0;
	k = bpf_map_lookup_elem(&dedup_scratch, &zero);
	if (!k)
		return 0;
	__builtin_memset(k, 0, sizeof(*k));
	k->tgid = tgid;
	k->sc = e->sc;
	k->ret = e->ret < 0 ? e->ret : 0;
	k->entry = e->flags & (SC_F_COMPAT | SC_F_MULTIPLEXED);
	k->rport = e->sock.rport;
	__builtin_memcpy(k->raddr, e->sock.raddr, 16);
	if (e->sc == SC_SOCKET || e->sc == SC_CONNECT || e->sc == SC_ACCEPT || e->sc == SC_ACCEPT4) {
		/* A new socket's inode (and its name, socket:[ino]) says nothing:
		 * these repeat by their arguments and their peer. An accept's peer
		 * is its address and the local port, not the peer's (ephemeral)
		 * port: each connection still has its own flow record. */
		if (e->sc == SC_SOCKET) {
			k->a0 = e->args[0] | (e->args[2] << 32); /* family, protocol */
			k->a1 = e->args[1]; /* type */
		} else {
			if (e->sc != SC_CONNECT) {
				k->rport = 0;
				k->a0 = e->sock.lport;
			}
			if (e->aux_len)
				k->a1 = aux_hash(e, end); /* a unix peer's path */
		}
		goto lookup;
	}
	k->ino = e->file.ino;
	k->dev = e->file.dev;
	k->path_len = e->path_len;
	if (plain_args(e->sc)) {
		k->a0 = e->args[0];
		k->a1 = e->args[1];
	} else if (e->sc == SC_OPEN) {
		k->a0 = e->args[1];
	} else if (e->sc == SC_OPENAT || e->sc == SC_OPENAT2) {
		k->a0 = e->args[2];
	}
	{
		/* Only the path's own bytes: the rest of data is stale. */
		__u32 n = e->path_len < sizeof(k->head) ? e->path_len : sizeof(k->head);
		barrier_var(n);
		if (n <= sizeof(k->head))
			bpf_probe_read_kernel(k->head, n, e->data);
	}
lookup:
	now = repeat_clock_ns();
	fronts = bpf_map_lookup_elem(&repeat_front, &zero);
	if (fronts) {
		fr = &fronts->slot[slot];
		if (fr->valid && now - fr->last_ns < dedup_window_ns && same_words(&fr->key, k, sizeof(fr->key) / 8)) {
			__sync_fetch_and_add(&fr->pending, 1);
			count(COUNTER_DEDUPED);
			return 1;
		}
		front_flush(fr);
	}
	v = bpf_map_lookup_elem(&dedup, k);
	if (v && now - v->last_ns < dedup_window_ns) {
		__sync_fetch_and_add(&v->suppressed, 1);
		count(COUNTER_DEDUPED);
		if (fr) {
			front_take(fr, k, v->last_ns);
			v->fronted = 1;
		}
		return 1;
	}
	if (v) {
		e->repeats = v->suppressed;
		if (v->fronted) {
			struct front_sweep sw = { .key = k, .slot = slot };

			bpf_loop(nr_cpus, front_sweep_cpu, &sw, 0);
			e->repeats += sw.taken;
		}
	}
	nv.last_ns = now;
	nv.fronted = fr != 0;
	bpf_map_update_elem(&dedup, k, &nv, BPF_ANY);
	if (fr)
		front_take(fr, k, now);
	return 0;
}

/* ---- exit helpers ---- */

/* Whether an open may write (or create, truncate): those are always reported. */
static __always_inline int open_writes(struct sc_args *a, __u32 sc)
{
	__u64 fl;

	if (sc == SC_CREAT)
		return 1;
	fl = sc == SC_OPENAT2 ? a->open_flags : arg(a, sc == SC_OPEN ? 1 : 2);
	return (fl & O_ACCMODE) != 0 || (fl & (O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE)) != 0;
}

struct vma_ctx {
	struct file *file;
};

static long vma_file(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_ctx *c = data;
	c->file = BPF_CORE_READ(vma, vm_file);
	return 0;
}

/* The task's open file for fd. Direct (BTF) loads on the hot path: each
 * bpf_probe_read_kernel call costs more than the load it replaces. */
static __always_inline struct file *fd_file(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = task->files->fdt;
	unsigned long f;

	if (!fdt || fd >= fdt->max_fds)
		return 0;
	f = load_ptr_at((unsigned long)fdt->fd + fd * sizeof(struct file *));
	return f ? bpf_core_cast((void *)f, struct file) : 0;
}

/*
 * Copies the resolved kernel path pe starts from into data at off; returns its
 * length. A global function: the verifier checks it once, on its own, rather
 * than at each call in each state of exit_sc, which is near its budget. Its
 * kernel pointers come as plain values in pe (a global function's pointer
 * arguments are memory the verifier can size).
 */
__noinline __u32 put_kpath_from(struct syscall_event *e, __u32 off, const struct path_ends *pe, __u32 *pflags)
{
	if (!e || !pe || !pflags)
		return 0;
	return copy_path_from(&e->data[off & (SLOT - 1)], pe, pflags);
}

/* put_kpath_from for `path` as `task` sees it (the ends read here, in the caller). */
static __always_inline __u32 put_kpath(struct syscall_event *e, __u32 off, const struct path *path, struct task_struct *task,
				       __u32 *pflags)
{
	struct path_ends pe;

	path_ends_of(&pe, path, task);
	return put_kpath_from(e, off, &pe, pflags);
}

static __always_inline __u32 put_ustr(struct syscall_event *e, __u32 off, const char *s, __u32 max)
{
	long n;

	if (!s)
		return 0;
	n = bpf_probe_read_user_str(&e->data[off & (SLOT - 1)], max, s);
	return n > 0 ? n - 1 : 0;
}

/* f is a BTF pointer (fd_file): direct loads, each cheaper than a
 * bpf_probe_read_kernel call, on this path taken for every reported event. */
static __always_inline void file_info(struct syscall_event *e, struct file *f)
{
	struct inode *inode = f->f_inode;
	struct super_block *sb = inode->i_sb;

	e->file.ino = inode->i_ino;
	e->file.size = inode->i_size;
	e->file.dev = sb->s_dev;
	e->file.mode = inode->i_mode;
	e->file.nlink = inode->__i_nlink;
	e->file.uid = inode->i_uid.val;
	e->file.fs_magic = sb->s_magic;
	e->flags |= SC_F_FILE;
	if (e->file.fs_magic == OVERLAYFS_SUPER_MAGIC && inode_in_upper_layer(inode))
		e->flags |= SC_F_UPPER_LAYER;
}

/*
 * An accepted TCP connection is established in interrupt context, so its
 * tracking entry (made by the flow program) has no owner until the task whose
 * accept returns it is known: here.
 */
static __always_inline void own_accepted(struct syscall_event *e, struct task_struct *task)
{
	struct tcp_conn *c;

	if (!e->sock.cookie || (e->sock.family != AF_INET && e->sock.family != AF_INET6))
		return;
	c = tcp_conn_find(e->sock.cookie);
	if (!c || c->owner_known)
		return;
	fill_task(&c->owner, task);
	barrier();
	c->owner_known = 2;
}

/* The kernel's view of a socket file: family, type, addresses, and for a
 * unix socket the bound path of its peer (or its own) in aux. Returns the
 * aux length written at off. */
static __always_inline __u32 sock_info(struct syscall_event *e, struct file *f, __u32 off)
{
	struct socket *sock = f->private_data ? bpf_core_cast(f->private_data, struct socket) : 0;
	struct sock *sk = sock ? sock->sk : 0;
	__u16 family;

	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	e->flags |= SC_F_SOCK;
	e->sock.family = family;
	e->sock.type = sk->sk_type;
	e->sock.protocol = sk->sk_protocol;
	e->sock.state = sk->__sk_common.skc_state;
	e->sock.lport = sk->__sk_common.skc_num;
	e->sock.rport = bpf_ntohs(sk->__sk_common.skc_dport);
	/* Made by the flow program at connect and accept (bpf_get_socket_cookie). */
	e->sock.cookie = sk->__sk_common.skc_cookie.counter;
	if (family == AF_INET) {
		__u32 l = sk->__sk_common.skc_rcv_saddr;
		__u32 r = sk->__sk_common.skc_daddr;
		__builtin_memcpy(e->sock.laddr, &l, 4);
		__builtin_memcpy(e->sock.raddr, &r, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->sock.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->sock.raddr, sk, __sk_common.skc_v6_daddr);
	} else if (family == AF_UNIX) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct sock *peer = BPF_CORE_READ(us, peer);
		struct unix_address *ua;
		int len;

		/* The peer's bound name if connected, else our own. */
		ua = peer ? BPF_CORE_READ((struct unix_sock *)peer, addr) : BPF_CORE_READ(us, addr);
		if (!ua)
			return 0;
		len = BPF_CORE_READ(ua, len) - 2; /* minus sun_family */
		if (len <= 0)
			return 0;
		if (len > 108)
			len = 108;
		bpf_probe_read_kernel(&e->data[off & (SLOT - 1)], len & 127, (char *)&ua->name[0] + 2);
		return len & 127;
	}
	return 0;
}

/* Whether a read-only open of the path at data[0..len) is of interest. */
static __always_inline int interesting(struct syscall_event *e, __u32 len, struct path_buf *pb)
{
	__u32 zero = 0;
	struct interest_key *k = bpf_map_lookup_elem(&interest_scratch, &zero);

	if (!k)
		return 0;
	if (len > INTEREST_LEN - 1)
		len = INTEREST_LEN - 1;
	/* The path, then a NUL that lets exact entries match only exactly. */
	bpf_probe_read_kernel(k->path, INTEREST_LEN, e->data);
	k->path[len & (INTEREST_LEN - 1)] = 0;
	k->prefixlen = (len + 1) * 8;
	if (bpf_map_lookup_elem(&open_prefixes, k))
		return 1;
	if (pb && pb->leaf_len) {
		struct name_key nk = {};
		__u32 n = pb->leaf_len;
		if (n > NAME_KEY_LEN - 1)
			return 0; /* longer than any interesting name */
		bpf_probe_read_kernel(nk.name, n & (NAME_KEY_LEN - 1), &pb->buf[pb->leaf_pos & (FERRET_PATH_MAX - 1)]);
		if (bpf_map_lookup_elem(&open_names, &nk))
			return 1;
	}
	return 0;
}

static __always_inline void send(struct syscall_event *e, __u32 off)
{
	submit_used(e, off, EVENT_SYSCALL);
}

static __always_inline int sig_differs(const char *sig, __u32 sig_len, struct syscall_event *e, __u32 off, __u32 len)
{
	char now[32] = {};
	__u32 n = sig_len ? sig_len - 1 : 0; /* without the NUL */

	if (n > 31)
		n = 31;
	if (n != (len < 31 ? len : 31))
		return 1;
	bpf_probe_read_kernel(now, n & 31, &e->data[off & (SLOT - 1)]);
	for (int i = 0; i < 31; i++) {
		if (i >= n)
			break;
		if (now[i] != sig[i])
			return 1;
	}
	return 0;
}

/* ---- exit ---- */

static __always_inline __u32 verdict_slot(struct verdict_key *k)
{
	/* By inode number: the verifier allows no arithmetic on the pointers. */
	__u64 h = k->ino ^ (k->ino >> 13) ^ (k->ino >> 26);
	return (__u32)h & (VERDICT_SLOTS - 1);
}

/* Dismisses a read-only open already judged uninteresting in this generation. */
static __always_inline int known_uninteresting(struct file *f, struct task_struct *task, struct verdict_key *k,
					       __u64 *gen)
{
	__u32 zero = 0, slot;
	__u64 *g = bpf_map_lookup_elem(&path_generation, &zero);
	struct verdict *v;

	k->dentry = (__u64)f->f_path.dentry;
	k->mnt = (__u64)f->f_path.mnt;
	k->root = (__u64)task->fs->root.dentry;
	k->ino = f->f_inode->i_ino;
	*gen = g ? *g : 0;
	slot = verdict_slot(k);
	v = bpf_map_lookup_elem(&open_verdicts, &slot);
	return v && v->gen == *gen && v->key.dentry == k->dentry && v->key.mnt == k->mnt && v->key.root == k->root &&
	       v->key.ino == k->ino;
}

/* Remembers that a read-only open of this file was found uninteresting. */
static __always_inline void remember_uninteresting(struct verdict_key *k, __u64 gen)
{
	__u32 slot = verdict_slot(k);
	struct verdict *v = bpf_map_lookup_elem(&open_verdicts, &slot);

	if (v) {
		v->key = *k;
		v->gen = gen;
	}
}

static __always_inline void new_path_generation(void)
{
	__u32 zero = 0;
	__u64 *g = bpf_map_lookup_elem(&path_generation, &zero);
	if (g)
		__sync_fetch_and_add(g, 1);
}

static __always_inline int exit_sc(__u32 sc, int compat, long ret, struct pt_regs *regs, struct task_struct *task)
{
	struct syscall_event *e;
	struct sc_args *a;
	struct sc_spec sp;
	struct file *f = 0;
	struct verdict_key vkey = {};
	__u64 gen = 0;
	__u32 zero = 0, off = 0, pflags = 0;
	/* Decided on the table's id: a multiplexed call (socketcall) had an entry. */
	int regs_only = exit_only(sc), folded_checked;

	if (regs_only) {
		if (self_tgid && task->tgid == self_tgid)
			return 0;
		a = bpf_map_lookup_elem(&args_scratch, &zero);
		if (!a)
			return 0;
		regs_args(a->args, compat, regs);
		a->open_flags = 0;
		a->sig_len = a->sig2_len = 0;
		/* The flood: a read-only open of a file already judged uninteresting
		 * ends here, before the event buffer is touched. */
		if ((sc == SC_OPEN || sc == SC_OPENAT) && ret >= 0 && !open_writes(a, sc)) {
			f = fd_file(task, ret);
			if (f && known_uninteresting(f, task, &vkey, &gen)) {
				count(COUNTER_OPEN_FILTERED);
				return 0;
			}
		}
	} else {
		a = bpf_task_storage_get(&sc_inflight, task, 0, 0);
		if (!a)
			return 0;
		if (ia32_exec(sc)) {
			if (a->sc == sc && a->compat == compat) {
				a->sc = 0;
				ia32_exec_exit(sc, a, ret, task);
			}
			return 0;
		}
		if (ia32_mux(sc)) {
			if (a->mux != sc)
				return 0;
			sc = a->sc; /* the call it stood for */
		}
		if (!sc || sc >= SC_MAX || a->sc != sc || a->compat != compat)
			return 0;
		a->sc = 0; /* consumed: from here on `sc` names it */
	}
	e = scratch_of(sc_scratch);
	if (!e)
		return 0;
	sp = spec_of(sc);
	e->sc = sc;
	e->ret = ret;
	e->flags = compat ? SC_F_COMPAT : 0;
	if (!regs_only && a->mux) {
		__u32 now[6] = {};
		e->flags |= SC_F_MULTIPLEXED;
		if (read_mux_args(now, a->mux_len / 4, a->mux_ptr))
			e->flags |= SC_F_ARGS_CHANGED;
		for (int i = 0; i < 6; i++)
			if (now[i] != a->mux_args[i])
				e->flags |= SC_F_ARGS_CHANGED;
	}
	e->path_len = e->path2_len = e->dir_len = e->aux_len = 0;
	e->repeats = 0;
	__builtin_memset(&e->file, 0, sizeof(e->file));
	__builtin_memset(&e->sock, 0, sizeof(e->sock));
	for (int i = 0; i < 6; i++)
		e->args[i] = a->args[i];
	if (sc == SC_OPENAT2)
		e->args[2] = a->open_flags; /* how.flags in place of the struct pointer */
	/* A socket() repeats by its arguments alone (a new socket has no peer):
	 * a repeat is folded before its file is looked up. */
	folded_checked = sc == SC_SOCKET;
	if (folded_checked && repeated(e, task->tgid, 0))
		return 0;

	/* The main path: the kernel's file when there is one, else the caller's string. */
	if (f)
		; /* an open's file, found above */
	else if (sp.ret_fd && ret >= 0)
		f = fd_file(task, ret);
	else if (sp.fd >= 0 && !(sc == SC_UTIMENSAT && arg(a, sp.path) != 0) &&
		 !(sc == SC_MMAP && (a->args[3] & MAP_ANONYMOUS)))
		f = fd_file(task, arg(a, sp.fd));
	if (sc == SC_MPROTECT) {
		/* The mapping's file, if any, found from the address. */
		struct vma_ctx c = {};
		bpf_find_vma(task, a->args[0], vma_file, &c, 0);
		f = c.file ? bpf_core_cast(c.file, struct file) : 0;
	}

	if (f && sp.is_open && !regs_only && !open_writes(a, sc) && known_uninteresting(f, task, &vkey, &gen)) {
		count(COUNTER_OPEN_FILTERED);
		return 0;
	}
	if (f) {
		struct path_buf *pb;
		int sock;

		file_info(e, f);
		sock = (e->file.mode & S_IFMT) == S_IFSOCK;
		/* A socket's dentry has no name (the kernel makes up socket:[ino],
		 * as userspace does from the inode): no walk. */
		if (sock)
			pflags = PATH_R_UNREACHABLE;
		else
			e->path_len = put_kpath(e, off, &f->f_path, task, &pflags);
		e->flags |= SC_F_PATH_KERNEL;
		if (pflags & PATH_R_TRUNCATED)
			e->flags |= SC_F_PATH_TRUNCATED;
		if (pflags & PATH_R_UNREACHABLE)
			e->flags |= SC_F_PATH_UNREACHABLE;
		off += e->path_len;
		if (sp.is_open && !open_writes(a, sc)) {
			pb = path_scratch_buf();
			if (!interesting(e, e->path_len, pb)) {
				remember_uninteresting(&vkey, gen);
				count(COUNTER_OPEN_FILTERED);
				return 0;
			}
			e->flags |= SC_F_INTERESTING;
		}
		if (sock)
			e->aux_len = sock_info(e, f, off & (SLOT - 1));
	} else if (sp.path >= 0) {
		e->path_len = put_ustr(e, off, (const char *)arg(a, sp.path), FERRET_PATH_MAX);
		if (e->path_len == FERRET_PATH_MAX - 1)
			e->flags |= SC_F_PATH_TRUNCATED;
		if (!sp.is_open && sig_differs(a->sig, a->sig_len, e, off, e->path_len))
			e->flags |= SC_F_PATH_CHANGED;
		if (sp.is_open && ret < 0 && !open_writes(a, sc)) {
			if (!interesting(e, e->path_len, 0)) {
				count(COUNTER_OPEN_FILTERED);
				return 0;
			}
			e->flags |= SC_F_INTERESTING;
		}
		off += e->path_len;
	}

	/* The second path: always the caller's string. */
	if (sp.path2 >= 0) {
		off &= SLOT - 1;
		e->path2_len = put_ustr(e, off, (const char *)arg(a, sp.path2), FERRET_PATH_MAX);
		if (sig_differs(a->sig2, a->sig2_len, e, off, e->path2_len))
			e->flags |= SC_F_PATH2_CHANGED;
		off += e->path2_len;
	}

	/* A relative user path: the kernel path of the directory it is relative to. */
	if (!(e->flags & SC_F_PATH_KERNEL) && e->path_len && sp.path >= 0) {
		char first = 0;
		bpf_probe_read_kernel(&first, 1, &e->data[0]);
		if (first != '/') {
			const struct path *dir = 0;
			__s64 dfd = sp.dirfd >= 0 ? (__s64)(__s32)arg(a, sp.dirfd) : AT_FDCWD;
			struct file *df = dfd == AT_FDCWD ? 0 : fd_file(task, dfd);
			__u32 dflags = 0;
			off &= SLOT - 1;
			if (df)
				dir = &df->f_path;
			else if (dfd == AT_FDCWD)
				dir = &task->fs->pwd;
			if (dir) {
				e->dir_len = put_kpath(e, off, dir, task, &dflags);
				e->flags |= SC_F_DIR_KERNEL;
				off += e->dir_len;
			}
		}
	}

	/* A user string for aux (fs type, module params or name, memfd name). */
	if (sp.aux_str >= 0 && !e->aux_len) {
		off &= SLOT - 1;
		e->aux_len = put_ustr(e, off, (const char *)arg(a, sp.aux_str), FERRET_AUX_MAX);
		e->flags |= SC_F_AUX_USER;
		off += e->aux_len;
	} else if (sc == SC_CAPSET) {
		/* The capability sets asked for: two __user_cap_data_struct. */
		off &= SLOT - 1;
		if (bpf_probe_read_user(&e->data[off], 24, (void *)a->args[1]) == 0) {
			e->aux_len = 24;
			e->flags |= SC_F_AUX_USER;
		}
		off += e->aux_len;
	} else if ((sc == SC_CONNECT || sc == SC_BIND) && ret < 0 && !e->aux_len) {
		/* The socket kept no address: report the caller's sockaddr, flagged. */
		__u32 len = a->args[2];
		off &= SLOT - 1;
		if (len > 128)
			len = 128;
		if (bpf_probe_read_user(&e->data[off], len & 255, (void *)a->args[1]) == 0) {
			e->aux_len = len & 255;
			e->flags |= SC_F_AUX_USER;
		}
		off += e->aux_len;
	} else {
		off += e->aux_len;
	}

	if (ret >= 0) {
		switch (sc) {
		case SC_RENAME: case SC_RENAMEAT: case SC_RENAMEAT2: case SC_LINK: case SC_LINKAT:
		case SC_SYMLINK: case SC_SYMLINKAT: case SC_UNLINK: case SC_UNLINKAT: case SC_RMDIR:
		case SC_MOUNT: case SC_UMOUNT2:
			new_path_generation(); /* paths may now name other files */
			break;
		}
	}
	/* Every accepted connection gets its flow's owner, folded or not. */
	if ((sc == SC_ACCEPT || sc == SC_ACCEPT4) && ret >= 0)
		own_accepted(e, task);
	if (!folded_checked && repeated(e, task->tgid, off))
		return 0;
	fill_header(&e->hdr, EVENT_SYSCALL, task);
	send(e, off);
	return 0;
}

/* One entry and one exit program per syscall; the exit ones share exit_sc. */
/*
 * One entry and one exit program on the raw syscall tracepoints, verified
 * once. `sc_by_nr` (filled by userspace from the syscall table) turns the
 * syscall number into ferret's id; unwatched syscalls return after one array
 * lookup. (Per-syscall tracepoints were tried first: every syscall still
 * passes the same raw tracepoint to reach them, and detaching 124 of them
 * took seconds of RCU grace periods.)
 */
#define SC_NR_MAX FERRET_SC_NR_MAX

/* Keys 0..SC_NR_MAX-1 are the native table; SC_NR_MAX + nr the 32-bit one:
 * ia32 processes, and 64-bit ones that use `int 0x80` to slip past monitors
 * watching only the 64-bit table. One map with a constant pointer, so the
 * verifier inlines the lookup (two maps chosen at run time cost a call). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SC_NR_MAX);
	__type(key, __u32);
	__type(value, __u32);
} sc_by_nr SEC(".maps");

#define TS_COMPAT 0x0002 /* x86 thread_info.status: in a 32-bit syscall */

static __always_inline int in_compat_syscall(struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	return (task->thread_info.status & TS_COMPAT) != 0;
#else
	return 0;
#endif
}

/* ferret's id for syscall nr in one table (0: not watched). */
static __always_inline __u32 sc_of(long nr, int compat)
{
	__u32 key = (__u32)nr + (compat ? SC_NR_MAX : 0);
	__u32 *sc;

	if (nr < 0 || nr >= SC_NR_MAX)
		return 0;
	sc = bpf_map_lookup_elem(&sc_by_nr, &key);
	return sc ? *sc : 0;
}

/*
 * Which table a syscall came through needs the task (a helper call). Most
 * syscalls are watched in neither table, so both are looked up first (inlined
 * array loads) and the task is fetched only when one of them names it. At
 * entry, an exit-only syscall counts as unwatched.
 */
static __always_inline __u32 watched(long nr, int at_entry, struct task_struct **task, int *compat)
{
	__u32 native = sc_of(nr, 0), ia32 = 0;

#if defined(__TARGET_ARCH_x86)
	ia32 = sc_of(nr, 1);
#endif
	if (at_entry) {
		if (exit_only(native))
			native = 0;
		if (exit_only(ia32))
			ia32 = 0;
	}
	if (!native && !ia32)
		return 0;
	*task = bpf_get_current_task_btf();
	*compat = in_compat_syscall(*task);
	return *compat ? ia32 : native;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_any, struct pt_regs *regs, long id)
{
	struct task_struct *task = 0;
	int compat = 0;
	__u32 sc = watched(id, 1, &task, &compat);

	if (!sc || !task)
		return 0;
	return enter(sc, compat, regs, task);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_any, struct pt_regs *regs, long ret)
{
#if defined(__TARGET_ARCH_x86)
	long nr = regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	long nr = regs->syscallno;
#else
#error "ferret: the syscall number at sys_exit is not known for this architecture"
#endif
	struct task_struct *task = 0;
	int compat = 0;
	__u32 sc = watched(nr, 0, &task, &compat);

	if (!sc || !task)
		return 0;
	return exit_sc(sc, compat, ret, regs, task);
}
