/*
 * test_cuda_device.c — einc_kernel_run_device (include/einc.h): a CUDA-target kernel run on
 * arrays already on the device, on the caller's stream, without host copies.  Without a
 * GPU it runs on the emulator (EINC_CUDA_EMU=1, runtime/cuda_emu.c), where device pointers
 * are host pointers; answers are compared exactly with the interpreter (small integers, so
 * every sum is exact in float).  Skips without a C++ compiler (the emulator needs one).
 */
#define _GNU_SOURCE     /* setenv */
#include "einc.h"
#include "helpers.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static bool have_cxx;

/* out = expr(ins) on target, into out; the status. */
static einc_status run(einc_ctx *ctx, const char *expr, einc_target target, bool device, int n,
                       const einc_tensor *ins, const einc_tensor *out, einc_error *err)
{
    einc_options o = { 0 };
    o.target = target;
    einc_kernel *k = NULL;
    einc_status st = einc_compile(ctx, expr, &o, &k, err);
    if (!st)
        st = device ? einc_kernel_run_device(k, NULL, n, ins, out, err)
                    : einc_kernel_run(k, n, ins, out, err);
    einc_kernel_free(k);
    return st;
}

static void fill_small(float *x, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)(th_next(&seed) % 7) - 3.0f;
}

/* A GEMM and a three-operand chain (its intermediate a device temporary of einc's own). */
static void device_matches_interpreter(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    einc_ctx *ctx = einc_ctx_new();
    float a[6 * 5], b[5 * 4], c[4 * 3], want[6 * 3], got[6 * 3];
    fill_small(a, 30, 1);
    fill_small(b, 20, 2);
    fill_small(c, 12, 3);
    int64_t sa[] = { 6, 5 }, sb[] = { 5, 4 }, sc[] = { 4, 3 }, sab[] = { 6, 4 }, sout[] = { 6, 3 };
    einc_tensor ins[] = { { EINC_F32, 2, sa, NULL, a }, { EINC_F32, 2, sb, NULL, b },
                          { EINC_F32, 2, sc, NULL, c } };
    float ab_want[6 * 4], ab_got[6 * 4];
    einc_tensor o1w = { EINC_F32, 2, sab, NULL, ab_want }, o1g = { EINC_F32, 2, sab, NULL, ab_got };
    einc_error err;
    assert_int_equal(run(ctx, "ij,jk->ik", EINC_TARGET_INTERP, false, 2, ins, &o1w, &err), EINC_OK);
    memset(ab_got, 0x7f, sizeof ab_got);
    assert_int_equal(run(ctx, "ij,jk->ik", EINC_TARGET_CUDA, true, 2, ins, &o1g, &err), EINC_OK);
    assert_memory_equal(ab_got, ab_want, sizeof ab_want);
    einc_tensor ow = { EINC_F32, 2, sout, NULL, want }, og = { EINC_F32, 2, sout, NULL, got };
    assert_int_equal(run(ctx, "ij,jk,kl->il", EINC_TARGET_INTERP, false, 3, ins, &ow, &err), EINC_OK);
    memset(got, 0x7f, sizeof got);
    assert_int_equal(run(ctx, "ij,jk,kl->il", EINC_TARGET_CUDA, true, 3, ins, &og, &err), EINC_OK);
    assert_memory_equal(got, want, sizeof want);
    /* the host path on the same kernel afterwards, unchanged */
    memset(got, 0x7f, sizeof got);
    assert_int_equal(run(ctx, "ij,jk,kl->il", EINC_TARGET_CUDA, false, 3, ins, &og, &err), EINC_OK);
    assert_memory_equal(got, want, sizeof want);
    einc_ctx_free(ctx);
}

static void refusals(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    einc_ctx *ctx = einc_ctx_new();
    float a[4] = { 1, 2, 3, 4 }, r[2] = { -7, -7 };
    int64_t s22[] = { 2, 2 }, s2[] = { 2 }, st[] = { 1, 2 };
    einc_tensor in = { EINC_F32, 2, s22, NULL, a }, out = { EINC_F32, 1, s2, NULL, r };
    einc_error err;
    const char *wrong = "einc_kernel_run_device takes a kernel of an expression compiled for "
                        "EINC_TARGET_CUDA";
    /* another target: its code would read device pointers on the host */
    for (einc_target t = EINC_TARGET_AUTO; t <= EINC_TARGET_INTERP; t++) {
        if (t == EINC_TARGET_CUDA)
            continue;
        assert_int_equal(run(ctx, "ij->i", t, true, 1, &in, &out, &err), EINC_ERR_ARG);
        assert_string_equal(err.message, wrong);
    }
    assert_int_equal(einc_kernel_run_device(NULL, NULL, 1, &in, &out, &err), EINC_ERR_ARG);
    /* a model: its labels are checked on the host */
    einc_options o = { .target = EINC_TARGET_CUDA };
    einc_kernel *k = NULL;
    assert_int_equal(einc_compile_model(ctx, "input x: f32[N, M]\nreturn relu(x)\n", &o, &k, &err),
                     EINC_OK);
    assert_int_equal(einc_kernel_run_device(k, NULL, 1, &in, &out, &err), EINC_ERR_ARG);
    assert_string_equal(err.message, wrong);
    einc_kernel_free(k);
    /* strided, and a shape that does not fit: einc_kernel_run's own errors */
    einc_tensor strided = { EINC_F32, 2, s22, st, a };
    assert_int_equal(run(ctx, "ij->i", EINC_TARGET_CUDA, true, 1, &strided, &out, &err),
                     EINC_ERR_UNSUPPORTED);
    assert_string_equal(err.message, "strided arrays are not supported on the CUDA target yet");
    einc_tensor bad = { EINC_F32, 1, s2, NULL, a };
    assert_int_equal(run(ctx, "ij->i", EINC_TARGET_CUDA, true, 1, &bad, &out, &err), EINC_ERR_SHAPE);
    assert_true(r[0] == -7 && r[1] == -7);      /* nothing written */
    /* and a run after the failures is a plain one */
    assert_int_equal(run(ctx, "ij->i", EINC_TARGET_CUDA, true, 1, &in, &out, &err), EINC_OK);
    assert_true(r[0] == 3 && r[1] == 7);
    einc_ctx_free(ctx);
}

int main(void)
{
    have_cxx = th_have("c++ --version");
    setenv("EINC_CUDA_EMU", "1", 1);
    setenv("EINC_CACHE", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(device_matches_interpreter),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
