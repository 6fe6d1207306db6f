/*
 * validate.c — the IR validators (validate.h): the invariants of docs/ARCHITECTURE.md §5
 * (index IR) and §6 (loop IR), checked between passes.
 *
 * Nothing here recurses.  An expression is first measured with ir_expr_depth (which stops
 * at IR_MAX_EXPR_DEPTH), then walked with a stack of that bound; a loop nest is walked with
 * one frame per level, at most LP_MAX_DEPTH of them.  So a broken program, even a cyclic
 * one, ends in an internal error, never in a stack overflow or a hang.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The deepest loop nest lowering makes: one loop per axis, two for a tiled axis (its tile
 * loop and its blocked loop), an ACC and a leaf.
 */
#define LP_MAX_DEPTH (2 * IR_MAX_AXES + 4)

enum { LP_KIND_COUNT = 0
#define X(id, text) +1
       LP_KINDS(X)
#undef X
};

bool validate_enabled(void)
{
    static int on = -1;         /* read once: a test may not flip it between passes */
    int v = __atomic_load_n(&on, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("EINC_VALIDATE");
#ifdef NDEBUG
        v = e && strcmp(e, "1") == 0;
#else
        v = !(e && strcmp(e, "0") == 0);
#endif
        __atomic_store_n(&on, v, __ATOMIC_RELAXED);
    }
    return v;
}

typedef struct V {
    cc *c;
    const ir_prog *p;
    const lp_prog *lp;          /* NULL while checking the index IR */
    const char *pass;
    char where[48];             /* "statement 2: ", "nest 1: " */
} V;

static bool bad(V *v, const char *fmt, ...) CC_PRINTF(2, 3);
static bool bad(V *v, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cc_error(v->c, EINC_ERR_INTERNAL, -1, -1, "internal error after %s: %s%s", v->pass, v->where,
             msg);
    return false;
}

static const char *tname(const V *v, int t)
{
    const char *n = v->p->tensor[t].name;
    return n ? n : "?";
}

static const char *aname(const V *v, int a)
{
    const char *n = v->p->axis[a].name;
    return n ? n : "?";
}

static bool mono_ok(V *v, const ir_mono *m, const char *what)
{
    if (m->n < 0 || (m->n > 0 && !m->v))
        return bad(v, "%s: a product of %d sizes", what, m->n);
    for (int i = 0; i < m->n; i++)
        if (m->v[i] < 0 || m->v[i] >= v->p->naxis)
            return bad(v, "%s: a size of axis %d, of %d", what, m->v[i], v->p->naxis);
    return true;
}

/*
 * Which axes an access or an expression may use: in the index IR the statement's free and
 * reduced axes; in the loop IR the loops around it (frames[0..depth)) and a GEMM's own.
 */
typedef struct frame {
    const lp_node *n;
    int next;                   /* the next child to visit */
    bool saw_blocked;           /* a tile loop: a blocked loop of its axis is inside */
} frame;

typedef struct scope {
    const ir_stmt *st;          /* index IR */
    const frame *fr;            /* loop IR */
    int depth;
    const lp_node *gemm;
    int acc_ok;                 /* the accumulator tensor this expression may read, or -1 */
} scope;

static bool in_list(const int *l, int n, int a)
{
    for (int i = 0; i < n; i++)
        if (l[i] == a)
            return true;
    return false;
}

static bool in_scope(const scope *s, int a)
{
    if (s->st)
        return in_list(s->st->free, s->st->nfree, a) || in_list(s->st->red, s->st->nred, a);
    for (int i = 0; i < s->depth; i++)
        if (s->fr[i].n->op == LP_LOOP && s->fr[i].n->axis == a)
            return true;
    const lp_node *g = s->gemm;
    return g && (a == g->m || a == g->nn || a == g->k || a == g->k2);
}

/* A padding as ir_print writes it: the value outside (ir.h). */
static const char *pad_text(ir_comb c)
{
    return c == IR_COMB_MAX ? "-inf" : c == IR_COMB_MIN ? "+inf" : c == IR_COMB_PROD ? "1" : "0";
}

static bool access_ok(V *v, const ir_access *a, const scope *s, bool store)
{
    if (a->tensor < 0 || a->tensor >= v->p->ntensor)
        return bad(v, "an access to tensor %d, of %d", a->tensor, v->p->ntensor);
    const ir_tensor *T = &v->p->tensor[a->tensor];
    if (a->ndim != T->ndim || (a->ndim > 0 && !a->dim))
        return bad(v, "an access to %s with %d indices; its rank is %d", tname(v, a->tensor),
                   a->ndim, T->ndim);
    if (store && a->guard)
        return bad(v, "a guarded store to %s", tname(v, a->tensor));
    if (a->pad != IR_COMB_SUM && a->pad != IR_COMB_MAX && a->pad != IR_COMB_MIN && a->pad != IR_COMB_PROD)
        return bad(v, "an access to %s padded with combiner %d", tname(v, a->tensor), (int)a->pad);
    if (a->pad != IR_COMB_SUM && !a->guard)
        return bad(v, "an unguarded access to %s padded with %s", tname(v, a->tensor), pad_text(a->pad));
    if (store && T->role == IR_INPUT)
        return bad(v, "a store to input %s", tname(v, a->tensor));
    for (int d = 0; d < a->ndim; d++) {
        const ir_dim *dim = &a->dim[d];
        if (dim->n < 0 || (dim->n > 0 && !dim->t))
            return bad(v, "index %d of %s has %d terms", d, tname(v, a->tensor), dim->n);
        for (int i = 0; i < dim->n; i++) {
            int x = dim->t[i].axis;
            if (x < 0 || x >= v->p->naxis)
                return bad(v, "index %d of %s uses axis %d, of %d", d, tname(v, a->tensor), x,
                           v->p->naxis);
            if (!mono_ok(v, &dim->t[i].coef, "a coefficient"))
                return false;
            if (!in_scope(s, x))
                return bad(v, s->st ? "%s uses axis %s, which is neither free nor reduced"
                                    : "%s uses axis %s outside a loop over it",
                           tname(v, a->tensor), aname(v, x));
        }
    }
    return true;
}

/* A read of an accumulator tensor (lp_prog.acc) stands for the accumulator: finals only. */
static bool acc_read_ok(V *v, const ir_access *a, const scope *s)
{
    if (!v->lp || !v->lp->acc[a->tensor] || a->tensor == s->acc_ok)
        return true;
    return bad(v, "accumulator %s read outside its reduction's final", tname(v, a->tensor));
}

typedef bool (*read_fn)(V *v, const ir_access *a, const scope *s, void *arg);

/*
 * x's operators, operands, accesses and axes; fp: the statement computes in floating point;
 * use: the combiner x's value goes to (IR_COMB_COUNT: none, a final).  A read padded with
 * another identity than 0 must be x itself, going to that combiner, so its padding is
 * combined away and never reaches a result (ir.h).
 */
static bool expr_ok(V *v, const ir_expr *x, const scope *s, bool fp, ir_comb use, read_fn read, void *arg)
{
    if (!x)
        return bad(v, "no expression");
    if (ir_expr_depth(x) > IR_MAX_EXPR_DEPTH)
        return bad(v, "an expression deeper than %d", IR_MAX_EXPR_DEPTH);
    const ir_expr *st[IR_MAX_EXPR_DEPTH + 2];
    int n = 0;
    st[n++] = x;
    while (n) {
        const ir_expr *e = st[--n];
        if ((unsigned)e->op >= IR_OP_COUNT)
            return bad(v, "an expression with operator %d, which is not an ir_op", (int)e->op);
        int arity = ir_op_arity(e->op);
        if ((arity >= 1) != (e->a != NULL) || (arity == 2) != (e->b != NULL))
            return bad(v, "'%s' with %d operands; it takes %d", ir_op_name(e->op),
                       (e->a != NULL) + (e->b != NULL), arity);
        switch (e->op) {
        case IR_ACCESS:
            if (!access_ok(v, &e->acc, s, false) || !acc_read_ok(v, &e->acc, s) ||
                (read && !read(v, &e->acc, s, arg)))
                return false;
            if (e->acc.pad != IR_COMB_SUM && e != x)
                return bad(v, "a read of %s padded with %s inside an expression", tname(v, e->acc.tensor),
                           pad_text(e->acc.pad));
            if (e->acc.pad != IR_COMB_SUM && e->acc.pad != use)
                return bad(v, "a read of %s padded with %s where its value goes to %s%s%s",
                           tname(v, e->acc.tensor), pad_text(e->acc.pad), use == IR_COMB_COUNT ? "" : "'",
                           use == IR_COMB_COUNT ? "a final" : ir_comb_name(use), use == IR_COMB_COUNT ? "" : "'");
            break;
        case IR_AXIS:
            if (e->axis < 0 || e->axis >= v->p->naxis)
                return bad(v, "the value of axis %d, of %d", e->axis, v->p->naxis);
            if (!in_scope(s, e->axis))
                return bad(v, "the value of axis %s, which is not in scope", aname(v, e->axis));
            break;
        case IR_SIZE:
            if (!mono_ok(v, &e->m, "a size"))
                return false;
            break;
        case IR_EXP: case IR_LOG: case IR_SQRT: case IR_RSQRT: case IR_TANH: case IR_ERF:
        case IR_SIGMOID:
            if (!fp)        /* it would pass its operand through (§5) */
                return bad(v, "float function %s in an integer statement", ir_op_name(e->op));
            break;
        case IR_CONST: case IR_MUL: case IR_ADD: case IR_SUB: case IR_DIV: case IR_DIVZ:
        case IR_MAX: case IR_MIN: case IR_EQ: case IR_NEG:
            break;
        case IR_OP_COUNT:
            return bad(v, "an expression with operator IR_OP_COUNT");
        }
        /* depth ≤ IR_MAX_EXPR_DEPTH: at most one waiting operand per level, plus this one */
        if (e->b)
            st[n++] = e->b;
        if (e->a)
            st[n++] = e->a;
    }
    return true;
}

/* ---- the index IR ------------------------------------------------------------------------- */

typedef struct written {
    int *first;                 /* per tensor: the first statement that writes it, or nstmt */
    int at;                     /* the statement being checked */
} written;

static bool read_after_write(V *v, const ir_access *a, const scope *s, void *arg)
{
    (void)s;
    const written *w = arg;
    if (v->p->tensor[a->tensor].role != IR_INPUT && w->first[a->tensor] >= w->at)
        return bad(v, "reads %s before any statement writes it", tname(v, a->tensor));
    return true;
}

static bool tables_ok(V *v)
{
    const ir_prog *p = v->p;
    if (p->naxis < 0 || p->ntensor < 0 || p->nstmt < 0 || p->ninput < 0 || p->nlabel < 0 ||
        (p->naxis && !p->axis) || (p->ntensor && !p->tensor) || (p->nstmt && !p->stmt) ||
        (p->nlabel && !p->label))
        return bad(v, "a table with a negative count or no storage");
    if (p->ninput > p->ntensor)
        return bad(v, "%d inputs among %d tensors", p->ninput, p->ntensor);
    if ((unsigned)p->kind > IR_MODEL || (unsigned)p->reduce >= IR_COMB_COUNT)
        return bad(v, "kind %d, reduce %d", (int)p->kind, (int)p->reduce);
    bool all = true;
    for (int a = 0; a < p->naxis; a++) {
        if (!p->axis[a].name)
            return bad(v, "axis %d has no name", a);
        if (p->axis[a].size < -1)
            return bad(v, "axis %s has size %lld", aname(v, a), (long long)p->axis[a].size);
        all &= p->axis[a].size >= 0;
    }
    if (p->bound != all)
        return bad(v, p->bound ? "bound, but a size is symbolic" : "not bound, but every size is known");
    if (p->noutput > 1 && (p->output < 0 || p->output + p->noutput > p->ntensor))
        return bad(v, "the outputs are tensors %d to %d, of %d", p->output,
                   p->output + p->noutput - 1, p->ntensor);
    if (p->noutput < 1)
        return bad(v, "%d outputs", p->noutput);
    if (p->output < 0 || p->output >= p->ntensor)
        return bad(v, "the output is tensor %d, of %d", p->output, p->ntensor);
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        if (!T->name)
            return bad(v, "tensor %d has no name", t);
        if ((unsigned)T->role > IR_OUTPUT || (unsigned)T->dtype >= EINC_DTYPE_COUNT)
            return bad(v, "tensor %s has role %d, dtype %d", T->name, (int)T->role, (int)T->dtype);
        static const char *const role[] = { "INPUT", "TEMP", "OUTPUT" };
        if ((T->role == IR_INPUT) != (t < p->ninput))
            return bad(v, "tensor %d (%s) has role %s, but the inputs are 0 to %d", t, T->name,
                       role[T->role], p->ninput - 1);
        if ((T->role == IR_OUTPUT) != (t >= p->output && t < p->output + p->noutput)) {
            if (p->noutput > 1)
                return bad(v, "tensor %d (%s) has role %s, but the outputs are tensors %d to %d",
                           t, T->name, role[T->role], p->output, p->output + p->noutput - 1);
            return bad(v, "tensor %d (%s) has role %s, but the output is tensor %d", t, T->name,
                       role[T->role], p->output);
        }
        if (T->ndim < 0 || (T->ndim > 0 && !T->shape))
            return bad(v, "tensor %s has rank %d", T->name, T->ndim);
        for (int d = 0; d < T->ndim; d++)
            if (!mono_ok(v, &T->shape[d], "a shape"))
                return false;
    }
    for (int i = 0; i < p->nlabel; i++) {
        int t = p->label[i].tensor;
        if (t < 0 || t >= p->ntensor || p->tensor[t].role == IR_OUTPUT)
            return bad(v, "label check %d on tensor %d, not an input or a temporary", i, t);
        if (dtype_is_float(p->tensor[t].dtype))
            return bad(v, "label check %d on %s, which holds %s", i, tname(v, t),
                       einc_dtype_name(p->tensor[t].dtype));
    }
    return true;
}

static bool stmt_ok(V *v, const ir_stmt *st, written *w)
{
    const ir_prog *p = v->p;
    scope s = { .st = st, .acc_ok = -1 };
    if (st->nfree < 0 || st->nred < 0 || (st->nfree && !st->free) || (st->nred && !st->red))
        return bad(v, "free or reduced axes with a negative count or no storage");
    for (int i = 0; i < st->nfree + st->nred; i++) {
        int a = i < st->nfree ? st->free[i] : st->red[i - st->nfree];
        if (a < 0 || a >= p->naxis)
            return bad(v, "%s axis %d, of %d", i < st->nfree ? "free" : "reduced", a, p->naxis);
        for (int j = 0; j < i; j++)
            if ((j < st->nfree ? st->free[j] : st->red[j - st->nfree]) == a)
                return bad(v, "axis %s is free or reduced twice", aname(v, a));
    }
    if ((unsigned)st->comb >= IR_COMB_COUNT)
        return bad(v, "combiner %d", (int)st->comb);
    if (st->comb == IR_COMB_MEAN)
        return bad(v, "a statement that combines with mean (a sum and a division)");
    if (!access_ok(v, &st->out, &s, true))
        return false;
    for (int i = 0; i < st->nfree; i++)
        if (!ir_access_uses(&st->out, st->free[i]))
            return bad(v, "free axis %s is not an index of %s", aname(v, st->free[i]),
                       tname(v, st->out.tensor));
    for (int d = 0; d < st->out.ndim; d++)
        for (int i = 0; i < st->out.dim[d].n; i++)
            if (!in_list(st->free, st->nfree, st->out.dim[d].t[i].axis))
                return bad(v, "%s is indexed by axis %s, which is not free",
                           tname(v, st->out.tensor), aname(v, st->out.dim[d].t[i].axis));
    if (st->accumulate && w->first[st->out.tensor] >= w->at)
        return bad(v, "accumulates into %s before any statement writes it",
                   tname(v, st->out.tensor));
    einc_dtype dt = p->tensor[st->out.tensor].dtype;
    if (!expr_ok(v, st->rhs, &s, dtype_is_float(dt), st->comb, read_after_write, w))
        return false;
    if (w->first[st->out.tensor] > w->at)
        w->first[st->out.tensor] = w->at;
    return true;
}

bool ir_validate(cc *c, const ir_prog *p, const char *pass)
{
    V v = { .c = c, .p = p, .pass = pass };
    if (!p)
        return bad(&v, "no program");
    if (!tables_ok(&v))
        return false;
    written w = { .first = ARENA_ARRAY(c->A, int, p->ntensor + 1) };
    if (!w.first)
        return cc_nomem(c), false;
    for (int t = 0; t < p->ntensor; t++)
        w.first[t] = p->nstmt;
    for (w.at = 0; w.at < p->nstmt; w.at++) {
        snprintf(v.where, sizeof v.where, "statement %d: ", w.at);
        if (!stmt_ok(&v, &p->stmt[w.at], &w))
            return false;
    }
    v.where[0] = 0;
    for (int o = p->output; o < p->output + p->noutput; o++)
        if (w.first[o] == p->nstmt)
            return bad(&v, "no statement writes the output %s", tname(&v, o));
    return true;
}

/* ---- the loop IR -------------------------------------------------------------------------- */

/*
 * Whether axis x walks access a with unit stride: in one term of one index, with coefficient
 * 1 (a composition's last member, as j in '(b j)', counts), every later index of length 1.
 * A coefficient or length known only at run time is taken as 1: it cannot be checked here.
 */
static bool unit_stride(const ir_prog *p, const ir_access *a, int x)
{
    int d = -1;
    for (int e = 0; e < a->ndim; e++)
        for (int i = 0; i < a->dim[e].n; i++) {
            if (a->dim[e].t[i].axis != x)
                continue;
            int64_t k = ir_mono_eval(p, &a->dim[e].t[i].coef);
            if (d >= 0 || (k >= 0 && k != 1))
                return false;
            d = e;
        }
    if (d < 0)
        return false;
    for (int e = d + 1; e < a->ndim; e++) {
        int64_t len = ir_mono_eval(p, &p->tensor[a->tensor].shape[e]);
        if (len >= 0 && len != 1)
            return false;
    }
    return true;
}

static bool gemm_ok(V *v, const lp_node *g, const frame *fr, int depth)
{
    const ir_prog *p = v->p;
    int ax[4] = { g->m, g->nn, g->k, g->k2 };
    for (int i = 0; i < 4; i++) {
        if ((i < 3 || ax[i] != -1) && (ax[i] < 0 || ax[i] >= p->naxis))
            return bad(v, "a GEMM over axis %d, of %d", ax[i], p->naxis);
        for (int j = 0; j < i; j++)
            if (ax[i] == ax[j])
                return bad(v, "a GEMM over axis %s twice", aname(v, ax[i]));
    }
    if (!g->dst || !g->a || !g->b)
        return bad(v, "a GEMM without dst, a or b");
    scope s = { .fr = fr, .depth = depth, .gemm = g, .acc_ok = -1 };
    if (!access_ok(v, g->dst, &s, true) || !access_ok(v, g->a, &s, false) ||
        !access_ok(v, g->b, &s, false) || !acc_read_ok(v, g->a, &s) || !acc_read_ok(v, g->b, &s))
        return false;
    if (g->a->pad != IR_COMB_SUM || g->b->pad != IR_COMB_SUM) {
        const ir_access *o = g->a->pad != IR_COMB_SUM ? g->a : g->b;
        return bad(v, "a GEMM operand, %s, padded with %s", tname(v, o->tensor), pad_text(o->pad));
    }
    if (!ir_access_uses(g->dst, g->m) || !ir_access_uses(g->dst, g->nn) ||
        ir_access_uses(g->dst, g->k) || (g->k2 >= 0 && ir_access_uses(g->dst, g->k2)))
        return bad(v, "a GEMM whose dst %s is not indexed by m and nn alone",
                   tname(v, g->dst->tensor));
    if (!ir_access_uses(g->a, g->m) || !ir_access_uses(g->a, g->k) || ir_access_uses(g->a, g->nn))
        return bad(v, "a GEMM whose a (%s) is not indexed by m and k without nn",
                   tname(v, g->a->tensor));
    if (!ir_access_uses(g->b, g->k) || !ir_access_uses(g->b, g->nn))
        return bad(v, "a GEMM whose b (%s) is not indexed by k and nn", tname(v, g->b->tensor));
    /* b is packed first, so only dst needs nn at unit stride ('bhid,bhjd->bhij') */
    if (!unit_stride(p, g->dst, g->nn))
        return bad(v, "a GEMM whose column axis %s is not unit-stride in dst", aname(v, g->nn));
    for (int i = 0; g->parallel && i < depth; i++) {
        const lp_node *l = fr[i].n;
        if (l->op != LP_LOOP || l->n != 1 || l->parallel || ir_access_uses(g->dst, l->axis))
            return bad(v, "a parallel GEMM below something other than loops over reduced axes");
    }
    return true;
}

/* The checks of node n, entered below frames fr[0..depth). */
static bool node_ok(V *v, const lp_nest *nest, const lp_node *n, frame *fr, int depth)
{
    const ir_prog *p = v->p;
    const lp_node *acc = NULL;  /* the innermost ACC around n */
    for (int i = depth - 1; i >= 0 && !acc; i--)
        if (fr[i].n->op == LP_ACC)
            acc = fr[i].n;
    if (n->n < 0 || (n->n > 0 && !n->body))
        return bad(v, "a node with %d children and no storage", n->n);
    if ((n->op == LP_UPDATE || n->op == LP_STORE || n->op == LP_GEMM) && n->n)
        return bad(v, "a leaf with %d children", n->n);
    bool fp = dtype_is_float(nest->compute);
    scope s = { .fr = fr, .depth = depth, .acc_ok = -1 };
    switch (n->op) {
    case LP_LOOP: {
        if (n->axis < 0 || n->axis >= p->naxis)
            return bad(v, "a loop over axis %d, of %d", n->axis, p->naxis);
        if (n->tile < 0 || (n->tile > 0 && n->blocked))
            return bad(v, "a loop over %s with tile %lld%s", aname(v, n->axis),
                       (long long)n->tile, n->blocked ? ", blocked" : "");
        bool tiled = false;
        for (int i = 0; i < depth; i++)
            if (fr[i].n->op == LP_LOOP && fr[i].n->axis == n->axis) {
                if (!n->blocked)
                    return bad(v, "a loop over %s inside a loop over %s", aname(v, n->axis),
                               aname(v, n->axis));
                if (fr[i].n->tile > 0) {
                    tiled = true;
                    fr[i].saw_blocked = true;
                }
            }
        if (n->blocked && !tiled)
            return bad(v, "a blocked loop over %s outside a tile loop of it", aname(v, n->axis));
        if (n->parallel && depth > 0)
            return bad(v, "a parallel loop over %s below the root", aname(v, n->axis));
        return true;
    }
    case LP_ACC:
        if (!n->dst)
            return bad(v, "an ACC without dst");
        if ((unsigned)n->comb >= IR_COMB_COUNT || n->comb == IR_COMB_MEAN)
            return bad(v, "an ACC that combines with '%s'", n->comb == IR_COMB_MEAN ? "mean" : "?");
        if (n->pairwise && (n->comb != IR_COMB_SUM || !fp))
            return bad(v, "a pairwise ACC that is not a float sum");
        if (!access_ok(v, n->dst, &s, true))
            return false;
        if (v->lp->acc[n->dst->tensor] && p->tensor[n->dst->tensor].role == IR_TEMP)
            return bad(v, "an ACC stores to accumulator %s", tname(v, n->dst->tensor));
        if (!n->final)
            return true;
        if (n->acc_tensor < 0 || n->acc_tensor >= p->ntensor || !v->lp->acc[n->acc_tensor])
            return bad(v, "a final whose accumulator, tensor %d, is not marked in acc",
                       n->acc_tensor);
        s.acc_ok = n->acc_tensor;
        return expr_ok(v, n->final, &s, fp, IR_COMB_COUNT, NULL, NULL);
    case LP_UPDATE:
        if (!acc)
            return bad(v, "UPDATE outside an ACC");
        if (n->comb != acc->comb)
            return bad(v, "UPDATE with '%s' in an ACC of '%s'", ir_comb_name(n->comb),
                       ir_comb_name(acc->comb));
        return expr_ok(v, n->value, &s, fp, n->comb, NULL, NULL);
    case LP_STORE:
        if (!n->dst)
            return bad(v, "a STORE without dst");
        if ((unsigned)n->comb >= IR_COMB_COUNT || n->comb == IR_COMB_MEAN)
            return bad(v, "a STORE that combines with '%s'", n->comb == IR_COMB_MEAN ? "mean" : "?");
        if (!access_ok(v, n->dst, &s, true))
            return false;
        if (v->lp->acc[n->dst->tensor] && p->tensor[n->dst->tensor].role == IR_TEMP)
            return bad(v, "a STORE to accumulator %s", tname(v, n->dst->tensor));
        s.acc_ok = n->acc_tensor;
        return !n->value || expr_ok(v, n->value, &s, fp, n->comb, NULL, NULL);
    case LP_GEMM:
        return gemm_ok(v, n, fr, depth);
    }
    return bad(v, "a node with op %d, which is not an lp_op", (int)n->op);
}

static bool nest_ok(V *v, const lp_nest *nest)
{
    if ((unsigned)nest->sched.kind >= LP_KIND_COUNT)
        return bad(v, "schedule kind %d, which is not an lp_kind", (int)nest->sched.kind);
    if (nest->sched.parallel_axis < -1 || nest->sched.parallel_axis >= v->p->naxis)
        return bad(v, "parallel over axis %d, of %d", nest->sched.parallel_axis, v->p->naxis);
    if ((unsigned)nest->compute >= EINC_DTYPE_COUNT || nest->compute == EINC_BOOL)
        return bad(v, "compute type %d", (int)nest->compute);
    const lp_node *r = nest->root;
    if (!r)
        return bad(v, "no root");
    if (r->op == LP_UPDATE)
        return bad(v, "UPDATE outside an ACC");
    frame fr[LP_MAX_DEPTH];
    int depth = 0;
    if (!node_ok(v, nest, r, fr, 0))
        return false;
    fr[depth++] = (frame){ r, 0, false };
    while (depth) {
        frame *f = &fr[depth - 1];
        if (f->next == f->n->n) {
            if (f->n->op == LP_LOOP && f->n->tile > 0 && !f->saw_blocked)
                return bad(v, "a tile loop over %s without a blocked loop of it inside",
                           aname(v, f->n->axis));
            depth--;
            continue;
        }
        const lp_node *n = f->n->body[f->next++];
        if (!n)
            return bad(v, "a NULL node");
        if (depth == LP_MAX_DEPTH)
            return bad(v, "a nest deeper than %d", LP_MAX_DEPTH);
        if (!node_ok(v, nest, n, fr, depth))
            return false;
        fr[depth++] = (frame){ n, 0, false };
    }
    return true;
}

bool lp_validate(cc *c, const lp_prog *lp, const char *pass)
{
    V v = { .c = c, .lp = lp, .pass = pass };
    if (!lp || !lp->ir)
        return bad(&v, "no program");
    v.p = lp->ir;
    const ir_prog *p = lp->ir;
    if (!tables_ok(&v))         /* every index below trusts them */
        return false;
    if (lp->nnest < 0 || (lp->nnest && !lp->nest) || (p->ntensor && !lp->acc))
        return bad(&v, "a nest list or acc table with no storage");
    /* a mean's sum is a temporary, or the output itself when it is the sum's type */
    for (int t = 0; t < p->ntensor; t++)
        if (lp->acc[t] && p->tensor[t].role == IR_INPUT)
            return bad(&v, "accumulator %s is neither a temporary nor the output", tname(&v, t));
    for (int i = 0; i < lp->nnest; i++) {
        snprintf(v.where, sizeof v.where, "nest %d: ", i);
        if (!nest_ok(&v, &lp->nest[i]))
            return false;
    }
    return true;
}
