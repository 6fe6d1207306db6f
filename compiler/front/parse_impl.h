/*
 * parse_impl.h — what the Lemon grammar (grammar/index.y) sees of the parse driver.
 * Internal to the front end.
 */
#ifndef EINC_PARSE_IMPL_H
#define EINC_PARSE_IMPL_H

#include "cc.h"

typedef struct ix_token {
    int begin, end;
} ix_token;

typedef struct ix_seg {
    int begin, end;         /* one operand's text, trimmed */
} ix_seg;

typedef struct ix_state {
    cc *c;
    ast_expr *e;
    int nseg, cap;
    ix_seg *seg;            /* operand texts in order; the output last when there is "->" */
    int nside;              /* sides finished so far */
    ast_side **in;          /* inputs in order */
} ix_state;

void ix_implicit(ix_state *ps);
void ix_output(ix_state *ps, ix_token arrow, ast_side *s);
void ix_input(ix_state *ps, ast_side *s);
ast_side *ix_side(ix_state *ps);
ast_side *ix_side_add(ix_state *ps, ast_side *s, ast_axis *a);
ast_axis *ix_group(ix_state *ps);
ast_axis *ix_group_add(ix_state *ps, ast_axis *g, ast_axis *m);
ast_axis *ix_group_close(ix_state *ps, ast_axis *g, ix_token l, ix_token r);
ast_axis *ix_axis(ix_state *ps, ast_kind k, ix_token t);
void ix_syntax_error(ix_state *ps, ix_token t, int major);
void ix_overflow(ix_state *ps);

#endif
