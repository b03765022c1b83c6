/*
 * relay_main.c - pg_realtime_relay: the relay as a standalone process
 *
 * Same relay as the background worker, for scaling out: each instance
 * LISTENs on its own connection(s) and serves its own clients, so several
 * can run behind a load balancer.  Settings are flags named like the
 * worker's GUCs.
 */
#include "relay/buf.h"
#include "relay/log.h"
#include "relay/relay.h"
#include "relay/settings.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RELAY_VERSION "0.1.0"

static Relay *volatile main_relay = NULL;
static volatile sig_atomic_t main_shutdown_pending = 0;
static int	main_verbose = 0;

void
relay_log(RelayLogLevel level, const char *fmt,...)
{
	static const char *names[] = {"DEBUG", "LOG", "WARNING", "ERROR"};
	char		stamp[32];
	struct timespec ts;
	struct tm	tm;
	va_list		ap;

	if (level == RLOG_DEBUG && !main_verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld UTC [pg_realtime_relay] %s:  ", stamp, ts.tv_nsec / 1000000, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (level == RLOG_ERROR)
		exit(1);
}

/* The flag spelling of a setting's name: '_' becomes '-'. */
static void
flag_name(const RelaySetting *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", s->name);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = '-';
}

static void
usage(FILE *out)
{
	fprintf(out,
			"pg_realtime_relay relays pg_realtime events to WebSocket and SSE clients.\n\n"
			"Usage:\n  pg_realtime_relay [OPTION]... CONNINFO...\n\n"
			"Each CONNINFO is a libpq connection string or URI of a database to LISTEN in.\n\n"
			"Options (defaults in brackets; the worker's GUC of the same name is pg_realtime.NAME;\n"
			"values take the GUC's units, e.g. 500ms, 10s, 64kB):\n");
	for (int i = 0; i < relay_nsettings; i++)
	{
		const RelaySetting *s = &relay_settings[i];
		char		name[64];
		char		left[96];
		Buf			def = BUF_INIT;
		RelayConfig defaults;

		flag_name(s, name, sizeof(name));
		if (s->short_flag)
			snprintf(left, sizeof(left), "  -%c, --%s=%s", s->short_flag, name, s->metavar);
		else
			snprintf(left, sizeof(left), "      --%s=%s", name, s->metavar);
		relay_config_defaults(&defaults);
		relay_setting_format(s, &defaults, &def);
		relay_config_free(&defaults);
		fprintf(out, "%-34s %s [%s]\n", left, s->description, def.data ? def.data : "");
		buf_free(&def);
	}
	fprintf(out,
			"  -v, --verbose                    log debug messages\n"
			"  -V, --version                    print the version and exit\n"
			"  -h, --help                       show this help and exit\n");
}

static void
on_term(int sig)
{
	main_shutdown_pending = 1;
	relay_signal_shutdown(main_relay);
}

/* SIGHUP: re-read the key files (jwt_secret_file, jwt_public_key_file). */
static void
on_hup(int sig)
{
	relay_signal_reload(main_relay);
}

int
main(int argc, char **argv)
{
	enum
	{
		OPT_SETTING = 1000		/* + index into relay_settings */
	};
	struct option *options = relay_calloc(relay_nsettings + 4, sizeof(struct option));
	char		shortopts[64] = "vVh";
	char	  (*names)[64] = relay_calloc(relay_nsettings, sizeof(*names));
	RelayConfig config;
	Relay	   *relay;
	int			opt;
	int			rc;
	bool		ok = true;
	Buf			err = BUF_INIT;

	for (int i = 0; i < relay_nsettings; i++)
	{
		const RelaySetting *s = &relay_settings[i];

		flag_name(s, names[i], sizeof(names[i]));
		options[i].name = names[i];
		options[i].has_arg = required_argument;
		options[i].val = s->short_flag ? s->short_flag : OPT_SETTING + i;
		if (s->short_flag)
		{
			size_t		n = strlen(shortopts);

			shortopts[n] = s->short_flag;
			shortopts[n + 1] = ':';
			shortopts[n + 2] = '\0';
		}
	}
	options[relay_nsettings] = (struct option) {"verbose", no_argument, NULL, 'v'};
	options[relay_nsettings + 1] = (struct option) {"version", no_argument, NULL, 'V'};
	options[relay_nsettings + 2] = (struct option) {"help", no_argument, NULL, 'h'};

	/* a SIGTERM from now on is remembered even before the relay exists */
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGHUP, on_hup);		/* flags stay; key files are read again */
	signal(SIGPIPE, SIG_IGN);

	relay_config_defaults(&config);
	while ((opt = getopt_long(argc, argv, shortopts, options, NULL)) != -1)
	{
		const RelaySetting *s = NULL;

		if (opt >= OPT_SETTING && opt < OPT_SETTING + relay_nsettings)
			s = &relay_settings[opt - OPT_SETTING];
		for (int i = 0; s == NULL && i < relay_nsettings; i++)
			if (relay_settings[i].short_flag && relay_settings[i].short_flag == opt)
				s = &relay_settings[i];
		if (s)
		{
			buf_reset(&err);
			if (!relay_setting_parse(s, optarg, &config, &err))
			{
				fprintf(stderr, "pg_realtime_relay: --%s: %s\n", names[s - relay_settings], err.data);
				ok = false;
			}
			continue;
		}
		switch (opt)
		{
			case 'v':
				main_verbose = 1;
				break;
			case 'V':
				printf("pg_realtime_relay %s\n", RELAY_VERSION);
				return 0;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	buf_free(&err);
	free(options);
	free(names);
	if (!ok)
		return 2;
	if (optind >= argc)
	{
		fprintf(stderr, "pg_realtime_relay: no connection string given\n"
				"Try \"pg_realtime_relay --help\" for more information.\n");
		return 2;
	}
	config.nconninfo = argc - optind;
	config.conninfo = relay_calloc(config.nconninfo, sizeof(char *));
	for (int i = 0; i < config.nconninfo; i++)
		config.conninfo[i] = relay_strdup(argv[optind + i]);

	relay = relay_create(&config);
	relay_config_free(&config);
	if (relay == NULL)
		return 1;
	main_relay = relay;
	if (main_shutdown_pending)
		relay_signal_shutdown(relay);
	rc = relay_run(relay);
	main_relay = NULL;
	relay_destroy(relay);
	relay_log(RLOG_INFO, "stopped");
	return rc;
}
