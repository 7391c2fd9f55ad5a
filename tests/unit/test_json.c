/* test_json.c: the HTTP layer's JSON codecs: exact text out (json_out) and exact rows or
 * errors in (json_in), as a client of the API would see them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "json_in.h"
#include "json_out.h"

#include <math.h>
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
    sl_json_value(&out, &v);
    return out.data;
}

/* PAGEVIEWS (ID INT KEY, PRICE DOUBLE, NAME VARCHAR, BIG BIGINT, OK BOOLEAN, TS TIMESTAMP,
 * "Quoted" VARCHAR). */
static sl_column cols[] = {
    {"ID", SL_T_INT, true, false},         {"PRICE", SL_T_DOUBLE, false, false},
    {"NAME", SL_T_VARCHAR, false, false},  {"BIG", SL_T_BIGINT, false, false},
    {"OK", SL_T_BOOLEAN, false, false},    {"TS", SL_T_TIMESTAMP, false, false},
    {"Quoted", SL_T_VARCHAR, false, true},
};
static sl_schema schema = {"PAGEVIEWS", false, 7, cols, -1, SL_DEFAULT_RETENTION_MS, 0};

#define NOW 1000000

/* Decodes body against s; on success returns the rows (and their count in *n). */
static sl_row **decode(const sl_schema *s, const char *body, bool ndjson, size_t *n, sl_error *err)
{
    sl_json_events *ev = NULL;
    sl_row **rows = NULL;

    sl_error_clear(err);
    *n = 0;
    if (sl_json_events_parse(body, strlen(body), ndjson, &ev, err) < 0)
        return NULL;
    if (sl_json_events_rows(ev, s, NOW, &rows, err) == 0)
        *n = sl_json_events_count(ev);
    sl_json_events_free(ev);
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
}

static void test_row_and_key(void **state)
{
    sl_outcol oc[] = {{"WINDOWSTART", SL_T_BIGINT},
                      {"WINDOWEND", SL_T_BIGINT},
                      {"PAGEID", SL_T_VARCHAR},
                      {"C", SL_T_BIGINT}};
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

static void test_schema_columns(void **state)
{
    sl_column two[] = {{"ID", SL_T_INT, true, false}, {"name", SL_T_VARCHAR, false, true}};
    sl_schema s = {"S", false, 2, two, -1, 0, 0};

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
    sl_column tcols[] = {{"ID", SL_T_INT, false, false}, {"EVENT_TS", SL_T_BIGINT, false, false}};
    sl_schema ts_schema = {"T", false, 2, tcols, 1, SL_DEFAULT_RETENTION_MS, 0};
    sl_column scols[] = {{"ID", SL_T_INT, false, false}, {"AT", SL_T_VARCHAR, false, false}};
    sl_schema str_schema = {"U", false, 2, scols, 1, SL_DEFAULT_RETENTION_MS, 0};
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
        cmocka_unit_test(test_timestamp_out),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_row_and_key),
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
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
