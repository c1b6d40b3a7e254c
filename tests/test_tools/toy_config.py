# A tiny iteration-based config for runner plumbing tests (see tests/test_tools/toy).
default_scope = 'mmdet'
custom_imports = dict(imports=['cxr_mm.register', 'toy'], allow_failed_imports=False)
model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', num_samples=64),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=8)
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', num_samples=64),
)
test_evaluator = dict(type='ToyMSEMetric')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[6], gamma=0.1)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False),
)
custom_hooks = [dict(type='DumpWeightsHook')]
env_cfg = dict(dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
log_level = 'INFO'
log_processor = dict(by_epoch=False)
