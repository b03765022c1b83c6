/*
 * peers.h - what the relay remembers per client address
 *
 * One entry per IPv4 address or IPv6 /64 (one host's or one customer's
 * share of addresses): its open connections, a bucket of new connections
 * per minute and a bucket of log lines.  The table is bounded: entries
 * without open connections are evicted least recently used first, and when
 * every entry has connections (only possible after max_connections grew on
 * a reload) a new address is served without an entry rather than refused,
 * so a full table never locks anyone out.
 */
#ifndef RELAY_PEERS_H
#define RELAY_PEERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ratelimit.h"

typedef struct Peer
{
	struct Peer *next;			/* hash chain */
	struct Peer *idle_prev;		/* LRU list of entries with no connection */
	struct Peer *idle_next;
	uint32_t	hash;
	int			nconn;			/* open connections */
	size_t		subscription_bytes; /* their subscriptions' memory (protocol.c) */
	uint8_t		key[16];		/* IPv4-mapped address, or IPv6 /64 prefix */
	RateLimit	connects;
	LogLimit	log;
} Peer;

typedef struct Peers
{
	Peer	  **buckets;
	uint32_t	mask;
	uint32_t	seed;
	int			count;
	int			capacity;
	Peer	   *idle_head;		/* least recently used */
	Peer	   *idle_tail;
} Peers;

/* A table of at most capacity entries. */
extern void peers_init(Peers *p, int capacity);
extern void peers_free(Peers *p);

/*
 * The entry of the address ss (AF_INET or AF_INET6), made if needed; NULL
 * for other families or when no entry can be made.
 */
extern Peer *peers_get(Peers *p, const struct sockaddr_storage *ss);

/* A connection from the entry's address opened or closed. */
extern void peers_opened(Peers *p, Peer *peer);
extern void peers_closed(Peers *p, Peer *peer);

#endif
