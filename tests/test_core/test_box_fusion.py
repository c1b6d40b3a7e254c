"""Fusion of radiologists' boxes (cxr_mm.core.box_fusion)."""

import ensemble_boxes
import numpy as np
import pytest

from cxr_mm.core.box_fusion import box_iou, fuse_reader_boxes

W, H = 400.0, 200.0


def _r(boxes, labels):
    return (np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(labels, dtype=np.int64))


def test_wbf_hand_case_matches_ensemble_boxes_and_hand_average():
    readers = {
        'R1': _r([[100, 50, 200, 150], [10, 10, 30, 30]], [3, 8]),
        'R2': _r([[110, 60, 210, 160]], [3]),
        'R3': _r([[90, 40, 190, 140]], [3]),
    }
    boxes, labels, scores = fuse_reader_boxes(readers, W, H, 'wbf', 0.4)

    # By hand: the three class-3 boxes overlap (IoU > 0.4) -> their mean,
    # confidence 3/3; the class-8 box stays alone, confidence 1/3.
    assert labels.tolist() == [3, 8]
    np.testing.assert_allclose(boxes[0], [100, 50, 200, 150], atol=1e-3)
    np.testing.assert_allclose(boxes[1], [10, 10, 30, 30], atol=1e-3)
    np.testing.assert_allclose(scores, [1.0, 1 / 3], atol=1e-6)

    # The same through ensemble-boxes directly, normalised coordinates.
    scale = np.array([W, H, W, H])
    eb, es, el = ensemble_boxes.weighted_boxes_fusion(
        [(readers[r][0] / scale).tolist() for r in sorted(readers)],
        [[1.0] * len(readers[r][0]) for r in sorted(readers)],
        [readers[r][1].tolist() for r in sorted(readers)],
        iou_thr=0.4,
        skip_box_thr=0.0,
    )
    order = np.argsort(el, kind='stable')
    np.testing.assert_allclose(boxes, eb[order] * scale, atol=1e-3)
    np.testing.assert_allclose(scores, es[order], atol=1e-6)
    assert labels.tolist() == np.asarray(el)[order].astype(int).tolist()


def test_wbf_does_not_merge_different_classes_or_low_iou():
    readers = {
        'R1': _r([[100, 50, 200, 150]], [1]),
        'R2': _r([[100, 50, 200, 150]], [2]),
    }
    boxes, labels, _ = fuse_reader_boxes(readers, W, H, 'wbf', 0.4)
    assert sorted(labels.tolist()) == [1, 2]

    # IoU([0,0,100,100], [50,0,150,100]) = 1/3: apart at 0.4, fused at 0.3.
    readers = {
        'R1': _r([[0, 0, 100, 100]], [0]),
        'R2': _r([[50, 0, 150, 100]], [0]),
    }
    assert box_iou(readers['R1'][0], readers['R2'][0])[0, 0] == pytest.approx(1 / 3)
    assert len(fuse_reader_boxes(readers, W, H, 'wbf', 0.4)[0]) == 2
    boxes, _, scores = fuse_reader_boxes(readers, W, H, 'wbf', 0.3)
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], [25, 0, 125, 100], atol=1e-3)
    assert scores[0] == pytest.approx(1.0)


def test_readers_without_boxes_lower_the_wbf_confidence():
    readers = {'R1': _r([[100, 50, 200, 150]], [3])}
    _, _, scores = fuse_reader_boxes(readers, W, H, 'wbf', num_readers=3)
    assert scores.tolist() == pytest.approx([1 / 3])


def test_majority_counts_distinct_readers_including_no_finding_readers():
    readers = {
        # R1 draws the same lesion twice: still one vote.
        'R1': _r([[100, 50, 200, 150], [102, 52, 202, 152]], [3, 3]),
        'R2': _r([[300, 10, 350, 60]], [5]),
        'R3': _r([[298, 12, 348, 62]], [5]),
    }
    boxes, labels, scores = fuse_reader_boxes(readers, W, H, 'majority', 0.4, num_readers=3)
    assert labels.tolist() == [5]
    np.testing.assert_allclose(boxes[0], [299, 11, 349, 61], atol=1e-3)
    assert scores.tolist() == pytest.approx([2 / 3])

    # A 4th reader said "No finding": 2 of 4 is no majority any more.
    boxes, _, _ = fuse_reader_boxes(readers, W, H, 'majority', 0.4, num_readers=4)
    assert len(boxes) == 0
    # ... unless min_votes is lowered.
    boxes, labels, _ = fuse_reader_boxes(readers, W, H, 'majority', 0.4, num_readers=4, min_votes=1)
    assert sorted(labels.tolist()) == [3, 5]


def test_none_keeps_every_box_and_empty_input_is_empty():
    readers = {
        'R1': _r([[100, 50, 200, 150]], [3]),
        'R2': _r([[101, 50, 200, 150]], [3]),
        'R3': _r(np.zeros((0, 4)), []),
    }
    boxes, labels, scores = fuse_reader_boxes(readers, W, H, 'none')
    assert boxes.shape == (2, 4) and labels.tolist() == [3, 3]
    assert scores.tolist() == [1.0, 1.0]
    for method in ('wbf', 'majority', 'none'):
        b, lab, s = fuse_reader_boxes({'R1': _r(np.zeros((0, 4)), [])}, W, H, method)
        assert b.shape == (0, 4) and lab.shape == (0,) and s.shape == (0,)


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match='fusion must be one of'):
        fuse_reader_boxes({}, W, H, 'mean')
