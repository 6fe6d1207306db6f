/* cspell.c — see cspell.h. */
#include "cspell.h"

#include <stdio.h>
#include <string.h>

/* Names for loops and sizes.  Anonymous axes ("_3", "...0") get names of their own. */
int cs_name_axes(cc *c, cspell *g, bool (*reserved)(const char *))
{
    const ir_prog *p = g->p;
    g->loopvar = ARENA_ARRAY(c->A, const char *, p->naxis + 1);
    g->size = ARENA_ARRAY(c->A, const char *, p->naxis + 1);
    if (!g->loopvar || !g->size)
        return cc_nomem(c);
    for (int a = 0; a < p->naxis; a++) {
        const ir_axis *x = &p->axis[a];
        char buf[160];
        if (x->anonymous)
            snprintf(buf, sizeof buf, "i_%d_", a);
        else
            snprintf(buf, sizeof buf, "i_%s", x->name);
        g->loopvar[a] = arena_strndup(c->A, buf, strlen(buf));
        if (x->size >= 0)
            snprintf(buf, sizeof buf, "%lld", (long long)x->size);
        else if (x->anonymous)      /* the k-th dimension of '...': "ellipsis0", ... */
            snprintf(buf, sizeof buf, "ellipsis%s", x->name + 3);
        else
            snprintf(buf, sizeof buf, "%s%s", x->name, reserved(x->name) ? "_" : "");
        g->size[a] = arena_strndup(c->A, buf, strlen(buf));
        if (!g->loopvar[a] || !g->size[a])
            return cc_nomem(c);
    }
    return 0;
}

void cs_mono(const cspell *g, const ir_mono *m)
{
    bool any = false;
    if (m->k != 1 || m->n == 0) {
        sb_printf(g->b, "%lld%s", (long long)m->k, g->int_suffix ? g->int_suffix : "");
        any = true;
    }
    for (int i = 0; i < m->n; i++) {
        sb_printf(g->b, "%s%s", any ? "*" : "", g->size[m->v[i]]);
        any = true;
    }
}

bool cs_mono_is_one(const ir_mono *m) { return m->n == 0 && m->k == 1; }

void cs_dim_index(const cspell *g, const ir_dim *d)
{
    if (d->n == 0) {
        sb_printf(g->b, "%lld", (long long)d->off);
        return;
    }
    for (int t = 0; t < d->n; t++) {
        sb_printf(g->b, "%s%s", t ? " + " : "", g->loopvar[d->t[t].axis]);
        if (!cs_mono_is_one(&d->t[t].coef)) {
            sb_printf(g->b, "*");
            cs_mono(g, &d->t[t].coef);
        }
    }
    if (d->off)
        sb_printf(g->b, " + %lld", (long long)d->off);
}

/* The flat offset of an access, by Horner's rule over the tensor's shape. */
void cs_offset(const cspell *g, const ir_access *a)
{
    const ir_tensor *t = &g->p->tensor[a->tensor];
    if (a->ndim == 0) {
        sb_printf(g->b, "0");
        return;
    }
    for (int d = 1; d < a->ndim; d++)
        if (!cs_mono_is_one(&t->shape[d]))
            sb_printf(g->b, "(");
    for (int d = 0; d < a->ndim; d++) {
        bool zero = a->dim[d].n == 0 && a->dim[d].off == 0;
        if (d == 0) {
            cs_dim_index(g, &a->dim[d]);
            continue;
        }
        if (!cs_mono_is_one(&t->shape[d])) {
            sb_printf(g->b, ")*");
            cs_mono(g, &t->shape[d]);
        }
        if (!zero) {
            sb_printf(g->b, " + ");
            cs_dim_index(g, &a->dim[d]);
        }
    }
}

void cs_access(const cspell *g, const ir_access *a)
{
    sb_printf(g->b, "%s[", g->p->tensor[a->tensor].name);
    cs_offset(g, a);
    sb_printf(g->b, "]");
}

