# Random initialisation (lower bound). With no pretrained weights there is nothing to
# keep: no stage is frozen and BatchNorm statistics are learned.
_base_ = './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'

model = dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False))
