"""einc's calls as torch custom operators (torch.library), so that einc.einsum, rearrange,
reduce, repeat and a Model's call trace into torch.compile graphs (fullgraph=True included).

    einc::einsum(str expr, int dialect, Tensor[] operands) -> Tensor
    einc::rearrange(Tensor x, str pattern, str names, int[] lengths) -> Tensor
    einc::reduce(Tensor x, str pattern, str reduction, str names, int[] lengths) -> Tensor
    einc::repeat(Tensor x, str pattern, str names, int[] lengths) -> Tensor
    einc::model(str source, str path, str names, int[] lengths, Tensor[] inputs) -> Tensor[]

(names: the axes_lengths' or sizes' names, separated by spaces; lengths: their values.)

Each op runs einc's eager path on real tensors; its fake ("meta") function asks the compiled
kernel for the result's dtype and shape on zero-strided stand-in arrays, so nothing is
computed while tracing.  einc computes no gradients: an input that requires grad is a
TypeError when the call is traced, as it is in eager mode, and an op reached another way
raises the same from its backward.

The ops are registered when torch._dynamo is imported (torch.compile imports it; plain
`import torch` does not, and importing einc never imports torch): a hook on sys.meta_path
waits for it, and registers the ops and dynamo's substitute for einc.einsum (a C function,
which dynamo cannot trace into) once that import is done.
"""
import importlib.abc
import importlib.util
import sys
import warnings

import numpy as np

_ops = None     # the registered ops (a namespace), or None


def compiling():
    """Whether torch.compile is tracing the caller (False when the ops are not registered)."""
    return _ops is not None and _ops.is_compiling()


class _Ops:
    pass


def _register():
    global _ops
    if _ops is not None:
        return
    import torch
    import torch._dynamo

    import einc as pkg
    from einc import _einc

    ops = _Ops()
    ops.is_compiling = torch.compiler.is_compiling
    models = {}         # (source, path, sizes) -> einc.Model, for einc::model's calls

    # torch's dtype for each numpy one einc takes, and back (made here: tracing is in fake mode)
    to_numpy = {d: np.dtype(np.int16) if d == torch.bfloat16 else torch.empty(0, dtype=d).numpy().dtype
                for d in pkg._torch_dtypes(torch)}
    to_torch = {v: k for k, v in to_numpy.items() if k != torch.bfloat16}
    to_torch["bfloat16"] = torch.bfloat16

    def numpy_dtype(dt):
        return to_numpy[dt]

    def torch_dtype(dt):
        return to_torch[dt]

    def stand_in(x):
        """A zero-strided numpy array of x's dtype and shape: einc binds it, and nothing
        holds x's elements (x is a fake tensor)."""
        a = np.broadcast_to(np.zeros((), numpy_dtype(x.dtype)), tuple(int(s) for s in x.shape))
        return a.view(pkg._BF16) if x.dtype == torch.bfloat16 else a

    def fake_result(kernel, xs, at=0, dtype=None):
        arrays = [stand_in(x) for x in xs]
        dt, shape = kernel.output(*arrays, bf16=pkg._bf16_mask(arrays), at=at)
        return xs[0].new_empty(shape, dtype=dtype or torch_dtype(dt)) if xs else \
            torch.empty(shape, dtype=dtype or torch_dtype(dt))

    def no_grad(name, backward):
        def fail(ctx, *grads):
            raise TypeError(f"einc::{name} computes no gradients: call it under torch.no_grad() "
                            f"or on tensors.detach()")
        def setup(ctx, inputs, output):
            pass
        torch.library.register_autograd(f"einc::{name}", fail, setup_context=setup)

    # ---- einsum ----------------------------------------------------------------------------
    @torch.library.custom_op("einc::einsum", mutates_args=())
    def einsum(expr: str, dialect: int, operands: list[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            r = pkg.einsum(expr, *operands) if dialect == 1 else pkg.einsum(*operands, expr)
        return r if isinstance(r, torch.Tensor) else torch.as_tensor(r)

    @einsum.register_fake
    def _(expr, dialect, operands):
        return fake_result(_einc.kernel(expr, dialect, 0, (), pkg._CPU, 0), operands)

    no_grad("einsum", None)

    # ---- rearrange, reduce, repeat ---------------------------------------------------------
    def pattern_kernel(func, pattern, reduction, names, lengths):
        red = {"any": "max", "all": "min"}.get(reduction, reduction)
        return pkg._pattern_kernel(func, pattern, red, tuple(sorted(zip(names.split(), lengths))), pkg._CPU)

    def pattern_fake(func, x, pattern, reduction, names, lengths):
        k = pattern_kernel(func, pattern, reduction, names, lengths)
        return fake_result(k, [x], dtype=torch.bool if reduction in ("any", "all") else None)

    @torch.library.custom_op("einc::rearrange", mutates_args=())
    def rearrange(x: torch.Tensor, pattern: str, names: str, lengths: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return pkg._pattern_op("rearrange", x, pattern, "sum", dict(zip(names.split(), lengths)))

    @rearrange.register_fake
    def _(x, pattern, names, lengths):
        return pattern_fake("rearrange", x, pattern, "sum", names, lengths)

    @torch.library.custom_op("einc::reduce", mutates_args=())
    def reduce(x: torch.Tensor, pattern: str, reduction: str, names: str,
               lengths: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return pkg._pattern_op("reduce", x, pattern, reduction, dict(zip(names.split(), lengths)))

    @reduce.register_fake
    def _(x, pattern, reduction, names, lengths):
        return pattern_fake("reduce", x, pattern, reduction, names, lengths)

    @torch.library.custom_op("einc::repeat", mutates_args=())
    def repeat(x: torch.Tensor, pattern: str, names: str, lengths: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return pkg._pattern_op("repeat", x, pattern, "sum", dict(zip(names.split(), lengths)))

    @repeat.register_fake
    def _(x, pattern, names, lengths):
        return pattern_fake("repeat", x, pattern, "sum", names, lengths)

    for name in ("rearrange", "reduce", "repeat"):
        no_grad(name, None)

    # ---- models ----------------------------------------------------------------------------
    def model_of(source, path, names, lengths):
        key = (source, path, names, tuple(lengths))
        m = models.get(key)
        if m is None:
            m = models[key] = pkg.Model(source, **dict(zip(names.split(), lengths)))
            m.path = path or None
        return m

    @torch.library.custom_op("einc::model", mutates_args=())
    def model(source: str, path: str, names: str, lengths: list[int],
              inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            r = model_of(source, path, names, lengths)._eager(list(inputs))
        return list(r) if isinstance(r, tuple) else [r]

    @model.register_fake
    def _(source, path, names, lengths, inputs):
        k = model_of(source, path, names, lengths)._kernel(None)
        return [fake_result(k, inputs, at=i) for i in range(k.noutputs)]

    no_grad("model", None)

    # ---- dynamo: einc.einsum (C) traced as its Python form ----------------------------------
    @torch._dynamo.substitute_in_graph(_einc.einsum, skip_signature_check=True)
    def einsum_traced(*operands, **kwargs):
        return pkg._einsum_op(*operands, **kwargs)

    ops.einsum, ops.rearrange, ops.reduce, ops.repeat, ops.model = (
        einsum, rearrange, reduce, repeat, model)
    ops.torch = torch
    _ops = ops


def register():
    """Registers the ops now (imports torch._dynamo); warns instead of failing."""
    try:
        _register()
    except Exception as e:      # a torch without custom_op or substitute_in_graph: eager only
        warnings.warn(f"einc: torch.compile support is not registered ({type(e).__name__}: {e})",
                      RuntimeWarning, stacklevel=2)


class _Hook(importlib.abc.MetaPathFinder):
    """Registers the ops once torch._dynamo's import is done."""

    def find_spec(self, name, path, target=None):
        if name != "torch._dynamo":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register()
        spec.loader.exec_module = exec_then_register
        return spec


def install():
    if "torch._dynamo" in sys.modules:
        register()
    elif not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())
