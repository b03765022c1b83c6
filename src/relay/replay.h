/*
 * replay.h - the replay window: recent events kept for resuming clients
 *
 * A FIFO of event references in delivery order, bounded by age, memory and
 * count.  Entries are numbered with absolute indexes that never repeat, so
 * a client catching up holds a cursor that stays valid while the oldest
 * entries go.  The floor is the position of the newest event the window
 * no longer has (or could never have had): a client resuming from a
 * position before it may have missed events, and gets a gap signal.
 */
#ifndef RELAY_REPLAY_H
#define RELAY_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "position.h"

typedef struct ReplayWindow
{
	RelayEvent **ring;			/* capacity a power of two */
	size_t		cap;
	size_t		head;			/* ring index of the oldest */
	size_t		count;
	uint64_t	base;			/* absolute index of the oldest */
	size_t		bytes;			/* RelayEvent.cost of the entries */
	RelayPos	floor;			/* events at or before it may be gone */
	RelayPos	newest;			/* the newest position ever added */
} ReplayWindow;

/* called for each entry leaving the window, before its reference goes */
typedef void (*ReplayEvictFn) (void *arg, RelayEvent *ev);

extern void replay_init(ReplayWindow *w);
extern void replay_free(ReplayWindow *w, ReplayEvictFn fn, void *arg);

/* Keep ev (a reference is taken); ev->pos must be set. */
extern void replay_append(ReplayWindow *w, RelayEvent *ev);

/*
 * Drop the oldest entries while the window holds more than max_events or
 * max_bytes, or entries older than now_ms - max_age_ms (by ev->time_ms).
 */
extern void replay_trim(ReplayWindow *w, size_t max_events, size_t max_bytes, int64_t max_age_ms,
						int64_t now_ms, ReplayEvictFn fn, void *arg);

/* The entry of absolute index i, or NULL if it is not (or no longer) held. */
extern RelayEvent *replay_get(const ReplayWindow *w, uint64_t i);

/* Absolute index one past the newest entry. */
static inline uint64_t
replay_end(const ReplayWindow *w)
{
	return w->base + w->count;
}

/* Raise the floor to pos (a loss at pos); never lowers it. */
extern void replay_raise_floor(ReplayWindow *w, RelayPos pos);

#endif
