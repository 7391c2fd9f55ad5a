/* test_agg.c: every aggregate function of aggs.def through init / step / merge / final /
 * clear, including the heap accounting of the states that own memory,
 * PERCENTILE_APPROX's error bound checked on generated data, and the arrays of
 * COLLECT_LIST, COLLECT_SET and TOPK: their order, caps, merges in any split and order,
 * and checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agg.h"
#include "decimal.h"
#include "limits.h"
#include "nested.h"
#include "typedesc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static sl_aggcall call(sl_agg_fn fn, sl_type type, double param)
{
    sl_aggcall c = {.fn = fn, .arg = NULL, .type = type, .param = param};

    return c;
}

/* Steps values[0..n) into st, at offsets from off0 on. */
static size_t feed(const sl_aggcall *c, sl_agg_state *st, const sl_value *values, int n,
                   int64_t off0)
{
    size_t grew = 0;

    for (int i = 0; i < n; i++)
        grew += sl_agg_step(c, st, &values[i], off0 + i);
    return grew;
}

/* For every split point k: final(step(v[0..k)) merged with step(v[k..n))) equals
 * final(step(v[0..n))), as sessions that merge need. */
static void check_merge(const sl_aggcall *c, const sl_value *values, int n)
{
    sl_agg_state all, a, b;
    sl_value want;

    sl_agg_init(c, &all);
    feed(c, &all, values, n, 0);
    want = sl_agg_final(c, &all);
    for (int k = 0; k <= n; k++) {
        size_t held;

        sl_agg_init(c, &a);
        sl_agg_init(c, &b);
        held = feed(c, &a, values, k, 0);
        feed(c, &b, values + k, n - k, k);
        held += sl_agg_merge(c, &a, &b);
        sl_value got = sl_agg_final(c, &a);
        if (want.type == SL_T_DOUBLE)
            assert_true(got.type == SL_T_DOUBLE && fabs(got.u.d - want.u.d) < 1e-9);
        else
            assert_true(sl_value_cmp(&got, &want) == 0 && got.type == want.type);
        assert_int_equal(sl_agg_clear(&a), held);
        sl_agg_clear(&b);
    }
    sl_agg_clear(&all);
}

static void test_count_distinct(void **state)
{
    sl_aggcall c = call(SL_AGG_COUNT_DISTINCT, SL_T_BIGINT, 0);
    const sl_value v[] = {sl_str("a", 1), sl_str("bb", 2), sl_null(),
                          sl_str("a", 1), sl_str("", 0),   sl_str("bb", 2)};
    const sl_value nums[] = {sl_int(SL_T_INT, 1), sl_double(1.0), sl_int(SL_T_BIGINT, 2)};
    sl_agg_state st;
    size_t held;

    (void)state;
    sl_agg_init(&c, &st);
    assert_true(sl_agg_final(&c, &st).u.i == 0);
    held = feed(&c, &st, v, 6, 0);
    assert_true(sl_agg_final(&c, &st).u.i == 3);
    assert_true(held > 0);
    assert_int_equal(sl_agg_clear(&st), held);
    check_merge(&c, v, 6);
    /* Numbers count by value across INT, BIGINT and DOUBLE, as GROUP BY keys do. */
    sl_agg_init(&c, &st);
    feed(&c, &st, nums, 3, 0);
    assert_true(sl_agg_final(&c, &st).u.i == 2);
    sl_agg_clear(&st);
}

static void test_by_offset(void **state)
{
    sl_aggcall e = call(SL_AGG_EARLIEST_BY_OFFSET, SL_T_VARCHAR, 0);
    sl_aggcall l = call(SL_AGG_LATEST_BY_OFFSET, SL_T_VARCHAR, 0);
    const sl_value v[] = {sl_null(), sl_str("first", 5), sl_str("second", 6), sl_null(),
                          sl_str("last", 4)};
    sl_agg_state se, sl;
    sl_value r;

    (void)state;
    sl_agg_init(&e, &se);
    sl_agg_init(&l, &sl);
    assert_int_equal(sl_agg_final(&e, &se).type, SL_T_NULL);
    feed(&e, &se, v, 5, 0);
    feed(&l, &sl, v, 5, 0);
    r = sl_agg_final(&e, &se);
    assert_int_equal(r.u.s.len, 5);
    assert_memory_equal(r.u.s.ptr, "first", 5);
    r = sl_agg_final(&l, &sl);
    assert_int_equal(r.u.s.len, 4);
    assert_memory_equal(r.u.s.ptr, "last", 4);
    sl_agg_clear(&se);
    sl_agg_clear(&sl);
    check_merge(&e, v, 5);
    check_merge(&l, v, 5);
}

static void test_stddev(void **state)
{
    sl_aggcall c = call(SL_AGG_STDDEV_SAMP, SL_T_DOUBLE, 0);
    const sl_value v[] = {sl_int(SL_T_INT, 2), sl_int(SL_T_INT, 4), sl_null(),
                          sl_int(SL_T_INT, 4), sl_double(4),        sl_int(SL_T_BIGINT, 5),
                          sl_int(SL_T_INT, 5), sl_int(SL_T_INT, 7), sl_int(SL_T_INT, 9)};
    sl_agg_state st;
    sl_value r;

    (void)state;
    sl_agg_init(&c, &st);
    feed(&c, &st, v, 2, 0);
    assert_int_equal(sl_agg_final(&c, &st).type, SL_T_DOUBLE);
    sl_agg_clear(&st);
    sl_agg_init(&c, &st);
    feed(&c, &st, v, 1, 0);
    assert_int_equal(sl_agg_final(&c, &st).type, SL_T_NULL); /* one value: no spread */
    feed(&c, &st, v + 1, 8, 1);
    r = sl_agg_final(&c, &st);
    /* 2 4 4 4 5 5 7 9: mean 5, squared deviations 32, sample variance 32 / 7. */
    assert_true(fabs(r.u.d - sqrt(32.0 / 7)) < 1e-12);
    sl_agg_clear(&st);
    check_merge(&c, v, 9);
}

/* Retraction (sliding windows): exact for COUNT and integer SUM, refused where it
 * cannot be exact. */
static void test_retract(void **state)
{
    sl_expr iarg = {.kind = SL_EX_COLUMN, .type = SL_T_BIGINT};
    sl_expr darg = {.kind = SL_EX_COLUMN, .type = SL_T_DOUBLE};
    sl_aggcall sum = call(SL_AGG_SUM, SL_T_BIGINT, 0), cnt = call(SL_AGG_COUNT, SL_T_BIGINT, 0);
    sl_aggcall dsum = call(SL_AGG_SUM, SL_T_DOUBLE, 0), avg = call(SL_AGG_AVG, SL_T_DOUBLE, 0);
    sl_aggcall mn = call(SL_AGG_MIN, SL_T_BIGINT, 0);
    sl_value v[] = {sl_int(SL_T_BIGINT, 5), sl_null(), sl_int(SL_T_BIGINT, -2),
                    sl_int(SL_T_BIGINT, INT64_MAX), sl_int(SL_T_BIGINT, INT64_MAX)};
    sl_agg_state s, c;

    (void)state;
    sum.arg = cnt.arg = mn.arg = &iarg;
    dsum.arg = avg.arg = &darg;
    assert_true(sl_agg_can_retract(&sum));
    assert_true(sl_agg_can_retract(&cnt));
    assert_false(sl_agg_can_retract(&dsum));
    assert_false(sl_agg_can_retract(&avg));
    assert_false(sl_agg_can_retract(&mn));

    sl_agg_init(&sum, &s);
    sl_agg_init(&cnt, &c);
    feed(&sum, &s, v, 3, 0);
    feed(&cnt, &c, v, 3, 0);
    assert_true(sl_agg_retract(&sum, &s, &v[0]));
    assert_true(sl_agg_retract(&cnt, &c, &v[0]));
    assert_true(sl_agg_retract(&sum, &s, &v[1]));
    assert_true(sl_agg_retract(&cnt, &c, &v[1]));
    assert_int_equal(sl_agg_final(&sum, &s).u.i, -2);
    assert_int_equal(sl_agg_final(&cnt, &c).u.i, 1);
    /* Everything out: SUM is NULL again, COUNT 0. */
    assert_true(sl_agg_retract(&sum, &s, &v[2]));
    assert_true(sl_agg_retract(&cnt, &c, &v[2]));
    assert_int_equal(sl_agg_final(&sum, &s).type, SL_T_NULL);
    assert_int_equal(sl_agg_final(&cnt, &c).u.i, 0);
    /* A sum that overflowed cannot say what is left without it. */
    feed(&sum, &s, v + 3, 2, 3);
    assert_int_equal(sl_agg_final(&sum, &s).type, SL_T_NULL);
    assert_false(sl_agg_retract(&sum, &s, &v[3]));
    sl_agg_clear(&s);
    /* Nor one whose remainder would leave the range: MAX - 1 + 1 without the -1. */
    sl_agg_init(&sum, &s);
    sl_value w[] = {sl_int(SL_T_BIGINT, INT64_MAX), sl_int(SL_T_BIGINT, -1),
                    sl_int(SL_T_BIGINT, 1)};
    feed(&sum, &s, w, 3, 0);
    assert_true(sl_agg_final(&sum, &s).u.i == INT64_MAX);
    assert_false(sl_agg_retract(&sum, &s, &w[1]));
    sl_agg_clear(&s);
    sl_agg_clear(&c);
}

static void test_merge_basics(void **state)
{
    const sl_value v[] = {sl_int(SL_T_INT, 3), sl_null(), sl_int(SL_T_INT, -7),
                          sl_int(SL_T_INT, 12), sl_int(SL_T_INT, 0)};
    const sl_value s[] = {sl_str("pear", 4), sl_str("apple", 5), sl_null(), sl_str("zoo", 3)};
    sl_aggcall calls[] = {call(SL_AGG_COUNT, SL_T_BIGINT, 0), call(SL_AGG_SUM, SL_T_BIGINT, 0),
                          call(SL_AGG_AVG, SL_T_DOUBLE, 0), call(SL_AGG_MIN, SL_T_INT, 0),
                          call(SL_AGG_MAX, SL_T_INT, 0)};

    (void)state;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
        check_merge(&calls[i], v, 5);
    sl_aggcall mn = call(SL_AGG_MIN, SL_T_VARCHAR, 0), mx = call(SL_AGG_MAX, SL_T_VARCHAR, 0);
    check_merge(&mn, s, 4);
    check_merge(&mx, s, 4);
}

/* The exact value at rank floor(p * (n - 1)) of sorted[0..n). */
static double exact(const double *sorted, int n, double p)
{
    return sorted[(int)floor(p * (n - 1))];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void test_percentile(void **state)
{
    const double ps[] = {0, 0.01, 0.25, 0.5, 0.9, 0.99, 1};
    enum { N = 20000 };
    double *data = malloc(N * sizeof(double)), *sorted = malloc(N * sizeof(double));
    sl_agg_state whole, left, right;
    uint64_t x = 42;

    (void)state;
    /* Log-normal-ish positive values, some negatives and zeros, from a fixed LCG. */
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(x >> 11) / 9007199254740992.0;
        data[i] = i % 50 == 0 ? 0 : (i % 7 == 0 ? -1 : 1) * exp(u * 12 - 3);
    }
    memcpy(sorted, data, N * sizeof(double));
    qsort(sorted, N, sizeof(double), cmp_double);
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        sl_aggcall c = call(SL_AGG_PERCENTILE_APPROX, SL_T_DOUBLE, ps[k]);
        double want = exact(sorted, N, ps[k]);

        sl_agg_init(&c, &whole);
        sl_agg_init(&c, &left);
        sl_agg_init(&c, &right);
        for (int i = 0; i < N; i++) {
            sl_value v = sl_double(data[i]);

            sl_agg_step(&c, &whole, &v, i);
            sl_agg_step(&c, i < N / 3 ? &left : &right, &v, i);
        }
        sl_agg_merge(&c, &left, &right);
        sl_value got = sl_agg_final(&c, &whole), merged = sl_agg_final(&c, &left);
        /* The documented bound: within 1% of the exact value (relative). */
        assert_true(fabs(got.u.d - want) <= SL_AGG_PERCENTILE_ALPHA * fabs(want) * (1 + 1e-9));
        /* A merged sketch answers exactly as one fed everything. */
        assert_true(got.u.d == merged.u.d);
        sl_agg_clear(&whole);
        sl_agg_clear(&left);
        sl_agg_clear(&right);
    }
    free(data);
    free(sorted);
}

static void test_percentile_edges(void **state)
{
    sl_aggcall c = call(SL_AGG_PERCENTILE_APPROX, SL_T_DOUBLE, 0.5);
    sl_agg_state st;
    size_t held = 0;

    (void)state;
    sl_agg_init(&c, &st);
    assert_int_equal(sl_agg_final(&c, &st).type, SL_T_NULL);
    sl_value nul = sl_null(), one = sl_int(SL_T_INT, 1000);
    held += sl_agg_step(&c, &st, &nul, 0);
    held += sl_agg_step(&c, &st, &one, 1);
    assert_true(fabs(sl_agg_final(&c, &st).u.d - 1000) <= 10);
    /* Values spread over far more than the bucket limit keep the sketch bounded. */
    for (int i = -300; i <= 300; i++) {
        sl_value v = sl_double(pow(10, i));
        held += sl_agg_step(&c, &st, &v, i + 400);
    }
    assert_true(held <= 2 * SL_AGG_PERCENTILE_MAX_BUCKETS * sizeof(int64_t) + 256);
    assert_int_equal(sl_agg_clear(&st), held);
}

/* --- COLLECT_LIST, COLLECT_SET and TOPK ---------------------------------------------- */

/* A call of fn over an argument of type elem (k: TOPK's k), typed as the binder types
 * it: ARRAY<elem>, its descriptor in a (borrowed). */
static sl_aggcall arr_call(sl_arena *a, sl_agg_fn fn, sl_type elem, int k)
{
    sl_aggcall c = call(fn, SL_T_ARRAY, k);

    c.desc = sl_typedesc_array(a, sl_typedesc_scalar(elem));
    return c;
}

/* Appends the ARRAY (or scalar) v as text: [1, null, 'a', [2]]. */
static void show_value(const sl_value *v, sl_buf *out)
{
    sl_nested_reader rd;
    sl_value e;
    bool first = true;

    switch (v->type) {
    case SL_T_NULL:
        sl_buf_puts(out, "null");
        return;
    case SL_T_VARCHAR:
        sl_buf_printf(out, "'%.*s'", (int)v->u.s.len, v->u.s.ptr);
        return;
    case SL_T_DOUBLE:
        sl_buf_printf(out, "%g", v->u.d);
        return;
    case SL_T_ARRAY:
        sl_buf_putc(out, '[');
        sl_nested_open(&rd, v);
        while (sl_nested_next(&rd, &e)) {
            sl_buf_puts(out, first ? "" : ", ");
            show_value(&e, out);
            first = false;
        }
        sl_buf_putc(out, ']');
        return;
    default:
        sl_buf_printf(out, "%lld", (long long)v->u.i);
        return;
    }
}

/* Checks that the final value of st is an ARRAY spelled want. */
static void assert_shows(const sl_aggcall *c, const sl_agg_state *st, const char *want)
{
    sl_value v = sl_agg_final(c, st);
    sl_buf b = SL_BUF_INIT;

    assert_int_equal(v.type, SL_T_ARRAY);
    show_value(&v, &b);
    assert_string_equal(b.data, want);
    sl_buf_free(&b);
}

static uint64_t lcg = 7;

static uint32_t rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg >> 33);
}

/* Random splits of values (the value at i coming from the row at offset i) into two
 * states, each stepped in a random order (as SLIDING windows step rows by ROWTIME),
 * then merged either way round, as SESSION windows merge: the result must equal that
 * of one state stepped with every row in offset order, and clearing the merged state
 * must release exactly the heap bytes step and merge reported. */
static void check_any_merge(const sl_aggcall *c, const sl_value *values, int n, int rounds)
{
    sl_agg_state all, st[2];
    int *order = malloc((size_t)(n ? n : 1) * sizeof(int));
    size_t held[2];
    sl_value want;

    sl_agg_init(c, &all);
    feed(c, &all, values, n, 0);
    want = sl_agg_final(c, &all);
    for (int r = 0; r < rounds; r++) {
        int into = r % 2;

        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(rnd() % (uint32_t)(i + 1)), t = order[i];

            order[i] = order[j];
            order[j] = t;
        }
        sl_agg_init(c, &st[0]);
        sl_agg_init(c, &st[1]);
        held[0] = held[1] = 0;
        for (int i = 0; i < n; i++) {
            int side = (int)(rnd() % 2);

            held[side] += sl_agg_step(c, &st[side], &values[order[i]], order[i]);
        }
        held[into] += sl_agg_merge(c, &st[into], &st[1 - into]);
        sl_value got = sl_agg_final(c, &st[into]);
        assert_int_equal(got.type, want.type);
        assert_true(sl_value_cmp(&got, &want) == 0);
        assert_int_equal(sl_agg_clear(&st[0]), held[0]);
        assert_int_equal(sl_agg_clear(&st[1]), held[1]);
    }
    sl_agg_clear(&all);
    free(order);
}

/* Saves st, loads it into a new state and checks both give the same array, before and
 * after one more row. */
static void check_save_load(const sl_aggcall *c, sl_agg_state *st, const sl_value *more,
                            int64_t off)
{
    sl_buf buf = SL_BUF_INIT;
    sl_ckpt_writer w = {&buf, NULL};
    sl_ckpt_reader rd;
    sl_agg_state back;
    sl_value a, b;

    assert_int_equal(sl_agg_save(c, st, &w), 0);
    sl_ckpt_reader_init(&rd, buf.data, buf.len);
    sl_agg_init(c, &back);
    assert_int_equal(sl_agg_load(c, &back, &rd), 0);
    assert_true(rd.p == rd.end);
    a = sl_agg_final(c, st);
    b = sl_agg_final(c, &back);
    assert_true(sl_value_cmp(&a, &b) == 0);
    assert_true(back.heap >= (st->ext ? b.u.s.len : 0));
    sl_agg_step(c, st, more, off);
    sl_agg_step(c, &back, more, off);
    a = sl_agg_final(c, st);
    b = sl_agg_final(c, &back);
    assert_true(sl_value_cmp(&a, &b) == 0);
    sl_agg_clear(&back);
    sl_buf_free(&buf);
}

/* Loads a checkpoint of a state that saw `inputs` inputs and holds the n elements
 * (offs[i], vals[i]), written as sl_agg_save writes one (the shared fields, then the
 * elements), and returns NULL when the load succeeds, else why it failed. */
static const char *load_inputs(const sl_aggcall *c, int64_t inputs, int n, const int64_t *offs,
                               const sl_value *vals)
{
    sl_buf buf = SL_BUF_INIT;
    sl_ckpt_writer w = {&buf, NULL};
    sl_ckpt_reader rd;
    sl_agg_state st;
    sl_value nul = sl_null();
    int rc;

    sl_ckpt_put_i64(&w, inputs);
    sl_ckpt_put_bool(&w, false);
    sl_ckpt_put_f64(&w, 0);
    sl_ckpt_put_f64(&w, 0);
    sl_ckpt_put_i64(&w, 0);
    sl_ckpt_put_values(&w, 0, 1, &nul);
    sl_ckpt_put_bool(&w, true);
    sl_ckpt_put_u64(&w, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        sl_ckpt_put_i64(&w, offs[i]);
        sl_ckpt_put_values(&w, 0, 1, &vals[i]);
    }
    sl_ckpt_reader_init(&rd, buf.data, buf.len);
    sl_agg_init(c, &st);
    rc = sl_agg_load(c, &st, &rd);
    assert_int_equal(sl_agg_clear(&st), st.heap);
    sl_buf_free(&buf);
    return rc == 0 ? NULL : rd.why;
}

static const char *load_elements(const sl_aggcall *c, int n, const int64_t *offs,
                                 const sl_value *vals)
{
    return load_inputs(c, n, n, offs, vals);
}

static void test_collect_list(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_aggcall c = arr_call(a, SL_AGG_COLLECT_LIST, SL_T_VARCHAR, 0);
    const sl_value v[] = {sl_str("b", 1), sl_null(), sl_str("a", 1), sl_str("b", 1), sl_str("", 0)};
    const sl_value more = sl_str("z", 1);
    sl_agg_state st;
    size_t held;

    (void)state;
    sl_agg_init(&c, &st);
    held = feed(&c, &st, v, 5, 10);
    /* Every value in offset order, NULLs and repeats kept (as ksqlDB's list). */
    assert_shows(&c, &st, "['b', null, 'a', 'b', '']");
    assert_true(held > 0 && st.n == 5);
    check_save_load(&c, &st, &more, 20);
    assert_shows(&c, &st, "['b', null, 'a', 'b', '', 'z']");
    held = st.heap;
    assert_int_equal(sl_agg_clear(&st), held);
    /* A row stepped late (a SLIDING window steps by ROWTIME) still lands by offset. */
    sl_agg_init(&c, &st);
    sl_agg_step(&c, &st, &v[0], 7);
    sl_agg_step(&c, &st, &v[2], 3);
    sl_agg_step(&c, &st, &v[4], 5);
    assert_shows(&c, &st, "['a', '', 'b']");
    sl_agg_clear(&st);
    check_merge(&c, v, 5);
    check_any_merge(&c, v, 5, 20);
    sl_arena_free(a);
}

static void test_collect_set(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_aggcall c = arr_call(a, SL_AGG_COLLECT_SET, SL_T_INT, 0);
    const sl_value v[] = {sl_int(SL_T_INT, 5), sl_null(),          sl_int(SL_T_INT, 3),
                          sl_int(SL_T_INT, 5), sl_null(),          sl_int(SL_T_INT, -1),
                          sl_int(SL_T_INT, 3), sl_int(SL_T_INT, 9)};
    const sl_value more = sl_int(SL_T_INT, 3), fresh = sl_int(SL_T_INT, 4);
    sl_agg_state st;

    (void)state;
    sl_agg_init(&c, &st);
    feed(&c, &st, v, 8, 0);
    /* Distinct values in the order they were first seen, NULL once. */
    assert_shows(&c, &st, "[5, null, 3, -1, 9]");
    check_save_load(&c, &st, &more, 8);
    assert_shows(&c, &st, "[5, null, 3, -1, 9]");
    check_save_load(&c, &st, &fresh, 9);
    assert_shows(&c, &st, "[5, null, 3, -1, 9, 4]");
    sl_agg_clear(&st);
    /* A value seen again at an earlier offset moves to where it was first seen. */
    sl_agg_init(&c, &st);
    sl_agg_step(&c, &st, &v[0], 10);
    sl_agg_step(&c, &st, &v[2], 11);
    sl_agg_step(&c, &st, &v[6], 1);
    assert_shows(&c, &st, "[3, 5]");
    sl_agg_clear(&st);
    check_merge(&c, v, 8);
    check_any_merge(&c, v, 8, 40);
    sl_arena_free(a);
}

static void test_topk(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_aggcall c = arr_call(a, SL_AGG_TOPK, SL_T_DOUBLE, 3);
    sl_aggcall s = arr_call(a, SL_AGG_TOPK, SL_T_VARCHAR, 2);
    const sl_value v[] = {sl_double(2),   sl_null(),    sl_double(7.5), sl_double(-1),
                          sl_double(7.5), sl_double(3), sl_null(),      sl_double(7.5)};
    const sl_value w[] = {sl_str("pear", 4), sl_str("apple", 5), sl_null(), sl_str("zoo", 3),
                          sl_str("zoo", 3)};
    const sl_value nul = sl_null(), big = sl_double(100);
    sl_agg_state st;

    (void)state;
    sl_agg_init(&c, &st);
    /* Only NULLs so far: an empty array, as ksqlDB's. */
    sl_agg_step(&c, &st, &nul, 0);
    assert_shows(&c, &st, "[]");
    assert_int_equal(st.heap, 0);
    check_save_load(&c, &st, &v[0], 1);
    assert_shows(&c, &st, "[2]");
    sl_agg_clear(&st);
    sl_agg_init(&c, &st);
    feed(&c, &st, v, 8, 0);
    /* The three largest, largest first, ties kept. */
    assert_shows(&c, &st, "[7.5, 7.5, 7.5]");
    check_save_load(&c, &st, &big, 8);
    assert_shows(&c, &st, "[100, 7.5, 7.5]");
    sl_agg_clear(&st);
    sl_agg_init(&s, &st);
    feed(&s, &st, w, 5, 0);
    assert_shows(&s, &st, "['zoo', 'zoo']");
    sl_agg_clear(&st);
    check_merge(&c, v, 8);
    check_any_merge(&c, v, 8, 40);
    check_merge(&s, w, 5);
    check_any_merge(&s, w, 5, 20);
    sl_arena_free(a);
}

/* SL_MAX_COLLECT elements at most (k for TOPK), the first ones of each order, also when
 * states merge; a set keeps its first distinct values. */
static void test_collect_caps(void **state)
{
    enum { N = 2600 };
    sl_arena *a = sl_arena_new();
    sl_aggcall list = arr_call(a, SL_AGG_COLLECT_LIST, SL_T_BIGINT, 0);
    sl_aggcall set = arr_call(a, SL_AGG_COLLECT_SET, SL_T_BIGINT, 0);
    sl_aggcall top = arr_call(a, SL_AGG_TOPK, SL_T_BIGINT, SL_MAX_TOPK);
    sl_aggcall top5 = arr_call(a, SL_AGG_TOPK, SL_T_BIGINT, 5);
    sl_value *v = malloc(N * sizeof(sl_value));
    sl_agg_state st;
    sl_value r, e;
    sl_nested_reader rd;
    int64_t i = 0;

    (void)state;
    for (int k = 0; k < N; k++)
        v[k] = sl_int(SL_T_BIGINT, (int64_t)(rnd() % 1300));
    sl_agg_init(&list, &st);
    feed(&list, &st, v, N, 0);
    r = sl_agg_final(&list, &st);
    assert_int_equal(sl_nested_count(&r), SL_MAX_COLLECT);
    sl_nested_open(&rd, &r);
    while (sl_nested_next(&rd, &e))
        assert_true(e.u.i == v[i++].u.i);
    sl_agg_clear(&st);
    sl_agg_init(&set, &st);
    feed(&set, &st, v, N, 0);
    r = sl_agg_final(&set, &st);
    assert_int_equal(sl_nested_count(&r), SL_MAX_COLLECT);
    sl_agg_clear(&st);
    sl_agg_init(&top5, &st);
    feed(&top5, &st, v, N, 0);
    r = sl_agg_final(&top5, &st);
    assert_int_equal(sl_nested_count(&r), 5);
    assert_true(sl_nested_array_at(&r, 5, SL_T_BIGINT).u.i >= 1290);
    sl_agg_clear(&st);
    check_any_merge(&list, v, N, 4);
    check_any_merge(&set, v, N, 4);
    check_any_merge(&top, v, N, 4);
    check_any_merge(&top5, v, N, 4);
    free(v);
    sl_arena_free(a);
}

/* An array whose encoding would pass SL_MAX_BUILT_STRING is NULL, as SPLIT's is. */
static void test_collect_too_large(void **state)
{
    enum { PIECE = 1024 * 1024 };
    sl_arena *a = sl_arena_new();
    sl_aggcall c = arr_call(a, SL_AGG_COLLECT_LIST, SL_T_VARCHAR, 0);
    char *bytes = calloc(PIECE, 1);
    sl_value v = sl_str(bytes, PIECE);
    sl_agg_state st;
    size_t held;

    (void)state;
    sl_agg_init(&c, &st);
    held = 0;
    for (int i = 0; i < SL_MAX_BUILT_STRING / PIECE - 1; i++)
        held += sl_agg_step(&c, &st, &v, i);
    assert_int_equal(sl_agg_final(&c, &st).type, SL_T_ARRAY);
    held += sl_agg_step(&c, &st, &v, 100);
    assert_int_equal(sl_agg_final(&c, &st).type, SL_T_NULL);
    /* The state counts what it holds. */
    assert_true(held >= (size_t)SL_MAX_BUILT_STRING);
    assert_int_equal(sl_agg_clear(&st), held);
    free(bytes);
    sl_arena_free(a);
}

/* COLLECT_SET and COLLECT_LIST of composite values: equal when their encodings are. */
static void test_collect_composite(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_aggcall c = call(SL_AGG_COLLECT_SET, SL_T_ARRAY, 0);
    sl_buf b1 = SL_BUF_INIT, b2 = SL_BUF_INIT;
    sl_nested_writer w;
    sl_value x = sl_int(SL_T_INT, 1), y = sl_int(SL_T_INT, 2), v[3];
    sl_agg_state st;

    (void)state;
    c.desc = sl_typedesc_array(a, sl_typedesc_array(a, sl_typedesc_scalar(SL_T_INT)));
    sl_nested_begin(&w, &b1);
    sl_nested_put(&w, &x);
    sl_nested_put(&w, &y);
    v[0] = sl_nested_end(&w, SL_T_ARRAY);
    sl_nested_begin(&w, &b2);
    sl_nested_put(&w, &y);
    v[1] = sl_nested_end(&w, SL_T_ARRAY);
    v[2] = v[0];
    sl_agg_init(&c, &st);
    feed(&c, &st, v, 3, 0);
    assert_shows(&c, &st, "[[1, 2], [2]]");
    check_save_load(&c, &st, &v[1], 3);
    sl_agg_clear(&st);
    check_any_merge(&c, v, 3, 10);
    sl_buf_free(&b1);
    sl_buf_free(&b2);
    sl_arena_free(a);
}

/* A checkpoint must hold elements a state could have kept, in its order. */
static void test_collect_load_checks(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_aggcall list = arr_call(a, SL_AGG_COLLECT_LIST, SL_T_INT, 0);
    sl_aggcall set = arr_call(a, SL_AGG_COLLECT_SET, SL_T_INT, 0);
    sl_aggcall top = arr_call(a, SL_AGG_TOPK, SL_T_INT, 2);
    const sl_value v[] = {sl_int(SL_T_INT, 4), sl_int(SL_T_INT, 4), sl_int(SL_T_INT, 1)};
    const sl_value odd[] = {sl_str("x", 1)}, nul[] = {sl_null()};
    const int64_t in_order[] = {1, 2, 3}, backwards[] = {3, 2, 1}, same[] = {2, 2, 3};

    (void)state;
    assert_null(load_elements(&list, 3, in_order, v));
    assert_null(load_elements(&top, 2, in_order, v));
    assert_null(load_elements(&list, 1, in_order, nul));
    assert_string_equal(load_elements(&list, 3, backwards, v), "array elements out of order");
    assert_string_equal(load_elements(&list, 3, same, v), "array elements out of order");
    assert_string_equal(load_elements(&top, 2, backwards, v), "array elements out of order");
    assert_string_equal(load_elements(&set, 3, in_order, v), "a repeated value in a COLLECT_SET");
    assert_string_equal(load_elements(&list, 1, in_order, odd),
                        "an array element of the wrong type");
    assert_string_equal(load_elements(&top, 1, in_order, nul),
                        "an array element of the wrong type");
    /* More elements than TOPK's k, or than inputs. */
    assert_non_null(load_elements(&top, 3, in_order, v));
    assert_null(load_inputs(&list, 5, 3, in_order, v));
    assert_string_equal(load_inputs(&list, 2, 3, in_order, v), "more array elements than inputs");
    sl_arena_free(a);
}

static sl_value dec(const char *s, int p, int sc)
{
    sl_value v;

    assert_int_equal(sl_decimal_parse(s, strlen(s), p, sc, true, &v), 0);
    return v;
}

static const char *dec_text(sl_value v, char out[SL_DECIMAL_TEXT])
{
    if (v.type == SL_T_NULL)
        return "NULL";
    assert_int_equal(v.type, SL_T_DECIMAL);
    sl_decimal_format(&v, out);
    return out;
}

/* SUM of a DECIMAL(p, s) is an exact DECIMAL(p, s), NULL once the total needs more
 * integer digits than p - s (and back when a retraction brings it into range), and NULL
 * for good past 38 digits; AVG sums exactly and gives a DOUBLE; MIN, MAX, COUNT_DISTINCT
 * and STDDEV_SAMP take DECIMALs; all of it merges and survives a checkpoint. */
static void test_decimal(void **state)
{
    static const sl_typedesc t42 = {.kind = SL_T_DECIMAL, .precision = 4, .scale = 2};
    static const sl_typedesc t380 = {.kind = SL_T_DECIMAL, .precision = 38, .scale = 0};
    sl_expr arg = {.kind = SL_EX_COLUMN, .type = SL_T_DECIMAL, .desc = &t42};
    sl_expr big_arg = {.kind = SL_EX_COLUMN, .type = SL_T_DECIMAL, .desc = &t380};
    sl_aggcall sum = {.fn = SL_AGG_SUM, .arg = &arg, .type = SL_T_DECIMAL, .desc = &t42};
    sl_aggcall avg = {.fn = SL_AGG_AVG, .arg = &arg, .type = SL_T_DOUBLE};
    sl_aggcall mn = {.fn = SL_AGG_MIN, .arg = &arg, .type = SL_T_DECIMAL, .desc = &t42};
    sl_aggcall mx = {.fn = SL_AGG_MAX, .arg = &arg, .type = SL_T_DECIMAL, .desc = &t42};
    sl_aggcall dist = {.fn = SL_AGG_COUNT_DISTINCT, .arg = &arg, .type = SL_T_BIGINT};
    sl_aggcall sd = {.fn = SL_AGG_STDDEV_SAMP, .arg = &arg, .type = SL_T_DOUBLE};
    sl_aggcall big = {.fn = SL_AGG_SUM, .arg = &big_arg, .type = SL_T_DECIMAL, .desc = &t380};
    const sl_value v[] = {dec("12.30", 4, 2), sl_null(), dec("-0.05", 4, 2), dec("10.00", 4, 2),
                          dec("12.30", 4, 2)};
    sl_value more = dec("0.01", 4, 2), limit = dec("99.99", 4, 2);
    char text[SL_DECIMAL_TEXT];
    sl_agg_state st;
    sl_value r;

    (void)state;
    sl_agg_init(&sum, &st);
    assert_int_equal(sl_agg_final(&sum, &st).type, SL_T_NULL);
    feed(&sum, &st, v, 5, 0);
    assert_string_equal(dec_text(sl_agg_final(&sum, &st), text), "34.55");
    check_save_load(&sum, &st, &more, 5);
    assert_string_equal(dec_text(sl_agg_final(&sum, &st), text), "34.56");
    assert_true(sl_agg_can_retract(&sum));
    assert_true(sl_agg_retract(&sum, &st, &v[0]));
    assert_string_equal(dec_text(sl_agg_final(&sum, &st), text), "22.26");
    sl_agg_clear(&st);
    for (size_t i = 0; i < 4; i++) {
        const sl_aggcall *c[] = {&sum, &mn, &mx, &dist};
        check_merge(c[i], v, 5);
    }
    /* Past DECIMAL(4, 2): NULL; retracting brings the exact total back. */
    sl_agg_init(&sum, &st);
    feed(&sum, &st, &limit, 1, 0);
    feed(&sum, &st, &more, 1, 1);
    assert_int_equal(sl_agg_final(&sum, &st).type, SL_T_NULL);
    assert_true(sl_agg_retract(&sum, &st, &more));
    assert_string_equal(dec_text(sl_agg_final(&sum, &st), text), "99.99");
    sl_agg_clear(&st);
    /* Past 38 digits the total is gone. */
    sl_value nines = dec("99999999999999999999999999999999999999", 38, 0);
    sl_agg_init(&big, &st);
    feed(&big, &st, &nines, 1, 0);
    feed(&big, &st, &nines, 1, 1);
    assert_int_equal(sl_agg_final(&big, &st).type, SL_T_NULL);
    assert_false(sl_agg_retract(&big, &st, &nines));
    sl_agg_clear(&st);
    /* AVG: 34.55 / 4. */
    sl_agg_init(&avg, &st);
    feed(&avg, &st, v, 5, 0);
    r = sl_agg_final(&avg, &st);
    assert_int_equal(r.type, SL_T_DOUBLE);
    assert_true(r.u.d == 8.6375);
    sl_agg_clear(&st);
    check_merge(&avg, v, 5);
    /* MIN, MAX keep the value and its scale; COUNT_DISTINCT counts 12.30 once. */
    sl_agg_init(&mn, &st);
    feed(&mn, &st, v, 5, 0);
    assert_string_equal(dec_text(sl_agg_final(&mn, &st), text), "-0.05");
    sl_agg_clear(&st);
    sl_agg_init(&mx, &st);
    feed(&mx, &st, v, 5, 0);
    assert_string_equal(dec_text(sl_agg_final(&mx, &st), text), "12.30");
    sl_agg_clear(&st);
    sl_agg_init(&dist, &st);
    feed(&dist, &st, v, 5, 0);
    assert_int_equal(sl_agg_final(&dist, &st).u.i, 3);
    sl_agg_clear(&st);
    sl_agg_init(&sd, &st);
    feed(&sd, &st, v, 5, 0);
    r = sl_agg_final(&sd, &st);
    assert_true(r.type == SL_T_DOUBLE && fabs(r.u.d - 5.8922795532) < 1e-9);
    sl_agg_clear(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_distinct),
        cmocka_unit_test(test_by_offset),
        cmocka_unit_test(test_stddev),
        cmocka_unit_test(test_merge_basics),
        cmocka_unit_test(test_retract),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_percentile_edges),
        cmocka_unit_test(test_collect_list),
        cmocka_unit_test(test_collect_set),
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_collect_caps),
        cmocka_unit_test(test_collect_too_large),
        cmocka_unit_test(test_collect_composite),
        cmocka_unit_test(test_collect_load_checks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
