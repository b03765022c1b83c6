/*
 * wsload.c - WebSocket subscriber load for the relay benchmark
 *
 * Opens many Appwrite-realtime WebSocket connections from one epoll loop,
 * pings each every 20 s like the SDK, reads the event frames and records
 * commit-to-receipt latency from the "sent_us" the writer put in each row
 * (microseconds since the epoch, CLOCK_REALTIME on the same machine).
 * Events stamped before the current window began are counted apart as
 * "stale", so a backlog from one phase does not pass for the next's.
 *
 *   wsload -p PORT [-H 127.0.0.1] [-c CONNS] [-u PATH] [-s SOURCES] [-A TOKENS]
 *
 * With -A, connection i sends line i of the file TOKENS as its
 * "Authorization: Bearer" token (one user per connection).
 *
 * With -z it offers permessage-deflate (RFC 7692) and inflates compressed
 * messages, counting both their wire bytes ("wire_bytes") and inflated
 * bytes ("bytes"); the relay's answer server_no_context_takeover lets one
 * inflater, reset per message, serve every connection.  With -n as well it
 * does not inflate: every compressed message counts as an event (the relay
 * compresses only events), without latency, so that the load client costs
 * no more than with plain frames.
 *
 * Prints "ready ..." once every connection got "connected" (or failed).
 * SIGUSR1 prints a "window ..." line of key=value statistics since the last
 * one and starts a new window; SIGUSR2 prints a "progress ..." line (events
 * so far in the window) without resetting; SIGTERM/SIGINT prints a last
 * window and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SCRATCH_SIZE (256 * 1024)
#define MAX_HANDSHAKES_IN_FLIGHT 256
#define PING_INTERVAL_US (20 * 1000000LL)
#define SIGNAL_TAG UINT64_MAX

/* Latency histogram: exact below 1024 us, then 512 sub-buckets per octave. */
#define HIST_LINEAR 1024
#define HIST_SUB_BITS 9
#define HIST_OCTAVES 30
#define HIST_SIZE (HIST_LINEAR + HIST_OCTAVES * (1 << HIST_SUB_BITS))

typedef enum ConnState
{
	CONN_IDLE,					/* not opened yet */
	CONN_CONNECTING,			/* TCP connect in progress */
	CONN_HANDSHAKE,				/* request sent, reading the 101 head */
	CONN_UPGRADED,				/* 101 received, waiting for "connected" */
	CONN_OPEN,					/* "connected" received */
	CONN_DEAD					/* closed, by us or the server */
} ConnState;

typedef struct Conn
{
	int			fd;
	ConnState	state;
	char	   *in;				/* unparsed input: a partial frame or head */
	uint32_t	in_len;
	uint32_t	in_cap;
	char	   *frag;			/* fragmented message so far */
	uint32_t	frag_len;
	uint32_t	frag_cap;
	bool		frag_compressed;	/* RSV1 on the fragmented message's first frame */
	uint32_t	frag_wire;		/* its frames' bytes on the wire */
	char	   *out;			/* bytes the socket did not take yet */
	uint32_t	out_len;
	int64_t		next_ping_us;
} Conn;

typedef struct Window
{
	int64_t		start_us;
	uint64_t	events;			/* event frames received */
	uint64_t	stamped;		/* ... carrying a sent_us */
	uint64_t	bytes;			/* bytes of event messages (inflated) */
	uint64_t	wire_bytes;		/* their frames' bytes on the wire */
	uint64_t	pongs;
	uint64_t	errors;			/* "error" messages */
	uint64_t	other;
	uint64_t	closes;			/* connections lost */
	int64_t		first_recv_us;
	int64_t		last_recv_us;
	int64_t		min_sent_us;
	int64_t		max_sent_us;
	int64_t		max_lat_us;
	uint64_t	neg_lat;		/* receipt before stamp: clock trouble */
	uint64_t	stale;			/* stamped before the window: not counted */
	uint32_t	hist[HIST_SIZE];
} Window;

/*
 * Per event (keyed by its sent_us): when the first and the last subscriber
 * got it, which splits latency into the way to the relay and back (first)
 * and the relay's fan-out (last - first).
 */
#define SPAN_SLOTS (1 << 18)
typedef struct EventSpan
{
	int64_t		sent_us;		/* 0: free slot */
	int64_t		first_us;
	int64_t		last_us;
} EventSpan;

static EventSpan *spans;
static int	nspans;

static Conn *conns;
static int	nconns = 1000;
static int	nopened = 0;
static int	in_flight = 0;
static int	nready = 0;			/* got "connected" */
static int	nfailed = 0;
static bool ready_printed = false;
static int	epfd;
static struct sockaddr_in server_addr;
static int	nsources = 1;
static const char *host = "127.0.0.1";
static int	port = 0;
static const char *path = "/v1/realtime?project=bench&channels[]=documents";
static char *request;
static size_t request_len;
static char **tokens;			/* -A: one per connection, or NULL */
static int	ntokens;
static char *scratch;
static Window win;
static int64_t start_us;
static bool verbose = false;
static bool deflate_offer = false;	/* -z */
static bool no_inflate = false;	/* -n */
static z_stream inflater;
static char *inflated;
static size_t inflated_cap;

static const unsigned char ping_payload[] = "{\"type\":\"ping\"}";

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
	{
		fprintf(stderr, "wsload: out of memory\n");
		exit(1);
	}
	return p;
}

/* Index of a latency in the histogram. */
static int
hist_index(int64_t v)
{
	int			octave;

	if (v < HIST_LINEAR)
		return (int) (v < 0 ? 0 : v);
	octave = 63 - __builtin_clzll((uint64_t) v);	/* >= 10 */
	if (octave - 10 >= HIST_OCTAVES)
		return HIST_SIZE - 1;
	return HIST_LINEAR + (octave - 10) * (1 << HIST_SUB_BITS)
		+ (int) ((v >> (octave - HIST_SUB_BITS)) & ((1 << HIST_SUB_BITS) - 1));
}

/* Lower bound of a histogram bucket, in microseconds. */
static int64_t
hist_value(int i)
{
	int			octave,
				sub;

	if (i < HIST_LINEAR)
		return i;
	octave = (i - HIST_LINEAR) / (1 << HIST_SUB_BITS) + 10;
	sub = (i - HIST_LINEAR) % (1 << HIST_SUB_BITS);
	return ((int64_t) 1 << octave) + ((int64_t) sub << (octave - HIST_SUB_BITS));
}

/* The latency at quantile q of the window, in microseconds. */
static int64_t
hist_quantile(const Window *w, double q)
{
	uint64_t	target = (uint64_t) (q * (double) w->stamped + 0.5);
	uint64_t	seen = 0;

	if (w->stamped == 0)
		return -1;
	if (target < 1)
		target = 1;
	for (int i = 0; i < HIST_SIZE; i++)
	{
		seen += w->hist[i];
		if (seen >= target)
			return hist_value(i);
	}
	return w->max_lat_us;
}

/* Note one receipt of the event stamped sent_us. */
static void
span_note(int64_t sent_us, int64_t recv_us)
{
	uint32_t	h = (uint32_t) ((uint64_t) sent_us * 0x9E3779B97F4A7C15ULL >> 46);

	for (;; h = (h + 1) & (SPAN_SLOTS - 1))
	{
		EventSpan  *e = &spans[h];

		if (e->sent_us == sent_us)
		{
			if (recv_us < e->first_us)
				e->first_us = recv_us;
			if (recv_us > e->last_us)
				e->last_us = recv_us;
			return;
		}
		if (e->sent_us == 0)
		{
			if (nspans >= SPAN_SLOTS / 2)
				return;			/* full enough: stop tracking */
			e->sent_us = sent_us;
			e->first_us = e->last_us = recv_us;
			nspans++;
			return;
		}
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a,
				y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* p50 and p99 (ms) of first-receipt latency and of fan-out spread. */
static void
span_quantiles(double *first50, double *first99, double *spread50, double *spread99)
{
	int64_t    *first = malloc(sizeof(int64_t) * (nspans + 1));
	int64_t    *spread = malloc(sizeof(int64_t) * (nspans + 1));
	int			n = 0;

	for (int i = 0; i < SPAN_SLOTS; i++)
		if (spans[i].sent_us != 0)
		{
			first[n] = spans[i].first_us - spans[i].sent_us;
			spread[n] = spans[i].last_us - spans[i].first_us;
			n++;
		}
	*first50 = *first99 = *spread50 = *spread99 = -1;
	if (n > 0)
	{
		qsort(first, n, sizeof(int64_t), cmp_i64);
		qsort(spread, n, sizeof(int64_t), cmp_i64);
		*first50 = first[n / 2] / 1e3;
		*first99 = first[(int) (n * 0.99)] / 1e3;
		*spread50 = spread[n / 2] / 1e3;
		*spread99 = spread[(int) (n * 0.99)] / 1e3;
	}
	free(first);
	free(spread);
}

static void
window_reset(int64_t t)
{
	memset(spans, 0, sizeof(EventSpan) * SPAN_SLOTS);
	nspans = 0;
	memset(&win, 0, sizeof(win));
	win.start_us = t;
	win.min_sent_us = INT64_MAX;
}

static int
count_state(ConnState s)
{
	int			n = 0;

	for (int i = 0; i < nopened; i++)
		n += conns[i].state == s;
	return n;
}

/* Print the window's statistics as one key=value line and start anew. */
static void
window_print(const char *label)
{
	int64_t		t = now_us();
	double		secs = (t - win.start_us) / 1e6;
	double		span = win.events > 1 ? (win.last_recv_us - win.first_recv_us) / 1e6 : 0;
	double		first50,
				first99,
				spread50,
				spread99;

	span_quantiles(&first50, &first99, &spread50, &spread99);

	printf("%s secs=%.3f open=%d dead=%d events=%llu stamped=%llu bytes=%llu wire_bytes=%llu"
		   " deliveries_per_s=%.0f span_secs=%.3f span_rate=%.0f"
		   " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f"
		   " first_recv_us=%lld last_recv_us=%lld min_sent_us=%lld max_sent_us=%lld"
		   " pongs=%llu errors=%llu other=%llu closes=%llu neg_lat=%llu stale=%llu"
		   " distinct=%d first_p50_ms=%.3f first_p99_ms=%.3f spread_p50_ms=%.3f spread_p99_ms=%.3f\n",
		   label, secs, count_state(CONN_OPEN), count_state(CONN_DEAD),
		   (unsigned long long) win.events, (unsigned long long) win.stamped,
		   (unsigned long long) win.bytes, (unsigned long long) win.wire_bytes,
		   secs > 0 ? win.events / secs : 0, span, span > 0 ? win.events / span : 0,
		   hist_quantile(&win, 0.50) / 1e3, hist_quantile(&win, 0.99) / 1e3,
		   hist_quantile(&win, 0.999) / 1e3, win.max_lat_us / 1e3,
		   (long long) win.first_recv_us, (long long) win.last_recv_us,
		   (long long) (win.stamped ? win.min_sent_us : 0), (long long) win.max_sent_us,
		   (unsigned long long) win.pongs, (unsigned long long) win.errors,
		   (unsigned long long) win.other, (unsigned long long) win.closes,
		   (unsigned long long) win.neg_lat, (unsigned long long) win.stale,
		   nspans, first50, first99, spread50, spread99);
	fflush(stdout);
	window_reset(t);
}

static void
maybe_print_ready(void)
{
	if (!ready_printed && nready + nfailed >= nconns)
	{
		printf("ready connected=%d failed=%d secs=%.3f\n", nready, nfailed,
			   (now_us() - start_us) / 1e6);
		fflush(stdout);
		ready_printed = true;
	}
}

/* Close a connection; an RST (linger 0) so no TIME_WAIT piles up here. */
static void
conn_close(Conn *c, const char *why)
{
	struct linger lg = {1, 0};

	if (c->state == CONN_DEAD)
		return;
	if (verbose)
		fprintf(stderr, "wsload: conn %ld closed: %s\n", (long) (c - conns), why);
	if (c->state == CONN_OPEN)
		win.closes++;
	else
	{
		nfailed++;				/* never got "connected" */
		in_flight--;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->state = CONN_DEAD;
	free(c->in);
	free(c->frag);
	free(c->out);
	c->in = c->frag = c->out = NULL;
	c->in_len = c->in_cap = c->frag_len = c->frag_cap = c->out_len = 0;
	maybe_print_ready();
}

static void
conn_want_write(Conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u64 = c - conns};

	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write bytes, queueing what the socket does not take. */
static void
conn_send(Conn *c, const void *data, size_t len)
{
	ssize_t		n = 0;

	if (c->out_len == 0)
	{
		n = write(c->fd, data, len);
		if (n < 0)
		{
			if (errno != EAGAIN)
			{
				conn_close(c, strerror(errno));
				return;
			}
			n = 0;
		}
		if ((size_t) n == len)
			return;
		conn_want_write(c, true);
	}
	c->out = xrealloc(c->out, c->out_len + len - n);
	memcpy(c->out + c->out_len, (const char *) data + n, len - n);
	c->out_len += len - n;
}

static void
conn_flush(Conn *c)
{
	ssize_t		n = write(c->fd, c->out, c->out_len);

	if (n < 0)
	{
		if (errno != EAGAIN)
			conn_close(c, strerror(errno));
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
	if (c->out_len == 0)
		conn_want_write(c, false);
}

/* A masked client frame (RFC 6455 5.3), payload shorter than 126 bytes. */
static void
conn_send_frame(Conn *c, int opcode, const unsigned char *payload, size_t len)
{
	unsigned char frame[6 + 125];
	uint32_t	key = (uint32_t) random();

	frame[0] = 0x80 | opcode;
	frame[1] = 0x80 | (unsigned char) len;
	memcpy(frame + 2, &key, 4);
	for (size_t i = 0; i < len; i++)
		frame[6 + i] = payload[i] ^ frame[2 + (i & 3)];
	conn_send(c, frame, 6 + len);
}

/* Start the TCP connection of the next unopened slot. */
static void
conn_open_next(void)
{
	Conn	   *c = &conns[nopened];
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = nopened};
	int			one = 1;

	nopened++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
	{
		fprintf(stderr, "wsload: socket: %s\n", strerror(errno));
		c->state = CONN_DEAD;
		nfailed++;
		maybe_print_ready();
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nsources > 1)
	{
		/* spread source addresses over 127.0.0.2.. so ports never run out */
		struct sockaddr_in src = {.sin_family = AF_INET};

		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f000002 + (nopened % nsources));
		if (bind(c->fd, (struct sockaddr *) &src, sizeof(src)) < 0 && verbose)
			fprintf(stderr, "wsload: bind: %s\n", strerror(errno));
	}
	in_flight++;
	c->state = CONN_CONNECTING;
	if (connect(c->fd, (struct sockaddr *) &server_addr, sizeof(server_addr)) < 0
		&& errno != EINPROGRESS)
	{
		close(c->fd);
		c->state = CONN_DEAD;
		in_flight--;
		nfailed++;
		if (verbose)
			fprintf(stderr, "wsload: connect: %s\n", strerror(errno));
		maybe_print_ready();
		return;
	}
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Keep up to MAX_HANDSHAKES_IN_FLIGHT connections being set up. */
static void
open_more(void)
{
	while (nopened < nconns && in_flight < MAX_HANDSHAKES_IN_FLIGHT)
		conn_open_next();
}

/* Find "key": in a message and parse the integer after it (quoted or not). */
static bool
find_int(const char *msg, size_t len, const char *key, size_t keylen, int64_t *out)
{
	const char *p = memmem(msg, len, key, keylen);
	const char *end = msg + len;
	int64_t		v = 0;
	bool		any = false;

	if (p == NULL)
		return false;
	p += keylen;
	while (p < end && (*p == ' ' || *p == '"'))
		p++;
	while (p < end && *p >= '0' && *p <= '9')
	{
		v = v * 10 + (*p++ - '0');
		any = true;
	}
	*out = v;
	return any;
}

/* One complete text message from the server. */
static void
handle_message(Conn *c, const char *msg, size_t len, int64_t recv_us, size_t wire)
{
	static const char type_key[] = "\"type\":\"";
	const char *t = memmem(msg, len < 64 ? len : 64, type_key, sizeof(type_key) - 1);
	int64_t		sent;

	if (t == NULL)
	{
		win.other++;
		return;
	}
	t += sizeof(type_key) - 1;
	len -= t - msg;
	if (len >= 6 && memcmp(t, "event\"", 6) == 0)
	{
		bool		stamped = find_int(t, len, "\"sent_us\":", 10, &sent);

		if (stamped && sent < win.start_us)
		{
			/* a backlog from before the window: keep windows apart */
			win.stale++;
			return;
		}
		win.events++;
		win.bytes += len + (t - msg);
		win.wire_bytes += wire;
		if (win.first_recv_us == 0)
			win.first_recv_us = recv_us;
		win.last_recv_us = recv_us;
		if (stamped)
		{
			int64_t		lat = recv_us - sent;

			win.stamped++;
			if (lat < 0)
			{
				win.neg_lat++;
				lat = 0;
			}
			win.hist[hist_index(lat)]++;
			span_note(sent, recv_us);
			if (lat > win.max_lat_us)
				win.max_lat_us = lat;
			if (sent < win.min_sent_us)
				win.min_sent_us = sent;
			if (sent > win.max_sent_us)
				win.max_sent_us = sent;
		}
	}
	else if (len >= 5 && memcmp(t, "pong\"", 5) == 0)
		win.pongs++;
	else if (len >= 10 && memcmp(t, "connected\"", 10) == 0)
	{
		if (c->state == CONN_UPGRADED)
		{
			c->state = CONN_OPEN;
			in_flight--;
			nready++;
			c->next_ping_us = recv_us + PING_INTERVAL_US;
			maybe_print_ready();
		}
	}
	else if (len >= 6 && memcmp(t, "error\"", 6) == 0)
	{
		win.errors++;
		if (verbose)
			fprintf(stderr, "wsload: error message: %.*s\n", (int) (len + (t - msg)), msg);
	}
	else
		win.other++;
}

/* A compressed message (RFC 7692 7.2.2): inflated into the shared buffer. */
static void
handle_compressed(Conn *c, const char *msg, size_t len, int64_t recv_us, size_t wire)
{
	static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
	size_t		out = 0;
	int			rc = Z_OK;

	if (no_inflate)
	{
		win.events++;
		win.wire_bytes += wire;
		if (win.first_recv_us == 0)
			win.first_recv_us = recv_us;
		win.last_recv_us = recv_us;
		return;
	}
	inflateReset(&inflater);
	for (int part = 0; part < 2 && rc == Z_OK; part++)
	{
		inflater.next_in = part == 0 ? (unsigned char *) msg : (unsigned char *) tail;
		inflater.avail_in = part == 0 ? (uInt) len : 4;
		do
		{
			if (inflated_cap - out < 65536)
			{
				inflated_cap = inflated_cap * 2 + 65536;
				inflated = xrealloc(inflated, inflated_cap);
			}
			inflater.next_out = (unsigned char *) inflated + out;
			inflater.avail_out = (uInt) (inflated_cap - out);
			rc = inflate(&inflater, Z_SYNC_FLUSH);
			out = inflated_cap - inflater.avail_out;
		} while (rc == Z_OK && inflater.avail_out == 0);
		if (rc == Z_BUF_ERROR)
			rc = Z_OK;
	}
	if (rc != Z_OK && rc != Z_STREAM_END)
	{
		conn_close(c, "invalid compressed message");
		return;
	}
	handle_message(c, inflated, out, recv_us, wire);
}

/*
 * Parse as many whole frames as buf holds; returns the bytes consumed, or -1
 * after closing the connection.
 */
static ssize_t
parse_frames(Conn *c, const char *buf, size_t len, int64_t recv_us)
{
	size_t		pos = 0;

	while (len - pos >= 2)
	{
		const unsigned char *h = (const unsigned char *) buf + pos;
		int			fin = h[0] & 0x80;
		bool		rsv1 = (h[0] & 0x40) != 0;
		int			opcode = h[0] & 0x0f;
		int			masked = h[1] & 0x80;
		uint64_t	plen = h[1] & 0x7f;
		size_t		hlen = 2;
		const char *payload;

		if (plen == 126)
		{
			if (len - pos < 4)
				break;
			plen = ((uint64_t) h[2] << 8) | h[3];
			hlen = 4;
		}
		else if (plen == 127)
		{
			if (len - pos < 10)
				break;
			plen = 0;
			for (int i = 2; i < 10; i++)
				plen = (plen << 8) | h[i];
			hlen = 10;
		}
		if (masked)
			hlen += 4;			/* servers must not mask; tolerate it */
		if (plen > (1u << 30))
		{
			conn_close(c, "frame too large");
			return -1;
		}
		if (len - pos < hlen + plen)
			break;
		payload = buf + pos + hlen;
		if (masked)
		{
			/* unmask in place: the bytes are ours (scratch or c->in) */
			char	   *p = (char *) payload;

			for (uint64_t i = 0; i < plen; i++)
				p[i] ^= h[hlen - 4 + (i & 3)];
		}
		pos += hlen + plen;

		switch (opcode)
		{
			case 0x0:
			case 0x1:
			case 0x2:
				if (fin && opcode != 0 && c->frag_len == 0)
				{
					if (rsv1)
						handle_compressed(c, payload, plen, recv_us, hlen + plen);
					else
						handle_message(c, payload, plen, recv_us, hlen + plen);
					break;
				}
				if (opcode != 0)
				{
					c->frag_compressed = rsv1;
					c->frag_wire = 0;
				}
				c->frag_wire += hlen + plen;
				/* a fragment: gather until FIN */
				if (c->frag_len + plen > c->frag_cap)
				{
					c->frag_cap = c->frag_len + plen + 1024;
					c->frag = xrealloc(c->frag, c->frag_cap);
				}
				memcpy(c->frag + c->frag_len, payload, plen);
				c->frag_len += plen;
				if (fin)
				{
					if (c->frag_compressed)
						handle_compressed(c, c->frag, c->frag_len, recv_us, c->frag_wire);
					else
						handle_message(c, c->frag, c->frag_len, recv_us, c->frag_wire);
					c->frag_len = 0;
				}
				break;
			case 0x8:
				conn_close(c, "close frame from server");
				return -1;
			case 0x9:
				if (plen <= 125)
					conn_send_frame(c, 0xA, (const unsigned char *) payload, plen);
				break;
			case 0xA:
				break;
			default:
				conn_close(c, "unknown opcode");
				return -1;
		}
		if (c->state == CONN_DEAD)
			return -1;
	}
	return pos;
}

/* Bytes after the HTTP head: check for "101", then frames follow. */
static ssize_t
parse_head(Conn *c, const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);

	if (end == NULL)
	{
		if (len > 8192)
		{
			conn_close(c, "response head too long");
			return -1;
		}
		return 0;
	}
	if (len < 12 || memcmp(buf + 9, "101", 3) != 0)
	{
		if (verbose)
			fprintf(stderr, "wsload: handshake refused: %.*s\n", (int) (end - buf), buf);
		conn_close(c, "handshake refused");
		return -1;
	}
	c->state = CONN_UPGRADED;
	return end + 4 - buf;
}

/* Consume input held in buf (scratch or the connection's own buffer). */
static ssize_t
consume(Conn *c, char *buf, size_t len, int64_t recv_us)
{
	size_t		pos = 0;
	ssize_t		n;

	if (c->state == CONN_HANDSHAKE)
	{
		n = parse_head(c, buf, len);
		if (n <= 0)
			return n;
		pos = n;
	}
	n = parse_frames(c, buf + pos, len - pos, recv_us);
	if (n < 0)
		return -1;
	return pos + n;
}

/* Read everything the socket has and handle whole frames. */
static void
conn_read(Conn *c)
{
	for (int rounds = 0; rounds < 16; rounds++)
	{
		ssize_t		n = read(c->fd, scratch, SCRATCH_SIZE);
		int64_t		t = now_us();
		ssize_t		used;

		if (n == 0)
		{
			conn_close(c, "server closed the connection");
			return;
		}
		if (n < 0)
		{
			if (errno != EAGAIN && errno != EINTR)
				conn_close(c, strerror(errno));
			return;
		}
		if (c->in_len == 0)
		{
			used = consume(c, scratch, n, t);
			if (used < 0)
				return;
			if (used < n)
			{
				if (c->in_cap < (uint32_t) (n - used))
				{
					c->in_cap = n - used + 4096;
					c->in = xrealloc(c->in, c->in_cap);
				}
				memcpy(c->in, scratch + used, n - used);
				c->in_len = n - used;
			}
		}
		else
		{
			if (c->in_len + n > c->in_cap)
			{
				c->in_cap = c->in_len + n + 4096;
				c->in = xrealloc(c->in, c->in_cap);
			}
			memcpy(c->in + c->in_len, scratch, n);
			c->in_len += n;
			used = consume(c, c->in, c->in_len, t);
			if (used < 0)
				return;
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
		}
		if (c->in_len == 0 && c->in_cap > 65536)
		{
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
		if (n < SCRATCH_SIZE)
			return;
	}
}

static void
conn_event(Conn *c, uint32_t events)
{
	if (c->state == CONN_CONNECTING)
	{
		int			err = 0;
		socklen_t	errlen = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &errlen);
		if (err != 0)
		{
			conn_close(c, strerror(err));
			return;
		}
		c->state = CONN_HANDSHAKE;
		conn_want_write(c, false);
		if (tokens)
		{
			/* the request with this connection's token before the blank line */
			char	   *r;
			int			n = asprintf(&r, "%.*sAuthorization: Bearer %s\r\n\r\n", (int) request_len - 2,
									request, tokens[(c - conns) % ntokens]);

			conn_send(c, r, n);
			free(r);
		}
		else
			conn_send(c, request, request_len);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
	if (c->state != CONN_DEAD && (events & EPOLLOUT) && c->out_len > 0)
		conn_flush(c);
}

/* Send the SDK's ping on every open connection whose 20 s are up. */
static void
send_pings(int64_t t)
{
	for (int i = 0; i < nopened; i++)
	{
		Conn	   *c = &conns[i];

		if (c->state == CONN_OPEN && t >= c->next_ping_us)
		{
			conn_send_frame(c, 0x1, ping_payload, sizeof(ping_payload) - 1);
			c->next_ping_us = t + PING_INTERVAL_US;
		}
	}
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: wsload -p PORT [-H HOST] [-c CONNS] [-u PATH] [-s SOURCES] [-A TOKENS] [-v] [-z [-n]]\n"
			"  -c  connections to open [1000]\n"
			"  -A  file of tokens, one per line: connection i authenticates with line i\n"
			"  -u  request path [/v1/realtime?project=bench&channels[]=documents]\n"
			"  -s  spread source addresses over 127.0.0.2..(1+SOURCES) [1: kernel's choice]\n"
			"SIGUSR1 prints a \"window\" statistics line and resets it; SIGUSR2 prints\n"
			"\"progress\" (events so far); SIGTERM prints a last window and exits.\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event *events;
	sigset_t	mask;
	int			sfd;
	int			opt;
	int64_t		next_ping_sweep = 0;
	struct epoll_event sev = {.events = EPOLLIN, .data.u64 = SIGNAL_TAG};

	while ((opt = getopt(argc, argv, "p:H:c:u:s:A:vzn")) != -1)
	{
		switch (opt)
		{
			case 'p':
				port = atoi(optarg);
				break;
			case 'H':
				host = optarg;
				break;
			case 'c':
				nconns = atoi(optarg);
				break;
			case 'u':
				path = optarg;
				break;
			case 's':
				nsources = atoi(optarg);
				break;
			case 'A':
				{
					FILE	   *f = fopen(optarg, "r");
					char	   *line = NULL;
					size_t		cap = 0;
					ssize_t		n;

					if (f == NULL)
					{
						perror(optarg);
						return 2;
					}
					while ((n = getline(&line, &cap, f)) > 0)
					{
						while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
							line[--n] = '\0';
						if (n == 0)
							continue;
						tokens = realloc(tokens, sizeof(char *) * (ntokens + 1));
						tokens[ntokens++] = strdup(line);
					}
					free(line);
					fclose(f);
					if (ntokens == 0)
						usage();
				}
				break;
			case 'v':
				verbose = true;
				break;
			case 'n':
				no_inflate = true;
				break;
			case 'z':
				deflate_offer = true;
				if (inflateInit2(&inflater, -15) != Z_OK)
				{
					fprintf(stderr, "wsload: inflateInit2 failed\n");
					return 1;
				}
				break;
			default:
				usage();
		}
	}
	if (port <= 0 || nconns <= 0 || nsources <= 0)
		usage();

	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1)
	{
		fprintf(stderr, "wsload: bad IPv4 address \"%s\"\n", host);
		return 2;
	}
	/* a fixed key: the benchmark does not check Sec-WebSocket-Accept */
	request_len = asprintf(&request,
						   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
						   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
						   "Sec-WebSocket-Version: 13\r\n%s\r\n", path, host, port,
						   deflate_offer ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
	conns = calloc(nconns, sizeof(Conn));
	scratch = malloc(SCRATCH_SIZE);
	spans = calloc(SPAN_SLOTS, sizeof(EventSpan));
	events = calloc(4096, sizeof(*events));
	if (conns == NULL || scratch == NULL || events == NULL || spans == NULL)
	{
		fprintf(stderr, "wsload: out of memory\n");
		return 1;
	}
	srandom(getpid());

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &sev);

	start_us = now_us();
	window_reset(start_us);
	open_more();

	for (;;)
	{
		int			n = epoll_wait(epfd, events, 4096, 100);
		int64_t		t;

		for (int i = 0; i < n; i++)
		{
			if (events[i].data.u64 == SIGNAL_TAG)
			{
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
				{
					if (si.ssi_signo == SIGUSR1)
						window_print("window");
					else if (si.ssi_signo == SIGUSR2)
					{
						printf("progress events=%llu open=%d dead=%d\n",
							   (unsigned long long) win.events,
							   count_state(CONN_OPEN), count_state(CONN_DEAD));
						fflush(stdout);
					}
					else
					{
						window_print("final");
						return 0;
					}
				}
				continue;
			}
			conn_event(&conns[events[i].data.u64], events[i].events);
		}
		open_more();
		t = now_us();
		if (t >= next_ping_sweep)
		{
			send_pings(t);
			next_ping_sweep = t + 250000;
		}
	}
}
