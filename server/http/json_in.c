/* json_in.c: ingest bodies to rows, and the {"sql": ...} request object, with jansson.
 *
 * Invariants: a parsed event list holds only JSON objects, each with one reference
 * owned by the list; every row handed out is self-contained (sl_row_make copies the
 * strings out of the jansson values), so rows outlive the list. */
#include "json_in.h"

#include "limits.h"
#include "mem.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Parser flags: any top-level value (so that a non-object gets our own message), NUL
 * characters in strings (VARCHAR carries a length), and no silently repeated keys. */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

/* Longest piece of a bad value quoted back in an error message. */
#define QUOTE_MAX 64

struct sl_json_events {
    json_t **ev;
    size_t n, cap;
};

static void events_push(sl_json_events *ev, json_t *obj)
{
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 16;
        ev->ev = sl_xrealloc(ev->ev, ev->cap * sizeof(*ev->ev));
    }
    ev->ev[ev->n++] = obj;
}

static bool all_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Sets a BAD_EVENT error naming event index (and field, when not NULL). */
static int __attribute__((format(printf, 4, 5)))
bad_event(sl_error *err, long index, const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sl_error_setv(err, SL_ERR_BAD_EVENT, 0, 0, fmt, ap);
    va_end(ap);
    if (err) {
        err->index = index;
        if (field)
            snprintf(err->field, sizeof(err->field), "%s", field);
    }
    return -1;
}

static int not_json(sl_error *err, long index, long line, const json_error_t *jerr)
{
    if (line > 0)
        return bad_event(err, index, NULL, "invalid JSON on line %ld: %s (column %d)", line,
                         jerr->text, jerr->column);
    return bad_event(err, index, NULL, "invalid JSON: %s (line %d, column %d)", jerr->text,
                     jerr->line, jerr->column);
}

/* body -> one JSON object | '[' object, ... ']' */
static int parse_json_body(const char *body, size_t len, sl_json_events *ev, sl_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, PARSE_FLAGS, &jerr);

    if (!root)
        return not_json(err, 0, 0, &jerr);
    if (json_is_object(root)) {
        events_push(ev, root);
        return 0;
    }
    if (!json_is_array(root)) {
        json_decref(root);
        return bad_event(err, 0, NULL, "event is not a JSON object");
    }
    size_t n = json_array_size(root);
    if (n == 0) {
        json_decref(root);
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "no events");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_array_get(root, i);
        if (!json_is_object(obj)) {
            json_decref(root);
            return bad_event(err, (long)i, NULL, "event is not a JSON object");
        }
        events_push(ev, json_incref(obj));
    }
    json_decref(root);
    return 0;
}

/* body -> { object '\n' } with blank lines skipped (a trailing '\r' is blank space). */
static int parse_ndjson_body(const char *body, size_t len, sl_json_events *ev, sl_error *err)
{
    size_t pos = 0;
    long line = 0;

    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        json_error_t jerr;

        line++;
        if (!all_space(body + pos, end - pos)) {
            json_t *obj = json_loadb(body + pos, end - pos, PARSE_FLAGS, &jerr);
            if (!obj)
                return not_json(err, (long)ev->n, line, &jerr);
            if (!json_is_object(obj)) {
                json_decref(obj);
                return bad_event(err, (long)ev->n, NULL, "event is not a JSON object");
            }
            events_push(ev, obj);
        }
        pos = end + 1;
    }
    if (ev->n == 0)
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "no events");
    return 0;
}

int sl_json_events_parse(const char *body, size_t len, bool ndjson, sl_json_events **out,
                         sl_error *err)
{
    sl_json_events *ev = NULL;
    int rc;

    *out = NULL;
    if (all_space(body, len))
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "empty body");
    ev = sl_xcalloc(1, sizeof(*ev));
    rc = ndjson ? parse_ndjson_body(body, len, ev, err) : parse_json_body(body, len, ev, err);
    if (rc < 0)
        goto fail;
    *out = ev;
    return 0;
fail:
    sl_json_events_free(ev);
    return -1;
}

size_t sl_json_events_count(const sl_json_events *ev)
{
    return ev->n;
}

void sl_json_events_free(sl_json_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++)
        json_decref(ev->ev[i]);
    free(ev->ev);
    free(ev);
}

void sl_json_rows_free(sl_row **rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        sl_row_free(rows[i]);
    free(rows);
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Converts one JSON value to a value of type t; VARCHAR points into j.  On failure
 * returns -1 with err naming the event and key. */
static int convert(const json_t *j, sl_type t, long index, const char *key, sl_value *out,
                   sl_error *err)
{
    if (json_is_null(j)) {
        *out = sl_null();
        return 0;
    }
    switch (t) {
    case SL_T_BOOLEAN:
        if (!json_is_boolean(j))
            break;
        *out = sl_bool(json_is_true(j));
        return 0;
    case SL_T_INT:
        if (!json_is_integer(j))
            break;
        if (json_integer_value(j) < INT32_MIN || json_integer_value(j) > INT32_MAX)
            return bad_event(err, index, key, "\"%s\": %lld is out of range for INT", key,
                             (long long)json_integer_value(j));
        *out = sl_int(SL_T_INT, json_integer_value(j));
        return 0;
    case SL_T_BIGINT:
        if (!json_is_integer(j))
            break;
        *out = sl_int(SL_T_BIGINT, json_integer_value(j));
        return 0;
    case SL_T_DOUBLE:
        if (!json_is_number(j))
            break;
        *out = sl_double(json_number_value(j));
        return 0;
    case SL_T_VARCHAR:
        if (!json_is_string(j))
            break;
        if (json_string_length(j) > SL_MAX_STRING)
            return bad_event(err, index, key, "\"%s\": string longer than %d bytes", key,
                             SL_MAX_STRING);
        *out = sl_str(json_string_value(j), (uint32_t)json_string_length(j));
        return 0;
    case SL_T_TIMESTAMP: {
        int64_t ms;
        if (json_is_integer(j)) {
            *out = sl_int(SL_T_TIMESTAMP, json_integer_value(j));
            return 0;
        }
        if (!json_is_string(j))
            break;
        if (sl_json_parse_timestamp(json_string_value(j), json_string_length(j), &ms) < 0)
            return bad_event(err, index, key,
                             "\"%s\": \"%.*s\" is not a timestamp (epoch ms or ISO-8601)", key,
                             QUOTE_MAX, json_string_value(j));
        *out = sl_int(SL_T_TIMESTAMP, ms);
        return 0;
    }
    default:
        break;
    }
    return bad_event(err, index, key, "\"%s\": expected %s, got %s", key, sl_type_name(t),
                     json_type_name(j));
}

/* ROWTIME from the schema's timestamp column (value v, already converted). */
static int rowtime_from_column(const sl_schema *s, const sl_value *v, long index, int64_t *rowtime,
                               sl_error *err)
{
    const char *name = s->cols[s->timestamp_col].name;

    switch (v->type) {
    case SL_T_NULL:
        return bad_event(err, index, name, "\"%s\": the timestamp column is missing or null", name);
    case SL_T_INT:
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
        *rowtime = v->u.i;
        return 0;
    case SL_T_VARCHAR:
        if (sl_json_parse_timestamp(v->u.s.ptr, v->u.s.len, rowtime) == 0)
            return 0;
        return bad_event(err, index, name, "\"%s\": \"%.*s\" is not an ISO-8601 timestamp", name,
                         (int)(v->u.s.len < QUOTE_MAX ? v->u.s.len : QUOTE_MAX), v->u.s.ptr);
    default:
        return bad_event(err, index, name, "\"%s\": a %s column cannot give ROWTIME", name,
                         sl_type_name(v->type));
    }
}

/* One event to one row; vals and key_of (schema->ncols entries each) are scratch. */
static int event_row(json_t *obj, const sl_schema *s, int64_t now_ms, long index, sl_value *vals,
                     const char **key_of, sl_row **out, sl_error *err)
{
    const char *key;
    json_t *val;
    int64_t rowtime = now_ms;

    for (int c = 0; c < s->ncols; c++) {
        vals[c] = sl_null();
        key_of[c] = NULL;
    }
    json_object_foreach(obj, key, val)
    {
        int c = sl_schema_find_json(s, key, strlen(key));
        if (c < 0) {
            if (s->timestamp_col >= 0 || strcasecmp(key, "ROWTIME") != 0 || json_is_null(val))
                continue;
            if (!json_is_integer(val))
                return bad_event(err, index, key, "\"%s\": expected an integer (epoch ms), got %s",
                                 key, json_type_name(val));
            rowtime = json_integer_value(val);
            continue;
        }
        if (key_of[c])
            return bad_event(err, index, key, "\"%s\": column %s is given twice (also as \"%s\")",
                             key, s->cols[c].name, key_of[c]);
        key_of[c] = key;
        if (convert(val, s->cols[c].type, index, key, &vals[c], err) < 0)
            return -1;
    }
    if (s->timestamp_col >= 0 &&
        rowtime_from_column(s, &vals[s->timestamp_col], index, &rowtime, err) < 0)
        return -1;
    *out = sl_row_make(rowtime, (uint32_t)s->ncols, vals);
    return 0;
}

int sl_json_events_rows(const sl_json_events *ev, const sl_schema *schema, int64_t now_ms,
                        sl_row ***rows, sl_error *err)
{
    size_t ncols = schema->ncols > 0 ? (size_t)schema->ncols : 1;
    sl_value *vals = sl_xcalloc(ncols, sizeof(*vals));
    const char **key_of = sl_xcalloc(ncols, sizeof(*key_of));
    sl_row **out = sl_xcalloc(ev->n ? ev->n : 1, sizeof(*out));
    size_t i;

    *rows = NULL;
    for (i = 0; i < ev->n; i++)
        if (event_row(ev->ev[i], schema, now_ms, (long)i, vals, key_of, &out[i], err) < 0)
            goto fail;
    free(vals);
    free(key_of);
    *rows = out;
    return 0;
fail:
    sl_json_rows_free(out, i);
    free(vals);
    free(key_of);
    return -1;
}

/* Reads exactly n digits at s[*i..] into *v. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *v)
{
    *v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        *v = *v * 10 + (s[*i] - '0');
    }
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, const char *any)
{
    if (*i >= len || !strchr(any, s[*i]) || s[*i] == '\0')
        return false;
    (*i)++;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return mdays[m - 1];
}

int sl_json_parse_timestamp(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec, ms = 0, off = 0;

    if (!digits(s, len, &i, 4, &y) || !expect(s, len, &i, "-") || !digits(s, len, &i, 2, &mo) ||
        !expect(s, len, &i, "-") || !digits(s, len, &i, 2, &d) || !expect(s, len, &i, "Tt ") ||
        !digits(s, len, &i, 2, &h) || !expect(s, len, &i, ":") || !digits(s, len, &i, 2, &mi) ||
        !expect(s, len, &i, ":") || !digits(s, len, &i, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    if (i < len && s[i] == '.') {
        int n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
            if (n < 3)
                ms = ms * 10 + (s[i] - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, oh, om;
        if (!digits(s, len, &i, 2, &oh))
            return -1;
        if (i < len && s[i] == ':')
            i++;
        if (!digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 60 + om);
    }
    if (i != len)
        return -1;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000ll +
           ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + ms - (int64_t)off * 60000;
    return 0;
}

int sl_sql_request_parse(const char *body, size_t len, sl_sql_request *out, sl_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_t *sql, *name, *from;

    memset(out, 0, sizeof(*out));
    if (!root)
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "invalid JSON: %s (line %d, column %d)",
                            jerr.text, jerr.line, jerr.column);
    if (!json_is_object(root)) {
        sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "the body is not a JSON object");
        goto fail;
    }
    sql = json_object_get(root, "sql");
    if (!json_is_string(sql)) {
        sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "\"sql\" must be a string");
        goto fail;
    }
    name = json_object_get(root, "name");
    if (name && !json_is_null(name) &&
        (!json_is_string(name) || json_string_length(name) == 0 ||
         json_string_length(name) > SL_MAX_IDENT ||
         strlen(json_string_value(name)) != json_string_length(name))) {
        sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "\"name\" must be a string of 1 to %d bytes",
                     SL_MAX_IDENT);
        goto fail;
    }
    from = json_object_get(root, "from");
    if (from && !json_is_null(from)) {
        const char *f = json_is_string(from) ? json_string_value(from) : "";
        if (strcmp(f, "earliest") != 0 && strcmp(f, "latest") != 0) {
            sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                         "\"from\" must be \"earliest\" or \"latest\"");
            goto fail;
        }
        out->has_from = true;
        out->from_earliest = strcmp(f, "earliest") == 0;
    }
    out->sql_len = json_string_length(sql);
    out->sql = sl_xmalloc(out->sql_len + 1);
    memcpy(out->sql, json_string_value(sql), out->sql_len + 1);
    if (json_is_string(name))
        out->name = sl_xstrdup(json_string_value(name));
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    return -1;
}

void sl_sql_request_clear(sl_sql_request *r)
{
    free(r->sql);
    free(r->name);
    memset(r, 0, sizeof(*r));
}
