/* eval.c: a tree-walking evaluator for bound expressions.
 *
 * Each node computes in the domain its operands call for: DOUBLE when either side is a
 * DOUBLE, exact decimals when the node is a DECIMAL (parser/decimal.h, at the node's
 * precision and scale), 64-bit integers otherwise (INT, BIGINT and TIMESTAMP alike),
 * then the result is fitted to the node's bound type.  Invariant: no operation here can overflow or
 * divide by zero; every such case is detected first and yields NULL. */
#include "eval.h"

#include "decimal.h"
#include "func.h"
#include "nested.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static bool is_integer(sl_type t)
{
    return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_TIMESTAMP;
}

static double as_double(const sl_value *v)
{
    if (v->type == SL_T_DECIMAL)
        return sl_decimal_to_double(v);
    return v->type == SL_T_DOUBLE ? v->u.d : (double)v->u.i;
}

static sl_value arith_decimal(sl_op op, const sl_value *a, const sl_value *b, const sl_typedesc *d)
{
    static const sl_decimal_op ops[] = {[SL_OP_ADD] = SL_DECIMAL_ADD,
                                        [SL_OP_SUB] = SL_DECIMAL_SUB,
                                        [SL_OP_MUL] = SL_DECIMAL_MUL,
                                        [SL_OP_DIV] = SL_DECIMAL_DIV,
                                        [SL_OP_MOD] = SL_DECIMAL_MOD};

    assert(op <= SL_OP_MOD && d && d->kind == SL_T_DECIMAL);
    return sl_decimal_arith(ops[op], a, b, d->precision, d->scale);
}

/* An integer result of bound type t: NULL when t is INT and i is outside 32 bits. */
static sl_value fit_int(sl_type t, int64_t i)
{
    if (t == SL_T_INT && (i < INT32_MIN || i > INT32_MAX))
        return sl_null();
    return sl_int(t == SL_T_INT || t == SL_T_TIMESTAMP ? t : SL_T_BIGINT, i);
}

static sl_value fit_double(double d)
{
    return isfinite(d) ? sl_double(d) : sl_null();
}

static sl_value arith_int(sl_op op, sl_type t, int64_t a, int64_t b)
{
    int64_t r;

    switch (op) {
    case SL_OP_ADD:
        if (__builtin_add_overflow(a, b, &r))
            return sl_null();
        break;
    case SL_OP_SUB:
        if (__builtin_sub_overflow(a, b, &r))
            return sl_null();
        break;
    case SL_OP_MUL:
        if (__builtin_mul_overflow(a, b, &r))
            return sl_null();
        break;
    case SL_OP_DIV:
        if (b == 0 || (a == INT64_MIN && b == -1))
            return sl_null();
        r = a / b;
        break;
    case SL_OP_MOD:
        if (b == 0)
            return sl_null();
        r = b == -1 ? 0 : a % b;
        break;
    default:
        assert(!"not an arithmetic operator");
        return sl_null();
    }
    return fit_int(t, r);
}

static sl_value arith_double(sl_op op, double a, double b)
{
    switch (op) {
    case SL_OP_ADD:
        return fit_double(a + b);
    case SL_OP_SUB:
        return fit_double(a - b);
    case SL_OP_MUL:
        return fit_double(a * b);
    case SL_OP_DIV:
        return b == 0 ? sl_null() : fit_double(a / b);
    case SL_OP_MOD:
        return b == 0 ? sl_null() : fit_double(fmod(a, b));
    default:
        assert(!"not an arithmetic operator");
        return sl_null();
    }
}

/* A comparison of two non-NULL values. */
static sl_value compare(sl_op op, const sl_value *a, const sl_value *b)
{
    int c = sl_value_cmp(a, b);

    switch (op) {
    case SL_OP_EQ:
        return sl_bool(c == 0);
    case SL_OP_NE:
        return sl_bool(c != 0);
    case SL_OP_LT:
        return sl_bool(c < 0);
    case SL_OP_LE:
        return sl_bool(c <= 0);
    case SL_OP_GT:
        return sl_bool(c > 0);
    default:
        return sl_bool(c >= 0);
    }
}

void sl_scratch_reset(sl_scratch *s)
{
    sl_arena_reset(s->arena);
    s->have_now = false;
}

bool sl_scratch_now(sl_scratch *s, int64_t *ms)
{
    if (!s->clock_ms)
        return false;
    if (!s->have_now) {
        s->now_ms = s->clock_ms(s->clock_ctx);
        s->have_now = true;
    }
    *ms = s->now_ms;
    return true;
}

/* v widened to the bound type t with parameters d (INT to BIGINT, an integer or a
 * DECIMAL to DOUBLE, an integer or a DECIMAL to the DECIMAL d, NULL when it does not
 * fit), as CASE, constructors and functions with a common argument type promise. */
static sl_value widen(sl_value v, sl_type t, const sl_typedesc *d)
{
    if (t == SL_T_DECIMAL && v.type != SL_T_NULL && (v.type != SL_T_DECIMAL || v.scale != d->scale))
        return sl_decimal_rescale(&v, d->precision, d->scale);
    if (t == SL_T_DOUBLE && v.type == SL_T_DECIMAL)
        return sl_double(sl_decimal_to_double(&v));
    if (t == SL_T_DOUBLE && (v.type == SL_T_INT || v.type == SL_T_BIGINT))
        return sl_double((double)v.u.i);
    if (t == SL_T_BIGINT && v.type == SL_T_INT)
        v.type = SL_T_BIGINT;
    return v;
}

/* NOT for three-valued results. */
static sl_value negate(sl_value v, bool negated)
{
    return negated && v.type == SL_T_BOOLEAN ? sl_bool(!v.u.b) : v;
}

/* x IN (v...): TRUE on a match; else NULL when x or any v is NULL; else FALSE. */
static sl_value in_list(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    sl_value x = sl_eval(e->u.nary.args[0], row, scratch);
    bool saw_null = false;

    if (x.type == SL_T_NULL)
        return x;
    for (int i = 1; i < e->u.nary.nargs; i++) {
        sl_value v = sl_eval(e->u.nary.args[i], row, scratch);

        if (v.type == SL_T_NULL)
            saw_null = true;
        else if (sl_value_cmp(&x, &v) == 0)
            return sl_bool(true);
    }
    return saw_null ? sl_null() : sl_bool(false);
}

/* x BETWEEN lo AND hi: x >= lo AND x <= hi, in three-valued logic. */
static sl_value between(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    sl_value x = sl_eval(e->u.nary.args[0], row, scratch);
    sl_value lo = sl_eval(e->u.nary.args[1], row, scratch);
    sl_value hi = sl_eval(e->u.nary.args[2], row, scratch);
    int ge = x.type == SL_T_NULL || lo.type == SL_T_NULL ? -1 : sl_value_cmp(&x, &lo) >= 0;
    int le = x.type == SL_T_NULL || hi.type == SL_T_NULL ? -1 : sl_value_cmp(&x, &hi) <= 0;

    if (ge == 0 || le == 0)
        return sl_bool(false);
    if (ge < 0 || le < 0)
        return sl_null();
    return sl_bool(true);
}

/* CASE: the result of the first WHEN that is TRUE (searched) or equal to the operand
 * (simple; a NULL never equals), else the ELSE result or NULL. */
static sl_value case_value(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    sl_expr *const *a = e->u.nary.args;
    int n = e->u.nary.nargs, i = 0, end = n - (e->u.nary.has_else ? 1 : 0);
    sl_value x = sl_null();

    if (e->u.nary.has_operand)
        x = sl_eval(a[i++], row, scratch);
    for (; i < end; i += 2) {
        sl_value w = sl_eval(a[i], row, scratch);
        bool hit = e->u.nary.has_operand
                       ? x.type != SL_T_NULL && w.type != SL_T_NULL && sl_value_cmp(&x, &w) == 0
                       : w.type == SL_T_BOOLEAN && w.u.b;
        if (hit)
            return widen(sl_eval(a[i + 1], row, scratch), e->type, e->desc);
    }
    if (e->u.nary.has_else)
        return widen(sl_eval(a[n - 1], row, scratch), e->type, e->desc);
    return sl_null();
}

static sl_value nary(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    switch (e->u.nary.op) {
    case SL_OP_LIKE: {
        sl_value x = sl_eval(e->u.nary.args[0], row, scratch);
        sl_value p = sl_eval(e->u.nary.args[1], row, scratch);
        sl_value esc = e->u.nary.nargs == 3 ? e->u.nary.args[2]->u.lit : sl_str("", 0);

        if (x.type == SL_T_NULL || p.type == SL_T_NULL)
            return sl_null();
        return negate(
            sl_bool(sl_like(x.u.s.ptr, x.u.s.len, p.u.s.ptr, p.u.s.len, esc.u.s.ptr, esc.u.s.len)),
            e->u.nary.negated);
    }
    case SL_OP_IN:
        return negate(in_list(e, row, scratch), e->u.nary.negated);
    case SL_OP_BETWEEN:
        return negate(between(e, row, scratch), e->u.nary.negated);
    default:
        return case_value(e, row, scratch);
    }
}

/* ARRAY[...], MAP(...), STRUCT(...): a new body in the scratch arena, each value widened
 * to its element or field type.  A MAP pair whose key is NULL is left out. */
static sl_value ctor(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    const sl_typedesc *d = e->desc;
    sl_buf buf = SL_BUF_INIT;
    sl_nested_writer w;
    sl_value v;

    assert(scratch);
    sl_nested_begin(&w, &buf);
    for (int i = 0; i < e->u.ctor.nargs; i++) {
        v = sl_eval(e->u.ctor.args[i], row, scratch);
        if (e->type == SL_T_MAP && i % 2 == 0 && v.type == SL_T_NULL) {
            i++;
            continue;
        }
        if (e->type == SL_T_STRUCT)
            v = widen(v, d->fields[i].type->kind, d->fields[i].type);
        else if (e->type == SL_T_ARRAY || i % 2 == 1)
            v = widen(v, d->elem->kind, d->elem);
        sl_nested_put(&w, &v);
    }
    return sl_nested_end_into(&w, e->type, scratch->arena);
}

/* Arguments on the stack up to this many, else in the scratch arena. */
#define STACK_ARGS 8

static sl_value call(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    int n = e->u.call.nargs;
    sl_value stack[STACK_ARGS], *args = stack;

    if (n > STACK_ARGS) {
        assert(scratch);
        args = sl_arena_alloc(scratch->arena, (size_t)n * sizeof(*args));
    }
    for (int i = 0; i < n; i++)
        args[i] = sl_eval(e->u.call.args[i], row, scratch);
    return widen(sl_func_call(e->u.call.fn, n, args, e->desc, scratch), e->type, e->desc);
}

/* AND and OR: a side that decides the answer alone (FALSE for AND, TRUE for OR) wins
 * over NULL, and the right side is not evaluated when the left one decides. */
static sl_value logic(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    bool decisive = e->u.binary.op == SL_OP_OR;
    sl_value l = sl_eval(e->u.binary.left, row, scratch);

    if (l.type == SL_T_BOOLEAN && l.u.b == decisive)
        return l;
    sl_value r = sl_eval(e->u.binary.right, row, scratch);
    if (r.type == SL_T_BOOLEAN && r.u.b == decisive)
        return r;
    if (l.type == SL_T_NULL || r.type == SL_T_NULL)
        return sl_null();
    return sl_bool(!decisive);
}

static sl_value binary(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    sl_op op = e->u.binary.op;

    if (op == SL_OP_AND || op == SL_OP_OR)
        return logic(e, row, scratch);

    sl_value l = sl_eval(e->u.binary.left, row, scratch);
    if (l.type == SL_T_NULL)
        return l;
    sl_value r = sl_eval(e->u.binary.right, row, scratch);
    if (r.type == SL_T_NULL)
        return r;

    switch (op) {
    case SL_OP_SUBSCRIPT:
        if (l.type == SL_T_ARRAY)
            return sl_nested_array_at(&l, r.u.i, e->type);
        return sl_nested_map_at(&l, r.u.s.ptr, r.u.s.len, e->type);
    case SL_OP_ADD:
    case SL_OP_SUB:
    case SL_OP_MUL:
    case SL_OP_DIV:
    case SL_OP_MOD:
        if (e->type == SL_T_DECIMAL)
            return arith_decimal(op, &l, &r, e->desc);
        if (is_integer(l.type) && is_integer(r.type) && e->type != SL_T_DOUBLE)
            return arith_int(op, e->type, l.u.i, r.u.i);
        return arith_double(op, as_double(&l), as_double(&r));
    default:
        return compare(op, &l, &r);
    }
}

static sl_value unary(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    sl_value a = sl_eval(e->u.unary.arg, row, scratch);

    switch (e->u.unary.op) {
    case SL_OP_IS_NULL:
        return sl_bool(a.type == SL_T_NULL);
    case SL_OP_IS_NOT_NULL:
        return sl_bool(a.type != SL_T_NULL);
    case SL_OP_NOT:
        return a.type == SL_T_NULL ? a : sl_bool(!a.u.b);
    case SL_OP_NEG:
        if (a.type == SL_T_NULL)
            return a;
        if (a.type == SL_T_DOUBLE)
            return sl_double(-a.u.d);
        if (a.type == SL_T_DECIMAL)
            return sl_decimal_neg(&a);
        if (a.u.i == INT64_MIN)
            return sl_null();
        return fit_int(e->type, -a.u.i);
    default:
        assert(!"not a unary operator");
        return sl_null();
    }
}

sl_value sl_eval(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    switch (e->kind) {
    case SL_EX_LITERAL:
        return e->u.lit;
    case SL_EX_COLUMN:
        assert(e->u.col >= 0 && (uint32_t)e->u.col < row->ncols);
        return row->v[e->u.col];
    case SL_EX_ROWTIME:
        return sl_int(SL_T_BIGINT, row->rowtime);
    case SL_EX_UNARY:
        return unary(e, row, scratch);
    case SL_EX_BINARY:
        return binary(e, row, scratch);
    case SL_EX_CAST: {
        sl_value v = sl_eval(e->u.cast.arg, row, scratch);
        return sl_cast(&v, e->type, e->desc, scratch);
    }
    case SL_EX_NARY:
        return nary(e, row, scratch);
    case SL_EX_CALL:
        return call(e, row, scratch);
    case SL_EX_FIELD: {
        sl_value v = sl_eval(e->u.field.arg, row, scratch);
        return v.type == SL_T_NULL ? v : sl_nested_field(&v, e->u.field.index, e->type);
    }
    case SL_EX_CTOR:
        return ctor(e, row, scratch);
    }
    assert(!"bad expression kind");
    return sl_null();
}

bool sl_eval_pred(const sl_expr *e, const sl_row *row, sl_scratch *scratch)
{
    sl_value v = sl_eval(e, row, scratch);

    return v.type == SL_T_BOOLEAN && v.u.b;
}
