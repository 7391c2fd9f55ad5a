/* limits.h: every named limit in sluice, in one place.  Each is documented in
 * docs/limits.md; a user input beyond one gives an error (SL_ERR_LIMIT_EXCEEDED or
 * SL_ERR_TOO_LARGE), never an abort. */
#ifndef SL_LIMITS_H
#define SL_LIMITS_H

/* Longest identifier (stream, column, query name), in bytes. */
#define SL_MAX_IDENT 128
/* Most columns in a stream schema or a SELECT list. */
#define SL_MAX_COLUMNS 1024
/* Deepest nesting of expressions the parser accepts (guards its recursion). */
#define SL_MAX_EXPR_DEPTH 200
/* Most arguments of one scalar function call (GREATEST, COALESCE, CONCAT). */
#define SL_MAX_CALL_ARGS 100
/* Most elements in one IN (...) list and most WHEN branches in one CASE. */
#define SL_MAX_LIST 1000
/* Longest pattern of TIMESTAMPTOSTRING / STRINGTOTIMESTAMP, in bytes. */
#define SL_MAX_TIME_PATTERN 256
/* Longest string LPAD, RPAD, REPLACE or CONCAT may build, in bytes, and longest encoding
 * of an array SPLIT, COLLECT_LIST, COLLECT_SET or TOPK may build (longer: NULL). */
#define SL_MAX_BUILT_STRING (16 * 1024 * 1024)
/* Most elements an array of COLLECT_LIST or COLLECT_SET keeps (ksqlDB's
 * ksql.functions.collect_list.limit as Confluent Cloud sets it); later ones are left out. */
#define SL_MAX_COLLECT 1000
/* Largest k of TOPK(x, k). */
#define SL_MAX_TOPK 1000
/* Most statements in one POST /v1/statements body. */
#define SL_MAX_STATEMENTS 1000
/* Longest SQL text, in bytes. */
#define SL_MAX_SQL (1024 * 1024)
/* Longest VARCHAR value in an event, in bytes. */
#define SL_MAX_STRING (16 * 1024 * 1024)
/* Most digits of a DECIMAL(p,s): p is 1 .. this and s is 0 .. p. */
#define SL_MAX_DECIMAL_DIGITS 38
/* Deepest nesting of ARRAY, MAP and STRUCT types in one column type (STRUCT<A ARRAY<INT>>
 * is 2 deep); it also bounds the nesting of the values of such a column. */
#define SL_MAX_TYPE_DEPTH 16
/* Most fields in one STRUCT type. */
#define SL_MAX_STRUCT_FIELDS 1024
/* Deepest nesting of JSON values (the event object counts as 1) the single-pass ingest
 * decoder follows; a deeper body is decoded by jansson, whose own limit is 2048. */
#define SL_MAX_JSON_DEPTH 64
/* Output changes a query keeps in memory for `?from=SEQ` resumption. */
#define SL_MAX_OUTPUT_HISTORY 100000
/* Late rows a query keeps in memory for its late stream's `?from=SEQ`. */
#define SL_MAX_LATE_HISTORY 10000
/* Default --checkpoint-interval: how long a persistent query that changed goes without
 * a checkpoint, at most, in ms (checkpoints are taken by the once-a-second upkeep). */
#define SL_DEFAULT_CHECKPOINT_INTERVAL_MS 10000
/* Events a persistent query may read after its last checkpoint before the next upkeep
 * takes one, however short the time. */
#define SL_CHECKPOINT_EVENTS 100000
/* Bytes of a query's checkpointed engine state stored in one SQLite row (and written in
 * one transaction of its own, off the server lock): a state of any size is stored in
 * parts of at most this much, far below SQLite's 1 GB limit on one value, and ingest
 * waits for the store at most about one part's write. */
#define SL_CHECKPOINT_PART_BYTES (1u * 1024 * 1024)
/* Default --max-body, bytes. */
#define SL_DEFAULT_MAX_BODY (64ull * 1024 * 1024)
/* Default --subscriber-buffer, bytes. */
#define SL_DEFAULT_SUBSCRIBER_BUFFER (8ull * 1024 * 1024)
/* Most windows one row may fall in (HOPPING: SIZE / ADVANCE BY; CUMULATING: SIZE /
 * STEP; COUNT: n / ADVANCE BY); more is LIMIT_EXCEEDED. */
#define SL_MAX_WINDOWS_PER_ROW 1000
/* Largest window SIZE / GRACE / ADVANCE, in milliseconds (about 100 years). */
#define SL_MAX_DURATION_MS (100ll * 365 * 24 * 3600 * 1000)
/* Default --max-pending-bodies: POST bodies being received or processed at once; one
 * more is answered 429 with Retry-After. */
#define SL_DEFAULT_MAX_PENDING_BODIES 64
/* Default --max-pending-bytes: bytes those bodies may hold (or reserve by their
 * Content-Length) together. */
#define SL_DEFAULT_MAX_PENDING_BYTES (256ull * 1024 * 1024)
/* Default --max-connections: open connections, result streams included. */
#define SL_DEFAULT_MAX_CONNECTIONS 1024
/* Default --http-threads: libmicrohttpd polling threads serving connections (each
 * accepts on its own and takes its share of --max-connections). */
#define SL_DEFAULT_HTTP_THREADS 2
/* Largest --http-threads. */
#define SL_MAX_HTTP_THREADS 64
/* The Retry-After of a 429 answer, in seconds (a string: it is a header value). */
#define SL_RETRY_AFTER_S "1"
/* Default --query-state-limit: bytes of state a query may hold before it fails alone. */
#define SL_DEFAULT_QUERY_STATE_LIMIT (256ull * 1024 * 1024)
/* Largest per-query "state_limit" (and --query-state-limit), bytes. */
#define SL_MAX_QUERY_STATE_LIMIT (16ull * 1024 * 1024 * 1024)
/* How long an acknowledged ingest request's Idempotency-Key is remembered, in ms. */
#define SL_IDEMPOTENCY_TTL_MS (24ll * 3600 * 1000)
/* Longest Idempotency-Key header value, in bytes. */
#define SL_MAX_IDEMPOTENCY_KEY 255

#endif
