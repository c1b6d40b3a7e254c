# Faster R-CNN + FPN (Ren et al., 2015; Lin et al., 2017) for the 14 VinDr-CXR lesion classes:
# mmdet's own R50-FPN model, offline. The backbone starts random here (mmdet's points at
# torchvision://resnet50, a download); stage-2 configs point `pretrained_backbone` at a
# local ImageNet or BarlowTwins-CXR file.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(backbone=dict(init_cfg=None), roi_head=dict(bbox_head=dict(num_classes=14)))
