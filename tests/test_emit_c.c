/*
 * test_emit_c.c — emitted C, end to end: for each expression, emit the kernel, compile it
 * with the system cc (-std=c99 -Wall -Wextra -Werror -O2, with and without -fopenmp), load
 * it, run it on random data and compare with the interpreter.  The prototype is checked
 * against the ABI contract (arrays, then the sizes that were not given, in order of first
 * appearance).  Skipped when no cc is installed.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "helpers.h"

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

static const ecase repeats[] = {
    /* a repeat's size not given is a parameter like any other, after the inputs' sizes */
    { "h w -> h w c", "", "h=3 w=4 c=5", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
    { "h w -> h (w r) c", "", "h=3 w=4 r=2 c=3", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } },
    { "b h -> r b h", "", "b=2 h=3 r=4", EINC_REDUCE_SUM, 1, { 2 }, { { 2, 3 } } },
    { "ij->ijk", "", "i=2 j=3 k=2", EINC_REDUCE_SUM, 1, { 2 }, { { 2, 3 } } },
};

/* Sizes in an order of the caller's (einc_emit_options.params, --params): params lists it. */
typedef struct ocase {
    ecase c;
    const char *order;
} ocase;

static const ocase ordered[] = {
    { { "bhid,bhjd->bhij", "", "b=2 h=2 i=3 j=5 d=8", EINC_REDUCE_SUM, 2, { 4, 4 },
        { { 2, 2, 3, 8 }, { 2, 2, 5, 8 } } }, "b,h,i,j,d" },
    { { "...ij,...jk->...ik", "...=1", "ellipsis0=2 k=5 j=4 i=3", EINC_REDUCE_SUM, 2, { 3, 3 },
        { { 2, 3, 4 }, { 2, 4, 5 } } }, "ellipsis0,k,j,i" },
    { { "h w -> h w c", "", "c=5 w=4 h=3", EINC_REDUCE_SUM, 1, { 2 }, { { 3, 4 } } }, "c,w,h" },
    { { "b c h w -> b c", "", "w=5 b=2 h=4 c=3", EINC_REDUCE_MEAN, 1, { 4 }, { { 2, 3, 4, 5 } } },
      "w,b,h,c" },
};

static char dir[256];
static bool have_cc;

/* "a,b,c" into names[], pointed to by ptrs[]; the count. */
static int parse_order(const char *text, char names[][32], const char **ptrs, int max)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    char *save;
    for (char *tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        snprintf(names[n], 32, "%s", tok);
        ptrs[n] = names[n];
        n++;
    }
    return n;
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return rc;
}

/*
 * Loads so, calls call_NAME(bufs, sizes) on random inputs and compares the output with the
 * interpreter's (ref: the expression with every size given).
 */
static void check_run(const ecase *c, int idx, einc_dtype dt, einc_kernel *ref, const char *so,
                      const char *name, const int64_t *pv, const char *what)
{
    void *h = NULL;
    char sym[64];
    snprintf(sym, sizeof sym, "call_%s", name);
    void (*call)(void **, const int64_t *);
    *(void **)&call = th_dlsym(&h, so, sym);

    size_t es = dt == EINC_F32 ? 4 : 8;
    einc_tensor in[3];
    void *bufs[4];
    einc_error err = { 0 };
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
    if (einc_kernel_output(ref, c->nin, in, &odt, &ondim, oshape, &err) != EINC_OK)
        fail_msg("%s: %s", c->expr, err.message);
    int64_t on = 1;
    for (int d = 0; d < ondim; d++)
        on *= oshape[d];
    void *want_buf = malloc((size_t)(on ? on : 1) * es);
    bufs[c->nin] = malloc((size_t)(on ? on : 1) * es);
    memset(bufs[c->nin], 0xA5, (size_t)(on ? on : 1) * es);    /* poison */
    einc_tensor ot = { odt, ondim, oshape, NULL, want_buf };
    assert_int_equal(einc_kernel_run(ref, c->nin, in, &ot, &err), EINC_OK);
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
            fail_msg("%s (%s, %s): element %lld: emitted code gives %.9g, the interpreter %.9g",
                     c->expr, dt == EINC_F32 ? "float" : "double", what, (long long)e, g, w);
    }
    dlclose(h);
    for (int i = 0; i <= c->nin; i++)
        free(bufs[i]);
    free(want_buf);
}

/*
 * Programs with temporaries in memory, whose functions take a workspace: a contraction
 * path's steps, and a full reduction's row partials (the JIT's pipeline, README).
 */
static bool takes_workspace(const ecase *c)
{
    return strcmp(c->expr, "ijk,jl,kl->il") == 0 || strcmp(c->expr, "ij->") == 0;
}

/* The prototype: arrays, then each size left open in order; restrict spelled rkw. */
static void prototype(const ecase *c, const char *name, einc_dtype dt, const char *rkw,
                      const char *params, char *want, size_t n)
{
    char pnames[8][32];
    einc_size pv[8];
    int np = th_parse_sizes(params, pnames, pv, 8);
    const char *T = dt == EINC_F32 ? "float" : "double";
    int at = snprintf(want, n, "void %s(", name);
    for (int i = 0; i < c->nin; i++)
        at += snprintf(want + at, n - (size_t)at, "%sconst %s *%s in%d", i ? ", " : "", T, rkw, i);
    at += snprintf(want + at, n - (size_t)at, ", %s *%s out", T, rkw);
    for (int i = 0; i < np; i++)
        at += snprintf(want + at, n - (size_t)at, ", int64_t %s", pv[i].name);
    snprintf(want + at, n - (size_t)at, "%s)", takes_workspace(c) ? ", void *workspace" : "");
}

/* A C file that defines call_NAME(void **bufs, const int64_t *sizes) calling NAME. */
static void trampoline(FILE *f, const ecase *c, const char *name, einc_dtype dt, int np)
{
    const char *T = dt == EINC_F32 ? "float" : "double";
    bool ws = takes_workspace(c);
    fprintf(f, "\n#include <stdlib.h>\n");
    if (ws) {
        fprintf(f, "size_t %s_workspace(", name);
        for (int i = 0; i < np; i++)
            fprintf(f, "%sint64_t", i ? ", " : "");
        fprintf(f, "%s);\n", np ? "" : "void");
    }
    fprintf(f, "void call_%s(void **b, const int64_t *s);\n", name);
    fprintf(f, "void call_%s(void **b, const int64_t *s)\n{\n    (void)s;\n", name);
    if (ws) {
        fprintf(f, "    void *w = malloc(%s_workspace(", name);
        for (int i = 0; i < np; i++)
            fprintf(f, "%ss[%d]", i ? ", " : "", i);
        fprintf(f, ") + 1);\n");
    }
    fprintf(f, "    %s(", name);
    for (int i = 0; i < c->nin; i++)
        fprintf(f, "(const %s *)b[%d], ", T, i);
    fprintf(f, "(%s *)b[%d]", T, c->nin);
    for (int i = 0; i < np; i++)
        fprintf(f, ", s[%d]", i);
    fprintf(f, "%s);\n%s}\n", ws ? ", w" : "", ws ? "    free(w);\n" : "");
}

/*
 * Emits case c (sizes in order, when not NULL) as C, compiles it alone warning-free with and
 * without OpenMP, runs it with the vector tile and the plain-C one; with obj_cpu not NULL
 * also the object file LLVM writes for that CPU ("": the host), linked and run the same way.
 */
static void run_case(const ecase *c, int idx, einc_dtype dt, const char *order, const char *obj_cpu)
{
    char fnames[8][32], pnames[8][32], onames[8][32], rnames[16][32];
    einc_size fixed[8], params[8], all[16];
    const char *optr[8];
    int nf = th_parse_sizes(c->fixed, fnames, fixed, 8);
    int np = th_parse_sizes(c->params, pnames, params, 8);
    int no = parse_order(order, onames, optr, 8);
    einc_options o = { .reduce = c->reduce, .nsizes = nf, .sizes = fixed };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL, *ref = NULL;
    einc_error err = { 0 };
    if (einc_compile(ctx, c->expr, &o, &k, &err))
        fail_msg("%s: %s", c->expr, err.message);
    /* the reference: the interpreter with every size given ('...' dimensions come from the arrays) */
    int na = th_parse_sizes(c->fixed, rnames, all, 8);
    for (int i = 0; i < np; i++)
        if (strncmp(params[i].name, "ellipsis", 8) != 0)
            all[na++] = params[i];
    einc_options ro = { .reduce = c->reduce, .target = EINC_TARGET_INTERP, .nsizes = na, .sizes = all };
    if (einc_compile(ctx, c->expr, &ro, &ref, &err))
        fail_msg("%s: %s", c->expr, err.message);

    char name[32], want[1024], line[1100];
    snprintf(name, sizeof name, "kern%d%s", idx, order ? "o" : "");
    einc_emit_options eo = { .name = name, .dtype = dt, .nparams = no, .params = optr };
    char *hdr = einc_kernel_emit_opts(k, EINC_EMIT_HEADER, &eo, NULL, &err);
    if (!hdr)
        fail_msg("%s: %s", c->expr, err.message);
    prototype(c, name, dt, "EINC_RESTRICT", c->params, want, sizeof want);
    snprintf(line, sizeof line, "\n%s;\n", want);
    if (!strstr(hdr, line))
        fail_msg("%s: no '%s' in the header:\n%s", c->expr, want, hdr);
    free(hdr);

    char *src = einc_kernel_emit_opts(k, EINC_EMIT_C, &eo, NULL, &err);
    if (!src)
        fail_msg("%s: %s", c->expr, err.message);
    prototype(c, name, dt, "restrict", c->params, want, sizeof want);
    snprintf(line, sizeof line, "%s\n{\n", want);
    if (!strstr(src, line))
        fail_msg("%s: no '%s' in the C file:\n%s", c->expr, want, src);
    char path[512], so[512], cmd[2048];
    snprintf(path, sizeof path, "%s/%s.c", dir, name);
    th_write_file(path, src, strlen(src));
    free(src);
    /* the file alone, warning-free, with and without OpenMP */
    for (int omp = 0; omp < 2; omp++) {
        snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -O2 %s -c -o %s/%s.o %s",
                 omp ? "-fopenmp" : "", dir, name, path);
        if (sh(cmd) != 0)
            fail_msg("%s: emitted C does not compile cleanly (%s)", c->expr, omp ? "-fopenmp" : "no OpenMP");
    }
    /* a trampoline with a fixed signature, so the test can call any arity */
    FILE *f = fopen(path, "a");
    trampoline(f, c, name, dt, np);
    fclose(f);
    int64_t pv[8];
    for (int i = 0; i < np; i++)
        pv[i] = params[i].value;
    for (int plain = 0; plain < 2; plain++) {   /* the vector tile, then the plain-C one */
        snprintf(so, sizeof so, "%s/%s-%d-%d.so", dir, name, (int)dt, plain);
        snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 -fopenmp -fPIC -shared %s -o %s %s -lm",
                 plain ? "-DEINC_VECTOR=0" : "", so, path);
        assert_int_equal(sh(cmd), 0);
        check_run(c, idx, dt, ref, so, name, pv, plain ? "C, plain tile" : "C");
    }

    if (obj_cpu) {      /* the same function from LLVM, as an object file */
        size_t len = 0;
        eo.cpu = obj_cpu;
        char *obj = einc_kernel_emit_opts(k, EINC_EMIT_OBJ, &eo, &len, &err);
        if (!obj)
            fail_msg("%s: %s", c->expr, err.message);
        char opath[512], tpath[512];
        snprintf(opath, sizeof opath, "%s/%s-%d.o", dir, name, (int)dt);
        th_write_file(opath, obj, len);
        free(obj);
        snprintf(tpath, sizeof tpath, "%s/%s-%d-call.c", dir, name, (int)dt);
        f = fopen(tpath, "w");
        prototype(c, name, dt, "", c->params, want, sizeof want);
        fprintf(f, "#include <stdint.h>\n%s;\n", want);
        trampoline(f, c, name, dt, np);
        fclose(f);
        snprintf(so, sizeof so, "%s/%s-%d-obj.so", dir, name, (int)dt);
        snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -fPIC -shared -o %s %s %s -lm",
                 so, tpath, opath);
        assert_int_equal(sh(cmd), 0);
        check_run(c, idx, dt, ref, so, name, pv, *obj_cpu ? obj_cpu : "object file");
    }
    einc_kernel_free(k);
    einc_kernel_free(ref);
    einc_ctx_free(ctx);
}

static void test_case(void **state)
{
    if (!have_cc)
        skip();
    int i = (int)(intptr_t)*state;
    run_case(&cases[i], i, EINC_F32, NULL, NULL);
    run_case(&cases[i], i, EINC_F64, NULL, NULL);
}

static bool have_llvm;

static void test_repeat(void **state)
{
    if (!have_cc)
        skip();
    int i = (int)(intptr_t)*state;
    run_case(&repeats[i], 100 + i, EINC_F32, NULL, have_llvm ? "" : NULL);
    run_case(&repeats[i], 100 + i, EINC_F64, NULL, NULL);
}

/* The caller's order, in the C file and in LLVM's object file alike. */
static void test_ordered(void **state)
{
    if (!have_cc)
        skip();
    int i = (int)(intptr_t)*state;
    run_case(&ordered[i].c, 200 + i, EINC_F32, ordered[i].order, have_llvm ? "" : NULL);
    run_case(&ordered[i].c, 200 + i, EINC_F64, ordered[i].order, have_llvm ? "" : NULL);
}

static char *emit_model(const char *src, const char *sizes, einc_emit_kind what, const char *name,
                        size_t *len)
{
    char names[8][32];
    einc_size sz[8];
    int n = th_parse_sizes(sizes, names, sz, 8);
    einc_options o = { .nsizes = n, .sizes = sz };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    if (einc_compile_model(ctx, src, &o, &k, &err))
        fail_msg("%s", err.message);
    einc_emit_options eo = { .name = name };
    char *s = einc_kernel_emit_opts(k, what, &eo, len, &err);
    if (!s)
        fail_msg("%s", err.message);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return s;
}

static const char *cxx[] = { "c++", "g++", "clang++" };
static bool have_cxx[3];

/* The header compiles alone in C (C99 and C89) and in every C++ compiler here. */
static void header_alone(const char *h)
{
    char cmd[1024];
    static const char *const cstd[] = { "-std=c99", "-std=c11", "-std=c89" };
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "cc %s -pedantic -Wall -Wextra -Werror -fsyntax-only -x c %s", cstd[i], h);
        if (sh(cmd) != 0)
            fail_msg("%s does not compile alone in C (%s)", h, cstd[i]);
    }
    for (int i = 0; i < 3; i++) {
        if (!have_cxx[i])
            continue;
        snprintf(cmd, sizeof cmd, "%s -std=c++11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ %s",
                 cxx[i], h);
        if (sh(cmd) != 0)
            fail_msg("%s does not compile alone in C++ (%s)", h, cxx[i]);
    }
}

/*
 * --emit=header vendors: a guard named after the kernel, <stdint.h>, extern "C" and
 * restrict as a macro; it compiles alone in C and C++, twice in one file, and before the C
 * file that defines the function (so their prototypes agree); a C++ program links with the
 * C file's object and gets a rearrange's exact values.
 */
static void test_header(void **state)
{
    (void)state;
    if (!have_cc)
        skip();
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_size h2 = { "h", 2 };
    einc_options o = { .nsizes = 1, .sizes = &h2 };
    assert_int_equal(einc_compile(ctx, "b (h w) c -> b h w c", &o, &k, &err), EINC_OK);
    const char *order[] = { "c", "b", "w" };
    einc_emit_options eo = { .name = "_vendored__k", .nparams = 3, .params = order };
    char *hdr = einc_kernel_emit_opts(k, EINC_EMIT_HEADER, &eo, NULL, &err);
    char *src = einc_kernel_emit_opts(k, EINC_EMIT_C, &eo, NULL, &err);
    assert_non_null(hdr);
    assert_non_null(src);
    assert_non_null(strstr(hdr, "\n#ifndef EINC_VENDORED_K_H\n#define EINC_VENDORED_K_H\n\n"
                                "#include <stdint.h>\n"));
    assert_non_null(strstr(hdr, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
                                "void _vendored__k(const float *EINC_RESTRICT in0, float *EINC_RESTRICT out, "
                                "int64_t c, int64_t b, int64_t w);\n\n"
                                "#ifdef __cplusplus\n}\n#endif\n\n#endif /* EINC_VENDORED_K_H */\n"));
    /* the comment names every parameter's role, and what is fixed */
    assert_non_null(strstr(hdr, " *   in0  const float *  input 0, float32[b, h*w, c]\n"
                                " *   out  float *        the output, float32[b, h, w, c]\n"
                                " *   c    int64_t        size: in0 dim 2, out dim 3\n"
                                " *   b    int64_t        size: in0 dim 0, out dim 0\n"
                                " *   w    int64_t        size: in0 dim 1 (h*w), out dim 2\n"
                                " *\n * Fixed sizes: h=2.\n"));
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/vendored.h", dir);
    th_write_file(path, hdr, strlen(hdr));
    snprintf(path, sizeof path, "%s/vendored.c", dir);
    th_write_file(path, src, strlen(src));
    snprintf(path, sizeof path, "%s/vendored.h", dir);
    header_alone(path);
    snprintf(path, sizeof path, "%s/both.c", dir);
    const char *both = "#include \"vendored.h\"\n#include \"vendored.h\"\n#include \"vendored.c\"\n";
    th_write_file(path, both, strlen(both));
    snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -c -o %s/both.o %s", dir, path);
    if (sh(cmd) != 0)
        fail_msg("the header and the C file disagree, or the guard does not hold");
    static const char prog[] =
        "#include \"vendored.h\"\n"
        "#include <cstdio>\n#include <vector>\n"
        "int main()\n{\n"
        "    const int64_t B = 3, H = 2, W = 5, C = 4;\n"
        "    std::vector<float> in(B * H * W * C), out(in.size());\n"
        "    for (size_t i = 0; i < in.size(); i++)\n        in[i] = (float)i;\n"
        "    _vendored__k(in.data(), out.data(), C, B, W);\n"
        "    for (int64_t b = 0; b < B; b++) for (int64_t h = 0; h < H; h++)\n"
        "        for (int64_t w = 0; w < W; w++) for (int64_t c = 0; c < C; c++)\n"
        "            if (out[((b * H + h) * W + w) * C + c] != in[(b * H * W + h * W + w) * C + c])\n"
        "                return 1;\n"
        "    std::puts(\"ok\");\n    return 0;\n}\n";
    snprintf(path, sizeof path, "%s/prog.cc", dir);
    th_write_file(path, prog, strlen(prog));
    for (int i = 0; i < 3; i++) {
        if (!have_cxx[i])
            continue;
        snprintf(cmd, sizeof cmd, "cd %s && cc -std=c99 -O2 -c vendored.c -o vendored.o && "
                                  "%s -std=c++11 -Wall -Wextra -Werror prog.cc vendored.o -o prog && "
                                  "./prog >/dev/null", dir, cxx[i]);
        if (sh(cmd) != 0)
            fail_msg("a C++ program (%s) cannot call the kernel through the header", cxx[i]);
    }
    free(hdr);
    free(src);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

static const char mlp[] =
    "# a two-layer perceptron\n"
    "input x: f32[B, D]\nparam w1: f32[H, D]\nparam b1: f32[H]\nparam w2: f32[K, H]\n"
    "param b2: f32[K]\n"
    "h = relu(linear(x, w1, b1))\nreturn softmax(linear(h, w2, b2), dim=-1)\n";

/*
 * A model's temporaries: the C file and LLVM's object file take the same workspace and both
 * define NAME_workspace, so the header serves either; both give the interpreter's values.
 */
static void test_workspace(void **state)
{
    (void)state;
    if (!have_cc)
        skip();
    char *hdr = emit_model(mlp, "B=2 D=3 H=4 K=5", EINC_EMIT_HEADER, "mlp", NULL);
    char *src = emit_model(mlp, "B=2 D=3 H=4 K=5", EINC_EMIT_C, "mlp", NULL);
    assert_non_null(strstr(hdr, "#include <stddef.h>\n#include <stdint.h>\n"));
    assert_non_null(strstr(hdr, "\nvoid mlp(const float *EINC_RESTRICT x, const float *EINC_RESTRICT w1, "
                                "const float *EINC_RESTRICT b1, const float *EINC_RESTRICT w2, "
                                "const float *EINC_RESTRICT b2, float *EINC_RESTRICT out, "
                                "void *workspace);\nsize_t mlp_workspace(void);\n"));
    assert_non_null(strstr(hdr, " *   workspace  void *         mlp_workspace() bytes of memory for\n"));
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/mlp.h", dir);
    th_write_file(path, hdr, strlen(hdr));
    header_alone(path);
    snprintf(path, sizeof path, "%s/mlp.c", dir);
    th_write_file(path, src, strlen(src));
    static const char call[] =
        "#include \"mlp.h\"\n"
        "size_t call_ws(void);\nvoid call_mlp(void **b);\n"
        "size_t call_ws(void) { return mlp_workspace(); }\n"
        "void call_mlp(void **b) { mlp(b[0], b[1], b[2], b[3], b[4], b[5], b[6]); }\n";
    snprintf(path, sizeof path, "%s/mlp_call.c", dir);
    th_write_file(path, call, strlen(call));
    int nso = 1;
    snprintf(cmd, sizeof cmd, "cd %s && cc -std=c99 -Wall -Wextra -Werror -O2 -fPIC -shared "
                              "mlp_call.c mlp.c -o mlp_c.so -lm", dir);
    assert_int_equal(sh(cmd), 0);
    if (have_llvm) {
        size_t len = 0;
        char *obj = emit_model(mlp, "B=2 D=3 H=4 K=5", EINC_EMIT_OBJ, "mlp", &len);
        snprintf(path, sizeof path, "%s/mlp.o", dir);
        th_write_file(path, obj, len);
        free(obj);
        snprintf(cmd, sizeof cmd, "cd %s && cc -std=c99 -Wall -Wextra -Werror -fPIC -shared "
                                  "mlp_call.c mlp.o -o mlp_o.so -lm", dir);
        assert_int_equal(sh(cmd), 0);
        nso = 2;
    }
    /* the interpreter's answer */
    float x[6], w1[12], b1[4], w2[20], b2[5], want[10];
    float *ins[5] = { x, w1, b1, w2, b2 };
    int64_t sx[2] = { 2, 3 }, sw1[2] = { 4, 3 }, sb1[1] = { 4 }, sw2[2] = { 5, 4 }, sb2[1] = { 5 },
            so[2] = { 2, 5 };
    int counts[5] = { 6, 12, 4, 20, 5 };
    unsigned seed = 7;
    for (int i = 0; i < 5; i++)
        for (int e = 0; e < counts[i]; e++) {
            seed = seed * 1103515245u + 12345u;
            ins[i][e] = ((int)((seed >> 16) % 2001) - 1000) / 500.0f;
        }
    einc_tensor in[5] = { { EINC_F32, 2, sx, NULL, x }, { EINC_F32, 2, sw1, NULL, w1 },
                          { EINC_F32, 1, sb1, NULL, b1 }, { EINC_F32, 2, sw2, NULL, w2 },
                          { EINC_F32, 1, sb2, NULL, b2 } };
    einc_tensor ot = { EINC_F32, 2, so, NULL, want };
    einc_options io = { .target = EINC_TARGET_INTERP };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile_model(ctx, mlp, &io, &k, &err), EINC_OK);
    assert_int_equal(einc_kernel_run(k, 5, in, &ot, &err), EINC_OK);
    size_t ws_c = 0;
    for (int i = 0; i < nso; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, i ? "mlp_o.so" : "mlp_c.so");
        void *h = NULL;
        size_t (*ws)(void);
        void (*fn)(void **);
        *(void **)&ws = th_dlsym(&h, path, "call_ws");
        *(void **)&fn = th_dlsym(&h, path, "call_mlp");
        size_t bytes = ws();
        if (i == 0)
            ws_c = bytes;
        assert_int_equal(bytes, ws_c);      /* the object's NAME_workspace agrees with C's */
        assert_true(bytes >= 5 * 64);       /* t0..t3 and t6, each in its own 64 bytes */
        float got[10];
        void *ws_buf = malloc(bytes);
        void *b[7] = { x, w1, b1, w2, b2, got, ws_buf };
        fn(b);
        for (int e = 0; e < 10; e++)
            if (!(fabsf(got[e] - want[e]) <= 1e-6f))
                fail_msg("%s: element %d: %.9g, the interpreter %.9g", path, e, got[e], want[e]);
        free(ws_buf);
        dlclose(h);
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    free(hdr);
    free(src);
}

/* The comment is closed exactly once, where the generator closes it, and opened once. */
static void assert_one_comment(const char *text, const char *what)
{
    const char *close = strstr(text, "\n */\n");
    assert_non_null(close);
    if (strstr(text, "*/") != close + 2)
        fail_msg("%s: user text ends the comment early:\n%s", what, text);
    for (const char *p = strstr(text + 1, "/*"); p && p < close; p = strstr(p + 1, "/*"))
        fail_msg("%s: a '/' '*' inside the comment:\n%.*s", what, (int)(close - text), text);
}

/*
 * A model's comments go into the emitted file's comment: "*" "/" would end it (and the file
 * would not compile), "/" "*" inside it is a -Wcomment warning, a trigraph ??/ at the end of a
 * line (the comment's own splice) a -Wtrigraphs one under -std=c99.  Each comes out broken by a space.
 */
static void test_comment_escape(void **state)
{
    (void)state;
    static const char src[] =
        "# weights from runs/*/best.pt, see /* notes */\n"
        "# a trigraph ?\?/\n"
        "# ends in a backslash \\\n"
        "input x: f32[2, 4]   # */ closes nothing\n"
        "return relu(x)\n";
    char *c = emit_model(src, "", EINC_EMIT_C, "esc", NULL);
    char *h = emit_model(src, "", EINC_EMIT_HEADER, "esc", NULL);
    char *cu = emit_model(src, "", EINC_EMIT_CUDA, "esc", NULL);
    assert_one_comment(c, "C");
    assert_one_comment(h, "header");
    assert_one_comment(cu, "CUDA");
    assert_non_null(strstr(c, " *     # weights from runs/ * /best.pt, see / * notes * /\n"
                              " *     # a trigraph ? ?/\n"
                              " *     # ends in a backslash \\\n"
                              " *     input x: f32[2, 4]   # * / closes nothing\n"
                              " *     return relu(x)\n *\n"));
    if (have_cc) {
        char path[512], cmd[1024];
        snprintf(path, sizeof path, "%s/esc.c", dir);
        th_write_file(path, c, strlen(c));
        snprintf(cmd, sizeof cmd, "cc -std=c99 -pedantic -Wall -Wextra -Werror -c -o %s/esc.o %s", dir, path);
        if (sh(cmd) != 0)
            fail_msg("the C file with the model's comments does not compile cleanly");
        snprintf(path, sizeof path, "%s/esc.h", dir);
        th_write_file(path, h, strlen(h));
        header_alone(path);
    }
    free(c);
    free(h);
    free(cu);
}

static void expect_emit_error(einc_kernel *k, einc_emit_kind what, const einc_emit_options *eo,
                              einc_status st, const char *msg, int begin, int end)
{
    einc_error err = { 0 };
    char *s = einc_kernel_emit_opts(k, what, eo, NULL, &err);
    if (s)
        fail_msg("emitted, where '%s' was expected", msg);
    assert_int_equal(err.status, st);
    assert_string_equal(err.message, msg);
    assert_int_equal(err.begin, begin);
    assert_int_equal(err.end, end);
}

/* An order must name every size parameter once; the error names what is wrong. */
static void test_params_errors(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_size h2 = { "h", 2 };
    einc_options o = { .nsizes = 1, .sizes = &h2 };
    assert_int_equal(einc_compile(ctx, "b (h w) c -> b h w c", &o, &k, &err), EINC_OK);
    const char *unknown[] = { "b", "w", "x" }, *fixed[] = { "b", "h", "w", "c" },
               *twice[] = { "b", "w", "b" }, *missing[] = { "b", "w" }, *null[] = { "b", NULL };
    einc_emit_options eo = { .nparams = 3, .params = unknown };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG,
                      "the parameter order names 'x', which is not a size of this kernel (the "
                      "size parameters: b, w, c)", -1, -1);
    eo = (einc_emit_options){ .nparams = 4, .params = fixed };
    expect_emit_error(k, EINC_EMIT_HEADER, &eo, EINC_ERR_ARG,
                      "the parameter order names 'h', whose size is fixed (the size parameters: "
                      "b, w, c)", 3, 4);
    eo = (einc_emit_options){ .nparams = 3, .params = twice };
    expect_emit_error(k, EINC_EMIT_CUDA, &eo, EINC_ERR_ARG,
                      "the parameter order names 'b' twice (the size parameters: b, w, c)", 0, 1);
    eo = (einc_emit_options){ .nparams = 2, .params = missing };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG,
                      "the parameter order leaves out 'c': name each once (the size parameters: "
                      "b, w, c)", 8, 9);
    eo = (einc_emit_options){ .nparams = 2, .params = null };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG, "size parameter 1 is NULL", -1, -1);
    eo = (einc_emit_options){ .nparams = 2 };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG, "a bad size parameter list", -1, -1);
    const char *good[] = { "c", "w", "b" };
    eo = (einc_emit_options){ .nparams = 3, .params = good };
    expect_emit_error(k, EINC_EMIT_PTX, &eo, EINC_ERR_ARG,
                      "a parameter order is for an emitted function; PTX holds the kernels alone, "
                      "which take their sizes in order of first appearance (--emit=cuda's "
                      "launcher takes any order)", -1, -1);
    /* the CPU is a choice for LLVM's output only */
    eo = (einc_emit_options){ .cpu = "x86-64-v3" };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG,
                      "a CPU choice applies to object files, assembly and LLVM IR "
                      "(--emit=obj|asm|llvm), not to source", -1, -1);
    einc_kernel_free(k);
    /* '...' dimensions go by their parameters' names */
    einc_size rank = { "...", 1 };
    o = (einc_options){ .nsizes = 1, .sizes = &rank };
    assert_int_equal(einc_compile(ctx, "...ij->...ji", &o, &k, &err), EINC_OK);
    const char *ell[] = { "i", "j", "..." };
    eo = (einc_emit_options){ .nparams = 3, .params = ell };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG,
                      "the parameter order names '...', which is not a size of this kernel (the "
                      "size parameters: i, j, ellipsis0)", -1, -1);
    einc_kernel_free(k);
    /* a model whose sizes are all fixed has none */
    o = (einc_options){ 0 };
    assert_int_equal(einc_compile_model(ctx, "input x: f32[3]\nreturn relu(x)\n", &o, &k, &err), EINC_OK);
    const char *one[] = { "N" };
    eo = (einc_emit_options){ .nparams = 1, .params = one };
    expect_emit_error(k, EINC_EMIT_C, &eo, EINC_ERR_ARG,
                      "the parameter order names 'N', which is not a size of this kernel (the "
                      "size parameters: none: every size is fixed)", -1, -1);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

/*
 * --cpu: an object or assembly for another x86-64 CPU than this one: AVX2 (ymm, no zmm) for
 * x86-64-v3, AVX-512 (zmm) for skylake-avx512, SSE alone for x86-64; baseline x86-64 code
 * runs here and gives the interpreter's values.  Unknown names are refused before LLVM sees
 * them (it would print a warning and ignore them).
 */
static void test_cpu(void **state)
{
    (void)state;
    if (!have_llvm)
        skip();
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile(ctx, "ik,kj->ij", NULL, &k, &err), EINC_OK);
    struct { const char *cpu, *has, *lacks; } want[] = {
        { "x86-64-v3", "%ymm", "%zmm" },
        { "skylake-avx512", "%zmm", NULL },
        { "x86-64", "%xmm", "%ymm" },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        einc_emit_options eo = { .cpu = want[i].cpu };
        char *s = einc_kernel_emit_opts(k, EINC_EMIT_ASM, &eo, NULL, &err);
        if (!s)
            fail_msg("%s: %s", want[i].cpu, err.message);
        if (!strstr(s, want[i].has) || (want[i].lacks && strstr(s, want[i].lacks)))
            fail_msg("%s: the assembly should have %s and not %s", want[i].cpu, want[i].has,
                     want[i].lacks ? want[i].lacks : "-");
        free(s);
    }
    einc_emit_options eo = { .cpu = "pentium4" };
    expect_emit_error(k, EINC_EMIT_OBJ, &eo, EINC_ERR_ARG,
                      "unknown CPU 'pentium4': give an x86-64 CPU as LLVM names it (x86-64, "
                      "x86-64-v2, x86-64-v3, x86-64-v4, haswell, skylake-avx512, znver3, ...) or host",
                      -1, -1);
    eo.cpu = "native";
    char *s = einc_kernel_emit_opts(k, EINC_EMIT_LLVM, &eo, NULL, &err);
    assert_non_null(s);
    free(s);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    if (have_cc) {
        run_case(&cases[2], 300, EINC_F32, NULL, "x86-64");
        run_case(&ordered[2].c, 301, EINC_F64, ordered[2].order, "x86-64");
    }
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
    assert_null(einc_kernel_emit(k, EINC_EMIT_C, NULL, EINC_DTYPE_COUNT, NULL, &err));
    assert_string_equal(err.message, "emitted kernels are float32 or float64, or float16 and "
                                     "bfloat16 in C");
    assert_null(einc_kernel_emit(k, EINC_EMIT_CUDA, NULL, EINC_I32, NULL, &err));
    assert_int_equal(err.status, EINC_ERR_DTYPE);
    assert_string_equal(err.message, "this dtype is emitted as C only (--emit=c or --emit=header) today; "
                                     "other emitters take float32 or float64");
    einc_kernel_free(k);
    /* a repeat without its size compiles, emits, and refuses to run */
    assert_int_equal(einc_compile(ctx, "h w -> h w c", NULL, &k, &err), EINC_OK);
    int64_t sh2[2] = { 2, 3 }, osh[EINC_MAX_RANK];
    float x[6] = { 0 };
    einc_tensor in = { EINC_F32, 2, sh2, NULL, x };
    einc_dtype odt;
    int ond;
    assert_int_equal(einc_kernel_output(k, 1, &in, &odt, &ond, osh, &err), EINC_ERR_SHAPE);
    assert_string_equal(err.message, "index 'c' appears in the output but in no input; give its "
                                     "size (c=N) to repeat along it");
    assert_int_equal(err.begin, 11);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

int main(void)
{
    have_cc = th_have("cc --version");
    for (int i = 0; i < 3; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "%s --version", cxx[i]);
        have_cxx[i] = th_have(cmd);
    }
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
    snprintf(dir, sizeof dir, "/tmp/einc-emit-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    enum { N = sizeof cases / sizeof *cases, NR = sizeof repeats / sizeof *repeats,
           NO = sizeof ordered / sizeof *ordered, NFIXED = 6, NT = N + NR + NO + NFIXED };
    struct CMUnitTest tests[NT];
    char names[N + NR + NO][96];
    int t = 0;
    for (int i = 0; i < N; i++, t++) {
        snprintf(names[t], sizeof names[t], "emit_c: %s", cases[i].expr);
        tests[t] = (struct CMUnitTest){ names[t], test_case, NULL, NULL, (void *)(intptr_t)i };
    }
    for (int i = 0; i < NR; i++, t++) {
        snprintf(names[t], sizeof names[t], "repeat: %s", repeats[i].expr);
        tests[t] = (struct CMUnitTest){ names[t], test_repeat, NULL, NULL, (void *)(intptr_t)i };
    }
    for (int i = 0; i < NO; i++, t++) {
        snprintf(names[t], sizeof names[t], "params %s: %s", ordered[i].order, ordered[i].c.expr);
        tests[t] = (struct CMUnitTest){ names[t], test_ordered, NULL, NULL, (void *)(intptr_t)i };
    }
    tests[t++] = (struct CMUnitTest){ "emit_errors", test_emit_errors, NULL, NULL, NULL };
    tests[t++] = (struct CMUnitTest){ "params_errors", test_params_errors, NULL, NULL, NULL };
    tests[t++] = (struct CMUnitTest){ "header", test_header, NULL, NULL, NULL };
    tests[t++] = (struct CMUnitTest){ "workspace", test_workspace, NULL, NULL, NULL };
    tests[t++] = (struct CMUnitTest){ "comment_escape", test_comment_escape, NULL, NULL, NULL };
    tests[t++] = (struct CMUnitTest){ "cpu", test_cpu, NULL, NULL, NULL };
    int rc = _cmocka_run_group_tests("emit_c", tests, (size_t)t, NULL, NULL);
    if (th_rm_rf(dir) != 0)
        return 1;
    return rc;
}
