# Copyright (c) cxr-mm contributors. All rights reserved.
"""Box-level CAMs of mmdet two-stage detectors: one front end, many methods.

The methods live in :mod:`cxr_mm.cam.methods` (one file each, looked up by
name in :data:`CAM_METHODS`): ``ablation`` (Ablation-CAM, Desai & Ramaswamy,
WACV 2020, our exact shared-forward path), ``ablation-gradcam`` (the same
through grad-cam, once per box), ``eigen`` (EigenCAM, Muhammad & Yeasin,
IJCNN 2020) and ``grad`` (Grad-CAM, Selvaraju et al., ICCV 2017).

The box target is grad-cam's ``FasterRCNNBoxScoreTarget`` for a single box
(:func:`cxr_mm.cam.boxes.box_targets`).
"""

import time
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch
from torch import Tensor, nn

from .boxes import box_targets
from .methods import CAM_METHODS, build_cam_method
from .wrapper import TwoStageDetectorWrapper

__all__ = ['CAM_METHODS', 'CAMResult', 'DetCAM', 'get_target_layer']


def get_target_layer(detector: nn.Module, name: str) -> nn.Module:
    """Sub-module ``name`` of the detector, e.g. ``backbone.layer3`` or
    ``neck.fpn_convs.0`` (FPN level P2)."""
    try:
        return detector.get_submodule(name)
    except AttributeError:
        top = [n for n, _ in detector.named_children()]
        hints = [
            n
            for n, _ in detector.named_modules()
            if n.count('.') <= 1 and n.split('.')[0] in ('backbone', 'neck')
        ]
        raise ValueError(
            f'target layer {name!r} not found in {type(detector).__name__} '
            f'(children: {top}; e.g. {hints[:12]})'
        ) from None


@dataclass
class CAMResult:
    """Heatmaps of one image.

    Attributes:
        cams (np.ndarray): (K, H, W) float32 in [0, 1], network-input frame
            (padded input size), one per box.
        valid (np.ndarray): (K,) bool; False where the method is undefined
            for the box (the detector does not find it: target score 0).
        target_scores (np.ndarray): (K,) the box targets on the unablated
            image (NaN for EigenCAM, which has no target).
        stats (dict): cost figures (forwards, channels, seconds).
    """

    cams: np.ndarray
    valid: np.ndarray
    target_scores: np.ndarray
    stats: Dict[str, float]


class DetCAM:
    """Per-box CAMs of an mmdet two-stage detector (e.g. Faster R-CNN).

    Args:
        detector (nn.Module): mmdet two-stage detector, in eval mode for
            the duration of each call.
        method (str): a name in :data:`CAM_METHODS`.
        target_layer (str): detector sub-module to explain; default
            ``backbone.layer3`` (the authors'); FPN levels are
            ``neck.fpn_convs.{0..3}``.
        ratio_channels_to_ablate (float): Ablation-CAM channel budget
            (see :class:`BatchedAblationCAM`).
        batch_size (int): ablated channels per forward.
        iou_thr (float): IoU an output box needs with the focal box to
            count in the box target.
        exact (bool): match grad-cam to float precision (see
            :class:`BatchedAblationCAM`); False is faster on small channel
            budgets and equal up to kernel rounding noise.
    """

    def __init__(
        self,
        detector: nn.Module,
        method: str = 'ablation',
        target_layer: str = 'backbone.layer3',
        ratio_channels_to_ablate: float = 1.0,
        batch_size: int = 32,
        iou_thr: float = 0.5,
        exact: bool = True,
    ) -> None:
        if method not in CAM_METHODS:
            raise ValueError(f'unknown CAM method {method!r}; choose from {tuple(CAM_METHODS)}')
        self.method = method
        self.target_layer_name = target_layer
        self.ratio_channels_to_ablate = ratio_channels_to_ablate
        self.batch_size = batch_size
        self.iou_thr = iou_thr
        self.wrapper = TwoStageDetectorWrapper(detector)
        self.target_layer = get_target_layer(detector, target_layer)
        self.impl = build_cam_method(
            method,
            self.wrapper,
            self.target_layer,
            ratio_channels_to_ablate=ratio_channels_to_ablate,
            batch_size=batch_size,
            exact=exact,
        )

    @torch.no_grad()
    def detect(self, inputs: Tensor, data_sample) -> Dict[str, np.ndarray]:
        """Detections (input frame) as numpy ``boxes``, ``labels``,
        ``scores``, sorted by decreasing score."""
        self.wrapper.set_data_sample(data_sample)
        training = self.wrapper.training
        self.wrapper.eval()
        try:
            out = self.wrapper(inputs[:1])[0]
        finally:
            self.wrapper.train(training)
        order = torch.argsort(out['scores'], descending=True, stable=True)
        return {k: v[order].detach().cpu().numpy() for k, v in out.items()}

    def __call__(
        self, inputs: Tensor, data_sample, boxes: np.ndarray, labels: np.ndarray
    ) -> CAMResult:
        """Heatmaps for ``boxes`` (K, 4, input frame) with ``labels`` (K,)."""
        if inputs.dim() != 4 or inputs.shape[0] != 1:
            raise ValueError(f'inputs must be one image (1, C, H, W), got {tuple(inputs.shape)}')
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.wrapper.set_data_sample(data_sample)
        training = self.wrapper.training
        self.wrapper.eval()
        t0 = time.perf_counter()
        stats: Dict[str, float] = dict(boxes=len(boxes))
        try:
            if len(boxes) == 0:
                h, w = inputs.shape[-2:]
                return CAMResult(
                    np.zeros((0, h, w), np.float32),
                    np.zeros(0, bool),
                    np.zeros(0, np.float32),
                    stats,
                )
            targets = box_targets(boxes, labels, self.iou_thr)
            cams, scores, method_stats = self.impl(inputs, targets)
            stats.update(method_stats)
        finally:
            self.wrapper.train(training)
        stats['seconds'] = time.perf_counter() - t0
        valid = np.isnan(scores) | (scores != 0)
        cams = np.where(valid[:, None, None], cams, 0).astype(np.float32)
        return CAMResult(cams, valid, scores, stats)
