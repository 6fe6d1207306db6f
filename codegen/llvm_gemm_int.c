/*
 * llvm_gemm_int.c — an LP_GEMM of int8 or uint8 operands into an output of the same type
 * (lower.c's match_gemm and push_gemm) with 4-byte dot products: AVX-512 VNNI's vpdpbusd
 * where the host has it, the same sums in plain vector code elsewhere.
 *
 * The output wraps modulo 2^8, as numpy's einsum does, so only the low byte of each sum
 * counts, and the low byte of a product is the low byte of the product of the operands'
 * low bytes, however each is read: vpdpbusd's unsigned x signed bytes give int8 x int8's
 * and uint8 x uint8's products modulo 2^8 alike, with no bias and no correction term.  The
 * sums run in int32, which wraps modulo 2^32, a multiple of 2^8; each k block adds its low
 * byte into the output, which wraps the same way.
 */
#include "llvm_int.h"

enum { MR = 6, NV = 4, VL = 16, NR = NV * VL, GROUP = 4 };
enum { APACK_BYTES = 128 << 10 };   /* the packed block of a: MC x KC bytes on the stack */

typedef struct bgemm {
    LLVMTypeRef vi32, vi8x64, vi8;  /* <16 x i32>, <64 x i8>, <16 x i8> */
    LLVMValueRef apack, bpack;      /* [MC/MR][KC/4][MR][4] and [KC/4][NR][4] bytes */
    LLVMValueRef dot;               /* llvm.x86.avx512.vpdpbusd.512, or NULL */
    LLVMTypeRef dot_t;
    int kc, mc;
} bgemm;

/* acc + the sums of 4 adjacent byte products of a and b (in <16 x i32>), modulo 2^16 at least. */
static LLVMValueRef dot4(cgl *g, const bgemm *B, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b)
{
    if (B->dot) {
        LLVMValueRef args[3] = { acc, a, b };
        return LLVMBuildCall2(g->b, B->dot_t, B->dot, args, 3, "");
    }
    LLVMTypeRef i16 = LLVMInt16TypeInContext(g->ctx);
    LLVMTypeRef w = LLVMVectorType(i16, 64);
    LLVMValueRef x = LLVMBuildMul(g->b, LLVMBuildZExt(g->b, LLVMBuildBitCast(g->b, a, B->vi8x64, ""), w, ""),
                                  LLVMBuildZExt(g->b, LLVMBuildBitCast(g->b, b, B->vi8x64, ""), w, ""), "");
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

/* The byte of x at the current indices, or 0 where in-range is false. */
static LLVMValueRef byte_or_zero(cgl *g, const ir_access *x, LLVMValueRef in)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "inside");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
    LLVMBuildCondBr(g->b, in, yes, join);
    LLVMPositionBuilderAtEnd(g->b, yes);
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->i8, cgl_address(g, x), "");
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef phi = LLVMBuildPhi(g->b, g->i8, "");
    LLVMValueRef vals[2] = { v, LLVMConstInt(g->i8, 0, 0) };
    LLVMBasicBlockRef bbs[2] = { yes, pre };
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

/*
 * apack[t][q][r][j] = a[mc0 + MR t + r, k0 + 4 q + j]: rows past mc1 repeat row mc1 - 1
 * (their tile computes them and does not store them), k past k1 is 0.  Once per block of
 * MC rows and KC k, four bytes a load where a's k stride is 1 (else, and at k1's edge, a
 * byte at a time): M x K / 4 loads in all, against M x N x K / 64 dot products.
 */
static void pack_a(cgl *g, const lp_node *n, const bgemm *B, LLVMValueRef mc0, LLVMValueRef mc1,
                   LLVMValueRef k0, LLVMValueRef k1, LLVMValueRef kg)
{
    cloop Lm, Lk;
    LLVMValueRef unit_k = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->a, n->k), ci64(g, 1), "");
    LLVMValueRef rows = LLVMBuildSub(g->b, mc1, mc0, "");
    rows = LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, rows, ci64(g, MR - 1), ""), ci64(g, MR), ""), ci64(g, MR), "");
    LLVMValueRef i = cgl_loop_begin(g, &Lm, ci64(g, 0), rows, "pam");
    g->iv[n->m] = smin(g, LLVMBuildAdd(g->b, mc0, i, ""), LLVMBuildSub(g->b, mc1, ci64(g, 1), ""));
    LLVMValueRef tile = LLVMBuildSDiv(g->b, i, ci64(g, MR), ""), r = LLVMBuildSRem(g->b, i, ci64(g, MR), "");
    LLVMValueRef base = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, tile, LLVMBuildMul(g->b, kg, ci64(g, MR * GROUP), ""), ""),
                                     LLVMBuildMul(g->b, r, ci64(g, GROUP), ""), "");
    LLVMValueRef q = cgl_loop_begin(g, &Lk, ci64(g, 0), kg, "paq");
    LLVMValueRef kk = LLVMBuildAdd(g->b, k0, LLVMBuildMul(g->b, q, ci64(g, GROUP), ""), "");
    LLVMValueRef at = LLVMBuildAdd(g->b, base, LLVMBuildMul(g->b, q, ci64(g, MR * GROUP), ""), "");
    /* four bytes adjacent in a (k's stride 1) and all before k1: one 4-byte load */
    LLVMValueRef four = LLVMBuildAnd(g->b, unit_k,
                                     LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildAdd(g->b, kk, ci64(g, GROUP), ""), k1, ""), "");
    LLVMBasicBlockRef whole = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pa4");
    LLVMBasicBlockRef bytes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pa1");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pa_next");
    LLVMBuildCondBr(g->b, four, whole, bytes);
    LLVMPositionBuilderAtEnd(g->b, whole);
    g->iv[n->k] = kk;
    LLVMValueRef w = LLVMBuildLoad2(g->b, g->i32, cgl_address(g, n->a), "");
    LLVMSetAlignment(w, 1);
    LLVMSetAlignment(LLVMBuildStore(g->b, w, LLVMBuildInBoundsGEP2(g->b, g->i8, B->apack, &at, 1, "")), 1);
    LLVMBuildBr(g->b, next);
    LLVMPositionBuilderAtEnd(g->b, bytes);
    for (int j = 0; j < GROUP; j++) {
        LLVMValueRef kj = LLVMBuildAdd(g->b, kk, ci64(g, j), ""), aj = LLVMBuildAdd(g->b, at, ci64(g, j), "");
        g->iv[n->k] = kj;
        LLVMValueRef v = byte_or_zero(g, n->a, LLVMBuildICmp(g->b, LLVMIntSLT, kj, k1, ""));
        LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->i8, B->apack, &aj, 1, ""));
    }
    LLVMBuildBr(g->b, next);
    LLVMPositionBuilderAtEnd(g->b, next);
    cgl_loop_end(g, &Lk, 1);
    cgl_loop_end(g, &Lm, 1);
}

/*
 * bpack[q][c][j] = b[k0 + 4 q + j, n0 + c], 0 past k1 or nw.  A whole panel of a b
 * contiguous along n takes four rows of 64 bytes at a time and interleaves them in
 * registers (one shuffle per output vector: vpermt2b with AVX-512 VBMI); the rest, an
 * element at a time.
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
    LLVMValueRef row[GROUP];
    g->iv[n->nn] = n0;
    for (int j = 0; j < GROUP; j++) {
        LLVMValueRef kk = LLVMBuildAdd(g->b, k0, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, q, ci64(g, GROUP), ""), ci64(g, j), ""), "");
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
        LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "brow");
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "brow_join");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, kk, k1, ""), yes, join);
        LLVMPositionBuilderAtEnd(g->b, yes);
        g->iv[n->k] = kk;
        LLVMValueRef x = LLVMBuildLoad2(g->b, B->vi8x64, cgl_address(g, n->b), "");
        LLVMSetAlignment(x, 1);
        LLVMBasicBlockRef yes_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, join);
        LLVMPositionBuilderAtEnd(g->b, join);
        row[j] = LLVMBuildPhi(g->b, B->vi8x64, "");
        LLVMValueRef vals[2] = { x, LLVMConstNull(B->vi8x64) };
        LLVMBasicBlockRef bbs[2] = { yes_end, pre };
        LLVMAddIncoming(row[j], vals, bbs, 2);
    }
    LLVMTypeRef v128 = LLVMVectorType(g->i8, 128);
    LLVMValueRef cat[128];
    for (int i = 0; i < 128; i++)
        cat[i] = LLVMConstInt(g->i32, (unsigned long long)i, 0);
    LLVMValueRef lo = LLVMBuildShuffleVector(g->b, row[0], row[1], LLVMConstVector(cat, 128), "");
    LLVMValueRef hi = LLVMBuildShuffleVector(g->b, row[2], row[3], LLVMConstVector(cat, 128), "");
    (void)v128;
    LLVMValueRef qbase = LLVMBuildMul(g->b, q, ci64(g, NR * GROUP), "");
    for (int v = 0; v < NV; v++) {      /* out[4 c + j] = row j [c], c in [16 v, 16 v + 16) */
        LLVMValueRef m[64];
        for (int i = 0; i < 64; i++) {
            int c = VL * v + i / GROUP, j = i % GROUP;
            m[i] = LLVMConstInt(g->i32, (unsigned long long)(j < 2 ? j * 64 + c : 128 + (j - 2) * 64 + c), 0);
        }
        LLVMValueRef x = LLVMBuildShuffleVector(g->b, lo, hi, LLVMConstVector(m, 64), "");
        LLVMValueRef at = LLVMBuildAdd(g->b, qbase, ci64(g, v * 64), "");
        LLVMValueRef st = LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, g->i8, B->bpack, &at, 1, ""));
        LLVMSetAlignment(st, 64);
    }
    cgl_loop_end(g, &Lq, 1);
    LLVMBuildBr(g->b, done);

    LLVMPositionBuilderAtEnd(g->b, one);
    LLVMValueRef i = cgl_loop_begin(g, &Lq, ci64(g, 0), LLVMBuildMul(g->b, kg, ci64(g, GROUP), ""), "bk");
    LLVMValueRef kk = LLVMBuildAdd(g->b, k0, i, "");
    LLVMValueRef qq = LLVMBuildSDiv(g->b, i, ci64(g, GROUP), ""), j = LLVMBuildSRem(g->b, i, ci64(g, GROUP), "");
    LLVMValueRef c = cgl_loop_begin(g, &Lc, ci64(g, 0), ci64(g, NR), "bc");
    g->iv[n->k] = kk;
    g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
    LLVMValueRef in = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, kk, k1, ""), LLVMBuildICmp(g->b, LLVMIntSLT, c, nw, ""), "");
    LLVMValueRef x = byte_or_zero(g, n->b, in);
    LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, qq, ci64(g, NR * GROUP), ""),
                                   LLVMBuildAdd(g->b, LLVMBuildMul(g->b, c, ci64(g, GROUP), ""), j, ""), "");
    LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, g->i8, B->bpack, &at, 1, ""));
    cgl_loop_end(g, &Lc, 1);
    cgl_loop_end(g, &Lq, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/*
 * The MR x NR tiles of rows [mc0, mc1) against the packed panel; each adds its sums' low
 * bytes into dst (stores them, in the first k block of a GEMM that writes dst), masked
 * to the nw columns and the rows that exist.
 */
static void tiles(cgl *g, const lp_node *n, const bgemm *B, LLVMValueRef *acc, LLVMValueRef mc0, LLVMValueRef mc1,
                  LLVMValueRef n0, LLVMValueRef nw, LLVMValueRef kg, LLVMValueRef fresh)
{
    cloop Lm, Lq;
    LLVMValueRef m0 = cgl_loop_begin(g, &Lm, mc0, mc1, "bm0");
    for (int i = 0; i < MR * NV; i++)
        LLVMBuildStore(g->b, LLVMConstNull(B->vi32), acc[i]);
    LLVMValueRef tile = LLVMBuildSDiv(g->b, LLVMBuildSub(g->b, m0, mc0, ""), ci64(g, MR), "");
    LLVMValueRef abase = LLVMBuildMul(g->b, tile, LLVMBuildMul(g->b, kg, ci64(g, MR * GROUP), ""), "");
    LLVMValueRef q = cgl_loop_begin(g, &Lq, ci64(g, 0), kg, "bq");
    LLVMValueRef bv[NV];
    for (int v = 0; v < NV; v++) {
        LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, q, ci64(g, NR * GROUP), ""), ci64(g, v * 64), "");
        bv[v] = LLVMBuildLoad2(g->b, B->vi32, LLVMBuildInBoundsGEP2(g->b, g->i8, B->bpack, &at, 1, ""), "");
        LLVMSetAlignment(bv[v], 64);
    }
    LLVMValueRef arow = LLVMBuildAdd(g->b, abase, LLVMBuildMul(g->b, q, ci64(g, MR * GROUP), ""), "");
    for (int r = 0; r < MR; r++) {
        LLVMValueRef at = LLVMBuildAdd(g->b, arow, ci64(g, r * GROUP), "");
        LLVMValueRef a4 = LLVMBuildLoad2(g->b, g->i32, LLVMBuildInBoundsGEP2(g->b, g->i8, B->apack, &at, 1, ""), "");
        LLVMSetAlignment(a4, 4);
        LLVMValueRef a = cgl_splat(g, a4, VL);
        for (int v = 0; v < NV; v++) {
            LLVMValueRef c = LLVMBuildLoad2(g->b, B->vi32, acc[r * NV + v], "");
            LLVMBuildStore(g->b, dot4(g, B, c, bv[v], a), acc[r * NV + v]);
        }
    }
    cgl_loop_end(g, &Lq, 1);
    /* store: dst[m0 + r, n0 + 16 v + l] (+)= low byte of acc[r][v][l] */
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
            LLVMValueRef p = LLVMBuildGEP2(g->b, g->i8, p0, &at, 1, "");
            LLVMValueRef old = cgl_masked_op(g, B->vi8, 1, p,
                fresh ? LLVMBuildAnd(g->b, mk, cgl_splat(g, LLVMBuildNot(g->b, fresh, ""), VL), "") : mk, NULL);
            LLVMValueRef sum = LLVMBuildAdd(g->b, old, LLVMBuildTrunc(g->b, LLVMBuildLoad2(g->b, B->vi32, acc[r * NV + v], ""), B->vi8, ""), "");
            cgl_masked_op(g, B->vi8, 1, p, mk, sum);
        }
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, next);
    }
    cgl_loop_end(g, &Lm, MR);
}

/*
 * dst[m, n] (+)= a[m, k] * b[k, n] in bytes: for k blocks of KC, blocks of MC rows (a
 * packed once per block, as MR-row strips of 4-byte k groups), then panels of NR
 * columns (b packed as 4-byte k groups per column), the MR x NR tiles in 24 int32
 * vectors.  The tile's k loop is one 4-byte broadcast of a and four dot products per row.
 */
void cgl_gemm_bytes(cgl *g, const lp_node *n)
{
    bgemm B;
    B.vi32 = LLVMVectorType(g->i32, VL);
    B.vi8x64 = LLVMVectorType(g->i8, 64);
    B.vi8 = LLVMVectorType(g->i8, VL);
    B.kc = g->nest->sched.gemm.kc > 0 ? g->nest->sched.gemm.kc / GROUP * GROUP : 512;
    B.mc = APACK_BYTES / B.kc / MR * MR;
    B.dot = NULL;
    B.dot_t = NULL;
    if (g->o->vnni) {
        unsigned id = LLVMLookupIntrinsicID("llvm.x86.avx512.vpdpbusd.512", 28);
        B.dot = LLVMGetIntrinsicDeclaration(g->m, id, NULL, 0);
        B.dot_t = LLVMIntrinsicGetType(g->ctx, id, NULL, 0);
    }
    B.apack = cgl_entry_alloca(g, LLVMArrayType2(g->i8, (uint64_t)B.mc * (uint64_t)B.kc), "apack");
    LLVMSetAlignment(B.apack, 64);
    B.bpack = cgl_entry_alloca(g, LLVMArrayType2(g->i8, (uint64_t)B.kc * NR), "bpack");
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
        LLVMBuildStore(g->b, LLVMConstInt(g->i8, 0, 0), cgl_address(g, n->dst));
        cgl_loop_end(g, &Lzn, 1);
        cgl_loop_end(g, &Lz, 1);
        LLVMBuildBr(g->b, some);
        LLVMPositionBuilderAtEnd(g->b, some);
    }
    LLVMValueRef k0 = cgl_loop_begin(g, &Lk0, ci64(g, 0), K, "bk0");
    LLVMValueRef k1 = smin(g, LLVMBuildAdd(g->b, k0, ci64(g, B.kc), ""), K);
    LLVMValueRef kg = LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, LLVMBuildSub(g->b, k1, k0, ""), ci64(g, GROUP - 1), ""), ci64(g, GROUP), "");
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
