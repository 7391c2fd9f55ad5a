/* buf.h: a growable byte buffer (output text, encoded rows, JSON).  The buffer owns
 * its bytes; data is always NUL-terminated past len so it can be used as a C string. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>

typedef struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
} sl_buf;

#define SL_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void sl_buf_reserve(sl_buf *b, size_t extra);
void sl_buf_append(sl_buf *b, const void *p, size_t n);
void sl_buf_putc(sl_buf *b, char c);
void sl_buf_puts(sl_buf *b, const char *s);
void sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (consumed output), keeping the rest. */
void sl_buf_consume(sl_buf *b, size_t n);
void sl_buf_reset(sl_buf *b);
/* Hands the bytes to the caller (caller frees) and leaves b empty. */
char *sl_buf_steal(sl_buf *b);
void sl_buf_free(sl_buf *b);

#endif
