"""vis_cam.py and cam_eval.py end to end on a config file and checkpoints."""

import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from cxr_testing import VINDR_CLASSES, build_small_detector, full_config, load_tool

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool(name):
    return load_tool(f'tools/analysis_tools/{name}.py')


@pytest.fixture(scope='module')
def setup(coco_set, tmp_path_factory):
    root = tmp_path_factory.mktemp('cam_tools')
    cfg = full_config(coco_set, root / 'work')
    cfg_path = str(root / 'small_frcnn.py')
    cfg.dump(cfg_path)
    ckpts = []
    for seed in (0, 1):
        model = build_small_detector(seed)
        path = str(root / f'seed{seed}.pth')
        torch.save(
            dict(
                state_dict=model.state_dict(),
                meta=dict(dataset_meta=dict(classes=list(VINDR_CLASSES))),
            ),
            path,
        )
        ckpts.append(path)
    return root, cfg_path, ckpts


def test_vis_cam_png_topk_and_box_index(setup, coco_set):
    root, cfg_path, ckpts = setup
    vis_cam = _tool('vis_cam')
    image = str(coco_set / 'images' / 'cxr_001.png')
    out = root / 'vis'
    written = vis_cam.main(
        [
            cfg_path,
            ckpts[0],
            image,
            '--topk',
            '3',
            '--score-thr',
            '0',
            '--ratio-channels',
            '0.125',
            '--out-dir',
            str(out),
        ]
    )
    assert len(written) == 3
    for p in written:
        img = cv2.imread(p)
        assert img.shape == (128, 128, 3) and img.std() > 5
    summary = json.load(open(out / 'cxr_001_ablation_boxes.json'))
    assert [b['box_index'] for b in summary['boxes']] == [0, 1, 2]
    assert all(b['class_name'] in VINDR_CLASSES for b in summary['boxes'])
    assert summary['stats']['forwards'] == 1 + -(-summary['stats']['channels_ablated'] // 32)
    scores = [b['score'] for b in summary['boxes']]
    assert scores == sorted(scores, reverse=True)

    # explicit boxes, Grad-CAM, FPN level, renormalised in the box
    written = vis_cam.main(
        [
            cfg_path,
            ckpts[0],
            image,
            '--box-index',
            '1',
            '--method',
            'grad',
            '--target-layer',
            'neck.fpn_convs.0',
            '--norm-in-box',
            '--out-dir',
            str(out),
        ]
    )
    assert len(written) == 1 and '_grad_box1_' in written[0]
    # nothing above a high threshold: a message, no file
    assert (
        vis_cam.main(
            [cfg_path, ckpts[0], image, '--score-thr', '1.1', '--out-dir', str(root / 'none')]
        )
        == []
    )
    with pytest.raises(IndexError, match='out of range'):
        vis_cam.main([cfg_path, ckpts[0], image, '--box-index', '999', '--out-dir', str(out)])
    with pytest.raises(FileNotFoundError):
        vis_cam.main([cfg_path, ckpts[0], 'missing.png'])


def test_vis_cam_dicom_through_loadcxrimage(setup, tmp_path):
    """A real radiograph (pydicom-data RG1_UNCR, MONOCHROME1) via the
    config's test pipeline with LoadCXRImage."""
    from mmengine.config import Config
    from pydicom.data import get_testdata_file

    root, cfg_path, ckpts = setup
    cfg = Config.fromfile(cfg_path)
    pipe = cfg.test_dataloader.dataset.pipeline
    pipe[0] = dict(type='LoadCXRImage', color_type='color', target_long_side=128)
    dcm_cfg = str(tmp_path / 'dicom_cfg.py')
    cfg.dump(dcm_cfg)
    dcm = get_testdata_file('RG1_UNCR.dcm')
    written = _tool('vis_cam').main(
        [
            dcm_cfg,
            ckpts[0],
            dcm,
            '--topk',
            '2',
            '--score-thr',
            '0',
            '--ratio-channels',
            '0.05',
            '--out-dir',
            str(tmp_path),
        ]
    )
    assert len(written) == 2
    img = cv2.imread(written[0])
    # 1955x1841 resized to fit 128 px, keep ratio
    assert max(img.shape[:2]) == 128 and img.std() > 5
    summary = json.load(open(tmp_path / 'RG1_UNCR_ablation_boxes.json'))
    # boxes mapped back to the full-resolution frame
    assert max(summary['boxes'][0]['box_original']) > 200


def test_cam_eval_paired_table(setup, capsys):
    root, cfg_path, ckpts = setup
    cam_eval = _tool('cam_eval')
    out = str(root / 'eval.json')
    # Same checkpoint twice: every paired difference is exactly 0.
    tables = cam_eval.main(
        [cfg_path, ckpts[0], ckpts[0], '--method', 'eigen', '--out', out, '--num-bootstrap', '200']
    )
    for key in ('pointing', 'energy', 'iou'):
        row = tables[key]['all']
        assert row['boxes'] == 8 and row['n'] == 8
        assert row['diff'] == 0 and row['ci_low'] == row['ci_high'] == 0
    text = capsys.readouterr().out
    assert '4 images with boxes scored' in text and 'diff' in text

    # Two different detectors: the table is the mean of per-box differences.
    tables = cam_eval.main(
        [
            cfg_path,
            ckpts[0],
            ckpts[1],
            '--method',
            'eigen',
            '--names',
            'ImageNet',
            'BT-CXR',
            '--out',
            out,
            '--num-bootstrap',
            '200',
        ]
    )
    rec = json.load(open(out))['records']
    assert len(rec) == 8
    diffs = [r['b']['energy'] - r['a']['energy'] for r in rec]
    assert tables['energy']['all']['diff'] == pytest.approx(np.mean(diffs))
    classes = {r['class_name'] for r in rec}
    assert classes <= set(tables['energy']) and classes <= set(VINDR_CLASSES)
    text = capsys.readouterr().out
    assert 'BT-CXR - ImageNet' in text

    # Ablation-CAM on GT boxes: undetected boxes are counted, not scored.
    tables = cam_eval.main(
        [
            cfg_path,
            ckpts[0],
            ckpts[1],
            '--max-images',
            '1',
            '--ratio-channels',
            '0.125',
            '--fast',
            '--num-bootstrap',
            '50',
        ]
    )
    row = tables['pointing']['all']
    assert row['boxes'] == 2
    assert row['n'] + max(row['undef_a'], row['undef_b']) <= 2


@pytest.mark.parametrize('annotations_after_resize', [False, True])
def test_dataset_item_gt_in_input_frame(coco_set, detector, annotations_after_resize):
    """GT follows the heatmap frame whichever way the test pipeline loads it
    (the VinDr configs load annotations after Resize: original pixels)."""
    from cxr_testing import coco_dataset_cfg
    from mmdet.registry import DATASETS
    from mmengine.dataset import Compose

    from cxr_mm.cam import load_dataset_item

    load = dict(type='LoadAnnotations', with_bbox=True)
    resize = dict(type='Resize', scale=(64, 64), keep_ratio=True)
    steps = [resize, load] if annotations_after_resize else [load, resize]
    pipeline = [
        dict(type='LoadImageFromFile'),
        *steps,
        dict(
            type='PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
        ),
    ]
    cfg = coco_dataset_cfg(coco_set, train=False)
    cfg['pipeline'] = pipeline
    dataset = DATASETS.build(cfg)
    item = load_dataset_item(detector, dataset, Compose(pipeline), 1)
    original = np.array([i['bbox'] for i in dataset.get_data_info(1)['instances']], np.float32)
    assert item.image.shape == (64, 64, 3)
    np.testing.assert_allclose(item.gt_boxes, original / 2, atol=1e-4)
    assert len(item.gt_labels) == len(original)


def test_vis_cam_hook_settings_and_split_ground_truth(coco_set, setup, tmp_path):
    """The demo's CAM step: the config's CAMHook cost settings, a test-split
    image drawn with its ground truth, the detections and their scores."""
    from cxr_mm.cam.explain import cam_settings_from_config

    root, _, ckpts = setup
    hook = dict(type='CAMHook', ratio_channels_to_ablate=0.05, batch_size=6, rpn_max_per_img=20)
    cfg = full_config(coco_set, root / 'work', custom_hooks=[hook])
    cfg_path = str(tmp_path / 'hook_cfg.py')
    cfg.dump(cfg_path)
    image = str(coco_set / 'images' / 'cxr_002.png')
    vis_cam = _tool('vis_cam')
    argv = [cfg_path, ckpts[0], image, '--score-thr', '0', '--topk', '3', '--out-dir']
    written = vis_cam.main(argv + [str(tmp_path), '--hook-settings', '--split', 'test'])
    assert len(written) == 3
    summary = json.load(open(tmp_path / 'cxr_002_ablation_boxes.json'))
    assert summary['settings'] == dict(cam_settings_from_config(cfg), exact=False)
    assert summary['settings']['rpn_max_per_img'] == 20 and summary['split'] == 'test'
    # layer3 of the small ResNet-18 has 64 channels: 2 x 3 ablated, one forward of 6;
    # once more for the boxes 20 proposals do not find (with test_cfg's 50)
    stats = summary['stats']
    again = int(stats['full_budget_boxes'] > 0)
    assert stats['channels_ablated'] in (6 * (1 + again), 6 * again)
    assert all(b['explained'] for b in summary['boxes'])
    assert summary['gt_boxes'] == 2
    # the ground truth (green) is on the overlay; without --split it is not
    plain = vis_cam.main(argv + [str(tmp_path / 'plain'), '--hook-settings'])
    with_gt, without = cv2.imread(written[0]), cv2.imread(plain[0])
    assert with_gt.shape == without.shape == (128, 128, 3)
    green = (with_gt[..., 1] == 255) & (with_gt[..., 0] == 0) & (with_gt[..., 2] == 0)
    green_plain = (without[..., 1] == 255) & (without[..., 0] == 0) & (without[..., 2] == 0)
    assert green.sum() > green_plain.sum() + 50
    # the command line overrides a hook setting
    override = ['--hook-settings', '--ratio-channels', '0.125', '--rpn-max-per-img', '0']
    vis_cam.main(argv + [str(tmp_path / 'o'), *override])
    s = json.load(open(tmp_path / 'o' / 'cxr_002_ablation_boxes.json'))['settings']
    assert s['ratio_channels_to_ablate'] == 0.125 and s['batch_size'] == 6
    assert s['rpn_max_per_img'] is None  # 0: the detector's own proposals
    with pytest.raises(ValueError, match='not an image of the CocoDataset'):
        vis_cam.main([cfg_path, ckpts[0], __file__, '--split', 'test'])
