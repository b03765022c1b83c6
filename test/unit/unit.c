/*
 * unit.c - the harness behind unit.h, plus relay_log() for test binaries
 */
#include "unit.h"
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>

int			unit_passed;
int			unit_failed;

void
unit_check(bool ok, const char *expr, const char *file, int line)
{
	if (ok)
		unit_passed++;
	else
	{
		unit_failed++;
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
	}
}

void
unit_check_str(const char *got, const char *want, const char *file, int line)
{
	bool		ok = (got != NULL && want != NULL && strcmp(got, want) == 0);

	unit_check(ok, "strings equal", file, line);
	if (!ok)
		fprintf(stderr, "  got:  %s\n  want: %s\n", got ? got : "(null)", want ? want : "(null)");
}

int
unit_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

void
relay_log(RelayLogLevel level, const char *fmt,...)
{
	va_list		ap;

	if (level == RLOG_DEBUG && getenv("UNIT_DEBUG") == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
