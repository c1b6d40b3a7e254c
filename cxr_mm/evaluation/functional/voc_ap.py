"""PASCAL VOC average precision per class, from one matching pass.

Matching is mmdet's ``tpfp_default`` (greedy by score, each ground truth hit once, a
detection on an ignore region counts neither as true nor as false positive), so the AP
equals mmdet's ``eval_map(eval_mode='area')``. The matches are kept as flat arrays
(:func:`match_detections`) apart from the AP computed from them.
"""

from typing import Dict, List, Sequence

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
