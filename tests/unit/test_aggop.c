/* test_aggop.c: the pieces the AGGREGATE operators share: packing values into one
 * allocation (row.h), the group map's accounting (groupmap.h), and sl_aggop (aggop.h):
 * evaluating a row into keys and arguments, aggregate states, output rows, late rows and
 * the sending of a window that closes.
 *
 * The AGGREGATE node is built by hand, GROUP BY K with COUNT(*) and SUM(N) over a
 * TUMBLING window, so that only the engine is under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aggop.h"

#include <string.h>

/* The input: K VARCHAR, N INT. */
enum { C_K, C_N };

typedef struct recorder {
    int changes, lates;
    sl_change change;
    int64_t rowtime;
    const sl_row *late;
} recorder;

static void record_emit(void *ctx, sl_change change, const sl_row *row)
{
    recorder *r = ctx;

    r->changes++;
    r->change = change;
    r->rowtime = row->rowtime;
}

static void record_late(void *ctx, const sl_row *row)
{
    recorder *r = ctx;

    r->lates++;
    r->late = row;
}

static void test_values_pack(void **state)
{
    sl_value v[3] = {sl_str("abc", 3), sl_int(SL_T_INT, 7), sl_str("de", 2)};
    sl_value dst[3];
    char strings[8];

    (void)state;
    assert_int_equal(sl_values_string_bytes(3, v), 5);
    assert_ptr_equal(sl_values_pack(dst, 3, v, strings), strings + 5);
    assert_memory_equal(strings, "abcde", 5);
    assert_ptr_equal(dst[0].u.s.ptr, strings);
    assert_int_equal(dst[0].u.s.len, 3);
    assert_int_equal(dst[1].u.i, 7);
    assert_ptr_equal(dst[2].u.s.ptr, strings + 3);
    assert_int_equal(dst[2].u.s.len, 2);
}

/* Bytes an entry's payload owns are counted with it and given back when it goes. */
static void test_groupmap_account(void **state)
{
    sl_value key = sl_str("key", 3);
    size_t bytes = 0, made_bytes;
    sl_groupmap m;
    sl_gentry *e;
    bool made;

    (void)state;
    sl_groupmap_init(&m, 1, 16, &bytes);
    e = sl_groupmap_get(&m, &key, &made);
    assert_true(made);
    assert_int_equal(bytes, e->bytes + m.nslots * sizeof(sl_gentry *));
    made_bytes = bytes;
    sl_groupmap_account(&m, e, 100);
    assert_int_equal(bytes, made_bytes + 100);
    assert_ptr_equal(sl_groupmap_get(&m, &key, &made), e);
    assert_false(made);
    sl_groupmap_remove(&m, e);
    assert_int_equal(bytes, 0);

    sl_groupmap_get(&m, &key, &made);
    sl_groupmap_account(&m, m.first, 100);
    sl_groupmap_clear(&m);
    assert_int_equal(bytes, 0);
}

static void test_aggop(void **state)
{
    sl_expr k = {.kind = SL_EX_COLUMN, .type = SL_T_VARCHAR, .u.col = C_K};
    sl_expr n = {.kind = SL_EX_COLUMN, .type = SL_T_INT, .u.col = C_N};
    sl_expr *groups[] = {&k};
    sl_aggcall calls[] = {{.fn = SL_AGG_COUNT, .type = SL_T_BIGINT},
                          {.fn = SL_AGG_SUM, .arg = &n, .type = SL_T_BIGINT}};
    sl_node node = {.kind = SL_NODE_AGGREGATE, .ncols = 5};
    recorder rec = {0};
    sl_opctx ctx = {.sink = {.ctx = &rec, .emit = record_emit, .late = record_late}};
    sl_value in[2] = {sl_str("a", 1), sl_int(SL_T_INT, 5)};
    sl_row *row = sl_row_make(1500, 2, in);
    sl_agg_state states[2];
    sl_aggop a = {0};

    (void)state;
    node.u.aggregate.window.kind = SL_WINDOW_TUMBLING;
    node.u.aggregate.emit = SL_EMIT_FINAL;
    node.u.aggregate.ngroups = 1;
    node.u.aggregate.groups = groups;
    node.u.aggregate.naggs = 2;
    node.u.aggregate.aggs = calls;
    sl_aggop_init(&a, &node, &ctx, 8);
    assert_true(a.windowed);

    ctx.stats.rows_in = 1;
    sl_aggop_eval(&a, row);
    assert_int_equal(a.keys[0].type, SL_T_VARCHAR);
    assert_memory_equal(a.keys[0].u.s.ptr, "a", 1);
    assert_int_equal(a.args[0].type, SL_T_NULL);
    assert_int_equal(a.args[1].u.i, 5);

    sl_aggop_states_init(&a, states);
    sl_aggop_states_step(&a, states);
    ctx.stats.rows_in = 2;
    sl_aggop_states_step(&a, states);
    sl_aggop_fill(&a, 1000, 1000, 2000, a.keys, states);
    assert_int_equal(a.out->rowtime, 1000);
    assert_int_equal(a.out->v[0].u.i, 1000);
    assert_int_equal(a.out->v[1].u.i, 2000);
    assert_memory_equal(a.out->v[2].u.s.ptr, "a", 1);
    assert_int_equal(a.out->v[3].u.i, 2);
    assert_int_equal(a.out->v[4].u.i, 10);
    sl_aggop_states_clear(&a, states);

    /* EMIT FINAL sends a closing window as an UPSERT; EMIT CHANGES with nothing above
     * that keeps state by key sends nothing. */
    assert_true(sl_aggop_sends_closing(&a));
    sl_aggop_send_closing(&a);
    assert_int_equal(rec.changes, 1);
    assert_int_equal(rec.change, SL_CHANGE_UPSERT);
    assert_int_equal(rec.rowtime, 1000);
    assert_int_equal(ctx.stats.rows_out, 1);
    a.emit = SL_EMIT_CHANGES;
    assert_false(sl_aggop_sends_closing(&a));

    ctx.source_row = row;
    sl_aggop_late(&a);
    assert_int_equal(ctx.stats.late_rows, 1);
    assert_int_equal(rec.lates, 1);
    assert_ptr_equal(rec.late, row);

    sl_aggop_release(&a);
    sl_row_free(row);
    assert_int_equal(ctx.stats.state_bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_pack),
        cmocka_unit_test(test_groupmap_account),
        cmocka_unit_test(test_aggop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
