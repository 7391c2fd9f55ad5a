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
 * When every aggregate can take inputs back out (sl_agg_can_retract: COUNT, integer
 * SUM), each group also keeps a running window: the states of the window computed last,
 * over its rows run_first .. run_last.  The next window of the group whose ROWTIME is
 * not earlier is then reached by stepping the rows that entered and retracting the ones
 * that left, so a group's windows cost O(1) amortised per row instead of O(rows in the
 * window).  A row inserted before run_last, a retraction that cannot be exact (an
 * overflowing sum), or a window that goes back in time drops the running window, and the
 * next one is computed from the buffer again.  It is derived state: checkpoints leave
 * it out.
 *
 * EMIT CHANGES sends a row's window when it arrives, and, when it arrives out of order,
 * the new rows of the later windows of its group that now contain it.  EMIT FINAL and
 * batch send each row's window once, when it closes.
 *
 * Invariants: every buffered row is in exactly one of pending and expiring; a group's
 * buffer is empty only transiently (the group is then removed); state_bytes counts
 * every row, group buffer and queue slot.
 *
 * Checkpoint: the groups in first-seen order, each as its key and its buffered rows in
 * order, each row as its ROWTIME, offset, whether its window is still open (pending)
 * and its aggregate arguments.  Restoring rebuilds both queues by sorting. */
#include "aggop.h"
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
    sl_agg_state *run;                /* the running window's states, or NULL */
    const srow *run_first, *run_last; /* the rows it holds, both in rows[head..n) */
} sgroup;

/* A FIFO (or sorted array) of rows: items[head..n). */
typedef struct queue {
    srow **items;
    size_t head, n, cap;
} queue;

typedef struct sliding_op {
    sl_aggop a; /* first: a sliding_op is an sl_aggop and an sl_operator */
    int64_t size, grace;
    sl_agg_state *states; /* scratch states for one window */
    bool retract;         /* every aggregate can retract: groups keep running windows */
    queue pending, expiring;
} sliding_op;

static bool before(const srow *a, int64_t t, int64_t off)
{
    return a->t < t || (a->t == t && a->off < off);
}

static void account(sliding_op *s, size_t add, size_t sub)
{
    s->a.base.ctx->stats.state_bytes += add;
    assert(s->a.base.ctx->stats.state_bytes >= sub);
    s->a.base.ctx->stats.state_bytes -= sub;
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

/* The index in rows[head..n) of r, which the group holds. */
static size_t index_of(const sgroup *grp, const srow *r)
{
    size_t lo = grp->head, hi = grp->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before(grp->rows[mid], r->t, r->off))
            lo = mid + 1;
        else
            hi = mid;
    }
    assert(lo < grp->n && grp->rows[lo] == r);
    return lo;
}

/* Frees the group's running window, if it has one. */
static void run_drop(sliding_op *s, sgroup *grp)
{
    size_t held = 0;

    if (!grp->run)
        return;
    for (int i = 0; i < s->a.naggs; i++)
        held += sl_agg_clear(&grp->run[i]);
    account(s, 0, held + (size_t)s->a.naggs * sizeof(sl_agg_state));
    free(grp->run);
    grp->run = NULL;
    grp->run_first = grp->run_last = NULL;
}

/* Adds (retract false) or takes out the inputs of x; false when a retraction cannot be
 * exact. */
static bool run_apply(sliding_op *s, sgroup *grp, const srow *x, bool retract)
{
    const sl_aggcall *calls = s->a.calls;
    size_t gained = 0;

    for (int i = 0; i < s->a.naggs; i++) {
        const sl_value *arg = calls[i].arg ? &x->args->v[i] : NULL;

        if (!retract)
            gained += sl_agg_step(&calls[i], &grp->run[i], arg, x->off);
        else if (!sl_agg_retract(&calls[i], &grp->run[i], arg))
            return false;
    }
    account(s, gained, 0);
    return true;
}

/* Moves the group's running window to r's window, (r->t - SIZE, r->t]: from the window
 * it holds when r is not earlier, else from nothing.  False (and no running window)
 * when that fails. */
static bool run_to(sliding_op *s, sgroup *grp, const srow *r)
{
    int64_t lo = sl_window_add_sat(r->t, -s->size);
    const srow *first = NULL, *last = NULL;
    size_t k = grp->head;

    if (grp->run && r->t < grp->run_last->t)
        run_drop(s, grp);
    if (!grp->run) {
        grp->run = sl_xcalloc((size_t)s->a.naggs + 1, sizeof(sl_agg_state));
        account(s, (size_t)s->a.naggs * sizeof(sl_agg_state), 0);
        sl_aggop_states_init(&s->a, grp->run);
    } else {
        /* Rows that left: the oldest held ones, at or before lo. */
        size_t end = index_of(grp, grp->run_last) + 1;

        for (k = index_of(grp, grp->run_first); k < end; k++) {
            if (grp->rows[k]->t > lo) {
                first = grp->rows[k];
                break;
            }
            if (!run_apply(s, grp, grp->rows[k], true)) {
                run_drop(s, grp);
                return false;
            }
        }
        if (first)
            last = grp->run_last;
        k = end;
    }
    /* Rows that entered: the newer ones up to r's ROWTIME. */
    for (; k < grp->n && grp->rows[k]->t <= r->t; k++) {
        if (grp->rows[k]->t <= lo)
            continue;
        run_apply(s, grp, grp->rows[k], false);
        if (!first)
            first = grp->rows[k];
        last = grp->rows[k];
    }
    assert(first && last);
    grp->run_first = first;
    grp->run_last = last;
    return true;
}

/* Fills s->a.out with the row of r's window and returns the states it came from: the
 * group's running window, or s->states, which the caller then clears. */
static const sl_agg_state *fill_window(sliding_op *s, const srow *r)
{
    const sl_aggcall *calls = s->a.calls;
    sgroup *grp = sl_gentry_payload(r->group);
    int64_t lo = sl_window_add_sat(r->t, -s->size);

    if (s->retract && run_to(s, grp, r)) {
        sl_aggop_fill(&s->a, r->t, sl_window_add_sat(lo, 1), sl_window_add_sat(r->t, 1),
                      r->group->key, grp->run);
        return grp->run;
    }
    sl_aggop_states_init(&s->a, s->states);
    for (size_t k = grp->head; k < grp->n; k++) {
        const srow *x = grp->rows[k];

        if (x->t <= lo)
            continue;
        if (x->t > r->t)
            break;
        for (int i = 0; i < s->a.naggs; i++)
            sl_agg_step(&calls[i], &s->states[i], calls[i].arg ? &x->args->v[i] : NULL, x->off);
    }
    sl_aggop_fill(&s->a, r->t, sl_window_add_sat(lo, 1), sl_window_add_sat(r->t, 1), r->group->key,
                  s->states);
    return s->states;
}

/* Clears the states fill_window used, unless they are a running window. */
static void done_window(sliding_op *s, const sl_agg_state *used)
{
    if (used == s->states)
        sl_aggop_states_clear(&s->a, s->states);
}

static void emit_window(sliding_op *s, const srow *r)
{
    const sl_agg_state *used = fill_window(s, r);

    sl_op_emit(&s->a.base, s->a.out, SL_CHANGE_UPSERT);
    done_window(s, used);
}

static void sliding_push(sl_operator *op, const sl_row *row, sl_change change)
{
    sliding_op *s = (sliding_op *)op;
    int64_t t = row->rowtime;
    sl_gentry *g;
    sgroup *grp;
    srow *r;
    bool made;

    if (sl_window_add_sat(sl_window_add_sat(t, 1), s->grace) <= op->ctx->stats.watermark) {
        sl_aggop_late(&s->a);
        return;
    }
    sl_aggop_eval(&s->a, row);
    g = sl_groupmap_get(&s->a.groups, s->a.keys, &made);
    grp = sl_gentry_payload(g);
    r = sl_xcalloc(1, sizeof(*r));
    r->t = t;
    r->off = (int64_t)op->ctx->stats.rows_in;
    r->group = g;
    r->args = sl_row_make(t, (uint32_t)s->a.naggs, s->a.args);
    r->bytes = sizeof(*r) + sl_row_bytes(r->args);
    account(s, r->bytes, 0);
    array_insert(s, &grp->rows, &grp->head, &grp->n, &grp->cap, r);
    array_insert(s, &s->pending.items, &s->pending.head, &s->pending.n, &s->pending.cap, r);
    if (grp->run && before(r, grp->run_last->t, grp->run_last->off))
        run_drop(s, grp);
    if (s->a.emit != SL_EMIT_CHANGES)
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

    run_drop(s, grp);
    free(grp->rows);
    account(s, 0, grp->cap * sizeof(srow *));
    sl_groupmap_remove(&s->a.groups, g);
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
        if (sl_aggop_sends_closing(&s->a)) {
            const sl_agg_state *used = fill_window(s, r);
            sl_aggop_send_closing(&s->a);
            done_window(s, used);
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
        /* A row the running window holds leaves it first. */
        if (grp->run && r == grp->run_first && (r == grp->run_last || !run_apply(s, grp, r, true)))
            run_drop(s, grp);
        else if (grp->run && r == grp->run_first)
            grp->run_first = grp->rows[grp->head + 1];
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

/* --- Checkpoints ------------------------------------------------------------------- */

static void sliding_save(const sl_operator *op, sl_ckpt_writer *w)
{
    const sliding_op *s = (const sliding_op *)op;

    sl_ckpt_put_u64(w, s->a.groups.count);
    for (sl_gentry *g = s->a.groups.first; g; g = g->next) {
        const sgroup *grp = sl_gentry_payload(g);

        sl_ckpt_put_values(w, 0, (uint32_t)s->a.ngroups, g->key);
        sl_ckpt_put_u64(w, grp->n - grp->head);
        for (size_t k = grp->head; k < grp->n; k++) {
            const srow *r = grp->rows[k];
            bool open =
                sl_window_add_sat(sl_window_add_sat(r->t, 1), s->grace) > op->ctx->stats.watermark;

            sl_ckpt_put_i64(w, r->off);
            sl_ckpt_put_bool(w, open);
            sl_ckpt_put_row(w, r->args);
        }
    }
}

/* Orders rows by (ROWTIME, offset) for qsort. */
static int srow_cmp(const void *pa, const void *pb)
{
    const srow *a = *(srow *const *)pa, *b = *(srow *const *)pb;

    return before(a, b->t, b->off) ? -1 : before(b, a->t, a->off) ? 1 : 0;
}

/* Appends rows[0..n), sorted here, to the empty queue q. */
static void queue_fill(sliding_op *s, queue *q, srow **rows, size_t n)
{
    if (n == 0)
        return;
    qsort(rows, n, sizeof(srow *), srow_cmp);
    for (size_t i = 0; i < n; i++) {
        array_room(s, &q->items, &q->head, &q->n, &q->cap);
        q->items[q->n++] = rows[i];
    }
}

/* Reads one buffered row of group g; false once the reader failed. */
static bool load_row(sliding_op *s, sl_gentry *g, sl_ckpt_reader *rd, srow ***lists, size_t *lens)
{
    sgroup *grp = sl_gentry_payload(g);
    int64_t off = sl_ckpt_get_i64(rd), wm = s->a.base.ctx->stats.watermark;
    bool open = sl_ckpt_get_bool(rd);
    sl_row *args = sl_ckpt_get_values(rd, (uint32_t)s->a.naggs);
    int64_t t = args ? args->rowtime : 0;
    srow *r;

    /* In order in the group; pending exactly when its window is open; expiring only
     * while a window can still reach it. */
    if (args && ((grp->n > grp->head && !before(grp->rows[grp->n - 1], t, off)) ||
                 open != (sl_window_add_sat(sl_window_add_sat(t, 1), s->grace) > wm) ||
                 sl_window_add_sat(sl_window_add_sat(t, s->size), s->grace) <= wm))
        sl_ckpt_fail(rd, "sliding window rows out of order");
    if (rd->why) {
        sl_row_free(args);
        return false;
    }
    r = sl_xcalloc(1, sizeof(*r));
    r->t = t;
    r->off = off;
    r->group = g;
    r->args = args;
    r->bytes = sizeof(*r) + sl_row_bytes(args);
    account(s, r->bytes, 0);
    array_insert(s, &grp->rows, &grp->head, &grp->n, &grp->cap, r);
    lists[open] = sl_xrealloc(lists[open], (lens[open] + 1) * sizeof(srow *));
    lists[open][lens[open]++] = r;
    return true;
}

static int sliding_restore(sl_operator *op, sl_ckpt_reader *rd)
{
    sliding_op *s = (sliding_op *)op;
    uint64_t ngroups = sl_ckpt_get_count(rd, UINT64_MAX);
    srow **lists[2] = {NULL, NULL}; /* [0] expiring, [1] pending */
    size_t lens[2] = {0, 0};

    for (uint64_t i = 0; i < ngroups && !rd->why; i++) {
        int64_t unused;
        sl_gentry *g = sl_aggop_key_load(&s->a, &s->a.groups, rd, &unused);
        uint64_t n = sl_ckpt_get_count(rd, UINT64_MAX);

        if (g && n == 0)
            sl_ckpt_fail(rd, "sliding window group without rows");
        for (uint64_t k = 0; k < n && load_row(s, g, rd, lists, lens); k++)
            ;
    }
    /* The rows are in their groups, to be freed with the operator; the queues own
     * them as soon as they are filled. */
    queue_fill(s, &s->expiring, lists[0], lens[0]);
    queue_fill(s, &s->pending, lists[1], lens[1]);
    free(lists[0]);
    free(lists[1]);
    return sl_ckpt_status(rd);
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
    for (sl_gentry *g = s->a.groups.first; g; g = g->next) {
        sgroup *grp = sl_gentry_payload(g);

        run_drop(s, grp);
        free(grp->rows);
        account(s, 0, grp->cap * sizeof(srow *));
    }
    free(s->pending.items);
    free(s->expiring.items);
    account(s, 0, (s->pending.cap + s->expiring.cap) * sizeof(srow *));
    free(s->states);
    sl_aggop_release(&s->a);
    free(s);
}

sl_operator *sl_op_sliding_new(const sl_node *node, sl_opctx *ctx)
{
    sliding_op *s = sl_xcalloc(1, sizeof(*s));

    assert(node->u.aggregate.window.kind == SL_WINDOW_SLIDING);
    sl_aggop_init(&s->a, node, ctx, sizeof(sgroup));
    s->a.base.push = sliding_push;
    s->a.base.advance = sliding_advance;
    s->a.base.free = sliding_free;
    s->a.base.save = sliding_save;
    s->a.base.restore = sliding_restore;
    s->size = node->u.aggregate.window.size_ms;
    s->grace = node->u.aggregate.window.grace_ms;
    s->states = sl_xcalloc((size_t)s->a.naggs + 1, sizeof(sl_agg_state));
    s->retract = true;
    for (int i = 0; i < s->a.naggs; i++)
        s->retract = s->retract && sl_agg_can_retract(&s->a.calls[i]);
    return &s->a.base;
}
