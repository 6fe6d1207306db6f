/*
 * llvm_int.h — what the files of the LLVM code generator share, and nothing else includes:
 *
 *   llvm.c            the driver: cg_llvm, each nest's function and prologue, the C-ABI wrapper
 *   llvm_expr.c       types, values of the compute type, addresses, loads and stores, the math
 *                     functions, unary and expr; the vector and memory-hint helpers
 *   llvm_cplx.c       complex64/complex128 values: { re, im } structs, their arithmetic
 *   llvm_loop.c       counted loops, invariant hoisting, coalescing, pairwise sums, ACC, node
 *   llvm_transpose.c  transposes through registers (squares, weaves) and the module's helpers
 *   llvm_gemm.c       the register-blocked GEMM (float32/64; float16 and bfloat16 widened)
 *   llvm_gemm_int.c   the GEMM of int8 / uint8 / int16 / uint16: 4-byte dot products (AVX-512 VNNI)
 *   llvm_conv.c       the direct convolution
 *
 * Functions one file defines for the others carry the cgl_ prefix; the short ones every file
 * uses are static inline here.
 */
#ifndef EINC_LLVM_INT_H
#define EINC_LLVM_INT_H

#include "codegen.h"
#include "llvm_cg.h"

#include <llvm-c/Core.h>

typedef struct cgl {
    cc *c;
    const lp_prog *lp;
    const ir_prog *p;
    const cgl_opts *o;
    LLVMContextRef ctx;
    LLVMModuleRef m;
    LLVMBuilderRef b;
    LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr, vt;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
    LLVMValueRef *size;         /* per axis */
    LLVMValueRef *iv;           /* per axis: the current induction variable */
    LLVMValueRef *blk, *blk_end; /* per axis: the enclosing tile loop's block and its end */
    int64_t *tile;              /* per axis: that tile loop's block size */
    bool *shifted;              /* per axis: that tile loop's first block may start below its range */
    LLVMValueRef *blk_lo;       /* per axis: where that tile loop's range starts (0, or lo when parallel) */
    LLVMValueRef **stride;      /* per tensor, per dimension */
    LLVMValueRef *base;         /* per tensor */
    LLVMValueRef lo, hi;
    LLVMValueRef acc;           /* the innermost ACC's alloca */
    LLVMValueRef pw_levels;     /* a pairwise ACC's cascade (pairwise_begin), or NULL: ... */
    LLVMValueRef pw_count;      /* ... the blocks it holds, ... */
    LLVMValueRef pw_fill;       /* ... and the elements in the block acc holds */
    int64_t pw_block;           /* that ACC's block length */
    const lp_nest *nest;
    const ir_access *store_dst;
    einc_dtype wrap;            /* the stored type of the statement being computed (cgl_wrap) */
    const ir_expr **hoisted;    /* subexpressions computed before the innermost loop ... */
    LLVMValueRef *hoisted_v;    /* ... and their values */
    int nhoisted;
    bool streamed;              /* the nest may make non-temporal stores: fence before returning */
    int inner;                  /* the axis of the innermost plain loop open, or -1 */
    struct dconv *dc;           /* the nest's direct convolutions (conv_find), ndc of them */
    int ndc;
    struct helper *helper;      /* the module's functions that kernels call (helper_fn), ... */
    int nhelper;                /* ... HELPERS_MAX at most */
    bool plain;                 /* a statement in a plain loop: LLVM's vectorizers have work */
} cgl;

/* A counted loop: cgl_loop_begin positions the builder in the body and returns the IV. */
typedef struct cloop {
    LLVMBasicBlockRef pre, head, exit;
    LLVMValueRef iv, start;
} cloop;

/* A transpose's tile, and what its squares and weaves share (llvm_transpose.c). */
typedef struct square {
    const ir_access *in, *out;
    int r, o, vl, esize;
    int ow;     /* the columns (o) a square spans: vl, or 2 vl in vectors of two rows (square_match) */
    LLVMTypeRef vt;
    LLVMValueRef r0, r1, o0, o1;    /* the tile: [r0, r1) x [o0, o1) */
    LLVMValueRef last_o;
    int p, dp, d_o;     /* the output's axis p before o (dimensions dp, d_o), or p = -1 */
    bool joinable;              /* p is there and the o blocks are shifted: the tile may join */
    LLVMValueRef join, skip;    /* i1, in a partial tile: its first square joins row p - 1's last line; its last is left out */
} square;

/*
 * The square of a transpose (sub_square), one function per vector type in a module
 * (helper_fn), which every kind of square a kernel makes calls: it was inlined seven ways
 * (whole or partial tile, cached or streamed, whole or ragged, masked), and LLVM then
 * spent four fifths of a transpose's cold compile on those copies (abcd->dcba: 270 ms,
 * 48 ms without the squares, 77 ms with one).  The call costs a few cycles against the
 * VL x VL elements a square moves.  Its parameters, in order:
 *
 *   IN, S_IN     the corner's input element, and the stride from loaded row to row (o)
 *   NLOAD        the rows loaded, at least 1: rows from NLOAD on load nothing, from the
 *                address of row NLOAD - 1
 *   NBACK, BACK  rows below NBACK load BACK elements further (a join: column o < 0 of row
 *                p is column o + O of row p - 1) ...
 *   B_LO         ... their lanes from B_LO on; every row's lanes end at L_HI
 *   L_HI
 *   PF_ADD, PF_ROW, PF_LAST  the input prefetched for row i: IN + PF_ADD + BACK if a join
 *                row, + i + min(PF_ROW, PF_LAST - OW + 1) rows (OW: the square's columns)
 *   OUT, S_OUT   the corner's output element, and the stride from stored row to row (r)
 *   NSTORE       the rows stored
 *   S_HI, F_LO   a row stores lanes [0, S_HI), row 0 lanes [F_LO, S_HI)
 *   STREAM       (i1) whole rows go around the cache (their addresses are vector aligned)
 *   AHEAD        for a whole row through the cache: the output prefetched, AHEAD further
 *
 * A square with NLOAD = VL, no join and L_HI >= VL loads whole vectors; a row whose lanes
 * are all stored is a plain (or streamed) store, the rest masked.
 */
enum { SQ_IN, SQ_S_IN, SQ_NLOAD, SQ_NBACK, SQ_BACK, SQ_B_LO, SQ_L_HI, SQ_PF_ADD, SQ_PF_ROW, SQ_PF_LAST,
       SQ_OUT, SQ_S_OUT, SQ_NSTORE, SQ_S_HI, SQ_F_LO, SQ_STREAM, SQ_AHEAD, SQ_NARG };

/*
 * The functions a module's kernels call: made once per module, for one vector type and
 * kind (a transpose's square, a weave of K rows either way), by body into the function.
 */
typedef struct helper {
    LLVMTypeRef vt;
    int kind;
    LLVMValueRef fn;
} helper;

enum { HELPERS_MAX = 32 };  /* 4 vector types x (a square, 2 x 3 weaves) and a wide square of bytes is 29 */

typedef void helper_body(cgl *g, const square *q, int kind, LLVMValueRef fn);

/* ---- short helpers ------------------------------------------------------------------------- */

static inline bool is_runtime_size(const ir_axis *a) { return !(a->given || a->literal); }

static inline LLVMTypeRef elem_type(cgl *g, einc_dtype t)
{
    switch (t) {
    case EINC_F32: return g->f32;
    case EINC_F64: return g->f64;
    case EINC_I32: return g->i32;
    case EINC_I64: case EINC_U64: return g->i64;
    case EINC_U32: return g->i32;
    case EINC_I16: case EINC_U16: case EINC_BF16: return LLVMInt16TypeInContext(g->ctx);
    case EINC_F16: return LLVMHalfTypeInContext(g->ctx);
    case EINC_C64: return LLVMStructTypeInContext(g->ctx, (LLVMTypeRef[]){ g->f32, g->f32 }, 2, 0);
    case EINC_C128: return LLVMStructTypeInContext(g->ctx, (LLVMTypeRef[]){ g->f64, g->f64 }, 2, 0);
    default: return g->i8;      /* bool, int8, uint8 */
    }
}

static inline LLVMTypeRef ctype(cgl *g) { return elem_type(g, g->nest->compute); }
static inline bool fp(cgl *g) { return dtype_is_float(g->nest->compute); }
static inline bool uns(cgl *g) { return g->nest->compute == EINC_U64; }   /* unsigned compute */
static inline bool cx(cgl *g) { return dtype_is_complex(g->nest->compute); }  /* llvm_cplx.c's */

static inline LLVMValueRef ci64(cgl *g, int64_t v) { return LLVMConstInt(g->i64, (unsigned long long)v, 1); }

static inline LLVMValueRef fc(cgl *g, double v) { return LLVMConstReal(ctype(g), v); }

static inline LLVMValueRef smin(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

static inline LLVMValueRef smax(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, a, b, ""), a, b, "");
}

/* The element off elements past p. */
static inline LLVMValueRef elem_at(cgl *g, LLVMTypeRef et, LLVMValueRef p, LLVMValueRef off)
{
    return LLVMBuildInBoundsGEP2(g->b, et, p, &off, 1, "");
}

/*
 * The host's vector width (cgl_opts.vector_bytes; 32 when unknown), and its L2 per core
 * (cgl_opts.l2_bytes; 1 MiB when unknown), which sizes the GEMM's panel and decides when a
 * transpose streams.
 */
static inline int vector_bytes(const cgl *g) { return g->o->vector_bytes > 0 ? g->o->vector_bytes : 32; }

static inline int64_t l2_bytes(const cgl *g) { return g->o->l2_bytes > 0 ? g->o->l2_bytes : 1 << 20; }

static inline bool is_const(LLVMValueRef v) { return LLVMIsAConstantInt(v) != NULL; }
static inline int64_t cval(LLVMValueRef v) { return LLVMConstIntGetSExtValue(v); }

/* ---- llvm_expr.c --------------------------------------------------------------------------- */

LLVMValueRef cgl_mono(cgl *g, const ir_mono *m);
LLVMValueRef cgl_identity(cgl *g, ir_comb comb);
LLVMValueRef cgl_identity_in(cgl *g, ir_comb comb, einc_dtype store);   /* for a store into store */
LLVMValueRef cgl_combine(cgl *g, ir_comb comb, LLVMValueRef acc, LLVMValueRef v);
LLVMValueRef cgl_wrap(cgl *g, LLVMValueRef v);   /* v wrapped to g->wrap's width, if narrow */
LLVMValueRef cgl_dim_index(cgl *g, const ir_dim *dim);
LLVMValueRef cgl_address(cgl *g, const ir_access *a);
LLVMValueRef cgl_load_plain(cgl *g, const ir_access *a);
LLVMValueRef cgl_load(cgl *g, const ir_access *a);
void cgl_store(cgl *g, const ir_access *dst, LLVMValueRef v);
LLVMValueRef cgl_fma3(cgl *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMValueRef cgl_expr(cgl *g, const ir_expr *x);
void cgl_prefetch(cgl *g, LLVMValueRef p, bool write);
void cgl_nontemporal(cgl *g, LLVMValueRef st);
LLVMValueRef cgl_axis_stride(cgl *g, const ir_access *a, int ax);
LLVMValueRef cgl_masked_op(cgl *g, LLVMTypeRef vt, int esize, LLVMValueRef p, LLVMValueRef mask, LLVMValueRef store);
LLVMValueRef cgl_splat(cgl *g, LLVMValueRef x, int vl);
LLVMValueRef cgl_lane_range(cgl *g, int vl, LLVMValueRef lo, LLVMValueRef hi);
LLVMValueRef cgl_lanes_below(cgl *g, int vl, LLVMValueRef from, LLVMValueRef end, LLVMValueRef also);

/* ---- llvm_cplx.c: a complex compute type's values (cx(g)) --------------------------------- */

LLVMValueRef cgl_cx_re(cgl *g, LLVMValueRef v);
LLVMValueRef cgl_cx_im(cgl *g, LLVMValueRef v);
LLVMValueRef cgl_cx_const(cgl *g, double re, double im);
LLVMValueRef cgl_cx_real(cgl *g, LLVMValueRef re);                  /* re of the part's type */
LLVMValueRef cgl_cx_from(cgl *g, LLVMValueRef v, einc_dtype from);  /* any dtype to the compute type */
LLVMValueRef cgl_cx_to(cgl *g, LLVMValueRef v, einc_dtype to);      /* the compute type to complex to */
LLVMValueRef cgl_cx_nonzero(cgl *g, LLVMValueRef v);                /* i1 */
LLVMValueRef cgl_cx_identity(cgl *g, ir_comb comb);
LLVMValueRef cgl_cx_combine(cgl *g, ir_comb comb, LLVMValueRef acc, LLVMValueRef v);
LLVMValueRef cgl_cx_unary(cgl *g, ir_op op, LLVMValueRef a);
LLVMValueRef cgl_cx_binary(cgl *g, ir_op op, LLVMValueRef a, LLVMValueRef b);

/* ---- llvm_loop.c --------------------------------------------------------------------------- */

LLVMValueRef cgl_loop_begin(cgl *g, cloop *L, LLVMValueRef start, LLVMValueRef end, const char *name);
void cgl_loop_end(cgl *g, cloop *L, int64_t step);
void cgl_cond_block(cgl *g, LLVMValueRef cond, const char *name, LLVMBasicBlockRef next);
LLVMValueRef cgl_entry_alloca(cgl *g, LLVMTypeRef t, const char *name);
void cgl_node(cgl *g, const lp_node *n, bool outermost);

/* ---- llvm_transpose.c ---------------------------------------------------------------------- */

bool cgl_transpose_block(cgl *g, const lp_node *n);
LLVMValueRef cgl_block_shift(cgl *g, const lp_node *n, LLVMValueRef lo);
void cgl_transpose_regs(cgl *g, LLVMValueRef *v, int vl);
void cgl_square_body(cgl *g, const square *q, int kind, LLVMValueRef fn);
void cgl_call_helper(cgl *g, const square *q, int kind, LLVMValueRef *args, int nargs, helper_body *body);

/* ---- llvm_gemm.c, llvm_conv.c -------------------------------------------------------------- */

void cgl_gemm(cgl *g, const lp_node *n);
void cgl_gemm_bytes(cgl *g, const lp_node *n);     /* llvm_gemm_int.c: int8 / uint8 / int16 / uint16 */
int cgl_conv_find(cgl *g, const lp_node *root);
bool cgl_conv_site(cgl *g, const lp_node *n);

#endif
