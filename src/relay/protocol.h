/*
 * protocol.h - Appwrite realtime protocol state of one connection
 *
 * Transport-independent: the client module hands over the request URL and
 * each inbound text message; the protocol module answers with whole JSON
 * messages through a callback and decides which events the connection gets.
 * See PROTOCOL.md sections 1-3 and 5-7.
 */
#ifndef RELAY_PROTOCOL_H
#define RELAY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

struct AuthIdentity;
struct RelayEvent;
struct Subscription;

typedef struct ProtoLimits
{
	int			max_subscriptions;	/* per connection; beyond: error 1013 */
	int			max_channels;	/* per subscription */
	int			max_queries;	/* per subscription */
	int			max_channel_bytes;	/* per connection; beyond: error 1013 */
	int			max_query_values;	/* per connection; beyond: error 1013 */
	int			max_query_cost; /* per subscription; beyond: error 1003 */
	int			max_connection_query_cost;	/* per connection; beyond: error 1013 */
	size_t		memory_budget;	/* all sessions' subscriptions; 0: none */
	size_t	   *memory_used;	/* shared by the sessions, or NULL */
	size_t		peer_memory_budget; /* the sessions of one address; 0: none */
	const char *project;		/* expected project id, or NULL/"" for any */
} ProtoLimits;

typedef struct ProtoSession
{
	const ProtoLimits *limits;
	struct Subscription *subs;	/* list, in creation order */
	int			nsubs;
	uint32_t	next_auto_id;	/* for server-made ids */
	uint32_t	channel_bytes;	/* of all subscriptions */
	uint32_t	query_values;	/* of all subscriptions */
	uint32_t	query_cost;		/* of all subscriptions */
	size_t	   *peer_memory;	/* shared by the sessions of the client's
								 * address (peers.c), or NULL */
	struct AuthIdentity *identity;	/* NULL: a guest */
	char	   *auth_token;		/* of an authentication message, for the caller */
} ProtoSession;

/* Send one complete JSON message (one WebSocket text frame / SSE record). */
typedef void (*ProtoSendFn) (void *arg, const char *json, size_t len);

typedef enum ProtoResult
{
	PROTO_OK,
	PROTO_CLOSE_POLICY,			/* 1008 error already sent; close with 1008 */
	PROTO_AUTHENTICATE			/* an authentication message: the token is in
								 * s->auth_token; answer with
								 * proto_authenticated() */
} ProtoResult;

extern void proto_session_init(ProtoSession *s, const ProtoLimits *limits);
extern void proto_session_free(ProtoSession *s);

/*
 * Handle the upgrade URL's query string: project check, channels in every
 * spelling (PROTOCOL.md 1), SDK v23/24 per-slot URL queries.  Sends
 * "connected" with s->identity's user (the caller has checked any token of
 * the request), then, when auth_error is not NULL, error 1003 saying why the
 * token was refused.  Returns PROTO_CLOSE_POLICY when the connection must
 * be refused (bad project, invalid channel or query); the 1008 error has
 * then been sent.
 */
extern ProtoResult proto_open(ProtoSession *s, HttpSlice query, const char *auth_error,
							  ProtoSendFn send, void *arg);

/*
 * Same URL handling for an SSE stream: no "connected" message, but the
 * channels must be non-empty.  On failure sets *error (static) and returns
 * false; the caller answers 400.
 */
extern bool proto_open_sse(ProtoSession *s, HttpSlice query, const char **error);

/*
 * One inbound text message (ping, subscribe, unsubscribe, authentication).
 * For authentication returns PROTO_AUTHENTICATE with the token in
 * s->auth_token (freed by the next call or proto_session_free).
 */
extern ProtoResult proto_handle_message(ProtoSession *s, const char *text, size_t len,
										ProtoSendFn send, void *arg);

/*
 * The answer to an authentication message: identity (a reference taken
 * over) replaces the session's, its subscriptions stay, and the "response"
 * is sent; or, with identity NULL, error 1003 with the reason and the
 * session keeps its identity.
 */
extern void proto_authenticated(ProtoSession *s, struct AuthIdentity *identity, const char *error,
								ProtoSendFn send, void *arg);

/*
 * Decide delivery (PROTOCOL.md 5, 7) for a connection that may read the
 * event (the caller checked its roles, fanout.c): if any subscription
 * matches, append the matching ids as JSON strings separated by commas
 * ("\"s0\",\"s3\"") to out and return their count; else return 0 and leave
 * out unchanged.
 */
extern int	proto_match_event(const ProtoSession *s, const struct RelayEvent *ev, Buf *out);

/* {"type":"error","data":{"code":code,"message":msg}} */
extern void proto_error_json(Buf *out, int code, const char *message);

#endif
