/* typedesc.h: full descriptions of SQL types, parameters included.
 *
 * The sl_type enum names a type's kind; that is all BOOLEAN, INT, BIGINT, DOUBLE,
 * VARCHAR, TIMESTAMP and BYTES need.  DECIMAL(p,s), ARRAY<T>, MAP<VARCHAR,T> and
 * STRUCT<name T, ...> carry parameters: an sl_typedesc says them.  Columns, bound
 * expressions, aggregate calls and result columns keep a `desc` beside their `type`;
 * it is non-NULL exactly when the kind is DECIMAL, ARRAY, MAP or STRUCT (use
 * sl_typedesc_of to get one for any kind).
 *
 * A descriptor is immutable once made.  Its element and field types are never NULL:
 * a parameterless kind inside one points at a static descriptor (sl_typedesc_scalar).
 * A descriptor is owned by the arena it was made in; sl_typedesc_copy takes one into
 * another arena.  Invariant: nesting depth <= SL_MAX_TYPE_DEPTH, a STRUCT has 1 ..
 * SL_MAX_STRUCT_FIELDS fields with distinct names, 1 <= precision <=
 * SL_MAX_DECIMAL_DIGITS and scale <= precision. */
#ifndef SL_TYPEDESC_H
#define SL_TYPEDESC_H

#include "buf.h"
#include "mem.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_typedesc sl_typedesc;

typedef struct sl_field {
    char *name;  /* normalised as identifiers are: unquoted upper-cased */
    bool quoted; /* declared quoted: a JSON key must match it exactly */
    const sl_typedesc *type;
} sl_field;

struct sl_typedesc {
    sl_type kind;
    uint8_t precision, scale; /* DECIMAL */
    uint8_t depth;            /* 0 for a scalar, else 1 + the deepest element/field */
    const sl_typedesc *elem;  /* ARRAY: the element type; MAP: the value type */
    int nfields;              /* STRUCT */
    const sl_field *fields;
};

/* The static descriptor of a parameterless kind (NULL, BOOLEAN, INT, BIGINT, DOUBLE,
 * VARCHAR, TIMESTAMP, BYTES); NULL for DECIMAL, ARRAY, MAP, STRUCT. */
const sl_typedesc *sl_typedesc_scalar(sl_type kind);
/* desc when it is non-NULL, else the static descriptor of kind (never NULL for a
 * kind whose desc may be NULL). */
const sl_typedesc *sl_typedesc_of(sl_type kind, const sl_typedesc *desc);
/* New descriptors owned by arena a.  elem and field types are borrowed and must live
 * as long as the result (same arena, or static).  The caller checks the invariants
 * (sl_typedesc_struct copies the fields array, not the names or types). */
const sl_typedesc *sl_typedesc_decimal(sl_arena *a, int precision, int scale);
const sl_typedesc *sl_typedesc_array(sl_arena *a, const sl_typedesc *elem);
const sl_typedesc *sl_typedesc_map(sl_arena *a, const sl_typedesc *value);
const sl_typedesc *sl_typedesc_struct(sl_arena *a, int nfields, const sl_field *fields);
/* A deep copy of d (borrowed) owned by arena a; a static descriptor is returned as it is. */
const sl_typedesc *sl_typedesc_copy(const sl_typedesc *d, sl_arena *a);
/* True when a and b describe the same type (field names compared exactly). */
bool sl_typedesc_equal(const sl_typedesc *a, const sl_typedesc *b);
/* Appends the SQL spelling of d: "DECIMAL(10, 2)", "ARRAY<VARCHAR>",
 * "MAP<VARCHAR, INT>", "STRUCT<A INT, `b` VARCHAR>" (quoted field names in backquotes). */
void sl_typedesc_format(const sl_typedesc *d, sl_buf *out);
/* The SQL spelling of a column's type as a new string in arena a. */
const char *sl_typedesc_name(sl_type kind, const sl_typedesc *desc, sl_arena *a);
/* The index of a STRUCT's field that name[0..len) names, or -1.  exact: compare bytes
 * (a normalised SQL name); otherwise as a JSON key matches (case-insensitively, except
 * that a quoted field matches only exactly). */
int sl_typedesc_field(const sl_typedesc *d, const char *name, size_t len, bool exact);

#endif
