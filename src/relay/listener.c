/*
 * listener.c - one LISTEN connection to PostgreSQL, driven by the loop
 *
 * An explicit libpq state machine (as pg_cron does it, but with the relay's
 * loop instead of a capped poll): PQconnectStartParams/PQconnectPoll, then
 * one setup round trip, then notifications are drained whenever the socket
 * is readable, whatever the clients do, so PostgreSQL's NOTIFY queue never
 * fills behind us.  A dropped connection is re-established with exponential
 * backoff.
 *
 * Nothing read from the database is trusted (README "Security").  The
 * session runs with search_path pinned to pg_catalog, pg_temp by the startup
 * packet and checked, and every statement names its schemas and operators.
 * The setup round trip, one transaction, reads what the database is called
 * and the id its events carry, whether it seals, its keys and the floor of
 * realtime.event_seq, then LISTENs.  Each notification is opened (sealed.c:
 * authenticated for its sender, database and channel), checked against the
 * replay guard, then parsed within limits (event.c); its events must name
 * this database.  Events too large for NOTIFY arrive as pointers and are
 * fetched from realtime.large_events one query at a time, each id once;
 * everything behind a fetch (or behind a key refresh that a key rotation
 * announced) waits in a FIFO, within max_pending, so that clients still see
 * commit order.
 */
#include "relay_int.h"
#include "log.h"
#include "ratelimit.h"
#include "sealed.h"
#include "settings.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define LISTENER_BACKOFF_MIN_MS 100
#define LISTENER_CONNECT_TIMEOUT_MS 10000
/* unknown keys or failed authentication: read the keys again at most this often */
#define LISTENER_KEY_REFRESH_MS 1000
/* large event ids remembered to fetch each once */
#define LISTENER_RECENT_LARGE 4096
/* dropped notifications: log lines per minute */
#define LISTENER_DROP_LOG_PER_MINUTE 30

#define LISTENER_PINNED_SEARCH_PATH "pg_catalog,pg_temp"

typedef enum ListenerState
{
	LISTENER_WAITING,			/* backoff before the next connection attempt */
	LISTENER_CONNECTING,		/* PQconnectPoll in progress */
	LISTENER_READY				/* connected; setup sent or done */
} ListenerState;

typedef enum ListenerQuery
{
	QUERY_NONE,
	QUERY_SETUP,				/* LISTEN, settings and floor, keys: three results */
	QUERY_KEYS,
	QUERY_FETCH,
	QUERY_PURGE,
	QUERY_CATALOG
} ListenerQuery;

typedef enum PendingKind
{
	PENDING_RAW,				/* a notification not opened yet */
	PENDING_EVENT,				/* ready */
	PENDING_FETCH,				/* a large event: ready once fetched */
	PENDING_KEYS				/* a key rotation: wait until the keys are read */
} PendingKind;

/* A notification or event waiting for its turn. */
typedef struct PendingEvent
{
	struct PendingEvent *next;
	PendingKind kind;
	bool		done;			/* FETCH: fetched or failed; KEYS: keys read */
	bool		recheck;		/* EVENT: its database id, once the ids are read again */
	RelayEvent *event;			/* EVENT, FETCH once fetched (NULL: failed) */
	int64_t		large_id;		/* FETCH */
	uint32_t	pid;			/* RAW: the sending backend */
	size_t		cost;			/* counted in relay->pending_bytes */
	char		timestamp[32];
	size_t		len;			/* RAW: text bytes */
	char		text[];			/* RAW: the payload */
} PendingEvent;

typedef struct PendingList
{
	PendingEvent *head;
	PendingEvent *tail;
} PendingList;

struct Listener
{
	Watch		watch;
	Relay	   *relay;
	char	   *conninfo;
	char	   *channel;
	PGconn	   *conn;
	ListenerState state;
	ListenerQuery query;		/* the query in flight */
	int			setup_step;		/* results of QUERY_SETUP seen */
	bool		listening;
	bool		setup_failed;	/* setup refused: reconnect after backoff */
	char	   *setup_error;	/* why, for the log */
	int64_t		deadline_ms;	/* backoff end or connect timeout; -1 none */
	int			backoff_ms;
	bool		ever_connected;
	PendingList pending;
	int			purge_retention_s;	/* > 0: purge wanted when idle */
	/* what the database publishes (catalog.c), fetched when asked */
	bool		catalog_wanted; /* fetch when idle */
	bool		catalog_requested;	/* catalog.c waits for the answer */
	bool		catalog_known;
	char	   *catalog_ids;	/* realtime.database_ids(), one a line */
	char	   *catalog_collections;	/* collection ids, one a line */

	/* what the setup learned */
	char		database[64];	/* current_database() */
	char	   *database_id;	/* the id its events carry */
	char	   *database_ids;	/* every id they may carry, one a line (realtime.database_ids()) */
	bool		ids_wait;		/* a key refresh that re-reads them is queued */
	bool		accept_plaintext;	/* pg_realtime.seal is off there */
	Sealed		sealed;
	bool		keys_wanted;	/* refresh the keys when the connection is free */
	int64_t		keys_read_ms;	/* last refresh; -1 never */

	int64_t		recent_large[LISTENER_RECENT_LARGE];
	int			recent_large_next;
	LogLimit	drop_log;
	unsigned char plain[ENVELOPE_MAX_BINARY];	/* an opened batch */
};

/*
 * The database's id and tracked collections, for catalog.c.  Names are
 * schema-qualified: nothing depends on search_path.
 */
#define LISTENER_CATALOG_QUERY \
	"SELECT (SELECT pg_catalog.string_agg(i, E'\\n') FROM realtime.database_ids() AS i), " \
	"(SELECT pg_catalog.string_agg(c, E'\\n') FROM realtime.collections() AS c)"


static void listener_on_io(Watch *w, uint32_t events);
static void listener_catalog_answered(Listener *l);
static void listener_start(Listener *l);
static void listener_next_query(Listener *l);

static void
listener_watch_socket(Listener *l, uint32_t events)
{
	loop_watch(&l->relay->loop, &l->watch, PQsocket(l->conn), events, listener_on_io);
}

/* Message text without trailing newlines and blanks: n bytes. */
static int
listener_trimmed_len(const char *msg)
{
	size_t		n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	return (int) n;
}

/* ------------------------------------------------------------ pending */

static void
pending_free(Listener *l, PendingEvent *p)
{
	l->relay->pending_bytes -= p->cost;
	if (p->event)
		event_release(p->event);
	free(p);
}

static void
pending_append(PendingList *list, PendingEvent *p)
{
	p->next = NULL;
	if (list->tail)
		list->tail->next = p;
	else
		list->head = p;
	list->tail = p;
}

static void
pending_clear(Listener *l)
{
	PendingEvent *p = l->pending.head;

	while (p)
	{
		PendingEvent *next = p->next;

		pending_free(l, p);
		p = next;
	}
	l->pending.head = l->pending.tail = NULL;
}

/* A notification or event is not delivered: count it, log a line (rate-limited). */
static void
listener_drop(Listener *l, RelayDrop reason, uint32_t pid, const char *detail)
{
	uint32_t	suppressed;

	relay_count_drop(l->relay, reason);
	if (!ratelimit_log_ok(&l->drop_log, LISTENER_DROP_LOG_PER_MINUTE, l->relay->loop.now_ms, &suppressed))
		return;
	if (suppressed > 0)
		relay_log(RLOG_WARNING, "database listener: dropped a notification on \"%s\" in database \"%s\" from backend %u (%s): %s; %u similar messages suppressed",
				  l->channel, l->database, pid, relay_drop_names[reason], detail,
				  suppressed);
	else
		relay_log(RLOG_WARNING, "database listener: dropped a notification on \"%s\" in database \"%s\" from backend %u (%s): %s",
				  l->channel, l->database, pid, relay_drop_names[reason], detail);
}

/*
 * A new entry of size cost, to be held (behind others, or at least
 * possibly): false if max_pending would be passed, and then it is counted
 * as dropped.  An entry that nothing holds up (empty queue) always fits.
 */
static bool
listener_reserve(Listener *l, size_t cost, uint32_t pid)
{
	size_t		limit = (size_t) l->relay->config.max_pending_kb * 1024;

	if (l->pending.head != NULL && l->relay->pending_bytes + cost > limit)
	{
		listener_drop(l, DROP_OVER_BUDGET, pid, "too much is waiting behind a large event or a key refresh");
		return false;
	}
	l->relay->pending_bytes += cost;
	return true;
}

static PendingEvent *
pending_new(PendingKind kind, const char *ts, size_t textlen)
{
	PendingEvent *p = relay_calloc(1, sizeof(PendingEvent) + textlen + 1);

	p->kind = kind;
	strcpy(p->timestamp, ts);
	return p;
}

/* True if the large event id was fetched or queued already; remembers it. */
static bool
listener_large_seen(Listener *l, int64_t id)
{
	for (int i = 0; i < LISTENER_RECENT_LARGE; i++)
		if (l->recent_large[i] == id)
			return true;
	l->recent_large[l->recent_large_next] = id;
	l->recent_large_next = (l->recent_large_next + 1) % LISTENER_RECENT_LARGE;
	return false;
}

/*
 * May an event of this database carry this database id?  The relay's
 * session's own, or one that ALTER DATABASE set for this database since
 * (realtime.database_ids(): the database's owner or a superuser set it).
 */
static bool
listener_database_ok(const Listener *l, const char *id)
{
	return strcmp(id, l->database_id) == 0 || relay_id_listed(l->database_ids, id);
}

/*
 * Parse one event (inline, or a pointer) of a notification from pid into
 * out.  Drops what is too large, malformed, about another database or a
 * large event already fetched.
 */
static void
listener_expand_event(Listener *l, uint32_t pid, const char *text, size_t len, const char *ts,
					  PendingList *out)
{
	RelayEvent *ev = NULL;
	int64_t		large_id = 0;
	RelayDrop	reason = DROP_MALFORMED;
	const char *detail = NULL;
	PendingEvent *p;
	bool		recheck;

	/* the database id is checked below: one it doesn't know may be new */
	switch (relay_check_event(l->relay, text, len, ts, NULL, NULL, &ev, &large_id, &reason, &detail))
	{
		case EVENT_NOTIFY_INLINE:
			recheck = !listener_database_ok(l, ev->database_id);
			if (recheck && !l->ids_wait && l->relay->loop.now_ms < l->keys_read_ms + LISTENER_KEY_REFRESH_MS)
			{
				event_release(ev);
				listener_drop(l, DROP_DATABASE, pid, "the event names another database");
				return;
			}
			if (!listener_reserve(l, ev->cost, pid))
			{
				event_release(ev);
				return;
			}
			if (recheck && !l->ids_wait)
			{
				/* a database id set since the relay connected? read them again (at most once a second) */
				pending_append(out, pending_new(PENDING_KEYS, ts, 0));
				l->ids_wait = true;
			}
			p = pending_new(PENDING_EVENT, ts, 0);
			p->event = ev;
			p->cost = ev->cost;
			p->recheck = recheck;
			p->pid = pid;
			pending_append(out, p);
			break;
		case EVENT_NOTIFY_LARGE:
			if (listener_large_seen(l, large_id))
			{
				listener_drop(l, DROP_DUPLICATE, pid, "points at a large event already fetched");
				return;
			}
			if (!listener_reserve(l, sizeof(PendingEvent), pid))
				return;
			p = pending_new(PENDING_FETCH, ts, 0);
			p->large_id = large_id;
			p->cost = sizeof(PendingEvent);
			pending_append(out, p);
			break;
		case EVENT_NOTIFY_INVALID:
			listener_drop(l, reason, pid, detail);
			break;
	}
}

/*
 * Open a notification from pid and parse its events into out, in order:
 * sealed ones are authenticated and checked for replays first; plaintext
 * is accepted only from a database with pg_realtime.seal = off.
 */
static void
listener_expand(Listener *l, uint32_t pid, const char *text, size_t len, const char *ts,
				PendingList *out)
{
	EnvelopeHeader header;
	size_t		plain_len = 0;
	size_t		offset = 0;
	const char *record;
	size_t		record_len;
	int			r;
	SealedResult result;

	if (!envelope_is_sealed(text, len))
	{
		if (l->accept_plaintext)
			listener_expand_event(l, pid, text, len, ts, out);
		else
			listener_drop(l, DROP_UNSEALED, pid, "not sealed, and this database seals its events");
		return;
	}

	result = sealed_open(&l->sealed, pid, text, len, l->relay->loop.now_ms, l->plain, &plain_len,
						 &header);
	switch (result)
	{
		case SEALED_OK:
			break;
		case SEALED_MALFORMED:
			listener_drop(l, DROP_FORGED, pid, "not a well-formed sealed notification");
			return;
		case SEALED_UNKNOWN_KEY:
		case SEALED_FORGED:
			/* the keys may have been replaced under us: read them (not too often) */
			l->keys_wanted = true;
			listener_drop(l, result == SEALED_FORGED ? DROP_FORGED : DROP_UNKNOWN_KEY, pid,
						  result == SEALED_FORGED ? "does not authenticate for this sender, database and channel"
						  : "sealed with a key this database does not have");
			return;
		case SEALED_REPLAYED:
			listener_drop(l, DROP_REPLAYED, pid, "its sequence was seen before from this backend, or is older than the connection");
			return;
	}

	if (plain_len == 0)
	{
		/* a key rotation, announced under the old key: wait for the new one */
		PendingEvent *p = pending_new(PENDING_KEYS, ts, 0);

		p->cost = 0;
		pending_append(out, p);
		return;
	}
	while ((r = envelope_next_record(l->plain, plain_len, &offset, &record, &record_len)) > 0)
		listener_expand_event(l, pid, record, record_len, ts, out);
	if (r < 0)
		listener_drop(l, DROP_MALFORMED, pid, "the sealed batch is malformed");
}

/* Publish, in order, what is ready at the head; open notifications that reach it. */
static void
listener_drain_pending(Listener *l)
{
	while (l->pending.head)
	{
		PendingEvent *p = l->pending.head;

		if ((p->kind == PENDING_FETCH || p->kind == PENDING_KEYS) && !p->done)
			break;
		l->pending.head = p->next;
		if (l->pending.head == NULL)
			l->pending.tail = NULL;
		if (p->kind == PENDING_RAW)
		{
			PendingList opened = {NULL, NULL};

			/* its events take its place at the head */
			listener_expand(l, p->pid, p->text, p->len, p->timestamp, &opened);
			if (opened.head)
			{
				opened.tail->next = l->pending.head;
				if (l->pending.head == NULL)
					l->pending.tail = opened.tail;
				l->pending.head = opened.head;
			}
		}
		else if (p->event && p->recheck && !listener_database_ok(l, p->event->database_id))
			listener_drop(l, DROP_DATABASE, p->pid, "the event names another database");
		else if (p->event)
			relay_publish(l->relay, p->event);
		pending_free(l, p);
	}
}

/* A notification arrived. */
static void
listener_on_notification(Listener *l, const PGnotify *note)
{
	size_t		len = strlen(note->extra);
	char		ts[32];

	event_format_now(ts);
	if (strcmp(note->relname, l->channel) != 0)
	{
		listener_drop(l, DROP_MALFORMED, (uint32_t) note->be_pid, "came on another channel");
		return;
	}
	if (l->pending.head == NULL)
	{
		/* nothing waits: open and publish now */
		PendingList opened = {NULL, NULL};

		listener_expand(l, (uint32_t) note->be_pid, note->extra, len, ts, &opened);
		l->pending = opened;
		listener_drain_pending(l);
	}
	else
	{
		/* behind others: keep the text, open it when its turn comes */
		PendingEvent *p;

		if (!listener_reserve(l, sizeof(PendingEvent) + len, (uint32_t) note->be_pid))
			return;
		p = pending_new(PENDING_RAW, ts, len);
		p->pid = (uint32_t) note->be_pid;
		p->len = len;
		p->cost = sizeof(PendingEvent) + len;
		memcpy(p->text, note->extra, len);
		pending_append(&l->pending, p);
	}
}

/* The first entry that waits for a query: a fetch or a key refresh. */
static PendingEvent *
listener_next_wait(Listener *l)
{
	for (PendingEvent *p = l->pending.head; p; p = p->next)
	{
		if (p->kind == PENDING_RAW)
			return NULL;		/* nothing behind it is opened yet */
		if ((p->kind == PENDING_FETCH || p->kind == PENDING_KEYS) && !p->done)
			return p;
	}
	return NULL;
}

/*
 * The connection is gone: notifications not opened yet (and key refreshes)
 * go with it, since the next connection has a new replay floor and they
 * would be taken for replays.  Opened events and pending fetches stay, in
 * order, for the next connection.
 */
static void
listener_forget_unopened(Listener *l)
{
	PendingList keep = {NULL, NULL};
	PendingEvent *p = l->pending.head;

	while (p)
	{
		PendingEvent *next = p->next;

		if (p->kind == PENDING_RAW || p->kind == PENDING_KEYS)
			pending_free(l, p);
		else
			pending_append(&keep, p);
		p = next;
	}
	l->pending = keep;
}

/* ------------------------------------------------------------ connection */

/* Drop the connection and schedule the next attempt. */
static void
listener_fail(Listener *l, const char *what)
{
	const char *msg = l->setup_error ? l->setup_error : l->conn ? PQerrorMessage(l->conn) : "";

	relay_log(RLOG_WARNING, "database listener: %s: %.*s; retrying in %d ms%s", what,
			  listener_trimmed_len(msg), msg, l->backoff_ms,
			  l->listening ? " (events committed until then are not relayed; clients get a gap signal)" : "");
	free(l->setup_error);
	l->setup_error = NULL;
	if (l->watch.fd >= 0)
		loop_remove(&l->relay->loop, &l->watch);
	if (l->conn)
		PQfinish(l->conn);
	l->conn = NULL;
	l->listening = false;
	l->setup_failed = false;
	l->ids_wait = false;
	l->query = QUERY_NONE;
	listener_catalog_answered(l);
	l->state = LISTENER_WAITING;
	listener_forget_unopened(l);
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
	l->database_id = relay_strdup("");
	l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
	l->deadline_ms = -1;
	l->keys_read_ms = -1;
	sealed_init(&l->sealed);
	listener_start(l);
	return l;
}

void
listener_destroy(Listener *l)
{
	pending_clear(l);
	if (l->watch.fd >= 0)
		loop_remove(&l->relay->loop, &l->watch);
	if (l->conn)
		PQfinish(l->conn);
	sealed_free(&l->sealed);
	free(l->setup_error);
	free(l->database_id);
	free(l->database_ids);
	free(l->conninfo);
	free(l->channel);
	free(l->catalog_ids);
	free(l->catalog_collections);
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
	if (l->state != LISTENER_READY)
		return l->deadline_ms;
	/* a key refresh held back by its rate limit */
	if (l->keys_wanted && l->query == QUERY_NONE)
		return l->keys_read_ms + LISTENER_KEY_REFRESH_MS;
	return -1;
}

void
listener_on_timer(Listener *l)
{
	if (l->state == LISTENER_WAITING)
		listener_start(l);
	else if (l->state == LISTENER_CONNECTING)
		listener_fail(l, "connection timed out");
	else
		listener_next_query(l);
}

void
listener_request_purge(Listener *l, int retention_s)
{
	l->purge_retention_s = retention_s;
	listener_next_query(l);
}

/* A disconnected listener answers at once with what it knew. */
void
listener_request_catalog(Listener *l)
{
	if (!listener_connected(l))
	{
		catalog_answered(l->relay);
		return;
	}
	l->catalog_wanted = true;
	l->catalog_requested = true;
	listener_next_query(l);
}

bool
listener_catalog(const Listener *l, const char **database_ids, const char **collections)
{
	*database_ids = l->catalog_ids;
	*collections = l->catalog_collections;
	return l->catalog_known;
}

/* Tell catalog.c, if it waits, that this listener is done. */
static void
listener_catalog_answered(Listener *l)
{
	if (l->catalog_requested)
	{
		l->catalog_requested = false;
		catalog_answered(l->relay);
	}
}

/* The catalog query's result: known if the extension answered. */
static void
listener_on_catalog(Listener *l, PGresult *res, bool ok)
{
	free(l->catalog_ids);
	free(l->catalog_collections);
	l->catalog_ids = l->catalog_collections = NULL;
	l->catalog_known = ok && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
	if (l->catalog_known)
	{
		l->catalog_ids = relay_strdup(PQgetvalue(res, 0, 0));
		l->catalog_collections = relay_strdup(PQgetvalue(res, 0, 1));	/* "" if NULL */
	}
	else
		relay_log(RLOG_DEBUG, "database listener: no catalog of database \"%s\" (channels naming it are not "
				  "checked): %s", PQdb(l->conn), ok ? "no answer" : PQresultErrorMessage(res));
	listener_catalog_answered(l);
}

/*
 * The startup options: the user's (from the connection string, or our
 * default statement_timeout), then search_path pinned, which the last -c
 * wins and which ALTER DATABASE/ROLE ... SET cannot override.
 */
char *
listener_options(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *user = NULL;
	Buf			b = BUF_INIT;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
			user = o->val;
	buf_printf(&b, "%s -c search_path=%s", user ? user : "-c statement_timeout=30s",
			   LISTENER_PINNED_SEARCH_PATH);
	PQconninfoFree(opts);
	return buf_steal(&b, NULL);
}

char *
listener_check_search_path(const char *path)
{
	char		compact[64];
	size_t		n = 0;
	Buf			b = BUF_INIT;

	for (const char *p = path; *p && n < sizeof(compact) - 1; p++)
		if (*p != ' ')
			compact[n++] = *p;
	compact[n] = '\0';
	if (strcmp(compact, LISTENER_PINNED_SEARCH_PATH) == 0)
		return NULL;
	buf_printf(&b, "the session's search_path is \"%.60s\", not \"%s\"", path,
			   LISTENER_PINNED_SEARCH_PATH);
	return buf_steal(&b, NULL);
}

/* Begin a non-blocking connection attempt. */
static void
listener_start(Listener *l)
{
	/*
	 * Bounded waits by default: a fetch that hangs times out, and a database
	 * host that vanishes is noticed in about 30 s rather than after the OS's
	 * two-hour keepalive.  They come before dbname, whose expansion (the
	 * user's connection string) overrides them; options and client_encoding
	 * come after: the relay's session is pinned whatever the string says.
	 */
	char	   *options = listener_options(l->conninfo);
	const char *keys[] = {"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname",
	"fallback_application_name", "options", "client_encoding", NULL};
	const char *values[] = {"10", "5", "3", l->conninfo, "pg_realtime", options, "UTF8", NULL};

	if (l->ever_connected)
		l->relay->stats.db_reconnects++;
	l->conn = PQconnectStartParams(keys, values, 1);
	free(options);
	if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD)
	{
		listener_fail(l, "could not start connection");
		return;
	}
	l->state = LISTENER_CONNECTING;
	l->deadline_ms = l->relay->loop.now_ms + LISTENER_CONNECT_TIMEOUT_MS;
	listener_watch_socket(l, EPOLLOUT);
}

/* ------------------------------------------------------------ queries */

/*
 * The keys as (id, base64 key, seconds until expiry or NULL), and on every
 * row (at least one, with NULL keys if there are none) the database ids
 * its events may carry; the same statement in the setup and in a refresh.
 */
#define LISTENER_KEYS_SQL \
	"SELECT k.id, pg_catalog.encode(k.key, 'base64'), " \
	"pg_catalog.date_part('epoch', k.expires_at OPERATOR(pg_catalog.-) pg_catalog.now()), ids.list " \
	"FROM (SELECT pg_catalog.string_agg(i, E'\\n') AS list FROM realtime.database_ids() AS i) AS ids " \
	"LEFT JOIN realtime.keys k ON true"

/*
 * LISTEN and read what this database is, in one transaction: LISTEN takes
 * effect at its commit, after the floor of the replay guard is read, so
 * every notification the relay then gets was sealed after the floor or
 * comes from a backend whose sequences it follows from then on.
 */
static char *
listener_setup_sql(Listener *l)
{
	char	   *ident = PQescapeIdentifier(l->conn, l->channel, strlen(l->channel));
	Buf			q = BUF_INIT;

	buf_printf(&q,
			   "LISTEN %s; "
			   "SELECT pg_catalog.current_setting('search_path'), pg_catalog.current_database(), "
			   "realtime.database_id(), pg_catalog.current_setting('pg_realtime.seal', true), "
			   "s.last_value, s.is_called FROM realtime.event_seq s; "
			   LISTENER_KEYS_SQL, ident ? ident : "pg_realtime");
	PQfreemem(ident);
	return buf_steal(&q, NULL);
}

/* Send the next query if none is in flight: setup, keys, fetches, then purge. */
static void
listener_next_query(Listener *l)
{
	PendingEvent *wait;
	int			sent = 0;

	if (l->state != LISTENER_READY || l->query != QUERY_NONE)
		return;
	wait = listener_next_wait(l);
	if (!l->listening)
	{
		char	   *q = listener_setup_sql(l);

		sent = PQsendQuery(l->conn, q);
		free(q);
		l->query = QUERY_SETUP;
		l->setup_step = 0;
	}
	else if ((wait != NULL && wait->kind == PENDING_KEYS) ||
			 (l->keys_wanted && l->relay->loop.now_ms >= l->keys_read_ms + LISTENER_KEY_REFRESH_MS))
	{
		sent = PQsendQueryParams(l->conn, LISTENER_KEYS_SQL, 0, NULL, NULL, NULL, NULL, 0);
		l->query = QUERY_KEYS;
		l->keys_wanted = false;
		l->keys_read_ms = l->relay->loop.now_ms;
	}
	else if (wait != NULL && wait->kind == PENDING_FETCH)
	{
		char		id[24];
		char		max[24];
		const char *params[2] = {id, max};

		snprintf(id, sizeof(id), "%lld", (long long) wait->large_id);
		snprintf(max, sizeof(max), "%lld", (long long) l->relay->config.max_event_size_kb * 1024);
		/* the size first: a large event over the limit never crosses the wire */
		sent = PQsendQueryParams(l->conn,
								 "SELECT pg_catalog.octet_length(e.event), "
								 "CASE WHEN pg_catalog.octet_length(e.event) OPERATOR(pg_catalog.<=) $2::pg_catalog.int8 "
								 "THEN e.event END "
								 "FROM realtime.large_events e WHERE e.id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
								 2, NULL, params, NULL, NULL, 0);
		l->query = QUERY_FETCH;
	}
	else if (l->catalog_wanted)
	{
		sent = PQsendQuery(l->conn, LISTENER_CATALOG_QUERY);
		l->catalog_wanted = false;
		l->query = QUERY_CATALOG;
	}
	else if (l->purge_retention_s > 0)
	{
		char		retention[32];
		const char *params[1] = {retention};

		snprintf(retention, sizeof(retention), "%d seconds", l->purge_retention_s);
		sent = PQsendQueryParams(l->conn, "SELECT realtime.purge_large_events($1::pg_catalog.interval)",
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

/* Replace the keys by the rows of LISTENER_KEYS_SQL. */
static void
listener_take_keys(Listener *l, PGresult *res)
{
	sealed_keys_clear(&l->sealed);
	free(l->database_ids);
	l->database_ids = NULL;
	l->ids_wait = false;
	if (PQntuples(res) > 0 && PQnfields(res) == 4 && !PQgetisnull(res, 0, 3))
		l->database_ids = relay_strdup(PQgetvalue(res, 0, 3));
	for (int row = 0; row < PQntuples(res); row++)
	{
		unsigned char key[ENVELOPE_KEY_LEN];
		int64_t		expires_ms = -1;

		if (PQgetisnull(res, row, 0) ||
			!envelope_key_from_base64(PQgetvalue(res, row, 1), (size_t) PQgetlength(res, row, 1), key))
			continue;
		if (!PQgetisnull(res, row, 2))
			expires_ms = l->relay->loop.now_ms + (int64_t) (strtod(PQgetvalue(res, row, 2), NULL) * 1000);
		if (expires_ms != -1 && expires_ms <= l->relay->loop.now_ms)
			continue;
		sealed_keys_add(&l->sealed, (uint32_t) strtoul(PQgetvalue(res, row, 0), NULL, 10), key,
						expires_ms);
		OPENSSL_cleanse(key, sizeof(key));
	}
}

/* The first row of the setup: settings, the floor.  False (and why) if unfit. */
static bool
listener_take_setup(Listener *l, PGresult *res)
{
	uint64_t	floor;
	const char *seal;
	bool		sealing;

	if (PQntuples(res) != 1 || PQnfields(res) != 6)
	{
		l->setup_error = relay_strdup("unexpected result of the setup query");
		return false;
	}
	/* search_path must be what the startup packet pinned */
	if ((l->setup_error = listener_check_search_path(PQgetvalue(res, 0, 0))) != NULL)
		return false;
	snprintf(l->database, sizeof(l->database), "%s", PQgetvalue(res, 0, 1));
	free(l->database_id);
	l->database_id = relay_strdup(PQgetvalue(res, 0, 2));
	seal = PQgetisnull(res, 0, 3) ? "on" : PQgetvalue(res, 0, 3);
	l->accept_plaintext = relay_parse_bool(seal, &sealing) && !sealing;
	floor = strtoull(PQgetvalue(res, 0, 4), NULL, 10);
	if (strcmp(PQgetvalue(res, 0, 5), "t") != 0 && floor > 0)
		floor--;				/* never handed out yet */
	if (!sealed_reset(&l->sealed, l->database, l->channel, floor))
	{
		l->setup_error = relay_strdup("database or channel name too long");
		return false;
	}
	return true;
}

/* One result of the setup round trip (LISTEN, settings, keys). */
static void
listener_on_setup_result(Listener *l, PGresult *res, bool ok)
{
	int			step = l->setup_step++;

	if (!ok)
	{
		if (l->setup_error == NULL)
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
			const char *hint = "";
			Buf			b = BUF_INIT;

			if (state && strcmp(state, "42501") == 0)
				hint = " (a relay that is not a superuser needs SELECT realtime.grant_relay('its role'))";
			else if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0 ||
							   strcmp(state, "42883") == 0))
				hint = " (is CREATE EXTENSION pg_realtime done in this database?)";
			if (msg == NULL)
				msg = PQresultErrorMessage(res);
			buf_printf(&b, "%.*s%s", listener_trimmed_len(msg), msg, hint);
			l->setup_error = buf_steal(&b, NULL);
		}
		l->setup_failed = true;
		return;
	}
	if (l->setup_failed || step == 0)
		return;					/* LISTEN: nothing to take */
	if (step == 1)
		l->setup_failed = !listener_take_setup(l, res);
	else
	{
		listener_take_keys(l, res);
		l->keys_read_ms = l->relay->loop.now_ms;
		l->keys_wanted = false;
		/* what was committed while we were not listening is lost */
		if (l->ever_connected)
			relay_signal_gap(l->relay);
		l->listening = true;
		l->ever_connected = true;
		l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
		relay_log(RLOG_INFO, "database listener: listening on channel \"%s\" in database \"%s\" (events of database id \"%s\", %s)",
				  l->channel, l->database, l->database_id,
				  l->accept_plaintext ? "plaintext accepted: pg_realtime.seal is off"
				  : l->sealed.nkeys == 1 ? "sealed, 1 key" : "sealed");
	}
}

/* The result of a large event's fetch: publish what it unblocked. */
static void
listener_on_fetch_result(Listener *l, PGresult *res, bool ok)
{
	PendingEvent *p = listener_next_wait(l);
	EventLimits limits = {l->relay->config.max_event_depth, (uint64_t) l->relay->config.max_event_values};
	const char *error = NULL;
	int64_t		ignored;
	char		detail[96];

	if (p == NULL || p->kind != PENDING_FETCH)
		return;
	p->done = true;
	if (!ok || PQntuples(res) != 1)
	{
		snprintf(detail, sizeof(detail), "large event %lld %s", (long long) p->large_id,
				 ok ? "not found (purged?)" : "could not be read");
		listener_drop(l, DROP_UNREADABLE, 0, detail);
		if (!ok)
			relay_log(RLOG_WARNING, "database listener: fetching a large event failed: %.*s",
					  listener_trimmed_len(PQresultErrorMessage(res)), PQresultErrorMessage(res));
	}
	else if (PQgetisnull(res, 0, 1))
	{
		snprintf(detail, sizeof(detail), "large event %lld has %s bytes, more than pg_realtime.max_event_size",
				 (long long) p->large_id, PQgetvalue(res, 0, 0));
		listener_drop(l, DROP_TOO_LARGE, 0, detail);
	}
	else if (event_parse_bounded(PQgetvalue(res, 0, 1), (size_t) PQgetlength(res, 0, 1), p->timestamp,
								 &limits, &p->event, &ignored, &error) != EVENT_NOTIFY_INLINE)
	{
		if (p->event)
			event_release(p->event);
		p->event = NULL;
		snprintf(detail, sizeof(detail), "large event %lld: %s", (long long) p->large_id,
				 error ? error : "not an inline event");
		listener_drop(l, DROP_MALFORMED, 0, detail);
	}
	else if (!listener_database_ok(l, p->event->database_id))
	{
		l->keys_wanted = true;	/* for the next ones, if an id was set since */
		event_release(p->event);
		p->event = NULL;
		listener_drop(l, DROP_DATABASE, 0, "a large event names another database");
	}
	else
	{
		/* it is held until published: it counts (no limit: it is next) */
		p->cost += p->event->cost;
		l->relay->pending_bytes += p->event->cost;
	}
	listener_drain_pending(l);
}

/* One result of the query in flight. */
static void
listener_on_result(Listener *l, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	switch (l->query)
	{
		case QUERY_SETUP:
			listener_on_setup_result(l, res, ok);
			break;
		case QUERY_KEYS:
			{
				PendingEvent *wait = listener_next_wait(l);

				if (ok)
					listener_take_keys(l, res);
				else
					relay_log(RLOG_WARNING, "database listener: reading the keys failed: %.*s",
							  listener_trimmed_len(PQresultErrorMessage(res)), PQresultErrorMessage(res));
				if (wait != NULL && wait->kind == PENDING_KEYS)
					wait->done = true;
				listener_drain_pending(l);
			}
			break;
		case QUERY_CATALOG:
			listener_on_catalog(l, res, ok);
			break;
		case QUERY_FETCH:
			listener_on_fetch_result(l, res, ok);
			break;
		case QUERY_PURGE:
			if (!ok)
				relay_log(RLOG_WARNING, "database listener: purging large events failed: %.*s",
						  listener_trimmed_len(PQresultErrorMessage(res)), PQresultErrorMessage(res));
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
	if (l->setup_failed && l->query == QUERY_NONE)
	{
		listener_fail(l, "could not set up the connection");
		return;
	}
	while ((note = PQnotifies(l->conn)) != NULL)
	{
		listener_on_notification(l, note);
		PQfreemem(note);
	}
	if (PQstatus(l->conn) == CONNECTION_BAD)
	{
		listener_fail(l, "connection lost");
		return;
	}
	listener_next_query(l);
}
