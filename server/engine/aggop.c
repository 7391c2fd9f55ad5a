/* aggop.c: the parts the AGGREGATE operators share (aggop.h).
 *
 * Invariant: keys has ngroups values and args naggs, each with one spare so that a
 * query with no GROUP BY or no aggregate still allocates. */
#include "aggop.h"

#include "eval.h"
#include "mem.h"

#include <assert.h>
#include <stdlib.h>

void sl_aggop_init(sl_aggop *a, const sl_node *node, sl_opctx *ctx, size_t payload)
{
    a->base.node = node;
    a->base.ctx = ctx;
    a->base.advance = sl_op_pass_advance;
    a->base.finish = sl_op_pass_finish;
    a->calls = node->u.aggregate.aggs;
    a->emit = node->u.aggregate.emit;
    a->ngroups = node->u.aggregate.ngroups;
    a->naggs = node->u.aggregate.naggs;
    a->windowed = node->u.aggregate.window.kind != SL_WINDOW_NONE;
    assert(node->ncols == (a->windowed ? 2 : 0) + a->ngroups + a->naggs);
    a->keys = sl_xcalloc((size_t)a->ngroups + 1, sizeof(sl_value));
    a->args = sl_xcalloc((size_t)a->naggs + 1, sizeof(sl_value));
    a->out = sl_row_new((uint32_t)node->ncols);
    sl_groupmap_init(&a->groups, a->ngroups, payload, &ctx->stats.state_bytes);
}

void sl_aggop_release(sl_aggop *a)
{
    sl_groupmap_clear(&a->groups);
    sl_row_free(a->out);
    free(a->keys);
    free(a->args);
}

void sl_aggop_eval(sl_aggop *a, const sl_row *row)
{
    sl_scratch *scratch = a->base.ctx->scratch;

    for (int i = 0; i < a->ngroups; i++)
        a->keys[i] = sl_eval(a->base.node->u.aggregate.groups[i], row, scratch);
    for (int i = 0; i < a->naggs; i++)
        a->args[i] = a->calls[i].arg ? sl_eval(a->calls[i].arg, row, scratch) : sl_null();
}

void sl_aggop_late(sl_aggop *a)
{
    sl_opctx *ctx = a->base.ctx;

    ctx->stats.late_rows++;
    if (ctx->sink.late && ctx->source_row)
        ctx->sink.late(ctx->sink.ctx, ctx->source_row);
}

void sl_aggop_states_init(const sl_aggop *a, sl_agg_state *states)
{
    for (int i = 0; i < a->naggs; i++)
        sl_agg_init(&a->calls[i], &states[i]);
}

size_t sl_aggop_states_step(sl_aggop *a, sl_agg_state *states)
{
    size_t grew = 0;

    for (int i = 0; i < a->naggs; i++)
        grew += sl_agg_step(&a->calls[i], &states[i], a->calls[i].arg ? &a->args[i] : NULL,
                            (int64_t)a->base.ctx->stats.rows_in);
    return grew;
}

void sl_aggop_states_clear(const sl_aggop *a, sl_agg_state *states)
{
    for (int i = 0; i < a->naggs; i++)
        sl_agg_clear(&states[i]);
}

void sl_aggop_states_save(const sl_aggop *a, const sl_agg_state *states, sl_ckpt_writer *w)
{
    for (int i = 0; i < a->naggs; i++)
        sl_agg_save(&a->calls[i], &states[i], w);
}

size_t sl_aggop_states_load(const sl_aggop *a, sl_agg_state *states, sl_ckpt_reader *rd)
{
    size_t heap = 0;

    sl_aggop_states_init(a, states);
    for (int i = 0; i < a->naggs && !rd->why; i++) {
        sl_agg_load(&a->calls[i], &states[i], rd);
        heap += states[i].heap;
    }
    return heap;
}

sl_gentry *sl_aggop_key_load(sl_aggop *a, sl_groupmap *m, sl_ckpt_reader *rd, int64_t *rowtime)
{
    sl_row *key = sl_ckpt_get_values(rd, (uint32_t)a->ngroups);
    sl_gentry *e;
    bool made;

    if (!key)
        return NULL;
    e = sl_groupmap_get(m, key->v, &made);
    *rowtime = key->rowtime;
    sl_row_free(key);
    if (!made) {
        sl_ckpt_fail(rd, "a group saved twice");
        return NULL;
    }
    return e;
}

void sl_aggop_fill(sl_aggop *a, int64_t rowtime, int64_t start, int64_t end, const sl_value *key,
                   const sl_agg_state *states)
{
    sl_value *v = a->out->v;

    a->out->rowtime = rowtime;
    if (a->windowed) {
        *v++ = sl_int(SL_T_BIGINT, start);
        *v++ = sl_int(SL_T_BIGINT, end);
    }
    for (int i = 0; i < a->ngroups; i++)
        *v++ = key[i];
    for (int i = 0; i < a->naggs; i++)
        *v++ = sl_agg_final(&a->calls[i], &states[i]);
}

bool sl_aggop_sends_closing(const sl_aggop *a)
{
    return a->emit != SL_EMIT_CHANGES || (a->base.down && a->base.down->closed);
}

void sl_aggop_send_closing(sl_aggop *a)
{
    if (a->emit != SL_EMIT_CHANGES)
        sl_op_emit(&a->base, a->out, SL_CHANGE_UPSERT);
    else
        sl_op_closed(&a->base, a->out);
}
