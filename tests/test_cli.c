/*
 * test_cli.c — the einc command line, end to end: exit codes, exact error text, and that
 * an error never creates, truncates or half-writes the -o file.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "npy.h"

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

static void slurp_into(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    buf[got] = 0;
    if (f)
        fclose(f);
}

/* Runs einc with the NULL-terminated arguments; returns its exit status. */
static int einc(const char *first, ...)
{
    const char *argv[32] = { einc_bin, first };
    int n = 2;
    va_list ap;
    va_start(ap, first);
    while (n < 31 && (argv[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;
    char o[300], e[300];
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
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
    slurp_into(o, out_text, sizeof out_text);
    slurp_into(e, err_text, sizeof err_text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
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
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
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
    assert_int_equal(einc("explain", "ik,kj->ij", "a.npy", "b.npy", NULL), 0);
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
                        "nest 0 (float32 arithmetic):\n"
                        "  gemm m=i n=j k=k parallel over m, first k block stores: out[i, j] += in0[i, k] * in1[k, j]\n");
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
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
