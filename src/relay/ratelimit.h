/*
 * ratelimit.h - token buckets: "at most N per minute", and rate-limited logging
 *
 * One bucket holds up to N tokens and gains N per minute; taking a token
 * fails when it is empty.  Used for per-address connection rates, messages
 * per connection and log lines; a bucket is 8 bytes and needs no timer.
 */
#ifndef RELAY_RATELIMIT_H
#define RELAY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct RateLimit
{
	float		tokens;			/* left, at last_ms */
	uint32_t	last_ms;		/* low 32 bits of the clock; 0: never used (full) */
} RateLimit;

/*
 * Take one token from a bucket of per_minute tokens (refilled at per_minute
 * a minute) at time now_ms (monotonic, > 0).  per_minute <= 0 means no
 * limit.  False when the bucket is empty.
 */
extern bool ratelimit_take(RateLimit *rl, int per_minute, int64_t now_ms);

/*
 * A bucket is 8 bytes (one per connection for its messages): the clock is
 * kept modulo 2^32 ms, so a bucket idle for more than 49 days may refill
 * less than it should, never more.
 */

/* A bucket for log lines, counting the lines it held back. */
typedef struct LogLimit
{
	RateLimit	bucket;
	uint32_t	suppressed;
} LogLimit;

/*
 * May a log line be written now?  When it may, *suppressed is set to the
 * number of lines held back since the last one written (say so in the line),
 * and the count starts again.
 */
extern bool ratelimit_log_ok(LogLimit *ll, int per_minute, int64_t now_ms, uint32_t *suppressed);

#endif
