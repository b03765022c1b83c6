/*
 * auth.c - tokens to identities, identities to roles; see auth.h
 *
 * The service holds the verification keys (jwt.c) and, when configured, the
 * auth function (authfn.c).  Secrets and key files are read at start and
 * on every reload; a reload that cannot read them keeps the keys in use, so
 * a botched key rotation does not lock every user out.
 */
#include "auth.h"
#include "authfn.h"
#include "event.h"
#include "jwt.h"
#include "log.h"
#include "relay_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json.h>
#include <openssl/crypto.h>

/* a key file larger than this is refused (a JWKS of JWT_MAX_KEYS RSA keys is ~30 kB) */
#define AUTH_MAX_KEY_FILE (1024 * 1024)
#define AUTH_ID_MAX 36

struct Auth
{
	struct Relay *relay;
	JwtKeySet  *keys;			/* NULL: no JWT keys configured */
	AuthFn	   *fn;				/* NULL: no auth function */
};

/* ------------------------------------------------------------ identities */

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* An Appwrite ID: 1-36 of [a-zA-Z0-9._-], alphanumeric first (as track() checks roles). */
static bool
is_appwrite_id(const char *s, size_t len)
{
	if (len < 1 || len > AUTH_ID_MAX || !is_alnum(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* A string claim member (no NUL inside); NULL if absent or not a string. */
static const char *
claim_string(struct json_object *claims, const char *key, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(claims, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t) json_object_get_string_len(v);
	if (strlen(json_object_get_string(v)) != *len)
		return NULL;
	return json_object_get_string(v);
}

/* Roles being collected: strings in one Buf, NUL-separated, no duplicates. */
typedef struct RoleList
{
	Buf			text;
	int			n;
} RoleList;

static void
role_add(RoleList *l, const char *prefix, const char *a, size_t alen, const char *suffix)
{
	Buf			r = BUF_INIT;
	size_t		off = 0;

	buf_printf(&r, "%s%.*s%s", prefix, (int) alen, a, suffix);
	for (int i = 0; i < l->n; i++)
	{
		size_t		n = strlen(l->text.data + off);

		if (n == r.len && memcmp(l->text.data + off, r.data, n) == 0)
		{
			buf_free(&r);
			return;
		}
		off += n + 1;
	}
	buf_append(&l->text, r.data, r.len + 1);	/* with its NUL */
	l->n++;
	buf_free(&r);
}

/* Collect the string items of an array claim through add(); false on a bad item. */
static bool
claim_array(struct json_object *claims, const char *key, int max, RoleList *roles,
			bool (*add) (RoleList *roles, const char *s, size_t len), Buf *err)
{
	struct json_object *list;
	size_t		n;

	if (!json_object_object_get_ex(claims, key, &list) || list == NULL)
		return true;
	if (!json_object_is_type(list, json_type_array))
	{
		buf_printf(err, "the \"%s\" claim is not an array", key);
		return false;
	}
	n = json_object_array_length(list);
	if (n > (size_t) max)
	{
		buf_printf(err, "the \"%s\" claim has more than %d items", key, max);
		return false;
	}
	for (size_t i = 0; i < n; i++)
	{
		struct json_object *item = json_object_array_get_idx(list, i);
		const char *s = json_object_is_type(item, json_type_string) ? json_object_get_string(item) : NULL;
		size_t		len = s ? (size_t) json_object_get_string_len(item) : 0;

		if (s == NULL || strlen(s) != len || !add(roles, s, len))
		{
			buf_printf(err, "item %zu of the \"%s\" claim is not a valid %s", i, key,
					   strcmp(key, "labels") == 0 ? "label (1-36 letters and digits)"
					   : "team (an Appwrite ID, optionally followed by /ROLE)");
			return false;
		}
	}
	return true;
}

/* "T" or "T/ROLE" -> team:T (and team:T/ROLE) */
static bool
add_team(RoleList *roles, const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t		tlen = slash ? (size_t) (slash - s) : len;

	if (!is_appwrite_id(s, tlen) || (slash && !is_appwrite_id(slash + 1, len - tlen - 1)))
		return false;
	role_add(roles, "team:", s, tlen, "");
	if (slash)
		role_add(roles, "team:", s, len, "");
	return true;
}

static bool
add_label(RoleList *roles, const char *s, size_t len)
{
	if (len < 1 || len > AUTH_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]))
			return false;
	role_add(roles, "label:", s, len, "");
	return true;
}

AuthIdentity *
auth_identity_from_claims(struct json_object *claims, const char *server_role, Buf *err)
{
	RoleList	roles = {BUF_INIT, 0};
	const char *sub;
	const char *role;
	size_t		sub_len = 0;
	size_t		role_len = 0;
	bool		server;
	double		exp = 0;
	struct json_object *v;
	AuthIdentity *id;
	size_t		size;
	char	   *p;
	size_t		off = 0;

	if (claims == NULL || !json_object_is_type(claims, json_type_object))
	{
		buf_append_str(err, "the claims are not a JSON object");
		return NULL;
	}
	sub = claim_string(claims, "sub", &sub_len);
	role = claim_string(claims, "role", &role_len);
	server = role && server_role && server_role[0] && strcmp(role, server_role) == 0;
	if (json_object_object_get_ex(claims, "sub", &v) && sub == NULL)
	{
		buf_append_str(err, "the \"sub\" claim is not a string");
		return NULL;
	}
	if (sub && !is_appwrite_id(sub, sub_len))
	{
		buf_append_str(err, "the \"sub\" claim is not an Appwrite ID (1-36 of a-z, A-Z, 0-9, "
					   "period, hyphen, underscore)");
		return NULL;
	}
	if (sub == NULL && !server)
	{
		buf_append_str(err, "the token has no \"sub\" claim (a user id)");
		return NULL;
	}
	if (json_object_object_get_ex(claims, "exp", &v) && !jwt_numeric_date(v, &exp))
	{
		buf_append_str(err, "the \"exp\" claim is not a number");
		return NULL;
	}
	if (!server)
	{
		bool		verified = false;

		if ((json_object_object_get_ex(claims, "email_verified", &v) ||
			 json_object_object_get_ex(claims, "verified", &v)) &&
			json_object_is_type(v, json_type_boolean))
			verified = json_object_get_boolean(v);
		role_add(&roles, "user:", sub, sub_len, "");
		role_add(&roles, "users", "", 0, "");
		role_add(&roles, "user:", sub, sub_len, verified ? "/verified" : "/unverified");
		role_add(&roles, "users", "", 0, verified ? "/verified" : "/unverified");
		if (!claim_array(claims, "teams", AUTH_MAX_TEAMS, &roles, add_team, err) ||
			!claim_array(claims, "labels", AUTH_MAX_LABELS, &roles, add_label, err))
		{
			buf_free(&roles.text);
			return NULL;
		}
	}

	/* one block: the struct, the role pointers, the user id, the role strings */
	size = sizeof(AuthIdentity) + sizeof(char *) * (size_t) roles.n + (sub ? sub_len + 1 : 0) +
		roles.text.len;
	id = relay_calloc(1, size);
	id->refcount = 1;
	id->server = server;
	id->expires_at = exp;
	id->nroles = roles.n;
	id->roles = (const char **) (id + 1);
	p = (char *) (id->roles + roles.n);
	if (sub)
	{
		memcpy(p, sub, sub_len);
		p[sub_len] = '\0';
		id->user_id = p;
		p += sub_len + 1;
	}
	if (roles.text.len)
		memcpy(p, roles.text.data, roles.text.len);
	for (int i = 0; i < roles.n; i++)
	{
		id->roles[i] = p + off;
		off += strlen(p + off) + 1;
	}
	buf_free(&roles.text);
	return id;
}

void
auth_identity_retain(AuthIdentity *id)
{
	if (id)
		id->refcount++;
}

void
auth_identity_release(AuthIdentity *id)
{
	if (id && --id->refcount == 0)
		free(id);
}

bool
auth_may_read(const AuthIdentity *id, const RelayEvent *ev)
{
	if (ev->read_any || (id && id->server))
		return true;
	if (id == NULL)
		return ev->read_guests;
	for (int i = 0; i < id->nroles; i++)
		for (int k = 0; k < ev->nroles; k++)
			if (strcmp(id->roles[i], ev->roles[k]) == 0)
				return true;
	return false;
}

void
auth_user_json(const AuthIdentity *id, Buf *out)
{
	if (id == NULL)
	{
		buf_append_str(out, "null");
		return;
	}
	buf_append_str(out, "{\"$id\":");
	if (id->user_id)
		buf_append_json_string(out, id->user_id, strlen(id->user_id));
	else
		buf_append_str(out, "null");
	if (id->server)
		buf_append_str(out, ",\"server\":true");
	buf_append_char(out, '}');
}

/* --------------------------------------------------------------- service */

/* Read a whole (small) file; NULL with the reason in err. */
static char *
read_key_file(const char *path, const char *what, size_t *len, Buf *err)
{
	FILE	   *f = fopen(path, "rb");
	struct stat st;
	char	   *text;

	if (f == NULL)
	{
		buf_printf(err, "could not open %s \"%s\": %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > AUTH_MAX_KEY_FILE)
	{
		buf_printf(err, "%s \"%s\" is not a regular file of at most 1 MB", what, path);
		fclose(f);
		return NULL;
	}
	text = relay_malloc((size_t) st.st_size + 1);
	*len = fread(text, 1, (size_t) st.st_size, f);
	text[*len] = '\0';
	fclose(f);
	return text;
}

/* The key set the configuration describes; NULL with err set on failure, or when none. */
static JwtKeySet *
auth_load_keys(const RelayConfig *config, bool *ok, Buf *err)
{
	JwtKeySet  *keys = jwt_keyset_new();
	bool		has_secret = config->jwt_secret && config->jwt_secret[0];
	bool		has_secret_file = config->jwt_secret_file && config->jwt_secret_file[0];

	*ok = true;
	if (has_secret && has_secret_file)
	{
		buf_append_str(err, "set jwt_secret or jwt_secret_file, not both");
		*ok = false;
	}
	else if (has_secret)
		*ok = jwt_keyset_set_secret(keys, config->jwt_secret, strlen(config->jwt_secret), err);
	else if (has_secret_file)
	{
		size_t		len = 0;
		char	   *text = read_key_file(config->jwt_secret_file, "jwt_secret_file", &len, err);

		if (text)
		{
			/* an editor's final newline is not part of the secret */
			if (len > 0 && text[len - 1] == '\n')
				len--;
			if (len > 0 && text[len - 1] == '\r')
				len--;
			*ok = jwt_keyset_set_secret(keys, text, len, err);
			OPENSSL_cleanse(text, len);
			free(text);
		}
		else
			*ok = false;
	}
	if (*ok && config->jwt_public_key_file && config->jwt_public_key_file[0])
	{
		size_t		len = 0;
		char	   *text = read_key_file(config->jwt_public_key_file, "jwt_public_key_file", &len, err);

		*ok = text != NULL;
		if (text && !jwt_keyset_add_public(keys, text, len, err))
		{
			Buf			where = BUF_INIT;

			buf_printf(&where, " in jwt_public_key_file \"%s\"", config->jwt_public_key_file);
			buf_append(err, where.data, where.len);
			buf_free(&where);
			*ok = false;
		}
		free(text);
	}
	if (!*ok || jwt_keyset_count(keys) == 0)
	{
		jwt_keyset_free(keys);
		return NULL;
	}
	return keys;
}

/* Make, keep or drop the auth function's connection as the configuration says. */
static bool
auth_setup_function(Auth *auth, Buf *err)
{
	const RelayConfig *config = &auth->relay->config;
	const char *fn = config->auth_function ? config->auth_function : "";
	const char *conninfo = config->nconninfo > 0 ? config->conninfo[0] : "";
	const char *auth_conninfo = config->auth_conninfo ? config->auth_conninfo : "";

	if (auth->fn && fn[0] && authfn_is_for(auth->fn, conninfo, auth_conninfo, fn))
	{
		/* who owns the function may have changed: check again */
		authfn_reconnect(auth->fn);
		return true;
	}
	if (auth->fn)
	{
		AuthFn	   *old = auth->fn;

		/* its waiting clients are answered now and may ask again: not it */
		auth->fn = NULL;
		authfn_destroy(old);
	}
	if (fn[0] == '\0')
		return true;
	if (config->nconninfo == 0)
	{
		buf_append_str(err, "auth_function needs a database connection");
		return false;
	}
	auth->fn = authfn_create(auth->relay, conninfo, auth_conninfo, fn, err);
	return auth->fn != NULL;
}

Auth *
auth_create(struct Relay *relay, Buf *err)
{
	Auth	   *auth = relay_calloc(1, sizeof(Auth));
	bool		ok;

	auth->relay = relay;
	auth->keys = auth_load_keys(&relay->config, &ok, err);
	if (!ok || !auth_setup_function(auth, err))
	{
		auth_destroy(auth);
		return NULL;
	}
	return auth;
}

bool
auth_reload(Auth *auth, Buf *err)
{
	bool		ok;
	JwtKeySet  *keys = auth_load_keys(&auth->relay->config, &ok, err);

	if (ok)
	{
		jwt_keyset_free(auth->keys);
		auth->keys = keys;
	}
	else
		buf_append_str(err, "; the previous keys stay in use");
	return auth_setup_function(auth, err) && ok;
}

void
auth_destroy(Auth *auth)
{
	if (auth == NULL)
		return;
	if (auth->fn)
		authfn_destroy(auth->fn);
	jwt_keyset_free(auth->keys);
	free(auth);
}

bool
auth_enabled(const Auth *auth)
{
	return auth->keys != NULL || auth->fn != NULL;
}

AuthStatus
auth_resolve(Auth *auth, const char *token, size_t len, AuthDoneFn done, void *arg,
			 AuthIdentity **identity, AuthRequest **request, Buf *err)
{
	const RelayConfig *config = &auth->relay->config;
	struct json_object *claims = NULL;
	JwtCheck	check;
	struct timespec now;

	*identity = NULL;
	*request = NULL;
	if (len == 0 || len > JWT_MAX_TOKEN)
	{
		buf_append_str(err, len ? "the token is too long" : "the token is empty");
		return AUTH_FAILED;
	}
	if (auth->fn && (auth->keys == NULL || !jwt_is_jwt(token, len)))
		return authfn_lookup(auth->fn, token, len, done, arg, identity, request, err);
	if (auth->keys == NULL)
	{
		buf_append_str(err, "this relay accepts no tokens (no jwt_secret, jwt_public_key_file "
					   "or auth_function is configured)");
		return AUTH_FAILED;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	check.now_s = now.tv_sec;
	check.leeway_s = config->jwt_leeway_s;
	check.issuer = config->jwt_issuer;
	check.audience = config->jwt_audience;
	if (jwt_verify(auth->keys, token, len, &check, &claims, err) != JWT_OK)
		return AUTH_FAILED;
	*identity = auth_identity_from_claims(claims, config->server_role, err);
	json_object_put(claims);
	return *identity ? AUTH_OK : AUTH_FAILED;
}

void
auth_cancel(Auth *auth, AuthRequest *request)
{
	if (auth->fn && request)
		authfn_cancel(auth->fn, request);
}

int64_t
auth_next_deadline(Auth *auth)
{
	return auth->fn ? authfn_next_deadline(auth->fn) : -1;
}

void
auth_on_timer(Auth *auth)
{
	if (auth->fn)
		authfn_on_timer(auth->fn);
}
