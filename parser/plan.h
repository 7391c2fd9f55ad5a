/* plan.h: bound expressions and immutable operator plans.
 *
 * sl_plan_build binds a SELECT's AST against the catalog (names resolved, types
 * checked, aggregates found) and lays out a pipeline of operator nodes.  Once built, a
 * plan is never modified: the engine keeps all run-time state elsewhere (PostgreSQL's
 * plan/state split), so one plan may back several running queries.  Everything a plan
 * points to lives in its arena, type descriptors included.
 *
 * Row layouts.  Every node consumes rows of its input's layout and produces rows of its
 * own layout (ncols/cols).  An expression's SL_EX_COLUMN refers to a column index of
 * the row the expression is evaluated on; SL_EX_ROWTIME reads the row's rowtime.
 *   SOURCE     the stream's columns, in declaration order; row->rowtime is ROWTIME.
 *   FILTER     same layout as its input.
 *   AGGREGATE  [WINDOWSTART, WINDOWEND] (only when windowed), then one column per GROUP
 *              BY expression, then one per aggregate call.  Its group and aggregate
 *              argument expressions are evaluated on its input rows.
 *   PROJECT    one column per expression, evaluated on its input rows.
 *   SORT, LIMIT  same layout as their input (the result columns); batch only.
 * A typical plan: SOURCE -> FILTER(where) -> AGGREGATE -> FILTER(having) -> PROJECT.
 * The PROJECT of a windowed aggregate puts WINDOWSTART and WINDOWEND first whether or
 * not the query selected them (SPEC section 2). */
#ifndef SL_PLAN_H
#define SL_PLAN_H

#include "buf.h"
#include "error.h"
#include "mem.h"
#include "parse.h"
#include "schema.h"
#include "typedesc.h"
#include "value.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum sl_op {
#define X(name, sym, arity) SL_OP_##name,
#include "ops.def"
#undef X
    SL_OP__COUNT
} sl_op;

typedef enum sl_agg_fn {
#define X(name, sqlname, minargs, maxargs) SL_AGG_##name,
#include "aggs.def"
#undef X
    SL_AGG__COUNT
} sl_agg_fn;

/* Scalar functions (functions.def); server/engine/func.c evaluates them. */
typedef enum sl_func {
#define X(name, minargs, maxargs, rule) SL_FN_##name,
#include "functions.def"
#undef X
    SL_FN__COUNT
} sl_func;

typedef enum sl_expr_kind {
    SL_EX_LITERAL, /* u.lit; a VARCHAR literal's bytes live in the plan's arena */
    SL_EX_COLUMN,  /* u.col: index into the evaluated row */
    SL_EX_ROWTIME, /* the evaluated row's rowtime, BIGINT */
    SL_EX_UNARY,   /* u.unary */
    SL_EX_BINARY,  /* u.binary */
    SL_EX_CAST,    /* u.cast: the argument converted to e->type */
    SL_EX_NARY,    /* u.nary: LIKE, IN, BETWEEN, CASE (see below) */
    SL_EX_CALL,    /* u.call: a scalar function; its value is widened to e->type */
    SL_EX_FIELD,   /* u.field: a STRUCT's field (`arg->name`) */
    SL_EX_CTOR     /* u.ctor: a new ARRAY, MAP or STRUCT of type e->desc */
} sl_expr_kind;

typedef struct sl_expr sl_expr;
struct sl_expr {
    sl_expr_kind kind;
    sl_type type;            /* result type; SL_T_NULL only for a bare NULL literal */
    const sl_typedesc *desc; /* its parameters (DECIMAL, ARRAY, MAP, STRUCT), else NULL */
    int line, column;        /* position in the SQL text, for errors and EXPLAIN */
    union {
        sl_value lit;
        int col;
        struct {
            sl_op op;
            sl_expr *arg;
        } unary;
        struct {
            sl_op op;
            sl_expr *left, *right;
        } binary;
        struct {
            sl_expr *arg;
        } cast;
        /* Operands by op: LIKE [x, pattern] or [x, pattern, escape]; IN [x, v1, ...];
         * BETWEEN [x, low, high]; CASE [operand if has_operand, when1, then1, ...,
         * else if has_else].  negated: NOT LIKE, NOT IN, NOT BETWEEN.  A CASE's result
         * is widened to e->type. */
        struct {
            sl_op op;
            bool negated, has_operand, has_else;
            int nargs;
            sl_expr **args;
        } nary;
        struct {
            sl_func fn;
            int nargs;
            sl_expr **args;
        } call;
        struct {
            sl_expr *arg; /* of type STRUCT */
            int index;    /* the field's index in arg->desc */
        } field;
        /* ARRAY: the elements; MAP: keys and values alternately; STRUCT: one value per
         * field of e->desc.  Each value is widened to its element or field type. */
        struct {
            int nargs;
            sl_expr **args;
        } ctor;
    } u;
};

typedef enum sl_window_kind {
    SL_WINDOW_NONE,
    SL_WINDOW_TUMBLING,   /* [k*size, +size) */
    SL_WINDOW_HOPPING,    /* [k*advance, +size): every window holding the row */
    SL_WINDOW_SESSION,    /* per group, rows closer than size_ms (the gap) */
    SL_WINDOW_SLIDING,    /* per row at t: (t - size, t], reported as [t-size+1, t+1) */
    SL_WINDOW_CUMULATING, /* [k*size, k*size + j*step) for j = 1 .. size/step */
    SL_WINDOW_COUNT       /* per group, rows numbered [k*advance, +count) */
} sl_window_kind;

typedef struct sl_window {
    sl_window_kind kind;
    int64_t size_ms;    /* SIZE; the gap of a SESSION; the row count n of COUNT */
    int64_t advance_ms; /* ADVANCE BY (rows for COUNT); == size_ms for TUMBLING; the STEP
                           of CUMULATING; 0 for SESSION and SLIDING */
    int64_t grace_ms;   /* GRACE PERIOD, default 0; always 0 for COUNT */
    char *time_zone;    /* TIME ZONE 'name' (plan-owned), NULL for UTC */
} sl_window;

typedef enum sl_emit {
    SL_EMIT_BATCH,   /* no EMIT: run once over the stored history */
    SL_EMIT_CHANGES, /* EMIT CHANGES */
    SL_EMIT_FINAL    /* EMIT FINAL (windowed aggregates only) */
} sl_emit;

typedef struct sl_aggcall {
    sl_agg_fn fn;
    sl_expr *arg;            /* NULL for COUNT(*) */
    sl_type type;            /* result type: COUNT BIGINT, SUM of INT/BIGINT BIGINT, SUM of DOUBLE
                                DOUBLE, SUM of DECIMAL that DECIMAL, AVG DOUBLE, MIN/MAX the argument's type,
                                TOPK and            COLLECT_* ARRAY of the argument's type */
    double param;            /* the constant second argument: p of PERCENTILE_APPROX, k of TOPK */
    const sl_typedesc *desc; /* the result type's parameters, or NULL */
} sl_aggcall;

typedef struct sl_outcol {
    char *name; /* output name: alias, column name, or KSQL_COL_<n> */
    sl_type type;
    const sl_typedesc *desc; /* the type's parameters (DECIMAL, ARRAY, MAP, STRUCT), or NULL */
} sl_outcol;

typedef enum sl_node_kind {
    SL_NODE_SOURCE,
    SL_NODE_FILTER,
    SL_NODE_AGGREGATE,
    SL_NODE_PROJECT,
    SL_NODE_SORT, /* ORDER BY (batch only): all rows at the end of input, sorted */
    SL_NODE_LIMIT /* LIMIT (batch only): the first n rows */
} sl_node_kind;

typedef struct sl_node sl_node;
struct sl_node {
    sl_node_kind kind;
    sl_node *input; /* NULL for SOURCE */
    int ncols;      /* this node's output layout */
    sl_outcol *cols;
    union {
        struct {
            char *stream; /* normalised stream name */
        } source;
        struct {
            sl_expr *pred; /* keeps rows where pred is TRUE (not FALSE, not NULL) */
        } filter;
        struct {
            sl_window window; /* kind NONE for a plain GROUP BY */
            sl_emit emit;     /* when this node emits: on every change, or on close */
            int64_t every_ms; /* EMIT CHANGES EVERY: the micro-batch period; 0 when none */
            int ngroups;
            sl_expr **groups;
            int naggs;
            sl_aggcall *aggs;
        } aggregate;
        struct {
            int nexprs;
            sl_expr **exprs;
        } project;
        struct {
            int nkeys;
            sl_expr **keys; /* evaluated on the result rows */
            bool *desc;     /* per key: descending (NULLs last) */
        } sort;
        struct {
            int64_t n;
        } limit;
    } u;
};

typedef struct sl_plan {
    sl_arena *arena;
    sl_node *root; /* its output is the query's result */
    char *source;  /* the stream the query reads */
    sl_emit emit;
    bool aggregate; /* has an AGGREGATE node */
    bool windowed;  /* the AGGREGATE node has a window */
    int ncols;      /* == root->ncols / root->cols: the result columns */
    sl_outcol *cols;
    int64_t rowtime_lo, rowtime_hi; /* WHERE keeps only ROWTIMEs in [lo, hi] (read from
                                       its top-level ANDs; INT64_MIN, INT64_MAX: any) */
    int nkeys; /* result columns that form the row key (upserts): WINDOWSTART, */
    int *keys; /* WINDOWEND and the grouping columns; 0 for non-aggregates */
} sl_plan;

/* Binds and plans a SELECT (from an sl_stmt of kind SELECT or EXPLAIN).  emit comes from
 * the statement's EMIT clause (SL_EMIT_BATCH when there is none).  Errors carry line and
 * column: UNKNOWN_STREAM, UNKNOWN_COLUMN, TYPE_ERROR, UNSUPPORTED (e.g. EMIT FINAL
 * without a window, a non-aggregated column outside GROUP BY).  On success *out is a new
 * plan the caller frees with sl_plan_free. The catalog is only used during the call. */
int sl_plan_build(const sl_select *select, const sl_catalog *catalog, sl_plan **out, sl_error *err);

/* Frees a plan and its arena. Accepts NULL. */
void sl_plan_free(sl_plan *plan);

/* A readable, indented tree of the plan, one node a line, root first, e.g.
 *   PROJECT [WINDOWSTART, WINDOWEND, PAGEID, C := COUNT(*)]
 *     AGGREGATE TUMBLING(SIZE 60000 ms, GRACE 0 ms) EMIT FINAL GROUP BY [PAGEID]
 *       SOURCE PAGEVIEWS
 * Caller frees the returned string. */
char *sl_plan_explain(const sl_plan *plan);

/* Appends e in SQL form to out ("(PRICE * 2) > 10", "'it''s'"), naming each SL_EX_COLUMN
 * after cols, the layout e is evaluated on (both borrowed).  Operands that are not
 * leaves are parenthesised.  EXPLAIN uses it, and so do the names of aggregate columns. */
void sl_expr_format(const sl_expr *e, const sl_outcol *cols, sl_buf *out);

/* The SQL spelling of an operator and the name of an aggregate or scalar function. */
const char *sl_op_name(sl_op op);
const char *sl_agg_name(sl_agg_fn fn);
const char *sl_func_name(sl_func fn);

#endif
