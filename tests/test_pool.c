/*
 * test_pool.c — the thread pool (runtime/pool.c) on its own.
 *
 *   - every index of [0, n) runs exactly once, in chunks inside [0, n), for sizes around
 *     the chunk boundaries, 1 to 8 threads and each wait policy, many regions in a row
 *     (workers spinning between them, and asleep under EINC_WAIT_POLICY=passive);
 *   - four callers share one pool at once (CI runs this file under ThreadSanitizer too);
 *   - a worker that cannot run (stuck in a signal handler, as if a neighbour held its
 *     core) leaves its share to the caller, which does not wait for it;
 *   - a grain whose product with n overflows is taken as large work.
 */
#define _POSIX_C_SOURCE 200809L
#include "../runtime/pool.c"    /* white box: the stalled-worker test looks at the pool's mutex */
#include "cpu.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

enum { MAXN = 5000 };

typedef struct cover {
    int64_t n;
    _Atomic int count[MAXN];
    _Atomic int bad;            /* chunks outside [0, n) or empty */
    _Atomic int calls;
} cover;

static void count_fn(void *arg, int64_t lo, int64_t hi)
{
    cover *c = arg;
    atomic_fetch_add(&c->calls, 1);
    if (lo < 0 || hi > c->n || lo >= hi) {
        atomic_fetch_add(&c->bad, 1);
        return;
    }
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&c->count[i], 1);
}

/* pool_for over [0, n) on c, then every index counted once and no chunk out of range. */
static void check_once(pool *p, cover *c, int64_t n, int64_t grain)
{
    c->n = n;
    for (int64_t i = 0; i < n; i++)
        atomic_store(&c->count[i], 0);
    atomic_store(&c->bad, 0);
    atomic_store(&c->calls, 0);
    pool_for(p, n, grain, count_fn, c);
    assert_int_equal(atomic_load(&c->bad), 0);
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&c->count[i]) != 1)
            fail_msg("n = %lld, %d threads: index %lld ran %d times", (long long)n, pool_threads(p),
                     (long long)i, atomic_load(&c->count[i]));
    assert_true(atomic_load(&c->calls) >= (n > 0));
}

static const int64_t sizes[] = { 0, 1, 2, 3, 7, 63, 64, 65, 127, 128, 129, 255, 256, 511, 512, 513, 1000, 4097 };

static void test_cover(void **state)
{
    (void)state;
    static const char *const policy[] = { NULL, "passive", "active" };
    static const int threads[] = { 1, 2, 3, 8 };
    cover *c = calloc(1, sizeof *c);
    assert_non_null(c);
    for (size_t pi = 0; pi < sizeof policy / sizeof *policy; pi++) {
        if (policy[pi])
            setenv("EINC_WAIT_POLICY", policy[pi], 1);
        else
            unsetenv("EINC_WAIT_POLICY");
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
            pool *p = pool_new(threads[t]);
            assert_non_null(p);
            assert_int_equal(pool_threads(p), threads[t]);
            for (int rep = 0; rep < 5; rep++)
                for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                    check_once(p, c, sizes[s], 1 << 20);     /* large work: parallel */
                    check_once(p, c, sizes[s], 1);           /* little: on the caller */
                }
            pool_free(p);
        }
    }
    unsetenv("EINC_WAIT_POLICY");
    free(c);
}

typedef struct caller {
    pool *p;
    int ok;
} caller;

static void *caller_main(void *v)
{
    caller *k = v;
    cover *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    k->ok = 1;
    for (int rep = 0; rep < 40 && k->ok; rep++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes && k->ok; s++) {
            int64_t n = sizes[s];
            c->n = n;
            for (int64_t i = 0; i < n; i++)
                atomic_store(&c->count[i], 0);
            pool_for(k->p, n, 1 << 20, count_fn, c);
            for (int64_t i = 0; i < n; i++)
                if (atomic_load(&c->count[i]) != 1)
                    k->ok = 0;
            if (atomic_load(&c->bad))
                k->ok = 0;
        }
    free(c);
    return NULL;
}

static void test_callers(void **state)
{
    (void)state;
    pool *p = pool_new(3);
    assert_non_null(p);
    pthread_t t[4];
    caller k[4];
    for (int i = 0; i < 4; i++) {
        k[i] = (caller){ p, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, caller_main, &k[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(k[i].ok, 1);
    }
    pool_free(p);
}

/* Which threads ran the chunks of a region, and how many rows each. */
typedef struct who {
    pthread_t caller;
    cover c;
    _Atomic int worker_chunks;
    _Atomic int64_t caller_rows;
    _Atomic int worker_seen;    /* a worker ran a chunk: its id is in worker */
    _Atomic int slow_caller;    /* the caller dawdles over its chunks, so a worker gets one */
    pthread_t worker;
} who;

static void sleep_ms(int ms);

static void who_fn(void *arg, int64_t lo, int64_t hi)
{
    who *w = arg;
    if (pthread_equal(pthread_self(), w->caller)) {
        atomic_fetch_add(&w->caller_rows, hi - lo);
        if (atomic_load(&w->slow_caller) && !atomic_load(&w->worker_seen))
            sleep_ms(1);
    } else {
        atomic_fetch_add(&w->worker_chunks, 1);
        if (!atomic_exchange(&w->worker_seen, 1))
            w->worker = pthread_self();
    }
    count_fn(&w->c, lo, hi);
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

static _Atomic int stalled, released, stall_over;

/* A worker held off its core, as a busy neighbour does: stuck in a signal handler (5 s at
   most, so that a pool that waits for it fails rather than hangs). */
static void stall_handler(int sig)
{
    (void)sig;
    atomic_store(&stalled, 1);
    for (int i = 0; i < 5000 && !atomic_load(&released); i++)
        sleep_ms(1);
    atomic_store(&stall_over, 1);
}

static void release_worker(void)
{
    atomic_store(&released, 1);
    while (!atomic_load(&stall_over))
        sleep_ms(1);
}

/*
 * A worker that cannot run leaves its share to the caller, which returns without waiting
 * for it (a split into one share per thread waited for the worker's half).  Under the
 * active policy, which never runs a region on the caller alone by choice.
 */
static void test_stalled_worker(void **state)
{
    (void)state;
    setenv("EINC_WAIT_POLICY", "active", 1);
    pool *p = pool_new(2);
    unsetenv("EINC_WAIT_POLICY");
    assert_non_null(p);
    who *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->caller = pthread_self();
    int64_t n = 1000;
    w->c.n = n;
    /* find the worker: it takes a chunk of some region (5 s at most); the caller slows
       down meanwhile, or on a busy machine it could take every chunk before a worker
       is scheduled */
    atomic_store(&w->slow_caller, 1);
    for (int i = 0; i < 5000 && !atomic_load(&w->worker_seen); i++) {
        pool_for(p, n, 1 << 20, who_fn, w);
        sleep_ms(1);
    }
    atomic_store(&w->slow_caller, 0);
    assert_int_equal(atomic_load(&w->worker_seen), 1);
    struct sigaction sa = { .sa_handler = stall_handler }, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    /* a worker stuck while it holds the pool's mutex (on its way to sleep) would hold up
       the wake-up too, which no pool can avoid: stall it elsewhere */
    bool clear = false;
    for (int attempt = 0; attempt < 50 && !clear; attempt++) {
        atomic_store(&stalled, 0);
        atomic_store(&released, 0);
        atomic_store(&stall_over, 0);
        assert_int_equal(pthread_kill(w->worker, SIGUSR1), 0);
        for (int i = 0; i < 5000 && !atomic_load(&stalled); i++)
            sleep_ms(1);
        assert_int_equal(atomic_load(&stalled), 1);
        clear = pthread_mutex_trylock(&p->mu) == 0;
        if (clear)
            pthread_mutex_unlock(&p->mu);
        else
            release_worker();
    }
    assert_true(clear);
    atomic_store(&w->worker_chunks, 0);
    atomic_store(&w->caller_rows, 0);
    for (int64_t i = 0; i < n; i++)
        atomic_store(&w->c.count[i], 0);
    pool_for(p, n, 1 << 20, who_fn, w);
    assert_int_equal(atomic_load(&stall_over), 0);
    assert_int_equal(atomic_load(&w->worker_chunks), 0);
    assert_int_equal(atomic_load(&w->caller_rows), n);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&w->c.count[i]), 1);
    release_worker();
    sigaction(SIGUSR1, &old, NULL);
    pool_free(p);
    free(w);
}

static void test_grain_overflow(void **state)
{
    (void)state;
    pool *p = pool_new(2);
    assert_non_null(p);
    cover *c = calloc(1, sizeof *c);
    assert_non_null(c);
    check_once(p, c, 3, INT64_MAX);
    check_once(p, c, 4097, INT64_MAX / 2);
    check_once(p, c, 2, -5);
    pool_free(p);
    free(c);
}

/*
 * A nest's grain counts only the axes its own loops run over: a model's program has many
 * nests on fresh axes, whose product (once the grain) overflowed, so no region was small.
 * Here axis 5 (another nest's) is huge; the nest is
 *   LOOP 1 parallel { LOOP 2 tile 8 { LOOP 2 blocked { GEMM m 0 n 3 k 4 k2 -1 } } }.
 */
static void test_nest_grain(void **state)
{
    (void)state;
    lp_node gemm = { .op = LP_GEMM, .m = 0, .nn = 3, .k = 4, .k2 = -1 };
    lp_node *gb[] = { &gemm };
    lp_node blk = { .op = LP_LOOP, .axis = 2, .blocked = true, .n = 1, .body = gb };
    lp_node *bb[] = { &blk };
    lp_node tile = { .op = LP_LOOP, .axis = 2, .tile = 8, .n = 1, .body = bb };
    lp_node *tb[] = { &tile };
    lp_node root = { .op = LP_LOOP, .axis = 1, .parallel = true, .n = 1, .body = tb };
    int64_t sizes[] = { 3, 10, 4, 5, 2, INT64_MAX / 2 };
    int axes[6];
    int n = cpu_nest_axes(&root, 6, axes);
    assert_int_equal(n, 5);
    for (int i = 0; i < n; i++)
        assert_int_equal(axes[i], i);
    assert_int_equal(cpu_nest_grain(axes, n, 1, sizes), 3 * 4 * 5 * 2);
    /* sizes 0 and 1 count as 1; a product past INT64_MAX saturates */
    sizes[0] = 0;
    sizes[2] = 1;
    assert_int_equal(cpu_nest_grain(axes, n, 1, sizes), 5 * 2);
    sizes[3] = INT64_MAX / 3;
    sizes[4] = 4;
    assert_true(cpu_nest_grain(axes, n, 1, sizes) == INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_cover),
        cmocka_unit_test(test_callers),
        cmocka_unit_test(test_stalled_worker),
        cmocka_unit_test(test_grain_overflow),
        cmocka_unit_test(test_nest_grain),
    };
    return cmocka_run_group_tests_name("pool", all, NULL, NULL);
}
