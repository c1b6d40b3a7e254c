# The bt-cxr 1024 px run on the PhysioNet layout, scored on the official test set
# (annotations_test.csv); everything but the data comes from the Kaggle-layout config.
_base_ = [
    './faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py',
    '../_base_/datasets/vindr_physionet_detection.py',
]
train_dataloader = dict(dataset=_base_.physionet_train_dataset)
val_dataloader = dict(dataset=_base_.physionet_val_dataset)
test_dataloader = dict(dataset=_base_.physionet_test_dataset)
