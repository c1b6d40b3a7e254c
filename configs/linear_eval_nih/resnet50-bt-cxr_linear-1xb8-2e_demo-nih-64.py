# Demo: linear evaluation on the synthetic demo set on a CPU in well under a minute.
# Random backbone unless `model.backbone.init_cfg` points at a demo backbone:
#   --cfg-options model.backbone.init_cfg.type=StrictPretrained \
#                 model.backbone.init_cfg.checkpoint=work_dirs/demo/stage1/backbone.pth
_base_ = './resnet50-bt-cxr_linear-1xb64-coslr-30e_nih-224.py'

model = dict(backbone=dict(init_cfg=None))

demo_root = 'data/demo/nih/'
train_pipeline = [
    dict(type='LoadCXRImage', color_type='color'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadCXRImage', color_type='color'),
    dict(type='Resize', scale=(64, 64), backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=demo_root, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=demo_root, pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=demo_root, pipeline=test_pipeline),
)

optim_wrapper = dict(optimizer=dict(lr=0.05))
max_epochs = 2
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5))
