/*
 * path.c — n-ary contraction order: einsum with three or more operands as a sequence of
 * pairwise contractions through temporaries, when that is cheaper than one loop nest.
 *
 * The cost model is numpy's einsum_path: a pairwise step costs the product of the sizes of
 * every axis either operand has (times 2 when something is summed), and a step's result
 * keeps the axes that a later operand or the output still needs.  Up to 6 operands the
 * order is optimal: dynamic programming over subsets of operands (best[S] = the cheapest
 * split of S into two contracted halves), which is exact for this cost because the cost of
 * contracting two sets depends only on the sets.  Beyond 6 operands it is greedy (always
 * the cheapest pair), as opt_einsum's 'greedy'.  Intermediates larger than max_elems are
 * not allowed; when no order fits, or when the single nest is no more expensive, the
 * statement stays as it was.  The obvious alternative, contracting left to right, is what
 * makes numpy's optimize=False 'ijk,jl,kl->il' cost I*J*K*L per output element.
 */
#include "ir.h"
#include "strbuf.h"
#include "alloc.h"

#include <stdio.h>

#include <string.h>

enum { PATH_OPTIMAL_MAX = 6, PATH_MAX_OPS = 24 };

typedef uint64_t axset;             /* one bit per axis; programs with > 64 axes are left alone */

typedef struct pathctx {
    cc *c;
    const ir_prog *p;
    int nop;
    axset op[PATH_MAX_OPS];         /* each operand's axes */
    axset out;                      /* the output's axes */
    int64_t max_elems;
    const int64_t *size;            /* per axis: the size the costs assume */
} pathctx;

static bool plain_access(const ir_access *a, axset *s)
{
    *s = 0;
    for (int d = 0; d < a->ndim; d++) {
        const ir_dim *dim = &a->dim[d];
        if (dim->n == 0)
            continue;               /* a broadcast or unit dimension */
        int ax = ir_dim_axis(dim);
        if (ax < 0 || ax >= 64)
            return false;
        *s |= (axset)1 << ax;
    }
    return true;
}

static double set_size(const pathctx *P, axset s)
{
    double n = 1;
    for (int a = 0; a < P->p->naxis; a++)
        if (s >> a & 1)
            n *= (double)P->size[a];
    return n;
}

/* The axes a contraction of the operand set `ops` keeps: those the rest or the output need. */
static axset kept(const pathctx *P, unsigned ops, axset have)
{
    axset need = P->out;
    for (int i = 0; i < P->nop; i++)
        if (!(ops >> i & 1))
            need |= P->op[i];
    return have & need;
}

static axset axes_of(const pathctx *P, unsigned ops)
{
    axset s = 0;
    for (int i = 0; i < P->nop; i++)
        if (ops >> i & 1)
            s |= P->op[i];
    return s;
}

static double step_cost(const pathctx *P, axset l, axset r, axset keep)
{
    axset all = l | r;
    return set_size(P, all) * (all != keep ? 2 : 1);
}

/* A contraction tree: leaves are operands, inner nodes pairwise steps. */
typedef struct pnode {
    int leaf;                       /* operand index, or -1 */
    struct pnode *l, *r;
    axset keep;                     /* the axes of this node's result */
    unsigned ops;
} pnode;

static pnode *leaf(arena *A, const pathctx *P, int i)
{
    pnode *n = ARENA_NEW(A, pnode);
    if (n) {
        n->leaf = i;
        n->ops = 1u << i;
        n->keep = P->op[i];
    }
    return n;
}

static pnode *join(arena *A, const pathctx *P, pnode *l, pnode *r)
{
    pnode *n = ARENA_NEW(A, pnode);
    if (n) {
        n->leaf = -1;
        n->l = l;
        n->r = r;
        n->ops = l->ops | r->ops;
        n->keep = kept(P, n->ops, l->keep | r->keep);
    }
    return n;
}

/* Optimal: DP over subsets.  Returns the total cost, or -1 when nothing fits max_elems. */
static double optimal(arena *A, const pathctx *P, pnode **tree)
{
    unsigned full = (1u << P->nop) - 1;
    double *best = ARENA_ARRAY(A, double, full + 1);
    unsigned *split = ARENA_ARRAY(A, unsigned, full + 1);
    if (!best || !split)
        return cc_nomem(P->c), -1;
    for (unsigned s = 1; s <= full; s++) {
        best[s] = -1;
        if (!(s & (s - 1))) {       /* one operand */
            best[s] = 0;
            continue;
        }
        for (unsigned l = (s - 1) & s; l; l = (l - 1) & s) {
            unsigned r = s ^ l;
            if (l < r || best[l] < 0 || best[r] < 0)
                continue;           /* each split once */
            axset kl = kept(P, l, axes_of(P, l)), kr = kept(P, r, axes_of(P, r));
            axset k = kept(P, s, kl | kr);
            if (s != full && set_size(P, k) > (double)P->max_elems)
                continue;
            double c = best[l] + best[r] + step_cost(P, kl, kr, k);
            if (best[s] < 0 || c < best[s]) {
                best[s] = c;
                split[s] = l;
            }
        }
    }
    if (best[full] < 0)
        return -1;
    /* rebuild the tree */
    typedef struct todo {
        unsigned s;
        pnode **slot;
    } todo;
    todo work[4 * PATH_MAX_OPS];
    int nw = 0;
    work[nw++] = (todo){ full, tree };
    while (nw) {
        unsigned s = work[--nw].s;
        pnode **slot = work[nw].slot;
        if (!(s & (s - 1))) {
            int i = __builtin_ctz(s);
            *slot = leaf(A, P, i);
            if (!*slot)
                return cc_nomem(P->c), -1;
            continue;
        }
        pnode *n = ARENA_NEW(A, pnode);
        if (!n)
            return cc_nomem(P->c), -1;
        n->leaf = -1;
        n->ops = s;
        *slot = n;
        work[nw++] = (todo){ split[s], &n->l };
        work[nw++] = (todo){ s ^ split[s], &n->r };
    }
    return best[full];
}

static void fix_keeps(const pathctx *P, pnode *n)
{
    if (n->leaf >= 0)
        return;
    fix_keeps(P, n->l);
    fix_keeps(P, n->r);
    n->keep = kept(P, n->ops, n->l->keep | n->r->keep);
}

/* Greedy: always contract the cheapest pair next. */
static double greedy(arena *A, const pathctx *P, pnode **tree)
{
    pnode *live[PATH_MAX_OPS];
    int n = P->nop;
    for (int i = 0; i < n; i++)
        if (!(live[i] = leaf(A, P, i)))
            return cc_nomem(P->c), -1;
    double total = 0;
    while (n > 1) {
        int bi = -1, bj = -1;
        double bc = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                unsigned s = live[i]->ops | live[j]->ops;
                axset k = kept(P, s, live[i]->keep | live[j]->keep);
                if (n > 2 && set_size(P, k) > (double)P->max_elems)
                    continue;
                double c = step_cost(P, live[i]->keep, live[j]->keep, k);
                if (bi < 0 || c < bc) {
                    bi = i;
                    bj = j;
                    bc = c;
                }
            }
        if (bi < 0)
            return -1;
        pnode *m = join(A, P, live[bi], live[bj]);
        if (!m)
            return cc_nomem(P->c), -1;
        total += bc;
        live[bi] = m;
        live[bj] = live[--n];
    }
    *tree = live[0];
    return total;
}

/* ---- rewriting the program ----------------------------------------------------------- */

typedef struct rewriter {
    cc *c;
    ir_prog *p;
    const ir_stmt *orig;
    const ir_access *opacc;         /* the original operands' accesses */
    ir_tensor *tensors;             /* the new tensor table */
    int ntensor;
    ir_stmt *stmts;
    int nstmt;
} rewriter;

static int *axis_list(arena *A, const ir_prog *p, axset s, int *n)
{
    int *v = ARENA_ARRAY(A, int, p->naxis + 1);
    *n = 0;
    for (int a = 0; v && a < p->naxis; a++)
        if (s >> a & 1)
            v[(*n)++] = a;
    return v;
}

/*
 * T becomes a temporary named "<prefix><number>" of dtype dt over the axes ax[0..n), one
 * dimension each, tensor index; *acc is its access in that order.  Returns -1 out of memory.
 */
static int new_temp(arena *A, ir_tensor *T, ir_access *acc, int index, const char *prefix, int number,
                    einc_dtype dt, const int *ax, int n)
{
    char name[24];
    snprintf(name, sizeof name, "%s%d", prefix, number);
    T->name = arena_strndup(A, name, strlen(name));
    T->role = IR_TEMP;
    T->dtype = dt;
    T->ndim = n;
    T->begin = T->end = -1;
    T->shape = ARENA_ARRAY(A, ir_mono, n + 1);
    ir_dim *dims = ARENA_ARRAY(A, ir_dim, n + 1);
    ir_term *terms = ARENA_ARRAY(A, ir_term, n + 1);
    int *vs = ARENA_ARRAY(A, int, n + 1);
    if (!T->name || !T->shape || !dims || !terms || !vs)
        return -1;
    for (int i = 0; i < n; i++) {
        vs[i] = ax[i];
        T->shape[i] = (ir_mono){ 1, 1, &vs[i] };
        terms[i] = (ir_term){ ax[i], { 1, 0, NULL } };
        dims[i] = (ir_dim){ 1, &terms[i], 0 };
    }
    *acc = (ir_access){ .tensor = index, .ndim = n, .dim = dims };
    return 0;
}

/* The first dimension of a that uses axis x, or a->ndim when none does (it sorts last). */
static int dim_of(const ir_access *a, int x)
{
    int d = ir_access_dim(a, x);
    return d < 0 ? a->ndim : d;
}

/*
 * Emits the statements for node n; returns the access that reads its result.  sib: the
 * operand n's result is contracted with next, when that is an input, or NULL.
 */
static ir_access *emit_node(rewriter *R, const pathctx *P, pnode *n, bool root, const ir_access *sib)
{
    arena *A = R->c->A;
    if (n->leaf >= 0) {
        ir_access *a = ARENA_NEW(A, ir_access);
        if (a)
            *a = R->opacc[n->leaf];
        return a;
    }
    ir_access *la = emit_node(R, P, n->l, false, n->r->leaf >= 0 ? &R->opacc[n->r->leaf] : NULL);
    ir_access *ra = emit_node(R, P, n->r, false, n->l->leaf >= 0 ? &R->opacc[n->l->leaf] : NULL);
    if (!la || !ra)
        return NULL;
    ir_stmt *st = &R->stmts[R->nstmt++];
    ir_expr *x = ARENA_NEW(A, ir_expr), *xl = ARENA_NEW(A, ir_expr), *xr = ARENA_NEW(A, ir_expr);
    if (!x || !xl || !xr)
        return NULL;
    xl->op = xr->op = IR_ACCESS;
    xl->acc = *la;
    xr->acc = *ra;
    x->op = IR_MUL;
    x->a = xl;
    x->b = xr;
    st->rhs = x;
    axset all = n->l->keep | n->r->keep;
    int nred;
    st->red = axis_list(A, R->p, all & ~n->keep, &nred);
    st->nred = nred;
    st->comb = nred ? IR_COMB_SUM : IR_COMB_ASSIGN;
    if (root) {
        st->out = R->orig->out;
        st->out.tensor = -1;        /* the output: its index is known once the temporaries are */
        st->free = R->orig->free;
        st->nfree = R->orig->nfree;
        return &st->out;
    }
    /* a temporary over the kept axes, in the order the operands name them */
    int nk = 0, *ka = ARENA_ARRAY(A, int, R->p->naxis + 1);
    if (!ka)
        return NULL;
    for (int side = 0; side < 2; side++) {
        const ir_access *a = side ? ra : la;
        for (int d = 0; d < a->ndim; d++)
            if (a->dim[d].n == 1) {
                int ax = a->dim[d].t[0].axis;
                bool seen = false;
                for (int i = 0; i < nk; i++)
                    seen |= ka[i] == ax;
                if (!seen && (n->keep >> ax & 1))
                    ka[nk++] = ax;
            }
    }
    /*
     * The axes the next step shares with its other operand come in that operand's order
     * (insertion sort, the rest after them): the next step's GEMM then runs over them as
     * one k and packs the temporary's rows in memory order ('ijk,jl,kl->il' with in0[i, j,
     * k]: t0[j, k, l], not t0[k, j, l]).
     */
    for (int i = 1; sib && i < nk; i++) {
        int ax = ka[i], j = i;
        for (; j > 0 && dim_of(sib, ka[j - 1]) > dim_of(sib, ax); j--)
            ka[j] = ka[j - 1];
        ka[j] = ax;
    }
    /*
     * The result's unit-stride axis, when the temporary keeps it, goes last: then the next
     * step reads it with unit stride (a GEMM's columns, or an outer product's vector loop)
     * instead of transposing ('ijk,jl,kl->il': t0[k, j, l], not t0[k, l, j]).
     */
    const ir_access *ro = &R->orig->out;
    if (nk > 1 && ro->ndim > 0 && ro->dim[ro->ndim - 1].n == 1) {
        int u = ro->dim[ro->ndim - 1].t[0].axis;
        for (int i = 0; i + 1 < nk; i++)
            if (ka[i] == u) {
                memmove(&ka[i], &ka[i + 1], sizeof *ka * (size_t)(nk - 1 - i));
                ka[nk - 1] = u;
                break;
            }
    }
    ir_access *ta = ARENA_NEW(A, ir_access);
    if (!ta || new_temp(A, &R->tensors[R->ntensor], ta, R->ntensor, "t", R->nstmt - 1,
                        R->p->tensor[R->p->output].dtype, ka, nk) < 0)
        return NULL;
    R->ntensor++;
    st->out = *ta;
    st->free = ka;
    st->nfree = nk;
    return ta;
}

static void describe(strbuf *b, const pathctx *P, const pnode *n)
{
    if (n->leaf >= 0) {
        sb_printf(b, "in%d", n->leaf);
        return;
    }
    sb_printf(b, "(");
    describe(b, P, n->l);
    sb_printf(b, " ");
    describe(b, P, n->r);
    sb_printf(b, ")");
}

char *path_optimize(cc *c, ir_prog *p, int64_t max_elems, double *naive, double *opt, double *largest)
{
    *naive = *opt = *largest = 0;
    if (!p->bound)
        return NULL;
    return path_optimize_at(c, p, NULL, max_elems, naive, opt, largest);
}

char *path_optimize_at(cc *c, ir_prog *p, const int64_t *sizes, int64_t max_elems, double *naive,
                       double *opt, double *largest)
{
    *naive = *opt = *largest = 0;
    if (p->nstmt != 1 || p->ninput < 3 || p->ninput > PATH_MAX_OPS || p->naxis > 64)
        return NULL;
    const ir_stmt *s = &p->stmt[0];
    if (s->comb != IR_COMB_SUM && s->comb != IR_COMB_ASSIGN)
        return NULL;
    int64_t *size = ARENA_ARRAY(c->A, int64_t, p->naxis + 1);
    if (!size)
        return cc_nomem(c), NULL;
    for (int a = 0; a < p->naxis; a++)
        size[a] = sizes ? sizes[a] : p->axis[a].size;
    pathctx P = { .c = c, .p = p, .nop = p->ninput, .max_elems = max_elems > 0 ? max_elems : INT64_MAX,
                  .size = size };
    ir_access *opacc = ARENA_ARRAY(c->A, ir_access, p->ninput);
    if (!opacc)
        return cc_nomem(c), NULL;
    /* the right-hand side must be a left-folded product of the operands, in order */
    const ir_expr *x = s->rhs;
    for (int i = p->ninput - 1; i >= 0; i--) {
        const ir_expr *leafx = i ? x->b : x;
        if ((i && x->op != IR_MUL) || leafx->op != IR_ACCESS || leafx->acc.tensor != i ||
            !plain_access(&leafx->acc, &P.op[i]))
            return NULL;
        opacc[i] = leafx->acc;
        if (i)
            x = x->a;
    }
    if (!plain_access(&s->out, &P.out))
        return NULL;
    axset all = P.out;
    for (int i = 0; i < P.nop; i++)
        all |= P.op[i];
    *naive = set_size(&P, all) * (P.nop - 1) * (all != P.out ? 2 : 1);   /* as ir_flops */
    pnode *tree = NULL;
    double cost = P.nop <= PATH_OPTIMAL_MAX ? optimal(c->A, &P, &tree) : greedy(c->A, &P, &tree);
    if (cost < 0 && c->failed)
        return NULL;
    if (cost < 0 || !tree || cost >= *naive)
        return NULL;
    fix_keeps(&P, tree);
    *opt = cost;

    rewriter R = { .c = c, .p = p, .orig = s, .opacc = opacc };
    R.tensors = ARENA_ARRAY(c->A, ir_tensor, p->ntensor + P.nop);
    R.stmts = ARENA_ARRAY(c->A, ir_stmt, P.nop);
    if (!R.tensors || !R.stmts)
        return cc_nomem(c), NULL;
    memcpy(R.tensors, p->tensor, sizeof *R.tensors * (size_t)p->ninput);
    R.ntensor = p->ninput;
    int out_slot = p->ninput + P.nop - 2;   /* temporaries come before the output */
    ir_tensor out = p->tensor[p->output];
    if (!emit_node(&R, &P, tree, true, NULL))
        return cc_nomem(c), NULL;
    if (R.ntensor != out_slot) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "internal error: contraction path bookkeeping");
        return NULL;
    }
    R.tensors[R.ntensor] = out;
    R.stmts[R.nstmt - 1].out.tensor = R.ntensor;
    for (int t = p->ninput; t < R.ntensor; t++) {   /* at the sizes the costs assume */
        double e = 1;
        for (int d = 0; d < R.tensors[t].ndim; d++)
            for (int i = 0; i < R.tensors[t].shape[d].n; i++)
                e *= (double)size[R.tensors[t].shape[d].v[i]];
        if (e > *largest)
            *largest = e;
    }
    /* the description first: once the program is rewritten, nothing may fail */
    strbuf b = { 0 };
    describe(&b, &P, tree);
    char *d = sb_finish(&b);
    char *copy = d ? arena_strndup(c->A, d, strlen(d)) : NULL;
    einc_free(d);
    if (!copy) {
        cc_nomem(c);
        return NULL;
    }
    p->tensor = R.tensors;
    p->ntensor = R.ntensor + 1;
    p->output = R.ntensor;
    p->stmt = R.stmts;
    p->nstmt = R.nstmt;
    p->path = copy;
    return copy;
}

/* Every access to tensor from in x names tensor to instead. */
static void rename_tensor(ir_expr *x, int from, int to)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS && x->acc.tensor == from)
        x->acc.tensor = to;
    rename_tensor(x->a, from, to);
    rename_tensor(x->b, from, to);
}

/* The reduced axis of s that indexes the outermost dimension of an operand, or -1. */
static int outer_reduced(const ir_stmt *s, const ir_expr *x)
{
    if (!x)
        return -1;
    if (x->op != IR_ACCESS) {
        int a = outer_reduced(s, x->a);
        return a >= 0 ? a : outer_reduced(s, x->b);
    }
    for (int d = 0; d < x->acc.ndim; d++)
        for (int t = 0; t < x->acc.dim[d].n; t++)
            for (int r = 0; r < s->nred; r++)
                if (x->acc.dim[d].t[t].axis == s->red[r])
                    return s->red[r];
    return -1;
}

/*
 * The axis a full reduction s splits at (split_reductions), or -1 when it stays whole.  A
 * float prod stays whole, one element after another as numpy's: a row's partial product
 * can underflow to 0 and another's overflow to inf, and 0 * inf is NaN where numpy's
 * running product gives 0 or inf.
 */
static int split_axis(const ir_prog *p, const ir_stmt *s)
{
    if (s->nfree || s->nred < 2 || !dtype_is_float(p->tensor[s->out.tensor].dtype) ||
        (s->comb != IR_COMB_SUM && s->comb != IR_COMB_MAX && s->comb != IR_COMB_MIN))
        return -1;
    return outer_reduced(s, s->rhs);
}

/*
 * A pass that gives some statements a temporary: each statement pick chooses becomes two,
 * "temp ⊕= its right-hand side" (fill, which make writes, with the temporary's record T,
 * its tensor index and the number in its name) and then the statement reading the
 * temporary (make also drops from s the reduced axes fill took).  The temporaries go just
 * before the outputs, which stay last: every access to an output is renumbered.  make sees
 * the statement as it was (orig: its tensor numbers index p) and as it is now (s).
 * Returns 1 when it added any, 0 when none, -1 out of memory.
 */
typedef bool (*temp_pick)(const ir_prog *p, const ir_stmt *s);
typedef int (*temp_make)(arena *A, const ir_prog *p, const ir_stmt *orig, ir_stmt *s, ir_tensor *T,
                         int index, int number, ir_stmt *fill);

static int add_temps(cc *c, ir_prog *p, temp_pick pick, temp_make make)
{
    arena *A = c->A;
    int n = 0;
    for (int i = 0; i < p->nstmt; i++)
        n += pick(p, &p->stmt[i]);
    if (!n)
        return 0;
    int out = p->output, no = p->noutput, ns = 0, nt = out;
    ir_tensor *tensors = ARENA_ARRAY(A, ir_tensor, p->ntensor + n);
    ir_stmt *stmts = ARENA_ARRAY(A, ir_stmt, p->nstmt + n);
    if (!tensors || !stmts)
        return cc_nomem(c);
    memcpy(tensors, p->tensor, sizeof *tensors * (size_t)out);
    memcpy(tensors + out + n, p->tensor + out, sizeof *tensors * (size_t)no);
    for (int i = 0; i < p->nstmt; i++) {
        ir_stmt s = p->stmt[i];
        if (s.out.tensor >= out)
            s.out.tensor += n;
        for (int o = out + no - 1; o >= out; o--)    /* downwards: no two end up one */
            rename_tensor(s.rhs, o, o + n);
        if (!pick(p, &p->stmt[i])) {
            stmts[ns++] = s;
            continue;
        }
        ir_expr *x = ARENA_NEW(A, ir_expr);
        if (!x || make(A, p, &p->stmt[i], &s, &tensors[nt], nt, nt - out, &stmts[ns++]) < 0)
            return cc_nomem(c);
        x->op = IR_ACCESS;
        x->acc = stmts[ns - 1].out;
        s.rhs = x;
        stmts[ns++] = s;
        nt++;
    }
    p->tensor = tensors;
    p->ntensor = out + n + no;
    p->output = out + n;
    p->stmt = stmts;
    p->nstmt = ns;
    return 1;
}

/*
 * A reduction into float16 or bfloat16 that split_axis leaves whole sums into a float32
 * temporary wideN over the same free axes, then out = wideN rounds once (README, "Dtypes"):
 * accumulated in the output's own memory it would round at every step, and in a register
 * it could not take the vectorized in-memory form.
 */
static bool widen_pick(const ir_prog *p, const ir_stmt *s)
{
    return s->nred > 0 && dtype_is_half(p->tensor[s->out.tensor].dtype) && split_axis(p, s) < 0;
}

static int widen_make(arena *A, const ir_prog *p, const ir_stmt *orig, ir_stmt *s, ir_tensor *T,
                      int index, int number, ir_stmt *fill)
{
    (void)p;
    (void)orig;
    ir_access wa;
    if (new_temp(A, T, &wa, index, "wide", number, EINC_F32, s->free, s->nfree) < 0)
        return -1;
    *fill = (ir_stmt){ .out = wa, .comb = s->comb, .rhs = s->rhs, .nfree = s->nfree,
                       .free = s->free, .nred = s->nred, .red = s->red };
    s->nred = 0;                /* out = wide, or out ⊕= wide when it accumulates */
    s->red = NULL;
    return 0;
}

static bool split_pick(const ir_prog *p, const ir_stmt *s) { return split_axis(p, s) >= 0; }

/* part[r0] ⊕= rhs over the other reduced axes; then out ⊕= part[r0] */
static int split_make(arena *A, const ir_prog *p, const ir_stmt *orig, ir_stmt *s, ir_tensor *T,
                      int index, int number, ir_stmt *fill)
{
    int r0 = split_axis(p, orig);
    int *v = ARENA_ARRAY(A, int, 1), *red = ARENA_ARRAY(A, int, s->nred);
    ir_access pa;
    /* a 16-bit float's partials stay float32, so the result rounds once (README, "Dtypes") */
    einc_dtype dt = p->tensor[orig->out.tensor].dtype;
    if (!v || !red ||
        new_temp(A, T, &pa, index, "part", number, dtype_is_half(dt) ? EINC_F32 : dt, &r0, 1) < 0)
        return -1;
    *v = r0;
    int k = 0;
    for (int j = 0; j < s->nred; j++)
        if (s->red[j] != r0)
            red[k++] = s->red[j];
    *fill = (ir_stmt){ .out = pa, .comb = s->comb, .rhs = s->rhs, .nfree = 1, .free = v,
                       .nred = k, .red = red };
    s->nred = 1;
    s->red = v;
    return 0;
}

int split_reductions(cc *c, ir_prog *p)
{
    if (add_temps(c, p, widen_pick, widen_make) < 0)
        return -1;
    return add_temps(c, p, split_pick, split_make);
}
