/*
 * main.c — the einc command line.  The only place in einc that prints or chooses an exit
 * code: everything below it reports errors as values.
 *
 *     einc [--emit=KIND] [-o FILE] EXPR|MODEL.einl [AXIS=N ...]
 *     einc run [--target=T] [--reduce=OP] EXPR [AXIS=N ...] IN.npy ... [-o OUT.npy]
 *     einc explain [--dot] EXPR [AXIS=N ...] [IN.npy ...]
 *     einc bench EXPR AXIS=N ... | EXPR IN.npy ...
 *     einc cache [clear]
 *
 * args.c parses the command line, bench_cmd.c is einc bench; the other commands and the
 * helpers they share (cli.h) are here.  Exit status: 0 success, 1 an error in the input,
 * 2 a usage error, 3 an internal error (a bug in einc).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "print.h"
#include "file.h"
#include "npz.h"
#include "kcache.h"
#include "timing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A result or benchmark buffer: 64-byte aligned, as PyTorch aligns its tensors, so that a
 * large transposed result can be streamed to memory whole lines at a time.  free() frees it.
 */
void *cli_buffer(size_t bytes)
{
    size_t n = bytes ? (bytes + 63) / 64 * 64 : 64;
    return n < bytes ? NULL : aligned_alloc(64, n);
}

static const char *model_path;  /* set while the source is a model: errors say file:line:col */

/* An EINC_ERR_INTERNAL was printed: a bug in einc, not in the input, so exit 3 instead of 1. */
static bool internal_error;

void cli_print_error(const einc_error *e, const char *src)
{
    char buf[4096];
    einc_error_format(e, src, buf, sizeof buf);
    internal_error |= e->status == EINC_ERR_INTERNAL;
    if (model_path && e->begin >= 0 && (size_t)e->begin <= strlen(src)) {
        int line = 1, col = 1, i = 0;
        if (strncmp(src, "\xEF\xBB\xBF", 3) == 0)
            i = 3;                      /* a byte-order mark is no column */
        for (; i < e->begin; i++, col++)
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

/*
 * A command's result: to FILE for -o FILE, atomically (an error leaves FILE as it was), or
 * to standard output without -o and for -o -.  0, or -1 (printed).
 */
static int put_result(const char *out, int n, const void *const *parts, const size_t *lens)
{
    if (!out || strcmp(out, "-") == 0) {
        for (int i = 0; i < n; i++)
            if (lens[i] && fwrite(parts[i], 1, lens[i], stdout) != lens[i]) {
                fprintf(stderr, "einc: error: cannot write to standard output: %s\n", strerror(errno));
                return -1;
            }
        return 0;
    }
    char err[512];
    if (file_write_atomic(out, parts, lens, n, err, sizeof err) < 0) {
        fprintf(stderr, "einc: error: %s\n", err);
        return -1;
    }
    return 0;
}

int cli_put_text(const char *out, const char *text, size_t len)
{
    const void *parts[1] = { text };
    return put_result(out, 1, parts, &len);
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

einc_status cli_compile(einc_ctx *ctx, const args *A, const einc_options *o, einc_kernel **k,
                           einc_error *e)
{
    if (A->model)
        return einc_compile_model(ctx, A->expr, o, k, e);
    return einc_compile(ctx, A->expr, o, k, e);
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
    /* every missing array in one message, so that a first run learns them all at once */
    int missing = 0, last = -1;
    for (int j = 0; j < n; j++)
        if (!file[j])
            missing++, last = j;
    if (missing == 1) {
        fprintf(stderr, "einc: error: %s needs an array for '%s': give %s=FILE.npy\n", A->model,
                einc_kernel_input_name(k, last), einc_kernel_input_name(k, last));
        goto out;
    }
    if (missing > 1) {
        fprintf(stderr, "einc: error: %s needs arrays for", A->model);
        for (int j = 0, m = 0; j < n; j++)
            if (!file[j])
                fprintf(stderr, "%s '%s'", m++ ? (j == last ? " and" : ",") : "", einc_kernel_input_name(k, j));
        fprintf(stderr, ": give");
        for (int j = 0; j < n; j++)
            if (!file[j])
                fprintf(stderr, " %s=FILE.npy", einc_kernel_input_name(k, j));
        fprintf(stderr, "\n");
        goto out;
    }
    for (int j = 0; j < n; j++) {
        char err[512];
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

/* See cli.h. */
int cli_load_operands(const args *A, einc_kernel *k, int *n, npy_array **arr, einc_tensor **t)
{
    *n = A->model ? einc_kernel_ninputs(k) : A->nfiles;
    *arr = calloc((size_t)*n + 1, sizeof **arr);
    *t = calloc((size_t)*n + 1, sizeof **t);
    if (!*arr || !*t) {
        fprintf(stderr, "einc: error: out of memory\n");
        return -1;
    }
    if (A->model ? load_model_inputs(A, k, *arr, *t) < 0 : load_inputs(A, *arr, *t) < 0)
        return -1;
    if (!A->model && A->nfiles != einc_kernel_ninputs(k)) {
        int want = einc_kernel_ninputs(k);
        fprintf(stderr, "einc: error: the expression takes %d operand%s but %d .npy file%s %s given\n  %s\n",
                want, want == 1 ? "" : "s", A->nfiles, A->nfiles == 1 ? "" : "s",
                A->nfiles == 1 ? "was" : "were", A->expr);
        return -1;
    }
    return 0;
}

void cli_free_operands(int n, npy_array *arr, einc_tensor *t)
{
    for (int i = 0; arr && i < n; i++)
        npy_free(&arr[i]);
    free(arr);
    free(t);
}

static bool ends_with_npz(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcmp(path + n - 4, ".npz") == 0;
}

/*
 * Where the results go: printed, to one .npy (or standard output, -o -), or to an .npz
 * with each under its name.  One .npy holds one array, so several results need an .npz.
 */
static int put_outputs(const args *A, const einc_kernel *k, int nout, const npy_array *out)
{
    char err[512];
    if (A->out && ends_with_npz(A->out)) {
        const char *names[EINC_MAX_OPERANDS];
        for (int i = 0; i < nout; i++)
            names[i] = einc_kernel_output_name(k, i);
        if (npz_write(A->out, nout, names, out, err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            return -1;
        }
        return 0;
    }
    if (A->out && nout > 1) {
        fprintf(stderr, "einc: error: the model returns %d results (", nout);
        for (int i = 0; i < nout; i++)
            fprintf(stderr, "%s%s", i ? ", " : "", einc_kernel_output_name(k, i));
        fprintf(stderr, "), and %s holds one array: write them to an .npz file (-o %s)\n",
                strcmp(A->out, "-") == 0 ? "standard output" : A->out,
                strcmp(A->out, "-") == 0 ? "OUT.npz" : "FILE.npz");
        return -1;
    }
    if (A->out && strcmp(A->out, "-") == 0) {       /* the .npy file's bytes */
        size_t hlen = 0;
        unsigned char *hdr = npy_header(&out[0], "standard output", &hlen, err, sizeof err);
        if (!hdr) {
            fprintf(stderr, "einc: error: %s\n", err);
            return -1;
        }
        const void *parts[2] = { hdr, out[0].data };
        size_t lens[2] = { hlen, out[0].nbytes };
        int rc = put_result(NULL, 2, parts, lens);
        free(hdr);
        return rc;
    }
    if (A->out) {
        if (npy_write(A->out, &out[0], err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            return -1;
        }
        return 0;
    }
    for (int i = 0; i < nout; i++)
        if (!npy_printable(out[i].dtype)) {
            fprintf(stderr, "einc: error: printing a %s result is not supported yet; write it "
                            "with -o FILE.npy\n", einc_dtype_name(out[i].dtype));
            return -1;
        }
    for (int i = 0; i < nout; i++) {
        if (nout > 1)
            printf("%s%s:\n", i ? "\n" : "", einc_kernel_output_name(k, i));
        npy_print(stdout, &out[i]);
    }
    return 0;
}

/* --timings: each phase that took time (this thread's CPU ms, runtime/timing.h), into buf. */
static void format_timings(char *buf, size_t n, const einc_timings *T)
{
    int64_t total = 0;
    size_t at = (size_t)snprintf(buf, n, "timings (CPU ms of the calling thread):\n");
    for (int p = 0; p < PH_COUNT; p++) {
        total += T->ns[p];
        if (T->ns[p] && at < n)
            at += (size_t)snprintf(buf + at, n - at, "  %-20s %9.3f\n",
                                   einc_phase_name((einc_phase)p), (double)T->ns[p] / 1e6);
    }
    if (at < n)
        snprintf(buf + at, n - at, "  %-20s %9.3f\nkernels: %d compiled, %d from the disk cache, "
                                   "%d interpreted run%s\n", "total", (double)total / 1e6,
                 T->compiled, T->disk_hits, T->interp, T->interp == 1 ? "" : "s");
}

/* Runs k on t once into buffers of its own (explain --timings); 0 or -1 (printed). */
static int run_once(einc_kernel *k, int nin, const einc_tensor *t, const char *expr)
{
    einc_error e = { 0 };
    int nout = einc_kernel_noutputs(k), rc = -1, made = 0;
    einc_tensor o[EINC_MAX_OPERANDS];
    int64_t shape[EINC_MAX_OPERANDS][EINC_MAX_RANK];
    if (nout > EINC_MAX_OPERANDS) {
        fprintf(stderr, "einc: error: the model returns %d results; einc takes at most %d\n", nout,
                EINC_MAX_OPERANDS);
        return -1;
    }
    for (; made < nout; made++) {
        o[made] = (einc_tensor){ .shape = shape[made] };
        if (einc_kernel_output_at(k, made, nin, t, &o[made].dtype, &o[made].ndim, shape[made], &e)) {
            cli_print_error(&e, expr);
            goto done;
        }
        size_t n = npy_dtype_size(o[made].dtype);
        for (int d = 0; d < o[made].ndim; d++)
            n *= (size_t)shape[made][d];
        if (!(o[made].data = cli_buffer(n))) {
            fprintf(stderr, "einc: error: out of memory for a result of %zu bytes\n", n);
            goto done;
        }
    }
    rc = einc_kernel_run_outputs(k, nin, t, nout, o, &e) ? -1 : 0;
    if (rc)
        cli_print_error(&e, expr);
done:
    for (int i = 0; i < made; i++)
        free(o[i].data);
    return rc;
}

static int cmd_run(einc_ctx *ctx, const args *A)
{
    int rc = EXIT_INPUT, nin = 0, nout = 0;
    einc_error e = { 0 };
    einc_kernel *k = NULL;
    npy_array out[EINC_MAX_OPERANDS] = { 0 }, *arr = NULL;
    einc_tensor ot[EINC_MAX_OPERANDS], *t = NULL;
    einc_timings tm = { 0 };
    einc_timing = A->timings ? &tm : NULL;
    if (cli_compile(ctx, A, &A->opt, &k, &e)) {
        einc_timing = NULL;
        cli_print_error(&e, A->expr);
        return rc;
    }
    if (cli_load_operands(A, k, &nin, &arr, &t) < 0)
        goto done;
    nout = einc_kernel_noutputs(k);
    if (nout > EINC_MAX_OPERANDS) {
        fprintf(stderr, "einc: error: the model returns %d results; einc run takes at most %d\n",
                nout, EINC_MAX_OPERANDS);
        nout = 0;
        goto done;
    }
    for (int i = 0; i < nout; i++) {
        npy_array *o = &out[i];
        if (einc_kernel_output_at(k, i, nin, t, &o->dtype, &o->ndim, o->shape, &e)) {
            cli_print_error(&e, A->expr);
            goto done;
        }
        size_t n = npy_dtype_size(o->dtype);
        for (int d = 0; d < o->ndim; d++)
            n *= (size_t)o->shape[d];
        o->nbytes = n;
        o->data = cli_buffer(n);
        if (!o->data) {
            fprintf(stderr, "einc: error: out of memory for a result of %zu bytes\n", n);
            goto done;
        }
        ot[i] = (einc_tensor){ o->dtype, o->ndim, o->shape, NULL, o->data };
    }
    if (einc_kernel_run_outputs(k, nin, t, nout, ot, &e)) {
        cli_print_error(&e, A->expr);
        goto done;
    }
    if (A->timings) {
        char text[2048];
        einc_timing = NULL;
        format_timings(text, sizeof text, &tm);
        fputs(text, stderr);
    }
    if (put_outputs(A, k, nout, out) < 0)
        goto done;
    rc = 0;
done:
    einc_timing = NULL;
    cli_free_operands(nin, arr, t);
    for (int i = 0; i < nout; i++)
        npy_free(&out[i]);
    einc_kernel_free(k);
    return rc;
}

static int cmd_explain(einc_ctx *ctx, const args *A)
{
    int rc = EXIT_INPUT, nin = 0;
    einc_error e = { 0 };
    einc_kernel *k = NULL;
    npy_array *arr = NULL;
    einc_tensor *t = NULL;
    char *s = NULL, *text = NULL, times[2048] = "";
    if (A->timings && !A->nfiles) {
        fprintf(stderr, "einc: error: explain --timings times a run: give the input files\n");
        return EXIT_USAGE;
    }
    einc_timings tm = { 0 };
    einc_timing = A->timings ? &tm : NULL;
    if (cli_compile(ctx, A, &A->opt, &k, &e)) {
        einc_timing = NULL;
        cli_print_error(&e, A->expr);
        return rc;
    }
    /* without files, sizes stay symbolic */
    if (A->nfiles && cli_load_operands(A, k, &nin, &arr, &t) < 0)
        goto done;
    if (A->timings) {           /* a run as `einc run` makes it, before explain looks */
        if (run_once(k, nin, t, A->expr) < 0)
            goto done;
        einc_timing = NULL;
        format_timings(times, sizeof times, &tm);
    }
    s = A->dot ? einc_kernel_explain_dot(k, nin, t, &e) : einc_kernel_explain(k, nin, t, &e);
    if (!s) {
        cli_print_error(&e, A->expr);
        goto done;
    }
    const char *what = A->dot ? "" : A->model ? "model: " : "expression: ";
    const char *src = A->dot ? "" : A->model ? A->model : A->expr;
    size_t len = strlen(what) + strlen(src) + strlen(s) + strlen(times) + 2;
    if (!(text = malloc(len))) {
        fprintf(stderr, "einc: error: out of memory\n");
        goto done;
    }
    snprintf(text, len, "%s%s%s%s%s", what, src, A->dot ? "" : "\n", s, A->dot ? "" : times);
    if (A->dot)
        fputs(times, stderr);
    if (cli_put_text(A->out, text, strlen(text)) == 0)
        rc = 0;
done:
    einc_timing = NULL;
    free(s);
    free(text);
    cli_free_operands(nin, arr, t);
    einc_kernel_free(k);
    return rc;
}

static int cmd_emit(einc_ctx *ctx, const args *A)
{
    if (A->emit == EINC_EMIT_OBJ && !A->out) {
        fprintf(stderr, "einc: error: --emit=obj writes an object file: give it a name with -o "
                        "(-o - for standard output)\n");
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
    einc_emit_options eo = { .name = A->name, .dtype = A->dtype, .nparams = A->nparams,
                             .params = A->params, .cpu = A->cpu };
    if (cli_compile(ctx, A, &A->opt, &k, &e) || !(text = einc_kernel_emit_opts(k, A->emit, &eo, &len, &e))) {
        cli_print_error(&e, A->expr);
        goto done;
    }
    if (cli_put_text(A->out, text, len) == 0)
        rc = 0;
done:
    free(text);
    einc_kernel_free(k);
    return rc;
}

/* "41.2 KiB (42163 bytes)", or "512 bytes" */
static void put_bytes(char *buf, size_t n, int64_t bytes)
{
    static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes / 1024;
    int u = 0;
    for (; v >= 1024 && u < 3; u++)
        v /= 1024;
    if (bytes < 1024)
        snprintf(buf, n, "%lld bytes", (long long)bytes);
    else
        snprintf(buf, n, "%.1f %s (%lld bytes)", v, unit[u], (long long)bytes);
}

/* einc cache [clear]: the on-disk kernel cache's directory, state, entries and size. */
static int cmd_cache(const args *A)
{
    kcache *kc = kcache_new(NULL);
    if (!kc) {
        fprintf(stderr, "einc: error: out of memory\n");
        return EXIT_INPUT;
    }
    const char *dir = kcache_dir(kc), *off = kcache_off_reason(kc);
    int64_t n = 0, bytes = 0;
    char size[64], limit[64];
    int rc = EXIT_INPUT;
    if (!dir) {
        fprintf(stderr, "einc: error: %s\n", off);
    } else if (A->clear) {
        if (kcache_clear(kc, &n, &bytes) < 0 && errno != ENOENT) {  /* none yet: nothing to do */
            fprintf(stderr, "einc: error: cannot clear %s: %s\n", dir, strerror(errno));
        } else {
            put_bytes(size, sizeof size, bytes);
            printf("removed %lld entr%s, %s, from %s\n", (long long)n, n == 1 ? "y" : "ies",
                   size, dir);
            rc = 0;
        }
    } else if (kcache_stat(kc, &n, &bytes) < 0 && errno != ENOENT) {
        fprintf(stderr, "einc: error: cannot read %s: %s\n", dir, strerror(errno));
    } else {
        put_bytes(size, sizeof size, bytes);
        put_bytes(limit, sizeof limit, kcache_max(kc));
        printf("directory  %s\nstate      %s%s%s\nentries    %lld\nsize       %s\n"
               "limit      %s\n", dir, off ? "off (" : "on", off ? off : "", off ? ")" : "",
               (long long)n, size, limit);
        rc = 0;
    }
    kcache_free(kc);
    return rc;
}

int main(int argc, char **argv)
{
    args A = { 0 };
    char *model_src = NULL;
    int rc = cli_parse_args(argc, argv, &A);
    if (rc != 0) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }
    if (A.cmd == CMD_CACHE) {
        rc = cmd_cache(&A);
        goto done;
    }
    if (A.model) {
        if (!(model_src = read_model(A.model))) {
            rc = EXIT_INPUT;
            goto done;
        }
        model_path = A.model;
        A.expr = model_src;
    }
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx) {
        fprintf(stderr, "einc: error: out of memory\n");
        rc = EXIT_INPUT;
        goto done;
    }
    switch (A.cmd) {
    case CMD_RUN: rc = cmd_run(ctx, &A); break;
    case CMD_EXPLAIN: rc = cmd_explain(ctx, &A); break;
    case CMD_BENCH: rc = cli_bench(ctx, &A); break;
    default: rc = cmd_emit(ctx, &A); break;
    }
    einc_ctx_free(ctx);
done:
    /* a full disk or a closed pipe shows only when standard output is flushed */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == 0)
            fprintf(stderr, "einc: error: cannot write to standard output: %s\n", strerror(errno));
        rc = rc ? rc : EXIT_INPUT;
    }
    free(model_src);
    for (int i = 0; i < A.nsizes; i++)
        free((void *)A.sizes[i].name);
    free(A.sizes);
    free(A.files);
    free(A.params_text);
    free(A.params);
    return rc == EXIT_INPUT && internal_error ? EXIT_INTERNAL : rc;
}
