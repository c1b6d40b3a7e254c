"""tools/model_converters/save_init.py: the detector exactly as stage 2 starts it."""

import os.path as osp

import pytest
import torch
from cxr_testing import REPO_ROOT, load_tool
from torchvision.models import resnet50

from cxr_mm.checkpoint import PretrainedLinkError, safe_torch_load

save_init = load_tool('tools/model_converters/save_init.py')
DEMO_STAGE2 = osp.join(
    REPO_ROOT, 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py'
)


@pytest.fixture(scope='module')
def backbone_file(tmp_path_factory):
    """A torchvision-layout ResNet-50 with non-default BN statistics."""
    torch.manual_seed(1)
    model = resnet50(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2)
            m.num_batches_tracked.fill_(3)
    path = str(tmp_path_factory.mktemp('bb') / 'resnet50.pth')
    torch.save(model.state_dict(), path)
    return path


def test_help_describes_the_tool(capsys):
    with pytest.raises(SystemExit) as exit_:
        save_init.main(['--help'])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert 'untrained' in out and '--cfg-options' in out


def test_saved_detector_is_the_stage2_start(backbone_file, tmp_path, capsys):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import load_checkpoint

    out = str(tmp_path / 'init.pth')
    opt = f'model.backbone.init_cfg.checkpoint={backbone_file}'
    assert save_init.main([DEMO_STAGE2, out, '--cfg-options', opt]) == 0
    assert 'the untrained FasterRCNN as training starts it' in capsys.readouterr().out
    saved = safe_torch_load(out)
    state = saved['state_dict']
    source = torch.load(backbone_file, weights_only=True)
    backbone = {k[len('backbone.') :]: v for k, v in state.items() if k.startswith('backbone.')}
    assert set(backbone) == {k for k in source if not k.startswith('fc.')}
    for k, v in backbone.items():
        assert torch.equal(v, source[k]), k
    assert saved['meta']['cfg_options'] == {'model.backbone.init_cfg.checkpoint': backbone_file}

    # It fits the model strictly: what tools/test.py requires.
    init_default_scope('mmdet')
    cfg = Config.fromfile(DEMO_STAGE2)
    fresh = MODELS.build(cfg.model)
    load_checkpoint(fresh, out, strict=True)
    assert torch.equal(
        fresh.roi_head.bbox_head.fc_cls.weight, state['roi_head.bbox_head.fc_cls.weight']
    )


def test_missing_backbone_is_an_error(tmp_path):
    opt = f'model.backbone.init_cfg.checkpoint={tmp_path}/nope.pth'
    with pytest.raises(PretrainedLinkError, match='nope.pth'):
        save_init.main([DEMO_STAGE2, str(tmp_path / 'init.pth'), '--cfg-options', opt])
    assert not (tmp_path / 'init.pth').exists()
