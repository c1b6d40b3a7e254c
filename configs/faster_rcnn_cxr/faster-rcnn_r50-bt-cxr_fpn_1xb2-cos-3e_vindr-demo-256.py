# Demo: the BarlowTwins-CXR stage-2 recipe on the synthetic demo set
# (tools/dataset_converters/make_demo_data.py --out data/demo), CPU, a few minutes.
# Same model and recipe; what changes: data root, 256 px, fewer proposals and RoIs per
# image (the R-CNN head dominates CPU time), training on the images with lesions only
# (validation and test keep the normal ones), 3 short epochs, one process.
# tools/run_demo.py runs it with the backbone its stage-1 step extracted.
_base_ = './faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py'

pretrained_backbone = 'work_dirs/demo/stage1/backbone.pth'
model = dict(
    backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=600, max_per_img=300), rcnn=dict(sampler=dict(num=128))
    ),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=300)),
)

data_root = 'data/demo/vindr/'
img_scale = (256, 256)
train_pipeline = [
    dict(type='LoadCXRImage', color_type='grayscale', window='voi', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='GreyBrightness', prob=0.5, min_mag=0.85, max_mag=1.15),
    dict(type='GreyContrast', prob=0.5, min_mag=0.85, max_mag=1.15),
    dict(type='GreyToColor'),  # 3 equal channels for the ResNet, after the grey steps
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadCXRImage', color_type='color', window='voi', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'is_normal'),
    ),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline
    ),
)
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)

max_epochs = 3
train_cfg = dict(max_epochs=max_epochs)
# One process x 2 images would scale lr to 0.0025; the demo has ~100 steps, so it uses
# 0.01, with gradient clipping to keep such a step stable. fp32: a CPU config (the
# recipe's AmpOptimWrapper needs a GPU, also under mmdet's own tools/train.py); the
# recipe's SGD otherwise (tests/test_configs checks only lr differs).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=1))
# Ablation-CAM of two fixed validation images after every validation, scored against
# their boxes and logged with its own cost. Ablating layer3 channels changes every FPN
# level, so each ablated forward re-runs layer4, FPN, RPN and RoI head for a batch of
# channels: on CPU the channel budget (1 % of layer3, one batch) bounds the cost.
custom_hooks = [
    dict(
        type='CAMHook',
        interval=1,
        num_images=2,
        max_boxes=3,
        score_thr=0.0,
        ratio_channels_to_ablate=0.01,
        batch_size=20,
        rpn_max_per_img=30,
    )
]
