/* op.h: the operator interface the engine's pipeline is built from.
 *
 * A running query (query.c) holds one operator per plan node, chained from the SOURCE
 * operator up to the root's: each operator receives rows from the one below through
 * push, and passes its own output to `down` (the operator of the node above it), or to
 * the query's sink when it is the root.  Stream time flows the same way through advance,
 * and end of input through finish.  Operators read their plan node (immutable, shared)
 * and keep every piece of mutable state in their own struct (PostgreSQL's plan/state
 * split).  All operators of one query share one sl_opctx: the sink, the statistics
 * (the watermark included) and the evaluation scratch (arena and clock reading), reset
 * for each source row.
 *
 * Each op_<kind>.c defines one operator and exports only its constructor.
 *
 * Checkpoints (query.c): an operator that keeps state from one row to the next saves it
 * into a checkpoint and restores it into a fresh operator of the same plan node, so
 * that the restored query goes on exactly as the saved one would have (same output,
 * same order, same statistics).  The query's statistics, the watermark among them, are
 * restored before any operator. */
#ifndef SL_OP_H
#define SL_OP_H

#include "ckpt.h"
#include "eval.h"
#include "mem.h"
#include "plan.h"
#include "query.h"
#include "row.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sl_opctx {
    sl_sink sink;
    sl_query_stats stats;     /* rows_in, rows_out, late_rows, state_bytes, watermark */
    sl_scratch *scratch;      /* evaluation's arena and clock; reset per source row */
    const sl_row *source_row; /* the source row being pushed (borrowed), for sink->late */
} sl_opctx;

typedef struct sl_operator sl_operator;
struct sl_operator {
    const sl_node *node; /* borrowed from the plan */
    sl_opctx *ctx;       /* borrowed from the query */
    sl_operator *down;   /* the operator fed by this one, NULL for the root */
    /* A row of the input's layout, borrowed for the call. */
    void (*push)(sl_operator *op, const sl_row *row, sl_change change);
    /* Stream time has risen to wm (ctx->stats.watermark already says so). */
    void (*advance)(sl_operator *op, int64_t wm);
    /* End of input: emit what waits for it. */
    void (*finish)(sl_operator *op);
    /* Frees the operator and all it holds. */
    void (*free)(sl_operator *op);
    /* The aggregate below let go of the state behind row's key (its window closed
     * while emitting changes): forget what is kept for that key.  row has the
     * aggregate's layout and is borrowed.  NULL when the operator keeps nothing. */
    void (*closed)(sl_operator *op, const sl_row *row);
    /* Appends the operator's state to w (w->why set when it cannot).  NULL when the
     * operator keeps nothing from one row to the next (SORT and LIMIT keep state but
     * run only in batch, which is never checkpointed). */
    void (*save)(const sl_operator *op, sl_ckpt_writer *w);
    /* Rebuilds what save wrote into this operator, fresh from its constructor.  Returns
     * 0, or -1 with rd->why set: the operator may then only be freed.  NULL with save. */
    int (*restore)(sl_operator *op, sl_ckpt_reader *rd);
};

/* Tells the operator above op, when it keeps state by key, that row's key is done. */
static inline void sl_op_closed(sl_operator *op, const sl_row *row)
{
    if (op->down && op->down->closed)
        op->down->closed(op->down, row);
}

/* Hands row (borrowed) to the next operator, or to the sink when op is the root. */
static inline void sl_op_emit(sl_operator *op, const sl_row *row, sl_change change)
{
    if (op->down) {
        op->down->push(op->down, row, change);
    } else {
        op->ctx->stats.rows_out++;
        op->ctx->sink.emit(op->ctx->sink.ctx, change, row);
    }
}

/* advance and finish for operators that have nothing to do but pass them on. */
static inline void sl_op_pass_advance(sl_operator *op, int64_t wm)
{
    if (op->down)
        op->down->advance(op->down, wm);
}

static inline void sl_op_pass_finish(sl_operator *op)
{
    if (op->down)
        op->down->finish(op->down);
}

/* Operator constructors: each takes a node of its kind (borrowed from the plan, which
 * must outlive the operator) and the query's context (borrowed); the caller sets `down`
 * and frees the operator through its free function. */
sl_operator *sl_op_source_new(const sl_node *node, sl_opctx *ctx);
sl_operator *sl_op_filter_new(const sl_node *node, sl_opctx *ctx);
/* HAVING over an aggregate that emits changes (a FILTER whose input is AGGREGATE). */
sl_operator *sl_op_having_new(const sl_node *node, sl_opctx *ctx);
sl_operator *sl_op_project_new(const sl_node *node, sl_opctx *ctx);
sl_operator *sl_op_sort_new(const sl_node *node, sl_opctx *ctx);
sl_operator *sl_op_limit_new(const sl_node *node, sl_opctx *ctx);
/* AGGREGATE without a window or over TUMBLING, HOPPING or CUMULATING windows. */
sl_operator *sl_op_aggregate_new(const sl_node *node, sl_opctx *ctx);
/* AGGREGATE over SESSION, SLIDING and COUNT windows. */
sl_operator *sl_op_session_new(const sl_node *node, sl_opctx *ctx);
sl_operator *sl_op_sliding_new(const sl_node *node, sl_opctx *ctx);
sl_operator *sl_op_count_new(const sl_node *node, sl_opctx *ctx);

#endif
