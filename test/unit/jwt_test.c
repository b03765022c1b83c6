/*
 * jwt_test.c - JSON Web Token verification (jwt.c) against tokens signed by
 * the openssl command-line tool
 *
 * Keys are generated afresh with `openssl genpkey` in a temporary
 * directory and every signature is made by `openssl dgst`, so the vectors
 * come from an independent implementation: the test only builds the
 * base64url text and turns the CLI's DER ECDSA signatures into JWS's r||s.
 * Cases: HS256/384/512, RS256 and ES256 from PEM and from JWKS (kid),
 * "alg":"none", algorithm confusion, bad signatures, exp/nbf/iat with
 * leeway, iss/aud, malformed tokens, and keys that must be refused.
 */
#include "unit.h"
#include "buf.h"
#include "jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#define NOW 1800000000

static char dir[64];
static const char secret[] = "a-test-secret-of-at-least-32-bytes!";

/* ---------------------------------------------------------- helpers */

/* Run a shell command; its stdout (binary-safe) into out.  False on failure. */
static bool
run(Buf *out, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static bool
run(Buf *out, const char *fmt,...)
{
	char		cmd[2048];
	va_list		ap;
	FILE	   *p;
	char		chunk[4096];
	size_t		n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	if (p == NULL)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		if (out)
			buf_append(out, chunk, n);
	return pclose(p) == 0;
}

static void
write_file(const char *name, const void *data, size_t len)
{
	char		path[128];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
}

static char *
read_file(const char *name, size_t *len)
{
	char		path[128];
	Buf			b = BUF_INIT;

	snprintf(path, sizeof(path), "cat %s/%s", dir, name);
	if (!run(&b, "%s", path))
		return NULL;
	return buf_steal(&b, len);
}

/* base64url without padding (the test's own encoder). */
static void
b64url(Buf *out, const unsigned char *p, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	for (size_t i = 0; i < len; i += 3)
	{
		uint32_t	v = (uint32_t) p[i] << 16;
		size_t		rest = len - i;

		if (rest > 1)
			v |= (uint32_t) p[i + 1] << 8;
		if (rest > 2)
			v |= p[i + 2];
		buf_append_char(out, alphabet[(v >> 18) & 63]);
		buf_append_char(out, alphabet[(v >> 12) & 63]);
		if (rest > 1)
			buf_append_char(out, alphabet[(v >> 6) & 63]);
		if (rest > 2)
			buf_append_char(out, alphabet[v & 63]);
	}
}

static void
b64url_str(Buf *out, const char *s)
{
	b64url(out, (const unsigned char *) s, strlen(s));
}

/*
 * A DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) as JWS wants
 * it: r and s as 32-byte big-endian numbers, concatenated.
 */
static bool
der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	size_t		i = 2;

	if (len < 8 || der[0] != 0x30 || der[1] != len - 2)
		return false;
	memset(raw, 0, 64);
	for (int k = 0; k < 2; k++)
	{
		size_t		n;

		if (i + 2 > len || der[i] != 0x02)
			return false;
		n = der[i + 1];
		i += 2;
		if (i + n > len)
			return false;
		while (n > 32 && der[i] == 0)
		{
			i++;
			n--;
		}
		if (n > 32)
			return false;
		memcpy(raw + 32 * k + (32 - n), der + i, n);
		i += n;
	}
	return i == len;
}

/*
 * A token with this header and these claims, signed by openssl dgst: alg
 * "HS*" with hexkey (the HMAC key in hex), "RS256"/"ES256" with a key file
 * of dir; "raw-der" keeps an ES256 signature in DER (wrong on purpose);
 * NULL sign leaves the signature empty.
 */
static char *
make_token(const char *header, const char *claims, const char *sign, const char *key)
{
	Buf			t = BUF_INIT;
	Buf			sig = BUF_INIT;
	char		input[64];

	b64url_str(&t, header);
	buf_append_char(&t, '.');
	b64url_str(&t, claims);
	snprintf(input, sizeof(input), "input-%d", rand());
	write_file(input, t.data, t.len);
	buf_append_char(&t, '.');
	if (sign == NULL)
		return buf_steal(&t, NULL);
	if (strncmp(sign, "HS", 2) == 0)
		CHECK(run(&sig, "openssl dgst -sha%s -mac HMAC -macopt hexkey:%s -binary %s/%s",
				  sign + 2, key, dir, input));
	else
		CHECK(run(&sig, "openssl dgst -sha256 -sign %s/%s -binary %s/%s", dir, key, dir, input));
	if (strcmp(sign, "ES256") == 0)
	{
		unsigned char raw[64];

		CHECK(der_to_raw((unsigned char *) sig.data, sig.len, raw));
		b64url(&t, raw, 64);
	}
	else
		b64url(&t, (unsigned char *) sig.data, sig.len);
	buf_free(&sig);
	return buf_steal(&t, NULL);
}

static void
hex(Buf *out, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf_printf(out, "%02x", ((const unsigned char *) p)[i]);
}

static JwtCheck
check_at(int64_t now)
{
	JwtCheck	c = {now, 30, NULL, NULL};

	return c;
}

/* Verify and return the status; on JWT_OK the claims' "sub" must be sub. */
static JwtStatus
verify(const JwtKeySet *keys, const char *token, const JwtCheck *c, const char *sub,
	   const char *reason_part)
{
	struct json_object *claims = NULL;
	Buf			err = BUF_INIT;
	JwtStatus	st = jwt_verify(keys, token, strlen(token), c, &claims, &err);

	if (st == JWT_OK)
	{
		struct json_object *v;

		CHECK(claims != NULL && json_object_object_get_ex(claims, "sub", &v));
		if (sub)
			CHECK_STR(json_object_get_string(v), sub);
		json_object_put(claims);
	}
	else
	{
		CHECK(claims == NULL);
		CHECK(err.len > 0);
		if (reason_part && (err.data == NULL || strstr(err.data, reason_part) == NULL))
		{
			fprintf(stderr, "  reason \"%s\" lacks \"%s\"\n", err.data ? err.data : "", reason_part);
			CHECK(false);
		}
	}
	buf_free(&err);
	return st;
}

static JwtKeySet *
keys_from(const char *secret_text, const char *public_file)
{
	JwtKeySet  *k = jwt_keyset_new();
	Buf			err = BUF_INIT;

	if (secret_text)
		CHECK(jwt_keyset_set_secret(k, secret_text, strlen(secret_text), &err));
	if (public_file)
	{
		size_t		len;
		char	   *text = read_file(public_file, &len);

		CHECK(text != NULL && jwt_keyset_add_public(k, text, len, &err));
		free(text);
	}
	if (err.len)
		fprintf(stderr, "  key error: %s\n", err.data);
	buf_free(&err);
	return k;
}

/* Loading text as public keys must fail with a message containing part. */
static void
expect_key_error(const char *text, size_t len, const char *part)
{
	JwtKeySet  *k = jwt_keyset_new();
	Buf			err = BUF_INIT;

	CHECK(!jwt_keyset_add_public(k, text, len, &err));
	CHECK(err.data && strstr(err.data, part) != NULL);
	if (!(err.data && strstr(err.data, part)))
		fprintf(stderr, "  key error \"%s\" lacks \"%s\"\n", err.data ? err.data : "", part);
	buf_free(&err);
	jwt_keyset_free(k);
}

static void
expect_key_error_str(const char *text, const char *part)
{
	expect_key_error(text, strlen(text), part);
}

static void
genkey(const char *name, const char *algorithm_options)
{
	CHECK(run(NULL, "openssl genpkey %s -out %s/%s.pem 2>/dev/null && "
			  "openssl pkey -in %s/%s.pem -pubout -out %s/%s.pub 2>/dev/null",
			  algorithm_options, dir, name, dir, name, dir, name));
}

/* An RSA JWK of key NAME (public): n from openssl, e is 65537. */
static void
rsa_jwk(Buf *out, const char *name, const char *kid)
{
	Buf			mod = BUF_INIT;
	unsigned char *bytes;
	size_t		n = 0;

	CHECK(run(&mod, "openssl rsa -pubin -in %s/%s.pub -noout -modulus", dir, name));
	CHECK(mod.len > 8 && strncmp(mod.data, "Modulus=", 8) == 0);
	bytes = malloc(mod.len);
	for (size_t i = 8; i + 1 < mod.len && mod.data[i] != '\n'; i += 2)
	{
		unsigned int v;

		sscanf(mod.data + i, "%2x", &v);
		bytes[n++] = (unsigned char) v;
	}
	buf_append_str(out, "{\"kty\":\"RSA\",\"use\":\"sig\",");
	if (kid)
		buf_printf(out, "\"kid\":\"%s\",", kid);
	buf_append_str(out, "\"n\":\"");
	b64url(out, bytes, n);
	buf_append_str(out, "\",\"e\":\"AQAB\"}");
	free(bytes);
	buf_free(&mod);
}

/* A P-256 JWK of key NAME: x and y are the last 64 bytes of its SPKI DER. */
static void
ec_jwk(Buf *out, const char *name, const char *kid, bool with_d)
{
	Buf			der = BUF_INIT;

	CHECK(run(&der, "openssl pkey -pubin -in %s/%s.pub -outform DER", dir, name));
	CHECK(der.len == 91 && (unsigned char) der.data[26] == 0x04);
	buf_append_str(out, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",");
	if (kid)
		buf_printf(out, "\"kid\":\"%s\",", kid);
	buf_append_str(out, "\"x\":\"");
	b64url(out, (unsigned char *) der.data + 27, 32);
	buf_append_str(out, "\",\"y\":\"");
	b64url(out, (unsigned char *) der.data + 59, 32);
	buf_append_str(out, with_d ? "\",\"d\":\"AAAA\"}" : "\"}");
	buf_free(&der);
}

/* ------------------------------------------------------------- cases */

static void
test_base64url(void)
{
	unsigned char out[16];
	size_t		n = 99;

	CHECK(jwt_base64url_decode("", 0, out, &n) && n == 0);
	CHECK(jwt_base64url_decode("Zg", 2, out, &n) && n == 1 && out[0] == 'f');
	CHECK(jwt_base64url_decode("Zm8", 3, out, &n) && n == 2 && memcmp(out, "fo", 2) == 0);
	CHECK(jwt_base64url_decode("Zm9v", 4, out, &n) && n == 3 && memcmp(out, "foo", 3) == 0);
	CHECK(jwt_base64url_decode("-_8", 3, out, &n) && n == 2 && out[0] == 0xfb && out[1] == 0xff);
	CHECK(!jwt_base64url_decode("Zh", 2, out, &n));	/* leftover bits not zero */
	CHECK(!jwt_base64url_decode("Zm9", 3, out, &n));	/* likewise */
	CHECK(!jwt_base64url_decode("Z", 1, out, &n));
	CHECK(!jwt_base64url_decode("Zg==", 4, out, &n));	/* padding */
	CHECK(!jwt_base64url_decode("Zm+v", 4, out, &n));	/* base64, not base64url */
	CHECK(!jwt_base64url_decode("Zm9v ", 5, out, &n));
	CHECK(jwt_is_jwt("a.b.c", 5));
	CHECK(!jwt_is_jwt("a.b.", 4));
	CHECK(!jwt_is_jwt("a..c", 4));
	CHECK(!jwt_is_jwt("a.b.c.d", 7));
	CHECK(!jwt_is_jwt("opaque-session-secret", 21));
}

static void
test_hmac(void)
{
	JwtKeySet  *keys = keys_from(secret, NULL);
	JwtKeySet  *other = keys_from("another-secret-that-is-32-bytes-long", NULL);
	JwtCheck	c = check_at(NOW);
	Buf			hk = BUF_INIT;
	char		claims[128];
	const char *algs[] = {"HS256", "HS384", "HS512"};

	hex(&hk, secret, strlen(secret));
	snprintf(claims, sizeof(claims), "{\"sub\":\"alice\",\"exp\":%d}", NOW + 60);
	for (int i = 0; i < 3; i++)
	{
		char		header[64];
		char	   *t;

		snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
		t = make_token(header, claims, algs[i], hk.data);
		CHECK(verify(keys, t, &c, "alice", NULL) == JWT_OK);
		CHECK(verify(other, t, &c, NULL, "signature does not match") == JWT_BAD_SIGNATURE);
		/* one byte of the signature changed */
		t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
		CHECK(verify(keys, t, &c, NULL, "signature does not match") == JWT_BAD_SIGNATURE);
		free(t);
	}
	/* the claims changed after signing */
	{
		char	   *t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
		char	   *dot1 = strchr(t, '.');
		char	   *dot2 = strchr(dot1 + 1, '.');
		Buf			forged = BUF_INIT;
		char		admin[128];

		snprintf(admin, sizeof(admin), "{\"sub\":\"admin\",\"exp\":%d}", NOW + 60);
		buf_append(&forged, t, (size_t) (dot1 - t + 1));
		b64url_str(&forged, admin);
		buf_append_str(&forged, dot2);
		CHECK(verify(keys, forged.data, &c, NULL, "signature does not match") == JWT_BAD_SIGNATURE);
		buf_free(&forged);
		free(t);
	}
	/* an HS256 token with no secret configured */
	{
		JwtKeySet  *none = jwt_keyset_new();
		char	   *t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);

		CHECK(verify(none, t, &c, NULL, "none is configured") == JWT_NO_KEY);
		jwt_keyset_free(none);
		free(t);
	}
	buf_free(&hk);
	jwt_keyset_free(keys);
	jwt_keyset_free(other);
}

static void
test_alg_none_and_unknown(void)
{
	JwtKeySet  *keys = keys_from(secret, "rsa.pub");
	JwtCheck	c = check_at(NOW);
	char		claims[128];
	const char *nones[] = {"none", "None", "NONE", "nOnE"};

	snprintf(claims, sizeof(claims), "{\"sub\":\"alice\",\"exp\":%d}", NOW + 60);
	for (int i = 0; i < 4; i++)
	{
		char		header[64];
		char	   *t;

		snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", nones[i]);
		t = make_token(header, claims, NULL, NULL);
		CHECK(verify(keys, t, &c, NULL, "\"alg\":\"none\"") == JWT_BAD_ALGORITHM);
		free(t);
	}
	{
		Buf			hk = BUF_INIT;
		char	   *t;

		hex(&hk, secret, strlen(secret));
		/* a none token carrying a real HMAC signature is still refused */
		t = make_token("{\"alg\":\"none\"}", claims, "HS256", hk.data);
		CHECK(verify(keys, t, &c, NULL, "none") == JWT_BAD_ALGORITHM);
		free(t);
		t = make_token("{\"alg\":\"PS256\"}", claims, "HS256", hk.data);
		CHECK(verify(keys, t, &c, NULL, "not supported") == JWT_BAD_ALGORITHM);
		free(t);
		t = make_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", claims, "HS256", hk.data);
		CHECK(verify(keys, t, &c, NULL, "crit") == JWT_BAD_ALGORITHM);
		free(t);
		/* no signature at all */
		t = make_token("{\"alg\":\"HS256\"}", claims, NULL, NULL);
		CHECK(verify(keys, t, &c, NULL, "no signature") == JWT_MALFORMED);
		free(t);
		buf_free(&hk);
	}
	jwt_keyset_free(keys);
}

/*
 * Algorithm confusion: an HS256 token whose HMAC key is the RSA public key
 * (PEM text, as a naive library would use it) never verifies.
 */
static void
test_algorithm_confusion(void)
{
	JwtKeySet  *rsa_only = keys_from(NULL, "rsa.pub");
	JwtKeySet  *both = keys_from(secret, "rsa.pub");
	JwtCheck	c = check_at(NOW);
	size_t		len;
	char	   *pem = read_file("rsa.pub", &len);
	Buf			hk = BUF_INIT;
	char		claims[128];
	char	   *t;

	snprintf(claims, sizeof(claims), "{\"sub\":\"mallory\",\"exp\":%d}", NOW + 60);
	hex(&hk, pem, len);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(rsa_only, t, &c, NULL, "HMAC secret") == JWT_NO_KEY);
	CHECK(verify(both, t, &c, NULL, "signature does not match") == JWT_BAD_SIGNATURE);
	free(t);
	/* the same with an EC key, and with the JWKS form */
	free(pem);
	pem = read_file("ec.pub", &len);
	buf_reset(&hk);
	hex(&hk, pem, len);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	{
		JwtKeySet  *ec = keys_from(NULL, "ec.pub");

		CHECK(verify(ec, t, &c, NULL, NULL) == JWT_NO_KEY);
		jwt_keyset_free(ec);
	}
	free(t);
	/* an RS256 token checked against an EC key, and ES256 against RSA */
	t = make_token("{\"alg\":\"RS256\"}", claims, "RS256", "rsa.pem");
	{
		JwtKeySet  *ec = keys_from(NULL, "ec.pub");

		CHECK(verify(ec, t, &c, NULL, "public key") == JWT_NO_KEY);
		jwt_keyset_free(ec);
	}
	free(t);
	t = make_token("{\"alg\":\"ES256\"}", claims, "ES256", "ec.pem");
	CHECK(verify(rsa_only, t, &c, NULL, "public key") == JWT_NO_KEY);
	free(t);
	free(pem);
	buf_free(&hk);
	jwt_keyset_free(rsa_only);
	jwt_keyset_free(both);
}

static void
test_rs256_es256_pem(void)
{
	JwtKeySet  *rsa = keys_from(NULL, "rsa.pub");
	JwtKeySet  *rsa2 = keys_from(NULL, "rsa2.pub");
	JwtKeySet  *ec = keys_from(NULL, "ec.pub");
	JwtKeySet  *ec2 = keys_from(NULL, "ec2.pub");
	JwtCheck	c = check_at(NOW);
	char		claims[128];
	char	   *t;

	snprintf(claims, sizeof(claims), "{\"sub\":\"bob\",\"exp\":%d}", NOW + 60);
	t = make_token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, "RS256", "rsa.pem");
	CHECK(verify(rsa, t, &c, "bob", NULL) == JWT_OK);
	CHECK(verify(rsa2, t, &c, NULL, "signature") == JWT_BAD_SIGNATURE);
	free(t);
	t = make_token("{\"alg\":\"ES256\"}", claims, "ES256", "ec.pem");
	CHECK(verify(ec, t, &c, "bob", NULL) == JWT_OK);
	CHECK(verify(ec2, t, &c, NULL, "signature") == JWT_BAD_SIGNATURE);
	free(t);
	/* an ES256 signature left in DER is not a JWS signature */
	{
		Buf			tt = BUF_INIT;
		Buf			sig = BUF_INIT;

		b64url_str(&tt, "{\"alg\":\"ES256\"}");
		buf_append_char(&tt, '.');
		b64url_str(&tt, claims);
		write_file("der-input", tt.data, tt.len);
		CHECK(run(&sig, "openssl dgst -sha256 -sign %s/ec.pem -binary %s/der-input", dir, dir));
		buf_append_char(&tt, '.');
		b64url(&tt, (unsigned char *) sig.data, sig.len);
		CHECK(verify(ec, tt.data, &c, NULL, "signature") == JWT_BAD_SIGNATURE);
		buf_free(&tt);
		buf_free(&sig);
	}
	/* two PEM keys in one file: both are used */
	{
		size_t		l1,
					l2;
		char	   *a = read_file("rsa.pub", &l1);
		char	   *b = read_file("ec.pub", &l2);
		Buf			both = BUF_INIT;
		JwtKeySet  *k;

		buf_append(&both, a, l1);
		buf_append(&both, b, l2);
		write_file("both.pub", both.data, both.len);
		k = keys_from(NULL, "both.pub");
		CHECK(jwt_keyset_count(k) == 2);
		t = make_token("{\"alg\":\"ES256\"}", claims, "ES256", "ec.pem");
		CHECK(verify(k, t, &c, "bob", NULL) == JWT_OK);
		free(t);
		t = make_token("{\"alg\":\"RS256\"}", claims, "RS256", "rsa.pem");
		CHECK(verify(k, t, &c, "bob", NULL) == JWT_OK);
		free(t);
		jwt_keyset_free(k);
		buf_free(&both);
		free(a);
		free(b);
	}
	jwt_keyset_free(rsa);
	jwt_keyset_free(rsa2);
	jwt_keyset_free(ec);
	jwt_keyset_free(ec2);
}

static void
test_jwks(void)
{
	Buf			doc = BUF_INIT;
	JwtKeySet  *k;
	JwtCheck	c = check_at(NOW);
	char		claims[128];
	char	   *t;

	/* two RSA keys and one EC key with kids, plus an encryption key skipped */
	buf_append_str(&doc, "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},");
	rsa_jwk(&doc, "rsa", "k1");
	buf_append_char(&doc, ',');
	rsa_jwk(&doc, "rsa2", "k2");
	buf_append_char(&doc, ',');
	ec_jwk(&doc, "ec", "e1", false);
	buf_append_str(&doc, ",{\"kty\":\"oct\",\"k\":\"AAAA\"}]}");
	write_file("jwks.json", doc.data, doc.len);
	k = keys_from(NULL, "jwks.json");
	CHECK(jwt_keyset_count(k) == 3);

	snprintf(claims, sizeof(claims), "{\"sub\":\"carol\",\"exp\":%d}", NOW + 60);
	t = make_token("{\"alg\":\"RS256\",\"kid\":\"k2\"}", claims, "RS256", "rsa2.pem");
	CHECK(verify(k, t, &c, "carol", NULL) == JWT_OK);
	free(t);
	t = make_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, "RS256", "rsa.pem");
	CHECK(verify(k, t, &c, "carol", NULL) == JWT_OK);
	free(t);
	/* signed by k2 but naming k1: only k1 is tried */
	t = make_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, "RS256", "rsa2.pem");
	CHECK(verify(k, t, &c, NULL, "signature") == JWT_BAD_SIGNATURE);
	free(t);
	/* an unknown kid: every configured key has a kid, so none is tried */
	t = make_token("{\"alg\":\"RS256\",\"kid\":\"nope\"}", claims, "RS256", "rsa.pem");
	CHECK(verify(k, t, &c, NULL, "kid \"nope\"") == JWT_NO_KEY);
	free(t);
	/* no kid: every key of the type is tried */
	t = make_token("{\"alg\":\"RS256\"}", claims, "RS256", "rsa2.pem");
	CHECK(verify(k, t, &c, "carol", NULL) == JWT_OK);
	free(t);
	t = make_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", claims, "ES256", "ec.pem");
	CHECK(verify(k, t, &c, "carol", NULL) == JWT_OK);
	free(t);
	/* a kid of an RSA key on an ES256 token finds no EC key */
	t = make_token("{\"alg\":\"ES256\",\"kid\":\"k1\"}", claims, "ES256", "ec.pem");
	CHECK(verify(k, t, &c, NULL, NULL) == JWT_NO_KEY);
	free(t);
	jwt_keyset_free(k);

	/* entries that make the whole document invalid */
	buf_reset(&doc);
	buf_append_str(&doc, "{\"keys\":[");
	ec_jwk(&doc, "ec", "e1", true);
	buf_append_str(&doc, "]}");
	expect_key_error(doc.data, doc.len, "private key");
	expect_key_error_str("{\"keys\":[]}", "no RS256 or ES256");
	expect_key_error_str("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
					 "no RS256 or ES256");
	expect_key_error_str("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "not a valid public key");
	expect_key_error_str("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}", "P-256");
	/* a point that is not on the curve */
	expect_key_error_str("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
					 "\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}", "not a valid public key");
	expect_key_error_str("{\"keys\":{}}", "JWKS");
	expect_key_error_str("{\"keys\":[{\"n\":\"AQAB\"}]}", "kty");
	buf_free(&doc);
}

static void
test_refused_keys(void)
{
	size_t		len;
	char	   *text;
	JwtKeySet  *k = jwt_keyset_new();
	Buf			err = BUF_INIT;

	text = read_file("rsa1024.pub", &len);
	expect_key_error(text, len, "at least 2048");
	free(text);
	text = read_file("p384.pub", &len);
	expect_key_error(text, len, "P-256");
	free(text);
	text = read_file("ed.pub", &len);
	expect_key_error(text, len, "not supported");
	free(text);
	/* a private key where the public one belongs */
	text = read_file("rsa.pem", &len);
	expect_key_error(text, len, "PUBLIC KEY");
	free(text);
	expect_key_error_str("hello", "PUBLIC KEY");

	CHECK(!jwt_keyset_set_secret(k, "short", 5, &err));
	CHECK(err.data && strstr(err.data, "at least 32") != NULL);
	buf_reset(&err);
	CHECK(jwt_keyset_set_secret(k, secret, strlen(secret), &err));
	CHECK(!jwt_keyset_set_secret(k, secret, strlen(secret), &err));
	buf_free(&err);
	jwt_keyset_free(k);
}

static void
test_times(void)
{
	JwtKeySet  *keys = keys_from(secret, NULL);
	Buf			hk = BUF_INIT;
	JwtCheck	c = check_at(NOW);
	struct
	{
		const char *claims;
		JwtStatus	want;
		const char *reason;
	}			cases[] = {
		{"{\"sub\":\"a\",\"exp\":%d}", JWT_OK, NULL},	/* NOW + 60 */
		{"{\"sub\":\"a\",\"exp\":%d.5}", JWT_OK, NULL},
		{"{\"sub\":\"a\"}", JWT_BAD_CLAIMS, "exp"},
		{"{\"sub\":\"a\",\"exp\":\"%d\"}", JWT_BAD_CLAIMS, "exp"},
		{"{\"sub\":\"a\",\"exp\":null}", JWT_BAD_CLAIMS, "exp"},
		{"{\"sub\":\"a\",\"exp\":%d,\"nbf\":\"x\"}", JWT_BAD_CLAIMS, "nbf"},
		{"{\"sub\":\"a\",\"exp\":%d,\"iat\":true}", JWT_BAD_CLAIMS, "iat"},
	};
	char		claims[160];
	char	   *t;

	hex(&hk, secret, strlen(secret));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		snprintf(claims, sizeof(claims), cases[i].claims, NOW + 60);
		t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
		CHECK(verify(keys, t, &c, cases[i].want == JWT_OK ? "a" : NULL, cases[i].reason) == cases[i].want);
		free(t);
	}
	/* exp: 100 s ago is expired, 10 s ago is within the 30 s leeway */
	snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d}", NOW - 100);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(keys, t, &c, NULL, "expired") == JWT_EXPIRED);
	c.leeway_s = 200;
	CHECK(verify(keys, t, &c, "a", NULL) == JWT_OK);
	c.leeway_s = 30;
	free(t);
	snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d}", NOW - 10);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(keys, t, &c, "a", NULL) == JWT_OK);
	c.leeway_s = 0;
	CHECK(verify(keys, t, &c, NULL, "expired") == JWT_EXPIRED);
	c.leeway_s = 30;
	free(t);
	/* nbf and iat in the future beyond the leeway; within it they pass */
	snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d,\"nbf\":%d}", NOW + 600, NOW + 100);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(keys, t, &c, NULL, "nbf") == JWT_NOT_YET_VALID);
	free(t);
	snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d,\"nbf\":%d,\"iat\":%d}", NOW + 600,
			 NOW + 20, NOW + 20);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(keys, t, &c, "a", NULL) == JWT_OK);
	free(t);
	snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d,\"iat\":%d}", NOW + 600, NOW + 100);
	t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(keys, t, &c, NULL, "iat") == JWT_NOT_YET_VALID);
	free(t);
	buf_free(&hk);
	jwt_keyset_free(keys);
}

static void
test_issuer_audience(void)
{
	JwtKeySet  *keys = keys_from(secret, NULL);
	Buf			hk = BUF_INIT;
	JwtCheck	c = {NOW, 30, "https://auth.example", "realtime"};
	struct
	{
		const char *extra;
		JwtStatus	want;
	}			cases[] = {
		{",\"iss\":\"https://auth.example\",\"aud\":\"realtime\"", JWT_OK},
		{",\"iss\":\"https://auth.example\",\"aud\":[\"web\",\"realtime\"]", JWT_OK},
		{",\"aud\":\"realtime\"", JWT_BAD_CLAIMS},
		{",\"iss\":\"https://evil.example\",\"aud\":\"realtime\"", JWT_BAD_CLAIMS},
		{",\"iss\":\"https://auth.example\"", JWT_BAD_CLAIMS},
		{",\"iss\":\"https://auth.example\",\"aud\":[\"web\"]", JWT_BAD_CLAIMS},
		{",\"iss\":\"https://auth.example\",\"aud\":\"realtime\\u0000x\"", JWT_BAD_CLAIMS},
		{",\"iss\":[\"https://auth.example\"],\"aud\":\"realtime\"", JWT_BAD_CLAIMS},
	};

	hex(&hk, secret, strlen(secret));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		claims[256];
		char	   *t;

		snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d%s}", NOW + 60, cases[i].extra);
		t = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
		CHECK(verify(keys, t, &c, cases[i].want == JWT_OK ? "a" : NULL,
					 cases[i].want == JWT_OK ? NULL : "configured") == cases[i].want);
		free(t);
	}
	buf_free(&hk);
	jwt_keyset_free(keys);
}

static void
test_malformed(void)
{
	JwtKeySet  *keys = keys_from(secret, NULL);
	Buf			hk = BUF_INIT;
	JwtCheck	c = check_at(NOW);
	char		claims[128];
	char	   *good;
	Buf			b = BUF_INIT;
	const char *bad[] = {
		"", "abc", "a.b", "a.b.c.d", "....", ".b.c", "a..c",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.!!!",
		"e30.e30.AAAA",			/* {} header: no alg */
		"W10.e30.AAAA",			/* [] header */
		"bnVsbA.e30.AAAA",		/* null header */
	};

	hex(&hk, secret, strlen(secret));
	snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%d}", NOW + 60);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		struct json_object *cl = NULL;
		Buf			err = BUF_INIT;

		CHECK(jwt_verify(keys, bad[i], strlen(bad[i]), &c, &cl, &err) == JWT_MALFORMED);
		CHECK(cl == NULL && err.len > 0);
		buf_free(&err);
	}
	/* header and claims with a duplicate member, or not JSON, or lenient JSON */
	{
		const char *headers[] = {
			"{\"alg\":\"HS256\",\"alg\":\"none\"}", "{'alg':'HS256'}", "{\"alg\":\"HS256\"} x",
			"{\"alg\":\"HS256\",}", "{\"alg\":\"HS256\",\"kid\":5}", "{\"alg\":5}",
		};

		for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		{
			char	   *t = make_token(headers[i], claims, "HS256", hk.data);

			CHECK(verify(keys, t, &c, NULL, NULL) == JWT_MALFORMED);
			free(t);
		}
	}
	{
		char		dup[160];
		char	   *t;

		snprintf(dup, sizeof(dup), "{\"sub\":\"a\",\"exp\":%d,\"sub\":\"admin\"}", NOW + 60);
		t = make_token("{\"alg\":\"HS256\"}", dup, "HS256", hk.data);
		CHECK(verify(keys, t, &c, NULL, "claims") == JWT_MALFORMED);
		free(t);
		t = make_token("{\"alg\":\"HS256\"}", "[1,2]", "HS256", hk.data);
		CHECK(verify(keys, t, &c, NULL, "claims") == JWT_MALFORMED);
		free(t);
		t = make_token("{\"alg\":\"HS256\"}", "{\"exp\":NaN}", "HS256", hk.data);
		CHECK(verify(keys, t, &c, NULL, "claims") == JWT_MALFORMED);
		free(t);
	}
	/* a good token with padding, a space, a NUL, or too long */
	good = make_token("{\"alg\":\"HS256\"}", claims, "HS256", hk.data);
	CHECK(verify(keys, good, &c, "a", NULL) == JWT_OK);
	buf_append_str(&b, good);
	buf_append_str(&b, "=");
	CHECK(verify(keys, b.data, &c, NULL, NULL) == JWT_MALFORMED);
	buf_reset(&b);
	buf_append_str(&b, " ");
	buf_append_str(&b, good);
	CHECK(verify(keys, b.data, &c, NULL, NULL) == JWT_MALFORMED);
	{
		struct json_object *cl = NULL;
		Buf			err = BUF_INIT;
		size_t		n = strlen(good);

		buf_reset(&b);
		buf_append(&b, good, n);
		b.data[n / 2] = '\0';
		CHECK(jwt_verify(keys, b.data, n, &c, &cl, &err) == JWT_MALFORMED);
		buf_free(&err);
		buf_reset(&b);
		for (int i = 0; i < JWT_MAX_TOKEN; i++)
			buf_append_char(&b, 'A');
		buf_append_str(&b, good);
		CHECK(jwt_verify(keys, b.data, b.len, &c, &cl, &err) == JWT_MALFORMED && cl == NULL);
		buf_free(&err);
	}
	free(good);
	buf_free(&b);
	buf_free(&hk);
	jwt_keyset_free(keys);
}

int
main(void)
{
	char		tmpl[] = "/tmp/jwt_test.XXXXXX";

	srand(7);
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	genkey("rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
	genkey("rsa2", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
	genkey("rsa1024", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024");
	genkey("ec", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
	genkey("ec2", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
	genkey("p384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384");
	genkey("ed", "-algorithm ED25519");

	test_base64url();
	test_hmac();
	test_alg_none_and_unknown();
	test_algorithm_confusion();
	test_rs256_es256_pem();
	test_jwks();
	test_refused_keys();
	test_times();
	test_issuer_audience();
	test_malformed();

	run(NULL, "rm -rf %s", dir);
	return unit_summary("jwt");
}
