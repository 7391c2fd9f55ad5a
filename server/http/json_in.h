/* json_in.h: decoding request bodies: ingest events into rows, and the {"sql": ...}
 * request object.
 *
 * An ingest body is one object, an array of objects, or NDJSON (one object a line,
 * blank lines skipped).  sl_json_decode_events turns it into rows of a stream's schema
 * in one pass (a schema-directed decoder, with jansson as the reference it must agree
 * with and the path that words every error).  Decoding is atomic: an error names the
 * event (err->index, 0-based) and, where one is at fault, its field, and nothing is
 * returned.
 *
 * Conversion rules: JSON keys match columns with sl_schema_find_json; unknown keys are
 * ignored; a missing key or null is NULL; two keys naming one column are an error.  No
 * coercion: INT takes integers in 32-bit range, BIGINT integers, DOUBLE integers and
 * reals, VARCHAR strings (at most SL_MAX_STRING bytes), BOOLEAN true/false, TIMESTAMP an
 * epoch-ms integer or an ISO-8601 string, BYTES a base64 string, ARRAY a JSON array,
 * MAP an object (keys in the order given), STRUCT an object whose keys name fields as
 * keys name columns (unknown ones ignored, missing ones NULL); elements and fields
 * follow the same rules, and an error below a key names the path ("tags[2]").  ROWTIME comes from
 * the schema's timestamp column (which must not be null), else from a top-level "ROWTIME" key (any
 * case; an integer, null meaning absent), else it is now_ms. */
#ifndef SL_JSON_IN_H
#define SL_JSON_IN_H

#include "error.h"
#include "row.h"
#include "schema.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes an ingest body into rows of schema (borrowed).  Errors: BAD_REQUEST "empty
 * body" (nothing but whitespace) or "no events" (an empty array); BAD_EVENT for text
 * that is not JSON (index of the NDJSON event, else 0), an event that is not an
 * object, or a value the rules above reject.  On success *rows is a new array of *n
 * self-contained rows; the caller frees it with sl_json_rows_free. */
int sl_json_decode_events(const char *body, size_t len, bool ndjson, const sl_schema *schema,
                          int64_t now_ms, sl_row ***rows, size_t *n, sl_error *err);
/* The single-pass decoder alone: 0 with the rows as above, or -1 and nothing (no error
 * is set) when it does not decode the body itself: an error, or a shape it leaves to the
 * reference (a non-null value of a BYTES, ARRAY, MAP or STRUCT column, keys with escapes
 * in skipped objects, more than 32 unknown keys in one object, nesting deeper than
 * SL_MAX_JSON_DEPTH). */
int sl_json_decode_fast(const char *body, size_t len, bool ndjson, const sl_schema *schema,
                        int64_t now_ms, sl_row ***rows, size_t *n);
/* The reference decoder alone (jansson: a tree, then conversion), same contract as
 * sl_json_decode_events. */
int sl_json_decode_reference(const char *body, size_t len, bool ndjson, const sl_schema *schema,
                             int64_t now_ms, sl_row ***rows, size_t *n, sl_error *err);

/* Frees the n rows and the array of a decoder above: one allocation holds them all (a
 * malloc and a free per body, not per event), so n only documents the call.  Accepts
 * NULL. */
void sl_json_rows_free(sl_row **rows, size_t n);

/* Parses an ISO-8601 date-time, "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]" (no offset
 * means UTC; digits past milliseconds are truncated), into epoch ms.  Returns 0, or -1
 * when s[0..len) is not one. */
int sl_json_parse_timestamp(const char *s, size_t len, int64_t *out);

/* The body of POST /v1/statements, /v1/queries and /v1/query in its JSON form. */
typedef struct sl_sql_request {
    char *sql; /* caller frees (with sl_sql_request_clear) */
    size_t sql_len;
    char *name;           /* NULL when not given */
    bool has_from;        /* "from" was given */
    bool from_earliest;   /* "from":"earliest" (true) or "latest" (false) */
    uint64_t state_limit; /* "state_limit" in bytes, 0 when not given */
} sl_sql_request;

/* Parses {"sql":"...","name":"...","from":"earliest"|"latest","state_limit":N} (other
 * keys ignored).  BAD_REQUEST when it is not JSON, "sql" is missing or not a string, or
 * "name"/"from"/"state_limit" have the wrong type or value (state_limit: an integer
 * from 1 to SL_MAX_QUERY_STATE_LIMIT). */
int sl_sql_request_parse(const char *body, size_t len, sl_sql_request *out, sl_error *err);
/* Frees what a request holds and zeroes it. */
void sl_sql_request_clear(sl_sql_request *r);

#endif
