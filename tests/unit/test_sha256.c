/* test_sha256.c: SHA-256 against the FIPS 180-4 / NIST example vectors, fed whole and
 * in every split of odd-sized pieces (the partial-block path), plus the padding edge
 * lengths 55, 56 and 64 checked against a whole-message digest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sha256.h"

#include <stdio.h>
#include <string.h>

static void hex(const unsigned char *d, char out[2 * SL_SHA256_LEN + 1])
{
    for (int i = 0; i < SL_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Digest of data fed in pieces of `step` bytes. */
static void digest(const void *data, size_t len, size_t step, char out[2 * SL_SHA256_LEN + 1])
{
    sl_sha256 c;
    unsigned char d[SL_SHA256_LEN];
    const unsigned char *p = data;

    sl_sha256_init(&c);
    for (size_t i = 0; i < len; i += step)
        sl_sha256_update(&c, p + i, len - i < step ? len - i : step);
    sl_sha256_final(&c, d);
    hex(d, out);
}

static void check(const char *msg, size_t len, const char *expect)
{
    char got[2 * SL_SHA256_LEN + 1];

    digest(msg, len, len ? len : 1, got);
    assert_string_equal(got, expect);
    for (size_t step = 1; step < 80; step += 7) {
        digest(msg, len, step, got);
        assert_string_equal(got, expect);
    }
}

static void test_vectors(void **state)
{
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    (void)state;
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check(two_blocks, strlen(two_blocks),
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a(void **state)
{
    static char a[1000000];
    char got[2 * SL_SHA256_LEN + 1];

    (void)state;
    memset(a, 'a', sizeof(a));
    digest(a, sizeof(a), 4096, got);
    assert_string_equal(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_padding_edges(void **state)
{
    char msg[130], whole[2 * SL_SHA256_LEN + 1], split[2 * SL_SHA256_LEN + 1];
    static const size_t lens[] = {55, 56, 63, 64, 65, 119, 120, 128};

    (void)state;
    memset(msg, 'x', sizeof(msg));
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        digest(msg, lens[i], lens[i], whole);
        digest(msg, lens[i], 3, split);
        assert_string_equal(whole, split);
    }
    /* 55 bytes fit the padding in one block; 56 need a second: both must differ. */
    digest(msg, 55, 55, whole);
    digest(msg, 56, 56, split);
    assert_string_not_equal(whole, split);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_padding_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
