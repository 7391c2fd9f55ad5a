/* test_plan.c: binding and planning (parser/plan.c) and EXPLAIN (parser/explain.c):
 * node pipelines, result names and types, aggregate layouts and keys, binding errors,
 * and the exact EXPLAIN text.  The catalog is a static lookup function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse.h"
#include "plan.h"
#include "typedesc.h"

#include <stdlib.h>
#include <string.h>

static sl_column pv_cols[] = {
    {"VIEWTIME", SL_T_BIGINT, false, false, NULL}, {"USERID", SL_T_VARCHAR, true, false, NULL},
    {"PAGEID", SL_T_VARCHAR, false, false, NULL},  {"DURATION", SL_T_INT, false, false, NULL},
    {"PRICE", SL_T_DOUBLE, false, false, NULL},    {"OK", SL_T_BOOLEAN, false, false, NULL},
    {"TS", SL_T_TIMESTAMP, false, false, NULL},
};
static const sl_schema pageviews = {"PAGEVIEWS", false, 7, pv_cols, -1, 0, 0, NULL};

static const sl_typedesc amount_type = {.kind = SL_T_DECIMAL, .precision = 10, .scale = 2};
static const sl_typedesc big_type = {.kind = SL_T_DECIMAL, .precision = 38, .scale = 0};
static sl_column orders_cols[] = {
    {"AMOUNT", SL_T_DECIMAL, false, false, &amount_type},
    {"QTY", SL_T_INT, false, false, NULL},
    {"N", SL_T_BIGINT, false, false, NULL},
    {"PRICE", SL_T_DOUBLE, false, false, NULL},
    {"BIG", SL_T_DECIMAL, false, false, &big_type},
    {"S", SL_T_VARCHAR, false, false, NULL},
    {"OK", SL_T_BOOLEAN, false, false, NULL},
    {"TS", SL_T_TIMESTAMP, false, false, NULL},
};
static const sl_schema orders = {"ORDERS", false, 8, orders_cols, -1, 0, 0, NULL};

static sl_column mixed_cols[] = {{"camelCase", SL_T_INT, false, true, NULL}};
static const sl_schema mixed = {"Mixed", true, 1, mixed_cols, -1, 0, 0, NULL};

static const sl_schema *lookup(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "PAGEVIEWS") == 0)
        return &pageviews;
    if (strcmp(name, "Mixed") == 0)
        return &mixed;
    if (strcmp(name, "ORDERS") == 0)
        return &orders;
    return NULL;
}

static const sl_catalog catalog = {NULL, lookup, NULL};

/* Parses sql (one SELECT or EXPLAIN) and plans it; the statement list is freed before
 * returning, so the plan must not point into it.  Returns sl_plan_build's result. */
static int build(const char *sql, sl_plan **plan, sl_error *err)
{
    sl_stmt_list *list;
    int rc;

    if (sl_parse(sql, strlen(sql), &list, err) < 0)
        fail_msg("%s: %s", sql, err->message);
    rc = sl_plan_build(list->stmts[0].select, &catalog, plan, err);
    sl_stmt_list_free(list);
    return rc;
}

static sl_plan *build_ok(const char *sql)
{
    sl_plan *plan;
    sl_error err;

    if (build(sql, &plan, &err) < 0)
        fail_msg("%s: %d:%d %s", sql, err.line, err.column, err.message);
    return plan;
}

static void check_cols(const sl_plan *plan, const char *const *names, const sl_type *types, int n)
{
    assert_int_equal(plan->ncols, n);
    assert_ptr_equal(plan->cols, plan->root->cols);
    assert_int_equal(plan->root->ncols, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(plan->cols[i].name, names[i]);
        if (plan->cols[i].type != types[i])
            fail_msg("column %s: %s, want %s", names[i], sl_type_name(plan->cols[i].type),
                     sl_type_name(types[i]));
    }
}

static void check_explain(const sl_plan *plan, const char *want)
{
    char *text = sl_plan_explain(plan);

    assert_string_equal(text, want);
    free(text);
}

static void test_projection(void **state)
{
    const char *const names[] = {"PAGEID", "KSQL_COL_0", "D", "KSQL_COL_1", "ROWTIME", "TS"};
    const sl_type types[] = {SL_T_VARCHAR, SL_T_INT,    SL_T_DECIMAL,
                             SL_T_VARCHAR, SL_T_BIGINT, SL_T_TIMESTAMP};
    sl_plan *plan = build_ok("SELECT pageid, duration * 2, duration + 1.5 AS d, 'it''s',"
                             " rowtime, p.ts FROM pageviews p WHERE duration > 10");
    const sl_node *project = plan->root, *filter = project->input, *source = filter->input;

    (void)state;
    check_cols(plan, names, types, 6);
    /* An INT plus the DECIMAL(2, 1) literal 1.5: DECIMAL(10, 0) + DECIMAL(2, 1). */
    assert_int_equal(plan->cols[2].desc->precision, 12);
    assert_int_equal(plan->cols[2].desc->scale, 1);
    assert_string_equal(plan->source, "PAGEVIEWS");
    assert_int_equal(plan->emit, SL_EMIT_BATCH);
    assert_false(plan->aggregate);
    assert_false(plan->windowed);
    assert_int_equal(plan->nkeys, 0);
    assert_int_equal(project->kind, SL_NODE_PROJECT);
    assert_int_equal(project->u.project.nexprs, 6);
    assert_int_equal(project->u.project.exprs[0]->kind, SL_EX_COLUMN);
    assert_int_equal(project->u.project.exprs[0]->u.col, 2);
    assert_int_equal(project->u.project.exprs[3]->kind, SL_EX_LITERAL);
    assert_int_equal(project->u.project.exprs[3]->u.lit.u.s.len, 4);
    assert_memory_equal(project->u.project.exprs[3]->u.lit.u.s.ptr, "it's", 4);
    assert_int_equal(project->u.project.exprs[4]->kind, SL_EX_ROWTIME);
    assert_int_equal(filter->kind, SL_NODE_FILTER);
    assert_int_equal(filter->ncols, 7);
    assert_int_equal(filter->u.filter.pred->type, SL_T_BOOLEAN);
    assert_int_equal(filter->u.filter.pred->line, 1);
    assert_int_equal(source->kind, SL_NODE_SOURCE);
    assert_null(source->input);
    assert_string_equal(source->u.source.stream, "PAGEVIEWS");
    assert_int_equal(source->ncols, 7);
    assert_string_equal(source->cols[6].name, "TS");
    assert_int_equal(source->cols[6].type, SL_T_TIMESTAMP);
    check_explain(plan, "PROJECT [PAGEID, KSQL_COL_0 := DURATION * 2, D := DURATION + 1.5, "
                        "KSQL_COL_1 := 'it''s', ROWTIME, TS]\n"
                        "  FILTER DURATION > 10\n"
                        "    SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
    sl_plan_free(NULL);
}

static void test_star(void **state)
{
    const char *const names[] = {"VIEWTIME", "USERID", "PAGEID", "DURATION",
                                 "PRICE",    "OK",     "TS",     "X"};
    const sl_type types[] = {SL_T_BIGINT, SL_T_VARCHAR, SL_T_VARCHAR,   SL_T_INT,
                             SL_T_DOUBLE, SL_T_BOOLEAN, SL_T_TIMESTAMP, SL_T_INT};
    sl_plan *plan = build_ok("SELECT *, 1 AS x FROM pageviews EMIT CHANGES");

    (void)state;
    check_cols(plan, names, types, 8);
    assert_int_equal(plan->emit, SL_EMIT_CHANGES);
    assert_int_equal(plan->root->input->kind, SL_NODE_SOURCE);
    for (int i = 0; i < 7; i++)
        assert_int_equal(plan->root->u.project.exprs[i]->u.col, i);
    sl_plan_free(plan);

    plan = build_ok("SELECT \"camelCase\" AS c, m.* FROM \"Mixed\" AS m");
    assert_string_equal(plan->source, "Mixed");
    assert_string_equal(plan->cols[0].name, "C");
    assert_string_equal(plan->cols[1].name, "camelCase");
    sl_plan_free(plan);
    /* Two identical names from a star: one must be renamed. */
    plan = (sl_plan *)&plan;
    sl_error err;
    assert_int_equal(build("SELECT *, m.* FROM \"Mixed\" AS m", &plan, &err), -1);
    assert_null(plan);
    assert_int_equal(err.code, SL_ERR_UNSUPPORTED);
    assert_int_equal(err.column, 11);
    assert_string_equal(err.message, "duplicate result column name 'camelCase' (use AS to rename)");
}

/* The query from the brief: layouts, keys and EXPLAIN of a windowed EMIT FINAL count. */
static void test_windowed_count(void **state)
{
    const char *const names[] = {"WINDOWSTART", "WINDOWEND", "PAGEID", "C"};
    const sl_type types[] = {SL_T_BIGINT, SL_T_BIGINT, SL_T_VARCHAR, SL_T_BIGINT};
    sl_plan *plan = build_ok("SELECT pageid, COUNT(*) AS c FROM pageviews "
                             "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY pageid EMIT FINAL");
    const sl_node *project = plan->root, *agg = project->input;

    (void)state;
    check_cols(plan, names, types, 4);
    assert_true(plan->aggregate);
    assert_true(plan->windowed);
    assert_int_equal(plan->emit, SL_EMIT_FINAL);
    assert_int_equal(plan->nkeys, 3);
    assert_int_equal(plan->keys[0], 0);
    assert_int_equal(plan->keys[1], 1);
    assert_int_equal(plan->keys[2], 2);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(project->u.project.exprs[i]->kind, SL_EX_COLUMN);
        assert_int_equal(project->u.project.exprs[i]->u.col, i);
    }
    assert_int_equal(agg->kind, SL_NODE_AGGREGATE);
    assert_int_equal(agg->u.aggregate.window.kind, SL_WINDOW_TUMBLING);
    assert_int_equal(agg->u.aggregate.window.size_ms, 60000);
    assert_int_equal(agg->u.aggregate.window.advance_ms, 60000);
    assert_int_equal(agg->u.aggregate.window.grace_ms, 0);
    assert_int_equal(agg->u.aggregate.emit, SL_EMIT_FINAL);
    assert_int_equal(agg->u.aggregate.ngroups, 1);
    assert_int_equal(agg->u.aggregate.groups[0]->kind, SL_EX_COLUMN);
    assert_int_equal(agg->u.aggregate.groups[0]->u.col, 2);
    assert_int_equal(agg->u.aggregate.naggs, 1);
    assert_int_equal(agg->u.aggregate.aggs[0].fn, SL_AGG_COUNT);
    assert_null(agg->u.aggregate.aggs[0].arg);
    assert_int_equal(agg->u.aggregate.aggs[0].type, SL_T_BIGINT);
    assert_int_equal(agg->ncols, 4);
    assert_string_equal(agg->cols[0].name, "WINDOWSTART");
    assert_string_equal(agg->cols[1].name, "WINDOWEND");
    assert_string_equal(agg->cols[2].name, "PAGEID");
    assert_string_equal(agg->cols[3].name, "COUNT(*)");
    assert_int_equal(agg->input->kind, SL_NODE_SOURCE);
    check_explain(plan, "PROJECT [WINDOWSTART, WINDOWEND, PAGEID, C := COUNT(*)]\n"
                        "  AGGREGATE TUMBLING(SIZE 60000 ms, GRACE 0 ms) EMIT FINAL GROUP BY "
                        "[PAGEID]\n"
                        "    SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
}

/* WINDOWSTART/WINDOWEND selected anywhere move to the front; aliased they stay put. */
static void test_window_bounds_selected(void **state)
{
    const char *const names[] = {"WINDOWSTART", "WINDOWEND", "PAGEID", "C", "WS"};
    const sl_type types[] = {SL_T_BIGINT, SL_T_BIGINT, SL_T_VARCHAR, SL_T_BIGINT, SL_T_BIGINT};
    sl_plan *plan = build_ok("SELECT pageid, WINDOWEND, COUNT(*) AS c, WINDOWSTART,"
                             " windowstart AS ws FROM pageviews"
                             " WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 5 SECONDS)"
                             " GROUP BY pageid HAVING WINDOWEND - WINDOWSTART > 0 EMIT CHANGES");
    const sl_node *having = plan->root->input, *agg = having->input;

    (void)state;
    check_cols(plan, names, types, 5);
    assert_int_equal(plan->nkeys, 3);
    assert_int_equal(plan->root->u.project.exprs[4]->u.col, 0);
    assert_int_equal(having->kind, SL_NODE_FILTER);
    assert_int_equal(agg->u.aggregate.window.grace_ms, 5000);
    assert_int_equal(agg->u.aggregate.emit, SL_EMIT_CHANGES);
    check_explain(plan, "PROJECT [WINDOWSTART, WINDOWEND, PAGEID, C := COUNT(*), WS := "
                        "WINDOWSTART]\n"
                        "  FILTER (WINDOWEND - WINDOWSTART) > 0\n"
                        "    AGGREGATE TUMBLING(SIZE 10000 ms, GRACE 5000 ms) EMIT CHANGES "
                        "GROUP BY [PAGEID]\n"
                        "      SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
}

/* Identical aggregate calls are shared; types follow plan.h; HAVING may add calls. */
static void test_aggregates(void **state)
{
    const char *const names[] = {"USERID",     "KSQL_COL_0", "C1",
                                 "KSQL_COL_1", "KSQL_COL_2", "KSQL_COL_3",
                                 "KSQL_COL_4", "KSQL_COL_5", "KSQL_COL_6"};
    const sl_type types[] = {SL_T_VARCHAR, SL_T_BIGINT,    SL_T_BIGINT, SL_T_BIGINT, SL_T_DOUBLE,
                             SL_T_VARCHAR, SL_T_TIMESTAMP, SL_T_BIGINT, SL_T_DOUBLE};
    sl_plan *plan = build_ok("SELECT userid, COUNT(*), COUNT(*) + 1 AS c1, SUM(duration),"
                             " AVG(price), MIN(pageid), MAX(ts), count(price), SUM(price)"
                             " FROM pageviews GROUP BY userid"
                             " HAVING COUNT(*) > 1 AND MAX(viewtime) > 0 EMIT CHANGES");
    const sl_node *having = plan->root->input, *agg = having->input;
    static const struct {
        sl_agg_fn fn;
        sl_type type;
        const char *name;
    } want[] = {
        {SL_AGG_COUNT, SL_T_BIGINT, "COUNT(*)"}, {SL_AGG_SUM, SL_T_BIGINT, "SUM(DURATION)"},
        {SL_AGG_AVG, SL_T_DOUBLE, "AVG(PRICE)"}, {SL_AGG_MIN, SL_T_VARCHAR, "MIN(PAGEID)"},
        {SL_AGG_MAX, SL_T_TIMESTAMP, "MAX(TS)"}, {SL_AGG_COUNT, SL_T_BIGINT, "COUNT(PRICE)"},
        {SL_AGG_SUM, SL_T_DOUBLE, "SUM(PRICE)"}, {SL_AGG_MAX, SL_T_BIGINT, "MAX(VIEWTIME)"}};

    (void)state;
    check_cols(plan, names, types, 9);
    assert_false(plan->windowed);
    assert_int_equal(plan->nkeys, 1);
    assert_int_equal(plan->keys[0], 0);
    assert_int_equal(agg->u.aggregate.window.kind, SL_WINDOW_NONE);
    assert_int_equal(agg->u.aggregate.naggs, 8);
    assert_int_equal(agg->ncols, 9);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(agg->u.aggregate.aggs[i].fn, want[i].fn);
        assert_int_equal(agg->u.aggregate.aggs[i].type, want[i].type);
        assert_string_equal(agg->cols[1 + i].name, want[i].name);
    }
    assert_int_equal(plan->root->u.project.exprs[1]->u.col, 1);
    assert_int_equal(plan->root->u.project.exprs[2]->kind, SL_EX_BINARY);
    assert_int_equal(plan->root->u.project.exprs[2]->u.binary.left->u.col, 1);
    check_explain(plan, "PROJECT [USERID, KSQL_COL_0 := COUNT(*), C1 := COUNT(*) + 1, "
                        "KSQL_COL_1 := SUM(DURATION), KSQL_COL_2 := AVG(PRICE), "
                        "KSQL_COL_3 := MIN(PAGEID), KSQL_COL_4 := MAX(TS), "
                        "KSQL_COL_5 := COUNT(PRICE), KSQL_COL_6 := SUM(PRICE)]\n"
                        "  FILTER (COUNT(*) > 1) AND (MAX(VIEWTIME) > 0)\n"
                        "    AGGREGATE EMIT CHANGES GROUP BY [USERID]\n"
                        "      SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
}

/* A subexpression equal to a GROUP BY expression becomes a column of the aggregate. */
static void test_group_by_expression(void **state)
{
    sl_plan *plan = build_ok("SELECT duration + 1, (duration + 1) * 2 AS d2, COUNT(*) AS n,"
                             " SUM(duration + 1) FROM pageviews WHERE ok GROUP BY duration + 1");
    const sl_node *agg = plan->root->input;
    const sl_expr *d2 = plan->root->u.project.exprs[1];

    (void)state;
    assert_string_equal(plan->cols[0].name, "KSQL_COL_0");
    assert_int_equal(plan->cols[0].type, SL_T_INT);
    assert_int_equal(plan->root->u.project.exprs[0]->kind, SL_EX_COLUMN);
    assert_int_equal(plan->root->u.project.exprs[0]->u.col, 0);
    assert_int_equal(d2->kind, SL_EX_BINARY);
    assert_int_equal(d2->u.binary.op, SL_OP_MUL);
    assert_int_equal(d2->u.binary.left->kind, SL_EX_COLUMN);
    assert_int_equal(d2->u.binary.left->u.col, 0);
    assert_int_equal(plan->nkeys, 1);
    assert_int_equal(plan->keys[0], 0);
    assert_string_equal(agg->cols[0].name, "DURATION + 1");
    assert_string_equal(agg->cols[2].name, "SUM(DURATION + 1)");
    check_explain(plan, "PROJECT [KSQL_COL_0 := DURATION + 1, D2 := (DURATION + 1) * 2, "
                        "N := COUNT(*), KSQL_COL_1 := SUM(DURATION + 1)]\n"
                        "  AGGREGATE GROUP BY [DURATION + 1]\n"
                        "    FILTER OK\n"
                        "      SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
}

static void test_global_aggregate(void **state)
{
    sl_plan *plan = build_ok("SELECT COUNT(*), MIN(price) - 1 FROM pageviews");
    const sl_node *agg = plan->root->input;

    (void)state;
    assert_true(plan->aggregate);
    assert_int_equal(agg->u.aggregate.ngroups, 0);
    assert_int_equal(agg->u.aggregate.naggs, 2);
    assert_int_equal(plan->nkeys, 0);
    assert_string_equal(plan->cols[0].name, "KSQL_COL_0");
    assert_string_equal(plan->cols[1].name, "KSQL_COL_1");
    assert_int_equal(plan->cols[1].type, SL_T_DOUBLE);
    check_explain(plan, "PROJECT [KSQL_COL_0 := COUNT(*), KSQL_COL_1 := MIN(PRICE) - 1]\n"
                        "  AGGREGATE\n"
                        "    SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);

    plan = build_ok("SELECT COUNT(*) AS n FROM pageviews WINDOW TUMBLING (SIZE 1 DAY)");
    assert_true(plan->windowed);
    assert_int_equal(plan->nkeys, 2);
    assert_string_equal(plan->cols[2].name, "N");
    sl_plan_free(plan);
}

static void test_types(void **state)
{
    const sl_type types[] = {SL_T_BOOLEAN, SL_T_BOOLEAN, SL_T_BOOLEAN, SL_T_BIGINT,
                             SL_T_DOUBLE,  SL_T_INT,     SL_T_INT,     SL_T_BOOLEAN,
                             SL_T_BOOLEAN, SL_T_BOOLEAN, SL_T_BOOLEAN, SL_T_NULL,
                             SL_T_BIGINT,  SL_T_DECIMAL, SL_T_BOOLEAN, SL_T_BOOLEAN};
    sl_plan *plan = build_ok("SELECT ts > 0, ts = ts, viewtime > ts, duration + viewtime,"
                             " duration + price, -duration, NULL + 1, pageid IS NULL,"
                             " NULL = pageid, ok AND NULL, NOT ok, NULL, rowtime % 7,"
                             " 7 / 2.0, 'a' < 'b', ok <> TRUE FROM pageviews");

    (void)state;
    assert_int_equal(plan->ncols, 16);
    for (int i = 0; i < 16; i++) {
        if (plan->cols[i].type != types[i])
            fail_msg("column %d: %s, want %s", i, sl_type_name(plan->cols[i].type),
                     sl_type_name(types[i]));
    }
    sl_plan_free(plan);
}

/* The SQL type of result column i ("DECIMAL(10, 2)", "DOUBLE") into buf. */
static const char *col_type(const sl_plan *plan, int i, sl_buf *buf)
{
    sl_buf_reset(buf);
    if (plan->cols[i].desc)
        sl_typedesc_format(plan->cols[i].desc, buf);
    else
        sl_buf_puts(buf, sl_type_name(plan->cols[i].type));
    return buf->data;
}

/* DECIMAL literals and results: ksqlDB's precision and scale rules (capped at 38),
 * INT and BIGINT widening to DECIMAL(10, 0) and DECIMAL(19, 0), DOUBLE winning over
 * DECIMAL, and the functions and aggregates that keep or change a DECIMAL's type. */
static void test_decimal_types(void **state)
{
    static const struct {
        const char *expr, *type;
    } cases[] = {
        {"1.5", "DECIMAL(2, 1)"},
        {"1.50", "DECIMAL(3, 2)"},
        {"-0.05", "DECIMAL(2, 2)"},
        {"1.5E0", "DOUBLE"},
        {"amount", "DECIMAL(10, 2)"},
        {"amount + amount", "DECIMAL(11, 2)"},
        {"amount - 0.005", "DECIMAL(12, 3)"},
        {"amount * 2", "DECIMAL(21, 2)"},
        {"amount * n", "DECIMAL(30, 2)"},
        {"amount / 3", "DECIMAL(21, 13)"},
        {"amount % 7", "DECIMAL(10, 2)"},
        {"qty + 0.5", "DECIMAL(12, 1)"},
        {"amount + price", "DOUBLE"},
        {"amount * 1.5E0", "DOUBLE"},
        {"-amount", "DECIMAL(10, 2)"},
        {"NULL + amount", "DECIMAL(10, 2)"},
        {"big * big", "DECIMAL(38, 0)"},
        {"big / big", "DECIMAL(38, 6)"},
        {"CAST(amount AS DECIMAL(38, 10)) * CAST(amount AS DECIMAL(38, 10))", "DECIMAL(38, 6)"},
        {"ABS(amount)", "DECIMAL(10, 2)"},
        {"FLOOR(amount)", "DECIMAL(11, 2)"},
        {"CEIL(big)", "DECIMAL(38, 0)"},
        {"ROUND(amount)", "DECIMAL(9, 0)"},
        {"ROUND(amount, 1)", "DECIMAL(11, 2)"},
        {"ROUND(big, -2)", "DECIMAL(38, 0)"},
        {"SQRT(amount)", "DOUBLE"},
        {"CAST(amount AS DECIMAL(4, 1))", "DECIMAL(4, 1)"},
        {"CAST(s AS DECIMAL(5, 3))", "DECIMAL(5, 3)"},
        {"CAST(amount AS DOUBLE)", "DOUBLE"},
        {"CAST(amount AS INT)", "INT"},
        {"CAST(amount AS VARCHAR)", "VARCHAR"},
        {"COALESCE(amount, 0)", "DECIMAL(12, 2)"},
        {"GREATEST(amount, 1.5, qty)", "DECIMAL(12, 2)"},
        {"CASE WHEN ok THEN amount ELSE 0.001 END", "DECIMAL(11, 3)"},
        {"COALESCE(amount, price)", "DOUBLE"},
        {"NULLIF(amount, 0)", "DECIMAL(10, 2)"},
        {"amount > 1", "BOOLEAN"},
        {"amount = price", "BOOLEAN"},
        {"amount IN (1, 2.5)", "BOOLEAN"},
        {"amount BETWEEN qty AND big", "BOOLEAN"},
    };
    sl_buf sql = SL_BUF_INIT, type = SL_BUF_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_plan *plan;

        sl_buf_reset(&sql);
        sl_buf_printf(&sql, "SELECT %s AS x FROM orders", cases[i].expr);
        plan = build_ok(sql.data);
        if (strcmp(col_type(plan, 0, &type), cases[i].type) != 0)
            fail_msg("%s: %s, want %s", cases[i].expr, type.data, cases[i].type);
        sl_plan_free(plan);
    }
    /* Aggregates: SUM keeps the DECIMAL (ksqlDB), AVG is a DOUBLE. */
    sl_plan *plan = build_ok("SELECT qty, SUM(amount) AS s, AVG(amount) AS a, MIN(amount) AS lo,"
                             " MAX(big) AS hi, SUM(qty * 1.25) AS t FROM orders GROUP BY qty");
    const char *const want[] = {
        "INT", "DECIMAL(10, 2)", "DOUBLE", "DECIMAL(10, 2)", "DECIMAL(38, 0)", "DECIMAL(14, 2)"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(col_type(plan, i, &type), want[i]);
    sl_plan_free(plan);
    /* A GROUP BY key of type DECIMAL. */
    plan = build_ok("SELECT amount, COUNT(*) AS c FROM orders GROUP BY amount");
    assert_string_equal(col_type(plan, 0, &type), "DECIMAL(10, 2)");
    assert_int_equal(plan->nkeys, 1);
    check_explain(plan, "PROJECT [AMOUNT, C := COUNT(*)]\n"
                        "  AGGREGATE GROUP BY [AMOUNT]\n"
                        "    SOURCE ORDERS\n");
    sl_plan_free(plan);
    /* Literals print as they read back: a DECIMAL as written, a DOUBLE with an exponent. */
    plan = build_ok("SELECT amount * 1.50 + 2.5E0 AS x FROM orders WHERE amount > -0.05");
    check_explain(plan, "PROJECT [X := (AMOUNT * 1.50) + 2.5E0]\n"
                        "  FILTER AMOUNT > -0.05\n"
                        "    SOURCE ORDERS\n");
    sl_plan_free(plan);
    sl_buf_free(&sql);
    sl_buf_free(&type);
}

/* Type errors with DECIMALs, at the operator (line and column). */
static void test_decimal_errors(void **state)
{
    static const struct {
        const char *sql;
        int line, column;
        const char *message;
    } cases[] = {
        {"SELECT qty,\n  amount + s FROM orders", 2, 10,
         "cannot apply '+' to DECIMAL(10, 2) and VARCHAR"},
        {"SELECT amount = ts FROM orders", 1, 15,
         "cannot apply '=' to DECIMAL(10, 2) and TIMESTAMP"},
        {"SELECT amount AND ok FROM orders", 1, 15,
         "cannot apply 'AND' to DECIMAL(10, 2) and BOOLEAN"},
        {"SELECT CAST(amount AS BOOLEAN) FROM orders", 1, 8,
         "cannot cast DECIMAL(10, 2) to BOOLEAN"},
        {"SELECT CAST(ts AS DECIMAL(5, 0)) FROM orders", 1, 8,
         "cannot cast TIMESTAMP to DECIMAL(5, 0)"},
        {"SELECT CASE WHEN ok THEN amount ELSE 'x' END FROM orders", 1, 38,
         "CASE results have incompatible types DECIMAL(10, 2) and VARCHAR"},
        {"SELECT ROUND(amount, 1.5) FROM orders", 1, 8,
         "cannot apply ROUND to (DECIMAL(10, 2), DECIMAL(2, 1))"},
        {"SELECT LEN(amount) FROM orders", 1, 8, "cannot apply LEN to (DECIMAL(10, 2))"},
        {"SELECT amount FROM orders WHERE amount", 1, 33,
         "WHERE must be BOOLEAN, not DECIMAL(10, 2)"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_plan *plan = NULL;
        sl_error err;

        if (build(cases[i].sql, &plan, &err) == 0)
            fail_msg("%s: planned, want an error", cases[i].sql);
        assert_int_equal(err.code, SL_ERR_TYPE_ERROR);
        assert_string_equal(err.message, cases[i].message);
        assert_int_equal(err.line, cases[i].line);
        assert_int_equal(err.column, cases[i].column);
        assert_null(plan);
    }
}

/* TOPK, COLLECT_LIST and COLLECT_SET return an ARRAY of their argument's type; TOPK's
 * k is its parameter, and calls that differ only in k are distinct. */
static void test_array_aggregates(void **state)
{
    static const char *const want[] = {"ARRAY<INT>",    "ARRAY<VARCHAR>", "ARRAY<TIMESTAMP>",
                                       "ARRAY<DOUBLE>", "ARRAY<INT>",     "ARRAY<BOOLEAN>"};
    sl_plan *plan = build_ok("SELECT TOPK(duration, 3) AS t3, COLLECT_LIST(pageid) AS l,"
                             " COLLECT_SET(ts) AS s, TOPK(price, 2) AS tp, TOPK(duration, 4) AS t4,"
                             " COLLECT_LIST(ok) AS b, TOPK(duration, 3)[1] AS top"
                             " FROM pageviews EMIT CHANGES");
    const sl_node *agg = plan->root->input;

    (void)state;
    assert_int_equal(agg->u.aggregate.naggs, 6);
    for (int i = 0; i < 6; i++) {
        sl_buf b = SL_BUF_INIT;

        assert_int_equal(plan->cols[i].type, SL_T_ARRAY);
        sl_typedesc_format(plan->cols[i].desc, &b);
        assert_string_equal(b.data, want[i]);
        assert_int_equal(agg->u.aggregate.aggs[i].type, SL_T_ARRAY);
        assert_ptr_not_equal(agg->u.aggregate.aggs[i].desc, NULL);
        sl_buf_free(&b);
    }
    assert_true(agg->u.aggregate.aggs[0].param == 3 && agg->u.aggregate.aggs[4].param == 4);
    assert_int_equal(plan->cols[6].type, SL_T_INT);
    sl_plan_free(plan);
    /* EXPLAIN names a call by its arguments, the constant one included. */
    plan = build_ok("SELECT userid, TOPK(duration, 3) AS t, PERCENTILE_APPROX(price, 0.99) AS p"
                    " FROM pageviews GROUP BY userid");
    check_explain(plan, "PROJECT [USERID, T := TOPK(DURATION, 3), "
                        "P := PERCENTILE_APPROX(PRICE, 0.99)]\n"
                        "  AGGREGATE GROUP BY [USERID]\n"
                        "    SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
}

typedef struct error_case {
    const char *sql;
    sl_errcode code;
    int column;
    const char *message;
} error_case;

static void test_errors(void **state)
{
    const error_case cases[] = {
        {"SELECT a FROM nosuch", SL_ERR_UNKNOWN_STREAM, 15, "unknown stream 'NOSUCH'"},
        {"SELECT a FROM mixed", SL_ERR_UNKNOWN_STREAM, 15, "unknown stream 'MIXED'"},
        {"SELECT foo FROM pageviews", SL_ERR_UNKNOWN_COLUMN, 8, "unknown column 'FOO'"},
        {"SELECT camelcase FROM \"Mixed\"", SL_ERR_UNKNOWN_COLUMN, 8, "unknown column 'CAMELCASE'"},
        {"SELECT x.pageid FROM pageviews p", SL_ERR_UNKNOWN_COLUMN, 8, "unknown column 'X.PAGEID'"},
        {"SELECT 'a' + 1 FROM pageviews", SL_ERR_TYPE_ERROR, 12,
         "cannot apply '+' to VARCHAR and INT"},
        {"SELECT pageid FROM pageviews WHERE duration", SL_ERR_TYPE_ERROR, 36,
         "WHERE must be BOOLEAN, not INT"},
        {"SELECT COUNT(*) FROM pageviews HAVING COUNT(*) + 1", SL_ERR_TYPE_ERROR, 39,
         "HAVING must be BOOLEAN, not BIGINT"},
        {"SELECT SUM(pageid) FROM pageviews", SL_ERR_TYPE_ERROR, 8, "cannot apply SUM to VARCHAR"},
        {"SELECT AVG(ok) FROM pageviews", SL_ERR_TYPE_ERROR, 8, "cannot apply AVG to BOOLEAN"},
        {"SELECT MIN(NULL) FROM pageviews", SL_ERR_TYPE_ERROR, 8, "cannot apply MIN to NULL"},
        {"SELECT NOT duration FROM pageviews", SL_ERR_TYPE_ERROR, 8, "cannot apply 'NOT' to INT"},
        {"SELECT -pageid FROM pageviews", SL_ERR_TYPE_ERROR, 8, "cannot apply '-' to VARCHAR"},
        {"SELECT ok AND 1 FROM pageviews", SL_ERR_TYPE_ERROR, 11,
         "cannot apply 'AND' to BOOLEAN and INT"},
        {"SELECT ts > 'x' FROM pageviews", SL_ERR_TYPE_ERROR, 11,
         "cannot apply '>' to TIMESTAMP and VARCHAR"},
        {"SELECT ts > price FROM pageviews", SL_ERR_TYPE_ERROR, 11,
         "cannot apply '>' to TIMESTAMP and DOUBLE"},
        {"SELECT pageid FROM pageviews EMIT FINAL", SL_ERR_UNSUPPORTED, 30,
         "EMIT FINAL requires a windowed aggregation"},
        {"SELECT COUNT(*) FROM pageviews GROUP BY pageid EMIT FINAL", SL_ERR_UNSUPPORTED, 48,
         "EMIT FINAL requires a windowed aggregation"},
        {"SELECT pageid FROM pageviews WINDOW TUMBLING (SIZE 1 MINUTE)", SL_ERR_UNSUPPORTED, 30,
         "WINDOW requires GROUP BY or an aggregate function"},
        {"SELECT userid, COUNT(*) FROM pageviews GROUP BY pageid", SL_ERR_UNSUPPORTED, 8,
         "column 'USERID' must appear in GROUP BY or be used in an aggregate function"},
        {"SELECT duration * 2 FROM pageviews GROUP BY duration + 1", SL_ERR_UNSUPPORTED, 8,
         "column 'DURATION' must appear in GROUP BY or be used in an aggregate function"},
        {"SELECT COUNT(*) FROM pageviews HAVING duration > 1", SL_ERR_UNSUPPORTED, 39,
         "column 'DURATION' must appear in GROUP BY or be used in an aggregate function"},
        {"SELECT *, COUNT(*) FROM pageviews GROUP BY viewtime", SL_ERR_UNSUPPORTED, 8,
         "column 'USERID' must appear in GROUP BY or be used in an aggregate function"},
        {"SELECT COUNT(*) FROM pageviews WHERE COUNT(*) > 1", SL_ERR_UNSUPPORTED, 38,
         "aggregate functions are not allowed in WHERE"},
        {"SELECT SUM(COUNT(*)) FROM pageviews", SL_ERR_UNSUPPORTED, 12,
         "aggregate function calls cannot be nested"},
        {"SELECT pageid FROM pageviews GROUP BY COUNT(*)", SL_ERR_UNSUPPORTED, 39,
         "aggregate functions are not allowed in GROUP BY"},
        {"SELECT WINDOWSTART FROM pageviews", SL_ERR_UNSUPPORTED, 8,
         "WINDOWSTART can only be used in the SELECT list or HAVING clause of a windowed "
         "aggregation"},
        {"SELECT pageid FROM pageviews GROUP BY pageid HAVING WINDOWEND > 0", SL_ERR_UNSUPPORTED,
         53,
         "WINDOWEND can only be used in the SELECT list or HAVING clause of a windowed "
         "aggregation"},
        {"SELECT COUNT(*) FROM pageviews WINDOW TUMBLING (SIZE 1 SECOND) WHERE WINDOWSTART > 0",
         SL_ERR_UNSUPPORTED, 70,
         "WINDOWSTART can only be used in the SELECT list or HAVING clause of a windowed "
         "aggregation"},
        {"SELECT pageid, userid AS pageid FROM pageviews", SL_ERR_UNSUPPORTED, 16,
         "duplicate result column name 'PAGEID' (use AS to rename)"},
        {"SELECT COUNT(*) AS windowstart FROM pageviews WINDOW TUMBLING (SIZE 1 SECOND)",
         SL_ERR_UNSUPPORTED, 8, "duplicate result column name 'WINDOWSTART' (use AS to rename)"},
        {"SELECT NOSUCH(duration) FROM pageviews", SL_ERR_UNSUPPORTED, 8,
         "unknown function 'NOSUCH'"},
        {"SELECT SUM(*) FROM pageviews", SL_ERR_SYNTAX_ERROR, 8, "SUM does not accept '*'"},
        {"SELECT COUNT(pageid, userid) FROM pageviews", SL_ERR_TYPE_ERROR, 8,
         "wrong number of arguments to COUNT"},
        {"SELECT MAX() FROM pageviews", SL_ERR_TYPE_ERROR, 8, "wrong number of arguments to MAX"},
        {"SELECT TOPK(duration) FROM pageviews", SL_ERR_TYPE_ERROR, 8,
         "wrong number of arguments to TOPK"},
        {"SELECT TOPK(ok, 2) FROM pageviews", SL_ERR_TYPE_ERROR, 8, "cannot apply TOPK to BOOLEAN"},
        {"SELECT TOPK(duration, 0) FROM pageviews", SL_ERR_TYPE_ERROR, 23,
         "the k of TOPK must be a positive integer literal"},
        {"SELECT TOPK(duration, 2.0) FROM pageviews", SL_ERR_TYPE_ERROR, 23,
         "the k of TOPK must be a positive integer literal"},
        {"SELECT TOPK(duration, duration) FROM pageviews", SL_ERR_TYPE_ERROR, 23,
         "the k of TOPK must be a positive integer literal"},
        {"SELECT TOPK(duration, 1001) FROM pageviews", SL_ERR_LIMIT_EXCEEDED, 23,
         "the k of TOPK may be at most 1000"},
        {"SELECT COLLECT_SET(NULL) FROM pageviews", SL_ERR_TYPE_ERROR, 8,
         "cannot apply COLLECT_SET to NULL"},
        {"SELECT COLLECT_LIST(COUNT(*)) FROM pageviews", SL_ERR_UNSUPPORTED, 21,
         "aggregate function calls cannot be nested"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_plan *plan = (sl_plan *)&plan;
        sl_error err;

        if (build(cases[i].sql, &plan, &err) == 0)
            fail_msg("planned: %s", cases[i].sql);
        assert_null(plan);
        if (err.code != cases[i].code || err.line != 1 || err.column != cases[i].column ||
            strcmp(err.message, cases[i].message) != 0)
            fail_msg("%s\n  got %s %d:%d %s\n want %s 1:%d %s", cases[i].sql,
                     sl_error_code_name(err.code), err.line, err.column, err.message,
                     sl_error_code_name(cases[i].code), cases[i].column, cases[i].message);
    }
}

/* EXPLAIN statements plan like SELECTs; literals print so that they read back. */
static void test_explain_statement(void **state)
{
    sl_plan *plan = build_ok("EXPLAIN SELECT price * -1.0e-3, NOT (ok OR NULL), pageid IS NOT"
                             " NULL AS known FROM pageviews WHERE price <> 0.1 AND -duration"
                             " < -2147483648 EMIT CHANGES");

    (void)state;
    assert_int_equal(plan->emit, SL_EMIT_CHANGES);
    check_explain(plan, "PROJECT [KSQL_COL_0 := PRICE * -0.001E0, KSQL_COL_1 := NOT (OK OR NULL),"
                        " KNOWN := PAGEID IS NOT NULL]\n"
                        "  FILTER (PRICE <> 0.1) AND ((-DURATION) < -2147483648)\n"
                        "    SOURCE PAGEVIEWS\n");
    sl_plan_free(plan);
    assert_string_equal(sl_op_name(SL_OP_NE), "<>");
    assert_string_equal(sl_op_name(SL_OP_IS_NOT_NULL), "IS NOT NULL");
    assert_string_equal(sl_agg_name(SL_AGG_AVG), "AVG");
    assert_string_equal(sl_agg_name((sl_agg_fn)99), "?");
}

/* EXPLAIN of every window kind, EMIT CHANGES EVERY, and ORDER BY / LIMIT. */
static void test_explain_windows(void **state)
{
    static const struct {
        const char *sql, *want;
    } cases[] = {
        {"SELECT pageid, COUNT(*) AS c FROM pageviews WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY "
         "10 SECONDS, GRACE PERIOD 5 SECONDS) GROUP BY pageid EMIT CHANGES EVERY 30 SECONDS",
         "PROJECT [WINDOWSTART, WINDOWEND, PAGEID, C := COUNT(*)]\n"
         "  AGGREGATE HOPPING(SIZE 60000 ms, ADVANCE 10000 ms, GRACE 5000 ms) EMIT CHANGES "
         "EVERY 30000 ms GROUP BY [PAGEID]\n"
         "    SOURCE PAGEVIEWS\n"},
        {"SELECT pageid, COUNT(*) AS c FROM pageviews WINDOW SESSION (30 SECONDS) GROUP BY "
         "pageid EMIT FINAL",
         "PROJECT [WINDOWSTART, WINDOWEND, PAGEID, C := COUNT(*)]\n"
         "  AGGREGATE SESSION(GAP 30000 ms, GRACE 0 ms) EMIT FINAL GROUP BY [PAGEID]\n"
         "    SOURCE PAGEVIEWS\n"},
        {"SELECT pageid, SUM(duration) AS s FROM pageviews WINDOW SLIDING (SIZE 1 SECOND, GRACE "
         "PERIOD 1 SECOND) GROUP BY pageid EMIT CHANGES",
         "PROJECT [WINDOWSTART, WINDOWEND, PAGEID, S := SUM(DURATION)]\n"
         "  AGGREGATE SLIDING(SIZE 1000 ms, GRACE 1000 ms) EMIT CHANGES GROUP BY [PAGEID]\n"
         "    SOURCE PAGEVIEWS\n"},
        {"SELECT COUNT_DISTINCT(userid) AS u FROM pageviews WINDOW CUMULATING (SIZE 1 DAY, STEP "
         "1 HOUR) EMIT FINAL",
         "PROJECT [WINDOWSTART, WINDOWEND, U := COUNT_DISTINCT(USERID)]\n"
         "  AGGREGATE CUMULATING(SIZE 86400000 ms, STEP 3600000 ms, GRACE 0 ms) EMIT FINAL\n"
         "    SOURCE PAGEVIEWS\n"},
        {"SELECT pageid, COUNT(*) AS c FROM pageviews WINDOW COUNT (10, ADVANCE BY 5) GROUP BY "
         "pageid EMIT FINAL",
         "PROJECT [WINDOWSTART, WINDOWEND, PAGEID, C := COUNT(*)]\n"
         "  AGGREGATE COUNT(10 ROWS, ADVANCE 5 ROWS) EMIT FINAL GROUP BY [PAGEID]\n"
         "    SOURCE PAGEVIEWS\n"},
        {"SELECT pageid, duration AS d FROM pageviews ORDER BY d DESC, pageid LIMIT 5",
         "LIMIT 5\n"
         "  SORT [D DESC, PAGEID]\n"
         "    PROJECT [PAGEID, D := DURATION]\n"
         "      SOURCE PAGEVIEWS\n"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_plan *plan = build_ok(cases[i].sql);

        check_explain(plan, cases[i].want);
        sl_plan_free(plan);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projection),        cmocka_unit_test(test_star),
        cmocka_unit_test(test_decimal_types),     cmocka_unit_test(test_decimal_errors),
        cmocka_unit_test(test_windowed_count),    cmocka_unit_test(test_window_bounds_selected),
        cmocka_unit_test(test_aggregates),        cmocka_unit_test(test_group_by_expression),
        cmocka_unit_test(test_global_aggregate),  cmocka_unit_test(test_types),
        cmocka_unit_test(test_array_aggregates),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_explain_statement), cmocka_unit_test(test_explain_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
