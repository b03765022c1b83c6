/*
 * peers_test.c - token buckets (ratelimit.c) and the table of client
 * addresses (peers.c)
 */
#include "unit.h"
#include "peers.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void
test_bucket(void)
{
	RateLimit	rl = {0};
	LogLimit	ll = {{0}, 0};
	int			taken = 0;
	uint32_t	suppressed = 99;

	/* full at first: 60 at once, then one a second */
	for (int i = 0; i < 100; i++)
		taken += ratelimit_take(&rl, 60, 1000);
	CHECK(taken == 60);
	CHECK(!ratelimit_take(&rl, 60, 1500));
	CHECK(ratelimit_take(&rl, 60, 2000));
	CHECK(!ratelimit_take(&rl, 60, 2000));
	/* an idle minute fills it again, no further */
	taken = 0;
	for (int i = 0; i < 100; i++)
		taken += ratelimit_take(&rl, 60, 600000);
	CHECK(taken == 60);
	/* 0 means no limit */
	for (int i = 0; i < 1000; i++)
		CHECK(ratelimit_take(&rl, 0, 600000));

	/* log lines: what was held back is counted and reported with the next line */
	CHECK(ratelimit_log_ok(&ll, 2, 1000, &suppressed) && suppressed == 0);
	CHECK(ratelimit_log_ok(&ll, 2, 1000, &suppressed) && suppressed == 0);
	for (int i = 0; i < 7; i++)
		CHECK(!ratelimit_log_ok(&ll, 2, 1000, &suppressed));
	CHECK(ratelimit_log_ok(&ll, 2, 31000, &suppressed) && suppressed == 7);
	CHECK(!ratelimit_log_ok(&ll, 2, 31000, &suppressed));
}

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':'))
	{
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *) &ss)->sin6_addr);
	}
	else
	{
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, text, &((struct sockaddr_in *) &ss)->sin_addr);
	}
	return ss;
}

static Peer *
get(Peers *p, const char *text)
{
	struct sockaddr_storage ss = addr(text);

	return peers_get(p, &ss);
}

static void
test_table(void)
{
	Peers		p;
	Peer	   *a;
	Peer	   *keep[64];
	struct sockaddr_storage unix_addr;

	peers_init(&p, 64);
	a = get(&p, "10.0.0.1");
	CHECK(a != NULL && a == get(&p, "10.0.0.1"));
	CHECK(get(&p, "10.0.0.2") != a);
	/* IPv6: one entry per /64; an IPv4-mapped address is that IPv4 address */
	CHECK(get(&p, "2001:db8:1:2::1") == get(&p, "2001:db8:1:2:ffff::7"));
	CHECK(get(&p, "2001:db8:1:2::1") != get(&p, "2001:db8:1:3::1"));
	CHECK(get(&p, "::ffff:10.0.0.1") == a);
	memset(&unix_addr, 0, sizeof(unix_addr));
	unix_addr.ss_family = AF_UNIX;
	CHECK(peers_get(&p, &unix_addr) == NULL);

	/* a full table evicts the least recently used address without connections */
	peers_opened(&p, a);
	for (int i = 0; i < 200; i++)
	{
		char		text[32];

		snprintf(text, sizeof(text), "192.168.%d.%d", i / 256, i % 256);
		CHECK(get(&p, text) != NULL);
	}
	CHECK(p.count == 64);
	CHECK(get(&p, "10.0.0.1") == a && a->nconn == 1);	/* kept: it has a connection */

	/* every entry with a connection: a new address gets none, nobody is refused */
	for (int i = 0; i < 63; i++)
	{
		char		text[32];

		snprintf(text, sizeof(text), "172.16.0.%d", i);
		keep[i] = get(&p, text);
		CHECK(keep[i] != NULL);
		peers_opened(&p, keep[i]);
	}
	CHECK(get(&p, "172.16.1.1") == NULL);
	peers_closed(&p, keep[5]);
	CHECK(get(&p, "172.16.1.1") != NULL);	/* took keep[5]'s place */
	CHECK(p.count == 64);
	peers_free(&p);
}

int
main(void)
{
	test_bucket();
	test_table();
	return unit_summary("peers");
}
