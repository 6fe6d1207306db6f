/*
 * _einc.h — what the files of the extension _einc share: the module's state, the Kernel
 * object and the arrays a call takes (see _einc.c for the extension's design).
 *
 *   _einc_arrays.c   einc's errors as exceptions; arrays in through the buffer protocol,
 *                    results out as numpy arrays
 *   _einc_kernel.c   the Kernel type: compiling, calling, output shapes, explain, emit
 *   _einc.c          the kernel cache, einsum's fast path, the module and its state
 */
#ifndef EINC_PY_H
#define EINC_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "einc.h"

#include <stdbool.h>
#include <stdint.h>

struct ext_state {
    einc_ctx *ctx;
    PyObject *cache;                        /* key -> Kernel */
    PyObject *np_empty;                     /* numpy.empty */
    PyObject *np_copyto;                    /* numpy.copyto */
    PyObject *dtypes[EINC_DTYPE_COUNT];     /* numpy.dtype per einc_dtype */
    PyObject *fallback;                     /* einsum's Python path (einc/__init__.py) */
    PyObject *empty_tuple;
    PyObject *s_out, *s_bf16, *s_optimize, *s_greedy, *s_optimal, *s_einops;
    einc_target default_target;             /* CPU with LLVM, else the interpreter */
};

extern struct ext_state S;

/* ---- _einc_arrays.c ---------------------------------------------------------------------- */

typedef struct arrays {
    int n;                      /* views taken */
    Py_buffer *view;            /* n views, released by arrays_release */
    einc_tensor *t;
    int64_t *dims;              /* shape then strides of every array, EINC_MAX_RANK each */
    Py_buffer view_small[4];
    einc_tensor t_small[4];
    int64_t dims_small[4 * 2 * 8];
    int cap;                    /* arrays the buffers above have room for */
    int rank_cap;               /* and the rank each may have */
} arrays;

PyObject *ext_raise_error(const einc_error *e, const char *source, const char *origin);
int ext_format_dtype(const char *f, Py_ssize_t itemsize);
PyObject *ext_dtype_object(einc_dtype dt);
int ext_arrays_init(arrays *a, int n);
void ext_arrays_release(arrays *a);
int ext_arrays_take(arrays *a, PyObject *obj, int total, bool writable, bool bf16);
void ext_byte_range(const Py_buffer *v, char **lo, char **hi);
PyObject *ext_new_array(einc_dtype dt, int ndim, const int64_t *shape);

/* ---- _einc_kernel.c ---------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    einc_kernel *k;
    PyObject *source;           /* str: the expression or the model's text */
    PyObject *origin;           /* str: the model's path, or None */
    char *src;                  /* source, UTF-8, for error carets */
    int ninputs;
    int noutputs;               /* a model's results: several come back as a tuple */
    int model;
    int target;
    /* the last call's input dtypes and shapes and the output they gave: einc_kernel_output
       binds the whole expression, and a loop calls one kernel on one set of shapes */
    int memo_len;               /* entries of memo_in; 0: empty */
    int64_t memo_in[64];
    einc_dtype memo_dtype;
    int memo_ndim;
    int64_t memo_shape[EINC_MAX_RANK];
} Kernel;

extern PyTypeObject ext_KernelType;
PyObject *ext_kernel_new(PyObject *source, int model, int dialect, int reduce, PyObject *sizes,
                         int target, long long max_memory, PyObject *origin);
/* bf16: bit i says operand i holds bfloat16 as 16-bit integers (i < 64) */
PyObject *ext_kernel_call(Kernel *K, PyObject *const *ops, Py_ssize_t n, PyObject *out,
                          uint64_t bf16);

#endif
