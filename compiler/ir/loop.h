/*
 * loop.h — the loop IR: the schedule of an index-IR program, decided once and shared by
 * every code generator (C, LLVM, CUDA).
 *
 * A program lowers to a list of nests.  Each nest is a tree:
 *
 *     LOOP axis [parallel] [vector] { ... }     for (axis = 0; axis < size(axis); axis++)
 *     LOOP axis tile T { ... }                   for (blk = 0; blk < size; blk += T)
 *     LOOP axis blocked { ... }                  for (axis = blk; axis < min(blk + T, end); ...)
 *     ACC comb -> dst [final] { ... }            acc = identity(comb); ...; dst = final(acc)
 *                                                (accumulate: acc = dst to begin with)
 *     UPDATE value                               acc = acc ⊕ value        (innermost ACC)
 *     STORE dst [comb] value                     dst = value   or   dst = dst ⊕ value
 *                                                (no value: dst = identity(comb))
 *     GEMM m n k: dst += a * b                   for m { for k { for n { dst += a*b } } }
 *                                                a register-blocked, cache-blocked product
 *                                                where a backend can (n is unit-stride in
 *                                                dst and b, absent from a)
 *
 * Two strategies for a reduction, chosen by lower.c from the access strides:
 *   - register: the reduced loops are innermost and the sum lives in an ACC;
 *   - memory:   the output's unit-stride axis stays innermost (so it vectorizes), the
 *     output is first filled with the identity and updated in place (STORE with comb).
 * A "final" expression applies after the reduction (a mean's division): inside it, an
 * access to the statement's accumulator tensor (lp_prog.acc) means the accumulated
 * value: the ACC's register inside an ACC, and the STORE's own dst in a memory-mode nest.
 */
#ifndef EINC_LOOP_H
#define EINC_LOOP_H

#include "ir.h"

typedef enum lp_op { LP_LOOP, LP_ACC, LP_UPDATE, LP_STORE, LP_GEMM } lp_op;

typedef struct lp_node lp_node;
struct lp_node {
    lp_op op;
    int axis;                   /* LP_LOOP */
    bool parallel;              /* LP_LOOP: iterations write disjoint outputs */
    bool vector;                /* LP_LOOP: innermost, worth vectorizing */
    int64_t tile;               /* LP_LOOP: > 0: steps over blocks of tile elements */
    bool blocked;               /* LP_LOOP: runs inside the enclosing block of its axis */
    int n;                      /* LP_LOOP, LP_ACC: children */
    lp_node **body;
    ir_comb comb;               /* LP_ACC, LP_UPDATE: the combiner; LP_STORE: ASSIGN or one */
    const ir_expr *value;       /* LP_UPDATE, LP_STORE */
    const ir_access *dst;       /* LP_ACC, LP_STORE */
    const ir_expr *final;       /* LP_ACC, optional: the stored value, given the acc */
    int m, nn, k;               /* LP_GEMM: the row, unit-stride column and reduced axes */
    int k2;                     /* LP_GEMM: a reduced axis run together with k as one, k2
                                   outer (a's dimension before k's), or -1 */
    const ir_access *a, *b;     /* LP_GEMM: the operands (b walks nn with unit stride) */
    int acc_tensor;             /* LP_ACC with final: the tensor that stands for the acc */
    bool accumulate;            /* LP_ACC: the acc starts from dst's value, not the identity;
                                   LP_GEMM: adds into dst (else its first k block stores) */
    bool pairwise;              /* LP_ACC: a float sum added up as numpy's pairwise sum is:
                                   block sums (each backend picks its block) combined in a
                                   cascade, so the error grows as log2 of the length */
};

/*
 * Schedule kinds (docs/ARCHITECTURE.md §7): what a nest is, decided once by schedule.c
 * (lp_schedule) and printed by explain as `schedule=KIND`.  A backend implements the kinds
 * it can and runs any other nest as `loops`, the general form.
 */
#define LP_KINDS(X)                                                                         \
    X(LOOPS, "loops") X(ELEMENTWISE, "elementwise") X(TRANSPOSE, "transpose")                \
    X(GEMM, "gemm") X(CONV, "conv") X(ROWS, "rows") X(REDUCE, "reduce")

typedef enum lp_kind {
#define X(id, text) LP_KIND_##id,
    LP_KINDS(X)
#undef X
} lp_kind;

const char *lp_kind_name(lp_kind k);

/* What the schedule pass may assume of the machine; 0 in a field: the backend's default. */
typedef struct lp_machine {
    int vector_bytes;           /* the widest vector register: 16, 32, 64 (0: 32) */
    int64_t l2_bytes;           /* one core's L2 (0: 1 MiB) */
} lp_machine;

/*
 * The machine emitted C is tiled for (codegen/c.c): the AVX-512 branch of its tile, whose
 * EINC_VL follows -march when it is compiled, and a 1 MiB L2, the size the JIT assumes when
 * it cannot read one.
 */
#define LP_EMITTED_C_MACHINE ((lp_machine){ 64, 1 << 20 })

/*
 * A GEMM's tiles (lp_gemm_tile is their one home): an MR x NV-vector register tile of dst,
 * b packed KC x (NV VL) at a time, and bands of a's rows that stay in L2 while the panels
 * pass.
 */
typedef struct lp_gemm_tile {
    int mr;                     /* rows of the register tile */
    int nv;                     /* its width in vectors */
    int vl;                     /* elements of the compute type per vector */
    int kc;                     /* the k block */
    int mc;                     /* rows per band where a backend fixes them when it emits
                                   code (the emitted C: sixteen tiles, one band per thread) */
    int64_t mc_bytes;           /* where a backend sizes bands at run time, when K is known
                                   (the JIT): a's MC x KC block takes at most this */
} lp_gemm_tile;

lp_gemm_tile lp_gemm_tile_for(const lp_machine *m, einc_dtype compute);

/* The element bytes a transpose's register squares move for dtype t, or 0 where they do not. */
int lp_square_esize(einc_dtype t);

/*
 * The direct convolution: a GEMM inside loops over taps, dst[m, n] += a[m, k, taps] *
 * b[k, .., s n + tap] (a stride s of at most LP_CONV_MAXSTRIDE), float32 with constant
 * sizes and 64-byte vectors.  Its weights are packed [tap][k][m] with m padded to whole
 * vectors, on the stack, at most LP_CONV_PACK_BYTES.  Weights that take more are packed a
 * block of Mb x Kb channels at a time: the blocks' loops enclose the whole nest (where its
 * shape allows, schedule.c: blockable), so each block is packed once and stays in L2 while
 * every row the nest runs passes through it; the k blocks add into dst one after another.
 * A GEMM with no taps around it (a 1 x 1 convolution) is a site of its own (ntap = 0, T =
 * 1) where its n is at most LP_CONV_NARROW long; one that does not accumulate stores its
 * first k block.
 */
enum { LP_CONV_MAXTAPS = 3, LP_CONV_MAXSITES = 4, LP_CONV_PACK_BYTES = 256 << 10, LP_CONV_MAXSTRIDE = 4,
       LP_CONV_NARROW = 28, LP_MAXPAIRS = 8 };

typedef struct lp_conv_site {
    const lp_node *site;        /* the outermost tap loop, or the GEMM where it has none */
    const lp_node *gemm;
    int tap[LP_CONV_MAXTAPS], ntap;
    int64_t M, K, T, Mp;        /* T: the taps' product; Mp: M in whole vectors */
    int64_t Mb, Kb;             /* the packed block: Mb of Mp (whole tiles), Kb of K;
                                   Mp and K when the whole of a is packed once */
} lp_conv_site;

/* A nest's schedule: its kind and the parameters backends follow (schedule.c fills them). */
typedef struct lp_sched {
    lp_kind kind;
    int parallel_axis;          /* the axis the nest runs in parallel over, or -1 */
    int vector_bytes;           /* the machine's vector width; 0 on a GPU */
    int vl;                     /* elements of the compute type per vector; 0 on a GPU */
    lp_gemm_tile gemm;          /* a nest with an LP_GEMM (gemm, conv); else mr == 0 */
    int nconv;                  /* conv: the sites, outermost first */
    lp_conv_site conv[LP_CONV_MAXSITES];
    struct {
        int r, o;               /* the tiled axes: r the input's unit-stride, o the output's */
        int64_t tile;           /* 0: not tiled */
        int vl;                 /* square tiles of vl x vl elements through registers, or 0 */
    } transpose;
    /*
     * Copies (transpose, elementwise): axis pairs (h, w) that run as one loop over h w
     * when both arrays are contiguous across them (the backend checks that at run time):
     * h's loop is outside w's, and in both arrays h and w index adjacent dimensions alone.
     */
    int npair;
    int pair[LP_MAXPAIRS][2];
    struct {
        int axis;               /* the loop the steps share */
        int steps;              /* its stores and reductions */
    } rows;
    struct {
        int stage, stages;      /* a two-stage full reduction: stage 1 or 2 of 2 */
        bool memory;            /* the output is updated in place (fill, then STORE ⊕=) */
    } reduce;
} lp_sched;

typedef struct lp_nest {
    lp_node *root;
    einc_dtype compute;         /* the type arithmetic happens in (see lower.c) */
    lp_sched sched;             /* lp_schedule's decision */
} lp_nest;

typedef struct lp_prog {
    const ir_prog *ir;
    int nnest;
    lp_nest *nest;
    /*
     * Per tensor: a temporary that stands for an accumulator and is never stored.  It is
     * read only in the final expression of the reduction that produces it (a mean's sum),
     * where an access to it means that reduction's accumulator: the ACC's register, or
     * after a GEMM or a reduction in memory, dst's accumulated value.
     */
    bool *acc;
    /*
     * The axes whose sizes an emitted function takes as parameters, in its order
     * (cg_params: first appearance, or the caller's); NULL until a generator needs them.
     */
    const int *param;
    int nparam;
    /* CUDA only: float32 contractions may run on TF32 tensor cores (einc_options.allow_tf32;
       codegen/cuda_gemm.c); set by the caller after lowering, false from the lowering */
    bool tf32;
} lp_prog;

/*
 * Lowers a (bound or symbolic) program; NULL with c->err set on failure.  For a GPU every
 * reduction runs in registers (one thread per output element), so the memory strategy,
 * whose loop order serializes output elements, is never chosen; nests fuse for both
 * targets, for a GPU only where no two threads would update one element.  strided (per tensor, may
 * be NULL) marks arrays whose strides come at run time: none of their axes counts as unit
 * stride, so no vector loop or GEMM tile assumes contiguity there.
 */
typedef enum lp_target { LP_CPU, LP_GPU } lp_target;
lp_prog *lower(cc *c, const ir_prog *p, lp_target target, const bool *strided);

/*
 * The axis a nest runs in parallel over (its root loop's, or a GEMM's rows, perhaps inside
 * loops over reduced axes), or -1.
 */
int lp_parallel_axis(const lp_node *root);

/* Does the subtree n read or write tensor t anywhere (accumulators included)? */
bool lp_touches(const lp_node *n, int t);

/*
 * The schedule pass: sets every nest's sched; 0, or -1 with c->err set.  It runs after the
 * last pass that rewrites the loop IR (fusion included: `rows` is a fused nest), since
 * sched points into the nests (conv sites).  m may be NULL: the defaults.
 */
int lp_schedule(cc *c, lp_prog *lp, lp_target target, const lp_machine *m);

/* Text form for `einc explain` and tests. */
char *lp_print(const lp_prog *lp);

/* Row-major strides of a tensor as monomials: stride[d] = Π shape[d+1..]. */
ir_mono *lp_strides(arena *A, const ir_tensor *t);

#endif
