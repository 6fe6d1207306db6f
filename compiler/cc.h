/*
 * cc.h — the compile context and the AST of an index expression.
 *
 * One cc per compilation: the arena everything is allocated from, the source text, and the
 * first error (status, message, byte span).  Library code reports user errors with cc_error
 * and returns; it never prints or exits.
 */
#ifndef EINC_CC_H
#define EINC_CC_H

#include "arena.h"
#include "einc.h"

#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CC_PRINTF(f, a)
#endif

typedef struct cc {
    arena *A;               /* where the AST and IR live */
    const char *src;        /* the expression, NUL-terminated */
    einc_error *err;        /* first error wins; may point to a scratch error */
    bool failed;
} cc;

/* Records the first error (later ones are consequences) and returns -1 for `return cc_error(...)`. */
int cc_error(cc *c, einc_status st, int begin, int end, const char *fmt, ...) CC_PRINTF(5, 6);
int cc_nomem(cc *c);

/* ---- AST ---------------------------------------------------------------------------- */

typedef enum dialect { DIALECT_NUMPY, DIALECT_EINOPS } dialect;

typedef enum ast_kind {
    AST_NAME,               /* an axis: one letter (numpy) or an identifier (einops) */
    AST_NUMBER,             /* an anonymous axis: 1 is a unit axis, N a fixed size */
    AST_ELLIPSIS,           /* ... */
    AST_GROUP               /* (h w): a composition of its members, () is a unit axis */
} ast_kind;

typedef struct ast_axis ast_axis;
struct ast_axis {
    ast_kind kind;
    int begin, end;         /* byte span in the source */
    const char *name;       /* AST_NAME */
    int64_t number;         /* AST_NUMBER */
    int n;                  /* AST_GROUP: member count */
    ast_axis **member;      /* AST_GROUP: members (names, numbers, ellipsis) */
    ast_axis *next;         /* list link while parsing */
    ast_axis *mfirst, *mlast; /* AST_GROUP: members while parsing */
};

typedef struct ast_side {
    int begin, end;         /* the operand's text, trimmed */
    int n;
    ast_axis **ax;          /* top-level axes: names, numbers, ellipsis, groups */
    ast_axis *first, *last; /* list while parsing */
} ast_side;

typedef struct ast_expr {
    dialect dialect;
    bool forced;            /* the caller chose the dialect (einc_options.dialect) */
    const char *why;        /* the dialect rule that applied, for explain */
    int nin;
    ast_side **in;
    ast_side *out;          /* NULL: implicit output (numpy) */
    int arrow;              /* byte offset of "->", -1 when absent */
} ast_expr;

/* Parses src (grammar/ + the driver in parse.c).  NULL with c->err set on failure. */
ast_expr *parse_expr(cc *c);
/* The same, read in the dialect asked for (AUTO: the rule of parse.c). */
ast_expr *parse_expr_as(cc *c, einc_dialect force);

#endif
