/*
 * envelope.c - seal and open notifications (AES-256-GCM, libcrypto)
 *
 * See envelope.h for the format.  The cipher is fetched from libcrypto once
 * per process and each call uses its own short-lived context: sealing is
 * once per notification (a batch of events), not per row.
 */
#include "envelope.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char envelope_aad_tag[] = "pg_realtime seal 1";

/* AES-256-GCM, fetched once: an implicit fetch per call costs a lock. */
static EVP_CIPHER *envelope_cipher_cache;

static const EVP_CIPHER *
envelope_cipher(void)
{
	if (envelope_cipher_cache == NULL)
		envelope_cipher_cache = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	return envelope_cipher_cache;
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

bool
envelope_aad_init(EnvelopeAad *aad, uint32_t pid, const char *database, size_t database_len,
				  const char *channel, size_t channel_len)
{
	aad->len = 0;
	memcpy(aad->bytes, envelope_aad_tag, sizeof(envelope_aad_tag));	/* with its NUL */
	aad->len = sizeof(envelope_aad_tag);
	put_u32(aad->bytes + aad->len, pid);
	aad->len += 4;
	return aad_append_name(aad, database, database_len) &&
		aad_append_name(aad, channel, channel_len);
}

size_t
envelope_seal(const unsigned char key[ENVELOPE_KEY_LEN], const EnvelopeAad *aad,
			  const EnvelopeHeader *header, const unsigned char *nonce,
			  const EnvelopePiece *pieces, int npieces, char *out, unsigned char *scratch)
{
	const EVP_CIPHER *cipher = envelope_cipher();
	EVP_CIPHER_CTX *ctx;
	unsigned char *p = scratch;
	size_t		total = 0;
	int			n;
	bool		ok;

	for (int i = 0; i < npieces; i++)
		total += pieces[i].len;
	if (cipher == NULL || total > ENVELOPE_MAX_PLAIN || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return 0;

	header_write(p, header);
	memcpy(p + ENVELOPE_HEADER_LEN, nonce, ENVELOPE_NONCE_LEN);
	p += ENVELOPE_HEADER_LEN + ENVELOPE_NONCE_LEN;
	ok = EVP_EncryptInit_ex2(ctx, cipher, key, nonce, NULL) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, aad->bytes, (int) aad->len) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, scratch, ENVELOPE_HEADER_LEN) == 1;
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
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return 0;
	p += ENVELOPE_TAG_LEN;

	memcpy(out, ENVELOPE_PREFIX, ENVELOPE_PREFIX_LEN);
	n = EVP_EncodeBlock((unsigned char *) out + ENVELOPE_PREFIX_LEN, scratch, (int) (p - scratch));
	return ENVELOPE_PREFIX_LEN + (size_t) n;
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

	if (bin_len < ENVELOPE_OVERHEAD || cipher == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return false;
	ct_len = bin_len - ENVELOPE_OVERHEAD;
	memcpy(tag, ct + ct_len, ENVELOPE_TAG_LEN);
	ok = EVP_DecryptInit_ex2(ctx, cipher, key, nonce, NULL) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, aad->bytes, (int) aad->len) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, bin, ENVELOPE_HEADER_LEN) == 1 &&
		(ct_len == 0 || EVP_DecryptUpdate(ctx, plain, &n, ct, (int) ct_len) == 1) &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENVELOPE_TAG_LEN, tag) == 1 &&
		EVP_DecryptFinal_ex(ctx, plain + (ct_len == 0 ? 0 : n), &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
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

bool
envelope_random(unsigned char *buf, size_t len)
{
	return RAND_bytes(buf, (int) len) == 1;
}
