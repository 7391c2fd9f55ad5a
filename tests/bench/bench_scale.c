/* bench_scale.c: many queries on one stream, and memory, through the real server.
 *
 * Run against a freshly started server (--pid is its process, for VmRSS and CPU time
 * from /proc):
 *   1. resident memory idle (no stream, no query);
 *   2. --queries persistent queries on the Nexmark Bid stream, each a filter
 *      `WHERE auction % Q = i` (so every bid gives exactly one result row in all), and
 *      resident memory after: the difference divided by Q is the cost of a query;
 *   3. --rate bids per second for --seconds (NDJSON requests every 10 ms on one
 *      connection, paced against absolute deadlines): the server's CPU over that time;
 *   4. one `GROUP BY k` query on another stream, fed --groups distinct keys: resident
 *      memory and the query's own state_bytes per group.
 *
 *   bench_scale --port P --pid PID [--queries Q] [--rate R] [--seconds S] [--groups G] */
#include "bench_net.h"
#include "bench_util.h"
#include "nexmark.h"

#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port;

static int call(const char *head, const char *ctype, const char *body, char **answer)
{
    bench_conn c;
    int st;

    if (bench_connect(&c, port) < 0)
        return -1;
    st = bench_request(&c, head, ctype, body, strlen(body), answer);
    bench_close(&c);
    return st;
}

static void must(const char *head, const char *ctype, const char *body, int want)
{
    char *a = NULL;
    int st = call(head, ctype, body, &a);

    if (st != want) {
        fprintf(stderr, "bench_scale: %s answered %d: %s\n", head, st, a ? a : "");
        exit(1);
    }
    free(a);
}

static void sleep_until(double t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Settles the allocator and reads the server's resident memory in KiB. */
static long rss(long pid)
{
    usleep(300000);
    return bench_proc_rss_kib(pid);
}

int main(int argc, char **argv)
{
    long pid = (long)bench_opt(argc, argv, "--pid", 0);
    long nq = (long)bench_opt(argc, argv, "--queries", 1000);
    long rate = (long)bench_opt(argc, argv, "--rate", 10000);
    long seconds = (long)bench_opt(argc, argv, "--seconds", 10);
    long groups = (long)bench_opt(argc, argv, "--groups", 100000);
    long rss_idle, rss_q, rss_load, rss_g0, rss_g1;
    size_t per_req = (size_t)(rate / 100 > 0 ? rate / 100 : 1), nreq = (size_t)seconds * 100;
    sl_nexmark *g = sl_nexmark_new(11, 1700000000000);
    sl_buf body = SL_BUF_INIT;
    bench_conn c;
    double t0, w0, c0, cpu, wall, q0;
    char sql[512], *a = NULL;
    long long state = -1;

    port = (int)bench_opt(argc, argv, "--port", 8080);
    if (!pid || nq < 1 || seconds < 1 || groups < 1) {
        fprintf(stderr, "usage: bench_scale --port P --pid PID [options]\n");
        return 2;
    }
    rss_idle = rss(pid);
    printf("RESULT scale idle_rss %.1f MiB\n", (double)rss_idle / 1024);
    fflush(stdout);

    must("POST /v1/statements", "text/plain",
         "CREATE STREAM IF NOT EXISTS " SL_NEXMARK_BID_STREAM ";", 200);
    q0 = bench_now();
    for (long i = 0; i < nq; i++) {
        snprintf(sql, sizeof(sql),
                 "{\"name\":\"SCALE_%ld\",\"from\":\"latest\",\"sql\":\"SELECT auction, price "
                 "FROM bid WHERE auction %% %ld = %ld EMIT CHANGES\"}",
                 i, nq, i);
        must("POST /v1/queries", "application/json", sql, 201);
    }
    q0 = bench_now() - q0;
    rss_q = rss(pid);
    printf("RESULT scale queries_registered %ld queries register_s=%.2f rss=%.1fMiB\n", nq, q0,
           (double)rss_q / 1024);
    printf("RESULT scale rss_per_query %.1f KiB\n", (double)(rss_q - rss_idle) / (double)nq);
    fflush(stdout);

    /* The load: per_req bids every 10 ms. */
    if (bench_connect(&c, port) < 0)
        return 1;
    c0 = bench_proc_cpu(pid);
    w0 = bench_now();
    t0 = w0 + 0.01;
    for (size_t r = 0; r < nreq; r++) {
        char *req;
        size_t rl;

        sl_buf_reset(&body);
        for (size_t i = 0; i < per_req; i++)
            sl_nexmark_ndjson(sl_nexmark_next_bid(g), &body);
        req = bench_build_post("/v1/streams/BID/events", "application/x-ndjson", body.data,
                               body.len, &rl);
        sleep_until(t0 + (double)r * 0.01);
        if (bench_send_raw(&c, req, rl) != 200) {
            fprintf(stderr, "bench_scale: ingest failed\n");
            return 1;
        }
        free(req);
    }
    wall = bench_now() - w0;
    cpu = bench_proc_cpu(pid) - c0;
    bench_close(&c);
    rss_load = rss(pid);
    printf("RESULT scale cpu_%ldq_at_rate %.0f %% achieved=%.0fevents/s seconds=%.1f "
           "rss=%.1fMiB\n",
           nq, 100.0 * cpu / wall, (double)(per_req * nreq) / wall, wall, (double)rss_load / 1024);
    fflush(stdout);

    /* Memory per group. */
    must("POST /v1/statements", "text/plain",
         "CREATE STREAM IF NOT EXISTS grp (k BIGINT, ts BIGINT) WITH (TIMESTAMP='ts');", 200);
    must("POST /v1/queries", "application/json",
         "{\"name\":\"SCALE_GROUPS\",\"from\":\"latest\",\"sql\":\"SELECT k, COUNT(*) AS c FROM "
         "grp GROUP BY k EMIT CHANGES\"}",
         201);
    rss_g0 = rss(pid);
    if (bench_connect(&c, port) < 0)
        return 1;
    for (long k = 0; k < groups;) {
        char *req;
        size_t rl;

        sl_buf_reset(&body);
        for (long i = 0; i < 1000 && k < groups; i++, k++)
            sl_buf_printf(&body, "{\"k\":%ld,\"ts\":%ld}\n", k, 1700000000000L + k);
        req = bench_build_post("/v1/streams/GRP/events", "application/x-ndjson", body.data,
                               body.len, &rl);
        if (bench_send_raw(&c, req, rl) != 200) {
            fprintf(stderr, "bench_scale: ingest failed\n");
            return 1;
        }
        free(req);
    }
    bench_close(&c);
    rss_g1 = rss(pid);
    if (call("GET /v1/queries/SCALE_GROUPS", NULL, "", &a) == 200 && a) {
        char *p = strstr(a, "\"state_bytes\":");
        if (p)
            state = strtoll(p + 14, NULL, 10);
    }
    free(a);
    printf("RESULT scale rss_per_group %.0f bytes groups=%ld state_bytes_per_group=%.0f\n",
           (double)(rss_g1 - rss_g0) * 1024 / (double)groups, groups,
           state >= 0 ? (double)state / (double)groups : -1.0);
    sl_buf_free(&body);
    sl_nexmark_free(g);
    return 0;
}
