/*
 * bind.c — AST → index IR: axes, shape inference, every check numpy and einops make.
 *
 * The algorithm, in the order the code runs:
 *   1. collect axes by name from every side (inputs first, so sizes and parameters follow
 *      the order of first appearance); check ellipsis and duplicate rules per side;
 *   2. apply AXIS=N words (an unknown name is an error);
 *   3. when input shapes are given: match each operand's rank, then unify plain axes
 *      (numpy lets a length-1 dimension broadcast, einops does not), then solve groups
 *      "(h w)" repeatedly until no group makes progress — one group may need a size that
 *      another operand's group determines, so a single pass is not enough;
 *   4. settle the output (explicit, or numpy's implicit rule), find reduced and repeated
 *      axes and check them against the dialect's rules;
 *   5. emit tensors, accesses and statements.  A mean is a sum followed by a division, so
 *      the interpreter and every backend need no special case for it.
 */
#include "ir.h"

#include <assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct binder {
    cc *c;
    const ast_expr *e;
    const bind_opts *o;
    ir_prog *p;
    int cap;                    /* axis table capacity */
    int nin;
    const einc_tensor *inputs;  /* NULL: symbolic */
    int *erank;                 /* per operand: dims its ellipsis covers, -1: no ellipsis */
    int nell;                   /* ellipsis axes (the broadcast of every operand's) */
    int ell0;                   /* axis id of the first ellipsis axis */
    int nanon, anon_cap;        /* anonymous numbers > 1: their AST node and axis */
    const ast_axis **anon_node;
    int *anon_id;
} binder;

/* Remembers the axis made for one anonymous-number node (the AST stays read-only). */
static int anon_add(binder *b, const ast_axis *a, int id)
{
    if (b->nanon == b->anon_cap) {
        int cap = b->anon_cap ? 2 * b->anon_cap : 8;
        const ast_axis **n = ARENA_ARRAY(b->c->A, const ast_axis *, cap);
        int *i = ARENA_ARRAY(b->c->A, int, cap);
        if (!n || !i)
            return cc_nomem(b->c);
        if (b->nanon) {
            memcpy(n, b->anon_node, sizeof *n * (size_t)b->nanon);
            memcpy(i, b->anon_id, sizeof *i * (size_t)b->nanon);
        }
        b->anon_node = n;
        b->anon_id = i;
        b->anon_cap = cap;
    }
    b->anon_node[b->nanon] = a;
    b->anon_id[b->nanon++] = id;
    return 0;
}

static int anon_find(const binder *b, const ast_axis *a)
{
    for (int i = 0; i < b->nanon; i++)
        if (b->anon_node[i] == a)
            return b->anon_id[i];
    return -1;
}

static const char *side_text(binder *b, const ast_side *s, char *buf, size_t n)
{
    snprintf(buf, n, "%.*s", s->end - s->begin, b->c->src + s->begin);
    return buf;
}

static_assert((int)IR_COMB_SUM == EINC_REDUCE_SUM && (int)IR_COMB_MEAN == EINC_REDUCE_MEAN &&
                  (int)IR_COMB_MAX == EINC_REDUCE_MAX && (int)IR_COMB_MIN == EINC_REDUCE_MIN &&
                  (int)IR_COMB_PROD == EINC_REDUCE_PROD,
              "ir_comb starts with einc_reduce's order");

static int find_axis(ir_prog *p, const char *name)
{
    for (int i = 0; i < p->naxis; i++)
        if (strcmp(p->axis[i].name, name) == 0)
            return i;
    return -1;
}

static int add_axis(binder *b, const char *name, int begin, int end, bool anonymous)
{
    ir_prog *p = b->p;
    if (p->naxis == b->cap) {
        int cap = b->cap ? 2 * b->cap : 16;
        ir_axis *a = ARENA_ARRAY(b->c->A, ir_axis, cap);
        if (!a)
            return cc_nomem(b->c);
        if (p->naxis)
            memcpy(a, p->axis, sizeof *a * (size_t)p->naxis);
        p->axis = a;
        b->cap = cap;
    }
    ir_axis *a = &p->axis[p->naxis];
    a->name = name;
    a->size = -1;
    a->begin = begin;
    a->end = end;
    a->anonymous = anonymous;
    return p->naxis++;
}

/* ---- 1. axes ------------------------------------------------------------------------- */

static int count_ellipses(const ast_side *s, const ast_axis **second)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        const ast_axis *a = s->ax[i];
        if (a->kind == AST_ELLIPSIS && ++n == 2)
            *second = a;
        for (int j = 0; a->kind == AST_GROUP && j < a->n; j++)
            if (a->member[j]->kind == AST_ELLIPSIS && ++n == 2)
                *second = a->member[j];
    }
    return n;
}

/* Member j of top-level axis i, or the axis itself when it is not a group. */
static const ast_axis *leaf_at(const ast_side *s, int i, int j)
{
    const ast_axis *t = s->ax[i];
    return t->kind == AST_GROUP ? t->member[j] : t;
}

/* The second occurrence of the first name a side repeats ("i j i": the last i), or NULL. */
static const ast_axis *repeated_name(const ast_side *s)
{
    for (int i = 0; i < s->n; i++) {
        int nm = s->ax[i]->kind == AST_GROUP ? s->ax[i]->n : 1;
        for (int j = 0; j < nm; j++) {
            const ast_axis *a = leaf_at(s, i, j);
            if (a->kind != AST_NAME)
                continue;
            for (int i2 = 0; i2 <= i; i2++) {
                int n2 = s->ax[i2]->kind == AST_GROUP ? s->ax[i2]->n : 1;
                for (int j2 = 0; j2 < n2; j2++) {
                    const ast_axis *a2 = leaf_at(s, i2, j2);
                    if (a2 == a)
                        goto next;
                    if (a2->kind == AST_NAME && strcmp(a2->name, a->name) == 0)
                        return a;
                }
            }
        next:;
        }
    }
    return NULL;
}

/* Checks one side's structure and registers its names. */
static int collect_side(binder *b, const ast_side *s, bool output, int opnum)
{
    cc *c = b->c;
    const ast_axis *second = NULL;
    if (count_ellipses(s, &second) > 1)
        return output ? cc_error(c, EINC_ERR_SYNTAX, second->begin, second->end,
                                 "the output has more than one ellipsis '...'")
                      : cc_error(c, EINC_ERR_SYNTAX, second->begin, second->end,
                                 "operand %d has more than one ellipsis '...'", opnum);
    /*
     * A name repeated in an input is a diagonal (numpy, einops.einsum); in an output it
     * means nothing.  A one-operand einops pattern's diagonal is checked with the output
     * (check_output), which decides whether the pattern is an einsum.
     */
    const ast_axis *rep = output ? repeated_name(s) : NULL;
    if (rep)
        return cc_error(c, EINC_ERR_SYNTAX, rep->begin, rep->end,
                        "index '%s' appears more than once in the output", rep->name);
    for (int i = 0; i < s->n; i++) {
        const ast_axis *top = s->ax[i];
        int nm = top->kind == AST_GROUP ? top->n : 1;
        for (int j = 0; j < nm; j++) {
            const ast_axis *a = top->kind == AST_GROUP ? top->member[j] : top;
            if (a->kind == AST_ELLIPSIS && top->kind == AST_GROUP && !output)
                return cc_error(c, EINC_ERR_SYNTAX, a->begin, a->end,
                                "an ellipsis inside parentheses is only allowed in the output");
            if (a->kind != AST_NAME)
                continue;
            int id = find_axis(b->p, a->name);
            if (id < 0 && (id = add_axis(b, a->name, a->begin, a->end, false)) < 0)
                return -1;
            if (output)
                b->p->axis[id].in_output = true;
            else
                b->p->axis[id].in_input = true;
        }
    }
    return 0;
}

/* ---- 2. sizes given by name ------------------------------------------------------------ */

static int apply_sizes(binder *b)
{
    for (int i = 0; i < b->o->nsizes; i++) {
        const einc_size *z = &b->o->sizes[i];
        int id = z->name ? find_axis(b->p, z->name) : -1;
        if (id < 0)
            return cc_error(b->c, EINC_ERR_ARG, -1, -1,
                            "size %s=%lld is given but the expression has no axis '%s'",
                            z->name ? z->name : "(null)", (long long)z->value,
                            z->name ? z->name : "(null)");
        if (z->value < 0)
            return cc_error(b->c, EINC_ERR_ARG, -1, -1, "size %s=%lld is negative", z->name,
                            (long long)z->value);
        ir_axis *a = &b->p->axis[id];
        if (a->given && a->size != z->value)
            return cc_error(b->c, EINC_ERR_ARG, -1, -1, "size '%s' is given twice (%lld and %lld)",
                            z->name, (long long)a->size, (long long)z->value);
        a->size = z->value;
        a->given = true;
    }
    return 0;
}

/* ---- 3. shape inference ---------------------------------------------------------------- */

static int top_terms(const ast_side *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->ax[i]->kind != AST_ELLIPSIS;
    return n;
}

static bool has_ellipsis(const ast_side *s)
{
    const ast_axis *dummy = NULL;
    return count_ellipses(s, &dummy) > 0;
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

static int check_ranks(binder *b)
{
    cc *c = b->c;
    for (int i = 0; i < b->nin; i++) {
        const ast_side *s = b->e->in[i];
        const einc_tensor *t = &b->inputs[i];
        int nt = top_terms(s);
        char sb[256], tb[256];
        if (t->ndim < 0 || t->ndim > EINC_MAX_RANK)
            return cc_error(c, EINC_ERR_ARG, s->begin, s->end, "operand %d has an invalid rank %d", i, t->ndim);
        if (has_ellipsis(s)) {
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

static int make_ellipsis_axes(binder *b)
{
    b->ell0 = b->p->naxis;
    for (int k = 0; k < b->nell; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "...%d", k);
        const char *name = arena_strndup(b->c->A, nm, strlen(nm));
        if (!name)
            return cc_nomem(b->c);
        int id = add_axis(b, name, -1, -1, true);
        if (id < 0)
            return -1;
        b->p->axis[id].in_input = true;
    }
    return 0;
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
    for (int i = 0; i < op; i++) {
        const ast_side *s = b->e->in[i];
        const einc_tensor *t = &b->inputs[i];
        int d = 0;
        for (int j = 0; j < s->n; j++) {
            const ast_axis *a = s->ax[j];
            if (a->kind == AST_ELLIPSIS) {
                d += b->erank[i];
                continue;
            }
            if (a->kind == AST_NAME && find_axis(b->p, a->name) == id && t->shape[d] != 1) {
                *len = t->shape[d];
                return i;
            }
            d++;
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
    const ast_side *s = b->e->in[op];
    const einc_tensor *t = &b->inputs[op];
    int d = 0;
    for (int i = 0; i < s->n; i++) {
        const ast_axis *a = s->ax[i];
        if (a->kind == AST_ELLIPSIS) {
            d += b->erank[op];
            continue;
        }
        int d2 = d + 1;
        for (int j = i + 1; a->kind == AST_NAME && j < s->n; j++) {
            const ast_axis *a2 = s->ax[j];
            if (a2->kind == AST_ELLIPSIS) {
                d2 += b->erank[op];
                continue;
            }
            if (a2->kind == AST_NAME && strcmp(a->name, a2->name) == 0 && t->shape[d] != t->shape[d2])
                return cc_error(b->c, EINC_ERR_SHAPE, a2->begin, a2->end,
                                "operand %d repeats axis '%s' (a diagonal) over dimensions of "
                                "different lengths, %lld and %lld",
                                op, a->name, (long long)t->shape[d], (long long)t->shape[d2]);
            d2++;
        }
        d++;
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
    for (int op = 0; op < b->nin; op++) {
        const ast_side *s = b->e->in[op];
        const einc_tensor *t = &b->inputs[op];
        int d = 0;
        for (int i = 0; i < s->n; i++) {
            const ast_axis *a = s->ax[i];
            if (a->kind == AST_ELLIPSIS) {
                d += b->erank[op];
                continue;
            }
            if (a->kind == AST_GROUP && solve_group(b, op, a, t->shape[d], progress, final) < 0)
                return -1;
            d++;
        }
    }
    return 0;
}

static int infer_shapes(binder *b)
{
    for (int op = 0; op < b->nin; op++)
        if (check_diagonals(b, op) < 0 || each_dim(b, op, unify_plain) < 0)
            return -1;
    /* Axes seen only with length 1 (numpy broadcasting) are length 1. */
    for (int op = 0; op < b->nin; op++) {
        const ast_side *s = b->e->in[op];
        int d = 0;
        for (int i = 0; i < s->n; i++) {
            const ast_axis *a = s->ax[i];
            if (a->kind == AST_ELLIPSIS) {
                for (int k = 0; k < b->erank[op]; k++, d++) {
                    ir_axis *x = &b->p->axis[b->ell0 + b->nell - b->erank[op] + k];
                    if (x->size < 0)
                        x->size = b->inputs[op].shape[d];
                }
                continue;
            }
            if (a->kind == AST_NAME) {
                ir_axis *x = &b->p->axis[find_axis(b->p, a->name)];
                if (x->size < 0)
                    x->size = b->inputs[op].shape[d];
            }
            d++;
        }
    }
    bool progress = true;
    while (progress) {
        progress = false;
        if (solve_groups(b, &progress, false) < 0)
            return -1;
    }
    return solve_groups(b, &progress, true);
}

/* ---- 4. the output ------------------------------------------------------------------------ */

/* numpy's implicit output: ellipsis first, then the labels used once, in ASCII order. */
static ast_side *implicit_output(binder *b)
{
    cc *c = b->c;
    ir_prog *p = b->p;
    int n = 0, nlab = 0;
    bool ell = false;
    for (int i = 0; i < b->nin; i++)
        ell |= has_ellipsis(b->e->in[i]);
    int *count = ARENA_ARRAY(c->A, int, p->naxis + 1);
    const char **lab = ARENA_ARRAY(c->A, const char *, p->naxis + 1);
    if (!count || !lab)
        return cc_nomem(c), NULL;
    for (int i = 0; i < b->nin; i++)
        for (int j = 0; j < b->e->in[i]->n; j++)
            if (b->e->in[i]->ax[j]->kind == AST_NAME)
                count[find_axis(p, b->e->in[i]->ax[j]->name)]++;
    for (int a = 0; a < p->naxis; a++)
        if (count[a] == 1 && !p->axis[a].anonymous)
            lab[nlab++] = p->axis[a].name;
    for (int i = 1; i < nlab; i++)      /* insertion sort: at most 52 labels */
        for (int j = i; j > 0 && strcmp(lab[j - 1], lab[j]) > 0; j--) {
            const char *t = lab[j];
            lab[j] = lab[j - 1];
            lab[j - 1] = t;
        }
    ast_side *s = ARENA_NEW(c->A, ast_side);
    n = nlab + ell;
    if (!s || !(s->ax = ARENA_ARRAY(c->A, ast_axis *, n + 1)))
        return cc_nomem(c), NULL;
    int len = (int)strlen(c->src);
    s->begin = s->end = len;
    for (int i = 0; i < n; i++) {
        ast_axis *a = ARENA_NEW(c->A, ast_axis);
        if (!a)
            return cc_nomem(c), NULL;
        a->begin = a->end = len;
        if (ell && i == 0) {
            a->kind = AST_ELLIPSIS;
        } else {
            a->kind = AST_NAME;
            a->name = lab[i - ell];
            p->axis[find_axis(p, a->name)].in_output = true;
        }
        s->ax[s->n++] = a;
    }
    return s;
}

/*
 * A printable name for an anonymous axis of length n: "_3", then "_3'", "_3''" when the
 * name is taken (by another anonymous axis or a user's einops name).
 */
static const char *anon_name(binder *b, int64_t n)
{
    char nm[64];
    int len = snprintf(nm, sizeof nm, "_%lld", (long long)n);
    while (find_axis(b->p, nm) >= 0 && len < (int)sizeof nm - 1) {
        nm[len++] = '\'';
        nm[len] = 0;
    }
    char *s = arena_strndup(b->c->A, nm, (size_t)len);
    if (!s)
        cc_nomem(b->c);
    return s;
}

/*
 * The anonymous numbers > 1 of one side are axes of their own: in an input, reduced
 * (einops reduce); in the output, new axes (repeats).
 */
static int side_numbers(binder *b, const ast_side *s, bool output)
{
    for (int i = 0; i < s->n; i++) {
        const ast_axis *top = s->ax[i];
        int nm = top->kind == AST_GROUP ? top->n : 1;
        for (int j = 0; j < nm; j++) {
            const ast_axis *a = top->kind == AST_GROUP ? top->member[j] : top;
            if (a->kind != AST_NUMBER || a->number == 1)
                continue;
            const char *name = anon_name(b, a->number);
            int id = name ? add_axis(b, name, a->begin, a->end, true) : cc_nomem(b->c);
            if (id < 0)
                return -1;
            b->p->axis[id].size = a->number;
            b->p->axis[id].literal = true;
            if (output)
                b->p->axis[id].in_output = true;
            else
                b->p->axis[id].in_input = true;
            if (anon_add(b, a, id) < 0)
                return -1;
        }
    }
    return 0;
}

static int output_numbers(binder *b, const ast_side *out) { return side_numbers(b, out, true); }

static int input_numbers(binder *b)
{
    for (int op = 0; op < b->nin; op++)
        if (side_numbers(b, b->e->in[op], false) < 0)
            return -1;
    return 0;
}

/* ---- 5. emission ------------------------------------------------------------------------- */

/* The axis an AST leaf stands for (-1: a unit axis that indexes nothing). */
static int leaf_axis(binder *b, const ast_axis *a)
{
    if (a->kind == AST_NAME)
        return find_axis(b->p, a->name);
    if (a->kind == AST_NUMBER)
        return a->number == 1 ? -1 : anon_find(b, a);
    return -1;
}

/*
 * Builds one dimension (shape and access) from a list of leaves composed left to right:
 * the access is Horner's rule, Σ leaf · (product of the sizes after it).
 */
static int compose(binder *b, const int *ax, int n, ir_mono *shape, ir_dim *dim)
{
    arena *A = b->c->A;
    int *sv = ARENA_ARRAY(A, int, n + 1);
    ir_term *t = ARENA_ARRAY(A, ir_term, n + 1);
    if (!sv || !t)
        return cc_nomem(b->c);
    int ns = 0, nt = 0;
    for (int i = 0; i < n; i++)
        if (ax[i] >= 0)
            sv[ns++] = ax[i];
    *shape = (ir_mono){ 1, ns, sv };
    for (int i = 0, k = 0; i < n; i++) {
        if (ax[i] < 0)
            continue;
        k++;
        t[nt].axis = ax[i];
        t[nt].coef = (ir_mono){ 1, ns - k, sv + k };
        nt++;
    }
    *dim = (ir_dim){ nt, t, 0 };
    return 0;
}

/* An input or output side → a tensor's shape and the access that reads or writes it. */
static int side_access(binder *b, const ast_side *s, int op, int tensor, ir_tensor *T, ir_access *acc)
{
    arena *A = b->c->A;
    int er = op >= 0 ? b->erank[op] : b->nell;
    if (er < 0)
        er = 0;
    int ndim = 0;
    for (int i = 0; i < s->n; i++)
        ndim += s->ax[i]->kind == AST_ELLIPSIS ? er : 1;
    T->ndim = ndim;
    T->shape = ARENA_ARRAY(A, ir_mono, ndim + 1);
    acc->tensor = tensor;
    acc->ndim = ndim;
    acc->dim = ARENA_ARRAY(A, ir_dim, ndim + 1);
    /* room for the largest group: a member repeated ("(k k)") counts each time */
    int most = 1;
    for (int i = 0; i < s->n; i++)
        if (s->ax[i]->kind == AST_GROUP)
            most = s->ax[i]->n * (b->nell + 1) > most ? s->ax[i]->n * (b->nell + 1) : most;
    int *tmp = ARENA_ARRAY(A, int, most + 1);
    if (!T->shape || !acc->dim || !tmp)
        return cc_nomem(b->c);
    int d = 0;
    for (int i = 0; i < s->n; i++) {
        const ast_axis *a = s->ax[i];
        if (a->kind == AST_ELLIPSIS) {
            for (int k = 0; k < er; k++, d++) {
                int id = b->ell0 + b->nell - er + k;
                if (op >= 0 && b->inputs && b->inputs[op].shape[d] == 1 && b->p->axis[id].size != 1) {
                    T->shape[d] = (ir_mono){ 1, 0, NULL };
                    acc->dim[d] = (ir_dim){ 0, NULL, 0 };
                } else if (compose(b, &id, 1, &T->shape[d], &acc->dim[d]) < 0) {
                    return -1;
                }
            }
            continue;
        }
        int n = 0;
        if (a->kind == AST_GROUP) {
            for (int j = 0; j < a->n; j++) {
                const ast_axis *m = a->member[j];
                if (m->kind == AST_ELLIPSIS)
                    for (int k = 0; k < b->nell; k++)
                        tmp[n++] = b->ell0 + k;
                else
                    tmp[n++] = leaf_axis(b, m);
            }
        } else {
            tmp[n++] = leaf_axis(b, a);
        }
        /* numpy broadcasting: a length-1 dimension against a longer axis reads index 0. */
        if (op >= 0 && b->inputs && a->kind == AST_NAME && b->inputs[op].shape[d] == 1 &&
            b->p->axis[tmp[0]].size != 1) {
            T->shape[d] = (ir_mono){ 1, 0, NULL };
            acc->dim[d] = (ir_dim){ 0, NULL, 0 };
        } else if (compose(b, tmp, n, &T->shape[d], &acc->dim[d]) < 0) {
            return -1;
        }
        d++;
    }
    return 0;
}

static einc_dtype result_dtype(binder *b, ir_kind kind)
{
    einc_dtype t = b->inputs ? b->inputs[0].dtype : b->o->dtype;
    for (int i = 1; b->inputs && i < b->nin; i++)
        t = dtype_promote(t, b->inputs[i].dtype);
    /*
     * A one-operand reduction is numpy's sum/mean/max/min/prod, except numpy-dialect sum,
     * which is einsum and keeps the input's type.
     */
    if (kind != IR_REDUCE || dtype_is_float(t) || dtype_is_complex(t))
        return t;
    switch (b->o->reduce) {
    case EINC_REDUCE_MEAN:
        return EINC_F64;
    case EINC_REDUCE_MAX:
    case EINC_REDUCE_MIN:
        return t;
    case EINC_REDUCE_SUM:
        return b->e->dialect == DIALECT_NUMPY ? t : dtype_sum_type(t);
    case EINC_REDUCE_PROD:
    case EINC_REDUCE_COUNT:         /* not a reduction: refused before binding */
        return dtype_sum_type(t);
    }
    return dtype_sum_type(t);
}

static ir_expr *new_expr(binder *b, ir_op op)
{
    ir_expr *x = ARENA_NEW(b->c->A, ir_expr);
    if (!x)
        cc_nomem(b->c);
    else
        x->op = op;
    return x;
}

static int emit(binder *b, const ast_side *out)
{
    ir_prog *p = b->p;
    arena *A = b->c->A;
    /* A float32 mean sums into a float64 temporary, so it rounds once, as numpy's does. */
    bool mean = p->kind == IR_REDUCE && p->reduce == IR_COMB_MEAN;
    einc_dtype odt = result_dtype(b, p->kind);
    bool temp = mean && (odt == EINC_F32 || dtype_is_half(odt));
    p->ninput = b->nin;
    p->ntensor = b->nin + 1 + temp;
    p->tensor = ARENA_ARRAY(A, ir_tensor, p->ntensor);
    ir_access *acc = ARENA_ARRAY(A, ir_access, b->nin + 1);
    if (!p->tensor || !acc)
        return cc_nomem(b->c);
    for (int i = 0; i < b->nin; i++) {
        ir_tensor *T = &p->tensor[i];
        char nm[32];
        snprintf(nm, sizeof nm, "in%d", i);
        T->name = arena_strndup(A, nm, strlen(nm));
        T->role = IR_INPUT;
        T->dtype = b->inputs ? b->inputs[i].dtype : b->o->dtype;
        T->begin = b->e->in[i]->begin;
        T->end = b->e->in[i]->end;
        if (!T->name || side_access(b, b->e->in[i], i, i, T, &acc[i]) < 0)
            return T->name ? -1 : cc_nomem(b->c);
    }
    p->output = p->ntensor - 1;
    p->noutput = 1;
    ir_tensor *O = &p->tensor[p->output];
    O->name = "out";
    O->role = IR_OUTPUT;
    O->dtype = odt;
    O->begin = out->begin;
    O->end = out->end;
    ir_stmt *st = ARENA_ARRAY(A, ir_stmt, 2);
    if (!st)
        return cc_nomem(b->c);
    if (side_access(b, out, -1, p->output, O, &st[0].out) < 0)
        return -1;

    /* The right-hand side: the product of the operands, left to right. */
    ir_expr *rhs = NULL;
    for (int i = 0; i < b->nin; i++) {
        ir_expr *x = new_expr(b, IR_ACCESS);
        if (!x)
            return -1;
        x->acc = acc[i];
        if (rhs) {
            ir_expr *m = new_expr(b, IR_MUL);
            if (!m)
                return -1;
            m->a = rhs;
            m->b = x;
            x = m;
        }
        rhs = x;
    }
    st[0].rhs = rhs;
    st[0].free = ARENA_ARRAY(A, int, p->naxis + 1);
    st[0].red = ARENA_ARRAY(A, int, p->naxis + 1);
    if (!st[0].free || !st[0].red)
        return cc_nomem(b->c);
    /* Loop order: output axes as they appear in the output, then reduced axes in order. */
    for (int d = 0; d < st[0].out.ndim; d++)
        for (int t = 0; t < st[0].out.dim[d].n; t++)
            st[0].free[st[0].nfree++] = st[0].out.dim[d].t[t].axis;
    for (int a = 0; a < p->naxis; a++)
        if (p->axis[a].in_input && !p->axis[a].in_output)
            st[0].red[st[0].nred++] = a;
    st[0].comb = st[0].nred ? p->reduce : IR_COMB_ASSIGN;
    if (st[0].comb == IR_COMB_MEAN)
        st[0].comb = IR_COMB_SUM;
    p->nstmt = 1;
    p->stmt = st;

    if (mean) {
        /* sum first (into the temporary when there is one), then out = sum / count */
        ir_stmt *s2 = &st[1];
        s2->out = st[0].out;
        s2->comb = IR_COMB_ASSIGN;
        s2->free = st[0].free;
        s2->nfree = st[0].nfree;
        ir_expr *num = new_expr(b, IR_ACCESS), *den = new_expr(b, IR_SIZE), *div = new_expr(b, IR_DIV);
        int *v = ARENA_ARRAY(A, int, st[0].nred + 1);
        if (!num || !den || !div || !v)
            return cc_nomem(b->c);
        num->acc = st[0].out;
        if (temp) {
            ir_tensor *T = &p->tensor[b->nin];
            *T = *O;
            T->name = "sum";
            T->role = IR_TEMP;
            T->dtype = EINC_F64;
            st[0].out.tensor = b->nin;
            num->acc.tensor = b->nin;
        }
        memcpy(v, st[0].red, sizeof *v * (size_t)st[0].nred);
        den->m = (ir_mono){ 1, st[0].nred, v };
        div->a = num;
        div->b = den;
        s2->rhs = div;
        p->nstmt = 2;
    }
    return 0;
}

/* ---- the whole pass ------------------------------------------------------------------------ */

static int check_output(binder *b, const ast_side *out)
{
    cc *c = b->c;
    ir_prog *p = b->p;
    bool in_ell = false;
    for (int i = 0; i < b->nin; i++)
        in_ell |= has_ellipsis(b->e->in[i]);
    bool out_ell = has_ellipsis(out);
    if (out_ell && !in_ell && b->e->dialect == DIALECT_EINOPS) {
        const ast_axis *a = NULL;
        for (int i = 0; i < out->n && !a; i++)
            if (out->ax[i]->kind == AST_ELLIPSIS)
                a = out->ax[i];
        return cc_error(c, EINC_ERR_SYNTAX, a ? a->begin : out->begin, a ? a->end : out->end,
                        "ellipsis '...' in the output but in no input");
    }
    if (in_ell && !out_ell && b->nell > 0 && b->e->dialect == DIALECT_NUMPY)
        return cc_error(c, EINC_ERR_SHAPE, out->begin, out->end,
                        "the inputs' '...' covers %d dimension%s but the output has no '...' "
                        "to broadcast them into",
                        b->nell, b->nell == 1 ? "" : "s");
    for (int k = 0; k < b->nell; k++)
        p->axis[b->ell0 + k].in_output = out_ell;

    /*
     * A one-operand einops pattern that names an axis twice is einops.einsum's diagonal or
     * trace.  einops' rearrange, reduce and repeat refuse a repeated axis, and einsum only
     * sums and adds no axis, so with another reduction or a repeat einops has no reading.
     */
    const ast_axis *diag = b->nin == 1 && b->e->dialect == DIALECT_EINOPS
                               ? repeated_name(b->e->in[0]) : NULL;
    if (diag && b->o->reduce != EINC_REDUCE_SUM)
        return cc_error(c, EINC_ERR_SYNTAX, diag->begin, diag->end,
                        "axis '%s' appears twice in the input: a diagonal is only summed, as "
                        "einops.einsum does; einops.reduce refuses a repeated axis, and so does "
                        "--reduce=%s",
                        diag->name, einc_reduce_name(b->o->reduce));

    /* Output-only axes are repeats and need a size. */
    int nrep = 0, nred = 0, rep = -1, red = -1;
    for (int a = 0; a < p->naxis; a++) {
        ir_axis *x = &p->axis[a];
        if (x->in_output && !x->in_input) {
            if (diag)
                return cc_error(c, EINC_ERR_SYNTAX, diag->begin, diag->end,
                                "axis '%s' appears twice in the input and '%s' is new in the "
                                "output: einops.repeat refuses a repeated axis, and "
                                "einops.einsum a new one",
                                diag->name, x->name);
            nrep++;
            rep = a;
            if (x->size < 0 && !x->given && !x->anonymous && !(b->o->open_repeats && !b->inputs)) {
                const ast_axis *occ = NULL;
                for (int i = 0; i < out->n && !occ; i++) {
                    const ast_axis *top = out->ax[i];
                    int nm = top->kind == AST_GROUP ? top->n : 1;
                    for (int j = 0; j < nm && !occ; j++) {
                        const ast_axis *m = top->kind == AST_GROUP ? top->member[j] : top;
                        if (m->kind == AST_NAME && strcmp(m->name, x->name) == 0)
                            occ = m;
                    }
                }
                return cc_error(c, EINC_ERR_SHAPE, occ ? occ->begin : out->begin,
                                occ ? occ->end : out->end,
                                "index '%s' appears in the output but in no input; give its "
                                "size (%s=N) to repeat along it",
                                x->name, x->name);
            }
        } else if (x->in_input && !x->in_output) {
            nred++;
            red = a;
        }
    }
    if (b->nin == 1 && nrep && nred)
        return cc_error(c, EINC_ERR_SYNTAX, out->begin, out->end,
                        "axis '%s' is reduced and '%s' is repeated: a one-operand pattern either "
                        "reduces or repeats, not both",
                        p->axis[red].name, p->axis[rep].name);
    if (b->nin > 1 && b->o->reduce != EINC_REDUCE_SUM)
        return cc_error(c, EINC_ERR_ARG, -1, -1,
                        "--reduce=%s needs a one-operand expression: with several operands the "
                        "product is always summed, as in einsum",
                        einc_reduce_name(b->o->reduce));
    /* numpy-dialect sum is einsum; other reductions are numpy's reductions or einops'. */
    if (b->nin > 1)
        p->kind = IR_EINSUM;
    else if (b->e->dialect == DIALECT_NUMPY)
        p->kind = nred && b->o->reduce != EINC_REDUCE_SUM ? IR_REDUCE : IR_EINSUM;
    else
        p->kind = diag ? IR_EINSUM : nred ? IR_REDUCE : nrep ? IR_REPEAT : IR_REARRANGE;

    /* An empty reduction has no identity for max and min (numpy raises too). */
    if ((b->o->reduce == EINC_REDUCE_MAX || b->o->reduce == EINC_REDUCE_MIN) && b->inputs)
        for (int a = 0; a < p->naxis; a++)
            if (p->axis[a].in_input && !p->axis[a].in_output && p->axis[a].size == 0)
                return cc_error(c, EINC_ERR_SHAPE, p->axis[a].begin, p->axis[a].end,
                                "zero-size reduction over axis '%s' with %s, which has no "
                                "identity",
                                p->axis[a].name, einc_reduce_name(b->o->reduce));
    /* numpy orders complex numbers lexicographically; einc refuses rather than pick an
       order no other array library shares (README, "Dtypes") */
    for (int i = 0; (b->o->reduce == EINC_REDUCE_MAX || b->o->reduce == EINC_REDUCE_MIN) &&
                    b->inputs && i < b->nin; i++)
        if (dtype_is_complex(b->inputs[i].dtype))
            return cc_error(c, EINC_ERR_DTYPE, -1, -1,
                            "%s of %s: complex numbers have no order; reduce their real part or "
                            "magnitude instead",
                            einc_reduce_name(b->o->reduce), einc_dtype_name(b->inputs[i].dtype));
    return 0;
}

ir_prog *bind_expr(cc *c, const ast_expr *e, const bind_opts *o, int ninputs,
                   const einc_tensor *inputs)
{
    static const bind_opts defaults = { EINC_REDUCE_SUM, EINC_F32, 0, 0, NULL, false };
    binder b = { .c = c, .e = e, .o = o ? o : &defaults, .nin = e->nin, .inputs = inputs };
    ir_prog *p = ARENA_NEW(c->A, ir_prog);
    if (!p)
        return cc_nomem(c), NULL;
    b.p = p;
    p->dialect = e->dialect;
    p->why = e->why;
    p->reduce = (ir_comb)b.o->reduce;   /* IR_COMBS begins with einc_reduce's order */
    if ((unsigned)b.o->reduce >= EINC_REDUCE_COUNT)
        return cc_error(c, EINC_ERR_ARG, -1, -1, "unknown reduction %d", (int)b.o->reduce), NULL;
    if (inputs && ninputs != e->nin) {
        int len = (int)strlen(c->src);
        cc_error(c, EINC_ERR_ARG, 0, len, "the expression takes %d operand%s but %d %s given",
                 e->nin, e->nin == 1 ? "" : "s", ninputs, ninputs == 1 ? "was" : "were");
        return NULL;
    }
    if (!e->out && e->dialect == DIALECT_EINOPS) {
        int len = (int)strlen(c->src);
        cc_error(c, EINC_ERR_SYNTAX, len, len,
                 "an einops pattern needs '->' and an output (e.g. 'b c h w -> b h w c')");
        return NULL;
    }
    b.erank = ARENA_ARRAY(c->A, int, e->nin + 1);
    if (!b.erank)
        return cc_nomem(c), NULL;
    for (int i = 0; i < e->nin; i++) {
        /* without arrays, each '...' covers the rank the caller gave (emitted kernels) */
        b.erank[i] = has_ellipsis(e->in[i]) ? (inputs ? 0 : b.o->ellipsis_rank) : -1;
        if (b.erank[i] > b.nell)
            b.nell = b.erank[i];
        if (collect_side(&b, e->in[i], false, i) < 0)
            return NULL;
    }
    if (e->out && collect_side(&b, e->out, true, -1) < 0)
        return NULL;
    if (inputs && check_ranks(&b) < 0)
        return NULL;
    if (make_ellipsis_axes(&b) < 0 || input_numbers(&b) < 0)
        return NULL;
    const ast_side *out = e->out ? e->out : implicit_output(&b);
    if (!out || output_numbers(&b, out) < 0 || apply_sizes(&b) < 0)
        return NULL;
    if (inputs && infer_shapes(&b) < 0)
        return NULL;
    if (p->naxis > IR_MAX_AXES) {
        /* every axis is a loop, and the loop IR's walkers recurse once per loop */
        cc_error(c, EINC_ERR_SHAPE, 0, (int)strlen(c->src),
                 "the expression has %d axes; einc allows at most %d", p->naxis, IR_MAX_AXES);
        return NULL;
    }
    if (check_output(&b, out) < 0 || emit(&b, out) < 0)
        return NULL;
    for (int t = 0; t < p->ntensor; t++)
        if (p->tensor[t].ndim > EINC_MAX_RANK) {
            cc_error(c, EINC_ERR_SHAPE, p->tensor[t].begin, p->tensor[t].end,
                     "%s would have %d dimensions; einc (like numpy) allows at most %d",
                     p->tensor[t].role == IR_OUTPUT ? "the output" : "an operand",
                     p->tensor[t].ndim, EINC_MAX_RANK);
            return NULL;
        }
    p->bound = true;
    for (int a = 0; a < p->naxis; a++)
        p->bound &= p->axis[a].size >= 0;
    if (p->bound) {
        int64_t n = 1;
        for (int t = 0; t < p->ntensor; t++)
            if ((n = ir_tensor_elems(p, &p->tensor[t])) < 0) {
                cc_error(c, EINC_ERR_NOMEM, p->tensor[t].begin, p->tensor[t].end,
                         "%s would have more elements than 64 bits can count", p->tensor[t].name);
                return NULL;
            }
    }
    return p;
}
