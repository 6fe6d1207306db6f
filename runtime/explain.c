/*
 * explain.c — einc_kernel_explain and _explain_dot: the stages a CPU run's pipeline went
 * through, as each printed itself, and a model's fused groups (`einc explain`, README).
 */
#include "kernel.h"
#include "auto.h"
#include "loop.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

/* ---- fused groups: what each loop nest of a model reads and writes ------------------------- */

static void mark_expr(const ir_expr *x, const bool *acc, char *rw)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS && !acc[x->acc.tensor])
        rw[x->acc.tensor] |= 1;
    mark_expr(x->a, acc, rw);
    mark_expr(x->b, acc, rw);
}

/* rw[t]: 1 read, 2 written (temporaries folded into an ACC are neither). */
static void mark_node(const lp_node *n, const bool *acc, char *rw)
{
    mark_expr(n->value, acc, rw);
    mark_expr(n->final, acc, rw);
    if (n->dst)
        rw[n->dst->tensor] |= 2;
    if (n->a)
        rw[n->a->tensor] |= 1;
    if (n->b)
        rw[n->b->tensor] |= 1;
    for (int i = 0; i < n->n; i++)
        mark_node(n->body[i], acc, rw);
}

static int count_stmts(const lp_node *n)
{
    int c = n->op == LP_ACC || n->op == LP_GEMM || (n->op == LP_STORE && n->value);
    for (int i = 0; i < n->n; i++)
        c += count_stmts(n->body[i]);
    return c;
}

/* "fused groups" for explain, or a Graphviz digraph when dot. */
static void explain_groups(strbuf *b, const ir_prog *p, const lp_prog *lp, bool dot)
{
    char *rw = einc_calloc((size_t)p->ntensor + 1, 1);
    if (!rw) {
        b->failed = true;
        return;
    }
    if (dot) {
        sb_printf(b, "digraph einc {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
        for (int t = 0; t < p->ntensor; t++) {
            const ir_tensor *T = &p->tensor[t];
            sb_printf(b, "  t%d [label=\"%s\\n%s[", t, T->name, einc_dtype_name(T->dtype));
            ir_print_shape(b, p, T);
            sb_printf(b, "]\", shape=%s];\n", T->role == IR_TEMP ? "box" : T->role == IR_INPUT ? "ellipse" : "doubleoctagon");
        }
    } else {
        sb_printf(b, "fused groups: %d loop nest%s for %d statement%s\n", lp->nnest,
                  lp->nnest == 1 ? "" : "s", p->nstmt, p->nstmt == 1 ? "" : "s");
    }
    for (int i = 0; i < lp->nnest; i++) {
        memset(rw, 0, (size_t)p->ntensor);
        mark_node(lp->nest[i].root, lp->acc, rw);
        if (dot)
            sb_printf(b, "  n%d [label=\"nest %d\\n%d step%s\", shape=component, style=filled, "
                         "fillcolor=\"#dde8ff\"];\n", i, i, count_stmts(lp->nest[i].root),
                      count_stmts(lp->nest[i].root) == 1 ? "" : "s");
        else
            sb_printf(b, "  nest %d (%d step%s): reads", i, count_stmts(lp->nest[i].root),
                      count_stmts(lp->nest[i].root) == 1 ? "" : "s");
        for (int t = 0; t < p->ntensor; t++) {
            if (!(rw[t] & 1))
                continue;
            if (dot)
                sb_printf(b, "  t%d -> n%d;\n", t, i);
            else
                sb_printf(b, " %s", p->tensor[t].name);
        }
        if (!dot)
            sb_printf(b, "; writes");
        for (int t = 0; t < p->ntensor; t++)
            if (rw[t] & 2) {
                if (dot)
                    sb_printf(b, "  n%d -> t%d;\n", i, t);
                else
                    sb_printf(b, " %s", p->tensor[t].name);
            }
        if (!dot)
            sb_printf(b, "\n");
    }
    if (dot)
        sb_printf(b, "}\n");
    einc_free(rw);
}

/* The passes pl's target runs, as explain's last line names them. */
static void explain_passes(strbuf *b, const pipeline *pl)
{
    sb_printf(b, "passes (%s):", pipeline_target_name(pl->target));
    for (pl_stage s = PL_BIND; s <= PL_SCHEDULE; s++) {
        if (!pipeline_runs(pl->target, s))
            continue;
        const char *none = s == PL_PATH && !pl->path ? " (kept one nest)"
                         : s == PL_SPLIT && !pl->split ? " (nothing to split)" : "";
        sb_printf(b, "%s %s%s", s == PL_BIND ? "" : ",", pipeline_stage_name(s), none);
    }
    sb_printf(b, "\n");
}

/* The text after ir_print's "statements:" line, up to `stop` when given. */
static void statements_of(strbuf *b, const char *ir, const char *stop)
{
    const char *st = strstr(ir, "statements:\n"), *end = stop ? strstr(ir, stop) : NULL;
    st = st ? st + strlen("statements:\n") : ir;
    sb_printf(b, "%.*s", (int)(end && end > st ? end - st : (ptrdiff_t)strlen(st)), st);
}

/*
 * explain's text: each stage the CPU pipeline ran, as it printed it; or (dot) only the
 * fused groups as a Graphviz digraph.
 */
static char *explain(einc_kernel *k, int ninputs, const einc_tensor *inputs, einc_error *err, bool dot)
{
    einc_error scratch;
    err = error_start(err, &scratch);
    if (!k) {
        fail(err, EINC_ERR_ARG, dot ? "einc_kernel_explain_dot: NULL kernel" : "einc_kernel_explain: NULL kernel");
        return NULL;
    }
    if (inputs && check_tensors(ninputs, inputs, false, err))
        return NULL;
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    /* the schedule a run with these arrays gets: their strides too */
    bool *sf = inputs ? strided_flags(&A, ninputs, inputs, einc_kernel_noutputs(k), NULL) : NULL;
    pipeline pl = kernel_pipeline(k, inputs ? ninputs : 0, inputs, sf, PL_CPU);
    pl.record = !dot;
    char *s = NULL;
    if ((inputs && !sf) || pipeline_run(&c, &pl, PL_SCHEDULE) < 0) {
        if (!c.failed)
            cc_nomem(&c);
        arena_free(&A);
        return NULL;
    }
    strbuf b = { 0 };
    if (dot) {
        explain_groups(&b, pl.p, pl.lp, true);
    } else {
        sb_printf(&b, "%s", pl.text[PL_BIND]);
        if (pl.path) {
            sb_printf(&b, "contraction path: %s\n", pl.path);
            if (pl.path_symbolic)
                sb_printf(&b, "  chosen with each open size taken as %d (emitted code uses it; a "
                              "run chooses for its sizes)\n", PL_SYMBOLIC_SIZE);
            sb_printf(&b, "  naive FLOPs %.4g, optimized %.4g (%.1fx fewer), largest intermediate "
                          "%.4g elements\n  steps:\n",
                      pl.naive, pl.opt, pl.naive / pl.opt, pl.largest);
            statements_of(&b, pl.text[PL_PATH], NULL);
        }
        if (pl.split) {
            sb_printf(&b, "full reduction in two steps (the first runs in parallel):\n");
            statements_of(&b, pl.text[PL_SPLIT], "flops:");
        }
        sb_printf(&b, "schedule:\n%s", pl.text[PL_SCHEDULE]);
        if (k->model)
            explain_groups(&b, pl.p, pl.lp, false);
        explain_passes(&b, &pl);
        if (inputs && k->target == EINC_TARGET_AUTO && use_jit(k->target))
            explain_target(&b, k, &c, &pl, ninputs, inputs);
    }
    if (!(s = sb_finish(&b)))
        fail(err, EINC_ERR_NOMEM, "out of memory");
    arena_free(&A);
    return s;
}

char *einc_kernel_explain(einc_kernel *k, int ninputs, const einc_tensor *inputs, einc_error *err)
{
    return explain(k, ninputs, inputs, err, false);
}

char *einc_kernel_explain_dot(einc_kernel *k, int ninputs, const einc_tensor *inputs, einc_error *err)
{
    return explain(k, ninputs, inputs, err, true);
}
