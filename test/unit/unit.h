/*
 * unit.h - a minimal assertion harness for the relay's C unit tests
 *
 * Each test binary calls CHECK()/CHECK_STR() and returns unit_summary(); the
 * runner adds the counts up and prints the closing "N passed, N failed" line.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern int	unit_passed;
extern int	unit_failed;

extern void unit_check(bool ok, const char *expr, const char *file, int line);
extern void unit_check_str(const char *got, const char *want, const char *file, int line);
extern int	unit_summary(const char *name);

#define CHECK(expr) unit_check((expr), #expr, __FILE__, __LINE__)
#define CHECK_STR(got, want) unit_check_str((got), (want), __FILE__, __LINE__)

#endif
