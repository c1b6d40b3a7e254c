# Ablation: the authors' exact view pipeline (ImageNet Barlow Twins augmentations, with
# saturation/hue jitter and RandomGrayscale that are identities on grey radiographs).
_base_ = './barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'

train_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='LoadCXRImage', color_type='color'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[
                    [dict(type='BarlowTwinsCXRView', preset='imagenet', view=0, scale=224)],
                    [dict(type='BarlowTwinsCXRView', preset='imagenet', view=1, scale=224)],
                ],
            ),
            dict(type='PackInputs'),
        ]
    )
)
