# ImageNet row, 1 % of the training patients labelled (patient-level sampling).
_base_ = './resnet50-imagenet_finetune-1xb64-coslr-30e_nih-224.py'

train_dataloader = dict(dataset=dict(label_fraction=0.01))
