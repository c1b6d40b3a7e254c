# Copyright (c) cxr-mm contributors. All rights reserved.
"""Ablation CAM for many boxes of one image with one set of ablated forwards.

Ablation-CAM (Desai & Ramaswamy, WACV 2020) weighs each channel ``c`` of a
target layer by the relative drop of a target score when ``c`` is ablated:
``w_c = (y - y_c) / y``. grad-cam's ``AblationCAM`` runs the whole network
once per batch of ablated channels *for every target*, so explaining 10 boxes
of a detection costs 10 times the forwards. Yet the ablated outputs do not
depend on the box; only the score read from them does. This implementation
reproduces grad-cam's numbers exactly while

* running one set of ablated forwards per image and evaluating every box
  target on each ablated output;
* computing the layers before the target once per batch shape instead of
  once per batch: every module that finishes before the target layer starts
  (and is not called again later) returns its cached output (see ``exact``);
* batching ablated channels like grad-cam (same batch composition, so the
  same ablation values, see ``AblationLayer.__call__``).
"""

from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.image import scale_cam_image
from torch import Tensor, nn

from .upstream_cache import ForwardPatch, UpstreamReplay, record_forward


def check_ablation_args(ratio_channels_to_ablate: float, batch_size: int) -> None:
    """Refuse settings grad-cam would run with silently wrong results."""
    if not 0.0 < ratio_channels_to_ablate <= 1.0:
        raise ValueError(
            f'ratio_channels_to_ablate must be in (0, 1], got {ratio_channels_to_ablate}'
        )
    if 0.5 < ratio_channels_to_ablate < 1.0:
        raise ValueError(
            'ratio_channels_to_ablate in (0.5, 1) makes grad-cam ablate '
            'channels twice (it keeps the top AND bottom `ratio` of '
            'channels); use <= 0.5 or 1.0'
        )
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')


class BatchedAblationCAM:
    """Exact, shared-forward Ablation-CAM (Desai & Ramaswamy, WACV 2020).

    Gives the heatmaps of ``pytorch_grad_cam.AblationCAM`` for a list of
    targets on one image, each as if grad-cam had been called once per
    target with ``targets=[target]``, for the cost of a single call.

    Args:
        model (nn.Module): maps an (N, C, H, W) batch to one output per image
            (e.g. :class:`TwoStageDetectorWrapper`).
        target_layer (nn.Module): sub-module of ``model`` whose output
            channels are ablated; called exactly once per forward.
        batch_size (int): ablated channels per forward (grad-cam's
            ``batch_size``; it also fixes grad-cam's ablation values when the
            layer has no zero activation, so keep it equal to compare).
        ratio_channels_to_ablate (float): 1.0 ablates every channel; below
            0.5 grad-cam's heuristic keeps the top and bottom ``ratio`` of
            channels by their overlap with the EigenCAM mask (so ``2 * ratio``
            of them are ablated). Values in (0.5, 1) are refused: grad-cam
            would then ablate channels twice and mis-assign the scores.
        ablation_layer (AblationLayer, optional): grad-cam ablation layer,
            a fresh ``AblationLayer()`` by default.
        exact (bool): CPU/GPU convolution kernels round differently for
            different batch sizes (~1e-7), and Ablation-CAM weights are
            differences of nearly equal scores, which amplifies that. With
            True (default) the layers before the target run once per
            distinct ablation batch size (at most twice: full and last
            batch), in the same batch shape as grad-cam, so the heatmaps
            match it to float precision. False reuses the single-image
            activations for every batch (fastest; equal up to that noise).
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: nn.Module,
        batch_size: int = 32,
        ratio_channels_to_ablate: float = 1.0,
        ablation_layer: Optional[AblationLayer] = None,
        exact: bool = True,
    ) -> None:
        check_ablation_args(ratio_channels_to_ablate, batch_size)
        self.model = model
        self.target_layer = target_layer
        self.batch_size = batch_size
        self.ratio_channels_to_ablate = ratio_channels_to_ablate
        self.ablation_layer = ablation_layer or AblationLayer()
        if not any(m is target_layer for m in model.modules()):
            raise ValueError('target_layer is not a sub-module of model')
        # Stats of the last call, for cost reports.
        self.num_forwards = 0
        self.num_channels_ablated = 0
        self.num_cached_modules = 0
        self.num_upstream_runs = 0
        self.exact = exact

    # ------------------------------------------------------------------
    def __call__(
        self, input_tensor: Tensor, targets: Sequence[Callable]
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Heatmaps of one image for each target.

        Args:
            input_tensor (Tensor): (1, C, H, W) network input.
            targets (Sequence[Callable]): one grad-cam target per heatmap
                (e.g. ``FasterRCNNBoxScoreTarget`` for one box each).

        Returns:
            tuple: ``cams`` (T, H, W) float32 in [0, 1], normalised like
            grad-cam's output, and ``original_scores`` (T,). A target whose
            original score is 0 (its box is not found by the detector) has
            no defined ablation weights: its heatmap is all zeros.
        """
        if input_tensor.dim() != 4 or input_tensor.shape[0] != 1:
            raise ValueError(
                f'input_tensor must have shape (1, C, H, W), got {tuple(input_tensor.shape)}'
            )
        targets = list(targets)
        outputs, activations, cache = record_forward(self.model, self.target_layer, input_tensor)
        self.num_cached_modules = len(cache)
        original = np.float32([t(outputs[0]).cpu().item() for t in targets])
        act_np = activations.detach().cpu().numpy()
        num_channels = act_np.shape[1]
        layer = self.ablation_layer
        channels = layer.activations_to_be_ablated(act_np[0, :], self.ratio_channels_to_ablate)
        channels = np.asarray(channels)
        # No box found by the detector: no weights to compute.
        n = len(channels) if (original != 0).any() else 0
        new_scores = np.zeros((len(targets), n), dtype=np.float32)

        self.num_forwards = 1
        replay = UpstreamReplay(cache, self.exact)
        with torch.no_grad():
            for start in range(0, n, self.batch_size):
                b = min(self.batch_size, n - start)
                layer.indices = channels[start : start + b]
                layer.set_next_batch(
                    input_batch_index=0, activations=activations, num_channels_to_ablate=b
                )
                ablated = layer(None)
                patches, handles = replay.patches(b)
                patches[self.target_layer] = lambda *a, _x=ablated, **k: _x
                try:
                    with ForwardPatch(patches):
                        outs = self.model(input_tensor.repeat(b, 1, 1, 1))
                finally:
                    for h in handles:
                        h.remove()
                self.num_forwards += 1
                for ti, target in enumerate(targets):
                    new_scores[ti, start : start + b] = [target(o).cpu().item() for o in outs]
        self.num_upstream_runs = replay.upstream_runs
        self.num_channels_ablated = n

        # Skipped channels keep the original score (grad-cam's
        # assemble_ablation_scores), i.e. weight 0.
        weights = np.repeat(original[:, None], num_channels, axis=1)
        weights[:, channels[:n]] = new_scores
        cams = np.zeros((len(targets),) + tuple(input_tensor.shape[-2:]), dtype=np.float32)
        size = (input_tensor.shape[-1], input_tensor.shape[-2])
        for ti in range(len(targets)):
            if original[ti] == 0:
                continue
            w = (original[ti : ti + 1, None] - weights[ti : ti + 1]) / original[ti : ti + 1, None]
            cam = (w[:, :, None, None] * act_np).sum(axis=1)
            cam = np.maximum(cam, 0)
            cams[ti] = scale_cam_image(scale_cam_image(cam, size))[0]
        return cams, original
