"""Every stage-1 and linear-evaluation config parses, and its pipelines and schedules build."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import cxr_mm.register  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'barlowtwins_cxr', '*.py'))
    + glob.glob(osp.join(REPO, 'configs', 'linear_eval_nih', '*.py'))
)


def test_configs_found():
    assert len(CONFIGS) >= 19  # 6 stage-1 + 13 linear evaluation (7 BarlowTwins-CXR, 6 ImageNet)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_config_builds_pipelines(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    assert cfg.default_scope == 'mmpretrain'
    loaders = [k for k in ('train_dataloader', 'val_dataloader', 'test_dataloader') if cfg.get(k)]
    for key in loaders:
        Compose(cfg[key].dataset.pipeline)  # every transform type resolves and constructs
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'NIHChestXrayDataset'
    if 'barlowtwins_cxr' in path:
        assert ds.split == 'train_val' and ds.mode == 'unlabeled'
        assert cfg.model.type == 'BarlowTwinsCXR'
        assert cfg.model.head.type == 'GlobalCrossCorrelationHead'
        assert cfg.model.head.loss.lambd == 0.0051
        if 'demo' not in path:
            assert cfg.model.neck.hid_channels == cfg.model.neck.out_channels == 8192
            assert cfg.train_dataloader.batch_size == 96
            assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
            accum = cfg.optim_wrapper.get('accumulative_counts', 1)
            gpus = 1 if '_1xb' in osp.basename(path) else 8
            # lr = 0.2 x (effective batch 768) / 256, whatever the GPU / accumulation split
            ratio = gpus * cfg.train_dataloader.batch_size / cfg.auto_scale_lr.base_batch_size
            assert gpus * cfg.train_dataloader.batch_size * accum == 768
            assert cfg.optim_wrapper.optimizer.lr * ratio == pytest.approx(0.2 * 768 / 256)
            assert cfg.auto_scale_lr.enable
            assert cfg.param_scheduler[-1].end == cfg.train_cfg.max_epochs
    else:
        assert ds.mode == 'multilabel' and ds.split == 'train'
        assert cfg.val_dataloader.dataset.split == 'val'
        assert cfg.test_dataloader.dataset.split == 'test'
        assert cfg.val_evaluator.type == 'MultiLabelAUC'
        assert cfg.default_hooks.checkpoint.save_best == 'AUC/mean'
        frac = {'-1pct': 0.01, '-10pct': 0.1}
        expected = next((v for k, v in frac.items() if k + '.py' in path), 1.0)
        assert ds.label_fraction == expected
        backbone = cfg.model.backbone
        # the loud link, and no zero_init_residual pass over the loaded bn3 weights
        assert backbone.zero_init_residual is False
        if 'demo' not in path:
            assert backbone.init_cfg == dict(
                type='StrictPretrained', checkpoint=cfg.pretrained_backbone
            )
