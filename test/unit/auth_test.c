/*
 * auth_test.c - claims to roles, and who may read what (auth.c)
 *
 * The roles each set of claims gives, exactly and in order; the claims that
 * must be refused because they could spell someone else's role; and the
 * read rule of PROTOCOL.md 6 for guests, users and the server role.
 */
#include "unit.h"
#include "unit_event.h"
#include "auth.h"
#include "buf.h"
#include "event.h"

#include <stdlib.h>
#include <string.h>

#include <json.h>

/* The identity of claims (JSON text), or NULL; err gets the reason. */
static AuthIdentity *
from(const char *claims_json, const char *server_role, Buf *err)
{
	struct json_object *claims = json_tokener_parse(claims_json);
	AuthIdentity *id;

	buf_reset(err);
	id = auth_identity_from_claims(claims, server_role, err);
	json_object_put(claims);
	return id;
}

/* The roles of claims joined with spaces ("" for none; "REFUSED: why" if refused). */
static char *
roles_of(const char *claims_json)
{
	Buf			err = BUF_INIT;
	Buf			out = BUF_INIT;
	AuthIdentity *id = from(claims_json, "service_role", &err);

	if (id == NULL)
		buf_printf(&out, "REFUSED: %s", err.data ? err.data : "");
	else
	{
		if (id->server)
			buf_append_str(&out, "SERVER");
		for (int i = 0; i < id->nroles; i++)
			buf_printf(&out, "%s%s", out.len ? " " : "", id->roles[i]);
		auth_identity_release(id);
	}
	buf_free(&err);
	if (out.data == NULL)
		buf_append_str(&out, "");
	return buf_steal(&out, NULL);
}

static void
check_roles(const char *claims_json, const char *want)
{
	char	   *got = roles_of(claims_json);

	if (strncmp(want, "REFUSED", 7) == 0)
	{
		CHECK(strncmp(got, "REFUSED", 7) == 0 && strstr(got, want + 9) != NULL);
		if (!(strncmp(got, "REFUSED", 7) == 0 && strstr(got, want + 9) != NULL))
			fprintf(stderr, "  claims %s\n  got:  %s\n  want: %s\n", claims_json, got, want);
	}
	else
		CHECK_STR(got, want);
	free(got);
}

static void
test_roles(void)
{
	check_roles("{\"sub\":\"alice\"}", "user:alice users user:alice/unverified users/unverified");
	check_roles("{\"sub\":\"alice\",\"email_verified\":true}",
				"user:alice users user:alice/verified users/verified");
	check_roles("{\"sub\":\"alice\",\"verified\":true}", "user:alice users user:alice/verified users/verified");
	check_roles("{\"sub\":\"alice\",\"email_verified\":\"yes\"}",
				"user:alice users user:alice/unverified users/unverified");
	check_roles("{\"sub\":\"u1\",\"teams\":[\"t1\",\"t2/owner\",\"t2/admin\",\"t1\"],\"labels\":[\"vip\",\"beta2\"]}",
				"user:u1 users user:u1/unverified users/unverified team:t1 team:t2 team:t2/owner "
				"team:t2/admin label:vip label:beta2");
	check_roles("{\"sub\":\"a.b_c-d\",\"teams\":[],\"labels\":null}",
				"user:a.b_c-d users user:a.b_c-d/unverified users/unverified");
	/* a Supabase-style user id (a UUID) is an Appwrite ID */
	check_roles("{\"sub\":\"0b7c1e2a-9f3d-4c5e-8a6b-1d2e3f4a5b6c\",\"role\":\"authenticated\"}",
				"user:0b7c1e2a-9f3d-4c5e-8a6b-1d2e3f4a5b6c users user:0b7c1e2a-9f3d-4c5e-8a6b-1d2e3f4a5b6c/unverified "
				"users/unverified");
	/* the server role: every event, no roles needed; with or without sub */
	check_roles("{\"role\":\"service_role\"}", "SERVER");
	check_roles("{\"sub\":\"worker\",\"role\":\"service_role\",\"teams\":[\"t1\"]}", "SERVER");
}

/* Claims that could spell another role, or are not what they should be. */
static void
test_refused(void)
{
	check_roles("{}", "REFUSED: no \"sub\"");
	check_roles("{\"role\":\"anon\"}", "REFUSED: no \"sub\"");
	check_roles("{\"sub\":\"alice/verified\"}", "REFUSED: not an Appwrite ID");
	check_roles("{\"sub\":\"\"}", "REFUSED: not an Appwrite ID");
	check_roles("{\"sub\":\"-alice\"}", "REFUSED: not an Appwrite ID");
	check_roles("{\"sub\":\"auth0|123\"}", "REFUSED: not an Appwrite ID");
	check_roles("{\"sub\":\"0123456789012345678901234567890123456\"}", "REFUSED: not an Appwrite ID");
	check_roles("{\"sub\":\"a\\u0000b\"}", "REFUSED: \"sub\" claim is not a string");
	check_roles("{\"sub\":42}", "REFUSED: \"sub\" claim is not a string");
	check_roles("{\"sub\":\"a\",\"teams\":\"t1\"}", "REFUSED: \"teams\" claim is not an array");
	check_roles("{\"sub\":\"a\",\"teams\":[\"t1/admin/x\"]}", "REFUSED: item 0 of the \"teams\" claim");
	check_roles("{\"sub\":\"a\",\"teams\":[\"ok\",\"t 1\"]}", "REFUSED: item 1 of the \"teams\" claim");
	check_roles("{\"sub\":\"a\",\"teams\":[7]}", "REFUSED: item 0 of the \"teams\" claim");
	check_roles("{\"sub\":\"a\",\"teams\":[\"/x\"]}", "REFUSED: item 0 of the \"teams\" claim");
	check_roles("{\"sub\":\"a\",\"labels\":[\"v-i-p\"]}", "REFUSED: item 0 of the \"labels\" claim");
	check_roles("{\"sub\":\"a\",\"exp\":\"soon\"}", "REFUSED: \"exp\" claim is not a number");
	{
		Buf			many = BUF_INIT;

		buf_append_str(&many, "{\"sub\":\"a\",\"labels\":[");
		for (int i = 0; i <= AUTH_MAX_LABELS; i++)
			buf_printf(&many, "%s\"l%d\"", i ? "," : "", i);
		buf_append_str(&many, "]}");
		check_roles(many.data, "REFUSED: more than 100 items");
		buf_free(&many);
	}
	/* an empty server_role turns the server role off */
	{
		Buf			err = BUF_INIT;
		AuthIdentity *id = from("{\"role\":\"service_role\"}", "", &err);

		CHECK(id == NULL);
		id = from("{\"sub\":\"x\",\"role\":\"service_role\",\"exp\":1800000000.5}", "", &err);
		CHECK(id && !id->server && id->expires_at == 1800000000.5 && strcmp(id->user_id, "x") == 0);
		auth_identity_release(id);
		id = from("{\"sub\":\"x\",\"role\":\"admin\"}", "admin", &err);
		CHECK(id && id->server);
		auth_identity_release(id);
		buf_free(&err);
	}
}

#define event_read_by(read) unit_make_event("create", (read), "{}")

/* PROTOCOL.md 6 for a guest, two users and the server role. */
static void
test_may_read(void)
{
	Buf			err = BUF_INIT;
	AuthIdentity *alice = from("{\"sub\":\"alice\",\"email_verified\":true,\"teams\":[\"t1/admin\"],"
							   "\"labels\":[\"vip\"]}", "service_role", &err);
	AuthIdentity *bob = from("{\"sub\":\"bob\"}", "service_role", &err);
	AuthIdentity *server = from("{\"role\":\"service_role\"}", "service_role", &err);
	struct
	{
		const char *read;
		bool		guest,
					alice,
					bob,
					server;
	}			cases[] = {
		{"[\"any\"]", true, true, true, true},
		{"[\"guests\"]", true, false, false, true},
		{"[\"users\"]", false, true, true, true},
		{"[\"users/verified\"]", false, true, false, true},
		{"[\"users/unverified\"]", false, false, true, true},
		{"[\"user:alice\"]", false, true, false, true},
		{"[\"user:alice/verified\"]", false, true, false, true},
		{"[\"user:alice/unverified\"]", false, false, false, true},
		{"[\"user:bob\",\"team:zzz\"]", false, false, true, true},
		{"[\"team:t1\"]", false, true, false, true},
		{"[\"team:t1/admin\"]", false, true, false, true},
		{"[\"team:t1/owner\"]", false, false, false, true},
		{"[\"label:vip\"]", false, true, false, true},
		{"[\"member:m1\"]", false, false, false, true},
		{"[]", false, false, false, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RelayEvent *ev = event_read_by(cases[i].read);
		bool		ok = auth_may_read(NULL, ev) == cases[i].guest &&
			auth_may_read(alice, ev) == cases[i].alice && auth_may_read(bob, ev) == cases[i].bob &&
			auth_may_read(server, ev) == cases[i].server;

		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  read %s\n", cases[i].read);
		event_release(ev);
	}
	auth_identity_release(alice);
	auth_identity_release(bob);
	auth_identity_release(server);
	buf_free(&err);
}

static void
test_user_json(void)
{
	Buf			err = BUF_INIT;
	Buf			out = BUF_INIT;
	AuthIdentity *id = from("{\"sub\":\"a\",\"name\":\"<not echoed>\"}", "service_role", &err);

	auth_user_json(NULL, &out);
	CHECK_STR(out.data, "null");
	buf_reset(&out);
	auth_user_json(id, &out);
	CHECK_STR(out.data, "{\"$id\":\"a\"}");
	auth_identity_retain(id);
	CHECK(id->refcount == 2);
	auth_identity_release(id);
	auth_identity_release(id);
	buf_free(&out);
	buf_free(&err);
}

int
main(void)
{
	test_roles();
	test_refused();
	test_may_read();
	test_user_json();
	return unit_summary("auth");
}
