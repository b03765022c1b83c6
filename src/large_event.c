/*
 * large_event.c - events too big for a NOTIFY payload
 *
 * The row is written through realtime.store_large_event(), a SECURITY
 * DEFINER function, so that users whose changes fire the trigger need no
 * privilege on realtime.large_events.  This is the only SPI on the event
 * path, and only for large events; its plan is prepared once per backend.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "large_event.h"

static SPIPlanPtr large_event_plan = NULL;

/*
 * large_event_store
 *		Insert the event into realtime.large_events and return its id.
 */
int64
large_event_store(const char *event, int len)
{
	Datum		arg = PointerGetDatum(cstring_to_text_with_len(event, len));
	bool		isnull;
	int64		id;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (large_event_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT realtime.store_large_event($1)", 1, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		large_event_plan = plan;
	}
	ret = SPI_execute_plan(large_event_plan, &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "realtime.store_large_event failed: %s", SPI_result_code_string(ret));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "realtime.store_large_event returned null");
	SPI_finish();
	return id;
}
