/*
 * auth.h - who is connecting: tokens to identities, identities to roles
 *
 * A token (a JWT, or an opaque session secret the auth function checks)
 * becomes an AuthIdentity: the user id and the Appwrite roles its claims
 * give (PROTOCOL.md section 6), or the server role, which reads every
 * event.  A JWT is verified at once (jwt.c); an opaque token may need the
 * database (authfn.c), in which case the answer comes later through a
 * callback.  Identities are immutable and reference counted: a connection,
 * a cache entry and a pending answer may share one.
 */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct json_object;
struct Relay;
struct RelayEvent;

/* claims accepted per token, at most */
#define AUTH_MAX_TEAMS 100
#define AUTH_MAX_LABELS 100

typedef struct AuthIdentity
{
	int			refcount;
	bool		server;			/* role claim = server_role: every event */
	const char *user_id;		/* sub, or NULL (a server token may lack it) */
	double		expires_at;		/* exp in seconds since the epoch; 0: none */
	int			nroles;
	const char **roles;			/* user:ID, users, ...; none for server */
} AuthIdentity;

/*
 * Build the identity that claims describe (the same for a JWT and for the
 * auth function's jsonb): sub -> user:SUB and users; email_verified or
 * verified -> the /verified or /unverified pair of both; teams ("T" or
 * "T/ROLE") -> team:T and team:T/ROLE; labels -> label:L; a role claim
 * equal to server_role (when not empty) -> a server identity.  IDs must be
 * Appwrite IDs (at most 36 of a-z, A-Z, 0-9, period, hyphen, underscore,
 * not starting with a punctuation character), labels alphanumeric: a claim
 * that could spell another role ("alice/verified") is refused.  Returns a
 * new identity (refcount 1), or NULL with a reason in err.
 */
extern AuthIdentity *auth_identity_from_claims(struct json_object *claims, const char *server_role,
											   Buf *err);
extern void auth_identity_retain(AuthIdentity *id);
extern void auth_identity_release(AuthIdentity *id);

/*
 * May a connection with this identity (NULL: a guest) read the event?
 * PROTOCOL.md 6: "any", or a role in common ("guests" for guests), or the
 * server role.  The fan-out does the same by index (fanout.c); this is for
 * single connections (replay) and tests.
 */
extern bool auth_may_read(const AuthIdentity *id, const struct RelayEvent *ev);

/* Append the "user" object of connected/authentication answers ("null" for guests). */
extern void auth_user_json(const AuthIdentity *id, Buf *out);

/* ---- the relay's authentication service ---- */

typedef struct Auth Auth;
typedef struct AuthRequest AuthRequest;

typedef enum AuthStatus
{
	AUTH_OK,					/* *identity set */
	AUTH_FAILED,				/* reason in err */
	AUTH_PENDING				/* the answer comes through the callback */
} AuthStatus;

/*
 * The answer to a pending request: identity (a reference the callee takes
 * over) or NULL and a reason for the client.
 */
typedef void (*AuthDoneFn) (void *arg, AuthIdentity *identity, const char *error);

/*
 * Read the key settings and files of relay->config.  NULL, with the reason
 * in err, when a key or file is unusable (the relay must not start with
 * keys it cannot use).
 */
extern Auth *auth_create(struct Relay *relay, Buf *err);

/*
 * After a reload of relay->config: re-read secrets and key files.  On
 * failure the previous keys stay in use and err says why.
 */
extern bool auth_reload(Auth *auth, Buf *err);
extern void auth_destroy(Auth *auth);

/* True if any way of checking tokens is configured. */
extern bool auth_enabled(const Auth *auth);

/*
 * Check a token.  A JWT (or a cached answer) is answered at once; an
 * opaque token may need the auth function: then *request is set and done
 * is called once with the answer, unless auth_cancel(request) comes first.
 */
extern AuthStatus auth_resolve(Auth *auth, const char *token, size_t len, AuthDoneFn done,
							   void *arg, AuthIdentity **identity, AuthRequest **request,
							   Buf *err);
extern void auth_cancel(Auth *auth, AuthRequest *request);

/* Deadlines of the auth function's connection and requests; -1 for none. */
extern int64_t auth_next_deadline(Auth *auth);
extern void auth_on_timer(Auth *auth);

#endif
