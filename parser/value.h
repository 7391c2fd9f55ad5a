/* value.h: SQL types and the value every layer passes around.
 *
 * An sl_value is a tagged value.  type SL_T_NULL is SQL NULL.  BOOLEAN lives in u.b,
 * INT/BIGINT in u.i (INT is range-checked to 32 bits wherever values are made),
 * TIMESTAMP in u.i as epoch milliseconds, DOUBLE in u.d.  DECIMAL is exact: u.dec holds
 * the unscaled integer (128-bit two's complement, split in two halves) and `scale` the
 * digits after the point, so the value is unscaled * 10^-scale (decimal.h computes
 * with it; a value's scale is always its type's).  VARCHAR and BYTES live in u.s as a
 * pointer/length pair that is NOT NUL-terminated and is borrowed: whoever made the value (a row, an
 * arena, a literal in a plan) owns the bytes.  ARRAY, MAP and STRUCT values are u.s too: their
 * elements encoded into one self-contained byte string (server/engine/nested.h), so that every
 * layer copies, stores and compares them as bytes. */
#ifndef SL_VALUE_H
#define SL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sl_type {
#define X(name, sqlname) SL_T_##name,
#include "types.def"
#undef X
    SL_T__COUNT
} sl_type;

typedef struct sl_value {
    sl_type type;
    uint8_t scale; /* DECIMAL: digits after the decimal point (0 .. SL_MAX_DECIMAL_DIGITS) */
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *ptr;
            uint32_t len;
        } s;
        struct {
            uint64_t lo; /* low 64 bits of the unscaled value */
            int64_t hi;  /* high 64 bits, with the sign */
        } dec;
    } u;
} sl_value;

/* The SQL name of a type ("BIGINT"); static storage. */
const char *sl_type_name(sl_type t);
/* Looks up a type by SQL name, case-insensitively, aliases included (STRING, INTEGER).
 * Returns 0 and sets *out, or -1 when the name is not a type. */
int sl_type_from_name(const char *name, size_t len, sl_type *out);
/* True for INT, BIGINT, DOUBLE, DECIMAL. */
bool sl_type_is_numeric(sl_type t);
/* True for the types whose value is a byte string in u.s: VARCHAR, BYTES, ARRAY, MAP,
 * STRUCT (rows copy their bytes; storage writes them as they are).  Inline, one test
 * instead of five: every row copy and encoding asks this per column. */
static inline bool sl_type_has_bytes(sl_type t)
{
    const unsigned mask = 1u << SL_T_VARCHAR | 1u << SL_T_BYTES | 1u << SL_T_ARRAY |
                          1u << SL_T_MAP | 1u << SL_T_STRUCT;

    return (unsigned)t < 32 && (mask >> (unsigned)t & 1u);
}

static inline sl_value sl_null(void)
{
    sl_value v = {.type = SL_T_NULL};
    return v;
}
static inline sl_value sl_bool(bool b)
{
    sl_value v = {.type = SL_T_BOOLEAN, .u.b = b};
    return v;
}
static inline sl_value sl_int(sl_type t, int64_t i)
{
    sl_value v = {.type = t, .u.i = i};
    return v;
}
static inline sl_value sl_double(double d)
{
    sl_value v = {.type = SL_T_DOUBLE, .u.d = d};
    return v;
}
static inline sl_value sl_str(const char *p, uint32_t len)
{
    sl_value v = {.type = SL_T_VARCHAR, .u.s = {p, len}};
    return v;
}

/* Total order used for GROUP BY keys and MIN/MAX: NULL sorts first, numbers compare by
 * value across INT/BIGINT/DOUBLE/DECIMAL (exactly, but as doubles beside a DOUBLE),
 * strings, BYTES and the encoded bodies of ARRAY, MAP and STRUCT values bytewise.  Returns <0, 0,
 * >0. */
int sl_value_cmp(const sl_value *a, const sl_value *b);
/* True when a and b are the same group key (NULL equals NULL here). */
bool sl_value_eq(const sl_value *a, const sl_value *b);
/* A hash consistent with sl_value_eq. */
uint64_t sl_value_hash(const sl_value *v, uint64_t seed);

#endif
