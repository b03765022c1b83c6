/*
 * client.c - one peer of the relay: HTTP request, then WebSocket or SSE
 *
 * Input is read into c->in only while bytes are pending (an idle connection
 * holds no buffer).  Output is a queue of OutChunks; an event's shared body
 * is referenced, not copied, so a fan-out to N clients costs N small chunks.
 * Bytes are queued here and written by client_flush() at the end of the
 * loop turn (relay.c), and EPOLLOUT is asked for only while bytes remain.
 * A client whose backlog passes max_client_output_kb is cut off at once;
 * one that stays above client_output_soft_limit_kb for client_output_grace
 * is cut off by relay.c's timer (like Redis's client-output-buffer-limit).
 * Clients are never freed here while the loop may hold them: client_kill()
 * marks them and relay.c sweeps.
 */
#include "relay_int.h"
#include "auth.h"
#include "fanout.h"
#include "deflate.h"
#include "http.h"
#include "log.h"
#include "peers.h"
#include "utf8.h"
#include "ws.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_READ_CHUNK 16384
#define CLIENT_IOV_MAX 64

/* the error and close code of a connection whose token expired */
#define CLIENT_TOKEN_EXPIRED 4001

/* Where the token of a request or message came from. */
typedef enum TokenSource
{
	TOKEN_HEADER,				/* Authorization: Bearer */
	TOKEN_QUERY,				/* ?jwt= */
	TOKEN_COOKIE,				/* a_session_<project> */
	TOKEN_MESSAGE				/* an authentication message */
} TokenSource;

/* A token being checked (request set), or the answer (answered). */
typedef struct ClientAuth
{
	TokenSource source;
	bool		answered;
	AuthRequest *request;		/* while the auth function works on it */
	AuthIdentity *identity;		/* the answer: an identity, */
	char	   *error;			/* or why not */
} ClientAuth;

static void client_on_io(Watch *w, uint32_t events);
static void client_read(Client *c);
static void client_process_http(Client *c);
static void client_process_ws(Client *c);
static void client_queue(Client *c, RelayEvent *ev, const void *pre, size_t pre_len,
						 const void *post, size_t post_len);
static void client_queue_chunk(Client *c, RelayEvent *ev, bool deflated, const void *pre,
							   size_t pre_len, const void *post, size_t post_len);
static void client_start_close(Client *c, uint16_t code, const char *reason);
static void client_respond(Client *c, int status, const char *reason, const char *content_type,
						   const char *extra_headers, const char *body, size_t body_len);
static void client_auth_free(Client *c);

/* Take over an accepted, non-blocking socket from the address of peer_entry. */
Client *
client_accept(Relay *relay, int fd, const char *peer, struct Peer *peer_entry)
{
	Client	   *c = relay_calloc(1, sizeof(Client));

	c->relay = relay;
	c->state = CLIENT_HTTP;
	c->expiry_slot = -1;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	proto_session_init(&c->session, &relay->limits);
	if (!loop_add(&relay->loop, &c->watch, fd, EPOLLIN, client_on_io))
	{
		close(fd);
		proto_session_free(&c->session);
		free(c);
		return NULL;
	}
	c->peer_entry = peer_entry;
	if (peer_entry)
	{
		peers_opened(relay->peers, peer_entry);
		/* the entry outlives the session: client_free frees the session first */
		c->session.peer_memory = &peer_entry->subscription_bytes;
	}
	relay->nclients++;
	relay_client_state_changed(relay, c);
	return c;
}

/* A log line about c, rate-limited (see relay_int.h). */
void
client_log(Client *c, RelayLogLevel level, const char *fmt,...)
{
	Relay	   *relay = c->relay;
	int			per_minute = relay->config.max_log_lines_per_minute;
	uint32_t	held = 0;
	uint32_t	held_all = 0;
	char		msg[512];
	va_list		ap;

	if (level != RLOG_DEBUG &&
		((c->peer_entry && !ratelimit_log_ok(&c->peer_entry->log, per_minute, relay->loop.now_ms, &held)) ||
		 !ratelimit_log_ok(&relay->log_limit, per_minute > 0 ? per_minute * RELAY_CLIENT_LOG_ADDRESSES : 0,
						   relay->loop.now_ms, &held_all)))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held || held_all)
		relay_log(level, "client %s: %s (held back before this line: %u about this address, %u about all clients)",
				  c->peer, msg, held, held_all);
	else
		relay_log(level, "client %s: %s", c->peer, msg);
}

/* Ask epoll for what c needs: input unless paused, output while queued. */
static void
client_update_watch(Client *c)
{
	loop_modify(&c->relay->loop, &c->watch,
				(c->paused ? 0 : EPOLLIN) | (c->out_head ? EPOLLOUT : 0));
}

static void
client_on_io(Watch *w, uint32_t events)
{
	Client	   *c = (Client *) w;

	if (c->state == CLIENT_DEAD)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		client_read(c);
	if (c->state != CLIENT_DEAD && (events & EPOLLOUT))
		client_flush(c);
}

/* Mark the client for the sweep; it gets no more input or output. */
void
client_kill(Client *c, const char *why)
{
	Relay	   *relay = c->relay;

	if (c->state == CLIENT_DEAD)
		return;
	if (why)
		client_log(c, RLOG_INFO, "%s", why);
	c->state = CLIENT_DEAD;
	relay_client_state_changed(relay, c);
	client_auth_free(c);		/* no answer for a dead client */
	dlist_remove(&c->pending_node);
	relay_client_not_slow(relay, c);	/* dead_node shares its memory */
	if (c->watch.fd >= 0)
	{
		int			fd = c->watch.fd;

		loop_remove(&relay->loop, &c->watch);
		close(fd);
	}
	dlist_push_tail(&relay->dead, &c->dead_node);
}

/* Free everything the client owns (called by the sweep only). */
void
client_free(Client *c)
{
	OutChunk   *ch = c->out_head;

	while (ch)
	{
		OutChunk   *next = ch->next;

		if (ch->event)
			event_release(ch->event);
		free(ch);
		ch = next;
	}
	buf_free(&c->in);
	ws_message_free(&c->msg);
	client_auth_free(c);
	proto_session_free(&c->session);
	if (c->peer_entry)
		peers_closed(c->relay->peers, c->peer_entry);
	free(c->since_query);
	c->relay->nclients--;
	free(c);
}

static void
client_read(Client *c)
{
	ssize_t		n;

	buf_reserve(&c->in, CLIENT_READ_CHUNK);
	n = recv(c->watch.fd, c->in.data + c->in.len, CLIENT_READ_CHUNK, 0);
	if (n == 0)
	{
		client_kill(c, NULL);	/* peer closed */
		return;
	}
	if (n < 0)
	{
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_kill(c, NULL);
		return;
	}
	c->in.len += (size_t) n;
	c->in.data[c->in.len] = '\0';
	if (c->paused)
		return;					/* the input waits for the auth function's answer */

	switch (c->state)
	{
		case CLIENT_HTTP:
			client_process_http(c);
			break;
		case CLIENT_WEBSOCKET:
			client_process_ws(c);
			break;
		case CLIENT_CLOSING:
			if (c->websocket)
				client_process_ws(c);
			else
				buf_reset(&c->in);	/* an HTTP response or SSE end: discard */
			break;
		case CLIENT_SSE:
			buf_reset(&c->in);	/* an SSE client has nothing to say */
			break;
		case CLIENT_DEAD:
			break;
	}
	if (c->state != CLIENT_DEAD && c->in.len == 0)
		buf_free(&c->in);
}

/* ---------------------------------------------------------------- output */

/* The shared bytes of a chunk: its event's body, or the body compressed. */
static size_t
outchunk_shared(const OutChunk *ch, const unsigned char **p)
{
	if (ch->event == NULL)
	{
		*p = NULL;
		return 0;
	}
	*p = ch->deflated ? ch->event->deflated : (const unsigned char *) ch->event->body;
	return ch->deflated ? ch->event->deflated_len : ch->event->body_len;
}

/* Bytes of a chunk not yet written. */
static size_t
outchunk_rest(const OutChunk *ch)
{
	const unsigned char *p;

	return ch->pre_len + ch->post_len + outchunk_shared(ch, &p) - ch->sent;
}

/*
 * The backlog the output limits bound: queued bytes behind the chunk being
 * written, so that one event larger than a limit (a 1 MB row) still goes
 * out whole.
 */
static size_t
client_backlog(const Client *c)
{
	return c->out_head ? c->out_bytes - outchunk_rest(c->out_head) : 0;
}

/*
 * Queue own bytes pre and post around ev's shared body (if ev); on a gzip
 * SSE stream, all of it compressed.
 */
static void
client_queue(Client *c, RelayEvent *ev, const void *pre, size_t pre_len,
			 const void *post, size_t post_len)
{
	Buf			wpre = BUF_INIT;
	Buf			wpost = BUF_INIT;

	if (!c->gzip)
	{
		client_queue_chunk(c, ev, false, pre, pre_len, post, post_len);
		return;
	}
	if (ev && !deflate_event_prepare(ev))
	{
		client_kill(c, "could not compress an event for a gzip stream");
		return;
	}
	deflate_gzip_wrap(&c->gz, ev, pre, pre_len, post, post_len, &wpre, &wpost);
	client_queue_chunk(c, ev, ev != NULL, wpre.data, wpre.len, wpost.data, wpost.len);
	buf_free(&wpre);
	buf_free(&wpost);
}

static void
client_queue_chunk(Client *c, RelayEvent *ev, bool deflated, const void *pre, size_t pre_len,
				   const void *post, size_t post_len)
{
	Relay	   *relay = c->relay;
	OutChunk   *ch;
	size_t		total;
	size_t		backlog;
	const unsigned char *shared;

	if (c->state == CLIENT_DEAD)
		return;
	ch = relay_malloc(offsetof(OutChunk, bytes) + pre_len + post_len);
	ch->next = NULL;
	ch->event = ev;
	ch->deflated = deflated;
	ch->pre_len = (uint32_t) pre_len;
	ch->post_len = (uint32_t) post_len;
	ch->sent = 0;
	if (pre_len)
		memcpy(ch->bytes, pre, pre_len);
	if (post_len)
		memcpy(ch->bytes + pre_len, post, post_len);
	if (ev)
		event_retain(ev);
	if (c->out_tail)
		c->out_tail->next = ch;
	else
		c->out_head = ch;
	c->out_tail = ch;
	total = pre_len + post_len + outchunk_shared(ch, &shared);
	c->out_bytes += total;
	backlog = client_backlog(c);
	if (backlog > (size_t) relay->config.max_client_output_kb * 1024)
	{
		relay->stats.clients_cut_off++;
		client_kill(c, "output over pg_realtime.max_client_output (client not reading); disconnected");
		return;
	}
	relay_client_backlog_changed(relay, c, backlog);
	if (!dlist_linked(&c->pending_node))
		dlist_push_tail(&relay->pending_write, &c->pending_node);
}

/* Queue a whole WebSocket frame built from one buffer. */
static void
client_queue_frame(Client *c, uint8_t opcode, const void *payload, size_t len)
{
	Buf			b = BUF_INIT;

	ws_append_frame(&b, opcode, payload, len);
	client_queue(c, NULL, b.data, b.len, NULL, 0);
	buf_free(&b);
}

/* ProtoSendFn: one JSON message as one text frame. */
static void
client_send_json(void *arg, const char *json, size_t len)
{
	client_queue_frame((Client *) arg, WS_OP_TEXT, json, len);
}

/*
 * Write as much queued output as the socket takes.  When the queue empties
 * on a closing client, half-close so the peer sees the end.
 */
void
client_flush(Client *c)
{
	dlist_remove(&c->pending_node);
	while (c->out_head && c->state != CLIENT_DEAD)
	{
		struct iovec iov[CLIENT_IOV_MAX];
		int			niov = 0;
		ssize_t		n;
		size_t		left;

		for (OutChunk *ch = c->out_head; ch && niov + 3 <= CLIENT_IOV_MAX; ch = ch->next)
		{
			const unsigned char *base[3];
			size_t		body = outchunk_shared(ch, &base[1]);
			size_t		skip = ch->sent;
			size_t		seg[3] = {ch->pre_len, body, ch->post_len};

			base[0] = ch->bytes;
			base[2] = ch->bytes + ch->pre_len;
			for (int i = 0; i < 3; i++)
			{
				if (skip >= seg[i])
				{
					skip -= seg[i];
					continue;
				}
				iov[niov].iov_base = (void *) (base[i] + skip);
				iov[niov].iov_len = seg[i] - skip;
				niov++;
				skip = 0;
			}
		}
		n = writev(c->watch.fd, iov, niov);
		if (n < 0)
		{
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			client_kill(c, NULL);
			return;
		}
		left = (size_t) n;
		c->out_bytes -= left;
		while (left > 0 && c->out_head)
		{
			OutChunk   *ch = c->out_head;
			size_t		rest = outchunk_rest(ch);

			if (left < rest)
			{
				ch->sent += left;
				break;
			}
			left -= rest;
			c->out_head = ch->next;
			if (c->out_head == NULL)
				c->out_tail = NULL;
			if (ch->event)
				event_release(ch->event);
			free(ch);
		}
	}
	if (c->state == CLIENT_DEAD)
		return;
	if (c->catching_up && c->out_bytes < (size_t) c->relay->config.max_client_output_kb * 256)
		relay_replay_continue(c->relay, c);	/* queues more; flushed this turn */
	if (c->state == CLIENT_DEAD)
		return;
	relay_client_backlog_changed(c->relay, c, client_backlog(c));
	client_update_watch(c);
	if (c->out_head == NULL)
	{
		if (c->close_after_flush)
		{
			c->close_after_flush = false;
			if (c->got_close)
				client_kill(c, NULL);	/* close handshake complete */
			else
				shutdown(c->watch.fd, SHUT_WR);	/* wait for the peer's EOF */
		}
	}
}

/* ------------------------------------------------------------------ HTTP */

static void
client_respond(Client *c, int status, const char *reason, const char *content_type,
			   const char *extra_headers, const char *body, size_t body_len)
{
	Buf			b = BUF_INIT;

	buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			   "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
			   status, reason, content_type, body_len, extra_headers ? extra_headers : "");
	buf_append(&b, body, body_len);
	client_queue(c, NULL, b.data, b.len, NULL, 0);
	buf_free(&b);
	if (c->state == CLIENT_DEAD)
		return;
	c->close_after_flush = true;
	c->state = CLIENT_CLOSING;
	relay_client_state_changed(c->relay, c);
}

/* An HTTP error with a JSON body in Appwrite's error shape. */
static void
client_respond_error(Client *c, int status, const char *reason, const char *message,
					 const char *extra_headers)
{
	Buf			body = BUF_INIT;

	buf_append_str(&body, "{\"message\":");
	buf_append_json_string(&body, message, strlen(message));
	buf_printf(&body, ",\"code\":%d}", status);
	client_log(c, RLOG_DEBUG, "HTTP %d: %s", status, message);
	client_respond(c, status, reason, "application/json", extra_headers, body.data, body.len);
	buf_free(&body);
}

static bool
slice_ends_with(HttpSlice s, const char *suffix)
{
	size_t		n = strlen(suffix);

	return s.len >= n && memcmp(s.p + s.len - n, suffix, n) == 0;
}

static bool
slice_eq(HttpSlice s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* Origin allowed?  Absent Origin (native clients) always is. */
static bool
client_origin_ok(Client *c, const HttpRequest *req, Buf *cors)
{
	const HttpSlice *origin = http_header(req, "Origin");

	if (origin == NULL)
		return true;
	if (!relay_origin_allowed(c->relay, origin->p, origin->len, false))
		return false;
	if (cors)
	{
		buf_append_str(cors, "Access-Control-Allow-Origin: ");
		buf_append(cors, origin->p, origin->len);
		buf_append_str(cors, "\r\nVary: Origin\r\n");
	}
	return true;
}

/* ---------------------------------------------------------------- tokens */

static void client_auth_done(void *arg, AuthIdentity *identity, const char *error);
static void client_process_ws(Client *c);

/* Forget a token being checked (cancel the request) or its unused answer. */
static void
client_auth_free(Client *c)
{
	ClientAuth *a = c->auth;

	if (a == NULL)
		return;
	if (a->request)
		auth_cancel(c->relay->auth, a->request);
	auth_identity_release(a->identity);
	free(a->error);
	free(a);
	c->auth = NULL;
}

/* Check a token; the answer is in c->auth, at once or when c->auth->answered. */
static void
client_start_auth(Client *c, TokenSource source, const char *token, size_t len)
{
	ClientAuth *a = relay_calloc(1, sizeof(ClientAuth));
	Buf			err = BUF_INIT;

	client_auth_free(c);
	a->source = source;
	c->auth = a;
	switch (auth_resolve(c->relay->auth, token, len, client_auth_done, c, &a->identity,
						 &a->request, &err))
	{
		case AUTH_OK:
			a->answered = true;
			break;
		case AUTH_FAILED:
			a->answered = true;
			a->error = relay_strdup(err.data ? err.data : "the token was refused");
			break;
		case AUTH_PENDING:
			/* messages are handled in order: the rest waits for the answer */
			c->paused = true;
			client_update_watch(c);
			break;
	}
	buf_free(&err);
}

/* Take the identity of c->auth (NULL if refused) and forget the rest. */
static AuthIdentity *
client_take_identity(Client *c, char **error)
{
	AuthIdentity *id = NULL;

	*error = NULL;
	if (c->auth)
	{
		id = c->auth->identity;
		c->auth->identity = NULL;
		*error = c->auth->error;
		c->auth->error = NULL;
		client_auth_free(c);
	}
	return id;
}

/* Wake the loop when c's identity expires (exp plus jwt_leeway), if it does. */
static void
client_schedule_expiry(Client *c)
{
	const AuthIdentity *id = c->session.identity;
	Relay	   *relay = c->relay;
	struct timespec now;
	double		left_ms;

	if (id == NULL || id->expires_at <= 0 ||
		(c->state != CLIENT_WEBSOCKET && c->state != CLIENT_SSE))
	{
		fanout_set_expiry(relay->fanout, c, -1);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	left_ms = (id->expires_at + relay->config.jwt_leeway_s) * 1000.0 -
		((double) now.tv_sec * 1000.0 + now.tv_nsec / 1e6);
	if (left_ms < 0)
		left_ms = 0;
	if (left_ms > 1e12)
		left_ms = 1e12;
	fanout_set_expiry(relay->fanout, c, relay->loop.now_ms + (int64_t) left_ms);
}

/* The answer to an authentication message: a new identity and roles, or an error. */
static void
client_finish_message_auth(Client *c)
{
	char	   *error;
	AuthIdentity *id = client_take_identity(c, &error);
	bool		indexed = c->member_of != NULL;

	if (id && indexed)
		fanout_remove(c->relay->fanout, c);
	proto_authenticated(&c->session, id, error, client_send_json, c);
	if (id && indexed)
		fanout_add(c->relay->fanout, c);
	if (id)
		client_schedule_expiry(c);
	else
		client_log(c, RLOG_DEBUG, "authentication refused: %s", error ? error : "?");
	free(error);
}

/* The auth function answered a token of c (never called for dead clients). */
static void
client_auth_done(void *arg, AuthIdentity *identity, const char *error)
{
	Client	   *c = arg;
	ClientAuth *a = c->auth;

	a->request = NULL;
	a->answered = true;
	a->identity = identity;
	a->error = identity ? NULL : relay_strdup(error ? error : "the token was refused");
	c->paused = false;
	client_update_watch(c);
	if (a->source != TOKEN_MESSAGE && c->state == CLIENT_HTTP)
		client_process_http(c);	/* the request again, with the answer */
	else if (a->source == TOKEN_MESSAGE && c->state == CLIENT_WEBSOCKET)
	{
		client_finish_message_auth(c);
		if (c->state == CLIENT_WEBSOCKET && c->in.len > 0)
			client_process_ws(c);	/* what came in meanwhile */
	}
	else
		client_auth_free(c);
}

/* Bearer token of an Authorization header, or NULL. */
static const char *
client_bearer(const HttpRequest *req, size_t *len)
{
	const HttpSlice *h = http_header(req, "Authorization");
	size_t		i = 6;

	if (h == NULL || h->len < 8 || strncasecmp(h->p, "Bearer ", 7) != 0)
		return NULL;
	while (i < h->len && h->p[i] == ' ')
		i++;
	*len = h->len - i;
	while (*len > 0 && (h->p[i + *len - 1] == ' ' || h->p[i + *len - 1] == '\t'))
		(*len)--;
	return *len ? h->p + i : NULL;
}

/* The value of cookie name in the request's Cookie headers, or NULL. */
static const char *
client_cookie(const HttpRequest *req, const char *name, size_t *len)
{
	size_t		nlen = strlen(name);

	for (int i = 0; i < req->nheaders; i++)
	{
		const HttpSlice *v = &req->headers[i].value;
		size_t		pos = 0;

		if (req->headers[i].name.len != 6 || strncasecmp(req->headers[i].name.p, "Cookie", 6) != 0)
			continue;
		while (pos < v->len)
		{
			size_t		end = pos;

			while (end < v->len && v->p[end] != ';')
				end++;
			while (pos < end && v->p[pos] == ' ')
				pos++;
			if (end - pos > nlen && memcmp(v->p + pos, name, nlen) == 0 && v->p[pos + nlen] == '=')
			{
				const char *value = v->p + pos + nlen + 1;

				*len = end - pos - nlen - 1;
				while (*len > 0 && value[*len - 1] == ' ')
					(*len)--;
				if (*len >= 2 && value[0] == '"' && value[*len - 1] == '"')
				{
					value++;
					*len -= 2;
				}
				return *len ? value : NULL;
			}
			pos = end + 1;
		}
	}
	return NULL;
}

/*
 * The token a request carries, in this order: Authorization: Bearer, the
 * jwt query parameter (EventSource cannot set headers), the Appwrite
 * session cookie a_session_<project>.  NULL if none; else a new string.
 */
static char *
client_request_token(Client *c, const HttpRequest *req, TokenSource *source, size_t *len)
{
	char	   *buf = relay_malloc(req->query.len + 1);
	const char *p;
	size_t		n = 0;

	if ((p = client_bearer(req, &n)) != NULL)
	{
		*source = TOKEN_HEADER;
		free(buf);
		*len = n;
		return relay_strndup(p, n);
	}
	if (http_query_param(req->query, "jwt", buf, req->query.len + 1, &n) && n > 0)
	{
		*source = TOKEN_QUERY;
		*len = n;
		return buf;
	}
	/* the cookie is named after the project of the URL (or the configured one) */
	if (!http_query_param(req->query, "project", buf, req->query.len + 1, &n) || n == 0 || n > 64)
	{
		const char *project = c->relay->config.project;

		n = project ? strlen(project) : 0;
		if (n > 0 && n <= 64)
			memcpy(buf, project, n + 1);
	}
	if (n > 0 && n <= 64)
	{
		char		name[80];

		snprintf(name, sizeof(name), "a_session_%.*s", (int) n, buf);
		if ((p = client_cookie(req, name, &n)) != NULL)
		{
			*source = TOKEN_COOKIE;
			free(buf);
			*len = n;
			return relay_strndup(p, n);
		}
	}
	free(buf);
	return NULL;
}

/*
 * Check the request's token, if it has one.  False while the auth function
 * works on it: the request is processed again with the answer.
 */
static bool
client_check_request_token(Client *c, const HttpRequest *req)
{
	TokenSource source;
	size_t		len = 0;
	char	   *token;

	if (c->auth)
		return c->auth->answered;
	token = client_request_token(c, req, &source, &len);
	if (token == NULL)
		return true;
	client_start_auth(c, source, token, len);
	free(token);
	return c->auth->answered;
}

/*
 * A session cookie authenticates a browser on any site that opens a
 * WebSocket to the relay (cross-site WebSocket hijacking): accept it only
 * from origins named in allowed_origins, or from clients that send no
 * Origin (not browsers).
 */
static bool
client_cookie_origin_ok(Client *c, const HttpRequest *req)
{
	const HttpSlice *origin = http_header(req, "Origin");

	return c->auth == NULL || c->auth->source != TOKEN_COOKIE || origin == NULL ||
		relay_origin_allowed(c->relay, origin->p, origin->len, true);
}

#define COOKIE_ORIGIN_REFUSED "Session cookies are accepted only from the origins in allowed_origins"

/* The identity of the request's token becomes c's, before c is indexed. */
static void
client_adopt_identity(Client *c, char **error)
{
	auth_identity_release(c->session.identity);
	c->session.identity = client_take_identity(c, error);
}

/* True if the query has a "since" parameter (valid or not). */
static bool
client_has_since(HttpSlice query, char *out, size_t outsz, size_t *outlen)
{
	char	   *all = relay_malloc(query.len + 1);
	size_t		n = 0;
	bool		has = http_query_param(query, "since", all, query.len + 1, &n);

	*outlen = 0;
	if (has)
	{
		/* too long for any position: handed on as such, so it fails to parse */
		*outlen = n < outsz ? n : outsz;
		memcpy(out, all, *outlen);
	}
	free(all);
	return has;
}

/*
 * The position a client resumes from: the Last-Event-ID header (SSE), else
 * the "since" query parameter.  Neither: a fresh client, nothing to do.
 * Unparsable: relay_resume() sends a gap signal.
 */
static void
client_resume_from(Client *c, const HttpSlice *header, HttpSlice query)
{
	char		text[RELAY_POS_TEXT_MAX + 8];
	size_t		n = 0;
	RelayPos	pos;

	if (header && header->len > 0)
	{
		n = header->len < sizeof(text) ? header->len : sizeof(text);
		memcpy(text, header->p, n);
	}
	else if (!client_has_since(query, text, sizeof(text), &n))
		return;
	relay_resume(c->relay, c, n < sizeof(text) && relay_pos_parse(text, n, &pos) ? &pos : NULL);
}

static void
client_upgrade_websocket(Client *c, const HttpRequest *req)
{
	const HttpSlice *key = http_header(req, "Sec-WebSocket-Key");
	const HttpSlice *version = http_header(req, "Sec-WebSocket-Version");
	char		accept[WS_ACCEPT_LEN + 1];
	Buf			b = BUF_INIT;
	bool		origin_ok;
	bool		cookie_ok;
	char	   *auth_error = NULL;

	if (!http_header_has_token(req, "Connection", "upgrade"))
	{
		client_respond_error(c, 400, "Bad Request", "Connection header lacks \"Upgrade\"", NULL);
		return;
	}
	if (version == NULL || !slice_eq(*version, "13"))
	{
		client_respond_error(c, 426, "Upgrade Required", "WebSocket version 13 required",
							 "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	if (key == NULL || key->len != 24)
	{
		client_respond_error(c, 400, "Bad Request", "missing or invalid Sec-WebSocket-Key", NULL);
		return;
	}
	origin_ok = client_origin_ok(c, req, NULL);
	cookie_ok = client_cookie_origin_ok(c, req);
	if (origin_ok && cookie_ok)
		client_adopt_identity(c, &auth_error);
	else
		client_auth_free(c);
	c->deflate = c->relay->config.websocket_deflate && deflate_ws_offered(req);

	ws_accept_key(key->p, key->len, accept);
	buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n", accept,
			   c->deflate ? DEFLATE_WS_RESPONSE : "");
	client_queue(c, NULL, b.data, b.len, NULL, 0);
	buf_free(&b);
	if (c->state == CLIENT_DEAD)
	{
		free(auth_error);
		return;
	}
	c->state = CLIENT_WEBSOCKET;
	c->websocket = true;
	relay_client_state_changed(c->relay, c);	/* indexed by its roles */
	client_schedule_expiry(c);

	if (!origin_ok || !cookie_ok)
	{
		Buf			err = BUF_INIT;
		const char *why = origin_ok ? COOKIE_ORIGIN_REFUSED : "Origin not allowed";

		proto_error_json(&err, 1008, why);
		client_send_json(c, err.data, err.len);
		buf_free(&err);
		client_start_close(c, WS_CLOSE_POLICY, origin_ok ? "cookie from another origin" : why);
		return;
	}
	if (auth_error)
		client_log(c, RLOG_DEBUG, "token refused: %s", auth_error);
	if (proto_open(&c->session, req->query, auth_error, client_send_json, c) == PROTO_CLOSE_POLICY)
	{
		client_start_close(c, WS_CLOSE_POLICY, "policy violation");
		free(auth_error);
		return;
	}
	free(auth_error);

	/*
	 * "since": replay once the connection has subscriptions, from the URL
	 * now or with its first subscribe message; live events wait till then
	 */
	{
		char		probe[RELAY_POS_TEXT_MAX];
		size_t		n;

		if (client_has_since(req->query, probe, sizeof(probe), &n))
		{
			if (c->session.nsubs > 0)
				client_resume_from(c, NULL, req->query);
			else
			{
				c->resume_pending = true;
				c->since_query = relay_strndup(req->query.p, req->query.len);
			}
		}
	}
	catalog_check_new_subscriptions(c);
}

static void
client_start_sse(Client *c, const HttpRequest *req)
{
	const char *error = NULL;
	const HttpSlice *last_id = http_header(req, "Last-Event-ID");
	Buf			head = BUF_INIT;
	char	   *auth_error = NULL;

	if (!client_origin_ok(c, req, &head) || !client_cookie_origin_ok(c, req))
	{
		bool		cookie = client_origin_ok(c, req, NULL);

		buf_free(&head);
		client_respond_error(c, 403, "Forbidden", cookie ? COOKIE_ORIGIN_REFUSED : "Origin not allowed",
							 NULL);
		return;
	}
	/* a token that does not check out is an error here: EventSource then stops */
	client_adopt_identity(c, &auth_error);
	if (auth_error)
	{
		Buf			m = BUF_INIT;

		buf_printf(&m, "Session is not valid: %s.", auth_error);
		buf_free(&head);
		client_respond_error(c, 401, "Unauthorized", m.data, "WWW-Authenticate: Bearer\r\n");
		buf_free(&m);
		free(auth_error);
		return;
	}
	if (!proto_open_sse(&c->session, req->query, &error))
	{
		buf_free(&head);
		client_respond_error(c, 400, "Bad Request", error ? error : "invalid request", NULL);
		return;
	}
	{
		Buf			b = BUF_INIT;
		bool		gzip = c->relay->config.sse_gzip && deflate_gzip_accepted(req);

		buf_printf(&b, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
				   "%s%s\r\n", head.data ? head.data : "",
				   gzip ? "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n" : "");
		if (gzip)
			deflate_gzip_header(&c->gz, &b);
		client_queue(c, NULL, b.data, b.len, NULL, 0);
		c->gzip = gzip;
		client_queue(c, NULL, "retry: 1000\n\n", 13, NULL, 0);
		buf_free(&b);
		buf_free(&head);
	}
	if (c->state == CLIENT_DEAD)
		return;
	c->state = CLIENT_SSE;
	relay_client_state_changed(c->relay, c);	/* indexed by its roles */
	client_schedule_expiry(c);
	catalog_check_new_subscriptions(c);
	client_resume_from(c, last_id, req->query);
}

static void
client_process_http(Client *c)
{
	HttpRequest req;
	HttpParseResult r;

	r = http_parse_request(c->in.data, c->in.len, (size_t) c->relay->config.max_head_bytes, &req);
	if (r == HTTP_PARSE_INCOMPLETE)
		return;
	if (r == HTTP_PARSE_TOO_LARGE)
	{
		client_respond_error(c, 431, "Request Header Fields Too Large", "request head too large", NULL);
		return;
	}
	if (r != HTTP_PARSE_OK)
	{
		client_respond_error(c, 400, "Bad Request", "malformed HTTP request", NULL);
		return;
	}

	/* a token comes with the request: its answer first (it may take a moment) */
	if ((slice_ends_with(req.path, "/health") || slice_ends_with(req.path, "/realtime")) &&
		!client_check_request_token(c, &req))
		return;

	if (slice_ends_with(req.path, "/health"))
	{
		Buf			body = BUF_INIT;
		char	   *error;
		AuthIdentity *id = client_take_identity(c, &error);

		if (!slice_eq(req.method, "GET") && !slice_eq(req.method, "HEAD"))
			client_respond_error(c, 405, "Method Not Allowed", "use GET", "Allow: GET\r\n");
		else
		{
			/* counts are for operators (a server-role token); others see the status */
			if (id && id->server)
				relay_health_json(c->relay, &body);
			else
				relay_health_status_json(c->relay, &body);
			client_respond(c, 200, "OK", "application/json", NULL, body.data,
						   slice_eq(req.method, "HEAD") ? 0 : body.len);
		}
		auth_identity_release(id);
		free(error);
		buf_free(&body);
	}
	else if (!slice_ends_with(req.path, "/realtime"))
		client_respond_error(c, 404, "Not Found", "not found; the endpoint is /v1/realtime", NULL);
	else if (!slice_eq(req.method, "GET"))
		client_respond_error(c, 405, "Method Not Allowed", "use GET", "Allow: GET\r\n");
	else if (http_header_has_token(&req, "Upgrade", "websocket"))
	{
		size_t		head_len = req.head_len;

		client_upgrade_websocket(c, &req);
		/* bytes after the head are the first frames */
		if (c->state == CLIENT_WEBSOCKET)
		{
			buf_consume(&c->in, head_len);
			if (c->in.len > 0)
				client_process_ws(c);
			return;
		}
	}
	else
		client_start_sse(c, &req);

	if (c->state != CLIENT_DEAD)
		buf_reset(&c->in);
}

/* ------------------------------------------------------------- WebSocket */

/* Queue a close frame and stop reading messages; the peer's close ends it. */
static void
client_start_close(Client *c, uint16_t code, const char *reason)
{
	Buf			b = BUF_INIT;

	if (c->state != CLIENT_WEBSOCKET)
		return;
	ws_append_close(&b, code, reason);
	client_queue(c, NULL, b.data, b.len, NULL, 0);
	buf_free(&b);
	if (c->state == CLIENT_DEAD)
		return;
	c->close_after_flush = true;
	c->state = CLIENT_CLOSING;
	relay_client_state_changed(c->relay, c);
}

/* Protocol-level failure: close code plus one log line. */
static void
client_fail_ws(Client *c, uint16_t code, const char *why)
{
	client_log(c, RLOG_INFO, "%s; closing with %u", why, code);
	client_start_close(c, code, why);
	buf_reset(&c->in);
}

/* An error message to the client. */
static void
client_send_error(Client *c, int code, const char *message)
{
	Buf			err = BUF_INIT;

	proto_error_json(&err, code, message);
	client_send_json(c, err.data, err.len);
	buf_free(&err);
}

/* A whole, UTF-8-checked message. */
static void
client_handle_message(Client *c, uint8_t opcode, const unsigned char *p, size_t len)
{
	int			limit = c->relay->config.max_messages_per_minute;

	if (!ratelimit_take(&c->messages, limit, c->relay->loop.now_ms))
	{
		char		m[96];

		/* as Appwrite: error 1013, the message is dropped, the connection stays */
		snprintf(m, sizeof(m), "Too many messages: at most %d a minute.", limit);
		client_send_error(c, 1013, m);
		return;
	}
	if (opcode == WS_OP_BINARY)
	{
		client_send_error(c, 1003, "Binary messages are not supported; send JSON text");
		return;
	}
	switch (proto_handle_message(&c->session, (const char *) p, len, client_send_json, c))
	{
		case PROTO_OK:
			if (c->resume_pending && c->session.nsubs > 0)
			{
				HttpSlice	q = {c->since_query, strlen(c->since_query)};

				client_resume_from(c, NULL, q);
				free(c->since_query);
				c->since_query = NULL;
			}
			catalog_check_new_subscriptions(c);
			break;
		case PROTO_CLOSE_POLICY:
			client_start_close(c, WS_CLOSE_POLICY, "policy violation");
			break;
		case PROTO_AUTHENTICATE:
			client_start_auth(c, TOKEN_MESSAGE, c->session.auth_token, strlen(c->session.auth_token));
			if (c->auth->answered)
				client_finish_message_auth(c);
			break;
	}
}

/*
 * A whole permessage-deflate message: inflated with a limit, in a zlib
 * stream that exists only for this call.  False if the connection failed.
 */
static bool
client_handle_compressed(Client *c, uint8_t opcode, const unsigned char *p, size_t len)
{
	Buf			text = BUF_INIT;
	bool		ok = false;

	switch (deflate_inflate_message(p, len, (size_t) c->relay->config.max_message_bytes, &text))
	{
		case DEFLATE_INFLATE_OK:
			if (opcode == WS_OP_TEXT && !utf8_valid((const unsigned char *) text.data, text.len))
				client_fail_ws(c, WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
			else
			{
				client_handle_message(c, opcode, (const unsigned char *) (text.data ? text.data : ""),
									  text.len);
				ok = true;
			}
			break;
		case DEFLATE_INFLATE_TOO_BIG:
			client_fail_ws(c, WS_CLOSE_TOO_BIG, "message larger than the limit once inflated");
			break;
		case DEFLATE_INFLATE_INVALID:
			client_fail_ws(c, WS_CLOSE_INVALID_DATA, "compressed message is not valid DEFLATE data");
			break;
	}
	buf_free(&text);
	return ok;
}

static void
client_handle_control(Client *c, const WsFrame *f)
{
	uint16_t	code;

	switch (f->opcode)
	{
		case WS_OP_PING:
			if (c->state == CLIENT_WEBSOCKET)
				client_queue_frame(c, WS_OP_PONG, f->payload, (size_t) f->payload_len);
			break;
		case WS_OP_PONG:
			break;
		case WS_OP_CLOSE:
			if (!ws_parse_close_payload(f->payload, (size_t) f->payload_len, &code))
			{
				c->got_close = true;
				client_fail_ws(c, WS_CLOSE_PROTOCOL_ERROR, "invalid close frame");
				return;
			}
			c->got_close = true;
			if (c->state == CLIENT_WEBSOCKET)
				client_start_close(c, code == 1005 ? WS_CLOSE_NORMAL : code, "");
			else if (c->out_head == NULL)
				client_kill(c, NULL);	/* we closed first; handshake done */
			break;
	}
}

/* Parse and act on every whole frame in c->in. */
static void
client_process_ws(Client *c)
{
	size_t		off = 0;
	uint64_t	max = (uint64_t) c->relay->config.max_message_bytes;

	while (off < c->in.len && c->state != CLIENT_DEAD && !c->got_close && !c->paused)
	{
		WsFrame		f;
		WsParseResult r;
		uint8_t		opcode;
		const unsigned char *payload;
		size_t		len;

		r = ws_parse_frame_ext((unsigned char *) c->in.data + off, c->in.len - off, max, true,
							   c->deflate, &f);
		if (r == WS_PARSE_INCOMPLETE)
			break;
		if (r == WS_PARSE_PROTOCOL_ERROR)
		{
			client_fail_ws(c, WS_CLOSE_PROTOCOL_ERROR, "WebSocket protocol error");
			return;
		}
		if (r == WS_PARSE_TOO_BIG)
		{
			client_fail_ws(c, WS_CLOSE_TOO_BIG, "message larger than the limit");
			return;
		}
		off += f.header_len + (size_t) f.payload_len;
		relay_client_state_changed(c->relay, c);	/* input: idle timer restarts */

		if (f.opcode >= WS_OP_CLOSE)
		{
			client_handle_control(c, &f);
			continue;
		}
		if (c->state != CLIENT_WEBSOCKET)
			continue;			/* closing: data is discarded */
		switch (ws_message_add(&c->msg, &f, max, &opcode, &payload, &len))
		{
			case WS_MESSAGE_PARTIAL:
				break;
			case WS_MESSAGE_COMPLETE:
				if (!c->msg.compressed)
					client_handle_message(c, opcode, payload, len);
				else if (!client_handle_compressed(c, opcode, payload, len))
				{
					ws_message_free(&c->msg);
					return;		/* failed: client_fail_ws() reset the input */
				}
				ws_message_free(&c->msg);
				break;
			case WS_MESSAGE_PROTOCOL_ERROR:
				client_fail_ws(c, WS_CLOSE_PROTOCOL_ERROR,
							   f.opcode == WS_OP_CONT ? "continuation without a message"
							   : "new message inside a fragmented one");
				return;
			case WS_MESSAGE_INVALID_UTF8:
				client_fail_ws(c, WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
				return;
			case WS_MESSAGE_TOO_BIG:
				client_fail_ws(c, WS_CLOSE_TOO_BIG, "message larger than the limit");
				return;
		}
	}
	if (c->state != CLIENT_DEAD)
		buf_consume(&c->in, off);
}

/* ------------------------------------------------------------ delivery */

/*
 * Queue ev if this client wants it: the shared body between this client's
 * frame header (or SSE "id:" line) and its own subscription list.
 */
bool
client_deliver(Client *c, RelayEvent *ev, Buf *scratch)
{
	unsigned char head[48 + RELAY_POS_TEXT_MAX];
	size_t		head_len;

	/* resumed: what the client had is not sent again (a lagging relay) */
	if (c->has_resume && ev->pos.kind == c->resume_after.kind &&
		relay_pos_cmp(ev->pos, c->resume_after) <= 0)
		return false;
	buf_reset(scratch);
	if (proto_match_event(&c->session, ev, scratch) == 0)
		return false;
	event_append_suffix(ev, scratch);
	if (c->state == CLIENT_WEBSOCKET && c->deflate && deflate_event_prepare(ev))
	{
		/* the compressed body, shared, then this client's stored block */
		deflate_ws_tail(scratch);
		head_len = ws_frame_header(head, WS_OP_TEXT, ev->deflated_len + scratch->len);
		head[0] |= 0x40;		/* RSV1: a compressed message */
		client_queue_chunk(c, ev, true, head, head_len, scratch->data, scratch->len);
		return c->state != CLIENT_DEAD;
	}
	if (c->state == CLIENT_WEBSOCKET)
		head_len = ws_frame_header(head, WS_OP_TEXT, ev->body_len + scratch->len);
	else
	{
		head_len = (size_t) snprintf((char *) head, sizeof(head), "id: %.*s\ndata: ",
									 (int) ev->pos_len, ev->pos_text);
		buf_append(scratch, "\n\n", 2);
		relay_client_state_changed(c->relay, c);	/* keepalive restarts */
	}
	client_queue(c, ev, head, head_len, scratch->data, scratch->len);
	return c->state != CLIENT_DEAD;
}

/*
 * A warning for a person (a channel that never matches): a WebSocket
 * message of a type the SDK ignores, or an SSE comment.  message holds no
 * newline (catalog.c quotes what it does not write itself).
 */
void
client_send_warning(Client *c, const char *message, size_t len)
{
	Buf			b = BUF_INIT;

	if (c->state == CLIENT_WEBSOCKET)
	{
		buf_append_str(&b, "{\"type\":\"warning\",\"data\":{\"message\":");
		buf_append_json_string(&b, message, len);
		buf_append_str(&b, "}}");
		client_send_json(c, b.data, b.len);
	}
	else if (c->state == CLIENT_SSE)
	{
		buf_append_str(&b, ": warning: ");
		buf_append(&b, message, len);
		buf_append_str(&b, "\n\n");
		client_queue(c, NULL, b.data, b.len, NULL, 0);
	}
	buf_free(&b);
}

/*
 * Tell the client that events may be missing before pos (it should refetch
 * what it shows), and that the stream is complete after pos: an SSE record
 * "event: gap" whose id is pos, or a WebSocket message of type "gap".
 */
void
client_send_gap(Client *c, RelayPos pos)
{
	char		text[RELAY_POS_TEXT_MAX] = "";
	Buf			b = BUF_INIT;

	if (pos.kind != RELAY_POS_NONE)
		relay_pos_format(pos, text);
	if (c->state == CLIENT_SSE)
	{
		buf_append_str(&b, "event: gap\n");
		if (text[0])
			buf_printf(&b, "id: %s\n", text);
		buf_printf(&b, "data: {\"type\":\"gap\",\"data\":{\"position\":\"%s\"}}\n\n", text);
		client_queue(c, NULL, b.data, b.len, NULL, 0);
		if (c->state != CLIENT_DEAD)
			relay_client_state_changed(c->relay, c);
	}
	else if (c->state == CLIENT_WEBSOCKET)
	{
		buf_printf(&b, "{\"type\":\"gap\",\"data\":{\"position\":\"%s\"}}", text);
		client_send_json(c, b.data, b.len);
	}
	buf_free(&b);
}

/* SSE comment on a quiet stream, so proxies and half-open peers notice. */
void
client_send_keepalive(Client *c)
{
	client_queue(c, NULL, ": keepalive\n\n", 13, NULL, 0);
	if (c->state != CLIENT_DEAD)
		relay_client_state_changed(c->relay, c);
}

/* A deadline of the client's state passed. */
void
client_on_timeout(Client *c)
{
	switch (c->state)
	{
		case CLIENT_HTTP:
			client_auth_free(c);
			client_respond_error(c, 408, "Request Timeout", "request head not received in time", NULL);
			break;
		case CLIENT_WEBSOCKET:
			client_fail_ws(c, WS_CLOSE_GOING_AWAY, "idle timeout");
			break;
		case CLIENT_SSE:
			client_send_keepalive(c);
			break;
		case CLIENT_CLOSING:
			client_kill(c, NULL);
			break;
		case CLIENT_DEAD:
			break;
	}
}

/*
 * The identity's token expired: no more events (out of the index at once),
 * the client is told why, and closed with a code that makes the SDK
 * reconnect (not 1008), so that it comes back with a fresh token.
 */
void
client_token_expired(Client *c)
{
	static const char why[] = "The token expired; reconnect with a fresh one.";

	fanout_remove(c->relay->fanout, c);
	client_log(c, RLOG_DEBUG, "token expired; closing");
	if (c->state == CLIENT_WEBSOCKET)
	{
		client_send_error(c, CLIENT_TOKEN_EXPIRED, why);
		client_start_close(c, CLIENT_TOKEN_EXPIRED, "token expired");
	}
	else if (c->state == CLIENT_SSE)
	{
		Buf			rec = BUF_INIT;

		buf_append_str(&rec, "event: error\ndata: ");
		proto_error_json(&rec, CLIENT_TOKEN_EXPIRED, why);
		buf_append_str(&rec, "\n\n");
		client_queue(c, NULL, rec.data, rec.len, NULL, 0);
		buf_free(&rec);
		client_shutdown(c);		/* the stream ends after the record */
	}
}

/* The relay is stopping: WebSockets get 1001, SSE streams end. */
void
client_shutdown(Client *c)
{
	switch (c->state)
	{
		case CLIENT_WEBSOCKET:
			client_start_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
			break;
		case CLIENT_SSE:
			if (c->gzip)
			{
				Buf			t = BUF_INIT;

				c->gzip = false;	/* the trailer goes out as it is */
				deflate_gzip_trailer(&c->gz, &t);
				client_queue(c, NULL, t.data, t.len, NULL, 0);
				buf_free(&t);
				if (c->state == CLIENT_DEAD)
					break;
			}
			c->close_after_flush = true;
			c->state = CLIENT_CLOSING;
			relay_client_state_changed(c->relay, c);
			if (!dlist_linked(&c->pending_node))
				dlist_push_tail(&c->relay->pending_write, &c->pending_node);
			break;
		case CLIENT_HTTP:
			client_kill(c, NULL);
			break;
		case CLIENT_CLOSING:
		case CLIENT_DEAD:
			break;
	}
}
