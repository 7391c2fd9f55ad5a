/* op_sort.c: the SORT operator (ORDER BY, batch queries only).
 *
 * Keeps a copy of every result row until the end of input, then sends them ordered by
 * the node's keys, each ascending or descending, ties in arrival order (the sort is
 * stable).  Keys compare with sl_value_cmp: NULL sorts first ascending and last
 * descending.  Keys are evaluated once per row, when it arrives, and kept with it.
 * Invariant: every kept row and its keys are counted in state_bytes until sent. */
#include "op.h"

#include "eval.h"
#include "row.h"

#include <stdlib.h>
#include <string.h>

typedef struct sort_op {
    sl_operator base;
    int nkeys;
    sl_row **rows; /* rows[i]: the result row; keys[i]: its keys (a row of nkeys) */
    sl_row **keys;
    size_t n, cap;
} sort_op;

/* qsort has no context argument: the operator being sorted, set around the call. */
static _Thread_local const sort_op *sorting;

typedef struct item {
    size_t i; /* arrival index: the tie-break */
} item;

static int cmp_items(const void *pa, const void *pb)
{
    size_t a = ((const item *)pa)->i, b = ((const item *)pb)->i;
    const sort_op *s = sorting;

    for (int k = 0; k < s->nkeys; k++) {
        int c = sl_value_cmp(&s->keys[a]->v[k], &s->keys[b]->v[k]);

        if (c != 0)
            return s->base.node->u.sort.desc[k] ? -c : c;
    }
    return a < b ? -1 : a > b;
}

static void sort_push(sl_operator *op, const sl_row *row, sl_change change)
{
    sort_op *s = (sort_op *)op;
    sl_row *key;

    (void)change;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        s->rows = sl_xrealloc(s->rows, cap * sizeof(sl_row *));
        s->keys = sl_xrealloc(s->keys, cap * sizeof(sl_row *));
        op->ctx->stats.state_bytes += (cap - s->cap) * 2 * sizeof(sl_row *);
        s->cap = cap;
    }
    key = sl_row_new((uint32_t)s->nkeys);
    for (int i = 0; i < s->nkeys; i++)
        key->v[i] = sl_eval(op->node->u.sort.keys[i], row, op->ctx->scratch);
    s->keys[s->n] = sl_row_copy(key);
    sl_row_free(key);
    s->rows[s->n] = sl_row_copy(row);
    op->ctx->stats.state_bytes += sl_row_bytes(s->rows[s->n]) + sl_row_bytes(s->keys[s->n]);
    s->n++;
}

/* Frees the kept rows and their arrays. */
static void release(sort_op *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s->base.ctx->stats.state_bytes -= sl_row_bytes(s->rows[i]) + sl_row_bytes(s->keys[i]);
        sl_row_free(s->rows[i]);
        sl_row_free(s->keys[i]);
    }
    s->base.ctx->stats.state_bytes -= s->cap * 2 * sizeof(sl_row *);
    free(s->rows);
    free(s->keys);
    s->rows = s->keys = NULL;
    s->n = s->cap = 0;
}

static void sort_finish(sl_operator *op)
{
    sort_op *s = (sort_op *)op;
    item *order = sl_xcalloc(s->n ? s->n : 1, sizeof(item));

    for (size_t i = 0; i < s->n; i++)
        order[i].i = i;
    sorting = s;
    qsort(order, s->n, sizeof(item), cmp_items);
    sorting = NULL;
    for (size_t i = 0; i < s->n; i++)
        sl_op_emit(op, s->rows[order[i].i], SL_CHANGE_INSERT);
    free(order);
    release(s);
    sl_op_pass_finish(op);
}

static void sort_free(sl_operator *op)
{
    sort_op *s = (sort_op *)op;

    if (!s)
        return;
    release(s);
    free(s);
}

sl_operator *sl_op_sort_new(const sl_node *node, sl_opctx *ctx)
{
    sort_op *s = sl_xcalloc(1, sizeof(*s));

    s->base.node = node;
    s->base.ctx = ctx;
    s->base.push = sort_push;
    s->base.advance = sl_op_pass_advance;
    s->base.finish = sort_finish;
    s->base.free = sort_free;
    s->nkeys = node->u.sort.nkeys;
    return &s->base;
}
