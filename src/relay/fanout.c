/*
 * fanout.c - the role index and the expiry heap; see fanout.h
 *
 * Roles are interned into a hash table of FanoutRole, each with the list of
 * its members; a role without members is freed (after the event being
 * published, if one is).  Each indexed client owns one FanoutMember per
 * role: guests and server connections use the one inside Client, users an
 * array.  Memory is O(connections x their roles); an event costs one lookup
 * per read role and one step per member of those roles.
 */
#include "fanout.h"
#include "auth.h"

#include <stdlib.h>
#include <string.h>

typedef struct FanoutRole
{
	struct FanoutRole *next;	/* hash chain */
	struct FanoutRole *next_empty;	/* on Fanout.empty while publishing */
	uint32_t	hash;
	uint32_t	len;
	bool		queued;			/* on Fanout.empty */
	DNode		members;		/* FanoutMember.node */
	char		name[];
} FanoutRole;

typedef struct ExpiryEntry
{
	int64_t		at_ms;
	Client	   *client;
} ExpiryEntry;

struct Fanout
{
	FanoutRole **buckets;
	uint32_t	mask;
	int			nroles;
	DNode		servers;		/* FanoutMember.node of server connections */
	bool		publishing;		/* roles emptied now are freed afterwards */
	uint64_t	stamp;			/* events published: Client.fanout_stamp */
	FanoutRole *empty;
	ExpiryEntry *heap;
	int			nheap;
	int			heap_cap;
};

static const char guests_name[] = "guests";

Fanout *
fanout_create(void)
{
	Fanout	   *f = relay_calloc(1, sizeof(Fanout));

	f->mask = 255;
	f->buckets = relay_calloc(f->mask + 1, sizeof(FanoutRole *));
	dlist_init(&f->servers);
	return f;
}

void
fanout_destroy(Fanout *f)
{
	if (f == NULL)
		return;
	for (uint32_t i = 0; i <= f->mask; i++)
		while (f->buckets[i])
		{
			FanoutRole *r = f->buckets[i];

			f->buckets[i] = r->next;
			free(r);
		}
	free(f->buckets);
	free(f->heap);
	free(f);
}

static FanoutRole *
role_find(const Fanout *f, const char *name, size_t len, uint32_t hash)
{
	for (FanoutRole *r = f->buckets[hash & f->mask]; r; r = r->next)
		if (r->hash == hash && r->len == len && memcmp(r->name, name, len) == 0)
			return r;
	return NULL;
}

/* Double the table when it holds more roles than buckets. */
static void
role_table_grow(Fanout *f)
{
	uint32_t	size = (f->mask + 1) * 2;
	FanoutRole **buckets = relay_calloc(size, sizeof(FanoutRole *));

	for (uint32_t i = 0; i <= f->mask; i++)
		while (f->buckets[i])
		{
			FanoutRole *r = f->buckets[i];

			f->buckets[i] = r->next;
			r->next = buckets[r->hash & (size - 1)];
			buckets[r->hash & (size - 1)] = r;
		}
	free(f->buckets);
	f->buckets = buckets;
	f->mask = size - 1;
}

static FanoutRole *
role_intern(Fanout *f, const char *name)
{
	size_t		len = strlen(name);
	uint32_t	hash = event_channel_hash(name, len);
	FanoutRole *r = role_find(f, name, len, hash);

	if (r)
		return r;
	if ((uint32_t) f->nroles > f->mask)
		role_table_grow(f);
	r = relay_calloc(1, sizeof(FanoutRole) + len + 1);
	memcpy(r->name, name, len);
	r->hash = hash;
	r->len = (uint32_t) len;
	dlist_init(&r->members);
	r->next = f->buckets[hash & f->mask];
	f->buckets[hash & f->mask] = r;
	f->nroles++;
	return r;
}

static void
role_free(Fanout *f, FanoutRole *r)
{
	FanoutRole **link = &f->buckets[r->hash & f->mask];

	while (*link != r)
		link = &(*link)->next;
	*link = r->next;
	f->nroles--;
	free(r);
}

/* A role lost its last member: free it, or after the event being published. */
static void
role_maybe_free(Fanout *f, FanoutRole *r)
{
	if (!dlist_empty(&r->members) || r->queued)
		return;
	if (f->publishing)
	{
		r->queued = true;
		r->next_empty = f->empty;
		f->empty = r;
		return;
	}
	role_free(f, r);
}

void
fanout_add(Fanout *f, Client *c)
{
	const AuthIdentity *id = c->session.identity;

	if (c->member_of)
		return;
	if (id && id->server)
	{
		c->member_of = &c->own_member;
		c->nmember_of = 1;
		c->own_member.client = c;
		dlist_push_tail(&f->servers, &c->own_member.node);
		return;
	}
	if (id == NULL || id->nroles == 0)
	{
		c->member_of = &c->own_member;
		c->nmember_of = 1;
	}
	else
	{
		c->member_of = relay_calloc(id->nroles, sizeof(FanoutMember));
		c->nmember_of = (uint16_t) id->nroles;
	}
	for (int i = 0; i < c->nmember_of; i++)
	{
		FanoutRole *r = role_intern(f, id && id->nroles ? id->roles[i] : guests_name);

		c->member_of[i].client = c;
		dlist_push_tail(&r->members, &c->member_of[i].node);
	}
}

void
fanout_remove(Fanout *f, Client *c)
{
	if (c->member_of == NULL)
		return;
	for (int i = 0; i < c->nmember_of; i++)
	{
		FanoutMember *m = &c->member_of[i];
		DNode	   *head = m->node.next;

		/*
		 * The last member's neighbours are both its list's head: then the
		 * role (unless that head is the servers' list) may go.  A member
		 * need not know its role.
		 */
		if (m->node.prev != head || head == &f->servers)
			head = NULL;
		dlist_remove(&m->node);
		if (head)
			role_maybe_free(f, container_of(FanoutRole, members, head));
	}
	if (c->member_of != &c->own_member)
		free(c->member_of);
	c->member_of = NULL;
	c->nmember_of = 0;
}

/* Deliver to every member of one list that has not had this event yet. */
static void
publish_list(DNode *list, uint64_t stamp, RelayEvent *ev, FanoutDeliverFn deliver, void *arg)
{
	for (DNode *node = list->next; node != list;)
	{
		Client	   *c = container_of(FanoutMember, node, node)->client;

		node = node->next;		/* c may leave the index (cut off) */
		if (c->fanout_stamp == stamp)
			continue;
		c->fanout_stamp = stamp;
		deliver(arg, c, ev);
	}
}

void
fanout_publish(Fanout *f, RelayEvent *ev, FanoutDeliverFn deliver, void *arg)
{
	uint64_t	stamp = ++f->stamp;

	f->publishing = true;
	publish_list(&f->servers, stamp, ev, deliver, arg);
	for (int i = 0; i < ev->nroles; i++)
	{
		size_t		len = strlen(ev->roles[i]);
		FanoutRole *r = role_find(f, ev->roles[i], len, event_channel_hash(ev->roles[i], len));

		if (r)
			publish_list(&r->members, stamp, ev, deliver, arg);
	}
	f->publishing = false;
	while (f->empty)
	{
		FanoutRole *r = f->empty;

		f->empty = r->next_empty;
		r->queued = false;
		role_maybe_free(f, r);
	}
}

int
fanout_nroles(const Fanout *f)
{
	return f->nroles;
}

/* ----------------------------------------------------------- expiry heap */

static void
heap_place(Fanout *f, int i, ExpiryEntry e)
{
	f->heap[i] = e;
	e.client->expiry_slot = i;
}

static void
heap_up(Fanout *f, int i)
{
	ExpiryEntry e = f->heap[i];

	while (i > 0 && f->heap[(i - 1) / 2].at_ms > e.at_ms)
	{
		heap_place(f, i, f->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(f, i, e);
}

static void
heap_down(Fanout *f, int i)
{
	ExpiryEntry e = f->heap[i];

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= f->nheap)
			break;
		if (child + 1 < f->nheap && f->heap[child + 1].at_ms < f->heap[child].at_ms)
			child++;
		if (f->heap[child].at_ms >= e.at_ms)
			break;
		heap_place(f, i, f->heap[child]);
		i = child;
	}
	heap_place(f, i, e);
}

static void
heap_delete(Fanout *f, int i)
{
	Client	   *c = f->heap[i].client;

	c->expiry_slot = -1;
	if (--f->nheap == i)
		return;
	heap_place(f, i, f->heap[f->nheap]);
	heap_down(f, i);
	heap_up(f, f->heap[i].client->expiry_slot);
}

void
fanout_set_expiry(Fanout *f, Client *c, int64_t at_ms)
{
	if (c->expiry_slot >= 0)
		heap_delete(f, c->expiry_slot);
	if (at_ms < 0)
		return;
	if (f->nheap == f->heap_cap)
	{
		f->heap_cap = f->heap_cap ? f->heap_cap * 2 : 64;
		f->heap = relay_realloc(f->heap, sizeof(ExpiryEntry) * f->heap_cap);
	}
	f->heap[f->nheap].at_ms = at_ms;
	f->heap[f->nheap].client = c;
	c->expiry_slot = f->nheap++;
	heap_up(f, c->expiry_slot);
}

int64_t
fanout_next_expiry(const Fanout *f)
{
	return f->nheap ? f->heap[0].at_ms : -1;
}

Client *
fanout_pop_expired(Fanout *f, int64_t now_ms)
{
	Client	   *c;

	if (f->nheap == 0 || f->heap[0].at_ms > now_ms)
		return NULL;
	c = f->heap[0].client;
	heap_delete(f, 0);
	return c;
}
