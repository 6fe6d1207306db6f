/*
 * codegen.h — the code generators over the loop IR (compiler/loop.h).
 *
 * Each takes a lowered program and returns text (C, CUDA) or a module (LLVM, in the CPU
 * backend).  They share the schedule: what differs is only how a loop, an accumulator and
 * an access are spelled.
 */
#ifndef EINC_CODEGEN_H
#define EINC_CODEGEN_H

#include "loop.h"

typedef struct cg_opts {
    const char *name;           /* the kernel function's name */
    const char *source;         /* the expression, for the leading comment */
    bool header_only;           /* --emit=header: the prototype alone */
} cg_opts;

/* Refuses programs a generator cannot express (a temporary the schedule did not fuse). */
int cg_check(cc *c, const lp_prog *lp);

char *cg_c(cc *c, const lp_prog *lp, const cg_opts *o);       /* C99 source */

#endif
