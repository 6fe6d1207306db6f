/*
 * bind_shape.c — step 3 of binding (bind.c gives the algorithm): the operands' ranks
 * against their inputs', the ellipsis axes, and every axis's size from the input shapes.
 */
#include "bind_int.h"

#include <stdio.h>
#include <string.h>

/* ---- 3. shape inference ---------------------------------------------------------------- */

static int top_terms(const ast_side *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->ax[i]->kind != AST_ELLIPSIS;
    return n;
}

static void shape_text(const einc_tensor *t, char *buf, size_t n)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < t->ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (at < n)
        snprintf(buf + at, n - at, t->ndim == 1 ? ",)" : ")");
}

int bind_check_ranks(binder *b)
{
    cc *c = b->c;
    for (int i = 0; i < b->nin; i++) {
        const ast_side *s = b->e->in[i];
        const einc_tensor *t = &b->inputs[i];
        int nt = top_terms(s);
        char sb[256], tb[256];
        if (t->ndim < 0 || t->ndim > EINC_MAX_RANK)
            return cc_error(c, EINC_ERR_ARG, s->begin, s->end, "operand %d has an invalid rank %d", i, t->ndim);
        if (bind_has_ellipsis(s)) {
            if (t->ndim < nt) {
                shape_text(t, tb, sizeof tb);
                return cc_error(c, EINC_ERR_SHAPE, s->begin, s->end,
                                "operand %d ('%s') names %d axes besides '...' but its array has "
                                "only %d dimension%s, shape %s",
                                i, side_text(b, s, sb, sizeof sb), nt, t->ndim,
                                t->ndim == 1 ? "" : "s", tb);
            }
            b->erank[i] = t->ndim - nt;
            if (b->erank[i] > b->nell)
                b->nell = b->erank[i];
        } else {
            b->erank[i] = -1;
            if (t->ndim != nt) {
                shape_text(t, tb, sizeof tb);
                return cc_error(c, EINC_ERR_SHAPE, s->begin, s->end,
                                "operand %d ('%s') has %d ax%s but its array has %d dimension%s, "
                                "shape %s",
                                i, side_text(b, s, sb, sizeof sb), nt, nt == 1 ? "is" : "es",
                                t->ndim, t->ndim == 1 ? "" : "s", tb);
            }
        }
    }
    return 0;
}

int bind_ellipsis_axes(binder *b)
{
    b->ell0 = b->p->naxis;
    for (int k = 0; k < b->nell; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "...%d", k);
        const char *name = arena_strndup(b->c->A, nm, strlen(nm));
        if (!name)
            return cc_nomem(b->c);
        int id = bind_add_axis(b, name, -1, -1, true);
        if (id < 0)
            return -1;
        b->p->axis[id].in_input = true;
    }
    return 0;
}

/*
 * The first array dimension of each top-level term of operand op into dim[]: an ellipsis
 * covers erank[op] of them.  bind_check_ranks has bounded the terms by EINC_MAX_RANK + 1
 * (every one but the ellipsis is a dimension), which is dim[]'s room.
 */
enum { MAX_TERMS = EINC_MAX_RANK + 1 };

static const ast_side *term_dims(const binder *b, int op, int *dim)
{
    const ast_side *s = b->e->in[op];
    for (int i = 0, d = 0; i < s->n; i++) {
        dim[i] = d;
        d += s->ax[i]->kind == AST_ELLIPSIS ? b->erank[op] : 1;
    }
    return s;
}

/*
 * Calls fn for each top-level term of operand i with the array dimension(s) it covers:
 * an ellipsis is reported once per dimension with ell = the ellipsis axis id.
 */
typedef int (*dim_fn)(binder *b, int op, const ast_axis *a, int ell, int64_t len);

static int each_dim(binder *b, int op, dim_fn fn)
{
    const ast_side *s = b->e->in[op];
    const einc_tensor *t = &b->inputs[op];
    int d = 0;
    for (int i = 0; i < s->n; i++) {
        const ast_axis *a = s->ax[i];
        if (a->kind == AST_ELLIPSIS) {
            int er = b->erank[op];
            for (int k = 0; k < er; k++, d++)
                if (fn(b, op, a, b->ell0 + b->nell - er + k, t->shape[d]) < 0)
                    return -1;
        } else if (fn(b, op, a, -1, t->shape[d++]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The first occurrence of axis id in operands before op, for messages. */
static int earlier_operand(binder *b, int id, int op, int64_t *len)
{
    int dim[MAX_TERMS];
    for (int i = 0; i < op; i++) {
        const ast_side *s = term_dims(b, i, dim);
        const int64_t *shape = b->inputs[i].shape;
        for (int j = 0; j < s->n; j++) {
            const ast_axis *a = s->ax[j];
            if (a->kind == AST_NAME && find_axis(b->p, a->name) == id && shape[dim[j]] != 1) {
                *len = shape[dim[j]];
                return i;
            }
        }
    }
    return -1;
}

static int unify_plain(binder *b, int op, const ast_axis *a, int ell, int64_t len)
{
    cc *c = b->c;
    ir_prog *p = b->p;
    if (len < 0)
        return cc_error(c, EINC_ERR_ARG, a->begin, a->end, "operand %d has a negative dimension", op);
    if (a->kind == AST_NUMBER) {
        if (len != a->number)
            return cc_error(c, EINC_ERR_SHAPE, a->begin, a->end,
                            "operand %d: anonymous axis %lld does not match its dimension of "
                            "length %lld",
                            op, (long long)a->number, (long long)len);
        return 0;
    }
    if (a->kind != AST_NAME && ell < 0)
        return 0;
    int id = ell >= 0 ? ell : find_axis(p, a->name);
    ir_axis *x = &p->axis[id];
    bool numpy = b->e->dialect == DIALECT_NUMPY || ell >= 0;
    if (numpy && len == 1)
        return 0;   /* broadcasts; settled after every other dimension is seen */
    if (x->size < 0 || (numpy && x->size == 1 && !x->given)) {
        x->size = len;
        return 0;
    }
    if (x->size == len)
        return 0;
    if (ell >= 0)
        return cc_error(c, EINC_ERR_SHAPE, a->begin, a->end,
                        "operand %d: the dimensions '...' covers do not broadcast: a length %lld "
                        "meets %lld",
                        op, (long long)len, (long long)x->size);
    if (x->given)
        return cc_error(c, EINC_ERR_SHAPE, a->begin, a->end,
                        "axis '%s' has length %lld in operand %d but %s=%lld was given",
                        x->name, (long long)len, op, x->name, (long long)x->size);
    int64_t prev = 0;
    int pop = earlier_operand(b, id, op, &prev);
    if (pop >= 0)
        return cc_error(c, EINC_ERR_SHAPE, a->begin, a->end,
                        "axis '%s' has length %lld in operand %d but %lld in operand %d",
                        x->name, (long long)len, op, (long long)prev, pop);
    return cc_error(c, EINC_ERR_SHAPE, a->begin, a->end,
                    "axis '%s' appears twice in operand %d with different lengths (%lld and %lld)",
                    x->name, op, (long long)x->size, (long long)len);
}

/* Diagonals need equal lengths inside one operand, even where numpy would broadcast. */
static int check_diagonals(binder *b, int op)
{
    int dim[MAX_TERMS];
    const ast_side *s = term_dims(b, op, dim);
    const int64_t *shape = b->inputs[op].shape;
    for (int i = 0; i < s->n; i++) {
        const ast_axis *a = s->ax[i];
        for (int j = i + 1; a->kind == AST_NAME && j < s->n; j++) {
            const ast_axis *a2 = s->ax[j];
            if (a2->kind == AST_NAME && strcmp(a->name, a2->name) == 0 && shape[dim[i]] != shape[dim[j]])
                return cc_error(b->c, EINC_ERR_SHAPE, a2->begin, a2->end,
                                "operand %d repeats axis '%s' (a diagonal) over dimensions of "
                                "different lengths, %lld and %lld",
                                op, a->name, (long long)shape[dim[i]], (long long)shape[dim[j]]);
        }
    }
    return 0;
}

static int member_axis(binder *b, const ast_axis *m)
{
    return m->kind == AST_NAME ? find_axis(b->p, m->name) : -1;
}

/* One group "(h w)" against its dimension: checks it, or infers its one unknown size. */
static int solve_group(binder *b, int op, const ast_axis *g, int64_t len, bool *progress,
                       bool final)
{
    cc *c = b->c;
    ir_prog *p = b->p;
    int64_t known = 1;
    int unknown = -1, nunknown = 0;
    for (int j = 0; j < g->n; j++) {
        const ast_axis *m = g->member[j];
        int64_t v = m->kind == AST_NUMBER ? m->number : p->axis[member_axis(b, m)].size;
        if (v < 0) {
            nunknown++;
            unknown = j;
        } else if (__builtin_mul_overflow(known, v, &known)) {
            return cc_error(c, EINC_ERR_SHAPE, g->begin, g->end,
                            "operand %d: the sizes in this group overflow 64 bits", op);
        }
    }
    char gb[256];
    snprintf(gb, sizeof gb, "%.*s", g->end - g->begin, c->src + g->begin);
    if (nunknown == 0) {
        if (known != len)
            return cc_error(c, EINC_ERR_SHAPE, g->begin, g->end,
                            "operand %d: %s has length %lld, but its sizes multiply to %lld",
                            op, gb, (long long)len, (long long)known);
        return 0;
    }
    if (nunknown == 1) {
        const ast_axis *m = g->member[unknown];
        if (known == 0 || len % known != 0) {
            if (known == 0 && len == 0)
                return final ? cc_error(c, EINC_ERR_SHAPE, m->begin, m->end,
                                        "operand %d: can't infer the length of '%s' in %s: the "
                                        "others multiply to 0; give %s=N",
                                        op, m->name, gb, m->name)
                             : 0;
            return cc_error(c, EINC_ERR_SHAPE, g->begin, g->end,
                            "operand %d: can't divide axis %s of length %lld in chunks of %lld",
                            op, gb, (long long)len, (long long)known);
        }
        p->axis[member_axis(b, m)].size = len / known;
        *progress = true;
        return 0;
    }
    if (final)
        return cc_error(c, EINC_ERR_SHAPE, g->begin, g->end,
                        "operand %d: can't infer %d sizes of %s from its length %lld; give all "
                        "but one of them (e.g. %s=N)",
                        op, nunknown, gb, (long long)len, g->member[unknown]->name);
    return 0;
}

static int solve_groups(binder *b, bool *progress, bool final)
{
    int dim[MAX_TERMS];
    for (int op = 0; op < b->nin; op++) {
        const ast_side *s = term_dims(b, op, dim);
        for (int i = 0; i < s->n; i++)
            if (s->ax[i]->kind == AST_GROUP &&
                solve_group(b, op, s->ax[i], b->inputs[op].shape[dim[i]], progress, final) < 0)
                return -1;
    }
    return 0;
}

/* Sets the size of an axis that unify_plain saw only with length 1 (numpy broadcasting). */
static int settle_ones(binder *b, int op, const ast_axis *a, int ell, int64_t len)
{
    (void)op;
    if (ell < 0 && a->kind != AST_NAME)
        return 0;
    ir_axis *x = &b->p->axis[ell >= 0 ? ell : find_axis(b->p, a->name)];
    if (x->size < 0)
        x->size = len;
    return 0;
}

int bind_infer_shapes(binder *b)
{
    for (int op = 0; op < b->nin; op++)
        if (check_diagonals(b, op) < 0 || each_dim(b, op, unify_plain) < 0)
            return -1;
    /* Axes seen only with length 1 (numpy broadcasting) are length 1. */
    for (int op = 0; op < b->nin; op++)
        if (each_dim(b, op, settle_ones) < 0)
            return -1;
    bool progress = true;
    while (progress) {
        progress = false;
        if (solve_groups(b, &progress, false) < 0)
            return -1;
    }
    return solve_groups(b, &progress, true);
}
