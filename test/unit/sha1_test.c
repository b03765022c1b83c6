/*
 * sha1_test.c - SHA-1 against the FIPS 180-4 examples, base64 against
 * RFC 4648 section 10, and the RFC 6455 handshake example
 */
#include "unit.h"
#include "sha1.h"
#include "ws.h"

#include <stdlib.h>

/* Hex of a digest, for comparison with the published values. */
static const char *
hex(const uint8_t d[SHA1_DIGEST_LEN])
{
	static char out[SHA1_DIGEST_LEN * 2 + 1];
	int			i;

	for (i = 0; i < SHA1_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return out;
}

/* One-shot SHA-1 of a string, as hex. */
static const char *
sha1_hex(const char *s, size_t len)
{
	uint8_t		d[SHA1_DIGEST_LEN];

	sha1(s, len, d);
	return hex(d);
}

/* The same data fed one byte at a time must give the same digest. */
static const char *
sha1_hex_bytewise(const char *s, size_t len)
{
	Sha1Ctx		ctx;
	uint8_t		d[SHA1_DIGEST_LEN];
	size_t		i;

	sha1_init(&ctx);
	for (i = 0; i < len; i++)
		sha1_update(&ctx, s + i, 1);
	sha1_final(&ctx, d);
	return hex(d);
}

static const char *
b64(const char *s)
{
	static char out[64];

	base64_encode((const uint8_t *) s, strlen(s), out);
	return out;
}

int
main(void)
{
	static const char two_block[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char four_block[] =
		"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	/* lengths around the 55/56/64-byte padding boundaries, all 'a' */
	static const struct
	{
		size_t		n;
		const char *want;
	}			as[] = {
		{55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
		{56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
		{63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
		{64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
		{65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
		{119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
		{120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
	};
	char	   *million;
	char		accept[WS_ACCEPT_LEN + 1];
	size_t		i;

	/* FIPS 180-4 examples (NIST "SHA1.pdf") */
	CHECK_STR(sha1_hex("abc", 3), "a9993e364706816aba3e25717850c26c9cd0d89d");
	CHECK_STR(sha1_hex("", 0), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	CHECK_STR(sha1_hex(two_block, strlen(two_block)),
			  "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	CHECK_STR(sha1_hex(four_block, strlen(four_block)),
			  "a49b2446a02c645bf419f995b67091253a04a259");
	million = malloc(1000000);
	memset(million, 'a', 1000000);
	CHECK_STR(sha1_hex(million, 1000000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");

	/* padding boundaries, one-shot and byte by byte */
	for (i = 0; i < sizeof(as) / sizeof(as[0]); i++)
	{
		CHECK_STR(sha1_hex(million, as[i].n), as[i].want);
		CHECK_STR(sha1_hex_bytewise(million, as[i].n), as[i].want);
	}
	CHECK_STR(sha1_hex_bytewise(two_block, strlen(two_block)),
			  "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	free(million);

	/* RFC 4648 section 10 */
	CHECK_STR(b64(""), "");
	CHECK_STR(b64("f"), "Zg==");
	CHECK_STR(b64("fo"), "Zm8=");
	CHECK_STR(b64("foo"), "Zm9v");
	CHECK_STR(b64("foob"), "Zm9vYg==");
	CHECK_STR(b64("fooba"), "Zm9vYmE=");
	CHECK_STR(b64("foobar"), "Zm9vYmFy");
	CHECK(base64_encode((const uint8_t *) "foobar", 6, accept) == 8);
	/* every alphabet position, including '+' and '/' */
	{
		const uint8_t all[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b,
			0x30, 0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96, 0x9b,
			0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab,
		0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb,
		0xf3, 0xdf, 0xbf};
		char		out[80];

		base64_encode(all, sizeof(all), out);
		CHECK_STR(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	}

	/* RFC 6455 1.3 / 4.2.2 handshake example (note "9kYG", as in the RFC) */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK(strlen(accept) == WS_ACCEPT_LEN);

	return unit_summary("sha1");
}
