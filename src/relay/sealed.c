/*
 * sealed.c - open one database's sealed notifications and drop replays
 *
 * See sealed.h.  The replay guard is an open-addressing table keyed by the
 * sender's PID; when it is full, the quarter of senders with the oldest
 * sequences is forgotten and the floor rises to the newest of those, so a
 * replay of theirs is still refused.
 */
#include "sealed.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define SEALED_SLOTS (2 * SEALED_MAX_SENDERS)

void
sealed_init(Sealed *s)
{
	memset(s, 0, sizeof(*s));
	s->senders = relay_calloc(SEALED_SLOTS, sizeof(SealedSender));
}

void
sealed_free(Sealed *s)
{
	OPENSSL_cleanse(s->keys, sizeof(s->keys));
	free(s->senders);
	s->senders = NULL;
}

bool
sealed_reset(Sealed *s, const char *database, const char *channel, uint64_t floor)
{
	if (strlen(database) >= sizeof(s->database) || strlen(channel) >= sizeof(s->channel))
		return false;
	strcpy(s->database, database);
	strcpy(s->channel, channel);
	s->floor = floor;
	s->nsenders = 0;
	memset(s->senders, 0, SEALED_SLOTS * sizeof(SealedSender));
	return true;
}

void
sealed_keys_clear(Sealed *s)
{
	OPENSSL_cleanse(s->keys, sizeof(s->keys));
	s->nkeys = 0;
}

void
sealed_keys_add(Sealed *s, uint32_t id, const unsigned char key[ENVELOPE_KEY_LEN], int64_t expires_ms)
{
	SealedKey  *k;

	for (int i = 0; i < s->nkeys; i++)
		if (s->keys[i].id == id)
		{
			/* known: the newest word on its expiry */
			s->keys[i].expires_ms = expires_ms;
			return;
		}
	if (s->nkeys == SEALED_MAX_KEYS)
	{
		/* keep the newest: drop the lowest id */
		int			low = 0;

		for (int i = 1; i < s->nkeys; i++)
			if (s->keys[i].id < s->keys[low].id)
				low = i;
		if (s->keys[low].id > id)
			return;
		k = &s->keys[low];
	}
	else
		k = &s->keys[s->nkeys++];
	k->id = id;
	k->expires_ms = expires_ms;
	memcpy(k->key, key, ENVELOPE_KEY_LEN);
}

static const SealedKey *
sealed_find_key(const Sealed *s, uint32_t id, int64_t now_ms)
{
	for (int i = 0; i < s->nkeys; i++)
		if (s->keys[i].id == id)
			return (s->keys[i].expires_ms < 0 || s->keys[i].expires_ms > now_ms) ? &s->keys[i] : NULL;
	return NULL;
}

static uint32_t
sealed_slot(uint32_t pid)
{
	/* Knuth's multiplicative hash: PIDs are small and dense */
	return (pid * 2654435761u) % SEALED_SLOTS;
}

static SealedSender *
sealed_lookup(Sealed *s, uint32_t pid)
{
	for (uint32_t i = sealed_slot(pid);; i = (i + 1) % SEALED_SLOTS)
	{
		if (s->senders[i].pid == pid || s->senders[i].pid == 0)
			return &s->senders[i];
	}
}

static int
sealed_cmp_seq(const void *a, const void *b)
{
	uint64_t	x = ((const SealedSender *) a)->seq;
	uint64_t	y = ((const SealedSender *) b)->seq;

	return (x > y) - (x < y);
}

/* Full: forget the quarter of senders with the oldest sequences. */
static void
sealed_forget_oldest(Sealed *s)
{
	SealedSender *all = relay_malloc(sizeof(SealedSender) * s->nsenders);
	int			n = 0;
	int			forget = s->nsenders / 4;

	for (int i = 0; i < SEALED_SLOTS; i++)
		if (s->senders[i].pid != 0)
			all[n++] = s->senders[i];
	qsort(all, n, sizeof(SealedSender), sealed_cmp_seq);
	if (forget > 0 && all[forget - 1].seq > s->floor)
		s->floor = all[forget - 1].seq;
	memset(s->senders, 0, SEALED_SLOTS * sizeof(SealedSender));
	s->nsenders = 0;
	for (int i = forget; i < n; i++)
	{
		*sealed_lookup(s, all[i].pid) = all[i];
		s->nsenders++;
	}
	free(all);
}

/* Accept (pid, seq, part) if newer than what the guard knows; remember it. */
static bool
sealed_accept(Sealed *s, uint32_t pid, uint64_t seq, uint32_t part)
{
	SealedSender *e = sealed_lookup(s, pid);

	if (e->pid == pid)
	{
		if (seq < e->seq || (seq == e->seq && part <= e->part))
			return false;
	}
	else
	{
		if (seq <= s->floor)
			return false;
		if (s->nsenders >= SEALED_MAX_SENDERS)
		{
			sealed_forget_oldest(s);
			if (seq <= s->floor)
				return false;
			e = sealed_lookup(s, pid);
		}
		e->pid = pid;
		s->nsenders++;
	}
	e->seq = seq;
	e->part = part;
	return true;
}

/* Find the key, authenticate and decrypt: the one opening of both transports. */
static SealedResult
sealed_open_binary(Sealed *s, const EnvelopeAad *aad, const unsigned char *bin, size_t bin_len,
				   int64_t now_ms, unsigned char *plain, size_t *plain_len, EnvelopeHeader *header)
{
	const SealedKey *key;

	if (!envelope_read_header(bin, bin_len, header))
		return SEALED_MALFORMED;
	if ((key = sealed_find_key(s, header->key_id, now_ms)) == NULL)
		return SEALED_UNKNOWN_KEY;
	if (!envelope_open(key->key, aad, bin, bin_len, plain, plain_len))
		return SEALED_FORGED;
	return SEALED_OK;
}

SealedResult
sealed_open(Sealed *s, uint32_t pid, const char *text, size_t len, int64_t now_ms,
			unsigned char *plain, size_t *plain_len, EnvelopeHeader *header)
{
	unsigned char bin[ENVELOPE_MAX_BINARY];
	size_t		bin_len;
	EnvelopeAad aad;
	SealedResult r;

	if (pid == 0 || !envelope_decode(text, len, bin, &bin_len, header))
		return SEALED_MALFORMED;
	if (!envelope_aad_init(&aad, pid, s->database, strlen(s->database), s->channel,
						   strlen(s->channel)))
		return SEALED_FORGED;
	r = sealed_open_binary(s, &aad, bin, bin_len, now_ms, plain, plain_len, header);
	if (r != SEALED_OK)
		return r;
	if (!sealed_accept(s, pid, header->seq, header->part))
	{
		OPENSSL_cleanse(plain, *plain_len);
		return SEALED_REPLAYED;
	}
	return SEALED_OK;
}

bool
sealed_is_wal_message(const char *msg, size_t len)
{
	return len >= ENVELOPE_WAL_MAGIC_LEN && memcmp(msg, ENVELOPE_WAL_MAGIC, ENVELOPE_WAL_MAGIC_LEN) == 0;
}

void
sealed_wal_begin(SealedWalGuard *g, uint32_t xid)
{
	g->txn_xid = xid;
	g->txn_last_part = -1;
}

/*
 * The FullTransactionId whose low half is xid nearest to near: transactions
 * decoded one after the other are far less than 2^31 apart.
 */
static uint64_t
sealed_nearest_full_xid(uint64_t near, uint32_t xid)
{
	uint64_t	best = (near & ~(uint64_t) UINT32_MAX) | xid;

	if (best > near && best - near > (uint64_t) INT32_MAX && best > UINT32_MAX)
		best -= (uint64_t) UINT32_MAX + 1;
	else if (best < near && near - best > (uint64_t) INT32_MAX)
		best += (uint64_t) UINT32_MAX + 1;
	return best;
}

SealedResult
sealed_open_wal(Sealed *s, SealedWalGuard *g, const char *msg, size_t len,
				unsigned char *plain, size_t *plain_len, EnvelopeHeader *header)
{
	EnvelopeAad aad;
	SealedResult r;

	if (!sealed_is_wal_message(msg, len))
		return SEALED_MALFORMED;
	if (!envelope_aad_init_wal(&aad, s->database, strlen(s->database), s->channel,
							   strlen(s->channel)))
		return SEALED_FORGED;
	/* no expiry: the transaction check, not the key's age, stops replays */
	r = sealed_open_binary(s, &aad, (const unsigned char *) msg + ENVELOPE_WAL_MAGIC_LEN,
						   len - ENVELOPE_WAL_MAGIC_LEN, -1, plain, plain_len, header);
	if (r != SEALED_OK)
		return r;
	if ((uint32_t) header->seq != g->txn_xid ||
		(g->last_full_xid != 0 && header->seq != sealed_nearest_full_xid(g->last_full_xid, g->txn_xid)) ||
		(int64_t) header->part <= g->txn_last_part)
	{
		OPENSSL_cleanse(plain, *plain_len);
		return SEALED_REPLAYED;
	}
	g->txn_last_part = header->part;
	g->last_full_xid = header->seq;
	return SEALED_OK;
}
