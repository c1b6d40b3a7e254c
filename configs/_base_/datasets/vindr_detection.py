# VinDr-CXR lesion detection, Kaggle VinBigData layout (train.csv + train/<image_id>.dicom).
# Radiologists' boxes fused by WBF (IoU 0.4); a stratified, seeded 80/10/10 image split of
# train.csv gives train / val (model selection) / test (reported once; metainfo
# test_set='kaggle-split-seed0'). Negatives are kept everywhere: they carry the Kaggle
# 'No finding' class and the false positives a screening detector must avoid. For the
# PhysioNet release and its official test set see vindr_physionet_detection.py.
dataset_type = 'VinDrCXRDataset'
data_root = 'data/vindr/'
backend_args = None
img_scale = (1024, 1024)  # long/short side bound, aspect kept

train_pipeline = [
    dict(type='LoadCXRImage', color_type='grayscale', window='voi', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # CXR-safe photometric jitter: gray in, gray out (no hue/saturation/channel swap),
    # mild enough to keep the VOI window's meaning.
    dict(type='GreyBrightness', prob=0.5, min_mag=0.85, max_mag=1.15),
    dict(type='GreyContrast', prob=0.5, min_mag=0.85, max_mag=1.15),
    dict(type='GreyToColor'),  # 3 equal channels for the ResNet, after the grey steps
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadCXRImage', color_type='color', window='voi', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    # After Resize, so ground truth stays in original pixels like the predictions.
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        # is_normal: the image's Kaggle 'No finding' truth (see VinDrCXRDataset).
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'is_normal'),
    ),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train.csv',
        data_prefix=dict(img='train/'),
        split='train',
        fusion='wbf',
        keep_negatives=True,
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline,
        backend_args=backend_args,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train.csv',
        data_prefix=dict(img='train/'),
        split='val',
        fusion='wbf',
        keep_negatives=True,
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
# The held-out test part of the split, read like validation (reported once).
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))

# VOC mAP50 (model selection), Kaggle mAP40 with 'No finding', COCO mAP, per class.
val_evaluator = dict(type='VinDrMetric')
test_evaluator = val_evaluator
