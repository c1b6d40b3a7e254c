"""Barlow Twins head whose statistics cover the global (all-rank) batch."""

from typing import List, Optional, Tuple, Union

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from mmengine.dist import get_world_size, is_distributed
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


def _differentiable_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks; the backward pass sums the gradients over ranks too."""
    if not is_distributed() or get_world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(tensor, op=torch_dist.ReduceOp.SUM)


def global_batch_norm(z: torch.Tensor, eps: float = 1e-5) -> Tuple[torch.Tensor, torch.Tensor]:
    """Standardise ``z`` (NxD) with mean and biased variance of the global batch.

    Returns the normalised features and the global batch size. On one process
    this is exactly ``BatchNorm1d(D, affine=False)`` in training mode.
    """
    if not is_distributed() or get_world_size() == 1:
        return F.batch_norm(z, None, None, training=True, eps=eps), z.new_tensor(z.shape[0])
    stats = torch.cat([z.sum(0), z.new_tensor([z.shape[0]])])
    stats = _differentiable_all_reduce(stats)
    n = stats[-1].detach()
    mean = stats[:-1] / n
    centred = z - mean
    var = _differentiable_all_reduce(centred.pow(2).sum(0)) / n
    return centred * torch.rsqrt(var + eps), n


@MODELS.register_module()
class GlobalCrossCorrelationHead(BaseModule):
    """Barlow Twins cross-correlation head, exact under data parallelism.

    `Barlow Twins <https://arxiv.org/abs/2103.03230>`_ computes the empirical
    cross-correlation ``C = BN(z1)^T BN(z2) / N`` over the *whole* batch: the
    Facebook script converts the normalisation to SyncBN, divides by the global
    batch size and all-reduces ``C``. mmpretrain's ``LatentCrossCorrelationHead``
    normalises with per-GPU statistics, fixes the world size at construction and
    all-reduces outside autograd, so its loss and gradients change with the
    number of GPUs. Here the normalisation statistics, the batch size and ``C``
    are reduced over ranks with autograd-aware collectives: the loss equals the
    single-process loss on the concatenated batch, and after DDP's gradient
    averaging so do the gradients (the Facebook script's bias/BN gradients are
    ``1/world_size`` of that). Computed in float32 even under AMP.

    Args:
        in_channels (int): Dimension of the projector output.
        loss (dict): Config of the loss applied to ``C``, e.g.
            ``dict(type='FusedCrossCorrelationLoss', lambd=0.0051)`` or
            mmpretrain's ``dict(type='CrossCorrelationLoss')``.
        eps (float): Variance epsilon of the normalisation. Defaults to 1e-5
            (``BatchNorm1d``'s).
        init_cfg (dict or list[dict], optional): Initialization config dict.
    """

    def __init__(
        self,
        in_channels: int,
        loss: dict,
        eps: float = 1e-5,
        init_cfg: Optional[Union[dict, List[dict]]] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.eps = eps
        self.loss_module = MODELS.build(loss)

    def cross_correlation(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Global-batch cross-correlation matrix (DxD, float32)."""
        if input.shape != target.shape or input.shape[1] != self.in_channels:
            raise ValueError(
                f'expected two Nx{self.in_channels} embeddings, got '
                f'{tuple(input.shape)} and {tuple(target.shape)}'
            )
        with torch.autocast(device_type=input.device.type, enabled=False):
            z1, n = global_batch_norm(input.float(), self.eps)
            z2, _ = global_batch_norm(target.float(), self.eps)
            # Scale the NxD operand, not the DxD product.
            c = (z1 / n).T @ z2
            return _differentiable_all_reduce(c)

    def loss(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-correlation loss of two NxC embeddings of the same images."""
        c = self.cross_correlation(input, target)
        with torch.autocast(device_type=input.device.type, enabled=False):
            return self.loss_module(c)
