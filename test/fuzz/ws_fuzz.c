/*
 * ws_fuzz.c - libFuzzer target for WebSocket framing, message reassembly,
 * close payloads and UTF-8 (build and run with test/fuzz/run.sh)
 *
 * The input's first byte picks the parser's options; the rest is a stream of
 * client frames parsed until it ends or fails.  Besides sanitizer reports it
 * checks: a parsed frame lies inside the input and is incomplete one byte
 * shorter; what ws_append_frame writes parses back to the same frame; and the
 * UTF-8 automaton agrees with a plain decoder, however the text is split.
 */
#include "utf8.h"
#include "ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference: decode code points per RFC 3629 and check their range. */
static bool
utf8_reference(const unsigned char *p, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		uint32_t	cp;
		size_t		n,
					k;

		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		else if ((p[i] & 0xE0) == 0xC0)
		{
			n = 2;
			cp = p[i] & 0x1F;
		}
		else if ((p[i] & 0xF0) == 0xE0)
		{
			n = 3;
			cp = p[i] & 0x0F;
		}
		else if ((p[i] & 0xF8) == 0xF0)
		{
			n = 4;
			cp = p[i] & 0x07;
		}
		else
			return false;
		if (len - i < n)
			return false;
		for (k = 1; k < n; k++)
		{
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
			return false;			/* overlong */
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n;
	}
	return true;
}

static void
check_utf8(const uint8_t *data, size_t size)
{
	bool		want = utf8_reference(data, size);
	size_t		cut = size ? data[0] % (size + 1) : 0;
	uint32_t	st;

	if (utf8_valid(data, size) != want)
		abort();
	st = utf8_validate_step(UTF8_ACCEPT, data, cut);
	st = utf8_validate_step(st, data + cut, size - cut);
	if ((st == UTF8_ACCEPT) != want)
		abort();
}

/* The accept key is 28 base64 characters, whatever the key. */
static void
check_accept_key(const uint8_t *data, size_t size)
{
	char		accept[WS_ACCEPT_LEN + 1];

	ws_accept_key((const char *) data, size, accept);
	if (strlen(accept) != WS_ACCEPT_LEN)
		abort();
}

/* What the server writes for this frame parses back to the same frame. */
static void
check_roundtrip(const WsFrame *f)
{
	Buf			b = BUF_INIT;
	WsFrame		g;

	if (f->opcode == WS_OP_CLOSE || !f->fin)
		return;
	ws_append_frame(&b, f->opcode, f->payload, (size_t) f->payload_len);
	if (ws_parse_frame((unsigned char *) b.data, b.len, UINT64_MAX, false, &g) != WS_PARSE_OK)
		abort();
	if (g.opcode != f->opcode || g.payload_len != f->payload_len || g.masked ||
		g.header_len + g.payload_len != b.len ||
		memcmp(g.payload, f->payload, (size_t) f->payload_len) != 0)
		abort();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf;
	unsigned char *orig;
	WsMessage	msg = WS_MESSAGE_INIT;
	bool		require_mask;
	uint64_t	max_payload;
	size_t		len;
	size_t		off = 0;

	check_utf8(data, size);
	check_accept_key(data, size < 1024 ? size : 1024);	/* large inputs are for frames */
	if (size < 1)
		return 0;

	require_mask = (data[0] & 1) == 0;
	max_payload = (data[0] & 2) ? UINT64_MAX : (data[0] & 4) ? 125 : 64000;
	len = size - 1;
	/* exact-size copies, so any overread is an ASan report */
	buf = malloc(len ? len : 1);
	orig = malloc(len ? len : 1);
	memcpy(buf, data + 1, len);
	memcpy(orig, data + 1, len);

	for (;;)
	{
		WsFrame		f;
		WsParseResult r = ws_parse_frame(buf + off, len - off, max_payload, require_mask, &f);
		size_t		flen;
		uint16_t	code;

		if (r != WS_PARSE_OK)
		{
			if (r == WS_PARSE_TOO_BIG && f.payload_len <= max_payload)
				abort();
			break;
		}
		if (f.header_len > len - off || f.payload_len > len - off - f.header_len)
			abort();
		flen = f.header_len + (size_t) f.payload_len;
		if (f.payload != buf + off + f.header_len || f.payload_len > max_payload)
			abort();
		if ((f.opcode & 8) && (!f.fin || f.payload_len > 125))
			abort();
		if (require_mask && !f.masked)
			abort();

		/* one byte fewer is incomplete (on a pristine, still masked copy) */
		{
			unsigned char *shorter = malloc(flen);
			WsFrame		g;

			memcpy(shorter, orig + off, flen);
			if (ws_parse_frame(shorter, flen - 1, max_payload, require_mask, &g) != WS_PARSE_INCOMPLETE)
				abort();
			free(shorter);
		}

		check_roundtrip(&f);
		if (f.opcode == WS_OP_CLOSE)
		{
			if (ws_parse_close_payload(f.payload, (size_t) f.payload_len, &code) &&
				f.payload_len >= 2 && !ws_close_code_valid(code))
				abort();
		}
		else if (!(f.opcode & 8))
		{
			uint8_t		op;
			const unsigned char *p;
			size_t		plen;
			WsMessageResult mr = ws_message_add(&msg, &f, 64000, &op, &p, &plen);

			if (mr == WS_MESSAGE_COMPLETE && op == WS_OP_TEXT && !utf8_valid(p, plen))
				abort();
			if (mr == WS_MESSAGE_COMPLETE && plen > 64000)
				abort();
			if (mr != WS_MESSAGE_PARTIAL && mr != WS_MESSAGE_COMPLETE)
				break;
		}
		off += flen;
	}
	ws_message_free(&msg);
	free(buf);
	free(orig);
	return 0;
}
