/*
 * listener.c - one LISTEN connection to PostgreSQL, driven by the loop
 *
 * An explicit libpq state machine (as pg_cron does it, but with the relay's
 * loop instead of a capped poll): PQconnectStartParams/PQconnectPoll, then
 * LISTEN, then notifications are drained whenever the socket is readable,
 * whatever the clients do, so PostgreSQL's NOTIFY queue never fills behind
 * us.  Events too large for NOTIFY arrive as pointers; they are fetched from
 * realtime.large_events one query at a time, and the events behind them wait
 * in a FIFO so that clients still see commit order.  A dropped connection is
 * re-established with exponential backoff.
 */
#include "relay_int.h"
#include "log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define LISTENER_BACKOFF_MIN_MS 100
#define LISTENER_CONNECT_TIMEOUT_MS 10000

typedef enum ListenerState
{
	LISTENER_WAITING,			/* backoff before the next connection attempt */
	LISTENER_CONNECTING,		/* PQconnectPoll in progress */
	LISTENER_READY				/* connected; LISTEN sent or done */
} ListenerState;

typedef enum ListenerQuery
{
	QUERY_NONE,
	QUERY_LISTEN,
	QUERY_FETCH,
	QUERY_PURGE
} ListenerQuery;

/* A notification waiting for its turn: ready, or a large event to fetch. */
typedef struct PendingEvent
{
	struct PendingEvent *next;
	RelayEvent *event;			/* NULL until fetched (large) */
	int64_t		large_id;		/* 0 for inline events */
	bool		done;			/* event set, or fetch failed: skip */
	char		timestamp[32];
} PendingEvent;

struct Listener
{
	Watch		watch;
	Relay	   *relay;
	char	   *conninfo;
	char	   *channel;
	PGconn	   *conn;
	ListenerState state;
	ListenerQuery query;		/* the query in flight */
	bool		listening;
	bool		listen_failed;	/* LISTEN refused: reconnect after backoff */
	int64_t		deadline_ms;	/* backoff end or connect timeout; -1 none */
	int			backoff_ms;
	bool		ever_connected;
	PendingEvent *head;
	PendingEvent *tail;
	int			purge_retention_s;	/* > 0: purge wanted when idle */
};

static void listener_on_io(Watch *w, uint32_t events);
static void listener_start(Listener *l);
static void listener_next_query(Listener *l);

static void
listener_watch_socket(Listener *l, uint32_t events)
{
	int			fd = PQsocket(l->conn);

	if (fd != l->watch.fd)
	{
		if (l->watch.fd >= 0)
			loop_remove(&l->relay->loop, &l->watch);
		if (fd >= 0)
			loop_add(&l->relay->loop, &l->watch, fd, events, listener_on_io);
	}
	else
		loop_modify(&l->relay->loop, &l->watch, events);
}

/* Drop the connection and schedule the next attempt. */
static void
listener_fail(Listener *l, const char *what)
{
	char	   *msg = l->conn ? PQerrorMessage(l->conn) : "";
	size_t		n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	relay_log(RLOG_WARNING, "database listener: %s: %.*s; retrying in %d ms%s", what, (int) n, msg,
			  l->backoff_ms,
			  l->listening ? " (events committed until then are not relayed; clients get a gap signal)" : "");
	if (l->watch.fd >= 0)
		loop_remove(&l->relay->loop, &l->watch);
	if (l->conn)
		PQfinish(l->conn);
	l->conn = NULL;
	l->listening = false;
	l->query = QUERY_NONE;
	l->state = LISTENER_WAITING;
	l->deadline_ms = l->relay->loop.now_ms + l->backoff_ms;
	l->backoff_ms *= 2;
	if (l->backoff_ms > l->relay->config.reconnect_max_ms)
		l->backoff_ms = l->relay->config.reconnect_max_ms;
	if (l->backoff_ms < LISTENER_BACKOFF_MIN_MS)
		l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
}

Listener *
listener_create(Relay *relay, const char *conninfo, const char *channel)
{
	Listener   *l = relay_calloc(1, sizeof(Listener));

	l->relay = relay;
	l->watch.fd = -1;
	l->conninfo = relay_strdup(conninfo);
	l->channel = relay_strdup(channel);
	l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
	l->deadline_ms = -1;
	listener_start(l);
	return l;
}

void
listener_destroy(Listener *l)
{
	PendingEvent *p = l->head;

	while (p)
	{
		PendingEvent *next = p->next;

		if (p->event)
			event_release(p->event);
		free(p);
		p = next;
	}
	if (l->watch.fd >= 0)
		loop_remove(&l->relay->loop, &l->watch);
	if (l->conn)
		PQfinish(l->conn);
	free(l->conninfo);
	free(l->channel);
	free(l);
}

bool
listener_connected(const Listener *l)
{
	return l->state == LISTENER_READY && l->listening;
}

int64_t
listener_next_deadline(Listener *l)
{
	return l->state == LISTENER_READY ? -1 : l->deadline_ms;
}

void
listener_on_timer(Listener *l)
{
	if (l->state == LISTENER_WAITING)
		listener_start(l);
	else if (l->state == LISTENER_CONNECTING)
		listener_fail(l, "connection timed out");
}

void
listener_request_purge(Listener *l, int retention_s)
{
	l->purge_retention_s = retention_s;
	listener_next_query(l);
}

/* Begin a non-blocking connection attempt. */
static void
listener_start(Listener *l)
{
	/*
	 * Bounded waits by default: a fetch that hangs times out, and a database
	 * host that vanishes is noticed in about 30 s rather than after the OS's
	 * two-hour keepalive.  They come before dbname, whose expansion (the
	 * user's connection string) overrides them.
	 */
	const char *keys[] = {"options", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "dbname", "fallback_application_name", NULL};
	const char *values[] = {"-c statement_timeout=30s", "10", "5", "3",
	l->conninfo, "pg_realtime", NULL};

	if (l->ever_connected)
		l->relay->stats.db_reconnects++;
	l->conn = PQconnectStartParams(keys, values, 1);
	if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD)
	{
		listener_fail(l, "could not start connection");
		return;
	}
	l->state = LISTENER_CONNECTING;
	l->deadline_ms = l->relay->loop.now_ms + LISTENER_CONNECT_TIMEOUT_MS;
	listener_watch_socket(l, EPOLLOUT);
}

/* ------------------------------------------------------------ events */

/* Publish, in order, every pending event that is ready. */
static void
listener_drain_pending(Listener *l)
{
	while (l->head && l->head->done)
	{
		PendingEvent *p = l->head;

		l->head = p->next;
		if (l->head == NULL)
			l->tail = NULL;
		if (p->event)
		{
			relay_publish(l->relay, p->event);
			event_release(p->event);
		}
		free(p);
	}
}

static void
listener_push_pending(Listener *l, RelayEvent *ev, int64_t large_id, const char *ts)
{
	PendingEvent *p = relay_calloc(1, sizeof(PendingEvent));

	p->event = ev;
	p->large_id = large_id;
	p->done = (ev != NULL);
	strcpy(p->timestamp, ts);
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
}

static void
listener_on_notification(Listener *l, const char *payload)
{
	RelayEvent *ev = NULL;
	int64_t		large_id = 0;
	const char *error = NULL;
	char		ts[32];

	event_format_now(ts);
	switch (event_parse_notify(payload, strlen(payload), ts, &ev, &large_id, &error))
	{
		case EVENT_NOTIFY_INLINE:
			if (l->head == NULL)
			{
				relay_publish(l->relay, ev);
				event_release(ev);
			}
			else
				listener_push_pending(l, ev, 0, ts);
			break;
		case EVENT_NOTIFY_LARGE:
			listener_push_pending(l, NULL, large_id, ts);
			break;
		case EVENT_NOTIFY_INVALID:
			l->relay->stats.events_invalid++;
			relay_log(RLOG_WARNING, "database listener: ignoring invalid notification on \"%s\": %s",
					  l->channel, error ? error : "?");
			break;
	}
}

/* The first large event still to fetch, if any. */
static PendingEvent *
listener_next_fetch(Listener *l)
{
	for (PendingEvent *p = l->head; p; p = p->next)
		if (!p->done)
			return p;
	return NULL;
}

/* Send the next query if none is in flight: LISTEN, then fetches, then purge. */
static void
listener_next_query(Listener *l)
{
	PendingEvent *fetch;
	int			sent = 0;

	if (l->state != LISTENER_READY || l->query != QUERY_NONE)
		return;
	if (!l->listening)
	{
		char	   *ident = PQescapeIdentifier(l->conn, l->channel, strlen(l->channel));
		Buf			q = BUF_INIT;

		buf_printf(&q, "LISTEN %s", ident ? ident : "pg_realtime");
		PQfreemem(ident);
		sent = PQsendQuery(l->conn, q.data);
		buf_free(&q);
		l->query = QUERY_LISTEN;
	}
	else if ((fetch = listener_next_fetch(l)) != NULL)
	{
		char		id[24];
		const char *params[1] = {id};

		snprintf(id, sizeof(id), "%lld", (long long) fetch->large_id);
		sent = PQsendQueryParams(l->conn, "SELECT event FROM realtime.large_events WHERE id = $1",
								 1, NULL, params, NULL, NULL, 0);
		l->query = QUERY_FETCH;
	}
	else if (l->purge_retention_s > 0)
	{
		char		retention[32];
		const char *params[1] = {retention};

		snprintf(retention, sizeof(retention), "%d seconds", l->purge_retention_s);
		sent = PQsendQueryParams(l->conn, "SELECT realtime.purge_large_events($1::interval)",
								 1, NULL, params, NULL, NULL, 0);
		l->purge_retention_s = 0;
		l->query = QUERY_PURGE;
	}
	else
		return;

	if (!sent)
	{
		listener_fail(l, "could not send query");
		return;
	}
	/* a short query usually leaves at once; ask for writability only if not */
	listener_watch_socket(l, PQflush(l->conn) == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* One result of the query in flight. */
static void
listener_on_result(Listener *l, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	switch (l->query)
	{
		case QUERY_LISTEN:
			if (ok)
			{
				/* what was committed while we were not listening is lost */
				if (l->ever_connected)
					relay_signal_gap(l->relay);
				l->listening = true;
				l->ever_connected = true;
				l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
				relay_log(RLOG_INFO, "database listener: listening on channel \"%s\" in database \"%s\"",
						  l->channel, PQdb(l->conn));
			}
			else
				l->listen_failed = true;
			break;
		case QUERY_FETCH:
			{
				PendingEvent *p = listener_next_fetch(l);
				const char *error = NULL;
				int64_t		ignored;

				if (p == NULL)
					break;
				if (ok && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
				{
					if (event_parse_notify(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0),
										   p->timestamp, &p->event, &ignored, &error)
						!= EVENT_NOTIFY_INLINE)
					{
						if (p->event)
							event_release(p->event);
						p->event = NULL;
						l->relay->stats.events_invalid++;
						relay_log(RLOG_WARNING, "database listener: large event %lld is invalid: %s",
								  (long long) p->large_id, error ? error : "not an inline event");
					}
				}
				else
				{
					l->relay->stats.events_invalid++;
					relay_log(RLOG_WARNING, "database listener: large event %lld could not be read: %s",
							  (long long) p->large_id,
							  ok ? "row not found (purged?)" : PQresultErrorMessage(res));
				}
				p->done = true;
				listener_drain_pending(l);
			}
			break;
		case QUERY_PURGE:
			if (!ok)
				relay_log(RLOG_WARNING, "database listener: purging large events failed: %s",
						  PQresultErrorMessage(res));
			break;
		case QUERY_NONE:
			break;
	}
}

static void
listener_on_io(Watch *w, uint32_t events)
{
	Listener   *l = (Listener *) w;
	PGnotify   *note;

	if (l->state == LISTENER_CONNECTING)
	{
		switch (PQconnectPoll(l->conn))
		{
			case PGRES_POLLING_READING:
				listener_watch_socket(l, EPOLLIN);
				return;
			case PGRES_POLLING_WRITING:
				listener_watch_socket(l, EPOLLOUT);
				return;
			case PGRES_POLLING_OK:
				if (PQsetnonblocking(l->conn, 1) != 0)
				{
					listener_fail(l, "could not make the connection non-blocking");
					return;
				}
				l->state = LISTENER_READY;
				l->deadline_ms = -1;
				listener_watch_socket(l, EPOLLIN);
				listener_next_query(l);
				return;
			default:
				listener_fail(l, "could not connect");
				return;
		}
	}

	if ((events & EPOLLOUT) && PQflush(l->conn) == 0)
		loop_modify(&l->relay->loop, &l->watch, EPOLLIN);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (!PQconsumeInput(l->conn))
	{
		listener_fail(l, "connection lost");
		return;
	}
	while (l->query != QUERY_NONE && !PQisBusy(l->conn))
	{
		PGresult   *res = PQgetResult(l->conn);

		if (res == NULL)
		{
			l->query = QUERY_NONE;
			break;
		}
		listener_on_result(l, res);
		PQclear(res);
	}
	if (l->listen_failed && l->query == QUERY_NONE)
	{
		l->listen_failed = false;
		listener_fail(l, "LISTEN failed");
		return;
	}
	while ((note = PQnotifies(l->conn)) != NULL)
	{
		listener_on_notification(l, note->extra);
		PQfreemem(note);
	}
	if (PQstatus(l->conn) == CONNECTION_BAD)
	{
		listener_fail(l, "connection lost");
		return;
	}
	listener_next_query(l);
}
