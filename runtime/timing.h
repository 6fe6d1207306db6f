/*
 * timing.h — where a compile's time goes, for `einc run|explain --timings` and einc-bench.
 *
 * A caller that wants the phases of the einc calls it makes on this thread points
 * einc_timing at a zeroed record; every phase then adds its nanoseconds there.  With the
 * pointer NULL (always, unless asked) a phase costs one thread-local load, so the cache
 * hit path is not slowed.  Compiling happens on the thread that runs the kernel (under the
 * CPU backend's mutex), so the record sees the whole compile.  Phases are the thread's CPU
 * time, which a machine busy with other processes inflates far less than the wall clock
 * (a parallel run's workers are not counted: its "run" is the caller's share).
 */
#ifndef EINC_TIMING_H
#define EINC_TIMING_H

#include <stdint.h>
#include <time.h>

typedef enum einc_phase {
    PH_PARSE,                   /* einc_compile: parse and the shape-free bind */
    PH_BIND,                    /* bind the arrays' shapes */
    PH_PATH,                    /* contraction path and reduction split */
    PH_LOWER,                   /* lower and schedule (loop IR) */
    PH_JIT_START,               /* creating the LLJIT and its target machine */
    PH_IR,                      /* building the LLVM module (codegen/llvm*.c) */
    PH_OPT,                     /* LLVM's optimiser (verify + passes) */
    PH_MC,                      /* machine code (LLVM's code generator) */
    PH_LINK,                    /* linking the object into the JIT, finding its symbols */
    PH_DISK,                    /* the disk cache: lookups and stores */
    PH_RUN,                     /* running the kernel (interpreter or compiled code) */
    PH_COUNT
} einc_phase;

typedef struct einc_timings {
    int64_t ns[PH_COUNT];
    int compiled, disk_hits;    /* kernels LLVM compiled, kernels loaded from disk */
    int interp;                 /* runs the interpreter took (auto's choice, or interp) */
} einc_timings;

extern _Thread_local einc_timings *einc_timing;

const char *einc_phase_name(einc_phase ph);

static inline int64_t tm_now(void)
{
    if (!einc_timing)
        return 0;
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Adds the time since t0 (a tm_now) to ph, and returns now, for the next phase. */
static inline int64_t tm_add(einc_phase ph, int64_t t0)
{
    if (!einc_timing)
        return 0;
    int64_t t = tm_now();
    einc_timing->ns[ph] += t - t0;
    return t;
}

#endif
