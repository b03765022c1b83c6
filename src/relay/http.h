/*
 * http.h - incremental HTTP/1.1 request-head parser for the relay endpoint
 *
 * The relay only ever reads one request head per connection (then the
 * connection becomes a WebSocket or an SSE stream, or gets one response and
 * is closed), so the parser works on the bytes received so far and reports
 * whether the head is complete.  It never allocates: the request refers into
 * the caller's buffer.
 */
#ifndef RELAY_HTTP_H
#define RELAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_CHANNEL_LEN 2048	/* longest channel value, percent-encoded */

typedef struct HttpSlice
{
	const char *p;
	size_t		len;
} HttpSlice;

typedef struct HttpHeader
{
	HttpSlice	name;
	HttpSlice	value;
} HttpHeader;

typedef struct HttpRequest
{
	HttpSlice	method;
	HttpSlice	target;			/* path plus query, as sent */
	HttpSlice	path;			/* target up to '?' */
	HttpSlice	query;			/* after '?', without it; len 0 if none */
	int			version_minor;	/* HTTP/1.x */
	int			nheaders;
	HttpHeader	headers[HTTP_MAX_HEADERS];
	size_t		head_len;		/* bytes of the head including final CRLFCRLF */
} HttpRequest;

typedef enum HttpParseResult
{
	HTTP_PARSE_OK,				/* complete head; req filled */
	HTTP_PARSE_INCOMPLETE,		/* need more bytes */
	HTTP_PARSE_ERROR,			/* malformed: answer 400 */
	HTTP_PARSE_TOO_LARGE		/* head longer than max_head: answer 431 */
} HttpParseResult;

/*
 * Parse the request head in buf[0..len).  HTTP_PARSE_ERROR covers every
 * syntax error of RFC 9112 (bare LF or CR, obs-fold, whitespace before a
 * colon, control characters or NUL, a bad method/target/version) and an
 * HTTP/1.1 request without exactly one Host; it is returned as soon as the
 * offending byte has arrived.  More than HTTP_MAX_HEADERS fields is
 * HTTP_PARSE_TOO_LARGE.  See http.c for the details.
 */
extern HttpParseResult http_parse_request(const char *buf, size_t len, size_t max_head,
										  HttpRequest *req);

/* Case-insensitive header lookup; NULL if absent. */
extern const HttpSlice *http_header(const HttpRequest *req, const char *name);

/* True if a comma-separated header value contains token (case-insensitive). */
extern bool http_header_has_token(const HttpRequest *req, const char *name, const char *token);

/*
 * Query-string access.  Values are percent-decoded (and '+' as space) into
 * out, which must hold at least the encoded length + 1 bytes.
 *
 * http_query_param: first value of a plain parameter such as "project".
 * http_query_channels: calls cb for every channel parameter in any of the
 * spellings PROTOCOL.md section 1 lists: channels[]=x, channels[0]=x,
 * channels%5B%5D=x, channels%5B0%5D=x (and plain channels=x).  Returns false
 * (and stops) if a value is not valid percent-encoding or cb returns false.
 *
 * "Valid" here is strict: "%" must be followed by two hex digits, NUL ("%00"
 * or raw) is refused, decoded values must be UTF-8, and a
 * channel value may be at most HTTP_MAX_CHANNEL_LEN bytes encoded.  Values
 * handed out are NUL-terminated.  http_query_param returns false both when
 * the parameter is absent and when its value is invalid or does not fit.
 */
extern bool http_query_param(HttpSlice query, const char *name, char *out, size_t outsz,
							 size_t *outlen);
typedef bool (*HttpChannelCallback) (void *arg, const char *channel, size_t len);
extern bool http_query_channels(HttpSlice query, HttpChannelCallback cb, void *arg);

/*
 * Percent-decode src into dst (capacity >= srclen + 1, NUL-terminated);
 * false if malformed ("%" without two hex digits, or a NUL, encoded or raw).
 */
extern bool http_percent_decode(const char *src, size_t srclen, char *dst, size_t *dstlen,
								bool plus_is_space);

#endif
