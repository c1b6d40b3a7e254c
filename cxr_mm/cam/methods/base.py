# Copyright (c) cxr-mm contributors. All rights reserved.
"""Shared base of the CAM methods and the registry :class:`DetCAM` reads.

A method maps one preprocessed image and one grad-cam box target per box to
``(cams, target_scores, stats)``; :class:`cxr_mm.cam.DetCAM` does the rest
(eval mode, empty box lists, flagging boxes the detector does not find).
Adding a method = one file in this folder with a class registered under its
name, imported in ``methods/__init__.py``.
"""

from typing import Callable, Dict, List, Sequence, Tuple, Type

import numpy as np
import torch
from torch import Tensor, nn

#: ``{method name: class}``, filled by :func:`register_cam_method`.
CAM_METHODS: Dict[str, Type['BaseCAMMethod']] = {}


def register_cam_method(name: str) -> Callable:
    """Class decorator registering a :class:`BaseCAMMethod` under ``name``."""

    def register(cls):
        if name in CAM_METHODS:
            raise KeyError(f'CAM method {name!r} is already registered')
        CAM_METHODS[name] = cls
        cls.name = name
        return cls

    return register


def build_cam_method(name: str, model: nn.Module, target_layer: nn.Module, **kwargs):
    """The registered method ``name``; a clear error for an unknown one."""
    if name not in CAM_METHODS:
        raise ValueError(f'unknown CAM method {name!r}; choose from {tuple(CAM_METHODS)}')
    return CAM_METHODS[name](model, target_layer, **kwargs)


class BaseCAMMethod:
    """Base of the box-level CAM methods (grad-cam's ``BaseCAM`` role).

    Args:
        model (nn.Module): torchvision-style detector (one output dict per
            image), i.e. :class:`cxr_mm.cam.TwoStageDetectorWrapper`.
        target_layer (nn.Module): the sub-module explained.
        ratio_channels_to_ablate (float): Ablation-CAM channel budget.
        batch_size (int): images (ablated copies) per forward.
        exact (bool): Ablation-CAM exact mode (see
            :class:`cxr_mm.cam.BatchedAblationCAM`).
    """

    name = ''

    def __init__(
        self,
        model: nn.Module,
        target_layer: nn.Module,
        ratio_channels_to_ablate: float = 1.0,
        batch_size: int = 32,
        exact: bool = True,
    ) -> None:
        self.model = model
        self.target_layer = target_layer
        self.ratio_channels_to_ablate = ratio_channels_to_ablate
        self.batch_size = batch_size
        self.exact = exact

    def __call__(
        self, inputs: Tensor, targets: Sequence[Callable]
    ) -> Tuple[np.ndarray, np.ndarray, Dict[str, float]]:
        """Heatmaps of one (1, C, H, W) image, one per box target.

        Returns:
            tuple: ``cams`` (K, H, W) in [0, 1], ``target_scores`` (K,) on
            the unablated image (NaN when the method has no target) and
            cost ``stats``.
        """
        raise NotImplementedError

    @torch.no_grad()
    def box_scores(self, inputs: Tensor, targets: Sequence[Callable]) -> List[float]:
        """Each box target on the unablated detections: one forward."""
        out = self.model(inputs)[0]
        return [target(out).cpu().item() for target in targets]

    def per_box(
        self, inputs: Tensor, targets: Sequence[Callable], explain: Callable
    ) -> Tuple[np.ndarray, np.ndarray]:
        """``explain(target)`` once per box whose target is not 0.

        A box the detector does not find (target 0) has no gradient and no
        ablation weights (grad-cam would divide by 0): its map is zeros.
        """
        cams, scores = [], []
        for target, score in zip(targets, self.box_scores(inputs, targets)):
            scores.append(score)
            if score == 0:
                cams.append(np.zeros(inputs.shape[-2:], np.float32))
                continue
            cams.append(explain(target))
        return np.stack(cams), np.float32(scores)
