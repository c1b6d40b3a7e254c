# ImageNet initialisation at 640 px; same weights as
# faster-rcnn_r50-imagenet_fpn_8xb2-cos-50e_vindr-1024.py.
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-640.py'

pretrained_backbone = {{_base_.imagenet_checkpoint}}
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
