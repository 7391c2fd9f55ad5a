/* ast.h: the syntax tree of a SELECT, private to the compiler (parse.c builds it,
 * plan.c binds it).
 *
 * Everything here lives in the statement list's arena and is read-only once parsed.
 * Names are normalised as the lexer's identifiers are (unquoted: upper case; quoted: as
 * written).  Every node keeps the 1-based line and column of the token it starts at (for
 * a binary operator: the operator), so that the binder can point at what is wrong.
 * Invariant: an expression's height (1 for a leaf) never exceeds SL_MAX_EXPR_DEPTH, so
 * that walking it recursively is safe. */
#ifndef SL_AST_H
#define SL_AST_H

#include "parse.h"
#include "plan.h"
#include "typedesc.h"
#include "value.h"

#include <stdbool.h>

typedef enum sl_ast_kind {
    SL_AST_LITERAL, /* u.lit: NULL, BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL or VARCHAR */
    SL_AST_COLUMN,  /* u.col: a column, or ROWTIME / WINDOWSTART / WINDOWEND */
    SL_AST_UNARY,   /* u.unary: NOT, NEG, IS_NULL, IS_NOT_NULL */
    SL_AST_BINARY,  /* u.binary */
    SL_AST_CALL,    /* u.call: a function call, aggregate or scalar */
    SL_AST_CAST,    /* u.cast: CAST(arg AS type) */
    SL_AST_NARY,    /* u.nary: [NOT] LIKE, [NOT] IN, [NOT] BETWEEN, CASE */
    SL_AST_FIELD,   /* u.field: `arg->name` (a STRUCT's field) */
    SL_AST_CTOR     /* u.ctor: ARRAY[...], MAP(k := v, ...), STRUCT(name := v, ...) */
} sl_ast_kind;

typedef struct sl_ast_expr sl_ast_expr;
struct sl_ast_expr {
    sl_ast_kind kind;
    int line, column;
    int height; /* 1 for a leaf, else 1 + the tallest child */
    union {
        sl_value lit; /* a VARCHAR's bytes live in the arena */
        struct {
            char *qualifier; /* stream name or alias before '.', NULL when none */
            char *name;
        } col;
        struct {
            sl_op op;
            sl_ast_expr *arg;
        } unary;
        struct {
            sl_op op;
            sl_ast_expr *left, *right;
        } binary;
        struct {
            char *name;
            bool star; /* COUNT(*) */
            int nargs;
            sl_ast_expr **args;
        } call;
        struct {
            sl_ast_expr *arg;
            sl_type type;
            const sl_typedesc *desc; /* the type's parameters, or NULL */
        } cast;
        struct {
            sl_ast_expr *arg;
            char *name; /* normalised */
        } field;
        /* ARRAY: the elements; MAP: keys and values alternately; STRUCT: the values,
         * named by names[] (quoted[] says which were quoted). */
        struct {
            sl_type kind; /* SL_T_ARRAY, SL_T_MAP or SL_T_STRUCT */
            int nargs;
            sl_ast_expr **args;
            char **names;
            bool *quoted;
        } ctor;
        /* Operands as in plan.h's SL_EX_NARY: LIKE [x, pattern(, escape)], IN [x, v...],
         * BETWEEN [x, low, high], CASE [(operand,) when, then, ...(, else)]. */
        struct {
            sl_op op;
            bool negated;     /* NOT LIKE, NOT IN, NOT BETWEEN */
            bool has_operand; /* CASE x WHEN ... (simple CASE) */
            bool has_else;    /* CASE ... ELSE r END */
            int nargs;
            sl_ast_expr **args;
        } nary;
    } u;
};

/* One element of the SELECT list: an expression, or a star (all columns). */
typedef struct sl_select_item {
    sl_ast_expr *expr;    /* NULL for a star */
    char *star_qualifier; /* `x.*`: x; NULL for a plain `*` or an expression */
    char *alias;          /* AS alias, NULL when none */
    int line, column;     /* where the item starts */
} sl_select_item;

struct sl_select {
    int line, column; /* the SELECT keyword */
    int nitems;
    sl_select_item *items;
    char *from; /* the stream's normalised name */
    int from_line, from_column;
    char *alias;      /* FROM stream [AS] alias; NULL when none */
    sl_window window; /* kind SL_WINDOW_NONE when there is no WINDOW clause */
    int window_line, window_column;
    sl_ast_expr *where; /* NULL when none */
    int where_line, where_column;
    int ngroups;
    sl_ast_expr **groups;
    sl_ast_expr *having; /* NULL when none */
    int having_line, having_column;
    int norder; /* ORDER BY items; 0 when none */
    sl_ast_expr **order;
    bool *order_desc; /* DESC, per item */
    int order_line, order_column;
    int64_t limit; /* LIMIT n; -1 when none */
    int limit_line, limit_column;
    sl_emit emit;          /* SL_EMIT_BATCH when there is no EMIT clause */
    int64_t emit_every_ms; /* EMIT CHANGES EVERY n unit; 0 when none */
    int emit_line, emit_column;
};

#endif
