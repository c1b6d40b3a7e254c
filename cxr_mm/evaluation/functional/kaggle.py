"""Kaggle VinBigData's ``No finding`` class for a detector (the ``14 1 0 0 1 1`` rule).

The VinBigData Chest X-ray Abnormalities Detection challenge (Kaggle 2021) scores
``No finding`` as a 15th detection class whose ground truth is the box ``[0, 0, 1, 1]``
on every normal image, and every submission predicts that box with a score
(``14 <score> 0 0 1 1``). A detector has no such output, so the detector-only rule is:
**no-finding score = 1 - max detection score of the image** (1.0 when the detector
returns nothing). Its AP is the image-level AP of "this radiograph is normal".
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np

# Kaggle's full-image box for the 'No finding' class.
NO_FINDING_BOX = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)
NO_FINDING_RULE = 'score = 1 - max detection score of the image'


def no_finding_score(scores: np.ndarray) -> float:
    """Confidence that an image is normal: 1 - its highest detection score."""
    return 1.0 - float(np.max(scores)) if np.size(scores) else 1.0


def is_normal_default(ann: dict) -> bool:
    """Fallback when the dataset gives no per-image flag: no box, not even an ignore one."""
    return ann['labels'].size == 0 and ann['labels_ignore'].size == 0


def with_no_finding(
    anns: Sequence[dict],
    scores: Sequence[np.ndarray],
    dets: Sequence[List[np.ndarray]],
    normal: Optional[Sequence[bool]] = None,
) -> Tuple[list, list]:
    """Add the 15th class: a GT box on normal images, a scored box on every image.

    Args:
        anns (Sequence[dict]): eval_map-style annotations per image.
        scores (Sequence[np.ndarray]): all detection scores of each image.
        dets (Sequence[list[np.ndarray]]): per image, per class (m, 5) detections.
        normal (Sequence[bool], optional): which images are truly normal (every reader
            said ``No finding``); None = :func:`is_normal_default`.

    Returns:
        tuple[list, list]: annotations and detections with the extra class last.
    """
    k_anns, k_dets = [], []
    for i, (ann, img_scores, img_dets) in enumerate(zip(anns, scores, dets)):
        is_normal = is_normal_default(ann) if normal is None else bool(normal[i])
        nf_label = len(img_dets)
        k_ann = dict(ann)
        if is_normal:
            k_ann['bboxes'] = np.vstack([ann['bboxes'].reshape(-1, 4), NO_FINDING_BOX[None]])
            k_ann['labels'] = np.append(ann['labels'], np.int64(nf_label)).astype(np.int64)
        k_anns.append(k_ann)
        nf_det = np.append(NO_FINDING_BOX, np.float32(no_finding_score(img_scores)))[None]
        k_dets.append(list(img_dets) + [nf_det.astype(np.float32)])
    return k_anns, k_dets
