/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Building exec records, shared by the process programs (successful execs at
 * sched_process_exec, failed 64-bit ones at the execve syscall tracepoints)
 * and the syscall programs (failed ia32 execs, which those tracepoints never
 * see). exec_scratch is sized to the number of CPUs by userspace, and the
 * syscall programs use the process programs' one (map fd reuse).
 */
#ifndef FERRET_EXEC_H
#define FERRET_EXEC_H

#include "common.h"

/* One exec record per CPU (too large for a per-CPU map: 32 KiB is the cap);
 * max_entries is set to the number of possible CPUs by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} exec_scratch SEC(".maps");

/* What sys_enter_execve(at) saw, kept until the matching exit. */
struct exec_args {
	const char *filename;
	const char *const *argv;
	__s32 dirfd;
	__u32 at_flags;
	__u32 is_execveat;
	__u32 compat; /* an ia32 exec: argv is an array of 32-bit pointers */
};

#define AT_EMPTY_PATH 0x1000

static __always_inline struct exec_event *exec_record(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct exec_event *e = bpf_map_lookup_elem(&exec_scratch, &cpu);
	if (!e)
		count(COUNTER_SCRATCH_MISS);
	return e;
}

/* Offsets into exec_event.data stay below HALF so that any copy of at most
 * HALF bytes fits: that is the bound the verifier checks. */
#define HALF (FERRET_DATA_MAX / 2)

/* Copies a resolved path into e->data at off; returns its length. */
static __always_inline __u32 exec_put_path(struct exec_event *e, __u32 off, const struct path *path, struct task_struct *task,
				      __u32 *pflags)
{
	return copy_path(&e->data[off & (HALF - 1)], path, task, pflags);
}

/* Copies a NUL-terminated kernel string of at most max bytes; returns its length without the NUL. */
static __always_inline __u32 exec_put_kstr(struct exec_event *e, __u32 off, const char *s, __u32 max)
{
	long n = bpf_probe_read_kernel_str(&e->data[off & (HALF - 1)], max, s);
	return n > 0 ? n - 1 : 0;
}

static __always_inline __u32 exec_put_ustr(struct exec_event *e, __u32 off, const char *s, __u32 max)
{
	long n = bpf_probe_read_user_str(&e->data[off & (HALF - 1)], max, s);
	return n > 0 ? n - 1 : 0;
}

static __always_inline __u32 exec_put_tty(struct exec_event *e, __u32 off, struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	if (!tty)
		return 0;
	return exec_put_kstr(e, off, tty->name, FERRET_TTY_LEN);
}

static __always_inline __u32 exec_put_cwd(struct exec_event *e, __u32 off, struct task_struct *task)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	__u32 pflags = 0, len;

	if (!fs)
		return 0;
	len = exec_put_path(e, off, &fs->pwd, task, &pflags);
	if (pflags & PATH_R_TRUNCATED)
		e->flags |= EXEC_F_CWD_TRUNCATED;
	if (pflags & PATH_R_UNREACHABLE)
		e->flags |= EXEC_F_CWD_UNREACHABLE;
	return len;
}

static __always_inline void send_exec(struct exec_event *e, __u32 off)
{
	submit_used(e, off, EVENT_EXEC);
}

/* State for reading a failed exec's argv from user memory with bpf_loop.
 * The running length and count live in the record (map memory), not here:
 * the verifier then sees the same bounded state on every iteration and the
 * callback converges, instead of tracking a growing offset range. */
struct argv_walk {
	struct exec_event *e;
	const char *const *argv;
	__u32 start; /* where argv begins in e->data */
	__u32 compat; /* 32-bit pointers */
};

/* Entry i of a user argv array (0 at its end or on a fault). */
static __always_inline const char *argv_entry(const char *const *argv, __u64 i, __u32 compat)
{
	if (compat) {
		__u32 p32 = 0;
		if (bpf_probe_read_user(&p32, sizeof(p32), (const char *)argv + i * 4) != 0)
			return 0;
		return (const char *)(unsigned long)p32;
	}
	const char *p = 0;
	if (bpf_probe_read_user(&p, sizeof(p), &argv[i]) != 0)
		return 0;
	return p;
}

static long argv_step(__u64 i, void *arg)
{
	struct argv_walk *w = arg;
	struct exec_event *e = w->e;
	const char *p = 0;
	__u32 off;
	long n;

	p = argv_entry(w->argv, i, w->compat);
	if (!p)
		return 1;
	off = (w->start + e->args_len) & (HALF - 1);
	/* Stay below HALF, like every other write into data. */
	if (off + FERRET_FAILED_ARG_LEN > HALF) {
		e->flags |= EXEC_F_ARGS_TRUNCATED;
		return 1;
	}
	n = bpf_probe_read_user_str(&e->data[off], FERRET_FAILED_ARG_LEN, p);
	if (n <= 0)
		return 1;
	/* A full-length read means the entry was cut; keep its NUL and flag it. */
	if (n == FERRET_FAILED_ARG_LEN)
		e->flags |= EXEC_F_ARGS_TRUNCATED;
	e->args_len += n;
	e->argc++;
	return 0;
}

/*
 * A failed exec: nothing ran, so the executable and argv are the caller's
 * strings (flagged EXEC_F_PATH_FROM_USER), read at exit from the pointers
 * saved at entry.
 */
static __always_inline void report_failed_exec(struct exec_args *args, long ret, struct task_struct *task)
{
	struct exec_event *e = exec_record();
	__u32 off = 0;

	if (!e)
		return;
	fill_header(&e->hdr, EVENT_EXEC, task);
	e->ret = ret;
	e->flags = EXEC_F_PATH_FROM_USER;
	if (args->is_execveat)
		e->flags |= EXEC_F_EXECVEAT;
	if (args->at_flags & AT_EMPTY_PATH)
		e->flags |= EXEC_F_EMPTY_PATH;
	if (args->compat)
		e->flags |= EXEC_F_COMPAT;
	e->old_pid = task->pid;
	e->exe_ino = 0;
	e->exe_size = 0;
	e->exe_mtime_sec = 0;
	e->exe_mtime_nsec = 0;
	e->exe_dev = 0;
	e->exe_nlink = 0;
	e->exe_mode = 0;
	e->interp_len = 0;

	/* No file was run: exe is the caller's string, as is filename. */
	e->exe_len = exec_put_ustr(e, off, args->filename, FERRET_PATH_MAX);
	off += e->exe_len;
	e->cwd_len = exec_put_cwd(e, off, task);
	off += e->cwd_len;
	e->filename_len = 0;
	e->tty_len = exec_put_tty(e, off, task);
	off += e->tty_len;
	e->cgroup_len = 0;

	{
		struct argv_walk w = { .e = e, .argv = args->argv, .start = off & (HALF - 1), .compat = args->compat };
		e->argc = 0;
		e->args_len = 0;
		bpf_loop(FERRET_FAILED_ARGS, argv_step, &w, 0);
		if (e->argc == FERRET_FAILED_ARGS && argv_entry(args->argv, FERRET_FAILED_ARGS, args->compat))
			e->flags |= EXEC_F_ARGS_TRUNCATED;
		off = (w.start + e->args_len) & (FERRET_DATA_MAX - 1);
	}
	send_exec(e, off);
}

#endif /* FERRET_EXEC_H */
