"""Linear evaluation demo: trains, selects on validation, reports AUCs on the test list."""

import glob
import os.path as osp

import numpy as np
import pytest
from cxr_testing import REPO_ROOT, make_nih_demo


@pytest.fixture(scope='module')
def nih_demo_root(tmp_path_factory) -> str:
    return make_nih_demo(str(tmp_path_factory.mktemp('demo') / 'nih'))


LINEAR_DEMO = 'configs/linear_eval_nih/resnet50-bt-cxr_linear-1xb8-2e_demo-nih-64.py'


@pytest.mark.slow
def test_linear_eval_demo_reports_auc(tmp_path, nih_demo_root):
    from mmengine.config import Config
    from mmengine.runner import Runner

    import cxr_mm.register  # noqa: F401

    cfg = Config.fromfile(osp.join(REPO_ROOT, LINEAR_DEMO))
    assert cfg.model.backbone.frozen_stages == 4 and cfg.model.head.num_classes == 14
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.default_hooks.checkpoint.save_best == 'AUC/mean'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = nih_demo_root
    cfg.train_dataloader.dataset.indices = 48  # 6 steps per epoch keep the test short
    cfg.work_dir = str(tmp_path / 'linear')
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    runner = Runner.from_cfg(cfg)
    model = runner.train()
    # Frozen: no backbone parameter is trainable, only the linear head.
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith('head.') for n in trainable), trainable
    best = glob.glob(osp.join(cfg.work_dir, 'best_AUC_mean_epoch_*.pth'))
    assert len(best) == 1

    metrics = runner.test()
    assert metrics['AUC/num_samples'] == len(runner.test_dataloader.dataset)
    classes = runner.test_dataloader.dataset.metainfo['classes']
    assert len(classes) == 14
    per_class = np.array([metrics[f'AUC/{c}'] for c in classes])
    valid = per_class[~np.isnan(per_class)]
    assert len(valid) == 14 - metrics['AUC/num_skipped'] and len(valid) > 0
    assert ((valid >= 0) & (valid <= 1)).all()
    assert metrics['AUC/mean'] == pytest.approx(valid.mean())
