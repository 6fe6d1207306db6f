/*
 * llvm_conv.c — the direct convolution: a GEMM inside loops over taps, as the schedule
 * names it (lp_sched.conv), its weights packed at the start of the nest function
 * (cgl_conv_find) and its loops emitted where the tap loops stood (cgl_conv_site).
 */
#include "llvm_int.h"

/*
 * A GEMM inside loops over taps (a convolution: for kh { for kw { dst[m, n] += a[m, k, kh,
 * kw] * b[k, .., n + kw] } }) runs as a direct convolution, the way oneDNN's kernels do:
 * the register tile is DC_R columns of dst by DC_NV vectors of its rows, so the vectors run
 * along m (64 channels: whole vectors, where 56-wide rows left an eighth of the GEMM's tile
 * idle) and b is broadcast; the tile sums k and every tap before it touches dst once,
 * through a register transpose.  a is packed once per call of the nest, as [tap][k][m]
 * with m padded to whole vectors.  AVX-512 and float32 only; sizes must be constants (a
 * model's are).
 */
enum { DC_R = 14, DC_NV = 2, DC_MAXTAPS = LP_CONV_MAXTAPS, DC_MAXSITES = LP_CONV_MAXSITES };

typedef struct dconv {
    const lp_node *site;        /* the outermost tap loop */
    const lp_node *gm;
    int tap[DC_MAXTAPS], ntap;
    int64_t M, K, Mp, T;        /* Mp: M in whole vectors; T: the taps' product */
    LLVMValueRef pack;
} dconv;


/* Opens loops over d's taps; returns their flat index. */
static LLVMValueRef taps_begin(cgl *g, const dconv *d, cloop *L)
{
    LLVMValueRef f = ci64(g, 0);
    for (int i = 0; i < d->ntap; i++) {
        int ax = d->tap[i];
        g->iv[ax] = cgl_loop_begin(g, &L[i], ci64(g, 0), g->size[ax], g->p->axis[ax].name);
        f = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, g->size[ax], ""), g->iv[ax], "");
    }
    return f;
}

static void taps_end(cgl *g, const dconv *d, cloop *L)
{
    for (int i = d->ntap - 1; i >= 0; i--)
        cgl_loop_end(g, &L[i], 1);
}

/* pack[tap][k][m] = a[m, k, tap], 0 for m >= M: at the start of the nest function. */
static void conv_pack(cgl *g, dconv *d)
{
    const lp_node *gm = d->gm;
    d->pack = cgl_entry_alloca(g, LLVMArrayType2(g->f32, (uint64_t)(d->T * d->K * d->Mp)), "wpack");
    LLVMSetAlignment(d->pack, 64);
    cloop Lt[DC_MAXTAPS], Lk, Lm;
    LLVMValueRef f = taps_begin(g, d, Lt);
    g->iv[gm->k] = cgl_loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "pk");
    LLVMValueRef m = cgl_loop_begin(g, &Lm, ci64(g, 0), ci64(g, d->Mp), "pm");
    g->iv[gm->m] = smin(g, m, ci64(g, d->M - 1));
    LLVMValueRef v = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, m, ci64(g, d->M), ""),
                                     cgl_load(g, gm->a), LLVMConstReal(g->f32, 0), "");
    LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, ci64(g, d->K), ""),
                                                                          g->iv[gm->k], ""), ci64(g, d->Mp), ""), m, "");
    LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->f32, d->pack, &at, 1, ""));
    cgl_loop_end(g, &Lm, 1);
    cgl_loop_end(g, &Lk, 1);
    taps_end(g, d, Lt);
}

/*
 * The nest's direct convolutions are the schedule's (compiler/passes/schedule.c decides them on
 * the loop IR: lp_sched.conv); their a is packed here, before the loops.  -1 when out of
 * memory.
 */
int cgl_conv_find(cgl *g, const lp_node *root)
{
    (void)root;
    g->ndc = 0;
    g->dc = ARENA_ARRAY(g->c->A, dconv, DC_MAXSITES);
    if (!g->dc)
        return cc_nomem(g->c);
    const lp_sched *s = &g->nest->sched;
    for (int i = 0; i < s->nconv && g->ndc < DC_MAXSITES; i++) {
        const lp_conv_site *c = &s->conv[i];
        dconv d = { .site = c->site, .gm = c->gemm, .ntap = c->ntap, .M = c->M, .K = c->K, .Mp = c->Mp,
                    .T = c->T };
        for (int t = 0; t < c->ntap; t++)
            d.tap[t] = c->tap[t];
        conv_pack(g, &d);
        g->dc[g->ndc++] = d;
    }
    return 0;
}

/*
 * For the current taps: the columns r in [*lo, *hi) of the tile at n0 where b lies inside
 * its tensor, for every k (a convolution's zero padding), clamped to [0, rows).
 */
static void conv_span(cgl *g, const dconv *d, LLVMValueRef n0, LLVMValueRef rows, LLVMValueRef *lo,
                      LLVMValueRef *hi)
{
    const lp_node *gm = d->gm;
    const ir_access *b = gm->b;
    const ir_tensor *T = &g->p->tensor[b->tensor];
    LLVMValueRef l = ci64(g, 0), h = rows;
    g->iv[gm->nn] = n0;
    for (int dm = 0; dm < b->ndim; dm++) {
        LLVMValueRef ext = cgl_mono(g, &T->shape[dm]);
        bool has_n = false, has_k = false;
        for (int t = 0; t < b->dim[dm].n; t++) {
            has_n |= b->dim[dm].t[t].axis == gm->nn;
            has_k |= b->dim[dm].t[t].axis == gm->k;
        }
        if (has_n) {                        /* 0 <= i0 + r < ext */
            g->iv[gm->k] = ci64(g, 0);
            LLVMValueRef i0 = cgl_dim_index(g, &b->dim[dm]);
            l = smax(g, l, LLVMBuildNeg(g->b, i0, ""));
            h = smin(g, h, LLVMBuildSub(g->b, ext, i0, ""));
            continue;
        }
        for (int end = 0; end < 1 + has_k; end++) {     /* all or nothing, at both ends of k */
            g->iv[gm->k] = ci64(g, end ? d->K - 1 : 0);
            LLVMValueRef in = LLVMBuildICmp(g->b, LLVMIntULT, cgl_dim_index(g, &b->dim[dm]), ext, "");
            h = LLVMBuildSelect(g->b, in, h, ci64(g, 0), "");
        }
    }
    *lo = smin(g, l, rows);
    *hi = smax(g, h, *lo);
}

/* pack[tap f][k][m0 + 16 v ..], k the current value of the GEMM's k axis. */
static LLVMValueRef conv_weights(cgl *g, const dconv *d, LLVMValueRef f, LLVMValueRef m0, int v)
{
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, ci64(g, d->K), ""),
                                                        g->iv[d->gm->k], ""), ci64(g, d->Mp), "");
    LLVMValueRef at = LLVMBuildAdd(g->b, row, LLVMBuildAdd(g->b, m0, ci64(g, 16 * v), ""), "");
    LLVMValueRef w = LLVMBuildLoad2(g->b, LLVMVectorType(g->f32, 16),
                                    LLVMBuildInBoundsGEP2(g->b, g->f32, d->pack, &at, 1, ""), "");
    LLVMSetAlignment(w, 64);
    return w;
}

/* acc[r][v] += b[k, n0 + r] * pack[tap][k][m0 + 16 v ..] over k, for the columns r in [from, to). */
static void conv_kloop(cgl *g, const dconv *d, LLVMValueRef *acc, LLVMValueRef f, LLVMValueRef n0,
                       LLVMValueRef m0, int from, int to)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    cloop Lk;
    g->iv[gm->k] = cgl_loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "k");
    LLVMValueRef wv[DC_NV];
    for (int v = 0; v < DC_NV; v++)
        wv[v] = conv_weights(g, d, f, m0, v);
    for (int r = from; r < to; r++) {
        g->iv[gm->nn] = LLVMBuildAdd(g->b, n0, ci64(g, r), "");
        LLVMValueRef sp = cgl_splat(g, cgl_load_plain(g, gm->b), 16);
        for (int v = 0; v < DC_NV; v++)
            LLVMBuildStore(g->b, cgl_fma3(g, sp, wv[v], LLVMBuildLoad2(g->b, vt, acc[r * DC_NV + v], "")),
                           acc[r * DC_NV + v]);
    }
    cgl_loop_end(g, &Lk, 1);
}

/*
 * The general case of a tap's span [lo, hi) (a partial tile, a wide padding): the tile goes
 * through memory, a column at a time, each vectorized over m.
 */
static void conv_columns(cgl *g, const dconv *d, LLVMValueRef *acc, LLVMValueRef f, LLVMValueRef n0,
                         LLVMValueRef m0, LLVMValueRef lo, LLVMValueRef hi)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    LLVMValueRef tile = cgl_entry_alloca(g, LLVMArrayType2(vt, DC_R * DC_NV), "dc_tile");
    for (int i = 0; i < DC_R * DC_NV; i++) {
        LLVMValueRef at = ci64(g, i);
        LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vt, acc[i], ""), LLVMBuildInBoundsGEP2(g->b, vt, tile, &at, 1, ""));
    }
    cloop Lr, Lk;
    LLVMValueRef r = cgl_loop_begin(g, &Lr, lo, hi, "dc_r");
    g->iv[gm->nn] = LLVMBuildAdd(g->b, n0, r, "");
    g->iv[gm->k] = cgl_loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "k");
    LLVMValueRef sp = cgl_splat(g, cgl_load_plain(g, gm->b), 16);
    for (int v = 0; v < DC_NV; v++) {
        LLVMValueRef ti = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, ci64(g, DC_NV), ""), ci64(g, v), "");
        LLVMValueRef p = LLVMBuildInBoundsGEP2(g->b, vt, tile, &ti, 1, "");
        LLVMBuildStore(g->b, cgl_fma3(g, sp, conv_weights(g, d, f, m0, v), LLVMBuildLoad2(g->b, vt, p, "")), p);
    }
    cgl_loop_end(g, &Lk, 1);
    cgl_loop_end(g, &Lr, 1);
    for (int i = 0; i < DC_R * DC_NV; i++) {
        LLVMValueRef at = ci64(g, i);
        LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vt, LLVMBuildInBoundsGEP2(g->b, vt, tile, &at, 1, ""), ""), acc[i]);
    }
}

/* dst[m0 + 16 v + i, n0 + r] += acc[r][v][i] for r < rows, m < M: by 16 x 16 transposes. */
static void conv_store(cgl *g, const dconv *d, LLVMValueRef *acc, LLVMValueRef n0, LLVMValueRef m0,
                       LLVMValueRef rows)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    for (int v = 0; v < DC_NV; v++) {
        LLVMValueRef t[16];
        for (int r = 0; r < 16; r++)
            t[r] = r < DC_R ? LLVMBuildLoad2(g->b, vt, acc[r * DC_NV + v], "") : LLVMConstNull(vt);
        cgl_transpose_regs(g, t, 16);         /* t[i][r] = acc[r][v][i] */
        for (int i = 0; i < 16; i++) {
            LLVMValueRef m = LLVMBuildAdd(g->b, m0, ci64(g, 16 * v + i), "");
            LLVMValueRef mask = cgl_lanes_below(g, 16, ci64(g, 0), rows, LLVMBuildICmp(g->b, LLVMIntSLT, m, ci64(g, d->M), ""));
            g->iv[gm->m] = smin(g, m, ci64(g, d->M - 1));
            g->iv[gm->nn] = n0;
            LLVMValueRef p = cgl_address(g, gm->dst);
            cgl_masked_op(g, vt, 4, p, mask, LLVMBuildFAdd(g->b, cgl_masked_op(g, vt, 4, p, mask, NULL), t[i], ""));
        }
    }
}

static void conv_emit(cgl *g, const dconv *d)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    LLVMValueRef acc[DC_R * DC_NV];
    for (int i = 0; i < DC_R * DC_NV; i++)
        acc[i] = cgl_entry_alloca(g, vt, "dc");
    LLVMValueRef N = g->size[gm->nn];
    cloop Ln, Lm, Lt[DC_MAXTAPS];
    LLVMValueRef n0 = cgl_loop_begin(g, &Ln, ci64(g, 0), N, "n0");
    LLVMValueRef rows = smin(g, ci64(g, DC_R), LLVMBuildSub(g->b, N, n0, ""));
    LLVMValueRef m0 = cgl_loop_begin(g, &Lm, ci64(g, 0), ci64(g, d->Mp), "m0");
    for (int i = 0; i < DC_R * DC_NV; i++)
        LLVMBuildStore(g->b, LLVMConstNull(vt), acc[i]);
    LLVMValueRef f = taps_begin(g, d, Lt);
    LLVMValueRef lo, hi;
    conv_span(g, d, n0, rows, &lo, &hi);
    /*
     * Dispatch on the span: the whole tile, or a tap that pads a column at either end
     * (lo < EDGE, hi > R - EDGE), runs a k loop over exactly those columns; an empty span
     * runs nothing; any other goes a column at a time (conv_columns).
     */
    enum { EDGE = 2 };
    LLVMBasicBlockRef bp = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_part");
    LLVMBasicBlockRef bd = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_tap_done");
    LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_test");
    LLVMValueRef key = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, lo, ci64(g, 64), ""), hi, "");
    LLVMValueRef sw = LLVMBuildSwitch(g->b, key, bt, EDGE * EDGE);
    for (int l = 0; l < EDGE; l++)
        for (int h = DC_R - EDGE + 1; h <= DC_R; h++) {
            LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_cols");
            LLVMAddCase(sw, ci64(g, l * 64 + h), bb);
            LLVMPositionBuilderAtEnd(g->b, bb);
            conv_kloop(g, d, acc, f, n0, m0, l, h);
            LLVMBuildBr(g->b, bd);
        }
    LLVMPositionBuilderAtEnd(g->b, bt);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, hi, lo, ""), bp, bd);
    LLVMPositionBuilderAtEnd(g->b, bp);
    conv_columns(g, d, acc, f, n0, m0, lo, hi);
    LLVMBuildBr(g->b, bd);
    LLVMPositionBuilderAtEnd(g->b, bd);
    taps_end(g, d, Lt);
    conv_store(g, d, acc, n0, m0, rows);
    cgl_loop_end(g, &Lm, 16 * DC_NV);
    cgl_loop_end(g, &Ln, DC_R);
}

/* Whether n is a direct convolution site conv_find packed for; emits it. */
bool cgl_conv_site(cgl *g, const lp_node *n)
{
    for (int i = 0; i < g->ndc; i++)
        if (g->dc[i].site == n) {
            conv_emit(g, &g->dc[i]);
            return true;
        }
    return false;
}

