/*
 * unit_event.h - an event from a NOTIFY payload, for the unit tests that
 * match events (protocol, auth, fanout); aborts on a bad test event
 */
#ifndef UNIT_EVENT_H
#define UNIT_EVENT_H

#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An event of collection "orders" in database "shop", document "42". */
static inline RelayEvent *
unit_make_event(const char *action, const char *read, const char *payload)
{
	char		text[2048];
	RelayEvent *ev = NULL;
	int64_t		large;
	const char *error = NULL;

	snprintf(text, sizeof(text),
			 "{\"v\":1,\"event\":\"e\",\"action\":\"%s\",\"databaseId\":\"shop\","
			 "\"collectionId\":\"orders\",\"documentId\":\"42\",\"read\":%s,\"payload\":%s}",
			 action, read, payload);
	if (event_parse_notify(text, strlen(text), "2026-05-01T10:00:00.123+00:00", &ev, &large,
						   &error) != EVENT_NOTIFY_INLINE)
	{
		fprintf(stderr, "  bad test event: %s (%s)\n", text, error);
		abort();
	}
	return ev;
}

#endif
