"""Every dtype einc computes on, through the package: numpy arrays of each dtype go to einc
as they are and come back with numpy's result dtype and values (np.einsum's, einops'); torch
tensors of each dtype too, bfloat16 included (as its bits, numpy having none)."""
import itertools

import numpy as np
import pytest

import einc

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]


def small(dtype, shape, seed=0):
    """Small integer values (so every sum is exact in every dtype), in dtype."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt)
    if dt.kind == "u":
        return rng.integers(0, 4, shape).astype(dt)
    if dt.kind == "c":
        return (rng.integers(-3, 4, shape) + 1j * rng.integers(-3, 4, shape)).astype(dt)
    return rng.integers(-3, 4, shape).astype(dt)


def same(got, want):
    assert type(got) is type(want) or isinstance(got, np.generic) == isinstance(want, np.generic)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("d1", DTYPES)
def test_einsum_every_pair_as_numpy(d1):
    for d2 in DTYPES:
        a, b = small(d1, (3, 4), 1), small(d2, (4, 5), 2)
        same(einc.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b))
        same(einc.einsum(a, b, "i j, j k -> i k"), np.einsum("ij,jk->ik", a, b))


@pytest.mark.parametrize("dt", DTYPES)
def test_each_dtype_strided_and_full(dt):
    a = small(dt, (6, 8), 3)
    for x in (a[::-1, ::2], a.T, a[:, 3:4], np.broadcast_to(a[:1], (6, 8))):
        same(einc.einsum("ij->j", x), np.einsum("ij->j", x))
        same(einc.einsum("ij->ji", x), np.einsum("ij->ji", x))
    same(einc.einsum("ij,ij->", a, a), np.einsum("ij,ij->", a, a))      # a numpy scalar


@pytest.mark.parametrize("dt", DTYPES)
def test_out_of_each_dtype(dt):
    a, b = small(dt, (3, 4), 4), small(dt, (4, 2), 5)
    want = np.einsum("ij,jk->ik", a, b)
    out = np.zeros((3, 2), want.dtype)
    assert einc.einsum("ij,jk->ik", a, b, out=out) is out
    same(out, want)
    wide = np.zeros((3, 2), np.complex128)      # every dtype casts safely to complex128
    einc.einsum("ij,jk->ik", a, b, out=wide)
    np.testing.assert_array_equal(wide, want.astype(np.complex128))


def test_mixed_pairs_named_in_the_issue():
    i8, f32 = small("int8", (2, 3)), small("float32", (3, 2))
    assert einc.einsum("ij,jk->ik", i8, f32).dtype == np.float32
    c64, f64 = small("complex64", (2, 3)), small("float64", (3, 2))
    r = einc.einsum("ij,jk->ik", c64, f64)
    assert r.dtype == np.complex128
    np.testing.assert_array_equal(r, np.einsum("ij,jk->ik", c64, f64))
    assert einc.einsum("i,i->i", small("uint64", 3), small("int64", 3)).dtype == np.float64


def test_dtype_argument_to_a_new_dtype():
    a = small("int32", (2, 3))
    for dt in ("int8", "float16", "complex64", "uint16"):
        same(einc.einsum("ij->j", a, dtype=dt, casting="unsafe"),
             np.einsum("ij->j", a, dtype=dt, casting="unsafe"))


@pytest.mark.parametrize("dt", DTYPES)
def test_einops_functions_on_each_dtype(dt):
    einops = pytest.importorskip("einops")
    x = small(dt, (2, 3, 4), 6)
    same(einc.rearrange(x, "a b c -> c (a b)"), einops.rearrange(x, "a b c -> c (a b)"))
    same(einc.repeat(x, "a b c -> a b c r", r=2), einops.repeat(x, "a b c -> a b c r", r=2))
    for red in ("sum", "prod", "any", "all") + (("max", "min") if dt[0] != "c" else ()):
        same(einc.reduce(x, "a b c -> a c", red), einops.reduce(x, "a b c -> a c", red))
    if dt[0] == "c":
        for red in ("max", "min"):
            with pytest.raises(TypeError, match=f"^{red} of {dt}: complex numbers have no order; "
                                                 f"reduce their real part or magnitude instead"):
                einc.reduce(x, "a b c -> a c", red)
    # einops refuses a mean of integers and complex; einc's is numpy's x.mean()
    want = (einops.reduce(x, "a b c -> a", "mean") if dt[0] == "f" else x.mean((1, 2)))
    got = einc.reduce(x, "a b c -> a", "mean")
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-3 if dt == "float16" else 1e-6)


def test_kernel_and_model_on_new_dtypes():
    k = einc.compile("ij,jk->ik")
    a, b = small("int8", (2, 3)), small("uint8", (3, 4))
    same(k(a, b), np.einsum("ij,jk->ik", a, b))
    assert k.output(a, b) == (np.dtype("int16"), (2, 4))
    c = small("complex128", (2, 3))
    same(k(c, b), np.einsum("ij,jk->ik", c, b))
    m = einc.Model("input x: f16[n, k]\nparam w: f16[k, m]\nreturn einsum('n k, k m -> n m', x, w)\n")
    x, w = small("float16", (2, 3)), small("float16", (3, 4))
    same(m(x=x, w=w), x @ w)


def test_a_chosen_cpu_target_refuses_what_the_jit_lacks():
    c = small("complex64", (2, 3))
    with pytest.raises(RuntimeError, match=r"^the CPU JIT does not compute this dtype yet "
                                            r"\(complex64; complex and uint64 run in the "
                                            r"interpreter\): use target='interp' or 'auto'$"):
        einc.compile("ij->j", target="cpu")(c)
    same(einc.compile("ij->j", target="interp")(c), c.sum(0))


def test_dtypes_einc_lacks_are_a_type_error():
    for x in (np.ones(3, np.longdouble), np.array(["a", "b"]), np.ones(2, "M8[s]"),
              np.ones(2, object)):
        with pytest.raises(TypeError, match=r"^operand 0 has dtype .*: einc computes on bool, "
                                            r"int8 to int64, uint8 to uint64, float16"):
            einc.einsum("i->", x)


def test_other_byte_orders_and_unaligned_new_dtypes():
    for dt in ("int16", "uint32", "float16", "complex64", "complex128"):
        a = small(dt, 5)
        swapped = a.astype(a.dtype.newbyteorder("S"))
        same(einc.einsum("i->", swapped), np.einsum("i->", a))
        raw = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype)      # unaligned
        raw[...] = a
        same(einc.einsum("i->i", raw), a)


# ---- torch ----------------------------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch")


def test_torch_every_dtype_as_numpy():
    torch = _torch()
    for d1, d2 in itertools.product(DTYPES, ["int8", "float32", "complex128", "uint16"]):
        a, b = small(d1, (3, 4), 7), small(d2, (4, 2), 8)
        got = einc.einsum("ij,jk->ik", torch.from_numpy(a), torch.from_numpy(b))
        assert isinstance(got, torch.Tensor)
        same(got.numpy(), np.einsum("ij,jk->ik", a, b))


def test_torch_bfloat16():
    torch = _torch()
    a = torch.from_numpy(small("float32", (4, 6), 9)).to(torch.bfloat16)
    b = torch.from_numpy(small("float32", (6, 3), 10)).to(torch.bfloat16)
    got = einc.einsum("ij,jk->ik", a, b)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, (a.float() @ b.float()).to(torch.bfloat16))
    got = einc.einsum("ij,jk->ik", a.t().contiguous().t(), b)            # strided
    assert torch.equal(got, (a.float() @ b.float()).to(torch.bfloat16))
    # bfloat16 with float16 gives float32 (ml_dtypes', JAX's and torch's promotion)
    h = b.to(torch.float16)
    got = einc.einsum("ij,jk->ik", a, h)
    assert got.dtype == torch.float32 and torch.equal(got, a.float() @ h.float())
    assert einc.einsum("ij,jk->ik", a, b.float()).dtype == torch.float32
    x = torch.tensor([[1.5, -0.0, 2.0], [0.0, -3.0, 0.0]], dtype=torch.bfloat16)
    assert torch.equal(einc.rearrange(x, "a b -> b a"), x.t())
    assert torch.equal(einc.reduce(x, "a b -> a", "max"), x.amax(1))
    assert torch.equal(einc.reduce(x, "a b -> b", "sum"), x.float().sum(0).to(torch.bfloat16))
    assert torch.equal(einc.reduce(x, "a b -> b", "any"), x.bool().any(0))      # -0.0 is zero
    assert torch.equal(einc.reduce(x, "a b -> a", "all"), x.bool().all(1))
    assert torch.equal(einc.repeat(x, "a b -> a b c", c=2), x[..., None].expand(2, 3, 2))
    with pytest.raises(TypeError, match=r"^dtype= with bfloat16 tensors: cast them with "
                                        r"tensor.to\(dtype\) first$"):
        einc.einsum("ij->i", x, dtype="float32")


def test_torch_einops_on_each_dtype():
    torch = _torch()
    for dt in DTYPES:
        x = small(dt, (2, 3), 11)
        t = torch.from_numpy(x)
        same(einc.rearrange(t, "a b -> b a").numpy(), x.T)
        same(einc.reduce(t, "a b -> a", "sum").numpy(), x.sum(1))
