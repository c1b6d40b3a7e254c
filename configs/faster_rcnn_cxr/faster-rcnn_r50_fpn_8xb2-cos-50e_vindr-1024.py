# Stage 2 of BarlowTwins-CXR: Faster R-CNN + FPN, ResNet-50, VinDr-CXR 14 lesion classes,
# 1024 px, SGD with linear warm-up then cosine decay over 50 epochs, validation every
# epoch, best checkpoint by validation VOC mAP50.
#
# The shared recipe; it names no backbone weights, so training it stops with an error.
# Train one of the initialisations instead:
#   *_r50-imagenet_*  torchvision ImageNet ResNet-50 (local file)
#   *_r50-bt-cxr_*    BarlowTwins-CXR stage-1 checkpoint
#   *_r50-random_*    random backbone
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_cxr.py',
    '../_base_/datasets/vindr_detection.py',
    '../_base_/default_runtime_mmdet.py',
    '../_base_/imagenet_resnet50.py',  # imagenet_checkpoint, for the ImageNet arm
]

# The stage-1 -> stage-2 link: one variable. StrictPretrained stops training when the
# file is missing or does not hold every ResNet-50 tensor (mmengine's Pretrained only
# warns). From the command line: --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained_backbone = None
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,  # the model base has init_cfg=None
            type='StrictPretrained',
            checkpoint=pretrained_backbone,
        )
    )
)

max_epochs = 50
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AMP on GPU (fp16 autocast, dynamic loss scaling); tools/train.py falls back to a plain
# fp32 OptimWrapper with the same settings where no GPU is visible (the CPU demo).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
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

# Model selection on validation, never on test.
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=2, save_best='vindr/mAP50', rule='greater'
    )
)

# lr 0.02 is for 8 GPUs x 2 images; --auto-scale-lr rescales it to yours.
auto_scale_lr = dict(enable=False, base_batch_size=16)
