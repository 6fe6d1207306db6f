/*
 * test_cache.c — the on-disk kernel cache (runtime/kcache.c, runtime/jit.c) through the C
 * API: a second context loads what the first compiled, without LLVM; damaged, foreign and
 * unreadable entries and impossible directories give the right answer; 8 threads and 8
 * processes at once on an empty cache; the size bound and least-recently-used eviction;
 * the switches; allocation failures on the cache's paths; clearing removes the cache's
 * files and nothing else.  Every test has its own temporary directory, EINC_CACHE_DIR.
 *
 * Answers are checked exactly: the data are small integers, so every sum is exact in
 * float, against the interpreter and, for the attention scores, loops written here.
 */
#define _GNU_SOURCE     /* mkdtemp, pthread barriers */
#include "einc.h"
#include "alloc.h"
#include "kcache.h"
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static char tmp[256], cdir[300];    /* the test's directory; the cache's inside it */
static const char *self_exe;

/* One kernel and its inputs' shapes; the data are made from the shapes. */
typedef struct job {
    const char *expr;
    einc_dtype dt;
    einc_reduce reduce;
    int nin;
    int ndim[2];
    int64_t shape[2][4];
} job;

/* the attention scores of the issue: b=2, h=3, i=5, j=7, d=4 */
static const job attn = { "bhid,bhjd->bhij", EINC_F32, EINC_REDUCE_SUM, 2, { 4, 4 },
                          { { 2, 3, 5, 4 }, { 2, 3, 7, 4 } } };
static const job matmul = { "ik,kj->ij", EINC_F32, EINC_REDUCE_SUM, 2, { 2, 2 },
                            { { 6, 5 }, { 5, 9 } } };

static int64_t elems(int nd, const int64_t *s)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= s[d];
    return n;
}

/* integers in [-5, 5], another pattern per operand */
static double value(int op, int64_t e) { return (double)((e * 7 + 3 + op * 5) % 11) - 5; }

/* The independent reference for attn: out[b,h,i,j] = sum_d q[b,h,i,d] k[b,h,j,d]. */
static bool attn_matches(const float *out)
{
    for (int b = 0; b < 2; b++)
        for (int h = 0; h < 3; h++)
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 7; j++) {
                    double s = 0;
                    for (int d = 0; d < 4; d++)
                        s += value(0, ((b * 3 + h) * 5 + i) * 4 + d) * value(1, ((b * 3 + h) * 7 + j) * 4 + d);
                    if (out[((b * 3 + h) * 5 + i) * 7 + j] != (float)s)
                        return false;
                }
    return true;
}

/*
 * Runs j in a fresh context (o: its options; NULL: einc_ctx_new) on target t; the result
 * (malloc'ed, *bytes long) or NULL on any error.  *compiles and *hits get the context's
 * counters.  No cmocka calls: threads and child processes use it.
 */
static void *compute(const job *j, const einc_ctx_options *o, einc_target t, size_t *bytes,
                     long *compiles, long *hits)
{
    einc_ctx *ctx = o ? einc_ctx_new_with(o) : einc_ctx_new();
    einc_kernel *k = NULL;
    einc_options opt = { .target = t, .reduce = j->reduce };
    void *in[2] = { NULL, NULL }, *out = NULL;
    einc_tensor ti[2];
    size_t es = j->dt == EINC_F64 ? 8 : 4;
    bool ok = ctx && einc_compile(ctx, j->expr, &opt, &k, NULL) == EINC_OK;
    for (int i = 0; ok && i < j->nin; i++) {
        int64_t n = elems(j->ndim[i], j->shape[i]);
        ok = (in[i] = malloc((size_t)n * es + 1)) != NULL;
        for (int64_t e = 0; ok && e < n; e++)
            if (j->dt == EINC_F64)
                ((double *)in[i])[e] = value(i, e);
            else
                ((float *)in[i])[e] = (float)value(i, e);
        ti[i] = (einc_tensor){ j->dt, j->ndim[i], j->shape[i], NULL, in[i] };
    }
    einc_dtype odt = EINC_F32;
    int ond = 0;
    int64_t os[EINC_MAX_RANK];
    ok = ok && einc_kernel_output(k, j->nin, ti, &odt, &ond, os, NULL) == EINC_OK;
    *bytes = ok ? (size_t)elems(ond, os) * (odt == EINC_F64 ? 8 : 4) : 0;
    ok = ok && (out = calloc(1, *bytes + 1));
    einc_tensor to = { odt, ond, os, NULL, out };
    ok = ok && einc_kernel_run(k, j->nin, ti, &to, NULL) == EINC_OK;
    if (compiles)
        *compiles = einc_ctx_jit_compiles(ctx);
    if (hits)
        *hits = einc_ctx_cache_hits(ctx);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    free(in[0]);
    free(in[1]);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* Whether j on the JIT gives exactly the interpreter's answer (and attn's loops'). */
static bool jit_right(const job *j, const einc_ctx_options *o, long *compiles, long *hits)
{
    size_t n1 = 0, n2 = 0;
    void *got = compute(j, o, EINC_TARGET_CPU, &n1, compiles, hits);
    einc_ctx_options off = { .disk_cache = -1 };
    void *want = compute(j, &off, EINC_TARGET_INTERP, &n2, NULL, NULL);
    bool ok = got && want && n1 == n2 && memcmp(got, want, n1) == 0 &&
              (j != &attn || attn_matches(got));
    free(got);
    free(want);
    return ok;
}

/* Asserts a right answer, and how it was made: compiled (1, 0) or loaded (0, 1). */
static void check(const job *j, const einc_ctx_options *o, long compiles, long hits)
{
    long c = -1, h = -1;
    assert_true(jit_right(j, o, &c, &h));
    assert_int_equal(c, compiles);
    assert_int_equal(h, hits);
}

/* ---- the directory --------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    snprintf(tmp, sizeof tmp, "/tmp/einc-kcache-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    snprintf(cdir, sizeof cdir, "%s/cache", tmp);
    setenv("EINC_CACHE_DIR", cdir, 1);
    unsetenv("EINC_CACHE");
    unsetenv("EINC_CACHE_MAX");
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", tmp, tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* The cache's entries in d: their count; the first's path into first. */
static int entries(const char *d, char *first, size_t n)
{
    DIR *dp = opendir(d);
    int count = 0;
    if (!dp)
        return 0;
    for (struct dirent *e; (e = readdir(dp));) {
        size_t len = strlen(e->d_name);
        if (len > 6 && strcmp(e->d_name + len - 6, ".einck") == 0) {
            if (count++ == 0 && first)
                snprintf(first, n, "%s/%s", d, e->d_name);
        }
    }
    closedir(dp);
    return count;
}

/* Files in d whose names hold ".tmp" (writes in progress). */
static int temps(const char *d)
{
    DIR *dp = opendir(d);
    int count = 0;
    for (struct dirent *e; dp && (e = readdir(dp));)
        count += strstr(e->d_name, ".tmp") != NULL;
    if (dp)
        closedir(dp);
    return count;
}

static size_t slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n, f) : 0;
    if (f)
        fclose(f);
    return got;
}

static void pause_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

/* ---- the tests ------------------------------------------------------------------------- */

static void test_second_context_hits(void **s)
{
    (void)s;
    check(&attn, NULL, 1, 0);
    assert_int_equal(entries(cdir, NULL, 0), 1);
    check(&attn, NULL, 0, 1);                   /* a new context: from disk, no LLVM */
    check(&attn, NULL, 0, 1);
    check(&matmul, NULL, 1, 0);                 /* another program is another entry */
    check(&matmul, NULL, 0, 1);
    assert_int_equal(entries(cdir, NULL, 0), 2);
    assert_int_equal(temps(cdir), 0);
    /* a context's own directory, over EINC_CACHE_DIR */
    char other[320];
    snprintf(other, sizeof other, "%s/other", tmp);
    einc_ctx_options o = { .cache_dir = other };
    check(&attn, &o, 1, 0);
    check(&attn, &o, 0, 1);
    assert_int_equal(entries(other, NULL, 0), 1);
    /* the same program with float64 arrays is another kernel */
    job a64 = attn;
    a64.dt = EINC_F64;
    check(&a64, NULL, 1, 0);
    check(&a64, NULL, 0, 1);
    assert_int_equal(entries(cdir, NULL, 0), 3);
}

/* Each kind of damage to attn's entry: a miss that compiles, then a replaced entry. */
static void test_damaged_entries(void **s)
{
    (void)s;
    enum { GARBAGE, HALF, HEADER_ONLY, EMPTY, PAYLOAD_BYTE, KEY_BYTE, MAGIC, FOREIGN, LONGER,
           DIRECTORY, SYMLINK, NKIND };
    static char good[1 << 20], buf[1 << 20], path[600], mpath[600];
    char mdir[320];
    snprintf(mdir, sizeof mdir, "%s/m", tmp);
    einc_ctx_options mo = { .cache_dir = mdir };
    check(&matmul, &mo, 1, 0);                  /* another kernel's entry, to copy */
    assert_int_equal(entries(mdir, mpath, sizeof mpath), 1);
    size_t mlen = slurp(mpath, buf, sizeof buf);
    assert_true(mlen > 100);
    static char mbytes[1 << 20];
    memcpy(mbytes, buf, mlen);
    for (int kind = 0; kind < NKIND; kind++) {
        assert_int_equal(th_rm_rf(cdir), 0);
        check(&attn, NULL, 1, 0);
        assert_int_equal(entries(cdir, path, sizeof path), 1);
        size_t n = slurp(path, good, sizeof good);
        if (n <= 100 || n >= sizeof good - 64)
            fail_msg("an entry of %zu bytes", n);
        memcpy(buf, good, n);
        switch (kind) {
        case GARBAGE:
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)(i * 131 + 7);
            th_write_file(path, buf, n);
            break;
        case HALF: th_write_file(path, buf, n / 2); break;
        case HEADER_ONLY: th_write_file(path, buf, 32); break;
        case EMPTY: th_write_file(path, buf, 0); break;
        case PAYLOAD_BYTE: buf[n - 1] ^= 1; th_write_file(path, buf, n); break;
        case KEY_BYTE: buf[40] ^= 1; th_write_file(path, buf, n); break;
        case MAGIC: buf[0] = 'E'; th_write_file(path, buf, n); break;
        case FOREIGN: th_write_file(path, mbytes, mlen); break;
        case LONGER: memset(buf + n, 0, 64); th_write_file(path, buf, n + 64); break;
        case DIRECTORY:
            assert_int_equal(unlink(path), 0);
            assert_int_equal(mkdir(path, 0700), 0);
            break;
        case SYMLINK:
            assert_int_equal(unlink(path), 0);
            assert_int_equal(symlink(mpath, path), 0);
            break;
        }
        check(&attn, NULL, 1, 0);
        if (kind == DIRECTORY) {                /* nothing can replace it: still right */
            check(&attn, NULL, 1, 0);
            continue;
        }
        check(&attn, NULL, 0, 1);               /* replaced by a good entry */
        assert_int_equal(entries(cdir, NULL, 0), 1);
        assert_int_equal(temps(cdir), 0);
    }
}

/* Code is loaded only from entries the user owns (root can hand one to another user). */
static void test_foreign_owner(void **s)
{
    (void)s;
    if (geteuid() != 0)
        skip();
    char path[600];
    check(&attn, NULL, 1, 0);
    assert_int_equal(entries(cdir, path, sizeof path), 1);
    assert_int_equal(chown(path, 65534, 65534), 0);
    check(&attn, NULL, 1, 0);
    check(&attn, NULL, 0, 1);                   /* replaced by the user's own */
}

/* Directories that cannot be made or written: right answers, compiled every time. */
static void test_impossible_dirs(void **s)
{
    (void)s;
    static char longdir[PATH_MAX + 300];
    char file[320], below[340], ro[320];
    snprintf(file, sizeof file, "%s/file", tmp);
    snprintf(below, sizeof below, "%s/file/sub", tmp);
    snprintf(ro, sizeof ro, "%s/ro", tmp);
    th_write_file(file, "precious", 8);
    assert_int_equal(mkdir(ro, 0500), 0);
    int n = snprintf(longdir, sizeof longdir, "%s", tmp);
    while (n < PATH_MAX + 100)
        n += snprintf(longdir + n, sizeof longdir - (size_t)n, "/%s", "abcdefghijklmnopqrstuvwxyz");
    const char *dirs[] = { file, below, "/proc/einc-kcache-test", longdir, ro };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        einc_ctx_options o = { .cache_dir = dirs[i] };
        bool root_writes = dirs[i] == ro && geteuid() == 0;     /* root ignores the mode */
        check(&attn, &o, 1, 0);
        check(&attn, &o, root_writes ? 0 : 1, root_writes ? 1 : 0);
        setenv("EINC_CACHE_DIR", dirs[i], 1);  /* the same through the environment */
        check(&matmul, NULL, 1, 0);
    }
    char text[16] = { 0 };
    assert_int_equal(slurp(file, text, sizeof text), 8);
    assert_string_equal(text, "precious");
}

enum { NWORKERS = 8 };

typedef struct worker {
    pthread_barrier_t *go;
    bool ok;
    long compiles, hits;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->go);
    w->ok = jit_right(&attn, NULL, &w->compiles, &w->hits);
    return NULL;
}

static void test_concurrent_threads(void **s)
{
    (void)s;
    pthread_barrier_t go;
    pthread_t t[NWORKERS];
    worker w[NWORKERS];
    pthread_barrier_init(&go, NULL, NWORKERS);
    for (int i = 0; i < NWORKERS; i++) {
        w[i] = (worker){ &go, false, 0, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    long made = 0;
    for (int i = 0; i < NWORKERS; i++) {
        pthread_join(t[i], NULL);
        assert_true(w[i].ok);
        made += w[i].compiles + w[i].hits;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(made, NWORKERS);
    assert_int_equal(entries(cdir, NULL, 0), 1);
    assert_int_equal(temps(cdir), 0);
    check(&attn, NULL, 0, 1);
}

/* 8 processes (this program, "--child") on an empty cache at once. */
static void test_concurrent_processes(void **s)
{
    (void)s;
    pid_t pid[NWORKERS];
    for (int i = 0; i < NWORKERS; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            execl(self_exe, self_exe, "--child", (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < NWORKERS; i++) {
        int st = 0;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(entries(cdir, NULL, 0), 1);
    assert_int_equal(temps(cdir), 0);
    check(&attn, NULL, 0, 1);
}

static int64_t cache_bytes(const char *d)
{
    kcache_opts ko = { .dir = d };
    kcache *kc = kcache_new(&ko);
    int64_t n = 0, b = 0;
    if (kc)
        kcache_stat(kc, &n, &b);
    kcache_free(kc);
    return b;
}

/* The size bound holds after every write, and the least recently used entry goes first. */
static void test_eviction(void **s)
{
    (void)s;
    job a = matmul, b = matmul, c = matmul;
    b.reduce = EINC_REDUCE_MAX;     /* three kernels of about one size */
    c.reduce = EINC_REDUCE_MIN;
    b.expr = c.expr = "i k j -> i j";
    b.nin = c.nin = 1;
    b.ndim[0] = c.ndim[0] = 3;
    memcpy(b.shape[0], (int64_t[]){ 6, 5, 9, 0 }, sizeof b.shape[0]);
    memcpy(c.shape[0], b.shape[0], sizeof c.shape[0]);
    /* their sizes, in a scratch directory */
    char scratch[320];
    snprintf(scratch, sizeof scratch, "%s/scratch", tmp);
    einc_ctx_options so = { .cache_dir = scratch };
    int64_t size[3];
    const job *js[3] = { &a, &b, &c };
    for (int i = 0; i < 3; i++) {
        int64_t before = cache_bytes(scratch);
        check(js[i], &so, 1, 0);
        size[i] = cache_bytes(scratch) - before;
        assert_true(size[i] > 0);
    }
    /* room for two of them, not three: A, B, then A used again, then C evicts B */
    int64_t max = size[0] + size[1] + size[2] - 1;
    assert_true(size[0] + size[2] <= max / 10 * 9);     /* after evicting B, A and C fit */
    einc_ctx_options o = { .cache_max = max };
    check(&a, &o, 1, 0);
    pause_ms(30);
    check(&b, &o, 1, 0);
    pause_ms(30);
    check(&a, &o, 0, 1);
    pause_ms(30);
    check(&c, &o, 1, 0);
    assert_true(cache_bytes(cdir) <= max);
    assert_int_equal(entries(cdir, NULL, 0), 2);
    check(&a, &o, 0, 1);
    check(&c, &o, 0, 1);
    check(&b, &o, 1, 0);                        /* B was the one evicted */
    assert_true(cache_bytes(cdir) <= max);
    /* EINC_CACHE_MAX: a bound smaller than any entry keeps nothing, and runs right */
    setenv("EINC_CACHE_MAX", "1K", 1);
    check(&attn, NULL, 1, 0);
    check(&attn, NULL, 1, 0);
    assert_true(cache_bytes(cdir) <= max);
    unsetenv("EINC_CACHE_MAX");
    /* many kernels through one small cache: the bound holds after each */
    assert_int_equal(th_rm_rf(cdir), 0);
    o.cache_max = size[0] * 3;
    static const einc_reduce ops[] = { EINC_REDUCE_SUM, EINC_REDUCE_MAX, EINC_REDUCE_MIN,
                                       EINC_REDUCE_PROD };
    for (int r = 0; r < 8; r++) {
        job j = b;
        j.reduce = ops[r % 4];
        j.dt = r < 4 ? EINC_F32 : EINC_F64;
        check(&j, &o, 1, 0);
        assert_true(cache_bytes(cdir) <= o.cache_max);
        check(&j, &o, 0, 1);                    /* the newest entry is never the one evicted */
    }
}

static void test_switches(void **s)
{
    (void)s;
    struct stat st;
    einc_ctx_options off = { .disk_cache = -1 }, on = { .disk_cache = 1 };
    check(&attn, &off, 1, 0);
    check(&attn, &off, 1, 0);
    assert_int_equal(stat(cdir, &st), -1);      /* not even created */
    static const char *const offs[] = { "0", "off", "false", "no" };
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        setenv("EINC_CACHE", offs[i], 1);
        check(&attn, NULL, 1, 0);
        assert_int_equal(stat(cdir, &st), -1);
    }
    check(&attn, &on, 1, 0);                    /* the context's option wins */
    check(&attn, &on, 0, 1);
    setenv("EINC_CACHE", "1", 1);
    check(&attn, NULL, 0, 1);
    setenv("EINC_CACHE_MAX", "0", 1);           /* a bound of nothing is off */
    check(&attn, NULL, 1, 0);
    unsetenv("EINC_CACHE_MAX");
    /* XDG_CACHE_HOME, then HOME, when EINC_CACHE_DIR is unset */
    unsetenv("EINC_CACHE_DIR");
    char xdg[320], home[320], want[400];
    snprintf(xdg, sizeof xdg, "%s/xdg", tmp);
    snprintf(home, sizeof home, "%s/home", tmp);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL, *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("HOME", home, 1);
    check(&attn, NULL, 1, 0);
    snprintf(want, sizeof want, "%s/einc", xdg);
    assert_int_equal(entries(want, NULL, 0), 1);
    setenv("XDG_CACHE_HOME", "relative/dir", 1);   /* not absolute: ignored, as XDG says */
    check(&attn, NULL, 1, 0);
    snprintf(want, sizeof want, "%s/.cache/einc", home);
    assert_int_equal(entries(want, NULL, 0), 1);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);    /* made private to the user */
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    kcache *kc = kcache_new(NULL);
    assert_non_null(kc);
    assert_false(kcache_on(kc));                /* nowhere to put it: off, and runs right */
    assert_null(kcache_dir(kc));
    kcache_free(kc);
    check(&attn, NULL, 1, 0);
    if (old_home)
        setenv("HOME", old_home, 1);
    if (old_xdg)
        setenv("XDG_CACHE_HOME", old_xdg, 1);
    free(old_home);
    free(old_xdg);
}

static bool host_has_avx512(void)
{
    static char text[1 << 20];
    size_t n = slurp("/proc/cpuinfo", text, sizeof text - 1);
    text[n] = 0;
    return strstr(text, " avx512f") != NULL;
}

/* EINC_MAX_ISA changes the code, so it changes the key (where it changes the features). */
static void test_isa_in_key(void **s)
{
    (void)s;
    check(&attn, NULL, 1, 0);
    setenv("EINC_MAX_ISA", "avx2", 1);
    bool differs = host_has_avx512();
    check(&attn, NULL, differs ? 1 : 0, differs ? 0 : 1);
    check(&attn, NULL, 0, 1);
    unsetenv("EINC_MAX_ISA");
    check(&attn, NULL, 0, 1);
    assert_int_equal(entries(cdir, NULL, 0), differs ? 2 : 1);
}

/* Each allocation of a run failing in turn, on a cold and on a warm cache: the run fails
   or gives the right answer, and the sanitizer build sees no leak. */
static void test_alloc_failures(void **s)
{
    (void)s;
    for (int warm = 0; warm < 2; warm++) {
        long before = einc_alloc_count();
        assert_true(jit_right(&matmul, NULL, NULL, NULL));
        long total = einc_alloc_count() - before;
        for (long n = 1; n <= total; n++) {
            if (!warm)
                assert_int_equal(th_rm_rf(cdir), 0);
            size_t len;
            einc_alloc_fail_after(n);
            void *got = compute(&matmul, NULL, EINC_TARGET_CPU, &len, NULL, NULL);
            einc_alloc_fail_after(0);
            if (got) {
                einc_ctx_options off = { .disk_cache = -1 };
                size_t wl;
                void *want = compute(&matmul, &off, EINC_TARGET_INTERP, &wl, NULL, NULL);
                assert_non_null(want);
                assert_int_equal(len, wl);
                assert_memory_equal(got, want, len);
                free(want);
            }
            free(got);
        }
    }
}

/* clear (and the stale-file sweep) touch only the cache's own files. */
static void test_clear_keeps_other_files(void **s)
{
    (void)s;
    check(&attn, NULL, 1, 0);
    check(&matmul, NULL, 1, 0);
    static const char *const others[] = { "notes.txt", "0123456789abcdef.einck.bak",
                                          "0123456789abcdef.einc", "0123456789ABCDEF.einck",
                                          "0123456789abcde.einck", "x.einck" };
    char p[600];
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        snprintf(p, sizeof p, "%s/%s", cdir, others[i]);
        th_write_file(p, "keep", 4);
    }
    snprintf(p, sizeof p, "%s/fedcba9876543210.einck", cdir);  /* a directory so named */
    assert_int_equal(mkdir(p, 0700), 0);
    /* an unfinished write: young, kept by eviction's sweep; removed by clear */
    snprintf(p, sizeof p, "%s/0123456789abcdef.einck.tmpAbC123", cdir);
    th_write_file(p, "partial", 7);
    kcache_opts ko = { .dir = cdir };
    kcache *kc = kcache_new(&ko);
    int64_t n, b;
    assert_int_equal(kcache_stat(kc, &n, &b), 0);
    assert_int_equal(n, 2);
    assert_true(b > 200);
    assert_int_equal(kcache_clear(kc, &n, &b), 0);
    assert_int_equal(n, 2);
    assert_int_equal(kcache_stat(kc, &n, &b), 0);
    assert_int_equal(n, 0);
    assert_int_equal(b, 0);
    assert_int_equal(access(p, F_OK), -1);
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        snprintf(p, sizeof p, "%s/%s", cdir, others[i]);
        assert_int_equal(access(p, F_OK), 0);
    }
    snprintf(p, sizeof p, "%s/fedcba9876543210.einck", cdir);
    assert_int_equal(access(p, F_OK), 0);
    /* a temporary file two hours old is a dead writer's: the next write's scan removes it */
    snprintf(p, sizeof p, "%s/0123456789abcdef.einck.tmpZzZ999", cdir);
    th_write_file(p, "partial", 7);
    struct timespec old[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    check(&attn, NULL, 1, 0);
    assert_int_equal(access(p, F_OK), -1);
    kcache_free(kc);
    /* a directory that does not exist: stat says so, clear removes nothing */
    ko.dir = "/nonexistent/einc";
    kc = kcache_new(&ko);
    assert_int_equal(kcache_stat(kc, &n, &b), -1);
    assert_int_equal(errno, ENOENT);
    kcache_free(kc);
}

int main(int argc, char **argv)
{
    static char exe[PATH_MAX];
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return jit_right(&attn, NULL, NULL, NULL) ? 0 : 1;
    if (!realpath(argv[0], exe))
        return 1;
    self_exe = exe;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_context_hits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impossible_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isa_in_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_keeps_other_files, setup, teardown),
    };
    return cmocka_run_group_tests_name("kcache", tests, NULL, NULL);
}
