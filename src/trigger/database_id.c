/*
 * database_id.c - realtime.database_id(): the D of this session's event names
 *
 * pg_realtime.database_id, or the current database's name percent-encoded
 * as the trigger encodes it (row_json_append_id_part), unescaped: the text
 * a channel names.  track() builds the channel it returns from it, and the
 * relay asks each database for it to warn about channels that never match.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "row_json.h"
#include "trigger.h"

PG_FUNCTION_INFO_V1(realtime_database_id);

Datum
realtime_database_id(PG_FUNCTION_ARGS)
{
	StringInfoData id;
	char	   *name;

	if (pg_realtime_database_id != NULL && pg_realtime_database_id[0] != '\0')
		PG_RETURN_TEXT_P(cstring_to_text(pg_realtime_database_id));
	name = get_database_name(MyDatabaseId);
	initStringInfo(&id);
	row_json_append_id_part(&id, name, strlen(name));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(id.data, id.len));
}
