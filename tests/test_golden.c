/*
 * test_golden.c — golden tests for the front end.
 *
 * Each tests/golden/NAME.expr holds an expression and what to bind it with:
 *
 *     expr: b (h w) c -> b h w c
 *     sizes: h=4                     (optional)
 *     reduce: mean                   (optional)
 *     dialect: einops                (optional: numpy or einops, forced; else the automatic rule)
 *     input: float32 2 12 3          (optional, one line per operand: dtype and shape)
 *     max_memory: 4096               (optional: bytes per intermediate of a contraction path)
 *
 * Beside it, NAME.ir holds the expected `einc explain` text, or NAME.err the exact error
 * (message and caret) as einc_error_format renders it.  Run with EINC_GOLDEN_UPDATE=1 to
 * write the expected files from the current output (then read the diff before committing).
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *golden_dir;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

typedef struct gcase {
    char expr[4200];
    einc_options opt;
    einc_size sizes[16];
    char names[16][32];
    int nin;
    einc_tensor in[8];
    int64_t shape[8][8];
} gcase;

static void parse_case(const char *text, gcase *g)
{
    memset(g, 0, sizeof *g);
    /* explain's text is the CPU pipeline's whatever the target; under auto it would add
       the run's choice, which depends on what the disk cache holds */
    g->opt.target = EINC_TARGET_INTERP;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[4200];
        /* a case longer than the buffers is the test's own error, never a truncated input */
        assert_true(n < sizeof line - 6 - 1);
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        if (strncmp(line, "expr: ", 6) == 0) {
            snprintf(g->expr, sizeof g->expr, "%s", line + 6);
        } else if (strncmp(line, "sizes:", 6) == 0) {
            char *save, *tok = strtok_r(line + 6, " ", &save);
            for (; tok; tok = strtok_r(NULL, " ", &save)) {
                int k = g->opt.nsizes++;
                char *eq = strchr(tok, '=');
                snprintf(g->names[k], sizeof g->names[k], "%.*s", (int)(eq - tok), tok);
                g->sizes[k] = (einc_size){ g->names[k], atoll(eq + 1) };
            }
            g->opt.sizes = g->sizes;
        } else if (strncmp(line, "max_memory: ", 12) == 0) {
            g->opt.max_memory = atoll(line + 12);
        } else if (strncmp(line, "reduce: ", 8) == 0) {
            for (int r = 0; r < EINC_REDUCE_COUNT; r++)
                if (strcmp(einc_reduce_name((einc_reduce)r), line + 8) == 0)
                    g->opt.reduce = (einc_reduce)r;
        } else if (strncmp(line, "dialect: ", 9) == 0) {
            g->opt.dialect = strcmp(line + 9, "numpy") == 0    ? EINC_DIALECT_NUMPY
                           : strcmp(line + 9, "einops") == 0 ? EINC_DIALECT_EINOPS
                                                             : (einc_dialect)-1;
        } else if (strncmp(line, "input: ", 7) == 0) {
            einc_tensor *t = &g->in[g->nin];
            char *save, *tok = strtok_r(line + 7, " ", &save);
            for (int d = 0; d < EINC_DTYPE_COUNT; d++)
                if (strcmp(einc_dtype_name((einc_dtype)d), tok) == 0)
                    t->dtype = (einc_dtype)d;
            while ((tok = strtok_r(NULL, " ", &save)))
                g->shape[g->nin][t->ndim++] = atoll(tok);
            t->shape = g->shape[g->nin];
            g->nin++;
        }
        p += n + (e != NULL);
    }
}

/* What einc says about the case: explain text, or the rendered error. */
static char *run_case(const gcase *g)
{
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    char *out = NULL;
    if (einc_compile(ctx, g->expr, &g->opt, &k, &err) == EINC_OK)
        out = einc_kernel_explain(k, g->nin, g->nin ? g->in : NULL, &err);
    if (!out) {
        int n = einc_error_format(&err, g->expr, NULL, 0);
        out = malloc((size_t)n + 2);
        einc_error_format(&err, g->expr, out, (size_t)n + 1);
        strcat(out, "\n");
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return out;
}

static void golden_case(void **state)
{
    const char *name = *state;
    char path[1024], ir[1024], er[1024];
    snprintf(path, sizeof path, "%s/%s.expr", golden_dir, name);
    snprintf(ir, sizeof ir, "%s/%s.ir", golden_dir, name);
    snprintf(er, sizeof er, "%s/%s.err", golden_dir, name);
    char *text = slurp(path);
    assert_non_null(text);
    gcase g;
    parse_case(text, &g);
    char *got = run_case(&g);
    char *want = slurp(ir);
    const char *which = ir;
    if (!want) {
        want = slurp(er);
        which = er;
    }
    if (getenv("EINC_GOLDEN_UPDATE")) {
        /* Errors go to .err, everything else to .ir; the other file is removed. */
        bool is_err = strncmp(got, "error: ", 7) == 0;
        remove(is_err ? ir : er);
        FILE *f = fopen(is_err ? er : ir, "wb");
        fputs(got, f);
        fclose(f);
    } else {
        if (!want)
            fail_msg("%s: no expected file (.ir or .err)", name);
        if (strcmp(got, want) != 0)
            fail_msg("%s: output differs from %s\n--- expected\n%s--- got\n%s", name, which, want, got);
    }
    free(want);
    free(got);
    free(text);
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "tests/golden";
    setenv("EINC_MAX_ISA", "avx2", 1);  /* explain's schedule for one machine kind, not the host's */
    DIR *d = opendir(golden_dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", golden_dir);
        return 1;
    }
    struct CMUnitTest *tests = calloc(1024, sizeof *tests);
    char **names = calloc(1024, sizeof *names);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 1024) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".expr") == 0)
            names[n++] = strndup(de->d_name, len - 5);
    }
    closedir(d);
    for (int i = 1; i < n; i++)   /* sorted, so the report reads in a stable order */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (int i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){ names[i], golden_case, NULL, NULL, names[i] };
    int rc = _cmocka_run_group_tests("golden", tests, (size_t)n, NULL, NULL);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(tests);
    return rc;
}
