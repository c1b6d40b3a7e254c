# The paper recipe with a 300-epoch schedule (warm-up unchanged).
_base_ = './barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'

max_epochs = 300
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 10,
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=10,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=max_epochs)
