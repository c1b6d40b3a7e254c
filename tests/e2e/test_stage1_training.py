"""Stage-1 end to end on the demo set with the real tools: train, checkpoint, resume,
extract the backbone and load it into the project's Faster R-CNN."""

import os.path as osp
import sys

import numpy as np
import pytest
import torch
from cxr_testing import (
    REPO_ROOT,
    STAGE1_DEMO_CFG,
    make_nih_demo,
    read_scalars,
    run_tool,
)


@pytest.fixture(scope='module')
def nih_demo_root(tmp_path_factory) -> str:
    return make_nih_demo(str(tmp_path_factory.mktemp('demo') / 'nih'))


PAPER_CFG = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'


@pytest.mark.slow
def test_demo_pretrain_resume_and_backbone_into_faster_rcnn(tmp_path, nih_demo_root, capsys):
    work = str(tmp_path / 'stage1')
    # A fixed 16-image subset (2 batches per epoch): 12 steps from random weights then
    # show learning above the batch-to-batch noise of a 200-image set.
    data = [
        f'train_dataloader.dataset.data_root={nih_demo_root}',
        'train_dataloader.dataset.indices=16',
    ]
    run_tool(['tools/train.py', STAGE1_DEMO_CFG, '--work-dir', work, '--cfg-options', *data])

    rows = [r for r in read_scalars(work) if 'loss' in r]
    assert [r['iter'] for r in rows] == list(range(1, 13))
    losses = np.array([r['loss'] for r in rows])
    assert np.isfinite(losses).all()
    assert losses[-4:].mean() < losses[:4].mean(), losses
    ckpt = osp.join(work, 'iter_12.pth')
    assert osp.isfile(ckpt)

    # Resume: continues at iteration 13 from the saved state.
    run_tool(
        [
            'tools/train.py',
            STAGE1_DEMO_CFG,
            '--work-dir',
            work,
            '--resume',
            '--cfg-options',
            *data,
            'train_cfg.max_iters=14',
        ]
    )
    resumed = [r['iter'] for r in read_scalars(work) if 'loss' in r]
    assert resumed == [13, 14]
    assert osp.isfile(osp.join(work, 'iter_14.pth'))

    # Backbone -> file mmdet's ResNet loads directly.
    out = str(tmp_path / 'backbone.pth')
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'model_converters'))
    import extract_backbone

    assert extract_backbone.main([ckpt, out]) == 0  # the command line entry point
    assert '318 ResNet-50 tensors verified' in capsys.readouterr().out

    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import cxr_mm.register  # noqa: F401
    from cxr_mm.checkpoint import safe_torch_load

    init_default_scope('mmdet')
    det_cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/models/faster-rcnn_r50_fpn_cxr.py')
    )
    det_cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=out)
    detector = DET_MODELS.build(det_cfg.model)
    backbone_sd = safe_torch_load(out)['state_dict']
    result = detector.backbone.load_state_dict(backbone_sd, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    # And through the config route (init_cfg Pretrained) the weights are the stage-1 ones.
    detector.init_weights()
    stage1 = safe_torch_load(ckpt)['state_dict']
    for k, v in detector.backbone.state_dict().items():
        assert torch.equal(v, stage1['backbone.' + k]), k


@pytest.mark.slow
def test_paper_recipe_builds_and_runs_one_iteration(tmp_path, nih_demo_root):
    from mmengine.config import Config
    from mmengine.runner import Runner
    from torchvision.models import resnet50

    import cxr_mm.register  # noqa: F401

    cfg = Config.fromfile(osp.join(REPO_ROOT, PAPER_CFG))
    # The recipe as published.
    assert cfg.model.type == 'BarlowTwinsCXR'
    assert (
        cfg.model.neck.in_channels,
        cfg.model.neck.hid_channels,
        cfg.model.neck.out_channels,
        cfg.model.neck.num_layers,
    ) == (2048, 8192, 8192, 3)
    assert cfg.model.head.loss.lambd == 0.0051
    assert cfg.train_dataloader.batch_size * 8 == 768
    assert cfg.train_dataloader.dataset.split == 'train_val'
    assert cfg.train_dataloader.dataset.mode == 'unlabeled'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.type == 'LARS'
    assert cfg.optim_wrapper.optimizer.lr == 0.2 and cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-6
    assert (
        cfg.optim_wrapper.optimizer.lr * cfg.optim_wrapper.paramwise_cfg.custom_keys.bias.lr_mult
        == pytest.approx(0.0048)
    )
    assert cfg.train_cfg.max_epochs == 800 and cfg.param_scheduler[0].end == 10
    assert cfg.train_dataloader.dataset.pipeline[1].transforms[0][0].scale == 224

    # One iteration at tiny batch on CPU: random "ImageNet" file, 64 px, fp32 wrapper.
    imagenet = str(tmp_path / 'resnet50-imagenet.pth')
    torch.manual_seed(0)
    torch.save(resnet50(weights=None).state_dict(), imagenet)
    cfg.model.backbone_checkpoint = imagenet
    cfg.work_dir = str(tmp_path / 'paper')
    ds = cfg.train_dataloader.dataset
    ds.data_root, ds.indices = nih_demo_root, 2
    ds.data_prefix = 'images'  # the recipe reads the prepared images_256/ copy
    for view in ds.pipeline[1].transforms:
        view[0].scale = 64
    cfg.train_dataloader.update(
        batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False
    )
    cfg.train_cfg.max_epochs = 1
    if not torch.cuda.is_available():  # mmengine's AMP wrapper needs an accelerator
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale')
    cfg.default_hooks.checkpoint = None
    # The recipe's k-NN progress signal, on a few images (it runs at epoch 0 and 1).
    assert cfg.custom_hooks[0].type == 'KNNMonitorHook'
    cfg.custom_hooks[0].update(num_query=4, num_reference=8, num_workers=0, image_size=64)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss) and loss > 0
    groups = runner.optim_wrapper.optimizer.param_groups
    weight_lr = max(g['lr'] for g in groups)  # after 1 warm-up step of 10 x 1 iterations
    assert runner.optim_wrapper.optimizer.param_groups[0]['initial_lr'] == pytest.approx(
        0.2 * 2 / 256
    )
    assert weight_lr <= 0.2 * 2 / 256
