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
#include "op.h"

#include "agg.h"
#include "eval.h"
#include "groupmap.h"

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
    sl_operator base;
    int64_t n, advance;
    sl_emit emit;
    int ngroups, naggs;
    sl_value *keys, *args;
    sl_row *out;
    sl_groupmap groups;
} count_op;

/* Fills c->out with the window's row. */
static void fill_window(count_op *c, const sl_gentry *g, const cwin *w)
{
    const sl_aggcall *calls = c->base.node->u.aggregate.aggs;
    sl_value *v = c->out->v;

    c->out->rowtime = w->rowtime;
    *v++ = sl_int(SL_T_BIGINT, w->start);
    *v++ = sl_int(SL_T_BIGINT, w->start + c->n);
    for (int i = 0; i < c->ngroups; i++)
        *v++ = g->key[i];
    for (int i = 0; i < c->naggs; i++)
        *v++ = sl_agg_final(&calls[i], &w->agg[i]);
}

static void emit_window(count_op *c, const sl_gentry *g, const cwin *w)
{
    fill_window(c, g, w);
    sl_op_emit(&c->base, c->out, SL_CHANGE_UPSERT);
}

static void window_free(count_op *c, cwin *w)
{
    for (int i = 0; i < c->naggs; i++)
        sl_agg_clear(&w->agg[i]);
    assert(c->base.ctx->stats.state_bytes >= w->bytes);
    c->base.ctx->stats.state_bytes -= w->bytes;
    free(w);
}

static void count_push(sl_operator *op, const sl_row *row, sl_change change)
{
    count_op *c = (count_op *)op;
    const sl_node *node = op->node;
    const sl_aggcall *calls = node->u.aggregate.aggs;
    sl_opctx *ctx = op->ctx;
    sl_gentry *g;
    cgroup *grp;
    bool made;

    for (int i = 0; i < c->ngroups; i++)
        c->keys[i] = sl_eval(node->u.aggregate.groups[i], row, ctx->scratch);
    for (int i = 0; i < c->naggs; i++)
        if (calls[i].arg)
            c->args[i] = sl_eval(calls[i].arg, row, ctx->scratch);
    g = sl_groupmap_get(&c->groups, c->keys, &made);
    grp = sl_gentry_payload(g);
    if (grp->seen % c->advance == 0) {
        size_t bytes = sizeof(cwin) + (size_t)c->naggs * sizeof(sl_agg_state);
        cwin *w = sl_xcalloc(1, bytes);

        w->start = grp->seen;
        w->bytes = bytes;
        for (int i = 0; i < c->naggs; i++)
            sl_agg_init(&calls[i], &w->agg[i]);
        ctx->stats.state_bytes += bytes;
        if (grp->last)
            grp->last->next = w;
        else
            grp->first = w;
        grp->last = w;
    }
    grp->seen++;
    for (cwin *w = grp->first; w; w = w->next) {
        size_t grew = 0;

        for (int i = 0; i < c->naggs; i++)
            grew += sl_agg_step(&calls[i], &w->agg[i], calls[i].arg ? &c->args[i] : NULL,
                                (int64_t)ctx->stats.rows_in);
        w->bytes += grew;
        ctx->stats.state_bytes += grew;
        w->rows++;
        if (row->rowtime > w->rowtime || w->rows == 1)
            w->rowtime = row->rowtime;
        if (c->emit == SL_EMIT_CHANGES || w->rows == c->n)
            emit_window(c, g, w);
    }
    /* Only the oldest window can be full. */
    if (grp->first && grp->first->rows == c->n) {
        cwin *w = grp->first;

        if (c->emit == SL_EMIT_CHANGES && op->down && op->down->closed) {
            fill_window(c, g, w);
            sl_op_closed(op, c->out);
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
    for (sl_gentry *g = c->groups.first; g; g = g->next) {
        cgroup *grp = sl_gentry_payload(g);

        for (cwin *w = grp->first, *next; w; w = next) {
            next = w->next;
            window_free(c, w);
        }
    }
    sl_groupmap_clear(&c->groups);
    sl_row_free(c->out);
    free(c->keys);
    free(c->args);
    free(c);
}

sl_operator *sl_op_count_new(const sl_node *node, sl_opctx *ctx)
{
    count_op *c = sl_xcalloc(1, sizeof(*c));

    assert(node->u.aggregate.window.kind == SL_WINDOW_COUNT);
    c->base.node = node;
    c->base.ctx = ctx;
    c->base.push = count_push;
    c->base.advance = sl_op_pass_advance;
    c->base.finish = sl_op_pass_finish;
    c->base.free = count_free;
    c->n = node->u.aggregate.window.size_ms;
    c->advance = node->u.aggregate.window.advance_ms;
    c->emit = node->u.aggregate.emit;
    c->ngroups = node->u.aggregate.ngroups;
    c->naggs = node->u.aggregate.naggs;
    assert(node->ncols == 2 + c->ngroups + c->naggs);
    c->keys = sl_xcalloc((size_t)c->ngroups + 1, sizeof(sl_value));
    c->args = sl_xcalloc((size_t)c->naggs + 1, sizeof(sl_value));
    c->out = sl_row_new((uint32_t)node->ncols);
    sl_groupmap_init(&c->groups, c->ngroups, sizeof(cgroup), &ctx->stats.state_bytes);
    return &c->base;
}
