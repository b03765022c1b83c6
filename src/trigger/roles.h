/*
 * roles.h - Appwrite role strings: validation and read("...") permissions
 *
 * The one place that knows which role strings Appwrite accepts; track(),
 * the trigger's options and document permissions all go through it.
 */
#ifndef PG_REALTIME_ROLES_H
#define PG_REALTIME_ROLES_H

#include <stdbool.h>

/* Maximum length of an Appwrite id (user, team, collection ...). */
#define ROLES_ID_MAX_LEN 36

/* True if role is an Appwrite role such as any, users, user:u1, team:t/admin. */
extern bool roles_is_valid(const char *role, int len);

/* ereport(ERROR) with a hint unless role is valid; context names the source. */
extern void roles_check(const char *role, const char *context);

/*
 * If perm is a read permission, read("ROLE"), with a valid role, return a
 * pointer to ROLE inside perm and set *rolelen; else return NULL.
 */
extern const char *roles_read_permission(const char *perm, int len, int *rolelen);

#endif
