// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS over UDP, from the packets themselves (cgroup_skb on the root cgroup v2,
 * so every process below it): what the kernel sends and receives, not what
 * a process's buffers say. Queries are seen leaving in the sender's context;
 * responses arrive in softirq context and are attributed through the
 * socket-owner map the egress side fills, keyed by socket cookie. Packets
 * are never dropped or changed here: every program returns 1 (allow).
 */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct dns_event *_keep_dns_event;

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP 17
#define AF_INET 2
#define AF_INET6 10

/* UDP ports that carry DNS (host byte order), filled by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u16);
	__type(value, __u8);
} dns_ports SEC(".maps");

/* Socket cookie -> the task that last sent on it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct task_ctx);
} sock_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_event);
} dns_scratch SEC(".maps");

static __always_inline int watched_port(__u16 port)
{
	return bpf_map_lookup_elem(&dns_ports, &port) != 0;
}

static __always_inline int handle(struct __sk_buff *skb, int egress)
{
	__u32 zero = 0, l4 = 0;
	__u16 family, sport, dport;
	struct dns_event *e;
	struct udphdr udp;
	__u64 cookie;
	__u32 len;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP)
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff)) /* a later fragment: no UDP header */
			return 1;
		l4 = (ip.ihl & 0xf) * 4;
		family = AF_INET;
		if (bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)))
			return 1;
		sport = bpf_ntohs(udp.source);
		dport = bpf_ntohs(udp.dest);
		if (!(egress ? watched_port(dport) : watched_port(sport)))
			return 1;
		e = bpf_map_lookup_elem(&dns_scratch, &zero);
		if (!e)
			return 1;
		__builtin_memset(e->saddr, 0, 16);
		__builtin_memset(e->daddr, 0, 16);
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_UDP)
			return 1; /* extension headers are not followed */
		l4 = sizeof(ip6);
		family = AF_INET6;
		if (bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)))
			return 1;
		sport = bpf_ntohs(udp.source);
		dport = bpf_ntohs(udp.dest);
		if (!(egress ? watched_port(dport) : watched_port(sport)))
			return 1;
		e = bpf_map_lookup_elem(&dns_scratch, &zero);
		if (!e)
			return 1;
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
	} else {
		return 1;
	}

	cookie = bpf_get_socket_cookie(skb);
	e->cookie = cookie;
	e->sport = sport;
	e->dport = dport;
	e->family = family;
	e->egress = egress;
	e->hdr.ktime_boot_ns = bpf_ktime_get_boot_ns();
	e->hdr.kind = EVENT_DNS;
	if (egress) {
		/* Sent from the owner's own context. */
		fill_task(&e->hdr.task, (struct task_struct *)bpf_get_current_task());
		e->owner_known = 1;
		bpf_map_update_elem(&sock_owner, &cookie, &e->hdr.task, BPF_ANY);
	} else {
		struct task_ctx *owner = bpf_map_lookup_elem(&sock_owner, &cookie);
		if (owner) {
			e->hdr.task = *owner;
			e->owner_known = 1;
		} else {
			__builtin_memset(&e->hdr.task, 0, sizeof(e->hdr.task));
			e->owner_known = 0;
		}
	}

	len = skb->len > l4 + sizeof(udp) ? skb->len - l4 - sizeof(udp) : 0;
	e->wire_len = len;
	if (len > FERRET_DNS_MAX)
		len = FERRET_DNS_MAX;
	if (len == 0)
		return 1;
	barrier_var(len); /* the checked register is the one passed below */
	if (bpf_skb_load_bytes(skb, l4 + sizeof(udp), e->data, len))
		return 1;
	e->cap_len = len;
	e->hdr.size = __builtin_offsetof(struct dns_event, data) + len;
	submit(e, __builtin_offsetof(struct dns_event, data) + (__u64)len, EVENT_DNS);
	return 1;
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	return handle(skb, 1);
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0);
}
