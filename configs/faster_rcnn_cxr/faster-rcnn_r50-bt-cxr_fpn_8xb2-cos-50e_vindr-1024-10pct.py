# Label efficiency: fine-tune on a fixed, class-stratified 10 % of the training images
# (the same images for every initialisation; validation and test unchanged).
_base_ = './faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelFractionDataset',
        fraction=0.1,
        seed=0,
        dataset={{_base_.train_dataloader.dataset}},
    )
)
