/*
 * http_fuzz.c - libFuzzer target for the request-head parser and the query
 * helpers (build and run with test/fuzz/run.sh)
 *
 * Besides crashes and sanitizer reports it checks the parser's promises:
 * every slice lies inside the input, a complete head is incomplete one byte
 * earlier, and decoded query values are NUL-free UTF-8.
 */
#include "http.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *in_begin;
static const char *in_end;

/* A slice must lie inside the input (path may be the static "/"). */
static void
check_slice(HttpSlice s)
{
	if (s.len > 0 && (s.p < in_begin || s.p + s.len > in_end))
		abort();
}

static bool
check_channel(void *arg, const char *channel, size_t len)
{
	size_t	   *count = arg;

	if (strlen(channel) != len || !utf8_valid((const unsigned char *) channel, len))
		abort();
	(*count)++;
	return true;
}

/* Exercise the query helpers on q, checking what they hand out. */
static void
check_query(HttpSlice q)
{
	char	   *out = malloc(q.len + 1);
	size_t		n;
	size_t		count = 0;

	if (http_query_param(q, "project", out, q.len + 1, &n))
	{
		if (n > q.len || strlen(out) != n || !utf8_valid((unsigned char *) out, n))
			abort();
	}
	http_query_channels(q, check_channel, &count);
	if (http_percent_decode(q.p, q.len, out, &n, true) && (n > q.len || strlen(out) != n))
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reading one byte too far is an ASan report */
	char	   *buf = malloc(size ? size : 1);
	HttpRequest req;
	HttpRequest again;
	HttpParseResult r;
	size_t		max_head = 4096;
	int			i;

	memcpy(buf, data, size);
	in_begin = buf;
	in_end = buf + size;

	r = http_parse_request(buf, size, max_head, &req);
	if (r == HTTP_PARSE_OK)
	{
		if (req.head_len > size || req.head_len > max_head || req.head_len < 4)
			abort();
		if (req.method.len == 0 || req.target.len == 0 || req.path.len == 0)
			abort();
		if (req.version_minor < 0 || req.version_minor > 9)
			abort();
		if (req.nheaders < 0 || req.nheaders > HTTP_MAX_HEADERS)
			abort();
		check_slice(req.method);
		check_slice(req.target);
		check_slice(req.query);
		if (req.path.p >= in_begin && req.path.p < in_end)
			check_slice(req.path);
		else if (req.path.len != 1 || req.path.p[0] != '/')
			abort();
		for (i = 0; i < req.nheaders; i++)
		{
			check_slice(req.headers[i].name);
			check_slice(req.headers[i].value);
			if (req.headers[i].name.len == 0)
				abort();
		}
		if (memcmp(buf + req.head_len - 4, "\r\n\r\n", 4) != 0)
			abort();

		/* the same head is incomplete one byte earlier, and OK alone */
		if (http_parse_request(buf, req.head_len - 1, max_head, &again) != HTTP_PARSE_INCOMPLETE)
			abort();
		if (http_parse_request(buf, req.head_len, max_head, &again) != HTTP_PARSE_OK ||
			again.head_len != req.head_len || again.nheaders != req.nheaders)
			abort();

		http_header(&req, "host");
		http_header_has_token(&req, "connection", "upgrade");
		check_query(req.query);
	}
	else if (r == HTTP_PARSE_INCOMPLETE)
	{
		if (size >= max_head)
			abort();
	}

	/* more bytes never undo a verdict: the first half agrees with the whole */
	{
		HttpParseResult half = http_parse_request(buf, size / 2, max_head, &again);

		if (half == HTTP_PARSE_ERROR && r != HTTP_PARSE_ERROR)
			abort();
		if (half == HTTP_PARSE_OK && (r != HTTP_PARSE_OK || again.head_len != req.head_len))
			abort();
	}

	/* the query helpers also see the raw input */
	{
		HttpSlice	q = {buf, size};

		check_query(q);
	}
	free(buf);
	return 0;
}
