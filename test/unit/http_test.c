/*
 * http_test.c - the request-head parser (RFC 9112) and the query helpers:
 * the SDK's upgrade request byte by byte, every malformed case, size limits,
 * and every spelling of the channel parameter (PROTOCOL.md section 1)
 */
#include "unit.h"
#include "http.h"

#include <stdlib.h>

#define MAXHEAD 8192

static HttpRequest req;

/* Parse a C string with the default limit. */
static HttpParseResult
parse(const char *s)
{
	return http_parse_request(s, strlen(s), MAXHEAD, &req);
}

/* A slice as a C string (for CHECK_STR). */
static const char *
str(HttpSlice s)
{
	static char out[4][1024];
	static int	n;
	char	   *o = out[n++ % 4];

	memcpy(o, s.p, s.len);
	o[s.len] = '\0';
	return o;
}

static const char *
header(const char *name)
{
	const HttpSlice *v = http_header(&req, name);

	return v ? str(*v) : NULL;
}

/* Every proper prefix of s is INCOMPLETE and the whole of it is OK. */
static bool
complete_only_at_end(const char *s)
{
	size_t		len = strlen(s);
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (http_parse_request(s, i, MAXHEAD, &req) != HTTP_PARSE_INCOMPLETE)
			return false;
	}
	return http_parse_request(s, len, MAXHEAD, &req) == HTTP_PARSE_OK && req.head_len == len;
}

/* Collects channels into one '|'-separated string. */
static char channels[4096];
static int	stop_after;

static bool
collect(void *arg, const char *channel, size_t len)
{
	int		   *count = arg;

	if (strlen(channel) != len)	/* NUL-terminated, no NUL inside */
		return false;
	if (channels[0])
		strcat(channels, "|");
	strncat(channels, channel, len);
	(*count)++;
	return *count != stop_after;
}

/* Run http_query_channels on a query string; the channels, or "FALSE". */
static const char *
chans(const char *query)
{
	HttpSlice	q = {query, strlen(query)};
	int			count = 0;

	channels[0] = '\0';
	if (!http_query_channels(q, collect, &count))
		strcat(channels, "FALSE");
	return channels;
}

/* http_query_param on a query string; the value, or "FALSE". */
static const char *
param(const char *query, const char *name)
{
	static char out[1024];
	HttpSlice	q = {query, strlen(query)};
	size_t		n = 99;

	if (!http_query_param(q, name, out, sizeof(out), &n))
		return "FALSE";
	if (n != strlen(out))
		return "BADLEN";
	return out;
}

/* http_percent_decode of a string; the result, or "FALSE". */
static const char *
decode(const char *s, bool plus)
{
	static char out[1024];
	size_t		n;

	if (!http_percent_decode(s, strlen(s), out, &n, plus))
		return "FALSE";
	return out;
}

int
main(void)
{
	/* what the Appwrite Web SDK (through a browser) sends */
	static const char sdk[] =
		"GET /v1/realtime?project=p1&channels%5B%5D=documents HTTP/1.1\r\n"
		"Host: localhost:8080\r\n"
		"Connection: Upgrade\r\n"
		"Pragma: no-cache\r\n"
		"Upgrade: websocket\r\n"
		"Origin: http://localhost:3000\r\n"
		"Sec-WebSocket-Version: 13\r\n"
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
		"Accept-Encoding: gzip, deflate, br\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		"\r\n";
	char		buf[MAXHEAD * 2];
	char		big[MAXHEAD * 2];
	int			i;
	size_t		n;

	CHECK(parse(sdk) == HTTP_PARSE_OK);
	CHECK_STR(str(req.method), "GET");
	CHECK_STR(str(req.target), "/v1/realtime?project=p1&channels%5B%5D=documents");
	CHECK_STR(str(req.path), "/v1/realtime");
	CHECK_STR(str(req.query), "project=p1&channels%5B%5D=documents");
	CHECK(req.version_minor == 1);
	CHECK(req.nheaders == 10);
	CHECK(req.head_len == strlen(sdk));
	CHECK_STR(header("host"), "localhost:8080");
	CHECK_STR(header("SEC-WEBSOCKET-KEY"), "dGhlIHNhbXBsZSBub25jZQ==");
	CHECK_STR(header("Sec-WebSocket-Extensions"), "permessage-deflate; client_max_window_bits");
	CHECK(header("Sec-WebSocket-Protocol") == NULL);
	CHECK(header("Hos") == NULL && header("Hostt") == NULL);
	CHECK(http_header_has_token(&req, "connection", "upgrade"));
	CHECK(http_header_has_token(&req, "Upgrade", "WebSocket"));
	CHECK(http_header_has_token(&req, "Accept-Encoding", "deflate"));
	CHECK(!http_header_has_token(&req, "Accept-Encoding", "gzip, deflate"));
	CHECK(!http_header_has_token(&req, "Upgrade", "web"));
	CHECK(!http_header_has_token(&req, "X-Missing", "x"));

	/* arriving one byte at a time: incomplete until the final LF */
	CHECK(complete_only_at_end(sdk));

	/* bytes after the head (a first frame) are not part of it */
	snprintf(buf, sizeof(buf), "%s\x81\x85", sdk);
	CHECK(parse(buf) == HTTP_PARSE_OK && req.head_len == strlen(sdk));

	/* Connection with several tokens, over several headers */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
				"Connection: , keep-alive ,\tUpgrade\t\r\n\r\n") == HTTP_PARSE_OK);
	CHECK(http_header_has_token(&req, "Connection", "upgrade"));
	CHECK(http_header_has_token(&req, "Connection", "keep-alive"));
	CHECK(!http_header_has_token(&req, "Connection", "close"));
	CHECK_STR(header("connection"), "keep-alive");

	/* SSE request, HTTP/1.0 without Host, no query */
	CHECK(parse("GET /v1/realtime HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n") == HTTP_PARSE_OK);
	CHECK(req.version_minor == 0 && req.query.len == 0);
	CHECK_STR(str(req.path), "/v1/realtime");
	/* an empty query after '?' */
	CHECK(parse("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.path), "/x");
	CHECK(req.query.len == 0);
	/* a later minor version is read as 1.1 by the caller (RFC 9110 2.5) */
	CHECK(parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK && req.version_minor == 2);

	/* Host: required once in HTTP/1.1 (RFC 9112 3.2), at most once in 1.0 */
	CHECK(parse("GET / HTTP/1.1\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n") == HTTP_PARSE_OK);

	/* empty lines before the request line are skipped (RFC 9112 2.2) */
	CHECK(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.method), "GET");
	CHECK(parse("\r") == HTTP_PARSE_INCOMPLETE);
	CHECK(parse("\r\r") == HTTP_PARSE_ERROR);
	CHECK(parse("\n") == HTTP_PARSE_ERROR);

	/* field values: OWS trimmed, HTAB and obs-text kept, may be empty */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX-A:   a \t b  \t\r\nX-B:\r\nX-C: caf\xc3\xa9\r\n\r\n") ==
		  HTTP_PARSE_OK);
	CHECK_STR(header("x-a"), "a \t b");
	CHECK_STR(header("x-b"), "");
	CHECK_STR(header("x-c"), "caf\xc3\xa9");
	/* names are tokens: these odd ones are allowed */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n!#$%&'*+-.^_`|~09aZ: v\r\n\r\n") == HTTP_PARSE_OK);

	/* line endings: CRLF only, no bare LF (our choice), no bare CR (MUST) */
	CHECK(parse("GET / HTTP/1.1\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\rHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n\rX") == HTTP_PARSE_ERROR);

	/* obsolete line folding and whitespace before the colon (5.1, 5.2) */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n") == HTTP_PARSE_ERROR);
	/* no name, no colon, a bad name character */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n") == HTTP_PARSE_ERROR);

	/* control characters, DEL and NUL in values */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n") == HTTP_PARSE_ERROR);
	memcpy(buf, "GET / HTTP/1.1\r\nHost: h\0x\r\n\r\n", 30);
	CHECK(http_parse_request(buf, 30, MAXHEAD, &req) == HTTP_PARSE_ERROR);
	/* ... found as soon as they arrive, before the head is complete */
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\x01") == HTTP_PARSE_ERROR);

	/* the request line */
	CHECK(parse("GET /  HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse(" GET / HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1 \r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET\r\n\r\n") == HTTP_PARSE_ERROR);
	/* methods are case-sensitive tokens: "get" parses, the caller refuses it */
	CHECK(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.method), "get");
	/* brackets and percent signs come raw from browsers */
	CHECK(parse("GET /v1/realtime?channels[]=a&x=%zz HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);

	/* target forms (RFC 9112 3.2) */
	CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.path), "*");
	CHECK(parse("GET *x HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET http://h:80/v1/realtime?project=p HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.path), "/v1/realtime");
	CHECK_STR(str(req.query), "project=p");
	CHECK(parse("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.path), "/");
	CHECK(parse("GET http://h?a=1 HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_OK);
	CHECK_STR(str(req.path), "/");
	CHECK_STR(str(req.query), "a=1");
	CHECK(parse("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET 1http://h/ HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET ht_tp://h/ HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET ?a HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);

	/* the version, checked byte by byte */
	CHECK(parse("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/2") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / http/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.10\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.x\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1\r\nHost: h\r\n\r\n") == HTTP_PARSE_ERROR);
	CHECK(parse("GET / HTTP/1.1") == HTTP_PARSE_INCOMPLETE);
	CHECK(parse("GET / HTT") == HTTP_PARSE_INCOMPLETE);
	CHECK(parse("GET / HTTX") == HTTP_PARSE_ERROR);
	/* TLS or HTTP/2 preface bytes fail at once */
	CHECK(parse("\x16\x03\x01") == HTTP_PARSE_ERROR);
	CHECK(parse("PRI * HTTP/2.0\r\n") == HTTP_PARSE_ERROR);

	/* size limits: the head must end within max_head bytes */
	n = strlen(sdk);
	CHECK(http_parse_request(sdk, n, n, &req) == HTTP_PARSE_OK);
	CHECK(http_parse_request(sdk, n, n - 1, &req) == HTTP_PARSE_TOO_LARGE);
	CHECK(http_parse_request(sdk, n - 1, n - 1, &req) == HTTP_PARSE_TOO_LARGE);
	CHECK(http_parse_request(sdk, n - 1, n, &req) == HTTP_PARSE_INCOMPLETE);
	CHECK(http_parse_request(sdk, 10, 10, &req) == HTTP_PARSE_TOO_LARGE);
	/* an error inside the limit is still an error */
	CHECK(http_parse_request("G T / HTTP/1.1\r\n", 16, 4, &req) == HTTP_PARSE_ERROR);
	/* one long header, never-ending */
	strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	n = strlen(big);
	memset(big + n, 'a', sizeof(big) - n);
	CHECK(http_parse_request(big, MAXHEAD - 1, MAXHEAD, &req) == HTTP_PARSE_INCOMPLETE);
	CHECK(http_parse_request(big, MAXHEAD, MAXHEAD, &req) == HTTP_PARSE_TOO_LARGE);
	CHECK(http_parse_request(big, sizeof(big), MAXHEAD, &req) == HTTP_PARSE_TOO_LARGE);
	/* HTTP_MAX_HEADERS fields fit, one more is too many (431) */
	strcpy(buf, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 1; i < HTTP_MAX_HEADERS; i++)
		sprintf(buf + strlen(buf), "X-%d: %d\r\n", i, i);
	strcat(buf, "\r\n");
	CHECK(parse(buf) == HTTP_PARSE_OK && req.nheaders == HTTP_MAX_HEADERS);
	CHECK_STR(header("x-63"), "63");
	buf[strlen(buf) - 2] = '\0';
	strcat(buf, "X-64: 64\r\n\r\n");
	CHECK(parse(buf) == HTTP_PARSE_TOO_LARGE);

	/* percent-decoding */
	CHECK_STR(decode("a%20b+c", true), "a b c");
	CHECK_STR(decode("a%20b+c", false), "a b+c");
	CHECK_STR(decode("%5B%5d%2F%2f", true), "[]//");
	CHECK_STR(decode("caf%C3%A9", true), "caf\xc3\xa9");
	CHECK_STR(decode("", true), "");
	CHECK_STR(decode("%", true), "FALSE");
	CHECK_STR(decode("%2", true), "FALSE");
	CHECK_STR(decode("a%2", true), "FALSE");
	CHECK_STR(decode("%zz", true), "FALSE");
	CHECK_STR(decode("%2g", true), "FALSE");
	CHECK_STR(decode("%00", true), "FALSE");	/* NUL never decodes */
	CHECK_STR(decode("%%41", true), "FALSE");
	CHECK(!http_percent_decode("a\0b", 3, buf, &n, true));	/* raw NUL too */

	/* plain parameters */
	CHECK_STR(param("project=p1&jwt=a%2Eb.c", "project"), "p1");
	CHECK_STR(param("project=p1&jwt=a%2Eb.c", "jwt"), "a.b.c");
	CHECK_STR(param("project=p1&project=p2", "project"), "p1");
	CHECK_STR(param("&&project=&x", "project"), "");
	CHECK_STR(param("project", "project"), "");
	CHECK_STR(param("projects=1&xproject=2", "project"), "FALSE");
	CHECK_STR(param("pro%6Aect=enc", "project"), "enc");
	CHECK_STR(param("a=1=2", "a"), "1=2");
	CHECK_STR(param("", "project"), "FALSE");
	CHECK_STR(param("project=%zz", "project"), "FALSE");
	CHECK_STR(param("project=%FF", "project"), "FALSE");	/* not UTF-8 */
	CHECK_STR(param("project=%00", "project"), "FALSE");
	{
		char		small[4];
		HttpSlice	q = {"project=abcd", 12};

		CHECK(!http_query_param(q, "project", small, sizeof(small), NULL));
		q.len = 11;
		CHECK(http_query_param(q, "project", small, sizeof(small), NULL));
		CHECK_STR(small, "abc");
	}

	/* channels: every spelling, in order (PROTOCOL.md section 1) */
	CHECK_STR(chans("project=p&channels[]=documents&channels[0]=files&channels%5B%5D=a"
					"&channels%5B0%5D=b&channels%5b12%5d=c&channels=d"),
			  "documents|files|a|b|c|d");
	CHECK_STR(chans("channels[]=databases.db1.collections.c1.documents&channels[]=account"),
			  "databases.db1.collections.c1.documents|account");
	/* values are decoded */
	CHECK_STR(chans("channels[]=a%2Eb+c&channels[]=caf%C3%A9"), "a.b c|caf\xc3\xa9");
	CHECK_STR(chans("channels[]="), "");
	/* not channels: other keys, other brackets, per-channel queries (v23) */
	CHECK_STR(chans("channelsX=1&channels[x]=2&channels[0][]=3&channels[=4&channels]=5"
					"&xchannels[]=6&channels[]x=7&documents[0][]=8"), "");
	CHECK_STR(chans(""), "");
	/* malformed values stop the walk */
	CHECK_STR(chans("channels[]=a&channels[]=%zz&channels[]=b"), "aFALSE");
	CHECK_STR(chans("channels[]=%ED%A0%80"), "FALSE");
	CHECK_STR(chans("channels[]=a%00b"), "FALSE");
	/* ... but malformed keys are just not ours */
	CHECK_STR(chans("chan%zz=1&channels[]=a"), "a");
	/* the callback can stop the walk */
	stop_after = 2;
	CHECK_STR(chans("channels[]=a&channels[]=b&channels[]=c"), "a|bFALSE");
	stop_after = 0;
	/* longest channel value */
	strcpy(big, "channels[]=");
	n = strlen(big);
	memset(big + n, 'c', HTTP_MAX_CHANNEL_LEN);
	big[n + HTTP_MAX_CHANNEL_LEN] = '\0';
	CHECK(strcmp(chans(big), "FALSE") != 0 && strlen(channels) == HTTP_MAX_CHANNEL_LEN);
	strcat(big, "c");
	CHECK_STR(chans(big), "FALSE");

	return unit_summary("http");
}
