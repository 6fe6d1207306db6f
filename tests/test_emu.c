/*
 * test_emu.c — the CUDA emulator (EINC_CUDA_EMU=1, runtime/cuda_emu.c): the runtime's CUDA
 * path, from lowering through the driver calls, run on this CPU against the interpreter.
 *
 * Built twice from this file (tests/meson.build), each including a differential test whole
 * so that its cases are shared rather than copied:
 *   - EMU_OPS includes tests/test_ops.c: every operator case, built bound, runs through
 *     cuda_run on the emulator, with each block's threads in forward and in reverse order,
 *     and must agree with the interpreter within the case's own tolerance; then the emulator's self tests (hand-written kernels through the driver
 *     entry points: a missing barrier caught under the reverse order, a barrier or a warp
 *     collective that part of the threads reach, an index past a __shared__ array, a
 *     misaligned vector load, a compile error, no C++ compiler) and `einc run
 *     --target=cuda` through the CLI;
 *   - EMU_MODELS includes tests/test_model.c with its JIT target replaced by CUDA: each
 *     model test then checks the interpreter and the emulated GPU against references in
 *     double precision (its failure messages still say "cpu" for the second target).
 * Without a C++ compiler every test skips and says why.
 */
#define _GNU_SOURCE
#include "einc.h"

#include <stdlib.h>

#ifdef EMU_MODELS
#define EINC_TARGET_CPU EINC_TARGET_CUDA
#define main test_model_main
#include "test_model.c"
#undef main

static bool have_cxx;

static int emu_setup(void **state)
{
    if (!have_cxx)
        return 0;
    return setup(state);
}

static int emu_teardown(void **state)
{
    if (!have_cxx)
        return 0;
    return teardown(state);
}

#define EMU_TEST(f) static void emu_##f(void **state) { if (!have_cxx) skip(); f(state); }
EMU_TEST(test_linear)
EMU_TEST(test_conv2d)
EMU_TEST(test_conv2d_tiles)
EMU_TEST(test_batchnorm2d)
EMU_TEST(test_layernorm)
EMU_TEST(test_elementwise)
EMU_TEST(test_activations)
EMU_TEST(test_flatten)
EMU_TEST(test_argmax)
EMU_TEST(test_pool)
EMU_TEST(test_pool_identity)
EMU_TEST(test_confusion_computed)
EMU_TEST(test_softmax)
EMU_TEST(test_squeeze)
EMU_TEST(test_arith)
EMU_TEST(test_patterns)
EMU_TEST(test_compose)
EMU_TEST(test_int_to_float)
EMU_TEST(test_reshape)
EMU_TEST(test_metrics)
EMU_TEST(test_example_attention)
EMU_TEST(test_example_metrics)
EMU_TEST(test_example_resblock)
EMU_TEST(test_large)

/* every model above ran on the emulated GPU (test_model.c counts them as JIT runs) */
static void emu_ran(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    assert_int_equal(jit_skips, 0);
    assert_true(jit_runs > 50);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        examples_dir = argv[1];
    setenv("EINC_CUDA_EMU", "1", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx)
        fprintf(stderr, "test_emu: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
#define T(f) cmocka_unit_test(emu_##f)
    const struct CMUnitTest tests[] = {
        T(test_linear), T(test_conv2d), T(test_conv2d_tiles), T(test_batchnorm2d), T(test_layernorm),
        T(test_elementwise), T(test_activations), T(test_flatten), T(test_argmax), T(test_pool), T(test_pool_identity), T(test_confusion_computed),
        T(test_softmax), T(test_squeeze), T(test_arith), T(test_patterns), T(test_compose),
        T(test_int_to_float), T(test_reshape), T(test_metrics), T(test_example_attention),
        T(test_example_metrics), T(test_example_resblock), T(test_large),
        cmocka_unit_test(emu_ran),
    };
#undef T
    if (getenv("EINC_TEST_FILTER"))
        cmocka_set_test_filter(getenv("EINC_TEST_FILTER"));
    return cmocka_run_group_tests_name("emu models", tests, emu_setup, emu_teardown);
}

#else /* EMU_OPS */

#define main test_ops_main
#include "test_ops.c"
#undef main

#include "cuda.h"
#include "cuda_emu.h"
#include "npy.h"

static cuda_backend *gpu[2];     /* EINC_CUDA_EMU_ORDER forward, reverse */
static const char *einc_exe;

/* ---- test_ops.c's cases on the emulator ----------------------------------------------------- */

static void emu_case(void **state)
{
    if (!have_cxx)
        skip();
    const ocase *oc = &cases[(intptr_t)*state];
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = oc->name, .err = &err };
    pb b;
    pb_init(&b, &A, true);
    oc->build(&b, oc->arg);
    if (oc->split)
        assert_true(split_reductions(&c, b.p) >= 0);
    const ir_prog *p = b.p;
    void *bufs[PB_MAXT] = { 0 };
    for (int t = 0; t < p->ntensor; t++) {
        if (p->tensor[t].role != IR_INPUT)
            continue;
        bufs[t] = alloc_poisoned(p, t);
        for (int64_t e = 0; e < elems(p, t); e++)
            th_put(p->tensor[t].dtype, bufs[t], e, value(b.fill[t], e, elems(p, t), p->tensor[t].dtype, b.labels));
    }
    void *want = alloc_poisoned(p, p->output);
    bufs[p->output] = want;
    if (interp_run(&c, p, bufs, NULL) < 0)
        fail_msg("%s: the interpreter: %s", oc->name, err.message);
    if (oc->numpy)
        compare(oc, "the interpreter", p, want, NULL);
    void *got = alloc_poisoned(p, p->output);
    bufs[p->output] = got;
    char key[128];
    snprintf(key, sizeof key, "test_emu %s", oc->name);
    for (int g = 0; g < 2; g++) {
        const char *who = g ? "the CUDA emulator (threads in reverse order)" : "the CUDA emulator";
        memset(got, 0xA5, (size_t)elems(p, p->output) * dtype_size(p->tensor[p->output].dtype));
        if (cuda_run(gpu[g], &c, key, p, bufs, false) < 0)
            fail_msg("%s: %s: %s", oc->name, who, err.message);
        compare(oc, who, p, got, want);
    }
    for (int t = 0; t < p->ntensor; t++)
        free(bufs[t]);
    free(want);
    arena_free(&A);
}

/* ---- the emulator itself, through the driver's entry points -------------------------------- */

typedef struct drv {
    cuda_emu *emu;
    int (*load)(void **m, const void *image);
    int (*unload)(void *m);
    int (*function)(void **f, void *m, const char *name);
    int (*launch)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                  unsigned shmem, void *stream, void **params, void **extra);
    int (*error_string)(int r, const char **s);
} drv;

static void drv_open(drv *d, const char *order)
{
    setenv("EINC_CUDA_EMU_ORDER", order, 1);
    char why[256];
    *d = (drv){ 0 };
    if (cuda_emu_open(&d->emu, why, sizeof why) < 0)
        fail_msg("%s", why);
    unsetenv("EINC_CUDA_EMU_ORDER");
    *(void **)&d->load = cuda_emu_sym("cuModuleLoadData");
    *(void **)&d->unload = cuda_emu_sym("cuModuleUnload");
    *(void **)&d->function = cuda_emu_sym("cuModuleGetFunction");
    *(void **)&d->launch = cuda_emu_sym("cuLaunchKernel");
    *(void **)&d->error_string = cuda_emu_sym("cuGetErrorString");
    assert_non_null(d->launch);
}

/*
 * Compiles src, launches its kernel k on grid x block threads with pointer arguments
 * a[0..n) and returns the message of the first error ("" when none) in msg.
 */
static void drv_run(drv *d, const char *src, const char *k, unsigned grid, unsigned block, void **a, int n,
                    char *msg, size_t len)
{
    void *m = NULL, *f = NULL;
    unsigned long long ptr[8];
    void *args[8];
    const char *s = "";
    int r = d->load(&m, src);
    if (!r)
        r = d->function(&f, m, k);
    for (int i = 0; i < n; i++) {
        ptr[i] = (unsigned long long)(uintptr_t)a[i];
        args[i] = &ptr[i];
    }
    if (!r)
        r = d->launch(f, grid, 1, 1, block, 1, 1, 0, NULL, args, NULL);
    if (r)
        d->error_string(r, &s);
    snprintf(msg, len, "%s", s);
    if (m)
        d->unload(m);
}

static void drv_close(drv *d) { cuda_emu_close(d->emu); }

/* out[t] = in[t] + in[t - 1] through shared memory; the barrier is left out unless asked. */
static const char *const scan_src[2] = {
    "extern \"C\" __global__ void scan(const float *in, float *out)\n"
    "{\n"
    "    __shared__ float s[256];\n"
    "    unsigned t = threadIdx.x;\n"
    "    s[t] = in[t];\n"
    "    out[t] = s[t] + (t > 0 ? s[t - 1] : 0.0f);\n"
    "}\n",
    "extern \"C\" __global__ void scan(const float *in, float *out)\n"
    "{\n"
    "    __shared__ float s[256];\n"
    "    unsigned t = threadIdx.x;\n"
    "    s[t] = in[t];\n"
    "    __syncthreads();\n"
    "    out[t] = s[t] + (t > 0 ? s[t - 1] : 0.0f);\n"
    "}\n",
};

/* how many of out[0..256) differ from in[t] + in[t - 1] */
static int scan_wrong(drv *d, int barrier)
{
    float in[256], out[256];
    for (int t = 0; t < 256; t++)
        in[t] = (float)(t * 3 % 17);
    memset(out, 0, sizeof out);
    char msg[512];
    void *a[2] = { in, out };
    drv_run(d, scan_src[barrier], "scan", 1, 256, a, 2, msg, sizeof msg);
    assert_string_equal(msg, "");
    int wrong = 0;
    for (int t = 0; t < 256; t++)
        wrong += out[t] != in[t] + (t ? in[t - 1] : 0.0f);
    return wrong;
}

static void emu_missing_barrier(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    drv d;
    drv_open(&d, "forward");
    assert_int_equal(scan_wrong(&d, 0), 0);     /* forward order hides the race */
    assert_int_equal(scan_wrong(&d, 1), 0);
    drv_close(&d);
    drv_open(&d, "reverse");
    assert_int_equal(scan_wrong(&d, 0), 255);   /* every thread but 0 reads poison */
    assert_int_equal(scan_wrong(&d, 1), 0);
    drv_close(&d);
    drv_open(&d, "random:7");
    assert_true(scan_wrong(&d, 0) > 0);
    assert_int_equal(scan_wrong(&d, 1), 0);
    drv_close(&d);
}

static void emu_partial_barrier(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    drv d;
    drv_open(&d, "forward");
    float out[256];
    void *a[1] = { out };
    char msg[512];
    drv_run(&d,
            "extern \"C\" __global__ void half(float *out)\n"
            "{\n"
            "    if (threadIdx.x < 128)\n"
            "        __syncthreads();\n"
            "    out[threadIdx.x] = 1.0f;\n"
            "}\n",
            "half", 2, 256, a, 1, msg, sizeof msg);
    assert_string_equal(msg, "half: __syncthreads() at einc.cu:4 is reached by 128 of the 256 threads of "
                             "block (0,0,0); the other 128 returned");
    drv_run(&d,
            "extern \"C\" __global__ void two(float *out)\n"
            "{\n"
            "    if (threadIdx.x % 2)\n"
            "        __syncthreads();\n"
            "    else\n"
            "        __syncthreads();\n"
            "    out[threadIdx.x] = 1.0f;\n"
            "}\n",
            "two", 1, 64, a, 1, msg, sizeof msg);
    assert_string_equal(msg, "two: block (0,0,0): threads wait at different __syncthreads() (einc.cu:6 and "
                             "einc.cu:4)");
    drv_close(&d);
}

static void emu_warp(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    drv d;
    drv_open(&d, "reverse");
    unsigned out[3 * 64];
    memset(out, 0, sizeof out);
    void *a[1] = { out };
    char msg[512];
    /* per warp: a tree sum down to lane 0, a butterfly sum to every lane, a ballot */
    drv_run(&d,
            "extern \"C\" __global__ void warp(unsigned *out)\n"
            "{\n"
            "    unsigned t = threadIdx.x, v = t, w = t;\n"
            "    for (int o = 16; o > 0; o >>= 1)\n"
            "        v += __shfl_down_sync(0xffffffffu, v, o);\n"
            "    for (int o = 1; o < 32; o <<= 1)\n"
            "        w += __shfl_xor_sync(0xffffffffu, w, o);\n"
            "    unsigned b = __ballot_sync(0xffffffffu, t % 3 == 0);\n"
            "    out[t] = t % 32 ? 0 : v;\n"
            "    out[64 + t] = w;\n"
            "    out[128 + t] = b;\n"
            "}\n",
            "warp", 1, 64, a, 1, msg, sizeof msg);
    assert_string_equal(msg, "");
    for (unsigned t = 0; t < 64; t++) {
        unsigned base = t / 32 * 32, sum = 32 * base + 496, ballot = 0;
        for (unsigned l = 0; l < 32; l++)
            ballot |= (unsigned)((base + l) % 3 == 0) << l;
        assert_int_equal(out[t], t % 32 ? 0 : sum);
        assert_int_equal(out[64 + t], sum);
        assert_int_equal(out[128 + t], ballot);
    }
    drv_close(&d);
    drv_open(&d, "forward");
    drv_run(&d,
            "extern \"C\" __global__ void part(unsigned *out)\n"
            "{\n"
            "    unsigned v = threadIdx.x;\n"
            "    if (threadIdx.x % 32 < 16)\n"
            "        v = __shfl_down_sync(0xffffffffu, v, 1);\n"
            "    out[threadIdx.x] = v;\n"
            "}\n",
            "part", 1, 64, a, 1, msg, sizeof msg);
    assert_string_equal(msg, "part: __shfl_down_sync at einc.cu:5 in block (0,0,0), warp 0: lane 16 of the "
                             "mask 0xffffffff returned");
    drv_close(&d);
}

static void emu_shared_bounds(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    drv d;
    drv_open(&d, "forward");
    float out[256];
    void *a[1] = { out };
    char msg[512];
    drv_run(&d,
            "extern \"C\" __global__ void over(float *out)\n"
            "{\n"
            "    __shared__ float s[256];\n"
            "    s[threadIdx.x + 1] = 1.0f;\n"
            "    __syncthreads();\n"
            "    out[threadIdx.x] = s[threadIdx.x];\n"
            "}\n",
            "over", 1, 256, a, 1, msg, sizeof msg);
    /* the column and the type's spelling are the compiler's */
    if (strncmp(msg, "over: einc.cu:4:", 16) != 0 ||
        !strstr(msg, " in block (0,0,0) thread (255,0,0): index 256 is out of bounds for type 'float"))
        fail_msg("%s", msg);
    /* poisoned: what no thread wrote reads as NaN */
    drv_run(&d,
            "extern \"C\" __global__ void unset(float *out)\n"
            "{\n"
            "    __shared__ float s[256];\n"
            "    if (threadIdx.x % 2)\n"
            "        s[threadIdx.x] = 2.0f;\n"
            "    __syncthreads();\n"
            "    out[threadIdx.x] = s[threadIdx.x];\n"
            "}\n",
            "unset", 3, 256, a, 1, msg, sizeof msg);
    assert_string_equal(msg, "");
    for (int t = 0; t < 256; t++)
        if (t % 2 ? out[t] != 2.0f : !isnan(out[t]))
            fail_msg("shared memory element %d reads %g", t, out[t]);
    drv_close(&d);
}

static void emu_alignment(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    drv d;
    drv_open(&d, "forward");
    float *in = aligned_alloc(16, 64 * sizeof(float));
    float out[4 * 8];
    for (int i = 0; i < 64; i++)
        in[i] = (float)i;
    void *a[3] = { in, out, (void *)(uintptr_t)0 };
    char msg[512];
    static const char src[] =
        "extern \"C\" __global__ void vec(const float *in, float *out, einc_i64 off)\n"
        "{\n"
        "    float4 v = einc_load_f4(in + off + 4 * threadIdx.x);\n"
        "    einc_store_f4(out + 4 * threadIdx.x, v);\n"
        "}\n";
    char text[512];
    snprintf(text, sizeof text, "typedef long long einc_i64;\n%s", src);
    drv_run(&d, text, "vec", 1, 8, a, 3, msg, sizeof msg);
    assert_string_equal(msg, "");
    for (int i = 0; i < 32; i++)
        assert_true(out[i] == (float)i);
    a[2] = (void *)(uintptr_t)1;
    drv_run(&d, text, "vec", 1, 8, a, 3, msg, sizeof msg);
    char want[160];
    snprintf(want, sizeof want, "vec: a 16-byte load at einc.cu:4 in block (0,0,0) thread (0,0,0): address %p is "
                                "not 16-byte aligned", (void *)(in + 1));
    assert_string_equal(msg, want);
    free(in);
    drv_close(&d);
}

static void emu_compile_error(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    drv d;
    drv_open(&d, "forward");
    char msg[512];
    drv_run(&d, "extern \"C\" __global__ void bad(float *out)\n{\n    out[0] = nope;\n}\n", "bad", 1, 1, NULL,
            0, msg, sizeof msg);
    if (!strstr(msg, "cannot compile the kernels for the emulator: einc.cu:3:") || !strstr(msg, "nope"))
        fail_msg("%s", msg);
    drv_close(&d);
    /* the order is checked when the emulator opens */
    setenv("EINC_CUDA_EMU_ORDER", "backwards", 1);
    char why[256];
    cuda_emu *e = NULL;
    assert_int_equal(cuda_emu_open(&e, why, sizeof why), -1);
    assert_null(e);
    assert_string_equal(why, "EINC_CUDA_EMU_ORDER is forward, reverse, random or random:SEED, not 'backwards'");
    unsetenv("EINC_CUDA_EMU_ORDER");
}

/* Without a C++ compiler the CUDA target says what is missing. */
static void emu_no_compiler(void **state)
{
    (void)state;
    const char *old = getenv("CXX");
    char *keep = old ? strdup(old) : NULL;
    setenv("CXX", "/nonexistent/c++", 1);
    einc_ctx *x = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile(x, "ij->j", &(einc_options){ .target = EINC_TARGET_CUDA }, &k, &err), EINC_OK);
    float in[6] = { 1, 2, 3, 4, 5, 6 }, out[3];
    int64_t sh[2] = { 2, 3 };
    einc_tensor ti = { EINC_F32, 2, sh, NULL, in }, to = { EINC_F32, 1, sh + 1, NULL, out };
    assert_int_equal(einc_kernel_run(k, 1, &ti, &to, &err), EINC_ERR_UNSUPPORTED);
    assert_string_equal(err.message, "EINC_CUDA_EMU=1 needs a C++ compiler, and CXX='/nonexistent/c++' does not run");
    einc_kernel_free(k);
    einc_ctx_free(x);
    if (keep)
        setenv("CXX", keep, 1);
    else
        unsetenv("CXX");
    free(keep);
}

/* einc run --target=cuda through the CLI gives the interpreter's printout. */
static void emu_cli(void **state)
{
    (void)state;
    if (!have_cxx || !einc_exe)
        skip();
    static const char *const exprs[] = { "ij->", "ij->j", "ij->ji", "ij,jk->ik" };
    char a[600], b[600], cmd[2000];
    snprintf(a, sizeof a, "%s/a.npy", dir);
    snprintf(b, sizeof b, "%s/b.npy", dir);
    float av[3 * 4], bv[4 * 2];
    for (int i = 0; i < 12; i++)
        av[i] = (float)(i % 5) - 2;
    for (int i = 0; i < 8; i++)
        bv[i] = (float)(i * 3 % 7);
    npy_array at = { EINC_F32, 2, { 3, 4 }, av, sizeof av }, bt = { EINC_F32, 2, { 4, 2 }, bv, sizeof bv };
    char err[256];
    assert_int_equal(npy_write(a, &at, err, sizeof err), 0);
    assert_int_equal(npy_write(b, &bt, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        const char *files = strchr(exprs[i], ',') ? "b" : "";
        char out[2][4096];     /* standard output only: a sanitizer's notes go to the log */
        for (int t = 0; t < 2; t++) {
            snprintf(cmd, sizeof cmd, "%s'%s' run --target=%s '%s' '%s' %s%s%s",
                     t ? "EINC_CUDA_EMU=1 " : "", einc_exe, t ? "cuda" : "interp", exprs[i], a, *files ? "'" : "",
                     *files ? b : "", *files ? "'" : "");
            FILE *f = popen(cmd, "r");
            assert_non_null(f);
            size_t n = fread(out[t], 1, sizeof out[t] - 1, f);
            out[t][n] = 0;
            assert_int_equal(pclose(f), 0);
        }
        if (strcmp(out[0], out[1]) != 0)
            fail_msg("%s: --target=cuda under the emulator prints\n%s\nthe interpreter\n%s", exprs[i], out[1], out[0]);
    }
}

int main(int argc, char **argv)
{
    einc_exe = argc > 1 ? argv[1] : NULL;
    setenv("EINC_CUDA_EMU", "1", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx)
        fprintf(stderr, "test_emu: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
    snprintf(dir, sizeof dir, "/tmp/einc-emu-test-XXXXXX");
    if (!mkdtemp(dir) || !(gpu[0] = cuda_new()) || !(gpu[1] = cuda_new()))
        return 1;
    /* each backend reads the order when it first runs (one run, then the other) */
    einc_error err = { 0 };
    arena A = { 0 };
    cc c = { .A = &A, .src = "", .err = &err };
    setenv("EINC_CUDA_EMU_ORDER", "reverse", 1);
    cuda_ready(gpu[1], &c);
    unsetenv("EINC_CUDA_EMU_ORDER");
    arena_free(&A);
    enum { NSELF = 8 };
    struct CMUnitTest tests[NCASE + NSELF];
    char names[NCASE][96];
    for (int i = 0; i < NCASE; i++) {
        snprintf(names[i], sizeof names[i], "emu ops: %s", cases[i].name);
        tests[i] = (struct CMUnitTest){ names[i], emu_case, NULL, NULL, (void *)(intptr_t)i };
    }
    const struct CMUnitTest self[NSELF] = {
        cmocka_unit_test(emu_missing_barrier), cmocka_unit_test(emu_partial_barrier),
        cmocka_unit_test(emu_warp), cmocka_unit_test(emu_shared_bounds), cmocka_unit_test(emu_alignment),
        cmocka_unit_test(emu_compile_error), cmocka_unit_test(emu_no_compiler), cmocka_unit_test(emu_cli),
    };
    memcpy(tests + NCASE, self, sizeof self);
    int rc = _cmocka_run_group_tests("emu ops", tests, NCASE + NSELF, NULL, NULL);
    cuda_free(gpu[0]);
    cuda_free(gpu[1]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}

#endif
