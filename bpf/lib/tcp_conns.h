// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The TCP connections being tracked (struct tcp_conn), keyed by socket cookie.
 * Both the network object (which makes, reports and frees entries) and the
 * syscall object (which names the owner of an accepted connection) declare it
 * here; userspace sizes it and gives both the same map.
 *
 * An array used as an open-addressing table rather than a hash map: a hash
 * map's update takes a bucket lock and a free-list lock, the largest single
 * cost of a connection in a profile, while array lookups are inlined loads.
 * An entry is claimed by a compare-and-swap of its cookie from 0 and freed by
 * writing 0; a connection probes TCP_CONN_PROBES slots from its hash, so when
 * all of them are taken it is not tracked (and counted).
 */
#ifndef FERRET_TCP_CONNS_H
#define FERRET_TCP_CONNS_H

#define TCP_CONN_PROBES 16

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536); /* flows.tcp_max, rounded up to a power of two */
	__type(key, __u32);
	__type(value, struct tcp_conn);
} tcp_conns SEC(".maps");

/* max_entries - 1, set by userspace. */
const volatile __u32 tcp_conns_mask = 65535;

static __always_inline struct tcp_conn *tcp_conn_slot(__u64 cookie, __u32 i)
{
	__u32 k = ((__u32)((cookie * 0x9E3779B97F4A7C15ULL) >> 32) + i) & tcp_conns_mask;

	return bpf_map_lookup_elem(&tcp_conns, &k);
}

/* The entry tracking cookie's connection, or 0. */
static __always_inline struct tcp_conn *tcp_conn_find(__u64 cookie)
{
	for (__u32 i = 0; i < TCP_CONN_PROBES; i++) {
		struct tcp_conn *c = tcp_conn_slot(cookie, i);

		if (c && c->cookie == cookie)
			return c;
	}
	return 0;
}

/*
 * A free entry claimed for cookie, zeroed but for the cookie, or 0 when every
 * probed slot belongs to another connection. The caller has looked for the
 * cookie's own entry first (tcp_conn_find) where it can exist.
 */
static __always_inline struct tcp_conn *tcp_conn_claim(__u64 cookie)
{
	if (!cookie)
		return 0;
	for (__u32 i = 0; i < TCP_CONN_PROBES; i++) {
		struct tcp_conn *c = tcp_conn_slot(cookie, i);

		if (c && c->cookie == 0 && __sync_val_compare_and_swap(&c->cookie, 0, cookie) == 0) {
			__builtin_memset((char *)c + sizeof(c->cookie), 0, sizeof(*c) - sizeof(c->cookie));
			return c;
		}
	}
	count(COUNTER_TCP_TABLE_FULL);
	return 0;
}

/* The connection is gone: its slot can be claimed again. */
static __always_inline void tcp_conn_free(struct tcp_conn *c)
{
	barrier();
	c->cookie = 0;
}

#endif /* FERRET_TCP_CONNS_H */
