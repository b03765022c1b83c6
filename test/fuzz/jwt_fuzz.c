/*
 * jwt_fuzz.c - libFuzzer target for JSON Web Token parsing and verification
 * and for key files (build and run with test/fuzz/run.sh)
 *
 * The input's first byte picks what the rest is: a token verified against
 * an HMAC secret, an RSA and a P-256 key made at start-up, or the text of a
 * key file (PEM or JWKS).  Besides sanitizer reports it checks that a token
 * only verifies when it really is one: it must be three base64url parts
 * (jwt_is_jwt), its claims an object, and a verified token must not verify
 * again with one byte of its signature changed.  Also checks the base64url
 * decoder against a plain re-encoding.
 */
#include "jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

extern int	LLVMFuzzerInitialize(int *argc, char ***argv);
extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the seeds (run.sh) sign with this secret */
#define FUZZ_SECRET "fuzzing-secret-fuzzing-secret-32b"

static JwtKeySet *keys;

/* A fresh key of a type, added to the set as PEM text. */
static void
add_generated_key(const char *type, const char *param, const char *value)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY   *pkey = NULL;
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *pem;
	long		len;
	Buf			err = BUF_INIT;

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1)
		abort();
	if (strcmp(type, "EC") == 0)
		EVP_PKEY_CTX_set_group_name(ctx, value);
	else
		EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048);
	(void) param;
	if (EVP_PKEY_keygen(ctx, &pkey) != 1 || !PEM_write_bio_PUBKEY(bio, pkey))
		abort();
	len = BIO_get_mem_data(bio, &pem);
	if (!jwt_keyset_add_public(keys, pem, (size_t) len, &err))
		abort();
	buf_free(&err);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	Buf			err = BUF_INIT;

	keys = jwt_keyset_new();
	if (!jwt_keyset_set_secret(keys, FUZZ_SECRET, strlen(FUZZ_SECRET), &err))
		abort();
	add_generated_key("RSA", "bits", "2048");
	add_generated_key("EC", "group", "P-256");
	buf_free(&err);
	return 0;
}

static void
check_base64url(const uint8_t *data, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char *out = malloc(size + 1);
	size_t		n;

	if (jwt_base64url_decode((const char *) data, size, out, &n))
	{
		/* canonical: encoding the bytes again gives the same text */
		char	   *again = malloc(size + 4);
		size_t		k = 0;

		for (size_t i = 0; i < n; i += 3)
		{
			uint32_t	v = (uint32_t) out[i] << 16 | (i + 1 < n ? out[i + 1] << 8 : 0) |
				(i + 2 < n ? out[i + 2] : 0);

			again[k++] = alphabet[(v >> 18) & 63];
			again[k++] = alphabet[(v >> 12) & 63];
			if (i + 1 < n)
				again[k++] = alphabet[(v >> 6) & 63];
			if (i + 2 < n)
				again[k++] = alphabet[v & 63];
		}
		if (k != size || memcmp(again, data, size) != 0)
			abort();
		free(again);
	}
	free(out);
}

static void
check_token(const char *token, size_t len)
{
	JwtCheck	check = {1800000000, 30, NULL, NULL};
	struct json_object *claims = NULL;
	Buf			err = BUF_INIT;
	JwtStatus	st = jwt_verify(keys, token, len, &check, &claims, &err);

	if (st == JWT_OK)
	{
		char	   *flipped;

		if (claims == NULL || !json_object_is_type(claims, json_type_object) ||
			!jwt_is_jwt(token, len) || err.len != 0)
			abort();
		json_object_put(claims);
		/* the last signature character changed: no longer valid */
		flipped = malloc(len);
		memcpy(flipped, token, len);
		flipped[len - 1] = flipped[len - 1] == 'A' ? 'Q' : 'A';
		claims = NULL;
		if (jwt_verify(keys, flipped, len, &check, &claims, &err) == JWT_OK)
			abort();
		free(flipped);
	}
	else if (claims != NULL || err.len == 0)
		abort();
	buf_free(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	JwtKeySet  *k;
	Buf			err = BUF_INIT;

	if (size < 1)
		return 0;
	switch (data[0] % 3)
	{
		case 0:
			check_token((const char *) data + 1, size - 1);
			break;
		case 1:
			k = jwt_keyset_new();
			if (jwt_keyset_add_public(k, (const char *) data + 1, size - 1, &err) ==
				(jwt_keyset_count(k) == 0))
				abort();		/* success means at least one key */
			jwt_keyset_free(k);
			buf_free(&err);
			break;
		case 2:
			check_base64url(data + 1, size - 1);
			break;
	}
	return 0;
}
