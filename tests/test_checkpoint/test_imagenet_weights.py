"""Every way an ImageNet ResNet-50 file enters a model checks it is complete (issue 10).

The file has torchvision's real key set and dtypes: ``resnet50(weights=None).state_dict()``
saved as is (float32 weights and BN statistics, int64 ``num_batches_tracked``, the
``fc`` classifier), with non-default BN statistics so a skipped buffer shows. Three
consumers: stage 1 (``BarlowTwinsCXR.backbone_checkpoint``), the detector and the
linear-eval / fine-tune classifier (both ``StrictPretrained``).
"""

import glob
import os.path as osp

import pytest
import torch
from cxr_testing import REPO_ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torchvision.models import resnet50

import cxr_mm.register  # noqa: F401
from cxr_mm.checkpoint import PretrainedLinkError, resnet50_reference_state

(STAGE1_DEMO,) = glob.glob(osp.join(REPO_ROOT, 'configs/barlowtwins_cxr/*demo*.py'))
DETECTOR = osp.join(
    REPO_ROOT, 'configs/faster_rcnn_cxr/faster-rcnn_r50-imagenet_fpn_8xb2-cos-50e_vindr-1024.py'
)
LINEAR = osp.join(
    REPO_ROOT, 'configs/linear_eval_nih/resnet50-imagenet_linear-1xb64-coslr-30e_nih-224.py'
)
DROPPED = 'layer3.5.bn2.running_var'


@pytest.fixture(scope='module')
def torchvision_file(tmp_path_factory):
    torch.manual_seed(0)
    model = resnet50(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)  # bn3 included: zero_init_residual would show
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(1000)
    state = model.state_dict()
    assert state['bn1.num_batches_tracked'].dtype == torch.int64
    assert 'fc.weight' in state
    path = str(tmp_path_factory.mktemp('imagenet') / 'resnet50-tv.pth')
    torch.save(state, path)
    return path, state


def build(consumer: str, checkpoint: str):
    """The consumer's model with ``checkpoint`` as its ImageNet start, initialised."""
    if consumer == 'stage1':
        from mmpretrain.registry import MODELS

        init_default_scope('mmpretrain')
        cfg = Config.fromfile(STAGE1_DEMO)
        cfg.model.backbone_checkpoint = checkpoint
    elif consumer == 'detector':
        from mmdet.registry import MODELS

        init_default_scope('mmdet')
        cfg = Config.fromfile(DETECTOR)
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    else:
        from mmpretrain.registry import MODELS

        init_default_scope('mmpretrain')
        cfg = Config.fromfile(LINEAR)
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    model = MODELS.build(cfg.model)
    model.init_weights()  # the whole model, as the runner does
    return model


CONSUMERS = ['stage1', 'detector', 'linear']


@pytest.mark.parametrize('consumer', CONSUMERS)
def test_complete_file_loads_every_tensor(consumer, torchvision_file):
    path, state = torchvision_file
    own = build(consumer, path).backbone.state_dict()
    assert set(own) == set(resnet50_reference_state())  # 318: weights and BN buffers
    for key, value in own.items():
        assert value.dtype == state[key].dtype, key
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize('consumer', CONSUMERS)
def test_file_missing_a_bn_buffer_is_refused(consumer, torchvision_file, tmp_path):
    path, state = torchvision_file
    partial = {k: v for k, v in state.items() if k != DROPPED}
    bad = str(tmp_path / 'no_running_var.pth')
    torch.save(partial, bad)
    with pytest.raises((ValueError, PretrainedLinkError), match=DROPPED.replace('.', r'\.')):
        build(consumer, bad)


def test_linear_eval_refuses_a_file_without_resnet_weights(tmp_path):
    """Measured before: such a file initialised the linear-eval model without a word."""
    other = str(tmp_path / 'not_a_resnet.pth')
    torch.save(dict(state_dict={'head.fc.weight': torch.zeros(14, 2048)}, meta={}), other)
    with pytest.raises(PretrainedLinkError, match=r'not_a_resnet\.pth[\s\S]*missing 265'):
        build('linear', other)


def test_linear_eval_refuses_a_missing_file(tmp_path):
    with pytest.raises(PretrainedLinkError, match='not found.*epoch_8OO.pth'):
        build('linear', str(tmp_path / 'epoch_8OO.pth'))


@pytest.mark.parametrize('consumer', CONSUMERS)
def test_file_without_num_batches_tracked_loads_everywhere(consumer, torchvision_file, tmp_path):
    """Older torchvision releases omit ``num_batches_tracked`` (no weight): every arm
    accepts such a file alike, so the two arms can always start from the same file."""
    path, state = torchvision_file
    old = {k: v for k, v in state.items() if not k.endswith('num_batches_tracked')}
    old_path = str(tmp_path / 'resnet50-old.pth')
    torch.save(old, old_path)
    own = build(consumer, old_path).backbone.state_dict()
    for key, value in old.items():
        if key in own:
            assert torch.equal(own[key], value), key
