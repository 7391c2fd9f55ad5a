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
 * counts every group and window. */
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
    c->n = node->u.aggregate.window.size_ms;
    c->advance = node->u.aggregate.window.advance_ms;
    return &c->a.base;
}
