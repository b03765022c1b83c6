/*
 * protocol.c - the Appwrite realtime protocol for one connection
 *
 * Turns the upgrade URL and each client message into subscriptions and
 * answers (PROTOCOL.md sections 1-3, 7), and decides per event which of the
 * connection's subscriptions it reaches (sections 5-6).  Message texts and
 * behaviour follow the Appwrite server (app/realtime.php,
 * Messaging/Adapter/Realtime.php) wherever PROTOCOL.md leaves them open.
 */
#include "protocol.h"
#include "auth.h"
#include "buf.h"
#include "event.h"
#include "jsontext.h"
#include "query.h"
#include "subscription.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

/* A limit from the session's ProtoLimits; 0 means none. */
#define LIMIT(s, field) ((s)->limits ? (s)->limits->field : 0)

void
proto_session_init(ProtoSession *s, const ProtoLimits *limits)
{
	memset(s, 0, sizeof(*s));
	s->limits = limits;
}

/* Count sub against the budgets (added) or stop counting it. */
static void
account_sub(ProtoSession *s, const Subscription *sub, bool added)
{
	size_t	   *shared = s->limits ? s->limits->memory_used : NULL;

	if (added)
	{
		s->channel_bytes += sub->channel_bytes;
		s->query_values += sub->nvalues;
		s->query_cost += sub->cost;
		if (shared)
			*shared += sub->bytes;
		if (s->peer_memory)
			*s->peer_memory += sub->bytes;
	}
	else
	{
		s->channel_bytes -= sub->channel_bytes;
		s->query_values -= sub->nvalues;
		s->query_cost -= sub->cost;
		if (shared)
			*shared -= sub->bytes;
		if (s->peer_memory)
			*s->peer_memory -= sub->bytes;
	}
}

static void
free_sub(ProtoSession *s, Subscription *sub)
{
	account_sub(s, sub, false);
	subscription_free(sub);
}

/* Free every subscription and the identity; the session is a fresh guest afterwards. */
void
proto_session_free(ProtoSession *s)
{
	Subscription *sub = s->subs;

	while (sub)
	{
		Subscription *next = sub->next;

		free_sub(s, sub);
		sub = next;
	}
	s->subs = NULL;
	s->nsubs = 0;
	auth_identity_release(s->identity);
	s->identity = NULL;
	free(s->auth_token);
	s->auth_token = NULL;
}

/* {"type":"error","data":{"code":code,"message":msg}} */
void
proto_error_json(Buf *out, int code, const char *message)
{
	buf_printf(out, "{\"type\":\"error\",\"data\":{\"code\":%d,\"message\":", code);
	buf_append_json_string(out, message, strlen(message));
	buf_append_str(out, "}}");
}

static void
send_error(ProtoSendFn send, void *arg, int code, const char *message)
{
	Buf			b = BUF_INIT;

	proto_error_json(&b, code, message);
	send(arg, b.data, b.len);
	buf_free(&b);
}

/* The link that points at the subscription with this id, or NULL. */
static Subscription **
find_sub(ProtoSession *s, const char *id, size_t len)
{
	Subscription **link;

	for (link = &s->subs; *link; link = &(*link)->next)
	{
		if ((*link)->id_len == len && memcmp(subscription_id(*link), id, len) == 0)
			return link;
	}
	return NULL;
}

/* Add sub at the end, or in place of the subscription with the same id. */
static void
upsert_sub(ProtoSession *s, Subscription *sub)
{
	Subscription **link = find_sub(s, subscription_id(sub), sub->id_len);

	account_sub(s, sub, true);
	if (link)
	{
		Subscription *old = *link;

		sub->next = old->next;
		*link = sub;
		free_sub(s, old);
		return;
	}
	for (link = &s->subs; *link; link = &(*link)->next)
		;
	sub->next = NULL;
	*link = sub;
	s->nsubs++;
}

/* Remove the subscription with this id; false if there was none. */
static bool
remove_sub(ProtoSession *s, const char *id, size_t len)
{
	Subscription **link = find_sub(s, id, len);
	Subscription *sub;

	if (link == NULL)
		return false;
	sub = *link;
	*link = sub->next;
	free_sub(s, sub);
	s->nsubs--;
	return true;
}

/*
 * A server-made id ("s0", "s1", ...) that is not in use and is not one of
 * the taken ids (client-chosen ids of the same message).
 */
static size_t
make_id(ProtoSession *s, char out[16], const char *const *taken, const size_t *taken_len,
		int ntaken)
{
	for (;;)
	{
		int			n = snprintf(out, 16, "s%u", s->next_auto_id++);
		bool		used = find_sub(s, out, (size_t) n) != NULL;

		for (int i = 0; i < ntaken && !used; i++)
			used = taken[i] && taken_len[i] == (size_t) n && memcmp(taken[i], out, n) == 0;
		if (!used)
			return (size_t) n;
	}
}

/* Append the subscription's channels as a JSON array. */
static void
append_channels_json(Buf *b, const Subscription *sub)
{
	buf_append_char(b, '[');
	for (int i = 0; i < sub->nchannels; i++)
	{
		if (i)
			buf_append_char(b, ',');
		buf_append_json_string(b, sub->channels[i].name, sub->channels[i].len);
	}
	buf_append_char(b, ']');
}

/* ---- subscribe / unsubscribe messages ---- */

typedef struct PendingSub
{
	const char *id;				/* client-chosen, or NULL */
	size_t		id_len;
	struct json_object *channels;	/* borrowed from the message */
	struct json_object *queries;	/* borrowed; NULL if absent */
	Query	   *compiled;
	int			nqueries;
} PendingSub;

static void
free_pending(PendingSub *pend, int n)
{
	for (int i = 0; i < n; i++)
	{
		for (int k = 0; k < pend[i].nqueries; k++)
			query_free(&pend[i].compiled[k]);
		free(pend[i].compiled);
	}
	free(pend);
}

/*
 * Validate one item of a subscribe message into p.  On failure sets *code
 * and appends the message to err.
 */
static bool
check_subscribe_item(ProtoSession *s, struct json_object *item, PendingSub *p, int *code,
					 Buf *err)
{
	struct json_object *v;
	size_t		n;

	*code = 1003;
	if (!json_object_is_type(item, json_type_object))
	{
		buf_append_str(err, "Each subscribe payload must be an object.");
		return false;
	}
	if (json_object_object_get_ex(item, "subscriptionId", &v))
	{
		if (!json_object_is_type(v, json_type_string) ||
			!subscription_id_valid(json_object_get_string(v),
								   (size_t) json_object_get_string_len(v)))
		{
			buf_append_str(err, "subscriptionId is not a valid id.");
			return false;
		}
		p->id = json_object_get_string(v);
		p->id_len = (size_t) json_object_get_string_len(v);
	}
	if (!json_object_object_get_ex(item, "channels", &p->channels))
	{
		buf_append_str(err, "channels is not present in payload.");
		return false;
	}
	if (!json_object_is_type(p->channels, json_type_array))
	{
		buf_append_str(err, "channels is not a valid array.");
		return false;
	}
	n = json_object_array_length(p->channels);
	for (size_t i = 0; i < n; i++)
	{
		if (!json_object_is_type(json_object_array_get_idx(p->channels, i), json_type_string))
		{
			buf_append_str(err, "channels must contain only strings.");
			return false;
		}
	}
	if (LIMIT(s, max_channels) > 0 && n > (size_t) LIMIT(s, max_channels))
	{
		*code = 1013;
		buf_printf(err, "Too many channels in one subscription (limit %d).", LIMIT(s, max_channels));
		return false;
	}
	if (json_object_object_get_ex(item, "queries", &p->queries) &&
		!json_object_is_type(p->queries, json_type_array))
	{
		buf_append_str(err, "queries is not a valid array.");
		return false;
	}
	n = p->queries ? json_object_array_length(p->queries) : 0;
	if (LIMIT(s, max_queries) > 0 && n > (size_t) LIMIT(s, max_queries))
	{
		*code = 1013;
		buf_printf(err, "Too many queries in one subscription (limit %d).", LIMIT(s, max_queries));
		return false;
	}
	p->compiled = relay_calloc(n ? n : 1, sizeof(Query));
	for (size_t i = 0; i < n; i++)
	{
		struct json_object *q = json_object_array_get_idx(p->queries, i);

		if (!json_object_is_type(q, json_type_string))
		{
			buf_append_str(err, "Invalid query: each query must be a string of JSON.");
			return false;
		}
		if (!query_compile(json_object_get_string(q), (size_t) json_object_get_string_len(q),
						   &p->compiled[i], err))
			return false;
		p->nqueries = (int) i + 1;
	}
	return true;
}

/*
 * Would adding subs[0..n) (replacing the session's subscriptions of the
 * same ids) stay within the budgets?  Each subscription's matching cost is
 * checked alone (error 1003, like an invalid query: it can never fit); the
 * connection's totals, its address's memory and the relay's memory
 * together (error 1013).
 */
static bool
check_budgets(ProtoSession *s, Subscription **subs, int n, int *code, Buf *err)
{
	uint64_t	channel_bytes = s->channel_bytes;
	uint64_t	values = s->query_values;
	uint64_t	cost = s->query_cost;
	uint64_t	bytes = 0;
	uint64_t	freed = 0;

	for (int i = 0; i < n; i++)
	{
		Subscription **old = find_sub(s, subscription_id(subs[i]), subs[i]->id_len);

		if (LIMIT(s, max_query_cost) > 0 && subs[i]->cost > (uint32_t) LIMIT(s, max_query_cost))
		{
			*code = 1003;
			buf_printf(err, "Invalid query: the queries of subscription %d cost %u to match, "
					   "more than the limit of %d (one per query and per value); use fewer values.",
					   i, subs[i]->cost, LIMIT(s, max_query_cost));
			return false;
		}
		if (old)
		{
			channel_bytes -= (*old)->channel_bytes;
			values -= (*old)->nvalues;
			cost -= (*old)->cost;
			freed += (*old)->bytes;
		}
		channel_bytes += subs[i]->channel_bytes;
		values += subs[i]->nvalues;
		cost += subs[i]->cost;
		bytes += subs[i]->bytes;
	}
	*code = 1013;
	if (LIMIT(s, max_channel_bytes) > 0 && channel_bytes > (uint64_t) LIMIT(s, max_channel_bytes))
	{
		buf_printf(err, "Too many channel bytes on this connection (limit %d).",
				   LIMIT(s, max_channel_bytes));
		return false;
	}
	if (LIMIT(s, max_query_values) > 0 && values > (uint64_t) LIMIT(s, max_query_values))
	{
		buf_printf(err, "Too many query values on this connection (limit %d).",
				   LIMIT(s, max_query_values));
		return false;
	}
	if (LIMIT(s, max_connection_query_cost) > 0 && cost > (uint64_t) LIMIT(s, max_connection_query_cost))
	{
		buf_printf(err, "The queries of this connection's subscriptions cost %llu to match, more than "
				   "the limit of %d (one per query and per value); use fewer queries and values.",
				   (unsigned long long) cost, LIMIT(s, max_connection_query_cost));
		return false;
	}
	if (s->peer_memory && LIMIT(s, peer_memory_budget) > 0 &&
		*s->peer_memory + bytes > LIMIT(s, peer_memory_budget) + freed)
	{
		buf_printf(err, "The subscriptions from this address use all the memory it may have (%zu kB); "
				   "unsubscribe or close other connections first.",
				   LIMIT(s, peer_memory_budget) / 1024);
		return false;
	}
	if (s->limits && s->limits->memory_used && s->limits->memory_budget > 0 &&
		*s->limits->memory_used + bytes > s->limits->memory_budget + freed)
	{
		buf_append_str(err, "The relay has no memory left for subscriptions; try again later.");
		return false;
	}
	return true;
}

/*
 * subscribe: validate every item and build its subscription first, check
 * the limits and budgets (nothing changes on error), then create or
 * replace and acknowledge.
 */
static void
handle_subscribe(ProtoSession *s, struct json_object *data, ProtoSendFn send, void *arg)
{
	Buf			err = BUF_INIT;
	Buf			r = BUF_INIT;
	PendingSub *pend;
	Subscription **subs;
	const char **taken;
	size_t	   *taken_len;
	int			n;
	int			nsubs;
	int			code = 1003;
	int			total;

	if (data == NULL || !json_object_is_type(data, json_type_array))
	{
		send_error(send, arg, 1003, "Payload is not valid.");
		return;
	}
	n = (int) json_object_array_length(data);
	pend = relay_calloc(n ? n : 1, sizeof(PendingSub));
	for (int i = 0; i < n; i++)
	{
		if (!check_subscribe_item(s, json_object_array_get_idx(data, i), &pend[i], &code, &err))
		{
			send_error(send, arg, code, err.data);
			buf_free(&err);
			free_pending(pend, i + 1);
			return;
		}
	}

	/* how many subscriptions the connection would have afterwards */
	total = s->nsubs;
	for (int i = 0; i < n; i++)
	{
		bool		exists = pend[i].id && find_sub(s, pend[i].id, pend[i].id_len);

		for (int k = 0; k < i && !exists && pend[i].id; k++)
			exists = pend[k].id && pend[k].id_len == pend[i].id_len &&
				memcmp(pend[k].id, pend[i].id, pend[i].id_len) == 0;
		if (!exists)
			total++;
	}
	if (LIMIT(s, max_subscriptions) > 0 && total > LIMIT(s, max_subscriptions))
	{
		buf_printf(&err, "Too many subscriptions on this connection (limit %d).",
				   LIMIT(s, max_subscriptions));
		send_error(send, arg, 1013, err.data);
		buf_free(&err);
		free_pending(pend, n);
		return;
	}

	taken = relay_calloc(n ? n : 1, sizeof(char *));
	taken_len = relay_calloc(n ? n : 1, sizeof(size_t));
	for (int i = 0; i < n; i++)
	{
		taken[i] = pend[i].id;
		taken_len[i] = pend[i].id_len;
	}
	subs = relay_calloc(n ? n : 1, sizeof(Subscription *));
	nsubs = n;
	for (int i = 0; i < n; i++)
	{
		PendingSub *p = &pend[i];
		int			nch = (int) json_object_array_length(p->channels);
		SubChannelName *names = relay_calloc(nch ? nch : 1, sizeof(SubChannelName));
		char		auto_id[16];
		const char *id = p->id;
		size_t		id_len = p->id_len;

		if (id == NULL)
		{
			id_len = make_id(s, auto_id, taken, taken_len, n);
			id = auto_id;
		}
		for (int k = 0; k < nch; k++)
		{
			struct json_object *c = json_object_array_get_idx(p->channels, k);

			names[k].p = json_object_get_string(c);
			names[k].len = (size_t) json_object_get_string_len(c);
		}
		subs[i] = subscription_new(id, id_len, names, nch, p->nqueries ? p->compiled : NULL,
								   p->nqueries);
		if (p->nqueries == 0)
			free(p->compiled);
		p->compiled = NULL;		/* owned by the subscription now */
		p->nqueries = 0;
		free(names);
	}
	if (!check_budgets(s, subs, n, &code, &err))
	{
		send_error(send, arg, code, err.data);
		for (int i = 0; i < n; i++)
			subscription_free(subs[i]);
		nsubs = 0;
	}

	buf_append_str(&r, "{\"type\":\"response\",\"data\":{\"to\":\"subscribe\",\"success\":true,"
				   "\"subscriptions\":[");
	for (int i = 0; i < nsubs; i++)
	{
		PendingSub *p = &pend[i];
		Subscription *sub = subs[i];

		upsert_sub(s, sub);
		if (i)
			buf_append_char(&r, ',');
		buf_append_str(&r, "{\"subscriptionId\":");
		buf_append_json_string(&r, subscription_id(sub), sub->id_len);
		buf_append_str(&r, ",\"channels\":");
		append_channels_json(&r, sub);
		buf_append_str(&r, ",\"queries\":[");
		for (size_t k = 0; p->queries && k < json_object_array_length(p->queries); k++)
		{
			struct json_object *q = json_object_array_get_idx(p->queries, k);

			if (k)
				buf_append_char(&r, ',');
			buf_append_json_string(&r, json_object_get_string(q),
								   (size_t) json_object_get_string_len(q));
		}
		buf_append_str(&r, "]}");
	}
	buf_append_str(&r, "]}}");
	if (nsubs == n)
		send(arg, r.data, r.len);

	buf_free(&r);
	buf_free(&err);
	free(subs);
	free(taken);
	free(taken_len);
	free_pending(pend, n);
}

/* unsubscribe: every item needs a subscriptionId; unknown ids are not an error. */
static void
handle_unsubscribe(ProtoSession *s, struct json_object *data, ProtoSendFn send, void *arg)
{
	Buf			r = BUF_INIT;
	size_t		n;

	if (data == NULL || !json_object_is_type(data, json_type_array))
	{
		send_error(send, arg, 1003, "Payload is not valid.");
		return;
	}
	n = json_object_array_length(data);
	for (size_t i = 0; i < n; i++)
	{
		struct json_object *item = json_object_array_get_idx(data, i);
		struct json_object *id;

		if (!json_object_is_type(item, json_type_object) ||
			!json_object_object_get_ex(item, "subscriptionId", &id) ||
			!json_object_is_type(id, json_type_string) || json_object_get_string_len(id) == 0)
		{
			send_error(send, arg, 1003,
					   "Each unsubscribe payload must include a non-empty subscriptionId.");
			return;
		}
	}

	buf_append_str(&r, "{\"type\":\"response\",\"data\":{\"to\":\"unsubscribe\",\"success\":true,"
				   "\"subscriptions\":[");
	for (size_t i = 0; i < n; i++)
	{
		struct json_object *id;
		const char *p;
		size_t		len;
		bool		removed;

		json_object_object_get_ex(json_object_array_get_idx(data, i), "subscriptionId", &id);
		p = json_object_get_string(id);
		len = (size_t) json_object_get_string_len(id);
		removed = remove_sub(s, p, len);
		if (i)
			buf_append_char(&r, ',');
		buf_append_str(&r, "{\"subscriptionId\":");
		buf_append_json_string(&r, p, len);
		buf_append_str(&r, removed ? ",\"removed\":true}" : ",\"removed\":false}");
	}
	buf_append_str(&r, "]}}");
	send(arg, r.data, r.len);
	buf_free(&r);
}

/*
 * authentication: {"session": TOKEN} -- the caller checks the token and
 * answers through proto_authenticated().
 */
static ProtoResult
handle_authentication(ProtoSession *s, struct json_object *data, ProtoSendFn send, void *arg)
{
	struct json_object *session;

	if (data == NULL || !json_object_is_type(data, json_type_object) ||
		!json_object_object_get_ex(data, "session", &session) ||
		!json_object_is_type(session, json_type_string) || json_object_get_string_len(session) == 0 ||
		strlen(json_object_get_string(session)) != (size_t) json_object_get_string_len(session))
	{
		send_error(send, arg, 1003, "Payload is not valid: data.session must be a non-empty string.");
		return PROTO_OK;
	}
	free(s->auth_token);
	s->auth_token = relay_strdup(json_object_get_string(session));
	return PROTO_AUTHENTICATE;
}

void
proto_authenticated(ProtoSession *s, struct AuthIdentity *identity, const char *error,
					ProtoSendFn send, void *arg)
{
	Buf			m = BUF_INIT;

	free(s->auth_token);
	s->auth_token = NULL;
	if (identity == NULL)
	{
		buf_append_str(&m, "Session is not valid: ");
		buf_append_str(&m, error ? error : "unknown reason");
		buf_append_char(&m, '.');
		send_error(send, arg, 1003, m.data);
		buf_free(&m);
		return;
	}
	auth_identity_release(s->identity);
	s->identity = identity;
	buf_append_str(&m, "{\"type\":\"response\",\"data\":{\"to\":\"authentication\",\"success\":true,"
				   "\"user\":");
	auth_user_json(identity, &m);
	buf_append_str(&m, "}}");
	send(arg, m.data, m.len);
	buf_free(&m);
}

/* One inbound text message; errors are answered, never fatal to the connection. */
ProtoResult
proto_handle_message(ProtoSession *s, const char *text, size_t len, ProtoSendFn send, void *arg)
{
	struct json_object *root = jsontext_parse(text, len);
	struct json_object *type;
	struct json_object *data = NULL;
	const char *t;
	ProtoResult result = PROTO_OK;

	if (root == NULL || !json_object_is_type(root, json_type_object))
	{
		send_error(send, arg, 1003, "Message format is not valid.");
		if (root)
			json_object_put(root);
		return PROTO_OK;
	}
	if (!json_object_object_get_ex(root, "type", &type) ||
		!json_object_is_type(type, json_type_string))
	{
		send_error(send, arg, 1003, "Message type is not valid.");
		json_object_put(root);
		return PROTO_OK;
	}
	t = json_object_get_string(type);
	json_object_object_get_ex(root, "data", &data);

	if (strcmp(t, "ping") == 0)
	{
		const char *pong = "{\"type\":\"pong\"}";

		send(arg, pong, strlen(pong));
	}
	else if (strcmp(t, "subscribe") == 0)
		handle_subscribe(s, data, send, arg);
	else if (strcmp(t, "unsubscribe") == 0)
		handle_unsubscribe(s, data, send, arg);
	else if (strcmp(t, "authentication") == 0)
		result = handle_authentication(s, data, send, arg);
	else
	{
		Buf			m = BUF_INIT;

		buf_append_str(&m, "Message type is not valid: \"");
		buf_append(&m, t, utf8_prefix(t, strlen(t), 64));
		buf_append_str(&m, "\".");
		send_error(send, arg, 1003, m.data);
		buf_free(&m);
	}
	json_object_put(root);
	return result;
}

/* ---- the upgrade URL ---- */

typedef enum UrlError
{
	URL_OK,
	URL_PROJECT,
	URL_CHANNEL,
	URL_QUERY,
	URL_LIMIT
} UrlError;

/* One "<channel>[<slot>][]=<query>" parameter (SDK v23/24). */
typedef struct UrlSlotParam
{
	int			channel;		/* index into UrlState.channels */
	long		slot;
	char	   *query;
	size_t		len;
} UrlSlotParam;

/* A subscription being assembled from the URL, keyed by slot. */
typedef struct UrlSub
{
	long		slot;
	int			query_channel;	/* whose [slot][] params are the queries; -1 none */
	int			nchannels;
	int		   *channels;
} UrlSub;

typedef struct UrlState
{
	ProtoSession *s;
	int			nchannels;
	SubChannelName *channels;	/* decoded, deduplicated, in URL order */
	int			nparams;
	UrlSlotParam *params;
	int			nsubs;
	UrlSub	   *subs;			/* in Appwrite's order (first appearance) */
	UrlError	error;
	Buf			message;
} UrlState;

/* Most channels accepted in one URL, whatever the limits say. */
#define URL_MAX_CHANNELS 1024

static bool
url_fail(UrlState *u, UrlError error, const char *message)
{
	u->error = error;
	buf_append_str(&u->message, message);
	return false;
}

static int
url_find_channel(UrlState *u, const char *name, size_t len)
{
	for (int i = 0; i < u->nchannels; i++)
	{
		if (u->channels[i].len == len && memcmp(u->channels[i].p, name, len) == 0)
			return i;
	}
	return -1;
}

/* http_query_channels() callback: collect each distinct channel. */
static bool
url_channel_cb(void *arg, const char *channel, size_t len)
{
	UrlState   *u = arg;

	if (len == 0 || memchr(channel, '\0', len) != NULL)
		return url_fail(u, URL_CHANNEL, "Invalid channel: channel names must not be empty.");
	if (url_find_channel(u, channel, len) >= 0)
		return true;
	if (u->nchannels >= URL_MAX_CHANNELS)
		return url_fail(u, URL_LIMIT, "Too many channels.");
	u->channels = relay_realloc(u->channels, sizeof(SubChannelName) * (u->nchannels + 1));
	u->channels[u->nchannels].p = relay_strndup(channel, len);
	u->channels[u->nchannels].len = len;
	u->nchannels++;
	return true;
}

/*
 * If key is "<name>[<digits>][]", set *name_len and *slot and return true.
 */
static bool
url_slot_key(const char *key, size_t len, size_t *name_len, long *slot)
{
	size_t		i;
	size_t		digits_end;

	if (len < 5 || memcmp(key + len - 3, "][]", 3) != 0)
		return false;
	digits_end = len - 3;
	i = digits_end;
	while (i > 0 && key[i - 1] >= '0' && key[i - 1] <= '9')
		i--;
	if (i == digits_end || digits_end - i > 9 || i == 0 || key[i - 1] != '[' || i - 1 == 0)
		return false;
	*slot = strtol(key + i, NULL, 10);
	*name_len = i - 1;
	return true;
}

/* Collect the per-slot query parameters of the channels already known. */
static bool
url_collect_slots(UrlState *u, HttpSlice query)
{
	char	   *key = relay_malloc(query.len + 1);
	char	   *value = relay_malloc(query.len + 1);
	size_t		pos = 0;
	bool		ok = true;

	while (ok && pos < query.len)
	{
		size_t		end = pos;
		size_t		eq;
		size_t		klen,
					vlen,
					name_len;
		long		slot;
		int			channel;

		while (end < query.len && query.p[end] != '&')
			end++;
		for (eq = pos; eq < end && query.p[eq] != '='; eq++)
			;
		if (eq < end &&
			http_percent_decode(query.p + pos, eq - pos, key, &klen, true) &&
			url_slot_key(key, klen, &name_len, &slot) &&
			(channel = url_find_channel(u, key, name_len)) >= 0)
		{
			if (!http_percent_decode(query.p + eq + 1, end - eq - 1, value, &vlen, true))
				ok = url_fail(u, URL_QUERY, "Invalid query: not valid percent-encoding.");
			else
			{
				u->params = relay_realloc(u->params, sizeof(UrlSlotParam) * (u->nparams + 1));
				u->params[u->nparams].channel = channel;
				u->params[u->nparams].slot = slot;
				u->params[u->nparams].query = relay_strndup(value, vlen);
				u->params[u->nparams].len = vlen;
				u->nparams++;
			}
		}
		pos = end + 1;
	}
	free(key);
	free(value);
	return ok;
}

static UrlSub *
url_sub_for_slot(UrlState *u, long slot)
{
	for (int i = 0; i < u->nsubs; i++)
	{
		if (u->subs[i].slot == slot)
			return &u->subs[i];
	}
	u->subs = relay_realloc(u->subs, sizeof(UrlSub) * (u->nsubs + 1));
	memset(&u->subs[u->nsubs], 0, sizeof(UrlSub));
	u->subs[u->nsubs].slot = slot;
	u->subs[u->nsubs].query_channel = -1;
	return &u->subs[u->nsubs++];
}

static void
url_sub_add_channel(UrlSub *us, int channel)
{
	for (int i = 0; i < us->nchannels; i++)
	{
		if (us->channels[i] == channel)
			return;
	}
	us->channels = relay_realloc(us->channels, sizeof(int) * (us->nchannels + 1));
	us->channels[us->nchannels++] = channel;
}

/*
 * Group channels into subscriptions as Appwrite's constructSubscriptions()
 * does: a channel with "[slot][]" parameters joins each of those slots (the
 * first channel seen for a slot supplies its queries); a channel without
 * joins slot 0, which then matches everything.
 */
static void
url_group(UrlState *u)
{
	for (int c = 0; c < u->nchannels; c++)
	{
		bool		has_params = false;

		for (int i = 0; i < u->nparams; i++)
		{
			UrlSub	   *us;

			if (u->params[i].channel != c)
				continue;
			has_params = true;
			us = url_sub_for_slot(u, u->params[i].slot);
			url_sub_add_channel(us, c);
			if (us->query_channel == -1)
				us->query_channel = c;
		}
		if (!has_params)
		{
			UrlSub	   *us = url_sub_for_slot(u, 0);

			url_sub_add_channel(us, c);
			if (us->query_channel == -1)
				us->query_channel = -2; /* select("*") */
		}
	}
}

/* Compile and create the grouped subscriptions; appends the slot→id mapping. */
static bool
url_create(UrlState *u, Buf *mapping)
{
	ProtoSession *s = u->s;
	Subscription **made;
	bool		list = true;

	if (LIMIT(s, max_subscriptions) > 0 && u->nsubs > LIMIT(s, max_subscriptions))
	{
		buf_printf(&u->message, "Too many subscriptions (limit %d).", LIMIT(s, max_subscriptions));
		u->error = URL_LIMIT;
		return false;
	}
	made = relay_calloc(u->nsubs ? u->nsubs : 1, sizeof(Subscription *));
	for (int i = 0; i < u->nsubs && u->error == URL_OK; i++)
	{
		UrlSub	   *us = &u->subs[i];
		SubChannelName *names = relay_calloc(us->nchannels, sizeof(SubChannelName));
		Query	   *queries = NULL;
		int			nq = 0;
		char		id[16];
		size_t		id_len;

		if (LIMIT(s, max_channels) > 0 && us->nchannels > LIMIT(s, max_channels))
		{
			buf_printf(&u->message, "Too many channels in one subscription (limit %d).",
					   LIMIT(s, max_channels));
			u->error = URL_LIMIT;
		}
		for (int k = 0; k < u->nparams && u->error == URL_OK; k++)
		{
			UrlSlotParam *p = &u->params[k];

			if (p->channel != us->query_channel || p->slot != us->slot)
				continue;
			if (LIMIT(s, max_queries) > 0 && nq >= LIMIT(s, max_queries))
			{
				buf_printf(&u->message, "Too many queries in one subscription (limit %d).",
						   LIMIT(s, max_queries));
				u->error = URL_LIMIT;
				break;
			}
			queries = relay_realloc(queries, sizeof(Query) * (nq + 1));
			if (!query_compile(p->query, p->len, &queries[nq], &u->message))
			{
				u->error = URL_QUERY;
				break;
			}
			nq++;
		}
		if (u->error != URL_OK)
		{
			for (int k = 0; k < nq; k++)
				query_free(&queries[k]);
			free(queries);
			free(names);
			break;
		}
		for (int k = 0; k < us->nchannels; k++)
			names[k] = u->channels[us->channels[k]];
		id_len = make_id(s, id, NULL, NULL, 0);
		made[i] = subscription_new(id, id_len, names, us->nchannels, queries, nq);
		free(names);
	}
	if (u->error == URL_OK)
	{
		int			code;

		if (!check_budgets(s, made, u->nsubs, &code, &u->message))
			u->error = code == 1003 ? URL_QUERY : URL_LIMIT;
	}
	if (u->error != URL_OK)
	{
		for (int i = 0; i < u->nsubs; i++)
			if (made[i])
				subscription_free(made[i]);
		free(made);
		return false;
	}

	/* PHP's json_encode makes a list of keys 0..n-1 in order, else an object */
	for (int i = 0; i < u->nsubs; i++)
		list = list && u->subs[i].slot == i;
	buf_append_char(mapping, list ? '[' : '{');
	for (int i = 0; i < u->nsubs; i++)
	{
		if (i)
			buf_append_char(mapping, ',');
		if (!list)
			buf_printf(mapping, "\"%ld\":", u->subs[i].slot);
		buf_append_json_string(mapping, subscription_id(made[i]), made[i]->id_len);
		upsert_sub(s, made[i]);
	}
	buf_append_char(mapping, list ? ']' : '}');
	free(made);
	return true;
}

/* The project check: only when an expected project is configured. */
static bool
url_project_ok(ProtoSession *s, HttpSlice query, char *buf, size_t bufsz)
{
	const char *want = s->limits ? s->limits->project : NULL;
	size_t		n;

	if (want == NULL || want[0] == '\0')
		return true;
	if (!http_query_param(query, "project", buf, bufsz, &n))
		return false;
	return n == strlen(want) && memcmp(buf, want, n) == 0;
}

/*
 * Everything the URL asks for: project check, channels, per-slot queries,
 * subscriptions.  On success appends the "connected" data's channel list
 * and subscription mapping (when given) and returns URL_OK.
 */
static UrlError
url_subscribe(UrlState *u, HttpSlice query, Buf *channels_json, Buf *mapping)
{
	char	   *scratch = relay_malloc(query.len + 1);
	bool		project_ok = url_project_ok(u->s, query, scratch, query.len + 1);

	free(scratch);
	if (!project_ok)
	{
		url_fail(u, URL_PROJECT, "Missing or unknown project ID");
		return u->error;
	}
	if (!http_query_channels(query, url_channel_cb, u))
	{
		if (u->error == URL_OK)
			url_fail(u, URL_CHANNEL, "Invalid channel parameter: not valid percent-encoded UTF-8.");
		return u->error;
	}
	if (u->nchannels > 0)
	{
		if (!url_collect_slots(u, query))
			return u->error;
		url_group(u);
		if (!url_create(u, mapping))
			return u->error;
	}
	else
		buf_append_str(mapping, "[]");

	buf_append_char(channels_json, '[');
	for (int i = 0; i < u->nchannels; i++)
	{
		if (i)
			buf_append_char(channels_json, ',');
		buf_append_json_string(channels_json, u->channels[i].p, u->channels[i].len);
	}
	buf_append_char(channels_json, ']');
	return URL_OK;
}

static void
url_state_init(UrlState *u, ProtoSession *s)
{
	memset(u, 0, sizeof(*u));
	u->s = s;
	u->error = URL_OK;
}

static void
url_state_free(UrlState *u)
{
	for (int i = 0; i < u->nchannels; i++)
		free((char *) u->channels[i].p);
	free(u->channels);
	for (int i = 0; i < u->nparams; i++)
		free(u->params[i].query);
	free(u->params);
	for (int i = 0; i < u->nsubs; i++)
		free(u->subs[i].channels);
	free(u->subs);
	buf_free(&u->message);
}

/* WebSocket upgrade: subscribe from the URL, then send "connected". */
ProtoResult
proto_open(ProtoSession *s, HttpSlice query, const char *auth_error, ProtoSendFn send, void *arg)
{
	UrlState	u;
	Buf			channels = BUF_INIT;
	Buf			mapping = BUF_INIT;
	Buf			m = BUF_INIT;

	url_state_init(&u, s);
	if (url_subscribe(&u, query, &channels, &mapping) != URL_OK)
	{
		send_error(send, arg, 1008, u.message.data);
		url_state_free(&u);
		buf_free(&channels);
		buf_free(&mapping);
		proto_session_free(s);
		return PROTO_CLOSE_POLICY;
	}
	buf_append_str(&m, "{\"type\":\"connected\",\"data\":{\"channels\":");
	buf_append(&m, channels.data, channels.len);
	buf_append_str(&m, ",\"subscriptions\":");
	buf_append(&m, mapping.data, mapping.len);
	buf_append_str(&m, ",\"user\":");
	auth_user_json(s->identity, &m);
	buf_append_str(&m, "}}");
	send(arg, m.data, m.len);

	/* "connected" must come first: the SDK waits for it before anything else */
	if (auth_error)
	{
		buf_reset(&m);
		buf_printf(&m, "Session is not valid: %s.", auth_error);
		send_error(send, arg, 1003, m.data);
	}

	url_state_free(&u);
	buf_free(&channels);
	buf_free(&mapping);
	buf_free(&m);
	return PROTO_OK;
}

/* SSE: the same URL handling; no "connected", and channels are required. */
bool
proto_open_sse(ProtoSession *s, HttpSlice query, const char **error)
{
	UrlState	u;
	Buf			channels = BUF_INIT;
	Buf			mapping = BUF_INIT;
	UrlError	e;

	url_state_init(&u, s);
	e = url_subscribe(&u, query, &channels, &mapping);
	if (e == URL_OK && u.nchannels == 0)
	{
		*error = "missing channels: add channels[]=<channel> to the URL";
		e = URL_CHANNEL;
	}
	else if (e == URL_PROJECT)
		*error = "missing or unknown project ID";
	else if (e == URL_CHANNEL)
		*error = "invalid channel parameter";
	else if (e == URL_QUERY)
		*error = "invalid query in the URL";
	else if (e == URL_LIMIT)
		*error = "too many channels, subscriptions or queries in the URL";
	url_state_free(&u);
	buf_free(&channels);
	buf_free(&mapping);
	if (e != URL_OK)
	{
		proto_session_free(s);
		return false;
	}
	return true;
}

/* ---- delivery: the hot path, once per connection that may read the event ---- */

/*
 * Append the ids of the subscriptions that match ("\"s0\",\"s3\"") and
 * return how many; no allocation beyond growing out.
 */
int
proto_match_event(const ProtoSession *s, const struct RelayEvent *ev, Buf *out)
{
	int			n = 0;

	if (s->subs == NULL)
		return 0;
	for (const Subscription *sub = s->subs; sub; sub = sub->next)
	{
		if (!subscription_matches(sub, ev))
			continue;
		if (n++ > 0)
			buf_append_char(out, ',');
		buf_append(out, sub->quoted_id, sub->id_len + 2);
	}
	return n;
}
