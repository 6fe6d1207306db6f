/*
 * emit_chain.c — the emitted C for 'ab,bc,cd->ad' beside two plain matrix products
 * (i-k-j loop nests), both built with the same compiler and flags, on one thread.
 * benchmarks/emit_chain.sh emits the kernel and builds this with it:
 *
 *     cc -O3 -DKERNEL='"chain.c"' emit_chain.c -o chain
 *
 * Prints the median of 9 runs of each, their ratio, and the largest difference between the
 * two results (they sum in different orders).
 */
#define _POSIX_C_SOURCE 199309L
#include KERNEL

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef N
#define N 256
#endif

static void matmul(const float *a, const float *b, float *c, int n)
{
    for (int i = 0; i < n * n; i++)
        c[i] = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            float x = a[i * n + k];
            for (int j = 0; j < n; j++)
                c[i * n + j] += x * b[k * n + j];
        }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(void)
{
    size_t n2 = (size_t)N * N;
    float *a = malloc(n2 * 4), *b = malloc(n2 * 4), *c = malloc(n2 * 4), *out = malloc(n2 * 4),
          *ab = malloc(n2 * 4), *ref = malloc(n2 * 4);
    void *ws = malloc(einc_kernel_workspace() + 64);
    if (!a || !b || !c || !out || !ab || !ref || !ws)
        return 1;
    srand(1);
    for (size_t i = 0; i < n2; i++) {
        a[i] = (float)(rand() % 7 - 3);
        b[i] = (float)(rand() % 7 - 3);
        c[i] = (float)(rand() % 7 - 3);
    }
    double te[9], tp[9];
    for (int r = 0; r < 9; r++) {
        double t0 = now();
        einc_kernel(a, b, c, out, ws);
        double t1 = now();
        matmul(a, b, ab, N);
        matmul(ab, c, ref, N);
        double t2 = now();
        te[r] = t1 - t0;
        tp[r] = t2 - t1;
    }
    qsort(te, 9, sizeof *te, cmp);
    qsort(tp, 9, sizeof *tp, cmp);
    double diff = 0;
    for (size_t i = 0; i < n2; i++) {
        double d = out[i] > ref[i] ? out[i] - ref[i] : ref[i] - out[i];
        diff = d > diff ? d : diff;
    }
    printf("N=%d  emitted %.3f ms  plain i-k-j %.3f ms  ratio %.2f  max |diff| %g\n", N,
           te[4] * 1e3, tp[4] * 1e3, te[4] / tp[4], diff);
    return diff != 0;
}
