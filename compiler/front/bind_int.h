/*
 * bind_int.h — what bind.c (axes, the output, the whole pass), bind_shape.c (shape
 * inference) and bind_emit.c (tensors, accesses and statements) share: the binder's state
 * and its small helpers.  bind.c's comment gives the algorithm.
 */
#ifndef EINC_BIND_INT_H
#define EINC_BIND_INT_H

#include "ir.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct binder {
    cc *c;
    const ast_expr *e;
    const bind_opts *o;
    ir_prog *p;
    int cap;                    /* axis table capacity */
    int nin;
    const einc_tensor *inputs;  /* NULL: symbolic */
    int *erank;                 /* per operand: dims its ellipsis covers, -1: no ellipsis */
    int nell;                   /* ellipsis axes (the broadcast of every operand's) */
    int ell0;                   /* axis id of the first ellipsis axis */
    int nanon, anon_cap;        /* anonymous numbers > 1: their AST node and axis */
    const ast_axis **anon_node;
    int *anon_id;
} binder;

/* The axis made for one anonymous-number node (bind.c: anon_add), or -1. */
static inline int anon_find(const binder *b, const ast_axis *a)
{
    for (int i = 0; i < b->nanon; i++)
        if (b->anon_node[i] == a)
            return b->anon_id[i];
    return -1;
}

/* A side's source text, in buf. */
static inline const char *side_text(binder *b, const ast_side *s, char *buf, size_t n)
{
    snprintf(buf, n, "%.*s", s->end - s->begin, b->c->src + s->begin);
    return buf;
}

/* The axis of that name, or -1. */
static inline int find_axis(ir_prog *p, const char *name)
{
    for (int i = 0; i < p->naxis; i++)
        if (strcmp(p->axis[i].name, name) == 0)
            return i;
    return -1;
}

/* bind.c: a new axis (size -1), its id; < 0 out of memory. */
int bind_add_axis(binder *b, const char *name, int begin, int end, bool anonymous);
/* bind.c: whether a side has an ellipsis, at its top or in a group. */
bool bind_has_ellipsis(const ast_side *s);

/* bind_shape.c, step 3: each operand's rank against its input's (inputs given). */
int bind_check_ranks(binder *b);
/* bind_shape.c: the ellipsis axes, the broadcast of every operand's. */
int bind_ellipsis_axes(binder *b);
/* bind_shape.c: every axis's size from the input shapes (plain axes, then groups). */
int bind_infer_shapes(binder *b);

/* bind_emit.c, step 5: the tensors, accesses and statements for the output out. */
int bind_emit(binder *b, const ast_side *out);

#endif
