/*
 * worker.c - host of the relay inside PostgreSQL: GUCs, registration, signals
 *
 * With pg_realtime in shared_preload_libraries the postmaster starts one
 * background worker that runs the relay (src/relay) on its own event loop.
 * Following worker_spi: reloadable GUCs are defined in every backend, the
 * postmaster-only ones and the registration only while preloading.  SIGTERM
 * and SIGHUP wake the loop through the relay's self-pipe; the postmaster's
 * death pipe is one more descriptor in the same wait, so the worker exits at
 * once when the postmaster is gone.  It connects back to its own server with
 * libpq to LISTEN, exactly as a standalone relay would.
 */
#include "postgres.h"

#include <limits.h>
#include <signal.h>
#include <stdarg.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/guc.h"

#include "relay/log.h"
#include "relay/relay.h"
#include "worker.h"

PGDLLEXPORT void pg_realtime_worker_main(Datum main_arg);

/* GUC variables */
static char *worker_listen_addresses = NULL;
static int	worker_port = 8787;
static int	worker_replay_events = 1024;
static char *worker_databases = NULL;
static char *worker_role = NULL;
static char *worker_conninfo = NULL;
static char *worker_project = NULL;
static char *worker_allowed_origins = NULL;
static int	worker_max_connections = 10000;
static int	worker_max_client_output = 1024;
static int	worker_max_message_size = 64000;
static int	worker_max_subscriptions = 100;
static int	worker_idle_timeout = 60000;
static int	worker_handshake_timeout = 10000;
static int	worker_sse_keepalive = 15000;
static int	worker_reconnect_max_delay = 10000;
static int	worker_purge_interval = 60000;
static int	worker_large_event_retention = 3600;

static Relay *volatile worker_relay = NULL;

/* relay_log() for the relay code running in this process */
void
relay_log(RelayLogLevel level, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;
	int			elevel;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	switch (level)
	{
		case RLOG_DEBUG:
			elevel = DEBUG1;
			break;
		case RLOG_INFO:
			elevel = LOG;
			break;
		default:
			elevel = WARNING;
			break;
	}
	ereport(elevel, (errmsg_internal("pg_realtime: %s", msg)));
}

static void
worker_define_reloadable_gucs(void)
{
	DefineCustomStringVariable("pg_realtime.databases",
							   "Databases whose notifications the relay worker listens to.",
							   "Comma-separated list; one LISTEN connection each.",
							   &worker_databases, "postgres", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_realtime.role",
							   "Database role the relay worker connects as.",
							   "Empty means the operating system user of the server.",
							   &worker_role, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_realtime.conninfo",
							   "Extra libpq connection options for the relay worker's connections.",
							   NULL, &worker_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("pg_realtime.project",
							   "Appwrite project id clients must name; empty accepts any.",
							   NULL, &worker_project, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_realtime.allowed_origins",
							   "Origins allowed to connect from browsers (comma-separated).",
							   "Empty allows any origin; requests without Origin are always allowed.",
							   &worker_allowed_origins, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.max_connections",
							"Maximum number of client connections of the relay.",
							NULL, &worker_max_connections, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.max_client_output",
							"Output queued for one client before it is cut off as too slow.",
							NULL, &worker_max_client_output, 1024, 16, 1048576,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.max_message_size",
							"Largest inbound WebSocket message in bytes.",
							NULL, &worker_max_message_size, 64000, 125, 16777216,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.max_subscriptions",
							"Maximum subscriptions per connection.",
							NULL, &worker_max_subscriptions, 100, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.idle_timeout",
							"A WebSocket client silent this long is closed.",
							"The Appwrite SDK pings every 20 s.",
							&worker_idle_timeout, 60000, 1000, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.handshake_timeout",
							"Time a client has to send its whole HTTP request head.",
							NULL, &worker_handshake_timeout, 10000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.sse_keepalive",
							"Quiet time after which an SSE stream gets a keepalive comment.",
							NULL, &worker_sse_keepalive, 15000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.reconnect_max_delay",
							"Longest wait between attempts to reconnect to the database.",
							NULL, &worker_reconnect_max_delay, 10000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.purge_interval",
							"How often the worker deletes old rows of realtime.large_events; 0 never.",
							NULL, &worker_purge_interval, 60000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.large_event_retention",
							"Age after which rows of realtime.large_events are purged.",
							NULL, &worker_large_event_retention, 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

static void
worker_define_postmaster_gucs(void)
{
	DefineCustomStringVariable("pg_realtime.listen_addresses",
							   "Addresses the relay worker listens on for WebSocket and SSE clients.",
							   "Comma-separated host names or addresses; * for all.",
							   &worker_listen_addresses, "localhost", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.port",
							"TCP port of the relay worker.",
							NULL, &worker_port, 8787, 1, 65535, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_realtime.replay_events",
							"Recent events kept for SSE clients resuming with Last-Event-ID.",
							NULL, &worker_replay_events, 1024, 0, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

/* Called from _PG_init. */
void
worker_init(void)
{
	BackgroundWorker worker;

	worker_define_reloadable_gucs();
	if (!process_shared_preload_libraries_in_progress)
		return;
	worker_define_postmaster_gucs();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_realtime");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pg_realtime_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_realtime relay");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_realtime relay");
	RegisterBackgroundWorker(&worker);
}

/* Append key='value' to a conninfo string, quoting as libpq wants. */
static void
append_conninfo_value(StringInfo s, const char *key, const char *value)
{
	appendStringInfo(s, "%s%s='", s->len ? " " : "", key);
	for (const char *p = value; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(s, '\\');
		appendStringInfoChar(s, *p);
	}
	appendStringInfoChar(s, '\'');
}

/* Build the relay's configuration from the current GUC values. */
static void
worker_fill_config(RelayConfig *config)
{
	const char *channel = GetConfigOption("pg_realtime.channel", true, false);
	char	   *socket_dirs = Unix_socket_directories ? pstrdup(Unix_socket_directories) : pstrdup("");
	char	   *socket_dir = strtok(socket_dirs, ", ");
	char	   *dbs = pstrdup(worker_databases ? worker_databases : "");
	char	   *save = NULL;
	char		retention[32];

	relay_config_free(config);
	relay_config_defaults(config);
	free(config->listen_addresses);
	config->listen_addresses = strdup(worker_listen_addresses ? worker_listen_addresses : "localhost");
	config->port = worker_port;
	free(config->channel);
	config->channel = strdup(channel && channel[0] ? channel : "pg_realtime");
	free(config->project);
	config->project = strdup(worker_project ? worker_project : "");
	free(config->allowed_origins);
	config->allowed_origins = strdup(worker_allowed_origins ? worker_allowed_origins : "");
	config->max_connections = worker_max_connections;
	config->max_client_output_kb = worker_max_client_output;
	config->max_message_bytes = worker_max_message_size;
	config->max_subscriptions = worker_max_subscriptions;
	config->idle_timeout_ms = worker_idle_timeout;
	config->handshake_timeout_ms = worker_handshake_timeout;
	config->sse_keepalive_ms = worker_sse_keepalive;
	config->reconnect_max_ms = worker_reconnect_max_delay;
	config->purge_interval_ms = worker_purge_interval;
	snprintf(retention, sizeof(retention), "%d seconds", worker_large_event_retention);
	free(config->large_event_retention);
	config->large_event_retention = strdup(retention);
	config->replay_events = worker_replay_events;

	for (char *db = strtok_r(dbs, ", ", &save); db; db = strtok_r(NULL, ", ", &save))
	{
		StringInfoData s;

		initStringInfo(&s);
		append_conninfo_value(&s, "host", socket_dir ? socket_dir : "localhost");
		appendStringInfo(&s, " port=%d", PostPortNumber);
		append_conninfo_value(&s, "dbname", db);
		if (worker_role && worker_role[0])
			append_conninfo_value(&s, "user", worker_role);
		if (worker_conninfo && worker_conninfo[0])
			appendStringInfo(&s, " %s", worker_conninfo);
		config->conninfo = realloc(config->conninfo, sizeof(char *) * (config->nconninfo + 1));
		config->conninfo[config->nconninfo++] = strdup(s.data);
		pfree(s.data);
	}
	pfree(dbs);
	pfree(socket_dirs);
}

static void
worker_sigterm(SIGNAL_ARGS)
{
	relay_signal_shutdown(worker_relay);
}

static void
worker_sighup(SIGNAL_ARGS)
{
	relay_signal_reload(worker_relay);
}

/* The postmaster's death pipe became readable. */
static void
worker_postmaster_death(void *arg)
{
	if (!PostmasterIsAlive())
	{
		ereport(LOG, (errmsg("pg_realtime relay exiting because the postmaster died")));
		proc_exit(1);
	}
}

static bool
worker_reload(void *arg, RelayConfig *config)
{
	ProcessConfigFile(PGC_SIGHUP);
	worker_fill_config(config);
	return true;
}

void
pg_realtime_worker_main(Datum main_arg)
{
	RelayConfig config;
	Relay	   *relay;

	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, worker_sighup);
	pqsignal(SIGPIPE, SIG_IGN);
	BackgroundWorkerUnblockSignals();

	memset(&config, 0, sizeof(config));
	worker_fill_config(&config);
	relay = relay_create(&config);
	relay_config_free(&config);
	if (relay == NULL)
		ereport(ERROR,
				(errmsg("pg_realtime relay could not listen on \"%s\" port %d",
						worker_listen_addresses, worker_port),
				 errhint("Check pg_realtime.listen_addresses and pg_realtime.port; the worker retries in a second.")));
	worker_relay = relay;
	relay_watch_fd(relay, postmaster_alive_fds[POSTMASTER_FD_WATCH], worker_postmaster_death, NULL);
	relay_set_reload_callback(relay, worker_reload, NULL);

	relay_run(relay);
	worker_relay = NULL;
	relay_destroy(relay);

	/*
	 * Exit 1 as worker_spi does: the postmaster restarts a worker that exits
	 * 1 (unless it is shutting down itself) but forgets one that exits 0, and
	 * a SIGTERM from outside must not leave the server without its relay.
	 */
	proc_exit(1);
}
