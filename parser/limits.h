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
/* Most statements in one POST /v1/statements body. */
#define SL_MAX_STATEMENTS 1000
/* Longest SQL text, in bytes. */
#define SL_MAX_SQL (1024 * 1024)
/* Longest VARCHAR value in an event, in bytes. */
#define SL_MAX_STRING (16 * 1024 * 1024)
/* Output changes a query keeps in memory for `?from=SEQ` resumption. */
#define SL_MAX_OUTPUT_HISTORY 100000
/* Default --max-body, bytes. */
#define SL_DEFAULT_MAX_BODY (64ull * 1024 * 1024)
/* Default --subscriber-buffer, bytes. */
#define SL_DEFAULT_SUBSCRIBER_BUFFER (8ull * 1024 * 1024)
/* Largest window SIZE / GRACE / ADVANCE, in milliseconds (about 100 years). */
#define SL_MAX_DURATION_MS (100ll * 365 * 24 * 3600 * 1000)

#endif
