# Copyright (c) cxr-mm contributors. All rights reserved.
"""Localisation scores of a heatmap against ground-truth boxes.

The BarlowTwins-CXR paper only shows Ablation-CAM pictures; these scores make
"localises abnormalities more precisely" measurable:

* pointing game (Zhang et al., "Top-down Neural Attention by Excitation
  Backprop", ECCV 2016): hit if the heatmap's peak lies in a box;
* energy inside the box (the "energy-based pointing game" of Score-CAM,
  Wang et al., CVPRW 2020): share of the heatmap mass inside the boxes;
* IoU of the heatmap thresholded at ``thr * max`` with the union of boxes.

Boxes are ``[x1, y1, x2, y2]`` in the heatmap's pixel frame (pixel convention
in :mod:`cxr_mm.cam.boxes`).
"""

from typing import Dict, Optional, Sequence

import numpy as np

from ..evaluation.stats import paired_difference  # noqa: F401  (statistics: one home)
from .boxes import BoxesLike, boxes_mask, label_name


def _check(heatmap: np.ndarray) -> np.ndarray:
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2:
        raise ValueError(f'heatmap must be 2-D, got shape {heatmap.shape}')
    if not np.isfinite(heatmap).all():
        raise ValueError('heatmap contains NaN or inf')
    return heatmap


def pointing_game(heatmap: np.ndarray, boxes: BoxesLike, tolerance: float = 0.0) -> Optional[bool]:
    """Whether the heatmap's peak falls inside one of ``boxes``.

    Args:
        heatmap (np.ndarray): (H, W) non-negative heatmap.
        boxes: (4,) or (N, 4) boxes.
        tolerance (float): pixels of slack around the boxes (Zhang et al.
            use 15 px at 224 px input).

    Returns:
        bool, or None for an all-zero heatmap (no peak to point with).
    """
    heatmap = _check(heatmap)
    if heatmap.max() <= 0:
        return None
    r, c = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    px, py = c + 0.5, r + 0.5
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        if x1 - tolerance <= px <= x2 + tolerance and y1 - tolerance <= py <= y2 + tolerance:
            return True
    return False


def energy_in_boxes(heatmap: np.ndarray, boxes: BoxesLike) -> Optional[float]:
    """Share of the (non-negative) heatmap mass inside ``boxes``.

    Returns None for an all-zero heatmap.
    """
    heatmap = _check(heatmap)
    if (heatmap < 0).any():
        raise ValueError('energy needs a non-negative heatmap')
    total = heatmap.sum()
    if total <= 0:
        return None
    return float(heatmap[boxes_mask(boxes, heatmap.shape)].sum() / total)


def heatmap_box_iou(heatmap: np.ndarray, boxes: BoxesLike, thr: float = 0.5) -> Optional[float]:
    """IoU between ``heatmap >= thr * max`` and the union of ``boxes``.

    Returns None for an all-zero heatmap.
    """
    heatmap = _check(heatmap)
    peak = heatmap.max()
    if peak <= 0:
        return None
    hot = heatmap >= thr * peak
    box = boxes_mask(boxes, heatmap.shape)
    union = np.logical_or(hot, box).sum()
    return float(np.logical_and(hot, box).sum() / union)


def localisation_scores(
    heatmap: np.ndarray, boxes: BoxesLike, thr: float = 0.5, tolerance: float = 0.0
) -> Dict[str, Optional[float]]:
    """All three scores; values are None when the heatmap is all zeros."""
    hit = pointing_game(heatmap, boxes, tolerance)
    return dict(
        pointing=None if hit is None else float(hit),
        energy=energy_in_boxes(heatmap, boxes),
        iou=heatmap_box_iou(heatmap, boxes, thr),
    )


SCORE_NAMES = ('pointing', 'energy', 'iou')


def summarise(
    records: Sequence[dict], class_names: Optional[Sequence[str]] = None
) -> Dict[str, dict]:
    """Mean scores per class and overall from per-box records.

    Args:
        records: dicts with ``label`` (int) and the :data:`SCORE_NAMES`
            (None = undefined: the box was not explained, counted apart).
        class_names: names for the labels.

    Returns:
        dict ``{class or 'all': {'n', 'n_undefined', <score>: mean}}``.
    """
    groups: Dict[str, list] = {'all': list(records)}
    for rec in records:
        label = int(rec['label'])
        name = label_name(label, class_names)
        groups.setdefault(name, []).append(rec)
    out = {}
    for name, recs in groups.items():
        defined = [r for r in recs if r['pointing'] is not None]
        row = dict(n=len(defined), n_undefined=len(recs) - len(defined))
        for key in SCORE_NAMES:
            vals = [r[key] for r in defined if r[key] is not None]
            row[key] = float(np.mean(vals)) if vals else float('nan')
        out[name] = row
    return out
