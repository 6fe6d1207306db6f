/*
 * kernel.h — the public API's handles (include/einc.h's einc_ctx and einc_kernel), inside:
 * einc.c makes and runs them, auto.c reads a kernel's key and --target=auto's record,
 * explain.c and emit.c read its parse; and the helpers these files share.
 */
#ifndef EINC_KERNEL_H
#define EINC_KERNEL_H

#include "einc.h"
#include "alloc.h"
#include "cc.h"
#include "ir.h"
#include "einl.h"
#include "cpu.h"
#include "cuda.h"
#include "memo.h"
#include "pipeline.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct einc_ctx {
    cpu_backend *cpu;           /* the JIT's cache and the thread pool */
    cuda_backend *cuda;         /* the driver, loaded on first use; module cache */
    kcache *kc;                 /* the on-disk kernel cache (off: kcache_on says so) */
    texts *texts;               /* parsed kernels by text and options (memo.h) */
};

struct einc_kernel {
    einc_ctx *ctx;
    arena A;                    /* the AST, the source, the copied options */
    const char *src;
    ast_expr *ast;              /* an expression's, or NULL for a model */
    el_model *model;            /* a model's (.einl) */
    bind_opts opts;
    einc_target target;
    int64_t max_memory;         /* bytes per intermediate of a contraction path; 0: no limit */
    int ellipsis_rank;          /* "...=N": the rank '...' covers in emitted kernels; -1: unset */
    bool tf32;                  /* CUDA float32 contractions may use TF32 (allow_tf32 resolved) */
    const char *key_base;       /* the cache key's part fixed at compile time (cache_key) */
    size_t key_base_len;
    /* --target=auto's record (auto_choice): the interpreter's estimated ns spent on this
       kernel's runs, and the hash of the last key found neither compiled nor on disk */
    _Atomic int64_t interp_ns;
    _Atomic uint64_t absent;
    memo_slots memo;            /* its runs' plans (memo.h); a shared kernel's are its owner's */
    einc_kernel *shared;        /* the context's kernel this one shares (texts), or NULL */
};

/* The API's errors, with no span: a message, or (failf) a formatted one. */
static inline einc_status fail(einc_error *err, einc_status st, const char *msg)
{
    if (err) {
        err->status = st;
        err->begin = err->end = -1;
        strncpy(err->message, msg, sizeof err->message - 1);
        err->message[sizeof err->message - 1] = 0;
    }
    return st;
}

/* fail with a formatted message (the kernel API's errors that carry numbers or names). */
static inline einc_status failf(einc_error *err, einc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline einc_status failf(einc_error *err, einc_status st, const char *fmt, ...)
{
    if (!err)
        return st;
    fail(err, st, "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return st;
}

/* A public call's error record: the caller's, or scratch when it passed none; cleared. */
static inline einc_error *error_start(einc_error *err, einc_error *scratch)
{
    if (!err)
        err = scratch;
    err->status = EINC_OK;
    return err;
}

/* Checks n arrays' dtypes, ranks and shapes (need_data: and their data pointers). */
einc_status check_tensors(int n, const einc_tensor *t, bool need_data, einc_error *err);
/* Whether target runs on the CPU JIT (auto does when LLVM is built in). */
bool use_jit(einc_target t);
/* Per input, then per output: whether its strides are not the contiguous ones. */
bool *strided_flags(arena *A, int n, const einc_tensor *in, int nout, const einc_tensor *out);
/* A pipeline for k's program: arrays (or NULL) for target. */
pipeline kernel_pipeline(const einc_kernel *k, int n, const einc_tensor *in,
                         const bool *strided_in, pl_target target);

#endif
