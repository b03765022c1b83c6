/*
 * authfn.h - opaque session tokens checked by an SQL function
 *
 * pg_realtime.auth_function names a function (token text) returns jsonb,
 * for applications whose sessions live in their own tables.  The relay
 * calls it on a libpq connection of its own (never the LISTEN one), driven
 * by the loop like listener.c, one query at a time with the others queued;
 * every request has a deadline (auth_timeout).  Answers, valid or not, are
 * cached by the token's SHA-256 for auth_cache_ttl, at most auth_cache_size
 * of them; requests for a token already on its way share the query.
 * auth_conninfo gives the connection a login of its own; before calling
 * the function on a connection, the relay checks that doing so lends no
 * role rights it does not have (authfn.c).
 */
#ifndef RELAY_AUTHFN_H
#define RELAY_AUTHFN_H

#include "auth.h"

typedef struct AuthFn AuthFn;

/*
 * Connect for function name (schema.function; names taken as written) in
 * the database of conninfo, with auth_conninfo's options (if not "") over
 * conninfo's.  NULL with the reason in err if the name is not
 * schema-qualified or auth_conninfo does not parse.
 */
extern AuthFn *authfn_create(struct Relay *relay, const char *conninfo, const char *auth_conninfo,
							 const char *function, Buf *err);

/* Close the connection; waiting requests are answered with an error. */
extern void authfn_destroy(AuthFn *fn);

/* True if fn was made for this function and these connection strings. */
extern bool authfn_is_for(const AuthFn *fn, const char *conninfo, const char *auth_conninfo,
						  const char *function);

/* Make the connection again (and so the check), keeping the cache and the queue. */
extern void authfn_reconnect(AuthFn *fn);

/* As auth_resolve(), for a token the function must check. */
extern AuthStatus authfn_lookup(AuthFn *fn, const char *token, size_t len, AuthDoneFn done,
								void *arg, AuthIdentity **identity, AuthRequest **request,
								Buf *err);
extern void authfn_cancel(AuthFn *fn, AuthRequest *request);

extern int64_t authfn_next_deadline(AuthFn *fn);
extern void authfn_on_timer(AuthFn *fn);

#endif
