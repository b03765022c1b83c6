/*
 * worker.h - the relay as a PostgreSQL background worker
 */
#ifndef PG_REALTIME_WORKER_H
#define PG_REALTIME_WORKER_H

extern void worker_init(void);

#endif
