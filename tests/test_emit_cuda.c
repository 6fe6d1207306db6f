/*
 * test_emit_cuda.c — emitted CUDA, compiled.  There is no GPU here, so nothing runs: for
 * the same expressions as test_emit_c.c, the launcher's prototype is checked against the
 * ABI contract (device arrays, then the sizes left open in order of first appearance, then
 * the stream), every case's .cu file must build with `nvcc -c` (all cases of a dtype in one
 * file, one nvcc run: kernels are named per case), and the kernels-only text must compile
 * to PTX through NVRTC for compute_90 with one .entry per nest; sizes in a caller's order
 * reach the launcher alone, and a model's comments cannot break the file's opening comment.
 * The nvcc and NVRTC parts skip when the tool or the library is absent.
 */
#define _GNU_SOURCE
#include "cc.h"
#include "ir.h"
#include "loop.h"
#include "codegen.h"
#include "nvrtc.h"
#include "helpers.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct ecase {
    const char *expr;
    const char *fixed;          /* sizes given when emitting */
    const char *params;         /* the sizes left as parameters, in the expected order */
    einc_reduce reduce;
    int nin;
    int ndim[3];
    int64_t shape[3][6];
} ecase;

/* test_emit_c.c's table: the shapes are unused here, nothing runs. */
static const ecase cases[] = {
    { "ik,kj->ij", "", "i=5 k=7 j=9", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 5, 7 }, { 7, 9 } } },
    { "ik,kj->ij", "i=3 j=17", "k=4", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 3, 4 }, { 4, 17 } } },
    { "bij,bjk->bik", "", "b=2 i=3 j=4 k=5", EINC_REDUCE_SUM, 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } } },
    { "bhid,bhjd->bhij", "", "b=2 h=2 i=3 d=8 j=5", EINC_REDUCE_SUM, 2, { 4, 4 }, { { 2, 2, 3, 8 }, { 2, 2, 5, 8 } } },
    { "ijk,jl,kl->il", "", "i=3 j=4 k=5 l=2", EINC_REDUCE_SUM, 3, { 3, 2, 2 }, { { 3, 4, 5 }, { 4, 2 }, { 5, 2 } } },
    { "ii->i", "", "i=6", EINC_REDUCE_SUM, 1, { 2 }, { { 6, 6 } } },
    { "ii", "", "i=6", EINC_REDUCE_SUM, 1, { 2 }, { { 6, 6 } } },
    { "ij->", "", "i=7 j=3", EINC_REDUCE_SUM, 1, { 2 }, { { 7, 3 } } },
    { "abcd->dcba", "", "a=2 b=3 c=4 d=5", EINC_REDUCE_SUM, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "b c h w -> b h w c", "", "b=2 c=3 h=4 w=5", EINC_REDUCE_SUM, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "b (h w) c -> b h w c", "h=3", "b=2 w=4 c=5", EINC_REDUCE_SUM, 1, { 3 }, { { 2, 12, 5 } } },
    { "b (h p1) (w p2) c -> b h w (p1 p2 c)", "p1=2 p2=2", "b=1 h=3 w=2 c=3", EINC_REDUCE_SUM, 1, { 4 }, { { 1, 6, 4, 3 } } },
    { "b c h w -> b c", "", "b=2 c=3 h=4 w=5", EINC_REDUCE_MEAN, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "b c h w -> b c", "", "b=2 c=3 h=4 w=5", EINC_REDUCE_MAX, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "i j -> j", "", "i=6 j=5", EINC_REDUCE_MIN, 1, { 2 }, { { 6, 5 } } },
    { "i j -> j", "", "i=4 j=5", EINC_REDUCE_PROD, 1, { 2 }, { { 4, 5 } } },
    { "i j -> j", "", "i=6 j=5", EINC_REDUCE_MEAN, 1, { 2 }, { { 6, 5 } } },
    { "h w -> h (w r)", "r=2", "h=3 w=4", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
    { "h w -> h w 3", "", "h=3 w=4", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
    { "b (h d), d e -> b h e", "h=2", "b=3 d=4 e=5", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 3, 8 }, { 4, 5 } } },
    { ",ij->ij", "", "i=2 j=3", EINC_REDUCE_SUM, 2, { 0, 2 }, { { 0 }, { 2, 3 } } },
    { "ik,kj->ij", "", "i=0 k=3 j=2", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 0, 3 }, { 3, 2 } } },
    { "ik,kj->ij", "", "i=2 k=0 j=2", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 2, 0 }, { 0, 2 } } },
    /* a repeat's size not given is a parameter too, after the inputs' */
    { "h w -> h (w r) c", "", "h=3 w=4 r=2 c=3", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
};
enum { NCASE = sizeof cases / sizeof *cases };

static char dir[256];
static bool have_nvcc;

typedef enum what { CU_FILE, CU_KERNELS, CU_HEADER } what;

/*
 * What einc_kernel_emit does, for CUDA: bind without shapes (the fixed sizes as given, a
 * repeat's left open), lower for the GPU and schedule, order the size parameters (order: "j,i,k", or
 * NULL), generate.  *nkernels gets the nest count.  NULL with err set.
 */
static char *emit_ordered(const char *expr, const char *fixed_text, einc_reduce reduce,
                          einc_dtype dt, const char *name, what w, int *nkernels,
                          const char *order, einc_error *err)
{
    char fnames[8][32];
    einc_size fixed[8];
    int nf = th_parse_sizes(fixed_text, fnames, fixed, 8);
    arena A = { 0 };
    cc c = { .A = &A, .src = expr, .err = err };
    err->status = EINC_OK;
    char *s = NULL;
    ast_expr *e = parse_expr(&c);
    bind_opts o = { .reduce = reduce, .dtype = dt, .nsizes = nf, .sizes = fixed, .open_repeats = true };
    ir_prog *p = e ? bind_expr(&c, e, &o, 0, NULL) : NULL;
    lp_prog *lp = p ? lower(&c, p, LP_GPU, NULL) : NULL;
    if (lp && lp_schedule(&c, lp, LP_GPU, NULL) < 0)     /* the kinds pick the kernels */
        lp = NULL;
    char onames[8][32];
    const char *optr[8];
    int no = 0;
    if (order) {
        char buf[256], *save;
        snprintf(buf, sizeof buf, "%s", order);
        for (char *tok = strtok_r(buf, ",", &save); tok && no < 8; tok = strtok_r(NULL, ",", &save)) {
            snprintf(onames[no], sizeof onames[no], "%s", tok);
            optr[no] = onames[no];
            no++;
        }
    }
    if (lp && cg_params(&c, lp, optr, no) < 0)
        lp = NULL;
    if (lp) {
        cg_opts co = { name, expr, w == CU_HEADER };
        s = w == CU_KERNELS ? cg_cuda_kernels(&c, lp, &co) : cg_cuda(&c, lp, &co);
        if (nkernels)
            *nkernels = lp->nnest;
    }
    arena_free(&A);
    return s;
}

static char *emit(const char *expr, const char *fixed_text, einc_reduce reduce, einc_dtype dt,
                  const char *name, what w, int *nkernels, einc_error *err)
{
    return emit_ordered(expr, fixed_text, reduce, dt, name, w, nkernels, NULL, err);
}

static char *emit_case(int i, einc_dtype dt, what w, int *nkernels)
{
    char name[32];
    einc_error err = { 0 };
    snprintf(name, sizeof name, "kern%d", i);
    char *s = emit(cases[i].expr, cases[i].fixed, cases[i].reduce, dt, name, w, nkernels, &err);
    if (!s)
        fail_msg("%s: %s", cases[i].expr, err.message);
    return s;
}

static const char *tname(einc_dtype dt) { return dt == EINC_F32 ? "float" : "double"; }

/* Emitted kernels are float32 or float64 today; integer and bool arrays, which the GPU
 * runtime will meet, are compiled too (unsigned arithmetic, int identities, bool stores). */
static const einc_dtype dtypes[] = { EINC_F32, EINC_F64, EINC_I32, EINC_I64, EINC_BOOL };
enum { NDTYPE = sizeof dtypes / sizeof *dtypes };

/* The launcher's prototype: device arrays, then each size left open, in order, the stream. */
static void test_prototypes(void **state)
{
    (void)state;
    for (int dti = 0; dti < 2; dti++) {
        einc_dtype dt = dti ? EINC_F64 : EINC_F32;
        for (int i = 0; i < NCASE; i++) {
            const ecase *c = &cases[i];
            char pnames[8][32], want[1024];
            einc_size params[8];
            int np = th_parse_sizes(c->params, pnames, params, 8);
            int at = snprintf(want, sizeof want, "extern \"C\" cudaError_t kern%d(", i);
            for (int k = 0; k < c->nin; k++)
                at += snprintf(want + at, sizeof want - (size_t)at, "%sconst %s *in%d",
                               k ? ", " : "", tname(dt), k);
            at += snprintf(want + at, sizeof want - (size_t)at, ", %s *out", tname(dt));
            for (int k = 0; k < np; k++)
                at += snprintf(want + at, sizeof want - (size_t)at, ", int64_t %s", params[k].name);
            snprintf(want + at, sizeof want - (size_t)at, ", cudaStream_t stream)");
            char *hdr = emit_case(i, dt, CU_HEADER, NULL);
            char line[1100];
            snprintf(line, sizeof line, "%s;\n", want);
            assert_string_equal(hdr, line);
            char *cu = emit_case(i, dt, CU_FILE, NULL);
            snprintf(line, sizeof line, "%s\n{", want);   /* the definition opens below */
            if (!strstr(cu, line))
                fail_msg("%s: no launcher '%s' in\n%s", c->expr, want, cu);
            free(hdr);
            free(cu);
        }
    }
}

/* The exact forms other code relies on, for 'ik,kj->ij' with every size open. */
static void test_golden(void **state)
{
    (void)state;
    einc_error err = { 0 };
    int nk = 0;
    const char *mm = "ik,kj->ij";
    char *hdr = emit(mm, "", EINC_REDUCE_SUM, EINC_F32, "einc_kernel", CU_HEADER, &nk, &err);
    assert_non_null(hdr);
    assert_string_equal(hdr, "extern \"C\" cudaError_t einc_kernel(const float *in0, const float *in1, "
                             "float *out, int64_t i, int64_t k, int64_t j, "
                             "cudaStream_t stream);\n");
    free(hdr);
    char *cu = emit(mm, "", EINC_REDUCE_SUM, EINC_F32, "einc_kernel", CU_FILE, &nk, &err);
    assert_non_null(cu);
    assert_int_equal(nk, 1);
    assert_non_null(strstr(cu, "#include <cuda_runtime.h>\n"));
    assert_non_null(strstr(cu, "extern \"C\" __global__ void __launch_bounds__(256) einc_kernel_k0("
                               "const float *__restrict__ in0, const float *__restrict__ in1, "
                               "float *__restrict__ out, einc_i64 i, einc_i64 k, einc_i64 j)\n"));
    /* one thread per output element: no launch for an empty output; a failed launch's
       error is the launcher's result */
    assert_non_null(strstr(cu, "    if ((int64_t)i * j > 0)\n        einc_kernel_k0<<<einc_grid("
                               "(int64_t)i * j, 256, 4096), 256, 0, stream>>>(in0, in1, out, i, k, j);\n"
                               "    if ((einc_err = cudaGetLastError()) != cudaSuccess)\n"
                               "        return einc_err;\n    return cudaSuccess;\n}\n"));
    free(cu);
    /* NVRTC's text: the same kernels, no includes, no host code */
    char *k = emit(mm, "", EINC_REDUCE_SUM, EINC_F32, "einc_kernel", CU_KERNELS, &nk, &err);
    assert_non_null(k);
    assert_null(strstr(k, "#include"));
    assert_null(strstr(k, "<<<"));
    assert_non_null(strstr(k, "__global__ void __launch_bounds__(256) einc_kernel_k0("));
    free(k);
    /* a scalar output: a reduce kernel (two stages when long), launched even when it is
       empty, with the geometry of runtime/cuda.c */
    cu = emit("ij->", "", EINC_REDUCE_SUM, EINC_F64, "s", CU_FILE, &nk, &err);
    assert_non_null(cu);
    assert_non_null(strstr(cu, "__shared__ double einc_red[8];"));
    assert_non_null(strstr(cu, "__device__ double s_part_k0[4096];"));
    assert_non_null(strstr(cu, "__shfl_xor_sync(0xffffffffu, acc, einc_o)"));
    assert_non_null(strstr(cu, "        einc_cuda_geometry(2, (int64_t)1, (int64_t)i * j, einc_sms(), "
                               "&einc_g, &einc_bx, &einc_by, &einc_sh);\n        if ((int64_t)1 > 0)\n"
                               "            s_k0<<<einc_g, dim3(einc_bx, einc_by), einc_sh, stream>>>"
                               "(in0, out, i, j);\n"));
    assert_null(strstr(cu, "einc_grid"));
    free(cu);
    /*
     * sizes in the caller's order: the launcher takes them so, the kernel keeps its own
     * (axis order), and the comment lists the parameters as the launcher takes them
     */
    cu = emit_ordered(mm, "", EINC_REDUCE_SUM, EINC_F32, "mo", CU_FILE, &nk, "j,i,k", &err);
    assert_non_null(cu);
    assert_non_null(strstr(cu, "extern \"C\" cudaError_t mo(const float *in0, const float *in1, "
                               "float *out, int64_t j, int64_t i, int64_t k, cudaStream_t stream)\n{"));
    assert_non_null(strstr(cu, "mo_k0(const float *__restrict__ in0, const float *__restrict__ in1, "
                               "float *__restrict__ out, einc_i64 i, einc_i64 k, einc_i64 j)\n"));
    assert_non_null(strstr(cu, "256, 0, stream>>>(in0, in1, out, i, k, j);\n"));
    assert_non_null(strstr(cu, " * mo(), its parameters in order:\n *\n"
                               " *   in0     const float *  input 0, float32[i, k]\n"
                               " *   in1     const float *  input 1, float32[k, j]\n"
                               " *   out     float *        the output, float32[i, j]\n"
                               " *   j       int64_t        size: in1 dim 1, out dim 1\n"
                               " *   i       int64_t        size: in0 dim 0, out dim 0\n"
                               " *   k       int64_t        size: in0 dim 1, in1 dim 0\n"
                               " *   stream  cudaStream_t   the stream the kernels are launched on\n"
                               " *\n * Arrays are in device memory, contiguous and row-major (C order) "
                               "and must not overlap.\n"));
    free(cu);
    assert_null(emit_ordered(mm, "", EINC_REDUCE_SUM, EINC_F32, "mo", CU_FILE, &nk, "j,i", &err));
    assert_string_equal(err.message, "the parameter order leaves out 'k': name each once (the size "
                                     "parameters: i, k, j)");
    /* a size named like a C++ keyword gets an underscore */
    hdr = emit("new class -> class", "", EINC_REDUCE_MAX, EINC_F32, "m", CU_HEADER, &nk, &err);
    assert_non_null(hdr);
    assert_string_equal(hdr, "extern \"C\" cudaError_t m(const float *in0, float *out, int64_t new_, "
                             "int64_t class_, cudaStream_t stream);\n");
    free(hdr);
}

/* A memory-mode schedule (lowered for the CPU) would race: refused, not emitted. */
static void test_errors(void **state)
{
    (void)state;
    einc_error err = { 0 };
    arena A = { 0 };
    cc c = { .A = &A, .src = "ik,kj->ij", .err = &err };
    ast_expr *e = parse_expr(&c);
    bind_opts o = { .reduce = EINC_REDUCE_SUM, .dtype = EINC_F32 };
    ir_prog *p = e ? bind_expr(&c, e, &o, 0, NULL) : NULL;
    lp_prog *lp = p ? lower(&c, p, LP_CPU, NULL) : NULL;
    assert_non_null(lp);
    cg_opts co = { "k", "ik,kj->ij", false };
    assert_null(cg_cuda(&c, lp, &co));
    assert_int_equal(err.status, EINC_ERR_UNSUPPORTED);
    assert_string_equal(err.message,
                        "a GPU kernel needs the register schedule (lower with LP_GPU)");
    arena_free(&A);
}

/* All cases of a dtype in one .cu file, one nvcc run. */
static void test_nvcc(void **state)
{
    einc_dtype dt = dtypes[(intptr_t)*state];
    if (!have_nvcc)
        skip();
    const char *tn = einc_dtype_name(dt);
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/all_%s.cu", dir, tn);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < NCASE; i++) {
        char *s = emit_case(i, dt, CU_FILE, NULL);
        fputs(s, f);
        free(s);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "nvcc -arch=sm_90 -Werror all-warnings -Xcompiler -Wall,-Wextra "
                              "-c -o %s/all_%s.o %s", dir, tn, path);
    if (system(cmd) != 0)
        fail_msg("emitted CUDA (%s) does not compile cleanly with nvcc: %s", tn, path);
}

/* Every case's kernels in one NVRTC program: one .entry per nest. */
static void test_nvrtc(void **state)
{
    einc_dtype dt = dtypes[(intptr_t)*state];
    if (!th_have_nvrtc())
        skip();
    size_t len = 0, cap = 1;
    char *src = calloc(1, 1);
    int nk[NCASE];
    for (int i = 0; i < NCASE; i++) {
        char *s = emit_case(i, dt, CU_KERNELS, &nk[i]);
        size_t n = strlen(s);
        while (len + n + 1 > cap)
            cap *= 2;
        src = realloc(src, cap);
        memcpy(src + len, s, n + 1);
        len += n;
        free(s);
    }
    char *ptx = NULL, err[4096];
    if (nvrtc_ptx(src, "einc_all.cu", "compute_90", &ptx, err, sizeof err) < 0)
        fail_msg("%s", err);
    for (int i = 0; i < NCASE; i++)
        for (int k = 0; k < nk[i]; k++) {
            char entry[64];
            snprintf(entry, sizeof entry, ".entry kern%d_k%d(", i, k);
            if (!strstr(ptx, entry))
                fail_msg("%s (%s): no '%s' in the PTX", cases[i].expr, einc_dtype_name(dt), entry);
        }
    assert_non_null(strstr(ptx, ".target sm_90"));
    free(ptx);
    free(src);
}

/*
 * A model's "*" "/" and "/" "*" in its comments cannot end or nest the .cu file's opening
 * comment: nvcc builds it warning-free.
 */
static void test_comment_escape(void **state)
{
    (void)state;
    static const char src[] = "# weights from runs/*/best.pt /* old */\n"
                              "input x: f32[2, 4]   # */\nreturn relu(x)\n";
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile_model(ctx, src, NULL, &k, &err), EINC_OK);
    char *cu = einc_kernel_emit(k, EINC_EMIT_CUDA, "esc", EINC_F32, NULL, &err);
    assert_non_null(cu);
    const char *close = strstr(cu, "\n */\n");
    assert_non_null(close);
    assert_ptr_equal(strstr(cu, "*/"), close + 2);
    assert_non_null(strstr(cu, " *     # weights from runs/ * /best.pt / * old * /\n"
                               " *     input x: f32[2, 4]   # * /\n"));
    if (have_nvcc) {
        char path[512], cmd[2048];
        snprintf(path, sizeof path, "%s/esc.cu", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(cu, f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "nvcc -arch=sm_90 -Werror all-warnings -Xcompiler -Wall,-Wextra "
                                  "-c -o %s/esc.o %s", dir, path);
        if (system(cmd) != 0)
            fail_msg("the .cu file with a model's comments does not compile: %s", path);
    }
    free(cu);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

/* A compile error comes back as one line with NVRTC's log, and no PTX. */
static void test_nvrtc_error(void **state)
{
    (void)state;
    if (!th_have_nvrtc())
        skip();
    char *ptx = (char *)1, err[1024];
    const char *bad = "extern \"C\" __global__ void f(float *x) { x[0] = undeclared; }\n";
    assert_int_equal(nvrtc_ptx(bad, "bad.cu", "compute_90", &ptx, err, sizeof err), -1);
    assert_null(ptx);
    assert_non_null(strstr(err, "NVRTC could not compile bad.cu for compute_90: "));
    assert_non_null(strstr(err, "undeclared"));
    assert_null(strchr(err, '\n'));
    /* a tiny message buffer truncates, never overflows */
    char small[8];
    assert_int_equal(nvrtc_ptx(bad, "bad.cu", "compute_90", &ptx, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

int main(void)
{
    have_nvcc = th_have("nvcc --version");
    snprintf(dir, sizeof dir, "/tmp/einc-cuda-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    enum { NFIXED = 5, NTEST = NFIXED + 2 * NDTYPE };
    struct CMUnitTest tests[NTEST] = {
        cmocka_unit_test(test_prototypes),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nvrtc_error),
        cmocka_unit_test(test_comment_escape),
    };
    char names[2 * NDTYPE][64];
    for (int i = 0; i < NDTYPE; i++) {
        snprintf(names[2 * i], sizeof names[0], "nvcc: %s", einc_dtype_name(dtypes[i]));
        snprintf(names[2 * i + 1], sizeof names[0], "nvrtc: %s", einc_dtype_name(dtypes[i]));
        tests[NFIXED + 2 * i] = (struct CMUnitTest){ names[2 * i], test_nvcc, NULL, NULL,
                                                     (void *)(intptr_t)i };
        tests[NFIXED + 2 * i + 1] = (struct CMUnitTest){ names[2 * i + 1], test_nvrtc, NULL,
                                                         NULL, (void *)(intptr_t)i };
    }
    int rc = _cmocka_run_group_tests("emit_cuda", tests, NTEST, NULL, NULL);
    if (th_rm_rf(dir) != 0)
        return 1;
    return rc;
}
