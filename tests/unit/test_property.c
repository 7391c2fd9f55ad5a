/* test_property.c: batch equals continuous, on generated data, for every window kind.
 *
 * For fixed seeds, events with increasing ROWTIMEs are shuffled within blocks that
 * span less than the grace period (so none is late), and windowed aggregations over
 * every window kind run three ways: in batch (sl_query_finish), continuously with EMIT
 * FINAL, and continuously with EMIT CHANGES.  The property: the batch rows equal the
 * EMIT FINAL rows once every window has closed, and equal the state the EMIT CHANGES
 * stream describes (the last upsert per key, minus deleted keys), row for row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decimal.h"
#include "nested.h"
#include "parse.h"
#include "plan.h"
#include "query.h"
#include "tz.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NEVENTS = 300, BLOCK = 7, STEP_MS = 7, MAXLINES = 8192 };

static sl_column s_cols[] = {{"K", SL_T_VARCHAR, false, false, NULL},
                             {"V", SL_T_INT, false, false, NULL}};
static const sl_schema s_schema = {"S", false, 2, s_cols, -1, 0, 0, NULL};

static const sl_schema *lookup(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "S") == 0 ? &s_schema : NULL;
}

static const sl_catalog catalog = {.ctx = NULL, .lookup = lookup, .zone_exists = sl_tz_exists};

/* Each change as a line: its key (WINDOWSTART, WINDOWEND, K) and the whole row. */
typedef struct line {
    char key[64];
    char row[1024];
    bool del;
} line;

typedef struct recorder {
    line *lines;
    int n;
} recorder;

static void rec_emit(void *ctx, sl_change change, const sl_row *row)
{
    recorder *r = ctx;
    line *l;
    int at = 0;

    assert_true(r->n < MAXLINES);
    l = &r->lines[r->n++];
    l->del = change == SL_CHANGE_DELETE;
    snprintf(l->key, sizeof(l->key), "%" PRId64 " %" PRId64 " %.*s", row->v[0].u.i, row->v[1].u.i,
             (int)row->v[2].u.s.len, row->v[2].u.s.ptr);
    for (uint32_t i = 0; i < row->ncols; i++) {
        const sl_value *v = &row->v[i];

        if (v->type == SL_T_NULL)
            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, " null");
        else if (v->type == SL_T_VARCHAR)
            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, " %.*s", (int)v->u.s.len,
                           v->u.s.ptr);
        else if (v->type == SL_T_DOUBLE)
            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, " %.17g", v->u.d);
        else if (v->type == SL_T_DECIMAL) {
            char text[SL_DECIMAL_TEXT];
            sl_decimal_format(v, text);
            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, " %s", text);
        } else if (v->type == SL_T_ARRAY) {
            sl_nested_reader rd;
            sl_value e;

            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, " [");
            sl_nested_open(&rd, v);
            while (sl_nested_next(&rd, &e))
                at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, "%" PRId64 ",", e.u.i);
            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, "]");
        } else
            at += snprintf(l->row + at, sizeof(l->row) - (size_t)at, " %" PRId64, v->u.i);
        assert_true((size_t)at < sizeof(l->row));
    }
}

typedef struct event {
    int64_t t;
    char k[2];
    int v;
} event;

static uint64_t rng;

static uint32_t next_rand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

/* NEVENTS events STEP_MS apart from base, shuffled within blocks of BLOCK. */
static void generate(event *ev, uint64_t seed)
{
    rng = seed;
    for (int i = 0; i < NEVENTS; i++) {
        ev[i].t = 1000 + (int64_t)i * STEP_MS + (int64_t)(next_rand() % 3);
        ev[i].k[0] = (char)('a' + next_rand() % 4);
        ev[i].k[1] = '\0';
        ev[i].v = (int)(next_rand() % 10);
    }
    for (int b = 0; b < NEVENTS; b += BLOCK) {
        int n = NEVENTS - b < BLOCK ? NEVENTS - b : BLOCK;

        for (int i = n - 1; i > 0; i--) {
            int j = (int)(next_rand() % (uint32_t)(i + 1));
            event tmp = ev[b + i];
            ev[b + i] = ev[b + j];
            ev[b + j] = tmp;
        }
    }
}

/* Runs sql over ev, finishing the input; returns the changes in r (caller frees). */
static void run(const char *sql, const event *ev, recorder *r)
{
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_error err = {0};
    sl_sink sink = {.ctx = r, .emit = rec_emit};
    sl_row *row = sl_row_new(2);
    sl_query_stats st;
    sl_query *q;

    r->lines = calloc(MAXLINES, sizeof(line));
    r->n = 0;
    if (sl_parse(sql, strlen(sql), &list, &err) < 0 ||
        sl_plan_build(list->stmts[0].select, &catalog, &plan, &err) < 0)
        fail_msg("%s: %s", sql, err.message);
    sl_stmt_list_free(list);
    q = sl_query_new(plan, &sink);
    for (int i = 0; i < NEVENTS; i++) {
        row->rowtime = ev[i].t;
        row->v[0] = sl_str(ev[i].k, 1);
        row->v[1] = sl_int(SL_T_INT, ev[i].v);
        assert_int_equal(sl_query_push(q, row, &err), 0);
    }
    sl_query_finish(q);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.late_rows, 0);
    sl_query_free(q);
    sl_plan_free(plan);
    sl_row_free(row);
}

static int cmp_rows(const void *a, const void *b)
{
    return strcmp(((const line *)a)->row, ((const line *)b)->row);
}

/* The state an upsert stream describes: the last row per key, deleted keys left out. */
static void collapse(recorder *r)
{
    int n = 0;

    for (int i = 0; i < r->n; i++) {
        int j;

        for (j = 0; j < n && strcmp(r->lines[j].key, r->lines[i].key) != 0; j++)
            ;
        if (j == n)
            r->lines[n++] = r->lines[i];
        else
            r->lines[j] = r->lines[i];
    }
    r->n = 0;
    for (int i = 0; i < n; i++)
        if (!r->lines[i].del)
            r->lines[r->n++] = r->lines[i];
}

static void assert_same(recorder *want, recorder *got, const char *what, const char *window,
                        uint64_t seed)
{
    qsort(want->lines, (size_t)want->n, sizeof(line), cmp_rows);
    qsort(got->lines, (size_t)got->n, sizeof(line), cmp_rows);
    if (want->n != got->n)
        fail_msg("%s, seed %" PRIu64 ", %s: %d batch rows, %d continuous", window, seed, what,
                 want->n, got->n);
    for (int i = 0; i < want->n; i++)
        if (strcmp(want->lines[i].row, got->lines[i].row) != 0)
            fail_msg("%s, seed %" PRIu64 ", %s: batch row%s, continuous row%s", window, seed, what,
                     want->lines[i].row, got->lines[i].row);
}

static void test_batch_equals_continuous(void **state)
{
    static const char *const windows[] = {
        "TUMBLING (SIZE 100 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        ("HOPPING (SIZE 100 MILLISECONDS, ADVANCE BY 30 MILLISECONDS, "
         "GRACE PERIOD 50 MILLISECONDS)"),
        "CUMULATING (SIZE 120 MILLISECONDS, STEP 40 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        "SESSION (20 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        "SESSION (3 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        "SLIDING (SIZE 60 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        "COUNT (5, ADVANCE BY 2)",
    };
    static const char *const aggs =
        "COUNT(*) AS c, SUM(v) AS s, MIN(v) AS mn, MAX(v) AS mx, COUNT_DISTINCT(v) AS d, "
        "EARLIEST_BY_OFFSET(v) AS e, LATEST_BY_OFFSET(v) AS l, STDDEV_SAMP(v) AS sd, "
        "PERCENTILE_APPROX(v, 0.5) AS p, TOPK(v, 3) AS tk, COLLECT_LIST(v) AS cl, "
        "COLLECT_SET(v) AS cs, SUM(v * 0.25) AS ds, AVG(v / 4.0) AS da, MAX(v - 0.5) AS dm";
    const uint64_t seeds[] = {1, 42, 20261124};
    event ev[NEVENTS];
    char sql[2048];

    (void)state;
    for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
        generate(ev, seeds[si]);
        for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
            recorder batch, final, changes;

            snprintf(sql, sizeof(sql), "SELECT k, %s FROM s WINDOW %s GROUP BY k", aggs,
                     windows[w]);
            run(sql, ev, &batch);
            assert_true(batch.n > 0);
            snprintf(sql, sizeof(sql), "SELECT k, %s FROM s WINDOW %s GROUP BY k EMIT FINAL", aggs,
                     windows[w]);
            run(sql, ev, &final);
            assert_same(&batch, &final, "EMIT FINAL", windows[w], seeds[si]);
            /* A COUNT window short of its rows shows in EMIT CHANGES only. */
            if (strncmp(windows[w], "COUNT", 5) != 0) {
                snprintf(sql, sizeof(sql), "SELECT k, %s FROM s WINDOW %s GROUP BY k EMIT CHANGES",
                         aggs, windows[w]);
                run(sql, ev, &changes);
                collapse(&changes);
                assert_same(&batch, &changes, "EMIT CHANGES", windows[w], seeds[si]);
                free(changes.lines);
            }
            free(batch.lines);
            free(final.lines);
        }
    }
}

/* SLIDING windows whose aggregates all retract keep a running window per group
 * (op_sliding.c); adding an aggregate that does not retract (a MIN in HAVING, which
 * changes no row) makes the operator compute every window from its buffer instead.
 * Both must give the same rows, in every mode. */
static void test_sliding_running_window(void **state)
{
    static const char *const windows[] = {
        "SLIDING (SIZE 60 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        "SLIDING (SIZE 5 MILLISECONDS, GRACE PERIOD 50 MILLISECONDS)",
        "SLIDING (SIZE 1 SECOND, GRACE PERIOD 50 MILLISECONDS)",
        "SLIDING (SIZE 20 MILLISECONDS, GRACE PERIOD 100 MILLISECONDS)",
    };
    static const char *const emits[] = {"", " EMIT FINAL", " EMIT CHANGES"};
    const uint64_t seeds[] = {3, 77, 20261124};
    event ev[NEVENTS];
    char sql[1024];

    (void)state;
    for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
        generate(ev, seeds[si]);
        for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
            for (size_t e = 0; e < sizeof(emits) / sizeof(emits[0]); e++) {
                recorder running, rebuilt;

                snprintf(sql, sizeof(sql),
                         "SELECT k, COUNT(*) AS c, COUNT(v) AS n, SUM(v) AS s, SUM(v * 0.25) AS ds "
                         "FROM s WINDOW %s GROUP BY k%s",
                         windows[w], emits[e]);
                run(sql, ev, &running);
                snprintf(sql, sizeof(sql),
                         "SELECT k, COUNT(*) AS c, COUNT(v) AS n, SUM(v) AS s, SUM(v * 0.25) AS ds "
                         "FROM s WINDOW %s GROUP BY k HAVING MIN(v) IS NULL OR TRUE%s",
                         windows[w], emits[e]);
                run(sql, ev, &rebuilt);
                assert_true(running.n > 0);
                assert_same(&rebuilt, &running, emits[e][0] ? emits[e] : "batch", windows[w],
                            seeds[si]);
                free(running.lines);
                free(rebuilt.lines);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_continuous),
        cmocka_unit_test(test_sliding_running_window),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
