"""einc.Model on examples/resblock.einl and small models, against numpy references."""
import os

import numpy as np
import pytest

import einc

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
RESBLOCK = os.path.join(EXAMPLES, "resblock.einl")
RNG = np.random.default_rng(11)


def conv2d(x, w, pad):
    """torch.nn.functional.conv2d, stride 1, in float64: a sum of shifted 1x1 convolutions."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return out


def resblock_ref(x, w, mean, var, gamma, beta, eps=1e-5):
    x, w, mean, var, gamma, beta = (a.astype(np.float64) for a in (x, w, mean, var, gamma, beta))
    y = conv2d(x, w, 1)
    c = (slice(None), None, None)
    y = (y - mean[c]) / np.sqrt(var[c] + eps) * gamma[c] + beta[c]
    return x + np.maximum(y, 0)


def resblock_inputs(n=2, h=6, w=5):
    f = np.float32
    return dict(x=RNG.standard_normal((n, 64, h, w)).astype(f),
                w=(RNG.standard_normal((64, 64, 3, 3)) * 0.1).astype(f),
                mean=RNG.standard_normal(64).astype(f),
                var=(np.abs(RNG.standard_normal(64)) + 0.5).astype(f),
                gamma=RNG.standard_normal(64).astype(f),
                beta=RNG.standard_normal(64).astype(f))


def close(got, want):
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * (1 + np.abs(want).max()))


def test_resblock_by_name():
    m = einc.Model(RESBLOCK)
    assert m.inputs == ("x", "w", "mean", "var", "gamma", "beta")
    ins = resblock_inputs()
    close(m(**ins), resblock_ref(**ins))


def test_resblock_positional_and_new_shapes():
    m = einc.Model(RESBLOCK)
    for shape in ((1, 4, 4), (3, 7, 3)):
        ins = resblock_inputs(*shape)
        close(m(*ins.values()), resblock_ref(**ins))
    ins = resblock_inputs()
    x = ins.pop("x")
    close(m(x, **ins), resblock_ref(x, **ins))


def test_resblock_strided_input():
    m = einc.Model(RESBLOCK)
    ins = resblock_inputs(2, 8, 6)
    ins["x"] = ins["x"][:, :, ::-2, :]
    close(m(**ins), resblock_ref(**ins))


def test_model_from_source_and_sizes():
    m = einc.Model("input x: f32[R, C]\nreturn softmax(x, dim=-1)\n")
    x = RNG.standard_normal((4, 7)).astype(np.float32)
    e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    close(m(x), e / e.sum(1, keepdims=True))
    fixed = einc.Model("input x: f32[R, C]\nreturn relu(x)\n", C=7)
    close(fixed(x=x), np.maximum(x, 0).astype(np.float64))
    with pytest.raises(ValueError):
        fixed(x=x[:, :6])


def test_model_explain_and_compile():
    m = einc.compile(RESBLOCK)
    assert isinstance(m, einc.Model)
    text = m.explain(**resblock_inputs(1, 4, 4))
    assert "layer language" in text and "x w mean var gamma beta" in text
    assert "Model" in repr(m)


def test_model_bad_calls():
    m = einc.Model(RESBLOCK)
    ins = resblock_inputs()
    with pytest.raises(TypeError) as e:
        m(x=ins["x"])
    assert str(e.value) == "the model is missing inputs w, mean, var, gamma, beta"
    with pytest.raises(TypeError, match="the model has no input 'bias'"):
        m(**ins, bias=ins["beta"])
    with pytest.raises(TypeError, match="two values for input 'x'"):
        m(ins["x"], x=ins["x"])
    with pytest.raises(TypeError, match="the model takes 6 inputs"):
        m(*ins.values(), ins["x"])


def test_model_shape_and_dtype_errors_name_the_file_line():
    m = einc.Model(RESBLOCK)
    ins = resblock_inputs()
    ins["mean"] = ins["mean"][:63]
    with pytest.raises(ValueError) as e:
        m(**ins)
    assert str(e.value) == (f"{RESBLOCK}:10:17: param 'mean': dimension 0 is declared 64, but the "
                            "array's is 63\n  param mean: f32[64]\n                  ^^")
    ins = resblock_inputs()
    ins["x"] = ins["x"].astype(np.float64)
    with pytest.raises(TypeError, match=r"input 'x' is declared float32\[N, 64, H, W\], but the array is float64"):
        m(**ins)


def test_model_syntax_error():
    with pytest.raises(ValueError) as e:
        einc.Model("input x: f32[N]\nreturn x +\n")
    assert "\n  return x +\n" in str(e.value)
