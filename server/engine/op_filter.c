/* op_filter.c: the FILTER operator (WHERE, and HAVING above an aggregate).
 *
 * A row goes on, unchanged and with its change kind, only when the predicate is TRUE;
 * FALSE and NULL drop it.  The operator keeps no state. */
#include "op.h"

#include "eval.h"

#include <stdlib.h>

static void filter_push(sl_operator *op, const sl_row *row, sl_change change)
{
    if (sl_eval_pred(op->node->u.filter.pred, row, op->ctx->scratch))
        sl_op_emit(op, row, change);
}

static void filter_free(sl_operator *op)
{
    free(op);
}

sl_operator *sl_op_filter_new(const sl_node *node, sl_opctx *ctx)
{
    sl_operator *op = sl_xcalloc(1, sizeof(*op));

    op->node = node;
    op->ctx = ctx;
    op->push = filter_push;
    op->advance = sl_op_pass_advance;
    op->finish = sl_op_pass_finish;
    op->free = filter_free;
    return op;
}
