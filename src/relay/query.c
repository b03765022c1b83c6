/*
 * query.c - compile Appwrite realtime queries and match them against rows
 *
 * Semantics follow Appwrite's RuntimeQuery (the server's realtime filter):
 * equal matches if any value is equal, notEqual if none is, comparisons if
 * any value satisfies them, isNull/isNotNull need the attribute present;
 * and/or nest.  Unlike PHP's loose "<", comparisons here are type-strict.
 */
#include "query.h"
#include "buf.h"
#include "event.h"
#include "jsontext.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include <json.h>

/* and/or nesting deeper than this is refused */
#define QUERY_MAX_DEPTH 16

typedef struct MethodName
{
	const char *name;
	QueryMethod method;
} MethodName;

static const MethodName method_names[] = {
	{"equal", QUERY_EQUAL},
	{"notEqual", QUERY_NOT_EQUAL},
	{"lessThan", QUERY_LESS},
	{"lessThanEqual", QUERY_LESS_EQUAL},
	{"greaterThan", QUERY_GREATER},
	{"greaterThanEqual", QUERY_GREATER_EQUAL},
	{"isNull", QUERY_IS_NULL},
	{"isNotNull", QUERY_IS_NOT_NULL},
	{"and", QUERY_AND},
	{"or", QUERY_OR},
	{"select", QUERY_SELECT_ALL},
};

#define ALLOWED_METHODS "equal, notEqual, lessThan, lessThanEqual, greaterThan, " \
	"greaterThanEqual, isNull, isNotNull, and, or, select"

static bool compile_object(struct json_object *obj, Query *out, Buf *err, int depth);

/* Append "Invalid query: " + what to err. */
static void
query_error(Buf *err, const char *what)
{
	buf_append_str(err, "Invalid query: ");
	buf_append_str(err, what);
}

/* Compile one value of a comparison; false (with message) if its type is wrong. */
static bool
compile_value(struct json_object *v, QueryMethod method, QueryValue *out, Buf *err)
{
	bool		ordering = (method != QUERY_EQUAL && method != QUERY_NOT_EQUAL);

	memset(out, 0, sizeof(*out));
	switch (json_object_get_type(v))
	{
		case json_type_null:
			out->type = QUERY_VALUE_NULL;
			break;
		case json_type_boolean:
			out->type = QUERY_VALUE_BOOL;
			out->b = json_object_get_boolean(v);
			break;
		case json_type_int:
			out->type = QUERY_VALUE_INT;
			out->u.i = json_object_get_int64(v);
			break;
		case json_type_double:
			out->type = QUERY_VALUE_DOUBLE;
			out->u.d = json_object_get_double(v);
			break;
		case json_type_string:
			out->type = QUERY_VALUE_STRING;
			out->len = (uint32_t) json_object_get_string_len(v);
			out->u.s = relay_strndup(json_object_get_string(v), out->len);
			break;
		default:
			query_error(err, "values must be strings, numbers, booleans or null");
			return false;
	}
	if (ordering && out->type != QUERY_VALUE_INT && out->type != QUERY_VALUE_DOUBLE &&
		out->type != QUERY_VALUE_STRING)
	{
		query_error(err, "comparison values must be numbers or strings");
		return false;
	}
	return true;
}

/* Compile the nested queries of and/or; each is an object or a JSON string. */
static bool
compile_nested(struct json_object *values, Query *out, Buf *err, int depth)
{
	size_t		n = json_object_array_length(values);

	if (n == 0)
	{
		query_error(err, "and/or need at least one query in values");
		return false;
	}
	if (depth >= QUERY_MAX_DEPTH)
	{
		query_error(err, "queries are nested too deeply");
		return false;
	}
	out->sub = relay_calloc(n, sizeof(Query));
	for (size_t i = 0; i < n; i++)
	{
		struct json_object *v = json_object_array_get_idx(values, i);
		bool		ok;

		if (json_object_is_type(v, json_type_string))
		{
			struct json_object *inner = jsontext_parse(json_object_get_string(v),
													   (size_t) json_object_get_string_len(v));

			ok = inner != NULL && compile_object(inner, &out->sub[i], err, depth + 1);
			if (inner == NULL)
				query_error(err, "a nested query is not valid JSON");
			if (inner)
				json_object_put(inner);
		}
		else
			ok = compile_object(v, &out->sub[i], err, depth + 1);
		out->n = (uint32_t) i + 1;	/* so that query_free() sees it */
		if (!ok)
			return false;
	}
	return true;
}

/* Compile one parsed query object. */
static bool
compile_object(struct json_object *obj, Query *out, Buf *err, int depth)
{
	struct json_object *method;
	struct json_object *attribute = NULL;
	struct json_object *values = NULL;
	const char *name;
	size_t		nvalues;
	size_t		i;

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(obj, json_type_object))
	{
		query_error(err, "a query must be a JSON object");
		return false;
	}
	if (!json_object_object_get_ex(obj, "method", &method) ||
		!json_object_is_type(method, json_type_string))
	{
		query_error(err, "\"method\" is missing or not a string");
		return false;
	}
	name = json_object_get_string(method);
	for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
	{
		if (strcmp(name, method_names[i].name) == 0)
			break;
	}
	if (i == sizeof(method_names) / sizeof(method_names[0]))
	{
		buf_append_str(err, "Invalid query: Query method '");
		buf_append(err, name, utf8_prefix(name, strlen(name), 64));
		buf_append_str(err, "' is not supported in Realtime queries. Allowed query methods are: "
					   ALLOWED_METHODS);
		return false;
	}
	out->method = (uint8_t) method_names[i].method;

	if (json_object_object_get_ex(obj, "values", &values) && values != NULL &&
		!json_object_is_type(values, json_type_array))
	{
		query_error(err, "\"values\" must be an array");
		return false;
	}
	nvalues = values ? json_object_array_length(values) : 0;

	switch (out->method)
	{
		case QUERY_AND:
		case QUERY_OR:
			if (values == NULL)
			{
				query_error(err, "and/or need at least one query in values");
				return false;
			}
			return compile_nested(values, out, err, depth);
		case QUERY_SELECT_ALL:
			{
				struct json_object *v = nvalues == 1 ? json_object_array_get_idx(values, 0) : NULL;

				if (v == NULL || !json_object_is_type(v, json_type_string) ||
					strcmp(json_object_get_string(v), "*") != 0 ||
					json_object_get_string_len(v) != 1)
				{
					query_error(err, "Only select(\"*\") is allowed in Realtime queries. "
								"select(\"*\") means \"listen to all events\".");
					return false;
				}
				return true;
			}
		default:
			break;
	}

	/* comparisons and null checks name an attribute */
	if (!json_object_object_get_ex(obj, "attribute", &attribute) ||
		!json_object_is_type(attribute, json_type_string) ||
		json_object_get_string_len(attribute) == 0 ||
		strlen(json_object_get_string(attribute)) != (size_t) json_object_get_string_len(attribute))
	{
		buf_append_str(err, "Invalid query: ");
		buf_append_str(err, name);
		buf_append_str(err, " needs a non-empty string \"attribute\"");
		return false;
	}
	out->attribute = relay_strdup(json_object_get_string(attribute));
	out->attr_len = (uint32_t) strlen(out->attribute);
	out->attr_hash = event_channel_hash(out->attribute, out->attr_len);
	if (out->method == QUERY_IS_NULL || out->method == QUERY_IS_NOT_NULL)
		return true;

	if (nvalues == 0)
	{
		buf_append_str(err, "Invalid query: ");
		buf_append_str(err, name);
		buf_append_str(err, " needs at least one value in \"values\"");
		return false;
	}
	out->values = relay_calloc(nvalues, sizeof(QueryValue));
	for (i = 0; i < nvalues; i++)
	{
		out->n = (uint32_t) i + 1;
		if (!compile_value(json_object_array_get_idx(values, i), (QueryMethod) out->method,
						   &out->values[i], err))
			return false;
	}
	return true;
}

/* Compile a query from JSON text; see query.h. */
bool
query_compile(const char *text, size_t len, Query *out, Buf *err)
{
	struct json_object *obj = jsontext_parse(text, len);
	bool		ok;

	memset(out, 0, sizeof(*out));
	if (obj == NULL)
	{
		query_error(err, "not valid JSON");
		return false;
	}
	ok = compile_object(obj, out, err, 0);
	json_object_put(obj);
	if (!ok)
	{
		query_free(out);
		memset(out, 0, sizeof(*out));
	}
	return ok;
}

void
query_free(Query *q)
{
	if (q->method == QUERY_AND || q->method == QUERY_OR)
	{
		for (uint32_t i = 0; i < q->n && q->sub; i++)
			query_free(&q->sub[i]);
		free(q->sub);
	}
	else if (q->values)
	{
		for (uint32_t i = 0; i < q->n; i++)
		{
			if (q->values[i].type == QUERY_VALUE_STRING)
				free(q->values[i].u.s);
		}
		free(q->values);
	}
	free(q->attribute);
	q->sub = NULL;
	q->values = NULL;
	q->attribute = NULL;
	q->n = 0;
}

/* Is the payload value v (NULL for JSON null) equal to qv?  Types must agree. */
static bool
value_equal(struct json_object *v, const QueryValue *qv)
{
	switch (json_object_get_type(v))
	{
		case json_type_null:
			return qv->type == QUERY_VALUE_NULL;
		case json_type_boolean:
			return qv->type == QUERY_VALUE_BOOL && qv->b == (bool) json_object_get_boolean(v);
		case json_type_int:
			if (qv->type == QUERY_VALUE_INT)
				return json_object_get_int64(v) == qv->u.i;
			return qv->type == QUERY_VALUE_DOUBLE &&
				(double) json_object_get_int64(v) == qv->u.d;
		case json_type_double:
			if (qv->type == QUERY_VALUE_DOUBLE)
				return json_object_get_double(v) == qv->u.d;
			return qv->type == QUERY_VALUE_INT && json_object_get_double(v) == (double) qv->u.i;
		case json_type_string:
			return qv->type == QUERY_VALUE_STRING &&
				(uint32_t) json_object_get_string_len(v) == qv->len &&
				memcmp(json_object_get_string(v), qv->u.s, qv->len) == 0;
		default:
			/* arrays and objects equal no scalar */
			return false;
	}
}

/*
 * Order v against qv: sets *cmp to <0, 0 or >0 and returns true, or returns
 * false when they are not comparable (different types, non-scalars).
 */
static bool
value_compare(struct json_object *v, const QueryValue *qv, int *cmp)
{
	enum json_type t = json_object_get_type(v);

	if (t == json_type_int && qv->type == QUERY_VALUE_INT)
	{
		int64_t		a = json_object_get_int64(v);

		*cmp = (a > qv->u.i) - (a < qv->u.i);
		return true;
	}
	if ((t == json_type_int || t == json_type_double) &&
		(qv->type == QUERY_VALUE_INT || qv->type == QUERY_VALUE_DOUBLE))
	{
		double		a = json_object_get_double(v);
		double		b = qv->type == QUERY_VALUE_INT ? (double) qv->u.i : qv->u.d;

		*cmp = (a > b) - (a < b);
		return true;
	}
	if (t == json_type_string && qv->type == QUERY_VALUE_STRING)
	{
		uint32_t	alen = (uint32_t) json_object_get_string_len(v);
		int			c = memcmp(json_object_get_string(v), qv->u.s, alen < qv->len ? alen : qv->len);

		*cmp = c != 0 ? c : (alen > qv->len) - (alen < qv->len);
		return true;
	}
	return false;
}

/* Match one query against the event's payload, through its field table. */
static bool
match(const Query *q, const RelayEvent *ev)
{
	struct json_object *v;
	int			cmp;

	switch (q->method)
	{
		case QUERY_SELECT_ALL:
			return true;
		case QUERY_AND:
			for (uint32_t i = 0; i < q->n; i++)
			{
				if (!match(&q->sub[i], ev))
					return false;
			}
			return true;
		case QUERY_OR:
			for (uint32_t i = 0; i < q->n; i++)
			{
				if (match(&q->sub[i], ev))
					return true;
			}
			return false;
		default:
			break;
	}

	/* a missing attribute never matches; a present null is v == NULL */
	if (!event_field(ev, q->attribute, q->attr_len, q->attr_hash, &v))
		return false;

	switch (q->method)
	{
		case QUERY_IS_NULL:
			return v == NULL;
		case QUERY_IS_NOT_NULL:
			return v != NULL;
		case QUERY_EQUAL:
			for (uint32_t i = 0; i < q->n; i++)
			{
				if (value_equal(v, &q->values[i]))
					return true;
			}
			return false;
		case QUERY_NOT_EQUAL:
			for (uint32_t i = 0; i < q->n; i++)
			{
				if (value_equal(v, &q->values[i]))
					return false;
			}
			return true;
		default:
			break;
	}

	for (uint32_t i = 0; i < q->n; i++)
	{
		if (!value_compare(v, &q->values[i], &cmp))
			continue;
		switch (q->method)
		{
			case QUERY_LESS:
				if (cmp < 0)
					return true;
				break;
			case QUERY_LESS_EQUAL:
				if (cmp <= 0)
					return true;
				break;
			case QUERY_GREATER:
				if (cmp > 0)
					return true;
				break;
			case QUERY_GREATER_EQUAL:
				if (cmp >= 0)
					return true;
				break;
			default:
				return false;
		}
	}
	return false;
}

/* Match against an event's payload by its field table; no allocation. */
bool
query_match_event(const Query *q, const RelayEvent *ev)
{
	return match(q, ev);
}

void
query_count(const Query *q, uint32_t *values, uint32_t *cost)
{
	(*cost)++;
	if (q->method == QUERY_AND || q->method == QUERY_OR)
	{
		for (uint32_t i = 0; i < q->n; i++)
			query_count(&q->sub[i], values, cost);
		return;
	}
	if (q->values)
	{
		*values += q->n;
		*cost += q->n;
	}
}

/* Bytes the nested parts of q need when packed; see query.h. */
void
query_measure(const Query *q, size_t *structs, size_t *strings)
{
	if (q->method == QUERY_AND || q->method == QUERY_OR)
	{
		*structs += sizeof(Query) * q->n;
		for (uint32_t i = 0; i < q->n; i++)
			query_measure(&q->sub[i], structs, strings);
		return;
	}
	if (q->attribute)
		*strings += q->attr_len + 1;
	if (q->values)
	{
		*structs += sizeof(QueryValue) * q->n;
		for (uint32_t i = 0; i < q->n; i++)
		{
			if (q->values[i].type == QUERY_VALUE_STRING)
				*strings += q->values[i].len + 1;
		}
	}
}

/* Copy string s[0..len) to the strings cursor and return the copy. */
static char *
pack_string(const char *s, size_t len, char **strings)
{
	char	   *p = *strings;

	memcpy(p, s, len);
	p[len] = '\0';
	*strings += len + 1;
	return p;
}

/* Copy src into *dst with nested parts at the cursors; see query.h. */
void
query_copy(const Query *src, Query *dst, char **structs, char **strings)
{
	*dst = *src;
	if (src->method == QUERY_AND || src->method == QUERY_OR)
	{
		dst->sub = (Query *) *structs;
		*structs += sizeof(Query) * src->n;
		for (uint32_t i = 0; i < src->n; i++)
			query_copy(&src->sub[i], &dst->sub[i], structs, strings);
		return;
	}
	if (src->attribute)
		dst->attribute = pack_string(src->attribute, src->attr_len, strings);
	if (src->values)
	{
		dst->values = (QueryValue *) *structs;
		*structs += sizeof(QueryValue) * src->n;
		for (uint32_t i = 0; i < src->n; i++)
		{
			dst->values[i] = src->values[i];
			if (src->values[i].type == QUERY_VALUE_STRING)
				dst->values[i].u.s = pack_string(src->values[i].u.s, src->values[i].len, strings);
		}
	}
}
