# NIH ChestX-ray14, 14 findings, multi-label. Patient-level splits: train and val are
# carved from the official train_val list (val_ratio of its patients), test is the
# official test list and is only used by tools/test.py.
dataset_type = 'NIHChestXrayDataset'
data_root = 'data/nih/'
# Full-size release; 'images_256/' reads the prepared copy that stage 1 trains on
# (tools/dataset_converters/nih_prepare.py data/nih --resize 256).
img_dir = 'images/'

data_preprocessor = dict(
    num_classes=14,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True,
)

train_pipeline = [
    dict(type='LoadCXRImage', color_type='color'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadCXRImage', color_type='color'),
    dict(type='Resize', scale=(224, 224), backend='pillow'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        data_prefix=img_dir,
        mode='multilabel',
        label_fraction=1.0,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        data_prefix=img_dir,
        mode='multilabel',
        pipeline=test_pipeline,
    ),
)
# The official test list, read like validation.
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(type='MultiLabelAUC')
test_evaluator = val_evaluator
