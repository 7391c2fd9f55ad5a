/* bench_http.c: HTTP ingest through the real server, durable, with a query subscribed.
 *
 * The server (started by run.sh with --data in a fresh directory) gets the Nexmark Bid
 * stream and one persistent query (Nexmark q1 by default: every bid gives one result
 * row), and a subscriber thread reads that query's result stream, so results are really
 * produced, encoded and sent.  The Nexmark bids are built into complete HTTP requests
 * before the clock starts (NDJSON bodies of --batch events, or one JSON object per
 * request with --batch 1); --conns threads then send them over keep-alive connections,
 * each waiting for its answer (200 {"accepted":N}, sent only once the events are durable)
 * before the next request.  The figure is events acknowledged per second of wall time;
 * the server's CPU comes from /proc/PID/stat (--pid) and the client's from its own
 * clock, so one sees which side is saturated.  --ceiling points the same client at an
 * in-process null server instead, which measures the client's own ceiling;
 * --mhd-null at libmicrohttpd set up as sluice's, answering at once, and --mhd-handoff
 * the same with each request handed to another thread and back as sluice's ingest does
 * (mhd_null.h): what the HTTP library and the hand-off cost before any storing.
 *
 *   bench_http --port P --pid PID [--events N] [--batch B] [--conns C] [--runs R]
 *   bench_http --ceiling|--mhd-null|--mhd-handoff [--threads T] [--events N] [--batch B]
 *              [--conns C] [--runs R]
 *   RESULT http <label> <events/s> events/s req/s=.. server_cpu=..% client_cpu=..% ... */
#include "bench_net.h"
#include "bench_util.h"
#include "mhd_null.h"
#include "nexmark.h"

#include "buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SQL "SELECT auction, bidder, 0.908 * price AS price, datetime FROM bid EMIT CHANGES"

typedef struct load {
    int port;
    char **reqs; /* complete requests */
    size_t *lens;
    size_t nreqs;
    int conns;
    atomic_int failures;
} load;

typedef struct worker {
    load *l;
    int id;
} worker;

static void *send_loop(void *arg)
{
    worker *w = arg;
    load *l = w->l;
    bench_conn c;

    if (bench_connect(&c, l->port) < 0) {
        atomic_fetch_add(&l->failures, 1);
        return NULL;
    }
    for (size_t i = (size_t)w->id; i < l->nreqs; i += (size_t)l->conns) {
        int st = bench_send_raw(&c, l->reqs[i], l->lens[i]);

        if (st != 200) {
            fprintf(stderr, "bench_http: request %zu answered %d\n", i, st);
            atomic_fetch_add(&l->failures, 1);
            break;
        }
    }
    bench_close(&c);
    return NULL;
}

typedef struct sub {
    int port;
    char path[256];
    uint64_t want; /* result rows expected */
    atomic_uint_fast64_t rows;
    double last_t;
} sub;

static int sub_line(void *ctx, const char *text, size_t len, double t)
{
    sub *s = ctx;

    if (len > 8 && memcmp(text, "{\"seq\":", 7) == 0) {
        s->last_t = t;
        if (atomic_fetch_add(&s->rows, 1) + 1 >= s->want)
            return 1;
    }
    return len > 9 && memcmp(text, "{\"error\"", 8) == 0;
}

static void *sub_loop(void *arg)
{
    sub *s = arg;

    bench_stream(s->port, s->path, sub_line, s);
    return NULL;
}

/* POSTs body to path on a fresh connection; exits on a status other than want. */
static void setup(int port, const char *path, const char *ctype, const char *body, int want)
{
    bench_conn c;
    char *answer = NULL;
    int st;

    if (bench_connect(&c, port) < 0) {
        fprintf(stderr, "bench_http: cannot connect to port %d\n", port);
        exit(1);
    }
    st = bench_request(&c, path, ctype, body, strlen(body), &answer);
    if (st != want) {
        fprintf(stderr, "bench_http: %s answered %d: %s\n", path, st, answer ? answer : "");
        exit(1);
    }
    free(answer);
    bench_close(&c);
}

/* Builds the requests: n bids, batch per request, NDJSON (or one object when batch 1). */
static void build(load *l, size_t n, size_t batch, uint64_t seed)
{
    sl_nexmark *g = sl_nexmark_new(seed, 1700000000000);
    sl_buf body = SL_BUF_INIT;

    l->nreqs = (n + batch - 1) / batch;
    l->reqs = calloc(l->nreqs, sizeof(char *));
    l->lens = calloc(l->nreqs, sizeof(size_t));
    if (!l->reqs || !l->lens)
        abort();
    for (size_t r = 0; r < l->nreqs; r++) {
        size_t k = n - r * batch < batch ? n - r * batch : batch;

        sl_buf_reset(&body);
        for (size_t i = 0; i < k; i++)
            sl_nexmark_ndjson(sl_nexmark_next_bid(g), &body);
        l->reqs[r] = bench_build_post("/v1/streams/BID/events",
                                      batch > 1 ? "application/x-ndjson" : "application/json",
                                      body.data, body.len, &l->lens[r]);
    }
    sl_buf_free(&body);
    sl_nexmark_free(g);
}

/* The labels and descriptions of the libmicrohttpd floors, by bench_mhd_mode. */
static const char *const mhd_label[] = {"mhd-null-", "mhd-handoff-", "mhd-block-"};
static const char *const mhd_what[] = {
    " (libmicrohttpd answering at once)", " (libmicrohttpd, handed to a thread and back)",
    " (libmicrohttpd, a thread per connection waiting for another)"};

int main(int argc, char **argv)
{
    bool ceiling = false, mhd = false;
    bench_mhd_mode how = MHD_NULL_AT_ONCE;
    unsigned threads = (unsigned)bench_opt(argc, argv, "--threads", 2);
    int port = (int)bench_opt(argc, argv, "--port", 8080);
    long pid = (long)bench_opt(argc, argv, "--pid", 0);
    size_t n = (size_t)bench_opt(argc, argv, "--events", 1000000);
    size_t batch = (size_t)bench_opt(argc, argv, "--batch", 1000);
    int conns = (int)bench_opt(argc, argv, "--conns", 4);
    int runs = (int)bench_opt(argc, argv, "--runs", 3);
    const char *sql = bench_opt_str(argc, argv, "--sql", DEFAULT_SQL);
    char label[64];
    double rates[16], reqs[16], scpu[16], ccpu[16], deliv[16];
    uint64_t delivered_rows = 0;
    load l;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--ceiling") == 0)
            ceiling = true;
        else if (strcmp(argv[i], "--mhd-null") == 0)
            ceiling = mhd = true;
        else if (strcmp(argv[i], "--mhd-handoff") == 0)
            ceiling = mhd = true, how = MHD_NULL_HANDOFF;
        else if (strcmp(argv[i], "--mhd-block") == 0)
            ceiling = mhd = true, how = MHD_NULL_BLOCK;
    if (runs < 1 || runs > 16 || conns < 1 || batch < 1 || n < 1) {
        fprintf(stderr, "bench_http: bad options\n");
        return 2;
    }
    memset(&l, 0, sizeof(l));
    l.conns = conns;
    build(&l, n, batch, 7);
    if (mhd) {
        l.port = bench_mhd_null_start(threads, how);
        if (l.port < 0)
            return 1;
    } else if (ceiling) {
        l.port = bench_null_server_start();
        if (l.port < 0)
            return 1;
    } else {
        l.port = port;
        setup(port, "POST /v1/statements", "text/plain",
              "CREATE STREAM IF NOT EXISTS " SL_NEXMARK_BID_STREAM ";", 200);
    }
    snprintf(label, sizeof(label), "%s%s-%zu-x%d",
             !ceiling ? ""
             : mhd    ? mhd_label[how]
                      : "ceiling-",
             batch > 1 ? "ndjson" : "single", batch, conns);
    printf("# http %s: %zu events in %zu requests of %zu, %d connections, %d runs%s\n", label, n,
           l.nreqs, batch, conns, runs,
           !ceiling ? ""
           : mhd    ? mhd_what[how]
                    : " (null server)");
    for (int r = 0; r < runs; r++) {
        pthread_t th[64], st;
        worker w[64];
        sub s;
        char qname[64], qbody[1024];
        double w0, c0, s0 = 0, wall;
        int nt = conns < 64 ? conns : 64;

        memset(&s, 0, sizeof(s));
        if (!ceiling) {
            snprintf(qname, sizeof(qname), "BENCH_HTTP_%ld_%s_%d", pid, batch > 1 ? "B" : "S", r);
            snprintf(qbody, sizeof(qbody), "{\"name\":\"%s\",\"from\":\"latest\",\"sql\":\"%s\"}",
                     qname, sql);
            setup(port, "POST /v1/queries", "application/json", qbody, 201);
            s.port = port;
            s.want = n;
            snprintf(s.path, sizeof(s.path), "/v1/queries/%s/results", qname);
            pthread_create(&st, NULL, sub_loop, &s);
            /* The subscription is made before the load starts (a result stream sends
             * only live rows). */
            for (int i = 0; i < 200; i++) {
                char *a = NULL;
                bench_conn c;
                bool ok = false;
                char path[300];

                snprintf(path, sizeof(path), "GET /v1/queries/%s", qname);
                if (bench_connect(&c, port) == 0) {
                    if (bench_request(&c, path, NULL, "", 0, &a) == 200)
                        ok = a && strstr(a, "\"subscribers\":1") != NULL;
                    bench_close(&c);
                }
                free(a);
                if (ok)
                    break;
                usleep(10000);
            }
        }
        if (pid)
            s0 = bench_proc_cpu(pid);
        c0 = bench_cpu();
        w0 = bench_now();
        for (int i = 0; i < nt; i++) {
            w[i].l = &l;
            w[i].id = i;
            pthread_create(&th[i], NULL, send_loop, &w[i]);
        }
        for (int i = 0; i < nt; i++)
            pthread_join(th[i], NULL);
        wall = bench_now() - w0;
        ccpu[r] = 100.0 * (bench_cpu() - c0) / wall;
        scpu[r] = pid ? 100.0 * (bench_proc_cpu(pid) - s0) / wall : 0;
        rates[r] = (double)n / wall;
        reqs[r] = (double)l.nreqs / wall;
        deliv[r] = 0;
        if (!ceiling) {
            char path[300];
            bench_conn c;

            /* Give the subscriber up to 30 s to receive every row, then drop the query
             * (which ends its stream). */
            for (int i = 0; i < 3000 && atomic_load(&s.rows) < s.want; i++)
                usleep(10000);
            delivered_rows = atomic_load(&s.rows);
            deliv[r] = delivered_rows == s.want ? (double)n / (s.last_t - w0) : 0;
            snprintf(path, sizeof(path), "DELETE /v1/queries/%s", qname);
            if (bench_connect(&c, port) == 0) {
                bench_request(&c, path, NULL, "", 0, NULL);
                bench_close(&c);
            }
            pthread_join(st, NULL);
        }
        if (atomic_load(&l.failures)) {
            printf("RESULT http %s n/a events/s error=requests_failed\n", label);
            return 1;
        }
    }
    {
        double rate = bench_median(rates, runs), rq = bench_median(reqs, runs);
        double sc = bench_median(scpu, runs), cc = bench_median(ccpu, runs);
        double dv = bench_median(deliv, runs);

        printf("RESULT http %s %.0f events/s req/s=%.0f server_cpu=%.0f%% client_cpu=%.0f%%", label,
               rate, rq, sc, cc);
        if (!ceiling)
            printf(" delivered=%llu/%zu delivered_events/s=%.0f",
                   (unsigned long long)delivered_rows, n, dv);
        printf(" runs=");
        for (int r = 0; r < runs; r++)
            printf("%s%.0f", r ? "," : "", rates[r]);
        printf("\n");
    }
    for (size_t i = 0; i < l.nreqs; i++)
        free(l.reqs[i]);
    free(l.reqs);
    free(l.lens);
    return 0;
}
