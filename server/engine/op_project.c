/* op_project.c: the PROJECT operator: one output column per expression.
 *
 * The output row is a buffer allocated once with the operator and refilled for every
 * input row, so projecting allocates nothing per row.  Invariant: out->ncols equals the
 * node's expression count; the row's VARCHAR values borrow from the input row, the plan
 * or the scratch arena, which all outlive the downstream call. */
#include "op.h"

#include "eval.h"

#include <stdlib.h>

typedef struct project_op {
    sl_operator base;
    sl_row *out;
} project_op;

static void project_push(sl_operator *op, const sl_row *row, sl_change change)
{
    project_op *p = (project_op *)op;
    const sl_node *node = op->node;

    p->out->rowtime = row->rowtime;
    for (int i = 0; i < node->u.project.nexprs; i++) {
        const sl_expr *e = node->u.project.exprs[i];
        /* A column is copied without a call (most projected columns are). */
        if (e->kind == SL_EX_COLUMN && (uint32_t)e->u.col < row->ncols)
            p->out->v[i] = row->v[e->u.col];
        else
            p->out->v[i] = sl_eval(e, row, op->ctx->scratch);
    }
    sl_op_emit(op, p->out, change);
}

static void project_free(sl_operator *op)
{
    project_op *p = (project_op *)op;

    if (!p)
        return;
    sl_row_free(p->out);
    free(p);
}

sl_operator *sl_op_project_new(const sl_node *node, sl_opctx *ctx)
{
    project_op *p = sl_xcalloc(1, sizeof(*p));

    p->base.node = node;
    p->base.ctx = ctx;
    p->base.push = project_push;
    p->base.advance = sl_op_pass_advance;
    p->base.finish = sl_op_pass_finish;
    p->base.free = project_free;
    p->out = sl_row_new((uint32_t)node->u.project.nexprs);
    return &p->base;
}
