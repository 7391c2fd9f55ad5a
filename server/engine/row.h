/* row.h: the row every operator passes along.
 *
 * A row is ROWTIME plus ncols values.  A row made by sl_row_copy owns its VARCHAR bytes:
 * they are packed into the same allocation right after the values, so one free releases
 * everything.  Rows handed to a callback are borrowed for the duration of the call. */
#ifndef SL_ROW_H
#define SL_ROW_H

#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_row {
    int64_t rowtime; /* event time, epoch ms */
    uint32_t ncols;
    sl_value v[];
} sl_row;

/* A row of ncols NULLs with rowtime 0; caller frees with sl_row_free.  The caller may
 * point VARCHAR values at memory it keeps alive for the row's life. */
sl_row *sl_row_new(uint32_t ncols);
/* A self-contained deep copy (strings packed inside); caller frees. */
sl_row *sl_row_copy(const sl_row *r);
/* A self-contained row from rowtime and ncols values (strings copied); caller frees. */
sl_row *sl_row_make(int64_t rowtime, uint32_t ncols, const sl_value *v);
/* The bytes of the row sl_row_make would allocate for ncols values v. */
size_t sl_row_make_size(uint32_t ncols, const sl_value *v);
/* sl_row_make into mem (sl_row_make_size(ncols, v) bytes, aligned for sl_row), for many
 * rows in one allocation: the row is mem, freed with it, never by sl_row_free. */
sl_row *sl_row_make_in(void *mem, int64_t rowtime, uint32_t ncols, const sl_value *v);
/* Total length of the VARCHAR values among v[0..n). */
size_t sl_values_string_bytes(uint32_t n, const sl_value *v);
/* Copies v[0..n) (borrowed) into dst, packing the bytes of each VARCHAR value from
 * strings on (room for sl_values_string_bytes(n, v)); dst's VARCHAR values then point
 * there.  Returns the end of the bytes written. */
char *sl_values_pack(sl_value *dst, uint32_t n, const sl_value *v, char *strings);
/* Bytes a copy of this row occupies (for state accounting). */
size_t sl_row_bytes(const sl_row *r);
/* A hash of the row's key, the values of columns keys[0..nkeys) (a plan's output key),
 * consistent with sl_row_same_key. */
uint64_t sl_row_key_hash(const sl_row *row, const int *keys, int nkeys);
/* Whether a and b have equal values (NULL equals NULL) in columns keys[0..nkeys). */
bool sl_row_same_key(const sl_row *a, const sl_row *b, const int *keys, int nkeys);
/* Accepts NULL. */
void sl_row_free(sl_row *r);

#endif
