/*
 * timer.h — the timing loop einc-hit (hit.c) and einc-busy (busy.c) share: calls of a
 * function timed in batches on the monotonic clock (and the thread's CPU clock when asked),
 * after a warm-up, and the median of the figures.
 */
#ifndef EINC_BENCH_TIMER_H
#define EINC_BENCH_TIMER_H

#include <stdlib.h>
#include <time.h>

static inline double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of t[0..n) (sorted in place, so t[0] is then the least). */
static inline double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/*
 * f(arg) warm times, then nb batches of batch calls: wall[j] gets batch j's seconds per
 * call, and cpu[j] (unless cpu is NULL) the thread's CPU seconds per call.  Returns the
 * wall-clock seconds of all the batches together.
 */
static inline double time_calls(void (*f)(void *), void *arg, int warm, int nb, int batch,
                                double *wall, double *cpu)
{
    for (int i = 0; i < warm; i++)
        f(arg);
    double t0 = clock_s(CLOCK_MONOTONIC);
    for (int j = 0; j < nb; j++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = cpu ? clock_s(CLOCK_THREAD_CPUTIME_ID) : 0;
        for (int i = 0; i < batch; i++)
            f(arg);
        if (cpu)
            cpu[j] = (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) / batch;
        wall[j] = (clock_s(CLOCK_MONOTONIC) - w0) / batch;
    }
    return clock_s(CLOCK_MONOTONIC) - t0;
}

#endif
