/*
 * cuda.h — the CUDA target: the driver API loaded with dlopen("libcuda.so.1") through one
 * table of checked function pointers, kernels compiled by NVRTC (runtime/nvrtc.c) for the
 * device's architecture, and a per-context cache of loaded modules.
 *
 * einc builds and runs where no CUDA is installed: then cuda_open fails with a message and
 * --target=auto uses the CPU.  Nothing is global; the backend hangs off the context.
 */
#ifndef EINC_CUDA_H
#define EINC_CUDA_H

#include "einc.h"
#include "ir.h"

#include <stdbool.h>

typedef struct cuda_backend cuda_backend;
typedef struct kcache kcache;

cuda_backend *cuda_new(void);               /* NULL when out of memory; opens nothing yet */
void cuda_free(cuda_backend *b);

/* Loads the driver and picks device 0 on first use; false (and why, in c) if none. */
bool cuda_ready(cuda_backend *b, cc *c);

/*
 * Runs a bound program on the device: host buffers per tensor (NULL for temporaries),
 * copied in, computed with kernels compiled for exactly these sizes, copied out.  key
 * names what the code depends on besides the sizes, tf32 among it: whether float32
 * contractions may use TF32 tensor cores (einc_options.allow_tf32).
 */
int cuda_run(cuda_backend *b, cc *c, const char *key, const ir_prog *p, void *const *buf, bool tf32);

/*
 * The calling thread's next cuda_run (on): the program's input and output buffers are device
 * pointers, neither copied nor freed, and its kernels go on stream; a thread-local request,
 * as cuda_probe_next, so that einc_kernel_run_device runs the code einc_kernel_run runs.
 * cuda_run takes the request; (false, NULL) cancels one a failed run left.
 */
void cuda_device_next(bool on, void *stream);

/* Whether einc_kernel_run_device takes k: an expression compiled for the CUDA target, whose
   run reads no input's elements on the host (runtime/einc.c). */
bool einc_kernel_on_device(const einc_kernel *k);

/* Modules persist in kc (the context's on-disk cache, runtime/kcache.h); NULL: none. */
void cuda_use_kcache(cuda_backend *b, kcache *kc);

enum { CUDA_PROBE_KERNELS = 16 };

/* One kernel as the device ran it: its launch, its resources and its median time. */
typedef struct cuda_kernel_info {
    unsigned grid[3], block[3];
    unsigned dyn_shared;        /* bytes of dynamic shared memory at the launch */
    int regs;                   /* per thread; cuFuncGetAttribute, -1 when unknown */
    int static_shared;          /* bytes of __shared__ arrays; -1 when unknown */
    int local;                  /* bytes of local memory per thread (spills); -1 when unknown */
    double ms;                  /* median, when timed; else 0 */
} cuda_kernel_info;

/*
 * What one cuda_run did, for `einc bench --target=cuda` and benchmarks/gpu/gpucheck.c.
 * The public API has no device-resident call, so the timed runs happen inside the
 * einc_kernel_run they make: with reps > 0 the inputs are copied once, the whole kernel
 * sequence runs once untimed and then reps times between cuEvent records, and the output
 * is copied back once.
 */
typedef struct cuda_probe {
    int reps;                   /* in: timed runs, 0 to CUDA_PROBE_REPS; 0: only the facts */
    bool filled;                /* out: a cuda_run reached the launches */
    bool emulated;              /* EINC_CUDA_EMU=1: times are host clocks */
    bool from_disk;             /* the module came from the on-disk cache, without NVRTC */
    double compile_ms;          /* NVRTC's time for the module (all its kernels); 0 from disk */
    char device[96];            /* cuDeviceGetName */
    char image[40];             /* "cubin sm_90", "PTX compute_90" or "emulated" */
    int cc_major, cc_minor;
    int driver;                 /* cuDriverGetVersion: 13000 is 13.0 */
    int nvrtc_major, nvrtc_minor;   /* 0 when NVRTC was not opened */
    int nk;                     /* kernels (those past CUDA_PROBE_KERNELS are not described) */
    cuda_kernel_info k[CUDA_PROBE_KERNELS];
    double ms;                  /* median of the whole sequence, when timed */
} cuda_probe;

enum { CUDA_PROBE_REPS = 1000 };

/*
 * The calling thread's next cuda_run fills *pr (then forgets it); NULL cancels.  A
 * thread-local request, not an argument: the run goes through einc_kernel_run as every
 * other caller's does, so what is timed is the code users run.
 */
void cuda_probe_next(cuda_probe *pr);

#endif
