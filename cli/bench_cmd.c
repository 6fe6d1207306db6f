/*
 * bench_cmd.c — einc bench: the .npy files given, else random inputs of the given sizes,
 * timed on the JIT (or --target) and, when it finishes in a few seconds, on the reference
 * interpreter.  On CUDA the time is the device's: the median of CUDA_BENCH_REPS runs of
 * the kernels on device-resident data between cuEvent records (runtime/cuda.h's probe),
 * with each kernel's launch, registers and shared memory; the host-side time with the
 * copies follows.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cuda.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds of reps runs of k after one warm-up; < 0 on error (printed). */
static double time_runs(einc_kernel *k, const char *expr, int n, const einc_tensor *in,
                        int nout, const einc_tensor *out, int reps)
{
    einc_error e;
    double t[16];
    for (int r = -1; r < reps; r++) {
        double t0 = now();
        if (einc_kernel_run_outputs(k, n, in, nout, out, &e)) {
            cli_print_error(&e, expr);
            return -1;
        }
        if (r >= 0)
            t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return t[reps / 2];
}

enum { CUDA_BENCH_REPS = 20 };

/* "13.0" from cuDriverGetVersion's 13000. */
static void put_driver(FILE *f, int v) { fprintf(f, "%d.%d", v / 1000, v % 1000 / 10); }

/* "-" for what the emulator cannot know (-1), else n and the unit. */
static void put_known(FILE *f, int n, const char *unit)
{
    if (n < 0)
        fprintf(f, "- %s", unit);
    else
        fprintf(f, "%d %s", n, unit);
}

/* The device, the image and each kernel as CUDA ran them (pr filled by cuda_run). */
static void put_cuda(FILE *rep, const cuda_probe *pr)
{
    if (pr->emulated) {
        fprintf(rep, "  device: %s (EINC_CUDA_EMU=1): emulated on the CPU; cuEvent times are host "
                     "clocks, not a GPU's%s\n", pr->device, pr->from_disk ? "; module from the disk cache" : "");
    } else {
        fprintf(rep, "  device: %s (sm_%d%d), driver ", pr->device, pr->cc_major, pr->cc_minor);
        put_driver(rep, pr->driver);
        fprintf(rep, ", NVRTC %d.%d, %s", pr->nvrtc_major, pr->nvrtc_minor, pr->image);
        if (pr->from_disk)
            fprintf(rep, " (from the disk cache)\n");
        else
            fprintf(rep, " (compiled in %.1f ms)\n", pr->compile_ms);
    }
    for (int i = 0; i < pr->nk && i < CUDA_PROBE_KERNELS; i++) {
        const cuda_kernel_info *k = &pr->k[i];
        if (!k->grid[0]) {
            fprintf(rep, "  kernel %d: not launched (no work)\n", i);
            continue;
        }
        fprintf(rep, "  kernel %d: grid %ux%ux%u, block %ux%ux%u, ", i, k->grid[0], k->grid[1],
                k->grid[2], k->block[0], k->block[1], k->block[2]);
        put_known(rep, k->regs, "registers, ");
        put_known(rep, k->static_shared, "B shared");
        fprintf(rep, " + %u B dynamic, ", k->dyn_shared);
        put_known(rep, k->local, "B local");
        fprintf(rep, ": %.3f ms\n", k->ms);
    }
    if (pr->nk > CUDA_PROBE_KERNELS)
        fprintf(rep, "  (%d more kernels)\n", pr->nk - CUDA_PROBE_KERNELS);
}

/*
 * The FLOP count for these inputs: the first "flops: N" line of explain's text (the whole
 * expression's, before any contraction path, as einc_kernel_input_shapes counts it), the
 * one count the public API gives for shapes that arrays bind.  -1 (e set) on error.
 */
static int64_t bound_flops(einc_kernel *k, int n, const einc_tensor *t, einc_error *e)
{
    char *s = einc_kernel_explain(k, n, t, e);
    if (!s)
        return -1;
    const char *f = strstr(s, "\nflops: ");
    long long v = f ? strtoll(f + 8, NULL, 10) : 0;
    free(s);
    return v;
}

/* Random inputs of the shapes every size implies: floats in [-1, 1], integers 0 or 1. */
static int random_operands(const args *A, einc_kernel *k, int *nin, npy_array **arr,
                           einc_tensor **t, int64_t *flops)
{
    int ndim[EINC_MAX_OPERANDS];
    static int64_t shape[EINC_MAX_OPERANDS][EINC_MAX_RANK];
    einc_dtype dt[EINC_MAX_OPERANDS];
    einc_error e = { 0 };
    if (einc_kernel_input_shapes(k, nin, ndim, shape, flops, &e) || einc_kernel_input_dtypes(k, dt, &e)) {
        cli_print_error(&e, A->expr);
        return -1;
    }
    *arr = calloc((size_t)*nin + 1, sizeof **arr);
    *t = calloc((size_t)*nin + 1, sizeof **t);
    if (!*arr || !*t) {
        fprintf(stderr, "einc: error: out of memory\n");
        return -1;
    }
    unsigned seed = 12345;
    for (int i = 0; i < *nin; i++) {
        npy_array *a = &(*arr)[i];
        a->dtype = A->given[OPT_DTYPE] ? A->dtype : dt[i];
        a->ndim = ndim[i];
        size_t n = 1;
        for (int d = 0; d < ndim[i]; d++)
            n *= (size_t)(a->shape[d] = shape[i][d]);
        a->nbytes = n * npy_dtype_size(a->dtype);
        if (!(a->data = cli_buffer(a->nbytes))) {
            fprintf(stderr, "einc: error: out of memory for operand %d (%zu elements)\n", i, n);
            return -1;
        }
        for (size_t j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            float f = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
            switch (a->dtype) {
            case EINC_F64: ((double *)a->data)[j] = f; break;
            case EINC_I32: ((int32_t *)a->data)[j] = (seed >> 16) & 1; break;
            case EINC_I64: ((int64_t *)a->data)[j] = (seed >> 16) & 1; break;
            case EINC_BOOL: ((uint8_t *)a->data)[j] = (seed >> 16) & 1; break;
            case EINC_F32: ((float *)a->data)[j] = f; break;
            default: {  /* the other dtypes: 0 or 1, little-endian as the .npy files */
                size_t es = npy_dtype_size(a->dtype);
                unsigned char *e = (unsigned char *)a->data + j * es;
                memset(e, 0, es);
                if ((seed >> 16) & 1) {
                    if (a->dtype == EINC_F16)
                        e[1] = 0x3c;
                    else if (a->dtype == EINC_BF16 || a->dtype == EINC_C64)
                        e[es == 2 ? 1 : 3] = 0x3f, e[es == 2 ? 0 : 2] = 0x80;
                    else if (a->dtype == EINC_C128)
                        e[7] = 0x3f, e[6] = 0xf0;
                    else
                        e[0] = 1;
                }
                break;
            }
            }
        }
        (*t)[i] = (einc_tensor){ a->dtype, a->ndim, a->shape, NULL, a->data };
    }
    return 0;
}

/* "float32[2, 3]" */
static void put_shape(FILE *f, const npy_array *a)
{
    fprintf(f, "%s[", einc_dtype_name(a->dtype));
    for (int d = 0; d < a->ndim; d++)
        fprintf(f, "%s%lld", d ? ", " : "", (long long)a->shape[d]);
    fprintf(f, "]");
}

/* einc bench: the .npy files given, else random inputs of the given sizes; the JIT (or --target) timed. */
int cli_bench(einc_ctx *ctx, const args *A)
{
    einc_kernel *k = NULL, *ki = NULL;
    einc_error e = { 0 };
    int rc = EXIT_INPUT, nin = 0, nout = 0;
    int64_t flops = 0, oshape[EINC_MAX_OPERANDS][EINC_MAX_RANK];
    npy_array *arr = NULL;
    einc_tensor *in = NULL, ot[EINC_MAX_OPERANDS];
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = NULL;
    einc_options io = A->opt;
    io.target = EINC_TARGET_INTERP;
    if (cli_compile(ctx, A, &A->opt, &k, &e) || cli_compile(ctx, A, &io, &ki, &e)) {
        cli_print_error(&e, A->expr);
        goto done;
    }
    if (A->nfiles ? cli_load_operands(A, k, &nin, &arr, &in) < 0
                  : random_operands(A, k, &nin, &arr, &in, &flops) < 0)
        goto done;
    if (A->nfiles && (flops = bound_flops(k, nin, in, &e)) < 0) {
        cli_print_error(&e, A->expr);
        goto done;
    }
    double bytes = 0;
    for (int i = 0; i < nin; i++)
        bytes += (double)arr[i].nbytes;
    int want = einc_kernel_noutputs(k);
    if (want > EINC_MAX_OPERANDS) {
        fprintf(stderr, "einc: error: the model returns %d results; einc bench takes at most %d\n",
                want, EINC_MAX_OPERANDS);
        goto done;
    }
    for (; nout < want; nout++) {        /* every result, each in its own array */
        einc_tensor *o = &ot[nout];
        *o = (einc_tensor){ .shape = oshape[nout] };
        if (einc_kernel_output_at(k, nout, nin, in, &o->dtype, &o->ndim, oshape[nout], &e)) {
            cli_print_error(&e, A->expr);
            goto done;
        }
        double elems = 1;
        for (int d = 0; d < o->ndim; d++)
            elems *= (double)oshape[nout][d];
        if (!(o->data = cli_buffer((size_t)(elems > 0 ? elems : 1) * 8))) {
            fprintf(stderr, "einc: error: out of memory for the result\n");
            goto done;
        }
        bytes += elems * (double)npy_dtype_size(o->dtype);
    }
    /* the first run compiles, and its probe (cuda_probe_next) says whether it ran on CUDA */
    cuda_probe pr = { 0 };
    long compiled = einc_ctx_jit_compiles(ctx), loaded = einc_ctx_cache_hits(ctx);
    double t0 = now();
    cuda_probe_next(&pr);
    int st = einc_kernel_run_outputs(k, nin, in, nout, ot, &e);
    cuda_probe_next(NULL);
    if (st) {
        cli_print_error(&e, A->expr);
        goto done;
    }
    double first = now() - t0;
    /* what the first run did: auto interprets small work, and the disk cache may hold the
       kernel (a CUDA module's own probe says whether it came from there) */
    const char *how = pr.filled ? (pr.from_disk ? "loading the compiled kernel, " : "with compilation, ")
                    : einc_ctx_jit_compiles(ctx) > compiled ? "with compilation, "
                    : einc_ctx_cache_hits(ctx) > loaded     ? "loading the compiled kernel, " : "";
    /* on CUDA, one more run whose kernels are timed on the device */
    if (pr.filled) {
        pr.reps = CUDA_BENCH_REPS;
        cuda_probe_next(&pr);
        st = einc_kernel_run_outputs(k, nin, in, nout, ot, &e);
        cuda_probe_next(NULL);
        if (st) {
            cli_print_error(&e, A->expr);
            goto done;
        }
    }
    double t = time_runs(k, A->expr, nin, in, nout, ot, 7), host = t;
    if (t < 0 || !(rep = open_memstream(&report, &report_len)))
        goto done;
    if (pr.filled) {
        t = pr.ms * 1e-3;
        fprintf(rep, "%s: median of %d device-resident runs %.3f ms (cuEvent; inputs copied once) "
                     "(first run, %s%.1f ms)\n",
                A->model ? A->model : A->expr, pr.reps, t * 1e3, how, first * 1e3);
        put_cuda(rep, &pr);
        fprintf(rep, "  with the copies to and from the device: median of 7 runs %.3f ms\n", host * 1e3);
    } else {
        fprintf(rep, "%s: median of 7 runs %.3f ms (first run, %s%.1f ms)\n",
                A->model ? A->model : A->expr, t * 1e3, how, first * 1e3);
    }
    fprintf(rep, "  %s", A->nfiles ? "inputs" : "random inputs");
    for (int i = 0; i < nin; i++) {
        const char *name = A->model ? einc_kernel_input_name(k, i) : NULL;
        fprintf(rep, "%s%s%s", i ? ", " : " ", name ? name : A->nfiles ? A->files[i] : "",
                name || A->nfiles ? " " : "");
        put_shape(rep, &arr[i]);
    }
    fprintf(rep, "; %lld FLOPs\n", (long long)flops);
    fprintf(rep, "  %.2f GFLOP/s, %.2f GB/s (inputs read and output%s written once)\n",
            (double)flops / t / 1e9, bytes / t / 1e9, nout > 1 ? "s" : "");
    /* the interpreter, when it finishes in a few seconds (about 10 M evaluations) */
    if (flops > 0 && flops < 20000000) {
        double ti = time_runs(ki, A->expr, nin, in, nout, ot, 1);
        if (ti > 0)
            fprintf(rep, "  reference interpreter %.1f ms: %.0fx faster\n", ti * 1e3, ti / t);
    } else {
        fprintf(rep, "  (the reference interpreter is skipped at this size)\n");
    }
    if (fclose(rep) != 0) {
        rep = NULL;
        fprintf(stderr, "einc: error: out of memory\n");
        goto done;
    }
    rep = NULL;
    if (cli_put_text(A->out, report, report_len) == 0)
        rc = 0;
done:
    if (rep)
        fclose(rep);
    free(report);
    cli_free_operands(nin, arr, in);
    for (int i = 0; i < nout; i++)
        free(ot[i].data);
    einc_kernel_free(k);
    einc_kernel_free(ki);
    return rc;
}
