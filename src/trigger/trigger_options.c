/*
 * trigger_options.c - parse, check and cache the options of a trigger
 *
 * A pg_realtime trigger takes its options as arguments "key=value" (as
 * realtime.track() writes them, or as a user writes them in CREATE TRIGGER).
 * They are parsed and checked on the trigger's first use in a backend and
 * kept, with the table's column metadata, in a hash keyed by trigger oid.
 * A relcache invalidation of the table (ALTER TABLE, CREATE/DROP TRIGGER)
 * marks its entries stale, and the next use rebuilds them.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "roles.h"
#include "row_json.h"
#include "trigger_options.h"

PG_FUNCTION_INFO_V1(realtime_check_trigger_args);

static HTAB *trigger_config_cache = NULL;

/*
 * The entry returned last: a statement fires the same trigger for each of
 * its rows, so this spares a hash probe per row.  Entries are never removed
 * from the hash, so the pointer stays valid.
 */
static TriggerConfig *trigger_config_last = NULL;

/*
 * trigger_options_set_once
 *		Store a single-valued option, refusing a second value.
 */
static void
trigger_options_set_once(char **field, const char *key, const char *value)
{
	if (*field != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_realtime trigger option \"%s\" given more than once", key),
				 errhint("Give each option except read, id_column and exclude_columns once.")));
	*field = pstrdup(value);
}

/*
 * trigger_options_add_roles
 *		Add the comma-separated roles of a read option, checked, without
 *		duplicates.  An empty value adds nothing ("read=" means no roles).
 */
static void
trigger_options_add_roles(TriggerOptions *opts, const char *value)
{
	char	   *copy = pstrdup(value);
	char	   *role;
	char	   *next;

	for (role = copy; role != NULL; role = next)
	{
		next = strchr(role, ',');
		if (next)
			*next++ = '\0';
		if (*role == '\0')
			continue;
		roles_check(role, "option \"read\"");
		if (!list_member(opts->read_roles, makeString(role)))
			opts->read_roles = lappend(opts->read_roles, makeString(role));
	}
}

/*
 * trigger_options_valid_id
 *		True if id is an Appwrite key usable as one level of an event name:
 *		1 to 36 characters from [a-zA-Z0-9_-] (Appwrite also allows '.', but
 *		periods separate the levels).
 */
bool
trigger_options_valid_id(const char *id)
{
	size_t		len = strlen(id);
	const char *p;

	for (p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return len > 0 && len <= TRIGGER_COLLECTION_MAX_LEN;
}

/*
 * trigger_options_check_collection
 *		Error unless id is a valid collection id.
 */
static void
trigger_options_check_collection(const char *id)
{
	if (!trigger_options_valid_id(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid collection id \"%s\"", id),
				 errdetail("A collection id has 1 to %d characters from a-z, A-Z, 0-9, hyphen and underscore (no period: periods separate the levels of an event name).",
						   TRIGGER_COLLECTION_MAX_LEN),
				 errhint("Pass a valid id, for example realtime.track('my table', collection => 'my_table').")));
}

/*
 * trigger_options_parse
 *		Parse the trigger arguments of rel into opts; error on anything
 *		unknown or invalid.  Column names are checked by row_json_rel_build.
 */
static void
trigger_options_parse(TriggerOptions *opts, int nargs, char **args, Relation rel)
{
	int			i;

	memset(opts, 0, sizeof(TriggerOptions));
	for (i = 0; i < nargs; i++)
	{
		const char *arg = args[i];
		const char *eq = strchr(arg, '=');
		const char *value;
		char	   *key;

		if (eq == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid pg_realtime trigger argument \"%s\"", arg),
					 errhint("Trigger arguments have the form key=value, for example 'collection=orders' or 'read=any,users'.")));
		key = pnstrdup(arg, eq - arg);
		value = eq + 1;

		if (strcmp(key, "collection") == 0)
			trigger_options_set_once(&opts->collection, key, value);
		else if (strcmp(key, "id_column") == 0)
			opts->id_columns = lappend(opts->id_columns, pstrdup(value));
		else if (strcmp(key, "read") == 0)
			trigger_options_add_roles(opts, value);
		else if (strcmp(key, "permissions_column") == 0)
			trigger_options_set_once(&opts->permissions_column, key, value);
		else if (strcmp(key, "created_at_column") == 0)
			trigger_options_set_once(&opts->created_at_column, key, value);
		else if (strcmp(key, "updated_at_column") == 0)
			trigger_options_set_once(&opts->updated_at_column, key, value);
		else if (strcmp(key, "exclude_columns") == 0)
			opts->exclude_columns = lappend(opts->exclude_columns, pstrdup(value));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown pg_realtime trigger option \"%s\"", key),
					 errhint("Known options are collection, id_column, read, permissions_column, created_at_column, updated_at_column and exclude_columns.")));
	}
	if (opts->collection == NULL)
		opts->collection = pstrdup(RelationGetRelationName(rel));
	trigger_options_check_collection(opts->collection);
}

/*
 * trigger_config_build
 *		Parse and check the arguments and compute everything cached with
 *		them, allocating in CurrentMemoryContext.
 */
static void
trigger_config_build(TriggerConfig *cfg, int nargs, char **args, Relation rel)
{
	StringInfoData buf;
	ListCell   *lc;

	memset(cfg, 0, sizeof(TriggerConfig));
	trigger_options_parse(&cfg->opts, nargs, args, rel);
	cfg->rel = row_json_rel_build(rel, &cfg->opts);

	initStringInfo(&buf);
	row_json_escape(&buf, cfg->opts.collection, strlen(cfg->opts.collection));
	cfg->collection_json = buf.data;

	initStringInfo(&buf);
	foreach(lc, cfg->opts.read_roles)
	{
		const char *role = strVal(lfirst(lc));

		if (buf.len > 0)
			appendStringInfoChar(&buf, ',');
		row_json_escape(&buf, role, strlen(role));
	}
	cfg->read_json = buf.data;
}

/*
 * trigger_config_invalidate
 *		Relcache callback: mark the entries of relid (all if InvalidOid)
 *		stale.  Nothing is freed here; the next use rebuilds.
 */
static void
trigger_config_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	TriggerConfig *entry;

	if (trigger_config_cache == NULL)
		return;
	hash_seq_init(&status, trigger_config_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || entry->relid == relid)
			entry->valid = false;
}

/*
 * trigger_config_get
 *		The checked configuration of trigger on rel, from the cache or
 *		built now.
 */
TriggerConfig *
trigger_config_get(Trigger *trigger, Relation rel)
{
	TriggerConfig *entry;
	TriggerConfig cfg;
	MemoryContext cxt;
	MemoryContext oldcxt;
	bool		found;

	if (trigger_config_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TriggerConfig);
		ctl.hcxt = CacheMemoryContext;
		trigger_config_cache = hash_create("pg_realtime trigger configs", 16, &ctl,
										   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(trigger_config_invalidate, (Datum) 0);
	}

	if (trigger_config_last != NULL && trigger_config_last->tgoid == trigger->tgoid &&
		trigger_config_last->valid)
		return trigger_config_last;

	entry = hash_search(trigger_config_cache, &trigger->tgoid, HASH_FIND, NULL);
	if (entry != NULL && entry->valid)
	{
		trigger_config_last = entry;
		return entry;
	}

	/*
	 * Build in a context of its own under the caller's, so that an error
	 * leaves nothing behind; move it under CacheMemoryContext on success.
	 */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_realtime trigger config",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	trigger_config_build(&cfg, trigger->tgnargs, trigger->tgargs, rel);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextSetParent(cxt, CacheMemoryContext);

	entry = hash_search(trigger_config_cache, &trigger->tgoid, HASH_ENTER, &found);
	if (found && entry->cxt != NULL)
		MemoryContextDelete(entry->cxt);
	cfg.tgoid = trigger->tgoid;
	cfg.relid = RelationGetRelid(rel);
	cfg.cxt = cxt;
	cfg.valid = true;
	*entry = cfg;
	trigger_config_last = entry;
	return entry;
}

/*
 * realtime.check_trigger_args(tbl regclass, args text[]) returns void
 *
 * Check trigger arguments for a table exactly as the trigger will on its
 * first use, so that realtime.track() reports problems up front.
 */
Datum
realtime_check_trigger_args(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	char	  **args;
	int			i;
	Relation	rel;
	TriggerConfig cfg;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	args = palloc(sizeof(char *) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("pg_realtime trigger arguments must not be null")));
		args[i] = TextDatumGetCString(elems[i]);
	}

	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errhint("pg_realtime tracks ordinary and partitioned tables.")));
	trigger_config_build(&cfg, nelems, args, rel);
	table_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}
