// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark floor: count-only programs on exactly the hooks ferret's
 * programs use. The cost of merely being attached there is what no
 * sensor on these hooks can avoid; ferret's extra cost is measured against it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline int hit(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &zero);
	if (v)
		*v += 1;
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(floor_exec) { return hit(); }

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_fork) { return hit(); }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(floor_exit) { return hit(); }

/* The syscall hooks: every syscall passes here, as it does through ferret's. */
SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter) { return hit(); }

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit) { return hit(); }

SEC("tracepoint/syscalls/sys_enter_execve")
int floor_enter_execve(void *ctx) { return hit(); }

SEC("tracepoint/syscalls/sys_enter_execveat")
int floor_enter_execveat(void *ctx) { return hit(); }

SEC("tracepoint/syscalls/sys_exit_execve")
int floor_exit_execve(void *ctx) { return hit(); }

SEC("tracepoint/syscalls/sys_exit_execveat")
int floor_exit_execveat(void *ctx) { return hit(); }

/* The packet and TCP lifecycle hooks of the DNS and flow programs (root cgroup v2). */
SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb)
{
	hit();
	return 1;
}

SEC("cgroup_skb/ingress")
int floor_ingress(struct __sk_buff *skb)
{
	hit();
	return 1;
}

SEC("sockops")
int floor_sockops(struct bpf_sock_ops *ops)
{
	hit();
	return 1;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(floor_tcp_destroy) { return hit(); }

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(floor_tcp_send_reset) { return hit(); }
