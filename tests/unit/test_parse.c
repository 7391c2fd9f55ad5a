/* test_parse.c: the parser (parser/parse.c): every statement kind, the shape of
 * expressions (precedence, literals), multi-statement texts, limits, and the exact
 * error (code, line, column, message) for malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ast.h"
#include "decimal.h"
#include "limits.h"
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses sql, which must hold exactly one statement; caller frees the list. */
static sl_stmt_list *parse_one(const char *sql)
{
    sl_stmt_list *list = NULL;
    sl_error err;

    if (sl_parse(sql, strlen(sql), &list, &err) < 0)
        fail_msg("%s: %d:%d %s", sql, err.line, err.column, err.message);
    assert_int_equal(list->n, 1);
    return list;
}

/* Appends a Lisp-like rendering of e to out: (op left right), literals typed by their
 * spelling (5 INT, 5L BIGINT, 5d DOUBLE). */
static void render(const sl_ast_expr *e, char *out, size_t cap)
{
    size_t n = strlen(out);

    switch (e->kind) {
    case SL_AST_LITERAL:
        switch (e->u.lit.type) {
        case SL_T_INT:
            snprintf(out + n, cap - n, "%lld", (long long)e->u.lit.u.i);
            break;
        case SL_T_BIGINT:
            snprintf(out + n, cap - n, "%lldL", (long long)e->u.lit.u.i);
            break;
        case SL_T_DOUBLE:
            snprintf(out + n, cap - n, "%gd", e->u.lit.u.d);
            break;
        case SL_T_DECIMAL: {
            char text[SL_DECIMAL_TEXT];
            sl_decimal_format(&e->u.lit, text);
            snprintf(out + n, cap - n, "%sBD", text);
            break;
        }
        case SL_T_VARCHAR:
            snprintf(out + n, cap - n, "'%.*s'", (int)e->u.lit.u.s.len, e->u.lit.u.s.ptr);
            break;
        case SL_T_BOOLEAN:
            snprintf(out + n, cap - n, "%s", e->u.lit.u.b ? "TRUE" : "FALSE");
            break;
        default:
            snprintf(out + n, cap - n, "NULL");
            break;
        }
        break;
    case SL_AST_COLUMN:
        snprintf(out + n, cap - n, "%s%s%s", e->u.col.qualifier ? e->u.col.qualifier : "",
                 e->u.col.qualifier ? "." : "", e->u.col.name);
        break;
    case SL_AST_UNARY:
        snprintf(out + n, cap - n, "(%s ", sl_op_name(e->u.unary.op));
        render(e->u.unary.arg, out, cap);
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    case SL_AST_BINARY:
        snprintf(out + n, cap - n, "(%s ", sl_op_name(e->u.binary.op));
        render(e->u.binary.left, out, cap);
        strncat(out, " ", cap - strlen(out) - 1);
        render(e->u.binary.right, out, cap);
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    case SL_AST_CTOR:
        snprintf(out + n, cap - n, "(%s", sl_type_name(e->u.ctor.kind));
        for (int i = 0; i < e->u.ctor.nargs; i++) {
            strncat(out, " ", cap - strlen(out) - 1);
            if (e->u.ctor.kind == SL_T_STRUCT) {
                strncat(out, e->u.ctor.names[i], cap - strlen(out) - 1);
                strncat(out, ":=", cap - strlen(out) - 1);
            }
            render(e->u.ctor.args[i], out, cap);
        }
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    case SL_AST_FIELD:
        strncat(out, "(-> ", cap - strlen(out) - 1);
        render(e->u.field.arg, out, cap);
        strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, e->u.field.name, cap - strlen(out) - 1);
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    case SL_AST_CALL:
        snprintf(out + n, cap - n, "%s(%s", e->u.call.name, e->u.call.star ? "*" : "");
        for (int i = 0; i < e->u.call.nargs; i++) {
            if (i > 0)
                strncat(out, ", ", cap - strlen(out) - 1);
            render(e->u.call.args[i], out, cap);
        }
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    case SL_AST_CAST:
        snprintf(out + n, cap - n, "(CAST ");
        render(e->u.cast.arg, out, cap);
        n = strlen(out);
        snprintf(out + n, cap - n, " %s)", sl_type_name(e->u.cast.type));
        break;
    case SL_AST_NARY:
        snprintf(out + n, cap - n, "(%s%s%s%s", e->u.nary.negated ? "NOT " : "",
                 sl_op_name(e->u.nary.op), e->u.nary.has_operand ? " operand" : "",
                 e->u.nary.has_else ? " else" : "");
        for (int i = 0; i < e->u.nary.nargs; i++) {
            strncat(out, " ", cap - strlen(out) - 1);
            render(e->u.nary.args[i], out, cap);
        }
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    }
}

/* Parses "SELECT <exprs> FROM s" and checks the rendering of each item. */
static void check_exprs(const char *sql, const char *const *want, int n)
{
    sl_stmt_list *list = parse_one(sql);
    const sl_select *sel = list->stmts[0].select;

    assert_int_equal(sel->nitems, n);
    for (int i = 0; i < n; i++) {
        char buf[512] = "";

        render(sel->items[i].expr, buf, sizeof(buf));
        assert_string_equal(buf, want[i]);
    }
    sl_stmt_list_free(list);
}

static void test_precedence(void **state)
{
    const char *const want[] = {
        "(OR A (AND B (NOT (= C (+ 1 (% (* 2 (- D)) 3))))))",
        "(- (- A B) C)",
        "(IS NOT NULL (= A B))",
        "(NOT (IS NULL A))",
        "(- (- A))",
        "(- 2 -3)",
        "(AND (OR A B) C)",
        "(<> (<> A B) (>= C D))",
        "(OR (AND A B) (AND C (NOT D)))",
    };

    (void)state;
    check_exprs("SELECT a OR b AND NOT c = 1 + 2 * -d % 3, a - b - c, a = b IS NOT NULL,"
                " NOT a IS NULL, - -a, 2 - -3, (a OR b) AND c, a <> b != (c >= d),"
                " a and b or c and not d FROM s",
                want, sizeof(want) / sizeof(want[0]));
}

/* LIKE, IN and BETWEEN bind like comparisons; BETWEEN's AND is its own; CASE and CAST
 * are primaries. */
static void test_predicates(void **state)
{
    const char *const want[] = {
        "(AND (LIKE A 'x%') (NOT LIKE B 'y' '!'))",
        "(OR (IN (+ A 1) 1 2) (NOT IN B 3))",
        "(AND (BETWEEN A (+ 1 2) 3) (NOT BETWEEN B C D))",
        "(NOT (BETWEEN A 1 2))",
        "(= (IN A 1) TRUE)",
        "(CASE operand else A 1 'one' 'other')",
        "(CASE (> A 1) (CAST B DOUBLE) (IS NULL A) NULL)",
        "(+ (CAST (+ A 1) VARCHAR) 2)",
        "(CASE (CASE operand A 1 TRUE) 2)",
    };

    (void)state;
    check_exprs("SELECT a LIKE 'x%' AND b NOT LIKE 'y' ESCAPE '!', a + 1 IN (1, 2) OR b NOT IN (3),"
                " a BETWEEN 1 + 2 AND 3 AND b NOT BETWEEN c AND d, NOT a BETWEEN 1 AND 2,"
                " a IN (1) = TRUE, CASE a WHEN 1 THEN 'one' ELSE 'other' END,"
                " case when a > 1 then cast(b as double) when a is null then null end,"
                " CAST(a + 1 AS STRING) + 2, CASE WHEN CASE a WHEN 1 THEN TRUE END THEN 2 END"
                " FROM s",
                want, sizeof(want) / sizeof(want[0]));
}

/* Postfix access binds tighter than any operator, left to right; constructors are
 * primaries, and ARRAY, MAP and STRUCT stay usable as names elsewhere. */
static void test_nested_syntax(void **state)
{
    const char *const want[] = {
        "(- (-> (-> A B) C))",
        "(+ ([] ([] A 1) (+ I 1)) 2)",
        "([] (-> A B) 'k')",
        "(ARRAY 1 (* A 2))",
        "(MAP 'k' 1 K (+ V 1))",
        "(STRUCT X:=1 Y:=(ARRAY))",
        "([] (ARRAY 1 2) 1)",
        "(-> (STRUCT A:=1) A)",
        "MAP",
        "ARRAY",
    };

    (void)state;
    check_exprs("SELECT -a->b->c, a[1][i + 1] + 2, a->b['k'], ARRAY[1, a * 2], MAP('k' := 1, k := v"
                " + 1), STRUCT(x := 1, y := ARRAY[]), ARRAY[1, 2][1], STRUCT(a := 1)->a, map, array"
                " FROM s",
                want, sizeof(want) / sizeof(want[0]));
}

static void test_literals(void **state)
{
    const char *const want[] = {
        "2147483647",
        "2147483648L",
        "-2147483648",
        "-2147483649L",
        "-9223372036854775808L",
        "9223372036854775807L",
        "1.5BD",
        "5d",
        "0.01d",
        "-2.5BD",
        "1.50BD",
        "0.5BD",
        "7BD",
        "-1.5d",
        "12345678901234567890.123456789BD",
        "'it's'",
        "''",
        "TRUE",
        "FALSE",
        "NULL",
        "A",
        "X.Y",
        "\"Q\"",
        "COUNT(*)",
        "SUM((+ A 1))",
        "F(A, 'b')",
        "COUNT()",
        "KEY",
        "SIZE",
    };

    (void)state;
    check_exprs("SELECT 2147483647, 2147483648, -2147483648, -2147483649,"
                " -9223372036854775808, 9223372036854775807, 1.5, .5e1, 1e-2, -2.5, 1.50, .5,"
                " 7., -1.5E0, 12345678901234567890.123456789,"
                " 'it''s', '', true, False, NULL, (a), x.y, \"\"\"Q\"\"\", count(*),"
                " SUM(a + 1), f(a, 'b'), COUNT(), key, size FROM s",
                want, sizeof(want) / sizeof(want[0]));
}

static void test_select_clauses(void **state)
{
    sl_stmt_list *list =
        parse_one("SELECT p.*, *, pageid AS \"Id\", userid u\n"
                  "FROM pageviews AS p\n"
                  "WINDOW TUMBLING (SIZE 2 minutes, GRACE PERIOD 30 SECONDS)\n"
                  "WHERE a > 1 GROUP BY pageid, userid HAVING COUNT(*) > 2 EMIT FINAL");
    const sl_stmt *st = &list->stmts[0];
    const sl_select *sel = st->select;
    char buf[256] = "";

    (void)state;
    assert_int_equal(st->kind, SL_STMT_SELECT);
    assert_true(st->has_emit);
    assert_int_equal(sel->line, 1);
    assert_int_equal(sel->column, 1);
    assert_int_equal(sel->nitems, 4);
    assert_null(sel->items[0].expr);
    assert_string_equal(sel->items[0].star_qualifier, "P");
    assert_null(sel->items[1].expr);
    assert_null(sel->items[1].star_qualifier);
    assert_int_equal(sel->items[1].column, 13);
    assert_string_equal(sel->items[2].alias, "Id");
    assert_int_equal(sel->items[2].column, 16);
    assert_string_equal(sel->items[3].alias, "U");
    assert_string_equal(sel->from, "PAGEVIEWS");
    assert_int_equal(sel->from_line, 2);
    assert_int_equal(sel->from_column, 6);
    assert_string_equal(sel->alias, "P");
    assert_int_equal(sel->window.kind, SL_WINDOW_TUMBLING);
    assert_int_equal(sel->window.size_ms, 120000);
    assert_int_equal(sel->window.advance_ms, 120000);
    assert_int_equal(sel->window.grace_ms, 30000);
    assert_int_equal(sel->window_line, 3);
    assert_int_equal(sel->window_column, 1);
    render(sel->where, buf, sizeof(buf));
    assert_string_equal(buf, "(> A 1)");
    assert_int_equal(sel->where_line, 4);
    assert_int_equal(sel->where_column, 7);
    assert_int_equal(sel->ngroups, 2);
    buf[0] = '\0';
    render(sel->groups[1], buf, sizeof(buf));
    assert_string_equal(buf, "USERID");
    buf[0] = '\0';
    render(sel->having, buf, sizeof(buf));
    assert_string_equal(buf, "(> COUNT(*) 2)");
    assert_int_equal(sel->emit, SL_EMIT_FINAL);
    assert_int_equal(sel->emit_line, 4);
    assert_int_equal(sel->emit_column, 57);
    sl_stmt_list_free(list);
}

/* WINDOW is accepted after WHERE too; units in either number and any case. */
static void test_window_forms(void **state)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"MILLISECOND", 1}, {"milliseconds", 1}, {"SECOND", 1000},  {"Seconds", 1000},
                 {"MINUTE", 60000},  {"HOURS", 3600000},  {"day", 86400000}, {"DAYS", 86400000}};
    sl_stmt_list *list = parse_one("SELECT COUNT(*) FROM s WHERE a > 1 "
                                   "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY a EMIT CHANGES");
    const sl_select *sel = list->stmts[0].select;

    (void)state;
    assert_int_equal(sel->window.size_ms, 3600000);
    assert_int_equal(sel->window.grace_ms, 0);
    assert_int_equal(sel->window_column, 36);
    assert_non_null(sel->where);
    assert_int_equal(sel->emit, SL_EMIT_CHANGES);
    sl_stmt_list_free(list);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        char sql[128];

        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM s WINDOW TUMBLING (SIZE 3 %s)",
                 units[i].unit);
        list = parse_one(sql);
        assert_int_equal(list->stmts[0].select->window.size_ms, 3 * units[i].ms);
        assert_false(list->stmts[0].has_emit);
        assert_int_equal(list->stmts[0].select->emit, SL_EMIT_BATCH);
        sl_stmt_list_free(list);
    }
    list = parse_one("SELECT COUNT(*) FROM s WINDOW TUMBLING (SIZE 36500 DAYS)");
    assert_int_equal(list->stmts[0].select->window.size_ms, SL_MAX_DURATION_MS);
    sl_stmt_list_free(list);
}

static void test_create_stream(void **state)
{
    sl_stmt_list *list =
        parse_one("CREATE STREAM IF NOT EXISTS pageviews (viewtime BIGINT, userid VARCHAR KEY,\n"
                  " \"pageId\" STRING, n INTEGER, ok BOOLEAN, ts TIMESTAMP, d DOUBLE, key INT,"
                  " size BIGINT)\n"
                  "WITH (kafka_topic='pv', value_format='JSON', partitions=3, TIMESTAMP='ts',"
                  " RETENTION=' 2 days ', IDLE_TIMEOUT = '5 SECONDS', flag=true, ratio=0.5)");
    const sl_stmt *st = &list->stmts[0];
    const sl_schema *s = st->schema;
    static const struct {
        const char *name;
        sl_type type;
        bool key, quoted;
    } want[] = {{"VIEWTIME", SL_T_BIGINT, false, false}, {"USERID", SL_T_VARCHAR, true, false},
                {"pageId", SL_T_VARCHAR, false, true},   {"N", SL_T_INT, false, false},
                {"OK", SL_T_BOOLEAN, false, false},      {"TS", SL_T_TIMESTAMP, false, false},
                {"D", SL_T_DOUBLE, false, false},        {"KEY", SL_T_INT, false, false},
                {"SIZE", SL_T_BIGINT, false, false}};

    (void)state;
    assert_int_equal(st->kind, SL_STMT_CREATE_STREAM);
    assert_true(st->if_not_exists);
    assert_string_equal(st->name, "PAGEVIEWS");
    assert_string_equal(s->name, "PAGEVIEWS");
    assert_false(s->name_quoted);
    assert_int_equal(s->ncols, 9);
    for (int i = 0; i < 9; i++) {
        assert_string_equal(s->cols[i].name, want[i].name);
        assert_int_equal(s->cols[i].type, want[i].type);
        assert_int_equal(s->cols[i].key, want[i].key);
        assert_int_equal(s->cols[i].quoted, want[i].quoted);
    }
    assert_int_equal(s->timestamp_col, 5);
    assert_int_equal(s->retention_ms, 2 * 86400000ll);
    assert_int_equal(s->idle_timeout_ms, 5000);
    assert_null(st->select);
    sl_stmt_list_free(list);

    list = parse_one("create stream \"My Stream\" (viewtime bigint) with (timestamp='viewtime')");
    s = list->stmts[0].schema;
    assert_false(list->stmts[0].if_not_exists);
    assert_string_equal(s->name, "My Stream");
    assert_true(s->name_quoted);
    assert_int_equal(s->timestamp_col, 0);
    assert_int_equal(s->retention_ms, SL_DEFAULT_RETENTION_MS);
    assert_int_equal(s->idle_timeout_ms, 0);
    sl_stmt_list_free(list);

    list = parse_one("CREATE STREAM s (a INT)");
    assert_int_equal(list->stmts[0].schema->timestamp_col, -1);
    sl_stmt_list_free(list);
}

static void test_other_statements(void **state)
{
    static const struct {
        const char *sql;
        sl_stmt_kind kind;
        const char *name;
        bool if_exists;
    } cases[] = {
        {"DROP STREAM s", SL_STMT_DROP_STREAM, "S", false},
        {"drop stream if exists \"s\"", SL_STMT_DROP_STREAM, "s", true},
        {"DROP QUERY q1", SL_STMT_DROP_QUERY, "Q1", false},
        {"DROP QUERY 'q1'", SL_STMT_DROP_QUERY, "q1", false},
        {"SHOW STREAMS", SL_STMT_SHOW_STREAMS, NULL, false},
        {"list streams", SL_STMT_SHOW_STREAMS, NULL, false},
        {"SHOW QUERIES", SL_STMT_SHOW_QUERIES, NULL, false},
        {"LIST QUERIES", SL_STMT_SHOW_QUERIES, NULL, false},
        {"DESCRIBE pageviews", SL_STMT_DESCRIBE, "PAGEVIEWS", false},
        {"EXPLAIN SELECT a FROM s EMIT CHANGES", SL_STMT_EXPLAIN, NULL, false},
        {"SELECT a FROM s", SL_STMT_SELECT, NULL, false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_stmt_list *list = parse_one(cases[i].sql);
        const sl_stmt *st = &list->stmts[0];

        assert_int_equal(st->kind, cases[i].kind);
        if (cases[i].name)
            assert_string_equal(st->name, cases[i].name);
        else
            assert_null(st->name);
        assert_int_equal(st->if_exists, cases[i].if_exists);
        assert_int_equal(st->text_len, strlen(cases[i].sql));
        if (st->kind == SL_STMT_EXPLAIN) {
            assert_true(st->has_emit);
            assert_string_equal(st->select->from, "S");
        } else if (st->kind == SL_STMT_SELECT) {
            assert_false(st->has_emit);
        } else {
            assert_null(st->select);
        }
        sl_stmt_list_free(list);
    }
}

static void test_multi_statement(void **state)
{
    const char *sql = "CREATE STREAM s (a INT);  SELECT a FROM s EMIT CHANGES ; ;\n"
                      "-- a comment\n"
                      "  SHOW STREAMS -- trailing\n";
    sl_stmt_list *list = NULL;
    sl_error err;

    (void)state;
    assert_int_equal(sl_parse(sql, strlen(sql), &list, &err), 0);
    assert_int_equal(list->n, 3);
    assert_int_equal(list->stmts[0].kind, SL_STMT_CREATE_STREAM);
    assert_ptr_equal(list->stmts[0].text, sql);
    assert_int_equal(list->stmts[0].text_len, strlen("CREATE STREAM s (a INT)"));
    assert_int_equal(list->stmts[0].line, 1);
    assert_int_equal(list->stmts[0].column, 1);
    assert_int_equal(list->stmts[1].kind, SL_STMT_SELECT);
    assert_ptr_equal(list->stmts[1].text, sql + 26);
    assert_int_equal(list->stmts[1].text_len, strlen("SELECT a FROM s EMIT CHANGES"));
    assert_int_equal(list->stmts[1].column, 27);
    assert_true(list->stmts[1].has_emit);
    assert_int_equal(list->stmts[2].kind, SL_STMT_SHOW_STREAMS);
    assert_memory_equal(list->stmts[2].text, "SHOW STREAMS", 12);
    assert_int_equal(list->stmts[2].text_len, 12);
    assert_int_equal(list->stmts[2].line, 3);
    assert_int_equal(list->stmts[2].column, 3);
    sl_stmt_list_free(list);

    /* The length bounds the text: what follows is not read. */
    assert_int_equal(sl_parse("SHOW STREAMS; garbage", 13, &list, &err), 0);
    assert_int_equal(list->n, 1);
    sl_stmt_list_free(list);
    sl_stmt_list_free(NULL);
}

typedef struct error_case {
    const char *sql;
    sl_errcode code;
    int line, column;
    const char *message;
} error_case;

static void check_errors(const error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sl_stmt_list *list = (sl_stmt_list *)&list;
        sl_error err;

        if (sl_parse(cases[i].sql, strlen(cases[i].sql), &list, &err) == 0)
            fail_msg("parsed: %s", cases[i].sql);
        assert_null(list);
        if (err.code != cases[i].code || err.line != cases[i].line ||
            err.column != cases[i].column || strcmp(err.message, cases[i].message) != 0)
            fail_msg("%s\n  got %s %d:%d %s\n want %s %d:%d %s", cases[i].sql,
                     sl_error_code_name(err.code), err.line, err.column, err.message,
                     sl_error_code_name(cases[i].code), cases[i].line, cases[i].column,
                     cases[i].message);
    }
}

static void test_errors(void **state)
{
    const error_case cases[] = {
        {"SELECT FROM s", SL_ERR_SYNTAX_ERROR, 1, 8, "near \"FROM\": syntax error"},
        {"SELECT a FROM", SL_ERR_SYNTAX_ERROR, 1, 14, "incomplete input: expected a name"},
        {"SELECT a FROM s WHERE (a = 1", SL_ERR_SYNTAX_ERROR, 1, 29,
         "incomplete input: expected ')'"},
        {"SELECT 'abc FROM s", SL_ERR_SYNTAX_ERROR, 1, 8, "unterminated string"},
        {"CREATE STREAM s (a INT, a BIGINT)", SL_ERR_SYNTAX_ERROR, 1, 25,
         "duplicate column name 'A'"},
        {"CREATE STREAM s (a ARRAY<INT)", SL_ERR_SYNTAX_ERROR, 1, 29, "near \")\": expected '>'"},
        {"CREATE STREAM s (a ARRAY)", SL_ERR_SYNTAX_ERROR, 1, 25, "near \")\": expected '<'"},
        {"CREATE STREAM s (a MAP<INT, INT>)", SL_ERR_TYPE_ERROR, 1, 24,
         "the keys of a MAP must be VARCHAR"},
        {"CREATE STREAM s (a STRUCT<>)", SL_ERR_SYNTAX_ERROR, 1, 26, "near \"<>\": expected '<'"},
        {"CREATE STREAM s (a STRUCT< >)", SL_ERR_SYNTAX_ERROR, 1, 28,
         "near \">\": expected a name"},
        {"CREATE STREAM s (a STRUCT<x INT, X INT>)", SL_ERR_SYNTAX_ERROR, 1, 34,
         "duplicate field name 'X'"},
        {"CREATE STREAM s (a DECIMAL(5, 6))", SL_ERR_TYPE_ERROR, 1, 31,
         "the scale of a DECIMAL must lie between 0 and 5"},
        {"CREATE STREAM s (a DECIMAL(0))", SL_ERR_TYPE_ERROR, 1, 28,
         "the precision of a DECIMAL must lie between 1 and 38"},
        {"CREATE STREAM s (a ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<"
         "ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<ARRAY<INT>>>>>>>>>>>>>>>>>)",
         SL_ERR_LIMIT_EXCEEDED, 1, 116, "type nested more than 16 levels deep"},
        {"SELECT a-> FROM s", SL_ERR_SYNTAX_ERROR, 1, 12, "near \"FROM\": expected a name"},
        {"SELECT a[1 FROM s", SL_ERR_SYNTAX_ERROR, 1, 12, "near \"FROM\": expected ']'"},
        {"CREATE STREAM s (a FOO)", SL_ERR_SYNTAX_ERROR, 1, 20,
         "near \"FOO\": expected a type (BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL, VARCHAR, "
         "TIMESTAMP, BYTES, ARRAY, MAP, STRUCT)"},
        {"SELECT a FROM s EMIT SOON", SL_ERR_SYNTAX_ERROR, 1, 22,
         "near \"SOON\": expected CHANGES or FINAL"},
        {"SELECT a FROM s WINDOW TUMBLING (SIZE 0 SECONDS) GROUP BY a", SL_ERR_SYNTAX_ERROR, 1, 39,
         "window SIZE must be greater than 0"},
        {"SELECT a FROM s WINDOW TUMBLING (SIZE 1 FORTNIGHT)", SL_ERR_SYNTAX_ERROR, 1, 41,
         "near \"FORTNIGHT\": expected a time unit"},
        {"SELECT a FROM s WINDOW HOPPING (SIZE 1 SECOND)", SL_ERR_SYNTAX_ERROR, 1, 46,
         "near \")\": expected ','"},
        {"SELECT a FROM s WINDOW ROLLING (SIZE 1 SECOND)", SL_ERR_SYNTAX_ERROR, 1, 24,
         "near \"ROLLING\": expected TUMBLING, HOPPING, SESSION, SLIDING, CUMULATING or COUNT"},
        {"SELECT a FROM s EMIT CHANGES EVERY 0 SECONDS", SL_ERR_SYNTAX_ERROR, 1, 36,
         "EMIT CHANGES EVERY must be greater than 0"},
        {"SELECT a FROM s LIMIT x", SL_ERR_SYNTAX_ERROR, 1, 23, "near \"x\": expected an integer"},
        {"SELECT 9223372036854775808 FROM s", SL_ERR_SYNTAX_ERROR, 1, 8,
         "near \"9223372036854775808\": integer out of range"},
        {"SELECT 1e999 FROM s", SL_ERR_SYNTAX_ERROR, 1, 8, "near \"1e999\": number out of range"},
        {"SELECT 1234567890123456789012345678901234567.89 FROM s", SL_ERR_SYNTAX_ERROR, 1, 8,
         "near \"1234567890123456789012345678901234567.89\": more than 38 digits in a DECIMAL "
         "(write it with an exponent for a DOUBLE)"},
        {"SELECT a FROM s;\nSELECT b FROM t WHERE", SL_ERR_SYNTAX_ERROR, 2, 22, "incomplete input"},
        {"DROP TABLE x", SL_ERR_SYNTAX_ERROR, 1, 6, "near \"TABLE\": expected STREAM or QUERY"},
        {"CREATE TABLE t (a INT)", SL_ERR_SYNTAX_ERROR, 1, 8, "near \"TABLE\": expected STREAM"},
        {"SELECT a # b FROM s", SL_ERR_SYNTAX_ERROR, 1, 10, "unrecognized token: \"#\""},
        {"SHOW STREAMS;\n  /* never closed", SL_ERR_SYNTAX_ERROR, 2, 3, "unterminated comment"},
        {"", SL_ERR_SYNTAX_ERROR, 1, 1, "no statement"},
        {"; ;\n", SL_ERR_SYNTAX_ERROR, 2, 1, "no statement"},
        {"SELECT a FROM s WINDOW TUMBLING (SIZE 1 SECOND) WHERE a > 1 "
         "WINDOW TUMBLING (SIZE 1 SECOND)",
         SL_ERR_SYNTAX_ERROR, 1, 61, "near \"WINDOW\": syntax error"},
        {"CREATE STREAM s (a INT) WITH (TIMESTAMP='b')", SL_ERR_UNKNOWN_COLUMN, 1, 41,
         "unknown column 'b'"},
        {"CREATE STREAM s (a VARCHAR) WITH (TIMESTAMP='a')", SL_ERR_TYPE_ERROR, 1, 45,
         "TIMESTAMP column 'A' must be BIGINT or TIMESTAMP, not VARCHAR"},
        {"CREATE STREAM s (a INT) WITH (TIMESTAMP=1)", SL_ERR_SYNTAX_ERROR, 1, 41,
         "near \"1\": expected a string"},
        {"CREATE STREAM s (a INT) WITH (RETENTION='forever')", SL_ERR_SYNTAX_ERROR, 1, 41,
         "invalid duration 'forever' for RETENTION (expected e.g. '7 DAYS')"},
        {"CREATE STREAM s (a INT) WITH (IDLE_TIMEOUT='0 SECONDS')", SL_ERR_SYNTAX_ERROR, 1, 44,
         "IDLE_TIMEOUT must be greater than 0"},
        {"CREATE STREAM s (a INT) WITH (RETENTION='36501 DAYS')", SL_ERR_LIMIT_EXCEEDED, 1, 41,
         "RETENTION is longer than the limit of 3153600000000 ms"},
        {"CREATE STREAM s (a INT) WITH (x=y)", SL_ERR_SYNTAX_ERROR, 1, 33,
         "near \"y\": expected a string or a number"},
        {"CREATE STREAM s (rowtime BIGINT)", SL_ERR_SYNTAX_ERROR, 1, 18,
         "'ROWTIME' is a reserved column name"},
        {"CREATE STREAM s ()", SL_ERR_SYNTAX_ERROR, 1, 18, "near \")\": expected a name"},
        {"SELECT COUNT(*) FROM s WINDOW TUMBLING (SIZE 36501 DAYS)", SL_ERR_LIMIT_EXCEEDED, 1, 46,
         "duration is longer than the limit of 3153600000000 ms"},
        {"SELECT a AS FROM s", SL_ERR_SYNTAX_ERROR, 1, 13, "near \"FROM\": expected a name"},
        {"SELECT a FROM s junk junk", SL_ERR_SYNTAX_ERROR, 1, 22, "near \"junk\": syntax error"},
        {"SELECT a FROM s WHERE a IS 5", SL_ERR_SYNTAX_ERROR, 1, 28, "near \"5\": expected NULL"},
        {"SELECT \"\" FROM s", SL_ERR_SYNTAX_ERROR, 1, 8,
         "a quoted identifier must be non-empty and contain no NUL byte"},
        {"SELECT a FROM s GROUP a", SL_ERR_SYNTAX_ERROR, 1, 23, "near \"a\": expected BY"},
        {"SELECT 'a very long string literal that goes on and on' + FROM s", SL_ERR_SYNTAX_ERROR, 1,
         59, "near \"FROM\": syntax error"},
        {"SELECT a FROM s 'a very long string literal that goes on and on'", SL_ERR_SYNTAX_ERROR, 1,
         17, "near \"'a very long string literal that goes on\": syntax error"},
    };

    (void)state;
    check_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Builds "SELECT <prefix x n> <middle> <suffix x n> FROM s" on the heap. */
static char *repeat_sql(const char *prefix, int n, const char *middle, const char *suffix)
{
    size_t lp = strlen(prefix), ls = strlen(suffix);
    size_t len = strlen("SELECT  FROM s") + strlen(middle) + (size_t)n * (lp + ls) + 1;
    char *sql = malloc(len);
    char *p = sql;

    /* A running pointer keeps this linear: 100,000 levels under valgrind too. */
    p = stpcpy(p, "SELECT ");
    for (int i = 0; i < n; i++)
        p = stpcpy(p, prefix);
    p = stpcpy(p, middle);
    for (int i = 0; i < n; i++)
        p = stpcpy(p, suffix);
    strcpy(p, " FROM s");
    return sql;
}

/* Returns 0 when sql parses, else the error code; *column gets the error's column. */
static int try_parse(const char *sql, int *column, char *message)
{
    sl_stmt_list *list;
    sl_error err;

    if (sl_parse(sql, strlen(sql), &list, &err) == 0) {
        sl_stmt_list_free(list);
        return 0;
    }
    *column = err.column;
    strcpy(message, err.message);
    return (int)err.code;
}

static void test_depth_limit(void **state)
{
    static const struct {
        const char *prefix, *middle, *suffix;
        int column_at_limit; /* column of the error one level past the limit */
    } shapes[] = {
        {"(", "1", ")", 208}, /* recursion: each '(' is one more level */
        {"NOT ", "a", "", 8 + 4 * 200}, {"- ", "a", "", 8 + 2 * 200},
        {"", "1", "+1", 9 + 2 * 199}, /* left-deep tree: no recursion, the height counts */
        {"f(", "1", ")", 8 + 2 * 200},
    };
    char message[SL_ERROR_MSG_MAX];
    int column = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        char *ok =
            repeat_sql(shapes[i].prefix, SL_MAX_EXPR_DEPTH - 1, shapes[i].middle, shapes[i].suffix);
        char *bad =
            repeat_sql(shapes[i].prefix, SL_MAX_EXPR_DEPTH, shapes[i].middle, shapes[i].suffix);
        char *huge = repeat_sql(shapes[i].prefix, 100000, shapes[i].middle, shapes[i].suffix);

        assert_int_equal(try_parse(ok, &column, message), 0);
        assert_int_equal(try_parse(bad, &column, message), SL_ERR_LIMIT_EXCEEDED);
        assert_string_equal(message, "expression nested too deeply (limit 200 levels)");
        if (column != shapes[i].column_at_limit)
            fail_msg("shape %zu: column %d, want %d", i, column, shapes[i].column_at_limit);
        assert_int_equal(try_parse(huge, &column, message), SL_ERR_LIMIT_EXCEEDED);
        free(ok);
        free(bad);
        free(huge);
    }
}

static void test_limits(void **state)
{
    size_t big = SL_MAX_SQL + 1;
    char *sql = malloc(big + 64);
    char ident[SL_MAX_IDENT + 2];
    sl_stmt_list *list;
    sl_error err;
    int column = 0;

    (void)state;
    memset(sql, ' ', big);
    assert_int_equal(sl_parse(sql, big, &list, &err), -1);
    assert_int_equal(err.code, SL_ERR_LIMIT_EXCEEDED);
    assert_string_equal(err.message, "SQL text is longer than 1048576 bytes");

    sql[0] = '\0';
    for (int i = 0; i <= SL_MAX_STATEMENTS; i++)
        strcat(sql, "SHOW STREAMS;");
    assert_int_equal(try_parse(sql, &column, err.message), SL_ERR_LIMIT_EXCEEDED);
    assert_string_equal(err.message, "more than 1000 statements");
    sql[strlen(sql) - strlen("SHOW STREAMS;")] = '\0';
    assert_int_equal(try_parse(sql, &column, err.message), 0);

    memset(ident, 'a', sizeof(ident) - 1);
    ident[sizeof(ident) - 1] = '\0';
    snprintf(sql, big, "SELECT %s FROM s", ident);
    assert_int_equal(try_parse(sql, &column, err.message), SL_ERR_LIMIT_EXCEEDED);
    assert_string_equal(err.message, "identifier is longer than 128 bytes");
    ident[SL_MAX_IDENT] = '\0';
    snprintf(sql, big, "SELECT %s FROM s", ident);
    assert_int_equal(try_parse(sql, &column, err.message), 0);

    strcpy(sql, "CREATE STREAM s (c0 INT");
    for (int i = 1; i <= SL_MAX_COLUMNS; i++)
        sprintf(sql + strlen(sql), ", c%d INT", i);
    strcat(sql, ")");
    assert_int_equal(try_parse(sql, &column, err.message), SL_ERR_LIMIT_EXCEEDED);
    assert_string_equal(err.message, "more than 1024 columns in a stream");
    free(sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),      cmocka_unit_test(test_predicates),
        cmocka_unit_test(test_nested_syntax),   cmocka_unit_test(test_literals),
        cmocka_unit_test(test_select_clauses),  cmocka_unit_test(test_window_forms),
        cmocka_unit_test(test_create_stream),   cmocka_unit_test(test_other_statements),
        cmocka_unit_test(test_multi_statement), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth_limit),     cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
