/* agg.c: the aggregate functions of aggs.def.
 *
 * One row of functions per aggregate in a table indexed by sl_agg_fn, so that adding an
 * aggregate is a row in aggs.def, its functions here and a row in the table.
 * Invariants: NULL inputs are ignored by every function except COUNT(*); st->n counts
 * the inputs that were not ignored; st->buf is NULL or owns st->cap bytes. */
#include "agg.h"

#include "mem.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct agg_impl {
    size_t (*step)(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg);
    sl_value (*final)(const sl_aggcall *call, const sl_agg_state *st);
} agg_impl;

static size_t count_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    if (!arg || arg->type != SL_T_NULL)
        st->n++;
    return 0;
}

static sl_value count_final(const sl_aggcall *call, const sl_agg_state *st)
{
    return sl_int(SL_T_BIGINT, st->n);
}

static size_t sum_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    if (arg->type == SL_T_NULL)
        return 0;
    st->n++;
    if (call->type == SL_T_DOUBLE)
        st->sum.d += arg->type == SL_T_DOUBLE ? arg->u.d : (double)arg->u.i;
    else if (!st->overflow && __builtin_add_overflow(st->sum.i, arg->u.i, &st->sum.i))
        st->overflow = true;
    return 0;
}

static sl_value sum_final(const sl_aggcall *call, const sl_agg_state *st)
{
    if (st->n == 0 || st->overflow)
        return sl_null();
    if (call->type == SL_T_DOUBLE)
        return isfinite(st->sum.d) ? sl_double(st->sum.d) : sl_null();
    return sl_int(SL_T_BIGINT, st->sum.i);
}

/* AVG sums in DOUBLE whatever the argument's type. */
static size_t avg_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    if (arg->type == SL_T_NULL)
        return 0;
    st->n++;
    st->sum.d += arg->type == SL_T_DOUBLE ? arg->u.d : (double)arg->u.i;
    return 0;
}

static sl_value avg_final(const sl_aggcall *call, const sl_agg_state *st)
{
    if (st->n == 0)
        return sl_null();
    double d = st->sum.d / (double)st->n;
    return isfinite(d) ? sl_double(d) : sl_null();
}

/* Keeps arg as the new extreme, copying VARCHAR bytes into the state's buffer. */
static size_t keep(sl_agg_state *st, const sl_value *arg)
{
    size_t grew = 0;

    st->best = *arg;
    if (arg->type != SL_T_VARCHAR)
        return 0;
    if (arg->u.s.len > st->cap) {
        uint32_t cap = st->cap ? st->cap : 16;
        while (cap < arg->u.s.len)
            cap = cap > UINT32_MAX / 2 ? arg->u.s.len : cap * 2;
        st->buf = sl_xrealloc(st->buf, cap);
        grew = cap - st->cap;
        st->cap = cap;
    }
    if (arg->u.s.len)
        memcpy(st->buf, arg->u.s.ptr, arg->u.s.len);
    st->best.u.s.ptr = st->buf;
    return grew;
}

static size_t min_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    if (arg->type == SL_T_NULL)
        return 0;
    if (st->n++ == 0 || sl_value_cmp(arg, &st->best) < 0)
        return keep(st, arg);
    return 0;
}

static size_t max_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    if (arg->type == SL_T_NULL)
        return 0;
    if (st->n++ == 0 || sl_value_cmp(arg, &st->best) > 0)
        return keep(st, arg);
    return 0;
}

static sl_value best_final(const sl_aggcall *call, const sl_agg_state *st)
{
    return st->best;
}

static const agg_impl impls[SL_AGG__COUNT] = {
    [SL_AGG_COUNT] = {count_step, count_final}, [SL_AGG_SUM] = {sum_step, sum_final},
    [SL_AGG_AVG] = {avg_step, avg_final},       [SL_AGG_MIN] = {min_step, best_final},
    [SL_AGG_MAX] = {max_step, best_final},
};

void sl_agg_init(const sl_aggcall *call, sl_agg_state *st)
{
    assert((unsigned)call->fn < SL_AGG__COUNT && impls[call->fn].step);
    memset(st, 0, sizeof(*st));
    st->best = sl_null();
}

size_t sl_agg_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    return impls[call->fn].step(call, st, arg);
}

sl_value sl_agg_final(const sl_aggcall *call, const sl_agg_state *st)
{
    return impls[call->fn].final(call, st);
}

size_t sl_agg_clear(sl_agg_state *st)
{
    size_t held = st->cap;

    free(st->buf);
    st->buf = NULL;
    st->cap = 0;
    return held;
}
