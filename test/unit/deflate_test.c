/*
 * deflate_test.c - shared compression (src/relay/deflate.c): which offers
 * and Accept-Encoding values are taken, a shared body plus a stored tail
 * (also one past 65535 bytes) inflating back to body and tail, the inflate
 * limit, and a gzip stream's trailer checked by zlib itself
 */
#include "unit.h"
#include "deflate.h"
#include "http.h"
#include "ws.h"

#include <stdlib.h>
#include <zlib.h>

/* Parse a request head with one extra header line. */
static bool
offered(const char *header)
{
	char		head[1024];
	HttpRequest req;

	snprintf(head, sizeof(head), "GET /v1/realtime HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n", header);
	if (http_parse_request(head, strlen(head), 8192, &req) != HTTP_PARSE_OK)
		return false;
	return strncmp(header, "Accept-Encoding", 15) == 0 ? deflate_gzip_accepted(&req) : deflate_ws_offered(&req);
}

static void
test_negotiation(void)
{
	CHECK(offered("Sec-WebSocket-Extensions: permessage-deflate"));
	CHECK(offered("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"));
	CHECK(offered("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10; server_no_context_takeover"));
	CHECK(offered("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=\"15\""));
	CHECK(offered("Sec-WebSocket-Extensions: foo, permessage-deflate; server_max_window_bits=9, permessage-deflate"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=14"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=7"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover=1"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflate; x"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; client_max_window_bits"));
	CHECK(!offered("Sec-WebSocket-Extensions: permessage-deflatex"));
	CHECK(!offered("X-Other: permessage-deflate"));

	CHECK(offered("Accept-Encoding: gzip"));
	CHECK(offered("Accept-Encoding: br, GZIP;q=0.5"));
	CHECK(offered("Accept-Encoding: x-gzip"));
	CHECK(!offered("Accept-Encoding: gzip;q=0"));
	CHECK(!offered("Accept-Encoding: gzip; q=0.000, deflate"));
	CHECK(!offered("Accept-Encoding: identity, *"));
}

/* body compressed as shared bytes, then tail as the connection's stored block */
static void
check_roundtrip(size_t body_len, size_t tail_len)
{
	char	   *all = malloc(body_len + tail_len);
	RelayEvent	ev;
	Buf			msg = BUF_INIT;
	Buf			tail = BUF_INIT;
	Buf			out = BUF_INIT;

	for (size_t i = 0; i < body_len + tail_len; i++)
		all[i] = "databases.*.collections."[i % 24] + (char) (i / 997 % 3);
	memset(&ev, 0, sizeof(ev));
	ev.body = all;
	ev.body_len = body_len;
	CHECK(deflate_event_prepare(&ev));
	CHECK(body_len < 1000 || ev.deflated_len < body_len / 4);
	buf_append(&tail, all + body_len, tail_len);
	deflate_ws_tail(&tail);
	buf_append(&msg, ev.deflated, ev.deflated_len);
	buf_append(&msg, tail.data, tail.len);
	CHECK(deflate_inflate_message((unsigned char *) msg.data, msg.len, body_len + tail_len, &out) == DEFLATE_INFLATE_OK);
	CHECK(out.len == body_len + tail_len && memcmp(out.data, all, out.len) == 0);
	/* one byte less is over the limit; a truncated message is invalid */
	CHECK(deflate_inflate_message((unsigned char *) msg.data, msg.len, body_len + tail_len - 1, &out) == DEFLATE_INFLATE_TOO_BIG);
	CHECK(deflate_inflate_message((unsigned char *) msg.data, msg.len - 3, body_len + tail_len, &out) == DEFLATE_INFLATE_INVALID);
	free(ev.deflated);
	free(all);
	buf_free(&msg);
	buf_free(&tail);
	buf_free(&out);
}

/* An SSE gzip stream: own bytes, two events, the trailer; gunzip checks it. */
static void
test_gzip_stream(void)
{
	static const char body[] = "{\"type\":\"event\",\"data\":{\"events\":[\"a\",\"a\",\"a\"],\"subscriptions\":[";
	RelayEvent	ev;
	DeflateGzip gz;
	Buf			s = BUF_INIT;
	Buf			want = BUF_INIT;
	unsigned char out[4096];
	z_stream	zs;

	memset(&ev, 0, sizeof(ev));
	ev.body = (char *) body;
	ev.body_len = sizeof(body) - 1;
	CHECK(deflate_event_prepare(&ev));
	deflate_gzip_header(&gz, &s);
	deflate_gzip_wrap(&gz, NULL, "retry: 1000\n\n", 13, NULL, 0, &s, &s);
	buf_append_str(&want, "retry: 1000\n\n");
	for (int i = 0; i < 2; i++)
	{
		Buf			pre = BUF_INIT;
		Buf			post = BUF_INIT;

		deflate_gzip_wrap(&gz, &ev, "id: 7\ndata: ", 12, "\"s0\"]}}\n\n", 9, &pre, &post);
		buf_append(&s, pre.data, pre.len);
		buf_append(&s, ev.deflated, ev.deflated_len);
		buf_append(&s, post.data, post.len);
		buf_printf(&want, "id: 7\ndata: %s\"s0\"]}}\n\n", body);
		buf_free(&pre);
		buf_free(&post);
	}
	deflate_gzip_trailer(&gz, &s);

	memset(&zs, 0, sizeof(zs));
	CHECK(inflateInit2(&zs, 16 + 15) == Z_OK);	/* gzip: checks CRC-32 and ISIZE */
	zs.next_in = (unsigned char *) s.data;
	zs.avail_in = (uInt) s.len;
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
	CHECK(zs.avail_in == 0);
	CHECK(zs.total_out == want.len && memcmp(out, want.data, want.len) == 0);
	inflateEnd(&zs);
	free(ev.deflated);
	buf_free(&s);
	buf_free(&want);
}

/* RSV1 only where permessage-deflate allows it (RFC 7692 6.1). */
static void
test_rsv1(void)
{
	/* unmasked (require_mask false) so the bytes can be written plainly */
	unsigned char text[] = {0xC1, 0x02, 'a', 'b'};
	unsigned char first[] = {0x41, 0x01, 'a'};
	unsigned char cont[] = {0x80, 0x01, 'b'};
	unsigned char ping[] = {0xC9, 0x00};
	WsFrame		f;
	WsMessage	msg = WS_MESSAGE_INIT;
	uint8_t		op;
	const unsigned char *p;
	size_t		len;

	CHECK(ws_parse_frame(text, sizeof(text), 125, false, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(ws_parse_frame_ext(text, sizeof(text), 125, false, true, &f) == WS_PARSE_OK && f.rsv1);
	CHECK(ws_message_add(&msg, &f, 125, &op, &p, &len) == WS_MESSAGE_COMPLETE && msg.compressed);
	ws_message_free(&msg);
	CHECK(!msg.compressed);
	CHECK(ws_parse_frame_ext(ping, sizeof(ping), 125, false, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	/* a fragmented compressed message: RSV1 on the first frame only */
	CHECK(ws_parse_frame_ext(first, sizeof(first), 125, false, true, &f) == WS_PARSE_OK);
	CHECK(ws_message_add(&msg, &f, 125, &op, &p, &len) == WS_MESSAGE_PARTIAL);
	CHECK(ws_parse_frame_ext(cont, sizeof(cont), 125, false, true, &f) == WS_PARSE_OK);
	CHECK(ws_message_add(&msg, &f, 125, &op, &p, &len) == WS_MESSAGE_COMPLETE);
	CHECK(msg.compressed && len == 2 && memcmp(p, "ab", 2) == 0);
	ws_message_free(&msg);
	CHECK(ws_parse_frame_ext(first, sizeof(first), 125, false, true, &f) == WS_PARSE_OK);
	CHECK(ws_message_add(&msg, &f, 125, &op, &p, &len) == WS_MESSAGE_PARTIAL);
	cont[0] |= 0x40;
	CHECK(ws_parse_frame_ext(cont, sizeof(cont), 125, false, true, &f) == WS_PARSE_OK);
	CHECK(ws_message_add(&msg, &f, 125, &op, &p, &len) == WS_MESSAGE_PROTOCOL_ERROR);
	ws_message_free(&msg);
}

int
main(void)
{
	test_rsv1();
	test_negotiation();
	check_roundtrip(2600, 40);
	check_roundtrip(100, 70000);	/* a tail in two stored blocks */
	test_gzip_stream();
	return unit_summary("deflate");
}
