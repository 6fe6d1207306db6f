/*
 * llvm_conv.c — the direct convolution: a GEMM inside loops over taps (or a 1 x 1 one
 * without), as the schedule names it (lp_sched.conv), its weights packed at the start of
 * the nest function (cgl_conv_find) and its loops emitted where the tap loops stood
 * (cgl_conv_site); weights too large to pack at once go a block at a time, around the whole
 * nest (conv_blocked).
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
    int64_t Mb, Kb;             /* the packed block (lp_conv_site) */
    LLVMValueRef pack;          /* pack[tap][k - klo][m - mlo], Kb x Mb per tap */
    LLVMValueRef klo, khi, mlo; /* the block packed now: k in [klo, khi), m in [mlo, mlo + Mb) */
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

/*
 * pack[tap][k - klo][m - mlo] = a[min(m, M - 1), k, tap] for the current block: conv_store
 * never stores the lanes m >= M, so they may hold anything, and a zero there would be a
 * loop of stores that LLVM turns into a call of memset, which the JIT does not link.
 */
static void conv_pack(cgl *g, dconv *d)
{
    const lp_node *gm = d->gm;
    cloop Lt[DC_MAXTAPS], Lk, Lm;
    LLVMValueRef f = taps_begin(g, d, Lt);
    g->iv[gm->k] = cgl_loop_begin(g, &Lk, d->klo, d->khi, "pk");
    LLVMValueRef m = cgl_loop_begin(g, &Lm, d->mlo, LLVMBuildAdd(g->b, d->mlo, ci64(g, d->Mb), ""), "pm");
    g->iv[gm->m] = smin(g, m, ci64(g, d->M - 1));
    LLVMValueRef v = cgl_load(g, gm->a);
    LLVMValueRef kr = LLVMBuildSub(g->b, g->iv[gm->k], d->klo, "");
    LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, ci64(g, d->Kb), ""),
                                                                          kr, ""), ci64(g, d->Mb), ""),
                                   LLVMBuildSub(g->b, m, d->mlo, ""), "");
    LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->f32, d->pack, &at, 1, ""));
    cgl_loop_end(g, &Lm, 1);
    cgl_loop_end(g, &Lk, 1);
    taps_end(g, d, Lt);
}

/*
 * A copy of the chain of loops from root down to the loop holding site, whose copy of that
 * loop keeps only the steps before the site (part 0), the site (1) or those after it (2);
 * NULL when that part is empty or out of memory (*nomem).  schedule.c: blockable checked
 * the shape: single-child loops down to the site's.
 */
static const lp_node *chain_part(cgl *g, const lp_node *root, const lp_node *site, int part, bool *nomem)
{
    lp_node *top = NULL, **link = &top;
    for (const lp_node *x = root; x->op == LP_LOOP; x = x->body[0]) {
        lp_node *c = ARENA_NEW(g->c->A, lp_node);
        if (!c)
            return *nomem = true, NULL;
        *c = *x;
        *link = c;
        int at = -1;
        for (int i = 0; i < x->n; i++)
            if (x->body[i] == site)
                at = i;
        if (at >= 0) {
            int from = part == 0 ? 0 : part == 1 ? at : at + 1, to = part == 0 ? at : part == 1 ? at + 1 : x->n;
            c->body = x->body + from;
            c->n = to - from;
            return c->n ? top : NULL;
        }
        if (!(c->body = ARENA_ARRAY(g->c->A, lp_node *, 1)))
            return *nomem = true, NULL;
        link = &c->body[0];
    }
    return NULL;
}

/*
 * A blocked site's nest, in three passes over its loops: the fills before the site, the
 * site once per block of a's channels (packed here, so that a block stays in L2 while
 * every row the call runs passes through it), the steps after it.  For each element that
 * is the nest's own order (schedule.c: blockable).
 */
static int conv_blocked(cgl *g, dconv *d, const lp_node *root)
{
    bool nomem = false;
    const lp_node *part[3];
    for (int i = 0; i < 3; i++)
        part[i] = root == d->site ? (i == 1 ? root : NULL) : chain_part(g, root, d->site, i, &nomem);
    if (nomem)
        return cc_nomem(g->c);
    if (!part[1])
        return cc_error(g->c, EINC_ERR_INTERNAL, -1, -1, "internal error in the LLVM code generator: a blocked "
                        "convolution's nest is not the shape the schedule checked");
    if (part[0])
        cgl_node(g, part[0], true);
    cloop Lm, Lk;
    d->mlo = cgl_loop_begin(g, &Lm, ci64(g, 0), ci64(g, d->Mp), "mb");
    d->klo = cgl_loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "kb");
    d->khi = smin(g, LLVMBuildAdd(g->b, d->klo, ci64(g, d->Kb), ""), ci64(g, d->K));
    conv_pack(g, d);
    cgl_node(g, part[1], true);
    cgl_loop_end(g, &Lk, d->Kb);
    cgl_loop_end(g, &Lm, d->Mb);
    if (part[2])
        cgl_node(g, part[2], true);
    return 1;
}

/*
 * The nest's direct convolutions are the schedule's (compiler/passes/schedule.c decides them on
 * the loop IR: lp_sched.conv).  Whole weights are packed here, before the loops: 0, and the
 * caller emits the nest.  A blocked site (alone in its nest) is emitted here with the whole
 * nest (conv_blocked): 1.  -1 when out of memory.
 */
int cgl_conv_find(cgl *g, const lp_node *root)
{
    g->ndc = 0;
    g->dc = ARENA_ARRAY(g->c->A, dconv, DC_MAXSITES);
    if (!g->dc)
        return cc_nomem(g->c);
    const lp_sched *s = &g->nest->sched;
    if (s->nconv) {
        /*
         * conv_emit's dispatch is a switch whose cases may be dense (the partial tile's), and a
         * jump table's relocations are more than the JIT links at every address.
         */
        static const char k[] = "no-jump-tables", v[] = "true";
        LLVMAddAttributeAtIndex(g->fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(g->ctx, k, sizeof k - 1, v, sizeof v - 1));
    }
    for (int i = 0; i < s->nconv && g->ndc < DC_MAXSITES; i++) {
        const lp_conv_site *c = &s->conv[i];
        dconv d = { .site = c->site, .gm = c->gemm, .ntap = c->ntap, .M = c->M, .K = c->K, .Mp = c->Mp,
                    .T = c->T, .Mb = c->Mb, .Kb = c->Kb };
        for (int t = 0; t < c->ntap; t++)
            d.tap[t] = c->tap[t];
        d.pack = cgl_entry_alloca(g, LLVMArrayType2(g->f32, (uint64_t)(d.T * d.Kb * d.Mb)), "wpack");
        LLVMSetAlignment(d.pack, 64);
        g->dc[g->ndc++] = d;
        if (d.Mb < d.Mp || d.Kb < d.K)
            return conv_blocked(g, &g->dc[g->ndc - 1], root);
        g->dc[g->ndc - 1].klo = g->dc[g->ndc - 1].mlo = ci64(g, 0);
        g->dc[g->ndc - 1].khi = ci64(g, d.K);
        conv_pack(g, &g->dc[g->ndc - 1]);
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
        int64_t c = 1;                      /* n's coefficient: the stride */
        for (int t = 0; t < b->dim[dm].n; t++) {
            if (b->dim[dm].t[t].axis == gm->nn)
                has_n = true, c = b->dim[dm].t[t].coef.k;
            has_k |= b->dim[dm].t[t].axis == gm->k;
        }
        if (has_n) {                        /* 0 <= i0 + c r < ext: ceil(-i0 / c) <= r < ceil((ext - i0) / c) */
            g->iv[gm->k] = ci64(g, 0);
            LLVMValueRef i0 = cgl_dim_index(g, &b->dim[dm]), cm1 = ci64(g, c - 1), cc = ci64(g, c);
            LLVMValueRef below = smax(g, LLVMBuildNeg(g->b, i0, ""), ci64(g, 0));
            LLVMValueRef above = smax(g, LLVMBuildSub(g->b, ext, i0, ""), ci64(g, 0));
            l = smax(g, l, LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, below, cm1, ""), cc, ""));
            h = smin(g, h, LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, above, cm1, ""), cc, ""));
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

/* pack[tap f][k - klo][m0 - mlo + 16 v ..], k the current value of the GEMM's k axis. */
static LLVMValueRef conv_weights(cgl *g, const dconv *d, LLVMValueRef f, LLVMValueRef m0, int v)
{
    LLVMValueRef kr = LLVMBuildSub(g->b, g->iv[d->gm->k], d->klo, "");
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, ci64(g, d->Kb), ""), kr, ""),
                                    ci64(g, d->Mb), "");
    LLVMValueRef mr = LLVMBuildSub(g->b, m0, d->mlo, "");
    LLVMValueRef at = LLVMBuildAdd(g->b, row, LLVMBuildAdd(g->b, mr, ci64(g, 16 * v), ""), "");
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
    g->iv[gm->k] = cgl_loop_begin(g, &Lk, d->klo, d->khi, "k");
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
    g->iv[gm->k] = cgl_loop_begin(g, &Lk, d->klo, d->khi, "k");
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

/*
 * dst[m0 + 16 v + i, n0 + r] += acc[r][v][i] for r < rows, m < M: by 16 x 16 transposes
 * (= in the first k block of a GEMM that does not accumulate).
 */
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
            LLVMValueRef p = cgl_address(g, gm->dst), old = cgl_masked_op(g, vt, 4, p, mask, NULL);
            if (!gm->accumulate)        /* a GEMM that does not accumulate: its first k block stores */
                old = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, d->klo, ci64(g, 0), ""),
                                      LLVMConstNull(vt), old, "");
            cgl_masked_op(g, vt, 4, p, mask, LLVMBuildFAdd(g->b, old, t[i], ""));
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
    LLVMValueRef m0 = cgl_loop_begin(g, &Lm, d->mlo, LLVMBuildAdd(g->b, d->mlo, ci64(g, d->Mb), ""), "m0");
    for (int i = 0; i < DC_R * DC_NV; i++)
        LLVMBuildStore(g->b, LLVMConstNull(vt), acc[i]);
    LLVMValueRef f = taps_begin(g, d, Lt);
    LLVMValueRef lo, hi;
    conv_span(g, d, n0, rows, &lo, &hi);
    /*
     * Dispatch on the span: the whole tile, or a tap that pads a column at either end
     * (lo < EDGE, hi > R - EDGE), runs a k loop over exactly those columns; so does the
     * last, partial tile of a row whose width is not a whole number of tiles (7 of a
     * 7 x 7 image); an empty span runs nothing; any other goes a column at a time
     * (conv_columns).
     */
    enum { EDGE = 2 };
    LLVMBasicBlockRef bp = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_part");
    LLVMBasicBlockRef bd = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_tap_done");
    LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_test");
    LLVMValueRef key = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, lo, ci64(g, 64), ""), hi, "");
    int64_t tail = g->p->axis[gm->nn].size % DC_R;
    int hs[2 * EDGE], nh = 0;
    for (int h = DC_R - EDGE + 1; h <= DC_R; h++)
        hs[nh++] = h;
    for (int h = (int)tail - EDGE + 1; h <= tail; h++)
        if (h > EDGE && h < DC_R - EDGE + 1)
            hs[nh++] = h;
    LLVMValueRef sw = LLVMBuildSwitch(g->b, key, bt, (unsigned)(EDGE * nh));
    for (int l = 0; l < EDGE; l++)
        for (int i = 0; i < nh; i++) {
            int h = hs[i];
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

