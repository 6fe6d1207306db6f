"""A ctypes binding over libeinc.so (include/einc.h), as a C caller uses it.

Only what the conformance harness needs: a context, einc_compile with options (reduction,
target, dialect, named sizes), einc_kernel_output and einc_kernel_run on numpy arrays passed
with their real strides (in elements, negative and zero ones included) and their real data
pointers, never copied.  The struct layouts below mirror include/einc.h field for field.
"""

import ctypes
import numpy as np

# enum values, in the order include/einc.h declares them
F32, F64, I32, I64, BOOL, I8, I16, U8, U16, U32, U64, F16, BF16, C64, C128 = range(15)
REDUCE = {"sum": 0, "mean": 1, "max": 2, "min": 3, "prod": 4}
TARGET = {"auto": 0, "cpu": 1, "cuda": 2, "interp": 3}
DIALECT = {"auto": 0, "numpy": 1, "einops": 2}
MAX_RANK = 64

_DTYPES = {F32: np.dtype(np.float32), F64: np.dtype(np.float64), I32: np.dtype(np.int32),
           I64: np.dtype(np.int64), BOOL: np.dtype(np.bool_), I8: np.dtype(np.int8),
           I16: np.dtype(np.int16), U8: np.dtype(np.uint8), U16: np.dtype(np.uint16),
           U32: np.dtype(np.uint32), U64: np.dtype(np.uint64), F16: np.dtype(np.float16),
           C64: np.dtype(np.complex64), C128: np.dtype(np.complex128)}


def einc_dtype(dt):
    """einc's code for a numpy dtype, or None where einc has no such type.  Byte order
    counts: a byte-swapped array is not one a C caller can hand over as it is."""
    dt = np.dtype(dt)
    if not dt.isnative:
        return None
    for code, d in _DTYPES.items():
        if dt == d:
            return code
    return None


def numpy_dtype(code):
    return _DTYPES[code]


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("begin", ctypes.c_int32), ("end", ctypes.c_int32),
                ("message", ctypes.c_char * 512)]


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("data", ctypes.c_void_p)]


class Size(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_int64)]


class Options(ctypes.Structure):
    _fields_ = [("reduce", ctypes.c_int), ("target", ctypes.c_int), ("nsizes", ctypes.c_int),
                ("sizes", ctypes.POINTER(Size)), ("max_memory", ctypes.c_int64),
                ("dialect", ctypes.c_int)]


class EincError(Exception):
    """einc returned an error: status, message and span, as einc_error holds them."""

    def __init__(self, where, err):
        self.status = err.status
        self.span = (err.begin, err.end)
        self.message = err.message.decode("utf-8", "replace")
        super().__init__("%s: status %d: %s" % (where, self.status, self.message))


class Lib:
    def __init__(self, path):
        lib = ctypes.CDLL(path)
        vp, ip, i64p = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int64)
        lib.einc_version.restype = ctypes.c_char_p
        lib.einc_ctx_new.restype = vp
        lib.einc_ctx_free.argtypes = [vp]
        lib.einc_compile.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(Options),
                                     ctypes.POINTER(vp), ctypes.POINTER(Error)]
        lib.einc_kernel_free.argtypes = [vp]
        lib.einc_kernel_ninputs.argtypes = [vp]
        lib.einc_kernel_output.argtypes = [vp, ip, ctypes.POINTER(Tensor), ctypes.POINTER(ip),
                                           ctypes.POINTER(ip), i64p, ctypes.POINTER(Error)]
        lib.einc_kernel_run.argtypes = [vp, ip, ctypes.POINTER(Tensor), ctypes.POINTER(Tensor),
                                        ctypes.POINTER(Error)]
        for f in ("einc_compile", "einc_kernel_output", "einc_kernel_run"):
            getattr(lib, f).restype = ctypes.c_int
        self.lib = lib
        self.version = lib.einc_version().decode()
        self.ctx = lib.einc_ctx_new()
        if not self.ctx:
            raise MemoryError("einc_ctx_new")

    def close(self):
        if self.ctx:
            self.lib.einc_ctx_free(self.ctx)
            self.ctx = None

    def has_target(self, target):
        """Whether this build runs `target` (a build without LLVM has no CPU JIT)."""
        try:
            self.run("i->i", [np.arange(3, dtype=np.float32)], target=target, dialect="numpy")
            return True
        except EincError:
            return False

    def run(self, expr, arrays, reduce="sum", target="auto", dialect="auto", sizes=None,
            out_layout=None):
        """Compiles and runs `expr` on `arrays` (numpy arrays of einc's dtypes, any strides).

        out_layout, when given, is a function (dtype, shape) -> (array, check) that supplies
        the output buffer (a strided one, say) and a check to call after the run; otherwise
        the output is a fresh C-contiguous array filled with poison first.  Returns the
        output array; raises EincError with einc's message when einc refuses."""
        keep = []                       # ctypes objects that must outlive the calls
        sizes = sizes or {}
        size_arr = (Size * max(1, len(sizes)))()
        for i, (name, value) in enumerate(sizes.items()):
            b = name.encode()
            keep.append(b)
            size_arr[i] = Size(b, int(value))
        opt = Options(REDUCE[reduce], TARGET[target], len(sizes), size_arr, 0, DIALECT[dialect])
        err = Error()
        k = ctypes.c_void_p()
        if self.lib.einc_compile(self.ctx, expr.encode(), ctypes.byref(opt), ctypes.byref(k),
                                 ctypes.byref(err)):
            raise EincError("einc_compile", err)
        try:
            ins = (Tensor * max(1, len(arrays)))()
            for i, a in enumerate(arrays):
                ins[i] = self._tensor(a, keep)
            dt, nd = ctypes.c_int(), ctypes.c_int()
            shape = (ctypes.c_int64 * MAX_RANK)()
            if self.lib.einc_kernel_output(k, len(arrays), ins, ctypes.byref(dt), ctypes.byref(nd),
                                           shape, ctypes.byref(err)):
                raise EincError("einc_kernel_output", err)
            odt = numpy_dtype(dt.value)
            oshape = tuple(shape[d] for d in range(nd.value))
            if out_layout is not None:
                out, check = out_layout(odt, oshape)
            else:
                out, check = poisoned(odt, oshape), None
            o = self._tensor(out, keep)
            if self.lib.einc_kernel_run(k, len(arrays), ins, ctypes.byref(o), ctypes.byref(err)):
                raise EincError("einc_kernel_run", err)
            if check is not None:
                check()
            return out
        finally:
            self.lib.einc_kernel_free(k)

    @staticmethod
    def _tensor(a, keep):
        code = einc_dtype(a.dtype)
        if code is None:
            raise TypeError("einc has no dtype %s" % a.dtype)
        nd = a.ndim
        shape = (ctypes.c_int64 * max(1, nd))(*a.shape)
        strides = (ctypes.c_int64 * max(1, nd))(*element_strides(a))
        keep += [shape, strides]
        return Tensor(code, nd, shape, strides, a.ctypes.data)


def element_strides(a):
    """Strides in elements, as einc_tensor takes them.  numpy's are in bytes and need not be
    multiples of the item size (views into structured arrays); such an array is not one a
    C caller can describe, and the caller copies it first (see shim.as_operand)."""
    item = a.dtype.itemsize
    out = []
    for s in a.strides:
        if s % item:
            raise ValueError("stride %d is not a multiple of the item size %d" % (s, item))
        out.append(s // item)
    return out


def poison_value(dt):
    """A value einc never writes by accident: NaN for floats and complex (which no comparison
    passes); integers and bool get a byte pattern instead (fill)."""
    if dt.kind in "fc":
        return np.nan
    return None


def poisoned(dt, shape):
    a = np.empty(shape, dtype=dt)
    fill(a)
    return a


def fill(a):
    if a.dtype == np.bool_:
        a.view(np.uint8)[...] = 0x5A
    elif a.dtype.kind in "iu":      # 0xA5 in every byte, whatever the width
        a[...] = np.frombuffer(b"\xa5" * a.dtype.itemsize, dtype=a.dtype)[0]
    else:
        a[...] = poison_value(a.dtype)
