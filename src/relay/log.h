/*
 * log.h - logging for relay code that runs in two hosts
 *
 * relay_log() is implemented by the host: worker.c routes it to ereport()
 * inside PostgreSQL, relay_main.c to stderr in the standalone relay.  Client
 * problems are logged at LOG_CLIENT with the client's address as prefix.
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

typedef enum RelayLogLevel
{
	RLOG_DEBUG,
	RLOG_INFO,
	RLOG_WARNING,
	RLOG_ERROR					/* relay-wide failure: relay_log() does not
								 * return; the worker exits FATAL (the
								 * postmaster restarts it, not the server),
								 * the standalone relay exits 1 */
} RelayLogLevel;

extern void relay_log(RelayLogLevel level, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#endif
