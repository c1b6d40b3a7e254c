"""Lesion-level FROC: a hand-worked example, ties, ignore regions, and the
``coco-froc-analysis`` package on detections where its criteria and ours coincide."""

import numpy as np
import pytest

from cxr_mm.evaluation.functional import (
    FROC_RATES,
    abnormal_auroc,
    froc,
    froc_points,
    match_detections,
)

E = np.zeros((0, 4))


def ann(boxes=E, labels=(), ignore=E, ignore_labels=()):
    return dict(
        bboxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        labels=np.asarray(labels, np.int64),
        bboxes_ignore=np.asarray(ignore, np.float32).reshape(-1, 4),
        labels_ignore=np.asarray(ignore_labels, np.int64),
    )


def dets(num_classes, *boxes):
    """Per-class (m, 5) arrays from (x1, y1, x2, y2, score, label) tuples."""
    out = [np.zeros((0, 5), np.float32) for _ in range(num_classes)]
    for *box, score, label in boxes:
        out[label] = np.vstack([out[label], np.array([*box, score], np.float32)])
    return out


def hand_worked(with_ignore=True):
    """Classes A (0), B (1); 4 images, 3 lesions.

    img0: lesion A; A exact 0.9 (hit), A again 0.6 (second hit of one lesion: FP),
          B on it 0.5 (wrong class: FP).
    img1: lesions B and A; B exact 0.8 (hit), A of IoU 0.5 with its lesion 0.3 (hit at 0.4).
    img2: normal; A 0.85 (FP).
    img3: an A ignore region; A on it 0.95 (neither hit nor FP).
    """
    anns = [
        ann([[0, 0, 10, 10]], [0]),
        ann([[20, 20, 40, 40], [50, 50, 60, 60]], [1, 0]),
        ann(),
        ann(
            ignore=[[0, 0, 30, 30]] if with_ignore else E, ignore_labels=[0] if with_ignore else []
        ),
    ]
    d = [
        dets(2, (0, 0, 10, 10, 0.9, 0), (0, 0, 10, 10, 0.6, 0), (0, 0, 10, 10, 0.5, 1)),
        dets(2, (20, 20, 40, 40, 0.8, 1), (50, 50, 60, 55, 0.3, 0)),
        dets(2, (0, 0, 5, 5, 0.85, 0)),
        dets(2, (0, 0, 30, 30, 0.95, 0)),
    ]
    return anns, d


def test_hand_worked_froc_cpm_and_per_class():
    """Worked answer.

    By score: 0.95 ignored, 0.9 hit, 0.85 FP, 0.8 hit, 0.6 FP, 0.5 FP, 0.3 hit; 4 images.
    Operating points (FP, hits): (0,1) (1,1) (1,2) (2,2) (3,2) (3,3).
    FP/image budget -> FPs allowed -> sensitivity: 0.125 -> 0 -> 1/3; 0.25 -> 1 -> 2/3;
    0.5 -> 2 -> 2/3; 1, 2, 4, 8 -> all -> 3/3.  CPM = (1/3 + 2/3 + 2/3 + 4) / 7 = 17/21.
    Per class at 0.25 FP/image (1 FP of that class): A: 0.9 hit, 0.85 FP, then 0.6 would be
    the 2nd FP -> 1/2; B: 0.8 hit, 0.5 FP -> 1/1.
    """
    anns, d = hand_worked()
    m = match_detections(anns, d, 2, iou_thr=0.4)
    res = froc(m, 2, per_class_rate=0.25)
    assert res['rates'] == list(FROC_RATES)
    assert res['sensitivity_at'] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    assert res['cpm'] == pytest.approx(17 / 21)
    assert res['per_class_at'] == pytest.approx([0.5, 1.0])
    assert res['num_gts'] == 3 and res['num_images'] == 4
    # at 1 FP/image every class is found
    assert froc(m, 2)['per_class_at'] == pytest.approx([1.0, 1.0])
    # IoU 0.5 makes img1's A detection (IoU exactly 0.5) still a hit, 0.6 does not
    assert froc(match_detections(anns, d, 2, iou_thr=0.6), 2)['sensitivity_at'][-1] == 2 / 3


def test_ignore_region_is_neither_hit_nor_false_positive():
    anns, d = hand_worked(with_ignore=False)
    res = froc(match_detections(anns, d, 2, iou_thr=0.4), 2)
    # without the ignore region the 0.95 detection is the first FP: 0 FPs allowed at
    # 0.125 FP/image (4 images) leaves nothing
    assert res['sensitivity_at'][0] == 0.0
    assert res['cpm'] < 17 / 21


def test_tied_scores_are_one_operating_point():
    # A hit and a FP with the same score: no threshold keeps one without the other.
    anns = [ann([[0, 0, 10, 10]], [0]), ann()]
    d = [dets(1, (0, 0, 10, 10, 0.5, 0)), dets(1, (0, 0, 9, 9, 0.5, 0))]
    pts = froc_points(match_detections(anns, d, 1, iou_thr=0.4))
    assert pts['fp'][0].tolist() == [0, 1] and pts['sensitivity'][0].tolist() == [0, 1]
    res = froc(match_detections(anns, d, 1, iou_thr=0.4), 1, rates=[0.25, 0.5])
    assert res['sensitivity_at'] == [0.0, 1.0]  # 1 FP / 2 images = 0.5 FP/image


def test_abnormal_auroc_hand_worked():
    # abnormal images score 0.9, 0.8, 0.95; the normal one 0.85: 2 of 3 pairs ranked right
    assert abnormal_auroc([True, True, False, True], [0.9, 0.8, 0.85, 0.95]) == pytest.approx(2 / 3)
    assert np.isnan(abnormal_auroc([True, True], [0.1, 0.2]))


def coincident_case(seed=0, num_images=10, num_classes=3):
    """Detections on which coco-froc-analysis' rule and ours agree: in an (image, class)
    cell with lesions every detection overlaps its own lesion clearly (IoU > 0.6) and no
    other; false positives only where the class has no lesion. (Its Hungarian matching
    counts every assigned pair as a hit, overlapping or not, so cells mixing hits and
    misses would differ; it also uses IoU > thr where we use >=.)"""
    rng = np.random.default_rng(seed)
    anns, d, gt_json, pr_json = [], [], [], []
    for i in range(num_images):
        boxes, labels = [], []
        for c in range(num_classes):
            if rng.random() < 0.5 or (i == 0):  # every class has lesions (image 0)
                for k in range(int(rng.integers(1, 3))):
                    x = 200 * k + 60 * c
                    boxes.append([x, 10 + 100 * c, x + 40, 50 + 100 * c])
                    labels.append(c)
        img_dets = []
        for box, c in zip(boxes, labels):
            if rng.random() < 0.7:
                img_dets.append((*np.add(box, rng.uniform(-2, 2, 4)), rng.uniform(0.05, 1), c))
        for c in range(num_classes):
            if c not in labels and rng.random() < 0.6:
                for _ in range(int(rng.integers(1, 3))):
                    x, y = rng.uniform(0, 400, 2)
                    img_dets.append((x, y, x + 30, y + 30, rng.uniform(0.05, 1), c))
        anns.append(ann(boxes, labels))
        d.append(dets(num_classes, *img_dets))
        for box, c in zip(boxes, labels):
            x1, y1, x2, y2 = box
            gt_json.append(
                dict(
                    id=len(gt_json) + 1, image_id=i, category_id=c, bbox=[x1, y1, x2 - x1, y2 - y1]
                )
            )
        for x1, y1, x2, y2, s, c in img_dets:
            pr_json.append(
                dict(image_id=i, category_id=int(c), bbox=[x1, y1, x2 - x1, y2 - y1], score=s)
            )
    gt = dict(
        images=[dict(id=i) for i in range(num_images)],
        annotations=gt_json,
        categories=[dict(id=c, name=f'c{c}') for c in range(num_classes)],
    )
    return anns, d, gt, pr_json


@pytest.mark.parametrize('seed', [0, 1])
def test_matches_coco_froc_analysis_where_criteria_coincide(seed):
    # pinned in requirements/tests.txt: a missing install fails loudly, never skips
    import coco_froc_analysis.froc.froc_curve as cfa

    num_classes = 3
    anns, d, gt, pr = coincident_case(seed, num_classes=num_classes)
    m = match_detections(anns, d, num_classes, iou_thr=0.4)
    assert m['fp'].sum() > 3 and m['tp'].sum() > 3  # a non-trivial case
    for thr in [0.0, 0.2, 0.45, 0.7, 0.9]:
        stats = cfa.froc_point(gt, pr, thr, use_iou=True, iou_thres=0.4)
        for c in range(num_classes):
            pts = froc_points(m, label=c)
            point = int((pts['score'][1:] > thr).sum())  # their rule: keep score > thr
            theirs = stats[c]
            assert pts['sensitivity'][0, point] == pytest.approx(theirs['LL'] / theirs['n_lesions'])
            assert pts['fppi'][0, point] == pytest.approx(theirs['NL'] / theirs['n_images'])
