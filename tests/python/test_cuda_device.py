"""CUDA tensors without copies (einc/__init__.py, _Torch.run_device): with no GPU here, the
branch runs on einc's CUDA emulator (EINC_CUDA_EMU=1, where device pointers are host
pointers) on stand-ins for CUDA tensors: objects with a CUDA tensor's dtype, shape and
data_ptr() over numpy memory, torch's allocation and stream replaced.  What this cannot
show is torch's side (a real tensor's device memory and stream); a GPU run checks that.
Skipped where torch is not importable."""
import os
import shutil
import subprocess
import sys

import pytest

import einc

torch = pytest.importorskip("torch")

CHILD = r'''
import numpy as np, torch, einc

class Fake:
    """A CUDA tensor's face over numpy memory (C-contiguous)."""
    def __init__(self, a):
        self.a = np.require(a, requirements="C")     # (ascontiguousarray makes 0-d 1-d)
        self.dtype = torch.from_numpy(np.empty(0, self.a.dtype)).dtype
        self.shape = torch.Size(self.a.shape)
        self.requires_grad = False
    def detach(self):
        return self
    def contiguous(self):
        return self
    def data_ptr(self):
        return self.a.ctypes.data

tt = einc._Torch(torch, torch.device("cuda", 0))
def poisoned(shape, dtype):
    dt = torch.empty(0, dtype=dtype).numpy().dtype
    return Fake(np.full(shape, np.array(-7).astype(dt)))    # -7, wrapped for unsigned types
tt.empty = poisoned
streams = []
tt.stream = lambda: streams.append(1) or 0
rng = np.random.default_rng(0)
a = rng.integers(-3, 4, (5, 6)).astype(np.float32)
b = rng.integers(-3, 4, (6, 4)).astype(np.float32)
k = einc._einc.kernel("ij,jk->ik", 1, 0, (), einc._CUDA, 0)
r = tt.run_device(k, [Fake(a), Fake(b)])
assert r.dtype == torch.float32 and tuple(r.shape) == (5, 4)
assert np.array_equal(r.a, a @ b), (r.a, a @ b)
i = rng.integers(-3, 4, (2, 3, 4)).astype(np.int64)
k = einc._pattern_kernel("reduce", "a b c -> c a", "max", (), einc._CUDA)
r = tt.run_device(k, [Fake(i)])
assert r.dtype == torch.int64 and np.array_equal(r.a, i.max(1).T)
k = einc._einc.kernel("i,i->", 1, 0, (), einc._CUDA, 0)
r = tt.run_device(k, [Fake(a[0]), Fake(a[1])])
assert tuple(r.shape) == () and r.a[()] == a[0] @ a[1]
i8 = rng.integers(-100, 100, (3, 5)).astype(np.int8)
k2 = einc._einc.kernel("ij,ij->ij", 1, 0, (), einc._CUDA, 0)
r = tt.run_device(k2, [Fake(i8), Fake(i8)])         # wraps in int8, as numpy's
assert r.dtype == torch.int8 and np.array_equal(r.a, np.einsum("ij,ij->ij", i8, i8)), r.a
k2 = einc._einc.kernel("ij,jk->ik", 1, 0, (), einc._CUDA, 0)
r = tt.run_device(k2, [Fake(a.astype(np.float16)), Fake(b.astype(np.float16))])
assert r.dtype == torch.float16 and np.array_equal(r.a, (a @ b).astype(np.float16))
u = rng.integers(0, 2**63, (4, 3), dtype=np.uint64) * np.uint64(2)
k2 = einc._pattern_kernel("reduce", "a b -> b", "max", (), einc._CUDA)
r = tt.run_device(k2, [Fake(u)])                     # compared unsigned, above 2^63
assert r.dtype == torch.uint64 and np.array_equal(r.a, u.max(0))
assert len(streams) == 6
try:
    tt.run_device(k, [Fake(a[0]), Fake(a[1, :4])])
except ValueError as e:
    assert "has length 4 in operand 1 but 6 in operand 0" in str(e), e
else:
    raise AssertionError("no error")
print("ok")
'''


@pytest.mark.skipif(shutil.which("c++") is None, reason="the CUDA emulator needs a C++ compiler")
def test_run_device_on_the_emulator():
    env = dict(os.environ, EINC_CUDA_EMU="1", EINC_CACHE="0",
               PYTHONPATH=os.path.dirname(os.path.dirname(einc.__file__)))
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_which_tensors_go_to_device_memory():
    tt = einc._Torch(torch, torch.device("cuda", 0))
    x = torch.ones(2, 3)
    assert tt.device_ok([x, x.to(torch.int64), x.bool(), x.double(), x.to(torch.int32)])
    assert not tt.device_ok([x, x.to(torch.bfloat16)])          # the CUDA target lacks it
    assert tt.device_ok([x.to(torch.float16), x.to(torch.int8), x.to(torch.uint8)])
    assert not tt.device_ok([x.to(torch.complex64)])                 # nor this
    assert not tt.device_ok([x.requires_grad_()])
    assert not einc._Torch(torch, torch.device("cuda", 1)).device_ok([torch.ones(2)])
    assert not einc._Torch(torch, torch.device("cpu")).device_ok([torch.ones(2)])
