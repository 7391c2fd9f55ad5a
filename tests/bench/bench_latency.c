/* bench_latency.c: result latency through the real server.
 *
 * One stream LAT (id, ts) and two persistent queries on it: `SELECT id ... EMIT CHANGES`
 * (each event gives one row) and a 10 ms tumbling COUNT(*) ... EMIT FINAL.  A subscriber
 * thread reads each query's result stream.  One keep-alive connection sends --rate
 * events per second as one NDJSON request every millisecond (rate/1000 events each, paced
 * against absolute deadlines), event time advancing 1 ms per request, for --seconds.
 * For every event we know when its request was sent and acknowledged, and when its
 * result row arrived; for every window, the request whose events first reached its end
 * (which closes it) and when its final row arrived.  Figures are p50 and p99 of
 *   ack->row    row arrival minus the ingest acknowledgement (negative when the row came
 *               first: the server pushes results before it answers),
 *   send->row   row arrival minus the request's send time (the whole path),
 *   wm->final   final-row arrival minus the acknowledgement (and send) of the request
 *               that moved the watermark past the window's end,
 * each the median over --runs runs.
 *
 *   bench_latency --port P [--rate R] [--seconds S] [--runs N] */
#include "bench_net.h"
#include "bench_util.h"

#include "buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WINDOW_MS = 10 };

typedef struct lat_run {
    int port;
    size_t per_tick, ticks;
    double *t_send, *t_ack; /* per tick */
    double *t_row;          /* per event id */
    double *t_final;        /* per window */
    int64_t base_ms;
    atomic_size_t rows, finals;
    char changes_path[128], final_path[128];
} lat_run;

/* The integer after "key": in text[0..len), or -1. */
static long long field(const char *text, size_t len, const char *key)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i + kl < len; i++)
        if (memcmp(text + i, key, kl) == 0)
            return strtoll(text + i + kl, NULL, 10);
    return -1;
}

static int changes_line(void *ctx, const char *text, size_t len, double t)
{
    lat_run *r = ctx;
    long long id = field(text, len, "\"ID\":");

    if (id >= 0 && (size_t)id < r->per_tick * r->ticks) {
        r->t_row[id] = t;
        if (atomic_fetch_add(&r->rows, 1) + 1 >= r->per_tick * r->ticks)
            return 1;
    }
    return len > 9 && memcmp(text, "{\"error\"", 8) == 0;
}

static int final_line(void *ctx, const char *text, size_t len, double t)
{
    lat_run *r = ctx;
    long long end = field(text, len, "\"WINDOWEND\":");

    if (end > r->base_ms) {
        size_t w = (size_t)((end - r->base_ms) / WINDOW_MS) - 1;

        if (w < r->ticks / WINDOW_MS) {
            r->t_final[w] = t;
            atomic_fetch_add(&r->finals, 1);
        }
    }
    return len > 9 && memcmp(text, "{\"error\"", 8) == 0;
}

static void *changes_loop(void *arg)
{
    lat_run *r = arg;

    bench_stream(r->port, r->changes_path, changes_line, r);
    return NULL;
}

static void *final_loop(void *arg)
{
    lat_run *r = arg;

    bench_stream(r->port, r->final_path, final_line, r);
    return NULL;
}

static int post(int port, const char *path, const char *ctype, const char *body, int want)
{
    bench_conn c;
    char *answer = NULL;
    int st;

    if (bench_connect(&c, port) < 0)
        return -1;
    st = bench_request(&c, path, ctype, body, strlen(body), &answer);
    bench_close(&c);
    if (st != want)
        fprintf(stderr, "bench_latency: %s answered %d: %s\n", path, st, answer ? answer : "");
    free(answer);
    return st == want ? 0 : -1;
}

/* Waits (bounded) until query id has n subscribers. */
static void wait_subscribed(int port, const char *id, int n)
{
    char path[200], want[64];

    snprintf(path, sizeof(path), "GET /v1/queries/%s", id);
    snprintf(want, sizeof(want), "\"subscribers\":%d", n);
    for (int i = 0; i < 500; i++) {
        bench_conn c;
        char *a = NULL;
        bool ok = false;

        if (bench_connect(&c, port) == 0) {
            ok = bench_request(&c, path, NULL, "", 0, &a) == 200 && a && strstr(a, want);
            bench_close(&c);
        }
        free(a);
        if (ok)
            return;
        usleep(10000);
    }
}

static void sleep_until(double t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int main(int argc, char **argv)
{
    int port = (int)bench_opt(argc, argv, "--port", 8080);
    long rate = (long)bench_opt(argc, argv, "--rate", 50000);
    long seconds = (long)bench_opt(argc, argv, "--seconds", 5);
    int runs = (int)bench_opt(argc, argv, "--runs", 3);
    double m[8][16];
    double achieved[16];
    size_t got_rows = 0, got_finals = 0;

    if (rate < 1000 || seconds < 1 || runs < 1 || runs > 16) {
        fprintf(stderr, "bench_latency: bad options (rate >= 1000)\n");
        return 2;
    }
    if (post(port, "POST /v1/statements", "text/plain",
             "CREATE STREAM IF NOT EXISTS lat (id BIGINT, ts BIGINT) WITH (TIMESTAMP='ts');",
             200) < 0)
        return 1;
    printf("# latency: %ld events/s as %ld-event NDJSON requests every ms, %ld s, %d runs\n", rate,
           rate / 1000, seconds, runs);
    for (int run = 0; run < runs; run++) {
        lat_run r;
        pthread_t tc, tf;
        bench_conn c;
        sl_buf body = SL_BUF_INIT;
        char qc[64], qf[64], qbody[512];
        double t0;
        size_t nev, nw, k;
        double *s;

        memset(&r, 0, sizeof(r));
        r.port = port;
        r.per_tick = (size_t)rate / 1000;
        r.ticks = (size_t)seconds * 1000;
        nev = r.per_tick * r.ticks;
        nw = r.ticks / WINDOW_MS;
        r.t_send = calloc(r.ticks, sizeof(double));
        r.t_ack = calloc(r.ticks, sizeof(double));
        r.t_row = calloc(nev, sizeof(double));
        r.t_final = calloc(nw, sizeof(double));
        s = calloc(nev, sizeof(double));
        r.base_ms = 1700000000000 + (int64_t)getpid() % 1000 * 100000000 + run * 10000000;
        snprintf(qc, sizeof(qc), "LAT_C_%d_%d", (int)getpid(), run);
        snprintf(qf, sizeof(qf), "LAT_F_%d_%d", (int)getpid(), run);
        snprintf(qbody, sizeof(qbody),
                 "{\"name\":\"%s\",\"from\":\"latest\",\"sql\":\"SELECT id FROM lat EMIT "
                 "CHANGES\"}",
                 qc);
        if (post(port, "POST /v1/queries", "application/json", qbody, 201) < 0)
            return 1;
        snprintf(qbody, sizeof(qbody),
                 "{\"name\":\"%s\",\"from\":\"latest\",\"sql\":\"SELECT COUNT(*) AS c FROM lat "
                 "WINDOW TUMBLING (SIZE %d MILLISECONDS) EMIT FINAL\"}",
                 qf, WINDOW_MS);
        if (post(port, "POST /v1/queries", "application/json", qbody, 201) < 0)
            return 1;
        snprintf(r.changes_path, sizeof(r.changes_path), "/v1/queries/%s/results", qc);
        snprintf(r.final_path, sizeof(r.final_path), "/v1/queries/%s/results", qf);
        pthread_create(&tc, NULL, changes_loop, &r);
        pthread_create(&tf, NULL, final_loop, &r);
        wait_subscribed(port, qc, 1);
        wait_subscribed(port, qf, 1);
        if (bench_connect(&c, port) < 0)
            return 1;
        t0 = bench_now() + 0.01;
        for (size_t t = 0; t < r.ticks; t++) {
            char *req;
            size_t rl;

            sl_buf_reset(&body);
            for (size_t i = 0; i < r.per_tick; i++)
                sl_buf_printf(&body, "{\"id\":%zu,\"ts\":%lld}\n", t * r.per_tick + i,
                              (long long)(r.base_ms + (int64_t)t));
            req = bench_build_post("/v1/streams/LAT/events", "application/x-ndjson", body.data,
                                   body.len, &rl);
            sleep_until(t0 + (double)t * 0.001);
            r.t_send[t] = bench_now();
            if (bench_send_raw(&c, req, rl) != 200) {
                fprintf(stderr, "bench_latency: ingest failed\n");
                return 1;
            }
            r.t_ack[t] = bench_now();
            free(req);
        }
        achieved[run] = (double)nev / (r.t_ack[r.ticks - 1] - r.t_send[0]);
        bench_close(&c);
        for (int i = 0; i < 500 && atomic_load(&r.rows) < nev; i++)
            usleep(10000);
        got_rows = atomic_load(&r.rows);
        got_finals = atomic_load(&r.finals);
        {
            char path[200];
            snprintf(path, sizeof(path), "DELETE /v1/queries/%s", qc);
            if (bench_connect(&c, port) == 0) {
                bench_request(&c, path, NULL, "", 0, NULL);
                bench_close(&c);
            }
            snprintf(path, sizeof(path), "DELETE /v1/queries/%s", qf);
            if (bench_connect(&c, port) == 0) {
                bench_request(&c, path, NULL, "", 0, NULL);
                bench_close(&c);
            }
        }
        pthread_join(tc, NULL);
        pthread_join(tf, NULL);
        /* Per-event and per-window samples, in milliseconds. */
        for (int pass = 0; pass < 2; pass++) {
            k = 0;
            for (size_t i = 0; i < nev; i++)
                if (r.t_row[i] > 0)
                    s[k++] = 1000.0 * (r.t_row[i] - (pass ? r.t_send : r.t_ack)[i / r.per_tick]);
            m[pass * 2][run] = bench_percentile(s, k, 50);
            m[pass * 2 + 1][run] = bench_percentile(s, k, 99);
        }
        for (int pass = 0; pass < 2; pass++) {
            k = 0;
            /* Window w ends at base + (w+1)*WINDOW_MS: the request of that tick closes it. */
            for (size_t w = 0; w + 1 < nw; w++)
                if (r.t_final[w] > 0)
                    s[k++] =
                        1000.0 * (r.t_final[w] - (pass ? r.t_send : r.t_ack)[(w + 1) * WINDOW_MS]);
            m[4 + pass * 2][run] = bench_percentile(s, k, 50);
            m[4 + pass * 2 + 1][run] = bench_percentile(s, k, 99);
        }
        free(s);
        free(r.t_send);
        free(r.t_ack);
        free(r.t_row);
        free(r.t_final);
        sl_buf_free(&body);
    }
    {
        static const char *const names[8] = {"changes_ack_to_row_p50",  "changes_ack_to_row_p99",
                                             "changes_send_to_row_p50", "changes_send_to_row_p99",
                                             "final_ack_to_row_p50",    "final_ack_to_row_p99",
                                             "final_send_to_row_p50",   "final_send_to_row_p99"};

        printf("RESULT latency achieved_rate %.0f events/s rows=%zu finals=%zu\n",
               bench_median(achieved, runs), got_rows, got_finals);
        for (int i = 0; i < 8; i++)
            printf("RESULT latency %s %.3f ms\n", names[i], bench_median(m[i], runs));
    }
    return 0;
}
