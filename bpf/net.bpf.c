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
 * Flows: a TCP connection is tracked in the tcp_conns table, by socket cookie,
 * from connect (whose caller owns it) or establishment (the accept syscall
 * names the owner); when its socket is destroyed (tcp_destroy_sock) it is
 * reported with the kernel's own counters and removed. The packet hooks add
 * nothing per segment: only a segment with payload looks the connection up, to
 * write an interim record every flow_active_ns. UDP is counted per packet into
 * udp_flows, which userspace scans for idle conversations.
 */
#include "lib/common.h"
#define TCP_CONNS_MAKER
#include "lib/tcp_conns.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct dns_event *_keep_dns_event;
struct flow_event *_keep_flow_event;
struct udp_flow_key *_keep_udp_flow_key;
struct udp_flow *_keep_udp_flow;
struct tcp_conn *_keep_tcp_conn;
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
#define CLOCK_MONOTONIC 1
#define EBUSY 16

/* UDP and TCP ports that carry DNS (host byte order), set by userspace: a
 * short list compared in registers, on a path every packet takes. */
#define DNS_PORTS_MAX 16
const volatile __u16 dns_ports[DNS_PORTS_MAX] = {};
const volatile __u32 dns_port_count = 0;

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

/* UDP conversations; userspace sizes it, scans it and removes idle ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct udp_flow_key);
	__type(value, struct udp_flow);
} udp_flows SEC(".maps");

/*
 * Flow times without a clock read per connection. The clock helper costs 50
 * to 65 ns on the benchmark machine (a helper call, an indirect call to the
 * clocksource, returns through the kernel's return thunks), and a connection
 * pair took four. TCP keeps its own clock reading (tcp_clock_cache,
 * CLOCK_MONOTONIC ns), taken whenever it processes a segment it received or
 * sends one: when an accepted connection is established and when a socket
 * ends after its last segment, it is microseconds old. It is used when it is
 * provably recent, within a tick of a reference this CPU took in the current
 * tick (so at most about two ticks old); otherwise the clock is read. The
 * reference and the offset of the boot clock (what records carry) to the
 * monotonic one are taken again on each CPU once per tick (jiffies changed).
 * Without the tick length (the kernel's configuration was not found) every
 * time is a clock read, as before.
 */
const volatile __u64 tick_ns = 0;

struct tick_clock {
	__u64 jiffies; /* when taken */
	__u64 mono_ns; /* CLOCK_MONOTONIC then */
	__u64 boot_offset_ns; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC (wraps as a u64 if negative: never) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tick_clock);
} tick_clocks SEC(".maps");

static __always_inline struct tick_clock *tick_clock(void)
{
	__u32 zero = 0;
	struct tick_clock *t = bpf_map_lookup_elem(&tick_clocks, &zero);
	__u64 j, m0, b, m1;

	if (!t)
		return 0;
	j = bpf_jiffies64();
	if (t->jiffies != j) {
		/* The boot clock read between two monotonic ones: the offset to their midpoint. */
		m0 = bpf_ktime_get_ns();
		b = bpf_ktime_get_boot_ns();
		m1 = bpf_ktime_get_ns();
		t->mono_ns = m1;
		t->boot_offset_ns = b - (m0 + (m1 - m0) / 2);
		t->jiffies = j;
	}
	return t;
}

/* Boot-clock ns of TCP's last clock reading for tp if it is recent, else of now. */
static __always_inline __u64 tcp_recent_boot_ns(struct tcp_sock *tp)
{
	struct tick_clock *t;
	__u64 c;

	if (!tick_ns || !bpf_core_field_exists(tp->tcp_clock_cache))
		return bpf_ktime_get_boot_ns();
	t = tick_clock();
	if (!t)
		return bpf_ktime_get_boot_ns();
	c = tp->tcp_clock_cache;
	/* Within [reference - tick, reference + tick); the reference is less than a tick old. */
	if (c - (t->mono_ns - tick_ns) >= 2 * tick_ns)
		return bpf_ktime_get_boot_ns();
	return c + t->boot_offset_ns;
}

/* The current task as a BTF pointer, as fill_task wants (these program
 * types have no bpf_get_current_task_btf). */
static __always_inline struct task_struct *current_task(void)
{
	return bpf_core_cast((void *)bpf_get_current_task(), struct task_struct);
}

/* An IPv6 address of the socket into a record's 16 bytes, as direct loads. */
static __always_inline void copy_in6(__u8 *dst, const struct in6_addr *a)
{
	__u32 w[4] = { a->in6_u.u6_addr32[0], a->in6_u.u6_addr32[1], a->in6_u.u6_addr32[2], a->in6_u.u6_addr32[3] };

	__builtin_memcpy(dst, w, 16);
}

/* An IPv4 address into a record's 16 bytes: the first four, the rest zero. */
static __always_inline void copy_in4(__u8 *dst, __u32 a)
{
	__u32 w[4] = { a };

	__builtin_memcpy(dst, w, 16);
}

/* The socket's local address, by its family. */
static __always_inline void sock_local_addr(__u8 *dst, struct sock *sk)
{
	if (sk->__sk_common.skc_family == AF_INET)
		copy_in4(dst, sk->__sk_common.skc_rcv_saddr);
	else
		copy_in6(dst, &sk->__sk_common.skc_v6_rcv_saddr);
}

/*
 * Writes a tracked TCP connection's record but for its header: start and
 * direction from its tracking entry; totals and endpoints from the socket
 * itself. Payload bytes are the kernel's counters: sent less retransmitted,
 * and received less the peer's FIN (which takes one byte of sequence space;
 * SOCK_DONE says it came). Every field is written (the ring and the batches
 * are not zeroed). `flags` gets FLOW_F_OWNER* when the entry has an owner.
 */
static __always_inline void tcp_conn_body(struct flow_body *e, struct tcp_conn *c, struct tcp_sock *tp, __u64 cookie,
					  __u32 flags)
{
	struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	__u64 in;

	if (c->owner_known) {
		flags |= FLOW_F_OWNER;
		if (c->owner_known == 2)
			flags |= FLOW_F_OWNER_ACCEPT;
	}
	if (c->inbound)
		flags |= FLOW_F_INBOUND;
	if (c->start_unknown)
		flags |= FLOW_F_START_UNKNOWN;
	e->flags = flags;
	e->start_ns = c->start_ns;
	e->cookie = cookie;
	in = tp->bytes_received;
	if (in && (sk->__sk_common.skc_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		in--;
	e->bytes_in = in;
	e->bytes_out = tp->bytes_sent - tp->bytes_retrans;
	e->packets_in = tp->segs_in;
	e->packets_out = tp->segs_out;
	e->family = sk->__sk_common.skc_family;
	e->protocol = IPPROTO_TCP;
	e->_pad = 0;
	e->_pad2 = 0;
	e->lport = sk->__sk_common.skc_num ?: c->lport;
	e->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	sock_local_addr(e->laddr, sk);
	if (e->family == AF_INET)
		copy_in4(e->raddr, sk->__sk_common.skc_daddr);
	else
		copy_in6(e->raddr, &sk->__sk_common.skc_v6_daddr);
	/* A connect's socket with no peer port was disconnected, which also
	 * cleared an unbound local address: both as they were at connect. */
	if (!e->rport && c->rport) {
		e->rport = c->rport;
		__builtin_memcpy(e->laddr, c->laddr, 16);
	}
}

/* A connection's record, sent alone: written in place in the ring. */
static __always_inline void tcp_conn_submit(struct tcp_conn *c, struct tcp_sock *tp, __u64 cookie, __u32 flags,
					    __u64 now)
{
	struct flow_event *e = reserve_record(struct flow_event, EVENT_FLOW);

	if (!e)
		return;
	e->hdr.ktime_boot_ns = now;
	e->hdr.kind = EVENT_FLOW;
	e->hdr.size = sizeof(*e);
	if (c->owner_known)
		e->hdr.task = c->owner;
	else
		__builtin_memset(&e->hdr.task, 0, sizeof(e->hdr.task));
	tcp_conn_body(&e->f, c, tp, cookie, flags);
	commit_record(e);
}

/*
 * Close records wait in a batch per CPU and cross the ring FERRET_FLOW_BATCH
 * at a time, in one frame (EVENT_FLOW_BATCH): one reservation of the ring for
 * 16 records (45 to 50 ns less per record on the benchmark machine, and 16
 * times fewer takes of the ring's lock, which every CPU shares).
 * A timer sends a batch that is not full within flow_batch_wait_ns, so a
 * record waits at most that much longer (userspace sets it to its poll tick).
 * A batch is taken with a compare-and-swap on `busy`, by the close or by the
 * timer, which may run on another CPU; a close that finds it taken sends its
 * record alone. The array has one element per possible CPU.
 */
const volatile __u64 flow_batch_wait_ns = 10000000ull;

struct flow_batch {
	struct bpf_timer timer;
	__u64 busy; /* 1 while a close or the timer works on the batch (64 bits: BPF's atomics) */
	__u8 timer_ready; /* the timer is initialised, its callback set */
	__u8 armed; /* the timer is running: a record is waiting, or was */
	__u8 _pad[6];
	/* The frame sent: head, every slot of rec (the first head.count in use), then
	 * owner[0..head.owners). */
	struct flow_batch_header head;
	struct flow_batch_rec rec[FERRET_FLOW_BATCH];
	struct task_ctx owner[FERRET_FLOW_BATCH];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the possible CPUs by userspace */
	__type(key, __u32);
	__type(value, struct flow_batch);
} flow_batches SEC(".maps");

/* Sends the records waiting in a batch (taken by the caller) and empties it. */
static __always_inline void flow_batch_send(struct flow_batch *b)
{
	__u32 n = b->head.count, m = b->head.owners;
	__u64 size;

	if (!n)
		return;
	if (n > FERRET_FLOW_BATCH)
		n = FERRET_FLOW_BATCH;
	if (m > FERRET_FLOW_BATCH)
		m = FERRET_FLOW_BATCH;
	size = sizeof(b->head) + sizeof(b->rec) + (__u64)m * sizeof(struct task_ctx);
	b->head._zero = 0;
	b->head.kind = EVENT_FLOW_BATCH;
	b->head.size = size;
	b->head.count = n;
	b->head.owners = m;
	if (bpf_ringbuf_output(&events, &b->head, size, wakeup_flags(size)) != 0)
		count_n(EVENT_FLOW, n);
	b->head.count = 0;
	b->head.owners = 0;
}

/*
 * The index of c's owner among the batch's owners, added unless it is one of
 * the last two (a process's own connections, or a client and a server taking
 * turns); FLOW_NO_OWNER when the entry has none.
 */
static __always_inline __u32 flow_batch_owner(struct flow_batch *b, struct tcp_conn *c)
{
	__u32 m = b->head.owners;

	if (!c->owner_known || m >= FERRET_FLOW_BATCH) /* never full: one owner per record at most */
		return FLOW_NO_OWNER;
	if (m >= 1 && same_words(&b->owner[(m - 1) & (FERRET_FLOW_BATCH - 1)], &c->owner, sizeof(c->owner) / 8))
		return m - 1;
	if (m >= 2 && same_words(&b->owner[(m - 2) & (FERRET_FLOW_BATCH - 1)], &c->owner, sizeof(c->owner) / 8))
		return m - 2;
	b->owner[m & (FERRET_FLOW_BATCH - 1)] = c->owner;
	b->head.owners = m + 1;
	return m;
}

/* The batch's timer: sends what waits, or tries again shortly if a close holds it. */
static int flow_batch_timer(void *map, __u32 *key, struct flow_batch *b)
{
	if (__sync_val_compare_and_swap(&b->busy, 0, 1) != 0) {
		bpf_timer_start(&b->timer, flow_batch_wait_ns / 8 + 1, 0);
		return 0;
	}
	flow_batch_send(b);
	b->armed = 0;
	__sync_lock_test_and_set(&b->busy, 0);
	return 0;
}

/* Adds a close record to this CPU's batch; 0 if the caller must send it alone. */
static __always_inline int flow_batch_add(struct tcp_conn *c, struct tcp_sock *tp, __u64 cookie, __u32 flags, __u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id(), n;
	struct flow_batch *b = bpf_map_lookup_elem(&flow_batches, &cpu);

	if (!b || __sync_val_compare_and_swap(&b->busy, 0, 1) != 0)
		return 0;
	if (!b->timer_ready) {
		/* -EBUSY: initialised already (by a close that then could not set the callback). */
		int err = bpf_timer_init(&b->timer, &flow_batches, CLOCK_MONOTONIC);

		if ((err == 0 || err == -EBUSY) && bpf_timer_set_callback(&b->timer, flow_batch_timer) == 0)
			b->timer_ready = 1;
	}
	n = b->head.count;
	if (n >= FERRET_FLOW_BATCH) /* never left full; bounds the index */
		n = FERRET_FLOW_BATCH - 1;
	{
		struct flow_batch_rec *r = &b->rec[n];

		r->ktime_boot_ns = now;
		r->owner = flow_batch_owner(b, c);
		r->_pad = 0;
		tcp_conn_body(&r->f, c, tp, cookie, flags);
		if (r->owner == FLOW_NO_OWNER)
			r->f.flags &= ~(FLOW_F_OWNER | FLOW_F_OWNER_ACCEPT);
	}
	b->head.count = n + 1;
	/* Full, or no timer to send it later: now. */
	if (n + 1 >= FERRET_FLOW_BATCH || !b->timer_ready) {
		flow_batch_send(b);
	} else if (!b->armed) {
		if (bpf_timer_start(&b->timer, flow_batch_wait_ns, 0) == 0)
			b->armed = 1;
		else
			flow_batch_send(b);
	}
	__sync_lock_test_and_set(&b->busy, 0);
	return 1;
}

/* A tracked connection's close record, sent with its CPU's batch (or alone). */
static __always_inline void tcp_conn_close(struct tcp_conn *c, struct tcp_sock *tp, __u64 cookie)
{
	__u64 now = tcp_recent_boot_ns(tp);
	/* The peer acknowledged our SYN (bytes_acked counts its sequence
	 * number), or this is the accepting side: it was established. */
	__u32 flags = (c->inbound || c->start_unknown || tp->bytes_acked) ? 0 : FLOW_F_NOT_ESTABLISHED;

	if (!flow_batch_add(c, tp, cookie, flags, now))
		tcp_conn_submit(c, tp, cookie, flags, now);
}

/*
 * TCP lifecycle: connect (in the caller's context: the owner) and the passive
 * establishment make the tracking entry. No state callbacks are asked for:
 * the close is seen where the socket is destroyed, and whether an outgoing
 * connection was ever established is read from the socket there.
 */
SEC("sockops")
int flow_sockops(struct bpf_sock_ops *ops)
{
	struct tcp_conn *c = 0;
	__u32 op = ops->op;
	__u64 cookie;

	if (!flows_on)
		return 1;
	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;
	/* The cookie exists from now on: the connect and accept events carry it. */
	cookie = bpf_get_socket_cookie(ops);
	/* A connect again on the same socket starts its entry over; an
	 * accepted socket is new. */
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB)
		c = tcp_conn_find(cookie);
	if (!c)
		c = tcp_conn_claim(cookie);
	if (!c)
		return 1;
	/* An accepted connection's TCP has just read the clock (for the
	 * handshake's last segment); a connect's has not yet (for its SYN). */
	if (op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && ops->sk)
		c->start_ns = tcp_recent_boot_ns(bpf_core_cast(ops->sk, struct tcp_sock));
	else
		c->start_ns = bpf_ktime_get_boot_ns();
	c->last_report_ns = c->start_ns;
	c->lport = ops->local_port;
	c->inbound = op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;
	c->start_unknown = 0;
	c->reported = 0;
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
		fill_task(&c->owner, current_task());
		c->owner_known = 1;
		if (ops->sk) {
			struct sock *sk = bpf_core_cast(ops->sk, struct sock);

			c->rport = bpf_ntohs(sk->__sk_common.skc_dport);
			sock_local_addr(c->laddr, sk);
		}
	}
	return 1;
}

/* A TCP socket's end (every full socket passes here once): its record, if tracked. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(flow_destroy, struct sock *sk)
{
	struct tcp_conn_bucket *bk;
	struct tcp_conn *c;
	int way = 0, spare = 0;
	__u64 cookie;

	if (!flows_on)
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie) /* never given one: never tracked */
		return 0;
	bk = tcp_conn_locate(cookie, &way, &spare);
	if (!bk)
		return 0;
	c = tcp_conn_of_way(bk, way, cookie);
	if (c && !c->reported)
		tcp_conn_close(c, bpf_core_cast(sk, struct tcp_sock), cookie);
	tcp_conn_release(bk, way, spare, c, cookie);
	return 0;
}

/*
 * A reset this host sends on a connection it abandons (SO_LINGER 0, a close
 * with unread data, a disconnect). The kernel then clears the socket's peer,
 * local address and counters (tcp_disconnect) before the socket is destroyed:
 * without this, such a connection's record said "failed", no peer, no bytes,
 * which is how a program could hide a transfer. So the record is written here,
 * while they are intact, and the destroy sends none. Only for a socket already
 * in TCP_CLOSE: a reset answering a stray segment leaves its connection as it
 * was. (A connect again on the socket starts its entry over.)
 */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(flow_reset, const struct sock *sk)
{
	struct tcp_conn *c;
	__u64 cookie;

	if (!flows_on || !sk || sk->__sk_common.skc_state != TCP_CLOSE)
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		return 0;
	c = tcp_conn_find(cookie);
	if (!c || c->reported)
		return 0;
	tcp_conn_close(c, bpf_core_cast(sk, struct tcp_sock), cookie);
	c->reported = 1;
	return 0;
}

/*
 * A TCP segment carrying payload: an interim record when the connection's last
 * record is older than flow_active_ns. A connection open before ferret started
 * is taken up here (start unknown; owner unknown). The handshake, pure ACKs and
 * FINs never get here.
 */
static __always_inline void tcp_payload(struct __sk_buff *skb)
{
	/* The interval test needs no clock read per segment: this tick's reference will do. */
	struct tick_clock *t = tick_ns ? tick_clock() : 0;
	__u64 cookie = bpf_get_socket_cookie(skb), last = 0;
	__u64 now = t ? t->mono_ns + t->boot_offset_ns : bpf_ktime_get_boot_ns();
	struct tcp_conn *c = tcp_conn_find(cookie);
	struct bpf_sock *sk = skb->sk;
	struct tcp_sock *tp;

	if (c) {
		last = c->last_report_ns;
		/* Signed: the reference may be older than a start read from the clock. */
		if ((__s64)(now - last) < (__s64)flow_active_ns)
			return;
	}
	if (!sk)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp || tp->inet_conn.icsk_inet.sk.__sk_common.skc_state != BPF_TCP_ESTABLISHED)
		return;
	if (!c) {
		c = tcp_conn_claim(cookie);
		if (c) {
			c->start_ns = now;
			c->last_report_ns = now;
			c->start_unknown = 1;
			c->lport = tp->inet_conn.icsk_inet.sk.__sk_common.skc_num;
		}
		return;
	}
	/* One CPU writes the record when both see the interval pass. */
	if (__sync_val_compare_and_swap(&c->last_report_ns, last, now) != last)
		return;
	tcp_conn_submit(c, tp, cookie, FLOW_F_INTERIM, tcp_recent_boot_ns(tp));
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
	for (int i = 0; i < DNS_PORTS_MAX; i++) {
		if (i >= dns_port_count)
			return 0;
		if (dns_ports[i] == port)
			return 1;
	}
	return 0;
}

/*
 * Copies len bytes at off of the packet (which starts at its network header):
 * straight from the linear part when they are there, which headers always are
 * on this path, else through the helper.
 */
static __always_inline int pkt_read(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (off <= 64 && data + off + len <= end) {
		__builtin_memcpy(to, data + off, len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, to, len);
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
		if (pkt_read(skb, 0, &ip, sizeof(ip)))
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
		if (pkt_read(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		l4 = sizeof(ip6); /* extension headers are not followed */
		proto = ip6.nexthdr;
		family = AF_INET6;
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		__builtin_memcpy(daddr, &ip6.daddr, 16);
	} else {
		return 1;
	}
	if (proto == IPPROTO_TCP) {
		/*
		 * Over TCP a segment is taken to start a DNS message (its 2-byte
		 * length prefix first), which is how queries and most answers
		 * travel; a message spread over several segments is captured in
		 * part and says so.
		 */
		struct tcphdr th;
		__u16 prefix;
		__u32 data;
		if (pkt_read(skb, l4, &th, sizeof(th)))
			return 1;
		data = l4 + th.doff * 4;
		if (flows_on && skb->len > data)
			tcp_payload(skb);
		sport = bpf_ntohs(th.source);
		dport = bpf_ntohs(th.dest);
		if (!(egress ? watched_port(dport) : watched_port(sport)))
			return 1;
		if (skb->len < data + 2 + 12) /* no room for a length and a DNS header */
			return 1;
		if (bpf_skb_load_bytes(skb, data, &prefix, sizeof(prefix)))
			return 1;
		msg = data + 2;
		wire = bpf_ntohs(prefix);
		tcp = 1;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr udp;
		if (pkt_read(skb, l4, &udp, sizeof(udp)))
			return 1;
		sport = bpf_ntohs(udp.source);
		dport = bpf_ntohs(udp.dest);
		msg = l4 + sizeof(udp);
		wire = skb->len > msg ? skb->len - msg : 0;
		if (flows_on)
			udp_packet(skb, egress, family, saddr, daddr, sport, dport, wire);
		if (!(egress ? watched_port(dport) : watched_port(sport)))
			return 1;
	} else {
		return 1;
	}
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
