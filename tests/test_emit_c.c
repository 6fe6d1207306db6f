/*
 * test_emit_c.c — emitted C, end to end: for each expression, emit the kernel, compile it
 * with the system cc (-std=c99 -Wall -Wextra -Werror -O2, with and without -fopenmp), load
 * it, run it on random data and compare with the interpreter.  The prototype is checked
 * against the ABI contract (arrays, then the sizes that were not given, in order of first
 * appearance).  Skipped when no cc is installed.
 */
#define _GNU_SOURCE
#include "einc.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct ecase {
    const char *expr;
    const char *fixed;          /* sizes given when emitting */
    const char *params;         /* the sizes left as parameters, in the expected order */
    einc_reduce reduce;
    int nin;
    int ndim[3];
    int64_t shape[3][6];
} ecase;

static const ecase cases[] = {
    { "ik,kj->ij", "", "i=5 k=7 j=9", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 5, 7 }, { 7, 9 } } },
    { "ik,kj->ij", "i=3 j=17", "k=4", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 3, 4 }, { 4, 17 } } },
    { "bij,bjk->bik", "", "b=2 i=3 j=4 k=5", EINC_REDUCE_SUM, 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } } },
    { "bhid,bhjd->bhij", "", "b=2 h=2 i=3 d=8 j=5", EINC_REDUCE_SUM, 2, { 4, 4 }, { { 2, 2, 3, 8 }, { 2, 2, 5, 8 } } },
    { "ijk,jl,kl->il", "", "i=3 j=4 k=5 l=2", EINC_REDUCE_SUM, 3, { 3, 2, 2 }, { { 3, 4, 5 }, { 4, 2 }, { 5, 2 } } },
    { "ii->i", "", "i=6", EINC_REDUCE_SUM, 1, { 2 }, { { 6, 6 } } },
    { "ii", "", "i=6", EINC_REDUCE_SUM, 1, { 2 }, { { 6, 6 } } },
    { "ij->", "", "i=7 j=3", EINC_REDUCE_SUM, 1, { 2 }, { { 7, 3 } } },
    { "abcd->dcba", "", "a=2 b=3 c=4 d=5", EINC_REDUCE_SUM, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "b c h w -> b h w c", "", "b=2 c=3 h=4 w=5", EINC_REDUCE_SUM, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "b (h w) c -> b h w c", "h=3", "b=2 w=4 c=5", EINC_REDUCE_SUM, 1, { 3 }, { { 2, 12, 5 } } },
    { "b (h p1) (w p2) c -> b h w (p1 p2 c)", "p1=2 p2=2", "b=1 h=3 w=2 c=3", EINC_REDUCE_SUM, 1, { 4 }, { { 1, 6, 4, 3 } } },
    { "b c h w -> b c", "", "b=2 c=3 h=4 w=5", EINC_REDUCE_MEAN, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "b c h w -> b c", "", "b=2 c=3 h=4 w=5", EINC_REDUCE_MAX, 1, { 4 }, { { 2, 3, 4, 5 } } },
    { "i j -> j", "", "i=6 j=5", EINC_REDUCE_MIN, 1, { 2 }, { { 6, 5 } } },
    { "i j -> j", "", "i=4 j=5", EINC_REDUCE_PROD, 1, { 2 }, { { 4, 5 } } },
    { "i j -> j", "", "i=6 j=5", EINC_REDUCE_MEAN, 1, { 2 }, { { 6, 5 } } },
    { "h w -> h (w r)", "r=2", "h=3 w=4", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
    { "h w -> h w 3", "", "h=3 w=4", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
    { "b (h d), d e -> b h e", "h=2", "b=3 d=4 e=5", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 3, 8 }, { 4, 5 } } },
    { ",ij->ij", "", "i=2 j=3", EINC_REDUCE_SUM, 2, { 0, 2 }, { { 0 }, { 2, 3 } } },
    { "ik,kj->ij", "", "i=0 k=3 j=2", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 0, 3 }, { 3, 2 } } },
    { "ik,kj->ij", "", "i=2 k=0 j=2", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 2, 0 }, { 0, 2 } } },
    /* '...' with its rank given: its dimensions are parameters after the named sizes */
    { "...ij,...jk->...ik", "...=1", "i=3 j=4 k=5 ellipsis0=2", EINC_REDUCE_SUM, 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } } },
    { "b ... c -> b c ...", "...=2", "b=2 c=3 ellipsis0=4 ellipsis1=5", EINC_REDUCE_SUM, 1, { 4 }, { { 2, 4, 5, 3 } } },
    { "...i->...", "...=1", "i=7 ellipsis0=3", EINC_REDUCE_MAX, 1, { 2 }, { { 3, 7 } } },
    /* big enough for the GEMM tile's full tiles, leftover rows and columns, two k blocks */
    { "ik,kj->ij", "", "i=13 k=300 j=70", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 13, 300 }, { 300, 70 } } },
    { "ik,jk->ij", "j=67", "i=14 k=40", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 14, 40 }, { 67, 40 } } },
    { "bhid,bhjd->bhij", "", "b=1 h=2 i=7 d=9 j=65", EINC_REDUCE_SUM, 2, { 4, 4 }, { { 1, 2, 7, 9 }, { 1, 2, 65, 9 } } },
};

static char dir[256];
static bool have_cc;

static int parse_sizes(const char *text, char names[][32], einc_size *out, int max)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *save;
    for (char *tok = strtok_r(buf, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        snprintf(names[n], 32, "%.*s", (int)(eq - tok), tok);
        out[n] = (einc_size){ names[n], atoll(eq + 1) };
        n++;
    }
    return n;
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return rc;
}

static void run_case(const ecase *c, int idx, einc_dtype dt)
{
    char fnames[8][32], pnames[8][32];
    einc_size fixed[8], params[8];
    int nf = parse_sizes(c->fixed, fnames, fixed, 8);
    int np = parse_sizes(c->params, pnames, params, 8);
    einc_options o = { .reduce = c->reduce, .nsizes = nf, .sizes = fixed };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    if (einc_compile(ctx, c->expr, &o, &k, &err))
        fail_msg("%s: %s", c->expr, err.message);

    /* the prototype: arrays, then each size left open, in order */
    char name[32], want[1024];
    snprintf(name, sizeof name, "kern%d", idx);
    const char *T = dt == EINC_F32 ? "float" : "double";
    int at = snprintf(want, sizeof want, "void %s(", name);
    for (int i = 0; i < c->nin; i++)
        at += snprintf(want + at, sizeof want - (size_t)at, "%sconst %s *restrict in%d", i ? ", " : "", T, i);
    at += snprintf(want + at, sizeof want - (size_t)at, ", %s *restrict out", T);
    for (int i = 0; i < np; i++)
        at += snprintf(want + at, sizeof want - (size_t)at, ", int64_t %s", params[i].name);
    snprintf(want + at, sizeof want - (size_t)at, ");\n");
    char *hdr = einc_kernel_emit(k, EINC_EMIT_HEADER, name, dt, NULL, &err);
    assert_non_null(hdr);
    assert_string_equal(hdr, want);
    free(hdr);

    char *src = einc_kernel_emit(k, EINC_EMIT_C, name, dt, NULL, &err);
    if (!src)
        fail_msg("%s: %s", c->expr, err.message);
    char path[512], so[512], cmd[2048];
    snprintf(path, sizeof path, "%s/%s.c", dir, name);
    FILE *f = fopen(path, "w");
    fputs(src, f);
    fclose(f);
    free(src);
    /* the file alone, warning-free, with and without OpenMP */
    for (int omp = 0; omp < 2; omp++) {
        snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -O2 %s -c -o %s/%s.o %s",
                 omp ? "-fopenmp" : "", dir, name, path);
        if (sh(cmd) != 0)
            fail_msg("%s: emitted C does not compile cleanly (%s)", c->expr, omp ? "-fopenmp" : "no OpenMP");
    }
    /* a trampoline with a fixed signature, so the test can call any arity */
    f = fopen(path, "a");
    fprintf(f, "\nvoid call_%s(void **b, const int64_t *s)\n{\n    (void)s;\n    %s(", name, name);
    for (int i = 0; i < c->nin; i++)
        fprintf(f, "(const %s *)b[%d], ", T, i);
    fprintf(f, "(%s *)b[%d]", T, c->nin);
    for (int i = 0; i < np; i++)
        fprintf(f, ", s[%d]", i);
    fprintf(f, ");\n}\n");
    fclose(f);
    for (int plain = 0; plain < 2; plain++) {   /* the vector tile, then the plain-C one */
    snprintf(so, sizeof so, "%s/%s-%d-%d.so", dir, name, (int)dt, plain);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 -fopenmp -fPIC -shared %s -o %s %s -lm",
             plain ? "-DEINC_VECTOR=0" : "", so, path);
    assert_int_equal(sh(cmd), 0);
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h)
        fail_msg("dlopen: %s", dlerror());
    char sym[64];
    snprintf(sym, sizeof sym, "call_%s", name);
    void (*call)(void **, const int64_t *);
    *(void **)&call = dlsym(h, sym);
    assert_non_null(call);

    /* inputs, and the interpreter's answer with every size given */
    size_t es = dt == EINC_F32 ? 4 : 8;
    einc_tensor in[3];
    void *bufs[4];
    unsigned seed = 12345u + (unsigned)idx;
    for (int i = 0; i < c->nin; i++) {
        int64_t n = 1;
        for (int d = 0; d < c->ndim[i]; d++)
            n *= c->shape[i][d];
        bufs[i] = malloc((size_t)(n ? n : 1) * es);
        for (int64_t e = 0; e < n; e++) {
            seed = seed * 1103515245u + 12345u;
            double v = c->reduce == EINC_REDUCE_PROD ? 0.5 + (seed >> 16) % 100 / 100.0
                                                      : ((int)((seed >> 16) % 2001) - 1000) / 1000.0;
            if (dt == EINC_F32)
                ((float *)bufs[i])[e] = (float)v;
            else
                ((double *)bufs[i])[e] = v;
        }
        in[i] = (einc_tensor){ dt, c->ndim[i], c->shape[i], NULL, bufs[i] };
    }
    einc_dtype odt;
    int ondim;
    int64_t oshape[EINC_MAX_RANK];
    assert_int_equal(einc_kernel_output(k, c->nin, in, &odt, &ondim, oshape, &err), EINC_OK);
    int64_t on = 1;
    for (int d = 0; d < ondim; d++)
        on *= oshape[d];
    void *want_buf = malloc((size_t)(on ? on : 1) * es);
    bufs[c->nin] = malloc((size_t)(on ? on : 1) * es);
    memset(bufs[c->nin], 0xA5, (size_t)(on ? on : 1) * es);    /* poison */
    einc_tensor ot = { odt, ondim, oshape, NULL, want_buf };
    assert_int_equal(einc_kernel_run(k, c->nin, in, &ot, &err), EINC_OK);
    int64_t pv[8];
    for (int i = 0; i < np; i++)
        pv[i] = params[i].value;
    call(bufs, pv);
    int64_t red = 1;
    for (int i = 0; i < c->nin; i++)
        for (int d = 0; d < c->ndim[i]; d++)
            red = c->shape[i][d] > red ? c->shape[i][d] : red;
    double tol = (dt == EINC_F32 ? 4e-6 : 1e-13) * (double)red;
    for (int64_t e = 0; e < on; e++) {
        double g = dt == EINC_F32 ? ((float *)bufs[c->nin])[e] : ((double *)bufs[c->nin])[e];
        double w = dt == EINC_F32 ? ((float *)want_buf)[e] : ((double *)want_buf)[e];
        if (!(fabs(g - w) <= tol * (1 + fabs(w))))
            fail_msg("%s (%s): element %lld: emitted C gives %.9g, the interpreter %.9g", c->expr,
                     T, (long long)e, g, w);
    }
    dlclose(h);
    for (int i = 0; i <= c->nin; i++)
        free(bufs[i]);
    free(want_buf);
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

static void test_case(void **state)
{
    if (!have_cc)
        skip();
    int i = (int)(intptr_t)*state;
    run_case(&cases[i], i, EINC_F32);
    run_case(&cases[i], i, EINC_F64);
}

static void test_emit_errors(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile(ctx, "...ij,...jk", NULL, &k, &err), EINC_OK);
    assert_null(einc_kernel_emit(k, EINC_EMIT_C, NULL, EINC_F32, NULL, &err));
    assert_int_equal(err.status, EINC_ERR_ARG);
    assert_string_equal(err.message, "a kernel's source needs the number of dimensions '...' "
                                     "stands for: give ...=N (e.g. ...=2)");
    assert_int_equal(err.begin, 0);
    assert_int_equal(err.end, 3);
    assert_null(einc_kernel_emit(k, EINC_EMIT_C, "not a name", EINC_F32, NULL, &err));
    assert_string_equal(err.message, "a kernel name must be a C identifier");
    assert_null(einc_kernel_emit(k, EINC_EMIT_C, NULL, EINC_I32, NULL, &err));
    assert_string_equal(err.message, "emitted kernels are float32 or float64");
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

int main(void)
{
    have_cc = system("cc --version >/dev/null 2>&1") == 0;
    snprintf(dir, sizeof dir, "/tmp/einc-emit-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    enum { N = sizeof cases / sizeof *cases };
    struct CMUnitTest tests[N + 1];
    char names[N][96];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "emit_c: %s", cases[i].expr);
        tests[i] = (struct CMUnitTest){ names[i], test_case, NULL, NULL, (void *)(intptr_t)i };
    }
    tests[N] = (struct CMUnitTest){ "emit_errors", test_emit_errors, NULL, NULL, NULL };
    int rc = _cmocka_run_group_tests("emit_c", tests, N + 1, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
