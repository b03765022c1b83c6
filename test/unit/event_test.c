/*
 * event_test.c - trigger notifications become Appwrite events (event.c)
 *
 * The expected event names and channels come from Appwrite's vectors in
 * test/vectors/appwrite-events.json: the path is argv[1], else $VECTORS_JSON,
 * else that file (the tests run from the repository root).
 */
#include "unit.h"
#include "buf.h"
#include "event.h"

#include <stdlib.h>
#include <string.h>

#include <json.h>

#define DEFAULT_VECTORS "test/vectors/appwrite-events.json"

/*
 * The event keeps the payload's top level for queries: every member, the
 * scalars as they are, objects and arrays empty (they match no query).
 */
static bool
payload_kept_top_level(struct json_object *full, struct json_object *kept)
{
	bool		ok = json_object_object_length(full) == json_object_object_length(kept);

	json_object_object_foreach(full, key, value)
	{
		struct json_object *k;

		if (!json_object_object_get_ex(kept, key, &k) ||
			json_object_get_type(k) != json_object_get_type(value))
			return false;
		if (json_object_is_type(value, json_type_object))
		{
			if (json_object_object_length(k) != 0)
				return false;
		}
		else if (json_object_is_type(value, json_type_array))
		{
			if (json_object_array_length(k) != 0)
				return false;
		}
		else if (!json_object_equal(k, value))
			return false;
	}
	return ok;
}

static RelayEvent *
parse_ok(const char *text)
{
	RelayEvent *ev = NULL;
	int64_t		large = -1;
	const char *error = NULL;
	EventNotifyKind kind;

	kind = event_parse_notify(text, strlen(text), "2026-05-01T10:00:00.123+00:00",
							  &ev, &large, &error);
	CHECK(kind == EVENT_NOTIFY_INLINE);
	if (kind != EVENT_NOTIFY_INLINE)
		fprintf(stderr, "  parse failed: %s\n  input: %s\n", error ? error : "?", text);
	return ev;
}

/* Expect text to be rejected with an error mentioning fragment. */
static void
check_invalid(const char *text, const char *fragment)
{
	RelayEvent *ev = NULL;
	int64_t		large = -1;
	const char *error = NULL;
	EventNotifyKind kind;

	kind = event_parse_notify(text, strlen(text), NULL, &ev, &large, &error);
	CHECK(kind == EVENT_NOTIFY_INVALID);
	CHECK(ev == NULL);
	CHECK(error != NULL && strstr(error, fragment) != NULL);
	if (kind != EVENT_NOTIFY_INVALID || error == NULL || strstr(error, fragment) == NULL)
		fprintf(stderr, "  input: %s\n  error: %s (wanted \"%s\")\n", text,
				error ? error : "(none)", fragment);
	if (ev)
		event_release(ev);
}

/* The whole frame (body + "]}}") parsed back, to look at it as a client would. */
static struct json_object *
frame_of(const RelayEvent *ev)
{
	Buf			b = BUF_INIT;
	struct json_object *frame;

	buf_append(&b, ev->body, ev->body_len);
	buf_append_str(&b, "\"s0\"");
	event_append_suffix(ev, &b);
	frame = json_tokener_parse(b.data);
	buf_free(&b);
	return frame;
}

/* Compare a JSON array of strings with the expected one, element by element. */
static void
check_string_array(struct json_object *got, struct json_object *want, const char *what)
{
	size_t		n = json_object_array_length(want);

	CHECK(got != NULL && json_object_is_type(got, json_type_array));
	if (got == NULL || !json_object_is_type(got, json_type_array))
		return;
	CHECK(json_object_array_length(got) == n);
	for (size_t i = 0; i < n && i < json_object_array_length(got); i++)
	{
		const char *g = json_object_get_string(json_object_array_get_idx(got, i));
		const char *w = json_object_get_string(json_object_array_get_idx(want, i));

		CHECK_STR(g, w);
		if (strcmp(g, w) != 0)
			fprintf(stderr, "  %s[%zu]\n", what, i);
	}
}

/* Every legacy vector: names and channels exactly, in order. */
static void
test_vectors(const char *path)
{
	struct json_object *vectors = json_object_from_file(path);
	int			nlegacy = 0;

	CHECK(vectors != NULL && json_object_is_type(vectors, json_type_array));
	if (vectors == NULL)
	{
		fprintf(stderr, "  cannot read %s (pass the path as argv[1] or $VECTORS_JSON)\n", path);
		return;
	}

	for (size_t i = 0; i < json_object_array_length(vectors); i++)
	{
		struct json_object *vec = json_object_array_get_idx(vectors, i);
		struct json_object *f;
		const char *db,
				   *col,
				   *doc,
				   *action;
		struct json_object *want_events,
				   *want_channels;
		struct json_object *got;
		char		text[1024];
		RelayEvent *ev;
		struct json_object *frame;
		struct json_object *data;

		json_object_object_get_ex(vec, "databaseType", &f);
		if (strcmp(json_object_get_string(f), "legacy") != 0)
			continue;
		nlegacy++;
		json_object_object_get_ex(vec, "databaseId", &f);
		db = json_object_get_string(f);
		json_object_object_get_ex(vec, "collectionId", &f);
		col = json_object_get_string(f);
		json_object_object_get_ex(vec, "documentId", &f);
		doc = json_object_get_string(f);
		json_object_object_get_ex(vec, "action", &f);
		action = json_object_get_string(f);
		json_object_object_get_ex(vec, "events", &want_events);
		json_object_object_get_ex(vec, "channels", &want_channels);

		/* the lists inside a parsed event's frame, and its channel table */
		snprintf(text, sizeof(text),
				 "{\"v\":1,\"event\":\"databases.%s.collections.%s.documents.%s.%s\","
				 "\"action\":\"%s\",\"databaseId\":\"%s\",\"collectionId\":\"%s\","
				 "\"documentId\":\"%s\",\"read\":[\"any\"],"
				 "\"payload\":{\"$id\":\"%s\"},\"seq\":1}",
				 db, col, doc, action, action, db, col, doc, doc);
		ev = parse_ok(text);
		if (ev == NULL)
			continue;
		for (int k = 0; k < EVENT_CHANNEL_COUNT; k++)
			CHECK_STR(ev->channels[k],
					  json_object_get_string(json_object_array_get_idx(want_channels, k)));
		frame = frame_of(ev);
		CHECK(frame != NULL);
		if (frame && json_object_object_get_ex(frame, "data", &data))
		{
			json_object_object_get_ex(data, "events", &got);
			check_string_array(got, want_events, "frame events");
			json_object_object_get_ex(data, "channels", &got);
			check_string_array(got, want_channels, "frame channels");
		}
		json_object_put(frame);
		event_release(ev);
	}
	CHECK(nlegacy >= 6);
	json_object_put(vectors);
}

/* A full inline notification: fields, roles, frame layout, verbatim payload. */
static void
test_inline(void)
{
	const char *text =
		"{\"v\":1,\"event\":\"databases.shop.collections.orders.documents.42.update\","
		"\"action\":\"update\",\"databaseId\":\"shop\",\"collectionId\":\"orders\","
		"\"documentId\":\"42\",\"read\":[\"any\",\"user:u1\"],\"changed\":[\"status\"],"
		"\"payload\":{\"$id\":\"42\", \"price\" : 1.50,\"note\":\"caf\\u00e9 \\\"x\\\"\","
		"\"$updatedAt\":null,\"$permissions\":[],\"tags\":[1,{\"a\":[]}]},\"seq\":7}";
	const char *payload_text =
		"{\"$id\":\"42\", \"price\" : 1.50,\"note\":\"caf\\u00e9 \\\"x\\\"\","
		"\"$updatedAt\":null,\"$permissions\":[],\"tags\":[1,{\"a\":[]}]}";
	RelayEvent *ev = parse_ok(text);
	struct json_object *frame;
	struct json_object *data;
	struct json_object *f;
	const char *prefix = "{\"type\":\"event\",\"data\":{\"events\":[\"databases.shop.collections.orders.documents.42.update\",";
	const char *tail;

	if (ev == NULL)
		return;
	CHECK(ev->refcount == 1);
	CHECK(ev->pos.kind == RELAY_POS_NONE);
	CHECK_STR(ev->database_id, "shop");
	CHECK_STR(ev->collection_id, "orders");
	CHECK_STR(ev->document_id, "42");
	CHECK_STR(ev->action, "update");
	CHECK(ev->nroles == 2);
	CHECK_STR(ev->roles[0], "any");
	CHECK_STR(ev->roles[1], "user:u1");
	CHECK(ev->read_any);
	CHECK(!ev->read_guests);
	CHECK(ev->payload != NULL && json_object_is_type(ev->payload, json_type_object));

	/* the body starts with the type and the first name ... */
	CHECK(strncmp(ev->body, prefix, strlen(prefix)) == 0);
	CHECK(ev->body_len == strlen(ev->body));
	/* ... and ends with the payload copied byte for byte, then the open list */
	tail = strstr(ev->body, ",\"payload\":");
	CHECK(tail != NULL);
	if (tail)
	{
		CHECK(strncmp(tail + strlen(",\"payload\":"), payload_text, strlen(payload_text)) == 0);
		CHECK_STR(tail + strlen(",\"payload\":") + strlen(payload_text), ",\"subscriptions\":[");
	}
	CHECK(strstr(ev->body, "\"timestamp\":\"2026-05-01T10:00:00.123+00:00\",\"payload\"") != NULL);

	frame = frame_of(ev);
	CHECK(frame != NULL);
	if (frame)
	{
		CHECK(json_object_object_get_ex(frame, "type", &f));
		CHECK_STR(json_object_get_string(f), "event");
		CHECK(json_object_object_get_ex(frame, "data", &data));
		CHECK(json_object_object_get_ex(data, "events", &f) && json_object_array_length(f) == 42);
		CHECK(json_object_object_get_ex(data, "channels", &f) && json_object_array_length(f) == 16);
		CHECK(json_object_object_get_ex(data, "payload", &f) && payload_kept_top_level(f, ev->payload));
		CHECK(json_object_object_get_ex(data, "subscriptions", &f) &&
			  json_object_array_length(f) == 1);
	}
	json_object_put(frame);

	/* channel lookup by hash, then by string */
	CHECK(event_has_channel(ev, "documents", 9, event_channel_hash("documents", 9)));
	CHECK(event_has_channel(ev, "tablesdb.shop.tables.orders.rows.42.update", 42,
							event_channel_hash("tablesdb.shop.tables.orders.rows.42.update", 42)));
	CHECK(!event_has_channel(ev, "files", 5, event_channel_hash("files", 5)));
	CHECK(!event_has_channel(ev, "documents.create", 16, event_channel_hash("documents.create", 16)));

	/* payload members by precomputed hash, as queries look them up */
	{
		struct json_object *v = (struct json_object *) 1;

		CHECK(event_field(ev, "price", 5, event_channel_hash("price", 5), &v) &&
			  json_object_get_double(v) == 1.5);
		CHECK(event_field(ev, "$updatedAt", 10, event_channel_hash("$updatedAt", 10), &v) &&
			  v == NULL);
		CHECK(!event_field(ev, "pric", 4, event_channel_hash("pric", 4), &v));
		CHECK(!event_field(ev, "status", 6, event_channel_hash("status", 6), &v));
	}

	/* shared by several output queues */
	event_retain(ev);
	CHECK(ev->refcount == 2);
	event_release(ev);
	CHECK(ev->refcount == 1);
	event_release(ev);
}

/* Key order is free; ids with JSON specials are escaped in names and channels. */
static void
test_order_and_escaping(void)
{
	const char *text =
		"{\"payload\":{\"$id\":\"a\\\"b\"},\"read\":[\"guests\"],\"documentId\":\"a\\\"b\","
		"\"collectionId\":\"c\",\"databaseId\":\"d\",\"action\":\"delete\",\"event\":\"x\",\"v\":1}";
	RelayEvent *ev = parse_ok(text);
	struct json_object *frame;

	if (ev == NULL)
		return;
	CHECK_STR(ev->document_id, "a\"b");
	CHECK_STR(ev->channels[2], "databases.d.collections.c.documents.a\"b");
	CHECK_STR(ev->channels[15], "tablesdb.d.tables.c.rows.a\"b.delete");
	CHECK(ev->read_guests && !ev->read_any);
	CHECK(strstr(ev->body, "\"databases.d.collections.c.documents.a\\\"b.delete\"") != NULL);
	frame = frame_of(ev);
	CHECK(frame != NULL);
	json_object_put(frame);
	event_release(ev);
}

/* Empty read roles: a valid event that reaches nobody. */
static void
test_no_roles(void)
{
	RelayEvent *ev = parse_ok(
		"{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\",\"collectionId\":\"c\","
		"\"documentId\":\"x\",\"read\":[],\"payload\":{}}");

	if (ev == NULL)
		return;
	CHECK(ev->nroles == 0 && !ev->read_any && !ev->read_guests);
	CHECK(strstr(ev->body, ",\"payload\":{},\"subscriptions\":[") != NULL);
	event_release(ev);
}

/* A pointer to a large event: only its id comes back. */
static void
test_large(void)
{
	const char *text =
		"{\"v\":1,\"event\":\"databases.D.collections.C.documents.X.update\",\"action\":\"update\","
		"\"databaseId\":\"D\",\"collectionId\":\"C\",\"documentId\":\"X\",\"large\":123,"
		"\"bytes\":1048700,\"seq\":8}";
	RelayEvent *ev = NULL;
	int64_t		large = -1;
	const char *error = NULL;

	CHECK(event_parse_notify(text, strlen(text), NULL, &ev, &large, &error) == EVENT_NOTIFY_LARGE);
	CHECK(large == 123);
	CHECK(ev == NULL);

	/* the bare pointer the trigger sends when even the ids would not fit */
	text = "{\"v\":1,\"large\":77,\"bytes\":9000000,\"seq\":3}";
	large = -1;
	CHECK(event_parse_notify(text, strlen(text), NULL, &ev, &large, &error) == EVENT_NOTIFY_LARGE);
	CHECK(large == 77);
	CHECK(ev == NULL);

	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"update\",\"databaseId\":\"D\","
				  "\"collectionId\":\"C\",\"documentId\":\"X\",\"large\":\"123\"}", "large");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"update\",\"databaseId\":\"D\","
				  "\"collectionId\":\"C\",\"documentId\":\"X\",\"large\":0}", "large");
}

/* The length argument bounds the text: no NUL terminator needed. */
static void
test_length_bounded(void)
{
	const char *text =
		"{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\",\"collectionId\":\"c\","
		"\"documentId\":\"x\",\"read\":[\"any\"],\"payload\":{\"n\":5}}GARBAGE";
	RelayEvent *ev = NULL;
	int64_t		large;
	const char *error = NULL;

	CHECK(event_parse_notify(text, strlen(text) - 7, NULL, &ev, &large, &error) ==
		  EVENT_NOTIFY_INLINE);
	if (ev)
	{
		/* no timestamp given: now, in Appwrite's format */
		const char *ts = strstr(ev->body, "\"timestamp\":\"");

		CHECK(ts != NULL && ts[13 + 29] == '"' && ts[13 + 10] == 'T' &&
			  strncmp(ts + 13 + 23, "+00:00", 6) == 0);
		event_release(ev);
	}
	CHECK(event_parse_notify(text, strlen(text), NULL, &ev, &large, &error) ==
		  EVENT_NOTIFY_INVALID);
}

/* Everything that is not a well-formed notification is refused with a reason. */
static void
test_invalid(void)
{
#define BASE_IDS "\"databaseId\":\"d\",\"collectionId\":\"c\",\"documentId\":\"x\""
	check_invalid("", "JSON object");
	check_invalid("not json", "JSON object");
	check_invalid("[1,2]", "JSON object");
	check_invalid("{\"v\":1,", "JSON object");
	check_invalid("{'v':1}", "JSON object");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"payload\":{}} x", "JSON object");
	check_invalid("{\"event\":\"e\",\"action\":\"create\"," BASE_IDS ",\"read\":[],\"payload\":{}}",
				  "\"v\"");
	check_invalid("{\"v\":\"1\",\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"payload\":{}}", "\"v\"");
	check_invalid("{\"v\":2,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"payload\":{}}", "version");
	check_invalid("{\"v\":1,\"action\":\"create\"," BASE_IDS ",\"read\":[],\"payload\":{}}",
				  "\"event\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"upsert\"," BASE_IDS
				  ",\"read\":[],\"payload\":{}}", "\"action\"");
	check_invalid("{\"v\":1,\"event\":\"e\"," BASE_IDS ",\"read\":[],\"payload\":{}}", "\"action\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"\","
				  "\"collectionId\":\"c\",\"documentId\":\"x\",\"read\":[],\"payload\":{}}",
				  "\"databaseId\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\","
				  "\"collectionId\":7,\"documentId\":\"x\",\"read\":[],\"payload\":{}}",
				  "\"collectionId\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\","
				  "\"collectionId\":\"c\",\"read\":[],\"payload\":{}}", "\"documentId\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\","
				  "\"collectionId\":\"c\",\"documentId\":\"a\\u0000b\",\"read\":[],\"payload\":{}}",
				  "\"documentId\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS ",\"payload\":{}}",
				  "\"read\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":\"any\",\"payload\":{}}", "\"read\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[\"any\",1],\"payload\":{}}", "\"read\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"changed\":\"a\",\"payload\":{}}", "\"changed\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS ",\"read\":[]}",
				  "\"payload\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"payload\":[1]}", "\"payload\"");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"payload\":{\"a\":NaN}}", "JSON object");
	check_invalid("{\"v\":1,\"event\":\"e\",\"action\":\"create\"," BASE_IDS
				  ",\"read\":[],\"payload\":{\"a\":\"\xff\"}}", "JSON object");
#undef BASE_IDS
}

/* jsonb rows nest deeper than json-c's default limit of 32 */
static void
test_deep_payload(void)
{
	Buf			text = BUF_INIT;
	RelayEvent *ev;

	buf_append_str(&text, "{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\","
				   "\"collectionId\":\"c\",\"documentId\":\"x\",\"read\":[\"any\"],\"payload\":{\"j\":");
	for (int i = 0; i < 100; i++)
		buf_append_char(&text, '[');
	for (int i = 0; i < 100; i++)
		buf_append_char(&text, ']');
	buf_append_str(&text, "}}");
	ev = parse_ok(text.data);
	if (ev)
		event_release(ev);
	buf_free(&text);
}

/*
 * The limits refuse text before a tree is built, and what is kept of an
 * event costs about its bytes whatever the shape of its payload.
 */
static void
test_bounded(void)
{
	const char *head = "{\"v\":1,\"event\":\"e\",\"action\":\"create\",\"databaseId\":\"d\","
		"\"collectionId\":\"c\",\"documentId\":\"x\",\"read\":[\"any\"],\"payload\":{\"n\":1,\"j\":";
	EventLimits limits = {8, 1000};
	Buf			text = BUF_INIT;
	RelayEvent *ev = NULL;
	int64_t		large;
	const char *error = NULL;
	struct json_object *v;

	/* nesting: the root is at depth 0, the payload 1, "j" 2; 7 arrays reach 8 */
	buf_append_str(&text, head);
	buf_append_str(&text, "[[[[[[[]]]]]]]}}");
	CHECK(event_parse_bounded(text.data, text.len, NULL, &limits, &ev, &large, &error) == EVENT_NOTIFY_INLINE);
	event_release(ev);
	buf_reset(&text);
	buf_append_str(&text, head);
	buf_append_str(&text, "[[[[[[[[]]]]]]]]}}");
	CHECK(event_parse_bounded(text.data, text.len, NULL, &limits, &ev, &large, &error) == EVENT_NOTIFY_INVALID);
	CHECK(ev == NULL && error != NULL && strstr(error, "max_event_depth") != NULL);

	/* values: 1,000 in all */
	buf_reset(&text);
	buf_append_str(&text, head);
	buf_append_char(&text, '[');
	for (int i = 0; i < 1000; i++)
		buf_append_str(&text, i ? ",0" : "0");
	buf_append_str(&text, "]}}");
	CHECK(event_parse_bounded(text.data, text.len, NULL, &limits, &ev, &large, &error) == EVENT_NOTIFY_INVALID);
	CHECK(ev == NULL && error != NULL && strstr(error, "max_event_values") != NULL);

	/*
	 * kept: top-level members, nested ones empty; the cost is about the
	 * bytes, though the text is 4,000 arrays that json-c would build
	 */
	limits.max_depth = 256;
	limits.max_values = 100000;
	buf_reset(&text);
	buf_append_str(&text, head);
	buf_append_char(&text, '[');
	for (int i = 0; i < 2000; i++)
		buf_append_str(&text, i ? ",[]" : "[]");
	buf_append_str(&text, "],\"o\":{\"a\":{\"b\":1}},\"s\":\"str\"}}");
	CHECK(event_parse_bounded(text.data, text.len, NULL, &limits, &ev, &large, &error) == EVENT_NOTIFY_INLINE);
	if (ev)
	{
		CHECK(json_object_object_get_ex(ev->payload, "j", &v) && json_object_is_type(v, json_type_array) &&
			  json_object_array_length(v) == 0);
		CHECK(json_object_object_get_ex(ev->payload, "o", &v) && json_object_is_type(v, json_type_object) &&
			  json_object_object_length(v) == 0);
		CHECK(json_object_object_get_ex(ev->payload, "n", &v) && json_object_get_int(v) == 1);
		CHECK(json_object_object_get_ex(ev->payload, "s", &v) && strcmp(json_object_get_string(v), "str") == 0);
		CHECK(strstr(ev->body, "[[],[],[]") != NULL);	/* delivered whole */
		CHECK(ev->cost > ev->body_len && ev->cost < ev->body_len + 8192);
		event_release(ev);
	}
	buf_free(&text);
}

static void
test_format_now(void)
{
	char		now[32];

	event_format_now(now);
	CHECK(strlen(now) == 29);
	CHECK(now[4] == '-' && now[10] == 'T' && now[19] == '.' && strcmp(now + 23, "+00:00") == 0);
}

/* A json column written with line breaks still makes a one-line body (SSE). */
static void
test_line_breaks(void)
{
	RelayEvent *ev = parse_ok("{\"v\":1,\"event\":\"databases.D.collections.C.documents.X.create\","
							  "\"action\":\"create\",\"databaseId\":\"D\",\"collectionId\":\"C\","
							  "\"documentId\":\"X\",\"read\":[\"any\"],\"payload\":{\"$id\":\"X\","
							  "\"doc\":{\r\n  \"a\": \"x\\ny\"\n}}}");
	struct json_object *frame;
	struct json_object *data;
	struct json_object *payload;
	struct json_object *doc;
	struct json_object *a;

	if (ev == NULL)
		return;
	CHECK(memchr(ev->body, '\n', ev->body_len) == NULL);
	CHECK(memchr(ev->body, '\r', ev->body_len) == NULL);
	frame = frame_of(ev);
	CHECK(frame != NULL);
	if (frame && json_object_object_get_ex(frame, "data", &data) &&
		json_object_object_get_ex(data, "payload", &payload) &&
		json_object_object_get_ex(payload, "doc", &doc) &&
		json_object_object_get_ex(doc, "a", &a))
		CHECK_STR(json_object_get_string(a), "x\ny");	/* escaped newline kept */
	else
		CHECK(!"payload.doc.a missing");
	json_object_put(frame);
	event_release(ev);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : getenv("VECTORS_JSON");

	test_vectors(path ? path : DEFAULT_VECTORS);
	test_inline();
	test_order_and_escaping();
	test_no_roles();
	test_large();
	test_length_bounded();
	test_invalid();
	test_deep_payload();
	test_bounded();
	test_format_now();
	test_line_breaks();
	return unit_summary("event");
}
