"""einc's calls as torch custom ops (einc/_torch.py): inside torch.compile(fullgraph=True)
graphs on CPU tensors they give eager's results, the ops pass torch.library.opcheck, and
gradients are refused.  Skipped where torch is not importable."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import einc

torch = pytest.importorskip("torch")
import torch._dynamo  # noqa: E402  (registers einc's ops, as torch.compile's import does)


def compiled(f):
    torch._dynamo.reset()
    return torch.compile(f, fullgraph=True, backend="eager")


def test_ops_are_registered_under_their_names():
    for name in ("einsum", "rearrange", "reduce", "repeat", "model"):
        assert hasattr(torch.ops.einc, name)


def test_einsum_forms_in_a_graph():
    a, b, c = torch.randn(3, 4), torch.randn(4, 5), torch.randn(5)

    def f(a, b, c):
        x = einc.einsum("ij,jk->ik", a, b)                  # numpy's form
        y = einc.einsum(x, c, "i k, k -> i")                # einops' form
        z = einc.einsum(a, [0, 1], b, [1, 2], [0, 2])       # sublists
        return x.sin(), y, z, einc.einsum("ij,ij", a, a, optimize=True)

    got, want = compiled(f)(a, b, c), f(a, b, c)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape and torch.equal(g, w)
    torch.testing.assert_close(want[0], (a @ b).sin(), rtol=1e-5, atol=1e-5)


def test_einops_functions_in_a_graph():
    x = torch.randn(2, 3, 4)

    def f(x):
        r = einc.rearrange(x, "a b (c d) -> (a c) b d", d=2)
        return (r, einc.reduce(x, "a b c -> a c", "max"), einc.reduce(x, "a b c -> b", "mean"),
                einc.reduce(x > 0, "a b c -> a", "any"), einc.repeat(x[0], "b c -> b c r", r=3),
                einc.rearrange([x[0], x[1]], "n b c -> b n c"))

    got, want = compiled(f)(x), f(x)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape and torch.equal(g, w)
    assert want[3].dtype == torch.bool


def test_new_dtypes_in_a_graph():
    a = torch.randint(-3, 4, (3, 4), dtype=torch.int8)
    b = torch.randn(4, 2).to(torch.bfloat16)
    c = torch.randn(4, 2, dtype=torch.complex64)

    def f(a, b, c):
        return einc.einsum("ij,jk->ik", a, b), einc.einsum("ij,jk->ik", a, c), einc.reduce(b, "i j -> j", "sum")

    got, want = compiled(f)(a, b, c), f(a, b, c)
    assert [g.dtype for g in got] == [torch.bfloat16, torch.complex64, torch.bfloat16]   # as torch.promote_types
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and torch.equal(g, w)


def test_a_model_in_a_graph():
    m = einc.Model("input x: f32[N, K]\nparam w: f32[K, M]\n"
                   "y = einsum('n k, k m -> n m', x, w)\nreturn relu(y), softmax(y, dim=-1)\n")
    x, w = torch.randn(4, 3), torch.randn(3, 5)

    def f(x, w):
        r = m(x=x, w=w)
        return r[0] + 1, r[1]

    got, want = compiled(f)(x, w), f(x, w)
    for g, w_ in zip(got, want):
        assert g.shape == w_.shape and torch.equal(g, w_)
    single = einc.Model("input x: f32[N]\nreturn relu(x)\n")
    x = torch.randn(6)
    assert torch.equal(compiled(lambda x: single(x) * 2)(x), single(x) * 2)


@pytest.mark.skipif(shutil.which("c++") is None, reason="inductor's CPU code needs a C++ compiler")
def test_the_real_inductor_backend():
    a, b = torch.randn(3, 4), torch.randn(4, 5)

    def f(a, b):
        return einc.einsum("ij,jk->ik", a, b).relu() + 1

    torch._dynamo.reset()
    got = torch.compile(f, fullgraph=True)(a, b)
    torch.testing.assert_close(got, f(a, b), rtol=0, atol=0)


def test_opcheck():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    for op, args in [
        (torch.ops.einc.einsum.default, ("ij,jk->ik", 1, [a, b])),
        (torch.ops.einc.rearrange.default, (a, "x (y z) -> z x y", "z", [2])),
        (torch.ops.einc.reduce.default, (a, "x y -> x", "prod", "", [])),
        (torch.ops.einc.repeat.default, (a, "x y -> x y c", "c", [2])),
    ]:
        r = torch.library.opcheck(op, args)
        assert set(r.values()) == {"SUCCESS"}, r


def test_gradients_are_refused():
    a, b = torch.randn(3, 4, requires_grad=True), torch.randn(4, 5)
    r = torch.ops.einc.einsum("ij,jk->ik", 1, [a, b])
    with pytest.raises(TypeError, match=r"^einc::einsum computes no gradients: call it under "
                                        r"torch.no_grad\(\) or on tensors.detach\(\)$"):
        r.sum().backward()
    # traced: einc's TypeError, which dynamo reports as unsupported under fullgraph=True
    with pytest.raises(Exception, match="einc computes no gradients"):
        compiled(lambda a, b: einc.einsum("ij,jk->ik", a, b))(a, b)
    with torch.no_grad():
        got = compiled(lambda a, b: einc.einsum("ij,jk->ik", a, b))(a, b)
    torch.testing.assert_close(got, a.detach() @ b, rtol=1e-5, atol=1e-5)


def test_traced_einsum_refuses_options_it_cannot_keep():
    a = torch.randn(2, 2)
    with pytest.raises(Exception, match="takes tensors and optimize= only, not dtype="):
        compiled(lambda a: einc.einsum("ij->i", a, dtype=torch.float64))(a)


def test_importing_einc_imports_no_torch_and_dynamo_registers_the_ops():
    code = ("import sys, einc\n"
            "assert 'torch' not in sys.modules and einc._torch._ops is None\n"
            "import torch\n"
            "assert einc._torch._ops is None and 'torch._dynamo' not in sys.modules\n"
            "import torch._dynamo\n"
            "assert einc._torch._ops is not None and hasattr(torch.ops.einc, 'einsum')\n"
            "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(einc.__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert np.array_equal(einc.einsum("i->", np.arange(3)), 3)
