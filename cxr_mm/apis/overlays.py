# Copyright (c) cxr-mm contributors. All rights reserved.
"""Overlay pictures of inference results: boxes, and an Ablation-CAM per box.

Ablation-CAM: Desai & Ramaswamy, WACV 2020, as used by BarlowTwins-CXR (Sheng
et al., 2024). Drawn in the network input frame (the resized image).
"""

import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from torch import nn

from .inferencer import Prediction, to_input_frame


def ablation_cams(
    model: nn.Module, item, boxes: np.ndarray, labels: np.ndarray, ratio_channels: float = 1.0
):
    """Ablation-CAM of each box (input frame) of one preprocessed image.

    The one place inference calls the CAM code (``cxr_mm.cam.DetCAM``).
    """
    from ..cam import DetCAM

    cam = DetCAM(model, method='ablation', ratio_channels_to_ablate=ratio_channels)
    return cam(item.inputs, item.data_sample, boxes, labels)


def _slug(text: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in text)


def draw_overlays(
    model: nn.Module,
    pipeline,
    pred: Prediction,
    classes: Sequence[str],
    out_dir: str,
    key: str,
    draw_thr: float = 0.3,
    cam_topk: Optional[int] = None,
    cam_ratio_channels: float = 1.0,
) -> List[str]:
    """Write ``{key}.png`` (boxes scoring >= ``draw_thr``) and, when ``cam_topk``
    is set, ``{key}_cam{i}_{class}.png`` for the ``cam_topk`` best of them."""
    from ..cam import render_overlay, save_rgb
    from ..cam.inputs import preprocess

    # No ground truth: ``instances=[]`` (the packed sample's gt_instances is empty).
    item = preprocess(model, pipeline(dict(img_path=pred.path)), instances=[])
    keep = np.flatnonzero(pred.scores >= draw_thr)
    keep = keep[np.argsort(-pred.scores[keep], kind='stable')]
    boxes = to_input_frame(pred, item.data_sample.metainfo)[keep]
    labels, scores = pred.labels[keep], pred.scores[keep]
    blank = np.zeros(item.image.shape[:2], np.float32)
    picture = render_overlay(
        item.image,
        blank,
        pred_boxes=boxes,
        pred_labels=labels,
        pred_scores=scores,
        class_names=classes,
        image_weight=1.0,
    )
    written = [osp.join(out_dir, f'{key}.png')]
    save_rgb(written[0], picture)
    if not cam_topk or len(keep) == 0:
        return written
    k = min(int(cam_topk), len(keep))
    res = ablation_cams(model, item, boxes[:k], labels[:k], cam_ratio_channels)
    h, w = item.image.shape[:2]
    for i in range(k):
        name = classes[int(labels[i])]
        text = f'{name} {scores[i]:.2f}' + ('' if res.valid[i] else ' (not explained)')
        picture = render_overlay(
            item.image,
            res.cams[i][:h, :w],
            focal_box=boxes[i],
            focal_text=text,
            class_names=classes,
        )
        path = osp.join(out_dir, f'{key}_cam{i}_{_slug(name)}.png')
        save_rgb(path, picture)
        written.append(path)
    return written
