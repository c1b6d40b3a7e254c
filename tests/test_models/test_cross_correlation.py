"""The BarlowTwins-CXR loss against a float64 numpy reference and mmpretrain's loss."""

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import cxr_mm.register  # noqa: F401

LAMBD = 0.0051


@pytest.fixture(autouse=True)
def _scope():
    """Build in the mmpretrain scope whatever scope an earlier test left current."""
    init_default_scope('mmpretrain')


def numpy_reference(z1: np.ndarray, z2: np.ndarray, lambd: float = LAMBD, eps: float = 1e-5):
    """Barlow Twins (Zbontar et al., 2021, Eq. 1-2) in float64."""
    z1, z2 = z1.astype(np.float64), z2.astype(np.float64)
    n = z1.shape[0]
    zn1 = (z1 - z1.mean(0)) / np.sqrt(z1.var(0) + eps)  # biased variance, as BatchNorm
    zn2 = (z2 - z2.mean(0)) / np.sqrt(z2.var(0) + eps)
    c = zn1.T @ zn2 / n
    on_diag = ((1 - np.diag(c)) ** 2).sum()
    off_diag = (c**2).sum() - (np.diag(c) ** 2).sum()
    return on_diag + lambd * off_diag


def rel_err(a, b) -> float:
    return abs(float(a.detach() if hasattr(a, 'detach') else a) - float(b)) / abs(float(b))


@pytest.fixture
def embeddings():
    g = torch.Generator().manual_seed(0)
    n, d = 48, 1024
    base = torch.randn(n, d, generator=g)
    # Correlated views, with a shifted and scaled second view, as a projector gives.
    z1 = base + 0.3 * torch.randn(n, d, generator=g)
    z2 = 2.0 * base + 0.5 * torch.randn(n, d, generator=g) + 1.0
    return z1, z2


def test_head_equals_numpy_and_mmpretrain(embeddings):
    z1, z2 = embeddings
    ours = MODELS.build(
        dict(
            type='GlobalCrossCorrelationHead',
            in_channels=z1.shape[1],
            loss=dict(type='FusedCrossCorrelationLoss'),
        )
    )
    stock = MODELS.build(
        dict(
            type='mmpretrain.LatentCrossCorrelationHead',
            in_channels=z1.shape[1],
            loss=dict(type='CrossCorrelationLoss'),
        )
    )
    ref = numpy_reference(z1.numpy(), z2.numpy())
    assert ours.loss_module.lambd == LAMBD
    loss_ours = ours.loss(z1, z2)
    loss_stock = stock.loss(z1.clone(), z2.clone())
    assert loss_ours.dtype == torch.float32
    assert rel_err(loss_ours, ref) <= 1e-5
    assert rel_err(loss_stock, ref) <= 1e-5
    assert rel_err(loss_ours, loss_stock) <= 1e-5
    # Not a degenerate case: both terms matter.
    assert ref > 100


def test_loss_on_matrix_and_gradients_equal_mmpretrain():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(512, 512, generator=g, dtype=torch.float64) * 0.2
    c64 = c.numpy()
    ref = ((1 - np.diag(c64)) ** 2).sum() + LAMBD * ((c64**2).sum() - (np.diag(c64) ** 2).sum())
    fused = MODELS.build(dict(type='FusedCrossCorrelationLoss'))
    stock = MODELS.build(dict(type='mmpretrain.CrossCorrelationLoss', lambd=LAMBD))

    a = c.float().clone().requires_grad_(True)
    b = c.float().clone().requires_grad_(True)
    la, lb = fused(a), stock(b * 1.0)
    assert rel_err(la, ref) <= 1e-5 and rel_err(lb, ref) <= 1e-5
    la.backward()
    lb.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    # The fused loss leaves its input untouched (the stock one subtracts 1 on the diagonal).
    m = c.float().clone()
    fused(m)
    assert torch.equal(m, c.float())


def test_head_in_autocast_stays_float32(embeddings):
    z1, z2 = embeddings
    head = MODELS.build(
        dict(
            type='GlobalCrossCorrelationHead',
            in_channels=z1.shape[1],
            loss=dict(type='FusedCrossCorrelationLoss'),
        )
    )
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = head.loss(z1.bfloat16(), z2.bfloat16())
    assert loss.dtype == torch.float32
    ref = numpy_reference(z1.bfloat16().float().numpy(), z2.bfloat16().float().numpy())
    assert rel_err(loss, ref) <= 1e-5


def test_head_rejects_wrong_shapes():
    head = MODELS.build(
        dict(
            type='GlobalCrossCorrelationHead',
            in_channels=8,
            loss=dict(type='FusedCrossCorrelationLoss'),
        )
    )
    with pytest.raises(ValueError, match='Nx8'):
        head.loss(torch.randn(4, 8), torch.randn(4, 16))
