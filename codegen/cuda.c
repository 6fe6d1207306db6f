/*
 * cuda.c — loop IR → CUDA C (README.md, "Emitted kernels", `--emit=cuda`; and the text NVRTC compiles).
 *
 * The program is lowered for LP_GPU, so every reduction is in register form and each nest
 * is a chain of loops over output axes ending in an ACC (a reduction) or a STORE (an
 * elementwise map).  Each nest becomes one kernel NAME_kI, in one of three forms
 * (cg_cuda_form_of):
 *
 *   - plain (here): the loops above the ACC/STORE are flattened into one 64-bit linear
 *     index (one thread per output element); the reduction loops run in the thread.  A
 *     root loop with several children (lower.c merged nests over the same axis) is
 *     flattened too, and each thread runs the children in order for its element: lower.c
 *     merges only when iteration r of a later child reads nothing but what iteration r of
 *     an earlier one wrote.  Elementwise maps, transposes, contractions and a float prod
 *     (numpy's order, on one thread) take this form;
 *   - rows (cuda_rows.c): a nest the schedule calls `rows` (softmax, log_softmax,
 *     layernorm, a row reduction with its epilogue): a warp or a block per row, each step
 *     spread across the row, reductions folded with __shfl_xor_sync and shared memory;
 *   - reduce (cuda_rows.c): a nest that is one reduction of one array (`ij->i`, `ij->`,
 *     `ijk->k`): the rows kernel, or two stages in one launch when the outputs are too
 *     few to fill the GPU.
 *
 * Launch geometry has one rule, einc_cuda_geometry (cuda_rows.c), compiled into the
 * library for runtime/cuda.c and printed into the launcher: plain kernels run 256 threads
 * a block on min(ceil(N/256), 4096) blocks (N the product of the flattened loops' sizes, 1
 * for a scalar output); rows and reduce kernels take theirs from N, the row's length and
 * the device's multiprocessor count; nothing is launched when N == 0.  Plain and rows
 * kernels stay correct for any grid >= 1 and any block of at most 256 threads (rows: a
 * group of x = 32 threads, or x a multiple of 32 and y = 1).
 *
 * cg_cuda writes a .cu file for nvcc (the kernels and an extern "C" host launcher);
 * cg_cuda_kernels only the kernels, with no #include at all (NVRTC ships no cuda_runtime.h
 * or stdint.h): integer types are typedefs of our own behind a guard, and infinities are
 * bit patterns.  Kernels are extern "C", so their PTX .entry names are exactly NAME_kI.
 * Arithmetic follows c.c (expressions are printed by cspell.c for both): integers in
 * unsigned types so overflow wraps as numpy's does, the NaN-propagating max/min, a nest's
 * acc_tensor read as the register.  Temporaries kept in memory are kernel parameters like
 * any array; the launcher carves them out of the caller's workspace.
 */
#include "cuda_int.h"
#include "cdoc.h"
#include "strbuf.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

static const char *ctype(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "float";
    case EINC_F64: return "double";
    case EINC_I32: return "einc_i32";
    case EINC_I64: return "einc_i64";
    default: return "einc_u8";
    }
}

/* Names a size parameter may not take: C++ keywords, CUDA built-ins, our own locals. */
static bool is_reserved(const char *s)
{
    static const char *const kw[] = {
        "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool",
        "break", "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl",
        "concept", "const", "consteval", "constexpr", "constinit", "const_cast", "continue",
        "co_await", "co_return", "co_yield", "decltype", "default", "delete", "do", "double",
        "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
        "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new",
        "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private",
        "protected", "public", "register", "reinterpret_cast", "requires", "restrict",
        "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast",
        "struct", "switch", "template", "this", "thread_local", "throw", "true", "try",
        "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void",
        "volatile", "wchar_t", "while", "xor", "xor_eq",
        "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "dim3", "cudaStream_t",
        "int64_t", "int32_t", "uint8_t", "uint32_t", "uint64_t", "size_t", "NULL", "main",
        "acc", "out", "stream", "count_", "tid_", "rest_", "part_", "half_", "v_",
    };
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++)
        if (strcmp(s, kw[i]) == 0)
            return true;
    if (strncmp(s, "einc_", 5) == 0 || strncmp(s, "EINC_", 5) == 0)
        return true;
    return strncmp(s, "in", 2) == 0 && s[2] >= '0' && s[2] <= '9';
}

static void expr(cgu *g, const ir_expr *x)
{
    cs_expr(&g->sp, g->nest, g->in_acc, g->store_dst, x);
}

static void indent(cgu *g, int depth)
{
    sb_printf(g->sp.b, "%*s", 4 * depth, "");
}

static void identity(cgu *g, ir_comb comb)
{
    cs_identity(&g->sp, g->nest, comb);
}

/* lhs = lhs ⊕ v, where v is an expression or, when x is NULL, the text vtext. */
static void combine(cgu *g, ir_comb comb, const char *lhs, const ir_expr *x, const char *vtext)
{
    cs_combine(&g->sp, g->nest, g->in_acc, g->store_dst, comb, lhs, x, vtext);
}

/* The conversion of an arithmetic value to the stored type. */
static void store_value(cgu *g, const ir_access *dst, const char *text)
{
    einc_dtype t = g->sp.p->tensor[dst->tensor].dtype;
    if (t == EINC_BOOL)
        sb_printf(g->sp.b, "(einc_u8)((%s) != 0)", text);
    else if (t == g->nest->compute && dtype_is_float(t))
        sb_printf(g->sp.b, "%s", text);
    else
        sb_printf(g->sp.b, "(%s)(%s)", ctype(t), text);
}

/* dst = (stored) value, where value is x, or the identity of comb when x is NULL. */
static void store(cgu *g, const ir_access *dst, const ir_expr *x, ir_comb comb)
{
    cs_access(&g->sp, dst);
    sb_printf(g->sp.b, " = ");
    strbuf tmp = { 0 };
    strbuf *outer = g->sp.b;
    g->sp.b = &tmp;
    if (x)
        expr(g, x);
    else
        identity(g, comb);
    g->sp.b = outer;
    char *s = sb_finish(&tmp);
    if (!s)
        outer->failed = true;
    store_value(g, dst, s ? s : "0");
    einc_free(s);
    sb_printf(g->sp.b, ";\n");
}

/* The end of an ACC: dst = final(acc), or dst = acc. */
static void acc_store(cgu *g, const lp_node *n, int depth)
{
    indent(g, depth);
    g->in_acc = true;
    if (n->final) {
        store(g, n->dst, n->final, n->comb);
    } else {
        cs_access(&g->sp, n->dst);
        sb_printf(g->sp.b, " = ");
        store_value(g, n->dst, "acc");
        sb_printf(g->sp.b, ";\n");
    }
    g->in_acc = false;
}

/* A pairwise ACC's cascade (cspell.h), per thread. */
static void pairwise_start(cgu *g, const lp_node *acc, int depth)
{
    if (!acc->pairwise)
        return;
    indent(g, depth);
    cs_pairwise_start(&g->sp, g->nest);
    sb_printf(g->sp.b, "\n");
}

static void pairwise_end(cgu *g, const lp_node *acc, int depth)
{
    g->pairwise = false;
    if (!acc->pairwise)
        return;
    indent(g, depth);
    cs_pairwise_end(&g->sp);
    sb_printf(g->sp.b, "\n");
}

/* What runs inside one thread: sequential loops, accumulators, stores. */
static void node(cgu *g, const lp_node *n, int depth)
{
    switch (n->op) {
    case LP_LOOP: {
        const char *v = g->sp.loopvar[n->axis];
        indent(g, depth);
        sb_printf(g->sp.b, "for (einc_i64 %s = 0; %s < %s; %s++) {\n", v, v, g->sp.size[n->axis], v);
        for (int i = 0; i < n->n; i++)
            node(g, n->body[i], depth + 1);
        indent(g, depth);
        sb_printf(g->sp.b, "}\n");
        return;
    }
    case LP_ACC: {
        indent(g, depth);
        sb_printf(g->sp.b, "{\n");
        indent(g, depth + 1);
        cs_acc_start(&g->sp, g->nest, n);
        pairwise_start(g, n, depth + 1);
        for (int i = 0; i < n->n; i++) {
            g->in_acc = true;
            g->pairwise = n->pairwise;
            node(g, n->body[i], depth + 1);
        }
        pairwise_end(g, n, depth + 1);
        acc_store(g, n, depth + 1);
        indent(g, depth);
        sb_printf(g->sp.b, "}\n");
        return;
    }
    case LP_UPDATE:
        indent(g, depth);
        combine(g, n->comb, "acc", n->value, NULL);
        sb_printf(g->sp.b, ";\n");
        if (g->pairwise) {
            indent(g, depth);
            cs_pairwise_step(&g->sp, g->nest);
            sb_printf(g->sp.b, "\n");
        }
        return;
    case LP_STORE:
        g->store_dst = n->dst;
        indent(g, depth);
        if (!n->value || n->comb == IR_COMB_ASSIGN) {   /* dst = value, or dst = identity */
            store(g, n->dst, n->value, n->comb);
            return;
        }
        /* dst ⊕= value (an accumulating statement; cu_shape saw that no two threads share
           dst), through a local in the arithmetic type */
        sb_printf(g->sp.b, "{ %s acc = ", cs_arith_type(&g->sp, g->nest->compute));
        cs_load(&g->sp, g->nest, n->dst);
        sb_printf(g->sp.b, "; ");
        combine(g, n->comb, "acc", n->value, NULL);
        sb_printf(g->sp.b, "; ");
        cs_access(&g->sp, n->dst);
        sb_printf(g->sp.b, " = ");
        store_value(g, n->dst, "acc");
        sb_printf(g->sp.b, "; }\n");
        return;
    case LP_GEMM:       /* refused by cu_shape: LP_GPU never lowers to one */
        return;
    }
}

/*
 * Is the subtree scheduled for a CPU: a GEMM, a tiled loop, or an output updated in place
 * (dst ⊕= value) or accumulated where dst misses a flattened loop's axis, so that two
 * threads would update one element (a memory-mode reduction)?
 */
static bool cpu_schedule(const lp_node *n, const int *flat, int nflat)
{
    if (n->op == LP_GEMM || (n->op == LP_LOOP && (n->tile || n->blocked)))
        return true;
    if (n->op == LP_ACC || (n->op == LP_STORE && n->value && n->comb != IR_COMB_ASSIGN))
        for (int i = 0; i < nflat; i++)
            if (!ir_access_uses(n->dst, flat[i]))
                return true;
    for (int i = 0; i < n->n; i++)
        if (cpu_schedule(n->body[i], flat, nflat))
            return true;
    return false;
}

int cg_cuda_flat(const lp_node *n, int *ax)
{
    int k = 0;
    for (; n->op == LP_LOOP; n = n->body[0]) {
        if (ax)
            ax[k] = n->axis;
        k++;
        if (n->n != 1)
            break;
    }
    return k;
}

/* Splits a nest into the loops flattened over the grid and what each thread runs. */
static int cu_shape(cc *c, const lp_nest *nest, cu_kernel *k)
{
    *k = (cu_kernel){ 0 };
    k->flat = ARENA_ARRAY(c->A, int, cg_cuda_flat(nest->root, NULL) + 1);
    if (!k->flat)
        return cc_nomem(c);
    k->nflat = cg_cuda_flat(nest->root, k->flat);
    k->nbody = 1;
    k->body = &nest->root;
    for (int i = 0; i < k->nflat; i++) {
        k->nbody = k->body[0]->n;
        k->body = k->body[0]->body;
    }
    if (cpu_schedule(nest->root, k->flat, k->nflat))
        return cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1,
                        "a GPU kernel needs the register schedule (lower with LP_GPU)");
    k->form = cg_cuda_form_of(nest);
    return 0;
}

/* The product of the sizes of axes ax[0..n) as a 64-bit expression ("1" for none). */
static void count(cgu *g, const int *ax, int n, const char *type)
{
    sb_printf(g->sp.b, "(%s)%s", type, n ? g->sp.size[ax[0]] : "1");
    for (int i = 1; i < n; i++)
        sb_printf(g->sp.b, " * %s", g->sp.size[ax[i]]);
}

/* const einc_i64 i_a = ..., from the linear index var over loops ax[0..n). */
static void unflatten(cgu *g, const int *ax, int n, const char *var, int depth)
{
    if (n == 1) {
        indent(g, depth);
        sb_printf(g->sp.b, "const einc_i64 %s = %s;\n", g->sp.loopvar[ax[0]], var);
        return;
    }
    if (n == 0)
        return;
    indent(g, depth);
    sb_printf(g->sp.b, "einc_i64 rest_ = %s;\n", var);
    for (int i = n - 1; i > 0; i--) {
        indent(g, depth);
        sb_printf(g->sp.b, "const einc_i64 %s = rest_ %% %s;\n", g->sp.loopvar[ax[i]], g->sp.size[ax[i]]);
        indent(g, depth);
        sb_printf(g->sp.b, "rest_ /= %s;\n", g->sp.size[ax[i]]);
    }
    indent(g, depth);
    sb_printf(g->sp.b, "const einc_i64 %s = rest_;\n", g->sp.loopvar[ax[0]]);
}

/*
 * The arrays, then the sizes left open; device (kernel: temporaries kept in memory are
 * arrays too; sizes in axis order) or host (launcher: they come out of the workspace, its
 * last parameter; sizes in the emitted function's order, cg_param_at).
 */
static void params(cgu *g, bool host)
{
    const ir_prog *p = g->sp.p;
    bool first = true;
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        if (T->role == IR_TEMP && (host || !g->sp.stored[t]))
            continue;
        sb_printf(g->sp.b, "%s%s%s *%s%s", first ? "" : ", ", T->role == IR_INPUT ? "const " : "",
                  host ? cs_host_type(T->dtype) : ctype(T->dtype), host ? "" : "__restrict__ ",
                  g->sp.tensor[t]);
        first = false;
    }
    for (int i = 0, a = 0; host && (a = cg_param_at(g->sp.lp, i)) >= 0; i++)
        sb_printf(g->sp.b, ", int64_t %s", g->sp.size[a]);
    for (int a = 0; !host && a < p->naxis; a++)
        if (p->axis[a].size < 0)
            sb_printf(g->sp.b, ", einc_i64 %s", g->sp.size[a]);
    if (host && g->sp.nstored)
        sb_printf(g->sp.b, ", void *workspace");
}

static void kernel(cgu *g, const cu_kernel *k, int idx)
{
    if (k->form != CG_CUDA_PLAIN) {
        cu_rows_kernel(g, k, idx);
        return;
    }
    sb_printf(g->sp.b, "extern \"C\" __global__ void __launch_bounds__(%d) %s_k%d(", CU_BLOCK,
              g->name, idx);
    params(g, false);
    sb_printf(g->sp.b, ")\n{\n");
    indent(g, 1);
    sb_printf(g->sp.b, "const einc_i64 count_ = ");
    count(g, k->flat, k->nflat, "einc_i64");
    sb_printf(g->sp.b, ";\n");
    indent(g, 1);
    sb_printf(g->sp.b, "for (einc_i64 tid_ = (einc_i64)blockIdx.x * blockDim.x + threadIdx.x; "
                    "tid_ < count_;\n");
    indent(g, 1);
    sb_printf(g->sp.b, "     tid_ += (einc_i64)blockDim.x * gridDim.x) {\n");
    unflatten(g, k->flat, k->nflat, "tid_", 2);
    for (int i = 0; i < k->nbody; i++)
        node(g, k->body[i], 2);
    indent(g, 1);
    sb_printf(g->sp.b, "}\n}\n\n");
}

static void launcher_proto(cgu *g)
{
    sb_printf(g->sp.b, "extern \"C\" void %s(", g->name);
    params(g, true);
    sb_printf(g->sp.b, ", cudaStream_t stream)");
}

static void launcher(cgu *g, const cu_kernel *ks, int nk)
{
    const ir_prog *p = g->sp.p;
    bool any = false, rows = false;
    for (int i = 0; i < nk; i++) {
        any |= ks[i].nflat > 0 && ks[i].form == CG_CUDA_PLAIN;
        rows |= ks[i].form != CG_CUDA_PLAIN;
    }
    if (rows)
        cu_rows_host_helpers(g);
    if (any)        /* only then: an unused static function is a host-compiler warning */
        sb_printf(g->sp.b, "#ifndef EINC_CUDA_GRID\n#define EINC_CUDA_GRID\n"
                    "static unsigned einc_grid(int64_t n)\n{\n"
                    "    int64_t blocks = n / %d + (n %% %d != 0);\n"
                    "    return (unsigned)(blocks < %d ? blocks : %d);\n}\n#endif\n\n",
              CU_BLOCK, CU_BLOCK, CU_MAX_GRID, CU_MAX_GRID);
    if (g->sp.nstored) {
        cs_workspace_fn(&g->sp, "extern \"C\"", g->name, false);
        sb_printf(g->sp.b, "\n");
    }
    launcher_proto(g);
    sb_printf(g->sp.b, "\n{\n");
    if (g->sp.nstored)
        cs_workspace_locals(&g->sp, 1, "");
    for (int i = 0; i < nk; i++) {
        if (ks[i].form != CG_CUDA_PLAIN) {
            cu_rows_launch(g, &ks[i], i);
        } else if (ks[i].nflat) {
            sb_printf(g->sp.b, "    if (");
            count(g, ks[i].flat, ks[i].nflat, "int64_t");
            sb_printf(g->sp.b, " > 0)\n        %s_k%d<<<einc_grid(", g->name, i);
            count(g, ks[i].flat, ks[i].nflat, "int64_t");
            sb_printf(g->sp.b, "), %d, 0, stream>>>(", CU_BLOCK);
        } else {
            sb_printf(g->sp.b, "    %s_k%d<<<1, %d, 0, stream>>>(", g->name, i, CU_BLOCK);
        }
        bool first = true;
        for (int t = 0; t < p->ntensor; t++) {
            const ir_tensor *T = &p->tensor[t];
            if (T->role == IR_TEMP && !g->sp.stored[t])
                continue;
            sb_printf(g->sp.b, "%s", first ? "" : ", ");
            if (!dtype_is_float(T->dtype))      /* int64_t and einc_i64 differ in C++ */
                sb_printf(g->sp.b, "(%s%s *)", T->role == IR_INPUT ? "const " : "", ctype(T->dtype));
            sb_printf(g->sp.b, "%s", g->sp.tensor[t]);
            first = false;
        }
        for (int a = 0; a < p->naxis; a++)
            if (p->axis[a].size < 0)
                sb_printf(g->sp.b, ", %s", g->sp.size[a]);
        sb_printf(g->sp.b, ");\n%s", ks[i].form != CG_CUDA_PLAIN ? "    }\n" : "");
    }
    sb_printf(g->sp.b, "}\n");
}

static void preamble(cgu *g, const cg_opts *o, bool host, const cu_kernel *ks, int nk)
{
    cd_open(&g->sp, g->name, o->source, host ? CD_CUDA : CD_KERNELS);
    sb_printf(g->sp.b, " * A thread per element runs %d threads a block on min(ceil(N/%d), %d) blocks; "
                    "rows and\n * reduce kernels take their geometry from einc_cuda_geometry; no "
                    "launch when N is 0:\n", CU_BLOCK, CU_BLOCK, CU_MAX_GRID);
    static const char *const form[] = { "", " (rows: a warp or a block per row)",
                                        " (reduce: a warp or block per output, or two stages)" };
    for (int i = 0; i < nk; i++) {
        sb_printf(g->sp.b, " *   %s_k%d  N = ", g->name, i);
        if (!ks[i].nflat)
            sb_printf(g->sp.b, "1");
        for (int j = 0; j < ks[i].nflat; j++)
            sb_printf(g->sp.b, "%s%s", j ? "*" : "", g->sp.size[ks[i].flat[j]]);
        sb_printf(g->sp.b, "%s\n", form[ks[i].form]);
    }
    sb_printf(g->sp.b, " */\n");
    if (host)
        sb_printf(g->sp.b, "#include <cuda_runtime.h>\n#include <stdint.h>\n\n");
    sb_printf(g->sp.b,
              "#ifndef EINC_CUDA_TYPES\n#define EINC_CUDA_TYPES\n"
              "typedef long long einc_i64;\ntypedef unsigned long long einc_u64;\n"
              "typedef int einc_i32;\ntypedef unsigned int einc_u32;\n"
              "typedef unsigned char einc_u8;\n"
              "#define EINC_INF_F __int_as_float(0x7f800000)\n"
              "#define EINC_NAN_F __int_as_float(0x7fc00000)\n"
              "#define EINC_INF_D __longlong_as_double(0x7ff0000000000000LL)\n"
              "#define EINC_NAN_D __longlong_as_double(0x7ff8000000000000LL)\n"
              "#endif\n\n");
    if (g->sp.helpers) {
        cs_helpers(&g->sp);
        sb_printf(g->sp.b, "\n");
    }
    cu_rows_globals(g, ks, nk);
}

static char *emit(cc *c, const lp_prog *lp, const cg_opts *o, bool host)
{
    strbuf b = { 0 };
    cgu g = { .sp = { .b = &b, .p = lp->ir, .lp = lp, .int_suffix = "LL", .u32 = "einc_u32",
                      .u64 = "einc_u64", .i32 = "einc_i32", .i64 = "einc_i64", .inf_f = "EINC_INF_F",
                      .inf_d = "EINC_INF_D", .nan_f = "EINC_NAN_F", .nan_d = "EINC_NAN_D",
                      .fn = "static __device__ inline", .tmp = "v_" },
              .name = o->name };
    if (cs_name_axes(c, &g.sp, is_reserved) < 0 || cg_check(c, lp, true) < 0)
        return NULL;
    if (host && o->header_only) {
        launcher_proto(&g);
        sb_printf(&b, ";\n");
        if (g.sp.nstored)
            cs_workspace_fn(&g.sp, "extern \"C\"", o->name, true);
    } else {
        cu_kernel *ks = ARENA_ARRAY(c->A, cu_kernel, lp->nnest + 1);
        if (!ks)
            return cc_nomem(c), NULL;
        for (int i = 0; i < lp->nnest; i++)
            if (cu_shape(c, &lp->nest[i], &ks[i]) < 0)
                return NULL;
        preamble(&g, o, host, ks, lp->nnest);
        for (int i = 0; i < lp->nnest; i++) {
            g.nest = &lp->nest[i];
            kernel(&g, &ks[i], i);
        }
        if (host)
            launcher(&g, ks, lp->nnest);
    }
    char *s = sb_finish(&b);
    if (!s)
        cc_nomem(c);
    if (c->failed) {            /* cspell.c met an impossible case */
        einc_free(s);
        return NULL;
    }
    return s;
}

char *cg_cuda(cc *c, const lp_prog *lp, const cg_opts *o) { return emit(c, lp, o, true); }

char *cg_cuda_kernels(cc *c, const lp_prog *lp, const cg_opts *o)
{
    return emit(c, lp, o, false);
}

/* What the kernel templates (cuda_int.h) reuse of this file's spelling. */
void cu_indent(cgu *g, int depth) { indent(g, depth); }
void cu_identity(cgu *g, ir_comb comb) { identity(g, comb); }
void cu_combine(cgu *g, ir_comb comb, const char *lhs, const ir_expr *x, const char *vtext)
{
    combine(g, comb, lhs, x, vtext);
}
void cu_node(cgu *g, const lp_node *n, int depth) { node(g, n, depth); }
void cu_acc_store(cgu *g, const lp_node *n, int depth) { acc_store(g, n, depth); }
void cu_pairwise_start(cgu *g, const lp_node *acc, int depth) { pairwise_start(g, acc, depth); }
void cu_pairwise_end(cgu *g, const lp_node *acc, int depth) { pairwise_end(g, acc, depth); }
void cu_count(cgu *g, const int *ax, int n, const char *type) { count(g, ax, n, type); }
void cu_unflatten(cgu *g, const int *ax, int n, const char *var, int depth) { unflatten(g, ax, n, var, depth); }
void cu_params(cgu *g, bool host) { params(g, host); }
