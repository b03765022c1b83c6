/*
 * settings.c - the table of the relay's settings, and parsing of their values
 *
 * See settings.h.  Names, bounds and texts here are what users see in
 * SHOW, pg_settings and pg_realtime_relay --help; README "The relay"
 * documents the same rows.
 */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INT_SETTING(name_, short_, field_, unit_, flags_, def_, min_, max_, metavar_, desc_, detail_) \
	{name_, short_, RELAY_SETTING_INT, unit_, flags_, offsetof(RelayConfig, field_), def_, def_, \
	 min_, max_, NULL, NULL, metavar_, desc_, detail_}
#define BOOL_SETTING(name_, field_, flags_, def_, desc_, detail_) \
	{name_, 0, RELAY_SETTING_BOOL, RELAY_UNIT_NONE, flags_, offsetof(RelayConfig, field_), def_, def_, \
	 0, 1, NULL, NULL, "on|off", desc_, detail_}
#define STRING_SETTING(name_, short_, field_, flags_, def_, metavar_, desc_, detail_) \
	{name_, short_, RELAY_SETTING_STRING, RELAY_UNIT_NONE, flags_, offsetof(RelayConfig, field_), \
	 0, 0, 0, 0, def_, NULL, metavar_, desc_, detail_}

/* the trigger side's pg_realtime.transport has the same names (trigger.c) */
static const char *const transport_choices[] = {"notify", "wal", NULL};

const RelaySetting relay_settings[] = {
	STRING_SETTING("listen_addresses", 'l', listen_addresses, RELAY_SETTING_RESTART, "localhost",
				   "LIST", "Addresses the relay listens on for WebSocket and SSE clients.",
				   "Comma-separated host names or addresses; * for all."),
	INT_SETTING("port", 'p', port, RELAY_UNIT_NONE, RELAY_SETTING_RESTART, 8787, 1, 65535,
				"PORT", "TCP port of the relay.", NULL),
	STRING_SETTING("channel", 0, channel, RELAY_SETTING_SHARED, "pg_realtime",
				   "NAME", "NOTIFY channel that events are sent on.", NULL),
	{"transport", 0, RELAY_SETTING_ENUM, RELAY_UNIT_NONE, RELAY_SETTING_SHARED,
		offsetof(RelayConfig, transport), RELAY_TRANSPORT_NOTIFY, RELAY_TRANSPORT_NOTIFY, 0, 0, NULL,
		transport_choices, "NAME", "How events travel from the triggers to the relays: notify or wal.",
	"notify: LISTEN on the channel. wal: a logical replication slot per relay (README \"Transports\")."},
	STRING_SETTING("slot_name", 0, slot_name, 0, "pg_realtime",
				   "NAME", "Replication slot of this relay (wal transport); created on first start.",
				   "Every relay of a database needs its own slot. With several databases the slot of the Nth is NAME_N."),
	STRING_SETTING("project", 0, project, 0, "",
				   "ID", "Appwrite project id clients must name; empty accepts any.", NULL),
	STRING_SETTING("allowed_origins", 0, allowed_origins, 0, "",
				   "LIST", "Origins allowed to connect from browsers (comma-separated).",
				   "Empty allows any origin; requests without Origin are always allowed."),
	INT_SETTING("max_connections", 0, max_connections, RELAY_UNIT_NONE, 0, 10000, 1, 1000000,
				"N", "Maximum number of client connections of the relay.",
				"Beyond it, clients get HTTP 503. Each connection is one file descriptor."),
	INT_SETTING("max_client_output", 0, max_client_output_kb, RELAY_UNIT_KB, 0, 4096, 16, 1048576,
				"KB", "Output queued for one client before it is cut off at once (hard limit).",
				"A single event larger than this still goes out whole."),
	INT_SETTING("client_output_soft_limit", 0, client_output_soft_limit_kb, RELAY_UNIT_KB, 0, 1024, 0, 1048576,
				"KB", "Output queued for one client that it may exceed only for client_output_grace.",
				"A client whose backlog stays above it that long is cut off; 0 disables the soft limit."),
	INT_SETTING("client_output_grace", 0, client_output_grace_ms, RELAY_UNIT_MS, 0, 10000, 0, INT_MAX,
				"MS", "How long a client may stay above client_output_soft_limit.",
				"A reader slowed down briefly by a burst survives; one that stopped reading is cut off."),
	INT_SETTING("max_message_size", 0, max_message_bytes, RELAY_UNIT_NONE, 0, 64000, 125, 16777216,
				"BYTES", "Largest inbound WebSocket message in bytes.", NULL),
	INT_SETTING("max_subscriptions", 0, max_subscriptions, RELAY_UNIT_NONE, 0, 100, 1, 100000,
				"N", "Maximum subscriptions per connection.", NULL),
	INT_SETTING("idle_timeout", 0, idle_timeout_ms, RELAY_UNIT_MS, 0, 60000, 1000, INT_MAX,
				"MS", "A WebSocket client silent this long is closed.",
				"The Appwrite SDK pings every 20 s."),
	INT_SETTING("handshake_timeout", 0, handshake_timeout_ms, RELAY_UNIT_MS, 0, 10000, 100, INT_MAX,
				"MS", "Time a client has to send its whole HTTP request head.", NULL),
	INT_SETTING("sse_keepalive", 0, sse_keepalive_ms, RELAY_UNIT_MS, 0, 15000, 100, INT_MAX,
				"MS", "Quiet time after which an SSE stream gets a keepalive comment.", NULL),
	INT_SETTING("reconnect_max_delay", 0, reconnect_max_ms, RELAY_UNIT_MS, 0, 10000, 100, INT_MAX,
				"MS", "Longest wait between attempts to reconnect to the database.", NULL),
	/* the worker purges by default; several standalone relays need not */
	{"purge_interval", 0, RELAY_SETTING_INT, RELAY_UNIT_MS, 0,
		offsetof(RelayConfig, purge_interval_ms), 0, 60000, 0, INT_MAX, NULL, NULL,
		"MS", "How often the relay deletes old rows of realtime.large_events; 0 never.",
	"The worker's default is 1 minute, the standalone relay's 0."},
	INT_SETTING("large_event_retention", 0, large_event_retention_s, RELAY_UNIT_S, 0, 3600, 1, INT_MAX,
				"S", "Age after which rows of realtime.large_events are purged.", NULL),
	INT_SETTING("replay_window", 0, replay_window_s, RELAY_UNIT_S, 0, 300, 0, 86400 * 7,
				"S", "How long recent events are kept for clients that resume from a position.",
				"By commit time with the wal transport. A client resuming from an older position gets a gap signal."),
	/* bounds on what a notification can make the relay hold (issue 6) */
	INT_SETTING("replay_bytes", 0, replay_bytes_kb, RELAY_UNIT_KB, 0, 32768, 0, 4194304,
				"KB", "Memory for the recent events kept for resuming clients.",
				"The oldest are dropped beyond it; events no role may read are never kept."),
	INT_SETTING("replay_events", 0, replay_events, RELAY_UNIT_NONE, 0, 100000, 0, 10000000,
				"N", "Number of events kept for resuming clients; beyond it the oldest go.", NULL),
	INT_SETTING("max_event_size", 0, max_event_size_kb, RELAY_UNIT_KB, 0, 65536, 8, 1048576,
				"KB", "Largest event the relay accepts; larger large events are not fetched.", NULL),
	INT_SETTING("max_event_depth", 0, max_event_depth, RELAY_UNIT_NONE, 0, 256, 8, 4096,
				"N", "Deepest nesting of objects and arrays in an event's JSON.", NULL),
	INT_SETTING("max_event_values", 0, max_event_values, RELAY_UNIT_NONE, 0, 1000000, 100, INT_MAX,
				"N", "Most JSON values (objects, arrays and scalars) in one event.", NULL),
	INT_SETTING("max_pending", 0, max_pending_kb, RELAY_UNIT_KB, 0, 131072, 1024, 4194304,
				"KB", "Memory for events waiting behind a large event being fetched or a key refresh.",
				"Beyond it, new events are dropped (and counted) until the wait is over."),

	/* who is connecting: tokens and roles (auth.c) */
	STRING_SETTING("jwt_secret", 0, jwt_secret, RELAY_SETTING_SECRET, "",
				   "SECRET", "HMAC secret that HS256, HS384 and HS512 tokens are signed with.",
				   "At least 32 bytes, used as written (as Supabase and jsonwebtoken do). "
				   "Prefer jwt_secret_file: a flag is visible to other users of the machine."),
	STRING_SETTING("jwt_secret_file", 0, jwt_secret_file, 0, "",
				   "FILE", "File holding the HMAC secret (one trailing newline is ignored).",
				   "Read at start and on SIGHUP."),
	STRING_SETTING("jwt_public_key_file", 0, jwt_public_key_file, 0, "",
				   "FILE", "PEM public keys or a JWKS document for RS256 and ES256 tokens.",
				   "Read at start and on SIGHUP; JWKS keys are chosen by the token's kid."),
	STRING_SETTING("jwt_issuer", 0, jwt_issuer, 0, "",
				   "ISS", "Issuer (iss) tokens must name; empty does not check it.", NULL),
	STRING_SETTING("jwt_audience", 0, jwt_audience, 0, "",
				   "AUD", "Audience (aud) tokens must include; empty does not check it.", NULL),
	INT_SETTING("jwt_leeway", 0, jwt_leeway_s, RELAY_UNIT_S, 0, 30, 0, 3600,
				"S", "Clock skew allowed when checking exp, nbf and iat.", NULL),
	STRING_SETTING("server_role", 0, server_role, 0, "service_role",
				   "ROLE", "Value of the role claim whose tokens see every event.",
				   "For server-side listeners (job queues, cache invalidation); empty disables it."),
	STRING_SETTING("auth_function", 0, auth_function, 0, "",
				   "SCHEMA.NAME", "SQL function (token text) returns jsonb that checks opaque session tokens.",
				   "It returns the claims a JWT would carry, or NULL for an invalid session. "
				   "Called on a connection of the relay's own in the first database."),
	STRING_SETTING("auth_conninfo", 0, auth_conninfo, RELAY_SETTING_SECRET, "",
				   "CONNINFO", "libpq options of the auth function's connection, over the first database's.",
				   "Name a login with nothing but EXECUTE on the function (user=rt_auth): the function "
				   "runs with its rights. Empty: the relay's own login, and then the function and its "
				   "schema must be owned by the relay's role or a superuser."),
	INT_SETTING("auth_timeout", 0, auth_timeout_ms, RELAY_UNIT_MS, 0, 5000, 100, 600000,
				"MS", "Longest wait for the auth function's answer.", NULL),
	INT_SETTING("auth_cache_ttl", 0, auth_cache_ttl_ms, RELAY_UNIT_MS, 0, 60000, 0, INT_MAX,
				"MS", "How long an answer of the auth function is reused for the same token.", NULL),
	INT_SETTING("auth_cache_size", 0, auth_cache_size, RELAY_UNIT_NONE, 0, 10000, 1, 10000000,
				"N", "Most answers of the auth function kept in the cache.", NULL),

	/* what one client may cost */
	INT_SETTING("max_channel_bytes", 0, max_channel_bytes, RELAY_UNIT_BYTE, 0, 65536, 1024, INT_MAX,
				"BYTES", "Bytes of channel names all subscriptions of one connection may hold.",
				"Beyond it, a subscribe gets error 1013."),
	INT_SETTING("max_query_values", 0, max_query_values, RELAY_UNIT_NONE, 0, 10000, 1, INT_MAX,
				"N", "Query values all subscriptions of one connection may hold.",
				"Beyond it, a subscribe gets error 1013."),
	INT_SETTING("max_query_cost", 0, max_query_cost, RELAY_UNIT_NONE, 0, 1000, 1, INT_MAX,
				"N", "Matching cost of one subscription's queries (one per query and per value).",
				"Every query counts, and/or/isNull/select too. Beyond it, the subscription is refused with error 1003."),
	INT_SETTING("max_connection_query_cost", 0, max_connection_query_cost, RELAY_UNIT_NONE, 0, 2000, 1, INT_MAX,
				"N", "Matching cost of all subscriptions of one connection together.",
				"Counted as max_query_cost is. Beyond it, a subscribe gets error 1013."),
	INT_SETTING("subscription_memory", 0, subscription_memory_kb, RELAY_UNIT_KB, 0, 262144, 64, INT_MAX,
				"KB", "Memory all subscriptions of the relay may use together.",
				"Beyond it, subscribing gets error 1013."),
	INT_SETTING("max_subscription_memory_per_ip", 0, max_subscription_memory_per_ip_kb, RELAY_UNIT_KB, 0, 32768, 0, INT_MAX,
				"KB", "Memory the subscriptions of one client address (IPv6: one /64) may use together; 0 no limit.",
				"Beyond it, subscribing gets error 1013, so one address cannot take subscription_memory from the others."),
	INT_SETTING("max_connections_per_ip", 0, max_connections_per_ip, RELAY_UNIT_NONE, 0, 256, 0, 1000000,
				"N", "Open connections from one client address (IPv6: one /64); 0 no limit.",
				"Beyond it, HTTP 429."),
	INT_SETTING("max_connects_per_minute", 0, max_connects_per_minute, RELAY_UNIT_NONE, 0, 128, 0, 1000000,
				"N", "New connections per minute from one client address (IPv6: one /64); 0 no limit.",
				"Beyond it, HTTP 429. Appwrite allows 128."),
	INT_SETTING("max_messages_per_minute", 0, max_messages_per_minute, RELAY_UNIT_NONE, 0, 32, 0, 1000000,
				"N", "Messages per minute one WebSocket may send; 0 no limit.",
				"Beyond it, error 1013 and the message is dropped. Appwrite allows 32."),
	INT_SETTING("max_log_lines_per_minute", 0, max_log_lines_per_minute, RELAY_UNIT_NONE, 0, 30, 0, 1000000,
				"N", "Log lines about clients of one address per minute; 0 no limit.",
				"All addresses together get 10 times as many. Lines beyond it are counted and the count is logged with the next line."),

	/* compression (deflate.c) */
	BOOL_SETTING("websocket_deflate", websocket_deflate, 0, 1,
				 "Compress WebSocket events with permessage-deflate when the client offers it.",
				 "Each event is compressed once for all subscribers; connections hold no zlib state."),
	BOOL_SETTING("sse_gzip", sse_gzip, 0, 1,
				 "Send SSE streams gzip-encoded when the request's Accept-Encoding allows it.",
				 "Each event is compressed once for all subscribers, as for WebSocket."),
};

const int	relay_nsettings = (int) (sizeof(relay_settings) / sizeof(relay_settings[0]));

int
relay_setting_default(const RelaySetting *s, bool worker)
{
	return worker ? s->worker_def : s->def;
}

typedef struct UnitName
{
	const char *name;
	double		factor;			/* in the base unit of its family */
} UnitName;

/* time in milliseconds, memory in bytes; GUC's spellings */
static const UnitName time_units[] = {
	{"us", 0.001}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0}
};
static const UnitName memory_units[] = {
	{"B", 1}, {"kB", 1024}, {"MB", 1024.0 * 1024}, {"GB", 1024.0 * 1024 * 1024},
	{"TB", 1024.0 * 1024 * 1024 * 1024}, {NULL, 0}
};

/* The family and size of the setting's base unit. */
static const UnitName *
unit_family(RelaySettingUnit unit, double *base)
{
	switch (unit)
	{
		case RELAY_UNIT_MS:
			*base = 1;
			return time_units;
		case RELAY_UNIT_S:
			*base = 1000;
			return time_units;
		case RELAY_UNIT_KB:
			*base = 1024;
			return memory_units;
		case RELAY_UNIT_BYTE:
			*base = 1;
			return memory_units;
		case RELAY_UNIT_NONE:
			break;
	}
	*base = 1;
	return NULL;
}

static bool
parse_int_setting(const RelaySetting *s, const char *text, int *out, Buf *err)
{
	char	   *end;
	double		v;
	long long	r;
	double		base;
	const UnitName *units = unit_family(s->unit, &base);

	errno = 0;
	v = strtod(text, &end);
	if (end == text || errno != 0)
		goto bad;
	while (isspace((unsigned char) *end))
		end++;
	if (*end != '\0')
	{
		const UnitName *u;

		if (units == NULL)
			goto bad;
		for (u = units; u->name; u++)
			if (strcmp(end, u->name) == 0)
				break;
		if (u->name == NULL)
		{
			buf_printf(err, "invalid unit in \"%s\" for %s: valid units are ", text, s->name);
			for (u = units; u->name; u++)
				buf_printf(err, "%s\"%s\"", u == units ? "" : ", ", u->name);
			return false;
		}
		v = v * u->factor / base;
	}
	else if (v != (double) (long long) v)
		goto bad;				/* a fraction without a unit */
	/* round like the GUC machinery; far out of range first, so it fits */
	if (v < (double) s->min - 1 || v > (double) s->max + 1 ||
		(r = (long long) (v < 0 ? v - 0.5 : v + 0.5)) < s->min || r > s->max)
	{
		buf_printf(err, "%s is outside the valid range for %s (%d .. %d)", text, s->name, s->min,
				   s->max);
		return false;
	}
	*out = (int) r;
	return true;

bad:
	buf_printf(err, "invalid value \"%s\" for %s: %s", text, s->name,
			   units ? "a whole number with an optional unit is required"
			   : "a whole number is required");
	return false;
}

/* A boolean as PostgreSQL spells one (on, true, yes, 1 and their opposites). */
bool
relay_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1", NULL};
	static const char *const no[] = {"off", "false", "no", "0", NULL};

	for (int i = 0; yes[i]; i++)
	{
		if (strcasecmp(text, yes[i]) == 0)
		{
			*out = true;
			return true;
		}
		if (strcasecmp(text, no[i]) == 0)
		{
			*out = false;
			return true;
		}
	}
	return false;
}

static bool
parse_bool_setting(const RelaySetting *s, const char *text, bool *out, Buf *err)
{
	if (relay_parse_bool(text, out))
		return true;
	buf_printf(err, "invalid value \"%s\" for %s: on or off is required", text, s->name);
	return false;
}

static bool
parse_enum_setting(const RelaySetting *s, const char *text, int *out, Buf *err)
{
	for (int i = 0; s->choices[i]; i++)
	{
		if (strcasecmp(text, s->choices[i]) == 0)
		{
			*out = i;
			return true;
		}
	}
	buf_printf(err, "invalid value \"%s\" for %s: one of ", text, s->name);
	for (int i = 0; s->choices[i]; i++)
		buf_printf(err, "%s%s", i ? ", " : "", s->choices[i]);
	buf_append_str(err, " is required");
	return false;
}

bool
relay_setting_parse(const RelaySetting *s, const char *text, RelayConfig *config, Buf *err)
{
	void	   *field = relay_setting_field(config, s);

	switch (s->type)
	{
		case RELAY_SETTING_INT:
			return parse_int_setting(s, text, (int *) field, err);
		case RELAY_SETTING_BOOL:
			return parse_bool_setting(s, text, (bool *) field, err);
		case RELAY_SETTING_ENUM:
			return parse_enum_setting(s, text, (int *) field, err);
		case RELAY_SETTING_STRING:
			free(*(char **) field);
			*(char **) field = relay_strdup(text);
			return true;
	}
	return false;
}

void
relay_setting_format(const RelaySetting *s, const RelayConfig *config, Buf *out)
{
	const void *field = relay_setting_field((RelayConfig *) config, s);

	if (s->flags & RELAY_SETTING_SECRET)
	{
		buf_append_str(out, "(hidden)");
		return;
	}
	switch (s->type)
	{
		case RELAY_SETTING_INT:
			buf_printf(out, "%d", *(const int *) field);
			break;
		case RELAY_SETTING_BOOL:
			buf_append_str(out, *(const bool *) field ? "on" : "off");
			break;
		case RELAY_SETTING_ENUM:
			buf_append_str(out, s->choices[*(const int *) field]);
			break;
		case RELAY_SETTING_STRING:
			buf_append_str(out, *(char *const *) field ? *(char *const *) field : "");
			break;
	}
}
