"""einc.einsum against numpy.einsum: the string, implicit and sublist forms, ellipses,
strided views, out=, optimize=, dtype=, order= and result types."""
import threading

import numpy as np
import pytest

import einc

RNG = np.random.default_rng(23)


def arr(*shape, dtype=np.float32):
    if np.dtype(dtype).kind == "f":
        return RNG.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return RNG.integers(0, 2, shape).astype(bool)
    return RNG.integers(-5, 6, shape).astype(dtype)


def check(got, want):
    """Same dtype and shape as numpy; floats within a tolerance for reassociated sums,
    integers and bools exactly."""
    got_a, want_a = np.asarray(got), np.asarray(want)
    assert got_a.dtype == want_a.dtype, (got_a.dtype, want_a.dtype)
    assert got_a.shape == want_a.shape, (got_a.shape, want_a.shape)
    if want_a.dtype.kind == "f":
        tol = 1e-4 if want_a.dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got_a, want_a, rtol=tol, atol=tol * (1 + np.abs(want_a).max(initial=0)))
    else:
        np.testing.assert_array_equal(got_a, want_a)


CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ik,kj->ij", [(17, 9), (9, 13)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->ij", [(3, 3, 2)]),
    ("ij->ji", [(3, 5)]),
    ("ij->", [(6, 7)]),
    ("i,i", [(8,), (8,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhid,bhjd->bhij", [(2, 2, 5, 4), (2, 2, 6, 4)]),
    ("ijk,jl,kl->il", [(4, 5, 6), (5, 3), (6, 3)]),
    ("ab,bc,cd,de->ae", [(3, 4), (4, 5), (5, 6), (6, 2)]),
    (",ij->ij", [(), (2, 3)]),
    ("ij, jk -> ik", [(2, 3), (3, 2)]),
    # implicit output: labels used once, in ASCII order (uppercase first)
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ba", [(3, 4)]),
    ("bA,Ab", [(3, 4), (4, 3)]),
    ("ij,ij", [(3, 4), (3, 4)]),
    # ellipses, right-aligned and broadcast
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i...->...", [(3, 2, 4)]),
    ("...i,...i", [(2, 3), (3,)]),
    ("ij...,jk...->ik...", [(2, 3, 4), (3, 5, 4)]),
    # a length-1 dimension broadcasts against its label
    ("ij,ij->ij", [(1, 4), (3, 4)]),
]


@pytest.mark.parametrize("expr,shapes", CASES, ids=[c[0] for c in CASES])
def test_strings_match_numpy(expr, shapes):
    ops = [arr(*s) for s in shapes]
    check(einc.einsum(expr, *ops), np.einsum(expr, *ops))


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64, bool])
def test_dtypes(dtype):
    a, b = arr(4, 5, dtype=dtype), arr(5, 3, dtype=dtype)
    check(einc.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b))
    check(einc.einsum("ij->j", a), np.einsum("ij->j", a))


def test_mixed_dtypes_follow_result_type():
    a, b = arr(4, 5, dtype=np.int32), arr(5, 3, dtype=np.float32)
    got = einc.einsum("ij,jk->ik", a, b)
    assert got.dtype == np.result_type(a, b) == np.float64
    check(got, np.einsum("ij,jk->ik", a, b))


def test_int32_wraps_as_numpy():
    a = np.full((3, 3), 2 ** 30, np.int32)
    check(einc.einsum("ij->i", a), np.einsum("ij->i", a))


def test_full_contraction_gives_numpy_scalar():
    a, b = arr(5), arr(5)
    got, want = einc.einsum("i,i", a, b), np.einsum("i,i", a, b)
    assert type(got) is type(want)
    check(got, want)
    i = arr(3, 3, dtype=np.int32)
    assert type(einc.einsum("ij->", i)) is type(np.einsum("ij->", i))
    assert einc.einsum("ij->", i) == np.einsum("ij->", i)


def test_python_lists_and_scalars():
    check(einc.einsum("i,i", [1, 2, 3], [4, 5, 6]), np.einsum("i,i", [1, 2, 3], [4, 5, 6]))
    check(einc.einsum(",i->i", 2.5, np.ones(3)), np.einsum(",i->i", 2.5, np.ones(3)))


def test_empty_dimensions():
    a, b = arr(3, 0), arr(0, 4)
    check(einc.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b))
    check(einc.einsum("ij,jk->ik", arr(0, 2), arr(2, 4)), np.einsum("ij,jk->ik", arr(0, 2), arr(2, 4)))


# ---- the sublist form ----

def test_sublists():
    a, b = arr(3, 4), arr(4, 5)
    check(einc.einsum(a, [0, 1], b, [1, 2], [0, 2]), np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
    check(einc.einsum(a, [0, 1], b, [1, 2]), np.einsum(a, [0, 1], b, [1, 2]))      # implicit
    check(einc.einsum(a, [1, 0]), np.einsum(a, [1, 0]))
    c = arr(2, 3, 4)
    check(einc.einsum(c, [Ellipsis, 0], [0, Ellipsis]), np.einsum(c, [Ellipsis, 0], [0, Ellipsis]))
    # labels 26-51 are the lowercase ones: the implicit output keeps the integers' order
    check(einc.einsum(a, [30, 2]), np.einsum(a, [30, 2]))
    check(einc.einsum(a, [np.int64(0), np.int64(1)], []), np.einsum(a, [0, 1], []))


def test_sublist_label_out_of_range():
    with pytest.raises(ValueError, match=r"label 52 is not within the valid range \[0, 52\)"):
        einc.einsum(arr(2), [52])


# ---- strided views: passed with their strides ----

VIEWS = {     # each an 8x8 view of a 16x16 array
    "reversed rows, step 2": lambda a: a[::-2, :8],
    "reversed columns, step 2": lambda a: a[:8, ::-2],
    "transposed": lambda a: a[:8, 4:12].T,
    "every other row and column": lambda a: a[::2, ::2],
    "broadcast rows (zero stride)": lambda a: np.broadcast_to(a[:1, :8], (8, 8)),
    "broadcast columns (zero stride)": lambda a: np.broadcast_to(a[:8, :1], (8, 8)),
    "both reversed": lambda a: a[-1:-9:-1, -1:-9:-1],
    "fortran order": lambda a: np.asfortranarray(a[:8, :8]),
}


@pytest.mark.parametrize("view", list(VIEWS), ids=list(VIEWS))
def test_strided_inputs(view):
    a, b = VIEWS[view](arr(16, 16)), VIEWS[view](arr(16, 16))
    assert a.shape == b.shape == (8, 8)
    check(einc.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b))
    check(einc.einsum("ij->j", a), np.einsum("ij->j", a))
    check(einc.einsum("ij->ji", a), np.einsum("ij->ji", a))
    check(einc.einsum("ii->i", a), np.einsum("ii->i", a))


def test_strided_ellipsis_and_3d():
    x = arr(4, 6, 5)[::-1, ::2, 1:]
    check(einc.einsum("b...->...b", x), np.einsum("b...->...b", x))
    check(einc.einsum("bij,bjk->bik", x, x.transpose(0, 2, 1)),
          np.einsum("bij,bjk->bik", x, x.transpose(0, 2, 1)))


def test_byte_strides_that_are_not_whole_elements():
    # a field of a packed structured array: its stride (12 bytes) is not a float64 multiple
    rec = np.zeros(5, dtype=[("a", np.float32), ("b", np.float64)])
    rec["b"] = np.arange(5)
    view = rec["b"]
    assert view.strides[0] % view.itemsize != 0
    check(einc.einsum("i->", view), np.einsum("i->", view))


def test_non_native_byte_order():
    a = arr(3, 4).astype(">f4")
    check(einc.einsum("ij->j", a), np.einsum("ij->j", a).astype(np.float32))


# ---- out= ----

def test_out_is_written_and_returned():
    a, b = arr(3, 4), arr(4, 5)
    out = np.full((3, 5), 7.0, np.float32)
    assert einc.einsum("ij,jk->ik", a, b, out=out) is out
    check(out, np.einsum("ij,jk->ik", a, b))


def test_out_strided():
    a, b = arr(3, 4), arr(4, 5)
    base = np.full((6, 10), 7.0, np.float32)
    out = base[::2, ::-2]
    einc.einsum("ij,jk->ik", a, b, out=out)
    check(out, np.einsum("ij,jk->ik", a, b))
    assert (base[1::2] == 7).all() and (base[::2, ::-2][:, :0] == 7).all()
    assert (base[::2, -2::-2] == 7).all()       # the columns out= does not cover


def test_out_of_another_dtype_casts_as_numpy():
    a = arr(3, 4)
    out = np.zeros(4, np.float64)
    einc.einsum("ij->j", a, out=out)
    check(out, np.einsum("ij->j", a).astype(np.float64))
    out32 = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="Cannot cast"):
        einc.einsum("ij->j", arr(3, 4, dtype=np.float64), out=out32)
    einc.einsum("ij->j", arr(3, 4, dtype=np.float64), out=out32, casting="same_kind")


def test_out_overlapping_an_input():
    s = arr(5, 5)
    want = s.T.copy()
    einc.einsum("ij->ji", s, out=s)
    check(s, want)
    m = arr(4, 4)
    want = np.einsum("ij,jk->ik", m, m)
    einc.einsum("ij,jk->ik", m, m, out=m)
    check(m, want)


def test_out_0d():
    out = np.zeros((), np.float32)
    a = arr(6)
    r = einc.einsum("i->", a, out=out)
    assert r is out
    check(out, np.einsum("i->", a))


# ---- optimize=, dtype=, order= ----

@pytest.mark.parametrize("opt", [False, True, "greedy", "optimal", ("greedy", 10 ** 6), ("optimal", 1)])
def test_optimize_values(opt):
    ops = [arr(5, 6), arr(6, 7), arr(7, 4)]
    check(einc.einsum("ij,jk,kl->il", *ops, optimize=opt), np.einsum("ij,jk,kl->il", *ops))


def test_optimize_explicit_path_is_honoured():
    ops = [arr(5, 6), arr(6, 7), arr(7, 4)]
    path = np.einsum_path("ij,jk,kl->il", *ops)[0]
    assert path[0] == "einsum_path"
    want = np.einsum("ij,jk,kl->il", *ops)
    check(einc.einsum("ij,jk,kl->il", *ops, optimize=path), want)
    check(einc.einsum("ij,jk,kl->il", *ops, optimize=["einsum_path", (1, 2), (0, 1)]), want)
    check(einc.einsum("ij,jk,kl", *ops, optimize=["einsum_path", (0, 2), (0, 1)]), want)
    x = arr(4, 4)
    check(einc.einsum("ii,ij->j", x, x, optimize=["einsum_path", (0,), (0, 1)]),
          np.einsum("ii,ij->j", x, x))
    out = np.zeros((5, 4), np.float64)
    einc.einsum("ij,jk,kl->il", *ops, optimize=path, out=out)
    check(out.astype(np.float32), want)


def test_optimize_explicit_path_errors():
    ops = [arr(5, 6), arr(6, 7), arr(7, 4)]
    with pytest.raises(RuntimeError, match="leaves 2 operands uncontracted"):
        einc.einsum("ij,jk,kl->il", *ops, optimize=["einsum_path", (0, 1)])
    with pytest.raises(ValueError, match=r"path step \(0, 3\)"):
        einc.einsum("ij,jk,kl->il", *ops, optimize=["einsum_path", (0, 3)])
    with pytest.raises(ValueError, match="with '...' is not supported"):
        einc.einsum("...j,jk->...k", *ops[:2], optimize=["einsum_path", (0, 1)])


def test_optimize_nonsense():
    with pytest.raises(TypeError, match="Did not understand the path"):
        einc.einsum("ij->i", arr(2, 2), optimize="fastest")


def test_dtype_argument():
    a, b = arr(4, dtype=np.int32), arr(4, dtype=np.int32)
    check(einc.einsum("i,i->i", a, b, dtype=np.float64), np.einsum("i,i->i", a, b, dtype=np.float64))
    with pytest.raises(TypeError, match="Cannot cast"):
        einc.einsum("i->i", arr(4), dtype=np.int32)
    x = arr(4) * 10
    check(einc.einsum("i,i->i", x, x, dtype=np.int32, casting="unsafe"),
          np.einsum("i,i->i", x, x, dtype=np.int32, casting="unsafe"))


def test_order():
    a, b = arr(3, 4), arr(4, 5)
    f = einc.einsum("ij,jk->ik", a, b, order="F")
    assert f.flags.f_contiguous
    check(f, np.einsum("ij,jk->ik", a, b))
    assert einc.einsum("ij,jk->ik", a, b, order="C").flags.c_contiguous
    fa, fb = np.asfortranarray(a), np.asfortranarray(b)
    assert einc.einsum("ij,jk->ik", fa, fb, order="A").flags.f_contiguous
    with pytest.raises(ValueError, match="order must be one of"):
        einc.einsum("ij->i", a, order="X")


# ---- the einops form, kernels, threads ----

def test_einops_form_pattern_last():
    a, b = arr(3, 4), arr(4, 5)
    check(einc.einsum(a, b, "i j, j k -> i k"), np.einsum("ij,jk->ik", a, b))
    check(einc.einsum(a, "rows cols -> cols"), a.sum(0))
    v = arr(6)
    check(einc.einsum(v, "index ->"), v.sum())      # one word: still einops' axis names


def test_composition_inside_einsum():
    x, w = arr(2, 12), arr(3, 5)
    want = np.einsum("bhd,de->bhe", x.reshape(2, 4, 3), w)
    check(einc.einsum(x, w, "b (h d), d e -> b h e"), want)


def test_compile_reuses_kernel():
    k = einc.compile("ij,jk->ik")
    for n in (2, 3, 7):
        a, b = arr(n, n + 1), arr(n + 1, n)
        check(k(a, b), a @ b)
    out = np.empty((2, 2), np.float32)
    a, b = arr(2, 3), arr(3, 2)
    assert k(a, b, out=out) is out
    check(out, a @ b)
    assert k.ninputs == 2


def test_compile_options():
    x = arr(4, 6)
    check(einc.compile("a b -> a", reduction="max")(x), x.max(1))
    check(einc.compile("ab->", dialect="einops")(arr(5)).shape, ())
    check(einc.compile("h w -> h w c", c=3)(x), np.repeat(x[:, :, None], 3, axis=2))
    check(einc.compile("ij,jk->ik", target="interp")(x, x.T), np.einsum("ij,jk->ik", x, x.T))


def test_threads_share_kernels():
    a, b = arr(16, 16), arr(16, 16)
    want = np.einsum("ij,jk->ik", a, b)
    errors = []

    def work():
        try:
            for _ in range(200):
                check(einc.einsum("ij,jk->ik", a, b), want)
        except Exception as e:     # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[0]


def test_explain():
    text = einc.explain("ij,jk->ik", arr(2, 3), arr(3, 4))
    assert "dialect: numpy" in text and "i=2 j=3 k=4" in text
    symbolic = einc.explain("b c (h w) -> b h w c", h=4)
    assert "dialect: einops" in symbolic
    assert einc.explain("ij,jk->ik", dot=True).startswith("digraph")


def test_emit_c():
    src = einc.compile("ij,jk->ik").emit("c", name="matmul")
    assert "void matmul(" in src


def test_many_operands_and_high_ranks():
    ops = [arr(2, 3), arr(3, 2), arr(2, 3), arr(3, 2), arr(2, 3), arr(3, 2)]
    check(einc.einsum("ab,bc,cd,de,ef,fg->ag", *ops), np.einsum("ab,bc,cd,de,ef,fg->ag", *ops))
    x = arr(1, 2, 1, 2, 1, 2, 1, 2, 1, 2)[..., ::-1]
    check(einc.einsum("abcdefghij->jihgfedcba", x), np.einsum("abcdefghij->jihgfedcba", x))
    big = [arr(2, 1, 2, 1, 2, 1, 2, 1, 2) for _ in range(5)]
    expr = ",".join(["abcdefghi"] * 5) + "->ai"
    check(einc.einsum(expr, *big), np.einsum(expr, *big))
