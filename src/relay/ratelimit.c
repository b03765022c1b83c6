/*
 * ratelimit.c - token buckets; see ratelimit.h
 */
#include "ratelimit.h"

bool
ratelimit_take(RateLimit *rl, int per_minute, int64_t now_ms)
{
	if (per_minute <= 0)
		return true;
	if (rl->last_ms == 0)
		rl->tokens = per_minute;
	else if (now_ms > rl->last_ms)
	{
		rl->tokens += (double) (now_ms - rl->last_ms) * per_minute / 60000.0;
		if (rl->tokens > per_minute)
			rl->tokens = per_minute;
	}
	rl->last_ms = now_ms;
	if (rl->tokens < 1.0)
		return false;
	rl->tokens -= 1.0;
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
