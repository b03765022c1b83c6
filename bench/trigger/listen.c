/*
 * listen.c - the benchmark's notification consumer: LISTEN and count
 *
 *   listen CONNINFO CHANNEL...
 *
 * LISTENs on every CHANNEL and drains notifications as they arrive, so the
 * NOTIFY queue never backs up during a run (a listener that stops reading
 * holds the queue tail).  On NOTIFY bench_done it prints one line per
 * channel, "channel notifications bytes", and exits; notifications arrive in
 * commit order, so by then every earlier one has been counted.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define LISTEN_MAX_CHANNELS 16

typedef struct ListenCount
{
	const char *channel;
	long long	notifications;
	long long	bytes;
} ListenCount;

/* Run a command that returns no rows; exit on failure. */
static void
listen_exec(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "listen: %s: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	PQclear(res);
}

int
main(int argc, char **argv)
{
	ListenCount counts[LISTEN_MAX_CHANNELS];
	int			ncounts = argc - 2;
	PGconn	   *conn;
	char		sql[256];
	int			i;

	if (argc < 3 || ncounts > LISTEN_MAX_CHANNELS)
	{
		fprintf(stderr, "usage: listen CONNINFO CHANNEL... (at most %d)\n", LISTEN_MAX_CHANNELS);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "listen: %s", PQerrorMessage(conn));
		return 1;
	}
	for (i = 0; i < ncounts; i++)
	{
		counts[i] = (ListenCount) {argv[i + 2], 0, 0};
		snprintf(sql, sizeof(sql), "LISTEN \"%s\"", argv[i + 2]);
		listen_exec(conn, sql);
	}
	listen_exec(conn, "LISTEN bench_done");
	/* the script waits for this line before it starts writing */
	printf("listening\n");
	fflush(stdout);

	for (;;)
	{
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		PGnotify   *n;

		if (poll(&pfd, 1, -1) < 0)
			continue;			/* EINTR */
		if (!PQconsumeInput(conn))
		{
			fprintf(stderr, "listen: %s", PQerrorMessage(conn));
			return 1;
		}
		while ((n = PQnotifies(conn)) != NULL)
		{
			if (strcmp(n->relname, "bench_done") == 0)
			{
				for (i = 0; i < ncounts; i++)
					printf("%s %lld %lld\n", counts[i].channel,
						   counts[i].notifications, counts[i].bytes);
				PQfreemem(n);
				PQfinish(conn);
				return 0;
			}
			for (i = 0; i < ncounts; i++)
				if (strcmp(n->relname, counts[i].channel) == 0)
				{
					counts[i].notifications++;
					counts[i].bytes += strlen(n->extra);
				}
			PQfreemem(n);
		}
	}
}
