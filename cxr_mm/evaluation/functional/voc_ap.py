"""PASCAL VOC average precision per class, from one matching pass.

Matching is mmdet's ``tpfp_default`` (greedy by score, each ground truth hit once, a
detection on an ignore region counts neither as true nor as false positive), so the AP
equals mmdet's ``eval_map(eval_mode='area')``. The matches are kept as flat arrays
(:func:`match_detections`) so that the AP of a resampled test set - an image-level
bootstrap - is a weighted cumulative sum, not a new matching pass.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.evaluation.functional import average_precision
from mmdet.evaluation.functional.mean_ap import tpfp_default

_EPS = np.finfo(np.float32).eps


def match_detections(
    anns: Sequence[dict],
    dets: Sequence[List[np.ndarray]],
    num_classes: int,
    iou_thr: float,
    use_legacy_coordinate: bool = False,
) -> Dict[str, np.ndarray]:
    """True / false positive flag of every detection, as mmdet's ``eval_map``.

    Args:
        anns (Sequence[dict]): per image ``bboxes`` (n, 4), ``labels`` (n,),
            ``bboxes_ignore`` (k, 4), ``labels_ignore`` (k,) (mmdet's eval_map format).
        dets (Sequence[list[np.ndarray]]): per image, per class (m, 5) boxes + score.
        num_classes (int): number of classes.
        iou_thr (float): IoU for a true positive.
        use_legacy_coordinate (bool): mmdet 1.x ``+1`` box size (VOC pixel indices).

    Returns:
        dict: flat arrays over detections, ordered by class, then image, then the
        image's own order: ``img``, ``label``, ``score``, ``tp``, ``fp`` (an ignored
        detection has both 0); and ``num_gts`` (num_images, num_classes).
    """
    num_images = len(anns)
    num_gts = np.zeros((num_images, num_classes), np.int64)
    cols = dict(img=[], label=[], score=[], tp=[], fp=[])
    for c in range(num_classes):
        for i, (ann, img_dets) in enumerate(zip(anns, dets)):
            cls_dets = img_dets[c]
            gt = ann['bboxes'][ann['labels'] == c]
            gt_ignore = ann['bboxes_ignore'][ann['labels_ignore'] == c]
            tp, fp = tpfp_default(cls_dets, gt, gt_ignore, iou_thr, None, use_legacy_coordinate)
            num_gts[i, c] = gt.shape[0]
            n = cls_dets.shape[0]
            cols['img'].append(np.full(n, i, np.int64))
            cols['label'].append(np.full(n, c, np.int64))
            cols['score'].append(cls_dets[:, -1].astype(np.float32))
            cols['tp'].append(tp[0].astype(np.uint8))
            cols['fp'].append(fp[0].astype(np.uint8))
    dtypes = dict(img=np.int64, label=np.int64, score=np.float32, tp=np.uint8, fp=np.uint8)
    out = {k: np.concatenate(v) if v else np.zeros(0, dtypes[k]) for k, v in cols.items()}
    out['num_gts'] = num_gts
    return out


def ap_from_matches(matches: Dict[str, np.ndarray], num_classes: int) -> List[dict]:
    """VOC 'area' AP per class from :func:`match_detections`.

    Returns:
        list[dict]: ``num_gts``, ``num_dets``, ``recall``, ``precision``, ``ap``.
    """
    results = []
    for c in range(num_classes):
        sel = matches['label'] == c
        scores = matches['score'][sel]
        num_gts = int(matches['num_gts'][:, c].sum())
        # The same (unstable) sort as eval_map, so ties break identically.
        order = np.argsort(-scores)
        tp = np.cumsum(matches['tp'][sel][order].astype(np.float32))
        fp = np.cumsum(matches['fp'][sel][order].astype(np.float32))
        recall = tp / max(num_gts, _EPS)
        precision = tp / np.maximum(tp + fp, _EPS)
        results.append(
            dict(
                num_gts=num_gts,
                num_dets=int(sel.sum()),
                recall=recall,
                precision=precision,
                ap=float(average_precision(recall, precision, 'area')),
            )
        )
    return results


def voc_ap_per_class(
    anns: Sequence[dict],
    dets: Sequence[List[np.ndarray]],
    num_classes: int,
    iou_thr: float,
    use_legacy_coordinate: bool = False,
) -> List[dict]:
    """VOC 'area' AP per class, as mmdet's ``eval_map`` but in-process (see
    :func:`match_detections` for the arguments and :func:`ap_from_matches` for the result)."""
    matches = match_detections(anns, dets, num_classes, iou_thr, use_legacy_coordinate)
    return ap_from_matches(matches, num_classes)


def mean_ap(per_class: Sequence[dict]) -> float:
    """Mean AP over the classes that have ground truth (VOC devkit rule)."""
    aps = [r['ap'] for r in per_class if r['num_gts'] > 0]
    return float(np.mean(aps)) if aps else 0.0


def weighted_map(
    matches: Dict[str, np.ndarray], weights: np.ndarray, num_classes: Optional[int] = None
) -> np.ndarray:
    """mAP of resampled test sets: image ``i`` counted ``weights[b, i]`` times in draw ``b``.

    The image-level bootstrap of mAP50 without re-matching: an image drawn twice
    contributes its detections and ground truth twice. Classes without ground truth in
    a draw are left out of that draw's mean (VOC rule).

    Args:
        matches (dict): from :func:`match_detections`.
        weights (np.ndarray): (B, num_images) non-negative counts.

    Returns:
        np.ndarray: (B,) mAP per draw.
    """
    weights = np.atleast_2d(np.asarray(weights))
    w32 = weights.astype(np.float32)  # counts: exact in float32, half the memory traffic
    num_classes = matches['num_gts'].shape[1] if num_classes is None else num_classes
    aps = np.full((weights.shape[0], num_classes), np.nan)
    for c in range(num_classes):
        sel = matches['label'] == c
        order = np.argsort(-matches['score'][sel])
        w = w32[:, matches['img'][sel][order]]
        is_tp = matches['tp'][sel][order].astype(bool)
        is_fp = matches['fp'][sel][order].astype(bool)
        tp = np.cumsum(np.where(is_tp, w, 0), axis=1, dtype=np.float32)
        fp = np.cumsum(np.where(is_fp, w, 0), axis=1, dtype=np.float32)
        num_gts = weights @ matches['num_gts'][:, c]
        has_gt = num_gts > 0
        if not has_gt.any():
            continue
        if tp.shape[1] == 0:
            aps[has_gt, c] = 0.0
            continue
        recall = tp / np.maximum(num_gts, _EPS)[:, None]
        precision = tp / np.maximum(tp + fp, _EPS)
        aps[has_gt, c] = _area_ap(recall, precision)[has_gt]
    with np.errstate(invalid='ignore'):
        counted = np.isfinite(aps)
        return np.where(counted.any(1), np.nansum(aps, 1) / np.maximum(counted.sum(1), 1), 0.0)


def _area_ap(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Row-wise VOC 'area' AP, the same sum as mmdet's ``average_precision(mode='area')``
    (zero-width recall steps add 0) without its Python loop over detections, which
    dominates a 2,000-draw bootstrap."""
    rows = recall.shape[0]
    mrec = np.hstack([np.zeros((rows, 1)), recall, np.ones((rows, 1))])
    mpre = np.hstack([np.zeros((rows, 1)), precision, np.zeros((rows, 1))])
    mpre = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]
    return np.sum((mrec[:, 1:] - mrec[:, :-1]) * mpre[:, 1:], axis=1)
