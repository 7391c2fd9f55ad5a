/* error.h: the error type every layer reports through.
 *
 * A caller owns an sl_error (usually on its stack) and passes a pointer down; the
 * function that fails fills it with a code, an optional position in the SQL text and a
 * message, then returns a negative value.  The struct maps one to one onto the API's
 * {"error":{"code":...,"message":...,"line":...,"column":...}}.  line/column are 0 when
 * no SQL position applies; index/field are -1/"" unless an ingested event is at fault. */
#ifndef SL_ERROR_H
#define SL_ERROR_H

#include <stdarg.h>

typedef enum sl_errcode {
#define X(name, status, msg) SL_ERR_##name,
#include "errors.def"
#undef X
    SL_ERR__COUNT
} sl_errcode;

#define SL_ERROR_MSG_MAX 512
#define SL_ERROR_FIELD_MAX 128

typedef struct sl_error {
    sl_errcode code;
    int line;   /* 1-based line in the SQL text, 0 when none */
    int column; /* 1-based column in the SQL text, 0 when none */
    long index; /* 0-based index of the bad event in an ingest request, -1 when none */
    char field[SL_ERROR_FIELD_MAX]; /* the bad event's field, "" when none */
    char message[SL_ERROR_MSG_MAX];
} sl_error;

/* Resets err to SL_ERR_OK with no position. err may be NULL. */
void sl_error_clear(sl_error *err);

/* Fills err (may be NULL) with code, position and a printf-style message, and returns
 * -1 so that callers can write `return sl_error_set(...)`. */
int sl_error_set(sl_error *err, sl_errcode code, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int sl_error_setv(sl_error *err, sl_errcode code, int line, int column, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/* The code's name as the API spells it ("SYNTAX_ERROR"); static storage. */
const char *sl_error_code_name(sl_errcode code);

/* The HTTP status that goes with the code (400, 404, ...). */
int sl_error_http_status(sl_errcode code);

#endif
