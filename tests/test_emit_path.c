/*
 * test_emit_path.c — emitted code follows the contraction path that `einc explain` shows
 * (README: emitted C ABI; docs/ARCHITECTURE.md §3).  For 3- and 4-operand contractions with
 * every size fixed and with open sizes: the C file (cc -O2, with and without OpenMP) and
 * LLVM's object file run through their workspace and give exactly the interpreter's values
 * on integer-valued data, and the header comment names the path explain prints.  Skipped
 * when no cc is installed.
 */
#define _GNU_SOURCE
#include "einc.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct pcase {
    const char *expr;
    int nin;
    const char *axes;           /* the axes in order of first appearance */
    int64_t size[6];            /* their sizes, for the run */
    bool fixed;                 /* emitted with every size given, else all open */
    const char *path;           /* the path the header comment and explain must name */
} pcase;

static const pcase cases[] = {
    { "ab,bc,cd->ad", 3, "abcd", { 5, 6, 7, 4 }, true, "((in2 in1) in0)" },
    { "ab,bc,cd->ad", 3, "abcd", { 5, 6, 7, 4 }, false, "((in2 in1) in0)" },
    /* sizes that favour the other order */
    { "ab,bc,cd->ad", 3, "abcd", { 2, 40, 40, 30 }, true, "(in2 (in1 in0))" },
    { "ijk,jl,kl->il", 3, "ijkl", { 3, 4, 5, 6 }, true, "((in2 in1) in0)" },
    { "ijk,jl,kl->il", 3, "ijkl", { 3, 4, 5, 6 }, false, "((in2 in1) in0)" },
    { "ab,bc,cd,de->ae", 4, "abcde", { 3, 8, 9, 7, 5 }, true, NULL },
    { "ab,bc,cd,de->ae", 4, "abcde", { 3, 8, 9, 7, 5 }, false, NULL },
};

static char dir[256];
static bool have_cc, have_llvm;

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The axis letters of operand i (or the output, i == nin) in expr. */
static void operand(const char *expr, int i, char *out)
{
    const char *s = expr;
    for (int k = 0; k < i; k++) {
        const char *comma = strchr(s, ','), *arrow = strstr(s, "->");
        s = comma && (!arrow || comma < arrow) ? comma + 1 : arrow + 2;
    }
    size_t n = strcspn(s, ",-");
    memcpy(out, s, n);
    out[n] = 0;
}

static int64_t axis_size(const pcase *c, char a)
{
    return c->size[strchr(c->axes, a) - c->axes];
}

/* "a=5 b=6 ..." as einc_size words. */
static int sizes_of(const pcase *c, einc_size *sz, char names[][2])
{
    int n = (int)strlen(c->axes);
    for (int i = 0; i < n; i++) {
        names[i][0] = c->axes[i];
        names[i][1] = 0;
        sz[i] = (einc_size){ names[i], c->size[i] };
    }
    return n;
}

/* The text of `path` in explain's "contraction path: P\n" line, or NULL. */
static char *explained_path(einc_kernel *k)
{
    einc_error err = { 0 };
    char *text = einc_kernel_explain(k, 0, NULL, &err);
    if (!text)
        fail_msg("explain: %s", err.message);
    const char *at = strstr(text, "contraction path: ");
    char *p = NULL;
    if (at) {
        at += strlen("contraction path: ");
        size_t n = strcspn(at, "\n");
        p = strndup(at, n);
    }
    free(text);
    return p;
}

/*
 * Loads so, runs call_k(bufs, sizes) and compares with the interpreter exactly: the data
 * are small integers, so every order of summation gives the same floats.
 */
static void check(const pcase *c, const char *so, const char *what)
{
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);   /* OpenMP's threads outlive dlclose */
    if (!h)
        fail_msg("dlopen: %s", dlerror());
    void (*call)(void **, const int64_t *);
    *(void **)&call = dlsym(h, "call_k");
    assert_non_null(call);
    einc_size sz[6];
    char names[6][2];
    int na = sizes_of(c, sz, names);
    einc_options ro = { .target = EINC_TARGET_INTERP, .nsizes = na, .sizes = sz };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *ref = NULL;
    einc_error err = { 0 };
    if (einc_compile(ctx, c->expr, &ro, &ref, &err))
        fail_msg("%s: %s", c->expr, err.message);
    void *bufs[6];
    einc_tensor in[5];
    int64_t shape[6][3];
    unsigned seed = 99;
    for (int i = 0; i <= c->nin; i++) {
        char ax[8];
        operand(c->expr, i, ax);
        int64_t n = 1;
        for (int d = 0; ax[d]; d++)
            n *= shape[i][d] = axis_size(c, ax[d]);
        bufs[i] = calloc((size_t)n, sizeof(float));
        for (int64_t e = 0; i < c->nin && e < n; e++) {
            seed = seed * 1103515245u + 12345u;
            ((float *)bufs[i])[e] = (float)((int)((seed >> 16) % 7) - 3);
        }
        if (i < c->nin)
            in[i] = (einc_tensor){ EINC_F32, (int)strlen(ax), shape[i], NULL, bufs[i] };
    }
    char ax[8];
    operand(c->expr, c->nin, ax);
    int64_t on = shape[c->nin][0] * shape[c->nin][1];
    float *want = calloc((size_t)on, sizeof *want);
    einc_tensor ot = { EINC_F32, 2, shape[c->nin], NULL, want };
    if (einc_kernel_run(ref, c->nin, in, &ot, &err))
        fail_msg("%s: %s", c->expr, err.message);
    call(bufs, c->size);
    for (int64_t e = 0; e < on; e++)
        if (((float *)bufs[c->nin])[e] != want[e])
            fail_msg("%s (%s, %s): element %lld: %.9g, the interpreter %.9g", c->expr,
                     c->fixed ? "fixed sizes" : "open sizes", what, (long long)e,
                     ((float *)bufs[c->nin])[e], want[e]);
    for (int i = 0; i <= c->nin; i++)
        free(bufs[i]);
    free(want);
    einc_kernel_free(ref);
    einc_ctx_free(ctx);
    dlclose(h);
}

/* call_k(bufs, sizes): allocates k's workspace and calls k with the sizes it takes. */
static void trampoline(FILE *f, const pcase *c)
{
    int na = c->fixed ? 0 : (int)strlen(c->axes);
    fprintf(f, "\n#include <stdlib.h>\nvoid k(");
    for (int i = 0; i < c->nin; i++)
        fprintf(f, "const float *, ");
    fprintf(f, "float *");
    for (int i = 0; i < na; i++)
        fprintf(f, ", int64_t");
    fprintf(f, ", void *);\nsize_t k_workspace(");
    for (int i = 0; i < na; i++)
        fprintf(f, "%sint64_t", i ? ", " : "");
    fprintf(f, "%s);\nvoid call_k(void **b, const int64_t *s);\n"
               "void call_k(void **b, const int64_t *s)\n{\n    (void)s;\n"
               "    void *w = malloc(k_workspace(", na ? "" : "void");
    for (int i = 0; i < na; i++)
        fprintf(f, "%ss[%d]", i ? ", " : "", i);
    fprintf(f, "));\n    k(");
    for (int i = 0; i < c->nin; i++)
        fprintf(f, "b[%d], ", i);
    fprintf(f, "b[%d]", c->nin);
    for (int i = 0; i < na; i++)
        fprintf(f, ", s[%d]", i);
    fprintf(f, ", w);\n    free(w);\n}\n");
}

static void test_path(void **state)
{
    if (!have_cc)
        skip();
    int idx = (int)(intptr_t)*state;
    const pcase *c = &cases[idx];
    einc_size sz[6];
    char names[6][2];
    int na = sizes_of(c, sz, names);
    einc_options o = { .nsizes = c->fixed ? na : 0, .sizes = sz };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    if (einc_compile(ctx, c->expr, &o, &k, &err))
        fail_msg("%s: %s", c->expr, err.message);

    /* the header comment names explain's path; the prototype ends with the workspace */
    char *path = explained_path(k);
    assert_non_null(path);
    if (c->path)
        assert_string_equal(path, c->path);
    einc_emit_options eo = { .name = "k", .dtype = EINC_F32 };
    char *src = einc_kernel_emit_opts(k, EINC_EMIT_C, &eo, NULL, &err);
    if (!src)
        fail_msg("%s: %s", c->expr, err.message);
    char line[256];
    snprintf(line, sizeof line, "\n * Contraction path: %s, its steps through temporaries in the workspace.\n", path);
    if (!strstr(src, line))
        fail_msg("%s: the header comment does not name explain's path %s:\n%s", c->expr, path, src);
    assert_non_null(strstr(src, c->fixed ? "path `einc explain` shows and `einc run` takes"
                                         : "when every open size is\n * 1024"));
    assert_non_null(strstr(src, c->fixed ? ", float *restrict out, void *workspace)\n{\n"
                                         : ", void *workspace)\n{\n"));
    free(path);

    char file[512], so[512], cmd[2048];
    snprintf(file, sizeof file, "%s/k%d.c", dir, idx);
    write_file(file, src, strlen(src));
    free(src);
    for (int omp = 0; omp < 2; omp++) {
        snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -O2 %s -c -o %s/k%d.o %s",
                 omp ? "-fopenmp" : "", dir, idx, file);
        if (sh(cmd) != 0)
            fail_msg("%s: emitted C does not compile cleanly", c->expr);
    }
    FILE *f = fopen(file, "a");
    trampoline(f, c);
    fclose(f);
    for (int omp = 0; omp < 2; omp++) {
        snprintf(so, sizeof so, "%s/k%d-%d.so", dir, idx, omp);
        snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 %s -fPIC -shared %s -o %s -lm",
                 omp ? "-fopenmp" : "", file, so);
        assert_int_equal(sh(cmd), 0);
        check(c, so, omp ? "C, OpenMP" : "C");
    }

    if (have_llvm) {            /* the JIT's code as an object file: the same path */
        size_t len = 0;
        char *obj = einc_kernel_emit_opts(k, EINC_EMIT_OBJ, &eo, &len, &err);
        if (!obj)
            fail_msg("%s: %s", c->expr, err.message);
        char opath[512], tpath[512];
        snprintf(opath, sizeof opath, "%s/k%d-llvm.o", dir, idx);
        write_file(opath, obj, len);
        free(obj);
        snprintf(tpath, sizeof tpath, "%s/k%d-call.c", dir, idx);
        f = fopen(tpath, "w");
        fprintf(f, "#include <stdint.h>\n");
        trampoline(f, c);
        fclose(f);
        snprintf(so, sizeof so, "%s/k%d-obj.so", dir, idx);
        snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -fPIC -shared -o %s %s %s -lm", so, tpath, opath);
        assert_int_equal(sh(cmd), 0);
        check(c, so, "object file");
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

int main(void)
{
    have_cc = system("cc --version >/dev/null 2>&1") == 0;
    {
        einc_ctx *ctx = einc_ctx_new();
        einc_kernel *k = NULL;
        if (einc_compile(ctx, "i->i", NULL, &k, NULL) == EINC_OK) {
            char *s = einc_kernel_emit(k, EINC_EMIT_LLVM, NULL, EINC_F32, NULL, NULL);
            have_llvm = s != NULL;
            free(s);
        }
        einc_kernel_free(k);
        einc_ctx_free(ctx);
    }
    snprintf(dir, sizeof dir, "/tmp/einc-path-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    enum { N = sizeof cases / sizeof *cases };
    struct CMUnitTest tests[N];
    char names[N][96];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%s (%s sizes)", cases[i].expr,
                 cases[i].fixed ? "fixed" : "open");
        tests[i] = (struct CMUnitTest){ names[i], test_path, NULL, NULL, (void *)(intptr_t)i };
    }
    int rc = _cmocka_run_group_tests("emit_path", tests, N, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
