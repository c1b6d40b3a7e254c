"""One ImageNet start for both arms (issue 10): stage 1 and every ImageNet baseline name
the same file, defined once in configs/_base_/imagenet_resnet50.py."""

import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(REPO, 'configs', '_base_', 'imagenet_resnet50.py')
STAGE1 = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', 'barlowtwins_cxr', '*.py')) if 'demo' not in p
)
IMAGENET_ARMS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'faster_rcnn_cxr', '*_r50-imagenet_*.py'))
    + glob.glob(osp.join(REPO, 'configs', 'linear_eval_nih', 'resnet50-imagenet_*.py'))
)
V1_ABLATION = osp.join(
    REPO, 'configs', 'faster_rcnn_cxr', 'faster-rcnn_r50-imagenet-v1_fpn_8xb2-cos-50e_vindr-1024.py'
)


def imagenet_file() -> str:
    return Config.fromfile(BASE).imagenet_checkpoint


def test_the_start_is_torchvision_v2():
    assert osp.basename(imagenet_file()) == 'resnet50-11ad3fa6.pth'


def test_arms_found():
    assert len(STAGE1) == 5
    # detector 1024/640/224 + 10/25/50 % + PhysioNet 1024 + prepared-PNG 1024;
    # linear and fine-tune at 100/10/1 %
    assert len(IMAGENET_ARMS) == 14, IMAGENET_ARMS


@pytest.mark.parametrize('path', STAGE1, ids=osp.basename)
def test_stage1_starts_from_the_shared_file(path):
    assert Config.fromfile(path).model.backbone_checkpoint == imagenet_file()


@pytest.mark.parametrize('path', IMAGENET_ARMS, ids=osp.basename)
def test_imagenet_arm_starts_from_the_stage1_file(path):
    cfg = Config.fromfile(path)
    init = cfg.model.backbone.init_cfg
    assert init.type == 'StrictPretrained'
    assert init.checkpoint == imagenet_file()
    stage1 = Config.fromfile(STAGE1[0]).model.backbone_checkpoint
    assert init.checkpoint == stage1  # the two arms name the same file


def test_defined_once():
    """The file name is assigned in one config only (the V1 ablation names another)."""
    assigned = []
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True):
        with open(path) as f:
            code = [line.split('#')[0] for line in f]
        if any(re.search(r"=\s*'[^']*resnet50-[0-9a-f]{8}\.pth'", line) for line in code):
            assigned.append(osp.relpath(path, REPO))
    assert sorted(assigned) == sorted(
        ['configs/_base_/imagenet_resnet50.py', osp.relpath(V1_ABLATION, REPO)]
    )


def test_v1_is_a_named_ablation():
    cfg = Config.fromfile(V1_ABLATION)
    assert osp.basename(cfg.model.backbone.init_cfg.checkpoint) == 'resnet50-0676ba61.pth'
    assert cfg.imagenet_checkpoint == imagenet_file()  # the shared variable is untouched
