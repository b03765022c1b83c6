/*
 * peers.c - the bounded table of client addresses; see peers.h
 */
#include "peers.h"
#include "buf.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
peers_init(Peers *p, int capacity)
{
	uint32_t	size = 64;
	struct timespec ts;

	memset(p, 0, sizeof(*p));
	p->capacity = capacity < 64 ? 64 : capacity;
	while (size < (uint32_t) p->capacity && size < (1u << 30))
		size <<= 1;
	p->buckets = relay_calloc(size, sizeof(Peer *));
	p->mask = size - 1;
	/* a per-process seed, so that chains cannot be lengthened on purpose */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p->seed = (uint32_t) ts.tv_nsec ^ (uint32_t) getpid() * 2654435761u;
}

void
peers_free(Peers *p)
{
	for (uint32_t i = 0; p->buckets && i <= p->mask; i++)
	{
		Peer	   *e = p->buckets[i];

		while (e)
		{
			Peer	   *next = e->next;

			free(e);
			e = next;
		}
	}
	free(p->buckets);
	memset(p, 0, sizeof(*p));
}

static void
idle_unlink(Peers *p, Peer *e)
{
	if (e->idle_prev)
		e->idle_prev->idle_next = e->idle_next;
	else if (p->idle_head == e)
		p->idle_head = e->idle_next;
	if (e->idle_next)
		e->idle_next->idle_prev = e->idle_prev;
	else if (p->idle_tail == e)
		p->idle_tail = e->idle_prev;
	e->idle_prev = e->idle_next = NULL;
}

static void
idle_push(Peers *p, Peer *e)
{
	e->idle_prev = p->idle_tail;
	e->idle_next = NULL;
	if (p->idle_tail)
		p->idle_tail->idle_next = e;
	else
		p->idle_head = e;
	p->idle_tail = e;
}

/* Drop the entry from its hash chain and free it. */
static void
peers_remove(Peers *p, Peer *e)
{
	Peer	  **link = &p->buckets[e->hash & p->mask];

	while (*link && *link != e)
		link = &(*link)->next;
	if (*link)
		*link = e->next;
	idle_unlink(p, e);
	p->count--;
	free(e);
}

static uint32_t
key_hash(const Peers *p, const uint8_t key[16])
{
	uint32_t	h = 2166136261u ^ p->seed;

	for (int i = 0; i < 16; i++)
	{
		h ^= key[i];
		h *= 16777619u;
	}
	return h ^ (h >> 15);
}

Peer *
peers_get(Peers *p, const struct sockaddr_storage *ss)
{
	uint8_t		key[16] = {0};
	uint32_t	h;
	Peer	   *e;

	if (ss->ss_family == AF_INET)
	{
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *) ss)->sin_addr, 4);
	}
	else if (ss->ss_family == AF_INET6)
	{
		const uint8_t *a = ((const struct sockaddr_in6 *) ss)->sin6_addr.s6_addr;
		static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		/* an IPv4 client of a dual-stack socket is that IPv4 address */
		memcpy(key, a, memcmp(a, v4mapped, 12) == 0 ? 16 : 8);
	}
	else
		return NULL;
	h = key_hash(p, key);
	for (e = p->buckets[h & p->mask]; e; e = e->next)
		if (e->hash == h && memcmp(e->key, key, 16) == 0)
		{
			if (e->nconn == 0)
			{
				/* most recently used now */
				idle_unlink(p, e);
				idle_push(p, e);
			}
			return e;
		}
	if (p->count >= p->capacity)
	{
		if (p->idle_head == NULL)
			return NULL;
		peers_remove(p, p->idle_head);
	}
	e = relay_calloc(1, sizeof(Peer));
	memcpy(e->key, key, 16);
	e->hash = h;
	e->next = p->buckets[h & p->mask];
	p->buckets[h & p->mask] = e;
	p->count++;
	idle_push(p, e);
	return e;
}

void
peers_opened(Peers *p, Peer *peer)
{
	if (peer->nconn++ == 0)
		idle_unlink(p, peer);
}

void
peers_closed(Peers *p, Peer *peer)
{
	if (--peer->nconn == 0)
		idle_push(p, peer);
}
