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
 *
 * This file holds the module, its state, the kernel cache and einsum's fast path; the
 * Kernel type is in _einc_kernel.c and arrays and errors in _einc_arrays.c (_einc.h).
 */
#include "_einc.h"

#include <string.h>

/* Entries the kernel cache holds before it is emptied: a program that builds expressions
   on the fly must not grow it without bound, and recompiling is a cache miss, not an error. */
#define CACHE_MAX 4096

struct ext_state S;

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
    k = ext_kernel_new(source, 0, dialect, reduce, sizes, target, max_memory, NULL);
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
            res = ext_kernel_call((Kernel *)k, ops, nops, out, 0);
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
    return ext_raise_error(&e, source, NULL);
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
    Py_CLEAR(S.s_bf16);
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
    if (PyType_Ready(&ext_KernelType) < 0)
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
        [EINC_I64] = "int64", [EINC_BOOL] = "bool", [EINC_I8] = "int8", [EINC_I16] = "int16",
        [EINC_U8] = "uint8", [EINC_U16] = "uint16", [EINC_U32] = "uint32", [EINC_U64] = "uint64",
        [EINC_F16] = "float16", [EINC_BF16] = "uint16", [EINC_C64] = "complex64",
        [EINC_C128] = "complex128",     /* bfloat16 as its bits: numpy has no bfloat16 */
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
    S.s_bf16 = PyUnicode_InternFromString("bf16");
    S.s_optimize = PyUnicode_InternFromString("optimize");
    S.s_greedy = PyUnicode_InternFromString("greedy");
    S.s_optimal = PyUnicode_InternFromString("optimal");
    S.s_einops = PyUnicode_InternFromString("einops");
    S.ctx = einc_ctx_new();
    bool ok = S.np_empty && S.np_copyto && S.cache && S.empty_tuple && S.s_out && S.s_bf16 &&
              S.s_optimize && S.s_greedy && S.s_optimal && S.s_einops;
    for (int i = 0; i < EINC_DTYPE_COUNT; i++)
        ok = ok && S.dtypes[i];
    if (ok && !S.ctx) {
        PyErr_NoMemory();
        ok = false;
    }
    if (ok) {
        S.default_target = probe_target();
        ok = PyModule_AddObjectRef(m, "Kernel", (PyObject *)&ext_KernelType) == 0 &&
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

