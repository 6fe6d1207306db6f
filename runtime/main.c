/*
 * main.c — the einc command line.  The only place in einc that prints or chooses an exit
 * code: everything below it reports errors as values.
 *
 *     einc [--emit=...] [-o FILE] EXPR [AXIS=N ...]
 *     einc run [--target=...] [--reduce=OP] EXPR [AXIS=N ...] IN.npy ... [-o OUT.npy]
 *     einc explain EXPR [AXIS=N ...] [IN.npy ...]
 *
 * Options may stand anywhere (GNU style); "--" ends them.  Exit status: 0 success, 1 an
 * error in the input, 2 a usage error.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "npy.h"
#include "print.h"
#include "file.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

static const char usage[] =
    "usage: einc [--emit=c|header|cuda|ptx|llvm|asm|obj] [--name NAME] [--dtype=f32|f64] [-o FILE] EXPR [AXIS=N ...]\n"
    "       einc run [--target=auto|cpu|cuda|interp] [--reduce=OP] EXPR [AXIS=N ...] IN.npy ... [-o OUT.npy]\n"
    "       einc explain [--reduce=OP] EXPR [AXIS=N ...] [IN.npy ...]\n"
    "       einc bench   [--target=...] EXPR AXIS=N ...\n"
    "       einc run [--target=...] MODEL.einl NAME=FILE.npy ... [SIZE=N ...] [-o OUT.npy]\n"
    "       einc [explain [--dot] | bench] MODEL.einl [SIZE=N ...] [NAME=FILE.npy ...]\n"
    "       einc --help | --version\n"
    "\n"
    "EXPR is a numpy einsum string ('ik,kj->ij', '...ij,...jk', 'ii->i', implicit 'ij,jk')\n"
    "or an einops pattern ('b c (h w) -> b h w c', 'b c h w -> b c', 'h w -> h w c').\n"
    "An expression with whitespace inside an operand, parentheses or digits is einops style\n"
    "(axes are names separated by spaces); otherwise numpy style (one letter per axis).\n"
    "MODEL.einl is a model in the layer language (README): its input and param arrays are\n"
    "bound by name, its sizes come from them or from SIZE=N words (every size, to emit C).\n"
    "\n"
    "  (none)     print a kernel for EXPR: C99 (default), its prototype, a CUDA .cu file,\n"
    "             PTX (through NVRTC, no GPU needed), LLVM IR, host assembly, or an object\n"
    "             file with the same C function (-o needed)\n"
    "  run        compute EXPR on .npy files; prints the result as numpy does, or writes -o\n"
    "  explain    show the dialect, axes, sizes, the index IR and its FLOP count; for a\n"
    "             model also the fused groups (--dot: as a Graphviz graph)\n"
    "  bench      time EXPR on random float32 inputs of the given sizes: GFLOP/s, GB/s,\n"
    "             and the speed-up over the reference interpreter\n"
    "\n"
    "  AXIS=N            the size of an axis the inputs do not determine (h=4, c=3)\n"
    "  ...=N             for an emitted kernel: the number of dimensions '...' stands for\n"
    "  --reduce=OP       sum (default), mean, max, min or prod, for axes absent from the output\n"
    "                    of a one-operand expression\n"
    "  --target=T        auto (default: CUDA when a GPU and its driver are there, else the\n"
    "                    CPU JIT), cpu, cuda, interp (the reference interpreter)\n"
    "  --max-memory=N    bytes any one intermediate of a contraction path may take (64K, 1G)\n"
    "  -o FILE           write the result to FILE (atomically; an error leaves FILE as it was)\n"
    "  --                end of options (for an expression starting with '-')\n";

typedef struct args {
    const char *cmd;            /* "run", "explain", or NULL: emit */
    const char *expr;           /* the expression, or a model's source text */
    const char *model;          /* the .einl file's path, or NULL */
    bool dot;                   /* explain --dot */
    const char *out;
    const char *emit;
    const char *name;
    einc_dtype dtype;           /* --dtype for emitted kernels */
    einc_options opt;
    int nsizes, nfiles;
    einc_size *sizes;
    const char **files;
} args;

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "einc: error: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n(einc --help shows the usage)\n");
    return EXIT_USAGE;
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '_' || isalpha((unsigned char)s[0])))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || isalnum((unsigned char)s[i])))
            return false;
    return true;
}

/* NAME=INTEGER → a size.  Returns 1 if word is one, 0 if not, -1 on a malformed size. */
static int size_word(const char *w, einc_size *z)
{
    const char *eq = strchr(w, '=');
    if (!eq || !(is_ident(w, (size_t)(eq - w)) || (eq - w == 3 && strncmp(w, "...", 3) == 0)))
        return 0;
    const char *v = eq + 1;
    if (!*v || strspn(v, "-+0123456789") != strlen(v))
        return 0;
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < 0)
        return -1;
    z->name = strndup(w, (size_t)(eq - w));
    z->value = n;
    return z->name ? 1 : -1;
}

static bool opt_value(const char *a, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *val = a + n + 1;
        return true;
    }
    return false;
}

static int parse_args(int argc, char **argv, args *A)
{
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    A->sizes = calloc((size_t)argc + 1, sizeof *A->sizes);
    A->files = calloc((size_t)argc + 1, sizeof *A->files);
    if (!pos || !A->sizes || !A->files) {
        free(pos);
        return usage_error("%s", "out of memory");
    }
    int npos = 0, first_after_dashdash = -1;
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (dashdash || a[0] != '-' || a[1] == 0) {
            pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
            first_after_dashdash = npos;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--name") == 0) {
            if (i + 1 >= argc) {
                free(pos);
                return usage_error("option '%s' needs a value", a);
            }
            if (a[1] == 'o')
                A->out = argv[++i];
            else
                A->name = argv[++i];
        } else if (opt_value(a, "--output", &v)) {
            A->out = v;
        } else if (opt_value(a, "--name", &v)) {
            A->name = v;
        } else if (opt_value(a, "--emit", &v)) {
            static const char *const kinds[] = { "c", "header", "cuda", "llvm", "asm", "ptx", "obj" };
            size_t k = 0;
            while (k < sizeof kinds / sizeof *kinds && strcmp(kinds[k], v))
                k++;
            if (k == sizeof kinds / sizeof *kinds) {
                free(pos);
                return usage_error("--emit takes c, header, cuda, llvm, asm, ptx or obj, not '%s'", v);
            }
            A->emit = v;
        } else if (opt_value(a, "--dtype", &v)) {
            if (strcmp(v, "f32") && strcmp(v, "f64")) {
                free(pos);
                return usage_error("--dtype takes f32 or f64, not '%s'", v);
            }
            A->dtype = v[1] == '3' ? EINC_F32 : EINC_F64;
        } else if (opt_value(a, "--max-memory", &v)) {
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            long long mul = *end == 'K' || *end == 'k' ? 1LL << 10 : *end == 'M' ? 1LL << 20
                          : *end == 'G' ? 1LL << 30 : 1;
            if (errno || end == v || n < 0 || (mul > 1 && end[1]) || (mul == 1 && *end) ||
                __builtin_mul_overflow(n, mul, &n)) {
                free(pos);
                return usage_error("--max-memory takes a byte count such as 1000000, 64K, 512M or 2G, not '%s'", v);
            }
            A->opt.max_memory = n;
        } else if (opt_value(a, "--reduce", &v)) {
            int r = 0;
            while (r < EINC_REDUCE_COUNT && strcmp(einc_reduce_name((einc_reduce)r), v))
                r++;
            if (r == EINC_REDUCE_COUNT) {
                free(pos);
                return usage_error("--reduce takes sum, mean, max, min or prod, not '%s'", v);
            }
            A->opt.reduce = (einc_reduce)r;
        } else if (opt_value(a, "--target", &v)) {
            static const char *const t[] = { "auto", "cpu", "cuda", "interp" };
            int k = 0;
            while (k < 4 && strcmp(t[k], v))
                k++;
            if (k == 4) {
                free(pos);
                return usage_error("--target takes auto, cpu, cuda or interp, not '%s'", v);
            }
            A->opt.target = (einc_target)k;
        } else if (strcmp(a, "--dot") == 0) {
            A->dot = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            free(pos);
            return -1;
        } else if (strcmp(a, "--version") == 0) {
            printf("einc %s\n", einc_version());
            free(pos);
            return -1;
        } else {
            free(pos);
            return usage_error("unknown option '%s'", a);
        }
    }
    int i = 0;
    if (npos > 0 && first_after_dashdash != 0 &&
        (strcmp(pos[0], "run") == 0 || strcmp(pos[0], "explain") == 0 || strcmp(pos[0], "bench") == 0))
        A->cmd = pos[i++];
    if (i >= npos) {
        free(pos);
        return usage_error("%s", "no expression given");
    }
    A->expr = pos[i++];
    for (; i < npos; i++) {
        int r = size_word(pos[i], &A->sizes[A->nsizes]);
        if (r < 0) {
            const char *word = pos[i];
            free(pos);
            return usage_error("bad size '%s': a size is NAME=N with N >= 0", word);
        }
        if (r > 0)
            A->nsizes++;
        else
            A->files[A->nfiles++] = pos[i];
    }
    A->opt.nsizes = A->nsizes;
    A->opt.sizes = A->sizes;
    free(pos);
    return 0;
}

/*
 * A result or benchmark buffer: 64-byte aligned, as PyTorch aligns its tensors, so that a
 * large transposed result can be streamed to memory whole lines at a time.  free() frees it.
 */
static void *buffer(size_t bytes)
{
    size_t n = bytes ? (bytes + 63) / 64 * 64 : 64;
    return n < bytes ? NULL : aligned_alloc(64, n);
}

static const char *model_path;  /* set while the source is a model: errors say file:line:col */

static void print_error(const einc_error *e, const char *src)
{
    char buf[4096];
    einc_error_format(e, src, buf, sizeof buf);
    if (model_path && e->begin >= 0 && (size_t)e->begin <= strlen(src)) {
        int line = 1, col = 1;
        for (int i = 0; i < e->begin; i++, col++)
            if (src[i] == '\n') {
                line++;
                col = 0;
            }
        fprintf(stderr, "einc: %s:%d:%d: %s\n", model_path, line, col, buf);
    } else if (model_path) {
        fprintf(stderr, "einc: %s: %s\n", model_path, buf);
    } else {
        fprintf(stderr, "einc: %s\n", buf);
    }
}

/* The whole of a model file, NUL-terminated; NULL (printed) on failure. */
static char *read_model(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "einc: error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f) || n < cap - 1)
            break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "einc: error: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        fprintf(stderr, "einc: error: %s: a model is text, but this file holds a NUL byte\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static einc_status compile(einc_ctx *ctx, const args *A, const einc_options *o, einc_kernel **k,
                           einc_error *e)
{
    if (A->model)
        return einc_compile_model(ctx, A->expr, o, k, e);
    return einc_compile(ctx, A->expr, o, k, e);
}

static bool is_model(const char *s)
{
    size_t n = strlen(s);
    return n > 5 && strcmp(s + n - 5, ".einl") == 0;
}

/* A model's NAME=FILE.npy words, each to its input's position. */
static int load_model_inputs(const args *A, einc_kernel *k, npy_array *arr, einc_tensor *t)
{
    int n = einc_kernel_ninputs(k);
    const char **file = calloc((size_t)n + 1, sizeof *file);
    int rc = -1;
    if (!file)
        return fprintf(stderr, "einc: error: out of memory\n"), -1;
    for (int i = 0; i < A->nfiles; i++) {
        const char *w = A->files[i], *eq = strchr(w, '=');
        if (!eq) {
            fprintf(stderr, "einc: error: '%s': a model's arrays are bound by name, as NAME=FILE.npy\n", w);
            goto out;
        }
        int j = 0;
        while (j < n && (strlen(einc_kernel_input_name(k, j)) != (size_t)(eq - w) ||
                         strncmp(einc_kernel_input_name(k, j), w, (size_t)(eq - w))))
            j++;
        if (j == n) {
            fprintf(stderr, "einc: error: '%s': %s declares no input or param named '%.*s'\n", w,
                    A->model, (int)(eq - w), w);
            goto out;
        }
        if (file[j]) {
            fprintf(stderr, "einc: error: '%s': %s is bound twice\n", w, einc_kernel_input_name(k, j));
            goto out;
        }
        file[j] = eq + 1;
    }
    for (int j = 0; j < n; j++) {
        char err[512];
        if (!file[j]) {
            fprintf(stderr, "einc: error: %s needs an array for '%s': give %s=FILE.npy\n", A->model,
                    einc_kernel_input_name(k, j), einc_kernel_input_name(k, j));
            goto out;
        }
        if (npy_read(file[j], &arr[j], err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            goto out;
        }
        t[j] = (einc_tensor){ arr[j].dtype, arr[j].ndim, arr[j].shape, NULL, arr[j].data };
    }
    rc = 0;
out:
    free(file);
    return rc;
}

static int load_inputs(const args *A, npy_array *arr, einc_tensor *t)
{
    for (int i = 0; i < A->nfiles; i++) {
        const char *f = A->files[i];
        char err[512];
        if (strchr(f, '=')) {
            fprintf(stderr, "einc: error: '%s': NAME=FILE binds a model's inputs; an expression "
                            "takes its operands as plain file names\n", f);
            return -1;
        }
        if (npy_read(f, &arr[i], err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            return -1;
        }
        t[i] = (einc_tensor){ arr[i].dtype, arr[i].ndim, arr[i].shape, NULL, arr[i].data };
    }
    return 0;
}

static int cmd_run(einc_ctx *ctx, const args *A, bool explain)
{
    int rc = EXIT_INPUT;
    einc_error e = { 0 };
    einc_kernel *k = NULL;
    npy_array out = { 0 };
    if (compile(ctx, A, &A->opt, &k, &e)) {
        print_error(&e, A->expr);
        return rc;
    }
    int nin = A->model ? einc_kernel_ninputs(k) : A->nfiles;
    npy_array *arr = calloc((size_t)nin + 1, sizeof *arr);
    einc_tensor *t = calloc((size_t)nin + 1, sizeof *t);
    if (!arr || !t) {
        fprintf(stderr, "einc: error: out of memory\n");
        goto done;
    }
    if (A->model && (A->nfiles || !explain) ? load_model_inputs(A, k, arr, t) < 0 : load_inputs(A, arr, t) < 0)
        goto done;
    if (explain) {
        char *s = A->dot ? einc_kernel_explain_dot(k, nin, A->nfiles ? t : NULL, &e)
                         : einc_kernel_explain(k, nin, A->nfiles ? t : NULL, &e);
        if (!s) {
            print_error(&e, A->expr);
            goto done;
        }
        if (A->dot)
            printf("%s", s);
        else if (A->model)
            printf("model: %s\n%s", A->model, s);
        else
            printf("expression: %s\n%s", A->expr, s);
        free(s);
        rc = 0;
        goto done;
    }
    if (!A->model && A->nfiles != einc_kernel_ninputs(k)) {
        int n = einc_kernel_ninputs(k);
        fprintf(stderr, "einc: error: the expression takes %d operand%s but %d .npy file%s %s given\n  %s\n",
                n, n == 1 ? "" : "s", A->nfiles, A->nfiles == 1 ? "" : "s",
                A->nfiles == 1 ? "was" : "were", A->expr);
        goto done;
    }
    if (einc_kernel_output(k, nin, t, &out.dtype, &out.ndim, out.shape, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    size_t n = npy_dtype_size(out.dtype);
    for (int d = 0; d < out.ndim; d++)
        n *= (size_t)out.shape[d];
    out.nbytes = n;
    out.data = buffer(n);
    if (!out.data) {
        fprintf(stderr, "einc: error: out of memory for a result of %zu bytes\n", n);
        goto done;
    }
    einc_tensor ot = { out.dtype, out.ndim, out.shape, NULL, out.data };
    if (einc_kernel_run(k, nin, t, &ot, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    if (A->out) {
        char err[512];
        if (npy_write(A->out, &out, err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            goto done;
        }
    } else {
        npy_print(stdout, &out);
    }
    rc = 0;
done:
    for (int i = 0; arr && i < nin; i++)
        npy_free(&arr[i]);
    npy_free(&out);
    free(arr);
    free(t);
    einc_kernel_free(k);
    return rc;
}

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
                        const einc_tensor *out, int reps)
{
    einc_error e;
    double t[16];
    for (int r = -1; r < reps; r++) {
        double t0 = now();
        if (einc_kernel_run(k, n, in, out, &e)) {
            print_error(&e, expr);
            return -1;
        }
        if (r >= 0)
            t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return t[reps / 2];
}

/* einc bench: random float32 inputs of the given sizes, the JIT (or --target) timed. */
static int cmd_bench(einc_ctx *ctx, const args *A)
{
    einc_kernel *k = NULL, *ki = NULL;
    einc_error e = { 0 };
    int rc = EXIT_INPUT, nin = 0;
    int ndim[EINC_MAX_OPERANDS];
    static int64_t shape[EINC_MAX_OPERANDS][EINC_MAX_RANK];
    int64_t flops = 0, oshape[EINC_MAX_RANK];
    void *data[EINC_MAX_OPERANDS] = { 0 };
    float *out = NULL;
    einc_tensor in[EINC_MAX_OPERANDS];
    einc_options io = A->opt;
    io.target = EINC_TARGET_INTERP;
    einc_dtype dt[EINC_MAX_OPERANDS];
    if (compile(ctx, A, &A->opt, &k, &e) || compile(ctx, A, &io, &ki, &e) ||
        einc_kernel_input_shapes(k, &nin, ndim, shape, &flops, &e) ||
        einc_kernel_input_dtypes(k, dt, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    double bytes = 0, elems = 1;
    unsigned seed = 12345;
    for (int i = 0; i < nin; i++) {
        size_t n = 1;
        for (int d = 0; d < ndim[i]; d++)
            n *= (size_t)shape[i][d];
        if (!(data[i] = buffer(n * 8))) {
            fprintf(stderr, "einc: error: out of memory for operand %d (%zu elements)\n", i, n);
            goto done;
        }
        for (size_t j = 0; j < n; j++) {   /* floats in [-1, 1]; integers (labels) 0 or 1 */
            seed = seed * 1103515245u + 12345u;
            float f = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
            switch (dt[i]) {
            case EINC_F64: ((double *)data[i])[j] = f; break;
            case EINC_I32: ((int32_t *)data[i])[j] = (seed >> 16) & 1; break;
            case EINC_I64: ((int64_t *)data[i])[j] = (seed >> 16) & 1; break;
            case EINC_BOOL: ((uint8_t *)data[i])[j] = (seed >> 16) & 1; break;
            default: ((float *)data[i])[j] = f; break;
            }
        }
        in[i] = (einc_tensor){ dt[i], ndim[i], shape[i], NULL, data[i] };
        bytes += (double)n * (double)(dt[i] == EINC_F64 || dt[i] == EINC_I64 ? 8 : dt[i] == EINC_BOOL ? 1 : 4);
    }
    einc_dtype odt;
    int ond;
    if (einc_kernel_output(k, nin, in, &odt, &ond, oshape, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    for (int d = 0; d < ond; d++)
        elems *= (double)oshape[d];
    out = buffer((size_t)(elems > 0 ? elems : 1) * 8);
    if (!out) {
        fprintf(stderr, "einc: error: out of memory for the result\n");
        goto done;
    }
    bytes += elems * sizeof(float);
    einc_tensor ot = { odt, ond, oshape, NULL, out };
    double t0 = now();
    if (einc_kernel_run(k, nin, in, &ot, &e)) {     /* the first run compiles */
        print_error(&e, A->expr);
        goto done;
    }
    double first = now() - t0;
    double t = time_runs(k, A->expr, nin, in, &ot, 7);
    if (t < 0)
        goto done;
    printf("%s: median of 7 runs %.3f ms (first run, with compilation, %.1f ms)\n", A->model ? A->model : A->expr,
           t * 1e3, first * 1e3);
    printf("  %.2f GFLOP/s, %.2f GB/s (inputs read and output written once)\n",
           (double)flops / t / 1e9, bytes / t / 1e9);
    /* the interpreter, when it finishes in a few seconds (about 10 M evaluations) */
    if (flops > 0 && flops < 20000000) {
        double ti = time_runs(ki, A->expr, nin, in, &ot, 1);
        if (ti > 0)
            printf("  reference interpreter %.1f ms: %.0fx faster\n", ti * 1e3, ti / t);
    } else {
        printf("  (the reference interpreter is skipped at this size)\n");
    }
    rc = 0;
done:
    for (int i = 0; i < nin; i++)
        free(data[i]);
    free(out);
    einc_kernel_free(k);
    einc_kernel_free(ki);
    return rc;
}

static int cmd_emit(einc_ctx *ctx, const args *A)
{
    static const char *const names[] = { "c", "header", "cuda", "llvm", "asm", "ptx", "obj" };
    einc_emit_kind kind = EINC_EMIT_C;
    for (int i = 0; A->emit && i < 7; i++)
        if (strcmp(A->emit, names[i]) == 0)
            kind = (einc_emit_kind)i;
    if (kind == EINC_EMIT_OBJ && !A->out) {
        fprintf(stderr, "einc: error: --emit=obj writes an object file: give it a name with -o\n");
        return EXIT_USAGE;
    }
    if (A->nfiles) {
        fprintf(stderr, "einc: error: '%s': emitting a kernel takes sizes (AXIS=N), not files; "
                        "did you mean 'einc run'?\n", A->files[0]);
        return EXIT_USAGE;
    }
    einc_kernel *k = NULL;
    einc_error e = { 0 };
    int rc = EXIT_INPUT;
    char *text = NULL;
    size_t len = 0;
    if (compile(ctx, A, &A->opt, &k, &e) ||
        !(text = einc_kernel_emit(k, kind, A->name, A->dtype, &len, &e))) {
        print_error(&e, A->expr);
        goto done;
    }
    if (A->out) {
        char err[512];
        const void *parts[1] = { text };
        size_t lens[1] = { len };
        if (file_write_atomic(A->out, parts, lens, 1, err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            goto done;
        }
    } else {
        fwrite(text, 1, len, stdout);
    }
    rc = 0;
done:
    free(text);
    einc_kernel_free(k);
    return rc;
}

int main(int argc, char **argv)
{
    args A = { 0 };
    char *model_src = NULL;
    int rc = parse_args(argc, argv, &A);
    if (rc != 0) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }
    if (is_model(A.expr)) {
        if (!(model_src = read_model(A.expr))) {
            rc = EXIT_INPUT;
            goto done;
        }
        model_path = A.model = A.expr;
        A.expr = model_src;
    }
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx) {
        fprintf(stderr, "einc: error: out of memory\n");
        rc = EXIT_INPUT;
        goto done;
    }
    if (!A.cmd) {
        rc = cmd_emit(ctx, &A);
    } else if (strcmp(A.cmd, "bench") == 0) {
        rc = cmd_bench(ctx, &A);
    } else {
        if (A.out && strcmp(A.cmd, "explain") == 0) {
            fprintf(stderr, "einc: error: explain prints to standard output; -o is for run\n");
            rc = EXIT_USAGE;
        } else {
            rc = cmd_run(ctx, &A, strcmp(A.cmd, "explain") == 0);
        }
    }
    einc_ctx_free(ctx);
done:
    free(model_src);
    for (int i = 0; i < A.nsizes; i++)
        free((void *)A.sizes[i].name);
    free(A.sizes);
    free(A.files);
    return rc;
}
