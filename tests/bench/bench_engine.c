/* bench_engine.c: engine throughput on Nexmark queries, in process, rows already decoded.
 *
 * The Bid stream's DDL and each query are parsed and planned by the real compiler
 * (sl_parse, sl_plan_build); the generated bids are laid out in memory first, then pushed
 * one by one through sl_query_push and closed with sl_query_finish, which is what the
 * server does per ingested row minus storage and JSON.  A sink counts the output rows.
 * Each query runs --runs times over the same rows; the figure is the median, in bids per
 * second of wall time on one thread (so per core), with the CPU the process used over
 * the same interval.  A query that does not compile yet (HOPPING, say) is reported as
 * not measurable with the compiler's error.
 *
 *   bench_engine [--events N] [--runs R] [--seed S] [--only NAME]
 *   RESULT engine q0 <bids/s> events/s cpu=<%> per_cpu_second=<bids per CPU second>
 *       out=<rows> runs=<r1,r2,...> */
#include "bench_util.h"
#include "nexmark.h"

#include "mem.h"
#include "parse.h"
#include "plan.h"
#include "query.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct bench_query {
    const char *name;
    const char *sql;
} bench_query;

/* Nexmark's queries as sluice SQL (q5, q7 and q12 in the shape the issue names). */
static const bench_query queries[] = {
    {"q0", "SELECT * FROM bid EMIT CHANGES"},
    {"q1", "SELECT auction, bidder, 0.908 * price AS price, datetime FROM bid EMIT CHANGES"},
    {"q2", "SELECT auction, price FROM bid WHERE auction % 123 = 0 EMIT CHANGES"},
    {"q5", "SELECT auction, COUNT(*) AS num FROM bid "
           "WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 2 SECONDS) GROUP BY auction EMIT FINAL"},
    {"q7", "SELECT MAX(price) AS maxprice FROM bid WINDOW TUMBLING (SIZE 10 SECONDS) EMIT FINAL"},
    {"q12", "SELECT bidder, COUNT(*) AS bid_count FROM bid WINDOW TUMBLING (SIZE 10 SECONDS) "
            "GROUP BY bidder EMIT FINAL"},
    {"q7-changes", "SELECT MAX(price) AS maxprice FROM bid WINDOW TUMBLING (SIZE 10 SECONDS) "
                   "EMIT CHANGES"},
    {"q12-changes", "SELECT bidder, COUNT(*) AS bid_count FROM bid "
                    "WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY bidder EMIT CHANGES"},
    /* SLIDING windows: aggregates that retract keep a running window per group; MAX
     * computes each window from the group's buffered rows. */
    {"sliding-sum", "SELECT auction, COUNT(*) AS n, SUM(price) AS total FROM bid "
                    "WINDOW SLIDING (SIZE 10 SECONDS) GROUP BY auction EMIT CHANGES"},
    {"sliding-max", "SELECT auction, MAX(price) AS top FROM bid "
                    "WINDOW SLIDING (SIZE 10 SECONDS) GROUP BY auction EMIT CHANGES"},
    /* sliding-sum with an aggregate that cannot retract (a MIN that changes no row):
     * the same rows, each computed from the buffer; the ratio is the running window's
     * gain. */
    {"sliding-sum-rebuilt", "SELECT auction, COUNT(*) AS n, SUM(price) AS total FROM bid "
                            "WINDOW SLIDING (SIZE 10 SECONDS) GROUP BY auction "
                            "HAVING MIN(price) IS NULL OR TRUE EMIT CHANGES"},
};

static const sl_schema *one_schema(void *ctx, const char *name)
{
    const sl_schema *s = ctx;

    return strcmp(name, s->name) == 0 ? s : NULL;
}

typedef struct counter {
    uint64_t rows;
    int64_t check; /* folds something of every row so nothing is optimised away */
} counter;

static void count_emit(void *ctx, sl_change change, const sl_row *row)
{
    counter *c = ctx;

    c->rows++;
    c->check += row->rowtime + (int64_t)change;
}

/* Parses and plans sql against schema; *out is the plan (caller frees), or NULL with a
 * message in err. */
static int compile(const char *sql, const sl_schema *schema, sl_plan **out, sl_error *err)
{
    sl_catalog cat = {.ctx = (void *)schema, .lookup = one_schema};
    sl_stmt_list *list = NULL;
    int rc = -1;

    *out = NULL;
    if (sl_parse(sql, strlen(sql), &list, err) < 0)
        goto fail;
    if (list->n != 1 || list->stmts[0].kind != SL_STMT_SELECT) {
        sl_error_set(err, SL_ERR_UNSUPPORTED, 0, 0, "not one SELECT");
        goto fail;
    }
    rc = sl_plan_build(list->stmts[0].select, &cat, out, err);
fail:
    sl_stmt_list_free(list);
    return rc;
}

/* The Bid schema from its DDL; caller frees with sl_schema_free. */
static sl_schema *bid_schema(void)
{
    sl_stmt_list *list = NULL;
    sl_schema *s = NULL;
    sl_error err;

    if (sl_parse(SL_NEXMARK_BID_DDL, strlen(SL_NEXMARK_BID_DDL), &list, &err) < 0) {
        fprintf(stderr, "bench_engine: the Bid DDL does not parse: %s\n", err.message);
        exit(1);
    }
    s = sl_schema_copy(list->stmts[0].schema);
    sl_stmt_list_free(list);
    return s;
}

/* Runs one query over rows once; returns 0 and fills wall, cpu and out. */
static int run_once(const sl_plan *plan, sl_row *const *rows, size_t n, double *wall, double *cpu,
                    uint64_t *out)
{
    counter c = {0, 0};
    sl_sink sink = {.ctx = &c, .emit = count_emit};
    sl_query *q = sl_query_new(plan, &sink);
    double w0, c0;
    sl_error err;

    w0 = bench_now();
    c0 = bench_cpu();
    for (size_t i = 0; i < n; i++) {
        if (sl_query_push(q, rows[i], &err) < 0) {
            fprintf(stderr, "bench_engine: push failed: %s\n", err.message);
            sl_query_free(q);
            return -1;
        }
    }
    sl_query_finish(q);
    *cpu = bench_cpu() - c0;
    *wall = bench_now() - w0;
    *out = c.rows;
    sl_query_free(q);
    return c.check == 42 ? 1 : 0; /* never 42 in practice; keeps c.check live */
}

int main(int argc, char **argv)
{
    size_t n = (size_t)bench_opt(argc, argv, "--events", 2000000);
    int runs = (int)bench_opt(argc, argv, "--runs", 5);
    uint64_t seed = (uint64_t)bench_opt(argc, argv, "--seed", 42);
    const char *only = bench_opt_str(argc, argv, "--only", NULL);
    size_t stride = sizeof(sl_row) + SL_NEXMARK_BID_NCOLS * sizeof(sl_value);
    sl_schema *schema = bid_schema();
    sl_nexmark *gen = sl_nexmark_new(seed, 1700000000000);
    char *block = sl_xmalloc(n * stride);
    sl_row **rows = sl_xmalloc(n * sizeof(*rows));
    double *rates;
    double *cpus, *per_cpu;

    if (runs < 1)
        runs = 1;
    rates = sl_xmalloc((size_t)runs * sizeof(double));
    cpus = sl_xmalloc((size_t)runs * sizeof(double));
    per_cpu = sl_xmalloc((size_t)runs * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        rows[i] = (sl_row *)(block + i * stride);
        rows[i]->ncols = SL_NEXMARK_BID_NCOLS;
        sl_nexmark_bid_row(sl_nexmark_next_bid(gen), rows[i]);
    }
    printf("# engine: %zu bids in memory, %d runs per query, one thread\n", n, runs);
    for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
        const bench_query *bq = &queries[qi];
        sl_plan *plan = NULL;
        sl_error err;
        uint64_t out = 0;
        char list[512] = "";
        size_t used = 0;

        if (only && strcmp(only, bq->name) != 0)
            continue;
        if (compile(bq->sql, schema, &plan, &err) < 0) {
            printf("RESULT engine %s n/a events/s error=%s:\"%s\"\n", bq->name,
                   sl_error_code_name(err.code), err.message);
            continue;
        }
        for (int r = 0; r < runs; r++) {
            double wall, cpu;

            if (run_once(plan, rows, n, &wall, &cpu, &out) < 0)
                return 1;
            rates[r] = (double)n / wall;
            cpus[r] = 100.0 * cpu / wall;
            per_cpu[r] = (double)n / cpu;
            if (used < sizeof(list) - 32)
                used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%.0f", r ? "," : "",
                                         rates[r]);
        }
        printf("RESULT engine %s %.0f events/s cpu=%.0f%% per_cpu_second=%.0f out=%llu runs=%s\n",
               bq->name, bench_median(rates, runs), bench_median(cpus, runs),
               bench_median(per_cpu, runs), (unsigned long long)out, list);
        fflush(stdout);
        sl_plan_free(plan);
    }
    free(per_cpu);
    free(cpus);
    free(rates);
    free(rows);
    free(block);
    sl_nexmark_free(gen);
    sl_schema_free(schema);
    return 0;
}
