/*
 * large_event.h - events too big for a NOTIFY payload
 *
 * An event whose JSON exceeds pg_realtime.inline_payload_limit is stored in
 * realtime.large_events, in the same transaction as the change, and the
 * notification only points at it.
 */
#ifndef PG_REALTIME_LARGE_EVENT_H
#define PG_REALTIME_LARGE_EVENT_H

#include "postgres.h"

/* Store the event's JSON in realtime.large_events; return the row's id. */
extern int64 large_event_store(const char *event, int len);

#endif
