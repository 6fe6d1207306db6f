/*
 * gpucheck.c — the CUDA target against the interpreter, then timed, on the lent GPU machine
 * (benchmarks/gpu/check.sh builds and runs it).  Prints "N passed, M failed" and a table.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct gcase {
    const char *expr;
    einc_reduce reduce;
    int nin;
    int ndim[3];
    int64_t shape[3][4];
} gcase;

static const gcase cases[] = {
    { "ik,kj->ij", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 37, 53 }, { 53, 29 } } },
    { "bij,bjk->bik", EINC_REDUCE_SUM, 2, { 3, 3 }, { { 3, 17, 9 }, { 3, 9, 11 } } },
    { "bhid,bhjd->bhij", EINC_REDUCE_SUM, 2, { 4, 4 }, { { 2, 3, 7, 16 }, { 2, 3, 9, 16 } } },
    { "ij->ji", EINC_REDUCE_SUM, 1, { 2 }, { { 33, 65 } } },
    { "abcd->dcba", EINC_REDUCE_SUM, 1, { 4 }, { { 3, 4, 5, 6 } } },
    { "b c h w -> b h w c", EINC_REDUCE_SUM, 1, { 4 }, { { 2, 3, 5, 7 } } },
    { "ij->", EINC_REDUCE_SUM, 1, { 2 }, { { 300, 77 } } },
    { "i j -> i", EINC_REDUCE_MEAN, 1, { 2 }, { { 40, 33 } } },
    { "i j -> j", EINC_REDUCE_MAX, 1, { 2 }, { { 40, 33 } } },
    { "i j -> j", EINC_REDUCE_MIN, 1, { 2 }, { { 40, 33 } } },
    { "ii->i", EINC_REDUCE_SUM, 1, { 2 }, { { 19, 19 } } },
    { "i,j->ij", EINC_REDUCE_SUM, 2, { 1, 1 }, { { 0 }, { 5 } } },
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int check(const gcase *c)
{
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *kg = NULL, *ki = NULL;
    einc_error err;
    einc_options og = { .reduce = c->reduce, .target = EINC_TARGET_CUDA }, oi = og;
    oi.target = EINC_TARGET_INTERP;
    if (einc_compile(ctx, c->expr, &og, &kg, &err) || einc_compile(ctx, c->expr, &oi, &ki, &err)) {
        printf("FAIL %s: %s\n", c->expr, err.message);
        return 0;
    }
    einc_tensor in[3];
    float *data[3];
    for (int i = 0; i < c->nin; i++) {
        size_t n = 1;
        for (int d = 0; d < c->ndim[i]; d++)
            n *= (size_t)c->shape[i][d];
        data[i] = malloc((n ? n : 1) * sizeof(float));
        for (size_t e = 0; e < n; e++)
            data[i][e] = (float)((e * 7) % 11) - 5;
        in[i] = (einc_tensor){ EINC_F32, c->ndim[i], c->shape[i], NULL, data[i] };
    }
    einc_dtype dt;
    int nd;
    int64_t os[EINC_MAX_RANK], on = 1;
    einc_kernel_output(ki, c->nin, in, &dt, &nd, os, &err);
    for (int d = 0; d < nd; d++)
        on *= os[d];
    float *w = malloc((size_t)(on ? on : 1) * 4), *g = malloc((size_t)(on ? on : 1) * 4);
    memset(g, 0x7f, (size_t)(on ? on : 1) * 4);
    einc_tensor wo = { dt, nd, os, NULL, w }, go = { dt, nd, os, NULL, g };
    int ok = !einc_kernel_run(ki, c->nin, in, &wo, &err);
    if (ok && einc_kernel_run(kg, c->nin, in, &go, &err)) {
        printf("FAIL %s (cuda): %s\n", c->expr, err.message);
        ok = 0;
    }
    for (int64_t e = 0; ok && e < on; e++)
        if (fabsf(w[e] - g[e]) > 1e-3f * (1 + fabsf(w[e]))) {
            printf("FAIL %s: element %lld: cuda %g, interp %g\n", c->expr, (long long)e, g[e], w[e]);
            ok = 0;
        }
    if (ok)
        printf("ok   %s\n", c->expr);
    for (int i = 0; i < c->nin; i++)
        free(data[i]);
    free(w);
    free(g);
    einc_kernel_free(kg);
    einc_kernel_free(ki);
    einc_ctx_free(ctx);
    return ok;
}

/* End-to-end time of a 'ik,kj->ij' on the GPU, host arrays in and out (copies included). */
static void timing(int n)
{
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_options o = { .target = EINC_TARGET_CUDA };
    einc_compile(ctx, "ik,kj->ij", &o, &k, NULL);
    float *a = malloc(sizeof(float) * (size_t)n * n), *c = malloc(sizeof(float) * (size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = 1;
    int64_t s[2] = { n, n };
    einc_tensor in[2] = { { EINC_F32, 2, s, NULL, a }, { EINC_F32, 2, s, NULL, a } }, out = { EINC_F32, 2, s, NULL, c };
    einc_error err;
    if (einc_kernel_run(k, 2, in, &out, &err)) {
        printf("timing: %s\n", err.message);
        return;
    }
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        einc_kernel_run(k, 2, in, &out, &err);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    printf("| einc CUDA 'ik,kj->ij' %d^3, copies included | %.2f ms | %.1f GFLOP/s |\n", n, best * 1e3,
           2.0 * n * (double)n * n / best / 1e9);
    free(a);
    free(c);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

int main(void)
{
    int pass = 0, failn = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (check(&cases[i]))
            pass++;
        else
            failn++;
    }
    printf("\n| case | time | rate |\n|---|---|---|\n");
    timing(1024);
    timing(4096);
    printf("%d passed, %d failed\n", pass, failn);
    return failn != 0;
}
