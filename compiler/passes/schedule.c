/*
 * schedule.c — the schedule pass: decides once what each nest of the loop IR is (loop.h,
 * lp_kind) and records it with the parameters backends follow and `einc explain` prints
 * (docs/ARCHITECTURE.md §7).  The kinds, tried in this order:
 *
 *   conv         GEMMs under tap loops that run as a direct convolution (conv_match)
 *   gemm         any other nest with an LP_GEMM: its register and cache tiles
 *   transpose    a copy tiled by lower.c (transpose_tiles), or a copy that permutes axes
 *   elementwise  loops around one plain store
 *   reduce       one reduction of one array: full (two stages), or along rows or columns
 *   rows         steps fused over one loop (fuse_nests), at least one a reduction
 *   loops        everything else
 */
#include "loop.h"

const char *lp_kind_name(lp_kind k)
{
    static const char *const name[] = {
#define X(id, text) text,
        LP_KINDS(X)
#undef X
    };
    return (unsigned)k < sizeof name / sizeof *name ? name[k] : "?";
}

static int vector_bytes(const lp_machine *m) { return m && m->vector_bytes > 0 ? m->vector_bytes : 32; }

static int64_t l2_bytes(const lp_machine *m) { return m && m->l2_bytes > 0 ? m->l2_bytes : 1 << 20; }

/*
 * MR x NV: 6 x 4 vectors are 24 accumulators of AVX-512's 32 registers; 6 x 2 of AVX2's
 * 16.  KC: the panel (KC x NR) takes a sixteenth of L2, between 64 and 512 (512 for
 * float32 with AVX-512 and a 2 MiB L2, a 128 KiB panel on the stack of whichever thread
 * runs the kernel, so no larger).  A band of a's rows (MC x KC) takes at most a quarter of
 * L2, so it stays there from one panel to the next.
 */
lp_gemm_tile lp_gemm_tile_for(const lp_machine *m, einc_dtype compute)
{
    int vb = vector_bytes(m), esize = compute == EINC_F64 || compute == EINC_C128 ? 8 : 4;
    lp_gemm_tile t = { .mr = 6, .nv = vb >= 64 ? 4 : 2, .vl = vb / esize };
    int64_t kc = l2_bytes(m) / 16 / ((int64_t)t.nv * t.vl * esize) / 8 * 8;
    t.kc = kc < 64 ? 64 : kc > 512 ? 512 : (int)kc;
    if (dtype_is_complex(compute))  /* vectors of parts; each k packs two rows (codegen/llvm_gemm.c) */
        t.kc /= 2;
    t.mc = 16 * t.mr;
    t.mc_bytes = l2_bytes(m) / 4;
    return t;
}

/* A size the generated code holds as a constant (a model's, or AXIS=N): codegen/llvm.c's rule. */
static bool const_size(const ir_prog *p, int ax, int64_t *v)
{
    *v = p->axis[ax].size;
    return (p->axis[ax].given || p->axis[ax].literal) && *v >= 0;
}

/*
 * The packed block of a's channels: all of them when they fit LP_CONV_PACK_BYTES, else
 * Mb of the m channels (two register tiles, 64, where Mp allows it) by as many k channels
 * as fit, split into equal blocks.  Kb = 0: not even one k channel fits.
 */
static void conv_blocks(lp_conv_site *d)
{
    int64_t per_k = d->T * 4;           /* bytes of one k channel, per m channel */
    d->Mb = d->Mp;
    d->Kb = d->K;
    if (per_k * d->K * d->Mp <= LP_CONV_PACK_BYTES)
        return;
    d->Mb = d->Mp % 64 == 0 ? 64 : 32;
    int64_t kmax = LP_CONV_PACK_BYTES / (per_k * d->Mb);
    if (kmax < 1) {
        d->Kb = 0;
        return;
    }
    int64_t nkb = (d->K + kmax - 1) / kmax;
    d->Kb = (d->K + nkb - 1) / nkb;
}

/* codegen/llvm.c's direct convolution, decided on the loop IR: n is the outermost tap loop. */
static bool conv_match(const lp_prog *lp, einc_dtype compute, int vbytes, const lp_node *n, lp_conv_site *d)
{
    const ir_prog *p = lp->ir;
    if (vbytes < 64 || compute != EINC_F32 || (n->op != LP_LOOP && n->op != LP_GEMM))
        return false;
    const lp_node *x = n;
    *d = (lp_conv_site){ .T = 1 };
    while (x->op == LP_LOOP && !x->tile && !x->blocked && !x->parallel && x->n == 1 && d->ntap < LP_CONV_MAXTAPS) {
        d->tap[d->ntap++] = x->axis;
        x = x->body[0];
    }
    const lp_node *gm = x;
    int64_t M, N, K, s;
    if (gm->op != LP_GEMM || gm->parallel || gm->k2 >= 0 || (d->ntap && !gm->accumulate) ||
        !const_size(p, gm->m, &M) || !const_size(p, gm->nn, &N) || !const_size(p, gm->k, &K) ||
        p->tensor[gm->a->tensor].dtype != EINC_F32 || p->tensor[gm->b->tensor].dtype != EINC_F32 ||
        p->tensor[gm->dst->tensor].dtype != EINC_F32)
        return false;
    /*
     * A GEMM without taps (a 1 x 1 convolution) only where its rows are short: the GEMM's
     * tile spans LP_CONV_NARROW of them and would run mostly empty, the direct
     * convolution's is 14 columns by 32 channels.
     */
    if (!d->ntap && N > LP_CONV_NARROW)
        return false;
    for (int i = 0; i < d->ntap; i++) {
        int t = d->tap[i];
        if (!const_size(p, t, &s) || ir_access_uses(gm->dst, t) || !ir_access_uses(gm->a, t))
            return false;
        d->T *= s;
    }
    /* a is packed before any loop runs: it may walk only m, k and the taps */
    for (int dm = 0; dm < gm->a->ndim; dm++)
        for (int t = 0; t < gm->a->dim[dm].n; t++) {
            int ax = gm->a->dim[dm].t[t].axis;
            bool ok = ax == gm->m || ax == gm->k;
            for (int i = 0; i < d->ntap; i++)
                ok |= ax == d->tap[i];
            if (!ok)
                return false;
        }
    /* b: n at most once per dimension, with a constant coefficient (the stride), never beside k */
    for (int dm = 0; dm < gm->b->ndim; dm++) {
        bool has_n = false, has_k = false;
        for (int t = 0; t < gm->b->dim[dm].n; t++) {
            const ir_term *tm = &gm->b->dim[dm].t[t];
            if (tm->axis == gm->nn) {
                if (has_n || tm->coef.n || tm->coef.k < 1 || tm->coef.k > LP_CONV_MAXSTRIDE)
                    return false;
                has_n = true;
            }
            has_k |= tm->axis == gm->k;
        }
        if (has_n && has_k)
            return false;
    }
    d->site = n;
    d->gemm = gm;
    d->M = M;
    d->K = K;
    d->Mp = (M + 31) / 32 * 32;
    if (M <= 0 || K <= 0)
        return false;
    conv_blocks(d);
    return d->Kb > 0;
}

/* The walk over one nest: what it holds, gathered once. */
typedef struct census {
    const lp_prog *lp;
    einc_dtype compute;
    int vbytes;
    lp_sched *s;
    int gemms, accs, stores, fills, updates, tiles;
    int reductions;             /* ACCs and updating STOREs */
    const lp_node *step;        /* the last ACC or valued STORE seen */
} census;

static void conv_find(census *w, const lp_node *n)
{
    if (w->s->nconv >= LP_CONV_MAXSITES)
        return;
    lp_conv_site d;
    if (conv_match(w->lp, w->compute, w->vbytes, n, &d)) {
        w->s->conv[w->s->nconv++] = d;
        return;
    }
    for (int i = 0; i < n->n; i++)
        conv_find(w, n->body[i]);
}

/* The store at the end of n's chain of single-child loops, or NULL. */
static const lp_node *chain_store(const lp_node *n)
{
    while (n->op == LP_LOOP && n->n == 1)
        n = n->body[0];
    return n->op == LP_STORE ? n : NULL;
}

/* Does the subtree n write tensor t (a store, an accumulator's or a GEMM's destination)? */
static bool writes(const lp_node *n, int t)
{
    if (n->dst && n->dst->tensor == t)
        return true;
    for (int i = 0; i < n->n; i++)
        if (writes(n->body[i], t))
            return true;
    return false;
}

/*
 * Whether codegen/llvm_conv.c may run a blocked site's nest in three passes over its loops
 * (the steps before the site, the site once per block, the steps after it), which is the
 * nest's own order for every element: the root is a chain of single-child loops down to
 * the loop holding the site, the steps before the site there are fills of dst from inputs
 * (a bias), and no step writes the convolution's operands.
 */
static bool blockable(const lp_prog *lp, const lp_node *root, const lp_conv_site *d)
{
    const ir_prog *p = lp->ir;
    const lp_node *gm = d->gemm;
    if (root == d->site)
        return true;
    for (const lp_node *x = root; x->op == LP_LOOP && !x->tile && !x->blocked; x = x->body[0]) {
        int at = -1;
        for (int i = 0; i < x->n; i++)
            if (x->body[i] == d->site)
                at = i;
        if (at < 0 && x->n == 1)
            continue;
        if (at < 0)
            return false;
        for (int i = 0; i < x->n; i++) {
            const lp_node *c = x->body[i], *st = chain_store(c);
            if (i == at)
                continue;
            if (writes(c, gm->a->tensor) || writes(c, gm->b->tensor))
                return false;
            if (i > at)
                continue;
            if (!st || st->dst->tensor != gm->dst->tensor || (st->value && st->comb != IR_COMB_ASSIGN))
                return false;
            for (int t = 0; t < p->ntensor; t++)
                if (p->tensor[t].role != IR_INPUT && ir_expr_reads(st->value, t))
                    return false;
        }
        return true;
    }
    return false;
}

/* Keeps the sites that run as the schedule says: a blocked one only alone in its nest, blockable. */
static void conv_keep(census *w, const lp_node *root)
{
    lp_sched *s = w->s;
    int kept = 0;
    for (int i = 0; i < s->nconv; i++) {
        const lp_conv_site *d = &s->conv[i];
        bool whole = d->Mb == d->Mp && d->Kb == d->K;
        if (whole || (s->nconv == 1 && w->gemms == 1 && blockable(w->lp, root, d)))
            s->conv[kept++] = *d;
    }
    s->nconv = kept;
}

static void count(census *w, const lp_node *n)
{
    switch (n->op) {
    case LP_LOOP: w->tiles += n->tile > 0; break;
    case LP_ACC: w->accs++, w->reductions++, w->step = n; break;
    case LP_UPDATE: w->updates++; break;
    case LP_GEMM: w->gemms++; break;
    case LP_STORE:
        if (!n->value)
            w->fills++;
        else
            w->stores++, w->reductions += n->comb != IR_COMB_ASSIGN, w->step = n;
        break;
    }
    for (int i = 0; i < n->n; i++)
        count(w, n->body[i]);
}

/* A copy: out[..] = in[..], a plain unguarded read. */
static bool is_copy(const lp_node *s)
{
    return s && s->op == LP_STORE && s->comb == IR_COMB_ASSIGN && s->value && s->value->op == IR_ACCESS &&
           !s->value->acc.guard;
}

/*
 * The partner w of loop n's axis h that codegen/llvm_loop.c's coalesce_axis runs as one, or
 * -1.  n's nest is a chain of loops around one copy, with a loop over w inside n, and in
 * both arrays h and w index two dimensions one after the other, alone.
 */
static int pair_of(const lp_node *n, const lp_node *st)
{
    int h = n->axis, w = -1;
    const ir_access *acc[2] = { st->dst, &st->value->acc };
    for (int i = 0; i < 2; i++) {
        int dh = ir_sole_dim(acc[i], h);
        int a = dh >= 0 && dh + 1 < acc[i]->ndim ? ir_dim_axis(&acc[i]->dim[dh + 1]) : -1;
        if (a < 0 || (w >= 0 && a != w) || ir_sole_dim(acc[i], a) != dh + 1)
            return -1;
        w = a;
    }
    const lp_node *s = n->body[0];
    while (s->op == LP_LOOP && s->axis != w)
        s = s->body[0];
    return s->op == LP_LOOP ? w : -1;
}

/* The pairs of a copy nest (root: the nest's root loop), outermost first. */
static void copy_pairs(lp_sched *sc, const lp_node *root, const lp_node *st)
{
    for (const lp_node *n = root; n->op == LP_LOOP && sc->npair < LP_MAXPAIRS; n = n->body[0]) {
        if (n->tile || n->blocked || (n == root && n->parallel))
            continue;
        int w = pair_of(n, st);
        if (w >= 0) {
            sc->pair[sc->npair][0] = n->axis;
            sc->pair[sc->npair][1] = w;
            sc->npair++;
        }
    }
}

/*
 * The bytes of an element a transpose's squares move (raw bits, from one dtype to the same),
 * or 0 for a dtype they do not: bool (a load makes any nonzero byte 1) and complex.
 */
int lp_square_esize(einc_dtype t)
{
    switch (t) {
    case EINC_I8: case EINC_U8: return 1;
    case EINC_I16: case EINC_U16: case EINC_F16: case EINC_BF16: return 2;
    case EINC_F32: case EINC_I32: return 4;
    case EINC_F64: case EINC_I64: return 8;
    default: return 0;
    }
}

/*
 * transpose_tiles' form: [other axes] [o tile] [r tile] { r blocked { o blocked vector
 * { out[.. o] = f(in[.. r]) } } }.  In a copy, whole tiles go through registers as vl x vl
 * squares where codegen/llvm_transpose.c's square_match can take them (1-, 2-, 4- or
 * 8-byte elements, one dtype, 2 to 32 lanes, the tile a whole number of vectors).  Bytes
 * and words take 32 x 32 squares where the vectors hold 32: a 16 x 16 square of bytes
 * moved too few bytes per call for its fixed cost ('ij->ji' uint8 2048^2 ran at 0.17 of
 * memcpy with them, 0.33 with 32 x 32).
 */
static void tiled(const lp_prog *lp, int vbytes, lp_sched *sc, const lp_node *root)
{
    const lp_node *n = root;
    while (n->op == LP_LOOP && n->n == 1 && !n->blocked)
        n = n->body[0];
    const lp_node *c = n->op == LP_LOOP && n->n == 1 ? n->body[0] : NULL;
    const lp_node *st = c && c->op == LP_LOOP && c->n == 1 ? c->body[0] : NULL;
    if (!n->blocked || !c || c->op != LP_LOOP || !c->blocked)
        return;
    sc->transpose.r = n->axis;
    sc->transpose.o = c->axis;
    for (const lp_node *x = root; x != n; x = x->body[0])
        if (x->tile && (x->axis == n->axis || x->axis == c->axis))
            sc->transpose.tile = x->tile;
    if (!c->vector || !is_copy(st))
        return;
    einc_dtype t = lp->ir->tensor[st->value->acc.tensor].dtype;
    int esize = lp_square_esize(t);
    int vl = esize ? vbytes / esize : 0;
    if (vl > 32)    /* bytes with AVX-512: 32 x 32 squares, two side by side in a vector (square_match) */
        vl = 32;
    if (esize && lp->ir->tensor[st->dst->tensor].dtype == t && vl >= 2 && sc->transpose.tile % vl == 0)
        sc->transpose.vl = vl;
}

/* Does a copy read its input in another axis order than it writes its output? */
static bool permutes(const lp_node *st)
{
    const ir_access *o = st->dst, *i = &st->value->acc;
    int last = -1;
    for (int d = 0; d < o->ndim; d++) {
        int a = ir_dim_axis(&o->dim[d]);
        int at = a >= 0 ? ir_sole_dim(i, a) : -1;
        if (a < 0 || at < 0)
            continue;
        if (at < last)
            return true;
        last = at;
    }
    return false;
}

/* The tensor the value of step n reads, when it reads one only (else -1). */
static int sole_input(const ir_prog *p, const lp_node *n)
{
    int found = -1;
    for (int t = 0; t < p->ntensor; t++)
        if (ir_expr_reads(n->value, t)) {
            if (found >= 0)
                return -1;
            found = t;
        }
    return found;
}

/* The reduction step of a one-step reduce nest (a memory one perhaps with its fill), or NULL. */
static const lp_node *reduction_step(const lp_prog *lp, const lp_nest *nest)
{
    census w = { .lp = lp };
    count(&w, nest->root);
    if (w.gemms || w.tiles || w.accs + w.stores != 1 || w.fills > (w.stores ? 1 : 0))
        return NULL;
    const lp_node *s = w.step;
    if (s->op == LP_ACC) {
        if (w.updates != 1)
            return NULL;
        const lp_node *u = s;
        while (u->op != LP_UPDATE && u->n > 0)
            u = u->body[0];
        return u->op == LP_UPDATE && sole_input(lp->ir, u) >= 0 ? s : NULL;
    }
    return s->comb != IR_COMB_ASSIGN && sole_input(lp->ir, s) >= 0 ? s : NULL;
}

/* The tensor a reduction step (from reduction_step) reads. */
static int step_input(const lp_prog *lp, const lp_node *s)
{
    while ((s->op == LP_ACC || s->op == LP_LOOP) && s->n > 0)
        s = s->body[0];
    return sole_input(lp->ir, s);
}

/*
 * The row loop of fused steps: the innermost of the root's chain of loops, which ends at
 * a loop with several children (softmax's max, sum and division) or one around an ACC
 * (a store merged into a reduction's loop); NULL when the root is not a loop.
 */
static const lp_node *row_loop(const lp_node *n)
{
    const lp_node *last = NULL;
    for (; n->op == LP_LOOP; n = n->body[0]) {
        last = n;
        if (n->n != 1 || n->body[0]->op != LP_LOOP)
            break;
    }
    return last;
}

static void schedule_nest(lp_prog *lp, int i, lp_target target, const lp_machine *m)
{
    lp_nest *nest = &lp->nest[i];
    lp_sched *sc = &nest->sched;
    int vb = target == LP_GPU ? 0 : vector_bytes(m);
    *sc = (lp_sched){ .kind = LP_KIND_LOOPS, .parallel_axis = lp_parallel_axis(nest->root), .vector_bytes = vb,
                      .vl = vb ? vb / (int)(dtype_size(nest->compute) ? dtype_size(nest->compute) : 1) : 0 };
    census w = { .lp = lp, .compute = nest->compute, .vbytes = vb, .s = sc };
    count(&w, nest->root);
    if (w.gemms) {
        sc->gemm = lp_gemm_tile_for(m, nest->compute);
        conv_find(&w, nest->root);
        conv_keep(&w, nest->root);
        sc->kind = sc->nconv ? LP_KIND_CONV : LP_KIND_GEMM;
        return;
    }
    const lp_node *st = chain_store(nest->root);
    if (st && is_copy(st))
        copy_pairs(sc, nest->root, st);
    if (w.tiles)
        tiled(lp, vb, sc, nest->root);
    if (sc->transpose.tile || (st && is_copy(st) && permutes(st))) {
        sc->kind = LP_KIND_TRANSPOSE;
        return;
    }
    if (st && (!st->value || st->comb == IR_COMB_ASSIGN)) {   /* a fill is one too */
        sc->kind = LP_KIND_ELEMENTWISE;
        return;
    }
    const lp_node *r = reduction_step(lp, nest);
    if (r) {
        sc->kind = LP_KIND_REDUCE;
        sc->reduce.memory = r->op == LP_STORE;
        sc->reduce.stage = sc->reduce.stages = 1;
        /* split_reductions' pair: partials, then the 0-d sum of them */
        const lp_node *prev = i > 0 ? reduction_step(lp, &lp->nest[i - 1]) : NULL;
        const lp_node *next = i + 1 < lp->nnest ? reduction_step(lp, &lp->nest[i + 1]) : NULL;
        if (prev && r->dst->ndim == 0 && step_input(lp, r) == prev->dst->tensor)
            sc->reduce.stage = sc->reduce.stages = 2;
        else if (next && next->dst->ndim == 0 && step_input(lp, next) == r->dst->tensor)
            sc->reduce.stages = 2;
        return;
    }
    const lp_node *b = w.accs + w.stores >= 2 && w.reductions > 0 ? row_loop(nest->root) : NULL;
    if (b && !w.tiles) {
        sc->kind = LP_KIND_ROWS;
        sc->rows.axis = b->axis;
        sc->rows.steps = w.accs + w.stores;
    }
}

int lp_schedule(cc *c, lp_prog *lp, lp_target target, const lp_machine *m)
{
    (void)c;
    for (int i = 0; i < lp->nnest; i++)
        schedule_nest(lp, i, target, m);
    return 0;
}
