/*
 * _einc_arrays.c — einc's errors as Python exceptions, and arrays: numpy's (and any PEP 3118
 * buffer's) memory read where it lies, with its strides, and results made by numpy.empty.
 */
#include "_einc.h"

#include <string.h>

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
PyObject *ext_raise_error(const einc_error *e, const char *source, const char *origin)
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

/*
 * einc's dtype for a PEP 3118 format, or -1 for one einc does not take as it is.  numpy
 * writes its dtypes as struct's codes ('b' int8 ... 'Q' uint64, 'e' float16) and complex as
 * 'Zf' and 'Zd'; C's int, long and long long are told apart by their size.  bfloat16 has no
 * code: its 16 bits come as an integer buffer that the caller names bfloat16 (bf16= masks).
 */
int ext_format_dtype(const char *f, Py_ssize_t itemsize)
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
    if (f[0] == 'Z' && f[1] && !f[2])
        return f[1] == 'f' && itemsize == 8    ? EINC_C64
               : f[1] == 'd' && itemsize == 16 ? EINC_C128
                                               : -1;
    if (!f[0] || f[1])
        return -1;
    switch (f[0]) {
    case '?':
        return itemsize == 1 ? EINC_BOOL : -1;
    case 'e':
        return itemsize == 2 ? EINC_F16 : -1;
    case 'f':
        return itemsize == 4 ? EINC_F32 : -1;
    case 'd':
        return itemsize == 8 ? EINC_F64 : -1;
    case 'b':
    case 'B':
        return itemsize != 1 ? -1 : f[0] == 'b' ? EINC_I8 : EINC_U8;
    case 'h':
    case 'i':
    case 'l':
    case 'q':
        return itemsize == 2 ? EINC_I16 : itemsize == 4 ? EINC_I32 : itemsize == 8 ? EINC_I64 : -1;
    case 'H':
    case 'I':
    case 'L':
    case 'Q':
        return itemsize == 2 ? EINC_U16 : itemsize == 4 ? EINC_U32 : itemsize == 8 ? EINC_U64 : -1;
    default:
        return -1;
    }
}

/* The Python object for einc's dtype dt: numpy's dtype, or the str 'bfloat16' (numpy has no
   bfloat16; a bfloat16 array is made as uint16, its bits). */
PyObject *ext_dtype_object(einc_dtype dt)
{
    return dt == EINC_BF16 ? PyUnicode_FromString("bfloat16") : Py_NewRef(S.dtypes[dt]);
}

int ext_arrays_init(arrays *a, int n)
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

void ext_arrays_release(arrays *a)
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
 * layer converts it; -1 with an exception set.  bf16: obj holds bfloat16 as 16-bit integers.
 */
int ext_arrays_take(arrays *a, PyObject *obj, int total, bool writable, bool bf16)
{
    if (!PyObject_CheckBuffer(obj) || PyBytes_Check(obj))     /* numpy reads bytes as a string */
        return 1;
    Py_buffer *v = &a->view[a->n];
    if (PyObject_GetBuffer(obj, v, writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO) < 0) {
        PyErr_Clear();
        return 1;
    }
    int dt = ext_format_dtype(v->format, v->itemsize);
    if (bf16)
        dt = dt == EINC_I16 || dt == EINC_U16 ? EINC_BF16 : -1;
    /* complex is read as its two parts: aligned as one part is */
    Py_ssize_t align = dt == EINC_C64 || dt == EINC_C128 ? v->itemsize / 2 : v->itemsize;
    bool ok = dt >= 0 && v->ndim <= EINC_MAX_RANK && (uintptr_t)v->buf % (uintptr_t)align == 0;
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
void ext_byte_range(const Py_buffer *v, char **lo, char **hi)
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
PyObject *ext_new_array(einc_dtype dt, int ndim, const int64_t *shape)
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
