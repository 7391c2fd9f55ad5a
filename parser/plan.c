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
#include "limits.h"

#include <assert.h>
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
    const sl_select *sel;    /* borrowed for the call */
    const sl_schema *schema; /* borrowed from the catalog for the call */
    const char *agg_msg;     /* the error for an aggregate call in the row context */
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
    }
    return false;
}

/* Structural equality of bound expressions (a literal's type included: 2 is not 2.0). */
static bool expr_equal(const sl_expr *a, const sl_expr *b)
{
    if (a->kind != b->kind || a->type != b->type)
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

static sl_expr *column_expr(binder *b, int col, sl_type type, int line, int column)
{
    sl_expr *e = new_expr(b, SL_EX_COLUMN, type, line, column);

    e->u.col = col;
    return e;
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
 * like with like; an untyped NULL with anything. */
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

/* INT op INT is INT; with a BIGINT, BIGINT; with a DOUBLE, DOUBLE.  NULL op NULL is
 * typed BIGINT (its value is NULL whatever the type). */
static sl_type arith_type(sl_type a, sl_type b)
{
    if (a == SL_T_DOUBLE || b == SL_T_DOUBLE)
        return SL_T_DOUBLE;
    if (a == SL_T_BIGINT || b == SL_T_BIGINT)
        return SL_T_BIGINT;
    if (a == SL_T_INT || b == SL_T_INT)
        return SL_T_INT;
    return SL_T_BIGINT;
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
    e->u.unary.op = op;
    e->u.unary.arg = arg;
    return e;

mismatch:
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, line, column, "cannot apply '%s' to %s", sl_op_name(op),
                 sl_type_name(t));
    return NULL;
}

/* A type-checked binary node over l and r (arena-owned); NULL with TYPE_ERROR. */
static sl_expr *make_binary(binder *b, sl_op op, sl_expr *l, sl_expr *r, int line, int column)
{
    sl_type lt = l->type, rt = r->type, t = SL_T_BOOLEAN;

    switch (op) {
    case SL_OP_ADD:
    case SL_OP_SUB:
    case SL_OP_MUL:
    case SL_OP_DIV:
    case SL_OP_MOD:
        if (!numeric_or_null(lt) || !numeric_or_null(rt))
            goto mismatch;
        t = arith_type(lt, rt);
        break;
    case SL_OP_AND:
    case SL_OP_OR:
        if ((lt != SL_T_NULL && lt != SL_T_BOOLEAN) || (rt != SL_T_NULL && rt != SL_T_BOOLEAN))
            goto mismatch;
        break;
    default:
        if (!comparable(lt, rt))
            goto mismatch;
        break;
    }
    sl_expr *e = new_expr(b, SL_EX_BINARY, t, line, column);
    e->u.binary.op = op;
    e->u.binary.left = l;
    e->u.binary.right = r;
    return e;

mismatch:
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, line, column, "cannot apply '%s' to %s and %s",
                 sl_op_name(op), sl_type_name(lt), sl_type_name(rt));
    return NULL;
}

static sl_expr *bind_literal(binder *b, const sl_ast_expr *ast)
{
    sl_expr *e = new_expr(b, SL_EX_LITERAL, ast->u.lit.type, ast->line, ast->column);

    e->u.lit = ast->u.lit;
    if (e->u.lit.type == SL_T_VARCHAR)
        e->u.lit.u.s.ptr = sl_arena_strndup(b->arena, ast->u.lit.u.s.ptr, ast->u.lit.u.s.len);
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
    return column_expr(b, i, b->schema->cols[i].type, ast->line, ast->column);
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
    case SL_AST_CALL:
        break;
    }
    return call_error(b, ast);
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
    if (nargs == 1) {
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
        type = arg->type == SL_T_DOUBLE ? SL_T_DOUBLE : SL_T_BIGINT;
        break;
    case SL_AGG_AVG:
        if (!sl_type_is_numeric(arg->type))
            goto mismatch;
        type = SL_T_DOUBLE;
        break;
    case SL_AGG_MIN:
    case SL_AGG_MAX:
        if (arg->type == SL_T_NULL)
            goto mismatch;
        type = arg->type;
        break;
    }
    for (slot = 0; slot < b->naggs; slot++) {
        const sl_aggcall *a = &b->aggs[slot];

        if (a->fn == fn && (a->arg == arg || (a->arg && arg && expr_equal(a->arg, arg))))
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
        b->aggs[b->naggs++] = (sl_aggcall){.fn = fn, .arg = arg, .type = type};
    }
    return column_expr(b, b->woff + b->ngroups + slot, type, ast->line, ast->column);

mismatch:
    sl_error_set(b->err, SL_ERR_TYPE_ERROR, ast->line, ast->column, "cannot apply %s to %s", name,
                 sl_type_name(arg->type));
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
        return fn < 0 ? call_error(b, ast) : bind_aggcall(b, ast, (sl_agg_fn)fn);
    }
    case SL_AST_COLUMN: {
        pseudo ps = pseudo_column(ast->u.col.name);

        if (ps != PSEUDO_WINDOWSTART && ps != PSEUDO_WINDOWEND)
            break;
        if (check_qualifier(b, ast) < 0)
            return NULL;
        if (!b->windowed)
            return window_bound_error(b, ast);
        return column_expr(b, ps == PSEUDO_WINDOWSTART ? 0 : 1, SL_T_BIGINT, ast->line,
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
                return column_expr(b, b->woff + i, e->type, ast->line, ast->column);
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
    assert(ast->kind == SL_AST_BINARY);
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
                     sl_type_name(e->type));
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

/* Formats e on the layout cols into an arena string, wrapped as prefix(e) when prefix
 * is given. */
static char *expr_name(binder *b, const char *prefix, const sl_expr *e, const sl_outcol *cols)
{
    sl_buf buf = SL_BUF_INIT;
    char *name;

    if (prefix)
        sl_buf_printf(&buf, "%s(", prefix);
    if (e)
        sl_expr_format(e, cols, &buf);
    else
        sl_buf_putc(&buf, '*');
    if (prefix)
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
    n->u.aggregate.emit = sel->emit;
    n->u.aggregate.ngroups = b->ngroups;
    n->u.aggregate.groups = b->groups;
    n->u.aggregate.naggs = b->naggs;
    n->u.aggregate.aggs = b->aggs;
    if (b->windowed) {
        n->cols[0] = (sl_outcol){sl_arena_strdup(b->arena, "WINDOWSTART"), SL_T_BIGINT};
        n->cols[1] = (sl_outcol){sl_arena_strdup(b->arena, "WINDOWEND"), SL_T_BIGINT};
    }
    for (int i = 0; i < b->ngroups; i++) {
        const sl_expr *g = b->groups[i];
        sl_outcol *c = &n->cols[b->woff + i];

        c->type = g->type;
        c->name = g->kind == SL_EX_COLUMN ? sl_arena_strdup(b->arena, input->cols[g->u.col].name)
                                          : expr_name(b, NULL, g, input->cols);
    }
    for (int i = 0; i < b->naggs; i++) {
        sl_outcol *c = &n->cols[b->woff + b->ngroups + i];

        c->type = b->aggs[i].type;
        c->name = expr_name(b, agg_names[b->aggs[i].fn], b->aggs[i].arg, input->cols);
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
            add_output(b, out, bound, column_expr(b, bound, SL_T_BIGINT, sel->line, sel->column),
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
    binder b = {.err = err, .sel = sel};
    outputs outs = {0};
    sl_expr *having = NULL;
    sl_node *node;
    bool agg = is_aggregation(sel);

    *out = NULL;
    sl_error_clear(err);
    plan->arena = b.arena = sl_arena_new();
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

    /* SOURCE: the stream's columns, copied. */
    plan->source = sl_arena_strdup(b.arena, b.schema->name);
    node = new_node(&b, SL_NODE_SOURCE, NULL, b.schema->ncols);
    node->u.source.stream = plan->source;
    for (int i = 0; i < b.schema->ncols; i++) {
        node->cols[i].name = sl_arena_strdup(b.arena, b.schema->cols[i].name);
        node->cols[i].type = b.schema->cols[i].type;
    }

    if (sel->where) {
        sl_expr *pred;

        b.agg_msg = "aggregate functions are not allowed in WHERE";
        if (!(pred = bind_predicate(&b, sel->where, false, "WHERE", sel->where_line,
                                    sel->where_column)))
            goto fail;
        node = new_node(&b, SL_NODE_FILTER, node, node->ncols);
        node->u.filter.pred = pred;
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
    }

    node = new_node(&b, SL_NODE_PROJECT, node, outs.n);
    node->u.project.nexprs = outs.n;
    node->u.project.exprs = outs.exprs;
    memcpy(node->cols, outs.cols, (size_t)outs.n * sizeof(*outs.cols));

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
