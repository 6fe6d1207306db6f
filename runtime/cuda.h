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

#include "ir.h"

typedef struct cuda_backend cuda_backend;

cuda_backend *cuda_new(void);               /* NULL when out of memory; opens nothing yet */
void cuda_free(cuda_backend *b);

/* Loads the driver and picks device 0 on first use; false (and why, in c) if none. */
bool cuda_ready(cuda_backend *b, cc *c);

/*
 * Runs a bound program on the device: host buffers per tensor (NULL for temporaries),
 * copied in, computed with kernels compiled for exactly these sizes, copied out.  key
 * names what the code depends on besides the sizes.
 */
int cuda_run(cuda_backend *b, cc *c, const char *key, const ir_prog *p, void *const *buf);

#endif
