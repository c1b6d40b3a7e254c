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

import contextlib
import time
from dataclasses import dataclass
from typing import Dict, Iterator, Optional

import numpy as np
import torch
from torch import Tensor, nn

from .boxes import box_targets
from .methods import CAM_METHODS, build_cam_method
from .wrapper import TwoStageDetectorWrapper, cam_test_cfg

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


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode inside, and every sub-module's own ``training`` flag back
    on exit (``module.train(mode)`` would not restore a mix such as frozen
    BatchNorm layers in a training detector)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


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
        rpn_max_per_img (int, optional): RPN proposals per image in the CAM
            forwards (the unablated reference and every ablated forward
            alike, so each weight compares like with like); :meth:`detect`
            keeps the detector's ``test_cfg``, and a box the reduced budget
            does not find is explained again with ``test_cfg``'s budget
            (counted in ``stats['full_budget_boxes']``). None keeps
            ``test_cfg`` everywhere. See README.md ("Costs").

    The detector is left in the train/eval mode it was found in.
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
        rpn_max_per_img: Optional[int] = None,
    ) -> None:
        if method not in CAM_METHODS:
            raise ValueError(f'unknown CAM method {method!r}; choose from {tuple(CAM_METHODS)}')
        self.method = method
        self.target_layer_name = target_layer
        self.ratio_channels_to_ablate = ratio_channels_to_ablate
        self.batch_size = batch_size
        self.iou_thr = iou_thr
        self.rpn_max_per_img = rpn_max_per_img
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
        with eval_mode(self.wrapper):
            out = self.wrapper(inputs[:1])[0]
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
        t0 = time.perf_counter()
        stats: Dict[str, float] = dict(boxes=len(boxes))
        if len(boxes) == 0:
            h, w = inputs.shape[-2:]
            return CAMResult(
                np.zeros((0, h, w), np.float32), np.zeros(0, bool), np.zeros(0, np.float32), stats
            )
        targets = box_targets(boxes, labels, self.iou_thr)
        detector = self.wrapper.detector
        with eval_mode(self.wrapper), cam_test_cfg(detector, self.rpn_max_per_img):
            cams, scores, method_stats = self.impl(inputs, targets)
        stats.update(method_stats)
        missed = np.flatnonzero(scores == 0) if self.rpn_max_per_img is not None else []
        if len(missed):
            # Not found with the reduced proposal budget: explained with the
            # detector's own test_cfg (reference and ablated forwards alike).
            with eval_mode(self.wrapper):
                again = self.impl(inputs, [targets[i] for i in missed])
            cams[missed], scores[missed] = again[0], again[1]
            for key, value in again[2].items():
                if key != 'cached_modules':
                    stats[key] = stats.get(key, 0) + value
        stats['full_budget_boxes'] = len(missed)
        stats['seconds'] = time.perf_counter() - t0
        valid = np.isnan(scores) | (scores != 0)
        cams = np.where(valid[:, None, None], cams, 0).astype(np.float32)
        return CAMResult(cams, valid, scores, stats)
