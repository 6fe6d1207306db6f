/*
 * model_open.c — a model elaborated with open sizes, for emitted code whose function takes
 * them as size parameters, as an expression's does (README.md, "Emitted kernels").
 *
 * The elaborator computes with numbers, so the model is elaborated twice, each open size a
 * different prime in each run, and the two programs are compared number by number: a
 * number that is the same in both is a constant; one that is k·Π S^e over the open sizes S
 * in both, with the same k and exponents, is that product of sizes (a shape, a stride, a
 * mean's count); anything else (H − 2, H / 2: a built-in computed a size from it) is an
 * error naming the statement and the open sizes, which must then be given.  Each open size
 * becomes one symbolic axis named after it: every loop over that size is that axis, so the
 * emitted function takes one parameter per size.
 */
#include "model_int.h"
#include "strbuf.h"

#include <stdio.h>
#include <string.h>

enum { OPEN_MAX = 12 };

/* Two runs' sizes: primes, far apart, whose products stay far from int64's limits. */
static const int64_t prime_a[OPEN_MAX] = { 1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049, 1051, 1061, 1063, 1069 };
static const int64_t prime_b[OPEN_MAX] = { 2003, 2011, 2017, 2027, 2029, 2039, 2053, 2063, 2069, 2081, 2083, 2087 };

typedef struct opener {
    cc *c;
    ir_prog *a;                 /* the result, rewritten in place */
    const ir_prog *b;
    int nopen;
    const char **name;          /* the open sizes */
    int *axis;                  /* per open size: its symbolic axis */
    int *merge;                 /* per axis of a: the axis it becomes */
    const char *where;          /* the statement's origin, for an error */
    bool bad;
} opener;

/*
 * x (run a) and y (run b) as k·Π S^e: false when they are not one product of the open
 * sizes with the same k and exponents in both.
 */
static bool as_product(const opener *o, int64_t x, int64_t y, int64_t *k, int *e)
{
    for (int i = 0; i < o->nopen; i++) {
        e[i] = 0;
        while (x != 0 && x % prime_a[i] == 0) {
            x /= prime_a[i];
            e[i]++;
        }
        for (int j = 0; j < e[i]; j++) {
            if (y % prime_b[i] != 0)
                return false;
            y /= prime_b[i];
        }
    }
    *k = x;
    return x == y;
}

static bool fail(opener *o)
{
    if (!o->bad && !o->c->failed) {
        strbuf b = { 0 };
        for (int i = 0; i < o->nopen; i++)
            sb_printf(&b, "%s%s", i ? (i + 1 == o->nopen ? " and " : ", ") : "", o->name[i]);
        char *names = sb_finish(&b);
        cc_error(o->c, EINC_ERR_ARG, -1, -1, "cannot leave %s open in emitted code: %s computes a size "
                 "from %s; give %s as NAME=N", names ? names : "the sizes", o->where ? o->where : "the model",
                 o->nopen > 1 ? "them" : "it", o->nopen > 1 ? "them" : "it");
        einc_free(names);
    }
    o->bad = true;
    return false;
}

/* *m (run a's k alone) and run b's n as a product of sizes over the open axes. */
static bool mono(opener *o, ir_mono *m, const ir_mono *n)
{
    if (m->n && !n->n)          /* shared with a part already rewritten */
        return true;
    if (m->n || n->n) {         /* a product of axes' sizes (a mean's count): merged axes */
        if (m->n != n->n || m->k != n->k)
            return fail(o);
        for (int i = 0; i < m->n; i++)
            m->v[i] = o->merge[n->v[i]];
        return true;
    }
    if (m->k == n->k)
        return true;
    int64_t k;
    int e[OPEN_MAX], total = 0;
    if (!as_product(o, m->k, n->k, &k, e))
        return fail(o);
    for (int i = 0; i < o->nopen; i++)
        total += e[i];
    int *v = ARENA_ARRAY(o->c->A, int, total + 1);
    if (!v)
        return cc_nomem(o->c), false;
    int at = 0;
    for (int i = 0; i < o->nopen; i++)
        for (int j = 0; j < e[i]; j++)
            v[at++] = o->axis[i];
    *m = (ir_mono){ .k = k, .n = total, .v = v };
    return true;
}

/*
 * Whether a's axis x stands where b has y: the same, or already merged (a part shared by
 * two statements, rewritten at the first).  Rewriting always starts from b's axis, so it
 * gives the same result twice.
 */
static bool same_axis(const opener *o, int x, int y) { return x == y || x == o->merge[y]; }

static bool access(opener *o, ir_access *a, const ir_access *b)
{
    if (a->tensor != b->tensor || a->ndim != b->ndim || a->guard != b->guard || a->pad != b->pad)
        return fail(o);
    for (int d = 0; d < a->ndim; d++) {
        ir_dim *x = &a->dim[d];
        const ir_dim *y = &b->dim[d];
        if (x->n != y->n || x->off != y->off)
            return fail(o);
        for (int t = 0; t < x->n; t++) {
            if (!same_axis(o, x->t[t].axis, y->t[t].axis) || !mono(o, &x->t[t].coef, &y->t[t].coef))
                return fail(o);
            x->t[t].axis = o->merge[y->t[t].axis];
        }
    }
    return true;
}

/* Recursion as every ir_expr walker's: IR_MAX_EXPR_DEPTH bounds it (ir.h). */
static bool expr(opener *o, ir_expr *x, const ir_expr *y)
{
    if (!x || !y)
        return x == y ? true : fail(o);
    if (x->op == IR_SIZE && y->op == IR_CONST)
        return true;            /* shared with a part already rewritten */
    if (x->op != y->op)
        return fail(o);
    switch (x->op) {
    case IR_ACCESS:
        return access(o, &x->acc, &y->acc);
    case IR_CONST:
        if (x->c == y->c)
            return true;
        if (x->c != (double)(int64_t)x->c || y->c != (double)(int64_t)y->c)
            return fail(o);
        /* a count (a mean's, a size name's value): the product of sizes itself */
        x->m = (ir_mono){ .k = (int64_t)x->c };
        if (!mono(o, &x->m, &(ir_mono){ .k = (int64_t)y->c }))
            return false;
        x->op = IR_SIZE;
        return true;
    case IR_SIZE:
        return mono(o, &x->m, &y->m);
    case IR_AXIS:
        if (!same_axis(o, x->axis, y->axis))
            return fail(o);
        x->axis = o->merge[y->axis];
        return true;
    default:
        return expr(o, x->a, y->a) && expr(o, x->b, y->b);
    }
}

/* The origin of the first statement that loops over axis x, or NULL. */
static const char *axis_origin(const ir_prog *p, int x)
{
    for (int s = 0; s < p->nstmt; s++)
        for (int i = 0; i < p->stmt[s].nfree + p->stmt[s].nred; i++)
            if ((i < p->stmt[s].nfree ? p->stmt[s].free[i] : p->stmt[s].red[i - p->stmt[s].nfree]) == x)
                return p->tensor[p->stmt[s].out.tensor].origin;
    return NULL;
}

/* Whether statement s would loop twice over one open size once its axes merge. */
static bool loops_twice(const opener *o, const ir_stmt *s)
{
    for (int i = 0; i < s->nfree + s->nred; i++)
        for (int j = 0; j < i; j++) {
            int x = i < s->nfree ? s->free[i] : s->red[i - s->nfree];
            int y = j < s->nfree ? s->free[j] : s->red[j - s->nfree];
            if (o->merge[x] == o->merge[y])
                return true;
        }
    return false;
}

static bool compare(opener *o)
{
    ir_prog *a = o->a;
    const ir_prog *b = o->b;
    if (a->naxis != b->naxis || a->ntensor != b->ntensor || a->nstmt != b->nstmt || a->nlabel != b->nlabel)
        return fail(o);
    /* the axes: a constant, or exactly one open size, whose symbolic axis it becomes */
    for (int x = 0; x < a->naxis; x++) {
        o->merge[x] = -1;
        if (a->axis[x].size == b->axis[x].size)
            continue;
        o->where = axis_origin(a, x);
        int64_t k;
        int e[OPEN_MAX], which = -1, total = 0;
        if (!as_product(o, a->axis[x].size, b->axis[x].size, &k, e))
            return fail(o);
        for (int i = 0; i < o->nopen; i++) {
            total += e[i];
            which = e[i] ? i : which;
        }
        if (k != 1 || total != 1)
            return fail(o);
        if (o->axis[which] < 0)
            o->axis[which] = x;
        o->merge[x] = which;
    }
    /* one axis per size, the sizes' axes in declaration order (the parameters' default) */
    for (int i = 0; i < o->nopen; i++)
        if (o->axis[i] < 0)
            return fail(o);     /* a size with no loop of its own: only in products */
    for (int i = 1; i < o->nopen; i++)
        for (int j = i; j > 0 && o->axis[j - 1] > o->axis[j]; j--) {
            int t = o->axis[j];
            o->axis[j] = o->axis[j - 1];
            o->axis[j - 1] = t;
        }
    for (int x = 0; x < a->naxis; x++)
        o->merge[x] = o->merge[x] < 0 ? x : o->axis[o->merge[x]];
    for (int t = 0; t < a->ntensor; t++) {
        ir_tensor *T = &a->tensor[t];
        const ir_tensor *U = &b->tensor[t];
        o->where = T->origin;
        if (T->ndim != U->ndim || T->dtype != U->dtype || T->role != U->role)
            return fail(o);
        for (int d = 0; d < T->ndim; d++)
            if (!mono(o, &T->shape[d], &U->shape[d]))
                return false;
    }
    for (int s = 0; s < a->nstmt; s++) {
        ir_stmt *x = &a->stmt[s];
        const ir_stmt *y = &b->stmt[s];
        o->where = a->tensor[x->out.tensor].origin;
        if (x->comb != y->comb || x->nfree != y->nfree || x->nred != y->nred || x->accumulate != y->accumulate ||
            loops_twice(o, x))
            return fail(o);
        for (int i = 0; i < x->nfree + x->nred; i++) {
            int *ax = i < x->nfree ? &x->free[i] : &x->red[i - x->nfree];
            if (!same_axis(o, *ax, i < y->nfree ? y->free[i] : y->red[i - y->nfree]))
                return fail(o);
        }
        if (!access(o, &x->out, &y->out) || !expr(o, x->rhs, y->rhs))
            return false;
        for (int i = 0; i < x->nfree + x->nred; i++) {
            int *ax = i < x->nfree ? &x->free[i] : &x->red[i - x->nfree];
            *ax = o->merge[i < y->nfree ? y->free[i] : y->red[i - y->nfree]];
        }
    }
    o->where = NULL;
    for (int l = 0; l < a->nlabel; l++)
        if (a->label[l].tensor != b->label[l].tensor || a->label[l].classes != b->label[l].classes)
            return fail(o);
    /* merged axes loop nowhere now: size 1 keeps them out of the parameters */
    for (int x = 0; x < a->naxis; x++)
        if (o->merge[x] != x)
            a->axis[x].size = 1;
    for (int i = 0; i < o->nopen; i++) {
        ir_axis *x = &a->axis[o->axis[i]];
        *x = (ir_axis){ .name = o->name[i], .size = -1, .begin = x->begin, .end = x->end,
                        .in_input = x->in_input, .in_output = x->in_output };
    }
    a->bound = false;
    return true;
}

/* The declared size names that sizes[] leaves without a value, in order of declaration. */
static int open_sizes(const el_model *m, int nsizes, const einc_size *sizes, const char **name)
{
    int n = 0;
    for (int i = 0; i < einl_ninputs(m); i++) {
        const el_item *it = einl_input(m, i);
        for (int d = 0; d < it->ndim; d++) {
            const char *s = it->dim[d].name;
            bool known = !s;
            for (int j = 0; j < nsizes && !known; j++)
                known = strcmp(sizes[j].name, s) == 0;
            for (int j = 0; j < n && !known; j++)
                known = strcmp(name[j], s) == 0;
            if (known)
                continue;
            if (n == OPEN_MAX)
                return -1;
            name[n++] = s;
        }
    }
    return n;
}

ir_prog *einl_elaborate_open(cc *c, const el_model *m, int nsizes, const einc_size *sizes)
{
    const char *name[OPEN_MAX];
    int nopen = open_sizes(m, nsizes, sizes, name);
    if (nopen < 0)
        return cc_error(c, EINC_ERR_ARG, -1, -1, "a model emitted with more than %d open sizes: give some "
                        "as NAME=N", OPEN_MAX), NULL;
    if (nopen == 0)
        return einl_elaborate(c, m, nsizes, sizes, 0, NULL);
    einc_size *all = ARENA_ARRAY(c->A, einc_size, nsizes + nopen);
    if (!all)
        return cc_nomem(c), NULL;
    if (nsizes)
        memcpy(all, sizes, sizeof *all * (size_t)nsizes);
    ir_prog *run[2];
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < nopen; i++)
            all[nsizes + i] = (einc_size){ name[i], r ? prime_b[i] : prime_a[i] };
        if (!(run[r] = einl_elaborate(c, m, nsizes + nopen, all, 0, NULL)))
            return NULL;
    }
    opener o = { .c = c, .a = run[0], .b = run[1], .nopen = nopen, .name = name,
                 .axis = ARENA_ARRAY(c->A, int, nopen), .merge = ARENA_ARRAY(c->A, int, run[0]->naxis + 1) };
    if (!o.axis || !o.merge)
        return cc_nomem(c), NULL;
    for (int i = 0; i < nopen; i++)
        o.axis[i] = -1;
    return compare(&o) ? run[0] : NULL;
}
