"""Every stage-2 config builds, and differs from its base exactly by what it claims."""

import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(REPO, 'configs', 'faster_rcnn_cxr')
RECIPE = 'faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'


def init_cfg(name):
    return f'faster-rcnn_r50-{name}_fpn_8xb2-cos-50e_vindr-1024.py'


LINK = [r'pretrained_backbone', r'model\.backbone\.init_cfg\.checkpoint']
SCALE = [r'img_scale', r'.*\.scale']
# config -> (base, regexes of the flattened keys it may change, expected values)
CLAIMS = {
    init_cfg('imagenet'): (
        RECIPE,
        LINK,
        {'pretrained_backbone': 'checkpoints/resnet50-11ad3fa6.pth'},
    ),
    init_cfg('imagenet-v1'): (
        init_cfg('imagenet'),
        LINK,
        {'pretrained_backbone': 'checkpoints/resnet50-0676ba61.pth'},
    ),
    init_cfg('bt-cxr'): (RECIPE, LINK, {}),
    init_cfg('random'): (
        RECIPE,
        [r'model\.backbone\.(init_cfg(\..*)?|frozen_stages|norm_eval)'],
        {'model.backbone.init_cfg': None, 'model.backbone.frozen_stages': -1},
    ),
}
for _size in (640, 224):
    _recipe = RECIPE.replace('-1024', f'-{_size}')
    CLAIMS[_recipe] = (
        RECIPE,
        SCALE,
        {
            'img_scale': (_size, _size),
            'train_dataloader.dataset.pipeline.2.scale': (_size, _size),
            'test_dataloader.dataset.pipeline.1.scale': (_size, _size),
            'val_dataloader.dataset.pipeline.1.scale': (_size, _size),
        },
    )
for _init in ('imagenet', 'bt-cxr'):
    for _size in (640, 224):
        # the size recipe plus exactly the 1024 variant's link (checked below)
        CLAIMS[init_cfg(_init).replace('-1024', f'-{_size}')] = (
            RECIPE.replace('-1024', f'-{_size}'),
            LINK,
            {},
        )
    for _pct in (10, 25, 50):
        # checked separately: the whole dataset moves under the wrapper
        CLAIMS[init_cfg(_init).replace('.py', f'-{_pct}pct.py')] = (
            init_cfg(_init),
            [r'train_dataloader\.dataset\..*'],
            {
                'train_dataloader.dataset.type': 'LabelFractionDataset',
                'train_dataloader.dataset.fraction': _pct / 100,
            },
        )
# The prepared-PNG twins (dicom_to_png.py output) differ only in where the images are.
PNG_DATA = [
    r'vindr_png_.*',
    r'(train|val|test)_dataloader\.dataset\.(data_prefix\.img|img_suffix|meta_file)',
]
for _base in (RECIPE, init_cfg('imagenet'), init_cfg('bt-cxr')):
    CLAIMS[_base.replace('-1024', '-png-1024')] = (
        _base,
        PNG_DATA,
        {
            f'{_loader}_dataloader.dataset.{_key}': _value
            for _loader in ('train', 'val', 'test')
            for _key, _value in (
                ('data_prefix.img', 'train_png_1024/'),
                ('img_suffix', '.png'),
                ('meta_file', 'train_png_1024/image_meta.csv'),
            )
        },
    )
for _fs in (0, 2, 3, 4):
    CLAIMS[f'faster-rcnn_r50-bt-cxr-frozen{_fs}_fpn_8xb2-cos-50e_vindr-1024.py'] = (
        init_cfg('bt-cxr'),
        [r'model\.backbone\.frozen_stages'],
        {'model.backbone.frozen_stages': _fs},
    )
for _init in ('imagenet', 'bt-cxr'):
    # the PhysioNet layout: only the data moves (official test set, no fusion on it)
    CLAIMS[init_cfg(_init).replace('vindr-1024', 'vindr-physionet-1024')] = (
        init_cfg(_init),
        [
            r'physionet_.*',
            r'(train|val|test)_dataloader\.dataset\.'
            r'(data_root|ann_file|data_prefix\.img|split|split_ratios|fusion|test_set)',
        ],
        {
            'train_dataloader.dataset.ann_file': 'annotations/annotations_train.csv',
            'val_dataloader.dataset.split': 'val',
            'test_dataloader.dataset.ann_file': 'annotations/annotations_test.csv',
            'test_dataloader.dataset.split': None,
            'test_dataloader.dataset.fusion': 'none',
            'test_dataloader.dataset.test_set': 'physionet-official',
        },
    )
CLAIMS['faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py'] = (
    init_cfg('bt-cxr'),
    LINK
    + SCALE
    + [
        r'model\.train_cfg\.rpn_proposal\.(nms_pre|max_per_img)',
        r'model\.train_cfg\.rcnn\.sampler\.num',
        r'model\.test_cfg\.rpn\.(nms_pre|max_per_img)',
        r'data_root',
        r'(train|val|test)_dataloader\.(num_workers|persistent_workers)',
        r'(train|val|test)_dataloader\.dataset\.data_root',
        r'max_epochs',
        r'train_dataloader\.dataset\.filter_cfg\.filter_empty_gt',
        r'train_cfg\.max_epochs',
        r'optim_wrapper\.optimizer\.lr',
        r'optim_wrapper\.(type|loss_scale)',  # fp32: a CPU config
        r'optim_wrapper\.clip_grad\..*',
        r'param_scheduler\..*',
        r'default_hooks\.logger\.interval',
        r'default_hooks\.checkpoint\.max_keep_ckpts',
        r'custom_hooks\..*',
    ],
    {
        'data_root': 'data/demo/vindr/',
        'img_scale': (256, 256),
        'train_cfg.max_epochs': 3,
        'custom_hooks.0.type': 'CAMHook',
        'optim_wrapper.type': 'OptimWrapper',
        'optim_wrapper.optimizer.lr': 0.01,
    },
)


def flatten(obj, prefix=''):
    """Leaves of nested dicts/lists as {'a.b.0.c': value}; tuples are leaves."""
    if isinstance(obj, dict) and obj:
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f'{prefix}{k}.'))
        return out
    if isinstance(obj, list) and obj:
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f'{prefix}{i}.'))
        return out
    return {prefix[:-1]: obj}


def load(name):
    return Config.fromfile(osp.join(CFG_DIR, name))


def test_every_config_file_has_a_claim():
    files = {osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, '*.py'))}
    assert files == set(CLAIMS) | {RECIPE}


@pytest.mark.parametrize('name', sorted(CLAIMS))
def test_inheritance_is_what_it_claims(name):
    base_name, allowed, expected = CLAIMS[name]
    cfg, base = load(name), load(base_name)
    with open(osp.join(CFG_DIR, name)) as f:
        # the claimed base, alone or first of a list
        assert re.search(rf"_base_ = \[?\s*'\./{re.escape(base_name)}'", f.read())
    a, b = flatten(cfg.to_dict()), flatten(base.to_dict())
    changed = {k for k in set(a) | set(b) if a.get(k, '<absent>') != b.get(k, '<absent>')}
    assert changed, f'{name} changes nothing'
    unclaimed = sorted(k for k in changed if not any(re.fullmatch(p, k) for p in allowed))
    assert not unclaimed, f'{name} changes keys it does not claim: {unclaimed}'
    for key, value in expected.items():
        got = a.get(key, '<absent>')
        assert (tuple(got) if isinstance(got, list) else got) == value, key


@pytest.mark.parametrize('pct', [10, 25, 50])
def test_label_fraction_wraps_the_unchanged_dataset(pct):
    name = init_cfg('bt-cxr').replace('.py', f'-{pct}pct.py')
    cfg, base = load(name), load(init_cfg('bt-cxr'))
    assert cfg.train_dataloader.dataset.dataset == base.train_dataloader.dataset
    assert cfg.val_dataloader == base.val_dataloader
    assert cfg.test_dataloader == base.test_dataloader


@pytest.mark.parametrize('init', ['imagenet', 'bt-cxr'])
@pytest.mark.parametrize('size', [640, 224])
def test_size_variants_keep_the_initialisation(init, size):
    """An input-size ablation changes the size, never the weights it starts from."""
    cfg = load(init_cfg(init).replace('-1024', f'-{size}'))
    ref = load(init_cfg(init))
    assert cfg.pretrained_backbone == ref.pretrained_backbone
    assert cfg.model.backbone.init_cfg == ref.model.backbone.init_cfg
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (size, size)


def test_recipe():
    cfg = load(RECIPE)
    assert cfg.model.roi_head.bbox_head.num_classes == 14
    assert cfg.train_cfg.max_epochs == 50 and cfg.train_cfg.val_interval == 1
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'  # fp32 fallback without a GPU
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']
    ckpt = cfg.default_hooks.checkpoint
    assert (ckpt.save_best, ckpt.rule) == ('vindr/mAP50', 'greater')
    assert cfg.val_evaluator.type == 'VinDrMetric'
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (1024, 1024)
    # ground truth loaded after Resize: evaluated in original pixels
    types = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
    assert types.index('LoadAnnotations') > types.index('Resize')
    train_types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    # mmdet's Brightness/Contrast on one grey channel, 3 channels only at the end
    assert {'RandomFlip', 'GreyBrightness', 'GreyContrast'} <= set(train_types)
    assert train_types[-2:] == ['GreyToColor', 'PackDetInputs']
    assert 'PhotoMetricDistortion' not in train_types  # hue/saturation/channel swaps


@pytest.mark.parametrize('name', sorted(CLAIMS) + [RECIPE])
def test_model_builds(name):
    from mmdet.registry import MODELS

    import cxr_mm.register  # noqa: F401

    init_default_scope('mmdet')
    cfg = load(name)
    model = MODELS.build(cfg.model)
    assert model.roi_head.bbox_head.num_classes == 14
    assert model.backbone.frozen_stages == cfg.model.backbone.frozen_stages
