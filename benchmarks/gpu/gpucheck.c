/*
 * gpucheck.c — the CUDA target on the lent GPU machine (benchmarks/gpu/check.sh builds and
 * runs it; README.md, "The GPU check").  Two parts:
 *   1. the target table: each workload of the CUDA targets at its full size, run through
 *      einc_kernel_run with runtime/cuda.h's probe (the median of CHECK_REPS device-resident
 *      runs between cuEvent records), each kernel's launch and resources, GB/s or TFLOP/s,
 *      PyTorch's time for the same work in the same run (torch_ref.py's file), the ratio,
 *      the target and PASS or MISS, every number the verdict used printed beside it;
 *   2. the differential table: small cases on CUDA against the interpreter.
 * Ends with "N passed, M failed" (the differential table and the target cases' answers;
 * a MISS is reported, not failed).
 *
 *     gpucheck [--emu] [--torch FILE] [--only NAME]
 *
 * --emu: tiny sizes, for EINC_CUDA_EMU=1 on a machine without a GPU (check.sh --emu): the
 * whole program runs, but its times are the CPU's, so no target is judged.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "cuda.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHECK_REPS = 20, MAXIN = 6 };

/* ---- PyTorch's figures (torch_ref.py writes "NAME MS" lines, "copy_gbps X", "# ...") ---- */

typedef struct tref {
    char name[64];
    double ms;
} tref;

static tref refs[64];
static int nref;
static double copy_gbps;        /* device copy, bytes read + written; 0: unknown */
static char torch_info[8][160];
static int ninfo;

static void read_torch(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    if (!f) {
        printf("torch: no figures (%s could not be read)\n", path);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char name[64];
        double v;
        if (line[0] == '#') {
            if (ninfo < 8)
                snprintf(torch_info[ninfo++], sizeof torch_info[0], "%s", line + 1);
        } else if (sscanf(line, "%63s %lf", name, &v) == 2) {
            if (strcmp(name, "copy_gbps") == 0)
                copy_gbps = v;
            else if (nref < 64) {
                snprintf(refs[nref].name, sizeof refs[nref].name, "%s", name);
                refs[nref++].ms = v;
            }
        }
    }
    fclose(f);
}

/* PyTorch's median ms for name, or -1 when it has none (no torch, or the case failed there). */
static double torch_ms(const char *name)
{
    for (int i = 0; i < nref; i++)
        if (strcmp(refs[i].name, name) == 0)
            return refs[i].ms;
    return -1;
}

/* ---- inputs -------------------------------------------------------------------------- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Multiples of 1/4 in [0.25, 2.75]: exact in float, positive (a batch norm's variance). */
static float *make_input(int ndim, const int64_t *shape, size_t *n_out, unsigned salt)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        return NULL;
    for (size_t e = 0; e < n; e++)
        p[e] = (float)(((e + salt) * 7) % 11 + 1) * 0.25f;
    *n_out = n;
    return p;
}

/* A target case's arrays are float32, or float16 or bfloat16 bits (dt). */
static size_t elem_size(einc_dtype dt) { return dt == EINC_F16 || dt == EINC_BF16 ? 2 : 4; }

/* make_input's values (multiples of 1/4 in [0.25, 2.75], exact in both) as 16-bit floats */
static void *make_half(einc_dtype dt, const float *p, size_t n)
{
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t e = 0; h && e < n; e++) {
        uint32_t u;
        memcpy(&u, &p[e], 4);
        h[e] = (uint16_t)(dt == EINC_BF16 ? u >> 16 : (u >> 16 & 0x8000u) | (((u >> 23 & 0xffu) - 112u) << 10) |
                                                          (u >> 13 & 0x3ffu));
    }
    return h;
}

/* Element e of an array of dt as a float (float16: normal numbers, zeros and infinities). */
static float get_float(einc_dtype dt, const void *p, int64_t e)
{
    if (dt == EINC_F32)
        return ((const float *)p)[e];
    uint32_t h = ((const uint16_t *)p)[e], u = h << 16, x = h >> 10 & 31;
    if (dt == EINC_F16)
        u = (h & 0x8000u) << 16 | (x == 0 ? 0 : x == 31 ? 0x7f800000u : (x + 112u) << 23 | (h & 0x3ffu) << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The largest |got - want| beyond the tolerance, as (element, got, want); 0 when none. */
static int compare_as(einc_dtype dt, const void *got, const void *want, int64_t n, int64_t *at)
{
    for (int64_t e = 0; e < n; e++) {
        float g = get_float(dt, got, e), w = get_float(dt, want, e);
        if (!(fabsf(g - w) <= 1e-3f * (1 + fabsf(w)))) {
            *at = e;
            return 1;
        }
    }
    return 0;
}

static int compare(const float *got, const float *want, int64_t n, int64_t *at)
{
    for (int64_t e = 0; e < n; e++)
        if (!(fabsf(got[e] - want[e]) <= 1e-3f * (1 + fabsf(want[e])))) {
            *at = e;
            return 1;
        }
    return 0;
}

/* A model's source: text, or "@PATH" for a file (check.sh runs in the repository's root). */
static char *model_source(const char *m)
{
    if (m[0] != '@') {
        char *s = malloc(strlen(m) + 1);
        return s ? strcpy(s, m) : NULL;
    }
    FILE *f = fopen(m + 1, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

static einc_status compile(einc_ctx *ctx, const char *expr, const char *model, einc_reduce reduce,
                           einc_target target, einc_kernel **k, einc_error *err, int tf32)
{
    einc_options o = { .reduce = reduce, .target = target, .allow_tf32 = tf32 ? 1 : -1 };
    if (expr)
        return einc_compile(ctx, expr, &o, k, err);
    char *src = model_source(model);
    if (!src) {
        snprintf(err->message, sizeof err->message, "cannot read the model %s", model);
        return EINC_ERR_ARG;
    }
    einc_status st = einc_compile_model(ctx, src, &o, k, err);
    free(src);
    return st;
}

/* ---- part 1: the target table ---------------------------------------------------------- */

/*
 * A target is a list of "REF:F": copy (GB/s >= F x the device copy's GB/s; for a
 * reduction, whose bytes are all reads, the copy stands for the read bandwidth), torch or
 * torch_compile (PyTorch's time for the case, eager or compiled, / einc's >= F).
 */
typedef struct tcase {
    const char *name;           /* torch_ref.py's name for the same work */
    const char *expr;           /* an expression, or NULL for model */
    const char *model;          /* a model's source, or "@PATH" */
    int nin;
    int ndim[MAXIN];
    int64_t full[MAXIN][4], emu[MAXIN][4];
    int flops_rate;             /* TFLOP/s rather than GB/s */
    const char *target;
    const char *what;           /* the target as the issue states it */
    int tf32;                   /* compiled with TF32 allowed (einc_options.allow_tf32) */
    einc_dtype dt;              /* the arrays' dtype: float32 (0), float16 or bfloat16 */
} tcase;

static const char softmax_model[] = "input x: f32[N, D]\nreturn softmax(x, dim=-1)\n";
static const char layernorm_model[] = "input x: f32[N, D]\nparam w: f32[D]\nparam b: f32[D]\n"
                                      "return layernorm(x, w, b)\n";

/* Sizes: #19's and #20's tables (64 MiB permutes, 8192² softmax, 8192x4096 layernorm as
   the anchors measured it, 8192² reductions). */
static const tcase tcases[] = {
    { "permute_dcba", "abcd->dcba", NULL, 1, { 4 }, { { 64, 64, 64, 64 } }, { { 3, 4, 5, 6 } }, 0,
      "copy:0.70", ">= 70% of copy bandwidth" },
    { "permute_bhwc", "b c h w -> b h w c", NULL, 1, { 4 }, { { 64, 64, 64, 64 } }, { { 2, 3, 5, 7 } }, 0,
      "copy:0.70", ">= 70% of copy bandwidth" },
    { "softmax", NULL, softmax_model, 1, { 2 }, { { 8192, 8192 } }, { { 5, 40 } }, 0,
      "copy:0.70,torch_compile:1.0", ">= 70% of copy bandwidth and faster than torch.compile" },
    { "layernorm", NULL, layernorm_model, 3, { 2, 1, 1 }, { { 8192, 4096 }, { 4096 }, { 4096 } },
      { { 5, 40 }, { 40 }, { 40 } }, 0, "torch:1.0", "faster than PyTorch" },
    { "rowsum", "ij->i", NULL, 1, { 2 }, { { 8192, 8192 } }, { { 37, 29 } }, 0, "copy:0.75",
      ">= 75% of read bandwidth" },
    { "sum", "ij->", NULL, 1, { 2 }, { { 8192, 8192 } }, { { 300, 77 } }, 0, "copy:0.75",
      ">= 75% of read bandwidth" },
    { "matmul", "ik,kj->ij", NULL, 2, { 2, 2 }, { { 4096, 4096 }, { 4096, 4096 } }, { { 17, 13 }, { 13, 11 } },
      1, "torch:0.70", ">= 70% of cuBLAS fp32 (torch.matmul, TF32 off)" },
    { "attention_scores", "bhid,bhjd->bhij", NULL, 2, { 4, 4 }, { { 8, 16, 1024, 64 }, { 8, 16, 1024, 64 } },
      { { 2, 3, 7, 16 }, { 2, 3, 9, 16 } }, 1, "torch:0.70", ">= 70% of torch.matmul" },
    /* TF32 on both sides (torch.backends.cuda.matmul.allow_tf32 = True); the inputs are
       multiples of 1/4 below 3, TF32 values, so the answers stay exact */
    { "matmul_tf32", "ik,kj->ij", NULL, 2, { 2, 2 }, { { 4096, 4096 }, { 4096, 4096 } },
      { { 17, 13 }, { 13, 11 } }, 1, "torch:0.50", ">= 50% of cuBLAS TF32", 1 },
    { "attention_scores_tf32", "bhid,bhjd->bhij", NULL, 2, { 4, 4 },
      { { 8, 16, 1024, 64 }, { 8, 16, 1024, 64 } }, { { 2, 3, 7, 16 }, { 2, 3, 9, 16 } }, 1, "torch:0.70",
      ">= 70% of torch.matmul with TF32", 1 },
    /* float16 and bfloat16 on both sides (tensor cores, float32 sums, one rounding on store) */
    { "matmul_f16", "ik,kj->ij", NULL, 2, { 2, 2 }, { { 4096, 4096 }, { 4096, 4096 } },
      { { 17, 13 }, { 13, 11 } }, 1, "torch:0.50", ">= 50% of cuBLAS f16", 0, EINC_F16 },
    { "matmul_bf16", "ik,kj->ij", NULL, 2, { 2, 2 }, { { 4096, 4096 }, { 4096, 4096 } },
      { { 17, 13 }, { 13, 11 } }, 1, "torch:0.50", ">= 50% of cuBLAS bf16", 0, EINC_BF16 },
    { "attention_scores_bf16", "bhid,bhjd->bhij", NULL, 2, { 4, 4 },
      { { 8, 16, 1024, 64 }, { 8, 16, 1024, 64 } }, { { 2, 3, 7, 16 }, { 2, 3, 9, 16 } }, 1, "torch:0.70",
      ">= 70% of torch.matmul in bfloat16", 0, EINC_BF16 },
    { "resblock", NULL, "@examples/resblock.einl", 6, { 4, 4, 1, 1, 1, 1 },
      { { 8, 64, 56, 56 }, { 64, 64, 3, 3 }, { 64 }, { 64 }, { 64 }, { 64 } },
      { { 1, 64, 5, 5 }, { 64, 64, 3, 3 }, { 64 }, { 64 }, { 64 }, { 64 } }, 1, "torch:1.0,torch_compile:1.0",
      "faster than PyTorch eager and torch.compile" },
};

/* The interpreter checks a full-size answer when its arrays and FLOPs are at most these
   (about 10 s of the interpreter for an 8192² softmax). */
#define CHECK_ELEMS 70000000.0
#define CHECK_FLOPS 400000000.0

typedef struct tresult {
    double ms, rate;
    int verdict;                /* 1 PASS, 0 MISS, -1 not judged */
    int answer;                 /* 1 checked and right, 0 wrong or failed, -1 not checked */
} tresult;

static void put_driver(int v) { printf("%d.%d", v / 1000, v % 1000 / 10); }

static void put_kernels(const cuda_probe *pr)
{
    for (int i = 0; i < pr->nk && i < CUDA_PROBE_KERNELS; i++) {
        const cuda_kernel_info *k = &pr->k[i];
        if (!k->grid[0]) {
            printf("    kernel %d: not launched (no work)\n", i);
            continue;
        }
        printf("    kernel %d: grid %ux%ux%u, block %ux%ux%u, regs %d, shared %d B + %u B dynamic, local "
               "%d B%s: %.4f ms\n", i, k->grid[0], k->grid[1], k->grid[2], k->block[0], k->block[1],
               k->block[2], k->regs, k->static_shared, k->dyn_shared, k->local,
               k->local > 0 ? " (spills)" : "", k->ms);
    }
    if (pr->nk > CUDA_PROBE_KERNELS)
        printf("    (%d more kernels, not described)\n", pr->nk - CUDA_PROBE_KERNELS);
}

/* Judges one "REF:F" against r; prints the numbers it used.  1, 0, or -1 (no reference). */
static int judge(const char *ref, double f, const tcase *c, const tresult *r, int emu)
{
    if (strcmp(ref, "copy") == 0) {
        if (copy_gbps <= 0) {
            printf("    target %.0f%% of copy: no copy figure (no PyTorch): not judged\n", f * 100);
            return -1;
        }
        double need = f * copy_gbps;
        int ok = r->rate >= need;
        printf("    target %.0f%% of copy %.1f GB/s = %.1f GB/s: einc %.1f GB/s = %.1f%% of copy  %s\n",
               f * 100, copy_gbps, need, r->rate, r->rate / copy_gbps * 100,
               emu ? "(emulated: not judged)" : ok ? "PASS" : "MISS");
        return emu ? -1 : ok;
    }
    char key[96];
    snprintf(key, sizeof key, "%s%s", c->name, strcmp(ref, "torch_compile") == 0 ? "_compile" : "");
    double t = torch_ms(key);
    if (t <= 0) {
        printf("    target %s: PyTorch has no time for %s: not judged\n", ref, key);
        return -1;
    }
    int ok = t / r->ms >= f;
    printf("    target %s time / einc time >= %.2f: %.4f / %.4f ms = %.2f  %s\n", ref, f, t, r->ms, t / r->ms,
           emu ? "(emulated: not judged)" : ok ? "PASS" : "MISS");
    return emu ? -1 : ok;
}

static tresult run_target(const tcase *c, int emu, cuda_probe *first)
{
    tresult r = { 0, 0, -1, 0 };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL, *ki = NULL;
    einc_error err = { 0 };
    einc_tensor in[MAXIN];
    void *data[MAXIN] = { 0 }, *out = NULL, *want = NULL;
    double bytes = 0, work = 0;
    size_t es = elem_size(c->dt);
    int64_t flops_n = 0;
    printf("\n== %s: %s", c->name, c->expr ? c->expr : c->model[0] == '@' ? c->model + 1 : "a model");
    for (int i = 0; i < c->nin; i++) {
        const int64_t *s = emu ? c->emu[i] : c->full[i];
        printf("%s(", i ? ", " : "  ");
        for (int d = 0; d < c->ndim[i]; d++)
            printf("%s%lld", d ? "," : "", (long long)s[d]);
        printf(")");
        size_t n;
        if (!(data[i] = make_input(c->ndim[i], s, &n, (unsigned)i))) {
            printf("\n    FAIL: out of host memory\n");
            goto done;
        }
        if (c->dt != EINC_F32) {
            void *h = make_half(c->dt, data[i], n);
            free(data[i]);
            if (!(data[i] = h)) {
                printf("\n    FAIL: out of host memory\n");
                goto done;
            }
        }
        in[i] = (einc_tensor){ c->dt, c->ndim[i], s, NULL, data[i] };
        bytes += (double)n * (double)es;
    }
    printf(" %s\n", c->dt == EINC_F16 ? "f16" : c->dt == EINC_BF16 ? "bf16" : "f32");
    if (compile(ctx, c->expr, c->model, EINC_REDUCE_SUM, EINC_TARGET_CUDA, &k, &err, c->tf32) ||
        compile(ctx, c->expr, c->model, EINC_REDUCE_SUM, EINC_TARGET_INTERP, &ki, &err, 0)) {
        printf("    FAIL: %s\n", err.message);
        goto done;
    }
    einc_dtype dt;
    int nd;
    int64_t os[EINC_MAX_RANK], on = 1;
    if (einc_kernel_output(k, c->nin, in, &dt, &nd, os, &err)) {
        printf("    FAIL: %s\n", err.message);
        goto done;
    }
    for (int d = 0; d < nd; d++)
        on *= os[d];
    bytes += (double)on * (double)elem_size(dt);
    out = malloc((size_t)(on ? on : 1) * elem_size(dt));
    einc_tensor ot = { dt, nd, os, NULL, out };
    /* the FLOP count explain gives, as einc bench reads it */
    char *ex = einc_kernel_explain(k, c->nin, in, &err);
    const char *fl = ex ? strstr(ex, "\nflops: ") : NULL;
    flops_n = fl ? strtoll(fl + 8, NULL, 10) : 0;
    free(ex);
    double t0 = now();
    if (!out || einc_kernel_run(k, c->nin, in, &ot, &err)) {
        printf("    FAIL (cuda): %s\n", out ? err.message : "out of host memory");
        goto done;
    }
    double firstrun = now() - t0;
    cuda_probe pr = { .reps = CHECK_REPS };
    cuda_probe_next(&pr);
    int st = einc_kernel_run(k, c->nin, in, &ot, &err);
    cuda_probe_next(NULL);
    if (st || !pr.filled) {
        printf("    FAIL (cuda, timed): %s\n", st ? err.message : "the run did not reach the device");
        goto done;
    }
    if (!first->filled)
        *first = pr;
    r.ms = pr.ms;
    r.rate = c->flops_rate ? (double)flops_n / (r.ms * 1e-3) / 1e12 : bytes / (r.ms * 1e-3) / 1e9;
    put_kernels(&pr);
    printf("    einc %.4f ms (median of %d, cuEvent%s) = %.2f %s; %.1f MB moved, %lld FLOPs; first run "
           "%.1f ms (copies included), ", r.ms, CHECK_REPS, emu ? ", host clock: emulated" : "", r.rate,
           c->flops_rate ? "TFLOP/s" : "GB/s", bytes / 1e6, (long long)flops_n, firstrun * 1e3);
    if (pr.from_disk)
        printf("module from the disk cache\n");
    else
        printf("%s %.1f ms for %d kernel%s\n", emu ? "emulator image" : "NVRTC", pr.compile_ms, pr.nk,
               pr.nk == 1 ? "" : "s");
    double t = torch_ms(c->name);
    if (t > 0)
        printf("    torch %.4f ms = %.2f %s; torch time / einc time = %.2f\n", t,
               c->flops_rate ? (double)flops_n / (t * 1e-3) / 1e12 : bytes / (t * 1e-3) / 1e9,
               c->flops_rate ? "TFLOP/s" : "GB/s", t / r.ms);
    else
        printf("    torch: no time for %s\n", c->name);
    /* every part of the target must hold; one with no reference leaves it unjudged */
    char spec[128];
    snprintf(spec, sizeof spec, "%s", c->target);
    r.verdict = 1;
    for (char *save = NULL, *part = strtok_r(spec, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(part, ':');
        *colon = 0;
        int v = judge(part, atof(colon + 1), c, &r, emu);
        r.verdict = v < 0 || r.verdict < 0 ? -1 : r.verdict && v;
    }
    work = (double)on > bytes / (double)es - (double)on ? (double)on : bytes / (double)es - (double)on;
    if (!emu && (work > CHECK_ELEMS || (double)flops_n > CHECK_FLOPS)) {
        printf("    answer: not checked at this size (%lld FLOPs is too much for the interpreter; "
               "the differential table checks this kind)\n", (long long)flops_n);
        r.answer = -1;
        goto done;
    }
    want = malloc((size_t)(on ? on : 1) * elem_size(dt));
    einc_tensor wo = { dt, nd, os, NULL, want };
    if (!want || einc_kernel_run(ki, c->nin, in, &wo, &err)) {
        printf("    FAIL (interp): %s\n", want ? err.message : "out of host memory");
        goto done;
    }
    int64_t at = 0;
    if (compare_as(dt, out, want, on, &at))
        printf("    FAIL: element %lld: cuda %g, interpreter %g\n", (long long)at, get_float(dt, out, at),
               get_float(dt, want, at));
    else
        printf("    answer: equal to the interpreter's (%lld elements)\n", (long long)on);
    r.answer = !compare_as(dt, out, want, on, &at);
done:
    for (int i = 0; i < c->nin; i++)
        free(data[i]);
    free(out);
    free(want);
    einc_kernel_free(k);
    einc_kernel_free(ki);
    einc_ctx_free(ctx);
    return r;
}

/* ---- part 2: the differential table ---------------------------------------------------- */

typedef struct gcase {
    const char *name;           /* a model's, in the printout */
    const char *expr, *model;
    einc_reduce reduce;
    int nin;
    int ndim[MAXIN];
    int64_t shape[MAXIN][4];
} gcase;

static const gcase cases[] = {
    { NULL, "ik,kj->ij", NULL, EINC_REDUCE_SUM, 2, { 2, 2 }, { { 37, 53 }, { 53, 29 } } },
    { NULL, "bij,bjk->bik", NULL, EINC_REDUCE_SUM, 2, { 3, 3 }, { { 3, 17, 9 }, { 3, 9, 11 } } },
    { NULL, "bhid,bhjd->bhij", NULL, EINC_REDUCE_SUM, 2, { 4, 4 }, { { 2, 3, 7, 16 }, { 2, 3, 9, 16 } } },
    { NULL, "ij->ji", NULL, EINC_REDUCE_SUM, 1, { 2 }, { { 33, 65 } } },
    { NULL, "abcd->dcba", NULL, EINC_REDUCE_SUM, 1, { 4 }, { { 3, 4, 5, 6 } } },
    { NULL, "b c h w -> b h w c", NULL, EINC_REDUCE_SUM, 1, { 4 }, { { 2, 3, 5, 7 } } },
    { NULL, "ij->", NULL, EINC_REDUCE_SUM, 1, { 2 }, { { 300, 77 } } },
    { NULL, "ij->i", NULL, EINC_REDUCE_SUM, 1, { 2 }, { { 1000, 1031 } } },
    { NULL, "i j -> i", NULL, EINC_REDUCE_MEAN, 1, { 2 }, { { 40, 33 } } },
    { NULL, "i j -> j", NULL, EINC_REDUCE_MAX, 1, { 2 }, { { 40, 33 } } },
    { NULL, "i j -> j", NULL, EINC_REDUCE_MIN, 1, { 2 }, { { 40, 33 } } },
    { NULL, "ii->i", NULL, EINC_REDUCE_SUM, 1, { 2 }, { { 19, 19 } } },
    { NULL, "i,j->ij", NULL, EINC_REDUCE_SUM, 2, { 1, 1 }, { { 0 }, { 5 } } },
    { "softmax model", NULL, softmax_model, EINC_REDUCE_SUM, 1, { 2 }, { { 7, 1000 } } },
    { "layernorm model", NULL, layernorm_model, EINC_REDUCE_SUM, 3, { 2, 1, 1 }, { { 7, 1000 }, { 1000 }, { 1000 } } },
    { "examples/resblock.einl", NULL, "@examples/resblock.einl", EINC_REDUCE_SUM, 6, { 4, 4, 1, 1, 1, 1 },
      { { 2, 64, 6, 5 }, { 64, 64, 3, 3 }, { 64 }, { 64 }, { 64 }, { 64 } } },
};

static int check(const gcase *c)
{
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *kg = NULL, *ki = NULL;
    einc_error err = { 0 };
    const char *name = c->expr ? c->expr : c->name;
    int ok = 0;
    einc_tensor in[MAXIN];
    float *data[MAXIN] = { 0 }, *w = NULL, *g = NULL;
    if (compile(ctx, c->expr, c->model, c->reduce, EINC_TARGET_CUDA, &kg, &err, 0) ||
        compile(ctx, c->expr, c->model, c->reduce, EINC_TARGET_INTERP, &ki, &err, 0)) {
        printf("FAIL %s: %s\n", name, err.message);
        goto done;
    }
    for (int i = 0; i < c->nin; i++) {
        size_t n;
        data[i] = make_input(c->ndim[i], c->shape[i], &n, (unsigned)i);
        in[i] = (einc_tensor){ EINC_F32, c->ndim[i], c->shape[i], NULL, data[i] };
    }
    einc_dtype dt;
    int nd;
    int64_t os[EINC_MAX_RANK], on = 1;
    if (einc_kernel_output(ki, c->nin, in, &dt, &nd, os, &err)) {
        printf("FAIL %s: %s\n", name, err.message);
        goto done;
    }
    for (int d = 0; d < nd; d++)
        on *= os[d];
    w = malloc((size_t)(on ? on : 1) * 4);
    g = malloc((size_t)(on ? on : 1) * 4);
    memset(g, 0x7f, (size_t)(on ? on : 1) * 4);
    einc_tensor wo = { dt, nd, os, NULL, w }, go = { dt, nd, os, NULL, g };
    if (einc_kernel_run(ki, c->nin, in, &wo, &err)) {
        printf("FAIL %s (interp): %s\n", name, err.message);
        goto done;
    }
    if (einc_kernel_run(kg, c->nin, in, &go, &err)) {
        printf("FAIL %s (cuda): %s\n", name, err.message);
        goto done;
    }
    int64_t at;
    if (compare(g, w, on, &at)) {
        printf("FAIL %s: element %lld: cuda %g, interp %g\n", name, (long long)at, g[at], w[at]);
        goto done;
    }
    printf("ok   %s\n", name);
    ok = 1;
done:
    for (int i = 0; i < c->nin; i++)
        free(data[i]);
    free(w);
    free(g);
    einc_kernel_free(kg);
    einc_kernel_free(ki);
    einc_ctx_free(ctx);
    return ok;
}

int main(int argc, char **argv)
{
    int emu = 0, pass = 0, failn = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--emu") == 0)
            emu = 1;
        else if (strcmp(argv[i], "--torch") == 0 && i + 1 < argc)
            read_torch(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: gpucheck [--emu] [--torch FILE] [--only NAME]\n");
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < ninfo; i++)
        printf("torch:%s\n", torch_info[i]);
    if (copy_gbps > 0)
        printf("device copy (PyTorch, bytes read + written): %.1f GB/s\n", copy_gbps);
    if (emu)
        printf("EINC_CUDA_EMU=1, tiny sizes: times are the CPU's host clock, so no target is judged; "
               "the timing part is skipped in all but its code paths\n");
    enum { NT = sizeof tcases / sizeof *tcases };
    tresult res[NT];
    cuda_probe first = { 0 };
    for (int i = 0; i < NT; i++) {
        res[i] = (tresult){ 0, 0, -1, -1 };
        if (only && strcmp(only, tcases[i].name) != 0)
            continue;
        res[i] = run_target(&tcases[i], emu, &first);
        if (res[i].answer == 0)
            failn++;
        else if (res[i].answer == 1)
            pass++;
    }
    printf("\n");
    if (first.filled && first.emulated) {
        printf("device: %s (no driver, no NVRTC)\n", first.device);
    } else if (first.filled) {
        printf("device: %s, sm_%d%d, driver ", first.device, first.cc_major, first.cc_minor);
        put_driver(first.driver);
        printf(", NVRTC %d.%d, image %s\n", first.nvrtc_major, first.nvrtc_minor, first.image);
    }
    printf("\n| case | einc ms | einc rate | torch ms | torch/einc | target | result |\n"
           "|---|---|---|---|---|---|---|\n");
    int npass = 0, nmiss = 0;
    for (int i = 0; i < NT; i++) {
        const tcase *c = &tcases[i];
        if (only && strcmp(only, c->name) != 0)
            continue;
        double t = torch_ms(c->name);
        char tm[32] = "-", ratio[32] = "-";
        if (t > 0 && res[i].ms > 0) {
            snprintf(tm, sizeof tm, "%.4f", t);
            snprintf(ratio, sizeof ratio, "%.2f", t / res[i].ms);
        }
        const char *v = res[i].ms <= 0 ? "FAIL" : res[i].verdict == 1 ? "PASS" : res[i].verdict == 0 ? "MISS"
                        : emu ? "(emulated)" : "not judged";
        npass += res[i].verdict == 1;
        nmiss += res[i].verdict == 0;
        printf("| %s | %.4f | %.2f %s | %s | %s | %s | %s |\n", c->name, res[i].ms, res[i].rate,
               c->flops_rate ? "TFLOP/s" : "GB/s", tm, ratio, c->what, v);
    }
    printf("targets: %d PASS, %d MISS\n\n", npass, nmiss);
    if (!only)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            if (check(&cases[i]))
                pass++;
            else
                failn++;
        }
    printf("%d passed, %d failed\n", pass, failn);
    return failn != 0;
}
