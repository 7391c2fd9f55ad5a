/* base64.c: base64 encoding and strict decoding (RFC 4648 section 4). */
#include "base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sl_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void sl_base64_encode(sl_buf *out, const void *p, size_t n)
{
    const unsigned char *s = p;
    char *o;
    size_t i = 0;

    sl_buf_reserve(out, sl_base64_len(n));
    o = out->data + out->len;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = alphabet[w >> 18];
        *o++ = alphabet[(w >> 12) & 63];
        *o++ = alphabet[(w >> 6) & 63];
        *o++ = alphabet[w & 63];
    }
    if (i < n) {
        uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = alphabet[w >> 18];
        *o++ = alphabet[(w >> 12) & 63];
        *o++ = i + 1 < n ? alphabet[(w >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
}

/* The value of base64 digit c, or -1. */
static int digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int sl_base64_decode(sl_buf *out, const char *s, size_t n)
{
    size_t start = out->len;

    if (n % 4 != 0)
        return -1;
    sl_buf_reserve(out, n / 4 * 3);
    for (size_t i = 0; i < n; i += 4) {
        int d[4];
        int pad = 0;

        for (int k = 0; k < 4; k++) {
            d[k] = digit((unsigned char)s[i + k]);
            /* '=' may only end the last group: "xx==" or "xxx=". */
            if (d[k] < 0) {
                if (s[i + k] != '=' || i + 4 != n || k < 2 || (k == 2 && s[i + 3] != '='))
                    goto bad;
                d[k] = 0;
                pad++;
            }
        }
        uint32_t w =
            (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
        char bytes[3] = {(char)(w >> 16), (char)(w >> 8), (char)w};
        sl_buf_append(out, bytes, (size_t)(3 - pad));
    }
    return 0;
bad:
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -1;
}
