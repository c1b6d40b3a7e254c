# Copyright (c) cxr-mm contributors. All rights reserved.
"""Grad-CAM, one backward per box."""

from typing import Callable, Sequence

from pytorch_grad_cam import GradCAM
from torch import Tensor

from .base import BaseCAMMethod, register_cam_method


@register_cam_method('grad')
class GradMethod(BaseCAMMethod):
    """Grad-CAM (Selvaraju et al., ICCV 2017) of each box target: channel
    weights are the spatially averaged gradients of the target. Leaves no
    gradients behind on the detector."""

    def __call__(self, inputs: Tensor, targets: Sequence[Callable]):
        cam = GradCAM(self.model, [self.target_layer])
        # Gradients must reach the target layer even if it is frozen.
        cam.compute_input_gradient = True
        try:
            cams, scores = self.per_box(
                inputs, targets, lambda t: cam(inputs.detach().clone(), targets=[t])[0]
            )
        finally:
            cam.activations_and_grads.release()
            self.model.zero_grad(set_to_none=True)
        return cams, scores, {}
