# Ablation: the MedAugment-style views the authors tried (rotation, vertical flip, affine,
# no random crop; their note: "got poor performance").
_base_ = './barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'

train_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='LoadCXRImage', color_type='color'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[
                    [dict(type='BarlowTwinsCXRView', preset='medaugment', view=0, scale=224)],
                    [dict(type='BarlowTwinsCXRView', preset='medaugment', view=1, scale=224)],
                ],
            ),
            dict(type='PackInputs'),
        ]
    )
)
