/*
 * seal.c - seal a transaction's events into notifications; open them in SQL
 *
 * The sealed sink (pg_realtime.seal = on) packs the batch that capture.c
 * gathered into as few notifications as fit, in order, takes one value of
 * realtime.event_seq for the transaction and seals each notification with
 * the database's current key (envelope.c).  The plaintext sink hands each
 * event to NOTIFY as it comes, as the trigger did before sealing.  realtime.open() is the way back for backend services, and
 * realtime.random_key()/realtime.keys_changed() serve realtime.rotate_key().
 *
 * Keys are read from realtime.keys with a heap scan from C: writers have no
 * privilege on the table, and never see a key.  They are cached per backend
 * (TopMemoryContext) and forgotten on a relcache invalidation of the table,
 * which realtime.keys_changed() sends.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include <openssl/crypto.h>

#include "relay/envelope.h"
#include "members.h"
#include "seal.h"
#include "trigger.h"
#include "wal_sink.h"

/* at most this many pieces per notification: records span few chunks */
#define SEAL_MAX_PIECES 8

bool		pg_realtime_seal = true;

typedef struct SealKey
{
	uint32		id;
	bool		current;		/* the newest key without an expiry */
	TimestampTz expires_at;		/* DT_NOEND: none */
	unsigned char key[ENVELOPE_KEY_LEN];
} SealKey;

/* The database's keys, cached per backend. */
static SealKey *seal_keys = NULL;
static int	seal_nkeys = 0;
static bool seal_keys_valid = false;
static Oid	seal_keys_relid = InvalidOid;	/* the table they were read from */
static bool seal_callback_registered = false;

/* current_database(), once per backend (a connected database keeps its name) */
static char *seal_database = NULL;

/* Reused buffers (TopMemoryContext): the sealed text and its binary form. */
static char *seal_text = NULL;
static unsigned char *seal_binary = NULL;

PG_FUNCTION_INFO_V1(realtime_random_key);
PG_FUNCTION_INFO_V1(realtime_keys_changed);
PG_FUNCTION_INFO_V1(realtime_open);

static int	seal_sealed_max_event(void);
static void seal_sealed_emit(const CaptureBatch *batch, const CaptureAnnounce *announce);
static int	seal_plain_max_event(void);
static void seal_plain_add(const char *event, int len);

static const CaptureSink seal_sealed_sink = {"sealed", seal_sealed_max_event, NULL, seal_sealed_emit, NULL};
static const CaptureSink seal_plain_sink = {"plaintext", seal_plain_max_event, seal_plain_add, NULL, NULL};

void
seal_init(void)
{
	DefineCustomBoolVariable("pg_realtime.seal",
							 "Seal events (AES-256-GCM) before they go out on the NOTIFY channel.",
							 "Off sends plaintext JSON that any role able to LISTEN can read and any role able to NOTIFY can forge.",
							 &pg_realtime_seal,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

const CaptureSink *
seal_current_sink(void)
{
	if (pg_realtime_transport == TRIGGER_TRANSPORT_WAL)
		return wal_sink_get(pg_realtime_seal);
	return pg_realtime_seal ? &seal_sealed_sink : &seal_plain_sink;
}

/* ------------------------------------------------------------------ keys */

/* Wipe and drop the cached keys. */
static void
seal_keys_forget(void)
{
	if (seal_keys != NULL)
	{
		OPENSSL_cleanse(seal_keys, sizeof(SealKey) * seal_nkeys);
		pfree(seal_keys);
	}
	seal_keys = NULL;
	seal_nkeys = 0;
	seal_keys_valid = false;
}

/* Relcache callback: the keys table changed (or everything is reset). */
static void
seal_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == seal_keys_relid)
		seal_keys_valid = false;
}

/*
 * seal_keys_load
 *		Read every row of realtime.keys into the cache.  A heap scan under
 *		the latest snapshot, with no privilege check: writers use the keys
 *		without being able to select them.
 */
static void
seal_keys_load(void)
{
	Oid			relid = members_get()->keys_relid;
	Relation	rel;
	TupleDesc	desc;
	Snapshot	snapshot;
	TableScanDesc scan;
	HeapTuple	tup;
	SealKey    *keys;
	int			nkeys = 0;
	int			maxkeys = 4;
	int			current = -1;

	if (!seal_callback_registered)
	{
		CacheRegisterRelcacheCallback(seal_relcache_callback, (Datum) 0);
		seal_callback_registered = true;
	}
	seal_keys_forget();
	seal_keys_relid = relid;

	/* the lock first: it takes in invalidations, then the snapshot sees them */
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	if (desc->natts < 4 || TupleDescAttr(desc, 0)->atttypid != INT4OID ||
		TupleDescAttr(desc, 1)->atttypid != BYTEAOID ||
		TupleDescAttr(desc, 3)->atttypid != TIMESTAMPTZOID)
		elog(ERROR, "table realtime.keys does not have the columns of pg_realtime");
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	keys = MemoryContextAllocZero(TopMemoryContext, sizeof(SealKey) * maxkeys);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Datum		values[4];
		bool		nulls[4];
		bytea	   *key;
		SealKey    *k;

		heap_deform_tuple(tup, desc, values, nulls);
		if (nulls[0] || nulls[1])
			continue;
		key = DatumGetByteaPP(values[1]);
		if (VARSIZE_ANY_EXHDR(key) != ENVELOPE_KEY_LEN)
			continue;
		if (nkeys == maxkeys)
		{
			maxkeys *= 2;
			keys = repalloc(keys, sizeof(SealKey) * maxkeys);
		}
		k = &keys[nkeys];
		k->id = (uint32) DatumGetInt32(values[0]);
		memcpy(k->key, VARDATA_ANY(key), ENVELOPE_KEY_LEN);
		k->expires_at = nulls[3] ? DT_NOEND : DatumGetTimestampTz(values[3]);
		k->current = false;
		if (nulls[3] && (current < 0 || k->id > keys[current].id))
			current = nkeys;
		nkeys++;
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);

	if (current >= 0)
		keys[current].current = true;
	seal_keys = keys;
	seal_nkeys = nkeys;
	seal_keys_valid = true;
}

/* The key that seals now. */
static const SealKey *
seal_key_current(void)
{
	if (!seal_keys_valid)
		seal_keys_load();
	for (int i = 0; i < seal_nkeys; i++)
		if (seal_keys[i].current)
			return &seal_keys[i];
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pg_realtime has no current key to seal events with"),
			 errdetail("Every row of realtime.keys has an expiry, or the table is empty."),
			 errhint("Make a new key with SELECT realtime.rotate_key();")));
	return NULL;				/* keep the compiler quiet */
}

const unsigned char *
seal_current_key(uint32 *id)
{
	const SealKey *key = seal_key_current();

	*id = key->id;
	return key->key;
}

const char *
seal_database_name(void)
{
	if (seal_database == NULL)
		seal_database = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	return seal_database;
}

/* The key with this id if it may still open events, else NULL. */
static const SealKey *
seal_find_key(uint32 id)
{
	if (!seal_keys_valid)
		seal_keys_load();
	for (int i = 0; i < seal_nkeys; i++)
		if (seal_keys[i].id == id)
			return seal_keys[i].expires_at > GetCurrentTimestamp() ? &seal_keys[i] : NULL;
	return NULL;
}

/* The associated data for notifications of sender pid on channel here. */
static void
seal_aad(EnvelopeAad *aad, uint32 pid, const char *channel)
{
	const char *database = seal_database_name();

	if (!envelope_aad_init(aad, pid, database, strlen(database), channel, strlen(channel)))
		elog(ERROR, "database or channel name too long to seal");
}

/* ---------------------------------------------------------------- sinks */

static int
seal_sealed_max_event(void)
{
	return Min(pg_realtime_inline_payload_limit, ENVELOPE_MAX_EVENT);
}

/* Seal the pieces with key as notification number part and queue it. */
static void
seal_notify(uint32 key_id, const unsigned char *key, const EnvelopeAad *aad, uint64 seq,
			uint32 part, const EnvelopePiece *pieces, int npieces)
{
	EnvelopeHeader header = {key_id, seq, part};
	unsigned char nonce[ENVELOPE_NONCE_LEN];

	if (seal_text == NULL)
	{
		seal_text = MemoryContextAlloc(TopMemoryContext, ENVELOPE_MAX_TEXT + 1);
		seal_binary = MemoryContextAlloc(TopMemoryContext, ENVELOPE_MAX_BINARY);
	}
	if (!envelope_nonce(nonce) ||
		envelope_seal(key, aad, &header, nonce, pieces, npieces, seal_text, seal_binary) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not seal pg_realtime events"),
				 errdetail("libcrypto failed to encrypt.")));
	Async_Notify(pg_realtime_channel, seal_text);
}

/*
 * seal_sealed_emit
 *		Pack the batch into notifications of at most ENVELOPE_MAX_PLAIN
 *		bytes of records, in order, and seal each.  Records that sit next to
 *		each other in a chunk form one piece: no copy.
 */
static void
seal_sealed_emit(const CaptureBatch *batch, const CaptureAnnounce *announce)
{
	const SealKey *key = seal_key_current();
	EnvelopeAad aad;
	uint64		seq;
	uint32		part = 0;
	EnvelopePiece pieces[SEAL_MAX_PIECES];
	int			npieces = 0;
	size_t		plain = 0;
	CaptureCursor cur;
	const char *record;
	int			n;

	seal_aad(&aad, (uint32) MyProcPid, pg_realtime_channel);
	/* the relay drops what it has seen from this backend: one value per commit */
	seq = (uint64) nextval_internal(members_get()->event_seq_relid, false);

	/* a rotation first, under the old key, so the relay reads the new one */
	if (announce != NULL)
		seal_notify(announce->key_id, announce->key, &aad, seq, part++, NULL, 0);

	capture_cursor_init(&cur, batch);
	while ((n = capture_cursor_next(&cur, &record)) > 0)
	{
		if (n > ENVELOPE_MAX_PLAIN)
			elog(ERROR, "pg_realtime event of %d bytes does not fit a notification", n);
		if (plain + n > ENVELOPE_MAX_PLAIN || (npieces == SEAL_MAX_PIECES &&
											   (const char *) pieces[npieces - 1].data + pieces[npieces - 1].len != record))
		{
			seal_notify(key->id, key->key, &aad, seq, part++, pieces, npieces);
			npieces = 0;
			plain = 0;
		}
		if (npieces > 0 && (const char *) pieces[npieces - 1].data + pieces[npieces - 1].len == record)
			pieces[npieces - 1].len += n;
		else
		{
			pieces[npieces].data = record;
			pieces[npieces].len = n;
			npieces++;
		}
		plain += n;
	}
	if (npieces > 0)
		seal_notify(key->id, key->key, &aad, seq, part, pieces, npieces);
}

static int
seal_plain_max_event(void)
{
	return pg_realtime_inline_payload_limit;
}

/*
 * One plaintext notification per event, as README "Event format" shows, at
 * once: NOTIFY itself keeps it until commit and forgets it on rollback.
 */
static void
seal_plain_add(const char *event, int len)
{
	Async_Notify(pg_realtime_channel, event);
}

/* ------------------------------------------------------- SQL functions */

/*
 * realtime.random_key() returns bytea
 *
 * 32 bytes from OpenSSL's CSPRNG, for realtime.rotate_key().
 */
Datum
realtime_random_key(PG_FUNCTION_ARGS)
{
	bytea	   *key = palloc(VARHDRSZ + ENVELOPE_KEY_LEN);

	SET_VARSIZE(key, VARHDRSZ + ENVELOPE_KEY_LEN);
	if (!envelope_random((unsigned char *) VARDATA(key), ENVELOPE_KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a key"),
				 errdetail("OpenSSL's random generator failed.")));
	PG_RETURN_BYTEA_P(key);
}

/*
 * realtime.keys_changed(previous_id integer, previous_key bytea) returns void
 *
 * After realtime.rotate_key(): every backend reloads the keys (a relcache
 * invalidation of realtime.keys, sent at commit), this one at once, and the
 * relay hears of the rotation by an empty batch sealed with the previous
 * key (none for the first key).
 */
Datum
realtime_keys_changed(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(members_get()->keys_relid);
	seal_keys_forget();
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1))
	{
		bytea	   *key = PG_GETARG_BYTEA_PP(1);

		if (VARSIZE_ANY_EXHDR(key) != ENVELOPE_KEY_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a pg_realtime key has %d bytes", ENVELOPE_KEY_LEN)));
		capture_announce((uint32) PG_GETARG_INT32(0), (const unsigned char *) VARDATA_ANY(key));
	}
	PG_RETURN_VOID();
}

/*
 * realtime.open(payload text, sender_pid integer, channel text DEFAULT NULL)
 *		returns table (seq bigint, part integer, event jsonb)
 *
 * Open a sealed notification of this database: authenticate it as sent by
 * backend sender_pid on channel (default pg_realtime.channel), decrypt it
 * and return its events in order.  Errors if it does not open.  Repeats are
 * the caller's to drop, by (sender_pid, seq, part).
 */
Datum
realtime_open(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *payload;
	char	   *text_payload;
	const char *channel;
	EnvelopeAad aad;
	EnvelopeHeader header;
	unsigned char *bin;
	unsigned char *plain;
	size_t		bin_len;
	size_t		plain_len;
	size_t		offset = 0;
	const SealKey *key;
	const char *record;
	size_t		record_len;
	int			r;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	payload = PG_GETARG_TEXT_PP(0);
	channel = PG_ARGISNULL(2) ? pg_realtime_channel : text_to_cstring(PG_GETARG_TEXT_PP(2));
	text_payload = VARDATA_ANY(payload);

	bin = palloc(ENVELOPE_MAX_BINARY);
	if (!envelope_decode(text_payload, VARSIZE_ANY_EXHDR(payload), bin, &bin_len, &header))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload is not a sealed pg_realtime notification"),
				 errdetail("A sealed payload starts with \"%s\" followed by base64.", ENVELOPE_PREFIX)));
	key = seal_find_key(header.key_id);
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("notification is sealed with key %u, which this database does not have", header.key_id),
				 errdetail("The key expired after a rotation, or the notification comes from another database.")));
	if (strlen(channel) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel name is too long")));
	seal_aad(&aad, (uint32) PG_GETARG_INT32(1), channel);
	plain = palloc(bin_len);
	if (!envelope_open(key->key, &aad, bin, bin_len, plain, &plain_len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("notification does not open"),
				 errdetail("It was not sealed by backend %d for channel \"%s\" of this database, or it was altered.",
						   PG_GETARG_INT32(1), channel)));

	while ((r = envelope_next_record(plain, plain_len, &offset, &record, &record_len)) > 0)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum((int64) header.seq);
		values[1] = Int32GetDatum((int32) header.part);
		values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(record, record_len)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (r < 0)
		elog(ERROR, "sealed pg_realtime notification has a malformed batch");
	return (Datum) 0;
}
