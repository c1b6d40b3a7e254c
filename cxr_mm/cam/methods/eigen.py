# Copyright (c) cxr-mm contributors. All rights reserved.
"""EigenCAM: one class-agnostic map per image."""

from typing import Callable, Sequence

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM
from torch import Tensor

from .base import BaseCAMMethod, register_cam_method


@register_cam_method('eigen')
class EigenMethod(BaseCAMMethod):
    """EigenCAM (Muhammad & Yeasin, IJCNN 2020): the first principal
    component of the target activations. It has no box target, so every box
    gets the same map and a NaN target score (always "valid")."""

    def __call__(self, inputs: Tensor, targets: Sequence[Callable]):
        cam = EigenCAM(self.model, [self.target_layer])
        try:
            with torch.no_grad():
                heat = cam(inputs, targets=[None])[0]
        finally:
            cam.activations_and_grads.release()
        num_boxes = len(targets)
        return (
            np.repeat(heat[None], num_boxes, axis=0),
            np.full(num_boxes, np.nan, np.float32),
            {},
        )
