/*
 * test_guard.c — kernels stay inside their arrays.  Every input and output is placed flush
 * against a PROT_NONE guard page, once after its end and once before its start, and the JIT
 * and the emitted C (compiled with cc, when present) run on it: one byte out of bounds,
 * read or written, is a SIGSEGV and fails the suite.  Shapes include 0, 1 and sizes that
 * are not multiples of any vector width or tile; results are checked against the
 * interpreter too.
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
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct guarded {
    void *map;
    size_t maplen;
    void *data;
} guarded;

/* bytes of memory with a guard page right after them (tail) or right before them. */
static guarded galloc(size_t bytes, bool tail)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (bytes + pg - 1) / pg * pg;
    guarded g;
    g.maplen = body + 2 * pg;
    g.map = mmap(NULL, g.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.map != MAP_FAILED);
    char *base = g.map;
    assert_int_equal(mprotect(base, pg, PROT_NONE), 0);
    assert_int_equal(mprotect(base + pg + body, pg, PROT_NONE), 0);
    g.data = tail ? base + pg + body - bytes : base + pg;
    return g;
}

static void gfree(guarded *g) { munmap(g->map, g->maplen); }

typedef struct gcase {
    const char *expr;
    const char *sizes;          /* given when compiling, or NULL */
    int nin;
    int ndim[3];
    int64_t shape[3][4];
} gcase;

static const gcase cases[] = {
    { "ik,kj->ij", NULL, 2, { 2, 2 }, { { 7, 5 }, { 5, 3 } } },
    { "ik,kj->ij", NULL, 2, { 2, 2 }, { { 13, 300 }, { 300, 67 } } },     /* GEMM tiles and edges */
    { "ik,kj->ij", NULL, 2, { 2, 2 }, { { 11, 1100 }, { 1100, 19 } } },   /* several k blocks */
    { "ik,jk->ij", NULL, 2, { 2, 2 }, { { 7, 33 }, { 65, 33 } } },
    { "ik,kj->ij", NULL, 2, { 2, 2 }, { { 0, 3 }, { 3, 4 } } },
    { "ik,kj->ij", NULL, 2, { 2, 2 }, { { 1, 1 }, { 1, 1 } } },
    { "bij,bjk->bik", NULL, 2, { 3, 3 }, { { 2, 5, 3 }, { 2, 3, 7 } } },
    { "ij->ji", NULL, 1, { 2 }, { { 37, 65 } } },                           /* transpose tiles */
    { "abcd->dcba", NULL, 1, { 4 }, { { 3, 1, 5, 33 } } },
    { "abcd->dcba", NULL, 1, { 4 }, { { 33, 2, 3, 64 } } },                  /* whole 32 x 32 blocks */
    { "abcd->dcba", NULL, 1, { 4 }, { { 96, 7, 45, 70 } } },                 /* 8 MiB out: streamed */
    { "b c h w -> b h w c", NULL, 1, { 4 }, { { 2, 40, 3, 64 } } },
    { "b c h w -> b h w c", NULL, 1, { 4 }, { { 2, 3, 5, 7 } } },
    { "b c h w -> b h w c", NULL, 1, { 4 }, { { 2, 3, 5, 37 } } },       /* 3 channels: woven */
    { "b c h w -> b h w c", NULL, 1, { 4 }, { { 3, 2, 2, 19 } } },
    { "b c h w -> b h w c", NULL, 1, { 4 }, { { 2, 4, 3, 33 } } },
    { "b h w c -> b c h w", NULL, 1, { 4 }, { { 2, 5, 37, 3 } } },       /* and unwoven */
    { "b h w c -> b c h w", NULL, 1, { 4 }, { { 3, 2, 19, 2 } } },
    { "b h w c -> b c h w", NULL, 1, { 4 }, { { 2, 3, 33, 4 } } },
    { "ij->", NULL, 1, { 2 }, { { 31, 17 } } },
    { "ij->j", NULL, 1, { 2 }, { { 9, 33 } } },
    { "ii->i", NULL, 1, { 2 }, { { 9, 9 } } },
    { "b (h w) c -> b h w c", "h=3", 1, { 3 }, { { 2, 9, 5 } } },
    { "h w -> h (w r)", "r=3", 1, { 2 }, { { 3, 5 } } },
    { "ijk,jl,kl->il", NULL, 3, { 3, 2, 2 }, { { 6, 5, 4 }, { 5, 3 }, { 4, 3 } } },  /* a path */
    { "i,j->ij", NULL, 2, { 1, 1 }, { { 0 }, { 5 } } },
};

static bool have_cc;
static char dir[64];

static void run(const gcase *c, int idx, einc_dtype dt, bool tail)
{
    size_t es = dt == EINC_F32 ? 4 : 8;
    char names[4][32];
    einc_size sz[4];
    int nsz = c->sizes ? th_parse_sizes(c->sizes, names, sz, 4) : 0;
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *kj = NULL, *ki = NULL;
    einc_options oj = { .target = EINC_TARGET_CPU, .nsizes = nsz, .sizes = sz }, oi = oj;
    oi.target = EINC_TARGET_INTERP;
    assert_int_equal(einc_compile(ctx, c->expr, &oj, &kj, NULL), EINC_OK);
    assert_int_equal(einc_compile(ctx, c->expr, &oi, &ki, NULL), EINC_OK);
    guarded g[4];
    einc_tensor in[3];
    for (int i = 0; i < c->nin; i++) {
        size_t n = 1;
        for (int d = 0; d < c->ndim[i]; d++)
            n *= (size_t)c->shape[i][d];
        g[i] = galloc(n * es, tail);
        for (size_t e = 0; e < n; e++)
            if (dt == EINC_F32)
                ((float *)g[i].data)[e] = (float)((e * 7) % 11) - 5;
            else
                ((double *)g[i].data)[e] = (double)((e * 7) % 11) - 5;
        in[i] = (einc_tensor){ dt, c->ndim[i], c->shape[i], NULL, g[i].data };
    }
    einc_dtype odt;
    int ond;
    int64_t os[EINC_MAX_RANK];
    assert_int_equal(einc_kernel_output(kj, c->nin, in, &odt, &ond, os, NULL), EINC_OK);
    size_t on = 1;
    for (int d = 0; d < ond; d++)
        on *= (size_t)os[d];
    g[3] = galloc(on * es, tail);
    void *want = malloc(on * es + 1);
    einc_tensor out = { odt, ond, os, NULL, g[3].data }, wo = { odt, ond, os, NULL, want };
    assert_int_equal(einc_kernel_run(kj, c->nin, in, &out, NULL), EINC_OK);
    assert_int_equal(einc_kernel_run(ki, c->nin, in, &wo, NULL), EINC_OK);
    for (size_t e = 0; e < on; e++) {   /* small integers: exact in any order */
        double w = es == 4 ? ((float *)want)[e] : ((double *)want)[e];
        double got = es == 4 ? ((float *)g[3].data)[e] : ((double *)g[3].data)[e];
        if (w != got)
            fail_msg("%s: element %zu: jit %g, interp %g", c->expr, e, got, w);
    }

    /* the emitted C, on the same guarded buffers (sizes as parameters when not given) */
    if (have_cc && !strstr(c->expr, "...")) {
        char path[128], so[128], cmd[512], fn[32];
        snprintf(fn, sizeof fn, "k%d_%d", idx, (int)dt);
        snprintf(path, sizeof path, "%s/%s.c", dir, fn);
        snprintf(so, sizeof so, "%s/%s.so", dir, fn);
        char *src = einc_kernel_emit(kj, EINC_EMIT_C, fn, dt, NULL, NULL);
        assert_non_null(src);
        FILE *f = fopen(path, "w");
        fputs(src, f);
        free(src);
        /* a trampoline taking every size of the bound program, in order */
        char *hdr = einc_kernel_emit(kj, EINC_EMIT_HEADER, fn, dt, NULL, NULL), proto[64];
        snprintf(proto, sizeof proto, "void %s(", fn);
        char *decl = strstr(hdr, proto), *eol = decl ? strchr(decl, ';') : NULL;
        assert_non_null(eol);
        int nparams = 0;
        for (char *p = decl; (p = strstr(p, "int64_t ")) && p < eol; p += 8)     /* the prototype's */
            nparams++;
        /* temporaries (a path's steps, a full reduction's partials) live in a workspace */
        char *wsp = strstr(decl, "void *workspace");
        bool ws = wsp && wsp < eol;
        free(hdr);
        fprintf(f, "\n#include <stdlib.h>\nvoid call(void **b, const int64_t *s)\n{\n    (void)s;\n");
        if (ws) {
            fprintf(f, "    void *w = malloc(%s_workspace(", fn);
            for (int i = 0; i < nparams; i++)
                fprintf(f, "%ss[%d]", i ? ", " : "", i);
            fprintf(f, ") + 1);\n");
        }
        fprintf(f, "    %s(", fn);
        const char *T = dt == EINC_F32 ? "float" : "double";
        for (int i = 0; i < c->nin; i++)
            fprintf(f, "(const %s *)b[%d], ", T, i);
        fprintf(f, "(%s *)b[%d]", T, c->nin);
        for (int i = 0; i < nparams; i++)
            fprintf(f, ", s[%d]", i);
        fprintf(f, "%s);\n%s}\n", ws ? ", w" : "", ws ? "    free(w);\n" : "");
        fclose(f);
        snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 -march=native -fPIC -shared -o %s %s -lm", so, path);
        assert_int_equal(system(cmd), 0);
        void *h = NULL;
        void (*call)(void **, const int64_t *);
        *(void **)&call = th_dlsym(&h, so, "call");
        /* the open sizes, in order of first appearance: explain's axes line, minus the
         * sizes given at compile time and the anonymous axes (which are constants) */
        char *ex = einc_kernel_explain(kj, c->nin, in, NULL);
        assert_non_null(ex);
        int64_t p[16];
        int np = 0;
        char *line = strstr(ex, "axes:");
        char *end = strchr(line, '\n');
        *end = 0;
        for (char *t = strtok(line + 5, " "); t && np < 16; t = strtok(NULL, " ")) {
            char *eq = strchr(t, '=');
            bool given = false;
            for (int i = 0; i < nsz; i++)
                given |= (size_t)(eq - t) == strlen(sz[i].name) && !strncmp(t, sz[i].name, (size_t)(eq - t));
            if (!given && t[0] != '_' && t[0] != '.')
                p[np++] = atoll(eq + 1);
        }
        free(ex);
        assert_int_equal(np, nparams);
        void *bufs[4] = { g[0].data, g[1].data, g[2].data, g[3].data };
        bufs[c->nin] = g[3].data;
        memset(g[3].data, 0, on * es);
        call(bufs, p);
        for (size_t e = 0; e < on; e++) {
            double w = es == 4 ? ((float *)want)[e] : ((double *)want)[e];
            double got = es == 4 ? ((float *)g[3].data)[e] : ((double *)g[3].data)[e];
            if (w != got)
                fail_msg("%s (emitted C): element %zu: %g, interp %g", c->expr, e, got, w);
        }
        dlclose(h);
    }
    for (int i = 0; i < c->nin; i++)
        gfree(&g[i]);
    gfree(&g[3]);
    free(want);
    einc_kernel_free(kj);
    einc_kernel_free(ki);
    einc_ctx_free(ctx);
}

static void test_guarded(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int tail = 0; tail < 2; tail++) {
            run(&cases[i], (int)i, EINC_F32, tail);
            run(&cases[i], (int)i, EINC_F64, tail);
        }
}

static void test_strided_guarded(void **state)
{
    (void)state;
    /* a transposed view of a (5, 7) buffer, flush against the guard page */
    guarded g = galloc(35 * sizeof(double), true), o = galloc(7 * sizeof(double), true);
    for (int i = 0; i < 35; i++)
        ((double *)g.data)[i] = i;
    int64_t shape[2] = { 7, 5 }, strides[2] = { 1, 7 }, os = 7;
    einc_tensor in = { EINC_F64, 2, shape, strides, g.data }, out = { EINC_F64, 1, &os, NULL, o.data };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_options opt = { .target = EINC_TARGET_CPU };
    assert_int_equal(einc_compile(ctx, "ij->i", &opt, &k, NULL), EINC_OK);
    assert_int_equal(einc_kernel_run(k, 1, &in, &out, NULL), EINC_OK);
    for (int i = 0; i < 7; i++) {
        double w = 0;
        for (int j = 0; j < 5; j++)
            w += i + 7 * j;
        assert_true(((double *)o.data)[i] == w);
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    gfree(&g);
    gfree(&o);
}

/*
 * Large transposes whose output starts m bytes past a 64-byte boundary (numpy's large
 * arrays start 16 bytes into a page): the JIT shifts its o blocks to the first aligned
 * column and streams whole lines; the line two rows share is written whole by the first
 * square of the second row, from both rows' inputs.  Every offset an f32 output can have,
 * with the elements just before and after the output untouched.  The cases: rows of 13
 * lines, each row past the next output axis (p, a loop around the tile); rows of 203
 * floats, whose alignment changes from row to row; p the tile's own r axis; three
 * channels, woven into rows of pixels and back (narrow_tile); and 2-d transposes, whose
 * o blocks are the loop the threads share.
 */
typedef struct tcase {
    const char *expr;
    int nd;
    int64_t s[4];
    int perm[4];    /* output dimension i is input dimension perm[i] */
} tcase;

static const tcase tcases[] = {
    { "abcd->dcba", 4, { 208, 3, 5, 701 }, { 3, 2, 1, 0 } },
    { "abcd->dcba", 4, { 203, 3, 16, 300 }, { 3, 2, 1, 0 } },
    { "b c h w -> b h w c", 4, { 3, 208, 5, 701 }, { 0, 2, 3, 1 } },
    { "b h w c -> b c h w", 4, { 45, 16, 1001, 3 }, { 0, 3, 1, 2 } },  /* 3 channels, rows of 1001 */
    { "b c h w -> b h w c", 4, { 45, 3, 16, 1001 }, { 0, 2, 3, 1 } },
    { "ij->ji", 2, { 1504, 1400 }, { 1, 0 } },      /* the o blocks are the threads' loop */
    { "ij->ji", 2, { 1400000, 3 }, { 1, 0 } },      /* and unwoven */
};

static void test_streamed_offsets(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof tcases / sizeof *tcases; t++) {
        const tcase *c = &tcases[t];
        int64_t os[4], ost[4], ist[4], s[4] = { 1, 1, 1, 1 }, pm[4] = { 0, 1, 2, 3 };
        size_t n = 1;
        for (int d = 0; d < c->nd; d++) {   /* 2-d cases run as 4-d with two leading 1s */
            s[4 - c->nd + d] = c->s[d];
            pm[4 - c->nd + d] = 4 - c->nd + c->perm[d];
        }
        for (int d = 3; d >= 0; d--) {
            os[d] = s[pm[d]];
            ist[d] = (int64_t)n;
            n *= (size_t)s[d];
        }
        for (int d = 3, m = 1; d >= 0; d--) {
            ost[d] = m;
            m *= (int)os[d];
        }
        guarded gi = galloc(n * sizeof(float), true), go = galloc(n * sizeof(float) + 128, true);
        float *x = gi.data;
        for (size_t e = 0; e < n; e++)
            x[e] = (float)(e % 8191);
        einc_ctx *ctx = einc_ctx_new();
        einc_kernel *k = NULL;
        einc_options opt = { .target = EINC_TARGET_CPU };
        assert_int_equal(einc_compile(ctx, c->expr, &opt, &k, NULL), EINC_OK);
        char *base = (char *)go.data + 64 - (uintptr_t)go.data % 64;      /* 64-byte aligned */
        for (int m = 0; m < 64; m += 4) {
            float *y = (float *)(base + m);
            y[-1] = y[n] = -1;
            einc_tensor in = { EINC_F32, c->nd, s + 4 - c->nd, NULL, x }, out = { EINC_F32, c->nd, os + 4 - c->nd, NULL, y };
            assert_int_equal(einc_kernel_run(k, 1, &in, &out, NULL), EINC_OK);
            int64_t i[4];
            for (i[0] = 0; i[0] < s[0]; i[0]++)
                for (i[1] = 0; i[1] < s[1]; i[1]++)
                    for (i[2] = 0; i[2] < s[2]; i[2]++)
                        for (i[3] = 0; i[3] < s[3]; i[3]++) {
                            int64_t at = 0, from = 0;
                            for (int d = 0; d < 4; d++) {
                                at += i[pm[d]] * ost[d];
                                from += i[d] * ist[d];
                            }
                            if (y[at] != x[from])
                                fail_msg("%s, offset %d: in[%ld, %ld, %ld, %ld] = %g went out as %g", c->expr, m,
                                         (long)i[0], (long)i[1], (long)i[2], (long)i[3], x[from], y[at]);
                        }
            assert_true(y[-1] == -1 && y[n] == -1);
            memset(y, 0, n * sizeof *y);
        }
        einc_kernel_free(k);
        einc_ctx_free(ctx);
        gfree(&gi);
        gfree(&go);
    }
}

/*
 * Rearranges whose h and w run together as one axis (llvm.c's coalesce_axis) when both
 * arrays are contiguous across them, and stay apart when a view is not: a channel slice
 * (still contiguous across h, w), a w slice and an h slice (not), an output with gaps
 * between its rows.  Each view lies in a guarded buffer whose other elements are -1 and
 * must stay so.
 */
typedef struct vcase {
    const char *expr;
    int64_t s[4];           /* the input's shape */
    int perm[4];            /* output dimension i is input dimension perm[i] */
    int64_t ibuf[4], obuf[4];   /* the buffers' shapes; the views start at their origin */
} vcase;

static const vcase vcases[] = {
    { "b c h w -> b h w c", { 2, 40, 7, 9 }, { 0, 2, 3, 1 }, { 2, 40, 7, 9 }, { 2, 7, 9, 40 } },
    { "b c h w -> b h w c", { 2, 40, 7, 9 }, { 0, 2, 3, 1 }, { 2, 80, 7, 9 }, { 2, 7, 9, 40 } },
    { "b c h w -> b h w c", { 2, 40, 7, 9 }, { 0, 2, 3, 1 }, { 2, 40, 7, 12 }, { 2, 7, 9, 40 } },
    { "b c h w -> b h w c", { 2, 40, 7, 9 }, { 0, 2, 3, 1 }, { 2, 40, 7, 9 }, { 2, 7, 12, 40 } },
    { "b c h w -> b h w c", { 2, 33, 5, 7 }, { 0, 2, 3, 1 }, { 2, 33, 10, 7 }, { 2, 5, 7, 33 } },
    { "b h w c -> b c h w", { 2, 7, 9, 40 }, { 0, 3, 1, 2 }, { 2, 7, 9, 40 }, { 2, 40, 7, 9 } },
    { "b h w c -> b c h w", { 2, 7, 9, 40 }, { 0, 3, 1, 2 }, { 2, 14, 9, 40 }, { 2, 40, 7, 9 } },
    { "b h w c -> b c h w", { 2, 7, 9, 40 }, { 0, 3, 1, 2 }, { 2, 7, 9, 40 }, { 2, 40, 7, 11 } },
};

static void test_coalesced_views(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof vcases / sizeof *vcases; t++) {
        const vcase *c = &vcases[t];
        int64_t os[4], ist[4], ost[4], in_n = 1, out_n = 1;
        /* a dimension whose buffer is twice the view's takes every other element */
        for (int d = 3; d >= 0; d--) {
            ist[d] = in_n * (c->ibuf[d] == 2 * c->s[d] && d != 3 ? 2 : 1);
            in_n *= c->ibuf[d];
            os[d] = c->s[c->perm[d]];
            ost[d] = out_n;
            out_n *= c->obuf[d];
        }
        guarded gi = galloc((size_t)in_n * sizeof(float), true), go = galloc((size_t)out_n * sizeof(float), true);
        float *x = gi.data, *y = go.data;
        for (int64_t e = 0; e < in_n; e++)
            x[e] = (float)e;
        for (int64_t e = 0; e < out_n; e++)
            y[e] = -1;
        einc_ctx *ctx = einc_ctx_new();
        einc_kernel *k = NULL;
        einc_options opt = { .target = EINC_TARGET_CPU };
        assert_int_equal(einc_compile(ctx, c->expr, &opt, &k, NULL), EINC_OK);
        einc_tensor in = { EINC_F32, 4, c->s, ist, x }, out = { EINC_F32, 4, os, ost, y };
        assert_int_equal(einc_kernel_run(k, 1, &in, &out, NULL), EINC_OK);
        int64_t seen = 0, i[4];
        for (i[0] = 0; i[0] < c->s[0]; i[0]++)
            for (i[1] = 0; i[1] < c->s[1]; i[1]++)
                for (i[2] = 0; i[2] < c->s[2]; i[2]++)
                    for (i[3] = 0; i[3] < c->s[3]; i[3]++) {
                        int64_t at = 0, from = 0;
                        for (int d = 0; d < 4; d++) {
                            at += i[c->perm[d]] * ost[d];
                            from += i[d] * ist[d];
                        }
                        if (y[at] != x[from])
                            fail_msg("case %zu (%s): in[%ld, %ld, %ld, %ld] = %g went out as %g", t, c->expr,
                                     (long)i[0], (long)i[1], (long)i[2], (long)i[3], x[from], y[at]);
                        seen++;
                    }
        for (int64_t e = 0; e < out_n; e++)     /* the rest of the output buffer untouched */
            seen -= y[e] != -1;
        assert_int_equal(seen, 0);
        einc_kernel_free(k);
        einc_ctx_free(ctx);
        gfree(&gi);
        gfree(&go);
    }
}

int main(void)
{
    bool jit = th_have_jit();
    if (!jit) {
        printf("no CPU JIT in this build: nothing to guard\n");
        return 77;
    }
    have_cc = th_have("cc --version");
    snprintf(dir, sizeof dir, "/tmp/einc-guard-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guarded),
        cmocka_unit_test(test_strided_guarded),
        cmocka_unit_test(test_streamed_offsets),
        cmocka_unit_test(test_coalesced_views),
    };
    int rc = cmocka_run_group_tests_name("guard", tests, NULL, NULL);
    if (th_rm_rf(dir) != 0)
        return 1;
    return rc;
}
