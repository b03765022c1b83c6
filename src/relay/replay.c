/*
 * replay.c - the replay window (see replay.h)
 */
#include "replay.h"
#include "relay_int.h"

#include <stdlib.h>
#include <string.h>

void
replay_init(ReplayWindow *w)
{
	memset(w, 0, sizeof(*w));
}

/* Remove the oldest entry. */
static void
replay_pop(ReplayWindow *w, ReplayEvictFn fn, void *arg)
{
	RelayEvent *ev = w->ring[w->head];

	w->ring[w->head] = NULL;
	w->head = (w->head + 1) & (w->cap - 1);
	w->count--;
	w->base++;
	w->bytes -= ev->cost;
	replay_raise_floor(w, ev->pos);
	if (fn)
		fn(arg, ev);
	event_release(ev);
}

void
replay_free(ReplayWindow *w, ReplayEvictFn fn, void *arg)
{
	while (w->count > 0)
		replay_pop(w, fn, arg);
	free(w->ring);
	w->ring = NULL;
	w->cap = 0;
}

void
replay_append(ReplayWindow *w, RelayEvent *ev)
{
	if (w->count == w->cap)
	{
		size_t		ncap = w->cap ? w->cap * 2 : 64;
		RelayEvent **ring = relay_calloc(ncap, sizeof(RelayEvent *));

		for (size_t i = 0; i < w->count; i++)
			ring[i] = w->ring[(w->head + i) & (w->cap - 1)];
		free(w->ring);
		w->ring = ring;
		w->cap = ncap;
		w->head = 0;
	}
	event_retain(ev);
	w->ring[(w->head + w->count) & (w->cap - 1)] = ev;
	w->count++;
	w->bytes += ev->cost;
	w->newest = ev->pos;
}

void
replay_trim(ReplayWindow *w, size_t max_events, size_t max_bytes, int64_t max_age_ms,
			int64_t now_ms, ReplayEvictFn fn, void *arg)
{
	while (w->count > 0 &&
		   (w->count > max_events || w->bytes > max_bytes ||
			w->ring[w->head]->time_ms < now_ms - max_age_ms))
		replay_pop(w, fn, arg);
	/* a window emptied by far is given back */
	if (w->count == 0 && w->cap > 64)
	{
		free(w->ring);
		w->ring = NULL;
		w->cap = 0;
		w->head = 0;
	}
}

RelayEvent *
replay_get(const ReplayWindow *w, uint64_t i)
{
	if (i < w->base || i >= w->base + w->count)
		return NULL;
	return w->ring[(w->head + (size_t) (i - w->base)) & (w->cap - 1)];
}

void
replay_raise_floor(ReplayWindow *w, RelayPos pos)
{
	if (w->floor.kind != pos.kind || relay_pos_cmp(w->floor, pos) < 0)
		w->floor = pos;
}
