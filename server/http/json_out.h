/* json_out.h: values, rows and errors written as JSON text straight into an sl_buf.
 *
 * No JSON library is involved: results are encoded once per change and fanned out, so
 * this path appends bytes and never builds a tree.  Every function appends to b (which
 * the caller owns) and never fails.  Output is always valid JSON and valid UTF-8:
 *   - strings are quoted; '"', '\\' and control characters are escaped (\n, \t, ...,
 *     else \u00XX); a byte sequence that is not valid UTF-8 becomes U+FFFD;
 *   - DOUBLE is the shortest of %.15g, %.16g, %.17g that reads back to the same
 *     double (computed without printf for nearly all values); NaN and infinities are
 *     null;
 *   - TIMESTAMP is an ISO-8601 UTC string with milliseconds ("2026-11-24T10:00:00.000Z")
 *     for years 0000 to 9999, and the epoch-ms integer outside that range;
 *   - INT and BIGINT are integers, BOOLEAN true/false, NULL null;
 *   - BYTES is a base64 string; ARRAY a JSON array; MAP an object; STRUCT an object
 *     with every field of its type, in the type's order. */
#ifndef SL_JSON_OUT_H
#define SL_JSON_OUT_H

#include "buf.h"
#include "error.h"
#include "plan.h"
#include "row.h"
#include "schema.h"
#include "value.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* sl_buf_append and sl_buf_putc without a call when the bytes fit (the encoding of every
 * result row goes through these). */
static inline void sl_json_raw(sl_buf *b, const void *p, size_t n)
{
    if (b->data && b->len + n < b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else {
        sl_buf_append(b, p, n);
    }
}

static inline void sl_json_rawc(sl_buf *b, char c)
{
    if (b->data && b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
    } else {
        sl_buf_putc(b, c);
    }
}

/* s[0..len) as a quoted, escaped JSON string (s need not be NUL-terminated). */
void sl_json_str(sl_buf *b, const char *s, size_t len);
/* The length of the valid UTF-8 sequence at s[0..n), or 0 when s does not start with
 * one (overlong forms, surrogates and code points past U+10FFFF are invalid; jansson
 * applies the same rules to what it reads). */
size_t sl_json_utf8_len(const unsigned char *s, size_t n);
/* A NUL-terminated string as a JSON string. */
void sl_json_cstr(sl_buf *b, const char *s);
void sl_json_double(sl_buf *b, double d);
/* An unsigned integer (a sequence number) in decimal, without printf. */
void sl_json_uint(sl_buf *b, uint64_t v);
void sl_json_timestamp(sl_buf *b, int64_t ms);
/* v as JSON; desc (borrowed) types an ARRAY, MAP or STRUCT value (NULL for others). */
void sl_json_value(sl_buf *b, const sl_value *v, const sl_typedesc *desc);

/* Formats epoch ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (NUL-terminated).  Returns 0,
 * or -1 when the year is outside 0000..9999 (out is then left empty). */
int sl_json_format_iso8601(int64_t ms, char out[32]);

/* {"COL":value,...} over the row's first ncols values, named by cols (borrowed). */
void sl_json_row(sl_buf *b, const sl_row *row, int ncols, const sl_outcol *cols);

/* The member names of a row's columns, encoded once: what sl_json_row writes before
 * each value ('{' or ',', the quoted name, ':'), for writers of many rows of one
 * layout.  Owns its bytes; cols is borrowed and must outlive it. */
typedef struct sl_json_names {
    int ncols;
    const sl_outcol *cols;
    sl_buf text;
    size_t *end; /* the text before value i ends at end[i] (starts at end[i - 1], or 0) */
} sl_json_names;

void sl_json_names_init(sl_json_names *n, int ncols, const sl_outcol *cols);
void sl_json_names_free(sl_json_names *n);
/* Exactly sl_json_row(b, row, n->ncols, n->cols). */
void sl_json_row_named(sl_buf *b, const sl_row *row, const sl_json_names *n);
/* {"KEY":value,...} over the plan's key columns only (all columns when it has none):
 * the body of a delete. */
void sl_json_row_key(sl_buf *b, const sl_row *row, const sl_plan *plan);
/* [{"name":...,"type":...},...] for result columns. */
void sl_json_out_columns(sl_buf *b, int ncols, const sl_outcol *cols);
/* ["KEY",...]: the names of the plan's key columns. */
void sl_json_key_names(sl_buf *b, const sl_plan *plan);
/* [{"name":...,"type":...,"key":bool},...] for a stream's columns. */
void sl_json_schema_columns(sl_buf *b, const sl_schema *s);
/* An epoch-ms watermark as an integer, or null for INT64_MIN (nothing seen yet). */
void sl_json_watermark(sl_buf *b, int64_t wm);

/* The members of an error object, without braces: "code":...,"message":... and, when
 * set, "line"/"column" and "index"/"field". */
void sl_json_error_members(sl_buf *b, const sl_error *err);
/* {"error":{...}}: the body of every error answer and the last line of a stream. */
void sl_json_error(sl_buf *b, const sl_error *err);

#endif
