/*
 * ws.c - RFC 6455 WebSocket framing: handshake key, frame parsing and
 * encoding, close payloads, and reassembly of fragmented messages
 */
#include "ws.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* RFC 6455 1.3: the GUID appended to Sec-WebSocket-Key */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Largest payload of a control frame (RFC 6455 5.5). */
#define WS_CONTROL_MAX 125

/* Sec-WebSocket-Accept: base64(SHA-1(key ++ GUID)), RFC 6455 4.2.2. */
void
ws_accept_key(const char *key, size_t keylen, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char input[128];
	unsigned char digest[SHA_DIGEST_LENGTH];

	/* a valid key is 24 bytes; a longer one cannot match anything anyway */
	if (keylen > sizeof(input) - (sizeof(ws_guid) - 1))
		keylen = sizeof(input) - (sizeof(ws_guid) - 1);
	memcpy(input, key, keylen);
	memcpy(input + keylen, ws_guid, sizeof(ws_guid) - 1);
	SHA1(input, keylen + sizeof(ws_guid) - 1, digest);
	EVP_EncodeBlock((unsigned char *) out, digest, SHA_DIGEST_LENGTH);
}

/* True for the opcodes RFC 6455 5.2 defines; the rest are reserved. */
static bool
ws_opcode_known(uint8_t opcode)
{
	switch (opcode)
	{
		case WS_OP_CONT:
		case WS_OP_TEXT:
		case WS_OP_BINARY:
		case WS_OP_CLOSE:
		case WS_OP_PING:
		case WS_OP_PONG:
			return true;
		default:
			return false;
	}
}

/* Parse one frame; see ws.h for the contract. */
WsParseResult
ws_parse_frame(unsigned char *buf, size_t len, uint64_t max_payload,
			   bool require_mask, WsFrame *frame)
{
	return ws_parse_frame_ext(buf, len, max_payload, require_mask, false, frame);
}

/* ws_parse_frame, also taking RSV1 (a compressed message) when allow_rsv1. */
WsParseResult
ws_parse_frame_ext(unsigned char *buf, size_t len, uint64_t max_payload,
				   bool require_mask, bool allow_rsv1, WsFrame *frame)
{
	uint64_t	plen;
	size_t		hlen = 2;
	size_t		i;
	const unsigned char *mask;

	memset(frame, 0, sizeof(*frame));
	if (len < 1)
		return WS_PARSE_INCOMPLETE;

	frame->fin = (buf[0] & 0x80) != 0;
	frame->opcode = buf[0] & 0x0F;
	frame->rsv1 = (buf[0] & 0x40) != 0;
	/* RSV2-3: no extension uses them; RSV1 only with permessage-deflate */
	if ((buf[0] & 0x30) || (frame->rsv1 && !allow_rsv1))
		return WS_PARSE_PROTOCOL_ERROR;
	if (!ws_opcode_known(frame->opcode))
		return WS_PARSE_PROTOCOL_ERROR;
	/* RFC 7692 6.1: control frames are never compressed */
	if (frame->rsv1 && (frame->opcode & 0x08))
		return WS_PARSE_PROTOCOL_ERROR;
	/* control frames must not be fragmented (5.5) */
	if ((frame->opcode & 0x08) && !frame->fin)
		return WS_PARSE_PROTOCOL_ERROR;
	if (len < 2)
		return WS_PARSE_INCOMPLETE;

	frame->masked = (buf[1] & 0x80) != 0;
	if (require_mask && !frame->masked)
		return WS_PARSE_PROTOCOL_ERROR;
	plen = buf[1] & 0x7F;
	if ((frame->opcode & 0x08) && plen > WS_CONTROL_MAX)
		return WS_PARSE_PROTOCOL_ERROR;

	if (plen == 126)
	{
		hlen = 4;
		if (len < hlen)
			return WS_PARSE_INCOMPLETE;
		plen = ((uint64_t) buf[2] << 8) | buf[3];
		if (plen < 126)			/* 5.2: the minimal number of bytes MUST be used */
			return WS_PARSE_PROTOCOL_ERROR;
	}
	else if (plen == 127)
	{
		hlen = 10;
		if (len < 3)
			return WS_PARSE_INCOMPLETE;
		if (buf[2] & 0x80)		/* 5.2: the most significant bit MUST be 0 */
			return WS_PARSE_PROTOCOL_ERROR;
		if (len < hlen)
			return WS_PARSE_INCOMPLETE;
		plen = 0;
		for (i = 2; i < 10; i++)
			plen = (plen << 8) | buf[i];
		if (plen <= 0xFFFF)
			return WS_PARSE_PROTOCOL_ERROR;
	}
	frame->payload_len = plen;
	if (plen > max_payload)
		return WS_PARSE_TOO_BIG;

	if (frame->masked)
		hlen += 4;
	frame->header_len = hlen;
	/* written so that neither side can overflow: hlen <= len is checked first */
	if (len < hlen || plen > (uint64_t) (len - hlen))
		return WS_PARSE_INCOMPLETE;

	frame->payload = buf + hlen;
	if (frame->masked)
	{
		mask = buf + hlen - 4;
		for (i = 0; i < (size_t) plen; i++)
			frame->payload[i] ^= mask[i & 3];
	}
	return WS_PARSE_OK;
}

/* Header of an unmasked final server frame; see ws.h. */
size_t
ws_frame_header(unsigned char *out, uint8_t opcode, uint64_t len)
{
	int			i;

	out[0] = 0x80 | (opcode & 0x0F);
	if (len < 126)
	{
		out[1] = (unsigned char) len;
		return 2;
	}
	if (len <= 0xFFFF)
	{
		out[1] = 126;
		out[2] = (unsigned char) (len >> 8);
		out[3] = (unsigned char) len;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = (unsigned char) (len >> (56 - 8 * i));
	return 10;
}

/* Append a whole unmasked final frame. */
void
ws_append_frame(Buf *b, uint8_t opcode, const void *payload, size_t len)
{
	unsigned char hdr[10];
	size_t		hlen = ws_frame_header(hdr, opcode, len);

	buf_reserve(b, hlen + len);
	buf_append(b, hdr, hlen);
	buf_append(b, payload, len);
}

/*
 * Append a close frame.  The reason is cut to fit the 125-byte control frame
 * limit, at a character boundary so the peer still sees valid UTF-8.
 */
void
ws_append_close(Buf *b, uint16_t code, const char *reason)
{
	unsigned char payload[WS_CONTROL_MAX];
	size_t		rlen = reason ? strlen(reason) : 0;

	if (rlen > WS_CONTROL_MAX - 2)
	{
		rlen = WS_CONTROL_MAX - 2;
		/* back up over continuation bytes to the start of the cut character */
		while (rlen > 0 && ((unsigned char) reason[rlen] & 0xC0) == 0x80)
			rlen--;
	}
	payload[0] = (unsigned char) (code >> 8);
	payload[1] = (unsigned char) code;
	if (rlen > 0)
		memcpy(payload + 2, reason, rlen);
	ws_append_frame(b, WS_OP_CLOSE, payload, rlen + 2);
}

/*
 * Codes a peer may put in a close frame: those RFC 6455 7.4.1 defines, minus
 * the ones that must not be sent (1004-1006, 1015), plus 1012-1014 (IANA
 * registry) and the ranges for libraries (3000-3999) and applications
 * (4000-4999).
 */
bool
ws_close_code_valid(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

/* Validate a close payload; see ws.h. */
bool
ws_parse_close_payload(const unsigned char *p, size_t len, uint16_t *code)
{
	uint16_t	c;

	if (len == 0)
	{
		*code = 1005;			/* "no status received" (7.4.1) */
		return true;
	}
	if (len == 1 || len > WS_CONTROL_MAX)
		return false;
	c = (uint16_t) ((p[0] << 8) | p[1]);
	if (!ws_close_code_valid(c))
		return false;
	*code = c;
	return utf8_valid(p + 2, len - 2);
}

/* Add one data frame to the message being reassembled; see ws.h. */
WsMessageResult
ws_message_add(WsMessage *msg, const WsFrame *frame, size_t max_len,
			   uint8_t *opcode, const unsigned char **payload, size_t *len)
{
	uint32_t	utf8 = UTF8_ACCEPT;
	uint8_t		op;

	if (frame->opcode == WS_OP_CONT)
	{
		/* RFC 7692 6.1: RSV1 is set on the first frame only */
		if (msg->opcode == 0 || frame->rsv1)
			return WS_MESSAGE_PROTOCOL_ERROR;
		op = msg->opcode;
		utf8 = msg->utf8_state;
	}
	else if (frame->opcode == WS_OP_TEXT || frame->opcode == WS_OP_BINARY)
	{
		if (msg->opcode != 0)
			return WS_MESSAGE_PROTOCOL_ERROR;
		op = frame->opcode;
		msg->compressed = frame->rsv1;
		buf_reset(&msg->data);	/* what a previous message left */
	}
	else
		return WS_MESSAGE_PROTOCOL_ERROR;

	if (frame->payload_len > max_len || msg->data.len > max_len - (size_t) frame->payload_len)
		return WS_MESSAGE_TOO_BIG;
	/* compressed text is checked once inflated, by the caller */
	if (op == WS_OP_TEXT && !msg->compressed)
	{
		utf8 = utf8_validate_step(utf8, frame->payload, (size_t) frame->payload_len);
		if (utf8 == UTF8_REJECT)
			return WS_MESSAGE_INVALID_UTF8;
		/* a message may not end inside a character */
		if (frame->fin && utf8 != UTF8_ACCEPT)
			return WS_MESSAGE_INVALID_UTF8;
	}
	if (frame->fin && frame->opcode != WS_OP_CONT)
	{
		/* unfragmented: the frame is the message */
		*opcode = op;
		*payload = frame->payload;
		*len = (size_t) frame->payload_len;
		return WS_MESSAGE_COMPLETE;
	}
	buf_append(&msg->data, frame->payload, (size_t) frame->payload_len);
	if (!frame->fin)
	{
		msg->opcode = op;
		msg->utf8_state = utf8;
		return WS_MESSAGE_PARTIAL;
	}
	msg->opcode = 0;
	*opcode = op;
	*payload = (const unsigned char *) (msg->data.data ? msg->data.data : "");
	*len = msg->data.len;
	return WS_MESSAGE_COMPLETE;
}

/* Release the reassembly buffer. */
void
ws_message_free(WsMessage *msg)
{
	buf_free(&msg->data);
	msg->opcode = 0;
	msg->compressed = false;
	msg->utf8_state = UTF8_ACCEPT;
}
