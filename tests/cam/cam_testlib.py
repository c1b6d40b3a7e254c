"""Helpers for the CAM tests: a small Faster R-CNN and a tiny COCO set.

The detector inherits the lead's base config and shrinks it (ResNet-18 at
quarter width, 32-channel FPN, few proposals) so a CAM takes seconds on 2
CPU cores;
``test_cfg.rcnn.score_thr=0`` makes the random-init detector return boxes.
"""
import json
import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config

from cxr_mm.datasets.vindr import VINDR_CLASSES

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                      'faster-rcnn_r50_fpn_cxr.py')


def small_model_cfg() -> Config:
    cfg = Config.fromfile(BASE_MODEL)
    m = cfg.model
    # ResNet-18 at a quarter width: channels 16/32/64/128.
    m.backbone.update(depth=18, base_channels=16, frozen_stages=-1)
    m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    m.rpn_head.update(in_channels=32, feat_channels=32)
    m.roi_head.bbox_roi_extractor.out_channels = 32
    m.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64)
    m.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=100)
    m.train_cfg.rcnn.sampler.num = 64
    m.test_cfg.rpn.update(nms_pre=300, max_per_img=50)
    m.test_cfg.rcnn.update(score_thr=0.0, max_per_img=20)
    return cfg


def build_small_detector(seed: int = 0):
    import cxr_mm  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    torch.manual_seed(seed)
    model = MODELS.build(small_model_cfg().model)
    model.eval()
    return model


def synthetic_cxr(seed: int, size: int = 128):
    """Gray 'radiograph' (smooth background, bright lesions) and its boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 60 + 80 * np.exp(-((xx - 0.3)**2 + (yy - 0.5)**2) / 0.05) \
        + 80 * np.exp(-((xx - 0.7)**2 + (yy - 0.5)**2) / 0.05)
    img = img + rng.normal(0, 6, (size, size))
    boxes, labels = [], []
    for k in range(2):
        w, h = rng.integers(size // 8, size // 3, 2)
        x1 = int(rng.integers(0, size - w))
        y1 = int(rng.integers(0, size - h))
        img[y1:y1 + h, x1:x1 + w] += 70
        boxes.append([x1, y1, x1 + int(w), y1 + int(h)])
        labels.append(int(rng.integers(0, 3)))
    return np.clip(img, 0, 255).astype(np.uint8), boxes, labels


def make_coco_set(root):
    """4 synthetic PNG radiographs with boxes, COCO json (mmdet format)."""
    (root / 'images').mkdir()
    images, anns = [], []
    for i in range(4):
        img, boxes, labels = synthetic_cxr(100 + i)
        name = f'cxr_{i:03d}.png'
        cv2.imwrite(str(root / 'images' / name), img)
        images.append(dict(id=i, file_name=name, height=img.shape[0],
                           width=img.shape[1]))
        for b, lab in zip(boxes, labels):
            x1, y1, x2, y2 = b
            anns.append(dict(id=len(anns), image_id=i, category_id=lab,
                             bbox=[x1, y1, x2 - x1, y2 - y1],
                             area=(x2 - x1) * (y2 - y1), iscrowd=0))
    cats = [dict(id=i, name=n) for i, n in enumerate(VINDR_CLASSES)]
    with open(root / 'ann.json', 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    return root


def coco_pipeline(train: bool):
    p = [dict(type='LoadImageFromFile'),
         dict(type='LoadAnnotations', with_bbox=True),
         dict(type='Resize', scale=(128, 128), keep_ratio=True)]
    if train:
        p.append(dict(type='RandomFlip', prob=0.5))
    p.append(dict(type='PackDetInputs', meta_keys=(
        'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')))
    return p


def coco_dataset_cfg(root, train: bool):
    return dict(
        type='CocoDataset',
        data_root=str(root),
        ann_file='ann.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=VINDR_CLASSES),
        filter_cfg=dict(filter_empty_gt=False),
        test_mode=not train,
        pipeline=coco_pipeline(train))


def full_config(root, work_dir, custom_hooks=(), max_epochs=2) -> Config:
    """A complete trainable/testable config on the tiny COCO set."""
    cfg = small_model_cfg()
    loader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                  sampler=dict(type='DefaultSampler', shuffle=False))
    cfg.merge_from_dict(dict(
        default_scope='mmdet',
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=coco_dataset_cfg(root, True),
                              collate_fn=dict(type='pseudo_collate'),
                              **loader),
        val_dataloader=dict(dataset=coco_dataset_cfg(root, False),
                            **dict(loader, batch_size=1)),
        test_dataloader=dict(dataset=coco_dataset_cfg(root, False),
                             **dict(loader, batch_size=1)),
        val_evaluator=dict(type='CocoMetric',
                           ann_file=str(root / 'ann.json'), metric='bbox'),
        test_evaluator=dict(type='CocoMetric',
                            ann_file=str(root / 'ann.json'), metric='bbox'),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                       val_interval=1),
        val_cfg=dict(type='ValLoop'),
        test_cfg=dict(type='TestLoop'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9, weight_decay=1e-4)),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='CheckpointHook', interval=1),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        custom_hooks=list(custom_hooks),
        env_cfg=dict(cudnn_benchmark=False,
                     dist_cfg=dict(backend='gloo')),
        vis_backends=[dict(type='LocalVisBackend'),
                      dict(type='TensorboardVisBackend')],
        visualizer=dict(type='DetLocalVisualizer',
                        vis_backends=[dict(type='LocalVisBackend'),
                                      dict(type='TensorboardVisBackend')]),
        log_level='INFO',
        randomness=dict(seed=0),
        custom_imports=dict(imports=['cxr_mm'], allow_failed_imports=False),
    ))
    return cfg
