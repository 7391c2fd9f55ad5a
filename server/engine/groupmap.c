/* groupmap.c: the keyed group map of groupmap.h.
 *
 * Linear probing with backward-shift deletion, so that removing an entry leaves no
 * tombstones.  An emptied map frees its slots, so that an idle query holds no state.  Invariant:
 * every entry reachable from first is in exactly one slot, and the slot array is at least twice as
 * large as count. */
#include "groupmap.h"

#include "mem.h"
#include "row.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MAP_MIN_SLOTS 8
#define MAP_SEED 0x736c756963650002ull

void sl_groupmap_init(sl_groupmap *m, int nkeys, size_t payload, size_t *state_bytes)
{
    memset(m, 0, sizeof(*m));
    m->nkeys = nkeys;
    m->payload = (payload + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    m->state_bytes = state_bytes;
}

static uint64_t hash_key(const sl_value *key, int n)
{
    uint64_t h = MAP_SEED;

    for (int i = 0; i < n; i++)
        h = sl_value_hash(&key[i], h);
    return h;
}

static bool key_eq(const sl_value *a, const sl_value *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!sl_value_eq(&a[i], &b[i]))
            return false;
    return true;
}

static void place(sl_groupmap *m, sl_gentry *e)
{
    size_t mask = m->nslots - 1, i = e->hash & mask;

    while (m->slots[i])
        i = (i + 1) & mask;
    m->slots[i] = e;
}

static void grow(sl_groupmap *m)
{
    size_t n = m->nslots ? m->nslots * 2 : MAP_MIN_SLOTS;

    free(m->slots);
    *m->state_bytes -= m->nslots * sizeof(sl_gentry *);
    m->slots = sl_xcalloc(n, sizeof(sl_gentry *));
    m->nslots = n;
    *m->state_bytes += n * sizeof(sl_gentry *);
    for (sl_gentry *e = m->first; e; e = e->next)
        place(m, e);
}

static sl_gentry *entry_new(sl_groupmap *m, const sl_value *key, uint64_t hash)
{
    size_t fixed = SL_GENTRY_HEADER_BYTES + m->payload, nkey = (size_t)m->nkeys * sizeof(sl_value);
    size_t nstr = sl_values_string_bytes((uint32_t)m->nkeys, key);
    sl_gentry *e = sl_xcalloc(1, fixed + nkey + nstr);

    e->hash = hash;
    e->bytes = fixed + nkey + nstr;
    e->key = (sl_value *)((char *)e + fixed);
    sl_values_pack(e->key, (uint32_t)m->nkeys, key, (char *)e->key + nkey);
    *m->state_bytes += e->bytes;
    return e;
}

sl_gentry *sl_groupmap_get(sl_groupmap *m, const sl_value *key, bool *made)
{
    uint64_t hash = hash_key(key, m->nkeys);
    size_t mask, i;
    sl_gentry *e;

    if ((m->count + 1) * 2 > m->nslots)
        grow(m);
    mask = m->nslots - 1;
    for (i = hash & mask; (e = m->slots[i]) != NULL; i = (i + 1) & mask) {
        if (e->hash == hash && key_eq(e->key, key, m->nkeys)) {
            *made = false;
            return e;
        }
    }
    e = entry_new(m, key, hash);
    m->slots[i] = e;
    m->count++;
    e->prev = m->last;
    if (m->last)
        m->last->next = e;
    else
        m->first = e;
    m->last = e;
    *made = true;
    return e;
}

void sl_groupmap_remove(sl_groupmap *m, sl_gentry *e)
{
    size_t mask = m->nslots - 1, i = e->hash & mask, j;

    while (m->slots[i] != e)
        i = (i + 1) & mask;
    /* Backward shift: move later entries of the probe run into the hole. */
    for (j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = m->slots[j]->hash & mask;

        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = NULL;
    m->count--;
    if (e->prev)
        e->prev->next = e->next;
    else
        m->first = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->last = e->prev;
    assert(*m->state_bytes >= e->bytes);
    *m->state_bytes -= e->bytes;
    free(e);
    if (m->count == 0)
        sl_groupmap_clear(m);
}

void sl_groupmap_clear(sl_groupmap *m)
{
    for (sl_gentry *e = m->first, *next; e; e = next) {
        next = e->next;
        *m->state_bytes -= e->bytes;
        free(e);
    }
    free(m->slots);
    *m->state_bytes -= m->nslots * sizeof(sl_gentry *);
    m->slots = NULL;
    m->nslots = m->count = 0;
    m->first = m->last = NULL;
}
