"""einc: tensor index notation compiled to kernels, on numpy arrays and torch tensors.

    import einc
    einc.einsum('ij,jk->ik', a, b)                 # numpy.einsum's signature
    einc.einsum(a, b, 'i j, j k -> i k')           # einops.einsum's (the pattern last)
    einc.rearrange(x, 'b c (h w) -> b h w c', h=8)  # and reduce, repeat, as einops
    einc.Model('examples/resblock.einl')(x=x, w=w, ...)
    einc.compile('bhid,bhjd->bhij')                 # a reusable kernel
    einc.explain('ik,kj->ij', a, b)                 # how einc understood it

Kernels are compiled on first use and kept for the life of the process, keyed by the
expression and everything it was compiled with; the CPU JIT runs them on einc's thread
pool (EINC_NUM_THREADS) with the GIL released.  Errors are ValueError or TypeError with
einc's message and a caret under the culprit.  See README.md, section "Python".
"""

import collections
import functools
import operator
import os
import sys

import numpy as np

from . import _einc, _torch
from ._einc import Kernel as _Kernel

__all__ = ["einsum", "rearrange", "reduce", "repeat", "Model", "Kernel", "compile", "explain",
           "__version__"]

__version__ = _einc.version

# einc.h's enumerations, by the names the CLI uses
_DIALECTS = {"auto": 0, "numpy": 1, "einops": 2}
_REDUCTIONS = {"sum": 0, "mean": 1, "max": 2, "min": 3, "prod": 4}
_TARGETS = {"auto": 0, "cpu": 1, "cuda": 2, "interp": 3}
_CPU = _einc.DEFAULT_TARGET     # the JIT, or the interpreter in a build without LLVM
_CUDA = _TARGETS["cuda"]
_AUTO = _TARGETS["auto"]
_EMIT_DTYPES = {"float32": 0, "float64": 1, "float16": 11, "bfloat16": 12}

# einc_dtype's numpy dtypes (bfloat16, which numpy lacks, comes from torch: _BF16); CUDA and
# the JIT compute the five first everywhere, the others where README's "Dtypes" says
_CLASSIC = tuple(np.dtype(t) for t in ("float32", "float64", "int32", "int64", "bool"))
_DTYPES = _CLASSIC + tuple(np.dtype(t) for t in (
    "int8", "int16", "uint8", "uint16", "uint32", "uint64", "float16", "complex64", "complex128"))
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")


class _BF16(np.ndarray):
    """bfloat16 values as their 16 bits (an int16 view of a torch.bfloat16 tensor's memory):
    numpy has no bfloat16, so einc is told which operands hold it (the kernels' bf16= mask)."""


def _bf16_mask(arrays):
    return sum(1 << i for i, a in enumerate(arrays) if type(a) is _BF16)


# ---- arrays --------------------------------------------------------------------------------

def _as_array(x, i):
    """x as a numpy array einc reads where it lies: einc's dtypes in native byte order,
    aligned, strides in whole elements (numpy's any others are copied)."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype not in _DTYPES:
        raise TypeError(f"operand {i} has dtype {a.dtype}: einc computes on bool, int8 to int64, "
                        f"uint8 to uint64, float16, float32, float64, complex64 and complex128 "
                        f"arrays (and torch's bfloat16)")
    size = a.itemsize
    align = size // 2 if a.dtype.kind == "c" else size
    if a.ctypes.data % align or any(s % size for s in a.strides):
        a = a.copy()
    return a


class _Torch:
    """How torch tensors among the operands are handled: each becomes a numpy view of its
    memory (CPU) or a host copy (CUDA, for einc's CUDA target, which copies host arrays in
    and out itself); the result goes back as a tensor on the operands' device.  An
    expression on CUDA tensors that einc's CUDA target computes (device_ok) runs on their
    device memory instead, on the current stream, without copies (run_device)."""

    # einc_dtype's codes of the dtypes the CUDA target computes
    # the dtypes the CUDA target computes, as einc_dtype's values (include/einc.h): every one
    # but complex; bfloat16 too, though not here (numpy, which gives the result's dtype, has
    # no bfloat16), so bfloat16 tensors are staged through the host
    _DEVICE_CODES = {"float32": 0, "float64": 1, "int32": 2, "int64": 3, "bool": 4, "int8": 5,
                     "int16": 6, "uint8": 7, "uint16": 8, "uint32": 9, "uint64": 10, "float16": 11}

    def __init__(self, torch, device):
        self.torch = torch
        self.device = device
        self.cuda = device.type == "cuda"

    @staticmethod
    def find(ops):
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        devices = {x.device for x in ops if isinstance(x, torch.Tensor)}
        if not devices:
            return None
        if len(devices) > 1:
            raise ValueError("the tensors are on different devices: "
                             + ", ".join(sorted(str(d) for d in devices)))
        device = devices.pop()
        if device.type not in ("cpu", "cuda"):
            raise TypeError(f"einc runs tensors on the CPU or a CUDA device, not {device}")
        return _Torch(torch, device)

    def array(self, x, i):
        torch = self.torch
        if not isinstance(x, torch.Tensor):
            return x
        if x.requires_grad and torch.is_grad_enabled():
            raise TypeError(f"operand {i} requires grad, and einc computes no gradients: call it "
                            f"under torch.no_grad() or on x.detach()")
        if x.dtype not in _torch_dtypes(torch):
            raise TypeError(f"operand {i} has dtype {x.dtype}: einc computes on bool, int8 to "
                            f"int64, uint8 to uint64, float16, bfloat16, float32, float64, "
                            f"complex64 and complex128 tensors")
        x = x.detach()
        if self.cuda:
            x = x.contiguous().cpu()
        if x.dtype == torch.bfloat16:       # its bits, where they lie (numpy has no bfloat16)
            return x.view(torch.int16).numpy().view(_BF16)
        return x.numpy()        # shares the tensor's memory, strides included

    def device_ok(self, tensors):
        """Whether run_device takes these: CUDA tensors on device 0 (einc's), of the dtypes
        its CUDA target computes, none that requires grad."""
        torch = self.torch
        return (self.cuda and (self.device.index or 0) == 0 and all(
            isinstance(x, torch.Tensor) and str(x.dtype)[6:] in self._DEVICE_CODES
            and not (x.requires_grad and torch.is_grad_enabled()) for x in tensors))

    def empty(self, shape, dtype):
        return self.torch.empty(shape, dtype=dtype, device=self.device)

    def stream(self):
        return self.torch.cuda.current_stream(self.device).cuda_stream

    def run_device(self, kernel, tensors):
        """kernel (compiled for CUDA) on the tensors' device memory, C-contiguous (a copy on
        the device where they are not), into a new tensor, on the current stream."""
        xs = [x.detach().contiguous() for x in tensors]
        names = [str(x.dtype)[6:] for x in xs]
        # the result's dtype and shape from zero-strided stand-ins: no element is read
        dt, shape = kernel.output(*(np.broadcast_to(np.zeros((), n), tuple(x.shape))
                                    for n, x in zip(names, xs)))
        out = self.empty(shape, getattr(self.torch, str(dt)))
        kernel.run_device(self.stream(),
                          [(self._DEVICE_CODES[n], tuple(x.shape), x.data_ptr()) for n, x in zip(names, xs)],
                          (self._DEVICE_CODES[str(dt)], tuple(shape), out.data_ptr()))
        return out

    def result(self, r):
        if isinstance(r, tuple):        # a model's several results
            return tuple(self.result(x) for x in r)
        if type(r) is _BF16:
            t = self.torch.from_numpy(r.view(np.int16)).view(self.torch.bfloat16)
        else:
            t = self.torch.from_numpy(np.asarray(r))
        return t.to(self.device) if self.cuda else t


@functools.lru_cache(maxsize=1)
def _torch_dtypes(torch):
    """torch's dtypes einc computes on (torch.uint16 and wider came in torch 2.3)."""
    names = ("float32", "float64", "int32", "int64", "bool", "int8", "int16", "uint8", "uint16",
             "uint32", "uint64", "float16", "bfloat16", "complex64", "complex128")
    return frozenset(getattr(torch, n) for n in names if hasattr(torch, n))


def _prepare(ops, target=None):
    """(numpy arrays, torch adapter or None, target) for the operands: CUDA for tensors on a
    CUDA device, else the target asked for (None: the CPU's)."""
    tt = _Torch.find(ops)
    if tt is not None:
        ops = [tt.array(x, i) for i, x in enumerate(ops)]
        if tt.cuda:
            target = _CUDA
    arrays = [_as_array(x, i) for i, x in enumerate(ops)]
    if (target is None or (tt is not None and tt.cuda)) and any(
            type(a) is _BF16 or a.dtype not in _CLASSIC for a in arrays):
        # target auto (the JIT, or the interpreter for work too small to compile); a CUDA
        # tensor of a dtype the CUDA target does not take is staged through the host too
        target = _AUTO
    if target == _CUDA:         # the CUDA target takes C-ordered arrays
        arrays = [np.ascontiguousarray(a) for a in arrays]
    return arrays, tt, target


def _refused(kernel, arrays):
    """The error for a kernel that answered NotImplemented on arrays from _prepare, which
    converts every array einc does not take as it is: not expected to happen."""
    dts = ", ".join(sorted({"bfloat16" if type(a) is _BF16 else str(a.dtype) for a in arrays}))
    return TypeError(f"einc could not take the arrays as prepared (dtypes {dts})")


def _run(kernel, arrays, out=None, order="K", casting="safe"):
    """kernel on arrays einc takes (from _prepare), into out (numpy's rules) or a new array.
    A bfloat16 result (operands from torch) comes back as _BF16, its bits."""
    bf16 = _bf16_mask(arrays)
    if bf16:
        dt, shape = kernel.output(*arrays, bf16=bf16)
        if dt == "bfloat16":
            if out is not None:
                raise TypeError("out= takes a numpy array, and the result is bfloat16")
            r = np.empty(shape, np.int16, order="F" if order == "F" else "C").view(_BF16)
            if kernel(*arrays, out=r, bf16=bf16) is NotImplemented:
                raise _refused(kernel, arrays)
            return r
        if out is None and order not in ("F", "A"):
            r = kernel(*arrays, bf16=bf16)
            if r is NotImplemented:
                raise _refused(kernel, arrays)
            return r
    if out is None:
        if order == "F" or (order == "A" and arrays and all(a.flags.f_contiguous for a in arrays)
                            and not all(a.flags.c_contiguous for a in arrays)):
            dt, shape = kernel.output(*arrays, bf16=bf16)
            out = np.empty(shape, dt, order="F")
        else:
            r = kernel(*arrays)
            if r is NotImplemented:
                raise _refused(kernel, arrays)
            return r
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, not {type(out).__name__}")
    dt, shape = kernel.output(*arrays, bf16=bf16)
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, and the result's is {shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not np.can_cast(dt, out.dtype, casting=casting):
        raise TypeError(f"Cannot cast einsum output from {dt!r} to {out.dtype!r} with casting "
                        f"rule {casting!r}")
    r = kernel(*arrays, out=out, bf16=bf16) if out.dtype == dt else NotImplemented
    if r is NotImplemented:     # another dtype, byte order or alignment: through a temporary
        r = kernel(*arrays, bf16=bf16)
        if r is NotImplemented:
            raise _refused(kernel, arrays)
        np.copyto(out, r, casting="unsafe")
    return out


# ---- einsum --------------------------------------------------------------------------------

def _sublist_labels(sub, i):
    """numpy's sublist labels as subscripts: 0-25 are A-Z, 26-51 a-z (so the implicit
    output's ASCII order is the integers' order), Ellipsis is '...'."""
    s = []
    for x in sub:
        if x is Ellipsis:
            s.append("...")
            continue
        try:
            v = operator.index(x)
        except TypeError:
            raise TypeError(f"sublist {i}: a label is an integer or Ellipsis, not {x!r}") from None
        if not 0 <= v < 52:
            raise ValueError(f"sublist {i}: label {v} is not within the valid range [0, 52)")
        s.append(chr(ord("A") + v) if v < 26 else chr(ord("a") + v - 26))
    return "".join(s)


def _from_sublists(args):
    """einsum(op0, sublist0, op1, sublist1, ..., [sublistout]) as (subscripts, operands)."""
    args = list(args)
    ops, subs = [], []
    while len(args) >= 2:
        ops.append(args.pop(0))
        subs.append(_sublist_labels(args.pop(0), len(subs)))
    s = ",".join(subs)
    if args:
        s += "->" + _sublist_labels(args[0], "out")
    return s, ops


def _optimize_limit(optimize):
    """numpy's optimize= as an intermediate-size limit in elements (0: none), or the explicit
    path (a list).  einc chooses its own contraction order otherwise (numpy's cost model:
    optimal up to six operands, greedy beyond), so True, False, 'greedy' and 'optimal' all
    run einc's best."""
    if optimize is None or optimize is True or optimize is False or optimize in ("greedy", "optimal"):
        return 0
    if isinstance(optimize, (list, tuple)) and optimize and optimize[0] == "einsum_path":
        return list(optimize[1:])
    if (isinstance(optimize, tuple) and len(optimize) == 2 and optimize[0] in ("greedy", "optimal")):
        return max(int(optimize[1]), 1)
    raise TypeError(f"Did not understand the path: {optimize!r}")


def _along_path(subscripts, arrays, path, target):
    """numpy's explicit path (einsum_path's ['einsum_path', (0, 1), ...]) honoured: each step
    contracts the operands it names into one, which joins the end of the list, as numpy's
    does; each step is an einc kernel.  Returns the last intermediate and the subscripts
    that turn it into the output."""
    s = subscripts.replace(" ", "")
    if "..." in s:
        raise ValueError("an explicit contraction path with '...' is not supported: pass "
                         "optimize=True (einc chooses the order)")
    ins, arrow, out = s.partition("->")
    subs = ins.split(",")
    if not arrow:       # numpy's implicit output: the labels used once, in ASCII order
        out = "".join(sorted(c for c in set(ins) if c != "," and ins.count(c) == 1))
    if len(subs) != len(arrays):
        raise ValueError(f"{subscripts!r} takes {len(subs)} operands, {len(arrays)} given")
    ops = list(arrays)
    for step in path:
        try:
            idx = sorted({operator.index(i) for i in step}, reverse=True)
        except TypeError:
            raise TypeError(f"a path step is a tuple of operand positions, not {step!r}") from None
        if not idx or idx[0] >= len(ops) or idx[-1] < 0 or len(idx) != len(step):
            raise ValueError(f"path step {tuple(step)}: not distinct positions among the "
                             f"{len(ops)} operands left")
        taken = [(subs.pop(i), ops.pop(i)) for i in idx]
        need = set("".join(subs)) | set(out)
        keep = "".join(dict.fromkeys(c for t, _ in taken for c in t if c in need))
        expr = ",".join(t for t, _ in taken) + "->" + keep
        k = _einc.kernel(expr, _DIALECTS["numpy"], 0, (), _CPU if target is None else target, 0)
        ops.append(_run(k, [a for _, a in taken]))
        subs.append(keep)
    if len(ops) != 1:       # numpy's error for an invalid path is a RuntimeError too
        raise RuntimeError(f"the path leaves {len(ops)} operands uncontracted")
    return ops[0], subs[0] + "->" + out


def _einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    if not operands:
        raise ValueError("einsum() needs the subscripts and at least one operand")
    if isinstance(operands[0], str):
        subscripts, ops, dialect = operands[0], list(operands[1:]), "numpy"
    elif isinstance(operands[-1], str):
        subscripts, ops, dialect = operands[-1], list(operands[:-1]), "einops"
    else:
        (subscripts, ops), dialect = _from_sublists(operands), "numpy"
    if not isinstance(order, str) or order.upper() not in ("C", "F", "A", "K"):
        raise ValueError(f"order must be one of 'C', 'F', 'A', 'K', not {order!r}")
    order = order.upper()
    if casting not in _CASTINGS:
        raise ValueError(f"casting must be one of {', '.join(map(repr, _CASTINGS))}, not {casting!r}")
    limit = _optimize_limit(optimize)
    tt = _Torch.find(ops)
    if (tt is not None and out is None and dtype is None and not isinstance(limit, list)
            and order in ("K", "C") and tt.device_ok(ops)):
        k = _einc.kernel(subscripts, _DIALECTS[dialect], 0, (), _CUDA, 0)
        if k.ninputs == len(ops):       # (else the host path says what is wrong)
            return tt.run_device(k, ops)
    arrays, tt, target = _prepare(ops)
    if dtype is not None:
        if _bf16_mask(arrays):
            raise TypeError("dtype= with bfloat16 tensors: cast them with tensor.to(dtype) first")
        arrays = [_as_array(a.astype(dtype, casting=casting, copy=False), i)
                  for i, a in enumerate(arrays)]
        if target is None and any(a.dtype not in _CLASSIC for a in arrays):
            target = _AUTO
    if isinstance(limit, list):
        if dialect != "numpy":
            raise ValueError("an explicit contraction path takes numpy's subscripts")
        r, subscripts = _along_path(subscripts, arrays, limit, target)
        arrays, limit = [r], 0
    max_memory = limit * np.result_type(*arrays).itemsize if limit and arrays else 0
    k = _einc.kernel(subscripts, _DIALECTS[dialect], 0, (), _CPU if target is None else target,
                     max_memory)
    if k.ninputs != len(arrays):
        raise ValueError(f"{subscripts!r} takes {k.ninputs} operand{'s' * (k.ninputs != 1)}, "
                         f"{len(arrays)} given")
    if tt is not None:
        if out is not None:
            raise TypeError("out= takes a numpy array, and the operands are torch tensors")
        return tt.result(_run(k, arrays, None, order, casting))
    r = _run(k, arrays, out, order, casting)
    return r[()] if out is None and r.ndim == 0 else r


_einc.set_fallback(_einsum)
einsum = _einc.einsum


def _grad_check(tensors):
    torch = _torch._ops.torch
    for i, x in enumerate(tensors):
        if isinstance(x, torch.Tensor) and x.requires_grad and torch.is_grad_enabled():
            raise TypeError(f"operand {i} requires grad, and einc computes no gradients: call it "
                            f"under torch.no_grad() or on x.detach()")


def _einsum_op(*operands, optimize=False, **kwargs):
    """einc.einsum as torch.compile traces it (einc/_torch.py): the op einc::einsum."""
    if kwargs:
        raise TypeError(f"under torch.compile, einc.einsum takes tensors and optimize= only, not "
                        f"{', '.join(sorted(kwargs))}=")
    if operands and isinstance(operands[0], str):
        expr, ops, dialect = operands[0], list(operands[1:]), _DIALECTS["numpy"]
    elif operands and isinstance(operands[-1], str):
        expr, ops, dialect = operands[-1], list(operands[:-1]), _DIALECTS["einops"]
    else:
        (expr, ops), dialect = _from_sublists(operands), _DIALECTS["numpy"]
    _optimize_limit(optimize)       # a bad value is an error here too
    _grad_check(ops)
    return _torch._ops.einsum(expr, dialect, ops)


def _pattern_traced(func, tensor, pattern, reduction, axes_lengths):
    """rearrange, reduce or repeat as torch.compile traces it: the op einc::FUNC."""
    if isinstance(tensor, (list, tuple)):
        tensor = _torch._ops.torch.stack(list(tensor))
    _grad_check([tensor])
    sizes = _sizes(axes_lengths)
    names, lengths = " ".join(n for n, _ in sizes), [v for _, v in sizes]
    op = getattr(_torch._ops, func)
    if func == "reduce":
        return op(tensor, pattern, reduction, names, lengths)
    return op(tensor, pattern, names, lengths)


# ---- einops' functions ---------------------------------------------------------------------

def _axis_names(side, offset):
    """The named axes of one side of an einops pattern, with their byte offsets."""
    names, i, n = [], 0, len(side)
    while i < n:
        c = side[i]
        if c.isspace() or c in "()":
            i += 1
            continue
        j = i
        while j < n and not side[j].isspace() and side[j] not in "()":
            j += 1
        word = side[i:j]
        if word.isidentifier():
            names.append((word, offset + i, offset + j))
        i = j
    return names


def _check_sides(func, pattern):
    """einops' rule that einc's one-operand patterns leave to the pattern: rearrange keeps
    every axis, reduce only drops axes, repeat only adds them."""
    if "->" not in pattern:
        return      # einc says what is wrong
    at = pattern.index("->")
    left = _axis_names(pattern[:at], 0)
    right = _axis_names(pattern[at + 2:], at + 2)
    lnames, rnames = {w for w, _, _ in left}, {w for w, _, _ in right}
    if func in ("rearrange", "repeat"):
        for w, b, e in left:
            if w not in rnames:
                hint = "use reduce to drop it" if func == "rearrange" else "repeat only adds axes"
                _einc.raise_error(f"{func}: axis '{w}' is on the left of '->' but not on the "
                                  f"right ({hint})", pattern, b, e)
    if func in ("rearrange", "reduce"):
        for w, b, e in right:
            if w not in lnames:
                hint = "use repeat to add it" if func == "rearrange" else "reduce only drops axes"
                _einc.raise_error(f"{func}: axis '{w}' is on the right of '->' but not on the "
                                  f"left ({hint})", pattern, b, e)


def _sizes(axes_lengths):
    out = []
    for name, v in sorted(axes_lengths.items()):
        try:
            out.append((name, operator.index(v)))
        except TypeError:
            raise TypeError(f"the length of axis '{name}' must be an integer, not {v!r}") from None
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _pattern_kernel(func, pattern, reduction, sizes, target):
    """The kernel of an einops call, its pattern checked once (a failed check is not cached)."""
    _check_sides(func, pattern)
    return _einc.kernel(pattern, _DIALECTS["einops"], _REDUCTIONS[reduction], sizes, target, 0)


def _pattern_op(func, tensor, pattern, reduction, axes_lengths):
    if (type(tensor) is np.ndarray and isinstance(pattern, str) and isinstance(reduction, str)
            and reduction in _REDUCTIONS and all(type(v) is int for v in axes_lengths.values())):
        # the common call, an array einc may take as it is: no conversion, the kernel cached
        r = _pattern_kernel(func, pattern, reduction, tuple(sorted(axes_lengths.items())), _CPU)(tensor)
        if r is not NotImplemented:
            return r[()] if r.ndim == 0 else r
    if not isinstance(pattern, str):
        raise TypeError(f"{func}: the pattern must be a str, not {type(pattern).__name__}")
    if isinstance(tensor, (list, tuple)):       # einops stacks a list along a new first axis
        tt = _Torch.find(tensor)
        if not tensor:
            raise ValueError(f"{func}: an empty list of tensors")
        tensor = tt.torch.stack(list(tensor)) if tt else np.stack([np.asarray(t) for t in tensor])
    tt = _Torch.find([tensor])
    if (tt is not None and reduction in _REDUCTIONS and tt.device_ok([tensor])
            and all(type(v) is int for v in axes_lengths.values())):
        return tt.run_device(_pattern_kernel(func, pattern, reduction, _sizes(axes_lengths), _CUDA),
                             [tensor])
    arrays, tt, target = _prepare([tensor])
    x = arrays[0]
    post = None
    if reduction in ("any", "all"):
        # any and all are max and min over bools; an empty reduction (where max and min have
        # no identity) counts instead: any is "some nonzero", all is "no zero"
        if type(x) is _BF16:        # nonzero is any bit but the sign's (-0.0 is zero)
            x = x.view(np.ndarray) & 0x7FFF != 0
        if x.size == 0:
            x = (x != 0 if reduction == "any" else x == 0).astype(np.int64)
            post = (lambda r: r > 0) if reduction == "any" else (lambda r: r == 0)
            reduction = "sum"
        else:
            x = x if x.dtype == np.bool_ else x != 0
            reduction = "max" if reduction == "any" else "min"
    if reduction not in _REDUCTIONS:
        if callable(reduction):
            raise TypeError(f"{func}: einc compiles its own reductions (sum, mean, max, min, prod, "
                            f"any, all); a callable is not one")
        raise ValueError(f"{func}: unknown reduction {reduction!r}: sum, mean, max, min, prod, "
                         f"any or all")
    k = _pattern_kernel(func, pattern, reduction, _sizes(axes_lengths), _CPU if target is None else target)
    r = _run(k, [x])
    if post is not None:
        r = post(r)
    if tt is not None:
        return tt.result(r)
    return r[()] if r.ndim == 0 else r


def rearrange(tensor, pattern, **axes_lengths):
    """einops.rearrange: einc.rearrange(x, 'b c (h w) -> b h w c', h=8)."""
    if _torch.compiling():
        return _pattern_traced("rearrange", tensor, pattern, "sum", axes_lengths)
    return _pattern_op("rearrange", tensor, pattern, "sum", axes_lengths)


def reduce(tensor, pattern, reduction, **axes_lengths):
    """einops.reduce with sum, mean, max, min, prod, any or all: reduce(x, 'b c h w -> b c', 'mean')."""
    if _torch.compiling():
        return _pattern_traced("reduce", tensor, pattern, reduction, axes_lengths)
    return _pattern_op("reduce", tensor, pattern, reduction, axes_lengths)


def repeat(tensor, pattern, **axes_lengths):
    """einops.repeat: einc.repeat(x, 'h w -> h w c', c=3)."""
    if _torch.compiling():
        return _pattern_traced("repeat", tensor, pattern, "sum", axes_lengths)
    return _pattern_op("repeat", tensor, pattern, "sum", axes_lengths)


# ---- kernels and models --------------------------------------------------------------------

def _choice(table, what, value):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {what} {value!r}: {', '.join(table)}") from None


def _call(get_kernel, target, ops, out):
    """A kernel (get_kernel(target)) on any operands: numpy arrays einc takes straight to it,
    anything else through _prepare."""
    if target != _CUDA and (out is None or isinstance(out, np.ndarray)):
        r = get_kernel(target)(*ops, out=out)
        if r is not NotImplemented:
            return r
    arrays, tt, target = _prepare(ops, target)
    k = get_kernel(target)
    if tt is not None:
        if out is not None:
            raise TypeError("out= takes a numpy array, and the operands are torch tensors")
        return tt.result(_run(k, arrays))
    return _run(k, arrays, out)


class Kernel:
    """A compiled expression: call it on arrays (kernel(a, b, out=None)); made by einc.compile."""

    def __init__(self, expr, reduction="sum", dialect="auto", target=None, max_memory=0, **sizes):
        self.expr = expr
        self._opts = (_choice(_DIALECTS, "dialect", dialect),
                      _choice(_REDUCTIONS, "reduction", reduction), _sizes(sizes))
        self._target = None if target is None else _choice(_TARGETS, "target", target)
        self._max_memory = int(max_memory or 0)
        self._kernel(self._target)     # compile now: a bad expression is an error here

    def _kernel(self, target):
        return _einc.kernel(self.expr, *self._opts, _CPU if target is None else target,
                            self._max_memory)

    @property
    def ninputs(self):
        return self._kernel(None).ninputs

    def __call__(self, *arrays, out=None):
        return _call(self._kernel, self._target, arrays, out)

    def output(self, *arrays):
        """(dtype, shape) of the result for these arrays."""
        arrays = _prepare(arrays)[0]
        return self._kernel(self._target).output(*arrays, bf16=_bf16_mask(arrays))

    def explain(self, *arrays, dot=False):
        """einc's account of the expression (with arrays: their sizes bound)."""
        arrays = _prepare(arrays)[0]
        return self._kernel(self._target).explain(*arrays, dot=dot, bf16=_bf16_mask(arrays))

    def emit(self, kind="c", *, name=None, dtype="float32", cpu=None):
        """Kernel source to vendor: kind is c, header, cuda, llvm, asm, ptx or obj (bytes)."""
        return self._kernel(self._target).emit(kind, name=name, dtype=_choice(_EMIT_DTYPES, "dtype", dtype),
                                       cpu=cpu)

    def __repr__(self):
        return f"einc.Kernel({self.expr!r})"


def _read_model(path_or_source):
    """(source, path or None): a path (os.PathLike, or a one-line str naming a file or ending
    in .einl) is read; any other str is the model's text."""
    if isinstance(path_or_source, os.PathLike) or (
            isinstance(path_or_source, str) and "\n" not in path_or_source
            and (path_or_source.endswith(".einl") or os.path.isfile(path_or_source))):
        path = os.fspath(path_or_source)
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    if isinstance(path_or_source, str):
        return path_or_source, None
    raise TypeError(f"Model takes a path or the model's text, not {type(path_or_source).__name__}")


class Model:
    """A model in einc's layer language (.einl): Model(path_or_source, **sizes).

    Call it with its inputs and parameters by name, model(x=x, w=w, ...), or positionally in
    the order the file declares them (model.inputs).  Each new set of shapes is compiled once.
    """

    def __init__(self, path_or_source, *, target=None, **sizes):
        self.source, self.path = _read_model(path_or_source)
        self._sizes = _sizes(sizes)
        self._target = None if target is None else _choice(_TARGETS, "target", target)
        self._kernels = {}
        k = self._kernel(self._target)
        self.inputs = k.input_names
        self.input_dtypes = k.input_dtypes
        self.outputs = k.output_names
        # several results come back as a tuple with a field per result name
        self._results = (collections.namedtuple("Results", self.outputs, rename=True)
                         if len(self.outputs) > 1 else None)

    def _kernel(self, target):
        t = _CPU if target is None else target
        k = self._kernels.get(t)
        if k is None:
            k = self._kernels[t] = _Kernel(self.source, model=True, sizes=self._sizes, target=t,
                                           origin=self.path)
        return k

    def _bind(self, args, kwargs):
        names = self.inputs
        if len(args) > len(names):
            raise TypeError(f"the model takes {len(names)} inputs ({', '.join(names)}), "
                            f"{len(args)} given")
        bound = dict(zip(names, args))
        for name, v in kwargs.items():
            if name not in names:
                raise TypeError(f"the model has no input '{name}'; its inputs are {', '.join(names)}")
            if name in bound:
                raise TypeError(f"the model got two values for input '{name}'")
            bound[name] = v
        missing = [n for n in names if n not in bound]
        if missing:
            raise TypeError(f"the model is missing input{'s' * (len(missing) > 1)} "
                            f"{', '.join(missing)}")
        return [bound[n] for n in names]

    def __call__(self, *args, **kwargs):
        inputs = self._bind(args, kwargs)
        if _torch.compiling():      # the op einc::model (einc/_torch.py)
            _grad_check(inputs)
            r = _torch._ops.model(self.source, self.path or "", " ".join(n for n, _ in self._sizes),
                                  [v for _, v in self._sizes], inputs)
            r = tuple(r) if len(r) > 1 else r[0]
        else:
            r = self._eager(inputs)
        return self._results(*r) if self._results is not None else r

    def _eager(self, inputs):
        return _call(self._kernel, self._target, inputs, None)

    def explain(self, *args, dot=False, **kwargs):
        """einc's account of the model: its fused loop nests, for these inputs' shapes."""
        arrays = _prepare(self._bind(args, kwargs))[0] if args or kwargs else []
        return self._kernel(self._target).explain(*arrays, dot=dot, bf16=_bf16_mask(arrays))

    def __repr__(self):
        return f"einc.Model({self.path or '<source>'!s}, inputs={self.inputs})"


def compile(expr, *, reduction="sum", dialect="auto", target=None, max_memory=0, **sizes):
    """A reusable kernel: einc.compile('ij,jk->ik')(a, b).  A path ending in .einl (or an
    os.PathLike) gives a Model.  reduction: sum, mean, max, min or prod; dialect: auto, numpy
    or einops; target: cpu, cuda, interp or auto; sizes as AXIS=N words (repeats, splits)."""
    if isinstance(expr, os.PathLike) or (isinstance(expr, str) and expr.endswith(".einl")):
        return Model(expr, target=target, **sizes)
    if not isinstance(expr, str):
        raise TypeError(f"compile takes an expression (str), not {type(expr).__name__}")
    return Kernel(expr, reduction, dialect, target, max_memory, **sizes)


def explain(expr, *arrays, reduction="sum", dialect="auto", dot=False, **sizes):
    """einc's account of an expression or a model (.einl path): dialect, axes, index IR,
    FLOPs, schedule; with arrays, their sizes are bound."""
    return compile(expr, reduction=reduction, dialect=dialect, **sizes).explain(*arrays, dot=dot)


_torch.install()        # einc's torch ops, once torch.compile's dynamo is imported
