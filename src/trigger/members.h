/*
 * members.h - the extension's own objects, by OID
 *
 * Found among the members of extension pg_realtime (pg_depend), never by
 * name through a search_path or a schema others could write to.
 */
#ifndef PG_REALTIME_MEMBERS_H
#define PG_REALTIME_MEMBERS_H

typedef struct ExtensionMembers
{
	Oid			keys_relid;		/* realtime.keys */
	Oid			event_seq_relid;	/* realtime.event_seq */
	Oid			store_large_event;	/* realtime.store_large_event(text) */
} ExtensionMembers;

/* The members, resolved once per backend; errors if one is missing. */
extern const ExtensionMembers *members_get(void);

#endif
