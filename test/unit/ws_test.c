/*
 * ws_test.c - RFC 6455 framing: the examples of RFC 6455 5.7, frames split at
 * every byte, 16/64-bit lengths, every protocol error, close payloads,
 * server frame encoding, and message reassembly with UTF-8 across fragments
 */
#include "unit.h"
#include "ws.h"

#include <stdint.h>
#include <stdlib.h>

#define NOLIMIT UINT64_MAX

static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/*
 * Build a client frame into out: first byte b0 (FIN/RSV/opcode), masked with
 * mask_key when masked, length in the shortest form unless lenform forces
 * 126 or 127.  Returns its size.
 */
static size_t
make_frame(unsigned char *out, unsigned char b0, bool masked, const void *payload,
		   uint64_t len, int lenform)
{
	size_t		n = 0;
	size_t		i;
	unsigned char m = masked ? 0x80 : 0;

	out[n++] = b0;
	if (lenform == 0 && len < 126)
		out[n++] = m | (unsigned char) len;
	else if (lenform == 126 || (lenform == 0 && len <= 0xffff))
	{
		out[n++] = m | 126;
		out[n++] = (unsigned char) (len >> 8);
		out[n++] = (unsigned char) len;
	}
	else
	{
		out[n++] = m | 127;
		for (i = 0; i < 8; i++)
			out[n++] = (unsigned char) (len >> (56 - 8 * i));
	}
	if (masked)
	{
		memcpy(out + n, mask_key, 4);
		n += 4;
	}
	if (payload)
	{
		for (i = 0; i < len; i++)
			out[n + i] = ((const unsigned char *) payload)[i] ^ (masked ? mask_key[i & 3] : 0);
		n += (size_t) len;
	}
	return n;
}

/* Parse a copy of frame[0..len) (parsing unmasks in place). */
static WsParseResult
parse(const unsigned char *frame, size_t len, uint64_t max, bool require_mask, WsFrame *f)
{
	static unsigned char copy[70000];

	memcpy(copy, frame, len);
	return ws_parse_frame(copy, len, max, require_mask, f);
}

/*
 * Every proper prefix of a valid frame is INCOMPLETE, the whole frame is OK
 * with the expected payload, and trailing bytes of a next frame are left.
 */
static bool
split_everywhere(const unsigned char *frame, size_t len, const void *payload, size_t plen)
{
	static unsigned char copy[70000];
	WsFrame		f;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (parse(frame, i, NOLIMIT, true, &f) != WS_PARSE_INCOMPLETE)
			return false;
	}
	memcpy(copy, frame, len);
	copy[len] = 0x81;			/* the start of another frame */
	if (ws_parse_frame(copy, len + 1, NOLIMIT, true, &f) != WS_PARSE_OK)
		return false;
	return f.header_len + f.payload_len == len && f.payload_len == plen &&
		memcmp(f.payload, payload, plen) == 0;
}

static bool
close_ok(const char *p, size_t len, uint16_t want)
{
	uint16_t	code = 0;

	return ws_parse_close_payload((const unsigned char *) p, len, &code) && code == want;
}

static bool
close_bad(uint16_t code)
{
	unsigned char p[2] = {(unsigned char) (code >> 8), (unsigned char) code};
	uint16_t	got;

	return !ws_parse_close_payload(p, 2, &got);
}

/* What the reassembler returned last. */
static uint8_t got_op;
static const unsigned char *got_payload;
static size_t got_len;

/* Feed one unmasked frame to the reassembler. */
static WsMessageResult
add(WsMessage *m, bool fin, uint8_t opcode, const char *payload, size_t len, size_t max)
{
	WsFrame		f;

	memset(&f, 0, sizeof(f));
	f.fin = fin;
	f.opcode = opcode;
	f.payload = (unsigned char *) payload;
	f.payload_len = len;
	return ws_message_add(m, &f, max, &got_op, &got_payload, &got_len);
}

/*
 * A client stream fed one byte at a time, the way the event loop sees a slow
 * socket: "Hel" (text, not final), a ping, "lo" (final continuation), a
 * close.  Returns the reassembled text, then the ping and close payloads.
 */
static const char *
stream_bytewise(void)
{
	static char result[64];
	unsigned char stream[128];
	unsigned char in[128];
	size_t		slen = 0;
	size_t		have = 0;
	size_t		i;
	WsMessage	m = WS_MESSAGE_INIT;

	slen += make_frame(stream + slen, 0x01, true, "Hel", 3, 0);
	slen += make_frame(stream + slen, 0x89, true, "p", 1, 0);
	slen += make_frame(stream + slen, 0x80, true, "lo", 2, 0);
	slen += make_frame(stream + slen, 0x88, true, "\x03\xe8", 2, 0);
	result[0] = '\0';
	for (i = 0; i < slen; i++)
	{
		WsFrame		f;
		WsParseResult r;
		uint16_t	code;

		in[have++] = stream[i];
		r = ws_parse_frame(in, have, 64000, true, &f);
		if (r == WS_PARSE_INCOMPLETE)
			continue;
		if (r != WS_PARSE_OK)
			return "parse error";
		if (f.opcode == WS_OP_PING)
			strncat(result, (const char *) f.payload, (size_t) f.payload_len);
		else if (f.opcode == WS_OP_CLOSE)
		{
			if (!ws_parse_close_payload(f.payload, (size_t) f.payload_len, &code))
				return "bad close";
			sprintf(result + strlen(result), "|close %u", code);
		}
		else if (ws_message_add(&m, &f, 64000, &got_op, &got_payload, &got_len) == WS_MESSAGE_COMPLETE)
			sprintf(result + strlen(result), "|%.*s", (int) got_len, (const char *) got_payload);
		/* consume the frame */
		have -= f.header_len + (size_t) f.payload_len;
		memmove(in, in + f.header_len + f.payload_len, have);
	}
	ws_message_free(&m);
	return have == 0 ? result : "leftover bytes";
}

int
main(void)
{
	static unsigned char big[70000];
	static unsigned char frame[70100];
	unsigned char hdr[10];
	WsFrame		f;
	size_t		n;
	int			i;
	uint16_t	code;
	Buf			b = BUF_INIT;
	WsMessage	m = WS_MESSAGE_INIT;

	/* RFC 6455 5.7: masked "Hello" */
	{
		const unsigned char hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};

		CHECK(parse(hello, sizeof(hello), NOLIMIT, true, &f) == WS_PARSE_OK);
		CHECK(f.fin && f.opcode == WS_OP_TEXT && f.masked);
		CHECK(f.header_len == 6 && f.payload_len == 5);
		CHECK(memcmp(f.payload, "Hello", 5) == 0);
		CHECK(split_everywhere(hello, sizeof(hello), "Hello", 5));
	}

	/* RFC 6455 5.7: unmasked "Hello" is refused from a client (5.1) ... */
	{
		const unsigned char hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};

		CHECK(parse(hello, 2, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
		/* ... but parses when no mask is required */
		CHECK(parse(hello, sizeof(hello), NOLIMIT, false, &f) == WS_PARSE_OK);
		CHECK(!f.masked && f.header_len == 2 && memcmp(f.payload, "Hello", 5) == 0);
	}

	/* RFC 6455 5.7: fragmented unmasked text, ping */
	{
		const unsigned char frag1[] = {0x01, 0x03, 'H', 'e', 'l'};
		const unsigned char frag2[] = {0x80, 0x02, 'l', 'o'};
		const unsigned char ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};

		CHECK(parse(frag1, sizeof(frag1), NOLIMIT, false, &f) == WS_PARSE_OK);
		CHECK(!f.fin && f.opcode == WS_OP_TEXT);
		CHECK(parse(frag2, sizeof(frag2), NOLIMIT, false, &f) == WS_PARSE_OK);
		CHECK(f.fin && f.opcode == WS_OP_CONT);
		CHECK(parse(ping, sizeof(ping), NOLIMIT, false, &f) == WS_PARSE_OK);
		CHECK(f.opcode == WS_OP_PING && f.payload_len == 5);
	}

	/* empty frames */
	n = make_frame(frame, 0x81, true, "", 0, 0);
	CHECK(n == 6 && split_everywhere(frame, n, "", 0));
	n = make_frame(frame, 0x8A, true, "", 0, 0);
	CHECK(parse(frame, n, NOLIMIT, true, &f) == WS_PARSE_OK && f.opcode == WS_OP_PONG);

	/* 125 / 126 / 65535 / 65536 bytes: 7-, 16- and 64-bit lengths */
	for (i = 0; i < (int) sizeof(big); i++)
		big[i] = (unsigned char) (i * 7);
	n = make_frame(frame, 0x82, true, big, 125, 0);
	CHECK(n == 2 + 4 + 125 && split_everywhere(frame, n, big, 125));
	n = make_frame(frame, 0x82, true, big, 126, 0);
	CHECK(n == 4 + 4 + 126 && frame[1] == (0x80 | 126) && split_everywhere(frame, n, big, 126));
	n = make_frame(frame, 0x82, true, big, 65535, 0);
	CHECK(n == 4 + 4 + 65535 && split_everywhere(frame, n, big, 65535));
	n = make_frame(frame, 0x82, true, big, 65536, 0);
	CHECK(n == 10 + 4 + 65536 && frame[1] == (0x80 | 127));
	CHECK(split_everywhere(frame, n, big, 65536));

	/* lengths not in the minimal form (5.2) fail as soon as they are read */
	n = make_frame(frame, 0x82, true, big, 125, 126);
	CHECK(parse(frame, 4, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(parse(frame, 3, NOLIMIT, true, &f) == WS_PARSE_INCOMPLETE);
	n = make_frame(frame, 0x82, true, big, 0, 126);
	CHECK(parse(frame, 4, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	n = make_frame(frame, 0x82, true, big, 65535, 127);
	CHECK(parse(frame, 10, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(parse(frame, 9, NOLIMIT, true, &f) == WS_PARSE_INCOMPLETE);
	n = make_frame(frame, 0x82, true, NULL, 5, 127);
	CHECK(parse(frame, 10, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);

	/* 64-bit length with the top bit set: error at its first byte */
	n = make_frame(frame, 0x82, true, NULL, UINT64_C(0x8000000000000000), 0);
	CHECK(parse(frame, 3, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	/* largest legal length: waits for the payload, no overflow */
	n = make_frame(frame, 0x82, true, NULL, UINT64_C(0x7fffffffffffffff), 0);
	CHECK(parse(frame, n, NOLIMIT, true, &f) == WS_PARSE_INCOMPLETE);
	CHECK(parse(frame, n, 64000, true, &f) == WS_PARSE_TOO_BIG);
	CHECK(f.payload_len == UINT64_C(0x7fffffffffffffff));
	n = make_frame(frame, 0x82, false, NULL, UINT64_C(0x7fffffffffffffff), 0);
	CHECK(parse(frame, n, NOLIMIT, false, &f) == WS_PARSE_INCOMPLETE);

	/* oversized: refused from the header alone, before the payload */
	n = make_frame(frame, 0x81, true, big, 64001, 0);
	CHECK(parse(frame, 4, 64000, true, &f) == WS_PARSE_TOO_BIG && f.payload_len == 64001);
	n = make_frame(frame, 0x81, true, big, 64000, 0);
	CHECK(parse(frame, n, 64000, true, &f) == WS_PARSE_OK);
	n = make_frame(frame, 0x81, true, big, 10, 0);
	CHECK(parse(frame, 2, 9, true, &f) == WS_PARSE_TOO_BIG);

	/* RSV bits: no extension is negotiated (5.2) */
	CHECK(parse((const unsigned char *) "\xc1", 1, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(parse((const unsigned char *) "\xa1", 1, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(parse((const unsigned char *) "\x91", 1, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(parse((const unsigned char *) "\xf9", 1, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);

	/* reserved opcodes 3-7 and B-F; the defined ones need a second byte */
	for (i = 0; i < 16; i++)
	{
		unsigned char b0 = (unsigned char) (0x80 | i);
		bool		known = i <= 2 || (i >= 8 && i <= 10);

		CHECK(parse(&b0, 1, NOLIMIT, true, &f) ==
			  (known ? WS_PARSE_INCOMPLETE : WS_PARSE_PROTOCOL_ERROR));
	}

	/* control frames: never fragmented, at most 125 bytes (5.5) */
	CHECK(parse((const unsigned char *) "\x09", 1, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	CHECK(parse((const unsigned char *) "\x08", 1, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	n = make_frame(frame, 0x89, true, big, 125, 0);
	CHECK(parse(frame, n, NOLIMIT, true, &f) == WS_PARSE_OK);
	n = make_frame(frame, 0x89, true, big, 126, 0);
	CHECK(parse(frame, 2, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	n = make_frame(frame, 0x88, true, big, 126, 0);
	CHECK(parse(frame, 2, NOLIMIT, true, &f) == WS_PARSE_PROTOCOL_ERROR);
	/* a fragmented data frame is fine (reassembly is WsMessage's job) */
	n = make_frame(frame, 0x01, true, "abc", 3, 0);
	CHECK(parse(frame, n, NOLIMIT, true, &f) == WS_PARSE_OK && !f.fin);

	/* close payloads (5.5.1, 7.4) */
	CHECK(close_ok("", 0, 1005));
	CHECK(!ws_parse_close_payload((const unsigned char *) "\x03", 1, &code));
	CHECK(close_ok("\x03\xe8", 2, 1000));
	CHECK(close_ok("\x03\xe8" "bye", 5, 1000));
	CHECK(close_ok("\x03\xe9" "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 13, 1001));
	CHECK(!ws_parse_close_payload((const unsigned char *) "\x03\xe8\xff", 3, &code));
	CHECK(!ws_parse_close_payload((const unsigned char *) "\x03\xe8\xed\xa0\x80", 5, &code));
	CHECK(!ws_parse_close_payload((const unsigned char *) "\x03\xe8\xce", 3, &code));
	/* codes a peer may send (Autobahn 7.7) ... */
	CHECK(!close_bad(1000) && !close_bad(1001) && !close_bad(1002) && !close_bad(1003));
	CHECK(!close_bad(1007) && !close_bad(1008) && !close_bad(1009) && !close_bad(1010));
	CHECK(!close_bad(1011) && !close_bad(1012) && !close_bad(1013) && !close_bad(1014));
	CHECK(!close_bad(3000) && !close_bad(3999) && !close_bad(4000) && !close_bad(4999));
	/* ... and those it may not (Autobahn 7.9) */
	CHECK(close_bad(0) && close_bad(999) && close_bad(1004) && close_bad(1005));
	CHECK(close_bad(1006) && close_bad(1015) && close_bad(1016) && close_bad(1100));
	CHECK(close_bad(2000) && close_bad(2999) && close_bad(5000) && close_bad(65535));

	/* server frame headers: shortest length form, FIN set, no mask */
	CHECK(ws_frame_header(hdr, WS_OP_TEXT, 0) == 2 && hdr[0] == 0x81 && hdr[1] == 0);
	CHECK(ws_frame_header(hdr, WS_OP_TEXT, 125) == 2 && hdr[1] == 125);
	CHECK(ws_frame_header(hdr, WS_OP_BINARY, 126) == 4 && hdr[0] == 0x82 && hdr[1] == 126 &&
		  hdr[2] == 0 && hdr[3] == 126);
	CHECK(ws_frame_header(hdr, WS_OP_TEXT, 65535) == 4 && hdr[2] == 0xff && hdr[3] == 0xff);
	CHECK(ws_frame_header(hdr, WS_OP_TEXT, 65536) == 10 && hdr[1] == 127 &&
		  memcmp(hdr + 2, "\0\0\0\0\0\x01\0\0", 8) == 0);
	CHECK(ws_frame_header(hdr, WS_OP_CLOSE, UINT64_C(0x0102030405060708)) == 10 &&
		  hdr[0] == 0x88 && memcmp(hdr + 2, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);

	/* what the server writes, its own parser reads back (no mask required) */
	ws_append_frame(&b, WS_OP_TEXT, "{\"type\":\"pong\"}", 15);
	CHECK(b.len == 17);
	CHECK(ws_parse_frame((unsigned char *) b.data, b.len, NOLIMIT, false, &f) == WS_PARSE_OK);
	CHECK(f.opcode == WS_OP_TEXT && f.payload_len == 15 && memcmp(f.payload, "{\"type\":\"pong\"}", 15) == 0);
	buf_reset(&b);
	ws_append_frame(&b, WS_OP_BINARY, big, 70000);
	CHECK(b.len == 70010);
	CHECK(ws_parse_frame((unsigned char *) b.data, b.len, NOLIMIT, false, &f) == WS_PARSE_OK);
	CHECK(f.payload_len == 70000 && memcmp(f.payload, big, 70000) == 0);

	/* close frames: code + reason; a long reason is cut at a character */
	buf_reset(&b);
	ws_append_close(&b, WS_CLOSE_POLICY, "policy");
	CHECK(b.len == 10 && memcmp(b.data, "\x88\x08\x03\xf0policy", 10) == 0);
	buf_reset(&b);
	ws_append_close(&b, WS_CLOSE_NORMAL, NULL);
	CHECK(b.len == 4 && memcmp(b.data, "\x88\x02\x03\xe8", 4) == 0);
	{
		char		reason[200];

		/* 'x' then 3-byte characters so byte 123 falls inside one */
		reason[0] = 'x';
		for (i = 0; i < 60; i++)
			memcpy(reason + 1 + 3 * i, "\xe2\x82\xac", 3);
		reason[181] = '\0';
		buf_reset(&b);
		ws_append_close(&b, WS_CLOSE_GOING_AWAY, reason);
		CHECK(ws_parse_frame((unsigned char *) b.data, b.len, NOLIMIT, false, &f) == WS_PARSE_OK);
		CHECK(f.payload_len == 2 + 1 + 3 * 40);
		CHECK(ws_parse_close_payload(f.payload, (size_t) f.payload_len, &code) && code == 1001);
		memset(reason, 'a', 199);
		reason[199] = '\0';
		buf_reset(&b);
		ws_append_close(&b, WS_CLOSE_GOING_AWAY, reason);
		CHECK(b.len == 127);
	}
	buf_free(&b);

	/* a whole conversation arriving byte by byte */
	CHECK_STR(stream_bytewise(), "p|Hello|close 1000");

	/* reassembly: RFC 6455 5.7 "Hel" + "lo", a ping may come in between */
	CHECK(add(&m, false, WS_OP_TEXT, "Hel", 3, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, true, WS_OP_CONT, "lo", 2, 64000) == WS_MESSAGE_COMPLETE);
	CHECK(got_op == WS_OP_TEXT && got_len == 5 && memcmp(got_payload, "Hello", 5) == 0);
	/* the next message starts afresh */
	CHECK(add(&m, true, WS_OP_BINARY, "\xff", 1, 64000) == WS_MESSAGE_COMPLETE);
	CHECK(got_op == WS_OP_BINARY && got_len == 1);
	/* continuation with nothing to continue (Autobahn 5.9) */
	CHECK(add(&m, true, WS_OP_CONT, "x", 1, 64000) == WS_MESSAGE_PROTOCOL_ERROR);
	ws_message_free(&m);
	/* a new message inside a fragmented one (Autobahn 5.18) */
	CHECK(add(&m, false, WS_OP_TEXT, "a", 1, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, true, WS_OP_TEXT, "b", 1, 64000) == WS_MESSAGE_PROTOCOL_ERROR);
	ws_message_free(&m);
	/* control frames are not for the reassembler */
	CHECK(add(&m, true, WS_OP_PING, "", 0, 64000) == WS_MESSAGE_PROTOCOL_ERROR);
	/* empty fragments (Autobahn 5.x, 6.1) */
	CHECK(add(&m, false, WS_OP_TEXT, "", 0, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, false, WS_OP_CONT, "", 0, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, true, WS_OP_CONT, "", 0, 64000) == WS_MESSAGE_COMPLETE && got_len == 0);
	/* a character split across fragments (Autobahn 6.2, 6.4) */
	CHECK(add(&m, false, WS_OP_TEXT, "\xce\xba\xe1", 3, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, false, WS_OP_CONT, "\xbd", 1, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, true, WS_OP_CONT, "\xb9", 1, 64000) == WS_MESSAGE_COMPLETE && got_len == 5);
	/* invalid UTF-8 fails at its fragment, before the message ends (6.4.x) */
	CHECK(add(&m, false, WS_OP_TEXT, "\xce\xba\xf4\x90", 4, 64000) == WS_MESSAGE_INVALID_UTF8);
	ws_message_free(&m);
	/* a text message may not end inside a character (6.6.x) */
	CHECK(add(&m, false, WS_OP_TEXT, "\xce", 1, 64000) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, true, WS_OP_CONT, "", 0, 64000) == WS_MESSAGE_INVALID_UTF8);
	ws_message_free(&m);
	CHECK(add(&m, true, WS_OP_TEXT, "\xed\xa0\x80", 3, 64000) == WS_MESSAGE_INVALID_UTF8);
	ws_message_free(&m);
	/* binary is not checked */
	CHECK(add(&m, true, WS_OP_BINARY, "\xed\xa0\x80", 3, 64000) == WS_MESSAGE_COMPLETE);
	/* the size limit applies to the whole message, not each fragment */
	CHECK(add(&m, false, WS_OP_TEXT, "12345", 5, 8) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, false, WS_OP_CONT, "678", 3, 8) == WS_MESSAGE_PARTIAL);
	CHECK(add(&m, true, WS_OP_CONT, "9", 1, 8) == WS_MESSAGE_TOO_BIG);
	ws_message_free(&m);
	CHECK(add(&m, true, WS_OP_TEXT, "12345678", 8, 8) == WS_MESSAGE_COMPLETE);
	ws_message_free(&m);

	return unit_summary("ws");
}
