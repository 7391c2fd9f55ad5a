/* microbatch.c: the change buffer behind EMIT CHANGES EVERY (microbatch.h).
 *
 * Held changes live in a group map keyed by the result row's key columns; each entry
 * owns a copy of its latest row.  The root operator counts a change in rows_out when it
 * hands it over; the buffer takes that back and counts it again when it really sends,
 * so rows_out is what subscribers see.
 * Invariant: every held row is counted in stats->state_bytes. */
#include "microbatch.h"

#include "groupmap.h"
#include "mem.h"
#include "row.h"

#include <stdlib.h>

typedef struct held {
    sl_row *row; /* owned */
    sl_change change;
} held;

struct sl_microbatch {
    const sl_plan *plan;
    int64_t every;
    sl_sink out;
    sl_query_stats *stats;
    sl_value *key; /* scratch: the key of the row being held */
    sl_groupmap changes;
};

static void mb_emit(void *ctx, sl_change change, const sl_row *row)
{
    sl_microbatch *mb = ctx;
    sl_gentry *e;
    held *h;
    bool made;

    mb->stats->rows_out--;
    for (int i = 0; i < mb->plan->nkeys; i++)
        mb->key[i] = row->v[mb->plan->keys[i]];
    e = sl_groupmap_get(&mb->changes, mb->key, &made);
    h = sl_gentry_payload(e);
    if (h->row) {
        mb->stats->state_bytes -= sl_row_bytes(h->row);
        sl_row_free(h->row);
    }
    h->row = sl_row_copy(row);
    h->change = change;
    mb->stats->state_bytes += sl_row_bytes(h->row);
}

static void mb_late(void *ctx, const sl_row *row)
{
    sl_microbatch *mb = ctx;

    mb->out.late(mb->out.ctx, row);
}

/* floor(t / every). */
static int64_t period(const sl_microbatch *mb, int64_t t)
{
    int64_t q = t / mb->every;

    return (t % mb->every != 0 && t < 0) ? q - 1 : q;
}

void sl_microbatch_flush(sl_microbatch *mb)
{
    for (sl_gentry *e = mb->changes.first; e; e = e->next) {
        held *h = sl_gentry_payload(e);

        mb->stats->rows_out++;
        mb->out.emit(mb->out.ctx, h->change, h->row);
        mb->stats->state_bytes -= sl_row_bytes(h->row);
        sl_row_free(h->row);
    }
    sl_groupmap_clear(&mb->changes);
}

void sl_microbatch_time(sl_microbatch *mb, int64_t from, int64_t to)
{
    if (period(mb, to) > period(mb, from))
        sl_microbatch_flush(mb);
}

sl_microbatch *sl_microbatch_new(const sl_plan *plan, int64_t every_ms, const sl_sink *out,
                                 sl_query_stats *stats, sl_sink *wrapper)
{
    sl_microbatch *mb = sl_xcalloc(1, sizeof(*mb));

    mb->plan = plan;
    mb->every = every_ms;
    mb->out = *out;
    mb->stats = stats;
    mb->key = sl_xcalloc((size_t)plan->nkeys + 1, sizeof(sl_value));
    sl_groupmap_init(&mb->changes, plan->nkeys, sizeof(held), &stats->state_bytes);
    *wrapper = *out;
    wrapper->ctx = mb;
    wrapper->emit = mb_emit;
    wrapper->late = out->late ? mb_late : NULL;
    return mb;
}

void sl_microbatch_save(const sl_microbatch *mb, sl_ckpt_writer *w)
{
    sl_ckpt_put_u64(w, mb->changes.count);
    for (sl_gentry *e = mb->changes.first; e; e = e->next) {
        const held *h = sl_gentry_payload(e);

        sl_ckpt_put_u64(w, (uint64_t)h->change);
        sl_ckpt_put_row(w, h->row);
    }
}

int sl_microbatch_restore(sl_microbatch *mb, sl_ckpt_reader *rd)
{
    uint64_t n = sl_ckpt_get_count(rd, UINT64_MAX);

    for (uint64_t i = 0; i < n && !rd->why; i++) {
        uint64_t change = sl_ckpt_get_u64(rd);
        sl_row *row = sl_ckpt_get_values(rd, (uint32_t)mb->plan->ncols);
        sl_gentry *e;
        held *h;
        bool made;

        if (!row)
            break;
        if (change > SL_CHANGE_DELETE) {
            sl_row_free(row);
            return sl_ckpt_fail(rd, "bad change kind");
        }
        for (int k = 0; k < mb->plan->nkeys; k++)
            mb->key[k] = row->v[mb->plan->keys[k]];
        e = sl_groupmap_get(&mb->changes, mb->key, &made);
        if (!made) {
            sl_row_free(row);
            return sl_ckpt_fail(rd, "a held change saved twice");
        }
        h = sl_gentry_payload(e);
        h->row = row;
        h->change = (sl_change)change;
        mb->stats->state_bytes += sl_row_bytes(row);
    }
    return sl_ckpt_status(rd);
}

void sl_microbatch_free(sl_microbatch *mb)
{
    if (!mb)
        return;
    for (sl_gentry *e = mb->changes.first; e; e = e->next) {
        held *h = sl_gentry_payload(e);

        mb->stats->state_bytes -= sl_row_bytes(h->row);
        sl_row_free(h->row);
    }
    sl_groupmap_clear(&mb->changes);
    free(mb->key);
    free(mb);
}
