"""The stage-1 -> stage-2 link: StrictPretrained loads every ResNet-50 tensor of a real
stage-1 (mmpretrain BarlowTwins) checkpoint into the detector, or stops with an error."""

import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from cxr_mm.checkpoint.strict_pretrained import PretrainedLinkError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
(STAGE1_DEMO,) = glob.glob(osp.join(REPO, 'configs/barlowtwins_cxr/*demo*.py'))
STAGE2_BT = osp.join(
    REPO, 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py'
)


@pytest.fixture(scope='module')
def stage1_checkpoint(tmp_path_factory):
    """A checkpoint written by mmengine's save_checkpoint from the stage-1 model."""
    from mmengine.runner.checkpoint import save_checkpoint
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(STAGE1_DEMO)
    torch.manual_seed(0)
    model = PRETRAIN_MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # BN buffers differ from a fresh detector's too
        for name, buf in model.backbone.named_buffers():
            if 'running' in name:
                buf.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp('stage1') / 'epoch_1.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    return path


def build_detector(checkpoint, prefix='auto'):
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(STAGE2_BT)
    cfg.model.backbone.init_cfg = dict(
        type='StrictPretrained', checkpoint=checkpoint, prefix=prefix
    )
    return MODELS.build(cfg.model)


def backbone_tensors(state_dict, prefix='backbone.'):
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def assert_backbone_equals(detector, reference):
    own = detector.backbone.state_dict()
    assert set(own) == set(reference), set(own) ^ set(reference)
    assert len(own) == 53 + 53 * 5  # ResNet-50: 53 convs, 53 BNs (w, b, mean, var, count)
    for key, value in own.items():
        assert torch.equal(value, reference[key]), key


def test_full_stage1_checkpoint_loads_every_tensor(stage1_checkpoint):
    reference = backbone_tensors(torch.load(stage1_checkpoint, weights_only=True)['state_dict'])
    detector = build_detector(stage1_checkpoint)
    # Before: random, so the test can fail.
    assert not torch.equal(detector.backbone.conv1.weight, reference['conv1.weight'])
    detector.init_weights()  # the whole detector, as the runner does
    assert_backbone_equals(detector, reference)


def test_extracted_backbone_loads_the_same(stage1_checkpoint, tmp_path):
    sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
    try:
        from extract_backbone import extract_backbone
    finally:
        sys.path.pop(0)
    extracted = str(tmp_path / 'backbone.pth')
    extract_backbone(stage1_checkpoint, extracted)
    reference = backbone_tensors(torch.load(stage1_checkpoint, weights_only=True)['state_dict'])
    detector = build_detector(extracted)
    detector.init_weights()
    assert_backbone_equals(detector, reference)


def test_config_variable_is_the_link():
    for name in (
        'faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py',
        'faster-rcnn_r50-imagenet_fpn_8xb2-cos-50e_vindr-1024.py',
        'faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py',
    ):
        cfg = Config.fromfile(osp.join(REPO, 'configs/faster_rcnn_cxr', name))
        assert cfg.pretrained_backbone
        assert cfg.model.backbone.init_cfg == dict(
            type='StrictPretrained', checkpoint=cfg.pretrained_backbone
        )


def test_missing_file_stops(tmp_path):
    detector = build_detector(str(tmp_path / 'epoch_8OO.pth'))  # typo: letter O
    with pytest.raises(PretrainedLinkError, match='not found.*epoch_8OO.pth'):
        detector.init_weights()


def test_unset_checkpoint_stops():
    detector = build_detector(None)
    with pytest.raises(PretrainedLinkError, match='no checkpoint set'):
        detector.init_weights()


def test_wrong_prefix_stops(stage1_checkpoint):
    detector = build_detector(stage1_checkpoint, prefix='bakbone.')
    with pytest.raises(PretrainedLinkError, match="no key starts with prefix 'bakbone.'"):
        detector.init_weights()


def test_stage1_checkpoint_without_prefix_stops(stage1_checkpoint):
    """The silent failure of mmengine's Pretrained: every key is 'backbone.*'."""
    detector = build_detector(stage1_checkpoint, prefix=None)
    with pytest.raises(PretrainedLinkError, match=r'missing 265: conv1\.weight'):
        detector.init_weights()


def test_partial_checkpoint_lists_what_is_missing(stage1_checkpoint, tmp_path):
    ckpt = torch.load(stage1_checkpoint, weights_only=True)
    dropped = [k for k in ckpt['state_dict'] if k.startswith('backbone.layer4.2.')]
    for k in dropped:
        del ckpt['state_dict'][k]
    partial = str(tmp_path / 'partial.pth')
    torch.save(ckpt, partial)
    detector = build_detector(partial)
    with pytest.raises(PretrainedLinkError) as err:
        detector.init_weights()
    message = str(err.value)
    n = len([k for k in dropped if not k.endswith('num_batches_tracked')])
    assert f'missing {n}:' in message
    assert 'layer4.2.conv1.weight' in message and 'layer4.2.bn3.running_var' in message
    assert 'layer4.1.' not in message.split('missing')[1].split('\n')[0]


def test_shape_mismatch_stops(stage1_checkpoint, tmp_path):
    ckpt = torch.load(stage1_checkpoint, weights_only=True)
    ckpt['state_dict']['backbone.conv1.weight'] = torch.zeros(64, 1, 7, 7)  # 1-channel stem
    bad = str(tmp_path / 'gray.pth')
    torch.save(ckpt, bad)
    with pytest.raises(PretrainedLinkError, match=r'conv1.weight: checkpoint \(64, 1, 7, 7\)'):
        build_detector(bad).init_weights()


def test_mmengine_pretrained_would_have_trained_from_random(stage1_checkpoint):
    """Why the strict init exists: the stock initializer accepts the same mistake."""
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(STAGE2_BT)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=stage1_checkpoint)
    detector = MODELS.build(cfg.model)
    detector.init_weights()  # no error
    reference = backbone_tensors(torch.load(stage1_checkpoint, weights_only=True)['state_dict'])
    assert not torch.equal(detector.backbone.conv1.weight, reference['conv1.weight'])
