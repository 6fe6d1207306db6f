/*
 * pool.c — see pool.h.
 *
 * [0, n) is cut into one chunk per thread, as OpenMP's static schedule does, but the
 * chunks are claimed from an atomic counter, the caller's included, and a worker takes
 * part only if it joins before the caller has run out of chunks and closed the region.
 * When each thread owned its chunk, every region waited for every worker: with another
 * process holding one of two cores a worker was often descheduled for a time slice, and
 * a small attention model took 8.6-9.6 ms on two threads against 1.47 ms on one (issue
 * #22).  Now a worker that is not running leaves its chunk to the caller.  (Finer chunks
 * would let the caller take over more of a slow worker's share, but each call of a nest
 * function packs its GEMM panels again: eight chunks instead of two made 'ik,kj->ij'
 * 512^3 1.5-2x and a 64-row linear layer 2.3x slower on one thread.)  The caller still
 * waits for a worker that was preempted in the middle of its chunk, so it also watches
 * whether its regions pay:
 *
 *   - after each region it books the time the workers gained or lost against the caller
 *     alone (its own time per chunk times the number of chunks).  When they have lost
 *     more than they gained (record, below), a solo period follows, in which the caller
 *     runs regions by itself and wakes nobody.  The periods double (from 1 ms to
 *     128 ms) while the workers make no headway between them, and at the end of one the
 *     workers are woken ahead of the regions that try them again.  A busy neighbour thus
 *     costs a few probe regions now and then, and an idle machine, where the workers
 *     keep up, does not run solo;
 *   - between regions a worker spins for up to 2 ms, watching for the next one, then
 *     sleeps on a condition variable.  Kernels run back to back (a model's layers, a
 *     benchmark's runs): a worker that went to sleep after each one had to be woken for
 *     the next, and on a virtual machine whose idle CPU the host has descheduled that
 *     took longer than a small kernel ('ij->' on 4096^2, two threads: 1.3 ms while the
 *     workers were awake, 2.4 ms once they slept).  OpenMP runtimes spin the same way
 *     (LLVM's for 200 ms by default, libgomp's for 300,000 turns).  Workers that slept
 *     whenever they found they had been descheduled (libgomp spins far less when there
 *     are more threads than cores) were asleep for the next region every time some other
 *     process took a slice, and the regions of a small model mostly ended before a woken
 *     worker came: the solo periods already keep workers asleep on a busy machine;
 *   - a caller waiting for a worker spins for a quarter of its own time per chunk, or
 *     until it finds it was descheduled (a gap in the clock), then sleeps, which frees
 *     its core for that worker if the scheduler had left it queued behind a neighbour.
 *
 * EINC_WAIT_POLICY=passive (as OMP_WAIT_POLICY) makes the threads sleep at once instead
 * of spinning; active makes the caller spin as long as the workers (2 ms) and never
 * runs solo.
 *
 * The region's state is one atomic word: the generation (which region), a closed bit and
 * the number of workers inside.  A worker joins with a compare-and-swap that fails once
 * the generation moved on or the region closed, so a late worker never touches a region
 * the caller has returned from, and the caller never rewrites the region's fields while a
 * worker is inside.
 */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"
#include "alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

enum {
    SPIN_NS = 2000000,          /* 2 ms */
    GAP_NS = 200000,            /* a clock jump this long while spinning: we were descheduled */
    WAIT_MIN_NS = 20000,        /* the caller spins at least this long for a worker */
    SOLO_MIN_NS = 1000000,      /* the first solo period after a losing region */
    SOLO_MAX_NS = 128000000,
    WAKE_NS = 2000000,          /* a woken worker that has not come by then finds no core */
    MISS_NS = 1000000,          /* what a region without such workers is taken to cost */
    LOSS_NS = 200000,           /* the net loss that starts a solo period */
    CREDIT_MAX = 10000000,
    PEAK_NS = 2000000,          /* see record */
};

/* The state word: generation << GEN_SHIFT | CLOSED | workers inside. */
#define CLOSED ((uint64_t)1 << 16)
#define INSIDE (CLOSED - 1)
#define GEN_SHIFT 17

typedef enum wait_policy { WAIT_ADAPTIVE, WAIT_PASSIVE, WAIT_ACTIVE } wait_policy;

struct pool {
    int nthreads;               /* including the caller */
    wait_policy policy;
    pthread_t *workers;
    pthread_mutex_t region;     /* held by the caller running a parallel region */
    pthread_mutex_t mu;         /* guards the sleeps on go and done */
    pthread_cond_t go, done;
    _Atomic uint64_t state;
    _Atomic int64_t next;       /* the next chunk to claim */
    _Atomic int sleepers;       /* workers asleep on go (changed under mu) */
    _Atomic int64_t wakeups;    /* how many times a worker woke from go */
    _Atomic bool quit;
    bool caller_waits;          /* the caller sleeps on done (under mu) */
    /* the region's work, written only while no worker is inside */
    pool_fn fn;
    void *arg;
    int64_t n, nchunks;
    /* the caller's record of whether regions pay (under region) */
    int64_t credit;             /* ns gained by the workers since the last solo period */
    int64_t peak;               /* the most it held since then */
    int64_t solo_ns;            /* the last solo period, 0 before the first */
    int64_t solo_until;         /* regions before this time run on the caller alone */
    int64_t woken_at;           /* when sleeping workers were first woken, 0 once awake */
    int64_t woken_seen;         /* wakeups then */
    bool rewake;                /* wake the workers when the solo period ends */
};

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

static uint64_t generation(uint64_t s) { return s >> GEN_SHIFT; }

/* Chunk i of [0, n) cut into p->nchunks nearly equal parts. */
static void chunk(const pool *p, int64_t i, int64_t *lo, int64_t *hi)
{
    int64_t q = p->n / p->nchunks, r = p->n % p->nchunks;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + q + (i < r);
}

/* Runs chunks of the current region until none is left; returns how many it ran. */
static int64_t claim(pool *p)
{
    int64_t ran = 0;
    for (int64_t i; (i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->nchunks; ran++) {
        int64_t lo, hi;
        chunk(p, i, &lo, &hi);
        p->fn(p->arg, lo, hi);
    }
    return ran;
}

/*
 * Spins while waiting(p, x) holds, for at most budget ns, and when polite not a turn
 * longer once the thread finds it was descheduled.  Returns whether the wait is over.
 */
static bool spin(pool *p, bool (*waiting)(pool *, uint64_t), uint64_t x, int64_t budget, bool polite)
{
    if (budget <= 0)
        return !waiting(p, x);
    int64_t t0 = now_ns(), last = t0;
    for (int i = 1; waiting(p, x); i++) {
        if (i % 64 == 0) {
            int64_t t = now_ns();
            if (t - t0 > budget || (polite && t - last > GAP_NS))
                return false;
            last = t;
        }
        relax();
    }
    return true;
}

/* No region after generation seen has opened (and the pool is not closing). */
static bool no_region(pool *p, uint64_t seen)
{
    /* sequentially consistent: a worker going to sleep counts itself in sleepers, then
       looks here, while the caller opens a region, then reads sleepers */
    return !atomic_load_explicit(&p->quit, memory_order_relaxed) &&
           generation(atomic_load(&p->state)) == seen;
}

/* Some worker is still inside the region. */
static bool inside(pool *p, uint64_t unused)
{
    (void)unused;
    return (atomic_load(&p->state) & INSIDE) != 0;
}

/* Joins region gen if it is still open; false when it closed or moved on. */
static bool join(pool *p, uint64_t gen)
{
    uint64_t s = atomic_load(&p->state);
    while (generation(s) == gen && !(s & CLOSED))
        if (atomic_compare_exchange_weak(&p->state, &s, s + 1))
            return true;
    return false;
}

static void leave(pool *p)
{
    uint64_t s = atomic_fetch_sub(&p->state, 1);
    if ((s & INSIDE) == 1 && (s & CLOSED)) {   /* the last one out of a closed region */
        pthread_mutex_lock(&p->mu);
        if (p->caller_waits)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker(void *v)
{
    pool *p = v;
    uint64_t seen = 0;
    for (;;) {
        if (!spin(p, no_region, seen, p->policy == WAIT_PASSIVE ? 0 : SPIN_NS, false)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (no_region(p, seen))
                pthread_cond_wait(&p->go, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            atomic_fetch_add_explicit(&p->wakeups, 1, memory_order_relaxed);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            break;
        seen = generation(atomic_load(&p->state));
        if (join(p, seen)) {
            claim(p);
            leave(p);
        }
    }
    return NULL;
}

static wait_policy policy_from_env(void)
{
    const char *e = getenv("EINC_WAIT_POLICY");
    if (e && strcasecmp(e, "passive") == 0)
        return WAIT_PASSIVE;
    if (e && strcasecmp(e, "active") == 0)
        return WAIT_ACTIVE;
    return WAIT_ADAPTIVE;
}

pool *pool_new(int nthreads)
{
    pool *p = einc_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->nthreads = nthreads < 1 ? 1 : nthreads > 1024 ? 1024 : nthreads;
    p->policy = policy_from_env();
    atomic_init(&p->state, CLOSED);     /* generation 0: no region yet */
    atomic_init(&p->next, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->wakeups, 0);
    atomic_init(&p->quit, false);
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
            if (pthread_create(&p->workers[i], NULL, worker, p) != 0) {
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
    atomic_store(&p->quit, true);
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

/*
 * Books what the region [t0, t1) gained or lost against the caller alone (see the top),
 * and starts a solo period once the account since the last one is LOSS_NS in the red.
 * Gains and losses are weighed, not counted: with another process taking slices of the
 * other core now and then, a worker preempted in its chunk cost 3 ms once in a hundred
 * regions of 200 us, while each of the others gained 160 us.  Workers that had to be
 * woken are late by their wake-up (a millisecond on a virtual machine whose idle CPU
 * the host has descheduled, where a small model's regions last half that) but awake for
 * the regions after, so their losses do not count; workers still asleep WAKE_NS after
 * they were woken find no core, and each region that then runs without them costs
 * MISS_NS.  The account holds at most CREDIT_MAX, so that a machine that turns busy
 * after a good spell is noticed within a few losses.  A solo period that follows
 * regions which never got PEAK_NS ahead is twice as long as the last, up to
 * SOLO_MAX_NS (a neighbour still holds the core); one that follows a good spell starts
 * again from SOLO_MIN_NS, so that an idle machine where another process took a slice
 * now and then goes back to its workers within a millisecond.
 */
static void record(pool *p, int64_t t0, int64_t tmine, int64_t t1, int64_t mine, bool woke)
{
    if (p->policy == WAIT_ACTIVE || mine <= 0)
        return;
    /* alone, the caller would have run nchunks chunks of (tmine - t0) / mine each */
    int64_t gain = (tmine - t0) * p->nchunks / mine - (t1 - t0);
    if (atomic_load(&p->sleepers) == 0)
        p->woken_at = 0;
    else if (mine == p->nchunks && t1 - p->woken_at > WAKE_NS &&
             atomic_load_explicit(&p->wakeups, memory_order_relaxed) == p->woken_seen)
        gain = -MISS_NS;
    else if (woke && gain < 0)
        gain = 0;
    p->credit = p->credit + gain > CREDIT_MAX ? CREDIT_MAX : p->credit + gain;
    if (p->credit > p->peak)
        p->peak = p->credit;
    if (p->credit >= -LOSS_NS)
        return;
    if (p->solo_ns && p->peak < PEAK_NS)
        p->solo_ns = p->solo_ns >= SOLO_MAX_NS / 2 ? SOLO_MAX_NS : 2 * p->solo_ns;
    else
        p->solo_ns = SOLO_MIN_NS;
    p->solo_until = t1 + p->solo_ns;
    p->credit = p->peak = 0;    /* the regions after it start a new account */
    p->rewake = true;
}

/*
 * Opens a region of [0, n) for fn (n = 0: one with nothing to do, which only wakes the
 * workers); returns whether sleeping workers had to be woken.  No worker is inside: the
 * last region closed with none left.
 */
static bool open_region(pool *p, int64_t n, pool_fn fn, void *arg, int64_t now)
{
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->nchunks = n < p->nthreads ? n : p->nthreads;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    uint64_t gen = generation(atomic_load(&p->state)) + 1;
    atomic_store(&p->state, gen << GEN_SHIFT);      /* open, nobody inside */
    bool woke = atomic_load(&p->sleepers) > 0;
    if (woke) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
        int64_t w = atomic_load_explicit(&p->wakeups, memory_order_relaxed);
        if (!p->woken_at || w != p->woken_seen) {   /* none woken yet, or asleep again */
            p->woken_at = now;
            p->woken_seen = w;
        }
    }
    return woke;
}

/* Closes the region and waits for the workers inside, spinning for budget ns first. */
static void close_region(pool *p, int64_t budget)
{
    if (!(atomic_fetch_or(&p->state, CLOSED) & INSIDE))
        return;
    if (p->policy == WAIT_PASSIVE)
        budget = 0;
    else if (p->policy == WAIT_ACTIVE)
        budget = SPIN_NS;
    else if (budget < WAIT_MIN_NS)
        budget = WAIT_MIN_NS;
    if (!spin(p, inside, 0, budget, p->policy != WAIT_ACTIVE)) {
        pthread_mutex_lock(&p->mu);
        p->caller_waits = true;
        while (inside(p, 0))
            pthread_cond_wait(&p->done, &p->mu);
        p->caller_waits = false;
        pthread_mutex_unlock(&p->mu);
    }
}

void pool_for(pool *p, int64_t n, int64_t grain, pool_fn fn, void *arg)
{
    if (n <= 0)
        return;
    int64_t work;
    if (!p || p->nthreads == 1 || n < 2 ||
        (!__builtin_mul_overflow(n, grain > 0 ? grain : 1, &work) && work < 4096) ||
        pthread_mutex_trylock(&p->region) != 0) {
        fn(arg, 0, n);
        return;
    }
    int64_t t0 = now_ns();
    if (t0 < p->solo_until || p->rewake) {
        /*
         * At the end of a solo period the workers are asleep, and regions that had to
         * wake them would mostly end before they came (a millisecond on a virtual
         * machine): wake them now, and this region runs alone once more.
         */
        if (t0 >= p->solo_until) {
            p->rewake = false;
            if (atomic_load(&p->sleepers) > 0) {
                open_region(p, 0, fn, arg, t0);
                close_region(p, 0);
            }
        }
        pthread_mutex_unlock(&p->region);
        fn(arg, 0, n);
        return;
    }
    bool woke = open_region(p, n, fn, arg, t0);
    int64_t mine = claim(p);
    int64_t tmine = now_ns();
    /* a worker may still run a chunk: spin about a quarter of our own time per chunk */
    close_region(p, mine > 0 ? (tmine - t0) / mine / 4 : 0);
    record(p, t0, tmine, now_ns(), mine, woke);
    pthread_mutex_unlock(&p->region);
}
