"""VinDrMetric against mmdet's VOCMetric / eval_map, mmdet's CocoMetric (pycocotools),
and a hand-made case with a known Kaggle IoU-0.4 answer (No finding included)."""

import json

import numpy as np
import pytest
import torch

from cxr_mm.evaluation.metrics import VinDrMetric
from cxr_mm.evaluation.metrics.vindr_metric import class_slug

CLASSES = ('Aortic enlargement', 'Cardiomegaly', 'Nodule/Mass', 'Pleural effusion')


def sample(
    gt_boxes,
    gt_labels,
    pred_boxes,
    pred_scores,
    pred_labels,
    img_id,
    hw=(512, 480),
    ignored=((), ()),
):
    """A data sample as mmdet's evaluator hands it to metrics (DetDataSample.to_dict())."""

    def t(x, shape, dtype=torch.float32):
        return torch.as_tensor(np.asarray(x, dtype=np.float64)).to(dtype).reshape(shape)

    return dict(
        img_id=img_id,
        ori_shape=hw,
        gt_instances=dict(bboxes=t(gt_boxes, (-1, 4)), labels=t(gt_labels, (-1,), torch.long)),
        ignored_instances=dict(
            bboxes=t(ignored[0], (-1, 4)), labels=t(ignored[1], (-1,), torch.long)
        ),
        pred_instances=dict(
            bboxes=t(pred_boxes, (-1, 4)),
            scores=t(pred_scores, (-1,)),
            labels=t(pred_labels, (-1,), torch.long),
        ),
        # what mmdet's CocoMetric reads when it has no ann_file
        instances=[
            dict(bbox=list(map(float, b)), bbox_label=int(lab), ignore_flag=0)
            for b, lab in zip(np.asarray(gt_boxes).reshape(-1, 4), gt_labels)
        ],
    )


def random_samples(seed=0, num_images=12, num_classes=len(CLASSES)):
    """Jittered copies of ground truth (true and poor positives), false positives,
    missed boxes and normal images: every branch of the matching."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(num_images):
        h, w = 512, 480
        n_gt = 0 if i % 4 == 3 else int(rng.integers(1, 5))
        xy = rng.uniform(0, 300, (n_gt, 2))
        wh = rng.uniform(20, 150, (n_gt, 2))
        gt = np.hstack([xy, xy + wh]).round(1)
        labels = rng.integers(0, num_classes, n_gt)
        keep = rng.random(n_gt) > 0.2
        jitter = rng.normal(0, 0.15, (n_gt, 4)) * np.hstack([wh, wh])
        preds = (gt + jitter)[keep]
        pred_labels = labels[keep]
        n_fp = int(rng.integers(0, 4))
        fp_xy = rng.uniform(0, 350, (n_fp, 2))
        fp = np.hstack([fp_xy, fp_xy + rng.uniform(10, 120, (n_fp, 2))])
        boxes = np.vstack([preds, fp]) if n_fp else preds
        all_labels = np.concatenate([pred_labels, rng.integers(0, num_classes, n_fp)])
        scores = rng.uniform(0.05, 1.0, len(boxes)).round(3)  # ties across images
        samples.append(sample(gt, labels, boxes, scores, all_labels, img_id=i + 1, hw=(h, w)))
    return samples


def evaluate(metric, samples, classes=CLASSES):
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('seed', [0, 1])
def test_map50_equals_mmdet_vocmetric_area(seed):
    from mmdet.evaluation import VOCMetric

    samples = random_samples(seed)
    ours = evaluate(VinDrMetric(use_legacy_coordinate=True, coco=False, plot=False), samples)
    voc = evaluate(VOCMetric(iou_thrs=0.5, eval_mode='area'), samples)
    assert ours['vindr/mAP50'] > 0.1  # a non-trivial case
    assert ours['vindr/mAP50'] == pytest.approx(voc['pascal_voc/mAP'], abs=1e-6)


def test_per_class_ap_equals_mmdet_eval_map():
    """Continuous coordinates (our default) and the Kaggle IoU, per class."""
    from mmdet.evaluation.functional import eval_map

    samples = random_samples(2)
    ours = evaluate(VinDrMetric(coco=False, plot=False), samples)
    anns, dets = [], []
    for s in samples:
        anns.append(
            dict(
                bboxes=s['gt_instances']['bboxes'].numpy(),
                labels=s['gt_instances']['labels'].numpy(),
                bboxes_ignore=np.zeros((0, 4), np.float32),
                labels_ignore=np.zeros(0, np.int64),
            )
        )
        p = s['pred_instances']
        b = np.hstack([p['bboxes'].numpy(), p['scores'].numpy()[:, None]])
        dets.append([b[p['labels'].numpy() == c] for c in range(len(CLASSES))])
    mean_ap, per_class = eval_map(
        dets,
        anns,
        iou_thr=0.5,
        logger='silent',
        nproc=1,
        use_legacy_coordinate=False,
        eval_mode='area',
    )
    assert ours['vindr/mAP50'] == pytest.approx(mean_ap, abs=1e-6)
    for name, res in zip(CLASSES, per_class):
        assert ours[f'vindr/AP50_{class_slug(name)}'] == pytest.approx(float(res['ap']), abs=1e-6)


def test_coco_map_equals_mmdet_cocometric(tmp_path):
    from mmdet.evaluation import CocoMetric

    samples = random_samples(3)
    ours = evaluate(VinDrMetric(plot=False), samples)
    coco = evaluate(CocoMetric(metric='bbox', outfile_prefix=str(tmp_path / 'coco')), samples)
    assert ours['vindr/coco_mAP'] > 0.05
    # CocoMetric rounds to 3 decimals.
    assert ours['vindr/coco_mAP'] == pytest.approx(coco['coco/bbox_mAP'], abs=6e-4)
    assert ours['vindr/coco_mAP50'] == pytest.approx(coco['coco/bbox_mAP_50'], abs=6e-4)
    assert ours['vindr/coco_mAP75'] == pytest.approx(coco['coco/bbox_mAP_75'], abs=6e-4)


def hand_made_samples():
    """Two classes A, B; four images. The known answers are worked out below."""
    return [
        # img 1: A ground truth; A predicted with IoU 0.45 (TP at 0.4, FP at 0.5).
        sample([[0, 0, 10, 10]], [0], [[0, 0, 10, 4.5]], [0.65], [0], img_id=1),
        # img 2: B found exactly (0.8); a false A (0.7).
        sample(
            [[20, 20, 40, 40]],
            [1],
            [[20, 20, 40, 40], [50, 50, 60, 60]],
            [0.8, 0.7],
            [1, 0],
            img_id=2,
        ),
        # img 3: normal, a confident false A (0.9).
        sample(np.zeros((0, 4)), [], [[0, 0, 5, 5]], [0.9], [0], img_id=3),
        # img 4: normal, no detection.
        sample(np.zeros((0, 4)), [], np.zeros((0, 4)), [], [], img_id=4),
    ]


def test_kaggle_map40_hand_made_case():
    """Worked answer.

    IoU 0.4. A: dets 0.9 (img3, FP), 0.7 (img2, FP), 0.65 (img1, TP) -> AP_A = 1/3.
    B: 0.8 TP -> AP_B = 1. No finding (score = 1 - max det score): GT on img3, img4;
    dets img4 1.0 (TP), img1 0.35 (FP), img2 0.2 (FP), img3 0.1 (TP): precision 1 up to
    recall 0.5, then 0.5 up to recall 1 -> AP_NF = 0.5 * 1 + 0.5 * 0.5 = 0.75.
    mAP40 = (1/3 + 1 + 0.75) / 3 = 25/36.  IoU 0.5: A's only TP fails -> AP_A = 0,
    mAP50 = (0 + 1) / 2.
    """
    res = evaluate(VinDrMetric(plot=False), hand_made_samples(), classes=('A', 'B'))
    assert res['vindr/AP40_no_finding'] == pytest.approx(0.75)
    assert res['vindr/mAP40_kaggle'] == pytest.approx(25 / 36)
    assert res['vindr/mAP50'] == pytest.approx(0.5)
    assert res['vindr/AP50_a'] == pytest.approx(0.0)
    assert res['vindr/AP50_b'] == pytest.approx(1.0)
    # mmdet 1.x (+1) box sizes turn the IoU-0.45 box into IoU 0.5: a TP at 0.5.
    legacy = evaluate(
        VinDrMetric(plot=False, coco=False, use_legacy_coordinate=True),
        hand_made_samples(),
        classes=('A', 'B'),
    )
    assert legacy['vindr/mAP50'] == pytest.approx((1 / 3 + 1) / 2)


def test_outputs_table_and_plots(tmp_path, capsys):
    out = tmp_path / 'eval'
    res = evaluate(VinDrMetric(out_dir=str(out)), random_samples(4))
    summary = json.loads((out / 'metrics.json').read_text())
    assert summary['metrics']['mAP50'] == pytest.approx(res['vindr/mAP50'])
    assert [c['name'] for c in summary['per_class']] == list(CLASSES)
    table = (out / 'table.txt').read_text()
    for name in CLASSES + ('No finding (Kaggle)', 'mean'):
        assert name in table
    assert f'{res["vindr/mAP50"]:.3f}' in table
    import matplotlib.image as mpimg

    for png in ('pr_curves.png', 'per_class_ap.png'):
        img = mpimg.imread(str(out / png))
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert img[..., :3].std() > 0.01  # not blank


def test_rejects_labels_outside_classes():
    samples = [sample([[0, 0, 5, 5]], [0], [[0, 0, 5, 5]], [0.5], [7], img_id=1)]
    with pytest.raises(ValueError, match='label 7'):
        evaluate(VinDrMetric(plot=False), samples, classes=('A', 'B'))


def test_no_detections_at_all_scores_zero_not_crash():
    samples = [
        sample([[0, 0, 5, 5]], [0], np.zeros((0, 4)), [], [], img_id=1),
        sample(np.zeros((0, 4)), [], np.zeros((0, 4)), [], [], img_id=2),
    ]
    res = evaluate(VinDrMetric(plot=False), samples, classes=('A', 'B'))
    assert res['vindr/mAP50'] == 0.0 and res['vindr/coco_mAP'] == 0.0
    # Both images get no-finding score 1.0; the tie keeps input order (as eval_map),
    # so the abnormal image 1 ranks first: precision 1/2 at full recall.
    assert res['vindr/AP40_no_finding'] == pytest.approx(0.5)


def froc_samples():
    """test_froc.hand_worked as data samples: 2 classes, 4 images, an ignore region on
    image 4, image 3 truly normal (worked answer there: CPM 17/21)."""
    samples = [
        sample(
            [[0, 0, 10, 10]],
            [0],
            [[0, 0, 10, 10]] * 3,
            [0.9, 0.6, 0.5],
            [0, 0, 1],
            img_id=1,
        ),
        sample(
            [[20, 20, 40, 40], [50, 50, 60, 60]],
            [1, 0],
            [[20, 20, 40, 40], [50, 50, 60, 55]],
            [0.8, 0.3],
            [1, 0],
            img_id=2,
        ),
        sample(np.zeros((0, 4)), [], [[0, 0, 5, 5]], [0.85], [0], img_id=3),
        sample(
            np.zeros((0, 4)),
            [],
            [[0, 0, 30, 30]],
            [0.95],
            [0],
            img_id=4,
            ignored=([[0, 0, 30, 30]], [0]),
        ),
    ]
    for s, normal in zip(samples, [False, False, True, False]):
        s['is_normal'] = normal
    return samples


def test_froc_auroc_and_split_in_metric(tmp_path):
    out = tmp_path / 'eval'
    metric = VinDrMetric(out_dir=str(out), coco=False)
    metric.dataset_meta = dict(classes=('A', 'B'), split='test', test_set='physionet-official')
    samples = froc_samples()
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert res['vindr/CPM'] == pytest.approx(17 / 21)
    assert res['vindr/FROC_sens_0.125'] == pytest.approx(1 / 3)
    assert res['vindr/FROC_sens_1'] == pytest.approx(1.0)
    assert res['vindr/FROC1_a'] == res['vindr/FROC1_b'] == pytest.approx(1.0)
    # image level: abnormal 0.9, 0.8, 0.95 (image 4 has an ignore box: not normal)
    # against the normal image's 0.85
    assert res['vindr/AUROC_abnormal'] == pytest.approx(2 / 3)
    assert res['vindr/split'] == 'test' and res['vindr/test_set'] == 'physionet-official'
    summary = json.loads((out / 'metrics.json').read_text())
    assert summary['split'] == 'test' and summary['test_set'] == 'physionet-official'
    assert summary['froc']['cpm'] == pytest.approx(17 / 21)
    z = np.load(out / 'matches.npz')
    # 7 detections; the one on the ignore region is neither TP nor FP
    assert len(z['score']) == 7 and z['froc_tp'].sum() == 3 and z['froc_fp'].sum() == 3
    assert z['num_gts'].tolist() == [[1, 0], [1, 1], [0, 0], [0, 0]]
    import matplotlib.image as mpimg

    img = mpimg.imread(str(out / 'froc.png'))
    assert img.shape[0] > 100 and img[..., :3].std() > 0.01
    assert 'test split, test set physionet-official' in (out / 'table.txt').read_text()


def test_metric_passes_ignore_regions_to_froc():
    """Without the ignore box the 0.95 detection is the first false positive."""
    samples = froc_samples()
    samples[3] = sample(np.zeros((0, 4)), [], [[0, 0, 30, 30]], [0.95], [0], img_id=4)
    samples[3]['is_normal'] = False
    res = evaluate(VinDrMetric(plot=False, coco=False), samples, classes=('A', 'B'))
    assert res['vindr/FROC_sens_0.125'] == 0.0
    assert res['vindr/CPM'] < 17 / 21
    assert res['vindr/split'] == 'unknown'  # the dataset did not say


def test_is_normal_flag_decides_no_finding_ground_truth():
    """Two images without boxes and without detections (no-finding score 1.0 each; the
    tie keeps input order). Image 1's boxes were dropped by fusion (is_normal False),
    image 2 is truly normal: No-finding GT on image 2 only -> FP then TP -> AP 0.5.
    Without the flag both would be normal -> AP 1."""
    empty = dict(gt_boxes=np.zeros((0, 4)), gt_labels=[], pred_boxes=np.zeros((0, 4)))
    samples = [sample(**empty, pred_scores=[], pred_labels=[], img_id=i) for i in (1, 2)]
    assert evaluate(VinDrMetric(plot=False), samples, ('A',))['vindr/AP40_no_finding'] == 1.0
    samples = [sample(**empty, pred_scores=[], pred_labels=[], img_id=i) for i in (1, 2)]
    samples[0]['is_normal'], samples[1]['is_normal'] = False, True
    res = evaluate(VinDrMetric(plot=False), samples, ('A',))
    assert res['vindr/AP40_no_finding'] == pytest.approx(0.5)


def test_is_normal_flag_errors_name_the_image():
    samples = [sample([[0, 0, 5, 5]], [0], [[0, 0, 5, 5]], [0.5], [0], img_id=1)]
    samples[0]['is_normal'] = True
    samples[0]['img_path'] = 'a/b/img1.dcm'
    with pytest.raises(ValueError, match='img1.dcm: is_normal=True but it has 1 lesion'):
        evaluate(VinDrMetric(plot=False), samples, ('A',))
    samples = froc_samples()
    del samples[2]['is_normal']
    with pytest.raises(ValueError, match="lack 'is_normal'"):
        evaluate(VinDrMetric(plot=False), samples, ('A', 'B'))
