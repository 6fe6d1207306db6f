/*
 * model_lazy.c — the layer language's values as the program is built: new axes, tensors and
 * statements, and lazy tensor values.
 *
 * The one idea that makes a model fast is laziness.  A tensor value is a tree (lz) of
 * elementwise operations over views of materialised tensors; +, -, *, /, relu, the
 * normalisations' scale-and-shift and the like only grow the tree.  A tree is
 * materialised (one statement, out[axes] = tree) only where something needs an array: a
 * reduction, a contraction, a convolution, the model's output.  So conv2d → batchnorm2d →
 * relu → + x is a convolution statement followed by one elementwise statement that reads
 * the convolution at the same element, which lower.c folds into the convolution as its
 * epilogue: one loop nest, the output written once.  A materialisation reuses the loop
 * axes of the statement that produced its first same-shaped operand, so that fold and the
 * row-by-row fusion of softmax and layernorm see the same axes in both statements.
 *
 * A lazy tree is written to a temporary before it grows past MODEL_FUSE_DEPTH levels, which
 * bounds the recursion of every IR walker after us (ir.h: IR_MAX_EXPR_DEPTH).
 */
#include "model_int.h"
#include "strbuf.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/*
 * How far one lazy tree may grow before it is written to a temporary: MODEL_FUSE_DEPTH
 * levels, MODEL_FUSE_NODES nodes.  The depth bound keeps the IR's expressions within
 * IR_MAX_EXPR_DEPTH (the macros put at most a few levels around a tree), and the emitted
 * C and CUDA within the 256 nested brackets clang accepts: a level counts as many as the
 * brackets codegen/cspell.c opens for its operator (nest_cost).  The node bound stops a
 * value used twice per step (y = y * y, gelu of gelu) from doubling its tree at every step.
 * Both are far beyond a layer's own formula, so the fusion of a block (conv2d →
 * batchnorm2d → relu → + x) is the same as without them; and they are not smaller, because
 * the JIT pays for every loop nest (a 100,000-factor product: 8 s and 0.5 GB at this
 * depth, 32 s and 2.9 GB at 48).
 */
enum { MODEL_FUSE_DEPTH = 160, MODEL_FUSE_NODES = 1024 };
static_assert(MODEL_FUSE_DEPTH + 16 <= IR_MAX_EXPR_DEPTH, "a fused tree and a macro's levels fit the IR's bound");

/* The brackets the C spelling of op nests its operand in: -(x) is "(-(x))", sigmoid four. */
static int nest_cost(ir_op op)
{
    return op == IR_SIGMOID ? 4 : op == IR_NEG || op == IR_RSQRT ? 2 : 1;
}


void *grow(elab *E, void *old, int n, int *cap, size_t size)
{
    if (n < *cap)
        return old;
    int nc = *cap ? 2 * *cap : 16;
    void *p = arena_array(E->A, (size_t)nc, size);
    if (!p)
        return cc_nomem(E->c), NULL;
    if (n)
        memcpy(p, old, size * (size_t)n);
    *cap = nc;
    return p;
}

char *shape_text(elab *E, int ndim, const int64_t *shape)
{
    strbuf b = { 0 };
    sb_printf(&b, "[");
    for (int d = 0; d < ndim; d++)
        sb_printf(&b, "%s%lld", d ? ", " : "", (long long)shape[d]);
    sb_printf(&b, "]");
    char *s = sb_finish(&b);
    char *r = s ? arena_strndup(E->A, s, strlen(s)) : NULL;
    einc_free(s);
    return r ? r : "[?]";
}

/* ---- building the program ---------------------------------------------------------------- */

int new_axis(elab *E, int64_t size)
{
    ir_prog *p = E->p;
    ir_axis *a = grow(E, p->axis, p->naxis, &E->cap_axis, sizeof *a);
    if (!a)
        return -1;
    p->axis = a;
    char name[24];
    snprintf(name, sizeof name, "a%d", p->naxis);
    a[p->naxis] = (ir_axis){ .name = arena_strndup(E->A, name, strlen(name)), .size = size,
                             .begin = -1, .end = -1, .given = true };
    return a[p->naxis].name ? p->naxis++ : (cc_nomem(E->c), -1);
}

int new_tensor(elab *E, const char *name, ir_role role, einc_dtype t, int ndim,
                      const int64_t *shape, int begin, int end)
{
    ir_prog *p = E->p;
    ir_tensor *T = grow(E, p->tensor, p->ntensor, &E->cap_tensor, sizeof *T);
    int **dx = grow(E, E->defax, p->ntensor, &E->cap_defax, sizeof *dx);
    ir_mono *sh = ARENA_ARRAY(E->A, ir_mono, ndim + 1);
    if (!T || !dx || !sh)
        return cc_nomem(E->c);
    p->tensor = T;
    E->defax = dx;
    for (int d = 0; d < ndim; d++)
        sh[d] = (ir_mono){ .k = shape[d] };
    char buf[24];
    if (!name) {
        snprintf(buf, sizeof buf, "t%d", E->ntemp++);
        name = arena_strndup(E->A, buf, strlen(buf));
        if (!name)
            return cc_nomem(E->c);
    }
    T[p->ntensor] = (ir_tensor){ .name = name, .role = role, .dtype = t, .ndim = ndim,
                                 .shape = sh, .begin = begin, .end = end,
                                 .origin = role == IR_TEMP ? origin_text(E) : NULL };
    if (E->c->failed)
        return -1;              /* out of memory in origin_text */
    dx[p->ntensor] = NULL;
    return p->ntensor++;
}

/* An access whose dimension d is axis ax[d], or the constant 0 where ax[d] < 0. */
ir_access access_axes(elab *E, int tensor, const int *ax)
{
    int nd = E->p->tensor[tensor].ndim;
    ir_access a = { .tensor = tensor, .ndim = nd, .dim = ARENA_ARRAY(E->A, ir_dim, nd + 1) };
    if (!a.dim) {
        cc_nomem(E->c);
        return a;
    }
    for (int d = 0; d < nd; d++) {
        if (ax[d] < 0)
            continue;
        ir_term *t = ARENA_NEW(E->A, ir_term);
        if (!t) {
            cc_nomem(E->c);
            return a;
        }
        t->axis = ax[d];
        t->coef.k = 1;
        a.dim[d] = (ir_dim){ .n = 1, .t = t };
    }
    return a;
}


ir_access access_affine(elab *E, int tensor, const dimspec *ds, bool guard)
{
    int nd = E->p->tensor[tensor].ndim;
    ir_access a = { .tensor = tensor, .ndim = nd, .dim = ARENA_ARRAY(E->A, ir_dim, nd + 1), .guard = guard };
    if (!a.dim)
        return cc_nomem(E->c), a;
    for (int d = 0; d < nd; d++) {
        ir_term *t = ARENA_ARRAY(E->A, ir_term, ds[d].n + 1);
        if (!t)
            return cc_nomem(E->c), a;
        int n = 0;
        for (int i = 0; i < ds[d].n; i++)
            if (ds[d].ax[i] >= 0 && ds[d].coef[i] != 0)
                t[n++] = (ir_term){ .axis = ds[d].ax[i], .coef = { .k = ds[d].coef[i] } };
        a.dim[d] = (ir_dim){ .n = n, .t = t, .off = ds[d].off };
    }
    return a;
}

ir_expr *ex(elab *E, ir_op op, ir_expr *a, ir_expr *b)
{
    ir_expr *x = ARENA_NEW(E->A, ir_expr);
    if (!x)
        return cc_nomem(E->c), NULL;
    x->op = op;
    x->a = a;
    x->b = b;
    return x;
}

ir_expr *ex_load(elab *E, ir_access a)
{
    ir_expr *x = ex(E, IR_ACCESS, NULL, NULL);
    if (x)
        x->acc = a;
    return x;
}

ir_expr *ex_const(elab *E, double c)
{
    ir_expr *x = ex(E, IR_CONST, NULL, NULL);
    if (x)
        x->c = c;
    return x;
}

ir_expr *ex_axis(elab *E, int axis)
{
    ir_expr *x = ex(E, IR_AXIS, NULL, NULL);
    if (x)
        x->axis = axis;
    return x;
}

/* Lists axis a in E->axbuf unless this statement has listed it (E->mark[a] == E->stamp). */
static void note_axis(elab *E, int a)
{
    if (E->mark[a] != E->stamp) {
        E->mark[a] = E->stamp;
        E->axbuf[E->naxbuf++] = a;
    }
}

/* Recursion as deep as x, which is within IR_MAX_EXPR_DEPTH (MODEL_FUSE_DEPTH). */
static void collect_axes(elab *E, const ir_expr *x)
{
    if (!x)
        return;
    if (x->op == IR_AXIS)
        note_axis(E, x->axis);
    if (x->op == IR_ACCESS)
        for (int d = 0; d < x->acc.ndim; d++)
            for (int t = 0; t < x->acc.dim[d].n; t++)
                note_axis(E, x->acc.dim[d].t[t].axis);
    collect_axes(E, x->a);
    collect_axes(E, x->b);
}

/* The axes E->axbuf[from..) as a fresh array of their own. */
static int *listed_axes(elab *E, int from)
{
    int n = E->naxbuf - from, *a = ARENA_ARRAY(E->A, int, n + 1);
    if (!a)
        return cc_nomem(E->c), NULL;
    if (n)
        memcpy(a, E->axbuf + from, sizeof *a * (size_t)n);
    return a;
}

/*
 * Appends out ⊕= rhs.  The free axes are the output access's, in dimension order; every
 * other axis rhs uses is reduced, in order of first use (the loop order lower.c starts
 * from).
 */
int add_stmt(elab *E, ir_access out, ir_comb comb, ir_expr *rhs, bool accumulate)
{
    ir_prog *p = E->p;
    if (!rhs || E->c->failed)
        return -1;
    /*
     * The marks and the buffer are the program's, grown with its axes, not allocated per
     * statement: a model of 30,000 layers has hundreds of thousands of axes.
     */
    if (E->cap_mark < p->naxis) {
        int cap = E->cap_mark ? E->cap_mark : 16;
        while (cap < p->naxis)
            cap *= 2;
        int *m = ARENA_ARRAY(E->A, int, cap), *b = ARENA_ARRAY(E->A, int, cap);
        if (!m || !b)
            return cc_nomem(E->c);
        if (E->cap_mark)
            memcpy(m, E->mark, sizeof *m * (size_t)E->cap_mark);
        E->mark = m;
        E->axbuf = b;
        E->cap_mark = cap;
    }
    E->stamp++;
    E->naxbuf = 0;
    ir_expr o = { .op = IR_ACCESS, .acc = out };
    collect_axes(E, &o);
    int nf = E->naxbuf;
    collect_axes(E, rhs);
    int nr = E->naxbuf - nf;
    int *fr = listed_axes(E, 0), *rd = listed_axes(E, nf);
    ir_stmt *st = grow(E, p->stmt, p->nstmt, &E->cap_stmt, sizeof *st);
    if (!fr || !rd || !st)
        return -1;
    p->stmt = st;
    st[p->nstmt++] = (ir_stmt){ .out = out, .comb = comb, .rhs = rhs, .nfree = nf, .nred = nr,
                                .free = fr, .red = rd, .accumulate = accumulate };
    /* remember the axes when the statement writes its output whole, one axis a dimension */
    int *dx = ARENA_ARRAY(E->A, int, out.ndim + 1);
    if (!dx)
        return cc_nomem(E->c);
    for (int d = 0; d < out.ndim; d++) {
        const ir_dim *dm = &out.dim[d];
        if (dm->n == 0 && dm->off == 0 && tdim(E, out.tensor, d) == 1)
            dx[d] = -1;
        else if (ir_dim_axis(dm) >= 0 && p->axis[dm->t[0].axis].size == tdim(E, out.tensor, d))
            dx[d] = dm->t[0].axis;
        else
            return 0;
    }
    E->defax[out.tensor] = dx;
    return 0;
}

/* ---- lazy values --------------------------------------------------------------------------- */

static lz *lz_new(elab *E, ir_op op, einc_dtype t, int ndim, const int64_t *shape)
{
    lz *z = ARENA_NEW(E->A, lz);
    int64_t *sh = ARENA_ARRAY(E->A, int64_t, ndim + 1);
    if (!z || !sh)
        return cc_nomem(E->c), NULL;
    z->op = op;
    z->dtype = t;
    z->ndim = ndim;
    z->depth = z->nodes = 1;
    if (ndim)
        memcpy(sh, shape, sizeof *sh * (size_t)ndim);
    z->shape = sh;
    return z;
}

/* The whole of tensor t, as it is. */
lz *lz_tensor(elab *E, int t)
{
    const ir_tensor *T = &E->p->tensor[t];
    int64_t sh[EINC_MAX_RANK];
    for (int d = 0; d < T->ndim; d++)
        sh[d] = T->shape[d].k;
    lz *z = lz_new(E, IR_ACCESS, T->dtype, T->ndim, sh);
    int *td = ARENA_ARRAY(E->A, int, T->ndim + 1);
    if (!z || !td)
        return cc_nomem(E->c), NULL;
    for (int d = 0; d < T->ndim; d++)
        td[d] = d;
    z->tensor = t;
    z->tdim = td;
    return z;
}

/* Tensor t seen with the given shape; tdim as in struct lz. */
lz *lz_view(elab *E, int t, int ndim, const int64_t *shape, const int *td)
{
    lz *z = lz_new(E, IR_ACCESS, E->p->tensor[t].dtype, ndim, shape);
    int *c = ARENA_ARRAY(E->A, int, E->p->tensor[t].ndim + 1);
    if (!z || !c)
        return cc_nomem(E->c), NULL;
    if (E->p->tensor[t].ndim)
        memcpy(c, td, sizeof *c * (size_t)E->p->tensor[t].ndim);
    z->tensor = t;
    z->tdim = c;
    return z;
}

lz *lz_const(elab *E, double v, einc_dtype t)
{
    lz *z = lz_new(E, IR_CONST, t, 0, NULL);
    if (z)
        z->c = v;
    return z;
}

/*
 * Recursion as deep as z, which is within MODEL_FUSE_DEPTH.  The formulas are the
 * interpreter's (compiler/ir/interp.c), in double precision, as numpy's float64.
 */
bool lz_fold(const lz *z, double *out)
{
    double a = 0, b = 0;
    if (z->op == IR_CONST) {
        *out = z->c;
        return true;
    }
    if (z->op == IR_ACCESS || z->op == IR_SIZE || z->op == IR_AXIS || !lz_fold(z->a, &a) ||
        (ir_op_arity(z->op) == 2 && !lz_fold(z->b, &b)))
        return false;
    switch (z->op) {
    case IR_MUL: *out = a * b; break;
    case IR_ADD: *out = a + b; break;
    case IR_SUB: *out = a - b; break;
    case IR_DIV: *out = a / b; break;
    case IR_DIVZ: *out = b == 0 ? 0 : a / b; break;
    case IR_MAX: *out = isnan(a) || isnan(b) ? NAN : a > b ? a : b; break;
    case IR_MIN: *out = isnan(a) || isnan(b) ? NAN : a < b ? a : b; break;
    case IR_EQ: *out = a == b; break;
    case IR_NEG: *out = -a; break;
    case IR_EXP: *out = exp(a); break;
    case IR_LOG: *out = log(a); break;
    case IR_SQRT: *out = sqrt(a); break;
    case IR_RSQRT: *out = 1 / sqrt(a); break;
    case IR_TANH: *out = tanh(a); break;
    case IR_ERF: *out = erf(a); break;
    case IR_SIGMOID: *out = 1 / (1 + exp(-a)); break;
    case IR_ACCESS:
    case IR_CONST:
    case IR_SIZE:
    case IR_AXIS:
    case IR_OP_COUNT:
        return false;               /* leaves, handled above; and not an operator */
    }
    return true;
}


/*
 * Writes z to a new temporary and makes z itself a view of it, so every tree that shares z
 * reads the temporary: its value, computed once.  The statement gets loop axes of its own,
 * not its operands' (value_axes): lower.c merges adjacent loops over the same axes, and a
 * 100,000-term product spilled in a chain of same-axis statements became one loop whose
 * merging cost grew with the cube of its length.
 */
static bool spill(elab *E, lz *z)
{
    int t = new_tensor(E, NULL, IR_TEMP, z->dtype, z->ndim, z->shape, -1, -1);
    int *ax = t >= 0 ? fresh_axes(E, z->ndim, z->shape) : NULL;
    if (!ax || add_stmt(E, access_axes(E, t, ax), IR_COMB_ASSIGN, inst(E, z, ax), false) < 0)
        return false;
    int *td = ARENA_ARRAY(E->A, int, z->ndim + 1);
    if (!td)
        return cc_nomem(E->c), false;
    for (int d = 0; d < z->ndim; d++)
        td[d] = d;
    z->op = IR_ACCESS;
    z->tensor = t;
    z->tdim = td;
    z->a = z->b = NULL;
    z->depth = z->nodes = 1;
    return true;
}

lz *lz_unary(elab *E, ir_op op, lz *a)
{
    if (!a || ((a->depth + nest_cost(op) > MODEL_FUSE_DEPTH || a->nodes >= MODEL_FUSE_NODES) &&
               !spill(E, a)))
        return NULL;
    if (dtype_is_complex(a->dtype) && op != IR_NEG) {
        /* the interpreter computes complex +, -, *, / only (README, "Dtypes") */
        cc_error(E->c, EINC_ERR_DTYPE, -1, -1, "%s of %s: the layer language's functions take "
                 "real numbers", ir_op_name(op), einc_dtype_name(a->dtype));
        return NULL;
    }
    einc_dtype t = op == IR_NEG || op == IR_MAX ? a->dtype : float_of(a->dtype);
    if (t == EINC_BOOL)
        t = EINC_I64;
    lz *z = lz_new(E, op, t, a->ndim, a->shape);
    if (z) {
        z->a = a;
        z->depth = a->depth + nest_cost(op);
        z->nodes = a->nodes + 1;
    }
    return z;
}

/* a op b with numpy broadcasting; span is the operation's text, for the error. */
lz *lz_binary(elab *E, ir_op op, lz *a, lz *b, int begin, int end)
{
    if (!a || !b)
        return NULL;
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t sh[EINC_MAX_RANK];
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t x = da >= 0 ? a->shape[da] : 1, y = db >= 0 ? b->shape[db] : 1;
        if (x != y && x != 1 && y != 1) {
            cc_error(E->c, EINC_ERR_SHAPE, begin, end,
                     "shapes %s and %s do not broadcast: dimension %d is %lld in one and %lld "
                     "in the other",
                     shape_text(E, a->ndim, a->shape), shape_text(E, b->ndim, b->shape), d - nd,
                     (long long)x, (long long)y);
            return NULL;
        }
        sh[d] = x == 1 ? y : x;
    }
    /* the deeper (else larger) operand goes to a temporary first, until the tree fits */
    while (nest_cost(op) + (a->depth > b->depth ? a->depth : b->depth) > MODEL_FUSE_DEPTH ||
           1 + a->nodes + b->nodes > MODEL_FUSE_NODES) {
        bool first = a->depth != b->depth ? a->depth > b->depth : a->nodes >= b->nodes;
        if (!spill(E, first ? a : b))
            return NULL;
    }
    einc_dtype t = dtype_promote(a->dtype, b->dtype);
    if (dtype_is_complex(t) && (op == IR_MAX || op == IR_MIN)) {
        cc_error(E->c, EINC_ERR_DTYPE, begin, end, "%s of %s: complex numbers have no order",
                 ir_op_name(op), einc_dtype_name(t));
        return NULL;
    }
    if (op == IR_DIV && !dtype_is_float(t) && !dtype_is_complex(t))
        t = EINC_F32;           /* true division, as torch's / */
    if (t == EINC_BOOL)
        t = EINC_I64;
    lz *z = lz_new(E, op, t, nd, sh);
    if (z) {
        z->a = a;
        z->b = b;
        z->depth = nest_cost(op) + (a->depth > b->depth ? a->depth : b->depth);
        z->nodes = 1 + a->nodes + b->nodes;
    }
    return z;
}

/* The IR expression of z at the point ax[0..z->ndim) (ax[d] < 0: index 0). */
ir_expr *inst(elab *E, const lz *z, const int *ax)
{
    if (!z || E->c->failed)
        return NULL;
    /* an array read or a constant is a leaf; every other operator combines its children */
    if (z->op == IR_ACCESS) {
        const ir_tensor *T = &E->p->tensor[z->tensor];
        int tax[EINC_MAX_RANK];
        for (int k = 0; k < T->ndim; k++) {
            int j = z->tdim[k];
            tax[k] = j < 0 || T->shape[k].k == 1 ? -1 : ax[j];
        }
        return ex_load(E, access_axes(E, z->tensor, tax));
    }
    if (z->op == IR_CONST)
        return ex_const(E, z->c);
    const lz *kid[2] = { z->a, z->b };
    ir_expr *e[2] = { NULL, NULL };
    for (int i = 0; i < 2 && kid[i]; i++) {
        int cax[EINC_MAX_RANK];
        int off = z->ndim - kid[i]->ndim;
        for (int d = 0; d < kid[i]->ndim; d++)
            cax[d] = kid[i]->shape[d] == 1 ? -1 : ax[d + off];
        e[i] = inst(E, kid[i], cax);
        if (!e[i])
            return NULL;
    }
    return ex(E, z->op, e[0], e[1]);
}

/* The produced-whole temporary of z's shape among its leaves, whose axes can be reused. */
static const int *reusable_axes(const elab *E, const lz *z, const lz *root)
{
    if (!z)
        return NULL;
    if (z->op == IR_ACCESS) {
        const ir_tensor *T = &E->p->tensor[z->tensor];
        if (!E->defax[z->tensor] || T->ndim != root->ndim)
            return NULL;
        for (int d = 0; d < T->ndim; d++)
            if (z->tdim[d] != d || T->shape[d].k != root->shape[d])
                return NULL;
        return E->defax[z->tensor];
    }
    const int *a = reusable_axes(E, z->a, root);
    return a ? a : reusable_axes(E, z->b, root);
}

/* Fresh loop axes for a value of this shape (size-1 dimensions get none). */
int *fresh_axes(elab *E, int ndim, const int64_t *shape)
{
    int *ax = ARENA_ARRAY(E->A, int, ndim + 1);
    if (!ax)
        return cc_nomem(E->c), NULL;
    for (int d = 0; d < ndim; d++)
        if ((ax[d] = shape[d] == 1 ? -1 : new_axis(E, shape[d])) < 0 && shape[d] != 1)
            return NULL;
    return ax;
}

/*
 * For the dimensions of root that a produced temporary among z's leaves is written over,
 * that statement's loop axis (a layernorm's row axis, from its mean and variance), where
 * the sizes agree and the axis is not taken yet; ax[d] stays -2 elsewhere.  Statements
 * that share their outer axis can then fuse row by row in lower.c.
 */
static void shared_axes(const elab *E, const lz *z, const lz *root, int *ax)
{
    if (!z)
        return;
    if (z->op != IR_ACCESS) {
        shared_axes(E, z->a, root, ax);
        shared_axes(E, z->b, root, ax);
        return;
    }
    const int *dx = E->defax[z->tensor];
    const ir_tensor *T = &E->p->tensor[z->tensor];
    for (int td = 0; dx && td < T->ndim; td++) {
        int vd = z->tdim[td], rd = vd + root->ndim - z->ndim;
        if (vd < 0 || dx[td] < 0 || rd < 0 || ax[rd] != -2 || root->shape[rd] == 1 ||
            z->shape[vd] != root->shape[rd] || E->p->axis[dx[td]].size != root->shape[rd])
            continue;
        bool taken = false;
        for (int d = 0; d < root->ndim; d++)
            taken |= ax[d] == dx[td];
        if (!taken)
            ax[rd] = dx[td];
    }
}

/*
 * The loop axes to write z over: those of a produced-whole temporary of z's shape among its
 * leaves (so lower.c can fold z into that producer as its epilogue), else per dimension
 * those its producers share, else fresh.
 */
static int *value_axes(elab *E, const lz *z)
{
    const int *whole = reusable_axes(E, z, z);
    if (whole)
        return (int *)whole;
    int *ax = ARENA_ARRAY(E->A, int, z->ndim + 1);
    if (!ax)
        return cc_nomem(E->c), NULL;
    for (int d = 0; d < z->ndim; d++)
        ax[d] = -2;
    shared_axes(E, z, z, ax);
    for (int d = 0; d < z->ndim; d++)
        if (ax[d] == -2 && (ax[d] = z->shape[d] == 1 ? -1 : new_axis(E, z->shape[d])) < 0 && z->shape[d] != 1)
            return NULL;
    return ax;
}

bool is_whole(const elab *E, const lz *z)
{
    if (z->op != IR_ACCESS || E->p->tensor[z->tensor].ndim != z->ndim)
        return false;
    for (int d = 0; d < z->ndim; d++)
        if (z->tdim[d] != d)
            return false;
    return true;
}

/* Writes z into a new tensor (or names the tensor it already is). */
int materialize_as(elab *E, lz *z, const char *name, ir_role role)
{
    if (!z)
        return -1;
    int t = new_tensor(E, name, role, z->dtype, z->ndim, z->shape, -1, -1);
    if (t < 0)
        return -1;
    int *ax = value_axes(E, z);
    if (!ax)
        return -1;
    if (add_stmt(E, access_axes(E, t, ax), IR_COMB_ASSIGN, inst(E, z, ax), false) < 0)
        return -1;
    return t;
}

int materialize(elab *E, lz *z)
{
    if (z && is_whole(E, z))
        return z->tensor;
    return materialize_as(E, z, NULL, IR_TEMP);
}

/*
 * x's shape with 1 where keep[d] is false (keepdim's), and its axes xax with -1 there;
 * returns how many elements each kept one sums.
 */
int64_t kept_shape(const lz *x, const bool *keep, const int *xax, int64_t *sh, int *oax)
{
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++) {
        sh[d] = keep[d] ? x->shape[d] : 1;
        oax[d] = keep[d] ? xax[d] : -1;
        count *= keep[d] ? 1 : x->shape[d];
    }
    return count;
}

/* Σ over the dims where keep[d] is false, into a keepdim-shaped temporary; mean divides. */
int reduce_to(elab *E, lz *x, const bool *keep, ir_comb comb, bool mean, const int *xax,
                     einc_dtype t)
{
    int64_t sh[EINC_MAX_RANK];
    int oax[EINC_MAX_RANK];
    int64_t count = kept_shape(x, keep, xax, sh, oax);
    int acc = new_tensor(E, NULL, IR_TEMP, t, x->ndim, sh, -1, -1);
    if (acc < 0 || add_stmt(E, access_axes(E, acc, oax), comb, inst(E, x, xax), false) < 0)
        return -1;
    if (!mean)
        return acc;
    int r = new_tensor(E, NULL, IR_TEMP, t, x->ndim, sh, -1, -1);
    if (r < 0)
        return -1;
    ir_expr *q = ex(E, IR_MUL, ex_load(E, access_axes(E, acc, oax)), ex_const(E, 1.0 / (double)count));
    if (add_stmt(E, access_axes(E, r, oax), IR_COMB_ASSIGN, q, false) < 0)
        return -1;
    return r;
}

int *axes_for(elab *E, const lz *x)
{
    int t = x->op == IR_ACCESS && is_whole(E, x) ? x->tensor : -1;
    if (t >= 0 && E->defax[t])
        return E->defax[t];
    return fresh_axes(E, x->ndim, x->shape);
}
