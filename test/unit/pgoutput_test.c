/*
 * pgoutput_test.c - the replication stream parser (pgoutput.c) and event
 * positions (position.c): valid messages as a PostgreSQL 15 walsender
 * sends them, then every truncation and length lie of them, which must be
 * refused, never read past
 */
#include "unit.h"
#include "pgoutput.h"
#include "position.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct Msg
{
	unsigned char b[512];
	size_t		n;
} Msg;

static void
put(Msg *m, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		m->b[m->n++] = (unsigned char) (v >> (8 * i));
}

static void
put_str(Msg *m, const char *s, size_t len)
{
	memcpy(m->b + m->n, s, len);
	m->n += len;
}

/* 'B': final LSN, commit time, xid */
static Msg
begin_msg(void)
{
	Msg			m = {{0}, 0};

	put(&m, 'B', 1);
	put(&m, UINT64_C(0x16B374D848), 8);
	put(&m, 800000000000000, 8);
	put(&m, 731, 4);
	return m;
}

/* 'M': flags, LSN, prefix, length, content */
static Msg
message_msg(const char *prefix, const char *content, size_t len, int flags)
{
	Msg			m = {{0}, 0};

	put(&m, 'M', 1);
	put(&m, (uint64_t) flags, 1);
	put(&m, UINT64_C(0x16B374D000), 8);
	put_str(&m, prefix, strlen(prefix) + 1);
	put(&m, len, 4);
	put_str(&m, content, len);
	return m;
}

/* 'C': flags, commit LSN, end LSN, commit time */
static Msg
commit_msg(void)
{
	Msg			m = {{0}, 0};

	put(&m, 'C', 1);
	put(&m, 0, 1);
	put(&m, UINT64_C(0x16B374D848), 8);
	put(&m, UINT64_C(0x16B374D878), 8);
	put(&m, 800000000000000, 8);
	return m;
}

/* Every proper prefix of a valid message is refused. */
static bool
truncations_refused(const Msg *m)
{
	for (size_t n = 0; n < m->n; n++)
	{
		PgoMsg		out;
		const char *error;
		unsigned char *copy = malloc(n ? n : 1);	/* ASan sees any overread */
		PgoMsgKind k;

		memcpy(copy, m->b, n);
		k = pgoutput_parse_msg((const char *) copy, n, &out, &error);
		free(copy);
		if (k != PGO_MSG_INVALID || error == NULL)
			return false;
	}
	return true;
}

static void
test_messages(void)
{
	Msg			m;
	PgoMsg		out;
	const char *error;

	m = begin_msg();
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_BEGIN);
	CHECK(out.final_lsn == UINT64_C(0x16B374D848));
	CHECK(out.commit_time == 800000000000000);
	CHECK(out.xid == 731);
	CHECK(truncations_refused(&m));
	m.b[m.n++] = 0;
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_INVALID);

	m = message_msg("pg_realtime", "\0\0\0\2{}", 6, 1);
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_MESSAGE);
	CHECK(out.transactional);
	CHECK(out.msg_lsn == UINT64_C(0x16B374D000));
	CHECK_STR(out.prefix, "pg_realtime");
	CHECK(out.content_len == 6 && memcmp(out.content, "\0\0\0\2{}", 6) == 0);
	CHECK(truncations_refused(&m));

	m = message_msg("other", "", 0, 0);
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_MESSAGE);
	CHECK(!out.transactional && out.content_len == 0);
	CHECK_STR(out.prefix, "other");

	/* a content length that claims more, or less, than there is */
	m = message_msg("pg_realtime", "abcd", 4, 1);
	m.b[m.n - 5] = 5;
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_INVALID);
	m.b[m.n - 5] = 3;
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_INVALID);
	m.b[m.n - 8] = 0xff;		/* 4 GB */
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_INVALID);

	/* a prefix without its NUL */
	{
		Msg			p = {{0}, 0};

		put(&p, 'M', 1);
		put(&p, 1, 1);
		put(&p, 1, 8);
		put_str(&p, "pg_realtime", 11);
		CHECK(pgoutput_parse_msg((const char *) p.b, p.n, &out, &error) == PGO_MSG_INVALID);
	}

	m = commit_msg();
	CHECK(pgoutput_parse_msg((const char *) m.b, m.n, &out, &error) == PGO_MSG_COMMIT);
	CHECK(out.commit_lsn == UINT64_C(0x16B374D848));
	CHECK(out.end_lsn == UINT64_C(0x16B374D878));
	CHECK(truncations_refused(&m));

	/* relation and row messages are skipped whatever follows; unknown types fail */
	CHECK(pgoutput_parse_msg("R", 1, &out, &error) == PGO_MSG_OTHER);
	CHECK(pgoutput_parse_msg("Ixyz", 4, &out, &error) == PGO_MSG_OTHER);
	CHECK(pgoutput_parse_msg("Z", 1, &out, &error) == PGO_MSG_INVALID && error != NULL);
	CHECK(pgoutput_parse_msg("", 0, &out, &error) == PGO_MSG_INVALID && error != NULL);
}

static void
test_copy(void)
{
	Msg			m = {{0}, 0};
	PgoCopy		c;
	const char *error;

	put(&m, 'w', 1);
	put(&m, 100, 8);
	put(&m, 200, 8);
	put(&m, 300, 8);
	put_str(&m, "B", 1);
	CHECK(pgoutput_parse_copy((const char *) m.b, m.n, &c, &error) == PGO_COPY_XLOGDATA);
	CHECK(c.wal_start == 100 && c.wal_end == 200 && c.send_time == 300);
	CHECK(c.data_len == 1 && c.data[0] == 'B');
	for (size_t n = 0; n < 25; n++)
		CHECK(pgoutput_parse_copy((const char *) m.b, n, &c, &error) == PGO_COPY_INVALID);

	m.n = 0;
	put(&m, 'k', 1);
	put(&m, 0x1234, 8);
	put(&m, 5, 8);
	put(&m, 1, 1);
	CHECK(pgoutput_parse_copy((const char *) m.b, m.n, &c, &error) == PGO_COPY_KEEPALIVE);
	CHECK(c.wal_end == 0x1234 && c.reply_requested);
	CHECK(pgoutput_parse_copy((const char *) m.b, m.n - 1, &c, &error) == PGO_COPY_INVALID);
	m.b[m.n++] = 0;
	CHECK(pgoutput_parse_copy((const char *) m.b, m.n, &c, &error) == PGO_COPY_INVALID);
	CHECK(pgoutput_parse_copy("x", 1, &c, &error) == PGO_COPY_INVALID && error != NULL);
}

static void
test_status(void)
{
	char		s[PGO_STATUS_LEN];

	pgoutput_status_update(s, UINT64_C(0x0102030405060708), 0x10, PGO_EPOCH_OFFSET_US + 7, true);
	CHECK(s[0] == 'r');
	CHECK(s[1] == 1 && s[8] == 8);	/* written, big-endian */
	CHECK(s[16] == 0x10 && s[24] == 0x10);	/* flushed = applied */
	CHECK(s[32] == 7);			/* microseconds since 2000 */
	CHECK(s[33] == 1);
}

static void
test_positions(void)
{
	RelayPos	p;
	char		text[RELAY_POS_TEXT_MAX];

	CHECK(relay_pos_parse("16/B374D848:3", 13, &p));
	CHECK(p.kind == RELAY_POS_WAL && p.major == UINT64_C(0x16B374D848) && p.minor == 3);
	CHECK(relay_pos_format(p, text) == 13);
	CHECK_STR(text, "16/B374D848:3");
	CHECK(relay_pos_parse("0/0:0", 5, &p) && p.major == 0 && p.minor == 0);
	CHECK(relay_pos_parse("ffffffff/ffffffff:4294967295", 28, &p));
	CHECK(p.major == UINT64_MAX && p.minor == UINT32_MAX);
	CHECK(relay_pos_format(p, text) == 28);

	CHECK(relay_pos_parse("42", 2, &p) && p.kind == RELAY_POS_COUNTER && p.major == 42);
	CHECK(relay_pos_parse("18446744073709551615", 20, &p) && p.major == UINT64_MAX);
	relay_pos_format(p, text);
	CHECK_STR(text, "18446744073709551615");

	/* refused: overflow, signs, spaces, missing parts, extra separators */
	{
		static const char *const bad[] = {
			"", "18446744073709551616", "-1", "+1", " 1", "1 ", "0x10", "1/2", "1:2",
			"1/:2", "/1:2", "1/2:", "100000000/0:0", "0/100000000:0", "0/0:4294967296",
			"0/0:1:2", "0/0/0:1", "1:2/3", "g/0:0", "0/0:a", NULL
		};

		for (int i = 0; bad[i]; i++)
			CHECK(!relay_pos_parse(bad[i], strlen(bad[i]), &p));
	}

	/* order: commit LSN first, then the index */
	{
		RelayPos	a = {10, 5, RELAY_POS_WAL};
		RelayPos	b = {11, 0, RELAY_POS_WAL};
		RelayPos	c = {11, 1, RELAY_POS_WAL};

		CHECK(relay_pos_cmp(a, b) < 0 && relay_pos_cmp(b, c) < 0 && relay_pos_cmp(c, a) > 0);
		CHECK(relay_pos_cmp(c, c) == 0);
	}
}

int
main(void)
{
	test_messages();
	test_copy();
	test_status();
	test_positions();
	return unit_summary("pgoutput");
}
