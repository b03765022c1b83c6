/*
 * row_json.c - rows and column values as JSON, with per-table metadata
 *
 * The approach follows PostgreSQL's json.c (datum_to_json): each type gets a
 * category once, from its base type; values are then written without catalog
 * lookups.  Numbers are bare, NaN and infinities null, json/jsonb embedded,
 * arrays nested, date/time values ISO 8601 (timestamptz always in UTC, so
 * the session's TimeZone does not matter), composites as objects, and every
 * other type as the JSON string of its output function.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "row_json.h"

/* Time zone offset for JsonEncodeDateTime: UTC. */
static const int row_json_utc = 0;

static void row_json_value(StringInfo out, Datum value, const RowJsonType *t);

/*
 * row_json_type_init
 *		Decide how values of typoid are written (once per column).
 */
static void
row_json_type_init(RowJsonType *t, Oid typoid)
{
	Oid			basetype = getBaseType(typoid);
	Oid			elemtype;
	Oid			outfunc;
	bool		isvarlena;

	t->typoid = basetype;
	t->elem = NULL;
	get_typlenbyvalalign(basetype, &t->typlen, &t->typbyval, &t->typalign);
	getTypeOutputInfo(basetype, &outfunc, &isvarlena);
	fmgr_info_cxt(outfunc, &t->outfn, CurrentMemoryContext);

	switch (basetype)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			t->category = ROW_JSON_INT;
			break;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			t->category = ROW_JSON_FLOAT;
			break;
		case BOOLOID:
			t->category = ROW_JSON_BOOL;
			break;
		case JSONOID:
			t->category = ROW_JSON_JSON;
			break;
		case JSONBOID:
			t->category = ROW_JSON_JSONB;
			break;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			t->category = ROW_JSON_TEXT;
			break;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			t->category = ROW_JSON_DATETIME;
			break;
		default:
			elemtype = get_element_type(basetype);
			if (OidIsValid(elemtype))
			{
				t->category = ROW_JSON_ARRAY;
				t->elem = palloc(sizeof(RowJsonType));
				row_json_type_init(t->elem, elemtype);
			}
			else if (type_is_rowtype(basetype))
				t->category = ROW_JSON_COMPOSITE;
			else
				t->category = ROW_JSON_OTHER;
			break;
	}
}

/*
 * row_json_attnum
 *		The attnum of the column named by an option; error if there is none.
 */
static AttrNumber
row_json_attnum(Relation rel, const char *name, const char *option)
{
	AttrNumber	attnum = attnameAttNum(rel, name, false);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" named by option \"%s\" does not exist in table \"%s\"",
						name, option, RelationGetRelationName(rel)),
				 errhint("Give the column name exactly as stored, without quotes (names are case sensitive here).")));
	return attnum;
}

/*
 * row_json_check_type
 *		Error unless the column named by option has base type typoid.
 */
static AttrNumber
row_json_typed_attnum(Relation rel, const char *name, const char *option, Oid typoid)
{
	AttrNumber	attnum = row_json_attnum(rel, name, option);
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

	if (getBaseType(att->atttypid) != typoid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" named by option \"%s\" has type %s, not %s",
						name, option, format_type_be(att->atttypid), format_type_be(typoid)),
				 errhint("Name a column of type %s, or leave the option out.",
						 format_type_be(typoid))));
	return attnum;
}

/*
 * row_json_primary_key
 *		Fill the document id columns from the table's primary key.
 */
static void
row_json_primary_key(Relation rel, RowJsonRel *rj)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	HeapTuple	tup;
	Form_pg_index index;
	int			i;

	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key and no id column",
						RelationGetRelationName(rel)),
				 errdetail("Each event names its document, so pg_realtime needs the column that identifies a row."),
				 errhint("Add a primary key to the table, or name a unique column: realtime.track('%s', id_column => 'id').",
						 RelationGetRelationName(rel))));

	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", pkoid);
	index = (Form_pg_index) GETSTRUCT(tup);
	rj->nid = index->indnkeyatts;
	rj->id_attnums = palloc(sizeof(AttrNumber) * rj->nid);
	for (i = 0; i < rj->nid; i++)
		rj->id_attnums[i] = index->indkey.values[i];
	ReleaseSysCache(tup);
}

/* True if list (of char *) holds name. */
static bool
row_json_list_has(List *list, const char *name)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * row_json_rel_build
 *		Column metadata of rel for the trigger options opts.
 *
 * Allocates in CurrentMemoryContext (the caller's cache context) and fails
 * with a user-facing error when an option names a missing or mistyped column.
 */
RowJsonRel *
row_json_rel_build(Relation rel, const TriggerOptions *opts)
{
	TupleDesc	desc = RelationGetDescr(rel);
	RowJsonRel *rj = palloc0(sizeof(RowJsonRel));
	ListCell   *lc;
	int			i;

	foreach(lc, opts->exclude_columns)
		(void) row_json_attnum(rel, (char *) lfirst(lc), "exclude_columns");

	rj->columns = palloc0(sizeof(RowJsonColumn) * Max(desc->natts, 1));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		RowJsonColumn *col;
		StringInfoData key;

		if (att->attisdropped || row_json_list_has(opts->exclude_columns, NameStr(att->attname)))
			continue;
		col = &rj->columns[rj->ncolumns++];
		col->attnum = att->attnum;
		initStringInfo(&key);
		appendStringInfoCharMacro(&key, ',');
		row_json_escape(&key, NameStr(att->attname), strlen(NameStr(att->attname)));
		appendStringInfoCharMacro(&key, ':');
		col->key = key.data;
		col->keylen = key.len;
		row_json_type_init(&col->type, att->atttypid);
	}

	if (opts->id_columns != NIL)
	{
		rj->nid = list_length(opts->id_columns);
		rj->id_attnums = palloc(sizeof(AttrNumber) * rj->nid);
		i = 0;
		foreach(lc, opts->id_columns)
		{
			AttrNumber	attnum = row_json_attnum(rel, (char *) lfirst(lc), "id_column");

			/* an empty id would drop a level from every event name */
			if (!TupleDescAttr(desc, attnum - 1)->attnotnull)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" named by option \"id_column\" of table \"%s\" may be null",
								(char *) lfirst(lc), RelationGetRelationName(rel)),
						 errhint("Declare it NOT NULL: every document needs an id.")));
			rj->id_attnums[i++] = attnum;
		}
	}
	else
		row_json_primary_key(rel, rj);

	/*
	 * The id is public in every event's name and channels: excluding its
	 * column from the payload would hide nothing, and suggest it does.
	 */
	for (i = 0; i < rj->nid; i++)
	{
		const char *name = NameStr(TupleDescAttr(desc, rj->id_attnums[i] - 1)->attname);

		if (row_json_list_has(opts->exclude_columns, name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of table \"%s\" is the document id and cannot be excluded",
							name, RelationGetRelationName(rel)),
					 errdetail("The document id is part of every event's name and channels, so anyone who receives an event sees it."),
					 errhint("Remove \"%s\" from exclude_columns, or identify documents by another column with id_column.",
							 name)));
	}
	rj->id_types = palloc(sizeof(RowJsonType) * rj->nid);
	for (i = 0; i < rj->nid; i++)
		row_json_type_init(&rj->id_types[i],
						   TupleDescAttr(desc, rj->id_attnums[i] - 1)->atttypid);

	if (opts->permissions_column)
		rj->permissions_attnum = row_json_typed_attnum(rel, opts->permissions_column,
													   "permissions_column", TEXTARRAYOID);
	if (opts->created_at_column)
		rj->created_at_attnum = row_json_typed_attnum(rel, opts->created_at_column,
													  "created_at_column", TIMESTAMPTZOID);
	if (opts->updated_at_column)
		rj->updated_at_attnum = row_json_typed_attnum(rel, opts->updated_at_column,
													  "updated_at_column", TIMESTAMPTZOID);
	return rj;
}

/*
 * row_json_escape_inner
 *		Append s[0..len) JSON-escaped, without the quotes.
 *
 * Like escape_json(), but copies runs of plain bytes at once and needs no
 * terminating NUL, so text values are escaped straight from the datum.
 */
void
row_json_escape_inner(StringInfo out, const char *s, int len)
{
	const char *end = s + len;
	const char *run = s;
	const char *p;

	enlargeStringInfo(out, len + 2);
	for (p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (p > run)
			row_json_append(out, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '\b':
				row_json_append_literal(out, "\\b");
				break;
			case '\f':
				row_json_append_literal(out, "\\f");
				break;
			case '\n':
				row_json_append_literal(out, "\\n");
				break;
			case '\r':
				row_json_append_literal(out, "\\r");
				break;
			case '\t':
				row_json_append_literal(out, "\\t");
				break;
			case '"':
				row_json_append_literal(out, "\\\"");
				break;
			case '\\':
				row_json_append_literal(out, "\\\\");
				break;
			default:
				appendStringInfo(out, "\\u%04x", c);
				break;
		}
	}
	if (end > run)
		row_json_append(out, run, end - run);
}

/*
 * row_json_escape
 *		Append s[0..len) as a quoted JSON string.
 */
void
row_json_escape(StringInfo out, const char *s, int len)
{
	appendStringInfoCharMacro(out, '"');
	row_json_escape_inner(out, s, len);
	appendStringInfoCharMacro(out, '"');
}

/*
 * row_json_append_id_part
 *		Append one level of an event name, percent-encoding the bytes that
 *		would add or hide a level: . * % : and control characters.
 */
void
row_json_append_id_part(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *end = s + len;
	const char *run = s;
	const char *p;

	for (p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x20 && c != 0x7f && c != '.' && c != '*' && c != '%' && c != ':')
			continue;
		if (p > run)
			row_json_append(out, run, p - run);
		run = p + 1;
		appendStringInfoCharMacro(out, '%');
		appendStringInfoCharMacro(out, hex[c >> 4]);
		appendStringInfoCharMacro(out, hex[c & 0xf]);
	}
	if (end > run)
		row_json_append(out, run, end - run);
}

/*
 * The last two date/time values formatted, per type (date, timestamp,
 * timestamptz).  Their text depends only on the value (UTC, fixed style), and
 * one statement typically writes the same one or two values (now(), or
 * created and updated times) into several columns of many rows ($createdAt,
 * $updatedAt and the columns themselves), so each is formatted once.
 */
typedef struct RowJsonDatetimeMemo
{
	bool		valid;
	int64		value;
	int			len;
	char		text[MAXDATELEN + 1];
} RowJsonDatetimeMemo;

static RowJsonDatetimeMemo row_json_memo[3][2];
static int	row_json_memo_next[3];	/* the slot to replace next */

/*
 * row_json_put_digits
 *		Write value (>= 0) as exactly n decimal digits, zero-padded; return
 *		the end.
 */
static inline char *
row_json_put_digits(char *p, int value, int n)
{
	int			i;

	for (i = n - 1; i >= 0; i--)
	{
		p[i] = '0' + value % 10;
		value /= 10;
	}
	return p + n;
}

/*
 * row_json_format_timestamp
 *		Format a timestamp of the years 1 to 9999 as JsonEncodeDateTime()
 *		does -- "YYYY-MM-DDTHH:MM:SS", a fraction without trailing zeros,
 *		and "+00:00" if with_utc -- and return its length; or -1 outside
 *		those years (BC, five-digit years, infinities), which are left to
 *		JsonEncodeDateTime().  The same arithmetic as timestamp2tm() and
 *		EncodeDateTime() without their general cases: several times faster,
 *		for rows whose date/time values all differ.
 */
static int
row_json_format_timestamp(char *buf, Timestamp ts, bool with_utc)
{
	/* 0001-01-01 and 10000-01-01 00:00:00, in days since 2000-01-01 */
	const int64 first_day = -730119;
	const int64 end_day = 2921940;
	int64		days;
	int64		time;
	int			year;
	int			month;
	int			day;
	int			fsec;
	char	   *p = buf;

	if (ts < first_day * USECS_PER_DAY || ts >= end_day * USECS_PER_DAY)
		return -1;
	days = ts / USECS_PER_DAY;
	time = ts - days * USECS_PER_DAY;
	if (time < 0)
	{
		time += USECS_PER_DAY;
		days--;
	}
	j2date((int) (days + POSTGRES_EPOCH_JDATE), &year, &month, &day);

	p = row_json_put_digits(p, year, 4);
	*p++ = '-';
	p = row_json_put_digits(p, month, 2);
	*p++ = '-';
	p = row_json_put_digits(p, day, 2);
	*p++ = 'T';
	p = row_json_put_digits(p, (int) (time / USECS_PER_HOUR), 2);
	*p++ = ':';
	p = row_json_put_digits(p, (int) (time / USECS_PER_MINUTE % MINS_PER_HOUR), 2);
	*p++ = ':';
	p = row_json_put_digits(p, (int) (time / USECS_PER_SEC % SECS_PER_MINUTE), 2);
	fsec = (int) (time % USECS_PER_SEC);
	if (fsec != 0)
	{
		/* like AppendSeconds(): up to 6 digits, trailing zeros dropped */
		int			digits = 6;

		while (fsec % 10 == 0)
		{
			fsec /= 10;
			digits--;
		}
		*p++ = '.';
		p = row_json_put_digits(p, fsec, digits);
	}
	if (with_utc)
	{
		memcpy(p, "+00:00", 6);
		p += 6;
	}
	*p = '\0';
	return p - buf;
}

/*
 * row_json_datetime
 *		A date, timestamp or timestamptz in ISO 8601 (timestamptz in UTC);
 *		sets *len.  Unlike the output functions, this does not depend on
 *		DateStyle or TimeZone.  The result is valid until the next call.
 */
static const char *
row_json_datetime(Datum value, Oid typoid, int *len)
{
	RowJsonDatetimeMemo *memo;
	int64		v;
	int			type;
	int			i;

	if (typoid == DATEOID)
	{
		type = 0;
		v = DatumGetDateADT(value);
	}
	else
	{
		type = typoid == TIMESTAMPOID ? 1 : 2;
		v = DatumGetTimestamp(value);
	}
	for (i = 0; i < 2; i++)
	{
		memo = &row_json_memo[type][i];
		if (memo->valid && memo->value == v)
		{
			*len = memo->len;
			return memo->text;
		}
	}

	memo = &row_json_memo[type][row_json_memo_next[type]];
	row_json_memo_next[type] ^= 1;
	/* invalid while being replaced, in case formatting fails */
	memo->valid = false;
	memo->len = -1;
	if (typoid != DATEOID)
		memo->len = row_json_format_timestamp(memo->text, v, typoid == TIMESTAMPTZOID);
	if (memo->len < 0)
	{
		JsonEncodeDateTime(memo->text, value, typoid,
						   typoid == TIMESTAMPTZOID ? &row_json_utc : NULL);
		memo->len = strlen(memo->text);
	}
	memo->value = v;
	memo->valid = true;
	*len = memo->len;
	return memo->text;
}

/* Append a date/time value as a quoted JSON string. */
static void
row_json_append_datetime(StringInfo out, Datum value, Oid typoid)
{
	int			len;
	const char *s = row_json_datetime(value, typoid, &len);

	enlargeStringInfo(out, len + 2);
	out->data[out->len] = '"';
	memcpy(out->data + out->len + 1, s, len);
	out->data[out->len + 1 + len] = '"';
	out->len += len + 2;
	out->data[out->len] = '\0';
}

/* Append an int2/int4/int8 value. */
static void
row_json_int(StringInfo out, Datum value, Oid typoid)
{
	char		buf[MAXINT8LEN + 1];
	int			len;

	if (typoid == INT8OID)
		len = pg_lltoa(DatumGetInt64(value), buf);
	else if (typoid == INT4OID)
		len = pg_ltoa(DatumGetInt32(value), buf);
	else
		len = pg_ltoa((int32) DatumGetInt16(value), buf);
	row_json_append(out, buf, len);
}

/*
 * row_json_array_dim
 *		Append dimension dim of an array, elements from vals[*pos...].
 */
static void
row_json_array_dim(StringInfo out, int dim, int ndims, const int *dims,
				   const Datum *vals, const bool *nulls, int *pos,
				   const RowJsonType *elem)
{
	int			i;

	appendStringInfoCharMacro(out, '[');
	for (i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoCharMacro(out, ',');
		if (dim + 1 < ndims)
			row_json_array_dim(out, dim + 1, ndims, dims, vals, nulls, pos, elem);
		else
		{
			if (nulls[*pos])
				row_json_append_literal(out, "null");
			else
				row_json_value(out, vals[*pos], elem);
			(*pos)++;
		}
	}
	appendStringInfoCharMacro(out, ']');
}

/* Append an array value as nested JSON arrays. */
static void
row_json_array(StringInfo out, Datum value, const RowJsonType *t)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	const RowJsonType *elem = t->elem;
	Datum	   *vals;
	bool	   *nulls;
	int			nvals;
	int			pos = 0;

	if (ARR_NDIM(arr) < 1 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) == 0)
	{
		row_json_append_literal(out, "[]");
		return;
	}
	deconstruct_array(arr, ARR_ELEMTYPE(arr), elem->typlen, elem->typbyval, elem->typalign,
					  &vals, &nulls, &nvals);
	row_json_array_dim(out, 0, ARR_NDIM(arr), ARR_DIMS(arr), vals, nulls, &pos, elem);
}

static void row_json_jsonb_container(StringInfo out, const JsonbContainer *jc);

/*
 * row_json_jsonb_child
 *		Append child i of jc (of nchildren JEntries), whose data starts *off
 *		bytes after the JEntries, as JsonbToCString() writes it; advance *off
 *		past it.
 */
static void
row_json_jsonb_child(StringInfo out, const JsonbContainer *jc, int nchildren, int i,
					 uint32 *off)
{
	JEntry		je = jc->children[i];
	const char *base = (const char *) &jc->children[nchildren];
	uint32		start = *off;
	char	   *s;

	JBE_ADVANCE_OFFSET(*off, je);
	/* numerics and containers are stored int-aligned */
	if (JBE_ISSTRING(je))
		row_json_escape(out, base + start, *off - start);
	else if (JBE_ISNUMERIC(je))
	{
		s = DatumGetCString(DirectFunctionCall1(numeric_out,
												PointerGetDatum(base + INTALIGN(start))));
		appendStringInfoString(out, s);
	}
	else if (JBE_ISBOOL_TRUE(je))
		row_json_append_literal(out, "true");
	else if (JBE_ISBOOL_FALSE(je))
		row_json_append_literal(out, "false");
	else if (JBE_ISNULL(je))
		row_json_append_literal(out, "null");
	else
		row_json_jsonb_container(out, (const JsonbContainer *) (base + INTALIGN(start)));
}

/*
 * row_json_jsonb_container
 *		Append a jsonb container exactly as JsonbToCString() does ("{"a": 1,
 *		"b": [true, null]}": ", " and ": " separators), by walking its JEntries
 *		directly: the iterator JsonbToCString() uses allocates per level and
 *		per string, and a jsonb column is in most rows.
 */
static void
row_json_jsonb_container(StringInfo out, const JsonbContainer *jc)
{
	int			n = JsonContainerSize(jc);
	uint32		off = 0;
	uint32		valoff = 0;
	int			i;

	check_stack_depth();
	if (JsonContainerIsArray(jc))
	{
		/* a scalar at the root is stored as a one-element array */
		bool		scalar = JsonContainerIsScalar(jc);

		if (!scalar)
			appendStringInfoCharMacro(out, '[');
		for (i = 0; i < n; i++)
		{
			if (i > 0)
				row_json_append_literal(out, ", ");
			row_json_jsonb_child(out, jc, n, i, &off);
		}
		if (!scalar)
			appendStringInfoCharMacro(out, ']');
		return;
	}

	/* n keys, then their n values, each run stored back to back */
	for (i = 0; i < n; i++)
		JBE_ADVANCE_OFFSET(valoff, jc->children[i]);
	appendStringInfoCharMacro(out, '{');
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			row_json_append_literal(out, ", ");
		row_json_jsonb_child(out, jc, 2 * n, i, &off);
		row_json_append_literal(out, ": ");
		row_json_jsonb_child(out, jc, 2 * n, n + i, &valoff);
	}
	appendStringInfoCharMacro(out, '}');
}

/*
 * row_json_value
 *		Append one non-NULL value of type t as JSON.
 */
static void
row_json_value(StringInfo out, Datum value, const RowJsonType *t)
{
	char	   *s;
	text	   *txt;
	Jsonb	   *jb;

	switch (t->category)
	{
		case ROW_JSON_INT:
			row_json_int(out, value, t->typoid);
			break;
		case ROW_JSON_FLOAT:
			s = OutputFunctionCall((FmgrInfo *) &t->outfn, value);
			/* NaN, Infinity, -Infinity are not JSON numbers */
			if (s[0] == 'N' || s[0] == 'I' || (s[0] == '-' && s[1] == 'I'))
				row_json_append_literal(out, "null");
			else
				appendStringInfoString(out, s);
			break;
		case ROW_JSON_BOOL:
			if (DatumGetBool(value))
				row_json_append_literal(out, "true");
			else
				row_json_append_literal(out, "false");
			break;
		case ROW_JSON_JSON:
			txt = DatumGetTextPP(value);
			row_json_append(out, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt));
			break;
		case ROW_JSON_JSONB:
			jb = DatumGetJsonbP(value);
			row_json_jsonb_container(out, &jb->root);
			break;
		case ROW_JSON_TEXT:
			txt = DatumGetTextPP(value);
			row_json_escape(out, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt));
			break;
		case ROW_JSON_DATETIME:
			row_json_append_datetime(out, value, t->typoid);
			break;
		case ROW_JSON_ARRAY:
			row_json_array(out, value, t);
			break;
		case ROW_JSON_COMPOSITE:
			txt = DatumGetTextPP(DirectFunctionCall1(row_to_json, value));
			row_json_append(out, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt));
			break;
		case ROW_JSON_OTHER:
			s = OutputFunctionCall((FmgrInfo *) &t->outfn, value);
			row_json_escape(out, s, strlen(s));
			break;
	}
}

/*
 * row_json_document_id
 *		Append the document id: the id columns' texts joined with ':', each
 *		part percent-encoded (a NULL part is empty).
 */
void
row_json_document_id(StringInfo out, const RowJsonRel *rj, TupleTableSlot *slot)
{
	int			i;

	for (i = 0; i < rj->nid; i++)
	{
		int			k = rj->id_attnums[i] - 1;
		const RowJsonType *t = &rj->id_types[i];
		Datum		value = slot->tts_values[k];
		text	   *txt;
		char	   *s;

		if (i > 0)
			appendStringInfoCharMacro(out, ':');
		if (slot->tts_isnull[k])
			continue;
		if (t->category == ROW_JSON_INT)
			row_json_int(out, value, t->typoid);
		else if (t->category == ROW_JSON_TEXT)
		{
			txt = DatumGetTextPP(value);
			row_json_append_id_part(out, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt));
		}
		else if (t->category == ROW_JSON_DATETIME)
		{
			/* the same id in every session, whatever its DateStyle */
			int			len;
			const char *d = row_json_datetime(value, t->typoid, &len);

			row_json_append_id_part(out, d, len);
		}
		else
		{
			s = OutputFunctionCall((FmgrInfo *) &t->outfn, value);
			row_json_append_id_part(out, s, strlen(s));
		}
	}
}

/*
 * row_json_timestamp
 *		Append a timestamptz column as "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00",
 *		or null when there is no such column or it is NULL.
 */
void
row_json_timestamp(StringInfo out, TupleTableSlot *slot, AttrNumber attnum)
{
	if (attnum == 0 || slot->tts_isnull[attnum - 1])
	{
		row_json_append_literal(out, "null");
		return;
	}
	row_json_append_datetime(out, slot->tts_values[attnum - 1], TIMESTAMPTZOID);
}

/*
 * row_json_changed
 *		Append the names of the payload columns whose values differ between
 *		the old and new row.  Values are compared by their bytes after
 *		detoasting (datum_image_eq), so an unchanged TOASTed value is equal.
 */
void
row_json_changed(StringInfo out, const RowJsonRel *rj,
				 TupleTableSlot *newslot, TupleTableSlot *oldslot)
{
	bool		first = true;
	int			i;

	appendStringInfoCharMacro(out, '[');
	for (i = 0; i < rj->ncolumns; i++)
	{
		const RowJsonColumn *col = &rj->columns[i];
		int			k = col->attnum - 1;
		bool		oldnull = oldslot->tts_isnull[k];
		bool		newnull = newslot->tts_isnull[k];

		if (oldnull && newnull)
			continue;
		if (!oldnull && !newnull &&
			datum_image_eq(oldslot->tts_values[k], newslot->tts_values[k],
						   col->type.typbyval, col->type.typlen))
			continue;
		if (!first)
			appendStringInfoCharMacro(out, ',');
		first = false;
		/* the key without its leading comma and trailing colon */
		row_json_append(out, col->key + 1, col->keylen - 2);
	}
	appendStringInfoCharMacro(out, ']');
}

/*
 * row_json_columns
 *		Append ,"name":value for every payload column of the row.
 */
void
row_json_columns(StringInfo out, const RowJsonRel *rj, TupleTableSlot *slot)
{
	int			i;

	for (i = 0; i < rj->ncolumns; i++)
	{
		const RowJsonColumn *col = &rj->columns[i];
		int			k = col->attnum - 1;

		row_json_append(out, col->key, col->keylen);
		if (slot->tts_isnull[k])
			row_json_append_literal(out, "null");
		else
			row_json_value(out, slot->tts_values[k], &col->type);
	}
}
