"""Localisation scores on hand-made heatmaps with known answers."""

import numpy as np
import pytest

from cxr_mm.cam.boxes import boxes_mask
from cxr_mm.cam.scores import (
    energy_in_boxes,
    heatmap_box_iou,
    localisation_scores,
    paired_difference,
    pointing_game,
    summarise,
)


def test_boxes_mask_pixel_convention():
    m = boxes_mask([2, 3, 6, 5], (8, 10))
    assert m.sum() == 4 * 2
    assert m[3:5, 2:6].all()
    # Half-pixel box edges: a pixel counts when its centre is inside.
    assert boxes_mask([2.4, 0, 2.6, 1], (2, 5)).sum() == 1
    assert boxes_mask([2.6, 0, 3.4, 1], (2, 5)).sum() == 0
    # Union of boxes, clipped to the image.
    u = boxes_mask([[0, 0, 2, 2], [1, 1, 3, 3], [8, 8, 20, 20]], (10, 10))
    assert u.sum() == 4 + 4 - 1 + 4
    with pytest.raises(ValueError, match='invalid box'):
        boxes_mask([5, 5, 1, 1], (10, 10))


def test_all_energy_inside_box_is_one():
    h = np.zeros((20, 30))
    h[5:10, 4:12] = np.random.default_rng(0).random((5, 8)) + 0.1
    box = [4, 5, 12, 10]
    assert energy_in_boxes(h, box) == pytest.approx(1.0)
    assert pointing_game(h, box) is True
    # thresholded heatmap covers part of the box: IoU = hot pixels / box
    hot = (h >= 0.5 * h.max()).sum()
    assert heatmap_box_iou(h, box, thr=0.5) == pytest.approx(hot / 40)
    # a uniform heatmap filling exactly the box has IoU 1
    u = np.zeros((20, 30))
    u[5:10, 4:12] = 1
    assert heatmap_box_iou(u, box) == pytest.approx(1.0)


def test_peak_outside_box_is_a_miss():
    h = np.zeros((20, 20))
    h[2:6, 2:6] = 0.5  # mass inside the box
    h[15, 15] = 1.0  # but the peak is outside
    box = [0, 0, 8, 8]
    assert pointing_game(h, box) is False
    assert energy_in_boxes(h, box) == pytest.approx(8 / 9)
    # only the peak survives thr=0.6: no overlap with the box
    assert heatmap_box_iou(h, box, thr=0.6) == 0.0
    # tolerance: a peak 2 px outside the box is a hit with 3 px slack
    g = np.zeros((20, 20))
    g[10, 10] = 1
    assert pointing_game(g, [0, 0, 8.5, 8.5]) is False
    assert pointing_game(g, [0, 0, 8.5, 8.5], tolerance=3) is True


def test_half_energy_and_multiple_boxes():
    h = np.zeros((10, 10))
    h[0:2, 0:2] = 1
    h[8:10, 8:10] = 1
    assert energy_in_boxes(h, [0, 0, 2, 2]) == pytest.approx(0.5)
    assert energy_in_boxes(h, [[0, 0, 2, 2], [8, 8, 10, 10]]) == 1.0
    assert heatmap_box_iou(h, [0, 0, 2, 2]) == pytest.approx(4 / 8)


def test_zero_heatmap_is_undefined_and_bad_input_rejected():
    z = np.zeros((5, 5))
    assert localisation_scores(z, [0, 0, 2, 2]) == dict(pointing=None, energy=None, iou=None)
    with pytest.raises(ValueError, match='NaN'):
        pointing_game(np.full((3, 3), np.nan), [0, 0, 1, 1])
    with pytest.raises(ValueError, match='2-D'):
        energy_in_boxes(np.ones((2, 3, 3)), [0, 0, 1, 1])
    with pytest.raises(ValueError, match='non-negative'):
        energy_in_boxes(-np.ones((3, 3)), [0, 0, 1, 1])


def test_summarise_and_paired_difference():
    recs = [
        dict(label=0, pointing=1.0, energy=0.8, iou=0.5),
        dict(label=0, pointing=0.0, energy=0.2, iou=0.1),
        dict(label=1, pointing=1.0, energy=0.6, iou=0.3),
        dict(label=1, pointing=None, energy=None, iou=None),
    ]
    s = summarise(recs, class_names=['a', 'b'])
    assert s['all']['n'] == 3 and s['all']['n_undefined'] == 1
    assert s['a']['pointing'] == pytest.approx(0.5)
    assert s['a']['energy'] == pytest.approx(0.5)
    assert s['b']['n'] == 1 and s['b']['n_undefined'] == 1
    d = paired_difference([0.1, 0.2, 0.3, 0.4], [0.3, 0.4, 0.5, 0.6])
    assert d['diff'] == pytest.approx(0.2)
    assert d['ci_low'] == pytest.approx(0.2) and d['ci_high'] == pytest.approx(0.2)
    d = paired_difference([0, 0, 1, 1, 0, 1], [1, 1, 1, 1, 0, 0])
    assert d['diff'] == pytest.approx(1 / 6)
    assert d['ci_low'] < d['diff'] < d['ci_high']
    with pytest.raises(ValueError, match='differ in length'):
        paired_difference([1, 2], [1])


def test_renormalize_in_box_and_box_selection():
    from cxr_mm.cam import renormalize_in_box, select_boxes

    cam = np.zeros((10, 10), np.float32)
    cam[2:5, 2:5] = [[0.2, 0.3, 0.4]] * 3
    cam[8, 8] = 1.0  # the image-wide peak, outside the box
    out = renormalize_in_box(cam, [2, 2, 5, 5])
    assert out[8, 8] == 0 and out[2, 2] == 0
    assert out[2:5, 4].max() == pytest.approx(1.0, abs=1e-5)
    assert out[3, 3] == pytest.approx(0.5, abs=1e-5)
    dets = dict(scores=np.array([0.9, 0.6, 0.3, 0.1]))
    assert select_boxes(dets, topk=2).tolist() == [0, 1]
    assert select_boxes(dets, score_thr=0.5).tolist() == [0, 1]
    assert select_boxes(dets, topk=3, score_thr=0.2).tolist() == [0, 1, 2]
    assert select_boxes(dets, topk=1, box_index=[3, 2]).tolist() == [3, 2]
    with pytest.raises(IndexError, match='out of range'):
        select_boxes(dets, box_index=[4])
