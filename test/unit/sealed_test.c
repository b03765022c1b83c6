/*
 * sealed_test.c - sealed notifications (envelope.c), the relay's replay
 * guard (sealed.c)
 *
 * What sealing binds (sender, database, channel, header, key), what opening
 * refuses, that a batch fills a notification exactly, and that the guard
 * refuses every replay while it accepts each sender's next notification.
 */
#include "unit.h"
#include "envelope.h"
#include "sealed.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <unistd.h>

static unsigned char key_a[ENVELOPE_KEY_LEN];
static unsigned char key_b[ENVELOPE_KEY_LEN];

/* A record: 4-byte big-endian length, then the bytes. */
static size_t
put_record(unsigned char *out, const char *s)
{
	size_t		n = strlen(s);

	out[0] = (unsigned char) (n >> 24);
	out[1] = (unsigned char) (n >> 16);
	out[2] = (unsigned char) (n >> 8);
	out[3] = (unsigned char) n;
	memcpy(out + 4, s, n);
	return n + 4;
}

/* Seal plain[0..len) as sender pid for database "shop", channel "pg_realtime". */
static size_t
seal(char *out, const unsigned char *key, uint32_t key_id, uint64_t seq, uint32_t part,
	 uint32_t pid, const void *plain, size_t len)
{
	EnvelopeAad aad;
	EnvelopeHeader h = {key_id, seq, part};
	unsigned char nonce[ENVELOPE_NONCE_LEN];
	unsigned char scratch[ENVELOPE_MAX_BINARY];
	EnvelopePiece piece = {plain, len};

	if (!envelope_random(nonce, sizeof(nonce)) ||
		!envelope_aad_init(&aad, pid, "shop", 4, "pg_realtime", 11))
		return 0;
	return envelope_seal(key, &aad, &h, nonce, &piece, len ? 1 : 0, out, scratch);
}

/* Open text as from pid in database db on channel ch with key; true if it opens. */
static bool
opens(const char *text, const unsigned char *key, uint32_t pid, const char *db, const char *ch,
	  unsigned char *plain, size_t *plain_len)
{
	EnvelopeAad aad;
	EnvelopeHeader h;
	unsigned char bin[ENVELOPE_MAX_BINARY];
	size_t		bin_len;

	if (!envelope_decode(text, strlen(text), bin, &bin_len, &h) ||
		!envelope_aad_init(&aad, pid, db, strlen(db), ch, strlen(ch)))
		return false;
	return envelope_open(key, &aad, bin, bin_len, plain, plain_len);
}

/* Seal plain as the wal transport's message #part of transaction xid in database "shop". */
static size_t
seal_wal(unsigned char *out, const unsigned char *key, uint32_t key_id, uint64_t xid, uint32_t part,
		 const void *plain, size_t len)
{
	EnvelopeAad aad;
	EnvelopeHeader h = {key_id, xid, part};
	unsigned char nonce[ENVELOPE_NONCE_LEN];
	EnvelopePiece pieces[2] = {{plain, len / 2}, {(const char *) plain + len / 2, len - len / 2}};
	size_t		n;

	if (!envelope_random(nonce, sizeof(nonce)) ||
		!envelope_aad_init_wal(&aad, "shop", 4, "pg_realtime", 11))
		return 0;
	memcpy(out, ENVELOPE_WAL_MAGIC, ENVELOPE_WAL_MAGIC_LEN);
	n = envelope_seal_binary(key, &aad, &h, nonce, pieces, 2, out + ENVELOPE_WAL_MAGIC_LEN);
	return n ? n + ENVELOPE_WAL_MAGIC_LEN : 0;
}

/*
 * The wal transport: a message opens only in the transaction it was
 * sealed for (the low half of its FullTransactionId is BEGIN's xid, the
 * epoch the nearest), once per part, in growing parts; any size; the
 * notify transport's associated data does not open it.
 */
static void
test_wal(void)
{
	Sealed		s;
	SealedWalGuard g = {0};
	static unsigned char big[3 * ENVELOPE_MAX_BINARY];
	static unsigned char msg[3 * ENVELOPE_MAX_BINARY + 64];
	static unsigned char plain[3 * ENVELOPE_MAX_BINARY + 64];
	unsigned char m2[256];
	size_t		plain_len;
	size_t		n;
	size_t		n2;
	EnvelopeHeader h;
	uint64_t	xid = ((uint64_t) 3 << 32) | 1000;	/* epoch 3 */

	sealed_init(&s);
	CHECK(sealed_reset(&s, "shop", "pg_realtime", 0));
	sealed_keys_add(&s, 7, key_a, 1);	/* expired long ago: no matter for wal */

	/* larger than any notification */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char) i;
	n = seal_wal(msg, key_a, 7, xid, 0, big, sizeof(big));
	CHECK(n == sizeof(big) + ENVELOPE_WAL_MAGIC_LEN + ENVELOPE_OVERHEAD);
	CHECK(sealed_is_wal_message((const char *) msg, n));
	CHECK(!sealed_is_wal_message("\0\0\0\2{}", 6));

	/* another transaction (a copy emitted by someone else): refused */
	sealed_wal_begin(&g, 1001);
	CHECK(sealed_open_wal(&s, &g, (const char *) msg, n, plain, &plain_len, &h) == SEALED_REPLAYED);
	/* its own: opens, whole */
	sealed_wal_begin(&g, 1000);
	CHECK(sealed_open_wal(&s, &g, (const char *) msg, n, plain, &plain_len, &h) == SEALED_OK);
	CHECK(plain_len == sizeof(big) && memcmp(plain, big, sizeof(big)) == 0);
	CHECK(h.seq == xid && h.part == 0 && h.key_id == 7);
	/* the same message again in the same transaction: refused */
	CHECK(sealed_open_wal(&s, &g, (const char *) msg, n, plain, &plain_len, &h) == SEALED_REPLAYED);
	/* the next part of it: accepted; then an earlier one is not */
	n2 = seal_wal(m2, key_a, 7, xid, 2, "{}", 2);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_OK);
	n2 = seal_wal(m2, key_a, 7, xid, 1, "{}", 2);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_REPLAYED);

	/* the same xid in an epoch long past (a copy kept for 2^32 transactions): refused */
	n2 = seal_wal(m2, key_a, 7, ((uint64_t) 2 << 32) | 1005, 0, "{}", 2);
	sealed_wal_begin(&g, 1005);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_REPLAYED);
	n2 = seal_wal(m2, key_a, 7, ((uint64_t) 3 << 32) | 1005, 0, "{}", 2);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_OK);
	/* across a wraparound of the low half: the next epoch */
	g.last_full_xid = ((uint64_t) 3 << 32) | 0xFFFFFFF0u;
	n2 = seal_wal(m2, key_a, 7, ((uint64_t) 4 << 32) | 5, 0, "{}", 2);
	sealed_wal_begin(&g, 5);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_OK);

	/* bound to database and prefix; a notification's seal does not open here */
	CHECK(sealed_reset(&s, "shop2", "pg_realtime", 0));
	sealed_wal_begin(&g, 6);
	n2 = seal_wal(m2, key_a, 7, ((uint64_t) 4 << 32) | 6, 0, "{}", 2);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_FORGED);
	CHECK(sealed_reset(&s, "shop", "pg_realtime", 0));
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_OK);
	{
		char		text[ENVELOPE_MAX_TEXT + 1];
		unsigned char bin[ENVELOPE_MAX_BINARY];
		size_t		bin_len;

		/* the notify transport's seal of the same header, carried in a wal message */
		CHECK(seal(text, key_a, 7, ((uint64_t) 4 << 32) | 6, 1, 0, "{}", 2) > 0);
		CHECK(envelope_decode(text, strlen(text), bin, &bin_len, &h));
		memcpy(m2, ENVELOPE_WAL_MAGIC, ENVELOPE_WAL_MAGIC_LEN);
		memcpy(m2 + ENVELOPE_WAL_MAGIC_LEN, bin, bin_len);
		CHECK(sealed_open_wal(&s, &g, (const char *) m2, bin_len + ENVELOPE_WAL_MAGIC_LEN, plain, &plain_len, &h)
			  == SEALED_FORGED);
	}
	/* unknown key, short, flipped byte */
	n2 = seal_wal(m2, key_b, 8, ((uint64_t) 4 << 32) | 6, 5, "{}", 2);
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_UNKNOWN_KEY);
	CHECK(sealed_open_wal(&s, &g, ENVELOPE_WAL_MAGIC "x", 5, plain, &plain_len, &h) == SEALED_MALFORMED);
	n2 = seal_wal(m2, key_a, 7, ((uint64_t) 4 << 32) | 6, 6, "{}", 2);
	m2[n2 - 1] ^= 1;
	CHECK(sealed_open_wal(&s, &g, (const char *) m2, n2, plain, &plain_len, &h) == SEALED_FORGED);
	sealed_free(&s);
}

static void
test_roundtrip(void)
{
	unsigned char batch[256];
	size_t		len = 0;
	char		text[ENVELOPE_MAX_TEXT + 1];
	unsigned char plain[ENVELOPE_MAX_BINARY];
	size_t		plain_len = 0;
	size_t		off = 0;
	const char *rec;
	size_t		rec_len;
	EnvelopeHeader h;
	unsigned char bin[ENVELOPE_MAX_BINARY];
	size_t		bin_len;

	len += put_record(batch + len, "{\"a\":1}");
	len += put_record(batch + len, "");
	len += put_record(batch + len, "{\"b\":[2]}");
	CHECK(seal(text, key_a, 7, 1234567890123ULL, 3, 4242, batch, len) > 0);
	CHECK(strncmp(text, "rt1:", 4) == 0);
	CHECK(envelope_is_sealed(text, strlen(text)));
	CHECK(!envelope_is_sealed("{\"v\":1}", 7));

	CHECK(envelope_decode(text, strlen(text), bin, &bin_len, &h));
	CHECK(h.key_id == 7 && h.seq == 1234567890123ULL && h.part == 3);
	CHECK(bin_len == len + ENVELOPE_OVERHEAD);

	CHECK(opens(text, key_a, 4242, "shop", "pg_realtime", plain, &plain_len));
	CHECK(plain_len == len && memcmp(plain, batch, len) == 0);
	CHECK(envelope_next_record(plain, plain_len, &off, &rec, &rec_len) == 1);
	CHECK(rec_len == 7 && memcmp(rec, "{\"a\":1}", 7) == 0);
	CHECK(envelope_next_record(plain, plain_len, &off, &rec, &rec_len) == 1);
	CHECK(rec_len == 0);
	CHECK(envelope_next_record(plain, plain_len, &off, &rec, &rec_len) == 1);
	CHECK(rec_len == 9 && memcmp(rec, "{\"b\":[2]}", 9) == 0);
	CHECK(envelope_next_record(plain, plain_len, &off, &rec, &rec_len) == 0);

	/* two seals of the same batch differ (random nonces: NOTIFY keeps both) */
	{
		char		again[ENVELOPE_MAX_TEXT + 1];

		CHECK(seal(again, key_a, 7, 1234567890123ULL, 3, 4242, batch, len) > 0);
		CHECK(strcmp(text, again) != 0);
	}

	/* an empty batch: a key rotation's announcement */
	CHECK(seal(text, key_a, 7, 1, 0, 4242, NULL, 0) > 0);
	CHECK(opens(text, key_a, 4242, "shop", "pg_realtime", plain, &plain_len));
	CHECK(plain_len == 0);
}

/* Everything that is bound: sender, database, channel, key, every byte. */
static void
test_binding(void)
{
	unsigned char batch[64];
	size_t		len = put_record(batch, "{\"event\":\"x\"}");
	char		text[ENVELOPE_MAX_TEXT + 1];
	unsigned char plain[ENVELOPE_MAX_BINARY];
	size_t		plain_len;
	size_t		n = seal(text, key_a, 1, 10, 0, 100, batch, len);

	CHECK(opens(text, key_a, 100, "shop", "pg_realtime", plain, &plain_len));
	CHECK(!opens(text, key_a, 101, "shop", "pg_realtime", plain, &plain_len));	/* sender */
	CHECK(!opens(text, key_a, 100, "shop2", "pg_realtime", plain, &plain_len));	/* database */
	CHECK(!opens(text, key_a, 100, "shop", "other", plain, &plain_len));	/* channel */
	CHECK(!opens(text, key_b, 100, "shop", "pg_realtime", plain, &plain_len));	/* key */

	/* change any base64 character: header, nonce, ciphertext or tag */
	{
		unsigned char orig[ENVELOPE_MAX_BINARY];
		size_t		orig_len;
		EnvelopeHeader h;
		int			opened = 0;

		CHECK(envelope_decode(text, n, orig, &orig_len, &h));
		for (size_t i = ENVELOPE_PREFIX_LEN; i < n; i++)
		{
			char		copy[ENVELOPE_MAX_TEXT + 1];
			unsigned char bin[ENVELOPE_MAX_BINARY];
			size_t		bin_len;

			memcpy(copy, text, n + 1);
			copy[i] = copy[i] == 'A' ? 'B' : 'A';
			/* a change in the padding bits of the last group alters nothing */
			if (envelope_decode(copy, n, bin, &bin_len, &h) && bin_len == orig_len &&
				memcmp(bin, orig, orig_len) == 0)
				continue;
			opened += opens(copy, key_a, 100, "shop", "pg_realtime", plain, &plain_len);
		}
		CHECK(opened == 0);
	}
}

/* A batch of ENVELOPE_MAX_PLAIN bytes fills a notification; one more does not fit. */
static void
test_sizes(void)
{
	static unsigned char big[ENVELOPE_MAX_PLAIN + 1];
	char		text[ENVELOPE_MAX_TEXT + 1];
	size_t		n;

	memset(big, 'x', sizeof(big));
	n = seal(text, key_a, 1, 1, 0, 1, big, ENVELOPE_MAX_PLAIN);
	CHECK(n > 0 && n <= ENVELOPE_MAX_TEXT && strlen(text) == n);
	CHECK(ENVELOPE_MAX_TEXT - n < 4);	/* nothing to spare */
	CHECK(seal(text, key_a, 1, 1, 0, 1, big, ENVELOPE_MAX_PLAIN + 1) == 0);
	CHECK(ENVELOPE_MAX_EVENT == ENVELOPE_MAX_PLAIN - 4);
}

/* What decode refuses before any key is tried. */
static void
test_decode(void)
{
	unsigned char bin[ENVELOPE_MAX_BINARY];
	size_t		bin_len;
	EnvelopeHeader h;
	char		text[ENVELOPE_MAX_TEXT + 64];
	const char *bad[] = {
		"", "rt1:", "{\"v\":1}", "rt2:AAAA", "rt1:!!!!", "rt1:AAAAA",
		"rt1:AAAA",				/* too short for a header, nonce and tag */
		"rt1: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"rt1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		bool		ok = envelope_decode(bad[i], strlen(bad[i]), bin, &bin_len, &h);

		CHECK(!ok);
		if (ok)
			fprintf(stderr, "  decoded: %s\n", bad[i]);
	}
	/* the shortest: 44 bytes, header, nonce and tag, is well-formed */
	memcpy(text, "rt1:", 4);
	memset(text + 4, 'A', 59);
	text[63] = '=';
	CHECK(envelope_decode(text, 64, bin, &bin_len, &h) && bin_len == ENVELOPE_OVERHEAD);
	/* longer than a notification */
	memcpy(text, "rt1:", 4);
	memset(text + 4, 'A', 8000);
	CHECK(!envelope_decode(text, 8004, bin, &bin_len, &h));

	/* records: a length past the end is malformed */
	{
		unsigned char plain[8] = {0, 0, 0, 9, 'a', 'b', 'c', 'd'};
		size_t		off = 0;
		const char *rec;
		size_t		rec_len;

		CHECK(envelope_next_record(plain, sizeof(plain), &off, &rec, &rec_len) == -1);
		off = 0;
		CHECK(envelope_next_record(plain, 3, &off, &rec, &rec_len) == -1);
	}
}

/* Open text with the guard as from pid. */
static SealedResult
guard_open(Sealed *s, uint32_t pid, const char *text, int64_t now)
{
	unsigned char plain[ENVELOPE_MAX_BINARY];
	size_t		plain_len;
	EnvelopeHeader h;

	return sealed_open(s, pid, text, strlen(text), now, plain, &plain_len, &h);
}

static void
test_guard(void)
{
	Sealed		s;
	unsigned char batch[32];
	size_t		len = put_record(batch, "{}");
	char		t10[ENVELOPE_MAX_TEXT + 1];
	char		t11[ENVELOPE_MAX_TEXT + 1];
	char		t11b[ENVELOPE_MAX_TEXT + 1];
	char		t12[ENVELOPE_MAX_TEXT + 1];
	char		t5[ENVELOPE_MAX_TEXT + 1];
	char		other[ENVELOPE_MAX_TEXT + 1];
	char		old_key[ENVELOPE_MAX_TEXT + 1];

	sealed_init(&s);
	CHECK(sealed_reset(&s, "shop", "pg_realtime", 8));
	sealed_keys_add(&s, 1, key_a, -1);
	sealed_keys_add(&s, 2, key_b, 1000);	/* expires at 1000 ms */

	seal(t10, key_a, 1, 10, 0, 100, batch, len);
	seal(t11, key_a, 1, 11, 0, 100, batch, len);
	seal(t11b, key_a, 1, 11, 1, 100, batch, len);
	seal(t12, key_a, 1, 12, 0, 100, batch, len);
	seal(t5, key_a, 1, 5, 0, 200, batch, len);
	seal(other, key_a, 1, 9, 0, 300, batch, len);
	seal(old_key, key_b, 2, 13, 0, 100, batch, len);

	CHECK(guard_open(&s, 100, t10, 0) == SEALED_OK);
	CHECK(guard_open(&s, 100, t10, 0) == SEALED_REPLAYED);	/* again */
	CHECK(guard_open(&s, 100, t11, 0) == SEALED_OK);
	CHECK(guard_open(&s, 100, t11b, 0) == SEALED_OK);	/* the next part */
	CHECK(guard_open(&s, 100, t11, 0) == SEALED_REPLAYED);	/* an earlier part */
	CHECK(guard_open(&s, 100, t10, 0) == SEALED_REPLAYED);	/* an earlier sequence */
	CHECK(guard_open(&s, 101, t12, 0) == SEALED_FORGED);	/* another sender */
	CHECK(guard_open(&s, 200, t5, 0) == SEALED_REPLAYED);	/* unknown sender, below the floor */
	CHECK(guard_open(&s, 300, other, 0) == SEALED_OK);	/* unknown sender, above it */
	CHECK(guard_open(&s, 100, old_key, 999) == SEALED_OK);	/* key 2, before it expires */
	CHECK(guard_open(&s, 100, t12, 0) == SEALED_REPLAYED);	/* 12 < 13 */
	CHECK(guard_open(&s, 100, "rt1:AAAA", 0) == SEALED_MALFORMED);
	CHECK(guard_open(&s, 0, t12, 0) == SEALED_MALFORMED);	/* no sender */

	/* an expired key, or one the relay never had */
	{
		char		t[ENVELOPE_MAX_TEXT + 1];

		seal(t, key_b, 2, 20, 0, 400, batch, len);
		CHECK(guard_open(&s, 400, t, 1000) == SEALED_UNKNOWN_KEY);
		seal(t, key_b, 3, 20, 0, 400, batch, len);
		CHECK(guard_open(&s, 400, t, 0) == SEALED_UNKNOWN_KEY);
	}

	/* a new connection forgets the senders, and the floor covers the past */
	CHECK(sealed_reset(&s, "shop", "pg_realtime", 13));
	CHECK(guard_open(&s, 100, t12, 0) == SEALED_REPLAYED);
	CHECK(guard_open(&s, 300, other, 0) == SEALED_REPLAYED);
	sealed_free(&s);
}

/* More senders than the guard holds: the oldest go, the floor rises to them. */
static void
test_guard_full(void)
{
	Sealed		s;
	unsigned char batch[32];
	size_t		len = put_record(batch, "{}");
	static char texts[SEALED_MAX_SENDERS + 1][ENVELOPE_MAX_TEXT + 1];
	int			accepted = 0;
	char		late[ENVELOPE_MAX_TEXT + 1];

	sealed_init(&s);
	CHECK(sealed_reset(&s, "shop", "pg_realtime", 0));
	sealed_keys_add(&s, 1, key_a, -1);
	for (uint32_t i = 0; i <= SEALED_MAX_SENDERS; i++)
	{
		seal(texts[i], key_a, 1, 1000 + i, 0, 1000 + i, batch, len);
		accepted += guard_open(&s, 1000 + i, texts[i], 0) == SEALED_OK;
	}
	CHECK(accepted == SEALED_MAX_SENDERS + 1);
	CHECK(s.nsenders <= SEALED_MAX_SENDERS);
	CHECK(s.floor >= 1000);
	/* every one of them, forgotten or not, is refused again */
	accepted = 0;
	for (uint32_t i = 0; i <= SEALED_MAX_SENDERS; i++)
		accepted += guard_open(&s, 1000 + i, texts[i], 0) == SEALED_OK;
	CHECK(accepted == 0);
	/* a new sender above the floor is welcome */
	seal(late, key_a, 1, 1000000, 0, 7, batch, len);
	CHECK(guard_open(&s, 7, late, 0) == SEALED_OK);
	sealed_free(&s);
}

/* Keys as the relay reads them: encode(key, 'base64') */
static void
test_key_text(void)
{
	unsigned char key[ENVELOPE_KEY_LEN];
	unsigned char want[ENVELOPE_KEY_LEN];

	for (int i = 0; i < ENVELOPE_KEY_LEN; i++)
		want[i] = (unsigned char) (i * 7 + 1);
	/* SELECT encode(decode(string_agg(lpad(to_hex(g * 7 + 1), 2, '0'), ''), 'hex'), 'base64') FROM generate_series(0, 31) g */
	CHECK(envelope_key_from_base64("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=", 44, key));
	CHECK(memcmp(key, want, sizeof(key)) == 0);
	CHECK(!envelope_key_from_base64("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o", 43, key));
	CHECK(!envelope_key_from_base64("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM0w==", 44, key));
	CHECK(!envelope_key_from_base64("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09!=", 44, key));
}

/* The base64 encoder writes what EVP_EncodeBlock writes, for every length and byte. */
static void
test_base64(void)
{
	static unsigned char in[600];
	static char ours[1000];
	static unsigned char theirs[1000];
	int			same = 0;

	for (int i = 0; i < (int) sizeof(in); i++)
		in[i] = (unsigned char) (i * 37 + (i >> 3));
	for (int n = 0; n <= (int) sizeof(in); n++)
	{
		int			k = EVP_EncodeBlock(theirs, in + (n % 7), n - (n % 7));
		size_t		m = envelope_base64_encode(ours, in + (n % 7), (size_t) (n - (n % 7)));

		same += (size_t) k == m && memcmp(ours, theirs, m + 1) == 0;
	}
	CHECK(same == (int) sizeof(in) + 1);
}

/* Nonces: a counter after the process's prefix; a forked process draws its own prefix. */
static void
test_nonce(void)
{
	unsigned char a[ENVELOPE_NONCE_LEN];
	unsigned char b[ENVELOPE_NONCE_LEN];
	unsigned char child[ENVELOPE_NONCE_LEN];
	int			fds[2];
	pid_t		pid;

	CHECK(envelope_nonce(a) && envelope_nonce(b));
	CHECK(memcmp(a, b, 8) == 0 && memcmp(a, b, ENVELOPE_NONCE_LEN) != 0);
	CHECK(b[11] == (unsigned char) (a[11] + 1));
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0)
	{
		unsigned char n[ENVELOPE_NONCE_LEN];

		_exit(envelope_nonce(n) && write(fds[1], n, sizeof(n)) == (ssize_t) sizeof(n) ? 0 : 1);
	}
	CHECK(pid > 0 && read(fds[0], child, sizeof(child)) == (ssize_t) sizeof(child));
	CHECK(memcmp(child, a, 8) != 0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
}

int
main(void)
{
	CHECK(envelope_random(key_a, sizeof(key_a)));
	CHECK(envelope_random(key_b, sizeof(key_b)));
	test_roundtrip();
	test_binding();
	test_sizes();
	test_decode();
	test_guard();
	test_guard_full();
	test_key_text();
	test_nonce();
	test_base64();
	test_wal();
	return unit_summary("sealed");
}
