/*
 * ratelimit.c - at most N log lines per window (see ratelimit.h)
 */
#include "ratelimit.h"

bool
ratelimit_allow(RateLimit *rl, int64_t now_ms, uint64_t *suppressed)
{
	if (rl->used == 0 || now_ms - rl->window_start_ms >= rl->window_ms)
	{
		rl->window_start_ms = now_ms;
		rl->used = 0;
	}
	if (rl->used >= rl->burst)
	{
		rl->suppressed++;
		return false;
	}
	rl->used++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
