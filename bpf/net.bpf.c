// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS and flow records, from the packets themselves (cgroup_skb and sock_ops on
 * the root cgroup v2, so every process below it): what the kernel sends and
 * receives, not what a process's buffers say. Packets are never dropped or
 * changed here: every program returns 1 (allow).
 *
 * DNS: queries are seen leaving in the sender's context; responses arrive in
 * softirq context and are attributed through the socket-owner map the egress
 * side fills, keyed by socket cookie.
 *
 * Flows: a TCP connection is tracked in socket storage from connect (whose
 * caller owns it) or from the accept side's establishment (userspace names
 * the owner from the accept event, by socket cookie); sock_ops reports it when
 * it closes, with the kernel's own counters, and the packet hook every
 * flow_active_ns while it is open. UDP is counted per packet into udp_flows,
 * which userspace scans for idle conversations.
 */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct dns_event *_keep_dns_event;
struct flow_event *_keep_flow_event;
struct udp_flow_key *_keep_udp_flow_key;
struct udp_flow *_keep_udp_flow;
enum flow_flags _keep_flow_flags;

/* Flow records on (1) or off (0); interval of interim TCP records. Set by userspace. */
const volatile __u8 flows_on = 0;
const volatile __u64 flow_active_ns = 60000000000ull;

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

/*
 * A tracked TCP connection, in its socket's storage (freed with the socket).
 * Payload bytes are counted from the packets' sequence numbers: each byte of
 * sequence space once (retransmissions are not counted again), SYN and FIN
 * not at all. The kernel's own byte counters include SYN and FIN, and which
 * of those happened cannot be told at close.
 */
struct tcp_flow {
	struct task_ctx owner;
	__u64 start_ns;
	__u64 last_report_ns;
	__u64 bytes_in;
	__u64 bytes_out;
	__u32 next_seq_in; /* end of the payload counted so far, per direction */
	__u32 next_seq_out;
	__u8 seq_in_known;
	__u8 seq_out_known;
	__u8 owner_known;
	__u8 inbound;
	__u8 start_unknown;
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tcp_flow);
} tcp_flows SEC(".maps");

/* UDP conversations; userspace sizes it, scans it and removes idle ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct udp_flow_key);
	__type(value, struct udp_flow);
} udp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_event);
} flow_scratch SEC(".maps");

/* The current task as a BTF pointer, as fill_task wants (these program
 * types have no bpf_get_current_task_btf). */
static __always_inline struct task_struct *current_task(void)
{
	return bpf_core_cast((void *)bpf_get_current_task(), struct task_struct);
}

static __always_inline struct flow_event *flow_record(void)
{
	struct flow_event *e = scratch_of(flow_scratch);

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.kind = EVENT_FLOW;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime_boot_ns = bpf_ktime_get_boot_ns();
	return e;
}

/*
 * Writes a tracked TCP connection's record: owner, start and direction from its
 * tracking state, payload counts from the packet hooks, the kernel's segment
 * counts, and the endpoints from its socket (the same `struct bpf_sock` view in
 * sock_ops and in the packet hooks).
 */
static __always_inline void tcp_flow_submit(struct tcp_flow *f, struct bpf_sock *sk, __u64 cookie, __u32 segs_in,
					    __u32 segs_out, __u32 flags)
{
	struct flow_event *e = flow_record();

	if (!e)
		return;
	e->flags = flags;
	e->start_ns = f->start_ns;
	if (f->owner_known) {
		e->hdr.task = f->owner;
		e->flags |= FLOW_F_OWNER;
	}
	if (f->inbound)
		e->flags |= FLOW_F_INBOUND;
	if (f->start_unknown)
		e->flags |= FLOW_F_START_UNKNOWN;
	e->cookie = cookie;
	e->bytes_in = f->bytes_in;
	e->bytes_out = f->bytes_out;
	e->packets_in = segs_in;
	e->packets_out = segs_out;
	e->family = sk->family;
	e->protocol = IPPROTO_TCP;
	e->lport = sk->src_port;
	e->rport = bpf_ntohs(sk->dst_port);
	if (e->family == AF_INET) {
		__u32 l = sk->src_ip4, r = sk->dst_ip4;
		__builtin_memcpy(e->laddr, &l, 4);
		__builtin_memcpy(e->raddr, &r, 4);
	} else {
		__u32 a[4];
		a[0] = sk->src_ip6[0];
		a[1] = sk->src_ip6[1];
		a[2] = sk->src_ip6[2];
		a[3] = sk->src_ip6[3];
		__builtin_memcpy(e->laddr, a, 16);
		a[0] = sk->dst_ip6[0];
		a[1] = sk->dst_ip6[1];
		a[2] = sk->dst_ip6[2];
		a[3] = sk->dst_ip6[3];
		__builtin_memcpy(e->raddr, a, 16);
	}
	submit(e, sizeof(*e), EVENT_FLOW);
}

/*
 * TCP lifecycle. At connect (the caller's context) and at establishment the
 * connection gets its storage and asks for state callbacks; at TCP_CLOSE
 * (every full socket reaches it, from any state) its record is written.
 */
SEC("sockops")
int flow_sockops(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk;
	struct tcp_flow *f;
	__u32 op = ops->op;

	if (!flows_on)
		return 1;
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;
	sk = ops->sk;
	if (!sk)
		return 1;
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB || op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
		f = bpf_sk_storage_get(&tcp_flows, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!f) {
			count(COUNTER_FLOW_STORAGE_MISS);
			return 1;
		}
		if (!f->start_ns) {
			f->start_ns = bpf_ktime_get_boot_ns();
			f->last_report_ns = f->start_ns;
			f->inbound = op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;
			if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
				fill_task(&f->owner, current_task());
				f->owner_known = 1;
			}
		}
		/* The cookie exists from now on: the connect and accept events carry it. */
		bpf_get_socket_cookie(ops);
		bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		return 1;
	}
	if (op != BPF_SOCK_OPS_STATE_CB || ops->args[1] != BPF_TCP_CLOSE)
		return 1;
	f = bpf_sk_storage_get(&tcp_flows, sk, 0, 0);
	if (!f)
		return 1;
	tcp_flow_submit(f, sk, bpf_get_socket_cookie(ops), ops->segs_in, ops->segs_out,
			ops->args[0] == BPF_TCP_SYN_SENT || ops->args[0] == BPF_TCP_SYN_RECV ? FLOW_F_NOT_ESTABLISHED : 0);
	return 1;
}

/* Adds a segment's new payload (sequence [start, start + len)) to one direction's count. */
static __always_inline void count_payload(__u64 *bytes, __u32 *next, __u8 *known, __u32 start, __u32 len)
{
	__u32 end = start + len;
	__s32 ahead;

	if (!*known) {
		*known = 1;
		*next = end;
		__sync_fetch_and_add(bytes, len);
		return;
	}
	ahead = (__s32)(end - *next);
	if (ahead <= 0)
		return; /* a retransmission, or a pure ACK */
	if ((__s32)(start - *next) > 0)
		ahead = len; /* a gap (an earlier segment not seen here): count this one whole */
	*next = end;
	__sync_fetch_and_add(bytes, (__u32)ahead);
}

/*
 * A packet of a TCP connection: its payload is counted, and when the last
 * record is older than flow_active_ns an interim one is written. A connection
 * open before ferret started gets its storage here (start unknown, no close
 * record: its state callbacks were never asked for).
 */
static __always_inline void tcp_packet(struct __sk_buff *skb, int egress, __u32 l4)
{
	struct bpf_sock *sk = skb->sk;
	struct bpf_tcp_sock *tp;
	struct tcphdr th;
	struct tcp_flow *f;
	__u64 now, last;
	__u32 hdr, len;

	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	now = bpf_ktime_get_boot_ns();
	f = bpf_sk_storage_get(&tcp_flows, sk, 0, 0);
	if (!f) {
		if (sk->state != BPF_TCP_ESTABLISHED)
			return;
		f = bpf_sk_storage_get(&tcp_flows, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!f) {
			count(COUNTER_FLOW_STORAGE_MISS);
			return;
		}
		if (!f->start_ns) {
			f->start_ns = now;
			f->last_report_ns = now;
			f->start_unknown = 1;
		}
	}
	if (!bpf_skb_load_bytes(skb, l4, &th, sizeof(th))) {
		hdr = l4 + th.doff * 4;
		len = skb->len > hdr ? skb->len - hdr : 0;
		/* Payload starts after the SYN's sequence number. */
		__u32 start = bpf_ntohl(th.seq) + th.syn;
		if (egress)
			count_payload(&f->bytes_out, &f->next_seq_out, &f->seq_out_known, start, len);
		else
			count_payload(&f->bytes_in, &f->next_seq_in, &f->seq_in_known, start, len);
	}
	if (sk->state != BPF_TCP_ESTABLISHED)
		return;
	last = f->last_report_ns;
	if (now - last < flow_active_ns)
		return;
	/* One CPU writes the record when both see the interval pass. */
	if (__sync_val_compare_and_swap(&f->last_report_ns, last, now) != last)
		return;
	tp = bpf_tcp_sock(sk);
	if (!tp)
		return;
	tcp_flow_submit(f, sk, bpf_get_socket_cookie(skb), tp->segs_in, tp->segs_out, FLOW_F_INTERIM);
}

/* A UDP datagram: added to its conversation (local socket and peer). */
static __always_inline void udp_packet(struct __sk_buff *skb, int egress, __u16 family, __u8 *saddr, __u8 *daddr,
				       __u16 sport, __u16 dport, __u32 payload)
{
	struct udp_flow_key key = {};
	struct udp_flow *v;
	__u64 now = bpf_ktime_get_boot_ns();

	key.cookie = bpf_get_socket_cookie(skb);
	if (!key.cookie)
		return;
	key.family = family;
	key.rport = egress ? dport : sport;
	__builtin_memcpy(key.raddr, egress ? daddr : saddr, 16);
	v = bpf_map_lookup_elem(&udp_flows, &key);
	if (!v) {
		struct udp_flow init = {};
		init.first_ns = now;
		init.inbound = !egress;
		init.lport = egress ? sport : dport;
		__builtin_memcpy(init.laddr, egress ? saddr : daddr, 16);
		if (bpf_map_update_elem(&udp_flows, &key, &init, BPF_NOEXIST) && bpf_map_lookup_elem(&udp_flows, &key) == 0) {
			count(COUNTER_FLOW_TABLE_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&udp_flows, &key);
		if (!v)
			return;
	}
	v->last_ns = now;
	if (egress) {
		__sync_fetch_and_add(&v->bytes_out, payload);
		__sync_fetch_and_add(&v->packets_out, 1);
		/* A send is made in its owner's context. */
		if (!v->owner_known) {
			fill_task(&v->owner, current_task());
			v->owner_known = 1;
		}
	} else {
		__sync_fetch_and_add(&v->bytes_in, payload);
		__sync_fetch_and_add(&v->packets_in, 1);
	}
}

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
	if (flows_on && proto == IPPROTO_TCP)
		tcp_packet(skb, egress, l4);
	if (l4_ports(skb, proto, l4, &sport, &dport, &msg, &wire, &tcp))
		return 1;
	if (flows_on && proto == IPPROTO_UDP)
		udp_packet(skb, egress, family, saddr, daddr, sport, dport, wire);
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
		fill_task(&e->hdr.task, current_task());
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
	submit_used(e, len, EVENT_DNS);
	return 1;
}

SEC("cgroup_skb/egress")
int net_egress(struct __sk_buff *skb)
{
	return handle(skb, 1);
}

SEC("cgroup_skb/ingress")
int net_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0);
}
