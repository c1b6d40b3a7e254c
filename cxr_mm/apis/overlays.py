# Copyright (c) cxr-mm contributors. All rights reserved.
"""Overlay pictures of inference results: boxes, and a CAM per box.

Ablation-CAM: Desai & Ramaswamy, WACV 2020, as used by BarlowTwins-CXR (Sheng
et al., 2024). Drawn in the network input frame (the resized image).
"""

import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from torch import nn

from .inferencer import Prediction, to_input_frame


def cam_settings(cfg, ratio_channels: Optional[float] = None) -> Dict[str, object]:
    """DetCAM arguments: the config's CAMHook settings (what the training-time CAMs
    cost and mean), else DetCAM's defaults; ``ratio_channels`` overrides."""
    from ..cam.explain import cam_settings_from_config

    try:
        settings = cam_settings_from_config(cfg)
    except KeyError:  # no CAMHook in the config
        settings = dict(method='ablation')
    if ratio_channels is not None:
        settings['ratio_channels_to_ablate'] = ratio_channels
    return settings


def explain_boxes(model: nn.Module, item, boxes, labels, scores, topk, classes, settings):
    """Per-box CAMs and overlays of one image (boxes in the input frame).

    The one place inference calls the CAM code (``cxr_mm.cam.explain``).
    """
    from ..cam.explain import explain_detections

    return explain_detections(
        model,
        item,
        boxes,
        labels,
        scores,
        topk=topk,
        boxes_frame='input',
        class_names=classes,
        **settings,
    )


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
    settings: Optional[dict] = None,
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
    expl = explain_boxes(model, item, boxes, labels, scores, int(cam_topk), classes, settings or {})
    for i, picture in enumerate(expl.overlays):
        name = classes[int(expl.labels[i])]
        path = osp.join(out_dir, f'{key}_cam{i}_{_slug(name)}.png')
        save_rgb(path, picture)
        written.append(path)
    return written
