# BarlowTwins-CXR (Sheng et al., 2024), the paper recipe: ResNet-50 from ImageNet weights,
# projector 8192-8192-8192, lambda 0.0051, LARS, batch 768 = 8 GPUs x 96, 10-epoch warm-up
# then cosine, 800 epochs, AMP, NIH ChestX-ray14 train_val list at 224 px.
_base_ = [
    '../_base_/models/barlowtwins_r50.py',
    '../_base_/datasets/nih_bs96_barlowtwins-cxr-224.py',
    '../_base_/default_runtime_mmpretrain.py',
    '../_base_/imagenet_resnet50.py',
]

# The ImageNet start (torchvision IMAGENET1K_V2), shared with the ImageNet baselines:
# configs/_base_/imagenet_resnet50.py. `model.backbone_checkpoint=None` trains from random.
model = dict(
    type='BarlowTwinsCXR',
    backbone_checkpoint={{_base_.imagenet_checkpoint}},
    head=dict(
        type='GlobalCrossCorrelationHead',
        in_channels=8192,
        loss=dict(type='FusedCrossCorrelationLoss', lambd=0.0051),
    ),
)

# LARS, base lr for batch 256: 0.2 for weights, 0.2 x 0.024 = 0.0048 for biases and BN
# (no weight decay, no LARS adaptation), as in facebookresearch/barlowtwins. The batch
# scaling (x 768/256) is done by mmengine from the real batch: see auto_scale_lr.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='LARS', lr=0.2, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
            'bias': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
            # BN of the ResNet downsample branch
            'downsample.1': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
        }
    ),
)

max_epochs = 800
warmup_epochs = 10
# Linear warm-up from ~0, then cosine to 1/1000 of the base lr (per parameter group).
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
)

# lr = 0.2 x (GPUs x per-GPU batch) / 256, i.e. 0.6 at 8 x 96. Enabled here (not only by
# `--auto-scale-lr`) because the recipe's lr is defined per 256 images.
auto_scale_lr = dict(base_batch_size=256, enable=True)

# Progress signal: every 10 epochs (and at epoch 0, the ImageNet start) the backbone
# embeds a fixed subset of 500 val and 1000 train NIH images (their labels are used only
# here) and the 20-NN mean AUC is logged (logger, TensorBoard 'knn/mAUC'). 1500 images
# split over the ranks, one forward each without gradients: even when training is
# loading-bound, 1.7 % of an epoch's 86.5k images per evaluation (see
# bench/knn_monitor_cost.py and the README's "Progress signal").
custom_hooks = [
    dict(
        type='KNNMonitorHook',
        interval=10,
        num_query=500,
        num_reference=1000,
        k=20,
        batch_size=96,
        num_workers=8,
    )
]
