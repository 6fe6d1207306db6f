"""The layer language's built-ins against torch.nn.functional itself, where torch is
importable: each model below is one call, run by einc.Model on torch tensors, in float64 so
that a difference is a semantic one, not rounding."""
import pytest

import einc

torch = pytest.importorskip("torch")
F = torch.nn.functional

GEN = torch.Generator().manual_seed(5)


def randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def run(body, **arrays):
    """einc.Model of `y = BODY; return y` with one f64 input per array."""
    decl = "".join(f"input {k}: f64[{', '.join(f'{k}{i}' for i in range(v.dim()))}]\n"
                   for k, v in arrays.items())
    got = einc.Model(f"{decl}y = {body}\nreturn y\n")(**arrays)
    assert isinstance(got, torch.Tensor)
    return got


def same(got, want):
    assert got.shape == want.shape, (got.shape, want.shape)
    torch.testing.assert_close(got.to(want.dtype), want, rtol=1e-12, atol=1e-12)


ACTIVATIONS = [
    ("relu(x)", lambda x: F.relu(x)),
    ("sigmoid(x)", torch.sigmoid),
    ("tanh(x)", torch.tanh),
    ("silu(x)", F.silu),
    ("hardswish(x)", F.hardswish),
    ("gelu(x)", F.gelu),
    ("gelu(x, approximate='tanh')", lambda x: F.gelu(x, approximate="tanh")),
    ("leaky_relu(x)", F.leaky_relu),
    ("leaky_relu(x, negative_slope=0.2)", lambda x: F.leaky_relu(x, 0.2)),
    ("elu(x)", F.elu),
    ("elu(x, alpha=0.5)", lambda x: F.elu(x, 0.5)),
    ("softplus(x)", F.softplus),
    ("softplus(x, beta=2, threshold=3)", lambda x: F.softplus(x, beta=2, threshold=3)),
    ("softmax(x)", lambda x: F.softmax(x, -1)),
    ("softmax(x, dim=1)", lambda x: F.softmax(x, 1)),
    ("log_softmax(x)", lambda x: F.log_softmax(x, -1)),
    ("log_softmax(x, dim=0)", lambda x: F.log_softmax(x, 0)),
]


@pytest.mark.parametrize("body,ref", ACTIVATIONS, ids=[a for a, _ in ACTIVATIONS])
def test_activations(body, ref):
    x = randn(3, 5, 7) * 4
    same(run(body, x=x), ref(x))


def test_gelu_erf_tolerance():
    # the erf-based gelu goes through einc's erf, which is accurate to float64 rounding
    x = torch.linspace(-8, 8, 401, dtype=torch.float64)
    same(run("gelu(x)", x=x), F.gelu(x))


@pytest.mark.parametrize("kw,tkw", [
    ("", {}),
    (", stride=2, padding=1", dict(stride=2, padding=1)),
    (", padding=(2, 1), dilation=2", dict(padding=(2, 1), dilation=2)),
    (", groups=2", dict(groups=2)),
    (", padding='same'", dict(padding="same")),
])
def test_conv2d(kw, tkw):
    x, w, b = randn(2, 4, 9, 8), randn(6, 4 // tkw.get("groups", 1), 3, 3), randn(6)
    same(run(f"conv2d(x, w, b{kw})", x=x, w=w, b=b), F.conv2d(x, w, b, **tkw))


def test_linear_batchnorm_layernorm():
    x, w, b = randn(4, 6), randn(3, 6), randn(3)
    same(run("linear(x, w, b)", x=x, w=w, b=b), F.linear(x, w, b))
    x = randn(2, 3, 4, 5)
    m, v, g, bb = randn(3), randn(3).abs() + 0.5, randn(3), randn(3)
    same(run("batchnorm2d(x, m, v, g, bb, eps=1e-3)", x=x, m=m, v=v, g=g, bb=bb),
         F.batch_norm(x, m, v, g, bb, training=False, eps=1e-3))
    g, bb = randn(4, 5), randn(4, 5)
    same(run("layernorm(x, g, bb, dims=2)", x=x, g=g, bb=bb), F.layer_norm(x, (4, 5), g, bb))
    same(run("layernorm(x)", x=x), F.layer_norm(x, (5,)))


POOLS = [
    ("max_pool2d(x, 3)", lambda x: F.max_pool2d(x, 3)),
    ("max_pool2d(x, 3, stride=2, padding=1)", lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("max_pool2d(x, 2, stride=1, padding=1, dilation=2)", lambda x: F.max_pool2d(x, 2, 1, 1, 2)),
    ("max_pool2d(x, 3, stride=2, ceil_mode=1)", lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True)),
    ("avg_pool2d(x, 2)", lambda x: F.avg_pool2d(x, 2)),
    ("avg_pool2d(x, 3, stride=2, padding=1)", lambda x: F.avg_pool2d(x, 3, 2, 1)),
    ("avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=0)",
     lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    ("avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=1)",
     lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("adaptive_avg_pool2d(x, 1)", lambda x: F.adaptive_avg_pool2d(x, 1)),
    ("adaptive_avg_pool2d(x, (3, 2))", lambda x: F.adaptive_avg_pool2d(x, (3, 2))),
    ("adaptive_max_pool2d(x, (4, none))", lambda x: F.adaptive_max_pool2d(x, (4, None))),
]


@pytest.mark.parametrize("body,ref", POOLS, ids=[a for a, _ in POOLS])
def test_pooling_on_negative_data(body, ref):
    # all-negative data: a padded position that took part in a max would win it
    x = -randn(2, 3, 9, 7).abs() - 1
    same(run(body, x=x), ref(x))


def test_flatten_argmax_argmin():
    x = randn(2, 3, 4, 5)
    same(run("flatten(x)", x=x), torch.flatten(x, 1))
    same(run("flatten(x, start_dim=0, end_dim=2)", x=x), torch.flatten(x, 0, 2))
    x = torch.tensor([[1., 3., 3., 0.], [float("nan"), 2., float("nan"), 5.]], dtype=torch.float64)
    got = run("argmax(x, dim=1)", x=x)
    assert got.dtype == torch.int64 and torch.equal(got, torch.argmax(x, 1))
    assert torch.equal(run("argmin(x, dim=1, keepdim=1)", x=x), torch.argmin(x, 1, keepdim=True))
    assert torch.equal(run("argmax(x)", x=x), torch.argmax(x))


def test_cnn_classifier_probabilities():
    """conv2d, batchnorm2d, relu, max_pool2d, adaptive_avg_pool2d, flatten, linear, softmax:
    one model against the same torch.nn.functional calls."""
    src = """
input x: f64[N, 3, H, W]
param w1: f64[8, 3, 3, 3]
param m1: f64[8]
param v1: f64[8]
param w2: f64[5, 8]
param b2: f64[5]
y = relu(batchnorm2d(conv2d(x, w1, padding=1), m1, v1))
y = max_pool2d(y, 2)
y = flatten(adaptive_avg_pool2d(y, 1))
return softmax(linear(y, w2, b2), dim=1)
"""
    a = dict(x=randn(4, 3, 10, 12), w1=randn(8, 3, 3, 3), m1=randn(8), v1=randn(8).abs() + 0.5,
             w2=randn(5, 8), b2=randn(5))
    got = einc.Model(src)(**a)
    y = F.relu(F.batch_norm(F.conv2d(a["x"], a["w1"], padding=1), a["m1"], a["v1"]))
    y = torch.flatten(F.adaptive_avg_pool2d(F.max_pool2d(y, 2), 1), 1)
    same(got, F.softmax(F.linear(y, a["w2"], a["b2"]), 1))
