/*
 * event.c - parse a trigger notification into a shareable, pre-serialized event
 *
 * Everything that is the same for every receiver is done here once per
 * event: validation, the 42 Appwrite event names, the 16 channels with their
 * hashes, and the JSON frame body up to the per-connection "subscriptions".
 */
#include "event.h"
#include "buf.h"
#include "jsontext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

/*
 * Wildcard combinations in Appwrite's order (vectors.json, legacy): bit 0
 * replaces the database id by '*', bit 1 the collection id, bit 2 the
 * document id.  Each level starts with the plain name and the all-wildcard
 * name.
 */
static const uint8_t document_masks[] = {0, 7, 2, 3, 1, 4, 5, 6};
static const uint8_t collection_masks[] = {0, 3, 2, 1};
static const uint8_t database_masks[] = {0, 1};

typedef void (*NameSink) (void *arg, const char *s, size_t len);

/* Append id, or '*' when wild. */
static void
append_part(Buf *b, const char *id, bool wild)
{
	if (wild)
		buf_append_char(b, '*');
	else
		buf_append_str(b, id);
}

/*
 * Produce the 42 event names of PROTOCOL.md section 4 in order, handing each
 * to sink.  Levels: 0 document + action, 1 document, 2 collection, 3
 * database; every name of levels 0-2 is followed by its tables/rows twin.
 */
static void
expand_names(const char *db, const char *col, const char *doc, const char *action,
			 NameSink sink, void *arg)
{
	Buf			b = BUF_INIT;

	for (int level = 0; level < 4; level++)
	{
		const uint8_t *masks;
		int			nmasks;

		if (level <= 1)
		{
			masks = document_masks;
			nmasks = (int) sizeof(document_masks);
		}
		else if (level == 2)
		{
			masks = collection_masks;
			nmasks = (int) sizeof(collection_masks);
		}
		else
		{
			masks = database_masks;
			nmasks = (int) sizeof(database_masks);
		}

		for (int m = 0; m < nmasks; m++)
		{
			for (int twin = 0; twin <= (level < 3 ? 1 : 0); twin++)
			{
				buf_reset(&b);
				buf_append_str(&b, "databases.");
				append_part(&b, db, masks[m] & 1);
				if (level < 3)
				{
					buf_append_str(&b, twin ? ".tables." : ".collections.");
					append_part(&b, col, masks[m] & 2);
				}
				if (level < 2)
				{
					buf_append_str(&b, twin ? ".rows." : ".documents.");
					append_part(&b, doc, masks[m] & 4);
				}
				if (level == 0)
				{
					buf_append_char(&b, '.');
					buf_append_str(&b, action);
				}
				sink(arg, b.data, b.len);
			}
		}
	}
	buf_free(&b);
}

/* Produce the 16 channels of PROTOCOL.md section 5 in order. */
static void
expand_channels(const char *db, const char *col, const char *doc, const char *action,
				NameSink sink, void *arg)
{
	Buf			b = BUF_INIT;

	for (int with_action = 0; with_action <= 1; with_action++)
	{
		for (int i = 0; i < EVENT_CHANNEL_COUNT / 2; i++)
		{
			buf_reset(&b);
			switch (i)
			{
				case 0:
					buf_append_str(&b, "documents");
					break;
				case 1:
				case 2:
					buf_printf(&b, "databases.%s.collections.%s.documents", db, col);
					break;
				case 3:
					buf_append_str(&b, "rows");
					break;
				case 4:
				case 5:
					buf_printf(&b, "databases.%s.tables.%s.rows", db, col);
					break;
				default:
					buf_printf(&b, "tablesdb.%s.tables.%s.rows", db, col);
					break;
			}
			/* the second of each pair names the document */
			if (i == 2 || i == 5 || i == 7)
			{
				buf_append_char(&b, '.');
				buf_append_str(&b, doc);
			}
			if (with_action)
			{
				buf_append_char(&b, '.');
				buf_append_str(&b, action);
			}
			sink(arg, b.data, b.len);
		}
	}
	buf_free(&b);
}

/* FNV-1a, 32 bits: cheap and spreads the similar channel names well. */
uint32_t
event_channel_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261u;

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 16777619u;
	}
	return h;
}

/* True if the event has a channel equal to s; hash is event_channel_hash(s). */
bool
event_has_channel(const RelayEvent *ev, const char *s, size_t len, uint32_t hash)
{
	if ((ev->channel_bloom & EVENT_CHANNEL_BLOOM_BIT(hash)) == 0)
		return false;
	for (int i = 0; i < EVENT_CHANNEL_COUNT; i++)
	{
		if (ev->channel_hash[i] == hash && ev->channel_len[i] == len &&
			memcmp(ev->channels[i], s, len) == 0)
			return true;
	}
	return false;
}

/* Index the payload's top-level members by hash for query matching. */
static void
index_fields(RelayEvent *ev, struct json_object *payload)
{
	struct json_object_iterator it = json_object_iter_begin(payload);
	struct json_object_iterator end = json_object_iter_end(payload);
	uint32_t	size = 8;
	int			n = json_object_object_length(payload);

	/* at most half full, so probes stay short */
	while (size < (uint32_t) n * 2)
		size *= 2;
	ev->fields = relay_calloc(size, sizeof(EventField));
	ev->field_mask = size - 1;
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
	{
		const char *name = json_object_iter_peek_name(&it);
		uint32_t	len = (uint32_t) strlen(name);
		uint32_t	hash = event_channel_hash(name, len);
		uint32_t	i = hash & ev->field_mask;

		while (ev->fields[i].name != NULL)
			i = (i + 1) & ev->field_mask;
		ev->fields[i].hash = hash;
		ev->fields[i].len = len;
		ev->fields[i].name = name;
		ev->fields[i].value = json_object_iter_peek_value(&it);
	}
}

/* Look up a payload member by precomputed hash; see event.h. */
bool
event_field(const RelayEvent *ev, const char *name, uint32_t len, uint32_t hash,
			struct json_object **value)
{
	uint32_t	i;

	if (ev->fields == NULL)
		return false;
	for (i = hash & ev->field_mask; ev->fields[i].name != NULL; i = (i + 1) & ev->field_mask)
	{
		const EventField *f = &ev->fields[i];

		if (f->hash == hash && f->len == len && memcmp(f->name, name, len) == 0)
		{
			*value = f->value;
			return true;
		}
	}
	return false;
}

/* A Unix time in ms as 2026-05-01T10:00:00.123+00:00 (Appwrite's DateTime::formatTz). */
void
event_format_time(int64_t unix_ms, char out[32])
{
	time_t		sec = (time_t) (unix_ms / 1000);
	struct tm	tm;

	gmtime_r(&sec, &tm);
	/* the modulos bound every field, so the compiler sees it always fits */
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03u+00:00",
			 (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
			 (unsigned) tm.tm_mday % 100u, (unsigned) tm.tm_hour % 100u,
			 (unsigned) tm.tm_min % 100u, (unsigned) tm.tm_sec % 100u,
			 (unsigned) (unix_ms % 1000) % 1000u);
}

int64_t
event_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Now, formatted as event_format_time() does. */
void
event_format_now(char out[32])
{
	event_format_time(event_now_ms(), out);
}

void
event_append_suffix(const RelayEvent *ev, Buf *out)
{
	buf_append_str(out, "],\"position\":\"");
	buf_append(out, ev->pos_text, ev->pos_len);
	buf_append_str(out, "\"}}");
}

void
event_set_position(RelayEvent *ev, RelayPos pos)
{
	ev->pos = pos;
	ev->pos_len = (uint8_t) relay_pos_format(pos, ev->pos_text);
}

void
event_retain(RelayEvent *ev)
{
	ev->refcount++;
}

/* Drop one reference; the last one frees the event and everything it owns. */
void
event_release(RelayEvent *ev)
{
	if (ev == NULL || --ev->refcount > 0)
		return;
	free(ev->database_id);
	free(ev->collection_id);
	free(ev->document_id);
	free(ev->action);
	free(ev->channels[0]);
	for (int i = 0; i < ev->nroles; i++)
		free(ev->roles[i]);
	free(ev->roles);
	free(ev->fields);
	if (ev->payload)
		json_object_put(ev->payload);
	free(ev->body);
	free(ev->deflated);
	free(ev);
}

/*
 * The string member key of obj if it is a non-empty string without NUL
 * bytes, else NULL.
 */
static const char *
get_id(struct json_object *obj, const char *key)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (s[0] == '\0' || strlen(s) != (size_t) json_object_get_string_len(v))
		return NULL;
	return s;
}

typedef struct BodySink
{
	Buf		   *b;
	int			n;
} BodySink;

static void
body_sink(void *arg, const char *s, size_t len)
{
	BodySink   *bs = arg;

	if (bs->n++ > 0)
		buf_append_char(bs->b, ',');
	buf_append_json_string(bs->b, s, len);
}

typedef struct ChannelBlockSink
{
	Buf		   *b;
	size_t		offset[EVENT_CHANNEL_COUNT];
	int			n;
} ChannelBlockSink;

static void
channel_block_sink(void *arg, const char *s, size_t len)
{
	ChannelBlockSink *cs = arg;

	cs->offset[cs->n++] = cs->b->len;
	buf_append(cs->b, s, len);
	buf_append_char(cs->b, '\0');
}

/*
 * Replace each object or array member of the payload by an empty one of the
 * same type.  Queries compare top-level scalars only (an array or object
 * equals nothing, compares with nothing, and is not null), so matching is
 * unchanged, and a kept event holds its top level, not a tree that 8 kB of
 * "[[[[" can make a thousand times bigger.  Returns the members kept.
 */
static size_t
event_trim_payload(struct json_object *payload)
{
	size_t		n = 0;

	json_object_object_foreach(payload, key, value)
	{
		n++;
		if (json_object_is_type(value, json_type_object) && json_object_object_length(value) > 0)
			json_object_object_add(payload, key, json_object_new_object());
		else if (json_object_is_type(value, json_type_array) && json_object_array_length(value) > 0)
			json_object_object_add(payload, key, json_object_new_array());
	}
	return n;
}

/* Build the event from validated fields; the payload text is copied as is. */
static RelayEvent *
event_build(const char *db, const char *col, const char *doc,
			const char *action, struct json_object *read, struct json_object *payload,
			const char *payload_text, size_t payload_len, const char *timestamp)
{
	RelayEvent *ev = relay_calloc(1, sizeof(RelayEvent));
	Buf			block = BUF_INIT;
	Buf			body = BUF_INIT;
	ChannelBlockSink cs;
	BodySink	bs;
	char	   *base;
	size_t		block_len;
	size_t		kept;

	ev->refcount = 1;
	ev->database_id = relay_strdup(db);
	ev->collection_id = relay_strdup(col);
	ev->document_id = relay_strdup(doc);
	ev->action = relay_strdup(action);

	/* all 16 channels in one allocation */
	cs.b = &block;
	cs.n = 0;
	expand_channels(db, col, doc, action, channel_block_sink, &cs);
	base = buf_steal(&block, &block_len);
	for (int i = 0; i < EVENT_CHANNEL_COUNT; i++)
	{
		ev->channels[i] = base + cs.offset[i];
		ev->channel_len[i] = (uint32_t) strlen(ev->channels[i]);
		ev->channel_hash[i] = event_channel_hash(ev->channels[i], ev->channel_len[i]);
		ev->channel_bloom |= EVENT_CHANNEL_BLOOM_BIT(ev->channel_hash[i]);
	}

	ev->nroles = (int) json_object_array_length(read);
	ev->roles = relay_malloc(sizeof(char *) * (ev->nroles ? ev->nroles : 1));
	for (int i = 0; i < ev->nroles; i++)
	{
		const char *role = json_object_get_string(json_object_array_get_idx(read, i));

		ev->roles[i] = relay_strdup(role);
		if (strcmp(role, "any") == 0)
			ev->read_any = true;
		else if (strcmp(role, "guests") == 0)
			ev->read_guests = true;
	}
	ev->payload = json_object_get(payload);
	kept = event_trim_payload(payload);
	index_fields(ev, payload);

	buf_reserve(&body, payload_len + 4096);
	buf_append_str(&body, "{\"type\":\"event\",\"data\":{\"events\":[");
	bs.b = &body;
	bs.n = 0;
	expand_names(db, col, doc, action, body_sink, &bs);
	buf_append_str(&body, "],\"channels\":[");
	bs.n = 0;
	for (int i = 0; i < EVENT_CHANNEL_COUNT; i++)
		body_sink(&bs, ev->channels[i], ev->channel_len[i]);
	buf_append_str(&body, "],\"timestamp\":");
	buf_append_json_string(&body, timestamp, strlen(timestamp));
	buf_append_str(&body, ",\"payload\":");
	{
		size_t		start = body.len;

		buf_append(&body, payload_text, payload_len);

		/*
		 * A json column is embedded as written and may hold line breaks.  In
		 * strict JSON they can only be whitespace, so they become spaces:
		 * the body must be one line to be one SSE "data:" field.
		 */
		for (char *p = memchr(body.data + start, '\n', payload_len); p;
			 p = memchr(p, '\n', body.data + body.len - p))
			*p = ' ';
		for (char *p = memchr(body.data + start, '\r', payload_len); p;
			 p = memchr(p, '\r', body.data + body.len - p))
			*p = ' ';
	}
	buf_append_str(&body, ",\"subscriptions\":[");
	ev->body = buf_steal(&body, &ev->body_len);

	/* what keeping the event costs, roughly: its bytes and its small parts */
	ev->cost = sizeof(RelayEvent) + ev->body_len + block_len +
		(size_t) (ev->field_mask + 1) * sizeof(EventField) +
		(kept + (size_t) ev->nroles) * EVENT_VALUE_COST;
	for (int i = 0; i < ev->nroles; i++)
		ev->cost += strlen(ev->roles[i]);
	return ev;
}

/* event_parse_bounded() with the default depth and no limit on values. */
EventNotifyKind
event_parse_notify(const char *text, size_t len, const char *timestamp, RelayEvent **event,
				   int64_t *large_id, const char **error)
{
	static const EventLimits no_limits = {EVENT_DEFAULT_MAX_DEPTH, UINT64_MAX};

	return event_parse_bounded(text, len, timestamp, &no_limits, event, large_id, error);
}

/*
 * Parse a notification from the trigger (README "Event format"): either an
 * inline event or a pointer to a large one.  Field order does not matter;
 * "changed" and "seq" are not used.  The text is checked against the limits
 * before any tree is built.
 */
EventNotifyKind
event_parse_bounded(const char *text, size_t len, const char *timestamp, const EventLimits *limits,
					RelayEvent **event, int64_t *large_id, const char **error)
{
	struct json_object *root;
	struct json_object *v;
	struct json_object *read;
	struct json_object *payload;
	const char *action;
	const char *db;
	const char *col;
	const char *doc;
	size_t		payload_start;
	size_t		payload_len;
	char		now[32];
	JsonTextError jerr;

	*event = NULL;
	*error = NULL;
	root = jsontext_parse_bounded(text, len, limits->max_depth, limits->max_values, NULL, &jerr);
	if (root == NULL && jerr == JSONTEXT_TOO_DEEP)
	{
		*error = "notification is nested deeper than pg_realtime.max_event_depth";
		goto invalid;
	}
	if (root == NULL && jerr == JSONTEXT_TOO_MANY_VALUES)
	{
		*error = "notification has more values than pg_realtime.max_event_values";
		goto invalid;
	}
	if (root == NULL || !json_object_is_type(root, json_type_object))
	{
		*error = "notification is not a JSON object";
		goto invalid;
	}
	if (!json_object_object_get_ex(root, "v", &v) || !json_object_is_type(v, json_type_int))
	{
		*error = "notification has no integer \"v\"";
		goto invalid;
	}
	if (json_object_get_int64(v) != 1)
	{
		*error = "unsupported notification version \"v\"";
		goto invalid;
	}

	/*
	 * A pointer to a large event needs nothing but "large": the trigger
	 * leaves the ids out when even the pointer would not fit (very long
	 * document ids), and the fetched event carries them anyway.
	 */
	if (json_object_object_get_ex(root, "large", &v))
	{
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0)
		{
			*error = "notification \"large\" is not a positive integer";
			goto invalid;
		}
		*large_id = json_object_get_int64(v);
		json_object_put(root);
		return EVENT_NOTIFY_LARGE;
	}

	if (!json_object_object_get_ex(root, "event", &v) || !json_object_is_type(v, json_type_string))
	{
		*error = "notification has no string \"event\"";
		goto invalid;
	}
	action = get_id(root, "action");
	if (action == NULL ||
		(strcmp(action, "create") != 0 && strcmp(action, "update") != 0 &&
		 strcmp(action, "delete") != 0))
	{
		*error = "notification \"action\" is not create, update or delete";
		goto invalid;
	}
	if ((db = get_id(root, "databaseId")) == NULL)
	{
		*error = "notification \"databaseId\" is not a non-empty string";
		goto invalid;
	}
	if ((col = get_id(root, "collectionId")) == NULL)
	{
		*error = "notification \"collectionId\" is not a non-empty string";
		goto invalid;
	}
	if ((doc = get_id(root, "documentId")) == NULL)
	{
		*error = "notification \"documentId\" is not a non-empty string";
		goto invalid;
	}

	if (!json_object_object_get_ex(root, "read", &read) ||
		!json_object_is_type(read, json_type_array))
	{
		*error = "notification \"read\" is not an array";
		goto invalid;
	}
	for (size_t i = 0; i < json_object_array_length(read); i++)
	{
		struct json_object *r = json_object_array_get_idx(read, i);

		if (!json_object_is_type(r, json_type_string) ||
			strlen(json_object_get_string(r)) != (size_t) json_object_get_string_len(r))
		{
			*error = "notification \"read\" has a role that is not a string";
			goto invalid;
		}
	}
	if (json_object_object_get_ex(root, "changed", &v) &&
		!json_object_is_type(v, json_type_array))
	{
		*error = "notification \"changed\" is not an array";
		goto invalid;
	}
	if (!json_object_object_get_ex(root, "payload", &payload) ||
		!json_object_is_type(payload, json_type_object))
	{
		*error = "notification \"payload\" is not an object";
		goto invalid;
	}
	if (!jsontext_find_member(text, len, "payload", &payload_start, &payload_len))
	{
		/* json-c found it under an escaped key spelling; we copy raw bytes */
		*error = "notification \"payload\" key is escaped";
		goto invalid;
	}

	if (timestamp == NULL)
	{
		event_format_now(now);
		timestamp = now;
	}
	*event = event_build(db, col, doc, action, read, payload,
						 text + payload_start, payload_len, timestamp);
	json_object_put(root);
	return EVENT_NOTIFY_INLINE;

invalid:
	if (root)
		json_object_put(root);
	return EVENT_NOTIFY_INVALID;
}
