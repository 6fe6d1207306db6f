/*
 * llvm_transpose.c — a tiled transpose (lower.c's transpose_tiles) through vector
 * registers: VL x VL squares (square_match, transpose_block), weaves for rows of 2 to 4
 * elements (narrow_tile), streamed stores for large outputs, o blocks shifted to the
 * output's alignment (block_shift); and the module's helper functions, which the GEMM's
 * packing also calls.
 */
#include "llvm_int.h"

#include <string.h>

/*
 * Outputs of at least 4 L2s (8 MiB with this machine kind's 2 MiB) are written around the
 * caches by a transpose: smaller ones are likely still cached when the next kernel reads
 * them, and a line the store would have to fetch first is then no cost.
 */
static int64_t stream_bytes(const cgl *g) { return 4 * l2_bytes(g); }

/*
 * The address of q's output at r = rv, o = ov, as an integer, and (*step) the distance to
 * the next r: streamed stores need both on a vector boundary.
 */
static LLVMValueRef out_row(cgl *g, const square *q, LLVMValueRef rv, LLVMValueRef ov, LLVMValueRef *step)
{
    g->iv[q->r] = rv;
    g->iv[q->o] = ov;
    LLVMValueRef a0 = LLVMBuildPtrToInt(g->b, cgl_address(g, q->out), g->i64, "");
    g->iv[q->r] = LLVMBuildAdd(g->b, rv, ci64(g, 1), "");
    *step = LLVMBuildSub(g->b, LLVMBuildPtrToInt(g->b, cgl_address(g, q->out), g->i64, ""), a0, "");
    return a0;
}

/*
 * v[0..vl) as the rows of vl x vl matrices side by side, lanes / vl of them, each
 * transposed in registers: log2(vl) rounds of two-vector shuffles, round b swapping the
 * b x b sub-blocks off each diagonal.
 */
static void transpose_rows(cgl *g, LLVMValueRef *v, int vl, int lanes)
{
    LLVMValueRef w[64];
    for (int b = 1; b < vl; b *= 2) {
        LLVMValueRef lo_m[64], hi_m[64];
        for (int k = 0; k < lanes; k++) {
            bool up = (k % vl) & b;
            lo_m[k] = LLVMConstInt(g->i32, (unsigned long long)(up ? lanes + k - b : k), 0);
            hi_m[k] = LLVMConstInt(g->i32, (unsigned long long)(up ? lanes + k : k + b), 0);
        }
        LLVMValueRef lm = LLVMConstVector(lo_m, (unsigned)lanes), hm = LLVMConstVector(hi_m, (unsigned)lanes);
        for (int i = 0; i < vl; i++) {
            if (i & b)
                continue;
            w[i] = LLVMBuildShuffleVector(g->b, v[i], v[i + b], lm, "");
            w[i + b] = LLVMBuildShuffleVector(g->b, v[i], v[i + b], hm, "");
        }
        memcpy(v, w, sizeof *v * (size_t)vl);
    }
}

/* v[0..vl) as the rows of a vl x vl matrix, transposed in registers (transpose_rows). */
void cgl_transpose_regs(cgl *g, LLVMValueRef *v, int vl)
{
    transpose_rows(g, v, vl, vl);
}

/*
 * Rows v[0..ow) of a square (square_body), loaded: paired into vectors of ow lanes where
 * ow is 2 vl, transposed, and stored.  all_rows (i1): the loads were whole, and then
 * when every row's stores are too, they go out without a branch a row.
 */
static void square_out(cgl *g, const square *q, LLVMValueRef *a, LLVMValueRef *v, LLVMValueRef fn,
                       LLVMValueRef all_rows)
{
    LLVMTypeRef et = LLVMGetElementType(q->vt);
    int vl = q->vl, ow = q->ow, esize = q->esize;
    if (ow > vl) {      /* rows i and i + vl, side by side */
        LLVMValueRef cat[64];
        for (int k = 0; k < ow; k++)
            cat[k] = LLVMConstInt(g->i32, (unsigned long long)k, 0);
        for (int i = 0; i < vl; i++)
            v[i] = LLVMBuildShuffleVector(g->b, v[i], v[i + vl], LLVMConstVector(cat, (unsigned)ow), "");
    }
    transpose_rows(g, v, vl, ow);
    LLVMValueRef p[32];     /* now v[j][i] = in[o = i, r = j] */
    for (int j = 0; j < vl; j++)
        p[j] = elem_at(g, et, a[SQ_OUT], LLVMBuildMul(g->b, ci64(g, j), a[SQ_S_OUT], ""));
    LLVMValueRef full = LLVMBuildICmp(g->b, LLVMIntSGE, a[SQ_S_HI], ci64(g, ow), "");
    LLVMValueRef full0 = LLVMBuildAnd(g->b, full, LLVMBuildICmp(g->b, LLVMIntSLE, a[SQ_F_LO], ci64(g, 0), ""), "");
    LLVMBasicBlockRef rows = LLVMAppendBasicBlockInContext(g->ctx, fn, "row_by_row");
    all_rows = LLVMBuildAnd(g->b, all_rows, LLVMBuildAnd(g->b, full0,
        LLVMBuildICmp(g->b, LLVMIntSGE, a[SQ_NSTORE], ci64(g, vl), ""), ""), "");
    cgl_cond_block(g, all_rows, "all_rows", rows);
    LLVMBasicBlockRef cached = LLVMAppendBasicBlockInContext(g->ctx, fn, "all_cached");
    cgl_cond_block(g, a[SQ_STREAM], "all_streamed", cached);
    for (int st = 1; st >= 0; st--) {   /* streamed, then through the cache */
        for (int j = 0; j < vl; j++) {
            LLVMValueRef s = LLVMBuildStore(g->b, v[j], p[j]);
            LLVMSetAlignment(s, (unsigned)(st ? ow * esize : esize));
            if (st)
                cgl_nontemporal(g, s);
            else
                cgl_prefetch(g, LLVMBuildGEP2(g->b, et, p[j], &a[SQ_AHEAD], 1, ""), true);
        }
        LLVMBuildRetVoid(g->b);
        if (st)
            LLVMPositionBuilderAtEnd(g->b, cached);
    }
    LLVMPositionBuilderAtEnd(g->b, rows);
    for (int j = 0; j < vl; j++) {
        LLVMValueRef at = ci64(g, j);
        LLVMValueRef whole_row = j ? full : full0;
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, fn, "stored");
        LLVMBasicBlockRef masked = LLVMAppendBasicBlockInContext(g->ctx, fn, "masked");
        cgl_cond_block(g, LLVMBuildICmp(g->b, LLVMIntSLT, at, a[SQ_NSTORE], ""), "row", next);
        cgl_cond_block(g, whole_row, "whole_row", masked);
        LLVMBasicBlockRef cached = LLVMAppendBasicBlockInContext(g->ctx, fn, "cached");
        cgl_cond_block(g, a[SQ_STREAM], "streamed", cached);
        LLVMValueRef st = LLVMBuildStore(g->b, v[j], p[j]);
        LLVMSetAlignment(st, (unsigned)(ow * esize));
        cgl_nontemporal(g, st);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, cached);
        LLVMSetAlignment(LLVMBuildStore(g->b, v[j], p[j]), (unsigned)esize);
        cgl_prefetch(g, LLVMBuildGEP2(g->b, et, p[j], &a[SQ_AHEAD], 1, ""), true);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, masked);
        cgl_masked_op(g, LLVMVectorType(et, (unsigned)ow), esize, p[j],
                      cgl_lane_range(g, ow, j ? NULL : a[SQ_F_LO], a[SQ_S_HI]), v[j]);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, next);
    }
    LLVMBuildRetVoid(g->b);
}

/*
 * The square of a transpose (sub_square) as a helper function: the parameters SQ_IN ...
 * SQ_AHEAD (llvm_int.h) in order.  A square of ow = 2 vl columns loads its 2 vl rows
 * as vectors of vl, pairs rows i and i + vl into one vector of 2 vl and transposes the
 * two vl x vl halves side by side (transpose_rows): each of its vl output rows is then
 * one vector of 2 vl columns.  Whole loads and masked ones share the transpose and
 * the stores (square_out): a copy for each took 1.8x as long to compile ('abcd->dcba'
 * uint8: 440 against 240 ms) for no clear gain.
 */
void cgl_square_body(cgl *g, const square *q, int kind, LLVMValueRef fn)
{
    (void)kind;
    LLVMValueRef a[SQ_NARG], v[64], vp[64], vm[64];
    for (int i = 0; i < SQ_NARG; i++)
        a[i] = LLVMGetParam(fn, (unsigned)i);
    LLVMTypeRef vt = q->vt, et = LLVMGetElementType(vt);
    int vl = q->vl, ow = q->ow, esize = q->esize;
    LLVMBasicBlockRef whole = LLVMAppendBasicBlockInContext(g->ctx, fn, "whole");
    LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(g->ctx, fn, "part");
    LLVMBasicBlockRef loaded = LLVMAppendBasicBlockInContext(g->ctx, fn, "loaded");
    LLVMValueRef VL = ci64(g, vl);
    LLVMValueRef all = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, a[SQ_NLOAD], ci64(g, ow), ""),
        LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, a[SQ_NBACK], ci64(g, 0), ""),
                     LLVMBuildICmp(g->b, LLVMIntSGE, a[SQ_L_HI], VL, ""), ""), "");
    /*
     * Not inbounds: a prefetch may look past the array.  Row i's prefetch is row pf_row +
     * i, pf_row = min(PF_ROW, PF_LAST - ow + 1): the rows at the end are the last ow (lines
     * likely in cache), not one row each clamps to, so that the addresses are the loads'
     * plus a constant (a clamp a row was a third of a whole square's instructions).
     */
    LLVMValueRef pf_row = smin(g, a[SQ_PF_ROW], LLVMBuildSub(g->b, a[SQ_PF_LAST], ci64(g, ow - 1), ""));
    LLVMValueRef pf_at = LLVMBuildAdd(g->b, a[SQ_PF_ADD], LLVMBuildMul(g->b, pf_row, a[SQ_S_IN], ""), "");
    LLVMValueRef pf_in = LLVMBuildGEP2(g->b, et, a[SQ_IN], &pf_at, 1, "");
    LLVMBuildCondBr(g->b, all, whole, part);
    for (int pass = 0; pass < 2; pass++) {  /* whole vectors, then masked ones */
        LLVMPositionBuilderAtEnd(g->b, pass ? part : whole);
        LLVMValueRef last = LLVMBuildSub(g->b, a[SQ_NLOAD], ci64(g, 1), "");
        for (int i = 0; i < ow; i++) {        /* v[i][k] = in[o = i, r = k] */
            LLVMValueRef at = ci64(g, i), off = LLVMBuildMul(g->b, at, a[SQ_S_IN], ""), pf = ci64(g, 0);
            if (pass) {
                LLVMValueRef back = LLVMBuildICmp(g->b, LLVMIntSLT, at, a[SQ_NBACK], "");
                LLVMValueRef lo = LLVMBuildSelect(g->b, back, a[SQ_B_LO], ci64(g, 0), "");
                LLVMValueRef m = LLVMBuildAnd(g->b, cgl_lane_range(g, vl, lo, a[SQ_L_HI]),
                    cgl_splat(g, LLVMBuildICmp(g->b, LLVMIntSLT, at, a[SQ_NLOAD], ""), vl), "");
                pf = LLVMBuildSelect(g->b, back, a[SQ_BACK], pf, "");
                off = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, smin(g, at, last), a[SQ_S_IN], ""), pf, "");
                vm[i] = cgl_masked_op(g, vt, esize, elem_at(g, et, a[SQ_IN], off), m, NULL);
            } else {
                vp[i] = LLVMBuildLoad2(g->b, vt, elem_at(g, et, a[SQ_IN], off), "");
                LLVMSetAlignment(vp[i], (unsigned)esize);
            }
            /* the same row of the next o block, read once this block's r blocks are done */
            pf = LLVMBuildAdd(g->b, pf, LLVMBuildMul(g->b, at, a[SQ_S_IN], ""), "");
            cgl_prefetch(g, LLVMBuildGEP2(g->b, et, pf_in, &pf, 1, ""), false);
        }
        LLVMBuildBr(g->b, loaded);
    }
    LLVMPositionBuilderAtEnd(g->b, loaded);
    for (int i = 0; i < ow; i++) {
        v[i] = LLVMBuildPhi(g->b, vt, "");
        LLVMValueRef in[2] = { vp[i], vm[i] };
        LLVMBasicBlockRef from[2] = { whole, part };
        LLVMAddIncoming(v[i], in, from, 2);
    }
    square_out(g, q, a, v, fn, all);
}

/*
 * The functions a module's kernels call: made once per module, for one vector type and
 * kind (a transpose's square, a weave of K rows either way), by body into the function.
 */
static LLVMValueRef helper_fn(cgl *g, const square *q, int kind, LLVMTypeRef *params, int nparam,
                              helper_body *body)
{
    for (int i = 0; i < g->nhelper; i++)
        if (g->helper[i].vt == q->vt && g->helper[i].kind == kind)
            return g->helper[i].fn;
    LLVMValueRef fn = LLVMAddFunction(g->m, "einc_helper", LLVMFunctionType(g->vt, params, (unsigned)nparam, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
    LLVMBasicBlockRef at = LLVMGetInsertBlock(g->b);
    LLVMValueRef caller = g->fn;
    g->fn = fn;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    body(g, q, kind, fn);
    g->fn = caller;
    LLVMPositionBuilderAtEnd(g->b, at);
    if (g->nhelper < HELPERS_MAX)     /* always, as the kinds are counted */
        g->helper[g->nhelper++] = (helper){ q->vt, kind, fn };
    return fn;
}

/* A call of the helper kind (helper_fn) with args, whose types are its parameters'. */
void cgl_call_helper(cgl *g, const square *q, int kind, LLVMValueRef *args, int nargs, helper_body *body)
{
    LLVMTypeRef params[SQ_NARG];
    for (int i = 0; i < nargs; i++)
        params[i] = LLVMTypeOf(args[i]);
    LLVMValueRef fn = helper_fn(g, q, kind, params, nargs, body);
    LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)nargs, "");
}

enum { SQ_WHOLE, SQ_RAGGED, SQ_EDGE };

/* The helper kind of squares of ow = 2 vl (square_body); 0 is the plain square, 1 to 6 weaves */
enum { SQ_WIDE = 7 };

/*
 * One VL x VL square of a transpose, [ri, ri + VL) x [oi, oi + VL), by square_body: VL
 * vectors are loaded along r, transposed in registers (transpose_regs), and stored along
 * o.  Each row's line in the next o block is prefetched on the input side, and, when the
 * stores go through the cache, on the output side too: rows lie a page or more apart, too
 * many short streams for the hardware prefetchers.  Streamed (non-temporal) stores, where
 * stream (i1) says the rows start on a vector boundary, need no prefetch: they fetch
 * nothing.
 *
 * A SQ_RAGGED square, in a partial tile, is whole in o but may end past r1: rows from r1
 * on are neither read nor written, and its stores can still stream.  It may also start
 * before column 0 (the tile's join, square_tile): column o < 0 of row p is column o + O
 * of row p - 1, the line the two rows share, written whole.  A SQ_EDGE square loads and
 * stores masked vectors, through the cache.
 */
static void sub_square(cgl *g, const square *q, LLVMValueRef ri, LLVMValueRef oi, int kind, LLVMValueRef stream)
{
    int r = q->r, o = q->o;
    LLVMValueRef a[SQ_NARG], VL = ci64(g, q->vl), OW = ci64(g, q->ow), zero = ci64(g, 0);
    g->iv[r] = ri;
    g->iv[o] = oi;
    a[SQ_IN] = cgl_address(g, q->in);
    a[SQ_OUT] = cgl_address(g, q->out);
    a[SQ_S_IN] = cgl_axis_stride(g, q->in, o);
    a[SQ_S_OUT] = cgl_axis_stride(g, q->out, r);
    a[SQ_NLOAD] = kind == SQ_EDGE ? LLVMBuildSub(g->b, q->o1, oi, "") : OW;
    a[SQ_L_HI] = a[SQ_NSTORE] = kind == SQ_WHOLE ? VL : LLVMBuildSub(g->b, q->r1, ri, "");
    a[SQ_NBACK] = a[SQ_BACK] = a[SQ_B_LO] = a[SQ_F_LO] = zero;
    a[SQ_S_HI] = a[SQ_NLOAD];
    a[SQ_STREAM] = kind == SQ_EDGE ? LLVMConstInt(g->i1, 0, 0) : stream;
    /* the same rows of the next o block, read once this block's r blocks are done */
    LLVMValueRef o_left = LLVMBuildSub(g->b, q->last_o, oi, "");
    a[SQ_PF_ADD] = zero;
    a[SQ_PF_ROW] = ci64(g, g->tile[o]);
    a[SQ_PF_LAST] = o_left;
    if (kind == SQ_RAGGED && q->join) {
        /* rows before column 0 (only a join square starts there) read from row p - 1 */
        a[SQ_NBACK] = smax(g, LLVMBuildNeg(g->b, oi, ""), zero);
        a[SQ_BACK] = LLVMBuildSub(g->b, LLVMBuildMul(g->b, g->size[o], a[SQ_S_IN], ""),
                                  cgl_axis_stride(g, q->in, q->p), "");
        if (q->p == r) {
            /*
             * Lane k of such a row is row ri + k - 1: none before row 0, whose first
             * output row has no row before it and keeps to its own columns.
             */
            LLVMValueRef first = LLVMBuildAnd(g->b, q->join, LLVMBuildICmp(g->b, LLVMIntEQ, ri, zero, ""), "");
            a[SQ_B_LO] = LLVMBuildSub(g->b, ci64(g, 1), ri, "");
            a[SQ_F_LO] = LLVMBuildSelect(g->b, first, LLVMBuildNeg(g->b, oi, ""), zero, "");
        }
        if (g->inner >= 0) {
            /*
             * A join square's rows are the first of their row p: nothing prefetches them.
             * It prefetches the same rows for the next turn of the loop around the tiles
             * (by then likely the next join square's; past the array's end after the last
             * turn, harmlessly).
             */
            a[SQ_PF_ADD] = LLVMBuildSelect(g->b, q->join, cgl_axis_stride(g, q->in, g->inner), zero, "");
            a[SQ_PF_ROW] = LLVMBuildSelect(g->b, q->join, zero, a[SQ_PF_ROW], "");
            a[SQ_PF_LAST] = LLVMBuildSelect(g->b, q->join, OW, o_left, "");
        }
    }
    a[SQ_AHEAD] = LLVMBuildMul(g->b, smin(g, ci64(g, g->tile[o]), o_left), cgl_axis_stride(g, q->out, o), "");
    cgl_call_helper(g, q, q->ow > q->vl ? SQ_WIDE : 0, a, SQ_NARG, cgl_square_body);
}

/* The squares of the whole tile [r0, r1) x [o0, o1) of a transpose. */
static void squares(cgl *g, const square *q, LLVMValueRef stream)
{
    cloop Lr, Lo;
    LLVMValueRef ri = cgl_loop_begin(g, &Lr, q->r0, q->r1, "tr");
    LLVMValueRef oi = cgl_loop_begin(g, &Lo, q->o0, q->o1, "to");
    sub_square(g, q, ri, oi, SQ_WHOLE, stream);
    cgl_loop_end(g, &Lo, q->ow);
    cgl_loop_end(g, &Lr, q->vl);
}

static LLVMValueRef joins(cgl *g, const square *q, LLVMValueRef pv);

/* Whether the block of o's shifted tile loop is the first of a row: before 0 (a range from 0) */
static LLVMValueRef first_block(cgl *g, int o)
{
    return LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, g->blk[o], ci64(g, 0), ""),
                        LLVMBuildICmp(g->b, LLVMIntEQ, g->blk_lo[o], ci64(g, 0), ""), "");
}

/*
 * A partial tile's joins (square_tile, narrow_tile): whether its block is the first of a
 * row p that takes in the line it shares with row p - 1 (*join), and whether it ends row
 * p, whose last line row p + 1 takes in (*skip).
 */
static void tile_joins(cgl *g, const square *q, LLVMValueRef *join, LLVMValueRef *skip)
{
    LLVMValueRef pv = q->p == q->r ? NULL : g->iv[q->p];
    *join = LLVMBuildAnd(g->b, first_block(g, q->o), joins(g, q, pv), "");
    *skip = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, q->o1, g->size[q->o], ""),
                         joins(g, q, pv ? LLVMBuildAdd(g->b, pv, ci64(g, 1), "") : NULL), "");
}

/*
 * The tile [r0, r1) x [o0, o1) of a transpose.  A whole one streams its rows when each
 * starts on a vector boundary and the output is large (stream), and goes through the cache
 * otherwise.  A partial one decides square by square, squares whole in o as before (rows
 * past r1 left out) and the rest masked, so that a grid shifted to the output's alignment
 * (block_shift) streams all but a row's ends.  Where the output is contiguous across the
 * axis p before o, the ends go too: the first tile of row p (q->join) takes its one square
 * back to the line's start, into row p - 1, and row p - 1's last tile leaves that partial
 * square out (q->skip).  Small outputs' partial tiles took the plain loops once; since the
 * squares are one function (square_body), the squares are as fast there or faster (16^4:
 * 1.75x), and a transpose's compile is 10 % shorter without the loops.
 */
static void square_tile(cgl *g, const square *q, LLVMValueRef stream, LLVMValueRef whole)
{
    int vl = q->vl, ow = q->ow;
    LLVMBasicBlockRef tile = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tile");
    LLVMBasicBlockRef edge = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "part");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "transposed");
    LLVMBuildCondBr(g->b, whole, tile, edge);
    square e;
    for (int pass = 0; pass < 2; pass++) {    /* the whole tile, then a partial one */
        LLVMPositionBuilderAtEnd(g->b, pass ? edge : tile);
        if (pass && q->joinable) {  /* a partial tile's joins: where the output's rows begin or end */
            e = *q;
            tile_joins(g, q, &e.join, &e.skip);
            q = &e;
        }
        cloop Lr, Lo;
        LLVMValueRef ri = q->r0, oi = q->o0, so = oi, full = NULL;
        if (pass) {
            ri = cgl_loop_begin(g, &Lr, q->r0, q->r1, "tr");
            so = oi = cgl_loop_begin(g, &Lo, q->o0, q->o1, "to");
            if (q->join)    /* then [o0, o1) is one square, from o1 - ow */
                so = LLVMBuildSelect(g->b, q->join, LLVMBuildSub(g->b, q->o1, ci64(g, ow), ""), oi, "");
            full = LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildAdd(g->b, so, ci64(g, ow), ""), q->o1, "");
        }
        LLVMValueRef step, a0 = out_row(g, q, ri, so, &step);
        LLVMValueRef mis = LLVMBuildAnd(g->b, LLVMBuildOr(g->b, a0, step, ""), ci64(g, ow * q->esize - 1), "");
        LLVMValueRef st = LLVMBuildAnd(g->b, stream, LLVMBuildICmp(g->b, LLVMIntEQ, mis, ci64(g, 0), ""), "");
        if (!pass) {
            squares(g, q, st);
            g->streamed = true;
            LLVMBuildBr(g->b, done);
            continue;
        }
        LLVMBasicBlockRef sq = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "square");
        LLVMBasicBlockRef masked = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "masked");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "next");
        LLVMBasicBlockRef ends = q->skip ? LLVMAppendBasicBlockInContext(g->ctx, g->fn, "row_end") : masked;
        LLVMBuildCondBr(g->b, full, sq, ends);
        if (ends != masked) {   /* row p + 1's first square writes it */
            LLVMPositionBuilderAtEnd(g->b, ends);
            LLVMValueRef skip = q->skip;
            if (q->p == q->r)   /* the last row's end has no next row: masked */
                skip = LLVMBuildAnd(g->b, skip, LLVMBuildICmp(g->b, LLVMIntSLT, LLVMBuildAdd(g->b, ri, ci64(g, vl), ""),
                                                              g->size[q->r], ""), "");
            LLVMBuildCondBr(g->b, skip, next, masked);
        }
        LLVMPositionBuilderAtEnd(g->b, sq);
        sub_square(g, q, ri, so, SQ_RAGGED, st);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, masked);
        sub_square(g, q, ri, oi, SQ_EDGE, NULL);
        LLVMBuildBr(g->b, next);
        g->streamed = true;
        LLVMPositionBuilderAtEnd(g->b, next);
        cgl_loop_end(g, &Lo, ow);
        cgl_loop_end(g, &Lr, vl);
        LLVMBuildBr(g->b, done);
    }
    LLVMPositionBuilderAtEnd(g->b, done);
}

/*
 * Whether n is the r loop of the nest's transpose whose whole tiles the schedule sends
 * through registers (lp_sched.transpose: r, o, vl; compiler/passes/schedule.c decides it on the
 * loop IR); fills in q's accesses, axes and widths.  The shape the squares rely on (r
 * blocked, then o blocked and vector, around one copy out[.. o] = in[.. r] of 1-, 2-, 4-
 * or 8-byte elements of one dtype, vl lanes that fit a register) is checked again, so that a
 * schedule that does not fit this tree gets plain loops.
 */
static bool square_match(const cgl *g, const lp_node *n, square *q)
{
    const lp_sched *sc = &g->nest->sched;
    const lp_node *c = n->n == 1 ? n->body[0] : NULL, *s = c && c->n == 1 ? c->body[0] : NULL;
    if (!sc->transpose.vl || n->axis != sc->transpose.r || !n->blocked || !c || c->op != LP_LOOP ||
        c->axis != sc->transpose.o || !c->blocked || !c->vector || !s || s->op != LP_STORE ||
        s->comb != IR_COMB_ASSIGN || !s->value || s->value->op != IR_ACCESS || s->value->acc.guard)
        return false;
    *q = (square){ .in = &s->value->acc, .out = s->dst, .r = n->axis, .o = c->axis, .vl = sc->transpose.vl };
    einc_dtype t = g->p->tensor[q->in->tensor].dtype;
    q->esize = lp_square_esize(t);
    /*
     * Bytes in squares of 32 rows (schedule.c) with 64-byte vectors: two rows a vector, so
     * that each stored row is a whole line; 32-byte streamed stores left every line half
     * written while the other 31 rows' went out.
     */
    q->ow = 2 * q->vl * q->esize == vector_bytes(g) ? 2 * q->vl : q->vl;
    return q->esize && g->p->tensor[q->out->tensor].dtype == t && q->vl >= 2 && q->vl <= 32 &&
           q->vl * q->esize <= vector_bytes(g);
}

/* Whether q's output is large enough to stream (stream_bytes). */
static LLVMValueRef stream_size(cgl *g, const square *q)
{
    const ir_tensor *T = &g->p->tensor[q->out->tensor];
    LLVMValueRef bytes = ci64(g, q->esize);
    for (int d = 0; d < T->ndim; d++)
        bytes = LLVMBuildMul(g->b, bytes, cgl_mono(g, &T->shape[d]), "");
    return LLVMBuildICmp(g->b, LLVMIntSGE, bytes, ci64(g, stream_bytes(g)), "");
}

/*
 * Whether q's output row (the other axes as they are bound) starts off a vector boundary
 * and can be shifted to it: the output is large (stream_size), element aligned, and its
 * rows along r a whole number of vectors apart.  *mis: the start's distance past the
 * boundary, in bytes.
 */
static LLVMValueRef shift_ok(cgl *g, const square *q, LLVMValueRef *mis)
{
    LLVMValueRef step, a0 = out_row(g, q, ci64(g, 0), ci64(g, 0), &step);
    int64_t vb = (int64_t)q->ow * q->esize;
    *mis = LLVMBuildURem(g->b, a0, ci64(g, vb), "");
    LLVMValueRef ok = LLVMBuildAnd(g->b, stream_size(g, q),
        LLVMBuildAnd(g->b,
            LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildURem(g->b, a0, ci64(g, q->esize), ""), ci64(g, 0), ""),
            LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildURem(g->b, step, ci64(g, vb), ""), ci64(g, 0), ""), ""),
        "");
    return LLVMBuildAnd(g->b, ok, LLVMBuildICmp(g->b, LLVMIntNE, *mis, ci64(g, 0), ""), "");
}

/*
 * Where the o blocks of a transpose start: at lo (0, or a thread's share of a parallel
 * loop), or, when the output is large and its rows start off a vector boundary (numpy's
 * large arrays start 16 bytes into a page), at the first aligned column from lo on, less
 * one tile, so that every whole tile can be streamed.  n is the o block loop; NULL when n
 * is not one.
 */
LLVMValueRef cgl_block_shift(cgl *g, const lp_node *n, LLVMValueRef lo)
{
    square q;
    const lp_node *br = n->n == 1 ? n->body[0] : NULL;
    if (!n->tile || !br || br->op != LP_LOOP || !br->tile || br->n != 1 ||
        !square_match(g, br->body[0], &q) || q.o != n->axis || br->axis != q.r)
        return NULL;
    LLVMValueRef mis, ok = shift_ok(g, &q, &mis);
    /* the first aligned column, (vb - mis) / esize, and the first from lo on */
    LLVMValueRef first = LLVMBuildUDiv(g->b, LLVMBuildSub(g->b, ci64(g, (int64_t)q.ow * q.esize), mis, ""),
                                       ci64(g, q.esize), "");
    LLVMValueRef ahead = LLVMBuildSRem(g->b, LLVMBuildSub(g->b, first, lo, ""), ci64(g, q.ow), "");
    ahead = LLVMBuildSRem(g->b, LLVMBuildAdd(g->b, ahead, ci64(g, q.ow), ""), ci64(g, q.ow), "");
    first = LLVMBuildSub(g->b, LLVMBuildAdd(g->b, lo, ahead, ""), ci64(g, n->tile), "");
    return LLVMBuildSelect(g->b, ok, first, lo, "");
}

/*
 * Whether row pv of q's output begins with the line it shares with row pv - 1, written
 * whole by its first square (square_tile's join): the row's start is shifted (shift_ok),
 * a row spans a square's columns at least, and the output is contiguous across p and o,
 * so that column o < 0 of row pv is column o + O of row pv - 1.  Row pv - 1 asks the
 * same question to leave that line out.  When p is r (pv NULL), every row of the tile
 * has the same answer but the first and last, which sub_square and square_tile handle.
 */
static LLVMValueRef joins(cgl *g, const square *q, LLVMValueRef pv)
{
    LLVMValueRef bound = pv ? g->iv[q->p] : NULL, mis;
    if (pv)
        g->iv[q->p] = pv;
    LLVMValueRef ok = shift_ok(g, q, &mis);
    if (pv)
        g->iv[q->p] = bound;
    LLVMValueRef *st = g->stride[q->out->tensor], o_n = g->size[q->o];
    LLVMValueRef joined = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, o_n, ci64(g, q->ow), ""),
        LLVMBuildICmp(g->b, LLVMIntEQ, st[q->dp], LLVMBuildMul(g->b, o_n, st[q->d_o], ""), ""), "");
    if (pv)
        joined = LLVMBuildAnd(g->b, joined, LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, pv, ci64(g, 1), ""),
                                             LLVMBuildICmp(g->b, LLVMIntSLT, pv, g->size[q->p], ""), ""), "");
    /* a select, not an and: past the last row the address, and so ok, may be poison */
    return LLVMBuildSelect(g->b, joined, ok, LLVMConstInt(g->i1, 0, 0), "");
}

enum { NARROW_MAX = 4 };     /* the longest rows narrow_tile weaves */

/*
 * Lane l of vector m of a K-way weave of v[0..K), VL lanes each: interleaving (inter), the
 * K vectors are K rows whose elements go out alternating, row after row (flat index
 * m * VL + l is lane f / K of row f % K); deinterleaving, the mirror (lane l of row m is
 * flat index l * K + m of the K vectors run together).  Built from two-vector shuffles,
 * one per further source, which LLVM turns into permutes.
 */
static LLVMValueRef weave(cgl *g, LLVMValueRef *v, int K, int vl, int m, bool inter)
{
    int src[64], lane[64];
    for (int l = 0; l < vl; l++) {
        int f = inter ? m * vl + l : l * K + m;
        src[l] = inter ? f % K : f / vl;
        lane[l] = inter ? f / K : f % vl;
    }
    LLVMValueRef res = NULL, mask[64];
    bool have[NARROW_MAX] = { false };
    for (int s = 0; s < K; s++) {
        bool used = false;
        for (int l = 0; l < vl; l++)
            used |= src[l] == s;
        if (!used)
            continue;
        for (int l = 0; l < vl; l++)
            mask[l] = src[l] == s ? LLVMConstInt(g->i32, (unsigned long long)(lane[l] + (res ? vl : 0)), 0)
                    : res && have[src[l]] ? LLVMConstInt(g->i32, (unsigned long long)l, 0) : LLVMGetUndef(g->i32);
        res = LLVMBuildShuffleVector(g->b, res ? res : v[s], v[s], LLVMConstVector(mask, (unsigned)vl), "");
        have[s] = true;
    }
    return res;
}

/*
 * A chunk of a weave (narrow_tile) as a helper (kind weave_kind(K, out_narrow)): its
 * parameters are the chunk's first input and output elements, the K rows' stride (of the
 * input when out_narrow, of the output otherwise), the chunk's length along its axis (at
 * least 1: VL or more is a whole chunk) and whether a large output streams (i1).
 */
enum { WV_IN, WV_OUT, WV_RS, WV_LEFT, WV_STREAM, WV_NARG };

/* The helper kinds of weaves: 1 to 6 (0 is the square), which weave_body reads back. */
static int weave_kind(int K, bool out_narrow) { return 1 + (K - 2) * 2 + out_narrow; }

static void weave_body(cgl *g, const square *q, int kind, LLVMValueRef fn)
{
    int vl = q->vl, K = (kind - 1) / 2 + 2;
    bool out_narrow = (kind - 1) % 2;
    LLVMTypeRef et = LLVMGetElementType(q->vt);
    LLVMValueRef in0 = LLVMGetParam(fn, WV_IN), out0 = LLVMGetParam(fn, WV_OUT), rs = LLVMGetParam(fn, WV_RS);
    LLVMValueRef left = LLVMGetParam(fn, WV_LEFT), stream = LLVMGetParam(fn, WV_STREAM);
    LLVMValueRef v[NARROW_MAX], w[NARROW_MAX], run = LLVMBuildMul(g->b, left, ci64(g, K), "");
    for (int k = 0; k < K; k++) {
        LLVMValueRef p = out_narrow ? elem_at(g, et, in0, LLVMBuildMul(g->b, ci64(g, k), rs, ""))
                                    : elem_at(g, et, in0, ci64(g, k * vl));
        LLVMValueRef m = out_narrow ? cgl_lanes_below(g, vl, ci64(g, 0), left, NULL) : cgl_lanes_below(g, vl, ci64(g, k * vl), run, NULL);
        v[k] = cgl_masked_op(g, q->vt, q->esize, p, m, NULL);
    }
    for (int k = 0; k < K; k++)
        w[k] = weave(g, v, K, vl, k, out_narrow);
    /* whole: VL of the chunk axis; streamed when large and every vector starts on a line */
    LLVMValueRef whole = LLVMBuildICmp(g->b, LLVMIntSGE, left, ci64(g, vl), "");
    LLVMValueRef mis = LLVMBuildPtrToInt(g->b, out0, g->i64, "");
    if (!out_narrow)
        mis = LLVMBuildOr(g->b, mis, LLVMBuildMul(g->b, rs, ci64(g, q->esize), ""), "");
    mis = LLVMBuildAnd(g->b, mis, ci64(g, vl * q->esize - 1), "");
    LLVMValueRef nt = LLVMBuildAnd(g->b, stream, LLVMBuildICmp(g->b, LLVMIntEQ, mis, ci64(g, 0), ""), "");
    LLVMBasicBlockRef bb[3];
    static const char *const name[3] = { "weave_streamed", "weave_cached", "weave_masked" };
    for (int i = 0; i < 3; i++)
        bb[i] = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name[i]);
    LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "weave_whole");
    LLVMBuildCondBr(g->b, whole, full, bb[2]);
    LLVMPositionBuilderAtEnd(g->b, full);
    LLVMBuildCondBr(g->b, nt, bb[0], bb[1]);
    for (int i = 0; i < 3; i++) {
        LLVMPositionBuilderAtEnd(g->b, bb[i]);
        for (int k = 0; k < K; k++) {
            LLVMValueRef p = out_narrow ? elem_at(g, et, out0, ci64(g, k * vl))
                                        : elem_at(g, et, out0, LLVMBuildMul(g->b, ci64(g, k), rs, ""));
            if (i == 2) {
                LLVMValueRef m = out_narrow ? cgl_lanes_below(g, vl, ci64(g, k * vl), run, NULL)
                                            : cgl_lanes_below(g, vl, ci64(g, 0), left, NULL);
                cgl_masked_op(g, q->vt, q->esize, p, m, w[k]);
                continue;
            }
            LLVMValueRef st = LLVMBuildStore(g->b, w[k], p);
            LLVMSetAlignment(st, (unsigned)(i == 0 ? vl * q->esize : q->esize));
            if (i == 0)
                cgl_nontemporal(g, st);
        }
        LLVMBuildRetVoid(g->b);
    }
}

/*
 * The tile of a transpose whose output rows are K < VL columns long and follow each other
 * along r (out[.., r, o]: 'b c h w -> b h w c' with 3 channels), or whose input rows are
 * (in[.., o, r]: 'b h w c -> b c h w'), out_narrow telling which.  A square would use K of
 * its VL lanes; this reads K rows VL elements at a time and weaves them into K vectors
 * of the run of contiguous output (or the mirror), streamed where that is aligned.
 */
static void narrow_tile(cgl *g, const square *q, int K, bool out_narrow, LLVMValueRef stream)
{
    int vl = q->vl, r = q->r, o = q->o;
    LLVMValueRef c0 = out_narrow ? q->r0 : q->o0, c1 = out_narrow ? q->r1 : q->o1;
    /*
     * Output rows along o that follow each other along p, from an input contiguous across
     * p and o as well: the row ends join as in square_tile, the first chunk of row p
     * reading back into row p - 1 (contiguous in the input too), row p - 1 leaving its
     * last, partial chunk out.
     */
    LLVMValueRef join = NULL, skip = NULL;
    if (!out_narrow && q->joinable && q->p != r) {
        LLVMValueRef in_cont = LLVMBuildICmp(g->b, LLVMIntEQ, cgl_axis_stride(g, q->in, q->p),
                                             LLVMBuildMul(g->b, g->size[o], cgl_axis_stride(g, q->in, o), ""), "");
        tile_joins(g, q, &join, &skip);
        join = LLVMBuildAnd(g->b, join, in_cont, "");
        skip = LLVMBuildAnd(g->b, skip, in_cont, "");
    }
    if (join)   /* then [c0, c1) is within the whole chunks of [c1 - ow, c1) (shift_ok) */
        c0 = LLVMBuildSelect(g->b, join, LLVMBuildSub(g->b, c1, ci64(g, q->ow), ""), c0, "");
    cloop L;
    LLVMValueRef ci = cgl_loop_begin(g, &L, c0, c1, "chunk");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "woven");
    LLVMValueRef left = LLVMBuildSub(g->b, c1, ci, "");     /* at least 1 */
    if (skip) {     /* row p + 1's first chunk writes it */
        LLVMBasicBlockRef work = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "weave");
        LLVMBuildCondBr(g->b, LLVMBuildAnd(g->b, skip, LLVMBuildICmp(g->b, LLVMIntSLT, left, ci64(g, vl), ""), ""),
                        next, work);
        LLVMPositionBuilderAtEnd(g->b, work);
    }
    g->iv[r] = out_narrow ? ci : ci64(g, 0);
    g->iv[o] = out_narrow ? ci64(g, 0) : ci;
    /* the K rows' stride: of the input (out_narrow), of the output otherwise */
    LLVMValueRef args[WV_NARG] = { cgl_address(g, q->in), cgl_address(g, q->out),
                                   out_narrow ? cgl_axis_stride(g, q->in, o) : cgl_axis_stride(g, q->out, r), left, stream };
    cgl_call_helper(g, q, weave_kind(K, out_narrow), args, WV_NARG, weave_body);
    LLVMBuildBr(g->b, next);
    g->streamed = true;
    LLVMPositionBuilderAtEnd(g->b, next);
    cgl_loop_end(g, &L, vl);
}

/*
 * Whether acc is contiguous across its axes a and b: b alone indexes a dimension of unit
 * stride, and a alone the one before it, whose stride is b's size (as the kernel runs).
 * NULL when acc has no such pair of dimensions.
 */
static LLVMValueRef contiguous_pair(cgl *g, const ir_access *acc, int a, int b)
{
    int db = ir_sole_dim(acc, b);
    if (db <= 0 || ir_dim_axis(&acc->dim[db - 1]) != a || ir_sole_dim(acc, a) != db - 1)
        return NULL;
    LLVMValueRef *st = g->stride[acc->tensor];
    return LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, st[db], ci64(g, 1), ""),
                        LLVMBuildICmp(g->b, LLVMIntEQ, st[db - 1], g->size[b], ""), "");
}

/* Whether n is the r loop of a transpose whose tiles go through registers (square_match); emits them. */
bool cgl_transpose_block(cgl *g, const lp_node *n)
{
    square q;
    if (!square_match(g, n, &q) || g->tile[q.r] % q.vl || g->tile[q.o] % q.ow)
        return false;
    int r = q.r, o = q.o;
    /* raw bits: a float16's vector of LLVM half, not a legal type without AVX-512 FP16,
       would be shuffled through float32 conversions */
    einc_dtype et = g->p->tensor[q.in->tensor].dtype;
    q.vt = LLVMVectorType(dtype_is_half(et) ? LLVMInt16TypeInContext(g->ctx) : elem_type(g, et), (unsigned)q.vl);
    q.last_o = LLVMBuildSub(g->b, g->size[o], ci64(g, 1), "");
    q.r0 = g->blk[r];
    q.o0 = g->blk[o];
    if (g->shifted[o])
        q.o0 = smax(g, q.o0, g->blk_lo[o]);
    LLVMValueRef r1 = LLVMBuildAdd(g->b, g->blk[r], ci64(g, g->tile[r]), "");
    LLVMValueRef o1 = LLVMBuildAdd(g->b, g->blk[o], ci64(g, g->tile[o]), "");
    LLVMValueRef whole = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, r1, g->blk_end[r], ""),
                                      LLVMBuildICmp(g->b, LLVMIntSLE, o1, g->blk_end[o], ""), "");
    if (g->shifted[o])
        whole = LLVMBuildAnd(g->b, whole, LLVMBuildICmp(g->b, LLVMIntSGE, g->blk[o], g->blk_lo[o], ""), "");
    q.r1 = smin(g, r1, g->blk_end[r]);
    q.o1 = smin(g, o1, g->blk_end[o]);
    /* p: the output's axis before o: a loop around this one, or r */
    q.d_o = ir_sole_dim(q.out, o);
    q.p = q.d_o > 0 ? ir_dim_axis(&q.out->dim[q.d_o - 1]) : -1;
    q.dp = q.d_o - 1;
    q.joinable = q.p >= 0 && ir_sole_dim(q.out, q.p) == q.dp && g->shifted[o];
    /*
     * Rows of K < VL elements (a few channels), out[.., r, o] or in[.., o, r] contiguous:
     * narrow_tile for K up to NARROW_MAX, squares otherwise.
     */
    LLVMValueRef stream = stream_size(g, &q);
    LLVMValueRef cont[2] = { contiguous_pair(g, q.out, r, o), contiguous_pair(g, q.in, o, r) };
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "transposed_tile");
    for (int side = 0; side < 2 && q.vl > NARROW_MAX; side++) {
        if (!cont[side])
            continue;
        for (int K = 2; K <= NARROW_MAX; K++) {
            LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "narrow");
            LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "not_narrow");
            LLVMValueRef is = LLVMBuildAnd(g->b, cont[side],
                LLVMBuildICmp(g->b, LLVMIntEQ, g->size[side ? r : o], ci64(g, K), ""), "");
            LLVMBuildCondBr(g->b, is, yes, no);
            LLVMPositionBuilderAtEnd(g->b, yes);
            narrow_tile(g, &q, K, side == 0, stream);
            LLVMBuildBr(g->b, done);
            LLVMPositionBuilderAtEnd(g->b, no);
        }
    }
    square_tile(g, &q, stream, whole);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
    return true;
}

