// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process lifecycle: exec (successful and failed), fork/clone, exit.
 *
 * Successful execs are read at sched_process_exec from the kernel's own
 * `linux_binprm`: the executable path is resolved from bprm->file, argv is
 * read from the new image's stack that the kernel itself just wrote, so
 * nothing an attacker can change after the check is trusted. A failed exec
 * never reaches that point; it is captured at syscall exit with the caller's
 * strings, and flagged as such (EXEC_F_PATH_FROM_USER).
 */
#include "lib/common.h"
#include "lib/exec.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace before load. */
const volatile bool report_threads = true;
const volatile __u32 self_tgid = 0; /* ferret's own pid: its threads are not reported */

/* Keeps the shared record types in BTF so the skeleton generates them. */
struct exec_event *_keep_exec_event;
struct fork_event *_keep_fork_event;
struct exit_event *_keep_exit_event;
enum event_kind _keep_event_kind;
enum exec_flags _keep_exec_flags;
enum fork_flags _keep_fork_flags;
enum counter_index _keep_counter_index;
enum ferret_limits _keep_ferret_limits;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, struct exec_args);
} exec_inflight SEC(".maps");

/*
 * The task's cgroup, as the last FERRET_CGROUP_LEVELS path components
 * ("parent/.../leaf"): from the v2 hierarchy when the task is placed in it,
 * else from the v1 memory controller (hybrid hosts where runtimes use v1).
 * Written at off; returns its length. Container ids live in these names.
 */
static __always_inline __u32 put_cgroup(struct exec_event *e, __u32 off, struct task_struct *task)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	struct kernfs_node *names[FERRET_CGROUP_LEVELS] = {};
	__u32 len = 0;
	int n = 0;

	if (!kn || !BPF_CORE_READ(kn, __parent)) {
		/* In the v2 root: look at a v1 controller instead. */
		struct cgroup_subsys_state *css = BPF_CORE_READ(task, cgroups, subsys[memory_cgrp_id]);
		if (css)
			kn = BPF_CORE_READ(css, cgroup, kn);
	}
	for (int i = 0; i < FERRET_CGROUP_LEVELS; i++) {
		if (!kn || !BPF_CORE_READ(kn, __parent))
			break; /* the hierarchy's root has no name worth keeping */
		names[i] = kn;
		n++;
		kn = BPF_CORE_READ(kn, __parent);
	}
	/* Outermost first, '/'-separated. */
	for (int i = FERRET_CGROUP_LEVELS - 1; i >= 0; i--) {
		long w;
		if (i >= n || !names[i])
			continue;
		if (len) {
			e->data[(off + len) & (HALF - 1)] = '/';
			len++;
		}
		w = bpf_probe_read_kernel_str(&e->data[(off + len) & (HALF - 1)], FERRET_CGROUP_NAME,
					      BPF_CORE_READ(names[i], name));
		if (w > 1)
			len += w - 1;
		len &= 1023;
	}
	return len;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct exec_event *e = exec_record();
	struct file *file;
	struct inode *inode;
	struct mm_struct *mm;
	const char *filename, *interp;
	__u32 off = 0, pflags = 0, old_tid = old_pid;
	struct exec_args *inflight;

	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_EXEC, p);
	e->ret = 0;
	e->flags = 0;
	e->old_pid = old_pid;
	e->argc = BPF_CORE_READ(bprm, argc);

	inflight = bpf_map_lookup_elem(&exec_inflight, &old_tid);
	if (inflight) {
		if (inflight->is_execveat)
			e->flags |= EXEC_F_EXECVEAT;
		if (inflight->at_flags & AT_EMPTY_PATH)
			e->flags |= EXEC_F_EMPTY_PATH;
		bpf_map_delete_elem(&exec_inflight, &old_tid);
	}

	/* The file the kernel is about to run (for a script, its interpreter). */
	file = BPF_CORE_READ(bprm, file);
	inode = BPF_CORE_READ(file, f_inode);
	e->exe_ino = BPF_CORE_READ(inode, i_ino);
	e->exe_size = BPF_CORE_READ(inode, i_size);
	e->exe_mtime_sec = BPF_CORE_READ(inode, i_mtime_sec);
	e->exe_mtime_nsec = BPF_CORE_READ(inode, i_mtime_nsec);
	e->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->exe_nlink = BPF_CORE_READ(inode, __i_nlink);
	e->exe_mode = BPF_CORE_READ(inode, i_mode);
	if (e->exe_nlink == 0)
		e->flags |= EXEC_F_EXE_DELETED;
	if (inode_in_upper_layer(inode))
		e->flags |= EXEC_F_EXE_UPPER;

	e->exe_len = exec_put_path(e, off, &file->f_path, p, &pflags);
	if (pflags & PATH_R_TRUNCATED)
		e->flags |= EXEC_F_EXE_TRUNCATED;
	if (pflags & PATH_R_UNREACHABLE)
		e->flags |= EXEC_F_EXE_INTERNAL;
	off += e->exe_len;

	e->cwd_len = exec_put_cwd(e, off, p);
	off += e->cwd_len;

	/* bprm->filename: the path given to execve, copied by the kernel once
	 * (getname) before it was opened. bprm->interp differs from it only
	 * when a binfmt handler (`#!`, binfmt_misc) substituted an interpreter. */
	filename = BPF_CORE_READ(bprm, filename);
	interp = BPF_CORE_READ(bprm, interp);
	e->filename_len = exec_put_kstr(e, off, filename, FERRET_PATH_MAX);
	off += e->filename_len;
	if (interp && interp != filename) {
		e->flags |= EXEC_F_SCRIPT;
		e->interp_len = exec_put_kstr(e, off, interp, FERRET_NAME_SLACK);
	} else {
		e->interp_len = 0;
	}
	off += e->interp_len;

	e->tty_len = exec_put_tty(e, off, p);
	off += e->tty_len;

	e->cgroup_len = put_cgroup(e, off, p);
	off += e->cgroup_len;

	/* argv as the kernel laid it on the new stack; the process has not run yet. */
	mm = BPF_CORE_READ(p, mm);
	{
		unsigned long start = BPF_CORE_READ(mm, arg_start);
		unsigned long end = BPF_CORE_READ(mm, arg_end);
		__u64 len = end > start ? end - start : 0;

		if (len > FERRET_ARGS_MAX) {
			len = FERRET_ARGS_MAX;
			e->flags |= EXEC_F_ARGS_TRUNCATED;
		}
		barrier_var(len);
		if (len > FERRET_ARGS_MAX)
			len = 0;
		if (bpf_probe_read_user(&e->data[off & (HALF - 1)], len, (void *)start) != 0)
			len = 0;
		e->args_len = len;
		off = (off & (HALF - 1)) + len;
	}
	send_exec(e, off);
	return 0;
}

static __always_inline int enter_exec(const char *filename, const char *const *argv, __s32 dirfd, __u32 at_flags,
				      __u32 is_execveat)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args a = {
		.filename = filename,
		.argv = argv,
		.dirfd = dirfd,
		.at_flags = at_flags,
		.is_execveat = is_execveat,
	};
	bpf_map_update_elem(&exec_inflight, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return enter_exec((const char *)ctx->args[0], (const char *const *)ctx->args[1], -100, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return enter_exec((const char *)ctx->args[1], (const char *const *)ctx->args[2], (__s32)ctx->args[0],
			  (__u32)ctx->args[4], 1);
}

static __always_inline int exit_exec(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args *a = bpf_map_lookup_elem(&exec_inflight, &tid);
	struct exec_args args;
	long ret = ctx->ret;

	if (!a) {
		if (ret < 0)
			count(COUNTER_EXEC_ENTRY_MISS);
		return 0;
	}
	args = *a;
	bpf_map_delete_elem(&exec_inflight, &tid);
	if (ret >= 0)
		return 0; /* reported by handle_exec */
	report_failed_exec(&args, ret, bpf_get_current_task_btf());
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return exit_exec(ctx);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return exit_exec(ctx);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fork_event e = {};
	__u32 child_pid = BPF_CORE_READ(child, tgid);
	__u32 child_tid = BPF_CORE_READ(child, pid);

	if (self_tgid && child_pid == self_tgid)
		return 0;
	if (child_pid != child_tid) {
		if (!report_threads)
			return 0;
		e.flags |= FORK_F_THREAD;
	}
	/* vfork_done is only set after this tracepoint, so vfork shows as a new
	 * process sharing its parent's memory (CLONE_VM without CLONE_THREAD):
	 * vfork, posix_spawn, or clone(CLONE_VM). */
	else if (BPF_CORE_READ(child, mm) == BPF_CORE_READ(parent, mm))
		e.flags |= FORK_F_VFORK;
	fill_header(&e.hdr, EVENT_FORK, parent);
	e.hdr.size = sizeof(e);
	e.child_pid = child_pid;
	e.child_tid = child_tid;
	e.child_start_boottime = BPF_CORE_READ(child, group_leader, start_boottime);
	submit(&e, sizeof(e), EVENT_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p, bool group_dead)
{
	struct exit_event e = {};

	if (!group_dead)
		return 0; /* a thread ended; the process lives on */
	if (self_tgid && BPF_CORE_READ(p, tgid) == self_tgid)
		return 0;
	fill_header(&e.hdr, EVENT_EXIT, p);
	e.hdr.size = sizeof(e);
	e.exit_code = BPF_CORE_READ(p, exit_code);
	submit(&e, sizeof(e), EVENT_EXIT);
	return 0;
}
