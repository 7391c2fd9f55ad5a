/* op_sliding.c: the AGGREGATE operator over SLIDING windows: one result row per input
 * row, aggregating the rows of its group with ROWTIME in (t - SIZE, t].
 *
 * The window of a row at t is reported as [WINDOWSTART, WINDOWEND) = [t - SIZE + 1,
 * t + 1), the half-open convention of every other window.  It closes when stream time
 * reaches t + 1 + grace; a row is late when its own window is closed then.
 *
 * State: each group keeps a buffer of its rows (ROWTIME, log offset and the aggregate
 * arguments, copied), sorted by (ROWTIME, offset), and a window's result is computed
 * from that buffer when it is needed (init, step over the rows in range, final).  The
 * operator also keeps every row in two global queues: `pending`, the rows whose window
 * is still open, by (ROWTIME, offset), which is closing order; and `expiring`, the rows
 * whose window has closed, in the same order, until no open or future window can reach
 * them (ROWTIME + SIZE + grace <= stream time), when they leave their group's buffer.
 * Because both orders agree, the row leaving is always the first of its group's buffer.
 *
 * EMIT CHANGES sends a row's window when it arrives, and, when it arrives out of order,
 * the new rows of the later windows of its group that now contain it.  EMIT FINAL and
 * batch send each row's window once, when it closes.
 *
 * Invariants: every buffered row is in exactly one of pending and expiring; a group's
 * buffer is empty only transiently (the group is then removed); state_bytes counts
 * every row, group buffer and queue slot. */
#include "op.h"

#include "agg.h"
#include "eval.h"
#include "groupmap.h"
#include "window.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct srow {
    int64_t t, off;
    sl_gentry *group;
    sl_row *args; /* the aggregate arguments, self-contained */
    size_t bytes;
} srow;

typedef struct sgroup {
    srow **rows; /* rows[head..n), by (t, off) */
    size_t head, n, cap;
} sgroup;

/* A FIFO (or sorted array) of rows: items[head..n). */
typedef struct queue {
    srow **items;
    size_t head, n, cap;
} queue;

typedef struct sliding_op {
    sl_operator base;
    int64_t size, grace;
    sl_emit emit;
    int ngroups, naggs;
    sl_value *keys, *args;
    sl_agg_state *states; /* scratch states for one window */
    sl_row *out;
    sl_groupmap groups;
    queue pending, expiring;
} sliding_op;

static bool before(const srow *a, int64_t t, int64_t off)
{
    return a->t < t || (a->t == t && a->off < off);
}

static void account(sliding_op *s, size_t add, size_t sub)
{
    s->base.ctx->stats.state_bytes += add;
    assert(s->base.ctx->stats.state_bytes >= sub);
    s->base.ctx->stats.state_bytes -= sub;
}

/* Makes room for one more item in an array of *cap pointers holding [head, n). */
static void array_room(sliding_op *s, srow ***items, size_t *head, size_t *n, size_t *cap)
{
    if (*n < *cap)
        return;
    if (*head > 0) {
        memmove(*items, *items + *head, (*n - *head) * sizeof(srow *));
        *n -= *head;
        *head = 0;
        return;
    }
    size_t ncap = *cap ? *cap * 2 : 8;
    *items = sl_xrealloc(*items, ncap * sizeof(srow *));
    account(s, (ncap - *cap) * sizeof(srow *), 0);
    *cap = ncap;
}

/* Inserts r into the sorted array [head, n) at its (t, off) place, searching from the
 * end (rows mostly arrive in order). */
static void array_insert(sliding_op *s, srow ***items, size_t *head, size_t *n, size_t *cap,
                         srow *r)
{
    size_t at;

    array_room(s, items, head, n, cap);
    for (at = *n; at > *head && !before((*items)[at - 1], r->t, r->off); at--)
        ;
    memmove(*items + at + 1, *items + at, (*n - at) * sizeof(srow *));
    (*items)[at] = r;
    (*n)++;
}

/* Fills s->out with the row of r's window. */
static void fill_window(sliding_op *s, const srow *r)
{
    const sl_aggcall *calls = s->base.node->u.aggregate.aggs;
    const sgroup *grp = sl_gentry_payload(r->group);
    int64_t lo = sl_window_add_sat(r->t, -s->size);
    sl_value *v = s->out->v;

    for (int i = 0; i < s->naggs; i++)
        sl_agg_init(&calls[i], &s->states[i]);
    for (size_t k = grp->head; k < grp->n; k++) {
        const srow *x = grp->rows[k];

        if (x->t <= lo)
            continue;
        if (x->t > r->t)
            break;
        for (int i = 0; i < s->naggs; i++)
            sl_agg_step(&calls[i], &s->states[i], calls[i].arg ? &x->args->v[i] : NULL, x->off);
    }
    s->out->rowtime = r->t;
    *v++ = sl_int(SL_T_BIGINT, sl_window_add_sat(lo, 1));
    *v++ = sl_int(SL_T_BIGINT, sl_window_add_sat(r->t, 1));
    for (int i = 0; i < s->ngroups; i++)
        *v++ = r->group->key[i];
    for (int i = 0; i < s->naggs; i++)
        *v++ = sl_agg_final(&calls[i], &s->states[i]);
}

static void emit_window(sliding_op *s, const srow *r)
{
    fill_window(s, r);
    sl_op_emit(&s->base, s->out, SL_CHANGE_UPSERT);
    for (int i = 0; i < s->naggs; i++)
        sl_agg_clear(&s->states[i]);
}

static void sliding_push(sl_operator *op, const sl_row *row, sl_change change)
{
    sliding_op *s = (sliding_op *)op;
    const sl_node *node = op->node;
    const sl_aggcall *calls = node->u.aggregate.aggs;
    sl_opctx *ctx = op->ctx;
    int64_t t = row->rowtime;
    sl_gentry *g;
    sgroup *grp;
    srow *r;
    bool made;

    if (sl_window_add_sat(sl_window_add_sat(t, 1), s->grace) <= ctx->stats.watermark) {
        ctx->stats.late_rows++;
        if (ctx->sink.late && ctx->source_row)
            ctx->sink.late(ctx->sink.ctx, ctx->source_row);
        return;
    }
    for (int i = 0; i < s->ngroups; i++)
        s->keys[i] = sl_eval(node->u.aggregate.groups[i], row, ctx->scratch);
    for (int i = 0; i < s->naggs; i++)
        s->args[i] = calls[i].arg ? sl_eval(calls[i].arg, row, ctx->scratch) : sl_null();
    g = sl_groupmap_get(&s->groups, s->keys, &made);
    grp = sl_gentry_payload(g);
    r = sl_xcalloc(1, sizeof(*r));
    r->t = t;
    r->off = (int64_t)ctx->stats.rows_in;
    r->group = g;
    r->args = sl_row_make(t, (uint32_t)s->naggs, s->args);
    r->bytes = sizeof(*r) + sl_row_bytes(r->args);
    account(s, r->bytes, 0);
    array_insert(s, &grp->rows, &grp->head, &grp->n, &grp->cap, r);
    array_insert(s, &s->pending.items, &s->pending.head, &s->pending.n, &s->pending.cap, r);
    if (s->emit != SL_EMIT_CHANGES)
        return;
    emit_window(s, r);
    /* Later windows of the group that now hold the row: (t, t + SIZE). */
    int64_t hi = sl_window_add_sat(t, s->size);
    for (size_t k = grp->head; k < grp->n; k++) {
        const srow *x = grp->rows[k];

        if (x->t > t && x->t < hi)
            emit_window(s, x);
    }
}

static void row_free(sliding_op *s, srow *r)
{
    account(s, 0, r->bytes);
    sl_row_free(r->args);
    free(r);
}

static void group_release(sliding_op *s, sl_gentry *g)
{
    sgroup *grp = sl_gentry_payload(g);

    free(grp->rows);
    account(s, 0, grp->cap * sizeof(srow *));
    sl_groupmap_remove(&s->groups, g);
}

/* Frees an emptied queue's array. */
static void queue_release(sliding_op *s, queue *q)
{
    free(q->items);
    account(s, 0, q->cap * sizeof(srow *));
    memset(q, 0, sizeof(*q));
}

static void sliding_advance(sl_operator *op, int64_t wm)
{
    sliding_op *s = (sliding_op *)op;
    queue *p = &s->pending, *e = &s->expiring;

    /* Windows that close: emit (unless emitting changes) and move to expiring. */
    while (p->head < p->n) {
        srow *r = p->items[p->head];

        if (sl_window_add_sat(sl_window_add_sat(r->t, 1), s->grace) > wm)
            break;
        if (s->emit != SL_EMIT_CHANGES) {
            emit_window(s, r);
        } else if (op->down && op->down->closed) {
            fill_window(s, r);
            sl_op_closed(op, s->out);
            for (int i = 0; i < s->naggs; i++)
                sl_agg_clear(&s->states[i]);
        }
        p->head++;
        array_room(s, &e->items, &e->head, &e->n, &e->cap);
        e->items[e->n++] = r;
    }
    /* Rows no window can reach any more leave their group. */
    while (e->head < e->n) {
        srow *r = e->items[e->head];
        sgroup *grp = sl_gentry_payload(r->group);

        if (sl_window_add_sat(sl_window_add_sat(r->t, s->size), s->grace) > wm)
            break;
        e->head++;
        assert(grp->rows[grp->head] == r);
        grp->head++;
        if (grp->head == grp->n)
            group_release(s, r->group);
        row_free(s, r);
    }
    if (p->head == p->n)
        queue_release(s, p);
    if (e->head == e->n)
        queue_release(s, e);
    sl_op_pass_advance(op, wm);
}

static void sliding_free(sl_operator *op)
{
    sliding_op *s = (sliding_op *)op;

    if (!s)
        return;
    for (size_t k = s->pending.head; k < s->pending.n; k++)
        row_free(s, s->pending.items[k]);
    for (size_t k = s->expiring.head; k < s->expiring.n; k++)
        row_free(s, s->expiring.items[k]);
    for (sl_gentry *g = s->groups.first; g; g = g->next) {
        sgroup *grp = sl_gentry_payload(g);

        free(grp->rows);
        account(s, 0, grp->cap * sizeof(srow *));
    }
    sl_groupmap_clear(&s->groups);
    free(s->pending.items);
    free(s->expiring.items);
    account(s, 0, (s->pending.cap + s->expiring.cap) * sizeof(srow *));
    free(s->states);
    sl_row_free(s->out);
    free(s->keys);
    free(s->args);
    free(s);
}

sl_operator *sl_op_sliding_new(const sl_node *node, sl_opctx *ctx)
{
    sliding_op *s = sl_xcalloc(1, sizeof(*s));

    assert(node->u.aggregate.window.kind == SL_WINDOW_SLIDING);
    s->base.node = node;
    s->base.ctx = ctx;
    s->base.push = sliding_push;
    s->base.advance = sliding_advance;
    s->base.finish = sl_op_pass_finish;
    s->base.free = sliding_free;
    s->size = node->u.aggregate.window.size_ms;
    s->grace = node->u.aggregate.window.grace_ms;
    s->emit = node->u.aggregate.emit;
    s->ngroups = node->u.aggregate.ngroups;
    s->naggs = node->u.aggregate.naggs;
    assert(node->ncols == 2 + s->ngroups + s->naggs);
    s->keys = sl_xcalloc((size_t)s->ngroups + 1, sizeof(sl_value));
    s->args = sl_xcalloc((size_t)s->naggs + 1, sizeof(sl_value));
    s->states = sl_xcalloc((size_t)s->naggs + 1, sizeof(sl_agg_state));
    s->out = sl_row_new((uint32_t)node->ncols);
    sl_groupmap_init(&s->groups, s->ngroups, sizeof(sgroup), &ctx->stats.state_bytes);
    return &s->base;
}
