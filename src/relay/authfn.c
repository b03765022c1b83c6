/*
 * authfn.c - the auth function's own database connection, queue and cache
 *
 * See authfn.h.  The connection is a libpq state machine on the relay's
 * loop (as listener.c's): connect, pin search_path to pg_catalog, pg_temp
 * and statement_timeout to auth_timeout, then one query at a time.  The
 * function name is schema-qualified and quoted, its argument and result
 * cast with schema-qualified types, so nothing a database user creates in
 * another schema can stand in for them.  A query that outlives
 * auth_timeout (a hung network) costs the connection: it is dropped and
 * made again, since PostgreSQL 15's libpq cannot cancel without blocking.
 *
 * The function runs with the rights of the role it is called as, and its
 * owner (or its schema's) can change what it does: before any call on a
 * new connection, a query checks that this gives nobody more than they
 * have.  On the relay's own login (auth_conninfo empty), the function and
 * its schema must be owned by that role or a superuser; on a login of its
 * own, that login must be no superuser (nor a member of one) and unable to
 * read realtime.keys.  Otherwise the function is not called: tokens for it
 * are refused, the reason is logged, and the check is made again on the
 * next connection (backoff, or a reload).  The check and the calls are
 * separate statements: one statement could run the function before the
 * check (constant folding, inlining of SQL functions).
 */
#include "authfn.h"
#include "jsontext.h"
#include "log.h"
#include "ratelimit.h"
#include "relay_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <json.h>
#include <openssl/evp.h>

#define AUTHFN_BACKOFF_MIN_MS 100
#define AUTHFN_CONNECT_TIMEOUT_MS 10000
/* tokens waiting for the function, at most; beyond, "busy" */
#define AUTHFN_MAX_QUEUE 1024
#define AUTHFN_UNAVAILABLE "the session could not be checked; try again later"
#define AUTHFN_REFUSED "the session could not be checked: the relay refuses to call its auth function (see its log)"

typedef enum AuthFnState
{
	AUTHFN_WAITING,				/* backoff before the next connection attempt */
	AUTHFN_CONNECTING,
	AUTHFN_SETUP,				/* search_path and statement_timeout being set */
	AUTHFN_CHECKING,			/* who can change the function, or who runs it */
	AUTHFN_READY
} AuthFnState;

/* One token on its way to the function; requests for it wait on it. */
typedef struct AuthLookup
{
	DNode		node;			/* in fn->queue, or in flight */
	unsigned char digest[32];	/* SHA-256 of the token */
	char	   *token;
	int64_t		deadline_ms;
	DNode		waiters;		/* AuthRequest.node */
} AuthLookup;

struct AuthRequest
{
	DNode		node;
	AuthLookup *lookup;
	AuthDoneFn	done;
	void	   *arg;
};

/* An answer of the function: an identity, or a reason it is not one. */
typedef struct CacheEntry
{
	struct CacheEntry *next;	/* hash chain */
	DNode		lru;			/* fn->lru: least recently used first */
	unsigned char digest[32];
	uint32_t	hash;
	int64_t		expires_ms;
	AuthIdentity *identity;
	char	   *error;
} CacheEntry;

struct AuthFn
{
	Watch		watch;
	Relay	   *relay;
	char	   *conninfo;
	char	   *auth_conninfo;	/* "" or options over conninfo */
	char	  **keys;			/* what PQconnectStartParams() gets, */
	char	  **values;			/* NULL-terminated: see authfn_params() */
	char	   *function;
	char	   *signature;		/* "schema"."fn"(pg_catalog.text) */
	char	   *query;
	PGconn	   *conn;
	AuthFnState state;
	int64_t		deadline_ms;	/* backoff end or connect timeout */
	int			backoff_ms;
	AuthLookup *inflight;
	bool		draining;		/* reading a query's results: send nothing */
	bool		setup_failed;
	bool		refuse;			/* the check failed: drop the connection */
	bool		refusing;		/* and no check passed since: tokens refused */
	char	   *refused;		/* why the last check failed (logged), or NULL */
	DNode		queue;			/* AuthLookup.node, oldest first */
	int			nqueued;
	CacheEntry **buckets;
	uint32_t	mask;
	int			ncache;
	DNode		lru;
	LogLimit	log;
};

static void authfn_on_io(Watch *w, uint32_t events);
static void authfn_start(AuthFn *fn);
static void authfn_next_query(AuthFn *fn);

/* A warning about the function, at most max_log_lines_per_minute of them. */
static void
authfn_warn(AuthFn *fn, const char *what, const char *detail)
{
	uint32_t	suppressed = 0;
	size_t		n = strlen(detail);

	if (!ratelimit_log_ok(&fn->log, fn->relay->config.max_log_lines_per_minute,
						  fn->relay->loop.now_ms, &suppressed))
		return;
	while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == ' '))
		n--;
	if (suppressed)
		relay_log(RLOG_WARNING, "auth function %s: %s: %.*s (%u similar messages suppressed)",
				  fn->function, what, (int) n, detail, suppressed);
	else
		relay_log(RLOG_WARNING, "auth function %s: %s: %.*s", fn->function, what, (int) n, detail);
}

/* ------------------------------------------------------------------ cache */

static uint32_t
digest_hash(const unsigned char digest[32])
{
	uint32_t	h;

	memcpy(&h, digest, sizeof(h));	/* SHA-256 bits are as good as any hash */
	return h;
}

static CacheEntry **
cache_link(AuthFn *fn, const unsigned char digest[32])
{
	CacheEntry **link = &fn->buckets[digest_hash(digest) & fn->mask];

	while (*link && memcmp((*link)->digest, digest, 32) != 0)
		link = &(*link)->next;
	return link;
}

static void
cache_remove(AuthFn *fn, CacheEntry **link)
{
	CacheEntry *e = *link;

	*link = e->next;
	dlist_remove(&e->lru);
	auth_identity_release(e->identity);
	free(e->error);
	free(e);
	fn->ncache--;
}

/* Remember an answer (identity or error) for auth_cache_ttl. */
static void
cache_put(AuthFn *fn, const unsigned char digest[32], AuthIdentity *identity, const char *error)
{
	const RelayConfig *config = &fn->relay->config;
	CacheEntry **link;
	CacheEntry *e;

	if (config->auth_cache_ttl_ms <= 0)
		return;
	link = cache_link(fn, digest);
	if (*link)
		cache_remove(fn, link);
	while (fn->ncache >= config->auth_cache_size && !dlist_empty(&fn->lru))
	{
		CacheEntry *old = dlist_container(CacheEntry, lru, fn->lru.next);

		cache_remove(fn, cache_link(fn, old->digest));
	}
	e = relay_calloc(1, sizeof(CacheEntry));
	memcpy(e->digest, digest, 32);
	e->hash = digest_hash(digest);
	e->expires_ms = fn->relay->loop.now_ms + config->auth_cache_ttl_ms;
	e->identity = identity;
	auth_identity_retain(identity);
	e->error = error ? relay_strdup(error) : NULL;
	link = cache_link(fn, digest);
	e->next = *link;
	*link = e;
	dlist_push_tail(&fn->lru, &e->lru);
	fn->ncache++;
}

/* ---------------------------------------------------------------- answers */

/* Answer every request waiting on lookup and free it. */
static void
lookup_finish(AuthFn *fn, AuthLookup *lookup, AuthIdentity *identity, const char *error)
{
	dlist_remove(&lookup->node);
	while (!dlist_empty(&lookup->waiters))
	{
		AuthRequest *r = dlist_container(AuthRequest, node, lookup->waiters.next);
		AuthDoneFn	done = r->done;
		void	   *arg = r->arg;

		dlist_remove(&r->node);
		free(r);
		auth_identity_retain(identity);
		done(arg, identity, error);	/* may queue or cancel other requests */
	}
	free(lookup->token);
	free(lookup);
}

/* Is the identity's exp (if any) past?  The relay's jwt_leeway applies. */
static bool
identity_expired(const AuthFn *fn, const AuthIdentity *id)
{
	struct timespec now;

	if (id == NULL || id->expires_at <= 0)
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double) now.tv_sec >= id->expires_at + fn->relay->config.jwt_leeway_s;
}

/* The function answered text (NULL: SQL NULL) for the lookup in flight. */
static void
authfn_on_answer(AuthFn *fn, const char *text, int len)
{
	AuthLookup *lookup = fn->inflight;
	AuthIdentity *identity = NULL;
	struct json_object *claims;
	Buf			err = BUF_INIT;

	fn->inflight = NULL;
	if (text == NULL)
		buf_append_str(&err, "the session is not valid");
	else if ((claims = jsontext_parse(text, (size_t) len)) == NULL)
	{
		authfn_warn(fn, "returned something that is not JSON", "the token is treated as invalid");
		buf_append_str(&err, "the session is not valid");
	}
	else
	{
		Buf			why = BUF_INIT;

		identity = auth_identity_from_claims(claims, fn->relay->config.server_role, &why);
		if (identity == NULL)
		{
			authfn_warn(fn, "returned claims that are not usable", why.data ? why.data : "?");
			buf_append_str(&err, "the session is not valid: ");
			buf_append(&err, why.data, why.len);
		}
		buf_free(&why);
		json_object_put(claims);
	}
	cache_put(fn, lookup->digest, identity, err.data);
	if (identity && identity_expired(fn, identity))
	{
		auth_identity_release(identity);
		identity = NULL;
		buf_append_str(&err, "the session expired");
	}
	lookup_finish(fn, lookup, identity, identity ? NULL : err.data);
	auth_identity_release(identity);
	buf_free(&err);
}

/* ------------------------------------------------------------- connection */

static void
authfn_watch_socket(AuthFn *fn, uint32_t events)
{
	loop_watch(&fn->relay->loop, &fn->watch, PQsocket(fn->conn), events, authfn_on_io);
}

/* Drop the connection (the query in flight fails) and schedule another. */
static void
authfn_drop(AuthFn *fn, int backoff_ms)
{
	if (fn->watch.fd >= 0)
		loop_remove(&fn->relay->loop, &fn->watch);
	if (fn->conn)
		PQfinish(fn->conn);
	fn->conn = NULL;
	fn->draining = false;
	fn->state = AUTHFN_WAITING;
	fn->deadline_ms = fn->relay->loop.now_ms + backoff_ms;
	fn->backoff_ms = backoff_ms * 2 > fn->relay->config.reconnect_max_ms
		? fn->relay->config.reconnect_max_ms : backoff_ms * 2;
	if (fn->backoff_ms < AUTHFN_BACKOFF_MIN_MS)
		fn->backoff_ms = AUTHFN_BACKOFF_MIN_MS;
	if (fn->inflight)
	{
		AuthLookup *lookup = fn->inflight;

		fn->inflight = NULL;
		lookup_finish(fn, lookup, NULL, AUTHFN_UNAVAILABLE);
	}
}

/* As authfn_drop(), after a warning with the connection's error. */
static void
authfn_fail(AuthFn *fn, const char *what, int backoff_ms)
{
	authfn_warn(fn, what, fn->conn ? PQerrorMessage(fn->conn) : "");
	authfn_drop(fn, backoff_ms);
}

static void
authfn_start(AuthFn *fn)
{
	fn->conn = PQconnectStartParams((const char *const *) fn->keys,
									(const char *const *) fn->values, 1);
	if (fn->conn == NULL || PQstatus(fn->conn) == CONNECTION_BAD)
	{
		authfn_fail(fn, "could not start a connection", fn->backoff_ms);
		return;
	}
	fn->state = AUTHFN_CONNECTING;
	fn->deadline_ms = fn->relay->loop.now_ms + AUTHFN_CONNECT_TIMEOUT_MS;
	authfn_watch_socket(fn, EPOLLOUT);
}

/* Quote an identifier as SQL does ("a""b"). */
static void
append_identifier(Buf *b, const char *s, size_t len)
{
	buf_append_char(b, '"');
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '"')
			buf_append_char(b, '"');
		buf_append_char(b, s[i]);
	}
	buf_append_char(b, '"');
}

/*
 * The connection's parameters: as listener.c's (bounded waits unless the
 * connection string says otherwise), then auth_conninfo's options, which
 * replace the relay's.  False with the reason in err if it does not parse.
 */
static bool
authfn_params(AuthFn *fn, Buf *err)
{
	static const char *const base[][2] = {
		{"options", "-c search_path=pg_catalog,pg_temp"}, {"keepalives_idle", "10"},
		{"keepalives_interval", "5"}, {"keepalives_count", "3"}, {"dbname", NULL},
		{"fallback_application_name", "pg_realtime auth"}};
	const int	nbase = (int) (sizeof(base) / sizeof(base[0]));
	PQconninfoOption *opts = NULL;
	char	   *why = NULL;
	int			n = nbase;

	if (fn->auth_conninfo[0])
	{
		opts = PQconninfoParse(fn->auth_conninfo, &why);
		if (opts == NULL)
		{
			buf_printf(err, "auth_conninfo: %s", why ? why : "out of memory");
			PQfreemem(why);
			return false;
		}
		for (PQconninfoOption *o = opts; o->keyword; o++)
			n += o->val != NULL;
	}
	fn->keys = relay_calloc((size_t) n + 1, sizeof(char *));
	fn->values = relay_calloc((size_t) n + 1, sizeof(char *));
	n = 0;
	for (int i = 0; i < nbase; i++, n++)
	{
		fn->keys[n] = relay_strdup(base[i][0]);
		fn->values[n] = relay_strdup(base[i][1] ? base[i][1] : fn->conninfo);
	}
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val != NULL)
		{
			fn->keys[n] = relay_strdup(o->keyword);
			fn->values[n++] = relay_strdup(o->val);
		}
	PQconninfoFree(opts);
	return true;
}

AuthFn *
authfn_create(Relay *relay, const char *conninfo, const char *auth_conninfo,
			  const char *function, Buf *err)
{
	const char *dot = strchr(function, '.');
	AuthFn	   *fn;
	Buf			q = BUF_INIT;
	Buf			sig = BUF_INIT;

	if (dot == NULL || dot == function || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
	{
		buf_printf(err, "auth_function \"%s\" must be schema.function", function);
		return NULL;
	}
	append_identifier(&sig, function, (size_t) (dot - function));
	buf_append_char(&sig, '.');
	append_identifier(&sig, dot + 1, strlen(dot + 1));
	buf_printf(&q, "SELECT %s($1::pg_catalog.text)::pg_catalog.text", sig.data);
	buf_append_str(&sig, "(pg_catalog.text)");

	fn = relay_calloc(1, sizeof(AuthFn));
	fn->relay = relay;
	fn->watch.fd = -1;
	fn->conninfo = relay_strdup(conninfo);
	fn->auth_conninfo = relay_strdup(auth_conninfo);
	fn->function = relay_strdup(function);
	fn->signature = buf_steal(&sig, NULL);
	fn->query = buf_steal(&q, NULL);
	fn->backoff_ms = AUTHFN_BACKOFF_MIN_MS;
	fn->deadline_ms = -1;
	dlist_init(&fn->queue);
	dlist_init(&fn->lru);
	fn->mask = 1023;
	fn->buckets = relay_calloc(fn->mask + 1, sizeof(CacheEntry *));
	if (!authfn_params(fn, err))
	{
		authfn_destroy(fn);
		return NULL;
	}
	authfn_start(fn);
	return fn;
}

bool
authfn_is_for(const AuthFn *fn, const char *conninfo, const char *auth_conninfo,
			  const char *function)
{
	return strcmp(fn->conninfo, conninfo) == 0 && strcmp(fn->auth_conninfo, auth_conninfo) == 0 &&
		strcmp(fn->function, function) == 0;
}

void
authfn_reconnect(AuthFn *fn)
{
	/* tokens wait for the new connection's check, not the last one's */
	fn->refusing = false;
	/* the lookup in flight is asked again on the new connection */
	if (fn->inflight)
	{
		dlist_push_tail(fn->queue.next, &fn->inflight->node);	/* first */
		fn->nqueued++;
		fn->inflight = NULL;
	}
	if (fn->state != AUTHFN_WAITING)
		authfn_drop(fn, 0);
	else
		fn->deadline_ms = fn->relay->loop.now_ms;
}

void
authfn_destroy(AuthFn *fn)
{
	if (fn->inflight)
		dlist_push_tail(&fn->queue, &fn->inflight->node);
	fn->inflight = NULL;
	while (!dlist_empty(&fn->queue))
		lookup_finish(fn, dlist_container(AuthLookup, node, fn->queue.next), NULL, AUTHFN_UNAVAILABLE);
	while (!dlist_empty(&fn->lru))
	{
		CacheEntry *e = dlist_container(CacheEntry, lru, fn->lru.next);

		cache_remove(fn, cache_link(fn, e->digest));
	}
	if (fn->watch.fd >= 0)
		loop_remove(&fn->relay->loop, &fn->watch);
	if (fn->conn)
		PQfinish(fn->conn);
	free(fn->buckets);
	for (int i = 0; fn->keys && fn->keys[i]; i++)
	{
		free(fn->keys[i]);
		free(fn->values[i]);
	}
	free(fn->keys);
	free(fn->values);
	free(fn->conninfo);
	free(fn->auth_conninfo);
	free(fn->function);
	free(fn->signature);
	free(fn->query);
	free(fn->refused);
	free(fn);
}

/*
 * Connected: pin search_path and statement_timeout before any lookup, and
 * check who can change the function (on the relay's own login: columns
 * 2-7, no row if it does not exist) or who it would run as (on
 * auth_conninfo's: columns 2-4).  See the header comment.
 */
#define AUTHFN_SETUP_SQL \
	"SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)," \
	" pg_catalog.set_config('statement_timeout', $1, false), "
#define AUTHFN_CHECK_OWNERS_SQL AUTHFN_SETUP_SQL \
	"fo.rolname, fo.rolsuper OR fo.rolname OPERATOR(pg_catalog.=) CURRENT_USER," \
	" n.nspname, so.rolname, so.rolsuper OR so.rolname OPERATOR(pg_catalog.=) CURRENT_USER, CURRENT_USER" \
	" FROM pg_catalog.pg_proc AS p" \
	" JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace" \
	" JOIN pg_catalog.pg_roles AS fo ON fo.oid OPERATOR(pg_catalog.=) p.proowner" \
	" JOIN pg_catalog.pg_roles AS so ON so.oid OPERATOR(pg_catalog.=) n.nspowner" \
	" WHERE p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure($2)::pg_catalog.oid"
#define AUTHFN_CHECK_LOGIN_SQL AUTHFN_SETUP_SQL \
	"r.rolname, EXISTS (SELECT FROM pg_catalog.pg_roles AS s" \
	"  WHERE s.rolsuper AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER'))," \
	" COALESCE((SELECT pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT')" \
	"  FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS k" \
	"  ON k.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE k.nspname OPERATOR(pg_catalog.=) 'realtime'" \
	"  AND c.relname OPERATOR(pg_catalog.=) 'keys'), false)" \
	" FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER"

static void
authfn_send_setup(AuthFn *fn)
{
	char		timeout[32];
	const char *params[2] = {timeout, fn->signature};
	bool		own_login = fn->auth_conninfo[0] == '\0';

	/* the connection string may have replaced the options: set them again */
	snprintf(timeout, sizeof(timeout), "%dms", fn->relay->config.auth_timeout_ms);
	fn->state = AUTHFN_SETUP;
	if (!PQsendQueryParams(fn->conn, own_login ? AUTHFN_CHECK_OWNERS_SQL : AUTHFN_CHECK_LOGIN_SQL,
						   own_login ? 2 : 1, NULL, params, NULL, NULL, 0))
	{
		authfn_fail(fn, "could not send a query", fn->backoff_ms);
		return;
	}
	authfn_watch_socket(fn, PQflush(fn->conn) == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Send the oldest lookup, if the connection is free. */
static void
authfn_next_query(AuthFn *fn)
{
	AuthLookup *lookup;
	const char *params[1];

	if (fn->state != AUTHFN_READY || fn->inflight || fn->draining)
		return;
	/* lookups nobody waits for any more are not worth a query */
	while (!dlist_empty(&fn->queue) &&
		   dlist_empty(&dlist_container(AuthLookup, node, fn->queue.next)->waiters))
	{
		fn->nqueued--;
		lookup_finish(fn, dlist_container(AuthLookup, node, fn->queue.next), NULL, NULL);
	}
	if (dlist_empty(&fn->queue))
		return;
	lookup = dlist_container(AuthLookup, node, fn->queue.next);
	dlist_remove(&lookup->node);
	fn->nqueued--;
	fn->inflight = lookup;
	params[0] = lookup->token;
	if (!PQsendQueryParams(fn->conn, fn->query, 1, NULL, params, NULL, NULL, 0))
	{
		authfn_fail(fn, "could not send a query", fn->backoff_ms);
		return;
	}
	authfn_watch_socket(fn, PQflush(fn->conn) == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Log why the function is not called (once for one reason), and remember it. */
static void
authfn_refused(AuthFn *fn, const char *why)
{
	if (fn->refused == NULL || strcmp(fn->refused, why) != 0)
		relay_log(RLOG_WARNING, "auth function %s: %s", fn->function, why);
	free(fn->refused);
	fn->refused = relay_strdup(why);
	fn->refusing = true;
}

/* The setup query's answer: may the function be called?  See the header comment. */
static bool
authfn_check(AuthFn *fn, PGresult *res)
{
	Buf			why = BUF_INIT;
	const char *fix = "; set pg_realtime.auth_conninfo to a login with nothing but EXECUTE on the function";

#define COL(i) PQgetvalue(res, 0, (i))
	if (PQntuples(res) != 1)
		buf_printf(&why, "refusing to call it: there is no function %s", fn->signature);
	else if (fn->auth_conninfo[0] == '\0' && (strcmp(COL(3), "t") != 0 || strcmp(COL(6), "t") != 0))
		buf_printf(&why, "refusing to call it as the relay's role \"%s\": it is owned by \"%s\" "
				   "and its schema \"%s\" by \"%s\", but only the relay's role or a superuser may own "
				   "them (another owner could make it run any SQL as \"%s\")%s, "
				   "or make the function and its schema owned by \"%s\" or a superuser",
				   COL(7), COL(2), COL(4), COL(5), COL(7), fix, COL(7));
	else if (fn->auth_conninfo[0] != '\0' && strcmp(COL(3), "t") == 0)
		buf_printf(&why, "refusing to call it as \"%s\" (auth_conninfo): a superuser or a member "
				   "of one would run whatever the function's owner makes it do%s",
				   COL(2), fix);
	else if (fn->auth_conninfo[0] != '\0' && strcmp(COL(4), "t") == 0)
		buf_printf(&why, "refusing to call it as \"%s\" (auth_conninfo): that role can read "
				   "realtime.keys, which the function's owner could copy through it%s",
				   COL(2), fix);
#undef COL
	if (why.len == 0)
	{
		if (fn->refused)
			relay_log(RLOG_INFO, "auth function %s: checked again: calling it", fn->function);
		free(fn->refused);
		fn->refused = NULL;
		fn->refusing = false;
		return true;
	}
	authfn_refused(fn, why.data);
	buf_free(&why);
	return false;
}

static void
authfn_on_result(AuthFn *fn, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (fn->state == AUTHFN_SETUP)
	{
		if (st != PGRES_TUPLES_OK)
		{
			authfn_warn(fn, "could not set up the connection", PQresultErrorMessage(res));
			fn->setup_failed = true;
		}
		else if (!authfn_check(fn, res))
			fn->refuse = true;
		else
		{
			fn->state = AUTHFN_READY;
			fn->backoff_ms = AUTHFN_BACKOFF_MIN_MS;
		}
		return;
	}
	if (fn->inflight == NULL)
		return;
	if (st == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 1)
		authfn_on_answer(fn, PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
						 PQgetlength(res, 0, 0));
	else
	{
		AuthLookup *lookup = fn->inflight;

		fn->inflight = NULL;
		authfn_warn(fn, "failed", st == PGRES_TUPLES_OK ? "it did not return one value"
					: PQresultErrorMessage(res));
		lookup_finish(fn, lookup, NULL, AUTHFN_UNAVAILABLE);
	}
}

static void
authfn_on_io(Watch *w, uint32_t events)
{
	AuthFn	   *fn = container_of(AuthFn, watch, w);
	PGresult   *res;

	if (fn->state == AUTHFN_CONNECTING)
	{
		switch (PQconnectPoll(fn->conn))
		{
			case PGRES_POLLING_READING:
				authfn_watch_socket(fn, EPOLLIN);
				return;
			case PGRES_POLLING_WRITING:
				authfn_watch_socket(fn, EPOLLOUT);
				return;
			case PGRES_POLLING_OK:
				if (PQsetnonblocking(fn->conn, 1) != 0)
				{
					authfn_fail(fn, "could not make the connection non-blocking", fn->backoff_ms);
					return;
				}
				fn->deadline_ms = -1;
				authfn_send_setup(fn);
				return;
			default:
				authfn_fail(fn, "could not connect", fn->backoff_ms);
				return;
		}
	}
	if ((events & EPOLLOUT) && PQflush(fn->conn) == 0)
		loop_modify(&fn->relay->loop, &fn->watch, EPOLLIN);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (!PQconsumeInput(fn->conn))
	{
		authfn_fail(fn, "connection lost", fn->backoff_ms);
		return;
	}
	/* answers may queue more lookups: they are sent once the results are read */
	fn->draining = true;
	while (!PQisBusy(fn->conn) && (res = PQgetResult(fn->conn)) != NULL)
	{
		authfn_on_result(fn, res);
		PQclear(res);
	}
	fn->draining = PQisBusy(fn->conn);
	if (fn->setup_failed)
	{
		fn->setup_failed = false;
		authfn_fail(fn, "setting up the connection failed", fn->backoff_ms);
		return;
	}
	if (fn->refuse)
	{
		/* what waits is answered now; the check is made again on the next connection */
		fn->refuse = false;
		while (!dlist_empty(&fn->queue))
		{
			fn->nqueued--;
			lookup_finish(fn, dlist_container(AuthLookup, node, fn->queue.next), NULL, AUTHFN_REFUSED);
		}
		authfn_drop(fn, fn->backoff_ms);
		return;
	}
	if (PQstatus(fn->conn) == CONNECTION_BAD)
	{
		authfn_fail(fn, "connection lost", fn->backoff_ms);
		return;
	}
	authfn_next_query(fn);
}

/* ------------------------------------------------------------------ requests */

AuthStatus
authfn_lookup(AuthFn *fn, const char *token, size_t len, AuthDoneFn done, void *arg,
			  AuthIdentity **identity, AuthRequest **request, Buf *err)
{
	unsigned char digest[32];
	CacheEntry **link;
	AuthLookup *lookup = NULL;
	AuthRequest *r;
	DNode	   *node;

	EVP_Digest(token, len, digest, NULL, EVP_sha256(), NULL);
	link = cache_link(fn, digest);
	if (*link && (*link)->expires_ms <= fn->relay->loop.now_ms)
		cache_remove(fn, link);
	else if (*link)
	{
		CacheEntry *e = *link;

		dlist_remove(&e->lru);
		dlist_push_tail(&fn->lru, &e->lru);
		if (e->identity && !identity_expired(fn, e->identity))
		{
			auth_identity_retain(e->identity);
			*identity = e->identity;
			return AUTH_OK;
		}
		buf_append_str(err, e->error ? e->error : "the session expired");
		return AUTH_FAILED;
	}
	if (fn->refusing && fn->state != AUTHFN_READY)
	{
		buf_append_str(err, AUTHFN_REFUSED);
		return AUTH_FAILED;
	}
	/* the same token already on its way? */
	if (fn->inflight && memcmp(fn->inflight->digest, digest, 32) == 0)
		lookup = fn->inflight;
	for (node = fn->queue.next; lookup == NULL && node != &fn->queue; node = node->next)
		if (memcmp(dlist_container(AuthLookup, node, node)->digest, digest, 32) == 0)
			lookup = dlist_container(AuthLookup, node, node);
	if (lookup == NULL)
	{
		if (fn->nqueued >= AUTHFN_MAX_QUEUE)
		{
			buf_append_str(err, "too many sessions are being checked; try again later");
			return AUTH_FAILED;
		}
		lookup = relay_calloc(1, sizeof(AuthLookup));
		memcpy(lookup->digest, digest, 32);
		lookup->token = relay_strndup(token, len);
		lookup->deadline_ms = fn->relay->loop.now_ms + fn->relay->config.auth_timeout_ms;
		dlist_init(&lookup->waiters);
		dlist_push_tail(&fn->queue, &lookup->node);
		fn->nqueued++;
	}
	r = relay_calloc(1, sizeof(AuthRequest));
	r->lookup = lookup;
	r->done = done;
	r->arg = arg;
	dlist_push_tail(&lookup->waiters, &r->node);
	*request = r;
	authfn_next_query(fn);
	return AUTH_PENDING;
}

void
authfn_cancel(AuthFn *fn, AuthRequest *request)
{
	dlist_remove(&request->node);
	free(request);
}

int64_t
authfn_next_deadline(AuthFn *fn)
{
	int64_t		next = fn->state == AUTHFN_WAITING || fn->state == AUTHFN_CONNECTING
		? fn->deadline_ms : -1;

	if (fn->inflight && (next < 0 || fn->inflight->deadline_ms < next))
		next = fn->inflight->deadline_ms;
	if (!dlist_empty(&fn->queue))
	{
		int64_t		q = dlist_container(AuthLookup, node, fn->queue.next)->deadline_ms;

		if (next < 0 || q < next)
			next = q;
	}
	return next;
}

void
authfn_on_timer(AuthFn *fn)
{
	int64_t		now = fn->relay->loop.now_ms;

	/* requests still queued when their time is up */
	while (!dlist_empty(&fn->queue) &&
		   dlist_container(AuthLookup, node, fn->queue.next)->deadline_ms <= now)
	{
		fn->nqueued--;
		lookup_finish(fn, dlist_container(AuthLookup, node, fn->queue.next), NULL,
					  "the session could not be checked in time; try again later");
	}
	if (fn->inflight && fn->inflight->deadline_ms <= now)
	{
		AuthLookup *lookup = fn->inflight;

		/*
		 * The answer may never come: a new connection, without waiting
		 * (first, so that what the answered clients ask next waits for it)
		 */
		fn->inflight = NULL;
		authfn_fail(fn, "no answer in time; reconnecting", 0);
		lookup_finish(fn, lookup, NULL, "the session could not be checked in time; try again later");
	}
	if (fn->state == AUTHFN_WAITING && fn->deadline_ms <= now)
		authfn_start(fn);
	else if (fn->state == AUTHFN_CONNECTING && fn->deadline_ms <= now)
		authfn_fail(fn, "connection timed out", fn->backoff_ms);
}
