/*
 * test_ptx_rows.c — what NVRTC says of the rows and reduce kernels (codegen/cuda_rows.c)
 * without a GPU: each kernel text (einc_kernel_emit's .cu, its host part cut off) compiled
 * for sm_90 with -Xptxas=-v must spill nothing and stay within the register and shared
 * memory limits; its PTX must have the structure the kind needs: a softmax and a layernorm
 * model are one .entry each with shfl.sync, `ij->i` and `ij->` fold across threads with
 * shfl.sync and shared memory (bar.sync), and `ij->` has its two stages' atomic.  Skips,
 * saying why, when NVRTC cannot be loaded.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "nvrtc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static nvrtc_lib L;
static bool have_nvrtc;
static char why[256];

/* The kernels of k's .cu: no #include, nothing past the kernels (the host launcher). */
static char *kernels_of(einc_kernel *k)
{
    einc_error err = { 0 };
    char *cu = einc_kernel_emit(k, EINC_EMIT_CUDA, "r", EINC_F32, NULL, &err);
    if (!cu)
        fail_msg("emit: %s", err.message);
    static const char *const host[] = { "\n#ifndef EINC_CUDA_GEOMETRY", "\n#ifndef EINC_CUDA_GRID",
                                        "\nextern \"C\" size_t", "\nextern \"C\" void " };
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) {
        char *p = strstr(cu, host[i]);
        if (p)
            p[1] = '\0';
    }
    for (char *p; (p = strstr(cu, "#include <"));)
        memset(p, ' ', strcspn(p, "\n"));
    return cu;
}

typedef struct built {
    char *ptx, *log;
} built;

static built build(const char *src)
{
    nvrtc_program prog = NULL;
    const char *opts[] = { "--gpu-architecture=sm_90", "-Xptxas=-v" };
    assert_int_equal(L.create(&prog, src, "rows.cu", 0, NULL, NULL), 0);
    int rc = L.compile(prog, 2, opts);
    size_t n = 0;
    built b = { 0 };
    L.log_size(prog, &n);
    b.log = calloc(n + 1, 1);
    assert_non_null(b.log);
    L.log(prog, b.log);
    if (rc)
        fail_msg("NVRTC: %s\n%s\n%s", L.error_string(rc), b.log, src);
    /* the PTX: the same text for compute_90 (a cubin's program may hold none) */
    nvrtc_program p2 = NULL;
    const char *o2[] = { "--gpu-architecture=compute_90" };
    assert_int_equal(L.create(&p2, src, "rows.cu", 0, NULL, NULL), 0);
    assert_int_equal(L.compile(p2, 1, o2), 0);
    assert_int_equal(L.ptx_size(p2, &n), 0);
    b.ptx = calloc(n + 1, 1);
    assert_non_null(b.ptx);
    assert_int_equal(L.ptx(p2, b.ptx), 0);
    L.destroy(&p2);
    L.destroy(&prog);
    return b;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* ptxas' report: no spills, registers within 255 / launch bounds of 256, shared <= 48 KiB. */
static void resources(const char *what, const char *log)
{
    int kernels = 0;
    for (const char *p = log; (p = strstr(p, "ptxas info    : Used ")); p++) {
        int regs = 0;
        assert_int_equal(sscanf(p, "ptxas info    : Used %d registers", &regs), 1);
        if (regs > 255)
            fail_msg("%s: %d registers\n%s", what, regs, log);
        const char *sm = strstr(p, "bytes smem");
        if (sm && strchr(p, '\n') > sm) {
            const char *q = sm;
            while (q > p && q[-1] == ' ')
                q--;
            while (q > p && q[-1] >= '0' && q[-1] <= '9')
                q--;
            if (atol(q) > 48 * 1024)
                fail_msg("%s: %ld bytes of shared memory\n%s", what, atol(q), log);
        }
        kernels++;
    }
    if (!kernels)
        fail_msg("%s: no ptxas report in NVRTC's log:\n%s", what, log);
    for (const char *p = log; (p = strstr(p, " bytes spill ")); p++) {
        const char *q = p;
        while (q > log && q[-1] >= '0' && q[-1] <= '9')
            q--;
        if (atol(q) != 0)
            fail_msg("%s spills:\n%s", what, log);
    }
}

static built compile_expr(const char *expr, einc_reduce red)
{
    einc_error err = { 0 };
    einc_kernel *k = NULL;
    einc_size sz[2] = { { "i", 4096 }, { "j", 4096 } };
    einc_options o = { .reduce = red, .nsizes = 2, .sizes = sz };
    einc_ctx *ctx = einc_ctx_new();
    assert_non_null(ctx);
    if (einc_compile(ctx, expr, &o, &k, &err))
        fail_msg("%s: %s", expr, err.message);
    char *src = kernels_of(k);
    built b = build(src);
    resources(expr, b.log);
    free(src);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return b;
}

static built compile_model(const char *model)
{
    einc_error err = { 0 };
    einc_kernel *k = NULL;
    einc_size sz[2] = { { "N", 4096 }, { "C", 4096 } };
    einc_options o = { .nsizes = 2, .sizes = sz };
    einc_ctx *ctx = einc_ctx_new();
    assert_non_null(ctx);
    if (einc_compile_model(ctx, model, &o, &k, &err))
        fail_msg("%s: %s", model, err.message);
    char *src = kernels_of(k);
    built b = build(src);
    resources(model, b.log);
    free(src);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return b;
}

static void done(built *b)
{
    free(b->ptx);
    free(b->log);
}

/* softmax, log_softmax, layernorm: one kernel, warp shuffles */
static void test_models(void **state)
{
    (void)state;
    if (!have_nvrtc)
        skip();
    static const char *const models[] = {
        "input x: f32[N, C]\nreturn softmax(x)\n",
        "input x: f32[N, C]\nreturn log_softmax(x)\n",
        "input x: f32[N, C]\nparam w: f32[C]\nparam b: f32[C]\nreturn layernorm(x, w, b)\n",
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        built b = compile_model(models[i]);
        if (count(b.ptx, ".entry ") != 1 || count(b.ptx, "shfl.sync.bfly") < 1)
            fail_msg("%s: %d .entry, %d shfl.sync.bfly\n%s", models[i], count(b.ptx, ".entry "),
                     count(b.ptx, "shfl.sync.bfly"), b.ptx);
        done(&b);
    }
}

/* ij->i and ij->: the work of one output shared across threads */
static void test_reductions(void **state)
{
    (void)state;
    if (!have_nvrtc)
        skip();
    static const einc_reduce red[] = { EINC_REDUCE_SUM, EINC_REDUCE_MAX, EINC_REDUCE_MEAN };
    for (size_t r = 0; r < 3; r++) {
        built rows = compile_expr("ij->i", red[r]);
        assert_int_equal(count(rows.ptx, ".entry "), 1);
        assert_true(count(rows.ptx, "shfl.sync.bfly") >= 1);
        assert_true(count(rows.ptx, ".shared") >= 1);
        assert_true(count(rows.ptx, "bar.sync") >= 1);
        done(&rows);
        built all = compile_expr("ij->", red[r]);
        assert_int_equal(count(all.ptx, ".entry "), 1);
        assert_true(count(all.ptx, "shfl.sync.bfly") >= 2);    /* stage 1 and the rows form */
        assert_true(count(all.ptx, "bar.sync") >= 1);
        assert_true(count(all.ptx, "atom.global") + count(all.ptx, "red.global") >= 1);
        done(&all);
    }
}

int main(void)
{
    if (nvrtc_open(&L, why, sizeof why) == 0)
        have_nvrtc = true;
    else
        fprintf(stderr, "test_ptx_rows: skipped: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_reductions),
    };
    int rc = cmocka_run_group_tests_name("ptx rows", tests, NULL, NULL);
    if (have_nvrtc)
        nvrtc_close(&L);
    return rc;
}
