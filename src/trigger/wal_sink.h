/*
 * wal_sink.h - the wal transport's capture: a transaction's events as
 * transactional logical decoding messages
 */
#ifndef PG_REALTIME_WAL_SINK_H
#define PG_REALTIME_WAL_SINK_H

/* prefix of the logical decoding messages the relay reads */
#define WAL_SINK_PREFIX "pg_realtime"

/* pg_realtime.wal_batch_size: bytes gathered before a message is written */
extern int	pg_realtime_wal_batch_size;

/* Define the sink's GUC. */
extern void wal_sink_init(void);

/* Add one event (JSON) to the current transaction's batch. */
extern void wal_sink_add(const char *event, int len);

#endif
