# Faster R-CNN + FPN (Ren et al., 2015; Lin et al., 2017) for the 14 VinDr-CXR lesion classes:
# mmdet's own R50-FPN model, offline. The backbone starts random here (mmdet's points at
# torchvision://resnet50, a download); stage-2 configs point `pretrained_backbone` at a
# local ImageNet or BarlowTwins-CXR file.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

# Ignore regions (boxes of labels outside the 14 classes, rows dropped as invalid:
# ``ignore_flag=1`` from VinDrCXRDataset) are neither positives nor negatives in training
# either: anchors/proposals covered >= 50 % by one are not sampled (mmdet's
# MaxIoUAssigner.ignore_iof_thr), as the metric neither rewards nor penalises them.
model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(bbox_head=dict(num_classes=14)),
    train_cfg=dict(
        rpn=dict(assigner=dict(ignore_iof_thr=0.5)), rcnn=dict(assigner=dict(ignore_iof_thr=0.5))
    ),
)
