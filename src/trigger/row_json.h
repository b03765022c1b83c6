/*
 * row_json.h - rows and column values as JSON, with per-table metadata
 *
 * Everything that can be decided once per table (which columns, their
 * escaped "name": keys, each type's JSON category and output function) is
 * computed by row_json_rel_build() and cached with the trigger's options;
 * per row only the values are converted.
 */
#ifndef PG_REALTIME_ROW_JSON_H
#define PG_REALTIME_ROW_JSON_H

#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/rel.h"

#include "trigger_options.h"

/* How a value of a type is written as JSON. */
typedef enum RowJsonCategory
{
	ROW_JSON_INT,				/* int2/int4/int8: bare number */
	ROW_JSON_FLOAT,				/* float4/float8/numeric: bare, NaN/Inf null */
	ROW_JSON_BOOL,				/* true/false */
	ROW_JSON_JSON,				/* json: embedded verbatim */
	ROW_JSON_JSONB,				/* jsonb: embedded */
	ROW_JSON_TEXT,				/* text/varchar/bpchar: JSON string */
	ROW_JSON_DATETIME,			/* date/timestamp/timestamptz: ISO 8601 */
	ROW_JSON_ARRAY,				/* JSON array, elements typed recursively */
	ROW_JSON_COMPOSITE,			/* JSON object (row_to_json) */
	ROW_JSON_OTHER				/* output function as a JSON string */
} RowJsonCategory;

typedef struct RowJsonType
{
	Oid			typoid;			/* the base type (domains resolved) */
	RowJsonCategory category;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	outfn;			/* the base type's output function */
	struct RowJsonType *elem;	/* ROW_JSON_ARRAY: the element type */
} RowJsonType;

typedef struct RowJsonColumn
{
	AttrNumber	attnum;
	char	   *key;			/* ,"name": -- escaped, with comma and colon */
	int			keylen;
	RowJsonType type;
} RowJsonColumn;

typedef struct RowJsonRel
{
	int			ncolumns;		/* payload columns, in attnum order */
	RowJsonColumn *columns;
	int			nid;			/* columns of the document id */
	AttrNumber *id_attnums;
	RowJsonType *id_types;
	AttrNumber	permissions_attnum; /* 0 if none */
	AttrNumber	created_at_attnum;	/* 0 if none */
	AttrNumber	updated_at_attnum;	/* 0 if none */
} RowJsonRel;

/*
 * row_json_append
 *		appendBinaryStringInfo(), inlined: an event is built from dozens of
 *		short pieces, where the calls (and enlargeStringInfo's, made every
 *		time) cost more than the copying.
 */
static inline void
row_json_append(StringInfo out, const char *s, int len)
{
	if (len >= out->maxlen - out->len)
		enlargeStringInfo(out, len);
	memcpy(out->data + out->len, s, len);
	out->len += len;
	out->data[out->len] = '\0';
}

/* Append a string literal, its length known at compile time. */
#define row_json_append_literal(out, lit) row_json_append((out), (lit), sizeof(lit) - 1)

/* Column metadata of rel for opts, in CurrentMemoryContext; errors if bad. */
extern RowJsonRel *row_json_rel_build(Relation rel, const TriggerOptions *opts);

/* Append s[0..len) JSON-escaped, without quotes. */
extern void row_json_escape_inner(StringInfo out, const char *s, int len);

/* Append s[0..len) as a quoted JSON string. */
extern void row_json_escape(StringInfo out, const char *s, int len);

/* Append s[0..len) with . * % : and control bytes percent-encoded. */
extern void row_json_append_id_part(StringInfo out, const char *s, int len);

/* Append the document id of the row in slot (raw, not JSON-quoted). */
extern void row_json_document_id(StringInfo out, const RowJsonRel *rj, TupleTableSlot *slot);

/* Append a timestamptz column as a quoted UTC ISO 8601 string, or null. */
extern void row_json_timestamp(StringInfo out, TupleTableSlot *slot, AttrNumber attnum);

/* Append ["col",...] of the payload columns whose value differs. */
extern void row_json_changed(StringInfo out, const RowJsonRel *rj,
							 TupleTableSlot *newslot, TupleTableSlot *oldslot);

/* Append ,"col":value for each payload column of the row in slot. */
extern void row_json_columns(StringInfo out, const RowJsonRel *rj, TupleTableSlot *slot);

#endif
