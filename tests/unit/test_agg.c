/* test_agg.c: every aggregate function of aggs.def through init / step / merge / final /
 * clear, including the heap accounting of the states that own memory, and
 * PERCENTILE_APPROX's error bound checked on generated data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agg.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_distinct), cmocka_unit_test(test_by_offset),
        cmocka_unit_test(test_stddev),         cmocka_unit_test(test_merge_basics),
        cmocka_unit_test(test_percentile),     cmocka_unit_test(test_percentile_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
