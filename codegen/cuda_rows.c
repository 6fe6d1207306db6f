/*
 * cuda_rows.c — the CUDA kernels of fused row groups and of reductions (docs/ARCHITECTURE.md,
 * "Schedule kinds" and "The CUDA kernels"), and their launch rule (einc_cuda_geometry), which
 * codegen/cuda_launch.c applies for runtime/cuda.c and prints into the emitted launcher.
 *
 * A nest the schedule calls `rows` or `reduce` whose flattened loops (cg_cuda_flat) sit over steps that are reductions (ACC),
 * loops of stores, or one store per row, at least one a reduction, is a *rows* nest:
 * softmax (max, exp-and-sum, scale), log_softmax, layernorm, `ij->i` with its epilogue.
 * One row (one value of the flattened loops) belongs to a group of threads, which runs
 * each step across the row: thread t takes the row's elements t, t + G, t + 2G, ... (G the
 * group's size), folds its part of a reduction in registers (a float sum pairwise, as
 * cspell.h's cascade), then the group folds the parts: a butterfly of __shfl_xor_sync
 * within a warp, then the warps' results through shared memory, read back by every thread
 * in warp order.  The order of every fold is fixed by the launch geometry, so a launch is
 * deterministic.  One thread of the group stores the reduction (its final applied); a
 * barrier of the group (__syncwarp, or __syncthreads for a block) separates the steps, so
 * a later step reads what any thread of the group wrote before.  A group is a warp (the
 * block holds 8 rows) when a row has at most CU_WARP_ROW elements, else the block (one row
 * a block).  Rows too long for registers need nothing more: each step streams the row
 * again from global memory (L2 keeps rows of a few hundred KiB).
 *
 * A nest that is one reduction and nothing else (`ij->`, `ijk->k`, `ij->i`) is a *reduce*
 * nest: the same kernel, and when few outputs would leave SMs idle, two stages in the one
 * launch: P blocks per output each fold a contiguous slice (stage 1) into a partial in a
 * module-scope buffer; the last block to finish (an atomic counter, after a fence) folds
 * each output's P partials in order (stage 2) and resets the counter.  P comes from the
 * geometry (about 4 blocks per SM in all).  The buffer is the module's, not the caller's
 * workspace: launches of one module must not overlap (einc's runtime runs one at a time; a
 * launcher's caller keeps them on one stream).
 *
 * A float prod stays on one thread in numpy's order (the plain form of cuda.c): partial
 * products could underflow to 0 in one thread and overflow to inf in another, and 0 * inf
 * is NaN where numpy's sequential product is finite or inf.
 */
#include "cuda_int.h"
#include "cuda_launch.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

enum { CU_WARP_ROW = 1024, CU_PARTS = 4096 };

/*
 * The launch geometry of every form, from the sizes: the grid, the block (x: threads of a
 * row's group, y: groups a block), dynamic shared memory.  Plain (0): 256 threads on
 * min(ceil(count/256), 4096) blocks.  Rows (1), and reduce (2) with enough outputs: a warp
 * per row up to CU_WARP_ROW elements, else a block per row.  Reduce with few outputs: P
 * blocks an output, P = min(4 SMs / count, len / 2048), when that is at least 2 (grid =
 * P * count <= 4 * SMs <= CU_PARTS).  sms <= 0 means unknown: 132, an H100's.  The text is
 * compiled here and printed into every emitted launcher, so both follow one rule.
 */
#define CU_GEOMETRY(X)                                                                         \
    X(void einc_cuda_geometry(int form, int64_t count, int64_t len, int sms, unsigned *grid,    \
                              unsigned *bx, unsigned *by, unsigned *shmem) {                   \
        int64_t target = 4 * (int64_t)(sms > 0 && sms < 1024 ? sms : 132), g = 1, p = 0;       \
        *bx = 256;                                                                              \
        *by = 1;                                                                                \
        *shmem = 0;                                                                             \
        if (form == 2 && count > 0 && count <= target / 2) {                                   \
            p = target / count < len / 2048 ? target / count : len / 2048;                     \
        }                                                                                       \
        if (form == 0) {                                                                        \
            g = count / 256 + (count % 256 != 0);                                              \
        } else if (p >= 2) {                                                                    \
            g = p * count;                                                                      \
        } else if (len <= 1024) {                                                               \
            *bx = 32;                                                                           \
            *by = 8;                                                                            \
            g = count / 8 + (count % 8 != 0);                                                  \
        } else {                                                                                \
            g = count;                                                                          \
        }                                                                                       \
        g = g < 1 ? 1 : g;                                                                      \
        *grid = (unsigned)(g < 4096 || p >= 2 ? g : 4096);                                     \
    })
#define CU_AS_CODE(...) __VA_ARGS__
#define CU_AS_TEXT(...) #__VA_ARGS__

CU_GEOMETRY(CU_AS_CODE)

/* ---- the shapes ------------------------------------------------------------------------- */

/* Does access a use every axis of ax[0..n)? */
static bool uses_all(const ir_access *a, const int *ax, int n)
{
    for (int i = 0; i < n; i++)
        if (!ir_access_uses(a, ax[i]))
            return false;
    return true;
}

/* The innermost loop of a step's chain (loops with one child that is a loop), or NULL. */
static const lp_node *chain_end(const lp_node *s)
{
    if (s->op != LP_LOOP)
        return NULL;
    while (s->n == 1 && s->body[0]->op == LP_LOOP)
        s = s->body[0];
    return s;
}

/* The chain's axes (ax may be NULL); returns their count. */
static int chain_axes(const lp_node *s, int *ax)
{
    int n = 0;
    for (; s->op == LP_LOOP; s = s->n == 1 ? s->body[0] : s) {
        if (ax)
            ax[n] = s->axis;
        n++;
        if (s->n != 1 || s->body[0]->op != LP_LOOP)
            break;
    }
    return n;
}

/*
 * Can a group run step s across a row: a chain of loops (or none) over stores, and updates
 * when under an ACC, each store writing its own element of the chain's iterations?  n_upd
 * counts the updates, n_store the stores.
 */
static bool step_ok(const lp_node *s, bool acc, int *n_upd, int *n_store)
{
    const lp_node *end = chain_end(s);
    const lp_node *const *leaf = end ? (const lp_node *const *)end->body : &s;
    int nleaf = end ? end->n : 1;
    int ax[2 * IR_MAX_AXES + 4];
    int nax = chain_axes(s, ax);
    if (nax > (int)(sizeof ax / sizeof *ax))
        return false;
    for (int i = 0; i < nleaf; i++) {
        const lp_node *l = leaf[i];
        if (l->op == LP_UPDATE && acc)
            ++*n_upd;
        else if (l->op == LP_STORE && uses_all(l->dst, ax, nax))
            ++*n_store;
        else
            return false;
    }
    return true;
}

/* The step whose chain sets the row's length: the first reduction's. */
static const lp_node *length_step(lp_node *const *body, int nbody)
{
    for (int i = 0; i < nbody; i++)
        if (body[i]->op == LP_ACC)
            return body[i]->body[0];
    return NULL;
}

cg_cuda_form cg_cuda_form_of(const lp_nest *nest)
{
    /* a contraction (ik,kj->ij) reads each input along other axes: a thread per output
       keeps its reads coalesced, and the matrix kernels are another template's */
    if (nest->sched.kind != LP_KIND_ROWS && nest->sched.kind != LP_KIND_REDUCE)
        return CG_CUDA_PLAIN;
    int nflat = cg_cuda_flat(nest->root, NULL);
    const lp_node *n = nest->root;
    for (int i = 0; i < nflat; i++)
        n = i + 1 < nflat ? n->body[0] : n;
    lp_node *const *body = nflat ? n->body : (lp_node *const *)&nest->root;
    int nbody = nflat ? n->n : 1, accs = 0, upd = 0, st = 0;
    for (int i = 0; i < nbody; i++) {
        const lp_node *s = body[i];
        if (s->op == LP_ACC) {
            if (s->n != 1 || (s->comb == IR_COMB_PROD && dtype_is_float(nest->compute)) ||
                !step_ok(s->body[0], true, &upd, &st))
                return CG_CUDA_PLAIN;
            accs++;
        } else if (s->op == LP_GEMM || !step_ok(s, false, &upd, &st)) {
            return CG_CUDA_PLAIN;
        }
    }
    if (!accs || (!nflat && st))
        return CG_CUDA_PLAIN;
    return nbody == 1 && st == 0 && upd == 1 ? CG_CUDA_REDUCE : CG_CUDA_ROWS;
}

int cu_rows_len_axes(const lp_nest *nest, int *ax)
{
    int nflat = cg_cuda_flat(nest->root, NULL);
    const lp_node *n = nest->root;
    for (int i = 1; i < nflat; i++)
        n = n->body[0];
    const lp_node *s = length_step(nflat ? n->body : (lp_node *const *)&nest->root, nflat ? n->n : 1);
    return chain_axes(s, ax);
}

/* ---- the kernels ------------------------------------------------------------------------ */

/* const einc_i64 i_a = ..., from var over ax[0..n), through the local rest. */
static void unflatten(cgu *g, const int *ax, int n, const char *var, const char *rest, int depth)
{
    if (n == 0)
        return;
    cu_indent(g, depth);
    sb_printf(g->sp.b, "einc_i64 %s = %s;\n", rest, var);
    for (int i = n - 1; i > 0; i--) {
        cu_indent(g, depth);
        sb_printf(g->sp.b, "const einc_i64 %s = %s %% %s;\n", g->sp.loopvar[ax[i]], rest, g->sp.size[ax[i]]);
        cu_indent(g, depth);
        sb_printf(g->sp.b, "%s /= %s;\n", rest, g->sp.size[ax[i]]);
    }
    cu_indent(g, depth);
    sb_printf(g->sp.b, "const einc_i64 %s = %s;\n", g->sp.loopvar[ax[0]], rest);
}

static void line(cgu *g, int depth, const char *text)
{
    cu_indent(g, depth);
    sb_printf(g->sp.b, "%s\n", text);
}

/* The step's elements, thread t of the group taking t, t + G, ...: for { unflatten; leaves }. */
static int elements(cgu *g, const lp_node *s, int depth, const char *lo, const char *hi)
{
    const lp_node *end = chain_end(s);
    int *ax = ARENA_ARRAY(g->sp.c->A, int, chain_axes(s, NULL) + 1);
    if (!ax)
        return cc_nomem(g->sp.c);
    int nax = chain_axes(s, ax);
    cu_indent(g, depth);
    sb_printf(g->sp.b, "for (einc_i64 einc_e = %s + threadIdx.x; einc_e < ", lo ? lo : "0");
    if (hi)
        sb_printf(g->sp.b, "%s", hi);
    else
        cu_count(g, ax, nax, "einc_i64");
    sb_printf(g->sp.b, "; einc_e += blockDim.x) {\n");
    unflatten(g, ax, nax, "einc_e", "einc_re", depth + 1);
    const lp_node *const *leaf = end ? (const lp_node *const *)end->body : &s;
    for (int i = 0; i < (end ? end->n : 1); i++)
        cu_node(g, leaf[i], depth + 1);
    line(g, depth, "}");
    return 0;
}

/* Folds every thread's acc into the group's, the same in every thread of the group. */
static void group_fold(cgu *g, ir_comb comb, int depth)
{
    const char *at = cs_arith_type(&g->sp, g->nest->compute);
    line(g, depth, "for (int einc_o = 16; einc_o > 0; einc_o >>= 1) {");
    cu_indent(g, depth + 1);
    sb_printf(g->sp.b, "const %s einc_x = __shfl_xor_sync(0xffffffffu, acc, einc_o);\n", at);
    cu_indent(g, depth + 1);
    cu_combine(g, comb, "acc", NULL, "einc_x");
    sb_printf(g->sp.b, ";\n");
    line(g, depth, "}");
    line(g, depth, "if (blockDim.x > 32) {     /* the group is the block: fold its warps in order */");
    line(g, depth + 1, "__syncthreads();");
    line(g, depth + 1, "if ((threadIdx.x & 31) == 0)");
    line(g, depth + 2, "einc_red[threadIdx.x >> 5] = acc;");
    line(g, depth + 1, "__syncthreads();");
    line(g, depth + 1, "acc = einc_red[0];");
    line(g, depth + 1, "for (unsigned einc_w = 1; einc_w < blockDim.x >> 5; einc_w++) {");
    cu_indent(g, depth + 2);
    cu_combine(g, comb, "acc", NULL, "einc_red[einc_w]");
    sb_printf(g->sp.b, ";\n");
    line(g, depth + 1, "}");
    line(g, depth, "}");
}

/* In the group's leader: acc = dst ⊕ acc when the ACC accumulates, then dst = final(acc). */
static void leader_store(cgu *g, const lp_node *acc, int depth, const char *cond)
{
    cu_indent(g, depth);
    sb_printf(g->sp.b, "if (%s) {\n", cond);
    if (acc->accumulate) {      /* dst holds an earlier statement's value: it comes first */
        cu_indent(g, depth + 1);
        sb_printf(g->sp.b, "const %s einc_x = acc;\n", cs_arith_type(&g->sp, g->nest->compute));
        cu_indent(g, depth + 1);
        sb_printf(g->sp.b, "acc = ");
        cs_load(&g->sp, g->nest, acc->dst);
        sb_printf(g->sp.b, ";\n");
        cu_indent(g, depth + 1);
        cu_combine(g, acc->comb, "acc", NULL, "einc_x");
        sb_printf(g->sp.b, ";\n");
    }
    cu_acc_store(g, acc, depth + 1);
    line(g, depth, "}");
}

/* One reduction step across the row; lo and hi bound a two-stage block's slice. */
static int acc_step(cgu *g, const lp_node *acc, int depth, const char *lo, const char *hi, bool store)
{
    g->sp.wrap = g->sp.p->tensor[acc->dst->tensor].dtype;      /* cspell.h */
    cu_indent(g, depth);
    sb_printf(g->sp.b, "%s acc = ", cs_arith_type(&g->sp, g->nest->compute));
    cu_identity(g, acc->comb);
    sb_printf(g->sp.b, ";\n");
    cu_pairwise_start(g, acc, depth);
    g->in_acc = true;
    g->pairwise = acc->pairwise;
    int rc = elements(g, acc->body[0], depth, lo, hi);
    g->in_acc = false;
    cu_pairwise_end(g, acc, depth);
    if (rc < 0)
        return -1;
    group_fold(g, acc->comb, depth);
    if (store) {
        g->in_acc = true;
        leader_store(g, acc, depth, "threadIdx.x == 0");
        g->in_acc = false;
    }
    return 0;
}

static const char *const barrier = "if (blockDim.x == 32) __syncwarp(); else __syncthreads();";

/* The rows form: a group per row, over the rows in a grid-stride loop of groups. */
static int rows_form(cgu *g, const cu_kernel *k, int depth)
{
    line(g, depth, "const einc_i64 einc_groups = (einc_i64)gridDim.x * blockDim.y;");
    line(g, depth, "for (einc_i64 einc_row = (einc_i64)blockIdx.x * blockDim.y + threadIdx.y; einc_row < einc_count;");
    line(g, depth, "     einc_row += einc_groups) {");
    unflatten(g, k->flat, k->nflat, "einc_row", "einc_rr", depth + 1);
    for (int i = 0; i < k->nbody; i++) {
        const lp_node *s = k->body[i];
        if (i > 0)      /* what the last step wrote, any thread of the group may read */
            line(g, depth + 1, barrier);
        cu_indent(g, depth + 1);
        sb_printf(g->sp.b, "{\n");
        if (s->op == LP_ACC) {
            if (acc_step(g, s, depth + 2, NULL, NULL, true) < 0)
                return -1;
        } else if (s->op == LP_STORE) {
            line(g, depth + 2, "if (threadIdx.x == 0) {");
            cu_node(g, s, depth + 3);
            line(g, depth + 2, "}");
        } else if (elements(g, s, depth + 2, NULL, NULL) < 0) {
            return -1;
        }
        cu_indent(g, depth + 1);
        sb_printf(g->sp.b, "}\n");
    }
    line(g, depth + 1, barrier);    /* the next row's first step may reuse einc_red */
    line(g, depth, "}");
    return 0;
}

/* The two stages of a reduction with few outputs (cu_rows_globals has their buffer). */
static int two_stage(cgu *g, const cu_kernel *k, int idx, int depth)
{
    const lp_node *acc = k->body[0];
    const char *at = cs_arith_type(&g->sp, g->nest->compute);
    cu_indent(g, depth);
    sb_printf(g->sp.b, "if (blockDim.y == 1 && (einc_i64)gridDim.x >= 2 * einc_count && gridDim.x <= %d) {\n",
              CU_PARTS);
    line(g, depth + 1, "__shared__ unsigned einc_last;");
    line(g, depth + 1, "const einc_i64 einc_parts = (einc_i64)gridDim.x / einc_count;");
    line(g, depth + 1, "const einc_i64 einc_row = (einc_i64)blockIdx.x / einc_parts;");
    line(g, depth + 1, "const einc_i64 einc_part = (einc_i64)blockIdx.x % einc_parts;");
    line(g, depth + 1, "{");
    unflatten(g, k->flat, k->nflat, "(einc_row < einc_count ? einc_row : 0)", "einc_rr", depth + 2);
    line(g, depth + 2, "const einc_i64 einc_lo = einc_row < einc_count ? einc_len * einc_part / einc_parts : 0;");
    line(g, depth + 2, "const einc_i64 einc_hi = einc_row < einc_count ? einc_len * (einc_part + 1) / einc_parts : 0;");
    if (acc_step(g, acc, depth + 2, "einc_lo", "einc_hi", false) < 0)
        return -1;
    line(g, depth + 2, "if (threadIdx.x == 0) {");
    cu_indent(g, depth + 3);
    sb_printf(g->sp.b, "if (einc_row < einc_count)\n");
    cu_indent(g, depth + 4);
    sb_printf(g->sp.b, "%s_part_k%d[blockIdx.x] = acc;\n", g->name, idx);
    line(g, depth + 3, "__threadfence();       /* the partial is seen before the count */");
    cu_indent(g, depth + 3);
    sb_printf(g->sp.b, "einc_last = atomicAdd(&%s_done_k%d, 1u) == gridDim.x - 1;\n", g->name, idx);
    line(g, depth + 2, "}");
    line(g, depth + 1, "}");
    line(g, depth + 1, "__syncthreads();");
    line(g, depth + 1, "if (!einc_last)");
    line(g, depth + 2, "return;");
    line(g, depth + 1, "__threadfence();");
    line(g, depth + 1, "for (einc_i64 einc_r = threadIdx.x; einc_r < einc_count; einc_r += blockDim.x) {");
    unflatten(g, k->flat, k->nflat, "einc_r", "einc_rr", depth + 2);
    cu_indent(g, depth + 2);
    sb_printf(g->sp.b, "volatile %s *einc_p = %s_part_k%d + einc_r * einc_parts;\n", at, g->name, idx);
    /* the partials fold as a tree, in place: a float sum's error grows as log2(P), not P */
    line(g, depth + 2, "for (einc_i64 einc_w = 1; einc_w < einc_parts; einc_w *= 2) {");
    line(g, depth + 3, "for (einc_i64 einc_q = 0; einc_q + einc_w < einc_parts; einc_q += 2 * einc_w) {");
    cu_indent(g, depth + 4);
    sb_printf(g->sp.b, "%s acc = einc_p[einc_q];\n", at);
    cu_indent(g, depth + 4);
    cu_combine(g, acc->comb, "acc", NULL, "einc_p[einc_q + einc_w]");
    sb_printf(g->sp.b, ";\n");
    line(g, depth + 4, "einc_p[einc_q] = acc;");
    line(g, depth + 3, "}");
    line(g, depth + 2, "}");
    cu_indent(g, depth + 2);
    sb_printf(g->sp.b, "%s acc = einc_p[0];\n", at);
    g->in_acc = true;
    leader_store(g, acc, depth + 2, "true");
    g->in_acc = false;
    line(g, depth + 1, "}");
    line(g, depth + 1, "if (threadIdx.x == 0)");
    cu_indent(g, depth + 2);
    sb_printf(g->sp.b, "%s_done_k%d = 0;    /* for the next launch */\n", g->name, idx);
    line(g, depth + 1, "return;");
    line(g, depth, "}");
    return 0;
}

void cu_rows_kernel(cgu *g, const cu_kernel *k, int idx)
{
    sb_printf(g->sp.b, "extern \"C\" __global__ void __launch_bounds__(%d) %s_k%d(", CU_BLOCK, g->name, idx);
    cu_params(g, false);
    sb_printf(g->sp.b, ")\n{\n");
    cu_indent(g, 1);
    sb_printf(g->sp.b, "__shared__ %s einc_red[%d];\n", cs_arith_type(&g->sp, g->nest->compute), CU_BLOCK / 32);
    cu_indent(g, 1);
    sb_printf(g->sp.b, "const einc_i64 einc_count = ");
    cu_count(g, k->flat, k->nflat, "einc_i64");
    sb_printf(g->sp.b, ";\n");
    if (k->form == CG_CUDA_REDUCE) {
        int *ax = ARENA_ARRAY(g->sp.c->A, int, chain_axes(k->body[0]->body[0], NULL) + 1);
        if (!ax) {
            cc_nomem(g->sp.c);
            return;
        }
        int nax = chain_axes(k->body[0]->body[0], ax);
        cu_indent(g, 1);
        sb_printf(g->sp.b, "const einc_i64 einc_len = ");
        cu_count(g, ax, nax, "einc_i64");
        sb_printf(g->sp.b, ";\n");
        if (two_stage(g, k, idx, 1) < 0)
            return;
    }
    rows_form(g, k, 1);
    sb_printf(g->sp.b, "}\n\n");
}

void cu_rows_globals(cgu *g, const cu_kernel *ks, int nk)
{
    for (int i = 0; i < nk; i++) {
        if (ks[i].form != CG_CUDA_REDUCE)
            continue;
        g->nest = &g->sp.lp->nest[i];
        sb_printf(g->sp.b, "__device__ %s %s_part_k%d[%d];    /* a two-stage reduction's partials */\n"
                        "__device__ unsigned %s_done_k%d;     /* its blocks that are done */\n",
                  cs_arith_type(&g->sp, g->nest->compute), g->name, i, CU_PARTS, g->name, i);
    }
}

void cu_rows_host_helpers(cgu *g)
{
    sb_printf(g->sp.b, "#ifndef EINC_CUDA_GEOMETRY\n#define EINC_CUDA_GEOMETRY\n"
                    "/* launch geometry: the rule runtime/cuda.c follows (codegen/cuda_rows.c) */\n"
                    "static %s\n\n"
                    "static int einc_sms(void)\n{\n"
                    "    int d = 0, n = 0;\n"
                    "    if (cudaGetDevice(&d) != cudaSuccess ||\n"
                    "        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, d) != cudaSuccess)\n"
                    "        return 0;\n"
                    "    return n;\n}\n#endif\n\n",
              CU_GEOMETRY(CU_AS_TEXT));
}
