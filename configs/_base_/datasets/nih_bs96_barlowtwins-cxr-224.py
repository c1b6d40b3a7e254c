# NIH ChestX-ray14, unlabeled, official train_val list only (no test image is ever
# pretrained on): two asymmetric BarlowTwins-CXR views per image.
dataset_type = 'NIHChestXrayDataset'
data_root = 'data/nih/'
# The prepared 256 px copy (long side; `python tools/dataset_converters/nih_prepare.py
# data/nih --resize 256`): the views are 224 px crops, and decoding a 1024 px PNG per
# sample starves the GPU (rates in configs/barlowtwins_cxr/README.md). 'images/' reads
# the full-size release.
img_dir = 'images_256/'

view_pipeline1 = [dict(type='BarlowTwinsCXRView', preset='cxr', view=0, scale=224)]
view_pipeline2 = [dict(type='BarlowTwinsCXRView', preset='cxr', view=1, scale=224)]
train_pipeline = [
    # One grey channel: the views work on it and return 3 identical channels (the
    # ImageNet ResNet-50 stem expects RGB), 3x less pixel work than RGB throughout.
    dict(type='LoadCXRImage', color_type='grayscale'),
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=96,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    # Batch statistics define the loss: never train on a ragged last batch.
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='Data_Entry_2017.csv',
        data_prefix=img_dir,
        split='train_val',
        mode='unlabeled',
        pipeline=train_pipeline,
    ),
)
