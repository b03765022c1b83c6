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

#include "access/xlog.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "relay/log.h"
#include "relay/buf.h"
#include "relay/relay.h"
#include "relay/settings.h"
#include "worker.h"

PGDLLEXPORT void pg_realtime_worker_main(Datum main_arg);

/*
 * GUC variables: the relay's settings (settings.c) live in these arrays, by
 * index into relay_settings; the worker's own are below.
 */
static int *worker_int_values;
static bool *worker_bool_values;
static char **worker_string_values;
static char *worker_databases = NULL;
static char *worker_role = NULL;
static char *worker_conninfo = NULL;

static Relay *volatile worker_relay = NULL;
static volatile sig_atomic_t worker_shutdown_pending = false;

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
		case RLOG_WARNING:
			elevel = WARNING;
			break;
		default:
			/* ends this worker only; the postmaster starts it again */
			elevel = FATAL;
			break;
	}
	ereport(elevel, (errmsg_internal("pg_realtime: %s", msg)));
}

static const int worker_guc_units[] = {
	[RELAY_UNIT_NONE] = 0,
	[RELAY_UNIT_MS] = GUC_UNIT_MS,
	[RELAY_UNIT_S] = GUC_UNIT_S,
	[RELAY_UNIT_KB] = GUC_UNIT_KB,
	[RELAY_UNIT_BYTE] = GUC_UNIT_BYTE,
};

/*
 * Define a GUC for each of the relay's settings from the table in
 * settings.c: the reloadable ones always, the postmaster ones only while
 * preloading (as worker_spi does).  Settings the trigger side defines too
 * (pg_realtime.channel) are left to it.
 */
static void
worker_define_setting_gucs(bool postmaster)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

	if (worker_int_values == NULL)
	{
		worker_int_values = palloc0(sizeof(int) * relay_nsettings);
		worker_bool_values = palloc0(sizeof(bool) * relay_nsettings);
		worker_string_values = palloc0(sizeof(char *) * relay_nsettings);
	}
	for (int i = 0; i < relay_nsettings; i++)
	{
		const RelaySetting *s = &relay_settings[i];
		char	   *name;
		GucContext context = (s->flags & RELAY_SETTING_RESTART) ? PGC_POSTMASTER : PGC_SIGHUP;
		int			flags = worker_guc_units[s->unit] |
			((s->flags & RELAY_SETTING_SECRET) ? GUC_SUPERUSER_ONLY : 0);

		if ((s->flags & RELAY_SETTING_SHARED) || (context == PGC_POSTMASTER) != postmaster)
			continue;
		name = psprintf("pg_realtime.%s", s->name);
		switch (s->type)
		{
			case RELAY_SETTING_INT:
				DefineCustomIntVariable(name, s->description, s->detail, &worker_int_values[i],
										relay_setting_default(s, true), s->min, s->max,
										context, flags, NULL, NULL, NULL);
				break;
			case RELAY_SETTING_BOOL:
				DefineCustomBoolVariable(name, s->description, s->detail, &worker_bool_values[i],
										 s->def != 0, context, flags, NULL, NULL, NULL);
				break;
			case RELAY_SETTING_ENUM:
				{
					int			n = 0;
					struct config_enum_entry *options;

					while (s->choices[n])
						n++;
					options = palloc0(sizeof(struct config_enum_entry) * (n + 1));
					for (int k = 0; k < n; k++)
					{
						options[k].name = s->choices[k];
						options[k].val = k;
					}
					DefineCustomEnumVariable(name, s->description, s->detail, &worker_int_values[i],
											 s->def, options, context, flags, NULL, NULL, NULL);
				}
				break;
			case RELAY_SETTING_STRING:
				DefineCustomStringVariable(name, s->description, s->detail, &worker_string_values[i],
										   s->str_def, context, flags, NULL, NULL, NULL);
				break;
		}
	}
	MemoryContextSwitchTo(oldcxt);
}

/* The worker's own GUCs: which databases, as whom. */
static void
worker_define_host_gucs(void)
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
}

/* Called from _PG_init. */
void
worker_init(void)
{
	BackgroundWorker worker;

	worker_define_host_gucs();
	worker_define_setting_gucs(false);
	if (!process_shared_preload_libraries_in_progress)
		return;
	worker_define_setting_gucs(true);

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
	char	   *socket_dirs = Unix_socket_directories ? pstrdup(Unix_socket_directories) : pstrdup("");
	char	   *socket_dir = strtok(socket_dirs, ", ");
	char	   *dbs = pstrdup(worker_databases ? worker_databases : "");
	char	   *save = NULL;

	relay_config_free(config);
	relay_config_defaults(config);
	for (int i = 0; i < relay_nsettings; i++)
	{
		const RelaySetting *s = &relay_settings[i];
		void	   *field = relay_setting_field(config, s);

		switch (s->type)
		{
			case RELAY_SETTING_INT:
			case RELAY_SETTING_ENUM:
				*(int *) field = worker_int_values[i];
				if (s->flags & RELAY_SETTING_SHARED)
				{
					char		guc[64];
					const char *value;
					Buf			err = BUF_INIT;

					snprintf(guc, sizeof(guc), "pg_realtime.%s", s->name);
					value = GetConfigOption(guc, true, false);
					*(int *) field = relay_setting_default(s, true);
					if (value && !relay_setting_parse(s, value, config, &err))
						ereport(WARNING,
								(errmsg("pg_realtime: %s", err.data ? err.data : guc)));
					buf_free(&err);
				}
				break;
			case RELAY_SETTING_BOOL:
				*(bool *) field = worker_bool_values[i];
				break;
			case RELAY_SETTING_STRING:
				{
					char		guc[64];
					const char *value = worker_string_values[i];

					if (s->flags & RELAY_SETTING_SHARED)
					{
						snprintf(guc, sizeof(guc), "pg_realtime.%s", s->name);
						value = GetConfigOption(guc, true, false);
					}
					free(*(char **) field);
					*(char **) field = relay_strdup(value && value[0] ? value : s->str_def);
				}
				break;
		}
	}

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
		config->conninfo = relay_realloc(config->conninfo, sizeof(char *) * (config->nconninfo + 1));
		config->conninfo[config->nconninfo++] = relay_strdup(s.data);
		pfree(s.data);
	}
	pfree(dbs);
	pfree(socket_dirs);
}

/* SIGTERM: remembered even before the relay exists */
static void
worker_sigterm(SIGNAL_ARGS)
{
	worker_shutdown_pending = true;
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
	if (config.transport == RELAY_TRANSPORT_WAL && wal_level < WAL_LEVEL_LOGICAL)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_realtime.transport is \"wal\" but wal_level is not \"logical\""),
				 errdetail("Events are written to the WAL only as logical decoding messages, which need wal_level = logical; until then no event is delivered."),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
	relay = relay_create(&config);
	if (relay == NULL)
		ereport(ERROR,
				(errmsg("pg_realtime relay could not start on \"%s\" port %d",
						config.listen_addresses, config.port),
				 errdetail("The warning before this message says why."),
				 errhint("Check pg_realtime.listen_addresses, pg_realtime.port and the pg_realtime.jwt_* settings; the worker retries in a second.")));
	relay_config_free(&config);
	worker_relay = relay;
	if (worker_shutdown_pending)
		relay_signal_shutdown(relay);
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
