/* bench_ckpt.c: what a checkpoint of a large query state costs the server lock and ingest.
 *
 * Drives an instance directly (the server's own code below HTTP, durable store in --dir)
 * with a pthread mutex standing in for the server lock, as the HTTP layer's threads use
 * it: a writer thread ingests a batch of --batch events every 2 ms under the lock and
 * records how long each call took from asking for the lock to releasing it (its ingest
 * latency); the main thread plays the upkeep thread, calling sl_instance_checkpoint_step
 * under the lock once every 5 ms, the injected clock moved past the checkpoint interval
 * to make the query due.
 *
 * The query is a GROUP BY over --keys distinct keys in one open TUMBLING window with
 * EMIT FINAL (so its whole state is open groups and it emits nothing); the keys are
 * loaded first.  Then, --runs times: the writer runs alone for a second (the idle
 * latency), then one checkpoint is taken and the writer's latencies are kept from the
 * step that started it to the one that saw it done (the query's checkpoint count went
 * up).  Figures (medians over the runs):
 *   lock_hold_ms     the longest single hold of the lock by a checkpoint_step call;
 *   ckpt_total_ms    from the start of the checkpoint until it was durable;
 *   ingest_max_ms    the slowest ingest call during the checkpoint;
 *   ingest_p99_ms    the 99th percentile of ingest calls during the checkpoint;
 *   idle_p99_ms      the same without a checkpoint.
 *
 *   bench_ckpt --dir DIR [--keys N] [--batch B] [--runs R]
 *   RESULT ckpt <figure> <value> ms state_mb=.. */
#include "bench_util.h"

#include "instance.h"
#include "mem.h"
#include "parse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LOAD_BATCH = 10000, MAX_SAMPLES = 1 << 20 };

#define ROWTIME 1700000000000LL
#define TAG_LEN 32

static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t clock_now = ROWTIME;
static sl_instance *in;
static long long nkeys;

/* The ingest writer's samples since the last reset: when each call started (bench_now)
 * and how long it took (ms), under sample_mu. */
static pthread_mutex_t sample_mu = PTHREAD_MUTEX_INITIALIZER;
static double *samples, *started;
static size_t nsamples;
static atomic_bool stop_writer;
static int wbatch;

static int64_t bench_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&clock_now);
}

static void die(const char *what, const sl_error *err)
{
    fprintf(stderr, "bench_ckpt: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

/* Fills rows[0..n) with events of keys first, first + 1, ... (modulo nkeys). */
static void fill(sl_row **rows, size_t n, long long first, char tags[][TAG_LEN])
{
    for (size_t i = 0; i < n; i++) {
        long long k = (first + (long long)i) % nkeys;
        int len = snprintf(tags[i], TAG_LEN, "tag-%020lld", k);

        rows[i]->rowtime = ROWTIME;
        rows[i]->v[0] = sl_int(SL_T_BIGINT, k);
        rows[i]->v[1] = sl_int(SL_T_BIGINT, k * 7);
        rows[i]->v[2] = sl_str(tags[i], (uint32_t)len);
    }
}

static void *writer_main(void *arg)
{
    sl_row **rows = sl_xcalloc((size_t)wbatch, sizeof(sl_row *));
    char(*tags)[TAG_LEN] = sl_xcalloc((size_t)wbatch, TAG_LEN);
    long long next = 0;
    sl_error err;

    (void)arg;
    for (int i = 0; i < wbatch; i++)
        rows[i] = sl_row_new(3);
    while (!atomic_load(&stop_writer)) {
        fill(rows, (size_t)wbatch, next, tags);
        next += wbatch;
        double t0 = bench_now();
        pthread_mutex_lock(&server_lock);
        if (sl_instance_ingest(in, "S", rows, (size_t)wbatch, &err) < 0)
            die("ingest", &err);
        pthread_mutex_unlock(&server_lock);
        double ms = (bench_now() - t0) * 1e3;
        pthread_mutex_lock(&sample_mu);
        if (nsamples < MAX_SAMPLES) {
            started[nsamples] = t0;
            samples[nsamples++] = ms;
        }
        pthread_mutex_unlock(&sample_mu);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < wbatch; i++)
        sl_row_free(rows[i]);
    free(rows);
    free(tags);
    return NULL;
}

/* Takes the writer's samples since the last call that started before `until` (waiting
 * for the writer to start one after it): their count, max and p99 (ms). */
static size_t take_samples(double until, double *max, double *p99)
{
    size_t n = 0;

    for (;;) {
        pthread_mutex_lock(&sample_mu);
        if (nsamples && started[nsamples - 1] > until)
            break;
        pthread_mutex_unlock(&sample_mu);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    while (n < nsamples && started[n] <= until)
        n++;
    *max = 0;
    for (size_t i = 0; i < n; i++)
        if (samples[i] > *max)
            *max = samples[i];
    *p99 = bench_percentile(samples, n, 99);
    /* The samples after `until` stay for the next call. */
    memmove(samples, samples + n, (nsamples - n) * sizeof(double));
    memmove(started, started + n, (nsamples - n) * sizeof(double));
    nsamples -= n;
    pthread_mutex_unlock(&sample_mu);
    return n;
}

static void load(void)
{
    sl_row *rows[LOAD_BATCH];
    char(*tags)[TAG_LEN] = sl_xcalloc(LOAD_BATCH, TAG_LEN);
    sl_error err;

    for (int i = 0; i < LOAD_BATCH; i++)
        rows[i] = sl_row_new(3);
    for (long long done = 0; done < nkeys; done += LOAD_BATCH) {
        size_t n = nkeys - done < LOAD_BATCH ? (size_t)(nkeys - done) : LOAD_BATCH;

        fill(rows, n, done, tags);
        if (sl_instance_ingest(in, "S", rows, n, &err) < 0)
            die("ingest", &err);
    }
    for (int i = 0; i < LOAD_BATCH; i++)
        sl_row_free(rows[i]);
    free(tags);
}

static uint64_t checkpoints_of(sl_live *q)
{
    sl_live_stats st;

    sl_live_stats_get(q, &st);
    return st.checkpoints;
}

int main(int argc, char **argv)
{
    const char *dir = bench_opt_str(argc, argv, "--dir", NULL);
    int runs = (int)bench_opt(argc, argv, "--runs", 3);
    const char *ddl = "CREATE STREAM s (k BIGINT, v BIGINT, tag VARCHAR);";
    const char *sql = "SELECT k, COUNT(*) AS n, SUM(v) AS total, MIN(tag) AS tag FROM s "
                      "WINDOW TUMBLING (SIZE 1 DAY) GROUP BY k EMIT FINAL;";
    double hold[64], total[64], imax[64], ip99[64], idle[64];
    sl_instance_opts opts = {0};
    sl_stmt_list *list = NULL;
    sl_live *q = NULL;
    sl_live_stats st;
    pthread_t writer;
    sl_error err;

    nkeys = bench_opt(argc, argv, "--keys", 2000000);
    wbatch = (int)bench_opt(argc, argv, "--batch", 100);
    if (!dir || runs < 1 || runs > 64 || nkeys < 1 || wbatch < 1) {
        fprintf(stderr, "usage: bench_ckpt --dir DIR [--keys N] [--batch B] [--runs R]\n");
        return 2;
    }
    opts.data_dir = dir;
    opts.fsync = SL_FSYNC_NORMAL;
    opts.clock_ms = bench_clock;
    opts.query_state_limit = 16ull << 30;
    opts.checkpoint_interval_ms = 1000;
    if (sl_instance_open(&opts, &in, &err) < 0)
        die("open", &err);
    if (sl_parse(ddl, strlen(ddl), &list, &err) < 0 ||
        sl_instance_create_stream(in, &list->stmts[0], NULL, &err) < 0)
        die("CREATE STREAM", &err);
    sl_stmt_list_free(list);
    if (sl_instance_query_create(in, "big", sql, strlen(sql), true, true, &q, &err) < 0)
        die("query", &err);
    double t0 = bench_now();
    load();
    sl_live_stats_get(q, &st);
    double state_mb = (double)st.engine.state_bytes / (1 << 20);
    printf("# loaded %lld keys in %.1f s; the query's state holds %.1f MB\n", nkeys,
           bench_now() - t0, state_mb);

    samples = sl_xcalloc(MAX_SAMPLES, sizeof(double));
    started = sl_xcalloc(MAX_SAMPLES, sizeof(double));
    if (pthread_create(&writer, NULL, writer_main, NULL) != 0)
        die("thread", NULL);
    for (int r = 0; r < runs; r++) {
        double unused;

        /* The writer alone. */
        take_samples(bench_now(), &unused, &unused);
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
        take_samples(bench_now(), &unused, &idle[r]);

        /* One checkpoint, from the step that starts it to the one that sees it done. */
        uint64_t before;
        pthread_mutex_lock(&server_lock);
        before = checkpoints_of(q);
        atomic_fetch_add(&clock_now, 3600 * 1000);
        pthread_mutex_unlock(&server_lock);
        double start = bench_now();
        hold[r] = 0;
        for (;;) {
            pthread_mutex_lock(&server_lock);
            double h0 = bench_now();
            if (sl_instance_checkpoint_step(in, &err) < 0)
                die("checkpoint", &err);
            double h = (bench_now() - h0) * 1e3;
            bool done = checkpoints_of(q) > before;
            pthread_mutex_unlock(&server_lock);
            if (h > hold[r])
                hold[r] = h;
            if (done)
                break;
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        double end = bench_now();
        total[r] = (end - start) * 1e3;
        size_t n = take_samples(end, &imax[r], &ip99[r]);
        printf("# run %d: lock held %.1f ms at most, checkpoint durable after %.1f ms; "
               "%zu ingest calls meanwhile, slowest %.1f ms, p99 %.1f ms (idle p99 %.2f ms)\n",
               r + 1, hold[r], total[r], n, imax[r], ip99[r], idle[r]);
    }
    atomic_store(&stop_writer, true);
    pthread_join(writer, NULL);

    printf("RESULT ckpt lock_hold_ms %.1f ms state_mb=%.0f keys=%lld\n", bench_median(hold, runs),
           state_mb, nkeys);
    printf("RESULT ckpt ckpt_total_ms %.1f ms state_mb=%.0f\n", bench_median(total, runs),
           state_mb);
    printf("RESULT ckpt ingest_max_ms %.1f ms batch=%d\n", bench_median(imax, runs), wbatch);
    printf("RESULT ckpt ingest_p99_ms %.1f ms batch=%d\n", bench_median(ip99, runs), wbatch);
    printf("RESULT ckpt idle_p99_ms %.2f ms batch=%d\n", bench_median(idle, runs), wbatch);
    free(samples);
    free(started);
    sl_instance_close(in);
    return 0;
}
