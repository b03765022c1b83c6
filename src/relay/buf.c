/*
 * buf.c - growable byte buffer and checked allocation for the relay
 */
#include "buf.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
relay_malloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		relay_log(RLOG_ERROR, "out of memory allocating %zu bytes", size);
		abort();
	}
	return p;
}

void *
relay_calloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
	{
		relay_log(RLOG_ERROR, "out of memory allocating %zu bytes", n * size);
		abort();
	}
	return p;
}

void *
relay_realloc(void *old, size_t size)
{
	void	   *p = realloc(old, size ? size : 1);

	if (p == NULL)
	{
		relay_log(RLOG_ERROR, "out of memory allocating %zu bytes", size);
		abort();
	}
	return p;
}

char *
relay_strdup(const char *s)
{
	return relay_strndup(s, strlen(s));
}

char *
relay_strndup(const char *s, size_t n)
{
	char	   *p = relay_malloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Make room for at least extra more bytes plus the terminating NUL. */
void
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;
	size_t		cap;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;

	while (cap < need)
		cap *= 2;
	b->data = relay_realloc(b->data, cap);
	b->cap = cap;
}

void
buf_append(Buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_append_str(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_append_char(Buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	buf_reserve(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n >= b->cap - b->len)
	{
		buf_reserve(b, (size_t) n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t) n;
}

/* Append s as a quoted JSON string, escaping what RFC 8259 requires. */
void
buf_append_json_string(Buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	buf_reserve(b, len + 2);
	b->data[b->len++] = '"';
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			buf_reserve(b, 2);
			b->data[b->len++] = '\\';
			b->data[b->len++] = (char) c;
		}
		else if (c < 0x20)
		{
			buf_reserve(b, 6);
			b->data[b->len++] = '\\';
			switch (c)
			{
				case '\n':
					b->data[b->len++] = 'n';
					break;
				case '\r':
					b->data[b->len++] = 'r';
					break;
				case '\t':
					b->data[b->len++] = 't';
					break;
				default:
					b->data[b->len++] = 'u';
					b->data[b->len++] = '0';
					b->data[b->len++] = '0';
					b->data[b->len++] = hex[c >> 4];
					b->data[b->len++] = hex[c & 15];
			}
		}
		else
		{
			buf_reserve(b, 1);
			b->data[b->len++] = (char) c;
		}
	}
	buf_reserve(b, 1);
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

/* Drop the first n bytes. */
void
buf_consume(Buf *b, size_t n)
{
	if (n >= b->len)
	{
		b->len = 0;
		if (b->cap)
			b->data[0] = '\0';
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(Buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Hand the block to the caller, leaving b empty. */
char *
buf_steal(Buf *b, size_t *len)
{
	char	   *p = b->data;

	if (len)
		*len = b->len;
	if (p == NULL)
		p = relay_strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
