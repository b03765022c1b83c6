/*
 * deflate.h - compression shared by all subscribers: permessage-deflate
 * (RFC 7692) for WebSocket, Content-Encoding: gzip for SSE, with zlib
 *
 * An event's body (the part of its frame common to every subscriber,
 * event.h) is compressed once, with a fresh raw deflate stream ending in a
 * sync flush: a byte-aligned run of DEFLATE blocks that stops right after
 * the 3 header bits of an empty stored block (the 00 00 ff ff that follow
 * are dropped).  Each connection then finishes that stored block with its
 * own bytes (its "subscriptions" list): LEN, NLEN and the bytes, so what
 * differs per connection is never compressed, and no connection holds a
 * zlib stream.  A WebSocket message ends with the 3 header bits of one
 * more empty stored block, whose 00 00 ff ff the receiver appends (RFC 7692
 * 7.2.2); an SSE gzip stream simply goes on with the next block.
 *
 * Inbound compressed WebSocket messages are inflated in one call with a
 * fresh inflate stream and a limit on the inflated size; that is why the
 * relay answers with client_no_context_takeover.
 */
#ifndef RELAY_DEFLATE_H
#define RELAY_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "http.h"

/* the response header line accepting an offer */
#define DEFLATE_WS_RESPONSE \
	"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; " \
	"client_no_context_takeover\r\n"

/*
 * True if the request offers permessage-deflate in a form the relay can
 * accept (any offer in any Sec-WebSocket-Extensions header): parameters
 * known, not repeated, with valid values, and no server_max_window_bits
 * below 15 (the shared compressor uses a 32 KB window).  The answer is
 * always DEFLATE_WS_RESPONSE.
 */
extern bool deflate_ws_offered(const HttpRequest *req);

/*
 * Compress ev->body once (if not done yet) into ev->deflated; also sets
 * ev->body_crc for gzip.  False if zlib fails (out of memory): the caller
 * sends the event uncompressed where it can.
 */
extern bool deflate_event_prepare(RelayEvent *ev);

/*
 * Finish the stored block the shared bytes end in with bytes p[0..len)
 * (in several stored blocks past 65535 bytes), leaving the stream at a
 * block boundary.
 */
extern void deflate_append_stored_rest(Buf *out, const void *p, size_t len);

/*
 * Turn b, the per-connection end of a WebSocket message (its subscriptions
 * list), into the bytes that follow ev->deflated in the compressed message.
 */
extern void deflate_ws_tail(Buf *b);

typedef enum DeflateInflateResult
{
	DEFLATE_INFLATE_OK,
	DEFLATE_INFLATE_TOO_BIG,	/* would inflate past the limit: close 1009 */
	DEFLATE_INFLATE_INVALID		/* not a valid DEFLATE message: close 1007 */
} DeflateInflateResult;

/*
 * Inflate one compressed WebSocket message payload (RFC 7692 7.2.2) into
 * out (reset first), refusing to produce more than max_len bytes.
 */
extern DeflateInflateResult deflate_inflate_message(const unsigned char *in, size_t len,
													size_t max_len, Buf *out);

/* ---- SSE: one gzip member per stream, never closed until it ends ---- */

/* True if Accept-Encoding allows gzip (a "gzip" or "x-gzip" coding, q > 0). */
extern bool deflate_gzip_accepted(const HttpRequest *req);

/* What a gzip stream's trailer needs: CRC-32 and length of all it carried. */
typedef struct DeflateGzip
{
	uint32_t	crc;
	uint32_t	size;			/* mod 2^32, as gzip's ISIZE */
} DeflateGzip;

/* The 10-byte gzip header (the stream then continues block by block). */
extern void deflate_gzip_header(DeflateGzip *gz, Buf *out);

/*
 * Wrap bytes of an SSE stream in stored blocks: pre (own bytes), then, if
 * ev is set, ev->deflated (sent by reference by the caller) and post.
 * Appends to wpre what goes before the shared bytes and to wpost what goes
 * after them, and accounts for everything in gz.
 */
extern void deflate_gzip_wrap(DeflateGzip *gz, const RelayEvent *ev,
							  const void *pre, size_t pre_len, const void *post, size_t post_len,
							  Buf *wpre, Buf *wpost);

/* The end of the stream: a final empty block, CRC-32 and ISIZE. */
extern void deflate_gzip_trailer(const DeflateGzip *gz, Buf *out);

#endif
