/*
 * utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, surrogates, or
 * code points above U+10FFFF), incremental so fragmented text messages can be
 * checked as their frames arrive.
 */
#ifndef RELAY_UTF8_H
#define RELAY_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_ACCEPT 0
#define UTF8_REJECT 1

/* Feed bytes; state starts at UTF8_ACCEPT.  Returns the new state. */
extern uint32_t utf8_validate_step(uint32_t state, const unsigned char *p, size_t len);

/* Whole-buffer check. */
extern bool utf8_valid(const unsigned char *p, size_t len);

/*
 * The length of the longest prefix of s[0..len) no longer than max that
 * does not end inside a UTF-8 sequence: where to cut client text quoted in
 * a message, so that the message stays valid UTF-8.
 */
extern size_t utf8_prefix(const char *s, size_t len, size_t max);

#endif
