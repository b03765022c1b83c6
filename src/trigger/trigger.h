/*
 * trigger.h - realtime.notify_trigger() and the GUCs of the trigger side
 */
#ifndef PG_REALTIME_TRIGGER_H
#define PG_REALTIME_TRIGGER_H

/* Longest NOTIFY payload PostgreSQL accepts (async.c: strictly below 8000). */
#define TRIGGER_NOTIFY_MAX_LEN 7999

extern char *pg_realtime_database_id;
extern char *pg_realtime_channel;
extern int	pg_realtime_inline_payload_limit;

/* pg_realtime.transport */
#define TRIGGER_TRANSPORT_NOTIFY 0
#define TRIGGER_TRANSPORT_WAL 1
extern int	pg_realtime_transport;

/* Define the trigger side's GUCs; called from _PG_init. */
extern void trigger_init(void);

#endif
