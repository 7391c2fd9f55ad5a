/* groupmap.h: groups keyed by their GROUP BY values, for the AGGREGATE operators: the
 * groups of a plain GROUP BY or of one TUMBLING, HOPPING or CUMULATING window, and the
 * groups that SESSION, SLIDING and COUNT windows live inside.
 *
 * A map holds entries in an open-addressing hash table keyed by sl_value_hash /
 * sl_value_eq over nkeys values (NULL equals NULL), chained in first-seen order.  An
 * entry is one allocation: the header, a payload of the map's payload size (zeroed when
 * made, max_align_t aligned) and the key values with their VARCHAR bytes.  Every entry
 * and the slot array are counted in *state_bytes from allocation to free, an entry with
 * the heap bytes its payload owns (sl_groupmap_account). */
#ifndef SL_GROUPMAP_H
#define SL_GROUPMAP_H

#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_gentry sl_gentry;
struct sl_gentry {
    sl_gentry *prev, *next; /* first-seen order */
    uint64_t hash;
    size_t bytes;  /* of this allocation, and the heap its payload owns */
    sl_value *key; /* nkeys values, inside the allocation */
};

typedef struct sl_groupmap {
    int nkeys;
    size_t payload;      /* bytes of payload per entry */
    size_t *state_bytes; /* borrowed: the query's state counter */
    sl_gentry **slots;   /* NULL is empty; nslots 0 or a power of two >= 2 * count */
    size_t nslots, count;
    sl_gentry *first, *last;
} sl_groupmap;

/* Sets up m (caller-owned storage) for keys of nkeys values and payload bytes each. */
void sl_groupmap_init(sl_groupmap *m, int nkeys, size_t payload, size_t *state_bytes);
/* The entry of key (borrowed; copied when new), made at the end of first-seen order
 * when there is none; *made says which.  Borrowed: the map owns it. */
sl_gentry *sl_groupmap_get(sl_groupmap *m, const sl_value *key, bool *made);
/* Removes and frees e; the caller has released what its payload owns. */
void sl_groupmap_remove(sl_groupmap *m, sl_gentry *e);
/* Frees every entry (the caller has released their payloads) and the slots. */
void sl_groupmap_clear(sl_groupmap *m);

/* Counts n more heap bytes that e's payload owns: in *state_bytes now, and given back
 * with e when it is removed or the map cleared. */
static inline void sl_groupmap_account(sl_groupmap *m, sl_gentry *e, size_t n)
{
    e->bytes += n;
    *m->state_bytes += n;
}

/* Where an entry's payload starts: the header rounded up to max_align_t. */
#define SL_GENTRY_HEADER_BYTES                                                                     \
    ((sizeof(sl_gentry) + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t))

/* The payload of e. */
static inline void *sl_gentry_payload(sl_gentry *e)
{
    return (char *)e + SL_GENTRY_HEADER_BYTES;
}

#endif
