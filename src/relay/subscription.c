/*
 * subscription.c - build, free and match one subscription
 */
#include "subscription.h"
#include "buf.h"
#include "event.h"

#include <stdlib.h>
#include <string.h>

/*
 * Build a subscription in one block: the struct, the channel and query
 * arrays and their nested arrays, then every string.  Matching an event
 * then touches one or two cache lines per connection, not a pointer chase.
 */
Subscription *
subscription_new(const char *id, size_t id_len, const SubChannelName *channels, int nchannels,
				 Query *queries, int nqueries)
{
	size_t		structs = sizeof(Subscription) + sizeof(SubChannel) * (size_t) nchannels +
		sizeof(Query) * (size_t) nqueries;
	size_t		strings = id_len + 3;
	Subscription *sub;
	char	   *sp;
	char	   *p;
	int			n = 0;

	for (int i = 0; i < nchannels; i++)
		strings += channels[i].len + 1;
	for (int i = 0; i < nqueries; i++)
		query_measure(&queries[i], &structs, &strings);
	sub = relay_malloc(structs + strings);
	memset(sub, 0, sizeof(Subscription));
	sub->bytes = (uint32_t) (structs + strings);
	sub->channels = (SubChannel *) (sub + 1);
	sub->queries = (Query *) (sub->channels + nchannels);
	sp = (char *) (sub->queries + nqueries);
	p = (char *) sub + structs;

	for (int i = 0; i < nchannels; i++)
	{
		uint32_t	hash = event_channel_hash(channels[i].p, channels[i].len);
		bool		dup = false;

		for (int k = 0; k < n && !dup; k++)
			dup = sub->channels[k].hash == hash && sub->channels[k].len == channels[i].len &&
				memcmp(sub->channels[k].name, channels[i].p, channels[i].len) == 0;
		if (dup)
			continue;
		memcpy(p, channels[i].p, channels[i].len);
		p[channels[i].len] = '\0';
		sub->channel_bytes += (uint32_t) channels[i].len;
		sub->channels[n].hash = hash;
		sub->channels[n].len = (uint32_t) channels[i].len;
		sub->channels[n].name = p;
		p += channels[i].len + 1;
		n++;
	}
	sub->nchannels = (uint16_t) n;

	p[0] = '"';
	memcpy(p + 1, id, id_len);
	p[id_len + 1] = '"';
	p[id_len + 2] = '\0';
	sub->quoted_id = p;
	sub->id_len = (uint8_t) id_len;
	p += id_len + 3;

	sub->nqueries = (uint16_t) nqueries;
	sub->match_all = nqueries == 0;
	for (int i = 0; i < nqueries; i++)
	{
		query_count(&queries[i], &sub->nvalues, &sub->cost);
		query_copy(&queries[i], &sub->queries[i], &sp, &p);
		/* like Appwrite's RuntimeQuery::filter, select("*") wins over the rest */
		if (queries[i].method == QUERY_SELECT_ALL)
			sub->match_all = true;
		query_free(&queries[i]);
	}
	free(queries);
	return sub;
}

void
subscription_free(Subscription *sub)
{
	free(sub);
}

/* Channel equality first (hash, then bytes), then the queries. */
bool
subscription_matches(const Subscription *sub, const RelayEvent *ev)
{
	bool		channel_ok = false;

	for (int i = 0; i < sub->nchannels && !channel_ok; i++)
	{
		const SubChannel *c = &sub->channels[i];

		channel_ok = event_has_channel(ev, c->name, c->len, c->hash);
	}
	if (!channel_ok)
		return false;
	if (sub->match_all)
		return true;
	for (int i = 0; i < sub->nqueries; i++)
	{
		if (!query_match_event(&sub->queries[i], ev))
			return false;
	}
	return true;
}

bool
subscription_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > SUBSCRIPTION_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}
