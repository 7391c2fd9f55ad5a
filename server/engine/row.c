/* row.c: making, copying and freeing rows.
 *
 * A self-contained row is one allocation: the sl_row header, its ncols values, then the
 * bytes of every VARCHAR, BYTES, ARRAY, MAP and STRUCT value (sl_type_has_bytes) packed
 * one after another.  Invariant: in a row made here, every such value points into that
 * trailing area, so sl_row_free releases it all. */
#include "row.h"

#include "mem.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of the header plus the values of a row of ncols columns. */
static size_t head_bytes(uint32_t ncols)
{
    return sizeof(sl_row) + (size_t)ncols * sizeof(sl_value);
}

size_t sl_values_string_bytes(uint32_t n, const sl_value *v)
{
    size_t bytes = 0;

    for (uint32_t i = 0; i < n; i++)
        if (sl_type_has_bytes(v[i].type))
            bytes += v[i].u.s.len;
    return bytes;
}

char *sl_values_pack(sl_value *dst, uint32_t n, const sl_value *v, char *strings)
{
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = v[i];
        if (sl_type_has_bytes(v[i].type)) {
            if (v[i].u.s.len)
                memcpy(strings, v[i].u.s.ptr, v[i].u.s.len);
            dst[i].u.s.ptr = strings;
            strings += v[i].u.s.len;
        }
    }
    return strings;
}

sl_row *sl_row_new(uint32_t ncols)
{
    sl_row *r = sl_xcalloc(1, head_bytes(ncols));

    r->ncols = ncols;
    for (uint32_t i = 0; i < ncols; i++)
        r->v[i] = sl_null();
    return r;
}

size_t sl_row_make_size(uint32_t ncols, const sl_value *v)
{
    return head_bytes(ncols) + sl_values_string_bytes(ncols, v);
}

sl_row *sl_row_make_in(void *mem, int64_t rowtime, uint32_t ncols, const sl_value *v)
{
    sl_row *r = mem;

    r->rowtime = rowtime;
    r->ncols = ncols;
    sl_values_pack(r->v, ncols, v, (char *)r + head_bytes(ncols));
    return r;
}

sl_row *sl_row_make(int64_t rowtime, uint32_t ncols, const sl_value *v)
{
    return sl_row_make_in(sl_xmalloc(sl_row_make_size(ncols, v)), rowtime, ncols, v);
}

sl_row *sl_row_copy(const sl_row *r)
{
    return sl_row_make(r->rowtime, r->ncols, r->v);
}

size_t sl_row_bytes(const sl_row *r)
{
    return head_bytes(r->ncols) + sl_values_string_bytes(r->ncols, r->v);
}

uint64_t sl_row_key_hash(const sl_row *row, const int *keys, int nkeys)
{
    uint64_t h = 0x5eed;

    for (int i = 0; i < nkeys; i++)
        h = sl_value_hash(&row->v[keys[i]], h);
    return h;
}

bool sl_row_same_key(const sl_row *a, const sl_row *b, const int *keys, int nkeys)
{
    for (int i = 0; i < nkeys; i++)
        if (!sl_value_eq(&a->v[keys[i]], &b->v[keys[i]]))
            return false;
    return true;
}

void sl_row_free(sl_row *r)
{
    free(r);
}
