"""Max pooling on every backend against torch.nn.functional: `einc run` on the interpreter, the
JIT and the CUDA target (on the emulator, EINC_CUDA_EMU=1, where no GPU is needed), and the C
`einc --emit=c` prints, compiled with cc and called through ctypes.  All-negative data in
float and integer dtypes, with padding (which must never win the max) and ceil_mode windows
that reach into the padding; adaptive windows with an inf and a NaN outside some of them."""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

import einc

torch = pytest.importorskip("torch")
F = torch.nn.functional

# the package is BUILD/python/einc, the CLI BUILD/einc
CLI = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(einc.__file__)))), "einc")
if not os.access(CLI, os.X_OK):
    pytest.skip(f"no einc command line at {CLI}", allow_module_level=True)

CASES = [
    ("max_pool2d(x, 3, stride=2, padding=1)", lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("max_pool2d(x, 2, 2, 1, ceil_mode=1)", lambda x: F.max_pool2d(x, 2, 2, 1, ceil_mode=True)),
    ("max_pool2d(x, 3, 3, 1, ceil_mode=1)", lambda x: F.max_pool2d(x, 3, 3, 1, ceil_mode=True)),
    ("max_pool2d(x, (2, 3), (3, 2), (1, 1), (2, 1), 1)",
     lambda x: F.max_pool2d(x, (2, 3), (3, 2), (1, 1), (2, 1), ceil_mode=True)),
    # torch has no integer adaptive max pool: through float64, exact for these integers
    ("adaptive_max_pool2d(x, (4, 3))", lambda x: F.adaptive_max_pool2d(x.double(), (4, 3)).to(x.dtype)),
]
DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}
SHAPE = (2, 3, 7, 8)


def negative(dt, seed=3):
    rng = np.random.default_rng(seed)
    if np.issubdtype(DTYPES[dt], np.integer):
        return -rng.integers(1, 60, SHAPE).astype(DTYPES[dt])
    return (-rng.random(SHAPE) * 8 - 1).astype(DTYPES[dt])


def model(tmp_path, dt, body):
    path = tmp_path / "m.einl"
    path.write_text(f"input x: {dt}[N, C, H, W]\nreturn {body}\n")
    return path


def run_cli(tmp_path, path, x, target):
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, EINC_CUDA_EMU="1") if target == "cuda" else None
    r = subprocess.run([CLI, "run", str(path), f"x={tmp_path / 'x.npy'}", f"--target={target}",
                        "-o", str(tmp_path / "y.npy")], capture_output=True, text=True, env=env)
    if target == "cuda" and r.returncode != 0 and "C++ compiler" in r.stderr:
        pytest.skip("the CUDA emulator needs a C++ compiler")
    assert r.returncode == 0, r.stderr
    return np.load(tmp_path / "y.npy")


def run_emitted(tmp_path, path, x):
    if not shutil.which("cc"):
        pytest.skip("no cc")
    sizes = [f"{n}={v}" for n, v in zip("NCHW", x.shape)]
    c = tmp_path / "k.c"
    subprocess.run([CLI, "--emit=c", str(path), *sizes, "-o", str(c)], check=True)
    so = tmp_path / "k.so"
    subprocess.run(["cc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(so),
                    str(c), "-lm"], check=True)
    lib = ctypes.CDLL(str(so))
    want = torch.from_numpy(x)
    y = np.zeros(tuple(ref_shape(path, want)), dtype=x.dtype)
    args = [x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p)]
    if hasattr(lib, "einc_kernel_workspace"):
        lib.einc_kernel_workspace.restype = ctypes.c_size_t
        ws = ctypes.create_string_buffer(max(1, lib.einc_kernel_workspace()) + 64)
        args.append(ctypes.c_void_p((ctypes.addressof(ws) + 63) // 64 * 64))
    lib.einc_kernel(*args)
    return y


def ref_shape(path, x):
    body = path.read_text().splitlines()[1][len("return "):]
    return dict(CASES)[body](x).shape


@pytest.mark.parametrize("target", ["interp", "cpu", "cuda", "emitted"])
@pytest.mark.parametrize("dt", list(DTYPES))
@pytest.mark.parametrize("body,ref", CASES, ids=[b for b, _ in CASES])
def test_max_pool_padding_never_wins(tmp_path, body, ref, dt, target):
    x = negative(dt)
    path = model(tmp_path, dt, body)
    got = run_emitted(tmp_path, path, x) if target == "emitted" else run_cli(tmp_path, path, x, target)
    want = ref(torch.from_numpy(x)).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want), (got, want)


@pytest.mark.parametrize("target", ["interp", "cpu", "cuda", "emitted"])
def test_adaptive_max_windows_alone(tmp_path, target):
    x = negative("f32")
    x[0, 0, 3, 7] = np.inf      # in the windows of column output 2 only
    x[1, 2, 6, 0] = np.nan      # in the last row's first windows only
    path = model(tmp_path, "f32", "adaptive_max_pool2d(x, (4, 3))")
    got = run_emitted(tmp_path, path, x) if target == "emitted" else run_cli(tmp_path, path, x, target)
    want = F.adaptive_max_pool2d(torch.from_numpy(x), (4, 3)).numpy()
    assert np.array_equal(got, want, equal_nan=True), (got, want)
