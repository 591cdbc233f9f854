// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS over UDP and TCP, from the packets themselves (cgroup_skb on the root cgroup v2,
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
#define IPPROTO_TCP 6
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

/*
 * Reads the transport header at l4: the ports, and where the DNS message
 * starts. Over TCP a segment is taken to start a message (its 2-byte length
 * prefix first), which is how queries and most answers travel; a message
 * spread over several segments is captured in part and says so.
 */
static __always_inline int l4_ports(struct __sk_buff *skb, __u8 proto, __u32 l4, __u16 *sport, __u16 *dport,
				    __u32 *msg, __u32 *wire, __u8 *tcp)
{
	if (proto == IPPROTO_UDP) {
		struct udphdr udp;
		if (bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)))
			return -1;
		*sport = bpf_ntohs(udp.source);
		*dport = bpf_ntohs(udp.dest);
		*msg = l4 + sizeof(udp);
		*wire = skb->len > *msg ? skb->len - *msg : 0;
		*tcp = 0;
		return 0;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr th;
		__u16 prefix;
		__u32 data;
		if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)))
			return -1;
		*sport = bpf_ntohs(th.source);
		*dport = bpf_ntohs(th.dest);
		data = l4 + th.doff * 4;
		if (skb->len < data + 2 + 12) /* no room for a length and a DNS header */
			return -1;
		if (bpf_skb_load_bytes(skb, data, &prefix, sizeof(prefix)))
			return -1;
		*msg = data + 2;
		*wire = bpf_ntohs(prefix);
		*tcp = 1;
		return 0;
	}
	return -1;
}

static __always_inline int handle(struct __sk_buff *skb, int egress)
{
	__u32 zero = 0, l4 = 0, msg = 0, wire = 0;
	__u16 family, sport = 0, dport = 0;
	__u8 saddr[16] = {}, daddr[16] = {};
	struct dns_event *e;
	__u8 tcp = 0, proto;
	__u64 cookie;
	__u32 len;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff)) /* a later fragment: no transport header */
			return 1;
		l4 = (ip.ihl & 0xf) * 4;
		proto = ip.protocol;
		family = AF_INET;
		__builtin_memcpy(saddr, &ip.saddr, 4);
		__builtin_memcpy(daddr, &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		l4 = sizeof(ip6); /* extension headers are not followed */
		proto = ip6.nexthdr;
		family = AF_INET6;
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		__builtin_memcpy(daddr, &ip6.daddr, 16);
	} else {
		return 1;
	}
	if (l4_ports(skb, proto, l4, &sport, &dport, &msg, &wire, &tcp))
		return 1;
	if (!(egress ? watched_port(dport) : watched_port(sport)))
		return 1;
	e = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!e)
		return 1;
	__builtin_memcpy(e->saddr, saddr, 16);
	__builtin_memcpy(e->daddr, daddr, 16);

	cookie = bpf_get_socket_cookie(skb);
	e->cookie = cookie;
	e->sport = sport;
	e->dport = dport;
	e->family = family;
	e->egress = egress;
	e->tcp = tcp;
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

	e->wire_len = wire;
	len = skb->len > msg ? skb->len - msg : 0;
	if (len > wire)
		len = wire;
	if (len > FERRET_DNS_MAX)
		len = FERRET_DNS_MAX;
	if (len == 0)
		return 1;
	/* In [1, FERRET_DNS_MAX] by construction, whatever register the compiler
	 * checked above: the verifier needs a non-zero bounded size here. */
	len = ((len - 1) & (FERRET_DNS_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, msg, e->data, len))
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
