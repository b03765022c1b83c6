/*
 * utf8_test.c - strict UTF-8 validation: the cases of Markus Kuhn's stress
 * test and Autobahn 6.x (overlongs, surrogates, > U+10FFFF, truncation,
 * and every split of a valid text across fragments)
 */
#include "unit.h"
#include "utf8.h"

/* Whole-buffer validity of a byte string given as a C literal. */
static bool
valid(const char *s, size_t len)
{
	return utf8_valid((const unsigned char *) s, len);
}

#define VALID(lit) valid((lit), sizeof(lit) - 1)

/* Feed s in two pieces split at every position; all must agree with whole. */
static bool
split_agrees(const char *s, size_t len)
{
	bool		whole = valid(s, len);
	size_t		i;

	for (i = 0; i <= len; i++)
	{
		uint32_t	st = utf8_validate_step(UTF8_ACCEPT, (const unsigned char *) s, i);

		st = utf8_validate_step(st, (const unsigned char *) s + i, len - i);
		if ((st == UTF8_ACCEPT) != whole)
			return false;
	}
	return true;
}

/* Index at which byte-by-byte feeding first reaches REJECT, or -1. */
static int
fail_at(const char *s, size_t len)
{
	uint32_t	st = UTF8_ACCEPT;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		st = utf8_validate_step(st, (const unsigned char *) s + i, 1);
		if (st == UTF8_REJECT)
			return (int) i;
	}
	return -1;
}

/* utf8_prefix: a cut never falls inside a character */
static void
test_prefix(void)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";	/* a é € 😀 z: 1+2+3+4+1 */

	CHECK(utf8_prefix(s, 11, 100) == 11);
	CHECK(utf8_prefix(s, 11, 11) == 11);
	CHECK(utf8_prefix(s, 11, 10) == 10);	/* before z */
	CHECK(utf8_prefix(s, 11, 9) == 6);	/* inside 😀: before it */
	CHECK(utf8_prefix(s, 11, 7) == 6);
	CHECK(utf8_prefix(s, 11, 6) == 6);
	CHECK(utf8_prefix(s, 11, 5) == 3);	/* inside € */
	CHECK(utf8_prefix(s, 11, 2) == 1);	/* inside é */
	CHECK(utf8_prefix(s, 11, 1) == 1);
	CHECK(utf8_prefix(s, 11, 0) == 0);
	for (size_t max = 0; max <= 11; max++)
		CHECK(utf8_valid((const unsigned char *) s, utf8_prefix(s, 11, max)));
}

int
main(void)
{
	static const char hello[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
		"-Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-"
		"UTF-8!!\xf0\x9f\x98\x80";
	unsigned char b[4];
	unsigned int c;
	int			ok;

	/* valid text: ASCII, 2-, 3-, 4-byte characters, and the empty string */
	CHECK(VALID(""));
	CHECK(VALID("plain ascii"));
	CHECK(VALID(hello));
	CHECK(VALID("\x00"));		/* U+0000 is a character */

	/* boundaries of each length (Kuhn 2.1-2.3) */
	CHECK(VALID("\x7f"));
	CHECK(VALID("\xc2\x80"));	/* U+0080 */
	CHECK(VALID("\xdf\xbf"));	/* U+07FF */
	CHECK(VALID("\xe0\xa0\x80")); /* U+0800 */
	CHECK(VALID("\xef\xbf\xbf")); /* U+FFFF */
	CHECK(VALID("\xed\x9f\xbf")); /* U+D7FF */
	CHECK(VALID("\xee\x80\x80")); /* U+E000 */
	CHECK(VALID("\xef\xbf\xbd")); /* U+FFFD */
	CHECK(VALID("\xf0\x90\x80\x80")); /* U+10000 */
	CHECK(VALID("\xf4\x8f\xbf\xbf")); /* U+10FFFF */

	/* above U+10FFFF and 5/6-byte forms (Autobahn 6.3, 6.8) */
	CHECK(!VALID("\xf4\x90\x80\x80")); /* U+110000 */
	CHECK(!VALID("\xf7\xbf\xbf\xbf"));
	CHECK(!VALID("\xf8\x88\x80\x80\x80"));
	CHECK(!VALID("\xfc\x84\x80\x80\x80\x80"));
	CHECK(!VALID("\xfe"));
	CHECK(!VALID("\xff"));

	/* stray continuation bytes (Kuhn 3.1) */
	CHECK(!VALID("\x80"));
	CHECK(!VALID("\xbf"));
	CHECK(!VALID("a\x80\x80"));

	/* lone lead bytes followed by space (Kuhn 3.2) */
	CHECK(!VALID("\xc0 "));
	CHECK(!VALID("\xe0 "));
	CHECK(!VALID("\xf0 "));

	/* truncated sequences at the end (Kuhn 3.3, Autobahn 6.6) */
	CHECK(!VALID("\xc2"));
	CHECK(!VALID("\xe0\xa0"));
	CHECK(!VALID("\xf0\x90\x80"));
	CHECK(!VALID("\xce\xba\xe1\xbd"));

	/* overlong forms (Kuhn 4.x) */
	CHECK(!VALID("\xc0\xaf"));
	CHECK(!VALID("\xc1\xbf"));
	CHECK(!VALID("\xe0\x80\xaf"));
	CHECK(!VALID("\xe0\x9f\xbf"));
	CHECK(!VALID("\xf0\x80\x80\xaf"));
	CHECK(!VALID("\xf0\x8f\xbf\xbf"));
	CHECK(!VALID("\xc0\x80"));	/* overlong NUL ("modified UTF-8") */

	/* UTF-16 surrogates, single and paired (Kuhn 5.1, 5.2) */
	CHECK(!VALID("\xed\xa0\x80"));	/* U+D800 */
	CHECK(!VALID("\xed\xad\xbf"));
	CHECK(!VALID("\xed\xbf\xbf"));	/* U+DFFF */
	CHECK(!VALID("\xed\xa0\x80\xed\xb0\x80"));

	/* noncharacters are valid UTF-8 (Kuhn 5.3) */
	CHECK(VALID("\xef\xbf\xbe"));	/* U+FFFE */
	CHECK(VALID("\xf4\x8f\xbf\xbe"));

	/* Autobahn 6.4: fail fast, at the first byte that cannot be valid */
	CHECK(fail_at("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80-edited", 22) == 12);
	CHECK(fail_at("\xed\xa0\x80", 3) == 1);
	CHECK(fail_at("\xe0\x80\xaf", 3) == 1);
	CHECK(fail_at("\xc0\xaf", 2) == 0);
	CHECK(fail_at("ab\xff", 3) == 2);
	/* a truncated sequence is not yet an error: more bytes may come */
	CHECK(fail_at("\xf0\x90\x80", 3) == -1);
	CHECK(utf8_validate_step(UTF8_ACCEPT, (const unsigned char *) "\xf0\x90\x80", 3) != UTF8_ACCEPT);

	/* Autobahn 6.2: valid text split at every byte across fragments */
	CHECK(split_agrees(hello, sizeof(hello) - 1));
	CHECK(split_agrees("\xf4\x8f\xbf\xbf", 4));
	CHECK(split_agrees("\xed\xa0\x80", 3));
	CHECK(split_agrees("\xf0\x90\x80", 3));

	/* REJECT is sticky */
	CHECK(utf8_validate_step(UTF8_REJECT, (const unsigned char *) "a", 1) == UTF8_REJECT);

	/* exhaustive: every 2-byte sequence agrees with a reference decoder */
	ok = 1;
	for (c = 0; c < 0x10000; c++)
	{
		unsigned int b0 = c >> 8,
					b1 = c & 0xff;
		bool		want;

		b[0] = (unsigned char) b0;
		b[1] = (unsigned char) b1;
		if (b0 < 0x80)
			want = b1 < 0x80;
		else
			want = b0 >= 0xc2 && b0 <= 0xdf && (b1 & 0xc0) == 0x80;
		if (utf8_valid(b, 2) != want)
			ok = 0;
	}
	CHECK(ok);

	/* exhaustive: every code point encodes to text that is valid iff scalar */
	ok = 1;
	for (c = 0; c < 0x110000; c++)
	{
		size_t		n;
		bool		want = c < 0xd800 || c > 0xdfff;

		if (c < 0x80)
		{
			b[0] = (unsigned char) c;
			n = 1;
		}
		else if (c < 0x800)
		{
			b[0] = (unsigned char) (0xc0 | (c >> 6));
			b[1] = (unsigned char) (0x80 | (c & 0x3f));
			n = 2;
		}
		else if (c < 0x10000)
		{
			b[0] = (unsigned char) (0xe0 | (c >> 12));
			b[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
			b[2] = (unsigned char) (0x80 | (c & 0x3f));
			n = 3;
		}
		else
		{
			b[0] = (unsigned char) (0xf0 | (c >> 18));
			b[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3f));
			b[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
			b[3] = (unsigned char) (0x80 | (c & 0x3f));
			n = 4;
		}
		if (utf8_valid(b, n) != want)
			ok = 0;
	}
	CHECK(ok);

	test_prefix();
	return unit_summary("utf8");
}
