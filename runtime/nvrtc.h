/*
 * nvrtc.h — NVRTC (CUDA C → PTX) loaded lazily with dlopen, through one table of checked
 * function pointers.
 *
 * einc builds without CUDA headers and runs where no CUDA is installed: the types below
 * are NVRTC's ABI, declared here.  Nothing is global: a caller owns its nvrtc_lib (dlopen
 * counts references, so opening one per compilation is fine) or lets nvrtc_ptx open and
 * close one per call.  Errors come back as -1 and a one-line message; nothing is printed.
 */
#ifndef EINC_NVRTC_H
#define EINC_NVRTC_H

#include <stddef.h>

typedef int nvrtc_result;                   /* nvrtcResult: 0 is NVRTC_SUCCESS */
typedef struct nvrtc_program_ *nvrtc_program;   /* nvrtcProgram */

/* NVRTC's entry points we use: return type, symbol, member, parameters. */
#define NVRTC_SYMS(X)                                                                     \
    X(nvrtc_result, nvrtcCreateProgram, create,                                           \
      (nvrtc_program *prog, const char *src, const char *name, int nheaders,              \
       const char *const *headers, const char *const *include_names))                     \
    X(nvrtc_result, nvrtcCompileProgram, compile,                                         \
      (nvrtc_program prog, int nopts, const char *const *opts))                           \
    X(nvrtc_result, nvrtcGetPTXSize, ptx_size, (nvrtc_program prog, size_t *size))        \
    X(nvrtc_result, nvrtcGetPTX, ptx, (nvrtc_program prog, char *ptx))                     \
    X(nvrtc_result, nvrtcGetProgramLogSize, log_size, (nvrtc_program prog, size_t *size)) \
    X(nvrtc_result, nvrtcGetProgramLog, log, (nvrtc_program prog, char *log))             \
    X(nvrtc_result, nvrtcDestroyProgram, destroy, (nvrtc_program *prog))                  \
    X(const char *, nvrtcGetErrorString, error_string, (nvrtc_result r))                  \
    X(nvrtc_result, nvrtcVersion, version, (int *major, int *minor))                      \
    X(nvrtc_result, nvrtcGetCUBINSize, cubin_size, (nvrtc_program prog, size_t *size))    \
    X(nvrtc_result, nvrtcGetCUBIN, cubin, (nvrtc_program prog, char *cubin))              \
    X(nvrtc_result, nvrtcGetNumSupportedArchs, narchs, (int *n))                          \
    X(nvrtc_result, nvrtcGetSupportedArchs, archs, (int *archs))

typedef struct nvrtc_lib {
    void *handle;               /* from dlopen; NULL when closed */
    const char *soname;         /* the name that loaded */
    int major, minor;           /* NVRTC's version */
#define X(ret, sym, member, args) ret (*member) args;
    NVRTC_SYMS(X)
#undef X
} nvrtc_lib;

/* Loads libnvrtc and every symbol; 0, or -1 with a message (*L is then closed). */
int nvrtc_open(nvrtc_lib *L, char *err, size_t errlen);
void nvrtc_close(nvrtc_lib *L);

/*
 * Compiles CUDA C source to PTX for arch ("compute_90"; NULL: NVRTC's default).  name is
 * the file name NVRTC's messages use.  On success *ptx_out is a NUL-terminated string the
 * caller releases with free(); on failure -1, *ptx_out NULL and a one-line message, with
 * NVRTC's log appended when the source did not compile.
 */
int nvrtc_compile(const nvrtc_lib *L, const char *src, const char *name, const char *arch,
                  char **ptx_out, char *err, size_t errlen);

/*
 * The architecture to compile for on a device of compute capability major.minor: "sm_XY"
 * (a cubin, which the driver loads as it is) when this NVRTC knows the device, else
 * "compute_XY" for the newest architecture it knows below the device (PTX, which the
 * driver compiles for the newer device), else "compute_XY" of the device itself (NVRTC
 * then says it is too old).  Returns 1 for a cubin, 0 for PTX.
 */
int nvrtc_pick_arch(const nvrtc_lib *L, int major, int minor, char *arch, size_t n);

/* A compiled module image: a cubin (len bytes) or PTX (NUL-terminated, len with the NUL). */
typedef struct nvrtc_image {
    char *data;                 /* release with free() */
    size_t len;
    int cubin;                  /* 1: arch was "sm_XY" */
} nvrtc_image;

/*
 * Compiles src for arch as nvrtc_pick_arch names it: a cubin for "sm_XY", PTX for
 * "compute_XY".  0, or -1 with out->data NULL and a one-line message with NVRTC's log, as
 * nvrtc_compile.
 */
int nvrtc_build(const nvrtc_lib *L, const char *src, const char *name, const char *arch,
                nvrtc_image *out, char *err, size_t errlen);

/* nvrtc_open + nvrtc_compile + nvrtc_close. */
int nvrtc_ptx(const char *src, const char *name, const char *arch, char **ptx_out, char *err,
              size_t errlen);

#endif
