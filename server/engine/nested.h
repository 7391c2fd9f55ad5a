/* nested.h: ARRAY, MAP and STRUCT values as self-contained byte strings.
 *
 * An sl_value of kind ARRAY, MAP or STRUCT holds in u.s the *body* of the value,
 * encoded as below, so that rows copy, store and hash it like a string, and two equal
 * values have equal bytes (a MAP keeps its keys in the order they came in, so maps that
 * differ only in key order are different keys for GROUP BY).  All integers are
 * little-endian; nothing is aligned.
 *
 *   body  := count:u32 item*      ARRAY: count elements; MAP: count key/value pairs,
 *                                 each a VARCHAR item then its value; STRUCT: one item
 *                                 per field of its type, in the type's order
 *   item  := tag:u8 payload       tag: the sl_type of the item (SL_T_NULL: no payload)
 *   payload by tag:  BOOLEAN u8 (0 or 1);  INT, BIGINT, TIMESTAMP i64;  DOUBLE its 8
 *                    IEEE bytes;  DECIMAL scale:u8 lo:u64 hi:i64;  VARCHAR, BYTES,
 *                    ARRAY, MAP, STRUCT len:u32 then len bytes (a body for the last
 *                    three)
 *
 * Bodies built here or checked by sl_nested_validate are well formed, and the readers
 * trust them; every reader still checks an item's tag against the type the plan
 * expects, and gives NULL on a mismatch rather than a value of the wrong kind.
 * Values read out of a body borrow its bytes. */
#ifndef SL_NESTED_H
#define SL_NESTED_H

#include "buf.h"
#include "mem.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reading the items of a body one after another. */
typedef struct sl_nested_reader {
    const unsigned char *p, *end;
    uint32_t left; /* items not read yet */
} sl_nested_reader;

/* Starts reading v (ARRAY, MAP or STRUCT; borrowed, must outlive the reader). */
void sl_nested_open(sl_nested_reader *rd, const sl_value *v);
/* The next item into *out (borrowing the body's bytes); false at the end.  A MAP's
 * items are its keys and values, alternately. */
bool sl_nested_next(sl_nested_reader *rd, sl_value *out);
/* Elements of an ARRAY, pairs of a MAP, fields of a STRUCT. */
uint32_t sl_nested_count(const sl_value *v);

/* arr[i] in SQL terms: i counts from 1, a negative i from the end (-1 is the last);
 * NULL when out of range or when the element is not of kind want. */
sl_value sl_nested_array_at(const sl_value *arr, int64_t i, sl_type want);
/* map[key]: the value of the first pair with that key, or NULL. */
sl_value sl_nested_map_at(const sl_value *map, const char *key, uint32_t len, sl_type want);
/* The field at index (the type's order) of a STRUCT, or NULL. */
sl_value sl_nested_field(const sl_value *st, int index, sl_type want);

/* Building a body into a buffer.  Begin, put items (or nested values through
 * sl_nested_open_item / sl_nested_close_item), end; the body is then
 * out->data[start .. out->len). */
typedef struct sl_nested_writer {
    sl_buf *out;    /* borrowed */
    size_t start;   /* where the body's count is */
    uint32_t count; /* items written (pairs count as two) */
    size_t len_at;  /* for a nested writer: where its item's length goes */
} sl_nested_writer;

/* Starts a body at the end of out (borrowed). */
void sl_nested_begin(sl_nested_writer *w, sl_buf *out);
/* Appends v (borrowed; its bytes are copied) as one item. */
void sl_nested_put(sl_nested_writer *w, const sl_value *v);
/* Starts an item of kind (ARRAY, MAP or STRUCT) inside w, written through inner. */
void sl_nested_open_item(sl_nested_writer *w, sl_type kind, sl_nested_writer *inner);
/* Finishes inner (pairs: count is items / 2 for a MAP) and counts it as one item of w. */
void sl_nested_close_item(sl_nested_writer *w, sl_nested_writer *inner, sl_type kind);
/* Finishes the body of kind; returns its value, borrowing out's bytes (valid until out
 * changes). */
sl_value sl_nested_end(sl_nested_writer *w, sl_type kind);

/* sl_nested_end, then the body copied into arena a and its buffer freed: for a value
 * built in a buffer of its own (w->out, freed here) that must live as long as a. */
sl_value sl_nested_end_into(sl_nested_writer *w, sl_type kind, sl_arena *a);

/* Checks that p[0..len) is a well-formed body of kind, nested no deeper than
 * SL_MAX_TYPE_DEPTH.  0, or -1 with *why set to a static reason. */
int sl_nested_validate(sl_type kind, const void *p, size_t len, const char **why);

#endif
