/*
 * pgoutput_fuzz.c - libFuzzer target for the replication stream parser and
 * event positions (build and run with test/fuzz/run.sh)
 *
 * The input is parsed as a CopyData message, as the pgoutput message inside
 * it, and as a position.  Besides sanitizer reports it checks that what the
 * parser hands out lies inside the input, and that a position that parses
 * formats back to text that parses to the same position.
 */
#include "pgoutput.h"
#include "position.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const void *p, size_t len, const uint8_t *data, size_t size)
{
	const uint8_t *q = p;

	if (q < data || q > data + size || len > (size_t) (data + size - q))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, exactly the input's size, so ASan sees any overread */
	uint8_t    *buf = malloc(size ? size : 1);
	PgoCopy		c;
	PgoMsg		m;
	RelayPos	pos;
	const char *error;

	PgoCopyKind k;

	memcpy(buf, data, size);
	k = pgoutput_parse_copy((const char *) buf, size, &c, &error);
	if ((k == PGO_COPY_INVALID) != (error != NULL))
		abort();
	if (k == PGO_COPY_XLOGDATA)
	{
		inside(c.data, c.data_len, buf, size);
		if (pgoutput_parse_msg(c.data, c.data_len, &m, &error) == PGO_MSG_MESSAGE)
		{
			inside(m.prefix, strlen(m.prefix) + 1, buf, size);
			inside(m.content, m.content_len, buf, size);
		}
	}
	if (pgoutput_parse_msg((const char *) buf, size, &m, &error) == PGO_MSG_MESSAGE)
	{
		inside(m.prefix, strlen(m.prefix) + 1, buf, size);
		inside(m.content, m.content_len, buf, size);
	}
	if (relay_pos_parse((const char *) buf, size, &pos))
	{
		char		text[RELAY_POS_TEXT_MAX];
		size_t		n = relay_pos_format(pos, text);
		RelayPos	back;

		if (n >= RELAY_POS_TEXT_MAX || !relay_pos_parse(text, n, &back) ||
			back.kind != pos.kind || relay_pos_cmp(back, pos) != 0)
			abort();
	}
	free(buf);
	return 0;
}
