/*
 * kernel.h — the public API's handles (include/einc.h's einc_ctx and einc_kernel), inside:
 * einc.c makes and runs them, auto.c reads a kernel's key and --target=auto's record.
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

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

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
    const char *key_base;       /* the cache key's part fixed at compile time (cache_key) */
    size_t key_base_len;
    /* --target=auto's record (auto_choice): the interpreter's estimated ns spent on this
       kernel's runs, and the hash of the last key found neither compiled nor on disk */
    _Atomic int64_t interp_ns;
    _Atomic uint64_t absent;
    memo_slots memo;            /* its runs' plans (memo.h); a shared kernel's are its owner's */
    einc_kernel *shared;        /* the context's kernel this one shares (texts), or NULL */
};

#endif
