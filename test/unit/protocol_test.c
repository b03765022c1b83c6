/*
 * protocol_test.c - one connection's Appwrite realtime protocol (protocol.c)
 *
 * Each case feeds a URL or messages to a session and looks at the exact
 * messages it sends back, then at which events reach which subscriptions.
 */
#include "unit.h"
#include "unit_event.h"
#include "auth.h"
#include "buf.h"
#include "event.h"
#include "protocol.h"
#include "utf8.h"
#include "query.h"
#include "subscription.h"

#include <stdlib.h>
#include <string.h>

#include <json.h>

/* ---- a fake connection that records what the session sends ---- */

#define MAX_SENT 16

typedef struct Sent
{
	int			n;
	char	   *msg[MAX_SENT];
} Sent;

static void
record(void *arg, const char *json, size_t len)
{
	Sent	   *sent = arg;

	if (sent->n < MAX_SENT)
		sent->msg[sent->n++] = strndup(json, len);
}

static void
sent_reset(Sent *sent)
{
	for (int i = 0; i < sent->n; i++)
		free(sent->msg[i]);
	sent->n = 0;
}

/* The only message sent since the last reset, or "" if not exactly one. */
static const char *
only(Sent *sent)
{
	if (sent->n != 1)
	{
		fprintf(stderr, "  expected 1 message, got %d\n", sent->n);
		for (int i = 0; i < sent->n; i++)
			fprintf(stderr, "    %s\n", sent->msg[i]);
		return "";
	}
	return sent->msg[0];
}

static ProtoLimits limits = {0};

static HttpSlice
slice(const char *s)
{
	HttpSlice	h = {s, strlen(s)};

	return h;
}

/* Send one message text and return the single answer. */
static const char *
ask(ProtoSession *s, Sent *sent, const char *text)
{
	sent_reset(sent);
	CHECK(proto_handle_message(s, text, strlen(text), record, sent) == PROTO_OK);
	return only(sent);
}

/* Send text and expect an error with this code whose message contains fragment. */
static void
expect_error(ProtoSession *s, Sent *sent, const char *text, int code, const char *fragment)
{
	const char *got = ask(s, sent, text);
	char		prefix[64];
	bool		ok;

	snprintf(prefix, sizeof(prefix), "{\"type\":\"error\",\"data\":{\"code\":%d,\"message\":\"", code);
	ok = strncmp(got, prefix, strlen(prefix)) == 0 && strstr(got, fragment) != NULL;
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "  sent: %s\n  got:  %s\n  want: code %d, \"%s\"\n", text, got, code,
				fragment);
}

/* ---- events ---- */

#define make_event unit_make_event

/* The ids proto_match_event() appends, as a string ("" when none). */
static char *
matches(const ProtoSession *s, const RelayEvent *ev)
{
	Buf			out = BUF_INIT;
	int			n = proto_match_event(s, ev, &out);
	char	   *r = buf_steal(&out, NULL);

	CHECK((n == 0) == (r[0] == '\0'));
	return r;
}

static void
check_matches(const ProtoSession *s, const RelayEvent *ev, const char *want)
{
	char	   *got = matches(s, ev);

	CHECK_STR(got, want);
	free(got);
}

/* ---- URL handling and "connected" ---- */

/* Message mode (SDK v25+): only the project in the URL. */
static void
test_open_message_mode(void)
{
	ProtoSession s;
	Sent		sent = {0};

	CHECK(sizeof(ProtoSession) <= 64);
	proto_session_init(&s, &limits);
	CHECK(s.identity == NULL);	/* a guest */
	CHECK(proto_open(&s, slice("project=demo"), NULL, record, &sent) == PROTO_OK);
	CHECK_STR(only(&sent),
			  "{\"type\":\"connected\",\"data\":{\"channels\":[],\"subscriptions\":[],\"user\":null}}");
	CHECK(s.nsubs == 0 && s.subs == NULL);
	sent_reset(&sent);

	/* no query string at all */
	{
		HttpSlice	none = {NULL, 0};

		CHECK(proto_open(&s, none, NULL, record, &sent) == PROTO_OK);
		CHECK(strncmp(only(&sent), "{\"type\":\"connected\"", 19) == 0);
	}
	sent_reset(&sent);
	proto_session_free(&s);
}

/* Every channel spelling, percent-encoded values, duplicates dropped: one slot 0. */
static void
test_open_url_channels(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *ev;

	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice("project=demo&channels[]=documents&channels%5B%5D=rows"
							   "&channels[0]=files&channels%5B1%5D=databases%2Eshop.collections.orders.documents"
							   "&channels[]=documents&channels[]=a%20b+c"), NULL, record, &sent) == PROTO_OK);
	CHECK_STR(only(&sent),
			  "{\"type\":\"connected\",\"data\":{\"channels\":[\"documents\",\"rows\",\"files\","
			  "\"databases.shop.collections.orders.documents\",\"a b c\"],"
			  "\"subscriptions\":[\"s0\"],\"user\":null}}");
	CHECK(s.nsubs == 1);

	ev = make_event("create", "[\"any\"]", "{\"$id\":\"42\"}");
	check_matches(&s, ev, "\"s0\"");
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* Append s percent-encoded like encodeURIComponent. */
static void
url_encode(Buf *b, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			strchr("-_.!~*'()", c))
			buf_append_char(b, (char) c);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* SDK v23/24: channels[] plus <channel>[<slot>][]=<query>, slots from 1. */
static void
test_open_url_slot_queries(void)
{
	ProtoSession s;
	Sent		sent = {0};
	Buf			url = BUF_INIT;
	const char *select_all = "{\"method\":\"select\",\"values\":[\"*\"]}";
	const char *paid = "{\"method\":\"equal\",\"attribute\":\"status\",\"values\":[\"paid\"]}";
	RelayEvent *ev;

	/* slot 1: documents, everything; slot 2: documents + rows where status is paid */
	buf_append_str(&url, "project=demo&channels[]=documents&channels[]=rows&documents[1][]=");
	url_encode(&url, select_all);
	buf_append_str(&url, "&documents[2][]=");
	url_encode(&url, paid);
	buf_append_str(&url, "&rows[2][]=");
	url_encode(&url, paid);

	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice(url.data), NULL, record, &sent) == PROTO_OK);
	CHECK_STR(only(&sent),
			  "{\"type\":\"connected\",\"data\":{\"channels\":[\"documents\",\"rows\"],"
			  "\"subscriptions\":{\"1\":\"s0\",\"2\":\"s1\"},\"user\":null}}");
	CHECK(s.nsubs == 2);

	ev = make_event("update", "[\"any\"]", "{\"status\":\"paid\"}");
	check_matches(&s, ev, "\"s0\",\"s1\"");
	event_release(ev);
	ev = make_event("update", "[\"any\"]", "{\"status\":\"open\"}");
	check_matches(&s, ev, "\"s0\"");
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);

	/* slot 0 with a query, plus a channel without: both in slot 0, the query wins */
	buf_reset(&url);
	buf_append_str(&url, "project=demo&channels[]=documents&channels[]=files&documents%5B0%5D%5B%5D=");
	url_encode(&url, paid);
	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice(url.data), NULL, record, &sent) == PROTO_OK);
	CHECK_STR(only(&sent),
			  "{\"type\":\"connected\",\"data\":{\"channels\":[\"documents\",\"files\"],"
			  "\"subscriptions\":[\"s0\"],\"user\":null}}");
	ev = make_event("update", "[\"any\"]", "{\"status\":\"open\"}");
	check_matches(&s, ev, "");
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);

	/* an invalid URL query refuses the connection with 1008 */
	buf_reset(&url);
	buf_append_str(&url, "project=demo&channels[]=documents&documents[1][]=");
	url_encode(&url, "{\"method\":\"search\",\"attribute\":\"a\",\"values\":[\"x\"]}");
	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice(url.data), NULL, record, &sent) == PROTO_CLOSE_POLICY);
	CHECK(strncmp(only(&sent), "{\"type\":\"error\",\"data\":{\"code\":1008,\"message\":"
				  "\"Invalid query: Query method 'search' is not supported", 100) == 0);
	CHECK(s.nsubs == 0);
	sent_reset(&sent);
	proto_session_free(&s);
	buf_free(&url);
}

/* A configured project must be named; otherwise any project (or none) is fine. */
static void
test_open_project(void)
{
	ProtoLimits strict = {.project = "demo"};
	ProtoSession s;
	Sent		sent = {0};
	const char *refused =
		"{\"type\":\"error\",\"data\":{\"code\":1008,\"message\":\"Missing or unknown project ID\"}}";
	const char *err = NULL;

	proto_session_init(&s, &strict);
	CHECK(proto_open(&s, slice("project=other&channels[]=documents"), NULL, record, &sent) ==
		  PROTO_CLOSE_POLICY);
	CHECK_STR(only(&sent), refused);
	sent_reset(&sent);
	CHECK(proto_open(&s, slice("channels[]=documents"), NULL, record, &sent) == PROTO_CLOSE_POLICY);
	CHECK_STR(only(&sent), refused);
	sent_reset(&sent);
	CHECK(proto_open(&s, slice("project=demo"), NULL, record, &sent) == PROTO_OK);
	CHECK(strncmp(only(&sent), "{\"type\":\"connected\"", 19) == 0);
	sent_reset(&sent);
	proto_session_free(&s);

	CHECK(!proto_open_sse(&s, slice("project=x&channels[]=documents"), &err));
	CHECK(err != NULL && strstr(err, "project") != NULL);
	proto_session_free(&s);

	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice("channels[]=documents"), NULL, record, &sent) == PROTO_OK);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* An identity for the tests, from claims as JSON text. */
static AuthIdentity *
identity(const char *claims_json)
{
	struct json_object *claims = json_tokener_parse(claims_json);
	Buf			err = BUF_INIT;
	AuthIdentity *id = auth_identity_from_claims(claims, "service_role", &err);

	if (id == NULL)
		fprintf(stderr, "  bad test claims %s: %s\n", claims_json, err.data);
	json_object_put(claims);
	buf_free(&err);
	return id;
}

/*
 * "connected" names the user whose token came with the request; a token
 * that was refused leaves a guest, told why right after "connected".
 */
static void
test_open_identity(void)
{
	ProtoSession s;
	Sent		sent = {0};

	proto_session_init(&s, &limits);
	s.identity = identity("{\"sub\":\"alice\"}");
	CHECK(proto_open(&s, slice("project=demo&jwt=x"), NULL, record, &sent) == PROTO_OK);
	CHECK_STR(only(&sent), "{\"type\":\"connected\",\"data\":{\"channels\":[],\"subscriptions\":[],"
			  "\"user\":{\"$id\":\"alice\"}}}");
	sent_reset(&sent);
	proto_session_free(&s);
	CHECK(s.identity == NULL);

	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice("project=demo&jwt=eyJhbGciOi"), "the token expired", record, &sent) ==
		  PROTO_OK);
	CHECK(sent.n == 2);
	if (sent.n == 2)
	{
		CHECK(strncmp(sent.msg[0], "{\"type\":\"connected\"", 19) == 0);
		CHECK(strstr(sent.msg[0], "\"user\":null") != NULL);
		CHECK_STR(sent.msg[1], "{\"type\":\"error\",\"data\":{\"code\":1003,"
				  "\"message\":\"Session is not valid: the token expired.\"}}");
	}
	CHECK(s.identity == NULL);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* Bad channel parameters refuse the connection. */
static void
test_open_bad_channels(void)
{
	ProtoSession s;
	Sent		sent = {0};

	proto_session_init(&s, &limits);
	CHECK(proto_open(&s, slice("project=p&channels[]="), NULL, record, &sent) == PROTO_CLOSE_POLICY);
	CHECK(strstr(only(&sent), "\"code\":1008") != NULL);
	sent_reset(&sent);
	CHECK(proto_open(&s, slice("project=p&channels[]=a%zz"), NULL, record, &sent) == PROTO_CLOSE_POLICY);
	CHECK(strstr(only(&sent), "\"code\":1008") != NULL);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* SSE: same URL, no "connected", channels required. */
static void
test_open_sse(void)
{
	ProtoSession s;
	const char *err = NULL;
	RelayEvent *ev;

	proto_session_init(&s, &limits);
	CHECK(!proto_open_sse(&s, slice("project=demo"), &err));
	CHECK(err != NULL && strstr(err, "channels") != NULL);
	CHECK(!proto_open_sse(&s, slice("channels[]=documents&documents[1][]=nope"), &err));
	CHECK(err != NULL && strstr(err, "query") != NULL);
	CHECK(s.nsubs == 0);
	CHECK(proto_open_sse(&s, slice("channels=documents.create"), &err));
	CHECK(s.nsubs == 1);
	ev = make_event("create", "[\"guests\"]", "{}");
	check_matches(&s, ev, "\"s0\"");
	event_release(ev);
	proto_session_free(&s);
}

/* ---- messages ---- */

static void
test_ping_and_bad_messages(void)
{
	ProtoSession s;
	Sent		sent = {0};

	proto_session_init(&s, &limits);
	CHECK_STR(ask(&s, &sent, "{\"type\":\"ping\"}"), "{\"type\":\"pong\"}");
	expect_error(&s, &sent, "{\"type\":", 1003, "Message format is not valid.");
	expect_error(&s, &sent, "[\"ping\"]", 1003, "Message format is not valid.");
	expect_error(&s, &sent, "{'type':'ping'}", 1003, "Message format is not valid.");
	expect_error(&s, &sent, "{\"data\":[]}", 1003, "Message type is not valid.");
	expect_error(&s, &sent, "{\"type\":7}", 1003, "Message type is not valid.");
	expect_error(&s, &sent, "{\"type\":\"presence\",\"data\":{}}", 1003, "\\\"presence\\\"");
	/* client text quoted in a message is cut on a character boundary: 64 bytes of "€" is 21 of them */
	{
		Buf			text = BUF_INIT;
		const char *got;

		buf_append_str(&text, "{\"type\":\"");
		for (int i = 0; i < 30; i++)
			buf_append_str(&text, "\xe2\x82\xac");
		buf_append_str(&text, "\"}");
		got = ask(&s, &sent, text.data);
		CHECK(utf8_valid((const unsigned char *) got, strlen(got)));
		CHECK(strstr(got, "\xe2\x82\xac\\\".\"") != NULL);	/* the 21st whole, then the quote */
		buf_reset(&text);
		buf_append_str(&text, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"documents\"],\"queries\":[\"{\\\"method\\\":\\\"");
		for (int i = 0; i < 30; i++)
			buf_append_str(&text, "\xe2\x82\xac");
		buf_append_str(&text, "\\\"}\"]}]}");
		got = ask(&s, &sent, text.data);
		CHECK(strstr(got, "is not supported in Realtime queries") != NULL);
		CHECK(utf8_valid((const unsigned char *) got, strlen(got)));
		buf_free(&text);
	}
	expect_error(&s, &sent, "{\"type\":\"authentication\",\"data\":{}}", 1003, "data.session");
	expect_error(&s, &sent, "{\"type\":\"authentication\",\"data\":{\"session\":\"\"}}", 1003,
				 "data.session");
	expect_error(&s, &sent, "{\"type\":\"authentication\",\"data\":{\"session\":7}}", 1003,
				 "data.session");
	expect_error(&s, &sent, "{\"type\":\"authentication\",\"data\":{\"session\":\"a\\u0000b\"}}",
				 1003, "data.session");
	CHECK(s.identity == NULL && s.auth_token == NULL);
	sent_reset(&sent);
	proto_session_free(&s);
}

/*
 * authentication: the token goes to the caller, which answers with
 * proto_authenticated(): an error keeps the identity, a success replaces
 * it and keeps the subscriptions.
 */
static void
test_authentication_message(void)
{
	ProtoSession s;
	Sent		sent = {0};
	const char *text = "{\"type\":\"authentication\",\"data\":{\"session\":\"tok-1\"}}";

	proto_session_init(&s, &limits);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"documents\"]}]}");
	sent_reset(&sent);
	CHECK(proto_handle_message(&s, text, strlen(text), record, &sent) == PROTO_AUTHENTICATE);
	CHECK(sent.n == 0);
	CHECK_STR(s.auth_token, "tok-1");
	proto_authenticated(&s, NULL, "the signature does not match", record, &sent);
	CHECK_STR(only(&sent), "{\"type\":\"error\",\"data\":{\"code\":1003,"
			  "\"message\":\"Session is not valid: the signature does not match.\"}}");
	CHECK(s.identity == NULL && s.auth_token == NULL);
	sent_reset(&sent);

	CHECK(proto_handle_message(&s, text, strlen(text), record, &sent) == PROTO_AUTHENTICATE);
	proto_authenticated(&s, identity("{\"sub\":\"bob\",\"email_verified\":true}"), NULL, record, &sent);
	CHECK_STR(only(&sent), "{\"type\":\"response\",\"data\":{\"to\":\"authentication\",\"success\":true,"
			  "\"user\":{\"$id\":\"bob\"}}}");
	CHECK(s.identity && strcmp(s.identity->user_id, "bob") == 0 && s.nsubs == 1);
	sent_reset(&sent);

	/* again, as another user: the identity is replaced, a refusal keeps it */
	CHECK(proto_handle_message(&s, text, strlen(text), record, &sent) == PROTO_AUTHENTICATE);
	proto_authenticated(&s, identity("{\"sub\":\"carol\"}"), NULL, record, &sent);
	CHECK(s.identity && strcmp(s.identity->user_id, "carol") == 0);
	sent_reset(&sent);
	CHECK(proto_handle_message(&s, text, strlen(text), record, &sent) == PROTO_AUTHENTICATE);
	proto_authenticated(&s, NULL, "the token expired", record, &sent);
	CHECK(s.identity && strcmp(s.identity->user_id, "carol") == 0 && s.nsubs == 1);
	sent_reset(&sent);

	/* a server token without sub */
	CHECK(proto_handle_message(&s, text, strlen(text), record, &sent) == PROTO_AUTHENTICATE);
	proto_authenticated(&s, identity("{\"role\":\"service_role\"}"), NULL, record, &sent);
	CHECK_STR(only(&sent), "{\"type\":\"response\",\"data\":{\"to\":\"authentication\",\"success\":true,"
			  "\"user\":{\"$id\":null,\"server\":true}}}");
	sent_reset(&sent);
	proto_session_free(&s);
}

/* subscribe: the acknowledgement lists ids, channels (deduplicated) and queries. */
static void
test_subscribe(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *ev;

	proto_session_init(&s, &limits);
	CHECK_STR(ask(&s, &sent,
				  "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"sub-A.1_x\","
				  "\"channels\":[\"documents\",\"documents\",\"rows\"],"
				  "\"queries\":[\"{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[1]}\"]}]}"),
			  "{\"type\":\"response\",\"data\":{\"to\":\"subscribe\",\"success\":true,\"subscriptions\":"
			  "[{\"subscriptionId\":\"sub-A.1_x\",\"channels\":[\"documents\",\"rows\"],"
			  "\"queries\":[\"{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[1]}\"]}]}}");
	CHECK(s.nsubs == 1);

	/* no id: the server makes one; a client id "s0" is skipped over */
	CHECK_STR(ask(&s, &sent,
				  "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"s0\",\"channels\":[\"files\"]},"
				  "{\"channels\":[\"documents.create\"]}]}"),
			  "{\"type\":\"response\",\"data\":{\"to\":\"subscribe\",\"success\":true,\"subscriptions\":"
			  "[{\"subscriptionId\":\"s0\",\"channels\":[\"files\"],\"queries\":[]},"
			  "{\"subscriptionId\":\"s1\",\"channels\":[\"documents.create\"],\"queries\":[]}]}}");
	CHECK(s.nsubs == 3);

	ev = make_event("create", "[\"any\"]", "{\"n\":1}");
	check_matches(&s, ev, "\"sub-A.1_x\",\"s1\"");
	event_release(ev);
	ev = make_event("update", "[\"any\"]", "{\"n\":2}");
	check_matches(&s, ev, "");
	event_release(ev);

	/* an empty list is a valid, empty subscribe */
	CHECK_STR(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[]}"),
			  "{\"type\":\"response\",\"data\":{\"to\":\"subscribe\",\"success\":true,\"subscriptions\":[]}}");
	sent_reset(&sent);
	proto_session_free(&s);
	CHECK(s.subs == NULL && s.nsubs == 0);
}

/* Re-sending an id replaces channels and queries in place (the SDK after reconnect, update()). */
static void
test_subscribe_replace(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *ev = make_event("update", "[\"any\"]", "{\"n\":1}");

	proto_session_init(&s, &limits);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"documents\"]},"
		"{\"subscriptionId\":\"b\",\"channels\":[\"rows\"]}]}");
	check_matches(&s, ev, "\"a\",\"b\"");
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"files\"]}]}");
	CHECK(s.nsubs == 2);
	check_matches(&s, ev, "\"b\"");
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"rows\"],"
		"\"queries\":[\"{\\\"method\\\":\\\"greaterThan\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[0]}\"]}]}");
	CHECK(s.nsubs == 2);
	/* "a" keeps its place before "b" */
	check_matches(&s, ev, "\"a\",\"b\"");
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* unsubscribe answers removed per id; unknown ids are not an error. */
static void
test_unsubscribe(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *ev = make_event("update", "[\"any\"]", "{}");

	proto_session_init(&s, &limits);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"documents\"]},"
		"{\"subscriptionId\":\"b\",\"channels\":[\"documents\"]}]}");
	CHECK_STR(ask(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"a\"},"
				  "{\"subscriptionId\":\"nope\"}]}"),
			  "{\"type\":\"response\",\"data\":{\"to\":\"unsubscribe\",\"success\":true,\"subscriptions\":"
			  "[{\"subscriptionId\":\"a\",\"removed\":true},{\"subscriptionId\":\"nope\",\"removed\":false}]}}");
	CHECK(s.nsubs == 1);
	check_matches(&s, ev, "\"b\"");
	expect_error(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":{\"subscriptionId\":\"b\"}}", 1003,
				 "Payload is not valid.");
	expect_error(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"b\"},{}]}", 1003,
				 "non-empty subscriptionId");
	expect_error(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"\"}]}", 1003,
				 "non-empty subscriptionId");
	/* nothing was removed by the refused messages */
	CHECK(s.nsubs == 1);
	ask(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"b\"}]}");
	CHECK(s.nsubs == 0);
	check_matches(&s, ev, "");
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);
}

#define Q(json) "\"" json "\""

/* Invalid subscribe fields: error 1003 naming the field, nothing changes. */
static void
test_subscribe_invalid(void)
{
	ProtoSession s;
	Sent		sent = {0};

	proto_session_init(&s, &limits);
	expect_error(&s, &sent, "{\"type\":\"subscribe\"}", 1003, "Payload is not valid.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":{\"channels\":[\"a\"]}}", 1003,
				 "Payload is not valid.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[\"a\"]}", 1003,
				 "Each subscribe payload must be an object.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a b\",\"channels\":[]}]}",
				 1003, "subscriptionId is not a valid id.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":"
				 "\"0123456789012345678901234567890123456\",\"channels\":[]}]}",
				 1003, "subscriptionId is not a valid id.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":5,\"channels\":[]}]}",
				 1003, "subscriptionId is not a valid id.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"queries\":[]}]}", 1003,
				 "channels is not present in payload.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":\"documents\"}]}", 1003,
				 "channels is not a valid array.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\",1]}]}", 1003,
				 "channels must contain only strings.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":\"x\"}]}",
				 1003, "queries is not a valid array.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":null}]}",
				 1003, "queries is not a valid array.");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":[{}]}]}",
				 1003, "Invalid query: each query must be a string");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":[\"{x\"]}]}",
				 1003, "Invalid query: not valid JSON");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"contains\\\",\\\"attribute\\\":\\\"a\\\",\\\"values\\\":[1]}") "]}]}",
				 1003, "Query method 'contains' is not supported in Realtime queries");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"select\\\",\\\"values\\\":[\\\"name\\\"]}") "]}]}",
				 1003, "Only select(\\\"*\\\") is allowed");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"equal\\\",\\\"values\\\":[1]}") "]}]}",
				 1003, "equal needs a non-empty string \\\"attribute\\\"");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"a\\\",\\\"values\\\":[]}") "]}]}",
				 1003, "equal needs at least one value");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"a\\\",\\\"values\\\":5}") "]}]}",
				 1003, "\\\"values\\\" must be an array");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"lessThan\\\",\\\"attribute\\\":\\\"a\\\",\\\"values\\\":[true]}") "]}]}",
				 1003, "comparison values must be numbers or strings");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"a\\\",\\\"values\\\":[[1]]}") "]}]}",
				 1003, "values must be strings, numbers, booleans or null");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"and\\\",\\\"values\\\":[]}") "]}]}",
				 1003, "and/or need at least one query");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"a\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"or\\\",\\\"values\\\":[{\\\"method\\\":\\\"equal\\\",\\\"values\\\":[1]}]}") "]}]}",
				 1003, "needs a non-empty string");

	/* a valid item followed by an invalid one: the whole message is refused */
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"ok\",\"channels\":[\"a\"]},"
				 "{\"channels\":7}]}", 1003, "channels is not a valid array.");
	CHECK(s.nsubs == 0 && s.subs == NULL);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* Limits: too many subscriptions, channels or queries get 1013 and change nothing. */
static void
test_limits(void)
{
	ProtoLimits small = {.max_subscriptions = 2, .max_channels = 2, .max_queries = 1};
	ProtoSession s;
	Sent		sent = {0};
	Buf			url = BUF_INIT;

	proto_session_init(&s, &small);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"x\"]},"
		"{\"subscriptionId\":\"b\",\"channels\":[\"y\"]}]}");
	CHECK(s.nsubs == 2);
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"z\"]}]}", 1013,
				 "Too many subscriptions");
	/* replacing does not add */
	CHECK(strstr(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"b\",\"channels\":[\"z\"]}]}"),
				 "\"success\":true") != NULL);
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"1\",\"2\",\"3\"]}]}",
				 1013, "Too many channels");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"1\"],"
				 "\"queries\":[" Q("{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"a\\\"}") ","
				 Q("{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"b\\\"}") "]}]}",
				 1013, "Too many queries");
	CHECK(s.nsubs == 2);
	sent_reset(&sent);
	proto_session_free(&s);

	/* in the URL, a breach refuses the connection */
	proto_session_init(&s, &small);
	buf_append_str(&url, "project=p&channels[]=a&channels[]=b&channels[]=c");
	CHECK(proto_open(&s, slice(url.data), NULL, record, &sent) == PROTO_CLOSE_POLICY);
	CHECK(strstr(only(&sent), "\"code\":1008") != NULL && strstr(only(&sent), "Too many channels"));
	sent_reset(&sent);
	proto_session_free(&s);
	buf_free(&url);
}

/*
 * Budgets: channel bytes and query values per connection (1013), matching
 * cost per subscription (1003), memory of all sessions together (1013).
 * Replacing or removing a subscription gives its share back.
 */
static void
test_budgets(void)
{
	size_t		used = 0;
	ProtoLimits b = {.max_channel_bytes = 20, .max_query_values = 5, .max_query_cost = 4,
	.memory_used = &used};
	ProtoSession s;
	ProtoSession t;
	Sent		sent = {0};
	size_t		one;

#define EQ(vals) Q("{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"a\\\",\\\"values\\\":[" vals "]}")
	proto_session_init(&s, &b);
	/* cost: one for the query, one per value */
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"x\"],\"queries\":[" EQ("1,2,3,4") "]}]}",
				 1003, "cost 5 to match, more than the limit of 4");
	CHECK(strstr(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"0123456789\"],"
					 "\"queries\":[" EQ("1,2,3") "]}]}"), "\"success\":true") != NULL);
	CHECK(s.channel_bytes == 10 && s.query_values == 3 && used > 0);
	one = used;
	/* the connection's channel bytes (10 + 11 > 20) and values (3 + 3 > 5) */
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"abcdefghijk\"]}]}", 1013,
				 "Too many channel bytes on this connection (limit 20).");
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"y\"],\"queries\":[" EQ("1,2,3") "]}]}",
				 1013, "Too many query values on this connection (limit 5).");
	/* replacing "a" gives its share back first */
	CHECK(strstr(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"abcdefghijk\"],"
					 "\"queries\":[" EQ("1,2,3") "]}]}"), "\"success\":true") != NULL);
	CHECK(s.channel_bytes == 11 && s.query_values == 3 && s.nsubs == 1);
	/* all sessions share the memory budget */
	b.memory_budget = used + one / 2;
	proto_session_init(&t, &b);
	expect_error(&t, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"abcdefghijk\"],\"queries\":[" EQ("1,2,3") "]}]}",
				 1013, "no memory left for subscriptions");
	ask(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"a\"}]}");
	CHECK(used == 0 && s.channel_bytes == 0 && s.query_values == 0);
	CHECK(strstr(ask(&t, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"abcdefghijk\"],\"queries\":[" EQ("1,2,3") "]}]}"),
				 "\"success\":true") != NULL);
	CHECK(used > 0);
	proto_session_free(&t);
	CHECK(used == 0);
	/* a URL over the budget refuses the connection */
	sent_reset(&sent);
	CHECK(proto_open(&s, slice("project=p&channels[]=0123456789abcdefghijk"), NULL, record, &sent) ==
		  PROTO_CLOSE_POLICY);
	CHECK(strstr(only(&sent), "Too many channel bytes") != NULL);
#undef EQ
	sent_reset(&sent);
	proto_session_free(&s);
}

/*
 * Queries without values cost too: every node of the query (and, or,
 * isNull, isNotNull, select) counts one, so an "or" of isNull is bounded
 * by max_query_cost per subscription and max_connection_query_cost per
 * connection (1013), though it holds no query values.  Each address's
 * sessions share max_subscription_memory_per_ip (1013) within the
 * relay's budget; closing a session gives its share back.
 */
static void
test_budgets_cost_and_address(void)
{
	size_t		used = 0;
	size_t		here = 0;
	ProtoLimits b = {.max_query_cost = 4, .max_connection_query_cost = 6, .memory_used = &used};
	ProtoSession s;
	ProtoSession t;
	ProtoSession u;
	Sent		sent = {0};
	size_t		one;

#define ISNULL Q("{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"zz\\\"}")
	proto_session_init(&s, &b);
	s.peer_memory = &here;
	/* an "or" of four isNull costs five: over max_query_cost, without any value */
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"x\"],\"queries\":["
				 Q("{\\\"method\\\":\\\"or\\\",\\\"values\\\":["
				   "{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"a\\\"},"
				   "{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"b\\\"},"
				   "{\\\"method\\\":\\\"isNotNull\\\",\\\"attribute\\\":\\\"c\\\"},"
				   "{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"d\\\"}]}") "]}]}",
				 1003, "cost 5 to match, more than the limit of 4");
	/* three isNull and a select cost four: at the limit */
	CHECK(strstr(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"x\"],"
					 "\"queries\":[" ISNULL "," ISNULL "," ISNULL ","
					 Q("{\\\"method\\\":\\\"select\\\",\\\"values\\\":[\\\"*\\\"]}") "]}]}"),
				 "\"success\":true") != NULL);
	CHECK(s.query_cost == 4 && s.query_values == 0);
	CHECK(here == used && used > 0);
	one = used;
	/* the connection's total: 4 + 3 > 6 */
	expect_error(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"y\"],\"queries\":["
				 ISNULL "," ISNULL "," ISNULL "]}]}",
				 1013, "cost 7 to match, more than the limit of 6");
	/* 4 + 2 fits; replacing "a" gives its cost back first */
	CHECK(strstr(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"b\",\"channels\":[\"y\"],"
					 "\"queries\":[" ISNULL "," ISNULL "]}]}"), "\"success\":true") != NULL);
	CHECK(s.query_cost == 6);
	CHECK(strstr(ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"a\",\"channels\":[\"x\"],"
					 "\"queries\":[" ISNULL "," ISNULL "," ISNULL "," ISNULL "]}]}"), "\"success\":true") != NULL);
	CHECK(s.query_cost == 6 && s.nsubs == 2);
	ask(&s, &sent, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"b\"}]}");
	CHECK(s.query_cost == 4 && here == used);

	/* another session of the same address shares its memory budget ... */
	b.peer_memory_budget = here + one / 2;
	proto_session_init(&t, &b);
	t.peer_memory = &here;
	expect_error(&t, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"x\"],\"queries\":["
				 ISNULL "," ISNULL "," ISNULL "," ISNULL "]}]}",
				 1013, "The subscriptions from this address use all the memory it may have");
	/* ... a session of another address does not */
	proto_session_init(&u, &b);
	CHECK(strstr(ask(&u, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"x\"],\"queries\":["
					 ISNULL "," ISNULL "," ISNULL "," ISNULL "]}]}"), "\"success\":true") != NULL);
	CHECK(used > here);
	/* closing the first session gives the address its share back */
	proto_session_free(&s);
	CHECK(here == 0 && s.query_cost == 0);
	CHECK(strstr(ask(&t, &sent, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"x\"],\"queries\":["
					 ISNULL "," ISNULL "," ISNULL "," ISNULL "]}]}"), "\"success\":true") != NULL);
	CHECK(here > 0);
	proto_session_free(&t);
	proto_session_free(&u);
	CHECK(here == 0 && used == 0);
#undef ISNULL
	sent_reset(&sent);
}

/* ---- queries ---- */

/* Compile text and match it against an event with this payload. */
static bool
qmatch(const char *query, const char *payload)
{
	Query		q;
	Buf			err = BUF_INIT;
	RelayEvent *ev = make_event("create", "[\"any\"]", payload);
	bool		r = false;

	if (!query_compile(query, strlen(query), &q, &err))
		fprintf(stderr, "  query did not compile: %s: %s\n", query, err.data);
	else
	{
		r = query_match_event(&q, ev);
		query_free(&q);
	}
	event_release(ev);
	buf_free(&err);
	return r;
}

#define EQ(attr, vals) "{\"method\":\"equal\",\"attribute\":\"" attr "\",\"values\":" vals "}"

static void
test_query_semantics(void)
{
	/* equal: any of the values; type-strict; 5 and 5.0 are the same number */
	CHECK(qmatch(EQ("s", "[\"paid\"]"), "{\"s\":\"paid\"}"));
	CHECK(qmatch(EQ("s", "[\"open\",\"paid\"]"), "{\"s\":\"paid\"}"));
	CHECK(!qmatch(EQ("s", "[\"open\"]"), "{\"s\":\"paid\"}"));
	CHECK(!qmatch(EQ("n", "[\"5\"]"), "{\"n\":5}"));
	CHECK(!qmatch(EQ("n", "[5]"), "{\"n\":\"5\"}"));
	CHECK(qmatch(EQ("n", "[5]"), "{\"n\":5}"));
	CHECK(qmatch(EQ("n", "[5.0]"), "{\"n\":5}"));
	CHECK(qmatch(EQ("n", "[5]"), "{\"n\":5.0}"));
	CHECK(!qmatch(EQ("b", "[1]"), "{\"b\":true}"));
	CHECK(qmatch(EQ("b", "[true]"), "{\"b\":true}"));
	CHECK(!qmatch(EQ("b", "[\"true\"]"), "{\"b\":true}"));
	CHECK(qmatch(EQ("x", "[null]"), "{\"x\":null}"));
	CHECK(!qmatch(EQ("x", "[null]"), "{\"x\":0}"));
	CHECK(!qmatch(EQ("t", "[1]"), "{\"t\":[1]}"));
	CHECK(qmatch(EQ("$id", "[\"42\"]"), "{\"$id\":\"42\"}"));
	/* missing attribute never matches, not even notEqual or isNull */
	CHECK(!qmatch(EQ("s", "[\"paid\"]"), "{}"));
	CHECK(!qmatch("{\"method\":\"notEqual\",\"attribute\":\"s\",\"values\":[\"paid\"]}", "{}"));
	CHECK(!qmatch("{\"method\":\"isNull\",\"attribute\":\"s\"}", "{}"));
	CHECK(!qmatch("{\"method\":\"isNotNull\",\"attribute\":\"s\"}", "{}"));
	/* notEqual: none of the values */
	CHECK(qmatch("{\"method\":\"notEqual\",\"attribute\":\"s\",\"values\":[\"paid\"]}", "{\"s\":\"open\"}"));
	CHECK(!qmatch("{\"method\":\"notEqual\",\"attribute\":\"s\",\"values\":[\"a\",\"open\"]}", "{\"s\":\"open\"}"));
	CHECK(qmatch("{\"method\":\"notEqual\",\"attribute\":\"n\",\"values\":[\"5\"]}", "{\"n\":5}"));
	/* null checks need the attribute present */
	CHECK(qmatch("{\"method\":\"isNull\",\"attribute\":\"s\"}", "{\"s\":null}"));
	CHECK(!qmatch("{\"method\":\"isNull\",\"attribute\":\"s\"}", "{\"s\":\"\"}"));
	CHECK(qmatch("{\"method\":\"isNotNull\",\"attribute\":\"s\",\"values\":[]}", "{\"s\":0}"));
	CHECK(!qmatch("{\"method\":\"isNotNull\",\"attribute\":\"s\"}", "{\"s\":null}"));
	/* comparisons: numbers with numbers, strings with strings (ISO dates sort) */
	CHECK(qmatch("{\"method\":\"lessThan\",\"attribute\":\"n\",\"values\":[10]}", "{\"n\":9.5}"));
	CHECK(!qmatch("{\"method\":\"lessThan\",\"attribute\":\"n\",\"values\":[10]}", "{\"n\":10}"));
	CHECK(qmatch("{\"method\":\"lessThanEqual\",\"attribute\":\"n\",\"values\":[10]}", "{\"n\":10}"));
	CHECK(qmatch("{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[-1]}", "{\"n\":0}"));
	CHECK(!qmatch("{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[\"1\"]}", "{\"n\":5}"));
	CHECK(!qmatch("{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[1]}", "{\"n\":\"5\"}"));
	CHECK(!qmatch("{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[1]}", "{\"n\":null}"));
	CHECK(qmatch("{\"method\":\"greaterThanEqual\",\"attribute\":\"n\",\"values\":[9007199254740993]}",
				 "{\"n\":9007199254740993}"));
	CHECK(!qmatch("{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[9007199254740992]}",
				  "{\"n\":9007199254740992}"));
	CHECK(qmatch("{\"method\":\"greaterThan\",\"attribute\":\"d\",\"values\":[\"2026-01-01T00:00:00.000+00:00\"]}",
				 "{\"d\":\"2026-05-01T10:00:00.123+00:00\"}"));
	CHECK(qmatch("{\"method\":\"lessThan\",\"attribute\":\"s\",\"values\":[\"ab\"]}", "{\"s\":\"a\"}"));
	CHECK(!qmatch("{\"method\":\"lessThan\",\"attribute\":\"s\",\"values\":[\"a\"]}", "{\"s\":\"a\"}"));
	/* and / or nest, as objects (SDK) or as JSON strings */
	CHECK(qmatch("{\"method\":\"or\",\"values\":[{\"method\":\"and\",\"values\":[" EQ("a", "[1]") "," EQ("b", "[2]")
				 "]}," EQ("c", "[3]") "]}", "{\"a\":1,\"b\":2}"));
	CHECK(!qmatch("{\"method\":\"or\",\"values\":[{\"method\":\"and\",\"values\":[" EQ("a", "[1]") "," EQ("b", "[2]")
				  "]}," EQ("c", "[3]") "]}", "{\"a\":1,\"b\":3}"));
	CHECK(qmatch("{\"method\":\"or\",\"values\":[{\"method\":\"and\",\"values\":[" EQ("a", "[1]") "," EQ("b", "[2]")
				 "]}," EQ("c", "[3]") "]}", "{\"c\":3}"));
	CHECK(qmatch("{\"method\":\"and\",\"values\":[\"{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"x\\\"}\"]}",
				 "{\"x\":null}"));
	CHECK(qmatch("{\"method\":\"select\",\"values\":[\"*\"]}", "{}"));
}

/* Queries in a subscription are ANDed; select("*") among them matches everything. */
static void
test_subscription_queries(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *paid_big = make_event("update", "[\"any\"]", "{\"s\":\"paid\",\"n\":100}");
	RelayEvent *paid_small = make_event("update", "[\"any\"]", "{\"s\":\"paid\",\"n\":1}");

	proto_session_init(&s, &limits);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":["
		"{\"subscriptionId\":\"and\",\"channels\":[\"documents\"],\"queries\":["
		Q("{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"s\\\",\\\"values\\\":[\\\"paid\\\"]}") ","
		Q("{\\\"method\\\":\\\"greaterThan\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[10]}") "]},"
		"{\"subscriptionId\":\"all\",\"channels\":[\"documents\"],\"queries\":["
		Q("{\\\"method\\\":\\\"greaterThan\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[1000]}") ","
		Q("{\\\"method\\\":\\\"select\\\",\\\"values\\\":[\\\"*\\\"]}") "]}]}");
	CHECK(s.nsubs == 2);
	check_matches(&s, paid_big, "\"and\",\"all\"");
	check_matches(&s, paid_small, "\"all\"");
	event_release(paid_big);
	event_release(paid_small);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* Every node counts one toward the cost, each value one more; only values are values. */
static void
test_query_count(void)
{
	static const struct
	{
		const char *text;
		uint32_t	values;
		uint32_t	cost;
	}			cases[] = {
		{"{\"method\":\"isNull\",\"attribute\":\"a\"}", 0, 1},
		{"{\"method\":\"isNotNull\",\"attribute\":\"a\"}", 0, 1},
		{"{\"method\":\"select\",\"values\":[\"*\"]}", 0, 1},
		{EQ("a", "[1,2,3]"), 3, 4},
		{"{\"method\":\"or\",\"values\":[{\"method\":\"isNull\",\"attribute\":\"a\"},"
		"{\"method\":\"isNull\",\"attribute\":\"b\"}]}", 0, 3},
		{"{\"method\":\"and\",\"values\":[" EQ("a", "[1,2]") ",{\"method\":\"or\",\"values\":["
		"{\"method\":\"isNotNull\",\"attribute\":\"b\"}," EQ("c", "[\"x\"]") "]}]}", 3, 8},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		Query		q;
		Buf			err = BUF_INIT;
		uint32_t	values = 0;
		uint32_t	cost = 0;

		CHECK(query_compile(cases[i].text, strlen(cases[i].text), &q, &err));
		query_count(&q, &values, &cost);
		CHECK(values == cases[i].values && cost == cases[i].cost);
		if (values != cases[i].values || cost != cases[i].cost)
			fprintf(stderr, "  %s: %u values, cost %u\n", cases[i].text, values, cost);
		query_free(&q);
		buf_free(&err);
	}
}

/* ---- delivery ---- */

/*
 * Channels match by equality only.  Read roles are not this module's
 * business: the fan-out only asks about connections that may read the
 * event (auth_test.c, fanout), so an event readable by nobody still
 * matches a subscription here.
 */
static void
test_delivery(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *ev;

	proto_session_init(&s, &limits);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"x\","
		"\"channels\":[\"databases.shop.collections.orders.documents\"]}]}");
	ev = make_event("delete", "[]", "{\"$id\":\"42\"}");
	check_matches(&s, ev, "\"x\"");
	event_release(ev);

	/* channel equality: no wildcards, action channels only for their action */
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"x\","
		"\"channels\":[\"databases.*.collections.*.documents\",\"databases.shop.collections.orders\","
		"\"databases.shop.tables.orders.rows.42.create\"]}]}");
	ev = make_event("update", "[\"any\"]", "{}");
	check_matches(&s, ev, "");
	event_release(ev);
	ev = make_event("create", "[\"any\"]", "{}");
	check_matches(&s, ev, "\"x\"");
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* The list goes after whatever is in out; no match leaves out untouched; a frame assembles. */
static void
test_subscriptions_list(void)
{
	ProtoSession s;
	Sent		sent = {0};
	RelayEvent *ev = make_event("create", "[\"any\"]", "{\"$id\":\"42\"}");
	Buf			out = BUF_INIT;
	struct json_object *frame;
	struct json_object *data;
	struct json_object *subs;

	proto_session_init(&s, &limits);
	/* no subscriptions yet */
	CHECK(proto_match_event(&s, ev, &out) == 0 && out.len == 0);

	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"mine\",\"channels\":[\"files\"]}]}");
	buf_append(&out, ev->body, ev->body_len);
	CHECK(proto_match_event(&s, ev, &out) == 0);
	CHECK(out.len == ev->body_len);
	ask(&s, &sent, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"s0\",\"channels\":[\"documents\"]},"
		"{\"subscriptionId\":\"s3\",\"channels\":[\"rows.create\"]}]}");
	CHECK(proto_match_event(&s, ev, &out) == 2);
	CHECK_STR(out.data + ev->body_len, "\"s0\",\"s3\"");
	event_append_suffix(ev, &out);
	frame = json_tokener_parse(out.data);
	CHECK(frame != NULL && json_object_object_get_ex(frame, "data", &data) &&
		  json_object_object_get_ex(data, "subscriptions", &subs) &&
		  json_object_array_length(subs) == 2);
	json_object_put(frame);

	buf_free(&out);
	event_release(ev);
	sent_reset(&sent);
	proto_session_free(&s);
}

/* proto_error_json writes the error frame with the message escaped. */
static void
test_error_json(void)
{
	Buf			b = BUF_INIT;

	proto_error_json(&b, 1008, "bad \"origin\"");
	CHECK_STR(b.data, "{\"type\":\"error\",\"data\":{\"code\":1008,\"message\":\"bad \\\"origin\\\"\"}}");
	buf_free(&b);
}

int
main(void)
{
	test_open_message_mode();
	test_open_url_channels();
	test_open_url_slot_queries();
	test_open_project();
	test_open_identity();
	test_open_bad_channels();
	test_open_sse();
	test_ping_and_bad_messages();
	test_authentication_message();
	test_subscribe();
	test_subscribe_replace();
	test_unsubscribe();
	test_subscribe_invalid();
	test_limits();
	test_budgets();
	test_budgets_cost_and_address();
	test_query_count();
	test_query_semantics();
	test_subscription_queries();
	test_delivery();
	test_subscriptions_list();
	test_error_json();
	return unit_summary("protocol");
}
