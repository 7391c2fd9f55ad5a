/* test_lexer.c: the SQL tokenizer (parser/lexer.c): kinds, spans and positions of
 * tokens, comments, and the errors for malformed tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lexer.h"

#include <string.h>

typedef struct expect_tok {
    sl_tok kind;
    const char *text;
    int line, column;
} expect_tok;

/* Lexes sql and checks every token against want[0..n), then EOF at eof_line:eof_col. */
static void check_tokens(const char *sql, const expect_tok *want, size_t n, int eof_line,
                         int eof_col)
{
    sl_lexer lx;
    sl_token t;
    sl_error err;

    sl_lexer_init(&lx, sql, strlen(sql));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
        assert_string_equal(sl_tok_name(t.kind), sl_tok_name(want[i].kind));
        assert_int_equal(t.len, strlen(want[i].text));
        assert_memory_equal(t.start, want[i].text, t.len);
        assert_int_equal(t.line, want[i].line);
        assert_int_equal(t.column, want[i].column);
    }
    for (int again = 0; again < 2; again++) {
        assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
        assert_int_equal(t.kind, SL_TK_EOF);
        assert_int_equal(t.len, 0);
        assert_int_equal(t.line, eof_line);
        assert_int_equal(t.column, eof_col);
    }
}

static void test_select(void **state)
{
    const char *sql = "select Pageid, COUNT(*) AS c\n"
                      "  FROM pageviews  -- a comment\n"
                      "WHERE x<>1.5e3 /* multi\nline */ AND y != 'it''s' ;";
    const expect_tok want[] = {
        {SL_TK_SELECT, "select", 1, 1},   {SL_TK_IDENT, "Pageid", 1, 8},
        {SL_TK_COMMA, ",", 1, 14},        {SL_TK_IDENT, "COUNT", 1, 16},
        {SL_TK_LPAREN, "(", 1, 21},       {SL_TK_STAR, "*", 1, 22},
        {SL_TK_RPAREN, ")", 1, 23},       {SL_TK_AS, "AS", 1, 25},
        {SL_TK_IDENT, "c", 1, 28},        {SL_TK_FROM, "FROM", 2, 3},
        {SL_TK_IDENT, "pageviews", 2, 8}, {SL_TK_WHERE, "WHERE", 3, 1},
        {SL_TK_IDENT, "x", 3, 7},         {SL_TK_NE, "<>", 3, 8},
        {SL_TK_DECIMAL, "1.5e3", 3, 10},  {SL_TK_AND, "AND", 4, 9},
        {SL_TK_IDENT, "y", 4, 13},        {SL_TK_NE, "!=", 4, 15},
        {SL_TK_STRING, "'it''s'", 4, 18}, {SL_TK_SEMI, ";", 4, 26},
    };

    (void)state;
    check_tokens(sql, want, sizeof(want) / sizeof(want[0]), 4, 27);
}

static void test_operators_and_numbers(void **state)
{
    const char *sql = "a.b+-*/%=<><=>=< >.5 12 3.0 1e-2 7E+1 \"Quoted \"\" id\" `back`";
    const expect_tok want[] = {
        {SL_TK_IDENT, "a", 1, 1},        {SL_TK_DOT, ".", 1, 2},
        {SL_TK_IDENT, "b", 1, 3},        {SL_TK_PLUS, "+", 1, 4},
        {SL_TK_MINUS, "-", 1, 5},        {SL_TK_STAR, "*", 1, 6},
        {SL_TK_SLASH, "/", 1, 7},        {SL_TK_PERCENT, "%", 1, 8},
        {SL_TK_EQ, "=", 1, 9},           {SL_TK_NE, "<>", 1, 10},
        {SL_TK_LE, "<=", 1, 12},         {SL_TK_GE, ">=", 1, 14},
        {SL_TK_LT, "<", 1, 16},          {SL_TK_GT, ">", 1, 18},
        {SL_TK_DECIMAL, ".5", 1, 19},    {SL_TK_INTEGER, "12", 1, 22},
        {SL_TK_DECIMAL, "3.0", 1, 25},   {SL_TK_DECIMAL, "1e-2", 1, 29},
        {SL_TK_DECIMAL, "7E+1", 1, 34},  {SL_TK_QIDENT, "\"Quoted \"\" id\"", 1, 39},
        {SL_TK_QIDENT, "`back`", 1, 54},
    };

    (void)state;
    check_tokens(sql, want, sizeof(want) / sizeof(want[0]), 1, 60);
}

static void test_keywords(void **state)
{
    const expect_tok want[] = {
        {SL_TK_EMIT, "Emit", 1, 1},          {SL_TK_CHANGES, "changes", 1, 6},
        {SL_TK_TUMBLING, "TUMBLING", 1, 14}, {SL_TK_IDENT, "tumblingx", 1, 23},
        {SL_TK_IDENT, "_x1", 1, 33},
    };
    bool reserved = true;

    (void)state;
    check_tokens("Emit changes TUMBLING tumblingx _x1", want, 5, 1, 36);
    assert_true(sl_tok_is_keyword(SL_TK_SELECT, &reserved));
    assert_true(reserved);
    assert_true(sl_tok_is_keyword(SL_TK_KEY, &reserved));
    assert_false(reserved);
    assert_false(sl_tok_is_keyword(SL_TK_IDENT, &reserved));
    assert_false(sl_tok_is_keyword(SL_TK_LPAREN, NULL));
    assert_string_equal(sl_tok_name(SL_TK_SELECT), "SELECT");
    assert_string_equal(sl_tok_name(SL_TK_RPAREN), ")");
    assert_string_equal(sl_tok_name(SL_TK_EOF), "end of input");
}

/* Columns count characters: a two-byte character in a string moves the column by one. */
static void test_utf8_columns(void **state)
{
    const expect_tok want[] = {
        {SL_TK_STRING, "'h\xc3\xa9'", 1, 1},
        {SL_TK_IDENT, "\xc3\xa9t\xc3\xa9", 1, 6},
        {SL_TK_PLUS, "+", 1, 10},
    };

    (void)state;
    check_tokens("'h\xc3\xa9' \xc3\xa9t\xc3\xa9 +", want, 3, 1, 11);
}

static void test_comment_only(void **state)
{
    (void)state;
    check_tokens("  -- nothing\n/* at all */", NULL, 0, 2, 13);
    check_tokens("-- no newline", NULL, 0, 1, 14);
    check_tokens("", NULL, 0, 1, 1);
}

typedef struct bad_case {
    const char *sql;
    int tokens_before; /* good tokens before the bad one */
    int line, column;
    const char *message;
} bad_case;

static void test_errors(void **state)
{
    const bad_case cases[] = {
        {"SELECT 'abc", 1, 1, 8, "unterminated string"},
        {"a\n  \"abc", 1, 2, 3, "unterminated quoted identifier"},
        {"x `abc", 1, 1, 3, "unterminated quoted identifier"},
        {"a /* b", 1, 1, 3, "unterminated comment"},
        {"a # b", 1, 1, 3, "unrecognized token: \"#\""},
        {"a ! b", 1, 1, 3, "unrecognized token: \"!\""},
        {"12abc", 0, 1, 1, "unrecognized token: \"12abc\""},
        {"1.2.3 x", 0, 1, 1, "unrecognized token: \"1.2.3\""},
        {"a \x01", 1, 1, 3, "unrecognized token: \"\\x01\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_lexer lx;
        sl_token t;
        sl_error err;

        sl_lexer_init(&lx, cases[i].sql, strlen(cases[i].sql));
        for (int k = 0; k < cases[i].tokens_before; k++)
            assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
        assert_int_equal(sl_lexer_next(&lx, &t, &err), -1);
        assert_int_equal(err.code, SL_ERR_SYNTAX_ERROR);
        assert_int_equal(err.line, cases[i].line);
        assert_int_equal(err.column, cases[i].column);
        assert_string_equal(err.message, cases[i].message);
    }
}

/* The text need not be NUL-terminated: the length bounds every scan. */
static void test_length_bounds(void **state)
{
    const char sql[] = "abc 'x' 12345";
    sl_lexer lx;
    sl_token t;
    sl_error err;

    (void)state;
    sl_lexer_init(&lx, sql, 2);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
    assert_int_equal(t.kind, SL_TK_IDENT);
    assert_int_equal(t.len, 2);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
    assert_int_equal(t.kind, SL_TK_EOF);
    sl_lexer_init(&lx, sql, 6);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), -1);
    assert_string_equal(err.message, "unterminated string");
    sl_lexer_init(&lx, sql, 10);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
    assert_int_equal(sl_lexer_next(&lx, &t, &err), 0);
    assert_int_equal(t.kind, SL_TK_INTEGER);
    assert_int_equal(t.len, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),        cmocka_unit_test(test_operators_and_numbers),
        cmocka_unit_test(test_keywords),      cmocka_unit_test(test_utf8_columns),
        cmocka_unit_test(test_comment_only),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_length_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
