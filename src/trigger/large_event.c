/*
 * large_event.c - events too big for a NOTIFY payload
 *
 * The row is written by calling realtime.store_large_event(), a SECURITY
 * DEFINER function, through fmgr by the OID it was installed with
 * (members.c): users whose changes fire the trigger need no privilege on it,
 * on realtime.large_events nor USAGE on schema realtime, and no name is
 * looked up in a schema anyone else could write to.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "large_event.h"
#include "members.h"

/*
 * large_event_store
 *		Insert the event into realtime.large_events and return its id.
 */
int64
large_event_store(const char *event, int len)
{
	Datum		arg = PointerGetDatum(cstring_to_text_with_len(event, len));

	return DatumGetInt64(OidFunctionCall1(members_get()->store_large_event, arg));
}
