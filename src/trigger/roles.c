/*
 * roles.c - Appwrite role strings: validation and read("...") permissions
 *
 * Roles follow Appwrite's Role class: any, guests, users[/DIM], user:ID[/DIM],
 * team:ID[/ROLE], member:ID, label:VALUE.  IDs are Appwrite UIDs: up to 36
 * characters from [a-zA-Z0-9._-], not starting with a special character.
 */
#include "postgres.h"

#include "roles.h"

/* True if c may appear in an Appwrite key or UID. */
static inline bool
roles_is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static inline bool
roles_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* True if s[0..len) is an Appwrite UID (key charset, alphanumeric first). */
static bool
roles_is_uid(const char *s, int len)
{
	int			i;

	if (len < 1 || len > ROLES_ID_MAX_LEN || !roles_is_alnum(s[0]))
		return false;
	for (i = 1; i < len; i++)
		if (!roles_is_key_char(s[i]))
			return false;
	return true;
}

/* True if s[0..len) equals the NUL-terminated word w. */
static inline bool
roles_equals(const char *s, int len, const char *w)
{
	return strlen(w) == (size_t) len && memcmp(s, w, len) == 0;
}

/* True if s[0..len) starts with the NUL-terminated prefix p. */
static inline bool
roles_has_prefix(const char *s, int len, const char *p)
{
	size_t		plen = strlen(p);

	return (size_t) len >= plen && memcmp(s, p, plen) == 0;
}

/*
 * roles_is_valid
 *		True if role[0..len) is a role Appwrite accepts.
 */
bool
roles_is_valid(const char *role, int len)
{
	const char *slash;
	const char *id;
	int			idlen;
	int			dimlen = 0;
	const char *dim = NULL;

	if (roles_equals(role, len, "any") || roles_equals(role, len, "guests"))
		return true;

	slash = memchr(role, '/', len);
	if (slash)
	{
		dim = slash + 1;
		dimlen = len - (dim - role);
		len = slash - role;
	}

	/* users, users/verified, users/unverified */
	if (roles_equals(role, len, "users"))
		return dim == NULL ||
			roles_equals(dim, dimlen, "verified") ||
			roles_equals(dim, dimlen, "unverified");

	if (roles_has_prefix(role, len, "user:"))
	{
		id = role + 5;
		idlen = len - 5;
		return roles_is_uid(id, idlen) &&
			(dim == NULL ||
			 roles_equals(dim, dimlen, "verified") ||
			 roles_equals(dim, dimlen, "unverified"));
	}
	if (roles_has_prefix(role, len, "team:"))
	{
		/* team:ID or team:ID/ROLE, where ROLE is any key */
		return roles_is_uid(role + 5, len - 5) &&
			(dim == NULL || roles_is_uid(dim, dimlen));
	}
	if (dim != NULL)
		return false;
	if (roles_has_prefix(role, len, "member:"))
		return roles_is_uid(role + 7, len - 7);
	if (roles_has_prefix(role, len, "label:"))
	{
		int			i;

		/* labels are alphanumeric only */
		if (len - 6 < 1 || len - 6 > ROLES_ID_MAX_LEN)
			return false;
		for (i = 6; i < len; i++)
			if (!roles_is_alnum(role[i]))
				return false;
		return true;
	}
	return false;
}

/*
 * roles_check
 *		Fail with a hint unless role is valid.
 */
void
roles_check(const char *role, const char *context)
{
	if (!roles_is_valid(role, strlen(role)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Appwrite role \"%s\" in %s", role, context),
				 errhint("Valid roles are any, guests, users, users/verified, users/unverified, "
						 "user:ID, user:ID/verified, user:ID/unverified, team:ID, team:ID/ROLE, "
						 "member:ID and label:VALUE, where an ID has at most 36 characters "
						 "from a-z, A-Z, 0-9, period, hyphen and underscore.")));
}

/*
 * roles_read_permission
 *		Return the role of a read("ROLE") permission, or NULL.
 *
 * Only read permissions grant read access; write, update, delete and create
 * entries, malformed entries and invalid roles are ignored (NULL).
 */
const char *
roles_read_permission(const char *perm, int len, int *rolelen)
{
	const char *role;

	if (len < 8 || memcmp(perm, "read(\"", 6) != 0 || memcmp(perm + len - 2, "\")", 2) != 0)
		return NULL;
	role = perm + 6;
	*rolelen = len - 8;
	if (!roles_is_valid(role, *rolelen))
		return NULL;
	return role;
}
