# Copyright (c) cxr-mm contributors. All rights reserved.
"""Box-level CAMs for mmdet two-stage detectors (one front end, four methods).

* ``ablation``: Ablation-CAM (Desai & Ramaswamy, WACV 2020), our exact
  shared-forward path (:class:`BatchedAblationCAM`);
* ``ablation-gradcam``: the same through grad-cam's ``AblationCAM``, called
  once per box (the reference the authors' tooling uses; slow);
* ``eigen``: EigenCAM (Muhammad & Yeasin, IJCNN 2020), class-agnostic, one
  map per image;
* ``grad``: Grad-CAM (Selvaraju et al., ICCV 2017), one backward per box.

The box target is grad-cam's ``FasterRCNNBoxScoreTarget`` for a single box:
IoU with the best-overlapping output box plus its score, when that box has
the focal label and IoU above ``iou_thr`` (else 0).
"""

import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from pytorch_grad_cam import AblationCAM, EigenCAM, GradCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
from torch import Tensor, nn

from .ablation_cam import BatchedAblationCAM
from .wrapper import TwoStageDetectorWrapper

CAM_METHODS = ('ablation', 'ablation-gradcam', 'eigen', 'grad')


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


def box_targets(
    boxes: np.ndarray, labels: np.ndarray, iou_thr: float = 0.5
) -> List[FasterRCNNBoxScoreTarget]:
    """One grad-cam box target per box (each explains a single box)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    if len(boxes) != len(labels):
        raise ValueError(f'{len(boxes)} boxes but {len(labels)} labels')
    return [
        FasterRCNNBoxScoreTarget(labels=[int(lab)], bounding_boxes=[box], iou_threshold=iou_thr)
        for box, lab in zip(boxes, labels)
    ]


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
        method (str): one of :data:`CAM_METHODS`.
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
            raise ValueError(f'unknown CAM method {method!r}; choose from {CAM_METHODS}')
        self.method = method
        self.target_layer_name = target_layer
        self.ratio_channels_to_ablate = ratio_channels_to_ablate
        self.batch_size = batch_size
        self.iou_thr = iou_thr
        self.wrapper = TwoStageDetectorWrapper(detector)
        self.target_layer = get_target_layer(detector, target_layer)
        self._fast = None
        if method == 'ablation':
            self._fast = BatchedAblationCAM(
                self.wrapper,
                self.target_layer,
                batch_size=batch_size,
                ratio_channels_to_ablate=ratio_channels_to_ablate,
                exact=exact,
            )
        elif method == 'ablation-gradcam':
            # Same validation as ours: grad-cam silently breaks there.
            BatchedAblationCAM(
                self.wrapper, self.target_layer, batch_size, ratio_channels_to_ablate
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
            if self.method == 'ablation':
                cams, scores = self._fast(inputs, targets)
                stats.update(
                    forwards=self._fast.num_forwards,
                    channels_ablated=self._fast.num_channels_ablated,
                    upstream_runs=self._fast.num_upstream_runs,
                    cached_modules=self._fast.num_cached_modules,
                )
            elif self.method == 'ablation-gradcam':
                cams, scores = self._gradcam_ablation(inputs, targets)
            elif self.method == 'grad':
                cams, scores = self._gradcam(inputs, targets)
            else:
                cams, scores = self._eigencam(inputs, len(targets))
        finally:
            self.wrapper.train(training)
        stats['seconds'] = time.perf_counter() - t0
        valid = np.isnan(scores) | (scores != 0)
        cams = np.where(valid[:, None, None], cams, 0).astype(np.float32)
        return CAMResult(cams, valid, scores, stats)

    # -- grad-cam based methods -------------------------------------------
    @torch.no_grad()
    def _box_scores(self, inputs, targets) -> List[float]:
        """Each box target on the unablated detections: one forward."""
        out = self.wrapper(inputs)[0]
        return [target(out).cpu().item() for target in targets]

    def _gradcam_ablation(self, inputs, targets):
        cams, scores = [], []
        cam = AblationCAM(
            self.wrapper,
            [self.target_layer],
            ablation_layer=AblationLayer(),
            batch_size=self.batch_size,
            ratio_channels_to_ablate=self.ratio_channels_to_ablate,
        )
        try:
            for target, score in zip(targets, self._box_scores(inputs, targets)):
                scores.append(score)
                if score == 0:  # grad-cam would divide by 0
                    cams.append(np.zeros(inputs.shape[-2:], np.float32))
                    continue
                cams.append(cam(inputs, targets=[target])[0])
        finally:
            cam.activations_and_grads.release()
        return np.stack(cams), np.float32(scores)

    def _gradcam(self, inputs, targets):
        cams, scores = [], []
        cam = GradCAM(self.wrapper, [self.target_layer])
        # Gradients must reach the target layer even if it is frozen.
        cam.compute_input_gradient = True
        try:
            for target, score in zip(targets, self._box_scores(inputs, targets)):
                scores.append(score)
                if score == 0:  # no gradient: the box is not detected
                    cams.append(np.zeros(inputs.shape[-2:], np.float32))
                    continue
                cams.append(cam(inputs.detach().clone(), targets=[target])[0])
        finally:
            cam.activations_and_grads.release()
            self.wrapper.zero_grad(set_to_none=True)
        return np.stack(cams), np.float32(scores)

    def _eigencam(self, inputs, num_boxes):
        cam = EigenCAM(self.wrapper, [self.target_layer])
        try:
            with torch.no_grad():
                heat = cam(inputs, targets=[None])[0]
        finally:
            cam.activations_and_grads.release()
        return (np.repeat(heat[None], num_boxes, axis=0), np.full(num_boxes, np.nan, np.float32))


def renormalize_in_box(cam: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Min-max normalise the heatmap inside ``box``, zero outside.

    As in grad-cam's detection tutorial: shows what the detector looks at
    within its own box rather than the image-wide peak.
    """
    from .scores import boxes_mask

    mask = boxes_mask(box, cam.shape)
    out = np.zeros_like(cam, dtype=np.float32)
    if not mask.any():
        return out
    vals = cam[mask].astype(np.float32)
    vals = vals - vals.min()
    out[mask] = vals / (1e-7 + vals.max())
    return out


def select_boxes(
    dets: Dict[str, np.ndarray],
    topk: Optional[int] = None,
    score_thr: float = 0.0,
    box_index: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Indices of detections to explain (``dets`` sorted by score).

    ``box_index`` picks explicit indices (into the sorted detections);
    otherwise detections with ``score >= score_thr``, at most ``topk``.
    """
    n = len(dets['scores'])
    if box_index is not None:
        idx = np.asarray(list(box_index), dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            raise IndexError(f'box index {bad.tolist()} out of range: {n} detections')
        return idx
    idx = np.flatnonzero(dets['scores'] >= score_thr)
    if topk is not None:
        idx = idx[:topk]
    return idx
