/* test_decimal.c: exact DECIMAL numbers (parser/decimal.c): text in and out, result
 * types, arithmetic, rounding, comparison and conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decimal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* s read as DECIMAL(p, sc), rounding; the test fails when it is not a number. */
static sl_value dec(const char *s, int p, int sc)
{
    sl_value v;

    assert_int_equal(sl_decimal_parse(s, strlen(s), p, sc, false, &v), 0);
    assert_int_equal(v.type, SL_T_DECIMAL);
    assert_int_equal(v.scale, sc);
    return v;
}

/* v's text, or "NULL". */
static const char *text(sl_value v)
{
    static char buf[SL_DECIMAL_TEXT];

    if (v.type == SL_T_NULL)
        return "NULL";
    assert_int_equal(v.type, SL_T_DECIMAL);
    sl_decimal_format(&v, buf);
    return buf;
}

static const char *parsed(const char *s, int p, int sc)
{
    sl_value v;

    if (sl_decimal_parse(s, strlen(s), p, sc, false, &v) < 0)
        return "ERROR";
    return text(v);
}

static int parse_rc(const char *s, int p, int sc, bool exact)
{
    sl_value v;

    return sl_decimal_parse(s, strlen(s), p, sc, exact, &v);
}

static void test_parse(void **state)
{
    (void)state;
    /* Scale digits are kept; rounding is HALF_UP. */
    assert_string_equal(parsed("12.3", 4, 2), "12.30");
    assert_string_equal(parsed("12", 4, 2), "12.00");
    assert_string_equal(parsed("-0.005", 3, 2), "-0.01");
    assert_string_equal(parsed("0.004", 3, 2), "0.00");
    assert_string_equal(parsed("-0.004", 3, 2), "0.00"); /* no negative zero */
    assert_string_equal(parsed("1.005", 3, 2), "1.01");
    assert_string_equal(parsed("1.00499999999999999999999999", 3, 2), "1.00");
    assert_string_equal(parsed("0.15", 2, 1), "0.2");
    assert_string_equal(parsed("2.5", 1, 0), "3");
    assert_string_equal(parsed("-2.5", 1, 0), "-3");
    /* Exponents, SQL literal forms, a plus sign. */
    assert_string_equal(parsed("1e2", 5, 1), "100.0");
    assert_string_equal(parsed("1.5E-1", 2, 1), "0.2");
    assert_string_equal(parsed("12345E-4", 5, 4), "1.2345");
    assert_string_equal(parsed("-1.25e+1", 4, 2), "-12.50");
    assert_string_equal(parsed(".5", 1, 1), "0.5");
    assert_string_equal(parsed("5.", 1, 0), "5");
    assert_string_equal(parsed("+7", 1, 0), "7");
    assert_string_equal(parsed("0", 1, 0), "0");
    assert_string_equal(parsed("-0.0", 2, 1), "0.0");
    assert_string_equal(parsed("000000000000000000000000000000000000000000001.5", 2, 1), "1.5");
    assert_string_equal(parsed("1.000000000000000000000000000000000000000000000000", 2, 1), "1.0");
    /* The extremes of 38 digits. */
    assert_string_equal(parsed("99999999999999999999999999999999999999", 38, 0),
                        "99999999999999999999999999999999999999");
    assert_string_equal(parsed("-99999999999999999999999999999999999999", 38, 0),
                        "-99999999999999999999999999999999999999");
    assert_string_equal(parsed("0.00000000000000000000000000000000000001", 38, 38),
                        "0.00000000000000000000000000000000000001");
    assert_string_equal(parsed("-0.99999999999999999999999999999999999999", 38, 38),
                        "-0.99999999999999999999999999999999999999");
    assert_string_equal(parsed("12345678901234567890.123456789", 29, 9),
                        "12345678901234567890.123456789");
    /* Overflow of the precision, also by rounding up. */
    assert_int_equal(parse_rc("123.45", 4, 2, false), SL_DECIMAL_OVERFLOW);
    assert_int_equal(parse_rc("99.995", 4, 2, false), SL_DECIMAL_OVERFLOW);
    assert_string_equal(parsed("99.994", 4, 2), "99.99");
    assert_int_equal(parse_rc("100000000000000000000000000000000000000", 38, 0, false),
                     SL_DECIMAL_OVERFLOW);
    assert_int_equal(parse_rc("1", 1, 1, false), SL_DECIMAL_OVERFLOW);
    assert_int_equal(parse_rc("1e999999999999999999", 38, 0, false), SL_DECIMAL_OVERFLOW);
    assert_string_equal(parsed("0e999999999999999999", 3, 2), "0.00");
    assert_string_equal(parsed("1e-999999999999999999", 3, 2), "0.00");
    assert_string_equal(parsed("0.0000000000000000000000000000000000000000000000000005", 1, 0),
                        "0");
    /* Exact: more fraction digits than the scale is an error, trailing zeros are not. */
    assert_int_equal(parse_rc("12.345", 4, 2, true), SL_DECIMAL_INEXACT);
    assert_int_equal(parse_rc("12.300", 4, 2, true), 0);
    assert_int_equal(parse_rc("1e-999999999", 4, 2, true), SL_DECIMAL_INEXACT);
    assert_int_equal(parse_rc("0.0000000000000000000000000000000000000000001", 4, 2, true),
                     SL_DECIMAL_INEXACT);
    assert_int_equal(parse_rc("120e-1", 4, 2, true), 0);
    assert_int_equal(parse_rc("999.999", 4, 2, true), SL_DECIMAL_OVERFLOW);
    /* Not numbers. */
    const char *bad[] = {"",   "-",   "+",    ".",     "e5",  "1e",   "1e+", "1.2.3", " 1",
                         "1 ", "--1", "0x10", "1_000", "abc", "1.5f", "NaN", "1e5.5", "-.e1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_value v = sl_int(SL_T_INT, 1);
        assert_int_equal(sl_decimal_parse(bad[i], strlen(bad[i]), 10, 2, false, &v),
                         SL_DECIMAL_SYNTAX);
        assert_int_equal(v.type, SL_T_NULL);
    }
    /* The length bounds the text. */
    sl_value v;
    assert_int_equal(sl_decimal_parse("12.345", 4, 4, 2, false, &v), 0);
    assert_string_equal(text(v), "12.30");
}

static void test_parse_literal(void **state)
{
    static const struct {
        const char *in, *out;
        int precision, scale;
    } cases[] = {
        {"1.5", "1.5", 2, 1},
        {"1.50", "1.50", 3, 2},
        {"0.05", "0.05", 2, 2},
        {"100", "100", 3, 0},
        {"1.5e3", "1500", 4, 0},
        {"1.5e-3", "0.0015", 4, 4},
        {"0", "0", 1, 0},
        {"0.000", "0.000", 3, 3},
        {"-1.5", "-1.5", 2, 1},
        {"12345678901234567890.123456789", "12345678901234567890.123456789", 29, 9},
        {".5", "0.5", 1, 1},
        {"5.", "5", 1, 0},
        {"007.10", "7.10", 3, 2},
    };
    sl_value v;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(sl_decimal_parse_literal(cases[i].in, strlen(cases[i].in), &v), 0);
        assert_string_equal(text(v), cases[i].out);
        assert_int_equal(sl_decimal_literal_precision(&v), cases[i].precision);
        assert_int_equal(v.scale, cases[i].scale);
    }
    assert_int_equal(sl_decimal_parse_literal("123456789012345678901234567890123456789", 39, &v),
                     SL_DECIMAL_OVERFLOW);
    assert_int_equal(sl_decimal_parse_literal("1e-39", 5, &v), SL_DECIMAL_OVERFLOW);
    assert_int_equal(sl_decimal_parse_literal("1e38", 4, &v), SL_DECIMAL_OVERFLOW);
    assert_int_equal(sl_decimal_parse_literal("1e37", 4, &v), 0);
    assert_int_equal(sl_decimal_literal_precision(&v), 38);
    assert_int_equal(sl_decimal_parse_literal("1.x", 3, &v), SL_DECIMAL_SYNTAX);
}

static void test_format(void **state)
{
    sl_buf b = SL_BUF_INIT;
    char out[SL_DECIMAL_TEXT];
    sl_value v;

    (void)state;
    v = sl_decimal_make(0, 1230, 2);
    assert_int_equal(sl_decimal_format(&v, out), 5);
    assert_string_equal(out, "12.30");
    v = sl_decimal_make(-1, (uint64_t)-5, 2);
    assert_string_equal(text(v), "-0.05");
    v = sl_decimal_make(0, 0, 3);
    assert_string_equal(text(v), "0.000");
    v = sl_decimal_make(0, 7, 0);
    assert_string_equal(text(v), "7");
    /* -(10^38 - 1) at scale 38: the longest text there is. */
    v = dec("-0.99999999999999999999999999999999999999", 38, 38);
    assert_int_equal(sl_decimal_format(&v, out), 41);
    v = dec("-1.5", 2, 1);
    sl_buf_puts(&b, "x=");
    sl_decimal_append(&v, &b);
    assert_string_equal(b.data, "x=-1.5");
    sl_buf_free(&b);
}

static void test_result_types(void **state)
{
    int p, s;

    (void)state;
    sl_decimal_result_type(SL_DECIMAL_ADD, 4, 2, 5, 1, &p, &s);
    assert_int_equal(p, 7);
    assert_int_equal(s, 2);
    sl_decimal_result_type(SL_DECIMAL_SUB, 1, 1, 1, 1, &p, &s);
    assert_int_equal(p, 2);
    assert_int_equal(s, 1);
    sl_decimal_result_type(SL_DECIMAL_MUL, 4, 2, 5, 1, &p, &s);
    assert_int_equal(p, 10);
    assert_int_equal(s, 3);
    sl_decimal_result_type(SL_DECIMAL_DIV, 4, 2, 5, 1, &p, &s);
    assert_int_equal(p, 11);
    assert_int_equal(s, 8);
    sl_decimal_result_type(SL_DECIMAL_DIV, 10, 0, 10, 0, &p, &s); /* INT / INT as decimals */
    assert_int_equal(p, 21);
    assert_int_equal(s, 11);
    sl_decimal_result_type(SL_DECIMAL_MOD, 4, 2, 5, 1, &p, &s);
    assert_int_equal(p, 4);
    assert_int_equal(s, 2);
    /* Capped at 38: integer digits kept, the scale gives way down to 6. */
    sl_decimal_result_type(SL_DECIMAL_MUL, 38, 10, 38, 10, &p, &s);
    assert_int_equal(p, 38);
    assert_int_equal(s, 6);
    sl_decimal_result_type(SL_DECIMAL_MUL, 20, 10, 10, 5, &p, &s); /* 31, 15: no cap */
    assert_int_equal(p, 31);
    assert_int_equal(s, 15);
    sl_decimal_result_type(SL_DECIMAL_MUL, 20, 18, 20, 18, &p, &s); /* 41, 36 -> 38, 33 */
    assert_int_equal(p, 38);
    assert_int_equal(s, 33);
    sl_decimal_result_type(SL_DECIMAL_DIV, 38, 0, 38, 0, &p, &s);
    assert_int_equal(p, 38);
    assert_int_equal(s, 6);
    sl_decimal_result_type(SL_DECIMAL_DIV, 38, 38, 38, 0, &p, &s);
    assert_int_equal(p, 38);
    assert_int_equal(s, 38);
    sl_decimal_result_type(SL_DECIMAL_ADD, 38, 0, 38, 0, &p, &s);
    assert_int_equal(p, 38);
    assert_int_equal(s, 0);
    sl_decimal_widen(10, 0, 5, 2, &p, &s);
    assert_int_equal(p, 12);
    assert_int_equal(s, 2);
    sl_decimal_widen(38, 0, 10, 10, &p, &s);
    assert_int_equal(p, 38);
    assert_int_equal(s, 6);
    assert_int_equal(sl_decimal_int_type(SL_T_INT, &p, &s), 0);
    assert_int_equal(p, 10);
    assert_int_equal(s, 0);
    assert_int_equal(sl_decimal_int_type(SL_T_BIGINT, &p, &s), 0);
    assert_int_equal(p, 19);
    assert_int_equal(sl_decimal_int_type(SL_T_DOUBLE, &p, &s), -1);
}

static const char *arith(sl_decimal_op op, const char *a, int pa, int sa, const char *b, int pb,
                         int sb)
{
    sl_value x = dec(a, pa, sa), y = dec(b, pb, sb);
    int p, s;

    sl_decimal_result_type(op, pa, sa, pb, sb, &p, &s);
    return text(sl_decimal_arith(op, &x, &y, p, s));
}

static void test_arith(void **state)
{
    (void)state;
    assert_string_equal(arith(SL_DECIMAL_ADD, "0.1", 1, 1, "0.2", 1, 1), "0.3");
    assert_string_equal(arith(SL_DECIMAL_ADD, "12.30", 4, 2, "0.005", 3, 3), "12.305");
    assert_string_equal(arith(SL_DECIMAL_SUB, "1.5", 2, 1, "2.25", 3, 2), "-0.75");
    assert_string_equal(arith(SL_DECIMAL_SUB, "2.25", 3, 2, "2.25", 3, 2), "0.00");
    assert_string_equal(arith(SL_DECIMAL_MUL, "1.5", 2, 1, "1.5", 2, 1), "2.25");
    assert_string_equal(arith(SL_DECIMAL_MUL, "-1.5", 2, 1, "0.0", 2, 1), "0.00");
    assert_string_equal(arith(SL_DECIMAL_DIV, "1", 1, 0, "3", 1, 0), "0.333333");
    assert_string_equal(arith(SL_DECIMAL_DIV, "2", 1, 0, "3", 1, 0), "0.666667");
    assert_string_equal(arith(SL_DECIMAL_DIV, "-2", 1, 0, "3", 1, 0), "-0.666667");
    assert_string_equal(arith(SL_DECIMAL_DIV, "10", 2, 0, "4", 1, 0), "2.500000");
    assert_string_equal(arith(SL_DECIMAL_DIV, "1", 1, 0, "0", 1, 0), "NULL");
    assert_string_equal(arith(SL_DECIMAL_DIV, "1.00", 3, 2, "0.00", 3, 2), "NULL");
    assert_string_equal(arith(SL_DECIMAL_MOD, "10.5", 3, 1, "3", 1, 0), "1.5");
    assert_string_equal(arith(SL_DECIMAL_MOD, "-10.5", 3, 1, "3", 1, 0), "-1.5");
    assert_string_equal(arith(SL_DECIMAL_MOD, "10.5", 3, 1, "-3", 1, 0), "1.5");
    assert_string_equal(arith(SL_DECIMAL_MOD, "10.5", 3, 1, "0", 1, 0), "NULL");
    /* Capped types round (HALF_UP) or, past their integer digits, give NULL. */
    assert_string_equal(arith(SL_DECIMAL_MUL, "1.0000000001", 38, 10, "1.0000000001", 38, 10),
                        "1.000000");
    assert_string_equal(arith(SL_DECIMAL_MUL, "1.0000005", 38, 10, "1", 38, 10), "1.000001");
    assert_string_equal(
        arith(SL_DECIMAL_DIV, "1", 38, 0, "0.00000000000000000000000000000000000001", 38, 38),
        "NULL");
    assert_string_equal(
        arith(SL_DECIMAL_DIV, "99999999999999999999999999999999999999", 38, 0, "3", 38, 0), "NULL");
    assert_string_equal(arith(SL_DECIMAL_DIV, "9999999999999999999999999999999", 38, 0, "3", 38, 0),
                        "3333333333333333333333333333333.000000");
    assert_string_equal(
        arith(SL_DECIMAL_ADD, "99999999999999999999999999999999999999", 38, 0, "1", 38, 0), "NULL");
    assert_string_equal(arith(SL_DECIMAL_SUB, "-99999999999999999999999999999999999999", 38, 0,
                              "-99999999999999999999999999999999999999", 38, 0),
                        "0");
    assert_string_equal(arith(SL_DECIMAL_MUL, "99999999999999999999999999999999999999", 38, 0,
                              "-99999999999999999999999999999999999999", 38, 0),
                        "NULL");
    /* A result type given by the caller: rounded, or NULL past it. */
    sl_value x = dec("99", 2, 0), y = dec("99", 2, 0);
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_MUL, &x, &y, 3, 0)), "NULL");
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_MUL, &x, &y, 4, 0)), "9801");
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_MUL, &x, &y, 6, 2)), "9801.00");
    x = dec("1", 1, 0);
    y = dec("7", 1, 0);
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_DIV, &x, &y, 38, 37)),
                        "0.1428571428571428571428571428571428571");
    x = dec("12345678901234567890.123456789", 29, 9);
    y = dec("-3.5", 2, 1);
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_MUL, &x, &y, 38, 10)),
                        "-43209876154320987615.4320987615");
    y = dec("0.0003", 4, 4);
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_DIV, &x, &y, 38, 6)),
                        "41152263004115226300411.522630");
    /* Integers are numbers of scale 0. */
    x = dec("2.50", 3, 2);
    y = sl_int(SL_T_INT, -4);
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_MUL, &x, &y, 14, 2)), "-10.00");
    y = sl_int(SL_T_BIGINT, INT64_MIN);
    assert_string_equal(text(sl_decimal_arith(SL_DECIMAL_SUB, &x, &y, 22, 2)),
                        "9223372036854775810.50");
}

/* Random cases: result types by the rules above, or (a quarter) picked at random;
 * expected values computed with Python's decimal module (exact, then HALF_UP). */
static const struct {
    const char *a;
    int pa, sa;
    char op;
    const char *b;
    int pb, sb, p, s;
    const char *want; /* NULL: SQL NULL */
} table[] = {
    {"-0.13960482443532127989", 20, 20, '*', "-0.03", 2, 2, 23, 22, "0.0041881447330596383967"},
    {"1.5", 15, 1, '+', "225258192192.4540772671648922849817154", 37, 25, 38, 23,
     "225258192193.95407726716489228498172"},
    {"-0.000000000009", 38, 12, '+', "0.69", 2, 2, 38, 11, "0.68999999999"},
    {"0.46", 2, 2, '-', "-0.0000000000000000000000000000008", 38, 31, 32, 26,
     "0.46000000000000000000000000"},
    {"0.000056146097882574896152818445815603", 38, 36, '+', "-0.00000000007", 19, 11, 38, 29,
     "0.00005614602788257489615281845"},
    {"-0.00002", 5, 5, '-', "-99724676.655908563632", 20, 12, 21, 12, "99724676.655888563632"},
    {"7", 5, 0, '/', "-4695.3", 5, 1, 12, 6, "-0.001491"},
    {"-0.07521", 5, 5, '%', "-7718.312", 33, 3, 11, 1, "-0.1"},
    {"-88", 2, 0, '*', "0.0029", 5, 4, 8, 4, "-0.2552"},
    {"-0.2", 2, 1, '/', "313286711505523.033979371321250", 30, 15, 38, 22,
     "-0.0000000000000006383929"},
    {"4794857357507219590004445561655871092.3", 38, 1, '*', "0.61", 18, 2, 38, 3, NULL},
    {"0.5", 1, 1, '*', "-0.000003", 18, 6, 20, 7, "-0.0000015"},
    {"-0.00000000000000000000000004265", 30, 29, '/', "-0.05", 2, 2, 35, 32,
     "0.00000000000000000000000085300000"},
    {"0.85", 2, 2, '/', "9.4", 5, 1, 9, 8, "0.09042553"},
    {"-0.04", 2, 2, '+', "-0.000085", 20, 6, 21, 6, "-0.040085"},
    {"-0.000000000000000000078", 30, 21, '+', "0.00000000000000000000000007", 38, 26, 38, 25,
     "-0.0000000000000000000779999"},
    {"0.903", 5, 3, '-', "0.000", 38, 3, 29, 17, "0.90300000000000000"},
    {"41227789200420706773.5758247555", 30, 10, '+', "-0.00000000000000000000000000000067", 33, 32,
     38, 17, "41227789200420706773.57582475550000000"},
    {"-831882832762767355.18", 20, 2, '+', "-8.983", 18, 3, 28, 16, NULL},
    {"0.000005", 20, 6, '/', "-0.06", 19, 2, 38, 22, "-0.0000833333333333333333"},
    {"4.4", 10, 1, '+', "2722095200.90296938", 18, 8, 19, 8, "2722095205.30296938"},
    {"0.1", 18, 1, '*', "-0.18", 20, 2, 36, 26, "-0.01800000000000000000000000"},
    {"3", 1, 0, '*', "-0.47", 5, 2, 7, 2, "-1.41"},
    {"3", 1, 0, '+', "0.00000000000000000000000000009304748", 38, 35, 38, 34,
     "3.0000000000000000000000000000930475"},
    {"-0.00002", 10, 5, '*', "-0.267", 5, 3, 16, 8, "0.00000534"},
    {"-0.0000044", 19, 7, '%', "0.5", 1, 1, 20, 6, "-0.000004"},
    {"0.3", 1, 1, '*', "0.4", 2, 1, 4, 2, "0.12"},
    {"0.000000094", 18, 9, '/', "-0.73", 2, 2, 23, 12, "-0.000000128767"},
    {"0.0000000000000009", 20, 16, '+', "0.00000000000000000000000000000000", 38, 32, 38, 31,
     "0.0000000000000009000000000000000"},
    {"21928858893342773310522216445847876.916", 38, 3, '/', "-0.000000000000008", 38, 15, 38, 6,
     NULL},
    {"0.007", 10, 3, '+', "0.000000000000009", 30, 15, 31, 15, "0.007000000000009"},
    {"0.000000000000000044", 18, 18, '*', "-0.7", 1, 1, 20, 19, "-0.0000000000000000308"},
    {"96196672602495269264530771.856731348154", 38, 12, '/', "-5.9", 2, 1, 38, 5,
     "-16304520780083943943140808.78928"},
    {"-0.00000000005", 18, 11, '-', "-0.13333217", 9, 8, 19, 11, "0.13333216995"},
    {"-10.228", 5, 3, '/', "3.9748656577", 20, 10, 36, 24, "-2.573168725888031161672637"},
    {"-47783877.447559706921", 20, 12, '*', "4.1", 2, 1, 23, 13, "-195913897.5349947983761"},
    {"-0.6", 1, 1, '*', "-9033795957085366983731267.5808336405528", 38, 13, 38, 12,
     "5420277574251220190238760.548500184332"},
    {"-0.0092", 10, 4, '*', "-0.0000000000040964783129071", 38, 25, 38, 18, "0.000000000000037688"},
    {"-0.000000000005", 38, 12, '/', "12", 2, 0, 38, 12, "0.000000000000"},
    {"964553364764.59222006", 20, 8, '%', "0.4", 1, 1, 8, 8, "0.19222006"},
    {"-1", 1, 0, '/', "-74.700576933661532", 20, 15, 34, 6, "0.013387"},
    {"0.04", 38, 2, '/', "81.5", 5, 1, 38, 6, "0.000491"},
    {"553917302900.55077556", 20, 8, '%', "70", 15, 0, 27, 22, "10.5507755600000000000000"},
    {"6", 1, 0, '*', "145764.78", 20, 2, 22, 2, "874588.68"},
    {"0.4", 1, 1, '/', "-69", 2, 0, 6, 6, "-0.005797"},
    {"-0.00000000060", 32, 11, '%', "-0.0000000000063", 30, 13, 30, 13, "-0.0000000000015"},
    {"4", 2, 0, '*', "-95254365.47", 10, 2, 6, 2, NULL},
    {"0.0000000000000", 38, 13, '/', "-9480949773.420045724", 19, 9, 38, 6, "0.000000"},
    {"0.0000018", 20, 7, '/', "0.3", 1, 1, 23, 9, "0.000006000"},
    {"0.9", 22, 1, '*', "-0.00000003", 19, 8, 38, 6, "0.000000"},
    {"-39648.607441955100760", 20, 15, '/', "-949641.10878", 30, 5, 38, 28,
     "0.0417511490134325614403821723"},
    {"0.64", 2, 2, '-', "-1957346405271.74722893530915737", 30, 17, 31, 17,
     "1957346405272.38722893530915737"},
    {"-0.004", 5, 3, '-', "-47.5388376405898224720053733304", 30, 28, 10, 4, "47.5348"},
    {"0.93", 19, 2, '%', "-0.0000001", 18, 7, 29, 29, "0.00000000000000000000000000000"},
    {"0.0000005", 18, 7, '*', "-9", 1, 0, 20, 7, "-0.0000045"},
    {"-42", 10, 0, '+', "-0.0005", 19, 4, 20, 4, "-42.0005"},
    {"0.6", 1, 1, '+', "-0.02", 30, 2, 31, 2, "0.58"},
    {"0.5", 1, 1, '*', "0.8636477092088", 19, 13, 21, 14, "0.43182385460440"},
    {"0.00000000000092", 19, 14, '/', "9", 5, 0, 25, 20, "0.00000000000010222222"},
    {"0.09036", 18, 5, '-', "0", 5, 0, 19, 5, "0.09036"},
    {"-0.089", 4, 3, '*', "0.00000", 6, 5, 11, 8, "0.00000000"},
    {"-0.005", 19, 3, '-', "7099162.211", 10, 3, 20, 3, "-7099162.216"},
    {"0.00067", 30, 5, '/', "-0.7", 1, 1, 33, 7, "-0.0009571"},
    {"0.0000000000000020", 30, 16, '*', "0", 1, 0, 32, 16, "0.0000000000000000"},
    {"0.31", 2, 2, '-', "0.05", 10, 2, 11, 2, "0.26"},
    {"-51494951307721629518923467.3906", 30, 4, '%', "-0.000000000000000000000000000061", 38, 30,
     38, 30, "-0.000000000000000000000000000055"},
    {"0.004", 18, 3, '/', "-0.4", 1, 1, 22, 2, "-0.01"},
    {"9.3786", 5, 4, '/', "0.0000000000000000", 18, 16, 38, 21, NULL},
    {"0.0", 19, 1, '/', "-76212176111467771927812.4963132", 30, 7, 38, 13, "0.0000000000000"},
    {"-0.000000000000067", 24, 15, '-', "62684", 5, 0, 36, 22, "-62684.0000000000000670000000"},
    {"0.0000000000000000000", 30, 19, '%', "-0.0000002", 30, 7, 30, 19, "0.0000000000000000000"},
    {"-23287876.94", 10, 2, '+', "-0.00000008", 10, 8, 17, 8, "-23287876.94000008"},
    {"-0.00001", 30, 5, '/', "0.4", 2, 1, 34, 8, "-0.00002500"},
    {"372215482077.713834", 18, 6, '%', "-51", 38, 0, 18, 6, "42.713834"},
    {"0.000000000000083", 30, 15, '/', "9", 1, 0, 3, 0, "0"},
    {"0.00", 7, 2, '+', "0.00000", 5, 5, 11, 5, "0.00000"},
    {"0.000", 20, 3, '%', "-3049194.802", 10, 3, 10, 3, "0.000"},
    {"760174.0921755432961", 19, 13, '*', "0.0", 1, 1, 21, 14, "0.00000000000000"},
    {"-3.1", 2, 1, '/', "0", 1, 0, 7, 6, NULL},
    {"2783947188.4353339601951075427271", 32, 22, '-', "0.000000000000000906", 18, 18, 21, 11,
     "2783947188.43533396020"},
    {"-376920710580090299.46", 20, 2, '+', "0.2", 1, 1, 21, 2, "-376920710580090299.26"},
    {"7630614194207.5026287101", 23, 10, '+', "-0.026", 5, 3, 24, 10, "7630614194207.4766287101"},
    {"-372335106.607306422", 18, 9, '%', "-2334.3", 5, 1, 10, 2, "-250.81"},
    {"-816701775905.99582459", 20, 8, '*', "0.06", 2, 2, 23, 10, "-49002106554.3597494754"},
    {"47.44", 5, 2, '/', "-1", 1, 0, 9, 6, "-47.440000"},
    {"12.638359", 10, 6, '+', "0.0000000000000", 18, 13, 19, 13, "12.6383590000000"},
    {"6.26636892164613510", 18, 17, '+', "0.00005", 5, 5, 19, 17, "6.26641892164613510"},
    {"-7238.3876049697785424", 20, 16, '-', "0.00063", 8, 5, 21, 16, "-7238.3882349697785424"},
    {"-0.000000000031", 18, 12, '+', "0.000070", 10, 6, 19, 12, "0.000069999969"},
    {"-441388.29150857303244", 20, 14, '-', "-416274983521158436878748850952.62175160", 38, 8, 38,
     7, "416274983521158436878748409564.3302430"},
    {"-16578901.7909009754", 18, 10, '*', "74494906989148387.4252790611487", 30, 13, 1, 0, NULL},
    {"463.272", 18, 3, '+', "-7.8", 5, 1, 19, 3, "455.472"},
    {"0.000787", 18, 6, '+', "-0.00000004", 10, 8, 21, 8, "0.00078696"},
    {"0.00000000000079", 30, 14, '%', "0.0000002", 30, 7, 30, 14, "0.00000000000079"},
    {"0.0000000000000", 19, 13, '*', "-8", 2, 0, 14, 11, "0.00000000000"},
    {"-0.046", 19, 3, '/', "1486.258800720134391", 19, 15, 38, 7, "-0.0000310"},
    {"-0.00000000000000005", 38, 17, '/', "0.000085", 19, 6, 38, 11, "0.00000000000"},
    {"0.00000000000000000", 20, 17, '/', "0.8", 1, 1, 23, 19, "0.0000000000000000000"},
    {"6", 10, 0, '%', "28179", 5, 0, 5, 0, "6"},
    {"0.7", 20, 1, '*', "0.6", 1, 1, 22, 2, "0.42"},
    {"0.000000000000000001", 25, 18, '+', "0.000000000000000000000000", 30, 24, 32, 24,
     "0.000000000000000001000000"},
    {"6.7", 10, 1, '+', "5", 30, 0, 32, 1, "11.7"},
    {"0.0000000000000000000000000000000", 38, 31, '+', "-41.8", 18, 1, 38, 20,
     "-41.80000000000000000000"},
    {"-0.00000000024", 19, 11, '/', "0.000000000000090", 30, 15, 38, 15, "-2666.666666666666667"},
    {"0.0000000002", 18, 10, '/', "-635200613.1", 18, 1, 38, 29,
     "-0.00000000000000000031486115705"},
    {"85", 18, 0, '-', "2621811770.16229941", 18, 8, 27, 8, "-2621811685.16229941"},
    {"-5401137.11791843450", 30, 11, '*', "-0.87", 2, 2, 33, 13, "4698989.2925890380150"},
    {"-0.3", 1, 1, '*', "-646140945887612446643581722845620.15506", 38, 5, 13, 1, NULL},
    {"-0.000000000000000041", 19, 18, '-', "-1978768.324006152972", 19, 12, 21, 19, NULL},
    {"-0.0000000004583329", 18, 16, '+', "22", 2, 0, 19, 16, "21.9999999995416671"},
    {"0.0", 1, 1, '-', "0.598", 5, 3, 26, 3, "-0.598"},
    {"0.074613097943562953", 19, 18, '+', "-0.38", 2, 2, 20, 18, "-0.305386902056437047"},
    {"-2", 1, 0, '+', "0.000000000000000000000000000096", 38, 30, 38, 29,
     "-1.99999999999999999999999999990"},
    {"-2.86314161157", 19, 11, '+', "0.007", 20, 3, 15, 2, "-2.86"},
    {"-0.005", 5, 3, '%', "25516963", 20, 0, 4, 1, "0.0"},
    {"-0.029", 5, 3, '/', "-29345.7760100968662", 18, 13, 37, 22, "0.0000009882171795362339"},
    {"-2.5622", 5, 4, '/', "-20.22837588", 10, 8, 19, 4, "0.1267"},
    {"16898868106765102.506855082700135592133", 38, 21, '+', "-84.886", 5, 3, 38, 20,
     "16898868106765017.62085508270013559213"},
    {"-1.752984869", 10, 9, '-', "-0.35", 2, 2, 11, 9, "-1.402984869"},
    {"-0.0000000007", 19, 10, '+', "2613616865259334714227755393.24", 30, 2, 38, 9,
     "2613616865259334714227755393.239999999"},
    {"0.000000000000000000000000000051", 30, 30, '*', "4", 2, 0, 33, 30,
     "0.000000000000000000000000000204"},
    {"-0.0000000000000000000000000000000089", 38, 34, '%', "4", 1, 0, 13, 4, "0.0000"},
    {"-0.0000000000000002", 30, 16, '+', "9.087", 30, 3, 8, 6, "9.087000"},
    {"1654435588118253.18863083475740", 35, 14, '-', "-0.09611", 5, 5, 24, 10, NULL},
    {"0.0000000000005", 19, 13, '/', "0.000000000000", 19, 12, 12, 1, NULL},
    {"0.08612348", 10, 8, '*', "-0.09", 10, 2, 21, 10, "-0.0077511132"},
    {"3", 3, 0, '%', "-0.04", 2, 2, 33, 17, "0.00000000000000000"},
    {"0.00000000000000047", 30, 17, '+', "237534611116877886419425309.814", 30, 3, 38, 10,
     "237534611116877886419425309.8140000000"},
    {"74155116874644.877474", 20, 6, '%', "-0.00000000000052", 19, 14, 19, 14, "0.00000000000000"},
    {"-0.4", 1, 1, '%', "10935.69306", 10, 5, 5, 5, "-0.40000"},
    {"-0.00000000000063", 20, 14, '+', "-0.96", 2, 2, 21, 14, "-0.96000000000063"},
    {"0.00000008", 30, 8, '%', "9943470369982.908", 20, 3, 25, 8, "0.00000008"},
    {"934922.06963486614897", 20, 14, '%', "-0.00000000007", 18, 11, 20, 14, "0.00000000003897"},
    {"9352529010912006.253962653991", 28, 12, '-', "-104592297.7", 10, 1, 29, 12,
     "9352529115504303.953962653991"},
    {"0.006751769340161505604338798", 38, 27, '%', "0.000000000000000000000000001", 38, 27, 38, 27,
     "0.000000000000000000000000000"},
    {"63119956046596173.547569326", 36, 9, '/', "-0.000000000000056", 20, 15, 38, 6,
     "-1127142072260645956206595107142.857143"},
    {"-0.77", 2, 2, '%', "0.0000000000000074", 19, 16, 37, 6, "0.000000"},
    {"0.6", 1, 1, '*', "-0.3", 1, 1, 3, 2, "-0.18"},
    {"0.0030", 5, 4, '%', "0.0000000000000000000", 20, 19, 20, 19, NULL},
    {"-4", 1, 0, '/', "-0.0009", 19, 4, 25, 20, "4444.44444444444444444444"},
    {"-0.000041", 10, 6, '+', "-0.5", 1, 1, 11, 6, "-0.500041"},
    {"-0.000000000000000000000000000062", 30, 30, '/', "-0.0000000003", 10, 10, 38, 28,
     "0.0000000000000000002066666667"},
    {"5.64853421514309901", 20, 17, '+', "0.5", 2, 1, 21, 17, "6.14853421514309901"},
    {"-2.6", 20, 1, '*', "-0.8", 1, 1, 22, 2, "2.08"},
    {"0.000048", 19, 6, '-', "0.00000000000000000039", 20, 20, 34, 20, "0.00004799999999999961"},
    {"0.00000000026", 29, 11, '*', "0.000008", 10, 6, 38, 15, "0.000000000000002"},
    {"-0.51", 5, 2, '+', "0.08", 20, 2, 21, 2, "-0.43"},
    {"5650633424218457.96", 18, 2, '-', "-0.0045", 18, 4, 21, 4, "5650633424218457.9645"},
    {"-0.4", 1, 1, '*', "0.00000000000", 20, 11, 13, 12, "0.000000000000"},
    {"-8.2", 20, 1, '*', "6014428345577.11699", 18, 5, 38, 6, "-49318312433732.359318"},
    {"5", 1, 0, '+', "6", 2, 0, 34, 5, "11.00000"},
    {"-0.00000000000000000000000000003", 30, 29, '*', "0.0000000000000000000000000000", 38, 28, 38,
     26, "0.00000000000000000000000000"},
    {"-0.0017", 5, 4, '%', "-0.00197034", 10, 8, 32, 30, "-0.001700000000000000000000000000"},
    {"0.9", 1, 1, '-', "-0.000000008", 19, 9, 20, 9, "0.900000008"},
    {"-148131.262266", 20, 6, '-', "227507744389726480", 18, 0, 21, 14, NULL},
    {"0.000000007", 19, 9, '/', "0.0005", 38, 4, 32, 27, "0.000014000000000000000000000"},
    {"335904943846472818.36238193316737305011", 38, 20, '/', "-0.02", 19, 2, 38, 18,
     "-16795247192323640918.119096658368652506"},
    {"-52488124.2768414099", 18, 10, '-', "-0.41375", 5, 5, 19, 10, "-52488123.8630914099"},
    {"-369.0771911", 10, 7, '/', "-0.00000000000000000000027", 30, 23, 3, 3, NULL},
    {"-98991.47364", 10, 5, '/', "-0.1", 1, 1, 13, 7, "989914.7364000"},
};

static void test_arith_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        sl_value a = dec(table[i].a, table[i].pa, table[i].sa);
        sl_value b = dec(table[i].b, table[i].pb, table[i].sb);
        const char *ops = "+-*/%";
        sl_decimal_op op = (sl_decimal_op)(strchr(ops, table[i].op) - ops);
        sl_value r = sl_decimal_arith(op, &a, &b, table[i].p, table[i].s);

        if (!table[i].want) {
            assert_int_equal(r.type, SL_T_NULL);
        } else {
            assert_string_equal(text(r), table[i].want);
        }
    }
}

static const char *rounded(const char *a, int pa, int sa, int places, sl_decimal_rounding mode,
                           int p, int s)
{
    sl_value x = dec(a, pa, sa);

    return text(sl_decimal_round(&x, places, mode, p, s));
}

static void test_round(void **state)
{
    (void)state;
    assert_string_equal(rounded("2.5", 2, 1, 0, SL_ROUND_HALF_UP, 2, 0), "3");
    assert_string_equal(rounded("-2.5", 2, 1, 0, SL_ROUND_HALF_UP, 2, 0), "-3");
    assert_string_equal(rounded("2.5", 2, 1, 0, SL_ROUND_HALF_CEILING, 2, 0), "3");
    assert_string_equal(rounded("-2.5", 2, 1, 0, SL_ROUND_HALF_CEILING, 2, 0), "-2");
    assert_string_equal(rounded("-2.51", 3, 2, 0, SL_ROUND_HALF_CEILING, 2, 0), "-3");
    assert_string_equal(rounded("-2.4", 2, 1, 0, SL_ROUND_HALF_UP, 2, 0), "-2");
    assert_string_equal(rounded("-2.1", 2, 1, 0, SL_ROUND_FLOOR, 2, 1), "-3.0");
    assert_string_equal(rounded("2.1", 2, 1, 0, SL_ROUND_FLOOR, 2, 1), "2.0");
    assert_string_equal(rounded("-2.1", 2, 1, 0, SL_ROUND_CEILING, 2, 1), "-2.0");
    assert_string_equal(rounded("2.1", 2, 1, 0, SL_ROUND_CEILING, 2, 1), "3.0");
    assert_string_equal(rounded("2.0", 2, 1, 0, SL_ROUND_CEILING, 2, 1), "2.0");
    assert_string_equal(rounded("-0.1", 2, 1, 0, SL_ROUND_CEILING, 2, 1), "0.0");
    assert_string_equal(rounded("-2.9", 2, 1, 0, SL_ROUND_DOWN, 2, 0), "-2");
    /* Places: kept at the result's scale; negative places round to tens. */
    assert_string_equal(rounded("1234.5678", 8, 4, 2, SL_ROUND_HALF_UP, 9, 4), "1234.5700");
    assert_string_equal(rounded("1234.5678", 8, 4, 2, SL_ROUND_HALF_UP, 6, 2), "1234.57");
    assert_string_equal(rounded("1250", 4, 0, -2, SL_ROUND_HALF_UP, 5, 0), "1300");
    assert_string_equal(rounded("-1250", 4, 0, -2, SL_ROUND_HALF_CEILING, 5, 0), "-1200");
    assert_string_equal(rounded("1249.99", 6, 2, -2, SL_ROUND_HALF_UP, 7, 2), "1200.00");
    assert_string_equal(rounded("1.5", 2, 1, 5, SL_ROUND_HALF_UP, 2, 1), "1.5");
    assert_string_equal(rounded("1.5", 2, 1, -100, SL_ROUND_HALF_UP, 2, 1), "0.0");
    assert_string_equal(rounded("1.5", 2, 1, -100, SL_ROUND_CEILING, 38, 0), "NULL");
    assert_string_equal(rounded("1.5", 2, 1, -37, SL_ROUND_CEILING, 38, 0),
                        "10000000000000000000000000000000000000");
    /* A carry past the precision is NULL. */
    assert_string_equal(rounded("9.99", 3, 2, 1, SL_ROUND_HALF_UP, 3, 2), "NULL");
    assert_string_equal(rounded("9.99", 3, 2, 1, SL_ROUND_HALF_UP, 4, 2), "10.00");
    assert_string_equal(
        rounded("-99999999999999999999999999999999999999", 38, 0, -1, SL_ROUND_HALF_UP, 38, 0),
        "NULL");
    /* Rescaling rounds HALF_UP too. */
    sl_value x = dec("-1.25", 3, 2);
    assert_string_equal(text(sl_decimal_rescale(&x, 2, 1)), "-1.3");
    assert_string_equal(text(sl_decimal_rescale(&x, 5, 4)), "-1.2500");
    assert_string_equal(text(sl_decimal_rescale(&x, 3, 3)), "NULL");
}

static void test_cmp(void **state)
{
    sl_value a = dec("1.0", 2, 1), b = dec("1.00", 3, 2), one = sl_int(SL_T_INT, 1);
    sl_value m = dec("-1.5", 2, 1), n = dec("-1.25", 3, 2);
    sl_value big = dec("99999999999999999999999999999999999999", 38, 0);
    sl_value tiny = dec("0.00000000000000000000000000000000000001", 38, 38);
    sl_value lo = sl_int(SL_T_BIGINT, INT64_MIN), zero = dec("0", 1, 0), z2 = dec("-0.00", 3, 2);

    (void)state;
    assert_int_equal(sl_decimal_cmp(&a, &b), 0);
    assert_int_equal(sl_decimal_cmp(&a, &one), 0);
    assert_int_equal(sl_decimal_cmp(&one, &b), 0);
    assert_true(sl_decimal_cmp(&m, &n) < 0);
    assert_true(sl_decimal_cmp(&n, &m) > 0);
    assert_true(sl_decimal_cmp(&m, &a) < 0);
    assert_true(sl_decimal_cmp(&big, &tiny) > 0);
    assert_true(sl_decimal_cmp(&tiny, &zero) > 0);
    assert_true(sl_decimal_cmp(&lo, &m) < 0);
    assert_int_equal(sl_decimal_cmp(&zero, &z2), 0);
    assert_true(sl_decimal_cmp(&m, &m) == 0);
    assert_int_equal(sl_decimal_sign(&m), -1);
    assert_int_equal(sl_decimal_sign(&z2), 0);
    assert_int_equal(sl_decimal_sign(&tiny), 1);
    assert_true(sl_decimal_fits(&b, 3));
    assert_false(sl_decimal_fits(&b, 2));
    assert_true(sl_decimal_fits(&big, 38));
    assert_false(sl_decimal_fits(&big, 37));
    assert_string_equal(text(sl_decimal_neg(&m)), "1.5");
    assert_string_equal(text(sl_decimal_neg(&z2)), "0.00");
    assert_string_equal(text(sl_decimal_abs(&n)), "1.25");
    assert_string_equal(text(sl_decimal_neg(&big)), "-99999999999999999999999999999999999999");
    assert_string_equal(text(sl_decimal_abs(&lo)), "9223372036854775808");
}

static void test_conversions(void **state)
{
    sl_value v;
    int64_t i;

    (void)state;
    assert_string_equal(text(sl_decimal_from_int(123, 5, 2)), "123.00");
    assert_string_equal(text(sl_decimal_from_int(123, 4, 2)), "NULL");
    assert_string_equal(text(sl_decimal_from_int(INT64_MIN, 19, 0)), "-9223372036854775808");
    assert_string_equal(text(sl_decimal_from_double(0.1, 2, 1)), "0.1");
    assert_string_equal(text(sl_decimal_from_double(2.675, 3, 2)), "2.68");
    assert_string_equal(text(sl_decimal_from_double(-2.675, 3, 2)), "-2.68");
    assert_string_equal(text(sl_decimal_from_double(1e20, 38, 0)), "100000000000000000000");
    assert_string_equal(text(sl_decimal_from_double(1.5e-7, 10, 2)), "0.00");
    assert_string_equal(text(sl_decimal_from_double(-0.0, 2, 1)), "0.0");
    assert_string_equal(text(sl_decimal_from_double(1e100, 38, 0)), "NULL");
    assert_string_equal(text(sl_decimal_from_double(NAN, 38, 0)), "NULL");
    assert_string_equal(text(sl_decimal_from_double(-INFINITY, 38, 0)), "NULL");
    v = dec("0.1", 1, 1);
    assert_true(sl_decimal_to_double(&v) == 0.1);
    v = dec("12345678901234567890.123456789", 29, 9);
    assert_true(sl_decimal_to_double(&v) == 12345678901234567890.123456789);
    v = dec("-0.00000000000000000000000000000000000001", 38, 38);
    assert_true(sl_decimal_to_double(&v) == -1e-38);
    v = dec("-2.7", 2, 1);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_DOWN, SL_T_INT).u.i, -2);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_HALF_UP, SL_T_BIGINT).u.i, -3);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_HALF_UP, SL_T_BIGINT).type, SL_T_BIGINT);
    v = dec("2147483648", 10, 0);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_DOWN, SL_T_INT).type, SL_T_NULL);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_DOWN, SL_T_BIGINT).u.i, 2147483648ll);
    v = dec("-2147483648.4", 11, 1);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_DOWN, SL_T_INT).u.i, INT32_MIN);
    v = dec("-2147483648.5", 11, 1);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_HALF_UP, SL_T_INT).type, SL_T_NULL);
    v = dec("-9223372036854775808.9", 20, 1);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_DOWN, SL_T_BIGINT).u.i, INT64_MIN);
    v = dec("9223372036854775808", 19, 0);
    assert_int_equal(sl_decimal_to_int(&v, SL_ROUND_DOWN, SL_T_BIGINT).type, SL_T_NULL);
    v = dec("1.00", 3, 2);
    assert_true(sl_decimal_to_int64_exact(&v, &i));
    assert_int_equal(i, 1);
    v = dec("1.50", 3, 2);
    assert_false(sl_decimal_to_int64_exact(&v, &i));
    v = dec("-9223372036854775808.000", 22, 3);
    assert_true(sl_decimal_to_int64_exact(&v, &i));
    assert_true(i == INT64_MIN);
    v = dec("9223372036854775808", 19, 0);
    assert_false(sl_decimal_to_int64_exact(&v, &i));
}

/* A deterministic generator for the property test. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random DECIMAL(p, s) with up to p digits. */
static sl_value random_decimal(int *p, int *s)
{
    char digits[48];
    int n = 0, nd;

    *p = 1 + (int)(rng() % 38);
    *s = (int)(rng() % (uint64_t)(*p + 1));
    nd = 1 + (int)(rng() % (uint64_t)*p);
    if (rng() & 1)
        digits[n++] = '-';
    for (int k = 0; k < nd; k++)
        digits[n++] = (char)('0' + rng() % 10);
    digits[n] = '\0';
    sl_value v = dec(digits, *p, 0);
    /* The digits as the unscaled value: the same number at scale s. */
    return sl_decimal_make(v.u.dec.hi, v.u.dec.lo, *s);
}

static void test_properties(void **state)
{
    (void)state;
    for (int k = 0; k < 20000; k++) {
        int pa, sa, pb, sb, p, s;
        sl_value a = random_decimal(&pa, &sa), b = random_decimal(&pb, &sb);
        char t[SL_DECIMAL_TEXT];
        sl_value back;

        /* Text round trip. */
        sl_decimal_format(&a, t);
        assert_int_equal(sl_decimal_parse(t, strlen(t), pa, sa, true, &back), 0);
        assert_int_equal(sl_decimal_cmp(&a, &back), 0);
        assert_true(back.u.dec.hi == a.u.dec.hi && back.u.dec.lo == a.u.dec.lo);
        /* The order agrees with the doubles' where they differ enough to tell. */
        double x = sl_decimal_to_double(&a), y = sl_decimal_to_double(&b);
        int c = sl_decimal_cmp(&a, &b);
        assert_int_equal(c, -sl_decimal_cmp(&b, &a));
        if (fabs(x - y) > 1e-9 * (fabs(x) + fabs(y)))
            assert_int_equal(c < 0, x < y);
        /* (a + b) - b == a, whenever a + b fits its type. */
        sl_decimal_result_type(SL_DECIMAL_ADD, pa, sa, pb, sb, &p, &s);
        sl_value sum = sl_decimal_arith(SL_DECIMAL_ADD, &a, &b, p, s);
        if (sum.type == SL_T_DECIMAL && s == (sa > sb ? sa : sb)) {
            sl_value diff = sl_decimal_arith(SL_DECIMAL_SUB, &sum, &b, 38, s);
            assert_int_equal(diff.type, SL_T_DECIMAL);
            assert_int_equal(sl_decimal_cmp(&diff, &a), 0);
        }
        /* a * b / b == a when nothing is rounded away. */
        sl_decimal_result_type(SL_DECIMAL_MUL, pa, sa, pb, sb, &p, &s);
        sl_value prod = sl_decimal_arith(SL_DECIMAL_MUL, &a, &b, p, s);
        if (prod.type == SL_T_DECIMAL && s == sa + sb && sl_decimal_sign(&b) != 0) {
            sl_value q = sl_decimal_arith(SL_DECIMAL_DIV, &prod, &b, 38, sa);
            if (q.type == SL_T_DECIMAL)
                assert_int_equal(sl_decimal_cmp(&q, &a), 0);
        }
        /* a % b has a's sign and is smaller than b. */
        if (sl_decimal_sign(&b) != 0) {
            sl_value r = sl_decimal_arith(SL_DECIMAL_MOD, &a, &b, 38, sa > sb ? sa : sb);
            assert_int_equal(r.type, SL_T_DECIMAL);
            assert_true(sl_decimal_sign(&r) == 0 || sl_decimal_sign(&r) == sl_decimal_sign(&a));
            sl_value absr = sl_decimal_abs(&r), absb = sl_decimal_abs(&b);
            assert_true(sl_decimal_cmp(&absr, &absb) < 0);
        }
    }
}

/* The text of v digit by digit, the way the format is defined: the magnitude's digits
 * with the point scale digits from the right, a 0 before a leading point. */
static void reference_text(const sl_value *v, char *out)
{
    unsigned __int128 x = ((unsigned __int128)(uint64_t)v->u.dec.hi << 64) | v->u.dec.lo;
    bool neg = v->u.dec.hi < 0;
    char digits[48];
    int nd = 0, n = 0;

    if (neg)
        x = (unsigned __int128)0 - x;
    do {
        digits[nd++] = (char)('0' + (int)(x % 10));
        x /= 10;
    } while (x);
    while (nd <= v->scale)
        digits[nd++] = '0';
    if (neg)
        out[n++] = '-';
    for (int k = nd - 1; k >= 0; k--) {
        out[n++] = digits[k];
        if (k == v->scale && k > 0)
            out[n++] = '.';
    }
    out[n] = '\0';
}

/* sl_decimal_format (two digits per 64-bit division, 128-bit divisions only above
 * 2^64) against the definition: every scale, both signs, magnitudes around 2^64 and up
 * to 10^38 - 1. */
static void test_format_digits(void **state)
{
    char got[SL_DECIMAL_TEXT], want[SL_DECIMAL_TEXT];
    const uint64_t his[] = {0, 1, 5421010862427522170ull}; /* 5421010862427522170 * 2^64 ~ 10^38 */
    const uint64_t los[] = {0,
                            1,
                            9,
                            10,
                            99,
                            100,
                            UINT64_MAX,
                            UINT64_MAX - 1,
                            10000000000000000000ull,
                            687399551400673279ull};

    (void)state;
    for (size_t h = 0; h < sizeof(his) / sizeof(his[0]); h++) {
        for (size_t l = 0; l < sizeof(los) / sizeof(los[0]); l++) {
            unsigned __int128 m = ((unsigned __int128)his[h] << 64) | los[l];
            for (int neg = 0; neg <= 1; neg++) {
                unsigned __int128 x = neg ? (unsigned __int128)0 - m : m;
                for (int sc = 0; sc <= 38; sc++) {
                    sl_value v = sl_decimal_make((int64_t)(uint64_t)(x >> 64), (uint64_t)x, sc);
                    reference_text(&v, want);
                    assert_int_equal(sl_decimal_format(&v, got), strlen(want));
                    assert_string_equal(got, want);
                }
            }
        }
    }
    for (int k = 0; k < 20000; k++) {
        int p, sc;
        sl_value v = random_decimal(&p, &sc);
        reference_text(&v, want);
        assert_int_equal(sl_decimal_format(&v, got), strlen(want));
        assert_string_equal(got, want);
    }
}

/* Multiplication at the operands' natural scale (one 64 x 64-bit product when both fit)
 * equals the general path's result, which a scale one larger takes: signs, zeros (never
 * negative), and the precision bound. */
/* a * b as DECIMAL(p, s). */
static const char *mul_at(const char *a, int pa, int sa, const char *b, int pb, int sb, int p,
                          int s)
{
    sl_value x = dec(a, pa, sa), y = dec(b, pb, sb);

    return text(sl_decimal_arith(SL_DECIMAL_MUL, &x, &y, p, s));
}

static void test_mul_natural_scale(void **state)
{
    (void)state;
    assert_string_equal(mul_at("0.908", 3, 3, "1234567", 7, 0, 10, 3), "1120986.836");
    assert_string_equal(mul_at("-0.908", 3, 3, "1234567", 7, 0, 10, 3), "-1120986.836");
    assert_string_equal(mul_at("-0.908", 3, 3, "-2", 1, 0, 10, 3), "1.816");
    assert_string_equal(mul_at("-0.908", 3, 3, "0", 1, 0, 10, 3), "0.000");
    assert_string_equal(mul_at("999", 3, 0, "999", 3, 0, 6, 0), "998001");
    assert_string_equal(mul_at("999", 3, 0, "999", 3, 0, 5, 0), "NULL");
    assert_string_equal(mul_at("9999999999999999999", 19, 0, "-9999999999999999999", 19, 0, 38, 0),
                        "-99999999999999999980000000000000000001");
    assert_string_equal(mul_at("18446744073709551615", 20, 0, "18446744073709551615", 20, 0, 38, 0),
                        "NULL");
    for (int k = 0; k < 20000; k++) {
        int pa, sa, pb, sb, p, s;
        sl_value a = random_decimal(&pa, &sa), b = random_decimal(&pb, &sb);
        sl_decimal_result_type(SL_DECIMAL_MUL, pa, sa, pb, sb, &p, &s);
        if (s != sa + sb || s >= 38)
            continue;
        sl_value fast = sl_decimal_arith(SL_DECIMAL_MUL, &a, &b, 38, sa + sb);
        sl_value slow = sl_decimal_arith(SL_DECIMAL_MUL, &a, &b, 38, sa + sb + 1);
        if (slow.type == SL_T_NULL) {
            /* Only when the extra digit is what does not fit. */
            continue;
        }
        assert_int_equal(fast.type, SL_T_DECIMAL);
        assert_int_equal(sl_decimal_cmp(&fast, &slow), 0);
        assert_true(sl_decimal_sign(&fast) != 0 || fast.u.dec.hi == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),         cmocka_unit_test(test_parse_literal),
        cmocka_unit_test(test_format),        cmocka_unit_test(test_result_types),
        cmocka_unit_test(test_arith),         cmocka_unit_test(test_arith_table),
        cmocka_unit_test(test_round),         cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_conversions),   cmocka_unit_test(test_properties),
        cmocka_unit_test(test_format_digits), cmocka_unit_test(test_mul_natural_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
