/* buf.c: the growable byte buffer. Invariant: data == NULL or data[len] == '\0'. */
#include "buf.h"

#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_buf_reserve(sl_buf *b, size_t extra)
{
    if (b->data && b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = sl_xrealloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0';
}

void sl_buf_append(sl_buf *b, const void *p, size_t n)
{
    sl_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sl_buf_putc(sl_buf *b, char c)
{
    sl_buf_append(b, &c, 1);
}

void sl_buf_puts(sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}

void sl_buf_printf(sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        sl_buf_append(b, small, (size_t)n);
        return;
    }
    sl_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sl_buf_consume(sl_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void sl_buf_reset(sl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *sl_buf_steal(sl_buf *b)
{
    char *p;

    sl_buf_reserve(b, 0);
    p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void sl_buf_free(sl_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
