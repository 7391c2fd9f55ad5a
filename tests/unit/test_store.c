/* test_store.c: the store against real SQLite files in a fresh temporary directory.
 *
 * Covers the catalog and query tables (EXISTS, UNKNOWN_*), appending and scanning the
 * event log (from 0, mid-batch, past the end), the cursor's snapshot of the log end,
 * durability across close and reopen and across a SIGKILL right after an append, the
 * rejection of files that are not sluice databases, a full disk (through a VFS that
 * fails writes on demand) leaving nothing half-stored, and write groups (group commit).  Each test
 * gets its own directory, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "ckptwriter.h"
#include "limits.h"
#include "store.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    char db[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    strcpy(f->dir, "/tmp/sluice-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/sluice.db", f->dir);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

    free(f);
    return rc;
}

/* Opens the fixture's store, failing the test on error; caller closes. */
static sl_store *open_store(const fixture *f, sl_fsync mode)
{
    sl_store *s = NULL;
    sl_error err;

    sl_error_clear(&err);
    if (sl_store_open(f->dir, mode, &s, &err) != 0)
        fail_msg("open %s: %s", f->dir, err.message);
    return s;
}

static void append(sl_store *s, const char *stream, const char *blob, uint32_t count,
                   int64_t min_rowtime, int64_t max_rowtime, uint64_t expect_first)
{
    uint64_t first = UINT64_MAX;
    sl_error err;

    if (sl_store_append(s, stream, blob, strlen(blob), count, min_rowtime, max_rowtime, NULL,
                        &first, &err) != 0)
        fail_msg("append: %s", err.message);
    assert_int_equal(first, expect_first);
}

/* Scans a stream from an offset and writes "first:count:blob " per batch into a string
 * (caller frees). */
static char *scan_all(sl_store *s, const char *stream, uint64_t from)
{
    sl_store_cursor *c = NULL;
    sl_buf out = SL_BUF_INIT;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    sl_error err;
    int rc;

    if (sl_store_scan(s, stream, from, &c, &err) != 0)
        fail_msg("scan: %s", err.message);
    while ((rc = sl_store_cursor_next(c, &blob, &len, &count, &first, &err)) == 1)
        sl_buf_printf(&out, "%llu:%u:%.*s ", (unsigned long long)first, count, (int)len,
                      (const char *)blob);
    assert_int_equal(rc, 0);
    sl_store_cursor_close(c);
    sl_buf_putc(&out, '\0');
    return sl_buf_steal(&out);
}

static void assert_scan(sl_store *s, const char *stream, uint64_t from, const char *expect)
{
    char *got = scan_all(s, stream, from);

    assert_string_equal(got, expect);
    free(got);
}

static int collect_stream(void *ctx, const char *name, const char *ddl)
{
    sl_buf_printf(ctx, "%s=%s;", name, ddl);
    return 0;
}

static int collect_query(void *ctx, const char *id, const char *sql, uint64_t start_offset,
                         uint64_t state_limit)
{
    sl_buf_printf(ctx, "%s=%s@%llu", id, sql, (unsigned long long)start_offset);
    if (state_limit)
        sl_buf_printf(ctx, "/%llu", (unsigned long long)state_limit);
    sl_buf_putc(ctx, ';');
    return 0;
}

static int stop_at_first(void *ctx, const char *name, const char *ddl)
{
    ++*(int *)ctx;
    return 7;
}

static void assert_streams(sl_store *s, const char *expect)
{
    sl_buf b = SL_BUF_INIT;
    sl_error err;

    assert_int_equal(sl_store_stream_list(s, collect_stream, &b, &err), 0);
    assert_string_equal(b.data ? b.data : "", expect);
    sl_buf_free(&b);
}

static void assert_queries(sl_store *s, const char *expect)
{
    sl_buf b = SL_BUF_INIT;
    sl_error err;

    assert_int_equal(sl_store_query_list(s, collect_query, &b, &err), 0);
    assert_string_equal(b.data ? b.data : "", expect);
    sl_buf_free(&b);
}

static void assert_stats(sl_store *s, const char *stream, uint64_t next, int64_t max_rowtime)
{
    uint64_t got_next = 0;
    int64_t got_max = 0;
    sl_error err;

    if (sl_store_stream_stats(s, stream, &got_next, &got_max, &err) != 0)
        fail_msg("stats: %s", err.message);
    assert_int_equal(got_next, next);
    assert_int_equal(got_max, max_rowtime);
}

/* Runs one SQL text on the fixture's database file with a separate connection. */
static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Asserts how many rows a table of the closed database at path holds. */
static void assert_table_rows(const char *path, const char *table, int64_t expect)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), expect);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Stores state (a string) as generation gen of query id's checkpoint parts, three bytes
 * a part, and fills c's gen, parts and state_len for it. */
static void put_parts(sl_store *s, const char *id, uint64_t gen, const char *state,
                      sl_store_checkpoint *c)
{
    size_t len = strlen(state);
    sl_error err;

    c->gen = gen;
    c->parts = (len + 2) / 3;
    c->state_len = len;
    for (uint64_t n = 0; n < c->parts; n++) {
        size_t at = (size_t)n * 3;

        if (sl_store_checkpoint_part_put(s, id, gen, n, state + at, len - at < 3 ? len - at : 3,
                                         &err) != 0)
            fail_msg("checkpoint_part_put: %s", err.message);
    }
}

/* Writes a checkpoint of query id at log offset offset with the text state (in parts of
 * generation offset) and no output; seq, late seq and time follow from offset. */
static void put_checkpoint(sl_store *s, const char *id, uint64_t offset, bool reset,
                           const char *state)
{
    sl_store_checkpoint c = {.log_offset = offset,
                             .seq = offset * 10,
                             .late_seq = offset * 100,
                             .taken_ms = 1234,
                             .reset = reset};
    sl_error err;

    put_parts(s, id, offset, state, &c);
    if (sl_store_checkpoint_put(s, id, &c, NULL, 0, NULL, 0, &err) != 0)
        fail_msg("checkpoint_put: %s", err.message);
}

/* Asserts query id's checkpoint as put_checkpoint wrote it; state NULL: none. */
static void assert_checkpoint(sl_store *s, const char *id, uint64_t offset, const char *state)
{
    sl_store_checkpoint c;
    void *blob = NULL;
    sl_error err;

    assert_int_equal(sl_store_checkpoint_get(s, id, &c, &blob, &err), state ? 1 : 0);
    if (state) {
        assert_int_equal(c.log_offset, offset);
        assert_int_equal(c.seq, offset * 10);
        assert_int_equal(c.late_seq, offset * 100);
        assert_int_equal(c.taken_ms, 1234);
        assert_int_equal(c.state_len, strlen(state));
        assert_memory_equal(c.state, state, c.state_len);
    } else {
        assert_null(blob);
    }
    free(blob);
}

static int collect_output(void *ctx, uint64_t first, uint64_t last, const void *data, size_t len)
{
    sl_buf_printf(ctx, "%llu-%llu:%.*s;", (unsigned long long)first, (unsigned long long)last,
                  (int)len, (const char *)data);
    return 0;
}

static int collect_snap(void *ctx, uint64_t pos, uint64_t seq, const void *row, size_t len)
{
    sl_buf_printf(ctx, "%llu/%llu:%.*s;", (unsigned long long)pos, (unsigned long long)seq,
                  (int)len, (const char *)row);
    return 0;
}

/* Asserts what is kept of query id: its change chunks, late chunks and snapshot rows. */
static void assert_kept(sl_store *s, const char *id, const char *changes, const char *late,
                        const char *snap)
{
    sl_buf b = SL_BUF_INIT;
    sl_error err;

    assert_int_equal(sl_store_output_list(s, id, 0, collect_output, &b, &err), 0);
    assert_string_equal(b.data ? b.data : "", changes);
    sl_buf_reset(&b);
    assert_int_equal(sl_store_output_list(s, id, 1, collect_output, &b, &err), 0);
    assert_string_equal(b.data ? b.data : "", late);
    sl_buf_reset(&b);
    assert_int_equal(sl_store_snapshot_list(s, id, collect_snap, &b, &err), 0);
    assert_string_equal(b.data ? b.data : "", snap);
    sl_buf_free(&b);
}

static void put_full(sl_store *s, const char *id, uint64_t offset, bool reset,
                     const sl_store_output *out, size_t nout, const sl_store_snap *snaps,
                     size_t nsnaps)
{
    sl_store_checkpoint c = {.log_offset = offset,
                             .seq = offset * 10,
                             .late_seq = offset * 100,
                             .taken_ms = 1234,
                             .reset = reset};
    sl_error err;

    put_parts(s, id, offset, "st", &c);
    if (sl_store_checkpoint_put(s, id, &c, out, nout, snaps, nsnaps, &err) != 0)
        fail_msg("checkpoint_put: %s", err.message);
}

/* Checkpoints: the row is replaced by the next one; output chunks are appended and
 * trimmed by seq; snapshot rows are written and deleted by pos; a reset starts the kept
 * output over; all of it goes with its query, and survives a reopen. */
static void test_checkpoints(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_store_checkpoint c = {.log_offset = 1, .seq = 1, .late_seq = 1, .taken_ms = 1};
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_query_put(s, "q", "SELECT 1", 0, 0, &err), 0);
    assert_int_equal(sl_store_query_put(s, "r", "SELECT 2", 0, 0, &err), 0);
    assert_checkpoint(s, "q", 0, NULL);
    put_checkpoint(s, "r", 7, false, "rstate");

    const sl_store_output out1[] = {{0, 1, 3, 0, "abc", 3}, {1, 1, 1, 0, "L", 1}};
    const sl_store_snap snap1[] = {{1, 1, "r1", 2}, {2, 3, "r2", 2}};
    put_full(s, "q", 5, false, out1, 2, snap1, 2);
    assert_kept(s, "q", "1-3:abc;", "1-1:L;", "1/1:r1;2/3:r2;");

    const sl_store_output out2[] = {{0, 4, 6, 3, "def", 3}, {1, 0, 0, 0, NULL, 0}};
    const sl_store_snap snap2[] = {{1, 0, NULL, 0}, {2, 6, "r2b", 3}, {3, 5, "r3", 2}};
    put_full(s, "q", 6, false, out2, 2, snap2, 3);
    assert_kept(s, "q", "4-6:def;", "1-1:L;", "2/6:r2b;3/5:r3;");

    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_kept(s, "q", "4-6:def;", "1-1:L;", "2/6:r2b;3/5:r3;");
    assert_checkpoint(s, "r", 7, "rstate");

    const sl_store_output out3[] = {{0, 7, 7, 0, "g", 1}};
    const sl_store_snap snap3[] = {{9, 7, "r9", 2}};
    put_full(s, "q", 8, true, out3, 1, snap3, 1);
    assert_kept(s, "q", "7-7:g;", "", "9/7:r9;");

    /* A checkpoint of a query that does not exist is refused, nothing stored. */
    assert_int_equal(sl_store_checkpoint_put(s, "nope", &c, NULL, 0, NULL, 0, &err), -1);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    assert_checkpoint(s, "nope", 0, NULL);

    /* Dropping a query drops what its checkpoints kept; the other query's stays. */
    assert_int_equal(sl_store_query_drop(s, "q", &err), 0);
    assert_checkpoint(s, "q", 0, NULL);
    assert_kept(s, "q", "", "", "");
    assert_checkpoint(s, "r", 7, "rstate");
    sl_store_close(s);
}

/* Asserts that reading query id's checkpoint fails as damaged, saying why. */
static void assert_checkpoint_damaged(sl_store *s, const char *id, const char *why)
{
    sl_store_checkpoint c;
    void *blob = (void *)1;
    sl_error err;

    assert_int_equal(sl_store_checkpoint_get(s, id, &c, &blob, &err), -1);
    assert_null(blob);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    assert_string_equal(err.message, why);
}

/* A checkpoint's state in parts: the parts of a new generation are not read until a
 * checkpoint names it (a write cut short keeps the former checkpoint, across a reopen
 * too), a checkpoint whose parts are not all stored is refused, one whose part went
 * missing reads as damaged, and trim deletes the other generations' parts a few at a
 * time. */
static void test_checkpoint_parts(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_store_checkpoint c = {.log_offset = 9, .seq = 90, .late_seq = 900, .taken_ms = 1234};
    unsigned deleted = 0;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_query_put(s, "q", "SELECT 1", 0, 0, &err), 0);
    put_checkpoint(s, "q", 2, false, "former state");

    /* A write cut short: two parts of generation 3 and no checkpoint naming it. */
    assert_int_equal(sl_store_checkpoint_part_put(s, "q", 3, 0, "new", 3, &err), 0);
    assert_int_equal(sl_store_checkpoint_part_put(s, "q", 3, 1, "sta", 3, &err), 0);
    assert_checkpoint(s, "q", 2, "former state");
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_checkpoint(s, "q", 2, "former state");

    /* Naming three parts when two are stored is refused; the former one stays. */
    c.gen = 3;
    c.parts = 3;
    c.state_len = 9;
    assert_int_equal(sl_store_checkpoint_put(s, "q", &c, NULL, 0, NULL, 0, &err), -1);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    assert_non_null(strstr(err.message, "checkpoint of query q: parts missing"));
    assert_checkpoint(s, "q", 2, "former state");
    /* So is a wrong total length. */
    assert_int_equal(sl_store_checkpoint_part_put(s, "q", 3, 2, "te!", 3, &err), 0);
    c.state_len = 10;
    assert_int_equal(sl_store_checkpoint_put(s, "q", &c, NULL, 0, NULL, 0, &err), -1);
    assert_checkpoint(s, "q", 2, "former state");
    c.state_len = 9;
    assert_int_equal(sl_store_checkpoint_put(s, "q", &c, NULL, 0, NULL, 0, &err), 0);
    sl_store_checkpoint got;
    void *blob = NULL;
    assert_int_equal(sl_store_checkpoint_get(s, "q", &got, &blob, &err), 1);
    assert_int_equal(got.log_offset, 9);
    assert_int_equal(got.gen, 3);
    assert_int_equal(got.parts, 3);
    assert_int_equal(got.state_len, 9);
    assert_memory_equal(got.state, "newstate!", 9);
    free(blob);

    /* Generation 2's four parts go, three at a time; generation 3's stay. */
    assert_int_equal(sl_store_checkpoint_trim(s, "q", 3, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 3);
    assert_int_equal(sl_store_checkpoint_trim(s, "q", 3, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(sl_store_checkpoint_trim(s, "q", 3, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    sl_store_close(s);
    assert_table_rows(f->db, "checkpoint_parts", 3);

    /* A part of the checkpoint in force lost, or cut short: damaged, saying which. */
    raw_sql(f->db, "DELETE FROM checkpoint_parts WHERE n = 1");
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_checkpoint_damaged(s, "q", "damaged checkpoint: part 1 of 3 is missing");
    sl_store_close(s);
    raw_sql(f->db, "INSERT INTO checkpoint_parts(query_id, gen, n, data) VALUES ('q', 3, 1, 'st')");
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_checkpoint_damaged(s, "q", "damaged checkpoint: part 3 of 3 is missing");
    /* Dropping the query drops its parts. */
    assert_int_equal(sl_store_query_drop(s, "q", &err), 0);
    sl_store_close(s);
    assert_table_rows(f->db, "checkpoint_parts", 0);
}

typedef struct appender {
    sl_store *s;
    int batches;
    int failed;
} appender;

static void *append_main(void *arg)
{
    appender *a = arg;
    sl_error err;

    for (int i = 0; i < a->batches; i++)
        if (sl_store_append(a->s, "s", "ab", 2, 2, 1, 1, NULL, NULL, &err) != 0)
            a->failed++;
    return NULL;
}

/* A side store writes from another thread while the store appends: every write of
 * both succeeds (they take turns, none waits out SQLite's busy timeout), and each sees
 * the other's. */
static void test_side_store(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL), *side = NULL;
    appender a = {s, 300, 0};
    sl_store_checkpoint c = {.log_offset = 1, .seq = 2, .late_seq = 3, .taken_ms = 4};
    char part[64];
    pthread_t t;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_query_put(s, "q", "SELECT 1", 0, 0, &err), 0);
    assert_int_equal(sl_store_open_side(s, &side, &err), 0);
    memset(part, 'p', sizeof(part));
    assert_int_equal(pthread_create(&t, NULL, append_main, &a), 0);
    for (uint64_t n = 0; n < 300; n++)
        assert_int_equal(sl_store_checkpoint_part_put(side, "q", 1, n, part, sizeof(part), &err),
                         0);
    pthread_join(t, NULL);
    assert_int_equal(a.failed, 0);
    c.gen = 1;
    c.parts = 300;
    c.state_len = 300 * sizeof(part);
    assert_int_equal(sl_store_checkpoint_put(side, "q", &c, NULL, 0, NULL, 0, &err), 0);
    assert_stats(side, "s", 600, 1);
    sl_store_checkpoint got;
    void *blob = NULL;
    assert_int_equal(sl_store_checkpoint_get(s, "q", &got, &blob, &err), 1);
    assert_int_equal(got.state_len, 300 * sizeof(part));
    free(blob);
    sl_store_close(side);
    sl_store_close(s);
}

/* The checkpoint writer: a state of two and a half SL_CHECKPOINT_PART_BYTES is stored in
 * three parts and read back whole; the next generation replaces it and the former parts
 * are deleted; a job cancelled never leaves a checkpoint that cannot be read; a job that
 * fails says why. */
static void test_ckptwriter(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    size_t len = SL_CHECKPOINT_PART_BYTES * 5 / 2;
    sl_ckptwriter *w = NULL;
    sl_store_checkpoint got;
    int owner;
    void *blob = NULL;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_query_put(s, "q", "SELECT 1", 0, 0, &err), 0);
    assert_int_equal(sl_ckptwriter_new(s, &w, &err), 0);
    assert_null(sl_ckptwriter_poll(w));
    assert_false(sl_ckptwriter_busy(w));
    for (uint64_t gen = 1; gen <= 2; gen++) {
        sl_ckpt_job *job = sl_ckpt_job_new("q", &owner);

        job->c = (sl_store_checkpoint){.log_offset = gen * 10, .seq = gen, .gen = gen};
        for (size_t i = 0; i < len; i++)
            sl_buf_putc(&job->state, (char)(i * gen % 251));
        sl_ckptwriter_submit(w, job);
        assert_true(sl_ckptwriter_busy(w));
        job = sl_ckptwriter_wait(w);
        assert_non_null(job);
        assert_false(sl_ckptwriter_busy(w));
        assert_int_equal(job->rc, 0);
        assert_false(job->cancelled);
        assert_int_equal(job->c.parts, 3);
        sl_ckpt_job_free(job);
        assert_int_equal(sl_store_checkpoint_get(s, "q", &got, &blob, &err), 1);
        assert_int_equal(got.log_offset, gen * 10);
        assert_int_equal(got.state_len, len);
        for (size_t i = 0; i < len; i += 4099)
            assert_int_equal(((unsigned char *)blob)[i], i * gen % 251);
        free(blob);
    }
    sl_ckptwriter_free(w);
    sl_store_close(s);
    assert_table_rows(f->db, "checkpoint_parts", 3);

    s = open_store(f, SL_FSYNC_NORMAL);
    assert_int_equal(sl_ckptwriter_new(s, &w, &err), 0);
    sl_ckpt_job *job = sl_ckpt_job_new("q", &owner);
    job->c = (sl_store_checkpoint){.log_offset = 30, .seq = 3, .gen = 3};
    for (size_t i = 0; i < len; i++)
        sl_buf_putc(&job->state, 'x');
    sl_ckptwriter_submit(w, job);
    sl_ckptwriter_cancel(w, &owner);
    job = sl_ckptwriter_wait(w);
    assert_true(job->cancelled);
    sl_ckpt_job_free(job);
    assert_int_equal(sl_store_checkpoint_get(s, "q", &got, &blob, &err), 1);
    assert_true(got.log_offset == 20 || got.log_offset == 30);
    free(blob);

    /* A write that fails (no such query) says why; nothing of it is read back. */
    job = sl_ckpt_job_new("nope", &owner);
    job->c = (sl_store_checkpoint){.log_offset = 40, .gen = 1};
    sl_buf_append(&job->state, "abc", 3);
    sl_ckptwriter_submit(w, job);
    job = sl_ckptwriter_wait(w);
    assert_int_equal(job->rc, -1);
    assert_int_equal(job->err.code, SL_ERR_STORAGE_ERROR);
    assert_false(job->cancelled);
    sl_ckpt_job_free(job);
    assert_int_equal(sl_store_checkpoint_get(s, "nope", &got, &blob, &err), 0);
    sl_ckptwriter_free(w);
    sl_store_close(s);
}

/* Opening must fail with STORAGE_ERROR, a message naming the file and containing what. */
static void assert_open_fails(const fixture *f, const char *what)
{
    sl_store *s = (sl_store *)1;
    sl_error err;

    sl_error_clear(&err);
    assert_int_equal(sl_store_open(f->dir, SL_FSYNC_NORMAL, &s, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    assert_non_null(strstr(err.message, f->db));
    assert_null(strchr(err.message, '\n'));
    if (!strstr(err.message, what))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, what);
}

static void test_streams(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    uint64_t next;
    int64_t maxrt;
    int calls = 0;
    sl_error err;

    assert_streams(s, "");
    assert_int_equal(sl_store_stream_put(s, "b", "CREATE STREAM b (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "a", "CREATE STREAM a (y INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "c", "CREATE STREAM c (z INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "a", "CREATE STREAM a (w INT)", &err), -1);
    assert_int_equal(err.code, SL_ERR_EXISTS);
    assert_streams(s, "b=CREATE STREAM b (x INT);a=CREATE STREAM a (y INT);"
                      "c=CREATE STREAM c (z INT);");
    assert_int_equal(sl_store_stream_list(s, stop_at_first, &calls, &err), 7);
    assert_int_equal(calls, 1);

    assert_int_equal(sl_store_stream_drop(s, "a", &err), 0);
    assert_int_equal(sl_store_stream_drop(s, "a", &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);
    assert_int_equal(sl_store_stream_stats(s, "a", &next, &maxrt, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);
    /* A stream created again after a drop goes last in creation order. */
    assert_int_equal(sl_store_stream_put(s, "a", "CREATE STREAM a (v INT)", &err), 0);
    assert_streams(s, "b=CREATE STREAM b (x INT);c=CREATE STREAM c (z INT);"
                      "a=CREATE STREAM a (v INT);");
    assert_stats(s, "a", 0, INT64_MIN);
    sl_store_close(s);

    s = open_store(f, SL_FSYNC_NORMAL);
    assert_streams(s, "b=CREATE STREAM b (x INT);c=CREATE STREAM c (z INT);"
                      "a=CREATE STREAM a (v INT);");
    sl_store_close(s);
}

static void test_queries(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    const uint64_t big = (uint64_t)1 << 40;
    sl_error err;

    assert_queries(s, "");
    assert_int_equal(sl_store_query_put(s, "q2", "SELECT * FROM b", 5, 0, &err), 0);
    assert_int_equal(sl_store_query_put(s, "q1", "SELECT * FROM a", big, 0, &err), 0);
    assert_int_equal(sl_store_query_put(s, "q1", "SELECT 1", 0, 0, &err), -1);
    assert_int_equal(err.code, SL_ERR_EXISTS);
    assert_int_equal(sl_store_query_drop(s, "nope", &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_QUERY);
    assert_int_equal(sl_store_query_put(s, "q3", "SELECT * FROM c", 0, 4096, &err), 0);
    assert_int_equal(sl_store_query_drop(s, "q2", &err), 0);
    sl_store_close(s);

    s = open_store(f, SL_FSYNC_ALWAYS);
    assert_queries(s, "q1=SELECT * FROM a@1099511627776;q3=SELECT * FROM c@0/4096;");
    sl_store_close(s);
}

static void test_append_scan(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    uint64_t first = 99;
    sl_store_cursor *c = (sl_store_cursor *)1;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "t", "CREATE STREAM t (x INT)", &err), 0);
    assert_scan(s, "s", 0, "");
    append(s, "s", "aaa", 3, 10, 30, 0);
    append(s, "t", "other", 1, 10, 30, 0);
    append(s, "s", "bbbbb", 5, 5, 50, 3);
    assert_int_equal(sl_store_append(s, "s", "cc", 2, 2, 40, 45, NULL, NULL, &err), 0);

    assert_scan(s, "s", 0, "0:3:aaa 3:5:bbbbb 8:2:cc ");
    assert_scan(s, "s", 2, "0:3:aaa 3:5:bbbbb 8:2:cc ");
    assert_scan(s, "s", 3, "3:5:bbbbb 8:2:cc ");
    assert_scan(s, "s", 6, "3:5:bbbbb 8:2:cc ");
    assert_scan(s, "s", 9, "8:2:cc ");
    assert_scan(s, "s", 10, "");
    assert_scan(s, "s", 1000, "");
    assert_scan(s, "t", 0, "0:1:other ");

    /* An empty batch stores nothing and reports where the next event goes. */
    assert_int_equal(sl_store_append(s, "s", "", 0, 0, 0, 0, NULL, &first, &err), 0);
    assert_int_equal(first, 10);
    assert_scan(s, "s", 0, "0:3:aaa 3:5:bbbbb 8:2:cc ");

    assert_int_equal(sl_store_append(s, "nope", "x", 1, 1, 0, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);
    assert_int_equal(sl_store_scan(s, "nope", 0, &c, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);
    assert_null(c);
    sl_store_close(s);
}

/* The WAL checkpointer thread copies the WAL into the database file once commits leave
 * enough pages in it (regression: its connection had never read the database, so
 * SQLite's checkpoint on it did nothing and the WAL grew until a commit copied it
 * inline). */
static void test_wal_checkpointer(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    size_t len = 1 << 20;
    char *blob = malloc(len);
    struct stat st;
    sl_error err;

    memset(blob, 'x', len);
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    /* 48 MiB: more than the 10,000 pages of 4 KiB after which the thread is woken, well
     * short of the 60,000 after which a commit would copy the WAL itself. */
    for (int i = 0; i < 48; i++)
        assert_int_equal(sl_store_append(s, "s", blob, len, 1, i, i, NULL, NULL, &err), 0);
    assert_true(sl_store_wal_settle(s) >= 10000);
    assert_int_equal(stat(f->db, &st), 0);
    assert_true(st.st_size >= 40 << 20);
    free(blob);
    sl_store_close(s);
}

/* A ranged scan reads only the batches whose [min, max] ROWTIME meets the range. */
static void test_scan_range(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_store_cursor *c = NULL;
    sl_buf out = SL_BUF_INIT;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    sl_error err;
    const struct {
        int64_t lo, hi;
        const char *expect;
    } cases[] = {
        {INT64_MIN, INT64_MAX, "aaa bbb ccc "},
        {0, 9, ""},
        {10, 10, "aaa "},
        {25, 35, "aaa bbb "},
        {31, 39, ""},
        {45, 45, "ccc "},
        {60, INT64_MAX, ""},
    };

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    append(s, "s", "aaa", 3, 10, 30, 0);
    append(s, "s", "bbb", 3, 20, 30, 3);
    append(s, "s", "ccc", 3, 40, 50, 6);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_buf_reset(&out);
        assert_int_equal(sl_store_scan_range(s, "s", 0, cases[i].lo, cases[i].hi, &c, &err), 0);
        while (sl_store_cursor_next(c, &blob, &len, &count, &first, &err) == 1)
            sl_buf_printf(&out, "%.*s ", (int)len, (const char *)blob);
        sl_store_cursor_close(c);
        sl_buf_putc(&out, '\0');
        assert_string_equal(out.data, cases[i].expect);
    }
    sl_buf_free(&out);
    sl_store_close(s);
}

/* A cursor ends at the log end as of its opening, even when the caller appends between
 * two next() calls; a cursor opened afterwards sees everything. */
static void test_cursor_snapshot(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_store_cursor *c = NULL;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    append(s, "s", "one", 1, 1, 1, 0);
    append(s, "s", "two", 2, 2, 2, 1);
    assert_int_equal(sl_store_scan(s, "s", 0, &c, &err), 0);
    append(s, "s", "three", 3, 3, 3, 3);
    assert_int_equal(sl_store_cursor_next(c, &blob, &len, &count, &first, &err), 1);
    assert_int_equal(first, 0);
    assert_memory_equal(blob, "one", 3);
    append(s, "s", "four", 4, 4, 4, 6);
    assert_int_equal(sl_store_cursor_next(c, &blob, &len, &count, &first, &err), 1);
    assert_int_equal(first, 1);
    assert_int_equal(count, 2);
    assert_int_equal(len, 3);
    assert_memory_equal(blob, "two", 3);
    append(s, "s", "five", 5, 5, 5, 10);
    assert_int_equal(sl_store_cursor_next(c, &blob, &len, &count, &first, &err), 0);
    assert_int_equal(sl_store_cursor_next(c, &blob, &len, &count, &first, &err), 0);
    sl_store_cursor_close(c);
    sl_store_cursor_close(NULL);
    assert_scan(s, "s", 0, "0:1:one 1:2:two 3:3:three 6:4:four 10:5:five ");
    sl_store_close(s);
}

static void test_stats_durable(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_ALWAYS);
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_stats(s, "s", 0, INT64_MIN);
    append(s, "s", "a", 4, -5, 1000, 0);
    assert_stats(s, "s", 4, 1000);
    /* A batch of older events does not move max_rowtime back. */
    append(s, "s", "b", 6, 1, 999, 4);
    assert_stats(s, "s", 10, 1000);
    append(s, "s", "c", 1, 2000, 2000, 10);
    assert_stats(s, "s", 11, 2000);
    sl_store_close(s);

    s = open_store(f, SL_FSYNC_NORMAL);
    assert_stats(s, "s", 11, 2000);
    assert_scan(s, "s", 0, "0:4:a 4:6:b 10:1:c ");
    append(s, "s", "d", 2, 0, 0, 11);
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_stats(s, "s", 13, 2000);
    sl_store_close(s);
}

static void test_drop_deletes_events(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_store_cursor *c = NULL;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "keep", "CREATE STREAM keep (x INT)", &err), 0);
    append(s, "s", "aa", 2, 1, 2, 0);
    append(s, "s", "bb", 2, 3, 4, 2);
    append(s, "keep", "kk", 2, 3, 4, 0);
    assert_int_equal(sl_store_scan(s, "s", 0, &c, &err), 0);
    assert_int_equal(sl_store_stream_drop(s, "s", &err), 0);
    /* A cursor over a dropped stream just ends, even once the name is taken again. */
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (y INT)", &err), 0);
    append(s, "s", "new", 1, 7, 7, 0);
    assert_int_equal(sl_store_cursor_next(c, &blob, &len, &count, &first, &err), 0);
    sl_store_cursor_close(c);
    assert_stats(s, "s", 1, 7);
    assert_scan(s, "s", 0, "0:1:new ");
    assert_scan(s, "keep", 0, "0:2:kk ");
    sl_store_close(s);

    /* The dropped stream's rows are gone from the file, not merely hidden. */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_open_creates_dir(void **state)
{
    fixture *f = *state;
    char dir[128];
    struct stat sb;
    sl_store *s = NULL;
    sl_error err;

    snprintf(dir, sizeof(dir), "%s/a/b/c", f->dir);
    assert_int_equal(sl_store_open(dir, SL_FSYNC_NORMAL, &s, &err), 0);
    sl_store_close(s);
    sl_store_close(NULL);
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* A path through a regular file cannot become a directory. */
    snprintf(dir, sizeof(dir), "%s/a/b/c/sluice.db/x", f->dir);
    assert_int_equal(sl_store_open(dir, SL_FSYNC_NORMAL, &s, &err), -1);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    assert_non_null(strstr(err.message, dir));
}

static void test_open_garbage(void **state)
{
    fixture *f = *state;
    char junk[8192];
    int fd = open(f->db, O_CREAT | O_WRONLY, 0600);

    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 7 + 3);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    assert_open_fails(f, "not a sluice database");
}

static void test_open_foreign_sqlite(void **state)
{
    fixture *f = *state;

    raw_sql(f->db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    assert_open_fails(f, "not a sluice database (application_id 0");
}

static void test_open_newer_schema(void **state)
{
    fixture *f = *state;

    sl_store_close(open_store(f, SL_FSYNC_NORMAL));
    raw_sql(f->db, "PRAGMA user_version = 99;");
    assert_open_fails(f, "newer sluice");
}

static void test_open_damaged(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    char blob[3000], junk[4096];
    sl_error err;
    int fd;

    memset(blob, 'x', sizeof(blob));
    blob[sizeof(blob) - 1] = '\0';
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    for (uint64_t i = 0; i < 50; i++)
        append(s, "s", blob, 1, 0, 0, i);
    sl_store_close(s);

    /* Closing the last connection checkpoints the WAL, so the events now live in the
     * main file; overwrite a few of its pages past the schema. */
    memset(junk, 0xA5, sizeof(junk));
    fd = open(f->db, O_WRONLY);
    assert_true(fd >= 0);
    for (int page = 4; page < 8; page++)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)page * 4096), (ssize_t)sizeof(junk));
    close(fd);
    assert_open_fails(f, "damaged: ");
}

/* The child appends and is killed with SIGKILL as soon as the append returns; the
 * parent must find every acknowledged batch. */
static void test_crash_after_append(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_error err;
    pid_t pid;
    int status = 0;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    sl_store_close(s);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sl_store *cs = NULL;
        uint64_t first;

        if (sl_store_open(f->dir, SL_FSYNC_NORMAL, &cs, &err) != 0)
            _exit(2);
        if (sl_store_append(cs, "s", "first", 5, 5, 1, 1, NULL, &first, &err) != 0)
            _exit(3);
        if (sl_store_append(cs, "s", "acked", 5, 5, 2, 2, NULL, &first, &err) != 0)
            _exit(4);
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    s = open_store(f, SL_FSYNC_NORMAL);
    assert_stats(s, "s", 10, 2);
    assert_scan(s, "s", 0, "0:5:first 5:5:acked ");
    sl_store_close(s);
}

/* A VFS over the default one whose writes fail with SQLITE_FULL while disk_full is
 * set.  A file opened through it is the default VFS's file with a copy of its methods in
 * which only xWrite differs; the default VFS uses a few method tables (one per locking
 * style), each copied once into full_methods. */
#define FULL_MAX_METHODS 4
static sqlite3_vfs *base_vfs;
static sqlite3_vfs full_vfs;
static const sqlite3_io_methods *base_methods[FULL_MAX_METHODS];
static sqlite3_io_methods full_methods[FULL_MAX_METHODS];
static int disk_full;

static int full_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off)
{
    const sqlite3_io_methods *base = base_methods[file->pMethods - full_methods];

    if (disk_full)
        return SQLITE_FULL;
    return base->xWrite(file, p, n, off);
}

static int full_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags)
{
    int rc = base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
    int i = 0;

    if (rc != SQLITE_OK || !file->pMethods)
        return rc;
    while (i < FULL_MAX_METHODS && base_methods[i] && base_methods[i] != file->pMethods)
        i++;
    assert_true(i < FULL_MAX_METHODS);
    if (!base_methods[i]) {
        base_methods[i] = file->pMethods;
        full_methods[i] = *file->pMethods;
        full_methods[i].xWrite = full_write;
    }
    file->pMethods = &full_methods[i];
    return rc;
}

static void test_disk_full(void **state)
{
    fixture *f = *state;
    sl_store *s;
    sl_error err;

    base_vfs = sqlite3_vfs_find(NULL);
    full_vfs = *base_vfs;
    full_vfs.zName = "sluice-test-full";
    full_vfs.xOpen = full_open;
    assert_int_equal(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);

    s = open_store(f, SL_FSYNC_NORMAL);
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    append(s, "s", "kept", 4, 1, 1, 0);
    disk_full = 1;
    assert_int_equal(sl_store_append(s, "s", "lost", 4, 4, 9, 9, NULL, NULL, &err), -1);
    assert_int_equal(err.code, SL_ERR_INSUFFICIENT_STORAGE);
    assert_string_equal(err.message, "disk full");
    assert_int_equal(sl_store_stream_put(s, "t", "CREATE STREAM t (x INT)", &err), -1);
    assert_string_equal(err.message, "disk full");
    disk_full = 0;

    /* Nothing of the failed writes is stored, and the store goes on working. */
    assert_stats(s, "s", 4, 1);
    assert_streams(s, "s=CREATE STREAM s (x INT);");
    append(s, "s", "next", 2, 2, 2, 4);
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_scan(s, "s", 0, "0:4:kept 4:2:next ");
    sl_store_close(s);

    sqlite3_vfs_unregister(&full_vfs);
    sqlite3_vfs_register(base_vfs, 1);
}

/* Appends a one-event batch carrying an idempotency record; the hash is `tag` repeated. */
static void append_keyed(sl_store *s, const char *stream, const char *key, unsigned char tag,
                         const char *answer, int64_t now_ms)
{
    sl_store_idem idem = {.key = key, .answer = answer, .created_ms = now_ms};
    sl_error err;

    memset(idem.body_hash, tag, sizeof(idem.body_hash));
    if (sl_store_append(s, stream, "e", 1, 1, 0, 0, &idem, NULL, &err) != 0)
        fail_msg("append: %s", err.message);
}

/* The answer recorded for (stream, key) since not_before, or NULL; *tag gets the first
 * byte of the recorded hash.  Caller frees. */
static char *idem_get(sl_store *s, const char *stream, const char *key, int64_t not_before,
                      unsigned char *tag)
{
    unsigned char hash[SL_STORE_HASH_LEN];
    char *answer = NULL;
    sl_error err;
    int rc = sl_store_idem_get(s, stream, key, not_before, hash, &answer, &err);

    if (rc < 0)
        fail_msg("idem_get: %s", err.message);
    assert_int_equal(rc, answer != NULL);
    if (answer)
        *tag = hash[0];
    return answer;
}

static void test_idempotency(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    unsigned char tag = 0;
    unsigned deleted = 0;
    char *answer;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "t", "CREATE STREAM t (x INT)", &err), 0);
    assert_null(idem_get(s, "s", "k1", 0, &tag));
    append_keyed(s, "s", "k1", 0xAA, "{\"accepted\":1}", 1000);
    append_keyed(s, "t", "k1", 0xBB, "{\"accepted\":2}", 2000);
    sl_store_close(s);

    /* Kept across a reopen, per stream, and only while younger than not_before. */
    s = open_store(f, SL_FSYNC_NORMAL);
    answer = idem_get(s, "s", "k1", 1000, &tag);
    assert_string_equal(answer, "{\"accepted\":1}");
    assert_int_equal(tag, 0xAA);
    free(answer);
    answer = idem_get(s, "t", "k1", 0, &tag);
    assert_string_equal(answer, "{\"accepted\":2}");
    assert_int_equal(tag, 0xBB);
    free(answer);
    assert_null(idem_get(s, "s", "k1", 1001, &tag));
    assert_null(idem_get(s, "s", "k2", 0, &tag));
    assert_null(idem_get(s, "nope", "k1", 0, &tag));

    /* A record past its time is replaced by a new request with the same key. */
    append_keyed(s, "s", "k1", 0xCC, "{\"accepted\":3}", 5000);
    answer = idem_get(s, "s", "k1", 5000, &tag);
    assert_string_equal(answer, "{\"accepted\":3}");
    assert_int_equal(tag, 0xCC);
    free(answer);
    assert_stats(s, "s", 2, 0);

    /* Expiry deletes old records in bounded steps. */
    assert_int_equal(sl_store_idem_expire(s, 4000, 10, &deleted, &err), 0);
    assert_int_equal(deleted, 1);
    assert_null(idem_get(s, "t", "k1", 0, &tag));
    assert_int_equal(sl_store_idem_expire(s, 4000, 10, &deleted, &err), 0);
    assert_int_equal(deleted, 0);

    /* Dropping a stream drops its records; a new stream of that name starts afresh. */
    assert_int_equal(sl_store_stream_drop(s, "s", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_null(idem_get(s, "s", "k1", 0, &tag));
    sl_store_close(s);
}

/* Write groups (group commit): the writes between begin and commit are stored together
 * (reads inside the group see them), with every idempotency record of a batch; a write
 * that fails, a failing commit (a full disk) or a rollback leaves nothing of the group,
 * and the store goes on. */
static void test_group_commit(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_ALWAYS);
    sl_store_idem idems[2] = {{.key = "k1", .answer = "a1", .created_ms = 5},
                              {.key = "k2", .answer = "a2", .created_ms = 5}};
    unsigned char tag = 0;
    uint64_t first = 0;
    char *answer;
    sl_error err;

    memset(idems[0].body_hash, 1, SL_STORE_HASH_LEN);
    memset(idems[1].body_hash, 2, SL_STORE_HASH_LEN);
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "t", "CREATE STREAM t (x INT)", &err), 0);
    append(s, "s", "before", 6, 1, 1, 0);

    /* Committed: both batches, both records, offsets in order. */
    assert_int_equal(sl_store_group_begin(s, &err), 0);
    append(s, "s", "one", 3, 2, 4, 6);
    assert_int_equal(sl_store_append_idems(s, "t", "two", 3, 2, 7, 8, 0, idems, 2, &first, &err),
                     0);
    assert_int_equal(first, 0);
    answer = idem_get(s, "t", "k2", 0, &tag); /* the group's own write, not committed */
    assert_string_equal(answer, "a2");
    free(answer);
    append(s, "s", "three", 5, 9, 9, 9);
    assert_int_equal(sl_store_group_commit(s, &err), 0);
    assert_scan(s, "s", 0, "0:6:before 6:3:one 9:5:three ");
    assert_scan(s, "t", 0, "0:2:two ");
    assert_stats(s, "s", 14, 9);
    answer = idem_get(s, "t", "k1", 0, &tag);
    assert_string_equal(answer, "a1");
    assert_int_equal(tag, 1);
    free(answer);

    /* A write that fails sinks the group: later writes fail at once, the commit
     * rolls everything back. */
    assert_int_equal(sl_store_group_begin(s, &err), 0);
    append(s, "s", "lost", 4, 10, 10, 14);
    assert_int_equal(sl_store_append(s, "nope", "x", 1, 1, 0, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);
    assert_int_equal(sl_store_append(s, "s", "also", 4, 4, 0, 0, NULL, NULL, &err), -1);
    assert_int_equal(sl_store_group_commit(s, &err), -1);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    assert_scan(s, "s", 0, "0:6:before 6:3:one 9:5:three ");
    assert_stats(s, "s", 14, 9);

    /* A rollback drops the group. */
    assert_int_equal(sl_store_group_begin(s, &err), 0);
    append(s, "s", "dropped", 7, 10, 10, 14);
    sl_store_group_rollback(s);
    assert_stats(s, "s", 14, 9);

    /* A commit that cannot be written (a full disk) stores nothing either. */
    base_vfs = sqlite3_vfs_find(NULL);
    full_vfs = *base_vfs;
    full_vfs.zName = "sluice-test-full";
    full_vfs.xOpen = full_open;
    sl_store_close(s);
    assert_int_equal(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);
    s = open_store(f, SL_FSYNC_ALWAYS);
    assert_int_equal(sl_store_group_begin(s, &err), 0);
    append(s, "s", "full", 4, 10, 10, 14);
    disk_full = 1;
    assert_int_equal(sl_store_group_commit(s, &err), -1);
    assert_int_equal(err.code, SL_ERR_INSUFFICIENT_STORAGE);
    disk_full = 0;
    assert_stats(s, "s", 14, 9);
    append(s, "s", "after", 5, 11, 11, 14);
    sl_store_close(s);
    sqlite3_vfs_unregister(&full_vfs);
    sqlite3_vfs_register(base_vfs, 1);

    s = open_store(f, SL_FSYNC_NORMAL);
    assert_scan(s, "s", 0, "0:6:before 6:3:one 9:5:three 14:5:after ");
    sl_store_close(s);
}

/* Retention deletes whole batches whose newest ROWTIME is before the cutoff, at most
 * max_batches per call, of one stream only; offsets do not move and scans skip gaps. */
static void test_retention_delete(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    unsigned batches = 9;
    uint64_t events = 9;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "t", "CREATE STREAM t (x INT)", &err), 0);
    append(s, "s", "a", 2, 0, 10, 0);   /* newest 10: old */
    append(s, "s", "b", 3, 5, 100, 2);  /* newest 100: a mixed batch is kept whole */
    append(s, "s", "c", 1, 20, 20, 5);  /* newest 20: old */
    append(s, "s", "d", 4, 30, 49, 6);  /* newest 49: old */
    append(s, "s", "e", 1, 50, 50, 10); /* newest 50: at the cutoff, kept */
    append(s, "t", "x", 1, 0, 0, 0);

    /* A query may still replay from offset 5: c (offset 5) and d stay for now. */
    assert_int_equal(sl_store_retention_delete(s, "s", 50, 5, 2, &batches, &events, &err), 0);
    assert_int_equal(batches, 1);
    assert_int_equal(events, 2);
    assert_int_equal(sl_store_retention_delete(s, "s", 50, 5, 2, &batches, &events, &err), 0);
    assert_int_equal(batches, 0);
    assert_int_equal(sl_store_retention_delete(s, "s", 50, UINT64_MAX, 2, &batches, &events, &err),
                     0);
    assert_int_equal(batches, 2);
    assert_int_equal(events, 5);
    assert_int_equal(sl_store_retention_delete(s, "s", 50, UINT64_MAX, 2, &batches, &events, &err),
                     0);
    assert_int_equal(batches, 0);
    assert_int_equal(events, 0);
    assert_scan(s, "s", 0, "2:3:b 10:1:e ");
    assert_scan(s, "s", 7, "10:1:e ");
    assert_scan(s, "t", 0, "0:1:x ");
    assert_stats(s, "s", 11, 100);
    append(s, "s", "f", 1, 60, 60, 11);
    assert_int_equal(
        sl_store_retention_delete(s, "nope", 50, UINT64_MAX, 2, &batches, &events, &err), 0);
    assert_int_equal(batches, 0);
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_scan(s, "s", 0, "2:3:b 10:1:e 11:1:f ");
    sl_store_close(s);
}

/* Scans stream from offset 0 (ranged over [lo, hi]) into "first:advance " words, the
 * advance recorded before each batch or "-", then "@" and the batch's stored time when it
 * has one; caller frees. */
static char *scan_advances(sl_store *s, const char *stream, int64_t lo, int64_t hi)
{
    sl_store_cursor *c = NULL;
    sl_buf out = SL_BUF_INIT;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    sl_error err;

    assert_int_equal(sl_store_scan_range(s, stream, 0, lo, hi, &c, &err), 0);
    assert_int_equal(sl_store_cursor_advance(c), INT64_MIN);
    while (sl_store_cursor_next(c, &blob, &len, &count, &first, &err) == 1) {
        int64_t adv = sl_store_cursor_advance(c);

        if (adv == INT64_MIN)
            sl_buf_printf(&out, "%llu:-", (unsigned long long)first);
        else
            sl_buf_printf(&out, "%llu:%lld", (unsigned long long)first, (long long)adv);
        if (sl_store_cursor_stored_ms(c) != INT64_MIN)
            sl_buf_printf(&out, "@%lld", (long long)sl_store_cursor_stored_ms(c));
        sl_buf_putc(&out, ' ');
    }
    sl_store_cursor_close(c);
    sl_buf_putc(&out, '\0');
    return out.data;
}

static void assert_advances(sl_store *s, const char *stream, int64_t lo, int64_t hi,
                            const char *expect)
{
    char *got = scan_advances(s, stream, lo, hi);

    assert_string_equal(got, expect);
    free(got);
}

/* Asserts the stream's last recorded advance; at UINT64_MAX: none. */
static void assert_last_advance(sl_store *s, const char *stream, uint64_t at, int64_t wm)
{
    uint64_t got_at = 0;
    int64_t got_wm = 0;
    sl_error err;
    int rc = sl_store_advance_last(s, stream, &got_at, &got_wm, &err);

    assert_int_equal(rc, at == UINT64_MAX ? 0 : 1);
    if (rc == 1) {
        assert_int_equal(got_at, at);
        assert_int_equal(got_wm, wm);
    }
}

/* IDLE_TIMEOUT advances: recorded at an offset (the next batch's first), replaced by a
 * later one at the same offset, reported by a cursor before their batch (a ranged scan
 * reads a batch outside its range when it carries one), rolled back with their write
 * group, deleted by retention with the batches before them, and by dropping the stream;
 * they survive a reopen.  A cursor also reports a batch's stored time. */
static void test_idle_advances(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    unsigned batches;
    uint64_t events;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "t", "CREATE STREAM t (x INT)", &err), 0);
    assert_last_advance(s, "s", UINT64_MAX, 0);
    assert_int_equal(sl_store_advance_put(s, "s", 0, 5, &err), 0);
    assert_last_advance(s, "s", 0, 5);
    append(s, "s", "aa", 2, 10, 20, 0);
    append(s, "s", "bb", 2, 30, 40, 2);
    assert_int_equal(sl_store_advance_put(s, "s", 4, 90, &err), 0);
    assert_int_equal(sl_store_advance_put(s, "s", 4, 95, &err), 0); /* replaces */
    assert_last_advance(s, "s", 4, 95);
    assert_int_equal(sl_store_append_idems(s, "s", "cc", 2, 2, 50, 60, 777, NULL, 0, NULL, &err),
                     0);
    append(s, "t", "x", 1, 0, 0, 0);
    assert_advances(s, "s", INT64_MIN, INT64_MAX, "0:5 2:- 4:95@777 ");
    assert_advances(s, "t", INT64_MIN, INT64_MAX, "0:- ");
    /* 0 and 4 lie outside [30, 40] but carry advances. */
    assert_advances(s, "s", 30, 40, "0:5 2:- 4:95@777 ");
    assert_advances(s, "s", 100, 200, "0:5 4:95@777 ");

    /* Inside a group that rolls back, nothing is recorded. */
    assert_int_equal(sl_store_group_begin(s, &err), 0);
    assert_int_equal(sl_store_advance_put(s, "s", 6, 99, &err), 0);
    sl_store_group_rollback(s);
    assert_last_advance(s, "s", 4, 95);
    assert_int_equal(sl_store_advance_put(s, "nope", 0, 1, &err), -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);

    /* A trailing advance (after the last batch) is kept, and so is every one from the
     * oldest kept batch on. */
    assert_int_equal(sl_store_advance_put(s, "s", 6, 99, &err), 0);
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_last_advance(s, "s", 6, 99);
    assert_int_equal(sl_store_retention_delete(s, "s", 25, UINT64_MAX, 8, &batches, &events, &err),
                     0);
    assert_int_equal(batches, 1);
    assert_advances(s, "s", INT64_MIN, INT64_MAX, "2:- 4:95@777 ");
    assert_int_equal(sl_store_retention_delete(s, "s", 45, UINT64_MAX, 8, &batches, &events, &err),
                     0);
    assert_int_equal(batches, 1);
    assert_advances(s, "s", INT64_MIN, INT64_MAX, "4:95@777 ");
    assert_int_equal(
        sl_store_retention_delete(s, "s", 1000, UINT64_MAX, 8, &batches, &events, &err), 0);
    assert_int_equal(batches, 1);
    assert_advances(s, "s", INT64_MIN, INT64_MAX, "");
    assert_last_advance(s, "s", 6, 99);
    assert_int_equal(sl_store_stream_drop(s, "s", &err), 0);
    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_last_advance(s, "s", UINT64_MAX, 0);
    sl_store_close(s);
    assert_table_rows(f->db, "idle_advances", 0);
}

/* A version 4 database (stored times and idle advances came with version 5) opens,
 * migrated: its batches have no stored time. */
static void test_migrate_v4(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    append(s, "s", "aa", 2, 10, 20, 0);
    sl_store_close(s);
    raw_sql(f->db, "DROP TABLE idle_advances; ALTER TABLE events DROP COLUMN stored_ms; "
                   "PRAGMA user_version = 4;");
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_advances(s, "s", INT64_MIN, INT64_MAX, "0:- ");
    assert_int_equal(sl_store_advance_put(s, "s", 2, 7, &err), 0);
    assert_last_advance(s, "s", 2, 7);
    assert_int_equal(sl_store_append_idems(s, "s", "bb", 2, 2, 30, 30, 9, NULL, 0, NULL, &err), 0);
    assert_advances(s, "s", INT64_MIN, INT64_MAX, "0:- 2:7@9 ");
    sl_store_close(s);
    assert_table_rows(f->db, "idle_advances", 1);
}

/* A database written by the first schema (version 1) is migrated at open. */
static void test_migrate_v1(void **state)
{
    fixture *f = *state;
    sl_store *s;
    unsigned char tag = 0;
    char *answer;
    sl_error err;

    raw_sql(f->db,
            "CREATE TABLE streams(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
            "UNIQUE, ddl TEXT NOT NULL, next_offset INTEGER NOT NULL, max_rowtime INTEGER NOT "
            "NULL);"
            "CREATE TABLE queries(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL "
            "UNIQUE, sql TEXT NOT NULL, start_offset INTEGER NOT NULL);"
            "CREATE TABLE events(stream_id INTEGER NOT NULL REFERENCES streams(id), "
            "first_offset INTEGER NOT NULL, count INTEGER NOT NULL, min_rowtime INTEGER NOT "
            "NULL, max_rowtime INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE(stream_id, "
            "first_offset));"
            "INSERT INTO streams VALUES (1, 's', 'CREATE STREAM s (x INT)', 2, 7);"
            "INSERT INTO queries VALUES (1, 'q', 'SELECT * FROM s', 1);"
            "INSERT INTO events VALUES (1, 0, 2, 3, 7, 'ab');"
            "PRAGMA application_id = 1397511491; PRAGMA user_version = 1;");
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_stats(s, "s", 2, 7);
    assert_queries(s, "q=SELECT * FROM s@1;");
    assert_scan(s, "s", 0, "0:2:ab ");
    append_keyed(s, "s", "k", 0x11, "{}", 1);
    answer = idem_get(s, "s", "k", 0, &tag);
    assert_string_equal(answer, "{}");
    free(answer);
    assert_int_equal(sl_store_query_put(s, "r", "SELECT 2", 0, 77, &err), 0);
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_queries(s, "q=SELECT * FROM s@1;r=SELECT 2@0/77;");
    /* Version 3's tables are there too. */
    put_checkpoint(s, "q", 2, false, "qstate");
    assert_checkpoint(s, "q", 2, "qstate");
    sl_store_close(s);
}

/* A version 3 database (checkpoint states in parts came with version 4) opens, migrated:
 * each checkpoint's state becomes part 0 of generation 1 and reads back the same; the
 * next checkpoint replaces it and its part is trimmed. */
static void test_migrate_v3(void **state)
{
    fixture *f = *state;
    sl_store *s = open_store(f, SL_FSYNC_NORMAL);
    unsigned deleted;
    sl_error err;

    assert_int_equal(sl_store_stream_put(s, "s", "CREATE STREAM s (x INT)", &err), 0);
    assert_int_equal(sl_store_query_put(s, "q", "SELECT 1", 0, 0, &err), 0);
    sl_store_close(s);
    raw_sql(f->db, "DROP TABLE idle_advances; ALTER TABLE events DROP COLUMN stored_ms;"
                   "DROP TABLE checkpoint_parts; DROP TABLE checkpoints;"
                   "CREATE TABLE checkpoints(query_id TEXT PRIMARY KEY REFERENCES queries(id), "
                   "log_offset INTEGER NOT NULL, seq INTEGER NOT NULL, late_seq INTEGER NOT "
                   "NULL, taken_ms INTEGER NOT NULL, state BLOB NOT NULL);"
                   "INSERT INTO checkpoints VALUES ('q', 4, 40, 400, 1234, x'7633207374617465');"
                   "PRAGMA user_version = 3;");
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_checkpoint(s, "q", 4, "v3 state");
    put_checkpoint(s, "q", 5, false, "v4");
    assert_int_equal(sl_store_checkpoint_trim(s, "q", 5, 10, &deleted, &err), 0);
    assert_int_equal(deleted, 1);
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_checkpoint(s, "q", 5, "v4");
    sl_store_close(s);
    assert_table_rows(f->db, "checkpoint_parts", 1);
}

/* A version 2 database (checkpoints came with version 3) opens, migrated: its streams,
 * events, queries and idempotency records are kept, and checkpoints can be written. */
static void test_migrate_v2(void **state)
{
    fixture *f = *state;
    unsigned char tag = 0;
    char *answer;
    sl_store *s;

    raw_sql(f->db,
            "CREATE TABLE streams(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
            "UNIQUE, ddl TEXT NOT NULL, next_offset INTEGER NOT NULL, max_rowtime INTEGER NOT "
            "NULL);"
            "CREATE TABLE queries(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL "
            "UNIQUE, sql TEXT NOT NULL, start_offset INTEGER NOT NULL, state_limit INTEGER NOT "
            "NULL DEFAULT 0);"
            "CREATE TABLE events(stream_id INTEGER NOT NULL REFERENCES streams(id), "
            "first_offset INTEGER NOT NULL, count INTEGER NOT NULL, min_rowtime INTEGER NOT "
            "NULL, max_rowtime INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE(stream_id, "
            "first_offset));"
            "CREATE INDEX events_by_time ON events(stream_id, max_rowtime);"
            "CREATE TABLE idempotency(stream_id INTEGER NOT NULL REFERENCES streams(id), key TEXT "
            "NOT NULL, body_hash BLOB NOT NULL, answer TEXT NOT NULL, created_ms INTEGER NOT "
            "NULL, PRIMARY KEY(stream_id, key)) WITHOUT ROWID;"
            "CREATE INDEX idempotency_by_time ON idempotency(created_ms);"
            "INSERT INTO streams VALUES (1, 's', 'CREATE STREAM s (x INT)', 2, 7);"
            "INSERT INTO queries VALUES (1, 'q', 'SELECT * FROM s', 1, 5);"
            "INSERT INTO events VALUES (1, 0, 2, 3, 7, 'ab');"
            "INSERT INTO idempotency VALUES (1, 'k', x'22"
            "000000000000000000000000000000"
            "00000000000000000000000000000000', '{}', 0);"
            "PRAGMA application_id = 1397511491; PRAGMA user_version = 2;");
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_stats(s, "s", 2, 7);
    assert_queries(s, "q=SELECT * FROM s@1/5;");
    assert_scan(s, "s", 0, "0:2:ab ");
    answer = idem_get(s, "s", "k", 0, &tag);
    assert_string_equal(answer, "{}");
    assert_int_equal(tag, 0x22);
    free(answer);
    assert_checkpoint(s, "q", 0, NULL);
    put_checkpoint(s, "q", 2, false, "state");
    sl_store_close(s);
    s = open_store(f, SL_FSYNC_NORMAL);
    assert_checkpoint(s, "q", 2, "state");
    sl_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpointer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_deletes_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_creates_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_foreign_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_side_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckptwriter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_advances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v4, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
