/*
 * parse.c — the front end's driver: dialect choice, the token loop, the AST builders the
 * grammar's actions call.
 *
 * The dialect is decided on the raw text (README, "Which dialect?"): if any operand has
 * whitespace inside it, or the text has parentheses or digits, it is einops style (names
 * separated by spaces); otherwise numpy style (one letter per axis).  A caller may force
 * either reading, since some einops patterns look like numpy ones ("... ->", "index ->")
 * and numpy itself skips spaces inside subscripts ("i j->j i").  The scanner for that dialect
 * then feeds Lemon token by token.  Bracket structure is checked here, in the loop, rather
 * than in the grammar, because here we still know where a bracket was opened and can say
 * so; Lemon would only see an unexpected token.
 */
#include "parse_impl.h"
#include "index.h"
#include "lex.h"
#include "alloc.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void *ixParseAlloc(void *(*mallocProc)(size_t), ix_state *ps);
void ixParseFree(void *p, void (*freeProc)(void *));
void ixParse(void *p, int major, ix_token minor);

/* ---- actions -------------------------------------------------------------------------- */

static ix_seg seg_at(ix_state *ps, int i)
{
    if (i < ps->nseg)
        return ps->seg[i];
    return (ix_seg){ (int)strlen(ps->c->src), (int)strlen(ps->c->src) };
}

static void finish_side(ix_state *ps, ast_side *s)
{
    ix_seg g = seg_at(ps, ps->nside++);
    s->begin = g.begin;
    s->end = g.end;
    s->ax = ARENA_ARRAY(ps->c->A, ast_axis *, s->n);
    if (!s->ax) {
        cc_nomem(ps->c);
        return;
    }
    int i = 0;
    for (ast_axis *a = s->first; a; a = a->next)
        s->ax[i++] = a;
}

void ix_input(ix_state *ps, ast_side *s)
{
    if (!s || ps->c->failed)
        return;
    if (ps->e->nin >= EINC_MAX_OPERANDS) {
        ix_seg g = seg_at(ps, ps->nside);
        cc_error(ps->c, EINC_ERR_SYNTAX, g.begin, g.end,
                 "too many operands: einc takes at most %d", EINC_MAX_OPERANDS);
        return;
    }
    finish_side(ps, s);
    ps->in[ps->e->nin++] = s;
}

void ix_implicit(ix_state *ps) { ps->e->out = NULL; }

void ix_output(ix_state *ps, ix_token arrow, ast_side *s)
{
    if (!s || ps->c->failed)
        return;
    finish_side(ps, s);
    ps->e->out = s;
    ps->e->arrow = arrow.begin;
}

ast_side *ix_side(ix_state *ps)
{
    ast_side *s = ARENA_NEW(ps->c->A, ast_side);
    if (!s)
        cc_nomem(ps->c);
    return s;
}

ast_side *ix_side_add(ix_state *ps, ast_side *s, ast_axis *a)
{
    (void)ps;
    if (!s || !a)
        return s;
    if (s->last)
        s->last->next = a;
    else
        s->first = a;
    s->last = a;
    s->n++;
    return s;
}

ast_axis *ix_axis(ix_state *ps, ast_kind k, ix_token t)
{
    cc *c = ps->c;
    ast_axis *a = ARENA_NEW(c->A, ast_axis);
    if (!a) {
        cc_nomem(c);
        return NULL;
    }
    a->kind = k;
    a->begin = t.begin;
    a->end = t.end;
    if (k == AST_NAME) {
        a->name = arena_strndup(c->A, c->src + t.begin, (size_t)(t.end - t.begin));
        if (!a->name)
            cc_nomem(c);
    } else if (k == AST_NUMBER) {
        int64_t v = 0;
        for (int i = t.begin; i < t.end; i++) {
            if (v > (INT64_MAX - 9) / 10) {
                cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end, "axis length %.*s is too large",
                         t.end - t.begin, c->src + t.begin);
                return NULL;
            }
            v = v * 10 + (c->src[i] - '0');
        }
        if (v == 0) {
            cc_error(c, EINC_ERR_SYNTAX, t.begin, t.end,
                     "an anonymous axis must have a positive length, not 0");
            return NULL;
        }
        a->number = v;
    }
    return a;
}

ast_axis *ix_group(ix_state *ps)
{
    ast_axis *g = ARENA_NEW(ps->c->A, ast_axis);
    if (!g)
        cc_nomem(ps->c);
    else
        g->kind = AST_GROUP;
    return g;
}

ast_axis *ix_group_add(ix_state *ps, ast_axis *g, ast_axis *m)
{
    (void)ps;
    if (!g || !m)
        return g;
    if (g->mlast)
        g->mlast->next = m;
    else
        g->mfirst = m;
    g->mlast = m;
    g->n++;
    return g;
}

ast_axis *ix_group_close(ix_state *ps, ast_axis *g, ix_token l, ix_token r)
{
    if (!g)
        return NULL;
    g->begin = l.begin;
    g->end = r.end;
    g->member = ARENA_ARRAY(ps->c->A, ast_axis *, g->n);
    if (!g->member) {
        cc_nomem(ps->c);
        return NULL;
    }
    int i = 0;
    for (ast_axis *m = g->mfirst; m; m = m->next)
        g->member[i++] = m;
    return g;
}

void ix_syntax_error(ix_state *ps, ix_token t, int major)
{
    (void)major;
    cc_error(ps->c, EINC_ERR_SYNTAX, t.begin, t.end, "unexpected '%.*s'", t.end - t.begin,
             ps->c->src + t.begin);
}

void ix_overflow(ix_state *ps)
{
    cc_error(ps->c, EINC_ERR_SYNTAX, -1, -1, "expression too deeply nested");
}

/* ---- the driver ------------------------------------------------------------------------- */

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

/*
 * Splits the text at "," and "->" into operand segments (trimmed), and decides the
 * dialect unless the caller forced one.
 */
static void prescan(ix_state *ps, einc_dialect force)
{
    const char *s = ps->c->src;
    ast_expr *e = ps->e;
    bool einops = false;
    const char *why = NULL;
    int start = 0, n = (int)strlen(s);
    for (int i = 0; i <= n; i++) {
        bool sep2 = s[i] == '-' && s[i + 1] == '>';
        if (s[i] == ',' || sep2 || s[i] == 0) {
            int b = start, en = i;
            while (b < en && is_space(s[b]))
                b++;
            while (en > b && is_space(s[en - 1]))
                en--;
            for (int j = b; j < en && !einops; j++)
                if (is_space(s[j])) {
                    einops = true;
                    why = "einops (an operand has whitespace inside it: axes are names separated by spaces)";
                }
            if (ps->nseg < ps->cap)
                ps->seg[ps->nseg++] = (ix_seg){ b, en };
            if (sep2)
                i++;
            start = i + 1;
        } else if (!einops && (s[i] == '(' || s[i] == ')')) {
            einops = true;
            why = "einops (parentheses are einops composition)";
        } else if (!einops && isdigit((unsigned char)s[i])) {
            einops = true;
            why = "einops (a digit is an einops anonymous axis)";
        }
    }
    if (force == EINC_DIALECT_EINOPS) {
        einops = true;
        why = "einops (asked for: axes are names separated by spaces)";
    } else if (force == EINC_DIALECT_NUMPY) {
        einops = false;
    }
    e->dialect = einops ? DIALECT_EINOPS : DIALECT_NUMPY;
    e->forced = force != EINC_DIALECT_AUTO;
    e->why = einops ? why
           : e->forced ? "numpy (asked for: one letter is one axis)"
                       : "numpy (no operand has whitespace inside it: one letter is one axis)";
}

static void bad_char(cc *c, const ast_expr *e, int at)
{
    unsigned char ch = (unsigned char)c->src[at];
    dialect d = e->dialect;
    if (ch == '.')
        cc_error(c, EINC_ERR_SYNTAX, at, at + 1, "'.' that is not part of an ellipsis '...'");
    else if (ch == '-' || ch == '>')
        cc_error(c, EINC_ERR_SYNTAX, at, at + 1, "'%c' that is not part of an arrow '->'", ch);
    else if (d == DIALECT_NUMPY && (ch == '_' || ch >= 0x80 || (e->forced && isprint(ch))))
        cc_error(c, EINC_ERR_SYNTAX, at, at + 1,
                 "invalid subscript '%c': numpy-style subscripts are the letters a-z and A-Z %s",
                 ch >= 0x80 ? '?' : ch,
                 e->forced ? "(the numpy dialect was asked for)"
                           : "(use spaces between names for einops style)");
    else if (isprint(ch))
        cc_error(c, EINC_ERR_SYNTAX, at, at + 1, "invalid character '%c' in %s", ch,
                 d == DIALECT_NUMPY ? "subscripts: numpy-style subscripts are the letters a-z and A-Z"
                                    : "pattern: axes are names, numbers, '...' and '(...)' groups");
    else
        cc_error(c, EINC_ERR_SYNTAX, at, at + 1, "invalid byte 0x%02x in expression", ch);
}

ast_expr *parse_expr(cc *c) { return parse_expr_as(c, EINC_DIALECT_AUTO); }

ast_expr *parse_expr_as(cc *c, einc_dialect force)
{
    if ((unsigned)force > EINC_DIALECT_EINOPS) {
        cc_error(c, EINC_ERR_ARG, -1, -1, "unknown dialect %d", (int)force);
        return NULL;
    }
    ix_state ps = { .c = c };
    ast_expr *e = ARENA_NEW(c->A, ast_expr);
    if (!e) {
        cc_nomem(c);
        return NULL;
    }
    e->arrow = -1;
    ps.e = e;
    int cap = 2;
    for (const char *p = c->src; *p; p++)
        cap += *p == ',' || *p == '>';
    ps.cap = cap;
    ps.seg = ARENA_ARRAY(c->A, ix_seg, cap);
    ps.in = ARENA_ARRAY(c->A, ast_side *, cap);
    if (!ps.seg || !ps.in) {
        cc_nomem(c);
        return NULL;
    }
    prescan(&ps, force);

    void *parser = ixParseAlloc(einc_malloc, &ps);
    if (!parser) {
        cc_nomem(c);
        return NULL;
    }
    int (*lex)(const char *, int *) = e->dialect == DIALECT_NUMPY ? lex_numpy : lex_einops;
    int pos = 0, open = -1, arrow = -1;
    for (;;) {
        int len, k = lex(c->src + pos, &len);
        ix_token t = { pos, pos + len };
        if (k == LEX_SPACE) {
            pos += len;
            continue;
        }
        if (k == LEX_BAD) {
            bad_char(c, e, pos);
            break;
        }
        if (k == TK_LPAREN) {
            if (open >= 0) {
                cc_error(c, EINC_ERR_SYNTAX, pos, pos + 1,
                         "nested parentheses are not allowed (the group opened at column %d "
                         "is still open)", open + 1);
                break;
            }
            open = pos;
        } else if (k == TK_RPAREN) {
            if (open < 0) {
                cc_error(c, EINC_ERR_SYNTAX, pos, pos + 1, "unmatched ')'");
                break;
            }
            open = -1;
        } else if (open >= 0 && (k == TK_COMMA || k == TK_ARROW || k == LEX_END)) {
            cc_error(c, EINC_ERR_SYNTAX, open, open + 1, "'(' is never closed%s",
                     k == LEX_END ? "" : k == TK_COMMA ? " before ','" : " before '->'");
            break;
        } else if (k == TK_ARROW) {
            if (arrow >= 0) {
                cc_error(c, EINC_ERR_SYNTAX, pos, pos + 2, "'->' appears more than once");
                break;
            }
            arrow = pos;
        } else if (k == TK_COMMA && arrow >= 0) {
            cc_error(c, EINC_ERR_SYNTAX, pos, pos + 1,
                     "',' after '->': an expression has exactly one output");
            break;
        }
        ixParse(parser, k, t);
        if (c->failed || k == LEX_END)
            break;
        pos += len;
    }
    ixParseFree(parser, einc_free);
    if (c->failed)
        return NULL;
    e->in = ps.in;
    return e;
}
