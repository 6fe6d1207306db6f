/*
 * test_cuda_rt.c — the CUDA runtime's compile, cache and timing paths without a GPU
 * (runtime/cuda.c, runtime/nvrtc.c; docs/ARCHITECTURE.md, "The CUDA runtime"):
 *   - NVRTC (when the toolkit's libnvrtc is there): a cubin for sm_90, the architecture
 *     chosen for a device NVRTC knows, one it does not know and one older than it knows,
 *     and a compile error's exact text with NVRTC's log;
 *   - the on-disk cache under the emulator (EINC_CUDA_EMU=1), whose module images are the
 *     kernels' CUDA C: a second context loads the module from the disk; a damaged,
 *     truncated or foreign entry, or one that reads back whole but does not load, gives
 *     the right answer and is replaced by the real image; EINC_CACHE=0 writes nothing;
 *   - the probe behind `einc bench --target=cuda`: launches, resources, event times;
 *   - `einc bench --target=cuda` through the CLI;
 *   - the driver's symbols: every entry point cuda.c loads, from the toolkit's stub libcuda.
 * The emulator parts skip without a C++ compiler.  Answers are compared exactly with the
 * interpreter: the data are small integers, so every sum is exact in float.
 */
#define _GNU_SOURCE     /* mkdtemp, setenv */
#include "einc.h"
#include "cuda.h"
#include "kcache.h"
#include "nvrtc.h"
#include "helpers.h"

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char tmp[256];
static const char *einc_exe, *src_dir;
static bool have_cxx;

/* ---- NVRTC ------------------------------------------------------------------------------ */

static const char *good = "extern \"C\" __global__ void f(float *x) { x[threadIdx.x] *= 2.0f; }\n";

static void nvrtc_cubin(void **state)
{
    (void)state;
    if (!th_have_nvrtc())
        skip();
    nvrtc_lib L;
    char err[1024], arch[32];
    assert_int_equal(nvrtc_open(&L, err, sizeof err), 0);
    assert_int_equal(nvrtc_pick_arch(&L, 9, 0, arch, sizeof arch), 1);
    assert_string_equal(arch, "sm_90");
    nvrtc_image img;
    assert_int_equal(nvrtc_build(&L, good, "good.cu", arch, &img, err, sizeof err), 0);
    assert_int_equal(img.cubin, 1);
    assert_true(img.len > 4);
    assert_memory_equal(img.data, "\x7f" "ELF", 4);     /* a cubin is an ELF image */
    free(img.data);
    /* PTX for compute_XY: text, its length counting the NUL */
    assert_int_equal(nvrtc_build(&L, good, "good.cu", "compute_90", &img, err, sizeof err), 0);
    assert_int_equal(img.cubin, 0);
    assert_int_equal(img.len, strlen(img.data) + 1);
    assert_non_null(strstr(img.data, ".target sm_90"));
    free(img.data);
    nvrtc_close(&L);
}

/* A device newer than every architecture NVRTC knows gets PTX for the newest one below it. */
static void nvrtc_newer_device(void **state)
{
    (void)state;
    if (!th_have_nvrtc())
        skip();
    nvrtc_lib L;
    char err[1024], arch[32], want[32];
    assert_int_equal(nvrtc_open(&L, err, sizeof err), 0);
    int n = 0, list[256];
    assert_int_equal(L.narchs(&n), 0);
    assert_true(n > 0 && n <= 256);
    assert_int_equal(L.archs(list), 0);
    int best = 0;
    for (int i = 0; i < n; i++)
        best = list[i] > best ? list[i] : best;
    snprintf(want, sizeof want, "compute_%d", best);
    assert_int_equal(nvrtc_pick_arch(&L, 99, 9, arch, sizeof arch), 0);
    assert_string_equal(arch, want);
    nvrtc_image img;
    assert_int_equal(nvrtc_build(&L, good, "good.cu", arch, &img, err, sizeof err), 0);
    assert_int_equal(img.cubin, 0);
    free(img.data);
    /* older than all it knows: the device's own name, which NVRTC then refuses */
    assert_int_equal(nvrtc_pick_arch(&L, 1, 0, arch, sizeof arch), 0);
    assert_string_equal(arch, "compute_10");
    assert_int_equal(nvrtc_build(&L, good, "good.cu", arch, &img, err, sizeof err), -1);
    assert_null(img.data);
    assert_string_equal(err, "NVRTC could not compile good.cu for compute_10: NVRTC_ERROR_INVALID_OPTION: "
                             "nvrtc: error: invalid value for --gpu-architecture (-arch)");
    nvrtc_close(&L);
}

/* A compile error: NVRTC's log, on one line, in the message. */
static void nvrtc_error_text(void **state)
{
    (void)state;
    if (!th_have_nvrtc())
        skip();
    nvrtc_lib L;
    char err[1024];
    assert_int_equal(nvrtc_open(&L, err, sizeof err), 0);
    const char *bad = "extern \"C\" __global__ void f(float *x) { x[0] = undeclared; }\n";
    nvrtc_image img = { (char *)1, 7, 0 };
    assert_int_equal(nvrtc_build(&L, bad, "bad.cu", "sm_90", &img, err, sizeof err), -1);
    assert_null(img.data);
    assert_int_equal(img.len, 0);
    /* the log's lines: the error, the source line and a caret under the name (the
       source's column + 2), the count */
    char want[1024];
    snprintf(want, sizeof want, "NVRTC could not compile bad.cu for sm_90: NVRTC_ERROR_COMPILATION: "
             "bad.cu(1): error: identifier \"undeclared\" is undefined;   %.*s; %*s^; "
             "1 error detected in the compilation of \"bad.cu\".", (int)strlen(bad) - 1, bad,
             (int)(strstr(bad, "undeclared") - bad) + 2, "");
    assert_string_equal(err, want);
    nvrtc_close(&L);
}

/* ---- the disk cache under the emulator ------------------------------------------------- */

enum { NI = 37, NJ = 29 };

/* 'ij->i' on CUDA (emulated) in a new context on cache directory dir (NULL: the
   environment's); the answer checked against the interpreter; the probe's facts into *pr. */
static void run_ij_i(const char *dir, cuda_probe *pr)
{
    einc_ctx_options co = { .disk_cache = dir ? 1 : 0, .cache_dir = dir };
    einc_ctx *ctx = einc_ctx_new_with(&co);
    assert_non_null(ctx);
    einc_kernel *kg = NULL, *ki = NULL;
    einc_error e;
    einc_options og = { .target = EINC_TARGET_CUDA }, oi = { .target = EINC_TARGET_INTERP };
    assert_int_equal(einc_compile(ctx, "ij->i", &og, &kg, &e), 0);
    assert_int_equal(einc_compile(ctx, "ij->i", &oi, &ki, &e), 0);
    static float x[NI * NJ], want[NI], got[NI];
    for (int i = 0; i < NI * NJ; i++)
        x[i] = (float)(i * 7 % 11) - 5;
    int64_t s[2] = { NI, NJ }, os[1] = { NI };
    einc_tensor in = { EINC_F32, 2, s, NULL, x }, wo = { EINC_F32, 1, os, NULL, want },
                go = { EINC_F32, 1, os, NULL, got };
    memset(got, 0x7f, sizeof got);
    assert_int_equal(einc_kernel_run(ki, 1, &in, &wo, &e), 0);
    cuda_probe_next(pr);
    if (einc_kernel_run(kg, 1, &in, &go, &e))
        fail_msg("%s", e.message);
    cuda_probe_next(NULL);
    assert_memory_equal(got, want, sizeof got);
    einc_kernel_free(kg);
    einc_kernel_free(ki);
    einc_ctx_free(ctx);
}

/* The one entry in dir (its path into path); fails unless there is exactly one. */
static void only_entry(const char *dir, char *path, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strstr(de->d_name, ".einck") && !strstr(de->d_name, ".tmp")) {
            snprintf(path, n, "%s/%s", dir, de->d_name);
            count++;
        }
    closedir(d);
    assert_int_equal(count, 1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    s[n] = 0;
    *len = (size_t)n;
    return s;
}

/* kcache.c's entry layout: a 32-byte header (magic, key and payload lengths, checksum), the
   full key (einc's build on its first line, then runtime/cuda.c's key), the payload. */
enum { HDR = 32 };

static void cache_setup(char *dir, size_t n)
{
    snprintf(dir, n, "%s/kc-XXXXXX", tmp);
    assert_non_null(mkdtemp(dir));
}

static void disk_hit(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    char dir[300], path[600];
    cache_setup(dir, sizeof dir);
    cuda_probe pr = { 0 };
    run_ij_i(dir, &pr);
    assert_true(pr.filled);
    assert_false(pr.from_disk);
    only_entry(dir, path, sizeof path);
    size_t len;
    char *entry = slurp(path, &len);
    /* runtime/cuda.c's key for the emulator, after the build's line: its kind, then the source */
    const char *key = strchr(entry + HDR, '\n');
    assert_non_null(key);
    assert_memory_equal(key + 1, "cuda-emu\n", 9);
    assert_non_null(strstr(key, "__global__"));
    run_ij_i(dir, &pr);
    assert_true(pr.from_disk);
    assert_true(pr.compile_ms == 0);        /* nothing was compiled */
    free(entry);
    th_rm_rf(dir);
}

/* Damage of each kind: the right answer from a fresh compile, and the entry whole again. */
static void disk_damage(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    char dir[300], path[600];
    cache_setup(dir, sizeof dir);
    cuda_probe pr = { 0 };
    run_ij_i(dir, &pr);
    only_entry(dir, path, sizeof path);
    size_t len;
    char *good_entry = slurp(path, &len);
    uint64_t klen;
    memcpy(&klen, good_entry + 8, sizeof klen);
    const char *full = good_entry + HDR;
    char *key = strndup(strchr(full, '\n') + 1, (size_t)klen - (size_t)(strchr(full, '\n') + 1 - full));
    assert_non_null(key);
    kcache_opts ko = { 1, dir, 0 };
    kcache *kc = kcache_new(&ko);
    assert_non_null(kc);
    for (int kind = 0; kind < 5; kind++) {
        char *bad = malloc(len);
        memcpy(bad, good_entry, len);
        switch (kind) {
        case 0: bad[len - 10] ^= 0x20; th_write_file(path, bad, len); break;   /* checksum */
        case 1: th_write_file(path, bad, len / 2); break;                      /* truncated */
        case 2: th_write_file(path, "garbage", 7); break;                      /* foreign */
        case 3: kcache_put(kc, key, "int x;", 6); break;                      /* text without its NUL */
        case 4: kcache_put(kc, key, "not C++ at all", 15); break;             /* whole, but does not load */
        }
        free(bad);
        run_ij_i(dir, &pr);
        assert_false(pr.from_disk);
        size_t l2;
        char *again = slurp(path, &l2);
        assert_int_equal(l2, len);
        assert_memory_equal(again, good_entry, len);
        free(again);
        run_ij_i(dir, &pr);
        assert_true(pr.from_disk);
    }
    kcache_free(kc);
    free(key);
    free(good_entry);
    th_rm_rf(dir);
}

static void disk_off(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    char dir[300];
    cache_setup(dir, sizeof dir);
    const char *old = getenv("EINC_CACHE_DIR");
    char *keep = old ? strdup(old) : NULL;
    setenv("EINC_CACHE_DIR", dir, 1);
    setenv("EINC_CACHE", "0", 1);
    cuda_probe pr = { 0 };
    run_ij_i(NULL, &pr);
    assert_false(pr.from_disk);
    run_ij_i(NULL, &pr);
    assert_false(pr.from_disk);
    unsetenv("EINC_CACHE");
    if (keep)
        setenv("EINC_CACHE_DIR", keep, 1);
    else
        unsetenv("EINC_CACHE_DIR");
    free(keep);
    assert_int_equal(rmdir(dir), 0);        /* empty: nothing was written */
}

/* ---- the probe (einc bench's device-side timing) ---------------------------------------- */

static void probe_timed(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    cuda_probe pr = { .reps = 10 };
    run_ij_i(NULL, &pr);
    assert_true(pr.filled);
    assert_true(pr.emulated);
    assert_string_equal(pr.device, "einc CUDA emulator");
    assert_string_equal(pr.image, "emulated");
    assert_int_equal(pr.driver, 0);
    assert_int_equal(pr.nk, 1);
    const cuda_kernel_info *k = &pr.k[0];
    assert_true(k->grid[0] >= 1 && k->block[0] >= 1);
    assert_int_equal(k->regs, -1);              /* the emulator cannot know them */
    assert_int_equal(k->static_shared, -1);
    assert_true(k->ms > 0 && pr.ms >= k->ms);   /* one kernel: the sequence holds it */
    /* the request is one run's: the next run fills nothing */
    cuda_probe later = { .reps = 3 };
    cuda_probe_next(&later);
    cuda_probe_next(NULL);
    run_ij_i(NULL, NULL);
    assert_false(later.filled);
}

/* ---- the CLI --------------------------------------------------------------------------- */

static char *run_cmd(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(cap, 1);
    for (size_t r; (r = fread(out + n, 1, cap - 1 - n, p)) > 0;)
        n += r;
    *status = pclose(p);
    return out;
}

static void cli_bench(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    char cmd[600];
    int st;
    snprintf(cmd, sizeof cmd, "EINC_CACHE=0 '%s' bench --target=cuda 'ij->i' i=37 j=29 2>&1", einc_exe);
    char *out = run_cmd(cmd, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "ij->i: median of 20 device-resident runs "));
    assert_non_null(strstr(out, " ms (cuEvent; inputs copied once) (first run, with compilation, "));
    assert_non_null(strstr(out, "\n  device: einc CUDA emulator (EINC_CUDA_EMU=1): emulated on the CPU; "
                                "cuEvent times are host clocks, not a GPU's\n  kernel 0: grid "));
    assert_non_null(strstr(out, "- registers, - B shared + 0 B dynamic, - B local: "));
    assert_non_null(strstr(out, "\n  with the copies to and from the device: median of 7 runs "));
    free(out);
    /* the CPU's report is unchanged: no device lines */
    snprintf(cmd, sizeof cmd, "EINC_CACHE=0 '%s' bench --target=interp 'ij->i' i=37 j=29 2>&1", einc_exe);
    out = run_cmd(cmd, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "ij->i: median of 7 runs "));
    assert_null(strstr(out, "device"));
    free(out);
}

/* Every entry point runtime/cuda.c loads is one the driver exports: the toolkit's stub
   libcuda (all of the driver's symbols, every call failing) stands in for libcuda.so.1. */
static void driver_symbols(void **state)
{
    (void)state;
    const char *stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
    if (access(stub, R_OK) != 0)
        skip();
    char dir[300], link[400], cmd[1200];
    snprintf(dir, sizeof dir, "%s/stub-XXXXXX", tmp);
    assert_non_null(mkdtemp(dir));
    snprintf(link, sizeof link, "%s/libcuda.so.1", dir);
    assert_int_equal(symlink(stub, link), 0);
    snprintf(cmd, sizeof cmd, "env -u EINC_CUDA_EMU LD_LIBRARY_PATH='%s' '%s' run --target=cuda 'ij->i' "
             "'%s/../examples/a.npy' 2>&1", dir, einc_exe, src_dir);
    int st;
    char *out = run_cmd(cmd, &st);
    assert_int_not_equal(st, 0);
    assert_string_equal(out, "einc: error: no CUDA device (unknown CUDA error); use --target=cpu\n");
    free(out);
    th_rm_rf(dir);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_cuda_rt EINC TESTS_DIR\n");
        return 2;
    }
    einc_exe = argv[1];
    src_dir = argv[2];
    have_cxx = th_have("c++ --version");
    setenv("EINC_CUDA_EMU", "1", 1);
    unsetenv("EINC_CACHE");
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/einc-cudart-XXXXXX", t && *t && strlen(t) < 200 ? t : "/tmp");
    if (!mkdtemp(tmp))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nvrtc_cubin), cmocka_unit_test(nvrtc_newer_device),
        cmocka_unit_test(nvrtc_error_text), cmocka_unit_test(disk_hit),
        cmocka_unit_test(disk_damage), cmocka_unit_test(disk_off),
        cmocka_unit_test(probe_timed), cmocka_unit_test(cli_bench), cmocka_unit_test(driver_symbols),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_rm_rf(tmp);
    return rc;
}
