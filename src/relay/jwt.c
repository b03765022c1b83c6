/*
 * jwt.c - verify JSON Web Tokens with OpenSSL's libcrypto
 *
 * See jwt.h.  Parsing is strict everywhere an attacker controls the bytes:
 * canonical base64url only, header and claims through jsontext (RFC 8259,
 * UTF-8) with duplicate members refused, so that no two JWT libraries could
 * read the same token differently.  All cryptography is libcrypto's: HMAC
 * through EVP_Q_mac, RSA and ECDSA through EVP_DigestVerify, JWKS keys
 * built with EVP_PKEY_fromdata.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* memmem */
#endif

#include "jwt.h"
#include "jsontext.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include <json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

typedef enum JwtKeyKind
{
	JWT_KIND_HMAC,
	JWT_KIND_RSA,
	JWT_KIND_EC256				/* ECDSA on P-256 */
} JwtKeyKind;

/* The algorithms accepted: each needs a key of one kind. */
typedef struct JwtAlgorithm
{
	const char *name;
	JwtKeyKind	kind;
	const char *digest;			/* OpenSSL name */
} JwtAlgorithm;

static const JwtAlgorithm jwt_algorithms[] = {
	{"HS256", JWT_KIND_HMAC, "SHA256"},
	{"HS384", JWT_KIND_HMAC, "SHA384"},
	{"HS512", JWT_KIND_HMAC, "SHA512"},
	{"RS256", JWT_KIND_RSA, "SHA256"},
	{"ES256", JWT_KIND_EC256, "SHA256"},
};

#define JWT_ALGORITHM_LIST "HS256, HS384, HS512, RS256, ES256"

typedef struct JwtPublicKey
{
	EVP_PKEY   *pkey;
	JwtKeyKind	kind;
	char	   *kid;			/* NULL: none */
	const JwtAlgorithm *alg;	/* the JWKS "alg", or NULL for any of its kind */
} JwtPublicKey;

struct JwtKeySet
{
	unsigned char *secret;		/* HMAC secret, or NULL */
	size_t		secret_len;
	int			nkeys;
	JwtPublicKey keys[JWT_MAX_KEYS];
};

JwtKeySet *
jwt_keyset_new(void)
{
	return relay_calloc(1, sizeof(JwtKeySet));
}

void
jwt_keyset_free(JwtKeySet *keys)
{
	if (keys == NULL)
		return;
	if (keys->secret)
	{
		OPENSSL_cleanse(keys->secret, keys->secret_len);
		free(keys->secret);
	}
	for (int i = 0; i < keys->nkeys; i++)
	{
		EVP_PKEY_free(keys->keys[i].pkey);
		free(keys->keys[i].kid);
	}
	free(keys);
}

int
jwt_keyset_count(const JwtKeySet *keys)
{
	return keys->nkeys + (keys->secret ? 1 : 0);
}

bool
jwt_keyset_set_secret(JwtKeySet *keys, const void *secret, size_t len, Buf *err)
{
	if (keys->secret)
	{
		buf_append_str(err, "only one HMAC secret can be set");
		return false;
	}
	if (len < JWT_MIN_SECRET)
	{
		buf_printf(err, "the HMAC secret has %zu bytes; at least %d are required", len,
				   JWT_MIN_SECRET);
		return false;
	}
	keys->secret = relay_malloc(len);
	memcpy(keys->secret, secret, len);
	keys->secret_len = len;
	return true;
}

/* ------------------------------------------------------------ base64url */

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

bool
jwt_base64url_decode(const char *src, size_t len, unsigned char *out, size_t *outlen)
{
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		int			v = b64url_value((unsigned char) src[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* the bits left over must be zero, or two texts would mean one value */
	if (acc != 0)
		return false;
	*outlen = n;
	return true;
}

/* Decode one part into a new buffer (NUL-terminated); NULL if not base64url. */
static unsigned char *
decode_part(const char *src, size_t len, size_t *outlen)
{
	unsigned char *out = relay_malloc(len * 3 / 4 + 2);

	if (!jwt_base64url_decode(src, len, out, outlen))
	{
		free(out);
		return NULL;
	}
	out[*outlen] = '\0';
	return out;
}

bool
jwt_is_jwt(const char *token, size_t len)
{
	int			dots = 0;
	size_t		part = 0;

	if (len == 0 || len > JWT_MAX_TOKEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (token[i] == '.')
		{
			if (part == 0 || ++dots > 2)
				return false;
			part = 0;
		}
		else if (b64url_value((unsigned char) token[i]) < 0)
			return false;
		else
			part++;
	}
	return dots == 2 && part > 0;
}

/* --------------------------------------------------------------- JSON */

/*
 * Parse a decoded header or claims part: one strict JSON object whose
 * members all have different names (json-c would keep the last of two
 * "alg" members where another library keeps the first).
 */
static struct json_object *
parse_object(const unsigned char *text, size_t len)
{
	struct json_object *obj = jsontext_parse((const char *) text, len);

	if (obj == NULL)
		return NULL;
	if (!json_object_is_type(obj, json_type_object) ||
		jsontext_member_count((const char *) text, len) != json_object_object_length(obj))
	{
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* The member as a string without NUL bytes; NULL if absent or another type. */
static const char *
get_string(struct json_object *obj, const char *key, bool *present)
{
	struct json_object *v;

	*present = json_object_object_get_ex(obj, key, &v);
	if (!*present || !json_object_is_type(v, json_type_string) ||
		strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
		return NULL;
	return json_object_get_string(v);
}

bool
jwt_numeric_date(struct json_object *v, double *out)
{
	if (json_object_is_type(v, json_type_int))
	{
		*out = (double) json_object_get_int64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_double) && isfinite(json_object_get_double(v)))
	{
		*out = json_object_get_double(v);
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- keys */

static const JwtAlgorithm *
find_algorithm(const char *name)
{
	for (size_t i = 0; i < sizeof(jwt_algorithms) / sizeof(jwt_algorithms[0]); i++)
		if (strcmp(jwt_algorithms[i].name, name) == 0)
			return &jwt_algorithms[i];
	return NULL;
}

/* Append OpenSSL's most recent error to err and clear the queue. */
static void
append_openssl_error(Buf *err)
{
	unsigned long e = ERR_peek_last_error();
	char		text[256];

	if (e != 0)
	{
		ERR_error_string_n(e, text, sizeof(text));
		buf_printf(err, " (%s)", text);
	}
	ERR_clear_error();
}

/*
 * Take pkey into the set if it is a usable verification key: RSA of at
 * least 2048 bits or EC on P-256.  Frees pkey otherwise.
 */
static bool
add_key(JwtKeySet *keys, EVP_PKEY *pkey, const char *kid, const JwtAlgorithm *alg, Buf *err)
{
	JwtPublicKey *k;
	JwtKeyKind	kind;

	if (EVP_PKEY_is_a(pkey, "RSA"))
	{
		if (EVP_PKEY_get_bits(pkey) < 2048)
		{
			buf_printf(err, "an RSA key has %d bits; at least 2048 are required",
					   EVP_PKEY_get_bits(pkey));
			EVP_PKEY_free(pkey);
			return false;
		}
		kind = JWT_KIND_RSA;
	}
	else if (EVP_PKEY_is_a(pkey, "EC"))
	{
		char		group[64] = "";

		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
											sizeof(group), NULL) ||
			strcmp(group, "prime256v1") != 0)
		{
			buf_printf(err, "an EC key is on curve \"%s\"; only P-256 (ES256) is supported", group);
			EVP_PKEY_free(pkey);
			return false;
		}
		kind = JWT_KIND_EC256;
	}
	else
	{
		buf_printf(err, "a key of type \"%s\" is not supported; use RSA or EC P-256 keys",
				   EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?");
		EVP_PKEY_free(pkey);
		return false;
	}
	if (alg && alg->kind != kind)
	{
		buf_printf(err, "a key of the wrong type for its \"alg\" %s", alg->name);
		EVP_PKEY_free(pkey);
		return false;
	}
	if (keys->nkeys >= JWT_MAX_KEYS)
	{
		buf_printf(err, "more than %d public keys", JWT_MAX_KEYS);
		EVP_PKEY_free(pkey);
		return false;
	}
	k = &keys->keys[keys->nkeys++];
	k->pkey = pkey;
	k->kind = kind;
	k->kid = kid ? relay_strdup(kid) : NULL;
	k->alg = alg;
	return true;
}

/* Build a public key from OSSL_PARAMs (JWKS members) with EVP_PKEY_fromdata. */
static EVP_PKEY *
key_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY   *pkey = NULL;
	EVP_PKEY_CTX *check = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	/* a point off the curve, an even RSA exponent: refuse now, not per token */
	if (pkey && ((check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
				 EVP_PKEY_public_check(check) != 1))
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* A base64url member of a JWK as bytes (new buffer); NULL if absent or invalid. */
static unsigned char *
jwk_bytes(struct json_object *jwk, const char *name, size_t *len)
{
	bool		present;
	const char *s = get_string(jwk, name, &present);

	if (s == NULL || s[0] == '\0')
		return NULL;
	return decode_part(s, strlen(s), len);
}

/* One JWKS entry; *skipped when it is not a signature key we support. */
static bool
add_jwk(JwtKeySet *keys, struct json_object *jwk, int index, bool *skipped, Buf *err)
{
	bool		present;
	const char *kty = get_string(jwk, "kty", &present);
	const char *use = get_string(jwk, "use", &present);
	const char *alg_name = get_string(jwk, "alg", &present);
	const char *kid = get_string(jwk, "kid", &present);
	const JwtAlgorithm *alg = NULL;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY   *pkey = NULL;
	unsigned char *a = NULL;
	unsigned char *b = NULL;
	size_t		alen = 0,
				blen = 0;

	*skipped = false;
	if (!json_object_is_type(jwk, json_type_object) || kty == NULL)
	{
		buf_printf(err, "JWKS key %d has no \"kty\"", index);
		return false;
	}
	if (json_object_object_get_ex(jwk, "kid", NULL) && kid == NULL)
	{
		buf_printf(err, "JWKS key %d has a \"kid\" that is not a string", index);
		return false;
	}
	if (json_object_object_get_ex(jwk, "d", NULL))
	{
		buf_printf(err, "JWKS key %d is a private key; give the public key only", index);
		return false;
	}
	if ((use && strcmp(use, "sig") != 0) ||
		(alg_name && ((alg = find_algorithm(alg_name)) == NULL || alg->kind == JWT_KIND_HMAC)) ||
		(strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0))
	{
		*skipped = true;		/* encryption keys, RS512, oct, OKP: not ours */
		return true;
	}
	bld = OSSL_PARAM_BLD_new();
	if (strcmp(kty, "RSA") == 0)
	{
		BIGNUM	   *n = NULL;
		BIGNUM	   *e = NULL;

		a = jwk_bytes(jwk, "n", &alen);
		b = jwk_bytes(jwk, "e", &blen);
		if (a && b && blen <= 8 && (n = BN_bin2bn(a, (int) alen, NULL)) != NULL &&
			(e = BN_bin2bn(b, (int) blen, NULL)) != NULL &&
			OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
			OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			pkey = key_from_params("RSA", bld);
		BN_free(n);
		BN_free(e);
	}
	else
	{
		const char *crv = get_string(jwk, "crv", &present);
		unsigned char point[65];

		if (crv == NULL || strcmp(crv, "P-256") != 0)
		{
			buf_printf(err, "JWKS key %d is on curve \"%s\"; only P-256 (ES256) is supported",
					   index, crv ? crv : "?");
			OSSL_PARAM_BLD_free(bld);
			return false;
		}
		a = jwk_bytes(jwk, "x", &alen);
		b = jwk_bytes(jwk, "y", &blen);
		if (a && b && alen == 32 && blen == 32)
		{
			point[0] = 0x04;	/* uncompressed point: 04 || x || y */
			memcpy(point + 1, a, 32);
			memcpy(point + 33, b, 32);
			if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
				OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
				pkey = key_from_params("EC", bld);
		}
	}
	OSSL_PARAM_BLD_free(bld);
	free(a);
	free(b);
	if (pkey == NULL)
	{
		buf_printf(err, "JWKS key %d (%s) is not a valid public key", index, kty);
		append_openssl_error(err);
		return false;
	}
	if (!add_key(keys, pkey, kid, alg, err))
		return false;
	return true;
}

static bool
add_jwks(JwtKeySet *keys, const char *text, size_t len, Buf *err)
{
	struct json_object *root = jsontext_parse(text, len);
	struct json_object *list;
	bool		ok = true;
	int			added = 0;

	if (root == NULL || !json_object_is_type(root, json_type_object) ||
		!json_object_object_get_ex(root, "keys", &list) ||
		!json_object_is_type(list, json_type_array))
	{
		buf_append_str(err, "not a JWKS document: {\"keys\":[...]} expected");
		ok = false;
	}
	for (size_t i = 0; ok && i < json_object_array_length(list); i++)
	{
		bool		skipped;

		ok = add_jwk(keys, json_object_array_get_idx(list, i), (int) i, &skipped, err);
		if (ok && !skipped)
			added++;
	}
	if (ok && added == 0)
	{
		buf_append_str(err, "the JWKS document has no RS256 or ES256 signature key");
		ok = false;
	}
	if (root)
		json_object_put(root);
	return ok;
}

/* One or more PEM "PUBLIC KEY" blocks; anything else in a block is an error. */
static bool
add_pem(JwtKeySet *keys, const char *text, size_t len, Buf *err)
{
	BIO		   *bio = BIO_new_mem_buf(text, (int) len);
	int			blocks = 0;
	bool		ok = bio != NULL;

	/* as many keys as blocks: PEM_read_bio_PUBKEY skips other kinds */
	for (const char *p = text; (p = memmem(p, len - (size_t) (p - text), "-----BEGIN ", 11)) != NULL; p += 11)
		blocks++;
	if (blocks == 0)
	{
		buf_append_str(err, "neither a JWKS document nor a PEM \"PUBLIC KEY\" block");
		ok = false;
	}
	ERR_clear_error();
	for (int i = 0; ok && i < blocks; i++)
	{
		EVP_PKEY   *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

		if (pkey == NULL)
		{
			buf_printf(err, "PEM block %d is not a \"PUBLIC KEY\"", i + 1);
			append_openssl_error(err);
			ok = false;
			break;
		}
		ok = add_key(keys, pkey, NULL, NULL, err);
	}
	BIO_free(bio);
	return ok;
}

bool
jwt_keyset_add_public(JwtKeySet *keys, const char *text, size_t len, Buf *err)
{
	size_t		i = 0;

	if (len > (size_t) 0x7fffffff)
	{
		buf_append_str(err, "the key file is too large");
		return false;
	}
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	if (i < len && text[i] == '{')
		return add_jwks(keys, text, len, err);
	return add_pem(keys, text, len, err);
}

/* ---------------------------------------------------------- verification */

static bool
verify_hmac(const JwtKeySet *keys, const JwtAlgorithm *alg, const char *input, size_t input_len,
			const unsigned char *sig, size_t sig_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		mac_len = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, alg->digest, NULL, keys->secret, keys->secret_len,
				  (const unsigned char *) input, input_len, mac, sizeof(mac), &mac_len) == NULL)
	{
		ERR_clear_error();
		return false;
	}
	return sig_len == mac_len && CRYPTO_memcmp(sig, mac, mac_len) == 0;
}

/* ES256 signatures are r || s (32 bytes each); EVP wants DER. */
static unsigned char *
es256_to_der(const unsigned char *sig, size_t sig_len, int *der_len)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r;
	BIGNUM	   *s;
	unsigned char *der = NULL;

	if (sig_len != 64)
		return NULL;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
	{
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	*der_len = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	return *der_len > 0 ? der : NULL;
}

static bool
verify_public(const JwtPublicKey *key, const JwtAlgorithm *alg, const char *input,
			  size_t input_len, const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int			der_len = 0;
	bool		ok = false;

	if (key->kind == JWT_KIND_EC256)
	{
		der = es256_to_der(sig, sig_len, &der_len);
		if (der == NULL)
			goto done;
		sig = der;
		sig_len = (size_t) der_len;
	}
	if (ctx && EVP_DigestVerifyInit_ex(ctx, NULL, alg->digest, NULL, NULL, key->pkey, NULL) == 1)
		ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *) input, input_len) == 1;
done:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * Check the signature with the keys the algorithm allows: the HMAC secret
 * for HS*, else every public key of the algorithm's kind whose kid is the
 * token's (or, when the token names none or no key has that kid, every key
 * without a kid).
 */
static JwtStatus
verify_signature(const JwtKeySet *keys, const JwtAlgorithm *alg, const char *kid,
				 const char *input, size_t input_len, const unsigned char *sig, size_t sig_len,
				 Buf *err)
{
	bool		kid_known = false;
	bool		tried = false;

	if (alg->kind == JWT_KIND_HMAC)
	{
		if (keys->secret == NULL)
		{
			buf_printf(err, "%s tokens need an HMAC secret, and none is configured", alg->name);
			return JWT_NO_KEY;
		}
		if (verify_hmac(keys, alg, input, input_len, sig, sig_len))
			return JWT_OK;
		buf_append_str(err, "the signature does not match");
		return JWT_BAD_SIGNATURE;
	}
	for (int i = 0; kid && i < keys->nkeys; i++)
		kid_known |= keys->keys[i].kid && strcmp(keys->keys[i].kid, kid) == 0;
	for (int i = 0; i < keys->nkeys; i++)
	{
		const JwtPublicKey *k = &keys->keys[i];

		if (k->kind != alg->kind || (k->alg && k->alg != alg))
			continue;
		if (kid_known ? (k->kid == NULL || strcmp(k->kid, kid) != 0) : k->kid != NULL && kid != NULL)
			continue;
		tried = true;
		if (verify_public(k, alg, input, input_len, sig, sig_len))
			return JWT_OK;
	}
	if (!tried)
	{
		if (kid)
			buf_printf(err, "no %s key with kid \"%.64s\" is configured", alg->name, kid);
		else
			buf_printf(err, "%s tokens need a public key of that type, and none is configured",
					   alg->name);
		return JWT_NO_KEY;
	}
	buf_append_str(err, "the signature does not match");
	return JWT_BAD_SIGNATURE;
}

/* exp (required), nbf, iat, iss and aud. */
static JwtStatus
check_claims(struct json_object *claims, const JwtCheck *check, Buf *err)
{
	struct json_object *v;
	double		t;
	double		now = (double) check->now_s;
	bool		present;

	if (!json_object_object_get_ex(claims, "exp", &v) || !jwt_numeric_date(v, &t))
	{
		buf_append_str(err, "the token has no numeric \"exp\" claim");
		return JWT_BAD_CLAIMS;
	}
	if (now >= t + check->leeway_s)
	{
		buf_append_str(err, "the token expired");
		return JWT_EXPIRED;
	}
	if (json_object_object_get_ex(claims, "nbf", &v))
	{
		if (!jwt_numeric_date(v, &t))
		{
			buf_append_str(err, "the \"nbf\" claim is not a number");
			return JWT_BAD_CLAIMS;
		}
		if (now + check->leeway_s < t)
		{
			buf_append_str(err, "the token is not valid yet (nbf)");
			return JWT_NOT_YET_VALID;
		}
	}
	if (json_object_object_get_ex(claims, "iat", &v))
	{
		if (!jwt_numeric_date(v, &t))
		{
			buf_append_str(err, "the \"iat\" claim is not a number");
			return JWT_BAD_CLAIMS;
		}
		if (now + check->leeway_s < t)
		{
			buf_append_str(err, "the token was issued in the future (iat)");
			return JWT_NOT_YET_VALID;
		}
	}
	if (check->issuer && check->issuer[0])
	{
		const char *iss = get_string(claims, "iss", &present);

		if (iss == NULL || strcmp(iss, check->issuer) != 0)
		{
			buf_append_str(err, "the token's issuer (iss) is not the one configured");
			return JWT_BAD_CLAIMS;
		}
	}
	if (check->audience && check->audience[0])
	{
		const char *aud = get_string(claims, "aud", &present);
		bool		found = aud && strcmp(aud, check->audience) == 0;

		if (!found && json_object_object_get_ex(claims, "aud", &v) &&
			json_object_is_type(v, json_type_array))
		{
			for (size_t i = 0; !found && i < json_object_array_length(v); i++)
			{
				struct json_object *a = json_object_array_get_idx(v, i);

				found = json_object_is_type(a, json_type_string) &&
					strcmp(json_object_get_string(a), check->audience) == 0 &&
					strlen(json_object_get_string(a)) == (size_t) json_object_get_string_len(a);
			}
		}
		if (!found)
		{
			buf_append_str(err, "the token's audience (aud) does not include the one configured");
			return JWT_BAD_CLAIMS;
		}
	}
	return JWT_OK;
}

JwtStatus
jwt_verify(const JwtKeySet *keys, const char *token, size_t len, const JwtCheck *check,
		   struct json_object **claims, Buf *err)
{
	const char *dot1;
	const char *dot2;
	unsigned char *header_text = NULL;
	unsigned char *claims_text = NULL;
	unsigned char *sig = NULL;
	size_t		header_len,
				claims_len,
				sig_len;
	struct json_object *header = NULL;
	struct json_object *body = NULL;
	const JwtAlgorithm *alg;
	const char *alg_name;
	const char *kid;
	bool		present;
	JwtStatus	st = JWT_MALFORMED;

	*claims = NULL;
	if (len == 0 || len > JWT_MAX_TOKEN || memchr(token, '\0', len) != NULL)
	{
		buf_append_str(err, len ? "the token is not a JWT" : "the token is empty");
		return JWT_MALFORMED;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)) != NULL)
	{
		buf_append_str(err, "the token is not a JWT (three dot-separated parts expected)");
		return JWT_MALFORMED;
	}
	header_text = decode_part(token, (size_t) (dot1 - token), &header_len);
	if (header_text == NULL || (header = parse_object(header_text, header_len)) == NULL)
	{
		buf_append_str(err, "the token's header is not base64url-encoded JSON");
		goto done;
	}
	alg_name = get_string(header, "alg", &present);
	if (alg_name == NULL)
	{
		buf_append_str(err, "the token's header has no \"alg\"");
		goto done;
	}
	st = JWT_BAD_ALGORITHM;
	if (strcasecmp(alg_name, "none") == 0)
	{
		buf_append_str(err, "unsigned tokens (\"alg\":\"none\") are not accepted");
		goto done;
	}
	if ((alg = find_algorithm(alg_name)) == NULL)
	{
		buf_printf(err, "the algorithm \"%.16s\" is not supported (" JWT_ALGORITHM_LIST ")", alg_name);
		goto done;
	}
	if (json_object_object_get_ex(header, "crit", NULL))
	{
		buf_append_str(err, "the token has critical header parameters (\"crit\") that are not supported");
		goto done;
	}
	kid = get_string(header, "kid", &present);
	st = JWT_MALFORMED;
	if (present && kid == NULL)
	{
		buf_append_str(err, "the token's \"kid\" is not a string");
		goto done;
	}
	sig = decode_part(dot2 + 1, len - (size_t) (dot2 + 1 - token), &sig_len);
	if (sig == NULL || sig_len == 0)
	{
		buf_append_str(err, sig ? "the token has no signature" : "the token's signature is not base64url");
		goto done;
	}
	st = verify_signature(keys, alg, kid, token, (size_t) (dot2 - token), sig, sig_len, err);
	if (st != JWT_OK)
		goto done;
	claims_text = decode_part(dot1 + 1, (size_t) (dot2 - dot1 - 1), &claims_len);
	if (claims_text == NULL || (body = parse_object(claims_text, claims_len)) == NULL)
	{
		buf_append_str(err, "the token's claims are not a base64url-encoded JSON object");
		st = JWT_MALFORMED;
		goto done;
	}
	st = check_claims(body, check, err);
	if (st == JWT_OK)
	{
		*claims = body;
		body = NULL;
	}
done:
	if (header)
		json_object_put(header);
	if (body)
		json_object_put(body);
	free(header_text);
	free(claims_text);
	free(sig);
	return st;
}
