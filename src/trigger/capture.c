/*
 * capture.c - gather a transaction's events; hand them to a sink at commit
 *
 * Events are appended, in the order of the changes, to chunks in
 * TopTransactionContext.  A stack of marks remembers where each open
 * subtransaction's events begin: rolling back a savepoint cuts the batch
 * back to its mark, releasing one merges its events into the parent's.  At
 * XACT_EVENT_PRE_COMMIT (xact.c calls it before PreCommit_Notify, so
 * Async_Notify still works there) the sink chosen at the transaction's
 * first event gets the batch; the transaction's memory goes with it.  A
 * sink that takes batches early (flush_size) gets one whenever that many
 * bytes have gathered at the top level, so that a huge transaction stays
 * bounded in memory unless it holds a savepoint open all along.
 */
#include "postgres.h"

#include "access/xact.h"
#include "port/pg_bswap.h"

#include <openssl/crypto.h>

#include "utils/memutils.h"

#include "capture.h"
#include "seal.h"

/*
 * Chunk sizes: the first is the backend's own, kept from one transaction
 * to the next (no allocation, no fresh pages for the common transaction),
 * each next one twice as big up to the maximum, in transaction memory.  A
 * record (at most ~8 kB) never spans two chunks.
 */
#define CAPTURE_CHUNK_FIRST (64 * 1024)
#define CAPTURE_CHUNK_MAX (1024 * 1024)

typedef struct CaptureMark
{
	int			nest_level;		/* subtransaction whose events start here */
	int			nchunks;		/* chunks then */
	int			chunk_len;		/* length of the last one then */
	int64		nevents;
	int64		nbytes;
} CaptureMark;

typedef struct CaptureState
{
	const CaptureSink *sink;
	CaptureBatch batch;
	List	   *marks;			/* CaptureMark, innermost last */
	bool		announce;		/* capture_announcement is set */
} CaptureState;

/* The current transaction's state (TopTransactionContext), or NULL. */
static CaptureState *capture_state = NULL;

/* A key to announce with: outside transaction memory, wiped at the end. */
static CaptureAnnounce capture_announcement;

/* The first chunk of every transaction's batch (TopMemoryContext). */
static StringInfoData capture_first_chunk;
static bool capture_callbacks = false;

/*
 * capture_remember_level
 *		Before appending at nest level: if the innermost mark is below it,
 *		push a mark for it at the current end of the batch.
 */
static void
capture_remember_level(CaptureState *st, int level)
{
	CaptureMark *mark;

	if (st->marks != NIL && ((CaptureMark *) llast(st->marks))->nest_level >= level)
		return;
	mark = palloc(sizeof(CaptureMark));
	mark->nest_level = level;
	mark->nchunks = list_length(st->batch.chunks);
	mark->chunk_len = mark->nchunks > 0 ? ((StringInfo) llast(st->batch.chunks))->len : 0;
	mark->nevents = st->batch.nevents;
	mark->nbytes = st->batch.nbytes;
	st->marks = lappend(st->marks, mark);
}

/* Cut the batch back to a mark. */
static void
capture_truncate(CaptureState *st, const CaptureMark *mark)
{
	while (list_length(st->batch.chunks) > mark->nchunks)
	{
		StringInfo	last = llast(st->batch.chunks);

		st->batch.chunks = list_delete_last(st->batch.chunks);
		if (last != &capture_first_chunk)
		{
			pfree(last->data);
			pfree(last);
		}
	}
	if (mark->nchunks > 0)
		((StringInfo) llast(st->batch.chunks))->len = mark->chunk_len;
	st->batch.nevents = mark->nevents;
	st->batch.nbytes = mark->nbytes;
}

/* Empty the batch (emitted early): its marks go with it. */
static void
capture_forget_batch(CaptureState *st)
{
	CaptureMark empty = {0};

	capture_truncate(st, &empty);
	list_free_deep(st->marks);
	st->marks = NIL;
}

/* Subtransaction callback: forget rolled-back events, merge released ones. */
static void
capture_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	CaptureState *st = capture_state;
	int			level = GetCurrentTransactionNestLevel();
	CaptureMark *mark;

	if (st == NULL || st->marks == NIL)
		return;
	mark = llast(st->marks);
	if (mark->nest_level < level)
		return;
	Assert(mark->nest_level == level);
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		capture_truncate(st, mark);
		st->marks = list_delete_last(st->marks);
		pfree(mark);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		CaptureMark *outer = list_length(st->marks) > 1
			? list_nth(st->marks, list_length(st->marks) - 2) : NULL;

		/* the parent's events then start at its own mark, or here */
		if (outer != NULL && outer->nest_level == level - 1)
		{
			st->marks = list_delete_last(st->marks);
			pfree(mark);
		}
		else
			mark->nest_level = level - 1;
	}
}

/* Transaction callback: emit at pre-commit; forget at the end. */
static void
capture_xact_callback(XactEvent event, void *arg)
{
	CaptureState *st = capture_state;

	if (st == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if ((st->batch.nevents > 0 || st->announce) && st->sink->emit != NULL)
				st->sink->emit(&st->batch, st->announce ? &capture_announcement : NULL);
			capture_state = NULL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			/* a message is part of the prepared transaction; a notification is not */
			if (st->sink->flush_size != NULL)
			{
				if (st->batch.nevents > 0 || st->announce)
					st->sink->emit(&st->batch, st->announce ? &capture_announcement : NULL);
			}
			else if (st->batch.nevents > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed tables tracked by pg_realtime"),
						 errdetail("Events are sent when their transaction commits; a prepared transaction commits in another session.")));
			capture_state = NULL;
			break;
		default:
			/* commit, abort, prepare: the memory goes with the transaction */
			capture_state = NULL;
			break;
	}
	if (capture_state == NULL && st->announce)
		OPENSSL_cleanse(&capture_announcement, sizeof(capture_announcement));
}

/* The current transaction's state, created on first use. */
static CaptureState *
capture_current(void)
{
	if (!capture_callbacks)
	{
		RegisterXactCallback(capture_xact_callback, NULL);
		RegisterSubXactCallback(capture_subxact_callback, NULL);
		capture_callbacks = true;
	}
	if (capture_state == NULL)
	{
		capture_state = MemoryContextAllocZero(TopTransactionContext, sizeof(CaptureState));
		capture_state->sink = seal_current_sink();
	}
	return capture_state;
}

const CaptureSink *
capture_begin(void)
{
	return capture_current()->sink;
}

void
capture_add(const char *event, int len)
{
	CaptureState *st = capture_current();
	MemoryContext oldcxt;
	StringInfo	chunk;
	uint32		netlen = pg_hton32((uint32) len);

	if (st->sink->add != NULL)
	{
		st->sink->add(event, len);
		return;
	}
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	chunk = st->batch.chunks != NIL ? llast(st->batch.chunks) : NULL;
	capture_remember_level(st, GetCurrentTransactionNestLevel());
	/* the +1: a StringInfo keeps room for a terminating NUL */
	if (chunk == NULL || chunk->len + (int) sizeof(netlen) + len + 1 > chunk->maxlen)
	{
		if (chunk == NULL)
		{
			/* the backend's first chunk (a rolled-back savepoint may give it back) */
			chunk = &capture_first_chunk;
			if (chunk->data == NULL)
			{
				chunk->data = MemoryContextAlloc(TopMemoryContext, CAPTURE_CHUNK_FIRST);
				chunk->maxlen = CAPTURE_CHUNK_FIRST;
			}
		}
		else
		{
			int			size = Min(chunk->maxlen * 2, CAPTURE_CHUNK_MAX);

			chunk = palloc(sizeof(StringInfoData));
			chunk->maxlen = Max(size, (int) sizeof(netlen) + len + 1);
			chunk->data = palloc(chunk->maxlen);
		}
		chunk->len = 0;
		chunk->cursor = 0;
		st->batch.chunks = lappend(st->batch.chunks, chunk);
	}
	appendBinaryStringInfoNT(chunk, (const char *) &netlen, sizeof(netlen));
	appendBinaryStringInfoNT(chunk, event, len);
	st->batch.nevents++;
	st->batch.nbytes += len;
	MemoryContextSwitchTo(oldcxt);

	/*
	 * A big transaction: what has gathered goes now, unless a savepoint is
	 * open (its rollback must still be able to take events back).
	 */
	if (st->sink->flush_size != NULL && st->batch.nbytes >= st->sink->flush_size() &&
		GetCurrentTransactionNestLevel() == 1)
	{
		/* a rotation in this transaction goes first: the batch has the new key */
		st->sink->emit(&st->batch, st->announce ? &capture_announcement : NULL);
		if (st->announce)
		{
			OPENSSL_cleanse(&capture_announcement, sizeof(capture_announcement));
			st->announce = false;
		}
		capture_forget_batch(st);
	}
}

void
capture_announce(uint32 previous_key_id, const unsigned char *previous_key)
{
	CaptureState *st = capture_current();

	capture_announcement.key_id = previous_key_id;
	memcpy(capture_announcement.key, previous_key, sizeof(capture_announcement.key));
	st->announce = true;
}

void
capture_cursor_init(CaptureCursor *cur, const CaptureBatch *batch)
{
	cur->batch = batch;
	cur->chunk = list_head(batch->chunks);
	cur->offset = 0;
}

int
capture_cursor_next(CaptureCursor *cur, const char **record)
{
	StringInfo	chunk;
	uint32		netlen;
	int			n;

	while (cur->chunk != NULL)
	{
		chunk = lfirst(cur->chunk);
		if (cur->offset < chunk->len)
			break;
		cur->chunk = lnext(cur->batch->chunks, cur->chunk);
		cur->offset = 0;
	}
	if (cur->chunk == NULL)
		return 0;
	chunk = lfirst(cur->chunk);
	memcpy(&netlen, chunk->data + cur->offset, sizeof(netlen));
	n = (int) sizeof(netlen) + (int) pg_ntoh32(netlen);
	*record = chunk->data + cur->offset;
	cur->offset += n;
	return n;
}
