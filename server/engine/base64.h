/* base64.h: the standard base64 alphabet (RFC 4648, with padding), the JSON form of
 * BYTES values. */
#ifndef SL_BASE64_H
#define SL_BASE64_H

#include "buf.h"

#include <stddef.h>

/* The length of the encoding of n bytes. */
size_t sl_base64_len(size_t n);
/* Appends the encoding of p[0..n) to out. */
void sl_base64_encode(sl_buf *out, const void *p, size_t n);
/* Appends the bytes s[0..n) encodes to out.  Padding is required (the length must be a
 * multiple of 4); whitespace and other alphabets are not accepted.  0, or -1 (out
 * unchanged) when s is not base64. */
int sl_base64_decode(sl_buf *out, const char *s, size_t n);

#endif
