/*
 * ratelimit.h - at most N log lines per window, with a count of the rest
 *
 * Log lines that outsiders can cause (a forged notification, a misbehaving
 * client) must not flood the log.  A RateLimit lets a burst of lines through
 * per window and counts those it holds back, so that the next line that goes
 * out can say how many were suppressed.
 */
#ifndef RELAY_RATELIMIT_H
#define RELAY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct RateLimit
{
	int			burst;			/* lines allowed per window */
	int			window_ms;
	int64_t		window_start_ms;
	int			used;			/* lines let through in this window */
	uint64_t	suppressed;		/* lines held back since the last one out */
} RateLimit;

#define RATELIMIT_INIT(burst, window_ms) {(burst), (window_ms), 0, 0, 0}

/*
 * May a line go out at now_ms?  If so returns true and sets *suppressed to
 * the number held back since the previous line that went out (to mention
 * in this one); if not, counts it and returns false.
 */
extern bool ratelimit_allow(RateLimit *rl, int64_t now_ms, uint64_t *suppressed);

#endif
