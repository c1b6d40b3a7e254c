"""The two base models build offline from the registries and train on CPU."""

import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import cxr_mm.register  # noqa: F401

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_')


def _det_batch(n=2, size=128):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append((torch.rand(3, size, size, generator=g) * 255).to(torch.uint8))
        s = DetDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size),
                scale_factor=(1.0, 1.0),
                batch_input_shape=(size, size),
            )
        )
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[20.0, 30.0, 70.0, 90.0], [60.0, 10.0, 100.0, 50.0]]),
            labels=torch.tensor([3, 10]),
        )
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_base_configs_are_offline():
    for rel in ('models/faster-rcnn_r50_fpn_cxr.py', 'models/barlowtwins_r50.py'):
        # the resolved config: what it inherits from mmdet/mmpretrain counts too
        text = Config.fromfile(osp.join(CONFIGS, rel)).pretty_text
        for scheme in ('torchvision://', 'open-mmlab://', 'http://', 'https://'):
            assert scheme not in text, f'{rel} downloads ({scheme})'


def test_faster_rcnn_train_and_infer_step():
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(CONFIGS, 'models/faster-rcnn_r50_fpn_cxr.py'))
    assert cfg.model.roi_head.bbox_head.num_classes == 14
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(_det_batch(), training=True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    for name in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'):
        assert name in losses
    assert torch.isfinite(total)
    total.backward()
    # gradients reach the first trainable stage (residual branches start at zero:
    # zero_init_residual, so look at the shortcut and the zero-initialised BN)
    for param in (
        model.backbone.layer2[0].downsample[0].weight,
        model.backbone.layer2[0].bn3.weight,
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0
    # frozen_stages=1: the stem and layer1 get no gradient
    assert model.backbone.conv1.weight.grad is None
    assert model.backbone.layer1[0].conv1.weight.grad is None

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_det_batch(n=1), training=False)
        results = model(**data, mode='predict')
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4
    assert len(pred.bboxes) == len(pred.scores) == len(pred.labels)
    if len(pred.labels):
        assert int(pred.labels.max()) < 14


def test_barlowtwins_train_step():
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(CONFIGS, 'models/barlowtwins_r50.py'))
    assert cfg.model.neck.hid_channels == cfg.model.neck.out_channels == 8192
    cfg.model.backbone.norm_cfg = dict(type='BN')  # SyncBN needs a process group
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    g = torch.Generator().manual_seed(0)
    views = [(torch.rand(4, 3, 64, 64, generator=g) * 255) for _ in range(2)]
    data = dict(inputs=views, data_samples=[DataSample() for _ in range(4)])
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01)))
    before = model.backbone.conv1.weight.detach().clone()
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(log_vars['loss'])
    assert not torch.equal(before, model.backbone.conv1.weight)  # the stem learns


def test_ignore_regions_are_not_sampled_as_background():
    """An ignore region (ignore_flag=1 box, mmdet's ``ignored_instances``) keeps the
    proposals it covers out of the R-CNN's negatives: they get assigned gt index -1."""
    from mmdet.registry import TASK_UTILS
    from mmengine.structures import InstanceData

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(CONFIGS, 'models/faster-rcnn_r50_fpn_cxr.py'))
    assert cfg.model.train_cfg.rpn.assigner.ignore_iof_thr == 0.5
    assigner = TASK_UTILS.build(cfg.model.train_cfg.rcnn.assigner)
    gt = InstanceData(bboxes=torch.tensor([[0.0, 0.0, 20.0, 20.0]]), labels=torch.tensor([3]))
    ignore = InstanceData(bboxes=torch.tensor([[50.0, 50.0, 90.0, 90.0]]), labels=torch.tensor([9]))
    proposals = InstanceData(
        priors=torch.tensor([[52.0, 52.0, 88.0, 88.0], [100.0, 100.0, 120.0, 120.0]])
    )
    result = assigner.assign(proposals, gt, ignore)
    assert result.gt_inds.tolist() == [-1, 0]  # ignored, background


def test_faster_rcnn_loss_with_ignore_regions():
    from mmdet.registry import MODELS
    from mmengine.structures import InstanceData

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(CONFIGS, 'models/faster-rcnn_r50_fpn_cxr.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = _det_batch()
    for s in batch['data_samples']:
        s.ignored_instances = InstanceData(
            bboxes=torch.tensor([[80.0, 80.0, 120.0, 120.0]]), labels=torch.tensor([9])
        )
    data = model.data_preprocessor(batch, training=True)
    total, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(total)
