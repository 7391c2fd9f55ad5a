/* bench_batch.c: a windowed GROUP BY over stored events, sluice against sqlite3.
 *
 * --events Nexmark bids are stored through sl_instance_ingest (the server's own durable
 * path, in batches of 10,000, into --dir) and written as CSV; the sqlite3 command
 * imports the same CSV into a plain table.  Then each query runs --runs times on a warm
 * cache: in sluice as a batch query (sl_instance_batch_open / sl_batch_step: read the
 * log, decode, aggregate, emit), in sqlite3 as the equivalent GROUP BY over
 * datetime / 10000 with its rows written to /dev/null, timed as the whole sqlite3
 * process.  Both must return the same number of rows; the ratio is taken within one
 * run of this program.  Without the sqlite3 command its side is reported n/a.
 *
 *   bench_batch --dir DIR [--events N] [--runs R] [--sqlite3 PATH]
 *   RESULT batch <query> <events/s> events/s sluice_s=.. sqlite3_s=.. ratio=.. rows=.. */
#include "bench_util.h"
#include "nexmark.h"

#include "instance.h"
#include "mem.h"
#include "parse.h"
#include "plan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { INGEST_BATCH = 10000 };

typedef struct batch_query {
    const char *name;
    const char *sluice;
    const char *sqlite;
} batch_query;

static const batch_query queries[] = {
    {"q12-batch",
     "SELECT bidder, COUNT(*) AS bid_count FROM bid WINDOW TUMBLING (SIZE 10 SECONDS) "
     "GROUP BY bidder;",
     "SELECT datetime / 10000 * 10000 AS windowstart, datetime / 10000 * 10000 + 10000 AS "
     "windowend, bidder, COUNT(*) AS bid_count FROM bid GROUP BY datetime / 10000, bidder;"},
    {"q7-batch", "SELECT MAX(price) AS maxprice FROM bid WINDOW TUMBLING (SIZE 10 SECONDS);",
     "SELECT datetime / 10000 * 10000 AS windowstart, datetime / 10000 * 10000 + 10000 AS "
     "windowend, MAX(price) AS maxprice FROM bid GROUP BY datetime / 10000;"},
};

static int64_t fixed_clock(void *ctx)
{
    return 0;
}

static void die(const char *what, const sl_error *err)
{
    fprintf(stderr, "bench_batch: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static void count_row(void *ctx, const sl_row *row)
{
    (*(uint64_t *)ctx)++;
}

/* Stores n bids in the instance and writes them as CSV to csv_path. */
static void load(sl_instance *in, size_t n, const char *csv_path)
{
    sl_nexmark *g = sl_nexmark_new(42, 1700000000000);
    size_t stride = sizeof(sl_row) + SL_NEXMARK_BID_NCOLS * sizeof(sl_value);
    char *block = sl_xmalloc(INGEST_BATCH * stride);
    sl_row *rows[INGEST_BATCH];
    FILE *csv = fopen(csv_path, "w");
    sl_stmt_list *list = NULL;
    sl_error err;

    if (!csv)
        die("cannot write the CSV file", NULL);
    if (sl_parse(SL_NEXMARK_BID_DDL, strlen(SL_NEXMARK_BID_DDL), &list, &err) < 0 ||
        sl_instance_create_stream(in, &list->stmts[0], NULL, &err) < 0)
        die("CREATE STREAM", &err);
    sl_stmt_list_free(list);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < INGEST_BATCH ? n - done : INGEST_BATCH;

        for (size_t i = 0; i < k; i++) {
            const sl_nexmark_event *e = sl_nexmark_next_bid(g);

            rows[i] = (sl_row *)(block + i * stride);
            rows[i]->ncols = SL_NEXMARK_BID_NCOLS;
            sl_nexmark_bid_row(e, rows[i]);
            fprintf(csv, "%lld,%lld,%lld,%s,%s,%lld,\n", (long long)e->u.bid.auction,
                    (long long)e->u.bid.bidder, (long long)e->u.bid.price, e->u.bid.channel,
                    e->u.bid.url, (long long)e->time_ms);
        }
        if (sl_instance_ingest(in, "BID", rows, k, &err) < 0)
            die("ingest", &err);
        done += k;
    }
    fclose(csv);
    free(block);
    sl_nexmark_free(g);
}

/* Runs a batch query in sluice; returns its wall time and sets *rows. */
static double run_sluice(sl_instance *in, const char *sql, uint64_t *rows)
{
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;
    sl_batch *b = NULL;
    sl_error err;
    double t0 = bench_now();
    int rc;

    *rows = 0;
    if (sl_parse(sql, strlen(sql), &list, &err) < 0 ||
        sl_plan_build(list->stmts[0].select, sl_instance_catalog(in), &plan, &err) < 0)
        die(sql, &err);
    sl_stmt_list_free(list);
    if (sl_instance_batch_open(in, plan, &b, &err) < 0)
        die("batch open", &err);
    while ((rc = sl_batch_step(b, count_row, rows, &err)) > 0)
        ;
    if (rc < 0)
        die("batch step", &err);
    sl_batch_free(b);
    return bench_now() - t0;
}

/* Runs a shell command; returns its wall time, or -1 when it failed. */
static double run_timed(const char *cmd)
{
    double t0 = bench_now();

    if (system(cmd) != 0)
        return -1;
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    size_t n = (size_t)bench_opt(argc, argv, "--events", 10000000);
    int runs = (int)bench_opt(argc, argv, "--runs", 3);
    const char *dir = bench_opt_str(argc, argv, "--dir", NULL);
    const char *sqlite3 = bench_opt_str(argc, argv, "--sqlite3", "sqlite3");
    char data[512], csv[512], db[512], cmd[2048];
    bool have_sqlite = false;
    sl_instance_opts opts;
    sl_instance *in = NULL;
    sl_error err;
    double t0;

    if (!dir || runs < 1 || runs > 16 || n < 1) {
        fprintf(stderr, "usage: bench_batch --dir DIR [--events N] [--runs R]\n");
        return 2;
    }
    snprintf(data, sizeof(data), "%s/sluice-data", dir);
    snprintf(csv, sizeof(csv), "%s/bids.csv", dir);
    snprintf(db, sizeof(db), "%s/sqlite3.db", dir);
    mkdir(dir, 0700);
    memset(&opts, 0, sizeof(opts));
    opts.data_dir = data;
    opts.fsync = SL_FSYNC_NORMAL;
    opts.clock_ms = fixed_clock;
    if (sl_instance_open(&opts, &in, &err) < 0)
        die("open", &err);
    t0 = bench_now();
    load(in, n, csv);
    printf("# batch: %zu bids stored in sluice (%.1f s incl. CSV)\n", n, bench_now() - t0);
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", sqlite3);
    if (system(cmd) == 0) {
        remove(db);
        snprintf(cmd, sizeof(cmd),
                 "%s %s 'CREATE TABLE bid (auction INTEGER, bidder INTEGER, price INTEGER, "
                 "channel TEXT, url TEXT, datetime INTEGER, extra TEXT);' '.mode csv' "
                 "'.import %s bid'",
                 sqlite3, db, csv);
        t0 = bench_now();
        have_sqlite = system(cmd) == 0;
        printf("# batch: sqlite3 imported the CSV in %.1f s\n", bench_now() - t0);
    }
    for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
        const batch_query *bq = &queries[qi];
        double ts[16], tq[16], ratio[16];
        uint64_t rows = 0, sq_rows = 0;
        bool sq_ok = have_sqlite;

        for (int r = 0; r < runs; r++) {
            ts[r] = run_sluice(in, bq->sluice, &rows);
            if (sq_ok) {
                snprintf(cmd, sizeof(cmd), "%s %s '%s' > /dev/null", sqlite3, db, bq->sqlite);
                tq[r] = run_timed(cmd);
                sq_ok = tq[r] > 0;
                ratio[r] = sq_ok ? tq[r] / ts[r] : 0;
            }
        }
        if (sq_ok) {
            char out[64];
            FILE *p;

            snprintf(cmd, sizeof(cmd), "%s %s 'SELECT COUNT(*) FROM (%.*s);'", sqlite3, db,
                     (int)strlen(bq->sqlite) - 1, bq->sqlite);
            p = popen(cmd, "r");
            if (p && fgets(out, sizeof(out), p))
                sq_rows = strtoull(out, NULL, 10);
            if (p)
                pclose(p);
        }
        printf("RESULT batch %s %.0f events/s sluice_s=%.3f", bq->name,
               (double)n / bench_median(ts, runs), bench_median(ts, runs));
        if (sq_ok)
            printf(" sqlite3_s=%.3f speedup=%.2fx rows=%llu sqlite3_rows=%llu%s\n",
                   bench_median(tq, runs), bench_median(ratio, runs), (unsigned long long)rows,
                   (unsigned long long)sq_rows, rows == sq_rows ? "" : " MISMATCH");
        else
            printf(" sqlite3_s=n/a rows=%llu\n", (unsigned long long)rows);
        fflush(stdout);
    }
    sl_instance_close(in);
    return 0;
}
