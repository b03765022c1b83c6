/*
 * pgoutput.c - replication stream and pgoutput message parsing (see
 * pgoutput.h; formats in PostgreSQL's "Streaming Replication Protocol" and
 * "Logical Replication Message Formats")
 */
#include "pgoutput.h"

#include <string.h>

/* A reader over untrusted bytes: every read checks what is left. */
typedef struct Reader
{
	const unsigned char *p;
	size_t		left;
	bool		bad;
} Reader;

static uint64_t
read_uint(Reader *r, int bytes)
{
	uint64_t	v = 0;

	if (r->bad || r->left < (size_t) bytes)
	{
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v = v << 8 | r->p[i];
	r->p += bytes;
	r->left -= (size_t) bytes;
	return v;
}

static void
write_uint(char *out, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
	{
		out[i] = (char) (v & 0xff);
		v >>= 8;
	}
}

PgoCopyKind
pgoutput_parse_copy(const char *buf, size_t len, PgoCopy *out, const char **error)
{
	Reader		r = {(const unsigned char *) buf, len, false};
	uint64_t	kind = read_uint(&r, 1);

	memset(out, 0, sizeof(*out));
	*error = NULL;
	if (kind == 'w')
	{
		out->wal_start = read_uint(&r, 8);
		out->wal_end = read_uint(&r, 8);
		out->send_time = (int64_t) read_uint(&r, 8);
		if (r.bad)
		{
			*error = "XLogData message is too short";
			return PGO_COPY_INVALID;
		}
		out->data = (const char *) r.p;
		out->data_len = r.left;
		return PGO_COPY_XLOGDATA;
	}
	if (kind == 'k')
	{
		out->wal_end = read_uint(&r, 8);
		out->send_time = (int64_t) read_uint(&r, 8);
		out->reply_requested = read_uint(&r, 1) != 0;
		if (r.bad || r.left != 0)
		{
			*error = "keepalive message has the wrong length";
			return PGO_COPY_INVALID;
		}
		return PGO_COPY_KEEPALIVE;
	}
	*error = r.bad ? "empty replication message" : "unknown replication message type";
	return PGO_COPY_INVALID;
}

PgoMsgKind
pgoutput_parse_msg(const char *buf, size_t len, PgoMsg *out, const char **error)
{
	Reader		r = {(const unsigned char *) buf, len, false};
	uint64_t	kind = read_uint(&r, 1);

	memset(out, 0, sizeof(*out));
	*error = NULL;
	switch (kind)
	{
		case 'B':
			out->final_lsn = read_uint(&r, 8);
			out->commit_time = (int64_t) read_uint(&r, 8);
			out->xid = (uint32_t) read_uint(&r, 4);
			if (r.bad || r.left != 0)
				break;
			return PGO_MSG_BEGIN;
		case 'C':
			(void) read_uint(&r, 1);	/* flags, unused */
			out->commit_lsn = read_uint(&r, 8);
			out->end_lsn = read_uint(&r, 8);
			out->commit_time = (int64_t) read_uint(&r, 8);
			if (r.bad || r.left != 0)
				break;
			return PGO_MSG_COMMIT;
		case 'M':
			{
				const unsigned char *nul;
				uint64_t	n;

				out->transactional = (read_uint(&r, 1) & 1) != 0;
				out->msg_lsn = read_uint(&r, 8);
				if (r.bad)
					break;
				nul = memchr(r.p, '\0', r.left);
				if (nul == NULL)
					break;
				out->prefix = (const char *) r.p;
				r.left -= (size_t) (nul + 1 - r.p);
				r.p = nul + 1;
				n = read_uint(&r, 4);
				if (r.bad || n != r.left)
					break;
				out->content = (const char *) r.p;
				out->content_len = (size_t) n;
				return PGO_MSG_MESSAGE;
			}
		case 'R':				/* relation */
		case 'Y':				/* type */
		case 'O':				/* origin */
		case 'I':				/* insert */
		case 'U':				/* update */
		case 'D':				/* delete */
		case 'T':				/* truncate */
			return PGO_MSG_OTHER;
		default:
			*error = r.bad ? "empty pgoutput message" : "unknown pgoutput message type";
			return PGO_MSG_INVALID;
	}
	*error = "malformed pgoutput message";
	return PGO_MSG_INVALID;
}

void
pgoutput_status_update(char out[PGO_STATUS_LEN], uint64_t written, uint64_t flushed,
					   int64_t now_us, bool reply_requested)
{
	out[0] = 'r';
	write_uint(out + 1, written, 8);
	write_uint(out + 9, flushed, 8);
	write_uint(out + 17, flushed, 8);	/* applied: nothing to apply */
	write_uint(out + 25, (uint64_t) (now_us - PGO_EPOCH_OFFSET_US), 8);
	out[33] = reply_requested ? 1 : 0;
}
