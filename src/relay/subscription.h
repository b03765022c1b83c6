/*
 * subscription.h - one subscription of a connection: id, channels, queries
 *
 * Built once when the client subscribes, in one allocation (struct,
 * channels, compiled queries and every string share a block), and
 * matched against every event with subscription_matches(), which compares
 * precomputed channel hashes before any string and never allocates.
 */
#ifndef RELAY_SUBSCRIPTION_H
#define RELAY_SUBSCRIPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query.h"

struct RelayEvent;

/* longest subscription id a client may choose ([a-zA-Z0-9._-]) */
#define SUBSCRIPTION_ID_MAX 36

typedef struct SubChannel
{
	uint32_t	hash;			/* event_channel_hash() */
	uint32_t	len;
	const char *name;			/* inside the subscription's block */
} SubChannel;

typedef struct Subscription
{
	struct Subscription *next;	/* session list, in creation order */
	const char *quoted_id;		/* "\"id\"", ready to append to a frame */
	uint8_t		id_len;			/* without the quotes */
	bool		match_all;		/* no queries, or select("*") among them */
	bool		checked;		/* its channels were checked (catalog.c) */
	uint16_t	nchannels;
	uint16_t	nqueries;
	SubChannel *channels;		/* inside the block */
	Query	   *queries;		/* ANDed; inside the block */
	uint32_t	bytes;			/* the block's size */
	uint32_t	channel_bytes;	/* of its channel names */
	uint32_t	nvalues;		/* query values */
	uint32_t	cost;			/* matching cost: one per query and per value */
} Subscription;

/* A channel name handed to subscription_new(); need not be NUL-terminated. */
typedef struct SubChannelName
{
	const char *p;
	size_t		len;
} SubChannelName;

/*
 * Build a subscription.  Duplicate channel names are dropped.  queries (an
 * array of nqueries compiled queries from relay_malloc, or NULL) is copied
 * into the block and freed.
 */
extern Subscription *subscription_new(const char *id, size_t id_len,
									  const SubChannelName *channels, int nchannels,
									  Query *queries, int nqueries);

extern void subscription_free(Subscription *sub);

/* The id without quotes (not NUL-terminated: use id_len). */
#define subscription_id(sub) ((sub)->quoted_id + 1)

/* True if sub has one of the event's channels and its queries accept the payload. */
extern bool subscription_matches(const Subscription *sub, const struct RelayEvent *ev);

/* True if s[0..len) is a valid client-chosen id: [a-zA-Z0-9._-]{1,36}. */
extern bool subscription_id_valid(const char *s, size_t len);

#endif
