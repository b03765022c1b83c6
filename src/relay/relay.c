/*
 * relay.c - the relay: listening sockets, fan-out, deadlines, shutdown
 *
 * One loop turn: wait (until the nearest deadline at most), dispatch ready
 * descriptors, fire due deadlines, flush the clients that got output, free
 * the clients that died.  Deadlines live in four lists, one per client
 * state, and a fifth of the clients over the soft output limit, each
 * ordered by its base time because every member shares the list's timeout:
 * the nearest deadline is always a list head, so timers cost O(1) and the
 * wait needs no periodic tick.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* accept4, pipe2 (PGXS defines it too) */
#endif

#include "relay_int.h"
#include "auth.h"
#include "fanout.h"
#include "log.h"
#include "peers.h"
#include "settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_SIG_SHUTDOWN 'T'
#define RELAY_SIG_RELOAD 'H'
#define RELAY_ACCEPT_BATCH 64
#define RELAY_SHUTDOWN_GRACE_MS 2000

void
relay_config_defaults(RelayConfig *config)
{
	memset(config, 0, sizeof(*config));
	for (int i = 0; i < relay_nsettings; i++)
	{
		const RelaySetting *s = &relay_settings[i];
		void	   *field = relay_setting_field(config, s);

		switch (s->type)
		{
			case RELAY_SETTING_INT:
			case RELAY_SETTING_ENUM:
				*(int *) field = s->def;
				break;
			case RELAY_SETTING_BOOL:
				*(bool *) field = s->def != 0;
				break;
			case RELAY_SETTING_STRING:
				*(char **) field = relay_strdup(s->str_def);
				break;
		}
	}
	config->max_head_bytes = 8192;
}

void
relay_config_free(RelayConfig *config)
{
	for (int i = 0; i < relay_nsettings; i++)
		if (relay_settings[i].type == RELAY_SETTING_STRING)
			free(*(char **) relay_setting_field(config, &relay_settings[i]));
	for (int i = 0; i < config->nconninfo; i++)
		free(config->conninfo[i]);
	free(config->conninfo);
	memset(config, 0, sizeof(*config));
}

static void
relay_config_copy(RelayConfig *dst, const RelayConfig *src)
{
	*dst = *src;
	for (int i = 0; i < relay_nsettings; i++)
	{
		char	  **field = relay_setting_field(dst, &relay_settings[i]);

		if (relay_settings[i].type == RELAY_SETTING_STRING)
			*field = relay_strdup(*field ? *field : "");
	}
	dst->conninfo = relay_calloc(src->nconninfo ? src->nconninfo : 1, sizeof(char *));
	for (int i = 0; i < src->nconninfo; i++)
		dst->conninfo[i] = relay_strdup(src->conninfo[i]);
}

static void
relay_apply_limits(Relay *relay)
{
	relay->limits.max_subscriptions = relay->config.max_subscriptions;
	relay->limits.max_channels = 64;
	relay->limits.max_queries = 64;
	relay->limits.max_channel_bytes = relay->config.max_channel_bytes;
	relay->limits.max_query_values = relay->config.max_query_values;
	relay->limits.max_query_cost = relay->config.max_query_cost;
	relay->limits.max_connection_query_cost = relay->config.max_connection_query_cost;
	relay->limits.memory_budget = (size_t) relay->config.subscription_memory_kb * 1024;
	relay->limits.peer_memory_budget = (size_t) relay->config.max_subscription_memory_per_ip_kb * 1024;
	relay->limits.memory_used = &relay->subscription_bytes;
	relay->limits.project = relay->config.project;
}

/* ------------------------------------------------------------ listening */

static void relay_on_accept(Watch *w, uint32_t events);

static bool
relay_bind_one(Relay *relay, const char *host)
{
	struct addrinfo hints;
	struct addrinfo *res;
	char		port[16];
	int			rc;
	bool		any = false;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", relay->config.port);
	rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if (rc != 0)
	{
		relay_log(RLOG_WARNING, "could not resolve listen address \"%s\": %s", host, gai_strerror(rc));
		return false;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
	{
		int			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int			one = 1;
		char		name[64] = "?";
		Acceptor   *ls;

		if (fd < 0)
			continue;
		getnameinfo(ai->ai_addr, ai->ai_addrlen, name, sizeof(name), NULL, 0, NI_NUMERICHOST);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0)
		{
			relay_log(RLOG_WARNING, "could not listen on %s port %d: %s", name,
					  relay->config.port, strerror(errno));
			close(fd);
			continue;
		}
		ls = relay_calloc(1, sizeof(Acceptor));
		ls->relay = relay;
		if (!loop_add(&relay->loop, &ls->watch, fd, EPOLLIN, relay_on_accept))
		{
			close(fd);
			free(ls);
			continue;
		}
		relay->acceptors = relay_realloc(relay->acceptors, sizeof(Acceptor *) * (relay->nacceptors + 1));
		relay->acceptors[relay->nacceptors++] = ls;
		any = true;
		relay_log(RLOG_INFO, "listening on %s port %d", name, relay->config.port);
	}
	freeaddrinfo(res);
	return any;
}

/* Bind every address of listen_addresses; all must succeed. */
static bool
relay_bind(Relay *relay)
{
	char	   *list = relay_strdup(relay->config.listen_addresses);
	char	   *save = NULL;
	bool		ok = true;

	for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		if (!relay_bind_one(relay, tok))
			ok = false;
	free(list);
	return ok && relay->nacceptors > 0;
}

static void
relay_format_peer(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	char		host[INET6_ADDRSTRLEN] = "?";
	int			port = 0;

	if (ss->ss_family == AF_INET)
	{
		const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	}
	else if (ss->ss_family == AF_INET6)
	{
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(out, outsz, "%s:%d", host, port);
}

/* Answer 503 on a connection we will not serve, then close it. */
static void
relay_refuse(Relay *relay, int fd)
{
	static const char busy[] =
		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
		"Content-Length: 57\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
		"{\"message\":\"too many connections\",\"code\":503,\"type\":1013}";
	ssize_t		ignored;

	relay->stats.clients_refused++;
	ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void) ignored;
	close(fd);
}

/* Answer 429 to a connection over its address's limits, then close it. */
static void
relay_refuse_peer(Relay *relay, int fd, Peer *peer, const char *who, const char *message)
{
	char		reply[512];
	char		body[256];
	int			n = snprintf(body, sizeof(body), "{\"message\":\"%s\",\"code\":429,\"type\":1013}", message);
	ssize_t		ignored;
	uint32_t	suppressed = 0;

	relay->stats.clients_refused++;
	n = snprintf(reply, sizeof(reply), "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
				 "Content-Length: %d\r\nRetry-After: 60\r\nConnection: close\r\n\r\n%s", n, body);
	ignored = send(fd, reply, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void) ignored;
	close(fd);
	if (ratelimit_log_ok(&peer->log, relay->config.max_log_lines_per_minute, relay->loop.now_ms,
						 &suppressed))
		relay_log(RLOG_INFO, "client %s: refused: %s%s", who, message,
				  suppressed ? " (more lines about this address suppressed)" : "");
}

/*
 * Per-address limits: open connections and new connections per minute.
 * True if the connection may proceed (else it has been refused).
 */
static bool
relay_admit_peer(Relay *relay, int fd, Peer *peer, const char *who)
{
	if (peer == NULL)
		return true;			/* the table is full of live addresses: serve */
	if (relay->config.max_connections_per_ip > 0 && peer->nconn >= relay->config.max_connections_per_ip)
	{
		relay_refuse_peer(relay, fd, peer, who, "too many connections from this address");
		return false;
	}
	if (!ratelimit_take(&peer->connects, relay->config.max_connects_per_minute, relay->loop.now_ms))
	{
		relay_refuse_peer(relay, fd, peer, who, "too many new connections from this address; try again later");
		return false;
	}
	return true;
}

/*
 * Out of file descriptors: the connection stays in the backlog and epoll
 * reports the listen socket again at once, so the loop would spin.  Give up
 * the spare descriptor to take the connection off the backlog and refuse
 * it.  False if even that failed.
 */
static bool
relay_refuse_without_fd(Relay *relay, int listen_fd)
{
	int			fd;

	if (relay->spare_fd < 0)
		return false;
	close(relay->spare_fd);
	fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		relay_refuse(relay, fd);
	relay->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0;
}

/*
 * Accept what is pending (bounded per turn so a connection storm does not
 * starve established clients).  Over max_connections a client gets 503.
 */
static void
relay_on_accept(Watch *w, uint32_t events)
{
	Acceptor   *ls = (Acceptor *) w;
	Relay	   *relay = ls->relay;

	for (int i = 0; i < RELAY_ACCEPT_BATCH && !relay->shutdown_requested; i++)
	{
		struct sockaddr_storage ss;
		socklen_t	sslen = sizeof(ss);
		int			fd = accept4(w->fd, (struct sockaddr *) &ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		char		peer[64];
		int			one = 1;
		Peer	   *peer_entry;

		if (fd < 0)
		{
			if (errno == EMFILE || errno == ENFILE)
			{
				relay_log(RLOG_WARNING, "cannot accept connections: %s", strerror(errno));
				if (relay_refuse_without_fd(relay, w->fd))
					continue;
			}
			return;
		}
		relay_format_peer(&ss, peer, sizeof(peer));
		peer_entry = peers_get(relay->peers, &ss);
		if (!relay_admit_peer(relay, fd, peer_entry, peer))
			continue;
		if (relay->nclients - relay->ndead >= relay->config.max_connections)
		{
			/*
			 * Full.  Half-open requests must not lock everyone out: the
			 * oldest connection still sending its request head gives way.
			 */
			if (dlist_empty(&relay->timers_http))
			{
				relay_refuse(relay, fd);
				continue;
			}
			client_kill(dlist_container(Client, timer_node, relay->timers_http.next),
						"request head not complete while the relay is full; dropped for a new connection");
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (client_accept(relay, fd, peer, peer_entry))
			relay->stats.clients_accepted++;
	}
}

/* -------------------------------------------------------- replay window */

/* replay_trim() callback: tell the event's source it left the window. */
static void
relay_on_evict(void *arg, RelayEvent *ev)
{
	if (ev->source)
		walsource_on_window(ev->source, ev, false);
}

static bool
relay_window_enabled(Relay *relay)
{
	return relay->config.replay_events > 0 && relay->config.replay_bytes_kb > 0 &&
		relay->config.replay_window_s > 0;
}

/* Drop what the window's bounds no longer allow. */
static void
relay_trim_window(Relay *relay)
{
	bool		on = relay_window_enabled(relay);

	replay_trim(&relay->window, on ? (size_t) relay->config.replay_events : 0,
				on ? (size_t) relay->config.replay_bytes_kb * 1024 : 0,
				(int64_t) relay->config.replay_window_s * 1000, event_now_ms(),
				relay_on_evict, relay);
}

/* Monotonic time at which the oldest kept event gets too old, or -1. */
static int64_t
relay_window_deadline(Relay *relay, int64_t now_mono)
{
	const RelayEvent *oldest = replay_get(&relay->window, relay->window.base);
	int64_t		age_left;

	if (oldest == NULL)
		return -1;
	age_left = oldest->time_ms + (int64_t) relay->config.replay_window_s * 1000 - event_now_ms();
	/* one turn later at least: a commit time from the future must not spin the loop */
	return now_mono + (age_left > 0 ? age_left : 0) + 1;
}

/* The kind of position this relay's transport gives. */
static RelayPosKind
relay_pos_kind(Relay *relay)
{
	return relay->config.transport == RELAY_TRANSPORT_WAL ? RELAY_POS_WAL : RELAY_POS_COUNTER;
}

/* The position after which this relay's stream is complete from now on. */
static RelayPos
relay_current_pos(Relay *relay)
{
	RelayPos	pos = relay->window.newest;

	if (pos.kind != relay_pos_kind(relay) ||
		(relay->window.floor.kind == pos.kind && relay_pos_cmp(pos, relay->window.floor) < 0))
		pos = relay->window.floor;
	return pos;
}

void
relay_resume(Relay *relay, Client *c, const RelayPos *since)
{
	RelayPosKind kind = relay_pos_kind(relay);
	RelayPos	floor = relay->window.floor;

	c->resume_pending = false;
	/*
	 * Not a position of this stream (another transport, garbage, a counter
	 * of another relay process): anything may have been missed.
	 */
	if (since == NULL || since->kind != kind ||
		(kind == RELAY_POS_COUNTER && since->major > relay->next_event_id))
	{
		client_send_gap(c, relay_current_pos(relay));
		return;
	}
	c->has_resume = true;
	c->resume_after = *since;
	if (floor.kind == kind && relay_pos_cmp(*since, floor) < 0)
		client_send_gap(c, floor);
	c->catching_up = true;
	c->replay_next = relay->window.base;
	relay_replay_continue(relay, c);
}

void
relay_replay_continue(Relay *relay, Client *c)
{
	size_t		half = (size_t) relay->config.max_client_output_kb * 512;

	while (c->catching_up && (c->state == CLIENT_WEBSOCKET || c->state == CLIENT_SSE))
	{
		RelayEvent *ev;

		if (c->replay_next < relay->window.base)
		{
			/* the window moved past what this client had still to get */
			client_send_gap(c, relay->window.floor);
			c->replay_next = relay->window.base;
			continue;
		}
		ev = replay_get(&relay->window, c->replay_next);
		if (ev == NULL)
		{
			c->catching_up = false;
			break;
		}
		/* paced: the rest when the client has read this (one event always fits) */
		if (c->out_head != NULL && c->out_bytes + ev->body_len + 512 > half)
			break;
		c->replay_next++;
		if (auth_may_read(c->session.identity, ev) && client_deliver(c, ev, &relay->scratch))
			relay->stats.deliveries++;
	}
}

void
relay_raise_floor(Relay *relay, RelayPos pos)
{
	bool		first = relay->window.floor.kind != pos.kind;
	DNode	   *node;

	replay_raise_floor(&relay->window, pos);
	if (!first)
		return;
	/* clients that resumed before the stream's start was known */
	for (node = relay->deliverable.next; node != &relay->deliverable; node = node->next)
	{
		Client	   *c = dlist_container(Client, deliver_node, node);

		if (c->has_resume && c->resume_after.kind == pos.kind &&
			relay_pos_cmp(c->resume_after, pos) < 0)
			client_send_gap(c, pos);
	}
}

void
relay_signal_gap(Relay *relay)
{
	DNode	   *node;
	RelayPos	hole = {++relay->next_event_id, 0, RELAY_POS_COUNTER};

	/* a position no event has: resuming from before it gets the gap */
	replay_raise_floor(&relay->window, hole);
	for (node = relay->deliverable.next; node != &relay->deliverable;)
	{
		Client	   *c = dlist_container(Client, deliver_node, node);

		node = node->next;		/* c may leave the list (cut off) */
		client_send_gap(c, hole);
	}
}

/* --------------------------------------------------------------- timers */

static DNode *
relay_timer_list(Relay *relay, ClientState state, int *timeout_ms)
{
	switch (state)
	{
		case CLIENT_HTTP:
			*timeout_ms = relay->config.handshake_timeout_ms;
			return &relay->timers_http;
		case CLIENT_WEBSOCKET:
			*timeout_ms = relay->config.idle_timeout_ms;
			return &relay->timers_ws;
		case CLIENT_SSE:
			*timeout_ms = relay->config.sse_keepalive_ms;
			return &relay->timers_sse;
		case CLIENT_CLOSING:
			*timeout_ms = CLOSING_TIMEOUT_MS;
			return &relay->timers_closing;
		case CLIENT_DEAD:
			break;
	}
	*timeout_ms = 0;
	return NULL;
}

/*
 * The client changed state or showed activity: put it at the tail of its
 * state's deadline list with base now, and keep the fan-out list and the
 * counters in step.
 */
void
relay_client_state_changed(Relay *relay, Client *c)
{
	int			timeout;
	DNode	   *list = relay_timer_list(relay, c->state, &timeout);
	bool		deliverable = (c->state == CLIENT_WEBSOCKET || c->state == CLIENT_SSE);
	bool		was_deliverable = dlist_linked(&c->deliver_node);

	dlist_remove(&c->timer_node);
	if (list)
	{
		c->timer_base_ms = relay->loop.now_ms;
		dlist_push_tail(list, &c->timer_node);
	}
	if (deliverable && !was_deliverable)
	{
		dlist_push_tail(&relay->deliverable, &c->deliver_node);
		fanout_add(relay->fanout, c);
	}
	else if (!deliverable && was_deliverable)
	{
		dlist_remove(&c->deliver_node);
		fanout_remove(relay->fanout, c);
		fanout_set_expiry(relay->fanout, c, -1);
	}
	if (c->state == CLIENT_DEAD)
		relay->ndead++;
	if (c->counted_as != (deliverable ? (int8_t) c->state : 0))
	{
		if (c->counted_as == CLIENT_WEBSOCKET)
			relay->nwebsocket--;
		else if (c->counted_as == CLIENT_SSE)
			relay->nsse--;
		c->counted_as = deliverable ? (int8_t) c->state : 0;
		if (c->counted_as == CLIENT_WEBSOCKET)
			relay->nwebsocket++;
		else if (c->counted_as == CLIENT_SSE)
			relay->nsse++;
	}
}

/*
 * The client's backlog changed: it joins the slow list (base now) when it
 * goes over the soft limit and leaves it when it gets back under.  Every
 * member shares client_output_grace, so the list stays ordered by base.
 */
void
relay_client_backlog_changed(Relay *relay, Client *c, size_t backlog)
{
	bool		over = relay->config.client_output_soft_limit_kb > 0 &&
		backlog > (size_t) relay->config.client_output_soft_limit_kb * 1024;

	if (over && !dlist_linked(&c->slow_node))
	{
		c->slow_since_ms = relay->loop.now_ms;
		dlist_push_tail(&relay->slow, &c->slow_node);
		relay->nslow++;
	}
	else if (!over && dlist_linked(&c->slow_node))
		relay_client_not_slow(relay, c);
}

/* Take a client off the slow list (back under the soft limit, or dying). */
void
relay_client_not_slow(Relay *relay, Client *c)
{
	if (dlist_linked(&c->slow_node))
	{
		dlist_remove(&c->slow_node);
		relay->nslow--;
	}
}

/* The nearest soft-limit deadline, or -1. */
static int64_t
relay_slow_deadline(Relay *relay)
{
	Client	   *c;

	if (dlist_empty(&relay->slow))
		return -1;
	c = dlist_container(Client, slow_node, relay->slow.next);
	return c->slow_since_ms + relay->config.client_output_grace_ms;
}

static int64_t
relay_list_deadline(Relay *relay, DNode *list, int timeout_ms)
{
	Client	   *c;

	if (dlist_empty(list))
		return -1;
	c = dlist_container(Client, timer_node, list->next);
	return c->timer_base_ms + timeout_ms;
}

static int64_t
min_deadline(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* The client states that have a deadline list (relay_timer_list). */
static const ClientState timed_states[] = {CLIENT_HTTP, CLIENT_WEBSOCKET, CLIENT_SSE, CLIENT_CLOSING};

/* Milliseconds until the nearest deadline, or -1 for none. */
static int
relay_wait_timeout(Relay *relay)
{
	int64_t		next = -1;
	int64_t		now = loop_clock_ms();

	for (int i = 0; i < lengthof(timed_states); i++)
	{
		int			timeout;
		DNode	   *list = relay_timer_list(relay, timed_states[i], &timeout);

		next = min_deadline(next, relay_list_deadline(relay, list, timeout));
	}
	next = min_deadline(next, relay_slow_deadline(relay));
	next = min_deadline(next, catalog_next_deadline(relay));
	for (int i = 0; i < relay->nlisteners; i++)
		next = min_deadline(next, listener_next_deadline(relay->listeners[i]));
	next = min_deadline(next, auth_next_deadline(relay->auth));
	next = min_deadline(next, fanout_next_expiry(relay->fanout));
	for (int i = 0; i < relay->nwalsources; i++)
		next = min_deadline(next, walsource_next_deadline(relay->walsources[i]));
	next = min_deadline(next, relay_window_deadline(relay, now));
	if (relay->config.purge_interval_ms > 0)
		next = min_deadline(next, relay->next_purge_ms);
	if (next < 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 3600000 ? 3600000 : (int) (next - now);
}

/* Fire every deadline that has passed. */
static void
relay_fire_timers(Relay *relay)
{
	int64_t		now = relay->loop.now_ms;

	for (int i = 0; i < lengthof(timed_states); i++)
	{
		int			timeout;
		DNode	   *list = relay_timer_list(relay, timed_states[i], &timeout);

		while (!dlist_empty(list))
		{
			Client	   *c = dlist_container(Client, timer_node, list->next);

			if (c->timer_base_ms + timeout > now)
				break;
			/*
			 * every timeout handler moves c off this list's head, or re-arms
			 * it (SSE keepalive), which may leave it at the head when it is
			 * the only entry: remove it only if its deadline is still past
			 */
			client_on_timeout(c);
			if (list->next == &c->timer_node && c->timer_base_ms + timeout <= now)
				dlist_remove(&c->timer_node);
		}
	}
	while (!dlist_empty(&relay->slow))
	{
		Client	   *c = dlist_container(Client, slow_node, relay->slow.next);

		if (c->slow_since_ms + relay->config.client_output_grace_ms > now)
			break;
		relay->stats.clients_cut_off++;
		client_kill(c, "output over pg_realtime.client_output_soft_limit for longer than "
					"pg_realtime.client_output_grace (client too slow); disconnected");	/* leaves the list */
	}
	catalog_on_timer(relay);
	for (int i = 0; i < relay->nlisteners; i++)
	{
		int64_t		d = listener_next_deadline(relay->listeners[i]);

		if (d >= 0 && d <= now)
			listener_on_timer(relay->listeners[i]);
	}
	{
		int64_t		d = auth_next_deadline(relay->auth);
		Client	   *c;

		if (d >= 0 && d <= now)
			auth_on_timer(relay->auth);
		while ((c = fanout_pop_expired(relay->fanout, now)) != NULL)
			client_token_expired(c);
	}
	for (int i = 0; i < relay->nwalsources; i++)
	{
		int64_t		d = walsource_next_deadline(relay->walsources[i]);

		if (d >= 0 && d <= now)
			walsource_on_timer(relay->walsources[i]);
	}
	if (relay->window.count > 0)
	{
		int64_t		d = relay_window_deadline(relay, now);

		if (d >= 0 && d <= now)
			relay_trim_window(relay);
	}
	if (relay->config.purge_interval_ms > 0 && relay->next_purge_ms <= now)
	{
		relay->next_purge_ms = now + relay->config.purge_interval_ms;
		if (relay->nlisteners > 0)
			listener_request_purge(relay->listeners[0], relay->config.large_event_retention_s);
	}
}

/* ---------------------------------------------------------------- fan-out */

const char *const relay_drop_names[DROP_NREASONS] = {
	[DROP_UNSEALED] = "unsealed",
	[DROP_FORGED] = "forged",
	[DROP_UNKNOWN_KEY] = "unknown_key",
	[DROP_REPLAYED] = "replayed",
	[DROP_DATABASE] = "wrong_database",
	[DROP_TOO_LARGE] = "too_large",
	[DROP_MALFORMED] = "malformed",
	[DROP_DUPLICATE] = "duplicate",
	[DROP_OVER_BUDGET] = "over_budget",
	[DROP_UNREADABLE] = "unreadable",
};

/* Is id a line of list (NULL: empty)? */
bool
relay_id_listed(const char *list, const char *id)
{
	size_t		n = strlen(id);

	for (const char *p = list; p != NULL && *p;)
	{
		const char *end = strchr(p, '\n');
		size_t		len = end ? (size_t) (end - p) : strlen(p);

		if (len == n && memcmp(p, id, n) == 0)
			return true;
		p = end ? end + 1 : p + len;
	}
	return false;
}

/*
 * One event's text as a source received it (a record of a notification or
 * of a wal message): within max_event_size and the JSON limits, and about
 * the database it came from, whatever it says: its database_id, or one of
 * also_ids (one a line, NULL for none: the ids realtime.database_ids()
 * listed, which only a superuser can set); database_id NULL: the caller
 * checks.  Returns the parse's kind; on
 * EVENT_NOTIFY_INVALID *reason and *detail say why.
 */
EventNotifyKind
relay_check_event(Relay *relay, const char *text, size_t len, const char *ts, const char *database_id,
				  const char *also_ids, RelayEvent **ev, int64_t *large_id, RelayDrop *reason,
				  const char **detail)
{
	EventLimits limits = {relay->config.max_event_depth, (uint64_t) relay->config.max_event_values};
	EventNotifyKind kind;

	*ev = NULL;
	if (len > (size_t) relay->config.max_event_size_kb * 1024)
	{
		*reason = DROP_TOO_LARGE;
		*detail = "event larger than pg_realtime.max_event_size";
		return EVENT_NOTIFY_INVALID;
	}
	*detail = NULL;
	kind = event_parse_bounded(text, len, ts, &limits, ev, large_id, detail);
	if (kind == EVENT_NOTIFY_INVALID)
	{
		*reason = DROP_MALFORMED;
		if (*detail == NULL)
			*detail = "not an event";
	}
	else if (kind == EVENT_NOTIFY_INLINE && database_id != NULL && strcmp((*ev)->database_id, database_id) != 0 &&
			 !relay_id_listed(also_ids, (*ev)->database_id))
	{
		event_release(*ev);
		*ev = NULL;
		*reason = DROP_DATABASE;
		*detail = "the event names another database";
		return EVENT_NOTIFY_INVALID;
	}
	return kind;
}

/* A notification or event was not delivered; see RelayDrop. */
void
relay_count_drop(Relay *relay, RelayDrop reason)
{
	relay->stats.dropped[reason]++;
	relay->stats.events_invalid++;
}

/*
 * Queue ev to c if its subscriptions match (fanout.c's callback, and the
 * loop over everyone for events readable by "any").  A client catching up
 * gets it from the window; an event from before this relay started is news
 * only to a client that resumed.
 */
static void
relay_deliver(void *arg, Client *c, RelayEvent *ev)
{
	Relay	   *relay = arg;

	if (c->catching_up || c->resume_pending)
		return;
	if (ev->backfill && !c->has_resume)
		return;
	if (client_deliver(c, ev, &relay->scratch))
		relay->stats.deliveries++;
}

/*
 * A new event from a source: number it (notify), keep it for resuming
 * clients, and queue it to every client that may read it and whose
 * subscriptions match: every client for an event readable by "any", else
 * the clients of its read roles, found by index (fanout.c); an event no role
 * may read still reaches server connections.  The body was serialized once
 * by event.c; each client adds only its frame header, subscription ids and
 * the position.
 */
void
relay_publish(Relay *relay, RelayEvent *ev)
{
	DNode	   *node;

	if (ev->pos.kind == RELAY_POS_NONE)
	{
		RelayPos	pos = {++relay->next_event_id, 0, RELAY_POS_COUNTER};

		event_set_position(ev, pos);
		ev->time_ms = event_now_ms();
	}
	relay->stats.events_received++;
	/* events no role may read are not kept: only server connections get them, live */
	if (ev->nroles > 0 && relay_window_enabled(relay))
	{
		replay_append(&relay->window, ev);
		if (ev->source)
			walsource_on_window(ev->source, ev, true);
	}
	else
		relay->window.newest = ev->pos;
	relay_trim_window(relay);
	if (!ev->read_any)
	{
		fanout_publish(relay->fanout, ev, relay_deliver, relay);
		return;
	}
	for (node = relay->deliverable.next; node != &relay->deliverable;)
	{
		Client	   *c = dlist_container(Client, deliver_node, node);

		node = node->next;		/* c may leave the list (cut off) */
		relay_deliver(relay, c, ev);
	}
}

/*
 * Is origin allowed?  An empty allowed_origins allows any, and "*" in it
 * too, unless explicitly: then only an origin named in the list counts
 * (for requests that a browser authenticates with a cookie).
 */
bool
relay_origin_allowed(Relay *relay, const char *origin, size_t len, bool explicitly)
{
	const char *list = relay->config.allowed_origins;

	if (list == NULL || list[0] == '\0')
		return !explicitly;
	while (*list)
	{
		size_t		n;

		while (*list == ',' || *list == ' ')
			list++;
		n = strcspn(list, ", ");
		if (n > 0 && ((n == 1 && list[0] == '*' && !explicitly) ||
					  (n == len && strncasecmp(list, origin, n) == 0)))
			return true;
		list += n;
	}
	return false;
}

/* Are all the database connections up? */
static bool
relay_healthy(Relay *relay)
{
	for (int i = 0; i < relay->nlisteners; i++)
		if (!listener_connected(relay->listeners[i]))
			return false;
	return true;
}

/* What /v1/health tells everyone: the status without counts. */
void
relay_health_status_json(Relay *relay, Buf *out)
{
	buf_printf(out, "{\"status\":\"%s\"}", relay_healthy(relay) ? "ok" : "degraded");
}

void
relay_health_json(Relay *relay, Buf *out)
{
	int			connected = 0;
	int			nsources = relay->nlisteners + relay->nwalsources;
	char		floor[RELAY_POS_TEXT_MAX] = "";
	char		newest[RELAY_POS_TEXT_MAX] = "";

	for (int i = 0; i < relay->nlisteners; i++)
		connected += listener_connected(relay->listeners[i]) ? 1 : 0;
	for (int i = 0; i < relay->nwalsources; i++)
		connected += walsource_connected(relay->walsources[i]) ? 1 : 0;
	if (relay->window.floor.kind != RELAY_POS_NONE)
		relay_pos_format(relay->window.floor, floor);
	if (relay->window.newest.kind != RELAY_POS_NONE)
		relay_pos_format(relay->window.newest, newest);
	buf_printf(out, "{\"status\":\"%s\",\"uptime_ms\":%lld,"
			   "\"database\":{\"transport\":\"%s\",\"listeners\":%d,\"connected\":%d,\"reconnects\":%llu",
			   connected == nsources ? "ok" : "degraded",
			   (long long) (relay->loop.now_ms - relay->started_ms),
			   relay->config.transport == RELAY_TRANSPORT_WAL ? "wal" : "notify",
			   nsources, connected, (unsigned long long) relay->stats.db_reconnects);
	if (relay->nwalsources > 0)
	{
		buf_append_str(out, ",\"slots\":[");
		for (int i = 0; i < relay->nwalsources; i++)
		{
			if (i > 0)
				buf_append_str(out, ",");
			walsource_health_json(relay->walsources[i], out);
		}
		buf_append_str(out, "]");
	}
	buf_printf(out, "},\"connections\":{\"total\":%d,\"websocket\":%d,\"sse\":%d,\"max\":%d},"
			   "\"events\":{\"received\":%llu,\"invalid\":%llu,\"deliveries\":%llu,\"dropped\":{",
			   relay->nclients, relay->nwebsocket, relay->nsse, relay->config.max_connections,
			   (unsigned long long) relay->stats.events_received,
			   (unsigned long long) relay->stats.events_invalid,
			   (unsigned long long) relay->stats.deliveries);
	for (int i = 0; i < DROP_NREASONS; i++)
		buf_printf(out, "%s\"%s\":%llu", i ? "," : "", relay_drop_names[i],
				   (unsigned long long) relay->stats.dropped[i]);
	buf_printf(out, "}},\"replay\":{\"events\":%zu,\"bytes\":%zu,\"floor\":\"%s\",\"newest\":\"%s\"},"
			   "\"clients\":{\"accepted\":%llu,\"refused\":%llu,\"cut_off\":%llu,\"over_soft_limit\":%d}}",
			   relay->window.count, relay->window.bytes, floor, newest,
			   (unsigned long long) relay->stats.clients_accepted,
			   (unsigned long long) relay->stats.clients_refused,
			   (unsigned long long) relay->stats.clients_cut_off, relay->nslow);
}

/* -------------------------------------------------------------- signals */

/* Async-signal-safe: one byte into the self-pipe wakes the loop. */
static void
relay_signal(Relay *relay, char what)
{
	int			save = errno;
	ssize_t		ignored;

	if (relay)
		ignored = write(relay->signal_pipe[1], &what, 1);
	(void) ignored;
	errno = save;
}

void
relay_signal_shutdown(Relay *relay)
{
	relay_signal(relay, RELAY_SIG_SHUTDOWN);
}

void
relay_signal_reload(Relay *relay)
{
	relay_signal(relay, RELAY_SIG_RELOAD);
}

static void
relay_on_signal_pipe(Watch *w, uint32_t events)
{
	Relay	   *relay = container_of(Relay, signal_watch, w);
	char		buf[64];
	ssize_t		n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
		{
			if (buf[i] == RELAY_SIG_SHUTDOWN)
				relay->shutdown_requested = true;
			else if (buf[i] == RELAY_SIG_RELOAD)
				relay->reload_requested = true;
		}
}

static void
relay_on_host_fd(Watch *w, uint32_t events)
{
	Relay	   *relay = container_of(Relay, host_watch, w);

	relay->host_cb(relay->host_arg);
}

void
relay_watch_fd(Relay *relay, int fd, RelayFdCallback cb, void *arg)
{
	relay->host_cb = cb;
	relay->host_arg = arg;
	loop_add(&relay->loop, &relay->host_watch, fd, EPOLLIN, relay_on_host_fd);
}

void
relay_set_reload_callback(Relay *relay, RelayReloadCallback cb, void *arg)
{
	relay->reload_cb = cb;
	relay->reload_arg = arg;
}

/* ------------------------------------------------------------ lifecycle */

/* One source per database: a LISTEN connection, or a replication slot. */
static void
relay_start_listeners(Relay *relay)
{
	int			n = relay->config.nconninfo;

	if (relay->config.transport == RELAY_TRANSPORT_WAL)
	{
		relay->nwalsources = n;
		relay->walsources = relay_calloc(n ? n : 1, sizeof(WalSource *));
		for (int i = 0; i < n; i++)
		{
			Buf			slot = BUF_INIT;

			/* slot names are per server: the Nth database's is NAME_N */
			buf_append_str(&slot, relay->config.slot_name);
			if (n > 1)
				buf_printf(&slot, "_%d", i + 1);
			relay->walsources[i] = walsource_create(relay, relay->config.conninfo[i], slot.data);
			buf_free(&slot);
		}
		return;
	}
	relay->nlisteners = n;
	relay->listeners = relay_calloc(n ? n : 1, sizeof(Listener *));
	for (int i = 0; i < n; i++)
		relay->listeners[i] = listener_create(relay, relay->config.conninfo[i], relay->config.channel);
}

static void
relay_stop_listeners(Relay *relay)
{
	for (int i = 0; i < relay->nlisteners; i++)
		listener_destroy(relay->listeners[i]);
	free(relay->listeners);
	relay->listeners = NULL;
	relay->nlisteners = 0;
	/* events of a source that is gone keep their place in the window */
	for (uint64_t i = relay->window.base; i < replay_end(&relay->window); i++)
		replay_get(&relay->window, i)->source = NULL;
	for (int i = 0; i < relay->nwalsources; i++)
		walsource_destroy(relay->walsources[i]);
	free(relay->walsources);
	relay->walsources = NULL;
	relay->nwalsources = 0;
}

Relay *
relay_create(const RelayConfig *config)
{
	Relay	   *relay = relay_calloc(1, sizeof(Relay));
	Buf			err = BUF_INIT;

	relay_config_copy(&relay->config, config);
	relay_apply_limits(relay);
	relay->fanout = fanout_create();
	relay->peers = relay_calloc(1, sizeof(Peers));
	peers_init(relay->peers, relay->config.max_connections * 2 + 1024);
	dlist_init(&relay->deliverable);
	dlist_init(&relay->pending_write);
	dlist_init(&relay->dead);
	dlist_init(&relay->timers_http);
	dlist_init(&relay->timers_ws);
	dlist_init(&relay->timers_sse);
	dlist_init(&relay->timers_closing);
	dlist_init(&relay->slow);
	relay->catalog.next_ms = -1;
	relay->signal_pipe[0] = relay->signal_pipe[1] = -1;
	relay->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	replay_init(&relay->window);
	/*
	 * notify transport: counters start at this process's start time in
	 * microseconds, so that an id from an earlier process of this relay is
	 * below the floor and gets a gap signal rather than a wrong replay
	 */
	relay->next_event_id = (uint64_t) event_now_ms() * 1000;
	if (relay->config.transport != RELAY_TRANSPORT_WAL)
	{
		RelayPos	start = {relay->next_event_id, 0, RELAY_POS_COUNTER};

		replay_raise_floor(&relay->window, start);
	}

	if (!loop_init(&relay->loop) ||
		pipe2(relay->signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0 ||
		!loop_add(&relay->loop, &relay->signal_watch, relay->signal_pipe[0], EPOLLIN,
				  relay_on_signal_pipe) ||
		!relay_bind(relay))
	{
		relay_destroy(relay);
		return NULL;
	}
	relay->started_ms = relay->loop.now_ms;
	relay->next_purge_ms = relay->loop.now_ms + relay->config.purge_interval_ms;
	relay->auth = auth_create(relay, &err);
	if (relay->auth == NULL)
	{
		relay_log(RLOG_WARNING, "cannot check tokens: %s", err.data ? err.data : "?");
		buf_free(&err);
		relay_destroy(relay);
		return NULL;
	}
	relay_start_listeners(relay);
	return relay;
}

/* Re-read secrets and key files; on failure the keys in use stay. */
static void
relay_reload_auth(Relay *relay)
{
	Buf			err = BUF_INIT;

	if (auth_reload(relay->auth, &err))
		relay_log(RLOG_INFO, "authentication keys reloaded");
	else
		relay_log(RLOG_WARNING, "could not reload authentication settings: %s", err.data ? err.data : "?");
	buf_free(&err);
}

/* Apply a reloaded configuration: limits at once, listeners if they changed. */
static void
relay_reload(Relay *relay)
{
	RelayConfig next;
	bool		listeners_changed;

	relay->reload_requested = false;
	if (relay->reload_cb == NULL)
	{
		/* no configuration to re-read (the standalone relay): key files only */
		relay_reload_auth(relay);
		return;
	}
	relay_config_copy(&next, &relay->config);
	if (!relay->reload_cb(relay->reload_arg, &next))
	{
		relay_config_free(&next);
		return;
	}
	listeners_changed = next.nconninfo != relay->config.nconninfo ||
		strcmp(next.channel, relay->config.channel) != 0 ||
		next.transport != relay->config.transport ||
		strcmp(next.slot_name, relay->config.slot_name) != 0;
	for (int i = 0; !listeners_changed && i < next.nconninfo; i++)
		listeners_changed = strcmp(next.conninfo[i], relay->config.conninfo[i]) != 0;
	/* settings read only at start (listen sockets, replay ring) stay */
	for (int i = 0; i < relay_nsettings; i++)
	{
		const RelaySetting *s = &relay_settings[i];

		if (!(s->flags & RELAY_SETTING_RESTART))
			continue;
		if (s->type == RELAY_SETTING_STRING)
		{
			char	  **field = relay_setting_field(&next, s);

			free(*field);
			*field = relay_strdup(*(char **) relay_setting_field(&relay->config, s));
		}
		else
			memcpy(relay_setting_field(&next, s), relay_setting_field(&relay->config, s),
				   s->type == RELAY_SETTING_BOOL ? sizeof(bool) : sizeof(int));
	}
	if (listeners_changed)
		relay_stop_listeners(relay);
	if (next.transport != relay->config.transport)
	{
		/* positions of the other kind: resuming clients get a gap signal */
		replay_free(&relay->window, NULL, NULL);
		replay_init(&relay->window);
		if (next.transport != RELAY_TRANSPORT_WAL)
		{
			RelayPos	start = {++relay->next_event_id, 0, RELAY_POS_COUNTER};

			replay_raise_floor(&relay->window, start);
		}
	}
	relay_config_free(&relay->config);
	relay->config = next;
	relay_apply_limits(relay);
	if (listeners_changed)
	{
		relay_start_listeners(relay);
		catalog_listeners_replaced(relay);
	}
	relay_log(RLOG_INFO, "configuration reloaded%s", listeners_changed ? "; database connections restarted" : "");
	relay_reload_auth(relay);
}

static void
relay_flush_and_sweep(Relay *relay)
{
	while (!dlist_empty(&relay->pending_write))
	{
		Client	   *c = dlist_container(Client, pending_node, relay->pending_write.next);

		client_flush(c);		/* removes c from the list */
	}
	while (!dlist_empty(&relay->dead))
	{
		Client	   *c = dlist_container(Client, dead_node, relay->dead.next);

		dlist_remove(&c->dead_node);
		relay->ndead--;
		client_free(c);
	}
}

int
relay_run(Relay *relay)
{
	int64_t		shutdown_deadline = -1;

	while (shutdown_deadline < 0 || relay->loop.now_ms < shutdown_deadline)
	{
		int			timeout = relay_wait_timeout(relay);

		if (shutdown_deadline >= 0)
		{
			int64_t		left = shutdown_deadline - loop_clock_ms();

			if (timeout < 0 || timeout > left)
				timeout = left < 0 ? 0 : (int) left;
			if (relay->nclients == 0)
				break;
		}
		loop_wait(&relay->loop, timeout);
		relay_fire_timers(relay);
		if (relay->reload_requested)
			relay_reload(relay);
		if (relay->shutdown_requested && shutdown_deadline < 0)
		{
			DNode	   *node;

			relay_log(RLOG_INFO, "shutting down: closing %d client connections", relay->nclients);
			shutdown_deadline = relay->loop.now_ms + RELAY_SHUTDOWN_GRACE_MS;
			for (int i = 0; i < relay->nacceptors; i++)
				loop_remove(&relay->loop, &relay->acceptors[i]->watch);
			relay_stop_listeners(relay);
			for (node = relay->timers_http.next; node != &relay->timers_http;)
			{
				Client	   *c = dlist_container(Client, timer_node, node);

				node = node->next;
				client_shutdown(c);
			}
			for (node = relay->deliverable.next; node != &relay->deliverable;)
			{
				Client	   *c = dlist_container(Client, deliver_node, node);

				node = node->next;
				client_shutdown(c);
			}
		}
		relay_flush_and_sweep(relay);
	}
	return 0;
}

void
relay_destroy(Relay *relay)
{
	DNode	   *lists[5] = {&relay->timers_http, &relay->timers_ws, &relay->timers_sse,
	&relay->timers_closing, NULL};

	if (relay == NULL)
		return;
	relay_stop_listeners(relay);
	for (int i = 0; lists[i]; i++)
		while (lists[i]->next && !dlist_empty(lists[i]))
		{
			Client	   *c = dlist_container(Client, timer_node, lists[i]->next);

			client_kill(c, NULL);
		}
	relay_flush_and_sweep(relay);
	auth_destroy(relay->auth);
	fanout_destroy(relay->fanout);
	if (relay->peers)
		peers_free(relay->peers);
	free(relay->peers);
	for (int i = 0; i < relay->nacceptors; i++)
	{
		if (relay->acceptors[i]->watch.fd >= 0)
			close(relay->acceptors[i]->watch.fd);
		free(relay->acceptors[i]);
	}
	free(relay->acceptors);
	replay_free(&relay->window, NULL, NULL);
	if (relay->spare_fd >= 0)
		close(relay->spare_fd);
	if (relay->signal_pipe[0] >= 0)
		close(relay->signal_pipe[0]);
	if (relay->signal_pipe[1] >= 0)
		close(relay->signal_pipe[1]);
	loop_close(&relay->loop);
	buf_free(&relay->scratch);
	relay_config_free(&relay->config);
	free(relay);
}
