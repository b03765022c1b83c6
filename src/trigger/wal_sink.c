/*
 * wal_sink.c - the wal transport's sinks (pg_realtime.transport = wal)
 *
 * capture.c gathers a transaction's events as for the notify transport and
 * hands the batch here just before commit (XACT_EVENT_PRE_COMMIT), or
 * earlier in a big transaction: whenever pg_realtime.wal_batch_size bytes
 * have gathered while no savepoint is open (capture.c decides; a message
 * written inside a subtransaction would belong to it and take the outer
 * events with it if it rolled back).  Each batch becomes one transactional
 * logical decoding message (LogLogicalMessage, prefix "pg_realtime"), so a
 * transaction of single-row changes costs one WAL record and the decoder
 * one message.  Logical decoding delivers it with its transaction's BEGIN
 * (commit LSN) and COMMIT, or not at all if the transaction rolls back.
 *
 * Sealed (the default): ENVELOPE_WAL_MAGIC and the batch sealed in binary
 * form with the database's current key (seal.c), the header carrying the
 * transaction's top-level FullTransactionId and the message's index in the
 * transaction, which the associated data binds (src/relay/envelope.h): a
 * copy of the message in another transaction, or in the same one, is
 * dropped by the relay.  A key rotation's message, sealed with the previous
 * key, carries the new one (ENVELOPE_WAL_KEY_MAGIC).  Plaintext (pg_realtime.seal = off): the
 * batch's records as they are.
 */
#include "postgres.h"

#include "access/transam.h"
#include "port/pg_bswap.h"
#include "access/xact.h"
#include "replication/message.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include <openssl/crypto.h>

#include "relay/envelope.h"
#include "seal.h"
#include "wal_sink.h"

int			pg_realtime_wal_batch_size = 256 * 1024;

/* the transaction of the last message written, and that message's index */
static FullTransactionId wal_sink_xid;
static uint32 wal_sink_part;

static int	wal_sink_max_event(void);
static int	wal_sink_flush_size(void);
static void wal_sink_emit_sealed(const CaptureBatch *batch, const CaptureAnnounce *announce);
static void wal_sink_emit_plain(const CaptureBatch *batch, const CaptureAnnounce *announce);

static const CaptureSink wal_sink_sealed = {"wal, sealed", wal_sink_max_event, NULL,
wal_sink_emit_sealed, wal_sink_flush_size};
static const CaptureSink wal_sink_plain = {"wal, plaintext", wal_sink_max_event, NULL,
wal_sink_emit_plain, wal_sink_flush_size};

void
wal_sink_init(void)
{
	DefineCustomIntVariable("pg_realtime.wal_batch_size",
							"Bytes of events gathered before a logical decoding message is written (wal transport).",
							"A transaction's events go out as one message at commit; a bigger transaction writes a message each time this much has gathered while no savepoint is open.",
							&pg_realtime_wal_batch_size,
							256 * 1024, 1024, MaxAllocSize / 4,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

const CaptureSink *
wal_sink_get(bool sealed)
{
	return sealed ? &wal_sink_sealed : &wal_sink_plain;
}

/* No 8000-byte limit: every event goes inline. */
static int
wal_sink_max_event(void)
{
	return MaxAllocSize / 4;
}

static int
wal_sink_flush_size(void)
{
	return pg_realtime_wal_batch_size;
}

/* The top-level transaction's id and the next message index in it. */
static uint32
wal_sink_next_part(FullTransactionId *xid)
{
	*xid = GetTopFullTransactionId();
	if (!FullTransactionIdEquals(*xid, wal_sink_xid))
	{
		wal_sink_xid = *xid;
		wal_sink_part = 0;
	}
	return wal_sink_part++;
}

/* Seal pieces under key as the transaction's next message, and write it. */
static void
wal_sink_write_sealed(uint32 key_id, const unsigned char *key, const EnvelopePiece *pieces,
					  int npieces, Size plain_len)
{
	EnvelopeAad aad;
	EnvelopeHeader header;
	FullTransactionId xid;
	unsigned char nonce[ENVELOPE_NONCE_LEN];
	unsigned char *msg;
	const char *database = seal_database_name();
	size_t		n;

	if (!envelope_aad_init_wal(&aad, database, strlen(database), WAL_SINK_PREFIX, strlen(WAL_SINK_PREFIX)))
		elog(ERROR, "database name too long to seal");
	header.key_id = key_id;
	header.part = wal_sink_next_part(&xid);
	header.seq = U64FromFullTransactionId(xid);
	msg = palloc(ENVELOPE_WAL_MAGIC_LEN + ENVELOPE_OVERHEAD + plain_len);
	memcpy(msg, ENVELOPE_WAL_MAGIC, ENVELOPE_WAL_MAGIC_LEN);
	if (!envelope_nonce(nonce) ||
		(n = envelope_seal_binary(key, &aad, &header, nonce, pieces, npieces,
								  msg + ENVELOPE_WAL_MAGIC_LEN)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not seal pg_realtime events"),
				 errdetail("libcrypto failed to encrypt.")));
	LogLogicalMessage(WAL_SINK_PREFIX, (const char *) msg, ENVELOPE_WAL_MAGIC_LEN + n, true);
	pfree(msg);
}

/* The batch's chunks as pieces (palloc'd), and their total length. */
static EnvelopePiece *
wal_sink_pieces(const CaptureBatch *batch, int *npieces, Size *total)
{
	EnvelopePiece *pieces = palloc(sizeof(EnvelopePiece) * Max(list_length(batch->chunks), 1));
	ListCell   *lc;

	*npieces = 0;
	*total = 0;
	foreach(lc, batch->chunks)
	{
		StringInfo	chunk = lfirst(lc);

		if (chunk->len == 0)
			continue;
		pieces[*npieces].data = chunk->data;
		pieces[*npieces].len = chunk->len;
		(*npieces)++;
		*total += chunk->len;
	}
	return pieces;
}

static void
wal_sink_emit_sealed(const CaptureBatch *batch, const CaptureAnnounce *announce)
{
	uint32		key_id;
	const unsigned char *key;
	EnvelopePiece *pieces;
	int			npieces;
	Size		total;

	key = seal_current_key(&key_id);
	/* a rotation first: the new key, sealed with the old one */
	if (announce != NULL)
	{
		unsigned char rotation[ENVELOPE_WAL_KEY_LEN];
		EnvelopePiece piece = {rotation, sizeof(rotation)};
		uint32		id = pg_hton32(key_id);

		memcpy(rotation, ENVELOPE_WAL_KEY_MAGIC, 4);
		memcpy(rotation + 4, &id, 4);
		memcpy(rotation + 8, key, ENVELOPE_KEY_LEN);
		wal_sink_write_sealed(announce->key_id, announce->key, &piece, 1, sizeof(rotation));
		OPENSSL_cleanse(rotation, sizeof(rotation));
	}
	if (batch->nevents == 0)
		return;
	pieces = wal_sink_pieces(batch, &npieces, &total);
	wal_sink_write_sealed(key_id, key, pieces, npieces, total);
	pfree(pieces);
}

static void
wal_sink_emit_plain(const CaptureBatch *batch, const CaptureAnnounce *announce)
{
	EnvelopePiece *pieces;
	int			npieces;
	Size		total;
	char	   *msg;
	Size		off = 0;

	if (batch->nevents == 0)
		return;
	pieces = wal_sink_pieces(batch, &npieces, &total);
	if (npieces == 1)
		LogLogicalMessage(WAL_SINK_PREFIX, pieces[0].data, total, true);
	else
	{
		msg = palloc(total);
		for (int i = 0; i < npieces; i++)
		{
			memcpy(msg + off, pieces[i].data, pieces[i].len);
			off += pieces[i].len;
		}
		LogLogicalMessage(WAL_SINK_PREFIX, msg, total, true);
		pfree(msg);
	}
	pfree(pieces);
}
