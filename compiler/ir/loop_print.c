/* loop_print.c — the loop IR as text, for `einc explain` ("schedule:") and tests. */
#include "loop.h"
#include "strbuf.h"

static void acc_text(strbuf *b, const ir_prog *p, const ir_access *a)
{
    sb_printf(b, "%s[", p->tensor[a->tensor].name);
    for (int d = 0; d < a->ndim; d++) {
        sb_printf(b, d ? ", " : "");
        if (a->dim[d].n == 0)
            sb_printf(b, "%lld", (long long)a->dim[d].off);
        for (int t = 0; t < a->dim[d].n; t++)
            sb_printf(b, "%s%s", t ? "+" : "", p->axis[a->dim[d].t[t].axis].name);
    }
    sb_printf(b, "]");
}

static void node(strbuf *b, const ir_prog *p, const lp_node *n, int depth)
{
    sb_printf(b, "%*s", 2 * depth + 2, "");
    switch (n->op) {
    case LP_LOOP:
        if (n->tile)
            sb_printf(b, "for %s blocks of %lld%s\n", p->axis[n->axis].name, (long long)n->tile,
                      n->parallel ? " parallel" : "");
        else
            sb_printf(b, "for %s%s%s%s\n", p->axis[n->axis].name, n->blocked ? " in its block" : "",
                      n->parallel ? " parallel" : "", n->vector ? " vector" : "");
        break;
    case LP_ACC:
        sb_printf(b, "acc %s -> ", ir_comb_name(n->comb));
        acc_text(b, p, n->dst);
        sb_printf(b, "%s\n", n->final ? " (with a final expression)" : "");
        break;
    case LP_UPDATE:
        sb_printf(b, "acc %s ...\n", ir_comb_name(n->comb));
        break;
    case LP_GEMM:
        sb_printf(b, "gemm m=%s n=%s k=%s%s%s%s%s: ", p->axis[n->m].name, p->axis[n->nn].name,
                  n->k2 >= 0 ? p->axis[n->k2].name : "", n->k2 >= 0 ? "*" : "", p->axis[n->k].name,
                  n->parallel ? " parallel over m" : "",
                  n->accumulate ? "" : ", first k block stores");
        acc_text(b, p, n->dst);
        sb_printf(b, " += ");
        acc_text(b, p, n->a);
        sb_printf(b, " * ");
        acc_text(b, p, n->b);
        sb_printf(b, "\n");
        break;
    case LP_STORE:
        acc_text(b, p, n->dst);
        if (!n->value)
            sb_printf(b, " = identity of %s\n", ir_comb_name(n->comb));
        else
            sb_printf(b, " %s ...\n", ir_comb_name(n->comb));
        break;
    }
    for (int i = 0; i < n->n; i++)
        node(b, p, n->body[i], depth + 1);
}

static const char *axis_name(const ir_prog *p, int a) { return a >= 0 ? p->axis[a].name : "none"; }

/* " schedule=KIND key=value ...": the nest's kind and the parameters a backend follows. */
static void sched_text(strbuf *b, const ir_prog *p, const lp_sched *s)
{
    sb_printf(b, " schedule=%s", lp_kind_name(s->kind));
    switch (s->kind) {
    case LP_KIND_GEMM:
        sb_printf(b, " tile=%dx%d vectors kc=%d", s->gemm.mr, s->gemm.nv, s->gemm.kc);
        break;
    case LP_KIND_CONV:
        for (int i = 0; i < s->nconv; i++) {
            const lp_conv_site *d = &s->conv[i];
            sb_printf(b, " site=%s", d->ntap ? "" : "none");
            for (int t = 0; t < d->ntap; t++)
                sb_printf(b, "%s%s", t ? "*" : "", p->axis[d->tap[t]].name);
            sb_printf(b, ":m=%s,k=%s,n=%s,M=%lld,K=%lld,T=%lld", p->axis[d->gemm->m].name,
                      p->axis[d->gemm->k].name, p->axis[d->gemm->nn].name, (long long)d->M,
                      (long long)d->K, (long long)d->T);
            if (d->Mb < d->Mp || d->Kb < d->K)
                sb_printf(b, ",block=%lldx%lld", (long long)d->Mb, (long long)d->Kb);
        }
        sb_printf(b, " tile=%dx%d vectors kc=%d", s->gemm.mr, s->gemm.nv, s->gemm.kc);
        break;
    case LP_KIND_TRANSPOSE:
        if (s->transpose.tile)
            sb_printf(b, " r=%s o=%s tile=%lld square=%d", p->axis[s->transpose.r].name,
                      p->axis[s->transpose.o].name, (long long)s->transpose.tile, s->transpose.vl);
        break;
    case LP_KIND_ROWS:
        sb_printf(b, " row=%s steps=%d", p->axis[s->rows.axis].name, s->rows.steps);
        break;
    case LP_KIND_REDUCE:
        sb_printf(b, " stage=%d/%d %s", s->reduce.stage, s->reduce.stages,
                  s->reduce.memory ? "memory" : "register");
        break;
    case LP_KIND_LOOPS:
    case LP_KIND_ELEMENTWISE:
        break;
    }
    for (int i = 0; i < s->npair; i++)
        sb_printf(b, " coalesce=%s*%s", p->axis[s->pair[i][0]].name, p->axis[s->pair[i][1]].name);
    if (s->vector_bytes)
        sb_printf(b, " vector=%d", s->vl);
    sb_printf(b, " parallel=%s", axis_name(p, s->parallel_axis));
}

char *lp_print(const lp_prog *lp)
{
    strbuf b = { 0 };
    for (int i = 0; i < lp->nnest; i++) {
        sb_printf(&b, "nest %d (%s arithmetic):", i, einc_dtype_name(lp->nest[i].compute));
        sched_text(&b, lp->ir, &lp->nest[i].sched);
        sb_printf(&b, "\n");
        node(&b, lp->ir, lp->nest[i].root, 0);
    }
    return sb_finish(&b);
}
