/*
 * test_cli.c — the einc command line, end to end: exit codes, exact error text, and that
 * an error never creates, truncates or half-writes the -o file; einc cache.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "npy.h"
#include "helpers.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static const char *einc_bin;
static char dir[256];
static char out_text[1 << 16], err_text[1 << 16];
static size_t out_len;          /* bytes in out_text (a .npy on standard output has NULs) */

static size_t slurp_into(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    buf[got] = 0;
    if (f)
        fclose(f);
    return got;
}

/* Runs einc with the arguments, standard output going to stdout_path; its exit status. */
static int einc_argv(const char *stdout_path, const char *const *args)
{
    const char *argv[40] = { einc_bin };
    int n = 1;
    while (n < 39 && (argv[n] = args[n - 1]))
        n++;
    argv[n] = NULL;
    char o[300], e[300];
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
    if (stdout_path)
        snprintf(o, sizeof o, "%s", stdout_path);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        if (chdir(dir) != 0)
            _exit(126);
        execv(einc_bin, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    out_len = stdout_path ? 0 : slurp_into(o, out_text, sizeof out_text);
    if (stdout_path)
        out_text[0] = 0;
    slurp_into(e, err_text, sizeof err_text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Runs einc with the NULL-terminated arguments; returns its exit status. */
static int einc(const char *first, ...)
{
    const char *args[40] = { first };
    int n = 1;
    va_list ap;
    va_start(ap, first);
    while (n < 39 && (args[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    args[n] = NULL;
    return einc_argv(NULL, args);
}

static void save(const char *name, einc_dtype t, int ndim, const int64_t *shape, const void *data)
{
    npy_array a = { .dtype = t, .ndim = ndim };
    size_t n = npy_dtype_size(t);
    for (int d = 0; d < ndim; d++) {
        a.shape[d] = shape[d];
        n *= (size_t)shape[d];
    }
    a.data = (void *)data;
    a.nbytes = n;
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(npy_write(path, &a, err, sizeof err), 0);
}

static void write_text(const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void assert_file(const char *name, const char *text)
{
    char path[300], buf[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    slurp_into(path, buf, sizeof buf);
    assert_string_equal(buf, text);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/einc-cli-XXXXXX");
    assert_non_null(mkdtemp(dir));
    float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 1, 0, 0, 1, 1, 1 };
    int64_t sa[2] = { 2, 3 }, sb[2] = { 3, 2 };
    save("a.npy", EINC_F32, 2, sa, a);
    save("b.npy", EINC_F32, 2, sb, b);
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    int64_t sx[3] = { 2, 4, 3 };
    save("x.npy", EINC_F32, 3, sx, x);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    return th_rm_rf(dir);
}

static void test_run_matmul_to_file(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", "b.npy", "-o", "c.npy", NULL), 0);
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/c.npy", dir);
    npy_array c = { 0 };
    assert_int_equal(npy_read(path, &c, err, sizeof err), 0);
    assert_int_equal(c.dtype, EINC_F32);
    assert_int_equal(c.ndim, 2);
    const float want[4] = { 1 + 3, 2 + 3, 4 + 6, 5 + 6 };
    for (int i = 0; i < 4; i++)
        assert_true(((float *)c.data)[i] == want[i]);
    npy_free(&c);
}

static void test_run_prints_like_numpy(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    /* options after the expression, GNU style */
    assert_int_equal(einc("run", "i j -> i", "a.npy", "--reduce=max", NULL), 0);
    assert_string_equal(out_text, "[3. 6.]\n");
}

static void test_run_rearrange_with_size(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "b (h w) c -> b h w c", "h=2", "x.npy", "-o", "y.npy", NULL), 0);
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/y.npy", dir);
    npy_array y = { 0 };
    assert_int_equal(npy_read(path, &y, err, sizeof err), 0);
    assert_int_equal(y.ndim, 4);
    int64_t want[4] = { 2, 2, 2, 3 };
    for (int d = 0; d < 4; d++)
        assert_int_equal(y.shape[d], want[d]);
    for (int i = 0; i < 24; i++)   /* a pure reshape keeps the element order */
        assert_true(((float *)y.data)[i] == (float)i);
    npy_free(&y);
}

static void test_error_keeps_output(void **s)
{
    (void)s;
    write_text("keep.npy", "precious");
    assert_int_equal(einc("run", "ik,kj->ijl", "a.npy", "b.npy", "-o", "keep.npy", NULL), 1);
    assert_string_equal(err_text,
                        "einc: error: index 'l' appears in the output but in no input; give its "
                        "size (l=N) to repeat along it\n"
                        "  ik,kj->ijl\n"
                        "           ^\n");
    assert_file("keep.npy", "precious");
    /* a shape error found only at run time */
    assert_int_equal(einc("run", "ij,jk->ik", "a.npy", "a.npy", "-o", "keep.npy", NULL), 1);
    assert_string_equal(err_text,
                        "einc: error: axis 'j' has length 2 in operand 1 but 3 in operand 0\n"
                        "  ij,jk->ik\n"
                        "     ^\n");
    assert_file("keep.npy", "precious");
    /* a bad input file */
    write_text("bad.npy", "\x93NUMPY\x01");
    assert_int_equal(einc("run", "ij->ji", "bad.npy", "-o", "keep.npy", NULL), 1);
    assert_non_null(strstr(err_text, "einc: error: "));
    assert_non_null(strstr(err_text, "bad.npy"));
    assert_file("keep.npy", "precious");
    /* a missing one */
    assert_int_equal(einc("run", "ij->ji", "missing.npy", "-o", "keep.npy", NULL), 1);
    assert_non_null(strstr(err_text, "missing.npy"));
    assert_file("keep.npy", "precious");
    /* a failed run never creates the output either */
    assert_int_equal(einc("run", "ij->ji", "missing.npy", "-o", "new.npy", NULL), 1);
    char path[300];
    snprintf(path, sizeof path, "%s/new.npy", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_operand_count(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", NULL), 1);
    assert_string_equal(err_text,
                        "einc: error: the expression takes 2 operands but 1 .npy file was given\n"
                        "  ik,kj->ij\n");
}

static void test_usage_errors(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "--frobnicate", "ij->ji", "a.npy", NULL), 2);
    assert_string_equal(err_text, "einc: error: unknown option '--frobnicate'\n(einc --help shows the usage)\n");
    assert_int_equal(einc("run", "--reduce=median", "ij->ji", "a.npy", NULL), 2);
    assert_string_equal(err_text, "einc: error: --reduce takes sum, mean, max, min or prod, not 'median'\n"
                                  "(einc --help shows the usage)\n");
    assert_int_equal(einc("run", NULL), 2);
    assert_string_equal(err_text, "einc: error: no expression given\n(einc --help shows the usage)\n");
    assert_int_equal(einc("run", "i j -> j i", "q=3", "a.npy", NULL), 1);
    assert_string_equal(err_text, "einc: error: size q=3 is given but the expression has no axis 'q'\n");
}

static void test_help_version(void **s)
{
    (void)s;
    assert_int_equal(einc("--help", NULL), 0);
    assert_non_null(strstr(out_text, "usage: einc"));
    assert_int_equal(einc("--version", NULL), 0);
    assert_string_equal(out_text, "einc " EINC_VERSION "\n");
}

static void test_double_dash(void **s)
{
    (void)s;
    float v = 2.5f;
    save("s.npy", EINC_F32, 0, NULL, &v);
    assert_int_equal(einc("run", "--", "->", "s.npy", NULL), 0);
    assert_string_equal(out_text, "2.5\n");
}

static void test_cuda_without_driver(void **s)
{
    (void)s;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) {        /* a machine with a driver: the GPU check covers it */
        dlclose(h);
        skip();
    }
    write_text("keep.npy", "precious");
    assert_int_equal(einc("run", "--target=cuda", "ik,kj->ij", "a.npy", "b.npy", "-o", "keep.npy", NULL), 1);
    assert_string_equal(err_text, "einc: error: no CUDA driver found (libcuda.so.1); use --target=cpu\n");
    assert_file("keep.npy", "precious");
    /* auto falls back to the CPU */
    assert_int_equal(einc("run", "--target=auto", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
}

static void test_bench(void **s)
{
    (void)s;
    assert_int_equal(einc("bench", "ik,kj->ij", "i=40", "k=30", "j=20", NULL), 0);
    assert_non_null(strstr(out_text, "ik,kj->ij: median of 7 runs "));
    assert_non_null(strstr(out_text, "GFLOP/s"));
    assert_non_null(strstr(out_text, "reference interpreter"));
    assert_int_equal(einc("bench", "ik,kj->ij", "i=4", NULL), 1);
    assert_string_equal(err_text, "einc: error: axis 'k' has no size: give every size (k=N)\n"
                                  "  ik,kj->ij\n"
                                  "   ^\n");
}

/* EINC_MAX_ISA=avx2 leaves no AVX-512 register in the code of a host that has AVX-512 */
static void test_max_isa(void **s)
{
    (void)s;
    if (einc("--emit=asm", "ik,kj->ij", NULL) != 0 || !strstr(out_text, "zmm"))
        skip();     /* no JIT, or no AVX-512 to turn off */
    setenv("EINC_MAX_ISA", "avx2", 1);
    int rc = einc("--emit=asm", "ik,kj->ij", NULL);
    unsetenv("EINC_MAX_ISA");
    assert_int_equal(rc, 0);
    assert_null(strstr(out_text, "zmm"));
    assert_non_null(strstr(out_text, "vfmadd231ps\t%ymm"));
}

static void test_explain(void **s)
{
    (void)s;
    setenv("EINC_MAX_ISA", "avx2", 1);     /* the schedule of one machine kind */
    setenv("EINC_CACHE", "0", 1);           /* auto's choice: nothing compiled is cached */
    int rc = einc("explain", "ik,kj->ij", "a.npy", "b.npy", NULL);
    unsetenv("EINC_MAX_ISA");
    unsetenv("EINC_CACHE");
    assert_int_equal(rc, 0);
    assert_string_equal(out_text,
                        "expression: ik,kj->ij\n"
                        "dialect: numpy (no operand has whitespace inside it: one letter is one axis)\n"
                        "kind: einsum\n"
                        "axes: i=2 k=3 j=2\n"
                        "tensors:\n"
                        "  in0  input  float32[i, k]\n"
                        "  in1  input  float32[k, j]\n"
                        "  out  output float32[i, j]\n"
                        "statements:\n"
                        "  out[i, j] += in0[i, k] * in1[k, j]    (reduce k)\n"
                        "flops: 24\n"
                        "schedule:\n"
                        "nest 0 (float32 arithmetic): schedule=gemm tile=6x2 vectors kc=512 vector=8 parallel=i\n"
                        "  gemm m=i n=j k=k parallel over m, first k block stores: out[i, j] += in0[i, k] * in1[k, j]\n"
                        "passes (cpu): bind, contraction path (kept one nest), reduction split "
                        "(nothing to split), lower, schedule\n"
                        "target (auto): interp, the interpreter's estimated 2.48 us is below a "
                        "compile's 20 ms and no compiled kernel is cached\n");
}

/* The usage error einc prints: its message, then where the usage is. */
#define USAGE(msg) "einc: error: " msg "\n(einc --help shows the usage)\n"

static void assert_no_file(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void assert_npy_rows_max(const char *name)
{
    /* max over j of a = [[1, 2, 3], [4, 5, 6]] */
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    npy_array c = { 0 };
    assert_int_equal(npy_read(path, &c, err, sizeof err), 0);
    assert_int_equal(c.ndim, 1);
    assert_int_equal(c.shape[0], 2);
    assert_true(((float *)c.data)[0] == 3 && ((float *)c.data)[1] == 6);
    npy_free(&c);
    unlink(path);
}

/* GNU getopt_long's forms: --opt=VALUE and --opt VALUE; -o FILE and -oFILE. */
static void test_option_spellings(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "--reduce", "max", "i j -> i", "a.npy", NULL), 0);
    assert_string_equal(out_text, "[3. 6.]\n");
    assert_int_equal(einc("run", "i j -> i", "a.npy", "--reduce=max", NULL), 0);
    assert_string_equal(out_text, "[3. 6.]\n");
    /* each spelling of -o writes the file */
    assert_int_equal(einc("run", "--reduce=max", "i j -> i", "a.npy", "-o", "m1.npy", NULL), 0);
    assert_npy_rows_max("m1.npy");
    assert_int_equal(einc("run", "--reduce=max", "i j -> i", "a.npy", "-om2.npy", NULL), 0);
    assert_npy_rows_max("m2.npy");
    assert_int_equal(einc("run", "--reduce=max", "i j -> i", "a.npy", "--output=m3.npy", NULL), 0);
    assert_npy_rows_max("m3.npy");
    assert_int_equal(einc("run", "--reduce=max", "i j -> i", "a.npy", "--output", "m4.npy", NULL), 0);
    assert_npy_rows_max("m4.npy");
    /* the value is the next word even when it starts with '-', as getopt_long takes it */
    assert_int_equal(einc("run", "--reduce", "--max", "i j -> i", "a.npy", NULL), 2);
    assert_string_equal(err_text, USAGE("--reduce takes sum, mean, max, min or prod, not '--max'"));

    /* --target: the interpreter computes; cuda without a driver says so */
    assert_int_equal(einc("run", "--target", "interp", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    assert_int_equal(einc("run", "--target", "bogus", "ik,kj->ij", "a.npy", "b.npy", NULL), 2);
    assert_string_equal(err_text, USAGE("--target takes auto, cpu, cuda or interp, not 'bogus'"));

    /* --emit, --name, --dtype: both spellings give the same text, and it is what they ask */
    assert_int_equal(einc("--emit=header", "--name=mm", "--dtype=f64", "ik,kj->ij", NULL), 0);
    static char want[sizeof out_text];
    strcpy(want, out_text);
    assert_non_null(strstr(want, "void mm(const double *"));
    assert_null(strstr(want, "const float *"));
    assert_int_equal(einc("--emit", "header", "--name", "mm", "--dtype", "f64", "ik,kj->ij", NULL), 0);
    assert_string_equal(out_text, want);
    assert_int_equal(einc("--emit", "c", "ik,kj->ij", NULL), 0);
    assert_string_not_equal(out_text, want);
    assert_non_null(strstr(out_text, "void einc_kernel(const float *"));

    /* --max-memory: one byte fits no intermediate, so the path falls back to one nest */
    assert_int_equal(einc("explain", "ij,jk,kl->il", "i=10", "j=20", "k=30", "l=40", NULL), 0);
    assert_non_null(strstr(out_text, "contraction path:"));
    assert_int_equal(einc("explain", "--max-memory", "1", "ij,jk,kl->il", "i=10", "j=20", "k=30", "l=40", NULL), 0);
    assert_null(strstr(out_text, "contraction path:"));
    assert_int_equal(einc("explain", "--max-memory=1", "ij,jk,kl->il", "i=10", "j=20", "k=30", "l=40", NULL), 0);
    assert_null(strstr(out_text, "contraction path:"));
    assert_int_equal(einc("explain", "--max-memory", "lots", "ij->ij", NULL), 2);
    assert_string_equal(err_text, USAGE("--max-memory takes a byte count such as 1000000, 64K, 512M or 2G, not 'lots'"));
}

/* --dialect forces a reading (einops.einsum(v, 'index ->') is the sum of v, 45 on arange(10)) */
static void test_dialect_option(void **s)
{
    (void)s;
    float v[10];
    for (int i = 0; i < 10; i++)
        v[i] = (float)i;
    int64_t sv[1] = { 10 };
    save("v.npy", EINC_F32, 1, sv, v);
    assert_int_equal(einc("run", "--dialect", "einops", "index ->", "v.npy", NULL), 0);
    assert_string_equal(out_text, "45.0\n");
    assert_int_equal(einc("run", "--dialect=einops", "index ->", "v.npy", NULL), 0);
    assert_string_equal(out_text, "45.0\n");
    /* read as numpy's, 'index' is five axes of a one-axis array */
    assert_int_equal(einc("run", "--dialect=numpy", "index ->", "v.npy", NULL), 1);
    assert_int_equal(einc("run", "--dialect=auto", "ij->ji", "a.npy", NULL), 0);
    assert_string_equal(out_text, "[[1. 4.]\n [2. 5.]\n [3. 6.]]\n");
    assert_int_equal(einc("run", "--dialect=torch", "ij->ji", "a.npy", NULL), 2);
    assert_string_equal(err_text, USAGE("--dialect takes auto, numpy or einops, not 'torch'"));
}

static void test_option_needs_value(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "b c -> b", "a.npy", "--reduce", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--reduce' needs a value (--reduce=OP)"));
    assert_int_equal(einc("run", "b c -> b", "a.npy", "--reduce=", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--reduce' needs a value (--reduce=OP)"));
    assert_int_equal(einc("run", "ij->ji", "a.npy", "-o", NULL), 2);
    assert_string_equal(err_text, USAGE("option '-o' needs a value (-o FILE)"));
    assert_int_equal(einc("run", "ij->ji", "a.npy", "--output", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--output' needs a value (--output=FILE)"));
    assert_int_equal(einc("ij->ji", "--target", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--target' needs a value (--target=auto|cpu|cuda|interp)"));
    assert_int_equal(einc("ij->ji", "--emit", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--emit' needs a value (--emit=KIND)"));
    assert_int_equal(einc("ij->ji", "--name", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--name' needs a value (--name=NAME)"));
    assert_int_equal(einc("ij->ji", "--dtype", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--dtype' needs a value (--dtype=T)"));
    assert_int_equal(einc("ij->ji", "--dialect", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--dialect' needs a value (--dialect=auto|numpy|einops)"));
    assert_int_equal(einc("ij->ji", "--max-memory", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--max-memory' needs a value (--max-memory=BYTES)"));
    /* a flag takes none */
    assert_int_equal(einc("explain", "--dot=yes", "ij->ji", NULL), 2);
    assert_string_equal(err_text, USAGE("option '--dot' takes no value"));
    assert_int_equal(einc("-x", "ij->ji", NULL), 2);
    assert_string_equal(err_text, USAGE("unknown option '-x'"));
    assert_int_equal(einc("-hx", NULL), 2);
    assert_string_equal(err_text, USAGE("unknown option '-hx'"));
}

static void write_model(void)
{
    write_text("relu.einl", "input x: f32[N, D]\nreturn relu(x)\n");
}

/* Every option that does not apply to a command is refused (exit 2), naming both. */
static void test_refused_options(void **s)
{
    (void)s;
    write_model();
    static const struct {
        const char *args[8];
        const char *err;
    } cases[] = {
        { { "run", "--emit=cuda", "ij->ji", "a.npy" },
          USAGE("option '--emit' does not apply to 'einc run': it chooses what a kernel is emitted as (einc --emit=KIND EXPR)") },
        { { "explain", "--emit=c", "ij->ji" },
          USAGE("option '--emit' does not apply to 'einc explain': it chooses what a kernel is emitted as (einc --emit=KIND EXPR)") },
        { { "bench", "--emit", "c", "ij->ji", "i=2", "j=2" },
          USAGE("option '--emit' does not apply to 'einc bench': it chooses what a kernel is emitted as (einc --emit=KIND EXPR)") },
        { { "run", "--name=k", "ij->ji", "a.npy" },
          USAGE("option '--name' does not apply to 'einc run': it names an emitted kernel (einc --name=NAME EXPR)") },
        { { "explain", "ij->ji", "--name", "k" },
          USAGE("option '--name' does not apply to 'einc explain': it names an emitted kernel (einc --name=NAME EXPR)") },
        { { "bench", "--name=k", "ij->ji", "i=2", "j=2" },
          USAGE("option '--name' does not apply to 'einc bench': it names an emitted kernel (einc --name=NAME EXPR)") },
        { { "run", "--dtype=f64", "ij->ji", "a.npy", "-o", "d.npy" },
          USAGE("option '--dtype' does not apply to 'einc run': the result's dtype follows the inputs' (numpy's rules)") },
        { { "explain", "--dtype", "f64", "ij->ji" },
          USAGE("option '--dtype' does not apply to 'einc explain': an expression's dtypes come from its .npy inputs") },
        { { "bench", "--dtype=f64", "ik,kj->ij", "a.npy", "b.npy" },
          USAGE("option '--dtype' does not apply to 'einc bench': the .npy files give the inputs' dtypes") },
        { { "--target=cuda", "ij->ji" },
          USAGE("option '--target' does not apply to emitting a kernel: an emitted kernel's kind is chosen with --emit=c|header|cuda|ptx|llvm|asm|obj") },
        { { "explain", "--target", "cpu", "ij->ji" },
          USAGE("option '--target' does not apply to 'einc explain': explain runs nothing (its schedule is the CPU JIT's)") },
        { { "--max-memory=64K", "ij,jk,kl->il" },
          USAGE("option '--max-memory' does not apply to emitting a kernel: an emitted kernel computes the expression in one loop nest, without a contraction path") },
        { { "--allow-tf32", "ik,kj->ij" },
          USAGE("option '--allow-tf32' does not apply to emitting a kernel: it lets CUDA kernels use TF32 tensor cores: --emit=cuda or ptx") },
        { { "explain", "--allow-tf32", "ik,kj->ij" },
          USAGE("option '--allow-tf32' does not apply to 'einc explain': explain runs nothing (its schedule is the CPU JIT's)") },
        { { "run", "--allow-tf32=1", "ij->ji", "a.npy" },
          USAGE("option '--allow-tf32' takes no value") },
        { { "--dot", "ij->ji" },
          USAGE("option '--dot' does not apply to emitting a kernel: it draws explain's loop nests (einc explain --dot)") },
        { { "run", "--dot", "ij->ji", "a.npy" },
          USAGE("option '--dot' does not apply to 'einc run': it draws explain's loop nests (einc explain --dot)") },
        { { "bench", "ij->ji", "i=2", "j=2", "--dot" },
          USAGE("option '--dot' does not apply to 'einc bench': it draws explain's loop nests (einc explain --dot)") },
        /* what a model has no use for */
        { { "--dtype=f64", "relu.einl", "N=2", "D=3" },
          USAGE("option '--dtype' does not apply to a model: its arrays have the dtypes it declares") },
        { { "bench", "--dtype=f64", "relu.einl", "N=2", "D=3" },
          USAGE("option '--dtype' does not apply to a model: its arrays have the dtypes it declares") },
        { { "run", "--reduce=max", "relu.einl", "x=a.npy" },
          USAGE("option '--reduce' does not apply to a model: its layers say how they reduce") },
        { { "explain", "--dialect=numpy", "relu.einl" },
          USAGE("option '--dialect' does not apply to a model: its pattern calls are einops style") },
        { { "run", "--max-memory=1G", "relu.einl", "x=a.npy" },
          USAGE("option '--max-memory' does not apply to a model: it bounds an expression's contraction path, and a model has none") },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(einc_argv(NULL, cases[i].args), 2);
        assert_string_equal(err_text, cases[i].err);
        assert_string_equal(out_text, "");
    }
    assert_no_file("d.npy");
}

/* What each option means where it applies, beyond the spellings above. */
static void test_applied_options(void **s)
{
    (void)s;
    write_model();
    /* explain --dot, for an expression too; explain -o writes what it would print */
    assert_int_equal(einc("explain", "--dot", "ik,kj->ij", NULL), 0);
    assert_true(strncmp(out_text, "digraph einc {\n", 15) == 0);
    assert_int_equal(einc("explain", "ik,kj->ij", "a.npy", "b.npy", "-o", "e.txt", NULL), 0);
    assert_string_equal(out_text, "");
    char path[300], text[4096];
    snprintf(path, sizeof path, "%s/e.txt", dir);
    slurp_into(path, text, sizeof text);
    assert_int_equal(einc("explain", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(text, out_text);
    assert_true(strncmp(text, "expression: ik,kj->ij\ndialect: numpy", 36) == 0);
    /* a model runs with --target, and bench takes its arrays' files */
    assert_int_equal(einc("run", "--target=interp", "relu.einl", "x=x.npy", NULL), 1);
    assert_non_null(strstr(err_text, "float32[2, 4, 3]"));   /* x.npy's rank is 3, the model's x's 2 */
    float m[6] = { -1, 2, -3, 4, 0, -0.5f };
    int64_t sm[2] = { 2, 3 };
    save("m.npy", EINC_F32, 2, sm, m);
    assert_int_equal(einc("run", "--target", "interp", "relu.einl", "x=m.npy", NULL), 0);
    assert_string_equal(out_text, "[[0. 2. 0.]\n [4. 0. 0.]]\n");
    assert_int_equal(einc("bench", "relu.einl", "x=m.npy", NULL), 0);
    assert_non_null(strstr(out_text, "relu.einl: median of 7 runs "));
    assert_non_null(strstr(out_text, "\n  inputs x float32[2, 3]; "));
}

/* -o - is standard output: a .npy's bytes for run, the text for the others. */
static void test_output_dash(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", "b.npy", "-o", "-", NULL), 0);
    npy_array c = { 0 };
    char err[256];
    assert_int_equal(npy_read_mem(out_text, out_len, "stdout", &c, err, sizeof err), 0);
    assert_int_equal(c.dtype, EINC_F32);
    assert_int_equal(c.ndim, 2);
    const float want[4] = { 1 + 3, 2 + 3, 4 + 6, 5 + 6 };
    for (int i = 0; i < 4; i++)
        assert_true(((float *)c.data)[i] == want[i]);
    npy_free(&c);
    /* byte for byte what -o FILE writes */
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", "b.npy", "-o", "c2.npy", NULL), 0);
    char path[300], file[4096];
    snprintf(path, sizeof path, "%s/c2.npy", dir);
    size_t n = slurp_into(path, file, sizeof file);
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", "b.npy", "--output=-", NULL), 0);
    assert_int_equal(out_len, n);
    assert_memory_equal(out_text, file, n);

    static char text[sizeof out_text];
    assert_int_equal(einc("ik,kj->ij", NULL), 0);
    strcpy(text, out_text);
    assert_int_equal(einc("ik,kj->ij", "-o", "-", NULL), 0);
    assert_string_equal(out_text, text);
    assert_int_equal(einc("explain", "ik,kj->ij", NULL), 0);
    strcpy(text, out_text);
    assert_int_equal(einc("explain", "-o-", "ik,kj->ij", NULL), 0);
    assert_string_equal(out_text, text);
    assert_int_equal(einc("bench", "-o", "-", "ik,kj->ij", "i=4", "k=3", "j=2", NULL), 0);
    assert_non_null(strstr(out_text, "ik,kj->ij: median of 7 runs "));
    assert_no_file("-");
    /* an object file too, where there is a JIT to make it */
    if (einc("--emit=obj", "-o", "-", "ik,kj->ij", NULL) == 0)
        assert_memory_equal(out_text, "\177ELF", 4);
    assert_int_equal(einc("--emit=obj", "ik,kj->ij", NULL), 2);
    assert_string_equal(err_text, "einc: error: --emit=obj writes an object file: give it a name with -o "
                                  "(-o - for standard output)\n");
    assert_no_file("-");
}

/* A full standard output is an error, not a silent success. */
static void test_stdout_full(void **s)
{
    (void)s;
    if (access("/dev/full", W_OK) != 0)
        skip();
    const char *args[] = { "ik,kj->ij", NULL };
    assert_int_equal(einc_argv("/dev/full", args), 1);
    assert_string_equal(err_text, "einc: error: cannot write to standard output: No space left on device\n");
}

static void test_bad_sizes(void **s)
{
    (void)s;
    assert_int_equal(einc("h w -> h w c", "c=3.5", NULL), 2);
    assert_string_equal(err_text, USAGE("bad size 'c=3.5': a size is a non-negative integer"));
    assert_int_equal(einc("run", "h w -> h w c", "c=abc", "a.npy", NULL), 2);
    assert_string_equal(err_text, USAGE("bad size 'c=abc': a size is a non-negative integer"));
    assert_int_equal(einc("run", "h w -> h w c", "c=-1", "a.npy", NULL), 2);
    assert_string_equal(err_text, USAGE("bad size 'c=-1': a size is a non-negative integer"));
    assert_int_equal(einc("run", "h w -> h w c", "c=", "a.npy", NULL), 2);
    assert_string_equal(err_text, USAGE("bad size 'c=': a size is a non-negative integer"));
    assert_int_equal(einc("h w -> h w c", "c=99999999999999999999", NULL), 2);
    assert_string_equal(err_text, USAGE("bad size 'c=99999999999999999999': it does not fit in 64 bits"));
    /* a model binds arrays as NAME=FILE: there a name that is not a number is a file */
    write_model();
    assert_int_equal(einc("run", "relu.einl", "x=2.5", NULL), 2);
    assert_string_equal(err_text, USAGE("bad size 'x=2.5': a size is a non-negative integer"));
    assert_int_equal(einc("run", "relu.einl", "x=nofile", NULL), 1);
    assert_non_null(strstr(err_text, "nofile"));
    /* every missing array is named at once */
    write_text("three.einl", "input x: f32[N]\nparam w: f32[N]\nparam b: f32[N]\nreturn x * w + b\n");
    assert_int_equal(einc("run", "three.einl", NULL), 1);
    assert_string_equal(err_text, "einc: error: three.einl needs arrays for 'x', 'w' and 'b': give "
                                  "x=FILE.npy w=FILE.npy b=FILE.npy\n");
    assert_int_equal(einc("run", "three.einl", "w=a.npy", NULL), 1);
    assert_string_equal(err_text, "einc: error: three.einl needs arrays for 'x' and 'b': give x=FILE.npy "
                                  "b=FILE.npy\n");
    assert_int_equal(einc("run", "three.einl", "w=a.npy", "x=a.npy", NULL), 1);
    assert_string_equal(err_text, "einc: error: three.einl needs an array for 'b': give b=FILE.npy\n");
    /* and the good ones still work */
    assert_int_equal(einc("run", "h w -> h w c", "c=2", "a.npy", "-o", "r.npy", NULL), 0);
}

/* Checks a rendered error's last two lines: shown text at most 76 columns (plus the
   indent), "..." where it was cut, and the caret under `culprit` in it. */
static void assert_window(const char *text, const char *culprit, bool left, bool right)
{
    const char *src = strchr(text, '\n'), *caret = src ? strchr(src + 1, '\n') : NULL;
    assert_non_null(caret);
    size_t srclen = (size_t)(caret - src - 1);
    assert_true(srclen <= 2 + 76);
    assert_true(strncmp(src + 1, left ? "  ..." : "  ", left ? 5 : 2) == 0);
    assert_int_equal(left, strncmp(src + 3, "...", 3) == 0);
    assert_int_equal(right, strncmp(caret - 3, "...", 3) == 0);
    const char *hat = strchr(caret + 1, '^');
    assert_non_null(hat);
    size_t col = (size_t)(hat - caret - 1);
    assert_true(col < srclen);
    assert_true(strncmp(src + 1 + col, culprit, strlen(culprit)) == 0);
}

/* A long source line is shown as a window around the caret. */
static void test_long_line_window(void **s)
{
    (void)s;
    static char expr[200000];
    /* x0 .. x9999 -> x0 .. x9999 BAD (: the culprit at the very end */
    size_t n = 0;
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < 10000; i++)
            n += (size_t)snprintf(expr + n, sizeof expr - n, "x%d ", i);
        if (side == 0)
            n += (size_t)snprintf(expr + n, sizeof expr - n, "-> ");
    }
    snprintf(expr + n, sizeof expr - n, "(");
    assert_int_equal(einc(expr, NULL), 1);
    assert_true(strlen(err_text) < 400);
    assert_true(strncmp(err_text, "einc: error: '(' is never closed\n", 33) == 0);
    assert_window(err_text, "(", true, false);
    /* in the middle: both ends cut */
    snprintf(expr, sizeof expr, "%s", "a b c ");
    n = strlen(expr);
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(expr + n, sizeof expr - n, "y%d ", i);
    snprintf(expr + n, sizeof expr - n, "-> a b c q");
    for (size_t i = 2000; i < 2010; i++)      /* a stray ']' far from either end */
        if (expr[i] == ' ') {
            expr[i] = ']';
            break;
        }
    assert_int_equal(einc(expr, NULL), 1);
    assert_true(strlen(err_text) < 400);
    assert_window(err_text, "]", true, true);
    /* at the start: only the right end cut */
    expr[0] = '[';
    assert_int_equal(einc(expr, NULL), 1);
    assert_window(err_text, "[", false, true);
}

/* Tabs before the caret stay tabs, and a character is one column however many bytes. */
static void test_error_caret_alignment(void **s)
{
    (void)s;
    assert_int_equal(einc("run", "a\tb -> a b c", "a.npy", NULL), 1);
    assert_string_equal(err_text,
                        "einc: error: index 'c' appears in the output but in no input; give its "
                        "size (c=N) to repeat along it\n"
                        "  a\tb -> a b c\n"
                        "   \t         ^\n");
    einc_error e = { .status = EINC_ERR_SYNTAX, .begin = 6, .end = 7 };
    snprintf(e.message, sizeof e.message, "here");
    char buf[256];
    const char *src = "\xc3\xa9 \xc3\xa9 x y";     /* "é é x y": x is the 5th character */
    int n = einc_error_format(&e, src, buf, sizeof buf);
    assert_string_equal(buf, "error: here\n  \xc3\xa9 \xc3\xa9 x y\n      ^");
    assert_int_equal(n, (int)strlen(buf));
    /* a short buffer gets what fits, and the length of the whole */
    char small[8];
    assert_int_equal(einc_error_format(&e, src, small, sizeof small), n);
    assert_string_equal(small, "error: ");
    /* a byte-order mark before the culprit's line takes no column, in the caret or in
       file:line:col */
    e.begin = 6, e.end = 8;
    einc_error_format(&e, "\xEF\xBB\xBF" "ab cd", buf, sizeof buf);
    assert_string_equal(buf, "error: here\n  ab cd\n     ^^");
    write_text("bom.einl", "\xEF\xBB\xBF" "input x: f32[3]\nreturn x\n");
    assert_int_equal(einc("run", "bom.einl", "x=a.npy", NULL), 1);
    assert_non_null(strstr(err_text, "bom.einl:1:1: error: input 'x' is declared float32[3], "
                                     "but the array is float32[2, 3]\n"
                                     "  input x: f32[3]\n  ^^^^^^^^^^^^^^^\n"));
}

static void test_help_command(void **s)
{
    (void)s;
    assert_int_equal(einc("--help", NULL), 0);
    static char help[sizeof out_text];
    strcpy(help, out_text);
    assert_int_equal(einc("help", NULL), 0);
    assert_string_equal(out_text, help);
    assert_int_equal(einc("-h", NULL), 0);
    assert_string_equal(out_text, help);
    /* every option is in it */
    static const char *const opts[] = { "--emit=KIND", "--name=NAME", "--dtype=T", "--reduce=OP",
                                        "--dialect=D", "--target=T", "--max-memory=BYTES", "--dot",
                                        "--timings", "-o, --output=FILE", "-h, --help", "--version" };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        assert_non_null(strstr(help, opts[i]));
    /* after --, "help" is an expression: numpy's four axes e h l p */
    assert_int_equal(einc("--", "help", NULL), 0);
    assert_non_null(strstr(out_text, "void einc_kernel("));
}

static void test_bench_output_file(void **s)
{
    (void)s;
    assert_int_equal(einc("bench", "ik,kj->ij", "i=4", "k=3", "j=2", "-o", "b.txt", NULL), 0);
    assert_string_equal(out_text, "");
    char path[300], text[4096];
    snprintf(path, sizeof path, "%s/b.txt", dir);
    slurp_into(path, text, sizeof text);
    assert_true(strncmp(text, "ik,kj->ij: median of 7 runs ", 28) == 0);
    /* numpy.einsum_path's naive FLOP count for (4, 3) x (3, 2) is 2*4*3*2 */
    assert_non_null(strstr(text, "\n  random inputs float32[4, 3], float32[3, 2]; 48 FLOPs\n"));
    assert_non_null(strstr(text, "GFLOP/s"));
    /* an error leaves the report file as it was */
    write_text("keep.txt", "precious");
    assert_int_equal(einc("bench", "ik,kj->ij", "i=4", "-o", "keep.txt", NULL), 1);
    assert_file("keep.txt", "precious");
    /* --dtype chooses the random inputs' dtype */
    assert_int_equal(einc("bench", "--dtype", "f64", "ik,kj->ij", "i=4", "k=3", "j=2", NULL), 0);
    assert_non_null(strstr(out_text, "\n  random inputs float64[4, 3], float64[3, 2]; 48 FLOPs\n"));
}

static void test_bench_files(void **s)
{
    (void)s;
    assert_int_equal(einc("bench", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_true(strncmp(out_text, "ik,kj->ij: median of 7 runs ", 28) == 0);
    /* numpy.einsum_path('ik,kj->ij', a, b): naive FLOP count 24 */
    assert_non_null(strstr(out_text, "\n  inputs a.npy float32[2, 3], b.npy float32[3, 2]; 24 FLOPs\n"));
    assert_non_null(strstr(out_text, "reference interpreter"));
    /* the files' shapes are checked as run checks them */
    assert_int_equal(einc("bench", "ij,jk->ik", "a.npy", "a.npy", NULL), 1);
    assert_string_equal(err_text,
                        "einc: error: axis 'j' has length 2 in operand 1 but 3 in operand 0\n"
                        "  ij,jk->ik\n"
                        "     ^\n");
    assert_int_equal(einc("bench", "ik,kj->ij", "a.npy", NULL), 1);
    assert_string_equal(err_text,
                        "einc: error: the expression takes 2 operands but 1 .npy file was given\n"
                        "  ik,kj->ij\n");
    /* and sizes the files do not give still come as words: numpy counts (2*3*4) for a repeat */
    assert_int_equal(einc("bench", "h w -> h w c", "c=4", "a.npy", NULL), 0);
    assert_non_null(strstr(out_text, "\n  inputs a.npy float32[2, 3]; "));
}

/* The sizes of the kernel cache's entries in d, and their count. */
static long long cache_bytes(const char *d, int *count)
{
    long long total = 0;
    *count = 0;
    DIR *dp = opendir(d);
    for (struct dirent *e; dp && (e = readdir(dp));) {
        size_t n = strlen(e->d_name);
        struct stat st;
        char path[900];
        snprintf(path, sizeof path, "%s/%s", d, e->d_name);
        if (n > 6 && strcmp(e->d_name + n - 6, ".einck") == 0 && stat(path, &st) == 0) {
            total += st.st_size;
            (*count)++;
        }
    }
    if (dp)
        closedir(dp);
    return total;
}

/*
 * einc cache shows the kernel cache, einc cache clear empties it of its own files only;
 * the runs name --target=cpu, since auto interprets arrays this small (test_auto_choice);
 * a damaged entry or an impossible directory changes nothing a user sees; 8 runs at once
 * on an empty cache all give the right answer.
 */
static void test_cache_command(void **s)
{
    (void)s;
    char cdir[300], want[2048], path[400];
    snprintf(cdir, sizeof cdir, "%s/kcache", dir);
    const char *env = getenv("EINC_CACHE_DIR");
    char *old = env ? strdup(env) : NULL;
    setenv("EINC_CACHE_DIR", cdir, 1);
    assert_int_equal(einc("cache", NULL), 0);
    snprintf(want, sizeof want, "directory  %s\nstate      on\nentries    0\nsize       0 bytes\n"
                                "limit      1.0 GiB (1073741824 bytes)\n", cdir);
    assert_string_equal(out_text, want);
    for (int i = 0; i < 2; i++) {       /* compiled, then loaded */
        assert_int_equal(einc("run", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
        assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
        assert_string_equal(err_text, "");
    }
    assert_int_equal(einc("run", "--target=cpu", "ij->ji", "a.npy", NULL), 0);
    assert_string_equal(out_text, "[[1. 4.]\n [2. 5.]\n [3. 6.]]\n");
    int count;
    long long bytes = cache_bytes(cdir, &count);
    assert_int_equal(count, 2);
    assert_true(bytes > 1024 && bytes < 1024 * 1024);
    assert_int_equal(einc("cache", NULL), 0);
    snprintf(want, sizeof want, "directory  %s\nstate      on\nentries    2\nsize       %.1f KiB "
                                "(%lld bytes)\nlimit      1.0 GiB (1073741824 bytes)\n",
             cdir, (double)bytes / 1024, bytes);
    assert_string_equal(out_text, want);
    setenv("EINC_CACHE", "0", 1);
    setenv("EINC_CACHE_MAX", "64M", 1);
    assert_int_equal(einc("cache", NULL), 0);
    snprintf(want, sizeof want, "directory  %s\nstate      off (EINC_CACHE=0)\nentries    2\n"
                                "size       %.1f KiB (%lld bytes)\nlimit      64.0 MiB (67108864 bytes)\n",
             cdir, (double)bytes / 1024, bytes);
    assert_string_equal(out_text, want);
    unsetenv("EINC_CACHE");
    unsetenv("EINC_CACHE_MAX");
    /* a damaged entry: the right answer, silently, and a good entry again */
    char cmd[900];
    snprintf(cmd, sizeof cmd, "for f in '%s'/*.einck; do head -c 100 \"$f\" > \"$f.x\" && mv \"$f.x\" \"$f\"; done", cdir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(einc("run", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    assert_string_equal(err_text, "");
    /* clear removes the entries and nothing else */
    snprintf(path, sizeof path, "%s/notes.txt", cdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("mine", f);
    fclose(f);
    bytes = cache_bytes(cdir, &count);
    assert_int_equal(count, 2);
    assert_int_equal(einc("cache", "clear", NULL), 0);
    snprintf(want, sizeof want, "removed 2 entries, %.1f KiB (%lld bytes), from %s\n",
             (double)bytes / 1024, bytes, cdir);
    assert_string_equal(out_text, want);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(einc("cache", NULL), 0);
    assert_non_null(strstr(out_text, "\nentries    0\nsize       0 bytes\n"));
    /* 8 runs at once on the empty cache */
    pid_t pid[8];
    for (int i = 0; i < 8; i++) {
        if ((pid[i] = fork()) == 0) {
            char o[400];
            snprintf(o, sizeof o, "%s/par%d.txt", dir, i);
            int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fo, 1);
            if (chdir(dir) != 0)
                _exit(126);
            execl(einc_bin, einc_bin, "run", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < 8; i++) {
        int st;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        char name[32];
        snprintf(name, sizeof name, "par%d.txt", i);
        assert_file(name, "[[ 4.  5.]\n [10. 11.]]\n");
    }
    cache_bytes(cdir, &count);
    assert_int_equal(count, 1);
    /* directories that cannot be: a file in the way, or below a file; run stays silent */
    static const char *const bad[] = { "a.npy", "a.npy/sub" };
    for (int i = 0; i < 2; i++) {
        char bd[400];
        snprintf(bd, sizeof bd, "%s/%s", dir, bad[i]);
        setenv("EINC_CACHE_DIR", bd, 1);
        assert_int_equal(einc("run", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
        assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
        assert_string_equal(err_text, "");
    }
    /* usage */
    assert_int_equal(einc("cache", "bogus", NULL), 2);
    assert_string_equal(err_text, "einc: error: 'einc cache' takes 'clear' or nothing, not 'bogus'\n"
                                  "(einc --help shows the usage)\n");
    assert_int_equal(einc("cache", "clear", "--target=cpu", NULL), 2);
    assert_string_equal(err_text, "einc: error: option '--target' does not apply to 'einc cache': "
                                  "it takes no options\n(einc --help shows the usage)\n");
    unsetenv("EINC_CACHE_DIR");
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CACHE_HOME");
    char *old_home = home ? strdup(home) : NULL, *old_xdg = xdg ? strdup(xdg) : NULL;
    unsetenv("HOME");
    unsetenv("XDG_CACHE_HOME");
    assert_int_equal(einc("cache", NULL), 1);
    assert_string_equal(err_text, "einc: error: no cache directory: EINC_CACHE_DIR, "
                                  "XDG_CACHE_HOME and HOME are unset\n");
    assert_int_equal(einc("run", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);  /* uncached */
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    if (old_home)
        setenv("HOME", old_home, 1);
    if (old_xdg)
        setenv("XDG_CACHE_HOME", old_xdg, 1);
    if (old)
        setenv("EINC_CACHE_DIR", old, 1);
    free(old_home);
    free(old_xdg);
    free(old);
}

/*
 * --timings: run prints where its time went on standard error, explain appends it; a
 * compile shows LLVM's phases, an interpreted run none; explain needs files to time.
 */
static void test_timings(void **s)
{
    (void)s;
    setenv("EINC_CACHE", "0", 1);
    assert_int_equal(einc("run", "--timings", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    assert_true(strncmp(err_text, "timings (CPU ms of the calling thread):\n  parse ", 48) == 0);
    assert_null(strstr(err_text, "LLVM passes"));
    assert_non_null(strstr(err_text, "\nkernels: 0 compiled, 0 from the disk cache, 1 interpreted run\n"));
    assert_int_equal(einc("run", "--timings", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    assert_non_null(strstr(err_text, "\n  LLVM passes "));
    assert_non_null(strstr(err_text, "\n  machine code "));
    assert_non_null(strstr(err_text, "\nkernels: 1 compiled, 0 from the disk cache, 0 interpreted runs\n"));
    assert_int_equal(einc("explain", "--timings", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    /* the timed run was interpreted, and the kernel's account says so */
    assert_non_null(strstr(out_text, "\ntarget (auto): interp, the interpreter's estimated 2.48 us "
                                     "(and 2.48 us before) is below a compile's 20 ms and no "
                                     "compiled kernel is cached\n"
                                     "timings (CPU ms of the calling thread):\n  parse "));
    assert_int_equal(einc("explain", "--timings", "ik,kj->ij", NULL), 2);
    assert_string_equal(err_text, "einc: error: explain --timings times a run: give the input files\n");
    unsetenv("EINC_CACHE");
}

/* The last line of explain's text in out_text. */
static const char *last_line(void)
{
    size_t n = strlen(out_text);
    const char *p = out_text + (n ? n - 1 : 0);
    while (p > out_text && p[-1] != '\n')
        p--;
    return p;
}

/*
 * --target=auto: small work runs on the interpreter while nothing compiled is cached;
 * --target=cpu compiles, after which auto takes the cached kernel; large work compiles.
 * explain says which and why, and every answer is the interpreter's.
 */
static void test_auto_choice(void **s)
{
    (void)s;
    char cdir[300], cmd[1000];
    snprintf(cdir, sizeof cdir, "%s/autokc", dir);
    const char *env = getenv("EINC_CACHE_DIR");
    char *old = env ? strdup(env) : NULL;
    setenv("EINC_CACHE_DIR", cdir, 1);
    int count;
    assert_int_equal(einc("run", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    cache_bytes(cdir, &count);
    assert_int_equal(count, 0);
    assert_int_equal(einc("explain", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(last_line(), "target (auto): interp, the interpreter's estimated 2.48 us "
                                     "is below a compile's 20 ms and no compiled kernel is cached\n");
    assert_int_equal(einc("run", "--target=cpu", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(out_text, "[[ 4.  5.]\n [10. 11.]]\n");
    cache_bytes(cdir, &count);
    assert_int_equal(count, 1);
    assert_int_equal(einc("explain", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
    assert_string_equal(last_line(), "target (auto): cpu, the compiled kernel is cached\n");
    /* 96^3 multiply-adds: 35 ms on the interpreter by the estimate */
    static float p[96 * 96], q[96 * 96];
    for (int i = 0; i < 96 * 96; i++) {
        p[i] = (float)(i * 7 % 5 - 2);
        q[i] = (float)(i * 3 % 7 - 3);
    }
    int64_t sp[2] = { 96, 96 };
    save("p.npy", EINC_F32, 2, sp, p);
    save("q.npy", EINC_F32, 2, sp, q);
    assert_int_equal(einc("explain", "ik,kj->ij", "p.npy", "q.npy", NULL), 0);
    assert_string_equal(last_line(), "target (auto): cpu, the interpreter's estimated 35.4 ms is "
                                     "not below a compile's 20 ms\n");
    assert_int_equal(einc("run", "ik,kj->ij", "p.npy", "q.npy", "-o", "auto.npy", NULL), 0);
    assert_int_equal(einc("run", "--target=interp", "ik,kj->ij", "p.npy", "q.npy", "-o",
                          "interp.npy", NULL), 0);
    cache_bytes(cdir, &count);
    assert_int_equal(count, 1);         /* sizes are run-time arguments: the same kernel */
    snprintf(cmd, sizeof cmd, "cmp -s '%s/auto.npy' '%s/interp.npy'", dir, dir);
    assert_int_equal(system(cmd), 0);
    if (old)
        setenv("EINC_CACHE_DIR", old, 1);
    else
        unsetenv("EINC_CACHE_DIR");
    free(old);
}

int main(int argc, char **argv)
{
    static char abs[4096];
    if (!realpath(argc > 1 ? argv[1] : "build/runtime/einc", abs)) {
        perror("einc binary");
        return 1;
    }
    einc_bin = abs;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_matmul_to_file),
        cmocka_unit_test(test_run_prints_like_numpy),
        cmocka_unit_test(test_run_rearrange_with_size),
        cmocka_unit_test(test_error_keeps_output),
        cmocka_unit_test(test_operand_count),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_bench),
        cmocka_unit_test(test_max_isa),
        cmocka_unit_test(test_cuda_without_driver),
        cmocka_unit_test(test_option_spellings),
        cmocka_unit_test(test_dialect_option),
        cmocka_unit_test(test_option_needs_value),
        cmocka_unit_test(test_refused_options),
        cmocka_unit_test(test_applied_options),
        cmocka_unit_test(test_output_dash),
        cmocka_unit_test(test_stdout_full),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_long_line_window),
        cmocka_unit_test(test_error_caret_alignment),
        cmocka_unit_test(test_help_command),
        cmocka_unit_test(test_bench_output_file),
        cmocka_unit_test(test_bench_files),
        cmocka_unit_test(test_cache_command),
        cmocka_unit_test(test_auto_choice),
        cmocka_unit_test(test_timings),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
