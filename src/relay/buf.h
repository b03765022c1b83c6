/*
 * buf.h - growable byte buffer used by every relay module
 *
 * The relay runs both inside a PostgreSQL background worker and as a
 * standalone executable, so it does not use palloc: every Buf owns a malloc'd
 * block and is freed with buf_free().  Invariant: data[len] == '\0' whenever
 * cap > 0, so a Buf holding text can be passed to C string functions.
 */
#ifndef RELAY_BUF_H
#define RELAY_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

#define BUF_INIT {NULL, 0, 0}

extern void buf_reserve(Buf *b, size_t extra);
extern void buf_append(Buf *b, const void *data, size_t len);
extern void buf_append_str(Buf *b, const char *s);
extern void buf_append_char(Buf *b, char c);
extern void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_append_json_string(Buf *b, const char *s, size_t len);
extern void buf_consume(Buf *b, size_t n);
extern void buf_reset(Buf *b);
extern void buf_free(Buf *b);
extern char *buf_steal(Buf *b, size_t *len);

/* allocation whose failure ends the relay through relay_log(RLOG_ERROR) */
extern void *relay_malloc(size_t size);
extern void *relay_calloc(size_t n, size_t size);
extern void *relay_realloc(void *p, size_t size);
extern char *relay_strdup(const char *s);
extern char *relay_strndup(const char *s, size_t n);

#endif
