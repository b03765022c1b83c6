/*
 * seal.h - the notification sinks of the trigger: sealed and plaintext
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

/* The sink that pg_realtime.seal selects now. */
extern const CaptureSink *seal_current_sink(void);

#endif
