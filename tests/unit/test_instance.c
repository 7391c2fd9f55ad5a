/* test_instance.c: the instance over a real SQLite store in a temporary directory:
 * DDL, ingest, live queries and their listeners, seq continuity across a reopen (the
 * restart replays the log), history replay and snapshots, batch equals final, and
 * atomic ingest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "instance.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    sl_instance *in;
    int64_t now;
} fixture;

static int64_t test_clock(void *ctx)
{
    return ((fixture *)ctx)->now;
}

static void open_instance(fixture *f)
{
    sl_instance_opts o = {
        .data_dir = f->dir, .fsync = SL_FSYNC_NORMAL, .clock_ms = test_clock, .clock_ctx = f};
    sl_error err;

    sl_error_clear(&err);
    assert_int_equal(sl_instance_open(&o, &f->in, &err), 0);
}

static int setup(void **state)
{
    fixture *f = sl_xcalloc(1, sizeof(fixture));

    snprintf(f->dir, sizeof(f->dir), "/tmp/sl-inst-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    open_instance(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    sl_instance_close(f->in);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void exec_sql(fixture *f, const char *sql)
{
    sl_stmt_list *list = NULL;
    sl_error err;

    assert_int_equal(sl_parse(sql, strlen(sql), &list, &err), 0);
    for (int i = 0; i < list->n; i++) {
        assert_int_equal(list->stmts[i].kind, SL_STMT_CREATE_STREAM);
        assert_int_equal(sl_instance_create_stream(f->in, &list->stmts[i], NULL, &err), 0);
    }
    sl_stmt_list_free(list);
}

/* Ingests one (rowtime, page) event into PV. */
static int ingest(fixture *f, int64_t rowtime, const char *page, sl_error *err)
{
    sl_value v[2] = {sl_int(SL_T_BIGINT, rowtime), sl_str(page, (uint32_t)strlen(page))};
    sl_row *row = sl_row_make(rowtime, 2, v);
    int rc = sl_instance_ingest(f->in, "PV", &row, 1, err);

    sl_row_free(row);
    return rc;
}

/* Collects changes as text lines "seq:ws:page:count". */
typedef struct collected {
    sl_buf text;
    int closes;
} collected;

static void on_change(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    collected *c = ctx;

    (void)change;
    sl_buf_printf(&c->text, "%llu:%lld:%.*s:%lld\n", (unsigned long long)seq,
                  (long long)row->v[0].u.i, (int)row->v[2].u.s.len, row->v[2].u.s.ptr,
                  (long long)row->v[3].u.i);
}

static void on_close(void *ctx, const sl_error *why)
{
    assert_int_equal(why->code, SL_ERR_SHUTTING_DOWN);
    ((collected *)ctx)->closes++;
}

static const char *const QUERY =
    "SELECT page, COUNT(*) AS c FROM pv WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY page "
    "EMIT FINAL";

static void test_live_query_and_restart(void **state)
{
    fixture *f = *state;
    sl_error err;
    sl_live *q = NULL;
    collected c = {SL_BUF_INIT, 0};
    sl_live_listener l = {&c, on_change, on_close};

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(ingest(f, 2000, "b", &err), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", QUERY, strlen(QUERY), true, true, &q, &err), 0);
    sl_live_listen(q, &l);
    assert_int_equal(ingest(f, 3000, "a", &err), 0);
    assert_int_equal(ingest(f, 10000, "a", &err), 0); /* closes [0, 10000) */
    assert_string_equal(c.text.data, "1:0:a:2\n2:0:b:1\n");

    /* Restart: the query replays the log and its seq numbers go on. */
    sl_instance_close(f->in);
    assert_int_equal(c.closes, 1);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    assert_non_null(q);
    sl_live_stats st;
    sl_live_stats_get(q, &st);
    assert_int_equal(st.seq, 2);
    sl_buf_reset(&c.text);
    sl_live_listen(q, &l);
    assert_int_equal(ingest(f, 25000, "b", &err), 0); /* closes [10000, 20000) */
    assert_string_equal(c.text.data, "3:10000:a:1\n");

    /* ?from=1 replays seq 2 and 3. */
    sl_buf_reset(&c.text);
    assert_int_equal(sl_live_replay(q, 1, on_change, &c, &err), 0);
    assert_string_equal(c.text.data, "2:0:b:1\n3:10000:a:1\n");

    /* The snapshot has one row per key. */
    sl_buf_reset(&c.text);
    sl_live_snapshot(q, on_change, &c);
    assert_string_equal(c.text.data, "1:0:a:2\n2:0:b:1\n3:10000:a:1\n");
    sl_buf_free(&c.text);
}

static void on_batch_row(void *ctx, const sl_row *row)
{
    on_change(ctx, 0, SL_CHANGE_UPSERT, row);
}

static void test_batch_equals_final(void **state)
{
    fixture *f = *state;
    sl_error err;
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_batch *b = NULL;
    collected c = {SL_BUF_INIT, 0};
    const char *batch_sql =
        "SELECT page, COUNT(*) AS c FROM pv WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY page";

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(ingest(f, 12000, "a", &err), 0);
    assert_int_equal(ingest(f, 5000, "b", &err), 0); /* late: [0, 10000) closed at 12000 */
    assert_int_equal(sl_parse(batch_sql, strlen(batch_sql), &list, &err), 0);
    assert_int_equal(sl_plan_build(list->stmts[0].select, sl_instance_catalog(f->in), &plan, &err),
                     0);
    sl_stmt_list_free(list);
    assert_int_equal(sl_instance_batch_open(f->in, plan, &b, &err), 0);
    int rc;
    while ((rc = sl_batch_step(b, on_batch_row, &c, &err)) == 1)
        ;
    assert_int_equal(rc, 0);
    sl_batch_free(b);
    /* Same rows as EMIT FINAL once every window closed: the late row is left out. */
    assert_string_equal(c.text.data, "0:0:a:1\n0:10000:a:1\n");
    sl_buf_free(&c.text);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    sl_error err;
    sl_live *q = NULL;
    sl_stream_info info;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, NULL, "SELECT * FROM pv", 16, true, true, &q, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNSUPPORTED);
    assert_int_equal(
        sl_instance_query_create(f->in, "bad id", QUERY, strlen(QUERY), true, true, &q, &err), -1);
    assert_int_equal(err.code, SL_ERR_BAD_REQUEST);
    assert_int_equal(
        sl_instance_query_create(f->in, NULL, QUERY, strlen(QUERY), true, true, &q, &err), 0);
    assert_string_equal(sl_live_id(q), "Q1");
    assert_int_equal(sl_instance_drop_stream(f->in, "PV", false, NULL, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNSUPPORTED);
    assert_int_equal(sl_instance_query_drop(f->in, "Q1", &err), 0);
    assert_int_equal(sl_instance_query_drop(f->in, "Q1", &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_QUERY);

    /* A row that does not fit the schema stores nothing. */
    sl_value v[1] = {sl_int(SL_T_BIGINT, 1)};
    sl_row *bad = sl_row_make(1, 1, v);
    assert_int_equal(sl_instance_ingest(f->in, "PV", &bad, 1, &err), -1);
    sl_row_free(bad);
    assert_int_equal(sl_instance_stream_get(f->in, "PV", &info), 0);
    assert_int_equal(info.events, 1);
    assert_int_equal(info.watermark, 1000);
    assert_int_equal(ingest(f, 1, "x", &err), 0);
    assert_int_equal(sl_instance_stream_get(f->in, "PV", &info), 0);
    assert_int_equal(info.events, 2);
    assert_int_equal(sl_instance_drop_stream(f->in, "PV", false, NULL, &err), 0);
    assert_int_equal(sl_instance_stream_count(f->in), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_query_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_equals_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
