# End-to-end fine-tuning of a BarlowTwins-CXR backbone on NIH ChestX-ray14: every layer
# trains, BN statistics update; the new linear layer learns 10x faster than the backbone.
_base_ = './resnet50-bt-cxr_linear-1xb64-coslr-30e_nih-224.py'

model = dict(backbone=dict(frozen_stages=-1, norm_eval=False))
optim_wrapper = dict(
    optimizer=dict(lr=0.01), paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)})
)
