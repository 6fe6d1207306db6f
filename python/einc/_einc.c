/*
 * _einc.c — the CPython extension under the einc package: one einc context per process,
 * kernels as Python objects, the per-process kernel cache and einsum's fast path.
 *
 * Why C and not ctypes: a call through ctypes costs several microseconds in argument
 * conversion alone, and the package's target is a few microseconds per call on a cached
 * kernel in all.  Arrays come in through the buffer protocol (PEP 3118), which numpy
 * implements with strides in bytes, negative and zero ones included, so no numpy header
 * is needed to build this file; results are made by numpy.empty.
 *
 * The hot path (einsum on numpy arrays of einc's dtypes) is: one dict lookup for the
 * kernel, one buffer request per array, the output's shape from a one-entry memo of the
 * last call's input shapes, numpy.empty, and einc_kernel_run with the GIL released.
 * Anything else (sublists, dtype=, torch tensors, lists, a dtype einc lacks, an out= that
 * needs a cast) is handed to the Python layer, einc/__init__.py, which normalises the
 * arrays and calls a kernel again; a kernel's call answers NotImplemented for arrays it
 * cannot take as they are, and the Python layer converts them.
 *
 * One einc context and one cache per process: CPython loads an extension module once per
 * interpreter, and this module declares no support for sub-interpreters.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "einc.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Entries the kernel cache holds before it is emptied: a program that builds expressions
   on the fly must not grow it without bound, and recompiling is a cache miss, not an error. */
#define CACHE_MAX 4096

static struct {
    einc_ctx *ctx;
    PyObject *cache;                        /* key -> Kernel */
    PyObject *np_empty;                     /* numpy.empty */
    PyObject *np_copyto;                    /* numpy.copyto */
    PyObject *dtypes[EINC_DTYPE_COUNT];     /* numpy.dtype per einc_dtype */
    PyObject *fallback;                     /* einsum's Python path (einc/__init__.py) */
    PyObject *empty_tuple;
    PyObject *s_out, *s_optimize, *s_greedy, *s_optimal, *s_einops;
    einc_target default_target;             /* CPU with LLVM, else the interpreter */
} S;

/* ---- errors ---------------------------------------------------------------------------- */

static PyObject *status_type(einc_status st)
{
    switch (st) {
    case EINC_ERR_DTYPE:
        return PyExc_TypeError;
    case EINC_ERR_NOMEM:
        return PyExc_MemoryError;
    case EINC_ERR_IO:
        return PyExc_OSError;
    case EINC_ERR_UNSUPPORTED:
    case EINC_ERR_INTERNAL:
        return PyExc_RuntimeError;
    default:
        return PyExc_ValueError;
    }
}

/*
 * Raises einc's error as the CLI shows it, without its "error: " prefix (the exception's
 * type says that): the message, then the source line and a caret under the culprit.
 * origin, when not NULL, names the file the source came from, as "path:line:col: ".
 */
static PyObject *raise_error(const einc_error *e, const char *source, const char *origin)
{
    char small[1024], *buf = small;
    int n = einc_error_format(e, source, small, sizeof small);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof small && (buf = PyMem_Malloc((size_t)n + 1)))
        einc_error_format(e, source, buf, (size_t)n + 1);
    if (!buf)
        buf = small;
    const char *text = strncmp(buf, "error: ", 7) == 0 ? buf + 7 : buf;
    PyObject *msg;
    if (origin && source && e->begin >= 0 && (size_t)e->begin <= strlen(source)) {
        int line = 1, col = 1;
        for (int i = 0; i < e->begin; i++, col++)
            if (source[i] == '\n') {
                line++;
                col = 0;
            }
        msg = PyUnicode_FromFormat("%s:%d:%d: %s", origin, line, col, text);
    } else if (origin) {
        msg = PyUnicode_FromFormat("%s: %s", origin, text);
    } else {
        msg = PyUnicode_FromString(text);
    }
    if (buf != small)
        PyMem_Free(buf);
    if (!msg)
        return NULL;
    PyObject *type = status_type(e->status);
    PyObject *exc = PyObject_CallOneArg(type, msg);
    Py_DECREF(msg);
    if (!exc)
        return NULL;
    /* the culprit's byte span in the source, for tools that underline it themselves */
    PyObject *span = e->begin >= 0 ? Py_BuildValue("(ii)", e->begin, e->end) : Py_NewRef(Py_None);
    if (!span || PyObject_SetAttrString(exc, "span", span) < 0) {
        Py_XDECREF(span);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(span);
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- arrays ---------------------------------------------------------------------------- */

/* einc's dtype for a PEP 3118 format, or -1 for one einc does not take as it is. */
static int format_dtype(const char *f, Py_ssize_t itemsize)
{
    if (!f)
        f = "B";
#if PY_LITTLE_ENDIAN
    if (*f == '<')
        f++;
#else
    if (*f == '>' || *f == '!')
        f++;
#endif
    else if (*f == '@' || *f == '=')
        f++;
    if (!f[0] || f[1])
        return -1;
    switch (f[0]) {
    case '?':
        return itemsize == 1 ? EINC_BOOL : -1;
    case 'f':
        return itemsize == 4 ? EINC_F32 : -1;
    case 'd':
        return itemsize == 8 ? EINC_F64 : -1;
    case 'i':
    case 'l':
    case 'q':
        return itemsize == 4 ? EINC_I32 : itemsize == 8 ? EINC_I64 : -1;
    default:
        return -1;
    }
}

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

static int arrays_init(arrays *a, int n)
{
    memset(a, 0, offsetof(arrays, view_small));
    a->view = a->view_small;
    a->t = a->t_small;
    a->dims = a->dims_small;
    a->cap = 4;
    a->rank_cap = 8;
    if (n > 4) {
        a->view = PyMem_Calloc((size_t)n, sizeof *a->view);
        a->t = PyMem_Calloc((size_t)n, sizeof *a->t);
        a->dims = PyMem_Calloc((size_t)n * 2 * (size_t)a->rank_cap, sizeof *a->dims);
        a->cap = n;
    }
    if (!a->view || !a->t || !a->dims) {
        if (n > 4) {
            PyMem_Free(a->view);
            PyMem_Free(a->t);
            PyMem_Free(a->dims);
        }
        a->view = NULL;
        a->t = NULL;
        a->dims = NULL;
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void arrays_release(arrays *a)
{
    for (int i = 0; i < a->n; i++)
        PyBuffer_Release(&a->view[i]);
    if (a->view != a->view_small)
        PyMem_Free(a->view);
    if (a->t != a->t_small)
        PyMem_Free(a->t);
    if (a->dims != a->dims_small)
        PyMem_Free(a->dims);
    a->n = 0;
}

/* Room for ranks up to EINC_MAX_RANK, once an array needs more than the small buffers give. */
static int arrays_grow(arrays *a, int total)
{
    int64_t *d = PyMem_Calloc((size_t)total * 2 * EINC_MAX_RANK, sizeof *d);
    if (!d) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < a->n; i++) {        /* the arrays taken so far move along */
        int64_t *sh = d + (size_t)i * 2 * EINC_MAX_RANK;
        memcpy(sh, a->t[i].shape, (size_t)a->t[i].ndim * sizeof *sh);
        memcpy(sh + EINC_MAX_RANK, a->t[i].strides, (size_t)a->t[i].ndim * sizeof *sh);
        a->t[i].shape = sh;
        a->t[i].strides = sh + EINC_MAX_RANK;
    }
    if (a->dims != a->dims_small)
        PyMem_Free(a->dims);
    a->dims = d;
    a->rank_cap = EINC_MAX_RANK;
    return 0;
}

/*
 * Takes obj as array a->n of total: 0 when einc can read (or, writable, write) it where it
 * lies; 1 when it cannot take it as it is (no buffer, another dtype, a byte order or
 * alignment it does not read, strides that are not whole elements): the caller's Python
 * layer converts it; -1 with an exception set.
 */
static int arrays_take(arrays *a, PyObject *obj, int total, bool writable)
{
    if (!PyObject_CheckBuffer(obj))
        return 1;
    Py_buffer *v = &a->view[a->n];
    if (PyObject_GetBuffer(obj, v, writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO) < 0) {
        PyErr_Clear();
        return 1;
    }
    int dt = format_dtype(v->format, v->itemsize);
    bool ok = dt >= 0 && v->ndim <= EINC_MAX_RANK && (uintptr_t)v->buf % (uintptr_t)v->itemsize == 0;
    for (int d = 0; ok && d < v->ndim; d++)
        ok = v->strides[d] % v->itemsize == 0;
    if (!ok) {
        PyBuffer_Release(v);
        return 1;
    }
    if (v->ndim > a->rank_cap && arrays_grow(a, total) < 0) {
        PyBuffer_Release(v);
        return -1;
    }
    int64_t *sh = a->dims + (size_t)a->n * 2 * (size_t)a->rank_cap, *st = sh + a->rank_cap;
    for (int d = 0; d < v->ndim; d++) {
        sh[d] = v->shape[d];
        st[d] = v->strides[d] / v->itemsize;
    }
    a->t[a->n] = (einc_tensor){ (einc_dtype)dt, v->ndim, sh, st, v->buf };
    a->n++;
    return 0;
}

/* The byte range [lo, hi) the array's elements lie in; lo == hi when it has none. */
static void byte_range(const Py_buffer *v, char **lo, char **hi)
{
    char *b = v->buf, *l = b, *h = b + v->itemsize;
    for (int d = 0; d < v->ndim; d++) {
        if (v->shape[d] == 0) {
            *lo = *hi = b;
            return;
        }
        Py_ssize_t ext = (v->shape[d] - 1) * v->strides[d];
        if (ext < 0)
            l += ext;
        else
            h += ext;
    }
    *lo = l;
    *hi = h;
}

/* A new C-ordered numpy array. */
static PyObject *new_array(einc_dtype dt, int ndim, const int64_t *shape)
{
    PyObject *sh = PyTuple_New(ndim);
    if (!sh)
        return NULL;
    for (int d = 0; d < ndim; d++) {
        PyObject *x = PyLong_FromLongLong(shape[d]);
        if (!x) {
            Py_DECREF(sh);
            return NULL;
        }
        PyTuple_SET_ITEM(sh, d, x);
    }
    PyObject *args[2] = { sh, S.dtypes[dt] };
    PyObject *r = PyObject_Vectorcall(S.np_empty, args, 2, NULL);
    Py_DECREF(sh);
    return r;
}

/* ---- kernels --------------------------------------------------------------------------- */

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

static PyTypeObject KernelType;

/* The output's dtype and shape for these inputs, from the memo or from einc. */
static int output_of(Kernel *K, const arrays *a, einc_dtype *dt, int *ndim, int64_t *shape)
{
    int64_t sig[64];
    int len = 0;
    for (int i = 0; i < a->n && len >= 0; i++) {
        if (len + 2 + a->t[i].ndim > 64) {
            len = -1;           /* too long to remember: ask einc every time */
            break;
        }
        sig[len++] = a->t[i].dtype;
        sig[len++] = a->t[i].ndim;
        for (int d = 0; d < a->t[i].ndim; d++)
            sig[len++] = a->t[i].shape[d];
    }
    if (len > 0 && len == K->memo_len && memcmp(sig, K->memo_in, (size_t)len * sizeof *sig) == 0) {
        *dt = K->memo_dtype;
        *ndim = K->memo_ndim;
        memcpy(shape, K->memo_shape, (size_t)K->memo_ndim * sizeof *shape);
        return 0;
    }
    einc_error err;
    if (einc_kernel_output(K->k, a->n, a->t, dt, ndim, shape, &err)) {
        raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
        return -1;
    }
    if (len > 0) {
        K->memo_len = len;
        memcpy(K->memo_in, sig, (size_t)len * sizeof *sig);
        K->memo_dtype = *dt;
        K->memo_ndim = *ndim;
        memcpy(K->memo_shape, shape, (size_t)*ndim * sizeof *shape);
    }
    return 0;
}

static int run_kernel(Kernel *K, const arrays *a, const einc_tensor *out)
{
    einc_error err;
    einc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = einc_kernel_run(K->k, a->n, a->t, out, &err);
    Py_END_ALLOW_THREADS
    if (st) {
        raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
        return -1;
    }
    return 0;
}

/* A model's several results: a tuple of new arrays, in order (no memo: models run big). */
static PyObject *call_outputs(Kernel *K, const arrays *a)
{
    einc_tensor ot[EINC_MAX_OPERANDS];
    int64_t shape[EINC_MAX_OPERANDS][EINC_MAX_RANK];
    Py_buffer v[EINC_MAX_OPERANDS];
    int nv = 0;
    einc_error err;
    PyObject *res = K->noutputs <= EINC_MAX_OPERANDS ? PyTuple_New(K->noutputs) : NULL;
    if (!res)
        return K->noutputs > EINC_MAX_OPERANDS ? PyErr_Format(PyExc_ValueError, "too many results")
                                               : NULL;
    for (int i = 0; i < K->noutputs; i++) {
        ot[i] = (einc_tensor){ .shape = shape[i] };
        if (einc_kernel_output_at(K->k, i, a->n, a->t, &ot[i].dtype, &ot[i].ndim, shape[i], &err)) {
            raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
            goto fail;
        }
        PyObject *x = new_array(ot[i].dtype, ot[i].ndim, shape[i]);
        if (!x)
            goto fail;
        PyTuple_SET_ITEM(res, i, x);
        if (PyObject_GetBuffer(x, &v[i], PyBUF_SIMPLE | PyBUF_WRITABLE) < 0)
            goto fail;
        nv++;
        ot[i].data = v[i].buf;
    }
    einc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = einc_kernel_run_outputs(K->k, a->n, a->t, K->noutputs, ot, &err);
    Py_END_ALLOW_THREADS
    if (st) {
        raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
        goto fail;
    }
    for (int i = 0; i < nv; i++)
        PyBuffer_Release(&v[i]);
    return res;
fail:
    for (int i = 0; i < nv; i++)
        PyBuffer_Release(&v[i]);
    Py_DECREF(res);
    return NULL;
}

/*
 * Runs K on the arrays; into out when it is not NULL and has the result's dtype and shape.
 * NotImplemented (a new reference, no exception) when an array or out is not one einc
 * takes as it is: the Python layer converts them and calls again.
 */
static PyObject *kernel_call(Kernel *K, PyObject *const *ops, Py_ssize_t n, PyObject *out)
{
    if (n != K->ninputs) {
        if (K->model)
            return PyErr_Format(PyExc_TypeError, "the model takes %d inputs, %zd given", K->ninputs, n);
        return PyErr_Format(PyExc_ValueError, "'%U' takes %d operand%s, %zd given", K->source,
                            K->ninputs, K->ninputs == 1 ? "" : "s", n);
    }
    arrays a;
    if (arrays_init(&a, (int)n) < 0)
        return NULL;
    PyObject *res = NULL, *tmp = NULL;
    Py_buffer ov;
    bool have_ov = false;
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = arrays_take(&a, ops[i], (int)n, false);
        if (r) {
            res = r > 0 ? Py_NewRef(Py_NotImplemented) : NULL;
            goto done;
        }
    }
    if (K->noutputs != 1) {
        if (out)
            PyErr_Format(PyExc_TypeError, "out= takes one array, and the model returns %d results",
                         K->noutputs);
        else
            res = call_outputs(K, &a);
        goto done;
    }
    einc_dtype dt;
    int ndim;
    int64_t shape[EINC_MAX_RANK];
    if (output_of(K, &a, &dt, &ndim, shape) < 0)
        goto done;
    einc_tensor ot = { dt, ndim, shape, NULL, NULL };
    int64_t ostrides[EINC_MAX_RANK];
    if (out) {
        if (!PyObject_CheckBuffer(out) || PyObject_GetBuffer(out, &ov, PyBUF_RECORDS) < 0) {
            PyErr_Clear();
            res = Py_NewRef(Py_NotImplemented);
            goto done;
        }
        have_ov = true;
        bool ok = format_dtype(ov.format, ov.itemsize) == (int)dt && ov.ndim == ndim &&
                  (uintptr_t)ov.buf % (uintptr_t)ov.itemsize == 0;
        for (int d = 0; ok && d < ndim; d++) {
            ok = ov.shape[d] == shape[d] && ov.strides[d] % ov.itemsize == 0;
            ostrides[d] = ov.strides[d] / ov.itemsize;
        }
        if (!ok) {
            res = Py_NewRef(Py_NotImplemented);
            goto done;
        }
        /* an out= that shares memory with an input is written once the kernel is done */
        char *olo, *ohi;
        byte_range(&ov, &olo, &ohi);
        bool overlap = false;
        for (int i = 0; i < a.n && !overlap; i++) {
            char *lo, *hi;
            byte_range(&a.view[i], &lo, &hi);
            overlap = lo < hi && olo < ohi && lo < ohi && olo < hi;
        }
        if (!overlap) {
            ot.strides = ostrides;
            ot.data = ov.buf;
            if (run_kernel(K, &a, &ot) == 0)
                res = Py_NewRef(out);
            goto done;
        }
    }
    tmp = new_array(dt, ndim, shape);
    Py_buffer tv;
    if (!tmp || PyObject_GetBuffer(tmp, &tv, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0)
        goto done;
    ot.data = tv.buf;
    int rc = run_kernel(K, &a, &ot);
    PyBuffer_Release(&tv);
    if (rc < 0)
        goto done;
    if (out) {
        /* the views are let go first: numpy.copyto needs no buffer of ours held */
        PyBuffer_Release(&ov);
        have_ov = false;
        PyObject *r = PyObject_CallFunctionObjArgs(S.np_copyto, out, tmp, NULL);
        if (r) {
            Py_DECREF(r);
            res = Py_NewRef(out);
        }
        goto done;
    }
    res = tmp;
    tmp = NULL;
done:
    if (have_ov)
        PyBuffer_Release(&ov);
    Py_XDECREF(tmp);
    arrays_release(&a);
    return res;
}

/* out= among keyword arguments (vectorcall's kwnames); -1 for any other keyword. */
static int find_out(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    *out = NULL;
    Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nk; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_Compare(name, S.s_out) != 0)
            return -1;
        *out = args[nargs + i] == Py_None ? NULL : args[nargs + i];
    }
    return 0;
}

static PyObject *kernel_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    PyObject *out;
    if (find_out(args, n, kwnames, &out) < 0)
        return PyErr_Format(PyExc_TypeError, "a kernel takes arrays and out= only");
    return kernel_call((Kernel *)self, args, n, out);
}

static void kernel_dealloc(Kernel *K)
{
    einc_kernel_free(K->k);
    Py_XDECREF(K->source);
    Py_XDECREF(K->origin);
    PyMem_Free(K->src);
    Py_TYPE(K)->tp_free((PyObject *)K);
}

/* A kernel for source with these options; sizes is a sequence of (name, value) pairs. */
static PyObject *kernel_new(PyObject *source, int model, int dialect, int reduce, PyObject *sizes,
                            int target, long long max_memory, PyObject *origin)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(source, &len);
    if (!s)
        return NULL;
    if ((Py_ssize_t)strlen(s) != len)
        return PyErr_Format(PyExc_ValueError, "an expression must not hold a NUL character");
    Kernel *K = PyObject_New(Kernel, &KernelType);
    if (!K)
        return NULL;
    K->vectorcall = kernel_vectorcall;
    K->k = NULL;
    K->source = Py_NewRef(source);
    K->origin = Py_NewRef(origin ? origin : Py_None);
    K->memo_len = 0;
    K->model = model;
    K->target = target;
    K->src = PyMem_Malloc((size_t)len + 1);
    if (!K->src) {
        Py_DECREF(K);
        return PyErr_NoMemory();
    }
    memcpy(K->src, s, (size_t)len + 1);
    einc_options o = { 0 };
    o.reduce = (einc_reduce)reduce;
    o.target = (einc_target)target;
    o.dialect = (einc_dialect)dialect;
    o.max_memory = max_memory;
    PyObject *seq = sizes && sizes != Py_None ? PySequence_Fast(sizes, "sizes must be (name, value) pairs") : NULL;
    if (sizes && sizes != Py_None && !seq) {
        Py_DECREF(K);
        return NULL;
    }
    Py_ssize_t ns = seq ? PySequence_Fast_GET_SIZE(seq) : 0;
    einc_size *sz = PyMem_Calloc((size_t)ns + 1, sizeof *sz);
    if (!sz) {
        Py_XDECREF(seq);
        Py_DECREF(K);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        const char *name;
        long long v;
        if (!PyArg_ParseTuple(pair, "sL;sizes must be (name, value) pairs", &name, &v)) {
            PyMem_Free(sz);
            Py_XDECREF(seq);
            Py_DECREF(K);
            return NULL;
        }
        sz[i].name = name;      /* borrowed from the pair, which seq holds */
        sz[i].value = v;
    }
    o.nsizes = (int)ns;
    o.sizes = sz;
    einc_error err;
    einc_status st = model ? einc_compile_model(S.ctx, K->src, &o, &K->k, &err)
                           : einc_compile(S.ctx, K->src, &o, &K->k, &err);
    PyMem_Free(sz);
    Py_XDECREF(seq);
    if (st) {
        raise_error(&err, K->src, origin && origin != Py_None ? PyUnicode_AsUTF8(origin) : NULL);
        Py_DECREF(K);
        return NULL;
    }
    K->ninputs = einc_kernel_ninputs(K->k);
    K->noutputs = einc_kernel_noutputs(K->k);
    return (PyObject *)K;
}

static PyObject *kernel_tp_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)type;
    static char *names[] = { "source", "model", "dialect", "reduce", "sizes", "target",
                             "max_memory", "origin", NULL };
    PyObject *source, *sizes = NULL, *origin = NULL;
    int model = 0, dialect = 0, reduce = 0, target = S.default_target;
    long long max_memory = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|$piiOiLO", names, &source, &model, &dialect,
                                     &reduce, &sizes, &target, &max_memory, &origin))
        return NULL;
    return kernel_new(source, model, dialect, reduce, sizes, target, max_memory, origin);
}

/* Every argument an array einc takes as it is (the Python layer converts them first). */
static int take_all(Kernel *K, arrays *a, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (arrays_init(a, (int)n) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = arrays_take(a, PyTuple_GET_ITEM(args, i), (int)n, false);
        if (r) {
            if (r > 0)
                PyErr_Format(PyExc_TypeError, "argument %zd is not an array einc takes as it is "
                             "(float32, float64, int32, int64 or bool, native byte order)", i);
            arrays_release(a);
            return -1;
        }
    }
    (void)K;
    return 0;
}

static PyObject *kernel_output(Kernel *K, PyObject *args)
{
    arrays a;
    if (take_all(K, &a, args) < 0)
        return NULL;
    einc_dtype dt;
    int ndim;
    int64_t shape[EINC_MAX_RANK];
    PyObject *res = NULL;
    if (output_of(K, &a, &dt, &ndim, shape) == 0) {
        PyObject *sh = PyTuple_New(ndim);
        for (int d = 0; sh && d < ndim; d++) {
            PyObject *x = PyLong_FromLongLong(shape[d]);
            if (!x) {
                Py_CLEAR(sh);
                break;
            }
            PyTuple_SET_ITEM(sh, d, x);
        }
        if (sh)
            res = Py_BuildValue("(ON)", S.dtypes[dt], sh);
    }
    arrays_release(&a);
    return res;
}

static PyObject *kernel_explain(Kernel *K, PyObject *args, PyObject *kw)
{
    static char *names[] = { "dot", NULL };
    int dot = 0;
    PyObject *none = PyTuple_New(0);
    if (!none)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(none, kw, "|$p", names, &dot);
    Py_DECREF(none);
    if (!ok)
        return NULL;
    arrays a;
    if (take_all(K, &a, args) < 0)
        return NULL;
    einc_error err;
    char *text = dot ? einc_kernel_explain_dot(K->k, a.n, a.n ? a.t : NULL, &err)
                     : einc_kernel_explain(K->k, a.n, a.n ? a.t : NULL, &err);
    arrays_release(&a);
    if (!text)
        return raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
    PyObject *r = PyUnicode_FromString(text);
    free(text);
    return r;
}

static PyObject *kernel_emit(Kernel *K, PyObject *args, PyObject *kw)
{
    static char *names[] = { "kind", "name", "dtype", "cpu", NULL };
    static const char *kinds[] = { "c", "header", "cuda", "llvm", "asm", "ptx", "obj" };
    const char *kind = "c", *name = NULL, *cpu = NULL;
    int dtype = EINC_F32;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|s$ziz", names, &kind, &name, &dtype, &cpu))
        return NULL;
    int what = -1;
    for (int i = 0; i < (int)(sizeof kinds / sizeof *kinds); i++)
        if (strcmp(kind, kinds[i]) == 0)
            what = i;
    if (what < 0)
        return PyErr_Format(PyExc_ValueError, "unknown kind '%s': c, header, cuda, llvm, asm, ptx or obj",
                            kind);
    einc_emit_options o = { 0 };
    o.name = name;
    o.dtype = (einc_dtype)dtype;
    o.cpu = cpu;
    einc_error err;
    size_t len = 0;
    char *text = einc_kernel_emit_opts(K->k, (einc_emit_kind)what, &o, &len, &err);
    if (!text)
        return raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
    PyObject *r = what == EINC_EMIT_OBJ ? PyBytes_FromStringAndSize(text, (Py_ssize_t)len)
                                        : PyUnicode_FromString(text);
    free(text);
    return r;
}

static PyObject *kernel_input_names(Kernel *K, void *closure)
{
    (void)closure;
    PyObject *t = PyTuple_New(K->ninputs);
    for (int i = 0; t && i < K->ninputs; i++) {
        const char *s = einc_kernel_input_name(K->k, i);
        PyObject *x = s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
        if (!x) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *kernel_output_names(Kernel *K, void *closure)
{
    (void)closure;
    PyObject *t = PyTuple_New(K->noutputs);
    for (int i = 0; t && i < K->noutputs; i++) {
        PyObject *x = PyUnicode_FromString(einc_kernel_output_name(K->k, i));
        if (!x) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *kernel_input_dtypes(Kernel *K, void *closure)
{
    (void)closure;
    einc_dtype dt[EINC_MAX_OPERANDS];
    einc_error err;
    if (K->ninputs > EINC_MAX_OPERANDS)
        return PyErr_Format(PyExc_ValueError, "too many inputs");
    if (einc_kernel_input_dtypes(K->k, dt, &err))
        return raise_error(&err, K->src, NULL);
    PyObject *t = PyTuple_New(K->ninputs);
    for (int i = 0; t && i < K->ninputs; i++)
        PyTuple_SET_ITEM(t, i, Py_NewRef(S.dtypes[dt[i]]));
    return t;
}

static PyObject *kernel_repr(Kernel *K)
{
    if (K->model)
        return PyUnicode_FromFormat("<einc kernel of a model, %d inputs>", K->ninputs);
    return PyUnicode_FromFormat("<einc kernel '%U'>", K->source);
}

static PyMethodDef kernel_methods[] = {
    { "output", (PyCFunction)kernel_output, METH_VARARGS,
      "output(*arrays) -> (dtype, shape) of the result for these arrays" },
    { "explain", (PyCFunction)(void (*)(void))kernel_explain, METH_VARARGS | METH_KEYWORDS,
      "explain(*arrays, dot=False) -> how einc understood the expression" },
    { "emit", (PyCFunction)(void (*)(void))kernel_emit, METH_VARARGS | METH_KEYWORDS,
      "emit(kind='c', *, name=None, dtype=0, cpu=None) -> kernel source (bytes for 'obj')" },
    { NULL, NULL, 0, NULL }
};

static PyMemberDef kernel_members[] = {
    { "source", T_OBJECT, offsetof(Kernel, source), READONLY, "the expression or model text" },
    { "ninputs", T_INT, offsetof(Kernel, ninputs), READONLY, "how many arrays it takes" },
    { "noutputs", T_INT, offsetof(Kernel, noutputs), READONLY, "how many results it gives" },
    { "target", T_INT, offsetof(Kernel, target), READONLY, "its einc_target" },
    { NULL, 0, 0, 0, NULL }
};

static PyGetSetDef kernel_getset[] = {
    { "input_names", (getter)kernel_input_names, NULL, "a model's input names, in order", NULL },
    { "input_dtypes", (getter)kernel_input_dtypes, NULL, "the dtype each input must have", NULL },
    { "output_names", (getter)kernel_output_names, NULL, "the results' names, in order", NULL },
    { NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "einc._einc.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_dealloc = (destructor)kernel_dealloc,
    .tp_vectorcall_offset = offsetof(Kernel, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = (reprfunc)kernel_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Kernel(source, *, model=False, dialect=0, reduce=0, sizes=(), target=default, "
              "max_memory=0, origin=None): a compiled einc expression or model; call it on arrays",
    .tp_methods = kernel_methods,
    .tp_members = kernel_members,
    .tp_getset = kernel_getset,
    .tp_new = kernel_tp_new,
};

/* ---- the cache and einsum's fast path -------------------------------------------------- */

/*
 * The cached kernel for key, compiled on a miss.  The key of numpy's einsum form with every
 * default is the subscripts string itself (the fast path builds no tuple); any other is a
 * tuple of everything the kernel depends on.
 */
static PyObject *cached(PyObject *key, PyObject *source, int dialect, int reduce, PyObject *sizes,
                        int target, long long max_memory)
{
    PyObject *k = PyDict_GetItemWithError(S.cache, key);
    if (k)
        return Py_NewRef(k);
    if (PyErr_Occurred())
        return NULL;
    k = kernel_new(source, 0, dialect, reduce, sizes, target, max_memory, NULL);
    if (!k)
        return NULL;
    if (PyDict_GET_SIZE(S.cache) >= CACHE_MAX)
        PyDict_Clear(S.cache);
    if (PyDict_SetItem(S.cache, key, k) < 0)
        Py_CLEAR(k);
    return k;
}

static PyObject *py_kernel(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *names[] = { "source", "dialect", "reduce", "sizes", "target", "max_memory", NULL };
    PyObject *source, *sizes = S.empty_tuple;
    int dialect = EINC_DIALECT_AUTO, reduce = EINC_REDUCE_SUM, target = S.default_target;
    long long max_memory = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|iiO!iL", names, &source, &dialect, &reduce,
                                     &PyTuple_Type, &sizes, &target, &max_memory))
        return NULL;
    PyObject *key;
    bool plain = reduce == EINC_REDUCE_SUM && PyTuple_GET_SIZE(sizes) == 0 &&
                 target == (int)S.default_target && max_memory == 0;
    if (plain && dialect == EINC_DIALECT_NUMPY)     /* the keys einsum's fast path uses */
        key = Py_NewRef(source);
    else if (plain && dialect == EINC_DIALECT_EINOPS)
        key = PyTuple_Pack(2, source, S.s_einops);
    else
        key = Py_BuildValue("(OiiOiL)", source, dialect, reduce, sizes, target, max_memory);
    if (!key)
        return NULL;
    PyObject *k = cached(key, source, dialect, reduce, sizes, target, max_memory);
    Py_DECREF(key);
    return k;
}

/* optimize= values einc's own path choice covers: False, True, 'greedy', 'optimal'. */
static bool plain_optimize(PyObject *v)
{
    if (v == Py_True || v == Py_False || v == Py_None)
        return true;
    return PyUnicode_CheckExact(v) &&
           (PyUnicode_Compare(v, S.s_greedy) == 0 || PyUnicode_Compare(v, S.s_optimal) == 0);
}

/*
 * einsum(subscripts, *operands, out=None, optimize=...) and einsum(*operands, pattern) on
 * arrays einc takes as they are; everything else goes to the Python layer unchanged.
 */
static PyObject *py_einsum(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)mod;
    PyObject *out = NULL;
    Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    bool fast = S.fallback != NULL && nargs >= 1;
    for (Py_ssize_t i = 0; fast && i < nk; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i), *v = args[nargs + i];
        if (PyUnicode_Compare(name, S.s_out) == 0)
            out = v == Py_None ? NULL : v;
        else
            fast = PyUnicode_Compare(name, S.s_optimize) == 0 && plain_optimize(v);
    }
    PyObject *k = NULL, *res = NULL;
    PyObject *const *ops = NULL;
    Py_ssize_t nops = 0;
    if (fast && PyUnicode_CheckExact(args[0])) {
        ops = args + 1;
        nops = nargs - 1;
        k = cached(args[0], args[0], EINC_DIALECT_NUMPY, EINC_REDUCE_SUM, S.empty_tuple,
                   S.default_target, 0);
    } else if (fast && nargs >= 2 && PyUnicode_CheckExact(args[nargs - 1])) {
        ops = args;
        nops = nargs - 1;
        PyObject *key = PyTuple_Pack(2, args[nargs - 1], S.s_einops);
        k = key ? cached(key, args[nargs - 1], EINC_DIALECT_EINOPS, EINC_REDUCE_SUM, S.empty_tuple,
                         S.default_target, 0) : NULL;
        Py_XDECREF(key);
    } else {
        fast = false;
    }
    if (fast) {
        if (!k)
            return NULL;
        if (((Kernel *)k)->ninputs == nops)
            res = kernel_call((Kernel *)k, ops, nops, out);
        else
            res = Py_NewRef(Py_NotImplemented);     /* the Python layer says what is wrong */
        Py_DECREF(k);
        if (!res)
            return NULL;
        if (res != Py_NotImplemented) {
            if (!out && PyObject_CheckBuffer(res)) {
                /* numpy's einsum gives a scalar, not a 0-d array, for a full contraction */
                Py_buffer v;
                if (PyObject_GetBuffer(res, &v, PyBUF_ND) == 0) {
                    int nd = v.ndim;
                    PyBuffer_Release(&v);
                    if (nd == 0) {
                        PyObject *s = PyObject_GetItem(res, S.empty_tuple);
                        Py_DECREF(res);
                        return s;
                    }
                } else {
                    PyErr_Clear();
                }
            }
            return res;
        }
        Py_DECREF(res);
    }
    if (!S.fallback)
        return PyErr_Format(PyExc_RuntimeError, "einc's Python layer is not loaded");
    return PyObject_Vectorcall(S.fallback, args, (size_t)nargs, kwnames);
}

static PyObject *py_set_fallback(PyObject *mod, PyObject *f)
{
    (void)mod;
    if (!PyCallable_Check(f))
        return PyErr_Format(PyExc_TypeError, "the fallback must be callable");
    Py_XSETREF(S.fallback, Py_NewRef(f));
    Py_RETURN_NONE;
}

static PyObject *py_format_error(PyObject *mod, PyObject *args)
{
    (void)mod;
    const char *msg, *source;
    int begin, end, status = EINC_ERR_SYNTAX;
    if (!PyArg_ParseTuple(args, "ssii|i", &msg, &source, &begin, &end, &status))
        return NULL;
    einc_error e = { (einc_status)status, begin, end, { 0 } };
    snprintf(e.message, sizeof e.message, "%s", msg);
    return raise_error(&e, source, NULL);
}

static PyObject *py_threads(PyObject *mod, PyObject *noargs)
{
    (void)mod;
    (void)noargs;
    return PyLong_FromLong(einc_ctx_threads(S.ctx));
}

static PyObject *py_jit_compiles(PyObject *mod, PyObject *noargs)
{
    (void)mod;
    (void)noargs;
    return PyLong_FromLong(einc_ctx_jit_compiles(S.ctx));
}

static PyMethodDef module_methods[] = {
    { "einsum", (PyCFunction)(void (*)(void))py_einsum, METH_FASTCALL | METH_KEYWORDS,
      "einsum(subscripts, *operands, out=None, dtype=None, order='K', casting='safe', optimize=False)\n"
      "einsum(*operands, pattern)\n\n"
      "numpy.einsum's signature (and its sublist form), or einops.einsum's (the pattern last)." },
    { "kernel", (PyCFunction)(void (*)(void))py_kernel, METH_VARARGS | METH_KEYWORDS,
      "kernel(source, dialect, reduce, sizes, target, max_memory) -> the cached Kernel" },
    { "set_fallback", py_set_fallback, METH_O, "einsum's Python path" },
    { "raise_error", py_format_error, METH_VARARGS,
      "raise_error(message, source, begin, end[, status]): raises it as einc's own errors" },
    { "threads", py_threads, METH_NOARGS, "the JIT's thread count" },
    { "jit_compiles", py_jit_compiles, METH_NOARGS, "how many times LLVM has run in this process" },
    { NULL, NULL, 0, NULL }
};

static void module_free(void *m)
{
    (void)m;
    Py_CLEAR(S.cache);          /* the kernels first: they hang off the context */
    Py_CLEAR(S.fallback);
    Py_CLEAR(S.np_empty);
    Py_CLEAR(S.np_copyto);
    for (int i = 0; i < EINC_DTYPE_COUNT; i++)
        Py_CLEAR(S.dtypes[i]);
    Py_CLEAR(S.empty_tuple);
    Py_CLEAR(S.s_out);
    Py_CLEAR(S.s_optimize);
    Py_CLEAR(S.s_greedy);
    Py_CLEAR(S.s_optimal);
    Py_CLEAR(S.s_einops);
    /* a Kernel that outlives the module only frees its own arena (einc_kernel_free) */
    einc_ctx_free(S.ctx);
    S.ctx = NULL;
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_einc", "einc's C extension: kernels, the kernel cache, einsum's fast path",
    -1, module_methods, NULL, NULL, NULL, module_free,
};

/* Whether this build has the CPU JIT: a kernel for it compiles, or says why not. */
static einc_target probe_target(void)
{
    einc_options o = { 0 };
    o.target = EINC_TARGET_CPU;
    einc_kernel *k = NULL;
    einc_error err;
    einc_status st = einc_compile(S.ctx, "i->i", &o, &k, &err);
    einc_kernel_free(k);
    return st == EINC_ERR_UNSUPPORTED ? EINC_TARGET_INTERP : EINC_TARGET_CPU;
}

PyMODINIT_FUNC PyInit__einc(void)
{
    if (PyType_Ready(&KernelType) < 0)
        return NULL;
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) {
        Py_DECREF(np);
        return NULL;
    }
    static const char *names[EINC_DTYPE_COUNT] = {
        [EINC_F32] = "float32", [EINC_F64] = "float64", [EINC_I32] = "int32",
        [EINC_I64] = "int64", [EINC_BOOL] = "bool",
    };
    PyObject *np_dtype = PyObject_GetAttrString(np, "dtype");
    S.np_empty = PyObject_GetAttrString(np, "empty");
    S.np_copyto = PyObject_GetAttrString(np, "copyto");
    Py_DECREF(np);
    for (int i = 0; np_dtype && i < EINC_DTYPE_COUNT; i++)
        S.dtypes[i] = names[i] ? PyObject_CallFunction(np_dtype, "s", names[i]) : NULL;
    Py_XDECREF(np_dtype);
    S.cache = PyDict_New();
    S.empty_tuple = PyTuple_New(0);
    S.s_out = PyUnicode_InternFromString("out");
    S.s_optimize = PyUnicode_InternFromString("optimize");
    S.s_greedy = PyUnicode_InternFromString("greedy");
    S.s_optimal = PyUnicode_InternFromString("optimal");
    S.s_einops = PyUnicode_InternFromString("einops");
    S.ctx = einc_ctx_new();
    bool ok = S.np_empty && S.np_copyto && S.cache && S.empty_tuple && S.s_out && S.s_optimize &&
              S.s_greedy && S.s_optimal && S.s_einops;
    for (int i = 0; i < EINC_DTYPE_COUNT; i++)     /* the package takes the five first only */
        ok = ok && (S.dtypes[i] || !names[i]);
    if (ok && !S.ctx) {
        PyErr_NoMemory();
        ok = false;
    }
    if (ok) {
        S.default_target = probe_target();
        ok = PyModule_AddObjectRef(m, "Kernel", (PyObject *)&KernelType) == 0 &&
             PyModule_AddStringConstant(m, "version", einc_version()) == 0 &&
             PyModule_AddIntConstant(m, "DEFAULT_TARGET", S.default_target) == 0 &&
             PyModule_AddObjectRef(m, "_cache", S.cache) == 0;
    }
    if (!ok) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
