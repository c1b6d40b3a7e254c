# Demo: the BarlowTwins-CXR pipeline end to end on the synthetic demo set
# (tools/dataset_converters/make_demo_data.py --out data/demo) on a CPU in about a minute.
# Still a ResNet-50 and the same views, head and loss; 64 px views, batch 8, a 128-d
# projector, random init (no download), 12 steps. LARS moves each layer by lr x 0.001 of
# its norm per step, too little to see in 12 steps from random weights, so the demo uses
# AdamW; the recipe's LARS + auto_scale_lr are exercised by the paper config.
_base_ = './barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'

imagenet_checkpoint = None
proj_channels = 128
model = dict(
    backbone_checkpoint=imagenet_checkpoint,
    # BN, not SyncBN: the demo also runs as a multi-process CPU job (gloo).
    backbone=dict(norm_cfg=dict(type='BN')),
    neck=dict(hid_channels=proj_channels, out_channels=proj_channels, norm_cfg=dict(type='BN1d')),
    head=dict(in_channels=proj_channels),
)

view_scale = 64
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        data_root='data/demo/nih/',
        data_prefix='images',  # the demo's small PNGs need no prepared copy
        pipeline=[
            dict(type='LoadCXRImage', color_type='grayscale'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[
                    [dict(type='BarlowTwinsCXRView', preset='cxr', view=0, scale=view_scale)],
                    [dict(type='BarlowTwinsCXRView', preset='cxr', view=1, scale=view_scale)],
                ],
            ),
            dict(type='PackInputs'),
        ],
    ),
)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0),
            'bias': dict(decay_mult=0),
            'downsample.1': dict(decay_mult=0),
        }
    ),
)
max_iters = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - 2,
        eta_min_ratio=1e-2,
        by_epoch=False,
        begin=2,
        end=max_iters,
    ),
]
train_cfg = dict(_delete_=True, type='ResumableIterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=6, max_keep_ckpts=2),
)
auto_scale_lr = dict(base_batch_size=8, enable=False)
log_processor = dict(by_epoch=False)
# The k-NN progress signal at steps 0, 6 and 12 on small subsets of the demo set, 64 px.
custom_hooks = [
    dict(
        type='KNNMonitorHook',
        by_epoch=False,
        interval=6,
        num_query=40,
        num_reference=80,
        k=10,
        image_size=64,
        batch_size=40,
        num_workers=0,
    )
]
