"""Bad input: ValueError or TypeError carrying einc's message and caret, and an out= that
an error leaves as it was."""
import numpy as np
import pytest

import einc

A = np.ones((2, 3), np.float32)


def test_bad_expression_is_a_value_error_with_a_caret():
    with pytest.raises(ValueError) as e:
        einc.einsum("ij,jk->i(k", A, A.T)
    assert str(e.value) == ("invalid subscript '(': numpy-style subscripts are the letters a-z and "
                            "A-Z (the numpy dialect was asked for)\n  ij,jk->i(k\n          ^")
    assert e.value.span == (8, 9)


def test_output_index_in_no_input():
    with pytest.raises(ValueError) as e:
        einc.einsum("ij,jk->ijl", A, A.T)
    assert str(e.value) == ("index 'l' appears in the output but in no input; give its size (l=N) "
                            "to repeat along it\n  ij,jk->ijl\n           ^")


def test_shape_mismatch_names_operands_and_sizes():
    with pytest.raises(ValueError) as e:
        einc.einsum("ij,jk->ik", A, np.ones((4, 2), np.float32))
    assert str(e.value) == "axis 'j' has length 4 in operand 1 but 3 in operand 0\n  ij,jk->ik\n     ^"


def test_operand_count():
    with pytest.raises(ValueError, match="'ij,jk->ik' takes 2 operands, 1 given"):
        einc.einsum("ij,jk->ik", A)
    with pytest.raises(ValueError, match="takes 2 operands, 1 given"):
        einc.compile("ij,jk->ik")(A)


def test_dtypes_einc_lacks_are_a_type_error():
    with pytest.raises(TypeError, match="operand 0 has dtype float128: einc computes on bool"):
        einc.einsum("ij->i", A.astype(np.longdouble))
    with pytest.raises(TypeError, match="operand 1 has dtype <U1"):
        einc.einsum("i,i->i", np.ones(1), np.array(["a"]))
    with pytest.raises(TypeError, match="has dtype object"):
        einc.einsum("i->", np.array([1, "a"], dtype=object))


def test_not_an_array():
    with pytest.raises(ValueError):
        einc.einsum("ij->i", [[1, 2], [3]])


def test_bad_options():
    with pytest.raises(ValueError, match="unknown reduction 'median'"):
        einc.compile("ij->i", reduction="median")
    with pytest.raises(ValueError, match="unknown dialect 'fortran'"):
        einc.compile("ij->i", dialect="fortran")
    with pytest.raises(ValueError, match="unknown target 'tpu'"):
        einc.compile("ij->i", target="tpu")
    with pytest.raises(ValueError, match="casting must be one of"):
        einc.einsum("ij->i", A, casting="sometimes")
    with pytest.raises(TypeError, match="a kernel takes arrays, out= and bf16= only"):
        einc._einc.kernel("ij->i")(A, where=True)


def sentinel_out(shape=(2, 2), dtype=np.float32):
    return np.full(shape, -7.0, dtype)


@pytest.mark.parametrize("call", [
    lambda out: einc.einsum("ij,jk->ik", A, np.ones((4, 2), np.float32), out=out),   # shapes
    lambda out: einc.einsum("ij,jk->i(k", A, A.T, out=out),                          # syntax
    lambda out: einc.einsum("ij,jk->ik", A, A, out=out),                             # operand
    lambda out: einc.einsum("ij,jk->ik", A.astype(np.float64), A.T, out=out),        # cast
    lambda out: einc.einsum("ij,jk->ik", A, A.T, out=out[:1]),                       # out's shape
    lambda out: einc.einsum("ij,jk->ik", A.astype(np.longdouble), A.T, out=out),     # dtype
    lambda out: einc.compile("ij,jk->ik")(A, np.ones((4, 2), np.float32), out=out),
], ids=["shape", "syntax", "operand", "cast", "out-shape", "dtype", "kernel"])
def test_nothing_written_into_out_on_error(call):
    out = sentinel_out()
    with pytest.raises((ValueError, TypeError)):
        call(out)
    assert (out == -7.0).all()


def test_read_only_out():
    out = sentinel_out()
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        einc.einsum("ij,jk->ik", A, A.T, out=out)


def test_out_must_be_an_array():
    with pytest.raises(TypeError, match="out must be a numpy array"):
        einc.einsum("ij,jk->ik", A, A.T, out=[[0, 0], [0, 0]])


def test_cuda_target_without_a_gpu_fails_cleanly_or_computes():
    k = einc.compile("ij,jk->ik", target="cuda")
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(6, dtype=np.float32).reshape(3, 2)
    try:
        got = k(a, b.T.copy().T)        # strided: made contiguous for the CUDA target
    except RuntimeError as e:
        assert "CUDA" in str(e) or "cuda" in str(e)
    else:
        np.testing.assert_array_equal(got, a @ b)


def test_calls_do_not_leak():
    """Python objects and PyMem blocks (the extension's and numpy's, both traced) come back:
    each way through a call, errors included, leaves traced memory where it was."""
    import gc
    import tracemalloc

    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    out = np.empty((3, 5), np.float32)
    bad = np.ones((5, 5), np.float32)
    many = [np.ones((2, 2), np.float32)] * 6

    def calls():
        einc.einsum("ij,jk->ik", a, b)
        einc.einsum("ij,jk->ik", a, b, out=out)
        einc.einsum("ij,jk->ik", a, b, dtype=np.float64)
        einc.einsum(a, [0, 1], b, [1, 2])
        einc.einsum("ab,bc,cd,de,ef,fg->ag", *many)
        einc.rearrange(a, "h w -> w h")
        for f in (lambda: einc.einsum("ij,jk->ik", a, bad), lambda: einc.einsum("ij,jk->i(k", a, b),
                  lambda: einc.einsum("ij,jk->ik", a, b, out=bad)):
            try:
                f()
            except (ValueError, TypeError):
                pass

    for _ in range(50):         # caches, memos and numpy's own free lists fill first
        calls()
    gc.collect()
    tracemalloc.start()
    try:
        calls()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(500):
            calls()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes more after 500 rounds of calls"
