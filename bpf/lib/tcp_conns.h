// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The TCP connections being tracked, keyed by socket cookie (struct tcp_conn).
 * Both the network object (which makes, reports and removes them) and the
 * syscall object (which names the owner of an accepted one) declare it here;
 * userspace sizes it and gives both the same map.
 */
#ifndef FERRET_TCP_CONNS_H
#define FERRET_TCP_CONNS_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tcp_conn);
} tcp_conns SEC(".maps");

#endif /* FERRET_TCP_CONNS_H */
