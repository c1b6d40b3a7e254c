# Copyright (c) cxr-mm contributors. All rights reserved.
"""Boxes and labels of a CAM: which boxes to explain, their targets, names.

Boxes are ``[x1, y1, x2, y2]`` in the heatmap's pixel frame (the network
input); pixel ``(r, c)`` belongs to a box when its centre ``(c + 0.5,
r + 0.5)`` lies inside.
"""

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

BoxesLike = Union[Sequence[float], np.ndarray]


def label_name(label: int, class_names: Optional[Sequence[str]]) -> str:
    """Class name of ``label``; the number itself when there is no name."""
    if class_names is not None and 0 <= int(label) < len(class_names):
        return str(class_names[int(label)])
    return str(int(label))


def boxes_mask(boxes: BoxesLike, shape: Sequence[int]) -> np.ndarray:
    """Boolean (H, W) mask of the union of ``boxes`` ((4,) or (N, 4))."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        if not (x2 >= x1 and y2 >= y1):
            raise ValueError(
                f'invalid box [{x1}, {y1}, {x2}, {y2}]: expected x1 <= x2 and y1 <= y2'
            )
        c1 = int(np.clip(np.ceil(x1 - 0.5), 0, w))
        c2 = int(np.clip(np.ceil(x2 - 0.5), 0, w))
        r1 = int(np.clip(np.ceil(y1 - 0.5), 0, h))
        r2 = int(np.clip(np.ceil(y2 - 0.5), 0, h))
        mask[r1:r2, c1:c2] = True
    return mask


def box_targets(boxes: np.ndarray, labels: np.ndarray, iou_thr: float = 0.5) -> List:
    """One grad-cam ``FasterRCNNBoxScoreTarget`` per box (each explains a
    single box): IoU with the best-overlapping output box plus its score,
    when that box has the focal label and IoU above ``iou_thr`` (else 0)."""
    from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    if len(boxes) != len(labels):
        raise ValueError(f'{len(boxes)} boxes but {len(labels)} labels')
    return [
        FasterRCNNBoxScoreTarget(labels=[int(lab)], bounding_boxes=[box], iou_threshold=iou_thr)
        for box, lab in zip(boxes, labels)
    ]


def renormalize_in_box(cam: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Min-max normalise the heatmap inside ``box``, zero outside.

    As in grad-cam's detection tutorial: shows what the detector looks at
    within its own box rather than the image-wide peak.
    """
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


def safe_filename(text: str) -> str:
    """``text`` with every non-alphanumeric character replaced by ``_``."""
    return ''.join(c if c.isalnum() else '_' for c in text)
