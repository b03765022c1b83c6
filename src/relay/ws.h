/*
 * ws.h - RFC 6455 WebSocket framing: handshake key, frame parsing, encoding
 *
 * The parser is incremental and allocation-free: ws_parse_frame() looks at the
 * bytes received so far and, when a whole frame is there, returns its header
 * and unmasks the payload in place.  Message reassembly (fragmentation) and
 * the size limit live in the caller through WsMessage helpers below.
 */
#ifndef RELAY_WS_H
#define RELAY_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "utf8.h"

#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xA

/* close codes used by the relay */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

#define WS_ACCEPT_LEN 28		/* base64 of a SHA-1 digest */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key; out gets 28 chars + NUL. */
extern void ws_accept_key(const char *key, size_t keylen, char out[WS_ACCEPT_LEN + 1]);

typedef struct WsFrame
{
	bool		fin;
	uint8_t		opcode;
	bool		masked;
	bool		rsv1;			/* permessage-deflate: compressed message */
	size_t		header_len;		/* bytes before the payload */
	uint64_t	payload_len;
	unsigned char *payload;		/* points into the input, unmasked */
} WsFrame;

typedef enum WsParseResult
{
	WS_PARSE_OK,				/* frame complete: consume header_len + payload_len */
	WS_PARSE_INCOMPLETE,		/* need more bytes */
	WS_PARSE_PROTOCOL_ERROR,	/* RSV bits, unknown opcode, bad control frame,
								 * non-minimal length, unmasked client frame */
	WS_PARSE_TOO_BIG			/* payload_len > max_payload */
} WsParseResult;

/*
 * Parse one client frame at buf[0..len).  Client frames must be masked
 * (RFC 6455 5.1) unless require_mask is false.  Control frames must be final
 * and at most 125 bytes.  On WS_PARSE_OK the payload is unmasked in place, so
 * the caller must consume the frame before parsing again.  Errors are found
 * as early as the bytes allow (a bad first byte fails on its own), and
 * WS_PARSE_TOO_BIG is returned as soon as the length is known, before the
 * payload arrives.  Extensions are never negotiated, so any RSV bit is an
 * error, unless ws_parse_frame_ext() is told that permessage-deflate was
 * negotiated (then RSV1 marks the first frame of a compressed data message;
 * on a control frame it is still an error).  The parser does not track
 * fragmentation: see WsMessage.
 */
extern WsParseResult ws_parse_frame(unsigned char *buf, size_t len, uint64_t max_payload,
									bool require_mask, WsFrame *frame);
extern WsParseResult ws_parse_frame_ext(unsigned char *buf, size_t len, uint64_t max_payload,
										bool require_mask, bool allow_rsv1, WsFrame *frame);

/*
 * Write a server (unmasked, final) frame header for a payload of len bytes
 * into out (at least 10 bytes); returns the header length.
 */
extern size_t ws_frame_header(unsigned char *out, uint8_t opcode, uint64_t len);

/* Append a whole unmasked server frame to b. */
extern void ws_append_frame(Buf *b, uint8_t opcode, const void *payload, size_t len);

/* Append a close frame with code and reason (reason truncated to fit 125). */
extern void ws_append_close(Buf *b, uint16_t code, const char *reason);

/*
 * Validate a close frame payload (RFC 6455 5.5.1/7.4): empty, or a 2-byte
 * valid code followed by UTF-8.  Sets *code (1005 when empty).
 */
extern bool ws_parse_close_payload(const unsigned char *p, size_t len, uint16_t *code);

/* True for a close code a peer may send (1000-1003, 1007-1014, 3000-4999). */
extern bool ws_close_code_valid(uint16_t code);

/*
 * Message reassembly (RFC 6455 5.4): feed every data frame (text, binary,
 * continuation) that ws_parse_frame returned, in order; control frames go
 * elsewhere, and may arrive between fragments.  Text is UTF-8-checked per
 * fragment so an invalid message fails at the first bad byte (RFC 6455 8.1).
 * An unfragmented message is handed back in place, without a copy; only
 * fragments are gathered in data.
 */
typedef struct WsMessage
{
	uint8_t		opcode;			/* of the fragmented message being assembled;
								 * 0 when none is */
	bool		compressed;		/* RSV1 on its first frame (permessage-deflate):
								 * payload and size limit are the compressed
								 * bytes, UTF-8 is not checked here */
	uint32_t	utf8_state;		/* validation state across fragments */
	Buf			data;			/* the fragments so far */
} WsMessage;

#define WS_MESSAGE_INIT {0, false, UTF8_ACCEPT, BUF_INIT}

typedef enum WsMessageResult
{
	WS_MESSAGE_PARTIAL,			/* fragment stored, more to come */
	WS_MESSAGE_COMPLETE,		/* *opcode, *payload, *len hold a whole
								 * message */
	WS_MESSAGE_PROTOCOL_ERROR,	/* continuation with nothing to continue, new
								 * message inside a fragmented one, or a
								 * control frame: close 1002 */
	WS_MESSAGE_INVALID_UTF8,	/* text that is not UTF-8: close 1007 */
	WS_MESSAGE_TOO_BIG			/* message over max_len: close 1009 */
} WsMessageResult;

/*
 * Add one data frame.  On WS_MESSAGE_COMPLETE the message is the frame's own
 * payload (unfragmented) or msg->data; either stays valid until the frame's
 * input is consumed or ws_message_free() is called, which the caller does
 * once the message is handled so that no buffer outlives it.
 */
extern WsMessageResult ws_message_add(WsMessage *msg, const WsFrame *frame, size_t max_len,
									  uint8_t *opcode, const unsigned char **payload,
									  size_t *len);
extern void ws_message_free(WsMessage *msg);

#endif
