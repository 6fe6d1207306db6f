/*
 * cspell.h — what the C and CUDA generators spell alike: loop and size names for the
 * axes, names for the arrays, products of sizes, the flat offset of an access (Horner's
 * rule over the tensor's shape), expressions, and the workspace that holds temporaries.
 * Each generator embeds a cspell as its first member and fills in the few words that
 * differ (type names, infinities, how a helper function is declared).
 */
#ifndef EINC_CSPELL_H
#define EINC_CSPELL_H

#include "loop.h"
#include "strbuf.h"

typedef struct cspell {
    cc *c;                      /* where an impossible case is reported (cs_name_axes sets it) */
    strbuf *b;                  /* where the text goes */
    const ir_prog *p;
    const lp_prog *lp;          /* what the code uses: helpers, math functions, temporaries */
    const char **loopvar;       /* per axis: "i_k", "i_3_" for anonymous axes */
    const char **size;          /* per axis: a parameter name or a literal */
    const char **tensor;        /* per tensor: its name in the code (temporaries may differ) */
    bool *stored;               /* per tensor: a temporary that lives in the workspace */
    int nstored;                /* how many do */
    unsigned helpers;           /* which helper functions the code calls (see cspell.c) */
    bool math;                  /* the code calls <math.h> functions */
    bool pairwise;              /* the code has a pairwise sum, whose locals no size may take */
    /* the spellings that differ between C and CUDA */
    const char *int_suffix;     /* after integer literals in sizes: "" or "LL" */
    const char *u32, *u64;      /* the unsigned arithmetic types */
    const char *i32, *i64;      /* their signed twins */
    const char *inf_f, *inf_d;  /* +infinity, float and double */
    const char *nan_f, *nan_d;
    const char *fn;             /* how a helper function is declared: "static inline" */
    const char *tmp;            /* a local name no axis or array can take: "v", "v_" */
} cspell;

/*
 * Names every axis and array: loops "i_NAME" (anonymous axes "i_ID_"), sizes the axis's
 * own name (with a trailing "_" when reserved(name) says the language or einc uses it, or
 * when the program's code calls a function of that name) or, when fixed, its value.
 * Inputs and the output keep their names (they are the ABI); a temporary kept in memory
 * keeps its name unless something else has it, then gets trailing "_"s.  s->lp must be set.
 */
int cs_name_axes(cc *c, cspell *s, bool (*reserved)(const char *));
bool cs_mono_is_one(const ir_mono *m);
void cs_mono(const cspell *s, const ir_mono *m);
void cs_dim_index(const cspell *s, const ir_dim *d);
void cs_offset(const cspell *s, const ir_access *a);
void cs_access(const cspell *s, const ir_access *a);   /* NAME[offset] */

/* The type arithmetic of compute type t is done in: unsigned for integers, so it wraps. */
const char *cs_arith_type(const cspell *s, einc_dtype t);

/* A literal of compute type t that reads back exactly: "0.0f", "0.5", "INFINITY". */
void cs_float_lit(const cspell *s, einc_dtype t, double v);

/* The identity of comb in nest's compute type. */
void cs_identity(const cspell *s, const lp_nest *nest, ir_comb comb);
void cs_identity_in(const cspell *s, const lp_nest *nest, ir_comb comb, einc_dtype store);  /* a fill of store */

/*
 * The start of an ACC: "T acc = start;\n", start being the identity of its combiner, or
 * dst's value when the statement accumulates onto an earlier one.
 */
void cs_acc_start(const cspell *s, const lp_nest *nest, const lp_node *acc);

/*
 * lhs = lhs ⊕ value, where value is the expression x (printed as cs_expr does) or, when x
 * is NULL, the text vtext.  max and min go through a local named s->tmp.
 */
void cs_combine(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
                ir_comb comb, const char *lhs, const ir_expr *x, const char *vtext);

/*
 * A pairwise ACC (lp_node.pairwise): acc sums blocks of CS_PAIRWISE_BLOCK elements in
 * order, and each block's sum joins a cascade of partial sums, one per level (the sum of
 * 2^k blocks at level k), carried up as in a binary counter, so that the blocks combine as
 * numpy's pairwise halves do: the error bound is O(eps (block + log2(n / block))).
 *   cs_pairwise_start   the cascade's locals, after cs_acc_start;
 *   cs_pairwise_step    after each "acc += value;": a full block joins the cascade;
 *   cs_pairwise_end     acc = the last block plus the levels, smallest first.
 * Each prints one line (the caller indents and ends it).
 */
enum { CS_PAIRWISE_BLOCK = 32 };
void cs_pairwise_start(const cspell *s, const lp_nest *nest);
void cs_pairwise_step(const cspell *s, const lp_nest *nest);
void cs_pairwise_end(const cspell *s);

/*
 * An expression in nest's compute type.  An access to nest->acc_tensor is the variable
 * acc inside an ACC (in_acc), else store_dst (a memory-mode final reads its own output).
 */
void cs_expr(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
             const ir_expr *x);

/* A read of a converted to nest's compute type; where a guarded index falls outside, the
   identity of a->pad (0 for a convolution's padding). */
void cs_load(const cspell *s, const lp_nest *nest, const ir_access *a);

/* The helper functions (max, min, divz) the program calls, each behind its own guard. */
void cs_helpers(const cspell *s);

/*
 * The workspace: temporaries kept in memory, in tensor order, each at an offset that is a
 * multiple of 64 bytes.  cs_workspace_fn prints "PREFIX size_t NAME_workspace(sizes)
 * { return bytes; }" (proto_only: the prototype and ";"); cs_workspace_locals declares,
 * at depth, one pointer per temporary into the void *workspace (restrict_kw after '*').
 */
void cs_workspace_fn(const cspell *s, const char *prefix, const char *name, bool proto_only);
void cs_workspace_locals(const cspell *s, int depth, const char *restrict_kw);

/* The element type of a stored dtype in host (stdint) spelling. */
const char *cs_host_type(einc_dtype t);

#endif
