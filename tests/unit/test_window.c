/* test_window.c: every window kind, run through the real parser, binder and engine.
 *
 * A query is compiled from SQL against a one-stream catalog (S: K VARCHAR, V INT), fed
 * rows with explicit ROWTIMEs, and its output recorded as text, one change a line:
 * `+ ws we k v...` for an upsert, `- ...` for a delete, `late t` for a late row.  The
 * tests assert the exact sequence a user would see, and that the state is freed once
 * every window has closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse.h"
#include "plan.h"
#include "query.h"
#include "tz.h"
#include "window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sl_column s_cols[] = {{"K", SL_T_VARCHAR, false, false, NULL},
                             {"V", SL_T_INT, false, false, NULL}};
static const sl_schema s_schema = {"S", false, 2, s_cols, -1, 0, 0, NULL};

static const sl_schema *lookup(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "S") == 0 ? &s_schema : NULL;
}

static const sl_catalog catalog = {.ctx = NULL, .lookup = lookup, .zone_exists = sl_tz_exists};

typedef struct recorder {
    char text[8192];
    size_t len;
} recorder;

static void put(recorder *r, const char *s)
{
    size_t n = strlen(s);

    assert_true(r->len + n < sizeof(r->text));
    memcpy(r->text + r->len, s, n + 1);
    r->len += n;
}

static void rec_emit(void *ctx, sl_change change, const sl_row *row)
{
    recorder *r = ctx;
    char buf[64];

    put(r, change == SL_CHANGE_DELETE ? "-" : "+");
    for (uint32_t i = 0; i < row->ncols; i++) {
        const sl_value *v = &row->v[i];

        switch (v->type) {
        case SL_T_NULL:
            snprintf(buf, sizeof(buf), " null");
            break;
        case SL_T_DOUBLE:
            snprintf(buf, sizeof(buf), " %g", v->u.d);
            break;
        case SL_T_VARCHAR:
            snprintf(buf, sizeof(buf), " %.*s", (int)v->u.s.len, v->u.s.ptr);
            break;
        default:
            snprintf(buf, sizeof(buf), " %" PRId64, v->u.i);
            break;
        }
        put(r, buf);
    }
    put(r, "\n");
}

static void rec_late(void *ctx, const sl_row *row)
{
    char buf[64];

    snprintf(buf, sizeof(buf), "late %" PRId64 "\n", row->rowtime);
    put(ctx, buf);
}

typedef struct event {
    int64_t t;
    const char *k;
    int v;
} event;

/* Compiles sql, pushes the n events and, when finish, ends the input; checks that the
 * sink saw exactly expect, and that a finished query holds no state. */
static void run(const char *sql, const event *ev, size_t n, bool finish, const char *expect)
{
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_error err = {0};
    recorder rec = {{0}, 0};
    sl_sink sink = {.ctx = &rec, .emit = rec_emit, .late = rec_late};
    sl_row *row = sl_row_new(2);
    sl_query *q;
    sl_query_stats st;

    if (sl_parse(sql, strlen(sql), &list, &err) < 0 ||
        sl_plan_build(list->stmts[0].select, &catalog, &plan, &err) < 0)
        fail_msg("%s: %s", sql, err.message);
    sl_stmt_list_free(list);
    q = sl_query_new(plan, &sink);
    for (size_t i = 0; i < n; i++) {
        row->rowtime = ev[i].t;
        row->v[0] = sl_str(ev[i].k, (uint32_t)strlen(ev[i].k));
        row->v[1] = sl_int(SL_T_INT, ev[i].v);
        assert_int_equal(sl_query_push(q, row, &err), 0);
    }
    if (finish)
        sl_query_finish(q);
    sl_query_stats_get(q, &st);
    if (strcmp(rec.text, expect) != 0)
        fail_msg("%s\n--- got\n%s--- expected\n%s", sql, rec.text, expect);
    /* Once every window has closed, no state is left (a plain GROUP BY keeps its groups,
     * COUNT windows each group's row counter). */
    if (finish && strstr(sql, "WINDOW") && !strstr(sql, "WINDOW COUNT"))
        assert_int_equal(st.state_bytes, 0);
    sl_query_free(q);
    sl_plan_free(plan);
    sl_row_free(row);
}

/* The error sql gives when compiled. */
static void plan_error(const char *sql, sl_errcode code, const char *message)
{
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_error err = {0};
    int rc = sl_parse(sql, strlen(sql), &list, &err);

    if (rc == 0)
        rc = sl_plan_build(list->stmts[0].select, &catalog, &plan, &err);
    sl_stmt_list_free(list);
    sl_plan_free(plan);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, code);
    assert_string_equal(err.message, message);
}

static void test_hopping(void **state)
{
    const event ev[] = {{3, "a", 1}, {7, "a", 2}, {12, "a", 4}};

    (void)state;
    /* Every window holding a row gets it: [-5,5) [0,10) for 3, [0,10) [5,15) for 7, ... */
    run("SELECT k, COUNT(*) AS c, SUM(v) AS s FROM s WINDOW HOPPING (SIZE 10 MILLISECONDS, "
        "ADVANCE BY 5 MILLISECONDS) GROUP BY k EMIT FINAL",
        ev, 3, true,
        "+ -5 5 a 1 1\n"
        "+ 0 10 a 2 3\n"
        "+ 5 15 a 2 6\n"
        "+ 10 20 a 1 4\n");
    run("SELECT k, COUNT(*) AS c FROM s WINDOW HOPPING (SIZE 10 MILLISECONDS, ADVANCE BY 5 "
        "MILLISECONDS) GROUP BY k EMIT CHANGES",
        ev, 2, false,
        "+ -5 5 a 1\n"
        "+ 0 10 a 1\n"
        "+ 0 10 a 2\n"
        "+ 5 15 a 1\n");
}

static void test_cumulating(void **state)
{
    const event ev[] = {{3, "a", 1}, {7, "a", 2}, {12, "a", 4}};

    (void)state;
    run("SELECT k, SUM(v) AS s FROM s WINDOW CUMULATING (SIZE 10 MILLISECONDS, STEP 5 "
        "MILLISECONDS) GROUP BY k EMIT FINAL",
        ev, 3, true,
        "+ 0 5 a 1\n"
        "+ 0 10 a 3\n"
        "+ 10 15 a 4\n"
        "+ 10 20 a 4\n");
}

static void test_session(void **state)
{
    /* 10 bridges [0,0] and [20,20] (gap 10, both bounds inclusive): they merge. */
    const event ev[] = {{0, "a", 1}, {20, "a", 2}, {5, "b", 7}, {10, "a", 4}, {200, "c", 0}};

    (void)state;
    run("SELECT k, COUNT(*) AS c, SUM(v) AS s FROM s WINDOW SESSION (10 MILLISECONDS, GRACE "
        "PERIOD 100 MILLISECONDS) GROUP BY k EMIT CHANGES",
        ev, 4, false,
        "+ 0 0 a 1 1\n"
        "+ 20 20 a 1 2\n"
        "+ 5 5 b 1 7\n"
        "- 0 0 a 1 1\n"
        "- 20 20 a 1 2\n"
        "+ 0 20 a 3 7\n");
    /* Sessions close at end + gap + grace, in order of end. */
    run("SELECT k, COUNT(*) AS c, SUM(v) AS s FROM s WINDOW SESSION (10 MILLISECONDS, GRACE "
        "PERIOD 100 MILLISECONDS) GROUP BY k EMIT FINAL",
        ev, 5, false,
        "+ 5 5 b 1 7\n"
        "+ 0 20 a 3 7\n");
    /* With no grace, 3 comes when its own session would already be closed: late. */
    const event late[] = {{0, "a", 1}, {20, "a", 1}, {3, "a", 1}, {12, "a", 1}};
    run("SELECT k, COUNT(*) AS c FROM s WINDOW SESSION (5 MILLISECONDS) GROUP BY k EMIT FINAL",
        late, 4, true,
        "+ 0 0 a 1\n"
        "late 3\n"
        "late 12\n"
        "+ 20 20 a 1\n");
}

static void test_sliding(void **state)
{
    const event ev[] = {{0, "a", 1}, {5, "a", 2}, {12, "a", 3}, {3, "a", 4}};

    (void)state;
    /* Each row's window is (t - 10, t], shown as [t - 9, t + 1).  3 arrives out of order:
     * its own window, then the later windows that now hold it (5's and 12's). */
    run("SELECT k, SUM(v) AS s FROM s WINDOW SLIDING (SIZE 10 MILLISECONDS, GRACE PERIOD 20 "
        "MILLISECONDS) GROUP BY k EMIT CHANGES",
        ev, 4, false,
        "+ -9 1 a 1\n"
        "+ -4 6 a 3\n"
        "+ 3 13 a 5\n"
        "+ -6 4 a 5\n"
        "+ -4 6 a 7\n"
        "+ 3 13 a 9\n");
    run("SELECT k, SUM(v) AS s FROM s WINDOW SLIDING (SIZE 10 MILLISECONDS, GRACE PERIOD 20 "
        "MILLISECONDS) GROUP BY k EMIT FINAL",
        ev, 4, true,
        "+ -9 1 a 1\n"
        "+ -6 4 a 5\n"
        "+ -4 6 a 7\n"
        "+ 3 13 a 9\n");
    /* Without grace a row older than the watermark is late. */
    const event late[] = {{10, "a", 1}, {9, "a", 1}, {10, "a", 2}};
    run("SELECT k, SUM(v) AS s FROM s WINDOW SLIDING (SIZE 5 MILLISECONDS) GROUP BY k EMIT FINAL",
        late, 3, true,
        "late 9\n"
        "+ 6 11 a 3\n"
        "+ 6 11 a 3\n");
}

static void test_count(void **state)
{
    const event ev[] = {{1, "a", 1}, {2, "a", 2}, {3, "b", 10}, {4, "a", 3}};

    (void)state;
    run("SELECT k, SUM(v) AS s FROM s WINDOW COUNT (2, ADVANCE BY 1) GROUP BY k EMIT FINAL", ev, 4,
        true,
        "+ 0 2 a 3\n"
        "+ 1 3 a 5\n");
    run("SELECT k, SUM(v) AS s FROM s WINDOW COUNT (2) GROUP BY k EMIT CHANGES", ev, 4, false,
        "+ 0 2 a 1\n"
        "+ 0 2 a 3\n"
        "+ 0 2 b 10\n"
        "+ 2 4 a 3\n");
}

static void test_emit_every(void **state)
{
    const event ev[] = {{1, "a", 1},  {2, "a", 1},  {5, "b", 1},
                        {12, "a", 1}, {15, "a", 1}, {30, "a", 1}};

    (void)state;
    /* One row per changed key per 10 ms of stream time, sent when stream time enters
     * the next period; the rest at the end of input. */
    run("SELECT k, COUNT(*) AS c FROM s WINDOW TUMBLING (SIZE 100 MILLISECONDS) GROUP BY k "
        "EMIT CHANGES EVERY 10 MILLISECONDS",
        ev, 6, false,
        "+ 0 100 a 2\n"
        "+ 0 100 b 1\n"
        "+ 0 100 a 4\n");
    run("SELECT k, COUNT(*) AS c FROM s GROUP BY k EMIT CHANGES EVERY 10 MILLISECONDS", ev, 6, true,
        "+ a 2\n"
        "+ b 1\n"
        "+ a 4\n"
        "+ a 5\n");
    plan_error("SELECT k FROM s EMIT CHANGES EVERY 1 SECOND", SL_ERR_UNSUPPORTED,
               "EMIT CHANGES EVERY requires an aggregation");
}

static void test_having_delete(void **state)
{
    const event ev[] = {{1, "a", 1}, {2, "a", 3}, {3, "a", 2},
                        {4, "a", 1}, {5, "b", 9}, {150, "a", 1}};

    (void)state;
    /* The group's HAVING turns false: its row is deleted, once; b never passed. */
    run("SELECT k, COUNT(*) AS c FROM s WINDOW TUMBLING (SIZE 100 MILLISECONDS) GROUP BY k "
        "HAVING SUM(v) < 5 EMIT CHANGES",
        ev, 6, true,
        "+ 0 100 a 1\n"
        "+ 0 100 a 2\n"
        "- 0 100 a 3\n"
        "+ 100 200 a 1\n");
    /* A merged session whose old row never passed HAVING sends no delete for it. */
    const event sess[] = {{0, "a", 9}, {20, "a", 1}, {10, "a", 1}};
    run("SELECT k, SUM(v) AS s FROM s WINDOW SESSION (10 MILLISECONDS, GRACE PERIOD 100 "
        "MILLISECONDS) GROUP BY k HAVING SUM(v) < 5 EMIT CHANGES",
        sess, 3, true,
        "+ 20 20 a 1\n"
        "- 20 20 a 1\n");
    plan_error("SELECT COUNT(*) AS c FROM s GROUP BY k EMIT CHANGES", SL_ERR_UNSUPPORTED,
               "a continuous query must select every GROUP BY expression (as itself), or its "
               "rows' keys would be incomplete");
}

static void test_order_limit(void **state)
{
    const event ev[] = {{1, "b", 2}, {2, "a", 2}, {3, "c", 9}, {4, "a", 1}};
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_error err;

    (void)state;
    run("SELECT k, v FROM s ORDER BY v DESC, k LIMIT 3", ev, 4, true,
        "+ c 9\n"
        "+ a 2\n"
        "+ b 2\n");
    run("SELECT k, v AS x FROM s ORDER BY x, ROWTIME DESC", ev, 4, true,
        "+ a 1\n"
        "+ a 2\n"
        "+ b 2\n"
        "+ c 9\n");
    run("SELECT k, COUNT(*) AS c FROM s GROUP BY k ORDER BY c DESC, k", ev, 4, true,
        "+ a 2\n"
        "+ b 1\n"
        "+ c 1\n");
    run("SELECT k FROM s LIMIT 0", ev, 4, true, "");
    plan_error("SELECT k FROM s ORDER BY k EMIT CHANGES", SL_ERR_UNSUPPORTED,
               "ORDER BY is only for batch queries (without EMIT)");
    plan_error("SELECT k FROM s LIMIT 3 EMIT CHANGES", SL_ERR_UNSUPPORTED,
               "LIMIT is only for batch queries (without EMIT)");
    plan_error("SELECT k FROM s ORDER BY v", SL_ERR_UNKNOWN_COLUMN, "unknown column 'V'");

    /* WHERE bounds on ROWTIME give the range of stored batches a batch run reads. */
    const char *sql = "SELECT k FROM s WHERE ROWTIME >= 100 AND k = 'a' AND 200 > ROWTIME";
    assert_int_equal(sl_parse(sql, strlen(sql), &list, &err), 0);
    assert_int_equal(sl_plan_build(list->stmts[0].select, &catalog, &plan, &err), 0);
    assert_true(plan->rowtime_lo == 100 && plan->rowtime_hi == 199);
    sl_plan_free(plan);
    sl_stmt_list_free(list);
    sql = "SELECT k FROM s WHERE ROWTIME > 5 OR ROWTIME < 3";
    assert_int_equal(sl_parse(sql, strlen(sql), &list, &err), 0);
    assert_int_equal(sl_plan_build(list->stmts[0].select, &catalog, &plan, &err), 0);
    assert_true(plan->rowtime_lo == INT64_MIN && plan->rowtime_hi == INT64_MAX);
    sl_plan_free(plan);
    sl_stmt_list_free(list);
}

static void test_time_zone(void **state)
{
    /* Europe/Berlin: 2026-03-29 has 23 hours (from 2026-03-28T23:00Z), 2026-10-25 has
     * 25 (from 2026-10-24T22:00Z). */
    const event spring[] = {{1774785600000, "a", 1}, {1774819800000, "a", 2}};
    const event autumn[] = {{1792922400000, "a", 1}, {1792967400000, "a", 2}};

    (void)state;
    run("SELECT k, SUM(v) AS s FROM s WINDOW TUMBLING (SIZE 1 DAY, TIME ZONE 'Europe/Berlin') "
        "GROUP BY k EMIT FINAL",
        spring, 2, true, "+ 1774738800000 1774821600000 a 3\n");
    run("SELECT k, SUM(v) AS s FROM s WINDOW TUMBLING (SIZE 1 DAY, TIME ZONE 'Europe/Berlin') "
        "GROUP BY k EMIT FINAL",
        autumn, 2, true, "+ 1792879200000 1792969200000 a 3\n");
    /* 6-hour windows restart at local midnight; the day's last one is cut at the next. */
    run("SELECT k, SUM(v) AS s FROM s WINDOW TUMBLING (SIZE 6 HOURS, TIME ZONE 'Europe/Berlin') "
        "GROUP BY k EMIT FINAL",
        spring, 2, true,
        "+ 1774782000000 1774803600000 a 1\n"
        "+ 1774803600000 1774821600000 a 2\n");
    /* A daily cumulating window with 12-hour steps on a 25-hour day ends at +12h, +24h
     * and at the day's end, +25h (the first holds no row: an end is exclusive). */
    run("SELECT k, SUM(v) AS s FROM s WINDOW CUMULATING (SIZE 1 DAY, STEP 12 HOURS, TIME ZONE "
        "'Europe/Berlin') GROUP BY k EMIT FINAL",
        autumn, 2, true,
        "+ 1792879200000 1792965600000 a 1\n"
        "+ 1792879200000 1792969200000 a 3\n");
    plan_error("SELECT COUNT(*) FROM s WINDOW TUMBLING (SIZE 1 DAY, TIME ZONE 'Mars/Olympus') "
               "EMIT FINAL",
               SL_ERR_UNSUPPORTED, "unknown time zone 'Mars/Olympus'");
    plan_error("SELECT COUNT(*) FROM s WINDOW TUMBLING (SIZE 1 DAY, TIME ZONE '../../etc/passwd') "
               "EMIT FINAL",
               SL_ERR_UNSUPPORTED, "unknown time zone '../../etc/passwd'");
}

static void test_tz_reader(void **state)
{
    const sl_tz *berlin = sl_tz_get("Europe/Berlin"), *utc = sl_tz_get("UTC");

    (void)state;
    assert_non_null(berlin);
    assert_non_null(utc);
    assert_ptr_equal(sl_tz_get("Europe/Berlin"), berlin);
    assert_null(sl_tz_get("Europe/Nowhere"));
    assert_null(sl_tz_get("/etc/passwd"));
    assert_null(sl_tz_get(""));
    assert_true(sl_tz_offset(berlin, 1774785600000) == 2 * 3600000);
    assert_true(sl_tz_offset(berlin, 1792969200000) == 3600000);
    assert_true(sl_tz_offset(utc, 1792969200000) == 0);
    assert_true(sl_tz_day_start(berlin, sl_tz_day(berlin, 1774785600000)) == 1774738800000);
    /* Every local day of 2020-2030 starts where the previous one ends, also in zones with
     * transitions at midnight (Santiago), half-hour offsets (Kolkata) and half-hour
     * daylight saving (Lord Howe). */
    static const char *const zones[] = {"Europe/Berlin", "America/Santiago", "Asia/Kolkata",
                                        "Australia/Lord_Howe", "America/New_York"};
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        const sl_tz *tz = sl_tz_get(zones[z]);

        assert_non_null(tz);
        for (int64_t d = 18262; d < 18262 + 11 * 366; d++) {
            int64_t start = sl_tz_day_start(tz, d);
            int64_t len = sl_tz_day_start(tz, d + 1) - start;

            assert_true(sl_tz_day(tz, start) == d && sl_tz_day(tz, start - 1) == d - 1);
            assert_true(len >= 22 * 3600000ll && len <= 26 * 3600000ll);
        }
    }
}

static void test_window_errors(void **state)
{
    (void)state;
    plan_error("SELECT TOPK(v, -3) FROM s EMIT CHANGES", SL_ERR_TYPE_ERROR,
               "the k of TOPK must be a positive integer literal");
    plan_error("SELECT PERCENTILE_APPROX(v, 1.5) FROM s EMIT CHANGES", SL_ERR_TYPE_ERROR,
               "the percentile of PERCENTILE_APPROX must lie between 0 and 1");
    plan_error("SELECT PERCENTILE_APPROX(v, v) FROM s EMIT CHANGES", SL_ERR_TYPE_ERROR,
               "the percentile of PERCENTILE_APPROX must be a number literal");
    plan_error("SELECT STDDEV_SAMP(k) FROM s EMIT CHANGES", SL_ERR_TYPE_ERROR,
               "cannot apply STDDEV_SAMP to VARCHAR");
    plan_error("SELECT COUNT(*) FROM s WINDOW HOPPING (SIZE 5 SECONDS, ADVANCE BY 10 SECONDS) "
               "EMIT FINAL",
               SL_ERR_SYNTAX_ERROR, "HOPPING window ADVANCE BY must not exceed its SIZE");
    plan_error("SELECT COUNT(*) FROM s WINDOW HOPPING (SIZE 1 DAY, ADVANCE BY 1 MILLISECOND) "
               "EMIT FINAL",
               SL_ERR_LIMIT_EXCEEDED, "this HOPPING window puts a row in more than 1000 windows");
    plan_error("SELECT COUNT(*) FROM s WINDOW CUMULATING (SIZE 10 SECONDS, STEP 3 SECONDS) "
               "EMIT FINAL",
               SL_ERR_SYNTAX_ERROR, "CUMULATING window SIZE must be a multiple of its STEP");
    plan_error("SELECT COUNT(*) FROM s WINDOW COUNT (0) EMIT FINAL", SL_ERR_SYNTAX_ERROR,
               "a COUNT window needs at least 1 row");
    plan_error("SELECT COUNT(*) FROM s WINDOW SESSION (0 SECONDS) EMIT FINAL", SL_ERR_SYNTAX_ERROR,
               "session gap must be greater than 0");
    plan_error("SELECT COUNT(*) FROM s WINDOW SESSION (1 SECOND, TIME ZONE 'UTC') EMIT FINAL",
               SL_ERR_SYNTAX_ERROR, "near \"TIME\": expected GRACE");
    plan_error("SELECT COUNT(*) FROM s WINDOW HOPPING (SIZE 2 HOURS, ADVANCE BY 1 HOUR, TIME ZONE "
               "'UTC') EMIT FINAL",
               SL_ERR_UNSUPPORTED,
               "a HOPPING window with a TIME ZONE must have SIZE and ADVANCE BY in whole days");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hopping),       cmocka_unit_test(test_cumulating),
        cmocka_unit_test(test_session),       cmocka_unit_test(test_sliding),
        cmocka_unit_test(test_count),         cmocka_unit_test(test_emit_every),
        cmocka_unit_test(test_having_delete), cmocka_unit_test(test_order_limit),
        cmocka_unit_test(test_time_zone),     cmocka_unit_test(test_tz_reader),
        cmocka_unit_test(test_window_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
