/* json_in.c: ingest bodies to rows, and the {"sql": ...} request object.
 *
 * Ingest has two decoders that must agree byte for byte.  The reference is jansson:
 * the body becomes a tree of JSON values, then each object is converted to a row.  The
 * fast decoder reads the body once, straight into rows of the stream's schema: no tree,
 * no allocation per value or per event (strings point into the body, or into one
 * scratch buffer per body when they hold escapes; at the end, rows_block packs every
 * row and its strings into one allocation).  It accepts only what jansson accepts and
 * converts it the same way; whenever it meets something it does not handle itself (any
 * error, a value for a BYTES, ARRAY, MAP or STRUCT column, and a few rare shapes:
 * escaped keys in skipped objects, objects with many unknown keys, nesting past
 * SL_MAX_JSON_DEPTH), it gives up without a word and the body is decoded again by the
 * reference path, which then also produces the error message.  tests/unit/test_json.c
 * checks the agreement on generated and mutated bodies.
 *
 * Invariants: a parsed event list is the body (borrowed) and its event count, which
 * equals what the decoders produce whenever they succeed; every row handed out is
 * self-contained (sl_row_make_in copies the strings), so rows outlive the list and the
 * body; the rows of one body and their array are one allocation (rows_block). */
#include "json_in.h"

#include "base64.h"
#include "decimal.h"
#include "json_out.h"
#include "limits.h"
#include "nested.h"
#include "mem.h"
#include "timefmt.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parser flags: any top-level value (so that a non-object gets our own message), NUL
 * characters in strings (VARCHAR carries a length), and no silently repeated keys. */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

/* Longest piece of a bad value quoted back in an error message. */
#define QUOTE_MAX 64

/* Unknown keys of one object the fast decoder checks for duplicates; an object with
 * more takes the reference path (the check is quadratic). */
#define FAST_MAX_UNKNOWN_KEYS 32
/* Widest schema whose column names the fast decoder checks for case-folded clashes. */
#define FAST_MAX_GUESS_COLS 64
/* Body bytes per event the fast decoder reserves room for up front (it grows the room
 * when events are shorter): most events are longer, so the values of a whole body are
 * not copied again and again as it grows; at most FAST_RESERVE_EVENTS, so that a large
 * body of long events does not reserve much more than it fills. */
#define FAST_BYTES_PER_EVENT 128
#define FAST_RESERVE_EVENTS 4096

/* The reference parse's result: one reference to each object. */
typedef struct json_list {
    json_t **ev;
    size_t n, cap;
} json_list;

static void events_push(json_list *ev, json_t *obj)
{
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 16;
        ev->ev = sl_xrealloc(ev->ev, ev->cap * sizeof(*ev->ev));
    }
    ev->ev[ev->n++] = obj;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool all_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_space(s[i]))
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
static int parse_json_body(const char *body, size_t len, json_list *ev, sl_error *err)
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
static int parse_ndjson_body(const char *body, size_t len, json_list *ev, sl_error *err)
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

/* The reference parse: the body to a list of jansson objects. */
static int parse_body(const char *body, size_t len, bool ndjson, json_list *ev, sl_error *err)
{
    if (all_space(body, len))
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "empty body");
    return ndjson ? parse_ndjson_body(body, len, ev, err) : parse_json_body(body, len, ev, err);
}

void sl_json_rows_free(sl_row **rows, size_t n)
{
    (void)n;
    free(rows);
}

/* Rows to be made, all of ncols values: the rowtime of row i and its values at
 * vals[i * ncols] (borrowed: their strings must live until rows_block). */
typedef struct row_list {
    uint32_t ncols;
    size_t n, cap;
    int64_t *rowtime;
    sl_value *vals;
} row_list;

/* Makes room for cap rows in all. */
static void row_list_reserve(row_list *l, size_t cap)
{
    if (cap <= l->cap)
        return;
    l->cap = cap;
    l->rowtime = sl_xrealloc(l->rowtime, l->cap * sizeof(*l->rowtime));
    l->vals = sl_xrealloc(l->vals, l->cap * l->ncols * sizeof(*l->vals));
}

/* Appends a row; returns its values (the caller fills them). */
static sl_value *row_list_add(row_list *l, int64_t rowtime)
{
    if (l->n == l->cap)
        row_list_reserve(l, l->cap ? l->cap * 2 : 16);
    l->rowtime[l->n] = rowtime;
    return &l->vals[l->n++ * l->ncols];
}

static void row_list_free(row_list *l)
{
    free(l->rowtime);
    free(l->vals);
}

/* Bytes from offset n up to the next multiple of the alignment of sl_row. */
static size_t row_align(size_t n)
{
    const size_t a = _Alignof(sl_row);

    return (n + a - 1) / a * a;
}

/* The list's rows as self-contained rows in one allocation: the array of l->n row
 * pointers, then each row (sl_row_make_in); caller frees with sl_json_rows_free. */
static sl_row **rows_block(const row_list *l)
{
    size_t *size = sl_xmalloc((l->n ? l->n : 1) * sizeof(*size));
    size_t total = row_align(l->n * sizeof(sl_row *)), at = total;

    for (size_t i = 0; i < l->n; i++) {
        size[i] = row_align(sl_row_make_size(l->ncols, &l->vals[i * l->ncols]));
        total += size[i];
    }
    char *block = sl_xmalloc(total ? total : 1);
    sl_row **rows = (sl_row **)(void *)block;
    for (size_t i = 0; i < l->n; i++) {
        rows[i] = sl_row_make_in(block + at, l->rowtime[i], l->ncols, &l->vals[i * l->ncols]);
        at += size[i];
    }
    free(size);
    return rows;
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

/* Where a conversion is: the event and key it names in errors, and the path below the
 * key ("[2].CITY") while inside an ARRAY, MAP or STRUCT. */
typedef struct number_texts number_texts;

typedef struct conv {
    long index;
    const char *key;
    const number_texts *nums; /* the text of every number in the body (DECIMALs need it) */
    sl_buf path;              /* empty at the top level */
    sl_buf tmp;               /* a nested BYTES item's decoded bytes */
    sl_error *err;            /* may be NULL */
} conv;

/* BAD_EVENT "\"key<path>\": <message>" for the value being converted. */
static int __attribute__((format(printf, 2, 3))) conv_error(conv *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return bad_event(c->err, c->index, c->key, "\"%s%s\": %s", c->key,
                     c->path.len ? c->path.data : "", msg);
}

/* "expected T, got J". */
static int conv_mismatch(conv *c, const sl_typedesc *d, const json_t *j)
{
    sl_buf name = SL_BUF_INIT;
    int rc;

    sl_typedesc_format(d, &name);
    rc = conv_error(c, "expected %s, got %s", name.data, json_type_name(j));
    sl_buf_free(&name);
    return rc;
}

static int put_item(const json_t *j, const sl_typedesc *d, conv *c, sl_nested_writer *w);

/* Writes the items of j, an ARRAY, MAP or STRUCT of type d, into w (begun). */
static int build_body(const json_t *j, const sl_typedesc *d, conv *c, sl_nested_writer *w)
{
    size_t mark = c->path.len, i;
    const char *key;
    json_t *val;

    if (d->kind == SL_T_ARRAY ? !json_is_array(j) : !json_is_object(j))
        return conv_mismatch(c, d, j);
    if (d->kind == SL_T_ARRAY) {
        json_array_foreach(j, i, val)
        {
            sl_buf_printf(&c->path, "[%zu]", i + 1);
            if (put_item(val, d->elem, c, w) < 0)
                return -1;
            c->path.len = mark;
            c->path.data[mark] = '\0';
        }
        return 0;
    }
    if (d->kind == SL_T_MAP) {
        json_object_foreach((json_t *)j, key, val)
        {
            sl_value k = sl_str(key, (uint32_t)strlen(key));

            sl_nested_put(w, &k);
            sl_buf_printf(&c->path, "[\"%s\"]", key);
            if (put_item(val, d->elem, c, w) < 0)
                return -1;
            c->path.len = mark;
            c->path.data[mark] = '\0';
        }
        return 0;
    }
    /* A STRUCT: keys name fields as they name columns; others are ignored. */
    const json_t **fields = sl_xcalloc((size_t)d->nfields, sizeof(*fields));
    int rc = 0;
    json_object_foreach((json_t *)j, key, val)
    {
        int f = sl_typedesc_field(d, key, strlen(key), false);

        if (f < 0)
            continue;
        if (fields[f]) {
            rc = conv_error(c, "field %s is given twice", d->fields[f].name);
            goto done;
        }
        fields[f] = val;
    }
    for (int f = 0; f < d->nfields; f++) {
        sl_buf_printf(&c->path, ".%s", d->fields[f].name);
        if ((rc = put_item(fields[f] ? fields[f] : json_null(), d->fields[f].type, c, w)) < 0)
            goto done;
        c->path.len = mark;
        c->path.data[mark] = '\0';
    }
done:
    free(fields);
    return rc;
}

static int convert(const json_t *j, const sl_typedesc *d, conv *c, sl_buf *store, sl_value *out);

/* --- exact numbers ------------------------------------------------------------------- */

/* jansson keeps a number as an int64 or a double, and a DECIMAL must be read from the
 * number's text.  When the schema has a DECIMAL, the reference path pairs every number
 * node of the parsed events with its text in the body: a lexical scan finds the number
 * tokens in document order, and a walk of the trees in document order (jansson keeps an
 * object's keys in the order they came, and duplicates are rejected) meets the number
 * nodes in the same order.  Each pair is checked (the text must read as the node's
 * value), so a mismatch can only be an internal error, never a wrong value. */
typedef struct number_text {
    const json_t *node;
    const char *text; /* into the body */
    size_t len;
} number_text;

struct number_texts {
    number_text *v; /* sorted by node */
    size_t n;
};

/* True when d is or holds a DECIMAL. */
static bool has_decimal(const sl_typedesc *d)
{
    if (d->kind == SL_T_DECIMAL)
        return true;
    if (d->kind == SL_T_ARRAY || d->kind == SL_T_MAP)
        return has_decimal(d->elem);
    for (int i = 0; d->kind == SL_T_STRUCT && i < d->nfields; i++)
        if (has_decimal(d->fields[i].type))
            return true;
    return false;
}

static void push_node(number_texts *nt, size_t *cap, const json_t *j)
{
    if (nt->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        nt->v = sl_xrealloc(nt->v, *cap * sizeof(*nt->v));
    }
    nt->v[nt->n++] = (number_text){.node = j};
}

/* Appends the number nodes of j, in document order. */
static void collect_nodes(const json_t *j, number_texts *nt, size_t *cap)
{
    size_t i;
    const char *key;
    json_t *val;

    if (json_is_number(j)) {
        push_node(nt, cap, j);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, val) collect_nodes(val, nt, cap);
    } else if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, val) collect_nodes(val, nt, cap);
    }
}

/* True when text (a JSON number) reads as j's value under jansson's rules. */
static bool text_is_value(const char *text, size_t len, const json_t *j)
{
    char small[64], *buf = len < sizeof(small) ? small : sl_xmalloc(len + 1);
    bool same;

    memcpy(buf, text, len);
    buf[len] = '\0';
    if (json_is_integer(j))
        same = strtoll(buf, NULL, 10) == json_integer_value(j);
    else
        same = strtod(buf, NULL) == json_real_value(j);
    if (buf != small)
        free(buf);
    return same;
}

static int by_node(const void *a, const void *b)
{
    const json_t *x = ((const number_text *)a)->node, *y = ((const number_text *)b)->node;

    return (x > y) - (x < y);
}

/* Pairs the number nodes of the events (parsed from body[0..len)) with their texts into
 * *nt (the caller frees nt->v).  0, or -1 with INTERNAL when they do not pair up. */
static int number_texts_build(const char *body, size_t len, const json_list *ev, number_texts *nt,
                              sl_error *err)
{
    size_t cap = 0, k = 0;

    for (size_t i = 0; i < ev->n; i++)
        collect_nodes(ev->ev[i], nt, &cap);
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '"') {
            for (i++; i < len && body[i] != '"'; i++)
                i += body[i] == '\\';
        } else if (body[i] == '-' || (body[i] >= '0' && body[i] <= '9')) {
            size_t start = i;
            while (i + 1 < len && strchr("0123456789+-.eE", body[i + 1]))
                i++;
            if (k == nt->n || !text_is_value(body + start, i + 1 - start, nt->v[k].node))
                return sl_error_set(err, SL_ERR_INTERNAL, 0, 0,
                                    "the numbers of the body do not pair up");
            nt->v[k].text = body + start;
            nt->v[k++].len = i + 1 - start;
        }
    }
    if (k != nt->n)
        return sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "the numbers of the body do not pair up");
    if (nt->n)
        qsort(nt->v, nt->n, sizeof(*nt->v), by_node);
    return 0;
}

/* j, a number, as the DECIMAL d: from its text, exactly. */
static int convert_decimal(const json_t *j, const sl_typedesc *d, conv *c, sl_value *out)
{
    number_text key = {.node = j}, *t;
    int rc;

    t = c->nums ? bsearch(&key, c->nums->v, c->nums->n, sizeof(key), by_node) : NULL;
    if (!t)
        return sl_error_set(c->err, SL_ERR_INTERNAL, 0, 0, "a number without its text");
    int quote = t->len < QUOTE_MAX ? (int)t->len : QUOTE_MAX;
    rc = sl_decimal_parse(t->text, t->len, d->precision, d->scale, true, out);
    if (rc == SL_DECIMAL_OVERFLOW)
        return conv_error(c, "%.*s is out of range for DECIMAL(%d, %d)", quote, t->text,
                          d->precision, d->scale);
    if (rc < 0)
        return conv_error(c, "%.*s has more than %d digits after the point for DECIMAL(%d, %d)",
                          quote, t->text, d->scale, d->precision, d->scale);
    return 0;
}

/* Converts j to type d and appends it to w as one item. */
static int put_item(const json_t *j, const sl_typedesc *d, conv *c, sl_nested_writer *w)
{
    sl_nested_writer inner;
    sl_value v;

    if (!json_is_null(j) &&
        (d->kind == SL_T_ARRAY || d->kind == SL_T_MAP || d->kind == SL_T_STRUCT)) {
        sl_nested_open_item(w, d->kind, &inner);
        if (build_body(j, d, c, &inner) < 0)
            return -1;
        sl_nested_close_item(w, &inner, d->kind);
        return 0;
    }
    sl_buf_reset(&c->tmp);
    if (convert(j, d, c, &c->tmp, &v) < 0)
        return -1;
    sl_nested_put(w, &v);
    return 0;
}

/* Converts one JSON value to a value of type d.  VARCHAR points into j; BYTES and the
 * bodies of ARRAY, MAP and STRUCT values are written to store (reset by the caller)
 * and point there.  On failure returns -1 with c->err naming the event and key. */
static int convert(const json_t *j, const sl_typedesc *d, conv *c, sl_buf *store, sl_value *out)
{
    sl_type t = d->kind;

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
            return conv_error(c, "%lld is out of range for INT", (long long)json_integer_value(j));
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
    case SL_T_DECIMAL:
        if (!json_is_number(j))
            break;
        return convert_decimal(j, d, c, out);
    case SL_T_VARCHAR:
        if (!json_is_string(j))
            break;
        if (json_string_length(j) > SL_MAX_STRING)
            return conv_error(c, "string longer than %d bytes", SL_MAX_STRING);
        *out = sl_str(json_string_value(j), (uint32_t)json_string_length(j));
        return 0;
    case SL_T_BYTES: {
        size_t start = store->len;
        if (!json_is_string(j))
            break;
        if (sl_base64_decode(store, json_string_value(j), json_string_length(j)) < 0)
            return conv_error(c, "\"%.*s\" is not base64", QUOTE_MAX, json_string_value(j));
        if (store->len - start > SL_MAX_STRING)
            return conv_error(c, "BYTES longer than %d bytes", SL_MAX_STRING);
        *out = sl_str(store->data + start, (uint32_t)(store->len - start));
        out->type = SL_T_BYTES;
        return 0;
    }
    case SL_T_TIMESTAMP: {
        int64_t ms;
        if (json_is_integer(j)) {
            *out = sl_int(SL_T_TIMESTAMP, json_integer_value(j));
            return 0;
        }
        if (!json_is_string(j))
            break;
        if (sl_json_parse_timestamp(json_string_value(j), json_string_length(j), &ms) < 0)
            return conv_error(c, "\"%.*s\" is not a timestamp (epoch ms or ISO-8601)", QUOTE_MAX,
                              json_string_value(j));
        *out = sl_int(SL_T_TIMESTAMP, ms);
        return 0;
    }
    case SL_T_ARRAY:
    case SL_T_MAP:
    case SL_T_STRUCT: {
        sl_nested_writer w;
        size_t start = store->len;

        sl_nested_begin(&w, store);
        if (build_body(j, d, c, &w) < 0)
            return -1;
        if (store->len - start > SL_MAX_STRING)
            return conv_error(c, "value longer than %d bytes", SL_MAX_STRING);
        *out = sl_nested_end(&w, t);
        return 0;
    }
    default:
        break;
    }
    return conv_mismatch(c, d, j);
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

/* One event to one row; vals, key_of and store (schema->ncols entries each) are
 * scratch, store holding the bytes of each column's BYTES, ARRAY, MAP or STRUCT value
 * until the row is made. */
static int event_row(json_t *obj, const sl_schema *s, int64_t now_ms, long index, sl_value *vals,
                     const char **key_of, sl_buf *store, const number_texts *nums, sl_row **out,
                     sl_error *err)
{
    const char *key;
    json_t *val;
    int64_t rowtime = now_ms;
    conv cv = {.index = index, .nums = nums, .path = SL_BUF_INIT, .tmp = SL_BUF_INIT, .err = err};
    int rc = -1;

    for (int c = 0; c < s->ncols; c++) {
        vals[c] = sl_null();
        key_of[c] = NULL;
        sl_buf_reset(&store[c]);
    }
    json_object_foreach(obj, key, val)
    {
        int c = sl_schema_find_json(s, key, strlen(key));
        if (c < 0) {
            if (s->timestamp_col >= 0 || strcasecmp(key, "ROWTIME") != 0 || json_is_null(val))
                continue;
            if (!json_is_integer(val)) {
                bad_event(err, index, key, "\"%s\": expected an integer (epoch ms), got %s", key,
                          json_type_name(val));
                goto done;
            }
            rowtime = json_integer_value(val);
            continue;
        }
        if (key_of[c]) {
            bad_event(err, index, key, "\"%s\": column %s is given twice (also as \"%s\")", key,
                      s->cols[c].name, key_of[c]);
            goto done;
        }
        key_of[c] = key;
        cv.key = key;
        if (convert(val, sl_typedesc_of(s->cols[c].type, s->cols[c].desc), &cv, &store[c],
                    &vals[c]) < 0)
            goto done;
    }
    if (s->timestamp_col >= 0 &&
        rowtime_from_column(s, &vals[s->timestamp_col], index, &rowtime, err) < 0)
        goto done;
    *out = sl_row_make(rowtime, (uint32_t)s->ncols, vals);
    rc = 0;
done:
    sl_buf_free(&cv.path);
    sl_buf_free(&cv.tmp);
    return rc;
}

/* The reference conversion of a list of objects (nums: the texts of their numbers, or
 * NULL when the schema has no DECIMAL). */
static int rows_slow(const json_list *ev, const sl_schema *schema, const number_texts *nums,
                     int64_t now_ms, sl_row ***rows, sl_error *err)
{
    size_t ncols = schema->ncols > 0 ? (size_t)schema->ncols : 1;
    sl_value *vals = sl_xcalloc(ncols, sizeof(*vals));
    const char **key_of = sl_xcalloc(ncols, sizeof(*key_of));
    sl_buf *store = sl_xcalloc(ncols, sizeof(*store));
    sl_row **out = sl_xcalloc(ev->n ? ev->n : 1, sizeof(*out));
    size_t i;
    int rc = 0;

    *rows = NULL;
    for (i = 0; i < ev->n && rc == 0; i++)
        rc = event_row(ev->ev[i], schema, now_ms, (long)i, vals, key_of, store, nums, &out[i], err);
    size_t made = rc == 0 ? ev->n : i - 1;
    if (rc == 0) {
        /* Into one block, as the fast decoder hands them out. */
        row_list l = {.ncols = (uint32_t)schema->ncols};
        row_list_reserve(&l, ev->n);
        for (i = 0; i < ev->n; i++)
            memcpy(row_list_add(&l, out[i]->rowtime), out[i]->v, l.ncols * sizeof(sl_value));
        *rows = rows_block(&l);
        row_list_free(&l);
    }
    for (i = 0; i < made; i++)
        sl_row_free(out[i]);
    free(out);
    for (size_t c = 0; c < ncols; c++)
        sl_buf_free(&store[c]);
    free(store);
    free(vals);
    free(key_of);
    return rc;
}

int sl_json_decode_reference(const char *body, size_t len, bool ndjson, const sl_schema *schema,
                             int64_t now_ms, sl_row ***rows, size_t *n, sl_error *err)
{
    json_list ev = {0};
    number_texts nums = {NULL, 0};
    bool exact = false;
    int rc;

    *rows = NULL;
    *n = 0;
    for (int c = 0; c < schema->ncols && !exact; c++)
        exact = has_decimal(sl_typedesc_of(schema->cols[c].type, schema->cols[c].desc));
    rc = parse_body(body, len, ndjson, &ev, err);
    if (rc == 0 && exact)
        rc = number_texts_build(body, len, &ev, &nums, err);
    if (rc == 0)
        rc = rows_slow(&ev, schema, exact ? &nums : NULL, now_ms, rows, err);
    if (rc == 0)
        *n = ev.n;
    for (size_t i = 0; i < ev.n; i++)
        json_decref(ev.ev[i]);
    free(ev.ev);
    free(nums.v);
    return rc;
}

/* --- the fast decoder ---------------------------------------------------------------- */

/* A key of an object, as written between its quotes (it holds no escape). */
typedef struct key_span {
    const char *p;
    size_t len;
} key_span;

typedef struct fast {
    const char *p, *end; /* the text of the current event (one NDJSON line, or the body) */
    const sl_schema *s;
    size_t *col_len; /* strlen of each column name */
    char *fold;      /* per column, at fold_off: see fold_equal */
    size_t *fold_off;
    bool guessable; /* no two column names are equal ignoring case */
    int guess;      /* the column the next key probably names (the one after the last) */
    char *member;   /* per column, at member_off: "name": with fold's lower-cased name */
    size_t *member_off;
    size_t *member_len; /* 0 when the name is not plain printable ASCII */
    sl_value *vals;     /* the current event's values */
    bool *seen;         /* per column: a key named it in the current event */
    size_t *str_off;    /* per column: 1 + offset into scratch of an unescaped string, or 0 */
    sl_buf scratch;     /* unescaped strings of the events read so far */
    key_span *keys;     /* unknown keys of the objects being read, innermost last */
    size_t nkeys, keys_cap;
    row_list list; /* the events read, their strings in the body or in scratch */
    size_t *esc;   /* pairs: index into list.vals, offset into scratch of its string */
    size_t nesc, esc_cap;
} fast;

/* A string token: its text between the quotes, and whether it holds escapes (then its
 * value is the unescaped copy at scratch + off, len bytes) or a NUL character. */
typedef struct str_tok {
    const char *raw;
    size_t raw_len;
    bool escaped, has_nul;
    size_t off, len;
} str_tok;

/* A number token: an integer (jansson's JSON_INTEGER, int64 range) or a real. */
typedef struct num_tok {
    bool is_int;
    int64_t i;
    double d;
} num_tok;

static void skip_space_run(fast *f)
{
    while (f->p < f->end && is_space(*f->p))
        f->p++;
}

/* Most bodies have no blank space between tokens: one test, and the loop (a call)
 * only when there is some. */
static inline void skip_space(fast *f)
{
    if (f->p < f->end && is_space(*f->p))
        skip_space_run(f);
}

/* Consumes c (after blank space); false when the next character is something else. */
static bool take(fast *f, char c)
{
    if (f->p < f->end && *f->p == c) {
        f->p++;
        return true;
    }
    skip_space(f);
    if (f->p < f->end && *f->p == c) {
        f->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v += c - '0';
        else if (c >= 'a' && c <= 'f')
            v += c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v += c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Reads the \uXXXX escape at p (p[0] == 'u', after the backslash), with the low
 * surrogate that must follow a high one, as jansson does; returns the code point and
 * sets *next past the escape(s), or -1. */
static int32_t unicode_escape(const char *p, const char *end, const char **next)
{
    int32_t cp, lo;

    if (end - p < 5 || (cp = hex4(p + 1)) < 0)
        return -1;
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || (lo = hex4(p + 2)) < 0 || lo < 0xDC00 ||
            lo > 0xDFFF)
            return -1;
        cp = ((cp - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
        p += 6;
    }
    *next = p;
    return cp;
}

static void put_utf8(sl_buf *b, int32_t cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sl_buf_append(b, u, n);
}

/* The first byte at or after p that is not printable ASCII other than '"' and '\\' (or
 * end), eight bytes at a time: in each word, a byte below 0x20, equal to '"' or '\\',
 * or with its high bit set, is flagged; the first flag is exact (borrows only run
 * upwards from a flagged byte). */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

    while (end - p >= 8) {
        uint64_t w, q, s, m;
        memcpy(&w, p, sizeof(w));
        q = w ^ (ones * '"');
        s = w ^ (ones * '\\');
        m = (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((s - ones) & ~s) | w) & highs;
        if (m)
            return p + __builtin_ctzll(m) / 8;
        p += 8;
    }
#endif
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Reads the string whose opening quote is at f->p, validating it as jansson does
 * (no control characters, valid UTF-8, valid escapes and surrogate pairs); when it
 * holds escapes and unescape is set, appends its value to f->scratch.  -1 when it is
 * not a valid string. */
static int read_string(fast *f, bool unescape, str_tok *t)
{
    const unsigned char *p = (const unsigned char *)f->p + 1;
    const unsigned char *end = (const unsigned char *)f->end;

    t->raw = (const char *)p;
    t->escaped = t->has_nul = false;
    for (;;) {
        p = plain_run(p, end);
        if (p >= end || *p < 0x20)
            return -1;
        if (*p == '"')
            break;
        if (*p >= 0x80) {
            size_t n = sl_json_utf8_len(p, (size_t)(end - p));
            if (!n)
                return -1;
            p += n;
            continue;
        }
        t->escaped = true;
        if (++p >= end)
            return -1;
        if (*p == 'u') {
            const char *next;
            int32_t cp = unicode_escape((const char *)p, (const char *)end, &next);
            if (cp < 0)
                return -1;
            t->has_nul |= cp == 0;
            p = (const unsigned char *)next;
        } else if (strchr("\"\\/bfnrt", *p) && *p) {
            p++;
        } else {
            return -1;
        }
    }
    t->raw_len = (size_t)((const char *)p - t->raw);
    f->p = (const char *)p + 1;
    t->off = f->scratch.len;
    t->len = t->raw_len;
    if (!t->escaped || !unescape)
        return 0;
    /* Validated above: every escape is complete and well-formed. */
    for (const char *q = t->raw, *qend = t->raw + t->raw_len; q < qend;) {
        const char *bs = memchr(q, '\\', (size_t)(qend - q));
        size_t run = bs ? (size_t)(bs - q) : (size_t)(qend - q);
        sl_buf_append(&f->scratch, q, run);
        q += run;
        if (q == qend)
            break;
        q++;
        if (*q == 'u') {
            const char *next;
            put_utf8(&f->scratch, unicode_escape(q, qend, &next));
            q = next;
            continue;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        sl_buf_putc(&f->scratch, to[strchr(from, *q) - from]);
        q++;
    }
    t->len = f->scratch.len - t->off;
    return 0;
}

/* Whether the eight bytes at p are all ASCII digits, and their value as a decimal
 * number (eight digits in three multiplications: pairs, then quads, then the eight). */
static bool eight_digits(const char *p, uint64_t *value)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    /* Each byte is 0x30..0x39 exactly when its high nibble is 3 and adding 6 to it
     * leaves the high nibble 3. */
    if ((((w & 0xF0F0F0F0F0F0F0F0ull) |
          (((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4))) != 0x3333333333333333ull)
        return false;
    w = (w & 0x0F0F0F0F0F0F0F0Full) * 2561 >> 8;
    w = (w & 0x00FF00FF00FF00FFull) * 6553601 >> 16;
    *value = (w & 0x0000FFFF0000FFFFull) * 42949672960001ull >> 32;
    return true;
#else
    (void)p;
    (void)value;
    return false;
#endif
}

/* Reads the number at f->p with jansson's grammar and rules: an integer when it has no
 * fraction or exponent (strtoll: out of int64 range is an error), else a real (strtod:
 * overflow is an error, underflow is not).  -1 when it is not one jansson accepts. */
static int read_number(fast *f, num_tok *t)
{
    const char *start = f->p, *p = f->p, *end = f->end;
    bool neg = false;
    uint64_t m = 0;
    int ndigits = 0, frac_digits = 0;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return -1;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++, ndigits++)
            if (ndigits < 19)
                m = m * 10 + (uint64_t)(*p - '0');
    }
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* 19 digits always fit in uint64; 20 or more are past int64 either way. */
        if (ndigits > 19 || (!neg && m > (uint64_t)INT64_MAX) ||
            (neg && m > (uint64_t)INT64_MAX + 1))
            return -1;
        t->is_int = true;
        t->i = neg ? (int64_t)(0 - m) : (int64_t)m;
        f->p = p;
        return 0;
    }
    if (*p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        for (; p < end && *p >= '0' && *p <= '9'; p++, frac_digits++)
            if (ndigits + frac_digits < 19)
                m = m * 10 + (uint64_t)(*p - '0');
    }
    int exp = 0;
    bool exp_small = true;
    if (p < end && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        int edigits = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        for (; p < end && *p >= '0' && *p <= '9'; p++, edigits++)
            if (edigits < 6)
                exp = exp * 10 + (*p - '0');
        exp_small = edigits < 6;
        exp = eneg ? -exp : exp;
    }
    t->is_int = false;
    f->p = p;
    /* Clinger's fast path: an exact mantissa and power of ten give the correctly
     * rounded quotient or product, which is what strtod returns. */
    int e10 = exp - frac_digits;
    if (exp_small && ndigits + frac_digits <= 19 && m <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
        double d = (double)m;
        d = e10 < 0 ? d / sl_decimal_pow10_double(-e10) : d * sl_decimal_pow10_double(e10);
        t->d = neg ? -d : d;
        return 0;
    }
    char small[64], *text = small;
    size_t n = (size_t)(p - start);
    if (n >= sizeof(small))
        text = sl_xmalloc(n + 1);
    memcpy(text, start, n);
    text[n] = '\0';
    t->d = strtod(text, NULL);
    if (text != small)
        free(text);
    return isinf(t->d) ? -1 : 0;
}

/* Reads an integer of at most 18 digits at f->p (after blank space; no fraction or
 * exponent follows): the numbers of INT, BIGINT and TIMESTAMP columns, without
 * read_number's generality.  False, with f->p unmoved, for anything else (which
 * read_number then reads, or rejects). */
static bool read_short_int(fast *f, int64_t *out)
{
    const char *p = f->p, *end = f->end, *digits;
    bool neg = *p == '-';
    uint64_t m = 0, eight;
    size_t n;

    p += neg;
    digits = p;
    /* The eighth byte is looked at first, so that short numbers skip the test. */
    if (end - p >= 8 && p[7] >= '0' && p[7] <= '9' && eight_digits(p, &eight)) {
        m = eight;
        p += 8;
    }
    for (; p < end && *p >= '0' && *p <= '9' && p - digits < 19; p++)
        m = m * 10 + (uint64_t)(*p - '0');
    n = (size_t)(p - digits);
    if (n == 0 || n > 18 || (n > 1 && *digits == '0'))
        return false;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return false;
    *out = neg ? -(int64_t)m : (int64_t)m;
    f->p = p;
    return true;
}

/* Reads true, false or null at f->p into *v (SL_T_BOOLEAN or SL_T_NULL). */
static int read_literal(fast *f, sl_value *v)
{
    size_t left = (size_t)(f->end - f->p);

    if (left >= 4 && memcmp(f->p, "true", 4) == 0) {
        *v = sl_bool(true);
        f->p += 4;
    } else if (left >= 5 && memcmp(f->p, "false", 5) == 0) {
        *v = sl_bool(false);
        f->p += 5;
    } else if (left >= 4 && memcmp(f->p, "null", 4) == 0) {
        *v = sl_null();
        f->p += 4;
    } else {
        return -1;
    }
    return 0;
}

/* Records an unknown key of the object whose keys start at keys[mark]; -1 when the
 * object already has it (jansson rejects duplicates) or has too many to check. */
static int note_key(fast *f, size_t mark, const char *p, size_t len)
{
    if (f->nkeys - mark >= FAST_MAX_UNKNOWN_KEYS)
        return -1;
    for (size_t i = mark; i < f->nkeys; i++)
        if (f->keys[i].len == len && memcmp(f->keys[i].p, p, len) == 0)
            return -1;
    if (f->nkeys == f->keys_cap) {
        f->keys_cap = f->keys_cap ? f->keys_cap * 2 : 16;
        f->keys = sl_xrealloc(f->keys, f->keys_cap * sizeof(*f->keys));
    }
    f->keys[f->nkeys++] = (key_span){p, len};
    return 0;
}

/* Validates and skips the value at f->p (after blank space), nested depth deep. */
static int skip_value(fast *f, int depth)
{
    str_tok st;
    num_tok nt;
    sl_value v;

    skip_space(f);
    if (f->p >= f->end)
        return -1;
    switch (*f->p) {
    case '"':
        return read_string(f, false, &st);
    case '{': {
        size_t mark = f->nkeys;
        if (depth >= SL_MAX_JSON_DEPTH)
            return -1;
        f->p++;
        if (take(f, '}'))
            return 0;
        do {
            skip_space(f);
            /* A key with escapes would need its value to be compared: rare, left to the
             * reference path. */
            if (f->p >= f->end || *f->p != '"' || read_string(f, false, &st) < 0 || st.escaped ||
                note_key(f, mark, st.raw, st.raw_len) < 0 || !take(f, ':') ||
                skip_value(f, depth + 1) < 0)
                return -1;
        } while (take(f, ','));
        f->nkeys = mark;
        return take(f, '}') ? 0 : -1;
    }
    case '[':
        if (depth >= SL_MAX_JSON_DEPTH)
            return -1;
        f->p++;
        if (take(f, ']'))
            return 0;
        do {
            if (skip_value(f, depth + 1) < 0)
                return -1;
        } while (take(f, ','));
        return take(f, ']') ? 0 : -1;
    case 't':
    case 'f':
    case 'n':
        return read_literal(f, &v);
    default:
        return read_number(f, &nt);
    }
}

/* Whether a[0..n) equals b[0..n): a word at a time, then the tail, without a call
 * (member names are short). */
static bool same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    uint32_t x4, y4;

    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return false;
    }
    if (n >= 4) {
        memcpy(&x4, a, 4);
        memcpy(&y4, b, 4);
        if (x4 != y4)
            return false;
        a += 4;
        b += 4;
        n -= 4;
    }
    for (; n > 0; a++, b++, n--)
        if (*a != *b)
            return false;
    return true;
}

/* Whether key[0..len) names column c by the rules of sl_schema_find_json, as far as
 * ASCII goes: fold holds the name lower-cased, then a mask with 0x20 at each letter of
 * an unquoted name (0 elsewhere, and everywhere for a quoted one), so that key byte k
 * matches name byte n exactly when (k | mask) == lower. */
static bool fold_equal(const fast *f, int c, const char *key, size_t len)
{
    const unsigned char *lower = (const unsigned char *)f->fold + f->fold_off[c];
    const unsigned char *mask = lower + len, *k = (const unsigned char *)key;
    unsigned diff = 0;

    for (size_t i = 0; i < len; i++)
        diff |= (unsigned)((k[i] | mask[i]) ^ lower[i]);
    return diff == 0;
}

/* The column key[0..len) names, as sl_schema_find_json finds it.  The guess (the
 * column after the last one named) is tried first: when no two column names are equal
 * ignoring case, a key that matches it (exactly, or ignoring the case of ASCII letters
 * for an unquoted column, which strncasecmp then also does) can match no other
 * column. */
static int find_column(fast *f, const char *key, size_t len)
{
    int g = f->guess, c;

    if (f->guessable && g < f->s->ncols && f->col_len[g] == len && fold_equal(f, g, key, len)) {
        f->guess = g + 1;
        return g;
    }
    c = sl_schema_find_json(f->s, key, len);
    if (c >= 0)
        f->guess = c + 1;
    return c;
}

/* Reads the value at f->p (after blank space) into column c as convert() would; -1
 * when it is invalid JSON or convert() would reject it. */
static int read_column(fast *f, int c)
{
    sl_type t = f->s->cols[c].type;
    sl_value *v = &f->vals[c];
    str_tok st;
    num_tok nt;

    skip_space(f);
    if (f->p >= f->end)
        return -1;
    if (t == SL_T_BYTES || t == SL_T_ARRAY || t == SL_T_MAP || t == SL_T_STRUCT) {
        /* Left to the reference path, unless null. */
        return *f->p == 'n' && read_literal(f, v) == 0 && v->type == SL_T_NULL ? 0 : -1;
    }
    if (*f->p == '"') {
        if (read_string(f, true, &st) < 0 || (t != SL_T_VARCHAR && t != SL_T_TIMESTAMP))
            return -1;
        const char *text = st.escaped ? f->scratch.data + st.off : st.raw;
        if (t == SL_T_TIMESTAMP) {
            int64_t ms;
            if (sl_json_parse_timestamp(text, st.len, &ms) < 0)
                return -1;
            *v = sl_int(SL_T_TIMESTAMP, ms);
            return 0;
        }
        if (st.len > SL_MAX_STRING)
            return -1;
        /* The scratch buffer may move: escaped strings are pointed at it once the
         * event is read. */
        *v = sl_str(text, (uint32_t)st.len);
        f->str_off[c] = st.escaped ? st.off + 1 : 0;
        return 0;
    }
    if (*f->p == 't' || *f->p == 'f' || *f->p == 'n') {
        if (read_literal(f, v) < 0)
            return -1;
        return v->type == SL_T_NULL || t == SL_T_BOOLEAN ? 0 : -1;
    }
    if (*f->p != '-' && (*f->p < '0' || *f->p > '9'))
        return -1;
    if (t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_TIMESTAMP) {
        int64_t i;
        if (read_short_int(f, &i)) {
            if (t == SL_T_INT && (i < INT32_MIN || i > INT32_MAX))
                return -1;
            *v = sl_int(t, i);
            return 0;
        }
    }
    const char *start = f->p;
    if (read_number(f, &nt) < 0)
        return -1;
    switch (t) {
    case SL_T_DECIMAL: {
        /* Exactly, from the text; what does not fit is left to the reference path,
         * which says why. */
        const sl_typedesc *d = f->s->cols[c].desc;
        return sl_decimal_parse(start, (size_t)(f->p - start), d->precision, d->scale, true, v);
    }
    case SL_T_INT:
        if (!nt.is_int || nt.i < INT32_MIN || nt.i > INT32_MAX)
            return -1;
        *v = sl_int(SL_T_INT, nt.i);
        return 0;
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
        if (!nt.is_int)
            return -1;
        *v = sl_int(t, nt.i);
        return 0;
    case SL_T_DOUBLE:
        *v = sl_double(nt.is_int ? (double)nt.i : nt.d);
        return 0;
    default:
        return -1;
    }
}

/* Reads one event object at f->p into a row appended to f->rows. */
static int fast_event(fast *f, int64_t now_ms)
{
    const sl_schema *s = f->s;
    int64_t rowtime = now_ms;
    str_tok key;

    for (int c = 0; c < s->ncols; c++) {
        f->vals[c] = sl_null();
        f->seen[c] = false;
        f->str_off[c] = 0;
    }
    f->nkeys = 0;
    f->guess = 0;
    if (!take(f, '{'))
        return -1;
    if (!take(f, '}')) {
        do {
            int g = f->guess, c;
            skip_space(f);
            /* The key is the guessed column's name as fold_equal lower-cases it, and the
             * colon follows: its string has no escapes, and find_column would match it
             * to the guess. */
            if (f->guessable && g < s->ncols && f->member_len[g] &&
                (size_t)(f->end - f->p) >= f->member_len[g] &&
                same_bytes(f->p, f->member + f->member_off[g], f->member_len[g])) {
                f->p += f->member_len[g];
                f->guess = g + 1;
                c = g;
            } else {
                if (f->p >= f->end || *f->p != '"' || read_string(f, true, &key) < 0 || key.has_nul)
                    return -1;
                const char *name = key.escaped ? f->scratch.data + key.off : key.raw;
                c = find_column(f, name, key.len);
                if (c < 0) {
                    if (key.escaped || note_key(f, 0, key.raw, key.raw_len) < 0 || !take(f, ':'))
                        return -1;
                    if (s->timestamp_col < 0 && key.len == 7 &&
                        strncasecmp(name, "ROWTIME", 7) == 0) {
                        num_tok nt;
                        sl_value v;
                        skip_space(f);
                        if (f->p < f->end && *f->p == 'n') {
                            if (read_literal(f, &v) < 0 || v.type != SL_T_NULL)
                                return -1;
                        } else if (f->p >= f->end || read_number(f, &nt) < 0 || !nt.is_int) {
                            return -1;
                        } else {
                            rowtime = nt.i;
                        }
                    } else if (skip_value(f, 1) < 0) {
                        return -1;
                    }
                    continue;
                }
                /* The key's unescaped copy is not needed past this point. */
                f->scratch.len = key.off;
                if (!take(f, ':'))
                    return -1;
            }
            /* The one call of read_column, which the compiler then inlines. */
            if (f->seen[c] || read_column(f, c) < 0)
                return -1;
            f->seen[c] = true;
        } while (take(f, ','));
        if (!take(f, '}'))
            return -1;
    }
    /* Escaped strings are pointed at scratch now, and again once it stops moving (see
     * esc). */
    for (int c = 0; c < s->ncols; c++) {
        if (!f->str_off[c])
            continue;
        f->vals[c].u.s.ptr = f->scratch.data + f->str_off[c] - 1;
        if (f->nesc + 2 > f->esc_cap) {
            f->esc_cap = f->esc_cap ? f->esc_cap * 2 : 16;
            f->esc = sl_xrealloc(f->esc, f->esc_cap * sizeof(*f->esc));
        }
        f->esc[f->nesc++] = f->list.n * (size_t)s->ncols + (size_t)c;
        f->esc[f->nesc++] = f->str_off[c] - 1;
    }
    if (s->timestamp_col >= 0 &&
        rowtime_from_column(s, &f->vals[s->timestamp_col], 0, &rowtime, NULL) < 0)
        return -1;
    memcpy(row_list_add(&f->list, rowtime), f->vals, (size_t)s->ncols * sizeof(*f->vals));
    return 0;
}

/* Reads every event of the body; f->p .. f->end is set per event. */
static int fast_body(fast *f, const char *body, size_t len, bool ndjson, int64_t now_ms)
{
    const char *end = body + len;

    if (ndjson) {
        for (const char *line = body; line < end;) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            f->p = line;
            f->end = nl ? nl : end;
            skip_space(f);
            if (f->p < f->end && (fast_event(f, now_ms) < 0 || (skip_space(f), f->p != f->end)))
                return -1;
            line = f->end + 1;
        }
        return f->list.n > 0 ? 0 : -1;
    }
    f->p = body;
    f->end = end;
    skip_space(f);
    if (f->p < end && *f->p == '[') {
        f->p++;
        do {
            if (fast_event(f, now_ms) < 0)
                return -1;
        } while (take(f, ','));
        if (!take(f, ']'))
            return -1;
    } else if (fast_event(f, now_ms) < 0) {
        return -1;
    }
    skip_space(f);
    return f->p == end ? 0 : -1;
}

int sl_json_decode_fast(const char *body, size_t len, bool ndjson, const sl_schema *schema,
                        int64_t now_ms, sl_row ***rows, size_t *n)
{
    size_t ncols = schema->ncols > 0 ? (size_t)schema->ncols : 1;
    fast f = {.s = schema, .scratch = SL_BUF_INIT, .list = {.ncols = (uint32_t)schema->ncols}};
    size_t fold_len = 0, member_len = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    f.col_len = sl_xcalloc(ncols, sizeof(*f.col_len));
    f.vals = sl_xcalloc(ncols, sizeof(*f.vals));
    f.seen = sl_xcalloc(ncols, sizeof(*f.seen));
    f.str_off = sl_xcalloc(ncols, sizeof(*f.str_off));
    f.fold_off = sl_xcalloc(ncols, sizeof(*f.fold_off));
    f.member_off = sl_xcalloc(ncols, sizeof(*f.member_off));
    f.member_len = sl_xcalloc(ncols, sizeof(*f.member_len));
    for (int c = 0; c < schema->ncols; c++) {
        f.col_len[c] = strlen(schema->cols[c].name);
        f.fold_off[c] = fold_len;
        fold_len += 2 * f.col_len[c];
        f.member_off[c] = member_len;
        member_len += f.col_len[c] + 3;
    }
    f.fold = sl_xmalloc(fold_len + 1);
    for (int c = 0; c < schema->ncols; c++) {
        const sl_column *col = &schema->cols[c];
        char *lower = f.fold + f.fold_off[c], *mask = lower + f.col_len[c];
        for (size_t i = 0; i < f.col_len[c]; i++) {
            char ch = col->name[i];
            bool letter = !col->quoted && ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'));
            lower[i] = letter ? (char)(ch | 0x20) : ch;
            mask[i] = letter ? 0x20 : 0;
        }
    }
    f.member = sl_xmalloc(member_len + 1);
    for (int c = 0; c < schema->ncols; c++) {
        const char *lower = f.fold + f.fold_off[c];
        char *m = f.member + f.member_off[c];
        bool plain = true;
        for (size_t i = 0; i < f.col_len[c]; i++)
            plain &= lower[i] >= 0x20 && lower[i] < 0x7F && lower[i] != '"' && lower[i] != '\\';
        m[0] = '"';
        memcpy(m + 1, lower, f.col_len[c]);
        m[f.col_len[c] + 1] = '"';
        m[f.col_len[c] + 2] = ':';
        f.member_len[c] = plain ? f.col_len[c] + 3 : 0;
    }
    f.guessable = schema->ncols <= FAST_MAX_GUESS_COLS;
    for (int a = 0; f.guessable && a < schema->ncols; a++)
        for (int b = a + 1; f.guessable && b < schema->ncols; b++)
            if (f.col_len[a] == f.col_len[b] &&
                strcasecmp(schema->cols[a].name, schema->cols[b].name) == 0)
                f.guessable = false;
    row_list_reserve(&f.list, len / FAST_BYTES_PER_EVENT < FAST_RESERVE_EVENTS
                                  ? len / FAST_BYTES_PER_EVENT + 1
                                  : FAST_RESERVE_EVENTS);
    rc = fast_body(&f, body, len, ndjson, now_ms);
    if (rc == 0) {
        for (size_t i = 0; i < f.nesc; i += 2)
            f.list.vals[f.esc[i]].u.s.ptr = f.scratch.data + f.esc[i + 1];
        *rows = rows_block(&f.list);
        *n = f.list.n;
    }
    row_list_free(&f.list);
    free(f.esc);
    free(f.col_len);
    free(f.fold);
    free(f.fold_off);
    free(f.member);
    free(f.member_off);
    free(f.member_len);
    free(f.vals);
    free(f.seen);
    free(f.str_off);
    free(f.keys);
    sl_buf_free(&f.scratch);
    return rc;
}

int sl_json_decode_events(const char *body, size_t len, bool ndjson, const sl_schema *schema,
                          int64_t now_ms, sl_row ***rows, size_t *n, sl_error *err)
{
    if (sl_json_decode_fast(body, len, ndjson, schema, now_ms, rows, n) == 0)
        return 0;
    return sl_json_decode_reference(body, len, ndjson, schema, now_ms, rows, n, err);
}

int sl_json_parse_timestamp(const char *s, size_t len, int64_t *out)
{
    /* One ISO-8601 reader serves SQL (CAST, literals) and JSON events alike. */
    return sl_time_parse_iso8601(s, len, out);
}

int sl_sql_request_parse(const char *body, size_t len, sl_sql_request *out, sl_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_t *sql, *name, *from, *limit;

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
    limit = json_object_get(root, "state_limit");
    if (limit && !json_is_null(limit)) {
        if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
            (uint64_t)json_integer_value(limit) > SL_MAX_QUERY_STATE_LIMIT) {
            sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                         "\"state_limit\" must be a number of bytes from 1 to %llu",
                         (unsigned long long)SL_MAX_QUERY_STATE_LIMIT);
            goto fail;
        }
        out->state_limit = (uint64_t)json_integer_value(limit);
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
