/*
 * relay_int.h - structures shared by the relay's own modules
 *
 * loop.c waits; relay.c accepts, fans events out and keeps time; client.c
 * speaks HTTP, WebSocket and SSE to one peer; listener.c holds one LISTEN
 * connection to PostgreSQL (notify transport), walsource.c one logical
 * replication connection (wal transport); replay.c keeps the recent events
 * for resuming clients; catalog.c warns about channels that never match.
 * Hosts see only relay.h.
 */
#ifndef RELAY_INT_H
#define RELAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "deflate.h"
#include "event.h"
#include "log.h"
#include "position.h"
#include "protocol.h"
#include "ratelimit.h"
#include "relay.h"
#include "replay.h"
#include "ws.h"

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* ---- intrusive circular doubly-linked list ---- */
typedef struct DNode
{
	struct DNode *prev;
	struct DNode *next;
} DNode;

#define dlist_init(h) ((h)->prev = (h)->next = (h))
#define dlist_empty(h) ((h)->next == (h))
#define dlist_linked(n) ((n)->next != NULL)
#define container_of(type, member, ptr) \
	((type *) ((char *) (ptr) - offsetof(type, member)))
#define dlist_container(type, member, ptr) container_of(type, member, ptr)

static inline void
dlist_push_tail(DNode *head, DNode *node)
{
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

static inline void
dlist_remove(DNode *node)
{
	if (node->next == NULL)
		return;
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = NULL;
}

/* ---- event loop (loop.c) ---- */
struct Watch;
typedef void (*WatchHandler) (struct Watch *w, uint32_t events);

/* Embedded first in whatever owns a descriptor; epoll data points here. */
typedef struct Watch
{
	int			fd;
	uint32_t	events;			/* EPOLLIN/EPOLLOUT currently asked for */
	WatchHandler handler;
} Watch;

typedef struct Loop
{
	int			epfd;
	int64_t		now_ms;			/* monotonic, refreshed after each wait */
} Loop;

extern bool loop_init(Loop *loop);
extern void loop_close(Loop *loop);
extern bool loop_add(Loop *loop, Watch *w, int fd, uint32_t events, WatchHandler handler);
extern void loop_modify(Loop *loop, Watch *w, uint32_t events);
extern void loop_remove(Loop *loop, Watch *w);
extern void loop_watch(Loop *loop, Watch *w, int fd, uint32_t events, WatchHandler handler);

/* Wait at most timeout_ms (-1: no limit) and dispatch ready watches. */
extern void loop_wait(Loop *loop, int timeout_ms);
extern int64_t loop_clock_ms(void);

/* ---- clients (client.c) ---- */
typedef enum ClientState
{
	CLIENT_HTTP,				/* reading the request head */
	CLIENT_WEBSOCKET,			/* upgraded; Appwrite messages */
	CLIENT_SSE,					/* text/event-stream */
	CLIENT_CLOSING,				/* close frame or response queued; draining */
	CLIENT_DEAD					/* to be freed by the sweep */
} ClientState;

/*
 * One queued output unit: own bytes before, the shared event body (if any),
 * own bytes after.  sent counts bytes of the whole unit already written.
 */
typedef struct OutChunk
{
	struct OutChunk *next;
	RelayEvent *event;
	uint32_t	pre_len;
	uint32_t	post_len;
	bool		deflated;		/* the shared part is event->deflated, not
								 * event->body (deflate.h) */
	size_t		sent;
	unsigned char bytes[];
} OutChunk;

/* A client's place in one list of the fan-out index (fanout.c). */
typedef struct FanoutMember
{
	DNode		node;
	struct Client *client;
} FanoutMember;

typedef struct Client
{
	Watch		watch;
	struct Relay *relay;
	ClientState state;
	DNode		timer_node;		/* in the relay list of its state */
	int64_t		timer_base_ms;	/* deadline = base + that list's timeout */
	DNode		deliver_node;	/* in relay->deliverable while WS/SSE */
	DNode		pending_node;	/* in relay->pending_write */
	union
	{
		DNode		slow_node;	/* alive: in relay->slow while over the soft
								 * output limit */
		DNode		dead_node;	/* dead: in relay->dead */
	};
	int64_t		slow_since_ms;	/* when the backlog went over the soft limit */
	Buf			in;				/* unparsed input; freed when empty */
	WsMessage	msg;			/* fragmented message being assembled */
	OutChunk   *out_head;
	OutChunk   *out_tail;
	size_t		out_bytes;		/* unsent bytes queued, shared bodies included */
	bool		close_after_flush;
	bool		got_close;		/* peer sent its close frame */
	bool		websocket;		/* upgraded: input is frames, even while closing */
	bool		deflate;		/* permessage-deflate negotiated */
	bool		gzip;			/* SSE body is gzip: output goes through
								 * deflate_gzip_wrap() */
	DeflateGzip gz;				/* the gzip stream's CRC-32 and size */
	bool		catalog_recheck;	/* a subscription waits for a catalog
									 * refresh (catalog.c) */
	int8_t		counted_as;		/* 0, or the state it is counted under */
	bool		catching_up;	/* replaying the window: live events wait */
	bool		resume_pending; /* WebSocket "since" waits for a subscription */
	bool		has_resume;		/* resume_after is set */
	RelayPos	resume_after;	/* deliver only events after it */
	uint64_t	replay_next;	/* window index to send next while catching up */
	char	   *since_query;	/* WebSocket URL query while resume_pending */
	ProtoSession session;
	char		peer[56];		/* "addr:port" for log lines */

	/* who it is and what it may cost (client.c, fanout.c, peers.c) */
	struct Peer *peer_entry;	/* its address's entry, or NULL */
	struct ClientAuth *auth;	/* a token being checked, or its answer */
	FanoutMember *member_of;	/* one per role while indexed; else NULL */
	FanoutMember own_member;	/* member_of of a guest or a server connection */
	uint64_t	fanout_stamp;	/* fanout.c's stamp of the last event queued to it */
	RateLimit	messages;		/* max_messages_per_minute */
	int32_t		expiry_slot;	/* in the fan-out's expiry heap, or -1 */
	uint16_t	nmember_of;
	bool		paused;			/* waiting for the auth function: input waits */
} Client;

extern Client *client_accept(struct Relay *relay, int fd, const char *peer, struct Peer *peer_entry);
extern void client_on_timeout(Client *c);
extern bool client_deliver(Client *c, RelayEvent *ev, Buf *scratch);
extern void client_flush(Client *c);
extern void client_shutdown(Client *c);	/* relay stopping: 1001 / end SSE */
extern void client_free(Client *c);
extern void client_kill(Client *c, const char *why);	/* mark dead, log */
extern void client_send_keepalive(Client *c);
extern void client_send_warning(Client *c, const char *message, size_t len);
extern void client_token_expired(Client *c);	/* its identity's exp passed */
extern void client_send_gap(Client *c, RelayPos pos);

/* ---- database listener (listener.c): one LISTEN connection ---- */
typedef struct Listener Listener;

extern Listener *listener_create(struct Relay *relay, const char *conninfo, const char *channel);
extern void listener_destroy(Listener *l);
extern int64_t listener_next_deadline(Listener *l);	/* -1: none */
extern void listener_on_timer(Listener *l);
extern bool listener_connected(const Listener *l);
extern void listener_request_purge(Listener *l, int retention_s);

/*
 * The startup options of every relay session (the user's, then search_path
 * pinned to pg_catalog, pg_temp) and the check of what the session then
 * reports: NULL if pinned, else why not (malloc'd).
 */
extern char *listener_options(const char *conninfo);
extern char *listener_check_search_path(const char *path);

/* Fetch the database's catalog; catalog_answered() follows (maybe at once). */
extern void listener_request_catalog(Listener *l);

/*
 * What the database publishes: the database ids its events may carry and
 * its collection ids, one a line; false while not known.
 */
extern bool listener_catalog(const Listener *l, const char **database_ids, const char **collections);

/* ---- which channels can match (catalog.c) ---- */
typedef struct CatalogState
{
	uint32_t	flag_gen;		/* bumped when a client waits for a refresh */
	uint32_t	start_gen;		/* flag_gen when the last refresh started */
	uint32_t	done_gen;		/* start_gen of the last refresh processed */
	int			pending;		/* listeners yet to answer the refresh */
	int64_t		started_ms;		/* when the last refresh started; 0 never */
	int64_t		next_ms;		/* rate-limited refresh due; -1 none */
} CatalogState;

extern void catalog_check_new_subscriptions(Client *c);
extern void catalog_want_refresh(struct Relay *relay);
extern void catalog_answered(struct Relay *relay);
extern void catalog_listeners_replaced(struct Relay *relay);
extern int64_t catalog_next_deadline(struct Relay *relay);
extern void catalog_on_timer(struct Relay *relay);
/* ---- replication source (walsource.c): one slot, wal transport ---- */
typedef struct WalSource WalSource;

extern WalSource *walsource_create(struct Relay *relay, const char *conninfo, const char *slot_name);
extern void walsource_destroy(WalSource *w);
extern int64_t walsource_next_deadline(WalSource *w);	/* -1: none */
extern void walsource_on_timer(WalSource *w);
extern bool walsource_connected(const WalSource *w);
extern void walsource_health_json(WalSource *w, Buf *out);
/* the replay window kept (added) or dropped (!added) one of its events */
extern void walsource_on_window(WalSource *w, RelayEvent *ev, bool added);

/* ---- relay (relay.c) ---- */

/* A TCP socket clients connect to (not to be confused with a Listener). */
typedef struct Acceptor
{
	Watch		watch;
	struct Relay *relay;
} Acceptor;

/* Why a notification or event was not delivered (GET /v1/health "dropped"). */
typedef enum RelayDrop
{
	DROP_UNSEALED,				/* plaintext from a database that seals */
	DROP_FORGED,				/* sealed, but malformed or fails to authenticate */
	DROP_UNKNOWN_KEY,			/* sealed with a key the database does not have */
	DROP_REPLAYED,				/* authentic, but seen before or too old */
	DROP_DATABASE,				/* names another database than its own */
	DROP_TOO_LARGE,				/* over max_event_size */
	DROP_MALFORMED,				/* not a valid event, or over the JSON limits */
	DROP_DUPLICATE,				/* points at a large event already fetched */
	DROP_OVER_BUDGET,			/* max_pending was reached */
	DROP_UNREADABLE,			/* a large event that could not be read */
	DROP_NREASONS
} RelayDrop;

extern const char *const relay_drop_names[DROP_NREASONS];

typedef struct RelayStats
{
	uint64_t	events_received;
	uint64_t	events_invalid; /* all dropped, whatever the reason */
	uint64_t	dropped[DROP_NREASONS];
	uint64_t	deliveries;
	uint64_t	clients_accepted;
	uint64_t	clients_refused;
	uint64_t	clients_cut_off;	/* slow readers over an output limit */
	uint64_t	db_reconnects;
} RelayStats;

struct Relay
{
	RelayConfig config;
	Loop		loop;
	int			nacceptors;
	Acceptor  **acceptors;		/* one per bound address */
	Watch		signal_watch;	/* self-pipe read end */
	int			signal_pipe[2];
	int			spare_fd;		/* given up to refuse a client when out of fds */
	Watch		host_watch;
	RelayFdCallback host_cb;
	void	   *host_arg;
	RelayReloadCallback reload_cb;
	void	   *reload_arg;
	ProtoLimits limits;

	int			nlisteners;
	Listener  **listeners;

	struct Auth *auth;			/* tokens to identities (auth.c) */
	struct Fanout *fanout;		/* clients by role, expiries (fanout.c) */
	struct Peers *peers;		/* per-address limits (peers.c) */
	size_t		subscription_bytes;	/* all subscriptions' memory */
	LogLimit	log_limit;		/* client log lines of all addresses together */

	int			nclients;
	int			ndead;			/* of nclients, killed and not yet freed */
	int			nwebsocket;
	int			nsse;
	int			nslow;			/* clients in the slow list */
	DNode		deliverable;	/* WS and SSE clients, for fan-out */
	DNode		pending_write;	/* clients with output to flush this turn */
	DNode		dead;			/* clients to free at the end of this turn */
	DNode		timers_http;	/* by accept time: handshake deadline */
	DNode		timers_ws;		/* by last input: idle deadline */
	DNode		timers_sse;		/* by last output: keepalive due */
	DNode		timers_closing; /* by close start: drain deadline */
	DNode		slow;			/* by slow_since_ms: over the soft output
								 * limit, cut off after client_output_grace */

	int			nwalsources;
	WalSource **walsources;

	uint64_t	next_event_id;	/* notify transport: the last counter given */
	ReplayWindow window;		/* recent events for resuming clients */
	size_t		pending_bytes;	/* held by listeners behind fetches (max_pending) */

	int64_t		next_purge_ms;
	CatalogState catalog;
	bool		shutdown_requested;
	bool		reload_requested;
	int64_t		started_ms;
	Buf			scratch;		/* per-event subscription lists */
	RelayStats	stats;
};

#define CLOSING_TIMEOUT_MS 3000

extern void relay_publish(struct Relay *relay, RelayEvent *ev);

extern void relay_count_drop(struct Relay *relay, RelayDrop reason);
extern bool relay_id_listed(const char *list, const char *id);
extern EventNotifyKind relay_check_event(struct Relay *relay, const char *text, size_t len, const char *ts,
										 const char *database_id, const char *also_ids, RelayEvent **ev,
										 int64_t *large_id, RelayDrop *reason, const char **detail);
extern void relay_client_state_changed(struct Relay *relay, Client *c);
extern void relay_client_backlog_changed(struct Relay *relay, Client *c, size_t backlog);
extern void relay_client_not_slow(struct Relay *relay, Client *c);
extern void relay_health_json(struct Relay *relay, Buf *out);
extern bool relay_origin_allowed(struct Relay *relay, const char *origin, size_t len, bool explicitly);
extern void relay_health_status_json(struct Relay *relay, Buf *out);

/*
 * A client resumes after position since: replay the window's events after
 * it that the client may read (paced by its output), a gap signal first if
 * some may be gone; live events follow.  since NULL: the text did not
 * parse; a gap signal only.
 */
extern void relay_resume(struct Relay *relay, Client *c, const RelayPos *since);
/* Continue a paced replay (client output drained). */
extern void relay_replay_continue(struct Relay *relay, Client *c);
/* Events may have been lost at this point (notify: LISTEN connection lost). */
extern void relay_signal_gap(struct Relay *relay);
/* Positions of the wal transport: the floor a restarted slot begins at. */
extern void relay_raise_floor(struct Relay *relay, RelayPos pos);

/*
 * A log line about a client ("client ADDR: ..."), debug lines aside limited
 * to max_log_lines_per_minute per address and RELAY_CLIENT_LOG_ADDRESSES
 * times that for all clients together, so that neither one address nor a
 * crowd of them floods the log; the next line out says how many were held.
 */
#define RELAY_CLIENT_LOG_ADDRESSES 10
extern void client_log(Client *c, RelayLogLevel level, const char *fmt,...) __attribute__((format(printf, 3, 4)));

#endif
