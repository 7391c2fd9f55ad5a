/* error.c: filling sl_error and naming its codes; the tables derive from errors.def. */
#include "error.h"

#include <stdio.h>
#include <string.h>

static const char *const code_names[] = {
#define X(name, status, msg) #name,
#include "errors.def"
#undef X
};

static const int code_status[] = {
#define X(name, status, msg) status,
#include "errors.def"
#undef X
};

void sl_error_clear(sl_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->code = SL_ERR_OK;
    err->index = -1;
}

int sl_error_setv(sl_error *err, sl_errcode code, int line, int column, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    sl_error_clear(err);
    err->code = code;
    err->line = line;
    err->column = column;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return -1;
}

int sl_error_set(sl_error *err, sl_errcode code, int line, int column, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sl_error_setv(err, code, line, column, fmt, ap);
    va_end(ap);
    return -1;
}

const char *sl_error_code_name(sl_errcode code)
{
    if ((unsigned)code >= SL_ERR__COUNT)
        return "INTERNAL";
    return code_names[code];
}

int sl_error_http_status(sl_errcode code)
{
    if ((unsigned)code >= SL_ERR__COUNT)
        return 500;
    return code_status[code];
}
