_base_ = './resnet50-bt-cxr_finetune-1xb64-coslr-30e_nih-224.py'

train_dataloader = dict(dataset=dict(label_fraction=0.01))
