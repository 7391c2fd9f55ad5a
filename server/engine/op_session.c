/* op_session.c: the AGGREGATE operator over SESSION windows (ksqlDB's semantics).
 *
 * A session holds the rows of one group that lie at most the gap apart: it spans
 * [WINDOWSTART, WINDOWEND] = [its first row's ROWTIME, its last row's ROWTIME], both
 * inclusive, as in ksqlDB.  A row at t joins every open session of its group with
 * end >= t - gap and start <= t + gap; when it bridges several, they merge into one
 * (the earliest), their aggregate states folded together with sl_agg_merge.  A session
 * closes when stream time reaches end + gap + grace; a row is late when a session of
 * that row alone would already be closed (t + gap + grace <= watermark).  A row joins
 * only open sessions: one within the gap of a closed session starts a new one.
 *
 * EMIT CHANGES: a row that moves a session's bounds changes its key, so the operator
 * first sends an SL_CHANGE_DELETE for the key of every session it replaces (the old
 * bounds, with the old values), then the UPSERT of the new session.  EMIT FINAL and
 * batch send each session once, when it closes, in closing order.
 *
 * Invariants: the open sessions are chained in `open` by end (hence by closing time:
 * gap and grace are the same for all), and each group's in its payload list by start,
 * never overlapping within gap; a group with no open session is removed; every session
 * and group is counted in ctx->stats.state_bytes.
 *
 * Checkpoint: the open sessions in the order of the open list (which decides the order
 * of sessions that close together), each as its group's key, its bounds and its
 * aggregate states. */
#include "aggop.h"
#include "window.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct session session;
struct session {
    session *prev, *next; /* open sessions by end */
    session *gnext;       /* the group's sessions by start */
    sl_gentry *group;
    int64_t start, end; /* ROWTIMEs of the first and the last row */
    size_t bytes;       /* counted in state_bytes, heap of the states included */
    sl_agg_state agg[];
};

typedef struct sgroup {
    session *first; /* by start */
} sgroup;

typedef struct session_op {
    sl_aggop a; /* first: a session_op is an sl_aggop and an sl_operator */
    int64_t gap, grace;
    session *open, *open_tail;
} session_op;

static int64_t close_at(const session_op *s, int64_t end)
{
    return sl_window_add_sat(sl_window_add_sat(end, s->gap), s->grace);
}

/* Fills s->a.out with the session's row. */
static void fill_session(session_op *s, const session *ss)
{
    sl_aggop_fill(&s->a, ss->start, ss->start, ss->end, ss->group->key, ss->agg);
}

static void emit_session(session_op *s, const session *ss, sl_change change)
{
    fill_session(s, ss);
    sl_op_emit(&s->a.base, s->a.out, change);
}

static void open_unlink(session_op *s, session *ss)
{
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        s->open = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    else
        s->open_tail = ss->prev;
    ss->prev = ss->next = NULL;
}

/* Links ss into the open list after every session whose end is not larger. */
static void open_insert(session_op *s, session *ss)
{
    session *at = s->open_tail;

    while (at && at->end > ss->end)
        at = at->prev;
    ss->prev = at;
    ss->next = at ? at->next : s->open;
    if (ss->next)
        ss->next->prev = ss;
    else
        s->open_tail = ss;
    if (at)
        at->next = ss;
    else
        s->open = ss;
}

static session *session_new(session_op *s, sl_gentry *g, int64_t t)
{
    size_t bytes = sizeof(session) + (size_t)s->a.naggs * sizeof(sl_agg_state);
    session *ss = sl_xcalloc(1, bytes);

    ss->group = g;
    ss->start = ss->end = t;
    ss->bytes = bytes;
    sl_aggop_states_init(&s->a, ss->agg);
    s->a.base.ctx->stats.state_bytes += bytes;
    return ss;
}

/* Frees ss (already unlinked from both lists). */
static void session_free(session_op *s, session *ss)
{
    sl_aggop_states_clear(&s->a, ss->agg);
    assert(s->a.base.ctx->stats.state_bytes >= ss->bytes);
    s->a.base.ctx->stats.state_bytes -= ss->bytes;
    free(ss);
}

static void account(session_op *s, session *ss, size_t grew)
{
    ss->bytes += grew;
    s->a.base.ctx->stats.state_bytes += grew;
}

static void session_push(sl_operator *op, const sl_row *row, sl_change change)
{
    session_op *s = (session_op *)op;
    const sl_aggcall *calls = s->a.calls;
    int64_t t = row->rowtime, lo = sl_window_add_sat(t, -s->gap), hi = sl_window_add_sat(t, s->gap);
    session *target = NULL, **link, *ss;
    sgroup *grp;
    sl_gentry *g;
    bool made;

    if (close_at(s, t) <= op->ctx->stats.watermark) {
        sl_aggop_late(&s->a);
        return;
    }
    sl_aggop_eval(&s->a, row);
    g = sl_groupmap_get(&s->a.groups, s->a.keys, &made);
    grp = sl_gentry_payload(g);

    /* The sessions within the gap are consecutive in the group's list: find them and
     * the bounds of their union with the row, then fold them into the first. */
    for (link = &grp->first; *link && (*link)->end < lo; link = &(*link)->gnext)
        ;
    int64_t start = t, end = t;
    for (ss = *link; ss && ss->start <= hi; ss = ss->gnext) {
        start = ss->start < start ? ss->start : start;
        end = ss->end > end ? ss->end : end;
    }
    while ((ss = *link) != NULL && ss->start <= hi) {
        if (s->a.emit == SL_EMIT_CHANGES && (ss->start != start || ss->end != end))
            emit_session(s, ss, SL_CHANGE_DELETE);
        if (!target) {
            target = ss;
            link = &ss->gnext;
            continue;
        }
        for (int i = 0; i < s->a.naggs; i++)
            account(s, target, sl_agg_merge(&calls[i], &target->agg[i], &ss->agg[i]));
        *link = ss->gnext;
        open_unlink(s, ss);
        session_free(s, ss);
    }
    if (!target) {
        target = session_new(s, g, t);
        for (link = &grp->first; *link && (*link)->start < t; link = &(*link)->gnext)
            ;
        target->gnext = *link;
        *link = target;
        open_insert(s, target);
    } else {
        target->start = start;
        open_unlink(s, target);
        target->end = end;
        open_insert(s, target);
    }
    account(s, target, sl_aggop_states_step(&s->a, target->agg));
    if (s->a.emit == SL_EMIT_CHANGES)
        emit_session(s, target, SL_CHANGE_UPSERT);
}

/* Closes the sessions whose end + gap + grace <= wm, in order of end. */
static void session_advance(sl_operator *op, int64_t wm)
{
    session_op *s = (session_op *)op;
    session *ss;

    while ((ss = s->open) != NULL && close_at(s, ss->end) <= wm) {
        sl_gentry *g = ss->group;
        sgroup *grp = sl_gentry_payload(g);
        session **link;

        if (sl_aggop_sends_closing(&s->a)) {
            fill_session(s, ss);
            sl_aggop_send_closing(&s->a);
        }
        open_unlink(s, ss);
        for (link = &grp->first; *link != ss; link = &(*link)->gnext)
            ;
        *link = ss->gnext;
        session_free(s, ss);
        if (!grp->first)
            sl_groupmap_remove(&s->a.groups, g);
    }
    sl_op_pass_advance(op, wm);
}

/* --- Checkpoints ------------------------------------------------------------------- */

static void session_save(const sl_operator *op, sl_ckpt_writer *w)
{
    const session_op *s = (const session_op *)op;
    uint64_t n = 0;

    for (const session *ss = s->open; ss; ss = ss->next)
        n++;
    sl_ckpt_put_u64(w, n);
    for (const session *ss = s->open; ss; ss = ss->next) {
        sl_ckpt_put_values(w, 0, (uint32_t)s->a.ngroups, ss->group->key);
        sl_ckpt_put_i64(w, ss->start);
        sl_ckpt_put_i64(w, ss->end);
        sl_aggop_states_save(&s->a, ss->agg, w);
    }
}

static int session_restore(sl_operator *op, sl_ckpt_reader *rd)
{
    session_op *s = (session_op *)op;
    uint64_t n = sl_ckpt_get_count(rd, UINT64_MAX);

    for (uint64_t i = 0; i < n && !rd->why; i++) {
        sl_row *key = sl_ckpt_get_values(rd, (uint32_t)s->a.ngroups);
        int64_t start = sl_ckpt_get_i64(rd), end = sl_ckpt_get_i64(rd);
        session *ss, **link;
        sl_gentry *g;
        sgroup *grp;
        bool made;

        if (!key)
            break;
        g = sl_groupmap_get(&s->a.groups, key->v, &made);
        sl_row_free(key);
        grp = sl_gentry_payload(g);
        /* Open, in the order of their ends, apart from the group's other sessions. */
        if (rd->why || start > end || close_at(s, end) <= op->ctx->stats.watermark ||
            (s->open_tail && s->open_tail->end > end))
            sl_ckpt_fail(rd, "session out of order or closed");
        for (link = &grp->first; *link && (*link)->end < start; link = &(*link)->gnext)
            ;
        if (*link && (*link)->start <= end)
            sl_ckpt_fail(rd, "overlapping sessions");
        if (rd->why) {
            if (!grp->first)
                sl_groupmap_remove(&s->a.groups, g);
            break;
        }
        ss = session_new(s, g, start);
        ss->end = end;
        ss->gnext = *link;
        *link = ss;
        open_insert(s, ss);
        account(s, ss, sl_aggop_states_load(&s->a, ss->agg, rd));
    }
    return sl_ckpt_status(rd);
}

static void session_op_free(sl_operator *op)
{
    session_op *s = (session_op *)op;

    if (!s)
        return;
    for (session *ss = s->open, *next; ss; ss = next) {
        next = ss->next;
        session_free(s, ss);
    }
    sl_aggop_release(&s->a);
    free(s);
}

sl_operator *sl_op_session_new(const sl_node *node, sl_opctx *ctx)
{
    session_op *s = sl_xcalloc(1, sizeof(*s));

    assert(node->u.aggregate.window.kind == SL_WINDOW_SESSION);
    sl_aggop_init(&s->a, node, ctx, sizeof(sgroup));
    s->a.base.push = session_push;
    s->a.base.advance = session_advance;
    s->a.base.free = session_op_free;
    s->a.base.save = session_save;
    s->a.base.restore = session_restore;
    s->gap = node->u.aggregate.window.size_ms;
    s->grace = node->u.aggregate.window.grace_ms;
    return &s->a.base;
}
