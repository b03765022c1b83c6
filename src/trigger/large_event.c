/*
 * large_event.c - events too big for a NOTIFY payload
 *
 * The row is written by calling realtime.store_large_event(), a SECURITY
 * DEFINER function, through fmgr: users whose changes fire the trigger need
 * no privilege on realtime.large_events nor USAGE on schema realtime, and no
 * SPI or name resolution against the user's search_path is involved.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "large_event.h"

/*
 * large_event_store_function
 *		The oid of realtime.store_large_event(text).  Looked up on each
 *		large event (one syscache probe), so a re-created extension is found.
 */
static Oid
large_event_store_function(void)
{
	Oid			nspoid = get_namespace_oid("realtime", false);
	Oid			argtypes[1] = {TEXTOID};
	oidvector  *args = buildoidvector(argtypes, 1);
	Oid			funcoid;

	funcoid = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
							  CStringGetDatum("store_large_event"),
							  PointerGetDatum(args),
							  ObjectIdGetDatum(nspoid));
	if (!OidIsValid(funcoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function realtime.store_large_event(text) does not exist"),
				 errhint("Reinstall the extension: DROP EXTENSION pg_realtime; CREATE EXTENSION pg_realtime;")));
	return funcoid;
}

/*
 * large_event_store
 *		Insert the event into realtime.large_events and return its id.
 */
int64
large_event_store(const char *event, int len)
{
	Datum		arg = PointerGetDatum(cstring_to_text_with_len(event, len));

	return DatumGetInt64(OidFunctionCall1(large_event_store_function(), arg));
}
