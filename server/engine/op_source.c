/* op_source.c: the SOURCE operator, where a query's input rows enter the pipeline.
 *
 * It counts the rows in and remembers the row being processed, so that an operator
 * further up can hand the original row to sink->late.  It keeps no other state. */
#include "op.h"

#include <stdlib.h>

static void source_push(sl_operator *op, const sl_row *row, sl_change change)
{
    op->ctx->stats.rows_in++;
    op->ctx->source_row = row;
    sl_op_emit(op, row, change);
    op->ctx->source_row = NULL;
}

static void source_free(sl_operator *op)
{
    free(op);
}

sl_operator *sl_op_source_new(const sl_node *node, sl_opctx *ctx)
{
    sl_operator *op = sl_xcalloc(1, sizeof(*op));

    op->node = node;
    op->ctx = ctx;
    op->push = source_push;
    op->advance = sl_op_pass_advance;
    op->finish = sl_op_pass_finish;
    op->free = source_free;
    return op;
}
