/*
 * llvm_gemm.c — an LP_GEMM (lower.c's match_gemm: a float or complex a * b on the CPU) as
 * a register-blocked GEMM with packed panels of b, sized from the host's L2 (gemm).
 *
 * A complex GEMM runs the same real microkernel on the parts, the real formulation: c[m, n]
 * += a[m, k] b[k, n] is, with a's parts (ar, ai) as a row of 2K reals and each b[k, n] =
 * (br, bi) packed as the 2 x 2 block [[br, bi], [-bi, br]] (rows 2k and 2k + 1, columns 2n
 * and 2n + 1), the real product of an M x 2K matrix and a 2K x 2N one, whose M x 2N result
 * is c's parts as they lie in memory: ar br - ai bi and ar bi + ai br, numpy's product,
 * four real multiply-adds per complex one.  The sign and the swap are made once, while b is
 * packed (gemm_pack_cx); a is loaded as it is.  The terms of a sum are the interpreter's
 * products (ai (-bi) is -(ai bi) exactly, inf and nan included), added in another order
 * and with fused multiply-adds: integer-valued data agrees exactly, and a nan or an inf
 * comes out where the interpreter's does, except where a finite sum overflows in one order
 * and not the other.
 */
#include "llvm_int.h"

/*
 * The tile (MR x NV vectors, KC, the MC budget) is the schedule's (lp_sched.gemm, whose
 * rule is compiler/passes/schedule.c: lp_gemm_tile_for), at most 6 x 4 vectors: MAXACC
 * accumulators.  512 ran 'ik,kj->ij' 1024^3 11% faster than a KC of 256 on a 2 MiB L2,
 * and 1024 faster still, but the panel is on the stack of whatever thread runs the
 * kernel, so the rule keeps it at most 128 KiB.
 */
enum { GEMM_KU = 4, MAXACC = 24 };

/*
 * MC: how many rows of a one pass over b's panels walks.  Their block of a (MC x KC, or
 * x K when K is shorter) takes at most a quarter of L2, and the rows of [m0, m1) are
 * shared evenly between the fewest such blocks, each a multiple of MR rows (256 rows of
 * float32 with K >= 512 and 2 MiB of L2 are two blocks of 132 and 124; 600 are three of
 * 204, 204 and 192).  The block then stays in L2 from one panel to the next, where before
 * a 2048-row a came from L3 for every panel: 'ik,kj->ij' 2048^3 went from 0.81 to 0.92 of
 * OpenBLAS (with the prefetch of dst in gemm_kloop), at the price of packing each panel
 * once per block.  Computed at run time, where K is known.
 */
static LLVMValueRef gemm_mc(cgl *g, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef K, const lp_gemm_tile *t,
                            int esize, LLVMValueRef *nblocks)
{
    LLVMValueRef mr = ci64(g, t->mr);
    LLVMValueRef kw = smax(g, smin(g, K, ci64(g, t->kc)), ci64(g, 1));
    LLVMValueRef most = LLVMBuildSDiv(g->b, ci64(g, t->mc_bytes / esize), kw, "");
    most = smax(g, LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, most, mr, ""), mr, ""), mr);
    LLVMValueRef rows = smax(g, LLVMBuildSub(g->b, m1, m0, ""), ci64(g, 0));
    LLVMValueRef nb = LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, rows, LLVMBuildSub(g->b, most, ci64(g, 1), ""), ""), most, "");
    *nblocks = nb;
    nb = smax(g, nb, ci64(g, 1));
    LLVMValueRef each = LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, rows, LLVMBuildSub(g->b, nb, ci64(g, 1), ""), ""), nb, "");
    each = LLVMBuildAdd(g->b, each, ci64(g, t->mr - 1), "");
    return LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, each, mr, ""), mr, "");
}

/* Shared by gemm's tile and row paths. */
typedef struct gemm_ctx {
    LLVMTypeRef et, vt, fma_t;
    LLVMValueRef fma, panel;
    LLVMValueRef fresh;         /* a GEMM that writes dst: true in its first k block */
    int esize, vl, nv, nr, mr;  /* complex: of the parts (NR parts are NR / 2 columns) */
    bool cx;                    /* complex: each k is two rows of the panel (the file's head) */
} gemm_ctx;

/*
 * The k index c of a GEMM: k itself, or with a second axis k2 run together with k (lp_node
 * k2), k2 = c / size(k) and k = c mod size(k), for b; a walks (k2, k) as one stretch, so its
 * address takes c as k and 0 as k2 (gemm_kstep).
 */
static void gemm_kset(cgl *g, const lp_node *n, LLVMValueRef c)
{
    if (n->k2 < 0) {
        g->iv[n->k] = c;
        return;
    }
    g->iv[n->k2] = LLVMBuildSDiv(g->b, c, g->size[n->k], "");
    g->iv[n->k] = LLVMBuildSRem(g->b, c, g->size[n->k], "");
}

/* Row m0 + r of a tile, or for a row past m1 (the last tile of a block) the last row m1 - 1. */
static LLVMValueRef gemm_row(cgl *g, LLVMValueRef m0, int r, LLVMValueRef m1)
{
    return r ? smin(g, LLVMBuildAdd(g->b, m0, ci64(g, r), ""), LLVMBuildSub(g->b, m1, ci64(g, 1), "")) : m0;
}

/* acc[r][v] += a[m0 + r, k] * panel[k - k0][v] for one k. */
static void gemm_kstep(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef k0)
{
    LLVMValueRef bv[MAXACC];
    LLVMValueRef prow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, g->iv[n->k], k0, ""), ci64(g, G->nr), "");
    for (int v = 0; v < G->nv; v++) {
        LLVMValueRef at = LLVMBuildAdd(g->b, prow, ci64(g, v * G->vl), "");
        bv[v] = LLVMBuildLoad2(g->b, G->vt, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""), "");
        LLVMSetAlignment(bv[v], (unsigned)(G->vl * G->esize));
    }
    if (n->k2 >= 0)
        g->iv[n->k2] = ci64(g, 0);
    for (int r = 0; r < G->mr; r++) {
        g->iv[n->m] = gemm_row(g, m0, r, m1);
        LLVMValueRef a = cgl_splat(g, cgl_load_plain(g, n->a), G->vl);    /* widened from a 16-bit a */
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef c = LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], "");
            LLVMValueRef args[3] = { a, bv[v], c };
            LLVMBuildStore(g->b, LLVMBuildCall2(g->b, G->fma_t, G->fma, args, 3, ""), acc[r * G->nv + v]);
        }
    }
}

/*
 * The same for a complex a: acc[r][v] += ar * panel[2 (k - k0)][v] + ai * panel[2 (k - k0)
 * + 1][v].  One row of the panel at a time, so that no more than NV of b's vectors are
 * live beside the MR x NV accumulators (AVX-512's 32 registers hold 24 + 4 + 1, not 8).
 */
static void gemm_kstep_cx(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                          LLVMValueRef m1, LLVMValueRef k0)
{
    LLVMValueRef prow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, g->iv[n->k], k0, ""), ci64(g, 2 * G->nr), "");
    if (n->k2 >= 0)
        g->iv[n->k2] = ci64(g, 0);
    LLVMValueRef av[MAXACC];
    for (int r = 0; r < G->mr; r++) {
        g->iv[n->m] = gemm_row(g, m0, r, m1);
        av[r] = cgl_load_plain(g, n->a);
    }
    for (int part = 0; part < 2; part++) {
        LLVMValueRef bv[MAXACC];
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = LLVMBuildAdd(g->b, prow, ci64(g, part * G->nr + v * G->vl), "");
            bv[v] = LLVMBuildLoad2(g->b, G->vt, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""), "");
            LLVMSetAlignment(bv[v], (unsigned)(G->vl * G->esize));
        }
        for (int r = 0; r < G->mr; r++) {
            LLVMValueRef a = cgl_splat(g, part ? cgl_cx_im(g, av[r]) : cgl_cx_re(g, av[r]), G->vl);
            for (int v = 0; v < G->nv; v++) {
                LLVMValueRef c = LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], "");
                LLVMValueRef args[3] = { a, bv[v], c };
                LLVMBuildStore(g->b, LLVMBuildCall2(g->b, G->fma_t, G->fma, args, 3, ""), acc[r * G->nv + v]);
            }
        }
    }
}

/*
 * acc[r][v] += a[m0 + r, k] * panel[k - k0][v] for k in [k0, k1).  The tile of dst two
 * tiles further down is prefetched first: a large dst comes from L3 or memory, and its
 * rows lie far apart, so the hardware prefetcher does not fetch them while the loop runs.
 * Prefetching the tile's own lines took 'ik,kj->ij' 2048^3 from 0.84 to 0.89 of OpenBLAS;
 * two tiles ahead, 'bhid,bhjd->bhij' (k = 64: short tiles, whose lines came too late, and
 * a dst of 100 MB no fill has brought into the cache) went from 117 to 150 GFLOP/s.  Rows
 * and lines past dst's end are prefetched too, harmlessly: a prefetch never faults, and
 * its address is computed without inbounds.  The 4-vector tile's k loop is unrolled KU = 4
 * times, which ran 'bij,bjk->bik' 32x256^3 9% faster and 'ik,kj->ij' 1024^3 4% (less loop
 * overhead between the multiply-adds); the narrower tiles' are not, which would cost a
 * fifth more compile time.
 */
static void gemm_kloop(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef k0, LLVMValueRef k1)
{
    /* rows m0 + 2 MR + r, from row m0's address and dst's row stride */
    g->iv[n->nn] = n0;
    g->iv[n->m] = m0;
    LLVMValueRef p0 = cgl_address(g, n->dst), step = cgl_axis_stride(g, n->dst, n->m);
    for (int r = 0; r < G->mr; r++) {
        LLVMValueRef rows = LLVMBuildMul(g->b, step, ci64(g, 2 * G->mr + r), "");
        LLVMValueRef p = LLVMBuildGEP2(g->b, G->et, p0, &rows, 1, "");
        for (int v = 0; v < G->nv * G->vl * G->esize; v += 64) {
            LLVMValueRef at = ci64(g, v);
            cgl_prefetch(g, LLVMBuildGEP2(g->b, g->i8, p, &at, 1, ""), true);
        }
    }
    cloop Lu, Lk;
    int ku = G->nv == 4 ? GEMM_KU / (G->cx ? 2 : 1) : 1;   /* AVX-512's 4-vector tile (AVX2's widest is 2) */
    void (*kstep)(cgl *, const lp_node *, const gemm_ctx *, LLVMValueRef *, LLVMValueRef, LLVMValueRef,
                 LLVMValueRef) = G->cx ? gemm_kstep_cx : gemm_kstep;
    LLVMValueRef kf = cgl_loop_begin(g, &Lu, k0, LLVMBuildSub(g->b, k1, ci64(g, ku - 1), ""), "ku");
    for (int u = 0; u < ku; u++) {
        g->iv[n->k] = LLVMBuildAdd(g->b, kf, ci64(g, u), "");
        kstep(g, n, G, acc, m0, m1, k0);
    }
    cgl_loop_end(g, &Lu, ku);
    if (ku > 1) {
        g->iv[n->k] = cgl_loop_begin(g, &Lk, Lu.iv, k1, "k");     /* the last (k1 - k0) mod KU */
        kstep(g, n, G, acc, m0, m1, k0);
        cgl_loop_end(g, &Lk, 1);
    }
}

/*
 * dst[m0 + r, n0 + c] += acc[r][c] for the nw columns that exist, through masked vectors
 * whether the column block is whole or not.  A mask costs nothing on AVX-512, and one
 * path (not a whole block and a partial one) keeps the loop over m free of a branch that
 * never changes inside it, which LLVM's O3 would otherwise unswitch, copying every tile
 * and its k loop: that doubled the optimiser's and the code generator's time.  Vector v
 * is addressed from the block's first column without inbounds: past dst's end when no
 * lane of it exists, where the masked load and store touch nothing.
 */
static void gemm_store(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef nw)
{
    LLVMValueRef mask[MAXACC];
    for (int v = 0; v < G->nv; v++)
        mask[v] = cgl_lanes_below(g, G->vl, ci64(g, v * G->vl), nw, NULL);
    /* dst's old value is read unless this is the first k block of a GEMM that writes dst */
    LLVMValueRef old = G->fresh ? cgl_splat(g, LLVMBuildNot(g->b, G->fresh, ""), G->vl) : NULL;
    g->iv[n->nn] = n0;
    for (int r = 0; r < G->mr; r++) {
        g->iv[n->m] = gemm_row(g, m0, r, m1);
        LLVMValueRef p0 = cgl_address(g, n->dst);
        LLVMValueRef here = r ? LLVMBuildICmp(g->b, LLVMIntSLT, LLVMBuildAdd(g->b, m0, ci64(g, r), ""), m1, "") : NULL;
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = ci64(g, v * G->vl);
            LLVMValueRef p = LLVMBuildGEP2(g->b, G->et, p0, &at, 1, "");
            LLVMValueRef mk = here ? LLVMBuildAnd(g->b, mask[v], cgl_splat(g, here, G->vl), "") : mask[v];
            LLVMValueRef sum = LLVMBuildFAdd(g->b, cgl_masked_op(g, G->vt, G->esize, p, old ? LLVMBuildAnd(g->b, mk, old, "") : mk, NULL),
                                             LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], ""), "");
            cgl_masked_op(g, G->vt, G->esize, p, mk, sum);
        }
    }
}

/*
 * The VL values of a 16-bit float b at p whose lanes are in mask (0 elsewhere), in
 * float32: float16 through fpext (F16C's vcvtph2ps), bfloat16 by a shift into the top half.
 */
static LLVMValueRef gemm_widen_load(cgl *g, const gemm_ctx *G, einc_dtype t, LLVMValueRef p, LLVMValueRef mask)
{
    LLVMTypeRef ht = LLVMVectorType(t == EINC_F16 ? LLVMHalfTypeInContext(g->ctx) : LLVMInt16TypeInContext(g->ctx), (unsigned)G->vl);
    LLVMValueRef x = cgl_masked_op(g, ht, 2, p, mask, NULL);
    if (t == EINC_F16)
        return LLVMBuildFPExt(g->b, x, G->vt, "");
    LLVMTypeRef wt = LLVMVectorType(g->i32, (unsigned)G->vl);
    x = LLVMBuildShl(g->b, LLVMBuildZExt(g->b, x, wt, ""), cgl_splat(g, LLVMConstInt(g->i32, 16, 0), G->vl), "");
    return LLVMBuildBitCast(g->b, x, G->vt, "");
}

/*
 * panel[k - k0][c] = b[k, n0 + c] for k in [k0, k1), c < nw, and 0 for nw <= c < NR.  A b
 * that is contiguous along n and needs no guard is copied a vector at a time (a 16-bit
 * float one widened to float32 on the way, gemm_widen_load)
 * (the panel is packed again for every MC block of rows, so a copy an element at a time
 * cost some 8% of a 2048^3 GEMM), through masked loads, which give the zeros past nw (a
 * vector with no lane left is addressed without inbounds, and touches nothing).  A whole
 * block of a b contiguous along k goes through 16 x 16 register transposes; anything
 * else an element at a time.
 */
static void gemm_pack(cgl *g, const lp_node *n, const gemm_ctx *G, int kc, LLVMValueRef k0, LLVMValueRef k1,
                      LLVMValueRef n0, LLVMValueRef nw, LLVMValueRef nfull)
{
    cloop Lk, Ln, Lz;
    LLVMValueRef k0from = k0;
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "packed");
    einc_dtype bt = g->p->tensor[n->b->tensor].dtype;
    if (!n->b->guard && (bt == g->nest->compute || dtype_is_half(bt))) {
        LLVMBasicBlockRef vec = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "vpack");
        LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pack");
        LLVMValueRef unit = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->b, n->nn), ci64(g, 1), "");
        LLVMBuildCondBr(g->b, unit, vec, one);
        LLVMPositionBuilderAtEnd(g->b, vec);
        LLVMValueRef mask[MAXACC];
        for (int v = 0; v < G->nv; v++)
            mask[v] = cgl_lanes_below(g, G->vl, ci64(g, v * G->vl), nw, NULL);
        LLVMValueRef c = cgl_loop_begin(g, &Lk, k0, k1, "pk");
        gemm_kset(g, n, c);
        g->iv[n->nn] = n0;
        LLVMValueRef src = cgl_address(g, n->b);
        LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, c, k0, ""), ci64(g, G->nr), "");
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = ci64(g, v * G->vl);
            LLVMValueRef x = bt != g->nest->compute
                           ? gemm_widen_load(g, G, bt, LLVMBuildGEP2(g->b, elem_type(g, bt), src, &at, 1, ""), mask[v])
                           : cgl_masked_op(g, G->vt, G->esize, LLVMBuildGEP2(g->b, G->et, src, &at, 1, ""), mask[v], NULL);
            at = LLVMBuildAdd(g->b, row, at, "");
            LLVMValueRef st = LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""));
            LLVMSetAlignment(st, (unsigned)(G->vl * G->esize));
        }
        cgl_loop_end(g, &Lk, 1);
        LLVMBuildBr(g->b, done);
        LLVMPositionBuilderAtEnd(g->b, one);
        /* b contiguous along k (a transposed b: 'ik,jk->ij', attention's q k^T) */
        LLVMBasicBlockRef sq = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tpack");
        LLVMBasicBlockRef rest = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pack");
        LLVMValueRef kunit = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->b, n->k), ci64(g, 1), "");
        if (bt != g->nest->compute)     /* the squares move float32s: a 16-bit b packs one by one */
            kunit = LLVMConstInt(g->i1, 0, 0);
        else if (n->k2 >= 0)     /* VL values of c in one k2 row: VL | size(k), and blocks start at VL multiples */
            kunit = kc % G->vl ? LLVMConstInt(g->i1, 0, 0)
                               : LLVMBuildAnd(g->b, kunit, LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildSRem(g->b, g->size[n->k], ci64(g, G->vl), ""), ci64(g, 0), ""), "");
        LLVMBuildCondBr(g->b, LLVMBuildAnd(g->b, nfull, kunit, ""), sq, rest);
        LLVMPositionBuilderAtEnd(g->b, sq);
        LLVMValueRef kb = cgl_loop_begin(g, &Lk, k0, LLVMBuildSub(g->b, k1, ci64(g, G->vl - 1), ""), "tk");
        LLVMValueRef trow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, kb, k0, ""), ci64(g, G->nr), "");
        gemm_kset(g, n, kb);
        /*
         * VL rows of b (n0 + v VL + i, contiguous along k) into VL rows of the panel: a
         * transpose's square (square_body), each row's next VL values prefetched
         */
        square q = { .vt = G->vt, .vl = G->vl, .esize = G->esize, .ow = G->vl };
        LLVMValueRef a[SQ_NARG], VL = ci64(g, G->vl), zero = ci64(g, 0);
        a[SQ_S_IN] = cgl_axis_stride(g, n->b, n->nn);
        a[SQ_NLOAD] = a[SQ_L_HI] = a[SQ_NSTORE] = a[SQ_S_HI] = a[SQ_PF_ADD] = a[SQ_PF_LAST] = VL;
        a[SQ_NBACK] = a[SQ_BACK] = a[SQ_B_LO] = a[SQ_F_LO] = a[SQ_PF_ROW] = zero;
        a[SQ_S_OUT] = ci64(g, G->nr);
        a[SQ_STREAM] = LLVMConstInt(g->i1, 0, 0);
        a[SQ_AHEAD] = ci64(g, G->vl * G->nr);
        for (int v = 0; v < G->nv; v++) {
            g->iv[n->nn] = LLVMBuildAdd(g->b, n0, ci64(g, v * G->vl), "");
            a[SQ_IN] = cgl_address(g, n->b);
            LLVMValueRef at = LLVMBuildAdd(g->b, trow, ci64(g, v * G->vl), "");
            a[SQ_OUT] = LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, "");
            cgl_call_helper(g, &q, 0, a, SQ_NARG, cgl_square_body);
        }
        cgl_loop_end(g, &Lk, G->vl);
        LLVMBasicBlockRef sq_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, rest);
        LLVMPositionBuilderAtEnd(g->b, rest);
        k0from = LLVMBuildPhi(g->b, g->i64, "");    /* the last (k1 - k0) mod VL rows */
        LLVMValueRef vals[2] = { k0, Lk.iv };
        LLVMBasicBlockRef bbs[2] = { one, sq_end };
        LLVMAddIncoming(k0from, vals, bbs, 2);
    }
    LLVMValueRef kr = cgl_loop_begin(g, &Lk, k0from, k1, "pk");
    gemm_kset(g, n, kr);
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, kr, k0, ""), ci64(g, G->nr), "");
    LLVMValueRef c = cgl_loop_begin(g, &Ln, ci64(g, 0), nw, "pn");
    g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
    LLVMValueRef bval = cgl_load(g, n->b);     /* zero where a guarded b (padding) is outside */
    LLVMBuildStore(g->b, bval, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, (LLVMValueRef[]){ LLVMBuildAdd(g->b, row, c, "") }, 1, ""));
    cgl_loop_end(g, &Ln, 1);
    LLVMValueRef z = cgl_loop_begin(g, &Lz, nw, ci64(g, G->nr), "pz");
    LLVMBuildStore(g->b, LLVMConstReal(G->et, 0), LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, (LLVMValueRef[]){ LLVMBuildAdd(g->b, row, z, "") }, 1, ""));
    cgl_loop_end(g, &Lz, 1);
    cgl_loop_end(g, &Lk, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/* lane 2j: -x[2j + 1] (from the negation), 2j + 1: x[2j]: (-bi, br) from (br, bi) */
static LLVMValueRef swap_lanes(cgl *g, int vl)
{
    LLVMValueRef swap[64];
    for (int i = 0; i < vl; i++)
        swap[i] = LLVMConstInt(g->i32, (unsigned long long)(i % 2 ? i - 1 : vl + i + 1), 0);
    return LLVMConstVector(swap, (unsigned)vl);
}

/* The complex panel's rows 2 (k - k0) + 1 for k in [k0, k1), from rows 2 (k - k0). */
static void gemm_pack_cx_swap(cgl *g, const gemm_ctx *G, LLVMValueRef k0, LLVMValueRef k1)
{
    cloop L;
    LLVMValueRef sw = swap_lanes(g, G->vl);
    LLVMValueRef k = cgl_loop_begin(g, &L, k0, k1, "sk");
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, k, k0, ""), ci64(g, 2 * G->nr), "");
    for (int v = 0; v < G->nv; v++) {
        LLVMValueRef at = LLVMBuildAdd(g->b, row, ci64(g, v * G->vl), "");
        LLVMValueRef x = LLVMBuildLoad2(g->b, G->vt, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""), "");
        LLVMSetAlignment(x, (unsigned)(G->vl * G->esize));
        at = LLVMBuildAdd(g->b, at, ci64(g, G->nr), "");
        LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildShuffleVector(g->b, x, LLVMBuildFNeg(g->b, x, ""), sw, ""),
                                         LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""));
        LLVMSetAlignment(st, (unsigned)(G->vl * G->esize));
    }
    cgl_loop_end(g, &L, 1);
}

/*
 * Rows 2 (k - k0) of a complex64 panel for k from k0 on, VL / 2 at a time, from a b
 * contiguous along k ('ik,jk->ij', attention's q k^T): each complex64 moved as one double
 * through the transposes' squares (square_body), as gemm_pack moves a float32 b; rows 2
 * (k - k0) + 1 then by gemm_pack_cx_swap.  Returns the first k it left for the element
 * path.
 */
static LLVMValueRef gemm_pack_cx_squares(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef k0,
                                         LLVMValueRef k1, LLVMValueRef n0)
{
    cloop Lk;
    int vd = G->vl / 2;
    LLVMValueRef kb = cgl_loop_begin(g, &Lk, k0, LLVMBuildSub(g->b, k1, ci64(g, vd - 1), ""), "tk");
    LLVMValueRef trow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, kb, k0, ""), ci64(g, 2 * G->nr), "");
    gemm_kset(g, n, kb);
    square q = { .vt = LLVMVectorType(g->f64, (unsigned)vd), .vl = vd, .esize = 8, .ow = vd };
    LLVMValueRef a[SQ_NARG], VL = ci64(g, vd), zero = ci64(g, 0);
    a[SQ_S_IN] = cgl_axis_stride(g, n->b, n->nn);
    a[SQ_NLOAD] = a[SQ_L_HI] = a[SQ_NSTORE] = a[SQ_S_HI] = a[SQ_PF_ADD] = a[SQ_PF_LAST] = VL;
    a[SQ_NBACK] = a[SQ_BACK] = a[SQ_B_LO] = a[SQ_F_LO] = a[SQ_PF_ROW] = zero;
    a[SQ_S_OUT] = ci64(g, G->nr);       /* two rows of the panel, in doubles */
    a[SQ_STREAM] = LLVMConstInt(g->i1, 0, 0);
    a[SQ_AHEAD] = ci64(g, vd * G->nr);
    for (int v = 0; v < G->nv; v++) {
        g->iv[n->nn] = LLVMBuildAdd(g->b, n0, ci64(g, v * vd), "");
        a[SQ_IN] = cgl_address(g, n->b);
        LLVMValueRef at = LLVMBuildAdd(g->b, trow, ci64(g, v * G->vl), "");
        a[SQ_OUT] = LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, "");
        cgl_call_helper(g, &q, 0, a, SQ_NARG, cgl_square_body);
    }
    cgl_loop_end(g, &Lk, vd);
    LLVMValueRef kend = Lk.iv;
    gemm_pack_cx_swap(g, G, k0, kend);
    return kend;
}

/*
 * The complex panel: rows 2 (k - k0) and 2 (k - k0) + 1 for k in [k0, k1) hold (br, bi) and
 * (-bi, br) of b[k, n0 + c] at columns 2c and 2c + 1 for c < nw, and zeros up to NR.  A b
 * of the compute type, contiguous along n and unguarded, is moved a vector of parts at a
 * time (through masked loads, as gemm_pack's), the second row by one shuffle of the vector
 * and its negation; a whole block of a complex64 b contiguous along k through squares
 * (gemm_pack_cx_squares: 'ik,jk->ij' 512^3 went from 0.66 to 0.99 of OpenBLAS's cgemm);
 * anything else an element at a time, converted by cgl_load.
 */
static void gemm_pack_cx(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef k0, LLVMValueRef k1,
                         LLVMValueRef n0, LLVMValueRef nw)
{
    cloop Lk, Ln, Lz;
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "packed");
    LLVMValueRef nr = ci64(g, G->nr), k0from = k0;
    if (!n->b->guard && g->p->tensor[n->b->tensor].dtype == g->nest->compute) {
        LLVMBasicBlockRef vec = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "vpack");
        LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pack");
        LLVMValueRef unit = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->b, n->nn), ci64(g, 1), "");
        LLVMBuildCondBr(g->b, unit, vec, one);
        LLVMPositionBuilderAtEnd(g->b, vec);
        LLVMValueRef mask[MAXACC], parts = LLVMBuildMul(g->b, nw, ci64(g, 2), "");
        for (int v = 0; v < G->nv; v++)
            mask[v] = cgl_lanes_below(g, G->vl, ci64(g, v * G->vl), parts, NULL);
        LLVMValueRef sw = swap_lanes(g, G->vl);
        LLVMValueRef c = cgl_loop_begin(g, &Lk, k0, k1, "pk");
        gemm_kset(g, n, c);
        g->iv[n->nn] = n0;
        LLVMValueRef src = cgl_address(g, n->b);
        LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, c, k0, ""), ci64(g, 2 * G->nr), "");
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = ci64(g, v * G->vl);
            LLVMValueRef x = cgl_masked_op(g, G->vt, G->esize, LLVMBuildGEP2(g->b, G->et, src, &at, 1, ""), mask[v], NULL);
            LLVMValueRef y = LLVMBuildShuffleVector(g->b, x, LLVMBuildFNeg(g->b, x, ""), sw, "");
            at = LLVMBuildAdd(g->b, row, at, "");
            LLVMValueRef st = LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""));
            LLVMSetAlignment(st, (unsigned)(G->vl * G->esize));
            at = LLVMBuildAdd(g->b, at, nr, "");
            st = LLVMBuildStore(g->b, y, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""));
            LLVMSetAlignment(st, (unsigned)(G->vl * G->esize));
        }
        cgl_loop_end(g, &Lk, 1);
        LLVMBuildBr(g->b, done);
        LLVMPositionBuilderAtEnd(g->b, one);
        if (g->nest->compute == EINC_C64 && n->k2 < 0) {
            LLVMBasicBlockRef sq = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tpack");
            LLVMBasicBlockRef rest = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pack");
            LLVMValueRef kunit = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, n->b, n->k), ci64(g, 1), "");
            LLVMValueRef nfull = LLVMBuildICmp(g->b, LLVMIntEQ, nw, ci64(g, G->nr / 2), "");
            LLVMBuildCondBr(g->b, LLVMBuildAnd(g->b, nfull, kunit, ""), sq, rest);
            LLVMPositionBuilderAtEnd(g->b, sq);
            LLVMValueRef kend = gemm_pack_cx_squares(g, n, G, k0, k1, n0);
            LLVMBasicBlockRef sq_end = LLVMGetInsertBlock(g->b);
            LLVMBuildBr(g->b, rest);
            LLVMPositionBuilderAtEnd(g->b, rest);
            k0from = LLVMBuildPhi(g->b, g->i64, "");    /* the last (k1 - k0) mod VL / 2 rows */
            LLVMValueRef vals[2] = { k0, kend };
            LLVMBasicBlockRef bbs[2] = { one, sq_end };
            LLVMAddIncoming(k0from, vals, bbs, 2);
        }
    }
    LLVMValueRef kr = cgl_loop_begin(g, &Lk, k0from, k1, "pk");
    gemm_kset(g, n, kr);
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, kr, k0, ""), ci64(g, 2 * G->nr), "");
    LLVMValueRef c = cgl_loop_begin(g, &Ln, ci64(g, 0), nw, "pn");
    g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
    LLVMValueRef bval = cgl_load(g, n->b);     /* zero where a guarded b (padding) is outside */
    LLVMValueRef re = cgl_cx_re(g, bval), im = cgl_cx_im(g, bval);
    LLVMValueRef at = LLVMBuildAdd(g->b, row, LLVMBuildMul(g->b, c, ci64(g, 2), ""), "");
    LLVMValueRef v4[4] = { re, im, LLVMBuildFNeg(g->b, im, ""), re };
    for (int i = 0; i < 4; i++) {
        LLVMValueRef o = LLVMBuildAdd(g->b, at, ci64(g, (i / 2) * G->nr + i % 2), "");
        LLVMBuildStore(g->b, v4[i], LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &o, 1, ""));
    }
    cgl_loop_end(g, &Ln, 1);
    LLVMValueRef z = cgl_loop_begin(g, &Lz, LLVMBuildMul(g->b, nw, ci64(g, 2), ""), nr, "pz");
    for (int i = 0; i < 2; i++) {
        LLVMValueRef o = LLVMBuildAdd(g->b, LLVMBuildAdd(g->b, row, z, ""), ci64(g, i * G->nr), "");
        LLVMBuildStore(g->b, LLVMConstReal(G->et, 0), LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &o, 1, ""));
    }
    cgl_loop_end(g, &Lz, 1);
    cgl_loop_end(g, &Lk, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/* dst[m, n] = 0 for m in [m0, m1) when K is 0: a GEMM that writes dst has no k block then. */
static void gemm_zero(cgl *g, const lp_node *n, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef N, LLVMValueRef K)
{
    LLVMBasicBlockRef empty = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "nok");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "somek");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, K, ci64(g, 0), ""), empty, done);
    LLVMPositionBuilderAtEnd(g->b, empty);
    cloop Lm, Ln;
    g->iv[n->m] = cgl_loop_begin(g, &Lm, m0, m1, "zm");
    g->iv[n->nn] = cgl_loop_begin(g, &Ln, ci64(g, 0), N, "zn");
    cgl_store(g, n->dst, cx(g) ? cgl_cx_const(g, 0, 0) : fc(g, 0));
    cgl_loop_end(g, &Ln, 1);
    cgl_loop_end(g, &Lm, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/* The MR-row tiles of rows [mc0, mc1) against the packed panel at column n0, G->nv vectors wide. */
static void gemm_rows(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef mc0,
                      LLVMValueRef mc1, LLVMValueRef n0, LLVMValueRef nw, LLVMValueRef k0, LLVMValueRef k1)
{
    cloop Lm;
    LLVMValueRef m0 = cgl_loop_begin(g, &Lm, mc0, mc1, "m0");
    for (int i = 0; i < G->mr * G->nv; i++)
        LLVMBuildStore(g->b, LLVMConstNull(G->vt), acc[i]);
    gemm_kloop(g, n, G, acc, m0, mc1, n0, k0, k1);
    gemm_store(g, n, G, acc, m0, mc1, n0, nw);
    cgl_loop_end(g, &Lm, G->mr);
}

/*
 * dst[m, n] += a[m, k] * b[k, n], register-blocked: an MR x (NV vectors) tile of dst lives
 * in vector registers while k runs over a block of KC, so each loaded vector of b feeds MR
 * fused multiply-adds and each element of a is broadcast once.  For each (k block, column
 * block) the KC x NR panel of b is first packed into a contiguous buffer on the stack: then
 * the tile reads it with unit stride whatever b's layout (a transposed b is the same code),
 * and rows of b that sit a power of two apart no longer fight over the same L1 sets.  A
 * partial column block is packed with zeros beyond its end; its tile is the narrowest of
 * 4, 2 or 1 vectors that covers it, and only its store is masked.  The last tile of a
 * block of rows is a whole one too: rows past the end read a's last row, and are not
 * stored (one tile's code, where tiles of 4, 2 and 1 rows cost a third of the compile
 * time).  The loops run k blocks, then blocks of MC rows (gemm_mc), then column blocks, then the
 * MR-row tiles: the panel and the KC x MC block of a both stay in L2 while the tiles run.
 */
void cgl_gemm(cgl *g, const lp_node *n)
{
    einc_dtype dt = g->p->tensor[n->dst->tensor].dtype;
    if (dt == EINC_I8 || dt == EINC_U8 || dt == EINC_I16 || dt == EINC_U16) {
        cgl_gemm_bytes(g, n);
        return;
    }
    gemm_ctx G;
    einc_dtype ct = g->nest->compute;
    G.cx = cx(g);
    G.esize = ct == EINC_F64 || ct == EINC_C128 ? 8 : 4;
    G.et = !G.cx ? ctype(g) : G.esize == 8 ? g->f64 : g->f32;
    /* a nest the schedule pass did not see gets the same rule for this generator's machine */
    const lp_gemm_tile t = g->nest->sched.gemm.mr ? g->nest->sched.gemm
                         : lp_gemm_tile_for(&(lp_machine){ vector_bytes(g), l2_bytes(g) }, g->nest->compute);
    G.vl = t.vl;
    G.nv = t.nv;
    G.mr = t.mr;
    G.nr = G.nv * G.vl;
    G.vt = LLVMVectorType(G.et, (unsigned)G.vl);
    LLVMValueRef M0 = ci64(g, 0), M1 = g->size[n->m], N = g->size[n->nn], K = g->size[n->k];
    if (n->k2 >= 0)
        K = LLVMBuildMul(g->b, K, g->size[n->k2], "");
    if (n->parallel) {     /* the nest's parallel rows, perhaps inside loops over reduced axes */
        M0 = g->lo;
        M1 = g->hi;
    }
    LLVMValueRef acc[MAXACC];
    const int kc = t.kc;
    G.panel = cgl_entry_alloca(g, LLVMArrayType2(G.et, (uint64_t)kc * (uint64_t)G.nr * (G.cx ? 2 : 1)), "panel");
    LLVMSetAlignment(G.panel, 64);
    for (int i = 0; i < MAXACC; i++)
        acc[i] = cgl_entry_alloca(g, G.vt, "c");
    LLVMTypeRef fmt = G.vt;
    unsigned fma_id = LLVMLookupIntrinsicID("llvm.fmuladd", 12);
    G.fma = LLVMGetIntrinsicDeclaration(g->m, fma_id, &fmt, 1);
    G.fma_t = LLVMIntrinsicGetType(g->ctx, fma_id, &fmt, 1);

    cloop Lk0, Lmc, Ln0;
    LLVMValueRef nmc, mc = gemm_mc(g, M0, M1, K, &t, G.esize * (G.cx ? 2 : 1), &nmc);
    if (!n->accumulate)
        gemm_zero(g, n, M0, M1, N, K);
    LLVMValueRef k0 = cgl_loop_begin(g, &Lk0, ci64(g, 0), K, "k0");
    LLVMValueRef k1 = smin(g, LLVMBuildAdd(g->b, k0, ci64(g, kc), ""), K);
    G.fresh = n->accumulate ? NULL : LLVMBuildICmp(g->b, LLVMIntEQ, k0, ci64(g, 0), "");
    LLVMValueRef bi = cgl_loop_begin(g, &Lmc, ci64(g, 0), nmc, "mc");
    LLVMValueRef mc0 = LLVMBuildAdd(g->b, M0, LLVMBuildMul(g->b, bi, mc, ""), "");
    LLVMValueRef mc1 = smin(g, LLVMBuildAdd(g->b, mc0, mc, ""), M1);
    const int cols = G.cx ? G.nr / 2 : G.nr;    /* of dst per panel */
    LLVMValueRef n0 = cgl_loop_begin(g, &Ln0, ci64(g, 0), N, "n0");
    LLVMValueRef nw = smin(g, ci64(g, cols), LLVMBuildSub(g->b, N, n0, ""));
    if (G.cx) {
        gemm_pack_cx(g, n, &G, k0, k1, n0, nw);
        nw = LLVMBuildMul(g->b, nw, ci64(g, 2), "");   /* the tiles count parts */
    } else {
        gemm_pack(g, n, &G, kc, k0, k1, n0, nw, LLVMBuildICmp(g->b, LLVMIntEQ, nw, ci64(g, G.nr), ""));
    }

    /*
     * The tile as wide as the columns left need: 4 vectors, or 2 or 1 for the last block
     * of an N that is not a multiple of NR (N = 96 would otherwise spend a quarter of its
     * multiply-adds on the zeros past its end, N = 16 three quarters).
     */
    LLVMBasicBlockRef next_n = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "next_n");
    for (int nv = G.nv; nv >= 1; nv /= 2) {
        LLVMBasicBlockRef here = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "width");
        LLVMBasicBlockRef other = nv > 1 ? LLVMAppendBasicBlockInContext(g->ctx, g->fn, "narrower") : NULL;
        if (nv > 1)
            LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, nw, ci64(g, nv / 2 * G.vl), ""), here, other);
        else
            LLVMBuildBr(g->b, here);
        LLVMPositionBuilderAtEnd(g->b, here);
        gemm_ctx W = G;
        W.nv = nv;
        gemm_rows(g, n, &W, acc, mc0, mc1, n0, nw, k0, k1);
        LLVMBuildBr(g->b, next_n);
        if (other)
            LLVMPositionBuilderAtEnd(g->b, other);
    }
    LLVMPositionBuilderAtEnd(g->b, next_n);
    cgl_loop_end(g, &Ln0, cols);
    cgl_loop_end(g, &Lmc, 1);
    cgl_loop_end(g, &Lk0, kc);
}

