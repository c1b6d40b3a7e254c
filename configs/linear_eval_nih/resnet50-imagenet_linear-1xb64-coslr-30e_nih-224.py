# The ImageNet row of the linear evaluation: the very file stage 1 starts from
# (`imagenet_checkpoint`, configs/_base_/imagenet_resnet50.py; torchvision IMAGENET1K_V2,
# its `fc` left unused), through the same strict initialiser.
_base_ = './resnet50-bt-cxr_linear-1xb64-coslr-30e_nih-224.py'

pretrained_backbone = {{_base_.imagenet_checkpoint}}
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
