# BarlowTwins-CXR initialisation at 640 px; same weights as
# faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py.
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-640.py'

pretrained_backbone = 'work_dirs/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
