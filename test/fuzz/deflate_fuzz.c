/*
 * deflate_fuzz.c - libFuzzer target for the relay's compression
 * (src/relay/deflate.c; build and run with test/fuzz/run.sh)
 *
 * The input's first byte picks what is fuzzed: an inbound compressed
 * WebSocket message inflated under a limit (it must never produce more than
 * the limit, and must agree with a plain zlib inflate of the same bytes),
 * the Sec-WebSocket-Extensions and Accept-Encoding parsers, or the outbound
 * path (a shared compressed body plus a per-connection stored tail), which
 * must inflate back to exactly body and tail.
 */
#include "deflate.h"
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference: inflate with no limit but a cap, as RFC 7692 says. */
static int
reference_inflate(const uint8_t *p, size_t len, size_t cap, size_t *out_len)
{
	static unsigned char out[1 << 17];
	static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
	z_stream	zs;
	int			rc;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		abort();
	zs.next_out = out;
	zs.avail_out = (uInt) (cap + 1 < sizeof(out) ? cap + 1 : sizeof(out));
	zs.next_in = (unsigned char *) p;
	zs.avail_in = (uInt) len;
	rc = inflate(&zs, Z_SYNC_FLUSH);
	if ((rc == Z_OK || rc == Z_BUF_ERROR) && zs.avail_in == 0 && zs.avail_out > 0)
	{
		zs.next_in = (unsigned char *) tail;
		zs.avail_in = 4;
		rc = inflate(&zs, Z_SYNC_FLUSH);
	}
	*out_len = (size_t) (zs.next_out - out);
	inflateEnd(&zs);
	return rc;
}

static void
fuzz_inflate(const uint8_t *p, size_t len, size_t max_len)
{
	Buf			out = BUF_INIT;
	DeflateInflateResult r = deflate_inflate_message(p, len, max_len, &out);
	size_t		ref_len;
	int			rc = reference_inflate(p, len, max_len, &ref_len);

	if (r == DEFLATE_INFLATE_OK && out.len > max_len)
		abort();
	if (r == DEFLATE_INFLATE_TOO_BIG && ref_len <= max_len)
		abort();				/* refused what inflates within the limit */
	if (r == DEFLATE_INFLATE_OK && rc == Z_DATA_ERROR)
		abort();				/* accepted what zlib calls invalid */
	buf_free(&out);
}

static void
fuzz_headers(const uint8_t *p, size_t len)
{
	HttpRequest req;

	if (http_parse_request((const char *) p, len, 4096, &req) == HTTP_PARSE_OK)
	{
		(void) deflate_ws_offered(&req);
		(void) deflate_gzip_accepted(&req);
	}
}

/* body and tail (split at a byte of the input) through the outbound path. */
static void
fuzz_outbound(const uint8_t *p, size_t len)
{
	size_t		cut = len ? p[0] % len : 0;
	RelayEvent	ev;
	Buf			tail = BUF_INIT;
	Buf			msg = BUF_INIT;
	Buf			out = BUF_INIT;

	if (cut == 0)
		return;					/* an event body is never empty */
	memset(&ev, 0, sizeof(ev));
	ev.body = (char *) p;
	ev.body_len = cut;
	if (!deflate_event_prepare(&ev))
		abort();
	buf_append(&tail, p + cut, len - cut);
	deflate_ws_tail(&tail);
	buf_append(&msg, ev.deflated, ev.deflated_len);
	buf_append(&msg, tail.data, tail.len);
	if (deflate_inflate_message((const unsigned char *) msg.data, msg.len, len, &out) != DEFLATE_INFLATE_OK ||
		out.len != len || memcmp(out.data, p, len) != 0)
		abort();
	if (ev.body_crc != (uint32_t) crc32(0, p, (uInt) cut))
		abort();
	free(ev.deflated);
	buf_free(&tail);
	buf_free(&msg);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3)
	{
		case 0:
			fuzz_inflate(data + 1, size - 1, 64000);
			break;
		case 1:
			fuzz_inflate(data + 1, size - 1, 125 + (data[0] >> 2));	/* small limits */
			break;
		case 2:
			fuzz_headers(data + 1, size - 1);
			break;
		case 3:
			fuzz_outbound(data + 1, size - 1);
			break;
	}
	return 0;
}
