/*
 * wal_sink.h - the wal transport's sinks: a transaction's batch as
 * transactional logical decoding messages
 */
#ifndef PG_REALTIME_WAL_SINK_H
#define PG_REALTIME_WAL_SINK_H

#include "capture.h"

/* prefix of the logical decoding messages the relay reads */
#define WAL_SINK_PREFIX "pg_realtime"

/* pg_realtime.wal_batch_size: bytes gathered before a message is written */
extern int	pg_realtime_wal_batch_size;

/* Define the sink's GUC. */
extern void wal_sink_init(void);

/* The wal sink: sealed (pg_realtime.seal = on) or plaintext. */
extern const CaptureSink *wal_sink_get(bool sealed);

#endif
