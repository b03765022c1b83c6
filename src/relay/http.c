/*
 * http.c - incremental HTTP/1.x request-head parser (RFC 9112) and the
 * query-string helpers the realtime endpoint needs
 *
 * Choices, all on the strict side because the only clients are browsers,
 * SDKs and EventSource, which never need the leniencies:
 *  - Lines end in CRLF.  A bare LF is an error (RFC 9112 2.2 allows either
 *    answer), as is a bare CR (2.2 MUST).  Empty lines before the request
 *    line are skipped (2.2 SHOULD).
 *  - One SP between the parts of the request line; the method is a token,
 *    the target is visible ASCII without '#', in origin-form, absolute-form
 *    or "*" (authority-form is only for CONNECT to a proxy); the version is
 *    HTTP/1.x (any other major version is an error).
 *  - Obsolete line folding, whitespace before the colon, an empty field name,
 *    control characters (other than HTAB) and NUL in values are errors (5.1,
 *    5.2).  Bytes 0x80-0xFF (obs-text) are allowed in values.
 *  - An HTTP/1.1 request must have exactly one Host header (3.2).
 *  - More than HTTP_MAX_HEADERS fields, like a head longer than max_head, is
 *    HTTP_PARSE_TOO_LARGE (431).
 *  - Bodies are not looked at: Content-Length and Transfer-Encoding are
 *    ordinary headers here.
 */
#include "http.h"
#include "utf8.h"

#include <string.h>

/* RFC 9110 5.6.2 tchar: what a method or a field name is made of. */
static bool
http_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	switch (c)
	{
		case '!':
		case '#':
		case '$':
		case '%':
		case '&':
		case '\'':
		case '*':
		case '+':
		case '-':
		case '.':
		case '^':
		case '_':
		case '`':
		case '|':
		case '~':
			return true;
		default:
			return false;
	}
}

/* A byte allowed in a request target: visible ASCII, except '#'. */
static bool
http_is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7F && c != '#';
}

/* A byte allowed in a field value: HTAB, SP, VCHAR, obs-text (5.5). */
static bool
http_is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7F);
}

static char
http_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of p[0..len) with the C string s. */
static bool
http_equal_ci(const char *p, size_t len, const char *s)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '\0' || http_lower(p[i]) != http_lower(s[i]))
			return false;
	}
	return s[len] == '\0';
}

/*
 * Split the target into path and query.  For absolute-form the path starts
 * after the authority, and is "/" when the URI has none (RFC 9112 3.2.2).
 */
static bool
http_split_target(HttpRequest *req)
{
	const char *t = req->target.p;
	size_t		len = req->target.len;
	size_t		start = 0;
	size_t		i;

	if (t[0] == '*')
	{
		if (len != 1)
			return false;
		req->path = req->target;
		return true;
	}
	if (t[0] != '/')
	{
		/* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
		if (!((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
			return false;
		for (i = 1; i < len && t[i] != ':'; i++)
		{
			char		c = t[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
				return false;
		}
		if (len - i < 3 || t[i + 1] != '/' || t[i + 2] != '/')
			return false;
		start = i + 3;
		while (start < len && t[start] != '/' && t[start] != '?')
			start++;
	}
	for (i = start; i < len && t[i] != '?'; i++)
		;
	if (i == start)
	{
		req->path.p = "/";
		req->path.len = 1;
	}
	else
	{
		req->path.p = t + start;
		req->path.len = i - start;
	}
	if (i < len)
	{
		req->query.p = t + i + 1;
		req->query.len = len - i - 1;
	}
	else
	{
		req->query.p = t + len;
		req->query.len = 0;
	}
	return true;
}

/* RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host field. */
static bool
http_host_ok(const HttpRequest *req)
{
	int			n = 0;
	int			i;

	for (i = 0; i < req->nheaders; i++)
	{
		if (http_equal_ci(req->headers[i].name.p, req->headers[i].name.len, "host"))
			n++;
	}
	return req->version_minor == 0 ? n <= 1 : n == 1;
}

/* Outcome of one step of the parser. */
typedef enum HttpStep
{
	STEP_OK,
	STEP_MORE,					/* ran out of bytes */
	STEP_BAD					/* a byte that cannot be there */
} HttpStep;

/*
 * Take a non-empty run of bytes that satisfy pred, followed by the byte
 * stop (consumed, not part of the run).
 */
static HttpStep
http_take(const unsigned char *p, size_t *pos, size_t end, bool (*pred) (unsigned char),
		  unsigned char stop, HttpSlice *out)
{
	size_t		start = *pos;
	size_t		i = start;

	while (i < end && pred(p[i]))
		i++;
	if (i == end)
		return STEP_MORE;
	if (p[i] != stop || i == start)
		return STEP_BAD;
	out->p = (const char *) p + start;
	out->len = i - start;
	*pos = i + 1;
	return STEP_OK;
}

/* Expect the bytes of s, one by one so that a wrong one fails at once. */
static HttpStep
http_expect(const unsigned char *p, size_t *pos, size_t end, const char *s)
{
	for (; *s != '\0'; s++, (*pos)++)
	{
		if (*pos == end)
			return STEP_MORE;
		if (p[*pos] != (unsigned char) *s)
			return STEP_BAD;
	}
	return STEP_OK;
}

static HttpParseResult
http_step_result(HttpStep step, HttpParseResult more)
{
	return step == STEP_MORE ? more : HTTP_PARSE_ERROR;
}

/*
 * Parse the request head in buf[0..len).  The whole buffer is looked at on
 * every call (the head is small and arrives in few reads); errors are
 * reported as soon as the offending byte is there, and only the first
 * max_head bytes are ever read.
 */
HttpParseResult
http_parse_request(const char *buf, size_t len, size_t max_head, HttpRequest *req)
{
	const unsigned char *p = (const unsigned char *) buf;
	size_t		end = len < max_head ? len : max_head;

	/* running out of bytes means "wait" until max_head bytes are there */
	HttpParseResult more = len >= max_head ? HTTP_PARSE_TOO_LARGE : HTTP_PARSE_INCOMPLETE;
	size_t		pos = 0;
	size_t		vstart;
	size_t		vend;
	HttpStep	step;
	HttpHeader *h;

	req->method.p = req->target.p = req->path.p = req->query.p = buf;
	req->method.len = req->target.len = req->path.len = req->query.len = 0;
	req->version_minor = 0;
	req->nheaders = 0;
	req->head_len = 0;

	/* empty lines before the request line */
	while (pos < end && p[pos] == '\r')
	{
		if ((step = http_expect(p, &pos, end, "\r\n")) != STEP_OK)
			return http_step_result(step, more);
	}

	/* method SP request-target SP "HTTP/1." DIGIT CRLF */
	if ((step = http_take(p, &pos, end, http_is_tchar, ' ', &req->method)) != STEP_OK)
		return http_step_result(step, more);
	if ((step = http_take(p, &pos, end, http_is_target_char, ' ', &req->target)) != STEP_OK)
		return http_step_result(step, more);
	if (!http_split_target(req))
		return HTTP_PARSE_ERROR;
	if ((step = http_expect(p, &pos, end, "HTTP/1.")) != STEP_OK)
		return http_step_result(step, more);
	if (pos == end)
		return more;
	if (p[pos] < '0' || p[pos] > '9')
		return HTTP_PARSE_ERROR;
	req->version_minor = p[pos++] - '0';
	if ((step = http_expect(p, &pos, end, "\r\n")) != STEP_OK)
		return http_step_result(step, more);

	/* field lines, up to the empty line */
	for (;;)
	{
		if (pos == end)
			return more;
		if (p[pos] == '\r')
		{
			if ((step = http_expect(p, &pos, end, "\r\n")) != STEP_OK)
				return http_step_result(step, more);
			req->head_len = pos;
			return http_host_ok(req) ? HTTP_PARSE_OK : HTTP_PARSE_ERROR;
		}

		/*
		 * field-name ":" -- a line that starts with SP/HTAB (obs-fold, 5.2)
		 * or has whitespace before the colon fails here as not a token
		 */
		if (req->nheaders == HTTP_MAX_HEADERS)
			return HTTP_PARSE_TOO_LARGE;
		h = &req->headers[req->nheaders];
		if ((step = http_take(p, &pos, end, http_is_tchar, ':', &h->name)) != STEP_OK)
			return http_step_result(step, more);

		/* OWS field-value OWS CRLF */
		while (pos < end && (p[pos] == ' ' || p[pos] == '\t'))
			pos++;
		vstart = pos;
		while (pos < end && http_is_value_char(p[pos]))
			pos++;
		vend = pos;
		while (vend > vstart && (p[vend - 1] == ' ' || p[vend - 1] == '\t'))
			vend--;
		h->value.p = buf + vstart;
		h->value.len = vend - vstart;
		if ((step = http_expect(p, &pos, end, "\r\n")) != STEP_OK)
			return http_step_result(step, more);
		req->nheaders++;
	}
}

/* First header called name (case-insensitive); NULL if absent. */
const HttpSlice *
http_header(const HttpRequest *req, const char *name)
{
	int			i;

	for (i = 0; i < req->nheaders; i++)
	{
		if (http_equal_ci(req->headers[i].name.p, req->headers[i].name.len, name))
			return &req->headers[i].value;
	}
	return NULL;
}

/*
 * True if any header called name holds token in its comma-separated list
 * (as in "Connection: keep-alive, Upgrade"); comparison ignores case.
 */
bool
http_header_has_token(const HttpRequest *req, const char *name, const char *token)
{
	int			i;

	for (i = 0; i < req->nheaders; i++)
	{
		const char *v = req->headers[i].value.p;
		size_t		len = req->headers[i].value.len;
		size_t		pos = 0;

		if (!http_equal_ci(req->headers[i].name.p, req->headers[i].name.len, name))
			continue;
		while (pos <= len)
		{
			size_t		s = pos;
			size_t		e;

			while (pos < len && v[pos] != ',')
				pos++;
			e = pos;
			while (s < e && (v[s] == ' ' || v[s] == '\t'))
				s++;
			while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if (http_equal_ci(v + s, e - s, token))
				return true;
			pos++;				/* past the comma, or past the end */
		}
	}
	return false;
}

/* Value of a hex digit, or -1. */
static int
http_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the byte at *pos of a percent-encoded string and advance; returns
 * the byte, -1 at the end, -2 if malformed: "%" without two hex digits, or
 * a NUL ("%00" or raw), which no parameter of ours may contain and C strings
 * cannot hold.
 */
static int
http_pct_next(const char *s, size_t len, size_t *pos, bool plus_is_space)
{
	size_t		i = *pos;
	int			hi,
				lo;

	if (i >= len)
		return -1;
	if (s[i] == '+' && plus_is_space)
	{
		*pos = i + 1;
		return ' ';
	}
	if (s[i] == '\0')
		return -2;
	if (s[i] != '%')
	{
		*pos = i + 1;
		return (unsigned char) s[i];
	}
	if (len - i < 3)
		return -2;
	hi = http_hex(s[i + 1]);
	lo = http_hex(s[i + 2]);
	if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
		return -2;
	*pos = i + 3;
	return hi * 16 + lo;
}

/* Percent-decode src into dst; see http.h.  A NUL counts as malformed. */
bool
http_percent_decode(const char *src, size_t srclen, char *dst, size_t *dstlen,
					bool plus_is_space)
{
	size_t		pos = 0;
	size_t		o = 0;
	int			c;

	while ((c = http_pct_next(src, srclen, &pos, plus_is_space)) >= 0)
		dst[o++] = (char) c;
	dst[o] = '\0';
	if (dstlen)
		*dstlen = o;
	return c == -1;
}

/*
 * Walk the query string: on each call, the next "key[=value]" pair (empty
 * pairs between "&&" skipped) into key/value; false at the end.
 */
static bool
http_query_next(HttpSlice query, size_t *pos, HttpSlice *key, HttpSlice *value)
{
	size_t		i = *pos;
	size_t		start;
	size_t		eq;

	while (i < query.len && query.p[i] == '&')
		i++;
	if (i >= query.len)
		return false;
	start = i;
	while (i < query.len && query.p[i] != '&')
		i++;
	*pos = i;
	for (eq = start; eq < i && query.p[eq] != '='; eq++)
		;
	key->p = query.p + start;
	key->len = eq - start;
	if (eq < i)
	{
		value->p = query.p + eq + 1;
		value->len = i - eq - 1;
	}
	else
	{
		value->p = query.p + i;
		value->len = 0;
	}
	return true;
}

/*
 * Does the percent-encoded key, decoded, start with prefix?  On true, *pos is
 * just after the prefix.
 */
static bool
http_key_prefix(HttpSlice key, size_t *pos, const char *prefix)
{
	size_t		i;

	*pos = 0;
	for (i = 0; prefix[i] != '\0'; i++)
	{
		if (http_pct_next(key.p, key.len, pos, true) != (unsigned char) prefix[i])
			return false;
	}
	return true;
}

/* Decode value into out (outsz bytes); the decoded bytes must be UTF-8. */
static bool
http_decode_value(HttpSlice value, char *out, size_t outsz, size_t *outlen)
{
	size_t		n;

	if (outsz < value.len + 1)
		return false;
	if (!http_percent_decode(value.p, value.len, out, &n, true))
		return false;
	if (!utf8_valid((const unsigned char *) out, n))
		return false;
	if (outlen)
		*outlen = n;
	return true;
}

/*
 * First value of the parameter name, decoded into out (NUL-terminated).
 * False when it is absent, or when its value is not valid percent-encoding,
 * decodes to "%00" or to something that is not UTF-8, or does not fit.
 */
bool
http_query_param(HttpSlice query, const char *name, char *out, size_t outsz,
				 size_t *outlen)
{
	size_t		pos = 0;
	size_t		kpos;
	HttpSlice	key,
				value;

	while (http_query_next(query, &pos, &key, &value))
	{
		if (http_key_prefix(key, &kpos, name) && kpos == key.len)
			return http_decode_value(value, out, outsz, outlen);
	}
	return false;
}

/*
 * Is key (percent-encoded) a channel parameter: "channels[]", "channels[N]"
 * with decimal N, or plain "channels" (a courtesy for hand-written SSE URLs)?
 */
static bool
http_is_channel_key(HttpSlice key)
{
	size_t		pos;
	int			c;

	if (!http_key_prefix(key, &pos, "channels"))
		return false;
	c = http_pct_next(key.p, key.len, &pos, true);
	if (c == -1)
		return true;
	if (c != '[')
		return false;
	while ((c = http_pct_next(key.p, key.len, &pos, true)) >= '0' && c <= '9')
		;
	if (c != ']')
		return false;
	return http_pct_next(key.p, key.len, &pos, true) == -1;
}

/*
 * Call cb for each channel parameter, in order, with its decoded value
 * (NUL-terminated; may be empty).  False if a value is malformed (as for
 * http_query_param), longer than HTTP_MAX_CHANNEL_LEN encoded, or cb
 * returns false.
 */
bool
http_query_channels(HttpSlice query, HttpChannelCallback cb, void *arg)
{
	char		chan[HTTP_MAX_CHANNEL_LEN + 1];
	size_t		pos = 0;
	size_t		n;
	HttpSlice	key,
				value;

	while (http_query_next(query, &pos, &key, &value))
	{
		if (!http_is_channel_key(key))
			continue;
		if (!http_decode_value(value, chan, sizeof(chan), &n))
			return false;
		if (!cb(arg, chan, n))
			return false;
	}
	return true;
}
