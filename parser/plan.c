/* plan.c: the binder and planner (sl_plan_build): a SELECT's AST, bound against the
 * catalog and type-checked, becomes an immutable pipeline of operator nodes.
 *
 * Binding happens in one of two contexts.  In the row context (WHERE, GROUP BY, the
 * arguments of aggregates, and the SELECT list of a query without aggregation) names
 * resolve against the source stream's columns.  In the aggregate context (the SELECT
 * list and HAVING of an aggregation) an expression is evaluated on the AGGREGATE node's
 * rows, so every subexpression equal to a GROUP BY expression becomes a column of that
 * layout, every aggregate call a column of its own (identical calls shared),
 * WINDOWSTART/WINDOWEND columns 0 and 1, and anything else must be built from those.
 *
 * Ownership and invariants: the AST and the catalog's schema are borrowed for the call
 * only; everything the binder makes (expressions, nodes, names, VARCHAR literals) is
 * owned by plan->arena, so the plan outlives both the AST and the catalog's schema;
 * the recursion over expressions is bounded by the AST's height (SL_MAX_EXPR_DEPTH). */
#include "plan.h"

#include "ast.h"
#include "decimal.h"
#include "limits.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
#define X(name, sym, arity) sym,
#include "ops.def"
#undef X
};

static const char *const agg_names[] = {
#define X(name, sqlname, minargs, maxargs) sqlname,
#include "aggs.def"
#undef X
};

static const int agg_minargs[] = {
#define X(name, sqlname, minargs, maxargs) minargs,
#include "aggs.def"
#undef X
};

static const int agg_maxargs[] = {
#define X(name, sqlname, minargs, maxargs) maxargs,
#include "aggs.def"
#undef X
};

/* The typing rules of functions.def; plan.c's bind_call says what each one means. */
typedef enum func_rule {
    RULE_SAME_NUMBER,
    RULE_ROUND,
    RULE_DOUBLE,
    RULE_ORDERED_COMMON,
    RULE_COMMON,
    RULE_NULLIF,
    RULE_STRINGS,
    RULE_LEN,
    RULE_SUBSTRING,
    RULE_SPLIT,
    RULE_ARRAY_LENGTH,
    RULE_ARRAY_CONTAINS,
    RULE_MAP_KEYS,
    RULE_MAP_VALUES,
    RULE_INSTR,
    RULE_PAD,
    RULE_FORMAT_TIME,
    RULE_PARSE_TIME,
    RULE_UNIX_TIMESTAMP,
    RULE_FROM_UNIXTIME
} func_rule;

static const struct {
    const char *name;
    int minargs, maxargs;
    func_rule rule;
} funcs[] = {
#define X(name, minargs, maxargs, rule) {#name, minargs, maxargs, RULE_##rule},
#include "functions.def"
#undef X
};

const char *sl_func_name(sl_func fn)
{
    if ((unsigned)fn >= SL_FN__COUNT)
        return "?";
    return funcs[fn].name;
}

static int func_lookup(const char *name)
{
    for (int fn = 0; fn < SL_FN__COUNT; fn++) {
        if (strcmp(funcs[fn].name, name) == 0)
            return fn;
    }
    return -1;
}

const char *sl_op_name(sl_op op)
{
    if ((unsigned)op >= SL_OP__COUNT)
        return "?";
    return op_names[op];
}

const char *sl_agg_name(sl_agg_fn fn)
{
    if ((unsigned)fn >= SL_AGG__COUNT)
        return "?";
    return agg_names[fn];
}

typedef enum pseudo { PSEUDO_NONE, PSEUDO_ROWTIME, PSEUDO_WINDOWSTART, PSEUDO_WINDOWEND } pseudo;

typedef struct binder {
    sl_arena *arena; /* the plan's: every bound expression and name goes there */
    sl_error *err;
    const sl_select *sel;         /* borrowed for the call */
    const sl_schema *schema;      /* borrowed from the catalog for the call */
    const sl_typedesc **col_desc; /* schema's column descriptors, copied into the arena */
    const sl_catalog *catalog;    /* borrowed for the call (zone names of time functions) */
    const char *agg_msg;          /* the error for an aggregate call in the row context */
    /* The aggregate layout, filled while binding an aggregation. */
    bool windowed;
    int woff; /* 2 when windowed (WINDOWSTART, WINDOWEND come first), else 0 */
    int ngroups;
    sl_expr **groups;
    int naggs, aggcap;
    sl_aggcall *aggs;
} binder;

/* The bound result columns of the SELECT list, before they become a PROJECT. */
typedef struct outputs {
    int n;
    sl_expr **exprs;
    sl_outcol *cols;
    int *line, *column; /* where each came from, for errors about names */
} outputs;

static pseudo pseudo_column(const char *name)
{
    if (strcmp(name, "ROWTIME") == 0)
        return PSEUDO_ROWTIME;
    if (strcmp(name, "WINDOWSTART") == 0)
        return PSEUDO_WINDOWSTART;
    if (strcmp(name, "WINDOWEND") == 0)
        return PSEUDO_WINDOWEND;
    return PSEUDO_NONE;
}

static int agg_lookup(const char *name)
{
    for (int fn = 0; fn < SL_AGG__COUNT; fn++) {
        if (strcmp(agg_names[fn], name) == 0)
            return fn;
    }
    return -1;
}

/* True when ast calls an aggregate, or, when window_too, names WINDOWSTART/WINDOWEND. */
static bool contains_agg(const sl_ast_expr *ast, bool window_too)
{
    switch (ast->kind) {
    case SL_AST_LITERAL:
        return false;
    case SL_AST_COLUMN: {
        pseudo ps = pseudo_column(ast->u.col.name);
        return window_too && (ps == PSEUDO_WINDOWSTART || ps == PSEUDO_WINDOWEND);
    }
    case SL_AST_UNARY:
        return contains_agg(ast->u.unary.arg, window_too);
    case SL_AST_BINARY:
        return contains_agg(ast->u.binary.left, window_too) ||
               contains_agg(ast->u.binary.right, window_too);
    case SL_AST_CALL:
        if (agg_lookup(ast->u.call.name) >= 0)
            return true;
        for (int i = 0; i < ast->u.call.nargs; i++) {
            if (contains_agg(ast->u.call.args[i], window_too))
                return true;
        }
        return false;
    case SL_AST_CAST:
        return contains_agg(ast->u.cast.arg, window_too);
    case SL_AST_FIELD:
        return contains_agg(ast->u.field.arg, window_too);
    case SL_AST_CTOR:
        for (int i = 0; i < ast->u.ctor.nargs; i++) {
            if (contains_agg(ast->u.ctor.args[i], window_too))
                return true;
        }
        return false;
    case SL_AST_NARY:
        for (int i = 0; i < ast->u.nary.nargs; i++) {
            if (contains_agg(ast->u.nary.args[i], window_too))
                return true;
        }
        return false;
    }
    return false;
}

static bool expr_equal(const sl_expr *a, const sl_expr *b);

static bool expr_lists_equal(int n, sl_expr *const *a, int m, sl_expr *const *b)
{
    if (n != m)
        return false;
    for (int i = 0; i < n; i++) {
        if (!expr_equal(a[i], b[i]))
            return false;
    }
    return true;
}

/* Structural equality of bound expressions (a literal's type included: 2 is not 2.0). */
static bool expr_equal(const sl_expr *a, const sl_expr *b)
{
    if (a->kind != b->kind || a->type != b->type || !sl_typedesc_equal(a->desc, b->desc))
        return false;
    switch (a->kind) {
    case SL_EX_LITERAL:
        return a->u.lit.type == b->u.lit.type && sl_value_eq(&a->u.lit, &b->u.lit);
    case SL_EX_COLUMN:
        return a->u.col == b->u.col;
    case SL_EX_ROWTIME:
        return true;
    case SL_EX_UNARY:
        return a->u.unary.op == b->u.unary.op && expr_equal(a->u.unary.arg, b->u.unary.arg);
    case SL_EX_BINARY:
        return a->u.binary.op == b->u.binary.op && expr_equal(a->u.binary.left, b->u.binary.left) &&
               expr_equal(a->u.binary.right, b->u.binary.right);
    case SL_EX_CAST:
        return expr_equal(a->u.cast.arg, b->u.cast.arg);
    case SL_EX_NARY:
        return a->u.nary.op == b->u.nary.op && a->u.nary.negated == b->u.nary.negated &&
               a->u.nary.has_operand == b->u.nary.has_operand &&
               a->u.nary.has_else == b->u.nary.has_else &&
               expr_lists_equal(a->u.nary.nargs, a->u.nary.args, b->u.nary.nargs, b->u.nary.args);
    case SL_EX_CALL:
        return a->u.call.fn == b->u.call.fn &&
               expr_lists_equal(a->u.call.nargs, a->u.call.args, b->u.call.nargs, b->u.call.args);
    case SL_EX_FIELD:
        return a->u.field.index == b->u.field.index && expr_equal(a->u.field.arg, b->u.field.arg);
    case SL_EX_CTOR:
        return expr_lists_equal(a->u.ctor.nargs, a->u.ctor.args, b->u.ctor.nargs, b->u.ctor.args);
    }
    return false;
}

static sl_expr *new_expr(binder *b, sl_expr_kind kind, sl_type type, int line, int column)
{
    sl_expr *e = sl_arena_alloc(b->arena, sizeof(*e));

    e->kind = kind;
    e->type = type;
    e->line = line;
    e->column = column;
    return e;
}

/* A column of the layout an expression is evaluated on, typed type/desc (desc is
 * borrowed: it must already live in the plan's arena, or be static). */
static sl_expr *column_expr(binder *b, int col, sl_type type, const sl_typedesc *desc, int line,
                            int column)
{
    sl_expr *e = new_expr(b, SL_EX_COLUMN, type, line, column);

    e->u.col = col;
    e->desc = desc;
    return e;
}

/* The SQL spelling of a type for messages ("ARRAY<INT>"); the string lives in the
 * plan's arena. */
static const char *tname(binder *b, sl_type type, const sl_typedesc *desc)
{
    return sl_typedesc_name(type, desc, b->arena);
}

/* True for the kinds whose values are compared only for (in)equality: ARRAY, MAP and
 * STRUCT. */
static bool composite(sl_type t)
{
    return t == SL_T_ARRAY || t == SL_T_MAP || t == SL_T_STRUCT;
}

static bool numeric_or_null(sl_type t)
{
    return t == SL_T_NULL || sl_type_is_numeric(t);
}

static bool integer(sl_type t)
{
    return t == SL_T_INT || t == SL_T_BIGINT;
}

/* Comparisons: numbers with numbers, TIMESTAMP with TIMESTAMP or integers, otherwise
 * like with like; an untyped NULL with anything.  (ARRAY, MAP and STRUCT operands must
 * also have equal descriptors: make_binary checks that.) */
static bool comparable(sl_type a, sl_type b)
{
    if (a == SL_T_NULL || b == SL_T_NULL)
        return true;
    if (sl_type_is_numeric(a) && sl_type_is_numeric(b))
        return true;
    if ((a == SL_T_TIMESTAMP && integer(b)) || (b == SL_T_TIMESTAMP && integer(a)))
        return true;
    return a == b;
}

/* INT op INT is INT; with a BIGINT, BIGINT; with a DOUBLE, DOUBLE; otherwise (a
 * DECIMAL with a DECIMAL or an integer) DECIMAL, whose parameters the callers work out.
 * NULL op NULL is typed BIGINT (its value is NULL whatever the type). */
static sl_type arith_type(sl_type a, sl_type b)
{
    if (a == SL_T_DOUBLE || b == SL_T_DOUBLE)
        return SL_T_DOUBLE;
    if (a == SL_T_DECIMAL || b == SL_T_DECIMAL)
        return SL_T_DECIMAL;
    if (a == SL_T_BIGINT || b == SL_T_BIGINT)
        return SL_T_BIGINT;
    if (a == SL_T_INT || b == SL_T_INT)
        return SL_T_INT;
    return SL_T_BIGINT;
}

/* The precision and scale of a DECIMAL (desc), or of the DECIMAL an INT or BIGINT widens
 * to (ksqlDB's DECIMAL(10, 0) and DECIMAL(19, 0)); false for any other type. */
static bool decimal_params(sl_type t, const sl_typedesc *desc, int *p, int *s)
{
    if (t == SL_T_DECIMAL) {
        *p = desc->precision;
        *s = desc->scale;
        return true;
    }
    return sl_decimal_int_type(t, p, s) == 0;
}

/* The descriptor of DECIMAL `l op r` (one side a DECIMAL, the other a DECIMAL, an
 * integer or an untyped NULL, which takes the DECIMAL's type): ksqlDB's result types
 * (sl_decimal_result_type), capped at 38 digits.  Lives in the plan's arena. */
static const sl_typedesc *decimal_arith(binder *b, sl_op op, const sl_expr *l, const sl_expr *r)
{
    static const sl_decimal_op ops[] = {[SL_OP_ADD] = SL_DECIMAL_ADD,
                                        [SL_OP_SUB] = SL_DECIMAL_SUB,
                                        [SL_OP_MUL] = SL_DECIMAL_MUL,
                                        [SL_OP_DIV] = SL_DECIMAL_DIV,
                                        [SL_OP_MOD] = SL_DECIMAL_MOD};
    int p1, s1, p2, s2, p, s;

    if (l->type == SL_T_NULL)
        return r->desc;
    if (r->type == SL_T_NULL)
        return l->desc;
    decimal_params(l->type, l->desc, &p1, &s1);
    decimal_params(r->type, r->desc, &p2, &s2);
    sl_decimal_result_type(ops[op], p1, s1, p2, s2, &p, &s);
    return sl_typedesc_decimal(b->arena, p, s);
}

/* A type-checked unary node over arg (arena-owned); NULL with TYPE_ERROR. */
static sl_expr *make_unary(binder *b, sl_op op, sl_expr *arg, int line, int column)
{
    sl_type t = arg->type, rt = SL_T_BOOLEAN;

    if (op == SL_OP_NOT && t != SL_T_NULL && t != SL_T_BOOLEAN)
        goto mismatch;
    if (op == SL_OP_NEG) {
        if (!numeric_or_null(t))
            goto mismatch;
        rt = t == SL_T_NULL ? SL_T_BIGINT : t;
    }
    sl_expr *e = new_expr(b, SL_EX_UNARY, rt, line, column);
    e->desc = rt == SL_T_DECIMAL ? arg->desc : NULL;
    e->u.unary.op = op;
    e->u.unary.arg = arg;
    return e;

mismatch:
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, line, column, "cannot apply '%s' to %s", sl_op_name(op),
                 tname(b, t, arg->desc));
    return NULL;
}

/* A type-checked binary node over l and r (arena-owned); NULL with TYPE_ERROR. */
static sl_expr *make_binary(binder *b, sl_op op, sl_expr *l, sl_expr *r, int line, int column)
{
    sl_type lt = l->type, rt = r->type, t = SL_T_BOOLEAN;
    const sl_typedesc *desc = NULL;

    switch (op) {
    case SL_OP_ADD:
    case SL_OP_SUB:
    case SL_OP_MUL:
    case SL_OP_DIV:
    case SL_OP_MOD:
        if (!numeric_or_null(lt) || !numeric_or_null(rt))
            goto mismatch;
        t = arith_type(lt, rt);
        if (t == SL_T_DECIMAL)
            desc = decimal_arith(b, op, l, r);
        break;
    case SL_OP_AND:
    case SL_OP_OR:
        if ((lt != SL_T_NULL && lt != SL_T_BOOLEAN) || (rt != SL_T_NULL && rt != SL_T_BOOLEAN))
            goto mismatch;
        break;
    case SL_OP_SUBSCRIPT:
        if (lt != SL_T_ARRAY && lt != SL_T_MAP) {
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, line, column,
                         "cannot subscript %s: only an ARRAY or a MAP", tname(b, lt, l->desc));
            return NULL;
        }
        if (rt != SL_T_NULL && (lt == SL_T_ARRAY ? !integer(rt) : rt != SL_T_VARCHAR)) {
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, r->line, r->column,
                         "the subscript of %s must be %s, not %s", tname(b, lt, l->desc),
                         lt == SL_T_ARRAY ? "an INT or BIGINT" : "a VARCHAR",
                         tname(b, rt, r->desc));
            return NULL;
        }
        t = l->desc->elem->kind;
        desc = sl_typedesc_scalar(t) ? NULL : l->desc->elem;
        break;
    default:
        if (!comparable(lt, rt))
            goto mismatch;
        if ((composite(lt) || composite(rt)) &&
            ((op != SL_OP_EQ && op != SL_OP_NE) ||
             (lt != SL_T_NULL && rt != SL_T_NULL && !sl_typedesc_equal(l->desc, r->desc))))
            goto mismatch;
        break;
    }
    sl_expr *e = new_expr(b, SL_EX_BINARY, t, line, column);
    e->desc = desc;
    e->u.binary.op = op;
    e->u.binary.left = l;
    e->u.binary.right = r;
    return e;

mismatch:
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, line, column, "cannot apply '%s' to %s and %s",
                 sl_op_name(op), tname(b, lt, l->desc), tname(b, rt, r->desc));
    return NULL;
}

/* The type both a (ad) and b (bd) widen to, into *out and *dout: an untyped NULL goes
 * with anything, numbers widen INT -> BIGINT -> DOUBLE, a DECIMAL with a DECIMAL or an
 * integer to the DECIMAL wide enough for both (sl_decimal_widen, in arena), a DECIMAL
 * with a DOUBLE to DOUBLE; anything else only with its own type (descriptors equal).
 * False when there is none. */
static bool common_type(sl_arena *arena, sl_type a, const sl_typedesc *ad, sl_type b,
                        const sl_typedesc *bd, sl_type *out, const sl_typedesc **dout)
{
    if (a == SL_T_NULL || (a == b && sl_typedesc_equal(ad, bd))) {
        *out = b;
        *dout = bd;
        return true;
    }
    if (b == SL_T_NULL) {
        *out = a;
        *dout = ad;
        return true;
    }
    if (sl_type_is_numeric(a) && sl_type_is_numeric(b)) {
        int p1, s1, p2, s2, p, s;

        *out = arith_type(a, b);
        *dout = NULL;
        if (*out == SL_T_DECIMAL) {
            decimal_params(a, ad, &p1, &s1);
            decimal_params(b, bd, &p2, &s2);
            sl_decimal_widen(p1, s1, p2, s2, &p, &s);
            *dout = sl_typedesc_decimal(arena, p, s);
        }
        return true;
    }
    return false;
}

/* CAST(from AS to): identity, numbers among themselves, anything to and from VARCHAR
 * (a string that does not parse gives NULL at run time), and TIMESTAMP to and from
 * INT/BIGINT epoch milliseconds.  BOOLEAN converts only to and from VARCHAR.  BYTES,
 * ARRAY, MAP and STRUCT convert only to their own type. */
static bool castable(sl_type from, const sl_typedesc *fd, sl_type to, const sl_typedesc *td)
{
    if (from == SL_T_NULL)
        return true;
    if (composite(from) || composite(to) || from == SL_T_BYTES || to == SL_T_BYTES)
        return from == to && sl_typedesc_equal(fd, td);
    if (from == to || from == SL_T_VARCHAR || to == SL_T_VARCHAR)
        return true;
    if (sl_type_is_numeric(from) && sl_type_is_numeric(to))
        return true;
    return (from == SL_T_TIMESTAMP && integer(to)) || (integer(from) && to == SL_T_TIMESTAMP);
}

static sl_expr *bind_row(binder *b, const sl_ast_expr *ast);
static sl_expr *bind_agg(binder *b, const sl_ast_expr *ast);
static sl_expr *call_error(binder *b, const sl_ast_expr *ast);

/* Binds the n expressions asts[] in the row or aggregate context into a new arena
 * array. */
static sl_expr **bind_list(binder *b, sl_ast_expr *const *asts, int n, bool agg)
{
    sl_expr **out = sl_arena_alloc(b->arena, (size_t)(n ? n : 1) * sizeof(*out));

    for (int i = 0; i < n; i++) {
        if (!(out[i] = agg ? bind_agg(b, asts[i]) : bind_row(b, asts[i])))
            return NULL;
    }
    return out;
}

/* CAST(x AS T): arena-owned, or NULL with TYPE_ERROR at the CAST. */
static sl_expr *bind_cast(binder *b, const sl_ast_expr *ast, bool agg)
{
    sl_expr *arg = agg ? bind_agg(b, ast->u.cast.arg) : bind_row(b, ast->u.cast.arg), *e;
    sl_type to = ast->u.cast.type;
    const sl_typedesc *desc = sl_typedesc_copy(ast->u.cast.desc, b->arena);

    if (!arg)
        return NULL;
    if (!castable(arg->type, arg->desc, to, desc)) {
        sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column, "cannot cast %s to %s",
                     tname(b, arg->type, arg->desc), tname(b, to, desc));
        return NULL;
    }
    e = new_expr(b, SL_EX_CAST, to, ast->line, ast->column);
    e->desc = desc;
    e->u.cast.arg = arg;
    return e;
}

/* The number of UTF-8 characters in s[0..len). */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The type of a CASE's results (THEN and ELSE operands), into *out; TYPE_ERROR at the
 * first result that does not fit the others or, when all are NULL, at the CASE. */
static int case_type(binder *b, const sl_ast_expr *ast, sl_expr *const *args, sl_type *out,
                     const sl_typedesc **dout)
{
    int n = ast->u.nary.nargs, first = ast->u.nary.has_operand ? 1 : 0;
    sl_type t = SL_T_NULL;
    const sl_typedesc *d = NULL;

    for (int i = first + 1; i < n; i++) {
        bool is_else = ast->u.nary.has_else && i == n - 1;

        if ((i - first) % 2 == 0 && !is_else)
            continue; /* a WHEN */
        if (!common_type(b->arena, t, d, args[i]->type, args[i]->desc, &t, &d))
            return sl_error_set(b->err, SL_ERR_TYPE_ERROR, args[i]->line, args[i]->column,
                                "CASE results have incompatible types %s and %s", tname(b, t, d),
                                tname(b, args[i]->type, args[i]->desc));
    }
    if (t == SL_T_NULL)
        return sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                            "every CASE result is NULL: CAST one to give the CASE a type");
    *out = t;
    *dout = d;
    return 0;
}

/* LIKE, IN, BETWEEN and CASE (see plan.h for their operands): arena-owned, or NULL with
 * TYPE_ERROR at the operator (or at the operand at fault). */
static sl_expr *bind_nary(binder *b, const sl_ast_expr *ast, bool agg)
{
    int n = ast->u.nary.nargs;
    sl_op op = ast->u.nary.op;
    sl_expr **args = bind_list(b, ast->u.nary.args, n, agg), *e;
    sl_type t = SL_T_BOOLEAN;
    const sl_typedesc *desc = NULL;

    if (!args)
        return NULL;
    for (int i = 1; op == SL_OP_LIKE && i < n; i++) {
        if ((args[0]->type != SL_T_VARCHAR && args[0]->type != SL_T_NULL) ||
            (args[i]->type != SL_T_VARCHAR && args[i]->type != SL_T_NULL))
            goto mismatch;
        if (i == 2 && utf8_chars(args[2]->u.lit.u.s.ptr, args[2]->u.lit.u.s.len) != 1) {
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, args[2]->line, args[2]->column,
                         "ESCAPE must be a single character");
            return NULL;
        }
    }
    for (int i = 1; (op == SL_OP_IN || op == SL_OP_BETWEEN) && i < n; i++) {
        if (!comparable(args[0]->type, args[i]->type) || composite(args[0]->type) ||
            composite(args[i]->type))
            goto mismatch;
    }
    if (op == SL_OP_CASE) {
        int first = ast->u.nary.has_operand ? 1 : 0, end = n - (ast->u.nary.has_else ? 1 : 0);

        for (int i = first; i < end; i += 2) {
            const sl_expr *w = args[i];

            if (first && (!comparable(args[0]->type, w->type) || composite(args[0]->type) ||
                          composite(w->type))) {
                sl_error_set(b->err, SL_ERR_TYPE_ERROR, w->line, w->column,
                             "cannot compare the CASE operand (%s) with %s",
                             tname(b, args[0]->type, args[0]->desc), tname(b, w->type, w->desc));
                return NULL;
            }
            if (!first && w->type != SL_T_BOOLEAN && w->type != SL_T_NULL) {
                sl_error_set(b->err, SL_ERR_TYPE_ERROR, w->line, w->column,
                             "WHEN must be BOOLEAN, not %s", tname(b, w->type, w->desc));
                return NULL;
            }
        }
        if (case_type(b, ast, args, &t, &desc) < 0)
            return NULL;
    }
    e = new_expr(b, SL_EX_NARY, t, ast->line, ast->column);
    e->desc = desc;
    e->u.nary.op = op;
    e->u.nary.negated = ast->u.nary.negated;
    e->u.nary.has_operand = ast->u.nary.has_operand;
    e->u.nary.has_else = ast->u.nary.has_else;
    e->u.nary.nargs = n;
    e->u.nary.args = args;
    return e;

mismatch : {
    /* The operand at fault: LIKE names its first two, IN and BETWEEN the first one that
     * x cannot be compared with. */
    int k = 1;

    while (op != SL_OP_LIKE && k < n - 1 && comparable(args[0]->type, args[k]->type) &&
           !composite(args[k]->type))
        k++;
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                 "cannot apply '%s' to %s and %s", sl_op_name(op),
                 tname(b, args[0]->type, args[0]->desc), tname(b, args[k]->type, args[k]->desc));
    return NULL;
}
}

/* Checks args against sig, one letter an argument (the last letter repeating for any
 * further ones): N a number, I an integer (INT or BIGINT), S VARCHAR, T TIMESTAMP, E
 * epoch milliseconds (INT, BIGINT or TIMESTAMP).  An untyped NULL passes anywhere. */
static bool args_match(sl_expr *const *args, int n, const char *sig)
{
    size_t len = strlen(sig);

    for (int i = 0; i < n; i++) {
        sl_type t = args[i]->type;
        char k = sig[(size_t)i < len ? (size_t)i : len - 1];

        if (t == SL_T_NULL)
            continue;
        if ((k == 'N' && !sl_type_is_numeric(t)) || (k == 'I' && !integer(t)) ||
            (k == 'S' && t != SL_T_VARCHAR) || (k == 'T' && t != SL_T_TIMESTAMP) ||
            (k == 'E' && !integer(t) && t != SL_T_TIMESTAMP))
            return false;
    }
    return true;
}

/* "cannot apply NAME to (T1, T2)" at the call. */
static sl_expr *call_type_error(binder *b, const sl_ast_expr *ast, sl_expr *const *args, int n)
{
    sl_buf msg = SL_BUF_INIT;

    sl_buf_printf(&msg, "cannot apply %s to (", ast->u.call.name);
    for (int i = 0; i < n; i++)
        sl_buf_printf(&msg, "%s%s", i ? ", " : "", tname(b, args[i]->type, args[i]->desc));
    sl_buf_putc(&msg, ')');
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column, "%s", msg.data);
    sl_buf_free(&msg);
    return NULL;
}

/* A time pattern (args[1]) or zone (args[2]) given as a literal is checked now, so
 * that a mistake is an error at its position rather than NULL on every row. */
static int check_time_args(binder *b, sl_expr *const *args, int n)
{
    const sl_expr *p = args[1], *z = n > 2 ? args[2] : NULL;
    const char *why;
    int off;

    if (p->kind == SL_EX_LITERAL && p->type == SL_T_VARCHAR) {
        if (p->u.lit.u.s.len > SL_MAX_TIME_PATTERN)
            return sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, p->line, p->column,
                                "time pattern longer than %d bytes", SL_MAX_TIME_PATTERN);
        if (sl_time_pattern_check(p->u.lit.u.s.ptr, p->u.lit.u.s.len, &why) < 0)
            return sl_error_set(b->err, SL_ERR_TYPE_ERROR, p->line, p->column,
                                "invalid pattern '%.*s': %s", (int)p->u.lit.u.s.len,
                                p->u.lit.u.s.ptr, why);
    }
    /* A VARCHAR literal's bytes are NUL-terminated in the plan's arena (bind_literal). */
    if (z && z->kind == SL_EX_LITERAL && z->type == SL_T_VARCHAR &&
        sl_time_zone_parse(z->u.lit.u.s.ptr, z->u.lit.u.s.len, &off) < 0 &&
        (!b->catalog->zone_exists || !b->catalog->zone_exists(b->catalog->ctx, z->u.lit.u.s.ptr)))
        return sl_error_set(b->err, SL_ERR_UNSUPPORTED, z->line, z->column,
                            "unknown time zone '%.*s'", (int)z->u.lit.u.s.len, z->u.lit.u.s.ptr);
    return 0;
}

/* DECIMAL(p + 1, s), at most 38 digits: what rounding a DECIMAL(p, s') to s digits
 * may need, since it can carry into a new digit (9.5 -> 10).  In the plan's arena. */
static const sl_typedesc *carry_digit(binder *b, int p, int s)
{
    return sl_typedesc_decimal(b->arena, p < SL_MAX_DECIMAL_DIGITS ? p + 1 : p, s);
}

/* A scalar function call, typed by its rule:
 *   SAME_NUMBER     (N) -> the argument's type (an untyped NULL: BIGINT); FLOOR and CEIL
 *                   of a DECIMAL(p, s > 0): DECIMAL(p + 1, s), as they may carry
 *   ROUND           (N) -> INT, BIGINT as given, DOUBLE -> BIGINT, DECIMAL(p, s) ->
 *                   DECIMAL(p - s + 1, 0) (s > 0); (N, I) -> the first argument's type,
 *                   DECIMAL(p, s) -> DECIMAL(p + 1, s)
 *   DOUBLE          (N, ...) -> DOUBLE
 *   COMMON          any arguments with a common type (common_type) -> that type
 *   ORDERED_COMMON  as COMMON
 *   NULLIF          two comparable arguments -> the first one's type
 *   STRINGS         (S, ...) -> VARCHAR
 *   LEN             (S) -> INT;  SUBSTRING (S, I[, I]) -> VARCHAR
 *   INSTR           (S, S[, I[, I]]) -> INT;  PAD (S, I, S) -> VARCHAR
 *   FORMAT_TIME     (E, S[, S]) -> VARCHAR;  PARSE_TIME (S, S[, S]) -> BIGINT
 *   UNIX_TIMESTAMP  () or (T) -> BIGINT;  FROM_UNIXTIME (I) -> TIMESTAMP
 *   SPLIT           (S, S) -> ARRAY<VARCHAR>
 *   ARRAY_LENGTH    (ARRAY) -> INT;  ARRAY_CONTAINS (ARRAY<T>, x comparable with T) ->
 *                   BOOLEAN
 *   MAP_KEYS        (MAP) -> ARRAY<VARCHAR>;  MAP_VALUES (MAP<VARCHAR, T>) -> ARRAY<T>
 * ORDERED_COMMON (GREATEST, LEAST) does not take ARRAY, MAP or STRUCT arguments. */
static sl_expr *bind_call(binder *b, const sl_ast_expr *ast, sl_func fn, bool agg)
{
    int n = ast->u.call.nargs;
    sl_expr **args, *e;
    sl_type t = SL_T_VARCHAR;
    const sl_typedesc *desc = NULL;
    bool ok = true;

    if (ast->u.call.star) {
        sl_error_set(b->err, SL_ERR_SYNTAX_ERROR, ast->line, ast->column, "%s does not accept '*'",
                     funcs[fn].name);
        return NULL;
    }
    if (n < funcs[fn].minargs || n > funcs[fn].maxargs) {
        if (n > SL_MAX_CALL_ARGS)
            sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, ast->line, ast->column,
                         "more than %d arguments to %s", SL_MAX_CALL_ARGS, funcs[fn].name);
        else
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                         "wrong number of arguments to %s", funcs[fn].name);
        return NULL;
    }
    if (!(args = bind_list(b, ast->u.call.args, n, agg)))
        return NULL;
    switch (funcs[fn].rule) {
    case RULE_SAME_NUMBER:
        ok = args_match(args, n, "N");
        t = args[0]->type == SL_T_NULL ? SL_T_BIGINT : args[0]->type;
        if (t == SL_T_DECIMAL) {
            const sl_typedesc *d = args[0]->desc;
            desc = fn == SL_FN_ABS || d->scale == 0 ? d : carry_digit(b, d->precision, d->scale);
        }
        break;
    case RULE_ROUND:
        ok = args_match(args, n, "NI");
        t = args[0]->type;
        if (t == SL_T_NULL)
            t = n == 1 ? SL_T_BIGINT : SL_T_DOUBLE;
        else if (t == SL_T_DOUBLE && n == 1)
            t = SL_T_BIGINT;
        if (t == SL_T_DECIMAL) {
            const sl_typedesc *d = args[0]->desc;
            if (n == 2)
                desc = carry_digit(b, d->precision, d->scale);
            else
                desc = d->scale ? carry_digit(b, d->precision - d->scale, 0) : d;
        }
        break;
    case RULE_DOUBLE:
        ok = args_match(args, n, "N");
        t = SL_T_DOUBLE;
        break;
    case RULE_COMMON:
    case RULE_ORDERED_COMMON:
        t = SL_T_NULL;
        for (int i = 0; i < n && ok; i++)
            ok = common_type(b->arena, t, desc, args[i]->type, args[i]->desc, &t, &desc) &&
                 !(funcs[fn].rule == RULE_ORDERED_COMMON && composite(t));
        if (ok && t == SL_T_NULL) {
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                         "every argument of %s is NULL: CAST one to give the result a type",
                         funcs[fn].name);
            return NULL;
        }
        break;
    case RULE_NULLIF:
        ok = comparable(args[0]->type, args[1]->type) &&
             (!composite(args[0]->type) || args[1]->type == SL_T_NULL ||
              sl_typedesc_equal(args[0]->desc, args[1]->desc));
        t = args[0]->type == SL_T_NULL ? args[1]->type : args[0]->type;
        desc = args[0]->type == SL_T_NULL ? args[1]->desc : args[0]->desc;
        if (t == SL_T_NULL)
            t = SL_T_BIGINT;
        break;
    case RULE_STRINGS:
        ok = args_match(args, n, "S");
        break;
    case RULE_LEN:
        ok = args_match(args, n, "S");
        t = SL_T_INT;
        break;
    case RULE_SUBSTRING:
        ok = args_match(args, n, "SI");
        break;
    case RULE_SPLIT:
        ok = args_match(args, n, "S");
        t = SL_T_ARRAY;
        desc = sl_typedesc_array(b->arena, sl_typedesc_scalar(SL_T_VARCHAR));
        break;
    case RULE_ARRAY_LENGTH:
        ok = args[0]->type == SL_T_ARRAY || args[0]->type == SL_T_NULL;
        t = SL_T_INT;
        break;
    case RULE_ARRAY_CONTAINS:
        ok = (args[0]->type == SL_T_ARRAY && comparable(args[0]->desc->elem->kind, args[1]->type) &&
              !composite(args[1]->type)) ||
             (args[0]->type == SL_T_NULL && !composite(args[1]->type));
        t = SL_T_BOOLEAN;
        break;
    case RULE_MAP_KEYS:
    case RULE_MAP_VALUES:
        ok = args[0]->type == SL_T_MAP;
        t = SL_T_ARRAY;
        if (ok)
            desc = sl_typedesc_array(b->arena, funcs[fn].rule == RULE_MAP_KEYS
                                                   ? sl_typedesc_scalar(SL_T_VARCHAR)
                                                   : args[0]->desc->elem);
        break;
    case RULE_INSTR:
        ok = args_match(args, n, "SSI");
        t = SL_T_INT;
        break;
    case RULE_PAD:
        ok = args_match(args, n, "SIS");
        break;
    case RULE_FORMAT_TIME:
        ok = args_match(args, n, "ES");
        break;
    case RULE_PARSE_TIME:
        ok = args_match(args, n, "S");
        t = SL_T_BIGINT;
        break;
    case RULE_UNIX_TIMESTAMP:
        ok = args_match(args, n, "T");
        t = SL_T_BIGINT;
        break;
    case RULE_FROM_UNIXTIME:
        ok = args_match(args, n, "I");
        t = SL_T_TIMESTAMP;
        break;
    }
    if (!ok)
        return call_type_error(b, ast, args, n);
    if ((funcs[fn].rule == RULE_FORMAT_TIME || funcs[fn].rule == RULE_PARSE_TIME) &&
        check_time_args(b, args, n) < 0)
        return NULL;
    e = new_expr(b, SL_EX_CALL, t, ast->line, ast->column);
    e->desc = desc;
    e->u.call.fn = fn;
    e->u.call.nargs = n;
    e->u.call.args = args;
    return e;
}

/* The STRUCT type of STRUCT(name := v, ...) over its bound values; NULL with an error
 * for a duplicate name or an untyped NULL value. */
static const sl_typedesc *struct_ctor_type(binder *b, const sl_ast_expr *ast, sl_expr *const *args)
{
    int n = ast->u.ctor.nargs;
    sl_field *f = sl_arena_alloc(b->arena, (size_t)(n ? n : 1) * sizeof(*f));

    if (n == 0) {
        sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                     "a STRUCT needs at least one field");
        return NULL;
    }
    if (n > SL_MAX_STRUCT_FIELDS) {
        sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, ast->line, ast->column,
                     "more than %d fields in a STRUCT", SL_MAX_STRUCT_FIELDS);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        f[i].name = sl_arena_strdup(b->arena, ast->u.ctor.names[i]);
        f[i].quoted = ast->u.ctor.quoted[i];
        for (int j = 0; j < i; j++) {
            if (strcmp(f[i].name, f[j].name) == 0) {
                sl_error_set(b->err, SL_ERR_TYPE_ERROR, args[i]->line, args[i]->column,
                             "duplicate field name '%s'", f[i].name);
                return NULL;
            }
        }
        if (args[i]->type == SL_T_NULL) {
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, args[i]->line, args[i]->column,
                         "field '%s' is an untyped NULL: CAST it to give the field a type",
                         f[i].name);
            return NULL;
        }
        f[i].type = sl_typedesc_of(args[i]->type, args[i]->desc);
    }
    return sl_typedesc_struct(b->arena, n, f);
}

/* ARRAY[...], MAP(k := v, ...) and STRUCT(name := v, ...), their values bound in the row
 * or (agg) the aggregate context.  An ARRAY's elements and a MAP's values share a type
 * as a CASE's results do; a MAP's keys are VARCHAR. */
static sl_expr *bind_ctor(binder *b, const sl_ast_expr *ast, bool agg)
{
    int n = ast->u.ctor.nargs, step = ast->u.ctor.kind == SL_T_MAP ? 2 : 1;
    sl_type kind = ast->u.ctor.kind, t = SL_T_NULL;
    const sl_typedesc *d = NULL, *desc;
    sl_expr **args = bind_list(b, ast->u.ctor.args, n, agg), *e;

    if (!args)
        return NULL;
    if (kind == SL_T_STRUCT) {
        if (!(desc = struct_ctor_type(b, ast, args)))
            return NULL;
    } else {
        for (int i = 0; kind == SL_T_MAP && i < n; i += 2) {
            if (args[i]->type != SL_T_VARCHAR && args[i]->type != SL_T_NULL) {
                sl_error_set(b->err, SL_ERR_TYPE_ERROR, args[i]->line, args[i]->column,
                             "the keys of a MAP must be VARCHAR, not %s",
                             tname(b, args[i]->type, args[i]->desc));
                return NULL;
            }
        }
        for (int i = step - 1; i < n; i += step) {
            if (!common_type(b->arena, t, d, args[i]->type, args[i]->desc, &t, &d)) {
                sl_error_set(b->err, SL_ERR_TYPE_ERROR, args[i]->line, args[i]->column,
                             "%s %s have incompatible types %s and %s", sl_type_name(kind),
                             kind == SL_T_MAP ? "values" : "elements", tname(b, t, d),
                             tname(b, args[i]->type, args[i]->desc));
                return NULL;
            }
        }
        if (t == SL_T_NULL) {
            sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                         "the %s type of this %s is unknown (it has no %s, or all are NULL): "
                         "CAST one",
                         kind == SL_T_MAP ? "value" : "element", sl_type_name(kind),
                         kind == SL_T_MAP ? "values" : "elements");
            return NULL;
        }
        d = sl_typedesc_of(t, d);
        desc = kind == SL_T_MAP ? sl_typedesc_map(b->arena, d) : sl_typedesc_array(b->arena, d);
    }
    if (desc->depth > SL_MAX_TYPE_DEPTH) {
        sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, ast->line, ast->column,
                     "type nested more than %d levels deep", SL_MAX_TYPE_DEPTH);
        return NULL;
    }
    e = new_expr(b, SL_EX_CTOR, kind, ast->line, ast->column);
    e->desc = desc;
    e->u.ctor.nargs = n;
    e->u.ctor.args = args;
    return e;
}

/* A CAST, an operator with a list of operands, a constructor or a scalar function call,
 * with its operands bound in the row context or (agg) the aggregate context. */
static sl_expr *bind_compound(binder *b, const sl_ast_expr *ast, bool agg)
{
    int fn;

    switch (ast->kind) {
    case SL_AST_CTOR:
        return bind_ctor(b, ast, agg);
    case SL_AST_CAST:
        return bind_cast(b, ast, agg);
    case SL_AST_NARY:
        return bind_nary(b, ast, agg);
    case SL_AST_CALL:
        if ((fn = func_lookup(ast->u.call.name)) >= 0)
            return bind_call(b, ast, (sl_func)fn, agg);
        break;
    default:
        break;
    }
    return call_error(b, ast);
}

static sl_expr *bind_literal(binder *b, const sl_ast_expr *ast)
{
    sl_expr *e = new_expr(b, SL_EX_LITERAL, ast->u.lit.type, ast->line, ast->column);

    e->u.lit = ast->u.lit;
    if (e->u.lit.type == SL_T_VARCHAR)
        e->u.lit.u.s.ptr = sl_arena_strndup(b->arena, ast->u.lit.u.s.ptr, ast->u.lit.u.s.len);
    if (e->u.lit.type == SL_T_DECIMAL)
        e->desc =
            sl_typedesc_decimal(b->arena, sl_decimal_literal_precision(&e->u.lit), e->u.lit.scale);
    return e;
}

/* A column's qualifier must name the stream or its alias. */
static int check_qualifier(binder *b, const sl_ast_expr *ast)
{
    const char *q = ast->u.col.qualifier;

    if (!q || strcmp(q, b->sel->from) == 0 || (b->sel->alias && strcmp(q, b->sel->alias) == 0))
        return 0;
    return sl_error_set(b->err, SL_ERR_UNKNOWN_COLUMN, ast->line, ast->column,
                        "unknown column '%s.%s'", q, ast->u.col.name);
}

static sl_expr *window_bound_error(binder *b, const sl_ast_expr *ast)
{
    sl_error_set(b->err, SL_ERR_UNSUPPORTED, ast->line, ast->column,
                 "%s can only be used in the SELECT list or HAVING clause of a windowed "
                 "aggregation",
                 ast->u.col.name);
    return NULL;
}

/* A call outside the aggregate context: an aggregate is misplaced (b->agg_msg), anything
 * else is an unknown function. */
static sl_expr *call_error(binder *b, const sl_ast_expr *ast)
{
    if (agg_lookup(ast->u.call.name) >= 0)
        sl_error_set(b->err, SL_ERR_UNSUPPORTED, ast->line, ast->column, "%s", b->agg_msg);
    else
        sl_error_set(b->err, SL_ERR_UNSUPPORTED, ast->line, ast->column, "unknown function '%s'",
                     ast->u.call.name);
    return NULL;
}

/* Binds a column reference against the source: a stream column or ROWTIME. */
static sl_expr *bind_column(binder *b, const sl_ast_expr *ast)
{
    const char *name = ast->u.col.name;

    if (check_qualifier(b, ast) < 0)
        return NULL;
    switch (pseudo_column(name)) {
    case PSEUDO_ROWTIME:
        return new_expr(b, SL_EX_ROWTIME, SL_T_BIGINT, ast->line, ast->column);
    case PSEUDO_WINDOWSTART:
    case PSEUDO_WINDOWEND:
        return window_bound_error(b, ast);
    case PSEUDO_NONE:
        break;
    }
    int i = sl_schema_find(b->schema, name, strlen(name));
    if (i < 0) {
        sl_error_set(b->err, SL_ERR_UNKNOWN_COLUMN, ast->line, ast->column, "unknown column '%s'",
                     name);
        return NULL;
    }
    return column_expr(b, i, b->schema->cols[i].type, b->col_desc[i], ast->line, ast->column);
}

/* `arg->name`: a field of a STRUCT, arena-owned; NULL with TYPE_ERROR or UNKNOWN_COLUMN. */
static sl_expr *bind_field(binder *b, const sl_ast_expr *ast, bool agg)
{
    sl_expr *arg = agg ? bind_agg(b, ast->u.field.arg) : bind_row(b, ast->u.field.arg), *e;
    const char *name = ast->u.field.name;
    int i;

    if (!arg)
        return NULL;
    if (arg->type != SL_T_STRUCT) {
        sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                     "cannot apply '->' to %s: only a STRUCT has fields",
                     tname(b, arg->type, arg->desc));
        return NULL;
    }
    if ((i = sl_typedesc_field(arg->desc, name, strlen(name), true)) < 0) {
        sl_error_set(b->err, SL_ERR_UNKNOWN_COLUMN, ast->line, ast->column, "%s has no field '%s'",
                     tname(b, arg->type, arg->desc), name);
        return NULL;
    }
    const sl_typedesc *ft = arg->desc->fields[i].type;
    e = new_expr(b, SL_EX_FIELD, ft->kind, ast->line, ast->column);
    e->desc = sl_typedesc_scalar(ft->kind) ? NULL : ft;
    e->u.field.arg = arg;
    e->u.field.index = i;
    return e;
}

/* Binds ast in the row context (the source's layout).  Returns an arena-owned
 * expression, or NULL with err set. */
static sl_expr *bind_row(binder *b, const sl_ast_expr *ast)
{
    sl_expr *l, *r;

    switch (ast->kind) {
    case SL_AST_LITERAL:
        return bind_literal(b, ast);
    case SL_AST_COLUMN:
        return bind_column(b, ast);
    case SL_AST_UNARY:
        l = bind_row(b, ast->u.unary.arg);
        return l ? make_unary(b, ast->u.unary.op, l, ast->line, ast->column) : NULL;
    case SL_AST_BINARY:
        if (!(l = bind_row(b, ast->u.binary.left)) || !(r = bind_row(b, ast->u.binary.right)))
            return NULL;
        return make_binary(b, ast->u.binary.op, l, r, ast->line, ast->column);
    case SL_AST_FIELD:
        return bind_field(b, ast, false);
    case SL_AST_CALL:
    case SL_AST_CAST:
    case SL_AST_NARY:
    case SL_AST_CTOR:
        break;
    }
    return bind_compound(b, ast, false);
}

/* The constant second argument of an aggregate call: PERCENTILE_APPROX's percentile, a
 * number in [0, 1], or TOPK's k, an integer in [1, SL_MAX_TOPK]. */
static int param_value(binder *b, const sl_ast_expr *call, sl_agg_fn fn, double *out)
{
    const sl_ast_expr *a = call->u.call.args[1];

    if (fn == SL_AGG_TOPK) {
        if (a->kind != SL_AST_LITERAL ||
            (a->u.lit.type != SL_T_INT && a->u.lit.type != SL_T_BIGINT) || a->u.lit.u.i < 1)
            return sl_error_set(b->err, SL_ERR_TYPE_ERROR, a->line, a->column,
                                "the k of TOPK must be a positive integer literal");
        if (a->u.lit.u.i > SL_MAX_TOPK)
            return sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, a->line, a->column,
                                "the k of TOPK may be at most %d", SL_MAX_TOPK);
        *out = (double)a->u.lit.u.i;
        return 0;
    }
    if (a->kind != SL_AST_LITERAL || !sl_type_is_numeric(a->u.lit.type))
        return sl_error_set(b->err, SL_ERR_TYPE_ERROR, a->line, a->column,
                            "the percentile of PERCENTILE_APPROX must be a number literal");
    if (a->u.lit.type == SL_T_DECIMAL)
        *out = sl_decimal_to_double(&a->u.lit);
    else
        *out = a->u.lit.type == SL_T_DOUBLE ? a->u.lit.u.d : (double)a->u.lit.u.i;
    if (!(*out >= 0 && *out <= 1))
        return sl_error_set(b->err, SL_ERR_TYPE_ERROR, a->line, a->column,
                            "the percentile of PERCENTILE_APPROX must lie between 0 and 1");
    return 0;
}

/* Binds an aggregate call: its argument in the row context, its type from the
 * argument's, and its slot among the aggregate node's calls (an identical call already
 * there is shared).  Returns a column of the aggregate layout. */
static sl_expr *bind_aggcall(binder *b, const sl_ast_expr *ast, sl_agg_fn fn)
{
    const char *name = agg_names[fn];
    int nargs = ast->u.call.nargs, slot;
    sl_expr *arg = NULL;
    sl_type type = SL_T_BIGINT;
    const sl_typedesc *desc = NULL;
    double param = 0;

    if (ast->u.call.star && agg_minargs[fn] > 0) {
        sl_error_set(b->err, SL_ERR_SYNTAX_ERROR, ast->line, ast->column, "%s does not accept '*'",
                     name);
        return NULL;
    }
    if (nargs < agg_minargs[fn] || nargs > agg_maxargs[fn]) {
        sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column,
                     "wrong number of arguments to %s", name);
        return NULL;
    }
    if (nargs == 2 && param_value(b, ast, fn, &param) < 0)
        return NULL;
    if (nargs >= 1) {
        const char *outer = b->agg_msg;

        b->agg_msg = "aggregate function calls cannot be nested";
        arg = bind_row(b, ast->u.call.args[0]);
        b->agg_msg = outer;
        if (!arg)
            return NULL;
    }
    switch (fn) {
    case SL_AGG_COUNT:
    case SL_AGG__COUNT: /* the enum's size, never a function */
        break;
    case SL_AGG_SUM:
        if (!sl_type_is_numeric(arg->type))
            goto mismatch;
        /* SUM of a DECIMAL(p, s) is a DECIMAL(p, s), as in ksqlDB. */
        type = arg->type == SL_T_DOUBLE || arg->type == SL_T_DECIMAL ? arg->type : SL_T_BIGINT;
        desc = arg->desc;
        break;
    case SL_AGG_AVG:
        if (!sl_type_is_numeric(arg->type))
            goto mismatch;
        type = SL_T_DOUBLE;
        break;
    case SL_AGG_MIN:
    case SL_AGG_MAX:
    case SL_AGG_EARLIEST_BY_OFFSET:
    case SL_AGG_LATEST_BY_OFFSET:
        if (arg->type == SL_T_NULL)
            goto mismatch;
        type = arg->type;
        desc = arg->desc;
        break;
    case SL_AGG_COUNT_DISTINCT:
        if (arg->type == SL_T_NULL)
            goto mismatch;
        break;
    case SL_AGG_STDDEV_SAMP:
    case SL_AGG_PERCENTILE_APPROX:
        if (!sl_type_is_numeric(arg->type))
            goto mismatch;
        type = SL_T_DOUBLE;
        break;
    case SL_AGG_TOPK:
    case SL_AGG_COLLECT_LIST:
    case SL_AGG_COLLECT_SET:
        /* TOPK orders its values: numbers, strings and timestamps only (the bytes of a
         * BOOLEAN, BYTES or composite value would order them without meaning). */
        if (arg->type == SL_T_NULL || (fn == SL_AGG_TOPK && !sl_type_is_numeric(arg->type) &&
                                       arg->type != SL_T_VARCHAR && arg->type != SL_T_TIMESTAMP))
            goto mismatch;
        desc = sl_typedesc_array(b->arena, sl_typedesc_of(arg->type, arg->desc));
        if (desc->depth > SL_MAX_TYPE_DEPTH) {
            sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, ast->line, ast->column,
                         "%s of %s: type nested more than %d levels deep", name,
                         tname(b, arg->type, arg->desc), SL_MAX_TYPE_DEPTH);
            return NULL;
        }
        type = SL_T_ARRAY;
        break;
    }
    for (slot = 0; slot < b->naggs; slot++) {
        const sl_aggcall *a = &b->aggs[slot];

        if (a->fn == fn && a->param == param &&
            (a->arg == arg || (a->arg && arg && expr_equal(a->arg, arg))))
            break;
    }
    if (slot == b->naggs) {
        if (b->naggs == b->aggcap) {
            int cap = b->aggcap ? b->aggcap * 2 : 8;
            sl_aggcall *bigger = sl_arena_alloc(b->arena, (size_t)cap * sizeof(*bigger));

            if (b->naggs)
                memcpy(bigger, b->aggs, (size_t)b->naggs * sizeof(*bigger));
            b->aggs = bigger;
            b->aggcap = cap;
        }
        b->aggs[b->naggs++] =
            (sl_aggcall){.fn = fn, .arg = arg, .type = type, .desc = desc, .param = param};
    }
    return column_expr(b, b->woff + b->ngroups + slot, type, desc, ast->line, ast->column);

mismatch:
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column, "cannot apply %s to %s", name,
                 tname(b, arg->type, arg->desc));
    return NULL;
}

/* Binds ast in the aggregate context (the AGGREGATE node's layout).  Returns an
 * arena-owned expression, or NULL with err set. */
static sl_expr *bind_agg(binder *b, const sl_ast_expr *ast)
{
    sl_expr *e, *l, *r;

    switch (ast->kind) {
    case SL_AST_LITERAL:
        return bind_literal(b, ast);
    case SL_AST_CALL: {
        int fn = agg_lookup(ast->u.call.name);
        if (fn >= 0)
            return bind_aggcall(b, ast, (sl_agg_fn)fn);
        break;
    }
    case SL_AST_COLUMN: {
        pseudo ps = pseudo_column(ast->u.col.name);

        if (ps != PSEUDO_WINDOWSTART && ps != PSEUDO_WINDOWEND)
            break;
        if (check_qualifier(b, ast) < 0)
            return NULL;
        if (!b->windowed)
            return window_bound_error(b, ast);
        return column_expr(b, ps == PSEUDO_WINDOWSTART ? 0 : 1, SL_T_BIGINT, NULL, ast->line,
                           ast->column);
    }
    default:
        break;
    }
    if (!contains_agg(ast, true)) {
        if (!(e = bind_row(b, ast)))
            return NULL;
        for (int i = 0; i < b->ngroups; i++) {
            if (expr_equal(e, b->groups[i]))
                return column_expr(b, b->woff + i, e->type, e->desc, ast->line, ast->column);
        }
        if (ast->kind == SL_AST_COLUMN) {
            sl_error_set(b->err, SL_ERR_UNSUPPORTED, ast->line, ast->column,
                         "column '%s' must appear in GROUP BY or be used in an aggregate "
                         "function",
                         ast->u.col.name);
            return NULL;
        }
    }
    if (ast->kind == SL_AST_UNARY) {
        l = bind_agg(b, ast->u.unary.arg);
        return l ? make_unary(b, ast->u.unary.op, l, ast->line, ast->column) : NULL;
    }
    if (ast->kind == SL_AST_FIELD)
        return bind_field(b, ast, true);
    if (ast->kind != SL_AST_BINARY)
        return bind_compound(b, ast, true);
    if (!(l = bind_agg(b, ast->u.binary.left)) || !(r = bind_agg(b, ast->u.binary.right)))
        return NULL;
    return make_binary(b, ast->u.binary.op, l, r, ast->line, ast->column);
}

/* Binds a WHERE or HAVING predicate, which must be BOOLEAN (or an untyped NULL). */
static sl_expr *bind_predicate(binder *b, const sl_ast_expr *ast, bool agg, const char *clause,
                               int line, int column)
{
    sl_expr *e = agg ? bind_agg(b, ast) : bind_row(b, ast);

    if (e && e->type != SL_T_BOOLEAN && e->type != SL_T_NULL) {
        sl_error_set(b->err, SL_ERR_TYPE_ERROR, line, column, "%s must be BOOLEAN, not %s", clause,
                     tname(b, e->type, e->desc));
        return NULL;
    }
    return e;
}

static sl_node *new_node(binder *b, sl_node_kind kind, sl_node *input, int ncols)
{
    sl_node *n = sl_arena_alloc(b->arena, sizeof(*n));

    n->kind = kind;
    n->input = input;
    n->ncols = ncols;
    if (input && kind == SL_NODE_FILTER)
        n->cols = input->cols;
    else
        n->cols = sl_arena_alloc(b->arena, (size_t)ncols * sizeof(*n->cols));
    return n;
}

/* Formats e on the layout cols into an arena string; for an aggregate call (call given,
 * e its argument) as the call: "COUNT(*)", "SUM(V)", "TOPK(V, 3)". */
static char *expr_name(binder *b, const sl_aggcall *call, const sl_expr *e, const sl_outcol *cols)
{
    sl_buf buf = SL_BUF_INIT;
    char *name;

    if (call)
        sl_buf_printf(&buf, "%s(", agg_names[call->fn]);
    if (e)
        sl_expr_format(e, cols, &buf);
    else
        sl_buf_putc(&buf, '*');
    if (call && agg_maxargs[call->fn] == 2)
        sl_buf_printf(&buf, ", %.15g", call->param);
    if (call)
        sl_buf_putc(&buf, ')');
    name = sl_arena_strndup(b->arena, buf.data, buf.len);
    sl_buf_free(&buf);
    return name;
}

/* The AGGREGATE node over input, once every group and call is known.  Its columns are
 * named after what they compute ("PAGEID", "COUNT(*)"), which is how EXPLAIN shows
 * references to them. */
static sl_node *aggregate_node(binder *b, sl_node *input)
{
    const sl_select *sel = b->sel;
    sl_node *n = new_node(b, SL_NODE_AGGREGATE, input, b->woff + b->ngroups + b->naggs);

    n->u.aggregate.window = sel->window;
    if (sel->window.time_zone)
        n->u.aggregate.window.time_zone = sl_arena_strdup(b->arena, sel->window.time_zone);
    n->u.aggregate.emit = sel->emit;
    n->u.aggregate.every_ms = sel->emit_every_ms;
    n->u.aggregate.ngroups = b->ngroups;
    n->u.aggregate.groups = b->groups;
    n->u.aggregate.naggs = b->naggs;
    n->u.aggregate.aggs = b->aggs;
    if (b->windowed) {
        n->cols[0] =
            (sl_outcol){.name = sl_arena_strdup(b->arena, "WINDOWSTART"), .type = SL_T_BIGINT};
        n->cols[1] =
            (sl_outcol){.name = sl_arena_strdup(b->arena, "WINDOWEND"), .type = SL_T_BIGINT};
    }
    for (int i = 0; i < b->ngroups; i++) {
        const sl_expr *g = b->groups[i];
        sl_outcol *c = &n->cols[b->woff + i];

        c->type = g->type;
        c->desc = g->desc;
        c->name = g->kind == SL_EX_COLUMN ? sl_arena_strdup(b->arena, input->cols[g->u.col].name)
                                          : expr_name(b, NULL, g, input->cols);
    }
    for (int i = 0; i < b->naggs; i++) {
        sl_outcol *c = &n->cols[b->woff + b->ngroups + i];

        c->type = b->aggs[i].type;
        c->desc = b->aggs[i].desc;
        c->name = expr_name(b, &b->aggs[i], b->aggs[i].arg, input->cols);
    }
    return n;
}

/* Adds one result column to out (whose arrays have room). */
static void add_output(binder *b, outputs *out, int at, sl_expr *e, const char *name, int line,
                       int column)
{
    out->exprs[at] = e;
    out->cols[at].name = sl_arena_strdup(b->arena, name);
    out->cols[at].type = e->type;
    out->cols[at].desc = e->desc;
    out->line[at] = line;
    out->column[at] = column;
}

/* Binds the SELECT list into result columns: stars expanded, names given (alias, column
 * name, else KSQL_COL_<n> counting unnamed expressions from 0), and, for a windowed
 * aggregation, WINDOWSTART and WINDOWEND put first (an unaliased selection of them is
 * moved there; otherwise they are added). */
static int bind_outputs(binder *b, bool agg, outputs *out)
{
    const sl_select *sel = b->sel;
    const sl_schema *s = b->schema;
    int cap = 2, unnamed = 0, first = b->windowed ? 2 : 0;
    bool have_bound[2] = {false, false};

    for (int i = 0; i < sel->nitems; i++)
        cap += sel->items[i].expr ? 1 : s->ncols;
    out->exprs = sl_arena_alloc(b->arena, (size_t)cap * sizeof(*out->exprs));
    out->cols = sl_arena_alloc(b->arena, (size_t)cap * sizeof(*out->cols));
    out->line = sl_arena_alloc(b->arena, (size_t)cap * sizeof(int));
    out->column = sl_arena_alloc(b->arena, (size_t)cap * sizeof(int));
    out->n = first;
    for (int i = 0; i < sel->nitems; i++) {
        const sl_select_item *it = &sel->items[i];
        sl_expr *e;

        if (!it->expr) {
            sl_ast_expr col = {.kind = SL_AST_COLUMN,
                               .line = it->line,
                               .column = it->column,
                               .height = 1,
                               .u.col.qualifier = it->star_qualifier};

            for (int c = 0; c < s->ncols; c++) {
                col.u.col.name = s->cols[c].name;
                if (!(e = agg ? bind_agg(b, &col) : bind_row(b, &col)))
                    return -1;
                add_output(b, out, out->n++, e, s->cols[c].name, it->line, it->column);
            }
            continue;
        }
        if (!(e = agg ? bind_agg(b, it->expr) : bind_row(b, it->expr)))
            return -1;
        if (it->alias) {
            add_output(b, out, out->n++, e, it->alias, it->line, it->column);
            continue;
        }
        if (it->expr->kind == SL_AST_FIELD) {
            /* ksqlDB names an unaliased `a->b` after the field. */
            add_output(b, out, out->n++, e, it->expr->u.field.name, it->line, it->column);
            continue;
        }
        if (it->expr->kind != SL_AST_COLUMN) {
            char name[32];

            snprintf(name, sizeof(name), "KSQL_COL_%d", unnamed++);
            add_output(b, out, out->n++, e, name, it->line, it->column);
            continue;
        }
        pseudo ps = pseudo_column(it->expr->u.col.name);
        int bound = ps == PSEUDO_WINDOWSTART ? 0 : ps == PSEUDO_WINDOWEND ? 1 : -1;
        if (b->windowed && bound >= 0 && !have_bound[bound]) {
            have_bound[bound] = true;
            add_output(b, out, bound, e, it->expr->u.col.name, it->line, it->column);
        } else {
            add_output(b, out, out->n++, e, it->expr->u.col.name, it->line, it->column);
        }
    }
    for (int bound = 0; bound < first; bound++) {
        if (!have_bound[bound])
            add_output(b, out, bound,
                       column_expr(b, bound, SL_T_BIGINT, NULL, sel->line, sel->column),
                       bound ? "WINDOWEND" : "WINDOWSTART", sel->line, sel->column);
    }
    if (out->n > SL_MAX_COLUMNS)
        return sl_error_set(b->err, SL_ERR_LIMIT_EXCEEDED, sel->line, sel->column,
                            "more than %d result columns", SL_MAX_COLUMNS);
    for (int i = 1; i < out->n; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(out->cols[i].name, out->cols[j].name) == 0)
                return sl_error_set(b->err, SL_ERR_UNSUPPORTED, out->line[i], out->column[i],
                                    "duplicate result column name '%s' (use AS to rename)",
                                    out->cols[i].name);
        }
    }
    return 0;
}

/* The row key of an aggregation's result: WINDOWSTART, WINDOWEND, and every result
 * column that is exactly a GROUP BY expression. */
static void plan_keys(binder *b, sl_plan *plan, const outputs *out)
{
    plan->keys = sl_arena_alloc(b->arena, (size_t)out->n * sizeof(int));
    for (int i = 0; i < out->n; i++) {
        const sl_expr *e = out->exprs[i];

        if (i < b->woff ||
            (e->kind == SL_EX_COLUMN && e->u.col >= b->woff && e->u.col < b->woff + b->ngroups))
            plan->keys[plan->nkeys++] = i;
    }
}

/* Checks what the parser could not: a TIME ZONE must name a zone the catalog knows, and
 * day-aligned windows need sizes the zone's calendar can hold (docs/sql.md). */
static int check_window(binder *b, const sl_select *sel, const sl_catalog *catalog)
{
    const sl_window *w = &sel->window;
    const int64_t day = 86400000;

    if (!w->time_zone)
        return 0;
    if (!catalog->zone_exists || !catalog->zone_exists(catalog->ctx, w->time_zone))
        return sl_error_set(b->err, SL_ERR_UNSUPPORTED, sel->window_line, sel->window_column,
                            "unknown time zone '%s'", w->time_zone);
    if (w->size_ms > day && w->size_ms % day != 0)
        return sl_error_set(b->err, SL_ERR_UNSUPPORTED, sel->window_line, sel->window_column,
                            "a window longer than a day with a TIME ZONE must last whole days");
    if (w->kind == SL_WINDOW_HOPPING && (w->size_ms % day != 0 || w->advance_ms % day != 0))
        return sl_error_set(b->err, SL_ERR_UNSUPPORTED, sel->window_line, sel->window_column,
                            "a HOPPING window with a TIME ZONE must have SIZE and ADVANCE BY "
                            "in whole days");
    if (w->kind == SL_WINDOW_CUMULATING && w->size_ms % day != 0)
        return sl_error_set(b->err, SL_ERR_UNSUPPORTED, sel->window_line, sel->window_column,
                            "a CUMULATING window with a TIME ZONE must have a SIZE of whole days");
    return 0;
}

/* SORT and LIMIT above the result rows (project, with outs its columns): ORDER BY items
 * name result columns (an alias, WINDOWSTART) or are expressions over them; aggregate
 * calls and source columns that are not selected are not visible there.  Both clauses
 * are for batch queries only.  NULL with err set on error. */
static sl_node *order_and_limit(binder *b, sl_node *project, const outputs *outs)
{
    const sl_select *sel = b->sel;
    sl_schema result = {.name = "result", .ncols = outs->n, .timestamp_col = -1};
    sl_node *node = project;

    if (sel->emit != SL_EMIT_BATCH) {
        bool order = sel->norder > 0;

        sl_error_set(b->err, SL_ERR_UNSUPPORTED, order ? sel->order_line : sel->limit_line,
                     order ? sel->order_column : sel->limit_column,
                     "%s is only for batch queries (without EMIT)", order ? "ORDER BY" : "LIMIT");
        return NULL;
    }
    if (sel->norder > 0) {
        result.cols = sl_arena_alloc(b->arena, (size_t)outs->n * sizeof(sl_column));
        for (int i = 0; i < outs->n; i++)
            result.cols[i] = (sl_column){.name = outs->cols[i].name,
                                         .type = outs->cols[i].type,
                                         .desc = outs->cols[i].desc,
                                         .quoted = true};
        node = new_node(b, SL_NODE_SORT, node, project->ncols);
        memcpy(node->cols, project->cols, (size_t)project->ncols * sizeof(sl_outcol));
        node->u.sort.nkeys = sel->norder;
        node->u.sort.keys = sl_arena_alloc(b->arena, (size_t)sel->norder * sizeof(sl_expr *));
        node->u.sort.desc = sl_arena_alloc(b->arena, (size_t)sel->norder * sizeof(bool));
        b->schema = &result;
        b->col_desc = sl_arena_alloc(b->arena, (size_t)outs->n * sizeof(*b->col_desc));
        for (int i = 0; i < outs->n; i++)
            b->col_desc[i] = outs->cols[i].desc;
        b->agg_msg = "aggregate functions are not allowed in ORDER BY (order by the result "
                     "column's alias)";
        for (int k = 0; k < sel->norder; k++) {
            const sl_ast_expr *ast = sel->order[k];
            int col = -1;

            if (ast->kind == SL_AST_COLUMN && !ast->u.col.qualifier)
                for (int i = 0; i < outs->n && col < 0; i++)
                    if (strcmp(outs->cols[i].name, ast->u.col.name) == 0)
                        col = i;
            node->u.sort.keys[k] = col >= 0
                                       ? column_expr(b, col, outs->cols[col].type,
                                                     outs->cols[col].desc, ast->line, ast->column)
                                       : bind_row(b, ast);
            if (!node->u.sort.keys[k])
                return NULL;
            node->u.sort.desc[k] = sel->order_desc[k];
        }
    }
    if (sel->limit >= 0) {
        node = new_node(b, SL_NODE_LIMIT, node, project->ncols);
        memcpy(node->cols, project->cols, (size_t)project->ncols * sizeof(sl_outcol));
        node->u.limit.n = sel->limit;
    }
    return node;
}

/* Narrows [*lo, *hi] by the ROWTIME bounds in pred's top-level AND chain: comparisons
 * of ROWTIME with an integer literal (either side), and ROWTIME BETWEEN two of them.
 * Anything else is left to the FILTER: the range only lets a batch run skip stored
 * batches. */
static void rowtime_range(const sl_expr *pred, int64_t *lo, int64_t *hi)
{
    const sl_expr *l, *r;
    sl_op op;
    int64_t v;

    if (pred->kind == SL_EX_NARY && pred->u.nary.op == SL_OP_BETWEEN && !pred->u.nary.negated &&
        pred->u.nary.args[0]->kind == SL_EX_ROWTIME) {
        sl_expr ge = {.kind = SL_EX_BINARY,
                      .u.binary = {SL_OP_GE, pred->u.nary.args[0], pred->u.nary.args[1]}};
        sl_expr le = {.kind = SL_EX_BINARY,
                      .u.binary = {SL_OP_LE, pred->u.nary.args[0], pred->u.nary.args[2]}};

        rowtime_range(&ge, lo, hi);
        rowtime_range(&le, lo, hi);
        return;
    }
    if (pred->kind != SL_EX_BINARY)
        return;
    op = pred->u.binary.op;
    l = pred->u.binary.left;
    r = pred->u.binary.right;
    if (op == SL_OP_AND) {
        rowtime_range(l, lo, hi);
        rowtime_range(r, lo, hi);
        return;
    }
    if (r->kind == SL_EX_ROWTIME && l->kind == SL_EX_LITERAL) {
        const sl_expr *t = l;

        l = r;
        r = t;
        op = op == SL_OP_LT   ? SL_OP_GT
             : op == SL_OP_GT ? SL_OP_LT
             : op == SL_OP_LE ? SL_OP_GE
             : op == SL_OP_GE ? SL_OP_LE
                              : op;
    }
    if (l->kind != SL_EX_ROWTIME || r->kind != SL_EX_LITERAL ||
        (r->u.lit.type != SL_T_INT && r->u.lit.type != SL_T_BIGINT))
        return;
    v = r->u.lit.u.i;
    if ((op == SL_OP_GE || op == SL_OP_EQ) && v > *lo)
        *lo = v;
    if (op == SL_OP_GT && v != INT64_MAX && v + 1 > *lo)
        *lo = v + 1;
    if ((op == SL_OP_LE || op == SL_OP_EQ) && v < *hi)
        *hi = v;
    if (op == SL_OP_LT && v != INT64_MIN && v - 1 < *hi)
        *hi = v - 1;
}

/* The index of the first GROUP BY expression that no result column is exactly, or -1. */
static int unselected_group(const binder *b, const outputs *out)
{
    for (int g = 0; g < b->ngroups; g++) {
        bool found = false;

        for (int i = 0; i < out->n && !found; i++)
            found = out->exprs[i]->kind == SL_EX_COLUMN && out->exprs[i]->u.col == b->woff + g;
        if (!found)
            return g;
    }
    return -1;
}

/* True when the query aggregates: GROUP BY, HAVING, or an aggregate call in its SELECT
 * list. */
static bool is_aggregation(const sl_select *sel)
{
    if (sel->ngroups > 0 || sel->having)
        return true;
    for (int i = 0; i < sel->nitems; i++) {
        if (sel->items[i].expr && contains_agg(sel->items[i].expr, false))
            return true;
    }
    return false;
}

int sl_plan_build(const sl_select *sel, const sl_catalog *catalog, sl_plan **out, sl_error *err)
{
    sl_plan *plan = sl_xcalloc(1, sizeof(*plan));
    binder b = {.err = err, .sel = sel, .catalog = catalog};
    outputs outs = {0};
    sl_expr *having = NULL;
    sl_node *node;
    bool agg = is_aggregation(sel);

    *out = NULL;
    sl_error_clear(err);
    plan->arena = b.arena = sl_arena_new();
    plan->rowtime_lo = INT64_MIN;
    plan->rowtime_hi = INT64_MAX;
    if (!(b.schema = catalog->lookup(catalog->ctx, sel->from))) {
        sl_error_set(err, SL_ERR_UNKNOWN_STREAM, sel->from_line, sel->from_column,
                     "unknown stream '%s'", sel->from);
        goto fail;
    }
    if (sel->window.kind != SL_WINDOW_NONE && !agg) {
        sl_error_set(err, SL_ERR_UNSUPPORTED, sel->window_line, sel->window_column,
                     "WINDOW requires GROUP BY or an aggregate function");
        goto fail;
    }
    if (sel->emit == SL_EMIT_FINAL && sel->window.kind == SL_WINDOW_NONE) {
        sl_error_set(err, SL_ERR_UNSUPPORTED, sel->emit_line, sel->emit_column,
                     "EMIT FINAL requires a windowed aggregation");
        goto fail;
    }
    if (sel->emit_every_ms > 0 && !agg) {
        sl_error_set(err, SL_ERR_UNSUPPORTED, sel->emit_line, sel->emit_column,
                     "EMIT CHANGES EVERY requires an aggregation");
        goto fail;
    }
    if (check_window(&b, sel, catalog) < 0)
        goto fail;

    /* SOURCE: the stream's columns, copied. */
    plan->source = sl_arena_strdup(b.arena, b.schema->name);
    node = new_node(&b, SL_NODE_SOURCE, NULL, b.schema->ncols);
    node->u.source.stream = plan->source;
    b.col_desc = sl_arena_alloc(b.arena, (size_t)(b.schema->ncols + 1) * sizeof(*b.col_desc));
    for (int i = 0; i < b.schema->ncols; i++) {
        node->cols[i].name = sl_arena_strdup(b.arena, b.schema->cols[i].name);
        node->cols[i].type = b.schema->cols[i].type;
        node->cols[i].desc = b.col_desc[i] = sl_typedesc_copy(b.schema->cols[i].desc, b.arena);
    }

    if (sel->where) {
        sl_expr *pred;

        b.agg_msg = "aggregate functions are not allowed in WHERE";
        if (!(pred = bind_predicate(&b, sel->where, false, "WHERE", sel->where_line,
                                    sel->where_column)))
            goto fail;
        node = new_node(&b, SL_NODE_FILTER, node, node->ncols);
        node->u.filter.pred = pred;
        rowtime_range(pred, &plan->rowtime_lo, &plan->rowtime_hi);
    }

    if (agg) {
        b.windowed = sel->window.kind != SL_WINDOW_NONE;
        b.woff = b.windowed ? 2 : 0;
        b.agg_msg = "aggregate functions are not allowed in GROUP BY";
        b.groups = sl_arena_alloc(b.arena, (size_t)sel->ngroups * sizeof(*b.groups));
        for (int i = 0; i < sel->ngroups; i++) {
            if (!(b.groups[i] = bind_row(&b, sel->groups[i])))
                goto fail;
            b.ngroups++;
        }
    }
    if (bind_outputs(&b, agg, &outs) < 0)
        goto fail;
    if (sel->having && !(having = bind_predicate(&b, sel->having, true, "HAVING", sel->having_line,
                                                 sel->having_column)))
        goto fail;
    if (agg) {
        node = aggregate_node(&b, node);
        if (having) {
            node = new_node(&b, SL_NODE_FILTER, node, node->ncols);
            node->u.filter.pred = having;
        }
        plan_keys(&b, plan, &outs);
        if (sel->emit != SL_EMIT_BATCH && unselected_group(&b, &outs) >= 0) {
            const sl_ast_expr *g = sel->groups[unselected_group(&b, &outs)];

            sl_error_set(err, SL_ERR_UNSUPPORTED, g->line, g->column,
                         "a continuous query must select every GROUP BY expression (as "
                         "itself), or its rows' keys would be incomplete");
            goto fail;
        }
    }

    node = new_node(&b, SL_NODE_PROJECT, node, outs.n);
    node->u.project.nexprs = outs.n;
    node->u.project.exprs = outs.exprs;
    memcpy(node->cols, outs.cols, (size_t)outs.n * sizeof(*outs.cols));

    if ((sel->norder > 0 || sel->limit >= 0) && !(node = order_and_limit(&b, node, &outs)))
        goto fail;

    plan->root = node;
    plan->emit = sel->emit;
    plan->aggregate = agg;
    plan->windowed = b.windowed;
    plan->ncols = node->ncols;
    plan->cols = node->cols;
    *out = plan;
    return 0;

fail:
    sl_plan_free(plan);
    return -1;
}

void sl_plan_free(sl_plan *plan)
{
    if (!plan)
        return;
    sl_arena_free(plan->arena);
    free(plan);
}
