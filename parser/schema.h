/* schema.h: a stream's schema and the catalog interface the compiler binds against.
 *
 * The compiler never sees storage: it asks the catalog, through a lookup callback, for
 * the schema of a name.  Names of streams and columns are stored normalised: an
 * unquoted identifier upper-cased, a quoted one exactly as written (quoted = true). */
#ifndef SL_SCHEMA_H
#define SL_SCHEMA_H

#include "mem.h"
#include "typedesc.h"
#include "value.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sl_column {
    char *name;
    sl_type type;
    bool key;                /* declared KEY (streams) */
    bool quoted;             /* declared as a quoted identifier: JSON keys must match exactly */
    const sl_typedesc *desc; /* DECIMAL, ARRAY, MAP, STRUCT: the parameters; else NULL */
} sl_column;

#define SL_DEFAULT_RETENTION_MS (7ll * 24 * 3600 * 1000)

typedef struct sl_schema {
    char *name;
    bool name_quoted;
    int ncols;
    sl_column *cols;
    int timestamp_col;       /* column ROWTIME is read from (WITH TIMESTAMP=), -1 when none */
    int64_t retention_ms;    /* WITH RETENTION=, default SL_DEFAULT_RETENTION_MS */
    int64_t idle_timeout_ms; /* WITH IDLE_TIMEOUT=, 0 when not set */
    sl_arena *arena;         /* a copy's column types live here; NULL in a statement */
} sl_schema;

/* A deep copy on the heap (not in any arena); caller frees with sl_schema_free. */
sl_schema *sl_schema_copy(const sl_schema *s);
/* Frees a schema made by sl_schema_copy. Accepts NULL. */
void sl_schema_free(sl_schema *s);
/* Index of the column whose normalised name equals name[0..len), or -1. */
int sl_schema_find(const sl_schema *s, const char *name, size_t len);
/* Index of the column a JSON key names: case-insensitive, except that a quoted column
 * matches only exactly.  -1 when none. */
int sl_schema_find_json(const sl_schema *s, const char *key, size_t len);

/* The catalog as the compiler sees it.  lookup returns a schema that stays valid for as
 * long as the caller holds the catalog (borrowed), or NULL when the name is unknown.
 * zone_exists says whether a TIME ZONE name can be loaded (the compiler does no I/O);
 * when it is NULL, every TIME ZONE is unknown. */
typedef struct sl_catalog {
    void *ctx;
    const sl_schema *(*lookup)(void *ctx, const char *name);
    bool (*zone_exists)(void *ctx, const char *name);
} sl_catalog;

#endif
