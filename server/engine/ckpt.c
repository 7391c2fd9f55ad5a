/* ckpt.c: the checkpoint byte primitives of ckpt.h.
 *
 * Varints are little-endian base-128, at most ten bytes; signed integers are zig-zag
 * encoded first.  Rows go through rowcodec.c: the writer appends sl_rowcodec_put's bytes
 * and the reader points a rowcodec reader at its own position, so the checks of the
 * log's decoder apply to every row and value of a checkpoint.  Invariant: a reader
 * whose why is set never moves and never reads again. */
#include "ckpt.h"

#include "limits.h"
#include "rowcodec.h"

#include <stddef.h>
#include <string.h>

/* The longest varint: ten bytes hold 64 bits. */
#define VARINT_MAX 10

void sl_ckpt_put_u64(sl_ckpt_writer *w, uint64_t v)
{
    unsigned char tmp[VARINT_MAX];
    size_t n = 0;

    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    sl_buf_append(w->out, tmp, n);
}

void sl_ckpt_put_i64(sl_ckpt_writer *w, int64_t v)
{
    sl_ckpt_put_u64(w, v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1);
}

void sl_ckpt_put_f64(sl_ckpt_writer *w, double d)
{
    unsigned char tmp[8];
    uint64_t bits;

    memcpy(&bits, &d, sizeof(bits));
    for (int k = 0; k < 8; k++)
        tmp[k] = (unsigned char)(bits >> (8 * k));
    sl_buf_append(w->out, tmp, sizeof(tmp));
}

void sl_ckpt_put_bool(sl_ckpt_writer *w, bool b)
{
    sl_buf_putc(w->out, b ? 1 : 0);
}

void sl_ckpt_put_row(sl_ckpt_writer *w, const sl_row *row)
{
    sl_rowcodec_put(w->out, row);
}

/* Values of up to this many columns are written through a row on the stack. */
#define SMALL_ROW 8

void sl_ckpt_put_values(sl_ckpt_writer *w, int64_t rowtime, uint32_t n, const sl_value *v)
{
    _Alignas(max_align_t) unsigned char small[sizeof(sl_row) + SMALL_ROW * sizeof(sl_value)];
    sl_row *row = n <= SMALL_ROW ? (sl_row *)small : sl_row_new(n);

    row->rowtime = rowtime;
    row->ncols = n;
    if (n)
        memcpy(row->v, v, n * sizeof(sl_value));
    sl_rowcodec_put(w->out, row);
    if (n > SMALL_ROW)
        sl_row_free(row);
}

void sl_ckpt_cannot(sl_ckpt_writer *w, const char *why)
{
    if (!w->why)
        w->why = why;
}

void sl_ckpt_reader_init(sl_ckpt_reader *rd, const void *data, size_t len)
{
    rd->p = data;
    rd->end = data ? rd->p + len : rd->p;
    rd->why = NULL;
}

int sl_ckpt_fail(sl_ckpt_reader *rd, const char *why)
{
    if (!rd->why)
        rd->why = why;
    return -1;
}

uint64_t sl_ckpt_get_u64(sl_ckpt_reader *rd)
{
    const unsigned char *p = rd->p;
    uint64_t v = 0;

    if (rd->why)
        return 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p == rd->end)
            break;
        unsigned char b = *p++;
        if (shift == 63 && b > 1)
            break;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            rd->p = p;
            return v;
        }
    }
    sl_ckpt_fail(rd, "truncated or bad integer");
    return 0;
}

int64_t sl_ckpt_get_i64(sl_ckpt_reader *rd)
{
    uint64_t u = sl_ckpt_get_u64(rd);

    return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

double sl_ckpt_get_f64(sl_ckpt_reader *rd)
{
    uint64_t bits = 0;
    double d;

    if (rd->why)
        return 0;
    if (rd->end - rd->p < 8) {
        sl_ckpt_fail(rd, "truncated DOUBLE");
        return 0;
    }
    for (int k = 0; k < 8; k++)
        bits |= (uint64_t)rd->p[k] << (8 * k);
    rd->p += 8;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

bool sl_ckpt_get_bool(sl_ckpt_reader *rd)
{
    if (rd->why)
        return false;
    if (rd->p == rd->end || *rd->p > 1) {
        sl_ckpt_fail(rd, "truncated or bad BOOLEAN");
        return false;
    }
    return *rd->p++ == 1;
}

uint64_t sl_ckpt_get_count(sl_ckpt_reader *rd, uint64_t max)
{
    uint64_t n = sl_ckpt_get_u64(rd);

    if (n > max || n > (uint64_t)(rd->end - rd->p)) {
        sl_ckpt_fail(rd, "count out of range");
        return 0;
    }
    return n;
}

sl_row *sl_ckpt_get_row(sl_ckpt_reader *rd)
{
    sl_rowcodec_reader rr = {rd->p, rd->end};
    sl_row *row = NULL;
    sl_error err;

    if (rd->why)
        return NULL;
    if (sl_rowcodec_next(&rr, &row, &err) != 1) {
        sl_ckpt_fail(rd, "damaged row");
        return NULL;
    }
    rd->p = rr.p;
    return row;
}

sl_row *sl_ckpt_get_values(sl_ckpt_reader *rd, uint32_t n)
{
    sl_row *row = sl_ckpt_get_row(rd);

    if (row && row->ncols != n) {
        sl_row_free(row);
        sl_ckpt_fail(rd, "wrong number of values");
        return NULL;
    }
    return row;
}

/* A multiply-rotate hash over 8-byte little-endian words, the tail zero-padded, with a
 * final avalanche (the constants are the 64-bit primes of xxHash). */
uint64_t sl_ckpt_checksum(const void *data, size_t len)
{
    const uint64_t p1 = 0x9E3779B185EBCA87ull, p2 = 0xC2B2AE3D27D4EB4Full;
    const unsigned char *p = data;
    uint64_t h = 0x27D4EB2F165667C5ull ^ ((uint64_t)len * p1);
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t word = 0;

        for (size_t k = 0; k < 8; k++)
            word |= (uint64_t)p[i + k] << (8 * k);
        h ^= word * p2;
        h = ((h << 31) | (h >> 33)) * p1;
    }
    if (i < len) {
        uint64_t word = 0;

        for (size_t k = 0; i + k < len; k++)
            word |= (uint64_t)p[i + k] << (8 * k);
        h ^= word * p2;
        h = ((h << 31) | (h >> 33)) * p1;
    }
    h ^= h >> 33;
    h *= p2;
    h ^= h >> 29;
    return h;
}

/* Header layout: magic[4], version, row encoding, tag, length, checksum. */
#define FRAME_TAG 6
#define FRAME_LEN 14
#define FRAME_SUM 22
#define FRAME_BYTES 30

static void put_fixed64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static uint64_t get_fixed64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int k = 0; k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

size_t sl_ckpt_frame_begin(sl_ckpt_writer *w, const char magic[4], unsigned version, uint64_t tag)
{
    unsigned char head[FRAME_BYTES] = {0};
    sl_buf codec = SL_BUF_INIT;
    size_t at = w->out->len;

    sl_rowcodec_begin(&codec);
    memcpy(head, magic, 4);
    head[4] = (unsigned char)version;
    head[5] = (unsigned char)codec.data[0];
    put_fixed64(head + FRAME_TAG, tag);
    sl_buf_free(&codec);
    sl_buf_append(w->out, head, sizeof(head));
    return at;
}

void sl_ckpt_frame_end(sl_ckpt_writer *w, size_t at)
{
    unsigned char *head = (unsigned char *)w->out->data + at;
    size_t len = w->out->len - at - FRAME_BYTES;

    put_fixed64(head + FRAME_LEN, len);
    put_fixed64(head + FRAME_SUM, sl_ckpt_checksum(head + FRAME_BYTES, len));
}

int sl_ckpt_frame_open(sl_ckpt_reader *rd, const void *data, size_t len, const char magic[4],
                       unsigned version, uint64_t tag)
{
    const unsigned char *head = data;
    sl_rowcodec_reader codec;
    sl_error err;

    sl_ckpt_reader_init(rd, NULL, 0);
    if (len < FRAME_BYTES || memcmp(head, magic, 4) != 0)
        return sl_ckpt_fail(rd, "not a checkpoint");
    if (head[4] != version)
        return sl_ckpt_fail(rd, "written in another checkpoint format version");
    if (sl_rowcodec_open(&codec, head + 5, 1, &err) < 0)
        return sl_ckpt_fail(rd, "written with another row encoding");
    if (get_fixed64(head + FRAME_TAG) != tag)
        return sl_ckpt_fail(rd, "made by another plan");
    if (get_fixed64(head + FRAME_LEN) != len - FRAME_BYTES)
        return sl_ckpt_fail(rd, "truncated");
    if (get_fixed64(head + FRAME_SUM) != sl_ckpt_checksum(head + FRAME_BYTES, len - FRAME_BYTES))
        return sl_ckpt_fail(rd, "checksum mismatch");
    sl_ckpt_reader_init(rd, head + FRAME_BYTES, len - FRAME_BYTES);
    return 0;
}
