/*
 * test_schedule.c — the schedule pass (compiler/passes/schedule.c): each nest's kind and
 * parameters for a given machine, as `einc explain` prints them (lp_print), and the GEMM
 * tile that emitted C takes from it.
 */
#define _GNU_SOURCE
#include "cc.h"
#include "ir.h"
#include "einl.h"
#include "loop.h"
#include "codegen.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const lp_machine avx512 = { 64, 2 << 20 }, avx2 = { 32, 1 << 20 };

/* "a=2 b=3" → sizes (names point into buf). */
static int parse_sizes(char *buf, einc_size *out, int max)
{
    int n = 0;
    char *save;
    for (char *tok = strtok_r(buf, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        out[n++] = (einc_size){ tok, atoll(eq + 1) };
    }
    return n;
}

typedef struct sched_case {
    const char *src;            /* an expression, or a model's text */
    bool model;
    const char *sizes;
    einc_dtype dtype;           /* an expression's operands */
    lp_target target;
    const lp_machine *m;
    const char *c_name;         /* non-NULL: also emit C (CUDA kernels for LP_GPU) under this
                                   name, into *c_src */
} sched_case;

/*
 * What explain does for the CPU, with a chosen machine: bind (or elaborate) with every
 * size given, split full reductions, lower, schedule; the nests as lp_print shows them.
 * kinds[] gets each nest's kind (at most 8), *c_src the emitted C when asked for.
 */
static char *schedule(const sched_case *k, lp_kind *kinds, int *nnest, char **c_src)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", k->sizes ? k->sizes : "");
    einc_size sz[16];
    int ns = parse_sizes(buf, sz, 16);
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = k->src, .err = &err };
    ir_prog *p;
    if (k->model) {
        el_model *m = einl_parse(&c);
        p = m ? einl_elaborate(&c, m, ns, sz, 0, NULL) : NULL;
    } else {
        ast_expr *e = parse_expr(&c);
        bind_opts o = { .dtype = k->dtype, .nsizes = ns, .sizes = sz };
        p = e ? bind_expr(&c, e, &o, 0, NULL) : NULL;
    }
    if (!p || split_reductions(&c, p) < 0)
        fail_msg("%s: %s", k->src, err.message);
    lp_prog *lp = lower(&c, p, k->target, NULL);
    if (!lp || lp_schedule(&c, lp, k->target, k->m) < 0)
        fail_msg("%s: %s", k->src, err.message);
    *nnest = lp->nnest;
    for (int i = 0; i < lp->nnest && i < 8; i++)
        kinds[i] = lp->nest[i].sched.kind;
    char *text = lp_print(lp);
    if (k->c_name) {
        cg_opts co = { k->c_name, k->src, false };
        *c_src = k->target == LP_GPU ? cg_cuda_kernels(&c, lp, &co) : cg_c(&c, lp, &co);
        assert_non_null(*c_src);
    }
    arena_free(&A);
    assert_non_null(text);
    return text;
}

/* The kinds of the nests, in order, and the first nest's parameter line. */
static void expect(const sched_case *k, const char *line0, int n, ...)
{
    lp_kind kinds[8];
    int nnest;
    char *text = schedule(k, kinds, &nnest, NULL);
    if (nnest != n)
        fail_msg("%s: %d nests, expected %d:\n%s", k->src, nnest, n, text);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        lp_kind want = (lp_kind)va_arg(ap, int);
        if (kinds[i] != want)
            fail_msg("%s: nest %d is %s, expected %s:\n%s", k->src, i, lp_kind_name(kinds[i]),
                     lp_kind_name(want), text);
    }
    va_end(ap);
    const char *nl = strchr(text, '\n');
    if (strncmp(text, line0, (size_t)(nl - text)) != 0 || strlen(line0) != (size_t)(nl - text))
        fail_msg("%s: first line\n%.*s\nexpected\n%s", k->src, (int)(nl - text), text, line0);
    free(text);
}

static void test_gemm(void **s)
{
    (void)s;
    sched_case k = { "ik,kj->ij", false, "i=64 k=64 j=64", EINC_F32, LP_CPU, &avx512, NULL };
    expect(&k, "nest 0 (float32 arithmetic): schedule=gemm tile=6x4 vectors kc=512 vector=16 parallel=i", 1,
           LP_KIND_GEMM);
    k.m = &avx2;    /* 6 x 2 vectors: AVX2's 16 registers; the panel 512 x 16 floats */
    expect(&k, "nest 0 (float32 arithmetic): schedule=gemm tile=6x2 vectors kc=512 vector=8 parallel=i", 1,
           LP_KIND_GEMM);
    k.m = &(lp_machine){ 64, 1 << 20 };
    k.dtype = EINC_F64;   /* a 32 x 256 panel of doubles: 64 KiB, a sixteenth of 1 MiB */
    expect(&k, "nest 0 (float64 arithmetic): schedule=gemm tile=6x4 vectors kc=256 vector=8 parallel=i", 1,
           LP_KIND_GEMM);
    /* float16 and bfloat16 operands: the float32 GEMM into a float32 temporary, rounded
       once by the copy into the output */
    k.m = &avx512;
    k.dtype = EINC_F16;
    expect(&k, "nest 0 (float32 arithmetic): schedule=gemm tile=6x4 vectors kc=512 vector=16 parallel=i", 2,
           LP_KIND_GEMM, LP_KIND_ELEMENTWISE);
    k.dtype = EINC_BF16;
    expect(&k, "nest 0 (float32 arithmetic): schedule=gemm tile=6x4 vectors kc=512 vector=16 parallel=i", 2,
           LP_KIND_GEMM, LP_KIND_ELEMENTWISE);
    /* int8 and uint8: 4-byte dot products summed in int32 (llvm_gemm_int.c) */
    k.dtype = EINC_I8;
    expect(&k, "nest 0 (int32 arithmetic): schedule=gemm tile=6x4 vectors kc=512 vector=16 parallel=i", 1,
           LP_KIND_GEMM);
    k.dtype = EINC_U8;
    expect(&k, "nest 0 (int32 arithmetic): schedule=gemm tile=6x4 vectors kc=512 vector=16 parallel=i", 1,
           LP_KIND_GEMM);
    k.m = NULL;     /* no machine: 32-byte vectors and a 1 MiB L2 */
    k.dtype = EINC_F32;
    expect(&k, "nest 0 (float32 arithmetic): schedule=gemm tile=6x2 vectors kc=512 vector=8 parallel=i", 1,
           LP_KIND_GEMM);
}

static void test_gemm_tile_rule(void **s)
{
    (void)s;
    lp_gemm_tile t = lp_gemm_tile_for(&LP_EMITTED_C_MACHINE, EINC_F32);
    assert_int_equal(t.mr, 6);
    assert_int_equal(t.nv, 4);
    assert_int_equal(t.vl, 16);
    assert_int_equal(t.kc, 256);
    assert_int_equal(t.mc, 96);
    assert_int_equal(t.mc_bytes, 256 << 10);
    /* KC stays within [64, 512]: a tiny L2, a huge one */
    assert_int_equal(lp_gemm_tile_for(&(lp_machine){ 64, 64 << 10 }, EINC_F32).kc, 64);
    assert_int_equal(lp_gemm_tile_for(&(lp_machine){ 64, 64 << 20 }, EINC_F64).kc, 512);
    /* 1.5 MiB: 384, a multiple of 8 */
    assert_int_equal(lp_gemm_tile_for(&(lp_machine){ 64, 3 << 19 }, EINC_F32).kc, 384);
}

/* Emitted C takes its tile from the nest's schedule. */
static void test_c_tile(void **s)
{
    (void)s;
    sched_case k = { "ik,kj->ij", false, NULL, EINC_F32, LP_CPU, &LP_EMITTED_C_MACHINE, "mm" };
    lp_kind kinds[8];
    int n;
    char *c = NULL;
    free(schedule(&k, kinds, &n, &c));
    assert_non_null(strstr(c, "#define EINC_NR (4 * EINC_VL)\n"));
    assert_non_null(strstr(c, "mb_ += 96)"));
    assert_non_null(strstr(c, "k0_ += 256)"));
    assert_non_null(strstr(c, "t53_"));
    free(c);
    k.m = &avx2;
    free(schedule(&k, kinds, &n, &c));
    assert_non_null(strstr(c, "#define EINC_NR (2 * EINC_VL)\n"));
    assert_non_null(strstr(c, "k0_ += 512)"));
    assert_non_null(strstr(c, "einc_vec b0_, b1_;\n"));
    assert_non_null(strstr(c, "t51_"));
    assert_null(strstr(c, "t52_"));
    free(c);
}

static void test_transpose(void **s)
{
    (void)s;
    sched_case k = { "abcd->dcba", false, "a=64 b=8 c=8 d=64", EINC_F32, LP_CPU, &avx512, NULL };
    lp_kind kinds[8];
    int n;
    char *text = schedule(&k, kinds, &n, NULL);
    assert_string_equal(text,
                        "nest 0 (float32 arithmetic): schedule=transpose r=d o=a tile=32 square=16 vector=16 parallel=b\n"
                        "  for b parallel\n"
                        "    for c\n"
                        "      for a blocks of 32\n"
                        "        for d blocks of 32\n"
                        "          for d in its block\n"
                        "            for a in its block vector\n"
                        "              out[d, c, b, a] = ...\n");
    free(text);
    /* squares of 4 doubles with AVX2 */
    k.dtype = EINC_F64;
    k.m = &avx2;
    expect(&k, "nest 0 (float64 arithmetic): schedule=transpose r=d o=a tile=32 square=4 vector=4 parallel=b", 1,
           LP_KIND_TRANSPOSE);
    /* h and w run as one where the arrays are contiguous across them */
    sched_case e = { "b c h w -> b h w c", false, "b=2 c=64 h=7 w=7", EINC_F32, LP_CPU, &avx512, NULL };
    expect(&e, "nest 0 (float32 arithmetic): schedule=transpose r=w o=c tile=32 square=16 coalesce=h*w vector=16 parallel=b",
           1, LP_KIND_TRANSPOSE);
    /* 1- and 2-byte elements: 128-byte tiles of 32 x 32 squares with AVX-512 (bytes in
       32-byte vectors, words in 64-byte ones), 16 x 16 words with AVX2 */
    sched_case b = { "ij->ji", false, "i=300 j=200", EINC_U8, LP_CPU, &avx512, NULL };
    expect(&b, "nest 0 (int64 arithmetic): schedule=transpose r=j o=i tile=128 square=32 vector=8 parallel=i", 1,
           LP_KIND_TRANSPOSE);
    b.dtype = EINC_F16;
    expect(&b, "nest 0 (float32 arithmetic): schedule=transpose r=j o=i tile=64 square=32 vector=16 parallel=i", 1,
           LP_KIND_TRANSPOSE);
    b.m = &avx2;
    b.dtype = EINC_I16;
    expect(&b, "nest 0 (int64 arithmetic): schedule=transpose r=j o=i tile=64 square=16 vector=4 parallel=i", 1,
           LP_KIND_TRANSPOSE);
    b.dtype = EINC_BOOL;    /* a bool's load makes any nonzero byte 1: no squares of raw bytes */
    expect(&b, "nest 0 (int64 arithmetic): schedule=transpose r=j o=i tile=128 square=0 vector=4 parallel=i", 1,
           LP_KIND_TRANSPOSE);
    /* a permutation that keeps the unit-stride axis is not tiled, but still a transpose */
    sched_case p = { "abc->bac", false, "a=4 b=5 c=6", EINC_F32, LP_CPU, &avx512, NULL };
    expect(&p, "nest 0 (float32 arithmetic): schedule=transpose vector=16 parallel=b", 1, LP_KIND_TRANSPOSE);
    /* a copy in order: elementwise, its axes coalesced */
    sched_case c = { "abc->abc", false, "a=4 b=5 c=6", EINC_F32, LP_CPU, &avx512, NULL };
    expect(&c, "nest 0 (float32 arithmetic): schedule=elementwise coalesce=b*c vector=16 parallel=a", 1,
           LP_KIND_ELEMENTWISE);
}

static const char resblock[] =
    "input x: f32[N, 64, H, W]\n"
    "param w: f32[64, 64, 3, 3]\n"
    "param mean: f32[64]\n"
    "param var: f32[64]\n"
    "param gamma: f32[64]\n"
    "param beta: f32[64]\n"
    "def block(x, w, mean, var, gamma, beta) {\n"
    "    y = conv2d(x, w, stride=1, padding=1)\n"
    "    y = batchnorm2d(y, mean, var, gamma, beta, eps=1e-5)\n"
    "    return relu(y)\n"
    "}\n"
    "return x + block(x, w, mean, var, gamma, beta)\n";

static void test_conv(void **s)
{
    (void)s;
    sched_case k = { resblock, true, "N=2 H=28 W=28", EINC_F32, LP_CPU, &avx512, NULL };
    lp_kind kinds[8];
    int n;
    char *text = schedule(&k, kinds, &n, NULL);
    assert_string_equal(text,
                        "nest 0 (float32 arithmetic): schedule=conv site=a5*a6:m=a1,k=a4,n=W,M=64,K=64,T=9 "
                        "tile=6x4 vectors kc=512 vector=16 parallel=N\n"
                        "  for N parallel\n"
                        "    for H\n"
                        "      for a1\n"
                        "        for W vector\n"
                        "          out[N, a1, H, W] = identity of +=\n"
                        "      for a5\n"
                        "        for a6\n"
                        "          gemm m=a1 n=W k=a4: out[N, a1, H, W] += w[a1, a4, a5, a6] * x[N, a4, H+a5, W+a6]\n"
                        "      for a1\n"
                        "        for W vector\n"
                        "          out[N, a1, H, W] = ...\n");
    free(text);
    /* the direct convolution needs 64-byte vectors: with AVX2 it is a GEMM */
    k.m = &avx2;
    expect(&k, "nest 0 (float32 arithmetic): schedule=gemm tile=6x2 vectors kc=512 vector=8 parallel=N", 1,
           LP_KIND_GEMM);
    /*
     * The packed weights (9 taps x K x 64 floats) within 256 KiB: K = 113 is 254.25 KiB, packed
     * whole; 114 over, packed 57 k channels at a time.  ResNet's widest layers in blocks of
     * 64 m channels; 72 m channels, padded to 96, in blocks of 32; a stride of 2.
     */
    static const struct {
        int K, M, k, s;
        const char *site;
    } blocks[] = {
        { 113, 64, 3, 1, "site=a5*a6:m=a1,k=a4,n=a3,M=64,K=113,T=9 tile" },
        { 114, 64, 3, 1, "site=a5*a6:m=a1,k=a4,n=a3,M=64,K=114,T=9,block=64x57 tile" },
        { 512, 512, 3, 1, "site=a5*a6:m=a1,k=a4,n=a3,M=512,K=512,T=9,block=64x103 tile" },
        { 256, 256, 3, 1, "site=a5*a6:m=a1,k=a4,n=a3,M=256,K=256,T=9,block=64x86 tile" },
        { 200, 72, 3, 1, "site=a5*a6:m=a1,k=a4,n=a3,M=72,K=200,T=9,block=32x200 tile" },
        { 128, 256, 3, 2, "site=a5*a6:m=a1,k=a4,n=a3,M=256,K=128,T=9,block=64x64 tile" },
        { 256, 512, 1, 2, "site=none:m=a1,k=a4,n=a3,M=512,K=256,T=1,block=64x256 tile" },   /* 1 x 1: no taps */
        { 64, 64, 1, 1, "site=none:m=a1,k=a4,n=W,M=64,K=64,T=1 tile" },
    };
    char conv[160];
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        snprintf(conv, sizeof conv, "input x: f32[N, %d, H, W]\nparam w: f32[%d, %d, %d, %d]\n"
                 "return conv2d(x, w, stride=%d, padding=%d)\n", blocks[i].K, blocks[i].M, blocks[i].K,
                 blocks[i].k, blocks[i].k, blocks[i].s, blocks[i].k / 2);
        sched_case c = { conv, true, "N=2 H=7 W=7", EINC_F32, LP_CPU, &avx512, NULL };
        char *t = schedule(&c, kinds, &n, NULL);
        char want[200];
        snprintf(want, sizeof want, "nest 0 (float32 arithmetic): schedule=conv %s=6x4 vectors kc=512 vector=16 parallel=N\n",
                 blocks[i].site);
        if (n != 1 || strncmp(t, want, strlen(want)) != 0)
            fail_msg("K=%d M=%d:\n%s\nnot\n%s", blocks[i].K, blocks[i].M, t, want);
        free(t);
        c.m = &avx2;            /* no direct convolution: the fallback GEMM */
        t = schedule(&c, kinds, &n, NULL);
        if (!strstr(t, "schedule=gemm "))
            fail_msg("K=%d M=%d with AVX2:\n%s", blocks[i].K, blocks[i].M, t);
        free(t);
    }
    /* a 1 x 1 convolution on rows longer than LP_CONV_NARROW is the GEMM */
    sched_case wide1 = { "input x: f32[N, 64, H, W]\nparam w: f32[64, 64, 1, 1]\nreturn conv2d(x, w)\n", true,
                         "N=2 H=29 W=29", EINC_F32, LP_CPU, &avx512, NULL };
    char *t1 = schedule(&wide1, kinds, &n, NULL);
    if (!strstr(t1, "schedule=gemm "))
        fail_msg("%s", t1);
    free(t1);
    wide1.sizes = "N=2 H=28 W=28";
    t1 = schedule(&wide1, kinds, &n, NULL);
    if (!strstr(t1, "schedule=conv site=none:"))
        fail_msg("%s", t1);
    free(t1);
    /* a blocked site with the batch norm and relu after it, in the same nest */
    char *wide = strdup(resblock);
    for (char *p = strstr(wide, "64"); p; p = strstr(p, "64"))
        memcpy(p, "96", 2);
    sched_case r = { wide, true, "N=2 H=14 W=14", EINC_F32, LP_CPU, &avx512, NULL };
    char *t = schedule(&r, kinds, &n, NULL);
    if (n != 1 || !strstr(t, "schedule=conv site=a5*a6:m=a1,k=a4,n=W,M=96,K=96,T=9,block=32x96 tile") ||
        !strstr(t, "out[N, a1, H, W] = ..."))
        fail_msg("%s", t);
    free(t);
    free(wide);
}

static const char softmax_model[] = "input x: f32[N, C]\nreturn softmax(x, dim=1)\n";

static void test_rows(void **s)
{
    (void)s;
    sched_case k = { softmax_model, true, "N=4 C=10", EINC_F32, LP_CPU, &avx512, NULL };
    lp_kind kinds[8];
    int n;
    char *text = schedule(&k, kinds, &n, NULL);
    assert_string_equal(text,
                        "nest 0 (float32 arithmetic): schedule=rows row=N steps=4 vector=16 parallel=N\n"
                        "  for N parallel\n"
                        "    acc max= -> t0[N, 0]\n"
                        "      for C vector\n"
                        "        acc max= ...\n"
                        "    acc += -> t3[N, 0] (with a final expression)\n"
                        "      for C vector\n"
                        "        out[N, C] = ...\n"
                        "        acc += ...\n"
                        "    for C vector\n"
                        "      out[N, C] = ...\n");
    free(text);
    /* on a GPU too: one kernel, a thread per row */
    k.target = LP_GPU;
    expect(&k, "nest 0 (float32 arithmetic): schedule=rows row=N steps=4 parallel=N", 1, LP_KIND_ROWS);
    k.c_name = "sm";
    char *cu = NULL;
    free(schedule(&k, kinds, &n, &cu));
    assert_non_null(strstr(cu, " sm_k0("));
    assert_null(strstr(cu, " sm_k1("));
    free(cu);
    /* a row reduction with its epilogue (a mean: the sum, then the division) */
    sched_case m = { "input x: f32[N, C]\nreturn reduce(x, 'n c -> n', 'mean')\n", true, "N=4 C=10", EINC_F32,
                     LP_CPU, &avx512, NULL };
    expect(&m, "nest 0 (float32 arithmetic): schedule=reduce stage=1/1 register vector=16 parallel=N", 1,
           LP_KIND_REDUCE);
}

static void test_reduce(void **s)
{
    (void)s;
    /* split_reductions' two nests: partial sums in parallel, then their sum */
    sched_case k = { "ij->", false, "i=100 j=100", EINC_F32, LP_CPU, &avx512, NULL };
    lp_kind kinds[8];
    int n;
    char *text = schedule(&k, kinds, &n, NULL);
    assert_string_equal(text,
                        "nest 0 (float32 arithmetic): schedule=reduce stage=1/2 register vector=16 parallel=i\n"
                        "  for i parallel vector\n"
                        "    acc += -> part0[i]\n"
                        "      for j vector\n"
                        "        acc += ...\n"
                        "nest 1 (float32 arithmetic): schedule=reduce stage=2/2 register vector=16 parallel=none\n"
                        "  acc += -> out[]\n"
                        "    for i vector\n"
                        "      acc += ...\n");
    free(text);
    /* a column sum: the output filled, then updated in place along rows */
    sched_case c = { "ij->j", false, "i=100 j=100", EINC_F32, LP_CPU, &avx512, NULL };
    expect(&c, "nest 0 (float32 arithmetic): schedule=elementwise vector=16 parallel=j", 2, LP_KIND_ELEMENTWISE,
           LP_KIND_REDUCE);
    /* on a GPU: no vector width */
    k.target = LP_GPU;
    expect(&k, "nest 0 (float32 arithmetic): schedule=reduce stage=1/2 register parallel=i", 2, LP_KIND_REDUCE,
           LP_KIND_REDUCE);
}

static void test_elementwise_and_loops(void **s)
{
    (void)s;
    sched_case k = { "ij,ij->ij", false, "i=8 j=8", EINC_F32, LP_CPU, &avx512, NULL };
    expect(&k, "nest 0 (float32 arithmetic): schedule=elementwise vector=16 parallel=i", 1, LP_KIND_ELEMENTWISE);
    /* an integer product has no GEMM: a reduction over two arrays, plain loops */
    sched_case l = { "ik,kj->ij", false, "i=8 k=8 j=8", EINC_I64, LP_CPU, &avx512, NULL };
    expect(&l, "nest 0 (int64 arithmetic): schedule=loops vector=8 parallel=i", 1, LP_KIND_LOOPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_gemm_tile_rule),
        cmocka_unit_test(test_c_tile),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_elementwise_and_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
