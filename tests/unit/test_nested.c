/* test_nested.c: type descriptors (parser/typedesc.c), ARRAY/MAP/STRUCT bodies
 * (server/engine/nested.c), their storage in the event log (rowcodec.c), and base64
 * (server/engine/base64.c).
 *
 * Bodies are built, read back and looked into by index, key and field; the validator
 * is fed every truncation and many corruptions of valid bodies and must reject or
 * accept them without reading out of bounds (run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base64.h"
#include "limits.h"
#include "nested.h"
#include "row.h"
#include "rowcodec.h"
#include "typedesc.h"

#include <stdlib.h>
#include <string.h>

static void test_typedesc(void **state)
{
    sl_arena *a = sl_arena_new(), *b = sl_arena_new();
    sl_field geo[] = {{"LAT", false, sl_typedesc_scalar(SL_T_DOUBLE)},
                      {"lon", true, sl_typedesc_scalar(SL_T_DOUBLE)}};
    const sl_typedesc *g = sl_typedesc_struct(a, 2, geo);
    sl_field addr[] = {{"CITY", false, sl_typedesc_scalar(SL_T_VARCHAR)}, {"GEO", false, g}};
    const sl_typedesc *st = sl_typedesc_struct(a, 2, addr);
    const sl_typedesc *arr = sl_typedesc_array(a, st);
    const sl_typedesc *map = sl_typedesc_map(a, sl_typedesc_decimal(a, 10, 2));
    const sl_typedesc *copy;
    sl_buf out = SL_BUF_INIT;

    (void)state;
    assert_null(sl_typedesc_scalar(SL_T_ARRAY));
    assert_int_equal(sl_typedesc_of(SL_T_INT, NULL)->kind, SL_T_INT);
    assert_int_equal(arr->depth, 3);
    sl_typedesc_format(arr, &out);
    assert_string_equal(out.data,
                        "ARRAY<STRUCT<CITY VARCHAR, GEO STRUCT<LAT DOUBLE, `lon` DOUBLE>>>");
    sl_buf_reset(&out);
    sl_typedesc_format(map, &out);
    assert_string_equal(out.data, "MAP<VARCHAR, DECIMAL(10, 2)>");
    assert_string_equal(sl_typedesc_name(SL_T_BIGINT, NULL, a), "BIGINT");

    /* A copy lives in its own arena and equals the original. */
    copy = sl_typedesc_copy(arr, b);
    sl_arena_free(a);
    a = sl_arena_new();
    sl_buf_reset(&out);
    sl_typedesc_format(copy, &out);
    assert_string_equal(out.data,
                        "ARRAY<STRUCT<CITY VARCHAR, GEO STRUCT<LAT DOUBLE, `lon` DOUBLE>>>");
    assert_true(sl_typedesc_equal(copy, copy));
    assert_false(sl_typedesc_equal(copy, copy->elem));
    assert_false(sl_typedesc_equal(sl_typedesc_decimal(a, 10, 2), sl_typedesc_decimal(a, 10, 3)));
    assert_true(sl_typedesc_equal(sl_typedesc_decimal(a, 10, 2), sl_typedesc_decimal(a, 10, 2)));

    /* Fields: exact (SQL names, normalised) or as JSON keys match. */
    const sl_typedesc *gc = copy->elem->fields[1].type;
    assert_int_equal(sl_typedesc_field(gc, "LAT", 3, true), 0);
    assert_int_equal(sl_typedesc_field(gc, "lat", 3, true), -1);
    assert_int_equal(sl_typedesc_field(gc, "lat", 3, false), 0);
    assert_int_equal(sl_typedesc_field(gc, "lon", 3, true), 1);
    assert_int_equal(sl_typedesc_field(gc, "LON", 3, false), -1);
    sl_buf_free(&out);
    sl_arena_free(a);
    sl_arena_free(b);
}

/* ["x", NULL, 7, [TRUE, 2.5], {"k": "v"}] as an ARRAY body in buf. */
static sl_value sample_array(sl_buf *buf)
{
    sl_nested_writer w, inner;
    sl_value x = sl_str("x", 1), nul = sl_null(), seven = sl_int(SL_T_BIGINT, 7);
    sl_value t = sl_bool(true), d = sl_double(2.5), k = sl_str("k", 1), v = sl_str("v", 1);

    sl_nested_begin(&w, buf);
    sl_nested_put(&w, &x);
    sl_nested_put(&w, &nul);
    sl_nested_put(&w, &seven);
    sl_nested_open_item(&w, SL_T_ARRAY, &inner);
    sl_nested_put(&inner, &t);
    sl_nested_put(&inner, &d);
    sl_nested_close_item(&w, &inner, SL_T_ARRAY);
    sl_nested_open_item(&w, SL_T_MAP, &inner);
    sl_nested_put(&inner, &k);
    sl_nested_put(&inner, &v);
    sl_nested_close_item(&w, &inner, SL_T_MAP);
    return sl_nested_end(&w, SL_T_ARRAY);
}

static void test_build_and_read(void **state)
{
    sl_buf buf = SL_BUF_INIT;
    sl_value arr = sample_array(&buf), v, inner;
    sl_nested_reader rd;
    const char *why;

    (void)state;
    assert_int_equal(arr.type, SL_T_ARRAY);
    assert_int_equal(sl_nested_count(&arr), 5);
    assert_int_equal(sl_nested_validate(SL_T_ARRAY, arr.u.s.ptr, arr.u.s.len, &why), 0);

    v = sl_nested_array_at(&arr, 1, SL_T_VARCHAR);
    assert_int_equal(v.type, SL_T_VARCHAR);
    assert_memory_equal(v.u.s.ptr, "x", 1);
    assert_int_equal(sl_nested_array_at(&arr, 2, SL_T_VARCHAR).type, SL_T_NULL);
    assert_true(sl_nested_array_at(&arr, 3, SL_T_BIGINT).u.i == 7);
    assert_true(sl_nested_array_at(&arr, -3, SL_T_BIGINT).u.i == 7);
    /* Out of range, and an element of another kind than the plan expects: NULL. */
    assert_int_equal(sl_nested_array_at(&arr, 0, SL_T_VARCHAR).type, SL_T_NULL);
    assert_int_equal(sl_nested_array_at(&arr, 6, SL_T_VARCHAR).type, SL_T_NULL);
    assert_int_equal(sl_nested_array_at(&arr, -6, SL_T_VARCHAR).type, SL_T_NULL);
    assert_int_equal(sl_nested_array_at(&arr, 3, SL_T_VARCHAR).type, SL_T_NULL);

    inner = sl_nested_array_at(&arr, 4, SL_T_ARRAY);
    assert_int_equal(sl_nested_count(&inner), 2);
    assert_true(sl_nested_array_at(&inner, -1, SL_T_DOUBLE).u.d == 2.5);
    inner = sl_nested_array_at(&arr, -1, SL_T_MAP);
    assert_int_equal(sl_nested_count(&inner), 1);
    v = sl_nested_map_at(&inner, "k", 1, SL_T_VARCHAR);
    assert_memory_equal(v.u.s.ptr, "v", 1);
    assert_int_equal(sl_nested_map_at(&inner, "K", 1, SL_T_VARCHAR).type, SL_T_NULL);

    /* A STRUCT reads by field index. */
    assert_int_equal(sl_nested_field(&arr, 2, SL_T_BIGINT).type, SL_T_BIGINT);
    assert_int_equal(sl_nested_field(&arr, 5, SL_T_BIGINT).type, SL_T_NULL);

    /* The reader walks every item; a MAP's are key, value, key, value... */
    sl_nested_open(&rd, &inner);
    assert_true(sl_nested_next(&rd, &v));
    assert_true(sl_nested_next(&rd, &v));
    assert_false(sl_nested_next(&rd, &v));
    sl_buf_free(&buf);
}

static void test_validate_rejects_damage(void **state)
{
    sl_buf buf = SL_BUF_INIT;
    sl_value arr = sample_array(&buf);
    size_t n = arr.u.s.len;
    unsigned char *copy = malloc(n);
    const char *why;
    int accepted = 0;

    (void)state;
    /* Every truncation is rejected. */
    for (size_t len = 0; len < n; len++) {
        unsigned char *t = malloc(len ? len : 1);
        memcpy(t, arr.u.s.ptr, len);
        assert_int_equal(sl_nested_validate(SL_T_ARRAY, t, len, &why), -1);
        free(t);
    }
    /* Flipped bytes are rejected or accepted, never read out of bounds; an accepted
     * body is then walked whole. */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, arr.u.s.ptr, n);
            copy[i] ^= (unsigned char)(1u << bit);
            if (sl_nested_validate(SL_T_ARRAY, copy, n, &why) == 0) {
                sl_value v = sl_str((const char *)copy, (uint32_t)n), item;
                sl_nested_reader rd;
                v.type = SL_T_ARRAY;
                sl_nested_open(&rd, &v);
                while (sl_nested_next(&rd, &item))
                    ;
                accepted++;
            }
        }
    }
    /* Some flips only change a value (a digit of 7, the 2.5): those stay valid. */
    assert_true(accepted > 0);
    /* A MAP key that is not a VARCHAR, trailing bytes, and nesting past the limit. */
    {
        static const unsigned char bad_key[] = {1, 0, 0, 0, SL_T_INT, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        static const unsigned char trailing[] = {0, 0, 0, 0, 9};
        assert_int_equal(sl_nested_validate(SL_T_MAP, bad_key, sizeof(bad_key), &why), -1);
        assert_string_equal(why, "a MAP key that is not a VARCHAR");
        assert_int_equal(sl_nested_validate(SL_T_ARRAY, trailing, sizeof(trailing), &why), -1);
        assert_string_equal(why, "trailing bytes");
    }
    {
        sl_buf deep = SL_BUF_INIT;
        sl_nested_writer w[SL_MAX_TYPE_DEPTH + 1];
        sl_value v;

        sl_nested_begin(&w[0], &deep);
        for (int d = 1; d <= SL_MAX_TYPE_DEPTH; d++)
            sl_nested_open_item(&w[d - 1], SL_T_ARRAY, &w[d]);
        for (int d = SL_MAX_TYPE_DEPTH; d >= 1; d--)
            sl_nested_close_item(&w[d - 1], &w[d], SL_T_ARRAY);
        v = sl_nested_end(&w[0], SL_T_ARRAY);
        assert_int_equal(sl_nested_validate(SL_T_ARRAY, v.u.s.ptr, v.u.s.len, &why), -1);
        assert_string_equal(why, "nested too deeply");
        sl_buf_free(&deep);
    }
    free(copy);
    sl_buf_free(&buf);
}

/* Composite values survive the event log; a damaged body inside a row is a
 * STORAGE_ERROR when read. */
static void test_rowcodec(void **state)
{
    sl_buf buf = SL_BUF_INIT, blob = SL_BUF_INIT;
    sl_value v[4];
    sl_row *row, *back;
    sl_rowcodec_reader rd;
    sl_error err;

    (void)state;
    v[0] = sample_array(&buf);
    v[1] = sl_str("\x00\xff", 2);
    v[1].type = SL_T_BYTES;
    v[2] = v[0];
    v[2].type = SL_T_STRUCT;
    v[3] = sl_null();
    row = sl_row_make(5, 4, v);
    sl_rowcodec_begin(&blob);
    sl_rowcodec_put(&blob, row);
    assert_int_equal(sl_rowcodec_open(&rd, blob.data, blob.len, &err), 0);
    assert_int_equal(sl_rowcodec_next(&rd, &back, &err), 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(back->v[i].type, row->v[i].type);
        assert_int_equal(back->v[i].u.s.len, row->v[i].u.s.len);
        assert_memory_equal(back->v[i].u.s.ptr, row->v[i].u.s.ptr, row->v[i].u.s.len);
        assert_true(sl_value_eq(&back->v[i], &row->v[i]));
    }
    sl_row_free(back);

    /* Damage the array's count: the row no longer reads. */
    char *count = memmem(blob.data, blob.len, v[0].u.s.ptr, v[0].u.s.len);
    assert_non_null(count);
    count[0] = 9;
    assert_int_equal(sl_rowcodec_open(&rd, blob.data, blob.len, &err), 0);
    assert_int_equal(sl_rowcodec_next(&rd, &back, &err), -1);
    assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
    sl_row_free(row);
    sl_buf_free(&buf);
    sl_buf_free(&blob);
}

static void test_base64(void **state)
{
    /* RFC 4648 section 10 test vectors. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const bad[] = {
        "Zg", "Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg=", "Zm 9v", "Zm9v\n"};
    sl_buf out = SL_BUF_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        sl_buf_reset(&out);
        sl_base64_encode(&out, plain[i], strlen(plain[i]));
        assert_string_equal(out.data ? out.data : "", coded[i]);
        assert_int_equal(sl_base64_len(strlen(plain[i])), strlen(coded[i]));
        sl_buf_reset(&out);
        assert_int_equal(sl_base64_decode(&out, coded[i], strlen(coded[i])), 0);
        assert_int_equal(out.len, strlen(plain[i]));
        if (out.len)
            assert_memory_equal(out.data, plain[i], out.len);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_buf_reset(&out);
        sl_buf_puts(&out, "kept");
        assert_int_equal(sl_base64_decode(&out, bad[i], strlen(bad[i])), -1);
        assert_string_equal(out.data, "kept");
    }
    /* All 256 byte values round trip. */
    {
        unsigned char all[256];
        sl_buf enc = SL_BUF_INIT;
        for (int i = 0; i < 256; i++)
            all[i] = (unsigned char)i;
        sl_base64_encode(&enc, all, sizeof(all));
        sl_buf_reset(&out);
        assert_int_equal(sl_base64_decode(&out, enc.data, enc.len), 0);
        assert_int_equal(out.len, 256);
        assert_memory_equal(out.data, all, 256);
        sl_buf_free(&enc);
    }
    sl_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typedesc),
        cmocka_unit_test(test_build_and_read),
        cmocka_unit_test(test_validate_rejects_damage),
        cmocka_unit_test(test_rowcodec),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
