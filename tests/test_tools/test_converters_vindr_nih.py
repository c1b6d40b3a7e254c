"""tools/dataset_converters/{vindr_to_coco,nih_prepare}.py and
tools/analysis_tools/browse_dataset.py, end to end."""

import json
import os.path as osp

import pytest
from cxr_testing import (
    KAGGLE_HEADER,
    UGLY_KAGGLE,
    load_tool,
    make_nih,
    many_vindr_images,
    write_dicom,
)

import cxr_mm.register  # noqa: F401
from cxr_mm.core.demo_data import make_demo_data

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))


vindr_to_coco = load_tool('tools/dataset_converters/vindr_to_coco.py')
nih_prepare = load_tool('tools/dataset_converters/nih_prepare.py')
browse_dataset = load_tool('tools/analysis_tools/browse_dataset.py')


@pytest.fixture
def ugly_kaggle(tmp_path):
    root = tmp_path / 'vindr'
    (root / 'train').mkdir(parents=True)
    (root / 'train.csv').write_text('\n'.join([KAGGLE_HEADER] + UGLY_KAGGLE) + '\n')
    for image_id, w, h in (('a1', 512, 400), ('b2', 300, 300), ('c3', 400, 400)):
        write_dicom(str(root / 'train' / f'{image_id}.dicom'), w, h)
    return root


def test_vindr_to_coco_end_to_end(ugly_kaggle, tmp_path, capsys):
    from pycocotools.coco import COCO

    out = tmp_path / 'coco'
    rc = vindr_to_coco.main(
        [
            str(ugly_kaggle),
            '--out-dir',
            str(out),
            '--drop-invalid-rows',
            '--ratios',
            '0.34',
            '0.33',
            '0.33',
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    # printed summary: images, negatives, boxes per class, drops and why
    assert 'negatives 1' in text and 'missing files 1' in text
    assert 'rows_duplicate=1' in text
    assert 'rows_invalid: unknown class_name=1' in text
    assert 'boxes_degenerate_dropped=1' in text
    cardio = [ln for ln in text.splitlines() if ln.strip().startswith('Cardiomegaly')]
    assert cardio and cardio[0].split()[1:] == ['3', '3', '1']

    split = json.loads((ugly_kaggle / 'splits.json').read_text())
    seen = []
    for name in ('train', 'val', 'test'):
        coco = COCO(str(out / f'vindr_{name}_coco.json'))
        imgs = coco.loadImgs(coco.getImgIds())
        ids = {i['vindr_image_id'] for i in imgs}
        assert ids <= set(split[name])
        seen += ids
    assert sorted(seen) == ['a1', 'b2', 'c3']  # d4 has no file
    # a failing CSV gives a message and exit status 1
    rc = vindr_to_coco.main([str(ugly_kaggle), '--out-dir', str(out)])
    assert rc == 1
    assert 'line 7' in capsys.readouterr().err


def test_nih_prepare_lists_fractions_cache_and_missing(tmp_path, capsys):
    import cv2

    root = tmp_path / 'nih'
    truth = make_nih(root)
    out = tmp_path / 'prepared'
    rc = nih_prepare.main(
        [str(root), '--out-dir', str(out), '--fractions', '0.1', '1.0', '--resize', '8']
    )
    assert rc == 0
    read = lambda f: set((out / f).read_text().split())  # noqa: E731
    assert read('train.txt') | read('val.txt') == truth['tv']
    assert read('test.txt') == truth['test']
    assert not read('train.txt') & read('val.txt')
    assert read('train_frac10.txt') < read('train.txt')
    assert read('train_frac100.txt') == read('train.txt')
    assert read('missing.txt') == set()
    resized = sorted((out / 'images_8').glob('*.png'))
    assert len(resized) == len(truth['tv']) + len(truth['test'])
    assert cv2.imread(str(resized[0]), cv2.IMREAD_UNCHANGED).shape == (8, 8)

    # The cache is a valid flat image folder for the dataset.
    from mmpretrain.registry import DATASETS

    ds = DATASETS.build(
        dict(
            type='mmpretrain.NIHChestXrayDataset',
            data_root=str(root),
            data_prefix=str(out / 'images_8'),
            split='test',
        )
    )
    assert len(ds) == len(truth['test'])
    assert all('images_8' in ds.get_data_info(i)['img_path'] for i in range(len(ds)))

    (root / 'images' / sorted(truth['test'])[0]).unlink()
    assert nih_prepare.main([str(root), '--out-dir', str(out)]) == 0
    assert read('missing.txt') == {sorted(truth['test'])[0]}
    assert nih_prepare.main([str(root), '--out-dir', str(out), '--strict']) == 1


SSL = """
train_dataloader = dict(dataset=dict(
    type='mmpretrain.NIHChestXrayDataset', data_root={root!r},
    split='train_val', mode='unlabeled',
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='MultiView', num_views=2,
                   transforms=[[dict(type='RandomResizedCrop', scale=32)]]),
              dict(type='PackInputs')]))
"""


def _write_cfg(path, text):
    path.write_text(text)
    return str(path)


def test_browse_dataset_det_and_cls_configs(tmp_path):
    import cv2

    root = tmp_path / 'many'
    (root / 'train').mkdir(parents=True)
    many_vindr_images(root, n=4)
    det_cfg = _write_cfg(
        tmp_path / 'det_cfg.py',
        f"""
default_scope = 'mmdet'
train_dataloader = dict(dataset=dict(
    type='VinDrCXRDataset', data_root={str(root)!r}, img_suffix='.png',
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='LoadAnnotations', with_bbox=True),
              dict(type='Resize', scale=(96, 96), keep_ratio=True),
              dict(type='PackDetInputs')]))
""",
    )
    out = tmp_path / 'det'
    assert browse_dataset.main([det_cfg, '-o', str(out), '-n', '3']) == 0
    pngs = sorted(out.glob('*.png'))
    assert len(pngs) == 3
    imgs = [cv2.imread(str(p)).astype(int) for p in pngs]
    assert all(img.shape[:2] == (96, 96) for img in imgs)
    # boxes were drawn: coloured pixels in grey images
    assert max((i.max(axis=2) - i.min(axis=2)).max() for i in imgs) > 50

    nih_root = tmp_path / 'nih'
    make_nih(nih_root)
    cls_cfg = _write_cfg(
        tmp_path / 'cls_cfg.py',
        f"""
default_scope = 'mmpretrain'
train_dataloader = dict(dataset=dict(
    type='mmpretrain.NIHChestXrayDataset', data_root={str(nih_root)!r}, split='train',
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='Resize', scale=(64, 64)),
              dict(type='PackInputs')]))
""",
    )
    out = tmp_path / 'cls'
    assert browse_dataset.main([cls_cfg, '-o', str(out), '-n', '2']) == 0
    assert len(list(out.glob('*.png'))) == 2

    # multi-view (stage-1) samples: views side by side, no labels
    ssl_cfg = _write_cfg(
        tmp_path / 'ssl_cfg.py',
        """
default_scope = 'mmpretrain'
"""
        + SSL.format(root=str(nih_root)),
    )
    out = tmp_path / 'ssl'
    assert browse_dataset.main([ssl_cfg, '-o', str(out), '-n', '1']) == 0
    (png,) = out.glob('*.png')
    assert cv2.imread(str(png)).shape[:2] == (32, 2 * 32 + 8)


def test_converters_on_demo_data(tmp_path, capsys):
    make_demo_data(str(tmp_path / 'demo'), seed=0)
    out = tmp_path / 'coco'
    assert vindr_to_coco.main([str(tmp_path / 'demo' / 'vindr'), '--out-dir', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'missing files 0' in text
    assert (
        nih_prepare.main(
            [str(tmp_path / 'demo' / 'nih'), '--out-dir', str(tmp_path / 'nih_lists'), '--strict']
        )
        == 0
    )
