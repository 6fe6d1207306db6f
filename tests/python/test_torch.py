"""torch tensors, where torch is importable: CPU tensors on the JIT, CUDA tensors on the
CUDA target where a GPU is there; results are tensors on the inputs' device."""
import numpy as np
import pytest

import einc

torch = pytest.importorskip("torch")


def test_einsum_cpu_tensors():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    got = einc.einsum("ij,jk->ik", a, b)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    torch.testing.assert_close(got, torch.einsum("ij,jk->ik", a, b), rtol=1e-4, atol=1e-4)
    got = einc.einsum(a, b, "i j, j k -> i k")
    torch.testing.assert_close(got, a @ b, rtol=1e-4, atol=1e-4)


def test_strided_and_expanded_tensors():
    a = torch.randn(8, 8)
    for x in (a.t(), a[::2], a[:1].expand(8, 8), a[:, 1::3]):
        torch.testing.assert_close(einc.einsum("ij->j", x), x.sum(0), rtol=1e-4, atol=1e-4)


def test_einops_functions_on_tensors():
    x = torch.randn(2, 3, 4, 5)
    got = einc.rearrange(x, "b c h w -> b h w c")
    assert isinstance(got, torch.Tensor)
    assert torch.equal(got, x.permute(0, 2, 3, 1))
    torch.testing.assert_close(einc.reduce(x, "b c h w -> b c", "mean"), x.mean((2, 3)))
    assert torch.equal(einc.repeat(x[0, 0], "h w -> h w c", c=2), x[0, 0, :, :, None].expand(4, 5, 2))


def test_requires_grad_is_refused():
    a = torch.randn(2, 2, requires_grad=True)
    with pytest.raises(TypeError, match="computes no gradients"):
        einc.einsum("ij->i", a)
    with torch.no_grad():
        torch.testing.assert_close(einc.einsum("ij->i", a), a.detach().sum(1))


def test_model_on_tensors():
    m = einc.Model("input x: f32[R, C]\nreturn relu(x)\n")
    x = torch.randn(3, 4)
    got = m(x)
    assert isinstance(got, torch.Tensor)
    assert torch.equal(got, torch.relu(x))


def test_unsupported_tensor_dtype():
    with pytest.raises(TypeError, match="torch.float8_e4m3fn"):
        einc.einsum("i->", torch.zeros(3).to(torch.float8_e4m3fn))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_stay_on_their_device():
    a, b = torch.randn(3, 4, device="cuda"), torch.randn(4, 5, device="cuda")
    got = einc.einsum("ij,jk->ik", a, b)
    assert got.device == a.device
    torch.testing.assert_close(got, a @ b, rtol=1e-4, atol=1e-4)


def test_numpy_and_torch_mixed_give_a_tensor():
    a, b = torch.randn(3, 4), np.ones((4, 2), np.float32)
    got = einc.einsum("ij,jk->ik", a, b)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, a @ torch.from_numpy(b), rtol=1e-4, atol=1e-4)
