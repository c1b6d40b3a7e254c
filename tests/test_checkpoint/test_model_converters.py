"""ResNet-50 checkpoint conversion: torchvision / authors' layouts -> verified cxr-mm files."""

import os.path as osp
import sys

import pytest
import torch
from torchvision.models import resnet50

import cxr_mm.register  # noqa: F401
from cxr_mm.checkpoint import load_resnet50_state_dict, resnet50_reference_state, safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
import torchvision2cxrmm  # noqa: E402


@pytest.fixture(scope='module')
def torchvision_state():
    torch.manual_seed(0)
    model = resnet50(weights=None)
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.num_batches_tracked.fill_(7)
    return model.state_dict()


def test_reference_has_every_resnet50_tensor():
    ref = resnet50_reference_state()
    assert len(ref) == 318  # 159 parameters (53 conv + 53 BN x 2) + 159 BN buffers, no fc
    assert 'layer4.2.bn3.num_batches_tracked' in ref and 'fc.weight' not in ref


def test_torchvision_file_converts_exactly(tmp_path, torchvision_state, capsys):
    src = tmp_path / 'resnet50-tv.pth'
    torch.save(torchvision_state, src)
    dst = tmp_path / 'out.pth'
    assert torchvision2cxrmm.main([str(src), str(dst)]) == 0  # the command line entry point
    assert 'fc.weight' in capsys.readouterr().out  # the dropped classifier is reported
    out = safe_torch_load(str(dst))
    assert set(out['state_dict']) == set(resnet50_reference_state())
    for k, v in out['state_dict'].items():
        assert torch.equal(v, torchvision_state[k]), k
    assert out['meta']['dropped'] == ['fc.weight', 'fc.bias']


def test_authors_training_checkpoint_layout(tmp_path, torchvision_state):
    # The authors' checkpoint.pth: {'model': DDP state dict} with projector and bn keys.
    model_sd = {
        f'module.backbone.{k}': v for k, v in torchvision_state.items() if not k.startswith('fc.')
    }
    model_sd['module.projector.0.weight'] = torch.randn(16, 2048)
    model_sd['module.bn.running_mean'] = torch.zeros(16)
    src = tmp_path / 'checkpoint.pth'
    torch.save(dict(epoch=3, model=model_sd), src)
    summary = torchvision2cxrmm.convert(str(src), str(tmp_path / 'a.pth'), stage1_prefix=True)
    assert summary['num_tensors'] == 318
    assert summary['dropped'] == ['module.projector.0.weight', 'module.bn.running_mean']
    saved = safe_torch_load(str(tmp_path / 'a.pth'))['state_dict']
    assert all(k.startswith('backbone.') for k in saved)
    assert torch.equal(
        saved['backbone.layer3.5.bn2.running_var'], torchvision_state['layer3.5.bn2.running_var']
    )


def test_incomplete_or_missing_file_is_an_error(tmp_path, torchvision_state):
    partial = dict(torchvision_state)
    del partial['layer2.1.bn1.running_mean']
    torch.save(partial, tmp_path / 'partial.pth')
    with pytest.raises(ValueError, match=r'1 missing .*layer2\.1\.bn1\.running_mean'):
        load_resnet50_state_dict(str(tmp_path / 'partial.pth'))
    bad = dict(torchvision_state)
    bad['conv1.weight'] = torch.zeros(64, 1, 7, 7)
    torch.save(bad, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='wrong shape'):
        load_resnet50_state_dict(str(tmp_path / 'bad.pth'))
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        load_resnet50_state_dict(str(tmp_path / 'absent.pth'))


def test_barlowtwins_cxr_starts_from_the_imagenet_file(tmp_path, torchvision_state):
    from mmpretrain.registry import MODELS

    torch.save(torchvision_state, tmp_path / 'imagenet.pth')
    cfg = dict(
        type='BarlowTwinsCXR',
        backbone_checkpoint=str(tmp_path / 'imagenet.pth'),
        backbone=dict(type='ResNet', depth=50, zero_init_residual=True),
        neck=dict(
            type='NonLinearNeck',
            in_channels=2048,
            hid_channels=64,
            out_channels=64,
            num_layers=3,
            with_last_bn=False,
            norm_cfg=dict(type='BN1d'),
        ),
        head=dict(
            type='GlobalCrossCorrelationHead',
            in_channels=64,
            loss=dict(type='FusedCrossCorrelationLoss'),
        ),
    )
    model = MODELS.build(cfg)
    model.init_weights()
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, torchvision_state[k]), k
    # Random-init switch: no checkpoint, the zero-init residual BN stays zero.
    model = MODELS.build(dict(cfg, backbone_checkpoint=None))
    model.init_weights()
    assert torch.count_nonzero(model.backbone.layer1[0].bn3.weight) == 0
    with pytest.raises(FileNotFoundError):
        MODELS.build(dict(cfg, backbone_checkpoint=str(tmp_path / 'nope.pth'))).init_weights()
