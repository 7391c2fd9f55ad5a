/* test_instance.c: the instance over a real SQLite store in a temporary directory:
 * DDL, ingest, live queries and their listeners, seq continuity across a reopen (the
 * restart replays the log), history replay and snapshots, batch equals final, atomic
 * ingest, and checkpoints (when they are taken, what a reopen restores from them, a
 * damaged one refused with a log line, retention held back to them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "instance.h"
#include "limits.h"
#include "mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    sl_instance *in;
    int64_t now;
    uint64_t state_limit; /* the instance's default; 0: 64 KiB */
    sl_buf log;           /* the instance's log lines */
} fixture;

static int64_t test_clock(void *ctx)
{
    return ((fixture *)ctx)->now;
}

static void record_log(void *ctx, const char *line)
{
    sl_buf_printf(&((fixture *)ctx)->log, "%s\n", line);
}

static void open_instance(fixture *f)
{
    sl_instance_opts o = {.data_dir = f->dir,
                          .fsync = SL_FSYNC_NORMAL,
                          .clock_ms = test_clock,
                          .clock_ctx = f,
                          .query_state_limit = f->state_limit ? f->state_limit : 64 * 1024,
                          .checkpoint_interval_ms = 1000,
                          .log = record_log,
                          .log_ctx = f};
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
    sl_buf_free(&f->log);
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

/* The whole snapshot of q through fn, as upserts. */
typedef struct snap_to {
    void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row);
    void *ctx;
} snap_to;

static bool snap_take(void *ctx, uint64_t seq, const sl_row *row)
{
    snap_to *t = ctx;

    t->fn(t->ctx, seq, SL_CHANGE_UPSERT, row);
    return true;
}

static void snapshot(sl_live *q,
                     void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row),
                     void *ctx)
{
    snap_to t = {fn, ctx};
    uint64_t pos = 0;

    assert_true(sl_live_snapshot_step(q, &pos, UINT64_MAX, snap_take, &t));
}

static const char *const QUERY =
    "SELECT page, COUNT(*) AS c FROM pv WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY page "
    "EMIT FINAL";

/* Holds the first three kept changes handed to on_kept; counts them all. */
typedef struct kept_seen {
    sl_kept held[3];
    size_t n, changes;
} kept_seen;

static void hold_kept(void *ctx, const sl_kept *k)
{
    kept_seen *ks = ctx;

    if (ks->n < 3) {
        sl_kept_hold(k->block);
        ks->held[ks->n++] = *k;
    }
    ks->changes++;
}

static void no_change(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    (void)ctx, (void)seq, (void)change, (void)row;
    fail_msg("on_change is not called when on_kept is set");
}

static void ignore_close(void *ctx, const sl_error *why)
{
    (void)ctx, (void)why;
}

static void ignore_replayed(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    (void)ctx, (void)seq, (void)change, (void)row;
}

/* A kept change a listener holds (block and plan references) stays readable after the
 * history has dropped it and after the query is gone (ASan checks the reads). */
static void test_kept_changes_outlive_history_and_query(void **state)
{
    fixture *f = *state;
    const char *sql = "SELECT page, ts FROM pv EMIT CHANGES";
    kept_seen ks = {0};
    sl_live_listener l = {&ks, no_change, ignore_close, hold_kept};
    sl_row *rows[1000];
    sl_plan_ref *plan;
    sl_live *q = NULL;
    sl_error err;
    size_t total = 0;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "k1", sql, strlen(sql), false, false, &q, &err), 0);
    sl_live_listen(q, &l);
    plan = sl_live_plan_hold(q);
    while (total < 101000) {
        for (size_t i = 0; i < 1000; i++, total++) {
            char page[16];
            snprintf(page, sizeof(page), "p%06zu", total);
            sl_value v[2] = {sl_int(SL_T_BIGINT, (int64_t)total),
                             sl_str(page, (uint32_t)strlen(page))};
            rows[i] = sl_row_make((int64_t)total, 2, v);
        }
        assert_int_equal(sl_instance_ingest(f->in, "PV", rows, 1000, &err), 0);
        for (size_t i = 0; i < 1000; i++)
            sl_row_free(rows[i]);
    }
    assert_int_equal(ks.changes, total);
    /* The history has dropped the first changes (it keeps 100,000)... */
    assert_int_equal(sl_live_replay(q, 0, ignore_replayed, NULL, &err), -1);
    assert_int_equal(err.code, SL_ERR_GONE);
    /* ...and the query goes; what the listener holds is still there. */
    assert_int_equal(sl_instance_query_drop(f->in, "k1", &err), 0);
    assert_int_equal(sl_plan_ref_plan(plan)->ncols, 2);
    assert_string_equal(sl_plan_ref_plan(plan)->cols[0].name, "PAGE");
    for (size_t i = 0; i < 3; i++) {
        char page[16];
        snprintf(page, sizeof(page), "p%06zu", i);
        assert_int_equal(ks.held[i].seq, i + 1);
        assert_int_equal(ks.held[i].row->rowtime, (int64_t)i);
        assert_int_equal(ks.held[i].row->v[1].u.i, (int64_t)i);
        assert_int_equal(ks.held[i].row->v[0].u.s.len, strlen(page));
        assert_memory_equal(ks.held[i].row->v[0].u.s.ptr, page, strlen(page));
        sl_kept_release(ks.held[i].block);
    }
    sl_plan_ref_release(plan);
}

static void test_live_query_and_restart(void **state)
{
    fixture *f = *state;
    sl_error err;
    sl_live *q = NULL;
    collected c = {SL_BUF_INIT, 0};
    sl_live_listener l = {&c, on_change, on_close, NULL};

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
    int handle = sl_live_listen(q, &l);
    assert_int_equal(ingest(f, 25000, "b", &err), 0); /* closes [10000, 20000) */
    assert_string_equal(c.text.data, "3:10000:a:1\n");

    /* ?from=1 replays seq 2 and 3. */
    sl_buf_reset(&c.text);
    assert_int_equal(sl_live_replay(q, 1, on_change, &c, &err), 0);
    assert_string_equal(c.text.data, "2:0:b:1\n3:10000:a:1\n");

    /* The snapshot has one row per key. */
    sl_buf_reset(&c.text);
    snapshot(q, on_change, &c);
    assert_string_equal(c.text.data, "1:0:a:2\n2:0:b:1\n3:10000:a:1\n");
    /* c lives on this stack: the listener must not outlive it (teardown closes). */
    sl_live_unlisten(q, handle);
    sl_buf_free(&c.text);
}

/* IDLE_TIMEOUT: once the stream had no event for the timeout (by the injected clock),
 * a tick moves its queries' stream time to now - timeout; without the property, or
 * before the timeout, a tick does nothing. */
static void test_idle_timeout(void **state)
{
    fixture *f = *state;
    sl_error err;
    sl_live *q = NULL, *other = NULL;
    collected c = {SL_BUF_INIT, 0}, d = {SL_BUF_INIT, 0};
    sl_live_listener l = {&c, on_change, on_close, NULL}, m = {&d, on_change, on_close, NULL};
    const char *busy = "SELECT page, COUNT(*) AS c FROM pv2 WINDOW TUMBLING (SIZE 10 SECONDS) "
                       "GROUP BY page EMIT FINAL";
    sl_live_stats st;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts', "
                "IDLE_TIMEOUT='5 SECONDS');"
                "CREATE STREAM pv2 (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", QUERY, strlen(QUERY), true, true, &q, &err), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, "q2", busy, strlen(busy), true, true, &other, &err), 0);
    int hl = sl_live_listen(q, &l), hm = sl_live_listen(other, &m);
    f->now = 100000;
    assert_int_equal(ingest(f, 3000, "a", &err), 0);
    sl_value v[2] = {sl_int(SL_T_BIGINT, 3000), sl_str("a", 1)};
    sl_row *row = sl_row_make(3000, 2, v);
    assert_int_equal(sl_instance_ingest(f->in, "PV2", &row, 1, &err), 0);
    sl_row_free(row);

    f->now = 104999; /* idle for 4999 ms: not yet */
    sl_instance_tick(f->in);
    sl_live_stats_get(q, &st);
    assert_true(st.engine.watermark == 3000);
    assert_int_equal(c.text.len, 0);

    f->now = 105000; /* idle for the timeout: stream time is now - 5 s, past [0, 10000) */
    sl_instance_tick(f->in);
    sl_live_stats_get(q, &st);
    assert_true(st.engine.watermark == 100000);
    assert_string_equal(c.text.data, "1:0:a:1\n");
    /* PV2 has no IDLE_TIMEOUT: its query waits for events. */
    sl_live_stats_get(other, &st);
    assert_true(st.engine.watermark == 3000);
    assert_int_equal(d.text.len, 0);

    /* Stream time never goes back: an event older than it is late. */
    assert_int_equal(ingest(f, 4000, "b", &err), 0);
    sl_live_stats_get(q, &st);
    assert_int_equal(st.engine.late_rows, 1);
    sl_live_unlisten(q, hl);
    sl_live_unlisten(other, hm);
    sl_buf_free(&c.text);
    sl_buf_free(&d.text);
}

/* Collects late rows as "seq:ts:page" lines. */
static void on_late(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    collected *c = ctx;

    assert_int_equal(change, SL_CHANGE_INSERT);
    sl_buf_printf(&c->text, "%llu:%lld:%.*s\n", (unsigned long long)seq, (long long)row->v[0].u.i,
                  (int)row->v[1].u.s.len, row->v[1].u.s.ptr);
}

static void test_late_listener(void **state)
{
    fixture *f = *state;
    sl_error err;
    sl_live *q = NULL;
    collected c = {SL_BUF_INIT, 0}, late = {SL_BUF_INIT, 0};
    sl_live_listener l = {&c, on_change, on_close, NULL}, ll = {&late, on_late, on_close, NULL};

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", QUERY, strlen(QUERY), true, true, &q, &err), 0);
    int hl = sl_live_listen(q, &l), hll = sl_live_listen_late(q, &ll);
    assert_int_equal(ingest(f, 12000, "a", &err), 0);
    assert_int_equal(ingest(f, 5000, "b", &err), 0);
    assert_int_equal(ingest(f, 9000, "c", &err), 0);
    /* Late rows go to the late listener only, in the source's layout. */
    assert_string_equal(late.text.data, "1:5000:b\n2:9000:c\n");
    assert_int_equal(c.text.len, 0);
    sl_buf_reset(&late.text);
    assert_int_equal(sl_live_replay_late(q, 1, on_late, &late, &err), 0);
    assert_string_equal(late.text.data, "2:9000:c\n");
    sl_live_unlisten(q, hl);
    sl_live_unlisten(q, hll);
    sl_buf_free(&c.text);
    sl_buf_free(&late.text);
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

/* Ingests one event into PV with an Idempotency-Key whose body hash is `tag` repeated.
 * Returns what sl_instance_ingest_keyed returns; *replay as it gives it (caller frees). */
static int ingest_keyed(fixture *f, const char *key, unsigned char tag, char **replay,
                        sl_error *err)
{
    sl_value v[2] = {sl_int(SL_T_BIGINT, 5), sl_str("p", 1)};
    sl_row *row = sl_row_make(5, 2, v);
    sl_ingest_key k = {.key = key, .answer = "{\"accepted\":1}"};
    int rc;

    memset(k.body_hash, tag, sizeof(k.body_hash));
    rc = sl_instance_ingest_keyed(f->in, "PV", &row, 1, &k, replay, err);
    sl_row_free(row);
    return rc;
}

static uint64_t events_of_pv(fixture *f)
{
    sl_stream_info info;

    assert_int_equal(sl_instance_stream_get(f->in, "PV", &info), 0);
    return info.events;
}

/* An Idempotency-Key is answered again for 24 hours of the injected clock, across a
 * reopen; another body under the same key is IDEMPOTENCY_MISMATCH; after 24 hours the
 * key is new again. */
static void test_idempotency_window(void **state)
{
    fixture *f = *state;
    char *replay = NULL;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    f->now = 1000;
    assert_int_equal(ingest_keyed(f, "k", 1, &replay, &err), 0);
    assert_null(replay);
    assert_int_equal(events_of_pv(f), 1);

    sl_instance_close(f->in);
    open_instance(f);
    f->now = 1000 + 24ll * 3600 * 1000;
    assert_int_equal(ingest_keyed(f, "k", 1, &replay, &err), 1);
    assert_string_equal(replay, "{\"accepted\":1}");
    free(replay);
    assert_int_equal(ingest_keyed(f, "k", 2, &replay, &err), -1);
    assert_int_equal(err.code, SL_ERR_IDEMPOTENCY_MISMATCH);
    assert_null(replay);
    assert_int_equal(events_of_pv(f), 1);

    f->now++;
    assert_int_equal(ingest_keyed(f, "k", 2, &replay, &err), 0);
    assert_null(replay);
    assert_int_equal(events_of_pv(f), 2);
    assert_int_equal(ingest_keyed(f, "k", 2, &replay, &err), 1);
    free(replay);
    assert_int_equal(events_of_pv(f), 2);
}

/* Records how a query's output ended. */
typedef struct ending {
    int closes;
    sl_errcode code;
    char message[SL_ERROR_MSG_MAX];
} ending;

static void count_change(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    (void)ctx, (void)seq, (void)change, (void)row;
}

static void record_close(void *ctx, const sl_error *why)
{
    ending *e = ctx;

    e->closes++;
    e->code = why->code;
    snprintf(e->message, sizeof(e->message), "%s", why->message);
}

static const char *const PER_PAGE = "SELECT page, COUNT(*) AS c FROM pv GROUP BY page EMIT CHANGES";

/* A query past its state limit fails alone: its listeners get QUERY_FAILED, its error
 * says why, its state is freed; the stream and another query go on.  After a reopen the
 * replay fails it again, and the instance still opens. */
static void test_state_limit(void **state)
{
    fixture *f = *state;
    ending e = {0};
    sl_live_listener l = {&e, count_change, record_close, NULL};
    sl_live *small = NULL, *big = NULL;
    sl_live_stats st;
    sl_error err;
    char page[16];
    int i;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(sl_instance_query_create_limited(f->in, "small", PER_PAGE, strlen(PER_PAGE),
                                                      true, true, 2048, &small, &err),
                     0);
    assert_int_equal(sl_live_state_limit(small), 2048);
    assert_int_equal(
        sl_instance_query_create(f->in, "big", PER_PAGE, strlen(PER_PAGE), true, true, &big, &err),
        0);
    assert_int_equal(sl_live_state_limit(big), 64 * 1024);
    sl_live_listen(small, &l);
    for (i = 0; i < 200 && !sl_live_error(small); i++) {
        snprintf(page, sizeof(page), "page-%d", i);
        assert_int_equal(ingest(f, i, page, &err), 0);
    }
    assert_non_null(sl_live_error(small));
    assert_non_null(strstr(sl_live_error(small), "past its limit of 2048 bytes"));
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.code, SL_ERR_QUERY_FAILED);
    assert_string_equal(e.message, sl_live_error(small));
    sl_live_stats_get(small, &st);
    assert_int_equal(st.engine.state_bytes, 0);
    assert_int_equal(st.engine.rows_in, (uint64_t)i);

    /* The stream and the other query go on. */
    assert_int_equal(ingest(f, 1000, "late-page", &err), 0);
    sl_live_stats_get(big, &st);
    assert_int_equal(st.engine.rows_in, (uint64_t)i + 1);
    assert_null(sl_live_error(big));
    sl_live_stats_get(small, &st);
    assert_int_equal(st.engine.rows_in, (uint64_t)i);

    /* A new query over the same history with the same limit is refused. */
    assert_int_equal(sl_instance_query_create_limited(f->in, "again", PER_PAGE, strlen(PER_PAGE),
                                                      true, true, 2048, NULL, &err),
                     -1);
    assert_int_equal(err.code, SL_ERR_LIMIT_EXCEEDED);
    assert_null(sl_instance_query_find(f->in, "again"));

    /* Across a reopen: the limit is kept, the replay fails the query again, alone. */
    sl_instance_close(f->in);
    open_instance(f);
    small = sl_instance_query_find(f->in, "small");
    assert_non_null(small);
    assert_non_null(sl_live_error(small));
    assert_int_equal(sl_live_state_limit(small), 2048);
    assert_null(sl_live_error(sl_instance_query_find(f->in, "big")));
    assert_null(sl_instance_query_find(f->in, "again"));
    assert_int_equal(sl_instance_query_drop(f->in, "small", &err), 0);
}

/* --- Checkpoints ------------------------------------------------------------------- */

static const char *const WINDOWED =
    "SELECT page, COUNT(*) AS c FROM pv WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY page "
    "EMIT CHANGES";

/* What a query shows of itself: its stats, kept changes, late rows and snapshot. */
typedef struct shown {
    sl_live_stats st;
    char text[4096];
} shown;

/* Collects any change as "seq:kind:values" lines (integers and strings). */
static void on_any(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    collected *c = ctx;

    sl_buf_printf(&c->text, "%llu:%d", (unsigned long long)seq, (int)change);
    for (uint32_t i = 0; i < row->ncols; i++) {
        if (row->v[i].type == SL_T_VARCHAR)
            sl_buf_printf(&c->text, ":%.*s", (int)row->v[i].u.s.len, row->v[i].u.s.ptr);
        else
            sl_buf_printf(&c->text, ":%lld", (long long)row->v[i].u.i);
    }
    sl_buf_putc(&c->text, '\n');
}

static void show(sl_live *q, shown *out)
{
    collected c = {SL_BUF_INIT, 0};
    sl_error err;

    sl_live_stats_get(q, &out->st);
    sl_buf_puts(&c.text, "changes:\n");
    assert_int_equal(sl_live_replay(q, 0, on_any, &c, &err), 0);
    sl_buf_puts(&c.text, "late:\n");
    assert_int_equal(sl_live_replay_late(q, 0, on_late, &c, &err), 0);
    sl_buf_puts(&c.text, "snapshot:\n");
    snapshot(q, on_any, &c);
    snprintf(out->text, sizeof(out->text), "%s", c.text.data);
    sl_buf_free(&c.text);
}

static void assert_same_shown(const shown *a, const shown *b)
{
    assert_string_equal(a->text, b->text);
    assert_int_equal(a->st.seq, b->st.seq);
    assert_int_equal(a->st.late_seq, b->st.late_seq);
    assert_int_equal(a->st.engine.rows_in, b->st.engine.rows_in);
    assert_int_equal(a->st.engine.rows_out, b->st.engine.rows_out);
    assert_int_equal(a->st.engine.late_rows, b->st.engine.late_rows);
    assert_int_equal(a->st.engine.watermark, b->st.engine.watermark);
}

/* Takes one row per call into a collected text, then refuses. */
typedef struct one_row {
    collected c;
    bool took;
} one_row;

static bool take_one(void *ctx, uint64_t seq, const sl_row *row)
{
    one_row *o = ctx;

    if (o->took)
        return false;
    o->took = true;
    sl_buf_printf(&o->c.text, "%llu:%.*s:%lld\n", (unsigned long long)seq, (int)row->v[0].u.s.len,
                  row->v[0].u.s.ptr, (long long)row->v[1].u.i);
    return true;
}

/* The snapshot in blocks (here one row each) as of a seq: keys changed after it are
 * left to the replay of the changes after it, so each key's state shows once. */
static void test_snapshot_in_blocks(void **state)
{
    fixture *f = *state;
    one_row o = {{SL_BUF_INIT, 0}, false};
    sl_live *q = NULL;
    uint64_t pos = 0;
    sl_error err;
    int calls = 0;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", PER_PAGE, strlen(PER_PAGE), true, true, &q, &err), 0);
    assert_int_equal(ingest(f, 1, "a", &err), 0);
    assert_int_equal(ingest(f, 2, "b", &err), 0);
    assert_int_equal(ingest(f, 3, "c", &err), 0);
    /* A subscriber asks for the snapshot as of seq 3; then b and d change. */
    assert_int_equal(ingest(f, 4, "b", &err), 0);
    assert_int_equal(ingest(f, 5, "d", &err), 0);
    for (calls = 1; !sl_live_snapshot_step(q, &pos, 3, take_one, &o); calls++)
        o.took = false;
    assert_int_equal(calls, 2);
    assert_string_equal(o.c.text.data, "1:a:1\n3:c:1\n");
    sl_buf_reset(&o.c.text);
    assert_int_equal(sl_live_replay(q, 3, on_any, &o.c, &err), 0);
    assert_string_equal(o.c.text.data, "4:1:b:2\n5:1:d:1\n");
    sl_buf_free(&o.c.text);
}

/* A persistent query is checkpointed by the upkeep once it changed and the interval
 * (by the injected clock) passed since its last checkpoint, or at once by
 * checkpoint_all; a query that did not change, or a transient one, never is. */
static void test_checkpoint_policy(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL, *t = NULL;
    sl_live_stats st;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", PER_PAGE, strlen(PER_PAGE), true, true, &q, &err), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, "t1", PER_PAGE, strlen(PER_PAGE), false, true, &t, &err),
        0);
    f->now = 5000;
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 0);
    assert_int_equal(ingest(f, 1, "a", &err), 0);
    assert_int_equal(ingest(f, 2, "b", &err), 0);
    assert_int_equal(ingest(f, 3, "a", &err), 0);
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 1);
    /* Written by the writer thread: one at a time, counted once collected. */
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 0);
    assert_int_equal(sl_instance_checkpoint_wait(f->in, &err), 0);
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 0);
    sl_live_stats_get(q, &st);
    assert_true(st.has_checkpoint);
    assert_int_equal(st.checkpoint_offset, 3);
    assert_int_equal(st.checkpoint_seq, 3);
    assert_int_equal(st.checkpoint_ms, 5000);
    assert_int_equal(st.checkpoints, 1);
    assert_null(st.checkpoint_error);

    f->now = 5999;
    assert_int_equal(ingest(f, 4, "c", &err), 0);
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 0);
    f->now = 6000;
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 1);
    assert_int_equal(sl_instance_checkpoint_wait(f->in, &err), 0);
    sl_live_stats_get(q, &st);
    assert_int_equal(st.checkpoint_offset, 4);
    assert_int_equal(st.checkpoints, 2);

    /* At a clean stop: whatever the time, only what changed. */
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    assert_int_equal(ingest(f, 5, "a", &err), 0);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    sl_live_stats_get(q, &st);
    assert_int_equal(st.checkpoint_offset, 5);
    assert_int_equal(st.checkpoints, 3);
    sl_live_stats_get(t, &st);
    assert_false(st.has_checkpoint);
    assert_int_equal(st.checkpoints, 0);
}

/* A reopen restores the checkpoint and replays only the events after it: the query's
 * kept changes, late rows (their seqs going on), snapshot and statistics are those it
 * had, and it goes on as if it had never stopped. */
static void test_restore_from_checkpoint(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL;
    shown before, after;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", WINDOWED, strlen(WINDOWED), true, true, &q, &err), 0);
    assert_int_equal(ingest(f, 2000, "b", &err), 0);
    assert_int_equal(ingest(f, 12000, "a", &err), 0);
    assert_int_equal(ingest(f, 3000, "c", &err), 0); /* late */
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    assert_int_equal(ingest(f, 13000, "b", &err), 0);
    assert_int_equal(ingest(f, 4000, "d", &err), 0); /* late, after the checkpoint */
    assert_int_equal(ingest(f, 14000, "a", &err), 0);
    show(q, &before);
    assert_int_equal(before.st.late_seq, 2);

    sl_instance_close(f->in);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    assert_non_null(q);
    show(q, &after);
    assert_same_shown(&before, &after);
    assert_true(after.st.restored);
    assert_null(after.st.restore_error);
    assert_int_equal(after.st.replay_from, 4);
    assert_int_equal(after.st.replayed_events, 3);
    assert_int_equal(after.st.checkpoint_offset, 4);
    assert_string_equal(f->log.data ? f->log.data : "", "");

    /* It goes on: the next late row is late seq 3, the next change seq 7. */
    assert_int_equal(ingest(f, 5000, "e", &err), 0);
    assert_int_equal(ingest(f, 15000, "c", &err), 0);
    show(q, &after);
    assert_int_equal(after.st.late_seq, 3);
    assert_int_equal(after.st.seq, before.st.seq + 1);
    assert_non_null(strstr(after.text, "3:5000:e\n"));
}

/* Runs one SQL statement on the closed instance's database. */
static void damage(fixture *f, const char *sql)
{
    char path[96];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/sluice.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
}

/* The number a SELECT count (sql) finds in the instance's database, over a connection of
 * its own. */
static int64_t count_rows(fixture *f, const char *sql)
{
    char path[96];
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n;

    snprintf(path, sizeof(path), "%s/sluice.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Ingests one event for each of n distinct pages of 40 characters, at rowtime. */
static void ingest_pages(fixture *f, int n, int64_t rowtime)
{
    sl_row **rows = sl_xcalloc((size_t)n, sizeof(sl_row *));
    char page[48];
    sl_error err;

    for (int i = 0; i < n; i++) {
        snprintf(page, sizeof(page), "page-%035d", i);
        sl_value v[2] = {sl_int(SL_T_BIGINT, rowtime), sl_str(page, 40)};
        rows[i] = sl_row_make(rowtime, 2, v);
    }
    assert_int_equal(sl_instance_ingest(f->in, "PV", rows, (size_t)n, &err), 0);
    for (int i = 0; i < n; i++)
        sl_row_free(rows[i]);
    free(rows);
}

/* A state larger than SL_CHECKPOINT_PART_BYTES is checkpointed in parts and restored
 * whole.  A checkpoint whose write was cut short (parts of the next generation stored,
 * no checkpoint naming them: what a crash mid-write leaves) is never read: the reopen
 * restores the one before, and the next checkpoint replaces those parts and deletes
 * the former generation's. */
static void test_checkpoint_in_parts(void **state)
{
    static const char sql[] = "SELECT page, COUNT(*) AS n FROM pv WINDOW TUMBLING (SIZE 1 HOUR) "
                              "GROUP BY page EMIT FINAL;";
    fixture *f = *state;
    sl_live *q = NULL;
    sl_live_stats st;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(sl_instance_query_create_limited(f->in, "q1", sql, strlen(sql), true, true,
                                                      64 * 1024 * 1024, &q, &err),
                     0);
    ingest_pages(f, 30000, 1000);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    sl_instance_close(f->in);
    f->in = NULL;
    int64_t parts = count_rows(f, "SELECT parts FROM checkpoints WHERE query_id = 'q1'");
    assert_true(parts >= 2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM checkpoint_parts WHERE gen = 1"), parts);
    assert_true(count_rows(f, "SELECT max(length(data)) FROM checkpoint_parts") <=
                SL_CHECKPOINT_PART_BYTES);

    /* A write of generation 2 cut short. */
    damage(f, "INSERT INTO checkpoint_parts(query_id, gen, n, data) "
              "VALUES ('q1', 2, 0, x'00112233')");
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    sl_live_stats_get(q, &st);
    assert_true(st.restored);
    assert_null(st.restore_error);
    assert_int_equal(st.replayed_events, 0);
    assert_int_equal(st.engine.rows_in, 30000);

    /* It goes on from there: the next checkpoint is generation 2, whole. */
    ingest_pages(f, 10, 2000);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    sl_instance_close(f->in);
    f->in = NULL;
    assert_int_equal(count_rows(f, "SELECT count(*) FROM checkpoint_parts WHERE gen <> 2"), 0);
    assert_int_equal(count_rows(f, "SELECT gen FROM checkpoints"), 2);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    sl_live_stats_get(q, &st);
    assert_true(st.restored);
    assert_int_equal(st.replayed_events, 0);
    /* Closing the window emits every page's row once: the state was all there. */
    ingest_pages(f, 1, 4000000);
    sl_live_stats_get(q, &st);
    assert_int_equal(st.seq, 30000);
}

/* A checkpoint that cannot be used (its state damaged, or its kept output) is refused
 * with a log line: the query replays its log from its start and shows the same output;
 * its next checkpoint starts the kept output over and is restored by the next reopen. */
static void test_damaged_checkpoint_falls_back(void **state)
{
    static const char *const damages[] = {
        "UPDATE checkpoint_parts SET data = x'00' || substr(data, 2)",
        "UPDATE query_output SET data = substr(data, 1, length(data) - 1) WHERE kind = 0",
        "UPDATE query_snapshot SET row = x'0102' WHERE pos = 2",
    };
    fixture *f = *state;
    sl_live *q = NULL;
    shown before, after;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", WINDOWED, strlen(WINDOWED), true, true, &q, &err), 0);
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(ingest(f, 2000, "b", &err), 0);
    assert_int_equal(ingest(f, 12000, "a", &err), 0);
    assert_int_equal(ingest(f, 3000, "c", &err), 0);
    show(q, &before);
    for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
        assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
        sl_instance_close(f->in);
        damage(f, damages[i]);
        sl_buf_reset(&f->log);
        open_instance(f);
        q = sl_instance_query_find(f->in, "q1");
        show(q, &after);
        assert_same_shown(&before, &after);
        assert_false(after.st.restored);
        assert_non_null(after.st.restore_error);
        assert_int_equal(after.st.replay_from, 0);
        assert_int_equal(after.st.replayed_events, 4);
        assert_non_null(strstr(f->log.data, "query q1: its checkpoint is not used ("));
        assert_non_null(strstr(f->log.data, "); replaying its log from offset 0\n"));
        /* A checkpoint was found: the next one rewrites everything. */
        assert_true(after.st.has_checkpoint == false);
    }
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    sl_instance_close(f->in);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    show(q, &after);
    assert_same_shown(&before, &after);
    assert_true(after.st.restored);
    assert_int_equal(after.st.replayed_events, 0);
}

/* How many rows a table of the store holds, read over a second connection. */
static int64_t table_rows(fixture *f, const char *table)
{
    char sql[96];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return count_rows(f, sql);
}

/* The events the store keeps (retention deletes some), read over a second connection. */
static int64_t kept_events(fixture *f)
{
    return count_rows(f, "SELECT total(count) FROM events");
}

/* Retention deletes old events only once no restart would replay them: not before the
 * query's first checkpoint, and then up to its checkpoint's offset. */
static void test_retention_waits_for_checkpoints(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL;
    shown before, after;
    sl_stream_info info;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts', "
                "RETENTION='10 SECONDS');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", PER_PAGE, strlen(PER_PAGE), true, true, &q, &err), 0);
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(ingest(f, 2000, "b", &err), 0);
    assert_int_equal(ingest(f, 100000, "a", &err), 0);
    assert_int_equal(sl_instance_maintain(f->in, 64, &err), 0);
    assert_int_equal(kept_events(f), 3);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    assert_int_equal(ingest(f, 100001, "c", &err), 0);
    assert_int_equal(sl_instance_maintain(f->in, 64, &err), 2);
    assert_int_equal(kept_events(f), 2);
    show(q, &before);

    /* The restart rebuilds what the query had, though the first events are gone. */
    sl_instance_close(f->in);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    show(q, &after);
    assert_same_shown(&before, &after);
    assert_int_equal(sl_instance_stream_get(f->in, "PV", &info), 0);
    assert_int_equal(info.events, 4);
}

/* A checkpoint restored under a lower state limit than it was taken with fails the
 * query alone, with the limit's message. */
static void test_restored_past_limit(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL;
    char page[16];
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", PER_PAGE, strlen(PER_PAGE), true, true, &q, &err), 0);
    for (int i = 0; i < 40; i++) {
        snprintf(page, sizeof(page), "page-%d", i);
        assert_int_equal(ingest(f, i, page, &err), 0);
    }
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    sl_instance_close(f->in);
    f->state_limit = 2048;
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    assert_non_null(sl_live_error(q));
    assert_non_null(strstr(sl_live_error(q), "past its limit of 2048 bytes"));
    /* A failed query is not checkpointed. */
    assert_int_equal(ingest(f, 50, "x", &err), 0);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    assert_int_equal(sl_instance_checkpoint_step(f->in, &err), 0);
}

/* A dropped query's checkpoint goes with it: a new query of the same name starts from
 * its own start, not from the old one's checkpoint. */
static void test_dropped_query_checkpoint_is_gone(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL;
    sl_live_stats st;
    sl_error err;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", PER_PAGE, strlen(PER_PAGE), true, true, &q, &err), 0);
    assert_int_equal(ingest(f, 1, "a", &err), 0);
    assert_int_equal(ingest(f, 2, "b", &err), 0);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    assert_int_equal(sl_instance_query_drop(f->in, "q1", &err), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", PER_PAGE, strlen(PER_PAGE), true, false, &q, &err),
        0);
    assert_int_equal(ingest(f, 3, "a", &err), 0);
    sl_instance_close(f->in);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    sl_live_stats_get(q, &st);
    assert_false(st.restored);
    assert_null(st.restore_error);
    assert_int_equal(st.replay_from, 2);
    assert_int_equal(st.seq, 1);
}

static const char *const IDLE_PV = "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH "
                                   "(TIMESTAMP='ts', IDLE_TIMEOUT='5 SECONDS');";

/* The stream pv with IDLE_TIMEOUT, and the persistent query q1 (QUERY) over it; the
 * query is borrowed from the instance. */
static sl_live *idle_pv_query(fixture *f)
{
    sl_live *q = NULL;
    sl_error err;

    exec_sql(f, IDLE_PV);
    assert_int_equal(
        sl_instance_query_create(f->in, "q1", QUERY, strlen(QUERY), true, true, &q, &err), 0);
    return q;
}

/* Runs a batch query to its end, its rows as on_change lines (seq 0). */
static void run_batch(fixture *f, const char *sql, collected *c)
{
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_batch *b = NULL;
    sl_error err;
    int rc;

    assert_int_equal(sl_parse(sql, strlen(sql), &list, &err), 0);
    assert_int_equal(sl_plan_build(list->stmts[0].select, sl_instance_catalog(f->in), &plan, &err),
                     0);
    sl_stmt_list_free(list);
    assert_int_equal(sl_instance_batch_open(f->in, plan, &b, &err), 0);
    while ((rc = sl_batch_step(b, on_batch_row, c, &err)) == 1)
        ;
    assert_int_equal(rc, 0);
    sl_batch_free(b);
}

/* Idle advances are part of the log.  A reopen without a checkpoint (as after a crash)
 * replays the events with each advance where it was made, so that rows late before stay
 * late: the final rows, late rows, seqs and statistics are those the query had.  A new
 * query over the history gets the same, and a batch query leaves the late rows out
 * alike. */
static void test_idle_advance_replayed(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL;
    collected c = {SL_BUF_INIT, 0};
    shown before, after, fresh;
    sl_error err;

    q = idle_pv_query(f);
    f->now = 100000;
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    assert_int_equal(ingest(f, 2000, "b", &err), 0);
    f->now = 105000;
    sl_instance_tick(f->in); /* to 100000: [0, 10000) closes */
    assert_int_equal(ingest(f, 500, "c", &err), 0);
    assert_int_equal(ingest(f, 4000, "f", &err), 0);
    f->now = 200000;
    sl_instance_tick(f->in); /* to 195000: nothing closes */
    assert_int_equal(ingest(f, 150000, "d", &err), 0);
    assert_int_equal(ingest(f, 196000, "e", &err), 0);
    show(q, &before);
    assert_int_equal(before.st.seq, 2);
    assert_int_equal(before.st.engine.late_rows, 3);
    assert_non_null(strstr(before.text, "late:\n1:500:c\n2:4000:f\n3:150000:d\n"));

    sl_instance_close(f->in);
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    show(q, &after);
    assert_same_shown(&before, &after);
    assert_false(after.st.restored);

    assert_int_equal(
        sl_instance_query_create(f->in, "q2", QUERY, strlen(QUERY), true, true, &q, &err), 0);
    show(q, &fresh);
    assert_same_shown(&before, &fresh);

    run_batch(f,
              "SELECT page, COUNT(*) AS c FROM pv WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY page",
              &c);
    assert_string_equal(c.text.data, "0:0:a:1\n0:0:b:1\n0:190000:e:1\n");
    /* WHERE on ROWTIME skips the batches outside its range, but not the advances: c's
     * (before it) still makes f late. */
    sl_buf_reset(&c.text);
    run_batch(f,
              "SELECT page, COUNT(*) AS c FROM pv WHERE ROWTIME >= 1000 WINDOW TUMBLING "
              "(SIZE 10 SECONDS) GROUP BY page",
              &c);
    assert_string_equal(c.text.data, "0:0:a:1\n0:0:b:1\n0:190000:e:1\n");
    sl_buf_free(&c.text);
}

/* An advance that made a query emit is recorded at once: after a crash right after it,
 * before any other event, the query has made it (its rows keep their seqs), and an
 * event for a window it closed is late, though the reopened server has not been idle
 * for the timeout yet. */
static void test_idle_advance_after_last_event(void **state)
{
    fixture *f = *state;
    sl_live *q = NULL;
    shown before, after;
    sl_error err;

    q = idle_pv_query(f);
    f->now = 100000;
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    f->now = 105000;
    sl_instance_tick(f->in);
    show(q, &before);
    assert_int_equal(before.st.seq, 1);
    assert_int_equal(table_rows(f, "idle_advances"), 1);

    sl_instance_close(f->in);
    open_instance(f);
    sl_instance_tick(f->in); /* idle for 0 ms since the reopen: no advance of its own */
    q = sl_instance_query_find(f->in, "q1");
    show(q, &after);
    assert_same_shown(&before, &after);
    assert_int_equal(ingest(f, 2000, "b", &err), 0);
    show(q, &after);
    assert_int_equal(after.st.engine.late_rows, 1);
    assert_int_equal(after.st.seq, 1);
}

/* An advance that made nothing emit is recorded only once something depends on it: a
 * checkpoint of a query holding it.  A query created meanwhile makes it too, as one
 * created after a reopen does from the record; then an old event is late for all. */
static void test_idle_advance_checkpoint_and_new_queries(void **state)
{
    fixture *f = *state;
    sl_live *q1 = NULL, *q2 = NULL, *q3 = NULL;
    sl_live_stats st;
    sl_error err;

    q1 = idle_pv_query(f);
    f->now = 100000;
    sl_instance_tick(f->in); /* to 95000, an empty stream */
    assert_int_equal(table_rows(f, "idle_advances"), 0);
    assert_int_equal(
        sl_instance_query_create(f->in, "q2", QUERY, strlen(QUERY), true, false, &q2, &err), 0);
    sl_live_stats_get(q2, &st);
    assert_true(st.engine.watermark == 95000);
    assert_int_equal(sl_instance_checkpoint_all(f->in, &err), 0);
    assert_int_equal(table_rows(f, "idle_advances"), 1);

    sl_instance_close(f->in);
    open_instance(f);
    q1 = sl_instance_query_find(f->in, "q1");
    q2 = sl_instance_query_find(f->in, "q2");
    assert_int_equal(
        sl_instance_query_create(f->in, "q3", QUERY, strlen(QUERY), false, true, &q3, &err), 0);
    assert_int_equal(ingest(f, 1000, "a", &err), 0);
    sl_live *all[] = {q1, q2, q3};
    for (int i = 0; i < 3; i++) {
        sl_live_stats_get(all[i], &st);
        assert_true(st.engine.watermark == 95000);
        assert_int_equal(st.engine.late_rows, 1);
    }
}

/* Collects the second column (BIGINT) of rows as "seq:value" lines. */
static void on_time(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    (void)change;
    sl_buf_printf(&((collected *)ctx)->text, "%llu:%lld\n", (unsigned long long)seq,
                  (long long)row->v[1].u.i);
}

static void on_batch_time(void *ctx, const sl_row *row)
{
    on_time(ctx, 0, SL_CHANGE_INSERT, row);
}

/* UNIX_TIMESTAMP() reads the time the row's ingest request was stored: a reopen that
 * replays the log gets the times the rows had, not the time of the replay, and so does
 * a batch query. */
static void test_unix_timestamp_replayed(void **state)
{
    fixture *f = *state;
    const char *sql = "SELECT page, UNIX_TIMESTAMP() AS t FROM pv EMIT CHANGES";
    const char *batch_sql = "SELECT page, UNIX_TIMESTAMP() AS t FROM pv";
    collected c = {SL_BUF_INIT, 0};
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_batch *b = NULL;
    sl_live *q = NULL;
    sl_error err;
    int rc;

    exec_sql(f, "CREATE STREAM pv (ts BIGINT, page VARCHAR) WITH (TIMESTAMP='ts');");
    assert_int_equal(sl_instance_query_create(f->in, "q1", sql, strlen(sql), true, true, &q, &err),
                     0);
    f->now = 1111;
    assert_int_equal(ingest(f, 1, "a", &err), 0);
    f->now = 2222;
    assert_int_equal(ingest(f, 2, "b", &err), 0);
    assert_int_equal(sl_live_replay(q, 0, on_time, &c, &err), 0);
    assert_string_equal(c.text.data, "1:1111\n2:2222\n");

    sl_instance_close(f->in);
    f->now = 9999;
    open_instance(f);
    q = sl_instance_query_find(f->in, "q1");
    sl_buf_reset(&c.text);
    assert_int_equal(sl_live_replay(q, 0, on_time, &c, &err), 0);
    assert_string_equal(c.text.data, "1:1111\n2:2222\n");

    assert_int_equal(sl_parse(batch_sql, strlen(batch_sql), &list, &err), 0);
    assert_int_equal(sl_plan_build(list->stmts[0].select, sl_instance_catalog(f->in), &plan, &err),
                     0);
    sl_stmt_list_free(list);
    assert_int_equal(sl_instance_batch_open(f->in, plan, &b, &err), 0);
    sl_buf_reset(&c.text);
    while ((rc = sl_batch_step(b, on_batch_time, &c, &err)) == 1)
        ;
    assert_int_equal(rc, 0);
    sl_batch_free(b);
    assert_string_equal(c.text.data, "0:1111\n0:2222\n");
    sl_buf_free(&c.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_query_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_changes_outlive_history_and_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_equals_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_advance_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_advance_after_last_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_advance_checkpoint_and_new_queries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unix_timestamp_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_in_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_from_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_checkpoint_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_in_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_waits_for_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_past_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_query_checkpoint_is_gone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
