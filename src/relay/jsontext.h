/*
 * jsontext.h - strict JSON parsing of text that is not NUL-terminated
 *
 * The relay parses JSON from two untrusted sources: NOTIFY payloads and
 * client messages.  Both go through jsontext_parse(), which is strict (no
 * json-c extensions, valid UTF-8, nothing after the value but whitespace),
 * so that text copied verbatim from a notification into a frame is JSON any
 * client accepts.
 */
#ifndef RELAY_JSONTEXT_H
#define RELAY_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Why text was refused. */
typedef enum JsonTextError
{
	JSONTEXT_INVALID,			/* not strict JSON */
	JSONTEXT_TOO_DEEP,			/* nested deeper than allowed */
	JSONTEXT_TOO_MANY_VALUES	/* more values than allowed */
} JsonTextError;

/*
 * Parse text[0..len) as exactly one JSON value.  Returns a new reference
 * (release with json_object_put), or NULL for invalid input.  A literal
 * "null" document also yields NULL; callers want objects anyway.
 */
extern struct json_object *jsontext_parse(const char *text, size_t len);

/*
 * As jsontext_parse(), but refuse text nested deeper than max_depth or with
 * more than max_values values (objects, arrays and scalars all count) before
 * json-c allocates anything.  On success *values (if not NULL) is the count;
 * on failure *error (if not NULL) says why.
 */
extern struct json_object *jsontext_parse_bounded(const char *text, size_t len, int max_depth,
												  uint64_t max_values, uint64_t *values,
												  JsonTextError *error);

/* True if text[0..len) is exactly one RFC 8259 JSON value (syntax only). */
extern bool jsontext_is_strict(const char *text, size_t len);

/*
 * Find the value of key in the top-level object of text[0..len), which must
 * already be known to be valid JSON (e.g. jsontext_parse() succeeded).  If
 * the key occurs more than once the last occurrence wins, as in json-c.
 * Sets *start and *vlen to the value's bytes and returns true if found.
 */
extern bool jsontext_find_member(const char *text, size_t len, const char *key,
								 size_t *start, size_t *vlen);

/*
 * The number of members of the top-level object of text[0..len), which must
 * be valid JSON, counting repeated names each time (json-c keeps only the
 * last of them: compare with json_object_object_length() to find them).
 */
extern int	jsontext_member_count(const char *text, size_t len);

#endif
