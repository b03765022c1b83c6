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

/*
 * The wal transport's replay check: a message must carry the top-level
 * FullTransactionId of the transaction it was decoded in (BEGIN gives its
 * low 32 bits; the epoch must be the one nearest the last accepted) and a
 * part above the transaction's previous one.
 */
typedef struct SealedWalGuard
{
	uint64_t	last_full_xid;	/* of the last accepted message; 0: none yet */
	uint32_t	txn_xid;		/* the transaction being decoded (BEGIN) */
	int64_t		txn_last_part;	/* -1: none accepted in it yet */
} SealedWalGuard;

/* True if a logical decoding message is sealed (starts with ENVELOPE_WAL_MAGIC). */
extern bool sealed_is_wal_message(const char *msg, size_t len);

/* A transaction begins (pgoutput BEGIN): its xid. */
extern void sealed_wal_begin(SealedWalGuard *g, uint32_t xid);

/*
 * Open a sealed wal message of the current transaction: the key named in
 * its header (expired or not), the associated data of s's database with
 * s's channel as the prefix, then the guard.  plain needs len bytes.
 */
extern SealedResult sealed_open_wal(Sealed *s, SealedWalGuard *g, const char *msg, size_t len,
									unsigned char *plain, size_t *plain_len,
									EnvelopeHeader *header);

#endif
