/* op_count.c: the AGGREGATE operator over COUNT windows: every n rows of a group.
 *
 * A group's rows are numbered from 0 in the order they arrive (log order, so batch and
 * continuous runs number them alike).  COUNT (n, ADVANCE BY m) opens a window at every
 * row whose number is a multiple of m; the window holds that row and the next n - 1 of
 * its group, and reports WINDOWSTART and WINDOWEND as row numbers: [k*m, k*m + n).
 * Time plays no part: there are no late rows and no grace.  A window closes when it
 * holds n rows: EMIT FINAL and batch send it then; a window still short of n rows at
 * the end of a batch never closes and is not sent (as Flink's count windows).  EMIT
 * CHANGES sends the window's new row for every row it takes.  A result row's ROWTIME is
 * its last row's.
 *
 * Invariants: a group's open windows are chained oldest first, at most ceil(n / m) of
 * them; a group stays while the query runs (it keeps its row counter), and state_bytes
 * counts every group and window.
 *
 * Checkpoint: the groups in first-seen order, each as its key, its row counter and its
 * open windows oldest first (first row number, rows taken, ROWTIME, aggregate states). */
#include "aggop.h"

#include <assert.h>
#include <stdlib.h>

typedef struct cwin cwin;
struct cwin {
    cwin *next;
    int64_t start; /* the number of its first row */
    int64_t rows;  /* rows taken */
    int64_t rowtime;
    size_t bytes;
    sl_agg_state agg[];
};

typedef struct cgroup {
    int64_t seen; /* rows of the group so far */
    cwin *first, *last;
} cgroup;

typedef struct count_op {
    sl_aggop a; /* first: a count_op is an sl_aggop and an sl_operator */
    int64_t n, advance;
} count_op;

/* Fills c->a.out with the window's row. */
static void fill_window(count_op *c, const sl_gentry *g, const cwin *w)
{
    sl_aggop_fill(&c->a, w->rowtime, w->start, w->start + c->n, g->key, w->agg);
}

static void emit_window(count_op *c, const sl_gentry *g, const cwin *w)
{
    fill_window(c, g, w);
    sl_op_emit(&c->a.base, c->a.out, SL_CHANGE_UPSERT);
}

static void window_free(count_op *c, cwin *w)
{
    sl_aggop_states_clear(&c->a, w->agg);
    assert(c->a.base.ctx->stats.state_bytes >= w->bytes);
    c->a.base.ctx->stats.state_bytes -= w->bytes;
    free(w);
}

static void count_push(sl_operator *op, const sl_row *row, sl_change change)
{
    count_op *c = (count_op *)op;
    sl_opctx *ctx = op->ctx;
    sl_gentry *g;
    cgroup *grp;
    bool made;

    sl_aggop_eval(&c->a, row);
    g = sl_groupmap_get(&c->a.groups, c->a.keys, &made);
    grp = sl_gentry_payload(g);
    if (grp->seen % c->advance == 0) {
        size_t bytes = sizeof(cwin) + (size_t)c->a.naggs * sizeof(sl_agg_state);
        cwin *w = sl_xcalloc(1, bytes);

        w->start = grp->seen;
        w->bytes = bytes;
        sl_aggop_states_init(&c->a, w->agg);
        ctx->stats.state_bytes += bytes;
        if (grp->last)
            grp->last->next = w;
        else
            grp->first = w;
        grp->last = w;
    }
    grp->seen++;
    for (cwin *w = grp->first; w; w = w->next) {
        size_t grew = sl_aggop_states_step(&c->a, w->agg);

        w->bytes += grew;
        ctx->stats.state_bytes += grew;
        w->rows++;
        if (row->rowtime > w->rowtime || w->rows == 1)
            w->rowtime = row->rowtime;
        if (c->a.emit == SL_EMIT_CHANGES || w->rows == c->n)
            emit_window(c, g, w);
    }
    /* Only the oldest window can be full. */
    if (grp->first && grp->first->rows == c->n) {
        cwin *w = grp->first;

        if (c->a.emit == SL_EMIT_CHANGES && op->down && op->down->closed) {
            fill_window(c, g, w);
            sl_op_closed(op, c->a.out);
        }

        grp->first = w->next;
        if (!grp->first)
            grp->last = NULL;
        window_free(c, w);
    }
}

/* --- Checkpoints ------------------------------------------------------------------- */

static void count_save(const sl_operator *op, sl_ckpt_writer *w)
{
    const count_op *c = (const count_op *)op;

    sl_ckpt_put_u64(w, c->a.groups.count);
    for (sl_gentry *g = c->a.groups.first; g; g = g->next) {
        const cgroup *grp = sl_gentry_payload(g);
        uint64_t n = 0;

        for (const cwin *w2 = grp->first; w2; w2 = w2->next)
            n++;
        sl_ckpt_put_values(w, 0, (uint32_t)c->a.ngroups, g->key);
        sl_ckpt_put_i64(w, grp->seen);
        sl_ckpt_put_u64(w, n);
        for (const cwin *w2 = grp->first; w2; w2 = w2->next) {
            sl_ckpt_put_i64(w, w2->start);
            sl_ckpt_put_i64(w, w2->rows);
            sl_ckpt_put_i64(w, w2->rowtime);
            sl_aggop_states_save(&c->a, w2->agg, w);
        }
    }
}

static int count_restore(sl_operator *op, sl_ckpt_reader *rd)
{
    count_op *c = (count_op *)op;
    uint64_t ngroups = sl_ckpt_get_count(rd, UINT64_MAX);

    for (uint64_t i = 0; i < ngroups && !rd->why; i++) {
        int64_t unused;
        sl_gentry *g = sl_aggop_key_load(&c->a, &c->a.groups, rd, &unused);
        cgroup *grp = g ? sl_gentry_payload(g) : NULL;
        uint64_t n;

        if (grp)
            grp->seen = sl_ckpt_get_i64(rd);
        n = sl_ckpt_get_count(rd, (uint64_t)((c->n + c->advance - 1) / c->advance));
        for (uint64_t k = 0; k < n && !rd->why; k++) {
            size_t bytes = sizeof(cwin) + (size_t)c->a.naggs * sizeof(sl_agg_state);
            int64_t start = sl_ckpt_get_i64(rd), rows = sl_ckpt_get_i64(rd);
            int64_t rowtime = sl_ckpt_get_i64(rd);
            cwin *w;

            /* Windows open at multiples of ADVANCE BY, oldest first, short of n rows,
             * holding exactly the group's rows since their first. */
            if (start < 0 || start % c->advance != 0 || rows < 1 || rows >= c->n ||
                start + rows != grp->seen || (grp->last && grp->last->start >= start)) {
                sl_ckpt_fail(rd, "COUNT window out of order");
                break;
            }
            w = sl_xcalloc(1, bytes);
            w->start = start;
            w->rows = rows;
            w->rowtime = rowtime;
            w->bytes = bytes;
            op->ctx->stats.state_bytes += bytes;
            if (grp->last)
                grp->last->next = w;
            else
                grp->first = w;
            grp->last = w;
            size_t heap = sl_aggop_states_load(&c->a, w->agg, rd);
            w->bytes += heap;
            op->ctx->stats.state_bytes += heap;
        }
    }
    return sl_ckpt_status(rd);
}

static void count_free(sl_operator *op)
{
    count_op *c = (count_op *)op;

    if (!c)
        return;
    for (sl_gentry *g = c->a.groups.first; g; g = g->next) {
        cgroup *grp = sl_gentry_payload(g);

        for (cwin *w = grp->first, *next; w; w = next) {
            next = w->next;
            window_free(c, w);
        }
    }
    sl_aggop_release(&c->a);
    free(c);
}

sl_operator *sl_op_count_new(const sl_node *node, sl_opctx *ctx)
{
    count_op *c = sl_xcalloc(1, sizeof(*c));

    assert(node->u.aggregate.window.kind == SL_WINDOW_COUNT);
    sl_aggop_init(&c->a, node, ctx, sizeof(cgroup));
    c->a.base.push = count_push;
    c->a.base.free = count_free;
    c->a.base.save = count_save;
    c->a.base.restore = count_restore;
    c->n = node->u.aggregate.window.size_ms;
    c->advance = node->u.aggregate.window.advance_ms;
    return &c->a.base;
}
