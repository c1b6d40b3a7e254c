"""Barlow Twins redundancy-reduction loss evaluated in one pass, in float32."""

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class FusedCrossCorrelationLoss(BaseModule):
    """Barlow Twins cross-correlation loss.

    `Barlow Twins: Self-Supervised Learning via Redundancy Reduction
    <https://arxiv.org/abs/2103.03230>`_ (Zbontar et al., 2021):
    ``L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2``.

    Same value as mmpretrain's ``CrossCorrelationLoss``, but rewritten as
    ``lambda * sum(C^2) + sum((1 - C_ii)^2 - lambda * C_ii^2)`` so that the
    off-diagonal elements are never gathered into a copy (67 M elements for
    the 8192-d projector), the caller's matrix is not modified in place (the
    stock loss ``add_(-1)``s its diagonal) and the sums run in float32 even
    under AMP.

    Args:
        lambd (float): Weight of the off-diagonal (redundancy) term.
            Defaults to 0.0051, the Barlow Twins and BarlowTwins-CXR value.
    """

    def __init__(self, lambd: float = 0.0051) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, cross_correlation_matrix: torch.Tensor) -> torch.Tensor:
        """Loss of a square ``DxD`` cross-correlation matrix."""
        c = cross_correlation_matrix.float()
        n, m = c.shape
        if n != m:
            raise ValueError(f'cross-correlation matrix must be square, got {tuple(c.shape)}')
        diag = torch.diagonal(c)
        return self.lambd * c.pow(2).sum() + ((diag - 1).pow(2) - self.lambd * diag.pow(2)).sum()
