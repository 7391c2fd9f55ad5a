/* test_rowcodec.c: rows (row.c) and their log encoding (rowcodec.c).
 *
 * Round trips every type and its extremes, and feeds the decoder every truncation and
 * many corruptions of a valid blob: each must end cleanly or give STORAGE_ERROR, never
 * read out of bounds (run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decimal.h"
#include "row.h"
#include "rowcodec.h"

#include <stdlib.h>
#include <string.h>

static sl_value dec(const char *s, int p, int sc)
{
    sl_value v;

    assert_int_equal(sl_decimal_parse(s, strlen(s), p, sc, true, &v), 0);
    return v;
}

/* A row of every type, extremes included; strings borrowed from static storage. */
static sl_row *sample_row(void)
{
    static const char bin[] = {'a', '\0', 'b'};
    sl_value v[] = {
        dec("0.00", 3, 2),
        dec("-1", 1, 0),
        dec("12.30", 4, 2),
        dec("-18446744073709551616", 20, 0), /* -2^64 */
        dec("99999999999999999999999999999999999999", 38, 0),
        dec("-0.99999999999999999999999999999999999999", 38, 38),
        sl_null(),
        sl_bool(true),
        sl_bool(false),
        sl_int(SL_T_INT, INT32_MIN),
        sl_int(SL_T_INT, INT32_MAX),
        sl_int(SL_T_BIGINT, INT64_MIN),
        sl_int(SL_T_BIGINT, INT64_MAX),
        sl_int(SL_T_BIGINT, 0),
        sl_int(SL_T_BIGINT, -1),
        sl_double(-0.0),
        sl_double(1.5e300),
        sl_double(-3.25),
        sl_str("", 0),
        sl_str(bin, 3),
        sl_str("hello, world", 12),
        sl_int(SL_T_TIMESTAMP, -86400000),
    };
    return sl_row_make(-1234567, (uint32_t)(sizeof(v) / sizeof(v[0])), v);
}

static void assert_value_same(const sl_value *a, const sl_value *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case SL_T_NULL:
        break;
    case SL_T_BOOLEAN:
        assert_int_equal(a->u.b, b->u.b);
        break;
    case SL_T_DOUBLE:
        assert_memory_equal(&a->u.d, &b->u.d, sizeof(double));
        break;
    case SL_T_DECIMAL:
        assert_int_equal(a->scale, b->scale);
        assert_true(a->u.dec.hi == b->u.dec.hi && a->u.dec.lo == b->u.dec.lo);
        break;
    case SL_T_VARCHAR:
        assert_int_equal(a->u.s.len, b->u.s.len);
        if (a->u.s.len)
            assert_memory_equal(a->u.s.ptr, b->u.s.ptr, a->u.s.len);
        break;
    default:
        assert_true(a->u.i == b->u.i);
        break;
    }
}

static void assert_row_same(const sl_row *a, const sl_row *b)
{
    assert_true(a->rowtime == b->rowtime);
    assert_int_equal(a->ncols, b->ncols);
    for (uint32_t i = 0; i < a->ncols; i++)
        assert_value_same(&a->v[i], &b->v[i]);
}

static void test_row_make_packs_strings(void **state)
{
    char text[] = "mutable";
    sl_value v[] = {sl_str(text, 7), sl_int(SL_T_INT, 5), sl_str("xy", 2)};
    sl_row *r = sl_row_make(42, 3, v);
    sl_row *c;

    /* The row owns copies: changing the source leaves it alone. */
    text[0] = 'M';
    assert_memory_equal(r->v[0].u.s.ptr, "mutable", 7);
    assert_true(r->v[0].u.s.ptr >= (const char *)r &&
                r->v[0].u.s.ptr < (const char *)r + sl_row_bytes(r));
    assert_int_equal(sl_row_bytes(r), sizeof(sl_row) + 3 * sizeof(sl_value) + 9);
    c = sl_row_copy(r);
    sl_row_free(r);
    assert_int_equal(c->rowtime, 42);
    assert_memory_equal(c->v[0].u.s.ptr, "mutable", 7);
    assert_memory_equal(c->v[2].u.s.ptr, "xy", 2);
    assert_int_equal(c->v[1].u.i, 5);
    sl_row_free(c);
    sl_row_free(NULL);
}

static void test_row_new_is_nulls(void **state)
{
    sl_row *r = sl_row_new(4);

    assert_int_equal(r->ncols, 4);
    assert_int_equal(r->rowtime, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r->v[i].type, SL_T_NULL);
    sl_row_free(r);
}

/* Encodes rows; *bounds gets the blob length after the header and after each row. */
static void encode(sl_buf *b, sl_row **rows, int n, size_t *bounds)
{
    sl_rowcodec_begin(b);
    bounds[0] = b->len;
    for (int i = 0; i < n; i++) {
        sl_rowcodec_put(b, rows[i]);
        bounds[i + 1] = b->len;
    }
}

/* Decodes data[0..len): returns the rows read before the end (>= 0) or -1 on error. */
static int decode(const void *data, size_t len, sl_row **rows, int max)
{
    sl_rowcodec_reader rd;
    sl_error err;
    int n = 0, rc;
    sl_row *r;

    if (sl_rowcodec_open(&rd, data, len, &err) < 0) {
        assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
        return -1;
    }
    while ((rc = sl_rowcodec_next(&rd, &r, &err)) == 1) {
        if (rows && n < max)
            rows[n] = r;
        else
            sl_row_free(r);
        n++;
    }
    if (rc < 0) {
        assert_int_equal(err.code, SL_ERR_STORAGE_ERROR);
        assert_null(r);
        return -1;
    }
    return n;
}

static void test_round_trip(void **state)
{
    sl_value small[] = {sl_str("k", 1)};
    sl_row *in[4] = {sample_row(), sl_row_make(INT64_MIN, 0, NULL),
                     sl_row_make(INT64_MAX, 1, small), sample_row()};
    sl_row *out[4] = {0};
    size_t bounds[5];
    sl_buf b = SL_BUF_INIT;

    encode(&b, in, 4, bounds);
    assert_int_equal(decode(b.data, b.len, out, 4), 4);
    for (int i = 0; i < 4; i++) {
        assert_row_same(in[i], out[i]);
        sl_row_free(in[i]);
        sl_row_free(out[i]);
    }
    /* A batch with no rows is just the header. */
    sl_buf_reset(&b);
    sl_rowcodec_begin(&b);
    assert_int_equal(b.len, 1);
    assert_int_equal(decode(b.data, b.len, NULL, 0), 0);
    sl_buf_free(&b);
}

static void test_bad_header(void **state)
{
    unsigned char v2[] = {2};

    assert_int_equal(decode("", 0, NULL, 0), -1);
    assert_int_equal(decode(v2, 1, NULL, 0), -1);
}

/* Every prefix of a valid blob: a prefix ending on a row boundary reads the rows before
 * it and ends cleanly; any other prefix is an error. */
static void test_every_truncation(void **state)
{
    sl_row *in[3] = {sample_row(), sample_row(), sample_row()};
    size_t bounds[4];
    sl_buf b = SL_BUF_INIT;

    encode(&b, in, 3, bounds);
    for (size_t len = 0; len < b.len; len++) {
        /* A copy of exactly len bytes so that ASan sees any read past the end. */
        unsigned char *copy = malloc(len ? len : 1);
        int expect = -1;

        memcpy(copy, b.data, len);
        for (int k = 0; k < 4; k++)
            if (len == bounds[k])
                expect = k;
        assert_int_equal(decode(copy, len, NULL, 0), expect);
        free(copy);
    }
    for (int i = 0; i < 3; i++)
        sl_row_free(in[i]);
    sl_buf_free(&b);
}

static void test_corruptions(void **state)
{
    /* Header, then rowtime 0, then ncols, then columns. */
    static const unsigned char bad_type[] = {1, 0, 1, 9};
    static const unsigned char bad_bool[] = {1, 0, 1, 1, 2};
    static const unsigned char int_range[] = {1, 0, 1, 2, 0x80, 0x80, 0x80, 0x80, 0x10};
    static const unsigned char long_varint[] = {1,    0x80, 0x80, 0x80, 0x80, 0x80,
                                                0x80, 0x80, 0x80, 0x80, 0x02, 0};
    static const unsigned char many_cols[] = {1, 0, 0xff, 0xff, 0x03, 0, 0};
    static const unsigned char str_past_end[] = {1, 0, 1, 5, 0x7f, 'a', 'b'};
    static const unsigned char short_double[] = {1, 0, 1, 4, 1, 2, 3};
    static const unsigned char ok[] = {1, 0, 2, 1, 1, 3, 0x7f};
    /* DECIMAL: tag 11, scale, then the zig-zagged unscaled value's low and high 64 bits. */
    static const unsigned char dec_ok[] = {1, 0, 1, 11, 2, 3, 0};
    static const unsigned char dec_scale[] = {1, 0, 1, 11, 39, 0, 0};
    static const unsigned char dec_short[] = {1, 0, 1, 11, 2, 3};
    /* 10^38 (zig-zagged: 2 * 10^38), one digit too many. */
    static const unsigned char dec_big[] = {1,    0,    1,    11,   0,    0x80, 0x80, 0x80,
                                            0x80, 0x80, 0x90, 0x91, 0x8a, 0x13, 0xf4, 0x91,
                                            0xb6, 0xa8, 0x8b, 0xaa, 0xa6, 0xbb, 0x96, 0x01};
    /* 10^38 - 1 decodes. */
    static const unsigned char dec_max[] = {1,    0,    1,    11,   0,    0xfe, 0xff, 0xff,
                                            0xff, 0xff, 0x8f, 0x91, 0x8a, 0x13, 0xf4, 0x91,
                                            0xb6, 0xa8, 0x8b, 0xaa, 0xa6, 0xbb, 0x96, 0x01};

    assert_int_equal(decode(bad_type, sizeof(bad_type), NULL, 0), -1);
    assert_int_equal(decode(bad_bool, sizeof(bad_bool), NULL, 0), -1);
    assert_int_equal(decode(int_range, sizeof(int_range), NULL, 0), -1);
    assert_int_equal(decode(long_varint, sizeof(long_varint), NULL, 0), -1);
    assert_int_equal(decode(many_cols, sizeof(many_cols), NULL, 0), -1);
    assert_int_equal(decode(str_past_end, sizeof(str_past_end), NULL, 0), -1);
    assert_int_equal(decode(short_double, sizeof(short_double), NULL, 0), -1);
    assert_int_equal(decode(dec_scale, sizeof(dec_scale), NULL, 0), -1);
    assert_int_equal(decode(dec_short, sizeof(dec_short), NULL, 0), -1);
    assert_int_equal(decode(dec_big, sizeof(dec_big), NULL, 0), -1);
    assert_int_equal(decode(dec_max, sizeof(dec_max), NULL, 0), 1);

    /* The hand-made valid row decodes: TRUE, then BIGINT -64 (zig-zag 0x7f). */
    sl_row *r[1];
    assert_int_equal(decode(ok, sizeof(ok), r, 1), 1);
    assert_int_equal(r[0]->ncols, 2);
    assert_int_equal(r[0]->v[0].type, SL_T_BOOLEAN);
    assert_true(r[0]->v[0].u.b);
    assert_int_equal(r[0]->v[1].type, SL_T_BIGINT);
    assert_int_equal(r[0]->v[1].u.i, -64);
    sl_row_free(r[0]);
    /* ... and a DECIMAL: zig-zag 3 is -2, at scale 2. */
    assert_int_equal(decode(dec_ok, sizeof(dec_ok), r, 1), 1);
    assert_int_equal(r[0]->v[0].type, SL_T_DECIMAL);
    char text[SL_DECIMAL_TEXT];
    sl_decimal_format(&r[0]->v[0], text);
    assert_string_equal(text, "-0.02");
    sl_row_free(r[0]);
}

/* Every byte of a valid blob set to a handful of values: decoding must finish, with
 * rows or an error, and free whatever it made. */
static void test_byte_flips(void **state)
{
    static const unsigned char values[] = {0x00, 0x01, 0x05, 0x7f, 0x80, 0xff};
    sl_row *in[2] = {sample_row(), sample_row()};
    size_t bounds[3];
    sl_buf b = SL_BUF_INIT;
    int errors = 0;

    encode(&b, in, 2, bounds);
    unsigned char *copy = malloc(b.len);
    for (size_t i = 0; i < b.len; i++) {
        for (size_t k = 0; k < sizeof(values); k++) {
            memcpy(copy, b.data, b.len);
            copy[i] = values[k];
            if (decode(copy, b.len, NULL, 0) < 0)
                errors++;
        }
    }
    /* Many of these corruptions are detectable; the decoder must have noticed some. */
    assert_true(errors > 0);
    free(copy);
    for (int i = 0; i < 2; i++)
        sl_row_free(in[i]);
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_make_packs_strings),
        cmocka_unit_test(test_row_new_is_nulls),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
