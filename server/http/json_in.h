/* json_in.h: decoding request bodies with jansson: ingest events into rows, and the
 * {"sql": ...} request object.
 *
 * Ingest is two steps so that the HTTP layer can parse outside its lock and convert
 * under it: sl_json_events_parse turns a body into a list of JSON objects (one object,
 * an array of objects, or NDJSON: one object a line, blank lines skipped), then
 * sl_json_events_rows turns them into rows of a stream's schema.  Both are atomic: an
 * error names the event (err->index, 0-based) and, where one is at fault, its field, and
 * nothing is returned.
 *
 * Conversion rules: JSON keys match columns with sl_schema_find_json; unknown keys are
 * ignored; a missing key or null is NULL; two keys naming one column are an error.  No
 * coercion: INT takes integers in 32-bit range, BIGINT integers, DOUBLE integers and
 * reals, VARCHAR strings (at most SL_MAX_STRING bytes), BOOLEAN true/false, TIMESTAMP an
 * epoch-ms integer or an ISO-8601 string.  ROWTIME comes from the schema's timestamp
 * column (which must not be null), else from a top-level "ROWTIME" key (any case; an
 * integer, null meaning absent), else it is now_ms. */
#ifndef SL_JSON_IN_H
#define SL_JSON_IN_H

#include "error.h"
#include "row.h"
#include "schema.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_json_events sl_json_events;

/* Parses an ingest body.  Errors: BAD_REQUEST "empty body" (nothing but whitespace) or
 * "no events" (an empty array, or NDJSON of blank lines); BAD_EVENT for text that is not
 * JSON (index of the NDJSON event, else 0) or an event that is not an object.  On
 * success *out is a new list the caller frees with sl_json_events_free. */
int sl_json_events_parse(const char *body, size_t len, bool ndjson, sl_json_events **out,
                         sl_error *err);
size_t sl_json_events_count(const sl_json_events *ev);
/* Accepts NULL. */
void sl_json_events_free(sl_json_events *ev);

/* Converts every event to a row of schema (borrowed).  On success *rows is a new array
 * of sl_json_events_count(ev) self-contained rows; the caller frees it with
 * sl_json_rows_free. */
int sl_json_events_rows(const sl_json_events *ev, const sl_schema *schema, int64_t now_ms,
                        sl_row ***rows, sl_error *err);
/* Frees n rows and the array. Accepts NULL. */
void sl_json_rows_free(sl_row **rows, size_t n);

/* Parses an ISO-8601 date-time, "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]" (no offset
 * means UTC; digits past milliseconds are truncated), into epoch ms.  Returns 0, or -1
 * when s[0..len) is not one. */
int sl_json_parse_timestamp(const char *s, size_t len, int64_t *out);

/* The body of POST /v1/statements, /v1/queries and /v1/query in its JSON form. */
typedef struct sl_sql_request {
    char *sql; /* caller frees (with sl_sql_request_clear) */
    size_t sql_len;
    char *name;         /* NULL when not given */
    bool has_from;      /* "from" was given */
    bool from_earliest; /* "from":"earliest" (true) or "latest" (false) */
} sl_sql_request;

/* Parses {"sql":"...","name":"...","from":"earliest"|"latest"} (other keys ignored).
 * BAD_REQUEST when it is not JSON, "sql" is missing or not a string, or "name"/"from"
 * have the wrong type or value. */
int sl_sql_request_parse(const char *body, size_t len, sl_sql_request *out, sl_error *err);
/* Frees what a request holds and zeroes it. */
void sl_sql_request_clear(sl_sql_request *r);

#endif
