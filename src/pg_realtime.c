/*
 * pg_realtime.c - module entry point: each subsystem defines its own GUCs
 */
#include "postgres.h"

#include "fmgr.h"

#include "trigger.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	trigger_init();
}
