/*
 * fanout.h - who gets an event: connections indexed by role
 *
 * Every WebSocket or SSE connection that can receive events is in the
 * member list of each of its roles ("guests" for a guest; user:ID, users,
 * team:T, ... for a user), or in the list of server connections.  An event
 * readable by some roles touches only the members of those roles (one hash
 * lookup per role, once per event) plus the server connections; an event
 * readable by "any" goes to every connection as before (relay.c).  A
 * connection holding several of the event's roles gets it once.
 *
 * The index also keeps the connections whose identity expires, in a heap
 * by expiry time, so that the loop wakes when the nearest one is due.
 */
#ifndef RELAY_FANOUT_H
#define RELAY_FANOUT_H

#include "relay_int.h"

typedef struct Fanout Fanout;

/* Called for each connection that may read the event. */
typedef void (*FanoutDeliverFn) (void *arg, Client *c, RelayEvent *ev);

extern Fanout *fanout_create(void);
extern void fanout_destroy(Fanout *f);

/* Index c by the roles of its identity (c->session.identity; NULL: guest). */
extern void fanout_add(Fanout *f, Client *c);
/* Take c out of the index (no-op if it is not in it). */
extern void fanout_remove(Fanout *f, Client *c);

/*
 * Call deliver for every indexed connection that may read ev (its read
 * roles, or the server role), once each.  Not for events readable by
 * "any".  deliver may take connections out of the index.
 */
extern void fanout_publish(Fanout *f, RelayEvent *ev, FanoutDeliverFn deliver, void *arg);

/* Roles with members now (for tests and health). */
extern int	fanout_nroles(const Fanout *f);

/* Expiry: at_ms (loop clock) when c's identity expires; -1 for none. */
extern void fanout_set_expiry(Fanout *f, Client *c, int64_t at_ms);
/* The nearest expiry, or -1. */
extern int64_t fanout_next_expiry(const Fanout *f);
/* A connection whose expiry is at or before now (taken off the heap), or NULL. */
extern Client *fanout_pop_expired(Fanout *f, int64_t now_ms);

#endif
