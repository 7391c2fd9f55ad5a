/* schema.c: copying stream schemas and finding their columns.
 *
 * A schema made by sl_schema_copy lives on the heap, each string its own allocation, so
 * that it outlives the statement (and arena) it was declared in; the descriptors of its
 * parameterised column types are copied into an arena of its own.  Column names are
 * stored normalised (see schema.h), so sl_schema_find compares bytes exactly. */
#include "schema.h"

#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

sl_schema *sl_schema_copy(const sl_schema *s)
{
    sl_schema *c = sl_xcalloc(1, sizeof(*c));

    *c = *s;
    c->name = sl_xstrdup(s->name);
    c->cols = sl_xcalloc((size_t)s->ncols, sizeof(*c->cols));
    c->arena = NULL;
    for (int i = 0; i < s->ncols; i++) {
        c->cols[i] = s->cols[i];
        c->cols[i].name = sl_xstrdup(s->cols[i].name);
        if (s->cols[i].desc) {
            if (!c->arena)
                c->arena = sl_arena_new();
            c->cols[i].desc = sl_typedesc_copy(s->cols[i].desc, c->arena);
        }
    }
    return c;
}

void sl_schema_free(sl_schema *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->ncols; i++)
        free(s->cols[i].name);
    free(s->cols);
    free(s->name);
    sl_arena_free(s->arena);
    free(s);
}

int sl_schema_find(const sl_schema *s, const char *name, size_t len)
{
    for (int i = 0; i < s->ncols; i++) {
        if (strlen(s->cols[i].name) == len && memcmp(s->cols[i].name, name, len) == 0)
            return i;
    }
    return -1;
}

int sl_schema_find_json(const sl_schema *s, const char *key, size_t len)
{
    /* An exact match wins (it is the only way to reach a quoted column); otherwise an
     * unquoted column matches whatever the key's case. */
    int i = sl_schema_find(s, key, len);

    if (i >= 0)
        return i;
    for (i = 0; i < s->ncols; i++) {
        if (!s->cols[i].quoted && strlen(s->cols[i].name) == len &&
            strncasecmp(s->cols[i].name, key, len) == 0)
            return i;
    }
    return -1;
}
