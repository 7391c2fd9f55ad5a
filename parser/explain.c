/* explain.c: plans and expressions as text (sl_plan_explain, sl_expr_format).
 *
 * A plan prints as an indented tree, root first, one node a line, each child two
 * spaces deeper than its parent.  Expressions print in SQL form with the column names
 * of the layout they are evaluated on, so a PROJECT over an AGGREGATE shows the
 * aggregate's columns ("C := COUNT(*)").  Invariant: formatting recurses no deeper than
 * the expression's height, which the parser bounds by SL_MAX_EXPR_DEPTH. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A double in the shortest form that reads back as the same value, always with a
 * decimal point or an exponent so that it does not read as an integer. */
static void format_double(double d, sl_buf *out)
{
    char text[40];

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    sl_buf_puts(out, text);
    if (!strpbrk(text, ".eEn"))
        sl_buf_puts(out, ".0");
}

static void format_value(const sl_value *v, sl_buf *out)
{
    switch (v->type) {
    case SL_T_NULL:
        sl_buf_puts(out, "NULL");
        break;
    case SL_T_BOOLEAN:
        sl_buf_puts(out, v->u.b ? "TRUE" : "FALSE");
        break;
    case SL_T_INT:
    case SL_T_BIGINT:
    case SL_T_TIMESTAMP:
        sl_buf_printf(out, "%lld", (long long)v->u.i);
        break;
    case SL_T_DOUBLE:
        format_double(v->u.d, out);
        break;
    case SL_T_VARCHAR:
        sl_buf_putc(out, '\'');
        for (uint32_t i = 0; i < v->u.s.len; i++) {
            if (v->u.s.ptr[i] == '\'')
                sl_buf_putc(out, '\'');
            sl_buf_putc(out, v->u.s.ptr[i]);
        }
        sl_buf_putc(out, '\'');
        break;
    default:
        sl_buf_puts(out, "?");
        break;
    }
}

/* An operand: leaves as they are, anything else in parentheses.  A column whose name
 * has a space (an aggregate's column for a GROUP BY expression, "DURATION + 1") is not
 * a leaf to the reader, so it is parenthesised too. */
static void format_operand(const sl_expr *e, const sl_outcol *cols, sl_buf *out)
{
    bool leaf = e->kind == SL_EX_LITERAL || e->kind == SL_EX_ROWTIME ||
                (e->kind == SL_EX_COLUMN && !strchr(cols[e->u.col].name, ' '));

    if (!leaf)
        sl_buf_putc(out, '(');
    sl_expr_format(e, cols, out);
    if (!leaf)
        sl_buf_putc(out, ')');
}

void sl_expr_format(const sl_expr *e, const sl_outcol *cols, sl_buf *out)
{
    switch (e->kind) {
    case SL_EX_LITERAL:
        format_value(&e->u.lit, out);
        break;
    case SL_EX_COLUMN:
        sl_buf_puts(out, cols[e->u.col].name);
        break;
    case SL_EX_ROWTIME:
        sl_buf_puts(out, "ROWTIME");
        break;
    case SL_EX_UNARY:
        if (e->u.unary.op == SL_OP_IS_NULL || e->u.unary.op == SL_OP_IS_NOT_NULL) {
            format_operand(e->u.unary.arg, cols, out);
            sl_buf_printf(out, " %s", sl_op_name(e->u.unary.op));
        } else {
            sl_buf_puts(out, e->u.unary.op == SL_OP_NOT ? "NOT " : "-");
            format_operand(e->u.unary.arg, cols, out);
        }
        break;
    case SL_EX_BINARY:
        format_operand(e->u.binary.left, cols, out);
        sl_buf_printf(out, " %s ", sl_op_name(e->u.binary.op));
        format_operand(e->u.binary.right, cols, out);
        break;
    }
}

static void format_project(const sl_node *n, sl_buf *out)
{
    sl_buf expr = SL_BUF_INIT;

    sl_buf_puts(out, "PROJECT [");
    for (int i = 0; i < n->u.project.nexprs; i++) {
        sl_buf_reset(&expr);
        sl_expr_format(n->u.project.exprs[i], n->input->cols, &expr);
        if (i > 0)
            sl_buf_puts(out, ", ");
        if (strcmp(expr.data, n->cols[i].name) != 0)
            sl_buf_printf(out, "%s := ", n->cols[i].name);
        sl_buf_puts(out, expr.data);
    }
    sl_buf_putc(out, ']');
    sl_buf_free(&expr);
}

static void format_aggregate(const sl_node *n, sl_buf *out)
{
    const sl_window *w = &n->u.aggregate.window;

    sl_buf_puts(out, "AGGREGATE");
    if (w->kind == SL_WINDOW_TUMBLING)
        sl_buf_printf(out, " TUMBLING(SIZE %lld ms, GRACE %lld ms)", (long long)w->size_ms,
                      (long long)w->grace_ms);
    if (n->u.aggregate.emit == SL_EMIT_CHANGES)
        sl_buf_puts(out, " EMIT CHANGES");
    else if (n->u.aggregate.emit == SL_EMIT_FINAL)
        sl_buf_puts(out, " EMIT FINAL");
    if (n->u.aggregate.ngroups > 0) {
        sl_buf_puts(out, " GROUP BY [");
        for (int i = 0; i < n->u.aggregate.ngroups; i++) {
            if (i > 0)
                sl_buf_puts(out, ", ");
            sl_expr_format(n->u.aggregate.groups[i], n->input->cols, out);
        }
        sl_buf_putc(out, ']');
    }
}

char *sl_plan_explain(const sl_plan *plan)
{
    sl_buf out = SL_BUF_INIT;
    int depth = 0;

    for (const sl_node *n = plan->root; n; n = n->input, depth++) {
        sl_buf_printf(&out, "%*s", 2 * depth, "");
        switch (n->kind) {
        case SL_NODE_SOURCE:
            sl_buf_printf(&out, "SOURCE %s", n->u.source.stream);
            break;
        case SL_NODE_FILTER:
            sl_buf_puts(&out, "FILTER ");
            sl_expr_format(n->u.filter.pred, n->input->cols, &out);
            break;
        case SL_NODE_AGGREGATE:
            format_aggregate(n, &out);
            break;
        case SL_NODE_PROJECT:
            format_project(n, &out);
            break;
        }
        sl_buf_putc(&out, '\n');
    }
    return sl_buf_steal(&out);
}
