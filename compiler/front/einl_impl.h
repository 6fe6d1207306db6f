/*
 * einl_impl.h — what the Lemon grammar (grammar/einl_gram.y) sees of the .einl parse
 * driver (compiler/front/einl_parse.c).  Internal to the front end.
 */
#ifndef EINC_EINL_IMPL_H
#define EINC_EINL_IMPL_H

#include "einl.h"

typedef struct el_token {
    int begin, end;         /* byte span in the source, end exclusive */
} el_token;

/* A list under construction (arguments, dimensions, parameters, statements). */
typedef struct el_cell el_cell;
struct el_cell {
    el_cell *next;
    el_arg arg;             /* call arguments, tuple members */
    el_dim dim;             /* dimensions; parameters use its name and span */
    el_item *item;          /* def bodies, the top level */
};

typedef struct el_seq {
    int n;
    el_cell *first, *last;
    bool has_kw;            /* arguments: a keyword argument has been seen */
} el_seq;

/*
 * Brackets deeper than EL_MAX_DEPTH are an error, and so is a run of more than EL_MAX_UNARY
 * unary minus signs: those are the only constructs that stack up in the parser (a sum or a
 * statement list is left-recursive and reduces as it goes), so with both bounded the
 * parser's stack (grammar/einl_gram.y: %stack_size) cannot overflow, whatever the input:
 * at most about 80 entries per bracket level, 65 levels.
 */
#define EL_MAX_DEPTH 64
#define EL_MAX_UNARY 64

typedef enum el_role {
    EL_GROUP,               /* ( for grouping or a tuple */
    EL_CALLARGS,            /* ( after a callee's name */
    EL_PARAMS,              /* ( after def NAME */
    EL_DIMS                 /* [ of a declaration */
} el_role;

typedef struct el_open {
    char ch;                /* '(' or '[' */
    el_role role;
    int at;                 /* its byte offset */
} el_open;

typedef struct el_state {
    cc *c;
    el_seq *top;            /* top-level items in order */
    /* Where the driver is, so a syntax error can say what was expected. */
    int prev;               /* the last token fed to the parser; NEWLINE at the start */
    int head;               /* the current statement's first token, 0 before it */
    int ntok;               /* tokens fed in the current statement */
    bool in_def;            /* inside a def body */
    int brace;              /* the byte offset of that body's '{' */
    int depth;              /* open brackets */
    int unary;              /* unary minus signs in a row just before this token */
    el_open open[EL_MAX_DEPTH];
    el_token cur;           /* the token being fed */
} el_state;

void el_top(el_state *ps, el_item *it);
el_item *el_decl(el_state *ps, el_item_kind k, el_token kw, el_token name, el_token dtype,
                 el_seq *dims, el_token close);
el_item *el_def(el_state *ps, el_token kw, el_token name, el_seq *params, el_seq *body,
                el_token close);
el_item *el_assign(el_state *ps, el_token name, el_node *x);
el_item *el_return(el_state *ps, el_token kw, el_node *x);
el_item *el_return_many(el_state *ps, el_token kw, el_seq *items);

el_seq *el_push_item(el_state *ps, el_seq *s, el_item *it);
el_seq *el_push_name(el_state *ps, el_seq *s, el_token name);
el_seq *el_push_dim(el_state *ps, el_seq *s, el_token t);
el_seq *el_push_arg(el_state *ps, el_seq *s, el_node *x);
el_seq *el_push_kwarg(el_state *ps, el_seq *s, el_token key, el_node *x);

el_node *el_number(el_state *ps, el_token t);
el_node *el_name(el_state *ps, el_token t);
el_node *el_string(el_state *ps, el_token t);
el_node *el_call(el_state *ps, el_token name, el_seq *args, el_token close);
el_node *el_paren(el_state *ps, el_token open, el_node *x, el_token close);
el_node *el_tuple(el_state *ps, el_token open, el_seq *items, el_token close);
el_node *el_binary(el_state *ps, char op, el_node *a, el_node *b);
el_node *el_neg(el_state *ps, el_token minus, el_node *a);

void el_syntax_error(el_state *ps, el_token t, int major);
void el_overflow(el_state *ps);

#endif
