/*
 * pgoutput.h - parsing what a logical walsender sends with pgoutput
 *
 * Two layers, both from untrusted bytes and every length checked: the
 * replication protocol's CopyData messages ('w' XLogData, 'k' primary
 * keepalive), and inside XLogData the pgoutput messages the relay uses
 * ('B' begin, 'M' logical decoding message, 'C' commit; the others are
 * recognized and skipped).  Also builds the standby status update.  No
 * I/O here, so the parser is unit-tested and fuzzed alone.
 */
#ifndef RELAY_PGOUTPUT_H
#define RELAY_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum PgoCopyKind
{
	PGO_COPY_XLOGDATA,			/* 'w' */
	PGO_COPY_KEEPALIVE,			/* 'k' */
	PGO_COPY_INVALID
} PgoCopyKind;

typedef struct PgoCopy
{
	uint64_t	wal_start;		/* 'w': LSN where data starts */
	uint64_t	wal_end;		/* the server's current end of WAL */
	int64_t		send_time;		/* microseconds since 2000-01-01 */
	bool		reply_requested;	/* 'k' */
	const char *data;			/* 'w': the pgoutput message */
	size_t		data_len;
} PgoCopy;

typedef enum PgoMsgKind
{
	PGO_MSG_BEGIN,
	PGO_MSG_MESSAGE,
	PGO_MSG_COMMIT,
	PGO_MSG_OTHER,				/* relation, type, origin, row changes: skipped */
	PGO_MSG_INVALID
} PgoMsgKind;

typedef struct PgoMsg
{
	/* BEGIN */
	uint64_t	final_lsn;		/* LSN of the commit record */
	int64_t		commit_time;	/* microseconds since 2000-01-01 */
	uint32_t	xid;
	/* MESSAGE */
	bool		transactional;
	uint64_t	msg_lsn;
	const char *prefix;			/* NUL-terminated inside the input */
	const char *content;
	size_t		content_len;
	/* COMMIT */
	uint64_t	commit_lsn;
	uint64_t	end_lsn;		/* end of the commit record */
} PgoMsg;

/* Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define PGO_EPOCH_OFFSET_US INT64_C(946684800000000)

/* One CopyData message from the walsender; *error is static on failure. */
extern PgoCopyKind pgoutput_parse_copy(const char *buf, size_t len, PgoCopy *out,
									   const char **error);

/* One pgoutput message (protocol version 1: no streamed transactions). */
extern PgoMsgKind pgoutput_parse_msg(const char *buf, size_t len, PgoMsg *out,
									 const char **error);

/* The 34-byte standby status update ('r'): written, flushed, applied LSN. */
#define PGO_STATUS_LEN 34
extern void pgoutput_status_update(char out[PGO_STATUS_LEN], uint64_t written, uint64_t flushed,
								   int64_t now_us, bool reply_requested);

#endif
