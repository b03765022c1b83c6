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
#include "http.h"
#include "log.h"
#include "utf8.h"
#include "ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CLIENT_READ_CHUNK 16384
#define CLIENT_IOV_MAX 64

static void client_on_io(Watch *w, uint32_t events);
static void client_read(Client *c);
static void client_process_http(Client *c);
static void client_process_ws(Client *c);
static void client_queue(Client *c, RelayEvent *ev, const void *pre, size_t pre_len,
						 const void *post, size_t post_len);
static void client_start_close(Client *c, uint16_t code, const char *reason);
static void client_respond(Client *c, int status, const char *reason, const char *content_type,
						   const char *extra_headers, const char *body, size_t body_len);

/* Take over an accepted, non-blocking socket. */
Client *
client_accept(Relay *relay, int fd, const char *peer)
{
	Client	   *c = relay_calloc(1, sizeof(Client));

	c->relay = relay;
	c->state = CLIENT_HTTP;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	proto_session_init(&c->session, &relay->limits);
	if (!loop_add(&relay->loop, &c->watch, fd, EPOLLIN, client_on_io))
	{
		close(fd);
		proto_session_free(&c->session);
		free(c);
		return NULL;
	}
	relay->nclients++;
	relay_client_state_changed(relay, c);
	return c;
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
		relay_log_client_cut(relay, c->peer, why);
	c->state = CLIENT_DEAD;
	relay_client_state_changed(relay, c);
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
	proto_session_free(&c->session);
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

/* Bytes of a chunk not yet written. */
static size_t
outchunk_rest(const OutChunk *ch)
{
	return ch->pre_len + ch->post_len + (ch->event ? ch->event->body_len : 0) - ch->sent;
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

static void
client_queue(Client *c, RelayEvent *ev, const void *pre, size_t pre_len,
			 const void *post, size_t post_len)
{
	Relay	   *relay = c->relay;
	OutChunk   *ch;
	size_t		total;
	size_t		backlog;

	if (c->state == CLIENT_DEAD)
		return;
	ch = relay_malloc(offsetof(OutChunk, bytes) + pre_len + post_len);
	ch->next = NULL;
	ch->event = ev;
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
	total = pre_len + post_len + (ev ? ev->body_len : 0);
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
	Relay	   *relay = c->relay;

	dlist_remove(&c->pending_node);
	while (c->out_head && c->state != CLIENT_DEAD)
	{
		struct iovec iov[CLIENT_IOV_MAX];
		int			niov = 0;
		ssize_t		n;
		size_t		left;

		for (OutChunk *ch = c->out_head; ch && niov + 3 <= CLIENT_IOV_MAX; ch = ch->next)
		{
			size_t		body = ch->event ? ch->event->body_len : 0;
			size_t		skip = ch->sent;
			size_t		seg[3] = {ch->pre_len, body, ch->post_len};
			const unsigned char *base[3];

			base[0] = ch->bytes;
			base[1] = ch->event ? (const unsigned char *) ch->event->body : NULL;
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
	if (c->catching_up && c->out_bytes < (size_t) relay->config.max_client_output_kb * 256)
		relay_replay_continue(relay, c);	/* queues more; flushed this turn */
	if (c->state == CLIENT_DEAD)
		return;
	relay_client_backlog_changed(relay, c, client_backlog(c));
	if (c->out_head)
		loop_modify(&relay->loop, &c->watch, EPOLLIN | EPOLLOUT);
	else
	{
		loop_modify(&relay->loop, &c->watch, EPOLLIN);
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
	relay_log_client(c->relay, RLOG_DEBUG, c->peer, "HTTP %d: %s", status, message);
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
	if (!relay_origin_allowed(c->relay, origin->p, origin->len))
		return false;
	if (cors)
	{
		buf_append_str(cors, "Access-Control-Allow-Origin: ");
		buf_append(cors, origin->p, origin->len);
		buf_append_str(cors, "\r\nVary: Origin\r\n");
	}
	return true;
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

	ws_accept_key(key->p, key->len, accept);
	buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	client_queue(c, NULL, b.data, b.len, NULL, 0);
	buf_free(&b);
	if (c->state == CLIENT_DEAD)
		return;
	c->state = CLIENT_WEBSOCKET;
	c->websocket = true;
	relay_client_state_changed(c->relay, c);

	if (!origin_ok)
	{
		Buf			err = BUF_INIT;

		proto_error_json(&err, 1008, "Origin not allowed");
		client_send_json(c, err.data, err.len);
		buf_free(&err);
		client_start_close(c, WS_CLOSE_POLICY, "Origin not allowed");
		return;
	}
	if (proto_open(&c->session, req->query, client_send_json, c) == PROTO_CLOSE_POLICY)
	{
		client_start_close(c, WS_CLOSE_POLICY, "policy violation");
		return;
	}

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

	if (!client_origin_ok(c, req, &head))
	{
		buf_free(&head);
		client_respond_error(c, 403, "Forbidden", "Origin not allowed", NULL);
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

		buf_printf(&b, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
				   "%s\r\nretry: 1000\n\n", head.data ? head.data : "");
		client_queue(c, NULL, b.data, b.len, NULL, 0);
		buf_free(&b);
		buf_free(&head);
	}
	if (c->state == CLIENT_DEAD)
		return;
	c->state = CLIENT_SSE;
	relay_client_state_changed(c->relay, c);
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

	if (slice_ends_with(req.path, "/health"))
	{
		Buf			body = BUF_INIT;

		if (!slice_eq(req.method, "GET") && !slice_eq(req.method, "HEAD"))
			client_respond_error(c, 405, "Method Not Allowed", "use GET", "Allow: GET\r\n");
		else
		{
			relay_health_json(c->relay, &body);
			client_respond(c, 200, "OK", "application/json", NULL, body.data,
						   slice_eq(req.method, "HEAD") ? 0 : body.len);
		}
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
	relay_log_client(c->relay, RLOG_INFO, c->peer, "%s; closing with %u", why, code);
	client_start_close(c, code, why);
	buf_reset(&c->in);
}

/* A whole, UTF-8-checked message. */
static void
client_handle_message(Client *c, uint8_t opcode, const unsigned char *p, size_t len)
{
	if (opcode == WS_OP_BINARY)
	{
		Buf			err = BUF_INIT;

		proto_error_json(&err, 1003, "Binary messages are not supported; send JSON text");
		client_send_json(c, err.data, err.len);
		buf_free(&err);
		return;
	}
	if (proto_handle_message(&c->session, (const char *) p, len, client_send_json, c)
		== PROTO_CLOSE_POLICY)
	{
		client_start_close(c, WS_CLOSE_POLICY, "policy violation");
		return;
	}
	if (c->resume_pending && c->session.nsubs > 0)
	{
		HttpSlice	q = {c->since_query, strlen(c->since_query)};

		client_resume_from(c, NULL, q);
		free(c->since_query);
		c->since_query = NULL;
	}
	catalog_check_new_subscriptions(c);
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

	while (off < c->in.len && c->state != CLIENT_DEAD && !c->got_close)
	{
		WsFrame		f;
		WsParseResult r;
		uint8_t		opcode;
		const unsigned char *payload;
		size_t		len;

		r = ws_parse_frame((unsigned char *) c->in.data + off, c->in.len - off, max, true, &f);
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
				client_handle_message(c, opcode, payload, len);
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
