/*
 * lower.c — index IR → loop IR: the schedule, decided once for every code generator.
 *
 * For each statement we pick the innermost loop by stride: an axis scores 2 for every
 * input it walks with unit stride and 1 if it walks the output with unit stride (reads
 * outnumber writes).  If the winner is reduced, the reduction runs in a register with the
 * reduced loops innermost (a dot product: 'ij->i', 'bhid,bhjd->bhij').  If the winner is
 * an output axis, the output is filled with the identity and updated in place with that
 * axis innermost ('ik,kj->ij' becomes the i-k-j loop order, whose inner loop is a
 * vectorizable saxpy).  Always keeping reductions innermost is the obvious alternative and
 * it fails exactly on matmul, where the inner loop would stride down a column of B.
 *
 * A statement followed by an elementwise statement that reads its result at the same
 * access (a mean's division) is fused: the second becomes the ACC's "final" expression, so
 * no temporary is materialised.  The outermost loop is marked parallel when it is an
 * output axis (iterations then write disjoint elements).
 */
#include "loop.h"
#include "strbuf.h"

#include <string.h>

typedef struct lowerer {
    cc *c;
    const ir_prog *p;
    lp_target target;
    const bool *strided;        /* per tensor, or NULL: strides known only at run time */
    bool *acc;                  /* per tensor: lp_prog.acc */
} lowerer;

static lp_node *node(lowerer *L, lp_op op)
{
    lp_node *n = ARENA_NEW(L->c->A, lp_node);
    if (!n)
        cc_nomem(L->c);
    else
        n->op = op;
    return n;
}

static int add_child(lowerer *L, lp_node *parent, lp_node *child)
{
    lp_node **b = ARENA_ARRAY(L->c->A, lp_node *, parent->n + 1);
    if (!b || !child)
        return cc_nomem(L->c);
    if (parent->n)
        memcpy(b, parent->body, sizeof *b * (size_t)parent->n);
    b[parent->n++] = child;
    parent->body = b;
    return 0;
}

/* Wraps body in loops over ax[0..n) (ax[0] outermost); returns the outermost node. */
static lp_node *wrap(lowerer *L, const int *ax, int n, lp_node *body, bool parallel_ok)
{
    lp_node *inner = body;
    for (int i = n - 1; i >= 0; i--) {
        lp_node *l = node(L, LP_LOOP);
        if (!l || add_child(L, l, inner) < 0)
            return NULL;
        l->axis = ax[i];
        l->vector = i == n - 1;
        l->parallel = parallel_ok && i == 0;
        inner = l;
    }
    return inner;
}

/*
 * Does access a walk axis x with unit stride (only in its last dimension, coefficient 1,
 * in a contiguous tensor)?
 */
static bool unit_stride_in(const lowerer *L, const ir_access *a, int x)
{
    if (L->strided && L->strided[a->tensor])
        return false;
    for (int d = 0; d < a->ndim; d++)
        for (int t = 0; t < a->dim[d].n; t++)
            if (a->dim[d].t[t].axis == x) {
                const ir_mono *m = &a->dim[d].t[t].coef;
                if (d != a->ndim - 1 || m->n != 0 || m->k != 1)
                    return false;
            }
    for (int t = 0; a->ndim && t < a->dim[a->ndim - 1].n; t++)
        if (a->dim[a->ndim - 1].t[t].axis == x)
            return true;
    return false;
}

#define unit_stride(a, x) unit_stride_in(L, (a), (x))

static int score_expr(const lowerer *L, const ir_expr *x, int axis)
{
    if (!x)
        return 0;
    if (x->op == IR_ACCESS)
        return unit_stride(&x->acc, axis) ? 2 : 0;
    return score_expr(L, x->a, axis) + score_expr(L, x->b, axis);
}

static bool same_access(const ir_access *a, const ir_access *b)
{
    if (a->tensor != b->tensor || a->ndim != b->ndim || a->guard != b->guard || a->pad != b->pad)
        return false;
    for (int d = 0; d < a->ndim; d++) {
        const ir_dim *x = &a->dim[d], *y = &b->dim[d];
        if (x->n != y->n || x->off != y->off)
            return false;
        for (int t = 0; t < x->n; t++) {
            const ir_mono *m = &x->t[t].coef, *n = &y->t[t].coef;
            if (x->t[t].axis != y->t[t].axis || m->k != n->k || m->n != n->n ||
                (m->n && memcmp(m->v, n->v, sizeof *m->v * (size_t)m->n)))
                return false;
        }
    }
    return true;
}

/* Does x read tensor t anywhere other than at exactly access a? */
static bool reads_elsewhere(const ir_expr *x, int t, const ir_access *a)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return x->acc.tensor == t && !same_access(&x->acc, a);
    return reads_elsewhere(x->a, t, a) || reads_elsewhere(x->b, t, a);
}

/*
 * Can s2 (out = f(T[same access])) be folded into s1 (T ⊕= ...) as its epilogue?  T must
 * be a temporary nobody else reads or writes (it is never materialised), and s2 must read
 * it only at the element s1 produces (a mean's division; conv2d → batchnorm → relu).
 */
static bool fusable(const ir_prog *p, int i, int j)
{
    const ir_stmt *s1 = &p->stmt[i], *s2 = &p->stmt[j];
    int T = s1->out.tensor;
    if (!s1->nred || s1->accumulate || s2->comb != IR_COMB_ASSIGN || s2->nred ||
        s2->nfree != s1->nfree || !ir_expr_reads(s2->rhs, T) || reads_elsewhere(s2->rhs, T, &s1->out))
        return false;
    for (int k = 0; k < s1->nfree; k++)
        if (s1->free[k] != s2->free[k])
            return false;
    /* the fused nest computes in s2's type: a float reduction must not run in integers */
    if (dtype_is_float(p->tensor[T].dtype) && !dtype_is_float(p->tensor[s2->out.tensor].dtype))
        return false;
    /* nor a wider sum (a mean's float64, path.c's float32 wideN) in a 16-bit float's memory */
    if (dtype_is_half(p->tensor[s2->out.tensor].dtype) && !dtype_is_half(p->tensor[T].dtype))
        return false;
    if (s2->out.tensor == T ? !same_access(&s2->out, &s1->out) : p->tensor[T].role != IR_TEMP)
        return false;           /* in place (out = out / n), or a temporary that vanishes */
    for (int k = 0; k < p->nstmt; k++)
        if (k != i && k != j && (p->stmt[k].out.tensor == T || ir_expr_reads(p->stmt[k].rhs, T)))
            return false;
    for (int k = 0; k < p->nlabel; k++)     /* the runtime reads computed labels after a run */
        if (p->label[k].tensor == T)
            return false;
    return true;
}

/*
 * The statement order to lower in: a reduction whose epilogue comes a few statements later
 * (a batch norm's per-channel scale and shift are computed in between) moves down to just
 * before it, when the statements it passes neither touch its output nor write what it
 * reads, so that the two become adjacent and fold.
 */
static int *stmt_order(arena *A, const ir_prog *p)
{
    int *o = ARENA_ARRAY(A, int, p->nstmt + 1);
    if (!o)
        return NULL;
    for (int i = 0; i < p->nstmt; i++)
        o[i] = i;
    for (int i = 0; i + 2 < p->nstmt; i++) {
        const ir_stmt *s = &p->stmt[o[i]];
        int T = s->out.tensor, j = i + 1;
        if (!s->nred)
            continue;
        while (j < p->nstmt && !ir_expr_reads(p->stmt[o[j]].rhs, T) && p->stmt[o[j]].out.tensor != T) {
            const ir_stmt *k = &p->stmt[o[j]];
            if (ir_expr_reads(s->rhs, k->out.tensor) || ir_expr_reads(k->rhs, T))
                break;
            j++;
        }
        if (j == i + 1 || j >= p->nstmt || !fusable(p, o[i], o[j]))
            continue;
        int moved = o[i];
        memmove(&o[i], &o[i + 1], sizeof *o * (size_t)(j - 1 - i));
        o[j - 1] = moved;
    }
    return o;
}

static einc_dtype compute_type(const ir_prog *p, const ir_access *dst)
{
    einc_dtype t = p->tensor[dst->tensor].dtype;
    /* int8 ... uint32 wrap alike when computed in int64 and truncated on store (+, *, and
       max/min of loaded values); the interpreter wraps after every operation instead */
    bool narrow = t == EINC_I8 || t == EINC_I16 || t == EINC_U8 || t == EINC_U16 || t == EINC_U32;
    /* float16 and bfloat16 compute in float32 and round once on store (README, "Dtypes") */
    return t == EINC_BOOL || narrow ? EINC_I64 : dtype_is_half(t) ? EINC_F32 : t;
}

static int push_nest(lowerer *L, lp_prog *lp, lp_node *root, const ir_access *dst, int acc_tensor)
{
    if (acc_tensor >= 0)
        L->acc[acc_tensor] = true;
    lp_nest *n = ARENA_ARRAY(L->c->A, lp_nest, lp->nnest + 1);
    if (!n || !root)
        return cc_nomem(L->c);
    if (lp->nnest)
        memcpy(n, lp->nest, sizeof *n * (size_t)lp->nnest);
    n[lp->nnest] = (lp_nest){ .root = root, .compute = compute_type(L->p, dst), .sched = { .kind = LP_KIND_LOOPS, .parallel_axis = -1 } };
    lp->nest = n;
    lp->nnest++;
    return 0;
}

/*
 * A contraction out[.., m, .., n] += a[.., m, .., k, ..] * b[.., k, .., n] with n the
 * unit-stride axis of out: the shape every BLAS-class kernel wants (b is packed, so it may
 * be transposed, as in 'bhid,bhjd->bhij').  Other axes (batch
 * axes, further reduced axes) stay loops around it; out accumulates in memory, so that is
 * exact.  Returns the GEMM node and the outer loop order, or NULL when the shape differs.
 */
static lp_node *match_gemm(lowerer *L, const ir_stmt *s, int n, const ir_access *dst,
                           int *outer, int *nouter)
{
    const ir_prog *p = L->p;
    const ir_expr *x = s->rhs;
    if (L->target != LP_CPU || s->comb != IR_COMB_SUM || x->op != IR_MUL ||
        x->a->op != IR_ACCESS || x->b->op != IR_ACCESS)
        return NULL;
    /*
     * float16 and bfloat16 operands of a float32 destination (split_reductions' float32
     * temporary for a 16-bit output) widen as they are loaded and packed: the sums run in
     * float32 and round once, on the copy into the output (README, "Dtypes").
     */
    einc_dtype t = p->tensor[dst->tensor].dtype, ta = p->tensor[x->a->acc.tensor].dtype,
               tb = p->tensor[x->b->acc.tensor].dtype;
    bool byte_gemm = (t == EINC_I8 || t == EINC_U8 || t == EINC_I16 || t == EINC_U16) && ta == t && tb == t;    /* push_gemm */
    /*
     * A complex GEMM converts each operand to the output's type as it loads it (a real one
     * gets imaginary part 0, as numpy casts), then runs the real microkernel on pairs
     * (codegen/llvm_gemm.c).
     */
    bool cx = dtype_is_complex(t) && !dtype_is_half(ta) && !dtype_is_half(tb);
    if ((t != EINC_F32 && t != EINC_F64 && !byte_gemm && !cx) ||
        (!cx && ta != t && !(t == EINC_F32 && dtype_is_half(ta))) ||
        (!cx && tb != t && !(t == EINC_F32 && dtype_is_half(tb))) || !unit_stride(dst, n))
        return NULL;
    /* b walks the columns n; a must not (b is packed, so its own strides do not matter) */
    const ir_access *a = &x->a->acc, *b = &x->b->acc;
    if (ir_access_uses(a, n)) {
        const ir_access *tmp = a;
        a = b;
        b = tmp;
    }
    /* b may be guarded (a convolution's padded input): packing reads it, zeros and all */
    if (!ir_access_uses(b, n) || ir_access_uses(a, n) || a->guard || (byte_gemm && b->guard))
        return NULL;
    int m = -1, k = -1;
    for (int i = 0; i < s->nfree; i++)     /* the innermost output axis a has and b lacks */
        if (s->free[i] != n && ir_access_uses(a, s->free[i]) && !ir_access_uses(b, s->free[i]))
            m = s->free[i];
    /*
     * k: a reduced axis both walk; the longest (a convolution's channels, not its 3-tap
     * kernel width), then unit stride in a.
     */
    for (int i = 0; i < s->nred; i++) {
        int r = s->red[i];
        if (!ir_access_uses(a, r) || !ir_access_uses(b, r))
            continue;
        int64_t sr = p->axis[r].size, sk = k >= 0 ? p->axis[k].size : -2;
        if (k < 0 || sr > sk || (sr == sk && unit_stride(a, r)))
            k = r;
    }
    if (m < 0 || k < 0)
        return NULL;
    /*
     * k2: a further reduced axis that alone indexes the dimension of a just before k's
     * (which k alone indexes), in a C-contiguous a: then (k2, k) is one stretch of a's
     * memory, and the GEMM runs over both as one k of size(k2) x size(k), where a loop over
     * k2 around it ran short GEMMs that added into dst ('ijk,jl,kl->il': 96 GEMMs with k of
     * 96 became one with k of 9216).  b is packed, so its layout does not matter, but both
     * must index a dimension of b alone too: a convolution's taps (x[.., oh + kh, ..]) stay
     * loops, which the direct convolution (codegen/llvm.c) runs.
     */
    int k2 = -1, dk = !byte_gemm && ir_sole_dim(b, k) >= 0 && !(L->strided && L->strided[a->tensor]) ? ir_sole_dim(a, k) : -1;
    for (int i = 0; i < s->nred && dk >= 0 && k2 < 0; i++) {
        int r = s->red[i], dr = r != k && ir_sole_dim(b, r) >= 0 ? ir_sole_dim(a, r) : -1;
        if (dr >= 0 && dr == dk - 1)
            k2 = r;
        else if (dr >= 0 && dr == dk + 1) {     /* k is the outer of the two */
            k2 = k;
            k = r;
        }
    }
    *nouter = 0;
    for (int i = 0; i < s->nfree; i++)
        if (s->free[i] != m && s->free[i] != n)
            outer[(*nouter)++] = s->free[i];
    for (int i = 0; i < s->nred; i++)
        if (s->red[i] != k && s->red[i] != k2)
            outer[(*nouter)++] = s->red[i];
    lp_node *g = node(L, LP_GEMM);
    if (!g)
        return NULL;
    g->m = m;
    g->nn = n;
    g->k = k;
    g->k2 = k2;
    g->a = a;
    g->b = b;
    g->dst = dst;
    g->comb = IR_COMB_SUM;
    return g;
}

/*
 * Pushes the nest that fills dst with the identity (in loop order ax[0..n)), unless the
 * statement accumulates.
 */
static int push_fill(lowerer *L, lp_prog *lp, const ir_stmt *s, const ir_access *dst, const int *ax, int n)
{
    if (s->accumulate)
        return 0;
    lp_node *fill = node(L, LP_STORE);
    if (!fill)
        return -1;
    fill->comb = s->comb;                       /* value NULL: dst = identity(comb) */
    fill->dst = dst;
    return push_nest(L, lp, wrap(L, ax, n, fill, true), dst, -1);
}

/*
 * The output axes in the GEMM nest's order: its outer free axes, then m, then n.  The fill
 * before it and the epilogue after it loop in this order, so that loop fusion can merge all
 * three down to the deepest outer free axis: a convolution then zeroes, accumulates and
 * finishes one output row while that row is in L1.
 */
static int *gemm_free_order(lowerer *L, const ir_stmt *s, const lp_node *gemm, const int *order, int n)
{
    int *ax = ARENA_ARRAY(L->c->A, int, s->nfree + 1), k = 0;
    if (!ax)
        return cc_nomem(L->c), NULL;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < s->nfree; j++)
            if (s->free[j] == order[i])
                ax[k++] = order[i];
    ax[k++] = gemm->m;
    ax[k++] = gemm->nn;
    return ax;
}

/*
 * Runs the GEMM inside its outer (batch, extra reduced) loops.  With no loop over a
 * further reduced axis around it, the GEMM writes dst itself (its first k block stores,
 * accumulate false), and no nest fills dst with zeros first: that fill wrote a whole
 * output the GEMM then read back ('bhid,bhjd->bhij', 100 MB of it).  Otherwise dst is
 * filled with zeros first and the GEMM adds into it.
 */
static int push_gemm(lowerer *L, lp_prog *lp, const ir_stmt *s, const ir_access *dst, lp_node *gemm,
                     const int *order, int n, const int *free_order)
{
    gemm->accumulate = s->accumulate;
    for (int i = 0; i < n; i++)
        gemm->accumulate |= !ir_access_uses(&s->out, order[i]);
    if (gemm->accumulate && push_fill(L, lp, s, dst, free_order, s->nfree) < 0)
        return -1;
    /*
     * parallel: the outermost batch loop, or else the GEMM's rows, also inside loops over
     * further reduced axes ('jik,kjl->il' runs 'for j { gemm m=i k=k }'): each thread then
     * runs every j for its own rows.
     */
    bool batch = n > 0 && ir_access_uses(&s->out, order[0]);
    gemm->parallel = !batch;
    lp_node *root = n ? wrap(L, order, n, gemm, batch) : gemm;
    for (lp_node *l = root; l && l->op == LP_LOOP; l = l->body[0])
        l->vector = false;      /* the GEMM vectorizes itself */
    if (push_nest(L, lp, root, dst, -1) < 0)
        return -1;
    /*
     * An 8- or 16-bit integer GEMM sums in int32 (codegen/llvm_gemm_int.c): its result
     * wraps modulo 2^8 or 2^16 as numpy's does, and both divide 2^32, so int32's wrapping
     * sums give the same low bits as int64's or exact ones would.
     */
    einc_dtype t = L->p->tensor[dst->tensor].dtype;
    if (t == EINC_I8 || t == EINC_U8 || t == EINC_I16 || t == EINC_U16)
        lp->nest[lp->nnest - 1].compute = EINC_I32;
    return 0;
}

/* An axis some input of x reads with unit stride, other than skip, or -1; *by is that input. */
static int input_unit_axis(const lowerer *L, const ir_expr *x, const ir_stmt *s, int skip, const ir_access **by)
{
    if (!x)
        return -1;
    if (x->op == IR_ACCESS) {
        for (int i = 0; i < s->nfree; i++)
            if (s->free[i] != skip && unit_stride(&x->acc, s->free[i])) {
                *by = &x->acc;
                return s->free[i];
            }
        return -1;
    }
    int a = input_unit_axis(L, x->a, s, skip, by);
    return a >= 0 ? a : input_unit_axis(L, x->b, s, skip, by);
}

enum { TRANSPOSE_TILE = 32 };

/*
 * A copy whose output and input are contiguous along different axes ('ij->ji',
 * 'b c h w -> b h w c') walks one of them with a large stride, a cache line per element.
 * Tiling both axes by 32 keeps a 32 x 32 tile's lines in L1, so each line is read and
 * written once: the loops are [other axes] [o-block] [r-block] r o, with o the output's
 * unit-stride axis innermost (contiguous, vectorizable stores).  The other axes nest in
 * the input's order, so that the tiles, one after another, read each input row on from
 * where the last stopped: a sequential stream the hardware prefetches.  The output side
 * then jumps from row to row; the JIT streams its stores around the caches, which makes
 * that cheap ('abcd->dcba' over 64 MiB: 1.9x faster in input order than in output order).
 */
static lp_node *transpose_tiles(lowerer *L, const ir_stmt *s, lp_node *body)
{
    if (s->nfree < 2)
        return NULL;
    int o = s->free[s->nfree - 1];
    if (!unit_stride(&s->out, o))
        return NULL;
    const ir_access *in = NULL;
    int r = input_unit_axis(L, s->rhs, s, o, &in);
    if (r < 0)
        return NULL;
    int *order = ARENA_ARRAY(L->c->A, int, s->nfree + 1), n = 0;
    if (!order)
        return cc_nomem(L->c), NULL;
    for (int i = 0; i < s->nfree; i++) {    /* insertion sort by the input's dimension */
        int a = s->free[i], j = n;
        if (a == o || a == r)
            continue;
        for (; j > 0 && ir_access_dim(in, order[j - 1]) > ir_access_dim(in, a); j--)
            order[j] = order[j - 1];
        order[j] = a;
        n++;
    }
    /* inner: for r (blocked) { for o (blocked, vector) { body } } */
    lp_node *inner_o = node(L, LP_LOOP), *inner_r = node(L, LP_LOOP);
    lp_node *blk_r = node(L, LP_LOOP), *blk_o = node(L, LP_LOOP);
    if (!inner_o || !inner_r || !blk_r || !blk_o || add_child(L, inner_o, body) < 0 ||
        add_child(L, inner_r, inner_o) < 0 || add_child(L, blk_r, inner_r) < 0 ||
        add_child(L, blk_o, blk_r) < 0)
        return NULL;
    inner_o->axis = o;
    inner_o->blocked = inner_o->vector = true;
    inner_r->axis = r;
    inner_r->blocked = true;
    blk_r->axis = r;
    /*
     * 32 elements, or 128 bytes of 1- and 2-byte ones: two whole cache lines of each row,
     * as 32 floats are.  A 32-byte run per row left each output line half written until
     * the sweep came back to it, long evicted.
     */
    size_t es = dtype_size(L->p->tensor[s->out.tensor].dtype);
    int tile = es == 1 || es == 2 ? TRANSPOSE_TILE * 4 / (int)es : TRANSPOSE_TILE;
    blk_r->tile = tile;
    blk_o->axis = o;
    blk_o->tile = tile;
    if (n == 0) {
        blk_o->parallel = true;
        return blk_o;
    }
    lp_node *root = wrap(L, order, n, blk_o, true);
    for (lp_node *l = root; l != blk_o; l = l->body[0])
        l->vector = false;
    return root;
}

static einc_dtype p_dtype(const lowerer *L, const ir_access *a) { return L->p->tensor[a->tensor].dtype; }

/*
 * The final expression in place, after a reduction accumulated in memory: dst = final(dst),
 * looping over the output axes in the order ax[0..nfree).
 */
static int push_final(lowerer *L, lp_prog *lp, const ir_stmt *s, const ir_stmt *fin, const ir_access *dst,
                      const int *ax)
{
    lp_node *f = node(L, LP_STORE);
    if (!f)
        return -1;
    f->comb = IR_COMB_ASSIGN;
    f->dst = dst;
    f->value = fin->rhs;
    f->acc_tensor = s->out.tensor;
    return push_nest(L, lp, wrap(L, ax, s->nfree, f, true), dst, s->out.tensor);
}

enum { PAIRWISE_MIN = 32 };

/*
 * Is a sum in a register added up pairwise (lp_node.pairwise)?  One accumulator (or one
 * per vector lane) has an error bound that grows with the length n, O(eps n / lanes);
 * block sums combined in a cascade keep it at O(eps (block / lanes + log2 n)), as numpy's
 * pairwise sum does.  A float sum of more than PAIRWISE_MIN elements is pairwise, and so is
 * one whose length is known only when it runs: the JIT's code serves every size.  Integer
 * sums are exact (they wrap), so they never are.
 */
static bool pairwise(const lowerer *L, const ir_stmt *s, const ir_access *dst)
{
    if ((s->comb != IR_COMB_SUM && s->comb != IR_COMB_MEAN) || !dtype_is_float(compute_type(L->p, dst)))
        return false;
    int64_t n = 1;
    for (int i = 0; i < s->nred; i++) {
        const ir_axis *a = &L->p->axis[s->red[i]];
        bool fixed = a->size >= 0 && (a->given || a->literal || L->target == LP_GPU);
        if (!fixed || a->size > PAIRWISE_MIN)
            return true;
        n *= a->size;
        if (n > PAIRWISE_MIN)
            return true;
    }
    return false;
}

static int lower_stmt(lowerer *L, lp_prog *lp, const ir_stmt *s, const ir_stmt *fin)
{
    arena *A = L->c->A;
    const ir_access *dst = fin ? &fin->out : &s->out;
    int nax = s->nfree + s->nred;
    int *order = ARENA_ARRAY(A, int, nax + 1);
    if (!order)
        return cc_nomem(L->c);

    if (!s->nred) {                             /* elementwise: write in output order */
        lp_node *st = node(L, LP_STORE);
        if (!st)
            return -1;
        st->comb = s->accumulate ? s->comb : IR_COMB_ASSIGN;
        st->dst = &s->out;
        st->value = s->rhs;
        lp_node *tiled = L->target == LP_CPU ? transpose_tiles(L, s, st) : NULL;
        if (L->c->failed)
            return -1;
        return push_nest(L, lp, tiled ? tiled : wrap(L, s->free, s->nfree, st, true), &s->out, -1);
    }

    /*
     * A contraction into a unit-stride output axis: the GEMM tile, whatever the scores say.
     * An epilogue (a bias, a batch norm, a relu) then runs as one pass over the output.
     */
    for (int i = 0; i < s->nfree && L->target == LP_CPU; i++) {
        int n = 0;
        if (!unit_stride(dst, s->free[i]) ||
            (fin && p_dtype(L, dst) != p_dtype(L, &s->out)))
            continue;
        lp_node *gemm = match_gemm(L, s, s->free[i], dst, order, &n);
        if (!gemm)
            continue;
        int *ax = gemm_free_order(L, s, gemm, order, n);
        if (!ax || push_gemm(L, lp, s, dst, gemm, order, n, ax) < 0)
            return -1;
        return fin ? push_final(L, lp, s, fin, dst, ax) : 0;
    }

    int best = -1, best_score = 0;
    bool best_red = false;
    for (int i = 0; i < nax; i++) {
        int a = i < s->nfree ? s->free[i] : s->red[i - s->nfree];
        int sc = score_expr(L, s->rhs, a) + (unit_stride(&s->out, a) ? 1 : 0);
        if (sc > best_score || (sc == best_score && sc > 0 && i >= s->nfree && !best_red)) {
            best = a;
            best_score = sc;
            best_red = i >= s->nfree;
        }
    }

    /* a 16-bit float output accumulated in memory would round at every step: it sums in a
       float32 register and rounds once (README, "Dtypes") */
    if (best < 0 || best_red || L->target == LP_GPU || dtype_is_half(p_dtype(L, dst))) {
        /* register: for free { acc = id; for red { acc ⊕= rhs }; dst = final(acc) } */
        int n = 0;
        for (int i = 0; i < s->nred; i++)
            if (s->red[i] != best || !best_red)
                order[n++] = s->red[i];
        if (best >= 0 && best_red)
            order[n++] = best;
        lp_node *up = node(L, LP_UPDATE), *acc = node(L, LP_ACC);
        if (!up || !acc)
            return -1;
        up->value = s->rhs;
        up->comb = s->comb;
        acc->comb = s->comb;
        acc->accumulate = s->accumulate;
        acc->dst = dst;
        acc->final = fin ? fin->rhs : NULL;
        acc->acc_tensor = fin ? s->out.tensor : -1;
        acc->pairwise = pairwise(L, s, dst);
        if (add_child(L, acc, wrap(L, order, n, up, false)) < 0)
            return -1;
        return push_nest(L, lp, wrap(L, s->free, s->nfree, acc, true), dst, acc->acc_tensor);
    }

    /* memory: fill dst with the identity, then update it in place with best innermost. */
    lp_node *up = node(L, LP_STORE);
    if (!up || push_fill(L, lp, s, dst, s->free, s->nfree) < 0)
        return -1;
    int n = 0;
    for (int i = 0; i < s->nfree; i++)
        if (s->free[i] != best)
            order[n++] = s->free[i];
    bool par = n > 0;
    for (int i = 0; i < s->nred; i++)
        order[n++] = s->red[i];
    order[n++] = best;
    up->comb = s->comb;
    up->dst = dst;
    up->value = s->rhs;
    if (push_nest(L, lp, wrap(L, order, n, up, par), dst, -1) < 0)
        return -1;
    return fin ? push_final(L, lp, s, fin, dst, s->free) : 0;
}

/* ---- loop fusion --------------------------------------------------------------------------
 *
 * Adjacent nests whose roots loop over the same axis merge into one loop when each
 * iteration touches only its own slice of what they share: then a softmax's max, exp-sum
 * and division (or a layernorm's mean, variance and normalisation) run row by row while
 * the row is in L1, instead of as passes over the whole array.  The test is simple and
 * sufficient: every tensor that one of the two writes and the other touches must be
 * indexed, in every access of both, by the fused axis alone in one and the same dimension
 * (m[r], e[r, c]), so iteration r of the second reads only what iteration r of the first
 * wrote.  Merged loops then merge their children the same way, level by level.
 */

typedef struct touch {
    const ir_access *a;
    bool write;
} touch;

typedef struct touches {
    touch *t;
    int n, cap;
    arena *A;
    const bool *acc;            /* accumulators are registers: no memory touched */
    bool nomem;
} touches;

static void add_touch(touches *T, const ir_access *a, bool write)
{
    if (T->n == T->cap) {
        int cap = T->cap ? 2 * T->cap : 16;
        touch *t = ARENA_ARRAY(T->A, touch, cap);
        if (!t) {
            T->nomem = true;
            return;
        }
        if (T->n)
            memcpy(t, T->t, sizeof *t * (size_t)T->n);
        T->t = t;
        T->cap = cap;
    }
    T->t[T->n++] = (touch){ a, write };
}

static void expr_touches(touches *T, const ir_expr *x)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS) {
        if (!T->acc[x->acc.tensor])
            add_touch(T, &x->acc, false);
        return;
    }
    expr_touches(T, x->a);
    expr_touches(T, x->b);
}

static void node_touches(touches *T, const lp_node *n)
{
    expr_touches(T, n->value);
    expr_touches(T, n->final);
    if (n->dst)
        add_touch(T, n->dst, true);
    if (n->a)
        add_touch(T, n->a, false);
    if (n->b)
        add_touch(T, n->b, false);
    if (n->op == LP_STORE && n->value && n->comb != IR_COMB_ASSIGN)
        add_touch(T, n->dst, false);
    for (int i = 0; i < n->n; i++)
        node_touches(T, n->body[i]);
}

/* The dimension access a indexes by axis x alone (and x nowhere else), or -1. */
static int slice_dim(const ir_access *a, int x) { return a->guard ? -1 : ir_sole_dim(a, x); }

static bool writes(const touches *T, int tensor)
{
    for (int i = 0; i < T->n; i++)
        if (T->t[i].write && T->t[i].a->tensor == tensor)
            return true;
    return false;
}

/* May loops x and y (same axis, x first) become one loop with x's body, then y's? */
static bool fusable_loops(lowerer *L, const lp_node *x, const lp_node *y)
{
    if (x->op != LP_LOOP || y->op != LP_LOOP || x->axis != y->axis || x->tile || y->tile ||
        x->blocked || y->blocked || x->parallel != y->parallel)
        return false;
    touches tx = { .A = L->c->A, .acc = L->acc }, ty = { .A = L->c->A, .acc = L->acc };
    node_touches(&tx, x);
    node_touches(&ty, y);
    if (tx.nomem || ty.nomem)
        return false;
    const touches *both[2] = { &tx, &ty };
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < both[side]->n; i++) {
            int t = both[side]->t[i].a->tensor;
            const touches *other = both[1 - side];
            bool shared = false;
            for (int j = 0; j < other->n && !shared; j++)
                shared = other->t[j].a->tensor == t;
            if (!shared || !(writes(&tx, t) || writes(&ty, t)))
                continue;
            int d = slice_dim(both[side]->t[i].a, x->axis);
            if (d < 0)
                return false;
            for (int s2 = 0; s2 < 2; s2++)
                for (int j = 0; j < both[s2]->n; j++)
                    if (both[s2]->t[j].a->tensor == t && slice_dim(both[s2]->t[j].a, x->axis) != d)
                        return false;
        }
    return true;
}

static lp_node *merge_loops(lowerer *L, const lp_node *x, const lp_node *y);

/* Does x read an accumulator (is it a reduction's final expression)? */
static bool reads_acc(const lowerer *L, const ir_expr *x)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return L->acc[x->acc.tensor];
    return reads_acc(L, x->a) || reads_acc(L, x->b);
}

bool lp_touches(const lp_node *n, int t)
{
    if (ir_expr_reads(n->value, t) || ir_expr_reads(n->final, t) || (n->dst && n->dst->tensor == t) ||
        (n->a && n->a->tensor == t) || (n->b && n->b->tensor == t))
        return true;
    for (int i = 0; i < n->n; i++)
        if (lp_touches(n->body[i], t))
            return true;
    return false;
}

/*
 * A loop of stores followed by a reduction over the same axis that reads what they stored
 * (softmax's e = exp(x - max), then Σ e): the stores move into the reduction's loop, so the
 * row is walked once for both.  Only the accumulator's start value moves before the stores,
 * so the stores must not touch the reduction's destination; nor may they be finals of
 * their own (after a GEMM, t = acc / 8 reads dst), whose accumulator would become the
 * ACC's register.  Returns the new ACC or NULL.
 */
static lp_node *merge_into_acc(lowerer *L, const lp_node *x, const lp_node *y)
{
    if (x->op != LP_LOOP || y->op != LP_ACC || y->n != 1 || y->body[0]->op != LP_LOOP ||
        y->body[0]->n != 1 || y->body[0]->body[0]->op != LP_UPDATE)
        return NULL;
    for (int i = 0; i < x->n; i++)
        if (x->body[i]->op != LP_STORE || reads_acc(L, x->body[i]->value) ||
            lp_touches(x->body[i], y->dst->tensor) ||
            (y->final && lp_touches(x->body[i], y->acc_tensor)))
            return NULL;
    if (!fusable_loops(L, x, y->body[0]))
        return NULL;
    lp_node *a = node(L, LP_ACC), *m = merge_loops(L, x, y->body[0]);
    lp_node **b = ARENA_ARRAY(L->c->A, lp_node *, 1);
    if (!a || !m || !b)
        return cc_nomem(L->c), NULL;
    *a = *y;
    b[0] = m;
    a->body = b;
    return a;
}

/* Merges adjacent fusable loops among n's children, in place. */
static int merge_children(lowerer *L, lp_node *n)
{
    for (int i = 0; i + 1 < n->n;) {
        lp_node *m = NULL;
        if (fusable_loops(L, n->body[i], n->body[i + 1]))
            m = merge_loops(L, n->body[i], n->body[i + 1]);
        else if (!(m = merge_into_acc(L, n->body[i], n->body[i + 1])) && !L->c->failed) {
            i++;
            continue;
        }
        if (!m)
            return -1;
        n->body[i] = m;
        memmove(&n->body[i + 1], &n->body[i + 2], sizeof *n->body * (size_t)(n->n - i - 2));
        n->n--;
    }
    return 0;
}

static lp_node *merge_loops(lowerer *L, const lp_node *x, const lp_node *y)
{
    lp_node *m = node(L, LP_LOOP);
    lp_node **body = ARENA_ARRAY(L->c->A, lp_node *, x->n + y->n);
    if (!m || !body)
        return cc_nomem(L->c), NULL;
    *m = *x;
    memcpy(body, x->body, sizeof *body * (size_t)x->n);
    memcpy(body + x->n, y->body, sizeof *body * (size_t)y->n);
    m->body = body;
    m->n = x->n + y->n;
    for (int i = 0; i < m->n; i++)      /* still innermost only if every child is a store */
        m->vector = m->vector && (m->body[i]->op == LP_STORE || m->body[i]->op == LP_UPDATE);
    return merge_children(L, m) < 0 ? NULL : m;
}

/* Does any reduction under n keep its result where dst misses one of the axes ax[0..nax)? */
static bool shared_dst(const lp_node *n, const int *ax, int nax)
{
    if (n->op == LP_ACC || (n->op == LP_STORE && n->value && n->comb != IR_COMB_ASSIGN))
        for (int i = 0; i < nax; i++)
            if (!ir_access_uses(n->dst, ax[i]))
                return true;
    for (int i = 0; i < n->n; i++)
        if (shared_dst(n->body[i], ax, nax))
            return true;
    return false;
}

/*
 * Whether the CUDA generator takes a fused root: it runs the loops down to the first one
 * with several children as the grid, one element a thread, and the rest in each thread
 * (codegen/cuda.c: cg_cuda_flat), so each reduction's dst must use every grid axis, or
 * two threads would update one element.
 */
static bool gpu_takes(lowerer *L, const lp_node *root)
{
    int k = 0;
    for (const lp_node *n = root; n->op == LP_LOOP; n = n->body[0]) {
        k++;
        if (n->n != 1)
            break;
    }
    int *ax = ARENA_ARRAY(L->c->A, int, k + 1);
    if (!ax)
        return cc_nomem(L->c), false;
    k = 0;
    for (const lp_node *n = root; n->op == LP_LOOP; n = n->body[0]) {
        ax[k++] = n->axis;
        if (n->n != 1)
            break;
    }
    return !shared_dst(root, ax, k);
}

static int fuse_nests(lowerer *L, lp_prog *lp)
{
    int out = 0;
    for (int i = 0; i < lp->nnest; i++) {
        if (out > 0) {
            lp_nest *a = &lp->nest[out - 1], *b = &lp->nest[i];
            if (a->compute == b->compute && fusable_loops(L, a->root, b->root)) {
                lp_node *m = merge_loops(L, a->root, b->root);
                if (!m)
                    return -1;
                if (L->target == LP_GPU && !gpu_takes(L, m)) {
                    if (L->c->failed)
                        return -1;
                    lp->nest[out++] = lp->nest[i];
                    continue;
                }
                a->root = m;
                continue;
            }
        }
        lp->nest[out++] = lp->nest[i];
    }
    lp->nnest = out;
    return 0;
}

lp_prog *lower(cc *c, const ir_prog *p, lp_target target, const bool *strided)
{
    lowerer L = { c, p, target, strided, ARENA_ARRAY(c->A, bool, p->ntensor + 1) };
    lp_prog *lp = ARENA_NEW(c->A, lp_prog);
    if (!lp || !L.acc)
        return cc_nomem(c), NULL;
    lp->ir = p;
    lp->acc = L.acc;
    int *order = stmt_order(c->A, p);
    if (!order)
        return cc_nomem(c), NULL;
    for (int i = 0; i < p->nstmt; i++) {
        const ir_stmt *s = &p->stmt[order[i]], *fin = NULL;
        if (i + 1 < p->nstmt && fusable(p, order[i], order[i + 1]))
            fin = &p->stmt[order[++i]];
        if (lower_stmt(&L, lp, s, fin) < 0)
            return NULL;
    }
    if (fuse_nests(&L, lp) < 0)
        return NULL;
    return lp;
}

ir_mono *lp_strides(arena *A, const ir_tensor *t)
{
    ir_mono *s = ARENA_ARRAY(A, ir_mono, t->ndim + 1);
    if (!s)
        return NULL;
    int total = 0;
    for (int d = 0; d < t->ndim; d++)
        total += t->shape[d].n;
    for (int d = 0; d < t->ndim; d++) {
        int *v = ARENA_ARRAY(A, int, total + 1), n = 0;
        int64_t k = 1;
        if (!v)
            return NULL;
        for (int e = d + 1; e < t->ndim; e++) {
            k *= t->shape[e].k;
            for (int i = 0; i < t->shape[e].n; i++)
                v[n++] = t->shape[e].v[i];
        }
        s[d] = (ir_mono){ k, n, v };
    }
    return s;
}

int lp_parallel_axis(const lp_node *r)
{
    if (r->op == LP_LOOP && r->parallel)
        return r->axis;
    while (r->op == LP_LOOP && r->n == 1)   /* a GEMM's reduced loops (push_gemm) */
        r = r->body[0];
    if (r->op == LP_GEMM && r->parallel)
        return r->m;
    return -1;
}
