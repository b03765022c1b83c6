/*
 * catalog.c - which channels can ever match: warnings for the others
 *
 * A subscription to a channel no event will ever have is silence forever:
 * a channel of another Appwrite service ("account"), a schema name where
 * the database id belongs, a collection no table is tracked as.  Each
 * listener learns what its database publishes (realtime.database_id() and
 * the collection ids of realtime.collections()) when asked; this module checks a new subscription's channels against that
 * and sends the client a warning the SDK ignores and a person sees: a
 * {"type":"warning"} WebSocket message, an SSE comment.
 *
 * A database id or collection missing from what the relay knows may have
 * been tracked a moment ago, so such a warning waits for a refresh that
 * started after the subscription.  Refreshes are on demand only, at most
 * one a second (CATALOG_REFRESH_MIN_MS): one small query per database.  The
 * clients waiting for one are flagged (Client.catalog_recheck) and found
 * through the fan-out list when it completes; a subscription is checked
 * once (Subscription.checked).
 */
#include "relay_int.h"
#include "log.h"
#include "subscription.h"

#include <stdio.h>
#include <string.h>

#define CATALOG_REFRESH_MIN_MS 1000
#define CATALOG_MAX_WARNINGS 8	/* per subscribe; the rest are counted */
#define CATALOG_MAX_NAME 200	/* longest channel quoted in a warning */

typedef enum ChannelVerdict
{
	CHANNEL_OK,					/* some event can have it */
	CHANNEL_NEVER,				/* no event can ever have it */
	CHANNEL_UNKNOWN,			/* names a database id or collection the
								 * relay does not know (yet) */
	CHANNEL_UNSURE				/* some database's catalog is not known */
} ChannelVerdict;

static const char *const actions[] = {"create", "update", "delete", NULL};

static bool
is_action(const char *p, size_t len)
{
	for (int i = 0; actions[i]; i++)
		if (strlen(actions[i]) == len && memcmp(actions[i], p, len) == 0)
			return true;
	return false;
}

static bool
part_is(const char *p, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

/* Is name[0..len) a line of list (ids, one a line; NULL is empty)? */
static bool
list_has(const char *list, const char *name, size_t len)
{
	while (list && *list)
	{
		size_t		n = strcspn(list, "\n");

		if (n == len && memcmp(list, name, len) == 0)
			return true;
		list += n + (list[n] == '\n');
	}
	return false;
}

/* Append the lines of list, JSON-quoted, separated by ", "; counts them in *n. */
static void
append_list(Buf *b, const char *list, int *n)
{
	while (list && *list)
	{
		size_t		k = strcspn(list, "\n");

		if ((*n)++)
			buf_append_str(b, ", ");
		buf_append_json_string(b, list, k);
		list += k + (list[k] == '\n');
	}
}

/* Append a channel name, JSON-quoted (no raw newline can reach SSE) and cut. */
static void
append_quoted(Buf *b, const char *s, size_t len)
{
	buf_append_json_string(b, s, len > CATALOG_MAX_NAME ? CATALOG_MAX_NAME : len);
	if (len > CATALOG_MAX_NAME)
		buf_append_str(b, "...");
}

/* Append the database ids (or one database id's collections) the relay knows. */
static void
append_known(Relay *relay, Buf *b, const char *db, size_t dblen)
{
	int			n = 0;

	for (int i = 0; i < relay->nlisteners; i++)
	{
		const char *ids;
		const char *collections;

		if (!listener_catalog(relay->listeners[i], &ids, &collections))
			continue;
		if (db == NULL)
			append_list(b, ids, &n);
		else if (list_has(ids, db, dblen))
			append_list(b, collections, &n);
	}
	if (n == 0)
		buf_append_str(b, "none");
}

/*
 * Can an event ever have this channel (PROTOCOL.md section 5)?  On NEVER
 * and UNKNOWN appends why to why.
 */
static ChannelVerdict
catalog_check_channel(Relay *relay, const char *ch, size_t len, Buf *why)
{
	const char *part[8];
	size_t		plen[8];
	int			n = 0;
	bool		collections;
	bool		db_known = false;
	bool		col_known = false;

	/* split at '.' (n == 9: more levels than any document channel has) */
	for (size_t start = 0;;)
	{
		const char *dot = memchr(ch + start, '.', len - start);
		size_t		end = dot ? (size_t) (dot - ch) : len;

		if (n == 8)
		{
			n++;
			break;
		}
		part[n] = ch + start;
		plen[n++] = end - start;
		if (!dot)
			break;
		start = end + 1;
	}
	if (n <= 2 && (part_is(part[0], plen[0], "documents") || part_is(part[0], plen[0], "rows")) &&
		(n == 1 || is_action(part[1], plen[1])))
		return CHANNEL_OK;
	collections = n >= 1 && part_is(part[0], plen[0], "databases") && n >= 3 &&
		part_is(part[2], plen[2], "collections");
	if (n < 5 || n > 7 ||
		!((collections && part_is(part[4], plen[4], "documents")) ||
		  ((part_is(part[0], plen[0], "databases") || part_is(part[0], plen[0], "tablesdb")) &&
		   part_is(part[2], plen[2], "tables") && part_is(part[4], plen[4], "rows"))) ||
		plen[1] == 0 || plen[3] == 0 || (n >= 6 && plen[5] == 0) ||
		(n == 7 && !is_action(part[6], plen[6])))
	{
		buf_append_str(why, "channel ");
		append_quoted(why, ch, len);
		buf_append_str(why, " never matches: pg_realtime publishes only document events, on the channels "
					   "documents, rows, databases.<database>.collections.<collection>.documents, "
					   "databases.<database>.tables.<collection>.rows and "
					   "tablesdb.<database>.tables.<collection>.rows (each with an optional "
					   ".<document id> and .create, .update or .delete)");
		return CHANNEL_NEVER;
	}

	/* the wal transport has no listener to ask: its catalog is not known */
	if (relay->nwalsources > 0)
		return CHANNEL_UNSURE;
	for (int i = 0; i < relay->nlisteners; i++)
	{
		const char *ids;
		const char *cols;

		if (!listener_catalog(relay->listeners[i], &ids, &cols))
			return CHANNEL_UNSURE;
		if (!list_has(ids, part[1], plen[1]))
			continue;
		db_known = true;
		col_known = col_known || list_has(cols, part[3], plen[3]);
	}
	if (col_known)
		return CHANNEL_OK;
	buf_append_str(why, "channel ");
	append_quoted(why, ch, len);
	if (!db_known)
	{
		buf_append_str(why, " never matches: no database the relay listens to has the database id ");
		append_quoted(why, part[1], plen[1]);
		buf_append_str(why, " (theirs: ");
		append_known(relay, why, NULL, 0);
		buf_append_str(why, "; the database id is pg_realtime.database_id, or the database's name, "
					   "not a schema's)");
	}
	else
	{
		buf_append_str(why, " never matches: database ");
		append_quoted(why, part[1], plen[1]);
		buf_append_str(why, " has no table tracked as collection ");
		append_quoted(why, part[3], plen[3]);
		buf_append_str(why, " (tracked: ");
		append_known(relay, why, part[1], plen[1]);
		buf_append_str(why, "; see realtime.tracked)");
	}
	return CHANNEL_UNKNOWN;
}

/*
 * Check the client's subscriptions that are not checked yet.  A channel
 * that names a database id or collection not known (or a database whose
 * catalog is not known) is only judged when final, after a refresh that
 * began after it was made; until then the client is flagged and a refresh
 * asked for.  When final, a catalog still unknown warns of nothing.
 */
static void
catalog_check_client(Client *c, bool final)
{
	Relay	   *relay = c->relay;
	Buf			why = BUF_INIT;
	int			warnings = 0;
	int			more = 0;
	bool		recheck = false;

	for (Subscription *sub = c->session.subs; sub; sub = sub->next)
	{
		bool		defer = false;

		if (sub->checked)
			continue;
		for (int i = 0; i < sub->nchannels && !final && !defer; i++)
		{
			ChannelVerdict v;

			buf_reset(&why);
			v = catalog_check_channel(relay, sub->channels[i].name, sub->channels[i].len, &why);
			defer = (v == CHANNEL_UNKNOWN || v == CHANNEL_UNSURE);
		}
		if (defer)
		{
			recheck = true;
			continue;
		}
		sub->checked = true;
		for (int i = 0; i < sub->nchannels; i++)
		{
			ChannelVerdict v;

			buf_reset(&why);
			v = catalog_check_channel(relay, sub->channels[i].name, sub->channels[i].len, &why);
			if (v != CHANNEL_NEVER && v != CHANNEL_UNKNOWN)
				continue;
			if (warnings++ < CATALOG_MAX_WARNINGS)
				client_send_warning(c, why.data, why.len);
			else
				more++;
		}
	}
	if (more > 0)
	{
		buf_reset(&why);
		buf_printf(&why, "%d more channels never match", more);
		client_send_warning(c, why.data, why.len);
	}
	buf_free(&why);
	c->catalog_recheck = recheck;
	if (recheck)
	{
		relay->catalog.flag_gen++;
		catalog_want_refresh(relay);
	}
}

/* A client subscribed: check what it subscribed to. */
void
catalog_check_new_subscriptions(Client *c)
{
	if (c->state == CLIENT_WEBSOCKET || c->state == CLIENT_SSE)
		catalog_check_client(c, false);
}

/* Start a refresh now if allowed, else when the rate limit allows it. */
void
catalog_want_refresh(Relay *relay)
{
	CatalogState *cs = &relay->catalog;

	if (cs->pending > 0)
		return;					/* when it completes, it sees the new flag */
	if (cs->started_ms > 0 && relay->loop.now_ms < cs->started_ms + CATALOG_REFRESH_MIN_MS)
	{
		cs->next_ms = cs->started_ms + CATALOG_REFRESH_MIN_MS;
		return;
	}
	cs->next_ms = -1;
	cs->started_ms = relay->loop.now_ms;
	cs->start_gen = cs->flag_gen;
	cs->pending = relay->nlisteners;
	for (int i = 0; i < relay->nlisteners; i++)
		listener_request_catalog(relay->listeners[i]);	/* may answer at once */
	if (relay->nlisteners == 0)
		catalog_answered(relay);
}

/* The rate-limited refresh is due, or -1. */
int64_t
catalog_next_deadline(Relay *relay)
{
	return relay->catalog.next_ms;
}

void
catalog_on_timer(Relay *relay)
{
	if (relay->catalog.next_ms >= 0 && relay->catalog.next_ms <= relay->loop.now_ms)
	{
		relay->catalog.next_ms = -1;
		catalog_want_refresh(relay);
	}
}

/*
 * A listener answered a refresh (or failed, or went away).  When all have,
 * the flagged clients get their final check, if no flag came after the
 * refresh started; else another refresh is asked for.
 */
void
catalog_answered(Relay *relay)
{
	CatalogState *cs = &relay->catalog;

	if (cs->pending > 0)
		cs->pending--;
	if (cs->pending > 0)
		return;
	if (cs->flag_gen != cs->start_gen)
	{
		catalog_want_refresh(relay);
		return;
	}
	cs->done_gen = cs->start_gen;
	for (DNode *node = relay->deliverable.next; node != &relay->deliverable;)
	{
		Client	   *c = dlist_container(Client, deliver_node, node);

		node = node->next;
		if (c->catalog_recheck)
			catalog_check_client(c, true);
	}
}

/*
 * The listeners were replaced (reload): the old ones will not answer.  Ask
 * the new ones if clients are still waiting.
 */
void
catalog_listeners_replaced(Relay *relay)
{
	relay->catalog.pending = 0;
	if (relay->catalog.flag_gen != relay->catalog.done_gen)
		catalog_want_refresh(relay);
}
