"""The stage-1 and stage-2 recipes train with AMP on GPU (issue 11.4) and fall back to a
plain fp32 OptimWrapper, same optimizer settings, where no GPU is visible."""

import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from cxr_mm.utils.launch import prepare_cfg_for_device

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGE1 = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'
STAGE1_ACCUM = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_1xb96-accum8-coslr-800e_nih-224.py'
STAGE2 = 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py'
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-GPU fallback')


@pytest.mark.parametrize('name', [STAGE1, STAGE1_ACCUM, STAGE2])
def test_recipes_use_amp(name):
    cfg = Config.fromfile(osp.join(REPO, name))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


@cpu_only
@pytest.mark.parametrize('name', [STAGE1_ACCUM, STAGE2])
def test_no_gpu_falls_back_to_fp32_with_the_same_settings(name):
    cfg = Config.fromfile(osp.join(REPO, name))
    before = copy.deepcopy(cfg.optim_wrapper.to_dict())
    prepare_cfg_for_device(cfg)
    after = cfg.optim_wrapper.to_dict()
    assert after['type'] == 'OptimWrapper' and 'loss_scale' not in after
    before.pop('type'), before.pop('loss_scale'), after.pop('type')
    assert after == before  # optimizer, param groups, clipping, accumulation kept


@cpu_only
def test_fallback_builds_and_steps():
    """The stage-2 recipe's wrapper builds and takes a step on CPU (AMP would refuse)."""
    from mmengine.optim import build_optim_wrapper

    cfg = Config.fromfile(osp.join(REPO, STAGE2))
    model = torch.nn.Linear(3, 1)
    with pytest.raises(AssertionError, match='only available'):
        build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    prepare_cfg_for_device(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.weight.detach().clone()
    wrapper.update_params(model(torch.ones(2, 3)).sum())
    assert not torch.equal(model.weight, before)


@pytest.mark.parametrize(
    'name',
    [
        'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_1xb8-12it_demo-nih-64.py',
        'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py',
    ],
)
def test_cpu_demo_configs_are_fp32(name):
    """They run on CPU under any launcher (mmdet's and mim's too), not only ours."""
    assert Config.fromfile(osp.join(REPO, name)).optim_wrapper.type == 'OptimWrapper'
