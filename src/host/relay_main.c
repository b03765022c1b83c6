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
}

static void
usage(FILE *out)
{
	fprintf(out,
			"pg_realtime_relay relays pg_realtime events to WebSocket and SSE clients.\n\n"
			"Usage:\n  pg_realtime_relay [OPTION]... CONNINFO...\n\n"
			"Each CONNINFO is a libpq connection string or URI of a database to LISTEN in.\n\n"
			"Options (defaults in brackets; the worker's GUC of the same name is pg_realtime.NAME):\n"
			"  -l, --listen-addresses=LIST   addresses to listen on, * for all [localhost]\n"
			"  -p, --port=PORT               TCP port [8787]\n"
			"      --channel=NAME            NOTIFY channel [pg_realtime]\n"
			"      --project=ID              project id clients must name; empty accepts any []\n"
			"      --allowed-origins=LIST    browser origins allowed; empty allows any []\n"
			"      --max-connections=N       client connections [10000]\n"
			"      --max-client-output=KB    queued output per client before cut-off [1024]\n"
			"      --max-message-size=BYTES  inbound WebSocket message [64000]\n"
			"      --max-subscriptions=N     subscriptions per connection [100]\n"
			"      --idle-timeout=MS         close WebSockets silent this long [60000]\n"
			"      --handshake-timeout=MS    time to send the request head [10000]\n"
			"      --sse-keepalive=MS        SSE keepalive comment after quiet [15000]\n"
			"      --reconnect-max-delay=MS  database reconnect backoff cap [10000]\n"
			"      --purge-interval=MS       purge realtime.large_events this often; 0 never [0]\n"
			"      --large-event-retention=S age of large events to purge, seconds [3600]\n"
			"      --replay-events=N         events kept for SSE Last-Event-ID [1024]\n"
			"  -v, --verbose                 log debug messages\n"
			"  -V, --version                 print the version and exit\n"
			"  -h, --help                    show this help and exit\n");
}

static void
on_term(int sig)
{
	relay_signal_shutdown(main_relay);
}

static bool
parse_int(const char *name, const char *s, int min, int max, int *out)
{
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "pg_realtime_relay: invalid value \"%s\" for --%s (allowed %d..%d)\n",
				s, name, min, max);
		return false;
	}
	*out = (int) v;
	return true;
}

static void
set_string(char **field, const char *value)
{
	free(*field);
	*field = relay_strdup(value);
}

int
main(int argc, char **argv)
{
	enum
	{
		OPT_CHANNEL = 1000, OPT_PROJECT, OPT_ORIGINS, OPT_MAXCONN, OPT_MAXOUT, OPT_MAXMSG,
		OPT_MAXSUBS, OPT_IDLE, OPT_HANDSHAKE, OPT_KEEPALIVE, OPT_RECONNECT, OPT_PURGE,
		OPT_RETENTION, OPT_REPLAY
	};
	static const struct option options[] = {
		{"listen-addresses", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},
		{"channel", required_argument, NULL, OPT_CHANNEL},
		{"project", required_argument, NULL, OPT_PROJECT},
		{"allowed-origins", required_argument, NULL, OPT_ORIGINS},
		{"max-connections", required_argument, NULL, OPT_MAXCONN},
		{"max-client-output", required_argument, NULL, OPT_MAXOUT},
		{"max-message-size", required_argument, NULL, OPT_MAXMSG},
		{"max-subscriptions", required_argument, NULL, OPT_MAXSUBS},
		{"idle-timeout", required_argument, NULL, OPT_IDLE},
		{"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE},
		{"sse-keepalive", required_argument, NULL, OPT_KEEPALIVE},
		{"reconnect-max-delay", required_argument, NULL, OPT_RECONNECT},
		{"purge-interval", required_argument, NULL, OPT_PURGE},
		{"large-event-retention", required_argument, NULL, OPT_RETENTION},
		{"replay-events", required_argument, NULL, OPT_REPLAY},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	RelayConfig config;
	Relay	   *relay;
	int			opt;
	int			retention = 3600;
	int			rc;
	bool		ok = true;
	char		retention_text[32];

	relay_config_defaults(&config);
	while ((opt = getopt_long(argc, argv, "l:p:vVh", options, NULL)) != -1)
	{
		switch (opt)
		{
			case 'l':
				set_string(&config.listen_addresses, optarg);
				break;
			case 'p':
				ok &= parse_int("port", optarg, 1, 65535, &config.port);
				break;
			case OPT_CHANNEL:
				set_string(&config.channel, optarg);
				break;
			case OPT_PROJECT:
				set_string(&config.project, optarg);
				break;
			case OPT_ORIGINS:
				set_string(&config.allowed_origins, optarg);
				break;
			case OPT_MAXCONN:
				ok &= parse_int("max-connections", optarg, 1, 1000000, &config.max_connections);
				break;
			case OPT_MAXOUT:
				ok &= parse_int("max-client-output", optarg, 16, 1048576, &config.max_client_output_kb);
				break;
			case OPT_MAXMSG:
				ok &= parse_int("max-message-size", optarg, 125, 16777216, &config.max_message_bytes);
				break;
			case OPT_MAXSUBS:
				ok &= parse_int("max-subscriptions", optarg, 1, 100000, &config.max_subscriptions);
				break;
			case OPT_IDLE:
				ok &= parse_int("idle-timeout", optarg, 1000, INT_MAX, &config.idle_timeout_ms);
				break;
			case OPT_HANDSHAKE:
				ok &= parse_int("handshake-timeout", optarg, 100, INT_MAX, &config.handshake_timeout_ms);
				break;
			case OPT_KEEPALIVE:
				ok &= parse_int("sse-keepalive", optarg, 100, INT_MAX, &config.sse_keepalive_ms);
				break;
			case OPT_RECONNECT:
				ok &= parse_int("reconnect-max-delay", optarg, 100, INT_MAX, &config.reconnect_max_ms);
				break;
			case OPT_PURGE:
				ok &= parse_int("purge-interval", optarg, 0, INT_MAX, &config.purge_interval_ms);
				break;
			case OPT_RETENTION:
				ok &= parse_int("large-event-retention", optarg, 1, INT_MAX, &retention);
				break;
			case OPT_REPLAY:
				ok &= parse_int("replay-events", optarg, 0, 1000000, &config.replay_events);
				break;
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
	if (!ok)
		return 2;
	if (optind >= argc)
	{
		fprintf(stderr, "pg_realtime_relay: no connection string given\n"
				"Try \"pg_realtime_relay --help\" for more information.\n");
		return 2;
	}
	snprintf(retention_text, sizeof(retention_text), "%d seconds", retention);
	set_string(&config.large_event_retention, retention_text);
	config.nconninfo = argc - optind;
	config.conninfo = relay_calloc(config.nconninfo, sizeof(char *));
	for (int i = 0; i < config.nconninfo; i++)
		config.conninfo[i] = relay_strdup(argv[optind + i]);

	signal(SIGPIPE, SIG_IGN);
	relay = relay_create(&config);
	relay_config_free(&config);
	if (relay == NULL)
		return 1;
	main_relay = relay;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGHUP, SIG_IGN);	/* no configuration file to re-read */
	rc = relay_run(relay);
	main_relay = NULL;
	relay_destroy(relay);
	relay_log(RLOG_INFO, "stopped");
	return rc;
}
