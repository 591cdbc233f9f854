// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One trivial program per program/attach type, for `ferret doctor`: each is
 * loaded and attached on its own, and the outcome is what this kernel really
 * allows (not what its version or config suggests).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 never_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_tp_btf, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

SEC("raw_tp/sched_process_fork")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int probe_syscall_tracepoint(void *ctx)
{
	return 0;
}

SEC("uprobe")
int probe_uprobe(void *ctx)
{
	return 0;
}

SEC("kprobe/vfs_read")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup/connect4")
int probe_cgroup_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("sockops")
int probe_sockops(struct bpf_sock_ops *ops)
{
	return 1;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(probe_tcp_destroy, struct sock *sk)
{
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(probe_tcp_send_reset, const struct sock *sk)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_ringbuf, struct task_struct *parent, struct task_struct *child)
{
	__u32 v = 0;
	if (never_pid && (__u32)(bpf_get_current_pid_tgid() >> 32) == never_pid)
		bpf_ringbuf_output(&probe_ring, &v, sizeof(v), 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_send_signal, struct task_struct *parent, struct task_struct *child)
{
	if (never_pid && (__u32)(bpf_get_current_pid_tgid() >> 32) == never_pid)
		bpf_send_signal(9);
	return 0;
}
