/* test_value.c: types, values, schemas and errors (parser/value.c, schema.c, error.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decimal.h"
#include "error.h"
#include "schema.h"
#include "value.h"

#include <math.h>
#include <string.h>

static void test_type_names(void **state)
{
    sl_type t;

    (void)state;
    assert_string_equal(sl_type_name(SL_T_BIGINT), "BIGINT");
    assert_string_equal(sl_type_name(SL_T_VARCHAR), "VARCHAR");
    assert_string_equal(sl_type_name((sl_type)99), "UNKNOWN");
    assert_int_equal(sl_type_from_name("bigint", 6, &t), 0);
    assert_int_equal(t, SL_T_BIGINT);
    assert_int_equal(sl_type_from_name("String", 6, &t), 0);
    assert_int_equal(t, SL_T_VARCHAR);
    assert_int_equal(sl_type_from_name("INTEGER", 7, &t), 0);
    assert_int_equal(t, SL_T_INT);
    assert_int_equal(sl_type_from_name("TIMESTAMPX", 9, &t), 0); /* length bounds the name */
    assert_int_equal(t, SL_T_TIMESTAMP);
    assert_int_equal(sl_type_from_name("NULL", 4, &t), -1);
    assert_int_equal(sl_type_from_name("FLOAT", 5, &t), -1);
    assert_int_equal(sl_type_from_name("INT", 2, &t), -1);
    assert_true(sl_type_is_numeric(SL_T_INT));
    assert_true(sl_type_is_numeric(SL_T_DOUBLE));
    assert_false(sl_type_is_numeric(SL_T_TIMESTAMP));
    assert_false(sl_type_is_numeric(SL_T_VARCHAR));
}

static void test_value_cmp(void **state)
{
    sl_value null = sl_null(), one = sl_int(SL_T_INT, 1), big = sl_int(SL_T_BIGINT, 1);
    sl_value half = sl_double(1.5), two = sl_double(2.0), itwo = sl_int(SL_T_BIGINT, 2);
    sl_value ab = sl_str("ab", 2), abc = sl_str("abc", 3), b = sl_str("b", 1);
    sl_value f = sl_bool(false), t = sl_bool(true), nan = sl_double(NAN);

    (void)state;
    assert_true(sl_value_cmp(&null, &one) < 0);
    assert_true(sl_value_cmp(&one, &null) > 0);
    assert_int_equal(sl_value_cmp(&null, &null), 0);
    assert_int_equal(sl_value_cmp(&one, &big), 0);
    assert_true(sl_value_cmp(&one, &half) < 0);
    assert_int_equal(sl_value_cmp(&two, &itwo), 0);
    assert_true(sl_value_cmp(&ab, &abc) < 0);
    assert_true(sl_value_cmp(&abc, &b) < 0);
    assert_true(sl_value_cmp(&f, &t) < 0);
    assert_true(sl_value_cmp(&nan, &half) > 0);
    assert_true(sl_value_eq(&null, &null));
    assert_true(sl_value_eq(&two, &itwo));
    assert_false(sl_value_eq(&ab, &abc));
}

static void test_value_hash(void **state)
{
    sl_value two = sl_double(2.0), itwo = sl_int(SL_T_BIGINT, 2), i2 = sl_int(SL_T_INT, 2);
    sl_value s1 = sl_str("abc", 3), s2 = sl_str("abcd", 3), s3 = sl_str("abd", 3);

    (void)state;
    assert_true(sl_value_hash(&two, 7) == sl_value_hash(&itwo, 7));
    assert_true(sl_value_hash(&i2, 7) == sl_value_hash(&itwo, 7));
    assert_true(sl_value_hash(&s1, 7) == sl_value_hash(&s2, 7));
    assert_true(sl_value_hash(&s1, 7) != sl_value_hash(&s3, 7));
    assert_true(sl_value_hash(&s1, 7) != sl_value_hash(&s1, 8));
}

/* s as DECIMAL(p, sc). */
static sl_value dec(const char *s, int p, int sc)
{
    sl_value v;

    assert_int_equal(sl_decimal_parse(s, strlen(s), p, sc, true, &v), 0);
    return v;
}

/* DECIMALs compare and hash by value across scales, exactly with integers (so 1.00
 * groups with 1), and as doubles with a DOUBLE. */
static void test_decimal_values(void **state)
{
    sl_value one = dec("1", 1, 0), one00 = dec("1.00", 3, 2), i1 = sl_int(SL_T_INT, 1);
    sl_value d1 = sl_double(1.0), half = dec("0.5", 1, 1), dhalf = sl_double(0.5);
    sl_value tenth = dec("0.10", 3, 2), dtenth = sl_double(0.1), neg = dec("-1.25", 3, 2);
    sl_value big = dec("99999999999999999999999999999999999999", 38, 0);
    sl_value b63 = dec("9223372036854775807.0", 20, 1), i63 = sl_int(SL_T_BIGINT, INT64_MAX);
    sl_value just_over = dec("9223372036854775807.1", 20, 1), null = sl_null();
    sl_value ts = sl_int(SL_T_TIMESTAMP, 1), str = sl_str("1", 1);

    (void)state;
    assert_int_equal(sl_value_cmp(&one, &one00), 0);
    assert_int_equal(sl_value_cmp(&one00, &i1), 0);
    assert_int_equal(sl_value_cmp(&one00, &d1), 0);
    assert_int_equal(sl_value_cmp(&half, &dhalf), 0);
    assert_int_equal(sl_value_cmp(&tenth, &dtenth), 0);
    assert_true(sl_value_cmp(&neg, &half) < 0);
    assert_true(sl_value_cmp(&half, &one) < 0);
    assert_true(sl_value_cmp(&big, &i63) > 0);
    assert_int_equal(sl_value_cmp(&b63, &i63), 0);
    assert_true(sl_value_cmp(&just_over, &i63) > 0); /* exact, where doubles would tie */
    assert_true(sl_value_cmp(&null, &neg) < 0);
    assert_true(sl_value_cmp(&ts, &one) != 0); /* not comparable: ordered by type */
    assert_true(sl_value_cmp(&str, &one) != 0);
    assert_true(sl_value_eq(&one00, &i1));
    assert_false(sl_value_eq(&one00, &half));
    /* Equal values hash alike, whatever their scale or type. */
    assert_true(sl_value_hash(&one, 3) == sl_value_hash(&one00, 3));
    assert_true(sl_value_hash(&one00, 3) == sl_value_hash(&i1, 3));
    assert_true(sl_value_hash(&one00, 3) == sl_value_hash(&d1, 3));
    assert_true(sl_value_hash(&half, 3) == sl_value_hash(&dhalf, 3));
    assert_true(sl_value_hash(&tenth, 3) == sl_value_hash(&dtenth, 3));
    assert_true(sl_value_hash(&b63, 3) == sl_value_hash(&i63, 3));
    assert_true(sl_value_hash(&half, 3) != sl_value_hash(&tenth, 3));
    assert_true(sl_value_hash(&neg, 3) != sl_value_hash(&neg, 4));
}

static void test_schema(void **state)
{
    sl_column cols[] = {{"ID", SL_T_BIGINT, true, false, NULL},
                        {"camelCase", SL_T_VARCHAR, false, true, NULL},
                        {"NAME", SL_T_VARCHAR, false, false, NULL}};
    sl_schema s = {"S", false, 3, cols, 0, 1000, 5, NULL};
    sl_schema *c = sl_schema_copy(&s);

    (void)state;
    assert_ptr_not_equal(c->name, s.name);
    assert_string_equal(c->name, "S");
    assert_int_equal(c->ncols, 3);
    assert_ptr_not_equal(c->cols, s.cols);
    assert_string_equal(c->cols[1].name, "camelCase");
    assert_true(c->cols[1].quoted);
    assert_true(c->cols[0].key);
    assert_int_equal(c->timestamp_col, 0);
    assert_int_equal(c->retention_ms, 1000);
    assert_int_equal(c->idle_timeout_ms, 5);
    assert_int_equal(sl_schema_find(c, "NAME", 4), 2);
    assert_int_equal(sl_schema_find(c, "name", 4), -1);
    assert_int_equal(sl_schema_find(c, "NAMEX", 4), 2);
    assert_int_equal(sl_schema_find(c, "NAM", 3), -1);
    assert_int_equal(sl_schema_find_json(c, "name", 4), 2);
    assert_int_equal(sl_schema_find_json(c, "Id", 2), 0);
    assert_int_equal(sl_schema_find_json(c, "camelCase", 9), 1);
    assert_int_equal(sl_schema_find_json(c, "CAMELCASE", 9), -1);
    assert_int_equal(sl_schema_find_json(c, "nope", 4), -1);
    sl_schema_free(c);
    sl_schema_free(NULL);
}

static void test_error(void **state)
{
    sl_error err;

    (void)state;
    assert_int_equal(sl_error_set(&err, SL_ERR_UNKNOWN_STREAM, 2, 5, "unknown stream '%s'", "X"),
                     -1);
    assert_int_equal(err.code, SL_ERR_UNKNOWN_STREAM);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 5);
    assert_int_equal(err.index, -1);
    assert_string_equal(err.message, "unknown stream 'X'");
    assert_string_equal(sl_error_code_name(err.code), "UNKNOWN_STREAM");
    assert_int_equal(sl_error_http_status(err.code), 404);
    assert_int_equal(sl_error_http_status(SL_ERR_UNSUPPORTED), 422);
    assert_string_equal(sl_error_code_name(SL_ERR_SYNTAX_ERROR), "SYNTAX_ERROR");
    assert_int_equal(sl_error_set(NULL, SL_ERR_INTERNAL, 0, 0, "x"), -1);
    sl_error_clear(&err);
    assert_int_equal(err.code, SL_ERR_OK);
    assert_string_equal(err.message, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names), cmocka_unit_test(test_value_cmp),
        cmocka_unit_test(test_value_hash), cmocka_unit_test(test_decimal_values),
        cmocka_unit_test(test_schema),     cmocka_unit_test(test_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
