# Copyright (c) cxr-mm contributors. All rights reserved.
"""Fusion of several radiologists' boxes into one reference per lesion.

VinDr-CXR train images were read independently by three radiologists, so one
lesion usually comes with three slightly different boxes (or fewer, when some
readers missed it). Training on all of them teaches the detector duplicate
boxes; the usual remedy is to fuse them per image and class:

- ``'wbf'``: Weighted Boxes Fusion (Solovyev et al., "Weighted boxes fusion:
  Ensembling boxes from different object detection models", 2021), computed
  by the ``ensemble-boxes`` package with each reader as one "model", all
  scores 1. A box seen by one reader only is kept (score 1/readers).
- ``'majority'``: the WBF clusters, keeping only those that at least
  ``min_votes`` distinct readers drew (a reader "drew" a fused box when one of
  their boxes of that class overlaps it with IoU >= ``iou_thr``). The default
  ``min_votes`` is a strict majority of the readers of the image, counting
  readers who said "No finding".
- ``'none'``: every reader's box is kept as it is.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

FUSION_METHODS = ('wbf', 'majority', 'none')


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of (n, 4) and (m, 4) xyxy boxes in continuous coords."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def fuse_reader_boxes(
    reader_boxes: Dict[str, Tuple[np.ndarray, np.ndarray]],
    width: float,
    height: float,
    method: str = 'wbf',
    iou_thr: float = 0.4,
    skip_box_thr: float = 0.0,
    num_readers: Optional[int] = None,
    min_votes: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse the boxes of several readers of one image, per class.

    Args:
        reader_boxes (dict): reader id -> ``(boxes (n, 4) xyxy pixels inside
            the image, labels (n,) int)``. Readers with no box may be given
            with empty arrays.
        width (float): image width in pixels (WBF works in [0, 1]).
        height (float): image height in pixels.
        method (str): ``'wbf'``, ``'majority'`` or ``'none'``.
        iou_thr (float): WBF cluster threshold (ensemble-boxes matches
            ``iou > iou_thr``), also the vote threshold of ``'majority'``.
        skip_box_thr (float): passed to ensemble-boxes.
        num_readers (int, optional): readers of the image, including those
            without boxes. Defaults to ``len(reader_boxes)``.
        min_votes (int, optional): votes needed by ``'majority'``. Defaults to
            ``num_readers // 2 + 1``.

    Returns:
        tuple: ``(boxes (m, 4) float32 pixels, labels (m,) int64,
        scores (m,) float32)``. Scores are the WBF confidence (share of
        readers), the vote share for ``'majority'`` and 1 for ``'none'``.
    """
    if method not in FUSION_METHODS:
        raise ValueError(f'fusion must be one of {FUSION_METHODS}, got {method!r}')
    readers = sorted(reader_boxes)
    if num_readers is None:
        num_readers = len(readers)
    boxes_l, labels_l = [], []
    for r in readers:
        b, lab = reader_boxes[r]
        boxes_l.append(np.asarray(b, dtype=np.float64).reshape(-1, 4))
        labels_l.append(np.asarray(lab, dtype=np.int64).reshape(-1))
    empty = (np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), np.zeros((0,), np.float32))
    if sum(len(b) for b in boxes_l) == 0:
        return empty
    if method == 'none':
        boxes = np.concatenate(boxes_l).astype(np.float32)
        labels = np.concatenate(labels_l)
        return boxes, labels, np.ones(len(boxes), np.float32)

    try:
        from ensemble_boxes import weighted_boxes_fusion
    except ImportError as e:  # pragma: no cover - pinned in requirements
        raise ImportError(
            'fusion="wbf"/"majority" needs the ensemble-boxes '
            'package (pip install ensemble-boxes==1.0.9)'
        ) from e
    scale = np.array([width, height, width, height], dtype=np.float64)
    # Readers without boxes still count as models: the WBF score is then the
    # share of all readers who drew the lesion.
    norm = [b / scale for b in boxes_l]
    scores_l = [np.ones(len(b)) for b in boxes_l]
    n_models = max(num_readers, len(readers))
    pad = n_models - len(readers)
    norm += [np.zeros((0, 4))] * pad
    scores_l += [np.zeros((0,))] * pad
    labels_in = labels_l + [np.zeros((0,), np.int64)] * pad
    fboxes, fscores, flabels = weighted_boxes_fusion(
        [b.tolist() for b in norm],
        [s.tolist() for s in scores_l],
        [lab.tolist() for lab in labels_in],
        iou_thr=iou_thr,
        skip_box_thr=skip_box_thr,
    )
    fboxes = np.asarray(fboxes, dtype=np.float64).reshape(-1, 4) * scale
    flabels = np.asarray(flabels).astype(np.int64).reshape(-1)
    fscores = np.asarray(fscores, dtype=np.float32).reshape(-1)
    if method == 'majority':
        if min_votes is None:
            min_votes = n_models // 2 + 1
        votes = np.zeros(len(fboxes), np.int64)
        for b, lab in zip(boxes_l, labels_l):
            if len(b) == 0:
                continue
            iou = box_iou(fboxes, b)
            same = flabels[:, None] == lab[None, :]
            votes += ((iou >= iou_thr) & same).any(axis=1)
        keep = votes >= min_votes
        fboxes, flabels = fboxes[keep], flabels[keep]
        fscores = (votes[keep] / n_models).astype(np.float32)
    order = np.lexsort((fboxes[:, 1], fboxes[:, 0], flabels))
    return (fboxes[order].astype(np.float32), flabels[order], fscores[order])


def count_by_label(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Histogram of integer labels."""
    return np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1), minlength=num_classes)[
        :num_classes
    ]
