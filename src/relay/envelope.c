/*
 * envelope.c - seal and open notifications (AES-256-GCM, libcrypto)
 *
 * See envelope.h for the format.  The cipher is fetched from libcrypto once
 * per process and one context serves every call: sealing is once per
 * notification (a batch of events), not per row, and must stay cheap.
 */
#include "envelope.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char envelope_aad_tag[] = "pg_realtime seal 1";
static const char envelope_wal_aad_tag[] = "pg_realtime wal 1";

/* AES-256-GCM, fetched once: an implicit fetch per call costs a lock. */
static EVP_CIPHER *envelope_cipher_cache;

/* One context for every seal and open of the process, set up anew by each. */
static EVP_CIPHER_CTX *envelope_ctx_cache;

/* The nonces of this process: a random prefix and a counter (see envelope_nonce). */
static unsigned char envelope_nonce_prefix[8];
static pid_t envelope_nonce_pid;
static uint32_t envelope_nonce_counter;

static const EVP_CIPHER *
envelope_cipher(void)
{
	if (envelope_cipher_cache == NULL)
		envelope_cipher_cache = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	return envelope_cipher_cache;
}

static EVP_CIPHER_CTX *
envelope_ctx(void)
{
	if (envelope_ctx_cache == NULL)
		envelope_ctx_cache = EVP_CIPHER_CTX_new();
	return envelope_ctx_cache;
}

/*
 * Base64 of every 12 bits: two characters per lookup.  EVP_EncodeBlock
 * looks up one character at a time, and encoding was more than half of
 * what sealing a notification cost.
 */
static uint16_t envelope_b64_pairs[4096];

static void
envelope_b64_init(void)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (int i = 0; i < 4096; i++)
	{
		char		pair[2] = {alphabet[i >> 6], alphabet[i & 63]};

		memcpy(&envelope_b64_pairs[i], pair, 2);
	}
}

size_t
envelope_base64_encode(char *out, const unsigned char *in, size_t n)
{
	char	   *o = out;
	size_t		i = 0;

	if (envelope_b64_pairs[0] == 0)
		envelope_b64_init();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* 6 bytes to 8 characters, one store: a pair's first character is its low byte */
	for (; i + 6 <= n; i += 6)
	{
		uint32_t	a = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];
		uint32_t	b = ((uint32_t) in[i + 3] << 16) | ((uint32_t) in[i + 4] << 8) | in[i + 5];
		uint64_t	w = (uint64_t) envelope_b64_pairs[a >> 12] |
			(uint64_t) envelope_b64_pairs[a & 4095] << 16 |
			(uint64_t) envelope_b64_pairs[b >> 12] << 32 |
			(uint64_t) envelope_b64_pairs[b & 4095] << 48;

		memcpy(o, &w, 8);
		o += 8;
	}
#endif
	for (; i + 3 <= n; i += 3)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		memcpy(o, &envelope_b64_pairs[v >> 12], 2);
		memcpy(o + 2, &envelope_b64_pairs[v & 4095], 2);
		o += 4;
	}
	if (i < n)
	{
		/* the last one or two bytes, padded as EVP_EncodeBlock does */
		uint32_t	v = (uint32_t) in[i] << 16 | (i + 1 < n ? (uint32_t) in[i + 1] << 8 : 0);

		memcpy(o, &envelope_b64_pairs[v >> 12], 2);
		memcpy(o + 2, &envelope_b64_pairs[v & 4095], 2);
		o[3] = '=';
		if (i + 1 == n)
			o[2] = '=';
		o += 4;
	}
	*o = '\0';
	return (size_t) (o - out);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

static uint32_t
get_u32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static void
header_write(unsigned char *p, const EnvelopeHeader *h)
{
	put_u32(p, h->key_id);
	put_u32(p + 4, (uint32_t) (h->seq >> 32));
	put_u32(p + 8, (uint32_t) h->seq);
	put_u32(p + 12, h->part);
}

static void
header_read(const unsigned char *p, EnvelopeHeader *h)
{
	h->key_id = get_u32(p);
	h->seq = ((uint64_t) get_u32(p + 4) << 32) | get_u32(p + 8);
	h->part = get_u32(p + 12);
}

/* Append a name and its NUL; false if it does not fit or holds a NUL. */
static bool
aad_append_name(EnvelopeAad *aad, const char *s, size_t len)
{
	if (len >= 64 || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(aad->bytes + aad->len, s, len);
	aad->len += len;
	aad->bytes[aad->len++] = '\0';
	return true;
}

/* tag (with its NUL) | pid | database NUL | channel NUL */
static bool
aad_build(EnvelopeAad *aad, const char *tag, size_t tag_size, uint32_t pid, const char *database,
		  size_t database_len, const char *channel, size_t channel_len)
{
	memcpy(aad->bytes, tag, tag_size);
	aad->len = tag_size;
	put_u32(aad->bytes + aad->len, pid);
	aad->len += 4;
	return aad_append_name(aad, database, database_len) &&
		aad_append_name(aad, channel, channel_len);
}

bool
envelope_aad_init(EnvelopeAad *aad, uint32_t pid, const char *database, size_t database_len,
				  const char *channel, size_t channel_len)
{
	return aad_build(aad, envelope_aad_tag, sizeof(envelope_aad_tag), pid, database, database_len,
					 channel, channel_len);
}

bool
envelope_aad_init_wal(EnvelopeAad *aad, const char *database, size_t database_len,
					  const char *prefix, size_t prefix_len)
{
	return aad_build(aad, envelope_wal_aad_tag, sizeof(envelope_wal_aad_tag), 0, database,
					 database_len, prefix, prefix_len);
}

size_t
envelope_seal_binary(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
					 const EnvelopeHeader *header, const unsigned char *nonce,
					 const EnvelopePiece *pieces, int npieces, unsigned char *out)
{
	const EVP_CIPHER *cipher = envelope_cipher();
	EVP_CIPHER_CTX *ctx;
	unsigned char *p = out;
	int			n;
	bool		ok;

	if (cipher == NULL || (ctx = envelope_ctx()) == NULL)
		return 0;
	for (int i = 0; i < npieces; i++)
		if (pieces[i].len > INT_MAX)
			return 0;

	header_write(p, header);
	memcpy(p + ENVELOPE_HEADER_LEN, nonce, ENVELOPE_NONCE_LEN);
	p += ENVELOPE_HEADER_LEN + ENVELOPE_NONCE_LEN;
	ok = EVP_EncryptInit_ex2(ctx, cipher, key, nonce, NULL) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, aad->bytes, (int) aad->len) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, out, ENVELOPE_HEADER_LEN) == 1;
	for (int i = 0; ok && i < npieces; i++)
	{
		if (pieces[i].len == 0)
			continue;
		ok = EVP_EncryptUpdate(ctx, p, &n, pieces[i].data, (int) pieces[i].len) == 1;
		p += n;
	}
	ok = ok && EVP_EncryptFinal_ex(ctx, p, &n) == 1;
	p += ok ? n : 0;
	ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ENVELOPE_TAG_LEN, p) == 1;
	if (!ok)
		return 0;
	p += ENVELOPE_TAG_LEN;
	return (size_t) (p - out);
}

size_t
envelope_seal(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
			  const EnvelopeHeader *header, const unsigned char *nonce,
			  const EnvelopePiece *pieces, int npieces, char *out, unsigned char *scratch)
{
	size_t		total = 0;
	size_t		n;

	for (int i = 0; i < npieces; i++)
		total += pieces[i].len;
	if (total > ENVELOPE_MAX_PLAIN)
		return 0;
	n = envelope_seal_binary(key, aad, header, nonce, pieces, npieces, scratch);
	if (n == 0)
		return 0;
	memcpy(out, ENVELOPE_PREFIX, ENVELOPE_PREFIX_LEN);
	return ENVELOPE_PREFIX_LEN + envelope_base64_encode(out + ENVELOPE_PREFIX_LEN, scratch, n);
}

bool
envelope_read_header(const unsigned char *bin, size_t bin_len, EnvelopeHeader *header)
{
	if (bin_len < ENVELOPE_OVERHEAD)
		return false;
	header_read(bin, header);
	return true;
}

bool
envelope_is_sealed(const char *text, size_t len)
{
	return len >= ENVELOPE_PREFIX_LEN && memcmp(text, ENVELOPE_PREFIX, ENVELOPE_PREFIX_LEN) == 0;
}

bool
envelope_decode(const char *text, size_t len, unsigned char *bin, size_t *bin_len,
				EnvelopeHeader *header)
{
	const char *b64 = text + ENVELOPE_PREFIX_LEN;
	size_t		b64_len = len - ENVELOPE_PREFIX_LEN;
	int			n;
	int			pad = 0;

	if (!envelope_is_sealed(text, len) || b64_len % 4 != 0 ||
		b64_len / 4 * 3 > ENVELOPE_MAX_BINARY || b64_len / 4 * 3 < ENVELOPE_OVERHEAD)
		return false;
	/* EVP_DecodeBlock skips leading blanks and counts padding as zeros */
	if (b64[0] == ' ' || b64[0] == '\t' || b64[0] == '\r' || b64[0] == '\n')
		return false;
	n = EVP_DecodeBlock(bin, (const unsigned char *) b64, (int) b64_len);
	if (n < 0)
		return false;
	if (b64[b64_len - 1] == '=')
		pad++;
	if (b64[b64_len - 2] == '=')
		pad++;
	*bin_len = (size_t) n - pad;
	if (*bin_len < ENVELOPE_OVERHEAD)
		return false;
	header_read(bin, header);
	return true;
}

bool
envelope_open(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
			  const unsigned char *bin, size_t bin_len, unsigned char *plain, size_t *plain_len)
{
	const EVP_CIPHER *cipher = envelope_cipher();
	EVP_CIPHER_CTX *ctx;
	const unsigned char *nonce = bin + ENVELOPE_HEADER_LEN;
	const unsigned char *ct = nonce + ENVELOPE_NONCE_LEN;
	size_t		ct_len;
	unsigned char tag[ENVELOPE_TAG_LEN];
	int			n = 0;
	int			fin = 0;
	bool		ok;

	if (bin_len < ENVELOPE_OVERHEAD || cipher == NULL || (ctx = envelope_ctx()) == NULL)
		return false;
	ct_len = bin_len - ENVELOPE_OVERHEAD;
	memcpy(tag, ct + ct_len, ENVELOPE_TAG_LEN);
	ok = EVP_DecryptInit_ex2(ctx, cipher, key, nonce, NULL) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, aad->bytes, (int) aad->len) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, bin, ENVELOPE_HEADER_LEN) == 1 &&
		(ct_len == 0 || EVP_DecryptUpdate(ctx, plain, &n, ct, (int) ct_len) == 1) &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENVELOPE_TAG_LEN, tag) == 1 &&
		EVP_DecryptFinal_ex(ctx, plain + (ct_len == 0 ? 0 : n), &fin) == 1;
	if (!ok)
	{
		/* nothing of a forgery is handed out */
		OPENSSL_cleanse(plain, ct_len);
		return false;
	}
	*plain_len = ct_len;
	return true;
}

int
envelope_next_record(const unsigned char *plain, size_t plain_len, size_t *offset,
					 const char **record, size_t *record_len)
{
	size_t		len;

	if (*offset == plain_len)
		return 0;
	if (plain_len - *offset < ENVELOPE_RECORD_HEAD)
		return -1;
	len = get_u32(plain + *offset);
	if (len > plain_len - *offset - ENVELOPE_RECORD_HEAD)
		return -1;
	*record = (const char *) plain + *offset + ENVELOPE_RECORD_HEAD;
	*record_len = len;
	*offset += ENVELOPE_RECORD_HEAD + len;
	return 1;
}

bool
envelope_key_from_base64(const char *text, size_t len, unsigned char key[ENVELOPE_KEY_LEN])
{
	unsigned char bin[ENVELOPE_KEY_LEN + 3];
	bool		ok;

	/* 32 bytes: 44 characters, the last one padding */
	ok = len == 44 && text[43] == '=' && text[42] != '=' &&
		EVP_DecodeBlock(bin, (const unsigned char *) text, 44) == ENVELOPE_KEY_LEN + 1;
	if (ok)
		memcpy(key, bin, ENVELOPE_KEY_LEN);
	OPENSSL_cleanse(bin, sizeof(bin));
	return ok;
}

/*
 * A nonce no other seal under the key has had (NIST SP 800-38D 8.2.1): a
 * 64-bit random prefix of this process, drawn again after a fork (backends
 * are forked from the postmaster) and when the 32-bit counter after it runs
 * out.  Unique within a process by the counter, across processes by the
 * prefix (a collision of two is about 2^-64 per pair); cheaper than asking
 * the CSPRNG for every notification.
 */
bool
envelope_nonce(unsigned char nonce[ENVELOPE_NONCE_LEN])
{
	pid_t		pid = getpid();

	if (pid != envelope_nonce_pid || envelope_nonce_counter == UINT32_MAX)
	{
		if (!envelope_random(envelope_nonce_prefix, sizeof(envelope_nonce_prefix)))
			return false;
		envelope_nonce_pid = pid;
		envelope_nonce_counter = 0;
	}
	memcpy(nonce, envelope_nonce_prefix, sizeof(envelope_nonce_prefix));
	put_u32(nonce + sizeof(envelope_nonce_prefix), envelope_nonce_counter++);
	return true;
}

bool
envelope_random(unsigned char *buf, size_t len)
{
	return RAND_bytes(buf, (int) len) == 1;
}
