/*
 * einc.h — the public interface of einc, a compiler for tensor index notation.
 *
 * einc compiles numpy einsum strings ("ik,kj->ij", "...ij,...jk", "ii->i") and einops
 * patterns ("b c (h w) -> b h w c", reductions, repeats) into kernels, and runs them on
 * caller-owned buffers.  This header is the only one an embedder includes.
 *
 * Conventions:
 *   - every function that can fail returns an einc_status and, when given a non-NULL
 *     einc_error, fills it with a message and the byte span of the culprit in the
 *     expression; the library never prints, exits or aborts on user input;
 *   - handles are opaque; a context and the kernels compiled in it may be used from
 *     several threads at once;
 *   - arrays are described by einc_tensor: dtype, rank, shape and optional strides
 *     (in elements; NULL means C-contiguous).
 */
#ifndef EINC_H
#define EINC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EINC_VERSION "0.1.0"
#define EINC_MAX_RANK 64      /* numpy's NPY_MAXDIMS */
#define EINC_MAX_OPERANDS 64

#if defined(__GNUC__) && !defined(EINC_STATIC_BUILD)
#define EINC_API __attribute__((visibility("default")))
#else
#define EINC_API
#endif

typedef enum einc_status {
    EINC_OK = 0,
    EINC_ERR_SYNTAX,       /* the expression does not parse */
    EINC_ERR_SHAPE,        /* sizes, ranks or operand counts do not fit the expression */
    EINC_ERR_DTYPE,        /* an element type the operation cannot take */
    EINC_ERR_ARG,          /* a bad argument: NULL handle, wrong buffer count, bad option */
    EINC_ERR_NOMEM,        /* out of memory, or a size too large to represent */
    EINC_ERR_IO,           /* a file could not be read or written */
    EINC_ERR_UNSUPPORTED,  /* valid input that this build or target cannot run */
    EINC_ERR_INTERNAL      /* a bug in einc: a pass broke an invariant of its IR (the
                              message names the pass); please report it */
} einc_status;

typedef enum einc_dtype {
    EINC_F32, EINC_F64, EINC_I32, EINC_I64, EINC_BOOL,
    /* appended, so the five above keep their numbers; bfloat16 is stored as its 16 bits,
       complex as (real, imaginary) pairs of float32 or float64 */
    EINC_I8, EINC_I16, EINC_U8, EINC_U16, EINC_U32, EINC_U64,
    EINC_F16, EINC_BF16, EINC_C64, EINC_C128,
    EINC_DTYPE_COUNT
} einc_dtype;

/* How axes that appear in an input but not in the output are combined. */
typedef enum einc_reduce {
    EINC_REDUCE_SUM, EINC_REDUCE_MEAN, EINC_REDUCE_MAX, EINC_REDUCE_MIN, EINC_REDUCE_PROD,
    EINC_REDUCE_COUNT
} einc_reduce;

/*
 * How an expression's text is read.  AUTO is the rule of the README: an operand with
 * whitespace inside it, a parenthesis or a digit selects einops style (axes are names
 * separated by spaces), anything else is numpy style (one letter per axis).  NUMPY and
 * EINOPS force a reading, as einops.einsum('index ->') or einops.reduce(x, '... ->') need.
 */
typedef enum einc_dialect {
    EINC_DIALECT_AUTO, EINC_DIALECT_NUMPY, EINC_DIALECT_EINOPS
} einc_dialect;

typedef enum einc_target {
    EINC_TARGET_AUTO, EINC_TARGET_CPU, EINC_TARGET_CUDA, EINC_TARGET_INTERP
} einc_target;

typedef struct einc_error {
    einc_status status;
    int32_t begin, end;     /* byte span of the culprit in the expression; -1 when none */
    char message[512];      /* one line, no trailing newline, no "error:" prefix */
} einc_error;

typedef struct einc_tensor {
    einc_dtype dtype;
    int ndim;
    const int64_t *shape;   /* ndim entries */
    const int64_t *strides; /* ndim entries in elements, or NULL for C-contiguous */
    void *data;             /* aligned to the element's size (a complex's to its part's), as
                               numpy's aligned arrays; Python copies an unaligned one first */
} einc_tensor;

/* Sizes given by name, as the command line's AXIS=N words. */
typedef struct einc_size {
    const char *name;
    int64_t value;
} einc_size;

typedef struct einc_options {
    einc_reduce reduce;      /* EINC_REDUCE_SUM unless set */
    einc_target target;      /* EINC_TARGET_AUTO unless set */
    int nsizes;
    const einc_size *sizes;
    int64_t max_memory;      /* bytes any one intermediate of a contraction path may take; 0: no limit */
    einc_dialect dialect;    /* EINC_DIALECT_AUTO unless set */
    int allow_tf32;          /* float32 contractions on CUDA may use TF32 tensor cores (10-bit
                                mantissa products, float32 sums), as PyTorch's allow_tf32:
                                0: only when EINC_ALLOW_TF32=1 is in the environment at
                                einc_compile; > 0: allowed; < 0: not (exact float32) */
} einc_options;

typedef struct einc_ctx einc_ctx;
typedef struct einc_kernel einc_kernel;

EINC_API const char *einc_version(void);
EINC_API const char *einc_dtype_name(einc_dtype t);     /* "float32", "int64", ... */
EINC_API const char *einc_reduce_name(einc_reduce r);   /* "sum", "mean", ... */

/*
 * A context holds the CPU JIT, its kernel cache and a thread pool of EINC_NUM_THREADS
 * threads (default: every online core).  NULL when out of memory.
 */
EINC_API einc_ctx *einc_ctx_new(void);
EINC_API void einc_ctx_free(einc_ctx *ctx);
EINC_API int einc_ctx_threads(const einc_ctx *ctx);
/* How many times this context has invoked LLVM to compile (a hit in its cache or on disk
   does not). */
EINC_API long einc_ctx_jit_compiles(const einc_ctx *ctx);

/*
 * einc_ctx_new_with's choices; zero-initialise it (einc_ctx_options o = { 0 }) and set
 * what you need: each field's zero value is einc_ctx_new's behaviour.  The on-disk kernel
 * cache keeps compiled CPU kernels between processes (README, "Environment"); whatever
 * happens to it (a missing or read-only directory, a damaged entry), a run gives the same
 * result, at worst compiling again.
 */
typedef struct einc_ctx_options {
    int disk_cache;          /* 0: on unless EINC_CACHE=0; > 0: on; < 0: off */
    const char *cache_dir;   /* NULL: EINC_CACHE_DIR, else $XDG_CACHE_HOME/einc, else
                                ~/.cache/einc; created when first written */
    int64_t cache_max;       /* bytes the directory may hold; 0: EINC_CACHE_MAX, else 1 GiB */
} einc_ctx_options;

/* einc_ctx_new with options; opt may be NULL (every default).  NULL when out of memory. */
EINC_API einc_ctx *einc_ctx_new_with(const einc_ctx_options *opt);
/* How many kernels this context loaded from the disk cache instead of invoking LLVM. */
EINC_API long einc_ctx_cache_hits(const einc_ctx *ctx);

/*
 * Parses and checks an expression.  Sizes the expression cannot learn from its inputs
 * (repeats, decompositions) come in opt->sizes; opt may be NULL.  The kernel is shape-
 * generic: shapes are checked and bound when it runs.
 */
EINC_API einc_status einc_compile(einc_ctx *ctx, const char *expr, const einc_options *opt,
                                  einc_kernel **out, einc_error *err);
/*
 * Parses a model in the layer language (.einl; README.md, "The layer language"): the whole file's text.  Its
 * inputs are its input and param declarations, in order (einc_kernel_input_name names
 * them); sizes come from the arrays when it runs, or from opt->sizes (SIZE=N), which the
 * arrays must agree with.  A model is compiled for the sizes it meets: each new set of
 * shapes elaborates and compiles again (and is cached).  Errors carry a byte span in the
 * source.
 */
EINC_API einc_status einc_compile_model(einc_ctx *ctx, const char *source, const einc_options *opt,
                                        einc_kernel **out, einc_error *err);
EINC_API void einc_kernel_free(einc_kernel *k);

/* Number of input operands the expression takes. */
EINC_API int einc_kernel_ninputs(const einc_kernel *k);
/* A model's name for input i ("x", "w"), or NULL for an expression's operands. */
EINC_API const char *einc_kernel_input_name(const einc_kernel *k, int i);

/*
 * How many results the kernel computes: 1, or a model's count when it returns several
 * (`return probs, f1`).  Result i's name is the variable it returns when that is a plain
 * name ("probs"), else "out0", "out1", ... by position; an expression's one output is "out".
 */
EINC_API int einc_kernel_noutputs(const einc_kernel *k);
EINC_API const char *einc_kernel_output_name(const einc_kernel *k, int i);

/*
 * The output's dtype and shape for these inputs (only dtype, ndim and shape of each input
 * are read).  shape must have room for EINC_MAX_RANK entries.  For a kernel with one
 * output; one with several gives an error that names einc_kernel_output_at.
 */
EINC_API einc_status einc_kernel_output(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                                        einc_dtype *dtype, int *ndim, int64_t *shape,
                                        einc_error *err);
/* The same for output i, 0 <= i < einc_kernel_noutputs(k). */
EINC_API einc_status einc_kernel_output_at(einc_kernel *k, int i, int ninputs,
                                           const einc_tensor *inputs, einc_dtype *dtype,
                                           int *ndim, int64_t *shape, einc_error *err);

/*
 * Computes the expression.  out must have the dtype and shape einc_kernel_output gives;
 * out->data is written, inputs are only read.  For a kernel with one output; one with
 * several gives an error that names einc_kernel_run_outputs.
 */
EINC_API einc_status einc_kernel_run(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                                     const einc_tensor *out, einc_error *err);
/*
 * Computes every result: noutputs must be einc_kernel_noutputs(k), and outs[i] have the
 * dtype and shape einc_kernel_output_at(k, i, ...) gives.  The outputs must not overlap
 * each other or the inputs.
 */
EINC_API einc_status einc_kernel_run_outputs(einc_kernel *k, int ninputs,
                                             const einc_tensor *inputs, int noutputs,
                                             const einc_tensor *outs, einc_error *err);

/*
 * Computes an expression on arrays already on the GPU, without host copies: k is compiled
 * for EINC_TARGET_CUDA and is not a model; each data pointer is a CUDA device pointer
 * (CUdeviceptr) in device 0's primary context (PyTorch's and the runtime API's), arrays
 * C-contiguous (strides NULL or C order); the kernels go on stream (a CUstream; NULL: the
 * default stream), and the call returns once they are done.  Under EINC_CUDA_EMU=1 device
 * pointers are host pointers.  A kernel of another target or a model is EINC_ERR_ARG.
 */
EINC_API einc_status einc_kernel_run_device(einc_kernel *k, void *stream, int ninputs,
                                            const einc_tensor *inputs, const einc_tensor *out,
                                            einc_error *err);

/*
 * The input shapes the expression implies when every size is given at compile time (as
 * einc bench needs): for input i, ndim[i] and shape[i][0..ndim[i]); ninputs gets their
 * count (at most EINC_MAX_OPERANDS), flops the expression's FLOP count (numpy's
 * einsum_path convention).  An error names the first size that is missing.
 */
EINC_API einc_status einc_kernel_input_shapes(einc_kernel *k, int *ninputs, int *ndim,
                                              int64_t (*shape)[EINC_MAX_RANK], int64_t *flops,
                                              einc_error *err);

/*
 * A human-readable account of how the expression was understood: the dialect rule that
 * applied, axes and sizes, the index IR and its FLOP count.  inputs may be NULL (sizes
 * stay symbolic).  Returns a malloc'ed string the caller frees, or NULL with err set.
 */
EINC_API char *einc_kernel_explain(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                                   einc_error *err);

/* The same account as a Graphviz digraph: arrays and the fused loop nests between them. */
EINC_API char *einc_kernel_explain_dot(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                                       einc_error *err);

/* The dtype each input must have: a model's declared ones; float32 for an expression. */
EINC_API einc_status einc_kernel_input_dtypes(einc_kernel *k, einc_dtype *dtype, einc_error *err);

typedef enum einc_emit_kind {
    EINC_EMIT_C,            /* one self-contained C99 file */
    EINC_EMIT_HEADER,       /* a header for C and C++ with the C file's prototypes */
    EINC_EMIT_CUDA,         /* a .cu file: kernels and an extern "C" launcher */
    EINC_EMIT_LLVM,         /* LLVM IR text (the CPU JIT's module) */
    EINC_EMIT_ASM,          /* assembly for the host CPU, or einc_emit_options.cpu */
    EINC_EMIT_PTX,          /* PTX from NVRTC */
    EINC_EMIT_OBJ           /* an object file with the C function (binary: use *len), for
                               the host CPU or einc_emit_options.cpu */
} einc_emit_kind;

/*
 * Kernel source for the expression.  The arrays come first: the inputs, then the output,
 * or a model's outputs in the order it returns them, each named after its result (README.md,
 * "Emitted kernels").  Sizes given at compile time are constants, the others
 * (a repeat's included) become int64_t parameters after the arrays, in order of first
 * appearance: named axes only, inputs left to right, then the output, so repeat-only axes
 * come last; the dimensions of '...' (with ...=N given) follow as ellipsis0, ellipsis1, ...
 * name NULL means "einc_kernel"; dtype is EINC_F32 or EINC_F64 (every array has it).
 * Returns the bytes (NUL-terminated; *len, if len is not NULL, gets their length, which an
 * object file needs) for the caller to release with free(), or NULL with err set.
 *
 * The C function runs on the caller's thread, or on OpenMP's when the C file is built with
 * -fopenmp; the object file's (EMIT_OBJ) on the caller's thread alone, for the host CPU's
 * instruction set unless einc_emit_options.cpu names another.
 */
EINC_API char *einc_kernel_emit(einc_kernel *k, einc_emit_kind what, const char *name,
                                einc_dtype dtype, size_t *len, einc_error *err);

/*
 * einc_kernel_emit's choices and more; zero-initialise it (einc_emit_options o = { 0 })
 * and set what you need: the zero value of each field is einc_kernel_emit's default.
 */
typedef struct einc_emit_options {
    const char *name;           /* the function's name, a C identifier; NULL: "einc_kernel" */
    einc_dtype dtype;           /* every array's: EINC_F32 (the zero value) or EINC_F64 */
    int nparams;                /* 0: size parameters in order of first appearance */
    const char *const *params;  /* else nparams names: every size parameter exactly once, in
                                   the order the function takes them ("b", "h", "ellipsis0"),
                                   as einc --params=b,h,... does; an unknown, fixed, repeated
                                   or missing name is an EINC_ERR_ARG that names it, and so is
                                   an order for EMIT_PTX (kernels alone, no function) */
    const char *cpu;            /* EMIT_OBJ, ASM, LLVM: the CPU the code is for, as LLVM
                                   names x86-64 ones ("x86-64-v3", "skylake-avx512",
                                   "znver4"); NULL, "", "host" or "native": this machine's.
                                   Non-empty with another kind: EINC_ERR_ARG */
} einc_emit_options;

/* einc_kernel_emit with options; opt may be NULL (every default). */
EINC_API char *einc_kernel_emit_opts(einc_kernel *k, einc_emit_kind what,
                                     const einc_emit_options *opt, size_t *len, einc_error *err);

/*
 * Renders an error as einc's CLI shows it:
 *     error: MESSAGE
 *       EXPRESSION
 *            ^
 * source is the expression the error came from (may be NULL: no caret).  Returns the
 * length the full text needs, as snprintf does.
 */
EINC_API int einc_error_format(const einc_error *err, const char *source, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
