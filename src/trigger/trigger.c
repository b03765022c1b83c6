/*
 * trigger.c - realtime.notify_trigger(): row changes as Appwrite events
 *
 * An AFTER ... FOR EACH ROW trigger in the style of contrib/tcn: it checks
 * how it was called, builds one compact JSON event per row change (format in
 * README "Event format") and adds it to the transaction's batch
 * (capture.c), which goes out, sealed, only when the transaction commits.
 * Events longer than the sink carries inline (pg_realtime.inline_payload_limit,
 * and what fits a sealed notification) are stored in realtime.large_events
 * and the batch gets a pointer to them.  With pg_realtime.transport = wal
 * the same batch goes out, sealed, as the transaction's logical decoding
 * messages (wal_sink.c), where every event fits inline.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "capture.h"
#include "large_event.h"
#include "roles.h"
#include "row_json.h"
#include "seal.h"
#include "trigger.h"
#include "trigger_options.h"
#include "wal_sink.h"

/* Above this size the event buffer is given back after use. */
#define TRIGGER_BUF_KEEP_SIZE (64 * 1024)

char	   *pg_realtime_database_id = NULL;
char	   *pg_realtime_channel = NULL;
int			pg_realtime_inline_payload_limit = TRIGGER_NOTIFY_MAX_LEN;
int			pg_realtime_transport = TRIGGER_TRANSPORT_NOTIFY;

/* the relay's settings table has the same names (src/relay/settings.c) */
static const struct config_enum_entry trigger_transport_options[] = {
	{"notify", TRIGGER_TRANSPORT_NOTIFY, false},
	{"wal", TRIGGER_TRANSPORT_WAL, false},
	{NULL, 0, false}
};

/*
 * Backend-local event counter written as "seq": it makes two otherwise equal
 * events of one transaction distinct, because NOTIFY drops duplicates.
 */
static uint64 trigger_seq = 0;

/* Reused for every event (TopMemoryContext). */
static StringInfoData trigger_buf;
static StringInfoData trigger_docid;
static StringInfoData trigger_docid_json;

/* current_database(), percent-encoded, and that JSON-escaped: once per backend */
static char *trigger_current_database = NULL;
static char *trigger_current_database_json = NULL;

PG_FUNCTION_INFO_V1(realtime_notify_trigger);
PG_FUNCTION_INFO_V1(realtime_database_id);

/* GUC check hook: pg_realtime.database_id is empty or a valid id. */
static bool
trigger_check_database_id(char **newval, void **extra, GucSource source)
{
	if (**newval == '\0' || trigger_options_valid_id(*newval))
		return true;
	GUC_check_errdetail("A database id has 1 to %d characters from a-z, A-Z, 0-9, hyphen and underscore.",
						TRIGGER_COLLECTION_MAX_LEN);
	return false;
}

/* GUC check hook: pg_realtime.channel is a usable NOTIFY channel name. */
static bool
trigger_check_channel(char **newval, void **extra, GucSource source)
{
	if (**newval != '\0' && strlen(*newval) < NAMEDATALEN)
		return true;
	GUC_check_errdetail("A channel name has 1 to %d bytes.", NAMEDATALEN - 1);
	return false;
}

/*
 * trigger_init
 *		Define the GUCs of the trigger side.
 */
void
trigger_init(void)
{
	DefineCustomStringVariable("pg_realtime.database_id",
							   "Database id used in event names.",
							   "Empty means the name of the current database.",
							   &pg_realtime_database_id,
							   "",
							   PGC_SUSET, 0,
							   trigger_check_database_id, NULL, NULL);
	DefineCustomStringVariable("pg_realtime.channel",
							   "NOTIFY channel that events are sent on.",
							   NULL,
							   &pg_realtime_channel,
							   "pg_realtime",
							   PGC_SUSET, 0,
							   trigger_check_channel, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.inline_payload_limit",
							"Longest event, in bytes, sent inline in the NOTIFY payload.",
							"Longer events are stored in realtime.large_events and the notification points at them.",
							&pg_realtime_inline_payload_limit,
							TRIGGER_NOTIFY_MAX_LEN, 256, TRIGGER_NOTIFY_MAX_LEN,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	seal_init();
	DefineCustomEnumVariable("pg_realtime.transport",
							 "How events travel from the triggers to the relays: notify or wal.",
							 "notify: NOTIFY on pg_realtime.channel. wal: transactional logical decoding messages, read by the relays through replication slots.",
							 &pg_realtime_transport,
							 TRIGGER_TRANSPORT_NOTIFY, trigger_transport_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	wal_sink_init();
}

/*
 * trigger_current_database_names
 *		The current database's name percent-encoded like a document id, and
 *		that JSON-escaped: once per backend (a connected database keeps its
 *		name).
 */
static void
trigger_current_database_names(void)
{
	char	   *name;
	StringInfoData enc;
	StringInfoData esc;

	if (trigger_current_database != NULL)
		return;
	name = get_database_name(MyDatabaseId);
	initStringInfo(&enc);
	row_json_append_id_part(&enc, name, strlen(name));
	initStringInfo(&esc);
	row_json_escape_inner(&esc, enc.data, enc.len);
	trigger_current_database_json = MemoryContextStrdup(TopMemoryContext, esc.data);
	trigger_current_database = MemoryContextStrdup(TopMemoryContext, enc.data);
	pfree(enc.data);
	pfree(esc.data);
}

/*
 * trigger_database_id
 *		The database id as it goes into JSON strings: the GUC (already
 *		restricted to a safe charset) or the current database's name,
 *		percent-encoded and JSON-escaped.
 */
static const char *
trigger_database_id(void)
{
	if (pg_realtime_database_id != NULL && pg_realtime_database_id[0] != '\0')
		return pg_realtime_database_id;
	trigger_current_database_names();
	return trigger_current_database_json;
}

/*
 * realtime.database_id() returns text
 *
 * The database id of events of this database as this session sees it (not
 * JSON-escaped): the relay compares it with the events it receives.
 */
Datum
realtime_database_id(PG_FUNCTION_ARGS)
{
	if (pg_realtime_database_id != NULL && pg_realtime_database_id[0] != '\0')
		PG_RETURN_TEXT_P(cstring_to_text(pg_realtime_database_id));
	trigger_current_database_names();
	PG_RETURN_TEXT_P(cstring_to_text(trigger_current_database));
}

/*
 * trigger_append_read
 *		Append the read roles: the collection's, then the read("...")
 *		entries of the document's permissions that are not already listed.
 */
static void
trigger_append_read(StringInfo buf, const TriggerConfig *cfg,
					Datum *perms, bool *permnulls, int nperms)
{
	int			i;

	row_json_append_literal(buf, ",\"read\":[");
	appendStringInfoString(buf, cfg->read_json);
	for (i = 0; i < nperms; i++)
	{
		const char *role;
		int			rolelen;
		bool		dup = false;
		ListCell   *lc;
		int			j;

		if (permnulls[i])
			continue;
		role = roles_read_permission(VARDATA_ANY(perms[i]), VARSIZE_ANY_EXHDR(perms[i]), &rolelen);
		if (role == NULL)
			continue;
		foreach(lc, cfg->opts.read_roles)
		{
			const char *r = strVal(lfirst(lc));

			if (strlen(r) == (size_t) rolelen && memcmp(r, role, rolelen) == 0)
				dup = true;
		}
		for (j = 0; j < i && !dup; j++)
		{
			const char *prev;
			int			prevlen;

			if (permnulls[j])
				continue;
			prev = roles_read_permission(VARDATA_ANY(perms[j]), VARSIZE_ANY_EXHDR(perms[j]), &prevlen);
			if (prev != NULL && prevlen == rolelen && memcmp(prev, role, rolelen) == 0)
				dup = true;
		}
		if (dup)
			continue;
		if (buf->data[buf->len - 1] != '[')
			appendStringInfoCharMacro(buf, ',');
		row_json_escape(buf, role, rolelen);
	}
	appendStringInfoCharMacro(buf, ']');
}

/*
 * trigger_build_event
 *		Write the event of one row change into buf.  *header_len is the
 *		length of the part shared with a large-event pointer (everything up
 *		to and including "documentId").
 */
static void
trigger_build_event(StringInfo buf, const TriggerConfig *cfg, const char *action,
					TupleTableSlot *slot, TupleTableSlot *oldslot, int *header_len)
{
	const RowJsonRel *rj = cfg->rel;
	const char *db = trigger_database_id();
	const char *col = cfg->collection_json;
	int			collen = strlen(col) - 2;	/* without the quotes */
	const char *docid;
	int			dblen;
	int			actionlen;
	int			docidlen;
	Datum	   *perms = NULL;
	bool	   *permnulls = NULL;
	int			nperms = 0;
	int			i;
	char		seqbuf[MAXINT8LEN + 1];
	int			seqlen;

	/* the document id: percent-encoded, then JSON-escaped once for 3 uses */
	resetStringInfo(&trigger_docid);
	row_json_document_id(&trigger_docid, rj, slot);
	resetStringInfo(&trigger_docid_json);
	row_json_escape_inner(&trigger_docid_json, trigger_docid.data, trigger_docid.len);
	docid = trigger_docid_json.data;

	/*
	 * Plain appends of known lengths rather than a format or strlen(): this
	 * runs for every row.
	 */
	dblen = strlen(db);
	actionlen = strlen(action);
	docidlen = trigger_docid_json.len;
	row_json_append_literal(buf, "{\"v\":1,\"event\":\"databases.");
	row_json_append(buf, db, dblen);
	row_json_append_literal(buf, ".collections.");
	row_json_append(buf, col + 1, collen);
	row_json_append_literal(buf, ".documents.");
	row_json_append(buf, docid, docidlen);
	appendStringInfoCharMacro(buf, '.');
	row_json_append(buf, action, actionlen);
	row_json_append_literal(buf, "\",\"action\":\"");
	row_json_append(buf, action, actionlen);
	row_json_append_literal(buf, "\",\"databaseId\":\"");
	row_json_append(buf, db, dblen);
	row_json_append_literal(buf, "\",\"collectionId\":");
	row_json_append(buf, col, collen + 2);
	row_json_append_literal(buf, ",\"documentId\":\"");
	row_json_append(buf, docid, docidlen);
	appendStringInfoCharMacro(buf, '"');
	*header_len = buf->len;

	if (rj->permissions_attnum != 0 && !slot->tts_isnull[rj->permissions_attnum - 1])
	{
		ArrayType  *arr = DatumGetArrayTypeP(slot->tts_values[rj->permissions_attnum - 1]);

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &perms, &permnulls, &nperms);
		for (i = 0; i < nperms; i++)
			if (!permnulls[i])
				perms[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(perms[i]));
	}
	trigger_append_read(buf, cfg, perms, permnulls, nperms);

	if (oldslot != NULL)
	{
		row_json_append_literal(buf, ",\"changed\":");
		row_json_changed(buf, rj, slot, oldslot);
	}

	row_json_append_literal(buf, ",\"payload\":{\"$id\":\"");
	row_json_append(buf, docid, docidlen);
	row_json_append_literal(buf, "\",\"$collectionId\":");
	row_json_append(buf, col, collen + 2);
	row_json_append_literal(buf, ",\"$databaseId\":\"");
	row_json_append(buf, db, dblen);
	row_json_append_literal(buf, "\",\"$createdAt\":");
	row_json_timestamp(buf, slot, rj->created_at_attnum);
	row_json_append_literal(buf, ",\"$updatedAt\":");
	row_json_timestamp(buf, slot, rj->updated_at_attnum);
	row_json_append_literal(buf, ",\"$permissions\":[");
	for (i = 0; i < nperms; i++)
	{
		if (permnulls[i])
			continue;
		if (buf->data[buf->len - 1] != '[')
			appendStringInfoCharMacro(buf, ',');
		row_json_escape(buf, VARDATA_ANY(perms[i]), VARSIZE_ANY_EXHDR(perms[i]));
	}
	appendStringInfoCharMacro(buf, ']');
	row_json_columns(buf, rj, slot);
	row_json_append_literal(buf, "},\"seq\":");
	seqlen = pg_ulltoa_n(trigger_seq, seqbuf);
	row_json_append(buf, seqbuf, seqlen);
	appendStringInfoCharMacro(buf, '}');
}

/*
 * trigger_capture_large
 *		Store the event in buf as a large event and capture a pointer to it:
 *		the header of the event, then "large", "bytes" and "seq".  limit is
 *		the longest event the sink carries inline.
 */
static void
trigger_capture_large(StringInfo buf, int header_len, int limit)
{
	int			bytes = buf->len;
	int64		id = large_event_store(buf->data, buf->len);

	/*
	 * The header holds the document id, which has no length limit of its
	 * own; if the pointer could not fit, keep only {"v":1.
	 */
	if (header_len + 96 > limit)
		header_len = strlen("{\"v\":1");
	buf->len = header_len;
	buf->data[header_len] = '\0';
	appendStringInfo(buf, ",\"large\":" INT64_FORMAT ",\"bytes\":%d,\"seq\":" UINT64_FORMAT "}",
					 id, bytes, trigger_seq);
	capture_add(buf->data, buf->len);
}

/*
 * realtime.notify_trigger() returns trigger
 *
 * AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW; options as arguments
 * "key=value" (trigger_options.c).
 */
Datum
realtime_notify_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerConfig *cfg;
	TupleTableSlot *slot;
	TupleTableSlot *oldslot = NULL;
	const char *action;
	int			header_len;
	int			limit;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("realtime.notify_trigger: must be called as trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("realtime.notify_trigger: must be called after the change")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("realtime.notify_trigger: must be called for each row")));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		action = "create";
		slot = trigdata->tg_trigslot;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		action = "update";
		slot = trigdata->tg_newslot;
		oldslot = trigdata->tg_trigslot;
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		action = "delete";
		slot = trigdata->tg_trigslot;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("realtime.notify_trigger: must be called for INSERT, UPDATE or DELETE")));

	cfg = trigger_config_get(trigdata->tg_trigger, trigdata->tg_relation);

	slot_getallattrs(slot);
	if (oldslot != NULL)
		slot_getallattrs(oldslot);

	if (trigger_buf.data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&trigger_buf);
		initStringInfo(&trigger_docid);
		initStringInfo(&trigger_docid_json);
		MemoryContextSwitchTo(oldcxt);
	}
	resetStringInfo(&trigger_buf);
	trigger_seq++;

	/* the transaction's sink decides what goes inline */
	limit = capture_begin()->max_event();
	trigger_build_event(&trigger_buf, cfg, action, slot, oldslot, &header_len);
	if (trigger_buf.len > limit)
		trigger_capture_large(&trigger_buf, header_len, limit);
	else
		capture_add(trigger_buf.data, trigger_buf.len);

	/* do not keep a megabyte around because one row was large */
	if (trigger_buf.maxlen > TRIGGER_BUF_KEEP_SIZE)
	{
		pfree(trigger_buf.data);
		trigger_buf.data = NULL;
		pfree(trigger_docid.data);
		pfree(trigger_docid_json.data);
	}

	return PointerGetDatum(NULL);
}
