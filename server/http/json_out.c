/* json_out.c: JSON text for values, rows, columns and errors, appended to an sl_buf.
 *
 * Invariant: every function leaves b holding valid JSON for what it appended, whatever
 * the bytes of the values were (strings are repaired to valid UTF-8, non-finite doubles
 * become null), so a result stream can never be broken by the data it carries. */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY 86400000ll

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when s does not start with
 * one (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
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

    sl_buf_reserve(b, len + 2);
    sl_buf_putc(b, '"');
    while (i < len) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            sl_buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p + i, len - i);
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
    sl_buf_putc(b, '"');
}

void sl_json_cstr(sl_buf *b, const char *s)
{
    sl_json_str(b, s, strlen(s));
}

void sl_json_double(sl_buf *b, double d)
{
    char tmp[40];

    if (!isfinite(d)) {
        sl_buf_puts(b, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    sl_buf_puts(b, tmp);
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
    snprintf(out, 32, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)year, month, day,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
             (int)(rem % 1000));
    return 0;
}

void sl_json_timestamp(sl_buf *b, int64_t ms)
{
    char text[32];

    if (sl_json_format_iso8601(ms, text) < 0) {
        sl_buf_printf(b, "%" PRId64, ms);
        return;
    }
    sl_buf_putc(b, '"');
    sl_buf_puts(b, text);
    sl_buf_putc(b, '"');
}

void sl_json_value(sl_buf *b, const sl_value *v)
{
    switch (v->type) {
    case SL_T_BOOLEAN:
        sl_buf_puts(b, v->u.b ? "true" : "false");
        break;
    case SL_T_INT:
    case SL_T_BIGINT:
        sl_buf_printf(b, "%" PRId64, v->u.i);
        break;
    case SL_T_DOUBLE:
        sl_json_double(b, v->u.d);
        break;
    case SL_T_VARCHAR:
        sl_json_str(b, v->u.s.ptr, v->u.s.len);
        break;
    case SL_T_TIMESTAMP:
        sl_json_timestamp(b, v->u.i);
        break;
    default:
        sl_buf_puts(b, "null");
        break;
    }
}

void sl_json_row(sl_buf *b, const sl_row *row, int ncols, const sl_outcol *cols)
{
    sl_buf_putc(b, '{');
    for (int i = 0; i < ncols && (uint32_t)i < row->ncols; i++) {
        if (i)
            sl_buf_putc(b, ',');
        sl_json_cstr(b, cols[i].name);
        sl_buf_putc(b, ':');
        sl_json_value(b, &row->v[i]);
    }
    sl_buf_putc(b, '}');
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
            sl_json_value(b, &row->v[k]);
        else
            sl_buf_puts(b, "null");
    }
    sl_buf_putc(b, '}');
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
        sl_json_cstr(b, sl_type_name(cols[i].type));
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
        sl_json_cstr(b, sl_type_name(s->cols[i].type));
        sl_buf_puts(b, s->cols[i].key ? ",\"key\":true}" : ",\"key\":false}");
    }
    sl_buf_putc(b, ']');
}

void sl_json_watermark(sl_buf *b, int64_t wm)
{
    if (wm == INT64_MIN)
        sl_buf_puts(b, "null");
    else
        sl_buf_printf(b, "%" PRId64, wm);
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
