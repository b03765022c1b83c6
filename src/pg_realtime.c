/*
 * pg_realtime.c - module entry point: each subsystem defines its own GUCs
 *
 * The library works without shared_preload_libraries (the trigger loads it
 * on first use in any backend); preloading it also starts the relay worker.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "trigger/trigger.h"
#include "host/worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	trigger_init();
	worker_init();
	MarkGUCPrefixReserved("pg_realtime");
}
