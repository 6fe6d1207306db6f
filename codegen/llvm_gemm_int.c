/*
 * llvm_gemm_int.c — an LP_GEMM of int8, uint8, int16 or uint16 operands into an output of
 * the same type (lower.c's match_gemm and push_gemm) with 4-byte dot products: AVX-512
 * VNNI's vpdpbusd (four byte products) or vpdpwssd (two word products) where the host has
 * it, the same sums in plain vector code elsewhere.
 *
 * The output wraps modulo 2^w (w = 8 or 16), as numpy's einsum does, so only the low w bits
 * of each sum count, and the low w bits of a product are those of the product of the
 * operands' low w bits, however each is read: vpdpbusd's unsigned x signed bytes give int8
 * x int8's and uint8 x uint8's products modulo 2^8 alike, and vpdpwssd's signed words
 * uint16's modulo 2^16, with no bias and no correction term.  The sums run in int32, which
 * wraps modulo 2^32, a multiple of 2^w; each k block adds its low w bits into the output,
 * which wraps the same way.
 */
#include "llvm_int.h"

#include <string.h>

enum { MR = 6, NV = 4, VL = 16, NR = NV * VL, UNROLL = 2 };
enum { APACK_BYTES = 128 << 10 };   /* the packed block of a: MC x KC elements on the stack */

typedef struct bgemm {
    int es, group;                  /* bytes an element; elements a 4-byte group (4 / es) */
    LLVMTypeRef et;                 /* i8 or i16 */
    LLVMTypeRef vi32, vrow, vel;    /* <16 x i32>, <NR x et> (a row of a panel), <16 x et> */
    LLVMValueRef apack, bpack;      /* [MC/MR][KC/group][MR][group] and [KC/group][NR][group] */
    LLVMValueRef dot;               /* llvm.x86.avx512.vpdpbusd.512 or .vpdpwssd.512, or NULL */
    LLVMTypeRef dot_t;
    LLVMValueRef madd;              /* words without VNNI: vpmaddwd of AVX-512BW or AVX2, or NULL */
    LLVMTypeRef madd_t;
    int madd_lanes;                 /* its operands' words: 32 or 16 */
    int kc, mc;                     /* in elements; KC a multiple of UNROLL groups */
} bgemm;

/* acc + the sums of the adjacent products (4 of bytes, 2 of words) of a and b, each in
   <16 x i32>, modulo 2^16 at least. */
static LLVMValueRef dot4(cgl *g, const bgemm *B, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b)
{
    if (B->dot) {
        LLVMValueRef args[3] = { acc, a, b };
        return LLVMBuildCall2(g->b, B->dot_t, B->dot, args, 3, "");
    }
    if (B->es == 2 && B->madd) {    /* vpmaddwd: sign-extended pairs of words summed in int32 */
        LLVMTypeRef h = LLVMVectorType(LLVMInt16TypeInContext(g->ctx), 2 * VL);
        LLVMValueRef x = LLVMBuildBitCast(g->b, a, h, ""), y = LLVMBuildBitCast(g->b, b, h, "");
        if (B->madd_lanes == 2 * VL) {
            LLVMValueRef args[2] = { x, y };
            return LLVMBuildAdd(g->b, acc, LLVMBuildCall2(g->b, B->madd_t, B->madd, args, 2, ""), "");
        }
        LLVMValueRef half[2][VL], out[2];     /* AVX2: two 256-bit halves */
        for (int i = 0; i < VL; i++) {
            half[0][i] = LLVMConstInt(g->i32, (unsigned long long)i, 0);
            half[1][i] = LLVMConstInt(g->i32, (unsigned long long)(VL + i), 0);
        }
        for (int k = 0; k < 2; k++) {
            LLVMValueRef args[2] = { LLVMBuildShuffleVector(g->b, x, x, LLVMConstVector(half[k], VL), ""),
                                     LLVMBuildShuffleVector(g->b, y, y, LLVMConstVector(half[k], VL), "") };
            out[k] = LLVMBuildCall2(g->b, B->madd_t, B->madd, args, 2, "");
        }
        return LLVMBuildAdd(g->b, acc, LLVMBuildShuffleVector(g->b, out[0], out[1], LLVMConstVector(half[0], VL), ""), "");
    }
    if (B->es == 2) {   /* without AVX2: the low 16 bits of word products, summed in pairs */
        LLVMTypeRef h = LLVMVectorType(LLVMInt16TypeInContext(g->ctx), 2 * VL);
        LLVMValueRef x = LLVMBuildMul(g->b, LLVMBuildBitCast(g->b, a, h, ""), LLVMBuildBitCast(g->b, b, h, ""), "");
        LLVMValueRef ev[VL], od[VL];
        for (int i = 0; i < VL; i++) {
            ev[i] = LLVMConstInt(g->i32, (unsigned long long)(2 * i), 0);
            od[i] = LLVMConstInt(g->i32, (unsigned long long)(2 * i + 1), 0);
        }
        LLVMValueRef p = LLVMGetPoison(h);
        x = LLVMBuildAdd(g->b, LLVMBuildShuffleVector(g->b, x, p, LLVMConstVector(ev, VL), ""),
                         LLVMBuildShuffleVector(g->b, x, p, LLVMConstVector(od, VL), ""), "");
        return LLVMBuildAdd(g->b, acc, LLVMBuildZExt(g->b, x, B->vi32, ""), "");
    }
    LLVMTypeRef i16 = LLVMInt16TypeInContext(g->ctx);
    LLVMTypeRef w = LLVMVectorType(i16, 64);
    LLVMTypeRef v8 = LLVMVectorType(g->i8, 64);
    LLVMValueRef x = LLVMBuildMul(g->b, LLVMBuildZExt(g->b, LLVMBuildBitCast(g->b, a, v8, ""), w, ""),
                                  LLVMBuildZExt(g->b, LLVMBuildBitCast(g->b, b, v8, ""), w, ""), "");
    for (int n = 32; n >= 16; n /= 2) {     /* pairs, then pairs of pairs */
        LLVMValueRef ev[32], od[32];
        for (int i = 0; i < n; i++) {
            ev[i] = LLVMConstInt(g->i32, (unsigned long long)(2 * i), 0);
            od[i] = LLVMConstInt(g->i32, (unsigned long long)(2 * i + 1), 0);
        }
        LLVMValueRef p = LLVMGetPoison(LLVMTypeOf(x));
        x = LLVMBuildAdd(g->b, LLVMBuildShuffleVector(g->b, x, p, LLVMConstVector(ev, (unsigned)n), ""),
                         LLVMBuildShuffleVector(g->b, x, p, LLVMConstVector(od, (unsigned)n), ""), "");
    }
    return LLVMBuildAdd(g->b, acc, LLVMBuildZExt(g->b, x, B->vi32, ""), "");
}

/* The element of x at the current indices, or 0 where in-range is false. */
static LLVMValueRef elem_or_zero(cgl *g, const bgemm *B, const ir_access *x, LLVMValueRef in)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "inside");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
    LLVMBuildCondBr(g->b, in, yes, join);
    LLVMPositionBuilderAtEnd(g->b, yes);
    LLVMValueRef v = LLVMBuildLoad2(g->b, B->et, cgl_address(g, x), "");
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef phi = LLVMBuildPhi(g->b, B->et, "");
    LLVMValueRef vals[2] = { v, LLVMConstInt(B->et, 0, 0) };
    LLVMBasicBlockRef bbs[2] = { yes, pre };
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

/*
 * apack[t][q][r][j] = a[mc0 + MR t + r, k0 + group q + j], at byte 4 (MR (kg t + q) + r) +
 * es j: rows past mc1 repeat row mc1 - 1 (their tile computes them and does not store
 * them), k past k1 is 0.  Once per block of MC rows and KC k: where a's k stride is 1 the
 * whole groups before k1 take a 4-byte load each, in a loop with no branch; the rest (all
 * of a strided a) an element at a time.  M x K / group loads in all, against M x N x K /
 * (16 group) dot products.
 */
static void pack_a(cgl *g, const lp_node *n, const bgemm *B, LLVMValueRef mc0, LLVMValueRef mc1,
                   LLVMValueRef k0, LLVMValueRef k1, LLVMValueRef kg)
{
    cloop Lm, Lk, Le;
    LLVMValueRef unit_k = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->a, n->k), ci64(g, 1), "");
    LLVMValueRef whole = LLVMBuildSelect(g->b, unit_k, LLVMBuildSDiv(g->b, LLVMBuildSub(g->b, k1, k0, ""),
                                                                     ci64(g, B->group), ""), ci64(g, 0), "");
    LLVMValueRef rows = LLVMBuildSub(g->b, mc1, mc0, "");
    rows = LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, rows, ci64(g, MR - 1), ""), ci64(g, MR), ""), ci64(g, MR), "");
    LLVMValueRef i = cgl_loop_begin(g, &Lm, ci64(g, 0), rows, "pam");
    g->iv[n->m] = smin(g, LLVMBuildAdd(g->b, mc0, i, ""), LLVMBuildSub(g->b, mc1, ci64(g, 1), ""));
    LLVMValueRef tile = LLVMBuildSDiv(g->b, i, ci64(g, MR), ""), r = LLVMBuildSRem(g->b, i, ci64(g, MR), "");
    LLVMValueRef base = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, tile, LLVMBuildMul(g->b, kg, ci64(g, MR * 4), ""), ""),
                                     LLVMBuildMul(g->b, r, ci64(g, 4), ""), "");
    LLVMValueRef q = cgl_loop_begin(g, &Lk, ci64(g, 0), whole, "paq");
    g->iv[n->k] = LLVMBuildAdd(g->b, k0, LLVMBuildMul(g->b, q, ci64(g, B->group), ""), "");
    LLVMValueRef at = LLVMBuildAdd(g->b, base, LLVMBuildMul(g->b, q, ci64(g, MR * 4), ""), "");
    LLVMValueRef w = LLVMBuildLoad2(g->b, g->i32, cgl_address(g, n->a), "");
    LLVMSetAlignment(w, (unsigned)B->es);
    LLVMSetAlignment(LLVMBuildStore(g->b, w, LLVMBuildInBoundsGEP2(g->b, g->i8, B->apack, &at, 1, "")), 4);
    cgl_loop_end(g, &Lk, 1);
    q = cgl_loop_begin(g, &Le, whole, kg, "pae");
    LLVMValueRef kk = LLVMBuildAdd(g->b, k0, LLVMBuildMul(g->b, q, ci64(g, B->group), ""), "");
    at = LLVMBuildAdd(g->b, base, LLVMBuildMul(g->b, q, ci64(g, MR * 4), ""), "");
    for (int j = 0; j < B->group; j++) {
        LLVMValueRef kj = LLVMBuildAdd(g->b, kk, ci64(g, j), ""), aj = LLVMBuildAdd(g->b, at, ci64(g, j * B->es), "");
        g->iv[n->k] = kj;
        LLVMValueRef v = elem_or_zero(g, B, n->a, LLVMBuildICmp(g->b, LLVMIntSLT, kj, k1, ""));
        LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->i8, B->apack, &aj, 1, ""));
    }
    cgl_loop_end(g, &Le, 1);
    cgl_loop_end(g, &Lm, 1);
}

/*
 * bpack[q][c][j] = b[k0 + group q + j, n0 + c], at byte 4 (NR q + c) + es j, 0 past k1 or
 * nw.  A whole panel of a b contiguous along n takes group rows of NR elements at a time
 * and interleaves them in registers (one shuffle per output vector: vpermt2b or vpermt2w
 * with AVX-512); the rest, an element at a time.
 */
static void pack_b(cgl *g, const lp_node *n, const bgemm *B, LLVMValueRef k0, LLVMValueRef k1, LLVMValueRef kg,
                   LLVMValueRef n0, LLVMValueRef nw)
{
    cloop Lq, Lc;
    LLVMBasicBlockRef vec = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "bvec");
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "bone");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "bpacked");
    LLVMValueRef whole = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, nw, ci64(g, NR), ""),
                                      LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->b, n->nn), ci64(g, 1), ""), "");
    LLVMBuildCondBr(g->b, whole, vec, one);

    LLVMPositionBuilderAtEnd(g->b, vec);
    LLVMValueRef q = cgl_loop_begin(g, &Lq, ci64(g, 0), kg, "bq");
    LLVMValueRef row[4];
    g->iv[n->nn] = n0;
    for (int j = 0; j < B->group; j++) {
        LLVMValueRef kk = LLVMBuildAdd(g->b, k0, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, q, ci64(g, B->group), ""), ci64(g, j), ""), "");
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
        LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "brow");
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "brow_join");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, kk, k1, ""), yes, join);
        LLVMPositionBuilderAtEnd(g->b, yes);
        g->iv[n->k] = kk;
        LLVMValueRef x = LLVMBuildLoad2(g->b, B->vrow, cgl_address(g, n->b), "");
        LLVMSetAlignment(x, (unsigned)B->es);
        LLVMBasicBlockRef yes_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, join);
        LLVMPositionBuilderAtEnd(g->b, join);
        row[j] = LLVMBuildPhi(g->b, B->vrow, "");
        LLVMValueRef vals[2] = { x, LLVMConstNull(B->vrow) };
        LLVMBasicBlockRef bbs[2] = { yes_end, pre };
        LLVMAddIncoming(row[j], vals, bbs, 2);
    }
    /* the rows end to end, as two vectors: element j NR + c is row j's column c */
    LLVMValueRef lo = row[0], hi = row[1];
    if (B->group == 4) {
        LLVMValueRef cat[2 * NR];
        for (int i = 0; i < 2 * NR; i++)
            cat[i] = LLVMConstInt(g->i32, (unsigned long long)i, 0);
        lo = LLVMBuildShuffleVector(g->b, row[0], row[1], LLVMConstVector(cat, 2 * NR), "");
        hi = LLVMBuildShuffleVector(g->b, row[2], row[3], LLVMConstVector(cat, 2 * NR), "");
    }
    LLVMValueRef qbase = LLVMBuildMul(g->b, q, ci64(g, NR * 4), "");
    const int per = VL * B->group;      /* elements an output vector: 16 columns' groups */
    for (int v = 0; v < NV; v++) {      /* out[group c + j] = row j [c], c in [16 v, 16 v + 16) */
        LLVMValueRef m[64];
        for (int i = 0; i < per; i++)
            m[i] = LLVMConstInt(g->i32, (unsigned long long)(i % B->group * NR + VL * v + i / B->group), 0);
        LLVMValueRef x = LLVMBuildShuffleVector(g->b, lo, hi, LLVMConstVector(m, (unsigned)per), "");
        LLVMValueRef at = LLVMBuildAdd(g->b, qbase, ci64(g, v * 64), "");
        LLVMValueRef st = LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, g->i8, B->bpack, &at, 1, ""));
        LLVMSetAlignment(st, 64);
    }
    cgl_loop_end(g, &Lq, 1);
    LLVMBuildBr(g->b, done);

    LLVMPositionBuilderAtEnd(g->b, one);
    LLVMValueRef i = cgl_loop_begin(g, &Lq, ci64(g, 0), LLVMBuildMul(g->b, kg, ci64(g, B->group), ""), "bk");
    LLVMValueRef kk = LLVMBuildAdd(g->b, k0, i, "");
    LLVMValueRef qq = LLVMBuildSDiv(g->b, i, ci64(g, B->group), ""), j = LLVMBuildSRem(g->b, i, ci64(g, B->group), "");
    LLVMValueRef c = cgl_loop_begin(g, &Lc, ci64(g, 0), ci64(g, NR), "bc");
    g->iv[n->k] = kk;
    g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
    LLVMValueRef in = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, kk, k1, ""), LLVMBuildICmp(g->b, LLVMIntSLT, c, nw, ""), "");
    LLVMValueRef x = elem_or_zero(g, B, n->b, in);
    LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, qq, ci64(g, NR * 4), ""),
                                   LLVMBuildAdd(g->b, LLVMBuildMul(g->b, c, ci64(g, 4), ""),
                                                LLVMBuildMul(g->b, j, ci64(g, B->es), ""), ""), "");
    LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, g->i8, B->bpack, &at, 1, ""));
    cgl_loop_end(g, &Lc, 1);
    cgl_loop_end(g, &Lq, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/*
 * The MR x NR tiles of rows [mc0, mc1) against the packed panel; each adds its sums' low
 * bytes or words into dst (stores them, in the first k block of a GEMM that writes dst),
 * masked to the nw columns and the rows that exist.  The k loop takes UNROLL groups a
 * trip (kg is a multiple of UNROLL: the packs hold zeros past k1), 48 dot products into
 * the 24 accumulators between two branches.
 */
static void tiles(cgl *g, const lp_node *n, const bgemm *B, LLVMValueRef *acc, LLVMValueRef mc0, LLVMValueRef mc1,
                  LLVMValueRef n0, LLVMValueRef nw, LLVMValueRef kg, LLVMValueRef fresh)
{
    cloop Lm, Lq;
    LLVMValueRef m0 = cgl_loop_begin(g, &Lm, mc0, mc1, "bm0");
    for (int i = 0; i < MR * NV; i++)
        LLVMBuildStore(g->b, LLVMConstNull(B->vi32), acc[i]);
    LLVMValueRef tile = LLVMBuildSDiv(g->b, LLVMBuildSub(g->b, m0, mc0, ""), ci64(g, MR), "");
    LLVMValueRef abase = LLVMBuildMul(g->b, tile, LLVMBuildMul(g->b, kg, ci64(g, MR * 4), ""), "");
    LLVMValueRef q2 = cgl_loop_begin(g, &Lq, ci64(g, 0), LLVMBuildSDiv(g->b, kg, ci64(g, UNROLL), ""), "bq");
    for (int u = 0; u < UNROLL; u++) {
        LLVMValueRef q = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, q2, ci64(g, UNROLL), ""), ci64(g, u), "");
        LLVMValueRef bv[NV];
        for (int v = 0; v < NV; v++) {
            LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, q, ci64(g, NR * 4), ""), ci64(g, v * 64), "");
            bv[v] = LLVMBuildLoad2(g->b, B->vi32, LLVMBuildInBoundsGEP2(g->b, g->i8, B->bpack, &at, 1, ""), "");
            LLVMSetAlignment(bv[v], 64);
        }
        LLVMValueRef arow = LLVMBuildAdd(g->b, abase, LLVMBuildMul(g->b, q, ci64(g, MR * 4), ""), "");
        for (int r = 0; r < MR; r++) {
            LLVMValueRef at = LLVMBuildAdd(g->b, arow, ci64(g, r * 4), "");
            LLVMValueRef a4 = LLVMBuildLoad2(g->b, g->i32, LLVMBuildInBoundsGEP2(g->b, g->i8, B->apack, &at, 1, ""), "");
            LLVMSetAlignment(a4, 4);
            LLVMValueRef a = cgl_splat(g, a4, VL);
            for (int v = 0; v < NV; v++) {
                LLVMValueRef c = LLVMBuildLoad2(g->b, B->vi32, acc[r * NV + v], "");
                LLVMBuildStore(g->b, dot4(g, B, c, bv[v], a), acc[r * NV + v]);
            }
        }
    }
    cgl_loop_end(g, &Lq, 1);
    /* store: dst[m0 + r, n0 + 16 v + l] (+)= low byte or word of acc[r][v][l] */
    g->iv[n->nn] = n0;
    for (int r = 0; r < MR; r++) {
        LLVMValueRef row = LLVMBuildAdd(g->b, m0, ci64(g, r), "");
        LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "brow_store");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "brow_next");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, row, mc1, ""), yes, next);
        LLVMPositionBuilderAtEnd(g->b, yes);
        g->iv[n->m] = row;
        LLVMValueRef p0 = cgl_address(g, n->dst);
        for (int v = 0; v < NV; v++) {
            LLVMValueRef mk = cgl_lanes_below(g, VL, ci64(g, v * VL), nw, NULL);
            LLVMValueRef at = ci64(g, v * VL);
            LLVMValueRef p = LLVMBuildGEP2(g->b, B->et, p0, &at, 1, "");
            LLVMValueRef old = cgl_masked_op(g, B->vel, B->es, p,
                fresh ? LLVMBuildAnd(g->b, mk, cgl_splat(g, LLVMBuildNot(g->b, fresh, ""), VL), "") : mk, NULL);
            LLVMValueRef sum = LLVMBuildAdd(g->b, old, LLVMBuildTrunc(g->b, LLVMBuildLoad2(g->b, B->vi32, acc[r * NV + v], ""), B->vel, ""), "");
            cgl_masked_op(g, B->vel, B->es, p, mk, sum);
        }
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, next);
    }
    cgl_loop_end(g, &Lm, MR);
}

/*
 * dst[m, n] (+)= a[m, k] * b[k, n] in bytes or words: for k blocks of KC, blocks of MC
 * rows (a packed once per block, as MR-row strips of 4-byte k groups), then panels of NR
 * columns (b packed as 4-byte k groups per column), the MR x NR tiles in 24 int32
 * vectors.  The tile's k loop is one 4-byte broadcast of a and four dot products per row
 * and group.  KC keeps the panel at KC x NR x es = 16 KiB for the scheduled KC of 256 (the
 * L1 of the machines this was tuned on holds it next to a's strip).
 */
void cgl_gemm_bytes(cgl *g, const lp_node *n)
{
    bgemm B;
    einc_dtype dt = g->p->tensor[n->dst->tensor].dtype;
    B.es = dt == EINC_I16 || dt == EINC_U16 ? 2 : 1;
    B.group = 4 / B.es;
    B.et = B.es == 2 ? LLVMInt16TypeInContext(g->ctx) : g->i8;
    B.vi32 = LLVMVectorType(g->i32, VL);
    B.vrow = LLVMVectorType(B.et, NR);
    B.vel = LLVMVectorType(B.et, VL);
    const int step = B.group * UNROLL;
    B.kc = (g->nest->sched.gemm.kc > 0 ? g->nest->sched.gemm.kc : 512) / B.es / step * step;
    if (B.kc < step)
        B.kc = step;
    B.mc = APACK_BYTES / (B.kc * B.es) / MR * MR;
    B.dot = B.madd = NULL;
    B.dot_t = B.madd_t = NULL;
    B.madd_lanes = g->o->vector_bytes >= 64 ? 2 * VL : VL;
    if (B.es == 2 && !g->o->vnni && g->o->vector_bytes >= 32) {
        const char *name = B.madd_lanes == 2 * VL ? "llvm.x86.avx512.pmaddw.d.512" : "llvm.x86.avx2.pmadd.wd";
        unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
        B.madd = LLVMGetIntrinsicDeclaration(g->m, id, NULL, 0);
        B.madd_t = LLVMIntrinsicGetType(g->ctx, id, NULL, 0);
    }
    if (g->o->vnni) {
        const char *name = B.es == 2 ? "llvm.x86.avx512.vpdpwssd.512" : "llvm.x86.avx512.vpdpbusd.512";
        unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
        B.dot = LLVMGetIntrinsicDeclaration(g->m, id, NULL, 0);
        B.dot_t = LLVMIntrinsicGetType(g->ctx, id, NULL, 0);
    }
    B.apack = cgl_entry_alloca(g, LLVMArrayType2(g->i8, (uint64_t)B.mc * (uint64_t)B.kc * (uint64_t)B.es), "apack");
    LLVMSetAlignment(B.apack, 64);
    B.bpack = cgl_entry_alloca(g, LLVMArrayType2(g->i8, (uint64_t)B.kc * NR * (uint64_t)B.es), "bpack");
    LLVMSetAlignment(B.bpack, 64);
    LLVMValueRef acc[MR * NV];
    for (int i = 0; i < MR * NV; i++)
        acc[i] = cgl_entry_alloca(g, B.vi32, "c");

    LLVMValueRef M0 = ci64(g, 0), M1 = g->size[n->m], N = g->size[n->nn], K = g->size[n->k];
    if (n->parallel) {
        M0 = g->lo;
        M1 = g->hi;
    }
    cloop Lz, Lzn, Lk0, Lmc, Ln0;
    if (!n->accumulate) {   /* K = 0: no k block stores dst */
        LLVMBasicBlockRef empty = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "bnok");
        LLVMBasicBlockRef some = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "bsomek");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, K, ci64(g, 0), ""), empty, some);
        LLVMPositionBuilderAtEnd(g->b, empty);
        g->iv[n->m] = cgl_loop_begin(g, &Lz, M0, M1, "bzm");
        g->iv[n->nn] = cgl_loop_begin(g, &Lzn, ci64(g, 0), N, "bzn");
        LLVMBuildStore(g->b, LLVMConstInt(B.et, 0, 0), cgl_address(g, n->dst));
        cgl_loop_end(g, &Lzn, 1);
        cgl_loop_end(g, &Lz, 1);
        LLVMBuildBr(g->b, some);
        LLVMPositionBuilderAtEnd(g->b, some);
    }
    LLVMValueRef k0 = cgl_loop_begin(g, &Lk0, ci64(g, 0), K, "bk0");
    LLVMValueRef k1 = smin(g, LLVMBuildAdd(g->b, k0, ci64(g, B.kc), ""), K);
    /* the groups of [k0, k1), rounded up to a multiple of UNROLL */
    LLVMValueRef kg = LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, LLVMBuildSub(g->b, k1, k0, ""), ci64(g, step - 1), ""),
                                                       ci64(g, step), ""), ci64(g, UNROLL), "");
    LLVMValueRef fresh = n->accumulate ? NULL : LLVMBuildICmp(g->b, LLVMIntEQ, k0, ci64(g, 0), "");
    LLVMValueRef mc0 = cgl_loop_begin(g, &Lmc, M0, M1, "bmc");
    LLVMValueRef mc1 = smin(g, LLVMBuildAdd(g->b, mc0, ci64(g, B.mc), ""), M1);
    pack_a(g, n, &B, mc0, mc1, k0, k1, kg);
    LLVMValueRef n0 = cgl_loop_begin(g, &Ln0, ci64(g, 0), N, "bn0");
    LLVMValueRef nw = smin(g, ci64(g, NR), LLVMBuildSub(g->b, N, n0, ""));
    pack_b(g, n, &B, k0, k1, kg, n0, nw);
    tiles(g, n, &B, acc, mc0, mc1, n0, nw, kg, fresh);
    cgl_loop_end(g, &Ln0, NR);
    cgl_loop_end(g, &Lmc, B.mc);
    cgl_loop_end(g, &Lk0, B.kc);
}
