/*
 * cuda_emu.h — the CUDA emulator (docs/ARCHITECTURE.md, "The CUDA emulator"): with
 * EINC_CUDA_EMU=1, runtime/cuda.c takes the driver's entry points from here instead of
 * libcuda.so.1 and hands the kernels' CUDA C source where it would hand NVRTC's PTX.
 * A module is that source compiled as host C++ (after runtime/cuda_emu.hh) with the system
 * C++ compiler into a shared object in a private temporary directory; a launch runs its
 * blocks one after another on this thread, each block's threads as fibers.  "Device"
 * memory is host memory, filled with 0xff bytes when allocated.
 *
 * As in the driver, the calls act on the calling thread's current context (cuCtxSetCurrent):
 * cuda_emu_open makes the new one current; cuda.c sets it before each use.
 */
#ifndef EINC_CUDA_EMU_H
#define EINC_CUDA_EMU_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cuda_emu cuda_emu;

/* EINC_CUDA_EMU=1 in the environment. */
bool cuda_emu_wanted(void);

/*
 * Finds a C++ compiler ($CXX, else c++, g++, clang++), reads EINC_CUDA_EMU_ORDER and makes
 * a private temporary directory; 0, or -1 with why (the emulator is then unusable).
 */
int cuda_emu_open(cuda_emu **e, char *why, size_t n);
void cuda_emu_close(cuda_emu *e);

/* The emulator's implementation of the driver entry point named sym ("cuMemAlloc_v2"). */
void *cuda_emu_sym(const char *sym);

/* The module image for kernel source src: a copy of src, released with free(). */
char *cuda_emu_image(const char *src);

#endif
