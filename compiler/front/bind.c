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
 * Steps 1, 2 and 4 and the whole pass are here; 3 is bind_shape.c, 5 bind_emit.c, and
 * bind_int.h holds what they share.
 */
#include "bind_int.h"

#include <assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static_assert((int)IR_COMB_SUM == EINC_REDUCE_SUM && (int)IR_COMB_MEAN == EINC_REDUCE_MEAN &&
                  (int)IR_COMB_MAX == EINC_REDUCE_MAX && (int)IR_COMB_MIN == EINC_REDUCE_MIN &&
                  (int)IR_COMB_PROD == EINC_REDUCE_PROD,
              "ir_comb starts with einc_reduce's order");

int bind_add_axis(binder *b, const char *name, int begin, int end, bool anonymous)
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

bool bind_has_ellipsis(const ast_side *s)
{
    const ast_axis *dummy = NULL;
    return count_ellipses(s, &dummy) > 0;
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
            if (id < 0 && (id = bind_add_axis(b, a->name, a->begin, a->end, false)) < 0)
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

/* ---- 4. the output ------------------------------------------------------------------------ */

/* numpy's implicit output: ellipsis first, then the labels used once, in ASCII order. */
static ast_side *implicit_output(binder *b)
{
    cc *c = b->c;
    ir_prog *p = b->p;
    int n = 0, nlab = 0;
    bool ell = false;
    for (int i = 0; i < b->nin; i++)
        ell |= bind_has_ellipsis(b->e->in[i]);
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
            int id = name ? bind_add_axis(b, name, a->begin, a->end, true) : cc_nomem(b->c);
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

/* ---- the whole pass ------------------------------------------------------------------------ */

static int check_output(binder *b, const ast_side *out)
{
    cc *c = b->c;
    ir_prog *p = b->p;
    bool in_ell = false;
    for (int i = 0; i < b->nin; i++)
        in_ell |= bind_has_ellipsis(b->e->in[i]);
    bool out_ell = bind_has_ellipsis(out);
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
        b.erank[i] = bind_has_ellipsis(e->in[i]) ? (inputs ? 0 : b.o->ellipsis_rank) : -1;
        if (b.erank[i] > b.nell)
            b.nell = b.erank[i];
        if (collect_side(&b, e->in[i], false, i) < 0)
            return NULL;
    }
    if (e->out && collect_side(&b, e->out, true, -1) < 0)
        return NULL;
    if (inputs && bind_check_ranks(&b) < 0)
        return NULL;
    if (bind_ellipsis_axes(&b) < 0 || input_numbers(&b) < 0)
        return NULL;
    const ast_side *out = e->out ? e->out : implicit_output(&b);
    if (!out || output_numbers(&b, out) < 0 || apply_sizes(&b) < 0)
        return NULL;
    if (inputs && bind_infer_shapes(&b) < 0)
        return NULL;
    if (p->naxis > IR_MAX_AXES) {
        /* every axis is a loop, and the loop IR's walkers recurse once per loop */
        cc_error(c, EINC_ERR_SHAPE, 0, (int)strlen(c->src),
                 "the expression has %d axes; einc allows at most %d", p->naxis, IR_MAX_AXES);
        return NULL;
    }
    if (check_output(&b, out) < 0 || bind_emit(&b, out) < 0)
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
