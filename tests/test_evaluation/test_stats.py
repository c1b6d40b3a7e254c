"""cxr_mm.evaluation.stats: Holm, paired tests, cluster and image-level bootstrap, and
the weighted (resampled) mAP / CPM they run on."""

import os.path as osp
import sys

import numpy as np
import pytest
from scipy import stats as st

from cxr_mm.evaluation.functional import (
    froc,
    match_detections,
    mean_ap,
    voc_ap_per_class,
    weighted_cpm,
    weighted_map,
)
from cxr_mm.evaluation.stats import holm, image_bootstrap, paired_difference, paired_test


def test_holm_known_values():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone
    adj = holm([0.01, 0.04, 0.03, 0.005])
    assert adj.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # nan is not a test: it neither counts in m nor gets a value
    adj = holm([float('nan'), 0.01, 0.04])
    assert np.isnan(adj[0]) and adj[1:].tolist() == pytest.approx([0.02, 0.04])
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]  # capped at 1


def test_paired_test_constant_differences_get_exact_p():
    a = [0.30, 0.31, 0.32]
    b = [0.33, 0.34, 0.35]  # +0.03 on every seed, up to float noise of the subtraction
    assert np.isnan(st.ttest_rel(b, a).pvalue) or st.ttest_rel(b, a).pvalue < 1e-6
    res = paired_test(a, b)
    assert res['p'] == pytest.approx(0.25) and res['test'].startswith('sign-flip')
    assert paired_test([0.1] * 5, [0.2] * 5)['p'] == pytest.approx(2 / 32)
    assert paired_test(a, a)['p'] == 1.0
    assert np.isnan(paired_test([0.1], [0.2])['p'])
    varying = paired_test(a, [0.33, 0.35, 0.34])
    assert varying['p'] == pytest.approx(st.ttest_rel([0.33, 0.35, 0.34], a).pvalue)
    assert varying['test'] == 'paired t'


def test_paired_difference_resamples_images_not_boxes():
    # 4 images of 10 boxes; all boxes of an image move together
    per_image = np.array([1.0, -1.0, 0.5, -0.3])
    d = np.repeat(per_image, 10)
    images = np.repeat(['a.png', 'b.png', 'c.png', 'd.png'], 10)
    by_image = paired_difference(np.zeros(40), d, groups=images, seed=0)
    by_box = paired_difference(np.zeros(40), d, seed=0)
    assert by_image['diff'] == by_box['diff'] == pytest.approx(per_image.mean())
    assert by_image['n'] == 40 and by_image['n_groups'] == 4
    width_image = by_image['ci_high'] - by_image['ci_low']
    width_box = by_box['ci_high'] - by_box['ci_low']
    assert width_image > 2 * width_box  # boxes of one image are not independent
    # equal-size images: the image bootstrap is the bootstrap of the image means
    ref = st.bootstrap((per_image,), np.mean, method='percentile', n_resamples=2000, rng=1)
    assert by_image['ci_low'] == pytest.approx(ref.confidence_interval.low, abs=0.15)
    assert by_image['ci_high'] == pytest.approx(ref.confidence_interval.high, abs=0.15)


def test_paired_difference_fewer_than_two_images_has_no_interval():
    res = paired_difference([0.1, 0.2, 0.3], [0.3, 0.2, 0.6], groups=['x.png'] * 3)
    assert res['diff'] == pytest.approx(0.5 / 3)
    assert res['ci_low'] is None and res['ci_high'] is None  # not a zero-width interval
    assert paired_difference([], [])['ci_low'] is None


def test_cam_eval_tables_group_boxes_by_image():
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools'))
    try:
        import cam_eval
    finally:
        sys.path.pop(0)

    def rec(image, cls, a, b):
        scores = lambda v: dict(pointing=v, energy=v, iou=v)  # noqa: E731
        return dict(image=image, class_name=cls, a=scores(a), b=scores(b))

    records = [rec('1.png', 'Cardiomegaly', 0.2, 0.6), rec('2.png', 'Cardiomegaly', 0.4, 0.5)]
    records += [rec('3.png', 'Nodule/Mass', 0.1, v) for v in (0.2, 0.3, 0.9)]
    tables = cam_eval.score_records(records, ['A', 'B'], num_bootstrap=200)
    energy = tables['energy']
    assert energy['Nodule/Mass']['n'] == 3 and energy['Nodule/Mass']['n_groups'] == 1
    assert energy['Nodule/Mass']['ci_low'] is None  # three boxes, one image
    assert energy['Cardiomegaly']['ci_low'] is not None
    assert energy['all']['n_groups'] == 3
    text = cam_eval.format_tables(tables, ['A', 'B'])
    assert '1 image(s): no interval' in text


def random_case(seed, num_images=15, num_classes=3):
    rng = np.random.default_rng(seed)
    anns, dets = [], []
    for _ in range(num_images):
        n = int(rng.integers(0, 4))
        xy = rng.uniform(0, 200, (n, 2))
        gt = np.hstack([xy, xy + rng.uniform(20, 80, (n, 2))]).astype(np.float32)
        labels = rng.integers(0, num_classes, n)
        anns.append(
            dict(
                bboxes=gt,
                labels=labels,
                bboxes_ignore=np.zeros((0, 4), np.float32),
                labels_ignore=np.zeros(0, np.int64),
            )
        )
        boxes = np.vstack([gt + rng.normal(0, 4, gt.shape), rng.uniform(0, 250, (2, 4))])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 5)
        det_labels = np.concatenate([labels, rng.integers(0, num_classes, 2)])
        scores = rng.permutation(np.linspace(0.05, 0.95, len(boxes))) + rng.uniform(0, 0.01)
        d = np.hstack([boxes, scores[:, None]]).astype(np.float32)
        dets.append([d[det_labels == c] for c in range(num_classes)])
    return anns, dets


def test_weighted_map_and_cpm_equal_a_duplicated_test_set():
    """Image i counted w_i times == the test set with image i copied w_i times."""
    anns, dets = random_case(0)
    weights = np.random.default_rng(1).multinomial(len(anns), np.ones(len(anns)) / len(anns), 3)
    m50 = match_detections(anns, dets, 3, 0.5)
    m40 = match_detections(anns, dets, 3, 0.4)
    maps, cpms = weighted_map(m50, weights), weighted_cpm(m40, weights)
    for b, w in enumerate(weights):
        idx = np.repeat(np.arange(len(anns)), w)
        a2, d2 = [anns[i] for i in idx], [dets[i] for i in idx]
        assert maps[b] == pytest.approx(mean_ap(voc_ap_per_class(a2, d2, 3, 0.5)), abs=1e-6)
        assert cpms[b] == pytest.approx(froc(match_detections(a2, d2, 3, 0.4), 3)['cpm'])
    ones = np.ones((1, len(anns)))
    assert weighted_map(m50, ones)[0] == pytest.approx(
        mean_ap(voc_ap_per_class(anns, dets, 3, 0.5))
    )


def test_image_bootstrap_seeded_interval():
    anns, dets = random_case(2, num_images=30)
    m = match_detections(anns, dets, 3, 0.5)
    stat = lambda w: weighted_map(m, w)  # noqa: E731
    res = image_bootstrap(stat, len(anns), num_draws=300, seed=0)
    assert res['estimate'] == pytest.approx(mean_ap(voc_ap_per_class(anns, dets, 3, 0.5)))
    assert res['ci_low'] < res['estimate'] < res['ci_high']
    assert image_bootstrap(stat, len(anns), num_draws=300, seed=0) == res  # seeded
    assert image_bootstrap(stat, len(anns), num_draws=300, seed=1)['ci_low'] != res['ci_low']
    one = image_bootstrap(lambda w: w[:, 0], 1)
    assert one['ci_low'] is None and one['estimate'] == 1.0


def test_stats_module_is_light():
    """cxr_mm.cam.scores and the tools import the statistics: no OpenMMLab behind them."""
    import subprocess

    from cxr_testing import REPO_ROOT

    code = (
        'import sys, cxr_mm.evaluation.stats, cxr_mm.cam.scores\n'
        "print(sorted(m for m in ('mmdet', 'mmengine', 'mmpretrain', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == '[]', out.stdout


def test_image_bootstrap_bca_and_degenerate_fallback():
    anns, dets = random_case(3, num_images=40)
    m = match_detections(anns, dets, 3, 0.5)
    bca = image_bootstrap(lambda w: weighted_map(m, w), 40, num_draws=300, seed=0)
    pct = image_bootstrap(
        lambda w: weighted_map(m, w), 40, num_draws=300, seed=0, method='percentile'
    )
    assert bca['method'] == 'BCa' and pct['method'] == 'percentile'
    assert bca['ci_low'] != pct['ci_low']  # the bias correction acts
    assert bca['ci_low'] < bca['estimate'] < bca['ci_high']
    # a statistic that never changes: BCa is undefined, the percentile interval is exact
    const = image_bootstrap(lambda w: np.full(w.shape[0], 0.5), 10, num_draws=100)
    assert const['method'].startswith('percentile') and const['ci_low'] == const['ci_high'] == 0.5
