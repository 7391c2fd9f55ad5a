/* test_func.c: scalar functions, CAST, CASE, LIKE, IN and BETWEEN, from SQL text to the
 * value a user sees.
 *
 * Each table row is an expression: it is parsed and bound as `SELECT <expr> FROM t`
 * (parse.c, plan.c), then evaluated (eval.c, func.c) on one fixed row of T, and the
 * result is printed as "<TYPE> <value>" ("VARCHAR 'ab'", "INT 3", "NULL") so that a
 * wrong type fails as surely as a wrong value.  A second table checks binding errors:
 * code, position and message.  The clock UNIX_TIMESTAMP() reads is a fixed value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decimal.h"
#include "eval.h"
#include "func.h"
#include "parse.h"
#include "plan.h"
#include "timefmt.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stream T and its one row. */
static const sl_typedesc am_type = {.kind = SL_T_DECIMAL, .precision = 10, .scale = 2};
static const sl_typedesc bg_type = {.kind = SL_T_DECIMAL, .precision = 38, .scale = 0};
static const sl_typedesc negd_type = {.kind = SL_T_DECIMAL, .precision = 5, .scale = 3};
static const sl_typedesc nd_type = {.kind = SL_T_DECIMAL, .precision = 4, .scale = 1};
static sl_column t_cols[] = {
    {"S", SL_T_VARCHAR, false, false, NULL},      {"N", SL_T_INT, false, false, NULL},
    {"I", SL_T_INT, false, false, NULL},          {"B", SL_T_BIGINT, false, false, NULL},
    {"D", SL_T_DOUBLE, false, false, NULL},       {"TS", SL_T_TIMESTAMP, false, false, NULL},
    {"J", SL_T_VARCHAR, false, false, NULL},      {"E", SL_T_VARCHAR, false, false, NULL},
    {"U", SL_T_VARCHAR, false, false, NULL},      {"F", SL_T_BOOLEAN, false, false, NULL},
    {"NS", SL_T_VARCHAR, false, false, NULL},     {"AM", SL_T_DECIMAL, false, false, &am_type},
    {"BG", SL_T_DECIMAL, false, false, &bg_type}, {"NEGD", SL_T_DECIMAL, false, false, &negd_type},
    {"ND", SL_T_DECIMAL, false, false, &nd_type},
};
#define T_NCOLS ((int)(sizeof(t_cols) / sizeof(t_cols[0])))
static const sl_schema t_schema = {"T", false, T_NCOLS, t_cols, -1, 0, 0, NULL};

static const char json_doc[] = "{\"a\": {\"b\": [1, {\"c\": \"x\\u00e9\\\"\"}]}, \"n\": null, "
                               "\"arr\": [1, 2 , 3], \"o\": {\"k\" : [true, false]}}";

static const sl_schema *lookup(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "T") == 0 ? &t_schema : NULL;
}

static const sl_catalog catalog = {.ctx = NULL, .lookup = lookup, .zone_exists = sl_tz_exists};

static int64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return 1700000000999;
}

static sl_row *make_row(void)
{
    sl_row *r = sl_row_new(T_NCOLS);

    r->rowtime = 42;
    r->v[0] = sl_str("Hello World", 11);
    r->v[1] = sl_null();
    r->v[2] = sl_int(SL_T_INT, 7);
    r->v[3] = sl_int(SL_T_BIGINT, 9000000000);
    r->v[4] = sl_double(-2.5);
    r->v[5] = sl_int(SL_T_TIMESTAMP, 1700000000123);
    r->v[6] = sl_str(json_doc, sizeof(json_doc) - 1);
    r->v[7] = sl_str("", 0);
    r->v[8] = sl_str("Zo\xc3\xab \xe2\x82\xac", 8); /* "Zoë €" */
    r->v[9] = sl_bool(false);
    r->v[10] = sl_null();
    sl_decimal_parse("12.3", 4, 10, 2, true, &r->v[11]);
    sl_decimal_parse("99999999999999999999999999999999999999", 38, 38, 0, true, &r->v[12]);
    sl_decimal_parse("-2.675", 6, 5, 3, true, &r->v[13]);
    r->v[14] = sl_null();
    return r;
}

/* "<TYPE> <value>" for v of bound type t with parameters d (the type must agree with
 * the value's; a DECIMAL shows its precision and scale: "DECIMAL(3, 2) 2.68"). */
static void show(const sl_value *v, sl_type t, const sl_typedesc *d, char *out, size_t size)
{
    if (v->type == SL_T_NULL) {
        snprintf(out, size, "NULL");
        return;
    }
    assert_int_equal(v->type, t);
    switch (v->type) {
    case SL_T_BOOLEAN:
        snprintf(out, size, "BOOLEAN %s", v->u.b ? "TRUE" : "FALSE");
        break;
    case SL_T_DOUBLE:
        snprintf(out, size, "DOUBLE %.17g", v->u.d);
        break;
    case SL_T_DECIMAL: {
        char text[SL_DECIMAL_TEXT];
        assert_int_equal(v->scale, d->scale);
        assert_true(sl_decimal_fits(v, d->precision));
        sl_decimal_format(v, text);
        snprintf(out, size, "DECIMAL(%d, %d) %s", d->precision, d->scale, text);
        break;
    }
    case SL_T_VARCHAR:
        snprintf(out, size, "VARCHAR '%.*s'", (int)v->u.s.len, v->u.s.ptr);
        break;
    default:
        snprintf(out, size, "%s %lld", sl_type_name(v->type), (long long)v->u.i);
        break;
    }
}

/* Binds `SELECT <expr> FROM t`; returns the plan, or NULL with err set. */
static sl_plan *bind(const char *expr, sl_error *err)
{
    char sql[1024];
    sl_stmt_list *list = NULL;
    sl_plan *plan = NULL;

    snprintf(sql, sizeof(sql), "SELECT %s FROM t", expr);
    if (sl_parse(sql, strlen(sql), &list, err) == 0)
        sl_plan_build(list->stmts[0].select, &catalog, &plan, err);
    sl_stmt_list_free(list);
    return plan;
}

static const struct {
    const char *expr, *want;
} cases[] = {
    /* CASE */
    {"CASE WHEN i > 5 THEN 'big' ELSE 'small' END", "VARCHAR 'big'"},
    {"CASE WHEN n > 5 THEN 'big' WHEN i = 7 THEN 'seven' END", "VARCHAR 'seven'"},
    {"CASE WHEN n > 5 THEN 'big' END", "NULL"},
    {"CASE i WHEN 1 THEN 'one' WHEN 7 THEN 'seven' ELSE 'other' END", "VARCHAR 'seven'"},
    {"CASE n WHEN NULL THEN 'null' ELSE 'other' END", "VARCHAR 'other'"},
    {"CASE WHEN f THEN 1 WHEN TRUE THEN 2.5E0 END", "DOUBLE 2.5"},
    {"CASE WHEN f THEN 1 WHEN TRUE THEN 2.5 END", "DECIMAL(11, 1) 2.5"},
    {"CASE WHEN f THEN am ELSE 1 END", "DECIMAL(12, 2) 1.00"},
    {"CASE WHEN TRUE THEN i ELSE b END", "BIGINT 7"},
    {"CASE WHEN FALSE THEN 1 ELSE NULL END", "NULL"},
    /* CAST */
    {"CAST(i AS DOUBLE)", "DOUBLE 7"},
    {"CAST(d AS INT)", "INT -2"},
    {"CAST(2.99 AS BIGINT)", "BIGINT 2"},
    {"CAST(b AS INT)", "NULL"},
    {"CAST('abc' AS INT)", "NULL"},
    {"CAST(' 42 ' AS INT)", "INT 42"},
    {"CAST('-9223372036854775808' AS BIGINT)", "BIGINT -9223372036854775808"},
    {"CAST('9223372036854775808' AS BIGINT)", "NULL"},
    {"CAST('1.5e3' AS DOUBLE)", "DOUBLE 1500"},
    {"CAST('nan' AS DOUBLE)", "NULL"},
    {"CAST('TRUE' AS BOOLEAN)", "BOOLEAN TRUE"},
    {"CAST('yes' AS BOOLEAN)", "NULL"},
    {"CAST(f AS VARCHAR)", "VARCHAR 'false'"},
    {"CAST(1.0 AS VARCHAR)", "VARCHAR '1.0'"},
    {"CAST(d AS STRING)", "VARCHAR '-2.5'"},
    {"CAST(1e20 AS VARCHAR)", "VARCHAR '1.0E20'"},
    {"CAST(1E-4 AS VARCHAR)", "VARCHAR '1.0E-4'"},
    {"CAST(0.0001 AS VARCHAR)", "VARCHAR '0.0001'"},
    {"CAST(b AS VARCHAR)", "VARCHAR '9000000000'"},
    {"CAST(ts AS VARCHAR)", "VARCHAR '2023-11-14T22:13:20.123Z'"},
    {"CAST('2024-01-01T00:00:01.500Z' AS TIMESTAMP)", "TIMESTAMP 1704067201500"},
    {"CAST('2024-02-30T00:00:00Z' AS TIMESTAMP)", "NULL"},
    {"CAST(ts AS BIGINT)", "BIGINT 1700000000123"},
    {"CAST(1000 AS TIMESTAMP)", "TIMESTAMP 1000"},
    {"CAST(n AS VARCHAR)", "NULL"},
    {"CAST(NULL AS INT)", "NULL"},
    /* LIKE */
    {"s LIKE 'Hello%'", "BOOLEAN TRUE"},
    {"s LIKE '%World'", "BOOLEAN TRUE"},
    {"s LIKE '%o W%'", "BOOLEAN TRUE"},
    {"s LIKE 'hello%'", "BOOLEAN FALSE"},
    {"s LIKE 'Hello_World'", "BOOLEAN TRUE"},
    {"s LIKE 'Hello__World'", "BOOLEAN FALSE"},
    {"s NOT LIKE 'H%'", "BOOLEAN FALSE"},
    {"u LIKE 'Zo_ _'", "BOOLEAN TRUE"},
    {"e LIKE '%'", "BOOLEAN TRUE"},
    {"e LIKE '_'", "BOOLEAN FALSE"},
    {"'100%' LIKE '100!%' ESCAPE '!'", "BOOLEAN TRUE"},
    {"'1000' LIKE '100!%' ESCAPE '!'", "BOOLEAN FALSE"},
    {"'a_c' LIKE 'a\\_c' ESCAPE '\\'", "BOOLEAN TRUE"},
    {"'abc' LIKE 'a\\_c' ESCAPE '\\'", "BOOLEAN FALSE"},
    {"'aXbXc' LIKE '%X%X%'", "BOOLEAN TRUE"},
    {"'aaa' LIKE '%a%a%a%a%'", "BOOLEAN FALSE"},
    {"ns LIKE '%'", "NULL"},
    {"s LIKE ns", "NULL"},
    /* IN */
    {"i IN (1, 7, 9)", "BOOLEAN TRUE"},
    {"i IN (1, 2)", "BOOLEAN FALSE"},
    {"i IN (1, NULL)", "NULL"},
    {"i IN (7, NULL)", "BOOLEAN TRUE"},
    {"i NOT IN (1, 2)", "BOOLEAN TRUE"},
    {"i NOT IN (1, NULL)", "NULL"},
    {"n IN (1, 2)", "NULL"},
    {"i IN (7.0)", "BOOLEAN TRUE"},
    {"s IN ('a', 'Hello World')", "BOOLEAN TRUE"},
    /* BETWEEN */
    {"i BETWEEN 1 AND 7", "BOOLEAN TRUE"},
    {"i BETWEEN 8 AND 10", "BOOLEAN FALSE"},
    {"i NOT BETWEEN 8 AND 10", "BOOLEAN TRUE"},
    {"i BETWEEN n AND 10", "NULL"},
    {"i BETWEEN n AND 5", "BOOLEAN FALSE"},
    {"d BETWEEN -3 AND -2", "BOOLEAN TRUE"},
    {"s BETWEEN 'A' AND 'Z'", "BOOLEAN TRUE"},
    {"i BETWEEN 1 AND 10 AND TRUE", "BOOLEAN TRUE"},
    /* DECIMAL: literals, arithmetic at ksqlDB's result types, overflow and division by
     * zero give NULL, comparisons across scales and types. */
    {"0.1 + 0.2", "DECIMAL(2, 1) 0.3"},
    {"am + 0.005", "DECIMAL(12, 3) 12.305"},
    {"am - 12.3", "DECIMAL(11, 2) 0.00"},
    {"am * 3", "DECIMAL(21, 2) 36.90"},
    {"am * negd", "DECIMAL(16, 5) -32.90250"},
    {"am / 3", "DECIMAL(21, 13) 4.1000000000000"},
    {"1 / 3.0", "DECIMAL(17, 6) 0.333333"},
    {"2 / 3.0", "DECIMAL(17, 6) 0.666667"},
    {"-2 / 3.0", "DECIMAL(17, 6) -0.666667"},
    {"am / 0.00", "NULL"},
    {"am % 5", "DECIMAL(10, 2) 2.30"},
    {"negd % 1", "DECIMAL(5, 3) -0.675"},
    {"am % 0", "NULL"},
    {"bg - 1", "DECIMAL(38, 0) 99999999999999999999999999999999999998"},
    {"bg + 1", "NULL"},
    {"bg * bg", "NULL"},
    {"-bg", "DECIMAL(38, 0) -99999999999999999999999999999999999999"},
    {"-am", "DECIMAL(10, 2) -12.30"},
    {"nd + 1", "NULL"},
    {"am * 2E0", "DOUBLE 24.600000000000001"},
    {"am + d", "DOUBLE 9.8000000000000007"},
    {"am = 12.3", "BOOLEAN TRUE"},
    {"am = 12.300", "BOOLEAN TRUE"},
    {"am > 12", "BOOLEAN TRUE"},
    {"am < 13", "BOOLEAN TRUE"},
    {"am = 12.3E0", "BOOLEAN TRUE"},
    {"bg > 1E37", "BOOLEAN TRUE"},
    {"am IN (1, 12.3)", "BOOLEAN TRUE"},
    {"am BETWEEN 12 AND 12.30", "BOOLEAN TRUE"},
    {"negd < -2.6749", "BOOLEAN TRUE"},
    {"nd = 1", "NULL"},
    {"ABS(negd)", "DECIMAL(5, 3) 2.675"},
    {"ROUND(negd)", "DECIMAL(3, 0) -3"},
    {"ROUND(2.5)", "DECIMAL(2, 0) 3"},
    {"ROUND(-2.5)", "DECIMAL(2, 0) -2"},
    {"ROUND(negd, 2)", "DECIMAL(6, 3) -2.680"},
    {"ROUND(-1.25, 1)", "DECIMAL(4, 2) -1.30"},
    {"ROUND(am, -1)", "DECIMAL(11, 2) 10.00"},
    {"ROUND(9.99, 1)", "DECIMAL(4, 2) 10.00"},
    {"ROUND(bg, -1)", "NULL"},
    {"ROUND(am, n)", "NULL"},
    {"FLOOR(negd)", "DECIMAL(6, 3) -3.000"},
    {"CEIL(negd)", "DECIMAL(6, 3) -2.000"},
    {"CEIL(am)", "DECIMAL(11, 2) 13.00"},
    {"FLOOR(bg)", "DECIMAL(38, 0) 99999999999999999999999999999999999999"},
    {"SQRT(am)", "DOUBLE 3.5071355833500366"},
    {"GREATEST(am, negd, 13)", "DECIMAL(13, 3) 13.000"},
    {"LEAST(am, negd)", "DECIMAL(11, 3) -2.675"},
    {"GREATEST(am, d)", "DOUBLE 12.300000000000001"},
    {"GREATEST(bg, 0.5)", "NULL"},
    {"COALESCE(nd, am)", "DECIMAL(10, 2) 12.30"},
    {"COALESCE(nd, 7)", "DECIMAL(11, 1) 7.0"},
    {"IFNULL(nd, 0.25)", "DECIMAL(5, 2) 0.25"},
    {"NULLIF(am, 12.3)", "NULL"},
    {"NULLIF(am, 1)", "DECIMAL(10, 2) 12.30"},
    {"CAST(am AS INT)", "INT 12"},
    {"CAST(negd AS BIGINT)", "BIGINT -2"},
    {"CAST(bg AS BIGINT)", "NULL"},
    {"CAST(am AS DOUBLE)", "DOUBLE 12.300000000000001"},
    {"CAST(am AS VARCHAR)", "VARCHAR '12.30'"},
    {"CAST(negd AS STRING)", "VARCHAR '-2.675'"},
    {"CAST(12345678901234567890.123456789 AS VARCHAR)", "VARCHAR '12345678901234567890.123456789'"},
    {"CAST(am AS DECIMAL(4, 1))", "DECIMAL(4, 1) 12.3"},
    {"CAST(negd AS DECIMAL(3, 2))", "DECIMAL(3, 2) -2.68"},
    {"CAST(am AS DECIMAL(3, 2))", "NULL"},
    {"CAST(' 1.005 ' AS DECIMAL(3, 2))", "DECIMAL(3, 2) 1.01"},
    {"CAST('abc' AS DECIMAL(3, 2))", "NULL"},
    {"CAST('1e2' AS DECIMAL(5, 1))", "DECIMAL(5, 1) 100.0"},
    {"CAST(i AS DECIMAL(3, 1))", "DECIMAL(3, 1) 7.0"},
    {"CAST(b AS DECIMAL(10, 0))", "DECIMAL(10, 0) 9000000000"},
    {"CAST(b AS DECIMAL(9, 0))", "NULL"},
    {"CAST(d AS DECIMAL(3, 1))", "DECIMAL(3, 1) -2.5"},
    {"CAST(2.675E0 AS DECIMAL(3, 2))", "DECIMAL(3, 2) 2.68"},
    {"CAST(0.1E0 AS DECIMAL(20, 19))", "DECIMAL(20, 19) 0.1000000000000000000"},
    {"CAST(nd AS DECIMAL(3, 1))", "NULL"},
    /* Numbers */
    {"ABS(d)", "DOUBLE 2.5"},
    {"ABS(-7)", "INT 7"},
    {"ABS(-2147483648)", "NULL"},
    {"ABS(n)", "NULL"},
    {"ROUND(d)", "BIGINT -2"},
    {"ROUND(2.5E0)", "BIGINT 3"},
    {"ROUND(i)", "INT 7"},
    {"ROUND(2.675E0, 2)", "DOUBLE 2.6800000000000002"},
    {"ROUND(-2.5E0, 0)", "DOUBLE -3"},
    {"ROUND(1234.5678E0, -2)", "DOUBLE 1200"},
    {"ROUND(0.000123E0, 1)", "DOUBLE 0"},
    {"ROUND(9.99E0, 1)", "DOUBLE 10"},
    {"ROUND(1250, -2)", "INT 1300"},
    {"ROUND(-1250, -2)", "INT -1300"},
    {"ROUND(b, -9)", "BIGINT 9000000000"},
    {"ROUND(d, n)", "NULL"},
    {"FLOOR(d)", "DOUBLE -3"},
    {"CEIL(d)", "DOUBLE -2"},
    {"FLOOR(i)", "INT 7"},
    {"SQRT(16)", "DOUBLE 4"},
    {"SQRT(-1)", "NULL"},
    {"LN(1)", "DOUBLE 0"},
    {"LN(0)", "NULL"},
    {"EXP(0)", "DOUBLE 1"},
    {"EXP(1000)", "NULL"},
    {"POWER(2, 10)", "DOUBLE 1024"},
    {"POWER(i, n)", "NULL"},
    {"GREATEST(1, i, 3)", "INT 7"},
    {"GREATEST(1, n, 3)", "INT 3"},
    {"GREATEST(i, 2.5E0)", "DOUBLE 7"},
    {"GREATEST(i, 2.5)", "DECIMAL(11, 1) 7.0"},
    {"LEAST(i, b, d)", "DOUBLE -2.5"},
    {"LEAST(n, NULL)", "NULL"},
    {"GREATEST('a', s)", "VARCHAR 'a'"},
    {"COALESCE(n, NULL, i)", "INT 7"},
    {"COALESCE(n, b)", "BIGINT 9000000000"},
    {"COALESCE(n, i, b)", "BIGINT 7"},
    {"COALESCE(ns, NULL)", "NULL"},
    {"IFNULL(ns, 'x')", "VARCHAR 'x'"},
    {"IFNULL(s, 'x')", "VARCHAR 'Hello World'"},
    {"NULLIF(i, 7)", "NULL"},
    {"NULLIF(i, 8)", "INT 7"},
    {"NULLIF(i, n)", "INT 7"},
    /* Strings */
    {"UCASE(u)", "VARCHAR 'ZO\xc3\xab \xe2\x82\xac'"},
    {"LCASE(s)", "VARCHAR 'hello world'"},
    {"UCASE(ns)", "NULL"},
    {"LEN(s)", "INT 11"},
    {"LEN(u)", "INT 5"},
    {"LEN(e)", "INT 0"},
    {"SUBSTRING(s, 7)", "VARCHAR 'World'"},
    {"SUBSTRING(s, 1, 5)", "VARCHAR 'Hello'"},
    {"SUBSTRING(s, 0, 5)", "VARCHAR 'Hello'"},
    {"SUBSTRING(s, -5)", "VARCHAR 'World'"},
    {"SUBSTRING(s, -5, 2)", "VARCHAR 'Wo'"},
    {"SUBSTRING(s, -100, 3)", "VARCHAR 'Hel'"},
    {"SUBSTRING(s, 20)", "VARCHAR ''"},
    {"SUBSTRING(s, 3, -1)", "VARCHAR ''"},
    {"SUBSTRING(u, 3, 3)", "VARCHAR '\xc3\xab \xe2\x82\xac'"},
    {"SUBSTRING(s, n)", "NULL"},
    {"CONCAT(s, '!', ns, i)", NULL}, /* i is an INT: a type error, see errors */
    {"CONCAT('a', ns, 'b')", "VARCHAR 'ab'"},
    {"CONCAT(ns)", "VARCHAR ''"},
    {"TRIM('  a b \t')", "VARCHAR 'a b'"},
    {"TRIM('   ')", "VARCHAR ''"},
    {"REPLACE(s, 'o', '0')", "VARCHAR 'Hell0 W0rld'"},
    {"REPLACE('aaa', 'aa', 'b')", "VARCHAR 'ba'"},
    {"REPLACE('ab', '', '-')", "VARCHAR '-a-b-'"},
    {"REPLACE(s, 'xyz', '-')", "VARCHAR 'Hello World'"},
    {"REPLACE(s, ns, '-')", "NULL"},
    {"INSTR(s, 'o')", "INT 5"},
    {"INSTR(s, 'o', 6)", "INT 8"},
    {"INSTR(s, 'o', 1, 2)", "INT 8"},
    {"INSTR(s, 'o', 1, 3)", "INT 0"},
    {"INSTR(s, 'o', -1)", "INT 8"},
    {"INSTR(s, 'o', -1, 2)", "INT 5"},
    {"INSTR(s, 'z')", "INT 0"},
    {"INSTR(u, '\xe2\x82\xac')", "INT 5"},
    {"INSTR(s, ns)", "NULL"},
    {"LPAD(s, 14, 'ab')", "VARCHAR 'abaHello World'"},
    {"RPAD(s, 14, 'ab')", "VARCHAR 'Hello Worldaba'"},
    {"LPAD(s, 5, 'ab')", "VARCHAR 'Hello'"},
    {"RPAD(s, 5, 'ab')", "VARCHAR 'Hello'"},
    {"LPAD(s, -1, 'ab')", "NULL"},
    {"LPAD(s, 14, '')", "NULL"},
    {"LPAD(u, 7, '\xc3\xab')", "VARCHAR '\xc3\xab\xc3\xabZo\xc3\xab \xe2\x82\xac'"},
    /* Time */
    {"TIMESTAMPTOSTRING(ts, 'yyyy-MM-dd HH:mm:ss.SSS')", "VARCHAR '2023-11-14 22:13:20.123'"},
    {"TIMESTAMPTOSTRING(1700000000123, 'yyyy-MM-dd''T''HH:mm:ssXXX', '+05:30')",
     "VARCHAR '2023-11-15T03:43:20+05:30'"},
    {"TIMESTAMPTOSTRING(0, 'EEEE d MMMM yy, h:mm a z', 'UTC')",
     "VARCHAR 'Thursday 1 January 70, 12:00 AM UTC'"},
    {"TIMESTAMPTOSTRING(-1, 'yyyy-MM-dd HH:mm:ss.SSS')", "VARCHAR '1969-12-31 23:59:59.999'"},
    {"TIMESTAMPTOSTRING(ts, 'yyyy', s)", "NULL"},
    {"TIMESTAMPTOSTRING(ts, 'yyyy-MM-dd HH:mm z', 'Europe/Berlin')",
     "VARCHAR '2023-11-14 23:13 Europe/Berlin'"},
    {"TIMESTAMPTOSTRING(1688169600000, 'HH:mm XXX', 'Europe/Berlin')", "VARCHAR '02:00 +02:00'"},
    {"STRINGTOTIMESTAMP('2023-07-01 02:00', 'yyyy-MM-dd HH:mm', 'Europe/Berlin')",
     "BIGINT 1688169600000"},
    {"TIMESTAMPTOSTRING(n, 'yyyy')", "NULL"},
    {"STRINGTOTIMESTAMP('2023-11-14 22:13:20.123', 'yyyy-MM-dd HH:mm:ss.SSS')",
     "BIGINT 1700000000123"},
    {"STRINGTOTIMESTAMP('2023-11-15 03:43:20', 'yyyy-MM-dd HH:mm:ss', '+05:30')",
     "BIGINT 1700000000000"},
    {"STRINGTOTIMESTAMP('2024-02-29', 'yyyy-MM-dd')", "BIGINT 1709164800000"},
    {"STRINGTOTIMESTAMP('2023-02-29', 'yyyy-MM-dd')", "NULL"},
    {"STRINGTOTIMESTAMP('14 Nov 2023 10:13 PM', 'dd MMM yyyy hh:mm a')", "BIGINT 1699999980000"},
    {"STRINGTOTIMESTAMP('2023-11-14T22:13:20Z', 'yyyy-MM-dd''T''HH:mm:ssX')",
     "BIGINT 1700000000000"},
    {"STRINGTOTIMESTAMP('garbage', 'yyyy-MM-dd')", "NULL"},
    {"UNIX_TIMESTAMP()", "BIGINT 1700000000999"},
    {"UNIX_TIMESTAMP(ts)", "BIGINT 1700000000123"},
    {"FROM_UNIXTIME(b)", "TIMESTAMP 9000000000"},
    {"FROM_UNIXTIME(n)", "NULL"},
    /* JSON */
    {"EXTRACTJSONFIELD(j, '$.a.b[1].c')", "VARCHAR 'x\xc3\xa9\"'"},
    {"EXTRACTJSONFIELD(j, '$.a.b[0]')", "VARCHAR '1'"},
    {"EXTRACTJSONFIELD(j, '$.arr')", "VARCHAR '[1,2,3]'"},
    {"EXTRACTJSONFIELD(j, '$[''o'']')", "VARCHAR '{\"k\":[true,false]}'"},
    {"EXTRACTJSONFIELD(j, '$.o.k[1]')", "VARCHAR 'false'"},
    {"EXTRACTJSONFIELD(j, '$.n')", "NULL"},
    {"EXTRACTJSONFIELD(j, '$.missing')", "NULL"},
    {"EXTRACTJSONFIELD(j, '$.arr[3]')", "NULL"},
    {"EXTRACTJSONFIELD(j, 'a')", "NULL"},
    {"EXTRACTJSONFIELD('{\"a\": [1, 2', '$.a[5]')", "NULL"},
    {"EXTRACTJSONFIELD('not json', '$.a')", "NULL"},
    {"EXTRACTJSONFIELD(s, '$')", "NULL"},
    {"EXTRACTJSONFIELD('  -1.5e3 ', '$')", "VARCHAR '-1.5e3'"},
};

static void test_values(void **state)
{
    sl_row *row = make_row();
    sl_scratch scratch = {.arena = sl_arena_new(), .clock_ms = fixed_clock};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error err;
        sl_plan *plan = bind(cases[i].expr, &err);
        char got[512];

        if (!cases[i].want) {
            if (plan)
                fail_msg("%s: bound, but should not", cases[i].expr);
            continue;
        }
        if (!plan)
            fail_msg("%s: %s", cases[i].expr, err.message);
        const sl_expr *e = plan->root->u.project.exprs[0];
        sl_value v = sl_eval(e, row, &scratch);
        show(&v, e->type, e->desc, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].expr, got, cases[i].want);
        sl_plan_free(plan);
        sl_scratch_reset(&scratch);
    }
    sl_arena_free(scratch.arena);
    sl_row_free(row);
}

/* Result types, and EXPLAIN's SQL form of the new expressions. */
static void test_types_and_format(void **state)
{
    static const struct {
        const char *expr, *type, *text;
    } t[] = {
        {"CASE WHEN i > 1 THEN i ELSE d END", "DOUBLE", "CASE WHEN I > 1 THEN I ELSE D END"},
        {"CASE i WHEN 1 THEN 'a' END", "VARCHAR", "CASE I WHEN 1 THEN 'a' END"},
        {"CAST(i AS STRING)", "VARCHAR", "CAST(I AS VARCHAR)"},
        {"s NOT LIKE 'a%' ESCAPE '!'", "BOOLEAN", "S NOT LIKE 'a%' ESCAPE '!'"},
        {"i + 1 NOT IN (1, 2)", "BOOLEAN", "(I + 1) NOT IN (1, 2)"},
        {"i BETWEEN 1 AND b", "BOOLEAN", "I BETWEEN 1 AND B"},
        {"ROUND(d)", "BIGINT", "ROUND(D)"},
        {"ROUND(d, 1)", "DOUBLE", "ROUND(D, 1)"},
        {"COALESCE(n, b)", "BIGINT", "COALESCE(N, B)"},
        {"LEN(s)", "INT", "LEN(S)"},
        {"STRINGTOTIMESTAMP(s, 'yyyy')", "BIGINT", "STRINGTOTIMESTAMP(S, 'yyyy')"},
        {"FROM_UNIXTIME(i)", "TIMESTAMP", "FROM_UNIXTIME(I)"},
        {"NOT s LIKE 'x'", "BOOLEAN", "NOT (S LIKE 'x')"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        sl_error err;
        sl_plan *plan = bind(t[i].expr, &err);
        sl_buf text = SL_BUF_INIT;

        if (!plan)
            fail_msg("%s: %s", t[i].expr, err.message);
        const sl_node *p = plan->root;
        assert_string_equal(sl_type_name(p->u.project.exprs[0]->type), t[i].type);
        sl_expr_format(p->u.project.exprs[0], p->input->cols, &text);
        sl_buf_putc(&text, '\0');
        assert_string_equal(text.data, t[i].text);
        sl_buf_free(&text);
        sl_plan_free(plan);
    }
}

static void test_errors(void **state)
{
    static const struct {
        const char *expr;
        sl_errcode code;
        int column; /* in `SELECT <expr> FROM t`: the expression starts at column 8 */
        const char *message;
    } t[] = {
        {"CAST(f AS INT)", SL_ERR_TYPE_ERROR, 8, "cannot cast BOOLEAN to INT"},
        {"CAST(ts AS DOUBLE)", SL_ERR_TYPE_ERROR, 8, "cannot cast TIMESTAMP to DOUBLE"},
        {"CAST(i AS FLOAT8)", SL_ERR_SYNTAX_ERROR, 18,
         "near \"FLOAT8\": expected a type (BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL, VARCHAR, "
         "TIMESTAMP, BYTES, ARRAY, MAP, STRUCT)"},
        {"i LIKE 'a'", SL_ERR_TYPE_ERROR, 10, "cannot apply 'LIKE' to INT and VARCHAR"},
        {"s LIKE 'a' ESCAPE 'ab'", SL_ERR_TYPE_ERROR, 26, "ESCAPE must be a single character"},
        {"i IN (1, 'a')", SL_ERR_TYPE_ERROR, 10, "cannot apply 'IN' to INT and VARCHAR"},
        {"s BETWEEN 1 AND 2", SL_ERR_TYPE_ERROR, 10, "cannot apply 'BETWEEN' to VARCHAR and INT"},
        {"CASE WHEN i THEN 1 END", SL_ERR_TYPE_ERROR, 18, "WHEN must be BOOLEAN, not INT"},
        {"CASE WHEN f THEN 1 ELSE 'a' END", SL_ERR_TYPE_ERROR, 32,
         "CASE results have incompatible types INT and VARCHAR"},
        {"CASE WHEN f THEN NULL END", SL_ERR_TYPE_ERROR, 8,
         "every CASE result is NULL: CAST one to give the CASE a type"},
        {"CASE i WHEN 'a' THEN 1 END", SL_ERR_TYPE_ERROR, 20,
         "cannot compare the CASE operand (INT) with VARCHAR"},
        {"CASE i THEN 1 END", SL_ERR_SYNTAX_ERROR, 15, "near \"THEN\": expected WHEN"},
        {"CASE WHEN f THEN 1", SL_ERR_SYNTAX_ERROR, 27, "near \"FROM\": expected END"},
        {"i NOT 3", SL_ERR_SYNTAX_ERROR, 10, "near \"NOT\": expected FROM"},
        {"ABS(s)", SL_ERR_TYPE_ERROR, 8, "cannot apply ABS to (VARCHAR)"},
        {"ABS(1, 2)", SL_ERR_TYPE_ERROR, 8, "wrong number of arguments to ABS"},
        {"SUBSTRING(s, 'a')", SL_ERR_TYPE_ERROR, 8, "cannot apply SUBSTRING to (VARCHAR, VARCHAR)"},
        {"CONCAT(s, '!', ns, i)", SL_ERR_TYPE_ERROR, 8,
         "cannot apply CONCAT to (VARCHAR, VARCHAR, VARCHAR, INT)"},
        {"COALESCE(i, s)", SL_ERR_TYPE_ERROR, 8, "cannot apply COALESCE to (INT, VARCHAR)"},
        {"COALESCE(NULL)", SL_ERR_TYPE_ERROR, 8,
         "every argument of COALESCE is NULL: CAST one to give the result a type"},
        {"UNIX_TIMESTAMP(b)", SL_ERR_TYPE_ERROR, 8, "cannot apply UNIX_TIMESTAMP to (BIGINT)"},
        {"SPLIT(s, 1)", SL_ERR_TYPE_ERROR, 8, "cannot apply SPLIT to (VARCHAR, INT)"},
        {"SPLIT(s, ',') + 1", SL_ERR_TYPE_ERROR, 22, "cannot apply '+' to ARRAY<VARCHAR> and INT"},
        {"SPLIT(s, ',')['a']", SL_ERR_TYPE_ERROR, 22,
         "the subscript of ARRAY<VARCHAR> must be an INT or BIGINT, not VARCHAR"},
        {"s[1]", SL_ERR_TYPE_ERROR, 9, "cannot subscript VARCHAR: only an ARRAY or a MAP"},
        {"s->x", SL_ERR_TYPE_ERROR, 9, "cannot apply '->' to VARCHAR: only a STRUCT has fields"},
        {"GREATEST(SPLIT(s, ','), SPLIT(s, ','))", SL_ERR_TYPE_ERROR, 8,
         "cannot apply GREATEST to (ARRAY<VARCHAR>, ARRAY<VARCHAR>)"},
        {"CAST(SPLIT(s, ',') AS VARCHAR)", SL_ERR_TYPE_ERROR, 8,
         "cannot cast ARRAY<VARCHAR> to VARCHAR"},
        {"SPLIT(s, ',') < SPLIT(s, ',')", SL_ERR_TYPE_ERROR, 22,
         "cannot apply '<' to ARRAY<VARCHAR> and ARRAY<VARCHAR>"},
        {"CAST(s AS MAP<INT, INT>)", SL_ERR_TYPE_ERROR, 22, "the keys of a MAP must be VARCHAR"},
        {"ARRAY[]", SL_ERR_TYPE_ERROR, 8,
         "the element type of this ARRAY is unknown (it has no elements, or all are NULL): CAST "
         "one"},
        {"ARRAY[i, s]", SL_ERR_TYPE_ERROR, 17,
         "ARRAY elements have incompatible types INT and VARCHAR"},
        {"MAP(i := 1)", SL_ERR_TYPE_ERROR, 12, "the keys of a MAP must be VARCHAR, not INT"},
        {"MAP('a' := 1, 'b' := s)", SL_ERR_TYPE_ERROR, 29,
         "MAP values have incompatible types INT and VARCHAR"},
        {"STRUCT(a := 1, A := 2)", SL_ERR_TYPE_ERROR, 28, "duplicate field name 'A'"},
        {"STRUCT(a := NULL)", SL_ERR_TYPE_ERROR, 20,
         "field 'A' is an untyped NULL: CAST it to give the field a type"},
        {"STRUCT()", SL_ERR_TYPE_ERROR, 8, "a STRUCT needs at least one field"},
        {"STRUCT(a 1)", SL_ERR_SYNTAX_ERROR, 17, "near \"1\": expected ':='"},
        {"MAP('a' 1)", SL_ERR_SYNTAX_ERROR, 16, "near \"1\": expected ':='"},
        {"ARRAY_LENGTH(s)", SL_ERR_TYPE_ERROR, 8, "cannot apply ARRAY_LENGTH to (VARCHAR)"},
        {"ARRAY_CONTAINS(SPLIT(s, ','), 1)", SL_ERR_TYPE_ERROR, 8,
         "cannot apply ARRAY_CONTAINS to (ARRAY<VARCHAR>, INT)"},
        {"MAP_KEYS(SPLIT(s, ','))", SL_ERR_TYPE_ERROR, 8,
         "cannot apply MAP_KEYS to (ARRAY<VARCHAR>)"},
        {"CAST(s AS DECIMAL(40, 2))", SL_ERR_TYPE_ERROR, 26,
         "the precision of a DECIMAL must lie between 1 and 38"},
        {"CAST(s AS STRUCT<a INT, A INT>)", SL_ERR_SYNTAX_ERROR, 32, "duplicate field name 'A'"},
        {"NOSUCH(s)", SL_ERR_UNSUPPORTED, 8, "unknown function 'NOSUCH'"},
        {"UCASE(*)", SL_ERR_SYNTAX_ERROR, 8, "UCASE does not accept '*'"},
        {"TIMESTAMPTOSTRING(ts, 'yyyy-qq')", SL_ERR_TYPE_ERROR, 30,
         "invalid pattern 'yyyy-qq': unknown pattern letter"},
        {"STRINGTOTIMESTAMP(s, 'dd', 'Mars/Olympus')", SL_ERR_UNSUPPORTED, 35,
         "unknown time zone 'Mars/Olympus'"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        sl_error err;
        sl_plan *plan = bind(t[i].expr, &err);

        if (plan)
            fail_msg("%s: bound, but should fail", t[i].expr);
        if (err.code != t[i].code || err.line != 1 || err.column != t[i].column ||
            strcmp(err.message, t[i].message) != 0)
            fail_msg("%s: got %s %d:%d \"%s\"", t[i].expr, sl_error_code_name(err.code), err.line,
                     err.column, err.message);
    }
}

/* LIKE directly, including patterns that make naive matchers backtrack a lot. */
static void test_like(void **state)
{
    static char s[2001], p[64];

    (void)state;
    memset(s, 'a', 2000);
    snprintf(p, sizeof(p), "%%a%%a%%a%%a%%a%%a%%b");
    assert_false(sl_like(s, 2000, p, strlen(p), "", 0));
    assert_true(sl_like(s, 2000, "%a", 2, "", 0));
    assert_true(sl_like("", 0, "", 0, "", 0));
    assert_false(sl_like("a", 1, "", 0, "", 0));
    assert_true(sl_like("a%", 2, "a#%", 3, "#", 1));
    assert_true(sl_like("#", 1, "#", 1, "#", 1)); /* a trailing escape is itself */
}

/* Time patterns round-trip, and bad ones are refused. */
static void test_time(void **state)
{
    static const char *const patterns[] = {
        "yyyy-MM-dd HH:mm:ss.SSS",
        "yyyyMMdd'T'HHmmssSSSXX",
        "dd/MM/yy hh:mm:ss a",
        "D yyyy kk:mm",
    };
    const char *why;
    int off;

    (void)state;
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        for (int64_t ms = -86400000ll * 400; ms < 86400000ll * 20000;
             ms += 86400000ll * 37 + 4321) {
            sl_buf out = SL_BUF_INIT;
            int64_t back = 0;
            const char *pt = patterns[i];
            bool zoned;

            assert_int_equal(sl_time_format(ms, pt, strlen(pt), 0, NULL, 0, &out), 0);
            if (sl_time_parse(out.data, out.len, pt, strlen(pt), 0, &back, &zoned) < 0)
                fail_msg("%s: cannot parse back '%.*s'", pt, (int)out.len, out.data);
            if (strchr(pt, 'S'))
                assert_int_equal(back, ms);
            sl_buf_free(&out);
        }
    }
    assert_int_equal(sl_time_pattern_check("yyyy-MM-dd'", 11, &why), -1);
    assert_string_equal(why, "unterminated quote in pattern");
    assert_int_equal(sl_time_pattern_check("ddd", 3, &why), -1);
    assert_int_equal(sl_time_zone_parse("GMT-03:30", 9, &off), 0);
    assert_int_equal(off, -210);
    assert_int_equal(sl_time_zone_parse("+0100", 5, &off), 0);
    assert_int_equal(off, 60);
    assert_int_equal(sl_time_zone_parse("America/New_York", 16, &off), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values), cmocka_unit_test(test_types_and_format),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_like),
        cmocka_unit_test(test_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
