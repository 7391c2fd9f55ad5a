/* nested.c: reading, writing and checking the bodies of ARRAY, MAP and STRUCT values.
 *
 * The format is nested.h's.  Readers trust well-formed bodies (built by the writer, or
 * checked once by sl_nested_validate when they come from outside), so they only walk;
 * the validator is the one place that distrusts bytes, and it bounds its recursion by
 * SL_MAX_TYPE_DEPTH. */
#include "nested.h"

#include "limits.h"

#include <string.h>

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Payload bytes of a fixed-size item of kind t; 0 for NULL, SIZE_MAX for the kinds with
 * a length prefix (or an unknown tag). */
static size_t fixed_size(unsigned t)
{
    switch (t) {
    case SL_T_NULL:
        return 0;
    case SL_T_BOOLEAN:
        return 1;
    case SL_T_INT:
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
    case SL_T_DOUBLE:
        return 8;
    case SL_T_DECIMAL:
        return 17;
    default:
        return SIZE_MAX;
    }
}

void sl_nested_open(sl_nested_reader *rd, const sl_value *v)
{
    const unsigned char *p = (const unsigned char *)v->u.s.ptr;

    rd->p = p + 4;
    rd->end = p + v->u.s.len;
    rd->left = get_u32(p);
    if (v->type == SL_T_MAP)
        rd->left *= 2;
}

uint32_t sl_nested_count(const sl_value *v)
{
    return get_u32((const unsigned char *)v->u.s.ptr);
}

bool sl_nested_next(sl_nested_reader *rd, sl_value *out)
{
    const unsigned char *p = rd->p;
    unsigned t;
    size_t n;

    if (rd->left == 0)
        return false;
    rd->left--;
    t = *p++;
    *out = sl_null();
    out->type = (sl_type)t;
    n = fixed_size(t);
    switch (t) {
    case SL_T_NULL:
        break;
    case SL_T_BOOLEAN:
        out->u.b = *p != 0;
        break;
    case SL_T_INT:
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
        out->u.i = (int64_t)get_u64(p);
        break;
    case SL_T_DOUBLE: {
        uint64_t bits = get_u64(p);
        memcpy(&out->u.d, &bits, sizeof(bits));
        break;
    }
    case SL_T_DECIMAL:
        out->scale = p[0];
        out->u.dec.lo = get_u64(p + 1);
        out->u.dec.hi = (int64_t)get_u64(p + 9);
        break;
    default:
        out->u.s.len = get_u32(p);
        out->u.s.ptr = (const char *)p + 4;
        n = 4 + (size_t)out->u.s.len;
        break;
    }
    rd->p = p + n;
    return true;
}

/* The item v holds, or NULL when its kind is not want (NULL items stay NULL). */
static sl_value checked(sl_value v, sl_type want)
{
    return v.type == want ? v : sl_null();
}

sl_value sl_nested_array_at(const sl_value *arr, int64_t i, sl_type want)
{
    sl_nested_reader rd;
    int64_t n = sl_nested_count(arr);
    sl_value v = sl_null();

    if (i < 0)
        i += n + 1;
    if (i < 1 || i > n)
        return sl_null();
    sl_nested_open(&rd, arr);
    while (i-- > 0)
        sl_nested_next(&rd, &v);
    return checked(v, want);
}

sl_value sl_nested_map_at(const sl_value *map, const char *key, uint32_t len, sl_type want)
{
    sl_nested_reader rd;
    sl_value k, v;

    sl_nested_open(&rd, map);
    while (sl_nested_next(&rd, &k) && sl_nested_next(&rd, &v)) {
        if (k.type == SL_T_VARCHAR && k.u.s.len == len &&
            (len == 0 || memcmp(k.u.s.ptr, key, len) == 0))
            return checked(v, want);
    }
    return sl_null();
}

sl_value sl_nested_field(const sl_value *st, int index, sl_type want)
{
    sl_nested_reader rd;
    sl_value v = sl_null();

    if (index < 0 || (uint32_t)index >= sl_nested_count(st))
        return sl_null();
    sl_nested_open(&rd, st);
    for (int k = 0; k <= index; k++)
        sl_nested_next(&rd, &v);
    return checked(v, want);
}

void sl_nested_begin(sl_nested_writer *w, sl_buf *out)
{
    unsigned char zero[4] = {0};

    w->out = out;
    w->start = out->len;
    w->count = 0;
    w->len_at = 0;
    sl_buf_append(out, zero, 4);
}

void sl_nested_put(sl_nested_writer *w, const sl_value *v)
{
    unsigned char tmp[1 + 17];
    size_t n = 1;

    tmp[0] = (unsigned char)v->type;
    switch (v->type) {
    case SL_T_NULL:
        break;
    case SL_T_BOOLEAN:
        tmp[n++] = v->u.b ? 1 : 0;
        break;
    case SL_T_INT:
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
        put_u64(tmp + 1, (uint64_t)v->u.i);
        n += 8;
        break;
    case SL_T_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, sizeof(bits));
        put_u64(tmp + 1, bits);
        n += 8;
        break;
    }
    case SL_T_DECIMAL:
        tmp[n++] = v->scale;
        put_u64(tmp + n, v->u.dec.lo);
        put_u64(tmp + n + 8, (uint64_t)v->u.dec.hi);
        n += 16;
        break;
    default:
        put_u32(tmp + 1, v->u.s.len);
        sl_buf_append(w->out, tmp, 5);
        sl_buf_append(w->out, v->u.s.ptr, v->u.s.len);
        w->count++;
        return;
    }
    sl_buf_append(w->out, tmp, n);
    w->count++;
}

void sl_nested_open_item(sl_nested_writer *w, sl_type kind, sl_nested_writer *inner)
{
    unsigned char head[5] = {(unsigned char)kind, 0, 0, 0, 0};

    sl_buf_append(w->out, head, sizeof(head));
    sl_nested_begin(inner, w->out);
    inner->len_at = inner->start - 4;
}

/* Writes the count of a finished body (a MAP counts pairs). */
static void finish_body(sl_nested_writer *w, sl_type kind)
{
    put_u32((unsigned char *)w->out->data + w->start, kind == SL_T_MAP ? w->count / 2 : w->count);
}

void sl_nested_close_item(sl_nested_writer *w, sl_nested_writer *inner, sl_type kind)
{
    finish_body(inner, kind);
    put_u32((unsigned char *)w->out->data + inner->len_at, (uint32_t)(w->out->len - inner->start));
    w->count++;
}

sl_value sl_nested_end(sl_nested_writer *w, sl_type kind)
{
    sl_value v;

    finish_body(w, kind);
    v = sl_str(w->out->data + w->start, (uint32_t)(w->out->len - w->start));
    v.type = kind;
    return v;
}

sl_value sl_nested_end_into(sl_nested_writer *w, sl_type kind, sl_arena *a)
{
    sl_value v = sl_nested_end(w, kind);
    char *bytes = sl_arena_alloc(a, v.u.s.len ? v.u.s.len : 1);

    memcpy(bytes, v.u.s.ptr, v.u.s.len);
    v.u.s.ptr = bytes;
    sl_buf_free(w->out);
    return v;
}

/* Validates the body p[0..len) of kind at nesting depth (1 for a top-level value). */
static int validate(unsigned kind, const unsigned char *p, size_t len, int depth, const char **why)
{
    const unsigned char *end = p + len;
    uint64_t items;

    if (depth > SL_MAX_TYPE_DEPTH) {
        *why = "nested too deeply";
        return -1;
    }
    if (len < 4) {
        *why = "truncated";
        return -1;
    }
    items = get_u32(p);
    if (kind == SL_T_MAP)
        items *= 2;
    p += 4;
    for (uint64_t i = 0; i < items; i++) {
        unsigned t;
        size_t n;

        if (p == end) {
            *why = "truncated";
            return -1;
        }
        t = *p++;
        if (kind == SL_T_MAP && i % 2 == 0 && t != SL_T_VARCHAR) {
            *why = "a MAP key that is not a VARCHAR";
            return -1;
        }
        if (t >= SL_T__COUNT) {
            *why = "bad type byte";
            return -1;
        }
        n = fixed_size(t);
        if (n == SIZE_MAX) {
            if (end - p < 4) {
                *why = "truncated";
                return -1;
            }
            n = get_u32(p);
            p += 4;
        }
        if (n > (size_t)(end - p)) {
            *why = "truncated";
            return -1;
        }
        if ((t == SL_T_BOOLEAN && p[0] > 1) ||
            (t == SL_T_DECIMAL && p[0] > SL_MAX_DECIMAL_DIGITS)) {
            *why = "bad value";
            return -1;
        }
        if ((t == SL_T_ARRAY || t == SL_T_MAP || t == SL_T_STRUCT) &&
            validate(t, p, n, depth + 1, why) < 0)
            return -1;
        p += n;
    }
    if (p != end) {
        *why = "trailing bytes";
        return -1;
    }
    return 0;
}

int sl_nested_validate(sl_type kind, const void *p, size_t len, const char **why)
{
    return validate(kind, p, len, 1, why);
}
