/*
 * envelope.h - sealed notifications: the format both sides share
 *
 * The trigger seals a batch of events into a NOTIFY payload and the relay
 * (or realtime.open()) opens it; this module is the one place that knows
 * the layout, compiled into both.  A sealed payload is
 *
 *     "rt1:" base64( header | nonce | ciphertext | tag )
 *
 * header = key id (u32) | sequence (u64) | part (u32), big-endian; nonce 12
 * bytes, never repeated (a random prefix per process and a counter); AES-256-GCM with a 16-byte tag.  The associated data binds
 * the header to where the notification may come from:
 *
 *     "pg_realtime seal 1" NUL | sender PID (u32) | database NUL | channel NUL | header
 *
 * so a payload moved to another database or channel, or sent again by
 * another backend, fails to open.  The plaintext is a batch of records,
 * each a u32 length and that many bytes of one event's JSON (README "Event
 * format"), in commit order; an empty batch only announces a key.
 *
 * Plain C and libcrypto (no postgres.h): both the backend and the relay
 * link it.  Nothing here allocates; callers pass buffers of the sizes below.
 */
#ifndef RELAY_ENVELOPE_H
#define RELAY_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_PREFIX "rt1:"
#define ENVELOPE_PREFIX_LEN 4
#define ENVELOPE_KEY_LEN 32
#define ENVELOPE_NONCE_LEN 12
#define ENVELOPE_TAG_LEN 16
#define ENVELOPE_HEADER_LEN 16
#define ENVELOPE_OVERHEAD (ENVELOPE_HEADER_LEN + ENVELOPE_NONCE_LEN + ENVELOPE_TAG_LEN)

/* Longest NOTIFY payload (PostgreSQL: shorter than 8000 bytes). */
#define ENVELOPE_MAX_TEXT 7999
/* Longest sealed binary whose base64 fits ENVELOPE_MAX_TEXT with the prefix. */
#define ENVELOPE_MAX_BINARY (((ENVELOPE_MAX_TEXT - ENVELOPE_PREFIX_LEN) / 4) * 3)
/* Longest plaintext batch per notification. */
#define ENVELOPE_MAX_PLAIN (ENVELOPE_MAX_BINARY - ENVELOPE_OVERHEAD)
/* Each record's length prefix. */
#define ENVELOPE_RECORD_HEAD 4
/* Longest event that fits a notification on its own. */
#define ENVELOPE_MAX_EVENT (ENVELOPE_MAX_PLAIN - ENVELOPE_RECORD_HEAD)

/*
 * The wal transport: a logical decoding message (prefix "pg_realtime") is
 * ENVELOPE_WAL_MAGIC then the binary form above (header | nonce |
 * ciphertext | tag) of any length, with associated data
 *
 *     "pg_realtime wal 1" NUL | 0 (u32) | database NUL | prefix NUL | header
 *
 * whose header's sequence is the writing transaction's top-level
 * FullTransactionId and part the message's index in it: a message copied
 * into another transaction (pg_logical_emit_message is PUBLIC) or repeated
 * in the same one does not pass the relay's check.  A plaintext message
 * (pg_realtime.seal = off) is the bare batch; its first four bytes are a
 * record length, never the magic (which reads as more than 1 GB).
 */
#define ENVELOPE_WAL_MAGIC "rtw1"
#define ENVELOPE_WAL_MAGIC_LEN 4

/*
 * A key rotation in the wal transport: the rotating transaction's message,
 * sealed with the previous key, holds ENVELOPE_WAL_KEY_MAGIC, the new key's
 * id (u32) and the key, so that a relay reading the WAL later, even after
 * the key's row is gone, opens what was sealed with it.  (Whoever can read
 * the WAL reads the realtime.keys row the rotation inserted anyway.)
 */
#define ENVELOPE_WAL_KEY_MAGIC "rtk1"
#define ENVELOPE_WAL_KEY_LEN (4 + 4 + ENVELOPE_KEY_LEN)

/* Room for the associated data: fixed part, two names of < 64 bytes, header. */
#define ENVELOPE_AAD_MAX 192

typedef struct EnvelopeHeader
{
	uint32_t	key_id;
	uint64_t	seq;			/* realtime.event_seq, one per transaction */
	uint32_t	part;			/* index of the notification in its transaction */
} EnvelopeHeader;

/* The associated data of one sender, database and channel. */
typedef struct EnvelopeAad
{
	unsigned char bytes[ENVELOPE_AAD_MAX];
	size_t		len;			/* without the header */
} EnvelopeAad;

/* A plaintext given in pieces (the trigger's batch spans buffer chunks). */
typedef struct EnvelopePiece
{
	const void *data;
	size_t		len;
} EnvelopePiece;

/*
 * Set up the associated data for notifications from backend pid on channel
 * in database.  False if a name is too long (over 63 bytes, more than
 * PostgreSQL allows) or holds a NUL.
 */
extern bool envelope_aad_init(EnvelopeAad *aad, uint32_t pid, const char *database,
							  size_t database_len, const char *channel, size_t channel_len);

/* The same for the wal transport's messages in database with prefix. */
extern bool envelope_aad_init_wal(EnvelopeAad *aad, const char *database, size_t database_len,
								  const char *prefix, size_t prefix_len);

/*
 * Seal npieces pieces of plaintext, of any total length (each piece under
 * 2 GB), into out in binary form: header | nonce | ciphertext | tag, which
 * takes ENVELOPE_OVERHEAD bytes more than the plaintext.  Returns its
 * length, or 0 if libcrypto failed.
 */
extern size_t envelope_seal_binary(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
								   const EnvelopeHeader *header, const unsigned char *nonce,
								   const EnvelopePiece *pieces, int npieces, unsigned char *out);

/* Read the header of a binary sealed payload; false if it is too short. */
extern bool envelope_read_header(const unsigned char *bin, size_t bin_len, EnvelopeHeader *header);

/*
 * Seal npieces pieces of plaintext (at most ENVELOPE_MAX_PLAIN bytes in all)
 * into out (room for ENVELOPE_MAX_TEXT + 1 bytes), NUL-terminated; scratch
 * needs ENVELOPE_MAX_BINARY bytes.  nonce: from envelope_nonce().  Returns
 * the text length, or 0 if libcrypto failed.
 */
extern size_t envelope_seal(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
							const EnvelopeHeader *header, const unsigned char *nonce,
							const EnvelopePiece *pieces, int npieces,
							char *out, unsigned char *scratch);

/*
 * Standard base64 (RFC 4648, with padding) of in[0..n) into out, which
 * needs 4 * ceil(n / 3) + 1 bytes; NUL-terminated; returns its length.
 */
extern size_t envelope_base64_encode(char *out, const unsigned char *in, size_t n);

/* True if text looks sealed (has the prefix); plaintext events start with '{'. */
extern bool envelope_is_sealed(const char *text, size_t len);

/*
 * Decode a sealed payload into bin (room for ENVELOPE_MAX_BINARY bytes) and
 * read its header.  False if it is not well-formed (wrong prefix, not
 * base64, too short or too long); nothing is authenticated yet.
 */
extern bool envelope_decode(const char *text, size_t len, unsigned char *bin, size_t *bin_len,
							EnvelopeHeader *header);

/*
 * Authenticate and decrypt a decoded payload with key into plain (room for
 * bin_len - ENVELOPE_OVERHEAD bytes).  False if it fails to authenticate:
 * forged, altered, or sealed for another key, sender, database or channel.
 */
extern bool envelope_open(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
						  const unsigned char *bin, size_t bin_len,
						  unsigned char *plain, size_t *plain_len);

/*
 * Step through the records of an opened batch: *offset starts at 0.  Sets
 * *record and *record_len and returns 1 for each record, 0 at the end, -1 if
 * the batch is malformed (a length past the end).
 */
extern int	envelope_next_record(const unsigned char *plain, size_t plain_len, size_t *offset,
								 const char **record, size_t *record_len);

/* A key from its base64 text (as encode(key, 'base64') writes it); false if not one. */
extern bool envelope_key_from_base64(const char *text, size_t len,
									 unsigned char key[ENVELOPE_KEY_LEN]);

/* A fresh nonce for envelope_seal(): never the same twice; false on failure. */
extern bool envelope_nonce(unsigned char nonce[ENVELOPE_NONCE_LEN]);

/* Fill buf with len bytes from OpenSSL's CSPRNG; false on failure. */
extern bool envelope_random(unsigned char *buf, size_t len);

#endif
