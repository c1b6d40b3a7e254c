# ImageNet initialisation: the baseline BarlowTwins-CXR is compared with.
# torchvision's ResNet-50 IMAGENET1K_V1 weights (the file mmdet's 'torchvision://resnet50'
# points to); download it once, nothing is fetched at run time:
#   mkdir -p checkpoints && wget -P checkpoints \
#       https://download.pytorch.org/models/resnet50-0676ba61.pth
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'

pretrained_backbone = 'checkpoints/resnet50-0676ba61.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
