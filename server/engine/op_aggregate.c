/* op_aggregate.c: the AGGREGATE operator: GROUP BY, optionally over TUMBLING, HOPPING or
 * CUMULATING windows (SESSION, SLIDING and COUNT windows have operators of their own).
 *
 * Groups live in hash tables keyed by the GROUP BY values (sl_value_hash/sl_value_eq),
 * one table for a plain GROUP BY, one per open window otherwise.  Each table also
 * chains its groups in the order they were first seen, the order final rows come out
 * in.  A row updates the state of each window holding it once (a hopping row is in
 * SIZE / ADVANCE windows).  Open windows sit in an array sorted by (end, start); every
 * window of a query has the same grace, so closing order is that order, and closing
 * pops from the front.
 *
 * Output rows have the node's layout: [WINDOWSTART, WINDOWEND,] groups..., aggregates...
 * EMIT CHANGES sends the group's new row (an UPSERT) for every input row; EMIT FINAL and
 * batch send each (window, group) once when the window closes, and a plain GROUP BY in
 * batch sends its groups at finish.
 *
 * Invariants: wins[head..nwins) are the open windows, strictly increasing in (end,
 * start);
 * every group, window and group-table slot array is counted in ctx->stats.state_bytes
 * from its allocation to its free, and a group's count includes the heap bytes its
 * aggregate states own.  Input rows are additions whatever their change kind (the
 * operators below an aggregate only produce inserts). */
#include "op.h"

#include "agg.h"
#include "eval.h"
#include "window.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN_SLOTS 8
#define HASH_SEED 0x736c756963650001ull

typedef struct group group;
struct group {
    group *next;        /* the next group first seen after this one */
    uint64_t hash;      /* of key */
    int64_t rowtime;    /* the largest ROWTIME among the group's inputs */
    size_t bytes;       /* counted in state_bytes for this group */
    sl_value *key;      /* the GROUP BY values; VARCHAR bytes follow them */
    sl_agg_state agg[]; /* one per aggregate call; then the key values */
};

typedef struct group_table {
    group **slots; /* open addressing, linear probing; NULL is empty */
    size_t nslots; /* 0 or a power of two, at least twice count */
    size_t count;
    group *first, *last; /* first-seen order */
} group_table;

typedef struct window {
    sl_window_span span;
    int64_t close_at; /* the watermark at which the window closes */
    group_table groups;
} window;

typedef struct agg_op {
    sl_operator base;
    const sl_window *win;  /* the node's window; kind NONE for a plain GROUP BY */
    const sl_tz *tz;       /* win->time_zone loaded; NULL for UTC */
    sl_window_span *spans; /* room for sl_window_max_spans(win) */
    sl_emit emit;
    int ngroups, naggs;
    sl_value *keys;  /* the current row's GROUP BY values */
    sl_value *args;  /* the current row's aggregate arguments */
    sl_row *out;     /* the output row, refilled per emission */
    group_table all; /* a plain GROUP BY's groups */
    window **wins;   /* open windows: wins[head..nwins) */
    size_t head, nwins, cap;
} agg_op;

static void state_add(agg_op *a, size_t n)
{
    a->base.ctx->stats.state_bytes += n;
}

static void state_sub(agg_op *a, size_t n)
{
    assert(a->base.ctx->stats.state_bytes >= n);
    a->base.ctx->stats.state_bytes -= n;
}

/* --- Groups ------------------------------------------------------------------------- */

static uint64_t hash_key(const sl_value *key, int n)
{
    uint64_t h = HASH_SEED;

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

/* A new group for key (borrowed; copied with its strings), counted in state_bytes.
 * Caller links it into a table. */
static group *group_new(agg_op *a, const sl_value *key, uint64_t hash, int64_t rowtime)
{
    size_t fixed = sizeof(group) + (size_t)a->naggs * sizeof(sl_agg_state);
    size_t nkey = (size_t)a->ngroups * sizeof(sl_value);
    size_t nstr = 0;

    for (int i = 0; i < a->ngroups; i++)
        if (key[i].type == SL_T_VARCHAR)
            nstr += key[i].u.s.len;

    group *g = sl_xmalloc(fixed + nkey + nstr);
    char *strings = (char *)g + fixed + nkey;

    g->next = NULL;
    g->hash = hash;
    g->rowtime = rowtime;
    g->bytes = fixed + nkey + nstr;
    g->key = (sl_value *)((char *)g + fixed);
    for (int i = 0; i < a->ngroups; i++) {
        g->key[i] = key[i];
        if (key[i].type == SL_T_VARCHAR) {
            if (key[i].u.s.len)
                memcpy(strings, key[i].u.s.ptr, key[i].u.s.len);
            g->key[i].u.s.ptr = strings;
            strings += key[i].u.s.len;
        }
    }
    for (int i = 0; i < a->naggs; i++)
        sl_agg_init(&a->base.node->u.aggregate.aggs[i], &g->agg[i]);
    state_add(a, g->bytes);
    return g;
}

/* Frees g; its aggregate states' heap bytes are already part of g->bytes. */
static void group_free(agg_op *a, group *g)
{
    for (int i = 0; i < a->naggs; i++)
        sl_agg_clear(&g->agg[i]);
    state_sub(a, g->bytes);
    free(g);
}

/* Puts g in the slot its hash probes to first among the empty ones. */
static void table_place(group_table *t, group *g)
{
    size_t mask = t->nslots - 1;
    size_t i = g->hash & mask;

    while (t->slots[i])
        i = (i + 1) & mask;
    t->slots[i] = g;
}

static void table_grow(agg_op *a, group_table *t)
{
    size_t n = t->nslots ? t->nslots * 2 : TABLE_MIN_SLOTS;

    free(t->slots);
    state_sub(a, t->nslots * sizeof(group *));
    t->slots = sl_xcalloc(n, sizeof(group *));
    t->nslots = n;
    state_add(a, n * sizeof(group *));
    for (group *g = t->first; g; g = g->next)
        table_place(t, g);
}

/* The group of key (borrowed) in t, made (in first-seen order) when it is new. */
static group *table_get(agg_op *a, group_table *t, const sl_value *key, int64_t rowtime)
{
    uint64_t hash = hash_key(key, a->ngroups);
    size_t mask, i;
    group *g;

    if ((t->count + 1) * 2 > t->nslots)
        table_grow(a, t);
    mask = t->nslots - 1;
    for (i = hash & mask; (g = t->slots[i]) != NULL; i = (i + 1) & mask)
        if (g->hash == hash && key_eq(g->key, key, a->ngroups))
            return g;
    g = group_new(a, key, hash, rowtime);
    t->slots[i] = g;
    t->count++;
    if (t->last)
        t->last->next = g;
    else
        t->first = g;
    t->last = g;
    return g;
}

/* Frees every group and the slots; leaves t empty. */
static void table_clear(agg_op *a, group_table *t)
{
    for (group *g = t->first, *next; g; g = next) {
        next = g->next;
        group_free(a, g);
    }
    free(t->slots);
    state_sub(a, t->nslots * sizeof(group *));
    memset(t, 0, sizeof(*t));
}

/* --- Windows ------------------------------------------------------------------------ */

static void window_free(agg_op *a, window *w)
{
    table_clear(a, &w->groups);
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
    state_add(a, sizeof(*w));
    a->wins[lo] = w;
    return w;
}

/* --- Output ------------------------------------------------------------------------- */

/* Fills a->out with g's current row: rowtime is the window's start when windowed (w
 * set), else the group's latest input ROWTIME. */
static void fill_group(agg_op *a, const group *g, const window *w)
{
    const sl_aggcall *calls = a->base.node->u.aggregate.aggs;
    sl_row *out = a->out;
    sl_value *v = out->v;

    if (w) {
        out->rowtime = w->span.start;
        *v++ = sl_int(SL_T_BIGINT, w->span.start);
        *v++ = sl_int(SL_T_BIGINT, w->span.end);
    } else {
        out->rowtime = g->rowtime;
    }
    for (int i = 0; i < a->ngroups; i++)
        *v++ = g->key[i];
    for (int i = 0; i < a->naggs; i++)
        *v++ = sl_agg_final(&calls[i], &g->agg[i]);
}

/* Sends g's current row as an UPSERT. */
static void emit_group(agg_op *a, const group *g, const window *w)
{
    fill_group(a, g, w);
    sl_op_emit(&a->base, a->out, SL_CHANGE_UPSERT);
}

static void emit_table(agg_op *a, const group_table *t, const window *w)
{
    for (const group *g = t->first; g; g = g->next)
        emit_group(a, g, w);
}

/* --- The operator ------------------------------------------------------------------- */

/* Adds the current row (keys and args evaluated) to the group of key in t. */
static group *accumulate(agg_op *a, group_table *t, int64_t rowtime)
{
    const sl_aggcall *calls = a->base.node->u.aggregate.aggs;
    group *g = table_get(a, t, a->keys, rowtime);
    size_t grew = 0;

    if (rowtime > g->rowtime)
        g->rowtime = rowtime;
    for (int i = 0; i < a->naggs; i++)
        grew += sl_agg_step(&calls[i], &g->agg[i], calls[i].arg ? &a->args[i] : NULL,
                            (int64_t)a->base.ctx->stats.rows_in);
    g->bytes += grew;
    state_add(a, grew);
    return g;
}

static void aggregate_push(sl_operator *op, const sl_row *row, sl_change change)
{
    agg_op *a = (agg_op *)op;
    const sl_node *node = op->node;
    sl_opctx *ctx = op->ctx;
    sl_window_span *spans = a->spans;
    bool late = false;
    group *g;

    for (int i = 0; i < a->ngroups; i++)
        a->keys[i] = sl_eval(node->u.aggregate.groups[i], row, ctx->scratch);
    for (int i = 0; i < a->naggs; i++)
        if (node->u.aggregate.aggs[i].arg)
            a->args[i] = sl_eval(node->u.aggregate.aggs[i].arg, row, ctx->scratch);

    if (a->win->kind == SL_WINDOW_NONE) {
        g = accumulate(a, &a->all, row->rowtime);
        if (a->emit == SL_EMIT_CHANGES)
            emit_group(a, g, NULL);
        return;
    }

    int n = sl_window_assign(a->win, a->tz, row->rowtime, spans);
    for (int k = 0; k < n; k++) {
        int64_t close_at = sl_window_close_at(a->win, &spans[k]);

        if (close_at <= ctx->stats.watermark) {
            late = true;
            continue;
        }
        window *w = window_get(a, &spans[k], close_at);
        g = accumulate(a, &w->groups, row->rowtime);
        if (a->emit == SL_EMIT_CHANGES)
            emit_group(a, g, w);
    }
    if (late) {
        ctx->stats.late_rows++;
        if (ctx->sink.late && ctx->source_row)
            ctx->sink.late(ctx->sink.ctx, ctx->source_row);
    }
}

/* Closes the windows whose close_at <= wm, oldest first, emitting their final rows
 * unless the node emits changes. */
static void aggregate_advance(sl_operator *op, int64_t wm)
{
    agg_op *a = (agg_op *)op;

    while (a->head < a->nwins && a->wins[a->head]->close_at <= wm) {
        window *w = a->wins[a->head++];

        if (a->emit != SL_EMIT_CHANGES) {
            emit_table(a, &w->groups, w);
        } else if (op->down && op->down->closed) {
            for (const group *g = w->groups.first; g; g = g->next) {
                fill_group(a, g, w);
                sl_op_closed(op, a->out);
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

    if (a->win->kind == SL_WINDOW_NONE && a->emit != SL_EMIT_CHANGES) {
        emit_table(a, &a->all, NULL);
        table_clear(a, &a->all);
    }
    sl_op_pass_finish(op);
}

static void aggregate_free(sl_operator *op)
{
    agg_op *a = (agg_op *)op;

    if (!a)
        return;
    for (size_t i = a->head; i < a->nwins; i++)
        window_free(a, a->wins[i]);
    free(a->wins);
    table_clear(a, &a->all);
    sl_row_free(a->out);
    free(a->spans);
    free(a->keys);
    free(a->args);
    free(a);
}

sl_operator *sl_op_aggregate_new(const sl_node *node, sl_opctx *ctx)
{
    agg_op *a = sl_xcalloc(1, sizeof(*a));

    a->base.node = node;
    a->base.ctx = ctx;
    a->base.push = aggregate_push;
    a->base.advance = aggregate_advance;
    a->base.finish = aggregate_finish;
    a->base.free = aggregate_free;
    a->win = &node->u.aggregate.window;
    a->tz = a->win->time_zone ? sl_tz_get(a->win->time_zone) : NULL;
    a->spans = sl_xcalloc((size_t)sl_window_max_spans(a->win), sizeof(sl_window_span));
    a->emit = node->u.aggregate.emit;
    a->ngroups = node->u.aggregate.ngroups;
    a->naggs = node->u.aggregate.naggs;
    assert(node->ncols == (a->win->kind == SL_WINDOW_NONE ? 0 : 2) + a->ngroups + a->naggs);
    a->keys = sl_xcalloc((size_t)a->ngroups, sizeof(sl_value));
    a->args = sl_xcalloc((size_t)a->naggs, sizeof(sl_value));
    a->out = sl_row_new((uint32_t)node->ncols);
    return &a->base;
}
