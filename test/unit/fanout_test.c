/*
 * fanout_test.c - connections indexed by role, and the expiry heap (fanout.c)
 *
 * Clients here are bare structs with an identity: which of them an event
 * reaches, once each, whatever roles it shares with them; what happens when
 * a delivery takes a client out of the index; and that roles are freed
 * with their last member.
 */
#include "unit.h"
#include "unit_event.h"
#include "auth.h"
#include "fanout.h"

#include <stdlib.h>
#include <string.h>

#include <json.h>

static Client *
new_client(const char *claims_json)
{
	Client	   *c = calloc(1, sizeof(Client));

	c->expiry_slot = -1;
	if (claims_json)
	{
		struct json_object *claims = json_tokener_parse(claims_json);
		Buf			err = BUF_INIT;

		c->session.identity = auth_identity_from_claims(claims, "service_role", &err);
		if (c->session.identity == NULL)
			abort();
		json_object_put(claims);
		buf_free(&err);
	}
	return c;
}

static void
free_client(Fanout *f, Client *c)
{
	fanout_remove(f, c);
	fanout_set_expiry(f, c, -1);
	auth_identity_release(c->session.identity);
	free(c);
}

/* An event readable by read (a JSON array). */
static RelayEvent *
event_read_by(const char *read)
{
	return unit_make_event("create", read, "{}");
}

/* Deliveries of one publish: which clients, in a string of their names. */
typedef struct Got
{
	Fanout	   *f;
	Client	  **clients;
	const char **names;
	int			n;
	Buf			out;
	Client	   *remove_on_delivery;	/* taken out of the index when reached */
} Got;

static void
record(void *arg, Client *c, RelayEvent *ev)
{
	Got		   *g = arg;

	for (int i = 0; i < g->n; i++)
		if (g->clients[i] == c)
			buf_printf(&g->out, "%s%s", g->out.len ? " " : "", g->names[i]);
	if (c == g->remove_on_delivery)
		fanout_remove(g->f, c);
}


static void
check_publish(Got *g, const char *read, const char *want)
{
	RelayEvent *ev = event_read_by(read);

	buf_reset(&g->out);
	buf_append_str(&g->out, "");
	fanout_publish(g->f, ev, record, g);
	CHECK_STR(g->out.data, want);
	if (strcmp(g->out.data, want) != 0)
		fprintf(stderr, "  read %s\n", read);
	event_release(ev);
}

static void
test_publish(void)
{
	Fanout	   *f = fanout_create();
	const char *names[] = {"guest", "alice", "bob", "server", "guest2"};
	Client	   *clients[] = {
		new_client(NULL),
		new_client("{\"sub\":\"alice\",\"email_verified\":true,\"teams\":[\"t1/admin\"],\"labels\":[\"vip\"]}"),
		new_client("{\"sub\":\"bob\",\"teams\":[\"t1\"]}"),
		new_client("{\"role\":\"service_role\"}"),
		new_client(NULL),
	};
	Got			g = {f, clients, names, 5, BUF_INIT, NULL};

	for (int i = 0; i < 5; i++)
		fanout_add(f, clients[i]);
	/* guests, user:alice + users + 2 verified, user:bob + users + 2 unverified, team:t1, team:t1/admin, label:vip */
	CHECK(fanout_nroles(f) == 11);
	check_publish(&g, "[\"guests\"]", "server guest guest2");
	check_publish(&g, "[\"user:alice\"]", "server alice");
	check_publish(&g, "[\"users\"]", "server alice bob");
	check_publish(&g, "[\"user:alice\",\"users\",\"team:t1\"]", "server alice bob");	/* once each */
	check_publish(&g, "[\"team:t1\"]", "server alice bob");
	check_publish(&g, "[\"team:t1/admin\",\"label:vip\"]", "server alice");
	check_publish(&g, "[\"users/unverified\",\"guests\"]", "server bob guest guest2");
	check_publish(&g, "[\"team:nobody\"]", "server");
	check_publish(&g, "[]", "server");

	/* a delivery that cuts a client off (takes it out of the index) */
	g.remove_on_delivery = clients[1];
	check_publish(&g, "[\"users\",\"user:alice\",\"label:vip\"]", "server alice bob");
	g.remove_on_delivery = NULL;
	check_publish(&g, "[\"user:alice\",\"label:vip\"]", "server");
	/* alice's own roles went with her: user:alice, its /verified, users/verified, team:t1/admin, label:vip */
	CHECK(fanout_nroles(f) == 6);

	/* a new identity: out and in again */
	fanout_remove(f, clients[2]);
	auth_identity_release(clients[2]->session.identity);
	{
		Client	   *again = new_client("{\"sub\":\"bob\",\"labels\":[\"vip\"]}");

		clients[2]->session.identity = again->session.identity;
		free(again);
	}
	fanout_add(f, clients[2]);
	check_publish(&g, "[\"label:vip\"]", "server bob");
	check_publish(&g, "[\"team:t1\"]", "server");

	for (int i = 0; i < 5; i++)
		free_client(f, clients[i]);
	CHECK(fanout_nroles(f) == 0);
	buf_free(&g.out);
	fanout_destroy(f);
}

static void
count(void *arg, Client *c, RelayEvent *ev)
{
	(*(int *) arg)++;
}

/* Enough roles and members to make the role table grow. */
static void
test_many(void)
{
	Fanout	   *f = fanout_create();
	Client	   *clients[2000];
	RelayEvent *ev = event_read_by("[\"user:u1234\",\"team:t7\"]");
	int			reached = 0;

	for (int i = 0; i < 2000; i++)
	{
		char		claims[64];

		snprintf(claims, sizeof(claims), "{\"sub\":\"u%d\",\"teams\":[\"t%d\"]}", i, i % 100);
		clients[i] = new_client(claims);
		fanout_add(f, clients[i]);
	}
	/* user:ID and user:ID/unverified each, users, users/unverified, 100 teams */
	CHECK(fanout_nroles(f) == 2000 * 2 + 2 + 100);
	fanout_publish(f, ev, count, &reached);
	CHECK(reached == 1 + 20);	/* u1234, and the 20 members of t7 */
	event_release(ev);
	for (int i = 0; i < 2000; i++)
		free_client(f, clients[i]);
	CHECK(fanout_nroles(f) == 0);
	fanout_destroy(f);
}

static void
test_expiry(void)
{
	Fanout	   *f = fanout_create();
	Client	   *c[6];
	int64_t		at[] = {500, 100, 300, 100, 900, 200};

	for (int i = 0; i < 6; i++)
	{
		c[i] = new_client(NULL);
		fanout_set_expiry(f, c[i], at[i]);
	}
	CHECK(fanout_next_expiry(f) == 100);
	fanout_set_expiry(f, c[2], 50);	/* moved earlier */
	fanout_set_expiry(f, c[4], -1);	/* no longer expires */
	CHECK(c[4]->expiry_slot == -1);
	CHECK(fanout_pop_expired(f, 49) == NULL);
	CHECK(fanout_pop_expired(f, 60) == c[2]);
	CHECK(fanout_pop_expired(f, 60) == NULL);
	{
		Client	   *a = fanout_pop_expired(f, 150);
		Client	   *b = fanout_pop_expired(f, 150);

		CHECK((a == c[1] && b == c[3]) || (a == c[3] && b == c[1]));
	}
	CHECK(fanout_pop_expired(f, 1000) == c[5]);
	CHECK(fanout_pop_expired(f, 1000) == c[0]);
	CHECK(fanout_pop_expired(f, 10000) == NULL && fanout_next_expiry(f) == -1);
	for (int i = 0; i < 6; i++)
		free_client(f, c[i]);
	fanout_destroy(f);
}

int
main(void)
{
	test_publish();
	test_many();
	test_expiry();
	return unit_summary("fanout");
}
