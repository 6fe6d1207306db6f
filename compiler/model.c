/*
 * model.c — the layer language's elaborator: a model's AST, with concrete shapes, becomes
 * one bound index-IR program.
 *
 * Evaluation is by value over a tiny interpreter of the AST: a name is bound to a value
 * (a tensor, a number, a string, none or a tuple), a `def` block is a macro expanded at
 * each call, and every built-in is a macro that appends index-IR statements.
 *
 * The one idea that makes the result fast is laziness.  A tensor value is a tree (lz) of
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
 * Shapes here are always concrete (the arrays' or the SIZE=N words'), so every check
 * PyTorch makes at run time — channel counts, groups, output sizes — is made here, with
 * the numbers, and every axis and tensor shape in the IR is a constant.
 *
 * Nothing here recurses as deep as the model is long.  The evaluator walks the AST with a
 * stack of its own (a generated model's `x + x + ... + x` is a left-deep tree 20,000 nodes
 * deep); a lazy tree is written to a temporary before it grows past MODEL_FUSE_DEPTH
 * levels, which bounds the recursion of every IR walker after us (ir.h: IR_MAX_EXPR_DEPTH);
 * only block calls recurse, at most 64 deep.  Names are found through hash tables, so a
 * 30,000-line model elaborates in linear time.
 */
#include "einl.h"
#include "strbuf.h"
#include "alloc.h"
#include "model_nn.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- values (their types are in model_nn.h) ---------------------------------------------- */

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


/* A shape error at [b, e); NULL for `return shape_err(...)`. */
val *shape_err(elab *E, int b, int e, const char *fmt, ...) CC_PRINTF(4, 5);
val *shape_err(elab *E, int b, int e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cc_error(E->c, EINC_ERR_SHAPE, b, e, "%s", msg);
    return NULL;
}

static void *grow(elab *E, void *old, int n, int *cap, size_t size)
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

/* ---- name tables ------------------------------------------------------------------------- */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;                   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding key, or the empty slot where it would go (m->cap > 0). */
static int map_slot(const strmap *m, const char *key)
{
    int i = (int)(hash_name(key) & (uint32_t)(m->cap - 1));
    while (m->key[i] && strcmp(m->key[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void *map_get(const strmap *m, const char *key)
{
    return m->cap ? m->val[map_slot(m, key)] : NULL;
}

/* Binds key to v (replacing an earlier binding unless keep_first); false when out of memory. */
static bool map_put(elab *E, strmap *m, const char *key, void *v, bool keep_first)
{
    if (2 * (m->n + 1) > m->cap) {              /* at most half full: probes stay short */
        strmap g = { .cap = m->cap ? 2 * m->cap : 16 };
        g.key = ARENA_ARRAY(E->A, const char *, g.cap);
        g.val = ARENA_ARRAY(E->A, void *, g.cap);
        if (!g.key || !g.val)
            return cc_nomem(E->c), false;
        for (int i = 0; i < m->cap; i++)
            if (m->key[i]) {
                int k = map_slot(&g, m->key[i]);
                g.key[k] = m->key[i];
                g.val[k] = m->val[i];
            }
        g.n = m->n;
        *m = g;
    }
    int k = map_slot(m, key);
    if (m->key[k] && keep_first)
        return true;
    m->n += !m->key[k];
    m->key[k] = key;
    m->val[k] = v;
    return true;
}

static char *shape_text(elab *E, int ndim, const int64_t *shape)
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
                                 .shape = sh, .begin = begin, .end = end };
    dx[p->ntensor] = NULL;
    return p->ntensor++;
}

static int64_t tdim(const elab *E, int t, int d) { return E->p->tensor[t].shape[d].k; }

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


static ir_expr *inst(elab *E, const lz *z, const int *ax);

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
    if (op == IR_DIV && !dtype_is_float(t))
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
static ir_expr *inst(elab *E, const lz *z, const int *ax)
{
    if (!z || E->c->failed)
        return NULL;
    switch (z->op) {
    case IR_ACCESS: {
        const ir_tensor *T = &E->p->tensor[z->tensor];
        int tax[EINC_MAX_RANK];
        for (int k = 0; k < T->ndim; k++) {
            int j = z->tdim[k];
            tax[k] = j < 0 || T->shape[k].k == 1 ? -1 : ax[j];
        }
        return ex_load(E, access_axes(E, z->tensor, tax));
    }
    case IR_CONST:
        return ex_const(E, z->c);
    default:
        break;
    }
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

static bool is_whole(const elab *E, const lz *z)
{
    if (z->op != IR_ACCESS || E->p->tensor[z->tensor].ndim != z->ndim)
        return false;
    for (int d = 0; d < z->ndim; d++)
        if (z->tdim[d] != d)
            return false;
    return true;
}

/* Writes z into a new tensor (or names the tensor it already is). */
static int materialize_as(elab *E, lz *z, const char *name, ir_role role)
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

/* ---- values and errors ----------------------------------------------------------------------- */

static val *new_val(elab *E, vkind k, int begin, int end)
{
    val *v = ARENA_NEW(E->A, val);
    if (!v)
        return cc_nomem(E->c), NULL;
    v->kind = k;
    v->begin = begin;
    v->end = end;
    return v;
}

val *tensor_val(elab *E, lz *t, int begin, int end)
{
    if (!t)
        return NULL;
    val *v = new_val(E, V_TENSOR, begin, end);
    if (v)
        v->t = t;
    return v;
}

static const char *kind_name(vkind k)
{
    static const char *const n[] = { "a tensor", "a number", "a string", "none", "a tuple" };
    return n[k];
}

/* A tensor operand: a tensor, or a number seen as a 0-d tensor of dtype like. */
static lz *as_tensor(elab *E, const val *v, const char *fn, const char *what, einc_dtype like)
{
    if (!v)
        return NULL;
    if (v->kind == V_TENSOR)
        return v->t;
    if (v->kind == V_NUMBER) {
        einc_dtype t = v->is_int ? like : float_of(like);
        return lz_const(E, v->num, t == EINC_BOOL ? EINC_I64 : t);
    }
    shape_err(E, v->begin, v->end, "%s: %s must be a tensor, not %s", fn, what, kind_name(v->kind));
    return NULL;
}

lz *need_tensor(elab *E, const val *v, const char *fn, const char *what)
{
    if (v && v->kind != V_TENSOR) {
        shape_err(E, v->begin, v->end, "%s: %s must be a tensor, not %s", fn, what, kind_name(v->kind));
        return NULL;
    }
    return v ? v->t : NULL;
}

bool get_int(elab *E, const val *v, const char *fn, const char *what, int64_t *out)
{
    if (v->kind != V_NUMBER || !v->is_int) {
        cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "%s: %s must be an integer, not %s", fn,
                 what, v->kind == V_NUMBER ? "a fraction" : kind_name(v->kind));
        return false;
    }
    *out = (int64_t)v->num;
    return true;
}

bool get_num(elab *E, const val *v, const char *fn, const char *what, double *out)
{
    if (v->kind != V_NUMBER) {
        cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "%s: %s must be a number, not %s", fn,
                 what, kind_name(v->kind));
        return false;
    }
    *out = v->num;
    return true;
}

/* An int or a pair of ints (stride=2, padding=(1, 0)). */
bool get_pair(elab *E, const val *v, const char *fn, const char *what, int64_t out[2])
{
    if (v->kind == V_TUPLE) {
        if (v->n != 2) {
            cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "%s: %s must be an integer or a "
                     "pair of integers, not a tuple of %d", fn, what, v->n);
            return false;
        }
        return get_int(E, v->item[0], fn, what, &out[0]) && get_int(E, v->item[1], fn, what, &out[1]);
    }
    if (!get_int(E, v, fn, what, &out[0]))
        return false;
    out[1] = out[0];
    return true;
}

/* dim in [-ndim, ndim) → [0, ndim), as torch's wrap_dim. */
bool get_dim(elab *E, const val *v, const char *fn, int ndim, int *out)
{
    int64_t d;
    if (!get_int(E, v, fn, "dim", &d))
        return false;
    int64_t lo = ndim ? -ndim : -1, hi = ndim ? ndim - 1 : 0;
    if (d < lo || d > hi) {
        cc_error(E->c, EINC_ERR_ARG, v->begin, v->end,
                 "%s: dim %lld is out of range for a %d-d tensor (expected %lld to %lld)", fn,
                 (long long)d, ndim, (long long)lo, (long long)hi);
        return false;
    }
    *out = (int)(d < 0 ? d + ndim : d);
    return true;
}

/* ---- calls ------------------------------------------------------------------------------------ */


/* Binds a call's arguments to parameters, as Python does; arg[i] NULL: not given. */
bool bind_args(elab *E, const el_node *call, const sig *s, val *const *pos, val **arg)
{
    for (int i = 0; i < s->nparam; i++)
        arg[i] = NULL;
    int np = 0;
    for (int i = 0; i < call->nargs; i++) {
        const el_arg *a = &call->args[i];
        if (!a->key) {
            if (np >= s->nparam) {
                cc_error(E->c, EINC_ERR_ARG, a->value->begin, a->value->end,
                         "%s() takes at most %d argument%s", s->name, s->nparam, s->nparam == 1 ? "" : "s");
                return false;
            }
            arg[np++] = pos[i];
            continue;
        }
        int k = -1;
        for (int j = 0; j < s->nparam && k < 0; j++)
            if (strcmp(s->param[j], a->key) == 0)
                k = j;
        if (k < 0) {
            cc_error(E->c, EINC_ERR_ARG, a->key_begin, a->key_end,
                     "%s() got an unexpected keyword argument '%s'", s->name, a->key);
            return false;
        }
        if (arg[k]) {
            cc_error(E->c, EINC_ERR_ARG, a->key_begin, a->key_end,
                     "%s() got multiple values for argument '%s'", s->name, a->key);
            return false;
        }
        arg[k] = pos[i];
    }
    for (int i = 0; i < s->required; i++)
        if (!arg[i]) {
            cc_error(E->c, EINC_ERR_ARG, call->begin, call->end,
                     "%s() missing required argument '%s'", s->name, s->param[i]);
            return false;
        }
    return true;
}


/* v seen as [1 × lead] + [n] + [1 × trail]: a per-channel vector against a value of rank nd. */
static lz *channel_view(elab *E, lz *v, int nd, int at)
{
    int t = materialize(E, v);
    if (t < 0)
        return NULL;
    int64_t sh[EINC_MAX_RANK];
    int td[1] = { 0 };   /* the view's first dimension indexes the vector */
    for (int d = 0; d < nd - at; d++)
        sh[d] = d == 0 ? tdim(E, t, 0) : 1;
    return lz_view(E, t, nd - at, sh, td);
}

static bool check_vector(elab *E, const val *v, lz *z, const char *fn, const char *what, int64_t n,
                         const char *of, const lz *x)
{
    if (z->ndim != 1 || z->shape[0] != n) {
        cc_error(E->c, EINC_ERR_SHAPE, v->begin, v->end,
                 "%s: %s has shape %s, but the input has %lld %s (its shape is %s)", fn, what,
                 shape_text(E, z->ndim, z->shape), (long long)n, of, shape_text(E, x->ndim, x->shape));
        return false;
    }
    return true;
}

/* Σ over the dims where keep[d] is false, into a keepdim-shaped temporary; mean divides. */
int reduce_to(elab *E, lz *x, const bool *keep, ir_comb comb, bool mean, const int *xax,
                     einc_dtype t)
{
    int64_t sh[EINC_MAX_RANK];
    int oax[EINC_MAX_RANK];
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++) {
        sh[d] = keep[d] ? x->shape[d] : 1;
        oax[d] = keep[d] ? xax[d] : -1;
        count *= keep[d] ? 1 : x->shape[d];
    }
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

/* softmax / log_softmax over dim: max-subtracted, one pass per row after lower.c's fusion. */
static val *softmax(elab *E, const el_node *call, val **arg, bool logsm)
{
    const char *fn = logsm ? "log_softmax" : "softmax";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int dim;
    if (!x || !get_dim(E, arg[1], fn, x->ndim, &dim))
        return NULL;
    if (x->ndim == 0)
        return tensor_val(E, logsm ? lz_const(E, 0, float_of(x->dtype)) : lz_const(E, 1, float_of(x->dtype)),
                          call->begin, call->end);
    if (!dtype_is_float(x->dtype)) {
        x = lz_binary(E, IR_MUL, x, lz_const(E, 1, EINC_F32), call->begin, call->end);
        if (x)
            x->dtype = EINC_F32;    /* integers normalise in float32, as torch's default dtype */
        if (!x)
            return NULL;
    }
    int t = materialize(E, x);
    if (t < 0)
        return NULL;
    lz *X = lz_tensor(E, t);
    int *ax = X ? axes_for(E, X) : NULL;
    if (!ax)
        return NULL;
    bool keep[EINC_MAX_RANK];
    for (int d = 0; d < X->ndim; d++)
        keep[d] = d != dim;
    int m = reduce_to(E, X, keep, IR_COMB_MAX, false, ax, X->dtype);
    if (m < 0)
        return NULL;
    /*
     * e = exp(x − max) is computed once and stored in the result, then scaled in place by
     * the row's 1/Σe: one exponential an element, and after lower.c fuses the four
     * statements by rows, each row is read from memory once and written once.
     */
    lz *shifted = lz_binary(E, IR_SUB, X, lz_tensor(E, m), call->begin, call->end);
    int r = new_tensor(E, NULL, IR_TEMP, X->dtype, X->ndim, X->shape, -1, -1);
    if (r < 0 || add_stmt(E, access_axes(E, r, ax), IR_COMB_ASSIGN,
                          inst(E, logsm ? shifted : lz_unary(E, IR_EXP, shifted), ax), false) < 0)
        return NULL;
    lz *R = lz_tensor(E, r);
    int s = reduce_to(E, logsm ? lz_unary(E, IR_EXP, R) : R, keep, IR_COMB_SUM, false, ax, X->dtype);
    if (s < 0)
        return NULL;
    /* the row's factor, folded into the sum as its epilogue: 1/Σe, or log Σe */
    int64_t ksh[EINC_MAX_RANK];
    int oax[EINC_MAX_RANK];
    for (int d = 0; d < X->ndim; d++) {
        ksh[d] = keep[d] ? X->shape[d] : 1;
        oax[d] = keep[d] ? ax[d] : -1;
    }
    int f = new_tensor(E, NULL, IR_TEMP, X->dtype, X->ndim, ksh, -1, -1);
    ir_expr *sum = ex_load(E, access_axes(E, s, oax));
    if (f < 0 || add_stmt(E, access_axes(E, f, oax), IR_COMB_ASSIGN,
                          logsm ? ex(E, IR_LOG, sum, NULL) : ex(E, IR_DIV, ex_const(E, 1), sum), false) < 0)
        return NULL;
    lz *out = lz_binary(E, logsm ? IR_SUB : IR_MUL, R, lz_tensor(E, f), call->begin, call->end);
    if (add_stmt(E, access_axes(E, r, ax), IR_COMB_ASSIGN, inst(E, out, ax), false) < 0)
        return NULL;
    return tensor_val(E, lz_tensor(E, r), call->begin, call->end);
}

/* (x − mean) · rsqrt(var + eps) over the dims where keep[d] is false. */
static lz *normalize(elab *E, lz *x, const bool *keep, double eps, const el_node *call)
{
    if (!dtype_is_float(x->dtype)) {
        x = lz_binary(E, IR_MUL, x, lz_const(E, 1, EINC_F32), call->begin, call->end);
        if (x)
            x->dtype = EINC_F32;    /* integers normalise in float32, as torch's default dtype */
    }
    int t = x ? materialize(E, x) : -1;
    lz *X = t >= 0 ? lz_tensor(E, t) : NULL;
    int *ax = X ? axes_for(E, X) : NULL;
    if (!ax)
        return NULL;
    int mean = reduce_to(E, X, keep, IR_COMB_SUM, true, ax, X->dtype);
    if (mean < 0)
        return NULL;
    lz *centered = lz_binary(E, IR_SUB, X, lz_tensor(E, mean), call->begin, call->end);
    int var = reduce_to(E, lz_binary(E, IR_MUL, centered, centered, call->begin, call->end), keep,
                        IR_COMB_SUM, true, ax, X->dtype);
    if (var < 0)
        return NULL;
    lz *rstd = lz_unary(E, IR_RSQRT, lz_binary(E, IR_ADD, lz_tensor(E, var), lz_const(E, eps, X->dtype),
                                               call->begin, call->end));
    return lz_binary(E, IR_MUL, centered, rstd, call->begin, call->end);
}

static val *layernorm(elab *E, const el_node *call, val **arg)
{
    const char *fn = "layernorm";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int64_t dims = 1;
    double eps = 1e-5;
    if (!x || (arg[3] && !get_int(E, arg[3], fn, "dims", &dims)) || (arg[4] && !get_num(E, arg[4], fn, "eps", &eps)))
        return NULL;
    if (dims < 1 || dims > x->ndim) {
        cc_error(E->c, EINC_ERR_ARG, arg[3] ? arg[3]->begin : call->begin, arg[3] ? arg[3]->end : call->end,
                 "%s: dims=%lld, but the input %s has %d dimension%s", fn, (long long)dims,
                 shape_text(E, x->ndim, x->shape), x->ndim, x->ndim == 1 ? "" : "s");
        return NULL;
    }
    int lead = x->ndim - (int)dims;
    bool keep[EINC_MAX_RANK];
    for (int d = 0; d < x->ndim; d++)
        keep[d] = d < lead;
    lz *y = normalize(E, x, keep, eps, call);
    for (int k = 1; k <= 2 && y; k++) {
        if (is_none(arg[k]))
            continue;
        lz *w = need_tensor(E, arg[k], fn, k == 1 ? "weight" : "bias");
        if (!w)
            return NULL;
        bool ok = w->ndim == (int)dims;
        for (int d = 0; ok && d < (int)dims; d++)
            ok = w->shape[d] == x->shape[lead + d];
        if (!ok) {
            cc_error(E->c, EINC_ERR_SHAPE, arg[k]->begin, arg[k]->end,
                     "%s: %s has shape %s, but the normalized shape of input %s is %s", fn,
                     k == 1 ? "weight" : "bias", shape_text(E, w->ndim, w->shape),
                     shape_text(E, x->ndim, x->shape), shape_text(E, (int)dims, x->shape + lead));
            return NULL;
        }
        y = lz_binary(E, k == 1 ? IR_MUL : IR_ADD, y, w, call->begin, call->end);
    }
    return tensor_val(E, y, call->begin, call->end);
}

static val *batchnorm2d(elab *E, const el_node *call, val **arg)
{
    const char *fn = "batchnorm2d";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int64_t training = 0;
    double eps = 1e-5;
    if (!x || (arg[5] && !get_int(E, arg[5], fn, "training", &training)) ||
        (arg[6] && !get_num(E, arg[6], fn, "eps", &eps)))
        return NULL;
    if (x->ndim != 4)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a 4-d input (N, C, H, W), got "
                    "shape %s", fn, shape_text(E, x->ndim, x->shape));
    int64_t C = x->shape[1];
    static const char *const what[] = { "x", "running_mean", "running_var", "weight", "bias" };
    lz *v[5] = { x };
    for (int k = 1; k < 5; k++) {
        if (is_none(arg[k]))
            continue;
        if (!(v[k] = need_tensor(E, arg[k], fn, what[k])) || !check_vector(E, arg[k], v[k], fn, what[k], C, "channels", x))
            return NULL;
        v[k] = channel_view(E, v[k], 4, 1);
        if (!v[k])
            return NULL;
    }
    lz *y;
    if (training) {
        bool keep[4] = { false, true, false, false };
        y = normalize(E, x, keep, eps, call);
    } else {
        for (int k = 1; k <= 2; k++)
            if (!v[k])
                return shape_err(E, call->begin, call->end, "%s: %s is none, which needs training=1 "
                            "(normalise with the batch's statistics)", fn, what[k]);
        /*
         * Folded, as inference engines do: per channel, scale = weight·rsqrt(var + eps) and
         * shift = bias − mean·scale, so y = x·scale + shift.  They stay expressions in the
         * element's formula (the code generators compute them once per channel, outside the
         * innermost loop), so the block remains one loop nest.
         */
        int b = call->begin, e = call->end;
        einc_dtype t = float_of(x->dtype);
        lz *scale = lz_unary(E, IR_RSQRT, lz_binary(E, IR_ADD, v[2], lz_const(E, eps, t), b, e));
        if (v[3])
            scale = lz_binary(E, IR_MUL, scale, v[3], b, e);
        lz *shift = lz_binary(E, IR_SUB, v[4] ? v[4] : lz_const(E, 0, t), lz_binary(E, IR_MUL, v[1], scale, b, e), b, e);
        y = lz_binary(E, IR_ADD, lz_binary(E, IR_MUL, x, scale, b, e), shift, b, e);
        return tensor_val(E, y, b, e);
    }
    if (y && v[3])
        y = lz_binary(E, IR_MUL, y, v[3], call->begin, call->end);
    if (y && v[4])
        y = lz_binary(E, IR_ADD, y, v[4], call->begin, call->end);
    return tensor_val(E, y, call->begin, call->end);
}

static val *linear(elab *E, const el_node *call, val **arg)
{
    const char *fn = "linear";
    lz *x = need_tensor(E, arg[0], fn, "x"), *w = need_tensor(E, arg[1], fn, "weight");
    lz *b = is_none(arg[2]) ? NULL : need_tensor(E, arg[2], fn, "bias");
    if (!x || !w || (!is_none(arg[2]) && !b))
        return NULL;
    if (x->ndim < 1)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: the input must have at least 1 dimension", fn);
    int64_t in = x->shape[x->ndim - 1];
    if (w->ndim != 2 || w->shape[1] != in)
        return shape_err(E, arg[1]->begin, arg[1]->end, "%s: weight has shape %s, but the input %s has "
                    "%lld features (weight must be [out, %lld])", fn, shape_text(E, w->ndim, w->shape),
                    shape_text(E, x->ndim, x->shape), (long long)in, (long long)in);
    int64_t out = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != out))
        return shape_err(E, arg[2]->begin, arg[2]->end, "%s: bias has shape %s, but weight gives %lld "
                    "output features", fn, shape_text(E, b->ndim, b->shape), (long long)out);
    einc_dtype t = dtype_promote(x->dtype, w->dtype);
    if (b)
        t = dtype_promote(t, b->dtype);
    int tx = materialize(E, x), tw = materialize(E, w);
    if (tx < 0 || tw < 0)
        return NULL;
    int64_t sh[EINC_MAX_RANK];
    memcpy(sh, x->shape, sizeof *sh * (size_t)x->ndim);
    sh[x->ndim - 1] = out;
    int y = new_tensor(E, NULL, IR_TEMP, t, x->ndim, sh, -1, -1);
    int *ax = y >= 0 ? fresh_axes(E, x->ndim, sh) : NULL;
    int k = new_axis(E, in);
    if (!ax || k < 0)
        return NULL;
    int xa[EINC_MAX_RANK];
    memcpy(xa, ax, sizeof *xa * (size_t)x->ndim);
    xa[x->ndim - 1] = k;
    int wa[2] = { ax[x->ndim - 1], k };
    if (out == 1)       /* the size-1 output axis has no loop */
        wa[0] = -1;
    if (b) {   /* out = bias, then out += x·wᵀ: the product stays a GEMM with nothing after it */
        int tb = materialize(E, b);
        if (tb < 0 || add_stmt(E, access_axes(E, y, ax), IR_COMB_ASSIGN,
                               ex_load(E, access_axes(E, tb, (int[]){ ax[x->ndim - 1] })), false) < 0)
            return NULL;
    }
    if (in == 1)        /* nor does a size-1 reduced axis */
        xa[x->ndim - 1] = wa[1] = -1;
    ir_expr *prod = ex(E, IR_MUL, ex_load(E, access_axes(E, tx, xa)), ex_load(E, access_axes(E, tw, wa)));
    if (add_stmt(E, access_axes(E, y, ax), IR_COMB_SUM, prod, b != NULL) < 0)
        return NULL;
    if (b)
        E->defax[y] = NULL;     /* two writers: nothing may fold into either */
    return tensor_val(E, lz_tensor(E, y), call->begin, call->end);
}

static val *conv2d(elab *E, const el_node *call, val **arg)
{
    const char *fn = "conv2d";
    lz *x = need_tensor(E, arg[0], fn, "x"), *w = need_tensor(E, arg[1], fn, "weight");
    lz *b = is_none(arg[2]) ? NULL : need_tensor(E, arg[2], fn, "bias");
    int64_t stride[2] = { 1, 1 }, pad[2] = { 0, 0 }, padr[2], dil[2] = { 1, 1 }, groups = 1;
    bool same = false;
    if (!x || !w || (!is_none(arg[2]) && !b))
        return NULL;
    if ((arg[3] && !get_pair(E, arg[3], fn, "stride", stride)) || (arg[5] && !get_pair(E, arg[5], fn, "dilation", dil)) ||
        (arg[6] && !get_int(E, arg[6], fn, "groups", &groups)))
        return NULL;
    if (arg[4] && arg[4]->kind == V_STRING) {
        if (strcmp(arg[4]->str, "same") == 0)
            same = true;
        else if (strcmp(arg[4]->str, "valid") != 0)
            return shape_err(E, arg[4]->begin, arg[4]->end, "%s: padding '%s' is not 'same', 'valid' "
                        "or an integer", fn, arg[4]->str);
    } else if (arg[4] && !get_pair(E, arg[4], fn, "padding", pad)) {
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (stride[i] < 1 || dil[i] < 1 || pad[i] < 0)
            return shape_err(E, call->begin, call->end, "%s: stride and dilation must be positive and "
                        "padding non-negative (stride %lld, padding %lld, dilation %lld)", fn,
                        (long long)stride[i], (long long)pad[i], (long long)dil[i]);
    }
    if (x->ndim != 4)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a 4-d input (N, C, H, W), got "
                    "shape %s", fn, shape_text(E, x->ndim, x->shape));
    if (w->ndim != 4)
        return shape_err(E, arg[1]->begin, arg[1]->end, "%s: expected a 4-d weight (out, in/groups, kH, "
                    "kW), got shape %s", fn, shape_text(E, w->ndim, w->shape));
    int64_t N = x->shape[0], C = x->shape[1], O = w->shape[0], Cg = w->shape[1];
    if (groups < 1 || C % groups || O % groups)
        return shape_err(E, arg[6] ? arg[6]->begin : call->begin, arg[6] ? arg[6]->end : call->end,
                    "%s: groups=%lld must divide both the input's %lld channels and the weight's "
                    "%lld output channels", fn, (long long)groups, (long long)C, (long long)O);
    if (Cg * groups != C)
        return shape_err(E, arg[1]->begin, arg[1]->end, "%s: weight %s expects %lld input channels "
                    "(%lld per group x groups=%lld), but x %s has %lld channels", fn,
                    shape_text(E, w->ndim, w->shape), (long long)(Cg * groups), (long long)Cg,
                    (long long)groups, shape_text(E, x->ndim, x->shape), (long long)C);
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return shape_err(E, arg[2]->begin, arg[2]->end, "%s: bias has shape %s, but the weight has %lld "
                    "output channels", fn, shape_text(E, b->ndim, b->shape), (long long)O);
    int64_t osz[2];
    static const char *const side[] = { "height", "width" };
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape[2 + i], k = w->shape[2 + i];
        if (same) {
            if (stride[i] != 1)
                return shape_err(E, arg[4]->begin, arg[4]->end, "%s: padding='same' needs stride 1", fn);
            int64_t total = dil[i] * (k - 1);
            pad[i] = total / 2;
            padr[i] = total - pad[i];
        } else {
            padr[i] = pad[i];
        }
        int64_t num = in + pad[i] + padr[i] - dil[i] * (k - 1) - 1;
        osz[i] = num < 0 ? 0 : num / stride[i] + 1;
        if (osz[i] <= 0)
            return shape_err(E, call->begin, call->end,
                        "%s: the output %s is (%lld + 2*%lld - %lld*(%lld - 1) - 1)/%lld + 1 = %lld: the "
                        "kernel is larger than the padded input", fn, side[i], (long long)in,
                        (long long)pad[i], (long long)dil[i], (long long)k, (long long)stride[i],
                        (long long)(num < 0 ? (num - stride[i] + 1) / stride[i] + 1 : osz[i]));
    }
    einc_dtype t = dtype_promote(x->dtype, w->dtype);
    int tx = materialize(E, x), tw = materialize(E, w);
    if (tx < 0 || tw < 0)
        return NULL;
    int64_t Og = O / groups, KH = w->shape[2], KW = w->shape[3];
    int64_t ysh[4] = { N, O, osz[0], osz[1] };
    int y = new_tensor(E, NULL, IR_TEMP, t, 4, ysh, -1, -1);
    /* loops: n, g (groups > 1), o within the group, oh, ow; reduced c, kh, kw */
    int an = N > 1 ? new_axis(E, N) : -1, ag = groups > 1 ? new_axis(E, groups) : -1;
    int ao = Og > 1 ? new_axis(E, Og) : -1, ah = osz[0] > 1 ? new_axis(E, osz[0]) : -1;
    int aw = osz[1] > 1 ? new_axis(E, osz[1]) : -1, ac = Cg > 1 ? new_axis(E, Cg) : -1;
    int akh = KH > 1 ? new_axis(E, KH) : -1, akw = KW > 1 ? new_axis(E, KW) : -1;
    if (y < 0 || E->c->failed)
        return NULL;
    bool guard = pad[0] || pad[1] || padr[0] || padr[1];
    dimspec yd[4] = { { 1, { an }, { 1 }, 0 }, { 2, { ag, ao }, { Og, 1 }, 0 },
                      { 1, { ah }, { 1 }, 0 }, { 1, { aw }, { 1 }, 0 } };
    dimspec xd[4] = { { 1, { an }, { 1 }, 0 }, { 2, { ag, ac }, { Cg, 1 }, 0 },
                      { 2, { ah, akh }, { stride[0], dil[0] }, -pad[0] },
                      { 2, { aw, akw }, { stride[1], dil[1] }, -pad[1] } };
    dimspec wd[4] = { { 2, { ag, ao }, { Og, 1 }, 0 }, { 1, { ac }, { 1 }, 0 },
                      { 1, { akh }, { 1 }, 0 }, { 1, { akw }, { 1 }, 0 } };
    ir_expr *prod = ex(E, IR_MUL, ex_load(E, access_affine(E, tx, xd, guard)),
                       ex_load(E, access_affine(E, tw, wd, false)));
    if (add_stmt(E, access_affine(E, y, yd, false), IR_COMB_SUM, prod, false) < 0)
        return NULL;
    lz *r = lz_tensor(E, y);
    if (b)
        r = lz_binary(E, IR_ADD, r, channel_view(E, b, 4, 1), call->begin, call->end);
    return tensor_val(E, r, call->begin, call->end);
}

static val *squeeze(elab *E, const el_node *call, val **arg, bool un)
{
    const char *fn = un ? "unsqueeze" : "squeeze";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int dim;
    if (!x || !get_dim(E, arg[1], fn, x->ndim + un, &dim))
        return NULL;
    if (!un && x->shape[dim] != 1)
        return shape_err(E, arg[1]->begin, arg[1]->end, "squeeze: dimension %d of %s has size %lld, "
                    "not 1", dim, shape_text(E, x->ndim, x->shape), (long long)x->shape[dim]);
    int t = materialize(E, x);
    if (t < 0)
        return NULL;
    int64_t sh[EINC_MAX_RANK + 1];
    int td[EINC_MAX_RANK + 1], n = 0;
    if (un && x->ndim >= EINC_MAX_RANK)
        return shape_err(E, call->begin, call->end, "unsqueeze: at most %d dimensions", EINC_MAX_RANK);
    for (int d = 0; d < x->ndim; d++) {
        if (un && d == dim)
            sh[n++] = 1;
        td[d] = !un && d == dim ? -1 : n;
        if (un || d != dim)
            sh[n++] = x->shape[d];
    }
    if (un && dim == x->ndim)
        sh[n++] = 1;
    return tensor_val(E, lz_view(E, t, n, sh, td), call->begin, call->end);
}

/* ---- metrics ------------------------------------------------------------------------------- */

static val *confusion(elab *E, const el_node *call, val **arg)
{
    const char *fn = "confusion";
    int64_t K;
    lz *pr = need_tensor(E, arg[0], fn, "pred"), *tg = need_tensor(E, arg[1], fn, "target");
    if (!pr || !tg)
        return NULL;
    if (!arg[2])
        return shape_err(E, call->begin, call->end, "confusion() missing required argument 'classes'");
    if (!get_int(E, arg[2], fn, "classes", &K))
        return NULL;
    if (K < 1)
        return shape_err(E, arg[2]->begin, arg[2]->end, "confusion: classes must be at least 1, not %lld", (long long)K);
    lz *v[2] = { pr, tg };
    for (int i = 0; i < 2; i++) {
        if (dtype_is_float(v[i]->dtype))
            return shape_err(E, arg[i]->begin, arg[i]->end, "confusion: %s must hold integer class "
                        "labels, not %s", i ? "target" : "pred", einc_dtype_name(v[i]->dtype));
        if (!is_whole(E, v[i]) || E->p->tensor[v[i]->tensor].role != IR_INPUT)
            return shape_err(E, arg[i]->begin, arg[i]->end, "confusion: %s must be a model input (its "
                        "labels are checked before the model runs)", i ? "target" : "pred");
    }
    bool same = pr->ndim == tg->ndim;
    for (int d = 0; same && d < pr->ndim; d++)
        same = pr->shape[d] == tg->shape[d];
    if (!same)
        return shape_err(E, call->begin, call->end, "confusion: pred %s and target %s must have the same "
                    "shape", shape_text(E, pr->ndim, pr->shape), shape_text(E, tg->ndim, tg->shape));
    for (int i = 0; i < 2; i++) {
        ir_prog *p = E->p;
        ir_label *l = grow(E, p->label, p->nlabel, &E->cap_label, sizeof *l);
        if (!l)
            return NULL;
        p->label = l;
        l[p->nlabel++] = (ir_label){ v[i]->tensor, K, arg[i]->begin, arg[i]->end };
    }
    int64_t sh[2] = { K, K };
    int cm = new_tensor(E, NULL, IR_TEMP, EINC_I64, 2, sh, -1, -1);
    int at = K > 1 ? new_axis(E, K) : -1, ap = K > 1 ? new_axis(E, K) : -1;
    int *ax = fresh_axes(E, pr->ndim, pr->shape);
    if (cm < 0 || !ax)
        return NULL;
    ir_expr *t = ex_load(E, access_axes(E, tg->tensor, ax)), *p = ex_load(E, access_axes(E, pr->tensor, ax));
    ir_expr *rhs = ex(E, IR_MUL, ex(E, IR_EQ, t, at >= 0 ? ex_axis(E, at) : ex_const(E, 0)),
                      ex(E, IR_EQ, p, ap >= 0 ? ex_axis(E, ap) : ex_const(E, 0)));
    if (add_stmt(E, access_axes(E, cm, (int[]){ at, ap }), IR_COMB_SUM, rhs, false) < 0)
        return NULL;
    return tensor_val(E, lz_tensor(E, cm), call->begin, call->end);
}

/* precision, recall, specificity, f1, accuracy from a K×K confusion matrix. */
static val *metric(elab *E, const el_node *call, val **arg, const char *fn)
{
    lz *cm = need_tensor(E, arg[0], fn, "cm");
    if (!cm)
        return NULL;
    if (cm->ndim != 2 || cm->shape[0] != cm->shape[1])
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a square confusion matrix "
                    "[classes, classes], got shape %s", fn, shape_text(E, cm->ndim, cm->shape));
    if (dtype_is_float(cm->dtype))
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected an integer confusion matrix "
                    "(from confusion()), got %s", fn, einc_dtype_name(cm->dtype));
    int t = materialize(E, cm);
    if (t < 0)
        return NULL;
    int64_t K = cm->shape[0];
    lz *M = lz_tensor(E, t);
    int *ax = axes_for(E, M);
    if (!ax)
        return NULL;
    bool keep_row[2] = { true, false }, keep_col[2] = { false, true }, none[2] = { false, false };
    int rows = reduce_to(E, M, keep_row, IR_COMB_SUM, false, ax, EINC_I64);    /* [K, 1]: true class */
    int cols = reduce_to(E, M, keep_col, IR_COMB_SUM, false, ax, EINC_I64);    /* [1, K]: predicted */
    if (rows < 0 || cols < 0)
        return NULL;
    /* per class vectors [K]: tp (the diagonal), row and column sums */
    int64_t k1[1] = { K };
    lz *tp = lz_view(E, t, 1, k1, (int[]){ 0, 0 });
    lz *row = lz_view(E, rows, 1, k1, (int[]){ 0, -1 });
    lz *col = lz_view(E, cols, 1, k1, (int[]){ -1, 0 });
    lz *f = NULL;
    int b = call->begin, e = call->end;
    lz *one = lz_const(E, 1, EINC_F32);
    /* arithmetic in float32: the counts convert when loaded */
    tp = lz_binary(E, IR_MUL, tp, one, b, e);
    if (strcmp(fn, "precision") == 0) {
        f = lz_binary(E, IR_DIVZ, tp, col, b, e);
    } else if (strcmp(fn, "recall") == 0) {
        f = lz_binary(E, IR_DIVZ, tp, row, b, e);
    } else if (strcmp(fn, "f1") == 0) {
        f = lz_binary(E, IR_DIVZ, lz_binary(E, IR_MUL, tp, lz_const(E, 2, EINC_F32), b, e),
                      lz_binary(E, IR_ADD, row, col, b, e), b, e);
    } else {
        int tot = reduce_to(E, M, none, IR_COMB_SUM, false, ax, EINC_I64);
        if (tot < 0)
            return NULL;
        lz *total = lz_view(E, tot, 0, NULL, (int[]){ -1, -1 });
        if (strcmp(fn, "specificity") == 0) {   /* tn / (tn + fp) = (N - row - col + tp) / (N - row) */
            lz *neg = lz_binary(E, IR_SUB, total, row, b, e);
            f = lz_binary(E, IR_DIVZ, lz_binary(E, IR_ADD, lz_binary(E, IR_SUB, neg, col, b, e), tp, b, e),
                          lz_binary(E, IR_MUL, neg, one, b, e), b, e);
        } else {                                /* accuracy: Σ tp / N */
            int dg = new_tensor(E, NULL, IR_TEMP, EINC_I64, 0, NULL, -1, -1);
            int *dax = fresh_axes(E, 1, k1);
            if (dg < 0 || !dax || add_stmt(E, access_axes(E, dg, NULL), IR_COMB_SUM,
                                           inst(E, lz_view(E, t, 1, k1, (int[]){ 0, 0 }), dax), false) < 0)
                return NULL;
            f = lz_binary(E, IR_DIVZ, lz_binary(E, IR_MUL, lz_tensor(E, dg), one, b, e), total, b, e);
        }
    }
    if (f)
        f->dtype = EINC_F32;    /* float32 vectors, whatever the counts' type */
    return tensor_val(E, f, b, e);
}

/* ---- pattern calls: einsum, rearrange, reduce, repeat -------------------------------------- */

static int remap_mono(elab *E, ir_mono *m, const int *amap)
{
    if (!m->n)
        return 0;
    int *v = ARENA_ARRAY(E->A, int, m->n);
    if (!v)
        return cc_nomem(E->c);
    for (int i = 0; i < m->n; i++)
        v[i] = amap[m->v[i]];
    m->v = v;
    return 0;
}

static int remap_access(elab *E, ir_access *a, const int *amap, const int *tmap)
{
    ir_dim *d = ARENA_ARRAY(E->A, ir_dim, a->ndim + 1);
    if (!d)
        return cc_nomem(E->c);
    for (int i = 0; i < a->ndim; i++) {
        d[i] = a->dim[i];
        ir_term *t = ARENA_ARRAY(E->A, ir_term, d[i].n + 1);
        if (!t)
            return cc_nomem(E->c);
        for (int k = 0; k < d[i].n; k++) {
            t[k] = d[i].t[k];
            t[k].axis = amap[t[k].axis];
            if (remap_mono(E, &t[k].coef, amap) < 0)
                return -1;
        }
        d[i].t = t;
    }
    a->dim = d;
    a->tensor = tmap[a->tensor];
    return 0;
}

static ir_expr *remap_expr(elab *E, const ir_expr *x, const int *amap, const int *tmap)
{
    if (!x)
        return NULL;
    ir_expr *y = ARENA_NEW(E->A, ir_expr);
    if (!y)
        return cc_nomem(E->c), NULL;
    *y = *x;
    if (x->op == IR_ACCESS && remap_access(E, &y->acc, amap, tmap) < 0)
        return NULL;
    if (x->op == IR_SIZE && remap_mono(E, &y->m, amap) < 0)
        return NULL;
    if (x->op == IR_AXIS)
        y->axis = amap[x->axis];
    y->a = remap_expr(E, x->a, amap, tmap);
    y->b = remap_expr(E, x->b, amap, tmap);
    return y;
}

/* Appends a bound einsum/einops program whose inputs are tensors in[]; returns its output. */
static int inline_prog(elab *E, const ir_prog *q, const int *in)
{
    int *amap = ARENA_ARRAY(E->A, int, q->naxis + 1), *tmap = ARENA_ARRAY(E->A, int, q->ntensor + 1);
    if (!amap || !tmap)
        return cc_nomem(E->c);
    for (int a = 0; a < q->naxis; a++)
        if ((amap[a] = new_axis(E, q->axis[a].size)) < 0)
            return -1;
    for (int t = 0; t < q->ntensor; t++) {
        const ir_tensor *T = &q->tensor[t];
        if (T->role == IR_INPUT) {
            tmap[t] = in[t];
            continue;
        }
        int64_t sh[EINC_MAX_RANK];
        for (int d = 0; d < T->ndim; d++)
            sh[d] = ir_mono_eval(q, &T->shape[d]);
        if ((tmap[t] = new_tensor(E, NULL, IR_TEMP, T->dtype, T->ndim, sh, -1, -1)) < 0)
            return -1;
    }
    for (int s = 0; s < q->nstmt; s++) {
        const ir_stmt *st = &q->stmt[s];
        ir_access out = st->out;
        if (remap_access(E, &out, amap, tmap) < 0 ||
            add_stmt(E, out, st->comb, remap_expr(E, st->rhs, amap, tmap), st->accumulate) < 0)
            return -1;
        /* keep the pattern's own loop order */
        ir_stmt *ns = &E->p->stmt[E->p->nstmt - 1];
        for (int i = 0; i < st->nfree && i < ns->nfree; i++)
            ns->free[i] = amap[st->free[i]];
        for (int i = 0; i < st->nred && i < ns->nred; i++)
            ns->red[i] = amap[st->red[i]];
    }
    return tmap[q->output];
}

static const char *reduce_names[] = { "sum", "mean", "max", "min", "prod" };

val *pattern_call(elab *E, const el_node *call, val *const *pos, const char *fn)
{
    /* fn(x, PATTERN, [reduction], NAME=size ...) or einsum(PATTERN, x, y, ...) */
    bool ein = strcmp(fn, "einsum") == 0;
    val *pat = NULL, *red = NULL, *ops[EINC_MAX_OPERANDS];
    int nops = 0, nsz = 0;
    einc_size *sz = ARENA_ARRAY(E->A, einc_size, call->nargs + 1);
    if (!sz)
        return cc_nomem(E->c), NULL;
    for (int i = 0; i < call->nargs; i++) {
        const el_arg *a = &call->args[i];
        val *v = pos[i];
        if (a->key && (strcmp(a->key, "pattern") == 0 || strcmp(a->key, "reduction") == 0)) {
            if (v->kind != V_STRING)
                return shape_err(E, v->begin, v->end, "%s: %s must be a string", fn, a->key);
            *(a->key[0] == 'p' ? &pat : &red) = v;
        } else if (a->key) {
            int64_t n;
            if (ein)
                return shape_err(E, a->key_begin, a->key_end, "einsum() got an unexpected keyword argument '%s'", a->key);
            if (!get_int(E, v, fn, a->key, &n))
                return NULL;
            sz[nsz++] = (einc_size){ a->key, n };
        } else if (v->kind == V_STRING && !pat && (ein || nops == 1)) {
            pat = v;
        } else if (v->kind == V_STRING && strcmp(fn, "reduce") == 0 && pat && !red) {
            red = v;
        } else {
            if (nops >= (ein ? EINC_MAX_OPERANDS : 1))
                return shape_err(E, v->begin, v->end, "%s: too many operands", fn);
            ops[nops++] = v;
        }
    }
    if (!pat)
        return shape_err(E, call->begin, call->end, "%s() needs a pattern string", fn);
    if (!nops)
        return shape_err(E, call->begin, call->end, "%s() needs a tensor to work on", fn);
    einc_reduce r = EINC_REDUCE_SUM;
    if (strcmp(fn, "reduce") == 0) {
        if (!red)
            return shape_err(E, call->begin, call->end, "reduce() needs a reduction: 'sum', 'mean', "
                        "'max', 'min' or 'prod'");
        int k = -1;
        for (int i = 0; i < 5 && k < 0; i++)
            if (strcmp(red->str, reduce_names[i]) == 0)
                k = i;
        if (k < 0)
            return shape_err(E, red->begin, red->end, "reduce: unknown reduction '%s' (expected 'sum', "
                        "'mean', 'max', 'min' or 'prod')", red->str);
        r = (einc_reduce)k;
    } else if (red) {
        return shape_err(E, red->begin, red->end, "%s() takes no reduction", fn);
    }
    int tin[EINC_MAX_OPERANDS];
    einc_tensor ti[EINC_MAX_OPERANDS];
    for (int i = 0; i < nops; i++) {
        lz *z = need_tensor(E, ops[i], fn, "an operand");
        if (!z || (tin[i] = materialize(E, z)) < 0)
            return NULL;
        ti[i] = (einc_tensor){ .dtype = z->dtype, .ndim = z->ndim, .shape = z->shape };
    }
    einc_error sub = { 0 };
    cc c2 = { .A = E->A, .src = pat->str, .err = &sub };
    /* rearrange/reduce/repeat are einops' ('... ->', 'index ->'); einsum() also takes
       numpy's strings ('bid,bjd->bij'), so it reads its pattern by the usual rule */
    bool einsum = strcmp(fn, "einsum") == 0;
    ast_expr *ast = parse_expr_as(&c2, einsum ? EINC_DIALECT_AUTO : EINC_DIALECT_EINOPS);
    bind_opts o = { r, EINC_F32, 0, nsz, sz, false };
    ir_prog *q = ast ? bind_expr(&c2, ast, &o, nops, ti) : NULL;
    if (q && ast->nin != nops)
        cc_error(&c2, EINC_ERR_SHAPE, -1, -1, "the pattern has %d operand%s, but %d tensor%s given",
                 ast->nin, ast->nin == 1 ? "" : "s", nops, nops == 1 ? " is" : "s are");
    if (q && !c2.failed) {
        /* a repeated input axis is a diagonal: einops.einsum takes it, its rearrange,
           reduce and repeat do not */
        bool bad = (!einsum && q->kind == IR_EINSUM) ||
                   (strcmp(fn, "rearrange") == 0 && (q->kind == IR_REDUCE || q->kind == IR_REPEAT)) ||
                   (strcmp(fn, "reduce") == 0 && q->kind == IR_REPEAT) ||
                   (strcmp(fn, "repeat") == 0 && q->kind == IR_REDUCE);
        if (bad && q->kind == IR_EINSUM)
            cc_error(&c2, EINC_ERR_SHAPE, -1, -1, "an axis repeated in the input is a diagonal, "
                     "which einsum() takes and %s() does not (as in einops)", fn);
        else if (bad)
            cc_error(&c2, EINC_ERR_SHAPE, -1, -1, "the pattern is a %s, which %s() does not do",
                     ir_kind_name(q->kind), fn);
    }
    if (q && !c2.failed) {
        double naive, opt, largest;
        path_optimize(&c2, q, 0, &naive, &opt, &largest);
    }
    if (c2.failed) {
        int b = sub.begin >= 0 ? pat->str_begin + sub.begin : pat->begin;
        int e = sub.begin >= 0 ? pat->str_begin + sub.end : pat->end;
        cc_error(E->c, sub.status, b, e, "%s: %s", fn, sub.message);
        return NULL;
    }
    int out = inline_prog(E, q, tin);
    return out < 0 ? NULL : tensor_val(E, lz_tensor(E, out), call->begin, call->end);
}

/* ---- expressions ------------------------------------------------------------------------------- */

static val *eval(elab *E, strmap *env, const el_node *x, int scope_end);
static val *run_block(elab *E, const el_item *def, val **args, const el_node *call);

static const sig sigs[] = {
    { "linear", 3, (const char *const[]){ "x", "weight", "bias" }, 2 },
    { "conv2d", 7, (const char *const[]){ "x", "weight", "bias", "stride", "padding", "dilation", "groups" }, 2 },
    { "batchnorm2d", 7, (const char *const[]){ "x", "running_mean", "running_var", "weight", "bias", "training", "eps" }, 3 },
    { "layernorm", 5, (const char *const[]){ "x", "weight", "bias", "dims", "eps" }, 1 },
    { "softmax", 2, (const char *const[]){ "x", "dim" }, 1 },
    { "log_softmax", 2, (const char *const[]){ "x", "dim" }, 1 },
    { "squeeze", 2, (const char *const[]){ "x", "dim" }, 2 },
    { "unsqueeze", 2, (const char *const[]){ "x", "dim" }, 2 },
    { "confusion", 3, (const char *const[]){ "pred", "target", "classes" }, 2 },
    { "relu", 1, (const char *const[]){ "x" }, 1 }, { "sigmoid", 1, (const char *const[]){ "x" }, 1 },
    { "tanh", 1, (const char *const[]){ "x" }, 1 }, { "exp", 1, (const char *const[]){ "x" }, 1 }, { "log", 1, (const char *const[]){ "x" }, 1 },
    { "sqrt", 1, (const char *const[]){ "x" }, 1 },
    { "precision", 1, (const char *const[]){ "cm" }, 1 }, { "recall", 1, (const char *const[]){ "cm" }, 1 }, { "specificity", 1, (const char *const[]){ "cm" }, 1 },
    { "f1", 1, (const char *const[]){ "cm" }, 1 }, { "accuracy", 1, (const char *const[]){ "cm" }, 1 },
};

static val *builtin(elab *E, const el_node *call, const sig *s, val **arg)
{
    const char *fn = s->name;
    if (strcmp(fn, "linear") == 0)
        return linear(E, call, arg);
    if (strcmp(fn, "conv2d") == 0)
        return conv2d(E, call, arg);
    if (strcmp(fn, "batchnorm2d") == 0)
        return batchnorm2d(E, call, arg);
    if (strcmp(fn, "layernorm") == 0)
        return layernorm(E, call, arg);
    if (strcmp(fn, "softmax") == 0 || strcmp(fn, "log_softmax") == 0) {
        val dflt = { .kind = V_NUMBER, .num = -1, .is_int = true, .begin = call->begin, .end = call->end };
        if (!arg[1])
            arg[1] = &dflt;
        return softmax(E, call, arg, fn[0] == 'l');
    }
    if (strcmp(fn, "squeeze") == 0 || strcmp(fn, "unsqueeze") == 0)
        return squeeze(E, call, arg, fn[0] == 'u');
    if (strcmp(fn, "confusion") == 0)
        return confusion(E, call, arg);
    if (s->nparam == 1 && strcmp(s->param[0], "cm") == 0)
        return metric(E, call, arg, fn);
    /* elementwise functions */
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x)
        return NULL;
    lz *r;
    if (strcmp(fn, "relu") == 0) {
        r = lz_binary(E, IR_MAX, x, lz_const(E, 0, x->dtype == EINC_BOOL ? EINC_I64 : x->dtype),
                      call->begin, call->end);
    } else {
        static const struct { const char *n; ir_op op; } un[] = {
            { "sigmoid", IR_SIGMOID }, { "tanh", IR_TANH }, { "exp", IR_EXP }, { "log", IR_LOG },
            { "sqrt", IR_SQRT },
        };
        ir_op op = IR_EXP;
        for (size_t i = 0; i < sizeof un / sizeof *un; i++)
            if (strcmp(un[i].n, fn) == 0)
                op = un[i].op;
        r = lz_unary(E, op, x);
    }
    return tensor_val(E, r, call->begin, call->end);
}

/* The block a call at scope_end names: its first definition, when that comes before. */
static const el_item *find_def(const elab *E, const char *name, int scope_end)
{
    const el_item *it = map_get(&E->defs, name);
    return it && it->begin < scope_end ? it : NULL;
}

/* A call, its arguments' values arg[0..x->nargs) in order. */
static val *call(elab *E, const el_node *x, val *const *arg, int scope_end)
{
    val **pos = ARENA_ARRAY(E->A, val *, x->nargs + 1);
    if (!pos)
        return cc_nomem(E->c), NULL;
    if (x->nargs)
        memcpy(pos, arg, sizeof *pos * (size_t)x->nargs);
    const el_item *def = find_def(E, x->name, scope_end);
    if (def) {      /* a block: every parameter required, by position or by name */
        sig s = { .name = def->name, .nparam = def->nparams, .param = def->params, .required = def->nparams };
        val **arg = ARENA_ARRAY(E->A, val *, def->nparams + 1);
        if (!arg)
            return cc_nomem(E->c), NULL;
        return bind_args(E, x, &s, pos, arg) ? run_block(E, def, arg, x) : NULL;
    }
    if (strcmp(x->name, "einsum") == 0 || strcmp(x->name, "rearrange") == 0 ||
        strcmp(x->name, "reduce") == 0 || strcmp(x->name, "repeat") == 0)
        return pattern_call(E, x, pos, x->name);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        if (strcmp(sigs[i].name, x->name) != 0)
            continue;
        val *arg[8];    /* no built-in takes more */
        if (!bind_args(E, x, &sigs[i], pos, arg))
            return NULL;
        return builtin(E, x, &sigs[i], arg);
    }
    bool found;
    val *v = nn_call(E, x, pos, &found);
    if (found)
        return v;
    for (int i = 0; i < E->m->nitems; i++)
        if (E->m->items[i]->kind == EL_DEF && strcmp(E->m->items[i]->name, x->name) == 0)
            return shape_err(E, x->begin, x->begin + (int)strlen(x->name),
                        "block '%s' is used before its definition", x->name);
    const char *hint = nn_suggest(x->name, sigs, (int)(sizeof sigs / sizeof *sigs));
    cc_error(E->c, EINC_ERR_SYNTAX, x->begin, x->begin + (int)strlen(x->name), "unknown function '%s'%s%s%s",
             x->name, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    return NULL;
}

static val *arith(elab *E, char op, val *a, val *b, const el_node *x)
{
    if (a->kind == V_NUMBER && b->kind == V_NUMBER) {
        val *r = new_val(E, V_NUMBER, x->begin, x->end);
        if (!r)
            return NULL;
        r->is_int = a->is_int && b->is_int && op != '/';
        r->num = op == '+' ? a->num + b->num : op == '-' ? a->num - b->num : op == '*' ? a->num * b->num : a->num / b->num;
        return r;
    }
    einc_dtype like = a->kind == V_TENSOR ? a->t->dtype : b->kind == V_TENSOR ? b->t->dtype : EINC_F32;
    lz *p = as_tensor(E, a, "operator", "an operand", like), *q = as_tensor(E, b, "operator", "an operand", like);
    ir_op o = op == '+' ? IR_ADD : op == '-' ? IR_SUB : op == '*' ? IR_MUL : IR_DIV;
    lz *z = lz_binary(E, o, p, q, x->begin, x->end);
    if (z && !dtype_is_float(like) && ((a->kind == V_NUMBER && !a->is_int) || (b->kind == V_NUMBER && !b->is_int)))
        z->dtype = EINC_F32;    /* an integer tensor and a fraction: float32, as torch */
    return tensor_val(E, z, x->begin, x->end);
}

/* x's value, given the values k[0..) of its operands (kid). */
static val *apply(elab *E, strmap *env, const el_node *x, val *const *k, int scope_end)
{
    switch (x->kind) {
    case EL_NUMBER: {
        val *v = new_val(E, V_NUMBER, x->begin, x->end);
        if (v) {
            v->num = x->value;
            v->is_int = x->is_int;
        }
        return v;
    }
    case EL_STRING: {
        val *v = new_val(E, V_STRING, x->begin, x->end);
        if (v) {
            v->str = x->str;
            v->str_begin = x->str_begin;
        }
        return v;
    }
    case EL_NAME: {
        const val *v = map_get(env, x->name);
        if (v) {    /* the value, with this use's span for the errors about it */
            val *u = new_val(E, v->kind, x->begin, x->end);
            if (u) {
                *u = *v;
                u->begin = x->begin;
                u->end = x->end;
            }
            return u;
        }
        if (strcmp(x->name, "none") == 0)
            return new_val(E, V_NONE, x->begin, x->end);
        cc_error(E->c, EINC_ERR_SYNTAX, x->begin, x->end, "name '%s' is not defined", x->name);
        return NULL;
    }
    case EL_TUPLE: {
        val *v = new_val(E, V_TUPLE, x->begin, x->end);
        if (!v || !(v->item = ARENA_ARRAY(E->A, val *, x->nargs + 1)))
            return cc_nomem(E->c), NULL;
        v->n = x->nargs;
        if (x->nargs)
            memcpy(v->item, k, sizeof *v->item * (size_t)x->nargs);
        return v;
    }
    case EL_NEG: {
        const val *a = k[0];
        if (a->kind == V_NUMBER) {
            val *v = new_val(E, V_NUMBER, x->begin, x->end);
            if (v) {
                v->num = -a->num;
                v->is_int = a->is_int;
            }
            return v;
        }
        lz *t = as_tensor(E, a, "unary -", "the operand", EINC_F32);
        return t ? tensor_val(E, lz_unary(E, IR_NEG, t), x->begin, x->end) : NULL;
    }
    case EL_BINARY:
        return arith(E, x->op, k[0], k[1], x);
    case EL_CALL:
        return call(E, x, k, scope_end);
    }
    return NULL;
}

/* How many operands x has: the values apply needs first. */
static int nkids(const el_node *x)
{
    switch (x->kind) {
    case EL_BINARY:
        return 2;
    case EL_NEG:
        return 1;
    case EL_CALL:
    case EL_TUPLE:
        return x->nargs;
    default:
        return 0;
    }
}

static const el_node *kid(const el_node *x, int i)
{
    if (x->kind == EL_BINARY)
        return i ? x->b : x->a;
    return x->kind == EL_NEG ? x->a : x->args[i].value;
}

/* Puts x on the evaluator's stack, with room for its value; false when out of memory. */
static bool push(elab *E, const el_node *x)
{
    evframe *f = grow(E, E->frame, E->nframe, &E->cap_frame, sizeof *f);
    val **v = f ? grow(E, E->vals, E->nvals, &E->cap_vals, sizeof *v) : NULL;
    if (!v)
        return false;
    E->frame = f;
    E->vals = v;
    f[E->nframe++] = (evframe){ x, 0, E->nvals };
    return true;
}

/*
 * The value of x: operands first, left to right, then x (apply).  A stack of frames, not
 * recursion, because x's depth is the user's: `return x + x + ... + x` is a left-deep tree
 * as deep as it is long.  A block call's body is evaluated by a nested eval, which uses
 * the same stacks above this one's top and leaves them as it found them.
 */
static val *eval(elab *E, strmap *env, const el_node *x, int scope_end)
{
    int fbase = E->nframe, vbase = E->nvals;
    if (!push(E, x))
        return NULL;
    while (E->nframe > fbase) {
        evframe *f = &E->frame[E->nframe - 1];
        if (f->done < nkids(f->x)) {
            if (!push(E, kid(f->x, f->done++)))
                break;
            continue;
        }
        int base = f->base;
        val *v = E->c->failed ? NULL : apply(E, env, f->x, E->vals + base, scope_end);
        if (!v)
            break;
        E->nframe--;
        E->nvals = base;
        E->vals[E->nvals++] = v;    /* push made room for it */
    }
    val *v = E->nframe == fbase ? E->vals[vbase] : NULL;
    E->nframe = fbase;
    E->nvals = vbase;
    return v;
}

/* Runs a block's body with its parameters bound; its return is the call's value. */
static val *run_block(elab *E, const el_item *def, val **args, const el_node *callsite)
{
    if (++E->depth > 64)
        return shape_err(E, callsite->begin, callsite->end, "blocks nest more than 64 deep");
    strmap env = { 0 };
    for (int i = 0; i < def->nparams; i++)
        if (!map_put(E, &env, def->params[i], args[i], false))
            return NULL;
    for (int i = 0; i < def->nbody; i++) {
        const el_item *it = def->body[i];
        val *v = eval(E, &env, it->value, def->begin);
        if (!v)
            return NULL;
        if (it->kind == EL_RETURN) {
            E->depth--;
            return v;
        }
        if (!map_put(E, &env, it->name, v, false))
            return NULL;
    }
    return shape_err(E, def->name_begin, def->name_end, "block '%s' has no return", def->name);
}

/* ---- the model ------------------------------------------------------------------------------- */

int einl_ninputs(const el_model *m) { return m->ninputs; }

const el_item *einl_input(const el_model *m, int k)
{
    return k >= 0 && k < m->ninputs ? m->inputs[k] : NULL;
}

static int64_t *size_slot(elab *E, const char *name) { return map_get(&E->sizes, name); }

/* Learns every size name's value from the SIZE=N words and the arrays, checking agreement. */
static int bind_sizes(elab *E, int nsizes, const einc_size *sizes, int ninputs, const einc_tensor *in)
{
    const el_model *m = E->m;
    int nin = einl_ninputs(m), maxn = 0;
    for (int i = 0; i < nin; i++)
        maxn += einl_input(m, i)->ndim;
    E->size_name = ARENA_ARRAY(E->A, const char *, maxn + 1);
    E->size_value = ARENA_ARRAY(E->A, int64_t, maxn + 1);
    int *from = ARENA_ARRAY(E->A, int, maxn + 1);       /* which input set it; -1: a word */
    if (!E->size_name || !E->size_value || !from)
        return cc_nomem(E->c);
    for (int i = 0; i < nin; i++) {
        const el_item *it = einl_input(m, i);
        for (int d = 0; d < it->ndim; d++)
            if (it->dim[d].name && !size_slot(E, it->dim[d].name)) {
                if (!map_put(E, &E->sizes, it->dim[d].name, &E->size_value[E->nsize], false))
                    return -1;
                E->size_name[E->nsize] = it->dim[d].name;
                from[E->nsize] = -2;
                E->size_value[E->nsize++] = -1;
            }
    }
    for (int i = 0; i < nsizes; i++) {
        int64_t *s = size_slot(E, sizes[i].name);
        if (!s)
            return cc_error(E->c, EINC_ERR_ARG, -1, -1, "size %s=%lld: the model declares no size "
                            "named '%s'", sizes[i].name, (long long)sizes[i].value, sizes[i].name);
        if (sizes[i].value < 0)
            return cc_error(E->c, EINC_ERR_ARG, -1, -1, "size %s=%lld must not be negative",
                            sizes[i].name, (long long)sizes[i].value);
        *s = sizes[i].value;
        from[s - E->size_value] = -1;
    }
    if (in && ninputs != nin)
        return cc_error(E->c, EINC_ERR_ARG, -1, -1, "the model takes %d array%s (its input and "
                        "param declarations), but %d %s given", nin, nin == 1 ? "" : "s", ninputs,
                        ninputs == 1 ? "was" : "were");
    for (int i = 0; in && i < nin; i++) {
        const el_item *it = einl_input(m, i);
        const einc_tensor *t = &in[i];
        const char *role = it->kind == EL_INPUT ? "input" : "param";
        if (t->dtype != it->dtype || t->ndim != it->ndim) {
            char want[256] = "", got[256] = "";
            size_t wl = 0, gl = 0;
            for (int d = 0; d < it->ndim && wl < sizeof want; d++)
                wl += (size_t)(it->dim[d].name ? snprintf(want + wl, sizeof want - wl, "%s%s", d ? ", " : "", it->dim[d].name)
                                               : snprintf(want + wl, sizeof want - wl, "%s%lld", d ? ", " : "", (long long)it->dim[d].value));
            for (int d = 0; d < t->ndim && gl < sizeof got; d++)
                gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            return cc_error(E->c, t->dtype != it->dtype ? EINC_ERR_DTYPE : EINC_ERR_SHAPE, it->begin, it->end,
                            "%s '%s' is declared %s[%s], but the array is %s[%s]", role, it->name,
                            einc_dtype_name(it->dtype), want, einc_dtype_name(t->dtype), got);
        }
        for (int d = 0; d < it->ndim; d++) {
            const el_dim *dm = &it->dim[d];
            int64_t n = t->shape[d];
            if (!dm->name) {
                if (n != dm->value)
                    return cc_error(E->c, EINC_ERR_SHAPE, dm->begin, dm->end, "%s '%s': dimension %d "
                                    "is declared %lld, but the array's is %lld", role, it->name, d,
                                    (long long)dm->value, (long long)n);
                continue;
            }
            int64_t *s = size_slot(E, dm->name);
            int k = (int)(s - E->size_value);
            if (*s < 0) {
                *s = n;
                from[k] = i;
            } else if (*s != n) {
                if (from[k] == -1)
                    return cc_error(E->c, EINC_ERR_SHAPE, dm->begin, dm->end, "size %s is %lld on "
                                    "the command line, but %s '%s' has %s=%lld", dm->name,
                                    (long long)*s, role, it->name, dm->name, (long long)n);
                return cc_error(E->c, EINC_ERR_SHAPE, dm->begin, dm->end, "size %s is %lld in '%s' "
                                "but %lld in '%s'", dm->name, (long long)*s, einl_input(m, from[k])->name,
                                (long long)n, it->name);
            }
        }
    }
    for (int k = 0; k < E->nsize; k++)
        if (E->size_value[k] < 0)
            for (int i = 0; i < nin; i++) {
                const el_item *it = einl_input(m, i);
                for (int d = 0; d < it->ndim; d++)
                    if (it->dim[d].name && strcmp(it->dim[d].name, E->size_name[k]) == 0)
                        return cc_error(E->c, EINC_ERR_ARG, it->dim[d].begin, it->dim[d].end,
                                        "size %s has no value: give %s=N or the arrays",
                                        E->size_name[k], E->size_name[k]);
            }
    return 0;
}

ir_prog *einl_elaborate(cc *c, const el_model *m, int nsizes, const einc_size *sizes, int ninputs,
                        const einc_tensor *inputs)
{
    elab E = { .c = c, .A = c->A, .m = m };
    E.p = ARENA_NEW(c->A, ir_prog);
    if (!E.p)
        return cc_nomem(c), NULL;
    E.p->dialect = DIALECT_EINOPS;
    E.p->why = "layer language (.einl)";
    E.p->kind = IR_MODEL;
    E.p->reduce = IR_COMB_SUM;
    for (int i = 0; i < m->nitems; i++)
        if (m->items[i]->kind == EL_DEF && !map_put(&E, &E.defs, m->items[i]->name, m->items[i], true))
            return NULL;
    if (bind_sizes(&E, nsizes, sizes, ninputs, inputs) < 0)
        return NULL;
    strmap env = { 0 };
    int nin = einl_ninputs(m);
    for (int i = 0; i < nin; i++) {
        const el_item *it = einl_input(m, i);
        int64_t sh[EINC_MAX_RANK];
        for (int d = 0; d < it->ndim; d++)
            sh[d] = it->dim[d].name ? *size_slot(&E, it->dim[d].name) : it->dim[d].value;
        int t = new_tensor(&E, it->name, IR_INPUT, it->dtype, it->ndim, sh, it->name_begin, it->name_end);
        val *v = t >= 0 ? tensor_val(&E, lz_tensor(&E, t), it->name_begin, it->name_end) : NULL;
        if (!v || !map_put(&E, &env, it->name, v, false))
            return NULL;
    }
    E.p->ninput = nin;
    val *result = NULL;
    const el_item *ret = NULL;
    for (int i = 0; i < m->nitems && !c->failed; i++) {
        const el_item *it = m->items[i];
        if (it->kind == EL_ASSIGN || it->kind == EL_RETURN) {
            if (it->kind == EL_RETURN && ret) {
                cc_error(c, EINC_ERR_SYNTAX, it->begin, it->end, "a second top-level return");
                return NULL;
            }
            val *v = eval(&E, &env, it->value, it->begin);
            if (!v)
                return NULL;
            if (it->kind == EL_RETURN) {
                result = v;
                ret = it;
            } else if (!map_put(&E, &env, it->name, v, false)) {
                return NULL;
            }
        }
    }
    if (c->failed)
        return NULL;
    if (!ret) {
        int end = (int)strlen(c->src);
        cc_error(c, EINC_ERR_SYNTAX, end, end, "the model has no top-level return");
        return NULL;
    }
    if (result->kind != V_TENSOR) {
        lz *t = result->kind == V_NUMBER ? lz_const(&E, result->num, result->is_int ? EINC_I64 : EINC_F32) : NULL;
        if (!t) {
            cc_error(c, EINC_ERR_ARG, result->begin, result->end, "the model must return a tensor, "
                     "not %s", kind_name(result->kind));
            return NULL;
        }
        result->t = t;
    }
    lz *r = result->t;
    int out;
    if (is_whole(&E, r) && E.p->tensor[r->tensor].role == IR_TEMP) {
        out = r->tensor;        /* the last statement's temporary is the output itself */
        E.p->tensor[out].role = IR_OUTPUT;
        E.p->tensor[out].name = "out";
    } else {
        out = materialize_as(&E, r, "out", IR_OUTPUT);
    }
    if (out < 0)
        return NULL;
    E.p->tensor[out].begin = ret->value->begin;
    E.p->tensor[out].end = ret->value->end;
    E.p->output = out;
    E.p->bound = true;
    return E.p;
}
