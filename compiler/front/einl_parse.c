/*
 * einl_parse.c — the layer language's parse driver: the token loop, the AST builders the
 * grammar's actions call (grammar/einl_gram.y), and its error messages.
 *
 * The loop keeps a small picture of where the parser is: the brackets open (and what each
 * one opened: a call, a group, a def's parameters, a declaration's dimensions), the
 * statement's first token and the previous token.  Lemon only knows that a token does not
 * fit; this picture lets a syntax error say what would have fitted ("expected an
 * expression") and where an unclosed bracket was opened.  The same picture drops newlines
 * inside ( ) and [ ], where a newline does not end a statement.
 */
#include "einl_impl.h"
#include "einl_gram.h"
#include "einl_lex.h"
#include "alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *elParseAlloc(void *(*mallocProc)(size_t), el_state *ps);
void elParseFree(void *p, void (*freeProc)(void *));
void elParse(void *p, int major, el_token minor);

/* ---- lists ---------------------------------------------------------------------------- */

/* Appends a zeroed cell to *s (created when NULL); NULL when out of memory. */
static el_cell *append(el_state *ps, el_seq **s)
{
    if (!*s && !(*s = ARENA_NEW(ps->c->A, el_seq))) {
        cc_nomem(ps->c);
        return NULL;
    }
    el_cell *cell = ARENA_NEW(ps->c->A, el_cell);
    if (!cell) {
        cc_nomem(ps->c);
        return NULL;
    }
    if ((*s)->last)
        (*s)->last->next = cell;
    else
        (*s)->first = cell;
    (*s)->last = cell;
    (*s)->n++;
    return cell;
}

static int seq_len(const el_seq *s) { return s ? s->n : 0; }

static const char *text(el_state *ps, el_token t)
{
    char *s = arena_strndup(ps->c->A, ps->c->src + t.begin, (size_t)(t.end - t.begin));
    if (!s)
        cc_nomem(ps->c);
    return s;
}

/* Is the NUL-terminated s the n bytes at p? */
static bool same(const char *s, const char *p, int n)
{
    return (int)strlen(s) == n && !memcmp(s, p, (size_t)n);
}

/* Digits only, as an int64; false when it does not fit. */
static bool parse_int(const char *s, int n, int64_t *v)
{
    int64_t x = 0;
    for (int i = 0; i < n; i++) {
        int d = s[i] - '0';
        if (x > (INT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

/*
 * A dotted name (F.relu) is one NAME token so that an unknown function's error can name it
 * whole and suggest the built-in; only a call or a value may use one.  False after an error.
 */
static bool plain(el_state *ps, el_token t, const char *what)
{
    const char *p = ps->c->src + t.begin;
    int n = t.end - t.begin;
    if (!memchr(p, '.', (size_t)n))
        return true;
    cc_error(ps->c, EINC_ERR_SYNTAX, t.begin, t.end, "'%.*s' is not a plain name: %s cannot contain '.'",
             n, p, what);
    return false;
}

el_seq *el_push_item(el_state *ps, el_seq *s, el_item *it)
{
    if (ps->c->failed || !it)
        return s;               /* a blank line */
    el_cell *cell = append(ps, &s);
    if (cell)
        cell->item = it;
    return s;
}

el_seq *el_push_name(el_state *ps, el_seq *s, el_token name)
{
    if (ps->c->failed || !plain(ps, name, "a parameter"))
        return NULL;
    int n = name.end - name.begin;
    for (el_cell *p = s ? s->first : NULL; p; p = p->next)
        if (same(p->dim.name, ps->c->src + name.begin, n)) {
            cc_error(ps->c, EINC_ERR_SYNTAX, name.begin, name.end, "duplicate parameter '%.*s'",
                     n, ps->c->src + name.begin);
            return NULL;
        }
    el_cell *cell = append(ps, &s);
    if (!cell || !(cell->dim.name = text(ps, name)))
        return NULL;
    cell->dim.begin = name.begin;
    cell->dim.end = name.end;
    return s;
}

el_seq *el_push_dim(el_state *ps, el_seq *s, el_token t)
{
    if (ps->c->failed)
        return NULL;
    const char *p = ps->c->src + t.begin;
    int n = t.end - t.begin;
    el_dim d = { .begin = t.begin, .end = t.end };
    if (p[0] != '.' && (p[0] < '0' || p[0] > '9')) {     /* a NAME token, else a NUMBER */
        if (!plain(ps, t, "a size") || !(d.name = text(ps, t)))
            return NULL;
    } else {
        for (int i = 0; i < n; i++)
            if (p[i] < '0' || p[i] > '9') {
                cc_error(ps->c, EINC_ERR_SYNTAX, t.begin, t.end,
                         "a dimension must be a name or a non-negative integer, not '%.*s'", n, p);
                return NULL;
            }
        if (!parse_int(p, n, &d.value)) {
            cc_error(ps->c, EINC_ERR_SYNTAX, t.begin, t.end, "integer literal too large");
            return NULL;
        }
    }
    el_cell *cell = append(ps, &s);
    if (!cell)
        return NULL;
    cell->dim = d;
    return s;
}

el_seq *el_push_arg(el_state *ps, el_seq *s, el_node *x)
{
    if (ps->c->failed)
        return NULL;
    if (s && s->has_kw) {
        cc_error(ps->c, EINC_ERR_SYNTAX, x->begin, x->end,
                 "a positional argument cannot follow a keyword argument");
        return NULL;
    }
    el_cell *cell = append(ps, &s);
    if (!cell)
        return NULL;
    cell->arg.value = x;
    return s;
}

el_seq *el_push_kwarg(el_state *ps, el_seq *s, el_token key, el_node *x)
{
    if (ps->c->failed || !plain(ps, key, "a keyword"))
        return NULL;
    int n = key.end - key.begin;
    for (el_cell *p = s ? s->first : NULL; p; p = p->next)
        if (p->arg.key && same(p->arg.key, ps->c->src + key.begin, n)) {
            cc_error(ps->c, EINC_ERR_SYNTAX, key.begin, key.end,
                     "keyword argument '%.*s' repeated", n, ps->c->src + key.begin);
            return NULL;
        }
    el_cell *cell = append(ps, &s);
    if (!cell || !(cell->arg.key = text(ps, key)))
        return NULL;
    cell->arg.key_begin = key.begin;
    cell->arg.key_end = key.end;
    cell->arg.value = x;
    s->has_kw = true;
    return s;
}

static el_arg *flat_args(el_state *ps, const el_seq *s)
{
    if (!seq_len(s))
        return NULL;
    el_arg *a = ARENA_ARRAY(ps->c->A, el_arg, s->n);
    if (!a) {
        cc_nomem(ps->c);
        return NULL;
    }
    int i = 0;
    for (el_cell *p = s->first; p; p = p->next)
        a[i++] = p->arg;
    return a;
}

static el_item **flat_items(el_state *ps, const el_seq *s)
{
    if (!seq_len(s))
        return NULL;
    el_item **a = ARENA_ARRAY(ps->c->A, el_item *, s->n);
    if (!a) {
        cc_nomem(ps->c);
        return NULL;
    }
    int i = 0;
    for (el_cell *p = s->first; p; p = p->next)
        a[i++] = p->item;
    return a;
}

/* ---- expressions ---------------------------------------------------------------------- */

static el_node *node(el_state *ps, el_kind k, int begin, int end)
{
    el_node *x = ARENA_NEW(ps->c->A, el_node);
    if (!x) {
        cc_nomem(ps->c);
        return NULL;
    }
    x->kind = k;
    x->begin = begin;
    x->end = end;
    return x;
}

el_node *el_number(el_state *ps, el_token t)
{
    if (ps->c->failed)
        return NULL;
    const char *s = text(ps, t);
    el_node *x = node(ps, EL_NUMBER, t.begin, t.end);
    if (!s || !x)
        return NULL;
    x->is_int = !strpbrk(s, ".eE");
    int64_t v;
    if (x->is_int && (!parse_int(s, t.end - t.begin, &v) || v > EINL_EXACT_INT)) {
        cc_error(ps->c, EINC_ERR_SYNTAX, t.begin, t.end,
                 "integer literal too large: a number is a double, exact to 2^53 - 1 = 9007199254740991");
        return NULL;
    }
    x->value = strtod(s, NULL);
    if (isinf(x->value)) {
        cc_error(ps->c, EINC_ERR_SYNTAX, t.begin, t.end, "number literal too large");
        return NULL;
    }
    return x;
}

el_node *el_name(el_state *ps, el_token t)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_NAME, t.begin, t.end);
    if (x && !(x->name = text(ps, t)))
        return NULL;
    return x;
}

el_node *el_string(el_state *ps, el_token t)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_STRING, t.begin, t.end);
    if (x && !(x->str = text(ps, (el_token){ t.begin + 1, t.end - 1 })))
        return NULL;
    if (x)
        x->str_begin = t.begin + 1;
    return x;
}

el_node *el_call(el_state *ps, el_token name, el_seq *args, el_token close)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_CALL, name.begin, close.end);
    if (!x || !(x->name = text(ps, name)))
        return NULL;
    x->nargs = seq_len(args);
    x->args = flat_args(ps, args);
    return ps->c->failed ? NULL : x;
}

/* Parentheses leave no node of their own; the span grows to cover them. */
el_node *el_paren(el_state *ps, el_token open, el_node *x, el_token close)
{
    if (ps->c->failed)
        return NULL;
    x->begin = open.begin;
    x->end = close.end;
    return x;
}

el_node *el_tuple(el_state *ps, el_token open, el_seq *items, el_token close)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_TUPLE, open.begin, close.end);
    if (!x)
        return NULL;
    x->nargs = seq_len(items);
    x->args = flat_args(ps, items);
    return ps->c->failed ? NULL : x;
}

el_node *el_binary(el_state *ps, char op, el_node *a, el_node *b)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_BINARY, a->begin, b->end);
    if (x) {
        x->op = op;
        x->a = a;
        x->b = b;
    }
    return x;
}

el_node *el_neg(el_state *ps, el_token minus, el_node *a)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_NEG, minus.begin, a->end);
    if (x)
        x->a = a;
    return x;
}

/* ---- items ---------------------------------------------------------------------------- */

static el_item *item(el_state *ps, el_item_kind k, int begin, int end, el_token name)
{
    el_item *it = ARENA_NEW(ps->c->A, el_item);
    if (!it) {
        cc_nomem(ps->c);
        return NULL;
    }
    it->kind = k;
    it->begin = begin;
    it->end = end;
    if (name.end > name.begin) {
        if (!plain(ps, name, k == EL_DEF ? "a block's name" : k == EL_ASSIGN ? "an assigned name" : "a declared name") ||
            !(it->name = text(ps, name)))
            return NULL;
        it->name_begin = name.begin;
        it->name_end = name.end;
    }
    return it;
}

el_item *el_decl(el_state *ps, el_item_kind k, el_token kw, el_token name, el_token dtype,
                 el_seq *dims, el_token close)
{
    if (ps->c->failed)
        return NULL;
    const char *d = ps->c->src + dtype.begin;
    int n = dtype.end - dtype.begin, t = dtype_from_brief(d, (size_t)n);
    if (t == EINC_DTYPE_COUNT) {
        cc_error(ps->c, EINC_ERR_SYNTAX, dtype.begin, dtype.end,
                 "unknown dtype '%.*s': expected f16, bf16, f32, f64, c64, c128, i8, i16, i32, "
                 "i64, u8, u16, u32, u64 or bool", n, d);
        return NULL;
    }
    el_item *it = item(ps, k, kw.begin, close.end, name);
    if (!it)
        return NULL;
    it->dtype = (einc_dtype)t;
    it->ndim = seq_len(dims);
    if (it->ndim) {
        if (!(it->dim = ARENA_ARRAY(ps->c->A, el_dim, it->ndim))) {
            cc_nomem(ps->c);
            return NULL;
        }
        int i = 0;
        for (el_cell *p = dims->first; p; p = p->next)
            it->dim[i++] = p->dim;
    }
    return it;
}

el_item *el_def(el_state *ps, el_token kw, el_token name, el_seq *params, el_seq *body,
                el_token close)
{
    if (ps->c->failed)
        return NULL;
    el_item *it = item(ps, EL_DEF, kw.begin, close.end, name);
    if (!it)
        return NULL;
    it->nparams = seq_len(params);
    if (it->nparams) {
        it->params = ARENA_ARRAY(ps->c->A, const char *, it->nparams);
        it->param_begin = ARENA_ARRAY(ps->c->A, int, it->nparams);
        it->param_end = ARENA_ARRAY(ps->c->A, int, it->nparams);
        if (!it->params || !it->param_begin || !it->param_end) {
            cc_nomem(ps->c);
            return NULL;
        }
        int i = 0;
        for (el_cell *p = params->first; p; p = p->next, i++) {
            it->params[i] = p->dim.name;
            it->param_begin[i] = p->dim.begin;
            it->param_end[i] = p->dim.end;
        }
    }
    it->nbody = seq_len(body);
    it->body = flat_items(ps, body);
    return ps->c->failed ? NULL : it;
}

el_item *el_assign(el_state *ps, el_token name, el_node *x)
{
    if (ps->c->failed)
        return NULL;
    el_item *it = item(ps, EL_ASSIGN, name.begin, x->end, name);
    if (it)
        it->value = x;
    return it;
}

el_item *el_return(el_state *ps, el_token kw, el_node *x)
{
    if (ps->c->failed)
        return NULL;
    el_item *it = item(ps, EL_RETURN, kw.begin, x->end, (el_token){ 0, 0 });
    if (it)
        it->value = x;
    return it;
}

/* `return a, b`: a tuple of the results, spanning them (model.c reads a top-level one). */
el_item *el_return_many(el_state *ps, el_token kw, el_seq *items)
{
    if (ps->c->failed)
        return NULL;
    el_node *x = node(ps, EL_TUPLE, kw.begin, kw.end);
    if (!x)
        return NULL;
    x->nargs = seq_len(items);
    x->args = flat_args(ps, items);
    if (ps->c->failed)
        return NULL;
    x->begin = x->args[0].value->begin;
    x->end = x->args[x->nargs - 1].value->end;
    return el_return(ps, kw, x);
}

void el_top(el_state *ps, el_item *it) { ps->top = el_push_item(ps, ps->top, it); }

/* ---- errors --------------------------------------------------------------------------- */

static void line_col(const char *src, int at, int *line, int *col)
{
    int l = 1, start = strncmp(src, "\xEF\xBB\xBF", 3) == 0 && at >= 3 ? 3 : 0;   /* past a BOM */
    for (int i = 0; i < at && src[i]; i++)
        if (src[i] == '\n') {
            l++;
            start = i + 1;
        }
    *line = l;
    *col = at - start + 1;
}

static char closer(char open) { return open == '(' ? ')' : open == '[' ? ']' : '}'; }

/* "'x'", "newline", "end of input": how a message names a token. */
static void describe(const el_state *ps, int major, el_token t, char *buf, size_t n)
{
    int len = t.end - t.begin;
    if (major == EL_LEX_END)
        snprintf(buf, n, "end of input");
    else if (major == EL_TK_NEWLINE)
        snprintf(buf, n, "newline");
    else if (major == EL_TK_STRING)
        snprintf(buf, n, "string");
    else if (len > 32)
        snprintf(buf, n, "'%.29s...'", ps->c->src + t.begin);
    else
        snprintf(buf, n, "'%.*s'", len, ps->c->src + t.begin);
}

/* After these an operand must come. */
static bool wants_operand(int prev)
{
    return prev == EL_TK_PLUS || prev == EL_TK_MINUS || prev == EL_TK_STAR ||
           prev == EL_TK_SLASH || prev == EL_TK_ASSIGN || prev == EL_TK_RETURN;
}

/* What would have fitted after ps->prev, in words. */
static const char *expected(const el_state *ps)
{
    int p = ps->prev;
    const el_open *top = ps->depth ? &ps->open[ps->depth - 1] : NULL;
    if (top && top->role == EL_DIMS)
        return p == EL_TK_LBRACKET || p == EL_TK_COMMA
                   ? "a size (a name or a non-negative integer)" : "',' or ']'";
    if (top && top->role == EL_PARAMS)
        return p == EL_TK_LPAREN || p == EL_TK_COMMA ? "a parameter name" : "',' or ')'";
    if (wants_operand(p) || (top && (p == EL_TK_LPAREN || p == EL_TK_COMMA)))
        return "an expression";
    if (top)
        return "',' or ')'";
    switch (ps->head) {
    case 0:
        return ps->in_def ? "an assignment, 'return' or '}'"
                          : "'input', 'param', 'def', 'return' or an assignment";
    case EL_TK_INPUT:
    case EL_TK_PARAM:
        if (p == EL_TK_COLON)
            return "a dtype (f32, f64, i32, i64 or bool)";
        if (p == EL_TK_NAME)
            return ps->ntok == 2 ? "':'" : "'['";
        return p == EL_TK_RBRACKET ? "a newline" : "a name";
    case EL_TK_DEF:
        if (p == EL_TK_DEF)
            return "a name";
        if (p == EL_TK_NAME)
            return "'('";
        return p == EL_TK_RPAREN ? "'{'" : "a newline";
    case EL_TK_NAME:
        if (ps->ntok == 1)
            return "'='";
        break;
    }
    return ps->in_def ? "an operator, a newline or '}'" : "an operator or a newline";
}

void el_syntax_error(el_state *ps, el_token t, int major)
{
    cc *c = ps->c;
    char what[48];
    describe(ps, major, t, what, sizeof what);
    int line, col;
    if (major == EL_LEX_END && ps->in_def && !wants_operand(ps->prev)) {
        line_col(c->src, ps->brace, &line, &col);
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end,
                 "unexpected end of input: expected '}' to close the '{' at line %d, column %d",
                 line, col);
        return;
    }
    /* A bracket left open on an earlier line is the likely culprit; name it. */
    char hint[96] = "";
    if (ps->depth) {
        const el_open *top = &ps->open[ps->depth - 1];
        int tline, tcol;
        line_col(c->src, t.begin, &tline, &tcol);
        line_col(c->src, top->at, &line, &col);
        if (tline > line)
            snprintf(hint, sizeof hint, " (the '%c' at line %d, column %d is still open)",
                     top->ch, line, col);
    }
    cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "unexpected %s: expected %s%s", what,
             expected(ps), hint);
}

void el_overflow(el_state *ps)
{
    cc_error(ps->c, EINC_ERR_SYNTAX, ps->cur.begin, ps->cur.end, "expression too deeply nested");
}

static void lex_error(cc *c, int k, el_token t)
{
    unsigned char ch = (unsigned char)c->src[t.begin];
    if (k == EL_LEX_UNTERMINATED)
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "unterminated string");
    else if (k == EL_LEX_BADNUM)
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "invalid number '%.*s'", t.end - t.begin,
                 c->src + t.begin);
    else if (ch >= 0x20 && ch < 0x7f)      /* printable ASCII, whatever the locale */
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "unexpected character '%c'", ch);
    else
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "unexpected byte 0x%02x", ch);
}

/* ---- the driver ----------------------------------------------------------------------- */

/* Errors the loop sees before the parser does, because it knows where brackets opened. */
static bool precheck(el_state *ps, int k, el_token t)
{
    cc *c = ps->c;
    const el_open *top = ps->depth ? &ps->open[ps->depth - 1] : NULL;
    int line, col;
    if (top && (k == EL_LEX_END || k == EL_TK_RPAREN || k == EL_TK_RBRACKET || k == EL_TK_RBRACE) &&
        c->src[t.begin] != closer(top->ch)) {
        char what[48];
        describe(ps, k, t, what, sizeof what);
        line_col(c->src, top->at, &line, &col);
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end,
                 "unexpected %s: expected '%c' to close the '%c' at line %d, column %d", what,
                 closer(top->ch), top->ch, line, col);
        return false;
    }
    if (k == EL_TK_DEF && ps->in_def) {
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "'def' blocks cannot be nested");
        return false;
    }
    if ((k == EL_TK_INPUT || k == EL_TK_PARAM) && ps->in_def) {
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end,
                 "'%s' declarations belong at the top level, not inside a 'def' block",
                 k == EL_TK_INPUT ? "input" : "param");
        return false;
    }
    if ((k == EL_TK_LPAREN || k == EL_TK_LBRACKET) && ps->depth == EL_MAX_DEPTH) {
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "brackets nested too deeply (at most %d)",
                 EL_MAX_DEPTH);
        return false;
    }
    bool unary = k == EL_TK_MINUS && (wants_operand(ps->prev) || (ps->depth &&
                 (ps->prev == EL_TK_LPAREN || ps->prev == EL_TK_COMMA)));
    ps->unary = unary ? ps->unary + 1 : 0;
    if (ps->unary > EL_MAX_UNARY) {
        cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "more than %d unary minus signs in a row",
                 EL_MAX_UNARY);
        return false;
    }
    return true;
}

/* Moves the picture past a token the parser took. */
static void advance(el_state *ps, int k, el_token t)
{
    switch (k) {
    case EL_TK_LPAREN: {
        el_role r = ps->prev != EL_TK_NAME ? EL_GROUP
                  : ps->head == EL_TK_DEF && ps->ntok == 2 && !ps->depth ? EL_PARAMS
                  : EL_CALLARGS;
        ps->open[ps->depth++] = (el_open){ '(', r, t.begin };
        break;
    }
    case EL_TK_LBRACKET:
        ps->open[ps->depth++] = (el_open){ '[', EL_DIMS, t.begin };
        break;
    case EL_TK_RPAREN:
    case EL_TK_RBRACKET:
        ps->depth--;
        break;
    case EL_TK_LBRACE:          /* only a def's, or the parser would have refused it */
        ps->in_def = true;
        ps->brace = t.begin;
        ps->head = ps->ntok = 0;
        ps->prev = k;
        return;
    case EL_TK_RBRACE:
        ps->in_def = false;
        ps->head = EL_TK_DEF;
        break;
    case EL_TK_NEWLINE:         /* only outside brackets */
        ps->head = ps->ntok = 0;
        ps->prev = k;
        return;
    }
    if (!ps->head)
        ps->head = k;
    ps->ntok++;
    ps->prev = k;
}

static int by_name(const void *x, const void *y)
{
    const el_item *a = *(el_item *const *)x, *b = *(el_item *const *)y;
    int d = strcmp(a->name, b->name);
    return d ? d : (a->begin > b->begin) - (a->begin < b->begin);
}

/*
 * Two declarations of one name: the second would hide the first's array, so it is an error
 * at the second.  Sorted by name (then position) rather than compared pairwise, so that a
 * generated model with many declarations stays linear-logarithmic.
 */
static void check_duplicates(cc *c, const el_model *m)
{
    el_item **v = ARENA_ARRAY(c->A, el_item *, m->ninputs);
    if (!v) {
        cc_nomem(c);
        return;
    }
    memcpy(v, m->inputs, sizeof *v * (size_t)m->ninputs);
    qsort(v, (size_t)m->ninputs, sizeof *v, by_name);
    const el_item *dup = NULL;
    for (int i = 1; i < m->ninputs; i++)
        if (!strcmp(v[i - 1]->name, v[i]->name) && (!dup || v[i]->begin < dup->begin))
            dup = v[i];
    if (dup)
        cc_error(c, EINC_ERR_SYNTAX, dup->name_begin, dup->name_end,
                 "'%s' is declared twice: an input or param name is declared once", dup->name);
}

/*
 * The results' names, from the first top-level return (model.c reports a second one).  A
 * name twice would make two arrays of one name in an .npz or a header: an error at the
 * second.  Results are few (a handful), so the pairwise comparison stays cheap.
 */
static void name_results(cc *c, el_model *m)
{
    const el_node *x = NULL;
    for (int i = 0; i < m->nitems && !x; i++)
        if (m->items[i]->kind == EL_RETURN)
            x = m->items[i]->value;
    m->nresults = x && x->kind == EL_TUPLE ? x->nargs : 1;
    m->result_name = ARENA_ARRAY(c->A, const char *, m->nresults);
    if (!m->result_name) {
        cc_nomem(c);
        return;
    }
    for (int i = 0; i < m->nresults; i++) {
        const el_node *r = x && x->kind == EL_TUPLE ? x->args[i].value : x;
        char buf[32];
        snprintf(buf, sizeof buf, "out%d", i);
        const char *name = r && r->kind == EL_NAME ? r->name : arena_strndup(c->A, buf, strlen(buf));
        if (!name) {
            cc_nomem(c);
            return;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(m->result_name[j], name)) {
                cc_error(c, EINC_ERR_SYNTAX, r ? r->begin : -1, r ? r->end : -1,
                         "'%s' is returned twice: each result needs a name of its own", name);
                return;
            }
        m->result_name[i] = name;
    }
}

el_model *einl_parse(cc *c)
{
    el_state ps = { .c = c, .prev = EL_TK_NEWLINE };
    void *parser = elParseAlloc(einc_malloc, &ps);
    if (!parser) {
        cc_nomem(c);
        return NULL;
    }
    /* a UTF-8 byte order mark, as some editors write one; spans stay offsets into src */
    int pos = strncmp(c->src, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    for (;;) {
        int len, k = lex_einl(c->src + pos, &len);
        el_token t = { pos, pos + len };
        if (k == EL_LEX_SPACE || (k == EL_TK_NEWLINE && ps.depth)) {
            pos += len;
            continue;
        }
        if (k < 0) {
            lex_error(c, k, t);
            break;
        }
        if (!precheck(&ps, k, t))
            break;
        ps.cur = t;
        elParse(parser, k, t);
        if (c->failed || k == EL_LEX_END)
            break;
        advance(&ps, k, t);
        pos += len;
    }
    elParseFree(parser, einc_free);
    if (c->failed)
        return NULL;
    el_model *m = ARENA_NEW(c->A, el_model);
    if (!m) {
        cc_nomem(c);
        return NULL;
    }
    m->nitems = seq_len(ps.top);
    m->items = flat_items(&ps, ps.top);
    for (int i = 0; i < m->nitems; i++)
        m->ninputs += m->items[i]->kind == EL_INPUT || m->items[i]->kind == EL_PARAM;
    m->inputs = m->ninputs ? ARENA_ARRAY(c->A, el_item *, m->ninputs) : NULL;
    if (m->ninputs && !m->inputs)
        cc_nomem(c);
    for (int i = 0, k = 0; m->inputs && i < m->nitems; i++)
        if (m->items[i]->kind == EL_INPUT || m->items[i]->kind == EL_PARAM)
            m->inputs[k++] = m->items[i];
    if (m->inputs && !c->failed)
        check_duplicates(c, m);
    if (!c->failed)
        name_results(c, m);
    return c->failed ? NULL : m;
}

bool einl_is_model_name(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 5 && !strcmp(path + n - 5, ".einl");
}
