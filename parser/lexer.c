/* lexer.c: the SQL tokenizer.
 *
 * A hand-written scanner over a byte span.  Invariants: lx->pos never passes lx->end,
 * and lx->line/lx->column always describe lx->pos (columns advance once per UTF-8 lead
 * byte, so a multi-byte character counts once).  Bytes of 0x80 and above may appear in
 * identifiers, strings and comments. */
#include "lexer.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const tok_names[] = {
#define TOK(name, text) text,
#define KW(name, reserved) #name,
#include "tokens.def"
#undef TOK
#undef KW
};

static const signed char tok_reserved[] = {
#define TOK(name, text) -1,
#define KW(name, reserved) reserved,
#include "tokens.def"
#undef TOK
#undef KW
};

const char *sl_tok_name(sl_tok kind)
{
    if ((unsigned)kind >= SL_TK__COUNT)
        return "?";
    return tok_names[kind];
}

bool sl_tok_is_keyword(sl_tok kind, bool *reserved)
{
    if ((unsigned)kind >= SL_TK__COUNT || tok_reserved[kind] < 0)
        return false;
    if (reserved)
        *reserved = tok_reserved[kind] == 1;
    return true;
}

void sl_lexer_init(sl_lexer *lx, const char *src, size_t len)
{
    lx->pos = src;
    lx->end = src + len;
    lx->line = 1;
    lx->column = 1;
}

/* Moves past one byte, keeping line and column right. */
static void advance(sl_lexer *lx)
{
    unsigned char c = (unsigned char)*lx->pos++;

    if (c == '\n') {
        lx->line++;
        lx->column = 1;
    } else if ((c & 0xC0) != 0x80) {
        lx->column++;
    }
}

static int peek(const sl_lexer *lx, size_t ahead)
{
    if ((size_t)(lx->end - lx->pos) <= ahead)
        return -1;
    return (unsigned char)lx->pos[ahead];
}

static bool is_ident_start(int c)
{
    return c >= 0 && (isalpha(c) || c == '_' || c >= 0x80);
}

static bool is_ident_char(int c)
{
    return c >= 0 && (isalnum(c) || c == '_' || c >= 0x80);
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Skips whitespace and comments.  Returns -1 with err set on an unterminated block
 * comment. */
static int skip_space(sl_lexer *lx, sl_error *err)
{
    for (;;) {
        int c = peek(lx, 0);

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            advance(lx);
        } else if (c == '-' && peek(lx, 1) == '-') {
            while (peek(lx, 0) >= 0 && peek(lx, 0) != '\n')
                advance(lx);
        } else if (c == '/' && peek(lx, 1) == '*') {
            int line = lx->line, column = lx->column;

            advance(lx);
            advance(lx);
            while (!(peek(lx, 0) == '*' && peek(lx, 1) == '/')) {
                if (peek(lx, 0) < 0)
                    return sl_error_set(err, SL_ERR_SYNTAX_ERROR, line, column,
                                        "unterminated comment");
                advance(lx);
            }
            advance(lx);
            advance(lx);
        } else {
            return 0;
        }
    }
}

/* Scans a quoted span opened by the quote at lx->pos; a doubled quote inside stands for
 * one.  what names it in the error when the closing quote is missing. */
static int scan_quoted(sl_lexer *lx, sl_token *tok, const char *what, sl_error *err)
{
    int q = peek(lx, 0);

    advance(lx);
    for (;;) {
        int c = peek(lx, 0);

        if (c < 0)
            return sl_error_set(err, SL_ERR_SYNTAX_ERROR, tok->line, tok->column, "unterminated %s",
                                what);
        advance(lx);
        if (c == q) {
            if (peek(lx, 0) != q)
                return 0;
            advance(lx);
        }
    }
}

/* number -> digits ['.' digits] [exponent] | '.' digits [exponent]
 * exponent -> ('e' | 'E') ['+' | '-'] digits */
static int scan_number(sl_lexer *lx, sl_token *tok, sl_error *err)
{
    bool decimal = false;

    while (is_digit(peek(lx, 0)))
        advance(lx);
    if (peek(lx, 0) == '.') {
        decimal = true;
        advance(lx);
        while (is_digit(peek(lx, 0)))
            advance(lx);
    }
    if (peek(lx, 0) == 'e' || peek(lx, 0) == 'E') {
        size_t sign = peek(lx, 1) == '+' || peek(lx, 1) == '-';

        if (is_digit(peek(lx, 1 + sign))) {
            decimal = true;
            advance(lx);
            if (sign)
                advance(lx);
            while (is_digit(peek(lx, 0)))
                advance(lx);
        }
    }
    if (is_ident_char(peek(lx, 0)) || peek(lx, 0) == '.') {
        /* 12abc or 1.2.3: report the whole run as one bad token, as SQLite does. */
        while (is_ident_char(peek(lx, 0)) || peek(lx, 0) == '.')
            advance(lx);
        return sl_error_set(err, SL_ERR_SYNTAX_ERROR, tok->line, tok->column,
                            "unrecognized token: \"%.*s\"", (int)(lx->pos - tok->start),
                            tok->start);
    }
    tok->kind = decimal ? SL_TK_DECIMAL : SL_TK_INTEGER;
    return 0;
}

static sl_tok keyword(const char *s, size_t len)
{
    for (int k = 0; k < SL_TK__COUNT; k++) {
        if (tok_reserved[k] >= 0 && strlen(tok_names[k]) == len &&
            strncasecmp(tok_names[k], s, len) == 0)
            return (sl_tok)k;
    }
    return SL_TK_IDENT;
}

/* Punctuation: one or two characters. */
static sl_tok punct(sl_lexer *lx)
{
    int c = peek(lx, 0), d = peek(lx, 1);

    switch (c) {
    case '(':
        return SL_TK_LPAREN;
    case ')':
        return SL_TK_RPAREN;
    case ',':
        return SL_TK_COMMA;
    case ';':
        return SL_TK_SEMI;
    case '.':
        return SL_TK_DOT;
    case '*':
        return SL_TK_STAR;
    case '+':
        return SL_TK_PLUS;
    case '-':
        return d == '>' ? SL_TK_ARROW : SL_TK_MINUS;
    case '[':
        return SL_TK_LBRACKET;
    case ':':
        return d == '=' ? SL_TK_ASSIGN : SL_TK__COUNT;
    case ']':
        return SL_TK_RBRACKET;
    case '/':
        return SL_TK_SLASH;
    case '%':
        return SL_TK_PERCENT;
    case '=':
        return SL_TK_EQ;
    case '!':
        return d == '=' ? SL_TK_NE : SL_TK__COUNT;
    case '<':
        return d == '=' ? SL_TK_LE : d == '>' ? SL_TK_NE : SL_TK_LT;
    case '>':
        return d == '=' ? SL_TK_GE : SL_TK_GT;
    default:
        return SL_TK__COUNT;
    }
}

int sl_lexer_next(sl_lexer *lx, sl_token *tok, sl_error *err)
{
    if (skip_space(lx, err) < 0)
        return -1;
    tok->start = lx->pos;
    tok->line = lx->line;
    tok->column = lx->column;
    int c = peek(lx, 0);

    if (c < 0) {
        tok->kind = SL_TK_EOF;
    } else if (is_ident_start(c)) {
        while (is_ident_char(peek(lx, 0)))
            advance(lx);
        tok->kind = keyword(tok->start, (size_t)(lx->pos - tok->start));
    } else if (is_digit(c) || (c == '.' && is_digit(peek(lx, 1)))) {
        if (scan_number(lx, tok, err) < 0)
            return -1;
    } else if (c == '\'') {
        tok->kind = SL_TK_STRING;
        if (scan_quoted(lx, tok, "string", err) < 0)
            return -1;
    } else if (c == '"' || c == '`') {
        tok->kind = SL_TK_QIDENT;
        if (scan_quoted(lx, tok, "quoted identifier", err) < 0)
            return -1;
    } else {
        tok->kind = punct(lx);
        if (tok->kind == SL_TK__COUNT) {
            if (isprint(c))
                return sl_error_set(err, SL_ERR_SYNTAX_ERROR, tok->line, tok->column,
                                    "unrecognized token: \"%c\"", c);
            return sl_error_set(err, SL_ERR_SYNTAX_ERROR, tok->line, tok->column,
                                "unrecognized token: \"\\x%02X\"", (unsigned)c);
        }
        size_t n = (tok->kind == SL_TK_LE || tok->kind == SL_TK_GE || tok->kind == SL_TK_NE ||
                    tok->kind == SL_TK_ARROW || tok->kind == SL_TK_ASSIGN);
        for (size_t i = 0; i <= n; i++)
            advance(lx);
    }
    tok->len = (size_t)(lx->pos - tok->start);
    return 0;
}
