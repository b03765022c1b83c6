/*
 * settings.h - the relay's settings: one table both hosts read
 *
 * Every field of RelayConfig that a user can set is one row here: its name
 * (the worker's GUC pg_realtime.NAME, the standalone relay's flag --NAME
 * with '-' for '_'), type, unit, default, bounds and description.  The
 * worker defines its GUCs from the table, pg_realtime_relay its flags and
 * --help, relay_config_defaults() the defaults, and a reload keeps the
 * settings marked RELAY_SETTING_RESTART, so no host repeats a default or a
 * bound.
 */
#ifndef RELAY_SETTINGS_H
#define RELAY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "relay.h"

typedef enum RelaySettingType
{
	RELAY_SETTING_INT,			/* int field */
	RELAY_SETTING_BOOL,			/* bool field */
	RELAY_SETTING_ENUM,			/* int field: index into choices */
	RELAY_SETTING_STRING		/* char * field, malloc'd */
} RelaySettingType;

/* the unit of an int setting's value, as GUC units (GUC_UNIT_*) */
typedef enum RelaySettingUnit
{
	RELAY_UNIT_NONE,
	RELAY_UNIT_MS,
	RELAY_UNIT_S,
	RELAY_UNIT_KB,
	RELAY_UNIT_BYTE
} RelaySettingUnit;

/* read only at start (a PGC_POSTMASTER GUC); a reload keeps the old value */
#define RELAY_SETTING_RESTART	0x01
/* the GUC is defined by the trigger side too (pg_realtime.channel): the
 * worker reads it rather than defining it */
#define RELAY_SETTING_SHARED	0x02
/* a secret: GUC_SUPERUSER_ONLY, never printed */
#define RELAY_SETTING_SECRET	0x04

typedef struct RelaySetting
{
	const char *name;			/* pg_realtime.NAME, --NAME (with '-') */
	char		short_flag;		/* e.g. 'p' for -p, or 0 */
	RelaySettingType type;
	RelaySettingUnit unit;
	int			flags;			/* RELAY_SETTING_* */
	size_t		offset;			/* of the field in RelayConfig */
	int			def;			/* INT, BOOL, ENUM: default */
	int			worker_def;		/* INT: the worker's default when it differs,
								 * else def (see relay_setting_default) */
	int			min;
	int			max;
	const char *str_def;		/* STRING: default */
	const char *const *choices; /* ENUM: names, NULL-terminated */
	const char *metavar;		/* --help: what the value is (MS, KB, LIST) */
	const char *description;	/* one line, GUC short_desc and --help */
	const char *detail;			/* GUC long_desc, or NULL */
} RelaySetting;

/* on/off, true/false, yes/no, 1/0 (any case): false if none of them */
extern bool relay_parse_bool(const char *text, bool *out);

extern const RelaySetting relay_settings[];
extern const int relay_nsettings;

/* The default of an INT, BOOL or ENUM setting for a host. */
extern int	relay_setting_default(const RelaySetting *s, bool worker);

/* Address of the setting's field in config. */
#define relay_setting_field(config, s) ((void *) ((char *) (config) + (s)->offset))

/*
 * Parse text as the setting's value into config, as the GUC would: ints
 * take an optional unit (500ms, 10s, 1min; 64kB, 1MB), bools on/off,
 * true/false, yes/no, 1/0, enums one of their choices.  On failure
 * appends a message to err and returns false.
 */
extern bool relay_setting_parse(const RelaySetting *s, const char *text, RelayConfig *config,
								Buf *err);

/* Append the setting's value in config as text (secrets as "(hidden)"). */
extern void relay_setting_format(const RelaySetting *s, const RelayConfig *config, Buf *out);

#endif
