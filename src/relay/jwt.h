/*
 * jwt.h - JSON Web Tokens: strict parsing and signature checks (libcrypto)
 *
 * A token is three base64url parts; the header and claims must be strict
 * JSON objects without duplicate members.  Keys are chosen by the header's
 * algorithm and the key's type, never by anything else the token says: an
 * HS* token is checked only against the HMAC secret, RS256 only against RSA
 * public keys, ES256 only against P-256 keys, so a public key can never
 * serve as an HMAC secret (algorithm confusion) and "alg":"none" verifies
 * nothing.  Keys embedded in or pointed at by the token (jwk, jku, x5u) are
 * never used.
 */
#ifndef RELAY_JWT_H
#define RELAY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct json_object;

/* longest token accepted, in bytes */
#define JWT_MAX_TOKEN 16384
/* most public keys in one key set (a JWKS may list several) */
#define JWT_MAX_KEYS 32
/* shortest HMAC secret accepted: RFC 7518 3.2 wants at least the hash size */
#define JWT_MIN_SECRET 32

typedef struct JwtKeySet JwtKeySet;

typedef enum JwtStatus
{
	JWT_OK,
	JWT_MALFORMED,				/* not a JWT, or its JSON is not acceptable */
	JWT_BAD_ALGORITHM,			/* none, unknown, or crit headers */
	JWT_NO_KEY,					/* no key of the algorithm's type (or kid) */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID,			/* nbf, or iat in the future */
	JWT_BAD_CLAIMS				/* exp missing, iss or aud not as configured */
} JwtStatus;

/* What jwt_verify() checks besides the signature. */
typedef struct JwtCheck
{
	int64_t		now_s;			/* seconds since the epoch */
	int			leeway_s;		/* clock skew allowed for exp, nbf, iat */
	const char *issuer;			/* iss must equal it; NULL or "" not checked */
	const char *audience;		/* aud must be or contain it; NULL or "" not checked */
} JwtCheck;

extern JwtKeySet *jwt_keyset_new(void);
extern void jwt_keyset_free(JwtKeySet *keys);

/* Number of keys (the HMAC secret counts as one). */
extern int	jwt_keyset_count(const JwtKeySet *keys);

/*
 * Set the HMAC secret (raw bytes, as Supabase and jsonwebtoken use them).
 * False, with a message in err, if it is shorter than JWT_MIN_SECRET or a
 * secret is already set.
 */
extern bool jwt_keyset_set_secret(JwtKeySet *keys, const void *secret, size_t len, Buf *err);

/*
 * Add the public keys in text: one or more PEM "PUBLIC KEY" blocks, or a
 * JWKS document ({"keys":[...]}, RSA n/e and EC P-256 x/y, chosen by kid).
 * RSA keys must have at least 2048 bits.  JWKS entries for other uses
 * ("use":"enc") or other algorithms are skipped.  False, with a message in
 * err, if the text holds no usable key or an entry is malformed.
 */
extern bool jwt_keyset_add_public(JwtKeySet *keys, const char *text, size_t len, Buf *err);

/*
 * Verify token[0..len) against keys and check.  On JWT_OK sets *claims to a
 * new reference to the claims object (release with json_object_put).
 * Otherwise appends a short reason for the client to err ("the token
 * expired", "the signature does not match", ...).
 */
extern JwtStatus jwt_verify(const JwtKeySet *keys, const char *token, size_t len,
							const JwtCheck *check, struct json_object **claims, Buf *err);

/* True if token[0..len) has the shape of a JWT (three non-empty base64url parts). */
extern bool jwt_is_jwt(const char *token, size_t len);

/*
 * Strict base64url (RFC 4648 section 5, no padding, no whitespace, unused
 * bits zero): decode src[0..len) into out (at least len * 3 / 4 + 1 bytes).
 * False if src is not canonical base64url.
 */
extern bool jwt_base64url_decode(const char *src, size_t len, unsigned char *out, size_t *outlen);

/* A JSON number claim as seconds (integers or finite doubles); false if not a number. */
extern bool jwt_numeric_date(struct json_object *v, double *out);

#endif
