/*
 * members.c - the extension's own objects, found through its membership
 *
 * The trigger runs in writers' sessions, whose search_path is theirs.  It
 * never looks up a helper by name in a schema: the keys table, the event
 * sequence and realtime.store_large_event() are found among the objects
 * that belong to extension pg_realtime (pg_depend entries of type 'e', which
 * only the extension script creates), once per backend, and used by OID
 * from then on.  A relcache invalidation of the keys table (DROP EXTENSION
 * drops it) or any change of pg_proc forgets them.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "members.h"

static ExtensionMembers members_cache;
static bool members_valid = false;
static bool members_callbacks = false;

/* Relcache callback: forget the members when the keys table changes. */
static void
members_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == members_cache.keys_relid)
		members_valid = false;
}

/* Syscache callback on pg_proc: a member function may have gone. */
static void
members_proc_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	members_valid = false;
}

/* The error when the extension's objects are not all there. */
static void
members_missing(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("extension \"pg_realtime\" has no %s", what),
			 errdetail("The trigger uses the extension's own objects only."),
			 errhint("Reinstall the extension: DROP EXTENSION pg_realtime CASCADE; CREATE EXTENSION pg_realtime;")));
}

/*
 * members_resolve
 *		Scan pg_depend for the members of extension pg_realtime and pick
 *		the objects the trigger calls.
 */
static void
members_resolve(ExtensionMembers *m)
{
	Oid			extoid = get_extension_oid("pg_realtime", true);
	Relation	depend;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	memset(m, 0, sizeof(*m));
	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_realtime\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pg_realtime as a superuser.")));

	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->deptype != DEPENDENCY_EXTENSION)
			continue;
		if (dep->classid == RelationRelationId)
		{
			char	   *name = get_rel_name(dep->objid);
			char		kind = get_rel_relkind(dep->objid);

			if (name == NULL)
				continue;
			if (kind == RELKIND_RELATION && strcmp(name, "keys") == 0)
				m->keys_relid = dep->objid;
			else if (kind == RELKIND_SEQUENCE && strcmp(name, "event_seq") == 0)
				m->event_seq_relid = dep->objid;
		}
		else if (dep->classid == ProcedureRelationId)
		{
			char	   *name = get_func_name(dep->objid);

			if (name != NULL && strcmp(name, "store_large_event") == 0 &&
				get_func_nargs(dep->objid) == 1)
				m->store_large_event = dep->objid;
		}
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);

	if (!OidIsValid(m->keys_relid))
		members_missing("table realtime.keys");
	if (!OidIsValid(m->event_seq_relid))
		members_missing("sequence realtime.event_seq");
	if (!OidIsValid(m->store_large_event))
		members_missing("function realtime.store_large_event(text)");
}

/*
 * members_get
 *		The extension's objects the trigger uses, resolved once per backend.
 */
const ExtensionMembers *
members_get(void)
{
	if (!members_callbacks)
	{
		CacheRegisterRelcacheCallback(members_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, members_proc_callback, (Datum) 0);
		members_callbacks = true;
	}
	if (!members_valid)
	{
		ExtensionMembers m;

		members_resolve(&m);
		members_cache = m;
		members_valid = true;
	}
	return &members_cache;
}
