/*
 * seal.h - the notification sinks of the trigger: sealed and plaintext;
 * the keys, which the wal transport's sinks (wal_sink.c) use too
 *
 * With pg_realtime.seal = on (the default) a transaction's events leave as
 * few notifications as fit 8000 bytes, each sealed with AES-256-GCM under the
 * database's current key (realtime.keys) and numbered by realtime.event_seq
 * (format: src/relay/envelope.h).  With seal = off each event is its own
 * plaintext notification, as JSON.  Writers' backends read the keys from C,
 * past the table's privileges, and keep them until realtime.rotate_key()
 * invalidates them.
 */
#ifndef PG_REALTIME_SEAL_H
#define PG_REALTIME_SEAL_H

#include "capture.h"

extern bool pg_realtime_seal;

/* Define pg_realtime.seal; called from trigger_init. */
extern void seal_init(void);

/* The sink that pg_realtime.transport and pg_realtime.seal select now. */
extern const CaptureSink *seal_current_sink(void);

/* The current key (32 bytes) and its id; errors if there is none. */
extern const unsigned char *seal_current_key(uint32 *id);

/* current_database(), as the associated data binds it. */
extern const char *seal_database_name(void);

#endif
