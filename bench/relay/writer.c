/*
 * writer.c - a steady stream of row inserts for the relay benchmark
 *
 * Inserts one row per transaction into public.ticks at a fixed rate (open
 * loop: the i-th insert is due at start + i/rate whatever the server did
 * before, so a slow commit is caught up, not forgotten).  The row's sent_us
 * column defaults to clock_timestamp() in microseconds: the time just before
 * the commit that the load client measures latency from.
 *
 *   writer -r RATE -t SECONDS [-b PAYLOAD_BYTES] [-T TABLE -P PERM [-m MOD]] CONNINFO
 *
 * With -T and -P the rows go to TABLE (which has a perms text[] column)
 * with the permission PERM, whose %d is replaced by i % MOD for the i-th
 * row: -P 'read("user:u%d")' -m 1000 makes each row readable by one of
 * 1,000 users in turn.
 *
 * Prints one "written ..." line of key=value results.
 */
#include <libpq-fe.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_until(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int
main(int argc, char **argv)
{
	double		rate = 100;
	double		secs = 10;
	int			payload_bytes = 64;
	int			opt;
	PGconn	   *conn;
	PGresult   *res;
	char	   *note;
	const char *params[2];
	int64_t		start,
				end,
				due;
	long		done = 0,
				failed = 0,
				late = 0;
	int64_t		worst_late_ns = 0;

	const char *table = NULL;
	const char *perm = NULL;
	int			mod = 1;
	char		perm_buf[256];

	while ((opt = getopt(argc, argv, "r:t:b:T:P:m:")) != -1)
	{
		switch (opt)
		{
			case 'r':
				rate = atof(optarg);
				break;
			case 't':
				secs = atof(optarg);
				break;
			case 'b':
				payload_bytes = atoi(optarg);
				break;
			case 'T':
				table = optarg;
				break;
			case 'P':
				perm = optarg;
				break;
			case 'm':
				mod = atoi(optarg);
				break;
			default:
				fprintf(stderr, "usage: writer -r RATE -t SECONDS [-b PAYLOAD_BYTES] CONNINFO\n");
				return 2;
		}
	}
	if (optind != argc - 1 || rate <= 0 || secs <= 0 || payload_bytes < 0 || mod < 1 ||
		(table == NULL) != (perm == NULL))
	{
		fprintf(stderr, "usage: writer -r RATE -t SECONDS [-b PAYLOAD_BYTES] CONNINFO\n");
		return 2;
	}
	conn = PQconnectdb(argv[optind]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "writer: %s", PQerrorMessage(conn));
		return 1;
	}
	if (table)
	{
		char		sql[256];

		snprintf(sql, sizeof(sql), "INSERT INTO %s (note, perms) VALUES ($1, ARRAY[$2])", table);
		res = PQprepare(conn, "tick", sql, 2, NULL);
	}
	else
		res = PQprepare(conn, "tick", "INSERT INTO public.ticks (note) VALUES ($1)", 1, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "writer: prepare: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	note = malloc(payload_bytes + 1);
	memset(note, 'x', payload_bytes);
	note[payload_bytes] = '\0';
	params[0] = note;

	start = now_ns();
	end = start + (int64_t) (secs * 1e9);
	for (long i = 0;; i++)
	{
		int64_t		t;

		due = start + (int64_t) (i * 1e9 / rate);
		if (due >= end)
			break;
		t = now_ns();
		if (t < due)
			sleep_until(due);
		else if (t - due > 1000000)
		{
			late++;
			if (t - due > worst_late_ns)
				worst_late_ns = t - due;
		}
		if (perm)
		{
			snprintf(perm_buf, sizeof(perm_buf), perm, (int) (i % mod));
			params[1] = perm_buf;
		}
		res = PQexecPrepared(conn, "tick", perm ? 2 : 1, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			done++;
		else
		{
			if (failed++ == 0)
				fprintf(stderr, "writer: insert: %s", PQerrorMessage(conn));
		}
		PQclear(res);
	}
	end = now_ns();
	printf("written n=%ld failed=%ld secs=%.3f rate=%.1f target=%.1f late=%ld worst_late_ms=%.3f\n",
		   done, failed, (end - start) / 1e9, done / ((end - start) / 1e9), rate, late,
		   worst_late_ns / 1e6);
	PQfinish(conn);
	free(note);
	return failed > 0;
}
