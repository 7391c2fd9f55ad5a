/* explain.c: plans and expressions as text (sl_plan_explain, sl_expr_format).
 *
 * A plan prints as an indented tree, root first, one node a line, each child two
 * spaces deeper than its parent.  Expressions print in SQL form with the column names
 * of the layout they are evaluated on, so a PROJECT over an AGGREGATE shows the
 * aggregate's columns ("C := COUNT(*)").  Invariant: formatting recurses no deeper than
 * the expression's height, which the parser bounds by SL_MAX_EXPR_DEPTH. */
#include "plan.h"

#include "decimal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A double in the shortest form that reads back as the same value, always with an
 * exponent so that it reads back as a DOUBLE (1.5E0), not as an INT or a DECIMAL. */
static void format_double(double d, sl_buf *out)
{
    char text[40];

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    sl_buf_puts(out, text);
    if (!strpbrk(text, "eEn"))
        sl_buf_puts(out, "E0");
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
    case SL_T_DECIMAL:
        sl_decimal_append(v, out);
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
    bool leaf = e->kind == SL_EX_LITERAL || e->kind == SL_EX_ROWTIME || e->kind == SL_EX_CAST ||
                e->kind == SL_EX_CALL || e->kind == SL_EX_FIELD || e->kind == SL_EX_CTOR ||
                (e->kind == SL_EX_BINARY && e->u.binary.op == SL_OP_SUBSCRIPT) ||
                (e->kind == SL_EX_NARY && e->u.nary.op == SL_OP_CASE) ||
                (e->kind == SL_EX_COLUMN && !strchr(cols[e->u.col].name, ' '));

    if (!leaf)
        sl_buf_putc(out, '(');
    sl_expr_format(e, cols, out);
    if (!leaf)
        sl_buf_putc(out, ')');
}

/* A comma-separated list of n expressions. */
static void format_list(sl_expr *const *args, int n, const sl_outcol *cols, sl_buf *out)
{
    for (int i = 0; i < n; i++) {
        if (i > 0)
            sl_buf_puts(out, ", ");
        sl_expr_format(args[i], cols, out);
    }
}

/* LIKE, IN, BETWEEN and CASE in SQL form. */
static void format_nary(const sl_expr *e, const sl_outcol *cols, sl_buf *out)
{
    sl_expr *const *a = e->u.nary.args;
    int n = e->u.nary.nargs;
    const char *not = e->u.nary.negated ? "NOT " : "";

    switch (e->u.nary.op) {
    case SL_OP_LIKE:
        format_operand(a[0], cols, out);
        sl_buf_printf(out, " %sLIKE ", not );
        format_operand(a[1], cols, out);
        if (n == 3) {
            sl_buf_puts(out, " ESCAPE ");
            sl_expr_format(a[2], cols, out);
        }
        break;
    case SL_OP_IN:
        format_operand(a[0], cols, out);
        sl_buf_printf(out, " %sIN (", not );
        format_list(a + 1, n - 1, cols, out);
        sl_buf_putc(out, ')');
        break;
    case SL_OP_BETWEEN:
        format_operand(a[0], cols, out);
        sl_buf_printf(out, " %sBETWEEN ", not );
        format_operand(a[1], cols, out);
        sl_buf_puts(out, " AND ");
        format_operand(a[2], cols, out);
        break;
    default: {
        int i = 0, end = n - (e->u.nary.has_else ? 1 : 0);

        sl_buf_puts(out, "CASE");
        if (e->u.nary.has_operand) {
            sl_buf_putc(out, ' ');
            sl_expr_format(a[i++], cols, out);
        }
        for (; i < end; i += 2) {
            sl_buf_puts(out, " WHEN ");
            sl_expr_format(a[i], cols, out);
            sl_buf_puts(out, " THEN ");
            sl_expr_format(a[i + 1], cols, out);
        }
        if (e->u.nary.has_else) {
            sl_buf_puts(out, " ELSE ");
            sl_expr_format(a[n - 1], cols, out);
        }
        sl_buf_puts(out, " END");
        break;
    }
    }
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
        if (e->u.binary.op == SL_OP_SUBSCRIPT) {
            sl_buf_putc(out, '[');
            sl_expr_format(e->u.binary.right, cols, out);
            sl_buf_putc(out, ']');
            break;
        }
        sl_buf_printf(out, " %s ", sl_op_name(e->u.binary.op));
        format_operand(e->u.binary.right, cols, out);
        break;
    case SL_EX_CAST:
        sl_buf_puts(out, "CAST(");
        sl_expr_format(e->u.cast.arg, cols, out);
        sl_buf_puts(out, " AS ");
        sl_typedesc_format(sl_typedesc_of(e->type, e->desc), out);
        sl_buf_putc(out, ')');
        break;
    case SL_EX_CTOR: {
        sl_expr *const *a = e->u.ctor.args;
        int n = e->u.ctor.nargs;

        if (e->type == SL_T_ARRAY) {
            sl_buf_puts(out, "ARRAY[");
            format_list(a, n, cols, out);
            sl_buf_putc(out, ']');
            break;
        }
        sl_buf_puts(out, e->type == SL_T_MAP ? "MAP(" : "STRUCT(");
        for (int i = 0; i < n; i += e->type == SL_T_MAP ? 2 : 1) {
            if (i)
                sl_buf_puts(out, ", ");
            if (e->type == SL_T_MAP)
                sl_expr_format(a[i], cols, out);
            else
                sl_buf_puts(out, e->desc->fields[i].name);
            sl_buf_puts(out, " := ");
            sl_expr_format(a[e->type == SL_T_MAP ? i + 1 : i], cols, out);
        }
        sl_buf_putc(out, ')');
        break;
    }
    case SL_EX_FIELD:
        format_operand(e->u.field.arg, cols, out);
        sl_buf_printf(out, "->%s", e->u.field.arg->desc->fields[e->u.field.index].name);
        break;
    case SL_EX_NARY:
        format_nary(e, cols, out);
        break;
    case SL_EX_CALL:
        sl_buf_printf(out, "%s(", sl_func_name(e->u.call.fn));
        format_list(e->u.call.args, e->u.call.nargs, cols, out);
        sl_buf_putc(out, ')');
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
    switch (w->kind) {
    case SL_WINDOW_NONE:
        break;
    case SL_WINDOW_TUMBLING:
        sl_buf_printf(out, " TUMBLING(SIZE %lld ms", (long long)w->size_ms);
        break;
    case SL_WINDOW_HOPPING:
        sl_buf_printf(out, " HOPPING(SIZE %lld ms, ADVANCE %lld ms", (long long)w->size_ms,
                      (long long)w->advance_ms);
        break;
    case SL_WINDOW_SESSION:
        sl_buf_printf(out, " SESSION(GAP %lld ms", (long long)w->size_ms);
        break;
    case SL_WINDOW_SLIDING:
        sl_buf_printf(out, " SLIDING(SIZE %lld ms", (long long)w->size_ms);
        break;
    case SL_WINDOW_CUMULATING:
        sl_buf_printf(out, " CUMULATING(SIZE %lld ms, STEP %lld ms", (long long)w->size_ms,
                      (long long)w->advance_ms);
        break;
    case SL_WINDOW_COUNT:
        sl_buf_printf(out, " COUNT(%lld ROWS, ADVANCE %lld ROWS)", (long long)w->size_ms,
                      (long long)w->advance_ms);
        break;
    }
    if (w->kind != SL_WINDOW_NONE && w->kind != SL_WINDOW_COUNT) {
        sl_buf_printf(out, ", GRACE %lld ms", (long long)w->grace_ms);
        if (w->time_zone)
            sl_buf_printf(out, ", TIME ZONE '%s'", w->time_zone);
        sl_buf_putc(out, ')');
    }
    if (n->u.aggregate.emit == SL_EMIT_CHANGES && n->u.aggregate.every_ms > 0)
        sl_buf_printf(out, " EMIT CHANGES EVERY %lld ms", (long long)n->u.aggregate.every_ms);
    else if (n->u.aggregate.emit == SL_EMIT_CHANGES)
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
        case SL_NODE_SORT:
            sl_buf_puts(&out, "SORT [");
            for (int k = 0; k < n->u.sort.nkeys; k++) {
                if (k > 0)
                    sl_buf_puts(&out, ", ");
                sl_expr_format(n->u.sort.keys[k], n->input->cols, &out);
                if (n->u.sort.desc[k])
                    sl_buf_puts(&out, " DESC");
            }
            sl_buf_putc(&out, ']');
            break;
        case SL_NODE_LIMIT:
            sl_buf_printf(&out, "LIMIT %lld", (long long)n->u.limit.n);
            break;
        }
        sl_buf_putc(&out, '\n');
    }
    return sl_buf_steal(&out);
}
