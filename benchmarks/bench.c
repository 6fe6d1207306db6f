/*
 * bench.c — einc next to its anchors, in one run, at one thread count.
 *
 *     einc-bench [--threads N] [--reps R] [--quick] [--cpu-time] [--compile]
 *
 * Every row times einc's CPU JIT (through the public API, as an embedder uses it) and one
 * peer on the same data: OpenBLAS cblas_sgemm for contractions (cgemm for complex64; the
 * GEMMs of 16-bit floats and 8- and 16-bit integers against einc's own float32 GEMM, a
 * rate ratio), glibc memcpy and a copy loop (STREAM copy) for rearranges, a read loop
 * (STREAM read) for reductions (the loops split over as many threads as einc gets), naive
 * C and the reference interpreter where they finish in reasonable time.  einc and its peer alternate run by run, so a neighbour that
 * loads the machine for a while slows both; each figure is the median of R runs after one
 * warm-up run of each; ratios are einc / peer (higher is better for einc).  GEMM rows also
 * give each side's share of the FMA peak, measured first.  Speed is only ever measured
 * here, never asserted by a test.
 *
 * OpenBLAS 0.3.21's DYNAMIC_ARCH does not know every AVX-512 CPU by its model number (an
 * Ice Lake server's "Intel Xeon Processor" gets "Prescott", an SSE3 kernel a twentieth as
 * fast): where the CPU has AVX-512 and OpenBLAS chose a kernel without it, the benchmark
 * runs itself again with OPENBLAS_CORETYPE=SkylakeX (read when the library loads, so it
 * cannot be set later); an OPENBLAS_CORETYPE the caller set is kept.  The header names the
 * kernel in use.  torch's MKL and oneDNN are peers in benchmarks/peers.py.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "timing.h"

#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>


static int reps = 7;

/* OMP_NUM_THREADS for the emitted kernel, read by libgomp when it first starts. */
static void omp_threads(int n)
{
    char v[16];
    snprintf(v, sizeof v, "%d", n);
    setenv("OMP_NUM_THREADS", v, 0);
}

/*
 * --cpu-time: the calling thread's CPU time instead of the wall clock.  On a machine shared
 * with busy neighbours a one-thread run is descheduled for much of its wall time, and a
 * wall-clock median then measures the neighbours; the thread's own time leaves that out
 * (not the caches they evict).  Only with --threads 1, where every timed call runs on the
 * calling thread.
 */
static clockid_t timer = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec t;
    clock_gettime(timer, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*bench_fn)(void *arg);

/* Median seconds of reps runs after a warm-up. */
static double median_time(bench_fn fn, void *arg, int n)
{
    double t[64];
    if (n > 64)
        n = 64;
    fn(arg);
    for (int i = 0; i < n; i++) {
        double t0 = now();
        fn(arg);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2];
}

/* Medians of n runs of fn and of peer, alternating (after one warm-up run of each). */
static void median_pair(bench_fn fn, void *arg, bench_fn peer, void *parg, int n, double *tf, double *tp)
{
    double a[64], b[64];
    if (n > 64)
        n = 64;
    fn(arg);
    peer(parg);
    for (int i = 0; i < n; i++) {
        double t0 = now();
        fn(arg);
        double t1 = now();
        peer(parg);
        a[i] = t1 - t0;
        b[i] = now() - t1;
    }
    qsort(a, (size_t)n, sizeof *a, cmp);
    qsort(b, (size_t)n, sizeof *b, cmp);
    *tf = a[n / 2];
    *tp = b[n / 2];
}

/* ---- the machine's FMA peak ------------------------------------------------------------------ */

/*
 * GFLOP/s of one thread's multiply-adds: 16 independent chains (more than the FMA latency
 * times the units, so the units never wait) over the widest vectors the compiler targets,
 * in assembly so that no optimiser shortens them.  The inputs are zero: denormals would
 * slow the units down.
 */
static double fma_rate(long iters)
{
    double t0 = now(), n = (double)iters;     /* the loop counts iters down to 0 */
#if defined(__x86_64__) && defined(__AVX512F__)
#define FMA_LANES 16
#define F(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n\t"
    __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
                     "vpxord %%zmm0, %%zmm0, %%zmm0\n\tvmovaps %%zmm0, %%zmm1\n\tvmovaps %%zmm0, %%zmm2\n\t"
                     "vmovaps %%zmm0, %%zmm3\n\tvmovaps %%zmm0, %%zmm4\n\tvmovaps %%zmm0, %%zmm5\n\t"
                     "vmovaps %%zmm0, %%zmm6\n\tvmovaps %%zmm0, %%zmm7\n\tvmovaps %%zmm0, %%zmm8\n\t"
                     "vmovaps %%zmm0, %%zmm9\n\tvmovaps %%zmm0, %%zmm10\n\tvmovaps %%zmm0, %%zmm11\n\t"
                     "vmovaps %%zmm0, %%zmm12\n\tvmovaps %%zmm0, %%zmm13\n\tvmovaps %%zmm0, %%zmm14\n\t"
                     "vmovaps %%zmm0, %%zmm15\n\t"
                     "1:\n\t" F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13) F(14) F(15)
                     "dec %0\n\tjnz 1b\n\tvzeroupper"
                     : "+r"(iters)
                     :
                     : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm30", "xmm31");
#undef F
#elif defined(__x86_64__) && defined(__FMA__)
#define FMA_LANES 8
#define F(i) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #i "\n\t"
    __asm__ volatile("vxorps %%ymm0, %%ymm0, %%ymm0\n\tvmovaps %%ymm0, %%ymm1\n\tvmovaps %%ymm0, %%ymm2\n\t"
                     "vmovaps %%ymm0, %%ymm3\n\tvmovaps %%ymm0, %%ymm4\n\tvmovaps %%ymm0, %%ymm5\n\t"
                     "vmovaps %%ymm0, %%ymm6\n\tvmovaps %%ymm0, %%ymm7\n\tvmovaps %%ymm0, %%ymm8\n\t"
                     "vmovaps %%ymm0, %%ymm9\n\tvmovaps %%ymm0, %%ymm10\n\tvmovaps %%ymm0, %%ymm11\n\t"
                     "vmovaps %%ymm0, %%ymm12\n\tvmovaps %%ymm0, %%ymm13\n\tvmovaps %%ymm0, %%ymm14\n\t"
                     "vmovaps %%ymm0, %%ymm15\n\t"
                     "1:\n\t" F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13)
                     F(0) F(1) "dec %0\n\tjnz 1b\n\tvzeroupper"
                     : "+r"(iters)
                     :
                     : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#undef F
#else
#define FMA_LANES 0
    (void)iters;
#endif
    return 16.0 * FMA_LANES * 2 * n / (now() - t0) / 1e9;
}

typedef struct fma_arg {
    long iters;
    double rate;
} fma_arg;

static void *fma_thread(void *arg)
{
    fma_arg *f = arg;
    f->rate = fma_rate(f->iters);
    return NULL;
}

static double fma_peak;     /* GFLOP/s of all threads together, measured in main; 0: unknown */

/*
 * The best of 21 runs of a few ms on every thread at once, summed over the threads: on
 * a shared machine a median measures the neighbours, and no run can beat the hardware.
 * The median is printed next to it, as a measure of how loaded the machine was.
 */
static void measure_fma_peak(int threads)
{
    enum { MAXT = 64, RUNS = 21 };
    int t = threads < 1 ? 1 : threads > MAXT ? MAXT : threads;
    fma_arg f[MAXT];
    pthread_t th[MAXT];
    double rate[RUNS];
    long iters = 1000000;       /* 16M vector multiply-adds per thread: ~2.5 ms at 2 per cycle, 3.5 GHz */
    for (int r = 0; r < RUNS; r++) {
        for (int i = 0; i < t; i++)
            f[i] = (fma_arg){ iters, 0 };
        for (int i = 1; i < t; i++)
            pthread_create(&th[i], NULL, fma_thread, &f[i]);
        fma_thread(&f[0]);
        rate[r] = f[0].rate;
        for (int i = 1; i < t; i++) {
            pthread_join(th[i], NULL);
            rate[r] += f[i].rate;
        }
    }
    qsort(rate, RUNS, sizeof *rate, cmp);
    fma_peak = rate[RUNS - 1];
    if (fma_peak > 0)
        printf("FMA peak fp32, measured (%d-lane multiply-adds, 16 chains, %d thread%s): best %.1f GFLOP/s, "
               "median %.1f (below the best: the machine's load)\n\n", FMA_LANES, t, t == 1 ? "" : "s", fma_peak, rate[RUNS / 2]);
}

/* 64-byte aligned, as PyTorch's tensors are (a large transposed output is streamed whole lines) */
static float *buf(size_t n)
{
    return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
}

static float *randf(size_t n)
{
    float *p = buf(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* ---- einc through the API ---------------------------------------------------------------- */

typedef struct erun {
    einc_kernel *k;
    int n;
    einc_tensor in[3];
    einc_tensor out;
} erun;

static void run_einc(void *arg)
{
    erun *r = arg;
    einc_error e;
    if (einc_kernel_run(r->k, r->n, r->in, &r->out, &e)) {
        fprintf(stderr, "einc-bench: %s\n", e.message);
        exit(1);
    }
}

static einc_kernel *compile(einc_ctx *ctx, const char *expr, einc_target t)
{
    einc_kernel *k = NULL;
    einc_error e;
    einc_options o = { .target = t };
    if (einc_compile(ctx, expr, &o, &k, &e)) {
        fprintf(stderr, "einc-bench: %s: %s\n", expr, e.message);
        exit(1);
    }
    return k;
}

/* ---- peers ------------------------------------------------------------------------------------- */

typedef struct gemm_args {
    int batch, m, n, k, transb;
    const float *a, *b;
    float *c;
} gemm_args;

static void run_sgemm(void *arg)
{
    gemm_args *g = arg;
    for (int i = 0; i < g->batch; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, g->transb ? CblasTrans : CblasNoTrans, g->m, g->n,
                    g->k, 1.0f, g->a + (size_t)i * g->m * g->k, g->k,
                    g->b + (size_t)i * g->k * g->n, g->transb ? g->k : g->n, 0.0f,
                    g->c + (size_t)i * g->m * g->n, g->n);
}

static void run_naive_ikj(void *arg)
{
    gemm_args *g = arg;
    memset(g->c, 0, sizeof(float) * (size_t)g->m * g->n);
    for (int i = 0; i < g->m; i++)
        for (int k = 0; k < g->k; k++) {
            float a = g->a[(size_t)i * g->k + k];
            for (int j = 0; j < g->n; j++)
                g->c[(size_t)i * g->n + j] += a * g->b[(size_t)k * g->n + j];
        }
}

typedef struct mem_args {
    const float *src;
    float *dst;
    size_t n;
    double sum;
} mem_args;

static int peer_threads = 1;    /* --threads: the copy and read loops split their range too */

/* fn over [0, m->n) in peer_threads equal parts, each on its own thread; partial sums add up */
static void split_run(void *(*fn)(void *), mem_args *m)
{
    enum { MAXT = 64 };
    int t = peer_threads < 1 ? 1 : peer_threads > MAXT ? MAXT : peer_threads;
    mem_args part[MAXT];
    pthread_t th[MAXT];
    size_t step = (m->n / (size_t)t + 15) / 16 * 16;
    for (int i = 0; i < t; i++) {
        size_t lo = step * (size_t)i < m->n ? step * (size_t)i : m->n;
        size_t hi = lo + step < m->n ? lo + step : m->n;
        part[i] = (mem_args){ m->src + lo, m->dst ? m->dst + lo : NULL, hi - lo, 0 };
    }
    for (int i = 1; i < t; i++)
        pthread_create(&th[i], NULL, fn, &part[i]);
    fn(&part[0]);
    m->sum = part[0].sum;
    for (int i = 1; i < t; i++) {
        pthread_join(th[i], NULL);
        m->sum += part[i].sum;
    }
}

static void *copy_part(void *arg)
{
    mem_args *m = arg;
    for (size_t i = 0; i < m->n; i++)
        m->dst[i] = m->src[i];
    return NULL;
}

static void *read_part(void *arg)
{
    /* 16 independent partial sums: vectorizes without reassociating anything */
    mem_args *m = arg;
    float acc[16] = { 0 };
    size_t i = 0;
    for (; i + 16 <= m->n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += m->src[i + (size_t)j];
    for (; i < m->n; i++)
        acc[0] += m->src[i];
    double s = 0;
    for (int j = 0; j < 16; j++)
        s += acc[j];
    m->sum = s;
    return NULL;
}

static void run_copy(void *arg) { split_run(copy_part, arg); }
static void run_read(void *arg) { split_run(read_part, arg); }

/* ---- the table ------------------------------------------------------------------------------- */

static void row(const char *what, const char *unit, double einc, const char *peer, double other)
{
    printf("| %-44s | %9.1f %-7s | %-26s | %9.1f | %6.2f |", what, einc, unit, peer, other,
           other > 0 ? einc / other : 0);
    if (fma_peak > 0 && !strcmp(unit, "GFLOP/s"))
        printf(" %5.0f%% | %5.0f%% |\n", 100 * einc / fma_peak, 100 * other / fma_peak);
    else
        printf("        |        |\n");
}

static void run_cgemm(void *arg)
{
    gemm_args *g = arg;
    static const float one[2] = { 1, 0 }, zero[2] = { 0, 0 };
    cblas_cgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k, one, g->a, g->k, g->b, g->n,
                zero, g->c, g->n);
}

/* the names of --dtype= (README), as the table has always spelled float32's rows */
static const char *dtype_short(einc_dtype t)
{
    switch (t) {
    case EINC_I8: return "i8";
    case EINC_U8: return "u8";
    case EINC_I16: return "i16";
    case EINC_U16: return "u16";
    case EINC_F16: return "f16";
    case EINC_BF16: return "bf16";
    case EINC_C64: return "c64";
    default: return "f32";
    }
}

static size_t elem_bytes(einc_dtype t)
{
    switch (t) {
    case EINC_I8: case EINC_U8: return 1;
    case EINC_I16: case EINC_U16: case EINC_F16: case EINC_BF16: return 2;
    case EINC_C64: return 8;
    default: return 4;      /* float32 */
    }
}

/* n elements of t: randf's floats (complex: pairs of them), as bfloat16 their top 16 bits,
   as float16 truncated (all are below 1 in magnitude), integers any bits */
static void *randt(einc_dtype t, size_t n)
{
    if (t == EINC_F32 || t == EINC_C64)
        return randf(t == EINC_C64 ? 2 * n : n);
    char *p = aligned_alloc(64, (n * elem_bytes(t) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)(i * 2654435761u);
        float f = (float)(h % 1000) / 1000.0f - 0.5f;
        uint32_t u;
        memcpy(&u, &f, 4);
        switch (t) {
        case EINC_BF16: ((uint16_t *)p)[i] = (uint16_t)(u >> 16); break;
        case EINC_F16: {    /* truncated; |f| < 2^-14 (a subnormal) flushes to zero */
            int e = (int)(u >> 23 & 0xff) - 127 + 15;
            ((uint16_t *)p)[i] = (uint16_t)((u >> 16 & 0x8000) | (e > 0 ? (uint32_t)e << 10 | (u >> 13 & 0x3ff) : 0));
            break;
        }
        case EINC_I16: case EINC_U16: ((uint16_t *)p)[i] = (uint16_t)(h >> 7); break;
        case EINC_I8: case EINC_U8: ((uint8_t *)p)[i] = (uint8_t)(h >> 7); break;
        default: break;
        }
    }
    return p;
}

/*
 * 'ik,kj->ij' n^3 in one dtype: float32 against OpenBLAS sgemm (and naive C), complex64
 * against cgemm (issue #21's target: 0.8x; 8 real FLOPs a term), and the 16-bit floats
 * and 8- and 16-bit integers against einc's own float32 GEMM of the same size in the same
 * run (issue #21: float16 and bfloat16 at 0.7x of its rate).  An integer multiply-add
 * counts as 2 operations, in GOP/s, not set against the float peak.  numpy's einsum, the
 * integers' peer in issue #21, is in peers.py.
 */
static void bench_matmul(einc_ctx *ctx, int n, einc_dtype t, int naive)
{
    char what[96];
    size_t nn = (size_t)n * n;
    void *a = randt(t, nn), *b = randt(t, nn), *c = aligned_alloc(64, (nn * elem_bytes(t) + 63) / 64 * 64);
    int64_t s[2] = { n, n };
    erun r = { compile(ctx, "ik,kj->ij", EINC_TARGET_CPU), 2, { { t, 2, s, NULL, a }, { t, 2, s, NULL, b } },
               { t, 2, s, NULL, c } };
    int integer = t != EINC_F32 && t != EINC_C64 && t != EINC_F16 && t != EINC_BF16;
    const char *unit = integer ? "GOP/s" : "GFLOP/s";
    double flop = (t == EINC_C64 ? 8.0 : 2.0) * n * (double)n * n;
    double te, tp;
    snprintf(what, sizeof what, "'ik,kj->ij' %d^3 %s", n, dtype_short(t));
    if (t == EINC_F32 || t == EINC_C64) {
        gemm_args g = { 1, n, n, n, 0, a, b, c };
        median_pair(run_einc, &r, t == EINC_C64 ? run_cgemm : run_sgemm, &g, reps, &te, &tp);
        row(what, unit, flop / te / 1e9, t == EINC_C64 ? "OpenBLAS cgemm" : "OpenBLAS sgemm", flop / tp / 1e9);
        if (naive && t == EINC_F32) {
            double tn = median_time(run_naive_ikj, &g, 1);
            row(what, unit, flop / te / 1e9, "naive C (i-k-j)", flop / tn / 1e9);
        }
    } else {
        float *fa = randf(nn), *fb = randf(nn), *fc = buf(nn);
        erun f = { compile(ctx, "ik,kj->ij", EINC_TARGET_CPU), 2,
                   { { EINC_F32, 2, s, NULL, fa }, { EINC_F32, 2, s, NULL, fb } }, { EINC_F32, 2, s, NULL, fc } };
        median_pair(run_einc, &r, run_einc, &f, reps, &te, &tp);
        row(what, unit, flop / te / 1e9, "einc float32, same size", 2.0 * n * (double)n * n / tp / 1e9);
        einc_kernel_free(f.k);
        free(fa);
        free(fb);
        free(fc);
    }
    einc_kernel_free(r.k);
    free(a);
    free(b);
    free(c);
}

static void bench_batched(einc_ctx *ctx)
{
    int B = 32, n = 256;
    float *a = randf((size_t)B * n * n), *b = randf((size_t)B * n * n), *c = buf((size_t)B * n * n);
    int64_t s[3] = { B, n, n };
    erun r = { compile(ctx, "bij,bjk->bik", EINC_TARGET_CPU), 2,
               { { EINC_F32, 3, s, NULL, a }, { EINC_F32, 3, s, NULL, b } }, { EINC_F32, 3, s, NULL, c } };
    gemm_args g = { B, n, n, n, 0, a, b, c };
    double flop = 2.0 * B * n * (double)n * n;
    double te, tb;
    median_pair(run_einc, &r, run_sgemm, &g, reps, &te, &tb);
    row("'bij,bjk->bik' 32x256^3 f32", "GFLOP/s", flop / te / 1e9, "OpenBLAS sgemm x32", flop / tb / 1e9);
    einc_kernel_free(r.k);
    free(a);
    free(b);
    free(c);

    /* attention scores: q k^T per (batch, head) */
    int Bb = 8, H = 12, Ni = 512, D = 64;
    float *q = randf((size_t)Bb * H * Ni * D), *kk = randf((size_t)Bb * H * Ni * D);
    float *o = buf((size_t)Bb * H * Ni * Ni);
    int64_t sq[4] = { Bb, H, Ni, D }, so[4] = { Bb, H, Ni, Ni };
    erun r2 = { compile(ctx, "bhid,bhjd->bhij", EINC_TARGET_CPU), 2,
                { { EINC_F32, 4, sq, NULL, q }, { EINC_F32, 4, sq, NULL, kk } }, { EINC_F32, 4, so, NULL, o } };
    gemm_args g2 = { Bb * H, Ni, Ni, D, 1, q, kk, o };
    flop = 2.0 * Bb * H * Ni * (double)Ni * D;
    median_pair(run_einc, &r2, run_sgemm, &g2, reps, &te, &tb);
    row("'bhid,bhjd->bhij' (8,12,512,64) f32", "GFLOP/s", flop / te / 1e9, "OpenBLAS sgemm^T x96", flop / tb / 1e9);
    einc_kernel_free(r2.k);
    free(q);
    free(kk);
    free(o);
}

static void run_memcpy(void *arg)
{
    mem_args *m = arg;
    memcpy(m->dst, m->src, m->n * sizeof *m->src);
}

/*
 * The rearranges on buffers from malloc, as numpy's and most callers' arrays are: glibc
 * maps a large block and returns it 16 bytes past a page boundary.  The peer is glibc
 * memcpy of as many bytes between the same buffers (its stores stream past the cache at
 * this size), on one thread whatever --threads says.  x: 64 MiB of data to copy from.
 */
static void malloc_rearranges(einc_ctx *ctx, const float *x)
{
    size_t n = 64 * 64 * 64 * 64;
    float *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    if (!in || !out) {
        fprintf(stderr, "einc-bench: out of memory\n");
        exit(1);
    }
    memcpy(in, x, n * sizeof *in);
    mem_args m = { in, out, n, 0 };
    double bytes = 2.0 * (double)n * sizeof(float), te, tc;
    char peer[64];
    snprintf(peer, sizeof peer, "memcpy, 1 thread (+%zu,+%zu)", (size_t)((uintptr_t)in % 4096),
             (size_t)((uintptr_t)out % 4096));
    int64_t s4[4] = { 64, 64, 64, 64 };
    erun r = { compile(ctx, "abcd->dcba", EINC_TARGET_CPU), 1, { { EINC_F32, 4, s4, NULL, in } }, { EINC_F32, 4, s4, NULL, out } };
    median_pair(run_einc, &r, run_memcpy, &m, reps, &te, &tc);
    row("'abcd->dcba' 64^4 f32, malloc'ed (64 MiB)", "GB/s", bytes / te / 1e9, peer, bytes / tc / 1e9);
    einc_kernel_free(r.k);
    int64_t sc[4] = { 32, 128, 64, 64 }, sd[4] = { 32, 64, 64, 128 };
    erun r2 = { compile(ctx, "b c h w -> b h w c", EINC_TARGET_CPU), 1, { { EINC_F32, 4, sc, NULL, in } }, { EINC_F32, 4, sd, NULL, out } };
    median_pair(run_einc, &r2, run_memcpy, &m, reps, &te, &tc);
    row("'b c h w -> b h w c' 32x128x64x64, malloc'ed", "GB/s", bytes / te / 1e9, peer, bytes / tc / 1e9);
    einc_kernel_free(r2.k);
    free(in);
    free(out);
}

static void bench_memory(einc_ctx *ctx)
{
    /* 'abcd->dcba' and 'b c h w -> b h w c' over 64 MiB, against a copy of the same bytes */
    int64_t s4[4] = { 64, 64, 64, 64 }, r4[4] = { 64, 64, 64, 64 };
    size_t n = 64 * 64 * 64 * 64;
    float *x = randf(n), *y = buf(n + 16);
    mem_args m = { x, y, n, 0 };
    double tc = median_time(run_copy, &m, reps);
    double bytes = 2.0 * (double)n * sizeof(float);
    erun r = { compile(ctx, "abcd->dcba", EINC_TARGET_CPU), 1, { { EINC_F32, 4, s4, NULL, x } }, { EINC_F32, 4, r4, NULL, y } };
    double te = median_time(run_einc, &r, reps);
    row("'abcd->dcba' 64^4 f32 (64 MiB)", "GB/s", bytes / te / 1e9, "copy loop (STREAM copy)", bytes / tc / 1e9);
    /*
     * The same with the output 16 bytes past a line, where numpy's large arrays start: each
     * 256-byte row then shares a line with the next, written whole by the next row's first
     * square.  And 60^4, whose 240-byte rows start at every offset.  Both are 4 KiB pages
     * here (aligned_alloc); numpy's arrays get huge pages (madvise), which helps these.
     */
    r.out.data = y + 4;
    te = median_time(run_einc, &r, reps);
    row("  the same, output 16 B past a line", "GB/s", bytes / te / 1e9, "copy loop (STREAM copy)", bytes / tc / 1e9);
    int64_t s60[4] = { 60, 60, 60, 60 };
    double b60 = 2.0 * 60 * 60 * 60 * 60 * sizeof(float);
    r.in[0].shape = s60;
    r.out.shape = s60;
    r.out.data = y;
    te = median_time(run_einc, &r, reps);
    row("'abcd->dcba' 60^4 f32 (rows of 240 B)", "GB/s", b60 / te / 1e9, "copy loop (STREAM copy)", bytes / tc / 1e9);
    einc_kernel_free(r.k);
    int64_t sc[4] = { 32, 128, 64, 64 }, sd[4] = { 32, 64, 64, 128 };
    erun r2 = { compile(ctx, "b c h w -> b h w c", EINC_TARGET_CPU), 1, { { EINC_F32, 4, sc, NULL, x } }, { EINC_F32, 4, sd, NULL, y } };
    te = median_time(run_einc, &r2, reps);
    row("'b c h w -> b h w c' 32x128x64x64 f32", "GB/s", bytes / te / 1e9, "copy loop (STREAM copy)", bytes / tc / 1e9);
    /* images of 3 channels (18 MiB), to pixels of 3 and back, against a copy of as many bytes */
    int64_t si[4] = { 32, 3, 224, 224 }, sp[4] = { 32, 224, 224, 3 };
    mem_args mi = { x, y, 32 * 3 * 224 * 224, 0 };
    double bi = 2.0 * (double)mi.n * sizeof(float), ti = median_time(run_copy, &mi, reps);
    r2.out.shape = sp;
    r2.in[0].shape = si;
    te = median_time(run_einc, &r2, reps);
    row("  32x3x224x224: 3 channels, woven", "GB/s", bi / te / 1e9, "copy loop (STREAM copy)", bi / ti / 1e9);
    einc_kernel_free(r2.k);
    erun r5 = { compile(ctx, "b h w c -> b c h w", EINC_TARGET_CPU), 1, { { EINC_F32, 4, sp, NULL, x } }, { EINC_F32, 4, si, NULL, y } };
    te = median_time(run_einc, &r5, reps);
    row("'b h w c -> b c h w' 32x224x224x3 f32", "GB/s", bi / te / 1e9, "copy loop (STREAM copy)", bi / ti / 1e9);
    einc_kernel_free(r5.k);

    malloc_rearranges(ctx, x);

    int64_t s2[2] = { 4096, 4096 };
    float out;
    int64_t none[1] = { 0 };
    (void)none;
    erun r3 = { compile(ctx, "ij->", EINC_TARGET_CPU), 1, { { EINC_F32, 2, s2, NULL, x } }, { EINC_F32, 0, NULL, NULL, &out } };
    mem_args m2 = { x, NULL, 4096 * 4096, 0 };
    double tr = median_time(run_read, &m2, reps);
    te = median_time(run_einc, &r3, reps);
    double rb = 4096.0 * 4096 * sizeof(float);
    row("'ij->' 4096^2 f32 (64 MiB)", "GB/s", rb / te / 1e9, "read loop (STREAM read)", rb / tr / 1e9);
    einc_kernel_free(r3.k);
    free(x);
    free(y);
}

/* ---- models (.einl) ------------------------------------------------------------------------- */

typedef struct mrun {
    einc_kernel *k;
    int n;
    einc_tensor in[8];
    einc_tensor out;
} mrun;

static void run_model(void *arg)
{
    mrun *r = arg;
    einc_error e;
    if (einc_kernel_run(r->k, r->n, r->in, &r->out, &e)) {
        fprintf(stderr, "einc-bench: %s\n", e.message);
        exit(1);
    }
}

static einc_kernel *compile_model(einc_ctx *ctx, const char *src)
{
    einc_kernel *k = NULL;
    einc_error e;
    einc_options o = { .target = EINC_TARGET_CPU };
    if (einc_compile_model(ctx, src, &o, &k, &e)) {
        fprintf(stderr, "einc-bench: model: %s\n", e.message);
        exit(1);
    }
    return k;
}

static const char resblock[] =
    "input x: f32[N, 64, H, W]\nparam w: f32[64, 64, 3, 3]\nparam mean: f32[64]\n"
    "param var: f32[64]\nparam gamma: f32[64]\nparam beta: f32[64]\n"
    "y = batchnorm2d(conv2d(x, w, padding=1), mean, var, gamma, beta)\n"
    "return x + relu(y)\n";
static const char conv_only[] =
    "input x: f32[N, 64, H, W]\nparam w: f32[64, 64, 3, 3]\nreturn conv2d(x, w, padding=1)\n";

static void bench_models(einc_ctx *ctx)
{
    int64_t xs[4] = { 8, 64, 56, 56 }, ws[4] = { 64, 64, 3, 3 }, cs[1] = { 64 };
    size_t nx = 8 * 64 * 56 * 56;
    float *x = randf(nx), *w = randf(64 * 64 * 9), *y = buf(nx), *v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = randf(64);
        for (int j = 0; j < 64 && i == 1; j++)
            v[i][j] = v[i][j] * v[i][j] + 0.5f;      /* a variance */
    }
    mrun r = { compile_model(ctx, resblock), 6, { { EINC_F32, 4, xs, NULL, x }, { EINC_F32, 4, ws, NULL, w } },
               { EINC_F32, 4, xs, NULL, y } };
    for (int i = 0; i < 4; i++)
        r.in[2 + i] = (einc_tensor){ EINC_F32, 1, cs, NULL, v[i] };
    mrun c = { compile_model(ctx, conv_only), 2, { r.in[0], r.in[1] }, { EINC_F32, 4, xs, NULL, y } };
    double flops = 2.0 * 8 * 64 * 56 * 56 * 64 * 9;
    double tb = median_time(run_model, &r, reps), tc = median_time(run_model, &c, reps);
    row("resblock.einl (8,64,56,56): conv-bn-relu-add", "GFLOP/s", flops / tb / 1e9, "its conv2d alone", flops / tc / 1e9);
    printf("|   (time: block %.2f ms, conv2d alone %.2f ms: the block takes %.2fx the conv's time)\n",
           tb * 1e3, tc * 1e3, tb / tc);
    einc_kernel_free(r.k);
    einc_kernel_free(c.k);

    /* row-wise softmax and layernorm over (4096, 1024): read once, written once */
    int64_t rs[2] = { 4096, 1024 }, ls[1] = { 1024 };
    size_t n = 4096 * 1024;
    float *a = randf(n), *b = buf(n), *g = randf(1024), *be = randf(1024);
    mem_args m = { a, b, n, 0 };
    double tcp = median_time(run_copy, &m, reps), bytes = 2.0 * (double)n * sizeof(float);
    static const char *const src[2] = {
        "input x: f32[R, C]\nreturn softmax(x, dim=-1)\n",
        "input x: f32[R, C]\nparam g: f32[C]\nparam b: f32[C]\nreturn layernorm(x, g, b)\n",
    };
    static const char *const what[2] = { "softmax (4096, 1024) f32, dim=-1", "layernorm (4096, 1024) f32, affine" };
    for (int i = 0; i < 2; i++) {
        mrun s = { compile_model(ctx, src[i]), i ? 3 : 1,
                   { { EINC_F32, 2, rs, NULL, a }, { EINC_F32, 1, ls, NULL, g }, { EINC_F32, 1, ls, NULL, be } },
                   { EINC_F32, 2, rs, NULL, b } };
        double t = median_time(run_model, &s, reps);
        row(what[i], "GB/s", bytes / t / 1e9, "copy loop (STREAM copy)", bytes / tcp / 1e9);
        einc_kernel_free(s.k);
    }
    free(a);
    free(b);
    free(g);
    free(be);
    free(x);
    free(w);
    free(y);
    for (int i = 0; i < 4; i++)
        free(v[i]);
}

/* Every benchmark expression again, smaller, against the reference interpreter. */
typedef struct icase {
    const char *expr;
    int nin;
    int ndim[2];
    int64_t shape[2][4];
    int ondim;
    int64_t oshape[4];
} icase;

static void bench_interp(einc_ctx *ctx)
{
    static const icase cases[] = {
        { "ik,kj->ij", 2, { 2, 2 }, { { 256, 256 }, { 256, 256 } }, 2, { 256, 256 } },
        { "bij,bjk->bik", 2, { 3, 3 }, { { 4, 256, 256 }, { 4, 256, 256 } }, 3, { 4, 256, 256 } },
        { "bhid,bhjd->bhij", 2, { 4, 4 }, { { 1, 2, 256, 64 }, { 1, 2, 256, 64 } }, 4, { 1, 2, 256, 256 } },
        { "abcd->dcba", 1, { 4 }, { { 256, 16, 16, 256 } }, 4, { 256, 16, 16, 256 } },
        { "b c h w -> b h w c", 1, { 4 }, { { 4, 256, 32, 32 } }, 4, { 4, 32, 32, 256 } },
        { "ij->", 1, { 2 }, { { 2048, 2048 } }, 0, { 0 } },
    };
    printf("\nJIT against the reference interpreter (one interpreter run each):\n\n");
    printf("| %-44s | %12s | %12s | %8s |\n", "case", "JIT ms", "interp ms", "speedup");
    printf("|----------------------------------------------|--------------|--------------|----------|\n");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const icase *ic = &cases[c];
        erun rj = { compile(ctx, ic->expr, EINC_TARGET_CPU), ic->nin, { { 0 } }, { 0 } };
        void *bufs[3];
        for (int i = 0; i < ic->nin; i++) {
            size_t n = 1;
            for (int d = 0; d < ic->ndim[i]; d++)
                n *= (size_t)ic->shape[i][d];
            bufs[i] = randf(n);
            rj.in[i] = (einc_tensor){ EINC_F32, ic->ndim[i], ic->shape[i], NULL, bufs[i] };
        }
        size_t on = 1;
        for (int d = 0; d < ic->ondim; d++)
            on *= (size_t)ic->oshape[d];
        bufs[2] = buf(on);
        rj.out = (einc_tensor){ EINC_F32, ic->ondim, ic->oshape, NULL, bufs[2] };
        erun ri = rj;
        ri.k = compile(ctx, ic->expr, EINC_TARGET_INTERP);
        double tj = median_time(run_einc, &rj, reps), ti = median_time(run_einc, &ri, 1);
        char what[96];
        snprintf(what, sizeof what, "'%s'", ic->expr);
        printf("| %-44s | %12.3f | %12.1f | %7.0fx |\n", what, tj * 1e3, ti * 1e3, ti / tj);
        einc_kernel_free(rj.k);
        einc_kernel_free(ri.k);
        for (int i = 0; i < ic->nin; i++)
            free(bufs[i]);
        free(bufs[2]);
    }
}

/* The emitted C of the same matmul, compiled as a user would: cc -O3 -march=native -fopenmp. */
static void bench_emitted(einc_ctx *ctx, int n, int threads)
{
    einc_kernel *k = compile(ctx, "ik,kj->ij", EINC_TARGET_CPU);
    char *src = einc_kernel_emit(k, EINC_EMIT_C, "mm", EINC_F32, NULL, NULL);
    char dir[] = "/tmp/einc-bench-XXXXXX", path[128], so[128], cmd[512];
    if (!src || !mkdtemp(dir)) {
        fprintf(stderr, "einc-bench: cannot emit C\n");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/mm.c", dir);
    snprintf(so, sizeof so, "%s/mm.so", dir);
    FILE *f = fopen(path, "w");
    fputs(src, f);
    fclose(f);
    free(src);
    snprintf(cmd, sizeof cmd, "cc -O3 -march=native -fopenmp -fPIC -shared -o %s %s", so, path);
    if (system(cmd) != 0) {
        printf("(no C compiler: the emitted-C row is skipped)\n");
        einc_kernel_free(k);
        return;
    }
    omp_threads(threads);       /* before dlopen: libgomp reads OMP_NUM_THREADS when it loads */
    void *h = dlopen(so, RTLD_NOW | RTLD_NODELETE);
    void (*mm)(const float *, const float *, float *, int64_t, int64_t, int64_t);
    *(void **)&mm = h ? dlsym(h, "mm") : NULL;
    if (!mm) {
        fprintf(stderr, "einc-bench: cannot load the emitted kernel\n");
        exit(1);
    }
    float *a = randf((size_t)n * n), *b = randf((size_t)n * n), *c = buf((size_t)n * n);
    int64_t s[2] = { n, n };
    erun r = { k, 2, { { EINC_F32, 2, s, NULL, a }, { EINC_F32, 2, s, NULL, b } }, { EINC_F32, 2, s, NULL, c } };
    double te = median_time(run_einc, &r, reps);
    double t[64];
    int nr = reps < 64 ? reps : 64;
    mm(a, b, c, n, n, n);
    for (int i = 0; i < nr; i++) {
        double t0 = now();
        mm(a, b, c, n, n, n);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)nr, sizeof *t, cmp);
    double flop = 2.0 * n * (double)n * n;
    char what[96];
    snprintf(what, sizeof what, "'ik,kj->ij' %d^3 f32", n);
    row(what, "GFLOP/s", flop / te / 1e9, "emitted C, cc -O3 -fopenmp", flop / t[nr / 2] / 1e9);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "einc-bench: could not remove %s\n", dir);
    einc_kernel_free(k);
    free(a);
    free(b);
    free(c);
}

/* One kernel of the cold-compile table: an expression or a model, run once on tiny arrays. */
typedef struct ccase {
    const char *what, *src;     /* src: an expression, or a model when what names one */
    int model, nin;
    int ndim[6];
    int64_t shape[6][4];
    int ondim;
    int64_t oshape[4];
} ccase;

/* Seconds to compile c in a fresh context and run it once (LLVM runs then); *tm gets
   where the time went. */
static double cold_once(const ccase *c, float *data, float *out, einc_timings *tm)
{
    /* without the disk cache, where a kernel compiled before would load */
    einc_ctx *ctx = einc_ctx_new_with(&(einc_ctx_options){ .disk_cache = -1 });
    einc_tensor in[6], o = { EINC_F32, c->ondim, c->oshape, NULL, out };
    for (int i = 0; i < c->nin; i++)
        in[i] = (einc_tensor){ EINC_F32, c->ndim[i], c->shape[i], NULL, data };
    *tm = (einc_timings){ 0 };
    einc_timing = tm;
    double t0 = now();
    einc_kernel *k = c->model ? compile_model(ctx, c->src) : compile(ctx, c->src, EINC_TARGET_CPU);
    einc_error e;
    if (einc_kernel_run(k, c->nin, in, &o, &e)) {
        fprintf(stderr, "einc-bench: %s: %s\n", c->what, e.message);
        exit(1);
    }
    double t = now() - t0;
    einc_timing = NULL;
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return t;
}

static void bench_compile(void)
{
    /* each benchmark's kernel: a cold compile (fresh context: LLVM runs) on tiny arrays */
    static const ccase cases[] = {
        { "'ik,kj->ij'", "ik,kj->ij", 0, 2, { 2, 2 }, { { 2, 2 }, { 2, 2 } }, 2, { 2, 2 } },
        { "'bij,bjk->bik'", "bij,bjk->bik", 0, 2, { 3, 3 }, { { 2, 2, 2 }, { 2, 2, 2 } }, 3, { 2, 2, 2 } },
        { "'bhid,bhjd->bhij'", "bhid,bhjd->bhij", 0, 2, { 4, 4 }, { { 2, 2, 2, 2 }, { 2, 2, 2, 2 } }, 4, { 2, 2, 2, 2 } },
        { "'abcd->dcba'", "abcd->dcba", 0, 1, { 4 }, { { 2, 2, 2, 2 } }, 4, { 2, 2, 2, 2 } },
        { "'b c h w -> b h w c'", "b c h w -> b h w c", 0, 1, { 4 }, { { 2, 2, 2, 2 } }, 4, { 2, 2, 2, 2 } },
        { "'b h w c -> b c h w'", "b h w c -> b c h w", 0, 1, { 4 }, { { 2, 2, 2, 2 } }, 4, { 2, 2, 2, 2 } },
        { "'ij->'", "ij->", 0, 1, { 2 }, { { 2, 2 } }, 0, { 0 } },
        { "resblock.einl", resblock, 1, 6, { 4, 4, 1, 1, 1, 1 },
          { { 1, 64, 2, 2 }, { 64, 64, 3, 3 }, { 64 }, { 64 }, { 64 }, { 64 } }, 4, { 1, 64, 2, 2 } },
        { "softmax", "input x: f32[R, C]\nreturn softmax(x, dim=-1)\n", 1, 1, { 2 }, { { 2, 2 } }, 2, { 2, 2 } },
        { "layernorm", "input x: f32[R, C]\nparam g: f32[C]\nparam b: f32[C]\nreturn layernorm(x, g, b)\n", 1, 3,
          { 2, 1, 1 }, { { 2, 2 }, { 2 }, { 2 } }, 2, { 2, 2 } },
    };
    int n = reps < 16 ? reps : 16;
    float *data = randf(64 * 64 * 9), *out = buf(64 * 64 * 9);
    printf("\ncold JIT compile of each kernel (fresh context, first run on tiny arrays), median of %d;\n"
           "then the median ms of each phase (runtime/timing.h):\n\n", n);
    printf("| %-24s | %6s | %6s |", "kernel", "ms", "min ms");
    static const einc_phase shown[] = { PH_PARSE, PH_BIND, PH_PATH, PH_LOWER, PH_JIT_START,
                                        PH_IR, PH_OPT, PH_MC, PH_LINK, PH_RUN };
    enum { NSHOWN = sizeof shown / sizeof *shown };
    static const char *const head[NSHOWN] = { "parse", "bind", "path", "lower", "jit", "IR",
                                              "passes", "mc", "link", "run" };
    for (int p = 0; p < NSHOWN; p++)
        printf(" %6s |", head[p]);
    printf("\n|--------------------------|--------|--------|");
    for (int p = 0; p < NSHOWN; p++)
        printf("--------|");
    printf("\n");
    double all[sizeof cases / sizeof *cases];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double t[16], ph[NSHOWN][16];
        for (int i = 0; i < n; i++) {
            einc_timings tm;
            t[i] = cold_once(&cases[c], data, out, &tm);
            for (int p = 0; p < NSHOWN; p++)
                ph[p][i] = (double)tm.ns[shown[p]] * 1e-6;
        }
        qsort(t, (size_t)n, sizeof *t, cmp);
        all[c] = t[n / 2];
        printf("| %-24s | %6.1f | %6.1f |", cases[c].what, t[n / 2] * 1e3, t[0] * 1e3);
        for (int p = 0; p < NSHOWN; p++) {
            qsort(ph[p], (size_t)n, sizeof *ph[p], cmp);
            printf(" %6.2f |", ph[p][n / 2]);
        }
        printf("\n");
    }
    qsort(all, sizeof cases / sizeof *cases, sizeof *all, cmp);
    printf("\nmedian cold compile over the kernels: %.1f ms\n", all[sizeof cases / sizeof *cases / 2] * 1e3);
    /* a cache hit: the same signature again in a warm context */
    einc_ctx *ctx = einc_ctx_new();
    int64_t s[2] = { 2, 2 };
    erun r = { compile(ctx, "ik,kj->ij", EINC_TARGET_CPU), 2,
               { { EINC_F32, 2, s, NULL, data }, { EINC_F32, 2, s, NULL, data } }, { EINC_F32, 2, s, NULL, out } };
    run_einc(&r);
    double hit[16];
    for (int i = 0; i < n; i++) {
        double t0 = now();
        for (int j = 0; j < 100; j++) {
            erun r2 = r;
            r2.k = compile(ctx, "ik,kj->ij", EINC_TARGET_CPU);
            run_einc(&r2);
            einc_kernel_free(r2.k);
        }
        hit[i] = (now() - t0) / 100;
    }
    qsort(hit, (size_t)n, sizeof *hit, cmp);
    printf("\ncache hit (compile + bind + run of 'ik,kj->ij', 2x2): median %.2f us\n", hit[n / 2] * 1e6);
    einc_kernel_free(r.k);
    einc_ctx_free(ctx);
    free(data);
    free(out);
}

/*
 * Runs this program again with OPENBLAS_CORETYPE=SkylakeX where the CPU has AVX-512 and
 * OpenBLAS chose a kernel without it (the header comment says why).
 */
static void openblas_core(char **argv)
{
#if defined(__x86_64__)
    const char *core = openblas_get_corename();
    if (getenv("OPENBLAS_CORETYPE") || !__builtin_cpu_supports("avx512f") || !core)
        return;
    static const char *const avx512[] = { "skylakex", "cooperlake", "sapphirerapids" };
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (!strcasecmp(core, avx512[i]))
            return;
    fprintf(stderr, "einc-bench: OpenBLAS chose its %s kernel on a CPU with AVX-512: running again with "
            "OPENBLAS_CORETYPE=SkylakeX\n", core);
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "einc-bench: could not run again; OpenBLAS's figures are its %s kernel's\n", core);
#else
    (void)argv;
#endif
}

int main(int argc, char **argv)
{
    int threads = 1;
    int quick = 0, only_compile = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--cpu-time"))
            timer = CLOCK_THREAD_CPUTIME_ID;
        else if (!strcmp(argv[i], "--compile"))
            only_compile = 1;
        else {
            fprintf(stderr, "usage: einc-bench [--threads N] [--reps R] [--quick] [--cpu-time] [--compile]\n");
            return 2;
        }
    }
    if (timer != CLOCK_MONOTONIC && threads != 1) {
        fprintf(stderr, "einc-bench: --cpu-time needs --threads 1\n");
        return 2;
    }
    openblas_core(argv);
    char env[32];
    snprintf(env, sizeof env, "%d", threads);
    setenv("EINC_NUM_THREADS", env, 1);
    openblas_set_num_threads(threads);
    peer_threads = threads;
    if (only_compile) {
        bench_compile();
        return 0;
    }
    einc_ctx *ctx = einc_ctx_new();
    printf("einc %s, %d thread%s, median of %d runs (%s), einc and its peer alternating; OpenBLAS kernel: %s%s\n\n",
           einc_version(), threads, threads == 1 ? "" : "s", reps, timer == CLOCK_MONOTONIC ? "wall clock" : "thread CPU time",
           openblas_get_corename(), getenv("OPENBLAS_CORETYPE") ? " (OPENBLAS_CORETYPE)" : "");
    double load[1] = { -1 };
    if (getloadavg(load, 1) == 1)
        printf("load average (1 min) at the start: %.2f on %ld CPUs\n", load[0], sysconf(_SC_NPROCESSORS_ONLN));
    measure_fma_peak(threads);
    printf("| %-44s | %-17s | %-26s | %9s | %6s | %6s | %6s |\n", "case", "einc", "peer", "peer", "ratio",
           "einc/pk", "peer/pk");
    printf("|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-------------------",
           "----------------------------", "-----------", "--------", "--------", "--------");
    bench_matmul(ctx, 1024, EINC_F32, !quick);
    bench_emitted(ctx, 1024, threads);
    if (!quick)
        bench_matmul(ctx, 2048, EINC_F32, 0);
    static const einc_dtype narrow[] = { EINC_F16, EINC_BF16, EINC_I8, EINC_I16, EINC_C64 };
    for (size_t i = 0; i < sizeof narrow / sizeof *narrow; i++)
        bench_matmul(ctx, 1024, narrow[i], 0);
    bench_batched(ctx);
    bench_memory(ctx);
    bench_models(ctx);
    if (!quick)
        bench_interp(ctx);
    einc_ctx_free(ctx);
    bench_compile();
    return 0;
}
