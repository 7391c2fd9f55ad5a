/* decimal.c: exact DECIMAL arithmetic (see decimal.h).
 *
 * Numbers are taken apart into a sign and a magnitude.  A value's magnitude is below
 * 10^38 and fits 128 bits; every intermediate result (an operand scaled up to the other's
 * scale, a product, a dividend scaled for the quotient's digits) is below 10^77 and fits
 * the 256-bit unsigned `u256`.  Each operation computes its exact result (or, for a
 * quotient, the exact result truncated one digit past the scale wanted, which rounds the
 * same way), then `finish` rounds it to the result's scale and checks its precision.
 * All arithmetic is unsigned, so nothing can overflow into undefined behaviour. */
#include "decimal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

typedef struct u256 {
    u128 hi, lo;
} u256;

/* A number taken apart: its sign and magnitude (a zero is never negative). */
typedef struct wide {
    bool neg;
    u256 m;
} wide;

#define MAX_DIGITS 38
#define E19 ((u128)10000000000000000000ull)

/* 10^0 .. 10^38; 10^38 < 2^127. */
static const u128 pow10_tab[MAX_DIGITS + 1] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
    E19 * 10ull,
    E19 * 100ull,
    E19 * 1000ull,
    E19 * 10000ull,
    E19 * 100000ull,
    E19 * 1000000ull,
    E19 * 10000000ull,
    E19 * 100000000ull,
    E19 * 1000000000ull,
    E19 * 10000000000ull,
    E19 * 100000000000ull,
    E19 * 1000000000000ull,
    E19 * 10000000000000ull,
    E19 * 100000000000000ull,
    E19 * 1000000000000000ull,
    E19 * 10000000000000000ull,
    E19 * 100000000000000000ull,
    E19 * 1000000000000000000ull,
    E19 * 10000000000000000000ull,
};

/* ---------------------------------------------------------------- 256-bit helpers */

static u256 u256_of(u128 x)
{
    u256 r = {0, x};
    return r;
}

static bool u256_is_zero(u256 a)
{
    return a.hi == 0 && a.lo == 0;
}

static int u256_cmp(u256 a, u256 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* a + b; the callers' sums stay below 2^256. */
static u256 u256_add(u256 a, u256 b)
{
    u256 r;
    r.lo = a.lo + b.lo;
    r.hi = a.hi + b.hi + (r.lo < a.lo);
    return r;
}

/* a - b modulo 2^256. */
static u256 u256_sub(u256 a, u256 b)
{
    u256 r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

/* The full 256-bit product of two 128-bit numbers. */
static u256 u256_mul128(u128 a, u128 b)
{
    uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64);
    uint64_t b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
    u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1, p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
    u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    u256 r;

    r.lo = (mid << 64) | (uint64_t)p00;
    r.hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    return r;
}

/* a * b into *out; false when the product needs more than 256 bits. */
static bool u256_mul(u256 a, u128 b, u256 *out)
{
    u256 r = u256_mul128(a.lo, b);

    if (a.hi) {
        u256 t = u256_mul128(a.hi, b);
        if (t.hi)
            return false;
        u128 hi = r.hi + t.lo;
        if (hi < r.hi)
            return false;
        r.hi = hi;
    }
    *out = r;
    return true;
}

unsigned __int128 sl_decimal_pow10(int k)
{
    assert(k >= 0 && k <= MAX_DIGITS);
    return pow10_tab[k];
}

double sl_decimal_pow10_double(int k)
{
    static const double exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

    assert(k >= 0 && k <= 22);
    return exact[k];
}

/* 10^k for 0 <= k <= 77 (10^77 < 2^256). */
static u256 pow10w(int k)
{
    assert(k >= 0 && k <= 2 * MAX_DIGITS + 1);
    if (k <= MAX_DIGITS)
        return u256_of(pow10_tab[k]);
    if (k <= 2 * MAX_DIGITS)
        return u256_mul128(pow10_tab[MAX_DIGITS], pow10_tab[k - MAX_DIGITS]);
    u256 r;
    bool ok = u256_mul(u256_mul128(pow10_tab[MAX_DIGITS], pow10_tab[MAX_DIGITS]), 10, &r);
    assert(ok);
    (void)ok;
    return r;
}

static int u256_bits(u256 a)
{
    if (a.hi)
        return 256 - (int)(a.hi >> 64 ? __builtin_clzll((uint64_t)(a.hi >> 64))
                                      : 64 + __builtin_clzll((uint64_t)a.hi));
    if (a.lo)
        return 128 - (int)(a.lo >> 64 ? __builtin_clzll((uint64_t)(a.lo >> 64))
                                      : 64 + __builtin_clzll((uint64_t)a.lo));
    return 0;
}

/* n / d and n % d for d != 0: native when both fit 128 bits, else shift and subtract. */
static void u256_divmod(u256 n, u256 d, u256 *q, u256 *r)
{
    assert(!u256_is_zero(d));
    if (n.hi == 0 && d.hi == 0) {
        *q = u256_of(n.lo / d.lo);
        *r = u256_of(n.lo % d.lo);
        return;
    }
    if (u256_cmp(n, d) < 0) {
        *q = u256_of(0);
        *r = n;
        return;
    }
    u256 quo = {0, 0}, rem = {0, 0};
    for (int i = u256_bits(n) - 1; i >= 0; i--) {
        bool top = rem.hi >> 127;
        u128 bit = i >= 128 ? (n.hi >> (i - 128)) & 1 : (n.lo >> i) & 1;
        rem.hi = (rem.hi << 1) | (rem.lo >> 127);
        rem.lo = (rem.lo << 1) | bit;
        /* rem < d before the shift, so rem - d (taken modulo 2^256 when the shift carried
         * out the top bit) is below d again. */
        if (top || u256_cmp(rem, d) >= 0) {
            rem = u256_sub(rem, d);
            if (i >= 128)
                quo.hi |= (u128)1 << (i - 128);
            else
                quo.lo |= (u128)1 << i;
        }
    }
    *q = quo;
    *r = rem;
}

/* ---------------------------------------------------------------- values apart */

static bool is_number(const sl_value *v)
{
    return v->type == SL_T_DECIMAL || v->type == SL_T_INT || v->type == SL_T_BIGINT;
}

/* v (DECIMAL, INT or BIGINT) as a sign and magnitude, and its scale. */
static wide unpack(const sl_value *v, int *scale)
{
    wide w;

    assert(is_number(v));
    if (v->type == SL_T_DECIMAL) {
        u128 x = ((u128)(uint64_t)v->u.dec.hi << 64) | v->u.dec.lo;
        w.neg = v->u.dec.hi < 0;
        w.m = u256_of(w.neg ? (u128)0 - x : x);
        *scale = v->scale;
    } else {
        w.neg = v->u.i < 0;
        w.m = u256_of(w.neg ? (u128)(0 - (uint64_t)v->u.i) : (u128)v->u.i);
        *scale = 0;
    }
    return w;
}

sl_value sl_decimal_make(int64_t hi, uint64_t lo, int scale)
{
    sl_value v = {.type = SL_T_DECIMAL, .scale = (uint8_t)scale};

    assert(scale >= 0 && scale <= MAX_DIGITS);
    v.u.dec.hi = hi;
    v.u.dec.lo = lo;
    return v;
}

/* A magnitude below 10^38 with its sign as a DECIMAL of the given scale. */
static sl_value pack(bool neg, u128 m, int scale)
{
    u128 x = neg ? (u128)0 - m : m;

    assert(m < pow10_tab[MAX_DIGITS]);
    return sl_decimal_make((int64_t)(uint64_t)(x >> 64), (uint64_t)x, scale);
}

/* True when magnitude m is below 10^p. */
static bool fits(u256 m, int p)
{
    assert(p >= 0 && p <= MAX_DIGITS);
    return m.hi == 0 && m.lo < pow10_tab[p];
}

/* x / 10^k (k >= 1) rounded by mode. */
static wide round_shift(wide x, int k, sl_decimal_rounding mode)
{
    u256 q, r;
    int half_cmp;

    if (k > 2 * MAX_DIGITS + 1) {
        /* 10^k > 2 * 2^256: the quotient is 0 and the remainder below half. */
        q = u256_of(0);
        r = x.m;
        half_cmp = -1;
    } else {
        u256 d = pow10w(k), half;
        u256_divmod(x.m, d, &q, &r);
        half.lo = (d.lo >> 1) | (d.hi << 127);
        half.hi = d.hi >> 1;
        half_cmp = u256_cmp(r, half);
    }
    bool up = false, inexact = !u256_is_zero(r);
    switch (mode) {
    case SL_ROUND_HALF_UP:
        up = half_cmp >= 0;
        break;
    case SL_ROUND_HALF_CEILING:
        up = x.neg ? half_cmp > 0 : half_cmp >= 0;
        break;
    case SL_ROUND_FLOOR:
        up = x.neg && inexact;
        break;
    case SL_ROUND_CEILING:
        up = !x.neg && inexact;
        break;
    case SL_ROUND_DOWN:
        break;
    }
    if (up)
        q = u256_add(q, u256_of(1));
    x.m = q;
    x.neg = x.neg && !u256_is_zero(q);
    return x;
}

/* x, a number of scale from, as DECIMAL(p, s): rounded by mode when s < from, scaled up
 * when s > from; NULL when it does not fit. */
static sl_value finish(wide x, int from, int p, int s, sl_decimal_rounding mode)
{
    assert(p >= 1 && p <= MAX_DIGITS && s >= 0 && s <= p);
    if (s < from) {
        x = round_shift(x, from - s, mode);
    } else if (s > from) {
        if (s - from > MAX_DIGITS || !u256_mul(x.m, pow10_tab[s - from], &x.m))
            return u256_is_zero(x.m) ? pack(false, 0, s) : sl_null();
    }
    if (!fits(x.m, p))
        return sl_null();
    return pack(x.neg && !u256_is_zero(x.m), x.m.lo, s);
}

/* ---------------------------------------------------------------- types */

/* Caps a precision above 38 as Spark and Flink do (see decimal.h). */
static void cap(int *p, int *s)
{
    if (*p > MAX_DIGITS) {
        int int_digits = *p - *s, min_scale = *s < 6 ? *s : 6;
        *s = MAX_DIGITS - int_digits > min_scale ? MAX_DIGITS - int_digits : min_scale;
        *p = MAX_DIGITS;
    }
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

void sl_decimal_result_type(sl_decimal_op op, int p1, int s1, int p2, int s2, int *p, int *s)
{
    switch (op) {
    case SL_DECIMAL_ADD:
    case SL_DECIMAL_SUB:
        *s = imax(s1, s2);
        *p = *s + imax(p1 - s1, p2 - s2) + 1;
        break;
    case SL_DECIMAL_MUL:
        *p = p1 + p2 + 1;
        *s = s1 + s2;
        break;
    case SL_DECIMAL_DIV:
        *s = imax(6, s1 + p2 + 1);
        *p = p1 - s1 + s2 + *s;
        break;
    case SL_DECIMAL_MOD:
        *s = imax(s1, s2);
        *p = imin(p1 - s1, p2 - s2) + *s;
        break;
    }
    cap(p, s);
}

void sl_decimal_widen(int p1, int s1, int p2, int s2, int *p, int *s)
{
    *s = imax(s1, s2);
    *p = imax(p1 - s1, p2 - s2) + *s;
    cap(p, s);
}

int sl_decimal_int_type(sl_type t, int *p, int *s)
{
    if (t != SL_T_INT && t != SL_T_BIGINT)
        return -1;
    *p = t == SL_T_INT ? 10 : 19;
    *s = 0;
    return 0;
}

/* ---------------------------------------------------------------- text */

/* A number's text taken apart: its digits without the point (leading zeros skipped),
 * how many of them there are, and the power of ten of the last one. */
typedef struct numtext {
    bool neg;
    const char *digits; /* the first significant digit (the text between may hold '.') */
    const char *end;    /* just past the last mantissa digit */
    int64_t ndigits;    /* significant digits */
    int64_t exp;        /* value = digits * 10^exp */
} numtext;

/* Exponents beyond this are as good as infinite for 38-digit numbers. */
#define EXP_CLAMP 1000000000ll

static int scan(const char *s, size_t n, numtext *t)
{
    size_t i = 0;
    int64_t int_digits = 0, frac_digits = 0, e = 0;

    memset(t, 0, sizeof(*t));
    if (i < n && (s[i] == '+' || s[i] == '-'))
        t->neg = s[i++] == '-';
    size_t start = i;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        int_digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            frac_digits++;
    if (int_digits + frac_digits == 0)
        return SL_DECIMAL_SYNTAX;
    t->end = s + i;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        size_t digits_at;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        digits_at = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < EXP_CLAMP)
                e = e * 10 + (s[i] - '0');
        if (i == digits_at)
            return SL_DECIMAL_SYNTAX;
        if (eneg)
            e = -e;
    }
    if (i != n)
        return SL_DECIMAL_SYNTAX;
    /* Skip leading zeros (and the point among them). */
    const char *p = s + start;
    int64_t skipped = 0;
    for (; p < t->end && (*p == '0' || *p == '.'); p++)
        skipped += *p == '0';
    t->digits = p;
    t->ndigits = int_digits + frac_digits - skipped;
    t->exp = e - frac_digits;
    return 0;
}

/* The i-th significant digit (0-based) of a number's text, read through a cursor that
 * stands on digit *at: digits are read in order, so the text is scanned once. */
static int digit_at(const char **cursor, int64_t i, int64_t *at)
{
    while (*at < i || **cursor == '.') {
        if (**cursor != '.')
            (*at)++;
        (*cursor)++;
    }
    return **cursor - '0';
}

/* t as DECIMAL(p, s) (see sl_decimal_parse). */
static int convert(const numtext *t, int p, int s, bool exact, sl_value *out)
{
    const char *cursor = t->digits;
    int64_t at = 0, keep, i;
    u128 acc = 0;
    bool inexact = false, up = false;

    *out = sl_null();
    if (t->ndigits == 0) {
        *out = pack(false, 0, s);
        return 0;
    }
    /* unscaled = digits * 10^(exp + s): the first `keep` digits stay. */
    keep = t->ndigits + t->exp + s;
    if (keep > p)
        return SL_DECIMAL_OVERFLOW;
    for (i = 0; i < keep && i < t->ndigits; i++)
        acc = acc * 10 + (u128)digit_at(&cursor, i, &at);
    if (keep < t->ndigits) {
        /* The first dropped digit decides HALF_UP (one left of the digits when keep < 0:
         * an implicit zero); any non-zero dropped digit makes the result inexact. */
        up = keep >= 0 && digit_at(&cursor, keep, &at) >= 5;
        for (i = keep < 0 ? 0 : keep; i < t->ndigits && !inexact; i++)
            inexact = digit_at(&cursor, i, &at) != 0;
        if (exact && inexact)
            return SL_DECIMAL_INEXACT;
        acc += up;
    } else {
        acc *= pow10_tab[keep - t->ndigits];
    }
    if (acc >= pow10_tab[p])
        return SL_DECIMAL_OVERFLOW;
    *out = pack(t->neg && acc != 0, acc, s);
    return 0;
}

int sl_decimal_parse(const char *s, size_t n, int precision, int scale, bool exact, sl_value *out)
{
    numtext t;
    int rc = scan(s, n, &t);

    assert(precision >= 1 && precision <= MAX_DIGITS && scale >= 0 && scale <= precision);
    if (rc < 0) {
        *out = sl_null();
        return rc;
    }
    return convert(&t, precision, scale, exact, out);
}

/* The number of decimal digits of m (at least 1). */
static int digits_of(u128 m)
{
    int d = 1;

    while (d < MAX_DIGITS + 1 && m >= pow10_tab[d])
        d++;
    return d;
}

int sl_decimal_parse_literal(const char *s, size_t n, sl_value *out)
{
    numtext t;
    int rc = scan(s, n, &t);

    *out = sl_null();
    if (rc < 0)
        return rc;
    if (t.exp < -MAX_DIGITS)
        return SL_DECIMAL_OVERFLOW;
    return convert(&t, MAX_DIGITS, t.exp < 0 ? (int)-t.exp : 0, true, out);
}

int sl_decimal_literal_precision(const sl_value *a)
{
    int scale;
    wide w = unpack(a, &scale);

    return imax(digits_of(w.m.lo), scale);
}

/* "00" to "99": digits are produced two per division. */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                  "31323334353637383940414243444546474849505152535455565758596061"
                                  "62636465666768697071727374757677787980818283848586878889909192"
                                  "93949596979899";

int sl_decimal_u64_width(uint64_t u)
{
    /* log10(2) ~ 1233 / 4096 of the bit length, then one comparison to correct it. */
    int t = (64 - __builtin_clzll(u | 1)) * 1233 >> 12;

    return t + (u >= pow10_tab[t]) + (u == 0);
}

char *sl_decimal_u64_digits(char *end, uint64_t u)
{
    while (u >= 100) {
        end -= 2;
        memcpy(end, digit_pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        end -= 2;
        memcpy(end, digit_pairs + 2 * u, 2);
    } else {
        *--end = (char)('0' + u);
    }
    return end;
}

size_t sl_decimal_format(const sl_value *v, char out[SL_DECIMAL_TEXT])
{
    char digits[MAX_DIGITS + 2], *d = digits + sizeof(digits);
    int nd, scale;
    size_t n = 0;
    wide w = unpack(v, &scale);
    u128 m = w.m.lo;

    /* Digits, most significant first, ending at the end of digits[]: 128-bit divisions
     * only while the value needs them (they are calls), then two digits per 64-bit
     * division. */
    while (m > UINT64_MAX) {
        *--d = (char)('0' + (int)(m % 10));
        m /= 10;
    }
    d = sl_decimal_u64_digits(d, (uint64_t)m);
    nd = (int)(digits + sizeof(digits) - d);
    if (w.neg)
        out[n++] = '-';
    if (nd <= scale) {
        out[n++] = '0';
        out[n++] = '.';
        memset(out + n, '0', (size_t)(scale - nd));
        n += (size_t)(scale - nd);
        memcpy(out + n, d, (size_t)nd);
        n += (size_t)nd;
    } else {
        memcpy(out + n, d, (size_t)(nd - scale));
        n += (size_t)(nd - scale);
        if (scale > 0) {
            out[n++] = '.';
            memcpy(out + n, d + nd - scale, (size_t)scale);
            n += (size_t)scale;
        }
    }
    out[n] = '\0';
    return n;
}

void sl_decimal_append(const sl_value *v, sl_buf *out)
{
    char text[SL_DECIMAL_TEXT];
    size_t n = sl_decimal_format(v, text);

    sl_buf_append(out, text, n);
}

/* ---------------------------------------------------------------- values */

bool sl_decimal_fits(const sl_value *a, int precision)
{
    int scale;

    return fits(unpack(a, &scale).m, precision);
}

int sl_decimal_sign(const sl_value *a)
{
    int scale;
    wide w = unpack(a, &scale);

    return w.neg ? -1 : !u256_is_zero(w.m);
}

sl_value sl_decimal_rescale(const sl_value *a, int precision, int scale)
{
    int from;
    wide w = unpack(a, &from);

    return finish(w, from, precision, scale, SL_ROUND_HALF_UP);
}

/* a and b at the larger of their scales, into *x and *y; returns that scale. */
static int align(const sl_value *a, const sl_value *b, wide *x, wide *y)
{
    int sa, sb, m;

    *x = unpack(a, &sa);
    *y = unpack(b, &sb);
    m = imax(sa, sb);
    /* Magnitudes below 10^38 times at most 10^38: no overflow. */
    if (m > sa)
        u256_mul(x->m, pow10_tab[m - sa], &x->m);
    if (m > sb)
        u256_mul(y->m, pow10_tab[m - sb], &y->m);
    return m;
}

static sl_value add(const sl_value *a, const sl_value *b, bool negate_b, int p, int s)
{
    wide x, y, r;
    int m = align(a, b, &x, &y);

    if (negate_b)
        y.neg = !y.neg && !u256_is_zero(y.m);
    if (x.neg == y.neg) {
        /* Below 2 * 10^76 < 2^256. */
        r.m = u256_add(x.m, y.m);
        r.neg = x.neg;
    } else if (u256_cmp(x.m, y.m) >= 0) {
        r.m = u256_sub(x.m, y.m);
        r.neg = x.neg;
    } else {
        r.m = u256_sub(y.m, x.m);
        r.neg = y.neg;
    }
    r.neg = r.neg && !u256_is_zero(r.m);
    return finish(r, m, p, s, SL_ROUND_HALF_UP);
}

static sl_value mul(const sl_value *a, const sl_value *b, int p, int s)
{
    int sa, sb;
    wide x = unpack(a, &sa), y = unpack(b, &sb), r;

    if (x.m.lo <= UINT64_MAX && y.m.lo <= UINT64_MAX && sa + sb == s) {
        /* The common case (a BIGINT times a short DECIMAL, kept at its natural scale):
         * one 64 x 64 -> 128-bit product, nothing to round or scale. */
        u128 m = (u128)(uint64_t)x.m.lo * (uint64_t)y.m.lo;
        if (m >= pow10_tab[p])
            return sl_null();
        return pack(x.neg != y.neg && m != 0, m, s);
    }
    r.m = u256_mul128(x.m.lo, y.m.lo);
    r.neg = x.neg != y.neg && !u256_is_zero(r.m);
    return finish(r, sa + sb, p, s, SL_ROUND_HALF_UP);
}

static sl_value divide(const sl_value *a, const sl_value *b, int p, int s)
{
    int sa, sb, work, e;
    wide x = unpack(a, &sa), y = unpack(b, &sb), q;
    u256 n, r;

    if (u256_is_zero(y.m))
        return sl_null();
    /* The quotient truncated at scale work, one digit past s (or more, so that the
     * dividend needs no dividing down first): a/b * 10^work = x * 10^e / y. */
    work = imax(s + 1, sa - sb);
    e = sb - sa + work;
    assert(e >= 0 && e <= 2 * MAX_DIGITS + 1);
    if (!u256_mul(pow10w(e), x.m.lo, &n))
        return sl_null(); /* the quotient is then above 2^256 / 10^38 > 10^39 */
    u256_divmod(n, y.m, &q.m, &r);
    q.neg = x.neg != y.neg && !u256_is_zero(q.m);
    return finish(q, work, p, s, SL_ROUND_HALF_UP);
}

static sl_value mod(const sl_value *a, const sl_value *b, int p, int s)
{
    wide x, y, r;
    u256 q;
    int m = align(a, b, &x, &y);

    if (u256_is_zero(y.m))
        return sl_null();
    u256_divmod(x.m, y.m, &q, &r.m);
    r.neg = x.neg && !u256_is_zero(r.m);
    return finish(r, m, p, s, SL_ROUND_HALF_UP);
}

sl_value sl_decimal_arith(sl_decimal_op op, const sl_value *a, const sl_value *b, int precision,
                          int scale)
{
    switch (op) {
    case SL_DECIMAL_ADD:
        return add(a, b, false, precision, scale);
    case SL_DECIMAL_SUB:
        return add(a, b, true, precision, scale);
    case SL_DECIMAL_MUL:
        return mul(a, b, precision, scale);
    case SL_DECIMAL_DIV:
        return divide(a, b, precision, scale);
    case SL_DECIMAL_MOD:
        return mod(a, b, precision, scale);
    }
    return sl_null();
}

sl_value sl_decimal_neg(const sl_value *a)
{
    int scale;
    wide w = unpack(a, &scale);

    return pack(!w.neg && !u256_is_zero(w.m), w.m.lo, scale);
}

sl_value sl_decimal_abs(const sl_value *a)
{
    int scale;
    wide w = unpack(a, &scale);

    return pack(false, w.m.lo, scale);
}

sl_value sl_decimal_round(const sl_value *a, int places, sl_decimal_rounding mode, int precision,
                          int scale)
{
    int from;
    wide w = unpack(a, &from);

    if (places >= from)
        return finish(w, from, precision, scale, SL_ROUND_HALF_UP);
    /* Digits below 10^-places go; a places below -77 leaves nothing of any number. */
    if (places < -(2 * MAX_DIGITS + 1))
        places = -(2 * MAX_DIGITS + 2);
    w = round_shift(w, from - places, mode);
    if (places >= 0)
        return finish(w, places, precision, scale, SL_ROUND_HALF_UP);
    /* Back to units: w * 10^-places. */
    if (u256_is_zero(w.m))
        return finish(w, 0, precision, scale, SL_ROUND_HALF_UP);
    if (-places > MAX_DIGITS || !u256_mul(w.m, pow10_tab[-places], &w.m))
        return sl_null();
    return finish(w, 0, precision, scale, SL_ROUND_HALF_UP);
}

int sl_decimal_cmp(const sl_value *a, const sl_value *b)
{
    wide x, y;
    int c;

    if (a->type == SL_T_DECIMAL && b->type == SL_T_DECIMAL && a->scale == b->scale) {
        /* The common case, without taking the numbers apart. */
        if (a->u.dec.hi != b->u.dec.hi)
            return a->u.dec.hi < b->u.dec.hi ? -1 : 1;
        return (a->u.dec.lo > b->u.dec.lo) - (a->u.dec.lo < b->u.dec.lo);
    }
    align(a, b, &x, &y);
    if (x.neg != y.neg)
        return x.neg ? -1 : 1;
    c = u256_cmp(x.m, y.m);
    return x.neg ? -c : c;
}

/* ---------------------------------------------------------------- conversions */

sl_value sl_decimal_from_int(int64_t i, int precision, int scale)
{
    sl_value v = sl_int(SL_T_BIGINT, i);

    return sl_decimal_rescale(&v, precision, scale);
}

sl_value sl_decimal_from_double(double d, int precision, int scale)
{
    char text[40];
    sl_value v;
    int n = 0;

    if (!isfinite(d))
        return sl_null();
    /* The fewest significant digits that read back as d. */
    for (int prec = 0; prec <= 16; prec++) {
        n = snprintf(text, sizeof(text), "%.*e", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    if (sl_decimal_parse(text, (size_t)n, precision, scale, false, &v) < 0)
        return sl_null();
    return v;
}

double sl_decimal_to_double(const sl_value *a)
{
    char text[SL_DECIMAL_TEXT];

    sl_decimal_format(a, text);
    return strtod(text, NULL);
}

sl_value sl_decimal_to_int(const sl_value *a, sl_decimal_rounding mode, sl_type t)
{
    int scale;
    wide w = unpack(a, &scale);
    u128 limit;

    assert(t == SL_T_INT || t == SL_T_BIGINT);
    if (scale > 0)
        w = round_shift(w, scale, mode);
    limit = t == SL_T_INT ? (u128)INT32_MAX : (u128)INT64_MAX;
    if (w.m.hi || w.m.lo > limit + w.neg)
        return sl_null();
    /* Negated in unsigned arithmetic: -2^63 is fine. */
    return sl_int(t, (int64_t)(w.neg ? 0 - (uint64_t)w.m.lo : (uint64_t)w.m.lo));
}

bool sl_decimal_to_int64_exact(const sl_value *a, int64_t *out)
{
    int scale;
    wide w = unpack(a, &scale);

    if (scale > 0) {
        u256 q, r;
        u256_divmod(w.m, u256_of(pow10_tab[scale]), &q, &r);
        if (!u256_is_zero(r))
            return false;
        w.m = q;
    }
    if (w.m.hi || w.m.lo > (u128)INT64_MAX + w.neg)
        return false;
    *out = (int64_t)(w.neg ? 0 - (uint64_t)w.m.lo : (uint64_t)w.m.lo);
    return true;
}
