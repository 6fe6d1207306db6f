/*
 * _einc_kernel.c — the Kernel type: an einc kernel as a Python object, called on arrays
 * (vectorcall), with its output shapes, explain text, emitted source and input names.
 */
#include "_einc.h"

#include <structmember.h>
#include <string.h>

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
        ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
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

/*
 * Whether a failed run is the CPU JIT refusing a dtype it does not compute yet (README,
 * "Dtypes": complex and uint64 run in the interpreter under target auto): the call answers
 * NotImplemented, and the Python layer runs the arrays under target auto.  einc refuses them
 * before it runs anything, so no output has been written.
 */
static bool jit_refused(const Kernel *K, einc_status st)
{
    return st == EINC_ERR_UNSUPPORTED && K->target == EINC_TARGET_CPU;
}

/* 0 when the kernel ran; 1 when jit_refused; -1 with an exception set. */
static int run_kernel(Kernel *K, const arrays *a, const einc_tensor *out)
{
    einc_error err;
    einc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = einc_kernel_run(K->k, a->n, a->t, out, &err);
    Py_END_ALLOW_THREADS
    if (jit_refused(K, st))
        return 1;
    if (st) {
        ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
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
            ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
            goto fail;
        }
        PyObject *x = ext_new_array(ot[i].dtype, ot[i].ndim, shape[i]);
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
    if (jit_refused(K, st)) {
        for (int i = 0; i < nv; i++)
            PyBuffer_Release(&v[i]);
        Py_DECREF(res);
        return Py_NewRef(Py_NotImplemented);
    }
    if (st) {
        ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
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
PyObject *ext_kernel_call(Kernel *K, PyObject *const *ops, Py_ssize_t n, PyObject *out,
                          uint64_t bf16)
{
    if (n != K->ninputs) {
        if (K->model)
            return PyErr_Format(PyExc_TypeError, "the model takes %d inputs, %zd given", K->ninputs, n);
        return PyErr_Format(PyExc_ValueError, "'%U' takes %d operand%s, %zd given", K->source,
                            K->ninputs, K->ninputs == 1 ? "" : "s", n);
    }
    arrays a;
    if (ext_arrays_init(&a, (int)n) < 0)
        return NULL;
    PyObject *res = NULL, *tmp = NULL;
    Py_buffer ov;
    bool have_ov = false;
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = ext_arrays_take(&a, ops[i], (int)n, false, i < 64 && (bf16 >> i & 1));
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
        int odt = ext_format_dtype(ov.format, ov.itemsize);
        if (dt == EINC_BF16 && (odt == EINC_I16 || odt == EINC_U16))
            odt = EINC_BF16;    /* a bfloat16 result goes into 16-bit integers, its bits */
        Py_ssize_t align = odt == EINC_C64 || odt == EINC_C128 ? ov.itemsize / 2 : ov.itemsize;
        bool ok = odt == (int)dt && ov.ndim == ndim && (uintptr_t)ov.buf % (uintptr_t)align == 0;
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
        ext_byte_range(&ov, &olo, &ohi);
        bool overlap = false;
        for (int i = 0; i < a.n && !overlap; i++) {
            char *lo, *hi;
            ext_byte_range(&a.view[i], &lo, &hi);
            overlap = lo < hi && olo < ohi && lo < ohi && olo < hi;
        }
        if (!overlap) {
            ot.strides = ostrides;
            ot.data = ov.buf;
            int rc = run_kernel(K, &a, &ot);
            if (rc >= 0)
                res = Py_NewRef(rc ? Py_NotImplemented : out);
            goto done;
        }
    }
    tmp = ext_new_array(dt, ndim, shape);
    Py_buffer tv;
    if (!tmp || PyObject_GetBuffer(tmp, &tv, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0)
        goto done;
    ot.data = tv.buf;
    int rc = run_kernel(K, &a, &ot);
    PyBuffer_Release(&tv);
    if (rc) {
        if (rc > 0)
            res = Py_NewRef(Py_NotImplemented);
        goto done;
    }
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
    ext_arrays_release(&a);
    return res;
}

/* A bf16= mask (an int: bit i for operand i); -1 with an exception set. */
static int bf16_mask(PyObject *v, uint64_t *mask)
{
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "bf16= takes an int mask");
        return -1;
    }
    *mask = PyLong_AsUnsignedLongLongMask(v);
    return *mask == (uint64_t)-1 && PyErr_Occurred() ? -1 : 0;
}

/* out= and bf16= among keyword arguments (vectorcall's kwnames); -1 for any other keyword. */
static int find_out(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out,
                    uint64_t *bf16)
{
    *out = NULL;
    *bf16 = 0;
    Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nk; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_Compare(name, S.s_out) == 0)
            *out = args[nargs + i] == Py_None ? NULL : args[nargs + i];
        else if (PyUnicode_Compare(name, S.s_bf16) == 0 && bf16_mask(args[nargs + i], bf16) == 0)
            continue;
        else
            return -1;
    }
    return 0;
}

static PyObject *kernel_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    PyObject *out;
    uint64_t bf16;
    if (find_out(args, n, kwnames, &out, &bf16) < 0)
        return PyErr_Occurred() ? NULL
                                : PyErr_Format(PyExc_TypeError, "a kernel takes arrays, out= and bf16= only");
    return ext_kernel_call((Kernel *)self, args, n, out, bf16);
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
PyObject *ext_kernel_new(PyObject *source, int model, int dialect, int reduce, PyObject *sizes,
                            int target, long long max_memory, PyObject *origin)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(source, &len);
    if (!s)
        return NULL;
    if ((Py_ssize_t)strlen(s) != len)
        return PyErr_Format(PyExc_ValueError, "an expression must not hold a NUL character");
    Kernel *K = PyObject_New(Kernel, &ext_KernelType);
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
        ext_raise_error(&err, K->src, origin && origin != Py_None ? PyUnicode_AsUTF8(origin) : NULL);
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
    return ext_kernel_new(source, model, dialect, reduce, sizes, target, max_memory, origin);
}

/* Every argument an array einc takes as it is (the Python layer converts them first);
   bf16, when not NULL, is the bf16= keyword's mask. */
static int take_all(arrays *a, PyObject *args, PyObject *bf16)
{
    uint64_t mask = 0;
    if (bf16 && bf16_mask(bf16, &mask) < 0)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (ext_arrays_init(a, (int)n) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = ext_arrays_take(a, PyTuple_GET_ITEM(args, i), (int)n, false, i < 64 && (mask >> i & 1));
        if (r) {
            if (r > 0)
                PyErr_Format(PyExc_TypeError, "argument %zd is not an array einc takes as it is "
                             "(a bool, integer, float or complex numpy dtype, native byte order)", i);
            ext_arrays_release(a);
            return -1;
        }
    }
    return 0;
}

static PyObject *kernel_output(Kernel *K, PyObject *args, PyObject *kw)
{
    static char *names[] = { "bf16", "at", NULL };
    PyObject *bf16 = NULL;
    int at = 0;
    PyObject *none = PyTuple_New(0);
    if (!none)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(none, kw, "|$Oi", names, &bf16, &at);
    Py_DECREF(none);
    if (ok && (at < 0 || at >= K->noutputs))
        return PyErr_Format(PyExc_IndexError, "at=%d: the kernel has %d result%s", at, K->noutputs,
                            K->noutputs == 1 ? "" : "s");
    arrays a;
    if (!ok || take_all(&a, args, bf16) < 0)
        return NULL;
    einc_dtype dt;
    int ndim;
    int64_t shape[EINC_MAX_RANK];
    PyObject *res = NULL;
    einc_error err;
    int rc = K->noutputs == 1 ? output_of(K, &a, &dt, &ndim, shape) : 0;
    if (K->noutputs != 1 && einc_kernel_output_at(K->k, at, a.n, a.t, &dt, &ndim, shape, &err)) {
        ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
        rc = -1;
    }
    if (rc == 0) {
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
            res = Py_BuildValue("(NN)", ext_dtype_object(dt), sh);
    }
    ext_arrays_release(&a);
    return res;
}

/* One (dtype, shape, pointer) triple of run_device as an einc_tensor, its shape in shape. */
static int device_tensor(PyObject *spec, einc_tensor *t, int64_t *shape)
{
    int dt, nd;
    PyObject *sh;
    unsigned long long ptr;
    if (!PyArg_ParseTuple(spec, "iO!K;run_device takes (dtype, shape, pointer) triples", &dt,
                          &PyTuple_Type, &sh, &ptr))
        return -1;
    nd = (int)PyTuple_GET_SIZE(sh);
    if (dt < 0 || dt >= EINC_DTYPE_COUNT || nd > EINC_MAX_RANK) {
        PyErr_Format(PyExc_ValueError, "run_device: dtype %d or rank %d out of range", dt, nd);
        return -1;
    }
    for (int d = 0; d < nd; d++)
        if ((shape[d] = PyLong_AsLongLong(PyTuple_GET_ITEM(sh, d))) == -1 && PyErr_Occurred())
            return -1;
    *t = (einc_tensor){ (einc_dtype)dt, nd, shape, NULL, (void *)(uintptr_t)ptr };
    return 0;
}

/*
 * run_device(stream, inputs, out): einc_kernel_run_device on device memory: stream a
 * CUstream as an int (0: the default), inputs a sequence of (einc dtype, shape, device
 * pointer) triples, out one for the result, all C-contiguous (torch's CUDA tensors).
 */
static PyObject *kernel_run_device(Kernel *K, PyObject *args)
{
    unsigned long long stream;
    PyObject *ins, *outspec;
    if (!PyArg_ParseTuple(args, "KOO", &stream, &ins, &outspec))
        return NULL;
    PyObject *seq = PySequence_Fast(ins, "run_device takes a sequence of inputs");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > EINC_MAX_OPERANDS) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "run_device: too many inputs");
    }
    einc_tensor t[EINC_MAX_OPERANDS], out;
    int64_t (*shape)[EINC_MAX_RANK] = PyMem_Malloc(((size_t)n + 1) * sizeof *shape);
    if (!shape) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    int rc = device_tensor(outspec, &out, shape[n]);
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++)
        rc = device_tensor(PySequence_Fast_GET_ITEM(seq, i), &t[i], shape[i]);
    Py_DECREF(seq);
    einc_error err;
    einc_status st = EINC_OK;
    if (rc == 0) {
        Py_BEGIN_ALLOW_THREADS
        st = einc_kernel_run_device(K->k, (void *)(uintptr_t)stream, (int)n, t, &out, &err);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(shape);
    if (rc)
        return NULL;
    if (st)
        return ext_raise_error(&err, K->src, NULL);
    Py_RETURN_NONE;
}

static PyObject *kernel_explain(Kernel *K, PyObject *args, PyObject *kw)
{
    static char *names[] = { "dot", "bf16", NULL };
    int dot = 0;
    PyObject *bf16 = NULL;
    PyObject *none = PyTuple_New(0);
    if (!none)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(none, kw, "|$pO", names, &dot, &bf16);
    Py_DECREF(none);
    arrays a;
    if (!ok || take_all(&a, args, bf16) < 0)
        return NULL;
    einc_error err;
    char *text = dot ? einc_kernel_explain_dot(K->k, a.n, a.n ? a.t : NULL, &err)
                     : einc_kernel_explain(K->k, a.n, a.n ? a.t : NULL, &err);
    ext_arrays_release(&a);
    if (!text)
        return ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
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
        return ext_raise_error(&err, K->src, K->origin == Py_None ? NULL : PyUnicode_AsUTF8(K->origin));
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
        return ext_raise_error(&err, K->src, NULL);
    PyObject *t = PyTuple_New(K->ninputs);
    for (int i = 0; t && i < K->ninputs; i++) {
        PyObject *x = ext_dtype_object(dt[i]);
        if (!x) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *kernel_repr(Kernel *K)
{
    if (K->model)
        return PyUnicode_FromFormat("<einc kernel of a model, %d inputs>", K->ninputs);
    return PyUnicode_FromFormat("<einc kernel '%U'>", K->source);
}

static PyMethodDef kernel_methods[] = {
    { "output", (PyCFunction)(void (*)(void))kernel_output, METH_VARARGS | METH_KEYWORDS,
      "output(*arrays, bf16=0, at=0) -> (dtype, shape) of result at for these arrays "
      "('bfloat16' for bfloat16)" },
    { "run_device", (PyCFunction)kernel_run_device, METH_VARARGS,
      "run_device(stream, inputs, out): on CUDA device memory, (dtype, shape, pointer) each" },
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

PyTypeObject ext_KernelType = {
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
