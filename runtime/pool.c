/*
 * pool.c — see pool.h.  Between regions a worker first spins for a while, watching for
 * the next region, then sleeps on a condition variable; the caller waits for the workers
 * the same way.  Kernels run back to back (a model's layers, a benchmark's runs): a
 * worker that went to sleep after each one had to be woken for the next, and on a virtual
 * machine whose idle CPU the host has descheduled that took longer than a small kernel
 * ('ij->' on 4096^2, two threads: 1.3 ms while the workers were awake, 2.4 ms once they
 * slept between runs).  OpenMP runtimes spin the same way (for 200 ms by default).
 */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"
#include "alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

enum { SPIN_NS = 2000000 };     /* 2 ms */

struct pool {
    int nthreads;               /* including the caller */
    pthread_t *workers;
    pthread_mutex_t region;     /* held by the caller running a parallel region */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    _Atomic uint64_t generation;   /* bumped for each region (under mu) */
    _Atomic int pending;        /* workers still running the current region */
    bool quit;
    pool_fn fn;
    void *arg;
    int64_t n;
};

typedef struct worker_arg {
    pool *p;
    int index;
} worker_arg;

static void chunk(int64_t n, int parts, int i, int64_t *lo, int64_t *hi)
{
    int64_t q = n / parts, r = n % parts;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + q + (i < r);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* No region after generation seen has started yet. */
static bool idle(const pool *p, uint64_t seen)
{
    return atomic_load_explicit(&p->generation, memory_order_acquire) == seen;
}

/* Some worker still runs the current region. */
static bool busy(const pool *p, uint64_t unused)
{
    (void)unused;
    return atomic_load_explicit(&p->pending, memory_order_acquire) > 0;
}

/* Spins while waiting(p, x) holds, for at most SPIN_NS (the clock read every 256 turns). */
static void spin(const pool *p, bool (*waiting)(const pool *, uint64_t), uint64_t x)
{
    int64_t t0 = now_ns();
    for (int i = 1; waiting(p, x); i++) {
        if (i % 256 == 0 && now_ns() - t0 > SPIN_NS)
            return;
        relax();
    }
}

static void *worker(void *v)
{
    worker_arg *w = v;
    pool *p = w->p;
    int index = w->index;
    einc_free(w);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (!p->quit && p->generation == seen) {
            pthread_mutex_unlock(&p->mu);
            spin(p, idle, seen);
            pthread_mutex_lock(&p->mu);
        }
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pool_fn fn = p->fn;
        void *arg = p->arg;
        int64_t lo, hi;
        chunk(p->n, p->nthreads, index, &lo, &hi);
        pthread_mutex_unlock(&p->mu);
        if (lo < hi)
            fn(arg, lo, hi);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

pool *pool_new(int nthreads)
{
    pool *p = einc_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    pthread_mutex_init(&p->region, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->nthreads > 1) {
        p->workers = einc_calloc((size_t)p->nthreads, sizeof *p->workers);
        if (!p->workers) {
            p->nthreads = 1;
            return p;
        }
        for (int i = 1; i < p->nthreads; i++) {
            worker_arg *w = einc_malloc(sizeof *w);
            if (w)
                *w = (worker_arg){ p, i };
            if (!w || pthread_create(&p->workers[i], NULL, worker, w) != 0) {
                einc_free(w);
                p->nthreads = i;    /* run with the threads we have */
                break;
            }
        }
    }
    return p;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nthreads; i++)
        pthread_join(p->workers[i], NULL);
    einc_free(p->workers);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->region);
    einc_free(p);
}

int pool_threads(const pool *p) { return p ? p->nthreads : 1; }

void pool_for(pool *p, int64_t n, int64_t grain, pool_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (!p || p->nthreads == 1 || n < 2 || n * (grain > 0 ? grain : 1) < 4096 ||
        pthread_mutex_trylock(&p->region) != 0) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->pending = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    int64_t lo, hi;
    chunk(n, p->nthreads, 0, &lo, &hi);
    if (lo < hi)
        fn(arg, lo, hi);
    spin(p, busy, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->region);
}
