"""Lesion-level FROC (free-response ROC) and image-level AUROC for chest radiographs.

FROC is the curve radiologists read: lesion sensitivity against the mean number of
false positives per image as the score threshold falls. The VinDr-CXR paper (Nguyen et
al., Scientific Data 2022) reports sensitivity at 1 FP/scan; the LUNA16 challenge (Setio
et al., Medical Image Analysis 2017) summarises the curve as the CPM, the mean
sensitivity at 1/8, 1/4, 1/2, 1, 2, 4 and 8 FP/image.

Hit criterion (documented once, here): a detection is a hit when its IoU with a
ground-truth box **of the same class** is >= ``iou_thr`` (0.4, the VinBigData IoU);
each ground truth is hit at most once (greedy by score: a second detection of a lesion
already hit is a false positive); a detection that only matches an ignore region
(mmdet ``ignore_flag=1``, e.g. a box of a label outside the 14 classes) is neither hit
nor false positive. This is mmdet's ``tpfp_default`` matching, shared with the AP
(:func:`..voc_ap.match_detections`). All images count in the FP-per-image denominator.
Sensitivity at a rate is the highest sensitivity of an operating point (a score
threshold; tied scores are one point) with at most that many FPs per image.
"""

from typing import Dict, Optional, Sequence

import numpy as np

FROC_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FROC_IOU = 0.4


def froc_points(
    matches: Dict[str, np.ndarray],
    weights: Optional[np.ndarray] = None,
    label: Optional[int] = None,
) -> Dict[str, np.ndarray]:
    """FROC operating points from :func:`..voc_ap.match_detections`.

    Args:
        matches (dict): flat match arrays (``img``, ``label``, ``score``, ``tp``,
            ``fp``, ``num_gts``).
        weights (np.ndarray, optional): (B, num_images) image counts of B resampled
            test sets (image-level bootstrap); None = the test set itself.
        label (int, optional): one class only (its FPs and lesions); None = all.

    Returns:
        dict: ``fp`` (B, P) false positives, ``fppi`` (B, P), ``sensitivity``
        (B, P; nan without lesions), ``score`` (P,) the threshold of each point (the
        first point, nothing detected, has +inf), ``num_gts`` (B,), ``num_images`` (B,).
    """
    num_images = matches['num_gts'].shape[0]
    if weights is None:
        weights = np.ones((1, num_images))
    weights = np.atleast_2d(np.asarray(weights))
    sel = (matches['tp'] > 0) | (matches['fp'] > 0)  # ignored detections change nothing
    if label is not None:
        sel &= matches['label'] == label
    score = matches['score'][sel]
    order = np.argsort(-score, kind='stable')
    score = score[order]
    # float32 counts are exact here (far below 2**24) and halve the memory traffic
    w = weights.astype(np.float32)[:, matches['img'][sel][order]]
    is_tp = matches['tp'][sel][order].astype(bool)
    tp = np.cumsum(np.where(is_tp, w, 0), axis=1, dtype=np.float32)
    fp = np.cumsum(np.where(is_tp, 0, w), axis=1, dtype=np.float32)
    del w
    # A threshold cannot split tied scores: one operating point per distinct score.
    ends = np.r_[score[1:] != score[:-1], True] if score.size else np.zeros(0, bool)
    if not ends.all():
        tp, fp = tp[:, ends], fp[:, ends]
    zero = np.zeros((weights.shape[0], 1), np.float32)
    tp = np.hstack([zero, tp])
    fp = np.hstack([zero, fp])
    gts = matches['num_gts'] if label is None else matches['num_gts'][:, [label]]
    num_gts = weights @ gts.sum(1)
    n_img = weights.sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        sensitivity = np.where(num_gts[:, None] > 0, tp / num_gts[:, None], np.nan)
    return dict(
        fp=fp,
        fppi=fp / np.maximum(n_img, 1)[:, None],
        sensitivity=sensitivity,
        score=np.r_[np.inf, score[ends]],
        num_gts=num_gts,
        num_images=n_img,
    )


def sensitivity_at(
    points: Dict[str, np.ndarray], rates: Sequence[float] = FROC_RATES
) -> np.ndarray:
    """(B, len(rates)) best sensitivity with at most ``rate`` FPs per image."""
    fp, n_img = points['fp'], points['num_images'][:, None]
    out = []
    for rate in rates:
        # count FPs, not a float ratio, so 1 FP in 8 images is exactly 0.125
        last = (fp <= rate * n_img + 1e-9).sum(1) - 1  # >= 0: the first point has fp 0
        out.append(np.take_along_axis(points['sensitivity'], last[:, None], 1)[:, 0])
    return np.stack(out, 1)


def froc(
    matches: Dict[str, np.ndarray],
    num_classes: int,
    rates: Sequence[float] = FROC_RATES,
    per_class_rate: float = 1.0,
) -> dict:
    """Lesion-level FROC over all classes, its CPM and per-class sensitivity.

    Returns:
        dict: ``rates``, ``sensitivity_at`` (one per rate), ``cpm`` (their mean),
        ``per_class_at`` (sensitivity of each class at ``per_class_rate`` FPs of that
        class per image; nan for a class without lesions), ``num_gts``, ``num_images``,
        ``curve`` (``fppi``, ``sensitivity``, ``score`` arrays of the pooled curve).
    """
    points = froc_points(matches)
    at = sensitivity_at(points, rates)[0]
    per_class = [
        float(sensitivity_at(froc_points(matches, label=c), [per_class_rate])[0, 0])
        for c in range(num_classes)
    ]
    return dict(
        rates=list(map(float, rates)),
        sensitivity_at=at.tolist(),
        cpm=float(np.mean(at)) if np.isfinite(at).all() else float('nan'),
        per_class_rate=float(per_class_rate),
        per_class_at=per_class,
        num_gts=int(points['num_gts'][0]),
        num_images=int(points['num_images'][0]),
        curve=dict(
            fppi=points['fppi'][0], sensitivity=points['sensitivity'][0], score=points['score']
        ),
    )


def weighted_cpm(
    matches: Dict[str, np.ndarray], weights: np.ndarray, rates: Sequence[float] = FROC_RATES
) -> np.ndarray:
    """(B,) CPM of resampled test sets (image ``i`` counted ``weights[b, i]`` times)."""
    return sensitivity_at(froc_points(matches, weights), rates).mean(1)


def abnormal_auroc(abnormal: Sequence[bool], max_scores: Sequence[float]) -> float:
    """Image-level AUROC of abnormal vs normal, scored by the highest detection.

    An image without detections scores 0. nan when only one kind of image is present.
    """
    from sklearn.metrics import roc_auc_score

    abnormal = np.asarray(abnormal, bool)
    if abnormal.all() or not abnormal.any():
        return float('nan')
    return float(roc_auc_score(abnormal, np.asarray(max_scores, np.float64)))
