"""COCO mAP (IoU .50:.05:.95) with pycocotools, on in-memory annotations.

Boxes are converted as mmdet's ``CocoMetric`` does; ignore regions become ``iscrowd``
ground truth, which COCOeval treats as neither a hit nor a miss.
"""

import contextlib
import io
from typing import Dict, List, Sequence, Tuple

from mmengine.logging import print_log

COCO_KEYS = ('coco_mAP', 'coco_mAP50', 'coco_mAP75')


def xyxy_to_xywh(box) -> List[float]:
    """``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]``."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return [x1, y1, x2 - x1, y2 - y1]


def coco_map(
    anns: Sequence[dict], preds: Sequence[dict], num_classes: int
) -> Tuple[Dict[str, float], List[float]]:
    """COCO mAP with pycocotools on in-memory json (boxes as mmdet's CocoMetric).

    Args:
        anns (Sequence[dict]): per image ``width``, ``height`` and eval_map-style boxes.
        preds (Sequence[dict]): per image ``bboxes``, ``scores``, ``labels``.
        num_classes (int): number of classes.

    Returns:
        tuple: ``{coco_mAP, coco_mAP50, coco_mAP75}`` and the per-class COCO AP.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, gts, dts = [], [], []
    for idx, (ann, pred) in enumerate(zip(anns, preds)):
        images.append(dict(id=idx, width=ann['width'], height=ann['height']))
        for boxes, labels, crowd in (
            (ann['bboxes'], ann['labels'], 0),
            (ann['bboxes_ignore'], ann['labels_ignore'], 1),
        ):
            for box, label in zip(boxes, labels):
                xywh = xyxy_to_xywh(box)
                gts.append(
                    dict(
                        id=len(gts) + 1,
                        image_id=idx,
                        category_id=int(label),
                        bbox=xywh,
                        area=xywh[2] * xywh[3],
                        iscrowd=crowd,
                    )
                )
        for box, score, label in zip(pred['bboxes'], pred['scores'], pred['labels']):
            dts.append(
                dict(
                    image_id=idx, category_id=int(label), bbox=xyxy_to_xywh(box), score=float(score)
                )
            )
    if not gts or not dts:
        return dict.fromkeys(COCO_KEYS, 0.0), [0.0] * num_classes

    coco_gt = COCO()
    coco_gt.dataset = dict(
        images=images, annotations=gts, categories=[dict(id=i) for i in range(num_classes)]
    )
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress prints
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dts)
        coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
        coco_eval.evaluate()
        coco_eval.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.summarize()
    print_log('pycocotools COCOeval (bbox):\n' + summary.getvalue(), logger='current')
    stats = dict(zip(COCO_KEYS, map(float, coco_eval.stats[:3])))
    # precision: [IoU, recall, class, area, maxDets]; area 'all', maxDets 100.
    precision = coco_eval.eval['precision']
    per_class = []
    for c in range(num_classes):
        p = precision[:, :, c, 0, -1]
        p = p[p > -1]
        per_class.append(float(p.mean()) if p.size else float('nan'))
    return stats, per_class
