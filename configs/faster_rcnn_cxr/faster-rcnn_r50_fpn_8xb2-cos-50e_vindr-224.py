# Input size ablation of the shared recipe: images resized to fit 224 x 224
# (the recipe uses 1024). Names no backbone weights; train the -imagenet / -bt-cxr
# variants of this size.
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'

img_scale = (224, 224)
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
