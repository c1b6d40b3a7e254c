# The ImageNet start of BarlowTwins-CXR, defined once for both arms of the comparison:
# stage 1 (configs/barlowtwins_cxr) starts Barlow Twins from it, and the ImageNet
# baselines (configs/faster_rcnn_cxr/*_r50-imagenet_*, configs/linear_eval_nih/
# resnet50-imagenet_*) start from exactly the same file, so "BarlowTwins-CXR vs ImageNet"
# differs only by the pretraining. Every config reads it through inheritance
# ({{_base_.imagenet_checkpoint}}); tests/test_configs/test_imagenet_start.py checks it.
#
# torchvision ResNet50_Weights.IMAGENET1K_V2 (what the authors started from), a local
# file; nothing is downloaded at run time. Fetch it once:
#   mkdir -p checkpoints && wget -P checkpoints \
#       https://download.pytorch.org/models/resnet50-11ad3fa6.pth
imagenet_checkpoint = 'checkpoints/resnet50-11ad3fa6.pth'
