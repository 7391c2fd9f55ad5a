/* test_ingest.c: the instance's ingest path over a real SQLite store in a temporary
 * directory: group commit (sl_instance_ingest_group) and the dispatch of ingested rows
 * to the queries of a stream.
 *
 * A group answers each request as ingesting them one after the other would: a bad
 * request (unknown stream, a row that does not fit, no events, an Idempotency-Key reused
 * with another body) fails alone and stores nothing, a key repeated within the group is
 * a replay, and the queries see the stored rows in log order.  Queries whose filter
 * requires "key = literal" are reached through the dispatch; each one must end up
 * exactly as its twin whose equivalent filter the dispatch cannot use (the same
 * changes, late rows and statistics), with rows out of order, late rows and NULL keys. */
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

typedef struct fixture {
    char dir[64];
    sl_instance *in;
    int64_t now;
} fixture;

static int64_t test_clock(void *ctx)
{
    return ((fixture *)ctx)->now;
}

static int setup(void **state)
{
    fixture *f = sl_xcalloc(1, sizeof(fixture));
    sl_instance_opts o = {.fsync = SL_FSYNC_NORMAL, .clock_ms = test_clock, .clock_ctx = f};
    sl_error err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/sl-ingest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    o.data_dir = f->dir;
    f->now = 1000;
    assert_int_equal(sl_instance_open(&o, &f->in, &err), 0);
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
    for (int i = 0; i < list->n; i++)
        assert_int_equal(sl_instance_create_stream(f->in, &list->stmts[i], NULL, &err), 0);
    sl_stmt_list_free(list);
}

/* Appends a value as text. */
static void put_value(sl_buf *b, const sl_value *v)
{
    switch (v->type) {
    case SL_T_NULL:
        sl_buf_puts(b, "null");
        break;
    case SL_T_VARCHAR:
        sl_buf_printf(b, "'%.*s'", (int)v->u.s.len, v->u.s.ptr);
        break;
    case SL_T_DOUBLE:
        sl_buf_printf(b, "%g", v->u.d);
        break;
    case SL_T_BOOLEAN:
        sl_buf_puts(b, v->u.b ? "true" : "false");
        break;
    default:
        sl_buf_printf(b, "%lld", (long long)v->u.i);
        break;
    }
}

/* A listener's record of everything it was told: "seq change v1,v2,...;" lines. */
typedef struct recorded {
    sl_buf text;
} recorded;

static void record(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    recorded *r = ctx;

    sl_buf_printf(&r->text, "%llu %d ", (unsigned long long)seq, (int)change);
    for (uint32_t i = 0; i < row->ncols; i++) {
        if (i)
            sl_buf_putc(&r->text, ',');
        put_value(&r->text, &row->v[i]);
    }
    sl_buf_puts(&r->text, ";\n");
}

static void ignore_close(void *ctx, const sl_error *why)
{
    (void)ctx;
    (void)why;
}

/* A row of PV (ts, page). */
static sl_row *pv_row(int64_t ts, const char *page)
{
    sl_value v[2] = {sl_int(SL_T_BIGINT, ts), sl_str(page, (uint32_t)strlen(page))};

    return sl_row_make(ts, 2, v);
}

static uint64_t events_of(fixture *f, const char *stream)
{
    sl_stream_info info;

    assert_int_equal(sl_instance_stream_get(f->in, stream, &info), 0);
    return info.events;
}

/* A group of requests, each answered as it would be alone and in order; the good ones
 * stored with one commit, the queries told after. */
static void test_group_answers_each_alone(void **state)
{
    fixture *f = *state;
    sl_row *a[2] = {pv_row(10, "a"), pv_row(20, "b")}, *c[1] = {pv_row(30, "c")};
    sl_row *d[1] = {pv_row(40, "d")}, *e[1] = {pv_row(50, "e")}, *o[1] = {pv_row(60, "o")};
    sl_value narrow = sl_int(SL_T_BIGINT, 7);
    sl_row *bad[2] = {pv_row(35, "x"), sl_row_make(35, 1, &narrow)};
    sl_ingest_key k1 = {.key = "k1", .answer = "{\"accepted\":2}"};
    sl_ingest_key k1again = {.key = "k1", .answer = "{\"accepted\":1}"};
    sl_ingest_key k1other = {.key = "k1", .answer = "{\"accepted\":1}"};
    sl_ingest_key k2 = {.key = "k2", .answer = "{\"accepted\":1}"};
    sl_ingest_req r[8] = {
        {.stream = "PV", .rows = a, .n = 2, .key = &k1},      /* stored */
        {.stream = "NOPE", .rows = c, .n = 1},                /* unknown stream */
        {.stream = "PV", .rows = bad, .n = 2},                /* a row that does not fit */
        {.stream = "PV", .rows = c, .n = 1, .key = &k1again}, /* a replay of the first */
        {.stream = "PV", .rows = d, .n = 1, .key = &k1other}, /* k1 with another body */
        {.stream = "OTHER", .rows = o, .n = 1},               /* stored, another stream */
        {.stream = "PV", .rows = e, .n = 0},                  /* no events */
        {.stream = "PV", .rows = e, .n = 1, .key = &k2},      /* stored */
    };
    sl_ingest_req *reqs[8];
    recorded seen = {SL_BUF_INIT};
    sl_live_listener l = {&seen, record, ignore_close, NULL};
    const char *sql = "SELECT page FROM pv EMIT CHANGES";
    sl_live *q = NULL;
    char *replay = NULL;
    sl_error err;
    int handle;

    memset(k1.body_hash, 1, SL_STORE_HASH_LEN);
    memset(k1again.body_hash, 1, SL_STORE_HASH_LEN);
    memset(k1other.body_hash, 2, SL_STORE_HASH_LEN);
    memset(k2.body_hash, 3, SL_STORE_HASH_LEN);
    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');"
                "CREATE STREAM other (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(sl_instance_query_create(f->in, "Q", sql, strlen(sql), true, true, &q, &err),
                     0);
    handle = sl_live_listen(q, &l);
    for (int i = 0; i < 8; i++)
        reqs[i] = &r[i];
    /* The first is encoded beforehand, as the HTTP layer does off the lock. */
    sl_ingest_req_encode(&r[0]);
    sl_instance_ingest_group(f->in, reqs, 8);

    assert_int_equal(r[0].rc, 0);
    assert_int_equal(r[0].first_offset, 0);
    assert_int_equal(r[1].rc, -1);
    assert_int_equal(r[1].err.code, SL_ERR_UNKNOWN_STREAM);
    assert_int_equal(r[2].rc, -1);
    assert_int_equal(r[2].err.code, SL_ERR_INTERNAL);
    assert_int_equal(r[3].rc, 1);
    assert_string_equal(r[3].replay, "{\"accepted\":2}");
    assert_int_equal(r[4].rc, -1);
    assert_int_equal(r[4].err.code, SL_ERR_IDEMPOTENCY_MISMATCH);
    assert_int_equal(r[5].rc, 0);
    assert_int_equal(r[5].first_offset, 0);
    assert_int_equal(r[6].rc, -1);
    assert_int_equal(r[6].err.code, SL_ERR_BAD_REQUEST);
    assert_int_equal(r[7].rc, 0);
    assert_int_equal(r[7].first_offset, 2);
    assert_int_equal(events_of(f, "PV"), 3);
    assert_int_equal(events_of(f, "OTHER"), 1);
    assert_string_equal(seen.text.data, "1 0 'a';\n2 0 'b';\n3 0 'e';\n");

    /* The keys are recorded, and the events are where the offsets say after a reopen
     * (the query replays the log: the same changes again, the seqs going on). */
    sl_row *again[1] = {pv_row(70, "z")};
    assert_int_equal(sl_instance_ingest_keyed(f->in, "PV", again, 1, &k2, &replay, &err), 1);
    assert_string_equal(replay, "{\"accepted\":1}");
    free(replay);
    sl_live_unlisten(q, handle);
    assert_int_equal(sl_instance_query_drop(f->in, "Q", &err), 0);
    assert_int_equal(sl_instance_query_create(f->in, "Q2", sql, strlen(sql), true, true, &q, &err),
                     0);
    sl_buf_reset(&seen.text);
    assert_int_equal(sl_live_replay(q, 0, record, &seen, &err), 0);
    assert_string_equal(seen.text.data, "1 0 'a';\n2 0 'b';\n3 0 'e';\n");

    for (int i = 0; i < 8; i++)
        sl_ingest_req_clear(&r[i]);
    sl_row_free(a[0]);
    sl_row_free(a[1]);
    sl_row_free(bad[0]);
    sl_row_free(bad[1]);
    sl_row_free(c[0]);
    sl_row_free(d[0]);
    sl_row_free(e[0]);
    sl_row_free(o[0]);
    sl_row_free(again[0]);
    sl_buf_free(&seen.text);
}

/* One query reached through the dispatch and its twin that gets every row. */
typedef struct twin {
    const char *sql, *twin_sql;
    sl_live *q[2];
    recorded out[2], late[2];
    int handles[4];
} twin;

static void test_dispatch_equals_pushing_every_row(void **state)
{
    fixture *f = *state;
    char sql[8][2][256];
    twin t[8];
    int nt = 0;
    sl_error err;

    exec_sql(f, "CREATE STREAM ev (ts BIGINT, k BIGINT, s VARCHAR) WITH (TIMESTAMP='ts');");
    for (int i = 0; i < 3; i++) {
        snprintf(sql[nt][0], 256, "SELECT k, s FROM ev WHERE k %% 3 = %d EMIT CHANGES", i);
        snprintf(sql[nt][1], 256, "SELECT k, s FROM ev WHERE k %% 3 + 0 = %d EMIT CHANGES", i);
        nt++;
        snprintf(sql[nt][0], 256,
                 "SELECT k %% 3 AS m, COUNT(*) AS c FROM ev WINDOW TUMBLING (SIZE 10 "
                 "MILLISECONDS) WHERE %d = k %% 3 AND s IS NOT NULL GROUP BY k %% 3 EMIT FINAL",
                 i);
        snprintf(sql[nt][1], 256,
                 "SELECT k %% 3 AS m, COUNT(*) AS c FROM ev WINDOW TUMBLING (SIZE 10 "
                 "MILLISECONDS) WHERE %d = k %% 3 + 0 AND s IS NOT NULL GROUP BY k %% 3 EMIT "
                 "FINAL",
                 i);
        nt++;
    }
    snprintf(sql[nt][0], 256, "SELECT k FROM ev WHERE s = 'a' AND k > 1 EMIT CHANGES");
    snprintf(sql[nt][1], 256, "SELECT k FROM ev WHERE LCASE(s) = 'a' AND k > 1 EMIT CHANGES");
    nt++;
    snprintf(sql[nt][0], 256, "SELECT k FROM ev WHERE 'b' = s EMIT CHANGES");
    snprintf(sql[nt][1], 256, "SELECT k FROM ev WHERE LCASE(s) = 'b' EMIT CHANGES");
    nt++;
    for (int i = 0; i < nt; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        for (int w = 0; w < 2; w++) {
            char id[16];
            sl_live_listener l = {&t[i].out[w], record, ignore_close, NULL};
            sl_live_listener ll = {&t[i].late[w], record, ignore_close, NULL};
            snprintf(id, sizeof(id), "T%d_%d", i, w);
            assert_int_equal(sl_instance_query_create(f->in, id, sql[i][w], strlen(sql[i][w]), true,
                                                      true, &t[i].q[w], &err),
                             0);
            t[i].handles[2 * w] = sl_live_listen(t[i].q[w], &l);
            t[i].handles[2 * w + 1] = sl_live_listen_late(t[i].q[w], &ll);
        }
    }

    /* Requests of rows in and out of order (late for the 10 ms windows), some with a
     * NULL key or string, several per group. */
    uint64_t seed = 42;
    for (int g = 0; g < 6; g++) {
        sl_ingest_req r[3];
        sl_ingest_req *reqs[3];
        sl_row *rows[3][20];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 20; j++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                int64_t ts = g * 60 + i * 20 + j - (int64_t)((seed >> 33) % 25);
                sl_value v[3] = {sl_int(SL_T_BIGINT, ts),
                                 sl_int(SL_T_BIGINT, (int64_t)(seed >> 40) % 7),
                                 sl_str((seed >> 50) % 2 ? "a" : "b", 1)};
                if ((seed >> 20) % 9 == 0)
                    v[1] = sl_null();
                if ((seed >> 24) % 11 == 0)
                    v[2] = sl_null();
                rows[i][j] = sl_row_make(ts, 3, v);
            }
            r[i] = (sl_ingest_req){.stream = "EV", .rows = rows[i], .n = 20};
            reqs[i] = &r[i];
        }
        sl_instance_ingest_group(f->in, reqs, 3);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(r[i].rc, 0);
            sl_ingest_req_clear(&r[i]);
            for (int j = 0; j < 20; j++)
                sl_row_free(rows[i][j]);
        }
    }

    for (int i = 0; i < nt; i++) {
        sl_live_stats st[2];
        for (int w = 0; w < 2; w++) {
            sl_live_stats_get(t[i].q[w], &st[w]);
            sl_buf_putc(&t[i].out[w].text, '\0');
            sl_buf_putc(&t[i].late[w].text, '\0');
        }
        assert_int_equal(st[0].engine.rows_in, 360);
        assert_int_equal(st[0].engine.rows_in, st[1].engine.rows_in);
        assert_int_equal(st[0].engine.rows_out, st[1].engine.rows_out);
        assert_int_equal(st[0].engine.late_rows, st[1].engine.late_rows);
        assert_true(st[0].engine.watermark == st[1].engine.watermark);
        assert_int_equal(st[0].seq, st[1].seq);
        assert_string_equal(t[i].out[0].text.data, t[i].out[1].text.data);
        assert_string_equal(t[i].late[0].text.data, t[i].late[1].text.data);
        for (int w = 0; w < 2; w++) {
            sl_live_unlisten(t[i].q[w], t[i].handles[2 * w]);
            sl_live_unlisten(t[i].q[w], t[i].handles[2 * w + 1]);
            sl_buf_free(&t[i].out[w].text);
            sl_buf_free(&t[i].late[w].text);
        }
    }
    /* The windowed queries did see late rows, and the filters did pass rows. */
    sl_live_stats st;
    sl_live_stats_get(t[1].q[0], &st);
    assert_true(st.engine.late_rows > 0);
    assert_true(st.engine.rows_out > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_answers_each_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_equals_pushing_every_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
