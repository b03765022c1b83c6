/*
 * position.h - where an event stands in its database's stream of events
 *
 * With the wal transport a position is the commit LSN of the event's
 * transaction and the event's index in it, written "16/B374D848:3": the same
 * on every relay of a database, because it comes from the WAL.  With the
 * notify transport it is the relay's own counter, written "42", valid only
 * on the relay process that numbered it.  Positions of the two kinds never
 * compare: a client that resumes with the other kind gets a gap signal.
 */
#ifndef RELAY_POSITION_H
#define RELAY_POSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum RelayPosKind
{
	RELAY_POS_NONE = 0,			/* no position (nothing seen yet) */
	RELAY_POS_COUNTER,			/* notify: relay-local event counter */
	RELAY_POS_WAL				/* wal: commit LSN, index in the transaction */
} RelayPosKind;

typedef struct RelayPos
{
	uint64_t	major;			/* counter, or commit LSN */
	uint32_t	minor;			/* 0, or index in the transaction */
	uint8_t		kind;			/* RelayPosKind */
} RelayPos;

/* longest text form: "FFFFFFFF/FFFFFFFF:4294967295" */
#define RELAY_POS_TEXT_MAX 32

/* <0, 0, >0 like strcmp; positions of one kind only */
static inline int
relay_pos_cmp(RelayPos a, RelayPos b)
{
	if (a.major != b.major)
		return a.major < b.major ? -1 : 1;
	if (a.minor != b.minor)
		return a.minor < b.minor ? -1 : 1;
	return 0;
}

/* Write the text form; returns its length. */
extern size_t relay_pos_format(RelayPos pos, char out[RELAY_POS_TEXT_MAX]);

/*
 * Parse a text form (the SSE Last-Event-ID, the WebSocket "since").  False
 * for anything else: empty, too long, signs, spaces, overflow.
 */
extern bool relay_pos_parse(const char *text, size_t len, RelayPos *pos);

/* An LSN as PostgreSQL writes it: "16/B374D848". */
extern size_t relay_lsn_format(uint64_t lsn, char out[RELAY_POS_TEXT_MAX]);

#endif
