/*
 * capture.h - a transaction's events, gathered until it commits
 *
 * The trigger hands each event to capture_add(); the events of a rolled
 * back subtransaction are forgotten; at XACT_EVENT_PRE_COMMIT (before
 * PostgreSQL queues its notifications) the transaction's batch goes, in
 * order, to the sink chosen at its first event.  Sinks: sealed
 * notifications (seal.c, the default) and plaintext ones (one NOTIFY per
 * event, pg_realtime.seal = off); with pg_realtime.transport = wal, sealed
 * or plaintext logical decoding messages (wal_sink.c), written early in
 * bounded pieces in a big transaction.
 */
#ifndef PG_REALTIME_CAPTURE_H
#define PG_REALTIME_CAPTURE_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* A transaction's batch: records [u32 length][event] in chunks. */
typedef struct CaptureBatch
{
	List	   *chunks;			/* StringInfo; a record never spans two */
	int64		nevents;
	int64		nbytes;			/* bytes of events, without length prefixes */
} CaptureBatch;

/* Read position in a batch. */
typedef struct CaptureCursor
{
	ListCell   *chunk;
	int			offset;
	const CaptureBatch *batch;
} CaptureCursor;

/*
 * A key rotation to announce at commit: an empty batch sealed with the key
 * that was current before (the relay has it), so that the relay reads the
 * keys again before the first event sealed with the new one.
 */
typedef struct CaptureAnnounce
{
	uint32		key_id;
	unsigned char key[32];
} CaptureAnnounce;

/*
 * A transport for the batches.  emit() gets the whole batch at pre-commit
 * (and the announcement, or NULL); max_event is the longest event it can
 * carry inline (longer ones are stored in realtime.large_events and a
 * pointer is captured instead).  A sink with add() gathers nothing: each
 * event (NUL-terminated) goes to add() at once, and emit() is not called.
 * A sink with flush_size() also gets the batch early (with the
 * announcement, if one is due, which then is not repeated) each time it
 * holds that many bytes while no subtransaction is open (what it emitted
 * then is forgotten); one without it keeps the whole transaction's batch
 * until commit.
 */
typedef struct CaptureSink
{
	const char *name;
	int			(*max_event) (void);
	void		(*add) (const char *event, int len);
	void		(*emit) (const CaptureBatch *batch, const CaptureAnnounce *announce);
	int			(*flush_size) (void);
} CaptureSink;

/*
 * Start (if needed) the current transaction's batch and return its sink:
 * the trigger asks before building an event, so that the sink decides the
 * inline limit for the whole transaction.
 */
extern const CaptureSink *capture_begin(void);

/* Append one event (JSON text, NUL-terminated) to the current transaction's batch. */
extern void capture_add(const char *event, int len);

/* Announce a key rotation at commit (see CaptureAnnounce). */
extern void capture_announce(uint32 previous_key_id, const unsigned char *previous_key);

/* Iterate over a batch's events in order. */
extern void capture_cursor_init(CaptureCursor *cur, const CaptureBatch *batch);

/*
 * The next record: sets *record to its [u32 length][event] bytes and returns
 * their count, or 0 at the end.
 */
extern int	capture_cursor_next(CaptureCursor *cur, const char **record);

#endif
