# Linear evaluation of a BarlowTwins-CXR backbone on NIH ChestX-ray14 (14 findings,
# multi-label BCE): frozen ResNet-50 (weights and BN statistics), one linear layer.
# Model selection on the validation split (best mean AUC); the official test list is only
# read by tools/test.py with the selected checkpoint.
_base_ = [
    '../_base_/datasets/nih_bs64_multilabel-224.py',
    '../_base_/default_runtime_mmpretrain.py',
    '../_base_/imagenet_resnet50.py',  # imagenet_checkpoint, for the ImageNet arm
]

# The backbone to evaluate, one variable: a stage-1 checkpoint ('backbone.' keys), the
# output of tools/model_converters/extract_backbone.py, or a torchvision ResNet-50 (the
# resnet50-imagenet_* configs). StrictPretrained, as in the detector: a missing file,
# prefix or tensor stops with an error naming it (mmengine's Pretrained only warns).
# From the command line: --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained_backbone = 'checkpoints/barlowtwins-cxr_r50_800e_nih-224.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3,),
        frozen_stages=4,
        norm_eval=True,
        style='pytorch',
        # mmpretrain's ResNet zeroes every bn3 after init unless init_cfg is 'Pretrained';
        # with StrictPretrained that would overwrite loaded weights, so it is off.
        zero_init_residual=False,
        init_cfg=dict(type='StrictPretrained', checkpoint=pretrained_backbone),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=14,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01),
    ),
)

# The authors' classifier recipe: SGD momentum 0.9, lr 0.3 at batch 64, wd 1e-6, cosine.
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.3, momentum=0.9, weight_decay=1e-6)
)
max_epochs = 30
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best='AUC/mean', rule='greater'
    ),
)
auto_scale_lr = dict(base_batch_size=64)
