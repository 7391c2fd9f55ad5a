/* value.c: type names and value comparison/hashing shared by the compiler and engine. */
#include "value.h"

#include "decimal.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {
#define X(name, sqlname) sqlname,
#include "types.def"
#undef X
};

const char *sl_type_name(sl_type t)
{
    if ((unsigned)t >= SL_T__COUNT)
        return "UNKNOWN";
    return type_names[t];
}

int sl_type_from_name(const char *name, size_t len, sl_type *out)
{
    static const struct {
        const char *name;
        sl_type type;
    } aliases[] = {{"STRING", SL_T_VARCHAR}, {"INTEGER", SL_T_INT}};

    for (int t = SL_T_BOOLEAN; t < SL_T__COUNT; t++) {
        if (strlen(type_names[t]) == len && strncasecmp(type_names[t], name, len) == 0) {
            *out = (sl_type)t;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strlen(aliases[i].name) == len && strncasecmp(aliases[i].name, name, len) == 0) {
            *out = aliases[i].type;
            return 0;
        }
    }
    return -1;
}

bool sl_type_is_numeric(sl_type t)
{
    return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_DOUBLE || t == SL_T_DECIMAL;
}

static bool is_integer(sl_type t)
{
    return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_TIMESTAMP;
}

static double as_double(const sl_value *v)
{
    if (v->type == SL_T_DECIMAL)
        return sl_decimal_to_double(v);
    return v->type == SL_T_DOUBLE ? v->u.d : (double)v->u.i;
}

int sl_value_cmp(const sl_value *a, const sl_value *b)
{
    if (a->type == SL_T_NULL || b->type == SL_T_NULL)
        return (a->type != SL_T_NULL) - (b->type != SL_T_NULL);
    if (is_integer(a->type) && is_integer(b->type))
        return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    if (sl_type_is_numeric(a->type) && sl_type_is_numeric(b->type)) {
        /* DECIMALs compare exactly with each other and with integers, as doubles with
         * a DOUBLE. */
        if (a->type != SL_T_DOUBLE && b->type != SL_T_DOUBLE)
            return sl_decimal_cmp(a, b);
        double x = as_double(a), y = as_double(b);
        if (isnan(x) || isnan(y))
            return isnan(x) - isnan(y);
        return (x > y) - (x < y);
    }
    if (a->type == b->type && sl_type_has_bytes(a->type)) {
        uint32_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int c = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;
        if (c)
            return c;
        return (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
    }
    if (a->type == SL_T_BOOLEAN && b->type == SL_T_BOOLEAN)
        return (int)a->u.b - (int)b->u.b;
    return (int)a->type - (int)b->type;
}

bool sl_value_eq(const sl_value *a, const sl_value *b)
{
    return sl_value_cmp(a, b) == 0;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Integral doubles hash like the integer they equal (sl_value_eq says 2 == 2.0). */
static uint64_t hash_double(uint64_t seed, double d)
{
    uint64_t bits;

    if (fabs(d) < 9.2e18 && d == (double)(int64_t)d)
        return mix(seed, (uint64_t)(int64_t)d);
    memcpy(&bits, &d, sizeof(bits));
    return mix(seed, bits);
}

uint64_t sl_value_hash(const sl_value *v, uint64_t seed)
{
    switch (v->type) {
    case SL_T_NULL:
        return mix(seed, 0);
    case SL_T_BOOLEAN:
        return mix(seed, v->u.b ? 2 : 1);
    case SL_T_INT:
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
        return mix(seed, (uint64_t)v->u.i);
    case SL_T_DECIMAL: {
        /* A whole number hashes like the integer it equals (1.00 = 1), any other like
         * the double it compares as with a DOUBLE. */
        int64_t i;
        if (sl_decimal_to_int64_exact(v, &i))
            return mix(seed, (uint64_t)i);
        return hash_double(seed, sl_decimal_to_double(v));
    }
    case SL_T_DOUBLE:
        return hash_double(seed, v->u.d);
    case SL_T_VARCHAR:
    case SL_T_BYTES:
    case SL_T_ARRAY:
    case SL_T_MAP:
    case SL_T_STRUCT: {
        uint64_t h = 1469598103934665603ull;
        for (uint32_t i = 0; i < v->u.s.len; i++)
            h = (h ^ (unsigned char)v->u.s.ptr[i]) * 1099511628211ull;
        return mix(seed, h);
    }
    default:
        return mix(seed, 0xdead);
    }
}
