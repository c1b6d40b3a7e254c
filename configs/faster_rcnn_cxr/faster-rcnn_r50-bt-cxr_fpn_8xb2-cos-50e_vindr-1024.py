# BarlowTwins-CXR initialisation: the stage-1 ResNet-50 (ImageNet init, Barlow Twins on
# NIH ChestX-ray14). Either the stage-1 checkpoint itself ('backbone.' keys) or the file
# written by tools/model_converters/extract_backbone.py.
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'

pretrained_backbone = 'work_dirs/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
