# The 1024 px config above reading the prepared 1024 px PNGs (dicom_to_png.py) instead of
# the DICOMs; everything but the data is inherited.
_base_ = [
    './faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py',
    '../_base_/datasets/vindr_detection_png.py',
]
train_dataloader = dict(dataset={{_base_.vindr_png_data}})
val_dataloader = dict(dataset={{_base_.vindr_png_data}})
test_dataloader = dict(dataset={{_base_.vindr_png_data}})
