# Copyright (c) cxr-mm contributors. All rights reserved.
"""Ablation-CAM through grad-cam's own ``AblationCAM``, once per box."""

from typing import Callable, Sequence

from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from torch import Tensor, nn

from ..ablation_cam import check_ablation_args
from .base import BaseCAMMethod, register_cam_method


@register_cam_method('ablation-gradcam')
class AblationGradCAMMethod(BaseCAMMethod):
    """Ablation-CAM (Desai & Ramaswamy, WACV 2020) as the authors' tooling
    runs it: grad-cam's ``AblationCAM`` called once per box, every ablated
    forward repeated per box. The slow reference for the ``ablation``
    method; same arguments, validated the same way (grad-cam would break
    silently on a ratio in (0.5, 1)).
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module, **kwargs) -> None:
        super().__init__(model, target_layer, **kwargs)
        check_ablation_args(self.ratio_channels_to_ablate, self.batch_size)

    def __call__(self, inputs: Tensor, targets: Sequence[Callable]):
        cam = AblationCAM(
            self.model,
            [self.target_layer],
            ablation_layer=AblationLayer(),
            batch_size=self.batch_size,
            ratio_channels_to_ablate=self.ratio_channels_to_ablate,
        )
        try:
            cams, scores = self.per_box(inputs, targets, lambda t: cam(inputs, targets=[t])[0])
        finally:
            cam.activations_and_grads.release()
        return cams, scores, {}
