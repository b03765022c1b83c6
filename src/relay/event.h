/*
 * event.h - one row-change event as the relay delivers it
 *
 * A NOTIFY payload from the trigger (format in README "Event format") is
 * parsed once, expanded once into Appwrite's 42 event names and 16 channels
 * (PROTOCOL.md sections 4-5), and serialized once into the body of the
 * "event" message.  Every connection that gets the event shares these bytes;
 * only its own "subscriptions" list is written between body and the
 * suffix with the event's position (event_append_suffix).  Events are reference counted: the output queue of each
 * connection holds a reference until the bytes are written.
 */
#ifndef RELAY_EVENT_H
#define RELAY_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "position.h"

struct json_object;
struct WalSource;

#define EVENT_NAME_COUNT 42
#define EVENT_CHANNEL_COUNT 16
/* after the subscriptions list: ],"position":"<pos_text>"}} */

/* One top-level member of the payload, in the event's lookup table. */
typedef struct EventField
{
	uint32_t	hash;			/* event_channel_hash() of the name */
	uint32_t	len;
	const char *name;			/* NULL: empty slot */
	struct json_object *value;	/* NULL for JSON null */
} EventField;

typedef struct RelayEvent
{
	int			refcount;
	RelayPos	pos;			/* SSE "id:", the "position" field */
	char		pos_text[RELAY_POS_TEXT_MAX];
	uint8_t		pos_len;
	int64_t		time_ms;		/* Unix ms: commit time (wal) or receipt */

	/* wal transport: what the source needs when the window drops it */
	struct WalSource *source;	/* NULL once the source is gone */
	uint64_t	confirm_before; /* LSN confirmable before its transaction */
	uint64_t	txn_end;		/* end of its commit record, if txn_last */
	bool		txn_last;		/* last event of its transaction */
	bool		backfill;		/* from before the relay started: only for
								 * clients that resume */

	char	   *database_id;
	char	   *collection_id;
	char	   *document_id;
	char	   *action;			/* create, update or delete */
	char	   *channels[EVENT_CHANNEL_COUNT];	/* one block: free channels[0] */
	uint32_t	channel_hash[EVENT_CHANNEL_COUNT];	/* event_channel_hash() */
	uint32_t	channel_len[EVENT_CHANNEL_COUNT];
	uint64_t	channel_bloom;	/* OR of EVENT_CHANNEL_BLOOM_BIT(channel_hash) */
	bool		read_any;		/* roles contain "any" */
	bool		read_guests;	/* roles contain "guests" */
	int			nroles;
	char	  **roles;			/* read roles: "any", "user:u1", ... */
	struct json_object *payload;	/* the row, for query matching */
	EventField *fields;			/* open-addressing table of payload members */
	uint32_t	field_mask;		/* table size - 1 (a power of two minus one) */

	/*
	 * '{"type":"event","data":{"events":[...],"channels":[...],"timestamp":
	 * "...","payload":{...},"subscriptions":[' -- the frame body up to the
	 * per-connection list.
	 */
	char	   *body;
	size_t		body_len;
	size_t		cost;			/* bytes it holds, roughly: for memory bounds */

	/*
	 * The body compressed once for every subscriber that negotiated
	 * compression (deflate.h), computed at the first such delivery; NULL
	 * until then.  body_crc is the body's CRC-32, set with it.
	 */
	unsigned char *deflated;
	size_t		deflated_len;
	uint32_t	body_crc;
} RelayEvent;

/* Default nesting limit of notifications (pg_realtime.max_event_depth). */
#define EVENT_DEFAULT_MAX_DEPTH 256
/* Estimated bytes of one kept JSON value (json-c object and its slot). */
#define EVENT_VALUE_COST 96

/* Bounds on a notification's JSON, checked before json-c builds a tree. */
typedef struct EventLimits
{
	int			max_depth;		/* nesting of objects and arrays */
	uint64_t	max_values;		/* objects, arrays and scalars in all */
} EventLimits;

typedef enum EventNotifyKind
{
	EVENT_NOTIFY_INLINE,		/* *event set */
	EVENT_NOTIFY_LARGE,			/* *large_id set: fetch realtime.large_events */
	EVENT_NOTIFY_INVALID		/* *error set (static string) */
} EventNotifyKind;

/*
 * Parse a NOTIFY payload (or the text fetched from realtime.large_events for
 * a large one).  On EVENT_NOTIFY_INLINE the event has refcount 1 and id 0 (the
 * caller numbers it).  timestamp is the ISO 8601 string to put in the event's
 * "timestamp" (Appwrite style, e.g. 2026-05-01T10:00:00.123+00:00).
 */
extern EventNotifyKind event_parse_notify(const char *text, size_t len, const char *timestamp,
										  RelayEvent **event, int64_t *large_id,
										  const char **error);

/*
 * The same within limits: text nested deeper or with more values is
 * refused before any tree is built.  Object and array members of the
 * payload are kept empty (queries compare top-level scalars only), so an
 * event costs about its bytes (ev->cost) however its JSON is shaped.
 */
extern EventNotifyKind event_parse_bounded(const char *text, size_t len, const char *timestamp,
										   const EventLimits *limits, RelayEvent **event,
										   int64_t *large_id, const char **error);
/* Set the event's position (and its text form). */
extern void event_set_position(RelayEvent *ev, RelayPos pos);

extern void event_retain(RelayEvent *ev);
extern void event_release(RelayEvent *ev);

/* Hash used to compare subscription channels with event channels quickly. */
extern uint32_t event_channel_hash(const char *s, size_t len);

/*
 * One bit of a 64-bit Bloom filter per channel hash: a subscription channel
 * whose bit is not in ev->channel_bloom cannot be one of the event's.
 */
#define EVENT_CHANNEL_BLOOM_BIT(hash) ((uint64_t) 1 << ((hash) >> 26))

/* True if the event has a channel equal to s. */
extern bool event_has_channel(const RelayEvent *ev, const char *s, size_t len, uint32_t hash);

/*
 * The payload member name[0..len) (hash: event_channel_hash of it): sets
 * *value (NULL for JSON null) and returns true if present.  Cheaper than
 * json-c's lookup: the hash is computed once per query, not per event.
 */
extern bool event_field(const RelayEvent *ev, const char *name, uint32_t len, uint32_t hash,
						struct json_object **value);

/* Appwrite-style timestamp of now (UTC, milliseconds): 29 chars + NUL. */
extern void event_format_now(char out[32]);
extern void event_format_time(int64_t unix_ms, char out[32]);
extern int64_t event_now_ms(void);

/* What follows a client's subscriptions list: ],"position":"..."}} */
extern void event_append_suffix(const RelayEvent *ev, Buf *out);

#endif
