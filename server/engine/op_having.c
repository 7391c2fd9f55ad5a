/* op_having.c: HAVING above an aggregate that emits changes.
 *
 * A plain FILTER would drop the upsert of a group whose HAVING turns false and leave
 * the group's previous row standing at the subscriber.  This operator remembers which
 * keys (WINDOWSTART, WINDOWEND and the GROUP BY values: the aggregate layout's first
 * columns) it has let through: an upsert that passes is sent and its key remembered;
 * one that fails is sent as an SL_CHANGE_DELETE when its key was remembered (and the
 * key forgotten), else dropped; a delete from below (a merged session) is sent when its
 * key was remembered.  A key is also forgotten when the aggregate says its window
 * closed (the closed hook), so the memory held follows the aggregate's own state.
 *
 * Invariant: keys holds exactly the keys whose last change sent downstream was an
 * upsert and whose window is still open; each is counted in state_bytes.
 *
 * Checkpoint: the keys it remembers, in the order they were let through. */
#include "op.h"

#include "eval.h"
#include "groupmap.h"

#include <stdlib.h>

typedef struct having_op {
    sl_operator base;
    int nkeys; /* leading columns of the aggregate layout that form the key */
    sl_groupmap keys;
} having_op;

static void having_push(sl_operator *op, const sl_row *row, sl_change change)
{
    having_op *h = (having_op *)op;
    bool made, pass;
    sl_gentry *e;

    pass =
        change != SL_CHANGE_DELETE && sl_eval_pred(op->node->u.filter.pred, row, op->ctx->scratch);
    if (pass) {
        sl_groupmap_get(&h->keys, row->v, &made);
        sl_op_emit(op, row, change);
        return;
    }
    /* Only a key that was sent needs its delete. */
    e = sl_groupmap_get(&h->keys, row->v, &made);
    sl_groupmap_remove(&h->keys, e);
    if (!made)
        sl_op_emit(op, row, SL_CHANGE_DELETE);
}

static void having_closed(sl_operator *op, const sl_row *row)
{
    having_op *h = (having_op *)op;
    bool made;

    sl_groupmap_remove(&h->keys, sl_groupmap_get(&h->keys, row->v, &made));
}

static void having_save(const sl_operator *op, sl_ckpt_writer *w)
{
    const having_op *h = (const having_op *)op;

    sl_ckpt_put_u64(w, h->keys.count);
    for (sl_gentry *e = h->keys.first; e; e = e->next)
        sl_ckpt_put_values(w, 0, (uint32_t)h->nkeys, e->key);
}

static int having_restore(sl_operator *op, sl_ckpt_reader *rd)
{
    having_op *h = (having_op *)op;
    uint64_t n = sl_ckpt_get_count(rd, UINT64_MAX);

    for (uint64_t i = 0; i < n && !rd->why; i++) {
        sl_row *key = sl_ckpt_get_values(rd, (uint32_t)h->nkeys);
        bool made;

        if (!key)
            break;
        sl_groupmap_get(&h->keys, key->v, &made);
        sl_row_free(key);
        if (!made)
            sl_ckpt_fail(rd, "a HAVING key saved twice");
    }
    return sl_ckpt_status(rd);
}

static void having_free(sl_operator *op)
{
    having_op *h = (having_op *)op;

    if (!h)
        return;
    sl_groupmap_clear(&h->keys);
    free(h);
}

sl_operator *sl_op_having_new(const sl_node *node, sl_opctx *ctx)
{
    having_op *h = sl_xcalloc(1, sizeof(*h));
    const sl_node *agg = node->input;

    h->base.node = node;
    h->base.ctx = ctx;
    h->base.push = having_push;
    h->base.advance = sl_op_pass_advance;
    h->base.finish = sl_op_pass_finish;
    h->base.free = having_free;
    h->base.closed = having_closed;
    h->base.save = having_save;
    h->base.restore = having_restore;
    h->nkeys = (agg->u.aggregate.window.kind == SL_WINDOW_NONE ? 0 : 2) + agg->u.aggregate.ngroups;
    sl_groupmap_init(&h->keys, h->nkeys, 0, &ctx->stats.state_bytes);
    return &h->base;
}
