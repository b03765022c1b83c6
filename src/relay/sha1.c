/*
 * sha1.c - SHA-1 (FIPS 180-4 section 6.1) and base64 (RFC 4648 section 4)
 *
 * Only the WebSocket handshake uses these; SHA-1's weakness does not matter
 * there (RFC 6455 uses it as a checksum, not for security).
 */
#include "sha1.h"

#include <string.h>

#define ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

/* Hash one 64-byte block into ctx->h (FIPS 180-4 6.1.2). */
static void
sha1_block(Sha1Ctx *ctx, const uint8_t *p)
{
	uint32_t	w[80];
	uint32_t	a,
				b,
				c,
				d,
				e,
				f,
				k,
				t;
	int			i;

	for (i = 0; i < 16; i++)
		w[i] = ((uint32_t) p[4 * i] << 24) | ((uint32_t) p[4 * i + 1] << 16) |
			((uint32_t) p[4 * i + 2] << 8) | (uint32_t) p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = ROL32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

	a = ctx->h[0];
	b = ctx->h[1];
	c = ctx->h[2];
	d = ctx->h[3];
	e = ctx->h[4];
	for (i = 0; i < 80; i++)
	{
		/* the four functions and constants of FIPS 180-4 4.1.1 and 4.2.1 */
		if (i < 20)
		{
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		}
		else if (i < 40)
		{
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		}
		else if (i < 60)
		{
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		}
		else
		{
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		t = ROL32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = ROL32(b, 30);
		b = a;
		a = t;
	}
	ctx->h[0] += a;
	ctx->h[1] += b;
	ctx->h[2] += c;
	ctx->h[3] += d;
	ctx->h[4] += e;
}

/* Start a hash with the initial value of FIPS 180-4 5.3.1. */
void
sha1_init(Sha1Ctx *ctx)
{
	ctx->h[0] = 0x67452301;
	ctx->h[1] = 0xEFCDAB89;
	ctx->h[2] = 0x98BADCFE;
	ctx->h[3] = 0x10325476;
	ctx->h[4] = 0xC3D2E1F0;
	ctx->total = 0;
	ctx->blen = 0;
}

/* Add len bytes to the hash. */
void
sha1_update(Sha1Ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	ctx->total += len;
	while (len > 0)
	{
		size_t		n = 64 - ctx->blen;

		if (n > len)
			n = len;
		memcpy(ctx->block + ctx->blen, p, n);
		ctx->blen += n;
		p += n;
		len -= n;
		if (ctx->blen == 64)
		{
			sha1_block(ctx, ctx->block);
			ctx->blen = 0;
		}
	}
}

/* Pad (FIPS 180-4 5.1.1) and write the 20-byte digest. */
void
sha1_final(Sha1Ctx *ctx, uint8_t digest[SHA1_DIGEST_LEN])
{
	uint64_t	bits = ctx->total * 8;
	int			i;

	ctx->block[ctx->blen++] = 0x80;
	if (ctx->blen > 56)
	{
		memset(ctx->block + ctx->blen, 0, 64 - ctx->blen);
		sha1_block(ctx, ctx->block);
		ctx->blen = 0;
	}
	memset(ctx->block + ctx->blen, 0, 56 - ctx->blen);
	for (i = 0; i < 8; i++)
		ctx->block[56 + i] = (uint8_t) (bits >> (56 - 8 * i));
	sha1_block(ctx, ctx->block);

	for (i = 0; i < 5; i++)
	{
		digest[4 * i] = (uint8_t) (ctx->h[i] >> 24);
		digest[4 * i + 1] = (uint8_t) (ctx->h[i] >> 16);
		digest[4 * i + 2] = (uint8_t) (ctx->h[i] >> 8);
		digest[4 * i + 3] = (uint8_t) ctx->h[i];
	}
}

/* SHA-1 of one buffer. */
void
sha1(const void *data, size_t len, uint8_t digest[SHA1_DIGEST_LEN])
{
	Sha1Ctx		ctx;

	sha1_init(&ctx);
	sha1_update(&ctx, data, len);
	sha1_final(&ctx, digest);
}

/* Base64 with the standard alphabet and '=' padding; out is NUL-terminated. */
size_t
base64_encode(const uint8_t *in, size_t len, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t		o = 0;
	size_t		i;

	for (i = 0; i + 3 <= len; i += 3)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}
