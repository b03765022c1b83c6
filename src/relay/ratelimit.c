/*
 * ratelimit.c - token buckets; see ratelimit.h
 */
#include "ratelimit.h"

bool
ratelimit_take(RateLimit *rl, int per_minute, int64_t now_ms)
{
	uint32_t	now = (uint32_t) now_ms ? (uint32_t) now_ms : 1;	/* 0 means unused */

	if (per_minute <= 0)
		return true;
	if (rl->last_ms == 0)
		rl->tokens = (float) per_minute;
	else
	{
		/* unsigned difference: right across the wrap of the 32-bit clock */
		double		tokens = rl->tokens + (double) (uint32_t) (now - rl->last_ms) * per_minute / 60000.0;

		rl->tokens = tokens > per_minute ? (float) per_minute : (float) tokens;
	}
	rl->last_ms = now;
	if (rl->tokens < 1.0f)
		return false;
	rl->tokens -= 1.0f;
	return true;
}

bool
ratelimit_log_ok(LogLimit *ll, int per_minute, int64_t now_ms, uint32_t *suppressed)
{
	if (!ratelimit_take(&ll->bucket, per_minute, now_ms))
	{
		if (ll->suppressed < UINT32_MAX)
			ll->suppressed++;
		return false;
	}
	*suppressed = ll->suppressed;
	ll->suppressed = 0;
	return true;
}
