/* test_engine.c: expression evaluation, aggregates, windows and running queries.
 *
 * Plans are built by hand here (in an arena, following plan.h's layout rules) so that
 * the engine is tested on its own.  The sink records every change and every late row as
 * copies, and the tests assert the exact sequence a user would see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agg.h"
#include "eval.h"
#include "query.h"
#include "window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Plan building ------------------------------------------------------------------ */

/* The test stream S: USERID VARCHAR, PAGE VARCHAR, N INT, X BIGINT, D DOUBLE. */
enum { C_USERID, C_PAGE, C_N, C_X, C_D, S_NCOLS };
static const sl_type s_types[S_NCOLS] = {SL_T_VARCHAR, SL_T_VARCHAR, SL_T_INT, SL_T_BIGINT,
                                         SL_T_DOUBLE};

static sl_expr *ex_new(sl_arena *a, sl_expr_kind kind, sl_type type)
{
    sl_expr *e = sl_arena_alloc(a, sizeof(*e));

    e->kind = kind;
    e->type = type;
    return e;
}

static sl_expr *ex_lit(sl_arena *a, sl_value v)
{
    sl_expr *e = ex_new(a, SL_EX_LITERAL, v.type);

    e->u.lit = v;
    return e;
}

static sl_expr *ex_int(sl_arena *a, sl_type t, int64_t i)
{
    return ex_lit(a, sl_int(t, i));
}

static sl_expr *ex_col(sl_arena *a, int col, sl_type t)
{
    sl_expr *e = ex_new(a, SL_EX_COLUMN, t);

    e->u.col = col;
    return e;
}

static sl_expr *ex_scol(sl_arena *a, int col)
{
    return ex_col(a, col, s_types[col]);
}

static sl_expr *ex_bin(sl_arena *a, sl_op op, sl_type t, sl_expr *l, sl_expr *r)
{
    sl_expr *e = ex_new(a, SL_EX_BINARY, t);

    e->u.binary.op = op;
    e->u.binary.left = l;
    e->u.binary.right = r;
    return e;
}

static sl_expr *ex_un(sl_arena *a, sl_op op, sl_type t, sl_expr *arg)
{
    sl_expr *e = ex_new(a, SL_EX_UNARY, t);

    e->u.unary.op = op;
    e->u.unary.arg = arg;
    return e;
}

static sl_node *node_new(sl_arena *a, sl_node_kind kind, sl_node *input, int ncols)
{
    sl_node *n = sl_arena_alloc(a, sizeof(*n));

    n->kind = kind;
    n->input = input;
    n->ncols = ncols;
    n->cols = sl_arena_alloc(a, (size_t)(ncols ? ncols : 1) * sizeof(sl_outcol));
    for (int i = 0; i < ncols; i++) {
        char name[32];
        snprintf(name, sizeof(name), "C%d", i);
        n->cols[i].name = sl_arena_strdup(a, name);
        n->cols[i].type =
            input ? (i < input->ncols ? input->cols[i].type : SL_T_BIGINT) : s_types[i];
    }
    return n;
}

static sl_node *node_source(sl_arena *a)
{
    sl_node *n = node_new(a, SL_NODE_SOURCE, NULL, S_NCOLS);

    n->u.source.stream = sl_arena_strdup(a, "S");
    return n;
}

static sl_node *node_filter(sl_arena *a, sl_node *in, sl_expr *pred)
{
    sl_node *n = node_new(a, SL_NODE_FILTER, in, in->ncols);

    n->u.filter.pred = pred;
    return n;
}

static sl_node *node_project(sl_arena *a, sl_node *in, int nexprs, sl_expr **exprs)
{
    sl_node *n = node_new(a, SL_NODE_PROJECT, in, nexprs);

    n->u.project.nexprs = nexprs;
    n->u.project.exprs = sl_arena_alloc(a, (size_t)nexprs * sizeof(sl_expr *));
    memcpy(n->u.project.exprs, exprs, (size_t)nexprs * sizeof(sl_expr *));
    return n;
}

/* An AGGREGATE node; size_ms 0 means no window. */
static sl_node *node_agg(sl_arena *a, sl_node *in, int64_t size_ms, int64_t grace_ms, sl_emit emit,
                         int ngroups, sl_expr **groups, int naggs, const sl_aggcall *aggs)
{
    int fixed = size_ms ? 2 : 0;
    sl_node *n = node_new(a, SL_NODE_AGGREGATE, in, fixed + ngroups + naggs);

    n->u.aggregate.window.kind = size_ms ? SL_WINDOW_TUMBLING : SL_WINDOW_NONE;
    n->u.aggregate.window.size_ms = size_ms;
    n->u.aggregate.window.advance_ms = size_ms;
    n->u.aggregate.window.grace_ms = grace_ms;
    n->u.aggregate.emit = emit;
    n->u.aggregate.ngroups = ngroups;
    n->u.aggregate.groups = sl_arena_alloc(a, (size_t)(ngroups ? ngroups : 1) * sizeof(sl_expr *));
    memcpy(n->u.aggregate.groups, groups, (size_t)ngroups * sizeof(sl_expr *));
    n->u.aggregate.naggs = naggs;
    n->u.aggregate.aggs = sl_arena_alloc(a, (size_t)naggs * sizeof(sl_aggcall));
    memcpy(n->u.aggregate.aggs, aggs, (size_t)naggs * sizeof(sl_aggcall));
    return n;
}

static sl_plan *plan_new(sl_arena *a, sl_node *root, sl_emit emit)
{
    sl_plan *p = sl_arena_alloc(a, sizeof(*p));

    p->arena = a;
    p->root = root;
    p->source = sl_arena_strdup(a, "S");
    p->emit = emit;
    for (sl_node *n = root; n; n = n->input) {
        if (n->kind == SL_NODE_AGGREGATE) {
            p->aggregate = true;
            p->windowed = n->u.aggregate.window.kind != SL_WINDOW_NONE;
        }
    }
    p->ncols = root->ncols;
    p->cols = root->cols;
    return p;
}

/* --- Rows and the recording sink ---------------------------------------------------- */

/* A source row; strings borrowed from the caller (NULL for a NULL string).  n_null and
 * d_null make N and D NULL. */
static sl_row *srow(int64_t t, const char *user, const char *page, int64_t n, bool n_null, double d,
                    bool d_null)
{
    sl_row *r = sl_row_new(S_NCOLS);

    r->rowtime = t;
    if (user)
        r->v[C_USERID] = sl_str(user, (uint32_t)strlen(user));
    if (page)
        r->v[C_PAGE] = sl_str(page, (uint32_t)strlen(page));
    if (!n_null)
        r->v[C_N] = sl_int(SL_T_INT, n);
    r->v[C_X] = sl_int(SL_T_BIGINT, n * 1000);
    if (!d_null)
        r->v[C_D] = sl_double(d);
    return r;
}

typedef struct change_rec {
    sl_change change;
    sl_row *row;
} change_rec;

typedef struct recorder {
    change_rec *out;
    int nout, capout;
    sl_row **late;
    int nlate, caplate;
    int checked; /* out[0..checked) have been asserted */
} recorder;

static void rec_emit(void *ctx, sl_change change, const sl_row *row)
{
    recorder *r = ctx;

    if (r->nout == r->capout) {
        r->capout = r->capout ? r->capout * 2 : 16;
        r->out = realloc(r->out, (size_t)r->capout * sizeof(change_rec));
    }
    r->out[r->nout].change = change;
    r->out[r->nout].row = sl_row_copy(row);
    r->nout++;
}

static void rec_late(void *ctx, const sl_row *row)
{
    recorder *r = ctx;

    if (r->nlate == r->caplate) {
        r->caplate = r->caplate ? r->caplate * 2 : 16;
        r->late = realloc(r->late, (size_t)r->caplate * sizeof(sl_row *));
    }
    r->late[r->nlate++] = sl_row_copy(row);
}

static void rec_free(recorder *r)
{
    for (int i = 0; i < r->nout; i++)
        sl_row_free(r->out[i].row);
    for (int i = 0; i < r->nlate; i++)
        sl_row_free(r->late[i]);
    free(r->out);
    free(r->late);
    memset(r, 0, sizeof(*r));
}

static sl_query *query_new(const sl_plan *plan, recorder *r)
{
    sl_sink sink = {.ctx = r, .emit = rec_emit, .late = rec_late};

    memset(r, 0, sizeof(*r));
    return sl_query_new(plan, &sink);
}

static void push(sl_query *q, sl_row *row)
{
    sl_error err;

    assert_int_equal(sl_query_push(q, row, &err), 0);
    sl_row_free(row);
}

/* Asserts that value v matches the spec character c and the next vararg:
 * 'n' NULL, 't'/'f' TRUE/FALSE, 'i' INT, 'b' BIGINT, 'd' DOUBLE, 's' VARCHAR. */
static void check_value(const sl_value *v, char c, va_list *ap)
{
    switch (c) {
    case 'n':
        assert_int_equal(v->type, SL_T_NULL);
        break;
    case 't':
    case 'f':
        assert_int_equal(v->type, SL_T_BOOLEAN);
        assert_int_equal(v->u.b, c == 't');
        break;
    case 'i':
    case 'b': {
        int64_t want = va_arg(*ap, int64_t);
        assert_int_equal(v->type, c == 'i' ? SL_T_INT : SL_T_BIGINT);
        assert_true(v->u.i == want);
        break;
    }
    case 'd': {
        double want = va_arg(*ap, double);
        assert_int_equal(v->type, SL_T_DOUBLE);
        assert_true(v->u.d == want);
        break;
    }
    case 's': {
        const char *want = va_arg(*ap, const char *);
        assert_int_equal(v->type, SL_T_VARCHAR);
        assert_int_equal(v->u.s.len, strlen(want));
        assert_memory_equal(v->u.s.ptr, want, v->u.s.len);
        break;
    }
    default:
        fail_msg("bad spec character %c", c);
    }
}

static void check_row(const sl_row *row, int64_t rowtime, const char *spec, va_list *ap)
{
    assert_true(row->rowtime == rowtime);
    assert_int_equal(row->ncols, strlen(spec));
    for (uint32_t i = 0; i < row->ncols; i++)
        check_value(&row->v[i], spec[i], ap);
}

/* Asserts the next unchecked change: its kind, rowtime and values (spec as above;
 * integers are passed as int64_t). */
static void expect(recorder *r, sl_change change, int64_t rowtime, const char *spec, ...)
{
    va_list ap;

    assert_true(r->checked < r->nout);
    assert_int_equal(r->out[r->checked].change, change);
    va_start(ap, spec);
    check_row(r->out[r->checked].row, rowtime, spec, &ap);
    va_end(ap);
    r->checked++;
}

/* Asserts that every change so far has been checked. */
static void expect_no_more(recorder *r)
{
    assert_int_equal(r->checked, r->nout);
}

#define I(x) ((int64_t)(x))

/* --- Expressions -------------------------------------------------------------------- */

/* Evaluates e on an empty row. */
static sl_value ev(sl_expr *e)
{
    sl_row *row = sl_row_new(0);
    sl_value v = sl_eval(e, row, NULL);

    sl_row_free(row);
    return v;
}

static void assert_null_value(sl_value v)
{
    assert_int_equal(v.type, SL_T_NULL);
}

static void assert_int_value(sl_value v, sl_type t, int64_t i)
{
    assert_int_equal(v.type, t);
    assert_true(v.u.i == i);
}

static void assert_bool_value(sl_value v, bool b)
{
    assert_int_equal(v.type, SL_T_BOOLEAN);
    assert_int_equal(v.u.b, b);
}

static void test_three_valued_logic(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_expr *t = ex_lit(a, sl_bool(true)), *f = ex_lit(a, sl_bool(false));
    sl_expr *n = ex_lit(a, sl_null());
    sl_expr *one = ex_int(a, SL_T_INT, 1);

    assert_bool_value(ev(ex_bin(a, SL_OP_AND, SL_T_BOOLEAN, n, f)), false);
    assert_bool_value(ev(ex_bin(a, SL_OP_AND, SL_T_BOOLEAN, f, n)), false);
    assert_null_value(ev(ex_bin(a, SL_OP_AND, SL_T_BOOLEAN, n, t)));
    assert_null_value(ev(ex_bin(a, SL_OP_AND, SL_T_BOOLEAN, t, n)));
    assert_bool_value(ev(ex_bin(a, SL_OP_AND, SL_T_BOOLEAN, t, t)), true);
    assert_bool_value(ev(ex_bin(a, SL_OP_OR, SL_T_BOOLEAN, n, t)), true);
    assert_bool_value(ev(ex_bin(a, SL_OP_OR, SL_T_BOOLEAN, t, n)), true);
    assert_null_value(ev(ex_bin(a, SL_OP_OR, SL_T_BOOLEAN, n, f)));
    assert_null_value(ev(ex_bin(a, SL_OP_OR, SL_T_BOOLEAN, f, n)));
    assert_bool_value(ev(ex_bin(a, SL_OP_OR, SL_T_BOOLEAN, f, f)), false);
    assert_null_value(ev(ex_un(a, SL_OP_NOT, SL_T_BOOLEAN, n)));
    assert_bool_value(ev(ex_un(a, SL_OP_NOT, SL_T_BOOLEAN, f)), true);
    assert_null_value(ev(ex_bin(a, SL_OP_EQ, SL_T_BOOLEAN, n, one)));
    assert_null_value(ev(ex_bin(a, SL_OP_NE, SL_T_BOOLEAN, one, n)));
    assert_null_value(ev(ex_bin(a, SL_OP_ADD, SL_T_INT, one, n)));
    assert_null_value(ev(ex_un(a, SL_OP_NEG, SL_T_INT, n)));
    assert_bool_value(ev(ex_un(a, SL_OP_IS_NULL, SL_T_BOOLEAN, n)), true);
    assert_bool_value(ev(ex_un(a, SL_OP_IS_NOT_NULL, SL_T_BOOLEAN, n)), false);
    assert_bool_value(ev(ex_un(a, SL_OP_IS_NULL, SL_T_BOOLEAN, one)), false);
    /* Comparisons across numeric types and of strings. */
    assert_bool_value(ev(ex_bin(a, SL_OP_LT, SL_T_BOOLEAN, one, ex_lit(a, sl_double(1.5)))), true);
    assert_bool_value(ev(ex_bin(a, SL_OP_GE, SL_T_BOOLEAN, ex_lit(a, sl_str("b", 1)),
                                ex_lit(a, sl_str("ab", 2)))),
                      true);
    assert_bool_value(ev(ex_bin(a, SL_OP_EQ, SL_T_BOOLEAN, one, ex_int(a, SL_T_BIGINT, 1))), true);
    assert_false(sl_eval_pred(n, NULL, NULL));
    assert_false(sl_eval_pred(f, NULL, NULL));
    assert_true(sl_eval_pred(t, NULL, NULL));
    sl_arena_free(a);
}

static void test_division_by_zero(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_expr *seven = ex_int(a, SL_T_INT, 7), *zero = ex_int(a, SL_T_INT, 0);
    sl_expr *m7 = ex_int(a, SL_T_INT, -7), *two = ex_int(a, SL_T_INT, 2);
    sl_expr *bmin = ex_int(a, SL_T_BIGINT, INT64_MIN), *bm1 = ex_int(a, SL_T_BIGINT, -1);
    sl_expr *d1 = ex_lit(a, sl_double(1.0)), *d0 = ex_lit(a, sl_double(0.0));

    assert_null_value(ev(ex_bin(a, SL_OP_DIV, SL_T_INT, seven, zero)));
    assert_null_value(ev(ex_bin(a, SL_OP_MOD, SL_T_INT, seven, zero)));
    assert_null_value(ev(ex_bin(a, SL_OP_DIV, SL_T_DOUBLE, d1, d0)));
    assert_null_value(ev(ex_bin(a, SL_OP_MOD, SL_T_DOUBLE, d1, d0)));
    assert_null_value(ev(ex_bin(a, SL_OP_DIV, SL_T_DOUBLE, d1, zero)));
    /* INT64_MIN / -1 overflows; INT64_MIN % -1 is 0. */
    assert_null_value(ev(ex_bin(a, SL_OP_DIV, SL_T_BIGINT, bmin, bm1)));
    assert_int_value(ev(ex_bin(a, SL_OP_MOD, SL_T_BIGINT, bmin, bm1)), SL_T_BIGINT, 0);
    /* Integer division truncates toward zero. */
    assert_int_value(ev(ex_bin(a, SL_OP_DIV, SL_T_INT, m7, two)), SL_T_INT, -3);
    assert_int_value(ev(ex_bin(a, SL_OP_MOD, SL_T_INT, m7, two)), SL_T_INT, -1);
    assert_int_value(ev(ex_bin(a, SL_OP_DIV, SL_T_INT, seven, two)), SL_T_INT, 3);
    sl_value v = ev(ex_bin(a, SL_OP_DIV, SL_T_DOUBLE, seven, ex_lit(a, sl_double(2.0))));
    assert_int_equal(v.type, SL_T_DOUBLE);
    assert_true(v.u.d == 3.5);
    sl_arena_free(a);
}

static void test_integer_overflow(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_expr *imax = ex_int(a, SL_T_INT, INT32_MAX), *imin = ex_int(a, SL_T_INT, INT32_MIN);
    sl_expr *one = ex_int(a, SL_T_INT, 1), *two = ex_int(a, SL_T_INT, 2);
    sl_expr *bmax = ex_int(a, SL_T_BIGINT, INT64_MAX), *bmin = ex_int(a, SL_T_BIGINT, INT64_MIN);

    assert_null_value(ev(ex_bin(a, SL_OP_ADD, SL_T_INT, imax, one)));
    assert_null_value(ev(ex_bin(a, SL_OP_SUB, SL_T_INT, imin, one)));
    assert_null_value(ev(ex_bin(a, SL_OP_MUL, SL_T_INT, imax, two)));
    assert_null_value(ev(ex_un(a, SL_OP_NEG, SL_T_INT, imin)));
    assert_null_value(ev(ex_bin(a, SL_OP_DIV, SL_T_INT, imin, ex_int(a, SL_T_INT, -1))));
    assert_int_value(ev(ex_bin(a, SL_OP_ADD, SL_T_INT, imax, ex_int(a, SL_T_INT, -1))), SL_T_INT,
                     INT32_MAX - 1);
    /* The same sum typed BIGINT fits. */
    assert_int_value(ev(ex_bin(a, SL_OP_ADD, SL_T_BIGINT, imax, one)), SL_T_BIGINT,
                     (int64_t)INT32_MAX + 1);
    assert_null_value(ev(ex_bin(a, SL_OP_ADD, SL_T_BIGINT, bmax, one)));
    assert_null_value(ev(ex_bin(a, SL_OP_SUB, SL_T_BIGINT, bmin, one)));
    assert_null_value(ev(ex_bin(a, SL_OP_MUL, SL_T_BIGINT, bmax, two)));
    assert_null_value(ev(ex_un(a, SL_OP_NEG, SL_T_BIGINT, bmin)));
    assert_int_value(ev(ex_un(a, SL_OP_NEG, SL_T_BIGINT, bmax)), SL_T_BIGINT, -INT64_MAX);
    /* A DOUBLE result that is not finite is NULL too. */
    sl_expr *big = ex_lit(a, sl_double(1e308));
    assert_null_value(ev(ex_bin(a, SL_OP_MUL, SL_T_DOUBLE, big, ex_lit(a, sl_double(10)))));
    sl_arena_free(a);
}

/* --- Aggregates and windows --------------------------------------------------------- */

static void test_agg_functions(void **state)
{
    sl_aggcall sum = {SL_AGG_SUM, NULL, SL_T_BIGINT, 0, NULL},
               dsum = {SL_AGG_SUM, NULL, SL_T_DOUBLE, 0, NULL};
    sl_aggcall cnt = {SL_AGG_COUNT, NULL, SL_T_BIGINT, 0, NULL},
               avg = {SL_AGG_AVG, NULL, SL_T_DOUBLE, 0, NULL};
    sl_aggcall mn = {SL_AGG_MIN, NULL, SL_T_VARCHAR, 0, NULL},
               mx = {SL_AGG_MAX, NULL, SL_T_VARCHAR, 0, NULL};
    sl_agg_state st;
    sl_value null = sl_null(), big = sl_int(SL_T_BIGINT, INT64_MAX), one = sl_int(SL_T_INT, 1);
    char text[16];
    size_t held = 0;

    /* SUM: NULL until a non-NULL input; NULL for good once it overflows. */
    sl_agg_init(&sum, &st);
    assert_null_value(sl_agg_final(&sum, &st));
    sl_agg_step(&sum, &st, &null, 0);
    assert_null_value(sl_agg_final(&sum, &st));
    sl_agg_step(&sum, &st, &one, 0);
    assert_int_value(sl_agg_final(&sum, &st), SL_T_BIGINT, 1);
    sl_agg_step(&sum, &st, &big, 0);
    assert_null_value(sl_agg_final(&sum, &st));
    assert_int_equal(sl_agg_clear(&st), 0);

    sl_agg_init(&dsum, &st);
    sl_value half = sl_double(0.5);
    sl_agg_step(&dsum, &st, &half, 0);
    sl_agg_step(&dsum, &st, &one, 0);
    assert_true(sl_agg_final(&dsum, &st).u.d == 1.5);

    /* COUNT(x) skips NULLs; COUNT(*) (arg NULL) does not. */
    sl_agg_init(&cnt, &st);
    sl_agg_step(&cnt, &st, &null, 0);
    sl_agg_step(&cnt, &st, &one, 0);
    assert_int_value(sl_agg_final(&cnt, &st), SL_T_BIGINT, 1);
    sl_agg_step(&cnt, &st, NULL, 0);
    assert_int_value(sl_agg_final(&cnt, &st), SL_T_BIGINT, 2);

    sl_agg_init(&avg, &st);
    assert_null_value(sl_agg_final(&avg, &st));
    sl_value two = sl_int(SL_T_INT, 2);
    sl_agg_step(&avg, &st, &one, 0);
    sl_agg_step(&avg, &st, &null, 0);
    sl_agg_step(&avg, &st, &two, 0);
    assert_true(sl_agg_final(&avg, &st).u.d == 1.5);

    /* MIN/MAX of VARCHAR keep their own copy of the bytes. */
    sl_agg_state smin, smax;
    sl_agg_init(&mn, &smin);
    sl_agg_init(&mx, &smax);
    const char *words[] = {"pear", "apple", "zucchini", "fig"};
    for (int i = 0; i < 4; i++) {
        strcpy(text, words[i]);
        sl_value v = sl_str(text, (uint32_t)strlen(text));
        held += sl_agg_step(&mn, &smin, &v, 0);
        held += sl_agg_step(&mx, &smax, &v, 0);
        sl_agg_step(&mn, &smin, &null, 0);
        memset(text, 'X', sizeof(text));
    }
    sl_value r = sl_agg_final(&mn, &smin);
    assert_int_equal(r.u.s.len, 5);
    assert_memory_equal(r.u.s.ptr, "apple", 5);
    r = sl_agg_final(&mx, &smax);
    assert_int_equal(r.u.s.len, 8);
    assert_memory_equal(r.u.s.ptr, "zucchini", 8);
    assert_true(held > 0);
    assert_int_equal(sl_agg_clear(&smin) + sl_agg_clear(&smax), held);
}

static void test_window_assign(void **state)
{
    sl_window w = {.kind = SL_WINDOW_TUMBLING, .size_ms = 10, .advance_ms = 10, .grace_ms = 5};
    sl_window_span s[1];
    const struct {
        int64_t t, start;
    } cases[] = {{0, 0}, {9, 0}, {10, 10}, {-1, -10}, {-10, -10}, {-11, -20}, {123, 120}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(sl_window_assign(&w, NULL, cases[i].t, s), 1);
        assert_true(s[0].start == cases[i].start);
        assert_true(s[0].end == cases[i].start + 10);
        assert_true(sl_window_close_at(&w, &s[0]) == cases[i].start + 15);
    }
    /* At the ends of int64 the bounds saturate instead of overflowing. */
    assert_int_equal(sl_window_assign(&w, NULL, INT64_MAX, s), 1);
    assert_true(s[0].start <= INT64_MAX && s[0].end == INT64_MAX);
    assert_true(sl_window_close_at(&w, &s[0]) == INT64_MAX);
    assert_int_equal(sl_window_assign(&w, NULL, INT64_MIN, s), 1);
    assert_true(s[0].start == INT64_MIN && s[0].end > INT64_MIN);
    w.kind = SL_WINDOW_NONE;
    assert_int_equal(sl_window_assign(&w, NULL, 5, s), 0);
}

/* --- Queries ------------------------------------------------------------------------ */

/* SELECT N + 1, X - N, D * 2, N * 2 / 3, N > 1 AND D > 0, ROWTIME, USERID FROM S
 * WHERE N % 2 = 1 OR D IS NULL EMIT CHANGES */
static void test_filter_project(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_node *src = node_source(a);
    sl_expr *where =
        ex_bin(a, SL_OP_OR, SL_T_BOOLEAN,
               ex_bin(a, SL_OP_EQ, SL_T_BOOLEAN,
                      ex_bin(a, SL_OP_MOD, SL_T_INT, ex_scol(a, C_N), ex_int(a, SL_T_INT, 2)),
                      ex_int(a, SL_T_INT, 1)),
               ex_un(a, SL_OP_IS_NULL, SL_T_BOOLEAN, ex_scol(a, C_D)));
    sl_expr *exprs[] = {
        ex_bin(a, SL_OP_ADD, SL_T_INT, ex_scol(a, C_N), ex_int(a, SL_T_INT, 1)),
        ex_bin(a, SL_OP_SUB, SL_T_BIGINT, ex_scol(a, C_X), ex_scol(a, C_N)),
        ex_bin(a, SL_OP_MUL, SL_T_DOUBLE, ex_scol(a, C_D), ex_lit(a, sl_double(2))),
        ex_bin(a, SL_OP_DIV, SL_T_INT,
               ex_bin(a, SL_OP_MUL, SL_T_INT, ex_scol(a, C_N), ex_int(a, SL_T_INT, 2)),
               ex_int(a, SL_T_INT, 3)),
        ex_bin(a, SL_OP_AND, SL_T_BOOLEAN,
               ex_bin(a, SL_OP_GT, SL_T_BOOLEAN, ex_scol(a, C_N), ex_int(a, SL_T_INT, 1)),
               ex_bin(a, SL_OP_GT, SL_T_BOOLEAN, ex_scol(a, C_D), ex_lit(a, sl_double(0)))),
        ex_new(a, SL_EX_ROWTIME, SL_T_BIGINT),
        ex_scol(a, C_USERID),
    };
    sl_node *root = node_project(a, node_filter(a, src, where), 7, exprs);
    sl_plan *plan = plan_new(a, root, SL_EMIT_CHANGES);
    recorder r;
    sl_query *q = query_new(plan, &r);
    sl_query_stats st;

    sl_query_stats_get(q, &st);
    assert_true(st.watermark == INT64_MIN);
    push(q, srow(100, "u1", "p", 3, false, 1.5, false));  /* odd: kept */
    push(q, srow(50, "u2", "p", 4, false, 2.0, false));   /* even, D set: dropped */
    push(q, srow(60, "u3", "p", 4, false, 0, true));      /* D NULL: kept */
    push(q, srow(70, NULL, "p", 0, true, -1.0, false));   /* WHERE is NULL: dropped */
    push(q, srow(80, "u5", "p", 0, true, 0, true));       /* NULL OR TRUE: kept */
    push(q, srow(90, "u6", "p", -1, false, -2.0, false)); /* -1 % 2 = -1: dropped */
    push(q, srow(95, "u7", "p", 1, false, 0, true));      /* FALSE AND NULL is FALSE */

    expect(&r, SL_CHANGE_INSERT, 100, "ibditbs", I(4), I(2997), 3.0, I(2), I(100), "u1");
    expect(&r, SL_CHANGE_INSERT, 60, "ibninbs", I(5), I(3996), I(2), I(60), "u3");
    expect(&r, SL_CHANGE_INSERT, 80, "nnnnnbs", I(80), "u5");
    expect(&r, SL_CHANGE_INSERT, 95, "ibnifbs", I(2), I(999), I(0), I(95), "u7");
    expect_no_more(&r);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.rows_in, 7);
    assert_int_equal(st.rows_out, 4);
    assert_int_equal(st.late_rows, 0);
    assert_int_equal(st.state_bytes, 0);
    assert_true(st.watermark == 100);
    /* Advancing and finishing a stateless query emits nothing. */
    sl_query_finish(q);
    expect_no_more(&r);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

static void test_push_wrong_layout(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_plan *plan = plan_new(a, node_source(a), SL_EMIT_CHANGES);
    recorder r;
    sl_query *q = query_new(plan, &r);
    sl_row *row = sl_row_new(2);
    sl_error err;

    assert_int_equal(sl_query_push(q, row, &err), -1);
    assert_int_equal(err.code, SL_ERR_INTERNAL);
    /* A plan that is only a SOURCE passes rows straight to the sink. */
    push(q, srow(7, "u", "p", 1, false, 1, false));
    expect(&r, SL_CHANGE_INSERT, 7, "ssibd", "u", "p", I(1), I(1000), 1.0);
    expect_no_more(&r);
    sl_row_free(row);
    sl_query_free(q);
    sl_query_free(NULL);
    rec_free(&r);
    sl_arena_free(a);
}

/* SELECT [WINDOWSTART, WINDOWEND,] USERID, COUNT(*), COUNT(N), SUM(N), AVG(N), MIN(PAGE),
 * MAX(D) FROM S [WINDOW TUMBLING (SIZE size, GRACE PERIOD grace)] GROUP BY USERID */
static sl_plan *full_agg_plan(sl_arena *a, int64_t size, int64_t grace, sl_emit emit)
{
    sl_expr *groups[] = {ex_scol(a, C_USERID)};
    sl_aggcall aggs[] = {
        {SL_AGG_COUNT, NULL, SL_T_BIGINT, 0, NULL},
        {SL_AGG_COUNT, ex_scol(a, C_N), SL_T_BIGINT, 0, NULL},
        {SL_AGG_SUM, ex_scol(a, C_N), SL_T_BIGINT, 0, NULL},
        {SL_AGG_AVG, ex_scol(a, C_N), SL_T_DOUBLE, 0, NULL},
        {SL_AGG_MIN, ex_scol(a, C_PAGE), SL_T_VARCHAR, 0, NULL},
        {SL_AGG_MAX, ex_scol(a, C_D), SL_T_DOUBLE, 0, NULL},
    };
    sl_node *agg = node_agg(a, node_source(a), size, grace, emit, 1, groups, 6, aggs);

    return plan_new(a, agg, emit);
}

/* SELECT [WINDOWSTART, WINDOWEND,] USERID, COUNT(*) FROM S [WINDOW ...] GROUP BY USERID */
static sl_plan *count_plan(sl_arena *a, int64_t size, int64_t grace, sl_emit emit)
{
    sl_expr *groups[] = {ex_scol(a, C_USERID)};
    sl_aggcall aggs[] = {{SL_AGG_COUNT, NULL, SL_T_BIGINT, 0, NULL}};
    sl_node *agg = node_agg(a, node_source(a), size, grace, emit, 1, groups, 1, aggs);

    return plan_new(a, agg, emit);
}

/* A row with N = n and D = n / 2. */
static sl_row *nrow(int64_t t, const char *user, const char *page, int64_t n)
{
    return srow(t, user, page, n, false, (double)n / 2, false);
}

static void test_tumbling_changes(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(full_agg_plan(a, 10, 0, SL_EMIT_CHANGES), &r);
    sl_query_stats st;

    push(q, nrow(1, "u1", "b", 1));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsbbbdsd", I(0), I(10), "u1", I(1), I(1), I(1), 1.0, "b",
           0.5);
    push(q, srow(2, "u2", "a", 0, true, 0, true));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsbbnnsn", I(0), I(10), "u2", I(1), I(0), "a");
    push(q, nrow(3, "u1", "a", 4));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsbbbdsd", I(0), I(10), "u1", I(2), I(2), I(5), 2.5, "a",
           2.0);
    push(q, nrow(9, "u1", "c", -3));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsbbbdsd", I(0), I(10), "u1", I(3), I(3), I(2), 2.0 / 3.0,
           "a", 2.0);
    sl_query_stats_get(q, &st);
    assert_true(st.state_bytes > 0);
    size_t one_window = st.state_bytes;

    /* Stream time 12 closes [0, 10): a CHANGES query emits nothing on close. */
    push(q, nrow(12, "u1", "z", 2));
    expect(&r, SL_CHANGE_UPSERT, 10, "bbsbbbdsd", I(10), I(20), "u1", I(1), I(1), I(2), 2.0, "z",
           1.0);
    sl_query_stats_get(q, &st);
    assert_true(st.state_bytes < one_window);

    /* Late: [0, 10) closed at 10 <= 12. */
    push(q, nrow(5, "u2", "late", 5));
    expect_no_more(&r);
    assert_int_equal(r.nlate, 1);
    assert_true(r.late[0]->rowtime == 5);
    assert_int_equal(r.late[0]->ncols, S_NCOLS);
    assert_memory_equal(r.late[0]->v[C_PAGE].u.s.ptr, "late", 4);

    push(q, nrow(19, "u2", "y", 7));
    expect(&r, SL_CHANGE_UPSERT, 10, "bbsbbbdsd", I(10), I(20), "u2", I(1), I(1), I(7), 7.0, "y",
           3.5);
    sl_query_stats_get(q, &st);
    assert_true(st.state_bytes > 0);
    sl_query_advance(q, 20);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.state_bytes, 0);
    assert_int_equal(st.rows_in, 7);
    assert_int_equal(st.rows_out, 6);
    assert_int_equal(st.late_rows, 1);
    assert_true(st.watermark == 20);
    /* Advancing backwards does nothing. */
    sl_query_advance(q, 3);
    sl_query_stats_get(q, &st);
    assert_true(st.watermark == 20);
    sl_query_finish(q);
    expect_no_more(&r);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

/* Pushes the rows of the EMIT FINAL test; returns nothing but checks along the way when
 * check is set. */
static void final_rows(sl_query *q, recorder *r, bool check)
{
    sl_query_stats st;

    push(q, nrow(1, "u1", "p", 1));
    push(q, nrow(3, "u2", "p", 2));
    push(q, nrow(5, "u1", "q", 3));
    push(q, nrow(12, "u2", "r", 4));
    /* Stream time 12: [0, 10) stays open until 10 + grace 5. */
    push(q, nrow(8, "u3", "s", 5));
    if (check) {
        expect_no_more(r);
        sl_query_stats_get(q, &st);
        assert_int_equal(st.late_rows, 0);
    }
    push(q, nrow(15, "u1", "t", 6));
    if (check) {
        /* Stream time 15 closed [0, 10): its groups in first-seen order. */
        expect(r, SL_CHANGE_UPSERT, 0, "bbsbbbdsd", I(0), I(10), "u1", I(2), I(2), I(4), 2.0, "p",
               1.5);
        expect(r, SL_CHANGE_UPSERT, 0, "bbsbbbdsd", I(0), I(10), "u2", I(1), I(1), I(2), 2.0, "p",
               1.0);
        expect(r, SL_CHANGE_UPSERT, 0, "bbsbbbdsd", I(0), I(10), "u3", I(1), I(1), I(5), 5.0, "s",
               2.5);
        expect_no_more(r);
    }
    /* Late: [0, 10) closed at 15. */
    push(q, nrow(2, "u1", "late", 100));
    push(q, nrow(19, "u2", "a", 8));
}

static void test_tumbling_final_grace(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(full_agg_plan(a, 10, 5, SL_EMIT_FINAL), &r);
    sl_query_stats st;

    final_rows(q, &r, true);
    expect_no_more(&r);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.late_rows, 1);
    assert_int_equal(r.nlate, 1);
    assert_true(r.late[0]->rowtime == 2);
    assert_int_equal(r.late[0]->v[C_N].u.i, 100);
    assert_true(st.state_bytes > 0);

    sl_query_advance(q, 24);
    expect_no_more(&r);
    sl_query_advance(q, 25);
    expect(&r, SL_CHANGE_UPSERT, 10, "bbsbbbdsd", I(10), I(20), "u2", I(2), I(2), I(12), 6.0, "a",
           4.0);
    expect(&r, SL_CHANGE_UPSERT, 10, "bbsbbbdsd", I(10), I(20), "u1", I(1), I(1), I(6), 6.0, "t",
           3.0);
    expect_no_more(&r);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.state_bytes, 0);
    assert_int_equal(st.rows_in, 8);
    assert_int_equal(st.rows_out, 5);
    sl_query_finish(q);
    expect_no_more(&r);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

static void assert_same_rows(const recorder *x, const recorder *y)
{
    assert_int_equal(x->nout, y->nout);
    for (int i = 0; i < x->nout; i++) {
        const sl_row *p = x->out[i].row, *q = y->out[i].row;

        assert_int_equal(x->out[i].change, y->out[i].change);
        assert_true(p->rowtime == q->rowtime);
        assert_int_equal(p->ncols, q->ncols);
        for (uint32_t k = 0; k < p->ncols; k++) {
            assert_int_equal(p->v[k].type, q->v[k].type);
            assert_int_equal(sl_value_cmp(&p->v[k], &q->v[k]), 0);
        }
    }
}

/* A batch run is the same pipeline finished at +infinity: it equals EMIT FINAL. */
static void test_batch_equals_final(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder rf, rb;
    sl_query *qf = query_new(full_agg_plan(a, 10, 5, SL_EMIT_FINAL), &rf);
    sl_query *qb = query_new(full_agg_plan(a, 10, 5, SL_EMIT_BATCH), &rb);
    sl_query_stats st;

    final_rows(qf, &rf, false);
    final_rows(qb, &rb, false);
    sl_query_finish(qf);
    sl_query_finish(qb);
    assert_int_equal(rf.nout, 5);
    assert_same_rows(&rf, &rb);
    sl_query_stats_get(qb, &st);
    assert_int_equal(st.state_bytes, 0);
    assert_int_equal(st.late_rows, 1);
    assert_true(st.watermark == INT64_MAX);
    sl_query_free(qf);
    sl_query_free(qb);
    rec_free(&rf);
    rec_free(&rb);
    sl_arena_free(a);
}

/* Windows opened out of order still close in start order. */
static void test_final_order(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(count_plan(a, 10, 100, SL_EMIT_FINAL), &r);

    push(q, nrow(25, "u1", "p", 1));
    push(q, nrow(5, "u2", "p", 1));
    push(q, nrow(15, "u1", "p", 1));
    push(q, nrow(7, "u1", "p", 1));
    push(q, nrow(26, "u3", "p", 1));
    push(q, nrow(3, "u2", "p", 1));
    expect_no_more(&r);
    sl_query_advance(q, 200);
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsb", I(0), I(10), "u2", I(2));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsb", I(0), I(10), "u1", I(1));
    expect(&r, SL_CHANGE_UPSERT, 10, "bbsb", I(10), I(20), "u1", I(1));
    expect(&r, SL_CHANGE_UPSERT, 20, "bbsb", I(20), I(30), "u1", I(1));
    expect(&r, SL_CHANGE_UPSERT, 20, "bbsb", I(20), I(30), "u3", I(1));
    expect_no_more(&r);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

/* A thousand one-millisecond windows opened in scrambled order, closed in steps. */
static void test_many_windows(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(count_plan(a, 1, 10000, SL_EMIT_FINAL), &r);
    sl_query_stats st;

    /* 389 is prime to 500, so i * 389 % 500 visits every t in [0, 500) once. */
    for (int i = 0; i < 500; i++)
        push(q, nrow(i * 389 % 500, "u", "p", 1));
    sl_query_advance(q, 10250);
    assert_int_equal(r.nout, 250);
    for (int i = 0; i < 500; i++)
        push(q, nrow(500 + i * 389 % 500, "u", "p", 1));
    sl_query_stats_get(q, &st);
    assert_int_equal(st.late_rows, 0);
    for (int64_t wm = 10250; wm <= 11000; wm += 37)
        sl_query_advance(q, wm);
    sl_query_finish(q);
    assert_int_equal(r.nout, 1000);
    for (int i = 0; i < 1000; i++)
        expect(&r, SL_CHANGE_UPSERT, i, "bbsb", I(i), I(i + 1), "u", I(1));
    sl_query_stats_get(q, &st);
    assert_int_equal(st.state_bytes, 0);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

static void test_negative_rowtimes(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(count_plan(a, 10, 0, SL_EMIT_FINAL), &r);

    push(q, nrow(-15, "u1", "p", 1));
    push(q, nrow(-11, "u1", "p", 1));
    expect_no_more(&r);
    push(q, nrow(-10, "u1", "p", 1));
    expect(&r, SL_CHANGE_UPSERT, -20, "bbsb", I(-20), I(-10), "u1", I(2));
    push(q, nrow(-1, "u2", "p", 1));
    expect_no_more(&r);
    push(q, nrow(0, "u1", "p", 1));
    expect(&r, SL_CHANGE_UPSERT, -10, "bbsb", I(-10), I(0), "u1", I(1));
    expect(&r, SL_CHANGE_UPSERT, -10, "bbsb", I(-10), I(0), "u2", I(1));
    sl_query_finish(q);
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsb", I(0), I(10), "u1", I(1));
    expect_no_more(&r);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

/* A plain GROUP BY in batch: groups at finish, first-seen order, rowtime = latest input. */
static void test_batch_group_by(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(full_agg_plan(a, 0, 0, SL_EMIT_BATCH), &r);
    sl_query_stats st;

    push(q, nrow(5, "u2", "m", 1));
    push(q, nrow(3, "u1", "x", 2));
    push(q, nrow(9, "u2", "k", 3));
    push(q, srow(1, "u1", "y", 0, true, 0, true));
    push(q, nrow(7, "u2", "z", -4));
    expect_no_more(&r);
    sl_query_finish(q);
    expect(&r, SL_CHANGE_UPSERT, 9, "sbbbdsd", "u2", I(3), I(3), I(0), 0.0, "k", 1.5);
    expect(&r, SL_CHANGE_UPSERT, 3, "sbbbdsd", "u1", I(2), I(1), I(2), 2.0, "x", 1.0);
    expect_no_more(&r);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.state_bytes, 0);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

/* A plain GROUP BY with EMIT CHANGES keeps its groups. */
static void test_changes_group_by(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(count_plan(a, 0, 0, SL_EMIT_CHANGES), &r);
    sl_query_stats st;

    push(q, nrow(5, "u2", "p", 1));
    expect(&r, SL_CHANGE_UPSERT, 5, "sb", "u2", I(1));
    push(q, nrow(3, "u2", "p", 1));
    expect(&r, SL_CHANGE_UPSERT, 5, "sb", "u2", I(2));
    push(q, srow(4, NULL, "p", 1, false, 0, false));
    expect(&r, SL_CHANGE_UPSERT, 4, "nb", I(1));
    push(q, srow(8, NULL, "p", 1, false, 0, false));
    expect(&r, SL_CHANGE_UPSERT, 8, "nb", I(2));
    sl_query_finish(q);
    expect_no_more(&r);
    sl_query_stats_get(q, &st);
    assert_true(st.state_bytes > 0);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

/* Enough groups to make the hash table grow many times; counts stay exact. */
static void test_many_groups(void **state)
{
    sl_arena *a = sl_arena_new();
    recorder r;
    sl_query *q = query_new(count_plan(a, 0, 0, SL_EMIT_BATCH), &r);
    char name[16];

    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "g%d", i % 1000);
        push(q, nrow(i, name, "p", 1));
    }
    sl_query_finish(q);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        expect(&r, SL_CHANGE_UPSERT, 2000 + i, "sb", name, I(3));
    }
    expect_no_more(&r);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

/* SELECT WINDOWSTART, WINDOWEND, USERID, COUNT(*) * 10 FROM S WINDOW TUMBLING (SIZE 10)
 * GROUP BY USERID HAVING COUNT(*) > 1 EMIT CHANGES */
static void test_having_project(void **state)
{
    sl_arena *a = sl_arena_new();
    sl_expr *groups[] = {ex_scol(a, C_USERID)};
    sl_aggcall aggs[] = {{SL_AGG_COUNT, NULL, SL_T_BIGINT, 0, NULL}};
    sl_node *agg = node_agg(a, node_source(a), 10, 0, SL_EMIT_CHANGES, 1, groups, 1, aggs);
    sl_node *having = node_filter(
        a, agg,
        ex_bin(a, SL_OP_GT, SL_T_BOOLEAN, ex_col(a, 3, SL_T_BIGINT), ex_int(a, SL_T_BIGINT, 1)));
    sl_expr *exprs[] = {
        ex_col(a, 0, SL_T_BIGINT), ex_col(a, 1, SL_T_BIGINT), ex_col(a, 2, SL_T_VARCHAR),
        ex_bin(a, SL_OP_MUL, SL_T_BIGINT, ex_col(a, 3, SL_T_BIGINT), ex_int(a, SL_T_BIGINT, 10))};
    sl_plan *plan = plan_new(a, node_project(a, having, 4, exprs), SL_EMIT_CHANGES);
    recorder r;
    sl_query *q = query_new(plan, &r);
    sl_query_stats st;

    push(q, nrow(1, "u1", "p", 1));
    push(q, nrow(2, "u2", "p", 1));
    expect_no_more(&r);
    push(q, nrow(3, "u1", "p", 1));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsb", I(0), I(10), "u1", I(20));
    push(q, nrow(4, "u1", "p", 1));
    expect(&r, SL_CHANGE_UPSERT, 0, "bbsb", I(0), I(10), "u1", I(30));
    push(q, nrow(11, "u2", "p", 1));
    expect_no_more(&r);
    sl_query_stats_get(q, &st);
    assert_int_equal(st.rows_out, 2);
    sl_query_free(q);
    rec_free(&r);
    sl_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_valued_logic),   cmocka_unit_test(test_division_by_zero),
        cmocka_unit_test(test_integer_overflow),     cmocka_unit_test(test_agg_functions),
        cmocka_unit_test(test_window_assign),        cmocka_unit_test(test_filter_project),
        cmocka_unit_test(test_push_wrong_layout),    cmocka_unit_test(test_tumbling_changes),
        cmocka_unit_test(test_tumbling_final_grace), cmocka_unit_test(test_batch_equals_final),
        cmocka_unit_test(test_final_order),          cmocka_unit_test(test_many_windows),
        cmocka_unit_test(test_negative_rowtimes),    cmocka_unit_test(test_batch_group_by),
        cmocka_unit_test(test_changes_group_by),     cmocka_unit_test(test_many_groups),
        cmocka_unit_test(test_having_project),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
