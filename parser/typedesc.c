/* typedesc.c: making, copying, comparing and spelling type descriptors.
 *
 * Parameterless kinds share static descriptors, so that element and field types are
 * never NULL and a copy of one costs nothing. */
#include "typedesc.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

static const sl_typedesc scalars[SL_T__COUNT] = {
    [SL_T_NULL] = {.kind = SL_T_NULL},
    [SL_T_BOOLEAN] = {.kind = SL_T_BOOLEAN},
    [SL_T_INT] = {.kind = SL_T_INT},
    [SL_T_BIGINT] = {.kind = SL_T_BIGINT},
    [SL_T_DOUBLE] = {.kind = SL_T_DOUBLE},
    [SL_T_VARCHAR] = {.kind = SL_T_VARCHAR},
    [SL_T_TIMESTAMP] = {.kind = SL_T_TIMESTAMP},
    [SL_T_BYTES] = {.kind = SL_T_BYTES},
};

static bool parameterised(sl_type kind)
{
    return kind == SL_T_DECIMAL || kind == SL_T_ARRAY || kind == SL_T_MAP || kind == SL_T_STRUCT;
}

const sl_typedesc *sl_typedesc_scalar(sl_type kind)
{
    if ((unsigned)kind >= SL_T__COUNT || parameterised(kind))
        return NULL;
    return &scalars[kind];
}

const sl_typedesc *sl_typedesc_of(sl_type kind, const sl_typedesc *desc)
{
    return desc ? desc : sl_typedesc_scalar(kind);
}

const sl_typedesc *sl_typedesc_decimal(sl_arena *a, int precision, int scale)
{
    sl_typedesc *d = sl_arena_alloc(a, sizeof(*d));

    d->kind = SL_T_DECIMAL;
    d->precision = (uint8_t)precision;
    d->scale = (uint8_t)scale;
    return d;
}

static const sl_typedesc *container(sl_arena *a, sl_type kind, const sl_typedesc *elem)
{
    sl_typedesc *d = sl_arena_alloc(a, sizeof(*d));

    d->kind = kind;
    d->elem = elem;
    d->depth = (uint8_t)(elem->depth + 1);
    return d;
}

const sl_typedesc *sl_typedesc_array(sl_arena *a, const sl_typedesc *elem)
{
    return container(a, SL_T_ARRAY, elem);
}

const sl_typedesc *sl_typedesc_map(sl_arena *a, const sl_typedesc *value)
{
    return container(a, SL_T_MAP, value);
}

const sl_typedesc *sl_typedesc_struct(sl_arena *a, int nfields, const sl_field *fields)
{
    sl_typedesc *d = sl_arena_alloc(a, sizeof(*d));
    sl_field *f = sl_arena_alloc(a, (size_t)nfields * sizeof(*f));
    int depth = 0;

    memcpy(f, fields, (size_t)nfields * sizeof(*f));
    for (int i = 0; i < nfields; i++) {
        if (f[i].type->depth > depth)
            depth = f[i].type->depth;
    }
    d->kind = SL_T_STRUCT;
    d->nfields = nfields;
    d->fields = f;
    d->depth = (uint8_t)(depth + 1);
    return d;
}

const sl_typedesc *sl_typedesc_copy(const sl_typedesc *d, sl_arena *a)
{
    if (!d || !parameterised(d->kind))
        return d;
    switch (d->kind) {
    case SL_T_DECIMAL:
        return sl_typedesc_decimal(a, d->precision, d->scale);
    case SL_T_ARRAY:
    case SL_T_MAP:
        return container(a, d->kind, sl_typedesc_copy(d->elem, a));
    default: {
        sl_field *f = sl_arena_alloc(a, (size_t)d->nfields * sizeof(*f));
        for (int i = 0; i < d->nfields; i++) {
            f[i].name = sl_arena_strdup(a, d->fields[i].name);
            f[i].quoted = d->fields[i].quoted;
            f[i].type = sl_typedesc_copy(d->fields[i].type, a);
        }
        return sl_typedesc_struct(a, d->nfields, f);
    }
    }
}

bool sl_typedesc_equal(const sl_typedesc *a, const sl_typedesc *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case SL_T_DECIMAL:
        return a->precision == b->precision && a->scale == b->scale;
    case SL_T_ARRAY:
    case SL_T_MAP:
        return sl_typedesc_equal(a->elem, b->elem);
    case SL_T_STRUCT:
        if (a->nfields != b->nfields)
            return false;
        for (int i = 0; i < a->nfields; i++) {
            if (strcmp(a->fields[i].name, b->fields[i].name) != 0 ||
                !sl_typedesc_equal(a->fields[i].type, b->fields[i].type))
                return false;
        }
        return true;
    default:
        return true;
    }
}

void sl_typedesc_format(const sl_typedesc *d, sl_buf *out)
{
    switch (d->kind) {
    case SL_T_DECIMAL:
        sl_buf_printf(out, "DECIMAL(%d, %d)", d->precision, d->scale);
        break;
    case SL_T_ARRAY:
        sl_buf_puts(out, "ARRAY<");
        sl_typedesc_format(d->elem, out);
        sl_buf_putc(out, '>');
        break;
    case SL_T_MAP:
        sl_buf_puts(out, "MAP<VARCHAR, ");
        sl_typedesc_format(d->elem, out);
        sl_buf_putc(out, '>');
        break;
    case SL_T_STRUCT:
        sl_buf_puts(out, "STRUCT<");
        for (int i = 0; i < d->nfields; i++) {
            if (i)
                sl_buf_puts(out, ", ");
            if (d->fields[i].quoted)
                sl_buf_printf(out, "`%s`", d->fields[i].name);
            else
                sl_buf_puts(out, d->fields[i].name);
            sl_buf_putc(out, ' ');
            sl_typedesc_format(d->fields[i].type, out);
        }
        sl_buf_putc(out, '>');
        break;
    default:
        sl_buf_puts(out, sl_type_name(d->kind));
        break;
    }
}

const char *sl_typedesc_name(sl_type kind, const sl_typedesc *desc, sl_arena *a)
{
    sl_buf b = SL_BUF_INIT;
    const char *name;

    if (!desc)
        return sl_type_name(kind);
    sl_typedesc_format(desc, &b);
    name = sl_arena_strndup(a, b.data, b.len);
    sl_buf_free(&b);
    return name;
}

int sl_typedesc_field(const sl_typedesc *d, const char *name, size_t len, bool exact)
{
    for (int i = 0; i < d->nfields; i++) {
        const sl_field *f = &d->fields[i];
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return i;
    }
    if (exact)
        return -1;
    for (int i = 0; i < d->nfields; i++) {
        const sl_field *f = &d->fields[i];
        if (!f->quoted && strlen(f->name) == len && strncasecmp(f->name, name, len) == 0)
            return i;
    }
    return -1;
}
