# ImageNet initialisation: the baseline BarlowTwins-CXR is compared with. The very file
# stage 1 starts from (torchvision IMAGENET1K_V2, `imagenet_checkpoint` of
# configs/_base_/imagenet_resnet50.py), so the two arms differ only by the pretraining.
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'

pretrained_backbone = {{_base_.imagenet_checkpoint}}
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
