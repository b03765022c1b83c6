/*
 * sha1.h - SHA-1 (FIPS 180-4) and base64, only for the WebSocket handshake
 * (RFC 6455 4.2.2).  Written here to avoid a libcrypto dependency for 28
 * bytes per connection.
 */
#ifndef RELAY_SHA1_H
#define RELAY_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

extern void sha1(const void *data, size_t len, uint8_t digest[SHA1_DIGEST_LEN]);

/* Incremental form, for hashing pieces without concatenating them first. */
typedef struct Sha1Ctx
{
	uint32_t	h[5];
	uint64_t	total;			/* bytes hashed so far */
	uint8_t		block[64];
	size_t		blen;			/* bytes waiting in block */
} Sha1Ctx;

extern void sha1_init(Sha1Ctx *ctx);
extern void sha1_update(Sha1Ctx *ctx, const void *data, size_t len);
extern void sha1_final(Sha1Ctx *ctx, uint8_t digest[SHA1_DIGEST_LEN]);

/* Standard base64 with padding; out needs 4*ceil(len/3)+1 bytes. Returns length. */
extern size_t base64_encode(const uint8_t *in, size_t len, char *out);

#endif
