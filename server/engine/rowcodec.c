/* rowcodec.c: encoding rows into log blobs and decoding them back.
 *
 * The byte layout is rowcodec.h's.  Column type bytes are this file's own tags, not
 * sl_type values, so that reordering types.def never changes the stored format.
 * Decoding never trusts the blob: every read is checked against the end first, a row
 * is decoded in two passes (validate and measure, then fill one allocation), and any
 * inconsistency is a STORAGE_ERROR.  Invariant: rd->p only moves past whole rows, so a
 * failed read leaves the reader where the damaged row starts. */
#include "rowcodec.h"

#include "decimal.h"
#include "limits.h"
#include "mem.h"
#include "nested.h"

#include <stdint.h>
#include <string.h>

#define CODEC_VERSION 1

/* Column tags of format version 1. */
enum {
    TAG_NULL = 0,
    TAG_BOOLEAN = 1,
    TAG_INT = 2,
    TAG_BIGINT = 3,
    TAG_DOUBLE = 4,
    TAG_VARCHAR = 5,
    TAG_TIMESTAMP = 6,
    TAG_BYTES = 7,
    TAG_ARRAY = 8, /* the body of nested.h */
    TAG_MAP = 9,
    TAG_STRUCT = 10,
    TAG_DECIMAL = 11 /* scale byte, then the unscaled value (see put_decimal) */
};

/* The longest varint: ten bytes hold 64 bits. */
#define VARINT_MAX 10

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static uint64_t zigzag(int64_t x)
{
    return x < 0 ? ~((uint64_t)x << 1) : (uint64_t)x << 1;
}

static int64_t unzigzag(uint64_t u)
{
    return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

/* A DECIMAL's payload after its tag: the scale byte, then the unscaled 128-bit value
 * zig-zagged (so that small negative values stay short) as two varints, its low 64
 * bits then its high 64 bits.  Writes at most 1 + 2 * VARINT_MAX bytes. */
static size_t put_decimal(unsigned char *p, const sl_value *v)
{
    uint64_t mask = v->u.dec.hi < 0 ? UINT64_MAX : 0, hi = (uint64_t)v->u.dec.hi;
    uint64_t zlo = (v->u.dec.lo << 1) ^ mask, zhi = ((hi << 1) | (v->u.dec.lo >> 63)) ^ mask;
    size_t n = 0;

    p[n++] = v->scale;
    n += put_varint(p + n, zlo);
    n += put_varint(p + n, zhi);
    return n;
}

void sl_rowcodec_begin(sl_buf *out)
{
    sl_buf_putc(out, CODEC_VERSION);
}

static unsigned char tag_of(sl_type t)
{
    switch (t) {
    case SL_T_BOOLEAN:
        return TAG_BOOLEAN;
    case SL_T_INT:
        return TAG_INT;
    case SL_T_BIGINT:
        return TAG_BIGINT;
    case SL_T_DOUBLE:
        return TAG_DOUBLE;
    case SL_T_VARCHAR:
        return TAG_VARCHAR;
    case SL_T_TIMESTAMP:
        return TAG_TIMESTAMP;
    case SL_T_BYTES:
        return TAG_BYTES;
    case SL_T_ARRAY:
        return TAG_ARRAY;
    case SL_T_MAP:
        return TAG_MAP;
    case SL_T_STRUCT:
        return TAG_STRUCT;
    case SL_T_DECIMAL:
        return TAG_DECIMAL;
    default:
        return TAG_NULL;
    }
}

/* The most bytes sl_rowcodec_put writes for one column, besides a byte value's bytes:
 * the tag, then a DECIMAL's scale byte and two varints (the widest payload). */
#define COLUMN_MAX (2 + 2 * VARINT_MAX)

void sl_rowcodec_put(sl_buf *out, const sl_row *row)
{
    size_t bound = 2 * VARINT_MAX;
    unsigned char *start, *p;

    /* One reservation for the whole row, then the bytes are written in place. */
    for (uint32_t i = 0; i < row->ncols; i++) {
        unsigned char tag = tag_of(row->v[i].type);
        bound += COLUMN_MAX;
        if (tag == TAG_VARCHAR || (tag >= TAG_BYTES && tag <= TAG_STRUCT))
            bound += row->v[i].u.s.len;
    }
    if (!out->data || out->len + bound >= out->cap)
        sl_buf_reserve(out, bound);
    start = p = (unsigned char *)out->data + out->len;
    p += put_varint(p, zigzag(row->rowtime));
    p += put_varint(p, row->ncols);
    for (uint32_t i = 0; i < row->ncols; i++) {
        const sl_value *v = &row->v[i];
        unsigned char tag = tag_of(v->type);

        *p++ = tag;
        switch (tag) {
        case TAG_BOOLEAN:
            *p++ = v->u.b ? 1 : 0;
            break;
        case TAG_INT:
        case TAG_BIGINT:
        case TAG_TIMESTAMP:
            p += put_varint(p, zigzag(v->u.i));
            break;
        case TAG_DOUBLE: {
            uint64_t bits;

            memcpy(&bits, &v->u.d, sizeof(bits));
            for (int k = 0; k < 8; k++)
                *p++ = (unsigned char)(bits >> (8 * k));
            break;
        }
        case TAG_DECIMAL:
            p += put_decimal(p, v);
            break;
        case TAG_VARCHAR:
        case TAG_BYTES:
        case TAG_ARRAY:
        case TAG_MAP:
        case TAG_STRUCT:
            p += put_varint(p, v->u.s.len);
            if (v->u.s.len)
                memcpy(p, v->u.s.ptr, v->u.s.len);
            p += v->u.s.len;
            break;
        default:
            break;
        }
    }
    out->len += (size_t)(p - start);
    out->data[out->len] = '\0';
}

int sl_rowcodec_open(sl_rowcodec_reader *rd, const void *data, size_t len, sl_error *err)
{
    const unsigned char *p = data;

    if (len < 1 || p[0] != CODEC_VERSION)
        return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                            "stored row batch has an unknown format version");
    rd->p = p + 1;
    rd->end = p + len;
    return 0;
}

/* Reads a varint at *pp, never past end; rejects encodings longer than 64 bits. */
static int get_varint(const unsigned char **pp, const unsigned char *end, uint64_t *out)
{
    const unsigned char *p = *pp;
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        if (p == end)
            return -1;
        unsigned char b = *p++;
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Decodes one row starting at *pp.  With row NULL it only validates, and sets *ncols
 * and *nstr (the VARCHAR bytes the row holds); with row set (allocated for those sizes)
 * it fills the values and copies strings to strings.  Returns 0, or -1 with *why set. */
static int decode_row(const unsigned char **pp, const unsigned char *end, sl_row *row,
                      char *strings, uint32_t *ncols, size_t *nstr, const char **why)
{
    const unsigned char *p = *pp;
    uint64_t u, n;

    *nstr = 0;
    if (get_varint(&p, end, &u) < 0)
        goto truncated;
    if (row)
        row->rowtime = unzigzag(u);
    if (get_varint(&p, end, &n) < 0)
        goto truncated;
    /* Every column takes at least its tag byte. */
    if (n > SL_MAX_COLUMNS || n > (uint64_t)(end - p)) {
        *why = "bad column count";
        return -1;
    }
    *ncols = (uint32_t)n;
    for (uint32_t i = 0; i < n; i++) {
        sl_value v = sl_null();

        if (p == end)
            goto truncated;
        switch (*p++) {
        case TAG_NULL:
            break;
        case TAG_BOOLEAN:
            if (p == end)
                goto truncated;
            if (*p > 1) {
                *why = "bad BOOLEAN";
                return -1;
            }
            v = sl_bool(*p++ == 1);
            break;
        case TAG_INT:
            if (get_varint(&p, end, &u) < 0)
                goto truncated;
            v = sl_int(SL_T_INT, unzigzag(u));
            if (v.u.i < INT32_MIN || v.u.i > INT32_MAX) {
                *why = "INT out of range";
                return -1;
            }
            break;
        case TAG_BIGINT:
        case TAG_TIMESTAMP:
            v.type = p[-1] == TAG_BIGINT ? SL_T_BIGINT : SL_T_TIMESTAMP;
            if (get_varint(&p, end, &u) < 0)
                goto truncated;
            v.u.i = unzigzag(u);
            break;
        case TAG_DOUBLE: {
            uint64_t bits = 0;

            if (end - p < 8)
                goto truncated;
            for (int k = 0; k < 8; k++)
                bits |= (uint64_t)p[k] << (8 * k);
            p += 8;
            v.type = SL_T_DOUBLE;
            memcpy(&v.u.d, &bits, sizeof(bits));
            break;
        }
        case TAG_DECIMAL: {
            uint64_t zlo, zhi, mask;

            if (p == end)
                goto truncated;
            unsigned scale = *p++;
            if (get_varint(&p, end, &zlo) < 0 || get_varint(&p, end, &zhi) < 0)
                goto truncated;
            mask = 0 - (zlo & 1);
            v = sl_decimal_make((int64_t)((zhi >> 1) ^ mask), ((zlo >> 1) | (zhi << 63)) ^ mask,
                                scale <= SL_MAX_DECIMAL_DIGITS ? (int)scale : 0);
            if (scale > SL_MAX_DECIMAL_DIGITS || !sl_decimal_fits(&v, SL_MAX_DECIMAL_DIGITS)) {
                *why = "bad DECIMAL";
                return -1;
            }
            break;
        }
        case TAG_VARCHAR:
        case TAG_BYTES:
        case TAG_ARRAY:
        case TAG_MAP:
        case TAG_STRUCT: {
            static const sl_type kinds[] = {SL_T_VARCHAR, SL_T_TIMESTAMP, SL_T_BYTES,
                                            SL_T_ARRAY,   SL_T_MAP,       SL_T_STRUCT};
            sl_type kind = kinds[p[-1] - TAG_VARCHAR];

            if (get_varint(&p, end, &u) < 0)
                goto truncated;
            if (u > (uint64_t)(end - p))
                goto truncated;
            if (u > SL_MAX_STRING) {
                *why = "value too long";
                return -1;
            }
            if (!row && (kind == SL_T_ARRAY || kind == SL_T_MAP || kind == SL_T_STRUCT) &&
                sl_nested_validate(kind, p, (size_t)u, why) < 0)
                return -1;
            v = sl_str((const char *)p, (uint32_t)u);
            v.type = kind;
            if (row) {
                if (u)
                    memcpy(strings + *nstr, p, u);
                v.u.s.ptr = strings + *nstr;
            }
            *nstr += u;
            p += u;
            break;
        }
        default:
            *why = "bad type byte";
            return -1;
        }
        if (row)
            row->v[i] = v;
    }
    *pp = p;
    return 0;

truncated:
    *why = "truncated";
    return -1;
}

int sl_rowcodec_next(sl_rowcodec_reader *rd, sl_row **out, sl_error *err)
{
    const unsigned char *p = rd->p;
    const char *why = NULL;
    uint32_t ncols;
    size_t nstr;
    sl_row *row;

    *out = NULL;
    if (rd->p == rd->end)
        return 0;
    if (decode_row(&p, rd->end, NULL, NULL, &ncols, &nstr, &why) < 0)
        return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "damaged stored row: %s", why);
    /* The first pass proved the row well formed, so the second cannot fail. */
    row = sl_xmalloc(sizeof(sl_row) + ncols * sizeof(sl_value) + nstr);
    row->ncols = ncols;
    p = rd->p;
    decode_row(&p, rd->end, row, (char *)&row->v[ncols], &ncols, &nstr, &why);
    rd->p = p;
    *out = row;
    return 1;
}
