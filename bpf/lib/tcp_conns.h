// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The TCP connections being tracked (struct tcp_conn), keyed by socket cookie.
 * Both the network object (which makes, reports and frees entries) and the
 * syscall object (which names the owner of an accepted connection) include
 * this; userspace sizes the maps and gives both objects the same ones.
 *
 * Arrays used as a hash table rather than a hash map: a hash map's update
 * takes a bucket lock and a free-list lock, the largest single cost of a
 * connection in a profile, while array lookups are inlined loads. In the same
 * profile, cache and TLB misses on slots picked by a hash, scattered over
 * megabytes, were most of what was left; so the layout keeps the connections
 * made one after another close together:
 *
 * - The index: buckets of TCP_CONN_WAYS ways, each a cookie (0: free) and the
 *   number of its entry. A way is claimed by a compare-and-swap of its cookie
 *   from 0 and freed by writing 0. A connection's home bucket is shared by
 *   TCP_CONN_RUN consecutive cookies (the kernel hands them out in order, in
 *   per-CPU batches), so a connect loop stays on a few cache lines. When the
 *   home is full (long-lived connections) the connection goes to a spare
 *   bucket picked by a hash keyed with a secret chosen at load, and the home
 *   counts it so lookups there know to look further. The home of a future
 *   cookie is predictable (and a process can learn its own cookies with
 *   SO_COOKIE); filling it only sends the connection to a spare no one can
 *   predict.
 * - The entries (tcp_conns): each CPU takes the next free one after the last
 *   it took, and takes a just-freed one again first, so a loop reuses the same
 *   few entries. When the next TCP_CONN_WAYS entries are all taken, the ones
 *   at the spare bucket's position are tried, and the CPU goes on from there.
 *
 * When no way or no entry is free the connection is not tracked (and counted).
 */
#ifndef FERRET_TCP_CONNS_H
#define FERRET_TCP_CONNS_H

#define TCP_CONN_WAYS FERRET_TCP_CONN_WAYS
/* Consecutive cookies that share a home bucket: half its ways, leaving the
 * other half for connections that outlive a round of the table. */
#define TCP_CONN_RUN 8
/* An entry's cookie while it is being set up: matches no connection. */
#define TCP_CONN_BUSY (~0ULL)

struct tcp_conn_bucket {
	__u64 cookie[TCP_CONN_WAYS]; /* 0: a free way */
	__u32 entry[TCP_CONN_WAYS]; /* its entry in tcp_conns, valid when that entry has the same cookie */
	__u32 spilled; /* connections whose home this is, in their spare bucket */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096); /* tcp_conns / TCP_CONN_WAYS, set by userspace */
	__type(key, __u32);
	__type(value, struct tcp_conn_bucket);
} tcp_conn_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536); /* flows.tcp_max, rounded up to a power of two */
	__type(key, __u32);
	__type(value, struct tcp_conn);
} tcp_conns SEC(".maps");

/* Set by userspace: buckets - 1, entries - 1, and the spare hash's key. */
const volatile __u32 tcp_conn_bucket_mask = 4095;
const volatile __u32 tcp_conns_mask = 65535;
const volatile __u64 tcp_conn_hash_key = 0;

static __always_inline __u32 tcp_conn_home(__u64 cookie)
{
	return (__u32)(cookie / TCP_CONN_RUN) & tcp_conn_bucket_mask;
}

static __always_inline __u32 tcp_conn_spare(__u64 cookie)
{
	return (__u32)(((cookie ^ tcp_conn_hash_key) * 0x9E3779B97F4A7C15ULL) >> 32) & tcp_conn_bucket_mask;
}

static __always_inline struct tcp_conn_bucket *tcp_conn_bucket_at(__u32 b)
{
	return bpf_map_lookup_elem(&tcp_conn_buckets, &b);
}

/*
 * Per CPU: a way number passed through memory. The way scans are unrolled, so
 * the verifier would follow everything after a scan once per way found (the
 * number is a different constant on each path); read back from a map it is
 * one unknown number, checked once. A store and a load, against most of the
 * network programs' verification.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, int);
} tcp_conn_way_blur SEC(".maps");

static __always_inline int tcp_conn_blur(int way)
{
	__u32 zero = 0;
	int *w = bpf_map_lookup_elem(&tcp_conn_way_blur, &zero);

	if (!w)
		return way;
	*w = way;
	return *(volatile int *)w;
}

/* The way of bk that holds cookie, or -1. */
static __always_inline int tcp_conn_way(struct tcp_conn_bucket *bk, __u64 cookie)
{
	int way = -1;

	for (int i = 0; i < TCP_CONN_WAYS; i++)
		if (bk->cookie[i] == cookie) {
			way = i;
			break;
		}
	return tcp_conn_blur(way);
}

/* Entry k, if it still belongs to cookie. Cookies are never reused, so a way
 * whose entry number is stale (or not written yet) does not match. */
static __always_inline struct tcp_conn *tcp_conn_entry(__u32 k, __u64 cookie)
{
	struct tcp_conn *c = bpf_map_lookup_elem(&tcp_conns, &k);

	return c && c->cookie == cookie ? c : 0;
}

/* The entry of bk's way, if it belongs to cookie. */
static __always_inline struct tcp_conn *tcp_conn_of_way(struct tcp_conn_bucket *bk, int way, __u64 cookie)
{
	return tcp_conn_entry(bk->entry[way & (TCP_CONN_WAYS - 1)], cookie);
}

/* One connection fewer in its spare bucket. */
static __always_inline void tcp_conn_unspill(struct tcp_conn_bucket *home)
{
	__sync_fetch_and_add(&home->spilled, -1); /* a subtraction the BPF backend can emit */
}

/*
 * The bucket and way that hold cookie (*spare: 1 if that is its spare
 * bucket), or 0. The spare is read only when the home counts connections
 * spilled there.
 */
static __always_inline struct tcp_conn_bucket *tcp_conn_locate(__u64 cookie, int *way, int *spare)
{
	struct tcp_conn_bucket *home = tcp_conn_bucket_at(tcp_conn_home(cookie)), *bk;

	if (!cookie || !home)
		return 0;
	*spare = 0;
	*way = tcp_conn_way(home, cookie);
	if (*way >= 0)
		return home;
	if (!home->spilled)
		return 0;
	bk = tcp_conn_bucket_at(tcp_conn_spare(cookie));
	if (!bk)
		return 0;
	*spare = 1;
	*way = tcp_conn_way(bk, cookie);
	return *way >= 0 ? bk : 0;
}

/* The entry tracking cookie's connection, or 0. */
static __always_inline struct tcp_conn *tcp_conn_find(__u64 cookie)
{
	int way = 0, spare = 0;
	struct tcp_conn_bucket *bk = tcp_conn_locate(cookie, &way, &spare);

	return bk ? tcp_conn_of_way(bk, way, cookie) : 0;
}

#ifdef TCP_CONNS_MAKER
/* Only the network object makes entries. */

/* Per CPU: where this CPU looks for its next entry (set: 1 once started). */
struct tcp_conn_cursor {
	__u32 next;
	__u32 set;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_conn_cursor);
} tcp_conn_cursors SEC(".maps");

/* The first free entry of the TCP_CONN_WAYS from start, taken (busy). */
static __always_inline struct tcp_conn *tcp_conn_take(__u32 start, __u32 *k)
{
	for (__u32 i = 0; i < TCP_CONN_WAYS; i++) {
		struct tcp_conn *c;

		*k = (start + i) & tcp_conns_mask;
		c = bpf_map_lookup_elem(&tcp_conns, k);
		if (c && c->cookie == 0 && __sync_val_compare_and_swap(&c->cookie, 0, TCP_CONN_BUSY) == 0)
			return c;
	}
	return 0;
}

/* A free way of bk, claimed for cookie, or -1. */
static __always_inline int tcp_conn_take_way(struct tcp_conn_bucket *bk, __u64 cookie)
{
	int way = -1;

	for (int i = 0; i < TCP_CONN_WAYS; i++)
		if (bk->cookie[i] == 0 && __sync_val_compare_and_swap(&bk->cookie[i], 0, cookie) == 0) {
			way = i;
			break;
		}
	return tcp_conn_blur(way);
}

/*
 * A new entry for cookie, zeroed but for the cookie, or 0 when no way or no
 * entry is free where it looks. The caller has looked for the cookie's own
 * entry first (tcp_conn_find) where it can exist.
 */
static __always_inline struct tcp_conn *tcp_conn_claim(__u64 cookie)
{
	struct tcp_conn_cursor *cur = scratch_of(tcp_conn_cursors);
	__u32 spare_b = tcp_conn_spare(cookie), k = 0;
	struct tcp_conn_bucket *home, *bk;
	struct tcp_conn *c = 0;
	int way, spilled = 0;

	if (!cookie || !cur)
		return 0;
	home = tcp_conn_bucket_at(tcp_conn_home(cookie));
	if (!home)
		return 0;
	bk = home;
	way = tcp_conn_take_way(home, cookie);
	if (way < 0) {
		bk = tcp_conn_bucket_at(spare_b);
		if (!bk)
			return 0;
		/* Counted first: a lookup that finds no way at home must know. */
		__sync_fetch_and_add(&home->spilled, 1);
		spilled = 1;
		way = tcp_conn_take_way(bk, cookie);
		if (way < 0)
			goto full;
	}
	way &= TCP_CONN_WAYS - 1;
	/* The way is ours; now an entry: after this CPU's last one (a CPU's
	 * first is at its first spare position, so that CPUs start apart),
	 * else at the spare position. */
	if (cur->set)
		c = tcp_conn_take(cur->next, &k);
	if (!c)
		c = tcp_conn_take(spare_b * TCP_CONN_WAYS, &k);
	if (!c) {
		bk->cookie[way] = 0;
		goto full;
	}
	cur->next = k + 1;
	cur->set = 1;
	__builtin_memset((char *)c + sizeof(c->cookie), 0, sizeof(*c) - sizeof(c->cookie));
	barrier();
	c->cookie = cookie;
	bk->entry[way] = k;
	return c;
full:
	if (spilled)
		tcp_conn_unspill(home);
	count(COUNTER_TCP_TABLE_FULL);
	return 0;
}

/*
 * The connection is gone: its entry (c, if found) and its way (from
 * tcp_conn_locate) can be taken again. An entry just below this CPU's cursor
 * is taken again next (its lines are in this CPU's cache, where the entries
 * beyond the cursor are cold): a connect loop then reuses the same few entries.
 */
static __always_inline void tcp_conn_release(struct tcp_conn_bucket *bk, int way, int spare, struct tcp_conn *c,
					     __u64 cookie)
{
	struct tcp_conn_cursor *cur = scratch_of(tcp_conn_cursors);
	struct tcp_conn_bucket *home;
	__u32 k;

	way &= TCP_CONN_WAYS - 1;
	if (c) {
		k = bk->entry[way];
		c->cookie = 0;
		if (cur && cur->set && cur->next - k - 1 < TCP_CONN_WAYS)
			cur->next = k;
	}
	barrier();
	bk->cookie[way] = 0;
	if (spare) {
		home = tcp_conn_bucket_at(tcp_conn_home(cookie));
		if (home)
			tcp_conn_unspill(home);
	}
}

#endif /* TCP_CONNS_MAKER */

#endif /* FERRET_TCP_CONNS_H */
