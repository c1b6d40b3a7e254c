# Copyright (c) cxr-mm contributors. All rights reserved.
"""Ablation-CAM through our exact shared-forward path."""

from typing import Callable, Sequence

from torch import Tensor, nn

from ..ablation_cam import BatchedAblationCAM
from .base import BaseCAMMethod, register_cam_method


@register_cam_method('ablation')
class AblationMethod(BaseCAMMethod):
    """Ablation-CAM (Desai & Ramaswamy, WACV 2020), all boxes at once.

    Channel ``c`` weighs ``(y - y_c) / y``, the relative drop of a box's
    target when ``c`` is ablated. One set of ablated forwards serves every
    box, and the layers below the target are replayed from a cache
    (:mod:`cxr_mm.cam.upstream_cache`); equal to grad-cam's ``AblationCAM``
    called once per box (see :class:`BatchedAblationCAM`).
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module, **kwargs) -> None:
        super().__init__(model, target_layer, **kwargs)
        self.engine = BatchedAblationCAM(
            model,
            target_layer,
            batch_size=self.batch_size,
            ratio_channels_to_ablate=self.ratio_channels_to_ablate,
            exact=self.exact,
        )

    def __call__(self, inputs: Tensor, targets: Sequence[Callable]):
        cams, scores = self.engine(inputs, targets)
        stats = dict(
            forwards=self.engine.num_forwards,
            channels_ablated=self.engine.num_channels_ablated,
            upstream_runs=self.engine.num_upstream_runs,
            cached_modules=self.engine.num_cached_modules,
        )
        return cams, scores, stats
