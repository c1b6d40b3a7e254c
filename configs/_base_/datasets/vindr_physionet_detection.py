# VinDr-CXR 1.0.0 as released on PhysioNet, with its official test set:
#   data/vindr-physionet/annotations/annotations_{train,test}.csv
#   data/vindr-physionet/annotations/image_labels_{train,test}.csv  (read for 'No finding')
#   data/vindr-physionet/train/<image_id>.dicom (15,000), test/<image_id>.dicom (3,000)
# train / val: a stratified, seeded 90/10 image split of annotations_train.csv (3 readers,
# boxes fused by WBF as in the Kaggle layout; no test share). test: annotations_test.csv,
# the 5-radiologist consensus (3,000 images), read as given (fusion='none').
# metainfo test_set='physionet-official' on all three.
#
# Only dataset fields live here, under their own names, so a detector config takes every
# other setting from its Kaggle counterpart and switches the data with three lines:
#   _base_ = ['./<detector>_vindr-1024.py', '../_base_/datasets/vindr_physionet_detection.py']
#   train_dataloader = dict(dataset=_base_.physionet_train_dataset)
#   val_dataloader = dict(dataset=_base_.physionet_val_dataset)
#   test_dataloader = dict(dataset=_base_.physionet_test_dataset)
physionet_data_root = 'data/vindr-physionet/'
physionet_trainval = dict(
    data_root=physionet_data_root,
    ann_file='annotations/annotations_train.csv',
    data_prefix=dict(img='train/'),
    split_ratios=(0.9, 0.1, 0.0),
    fusion='wbf',
    test_set='physionet-official',
)
physionet_train_dataset = dict(physionet_trainval, split='train')
physionet_val_dataset = dict(physionet_trainval, split='val')
physionet_test_dataset = dict(
    data_root=physionet_data_root,
    ann_file='annotations/annotations_test.csv',
    data_prefix=dict(img='test/'),
    split=None,
    fusion='none',  # consensus boxes: nothing to fuse
    test_set='physionet-official',
)
