/*
 * deflate.c - compression shared by all subscribers (see deflate.h)
 *
 * DEFLATE (RFC 1951) facts this relies on: a stored block is 3 header bits
 * (BFINAL, BTYPE=00), padding to a byte boundary, LEN and NLEN (16 bits
 * little-endian each) and LEN raw bytes; zlib's Z_SYNC_FLUSH ends its
 * output with an empty stored block, so the output is byte-aligned and
 * ends with 00 00 ff ff after the block's header bits.  Every byte the
 * relay writes itself is a stored block, so nothing but zlib ever encodes
 * Huffman codes here.
 */
#include "deflate.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define DEFLATE_STORED_MAX 65535
#define DEFLATE_LEVEL 6
#define DEFLATE_MEM_LEVEL 8

static const unsigned char deflate_sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* ------------------------------------------------------------ negotiation */

/* p[0..len) equals lit, ignoring case (header names, tokens, codings). */
static bool
deflate_token_eq(const char *p, size_t len, const char *lit)
{
	return len == strlen(lit) && strncasecmp(p, lit, len) == 0;
}

/* Narrow [*s, *e) to exclude spaces and tabs at either end. */
static void
deflate_trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* A window-bits value: 8..15, bare or quoted (RFC 7692 7.1.2). */
static bool
deflate_window_bits(const char *s, const char *e, int *bits)
{
	if (e - s >= 2 && *s == '"' && e[-1] == '"')
	{
		s++;
		e--;
	}
	if (e - s == 1 && *s >= '8' && *s <= '9')
		*bits = *s - '0';
	else if (e - s == 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '5')
		*bits = 10 + s[1] - '0';
	else
		return false;
	return true;
}

/* One offer: "permessage-deflate; param; param=value ..." in [s, e). */
static bool
deflate_offer_ok(const char *s, const char *e)
{
	const char *p = s;
	bool		seen[4] = {false, false, false, false};

	while (p < e && *p != ';')
		p++;
	{
		const char *ns = s;
		const char *ne = p;

		deflate_trim(&ns, &ne);
		if (!deflate_token_eq(ns, ne - ns, "permessage-deflate"))
			return false;
	}
	while (p < e)
	{
		const char *ps = ++p;	/* past ';' */
		const char *pe;
		const char *eq;
		const char *ks,
				   *ke,
				   *vs = NULL,
				   *ve = NULL;
		int			which;
		int			bits;

		while (p < e && *p != ';')
			p++;
		pe = p;
		eq = memchr(ps, '=', pe - ps);
		ks = ps;
		ke = eq ? eq : pe;
		deflate_trim(&ks, &ke);
		if (eq)
		{
			vs = eq + 1;
			ve = pe;
			deflate_trim(&vs, &ve);
		}
		if (deflate_token_eq(ks, ke - ks, "server_no_context_takeover"))
			which = 0;
		else if (deflate_token_eq(ks, ke - ks, "client_no_context_takeover"))
			which = 1;
		else if (deflate_token_eq(ks, ke - ks, "server_max_window_bits"))
			which = 2;
		else if (deflate_token_eq(ks, ke - ks, "client_max_window_bits"))
			which = 3;
		else
			return false;		/* unknown parameter: decline (7.1) */
		if (seen[which])
			return false;		/* repeated parameter: decline */
		seen[which] = true;
		if (which < 2 && eq)
			return false;		/* these take no value */
		if (which == 2 && (!eq || !deflate_window_bits(vs, ve, &bits) || bits < 15))
			return false;		/* the shared compressor's window is 15 */
		if (which == 3 && eq && !deflate_window_bits(vs, ve, &bits))
			return false;
	}
	return true;
}

/*
 * True if ok() holds for one element of a comma-separated list in any
 * header called name (commas inside quoted strings do not separate).
 */
static bool
deflate_any_element(const HttpRequest *req, const char *name, bool (*ok) (const char *s, const char *e))
{
	for (int i = 0; i < req->nheaders; i++)
	{
		const char *v = req->headers[i].value.p;
		const char *end = v + req->headers[i].value.len;

		if (!deflate_token_eq(req->headers[i].name.p, req->headers[i].name.len, name))
			continue;
		while (v < end)
		{
			const char *s = v;
			bool		quoted = false;

			while (v < end && (quoted || *v != ','))
			{
				if (*v == '"')
					quoted = !quoted;
				v++;
			}
			if (ok(s, v))
				return true;
			v++;
		}
	}
	return false;
}

bool
deflate_ws_offered(const HttpRequest *req)
{
	return deflate_any_element(req, "Sec-WebSocket-Extensions", deflate_offer_ok);
}

/* --------------------------------------------------------- shared bodies */

/*
 * One compressor per thread, reset for each event: its 256 KB of state is
 * allocated once rather than per event, and no connection holds one.
 */
static _Thread_local z_stream deflate_stream;
static _Thread_local bool deflate_stream_ready;

bool
deflate_event_prepare(RelayEvent *ev)
{
	z_stream   *zs = &deflate_stream;
	size_t		cap;
	unsigned char *out;
	int			rc;

	if (ev->deflated)
		return true;
	if (!deflate_stream_ready)
	{
		memset(zs, 0, sizeof(*zs));
		if (deflateInit2(zs, DEFLATE_LEVEL, Z_DEFLATED, -15, DEFLATE_MEM_LEVEL,
						 Z_DEFAULT_STRATEGY) != Z_OK)
		{
			relay_log(RLOG_WARNING, "could not initialize zlib: %s",
					  zs->msg ? zs->msg : "out of memory");
			return false;
		}
		deflate_stream_ready = true;
	}
	else
		deflateReset(zs);

	/* deflateBound is for Z_FINISH; a sync flush adds at most an empty block */
	cap = deflateBound(zs, (uLong) ev->body_len) + 16;
	out = relay_malloc(cap);
	zs->next_in = (unsigned char *) ev->body;
	zs->avail_in = (uInt) ev->body_len;
	zs->next_out = out;
	zs->avail_out = (uInt) cap;
	rc = deflate(zs, Z_SYNC_FLUSH);
	if (rc != Z_OK || zs->avail_in != 0 || zs->avail_out == 0 ||
		cap - zs->avail_out < 4 ||
		memcmp(out + cap - zs->avail_out - 4, deflate_sync_tail, 4) != 0)
	{
		relay_log(RLOG_WARNING, "zlib could not compress an event (%d); it goes out uncompressed", rc);
		free(out);
		return false;
	}
	ev->deflated = out;
	ev->deflated_len = cap - zs->avail_out - 4;
	ev->body_crc = (uint32_t) crc32(0L, (const unsigned char *) ev->body, (uInt) ev->body_len);
	return true;
}

void
deflate_append_stored_rest(Buf *out, const void *p, size_t len)
{
	const unsigned char *src = p;

	for (;;)
	{
		size_t		n = len > DEFLATE_STORED_MAX ? DEFLATE_STORED_MAX : len;
		unsigned char hdr[4];

		hdr[0] = (unsigned char) (n & 0xff);
		hdr[1] = (unsigned char) (n >> 8);
		hdr[2] = (unsigned char) (~n & 0xff);
		hdr[3] = (unsigned char) ((~n >> 8) & 0xff);
		buf_append(out, hdr, 4);
		buf_append(out, src, n);
		src += n;
		len -= n;
		if (len == 0)
			break;
		buf_append(out, "\0", 1);	/* header bits of the next stored block */
	}
}

void
deflate_ws_tail(Buf *b)
{
	Buf			t = BUF_INIT;
	size_t		n = b->len;

	if (n <= DEFLATE_STORED_MAX)
	{
		/* the usual case, in place: LEN NLEN before the bytes */
		buf_reserve(b, 5);
		memmove(b->data + 4, b->data, n);
		b->data[0] = (char) (n & 0xff);
		b->data[1] = (char) (n >> 8);
		b->data[2] = (char) (~n & 0xff);
		b->data[3] = (char) ((~n >> 8) & 0xff);
		b->len = n + 4;
	}
	else
	{
		deflate_append_stored_rest(&t, b->data, b->len);
		buf_reset(b);
		buf_append(b, t.data, t.len);
		buf_free(&t);
	}
	/* one more empty stored block's header; the receiver adds 00 00 ff ff */
	buf_append(b, "\0", 1);
}

/* --------------------------------------------------------------- inflate */

/* inflate() until input is used up or the limit is passed. */
static int
deflate_inflate_some(z_stream *zs, const unsigned char *in, size_t len, size_t max_len, Buf *out)
{
	zs->next_in = (unsigned char *) in;
	zs->avail_in = (uInt) len;
	for (;;)
	{
		size_t		room;
		int			rc;

		/* room for one byte past the limit, to notice going over it */
		buf_reserve(out, out->len < 16384 ? 4096 : out->len);
		room = out->cap - out->len - 1;
		if (room > max_len + 1 - out->len)
			room = max_len + 1 - out->len;
		zs->next_out = (unsigned char *) out->data + out->len;
		zs->avail_out = (uInt) room;
		rc = inflate(zs, Z_SYNC_FLUSH);
		out->len += room - zs->avail_out;
		if (out->len > max_len)
			return Z_MEM_ERROR;
		if (rc == Z_STREAM_END || rc == Z_NEED_DICT || rc == Z_DATA_ERROR ||
			rc == Z_STREAM_ERROR || rc == Z_MEM_ERROR)
			return rc;
		if (zs->avail_in == 0 && zs->avail_out > 0)
			return Z_OK;		/* all input used, all output given */
		if (rc == Z_BUF_ERROR && zs->avail_out > 0)
			return Z_OK;		/* no progress possible: input used up */
	}
}

DeflateInflateResult
deflate_inflate_message(const unsigned char *in, size_t len, size_t max_len, Buf *out)
{
	z_stream	zs;
	int			rc;
	DeflateInflateResult result = DEFLATE_INFLATE_OK;

	buf_reset(out);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		return DEFLATE_INFLATE_INVALID;
	if (len > (size_t) UINT32_MAX)
		rc = Z_DATA_ERROR;
	else
		rc = deflate_inflate_some(&zs, in, len, max_len, out);
	/* RFC 7692 7.2.2: the sender removed the sync flush's 00 00 ff ff */
	if (rc == Z_OK)
		rc = deflate_inflate_some(&zs, deflate_sync_tail, 4, max_len, out);
	if (rc == Z_MEM_ERROR && out->len > max_len)
		result = DEFLATE_INFLATE_TOO_BIG;
	else if (rc == Z_OK && !(zs.data_type & 128))
		result = DEFLATE_INFLATE_INVALID;	/* ends inside a block: truncated */
	else if (rc != Z_OK && rc != Z_STREAM_END)
		result = DEFLATE_INFLATE_INVALID;
	inflateEnd(&zs);
	if (out->data)
		out->data[out->len] = '\0';
	return result;
}

/* ------------------------------------------------------------------ gzip */

/* A q value of 0 ("q=0", "q=0.0", "q=0.000") refuses the coding. */
static bool
deflate_q_zero(const char *s, const char *e)
{
	const char *p = s;

	while (p < e && *p != ';')
		p++;
	while (p < e)
	{
		const char *ks = ++p;
		const char *eq;

		while (p < e && *p != ';')
			p++;
		eq = memchr(ks, '=', p - ks);
		if (eq)
		{
			const char *k0 = ks,
					   *k1 = eq,
					   *v0 = eq + 1,
					   *v1 = p;

			deflate_trim(&k0, &k1);
			deflate_trim(&v0, &v1);
			if (deflate_token_eq(k0, k1 - k0, "q"))
			{
				if (v0 == v1 || *v0 != '0')
					return false;
				for (v0++; v0 < v1; v0++)
					if (*v0 != '.' && *v0 != '0')
						return false;
				return true;
			}
		}
	}
	return false;
}

/* One Accept-Encoding element: gzip or x-gzip, with q > 0. */
static bool
deflate_coding_gzip(const char *s, const char *e)
{
	const char *cs = s;
	const char *ce = memchr(s, ';', e - s);

	if (ce == NULL)
		ce = e;
	deflate_trim(&cs, &ce);
	return (deflate_token_eq(cs, ce - cs, "gzip") || deflate_token_eq(cs, ce - cs, "x-gzip")) &&
		!deflate_q_zero(s, e);
}

bool
deflate_gzip_accepted(const HttpRequest *req)
{
	return deflate_any_element(req, "Accept-Encoding", deflate_coding_gzip);
}

void
deflate_gzip_header(DeflateGzip *gz, Buf *out)
{
	/* magic, CM=8, no flags, no mtime, XFL=0, OS=255 (unknown) */
	static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};

	gz->crc = (uint32_t) crc32(0L, Z_NULL, 0);
	gz->size = 0;
	buf_append(out, head, sizeof(head));
}

/* Add p[0..len) to the stream's CRC-32 and length. */
static void
deflate_gzip_account(DeflateGzip *gz, const void *p, size_t len)
{
	gz->crc = (uint32_t) crc32(gz->crc, p, (uInt) len);
	gz->size += (uint32_t) len;
}

void
deflate_gzip_wrap(DeflateGzip *gz, const RelayEvent *ev,
				  const void *pre, size_t pre_len, const void *post, size_t post_len,
				  Buf *wpre, Buf *wpost)
{
	if (ev == NULL)
	{
		/* own bytes only: stored blocks, ending at a block boundary */
		Buf			all = BUF_INIT;

		buf_append(&all, pre, pre_len);
		buf_append(&all, post, post_len);
		buf_append(wpre, "\0", 1);
		deflate_append_stored_rest(wpre, all.data, all.len);
		deflate_gzip_account(gz, all.data, all.len);
		buf_free(&all);
		return;
	}
	if (pre_len > 0)
	{
		buf_append(wpre, "\0", 1);
		deflate_append_stored_rest(wpre, pre, pre_len);
		deflate_gzip_account(gz, pre, pre_len);
	}
	/* the shared bytes end in a stored block's header: post finishes it */
	gz->crc = (uint32_t) crc32_combine(gz->crc, ev->body_crc, (z_off_t) ev->body_len);
	gz->size += (uint32_t) ev->body_len;
	deflate_append_stored_rest(wpost, post, post_len);
	deflate_gzip_account(gz, post, post_len);
}

void
deflate_gzip_trailer(const DeflateGzip *gz, Buf *out)
{
	/* a final empty stored block, then CRC-32 and ISIZE, little-endian */
	unsigned char t[13] = {0x01, 0x00, 0x00, 0xff, 0xff};

	for (int i = 0; i < 4; i++)
	{
		t[5 + i] = (unsigned char) (gz->crc >> (8 * i));
		t[9 + i] = (unsigned char) (gz->size >> (8 * i));
	}
	buf_append(out, t, sizeof(t));
}
