# Copyright (c) cxr-mm contributors. All rights reserved.
"""Explain -> score -> render: the one CAM workflow of the hook and the tools.

:class:`cxr_mm.engine.hooks.CAMHook`, ``tools/analysis_tools/vis_cam.py`` and
``cam_eval.py`` all do the same three steps on a preprocessed image
(:class:`cxr_mm.cam.inputs.CAMInput`):

1. :func:`explain_item`: detect, choose the boxes (top detections, ground
   truth, or boxes given by the caller) and compute one heatmap per box;
2. :func:`score_explanation`: localisation scores of each heatmap against the
   ground truth (:mod:`cxr_mm.cam.scores`);
3. :func:`render_explanation`: one overlay picture per box
   (:mod:`cxr_mm.visualization.cam_overlay`).
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .boxes import label_name, renormalize_in_box, safe_filename, select_boxes
from .inputs import CAMInput
from .scores import localisation_scores

BOX_SOURCES = ('pred', 'gt', 'given')


@dataclass
class Explanation:
    """Heatmaps of the chosen boxes of one image.

    Attributes:
        item (CAMInput): the image (picture, network input, ground truth).
        box_source (str): ``'pred'`` (detections), ``'gt'`` or ``'given'``.
        boxes (np.ndarray): (K, 4) explained boxes, input frame.
        labels (np.ndarray): (K,) their labels.
        scores (np.ndarray, optional): (K,) detection scores (None for GT).
        heatmaps (np.ndarray): (K, h, w) in [0, 1], cropped to the picture.
        valid (np.ndarray): (K,) False where the detector does not find the
            box (no heatmap, see :class:`cxr_mm.cam.CAMResult`).
        target_scores (np.ndarray): (K,) box targets on the unablated image.
        dets (dict): every detection (``boxes``, ``labels``, ``scores``,
            sorted by score); empty arrays when detection was not run.
        context (np.ndarray): indices into ``dets`` drawn as context.
        index (np.ndarray, optional): (K,) indices into ``dets`` of the
            explained boxes (``'pred'`` only).
        stats (dict): the CAM's cost figures.
    """

    item: CAMInput
    box_source: str
    boxes: np.ndarray
    labels: np.ndarray
    scores: Optional[np.ndarray]
    heatmaps: np.ndarray
    valid: np.ndarray
    target_scores: np.ndarray
    dets: Dict[str, np.ndarray]
    context: np.ndarray
    index: Optional[np.ndarray] = None
    stats: Dict[str, float] = field(default_factory=dict)


def _no_dets() -> Dict[str, np.ndarray]:
    return dict(
        boxes=np.zeros((0, 4), np.float32),
        labels=np.zeros(0, np.int64),
        scores=np.zeros(0, np.float32),
    )


def explain_item(
    cam,
    item: CAMInput,
    box_source: str = 'pred',
    topk: Optional[int] = None,
    score_thr: float = 0.0,
    box_index: Optional[Sequence[int]] = None,
    boxes: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    scores: Optional[np.ndarray] = None,
    detect: bool = True,
) -> Explanation:
    """Detect, choose the boxes and compute their heatmaps.

    Args:
        cam (DetCAM): the CAM of the detector.
        item (CAMInput): the preprocessed image.
        box_source (str): ``'pred'``: detections with ``score >= score_thr``,
            at most ``topk`` (or ``box_index``, see :func:`select_boxes`);
            ``'gt'``: the first ``topk`` ground-truth boxes; ``'given'``:
            ``boxes``/``labels``/``scores`` (input frame).
        detect (bool): run the detector (always for ``'pred'``); the
            detections are the context drawn on the overlays.
    """
    if box_source not in BOX_SOURCES:
        raise ValueError(f'box_source must be one of {BOX_SOURCES}, got {box_source!r}')
    dets = cam.detect(item.inputs, item.data_sample) if detect or box_source == 'pred' else None
    dets = dets if dets is not None else _no_dets()
    index = None
    if box_source == 'pred':
        index = select_boxes(dets, topk, score_thr, box_index)
        boxes, labels, scores = dets['boxes'][index], dets['labels'][index], dets['scores'][index]
        context = index
    else:
        if box_source == 'gt':
            boxes, labels, scores = item.gt_boxes[:topk], item.gt_labels[:topk], None
        elif boxes is None or labels is None:
            raise ValueError("box_source='given' needs boxes and labels")
        context = np.arange(min(len(dets['scores']), topk if topk is not None else 0))
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    res = cam(item.inputs, item.data_sample, boxes, labels)
    h, w = item.image.shape[:2]
    return Explanation(
        item=item,
        box_source=box_source,
        boxes=boxes,
        labels=labels,
        scores=None if scores is None else np.asarray(scores, np.float32).reshape(-1),
        heatmaps=res.cams[:, :h, :w],
        valid=res.valid,
        target_scores=res.target_scores,
        dets=dets,
        context=np.asarray(context, np.int64),
        index=index,
        stats=res.stats,
    )


def score_explanation(expl: Explanation, heatmap_thr: float = 0.5) -> List[Optional[dict]]:
    """Localisation scores per box, with its ``label``.

    A ground-truth box is scored against itself; a detection against the
    ground-truth boxes of its class (None when the image has none). A box
    the detector does not find has an all-zero heatmap: None scores.
    """
    item = expl.item
    records = []
    for k, label in enumerate(expl.labels):
        if expl.box_source == 'gt':
            ref = expl.boxes[k : k + 1]
        else:
            ref = item.gt_boxes[item.gt_labels == label]
        if not len(ref):
            records.append(None)
            continue
        rec = localisation_scores(expl.heatmaps[k], ref, heatmap_thr)
        rec['label'] = int(label)
        records.append(rec)
    return records


def box_caption(expl: Explanation, k: int, class_names: Optional[Sequence[str]]) -> str:
    """``class score``, and a warning when the box has no heatmap."""
    text = label_name(expl.labels[k], class_names)
    if expl.scores is not None:
        text += f' {float(expl.scores[k]):.2f}'
    if not expl.valid[k]:
        text += ' (not detected: no heatmap)'
    return text


def render_explanation(
    expl: Explanation,
    k: int,
    class_names: Optional[Sequence[str]] = None,
    norm_in_box: bool = False,
) -> np.ndarray:
    """Overlay of box ``k``: its heatmap, the ground truth, the context
    detections and the explained box in white (RGB uint8, input frame)."""
    from cxr_mm.visualization.cam_overlay import render_overlay

    heat = expl.heatmaps[k]
    if norm_in_box:
        heat = renormalize_in_box(heat, expl.boxes[k])
    context = expl.context
    if expl.index is not None:  # the focal detection is drawn as the focal box
        context = context[context != expl.index[k]]
    return render_overlay(
        expl.item.image,
        heat,
        expl.item.gt_boxes,
        expl.item.gt_labels,
        expl.dets['boxes'][context],
        expl.dets['labels'][context],
        expl.dets['scores'][context],
        focal_box=expl.boxes[k],
        focal_text=box_caption(expl, k, class_names),
        class_names=class_names,
    )


def overlay_name(stem: str, tag: str, k: int, label: int, class_names) -> str:
    """File name of an overlay: ``{stem}_{tag}{k}_{class}.png``."""
    return f'{stem}_{tag}{k}_{safe_filename(label_name(label, class_names))}.png'
