/* decimal.h: exact DECIMAL(p,s) numbers: reading them from text, writing them, their
 * arithmetic, rounding, comparison and conversions, and the precision and scale that
 * SQL gives the result of each operation.
 *
 * A DECIMAL sl_value holds an unscaled integer (u.dec, 128-bit two's complement) and a
 * scale: the value is unscaled * 10^-scale.  Its precision p is not in the value but in
 * its type (typedesc.h); every function that makes a value is told the precision and
 * scale of the result and gives SQL NULL when the exact (or rounded) result does not fit
 * them: |unscaled| < 10^p.  Invariant of every DECIMAL value: 0 <= scale <= 38 and
 * |unscaled| < 10^38, so negation never overflows.  Intermediate results are computed
 * exactly in 256 bits; nothing here is undefined behaviour for any input.
 *
 * Rounding is HALF_UP (to the nearest, a tie away from zero, as Java's BigDecimal) unless
 * a function says otherwise.  Where a function takes a number operand, it may be a
 * DECIMAL, INT or BIGINT (an integer is a DECIMAL of scale 0); it must not be NULL.
 *
 * This module lives in the compiler's layer because the binder (literal types and
 * values), EXPLAIN, and value.c's comparison and hashing need it as much as the engine. */
#ifndef SL_DECIMAL_H
#define SL_DECIMAL_H

#include "buf.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room sl_decimal_format needs, NUL included: a sign, "0.", 38 digits. */
#define SL_DECIMAL_TEXT 48

/* What parsing text can give besides 0. */
#define SL_DECIMAL_SYNTAX (-1)   /* not a number */
#define SL_DECIMAL_OVERFLOW (-2) /* more integer digits than the type has room for */
#define SL_DECIMAL_INEXACT (-3)  /* exact was asked, and the value has more fraction digits */

typedef enum sl_decimal_op {
    SL_DECIMAL_ADD,
    SL_DECIMAL_SUB,
    SL_DECIMAL_MUL,
    SL_DECIMAL_DIV,
    SL_DECIMAL_MOD
} sl_decimal_op;

typedef enum sl_decimal_rounding {
    SL_ROUND_HALF_UP,      /* nearest; a tie away from zero (2.5 -> 3, -2.5 -> -3) */
    SL_ROUND_HALF_CEILING, /* nearest; a tie towards +infinity, Java's Math.round (-2.5 -> -2) */
    SL_ROUND_FLOOR,        /* towards -infinity */
    SL_ROUND_CEILING,      /* towards +infinity */
    SL_ROUND_DOWN          /* towards zero (truncation) */
} sl_decimal_rounding;

/* ---------------------------------------------------------------- types */

/* The DECIMAL(p, s) of `a op b` for a DECIMAL(p1, s1) and a DECIMAL(p2, s2): ksqlDB's
 * rules (SqlDecimal, the Hive / SQL Server ones):
 *   + -   p = max(s1, s2) + max(p1 - s1, p2 - s2) + 1       s = max(s1, s2)
 *   *     p = p1 + p2 + 1                                   s = s1 + s2
 *   /     p = p1 - s1 + s2 + max(6, s1 + p2 + 1)            s = max(6, s1 + p2 + 1)
 *   %     p = min(p1 - s1, p2 - s2) + max(s1, s2)           s = max(s1, s2)
 * ksqlDB has no upper bound (BigDecimal); sluice caps a p above 38 the way Spark and
 * Flink do: the integer digits p - s are kept, s becomes max(38 - (p - s), min(s, 6))
 * and p 38, so a result may lose fraction digits (rounded HALF_UP) or, when even its
 * integer digits do not fit, be NULL.  The arguments must be valid (1 <= p <= 38,
 * 0 <= s <= p). */
void sl_decimal_result_type(sl_decimal_op op, int p1, int s1, int p2, int s2, int *p, int *s);
/* The DECIMAL(p, s) wide enough for both DECIMAL(p1, s1) and DECIMAL(p2, s2) (ksqlDB's
 * DecimalUtil.widen: the most integer digits and the most fraction digits), capped at 38
 * as above.  CASE, COALESCE, GREATEST and comparisons of two DECIMALs use it. */
void sl_decimal_widen(int p1, int s1, int p2, int s2, int *p, int *s);
/* The DECIMAL an integer type widens to: INT is DECIMAL(10, 0) and BIGINT DECIMAL(19, 0)
 * (ksqlDB's upcasts).  Returns 0, or -1 when t is neither. */
int sl_decimal_int_type(sl_type t, int *p, int *s);

/* ---------------------------------------------------------------- text */

/* Reads s[0..n): [+|-] digits [. [digits]] or [+|-] . digits, then an optional exponent
 * e|E [+|-] digits (a JSON number or a SQL literal; no spaces), into a DECIMAL(precision,
 * scale) in *out.  A value with more fraction digits than scale is rounded HALF_UP, or
 * with exact is SL_DECIMAL_INEXACT.  Returns 0, SL_DECIMAL_SYNTAX or SL_DECIMAL_OVERFLOW
 * (*out is then NULL). */
int sl_decimal_parse(const char *s, size_t n, int precision, int scale, bool exact, sl_value *out);
/* Reads a literal as above at its own scale: the digits after the point less the
 * exponent (at least 0: 1.5e3 is 1500), with trailing zeros kept (1.50 has scale 2).
 * Returns 0, SL_DECIMAL_SYNTAX, or SL_DECIMAL_OVERFLOW when that needs more than 38
 * digits. */
int sl_decimal_parse_literal(const char *s, size_t n, sl_value *out);
/* The precision of a literal's type: its digits, at least 1 and at least its scale
 * (1.50 is DECIMAL(3, 2), 0.05 DECIMAL(2, 2)). */
int sl_decimal_literal_precision(const sl_value *a);
/* Writes v exactly, every digit of its scale kept ("12.30", "-0.05", "7"), NUL-
 * terminated.  Returns the length. */
size_t sl_decimal_format(const sl_value *v, char out[SL_DECIMAL_TEXT]);
/* Appends what sl_decimal_format writes to out. */
void sl_decimal_append(const sl_value *v, sl_buf *out);

/* 10^k exactly, for 0 <= k <= 38 (every one is below 2^127). */
unsigned __int128 sl_decimal_pow10(int k);
/* The number of decimal digits of u (1 for 0). */
int sl_decimal_u64_width(uint64_t u);
/* Writes u in decimal backwards, its last digit just before end (at most 20 bytes, no
 * sign, no NUL); returns where its first digit is. */
char *sl_decimal_u64_digits(char *end, uint64_t u);
/* 10^k as a double, for 0 <= k <= 22: the powers of ten a double holds exactly, with
 * which Clinger's fast path reads and writes numbers correctly rounded. */
double sl_decimal_pow10_double(int k);

/* ---------------------------------------------------------------- values */

/* A DECIMAL of the given scale whose unscaled value is the 128-bit integer hi:lo; the
 * caller guarantees |hi:lo| < 10^38 and 0 <= scale <= 38. */
sl_value sl_decimal_make(int64_t hi, uint64_t lo, int scale);
/* True when the number a (DECIMAL, INT or BIGINT) fits DECIMAL(precision, its scale). */
bool sl_decimal_fits(const sl_value *a, int precision);
/* -1, 0 or 1 as a is negative, zero or positive. */
int sl_decimal_sign(const sl_value *a);
/* a as DECIMAL(precision, scale), rounded HALF_UP; NULL when it does not fit. */
sl_value sl_decimal_rescale(const sl_value *a, int precision, int scale);
/* a op b as DECIMAL(precision, scale) (the type sl_decimal_result_type gives, or any
 * other): exact, then rounded HALF_UP to the scale; NULL when the result does not fit,
 * and for / and % when b is zero.  % has a's sign (Java's BigDecimal.remainder). */
sl_value sl_decimal_arith(sl_decimal_op op, const sl_value *a, const sl_value *b, int precision,
                          int scale);
/* -a and |a| at a's scale (always fit a's type). */
sl_value sl_decimal_neg(const sl_value *a);
sl_value sl_decimal_abs(const sl_value *a);
/* a rounded to `places` digits after the point (places < 0 rounds to tens, hundreds,
 * ...; places >= a's scale changes nothing) by mode, given as DECIMAL(precision, scale);
 * NULL when that does not fit.  FLOOR is (0, SL_ROUND_FLOOR), CEIL (0, SL_ROUND_CEILING). */
sl_value sl_decimal_round(const sl_value *a, int places, sl_decimal_rounding mode, int precision,
                          int scale);
/* Compares two numbers (DECIMAL, INT or BIGINT) exactly across scales: 1.0 = 1.00 = 1.
 * Returns <0, 0, >0. */
int sl_decimal_cmp(const sl_value *a, const sl_value *b);

/* ---------------------------------------------------------------- conversions */

/* An integer as DECIMAL(precision, scale); NULL when it does not fit. */
sl_value sl_decimal_from_int(int64_t i, int precision, int scale);
/* A double as DECIMAL(precision, scale): its shortest decimal form (the digits Java's
 * Double.toString writes, which read back as the same double) rounded HALF_UP, so 0.1
 * is 0.1 and 2.675 to 2 places is 2.68; NULL for NaN, infinities, or when it does not
 * fit. */
sl_value sl_decimal_from_double(double d, int precision, int scale);
/* The double nearest to a (correctly rounded). */
double sl_decimal_to_double(const sl_value *a);
/* a rounded by mode to an integer of type t (INT or BIGINT); NULL out of t's range. */
sl_value sl_decimal_to_int(const sl_value *a, sl_decimal_rounding mode, sl_type t);
/* True when a is a whole number that fits 64 bits; then *out is it. */
bool sl_decimal_to_int64_exact(const sl_value *a, int64_t *out);

#endif
