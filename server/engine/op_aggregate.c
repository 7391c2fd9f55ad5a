/* op_aggregate.c: the AGGREGATE operator: GROUP BY, optionally over TUMBLING, HOPPING or
 * CUMULATING windows (SESSION, SLIDING and COUNT windows have operators of their own).
 *
 * Groups live in group maps (groupmap.h) keyed by the GROUP BY values, one map for a
 * plain GROUP BY, one per open window otherwise.  Each map also chains its groups in the
 * order they were first seen, the order final rows come out in.  A row updates the state
 * of each window holding it once (a hopping row is in SIZE / ADVANCE windows).  Open
 * windows sit in an array sorted by (end, start); every window of a query has the same
 * grace, so closing order is that order, and closing pops from the front.
 *
 * Output rows have the node's layout: [WINDOWSTART, WINDOWEND,] groups..., aggregates...
 * EMIT CHANGES sends the group's new row (an UPSERT) for every input row; EMIT FINAL and
 * batch send each (window, group) once when the window closes, and a plain GROUP BY in
 * batch sends its groups at finish.
 *
 * Invariants: wins[head..nwins) are the open windows, strictly increasing in (end,
 * start);
 * every group, window and group-map slot array is counted in ctx->stats.state_bytes
 * from its allocation to its free, and a group's count includes the heap bytes its
 * aggregate states own.  Input rows are additions whatever their change kind (the
 * operators below an aggregate only produce inserts).
 *
 * Checkpoint: the plain GROUP BY's groups, then the open windows in order, each as its
 * span and its groups; groups in first-seen order, each as its key (with its latest
 * ROWTIME) and its aggregate states. */
#include "aggop.h"
#include "window.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* A group's payload in its map. */
typedef struct group {
    int64_t rowtime;    /* the largest ROWTIME among the group's inputs */
    sl_agg_state agg[]; /* one per aggregate call */
} group;

typedef struct window {
    sl_window_span span;
    int64_t close_at; /* the watermark at which the window closes */
    sl_groupmap groups;
} window;

typedef struct agg_op {
    sl_aggop a;            /* first: an agg_op is an sl_aggop and an sl_operator; a.groups
                            * holds a plain GROUP BY's groups */
    const sl_window *win;  /* the node's window; kind NONE for a plain GROUP BY */
    const sl_tz *tz;       /* win->time_zone loaded; NULL for UTC */
    sl_window_span *spans; /* room for sl_window_max_spans(win) */
    window **wins;         /* open windows: wins[head..nwins) */
    size_t head, nwins, cap;
} agg_op;

static void state_add(agg_op *a, size_t n)
{
    a->a.base.ctx->stats.state_bytes += n;
}

static void state_sub(agg_op *a, size_t n)
{
    assert(a->a.base.ctx->stats.state_bytes >= n);
    a->a.base.ctx->stats.state_bytes -= n;
}

/* Frees every group of m and the slots; leaves m empty. */
static void groups_clear(agg_op *a, sl_groupmap *m)
{
    for (sl_gentry *e = m->first; e; e = e->next)
        sl_aggop_states_clear(&a->a, ((group *)sl_gentry_payload(e))->agg);
    sl_groupmap_clear(m);
}

/* --- Windows ------------------------------------------------------------------------ */

static void window_free(agg_op *a, window *w)
{
    groups_clear(a, &w->groups);
    state_sub(a, sizeof(*w));
    free(w);
}

/* Orders spans by end, then start: <0, 0, >0. */
static int span_cmp(const sl_window_span *x, const sl_window_span *y)
{
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return 0;
}

/* The open window for span, made when there is none yet. */
static window *window_get(agg_op *a, const sl_window_span *span, int64_t close_at)
{
    size_t lo = a->head, hi = a->nwins;
    window *w;

    /* Rows mostly arrive in time order: try the newest window first. */
    if (hi > lo && span_cmp(&a->wins[hi - 1]->span, span) <= 0) {
        if (span_cmp(&a->wins[hi - 1]->span, span) == 0)
            return a->wins[hi - 1];
        lo = hi;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (span_cmp(&a->wins[mid]->span, span) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < a->nwins && span_cmp(&a->wins[lo]->span, span) == 0)
        return a->wins[lo];

    /* Insert at lo: first reclaim the closed prefix, then grow if still full. */
    if (a->nwins == a->cap && a->head > 0) {
        memmove(a->wins, a->wins + a->head, (a->nwins - a->head) * sizeof(window *));
        lo -= a->head;
        a->nwins -= a->head;
        a->head = 0;
    }
    if (a->nwins == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4;
        a->wins = sl_xrealloc(a->wins, a->cap * sizeof(window *));
    }
    memmove(a->wins + lo + 1, a->wins + lo, (a->nwins - lo) * sizeof(window *));
    a->nwins++;
    w = sl_xcalloc(1, sizeof(*w));
    w->span = *span;
    w->close_at = close_at;
    sl_groupmap_init(&w->groups, a->a.ngroups, a->a.groups.payload,
                     &a->a.base.ctx->stats.state_bytes);
    state_add(a, sizeof(*w));
    a->wins[lo] = w;
    return w;
}

/* --- Output ------------------------------------------------------------------------- */

/* Fills a->a.out with e's current row: rowtime is the window's start when windowed (w
 * set), else the group's latest input ROWTIME. */
static void fill_group(agg_op *a, sl_gentry *e, const window *w)
{
    const group *g = sl_gentry_payload(e);

    sl_aggop_fill(&a->a, w ? w->span.start : g->rowtime, w ? w->span.start : 0, w ? w->span.end : 0,
                  e->key, g->agg);
}

/* Sends e's current row as an UPSERT. */
static void emit_group(agg_op *a, sl_gentry *e, const window *w)
{
    fill_group(a, e, w);
    sl_op_emit(&a->a.base, a->a.out, SL_CHANGE_UPSERT);
}

/* --- The operator ------------------------------------------------------------------- */

/* Adds the current row (keys and args evaluated) to the group of its key in m. */
static sl_gentry *accumulate(agg_op *a, sl_groupmap *m, int64_t rowtime)
{
    bool made;
    sl_gentry *e = sl_groupmap_get(m, a->a.keys, &made);
    group *g = sl_gentry_payload(e);

    if (made) {
        g->rowtime = rowtime;
        sl_aggop_states_init(&a->a, g->agg);
    }
    if (rowtime > g->rowtime)
        g->rowtime = rowtime;
    sl_groupmap_account(m, e, sl_aggop_states_step(&a->a, g->agg));
    return e;
}

static void aggregate_push(sl_operator *op, const sl_row *row, sl_change change)
{
    agg_op *a = (agg_op *)op;
    sl_window_span *spans = a->spans;
    bool late = false;
    sl_gentry *e;

    sl_aggop_eval(&a->a, row);
    if (a->win->kind == SL_WINDOW_NONE) {
        e = accumulate(a, &a->a.groups, row->rowtime);
        if (a->a.emit == SL_EMIT_CHANGES)
            emit_group(a, e, NULL);
        return;
    }

    int n = sl_window_assign(a->win, a->tz, row->rowtime, spans);
    for (int k = 0; k < n; k++) {
        int64_t close_at = sl_window_close_at(a->win, &spans[k]);

        if (close_at <= op->ctx->stats.watermark) {
            late = true;
            continue;
        }
        window *w = window_get(a, &spans[k], close_at);
        e = accumulate(a, &w->groups, row->rowtime);
        if (a->a.emit == SL_EMIT_CHANGES)
            emit_group(a, e, w);
    }
    if (late)
        sl_aggop_late(&a->a);
}

/* Closes the windows whose close_at <= wm, oldest first, emitting their final rows
 * unless the node emits changes. */
static void aggregate_advance(sl_operator *op, int64_t wm)
{
    agg_op *a = (agg_op *)op;

    while (a->head < a->nwins && a->wins[a->head]->close_at <= wm) {
        window *w = a->wins[a->head++];

        if (sl_aggop_sends_closing(&a->a)) {
            for (sl_gentry *e = w->groups.first; e; e = e->next) {
                fill_group(a, e, w);
                sl_aggop_send_closing(&a->a);
            }
        }
        window_free(a, w);
    }
    if (a->head == a->nwins)
        a->head = a->nwins = 0;
    sl_op_pass_advance(op, wm);
}

/* Windows are closed by the advance to +infinity that precedes finish; a plain GROUP BY
 * that does not emit changes sends its groups now and lets them go. */
static void aggregate_finish(sl_operator *op)
{
    agg_op *a = (agg_op *)op;

    if (a->win->kind == SL_WINDOW_NONE && a->a.emit != SL_EMIT_CHANGES) {
        for (sl_gentry *e = a->a.groups.first; e; e = e->next)
            emit_group(a, e, NULL);
        groups_clear(a, &a->a.groups);
    }
    sl_op_pass_finish(op);
}

/* --- Checkpoints ------------------------------------------------------------------- */

static void save_groups(const agg_op *a, const sl_groupmap *m, sl_ckpt_writer *w)
{
    sl_ckpt_put_u64(w, m->count);
    for (sl_gentry *e = m->first; e; e = e->next) {
        const group *g = sl_gentry_payload(e);

        sl_ckpt_put_values(w, g->rowtime, (uint32_t)a->a.ngroups, e->key);
        sl_aggop_states_save(&a->a, g->agg, w);
    }
}

static void aggregate_save(const sl_operator *op, sl_ckpt_writer *w)
{
    const agg_op *a = (const agg_op *)op;

    save_groups(a, &a->a.groups, w);
    sl_ckpt_put_u64(w, a->nwins - a->head);
    for (size_t i = a->head; i < a->nwins; i++) {
        sl_ckpt_put_i64(w, a->wins[i]->span.start);
        sl_ckpt_put_i64(w, a->wins[i]->span.end);
        save_groups(a, &a->wins[i]->groups, w);
    }
}

static void load_groups(agg_op *a, sl_groupmap *m, sl_ckpt_reader *rd)
{
    uint64_t n = sl_ckpt_get_count(rd, UINT64_MAX);

    for (uint64_t i = 0; i < n && !rd->why; i++) {
        int64_t rowtime;
        sl_gentry *e = sl_aggop_key_load(&a->a, m, rd, &rowtime);
        group *g;

        if (!e)
            break;
        g = sl_gentry_payload(e);
        g->rowtime = rowtime;
        sl_groupmap_account(m, e, sl_aggop_states_load(&a->a, g->agg, rd));
    }
}

static int aggregate_restore(sl_operator *op, sl_ckpt_reader *rd)
{
    agg_op *a = (agg_op *)op;
    uint64_t nwins;

    load_groups(a, &a->a.groups, rd);
    nwins = sl_ckpt_get_count(rd, UINT64_MAX);
    if (a->win->kind == SL_WINDOW_NONE ? nwins > 0 : a->a.groups.count > 0)
        return sl_ckpt_fail(rd, "groups that do not fit the query's window");
    for (uint64_t i = 0; i < nwins && !rd->why; i++) {
        sl_window_span span;
        int64_t close_at;
        window *w;

        span.start = sl_ckpt_get_i64(rd);
        span.end = sl_ckpt_get_i64(rd);
        close_at = sl_window_close_at(a->win, &span);
        /* Open windows only, each after the one before. */
        if (close_at <= op->ctx->stats.watermark ||
            (a->nwins > a->head && span_cmp(&a->wins[a->nwins - 1]->span, &span) >= 0))
            return sl_ckpt_fail(rd, "window out of order or closed");
        w = window_get(a, &span, close_at);
        load_groups(a, &w->groups, rd);
    }
    return sl_ckpt_status(rd);
}

static void aggregate_free(sl_operator *op)
{
    agg_op *a = (agg_op *)op;

    if (!a)
        return;
    for (size_t i = a->head; i < a->nwins; i++)
        window_free(a, a->wins[i]);
    free(a->wins);
    groups_clear(a, &a->a.groups);
    sl_aggop_release(&a->a);
    free(a->spans);
    free(a);
}

sl_operator *sl_op_aggregate_new(const sl_node *node, sl_opctx *ctx)
{
    agg_op *a = sl_xcalloc(1, sizeof(*a));

    sl_aggop_init(&a->a, node, ctx,
                  sizeof(group) + (size_t)node->u.aggregate.naggs * sizeof(sl_agg_state));
    a->a.base.push = aggregate_push;
    a->a.base.advance = aggregate_advance;
    a->a.base.finish = aggregate_finish;
    a->a.base.free = aggregate_free;
    a->a.base.save = aggregate_save;
    a->a.base.restore = aggregate_restore;
    a->win = &node->u.aggregate.window;
    a->tz = a->win->time_zone ? sl_tz_get(a->win->time_zone) : NULL;
    a->spans = sl_xcalloc((size_t)sl_window_max_spans(a->win), sizeof(sl_window_span));
    return &a->a.base;
}
