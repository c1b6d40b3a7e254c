# How much of the BarlowTwins-CXR backbone to keep fixed: frozen_stages=4
# (0 = stem only, 4 = the whole ResNet-50; the recipe freezes 1).
_base_ = './faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py'

model = dict(backbone=dict(frozen_stages=4))
