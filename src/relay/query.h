/*
 * query.h - Appwrite realtime queries, compiled once and matched per event
 *
 * A query arrives as a JSON string {"method":M,"attribute":A,"values":[...]}
 * (PROTOCOL.md section 7).  query_compile() turns it into a small tree with
 * native values at subscribe time, so that matching an event's payload
 * never parses JSON and never allocates.
 */
#ifndef RELAY_QUERY_H
#define RELAY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct Buf;

typedef enum QueryMethod
{
	QUERY_EQUAL,
	QUERY_NOT_EQUAL,
	QUERY_LESS,
	QUERY_LESS_EQUAL,
	QUERY_GREATER,
	QUERY_GREATER_EQUAL,
	QUERY_IS_NULL,
	QUERY_IS_NOT_NULL,
	QUERY_AND,
	QUERY_OR,
	QUERY_SELECT_ALL			/* select(["*"]): matches every event */
} QueryMethod;

typedef enum QueryValueType
{
	QUERY_VALUE_NULL,
	QUERY_VALUE_BOOL,
	QUERY_VALUE_INT,
	QUERY_VALUE_DOUBLE,
	QUERY_VALUE_STRING
} QueryValueType;

typedef struct QueryValue
{
	uint8_t		type;			/* QueryValueType */
	bool		b;
	uint32_t	len;			/* string length */
	union
	{
		int64_t		i;
		double		d;
		char	   *s;
	}			u;
} QueryValue;

typedef struct Query
{
	uint8_t		method;			/* QueryMethod */
	uint32_t	n;				/* values, or sub-queries for and/or */
	uint32_t	attr_len;
	uint32_t	attr_hash;		/* event_channel_hash() of attribute */
	char	   *attribute;		/* NULL for and, or, select */
	QueryValue *values;
	struct Query *sub;
} Query;

/*
 * Compile one query from its JSON text.  On failure returns false and
 * appends a message for the client (saying what is wrong) to err.
 */
extern bool query_compile(const char *text, size_t len, Query *out, struct Buf *err);

/* Free what query_compile() allocated inside q (not q itself). */
extern void query_free(Query *q);

/*
 * Does the event's payload satisfy q?  Type-strict: numbers match numbers
 * (5 and 5.0 are equal), strings match strings; an attribute that is
 * missing from the payload never matches.  Looks attributes up through the
 * event's field table: no JSON parsing, no allocation (the hot path).
 */
struct RelayEvent;
extern bool query_match_event(const Query *q, const struct RelayEvent *ev);

/*
 * Add q's values to *values and its matching cost to *cost: one per query
 * node and one per value, the number of comparisons an event can take.
 */
extern void query_count(const Query *q, uint32_t *values, uint32_t *cost);

/*
 * Packing compiled queries into one allocation (the subscription's block):
 * query_measure() adds the bytes q's nested parts need to *structs (arrays
 * of Query/QueryValue, 8-byte aligned) and *strings; query_copy() copies
 * src into *dst, placing nested parts at the two cursors and advancing
 * them.  The copy is freed with its block, never with query_free().
 */
extern void query_measure(const Query *q, size_t *structs, size_t *strings);
extern void query_copy(const Query *src, Query *dst, char **structs, char **strings);

#endif
