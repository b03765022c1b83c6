/*
 * notify_fuzz.c - libFuzzer target for what a notification goes through in
 * the relay: sealed envelopes (envelope.c), the replay guard (sealed.c) and
 * bounded event parsing (event.c); build and run with test/fuzz/run.sh
 *
 * The input's first byte picks the mode.  Even: the rest is a notification
 * as PostgreSQL delivers it (sealed or plaintext), opened and parsed as the
 * listener would.  Odd: the rest is a batch that a trigger seals with the
 * fuzzer's key, so the fuzzer reaches record splitting and event parsing
 * behind a valid envelope; it must open to exactly the bytes sealed, and
 * the same notification again must be refused as a replay.  First byte 2
 * mod 4: the wal transport, the rest a logical decoding message of the
 * transaction with xid 7, opened and parsed as the walsource would; and
 * the same bytes sealed as that transaction's message, which must open once.
 */
#include "envelope.h"
#include "event.h"
#include "sealed.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[ENVELOPE_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const EventLimits fuzz_limits = {64, 10000};

/* Parse each record of an opened batch as the listener would. */
static void
parse_records(const unsigned char *plain, size_t len)
{
	size_t		off = 0;
	const char *rec;
	size_t		rec_len;

	while (envelope_next_record(plain, len, &off, &rec, &rec_len) == 1)
	{
		RelayEvent *ev = NULL;
		int64_t		large = 0;
		const char *error = NULL;

		if (event_parse_bounded(rec, rec_len, "2026-05-01T10:00:00.000+00:00", &fuzz_limits, &ev,
								&large, &error) == EVENT_NOTIFY_INLINE)
		{
			if (ev->body_len == 0 || ev->cost < ev->body_len)
				abort();
			event_release(ev);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static Sealed s;
	static bool ready;
	static unsigned char plain[ENVELOPE_MAX_BINARY];
	static uint64_t seq = 100;
	size_t		plain_len = 0;
	EnvelopeHeader h;

	if (!ready)
	{
		sealed_init(&s);
		sealed_keys_add(&s, 1, fuzz_key, -1);
		ready = true;
	}
	if (size < 1)
		return 0;
	if (!sealed_reset(&s, "db", "pg_realtime", 10))
		abort();

	if ((data[0] & 3) == 2)
	{
		static unsigned char wal_plain[ENVELOPE_MAX_BINARY + 64];
		static unsigned char msg[ENVELOPE_MAX_BINARY + 64];
		SealedWalGuard g = {0};
		EnvelopeAad aad;
		EnvelopeHeader hdr = {1, ((uint64_t) 1 << 32) | 7, 0};
		unsigned char nonce[ENVELOPE_NONCE_LEN] = {0};
		EnvelopePiece piece = {data + 1, size - 1};
		size_t		n;

		if (size - 1 > ENVELOPE_MAX_BINARY)
			return 0;
		sealed_wal_begin(&g, 7);
		if (sealed_open_wal(&s, &g, (const char *) data + 1, size - 1, wal_plain, &plain_len, &h) == SEALED_OK)
			parse_records(wal_plain, plain_len);
		g.txn_last_part = -1;
		g.last_full_xid = 0;
		if (!envelope_aad_init_wal(&aad, "db", 2, "pg_realtime", 11))
			abort();
		memcpy(msg, ENVELOPE_WAL_MAGIC, ENVELOPE_WAL_MAGIC_LEN);
		n = envelope_seal_binary(fuzz_key, &aad, &hdr, nonce, &piece, 1, msg + ENVELOPE_WAL_MAGIC_LEN);
		if (n != size - 1 + ENVELOPE_OVERHEAD)
			abort();
		n += ENVELOPE_WAL_MAGIC_LEN;
		if (sealed_open_wal(&s, &g, (const char *) msg, n, wal_plain, &plain_len, &h) != SEALED_OK ||
			plain_len != size - 1 || memcmp(wal_plain, data + 1, plain_len) != 0)
			abort();
		if (sealed_open_wal(&s, &g, (const char *) msg, n, wal_plain, &plain_len, &h) != SEALED_REPLAYED)
			abort();
		sealed_wal_begin(&g, 8);
		if (sealed_open_wal(&s, &g, (const char *) msg, n, wal_plain, &plain_len, &h) != SEALED_REPLAYED)
			abort();
	}
	else if ((data[0] & 1) == 0)
	{
		const char *text = (const char *) data + 1;
		size_t		len = size - 1;

		if (len > ENVELOPE_MAX_TEXT)
			return 0;
		if (envelope_is_sealed(text, len) &&
			sealed_open(&s, 42, text, len, 0, plain, &plain_len, &h) == SEALED_OK)
			parse_records(plain, plain_len);
		{
			RelayEvent *ev = NULL;
			int64_t		large = 0;
			const char *error = NULL;

			if (event_parse_bounded(text, len, NULL, &fuzz_limits, &ev, &large, &error) ==
				EVENT_NOTIFY_INLINE)
				event_release(ev);
		}
	}
	else
	{
		EnvelopeAad aad;
		EnvelopeHeader hdr = {1, ++seq, 0};
		unsigned char nonce[ENVELOPE_NONCE_LEN] = {0};
		unsigned char scratch[ENVELOPE_MAX_BINARY];
		char		text[ENVELOPE_MAX_TEXT + 1];
		EnvelopePiece piece = {data + 1, size - 1};
		size_t		n;

		if (size - 1 > ENVELOPE_MAX_PLAIN)
			return 0;
		if (!envelope_aad_init(&aad, 42, "db", 2, "pg_realtime", 11))
			abort();
		n = envelope_seal(fuzz_key, &aad, &hdr, nonce, &piece, 1, text, scratch);
		if (n == 0 || n > ENVELOPE_MAX_TEXT)
			abort();
		if (sealed_open(&s, 42, text, n, 0, plain, &plain_len, &h) != SEALED_OK ||
			plain_len != size - 1 || memcmp(plain, data + 1, plain_len) != 0)
			abort();
		if (sealed_open(&s, 42, text, n, 0, plain, &plain_len, &h) != SEALED_REPLAYED)
			abort();
		/* opened again after the replay check refused it: same bytes */
		parse_records(data + 1, size - 1);
	}
	return 0;
}
