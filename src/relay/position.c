/*
 * position.c - text form of event positions (see position.h)
 */
#include "position.h"

#include <inttypes.h>
#include <stdio.h>

size_t
relay_lsn_format(uint64_t lsn, char out[RELAY_POS_TEXT_MAX])
{
	return (size_t) snprintf(out, RELAY_POS_TEXT_MAX, "%" PRIX32 "/%" PRIX32,
							 (uint32_t) (lsn >> 32), (uint32_t) lsn);
}

size_t
relay_pos_format(RelayPos pos, char out[RELAY_POS_TEXT_MAX])
{
	if (pos.kind == RELAY_POS_WAL)
	{
		size_t		n = relay_lsn_format(pos.major, out);

		return n + (size_t) snprintf(out + n, RELAY_POS_TEXT_MAX - n, ":%" PRIu32, pos.minor);
	}
	return (size_t) snprintf(out, RELAY_POS_TEXT_MAX, "%" PRIu64, pos.major);
}

/* Digits of one base in p[0..len), at most max_digits, into *out. */
static bool
parse_digits(const char *p, size_t len, int base, size_t max_digits, uint64_t limit,
			 uint64_t *out)
{
	uint64_t	v = 0;

	if (len == 0 || len > max_digits)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = p[i];
		unsigned	d;

		if (c >= '0' && c <= '9')
			d = (unsigned) (c - '0');
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned) (c - 'A' + 10);
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned) (c - 'a' + 10);
		else
			return false;
		if (v > (limit - d) / (uint64_t) base)
			return false;
		v = v * (uint64_t) base + d;
	}
	*out = v;
	return true;
}

bool
relay_pos_parse(const char *text, size_t len, RelayPos *pos)
{
	size_t		slash = len;
	size_t		colon = len;
	uint64_t	hi;
	uint64_t	lo;
	uint64_t	idx;

	for (size_t i = 0; i < len; i++)
	{
		if (text[i] == '/' && slash == len)
			slash = i;
		else if (text[i] == ':' && colon == len)
			colon = i;
	}
	if (slash == len && colon == len)
	{
		if (!parse_digits(text, len, 10, 20, UINT64_MAX, &lo))
			return false;
		pos->kind = RELAY_POS_COUNTER;
		pos->major = lo;
		pos->minor = 0;
		return true;
	}
	if (slash == len || colon == len || colon < slash ||
		!parse_digits(text, slash, 16, 8, UINT32_MAX, &hi) ||
		!parse_digits(text + slash + 1, colon - slash - 1, 16, 8, UINT32_MAX, &lo) ||
		!parse_digits(text + colon + 1, len - colon - 1, 10, 10, UINT32_MAX, &idx))
		return false;
	pos->kind = RELAY_POS_WAL;
	pos->major = hi << 32 | lo;
	pos->minor = (uint32_t) idx;
	return true;
}
