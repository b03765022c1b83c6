/*
 * trigger_options.h - the options of one pg_realtime trigger
 *
 * Options come from the trigger's arguments (tgargs, "key=value"), are
 * parsed and checked once, and cached per trigger together with the
 * relation's column metadata (row_json.h) until a relcache invalidation of
 * the table says the table or its triggers changed.
 */
#ifndef PG_REALTIME_TRIGGER_OPTIONS_H
#define PG_REALTIME_TRIGGER_OPTIONS_H

#include "nodes/pg_list.h"
#include "utils/rel.h"

/* The maximum length of a collection id (Appwrite key). */
#define TRIGGER_COLLECTION_MAX_LEN 36

typedef struct TriggerOptions
{
	char	   *collection;		/* collection id; default the table name */
	List	   *id_columns;		/* names (char *) of the document id; NIL: PK */
	List	   *read_roles;		/* collection read roles (String), no dups */
	char	   *permissions_column; /* text[] of read("...") entries, or NULL */
	char	   *created_at_column;	/* timestamptz column for $createdAt */
	char	   *updated_at_column;	/* timestamptz column for $updatedAt */
	List	   *exclude_columns;	/* names (char *) left out of the payload */
} TriggerOptions;

struct RowJsonRel;

/* A cached, checked configuration of one trigger on one relation. */
typedef struct TriggerConfig
{
	Oid			tgoid;			/* hash key: pg_trigger oid */
	Oid			relid;			/* the trigger's table */
	bool		valid;			/* false after a relcache invalidation */
	MemoryContext cxt;			/* owns everything below */
	TriggerOptions opts;
	char	   *collection_json;	/* the collection id as a JSON string */
	char	   *read_json;		/* collection roles: "any","users" (no []) */
	struct RowJsonRel *rel;		/* column metadata of the table */
} TriggerConfig;

/* True if id is 1 to 36 characters from [a-zA-Z0-9_-] (collection id). */
extern bool trigger_options_valid_id(const char *id);

/* The checked, cached configuration for trigger on rel; errors if invalid. */
extern TriggerConfig *trigger_config_get(Trigger *trigger, Relation rel);

#endif
