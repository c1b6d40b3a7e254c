"""Evaluation math apart from the registered metrics (as mmdet's evaluation/functional)."""

from .coco import COCO_KEYS, coco_map, xyxy_to_xywh
from .kaggle import (
    NO_FINDING_BOX,
    NO_FINDING_RULE,
    is_normal_default,
    no_finding_score,
    with_no_finding,
)
from .voc_ap import ap_from_matches, match_detections, mean_ap, voc_ap_per_class

__all__ = [
    'COCO_KEYS',
    'NO_FINDING_BOX',
    'NO_FINDING_RULE',
    'ap_from_matches',
    'coco_map',
    'is_normal_default',
    'match_detections',
    'mean_ap',
    'no_finding_score',
    'voc_ap_per_class',
    'with_no_finding',
    'xyxy_to_xywh',
]
