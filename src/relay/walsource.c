/*
 * walsource.c - one logical replication connection: the wal transport
 *
 * The triggers write each transaction's events as transactional logical
 * decoding messages (prefix "pg_realtime"); this module reads them through
 * a permanent replication slot with the built-in pgoutput plugin, as
 * pg_recvlogical does but driven by the relay's loop: PQconnectStartParams
 * with replication=database, the slot looked up (and created on first
 * start), START_REPLICATION, then CopyBoth data read without blocking.
 *
 * Sealing: the setup reads, in SQL on the same connection, what the
 * listener reads (current_database(), realtime.database_id(), whether
 * pg_realtime.seal is off, the keys).  Each message is opened by sealed.c
 * (sealed_open_wal: the key, the associated data, the transaction's
 * FullTransactionId and the message's index in it, so that a message
 * emitted by another role with pg_logical_emit_message, or a copy of a real
 * one, is dropped), and each of its events checked by relay_check_event(),
 * as the listener does.  A key rotation's message, sealed with the
 * previous key, carries the new key, which is added to those the setup
 * read; an announcement without one (none is written today) makes the
 * connection start again at its commit, reading the keys.
 *
 * Positions: an event's position is its transaction's commit LSN (from
 * BEGIN) and its index among the transaction's events, so it is the same
 * on every relay of the database.  The slot is confirmed only up to what
 * has left the relay's replay window (walsource_on_window), so after a
 * crash the window is rebuilt from the slot; events the relay has already
 * published (a reconnect) are skipped by position.
 */
#include "relay_int.h"
#include "log.h"
#include "pgoutput.h"
#include "ratelimit.h"
#include "sealed.h"
#include "settings.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define WAL_BACKOFF_MIN_MS 100
#define WAL_CONNECT_TIMEOUT_MS 10000
#define WAL_STATUS_INTERVAL_MS 10000	/* well inside wal_sender_timeout (60 s) */
#define WAL_STATUS_MIN_GAP_MS 1000	/* confirm progress at most this often */
#define WAL_MESSAGES_PER_TURN 256	/* then let the clients have the loop */
#define WALSOURCE_DROP_LOG_PER_MINUTE 30	/* dropped messages: log lines */
#define WAL_PUBLICATION "pg_realtime"
#define WAL_PREFIX "pg_realtime"	/* of the triggers' messages (wal_sink.h) */

/*
 * The setup query, on the replication connection before START_REPLICATION:
 * what the listener's setup reads, and every key (one a row).
 */
#define WAL_SETUP_SQL \
	"SELECT pg_catalog.current_setting('search_path'), pg_catalog.current_database(), " \
	"realtime.database_id(), pg_catalog.current_setting('pg_realtime.seal', true), " \
	"k.id, pg_catalog.encode(k.key, 'base64') " \
	"FROM (SELECT) AS x LEFT JOIN realtime.keys AS k ON true"

typedef enum WalState
{
	WAL_WAITING,				/* backoff before the next attempt */
	WAL_CONNECTING,				/* PQconnectPoll in progress */
	WAL_SETUP,					/* slot lookup, creation, START_REPLICATION */
	WAL_STREAMING				/* CopyBoth */
} WalState;

typedef enum WalQuery
{
	WAL_QUERY_NONE,
	WAL_QUERY_SETUP,			/* the database, its settings and keys */
	WAL_QUERY_SLOT,				/* SELECT ... FROM pg_replication_slots */
	WAL_QUERY_CREATE,			/* CREATE_REPLICATION_SLOT */
	WAL_QUERY_START				/* START_REPLICATION */
} WalQuery;

struct WalSource
{
	Watch		watch;
	Relay	   *relay;
	char	   *conninfo;
	char	   *slot;
	PGconn	   *conn;
	WalState	state;
	WalQuery	query;			/* in flight */
	WalQuery	next_query;		/* to send when its results are read */
	int64_t		deadline_ms;	/* backoff end or connect timeout */
	int			backoff_ms;
	bool		ever_connected;
	bool		started;		/* streamed once: the floor is set */
	bool		backlog;		/* messages left in libpq's buffer */
	bool		setup_failed;	/* a setup query failed: reconnect */

	/* the transaction being received */
	bool		in_txn;
	uint64_t	txn_lsn;		/* commit LSN, from BEGIN */
	int64_t		txn_time_ms;	/* commit time, Unix ms */
	char		txn_timestamp[32];
	uint32_t	txn_index;		/* events of the transaction so far */
	uint64_t	txn_confirm_before;
	RelayEvent *txn_last_ev;	/* its newest published event (a reference) */

	/* progress */
	RelayPos	last_pos;		/* newest published: older ones are skipped */
	uint64_t	complete_lsn;	/* every transaction before it is handled */
	uint64_t	server_lsn;		/* the server's end of WAL, last reported */
	uint64_t	evicted_lsn;	/* confirmable as far as the window goes */
	uint64_t	confirmed_lsn;	/* last confirmed to the server */
	size_t		in_window;		/* events of this source in the window */
	int64_t		next_status_ms;
	int64_t		last_status_ms;
	uint64_t	invalid;
	uint64_t	backfill_lsn;	/* committed before the first start: not live */

	/* what the setup learned (as the listener's) */
	char	   *database_id;	/* the id its events carry */
	bool		accept_plaintext;	/* pg_realtime.seal is off there */
	Sealed		sealed;			/* keys; database and prefix of the associated data */
	SealedWalGuard guard;
	bool		keys_changed;	/* the transaction announced a rotation */
	uint64_t	keys_lsn;		/* commit LSN of the last rotation acted on */
	LogLimit	drop_log;		/* WALSOURCE_DROP_LOG_PER_MINUTE */
};

static void walsource_on_io(Watch *w, uint32_t events);
static void walsource_start(WalSource *w);

/* ------------------------------------------------------------ connection */

static void
walsource_watch_socket(WalSource *w, uint32_t events)
{
	int			fd = PQsocket(w->conn);

	if (fd != w->watch.fd)
	{
		if (w->watch.fd >= 0)
			loop_remove(&w->relay->loop, &w->watch);
		if (fd >= 0)
			loop_add(&w->relay->loop, &w->watch, fd, events, walsource_on_io);
	}
	else
		loop_modify(&w->relay->loop, &w->watch, events);
}

/* What to do about the usual setup failures, in the words of the fix. */
static const char *
walsource_hint(const char *msg)
{
	if (strstr(msg, "replication role") || strstr(msg, "REPLICATION attribute"))
		return " (give the relay's role the REPLICATION attribute: ALTER ROLE name REPLICATION)";
	if (strstr(msg, "wal_level"))
		return " (set wal_level = logical in postgresql.conf and restart the server)";
	if (strstr(msg, "is active for PID"))
		return " (another relay is using this slot: give every relay its own slot_name)";
	if (strstr(msg, "publication") && strstr(msg, "does not exist"))
		return " (CREATE EXTENSION pg_realtime creates it; else CREATE PUBLICATION pg_realtime)";
	if (strstr(msg, "replication slots are in use") || strstr(msg, "max_replication_slots"))
		return " (raise max_replication_slots, or drop unused slots)";
	if (strstr(msg, "max_wal_senders") || strstr(msg, "standby connections"))
		return " (raise max_wal_senders)";
	if (strstr(msg, "no pg_hba.conf entry"))
		return " (pg_hba.conf must allow the role to connect to the database; logical replication uses database entries)";
	return "";
}

/* Drop the connection and schedule the next attempt. */
static void
walsource_fail(WalSource *w, const char *what, const char *detail)
{
	const char *msg = detail ? detail : (w->conn ? PQerrorMessage(w->conn) : "");
	size_t		n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	relay_log(RLOG_WARNING, "replication slot \"%s\": %s: %.*s%s; retrying in %d ms",
			  w->slot, what, (int) n, msg, walsource_hint(msg), w->backoff_ms);
	if (w->watch.fd >= 0)
		loop_remove(&w->relay->loop, &w->watch);
	if (w->conn)
		PQfinish(w->conn);
	w->conn = NULL;
	w->query = WAL_QUERY_NONE;
	w->next_query = WAL_QUERY_NONE;
	w->state = WAL_WAITING;
	w->backlog = false;
	w->setup_failed = false;
	w->in_txn = false;
	if (w->txn_last_ev)
		event_release(w->txn_last_ev);
	w->txn_last_ev = NULL;
	w->deadline_ms = w->relay->loop.now_ms + w->backoff_ms;
	w->backoff_ms *= 2;
	if (w->backoff_ms > w->relay->config.reconnect_max_ms)
		w->backoff_ms = w->relay->config.reconnect_max_ms;
	if (w->backoff_ms < WAL_BACKOFF_MIN_MS)
		w->backoff_ms = WAL_BACKOFF_MIN_MS;
}

/* A slot name PostgreSQL accepts: [a-z0-9_]{1,63}. */
static bool
walsource_valid_slot(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char) s[i]) || isdigit((unsigned char) s[i]) || s[i] == '_'))
			return false;
	return true;
}

WalSource *
walsource_create(Relay *relay, const char *conninfo, const char *slot_name)
{
	WalSource  *w = relay_calloc(1, sizeof(WalSource));

	w->relay = relay;
	w->watch.fd = -1;
	w->conninfo = relay_strdup(conninfo);
	w->slot = relay_strdup(slot_name);
	w->backoff_ms = WAL_BACKOFF_MIN_MS;
	w->deadline_ms = -1;
	w->database_id = relay_strdup("");
	sealed_init(&w->sealed);
	walsource_start(w);
	return w;
}

void
walsource_destroy(WalSource *w)
{
	if (w->txn_last_ev)
		event_release(w->txn_last_ev);
	if (w->watch.fd >= 0)
		loop_remove(&w->relay->loop, &w->watch);
	if (w->conn)
		PQfinish(w->conn);
	free(w->conninfo);
	free(w->slot);
	free(w->database_id);
	sealed_free(&w->sealed);
	free(w);
}

bool
walsource_connected(const WalSource *w)
{
	return w->state == WAL_STREAMING;
}

int64_t
walsource_next_deadline(WalSource *w)
{
	if (w->state == WAL_STREAMING)
		return w->backlog ? w->relay->loop.now_ms : w->next_status_ms;
	return w->deadline_ms;
}

/* Begin a non-blocking connection attempt. */
static void
walsource_start(WalSource *w)
{
	/*
	 * As the listener's: keepalives notice a vanished host; dbname (the
	 * user's connection string) comes after them so that it can override.
	 */
	char	   *options = listener_options(w->conninfo);
	const char *keys[] = {"keepalives_idle", "keepalives_interval", "keepalives_count",
	"dbname", "replication", "fallback_application_name", "options", "client_encoding", NULL};
	const char *values[] = {"10", "5", "3", w->conninfo, "database", "pg_realtime", options, "UTF8", NULL};

	if (!walsource_valid_slot(w->slot))
	{
		free(options);
		w->backoff_ms = w->relay->config.reconnect_max_ms;
		walsource_fail(w, "invalid slot name",
					   "a slot name has 1 to 63 characters from a-z, 0-9 and underscore");
		return;
	}
	if (w->ever_connected)
		w->relay->stats.db_reconnects++;
	w->conn = PQconnectStartParams(keys, values, 1);
	free(options);
	if (w->conn == NULL || PQstatus(w->conn) == CONNECTION_BAD)
	{
		walsource_fail(w, "could not start connection", NULL);
		return;
	}
	w->state = WAL_CONNECTING;
	w->deadline_ms = w->relay->loop.now_ms + WAL_CONNECT_TIMEOUT_MS;
	walsource_watch_socket(w, EPOLLOUT);
}

void
walsource_on_timer(WalSource *w)
{
	switch (w->state)
	{
		case WAL_WAITING:
			walsource_start(w);
			break;
		case WAL_CONNECTING:
		case WAL_SETUP:
			walsource_fail(w, "connection timed out", "no answer in time");
			break;
		case WAL_STREAMING:
			/* a status update is due, or messages wait in libpq's buffer */
			walsource_on_io(&w->watch, 0);
			break;
	}
}

/* Send one setup command. */
static void
walsource_send(WalSource *w, WalQuery q, const char *sql)
{
	w->query = q;
	if (!PQsendQuery(w->conn, sql))
	{
		walsource_fail(w, "could not send command", NULL);
		return;
	}
	walsource_watch_socket(w, PQflush(w->conn) == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Look the slot up (or learn that it must be created). */
static void
walsource_send_slot_query(WalSource *w)
{
	char	   *lit = PQescapeLiteral(w->conn, w->slot, strlen(w->slot));
	Buf			q = BUF_INIT;

	buf_printf(&q, "SELECT s.confirmed_flush_lsn, s.plugin, s.database OPERATOR(pg_catalog.=) pg_catalog.current_database(), "
			   "pg_catalog.pg_current_wal_insert_lsn() FROM (SELECT) AS x "
			   "LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.slot_name OPERATOR(pg_catalog.=) %s",
			   lit ? lit : "''");
	PQfreemem(lit);
	walsource_send(w, WAL_QUERY_SLOT, q.data);
	buf_free(&q);
}

static void
walsource_send_start(WalSource *w)
{
	Buf			q = BUF_INIT;

	buf_printf(&q, "START_REPLICATION SLOT \"%s\" LOGICAL 0/0 (proto_version '1', "
			   "publication_names '" WAL_PUBLICATION "', messages 'true')", w->slot);
	walsource_send(w, WAL_QUERY_START, q.data);
	buf_free(&q);
}

static uint64_t
parse_lsn(const char *s)
{
	unsigned int hi;
	unsigned int lo;

	if (s == NULL || sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return (uint64_t) hi << 32 | lo;
}

/* The first start of this process: events before the slot's point are gone. */
static void
walsource_set_start(WalSource *w, uint64_t lsn)
{
	RelayPos	floor = {lsn, 0, RELAY_POS_WAL};
	char		text[RELAY_POS_TEXT_MAX];

	if (w->started)
		return;
	w->started = true;
	w->complete_lsn = w->evicted_lsn = w->confirmed_lsn = lsn;
	relay_raise_floor(w->relay, floor);
	relay_lsn_format(lsn, text);
	relay_log(RLOG_INFO, "replication slot \"%s\": events after %s are replayed from the slot",
			  w->slot, text);
}

/*
 * The rows of WAL_SETUP_SQL: the search_path (pinned), the database's name,
 * id and seal setting on every row, and one key a row (NULL: none).  Keys
 * are taken whatever their expiry: a message in the WAL is checked against
 * its transaction, and old ones are read again after a restart.
 */
static void
walsource_take_setup(WalSource *w, PGresult *res)
{
	char	   *error;
	const char *seal;
	bool		sealing;

	if (PQntuples(res) < 1 || PQnfields(res) != 6)
	{
		relay_log(RLOG_WARNING, "replication slot \"%s\": unexpected result of the setup query", w->slot);
		w->setup_failed = true;
		return;
	}
	if ((error = listener_check_search_path(PQgetvalue(res, 0, 0))) != NULL)
	{
		relay_log(RLOG_WARNING, "replication slot \"%s\": %s", w->slot, error);
		free(error);
		w->setup_failed = true;
		return;
	}
	free(w->database_id);
	w->database_id = relay_strdup(PQgetvalue(res, 0, 2));
	seal = PQgetisnull(res, 0, 3) ? "on" : PQgetvalue(res, 0, 3);
	w->accept_plaintext = relay_parse_bool(seal, &sealing) && !sealing;
	if (!sealed_reset(&w->sealed, PQgetvalue(res, 0, 1), WAL_PREFIX, 0))
	{
		relay_log(RLOG_WARNING, "replication slot \"%s\": database name too long", w->slot);
		w->setup_failed = true;
		return;
	}
	sealed_keys_clear(&w->sealed);
	for (int row = 0; row < PQntuples(res); row++)
	{
		unsigned char key[ENVELOPE_KEY_LEN];

		if (PQgetisnull(res, row, 4) ||
			!envelope_key_from_base64(PQgetvalue(res, row, 5), (size_t) PQgetlength(res, row, 5), key))
			continue;
		sealed_keys_add(&w->sealed, (uint32_t) strtoul(PQgetvalue(res, row, 4), NULL, 10), key, -1);
		OPENSSL_cleanse(key, sizeof(key));
	}
	w->next_query = WAL_QUERY_SLOT;
}

/* One result of a setup command. */
static void
walsource_on_result(WalSource *w, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	switch (w->query)
	{
		case WAL_QUERY_SETUP:
			if (st != PGRES_TUPLES_OK)
				break;
			walsource_take_setup(w, res);
			return;
		case WAL_QUERY_SLOT:
			if (st != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 4)
				break;
			/* on the first start, what was committed before now is backfill */
			if (!w->started)
				w->backfill_lsn = parse_lsn(PQgetvalue(res, 0, 3));
			if (PQgetisnull(res, 0, 1))
			{
				w->next_query = WAL_QUERY_CREATE;	/* sent once this result is done */
				return;
			}
			if (strcmp(PQgetvalue(res, 0, 1), "pgoutput") != 0)
			{
				relay_log(RLOG_WARNING, "replication slot \"%s\" uses plugin \"%s\", not pgoutput; "
						  "drop it (SELECT pg_drop_replication_slot('%s')) or choose another slot_name",
						  w->slot, PQgetvalue(res, 0, 1), w->slot);
				w->setup_failed = true;
				return;
			}
			if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
			{
				relay_log(RLOG_WARNING, "replication slot \"%s\" belongs to another database; "
						  "choose another slot_name", w->slot);
				w->setup_failed = true;
				return;
			}
			walsource_set_start(w, parse_lsn(PQgetvalue(res, 0, 0)));
			w->next_query = WAL_QUERY_START;
			return;
		case WAL_QUERY_CREATE:
			if (st != PGRES_TUPLES_OK)
				break;
			relay_log(RLOG_INFO, "replication slot \"%s\" created in database \"%s\"",
					  w->slot, PQdb(w->conn));
			if (PQntuples(res) == 1 && PQnfields(res) >= 2)
				walsource_set_start(w, parse_lsn(PQgetvalue(res, 0, 1)));
			w->next_query = WAL_QUERY_START;
			return;
		case WAL_QUERY_START:
			if (st != PGRES_COPY_BOTH)
				break;
			w->state = WAL_STREAMING;
			w->query = WAL_QUERY_NONE;
			w->ever_connected = true;
			w->backoff_ms = WAL_BACKOFF_MIN_MS;
			w->next_status_ms = w->relay->loop.now_ms + WAL_STATUS_INTERVAL_MS;
			relay_log(RLOG_INFO, "replication slot \"%s\": streaming events of database \"%s\"",
					  w->slot, PQdb(w->conn));
			return;
		case WAL_QUERY_NONE:
			return;
	}
	{
		const char *msg = PQresultErrorMessage(res);
		size_t		n = strlen(msg);

		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			n--;
		relay_log(RLOG_WARNING, "replication slot \"%s\": %.*s%s", w->slot, (int) n, msg,
				  walsource_hint(msg));
	}
	w->setup_failed = true;
}

/* ------------------------------------------------------------- progress */

/* What the slot may be confirmed up to: nothing the window still holds. */
static uint64_t
walsource_confirmable(const WalSource *w)
{
	return w->in_window > 0 ? w->evicted_lsn : w->complete_lsn;
}

void
walsource_on_window(WalSource *w, RelayEvent *ev, bool added)
{
	uint64_t	lsn;

	if (added)
	{
		w->in_window++;
		return;
	}
	w->in_window--;
	/* a transaction is confirmable once its last event has left */
	lsn = ev->txn_last ? ev->txn_end : ev->confirm_before;
	if (lsn > w->evicted_lsn)
		w->evicted_lsn = lsn;
}

/* Queue one standby status update; false if the connection was dropped. */
static bool
walsource_send_status(WalSource *w, uint64_t written, uint64_t flushed)
{
	char		msg[PGO_STATUS_LEN];

	pgoutput_status_update(msg, written, flushed, event_now_ms() * 1000, false);
	if (PQputCopyData(w->conn, msg, PGO_STATUS_LEN) != 1)
	{
		walsource_fail(w, "could not send status update", NULL);
		return false;
	}
	walsource_watch_socket(w, PQflush(w->conn) == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
	return true;
}

/*
 * Send a standby status update: a confirmation of what the window has let
 * go, when progress is due (or always if force).
 */
static void
walsource_status(WalSource *w, bool force)
{
	uint64_t	confirm = walsource_confirmable(w);
	int64_t		now = w->relay->loop.now_ms;

	if (w->state != WAL_STREAMING)
		return;
	if (!force && now < w->next_status_ms &&
		(confirm <= w->confirmed_lsn || now - w->last_status_ms < WAL_STATUS_MIN_GAP_MS))
		return;
	if (confirm < w->confirmed_lsn)
		confirm = w->confirmed_lsn;	/* never backwards */
	if (!walsource_send_status(w, w->complete_lsn > confirm ? w->complete_lsn : confirm, confirm))
		return;
	w->confirmed_lsn = confirm;
	w->last_status_ms = now;
	w->next_status_ms = now + WAL_STATUS_INTERVAL_MS;
}

/*
 * Answer a keepalive that asks for a reply: everything received is written,
 * and no flush position (0).  The walsender then judges progress by the
 * written position, which is what lets a shutting-down server end the
 * walsender: it waits until the client has "replicated" all it was sent,
 * and the slot's confirmation, held back by the window, never gets there.
 * A flush position of 0 confirms nothing, so the slot stays where it was.
 */
static void
walsource_reply(WalSource *w)
{
	walsource_send_status(w, w->complete_lsn, 0);
}

/* ---------------------------------------------------------------- events */

/* A message or event is not delivered: count it, log a line (rate-limited). */
static void
walsource_drop(WalSource *w, RelayDrop reason, const char *detail)
{
	char		lsn[RELAY_POS_TEXT_MAX];
	uint32_t	suppressed;

	w->invalid++;
	relay_count_drop(w->relay, reason);
	if (!ratelimit_log_ok(&w->drop_log, WALSOURCE_DROP_LOG_PER_MINUTE, w->relay->loop.now_ms, &suppressed))
		return;
	relay_lsn_format(w->txn_lsn, lsn);
	relay_log(RLOG_WARNING, "replication slot \"%s\": dropped a message of the transaction committed at %s (%s): %s%s",
			  w->slot, lsn, relay_drop_names[reason], detail,
			  suppressed > 0 ? "; similar messages were suppressed before" : "");
}

/* The records of an opened batch: each a 4-byte length and an event's JSON. */
static void
walsource_on_batch(WalSource *w, const unsigned char *plain, size_t len)
{
	size_t		offset = 0;
	const char *record;
	size_t		n;
	int			r;

	while ((r = envelope_next_record(plain, len, &offset, &record, &n)) > 0)
	{
		RelayPos	pos = {w->txn_lsn, w->txn_index, RELAY_POS_WAL};
		RelayEvent *ev = NULL;
		int64_t		large;
		RelayDrop	reason = DROP_MALFORMED;
		const char *detail = NULL;

		w->txn_index++;
		/* published before a reconnect */
		if (w->last_pos.kind == RELAY_POS_WAL && relay_pos_cmp(pos, w->last_pos) <= 0)
			continue;
		switch (relay_check_event(w->relay, record, n, w->txn_timestamp, w->database_id, NULL, &ev, &large,
								  &reason, &detail))
		{
			case EVENT_NOTIFY_INLINE:
				event_set_position(ev, pos);
				ev->time_ms = w->txn_time_ms;
				ev->source = w;
				ev->confirm_before = w->txn_confirm_before;
				ev->backfill = w->txn_lsn < w->backfill_lsn;
				w->last_pos = pos;
				relay_publish(w->relay, ev);
				if (w->txn_last_ev)
					event_release(w->txn_last_ev);
				w->txn_last_ev = ev;	/* our reference */
				break;
			case EVENT_NOTIFY_LARGE:
				walsource_drop(w, DROP_MALFORMED, "a large-event pointer has no place in the WAL");
				break;
			case EVENT_NOTIFY_INVALID:
				walsource_drop(w, reason, detail);
				break;
		}
	}
	if (r < 0)
		walsource_drop(w, DROP_MALFORMED, "the batch is malformed");
}

/*
 * A pg_realtime message: sealed (opened and checked by sealed.c), or a
 * plaintext batch where the database does not seal.
 */
static void
walsource_on_message(WalSource *w, const char *p, size_t len)
{
	unsigned char *plain;
	size_t		plain_len = 0;
	EnvelopeHeader header;
	SealedResult result;

	if (!sealed_is_wal_message(p, len))
	{
		if (w->accept_plaintext)
			walsource_on_batch(w, (const unsigned char *) p, len);
		else
			walsource_drop(w, DROP_UNSEALED, "not sealed, and this database seals its events");
		return;
	}
	plain = relay_malloc(len);
	result = sealed_open_wal(&w->sealed, &w->guard, p, len, plain, &plain_len, &header);
	switch (result)
	{
		case SEALED_OK:
			if (plain_len == ENVELOPE_WAL_KEY_LEN &&
				memcmp(plain, ENVELOPE_WAL_KEY_MAGIC, 4) == 0)
			{
				/* a rotation: the new key, sealed with the old one */
				uint32_t	id = (uint32_t) plain[4] << 24 | (uint32_t) plain[5] << 16 |
					(uint32_t) plain[6] << 8 | plain[7];

				sealed_keys_add(&w->sealed, id, plain + 8, -1);
			}
			else if (plain_len == 0)
			{
				/* an announcement without the key: read the keys at this commit */
				if (w->txn_lsn > w->keys_lsn)
					w->keys_changed = true;
			}
			else
				walsource_on_batch(w, plain, plain_len);
			OPENSSL_cleanse(plain, plain_len);
			break;
		case SEALED_MALFORMED:
			walsource_drop(w, DROP_FORGED, "not a well-formed sealed message");
			break;
		case SEALED_UNKNOWN_KEY:
			walsource_drop(w, DROP_UNKNOWN_KEY, "sealed with a key this database does not have");
			break;
		case SEALED_FORGED:
			walsource_drop(w, DROP_FORGED, "does not authenticate for this database and prefix");
			break;
		case SEALED_REPLAYED:
			walsource_drop(w, DROP_REPLAYED, "sealed for another transaction, or repeated in this one");
			break;
	}
	free(plain);
}

/* One pgoutput message of an XLogData. */
static void
walsource_on_xlogdata(WalSource *w, const char *data, size_t len)
{
	PgoMsg		m;
	const char *error = NULL;

	switch (pgoutput_parse_msg(data, len, &m, &error))
	{
		case PGO_MSG_BEGIN:
			w->in_txn = true;
			w->txn_lsn = m.final_lsn;
			w->txn_time_ms = (m.commit_time + PGO_EPOCH_OFFSET_US) / 1000;
			event_format_time(w->txn_time_ms, w->txn_timestamp);
			w->txn_index = 0;
			w->txn_confirm_before = w->complete_lsn;
			sealed_wal_begin(&w->guard, m.xid);
			break;
		case PGO_MSG_MESSAGE:
			/*
			 * Only transactional messages of our prefix: others belong to
			 * other programs, and a non-transactional one is not ours.
			 */
			if (w->in_txn && m.transactional && strcmp(m.prefix, WAL_PREFIX) == 0)
				walsource_on_message(w, m.content, m.content_len);
			break;
		case PGO_MSG_COMMIT:
			w->in_txn = false;
			if (m.end_lsn > w->complete_lsn)
				w->complete_lsn = m.end_lsn;
			if (w->txn_last_ev)
			{
				w->txn_last_ev->txn_last = true;
				w->txn_last_ev->txn_end = m.end_lsn;
				event_release(w->txn_last_ev);
				w->txn_last_ev = NULL;
			}
			if (w->keys_changed)
				w->keys_lsn = w->txn_lsn;
			break;
		case PGO_MSG_OTHER:
			break;
		case PGO_MSG_INVALID:
			w->invalid++;
			relay_log(RLOG_WARNING, "replication slot \"%s\": ignoring a message: %s", w->slot, error);
			break;
	}
}

/* One CopyData message; false if the connection was dropped. */
static bool
walsource_on_copy(WalSource *w, const char *buf, size_t len)
{
	PgoCopy		c;
	const char *error = NULL;

	switch (pgoutput_parse_copy(buf, len, &c, &error))
	{
		case PGO_COPY_XLOGDATA:
			if (c.wal_end > w->server_lsn)
				w->server_lsn = c.wal_end;
			walsource_on_xlogdata(w, c.data, c.data_len);
			if (w->keys_changed && !w->in_txn)
			{
				/* read the new keys: start again, resuming after what was published */
				w->keys_changed = false;
				w->backoff_ms = 0;
				walsource_fail(w, "the keys were rotated", "reconnecting to read them");
				w->deadline_ms = w->relay->loop.now_ms;
				return false;
			}
			return true;
		case PGO_COPY_KEEPALIVE:
			if (c.wal_end > w->server_lsn)
				w->server_lsn = c.wal_end;
			/* between transactions, everything up to the server's end is handled */
			if (!w->in_txn && c.wal_end > w->complete_lsn)
				w->complete_lsn = c.wal_end;
			if (c.reply_requested)
				walsource_reply(w);
			return w->state == WAL_STREAMING;
		case PGO_COPY_INVALID:
			break;
	}
	walsource_fail(w, "invalid replication message", error);
	return false;
}

/* Read what the stream has, a bounded number of messages per turn. */
static void
walsource_stream(WalSource *w)
{
	w->backlog = false;
	for (int i = 0; i < WAL_MESSAGES_PER_TURN; i++)
	{
		char	   *buf = NULL;
		int			n = PQgetCopyData(w->conn, &buf, 1);

		if (n == 0)
			break;
		if (n < 0)
		{
			PGresult   *res = (n == -1) ? PQgetResult(w->conn) : NULL;
			const char *msg = res ? PQresultErrorMessage(res) : NULL;
			Buf			copy = BUF_INIT;

			buf_append_str(&copy, msg && msg[0] ? msg : PQerrorMessage(w->conn));
			if (res)
				PQclear(res);
			walsource_fail(w, "replication stream ended", copy.data);
			buf_free(&copy);
			return;
		}
		if (!walsource_on_copy(w, buf, (size_t) n))
		{
			PQfreemem(buf);
			return;
		}
		PQfreemem(buf);
		if (i == WAL_MESSAGES_PER_TURN - 1)
			w->backlog = true;	/* the rest next turn (walsource_next_deadline) */
	}
	walsource_status(w, false);
}

static void
walsource_on_io(Watch *watch, uint32_t events)
{
	WalSource  *w = (WalSource *) watch;

	if (w->state == WAL_CONNECTING)
	{
		switch (PQconnectPoll(w->conn))
		{
			case PGRES_POLLING_READING:
				walsource_watch_socket(w, EPOLLIN);
				return;
			case PGRES_POLLING_WRITING:
				walsource_watch_socket(w, EPOLLOUT);
				return;
			case PGRES_POLLING_OK:
				{
					if (PQsetnonblocking(w->conn, 1) != 0)
					{
						walsource_fail(w, "could not make the connection non-blocking", NULL);
						return;
					}
					w->state = WAL_SETUP;
					walsource_send(w, WAL_QUERY_SETUP, WAL_SETUP_SQL);
				}
				return;
			default:
				walsource_fail(w, "could not connect", NULL);
				return;
		}
	}
	if (w->state != WAL_SETUP && w->state != WAL_STREAMING)
		return;
	if ((events & EPOLLOUT) && PQflush(w->conn) == 0)
		loop_modify(&w->relay->loop, &w->watch, EPOLLIN);
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !PQconsumeInput(w->conn))
	{
		walsource_fail(w, "connection lost", NULL);
		return;
	}
	if (w->state == WAL_STREAMING)
	{
		walsource_stream(w);
		return;
	}

	/* setup: results of the command in flight, then the next command */
	while (w->state == WAL_SETUP && !PQisBusy(w->conn))
	{
		PGresult   *res = PQgetResult(w->conn);
		WalQuery	next;

		if (res == NULL)
		{
			if (w->setup_failed)
			{
				w->backoff_ms = w->relay->config.reconnect_max_ms;
				walsource_fail(w, "setup failed", "see the message above");
				return;
			}
			next = w->next_query;
			w->next_query = WAL_QUERY_NONE;
			if (next == WAL_QUERY_CREATE)
			{
				Buf			q = BUF_INIT;

				buf_printf(&q, "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput NOEXPORT_SNAPSHOT",
						   w->slot);
				walsource_send(w, WAL_QUERY_CREATE, q.data);
				buf_free(&q);
			}
			else if (next == WAL_QUERY_START)
				walsource_send_start(w);
			else if (next == WAL_QUERY_SLOT)
				walsource_send_slot_query(w);
			else
				walsource_fail(w, "setup failed", "the slot query returned nothing usable");
			return;
		}
		walsource_on_result(w, res);
		PQclear(res);
		if (w->state == WAL_STREAMING)
		{
			walsource_stream(w);	/* data may have come with the answer */
			return;
		}
	}
	if (w->state != WAL_WAITING && PQstatus(w->conn) == CONNECTION_BAD)
		walsource_fail(w, "connection lost", NULL);
}

/* ---------------------------------------------------------------- health */

void
walsource_health_json(WalSource *w, Buf *out)
{
	char		confirmed[RELAY_POS_TEXT_MAX];
	char		received[RELAY_POS_TEXT_MAX];
	char		server[RELAY_POS_TEXT_MAX];

	relay_lsn_format(w->confirmed_lsn, confirmed);
	relay_lsn_format(w->complete_lsn, received);
	relay_lsn_format(w->server_lsn, server);
	buf_printf(out, "{\"slot\":\"%s\",\"connected\":%s,\"server_lsn\":\"%s\",\"received_lsn\":\"%s\","
			   "\"confirmed_lsn\":\"%s\",\"lag_bytes\":%llu,\"retained_bytes\":%llu,"
			   "\"window_events\":%zu,\"invalid\":%llu}",
			   w->slot, w->state == WAL_STREAMING ? "true" : "false", server, received, confirmed,
			   (unsigned long long) (w->server_lsn > w->complete_lsn ? w->server_lsn - w->complete_lsn : 0),
			   (unsigned long long) (w->server_lsn > w->confirmed_lsn ? w->server_lsn - w->confirmed_lsn : 0),
			   w->in_window, (unsigned long long) w->invalid);
}
