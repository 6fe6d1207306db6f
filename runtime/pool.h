/*
 * pool.h — the thread pool that runs parallel loops.
 *
 * pool_for cuts [0, n) into one contiguous chunk per thread and runs fn on each, the
 * calling thread and the workers claiming them in turn; it returns when all are done.
 * Which thread runs which chunk, and whether the loop is split at all, changes from call
 * to call (a worker that is not running leaves its chunk to the caller; on a busy machine
 * the caller runs loops alone for a while), so fn's results must not depend on it.
 * grain is the work per index: a loop of little work runs on the caller alone.  One
 * parallel region runs at a time per pool: a caller that finds the pool busy (another API
 * thread is using it) runs its loop alone instead of waiting, so concurrent callers never
 * deadlock or oversubscribe.
 */
#ifndef EINC_POOL_H
#define EINC_POOL_H

#include <stdint.h>

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int64_t lo, int64_t hi);

pool *pool_new(int nthreads);   /* nthreads <= 1: no workers; NULL when out of memory */
void pool_free(pool *p);
int pool_threads(const pool *p);
void pool_for(pool *p, int64_t n, int64_t grain, pool_fn fn, void *arg);

#endif
