/* op_limit.c: the LIMIT operator (batch queries only): passes the first n rows it
 * receives and drops the rest.  Its only state is the count. */
#include "op.h"

#include <stdlib.h>

typedef struct limit_op {
    sl_operator base;
    int64_t left; /* rows still to pass */
} limit_op;

static void limit_push(sl_operator *op, const sl_row *row, sl_change change)
{
    limit_op *l = (limit_op *)op;

    if (l->left <= 0)
        return;
    l->left--;
    sl_op_emit(op, row, change);
}

static void limit_free(sl_operator *op)
{
    free(op);
}

sl_operator *sl_op_limit_new(const sl_node *node, sl_opctx *ctx)
{
    limit_op *l = sl_xcalloc(1, sizeof(*l));

    l->base.node = node;
    l->base.ctx = ctx;
    l->base.push = limit_push;
    l->base.advance = sl_op_pass_advance;
    l->base.finish = sl_op_pass_finish;
    l->base.free = limit_free;
    l->left = node->u.limit.n;
    return &l->base;
}
