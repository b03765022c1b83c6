/*
 * utf8.c - strict incremental UTF-8 validation (RFC 3629, Unicode Table 3-7)
 *
 * The state is the number of continuation bytes still expected, with three
 * extra states for the lead bytes whose second byte has a narrower range
 * (E0, ED, F0, F4).  That is what rules out overlong forms, UTF-16 surrogates
 * and code points above U+10FFFF without decoding the code point.
 */
#include "utf8.h"

/*
 * States.  UTF8_ACCEPT (0) and UTF8_REJECT (1) are in utf8.h; REJECT is
 * sticky.  The others say which bytes may come next.
 */
#define S_CONT1		2			/* one more 80..BF */
#define S_CONT2		3			/* two more 80..BF */
#define S_CONT3		4			/* three more 80..BF */
#define S_E0		5			/* after E0: A0..BF, then one more */
#define S_ED		6			/* after ED: 80..9F (no surrogates), then one */
#define S_F0		7			/* after F0: 90..BF, then two more */
#define S_F4		8			/* after F4: 80..8F (<= U+10FFFF), then two */

/* The state after a lead byte c (in state UTF8_ACCEPT). */
static uint32_t
utf8_lead(unsigned char c)
{
	if (c < 0x80)
		return UTF8_ACCEPT;
	if (c < 0xC2)				/* stray continuation, or overlong C0/C1 */
		return UTF8_REJECT;
	if (c < 0xE0)
		return S_CONT1;
	if (c == 0xE0)
		return S_E0;
	if (c == 0xED)
		return S_ED;
	if (c < 0xF0)
		return S_CONT2;
	if (c == 0xF0)
		return S_F0;
	if (c < 0xF4)
		return S_CONT3;
	if (c == 0xF4)
		return S_F4;
	return UTF8_REJECT;			/* F5..FF never appear in UTF-8 */
}

/* One transition of the automaton. */
static uint32_t
utf8_next(uint32_t state, unsigned char c)
{
	switch (state)
	{
		case UTF8_ACCEPT:
			return utf8_lead(c);
		case S_CONT1:
			return (c >= 0x80 && c <= 0xBF) ? UTF8_ACCEPT : UTF8_REJECT;
		case S_CONT2:
			return (c >= 0x80 && c <= 0xBF) ? S_CONT1 : UTF8_REJECT;
		case S_CONT3:
			return (c >= 0x80 && c <= 0xBF) ? S_CONT2 : UTF8_REJECT;
		case S_E0:
			return (c >= 0xA0 && c <= 0xBF) ? S_CONT1 : UTF8_REJECT;
		case S_ED:
			return (c >= 0x80 && c <= 0x9F) ? S_CONT1 : UTF8_REJECT;
		case S_F0:
			return (c >= 0x90 && c <= 0xBF) ? S_CONT2 : UTF8_REJECT;
		case S_F4:
			return (c >= 0x80 && c <= 0x8F) ? S_CONT2 : UTF8_REJECT;
		default:
			return UTF8_REJECT;
	}
}

/*
 * Feed len bytes to the automaton.  The result is UTF8_ACCEPT at a character
 * boundary, UTF8_REJECT once the input cannot be valid UTF-8 whatever follows
 * (so a caller can fail fast, as RFC 6455 8.1 asks), and another value in the
 * middle of a character.
 */
uint32_t
utf8_validate_step(uint32_t state, const unsigned char *p, size_t len)
{
	size_t		i = 0;

	while (i < len && state != UTF8_REJECT)
	{
		/* ASCII runs are the common case: skip them without the switch */
		if (state == UTF8_ACCEPT)
		{
			while (i < len && p[i] < 0x80)
				i++;
			if (i == len)
				break;
		}
		state = utf8_next(state, p[i]);
		i++;
	}
	return state;
}

/* True if p[0..len) is complete, valid UTF-8. */
bool
utf8_valid(const unsigned char *p, size_t len)
{
	return utf8_validate_step(UTF8_ACCEPT, p, len) == UTF8_ACCEPT;
}

/* Cut s[0..len) to at most max bytes on a character boundary. */
size_t
utf8_prefix(const char *s, size_t len, size_t max)
{
	size_t		n = len < max ? len : max;

	if (n == len)
		return n;
	/* s[n] starts the first character left out: back over continuations */
	while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
		n--;
	return n;
}
