/* query.c: a running query: the operator chain of a plan, stream time and statistics.
 *
 * sl_query_new walks the plan from its root down to the SOURCE node and makes one
 * operator per node; each operator's `down` is the operator of the node above it, and
 * the root's output goes to the sink.  Rows enter at the SOURCE operator.
 *
 * Invariants: ctx.stats.watermark only rises; it is raised to a row's ROWTIME before
 * the row is processed, and the chain is told through advance after the row, so that
 * windows the new stream time closes close once the row is in.
 *
 * A checkpoint is one frame (ckpt.h) tagged with the plan's fingerprint: the
 * statistics, then for every operator from the SOURCE up its node kind, whether it has
 * state and that state, then EMIT CHANGES EVERY's held changes. */
#include "query.h"

#include "microbatch.h"
#include "op.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The checkpoint format: magic and version (ckpt.h frames). */
#define QUERY_CKPT_MAGIC "SLQC"
#define QUERY_CKPT_VERSION 1

struct sl_query {
    const sl_plan *plan; /* borrowed */
    sl_opctx ctx;
    int nops;
    sl_operator **ops;   /* ops[0] is the root's operator, ops[nops - 1] the source's */
    sl_operator *source; /* == ops[nops - 1] */
    sl_microbatch *mb;   /* EMIT CHANGES EVERY's buffer, NULL without EVERY */
    size_t state_limit;  /* bytes of state past which a push fails; 0: none */
};

static sl_operator *operator_new(const sl_node *node, sl_opctx *ctx)
{
    switch (node->kind) {
    case SL_NODE_SOURCE:
        return sl_op_source_new(node, ctx);
    case SL_NODE_FILTER:
        if (node->input->kind == SL_NODE_AGGREGATE &&
            node->input->u.aggregate.emit == SL_EMIT_CHANGES)
            return sl_op_having_new(node, ctx);
        return sl_op_filter_new(node, ctx);
    case SL_NODE_AGGREGATE:
        switch (node->u.aggregate.window.kind) {
        case SL_WINDOW_SESSION:
            return sl_op_session_new(node, ctx);
        case SL_WINDOW_SLIDING:
            return sl_op_sliding_new(node, ctx);
        case SL_WINDOW_COUNT:
            return sl_op_count_new(node, ctx);
        default:
            return sl_op_aggregate_new(node, ctx);
        }
    case SL_NODE_PROJECT:
        return sl_op_project_new(node, ctx);
    case SL_NODE_SORT:
        return sl_op_sort_new(node, ctx);
    case SL_NODE_LIMIT:
        return sl_op_limit_new(node, ctx);
    }
    assert(!"bad plan node kind");
    return NULL;
}

sl_query *sl_query_new(const sl_plan *plan, const sl_sink *sink)
{
    sl_query *q = sl_xcalloc(1, sizeof(*q));
    const sl_node *node;
    int i;

    assert(sink->emit);
    q->plan = plan;
    q->ctx.sink = *sink;
    q->ctx.stats.watermark = INT64_MIN;
    for (node = plan->root; node; node = node->input)
        if (node->kind == SL_NODE_AGGREGATE && node->u.aggregate.every_ms > 0)
            q->mb = sl_microbatch_new(plan, node->u.aggregate.every_ms, sink, &q->ctx.stats,
                                      &q->ctx.sink);
    q->ctx.scratch = sl_xcalloc(1, sizeof(*q->ctx.scratch));
    q->ctx.scratch->arena = sl_arena_new();
    q->ctx.scratch->clock_ms = sink->clock_ms;
    q->ctx.scratch->clock_ctx = sink->clock_ctx;
    for (node = plan->root; node; node = node->input)
        q->nops++;
    q->ops = sl_xcalloc((size_t)q->nops, sizeof(sl_operator *));
    for (node = plan->root, i = 0; node; node = node->input, i++) {
        q->ops[i] = operator_new(node, &q->ctx);
        q->ops[i]->down = i > 0 ? q->ops[i - 1] : NULL;
    }
    assert(q->nops > 0 && q->ops[q->nops - 1]->node->kind == SL_NODE_SOURCE);
    q->source = q->ops[q->nops - 1];
    return q;
}

void sl_query_free(sl_query *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->nops; i++)
        q->ops[i]->free(q->ops[i]);
    free(q->ops);
    sl_microbatch_free(q->mb);
    sl_arena_free(q->ctx.scratch->arena);
    free(q->ctx.scratch);
    free(q);
}

int sl_query_push(sl_query *q, const sl_row *row, sl_error *err)
{
    bool raised = row->rowtime > q->ctx.stats.watermark;

    if (row->ncols != (uint32_t)q->source->node->ncols)
        return sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "row has %u columns where stream %s has %d",
                            row->ncols, q->plan->source, q->source->node->ncols);
    sl_scratch_reset(q->ctx.scratch);
    if (raised && q->mb)
        sl_microbatch_time(q->mb, q->ctx.stats.watermark, row->rowtime);
    if (raised)
        q->ctx.stats.watermark = row->rowtime;
    q->source->push(q->source, row, SL_CHANGE_INSERT);
    if (raised)
        q->source->advance(q->source, row->rowtime);
    if (q->state_limit && q->ctx.stats.state_bytes > q->state_limit)
        return sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, 0, 0,
                            "the query's state holds %zu bytes, past its limit of %zu bytes",
                            q->ctx.stats.state_bytes, q->state_limit);
    return 0;
}

void sl_query_set_state_limit(sl_query *q, size_t bytes)
{
    q->state_limit = bytes;
}

void sl_query_advance(sl_query *q, int64_t wm)
{
    if (wm <= q->ctx.stats.watermark)
        return;
    if (q->mb)
        sl_microbatch_time(q->mb, q->ctx.stats.watermark, wm);
    q->ctx.stats.watermark = wm;
    q->source->advance(q->source, wm);
}

void sl_query_skip(sl_query *q, uint64_t n, int64_t max_rowtime)
{
    q->ctx.stats.rows_in += n;
    sl_query_advance(q, max_rowtime);
}

void sl_query_finish(sl_query *q)
{
    sl_query_advance(q, INT64_MAX);
    q->source->finish(q->source);
    if (q->mb)
        sl_microbatch_flush(q->mb);
}

void sl_query_stats_get(const sl_query *q, sl_query_stats *out)
{
    *out = q->ctx.stats;
}

/* --- Checkpoints --------------------------------------------------------------------- */

/* What identifies a plan for its checkpoints: its EXPLAIN text, and each node's kind
 * and column types and each aggregate's function, type and parameter (which EXPLAIN
 * may not spell out).  A checkpoint of another plan, or of this plan as compiled by a
 * build that plans it otherwise, is refused rather than misread. */
static uint64_t plan_fingerprint(const sl_plan *plan)
{
    sl_buf b = SL_BUF_INIT;
    char *text = sl_plan_explain(plan);
    uint64_t h;

    sl_buf_puts(&b, text);
    free(text);
    for (const sl_node *n = plan->root; n; n = n->input) {
        sl_buf_printf(&b, "|%d:%d", (int)n->kind, n->ncols);
        for (int i = 0; i < n->ncols; i++) {
            sl_buf_printf(&b, ",%s", sl_type_name(n->cols[i].type));
            if (n->cols[i].desc)
                sl_typedesc_format(n->cols[i].desc, &b);
        }
        if (n->kind != SL_NODE_AGGREGATE)
            continue;
        for (int i = 0; i < n->u.aggregate.naggs; i++) {
            const sl_aggcall *c = &n->u.aggregate.aggs[i];

            sl_buf_printf(&b, ";%s:%s:%.17g", sl_agg_name(c->fn), sl_type_name(c->type), c->param);
        }
    }
    h = sl_ckpt_checksum(b.data, b.len);
    sl_buf_free(&b);
    return h;
}

int sl_query_save(const sl_query *q, sl_buf *out, sl_error *err)
{
    sl_ckpt_writer w = {out, NULL};
    size_t at;

    if (q->plan->emit == SL_EMIT_BATCH)
        return sl_error_set(err, SL_ERR_UNSUPPORTED, 0, 0, "a batch query has no checkpoints");
    at = sl_ckpt_frame_begin(&w, QUERY_CKPT_MAGIC, QUERY_CKPT_VERSION, plan_fingerprint(q->plan));
    sl_ckpt_put_u64(&w, q->ctx.stats.rows_in);
    sl_ckpt_put_u64(&w, q->ctx.stats.rows_out);
    sl_ckpt_put_u64(&w, q->ctx.stats.late_rows);
    sl_ckpt_put_i64(&w, q->ctx.stats.watermark);
    sl_ckpt_put_u64(&w, (uint64_t)q->nops);
    for (int i = q->nops - 1; i >= 0; i--) {
        const sl_operator *op = q->ops[i];

        sl_ckpt_put_u64(&w, (uint64_t)op->node->kind);
        sl_ckpt_put_bool(&w, op->save != NULL);
        if (op->save)
            op->save(op, &w);
    }
    sl_ckpt_put_bool(&w, q->mb != NULL);
    if (q->mb)
        sl_microbatch_save(q->mb, &w);
    if (w.why)
        return sl_error_set(err, SL_ERR_UNSUPPORTED, 0, 0, "cannot checkpoint the query: %s",
                            w.why);
    sl_ckpt_frame_end(&w, at);
    return 0;
}

int sl_query_restore(sl_query *q, const void *data, size_t len, sl_error *err)
{
    sl_query_stats *st = &q->ctx.stats;
    sl_ckpt_reader rd;

    assert(st->rows_in == 0 && st->rows_out == 0 && st->watermark == INT64_MIN);
    if (sl_ckpt_frame_open(&rd, data, len, QUERY_CKPT_MAGIC, QUERY_CKPT_VERSION,
                           plan_fingerprint(q->plan)) == 0) {
        st->rows_in = sl_ckpt_get_u64(&rd);
        st->rows_out = sl_ckpt_get_u64(&rd);
        st->late_rows = sl_ckpt_get_u64(&rd);
        st->watermark = sl_ckpt_get_i64(&rd);
        if (sl_ckpt_get_u64(&rd) != (uint64_t)q->nops)
            sl_ckpt_fail(&rd, "another number of operators");
        for (int i = q->nops - 1; i >= 0 && !rd.why; i--) {
            sl_operator *op = q->ops[i];

            if (sl_ckpt_get_u64(&rd) != (uint64_t)op->node->kind ||
                sl_ckpt_get_bool(&rd) != (op->restore != NULL))
                sl_ckpt_fail(&rd, "another operator");
            else if (op->restore)
                op->restore(op, &rd);
        }
        if (sl_ckpt_get_bool(&rd) != (q->mb != NULL))
            sl_ckpt_fail(&rd, "another EMIT clause");
        else if (q->mb)
            sl_microbatch_restore(q->mb, &rd);
        if (!rd.why && rd.p != rd.end)
            sl_ckpt_fail(&rd, "trailing bytes");
    }
    if (rd.why)
        return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "damaged checkpoint: %s", rd.why);
    return 0;
}
