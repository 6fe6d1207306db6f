"""einc.rearrange, reduce, repeat and the einops einsum form, against references written
with numpy here, and against einops itself where it is installed."""
import numpy as np
import pytest

import einc

RNG = np.random.default_rng(7)


def arr(*shape, dtype=np.float32):
    if np.dtype(dtype).kind == "f":
        return RNG.standard_normal(shape).astype(dtype)
    return RNG.integers(-5, 6, shape).astype(dtype)


def same(got, want, exact=False):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if exact or want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * (1 + np.abs(want).max(initial=0)))


def test_rearrange():
    x = arr(2, 3, 4, 5)
    same(einc.rearrange(x, "b c h w -> b h w c"), x.transpose(0, 2, 3, 1), exact=True)
    same(einc.rearrange(x, "b c h w -> b (c h w)"), x.reshape(2, 60), exact=True)
    same(einc.rearrange(x, "b c h w -> (b h) w c"), x.transpose(0, 2, 3, 1).reshape(8, 5, 3), exact=True)
    y = arr(2, 12)
    same(einc.rearrange(y, "b (h w) -> b h w", h=3), y.reshape(2, 3, 4), exact=True)
    same(einc.rearrange(y, "b (h w) -> b w h", w=4), y.reshape(2, 3, 4).transpose(0, 2, 1), exact=True)
    img = arr(1, 8, 6, 3)
    want = img.reshape(1, 4, 2, 3, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(1, 4, 3, 12)
    same(einc.rearrange(img, "b (h p1) (w p2) c -> b h w (p1 p2 c)", p1=2, p2=2), want, exact=True)


def test_rearrange_unit_axes_and_ellipsis():
    x = arr(3, 4)
    same(einc.rearrange(x, "h w -> h 1 w"), x[:, None, :], exact=True)
    same(einc.rearrange(x, "h w -> h () w"), x[:, None, :], exact=True)
    same(einc.rearrange(x[:, None], "h 1 w -> w h"), x.T, exact=True)
    z = arr(2, 3, 4, 5)
    same(einc.rearrange(z, "b ... c -> c b ..."), np.moveaxis(z, 3, 0), exact=True)


def test_rearrange_strided_and_int():
    x = arr(6, 8, dtype=np.int32)[::-2, 1::3]
    same(einc.rearrange(x, "h w -> w h"), x.T.copy(), exact=True)


def test_rearrange_list_stacks():
    xs = [arr(3, 4) for _ in range(5)]
    same(einc.rearrange(xs, "n h w -> h (n w)"), np.stack(xs).transpose(1, 0, 2).reshape(3, 20), exact=True)


@pytest.mark.parametrize("red,ref", [("sum", np.sum), ("mean", np.mean), ("max", np.max),
                                     ("min", np.min), ("prod", np.prod)])
def test_reduce(red, ref):
    x = arr(2, 3, 4, 5)
    same(einc.reduce(x, "b c h w -> b c", red), ref(x, axis=(2, 3)))
    same(einc.reduce(x, "b c h w -> c", red), ref(x, axis=(0, 2, 3)))
    same(einc.reduce(x, "b c (h h2) (w w2) -> b c h w", red, h2=2, w2=5),
         ref(x.reshape(2, 3, 2, 2, 1, 5), axis=(3, 5)))
    same(einc.reduce(x, "b c h w -> b c 1 1", red), ref(x, axis=(2, 3), keepdims=True))


def test_reduce_integers_follow_numpy():
    x = arr(3, 4, dtype=np.int32)
    same(einc.reduce(x, "a b -> a", "sum"), x.sum(1))           # int64, as numpy's sum
    same(einc.reduce(x, "a b -> a", "mean"), x.mean(1))         # float64
    same(einc.reduce(x, "a b -> a", "max"), x.max(1))           # keeps int32


@pytest.mark.parametrize("red,ref", [("any", np.any), ("all", np.all)])
def test_any_all(red, ref):
    x = RNG.integers(0, 2, (4, 6)).astype(bool)
    x[0] = True
    x[1] = False
    same(einc.reduce(x, "a b -> a", red), ref(x, axis=1))
    f = arr(4, 6) * RNG.integers(0, 2, (4, 6))
    same(einc.reduce(f, "a b -> b", red), ref(f, axis=0))
    e = np.zeros((0, 3), np.float32)
    same(einc.reduce(e, "a b -> b", red), ref(e, axis=0))


def test_reduce_full_gives_scalar():
    x = arr(3, 4)
    got = einc.reduce(x, "a b ->", "sum")
    assert np.ndim(got) == 0
    same(got, x.sum())


def test_repeat():
    x = arr(3, 4)
    same(einc.repeat(x, "h w -> h w c", c=3), np.repeat(x[:, :, None], 3, axis=2), exact=True)
    same(einc.repeat(x, "h w -> (r h) w", r=2), np.tile(x, (2, 1)), exact=True)
    same(einc.repeat(x, "h w -> h (w r)", r=2), np.repeat(x, 2, axis=1), exact=True)
    same(einc.repeat(x[0], "w -> b w", b=5), np.broadcast_to(x[0], (5, 4)), exact=True)


def test_einsum_einops_form():
    a, b = arr(3, 4), arr(4, 5)
    same(einc.einsum(a, b, "rows k, k cols -> rows cols"), a @ b)
    same(einc.einsum(a, "i j -> j i"), a.T, exact=True)
    m = arr(4, 4)
    same(einc.einsum(m, "i i ->"), np.trace(m))


PATTERNS = [
    ("rearrange", "b c h w -> b h w c", (2, 3, 4, 5), {}),
    ("rearrange", "b c (h w) -> b h w c", (2, 3, 12), {"h": 4}),
    ("rearrange", "b ... -> b (...)", (2, 3, 4), {}),
    ("reduce", "b c h w -> b c", (2, 3, 4, 5), {"reduction": "mean"}),
    ("reduce", "b c (h 2) (w 2) -> b c h w", (2, 3, 4, 6), {"reduction": "max"}),
    ("reduce", "b c h w -> b c () ()", (2, 3, 4, 5), {"reduction": "min"}),
    ("reduce", "... c -> c", (2, 3, 4), {"reduction": "sum"}),
    ("repeat", "h w -> h w c", (3, 4), {"c": 2}),
    ("repeat", "h w -> (h 2) (w 3)", (3, 4), {}),
]


@pytest.mark.parametrize("func,pattern,shape,kw", PATTERNS, ids=[p[1] for p in PATTERNS])
def test_against_einops(func, pattern, shape, kw):
    einops = pytest.importorskip("einops")
    x = arr(*shape)
    kw = dict(kw)
    if func == "reduce":
        red = kw.pop("reduction")
        want, got = einops.reduce(x, pattern, red, **kw), einc.reduce(x, pattern, red, **kw)
    else:
        want, got = getattr(einops, func)(x, pattern, **kw), getattr(einc, func)(x, pattern, **kw)
    same(got, want)


def test_errors_point_at_the_axis():
    x = arr(2, 3)
    with pytest.raises(ValueError) as e:
        einc.rearrange(x, "h w -> h")
    assert str(e.value) == ("rearrange: axis 'w' is on the left of '->' but not on the right "
                            "(use reduce to drop it)\n  h w -> h\n    ^")
    with pytest.raises(ValueError) as e:
        einc.reduce(x, "h w -> h c", "sum")
    assert str(e.value) == ("reduce: axis 'c' is on the right of '->' but not on the left "
                            "(reduce only drops axes)\n  h w -> h c\n           ^")
    with pytest.raises(ValueError) as e:
        einc.repeat(x, "h w -> h")
    assert str(e.value).startswith("repeat: axis 'w' is on the left of '->' but not on the right")
    with pytest.raises(ValueError) as e:
        einc.rearrange(np.ones((2, 85)), "a (b c) -> a b c", c=2)
    assert str(e.value) == ("operand 0: can't divide axis (b c) of length 85 in chunks of 2\n"
                            "  a (b c) -> a b c\n    ^^^^^")
    with pytest.raises(ValueError, match="unknown reduction 'median'"):
        einc.reduce(x, "h w -> h", "median")
    with pytest.raises(TypeError, match="a callable is not one"):
        einc.reduce(x, "h w -> h", np.sum)
    with pytest.raises(TypeError, match="the length of axis 'c' must be an integer"):
        einc.repeat(x, "h w -> h w c", c=2.5)
