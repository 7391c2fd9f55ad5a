/* parse.c: the recursive-descent parser, SQL text to statements (sl_parse).
 *
 * One function per grammar production, each carrying its rule in a comment, in the
 * manner of Lua's lparser.c.  The parser looks one token ahead (p->tok); a lexer error
 * turns that token into SL_TK__COUNT, which no rule accepts, and syntax_error() then
 * leaves the lexer's message in place, so every failure unwinds through the ordinary
 * return paths (no longjmp).
 *
 * Invariants: every node, name and string of a statement list lives in list->arena;
 * an expression's height never exceeds SL_MAX_EXPR_DEPTH, and neither does the nesting
 * of the parser's own recursion (p->depth), so deep input gives LIMIT_EXCEEDED, never a
 * stack overflow.  Unquoted identifiers are upper-cased, quoted ones kept as written.
 *
 * Leniency, documented in parser/README.md: the WINDOW clause may come right after FROM
 * (ksqlDB's place) or after WHERE; LIST is a synonym of SHOW; `!=` of `<>`; non-reserved
 * keywords (tokens.def) may be used as names. */
#include "parse.h"

#include "ast.h"
#include "decimal.h"
#include "lexer.h"
#include "limits.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Most bytes of a token quoted in a `near "..."` message. */
#define NEAR_MAX 40

typedef struct parser {
    sl_lexer lx;
    sl_token tok;         /* the lookahead; kind SL_TK__COUNT after a lexer error */
    const char *last_end; /* end of the last token consumed (a statement's text end) */
    sl_arena *arena;      /* the statement list's */
    sl_error *err;
    int depth; /* nesting of recursive expression rules */
} parser;

/* The time units of durations (WINDOW SIZE, RETENTION=...), each also accepted with a
 * trailing S. */
static const struct {
    const char *name;
    int64_t ms;
} time_units[] = {
    {"MILLISECOND", 1},      {"SECOND", 1000},    {"MINUTE", 60 * 1000},
    {"HOUR", 3600 * 1000ll}, {"DAY", 86400000ll},
};

static void next(parser *p)
{
    if (p->tok.kind == SL_TK__COUNT)
        return;
    p->last_end = p->tok.start + p->tok.len;
    if (sl_lexer_next(&p->lx, &p->tok, p->err) < 0)
        p->tok.kind = SL_TK__COUNT;
}

static bool accept(parser *p, sl_tok kind)
{
    if (p->tok.kind != kind)
        return false;
    next(p);
    return true;
}

/* Reports the lookahead as unexpected: `near "X": syntax error`, or `near "X": expected
 * <expected>` when the caller knows what should have come; at the end of the text,
 * `incomplete input`.  After a lexer error the lexer's message stays.  Returns -1. */
static int syntax_error(parser *p, const char *expected)
{
    const sl_token *t = &p->tok;

    if (t->kind == SL_TK__COUNT)
        return -1;
    if (t->kind == SL_TK_EOF) {
        if (expected)
            return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                                "incomplete input: expected %s", expected);
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column, "incomplete input");
    }
    size_t n = t->len;
    if (n > NEAR_MAX) {
        n = NEAR_MAX;
        while (n > 0 && ((unsigned char)t->start[n] & 0xC0) == 0x80)
            n--;
    }
    if (expected)
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                            "near \"%.*s\": expected %s", (int)n, t->start, expected);
    return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                        "near \"%.*s\": syntax error", (int)n, t->start);
}

/* Consumes a token of the given kind or reports what was expected. */
static int expect(parser *p, sl_tok kind)
{
    char what[32];

    if (accept(p, kind))
        return 0;
    if (kind >= SL_TK_LPAREN && kind <= SL_TK_ASSIGN)
        snprintf(what, sizeof(what), "'%s'", sl_tok_name(kind));
    else
        snprintf(what, sizeof(what), "%s", sl_tok_name(kind));
    return syntax_error(p, what);
}

static int too_deep(parser *p, int line, int column)
{
    return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, line, column,
                        "expression nested too deeply (limit %d levels)", SL_MAX_EXPR_DEPTH);
}

/* Counts one more level of recursion; LIMIT_EXCEEDED past SL_MAX_EXPR_DEPTH.  The
 * caller decrements p->depth when it returns successfully. */
static int enter(parser *p)
{
    if (++p->depth > SL_MAX_EXPR_DEPTH)
        return too_deep(p, p->tok.line, p->tok.column);
    return 0;
}

/* Appends one zeroed element of size bytes to the arena array *items holding *n of
 * *cap, doubling it by copying when full (the old copy stays in the arena until the
 * list is freed).  Returns the new element, owned by the arena. */
static void *push(sl_arena *a, void **items, int *n, int *cap, size_t size)
{
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 8;
        void *bigger = sl_arena_alloc(a, (size_t)ncap * size);

        if (*n)
            memcpy(bigger, *items, (size_t)*n * size);
        *items = bigger;
        *cap = ncap;
    }
    return (char *)*items + (size_t)(*n)++ * size;
}

/* The body of a quoted token (string or quoted identifier) with its doubled quotes made
 * single, as a NUL-terminated arena string; *len is its length. */
static char *unquote(sl_arena *a, const sl_token *t, size_t *len)
{
    char q = t->start[0];
    char *s = sl_arena_alloc(a, t->len);
    size_t n = 0;

    for (size_t i = 1; i + 1 < t->len; i++) {
        s[n++] = t->start[i];
        if (t->start[i] == q)
            i++;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

static int64_t unit_ms(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++) {
        size_t n = strlen(time_units[i].name);

        if ((len == n || (len == n + 1 && (s[n] == 'S' || s[n] == 's'))) &&
            strncasecmp(s, time_units[i].name, n) == 0)
            return time_units[i].ms;
    }
    return 0;
}

/* Reads a duration written as text, "<n> <unit>" ('7 DAYS'), into *ms.  Returns 0, -1
 * when malformed, -2 when longer than SL_MAX_DURATION_MS. */
static int duration_from_text(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0, start;
    int64_t n = 0, unit;

    while (i < len && isspace((unsigned char)s[i]))
        i++;
    start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (n > SL_MAX_DURATION_MS)
            return -2;
        n = n * 10 + (s[i++] - '0');
    }
    if (i == start)
        return -1;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    start = i;
    while (i < len && isalpha((unsigned char)s[i]))
        i++;
    unit = unit_ms(s + start, i - start);
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (!unit || i != len)
        return -1;
    if (n > SL_MAX_DURATION_MS / unit)
        return -2;
    *ms = n * unit;
    return 0;
}

static bool at_name(const parser *p)
{
    bool reserved;

    return p->tok.kind == SL_TK_IDENT || p->tok.kind == SL_TK_QIDENT ||
           (sl_tok_is_keyword(p->tok.kind, &reserved) && !reserved);
}

/* name -> IDENT | QIDENT | non-reserved keyword
 * Returns the normalised name (arena-owned) and sets *quoted (may be NULL); NULL on
 * error. */
static char *parse_name(parser *p, bool *quoted)
{
    const sl_token *t = &p->tok;
    char *s;
    size_t n;

    if (!at_name(p)) {
        syntax_error(p, "a name");
        return NULL;
    }
    if (t->kind == SL_TK_QIDENT) {
        s = unquote(p->arena, t, &n);
        if (n == 0 || memchr(s, '\0', n)) {
            sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                         "a quoted identifier must be non-empty and contain no NUL byte");
            return NULL;
        }
    } else {
        n = t->len;
        s = sl_arena_strndup(p->arena, t->start, n);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)toupper((unsigned char)s[i]);
    }
    if (n > SL_MAX_IDENT) {
        sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, t->line, t->column,
                     "identifier is longer than %d bytes", SL_MAX_IDENT);
        return NULL;
    }
    if (quoted)
        *quoted = t->kind == SL_TK_QIDENT;
    next(p);
    return s;
}

/* Converts the INTEGER lookahead, negated when negative, to an INT (when it fits 32
 * bits) or a BIGINT.  Overflowing BIGINT is a SYNTAX_ERROR.  Does not consume it. */
static int int_value(parser *p, bool negative, sl_value *out)
{
    const sl_token *t = &p->tok;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;

    for (size_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned)(t->start[i] - '0');

        if (v > (limit - d) / 10)
            return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                                "near \"%.*s\": integer out of range", (int)t->len, t->start);
        v = v * 10 + d;
    }
    int64_t i = negative ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    *out = sl_int(i >= INT32_MIN && i <= INT32_MAX ? SL_T_INT : SL_T_BIGINT, i);
    return 0;
}

/* Converts the DECIMAL lookahead (a number with a point or an exponent), negated when
 * negative: with an exponent it is a DOUBLE (1.5E0), else an exact DECIMAL of its own
 * precision and scale (1.50 is DECIMAL(3, 2)), as in ksqlDB.  A DOUBLE out of range,
 * or a DECIMAL of more than SL_MAX_DECIMAL_DIGITS digits, is a SYNTAX_ERROR.  Does not
 * consume it. */
static int number_value(parser *p, bool negative, sl_value *out)
{
    const sl_token *t = &p->tok;

    if (!memchr(t->start, 'e', t->len) && !memchr(t->start, 'E', t->len)) {
        if (sl_decimal_parse_literal(t->start, t->len, out) < 0)
            return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                                "near \"%.*s\": more than %d digits in a DECIMAL (write it with "
                                "an exponent for a DOUBLE)",
                                (int)t->len, t->start, SL_MAX_DECIMAL_DIGITS);
        if (negative)
            *out = sl_decimal_neg(out);
        return 0;
    }
    char *text = sl_arena_strndup(p->arena, t->start, t->len);
    double d = strtod(text, NULL);

    if (!isfinite(d))
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                            "near \"%.*s\": number out of range", (int)t->len, t->start);
    *out = sl_double(negative ? -d : d);
    return 0;
}

/* A new expression node of the given height, or NULL (LIMIT_EXCEEDED) when the height
 * passes SL_MAX_EXPR_DEPTH. */
static sl_ast_expr *new_expr(parser *p, sl_ast_kind kind, int line, int column, int height)
{
    if (height > SL_MAX_EXPR_DEPTH) {
        too_deep(p, line, column);
        return NULL;
    }
    sl_ast_expr *e = sl_arena_alloc(p->arena, sizeof(*e));
    e->kind = kind;
    e->line = line;
    e->column = column;
    e->height = height;
    return e;
}

static sl_ast_expr *unary(parser *p, sl_op op, sl_ast_expr *arg, int line, int column)
{
    sl_ast_expr *e = new_expr(p, SL_AST_UNARY, line, column, arg->height + 1);

    if (e) {
        e->u.unary.op = op;
        e->u.unary.arg = arg;
    }
    return e;
}

static sl_ast_expr *binary(parser *p, sl_op op, sl_ast_expr *l, sl_ast_expr *r, int line,
                           int column)
{
    int h = (l->height > r->height ? l->height : r->height) + 1;
    sl_ast_expr *e = new_expr(p, SL_AST_BINARY, line, column, h);

    if (e) {
        e->u.binary.op = op;
        e->u.binary.left = l;
        e->u.binary.right = r;
    }
    return e;
}

/* A literal node from the lookahead (INTEGER or DECIMAL, negated when negative; STRING;
 * TRUE, FALSE, NULL), consuming it.  line/column: where the literal starts. */
static sl_ast_expr *literal(parser *p, bool negative, int line, int column)
{
    sl_ast_expr *e = new_expr(p, SL_AST_LITERAL, line, column, 1);
    size_t len;

    switch (p->tok.kind) {
    case SL_TK_INTEGER:
        if (int_value(p, negative, &e->u.lit) < 0)
            return NULL;
        break;
    case SL_TK_DECIMAL:
        if (number_value(p, negative, &e->u.lit) < 0)
            return NULL;
        break;
    case SL_TK_STRING: {
        const char *s = unquote(p->arena, &p->tok, &len);
        e->u.lit = sl_str(s, (uint32_t)len);
        break;
    }
    case SL_TK_TRUE:
    case SL_TK_FALSE:
        e->u.lit = sl_bool(p->tok.kind == SL_TK_TRUE);
        break;
    default:
        e->u.lit = sl_null();
        break;
    }
    next(p);
    return e;
}

static sl_ast_expr *parse_expr(parser *p);

/* A node with a list of operands (arena-owned, n of them): LIKE, IN, BETWEEN, CASE. */
static sl_ast_expr *nary(parser *p, sl_op op, sl_ast_expr **args, int n, int line, int column)
{
    int height = 1;

    for (int i = 0; i < n; i++)
        if (args[i]->height + 1 > height)
            height = args[i]->height + 1;
    sl_ast_expr *e = new_expr(p, SL_AST_NARY, line, column, height);
    if (e) {
        e->u.nary.op = op;
        e->u.nary.nargs = n;
        e->u.nary.args = args;
    }
    return e;
}

/* Parses one expression and appends it to the arena array items (n of cap). */
static int push_expr(parser *p, void **items, int *n, int *cap)
{
    sl_ast_expr *e = parse_expr(p);

    if (!e)
        return -1;
    *(sl_ast_expr **)push(p->arena, items, n, cap, sizeof(e)) = e;
    return 0;
}

/* The expected-type message of syntax errors in types. */
#define TYPE_EXPECTED                                                                              \
    "a type (BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL, VARCHAR, TIMESTAMP, BYTES, ARRAY, MAP, "       \
    "STRUCT)"

static int parse_type_at(parser *p, int depth, sl_type *out, const sl_typedesc **desc);

/* An unsigned INTEGER token's value into *out, which must lie in [lo, hi]. */
static int small_int(parser *p, int lo, int hi, const char *what, int *out)
{
    const sl_token *t = &p->tok;
    long v;

    if (t->kind != SL_TK_INTEGER)
        return syntax_error(p, what);
    v = t->len <= 4 ? strtol(t->start, NULL, 10) : 100000;
    if (v < lo || v > hi)
        return sl_error_set(p->err, SL_ERR_TYPE_ERROR, t->line, t->column,
                            "%s must lie between %d and %d", what, lo, hi);
    *out = (int)v;
    next(p);
    return 0;
}

/* decimal_type -> DECIMAL '(' INTEGER [',' INTEGER] ')'
 * The name has been read.  Precision 1 .. SL_MAX_DECIMAL_DIGITS, scale 0 .. precision
 * (0 when left out). */
static int parse_decimal_type(parser *p, const sl_typedesc **desc)
{
    int prec, scale = 0;

    if (expect(p, SL_TK_LPAREN) < 0 ||
        small_int(p, 1, SL_MAX_DECIMAL_DIGITS, "the precision of a DECIMAL", &prec) < 0)
        return -1;
    if (accept(p, SL_TK_COMMA) && small_int(p, 0, prec, "the scale of a DECIMAL", &scale) < 0)
        return -1;
    if (expect(p, SL_TK_RPAREN) < 0)
        return -1;
    *desc = sl_typedesc_decimal(p->arena, prec, scale);
    return 0;
}

/* struct_type -> STRUCT '<' name type {',' name type} '>'
 * The name has been read; field names must differ. */
static int parse_struct_type(parser *p, int depth, const sl_typedesc **desc)
{
    sl_field *fields = NULL;
    void *items = NULL;
    int n = 0, cap = 0;

    if (expect(p, SL_TK_LT) < 0)
        return -1;
    do {
        int line = p->tok.line, column = p->tok.column;
        bool quoted;
        char *name = parse_name(p, &quoted);
        sl_type kind;

        if (!name)
            return -1;
        for (int i = 0; i < n; i++) {
            if (strcmp(((sl_field *)items)[i].name, name) == 0)
                return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, line, column,
                                    "duplicate field name '%s'", name);
        }
        if (n == SL_MAX_STRUCT_FIELDS)
            return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, line, column,
                                "more than %d fields in a STRUCT", SL_MAX_STRUCT_FIELDS);
        fields = push(p->arena, &items, &n, &cap, sizeof(*fields));
        fields->name = name;
        fields->quoted = quoted;
        if (parse_type_at(p, depth, &kind, &fields->type) < 0)
            return -1;
        if (!fields->type)
            fields->type = sl_typedesc_scalar(kind);
    } while (accept(p, SL_TK_COMMA));
    if (expect(p, SL_TK_GT) < 0)
        return -1;
    *desc = sl_typedesc_struct(p->arena, n, items);
    return 0;
}

/* An element type inside ARRAY<...> or MAP<..., ...>, as a descriptor. */
static int parse_elem_type(parser *p, int depth, const sl_typedesc **desc)
{
    sl_type kind;

    if (parse_type_at(p, depth, &kind, desc) < 0)
        return -1;
    if (!*desc)
        *desc = sl_typedesc_scalar(kind);
    return 0;
}

/* type -> BOOLEAN | INT | INTEGER | BIGINT | DOUBLE | VARCHAR | STRING | TIMESTAMP | BYTES
 *       | decimal_type | ARRAY '<' type '>' | MAP '<' type ',' type '>' | struct_type
 * Sets *out to the kind and *desc to the parameters (NULL for a parameterless kind).
 * depth counts the ARRAY/MAP/STRUCT types this one is inside of. */
static int parse_type_at(parser *p, int depth, sl_type *out, const sl_typedesc **desc)
{
    int line = p->tok.line, column = p->tok.column;
    const sl_typedesc *elem;

    *desc = NULL;
    if (p->tok.kind != SL_TK_IDENT || sl_type_from_name(p->tok.start, p->tok.len, out) < 0 ||
        *out == SL_T_NULL)
        return syntax_error(p, TYPE_EXPECTED);
    next(p);
    switch (*out) {
    case SL_T_DECIMAL:
        return parse_decimal_type(p, desc);
    case SL_T_ARRAY:
    case SL_T_MAP:
    case SL_T_STRUCT:
        break;
    default:
        return 0;
    }
    if (depth >= SL_MAX_TYPE_DEPTH)
        return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, line, column,
                            "type nested more than %d levels deep", SL_MAX_TYPE_DEPTH);
    if (*out == SL_T_STRUCT)
        return parse_struct_type(p, depth + 1, desc);
    if (expect(p, SL_TK_LT) < 0)
        return -1;
    if (*out == SL_T_MAP) {
        int kline = p->tok.line, kcolumn = p->tok.column;

        if (parse_elem_type(p, depth + 1, &elem) < 0)
            return -1;
        if (elem->kind != SL_T_VARCHAR)
            return sl_error_set(p->err, SL_ERR_TYPE_ERROR, kline, kcolumn,
                                "the keys of a MAP must be VARCHAR");
        if (expect(p, SL_TK_COMMA) < 0)
            return -1;
    }
    if (parse_elem_type(p, depth + 1, &elem) < 0 || expect(p, SL_TK_GT) < 0)
        return -1;
    *desc = *out == SL_T_MAP ? sl_typedesc_map(p->arena, elem) : sl_typedesc_array(p->arena, elem);
    return 0;
}

static int parse_type(parser *p, sl_type *out, const sl_typedesc **desc)
{
    return parse_type_at(p, 0, out, desc);
}

/* case -> CASE [expr] WHEN expr THEN expr {WHEN expr THEN expr} [ELSE expr] END
 * The lookahead is CASE. */
static sl_ast_expr *parse_case(parser *p)
{
    int line = p->tok.line, column = p->tok.column, n = 0, cap = 0;
    void *items = NULL;
    bool has_operand = false, has_else = false;

    next(p);
    if (p->tok.kind != SL_TK_WHEN) {
        if (push_expr(p, &items, &n, &cap) < 0)
            return NULL;
        has_operand = true;
    }
    if (p->tok.kind != SL_TK_WHEN) {
        syntax_error(p, "WHEN");
        return NULL;
    }
    while (accept(p, SL_TK_WHEN)) {
        if (n >= 2 * SL_MAX_LIST) {
            sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                         "more than %d WHEN branches in a CASE", SL_MAX_LIST);
            return NULL;
        }
        if (push_expr(p, &items, &n, &cap) < 0 || expect(p, SL_TK_THEN) < 0 ||
            push_expr(p, &items, &n, &cap) < 0)
            return NULL;
    }
    if (accept(p, SL_TK_ELSE)) {
        if (push_expr(p, &items, &n, &cap) < 0)
            return NULL;
        has_else = true;
    }
    if (expect(p, SL_TK_END) < 0)
        return NULL;
    sl_ast_expr *e = nary(p, SL_OP_CASE, items, n, line, column);
    if (e) {
        e->u.nary.has_operand = has_operand;
        e->u.nary.has_else = has_else;
    }
    return e;
}

/* cast -> CAST '(' expr AS type ')'
 * The lookahead is CAST. */
static sl_ast_expr *parse_cast(parser *p)
{
    int line = p->tok.line, column = p->tok.column;
    sl_ast_expr *arg, *e;
    const sl_typedesc *desc;
    sl_type type;

    next(p);
    if (expect(p, SL_TK_LPAREN) < 0 || !(arg = parse_expr(p)) || expect(p, SL_TK_AS) < 0 ||
        parse_type(p, &type, &desc) < 0 || expect(p, SL_TK_RPAREN) < 0)
        return NULL;
    e = new_expr(p, SL_AST_CAST, line, column, arg->height + 1);
    if (e) {
        e->u.cast.arg = arg;
        e->u.cast.type = type;
        e->u.cast.desc = desc;
    }
    return e;
}

/* call -> name '(' ['*' | expr {',' expr}] ')'
 * The name has been read; the lookahead is '('. */
static sl_ast_expr *parse_call(parser *p, char *name, int line, int column)
{
    sl_ast_expr *e, **args = NULL;
    void *items = NULL;
    int n = 0, cap = 0, height = 1;
    bool star = false;

    next(p);
    if (accept(p, SL_TK_STAR)) {
        star = true;
    } else if (p->tok.kind != SL_TK_RPAREN) {
        do {
            sl_ast_expr *arg = parse_expr(p);

            if (!arg)
                return NULL;
            *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(arg)) = arg;
            if (arg->height + 1 > height)
                height = arg->height + 1;
        } while (accept(p, SL_TK_COMMA));
        args = items;
    }
    if (expect(p, SL_TK_RPAREN) < 0)
        return NULL;
    e = new_expr(p, SL_AST_CALL, line, column, height);
    if (e) {
        e->u.call.name = name;
        e->u.call.star = star;
        e->u.call.nargs = n;
        e->u.call.args = args;
    }
    return e;
}

/* ctor -> ARRAY '[' [expr {',' expr}] ']'
 *       | MAP '(' [expr ':=' expr {',' expr ':=' expr}] ')'
 *       | STRUCT '(' [name ':=' expr {',' name ':=' expr}] ')'
 * The name (ARRAY, MAP or STRUCT, unquoted) has been read; the lookahead is '[' or '('. */
static sl_ast_expr *parse_ctor(parser *p, sl_type kind, int line, int column)
{
    void *items = NULL, *names = NULL, *quoted = NULL;
    int n = 0, cap = 0, nn = 0, ncap = 0, nq = 0, qcap = 0, height = 1;
    sl_tok close = kind == SL_T_ARRAY ? SL_TK_RBRACKET : SL_TK_RPAREN;
    sl_ast_expr *e;

    next(p);
    if (p->tok.kind != close) {
        do {
            if (n >= 2 * SL_MAX_LIST) {
                sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                             "more than %d elements in one %s", SL_MAX_LIST, sl_type_name(kind));
                return NULL;
            }
            if (kind == SL_T_STRUCT) {
                bool q;
                char *name = parse_name(p, &q);

                if (!name || expect(p, SL_TK_ASSIGN) < 0)
                    return NULL;
                *(char **)push(p->arena, &names, &nn, &ncap, sizeof(name)) = name;
                *(bool *)push(p->arena, &quoted, &nq, &qcap, sizeof(bool)) = q;
            }
            for (int k = 0; k < (kind == SL_T_MAP ? 2 : 1); k++) {
                sl_ast_expr *arg;

                if ((k == 1 && expect(p, SL_TK_ASSIGN) < 0) || !(arg = parse_expr(p)))
                    return NULL;
                *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(arg)) = arg;
                if (arg->height + 1 > height)
                    height = arg->height + 1;
            }
        } while (accept(p, SL_TK_COMMA));
    }
    if (expect(p, close) < 0 || !(e = new_expr(p, SL_AST_CTOR, line, column, height)))
        return NULL;
    e->u.ctor.kind = kind;
    e->u.ctor.nargs = n;
    e->u.ctor.args = items;
    e->u.ctor.names = names;
    e->u.ctor.quoted = quoted;
    return e;
}

/* The constructor an unquoted name starts when the next token is '[' (ARRAY) or '('
 * (MAP, STRUCT); SL_T_NULL when it is not one. */
static sl_type ctor_kind(const sl_token *name, const sl_token *next_tok)
{
    if (name->kind != SL_TK_IDENT)
        return SL_T_NULL;
    if (name->len == 5 && strncasecmp(name->start, "ARRAY", 5) == 0 &&
        next_tok->kind == SL_TK_LBRACKET)
        return SL_T_ARRAY;
    if (next_tok->kind != SL_TK_LPAREN)
        return SL_T_NULL;
    if (name->len == 3 && strncasecmp(name->start, "MAP", 3) == 0)
        return SL_T_MAP;
    if (name->len == 6 && strncasecmp(name->start, "STRUCT", 6) == 0)
        return SL_T_STRUCT;
    return SL_T_NULL;
}

/* primary -> INTEGER | DECIMAL | STRING | TRUE | FALSE | NULL | '(' expr ')'
 *          | case | cast | ctor | call | name ['.' name] */
static sl_ast_expr *parse_primary(parser *p)
{
    int line = p->tok.line, column = p->tok.column;

    switch (p->tok.kind) {
    case SL_TK_INTEGER:
    case SL_TK_DECIMAL:
    case SL_TK_STRING:
    case SL_TK_TRUE:
    case SL_TK_FALSE:
    case SL_TK_NULL:
        return literal(p, false, line, column);
    case SL_TK_LPAREN: {
        next(p);
        sl_ast_expr *e = parse_expr(p);
        if (!e || expect(p, SL_TK_RPAREN) < 0)
            return NULL;
        return e;
    }
    case SL_TK_CASE:
        return parse_case(p);
    case SL_TK_CAST:
        return parse_cast(p);
    default:
        break;
    }
    if (!at_name(p)) {
        syntax_error(p, NULL);
        return NULL;
    }
    sl_token name_tok = p->tok;
    char *qualifier = NULL, *name = parse_name(p, NULL);
    if (!name)
        return NULL;
    sl_type ctor = ctor_kind(&name_tok, &p->tok);
    if (ctor != SL_T_NULL)
        return parse_ctor(p, ctor, line, column);
    if (p->tok.kind == SL_TK_LPAREN)
        return parse_call(p, name, line, column);
    if (accept(p, SL_TK_DOT)) {
        qualifier = name;
        if (!(name = parse_name(p, NULL)))
            return NULL;
    }
    sl_ast_expr *e = new_expr(p, SL_AST_COLUMN, line, column, 1);
    e->u.col.qualifier = qualifier;
    e->u.col.name = name;
    return e;
}

/* postfix -> primary {'->' name | '[' expr ']'}
 * Field access on a STRUCT and subscripts of an ARRAY or MAP, left to right. */
static sl_ast_expr *parse_postfix(parser *p)
{
    sl_ast_expr *e = parse_primary(p);

    while (e && (p->tok.kind == SL_TK_ARROW || p->tok.kind == SL_TK_LBRACKET)) {
        int line = p->tok.line, column = p->tok.column;

        if (accept(p, SL_TK_ARROW)) {
            char *name = parse_name(p, NULL);
            sl_ast_expr *f;

            if (!name || !(f = new_expr(p, SL_AST_FIELD, line, column, e->height + 1)))
                return NULL;
            f->u.field.arg = e;
            f->u.field.name = name;
            e = f;
            continue;
        }
        next(p);
        if (enter(p) < 0)
            return NULL;
        sl_ast_expr *index = parse_expr(p);
        if (!index || expect(p, SL_TK_RBRACKET) < 0)
            return NULL;
        p->depth--;
        e = binary(p, SL_OP_SUBSCRIPT, e, index, line, column);
    }
    return e;
}

/* unary -> '-' (INTEGER | DECIMAL) | '-' unary | postfix
 * A minus before a number is folded into the literal, so that -9223372036854775808 is a
 * BIGINT and -2147483648 an INT. */
static sl_ast_expr *parse_unary(parser *p)
{
    int line = p->tok.line, column = p->tok.column;

    if (!accept(p, SL_TK_MINUS))
        return parse_postfix(p);
    if (p->tok.kind == SL_TK_INTEGER || p->tok.kind == SL_TK_DECIMAL)
        return literal(p, true, line, column);
    if (enter(p) < 0)
        return NULL;
    sl_ast_expr *arg = parse_unary(p);
    if (!arg)
        return NULL;
    p->depth--;
    return unary(p, SL_OP_NEG, arg, line, column);
}

/* mul_expr -> unary {('*' | '/' | '%') unary} */
static sl_ast_expr *parse_mul(parser *p)
{
    sl_ast_expr *e = parse_unary(p);

    while (e) {
        sl_op op;
        int line = p->tok.line, column = p->tok.column;

        if (p->tok.kind == SL_TK_STAR)
            op = SL_OP_MUL;
        else if (p->tok.kind == SL_TK_SLASH)
            op = SL_OP_DIV;
        else if (p->tok.kind == SL_TK_PERCENT)
            op = SL_OP_MOD;
        else
            break;
        next(p);
        sl_ast_expr *r = parse_unary(p);
        e = r ? binary(p, op, e, r, line, column) : NULL;
    }
    return e;
}

/* add_expr -> mul_expr {('+' | '-') mul_expr} */
static sl_ast_expr *parse_add(parser *p)
{
    sl_ast_expr *e = parse_mul(p);

    while (e && (p->tok.kind == SL_TK_PLUS || p->tok.kind == SL_TK_MINUS)) {
        sl_op op = p->tok.kind == SL_TK_PLUS ? SL_OP_ADD : SL_OP_SUB;
        int line = p->tok.line, column = p->tok.column;

        next(p);
        sl_ast_expr *r = parse_mul(p);
        e = r ? binary(p, op, e, r, line, column) : NULL;
    }
    return e;
}

static bool comparison_op(sl_tok kind, sl_op *op)
{
    switch (kind) {
    case SL_TK_EQ:
        *op = SL_OP_EQ;
        return true;
    case SL_TK_NE:
        *op = SL_OP_NE;
        return true;
    case SL_TK_LT:
        *op = SL_OP_LT;
        return true;
    case SL_TK_LE:
        *op = SL_OP_LE;
        return true;
    case SL_TK_GT:
        *op = SL_OP_GT;
        return true;
    case SL_TK_GE:
        *op = SL_OP_GE;
        return true;
    default:
        return false;
    }
}

/* True when the lookahead is NOT and the token after it is LIKE, IN or BETWEEN. */
static bool at_negated_predicate(const parser *p)
{
    sl_lexer lx = p->lx;
    sl_token t;

    if (p->tok.kind != SL_TK_NOT || sl_lexer_next(&lx, &t, NULL) < 0)
        return false;
    return t.kind == SL_TK_LIKE || t.kind == SL_TK_IN || t.kind == SL_TK_BETWEEN;
}

/* predicate -> [NOT] LIKE add_expr [ESCAPE STRING]
 *            | [NOT] IN '(' expr {',' expr} ')'
 *            | [NOT] BETWEEN add_expr AND add_expr
 * x is the operand before it; the lookahead is NOT, LIKE, IN or BETWEEN. */
static sl_ast_expr *parse_predicate(parser *p, sl_ast_expr *x)
{
    int line = p->tok.line, column = p->tok.column, n = 0, cap = 0;
    bool negated = accept(p, SL_TK_NOT);
    void *items = NULL;
    sl_ast_expr *e, *arg;
    sl_op op;

    *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(x)) = x;
    if (accept(p, SL_TK_LIKE)) {
        op = SL_OP_LIKE;
        if (!(arg = parse_add(p)))
            return NULL;
        *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(arg)) = arg;
        if (accept(p, SL_TK_ESCAPE)) {
            if (p->tok.kind != SL_TK_STRING) {
                syntax_error(p, "a string");
                return NULL;
            }
            if (!(arg = literal(p, false, p->tok.line, p->tok.column)))
                return NULL;
            *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(arg)) = arg;
        }
    } else if (accept(p, SL_TK_IN)) {
        op = SL_OP_IN;
        if (expect(p, SL_TK_LPAREN) < 0)
            return NULL;
        do {
            if (n > SL_MAX_LIST) {
                sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                             "more than %d values in an IN list", SL_MAX_LIST);
                return NULL;
            }
            if (push_expr(p, &items, &n, &cap) < 0)
                return NULL;
        } while (accept(p, SL_TK_COMMA));
        if (expect(p, SL_TK_RPAREN) < 0)
            return NULL;
    } else {
        op = SL_OP_BETWEEN;
        if (expect(p, SL_TK_BETWEEN) < 0 || !(arg = parse_add(p)))
            return NULL;
        *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(arg)) = arg;
        if (expect(p, SL_TK_AND) < 0 || !(arg = parse_add(p)))
            return NULL;
        *(sl_ast_expr **)push(p->arena, &items, &n, &cap, sizeof(arg)) = arg;
    }
    if ((e = nary(p, op, items, n, line, column)))
        e->u.nary.negated = negated;
    return e;
}

/* cmp_expr -> add_expr {cmp_op add_expr | IS [NOT] NULL | predicate}
 * cmp_op -> '=' | '<>' | '!=' | '<' | '<=' | '>' | '>=' */
static sl_ast_expr *parse_cmp(parser *p)
{
    sl_ast_expr *e = parse_add(p);

    while (e) {
        sl_op op;
        int line = p->tok.line, column = p->tok.column;

        if (p->tok.kind == SL_TK_LIKE || p->tok.kind == SL_TK_IN || p->tok.kind == SL_TK_BETWEEN ||
            at_negated_predicate(p)) {
            e = parse_predicate(p, e);
            continue;
        }
        if (accept(p, SL_TK_IS)) {
            op = accept(p, SL_TK_NOT) ? SL_OP_IS_NOT_NULL : SL_OP_IS_NULL;
            if (expect(p, SL_TK_NULL) < 0)
                return NULL;
            e = unary(p, op, e, line, column);
            continue;
        }
        if (!comparison_op(p->tok.kind, &op))
            break;
        next(p);
        sl_ast_expr *r = parse_add(p);
        e = r ? binary(p, op, e, r, line, column) : NULL;
    }
    return e;
}

/* not_expr -> NOT not_expr | cmp_expr */
static sl_ast_expr *parse_not(parser *p)
{
    int line = p->tok.line, column = p->tok.column;

    if (!accept(p, SL_TK_NOT))
        return parse_cmp(p);
    if (enter(p) < 0)
        return NULL;
    sl_ast_expr *arg = parse_not(p);
    if (!arg)
        return NULL;
    p->depth--;
    return unary(p, SL_OP_NOT, arg, line, column);
}

/* and_expr -> not_expr {AND not_expr} */
static sl_ast_expr *parse_and(parser *p)
{
    sl_ast_expr *e = parse_not(p);

    while (e && p->tok.kind == SL_TK_AND) {
        int line = p->tok.line, column = p->tok.column;

        next(p);
        sl_ast_expr *r = parse_not(p);
        e = r ? binary(p, SL_OP_AND, e, r, line, column) : NULL;
    }
    return e;
}

/* expr -> and_expr {OR and_expr} */
static sl_ast_expr *parse_expr(parser *p)
{
    if (enter(p) < 0)
        return NULL;
    sl_ast_expr *e = parse_and(p);

    while (e && p->tok.kind == SL_TK_OR) {
        int line = p->tok.line, column = p->tok.column;

        next(p);
        sl_ast_expr *r = parse_and(p);
        e = r ? binary(p, SL_OP_OR, e, r, line, column) : NULL;
    }
    if (e)
        p->depth--;
    return e;
}

/* duration -> INTEGER unit
 * unit -> MILLISECOND[S] | SECOND[S] | MINUTE[S] | HOUR[S] | DAY[S]
 * Sets *ms and the position of the number; LIMIT_EXCEEDED past SL_MAX_DURATION_MS. */
static int parse_duration(parser *p, int64_t *ms, int *line, int *column)
{
    sl_value n;
    int64_t unit;

    *line = p->tok.line;
    *column = p->tok.column;
    if (p->tok.kind != SL_TK_INTEGER)
        return syntax_error(p, "an integer");
    if (int_value(p, false, &n) < 0)
        return -1;
    next(p);
    if (p->tok.kind != SL_TK_IDENT || !(unit = unit_ms(p->tok.start, p->tok.len)))
        return syntax_error(p, "a time unit");
    next(p);
    if (n.u.i > SL_MAX_DURATION_MS / unit)
        return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, *line, *column,
                            "duration is longer than the limit of %lld ms",
                            (long long)SL_MAX_DURATION_MS);
    *ms = n.u.i * unit;
    return 0;
}

/* count -> INTEGER: a positive row count of a COUNT window. */
static int parse_count(parser *p, int64_t *n)
{
    sl_value v;
    int line = p->tok.line, column = p->tok.column;

    if (p->tok.kind != SL_TK_INTEGER)
        return syntax_error(p, "an integer");
    if (int_value(p, false, &v) < 0)
        return -1;
    next(p);
    if (v.u.i == 0)
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, line, column,
                            "a COUNT window needs at least 1 row");
    *n = v.u.i;
    return 0;
}

/* A positive duration: SIZE, ADVANCE BY, STEP or a session gap. */
static int positive_duration(parser *p, const char *what, int64_t *ms)
{
    int line, column;

    if (parse_duration(p, ms, &line, &column) < 0)
        return -1;
    if (*ms == 0)
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, line, column, "%s must be greater than 0",
                            what);
    return 0;
}

/* window_opts -> {',' (GRACE PERIOD duration | TIME ZONE string)}
 * TIME ZONE only where zoned is true (TUMBLING, HOPPING, CUMULATING). */
static int parse_window_opts(parser *p, sl_window *w, bool zoned)
{
    int line, column;

    while (accept(p, SL_TK_COMMA)) {
        if (accept(p, SL_TK_GRACE)) {
            if (expect(p, SL_TK_PERIOD) < 0 || parse_duration(p, &w->grace_ms, &line, &column) < 0)
                return -1;
        } else if (zoned && accept(p, SL_TK_TIME)) {
            if (expect(p, SL_TK_ZONE) < 0)
                return -1;
            if (p->tok.kind != SL_TK_STRING)
                return syntax_error(p, "a time zone name");
            size_t len;

            w->time_zone = unquote(p->arena, &p->tok, &len);
            next(p);
        } else {
            return syntax_error(p, zoned ? "GRACE or TIME" : "GRACE");
        }
    }
    return 0;
}

/* The number of windows one row falls in, LIMIT_EXCEEDED past SL_MAX_WINDOWS_PER_ROW. */
static int windows_per_row(parser *p, int64_t size, int64_t step, const char *what)
{
    if (size / step + (size % step != 0) > SL_MAX_WINDOWS_PER_ROW)
        return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                            "%s puts a row in more than %d windows", what, SL_MAX_WINDOWS_PER_ROW);
    return 0;
}

/* window -> WINDOW ( TUMBLING '(' SIZE duration window_opts ')'
 *                  | HOPPING '(' SIZE duration ',' ADVANCE BY duration window_opts ')'
 *                  | SESSION '(' duration window_opts ')'
 *                  | SLIDING '(' SIZE duration window_opts ')'
 *                  | CUMULATING '(' SIZE duration ',' STEP duration window_opts ')'
 *                  | COUNT '(' INTEGER [',' ADVANCE BY INTEGER] ')' ) */
static int parse_window(parser *p, sl_select *sel)
{
    sl_window *w = &sel->window;
    sl_tok kind;

    sel->window_line = p->tok.line;
    sel->window_column = p->tok.column;
    next(p);
    kind = p->tok.kind;
    memset(w, 0, sizeof(*w));
    if (kind == SL_TK_IDENT && p->tok.len == 5 && strncasecmp(p->tok.start, "COUNT", 5) == 0) {
        next(p);
        w->kind = SL_WINDOW_COUNT;
        if (expect(p, SL_TK_LPAREN) < 0 || parse_count(p, &w->size_ms) < 0)
            return -1;
        w->advance_ms = w->size_ms;
        if (accept(p, SL_TK_COMMA)) {
            if (expect(p, SL_TK_ADVANCE) < 0 || expect(p, SL_TK_BY) < 0 ||
                parse_count(p, &w->advance_ms) < 0)
                return -1;
            if (w->advance_ms > w->size_ms)
                return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, p->tok.line, p->tok.column,
                                    "COUNT window ADVANCE BY must not exceed its size");
            if (windows_per_row(p, w->size_ms, w->advance_ms, "this COUNT window") < 0)
                return -1;
        }
        return expect(p, SL_TK_RPAREN);
    }
    if (kind != SL_TK_TUMBLING && kind != SL_TK_HOPPING && kind != SL_TK_SESSION &&
        kind != SL_TK_SLIDING && kind != SL_TK_CUMULATING)
        return syntax_error(p, "TUMBLING, HOPPING, SESSION, SLIDING, CUMULATING or COUNT");
    next(p);
    if (expect(p, SL_TK_LPAREN) < 0)
        return -1;
    if (kind == SL_TK_SESSION) {
        w->kind = SL_WINDOW_SESSION;
        if (positive_duration(p, "session gap", &w->size_ms) < 0)
            return -1;
    } else if (expect(p, SL_TK_SIZE) < 0 || positive_duration(p, "window SIZE", &w->size_ms) < 0) {
        return -1;
    }
    switch (kind) {
    case SL_TK_TUMBLING:
        w->kind = SL_WINDOW_TUMBLING;
        w->advance_ms = w->size_ms;
        break;
    case SL_TK_HOPPING:
        w->kind = SL_WINDOW_HOPPING;
        if (expect(p, SL_TK_COMMA) < 0 || expect(p, SL_TK_ADVANCE) < 0 || expect(p, SL_TK_BY) < 0 ||
            positive_duration(p, "ADVANCE BY", &w->advance_ms) < 0)
            return -1;
        if (w->advance_ms > w->size_ms)
            return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, p->tok.line, p->tok.column,
                                "HOPPING window ADVANCE BY must not exceed its SIZE");
        if (windows_per_row(p, w->size_ms, w->advance_ms, "this HOPPING window") < 0)
            return -1;
        break;
    case SL_TK_CUMULATING:
        w->kind = SL_WINDOW_CUMULATING;
        if (expect(p, SL_TK_COMMA) < 0 || expect(p, SL_TK_STEP) < 0 ||
            positive_duration(p, "window STEP", &w->advance_ms) < 0)
            return -1;
        if (w->size_ms % w->advance_ms != 0)
            return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, p->tok.line, p->tok.column,
                                "CUMULATING window SIZE must be a multiple of its STEP");
        if (windows_per_row(p, w->size_ms, w->advance_ms, "this CUMULATING window") < 0)
            return -1;
        break;
    case SL_TK_SLIDING:
        w->kind = SL_WINDOW_SLIDING;
        break;
    default:
        break;
    }
    if (parse_window_opts(
            p, w, kind == SL_TK_TUMBLING || kind == SL_TK_HOPPING || kind == SL_TK_CUMULATING) < 0)
        return -1;
    return expect(p, SL_TK_RPAREN);
}

/* emit -> EMIT (CHANGES [EVERY duration] | FINAL) */
static int parse_emit(parser *p, sl_select *sel)
{
    sel->emit_line = p->tok.line;
    sel->emit_column = p->tok.column;
    next(p);
    if (accept(p, SL_TK_CHANGES)) {
        sel->emit = SL_EMIT_CHANGES;
        if (accept(p, SL_TK_EVERY) &&
            positive_duration(p, "EMIT CHANGES EVERY", &sel->emit_every_ms) < 0)
            return -1;
    } else if (accept(p, SL_TK_FINAL)) {
        sel->emit = SL_EMIT_FINAL;
    } else {
        return syntax_error(p, "CHANGES or FINAL");
    }
    return 0;
}

/* True when the lookahead starts `name '.' '*'` (a qualified star). */
static bool at_qualified_star(const parser *p)
{
    sl_lexer lx = p->lx;
    sl_token t;

    if (!at_name(p) || sl_lexer_next(&lx, &t, NULL) < 0 || t.kind != SL_TK_DOT)
        return false;
    return sl_lexer_next(&lx, &t, NULL) == 0 && t.kind == SL_TK_STAR;
}

/* item -> '*' | name '.' '*' | expr [[AS] name] */
static int parse_item(parser *p, sl_select_item *item)
{
    item->line = p->tok.line;
    item->column = p->tok.column;
    if (accept(p, SL_TK_STAR))
        return 0;
    if (at_qualified_star(p)) {
        if (!(item->star_qualifier = parse_name(p, NULL)))
            return -1;
        next(p);
        next(p);
        return 0;
    }
    if (!(item->expr = parse_expr(p)))
        return -1;
    if (accept(p, SL_TK_AS) || at_name(p)) {
        if (!(item->alias = parse_name(p, NULL)))
            return -1;
    }
    return 0;
}

/* Parses expr {',' expr} into an arena array; LIMIT_EXCEEDED past SL_MAX_COLUMNS. */
static int parse_expr_list(parser *p, sl_ast_expr ***out, int *n)
{
    void *items = NULL;
    int cap = 0;

    *n = 0;
    do {
        if (*n == SL_MAX_COLUMNS)
            return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                                "more than %d expressions in a list", SL_MAX_COLUMNS);
        sl_ast_expr *e = parse_expr(p);
        if (!e)
            return -1;
        *(sl_ast_expr **)push(p->arena, &items, n, &cap, sizeof(e)) = e;
    } while (accept(p, SL_TK_COMMA));
    *out = items;
    return 0;
}

/* order -> ORDER BY expr [ASC | DESC] {',' expr [ASC | DESC]}
 * LIMIT_EXCEEDED past SL_MAX_COLUMNS items. */
static int parse_order(parser *p, sl_select *sel)
{
    void *exprs = NULL, *desc = NULL;
    int cap = 0, dcap = 0, nd = 0;

    sel->order_line = p->tok.line;
    sel->order_column = p->tok.column;
    next(p);
    if (expect(p, SL_TK_BY) < 0)
        return -1;
    do {
        if (sel->norder == SL_MAX_COLUMNS)
            return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                                "more than %d expressions in a list", SL_MAX_COLUMNS);
        sl_ast_expr *e = parse_expr(p);
        if (!e)
            return -1;
        *(sl_ast_expr **)push(p->arena, &exprs, &sel->norder, &cap, sizeof(e)) = e;
        *(bool *)push(p->arena, &desc, &nd, &dcap, sizeof(bool)) = accept(p, SL_TK_DESC);
        if (!((bool *)desc)[nd - 1])
            accept(p, SL_TK_ASC);
    } while (accept(p, SL_TK_COMMA));
    sel->order = exprs;
    sel->order_desc = desc;
    return 0;
}

/* limit -> LIMIT INTEGER */
static int parse_limit(parser *p, sl_select *sel)
{
    sl_value v;

    sel->limit_line = p->tok.line;
    sel->limit_column = p->tok.column;
    next(p);
    if (p->tok.kind != SL_TK_INTEGER)
        return syntax_error(p, "an integer");
    if (int_value(p, false, &v) < 0)
        return -1;
    next(p);
    sel->limit = v.u.i;
    return 0;
}

/* select -> SELECT item {',' item} FROM name [[AS] name] [window] [WHERE expr] [window]
 *           [GROUP BY expr {',' expr}] [HAVING expr] [order] [limit] [emit]
 * (at most one window) */
static sl_select *parse_select(parser *p)
{
    sl_select *sel = sl_arena_alloc(p->arena, sizeof(*sel));
    void *items = NULL;
    int cap = 0;

    sel->line = p->tok.line;
    sel->column = p->tok.column;
    sel->window.kind = SL_WINDOW_NONE;
    sel->limit = -1;
    sel->emit = SL_EMIT_BATCH;
    if (expect(p, SL_TK_SELECT) < 0)
        return NULL;
    do {
        if (sel->nitems == SL_MAX_COLUMNS) {
            sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                         "more than %d columns in a SELECT list", SL_MAX_COLUMNS);
            return NULL;
        }
        sl_select_item *item = push(p->arena, &items, &sel->nitems, &cap, sizeof(*item));
        if (parse_item(p, item) < 0)
            return NULL;
    } while (accept(p, SL_TK_COMMA));
    sel->items = items;
    if (expect(p, SL_TK_FROM) < 0)
        return NULL;
    sel->from_line = p->tok.line;
    sel->from_column = p->tok.column;
    if (!(sel->from = parse_name(p, NULL)))
        return NULL;
    if (accept(p, SL_TK_AS) || at_name(p)) {
        if (!(sel->alias = parse_name(p, NULL)))
            return NULL;
    }
    if (p->tok.kind == SL_TK_WINDOW && parse_window(p, sel) < 0)
        return NULL;
    if (accept(p, SL_TK_WHERE)) {
        sel->where_line = p->tok.line;
        sel->where_column = p->tok.column;
        if (!(sel->where = parse_expr(p)))
            return NULL;
    }
    if (p->tok.kind == SL_TK_WINDOW && sel->window.kind == SL_WINDOW_NONE &&
        parse_window(p, sel) < 0)
        return NULL;
    if (accept(p, SL_TK_GROUP)) {
        if (expect(p, SL_TK_BY) < 0 || parse_expr_list(p, &sel->groups, &sel->ngroups) < 0)
            return NULL;
    }
    if (accept(p, SL_TK_HAVING)) {
        sel->having_line = p->tok.line;
        sel->having_column = p->tok.column;
        if (!(sel->having = parse_expr(p)))
            return NULL;
    }
    if (p->tok.kind == SL_TK_ORDER && parse_order(p, sel) < 0)
        return NULL;
    if (p->tok.kind == SL_TK_LIMIT && parse_limit(p, sel) < 0)
        return NULL;
    if (p->tok.kind == SL_TK_EMIT && parse_emit(p, sel) < 0)
        return NULL;
    return sel;
}

/* column_def -> name type [KEY]
 * Checks the name against the columns already declared and the reserved names. */
static int parse_column_def(parser *p, sl_schema *s, sl_column *col)
{
    static const char *const reserved[] = {"ROWTIME", "WINDOWSTART", "WINDOWEND"};
    int line = p->tok.line, column = p->tok.column;

    if (!(col->name = parse_name(p, &col->quoted)))
        return -1;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(col->name, reserved[i]) == 0)
            return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, line, column,
                                "'%s' is a reserved column name", col->name);
    }
    if (sl_schema_find(s, col->name, strlen(col->name)) >= 0)
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, line, column, "duplicate column name '%s'",
                            col->name);
    if (parse_type(p, &col->type, &col->desc) < 0)
        return -1;
    col->key = accept(p, SL_TK_KEY);
    return 0;
}

/* The value of WITH (TIMESTAMP='col'): the column's name, matched exactly or else as an
 * unquoted identifier would be; it must be a BIGINT or TIMESTAMP column. */
static int timestamp_property(parser *p, sl_schema *s)
{
    const sl_token *t = &p->tok;
    size_t len;
    char *name;
    int i;

    if (t->kind != SL_TK_STRING)
        return syntax_error(p, "a string");
    name = unquote(p->arena, t, &len);
    if ((i = sl_schema_find(s, name, len)) < 0) {
        for (size_t k = 0; k < len; k++)
            name[k] = (char)toupper((unsigned char)name[k]);
        i = sl_schema_find(s, name, len);
    }
    if (i < 0)
        return sl_error_set(p->err, SL_ERR_UNKNOWN_COLUMN, t->line, t->column,
                            "unknown column '%.*s'", (int)(t->len - 2), t->start + 1);
    if (s->cols[i].type != SL_T_BIGINT && s->cols[i].type != SL_T_TIMESTAMP)
        return sl_error_set(p->err, SL_ERR_TYPE_ERROR, t->line, t->column,
                            "TIMESTAMP column '%s' must be BIGINT or TIMESTAMP, not %s",
                            s->cols[i].name, sl_type_name(s->cols[i].type));
    s->timestamp_col = i;
    return 0;
}

/* The value of a duration property such as RETENTION='7 DAYS'; must be positive. */
static int duration_property(parser *p, const char *prop, int64_t *ms)
{
    const sl_token *t = &p->tok;
    size_t len;
    char *text;

    if (t->kind != SL_TK_STRING)
        return syntax_error(p, "a string");
    text = unquote(p->arena, t, &len);
    switch (duration_from_text(text, len, ms)) {
    case -1:
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                            "invalid duration '%s' for %s (expected e.g. '7 DAYS')", text, prop);
    case -2:
        return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, t->line, t->column,
                            "%s is longer than the limit of %lld ms", prop,
                            (long long)SL_MAX_DURATION_MS);
    default:
        break;
    }
    if (*ms == 0)
        return sl_error_set(p->err, SL_ERR_SYNTAX_ERROR, t->line, t->column,
                            "%s must be greater than 0", prop);
    return 0;
}

/* property -> name '=' (STRING | INTEGER | DECIMAL | TRUE | FALSE)
 * TIMESTAMP, RETENTION and IDLE_TIMEOUT mean something; any other property is accepted
 * and ignored (KAFKA_TOPIC, VALUE_FORMAT, ...). */
static int parse_property(parser *p, sl_schema *s)
{
    char *name = parse_name(p, NULL);
    sl_tok k;
    int rc = 0;

    if (!name || expect(p, SL_TK_EQ) < 0)
        return -1;
    k = p->tok.kind;
    if (k != SL_TK_STRING && k != SL_TK_INTEGER && k != SL_TK_DECIMAL && k != SL_TK_TRUE &&
        k != SL_TK_FALSE)
        return syntax_error(p, "a string or a number");
    if (strcmp(name, "TIMESTAMP") == 0)
        rc = timestamp_property(p, s);
    else if (strcmp(name, "RETENTION") == 0)
        rc = duration_property(p, name, &s->retention_ms);
    else if (strcmp(name, "IDLE_TIMEOUT") == 0)
        rc = duration_property(p, name, &s->idle_timeout_ms);
    if (rc < 0)
        return -1;
    next(p);
    return 0;
}

/* create_stream -> CREATE STREAM [IF NOT EXISTS] name
 *                  '(' column_def {',' column_def} ')' [with]
 * with -> WITH '(' property {',' property} ')' */
static int parse_create_stream(parser *p, sl_stmt *st)
{
    sl_schema *s = sl_arena_alloc(p->arena, sizeof(*s));
    void *cols = NULL;
    int cap = 0;

    next(p);
    if (expect(p, SL_TK_STREAM) < 0)
        return -1;
    if (accept(p, SL_TK_IF)) {
        if (expect(p, SL_TK_NOT) < 0 || expect(p, SL_TK_EXISTS) < 0)
            return -1;
        st->if_not_exists = true;
    }
    if (!(s->name = parse_name(p, &s->name_quoted)) || expect(p, SL_TK_LPAREN) < 0)
        return -1;
    s->timestamp_col = -1;
    s->retention_ms = SL_DEFAULT_RETENTION_MS;
    do {
        if (s->ncols == SL_MAX_COLUMNS)
            return sl_error_set(p->err, SL_ERR_LIMIT_EXCEEDED, p->tok.line, p->tok.column,
                                "more than %d columns in a stream", SL_MAX_COLUMNS);
        sl_column col = {0};

        if (parse_column_def(p, s, &col) < 0)
            return -1;
        *(sl_column *)push(p->arena, &cols, &s->ncols, &cap, sizeof(col)) = col;
        s->cols = cols;
    } while (accept(p, SL_TK_COMMA));
    if (expect(p, SL_TK_RPAREN) < 0)
        return -1;
    if (accept(p, SL_TK_WITH)) {
        if (expect(p, SL_TK_LPAREN) < 0)
            return -1;
        do {
            if (parse_property(p, s) < 0)
                return -1;
        } while (accept(p, SL_TK_COMMA));
        if (expect(p, SL_TK_RPAREN) < 0)
            return -1;
    }
    st->kind = SL_STMT_CREATE_STREAM;
    st->schema = s;
    st->name = s->name;
    return 0;
}

/* drop -> DROP STREAM [IF EXISTS] name | DROP QUERY (name | STRING) */
static int parse_drop(parser *p, sl_stmt *st)
{
    next(p);
    if (accept(p, SL_TK_QUERY)) {
        st->kind = SL_STMT_DROP_QUERY;
        if (p->tok.kind == SL_TK_STRING) {
            size_t len;
            st->name = unquote(p->arena, &p->tok, &len);
            next(p);
            return 0;
        }
        return (st->name = parse_name(p, NULL)) ? 0 : -1;
    }
    if (p->tok.kind != SL_TK_STREAM)
        return syntax_error(p, "STREAM or QUERY");
    next(p);
    st->kind = SL_STMT_DROP_STREAM;
    if (accept(p, SL_TK_IF)) {
        if (expect(p, SL_TK_EXISTS) < 0)
            return -1;
        st->if_exists = true;
    }
    return (st->name = parse_name(p, NULL)) ? 0 : -1;
}

/* show -> (SHOW | LIST) (STREAMS | QUERIES) */
static int parse_show(parser *p, sl_stmt *st)
{
    next(p);
    if (accept(p, SL_TK_STREAMS))
        st->kind = SL_STMT_SHOW_STREAMS;
    else if (accept(p, SL_TK_QUERIES))
        st->kind = SL_STMT_SHOW_QUERIES;
    else
        return syntax_error(p, "STREAMS or QUERIES");
    return 0;
}

/* stmt -> create_stream | drop | show | DESCRIBE name | EXPLAIN select | select */
static int parse_stmt(parser *p, sl_stmt *st)
{
    switch (p->tok.kind) {
    case SL_TK_CREATE:
        return parse_create_stream(p, st);
    case SL_TK_DROP:
        return parse_drop(p, st);
    case SL_TK_SHOW:
    case SL_TK_LIST:
        return parse_show(p, st);
    case SL_TK_DESCRIBE:
        next(p);
        st->kind = SL_STMT_DESCRIBE;
        return (st->name = parse_name(p, NULL)) ? 0 : -1;
    case SL_TK_EXPLAIN:
        next(p);
        st->kind = SL_STMT_EXPLAIN;
        break;
    case SL_TK_SELECT:
        st->kind = SL_STMT_SELECT;
        break;
    default:
        return syntax_error(p, NULL);
    }
    if (!(st->select = parse_select(p)))
        return -1;
    st->has_emit = st->select->emit != SL_EMIT_BATCH;
    return 0;
}

/* script -> [stmt] {';' [stmt]} EOF */
int sl_parse(const char *sql, size_t len, sl_stmt_list **out, sl_error *err)
{
    sl_stmt_list *list = sl_xcalloc(1, sizeof(*list));
    parser p = {.err = err};
    void *stmts = NULL;
    int cap = 0;

    *out = NULL;
    sl_error_clear(err);
    list->arena = sl_arena_new();
    if (len > SL_MAX_SQL) {
        sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, 0, 0, "SQL text is longer than %d bytes",
                     SL_MAX_SQL);
        goto fail;
    }
    p.arena = list->arena;
    p.tok.kind = SL_TK_EOF;
    p.tok.start = sql;
    sl_lexer_init(&p.lx, sql, len);
    next(&p);
    for (;;) {
        while (accept(&p, SL_TK_SEMI))
            continue;
        if (p.tok.kind == SL_TK_EOF)
            break;
        if (list->n == SL_MAX_STATEMENTS) {
            sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, p.tok.line, p.tok.column,
                         "more than %d statements", SL_MAX_STATEMENTS);
            goto fail;
        }
        sl_stmt *st = push(list->arena, &stmts, &list->n, &cap, sizeof(*st));
        list->stmts = stmts;
        st->text = p.tok.start;
        st->line = p.tok.line;
        st->column = p.tok.column;
        if (parse_stmt(&p, st) < 0)
            goto fail;
        st->text_len = (size_t)(p.last_end - st->text);
        if (p.tok.kind != SL_TK_SEMI && p.tok.kind != SL_TK_EOF) {
            syntax_error(&p, NULL);
            goto fail;
        }
    }
    if (list->n == 0) {
        sl_error_set(err, SL_ERR_SYNTAX_ERROR, p.tok.line, p.tok.column, "no statement");
        goto fail;
    }
    *out = list;
    return 0;

fail:
    sl_stmt_list_free(list);
    return -1;
}

void sl_stmt_list_free(sl_stmt_list *list)
{
    if (!list)
        return;
    sl_arena_free(list->arena);
    free(list);
}
