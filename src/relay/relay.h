/*
 * relay.h - the relay's interface to its two hosts
 *
 * The same relay runs as a PostgreSQL background worker (src/host/worker.c) and
 * as the standalone pg_realtime_relay executable (src/host/relay_main.c).  A host
 * fills a RelayConfig, creates the relay, routes its signals to
 * relay_signal_*() and calls relay_run(), which returns after a clean
 * shutdown.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdbool.h>

/*
 * What a host configures.  The fields users set are described, with their
 * defaults and bounds, by the table in settings.c.
 */
#define RELAY_TRANSPORT_NOTIFY 0
#define RELAY_TRANSPORT_WAL 1

typedef struct RelayConfig
{
	char	   *listen_addresses;	/* comma-separated; "*" for all */
	int			port;
	int			nconninfo;		/* one LISTEN connection per entry */
	char	  **conninfo;
	char	   *channel;		/* NOTIFY channel to LISTEN on */
	int			transport;		/* RELAY_TRANSPORT_* */
	char	   *slot_name;		/* replication slot (wal transport) */
	char	   *project;		/* expected project id; "" accepts any */
	char	   *allowed_origins;	/* comma-separated; "" allows any */
	int			max_connections;
	int			max_client_output_kb;	/* queued output per client: hard limit */
	int			client_output_soft_limit_kb;	/* soft limit; 0: none */
	int			client_output_grace_ms; /* how long it may be exceeded */
	int			max_message_bytes;	/* inbound WebSocket message */
	int			max_head_bytes; /* HTTP request head */
	int			max_subscriptions;	/* per connection */
	int			idle_timeout_ms;	/* WebSocket silent this long: closed */
	int			handshake_timeout_ms;	/* request head must arrive in time */
	int			sse_keepalive_ms;	/* SSE comment after this much quiet */
	int			reconnect_max_ms;	/* database reconnect backoff cap */
	int			purge_interval_ms;	/* 0: never purge realtime.large_events */
	int			large_event_retention_s;	/* age of large events purged */
	int			replay_window_s;	/* events kept this long for resuming clients */
	int			replay_bytes_kb;	/* ... and up to this much memory */
	int			replay_events;	/* ... and this many */
	int			max_event_size_kb;	/* largest event accepted */
	int			max_event_depth;	/* JSON nesting of an event */
	int			max_event_values;	/* JSON values of an event */
	int			max_pending_kb; /* events held behind a fetch or key refresh */

	/* who is connecting (auth.c, jwt.c, authfn.c) */
	char	   *jwt_secret;		/* HMAC secret for HS256/384/512 */
	char	   *jwt_secret_file;	/* the same, read from a file */
	char	   *jwt_public_key_file;	/* PEM or JWKS: RS256, ES256 */
	char	   *jwt_issuer;		/* iss required when set */
	char	   *jwt_audience;	/* aud required when set */
	int			jwt_leeway_s;	/* clock skew allowed for exp, nbf, iat */
	char	   *server_role;	/* "role" claim that sees every event */
	char	   *auth_function;	/* schema.function(token text) returns jsonb */
	char	   *auth_conninfo;	/* libpq options of its connection; "": own */
	int			auth_timeout_ms;	/* longest wait for its answer */
	int			auth_cache_ttl_ms;	/* how long its answers are reused */
	int			auth_cache_size;	/* answers kept at most */

	/* what one client may cost (protocol.c, peers.c, client.c) */
	int			max_channel_bytes;	/* channel names per connection */
	int			max_query_values;	/* query values per connection */
	int			max_query_cost;	/* matching cost of one subscription */
	int			max_connection_query_cost;	/* ... of all of one connection's */
	int			subscription_memory_kb; /* all subscriptions of the relay */
	int			max_subscription_memory_per_ip_kb;	/* ... of one address */
	int			max_connections_per_ip; /* open connections per address */
	int			max_connects_per_minute;	/* new connections per address */
	int			max_messages_per_minute;	/* per WebSocket connection */
	int			max_log_lines_per_minute;	/* client log lines per address */

	/* compression (deflate.c) */
	bool		websocket_deflate;	/* accept permessage-deflate offers */
	bool		sse_gzip;		/* gzip SSE streams when asked to */
} RelayConfig;

typedef struct Relay Relay;

/* a host-owned descriptor the relay waits on too (postmaster death) */
typedef void (*RelayFdCallback) (void *arg);

/* reload: the host fills *config anew (config strings are the relay's after) */
typedef bool (*RelayReloadCallback) (void *arg, RelayConfig *config);

/* Every setting at its default (the standalone relay's; see settings.h). */
extern void relay_config_defaults(RelayConfig *config);
extern void relay_config_free(RelayConfig *config);

/* Bind the listen sockets; NULL after logging why. config is copied. */
extern Relay *relay_create(const RelayConfig *config);
extern void relay_watch_fd(Relay *relay, int fd, RelayFdCallback cb, void *arg);
extern void relay_set_reload_callback(Relay *relay, RelayReloadCallback cb, void *arg);

/* Run until shutdown; returns 0 after a clean shutdown, 1 on failure. */
extern int	relay_run(Relay *relay);
extern void relay_destroy(Relay *relay);

/* Async-signal-safe: wake the loop to shut down or reload. */
extern void relay_signal_shutdown(Relay *relay);
extern void relay_signal_reload(Relay *relay);

#endif
