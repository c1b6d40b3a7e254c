"""CAMHook in a real (tiny) mmengine training run."""

import glob
import os.path as osp
import re

import cv2
import pytest
from cxr_testing import full_config
from mmengine.config import Config
from mmengine.runner import Runner


@pytest.mark.slow
def test_hook_writes_overlays_scores_and_tensorboard(coco_set, tmp_path):
    hook = dict(
        type='CAMHook',
        interval=1,
        num_images=2,
        max_boxes=2,
        score_thr=0.0,
        ratio_channels_to_ablate=0.125,
        batch_size=16,
        rpn_max_per_img=30,
    )
    # EigenCAM of the GT boxes is always defined: real scores in the log.
    gt_hook = dict(
        type='CAMHook',
        interval=2,
        num_images=2,
        max_boxes=2,
        box_source='gt',
        method='eigen',
        out_dir='cam_gt',
        input_size=96,
    )
    cfg = full_config(coco_set, tmp_path / 'work', custom_hooks=[hook, gt_hook], max_epochs=2)
    # Through a config file, as users run it: custom_imports registers cxr_mm.
    cfg.dump(str(tmp_path / 'cfg.py'))
    runner = Runner.from_cfg(Config.fromfile(str(tmp_path / 'cfg.py')))
    runner.train()

    for epoch in (1, 2):
        pngs = sorted(glob.glob(osp.join(runner.work_dir, 'cam', f'epoch_{epoch}', '*.png')))
        # 2 images x 2 boxes (score_thr 0: the detector always has boxes)
        assert len(pngs) == 4, pngs
        img = cv2.imread(pngs[0])
        assert img is not None and img.shape == (128, 128, 3)
        assert img.std() > 5  # a drawn overlay, not a blank file
        # names say which image, box and class
        assert osp.basename(pngs[0]).startswith('cxr_000_pred0_')

    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert (
        'CAMHook epoch_1: ablation CAM on backbone.layer3, pred boxes, '
        'input 128x128, 2 images, 4 boxes' in log
    )
    assert 'CAMHook epoch_2 localisation vs GT: pointing' in log
    # its cost is reported as what it adds to the rest of the run
    added = [float(v) for v in re.findall(r'adds ([0-9.]+)% to the run so far', log)]
    assert len(added) == 3 and all(v > 0 for v in added), added
    # interval=2: the GT hook ran after epoch 2 only, and scored 4 boxes
    assert not osp.exists(osp.join(runner.work_dir, 'cam_gt', 'epoch_1'))
    gt_pngs = glob.glob(osp.join(runner.work_dir, 'cam_gt', 'epoch_2', '*_gt*.png'))
    assert len(gt_pngs) == 4
    assert cv2.imread(gt_pngs[0]).shape == (96, 96, 3)  # input_size
    assert 'eigen CAM on backbone.layer3, gt boxes, input 96x96' in log
    line = [
        ln
        for ln in log.splitlines()
        if 'CAMHook epoch_2 localisation' in ln and 'not detected)' in ln
    ]
    assert len(line) == 1 and 'over 4 boxes (0 not detected)' in line[0]
    assert 'nan' not in line[0]
    # overlays and scalars reached the visualizer backends
    vis = glob.glob(osp.join(runner.log_dir, 'vis_data', 'vis_image', 'cam_cxr_000_pred0_*.png'))
    assert len(vis) == 2, vis  # one per epoch
    events = glob.glob(osp.join(runner.log_dir, 'vis_data', 'events.out.tfevents.*'))
    assert events and osp.getsize(events[0]) > 10_000
    scalars = open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')).read()
    assert '"cam/seconds"' in scalars and '"cam_gt/energy"' in scalars


def test_hook_validates_arguments():
    from cxr_mm.engine.hooks import CAMHook

    with pytest.raises(ValueError, match='box_source'):
        CAMHook(box_source='all')
    with pytest.raises(ValueError, match='method'):
        CAMHook(method='score')
    with pytest.raises(ValueError, match='interval'):
        CAMHook(interval=0)
