/*
 * cuda_int.h — what codegen/cuda.c shares with the kernel templates in codegen/cuda_*.c:
 * the generator's state, a nest's kernel shape, and the spelling helpers cuda.c defines.
 */
#ifndef EINC_CUDA_INT_H
#define EINC_CUDA_INT_H

#include "codegen.h"
#include "cspell.h"

enum { CU_BLOCK = 256 };

typedef struct cgu {
    cspell sp;                  /* the text, the program, names of loops and sizes */
    const char *name;           /* the kernel's name; kernels are NAME_k0, NAME_k1, ... */
    const lp_nest *nest;
    bool in_acc;                /* inside an ACC: the accumulator is the variable acc */
    bool pairwise;              /* inside a pairwise ACC (cs_pairwise_start) */
    const ir_access *store_dst; /* the STORE being emitted (memory-mode finals read it) */
} cgu;

/* The shape of one kernel: its flattened loops and what sits below them. */
typedef struct cu_kernel {
    int nflat;
    int *flat;                  /* axes of the loops flattened over the grid, outermost first */
    int nbody;
    lp_node *const *body;       /* what each thread runs in order, below the flattened loops */
    cg_cuda_form form;          /* CG_CUDA_ROWS, _REDUCE: cuda_rows.c emits the kernel */
} cu_kernel;

/* cuda.c's spelling, for the templates. */
void cu_indent(cgu *g, int depth);
void cu_identity(cgu *g, ir_comb comb);
void cu_combine(cgu *g, ir_comb comb, const char *lhs, const ir_expr *x, const char *vtext);
void cu_node(cgu *g, const lp_node *n, int depth);
void cu_acc_store(cgu *g, const lp_node *n, int depth);
void cu_pairwise_start(cgu *g, const lp_node *acc, int depth);
void cu_pairwise_end(cgu *g, const lp_node *acc, int depth);
void cu_count(cgu *g, const int *ax, int n, const char *type);
void cu_unflatten(cgu *g, const int *ax, int n, const char *var, int depth);
void cu_params(cgu *g, bool host);

/* cuda_rows.c: the rows and reduce kernels, and the launcher's geometry helpers. */
void cu_rows_kernel(cgu *g, const cu_kernel *k, int idx);
void cu_rows_globals(cgu *g, const cu_kernel *ks, int nk);
void cu_rows_host_helpers(cgu *g);

#endif
