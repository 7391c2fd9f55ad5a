/* agg.c: the aggregate functions of aggs.def.
 *
 * One row of functions per aggregate in a table indexed by sl_agg_fn, so that adding an
 * aggregate is a row in aggs.def, its functions here and a row in the table.
 * Invariants: NULL inputs are ignored by every function except COUNT(*), COLLECT_LIST
 * and COLLECT_SET; st->n counts the inputs that were not ignored; st->buf is NULL or
 * owns st->cap bytes; st->heap is the sum of every heap allocation the state owns. */
#include "agg.h"

#include "decimal.h"
#include "limits.h"
#include "mem.h"
#include "nested.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct agg_impl {
    void (*step)(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off);
    void (*merge)(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src);
    sl_value (*final)(const sl_aggcall *call, const sl_agg_state *st);
    /* Checkpoints of what a function keeps in st->ext (NULL for a function that keeps
     * nothing there): save_ext appends it; load_ext rebuilds it into a state that has no
     * ext yet, counting the heap it takes in st->heap. */
    void (*save_ext)(const sl_aggcall *call, const sl_agg_state *st, sl_ckpt_writer *w);
    void (*load_ext)(const sl_aggcall *call, sl_agg_state *st, sl_ckpt_reader *rd);
} agg_impl;

static double num(const sl_value *v)
{
    if (v->type == SL_T_DECIMAL)
        return sl_decimal_to_double(v);
    return v->type == SL_T_DOUBLE ? v->u.d : (double)v->u.i;
}

/* True when call sums DECIMALs (SUM, AVG): their exact running total is kept in
 * st->best, at the argument's scale with room for 38 digits. */
static bool sums_decimals(const sl_aggcall *call)
{
    return call->arg && call->arg->type == SL_T_DECIMAL;
}

/* Adds v (a DECIMAL, or NULL: nothing) to the DECIMAL total of call; past 38 digits the
 * total is lost (st->overflow) and the result is NULL. */
static void decimal_add(const sl_aggcall *call, sl_agg_state *st, const sl_value *v)
{
    int scale = call->arg->desc->scale;
    sl_value t;

    if (st->overflow || v->type == SL_T_NULL)
        return;
    if (st->best.type == SL_T_NULL)
        t = sl_decimal_rescale(v, SL_MAX_DECIMAL_DIGITS, scale);
    else
        t = sl_decimal_arith(SL_DECIMAL_ADD, &st->best, v, SL_MAX_DECIMAL_DIGITS, scale);
    if (t.type == SL_T_NULL)
        st->overflow = true;
    else
        st->best = t;
}

/* --- COUNT, SUM, AVG ---------------------------------------------------------------- */

static void count_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    if (!arg || arg->type != SL_T_NULL)
        st->n++;
}

static void count_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    dst->n += src->n;
}

static sl_value count_final(const sl_aggcall *call, const sl_agg_state *st)
{
    return sl_int(SL_T_BIGINT, st->n);
}

static void sum_add(const sl_aggcall *call, sl_agg_state *st, int64_t i, double d)
{
    if (call->type == SL_T_DOUBLE)
        st->sum.d += d;
    else if (!st->overflow && __builtin_add_overflow(st->sum.i, i, &st->sum.i))
        st->overflow = true;
}

static void sum_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    st->n++;
    if (sums_decimals(call))
        decimal_add(call, st, arg);
    else
        sum_add(call, st, arg->type == SL_T_DOUBLE ? 0 : arg->u.i, num(arg));
}

static void sum_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    dst->n += src->n;
    dst->overflow = dst->overflow || src->overflow;
    if (sums_decimals(call))
        decimal_add(call, dst, &src->best);
    else
        sum_add(call, dst, src->sum.i, src->sum.d);
}

static sl_value sum_final(const sl_aggcall *call, const sl_agg_state *st)
{
    if (st->n == 0 || st->overflow)
        return sl_null();
    if (call->type == SL_T_DECIMAL)
        return sl_decimal_fits(&st->best, call->desc->precision) ? st->best : sl_null();
    if (call->type == SL_T_DOUBLE)
        return isfinite(st->sum.d) ? sl_double(st->sum.d) : sl_null();
    return sl_int(SL_T_BIGINT, st->sum.i);
}

/* AVG sums in DOUBLE, except DECIMALs, summed exactly; the result is a DOUBLE. */
static void avg_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    st->n++;
    if (sums_decimals(call))
        decimal_add(call, st, arg);
    else
        st->sum.d += num(arg);
}

static void avg_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    dst->n += src->n;
    dst->overflow = dst->overflow || src->overflow;
    if (sums_decimals(call))
        decimal_add(call, dst, &src->best);
    else
        dst->sum.d += src->sum.d;
}

static sl_value avg_final(const sl_aggcall *call, const sl_agg_state *st)
{
    if (st->n == 0 || st->overflow)
        return sl_null();
    double sum = sums_decimals(call) ? sl_decimal_to_double(&st->best) : st->sum.d;
    double d = sum / (double)st->n;
    return isfinite(d) ? sl_double(d) : sl_null();
}

/* --- MIN, MAX, EARLIEST_BY_OFFSET, LATEST_BY_OFFSET --------------------------------- */

/* Keeps v as the state's value, copying the bytes of a VARCHAR, BYTES, ARRAY, MAP or
 * STRUCT into the state's buffer. */
static void keep(sl_agg_state *st, const sl_value *v, int64_t off)
{
    st->best = *v;
    st->off = off;
    if (!sl_type_has_bytes(v->type))
        return;
    if (v->u.s.len > st->cap) {
        uint32_t cap = st->cap ? st->cap : 16;
        while (cap < v->u.s.len)
            cap = cap > UINT32_MAX / 2 ? v->u.s.len : cap * 2;
        st->buf = sl_xrealloc(st->buf, cap);
        st->heap += cap - st->cap;
        st->cap = cap;
    }
    if (v->u.s.len)
        memmove(st->buf, v->u.s.ptr, v->u.s.len);
    st->best.u.s.ptr = st->buf;
}

static void min_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    if (st->n++ == 0 || sl_value_cmp(arg, &st->best) < 0)
        keep(st, arg, off);
}

static void max_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    if (st->n++ == 0 || sl_value_cmp(arg, &st->best) > 0)
        keep(st, arg, off);
}

static void min_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    if (src->n > 0 && (dst->n == 0 || sl_value_cmp(&src->best, &dst->best) < 0))
        keep(dst, &src->best, src->off);
    dst->n += src->n;
}

static void max_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    if (src->n > 0 && (dst->n == 0 || sl_value_cmp(&src->best, &dst->best) > 0))
        keep(dst, &src->best, src->off);
    dst->n += src->n;
}

static void earliest_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg,
                          int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    if (st->n++ == 0 || off < st->off)
        keep(st, arg, off);
}

static void latest_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    if (st->n++ == 0 || off >= st->off)
        keep(st, arg, off);
}

static void earliest_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    if (src->n > 0 && (dst->n == 0 || src->off < dst->off))
        keep(dst, &src->best, src->off);
    dst->n += src->n;
}

static void latest_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    if (src->n > 0 && (dst->n == 0 || src->off > dst->off))
        keep(dst, &src->best, src->off);
    dst->n += src->n;
}

static sl_value best_final(const sl_aggcall *call, const sl_agg_state *st)
{
    return st->best;
}

/* --- STDDEV_SAMP: Welford's running mean and squared deviations, merged by Chan's
 * formula. ---------------------------------------------------------------------------- */

static void stddev_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    double x, delta;

    if (arg->type == SL_T_NULL)
        return;
    x = num(arg);
    st->n++;
    delta = x - st->sum.d;
    st->sum.d += delta / (double)st->n;
    st->m2 += delta * (x - st->sum.d);
}

static void stddev_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    double n1 = (double)dst->n, n2 = (double)src->n, delta;

    if (src->n == 0)
        return;
    if (dst->n == 0) {
        dst->n = src->n;
        dst->sum.d = src->sum.d;
        dst->m2 = src->m2;
        return;
    }
    delta = src->sum.d - dst->sum.d;
    dst->sum.d += delta * n2 / (n1 + n2);
    dst->m2 += src->m2 + delta * delta * n1 * n2 / (n1 + n2);
    dst->n += src->n;
}

static sl_value stddev_final(const sl_aggcall *call, const sl_agg_state *st)
{
    double d;

    if (st->n < 2)
        return sl_null();
    d = sqrt(st->m2 > 0 ? st->m2 / (double)(st->n - 1) : 0);
    return isfinite(d) ? sl_double(d) : sl_null();
}

/* --- COUNT_DISTINCT: an exact set of the values seen (open addressing; VARCHAR bytes
 * copied, one allocation each). ------------------------------------------------------- */

#define SET_MIN_SLOTS 8
#define SET_SEED 0x636f756e74646973ull

typedef struct valset {
    size_t nslots, count; /* nslots: 0 or a power of two, at least twice count */
    sl_value *slots;      /* type SL_T__COUNT marks an empty slot */
} valset;

static void set_free(void *p);

static void set_place(valset *s, const sl_value *v)
{
    size_t mask = s->nslots - 1;
    size_t i = sl_value_hash(v, SET_SEED) & mask;

    while (s->slots[i].type != SL_T__COUNT)
        i = (i + 1) & mask;
    s->slots[i] = *v;
}

static void set_grow(sl_agg_state *st, valset *s)
{
    size_t n = s->nslots ? s->nslots * 2 : SET_MIN_SLOTS;
    sl_value *old = s->slots;
    size_t nold = s->nslots;

    s->slots = sl_xmalloc(n * sizeof(sl_value));
    for (size_t i = 0; i < n; i++)
        s->slots[i].type = SL_T__COUNT;
    s->nslots = n;
    for (size_t i = 0; i < nold; i++)
        if (old[i].type != SL_T__COUNT)
            set_place(s, &old[i]);
    free(old);
    st->heap += (n - nold) * sizeof(sl_value);
}

/* Adds v (borrowed) to the state's set unless it is there. */
static void set_add(sl_agg_state *st, const sl_value *v)
{
    valset *s = st->ext;
    size_t mask, i;
    sl_value copy = *v;

    if (!s) {
        s = st->ext = sl_xcalloc(1, sizeof(*s));
        st->ext_free = set_free;
        st->heap += sizeof(*s);
    }
    if ((s->count + 1) * 2 > s->nslots)
        set_grow(st, s);
    mask = s->nslots - 1;
    for (i = sl_value_hash(v, SET_SEED) & mask; s->slots[i].type != SL_T__COUNT; i = (i + 1) & mask)
        if (sl_value_eq(&s->slots[i], v))
            return;
    if (sl_type_has_bytes(v->type)) {
        char *bytes = sl_xmalloc(v->u.s.len ? v->u.s.len : 1);

        if (v->u.s.len)
            memcpy(bytes, v->u.s.ptr, v->u.s.len);
        copy.u.s.ptr = bytes;
        st->heap += v->u.s.len ? v->u.s.len : 1;
    }
    s->slots[i] = copy;
    s->count++;
}

static void set_free(void *p)
{
    valset *s = p;

    if (!s)
        return;
    for (size_t i = 0; i < s->nslots; i++)
        if (sl_type_has_bytes(s->slots[i].type))
            free((char *)s->slots[i].u.s.ptr);
    free(s->slots);
    free(s);
}

static void distinct_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg,
                          int64_t off)
{
    if (arg->type == SL_T_NULL)
        return;
    st->n++;
    set_add(st, arg);
}

static void distinct_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    const valset *s = src->ext;

    dst->n += src->n;
    for (size_t i = 0; s && i < s->nslots; i++)
        if (s->slots[i].type != SL_T__COUNT)
            set_add(dst, &s->slots[i]);
}

static sl_value distinct_final(const sl_aggcall *call, const sl_agg_state *st)
{
    const valset *s = st->ext;

    return sl_int(SL_T_BIGINT, s ? (int64_t)s->count : 0);
}

/* The set as its count, then each value. */
static void distinct_save(const sl_aggcall *call, const sl_agg_state *st, sl_ckpt_writer *w)
{
    const valset *s = st->ext;

    sl_ckpt_put_u64(w, s->count);
    for (size_t i = 0; i < s->nslots; i++)
        if (s->slots[i].type != SL_T__COUNT)
            sl_ckpt_put_values(w, 0, 1, &s->slots[i]);
}

static void distinct_load(const sl_aggcall *call, sl_agg_state *st, sl_ckpt_reader *rd)
{
    uint64_t n = sl_ckpt_get_count(rd, UINT64_MAX);

    for (uint64_t i = 0; i < n; i++) {
        sl_row *v = sl_ckpt_get_values(rd, 1);

        if (!v)
            return;
        if (v->v[0].type == SL_T_NULL)
            sl_ckpt_fail(rd, "NULL in a COUNT_DISTINCT set");
        else
            set_add(st, &v->v[0]);
        sl_row_free(v);
    }
    if (!st->ext || ((const valset *)st->ext)->count != n)
        sl_ckpt_fail(rd, "COUNT_DISTINCT set with repeated values");
}

/* --- PERCENTILE_APPROX: a DDSketch (Masson, Rim and Lee, VLDB 2019).  A value x > 0
 * counts in bucket i = ceil(log_gamma(x)), which holds (gamma^(i-1), gamma^i]; with
 * gamma = (1 + a) / (1 - a) every value of a bucket lies within relative error a of the
 * bucket's representative 2 gamma^i / (gamma + 1).  Negative values count in a mirror
 * store, values closer to 0 than SKETCH_MIN in a zero bucket.  Sketches merge by adding
 * bucket counts, so the result does not depend on how rows were grouped. ------------- */

#define SKETCH_MIN 1e-9

typedef struct store {
    int64_t *counts; /* counts[k] is bucket lo + k */
    int32_t lo, n;
} store;

typedef struct sketch {
    store pos, neg;
    int64_t zero;
} sketch;

static double sketch_gamma(void)
{
    return (1 + SL_AGG_PERCENTILE_ALPHA) / (1 - SL_AGG_PERCENTILE_ALPHA);
}

/* Adds count to bucket idx, keeping at most SL_AGG_PERCENTILE_MAX_BUCKETS buckets: past
 * that the lowest ones are folded into the lowest kept (the sketch then answers low
 * percentiles with less accuracy, docs/sql.md). */
static void store_add(sl_agg_state *st, store *s, int32_t idx, int64_t count)
{
    const int32_t max = SL_AGG_PERCENTILE_MAX_BUCKETS;
    int32_t lo = s->lo, hi = s->lo + s->n - 1, nlo, nhi;

    if (s->n == 0) {
        s->counts = sl_xcalloc(1, sizeof(int64_t));
        st->heap += sizeof(int64_t);
        s->lo = idx;
        s->n = 1;
        s->counts[0] = count;
        return;
    }
    if (idx >= lo && idx <= hi) {
        s->counts[idx - lo] += count;
        return;
    }
    if (idx < lo && hi - idx + 1 > max)
        idx = hi - max + 1;
    nlo = idx < lo ? idx : lo;
    nhi = idx > hi ? idx : hi;
    if (nhi - nlo + 1 > max)
        nlo = nhi - max + 1;
    if (nlo != lo || nhi != hi) {
        int32_t nn = nhi - nlo + 1;
        int64_t *c = sl_xcalloc((size_t)nn, sizeof(int64_t));

        for (int32_t k = 0; k < s->n; k++) {
            int32_t at = lo + k < nlo ? nlo : lo + k;
            c[at - nlo] += s->counts[k];
        }
        free(s->counts);
        st->heap += (size_t)(nn - s->n) * sizeof(int64_t);
        s->counts = c;
        s->lo = nlo;
        s->n = nn;
    }
    if (idx < s->lo)
        idx = s->lo;
    s->counts[idx - s->lo] += count;
}

static void sketch_free(void *p)
{
    sketch *k = p;

    if (!k)
        return;
    free(k->pos.counts);
    free(k->neg.counts);
    free(k);
}

static sketch *sketch_of(sl_agg_state *st)
{
    if (!st->ext) {
        st->ext = sl_xcalloc(1, sizeof(sketch));
        st->ext_free = sketch_free;
        st->heap += sizeof(sketch);
    }
    return st->ext;
}

static void percentile_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg,
                            int64_t off)
{
    sketch *k;
    double x;

    if (arg->type == SL_T_NULL)
        return;
    x = num(arg);
    if (!isfinite(x))
        return;
    k = sketch_of(st);
    st->n++;
    if (fabs(x) < SKETCH_MIN)
        k->zero++;
    else
        store_add(st, x > 0 ? &k->pos : &k->neg, (int32_t)ceil(log(fabs(x)) / log(sketch_gamma())),
                  1);
}

static void percentile_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    const sketch *s = src->ext;
    sketch *d;

    if (!s || src->n == 0)
        return;
    d = sketch_of(dst);
    dst->n += src->n;
    d->zero += s->zero;
    for (int32_t i = 0; i < s->pos.n; i++)
        if (s->pos.counts[i])
            store_add(dst, &d->pos, s->pos.lo + i, s->pos.counts[i]);
    for (int32_t i = 0; i < s->neg.n; i++)
        if (s->neg.counts[i])
            store_add(dst, &d->neg, s->neg.lo + i, s->neg.counts[i]);
}

static double bucket_value(int32_t idx)
{
    double g = sketch_gamma();

    return 2 * pow(g, idx) / (g + 1);
}

/* A sketch as its zero count, then each store's first bucket, bucket count and counts. */
static void percentile_save(const sl_aggcall *call, const sl_agg_state *st, sl_ckpt_writer *w)
{
    const sketch *k = st->ext;
    const store *stores[2] = {&k->pos, &k->neg};

    sl_ckpt_put_i64(w, k->zero);
    for (int j = 0; j < 2; j++) {
        sl_ckpt_put_i64(w, stores[j]->lo);
        sl_ckpt_put_u64(w, (uint64_t)stores[j]->n);
        for (int32_t i = 0; i < stores[j]->n; i++)
            sl_ckpt_put_i64(w, stores[j]->counts[i]);
    }
}

static void percentile_load(const sl_aggcall *call, sl_agg_state *st, sl_ckpt_reader *rd)
{
    sketch *k = sketch_of(st);
    store *stores[2] = {&k->pos, &k->neg};

    k->zero = sl_ckpt_get_i64(rd);
    if (k->zero < 0)
        sl_ckpt_fail(rd, "negative count in a sketch");
    for (int j = 0; j < 2 && !rd->why; j++) {
        int64_t lo = sl_ckpt_get_i64(rd);
        uint64_t n = sl_ckpt_get_count(rd, SL_AGG_PERCENTILE_MAX_BUCKETS);

        if (lo < INT32_MIN || lo > (int64_t)INT32_MAX - (int64_t)n)
            sl_ckpt_fail(rd, "sketch bucket out of range");
        if (rd->why || n == 0)
            continue;
        stores[j]->counts = sl_xcalloc(n, sizeof(int64_t));
        st->heap += n * sizeof(int64_t);
        stores[j]->lo = (int32_t)lo;
        stores[j]->n = (int32_t)n;
        for (uint64_t i = 0; i < n; i++)
            if ((stores[j]->counts[i] = sl_ckpt_get_i64(rd)) < 0)
                sl_ckpt_fail(rd, "negative count in a sketch");
    }
}

/* The value at rank floor(p * (n - 1)) (0-based, in ascending order), approximately. */
static sl_value percentile_final(const sl_aggcall *call, const sl_agg_state *st)
{
    const sketch *k = st->ext;
    int64_t rank, seen = 0;

    if (st->n == 0 || !k)
        return sl_null();
    rank = (int64_t)floor(call->param * (double)(st->n - 1));
    for (int32_t i = k->neg.n - 1; i >= 0; i--) {
        seen += k->neg.counts[i];
        if (seen > rank)
            return sl_double(-bucket_value(k->neg.lo + i));
    }
    seen += k->zero;
    if (seen > rank)
        return sl_double(0);
    for (int32_t i = 0; i < k->pos.n; i++) {
        seen += k->pos.counts[i];
        if (seen > rank)
            return sl_double(bucket_value(k->pos.lo + i));
    }
    return sl_null();
}

/* --- COLLECT_LIST, COLLECT_SET, TOPK: an ARRAY kept ready in the state.
 *
 * A state keeps its elements in the function's order, each with the offset of the row
 * it came from, and the encoded ARRAY body itself (nested.h), so that final returns it
 * without building anything:
 *   COLLECT_LIST  every value, NULL included, by offset;
 *   COLLECT_SET   each distinct value once, NULL included, by the offset it was first
 *                 seen at;
 *   TOPK          the values other than NULL, largest first, equal values by offset.
 * Only the first SL_MAX_COLLECT elements of that order are kept (k for TOPK).  What is
 * kept depends on the order alone, never on the order rows were stepped in, so a state
 * that merged the states of two sessions, or that stepped rows out of offset order
 * (SLIDING windows step them by ROWTIME), holds what one state fed every row in offset
 * order holds: an element either part left out has SL_MAX_COLLECT (or k) elements
 * before it in that part, hence in the whole.
 * Invariants: items[i].at is where element i's encoding starts in body, items are in
 * the function's order, and the body's count is n; slots, once made (COLLECT_SET past
 * COLL_HASH_MIN elements), index every element. ------------------------------------- */

#define COLL_HASH_MIN 16
#define COLL_SEED 0x636f6c6c65637473ull

typedef struct citem {
    int64_t off; /* the row's offset (COLLECT_SET: the first row with the value) */
    size_t at;   /* where the element's encoding starts in the body */
} citem;

typedef struct coll {
    sl_buf body;  /* the ARRAY's body: count, then the elements */
    citem *items; /* n elements, cap allocated */
    uint32_t n, cap;
    uint32_t *slots; /* COLLECT_SET: element index + 1 by hash (0: empty), or NULL */
    uint32_t nslots; /* 0 or a power of two, more than twice n */
} coll;

/* The heap bytes c holds; they never shrink while it lives. */
static size_t coll_bytes(const coll *c)
{
    return sizeof(*c) + c->body.cap + (size_t)c->cap * sizeof(citem) +
           (size_t)c->nslots * sizeof(uint32_t);
}

static void coll_init(coll *c)
{
    sl_nested_writer w;

    memset(c, 0, sizeof(*c));
    sl_nested_begin(&w, &c->body);
}

static void coll_release(coll *c)
{
    sl_buf_free(&c->body);
    free(c->items);
    free(c->slots);
}

static void coll_free(void *p)
{
    if (!p)
        return;
    coll_release(p);
    free(p);
}

/* The state's collection, made (and counted in st->heap) on first use. */
static coll *coll_of(sl_agg_state *st)
{
    if (!st->ext) {
        coll *c = sl_xmalloc(sizeof(*c));

        coll_init(c);
        st->ext = c;
        st->ext_free = coll_free;
        st->heap += coll_bytes(c);
    }
    return st->ext;
}

static size_t coll_end(const coll *c, uint32_t i)
{
    return i + 1 < c->n ? c->items[i + 1].at : c->body.len;
}

/* Element i, borrowing the body's bytes. */
static sl_value coll_at(const coll *c, uint32_t i)
{
    sl_nested_reader rd = {(const unsigned char *)c->body.data + c->items[i].at,
                           (const unsigned char *)c->body.data + c->body.len, 1};
    sl_value v;

    sl_nested_next(&rd, &v);
    return v;
}

/* Writes n into the body's count. */
static void coll_seal(coll *c)
{
    sl_nested_writer w = {.out = &c->body, .start = 0, .count = c->n};

    sl_nested_end(&w, SL_T_ARRAY);
}

static uint32_t coll_max(const sl_aggcall *call)
{
    return call->fn == SL_AGG_TOPK ? (uint32_t)call->param : SL_MAX_COLLECT;
}

/* True when the element (v, off) comes before element i in call's order. */
static bool coll_before(const sl_aggcall *call, const coll *c, const sl_value *v, int64_t off,
                        uint32_t i)
{
    if (call->fn == SL_AGG_TOPK) {
        sl_value w = coll_at(c, i);
        int d = sl_value_cmp(v, &w);

        if (d != 0)
            return d > 0;
    }
    return off < c->items[i].off;
}

/* Where (v, off) goes: the first element it comes before, or n.  Rows mostly come in
 * order, so the last element is tried first. */
static uint32_t coll_place(const sl_aggcall *call, const coll *c, const sl_value *v, int64_t off)
{
    uint32_t lo = 0, hi;

    if (c->n == 0 || !coll_before(call, c, v, off, c->n - 1))
        return c->n;
    hi = c->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (coll_before(call, c, v, off, mid))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void slot_put(coll *c, uint32_t i)
{
    sl_value v = coll_at(c, i);
    uint32_t mask = c->nslots - 1, k = (uint32_t)sl_value_hash(&v, COLL_SEED) & mask;

    while (c->slots[k])
        k = (k + 1) & mask;
    c->slots[k] = i + 1;
}

/* Indexes every element anew, making the index once there are COLL_HASH_MIN elements
 * and growing it to keep it at most half full. */
static void coll_reindex(coll *c)
{
    uint32_t want = c->nslots ? c->nslots : 4 * COLL_HASH_MIN;

    if (!c->slots && c->n < COLL_HASH_MIN)
        return;
    while (want <= 2 * c->n)
        want *= 2;
    if (want != c->nslots) {
        free(c->slots);
        c->slots = sl_xmalloc(want * sizeof(uint32_t));
        c->nslots = want;
    }
    memset(c->slots, 0, c->nslots * sizeof(uint32_t));
    for (uint32_t i = 0; i < c->n; i++)
        slot_put(c, i);
}

/* The index of the element equal to v, or -1. */
static int64_t coll_find(const coll *c, const sl_value *v)
{
    if (!c->slots) {
        for (uint32_t i = 0; i < c->n; i++) {
            sl_value w = coll_at(c, i);

            if (sl_value_eq(&w, v))
                return i;
        }
        return -1;
    }
    uint32_t mask = c->nslots - 1;
    for (uint32_t k = (uint32_t)sl_value_hash(v, COLL_SEED) & mask; c->slots[k];
         k = (k + 1) & mask) {
        sl_value w = coll_at(c, c->slots[k] - 1);

        if (sl_value_eq(&w, v))
            return c->slots[k] - 1;
    }
    return -1;
}

/* Puts (v, off) (v borrowed, its bytes copied) at index p, moving the elements from p
 * on: it is encoded at the end of the body, then rotated into place. */
static void coll_insert(coll *c, uint32_t p, const sl_value *v, int64_t off)
{
    sl_nested_writer w = {.out = &c->body, .start = 0, .count = c->n};
    size_t end = c->body.len, size, at = p < c->n ? c->items[p].at : end;

    sl_nested_put(&w, v);
    size = c->body.len - end;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->items = sl_xrealloc(c->items, c->cap * sizeof(citem));
    }
    if (p < c->n) {
        char *tmp = sl_xmalloc(size);

        memcpy(tmp, c->body.data + end, size);
        memmove(c->body.data + at + size, c->body.data + at, end - at);
        memcpy(c->body.data + at, tmp, size);
        free(tmp);
        for (uint32_t i = p; i < c->n; i++)
            c->items[i].at += size;
        memmove(c->items + p + 1, c->items + p, (c->n - p) * sizeof(citem));
    }
    c->items[p] = (citem){off, at};
    c->n++;
}

/* Removes element i. */
static void coll_remove(coll *c, uint32_t i)
{
    size_t at = c->items[i].at, end = coll_end(c, i), size = end - at;

    memmove(c->body.data + at, c->body.data + end, c->body.len - end);
    c->body.len -= size;
    c->body.data[c->body.len] = '\0';
    for (uint32_t j = i + 1; j < c->n; j++)
        c->items[j].at -= size;
    memmove(c->items + i, c->items + i + 1, (c->n - i - 1) * sizeof(citem));
    c->n--;
}

/* Adds the element (v, off) (v borrowed) to c as call's order and limit say. */
static void coll_offer(const sl_aggcall *call, coll *c, const sl_value *v, int64_t off)
{
    uint32_t max = coll_max(call), p, n0;
    bool moved = false;

    if (call->fn == SL_AGG_COLLECT_SET) {
        int64_t i = coll_find(c, v);

        if (i >= 0 && c->items[i].off <= off)
            return;
        if (i >= 0) {
            coll_remove(c, (uint32_t)i);
            moved = true;
        }
    }
    n0 = c->n;
    p = coll_place(call, c, v, off);
    if (p < max) {
        coll_insert(c, p, v, off);
        if (c->n > max) {
            c->body.len = c->items[max].at;
            c->body.data[c->body.len] = '\0';
            c->n = max;
        }
    }
    if (call->fn == SL_AGG_COLLECT_SET) {
        if (moved || p < n0 || (!c->slots && c->n >= COLL_HASH_MIN) ||
            (c->slots && 2 * c->n >= c->nslots))
            coll_reindex(c);
        else if (c->slots && c->n > n0)
            slot_put(c, n0);
    }
    coll_seal(c);
}

static void coll_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t off)
{
    coll *c;
    size_t before;

    if (call->fn == SL_AGG_TOPK && arg->type == SL_T_NULL)
        return;
    st->n++;
    c = coll_of(st);
    before = coll_bytes(c);
    coll_offer(call, c, arg, off);
    st->heap += coll_bytes(c) - before;
}

/* Walks both orders at once, so that every element lands at the end of a new
 * collection, then copies that into dst's buffers (which only grow, as st->heap does). */
static void coll_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    const coll *s = src->ext;
    uint32_t max = coll_max(call), i = 0, j = 0;
    coll *d, m;
    size_t before;

    dst->n += src->n;
    if (!s || s->n == 0)
        return;
    d = coll_of(dst);
    before = coll_bytes(d);
    coll_init(&m);
    while ((i < d->n || j < s->n) && m.n < max) {
        sl_value v = j < s->n ? coll_at(s, j) : sl_null();

        if (j < s->n && (i == d->n || coll_before(call, d, &v, s->items[j].off, i))) {
            coll_offer(call, &m, &v, s->items[j++].off);
        } else {
            v = coll_at(d, i);
            coll_offer(call, &m, &v, d->items[i++].off);
        }
    }
    d->body.len = 0;
    sl_buf_append(&d->body, m.body.data, m.body.len);
    if (d->cap < m.n) {
        d->items = sl_xrealloc(d->items, m.cap * sizeof(citem));
        d->cap = m.cap;
    }
    memcpy(d->items, m.items, m.n * sizeof(citem));
    d->n = m.n;
    if (call->fn == SL_AGG_COLLECT_SET)
        coll_reindex(d);
    coll_release(&m);
    dst->heap += coll_bytes(d) - before;
}

/* An array whose encoding would pass SL_MAX_BUILT_STRING is NULL (as SPLIT's is); no
 * state at all (TOPK saw only NULLs) is an empty array. */
static sl_value coll_final(const sl_aggcall *call, const sl_agg_state *st)
{
    static const char empty[4];
    const coll *c = st->ext;
    sl_value v;

    if (c && c->body.len > SL_MAX_BUILT_STRING)
        return sl_null();
    v = c ? sl_str(c->body.data, (uint32_t)c->body.len) : sl_str(empty, sizeof(empty));
    v.type = SL_T_ARRAY;
    return v;
}

/* The elements in order, each as its offset and its value. */
static void coll_save(const sl_aggcall *call, const sl_agg_state *st, sl_ckpt_writer *w)
{
    const coll *c = st->ext;

    sl_ckpt_put_u64(w, c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        sl_value v = coll_at(c, i);

        sl_ckpt_put_i64(w, c->items[i].off);
        sl_ckpt_put_values(w, 0, 1, &v);
    }
}

/* Each element must come from an input (st->n, read before, counts them), come after
 * the one before it in call's order and be one the state keeps, so that it lands at the
 * end. */
static void coll_load(const sl_aggcall *call, sl_agg_state *st, sl_ckpt_reader *rd)
{
    coll *c = coll_of(st);
    size_t before = coll_bytes(c);
    uint64_t n = sl_ckpt_get_count(rd, coll_max(call));

    if (n > (uint64_t)st->n)
        sl_ckpt_fail(rd, "more array elements than inputs");
    for (uint64_t i = 0; i < n && !rd->why; i++) {
        int64_t off = sl_ckpt_get_i64(rd);
        sl_row *row = sl_ckpt_get_values(rd, 1);
        const sl_value *v;

        if (!row)
            break;
        v = &row->v[0];
        if (v->type == SL_T_NULL ? call->fn == SL_AGG_TOPK
                                 : call->desc && v->type != call->desc->elem->kind)
            sl_ckpt_fail(rd, "an array element of the wrong type");
        else if (coll_place(call, c, v, off) != c->n || (c->n > 0 && off == c->items[c->n - 1].off))
            sl_ckpt_fail(rd, "array elements out of order");
        else {
            coll_offer(call, c, v, off);
            if (c->n != i + 1)
                sl_ckpt_fail(rd, "a repeated value in a COLLECT_SET");
        }
        sl_row_free(row);
    }
    st->heap += coll_bytes(c) - before;
}

static const agg_impl impls[SL_AGG__COUNT] = {
    [SL_AGG_COUNT] = {count_step, count_merge, count_final},
    [SL_AGG_SUM] = {sum_step, sum_merge, sum_final},
    [SL_AGG_AVG] = {avg_step, avg_merge, avg_final},
    [SL_AGG_MIN] = {min_step, min_merge, best_final},
    [SL_AGG_MAX] = {max_step, max_merge, best_final},
    [SL_AGG_COUNT_DISTINCT] = {distinct_step, distinct_merge, distinct_final, distinct_save,
                               distinct_load},
    [SL_AGG_EARLIEST_BY_OFFSET] = {earliest_step, earliest_merge, best_final},
    [SL_AGG_LATEST_BY_OFFSET] = {latest_step, latest_merge, best_final},
    [SL_AGG_STDDEV_SAMP] = {stddev_step, stddev_merge, stddev_final},
    [SL_AGG_PERCENTILE_APPROX] = {percentile_step, percentile_merge, percentile_final,
                                  percentile_save, percentile_load},
    [SL_AGG_TOPK] = {coll_step, coll_merge, coll_final, coll_save, coll_load},
    [SL_AGG_COLLECT_LIST] = {coll_step, coll_merge, coll_final, coll_save, coll_load},
    [SL_AGG_COLLECT_SET] = {coll_step, coll_merge, coll_final, coll_save, coll_load},
};

void sl_agg_init(const sl_aggcall *call, sl_agg_state *st)
{
    assert((unsigned)call->fn < SL_AGG__COUNT && impls[call->fn].step);
    memset(st, 0, sizeof(*st));
    st->best = sl_null();
}

size_t sl_agg_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t offset)
{
    size_t before = st->heap;

    impls[call->fn].step(call, st, arg, offset);
    return st->heap - before;
}

size_t sl_agg_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src)
{
    size_t before = dst->heap;

    impls[call->fn].merge(call, dst, src);
    return dst->heap - before;
}

sl_value sl_agg_final(const sl_aggcall *call, const sl_agg_state *st)
{
    return impls[call->fn].final(call, st);
}

size_t sl_agg_clear(sl_agg_state *st)
{
    size_t held = st->heap;

    free(st->buf);
    st->buf = NULL;
    st->cap = 0;
    if (st->ext)
        st->ext_free(st->ext);
    st->ext = NULL;
    st->heap = 0;
    return held;
}

bool sl_agg_can_retract(const sl_aggcall *call)
{
    return call->fn == SL_AGG_COUNT ||
           (call->fn == SL_AGG_SUM &&
            (call->arg->type == SL_T_INT || call->arg->type == SL_T_BIGINT ||
             call->arg->type == SL_T_DECIMAL));
}

bool sl_agg_retract(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg)
{
    assert(sl_agg_can_retract(call));
    if (call->fn == SL_AGG_COUNT) {
        if (!arg || arg->type != SL_T_NULL)
            st->n--;
        return true;
    }
    if (arg->type == SL_T_NULL)
        return true;
    st->n--;
    if (sums_decimals(call)) {
        /* Exact, so what is left is what a recomputation would give. */
        if (st->overflow)
            return false;
        st->best = sl_decimal_arith(SL_DECIMAL_SUB, &st->best, arg, SL_MAX_DECIMAL_DIGITS,
                                    call->arg->desc->scale);
        return st->best.type != SL_T_NULL;
    }
    return !st->overflow && !__builtin_sub_overflow(st->sum.i, arg->u.i, &st->sum.i);
}

/* The fields every function shares, then the function's own ext.  sum is saved as its
 * bits, whichever member of the union the function uses. */
int sl_agg_save(const sl_aggcall *call, const sl_agg_state *st, sl_ckpt_writer *w)
{
    const agg_impl *impl = &impls[call->fn];
    double sum;

    memcpy(&sum, &st->sum, sizeof(sum));
    sl_ckpt_put_i64(w, st->n);
    sl_ckpt_put_bool(w, st->overflow);
    sl_ckpt_put_f64(w, sum);
    sl_ckpt_put_f64(w, st->m2);
    sl_ckpt_put_i64(w, st->off);
    sl_ckpt_put_values(w, 0, 1, &st->best);
    sl_ckpt_put_bool(w, st->ext != NULL);
    if (st->ext) {
        if (impl->save_ext)
            impl->save_ext(call, st, w);
        else
            sl_ckpt_cannot(w, "an aggregate function has no checkpoint format");
    }
    return w->why ? -1 : 0;
}

int sl_agg_load(const sl_aggcall *call, sl_agg_state *st, sl_ckpt_reader *rd)
{
    const agg_impl *impl = &impls[call->fn];
    double sum;
    int64_t off;
    sl_row *best;

    st->n = sl_ckpt_get_i64(rd);
    st->overflow = sl_ckpt_get_bool(rd);
    sum = sl_ckpt_get_f64(rd);
    memcpy(&st->sum, &sum, sizeof(sum));
    st->m2 = sl_ckpt_get_f64(rd);
    off = sl_ckpt_get_i64(rd);
    best = sl_ckpt_get_values(rd, 1);
    if (best)
        keep(st, &best->v[0], off);
    sl_row_free(best);
    if (st->n < 0)
        sl_ckpt_fail(rd, "negative count in an aggregate");
    if (sl_ckpt_get_bool(rd)) {
        if (impl->load_ext)
            impl->load_ext(call, st, rd);
        else
            sl_ckpt_fail(rd, "an aggregate function has no checkpoint format");
    }
    return sl_ckpt_status(rd);
}
