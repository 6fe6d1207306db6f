"""A model emitted as C without all its sizes: the sizes left out are int64_t parameters named
after the declared size names, in declaration order (or --params=), and the header comment
names each.  The C is compiled with cc -Wall -Wextra -Werror, called through ctypes at two
sets of sizes, and compared with the interpreter; a size a built-in computes with is an
error that says so."""
import ctypes
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import einc

# the package is BUILD/python/einc, the CLI BUILD/einc (or EINC_CLI)
CLI = os.environ.get("EINC_CLI") or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(einc.__file__)))), "einc")
if not os.access(CLI, os.X_OK) or not shutil.which("cc"):
    pytest.skip("needs the einc command line and cc", allow_module_level=True)

MLP = """input x: f32[N, C]
param w: f32[D, C]
y = relu(linear(x, w)) / 2
return softmax(y, dim=1) * D
"""
POOL = """input x: f32[N, C, H, W]
return max_pool2d(x, 3, stride=2, padding=1) + reduce(x, 'n c h w -> 1 c 1 1', 'mean')
"""


def emit(tmp_path, src, *words):
    path = tmp_path / "m.einl"
    path.write_text(src)
    r = subprocess.run([CLI, "--emit=c", str(path), *words, "-o", str(tmp_path / "k.c")],
                       capture_output=True, text=True)
    return r, (tmp_path / "k.c")


def build(tmp_path, c):
    so = tmp_path / "k.so"
    subprocess.run(["cc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(so),
                    str(c), "-lm"], check=True)
    return ctypes.CDLL(str(so))


def call(lib, arrays, out, sizes):
    """einc_kernel(arrays..., out, sizes..., workspace)"""
    args = [a.ctypes.data_as(ctypes.c_void_p) for a in arrays] + [out.ctypes.data_as(ctypes.c_void_p)]
    szs = [ctypes.c_int64(s) for s in sizes]
    ws = None
    if hasattr(lib, "einc_kernel_workspace"):
        lib.einc_kernel_workspace.restype = ctypes.c_size_t
        n = lib.einc_kernel_workspace(*szs)
        ws = ctypes.create_string_buffer(n + 64)
    lib.einc_kernel(*args, *szs, *([ctypes.c_void_p((ctypes.addressof(ws) + 63) // 64 * 64)] if ws else []))


def test_mlp_sizes_are_parameters(tmp_path):
    r, c = emit(tmp_path, MLP)
    assert r.returncode == 0, r.stderr
    text = c.read_text()
    assert re.search(r"void einc_kernel\(const float \*restrict x, const float \*restrict w, "
                     r"float \*restrict out, int64_t N, int64_t C, int64_t D", text), text[:2000]
    for line in ("N          int64_t", "C          int64_t", "D          int64_t"):
        assert line in text
    lib = build(tmp_path, c)
    rng = np.random.default_rng(7)
    for n, ch, d in [(3, 5, 4), (7, 2, 9)]:
        x = rng.standard_normal((n, ch)).astype(np.float32)
        w = rng.standard_normal((d, ch)).astype(np.float32)
        want = einc.Model(MLP, target="interp")(x=x, w=w)
        got = np.full((n, d), np.nan, dtype=np.float32)
        call(lib, [x, w], got, [n, ch, d])
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


def test_pool_with_fixed_image_size(tmp_path):
    r, c = emit(tmp_path, POOL, "H=7", "W=8", "--params=C,N")
    assert r.returncode == 0, r.stderr
    assert "float *restrict out, int64_t C, int64_t N, void *workspace)" in c.read_text()
    lib = build(tmp_path, c)
    rng = np.random.default_rng(8)
    for n, ch in [(1, 2), (3, 5)]:
        x = -rng.random((n, ch, 7, 8)).astype(np.float32) - 1
        want = einc.Model(POOL, target="interp")(x=x)
        got = np.full(want.shape, np.nan, dtype=np.float32)
        call(lib, [x], got, [ch, n])
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


def test_size_computed_with_is_an_error(tmp_path):
    r, _ = emit(tmp_path, POOL, "H=7")
    assert r.returncode != 0
    want = ("error: cannot leave N, C and W open in emitted code: line 2: return max_pool2d(x, 3, stride=2, "
            "padding=1) + r... computes a size from them; give them as NAME=N")     # origins are cut short
    assert r.stderr.splitlines()[0].endswith(want), r.stderr


def test_resblock_open_image_size(tmp_path):
    """examples/resblock.einl with N, H and W open: a padded 3x3 convolution keeps its size."""
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "resblock.einl")).read()
    r, c = emit(tmp_path, src)
    assert r.returncode == 0, r.stderr
    assert "float *restrict out, int64_t N, int64_t H, int64_t W)" in c.read_text()
    lib = build(tmp_path, c)
    rng = np.random.default_rng(9)
    a = dict(w=rng.standard_normal((64, 64, 3, 3)).astype(np.float32) / 24,
             mean=rng.standard_normal(64).astype(np.float32), var=rng.random(64).astype(np.float32) + 0.5,
             gamma=rng.standard_normal(64).astype(np.float32), beta=rng.standard_normal(64).astype(np.float32))
    for n, h, w in [(1, 5, 6), (2, 3, 4)]:
        x = rng.standard_normal((n, 64, h, w)).astype(np.float32)
        want = einc.Model(src, target="interp")(x=x, **a)
        got = np.full(want.shape, np.nan, dtype=np.float32)
        call(lib, [x, a["w"], a["mean"], a["var"], a["gamma"], a["beta"]], got, [n, h, w])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
