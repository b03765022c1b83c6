/*
 * wal_sink.c - the wal transport's capture (pg_realtime.transport = wal)
 *
 * The events of a transaction are gathered in one buffer and written with
 * LogLogicalMessage(prefix "pg_realtime", transactional) just before commit
 * (XACT_EVENT_PRE_COMMIT), so a transaction of single-row changes costs one
 * WAL record and the decoder one message, whatever its row count.  The
 * content is a sequence of records: a 4-byte big-endian length, then the
 * event's JSON (README "Event format").  Logical decoding delivers the
 * message with its transaction's BEGIN (commit LSN) and COMMIT, or not at
 * all if the transaction rolls back.
 *
 * Savepoints: each open subtransaction remembers where the buffer stood
 * when it began, and a rollback to it cuts the buffer back.  Memory stays
 * bounded in big transactions: when the buffer passes
 * pg_realtime.wal_batch_size outside any subtransaction, it is written at
 * once as a message of its own (the transaction's later messages follow it
 * in the same transaction).  Inside a subtransaction it keeps growing,
 * because a message written there would belong to the subtransaction and
 * be dropped by the decoder if it rolled back, taking the outer events
 * along.
 */
#include "postgres.h"

#include "access/xact.h"
#include "replication/message.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "wal_sink.h"

int			pg_realtime_wal_batch_size = 256 * 1024;

/* where the buffer stood when an open subtransaction began */
typedef struct WalSinkMark
{
	SubTransactionId subid;
	int			len;
} WalSinkMark;

static StringInfoData wal_sink_buf;	/* TopMemoryContext */
static WalSinkMark *wal_sink_marks;
static int	wal_sink_nmarks;
static int	wal_sink_maxmarks;

/* Above this size the buffer is given back after the transaction. */
#define WAL_SINK_KEEP_SIZE (64 * 1024)

static void wal_sink_xact_callback(XactEvent event, void *arg);
static void wal_sink_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);

void
wal_sink_init(void)
{
	DefineCustomIntVariable("pg_realtime.wal_batch_size",
							"Bytes of events gathered before a logical decoding message is written (wal transport).",
							"A transaction's events go out as one message at commit; a bigger transaction writes a message each time this much has gathered outside any subtransaction.",
							&pg_realtime_wal_batch_size,
							256 * 1024, 1024, MaxAllocSize / 2,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	/*
	 * Registered at load, not at the first event: a savepoint taken before
	 * the first event must still be seen to begin.
	 */
	RegisterXactCallback(wal_sink_xact_callback, NULL);
	RegisterSubXactCallback(wal_sink_subxact_callback, NULL);
}

/* Write what is gathered as one message of the current transaction. */
static void
wal_sink_flush(void)
{
	if (wal_sink_buf.len == 0)
		return;
	LogLogicalMessage(WAL_SINK_PREFIX, wal_sink_buf.data, wal_sink_buf.len, true);
	resetStringInfo(&wal_sink_buf);
}

/* Forget the transaction's events; give back a big buffer. */
static void
wal_sink_reset(void)
{
	wal_sink_nmarks = 0;
	if (wal_sink_buf.data == NULL)
		return;
	if (wal_sink_buf.maxlen > WAL_SINK_KEEP_SIZE)
	{
		pfree(wal_sink_buf.data);
		wal_sink_buf.data = NULL;
	}
	else
		resetStringInfo(&wal_sink_buf);
}

static void
wal_sink_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (wal_sink_buf.data != NULL)
				wal_sink_flush();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_ABORT:
			wal_sink_reset();
			break;
		default:
			break;
	}
}

static void
wal_sink_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (wal_sink_nmarks == wal_sink_maxmarks)
			{
				int			n = wal_sink_maxmarks ? wal_sink_maxmarks * 2 : 16;

				wal_sink_marks = wal_sink_marks
					? repalloc(wal_sink_marks, n * sizeof(WalSinkMark))
					: MemoryContextAlloc(TopMemoryContext, n * sizeof(WalSinkMark));
				wal_sink_maxmarks = n;
			}
			wal_sink_marks[wal_sink_nmarks].subid = mySubid;
			wal_sink_marks[wal_sink_nmarks].len = wal_sink_buf.data ? wal_sink_buf.len : 0;
			wal_sink_nmarks++;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
		case SUBXACT_EVENT_ABORT_SUB:
			{
				/*
				 * The innermost open subtransaction ends (marks are pushed in
				 * order).  No mark: it began before the library was loaded,
				 * when this backend had gathered nothing.
				 */
				int			keep = 0;

				while (wal_sink_nmarks > 0)
				{
					WalSinkMark *m = &wal_sink_marks[--wal_sink_nmarks];

					if (m->subid == mySubid)
					{
						keep = m->len;
						break;
					}
				}
				if (event == SUBXACT_EVENT_ABORT_SUB && wal_sink_buf.data != NULL &&
					keep < wal_sink_buf.len)
				{
					wal_sink_buf.len = keep;
					wal_sink_buf.data[keep] = '\0';
				}
			}
			break;
		default:
			break;
	}
}

void
wal_sink_add(const char *event, int len)
{
	unsigned char hdr[4];

	if (wal_sink_buf.data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&wal_sink_buf);
		MemoryContextSwitchTo(oldcxt);
	}
	hdr[0] = (unsigned char) (len >> 24);
	hdr[1] = (unsigned char) (len >> 16);
	hdr[2] = (unsigned char) (len >> 8);
	hdr[3] = (unsigned char) len;
	appendBinaryStringInfo(&wal_sink_buf, (const char *) hdr, 4);
	appendBinaryStringInfo(&wal_sink_buf, event, len);
	if (wal_sink_nmarks == 0 && wal_sink_buf.len >= pg_realtime_wal_batch_size)
		wal_sink_flush();
}
