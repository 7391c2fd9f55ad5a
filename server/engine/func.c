/* func.c: the scalar functions of functions.def, CAST and LIKE, with ksqlDB's semantics
 * where sluice's docs (docs/sql.md) do not say otherwise.
 *
 * Strings are UTF-8: lengths and positions (LEN, SUBSTRING, INSTR, LPAD, RPAD, '_')
 * count characters, not bytes.  Values from events are valid UTF-8 (the JSON decoder
 * guarantees it), and these functions only cut strings at character boundaries, so they
 * keep them valid.  Invariants: every string built here goes to scratch->arena and is
 * bounded by SL_MAX_BUILT_STRING (past it the result is NULL); no arithmetic here can
 * overflow: each case is checked first and gives NULL. */
#include "func.h"

#include "decimal.h"
#include "limits.h"
#include "nested.h"
#include "timefmt.h"
#include "tz.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A new string of n bytes in the scratch arena. */
static char *build(sl_scratch *scratch, size_t n)
{
    assert(scratch && scratch->arena);
    return sl_arena_alloc(scratch->arena, n ? n : 1);
}

static sl_value str_value(const char *p, size_t n)
{
    return sl_str(p, (uint32_t)n);
}

/* The length of the UTF-8 character that starts with byte c (1 for a stray byte). */
static size_t char_len(unsigned char c)
{
    if (c >= 0xF0)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

/* The byte offset in s[0..n) after skipping k characters (n when there are fewer). */
static size_t skip_chars(const char *s, size_t n, int64_t k)
{
    size_t i = 0;

    while (k-- > 0 && i < n) {
        i += char_len((unsigned char)s[i]);
        if (i > n)
            i = n;
    }
    return i;
}

static int64_t count_chars(const char *s, size_t n)
{
    int64_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* ------------------------------------------------------------------ numbers */

static sl_value abs_value(const sl_value *v)
{
    if (v->type == SL_T_DOUBLE)
        return sl_double(fabs(v->u.d));
    if (v->type == SL_T_DECIMAL)
        return sl_decimal_abs(v);
    if (v->u.i == INT64_MIN || (v->type == SL_T_INT && v->u.i == INT32_MIN))
        return sl_null();
    return sl_int(v->type, v->u.i < 0 ? -v->u.i : v->u.i);
}

/* An integer rounded to 10^-places (places < 0), half away from zero (BigDecimal's
 * HALF_UP); NULL when the result does not fit type t. */
static sl_value round_int(sl_type t, int64_t v, int64_t places)
{
    int64_t p = 1, q, r;

    if (places >= 0)
        return sl_int(t, v);
    for (int64_t k = 0; k < -places; k++) {
        if (p > INT64_MAX / 10)
            return sl_int(t, 0);
        p *= 10;
    }
    q = v / p;
    r = v % p;
    if (r >= 0 ? r >= p - r : -r >= p + r)
        q += v < 0 ? -1 : 1;
    if (__builtin_mul_overflow(q, p, &r) || (t == SL_T_INT && (r < INT32_MIN || r > INT32_MAX)))
        return sl_null();
    return sl_int(t, r);
}

/* The shortest decimal that reads back as d (finite, the sign left out): its significant
 * digits into digits, NUL-terminated, and the exponent of the first one into *exp.
 * Returns the number of digits. */
static int shortest_digits(double d, char digits[24], int *exp)
{
    char text[40];
    int prec, len = 0;

    for (prec = 0; prec <= 16; prec++) {
        snprintf(text, sizeof(text), "%.*e", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    /* text is [-]d[.ddd]e[+-]xx. */
    const char *p = text + (text[0] == '-');
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[len++] = *p;
    digits[len] = '\0';
    *exp = atoi(p + 1);
    return len;
}

/* ROUND(d, places) as ksqlDB computes it: BigDecimal.valueOf(d) (the shortest decimal
 * that reads back as d) rounded half away from zero, back to a double. */
static sl_value round_double(double d, int64_t places)
{
    char digits[24], out[64];
    int exp, len, keep;

    if (!isfinite(d))
        return sl_null();
    len = shortest_digits(d, digits, &exp);
    if (places > 400)
        return sl_double(d);
    if (places < -400)
        return sl_double(0.0);
    keep = exp + 1 + (int)places; /* digits that stay */
    if (keep >= len)
        return sl_double(d);
    if (keep < 0)
        return sl_double(0.0 * d);
    bool up = digits[keep] >= '5';
    digits[keep] = '\0';
    if (up) {
        int i = keep - 1;
        while (i >= 0 && digits[i] == '9')
            digits[i--] = '0';
        if (i >= 0) {
            digits[i]++;
        } else {
            memmove(digits + 1, digits, (size_t)keep + 1);
            digits[0] = '1';
            keep++;
            exp++;
        }
    }
    snprintf(out, sizeof(out), "%s0%se%d", d < 0 ? "-" : "", keep ? digits : "0", exp - keep + 1);
    return sl_double(strtod(out, NULL));
}

/* ROUND, FLOOR and CEIL of a DECIMAL, as the DECIMAL d the binder gave the call:
 * ROUND(x) half up as Java's Math.round (-2.5 -> -2), like ROUND of a DOUBLE; ROUND(x,
 * places) half away from zero, like ROUND(x, places) of the other types. */
static sl_value round_decimal(const sl_value *x, int64_t places, sl_decimal_rounding mode,
                              const sl_typedesc *d)
{
    /* Past +-100 places every DECIMAL rounds as it does at +-100. */
    int p = places > 100 ? 100 : places < -100 ? -100 : (int)places;

    assert(d && d->kind == SL_T_DECIMAL);
    return sl_decimal_round(x, p, mode, d->precision, d->scale);
}

static sl_value round_value(int nargs, const sl_value *a, const sl_typedesc *d)
{
    if (nargs == 2 && a[1].type == SL_T_NULL)
        return sl_null();
    int64_t places = nargs == 2 ? a[1].u.i : 0;

    if (a[0].type == SL_T_DECIMAL)
        return round_decimal(&a[0], places, nargs == 2 ? SL_ROUND_HALF_UP : SL_ROUND_HALF_CEILING,
                             d);
    if (a[0].type != SL_T_DOUBLE)
        return round_int(a[0].type, a[0].u.i, places);
    if (nargs == 2)
        return round_double(a[0].u.d, places);
    /* ROUND(DOUBLE) is Java's Math.round: floor(d + 0.5), a BIGINT. */
    double r = floor(a[0].u.d + 0.5);
    if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
        return sl_null();
    return sl_int(SL_T_BIGINT, (int64_t)r);
}

static double as_double(const sl_value *v)
{
    if (v->type == SL_T_DECIMAL)
        return sl_decimal_to_double(v);
    return v->type == SL_T_DOUBLE ? v->u.d : (double)v->u.i;
}

static sl_value finite_value(double d)
{
    return isfinite(d) ? sl_double(d) : sl_null();
}

/* GREATEST and LEAST: the largest (smallest) non-NULL argument; NULL when all are. */
static sl_value extreme(int nargs, const sl_value *a, int sign)
{
    sl_value best = sl_null();

    for (int i = 0; i < nargs; i++) {
        if (a[i].type == SL_T_NULL)
            continue;
        if (best.type == SL_T_NULL || sl_value_cmp(&a[i], &best) * sign > 0)
            best = a[i];
    }
    return best;
}

/* ------------------------------------------------------------------ strings */

static sl_value change_case(const sl_value *v, bool upper, sl_scratch *scratch)
{
    char *out = build(scratch, v->u.s.len);

    for (uint32_t i = 0; i < v->u.s.len; i++) {
        unsigned char c = (unsigned char)v->u.s.ptr[i];
        out[i] = (char)(c < 0x80 ? (upper ? toupper(c) : tolower(c)) : c);
    }
    return str_value(out, v->u.s.len);
}

/* SUBSTRING(s, pos[, len]): 1-based; a negative pos counts from the end; pos 0 is 1;
 * ksqlDB's clamping (a start past the end, or a negative length, gives ''). */
static sl_value substring(int nargs, const sl_value *a)
{
    const char *s = a[0].u.s.ptr;
    size_t n = a[0].u.s.len;
    int64_t len = count_chars(s, n), pos = a[1].u.i, start, end;

    if (nargs == 3 && a[2].type == SL_T_NULL)
        return sl_null();
    if (pos < 0)
        start = len + pos > 0 ? len + pos : 0;
    else
        start = pos - 1 < len ? (pos - 1 > 0 ? pos - 1 : 0) : len;
    end = len;
    if (nargs == 3) {
        int64_t want = a[2].u.i;
        end = want > len - start ? len : start + want;
        if (end < start)
            end = start;
    }
    size_t from = skip_chars(s, n, start), to = from + skip_chars(s + from, n - from, end - start);
    return str_value(s + from, to - from);
}

/* CONCAT: NULL arguments count as '' (as in ksqlDB). */
static sl_value concat(int nargs, const sl_value *a, sl_scratch *scratch)
{
    size_t total = 0, at = 0;
    char *out;

    for (int i = 0; i < nargs; i++)
        if (a[i].type == SL_T_VARCHAR)
            total += a[i].u.s.len;
    if (total > SL_MAX_BUILT_STRING)
        return sl_null();
    out = build(scratch, total);
    for (int i = 0; i < nargs; i++) {
        if (a[i].type == SL_T_VARCHAR && a[i].u.s.len) {
            memcpy(out + at, a[i].u.s.ptr, a[i].u.s.len);
            at += a[i].u.s.len;
        }
    }
    return str_value(out, total);
}

/* TRIM: Java's String.trim, which drops every byte <= ' ' at both ends. */
static sl_value trim(const sl_value *v)
{
    const char *s = v->u.s.ptr;
    size_t b = 0, e = v->u.s.len;

    while (b < e && (unsigned char)s[b] <= ' ')
        b++;
    while (e > b && (unsigned char)s[e - 1] <= ' ')
        e--;
    return str_value(s + b, e - b);
}

/* REPLACE(s, old, new): every occurrence, left to right, not overlapping; an empty old
 * puts new before every character and at the end (Java's String.replace). */
static sl_value replace(const sl_value *a, sl_scratch *scratch)
{
    const char *s = a[0].u.s.ptr, *o = a[1].u.s.ptr, *w = a[2].u.s.ptr;
    size_t n = a[0].u.s.len, on = a[1].u.s.len, wn = a[2].u.s.len, hits = 0, at = 0;
    char *out;

    if (on == 0) {
        hits = (size_t)count_chars(s, n) + 1;
    } else {
        for (size_t i = 0; i + on <= n;) {
            if (memcmp(s + i, o, on) == 0) {
                hits++;
                i += on;
            } else {
                i++;
            }
        }
    }
    if (hits && wn > (SL_MAX_BUILT_STRING - n) / hits + on)
        return sl_null();
    size_t total = n - hits * on + hits * wn;
    if (total > SL_MAX_BUILT_STRING)
        return sl_null();
    out = build(scratch, total);
    for (size_t i = 0; i <= n;) {
        if (on == 0 || (i + on <= n && memcmp(s + i, o, on) == 0)) {
            memcpy(out + at, w, wn);
            at += wn;
            if (on) {
                i += on;
                continue;
            }
        }
        if (i == n)
            break;
        size_t k = on ? 1 : char_len((unsigned char)s[i]);
        if (i + k > n)
            k = n - i;
        memcpy(out + at, s + i, k);
        at += k;
        i += k;
    }
    return str_value(out, at);
}

/* INSTR(s, sub[, pos[, occurrence]]): the 1-based character position of the occurrence-th
 * match of sub, searching forward from character pos, or backward from character
 * len + pos + 1 when pos is negative; 0 when there is none (or pos is 0, or occurrence
 * is less than 1). */
static sl_value instr(int nargs, const sl_value *a)
{
    const char *s = a[0].u.s.ptr, *sub = a[1].u.s.ptr;
    size_t n = a[0].u.s.len, m = a[1].u.s.len;
    int64_t len = count_chars(s, n), pos = 1, occ = 1, found = 0;

    for (int i = 2; i < nargs; i++)
        if (a[i].type == SL_T_NULL)
            return sl_null();
    if (nargs > 2)
        pos = a[2].u.i;
    if (nargs > 3)
        occ = a[3].u.i;
    if (pos == 0 || occ < 1 || (pos > 0 && pos > len + 1) || (pos < 0 && -pos > len))
        return sl_int(SL_T_INT, 0);
    if (pos > 0) {
        int64_t c = pos - 1;
        for (size_t i = skip_chars(s, n, c); i + m <= n; c++) {
            if (memcmp(s + i, sub, m) == 0 && ++found == occ)
                return sl_int(SL_T_INT, c + 1);
            if (i == n)
                break;
            i += char_len((unsigned char)s[i]);
        }
        return sl_int(SL_T_INT, 0);
    }
    for (int64_t c = len + pos; c >= 0; c--) {
        size_t i = skip_chars(s, n, c);
        if (i + m <= n && memcmp(s + i, sub, m) == 0 && ++found == occ)
            return sl_int(SL_T_INT, c + 1);
    }
    return sl_int(SL_T_INT, 0);
}

/* LPAD and RPAD (ksqlDB): NULL for a negative length or an empty pad; a longer input is
 * cut to its first len characters. */
static sl_value pad(const sl_value *a, bool left, sl_scratch *scratch)
{
    const char *s = a[0].u.s.ptr, *p = a[2].u.s.ptr;
    size_t n = a[0].u.s.len, pn = a[2].u.s.len;
    int64_t want = a[1].u.i, have = count_chars(s, n), fill;
    size_t at = 0, fill_bytes = 0;

    if (want < 0 || pn == 0)
        return sl_null();
    if (want <= have)
        return str_value(s, skip_chars(s, n, want));
    fill = want - have;
    if (fill > SL_MAX_BUILT_STRING)
        return sl_null();
    /* The fill is the pad repeated and cut to fill characters. */
    int64_t pchars = count_chars(p, pn), whole = fill / pchars, part = fill % pchars;
    size_t part_bytes = skip_chars(p, pn, part);
    if ((uint64_t)whole > (SL_MAX_BUILT_STRING - n) / pn)
        return sl_null();
    fill_bytes = (size_t)whole * pn + part_bytes;
    if (fill_bytes + n > SL_MAX_BUILT_STRING)
        return sl_null();
    char *out = build(scratch, fill_bytes + n);
    if (!left) {
        memcpy(out, s, n);
        at = n;
    }
    for (int64_t k = 0; k < whole; k++, at += pn)
        memcpy(out + at, p, pn);
    memcpy(out + at, p, part_bytes);
    at += part_bytes;
    if (left) {
        memcpy(out + at, s, n);
        at += n;
    }
    return str_value(out, at);
}

/* ------------------------------------------------------------------ time */

/* The zone argument a[i], when given: a fixed offset (*tz NULL, *off set) or a zone of
 * the tz database (*tz set).  False when it is neither. */
static bool zone_arg(int nargs, const sl_value *a, int i, int *off, const sl_tz **tz)
{
    char name[SL_MAX_IDENT + 1];

    *off = 0;
    *tz = NULL;
    if (nargs <= i || sl_time_zone_parse(a[i].u.s.ptr, a[i].u.s.len, off) == 0)
        return true;
    if (a[i].u.s.len > SL_MAX_IDENT)
        return false;
    memcpy(name, a[i].u.s.ptr, a[i].u.s.len);
    name[a[i].u.s.len] = '\0';
    return (*tz = sl_tz_get(name)) != NULL;
}

/* The offset of tz, in whole minutes, at the instant utc_ms. */
static int tz_minutes(const sl_tz *tz, int64_t utc_ms)
{
    return (int)(sl_tz_offset(tz, utc_ms) / 60000);
}

static sl_value format_time(int nargs, const sl_value *a, sl_scratch *scratch)
{
    sl_buf out = SL_BUF_INIT;
    sl_value r = sl_null();
    const sl_tz *tz;
    int off;

    if (!zone_arg(nargs, a, 2, &off, &tz) || a[1].u.s.len > SL_MAX_TIME_PATTERN)
        return sl_null();
    if (tz)
        off = tz_minutes(tz, a[0].u.i);
    if (sl_time_format(a[0].u.i, a[1].u.s.ptr, a[1].u.s.len, off, nargs > 2 ? a[2].u.s.ptr : NULL,
                       nargs > 2 ? a[2].u.s.len : 0, &out) == 0) {
        char *s = build(scratch, out.len);
        if (out.len)
            memcpy(s, out.data, out.len);
        r = str_value(s, out.len);
    }
    sl_buf_free(&out);
    return r;
}

static sl_value parse_time(int nargs, const sl_value *a)
{
    const sl_tz *tz;
    int64_t ms;
    bool zoned;
    int off;

    if (!zone_arg(nargs, a, 2, &off, &tz) || a[1].u.s.len > SL_MAX_TIME_PATTERN ||
        sl_time_parse(a[0].u.s.ptr, a[0].u.s.len, a[1].u.s.ptr, a[1].u.s.len, off, &ms, &zoned) < 0)
        return sl_null();
    if (tz && !zoned) {
        /* ms is local time in tz: the offset that holds at that local time (a local time
         * a transition skips takes the offset from before it). */
        int64_t guess = ms - sl_tz_offset(tz, ms);
        ms -= sl_tz_offset(tz, guess);
    }
    return sl_int(SL_T_BIGINT, ms);
}

/* ------------------------------------------------------------------ JSON */

/* A bounded, non-recursive walker over JSON text for EXTRACTJSONFIELD.  It checks what
 * it walks through well enough never to read past the end, not that the whole document
 * is valid: a malformed document gives NULL wherever the walk notices. */
typedef struct jcur {
    const char *p, *end;
} jcur;

static void jspace(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Moves past a string whose opening quote is at c->p. */
static bool jskip_string(jcur *c)
{
    for (c->p++; c->p < c->end; c->p++) {
        if (*c->p == '\\') {
            c->p++;
            continue;
        }
        if (*c->p == '"') {
            c->p++;
            return true;
        }
    }
    return false;
}

/* True when s[0..n) is true, false, null or made of number characters. */
static bool jscalar(const char *s, size_t n)
{
    if ((n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) ||
        (n == 5 && memcmp(s, "false", 5) == 0))
        return true;
    for (size_t i = 0; i < n; i++)
        if (!strchr("+-0123456789.eE", s[i]) || s[i] == '\0')
            return false;
    return n > 0;
}

/* Moves past one value (nested ones counted, not recursed into). */
static bool jskip_value(jcur *c)
{
    size_t depth = 0;

    jspace(c);
    do {
        if (c->p >= c->end)
            return false;
        switch (*c->p) {
        case '"':
            if (!jskip_string(c))
                return false;
            break;
        case '{':
        case '[':
            depth++;
            c->p++;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return false;
            depth--;
            c->p++;
            break;
        default:
            if (depth == 0) {
                const char *start = c->p;
                while (c->p < c->end && !strchr(",]} \t\r\n", *c->p))
                    c->p++;
                return jscalar(start, (size_t)(c->p - start));
            }
            c->p++;
            break;
        }
    } while (depth > 0);
    return true;
}

static int hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the JSON string at c->p (its opening quote) into the arena; false when it is
 * malformed.  A lone surrogate becomes U+FFFD. */
static bool jstring(jcur *c, sl_scratch *scratch, const char **out, size_t *len)
{
    const char *start = c->p;

    if (!jskip_string(c))
        return false;
    char *s = build(scratch, (size_t)(c->p - start));
    size_t n = 0;
    for (const char *p = start + 1; p < c->p - 1; p++) {
        if (*p != '\\') {
            s[n++] = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'b':
            s[n++] = '\b';
            break;
        case 'f':
            s[n++] = '\f';
            break;
        case 'n':
            s[n++] = '\n';
            break;
        case 'r':
            s[n++] = '\r';
            break;
        case 't':
            s[n++] = '\t';
            break;
        case 'u': {
            if (c->p - 1 - (p + 1) < 4)
                return false;
            int cp = hex4(p + 1), lo;
            if (cp < 0)
                return false;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && c->p - 1 - (p + 1) >= 6 && p[1] == '\\' &&
                p[2] == 'u' && (lo = hex4(p + 3)) >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            n += put_utf8(s + n, (uint32_t)cp);
            break;
        }
        default:
            s[n++] = *p;
            break;
        }
    }
    *out = s;
    *len = n;
    return true;
}

/* Steps over the member or element at c->p and the ',' after it: false at the end of
 * its object or array, or on malformed input. */
static bool jnext(jcur *c)
{
    if (!jskip_value(c))
        return false;
    jspace(c);
    if (c->p >= c->end || *c->p != ',')
        return false;
    c->p++;
    return true;
}

/* Positions c at the member key[0..klen) of the object at c->p; false when absent. */
static bool jmember(jcur *c, const char *key, size_t klen, sl_scratch *scratch)
{
    jspace(c);
    if (c->p >= c->end || *c->p != '{')
        return false;
    c->p++;
    for (;;) {
        const char *k;
        size_t kn;

        jspace(c);
        if (c->p >= c->end || *c->p != '"' || !jstring(c, scratch, &k, &kn))
            return false;
        jspace(c);
        if (c->p >= c->end || *c->p != ':')
            return false;
        c->p++;
        jspace(c);
        if (kn == klen && memcmp(k, key, kn) == 0)
            return true;
        if (!jnext(c))
            return false;
    }
}

/* Positions c at element idx (0-based) of the array at c->p; false when absent. */
static bool jelement(jcur *c, int64_t idx)
{
    jspace(c);
    if (c->p >= c->end || *c->p != '[')
        return false;
    c->p++;
    for (int64_t i = 0;; i++) {
        jspace(c);
        if (i == idx)
            return c->p < c->end && *c->p != ']';
        if (!jnext(c))
            return false;
    }
}

/* EXTRACTJSONFIELD(json, path): path is '$' then any of .name, ['name'], ["name"] and
 * [n].  A string value comes back decoded, null as NULL, anything else as its JSON text
 * without whitespace; a missing member or a malformed document or path gives NULL. */
static sl_value extract_json(const sl_value *a, sl_scratch *scratch)
{
    jcur c = {a[0].u.s.ptr, a[0].u.s.ptr + a[0].u.s.len};
    const char *p = a[1].u.s.ptr, *pe = p + a[1].u.s.len;

    if (p == pe || *p++ != '$')
        return sl_null();
    while (p < pe) {
        if (*p == '.') {
            const char *name = ++p;
            while (p < pe && *p != '.' && *p != '[')
                p++;
            if (p == name || !jmember(&c, name, (size_t)(p - name), scratch))
                return sl_null();
        } else if (*p == '[' && p + 1 < pe && (p[1] == '\'' || p[1] == '"')) {
            char q = p[1];
            const char *name = p + 2, *e = name;
            while (e < pe && *e != q)
                e++;
            if (e + 1 >= pe || e[1] != ']' || !jmember(&c, name, (size_t)(e - name), scratch))
                return sl_null();
            p = e + 2;
        } else if (*p == '[') {
            int64_t idx = 0;
            const char *d = ++p;
            while (p < pe && *p >= '0' && *p <= '9' && idx < INT32_MAX)
                idx = idx * 10 + (*p++ - '0');
            if (p == d || p >= pe || *p != ']' || !jelement(&c, idx))
                return sl_null();
            p++;
        } else {
            return sl_null();
        }
    }
    jspace(&c);
    if (c.p >= c.end)
        return sl_null();
    if (*c.p == '"') {
        const char *s;
        size_t n;
        return jstring(&c, scratch, &s, &n) ? str_value(s, n) : sl_null();
    }
    const char *start = c.p;
    if (!jskip_value(&c))
        return sl_null();
    if (c.p - start == 4 && memcmp(start, "null", 4) == 0)
        return sl_null();
    /* Copy the value without the whitespace between its tokens. */
    char *out = build(scratch, (size_t)(c.p - start));
    size_t n = 0;
    for (const char *q = start; q < c.p; q++) {
        if (*q == '"') {
            jcur s = {q, c.p};
            jskip_string(&s);
            memcpy(out + n, q, (size_t)(s.p - q));
            n += (size_t)(s.p - q);
            q = s.p - 1;
        } else if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            out[n++] = *q;
        }
    }
    return str_value(out, n);
}

/* The offset of the first occurrence of o[0..on) (on > 0) in s[0..n), or n. */
static size_t find(const char *s, size_t n, const char *o, size_t on)
{
    for (size_t i = 0; i + on <= n; i++) {
        if (s[i] == o[0] && memcmp(s + i, o, on) == 0)
            return i;
    }
    return n;
}

/* SPLIT(s, delim): the pieces of s between occurrences of delim, empty pieces kept (a
 * delimiter at either end or twice in a row gives an empty string); an empty delim
 * splits s into its characters.  NULL when the array would pass SL_MAX_BUILT_STRING. */
static sl_value split(const sl_value *s, const sl_value *d, sl_scratch *scratch)
{
    const char *p = s->u.s.ptr;
    size_t n = s->u.s.len, dn = d->u.s.len, pieces = 1;
    sl_buf buf = SL_BUF_INIT;
    sl_nested_writer w;
    sl_value piece;

    if (dn == 0) {
        pieces = (size_t)count_chars(p, n);
    } else {
        for (size_t i = find(p, n, d->u.s.ptr, dn); i < n;
             i = i + dn + find(p + i + dn, n - i - dn, d->u.s.ptr, dn))
            pieces++;
    }
    /* Each piece costs a tag and a length besides its bytes. */
    if (n + 5 * pieces + 4 > SL_MAX_BUILT_STRING)
        return sl_null();
    sl_nested_begin(&w, &buf);
    for (size_t i = 0; dn > 0 || i < n;) {
        size_t k = dn ? find(p + i, n - i, d->u.s.ptr, dn) : char_len((unsigned char)p[i]);

        if (k > n - i)
            k = n - i;
        piece = str_value(p + i, k);
        sl_nested_put(&w, &piece);
        i += k;
        if (dn && i == n)
            break;
        i += dn;
    }
    assert(scratch && scratch->arena);
    return sl_nested_end_into(&w, SL_T_ARRAY, scratch->arena);
}

/* ARRAY_CONTAINS(arr, x): TRUE when an element equals x (numbers by value); NULL
 * elements equal nothing. */
static sl_value array_contains(const sl_value *arr, const sl_value *x)
{
    sl_nested_reader rd;
    sl_value v;

    sl_nested_open(&rd, arr);
    while (sl_nested_next(&rd, &v)) {
        if (v.type != SL_T_NULL && sl_value_cmp(&v, x) == 0)
            return sl_bool(true);
    }
    return sl_bool(false);
}

/* MAP_KEYS (keys) or MAP_VALUES: a new ARRAY in the scratch arena, in the map's order. */
static sl_value map_part(const sl_value *map, bool keys, sl_scratch *scratch)
{
    sl_buf buf = SL_BUF_INIT;
    sl_nested_writer w;
    sl_nested_reader rd;
    sl_value k, v;

    sl_nested_begin(&w, &buf);
    sl_nested_open(&rd, map);
    while (sl_nested_next(&rd, &k) && sl_nested_next(&rd, &v))
        sl_nested_put(&w, keys ? &k : &v);
    assert(scratch && scratch->arena);
    return sl_nested_end_into(&w, SL_T_ARRAY, scratch->arena);
}

/* ------------------------------------------------------------------ dispatch */

/* True for the functions whose NULL arguments do not simply make the result NULL. */
static bool null_aware(sl_func fn)
{
    return fn == SL_FN_GREATEST || fn == SL_FN_LEAST || fn == SL_FN_COALESCE ||
           fn == SL_FN_IFNULL || fn == SL_FN_NULLIF || fn == SL_FN_CONCAT;
}

sl_value sl_func_call(sl_func fn, int nargs, const sl_value *a, const sl_typedesc *desc,
                      sl_scratch *scratch)
{
    if (!null_aware(fn)) {
        for (int i = 0; i < nargs; i++)
            if (a[i].type == SL_T_NULL)
                return sl_null();
    }
    switch (fn) {
    case SL_FN_ABS:
        return abs_value(&a[0]);
    case SL_FN_ROUND:
        return round_value(nargs, a, desc);
    case SL_FN_FLOOR:
        if (a[0].type == SL_T_DECIMAL)
            return round_decimal(&a[0], 0, SL_ROUND_FLOOR, desc);
        return a[0].type == SL_T_DOUBLE ? sl_double(floor(a[0].u.d)) : a[0];
    case SL_FN_CEIL:
        if (a[0].type == SL_T_DECIMAL)
            return round_decimal(&a[0], 0, SL_ROUND_CEILING, desc);
        return a[0].type == SL_T_DOUBLE ? sl_double(ceil(a[0].u.d)) : a[0];
    case SL_FN_SQRT:
        return finite_value(sqrt(as_double(&a[0])));
    case SL_FN_LN:
        return finite_value(log(as_double(&a[0])));
    case SL_FN_EXP:
        return finite_value(exp(as_double(&a[0])));
    case SL_FN_POWER:
        return finite_value(pow(as_double(&a[0]), as_double(&a[1])));
    case SL_FN_GREATEST:
        return extreme(nargs, a, 1);
    case SL_FN_LEAST:
        return extreme(nargs, a, -1);
    case SL_FN_COALESCE:
    case SL_FN_IFNULL:
        for (int i = 0; i < nargs; i++)
            if (a[i].type != SL_T_NULL)
                return a[i];
        return sl_null();
    case SL_FN_NULLIF:
        if (a[0].type == SL_T_NULL || a[1].type == SL_T_NULL)
            return a[0];
        return sl_value_cmp(&a[0], &a[1]) == 0 ? sl_null() : a[0];
    case SL_FN_UCASE:
    case SL_FN_LCASE:
        return change_case(&a[0], fn == SL_FN_UCASE, scratch);
    case SL_FN_LEN:
        return sl_int(SL_T_INT, count_chars(a[0].u.s.ptr, a[0].u.s.len));
    case SL_FN_SUBSTRING:
        return substring(nargs, a);
    case SL_FN_CONCAT:
        return concat(nargs, a, scratch);
    case SL_FN_TRIM:
        return trim(&a[0]);
    case SL_FN_REPLACE:
        return replace(a, scratch);
    case SL_FN_INSTR:
        return instr(nargs, a);
    case SL_FN_LPAD:
    case SL_FN_RPAD:
        return pad(a, fn == SL_FN_LPAD, scratch);
    case SL_FN_TIMESTAMPTOSTRING:
        return format_time(nargs, a, scratch);
    case SL_FN_STRINGTOTIMESTAMP:
        return parse_time(nargs, a);
    case SL_FN_UNIX_TIMESTAMP: {
        int64_t now;
        if (nargs == 1)
            return sl_int(SL_T_BIGINT, a[0].u.i);
        return scratch && sl_scratch_now(scratch, &now) ? sl_int(SL_T_BIGINT, now) : sl_null();
    }
    case SL_FN_FROM_UNIXTIME:
        return sl_int(SL_T_TIMESTAMP, a[0].u.i);
    case SL_FN_EXTRACTJSONFIELD:
        return extract_json(a, scratch);
    case SL_FN_SPLIT:
        return split(&a[0], &a[1], scratch);
    case SL_FN_ARRAY_LENGTH:
        return sl_int(SL_T_INT, sl_nested_count(&a[0]));
    case SL_FN_ARRAY_CONTAINS:
        return array_contains(&a[0], &a[1]);
    case SL_FN_MAP_KEYS:
    case SL_FN_MAP_VALUES:
        return map_part(&a[0], fn == SL_FN_MAP_KEYS, scratch);
    case SL_FN__COUNT:
        break;
    }
    assert(!"function not evaluated");
    return sl_null();
}

/* ------------------------------------------------------------------ CAST */

/* s[0..n) without leading and trailing ASCII whitespace. */
static void strip(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0, limit;
    size_t i = 0;

    strip(&s, &n);
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

/* A decimal number: [+-]digits[.digits][(e|E)[+-]digits] (no hex, inf or nan). */
static bool parse_double(const char *s, size_t n, sl_arena *arena, double *out)
{
    size_t i = 0, d = 0;

    strip(&s, &n);
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && isdigit((unsigned char)s[i]); i++)
        d++;
    if (i < n && s[i] == '.')
        for (i++; i < n && isdigit((unsigned char)s[i]); i++)
            d++;
    if (!d)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && isdigit((unsigned char)s[i]); i++)
            e++;
        if (!e)
            return false;
    }
    if (i != n)
        return false;
    *out = strtod(sl_arena_strndup(arena, s, n), NULL);
    return isfinite(*out);
}

/* A double as Java's Double.toString writes it, which is what ksqlDB's CAST gives:
 * the shortest digits that read back, "1.0E20" style outside [1e-3, 1e7). */
static size_t java_double(double d, char out[40])
{
    char digits[24];
    int exp, len;
    size_t n = 0;

    if (d == 0)
        return (size_t)snprintf(out, 40, "%s", signbit(d) ? "-0.0" : "0.0");
    len = shortest_digits(d, digits, &exp);
    if (d < 0)
        out[n++] = '-';
    if (fabs(d) >= 1e-3 && fabs(d) < 1e7) {
        if (exp < 0) {
            out[n++] = '0';
            out[n++] = '.';
            for (int k = -1; k > exp; k--)
                out[n++] = '0';
            for (int k = 0; k < len; k++)
                out[n++] = digits[k];
        } else {
            for (int k = 0; k <= exp; k++)
                out[n++] = k < len ? digits[k] : '0';
            out[n++] = '.';
            if (len > exp + 1)
                for (int k = exp + 1; k < len; k++)
                    out[n++] = digits[k];
            else
                out[n++] = '0';
        }
        out[n] = '\0';
        return n;
    }
    out[n++] = digits[0];
    out[n++] = '.';
    if (len == 1)
        out[n++] = '0';
    for (int k = 1; k < len; k++)
        out[n++] = digits[k];
    n += (size_t)snprintf(out + n, 40 - n, "E%d", exp);
    return n;
}

static sl_value to_varchar(const sl_value *v, sl_scratch *scratch)
{
    char tmp[SL_DECIMAL_TEXT];
    size_t n;

    switch (v->type) {
    case SL_T_BOOLEAN:
        return v->u.b ? sl_str("true", 4) : sl_str("false", 5);
    case SL_T_INT:
    case SL_T_BIGINT:
        n = (size_t)snprintf(tmp, sizeof(tmp), "%lld", (long long)v->u.i);
        break;
    case SL_T_DOUBLE:
        n = java_double(v->u.d, tmp);
        break;
    case SL_T_DECIMAL:
        n = sl_decimal_format(v, tmp);
        break;
    case SL_T_TIMESTAMP:
        if (sl_time_format_iso8601(v->u.i, tmp) < 0)
            n = (size_t)snprintf(tmp, sizeof(tmp), "%lld", (long long)v->u.i);
        else
            n = strlen(tmp);
        break;
    default:
        return *v;
    }
    char *s = build(scratch, n);
    memcpy(s, tmp, n);
    return str_value(s, n);
}

static sl_value from_varchar(const sl_value *v, sl_type to, sl_scratch *scratch)
{
    const char *s = v->u.s.ptr;
    size_t n = v->u.s.len;
    int64_t i;
    double d;

    switch (to) {
    case SL_T_BOOLEAN:
        strip(&s, &n);
        if (n == 4 && strncasecmp(s, "true", 4) == 0)
            return sl_bool(true);
        if (n == 5 && strncasecmp(s, "false", 5) == 0)
            return sl_bool(false);
        return sl_null();
    case SL_T_INT:
    case SL_T_BIGINT:
        if (!parse_int64(s, n, &i) || (to == SL_T_INT && (i < INT32_MIN || i > INT32_MAX)))
            return sl_null();
        return sl_int(to, i);
    case SL_T_DOUBLE:
        assert(scratch);
        return parse_double(s, n, scratch->arena, &d) ? sl_double(d) : sl_null();
    case SL_T_TIMESTAMP:
        strip(&s, &n);
        return sl_time_parse_iso8601(s, n, &i) == 0 ? sl_int(SL_T_TIMESTAMP, i) : sl_null();
    default:
        return *v;
    }
}

/* A number or a string as the DECIMAL d: rounded HALF_UP to its scale (a string read as
 * a number, spaces around it allowed); NULL when it does not fit or does not parse. */
static sl_value to_decimal(const sl_value *v, const sl_typedesc *d)
{
    const char *s = v->u.s.ptr;
    size_t n = v->u.s.len;
    sl_value out;

    assert(d && d->kind == SL_T_DECIMAL);
    switch (v->type) {
    case SL_T_VARCHAR:
        strip(&s, &n);
        if (sl_decimal_parse(s, n, d->precision, d->scale, false, &out) < 0)
            return sl_null();
        return out;
    case SL_T_DOUBLE:
        return sl_decimal_from_double(v->u.d, d->precision, d->scale);
    default:
        return sl_decimal_rescale(v, d->precision, d->scale);
    }
}

sl_value sl_cast(const sl_value *v, sl_type to, const sl_typedesc *desc, sl_scratch *scratch)
{
    if (v->type == SL_T_NULL)
        return *v;
    if (to == SL_T_DECIMAL)
        return to_decimal(v, desc);
    if (v->type == to)
        return *v;
    if (to == SL_T_VARCHAR)
        return to_varchar(v, scratch);
    if (v->type == SL_T_VARCHAR)
        return from_varchar(v, to, scratch);
    if (to == SL_T_DOUBLE)
        return sl_double(as_double(v));
    if (v->type == SL_T_DECIMAL)
        return sl_decimal_to_int(v, SL_ROUND_DOWN, to);
    int64_t i = v->u.i;
    if (v->type == SL_T_DOUBLE) {
        /* Truncation toward zero, as Java's (int) and (long) casts; NULL out of range. */
        double t = trunc(v->u.d);
        if (!(t >= -9223372036854775808.0 && t < 9223372036854775808.0))
            return sl_null();
        i = (int64_t)t;
    }
    if (to == SL_T_INT && (i < INT32_MIN || i > INT32_MAX))
        return sl_null();
    return sl_int(to, i);
}

/* ------------------------------------------------------------------ LIKE */

bool sl_like(const char *s, size_t n, const char *p, size_t m, const char *esc, size_t esclen)
{
    size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;

    while (si < n) {
        if (pi < m) {
            if (esclen && m - pi >= esclen && memcmp(p + pi, esc, esclen) == 0 && pi + esclen < m) {
                /* An escaped character: compare it literally. */
                size_t k = char_len((unsigned char)p[pi + esclen]);
                if (pi + esclen + k > m)
                    k = m - pi - esclen;
                if (n - si >= k && memcmp(s + si, p + pi + esclen, k) == 0) {
                    si += k;
                    pi += esclen + k;
                    continue;
                }
            } else if (p[pi] == '%') {
                star_p = ++pi;
                star_s = si;
                continue;
            } else if (p[pi] == '_') {
                si += char_len((unsigned char)s[si]);
                if (si > n)
                    si = n;
                pi++;
                continue;
            } else if (s[si] == p[pi]) {
                si++;
                pi++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        /* Let the last '%' swallow one more character and try again. */
        star_s += char_len((unsigned char)s[star_s]);
        if (star_s > n)
            return false;
        si = star_s;
        pi = star_p;
    }
    while (pi < m && p[pi] == '%')
        pi++;
    return pi == m;
}
