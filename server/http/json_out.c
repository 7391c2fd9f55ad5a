/* json_out.c: JSON text for values, rows, columns and errors, appended to an sl_buf.
 *
 * Invariant: every function leaves b holding valid JSON for what it appended, whatever
 * the bytes of the values were (strings are repaired to valid UTF-8, non-finite doubles
 * become null), so a result stream can never be broken by the data it carries. */
#include "json_out.h"

#include "base64.h"
#include "decimal.h"
#include "mem.h"
#include "nested.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY 86400000ll

static inline void put_cstr(sl_buf *b, const char *s)
{
    sl_json_raw(b, s, strlen(s));
}

size_t sl_json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void sl_json_str(sl_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
        i++;
    sl_buf_reserve(b, len + 2);
    b->data[b->len++] = '"';
    memcpy(b->data + b->len, p, i);
    b->len += i;
    b->data[b->len] = '\0';
    while (i < len) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            sl_json_raw(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = sl_json_utf8_len(p + i, len - i);
            if (n) {
                sl_buf_append(b, p + i, n);
                i += n;
            } else {
                sl_buf_puts(b, "\xEF\xBF\xBD");
                i++;
            }
            continue;
        }
        switch (c) {
        case '"':
            sl_buf_puts(b, "\\\"");
            break;
        case '\\':
            sl_buf_puts(b, "\\\\");
            break;
        case '\b':
            sl_buf_puts(b, "\\b");
            break;
        case '\f':
            sl_buf_puts(b, "\\f");
            break;
        case '\n':
            sl_buf_puts(b, "\\n");
            break;
        case '\r':
            sl_buf_puts(b, "\\r");
            break;
        case '\t':
            sl_buf_puts(b, "\\t");
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sl_buf_append(b, esc, sizeof(esc));
        }
        }
        i++;
    }
    sl_json_rawc(b, '"');
}

void sl_json_cstr(sl_buf *b, const char *s)
{
    sl_json_str(b, s, strlen(s));
}

/* Appends u in decimal, preceded by '-' when neg: its length first, then the digits
 * written in place from the last. */
static void put_decimal(sl_buf *b, bool neg, uint64_t u)
{
    size_t n = (size_t)sl_decimal_u64_width(u) + (neg ? 1 : 0);
    char *p;

    if (!b->data || b->len + n >= b->cap)
        sl_buf_reserve(b, n);
    p = b->data + b->len + n;
    b->len += n;
    *p = '\0';
    p = sl_decimal_u64_digits(p, u);
    if (neg)
        *--p = '-';
}

static void put_int(sl_buf *b, int64_t v)
{
    put_decimal(b, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

void sl_json_uint(sl_buf *b, uint64_t v)
{
    put_decimal(b, false, v);
}

/* The definition: the first of %.15g, %.16g, %.17g that reads back as d. */
static void double_by_printf(sl_buf *b, double d)
{
    char tmp[40];

    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    sl_buf_puts(b, tmp);
}

/* 128-bit integers, as parser/decimal.c needs them too. */
typedef unsigned __int128 u128;

/* a << s when the result stays below 2^127; false otherwise. */
static bool shl_ok(u128 a, int s, u128 *out)
{
    if (s >= 127 || (s > 0 && (a >> (127 - s)) != 0))
        return false;
    *out = a << s;
    return true;
}

/* |d| = f * 2^e rounded to prec significant decimal digits as printf rounds (exactly,
 * ties to even): *m (prec digits) times 10^(*x - prec + 1).  False when d is subnormal
 * or so large or small that the exact quotient does not fit in 128 bits. */
static bool round_digits(uint64_t f, int e, int prec, uint64_t *m, int *x)
{
    u128 lo = sl_decimal_pow10(prec - 1), hi = lo * 10;
    int guess = (int)floor((e + 52) * 0.30102999566398114);

    for (int tries = 0; tries < 3; tries++) {
        int k = prec - 1 - guess;
        u128 num, den, q, rem;
        if (k > 22 || k < -38)
            return false;
        /* num / den = f * 2^e * 10^k, both below 2^127. */
        if (!shl_ok((u128)f * sl_decimal_pow10(k > 0 ? k : 0), e > 0 ? e : 0, &num) ||
            !shl_ok(sl_decimal_pow10(k < 0 ? -k : 0), e < 0 ? -e : 0, &den))
            return false;
        if (k >= 0) {
            /* den is a power of two. */
            q = num >> (e < 0 ? -e : 0);
            rem = num & (den - 1);
        } else {
            q = num / den;
            rem = num % den;
        }
        if (q >= hi) {
            guess++;
            continue;
        }
        if (q < lo) {
            guess--;
            continue;
        }
        if (rem * 2 > den || (rem * 2 == den && (q & 1)))
            q++;
        if (q == hi) {
            q = lo;
            guess++;
        }
        *m = (uint64_t)q;
        *x = guess;
        return true;
    }
    return false;
}

/* Whether m * 10^(x - prec + 1) reads back (as strtod would) as |d|; -1 when that takes
 * more than Clinger's exact case (m below 2^53, a power of ten up to 10^22). */
static int reads_back(uint64_t m, int x, int prec, double ad)
{
    int e10 = x - prec + 1;
    double v;

    if (m > (1ull << 53) || e10 < -22 || e10 > 22)
        return -1;
    v = e10 < 0 ? (double)m / sl_decimal_pow10_double(-e10)
                : (double)m * sl_decimal_pow10_double(e10);
    return v == ad;
}

/* prec digits m with decimal exponent x, written into out as printf's %.{prec}g writes
 * them; returns the length (at most 25 bytes, not NUL-terminated). */
static int format_g(char out[32], bool neg, uint64_t m, int x, int prec)
{
    char dig[20];
    int n = prec, o = 0;

    for (int i = prec - 1; i >= 0; i--, m /= 10)
        dig[i] = (char)('0' + m % 10);
    while (n > 1 && dig[n - 1] == '0')
        n--;
    if (neg)
        out[o++] = '-';
    if (x >= -4 && x < prec) {
        if (x < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -x - 1; i++)
                out[o++] = '0';
            memcpy(out + o, dig, (size_t)n);
            o += n;
        } else {
            for (int i = 0; i <= x; i++)
                out[o++] = i < n ? dig[i] : '0';
            if (n > x + 1) {
                out[o++] = '.';
                memcpy(out + o, dig + x + 1, (size_t)(n - x - 1));
                o += n - x - 1;
            }
        }
    } else {
        int ax = x < 0 ? -x : x;
        out[o++] = dig[0];
        if (n > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, (size_t)(n - 1));
            o += n - 1;
        }
        out[o++] = 'e';
        out[o++] = x < 0 ? '-' : '+';
        if (ax >= 100)
            out[o++] = (char)('0' + ax / 100);
        out[o++] = (char)('0' + ax / 10 % 10);
        out[o++] = (char)('0' + ax % 10);
    }
    return o;
}

/* The same text without printf for the doubles whose digits 128-bit integers give
 * exactly (normal numbers from about 1e-7 to 1e38), which are nearly all data. */
void sl_json_double(sl_buf *b, double d)
{
    double ad = fabs(d);
    uint64_t bits, f, m;
    int e, x, len;
    char text[32];

    if (!isfinite(d)) {
        sl_buf_puts(b, "null");
        return;
    }
    if (ad == 0) {
        sl_buf_puts(b, signbit(d) ? "-0" : "0");
        return;
    }
    memcpy(&bits, &ad, sizeof(bits));
    if ((bits >> 52) == 0) {
        double_by_printf(b, d);
        return;
    }
    f = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    e = (int)(bits >> 52) - 1075;
    for (int prec = 15; prec <= 16; prec++) {
        if (!round_digits(f, e, prec, &m, &x)) {
            double_by_printf(b, d);
            return;
        }
        int back = reads_back(m, x, prec, ad);
        if (back == 0)
            continue;
        len = format_g(text, d < 0, m, x, prec);
        if (back < 0) {
            text[len] = '\0';
            back = strtod(text, NULL) == d;
        }
        if (back) {
            sl_json_raw(b, text, (size_t)len);
            return;
        }
    }
    if (!round_digits(f, e, 17, &m, &x)) {
        double_by_printf(b, d);
        return;
    }
    sl_json_raw(b, text, (size_t)format_g(text, d < 0, m, x, 17));
}

/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int sl_json_format_iso8601(int64_t ms, char out[32])
{
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    int64_t year;
    unsigned month, day;

    out[0] = '\0';
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999)
        return -1;
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ", as "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ" would. */
    unsigned field[] = {(unsigned)year,
                        month,
                        day,
                        (unsigned)(rem / 3600000),
                        (unsigned)(rem / 60000 % 60),
                        (unsigned)(rem / 1000 % 60),
                        (unsigned)(rem % 1000)};
    static const int width[] = {4, 2, 2, 2, 2, 2, 3};
    static const char after[] = "--T::.Z";
    char *o = out;
    for (int i = 0; i < 7; i++) {
        for (int w = width[i] - 1; w >= 0; w--, field[i] /= 10)
            o[w] = (char)('0' + field[i] % 10);
        o += width[i];
        *o++ = after[i];
    }
    *o = '\0';
    return 0;
}

void sl_json_timestamp(sl_buf *b, int64_t ms)
{
    char text[32];

    if (sl_json_format_iso8601(ms, text) < 0) {
        put_int(b, ms);
        return;
    }
    sl_json_rawc(b, '"');
    sl_json_raw(b, text, 24);
    sl_json_rawc(b, '"');
}

/* An ARRAY as a JSON array, a MAP or STRUCT as an object (every field of a STRUCT
 * named, null ones included), each item written by its type in d. */
static void put_nested(sl_buf *b, const sl_value *v, const sl_typedesc *d)
{
    sl_nested_reader rd;
    sl_value item;
    int i = 0;

    sl_nested_open(&rd, v);
    sl_json_rawc(b, v->type == SL_T_ARRAY ? '[' : '{');
    while (sl_nested_next(&rd, &item)) {
        if (i)
            sl_json_rawc(b, ',');
        if (v->type == SL_T_MAP) {
            sl_json_str(b, item.u.s.ptr, item.u.s.len);
            sl_json_rawc(b, ':');
            sl_nested_next(&rd, &item);
        } else if (v->type == SL_T_STRUCT) {
            if (i >= d->nfields)
                break;
            sl_json_cstr(b, d->fields[i].name);
            sl_json_rawc(b, ':');
        }
        sl_json_value(b, &item, v->type == SL_T_STRUCT ? d->fields[i].type : d->elem);
        i++;
    }
    sl_json_rawc(b, v->type == SL_T_ARRAY ? ']' : '}');
}

void sl_json_value(sl_buf *b, const sl_value *v, const sl_typedesc *desc)
{
    switch (v->type) {
    case SL_T_BOOLEAN:
        put_cstr(b, v->u.b ? "true" : "false");
        break;
    case SL_T_INT:
    case SL_T_BIGINT:
        put_int(b, v->u.i);
        break;
    case SL_T_DOUBLE:
        sl_json_double(b, v->u.d);
        break;
    case SL_T_DECIMAL: {
        /* Exactly, every digit of its scale kept: 12.30. */
        char text[SL_DECIMAL_TEXT];
        sl_json_raw(b, text, sl_decimal_format(v, text));
        break;
    }
    case SL_T_VARCHAR:
        sl_json_str(b, v->u.s.ptr, v->u.s.len);
        break;
    case SL_T_TIMESTAMP:
        sl_json_timestamp(b, v->u.i);
        break;
    case SL_T_BYTES:
        sl_json_rawc(b, '"');
        sl_base64_encode(b, v->u.s.ptr, v->u.s.len);
        sl_json_rawc(b, '"');
        break;
    case SL_T_ARRAY:
    case SL_T_MAP:
    case SL_T_STRUCT:
        /* The plan types every composite value; a value that does not match its type
         * cannot be written field by field. */
        if (desc && desc->kind == v->type)
            put_nested(b, v, desc);
        else
            put_cstr(b, "null");
        break;
    default:
        put_cstr(b, "null");
        break;
    }
}

void sl_json_row(sl_buf *b, const sl_row *row, int ncols, const sl_outcol *cols)
{
    sl_json_rawc(b, '{');
    for (int i = 0; i < ncols && (uint32_t)i < row->ncols; i++) {
        if (i)
            sl_json_rawc(b, ',');
        sl_json_cstr(b, cols[i].name);
        sl_json_rawc(b, ':');
        sl_json_value(b, &row->v[i], cols[i].desc);
    }
    sl_json_rawc(b, '}');
}

void sl_json_names_init(sl_json_names *n, int ncols, const sl_outcol *cols)
{
    n->ncols = ncols;
    n->cols = cols;
    n->text = (sl_buf)SL_BUF_INIT;
    n->end = sl_xcalloc(ncols > 0 ? (size_t)ncols : 1, sizeof(*n->end));
    for (int i = 0; i < ncols; i++) {
        sl_buf_putc(&n->text, i ? ',' : '{');
        sl_json_cstr(&n->text, cols[i].name);
        sl_buf_putc(&n->text, ':');
        n->end[i] = n->text.len;
    }
}

void sl_json_names_free(sl_json_names *n)
{
    sl_buf_free(&n->text);
    free(n->end);
    n->end = NULL;
}

void sl_json_row_named(sl_buf *b, const sl_row *row, const sl_json_names *n)
{
    size_t from = 0;
    int i;

    for (i = 0; i < n->ncols && (uint32_t)i < row->ncols; i++) {
        sl_json_raw(b, n->text.data + from, n->end[i] - from);
        from = n->end[i];
        sl_json_value(b, &row->v[i], n->cols[i].desc);
    }
    if (i == 0)
        sl_json_rawc(b, '{');
    sl_json_rawc(b, '}');
}

void sl_json_row_key(sl_buf *b, const sl_row *row, const sl_plan *plan)
{
    if (plan->nkeys == 0) {
        sl_json_row(b, row, plan->ncols, plan->cols);
        return;
    }
    sl_buf_putc(b, '{');
    for (int i = 0; i < plan->nkeys; i++) {
        int k = plan->keys[i];
        if (i)
            sl_buf_putc(b, ',');
        sl_json_cstr(b, plan->cols[k].name);
        sl_buf_putc(b, ':');
        if ((uint32_t)k < row->ncols)
            sl_json_value(b, &row->v[k], plan->cols[k].desc);
        else
            sl_buf_puts(b, "null");
    }
    sl_buf_putc(b, '}');
}

/* A type's SQL spelling as a JSON string ("BIGINT", "ARRAY<VARCHAR>"). */
static void put_type(sl_buf *b, sl_type type, const sl_typedesc *desc)
{
    sl_buf name = SL_BUF_INIT;

    if (!desc) {
        sl_json_cstr(b, sl_type_name(type));
        return;
    }
    sl_typedesc_format(desc, &name);
    sl_json_str(b, name.data, name.len);
    sl_buf_free(&name);
}

void sl_json_out_columns(sl_buf *b, int ncols, const sl_outcol *cols)
{
    sl_buf_putc(b, '[');
    for (int i = 0; i < ncols; i++) {
        if (i)
            sl_buf_putc(b, ',');
        sl_buf_puts(b, "{\"name\":");
        sl_json_cstr(b, cols[i].name);
        sl_buf_puts(b, ",\"type\":");
        put_type(b, cols[i].type, cols[i].desc);
        sl_buf_putc(b, '}');
    }
    sl_buf_putc(b, ']');
}

void sl_json_key_names(sl_buf *b, const sl_plan *plan)
{
    sl_buf_putc(b, '[');
    for (int i = 0; i < plan->nkeys; i++) {
        if (i)
            sl_buf_putc(b, ',');
        sl_json_cstr(b, plan->cols[plan->keys[i]].name);
    }
    sl_buf_putc(b, ']');
}

void sl_json_schema_columns(sl_buf *b, const sl_schema *s)
{
    sl_buf_putc(b, '[');
    for (int i = 0; i < s->ncols; i++) {
        if (i)
            sl_buf_putc(b, ',');
        sl_buf_puts(b, "{\"name\":");
        sl_json_cstr(b, s->cols[i].name);
        sl_buf_puts(b, ",\"type\":");
        put_type(b, s->cols[i].type, s->cols[i].desc);
        sl_buf_puts(b, s->cols[i].key ? ",\"key\":true}" : ",\"key\":false}");
    }
    sl_buf_putc(b, ']');
}

void sl_json_watermark(sl_buf *b, int64_t wm)
{
    if (wm == INT64_MIN)
        sl_buf_puts(b, "null");
    else
        put_int(b, wm);
}

void sl_json_error_members(sl_buf *b, const sl_error *err)
{
    sl_buf_puts(b, "\"code\":");
    sl_json_cstr(b, sl_error_code_name(err->code));
    sl_buf_puts(b, ",\"message\":");
    sl_json_cstr(b, err->message[0] ? err->message : sl_error_code_name(err->code));
    if (err->line > 0)
        sl_buf_printf(b, ",\"line\":%d,\"column\":%d", err->line, err->column);
    if (err->index >= 0) {
        sl_buf_printf(b, ",\"index\":%ld", err->index);
        if (err->field[0]) {
            sl_buf_puts(b, ",\"field\":");
            sl_json_cstr(b, err->field);
        }
    }
}

void sl_json_error(sl_buf *b, const sl_error *err)
{
    sl_buf_puts(b, "{\"error\":{");
    sl_json_error_members(b, err);
    sl_buf_puts(b, "}}");
}
