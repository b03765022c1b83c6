/*
 * subscription.c - build, free and match one subscription
 */
#include "subscription.h"
#include "buf.h"
#include "event.h"

#include <stdlib.h>
#include <string.h>

/* Build a subscription in one block (struct, channel array, names, id). */
Subscription *
subscription_new(const char *id, size_t id_len, const SubChannelName *channels, int nchannels,
				 Query *queries, int nqueries)
{
	size_t		size = sizeof(Subscription) + sizeof(SubChannel) * (size_t) nchannels + id_len + 3;
	Subscription *sub;
	char	   *p;
	int			n = 0;

	for (int i = 0; i < nchannels; i++)
		size += channels[i].len + 1;
	sub = relay_malloc(size);
	memset(sub, 0, sizeof(Subscription));
	sub->channels = (SubChannel *) (sub + 1);
	p = (char *) (sub->channels + nchannels);

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

	sub->queries = queries;
	sub->nqueries = (uint16_t) nqueries;
	sub->match_all = true;
	for (int i = 0; i < nqueries; i++)
	{
		/* like Appwrite's RuntimeQuery::filter, select("*") wins over the rest */
		if (queries[i].method == QUERY_SELECT_ALL)
		{
			sub->match_all = true;
			break;
		}
		sub->match_all = false;
	}
	return sub;
}

void
subscription_free(Subscription *sub)
{
	if (sub == NULL)
		return;
	for (int i = 0; i < sub->nqueries; i++)
		query_free(&sub->queries[i]);
	free(sub->queries);
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
		if (!query_match(&sub->queries[i], ev->payload))
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
