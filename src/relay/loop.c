/*
 * loop.c - the relay's one event loop: epoll over every descriptor
 *
 * Sockets of clients, the listening sockets, the database connections, the
 * signal self-pipe and the host's own descriptor are all waited on in one
 * epoll_wait.  The only timeout is the nearest deadline that relay.c
 * computes, so the loop never polls.  Level-triggered: a handler that
 * leaves bytes unread is called again on the next turn.
 */
#include "relay_int.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

/* Monotonic milliseconds. */
int64_t
loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
loop_init(Loop *loop)
{
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
	{
		relay_log(RLOG_WARNING, "could not create epoll instance: %s", strerror(errno));
		return false;
	}
	loop->now_ms = loop_clock_ms();
	return true;
}

void
loop_close(Loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

/* Start watching fd for events; the watch must outlive its registration. */
bool
loop_add(Loop *loop, Watch *w, int fd, uint32_t events, WatchHandler handler)
{
	struct epoll_event ev;

	w->fd = fd;
	w->events = events;
	w->handler = handler;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
	{
		relay_log(RLOG_WARNING, "could not watch descriptor %d: %s", fd, strerror(errno));
		return false;
	}
	return true;
}

/* Change the interest set; a no-op when it is unchanged. */
void
loop_modify(Loop *loop, Watch *w, uint32_t events)
{
	struct epoll_event ev;

	if (w->events == events || w->fd < 0)
		return;
	w->events = events;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		relay_log(RLOG_WARNING, "could not modify watch of descriptor %d: %s", w->fd,
				  strerror(errno));
}

/*
 * Watch fd for events with handler, whatever w watched before: a new
 * descriptor replaces the old one (libpq's socket changes across a
 * connection's attempts), the same one gets its interest set changed, -1
 * stops watching.
 */
void
loop_watch(Loop *loop, Watch *w, int fd, uint32_t events, WatchHandler handler)
{
	if (fd == w->fd)
	{
		loop_modify(loop, w, events);
		return;
	}
	if (w->fd >= 0)
		loop_remove(loop, w);
	if (fd >= 0)
		loop_add(loop, w, fd, events, handler);
}

void
loop_remove(Loop *loop, Watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
	w->events = 0;
}

/*
 * Wait for readiness at most timeout_ms and call each ready watch's handler.
 * A handler may remove other watches: owners are freed only by the sweep in
 * relay.c after this returns, so pointers stay valid for the whole batch;
 * a watch removed earlier in the batch has fd -1 and is skipped.
 */
void
loop_wait(Loop *loop, int timeout_ms)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int			n;

	n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout_ms);
	loop->now_ms = loop_clock_ms();
	if (n < 0)
	{
		if (errno != EINTR)
			relay_log(RLOG_WARNING, "epoll_wait failed: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++)
	{
		Watch	   *w = events[i].data.ptr;

		if (w->fd < 0)
			continue;
		w->handler(w, events[i].events);
	}
}
