/* test_json.c: the HTTP layer's JSON codecs: exact text out (json_out) and exact rows or
 * errors in (json_in), as a client of the API would see them; the single-pass ingest
 * decoder against jansson on generated and mutated bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "decimal.h"
#include "json_in.h"
#include "json_out.h"
#include "limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- helpers ------------------------------------------------------------------------ */

static sl_buf out;

static const char *str_json(const char *s, size_t len)
{
    sl_buf_reset(&out);
    sl_json_str(&out, s, len);
    return out.data;
}

static const char *double_json(double d)
{
    sl_buf_reset(&out);
    sl_json_double(&out, d);
    return out.data;
}

static const char *value_json(sl_value v)
{
    sl_buf_reset(&out);
    sl_json_value(&out, &v, NULL);
    return out.data;
}

/* PAGEVIEWS (ID INT KEY, PRICE DOUBLE, NAME VARCHAR, BIG BIGINT, OK BOOLEAN, TS TIMESTAMP,
 * "Quoted" VARCHAR). */
static sl_column cols[] = {
    {"ID", SL_T_INT, true, false, NULL},         {"PRICE", SL_T_DOUBLE, false, false, NULL},
    {"NAME", SL_T_VARCHAR, false, false, NULL},  {"BIG", SL_T_BIGINT, false, false, NULL},
    {"OK", SL_T_BOOLEAN, false, false, NULL},    {"TS", SL_T_TIMESTAMP, false, false, NULL},
    {"Quoted", SL_T_VARCHAR, false, true, NULL},
};
static sl_schema schema = {"PAGEVIEWS", false, 7, cols, -1, SL_DEFAULT_RETENTION_MS, 0, NULL};

#define NOW 1000000

/* Types of the DECIMAL test schemas. */
static const sl_typedesc dec10_2 = {.kind = SL_T_DECIMAL, .precision = 10, .scale = 2};
static const sl_typedesc dec38_0 = {.kind = SL_T_DECIMAL, .precision = 38, .scale = 0};
static const sl_typedesc dec3_3 = {.kind = SL_T_DECIMAL, .precision = 3, .scale = 3};
static const sl_typedesc dec4_2 = {.kind = SL_T_DECIMAL, .precision = 4, .scale = 2};
static const sl_typedesc dec_list = {.kind = SL_T_ARRAY, .depth = 1, .elem = &dec4_2};

/* Decodes body against s; on success returns the rows (and their count in *n). */
static sl_row **decode(const sl_schema *s, const char *body, bool ndjson, size_t *n, sl_error *err)
{
    sl_row **rows = NULL;

    sl_error_clear(err);
    *n = 0;
    if (sl_json_decode_events(body, strlen(body), ndjson, s, NOW, &rows, n, err) < 0)
        return NULL;
    return rows;
}

static void expect_error(const sl_schema *s, const char *body, bool ndjson, sl_errcode code,
                         long index, const char *field, const char *message)
{
    sl_error err;
    size_t n;
    sl_row **rows = decode(s, body, ndjson, &n, &err);

    assert_null(rows);
    assert_string_equal(sl_error_code_name(err.code), sl_error_code_name(code));
    assert_int_equal(err.index, index);
    assert_string_equal(err.field, field);
    assert_string_equal(err.message, message);
}

/* --- json_out ----------------------------------------------------------------------- */

static void test_string_escapes(void **state)
{
    (void)state;
    assert_string_equal(str_json("plain", 5), "\"plain\"");
    assert_string_equal(str_json("a\"b\\c/", 6), "\"a\\\"b\\\\c/\"");
    assert_string_equal(str_json("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
    assert_string_equal(str_json("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\x7f\"");
    assert_string_equal(str_json("a\0b", 3), "\"a\\u0000b\"");
    assert_string_equal(str_json("", 0), "\"\"");
}

static void test_string_utf8(void **state)
{
    (void)state;
    /* Valid UTF-8 passes through untouched, 2, 3 and 4 byte forms. */
    assert_string_equal(str_json("h\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", 12),
                        "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\"");
    /* Each byte that does not start a valid sequence becomes U+FFFD. */
    assert_string_equal(str_json("a\xff"
                                 "b",
                                 3),
                        "\"a\xef\xbf\xbd"
                        "b\"");
    assert_string_equal(str_json("\xe2\x82", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    /* Overlong '/', a UTF-16 surrogate, and a code point past U+10FFFF. */
    assert_string_equal(str_json("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(str_json("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(str_json("\xf4\x90\x80\x80", 4),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void test_double_shortest(void **state)
{
    (void)state;
    assert_string_equal(double_json(0.1), "0.1");
    assert_string_equal(double_json(1.5), "1.5");
    assert_string_equal(double_json(100.0), "100");
    assert_string_equal(double_json(1.0 / 3.0), "0.3333333333333333");
    assert_string_equal(double_json(0.1 + 0.2), "0.30000000000000004");
    assert_string_equal(double_json(1e21), "1e+21");
    assert_string_equal(double_json(-2.5e-7), "-2.5e-07");
    assert_string_equal(double_json(-0.0), "-0");
    assert_string_equal(double_json(NAN), "null");
    assert_string_equal(double_json(INFINITY), "null");
    assert_string_equal(double_json(-INFINITY), "null");
}

/* The definition sl_json_double must match: the first of %.15g, %.16g, %.17g that
 * reads back as d. */
static void double_by_printf(double d, char text[40])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(text, 40, "%.*g", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
}

static uint64_t dbl_state = 1;

static uint64_t dbl_rnd(void)
{
    uint64_t z = (dbl_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random doubles of several kinds: any bit pattern, short decimals, money-like
 * products, integers around 2^53 and up to 1e17 (where digits run out and ties occur),
 * and neighbours of powers of ten. */
static double random_double(void)
{
    uint64_t r = dbl_rnd();
    char text[64];
    double d;

    switch (r % 6) {
    case 0:
        r = dbl_rnd();
        memcpy(&d, &r, sizeof(d));
        return d;
    case 1:
        snprintf(text, sizeof(text), "%llu.%llue%d", (unsigned long long)(dbl_rnd() % 1000000),
                 (unsigned long long)(dbl_rnd() % 1000), (int)(dbl_rnd() % 60) - 30);
        return strtod(text, NULL);
    case 2:
        return 0.908 * (double)(dbl_rnd() % 100000000);
    case 3:
        return (double)(int64_t)(dbl_rnd() % 200000000000000000ull) - 1e17;
    case 4:
        return nextafter(pow(10, (double)(dbl_rnd() % 80) - 40), (dbl_rnd() & 1) ? 0 : INFINITY);
    default:
        return (double)(dbl_rnd() % 1000003) / (double)(1 + dbl_rnd() % 9973);
    }
}

static void test_double_differential(void **state)
{
    char want[40];

    (void)state;
    for (long i = 0; i < 1000000; i++) {
        double d = random_double();
        const char *got;
        if (!isfinite(d))
            continue;
        double_by_printf(d, want);
        got = double_json(d);
        if (strcmp(got, want) != 0)
            fail_msg("%a: got %s, want %s", d, got, want);
        assert_true(strtod(got, NULL) == d);
    }
}

static void test_timestamp_out(void **state)
{
    char text[32];

    (void)state;
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, 1795514400000)),
                        "\"2026-11-24T10:00:00.000Z\"");
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, 0)), "\"1970-01-01T00:00:00.000Z\"");
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, -1)), "\"1969-12-31T23:59:59.999Z\"");
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, 1709251199123)),
                        "\"2024-02-29T23:59:59.123Z\"");
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, -62135596800000)),
                        "\"0001-01-01T00:00:00.000Z\"");
    /* Every field, against printf, over years 0000..9999. */
    dbl_state = 3;
    for (int i = 0; i < 100000; i++) {
        int64_t ms = (int64_t)(dbl_rnd() % 315537897600000ull) - 62167219200000;
        int64_t days = ms / 86400000, rem = ms % 86400000;
        int y, m, d;
        char want[40];
        if (rem < 0) {
            rem += 86400000;
            days--;
        }
        /* Howard Hinnant's civil_from_days, independently of json_out.c. */
        days += 719468;
        int64_t era = (days >= 0 ? days : days - 146096) / 146097;
        int64_t doe = days - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
        d = (int)(doy - (153 * mp + 2) / 5 + 1);
        m = (int)(mp < 10 ? mp + 3 : mp - 9);
        y = (int)(yoe + era * 400 + (m <= 2));
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
                 (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
                 (int)(rem % 1000));
        assert_int_equal(sl_json_format_iso8601(ms, text), 0);
        assert_string_equal(text, want);
    }
    /* Outside years 0000..9999 the epoch-ms integer is written instead. */
    assert_int_equal(sl_json_format_iso8601(INT64_MAX, text), -1);
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, INT64_MAX)), "9223372036854775807");
    assert_string_equal(value_json(sl_int(SL_T_TIMESTAMP, INT64_MIN)), "-9223372036854775808");
}

static void test_values(void **state)
{
    (void)state;
    assert_string_equal(value_json(sl_null()), "null");
    assert_string_equal(value_json(sl_bool(true)), "true");
    assert_string_equal(value_json(sl_bool(false)), "false");
    assert_string_equal(value_json(sl_int(SL_T_INT, -2147483648)), "-2147483648");
    assert_string_equal(value_json(sl_int(SL_T_BIGINT, INT64_MIN)), "-9223372036854775808");
    assert_string_equal(value_json(sl_str("x\"y", 3)), "\"x\\\"y\"");
    /* A DECIMAL exactly, every digit of its scale. */
    sl_value d;
    assert_int_equal(sl_decimal_parse("12.3", 4, 4, 2, true, &d), 0);
    assert_string_equal(value_json(d), "12.30");
    assert_int_equal(sl_decimal_parse("-12345678901234567890.123456789", 31, 38, 9, true, &d), 0);
    assert_string_equal(value_json(d), "-12345678901234567890.123456789");
}

static void test_row_and_key(void **state)
{
    sl_outcol oc[] = {{"WINDOWSTART", SL_T_BIGINT, NULL},
                      {"WINDOWEND", SL_T_BIGINT, NULL},
                      {"PAGEID", SL_T_VARCHAR, NULL},
                      {"C", SL_T_BIGINT, NULL}};
    int keys[] = {0, 1, 2};
    sl_plan plan = {.ncols = 4, .cols = oc, .nkeys = 3, .keys = keys};
    sl_value v[] = {sl_int(SL_T_BIGINT, 0), sl_int(SL_T_BIGINT, 60000), sl_str("home", 4),
                    sl_int(SL_T_BIGINT, 3)};
    sl_row *row = sl_row_make(5, 4, v);

    (void)state;
    sl_buf_reset(&out);
    sl_json_row(&out, row, plan.ncols, plan.cols);
    assert_string_equal(out.data,
                        "{\"WINDOWSTART\":0,\"WINDOWEND\":60000,\"PAGEID\":\"home\",\"C\":3}");
    sl_buf_reset(&out);
    sl_json_row_key(&out, row, &plan);
    assert_string_equal(out.data, "{\"WINDOWSTART\":0,\"WINDOWEND\":60000,\"PAGEID\":\"home\"}");
    sl_buf_reset(&out);
    sl_json_out_columns(&out, 2, oc + 2);
    assert_string_equal(out.data,
                        "[{\"name\":\"PAGEID\",\"type\":\"VARCHAR\"},{\"name\":\"C\",\"type\":"
                        "\"BIGINT\"}]");
    sl_buf_reset(&out);
    sl_json_key_names(&out, &plan);
    assert_string_equal(out.data, "[\"WINDOWSTART\",\"WINDOWEND\",\"PAGEID\"]");
    sl_row_free(row);
}

/* Integers are written two digits at a time into a length counted first: every
 * length, both signs and the extremes read as snprintf writes them. */
static void test_integers(void **state)
{
    char want[32];
    uint64_t p10 = 1;

    (void)state;
    for (int k = 0; k <= 19; k++, p10 *= 10) {
        const int64_t edge[] = {(int64_t)p10 - 1, (int64_t)p10, (int64_t)p10 + 1};
        for (int e = 0; e < 3; e++) {
            if (k == 19 && e > 0)
                break; /* 10^19 is past INT64_MAX */
            for (int sign = 1; sign >= -1; sign -= 2) {
                int64_t v = sign * edge[e];
                snprintf(want, sizeof(want), "%lld", (long long)v);
                assert_string_equal(value_json(sl_int(SL_T_BIGINT, v)), want);
            }
        }
    }
    assert_string_equal(value_json(sl_int(SL_T_BIGINT, 0)), "0");
    assert_string_equal(value_json(sl_int(SL_T_BIGINT, INT64_MAX)), "9223372036854775807");
    assert_string_equal(value_json(sl_int(SL_T_BIGINT, INT64_MIN)), "-9223372036854775808");
    sl_buf_reset(&out);
    sl_json_uint(&out, UINT64_MAX);
    assert_string_equal(out.data, "18446744073709551615");
    sl_buf_reset(&out);
    sl_json_uint(&out, 0);
    assert_string_equal(out.data, "0");
    /* Random values of every width, appended after text already in the buffer (the
     * digits are written in place, growing it). */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    sl_buf all = SL_BUF_INIT, want_all = SL_BUF_INIT;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = (int64_t)x >> (i % 64);
        sl_buf_reset(&out);
        sl_json_value(&out, &(sl_value){.type = SL_T_BIGINT, .u.i = v}, NULL);
        sl_buf_append(&all, out.data, out.len);
        sl_buf_printf(&want_all, "%lld", (long long)v);
        sl_buf_putc(&all, ',');
        sl_buf_putc(&want_all, ',');
    }
    assert_int_equal(all.len, want_all.len);
    assert_memory_equal(all.data, want_all.data, all.len);
    assert_int_equal(all.data[all.len], '\0');
    sl_buf_free(&all);
    sl_buf_free(&want_all);
}

/* sl_json_row_named writes what sl_json_row writes: names with escapes, nulls, rows
 * shorter than the layout, no columns at all. */
static void test_row_named(void **state)
{
    static const sl_typedesc dec38_38 = {.kind = SL_T_DECIMAL, .precision = 38, .scale = 38};
    sl_outcol oc[] = {{"A", SL_T_BIGINT, NULL},
                      {"we\"ird\\na\x01me\xc3\xa9", SL_T_VARCHAR, NULL},
                      {"", SL_T_DECIMAL, &dec38_38},
                      {"D", SL_T_DOUBLE, NULL}};
    sl_value dec;
    assert_int_equal(
        sl_decimal_parse("-0.99999999999999999999999999999999999999", 41, 38, 38, true, &dec), 0);
    sl_value v[] = {sl_int(SL_T_BIGINT, INT64_MIN), sl_str("x\"\n\x80", 4), dec, sl_null()};
    sl_buf want = SL_BUF_INIT;

    (void)state;
    for (uint32_t nv = 0; nv <= 4; nv++) {
        sl_row *row = sl_row_make(1, nv, v);
        for (int nc = 0; nc <= 4; nc++) {
            sl_json_names names;
            sl_json_names_init(&names, nc, oc);
            sl_buf_reset(&want);
            sl_buf_puts(&want, "[");
            sl_json_row(&want, row, nc, oc);
            sl_buf_reset(&out);
            sl_buf_puts(&out, "[");
            sl_json_row_named(&out, row, &names);
            assert_string_equal(out.data, want.data);
            sl_json_names_free(&names);
        }
        sl_row_free(row);
    }
    sl_row *row = sl_row_make(1, 4, v);
    sl_json_names names;
    sl_json_names_init(&names, 4, oc);
    sl_buf_reset(&out);
    sl_json_row_named(&out, row, &names);
    assert_string_equal(out.data,
                        "{\"A\":-9223372036854775808,\"we\\\"ird\\\\na\\u0001me\xc3\xa9\":"
                        "\"x\\\"\\n\xef\xbf\xbd\",\"\":-0."
                        "99999999999999999999999999999999999999,\"D\":null}");
    sl_json_names_free(&names);
    sl_row_free(row);
    sl_buf_free(&want);
}

static void test_schema_columns(void **state)
{
    sl_column two[] = {{"ID", SL_T_INT, true, false, NULL},
                       {"name", SL_T_VARCHAR, false, true, NULL}};
    sl_schema s = {"S", false, 2, two, -1, 0, 0, NULL};

    (void)state;
    sl_buf_reset(&out);
    sl_json_schema_columns(&out, &s);
    assert_string_equal(out.data, "[{\"name\":\"ID\",\"type\":\"INT\",\"key\":true},"
                                  "{\"name\":\"name\",\"type\":\"VARCHAR\",\"key\":false}]");
    sl_buf_reset(&out);
    sl_json_watermark(&out, INT64_MIN);
    sl_json_watermark(&out, 42);
    assert_string_equal(out.data, "null42");
}

static void test_error_json(void **state)
{
    sl_error err;

    (void)state;
    sl_error_set(&err, SL_ERR_SYNTAX_ERROR, 1, 17, "near \"FROM\": syntax error");
    sl_buf_reset(&out);
    sl_json_error(&out, &err);
    assert_string_equal(out.data, "{\"error\":{\"code\":\"SYNTAX_ERROR\",\"message\":\"near "
                                  "\\\"FROM\\\": syntax error\",\"line\":1,\"column\":17}}");
    sl_error_set(&err, SL_ERR_BAD_EVENT, 0, 0, "bad");
    err.index = 3;
    strcpy(err.field, "price");
    sl_buf_reset(&out);
    sl_json_error(&out, &err);
    assert_string_equal(
        out.data,
        "{\"error\":{\"code\":\"BAD_EVENT\",\"message\":\"bad\",\"index\":3,\"field\":\"price\"}}");
}

/* --- json_in: event bodies ---------------------------------------------------------- */

static void test_decode_object(void **state)
{
    sl_error err;
    size_t n;
    sl_row **rows = decode(&schema,
                           "{\"id\":7,\"Price\":3,\"name\":\"a\\u0000b\",\"big\":-9007199254740993,"
                           "\"ok\":true,\"ts\":\"2026-11-24T10:00:00.250+01:00\",\"Quoted\":\"q\","
                           "\"unknown\":[1,2]}",
                           false, &n, &err);

    (void)state;
    assert_non_null(rows);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0]->rowtime, NOW);
    assert_int_equal(rows[0]->ncols, 7);
    assert_int_equal(rows[0]->v[0].type, SL_T_INT);
    assert_int_equal(rows[0]->v[0].u.i, 7);
    assert_int_equal(rows[0]->v[1].type, SL_T_DOUBLE);
    assert_true(rows[0]->v[1].u.d == 3.0);
    assert_int_equal(rows[0]->v[2].type, SL_T_VARCHAR);
    assert_int_equal(rows[0]->v[2].u.s.len, 3);
    assert_memory_equal(rows[0]->v[2].u.s.ptr, "a\0b", 3);
    assert_int_equal(rows[0]->v[3].u.i, -9007199254740993);
    assert_true(rows[0]->v[4].u.b);
    assert_int_equal(rows[0]->v[5].type, SL_T_TIMESTAMP);
    assert_int_equal(rows[0]->v[5].u.i, 1795514400000 - 3600000 + 250);
    assert_int_equal(rows[0]->v[6].u.s.len, 1);
    sl_json_rows_free(rows, n);
}

static void test_decode_missing_is_null(void **state)
{
    sl_error err;
    size_t n;
    sl_row **rows =
        decode(&schema, "[{\"ID\":1},{\"name\":null,\"quoted\":\"ignored\"}]", false, &n, &err);

    (void)state;
    assert_non_null(rows);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0]->v[0].u.i, 1);
    for (int c = 1; c < 7; c++)
        assert_int_equal(rows[0]->v[c].type, SL_T_NULL);
    /* "quoted" does not match the quoted column "Quoted": it is an unknown key. */
    for (int c = 0; c < 7; c++)
        assert_int_equal(rows[1]->v[c].type, SL_T_NULL);
    sl_json_rows_free(rows, n);
}

static void test_decode_ndjson(void **state)
{
    sl_error err;
    size_t n;
    sl_row **rows = decode(&schema, "{\"id\":1}\r\n\n   \n{\"id\":2}\n{\"id\":3}", true, &n, &err);

    (void)state;
    assert_non_null(rows);
    assert_int_equal(n, 3);
    assert_int_equal(rows[2]->v[0].u.i, 3);
    sl_json_rows_free(rows, n);
}

static void test_decode_body_errors(void **state)
{
    (void)state;
    expect_error(&schema, "", false, SL_ERR_BAD_REQUEST, -1, "", "empty body");
    expect_error(&schema, " \r\n", true, SL_ERR_BAD_REQUEST, -1, "", "empty body");
    expect_error(&schema, " [ ] ", false, SL_ERR_BAD_REQUEST, -1, "", "no events");
    expect_error(&schema, "{\"id\":1", false, SL_ERR_BAD_EVENT, 0, "",
                 "invalid JSON: '}' expected near end of file (line 1, column 7)");
    expect_error(&schema, "{\"id\":1}\n{\"id\":2}", false, SL_ERR_BAD_EVENT, 0, "",
                 "invalid JSON: end of file expected near '{' (line 2, column 1)");
    expect_error(&schema, "{\"id\":1,\"id\":2}", false, SL_ERR_BAD_EVENT, 0, "",
                 "invalid JSON: duplicate object key near '\"id\"' (line 1, column 12)");
    expect_error(&schema, "42", false, SL_ERR_BAD_EVENT, 0, "", "event is not a JSON object");
    expect_error(&schema, "[{\"id\":1},{},3]", false, SL_ERR_BAD_EVENT, 2, "",
                 "event is not a JSON object");
    /* NDJSON: the index counts events (blank lines skipped); the message names the line. */
    expect_error(&schema, "{\"id\":1}\n\n{\"id\":}\n", true, SL_ERR_BAD_EVENT, 1, "",
                 "invalid JSON on line 3: unexpected token near '}' (column 7)");
    expect_error(&schema, "{}\n[1]\n", true, SL_ERR_BAD_EVENT, 1, "", "event is not a JSON object");
}

static void test_decode_type_errors(void **state)
{
    (void)state;
    expect_error(&schema, "[{\"id\":1},{\"id\":\"2\"}]", false, SL_ERR_BAD_EVENT, 1, "id",
                 "\"id\": expected INT, got string");
    expect_error(&schema, "{\"ID\":2147483648}", false, SL_ERR_BAD_EVENT, 0, "ID",
                 "\"ID\": 2147483648 is out of range for INT");
    expect_error(&schema, "{\"big\":1.0}", false, SL_ERR_BAD_EVENT, 0, "big",
                 "\"big\": expected BIGINT, got real");
    expect_error(&schema, "{\"price\":\"1.5\"}", false, SL_ERR_BAD_EVENT, 0, "price",
                 "\"price\": expected DOUBLE, got string");
    expect_error(&schema, "{\"name\":5}", false, SL_ERR_BAD_EVENT, 0, "name",
                 "\"name\": expected VARCHAR, got integer");
    expect_error(&schema, "{\"ok\":1}", false, SL_ERR_BAD_EVENT, 0, "ok",
                 "\"ok\": expected BOOLEAN, got integer");
    expect_error(&schema, "{\"ok\":{}}", false, SL_ERR_BAD_EVENT, 0, "ok",
                 "\"ok\": expected BOOLEAN, got object");
    expect_error(&schema, "{\"ts\":true}", false, SL_ERR_BAD_EVENT, 0, "ts",
                 "\"ts\": expected TIMESTAMP, got boolean");
    expect_error(&schema, "{\"ts\":\"2026-02-30T00:00:00Z\"}", false, SL_ERR_BAD_EVENT, 0, "ts",
                 "\"ts\": \"2026-02-30T00:00:00Z\" is not a timestamp (epoch ms or ISO-8601)");
    expect_error(&schema, "{\"id\":1,\"Id\":2}", false, SL_ERR_BAD_EVENT, 0, "Id",
                 "\"Id\": column ID is given twice (also as \"id\")");
}

static void test_rowtime(void **state)
{
    sl_column tcols[] = {{"ID", SL_T_INT, false, false, NULL},
                         {"EVENT_TS", SL_T_BIGINT, false, false, NULL}};
    sl_schema ts_schema = {"T", false, 2, tcols, 1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    sl_column scols[] = {{"ID", SL_T_INT, false, false, NULL},
                         {"AT", SL_T_VARCHAR, false, false, NULL}};
    sl_schema str_schema = {"U", false, 2, scols, 1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    sl_error err;
    size_t n;
    sl_row **rows;

    (void)state;
    /* The timestamp column wins over a ROWTIME key. */
    rows = decode(&ts_schema, "{\"event_ts\":1234,\"ROWTIME\":99}", false, &n, &err);
    assert_non_null(rows);
    assert_int_equal(rows[0]->rowtime, 1234);
    sl_json_rows_free(rows, n);
    expect_error(&ts_schema, "[{\"event_ts\":1},{\"id\":1}]", false, SL_ERR_BAD_EVENT, 1,
                 "EVENT_TS", "\"EVENT_TS\": the timestamp column is missing or null");
    /* A VARCHAR timestamp column holds ISO-8601 text. */
    rows = decode(&str_schema, "{\"at\":\"1970-01-01T00:00:01.5Z\"}", false, &n, &err);
    assert_non_null(rows);
    assert_int_equal(rows[0]->rowtime, 1500);
    assert_int_equal(rows[0]->v[1].type, SL_T_VARCHAR);
    sl_json_rows_free(rows, n);
    expect_error(&str_schema, "{\"at\":\"yesterday\"}", false, SL_ERR_BAD_EVENT, 0, "AT",
                 "\"AT\": \"yesterday\" is not an ISO-8601 timestamp");
    /* Without a timestamp column: a ROWTIME key in any case, else arrival time. */
    rows = decode(&schema, "[{\"rowtime\":5},{\"ROWTIME\":null},{}]", false, &n, &err);
    assert_non_null(rows);
    assert_int_equal(rows[0]->rowtime, 5);
    assert_int_equal(rows[1]->rowtime, NOW);
    assert_int_equal(rows[2]->rowtime, NOW);
    sl_json_rows_free(rows, n);
    expect_error(&schema, "{\"RowTime\":\"5\"}", false, SL_ERR_BAD_EVENT, 0, "RowTime",
                 "\"RowTime\": expected an integer (epoch ms), got string");
}

static void test_parse_timestamp(void **state)
{
    int64_t ms;

    (void)state;
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T10:00:00Z", 20, &ms), 0);
    assert_int_equal(ms, 1795514400000);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T10:00:00.123Z", 24, &ms), 0);
    assert_int_equal(ms, 1795514400123);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T10:00:00.1239", 24, &ms), 0);
    assert_int_equal(ms, 1795514400123);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T10:00:00-05:30", 25, &ms), 0);
    assert_int_equal(ms, 1795514400000 + 19800000);
    assert_int_equal(sl_json_parse_timestamp("2024-02-29T23:59:59+0000", 24, &ms), 0);
    assert_int_equal(ms, 1709251199000);
    assert_int_equal(sl_json_parse_timestamp("1969-12-31T23:59:59.999Z", 24, &ms), 0);
    assert_int_equal(ms, -1);
    assert_int_equal(sl_json_parse_timestamp("2023-02-29T00:00:00Z", 20, &ms), -1);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24", 10, &ms), -1);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T24:00:00Z", 20, &ms), -1);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T10:00:00.Z", 21, &ms), -1);
    assert_int_equal(sl_json_parse_timestamp("2026-11-24T10:00:00Zjunk", 24, &ms), -1);
}

static void test_sql_request(void **state)
{
    sl_sql_request r;
    sl_error err;
    const char *body = "{\"sql\":\"SELECT 1\",\"name\":\"q1\",\"from\":\"latest\",\"x\":1}";

    (void)state;
    assert_int_equal(sl_sql_request_parse(body, strlen(body), &r, &err), 0);
    assert_string_equal(r.sql, "SELECT 1");
    assert_int_equal(r.sql_len, 8);
    assert_string_equal(r.name, "q1");
    assert_true(r.has_from);
    assert_false(r.from_earliest);
    sl_sql_request_clear(&r);
    body = "{\"sql\":\"S\"}";
    assert_int_equal(sl_sql_request_parse(body, strlen(body), &r, &err), 0);
    assert_null(r.name);
    assert_false(r.has_from);
    sl_sql_request_clear(&r);
    body = "{\"sql\":1}";
    assert_int_equal(sl_sql_request_parse(body, strlen(body), &r, &err), -1);
    assert_int_equal(err.code, SL_ERR_BAD_REQUEST);
    assert_string_equal(err.message, "\"sql\" must be a string");
    body = "{\"sql\":\"S\",\"from\":\"now\"}";
    assert_int_equal(sl_sql_request_parse(body, strlen(body), &r, &err), -1);
    assert_string_equal(err.message, "\"from\" must be \"earliest\" or \"latest\"");
    body = "[1]";
    assert_int_equal(sl_sql_request_parse(body, strlen(body), &r, &err), -1);
    assert_string_equal(err.message, "the body is not a JSON object");
}

/* --- json_in: the single-pass decoder against jansson -------------------------------- */

/* splitmix64: the same bodies on every machine. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t pick(size_t n)
{
    return (size_t)(rnd() % n);
}

#define PICK(a) ((a)[pick(sizeof(a) / sizeof((a)[0]))])

/* Blank space between tokens; never a newline inside an NDJSON event. */
static void gen_space(sl_buf *b, bool ndjson)
{
    static const char *const sp[] = {"", "", "", " ", "\t", "  ", "\r", "\n", "\r\n"};
    const char *s = PICK(sp);

    if (ndjson && strchr(s, '\n'))
        s = " ";
    sl_buf_puts(b, s);
}

static void gen_string(sl_buf *b)
{
    static const char *const piece[] = {"abc",
                                        "x",
                                        "\\n",
                                        "\\t\\\"\\\\\\/",
                                        "\\u00e9",
                                        "\\u20AC",
                                        "\\ud83d\\ude00",
                                        "\\u0000",
                                        "h\xc3\xa9",
                                        "\xe2\x82\xac",
                                        "\xf0\x9d\x84\x9e",
                                        " ",
                                        "home",
                                        "\\b\\f\\r",
                                        "\\uD834\\uDD1E",
                                        "2026-11-24T10:00:00Z"};
    /* Each rejected by jansson. */
    static const char *const bad[] = {
        "\\uD800",      "\\uDC00x", "\\ud800\\u0041",   "\\x",  "\\u12G4",
        "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\x1f", "\\ud800\\n"};
    int n = (int)pick(4);

    sl_buf_putc(b, '"');
    for (int i = 0; i < n; i++)
        sl_buf_puts(b, pick(30) ? PICK(piece) : PICK(bad));
    sl_buf_putc(b, '"');
}

static void gen_number(sl_buf *b)
{
    static const char *const num[] = {"0",
                                      "-0",
                                      "7",
                                      "-2147483648",
                                      "2147483647",
                                      "2147483648",
                                      "-2147483649",
                                      "9223372036854775807",
                                      "-9223372036854775808",
                                      "9223372036854775808",
                                      "-9223372036854775809",
                                      "12345678901234567890123",
                                      "1.5",
                                      "-0.0",
                                      "1e3",
                                      "1E+2",
                                      "2.5e-7",
                                      "1e400",
                                      "-1e400",
                                      "1e-400",
                                      "0.1",
                                      "3.141592653589793238462643",
                                      "1e22",
                                      "1e23",
                                      "9007199254740993",
                                      "9007199254740993.0",
                                      "4.9e-324",
                                      "1.7976931348623157e308",
                                      "1.7976931348623159e308",
                                      "123.456e-5",
                                      "0e0",
                                      "1e0000002",
                                      "01",
                                      "1.",
                                      "-",
                                      ".5",
                                      "+1",
                                      "1e",
                                      "-01",
                                      "1.e5",
                                      "1e+",
                                      "0x1"};

    switch (pick(4)) {
    case 0:
        sl_buf_puts(b, PICK(num));
        break;
    case 1:
        sl_buf_printf(b, "%lld", (long long)(int64_t)rnd() >> pick(64));
        break;
    case 2: {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (!isfinite(d))
            d = 1.0 / 3.0;
        sl_buf_printf(b, "%.17g", d);
        break;
    }
    default:
        sl_buf_printf(b, "%d.%0*d", (int)pick(100000), (int)pick(6) + 1, (int)pick(1000));
        break;
    }
}

static void gen_value(sl_buf *b, bool ndjson, int depth);

static void gen_key(sl_buf *b)
{
    static const char *const key[] = {
        "\"id\"",       "\"ID\"", "\"Id\"",       "\"price\"",    "\"PRICE\"",  "\"name\"",
        "\"big\"",      "\"ok\"", "\"ts\"",       "\"Quoted\"",   "\"quoted\"", "\"ROWTIME\"",
        "\"rowtime\"",  "\"x\"",  "\"extra\"",    "\"\\u0069d\"", "\"\"",       "\"a\\u0000b\"",
        "\"event_ts\"", "\"at\"", "\"n\\u00e9\"", "\"y\""};

    sl_buf_puts(b, PICK(key));
}

static void gen_container(sl_buf *b, bool ndjson, int depth, bool object)
{
    int n = (int)pick(depth > 3 ? 2 : 5);

    sl_buf_putc(b, object ? '{' : '[');
    for (int i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(b, ',');
        gen_space(b, ndjson);
        if (object) {
            gen_key(b);
            gen_space(b, ndjson);
            sl_buf_putc(b, ':');
            gen_space(b, ndjson);
        }
        gen_value(b, ndjson, depth + 1);
        gen_space(b, ndjson);
    }
    sl_buf_putc(b, object ? '}' : ']');
}

static void gen_value(sl_buf *b, bool ndjson, int depth)
{
    static const char *const lit[] = {"true", "false", "null", "null"};

    switch (pick(depth > 6 ? 4 : 6)) {
    case 0:
        gen_string(b);
        break;
    case 1:
    case 2:
        gen_number(b);
        break;
    case 3:
        sl_buf_puts(b, PICK(lit));
        break;
    case 4:
        gen_container(b, ndjson, depth, false);
        break;
    default:
        gen_container(b, ndjson, depth, true);
        break;
    }
}

/* Nesting past SL_MAX_JSON_DEPTH, to reach the hand-over to jansson. */
static void gen_deep(sl_buf *b)
{
    int n = SL_MAX_JSON_DEPTH - 2 + (int)pick(5);

    for (int i = 0; i < n; i++)
        sl_buf_puts(b, i % 2 ? "{\"k\":" : "[");
    sl_buf_puts(b, "1");
    for (int i = n - 1; i >= 0; i--)
        sl_buf_puts(b, i % 2 ? "}" : "]");
}

static void gen_event(sl_buf *b, bool ndjson)
{
    int n = (int)pick(7);

    sl_buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(b, ',');
        gen_space(b, ndjson);
        gen_key(b);
        gen_space(b, ndjson);
        sl_buf_putc(b, ':');
        gen_space(b, ndjson);
        if (pick(40) == 0)
            gen_deep(b);
        else
            gen_value(b, ndjson, 1);
        gen_space(b, ndjson);
    }
    sl_buf_putc(b, '}');
}

/* A number for a DECIMAL(10, 2), DECIMAL(38, 0) or DECIMAL(3, 3) column: mostly one
 * that fits one of them, else one with too many digits on either side of the point, or
 * anything gen_number makes. */
static void gen_decimal(sl_buf *b)
{
    static const char *const num[] = {"12345678901234567890.12",
                                      "99999999.99",
                                      "100000000",
                                      "0.001",
                                      "-0.999",
                                      "1e2",
                                      "-0.00",
                                      "123456789012.5",
                                      "99999999999999999999999999999999999999",
                                      "0.9995",
                                      "5E-3",
                                      "-9223372036854775808",
                                      "1.10000000000000000000000000000"};

    switch (pick(4)) {
    case 0:
        sl_buf_puts(b, PICK(num));
        break;
    case 1:
        gen_number(b);
        break;
    default:
        sl_buf_printf(b, "%s%d.%0*d", pick(2) ? "-" : "", (int)pick(100000), (int)pick(3) + 1,
                      (int)pick(100));
        break;
    }
}

/* A value of type t that conversion accepts (mostly); an ARRAY is an ARRAY<DECIMAL>. */
static void gen_typed(sl_buf *b, sl_type t)
{
    static const char *const ts[] = {"\"2026-11-24T10:00:00.250+01:00\"", "1795514400000",
                                     "\"1970-01-01T00:00:01.5Z\"", "-1", "\"2024-02-29 23:59:59\""};

    if (pick(12) == 0) {
        sl_buf_puts(b, "null");
        return;
    }
    switch (t) {
    case SL_T_INT:
        sl_buf_printf(b, "%d", (int)(int32_t)rnd());
        break;
    case SL_T_BIGINT:
        sl_buf_printf(b, "%lld", (long long)(int64_t)rnd() >> pick(64));
        break;
    case SL_T_DOUBLE:
        gen_number(b);
        break;
    case SL_T_VARCHAR:
        gen_string(b);
        break;
    case SL_T_BOOLEAN:
        sl_buf_puts(b, pick(2) ? "true" : "false");
        break;
    case SL_T_DECIMAL:
        gen_decimal(b);
        break;
    case SL_T_ARRAY: {
        int n = (int)pick(4);
        sl_buf_putc(b, '[');
        for (int i = 0; i < n; i++) {
            if (i)
                sl_buf_putc(b, ',');
            if (pick(8) == 0)
                sl_buf_puts(b, "null");
            else
                gen_decimal(b);
        }
        sl_buf_putc(b, ']');
        break;
    }
    default:
        sl_buf_puts(b, PICK(ts));
        break;
    }
}

/* An event that mostly fits schema s: its columns (names in any case where allowed),
 * each at most once, and unknown keys with values of any shape. */
static void gen_typed_event(sl_buf *b, const sl_schema *s, bool ndjson)
{
    static const char *const unknown[] = {"\"x\"", "\"extra\"", "\"y\"", "\"\"", "\"rowtime\""};
    bool used[8] = {false};
    int n = (int)pick(9), fields = 0;

    sl_buf_putc(b, '{');
    for (int i = 0; i < n || (s->timestamp_col >= 0 && !used[s->timestamp_col]); i++) {
        int c = i >= n ? s->timestamp_col : (int)pick((size_t)s->ncols + 2);
        if (c < s->ncols && used[c])
            continue;
        if (fields++)
            sl_buf_putc(b, ',');
        gen_space(b, ndjson);
        if (c < s->ncols) {
            used[c] = true;
            sl_buf_putc(b, '"');
            for (const char *q = s->cols[c].name; *q; q++)
                sl_buf_putc(b, s->cols[c].quoted || pick(2) ? *q : (char)(*q ^ 0x20));
            sl_buf_puts(b, "\":");
            gen_space(b, ndjson);
            gen_typed(b, s->cols[c].type);
        } else {
            sl_buf_puts(b, PICK(unknown));
            sl_buf_putc(b, ':');
            if (pick(40) == 0)
                gen_deep(b);
            else
                gen_value(b, ndjson, 1);
        }
        gen_space(b, ndjson);
    }
    sl_buf_putc(b, '}');
}

static void gen_body(sl_buf *b, const sl_schema *s, bool ndjson)
{
    int n = 1 + (int)pick(4);
    bool typed = pick(3) != 0;

    if (ndjson) {
        for (int i = 0; i < n; i++) {
            if (pick(4) == 0)
                sl_buf_puts(b, pick(2) ? "\n" : "  \r\n");
            gen_space(b, true);
            if (typed)
                gen_typed_event(b, s, true);
            else
                gen_event(b, true);
            gen_space(b, true);
            if (i + 1 < n || pick(2))
                sl_buf_puts(b, pick(3) ? "\n" : "\r\n");
        }
        return;
    }
    gen_space(b, false);
    if (pick(3) == 0) {
        if (typed)
            gen_typed_event(b, s, false);
        else
            gen_event(b, false);
    } else {
        sl_buf_putc(b, '[');
        for (int i = 0; i < n; i++) {
            if (i)
                sl_buf_putc(b, ',');
            gen_space(b, false);
            if (typed)
                gen_typed_event(b, s, false);
            else
                gen_event(b, false);
            gen_space(b, false);
        }
        sl_buf_putc(b, ']');
    }
    gen_space(b, false);
}

/* Truncates, deletes, inserts or replaces a byte. */
static void mutate(sl_buf *b)
{
    static const char ins[] = "{}[]:,\"\\ \n\r\t0-1.eE+tfnu\x01\x80\xff\xc3";
    size_t at = b->len ? pick(b->len) : 0;

    switch (pick(4)) {
    case 0:
        b->len = at;
        break;
    case 1:
        if (b->len) {
            memmove(b->data + at, b->data + at + 1, b->len - at - 1);
            b->len--;
        }
        break;
    case 2:
        sl_buf_putc(b, ' ');
        memmove(b->data + at + 1, b->data + at, b->len - at - 1);
        b->data[at] = ins[pick(sizeof(ins) - 1)];
        break;
    default:
        if (b->len)
            b->data[at] = ins[pick(sizeof(ins) - 1)];
        break;
    }
    sl_buf_putc(b, '\0');
    b->len--;
}

static void assert_same_rows(sl_row **a, sl_row **b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i]->rowtime, b[i]->rowtime);
        assert_int_equal(a[i]->ncols, b[i]->ncols);
        for (uint32_t c = 0; c < a[i]->ncols; c++) {
            const sl_value *x = &a[i]->v[c], *y = &b[i]->v[c];
            assert_int_equal(x->type, y->type);
            switch (x->type) {
            case SL_T_VARCHAR:
                assert_int_equal(x->u.s.len, y->u.s.len);
                assert_memory_equal(x->u.s.ptr, y->u.s.ptr, x->u.s.len);
                break;
            case SL_T_DOUBLE:
                assert_memory_equal(&x->u.d, &y->u.d, sizeof(double));
                break;
            case SL_T_DECIMAL:
                assert_int_equal(x->scale, y->scale);
                assert_true(x->u.dec.hi == y->u.dec.hi && x->u.dec.lo == y->u.dec.lo);
                break;
            case SL_T_ARRAY:
                assert_int_equal(x->u.s.len, y->u.s.len);
                assert_memory_equal(x->u.s.ptr, y->u.s.ptr, x->u.s.len);
                break;
            case SL_T_BOOLEAN:
                assert_int_equal(x->u.b, y->u.b);
                break;
            case SL_T_NULL:
                break;
            default:
                assert_int_equal(x->u.i, y->u.i);
                break;
            }
        }
    }
}

static void assert_same_error(const sl_error *a, const sl_error *b)
{
    assert_int_equal(a->code, b->code);
    assert_int_equal(a->index, b->index);
    assert_string_equal(a->field, b->field);
    assert_string_equal(a->message, b->message);
}

/* Decodes body by every path; all must agree with the reference.  Returns whether the
 * single-pass decoder decoded it itself. */
static bool check_body(const sl_schema *s, const char *body, size_t len, bool ndjson)
{
    sl_row **ref = NULL, **got = NULL, **fast = NULL;
    size_t nref, ngot, nfast;
    sl_error eref, egot;
    int rref, rgot, rfast;

    rref = sl_json_decode_reference(body, len, ndjson, s, NOW, &ref, &nref, &eref);
    rfast = sl_json_decode_fast(body, len, ndjson, s, NOW, &fast, &nfast);
    if (rfast == 0) {
        if (rref != 0)
            fail_msg("the fast decoder accepted what jansson rejects (%s): %.*s", eref.message,
                     (int)len, body);
        assert_int_equal(nfast, nref);
        assert_same_rows(fast, ref, nref);
    }
    rgot = sl_json_decode_events(body, len, ndjson, s, NOW, &got, &ngot, &egot);
    assert_int_equal(rgot, rref);
    if (rref == 0) {
        assert_int_equal(ngot, nref);
        assert_same_rows(got, ref, nref);
    } else {
        assert_same_error(&egot, &eref);
    }
    sl_json_rows_free(got, rgot == 0 ? ngot : 0);
    sl_json_rows_free(ref, nref);
    sl_json_rows_free(fast, nfast);
    return rfast == 0;
}

static void test_decode_differential(void **state)
{
    sl_column tcols[] = {{"ID", SL_T_INT, false, false, NULL},
                         {"EVENT_TS", SL_T_BIGINT, false, false, NULL},
                         {"NAME", SL_T_VARCHAR, false, false, NULL}};
    sl_schema ts_schema = {"T", false, 3, tcols, 1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    sl_column scols[] = {{"ID", SL_T_BIGINT, false, false, NULL},
                         {"AT", SL_T_VARCHAR, false, false, NULL},
                         {"id", SL_T_DOUBLE, false, true, NULL}};
    sl_schema str_schema = {"U", false, 3, scols, 1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    sl_column dcols[] = {{"ID", SL_T_INT, false, false, NULL},
                         {"AMOUNT", SL_T_DECIMAL, false, false, &dec10_2},
                         {"BIG", SL_T_DECIMAL, false, false, &dec38_0},
                         {"TINY", SL_T_DECIMAL, false, false, &dec3_3},
                         {"LIST", SL_T_ARRAY, false, false, &dec_list}};
    sl_schema dec_schema = {"D", false, 5, dcols, -1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    const sl_schema *schemas[] = {&schema, &ts_schema, &str_schema, &dec_schema};
    sl_buf b = SL_BUF_INIT;
    long valid = 0, valid_fast = 0, total = 0, total_fast = 0, accepted = 0;

    (void)state;
    rng_state = 42;
    for (int i = 0; i < 30000; i++) {
        bool ndjson = pick(2);
        const sl_schema *s = schemas[pick(4)];
        int mutations = pick(3) == 0 ? 1 + (int)pick(3) : 0;
        bool fast;

        sl_buf_reset(&b);
        gen_body(&b, s, ndjson);
        for (int m = 0; m < mutations; m++)
            mutate(&b);
        fast = check_body(s, b.data ? b.data : "", b.len, ndjson);
        total++;
        total_fast += fast;
        if (mutations == 0) {
            sl_row **rows;
            size_t n;
            valid++;
            valid_fast += fast;
            if (sl_json_decode_reference(b.data, b.len, ndjson, s, NOW, &rows, &n, NULL) == 0) {
                accepted++;
                sl_json_rows_free(rows, n);
            }
        }
    }
    print_message("differential: %ld bodies (%ld unmutated, %ld of them accepted), fast path "
                  "decoded %ld (%ld unmutated)\n",
                  total, valid, accepted, total_fast, valid_fast);
    /* The fast decoder must decode what it is for: every accepted body without the
     * shapes it hands over (deep nesting, escaped keys, \u0000 keys) is most of them. */
    assert_true(accepted > 1000);
    assert_true(valid_fast * 10 >= accepted * 7);
    sl_buf_free(&b);
}

/* DECIMAL columns read JSON numbers exactly, from their text, in both decoders (the
 * reference one pairs jansson's number nodes with their text), inside ARRAYs too; a
 * number needing more digits than the type has on either side of the point, or a
 * string, is an error. */
static void test_decode_decimal(void **state)
{
    sl_column dcols[] = {{"ID", SL_T_INT, false, false, NULL},
                         {"AMOUNT", SL_T_DECIMAL, false, false, &dec10_2},
                         {"BIG", SL_T_DECIMAL, false, false, &dec38_0},
                         {"LIST", SL_T_ARRAY, false, false, &dec_list}};
    sl_schema ds = {"D", false, 4, dcols, -1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    const char *body = "[{\"id\":1,\"amount\":12.3,\"big\":9223372036854775807,"
                       "\"list\":[1.5,-0.25,null,1e1]},"
                       "{\"amount\":-99999999.99,\"big\":1.2345678901234567890123456789e28,"
                       "\"x\":[\"4.5\",{\"y\":7.25}]},"
                       "{\"amount\":0.100,\"big\":-0e5}]";
    const char *want[3][4] = {{"1", "12.30", "9223372036854775807", "[1.50,-0.25,null,10.00]"},
                              {"null", "-99999999.99", "12345678901234567890123456789", "null"},
                              {"null", "0.10", "0", "null"}};
    sl_error err;
    size_t n;
    sl_row **rows = decode(&ds, body, false, &n, &err);

    (void)state;
    assert_non_null(rows);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 4; c++) {
            sl_buf_reset(&out);
            sl_json_value(&out, &rows[i]->v[c], dcols[c].desc);
            assert_string_equal(out.data, want[i][c]);
        }
    }
    sl_json_rows_free(rows, n);
    /* Both decoders agree on it, and the fast one decodes it itself (no ARRAY). */
    assert_true(check_body(&ds, body, strlen(body), false) == false);
    const char *flat = "{\"amount\":12.3,\"big\":-1}\n{\"AMOUNT\":1e-2}";
    assert_true(check_body(&ds, flat, strlen(flat), true));
    /* Errors: the reference decoder's messages, whichever decoder met the value. */
    expect_error(&ds, "{\"amount\":123456789.5}", false, SL_ERR_BAD_EVENT, 0, "amount",
                 "\"amount\": 123456789.5 is out of range for DECIMAL(10, 2)");
    expect_error(&ds, "[{},{\"amount\":1.005}]", false, SL_ERR_BAD_EVENT, 1, "amount",
                 "\"amount\": 1.005 has more than 2 digits after the point for DECIMAL(10, 2)");
    expect_error(&ds, "{\"amount\":\"1.5\"}", false, SL_ERR_BAD_EVENT, 0, "amount",
                 "\"amount\": expected DECIMAL(10, 2), got string");
    expect_error(&ds, "{\"list\":[1,2.001]}", false, SL_ERR_BAD_EVENT, 0, "list",
                 "\"list[2]\": 2.001 has more than 2 digits after the point for DECIMAL(4, 2)");
    expect_error(&ds, "{\"list\":[100]}", false, SL_ERR_BAD_EVENT, 0, "list",
                 "\"list[1]\": 100 is out of range for DECIMAL(4, 2)");
}

static void test_decode_fast_common(void **state)
{
    const char *bodies[] = {
        "{\"id\":1,\"price\":2.5,\"name\":\"a\\u00e9\\ud83d\\ude00\",\"big\":-1,\"ok\":false,"
        "\"ts\":\"2026-11-24T10:00:00Z\",\"Quoted\":null,\"extra\":{\"a\":[1,{\"b\":null}],"
        "\"c\":\"d\"}}",
        "{\"ID\":-2147483648}\n{\"rowtime\":5,\"ROWTIME\":7}\r\n\n{}",
        " [ {\"price\" : 1e-400} , {\"price\":-0} ,{\"price\":9007199254740993}] ",
        "{\"name\":\"tab\\there\",\"\\u0069d\":3}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        bool ndjson = i == 1;
        assert_true(check_body(&schema, bodies[i], strlen(bodies[i]), ndjson));
    }
    /* Handed over, same result. */
    assert_false(check_body(&schema, "{\"x\":{\"\\u0061\":1}}", 17, false));
    assert_false(check_body(&schema, "{\"id\":1,\"id\":2}", 15, false));
}

/* Integers of INT, BIGINT and TIMESTAMP columns, which the fast decoder reads eight
 * digits at a time: every length, signs, leading zeros, the int64 and int32 limits,
 * and numbers that are not integers; both decoders agree, and the values are exact. */
static void test_decode_fast_integers(void **state)
{
    sl_column icols[] = {{"I", SL_T_INT, false, false, NULL},
                         {"B", SL_T_BIGINT, false, false, NULL},
                         {"T", SL_T_TIMESTAMP, false, false, NULL}};
    sl_schema is = {"N", false, 3, icols, -1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    const char *texts[] = {"0",
                           "-0",
                           "00",
                           "-00",
                           "012345678",
                           "-",
                           "1",
                           "-1",
                           "12345678",
                           "-12345678",
                           "99999999",
                           "123456789",
                           "1234567a",
                           "12345678a",
                           "2147483647",
                           "2147483648",
                           "-2147483648",
                           "-2147483649",
                           "1700000000123",
                           "999999999999999999",
                           "-999999999999999999",
                           "1000000000000000000",
                           "9223372036854775807",
                           "-9223372036854775808",
                           "9223372036854775808",
                           "-9223372036854775809",
                           "12345678901234567890",
                           "12345678.5",
                           "12345678e1",
                           "12345678E+1",
                           "1.0",
                           "1e2",
                           "123456789012.0"};
    char body[256];

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        for (int c = 0; c < 3; c++) {
            const char *key = c == 0 ? "i" : c == 1 ? "b" : "t";
            /* Alone, followed by another member, and at the end of an NDJSON line. */
            snprintf(body, sizeof(body), "{\"%s\":%s}", key, texts[i]);
            check_body(&is, body, strlen(body), false);
            snprintf(body, sizeof(body), "{\"%s\":%s,\"x\":1}\n{\"%s\":%s}", key, texts[i], key,
                     texts[i]);
            check_body(&is, body, strlen(body), true);
        }
    }
    const char *ok = "{\"i\":-2147483648,\"b\":-9223372036854775808,\"t\":1700000000123}\n"
                     "{\"i\":12345678,\"b\":999999999999999999,\"t\":-0}";
    const int64_t want[2][3] = {{INT32_MIN, INT64_MIN, 1700000000123},
                                {12345678, 999999999999999999, 0}};
    sl_row **rows;
    size_t n;
    assert_int_equal(sl_json_decode_fast(ok, strlen(ok), true, &is, NOW, &rows, &n), 0);
    assert_int_equal(n, 2);
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(rows[r]->v[c].u.i, want[r][c]);
    sl_json_rows_free(rows, n);
}

/* The rows of a body are made at its end, in one allocation: strings unescaped into the
 * scratch buffer of earlier events stay right however often it grew, with a VARCHAR
 * timestamp column among them. */
static void test_decode_many_escapes(void **state)
{
    sl_column scols[] = {{"ID", SL_T_BIGINT, false, false, NULL},
                         {"AT", SL_T_VARCHAR, false, false, NULL},
                         {"S", SL_T_VARCHAR, false, false, NULL}};
    sl_schema ss = {"U", false, 3, scols, 1, SL_DEFAULT_RETENTION_MS, 0, NULL};
    sl_buf body = SL_BUF_INIT;
    char want[64];
    sl_row **rows;
    size_t n;

    (void)state;
    for (int i = 0; i < 3000; i++)
        sl_buf_printf(&body,
                      "{\"id\":%d,\"at\":\"2026-11-24T10:00:00.%03dZ\",\"s\":\"%s\\u00e9\\n%d\"}\n",
                      i, i % 1000, i % 2 ? "plain" : "\\\"q\\\"", i);
    assert_true(check_body(&ss, body.data, body.len, true));
    assert_int_equal(sl_json_decode_fast(body.data, body.len, true, &ss, NOW, &rows, &n), 0);
    assert_int_equal(n, 3000);
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(want, sizeof(want), "%s\xc3\xa9\n%zu", i % 2 ? "plain" : "\"q\"", i);
        assert_int_equal(rows[i]->v[0].u.i, (int64_t)i);
        assert_int_equal(rows[i]->rowtime, 1795514400000 + (int64_t)(i % 1000));
        assert_int_equal(rows[i]->v[2].u.s.len, len);
        assert_memory_equal(rows[i]->v[2].u.s.ptr, want, (size_t)len);
    }
    sl_json_rows_free(rows, n);
    sl_buf_free(&body);
}

static int teardown(void **state)
{
    (void)state;
    sl_buf_free(&out);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_string_utf8),
        cmocka_unit_test(test_double_shortest),
        cmocka_unit_test(test_double_differential),
        cmocka_unit_test(test_timestamp_out),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_row_and_key),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_row_named),
        cmocka_unit_test(test_schema_columns),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_decode_object),
        cmocka_unit_test(test_decode_missing_is_null),
        cmocka_unit_test(test_decode_ndjson),
        cmocka_unit_test(test_decode_body_errors),
        cmocka_unit_test(test_decode_type_errors),
        cmocka_unit_test(test_rowtime),
        cmocka_unit_test(test_parse_timestamp),
        cmocka_unit_test(test_sql_request),
        cmocka_unit_test(test_decode_decimal),
        cmocka_unit_test(test_decode_fast_common),
        cmocka_unit_test(test_decode_fast_integers),
        cmocka_unit_test(test_decode_many_escapes),
        cmocka_unit_test(test_decode_differential),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
