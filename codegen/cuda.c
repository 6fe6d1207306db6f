/*
 * cuda.c — loop IR → CUDA C (README.md, "Emitted kernels", `--emit=cuda`; and the text NVRTC compiles).
 *
 * The program is lowered for LP_GPU, so every reduction is in register form and each nest
 * is a chain of loops over output axes ending in an ACC (a reduction) or a STORE (an
 * elementwise map).  Each nest becomes one kernel NAME_kI, in one of four forms
 * (cg_cuda_form_of, cuda_launch.c: cu_launch_plan):
 *
 *   - plain (here): the loops above the ACC/STORE are flattened into one 64-bit linear
 *     index (one thread per output element); the reduction loops run in the thread.  A
 *     root loop with several children (lower.c merged nests over the same axis) is
 *     flattened too, and each thread runs the children in order for its element: lower.c
 *     merges only when iteration r of a later child reads nothing but what iteration r of
 *     an earlier one wrote.  Elementwise maps, transposes, integer contractions and a float prod
 *     (numpy's order, on one thread) take this form;
 *   - rows (cuda_rows.c): a nest the schedule calls `rows` (softmax, log_softmax,
 *     layernorm, a row reduction with its epilogue): a warp or a block per row, each step
 *     spread across the row, reductions folded with __shfl_xor_sync and shared memory;
 *   - reduce (cuda_rows.c): a nest that is one reduction of one array (`ij->i`, `ij->`,
 *     `ijk->k`): the rows kernel, or two stages in one launch when the outputs are too
 *     few to fill the GPU;
 *   - gemm (cuda_gemm.c): a float contraction, sum over k of A * B into out[batch, m, n],
 *     perhaps among stores of the same element: shared-memory tiles of the output, each
 *     thread a register block (cu_gemm_plan decides, before the rows and reduce forms).
 *
 * A copy (a `transpose` or `elementwise` nest whose one statement is out[..] = in[..], one
 * dtype on both sides) is cuda_copy.c's kernel instead: axes merged at run time, tiles
 * through shared memory, 16-byte row copies.  Any other `elementwise` nest runs its
 * grid-stride loop with a 32-bit index and 32-bit divisions when the work fits in 31 bits,
 * and a float32 map whose every array steps along the innermost axis alone (vec_store)
 * first tries the vector form: four neighbours a thread, 16-byte loads and a 16-byte
 * store, when the row length, the arrays' last dimensions and the pointers allow it at run
 * time; each lane's value is the map's own expression over the loaded words.
 *
 * How each kernel is launched (its form, grid, block, dynamic shared memory) is
 * cuda_launch.c's plan, the one rule the launcher here and runtime/cuda.c both follow; a
 * new form of kernel adds its case there.  Plain kernels run 256 threads a block on
 * min(ceil(W/256), 4096) blocks (W the product of the flattened loops' sizes, 1 for a
 * scalar output); rows and reduce kernels take their grid and block from W, the row's
 * length and the device's multiprocessor count (einc_cuda_geometry, cuda_rows.c); nothing
 * is launched when W == 0.  Plain and rows kernels stay correct for any grid >= 1 and any
 * block of at most 256 threads (rows: a group of x = 32 threads, or x a multiple of 32
 * and y = 1).  The launcher returns the first failed launch's cudaError_t
 * (cudaGetLastError after each), else cudaSuccess.
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
#include "cuda_launch.h"
#include "strbuf.h"
#include "alloc.h"
#include "arena.h"

#include <stdio.h>
#include <string.h>

/* An array element's type in the kernels (cuda_launch.h). */
const char *cu_elem_type(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "float";
    case EINC_F64: return "double";
    case EINC_I32: return "einc_i32";
    case EINC_I64: return "einc_i64";
    case EINC_I8: return "einc_i8";
    case EINC_I16: return "einc_i16";
    case EINC_U16: return "einc_u16";
    case EINC_U32: return "einc_u32";
    case EINC_U64: return "einc_u64";
    case EINC_F16: return "einc_f16";
    case EINC_BF16: return "einc_bf16";
    default: return "einc_u8";      /* uint8 and bool */
    }
}

/* The type a copy moves: the 16 bits of a float16 or bfloat16, unconverted. */
const char *cu_copy_type(einc_dtype t)
{
    return dtype_is_half(t) ? "einc_u16" : cu_elem_type(t);
}

/*
 * The prelude of a program with an array of a narrow integer or 16-bit float type (README,
 * "Dtypes"; "" otherwise).  float16 and bfloat16 arrays are einc_f16 and einc_bf16: two
 * bytes with the bits of CUDA's __half and __nv_bfloat16 (so a caller passes those as
 * they are), reached only through einc_h2f, einc_f2h, einc_bf2f and einc_f2bf, which
 * round to nearest even.  Here they are PTX's cvt (NVRTC finds no cuda_fp16.h without a
 * toolkit's include path); the emulator defines them in portable C++
 * (runtime/cuda_emu_types.hh).  They are not static: nvcc warns of an unused static
 * function.  einc_wrap_T wraps an int64 to T's width (cspell.h).
 */
static const char types_prelude[] =
    "#ifndef EINC_CUDA_NARROW\n#define EINC_CUDA_NARROW\n"
    "#ifndef EINC_CUDA_EMU\n"
    "struct einc_f16 { unsigned short x; };\nstruct einc_bf16 { unsigned short x; };\n"
    "__device__ __forceinline__ float einc_h2f(einc_f16 h)\n"
    "{\n    float f;\n    asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(h.x));\n    return f;\n}\n"
    "__device__ __forceinline__ einc_f16 einc_f2h(float f)\n"
    "{\n    einc_f16 h;\n    asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h.x) : \"f\"(f));\n    return h;\n}\n"
    "__device__ __forceinline__ float einc_bf2f(einc_bf16 h) { return __uint_as_float((unsigned)h.x << 16); }\n"
    "__device__ __forceinline__ einc_bf16 einc_f2bf(float f)\n{\n    einc_bf16 h;\n"
    "#if __CUDA_ARCH__ >= 800\n"
    "    asm(\"cvt.rn.bf16.f32 %0, %1;\" : \"=h\"(h.x) : \"f\"(f));\n"
    "#else\n"
    "    const unsigned x = __float_as_uint(f);\n"
    "    h.x = (unsigned short)((x & 0x7fffffffu) > 0x7f800000u ? (x >> 16) | 0x40u\n"
    "                                                           : (x + 0x7fffu + ((x >> 16) & 1u)) >> 16);\n"
    "#endif\n"
    "    return h;\n}\n"
    "#endif\n"
    "#define einc_wrap_i8(v) ((einc_u64)(einc_i64)(einc_i8)(v))\n"
    "#define einc_wrap_i16(v) ((einc_u64)(einc_i64)(einc_i16)(v))\n"
    "#define einc_wrap_u8(v) ((einc_u64)(einc_u8)(v))\n"
    "#define einc_wrap_u16(v) ((einc_u64)(einc_u16)(v))\n"
    "#define einc_wrap_u32(v) ((einc_u64)(einc_u32)(v))\n"
    "#endif\n\n";

static const char *cu_types_prelude(const lp_prog *lp)
{
    for (int t = 0; t < lp->ir->ntensor; t++)
        if (!dtype_is_classic(lp->ir->tensor[t].dtype))
            return types_prelude;
    return "";
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
    else if (dtype_is_half(t))      /* computed in float32, rounded once to nearest even */
        sb_printf(g->sp.b, "%s((float)(%s))", t == EINC_F16 ? "einc_f2h" : "einc_f2bf", text);
    else if (t == g->nest->compute && dtype_is_float(t))
        sb_printf(g->sp.b, "%s", text);
    else
        sb_printf(g->sp.b, "(%s)(%s)", cu_elem_type(t), text);
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
        g->sp.wrap = g->sp.p->tensor[n->dst->tensor].dtype;    /* cspell.h */
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
        g->sp.wrap = g->sp.p->tensor[n->dst->tensor].dtype;
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

/*
 * const einc_i64 i_a = ..., from the linear index var over loops ax[0..n); u32: var is an
 * einc_u32 and so is the arithmetic (the product of the sizes fits).
 */
static void unflatten_as(cgu *g, const int *ax, int n, const char *var, int depth, bool u32)
{
    const char *rt = u32 ? "einc_u32" : "einc_i64", *cast = u32 ? "(einc_u32)" : "";
    if (n == 1) {
        indent(g, depth);
        sb_printf(g->sp.b, "const einc_i64 %s = %s;\n", g->sp.loopvar[ax[0]], var);
        return;
    }
    if (n == 0)
        return;
    indent(g, depth);
    sb_printf(g->sp.b, "%s rest_ = %s;\n", rt, var);
    for (int i = n - 1; i > 0; i--) {
        indent(g, depth);
        sb_printf(g->sp.b, "const einc_i64 %s = rest_ %% %s%s;\n", g->sp.loopvar[ax[i]], cast, g->sp.size[ax[i]]);
        indent(g, depth);
        sb_printf(g->sp.b, "rest_ /= %s%s;\n", cast, g->sp.size[ax[i]]);
    }
    indent(g, depth);
    sb_printf(g->sp.b, "const einc_i64 %s = rest_;\n", g->sp.loopvar[ax[0]]);
}

static void unflatten(cgu *g, const int *ax, int n, const char *var, int depth)
{
    unflatten_as(g, ax, n, var, depth, false);
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
                  host ? cs_host_type(T->dtype) : cu_elem_type(T->dtype), host ? "" : "__restrict__ ",
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

/*
 * The vector form of an elementwise map: float32 arrays only, each read once, every access
 * indexing the innermost flattened axis w alone in its last dimension (coefficient 1) and
 * nowhere else, no offsets, no guard, no axis read as a value.  Then four neighbours along
 * w are four neighbours in every array, so a thread loads 16 bytes of each and stores 16.
 */
static bool vec_access(const cgu *g, const ir_access *a, int w)
{
    const ir_prog *p = g->sp.p;
    if (a->guard || a->ndim == 0 || p->tensor[a->tensor].dtype != EINC_F32)
        return false;
    if (p->tensor[a->tensor].role == IR_TEMP && !g->sp.stored[a->tensor])
        return false;
    for (int d = 0; d < a->ndim; d++) {
        if (a->dim[d].off)
            return false;
        for (int i = 0; i < a->dim[d].n; i++)
            if (a->dim[d].t[i].axis == w && d != a->ndim - 1)
                return false;
    }
    const ir_dim *l = &a->dim[a->ndim - 1];
    return l->n == 1 && l->t[0].axis == w && cs_mono_is_one(&l->t[0].coef);
}

/* Every read in x (depth: ir_validate bounds it) fits the vector form; seen[t]: read already. */
static bool vec_reads(const cgu *g, const ir_expr *x, int w, bool *seen)
{
    if (!x)
        return true;
    if (x->op == IR_AXIS)
        return false;
    if (x->op == IR_ACCESS) {
        int t = x->acc.tensor;
        if (seen[t] || (g->sp.lp->acc && g->sp.lp->acc[t]) || !vec_access(g, &x->acc, w))
            return false;
        seen[t] = true;
        return true;
    }
    return vec_reads(g, x->a, w, seen) && vec_reads(g, x->b, w, seen);
}

static const lp_node *vec_store(cgu *g, const cu_kernel *k)
{
    if (g->nest->sched.kind != LP_KIND_ELEMENTWISE || !k->nflat || k->nbody != 1)
        return NULL;
    const lp_node *st = k->body[0];
    if (st->op != LP_STORE || !st->value || st->comb != IR_COMB_ASSIGN)
        return NULL;
    int w = k->flat[k->nflat - 1];
    bool *seen = ARENA_ARRAY(g->sp.c->A, bool, g->sp.p->ntensor + 1);
    if (!seen || !vec_access(g, st->dst, w))
        return NULL;
    seen[st->dst->tensor] = true;
    return vec_reads(g, st->value, w, seen) ? st : NULL;
}

/* The run-time half of the vector form's condition for array access a. */
static void vec_cond_access(cgu *g, const ir_access *a)
{
    const ir_tensor *T = &g->sp.p->tensor[a->tensor];
    sb_printf(g->sp.b, " &&\n        (");
    cs_mono(&g->sp, &T->shape[T->ndim - 1]);
    sb_printf(g->sp.b, ") %% 4 == 0 && (unsigned long long)%s %% 16 == 0", g->sp.tensor[a->tensor]);
}

static void vec_cond(cgu *g, const ir_expr *x)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS) {
        vec_cond_access(g, &x->acc);
        return;
    }
    vec_cond(g, x->a);
    vec_cond(g, x->b);
}

/* Declares the vector locals of every read in x, at the loop variables' values. */
static void vec_loads(cgu *g, const ir_expr *x)
{
    if (!x)
        return;
    if (x->op != IR_ACCESS) {
        vec_loads(g, x->a);
        vec_loads(g, x->b);
        return;
    }
    int t = x->acc.tensor;
    sb_printf(g->sp.b, "            const float4 einc_v%d = einc_load_f4(&", t);
    cs_access(&g->sp, &x->acc);
    sb_printf(g->sp.b, ");\n            const float einc_a%d[4] = { einc_v%d.x, einc_v%d.y, einc_v%d.z, "
                       "einc_v%d.w };\n", t, t, t, t, t);
}

static bool reads_axis(const ir_expr *x, int a)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return ir_access_uses(&x->acc, a);
    return reads_axis(x->a, a) || reads_axis(x->b, a);
}

static void vec_form(cgu *g, const cu_kernel *k, const lp_node *st)
{
    int w = k->flat[k->nflat - 1];
    const char *W = g->sp.size[w];
    sb_printf(g->sp.b, "    if (count_ <= 0x7fffffffLL && %s %% 4 == 0", W);
    vec_cond_access(g, st->dst);
    vec_cond(g, st->value);
    sb_printf(g->sp.b, ") {\n        const einc_u32 einc_q = (einc_u32)(%s / 4);\n"
                       "        for (einc_u32 einc_t = blockIdx.x * blockDim.x + threadIdx.x; "
                       "einc_t < (einc_u32)(count_ / 4);\n"
                       "             einc_t += blockDim.x * gridDim.x) {\n"
                       "            const einc_i64 %s = einc_t %% einc_q * 4;\n", W, g->sp.loopvar[w]);
    if (k->nflat > 1) {
        sb_printf(g->sp.b, "            const einc_u32 einc_row = einc_t / einc_q;\n");
        unflatten_as(g, k->flat, k->nflat - 1, "einc_row", 3, true);
    }
    vec_loads(g, st->value);
    /* lane L: each read is its local einc_aT[L], which its offset gives with the other
       loop variables at 0 and w at L (vec_access) */
    const ir_prog *p = g->sp.p;
    const char **names = ARENA_ARRAY(g->sp.c->A, const char *, p->ntensor + 1);
    if (!names) {
        g->sp.b->failed = true;
        return;
    }
    const char **saved = g->sp.tensor;
    for (int t = 0; t < p->ntensor; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "einc_a%d", t);
        names[t] = ir_expr_reads(st->value, t) ? arena_strndup(g->sp.c->A, nm, strlen(nm)) : saved[t];
        if (!names[t]) {
            g->sp.b->failed = true;
            return;
        }
    }
    sb_printf(g->sp.b, "            float4 einc_o;\n");
    static const char *const lane[4] = { "x", "y", "z", "w" };
    for (int l = 0; l < 4; l++) {
        sb_printf(g->sp.b, "            {\n");
        for (int i = 0; i < k->nflat; i++)
            if (reads_axis(st->value, k->flat[i]))
                sb_printf(g->sp.b, "                const einc_i64 %s = %d;\n", g->sp.loopvar[k->flat[i]],
                          k->flat[i] == w ? l : 0);
        sb_printf(g->sp.b, "                einc_o.%s = ", lane[l]);
        g->sp.tensor = names;
        g->store_dst = st->dst;
        strbuf tmp = { 0 };
        strbuf *outer = g->sp.b;
        g->sp.b = &tmp;
        expr(g, st->value);
        g->sp.b = outer;
        g->sp.tensor = saved;
        char *v = sb_finish(&tmp);
        if (!v) {
            outer->failed = true;
            return;
        }
        store_value(g, st->dst, v);
        einc_free(v);
        sb_printf(g->sp.b, ";\n            }\n");
    }
    sb_printf(g->sp.b, "            einc_store_f4(&");
    cs_access(&g->sp, st->dst);
    sb_printf(g->sp.b, ", einc_o);\n        }\n    } else ");
}

static void kernel(cgu *g, const cu_kernel *k, const cu_launch *L, int idx)
{
    if (L->form == CU_FORM_ROWS || L->form == CU_FORM_REDUCE) {
        cu_rows_kernel(g, k, idx);
        return;
    }
    sb_printf(g->sp.b, "extern \"C\" __global__ void __launch_bounds__(%u) %s_k%d(", L->block,
              g->name, idx);
    params(g, false);
    sb_printf(g->sp.b, ")\n{\n");
    if (L->form == CU_FORM_COPY || L->form == CU_FORM_GEMM) {
        if (L->form == CU_FORM_COPY)
            cu_copy_kernel(&g->sp, g->nest, k->flat, k->nflat);
        else
            cu_gemm_kernel(g, k, L, idx);
        sb_printf(g->sp.b, "}\n\n");
        return;
    }
    indent(g, 1);
    sb_printf(g->sp.b, "const einc_i64 count_ = ");
    count(g, k->flat, k->nflat, "einc_i64");
    sb_printf(g->sp.b, ";\n");
    /* elementwise: the vector form, else 32-bit division where every index fits (a
       64-bit one is a long call), else the 64-bit loop; an if-else chain, since a
       return before a loop that constant sizes make unreachable is a warning */
    const lp_node *vst = vec_store(g, k);
    bool u32 = g->nest->sched.kind == LP_KIND_ELEMENTWISE && k->nflat;
    if (vst)
        vec_form(g, k, vst);
    else if (u32)
        indent(g, 1);
    if (u32) {
        sb_printf(g->sp.b, "if (count_ <= 0x7fffffffLL) {\n"
                           "        for (einc_u32 einc_t = blockIdx.x * blockDim.x + threadIdx.x; "
                           "einc_t < (einc_u32)count_;\n"
                           "             einc_t += blockDim.x * gridDim.x) {\n");
        unflatten_as(g, k->flat, k->nflat, "einc_t", 3, true);
        for (int i = 0; i < k->nbody; i++)
            node(g, k->body[i], 3);
        sb_printf(g->sp.b, "        }\n    } else {\n");
    }
    int d = u32 ? 2 : 1;
    indent(g, d);
    sb_printf(g->sp.b, "for (einc_i64 tid_ = (einc_i64)blockIdx.x * blockDim.x + threadIdx.x; "
                    "tid_ < count_;\n");
    indent(g, d);
    sb_printf(g->sp.b, "     tid_ += (einc_i64)blockDim.x * gridDim.x) {\n");
    unflatten(g, k->flat, k->nflat, "tid_", d + 1);
    for (int i = 0; i < k->nbody; i++)
        node(g, k->body[i], d + 1);
    indent(g, d);
    sb_printf(g->sp.b, "}\n%s}\n\n", u32 ? "    }\n" : "");
}

static void launcher_proto(cgu *g)
{
    sb_printf(g->sp.b, "extern \"C\" cudaError_t %s(", g->name);
    params(g, true);
    sb_printf(g->sp.b, ", cudaStream_t stream)");
}

/* The kernels' arguments as the launcher passes them (int64_t and einc_i64 differ in C++). */
static void launch_args(cgu *g)
{
    const ir_prog *p = g->sp.p;
    bool first = true;
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        if (T->role == IR_TEMP && !g->sp.stored[t])
            continue;
        sb_printf(g->sp.b, "%s", first ? "" : ", ");
        if (T->dtype != EINC_F32 && T->dtype != EINC_F64)
            sb_printf(g->sp.b, "(%s%s *)", T->role == IR_INPUT ? "const " : "", cu_elem_type(T->dtype));
        sb_printf(g->sp.b, "%s", g->sp.tensor[t]);
        first = false;
    }
    for (int a = 0; a < p->naxis; a++)
        if (p->axis[a].size < 0)
            sb_printf(g->sp.b, ", %s", g->sp.size[a]);
}

/* Launches each kernel by its plan (cuda_launch.h) and returns the first launch error. */
static void launcher(cgu *g, const cu_launch *ls, int nk)
{
    bool any = false, rows = false;
    for (int i = 0; i < nk; i++) {
        bool r = ls[i].form == CU_FORM_ROWS || ls[i].form == CU_FORM_REDUCE;
        any |= (ls[i].nwork > 0 || ls[i].form == CU_FORM_GEMM) && !r;
        rows |= r;
    }
    if (any)        /* only then: an unused static function is a host-compiler warning */
        cu_launch_helper(g->sp.b);
    if (rows)
        cu_rows_host_helpers(g);
    if (g->sp.nstored) {
        cs_workspace_fn(&g->sp, "extern \"C\"", g->name, false);
        sb_printf(g->sp.b, "\n");
    }
    launcher_proto(g);
    sb_printf(g->sp.b, "\n{\n    cudaError_t einc_err;\n");
    if (g->sp.nstored)
        cs_workspace_locals(&g->sp, 1, "");
    strbuf args = { 0 };
    strbuf *outer = g->sp.b;
    g->sp.b = &args;
    launch_args(g);
    g->sp.b = outer;
    char *a = sb_finish(&args);
    if (!a) {
        outer->failed = true;
        return;
    }
    for (int i = 0; i < nk; i++)
        cu_launch_emit(&ls[i], &g->sp, g->name, i, a);
    einc_free(a);
    sb_printf(g->sp.b, "    return cudaSuccess;\n}\n");
}

static void preamble(cgu *g, const cg_opts *o, bool host, const cu_kernel *ks, const cu_launch *ls, int nk)
{
    cd_open(&g->sp, g->name, o->source, host ? CD_CUDA : CD_KERNELS);
    sb_printf(g->sp.b, " * Each kernel's launch, none when its work W is 0:\n");
    for (int i = 0; i < nk; i++) {
        sb_printf(g->sp.b, " *   %s_k%d  ", g->name, i);
        cu_launch_describe(&ls[i], &g->sp, g->sp.b);
        sb_printf(g->sp.b, "\n");
    }
    sb_printf(g->sp.b, " */\n");
    if (host)
        sb_printf(g->sp.b, "#include <cuda_runtime.h>\n#include <stdint.h>\n\n");
    sb_printf(g->sp.b,
              "#ifndef EINC_CUDA_TYPES\n#define EINC_CUDA_TYPES\n"
              "typedef long long einc_i64;\ntypedef unsigned long long einc_u64;\n"
              "typedef int einc_i32;\ntypedef unsigned int einc_u32;\n"
              "typedef unsigned char einc_u8;\n"
              "typedef signed char einc_i8;\ntypedef short einc_i16;\ntypedef unsigned short einc_u16;\n"
              "#define EINC_INF_F __int_as_float(0x7f800000)\n"
              "#define EINC_NAN_F __int_as_float(0x7fc00000)\n"
              "#define EINC_INF_D __longlong_as_double(0x7ff0000000000000LL)\n"
              "#define EINC_NAN_D __longlong_as_double(0x7ff8000000000000LL)\n"
              "#endif\n\n%s"
              "#if !defined(EINC_CUDA_EMU) && !defined(einc_load_f4)\n"
              "#define einc_load_f4(p) (*(const float4 *)(const void *)(p))\n"
              "#define einc_store_f4(p, v) ((void)(*(float4 *)(void *)(p) = (v)))\n"
              "#endif\n\n", cu_types_prelude(g->sp.lp));
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
        cu_launch *ls = ARENA_ARRAY(c->A, cu_launch, lp->nnest + 1);
        if (!ks || !ls)
            return cc_nomem(c), NULL;
        for (int i = 0; i < lp->nnest; i++) {
            if (cu_shape(c, &lp->nest[i], &ks[i]) < 0 || cu_launch_plan(c, lp, i, &ls[i]) < 0)
                return NULL;
            if (ls[i].form == CU_FORM_GEMM)     /* no rows or reduce globals for it */
                ks[i].form = CG_CUDA_PLAIN;
        }
        preamble(&g, o, host, ks, ls, lp->nnest);
        for (int i = 0; i < lp->nnest; i++)
            if (ls[i].form == CU_FORM_COPY) {
                cu_copy_routine(&b);
                break;
            }
        for (int i = 0; i < lp->nnest; i++)
            if (ls[i].form == CU_FORM_GEMM) {
                cu_gemm_routine(&b);
                break;
            }
        for (int i = 0; i < lp->nnest; i++)
            if (ls[i].tc || ls[i].half) {
                cu_mma_routine(&b);
                break;
            }
        for (int i = 0; i < lp->nnest; i++)
            if (ls[i].tc) {
                cu_gemm_tc_routine(&b);
                break;
            }
        for (int i = 0; i < lp->nnest; i++)
            if (ls[i].half) {
                cu_gemm_h_routine(&b);
                break;
            }
        for (int i = 0; i < lp->nnest; i++) {
            g.nest = &lp->nest[i];
            kernel(&g, &ks[i], &ls[i], i);
        }
        if (host)
            launcher(&g, ls, lp->nnest);
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
