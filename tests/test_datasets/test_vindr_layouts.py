"""VinDr issue-10 rules: normal means normal, ignore regions, both official layouts, size table."""

import os.path as osp

import numpy as np
import pytest
from cxr_testing import (
    KAGGLE_HEADER,
    PHYSIONET_HEADER,
    REPO_ROOT,
    load_tool,
    write_dicom,
    write_png,
)
from mmdet.registry import DATASETS
from mmengine.config import Config

import cxr_mm.register  # noqa: F401
from cxr_mm.core.classes import VINDR_CLASSES

CARDIO = VINDR_CLASSES.index('Cardiomegaly')
OTHER = VINDR_CLASSES.index('Other lesion')
PHYSIONET_BASE = osp.join(
    REPO_ROOT, 'configs', '_base_', 'datasets', 'vindr_physionet_detection.py'
)


def build(root, **kw):
    cfg = dict(type='mmdet.VinDrCXRDataset', data_root=str(root), pipeline=[])
    cfg.update(kw)
    return DATASETS.build(cfg)


def by_id(ds):
    return {ds.get_data_info(i)['image_id']: ds.get_data_info(i) for i in range(len(ds))}


def split(info):
    pos = [i for i in info['instances'] if i['ignore_flag'] == 0]
    ign = [i for i in info['instances'] if i['ignore_flag'] == 1]
    return pos, ign


@pytest.fixture
def kaggle_root(tmp_path):
    root = tmp_path / 'kaggle'
    rows = [
        # m1: one reader of three saw Cardiomegaly; majority voting drops it.
        'm1,Cardiomegaly,3,R1,100,100,200,200',
        'm1,No finding,14,R2,,,,',
        'm1,No finding,14,R3,,,,',
        'n1,No finding,14,R1,,,,',  # normal: every reader says No finding
        'n1,No finding,14,R2,,,,',
        'n1,No finding,14,R3,,,,',
        'o1,Edema,,R1,20,30,60,90',  # a label outside the 14 (mapped to None)
        'o1,No finding,14,R2,,,,',
        'o1,No finding,14,R3,,,,',
    ]
    (root / 'train').mkdir(parents=True)
    (root / 'train.csv').write_text('\n'.join([KAGGLE_HEADER] + rows) + '\n')
    for i in ('m1', 'n1', 'o1'):
        write_dicom(str(root / 'train' / f'{i}.dicom'), 256, 256)
    return root


def test_normal_means_every_reader_said_no_finding(kaggle_root):
    ds = build(kaggle_root, fusion='majority')
    d = by_id(ds)
    # m1 has no box left after the vote, yet is not a 'No finding' image.
    assert split(d['m1']) == ([], [])
    assert d['m1']['is_normal'] is False
    assert d['n1']['is_normal'] is True and d['n1']['instances'] == []
    assert d['o1']['is_normal'] is False
    s = ds.summary
    assert s['images_normal'] == 1 and s['images_negative'] == 3
    assert s['images_no_box_not_normal'] == 2
    assert 'absent (normal = every annotation row' in ds.format_summary()
    # WBF keeps the single reader's box.
    assert [i['bbox_label'] for i in split(by_id(build(kaggle_root))['m1'])[0]] == [CARDIO]


def test_outside_labels_ignore_drop_image_as_class(kaggle_root):
    ds = build(kaggle_root)  # default: ignore
    pos, ign = split(by_id(ds)['o1'])
    assert pos == [] and sorted(i['bbox_label'] for i in ign) == list(range(14))
    for i in ign:
        assert i['bbox'] == [20.0, 30.0, 60.0, 90.0]
    assert ds.summary['outside_or_invalid_per_label'] == {
        'Edema': dict(ignore_regions=1, unlocated=0, degenerate=0)
    }
    assert 'Edema' in ds.format_summary()
    # Ignore regions are no class (get_cat_ids feeds class-aware samplers).
    o1 = [k for k in range(len(ds)) if ds.get_data_info(k)['image_id'] == 'o1'][0]
    assert ds.get_cat_ids(o1) == []

    # filter_empty_gt: ignore regions are no ground truth either.
    ds = build(kaggle_root, filter_cfg=dict(filter_empty_gt=True))
    assert set(by_id(ds)) == {'m1'} and ds.summary['images_removed_by_filter_cfg'] == 2

    ds = build(kaggle_root, outside_labels='drop_image')
    assert 'o1' not in by_id(ds) and ds.summary['images_dropped_outside_labels'] == 1

    ds = build(kaggle_root, outside_labels='as_class')
    pos, ign = split(by_id(ds)['o1'])
    assert [i['bbox_label'] for i in pos] == [OTHER] and ign == []
    assert ds.summary['rows']['rows_outside_label_as Other lesion: Edema'] == 1

    with pytest.raises(ValueError, match='outside_labels must be one of'):
        build(kaggle_root, outside_labels='skip')


def test_ignore_regions_reach_the_data_sample(kaggle_root):
    pipeline = [
        dict(type='LoadCXRImage'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True),
        dict(
            type='mmdet.PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'is_normal'),
        ),
    ]
    ds = build(kaggle_root, pipeline=pipeline)
    samples = {
        osp.basename(ds[i]['data_samples'].img_path): ds[i]['data_samples'] for i in range(3)
    }
    o1 = samples['o1.dicom']
    assert len(o1.gt_instances) == 0 and len(o1.ignored_instances) == 14
    assert o1.is_normal is False and samples['n1.dicom'].is_normal is True


PHYS_TRAIN = [
    # t1..t6: lesions of the 14, fused from three readers
    *[
        f't{k},R{r},Cardiomegaly,{100 + r},{100 + r},{200 + r},{220 + r}'
        for k in range(1, 7)
        for r in (1, 2, 3)
    ],
    # g1: every annotation row 'No finding', but image_labels says Pneumonia (global label)
    'g1,R1,No finding,,,,',
    'g1,R2,No finding,,,,',
    'g1,R3,No finding,,,,',
    # x1: only labels outside the 14
    'x1,R1,Rib fracture,10,10,40,30',
    'x1,R2,Emphysema,50,50,150,150',
    'x1,R3,No finding,,,,',
    *[f'n{k},R{r},No finding,,,,' for k in range(1, 5) for r in (1, 2, 3)],
]
PHYS_TEST = [
    # consensus rows: two overlapping boxes of one class stay two boxes (no fusion)
    'c1,R8,Nodule/Mass,40,40,80,80',
    'c1,R8,Nodule/Mass,50,50,90,90',
    'c2,R9,No finding,,,,',
    'c3,R10,Lung cyst,30,30,70,70',  # outside the 14 only
]
LABELS_HEADER = 'image_id,rad_ID,Pneumonia,Lung tumor,Aortic enlargement,Cardiomegaly,No finding'


@pytest.fixture
def physionet_root(tmp_path):
    root = tmp_path / 'vindr-physionet'
    ann = root / 'annotations'
    ann.mkdir(parents=True)
    (ann / 'annotations_train.csv').write_text('\n'.join([PHYSIONET_HEADER] + PHYS_TRAIN) + '\n')
    (ann / 'annotations_test.csv').write_text('\n'.join([PHYSIONET_HEADER] + PHYS_TEST) + '\n')
    train_ids = sorted({r.split(',')[0] for r in PHYS_TRAIN})
    labels = [LABELS_HEADER]
    for i in train_ids:
        for r in ('R1', 'R2', 'R3'):
            normal = i.startswith('n') or (i == 'g1' and r != 'R2')
            pneumonia = int(i == 'g1' and r == 'R2')
            labels.append(f'{i},{r},{pneumonia},0,0,{int(i.startswith("t"))},{int(normal)}')
    (ann / 'image_labels_train.csv').write_text('\n'.join(labels) + '\n')
    # image_labels_test.csv deliberately absent: the summary must say so.
    for i in train_ids:
        write_dicom(str(root / 'train' / f'{i}.dicom'), 300, 300)
    for i in ('c1', 'c2', 'c3'):
        write_dicom(str(root / 'test' / f'{i}.dicom'), 300, 300)
    return root


def physionet_datasets(root):
    base = Config.fromfile(PHYSIONET_BASE)
    return {
        part: build(root, **dict(base[f'physionet_{part}_dataset'], data_root=str(root)))
        for part in ('train', 'val', 'test')
    }


def test_physionet_layout_official_test_and_image_labels(physionet_root):
    parts = physionet_datasets(physionet_root)
    ids = {k: set(by_id(v)) for k, v in parts.items()}
    train_ids = {r.split(',')[0] for r in PHYS_TRAIN}
    assert ids['train'] | ids['val'] == train_ids and not ids['train'] & ids['val']
    assert len(ids['val']) == 1  # 10 % of 12, no test share
    assert ids['test'] == {'c1', 'c2', 'c3'}
    for ds in parts.values():
        assert ds.metainfo['test_set'] == 'physionet-official'
    assert parts['test'].metainfo['split'] == 'test'
    assert parts['train'].metainfo['split'] == 'train'

    every = {**by_id(parts['train']), **by_id(parts['val'])}
    assert every['g1']['is_normal'] is False  # image_labels_train.csv: a reader said Pneumonia
    assert all(every[f'n{k}']['is_normal'] for k in range(1, 5))
    assert every['x1']['is_normal'] is False and split(every['x1'])[0] == []
    assert len(split(every['x1'])[1]) == 2 * 14
    s = {**parts['train'].summary}
    if 'g1' in ids['val']:
        s = parts['val'].summary
    assert s['image_labels_file'].endswith('image_labels_train.csv')
    assert s['images_abnormal_by_image_labels_only'] == 1

    test = by_id(parts['test'])
    pos, _ = split(test['c1'])
    assert sorted(i['bbox'] for i in pos) == [[40, 40, 80, 80], [50, 50, 90, 90]]
    assert test['c2']['is_normal'] is True
    assert test['c3']['is_normal'] is False and len(split(test['c3'])[1]) == 14
    assert parts['test'].summary['image_labels_file'] is None
    assert 'image labels: absent' in parts['test'].format_summary()


def test_kaggle_layout_records_its_test_set(kaggle_root):
    ds = build(kaggle_root, split='train', split_seed=3)
    assert ds.metainfo['test_set'] == 'kaggle-split-seed3' and ds.metainfo['split'] == 'train'
    assert ds.summary['test_set'] == 'kaggle-split-seed3'


def test_png_without_size_table_entry_is_an_error(tmp_path):
    root = tmp_path / 'png'
    (root / 'train.csv').parent.mkdir(parents=True)
    (root / 'train.csv').write_text(
        KAGGLE_HEADER + '\nq1,Cardiomegaly,3,R1,900,1200,2100,1900\nq2,No finding,14,R1,,,,\n'
    )
    write_png(str(root / 'png' / 'q1.png'), 400, 512)
    write_png(str(root / 'png' / 'q2.png'), 400, 512)
    kw = dict(data_prefix=dict(img='png/'), img_suffix='.png')
    with pytest.raises(ValueError) as e:
        build(root, **kw)
    msg = str(e.value)
    assert 'q1.png' in msg and 'dicom_to_png.py' in msg and 'meta_file' in msg
    # Partial table: still an error, naming the unlisted image.
    (root / 'png' / 'image_meta.csv').write_text('image_id,width,height\nq1,2500,3200\n')
    with pytest.raises(ValueError, match='q2.png'):
        build(root, **kw)
    # The converter's table inside the image folder is found without meta_file.
    (root / 'png' / 'image_meta.csv').write_text(
        'image_id,width,height\nq1,2500,3200\nq2,2500,3200\n'
    )
    (q1,) = split(by_id(build(root, **kw))['q1'])[0]
    np.testing.assert_allclose(q1['bbox'], [144, 192, 336, 304], atol=1e-3)


def test_converted_png_boxes_equal_scaled_dicom_boxes(small_demo_root, tmp_path):
    dicom_to_png = load_tool('tools/dataset_converters/dicom_to_png.py')
    vindr = small_demo_root / 'vindr'
    out = tmp_path / 'png'
    assert (
        dicom_to_png.main([str(vindr / 'train'), str(out), '--long-side', '100', '--workers', '0'])
        == 0
    )
    assert (out / 'image_meta.csv').is_file()
    dcm = by_id(build(vindr, size_cache_file=None))
    png = by_id(
        build(
            vindr,
            data_prefix=dict(img=str(out)),
            img_suffix='.png',
            meta_file=None,  # the converter's own <out>/image_meta.csv is found
            size_cache_file=None,
        )
    )
    assert set(png) == set(dcm) and len(png) > 0
    n_boxes = 0
    for image_id, d in dcm.items():
        p = png[image_id]
        assert max(p['width'], p['height']) == 100
        sx, sy = p['width'] / d['width'], p['height'] / d['height']
        assert [i['bbox_label'] for i in p['instances']] == [
            i['bbox_label'] for i in d['instances']
        ]
        for a, b in zip(p['instances'], d['instances']):
            x1, y1, x2, y2 = b['bbox']
            np.testing.assert_allclose(a['bbox'], [x1 * sx, y1 * sy, x2 * sx, y2 * sy], atol=0.5)
            n_boxes += 1
        assert p['is_normal'] == d['is_normal']
    assert n_boxes > 0
