# Ablation: the ImageNet baseline from torchvision's IMAGENET1K_V1 weights (the file
# mmdet's 'torchvision://resnet50' points to) instead of the V2 file stage 1 starts from.
# Not the comparison arm: it mixes V1 -> V2 with the pretraining. Fetch it once:
#   mkdir -p checkpoints && wget -P checkpoints \
#       https://download.pytorch.org/models/resnet50-0676ba61.pth
_base_ = './faster-rcnn_r50-imagenet_fpn_8xb2-cos-50e_vindr-1024.py'

pretrained_backbone = 'checkpoints/resnet50-0676ba61.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
