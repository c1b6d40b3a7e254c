"""Evaluation math apart from the registered metrics (as mmdet's evaluation/functional)."""

from .coco import COCO_KEYS, coco_map, xyxy_to_xywh
from .froc import (
    FROC_IOU,
    FROC_RATES,
    abnormal_auroc,
    froc,
    froc_points,
    sensitivity_at,
    weighted_cpm,
)
from .kaggle import (
    NO_FINDING_BOX,
    NO_FINDING_RULE,
    is_normal_default,
    no_finding_score,
    with_no_finding,
)
from .voc_ap import ap_from_matches, match_detections, mean_ap, voc_ap_per_class, weighted_map

__all__ = [
    'COCO_KEYS',
    'FROC_IOU',
    'FROC_RATES',
    'NO_FINDING_BOX',
    'NO_FINDING_RULE',
    'abnormal_auroc',
    'ap_from_matches',
    'coco_map',
    'froc',
    'froc_points',
    'is_normal_default',
    'match_detections',
    'mean_ap',
    'no_finding_score',
    'sensitivity_at',
    'voc_ap_per_class',
    'weighted_cpm',
    'weighted_map',
    'with_no_finding',
    'xyxy_to_xywh',
]
