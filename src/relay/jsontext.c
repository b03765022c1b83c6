/*
 * jsontext.c - strict JSON parsing and raw member lookup for the relay
 */
#include "jsontext.h"

#include <string.h>

#include <json.h>

/* deepest nesting accepted by default, in objects and arrays */
#define JSONTEXT_MAX_DEPTH 256

/* What one strict check may see, and what it saw. */
typedef struct CheckBounds
{
	int			max_depth;
	uint64_t	max_values;
	uint64_t	values;			/* values seen so far (objects, arrays, scalars) */
	JsonTextError error;
} CheckBounds;

static bool check_value(const char *t, size_t len, size_t *i, int depth, CheckBounds *b);

static void
check_ws(const char *t, size_t len, size_t *i)
{
	while (*i < len && (t[*i] == ' ' || t[*i] == '\t' || t[*i] == '\r' || t[*i] == '\n'))
		(*i)++;
}

static bool
check_literal(const char *t, size_t len, size_t *i, const char *word)
{
	size_t		n = strlen(word);

	if (len - *i < n || memcmp(t + *i, word, n) != 0)
		return false;
	*i += n;
	return true;
}

static bool
is_digit(const char *t, size_t len, size_t i)
{
	return i < len && t[i] >= '0' && t[i] <= '9';
}

/* RFC 8259 number */
static bool
check_number(const char *t, size_t len, size_t *i)
{
	if (*i < len && t[*i] == '-')
		(*i)++;
	if (!is_digit(t, len, *i))
		return false;
	if (t[*i] == '0')
		(*i)++;
	else
		while (is_digit(t, len, *i))
			(*i)++;
	if (*i < len && t[*i] == '.')
	{
		(*i)++;
		if (!is_digit(t, len, *i))
			return false;
		while (is_digit(t, len, *i))
			(*i)++;
	}
	if (*i < len && (t[*i] == 'e' || t[*i] == 'E'))
	{
		(*i)++;
		if (*i < len && (t[*i] == '+' || t[*i] == '-'))
			(*i)++;
		if (!is_digit(t, len, *i))
			return false;
		while (is_digit(t, len, *i))
			(*i)++;
	}
	return true;
}

/* RFC 8259 string (UTF-8 validity is json-c's check) */
static bool
check_string(const char *t, size_t len, size_t *i)
{
	if (*i >= len || t[*i] != '"')
		return false;
	for ((*i)++; *i < len; (*i)++)
	{
		unsigned char c = (unsigned char) t[*i];

		if (c == '"')
		{
			(*i)++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\')
		{
			(*i)++;
			if (*i >= len)
				return false;
			if (t[*i] == 'u')
			{
				for (int k = 0; k < 4; k++)
				{
					(*i)++;
					if (*i >= len || strchr("0123456789abcdefABCDEF", t[*i]) == NULL ||
						t[*i] == '\0')
						return false;
				}
			}
			else if (strchr("\"\\/bfnrt", t[*i]) == NULL || t[*i] == '\0')
				return false;
		}
	}
	return false;
}

/*
 * Strict RFC 8259 check of one value.  json-c's strict mode still takes
 * single quotes and NaN; text that reaches clients verbatim must not.
 */
static bool
check_value(const char *t, size_t len, size_t *i, int depth, CheckBounds *b)
{
	char		close;

	if (depth > b->max_depth)
	{
		b->error = JSONTEXT_TOO_DEEP;
		return false;
	}
	if (++b->values > b->max_values)
	{
		b->error = JSONTEXT_TOO_MANY_VALUES;
		return false;
	}
	check_ws(t, len, i);
	if (*i >= len)
		return false;
	switch (t[*i])
	{
		case '"':
			return check_string(t, len, i);
		case 't':
			return check_literal(t, len, i, "true");
		case 'f':
			return check_literal(t, len, i, "false");
		case 'n':
			return check_literal(t, len, i, "null");
		case '{':
		case '[':
			break;
		default:
			return check_number(t, len, i);
	}
	close = t[*i] == '{' ? '}' : ']';
	(*i)++;
	check_ws(t, len, i);
	if (*i < len && t[*i] == close)
	{
		(*i)++;
		return true;
	}
	for (;;)
	{
		if (close == '}')
		{
			check_ws(t, len, i);
			if (!check_string(t, len, i))
				return false;
			check_ws(t, len, i);
			if (*i >= len || t[*i] != ':')
				return false;
			(*i)++;
		}
		if (!check_value(t, len, i, depth + 1, b))
			return false;
		check_ws(t, len, i);
		if (*i >= len)
			return false;
		if (t[*i] == close)
		{
			(*i)++;
			return true;
		}
		if (t[*i] != ',')
			return false;
		(*i)++;
	}
}

/* Strict check of text[0..len) as one value (surrounding whitespace allowed). */
static bool
check_document(const char *text, size_t len, CheckBounds *b)
{
	size_t		i = 0;

	b->values = 0;
	b->error = JSONTEXT_INVALID;
	if (!check_value(text, len, &i, 0, b))
		return false;
	check_ws(text, len, &i);
	return i == len;
}

/* True if text[0..len) is exactly one RFC 8259 value (surrounding whitespace allowed). */
bool
jsontext_is_strict(const char *text, size_t len)
{
	CheckBounds b = {JSONTEXT_MAX_DEPTH, UINT64_MAX, 0, JSONTEXT_INVALID};

	return check_document(text, len, &b);
}

/* Parse text[0..len) strictly as one JSON value; NULL if invalid. */
struct json_object *
jsontext_parse(const char *text, size_t len)
{
	return jsontext_parse_bounded(text, len, JSONTEXT_MAX_DEPTH, UINT64_MAX, NULL, NULL);
}

/*
 * Parse text[0..len) strictly as one JSON value within the bounds, checked
 * before json-c builds anything; see jsontext.h.
 */
struct json_object *
jsontext_parse_bounded(const char *text, size_t len, int max_depth, uint64_t max_values,
					   uint64_t *values, JsonTextError *error)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t		end;
	CheckBounds b = {max_depth, max_values, 0, JSONTEXT_INVALID};

	if (error)
		*error = JSONTEXT_INVALID;
	if (len > (size_t) 0x7fffffff || !check_document(text, len, &b))
	{
		if (error)
			*error = b.error;
		return NULL;
	}
	if (values)
		*values = b.values;
	/* json-c's default depth of 32 is too shallow for some jsonb rows */
	tok = json_tokener_new_ex(max_depth + 1);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
						   JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int) len);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL && json_tokener_get_error(tok) == json_tokener_continue)
	{
		/*
		 * A bare number at the very end is only complete once the tokener
		 * sees its end; give it the terminating NUL it would see in a C
		 * string.
		 */
		obj = json_tokener_parse_ex(tok, "", 1);
		end = len;
	}
	if (obj != NULL && json_tokener_get_error(tok) == json_tokener_success)
	{
		/* only whitespace may follow the value */
		for (; end < len; end++)
		{
			char		c = text[end];

			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			{
				json_object_put(obj);
				obj = NULL;
				break;
			}
		}
	}
	else if (obj != NULL)
	{
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static size_t
skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
		i++;
	return i;
}

/* i is at the opening quote; returns the index just after the closing one */
static size_t
skip_string(const char *t, size_t len, size_t i)
{
	for (i++; i < len; i++)
	{
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return len;
}

/* i is at the first byte of a value; returns the index just after it */
static size_t
skip_value(const char *t, size_t len, size_t i)
{
	int			depth = 0;

	if (i >= len)
		return len;
	if (t[i] == '"')
		return skip_string(t, len, i);
	if (t[i] != '{' && t[i] != '[')
	{
		/* number, true, false, null */
		while (i < len && strchr(",}] \t\r\n", t[i]) == NULL)
			i++;
		return i;
	}
	while (i < len)
	{
		char		c = t[i];

		if (c == '"')
		{
			i = skip_string(t, len, i);
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
		{
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return len;
}

/* Locate the raw bytes of a top-level member's value in valid JSON text. */
bool
jsontext_find_member(const char *text, size_t len, const char *key, size_t *start,
					 size_t *vlen)
{
	size_t		keylen = strlen(key);
	size_t		i = skip_ws(text, len, 0);
	bool		found = false;

	if (i >= len || text[i] != '{')
		return false;
	i++;
	for (;;)
	{
		size_t		kstart,
					kend,
					vstart;

		i = skip_ws(text, len, i);
		if (i >= len || text[i] != '"')
			break;
		kstart = i + 1;
		i = skip_string(text, len, i);
		kend = i - 1;
		i = skip_ws(text, len, i);
		if (i >= len || text[i] != ':')
			break;
		i = skip_ws(text, len, i + 1);
		vstart = i;
		i = skip_value(text, len, i);
		if (kend - kstart == keylen && memcmp(text + kstart, key, keylen) == 0)
		{
			*start = vstart;
			*vlen = i - vstart;
			found = true;
		}
		i = skip_ws(text, len, i);
		if (i >= len || text[i] != ',')
			break;
		i++;
	}
	return found;
}

/* Count the members of a top-level object in valid JSON text. */
int
jsontext_member_count(const char *text, size_t len)
{
	size_t		i = skip_ws(text, len, 0);
	int			n = 0;

	if (i >= len || text[i] != '{')
		return 0;
	i = skip_ws(text, len, i + 1);
	while (i < len && text[i] == '"')
	{
		n++;
		i = skip_ws(text, len, skip_string(text, len, i));
		if (i >= len || text[i] != ':')
			break;
		i = skip_ws(text, len, skip_value(text, len, skip_ws(text, len, i + 1)));
		if (i >= len || text[i] != ',')
			break;
		i = skip_ws(text, len, i + 1);
	}
	return n;
}
