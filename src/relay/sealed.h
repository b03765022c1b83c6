/*
 * sealed.h - what a relay needs to open one database's sealed notifications
 *
 * The database's keys (as read from realtime.keys, with their expiry) and a
 * replay guard: the last (sequence, part) accepted from each sending
 * backend, and a floor below which a backend the relay knows nothing about
 * is not believed.  The floor is realtime.event_seq as read when the
 * connection started LISTENing: whatever was sealed before has a sequence
 * at or below it.  A backend's transactions commit one after the other, so
 * its notifications arrive with growing (sequence, part); anything else is
 * a replay.  The guard remembers SEALED_MAX_SENDERS backends; beyond, the
 * oldest are forgotten and the floor rises to their sequence.
 */
#ifndef RELAY_SEALED_H
#define RELAY_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define SEALED_MAX_KEYS 64
#define SEALED_MAX_SENDERS 4096

typedef enum SealedResult
{
	SEALED_OK,					/* opened, new: *plain holds the batch */
	SEALED_MALFORMED,			/* not a well-formed sealed payload */
	SEALED_UNKNOWN_KEY,			/* no such key here (expired, or made up) */
	SEALED_FORGED,				/* fails to authenticate */
	SEALED_REPLAYED				/* authentic, but seen before or too old */
} SealedResult;

typedef struct SealedKey
{
	uint32_t	id;
	int64_t		expires_ms;		/* loop clock; -1: no expiry */
	unsigned char key[ENVELOPE_KEY_LEN];
} SealedKey;

typedef struct SealedSender
{
	uint32_t	pid;			/* 0: empty slot */
	uint32_t	part;
	uint64_t	seq;
} SealedSender;

typedef struct Sealed
{
	char		database[64];	/* current_database(), for the associated data */
	char		channel[64];
	int			nkeys;
	SealedKey	keys[SEALED_MAX_KEYS];
	uint64_t	floor;			/* sequences at or below: not believed from unknown senders */
	int			nsenders;
	SealedSender *senders;		/* open addressing, 2 * SEALED_MAX_SENDERS slots */
} Sealed;

extern void sealed_init(Sealed *s);
extern void sealed_free(Sealed *s);

/*
 * A new connection: where notifications come from, and the floor (the
 * value of realtime.event_seq read before LISTEN).  Forgets every sender.
 * False if a name is too long.
 */
extern bool sealed_reset(Sealed *s, const char *database, const char *channel, uint64_t floor);

/* Replace the keys: sealed_keys_clear(), then sealed_keys_add() for each. */
extern void sealed_keys_clear(Sealed *s);
extern void sealed_keys_add(Sealed *s, uint32_t id, const unsigned char key[ENVELOPE_KEY_LEN],
							int64_t expires_ms);

/*
 * Open a notification from backend pid at now_ms: decode, find its key,
 * authenticate (sender, database and channel are bound), then check it
 * against the replay guard, which remembers it when it is new.  On
 * SEALED_OK the batch is in plain (room for ENVELOPE_MAX_BINARY bytes) and
 * *header is set.
 */
extern SealedResult sealed_open(Sealed *s, uint32_t pid, const char *text, size_t len,
								int64_t now_ms, unsigned char *plain, size_t *plain_len,
								EnvelopeHeader *header);

#endif
