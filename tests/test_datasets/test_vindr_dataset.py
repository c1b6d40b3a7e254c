"""VinDrCXRDataset on synthetic CSVs in the Kaggle and PhysioNet formats."""

import json
import os.path as osp

import numpy as np
import pytest
from cxr_testing import (
    KAGGLE_HEADER,
    PHYSIONET_HEADER,
    UGLY_KAGGLE,
    many_vindr_images,
    write_dicom,
    write_png,
)
from mmdet.registry import DATASETS

import cxr_mm.register  # noqa: F401
from cxr_mm.core.classes import VINDR_CLASSES

CARDIO = VINDR_CLASSES.index('Cardiomegaly')
NODULE = VINDR_CLASSES.index('Nodule/Mass')
EFFUSION = VINDR_CLASSES.index('Pleural effusion')
OTHER = VINDR_CLASSES.index('Other lesion')


@pytest.fixture
def kaggle_root(tmp_path):
    root = tmp_path / 'vindr'
    (root / 'train').mkdir(parents=True)
    (root / 'train.csv').write_text('\n'.join([KAGGLE_HEADER] + UGLY_KAGGLE) + '\n')
    write_dicom(str(root / 'train' / 'a1.dicom'), 512, 400)
    write_dicom(str(root / 'train' / 'b2.dicom'), 300, 300)
    write_dicom(str(root / 'train' / 'c3.dicom'), 400, 400)
    # a1's size from the meta CSV; b2, c3 from the DICOM headers.
    (root / 'image_meta.csv').write_text('image_id,width,height\na1,512,400\n')
    return root


def build(root, **kw):
    # Scoped type: the default scope may be mmpretrain's in a shared run.
    cfg = dict(type='mmdet.VinDrCXRDataset', data_root=str(root), pipeline=[])
    cfg.update(kw)
    return DATASETS.build(cfg)


def positives(info):
    return [i for i in info['instances'] if i['ignore_flag'] == 0]


def by_id(ds):
    return {ds.get_data_info(i)['image_id']: ds.get_data_info(i) for i in range(len(ds))}


def test_ugly_kaggle_rows_raise_naming_file_and_lines(kaggle_root):
    with pytest.raises(ValueError) as e:
        build(kaggle_root)
    msg = str(e.value)
    assert 'train.csv' in msg and '3 invalid row(s)' in msg
    assert "line 7: unknown class_name 'Lung Nodule'" in msg
    assert 'line 8: class_id 5 does not match' in msg
    assert 'line 9: missing or non-numeric box coordinates' in msg


def test_ugly_kaggle_rows_documented_treatment(kaggle_root):
    ds = build(kaggle_root, on_invalid_row='drop')
    s = ds.summary
    rows = s['rows']
    assert rows['rows_total'] == 15
    assert rows['rows_duplicate'] == 1
    assert rows['rows_invalid: unknown class_name'] == 1
    assert rows['rows_invalid: class_id mismatch'] == 1
    assert rows['rows_invalid: missing or non-numeric box coordinates on a finding'] == 1
    assert rows['rows_no_finding'] == 4
    assert rows['boxes_clipped_to_image'] == 1
    assert rows['boxes_degenerate_dropped'] == 1
    assert s['images_annotated'] == 4
    assert s['images_missing_file'] == 1
    assert s['missing_examples'][0].endswith('d4.dicom')
    assert s['images'] == 3 and s['images_negative'] == 1
    assert s['boxes_per_class_raw']['Cardiomegaly'] == 3  # d4 not counted
    assert s['boxes_per_class_fused']['Cardiomegaly'] == 1
    assert s['sizes']['from_meta_file'] == 1
    assert s['sizes']['header_reads'] == 2
    assert 'Cardiomegaly' in ds.format_summary()

    d = by_id(ds)
    assert (d['a1']['width'], d['a1']['height']) == (512, 400)
    assert (d['c3']['width'], d['c3']['height']) == (400, 400)
    a1 = sorted(positives(d['a1']), key=lambda i: i['bbox_label'])
    assert [i['bbox_label'] for i in a1] == [CARDIO, NODULE]
    np.testing.assert_allclose(a1[0]['bbox'], [100, 200, 300, 260], atol=1e-2)
    np.testing.assert_allclose(a1[1]['bbox'], [50, 50, 60, 60], atol=1e-2)
    # Lines 7 and 8 (dropped as invalid) are ignore regions of every class, not lost.
    ignored = [i for i in d['a1']['instances'] if i['ignore_flag'] == 1]
    assert sorted(i['bbox_label'] for i in ignored) == sorted(list(range(14)) * 2)
    for i in ignored:
        np.testing.assert_allclose(i['bbox'], [10, 10, 20, 20], atol=1e-2)
    assert s['outside_or_invalid_per_label'] == {
        'invalid row: Aortic enlargement': dict(ignore_regions=0, unlocated=1, degenerate=0),
        'invalid row: Cardiomegaly': dict(ignore_regions=1, unlocated=0, degenerate=0),
        'invalid row: Lung Nodule': dict(ignore_regions=1, unlocated=0, degenerate=0),
    }
    assert [d[i]['is_normal'] for i in ('a1', 'b2', 'c3')] == [False, True, False]
    assert s['images_normal'] == 1
    assert d['b2']['instances'] == []  # negative kept
    (c3,) = d['c3']['instances']
    assert c3['bbox_label'] == EFFUSION
    np.testing.assert_allclose(c3['bbox'], [0, 300, 120, 400], atol=1e-2)
    assert d['a1']['img_path'] == osp.join(str(kaggle_root), 'train', 'a1.dicom')
    assert sorted(x['img_id'] for x in d.values()) == [1, 2, 3]
    assert d['a1']['num_readers'] == 3
    assert ds.get_cat_ids(0) == [i['bbox_label'] for i in positives(ds.get_data_info(0))]


def test_fusion_variants_and_negatives(kaggle_root):
    kw = dict(on_invalid_row='drop')
    a1_majority = by_id(build(kaggle_root, fusion='majority', **kw))['a1']
    assert [i['bbox_label'] for i in positives(a1_majority)] == [CARDIO]
    a1_none = by_id(build(kaggle_root, fusion='none', **kw))['a1']
    assert sorted(i['bbox_label'] for i in positives(a1_none)) == [CARDIO] * 3 + [NODULE]
    ds = build(kaggle_root, keep_negatives=False, **kw)
    assert 'b2' not in by_id(ds)
    assert ds.summary['images_negative_dropped'] == 1
    ds = build(kaggle_root, filter_cfg=dict(filter_empty_gt=True), **kw)
    assert 'b2' not in by_id(ds)
    assert ds.summary['images_removed_by_filter_cfg'] == 1
    with pytest.raises(ValueError, match='fusion must be one of'):
        build(kaggle_root, fusion='avg')


def test_missing_files_error_mode(kaggle_root):
    with pytest.raises(FileNotFoundError, match='d4.dicom'):
        build(kaggle_root, on_invalid_row='drop', missing_files='error')


def test_wrong_columns_error_names_file_and_columns(tmp_path):
    (tmp_path / 'train.csv').write_text(
        'image_id,class,rad_id,x_min,y_min,x_max,y_max\na1,Cardiomegaly,R1,1,2,3,4\n'
    )
    with pytest.raises(ValueError) as e:
        build(tmp_path)
    assert 'train.csv' in str(e.value) and "['class_name']" in str(e.value)

    (tmp_path / 'image_meta.csv').write_text('image_id,w,h\na1,5,5\n')
    (tmp_path / 'train.csv').write_text(KAGGLE_HEADER + '\na1,Cardiomegaly,3,R1,1,2,3,4\n')
    write_dicom(str(tmp_path / 'train' / 'a1.dicom'), 8, 8)
    with pytest.raises(ValueError, match=r"image_meta.csv.*\['width', "):
        build(tmp_path)


PHYSIONET_ROWS = [
    'p1,R8,Cardiomegaly,100,200,300,260',
    'p1,R9,Cardiomegaly,104,204,304,264',
    'p1,R10,Rib fracture,20,20,60,40',  # local label outside the 14
    'p1,R10,Edema,30,30,90,90',  # local label outside the 14
    'p2,R8,No finding,,,,',
    'p2,R9,No finding,,,,',
    'p2,R10,No finding,,,,',
    'p3,R8,Lung cyst,20,20,60,40',
    'p3,R9,No finding,,,,',
    'p3,R10,No finding,,,,',
]


@pytest.fixture
def physionet_root(tmp_path):
    root = tmp_path / 'physionet'
    for split in ('train', 'test'):
        (root / f'annotations_{split}.csv').parent.mkdir(parents=True, exist_ok=True)
        (root / f'annotations_{split}.csv').write_text(
            '\n'.join([PHYSIONET_HEADER] + PHYSIONET_ROWS) + '\n'
        )
    for i in ('p1', 'p2', 'p3'):
        write_dicom(str(root / 'train' / f'{i}.dicom'), 320, 320)
        write_dicom(str(root / 'test' / f'{i}.dicom'), 320, 320)
    return root


def test_physionet_format_and_label_map(physionet_root):
    ds = build(physionet_root, ann_file='annotations_train.csv', meta_file=None)
    rows = ds.summary['rows']
    assert rows['rows_ignored_by_label_map: Rib fracture'] == 1
    assert rows['rows_ignored_by_label_map: Edema'] == 1
    assert rows['rows_ignored_by_label_map: Lung cyst'] == 1
    d = by_id(ds)
    assert [i['bbox_label'] for i in positives(d['p1'])] == [CARDIO]
    # p3's only finding is outside the 14: no positive box, an ignore region, not normal.
    assert positives(d['p3']) == [] and len(d['p3']['instances']) == 14
    assert ds.summary['images_negative'] == 2 and ds.summary['images_normal'] == 1
    assert [d[i]['is_normal'] for i in ('p1', 'p2', 'p3')] == [False, True, False]

    ds = build(
        physionet_root,
        ann_file='annotations_test.csv',
        data_prefix=dict(img='test/'),
        label_map={'Rib fracture': 'Other lesion', 'Lung cyst': 'Other lesion'},
    )
    d = by_id(ds)
    assert sorted(i['bbox_label'] for i in positives(d['p1'])) == [CARDIO, OTHER]
    assert [i['bbox_label'] for i in d['p3']['instances']] == [OTHER]  # no Edema there
    assert d['p1']['img_path'].endswith(osp.join('test', 'p1.dicom'))

    with pytest.raises(ValueError, match='not one of the classes'):
        build(physionet_root, ann_file='annotations_train.csv', label_map={'Edema': 'Oedema'})


def test_sizes_cached_and_resized_png_boxes_scaled(tmp_path):
    root = tmp_path / 'png'
    (root / 'train.csv').parent.mkdir(parents=True)
    (root / 'train.csv').write_text(
        KAGGLE_HEADER + '\nq1,Cardiomegaly,3,R1,100,100,300,200\nq2,No finding,14,R1,,,,\n'
    )
    # Converted to PNG at half size; meta gives the original DICOM size.
    write_png(str(root / 'png' / 'q1.png'), 200, 150)
    write_png(str(root / 'png' / 'q2.png'), 100, 100)
    (root / 'image_meta.csv').write_text('image_id,width,height\nq1,400,300\nq2,100,100\n')
    kw = dict(data_prefix=dict(img='png/'), img_suffix='.png')
    ds = build(root, **kw)
    d = by_id(ds)
    assert (d['q1']['width'], d['q1']['height']) == (200, 150)
    np.testing.assert_allclose(d['q1']['instances'][0]['bbox'], [50, 50, 150, 100], atol=1e-2)
    assert (d['q2']['width'], d['q2']['height']) == (100, 100)
    assert ds.summary['sizes']['header_reads'] == 2
    assert (root / 'image_sizes_cache.csv').is_file()

    # A second build in a fresh process reads the disk cache.
    from cxr_mm.core.image_size import clear_size_cache

    clear_size_cache()
    ds2 = build(root, **kw)
    assert ds2.summary['sizes']['header_reads'] == 0
    assert ds2.summary['sizes']['disk_cache_entries'] == 2
    assert by_id(ds2)['q1'] == d['q1']


def test_split_deterministic_stratified_and_written(tmp_path):
    root = tmp_path / 'many'
    (root / 'train').mkdir(parents=True)
    n = many_vindr_images(root)
    kw = dict(img_suffix='.png', split_ratios=(0.6, 0.2, 0.2), split_seed=1)
    parts = {s: build(root, split=s, **kw) for s in ('train', 'val', 'test')}
    ids = {s: set(by_id(ds)) for s, ds in parts.items()}
    assert sum(len(v) for v in ids.values()) == n
    assert not (ids['train'] & ids['val'] or ids['train'] & ids['test'] or ids['val'] & ids['test'])
    assert [len(ids[s]) for s in ('train', 'val', 'test')] == [54, 18, 18]

    payload = json.loads((root / 'splits.json').read_text())
    assert set(payload['train']) == ids['train']
    assert payload['meta']['seed'] == 1
    # Rebuilding reads the file; a different seed against it is an error.
    assert set(by_id(build(root, split='val', **kw))) == ids['val']
    with pytest.raises(ValueError, match='seed'):
        build(root, split='val', **dict(kw, split_seed=2))
    # Another file, another seed: another split.
    other = build(root, split='val', split_file='other.json', **dict(kw, split_seed=2))
    assert set(by_id(other)) != ids['val']

    # Stratified: each rarest-class stratum within 2 images of its quota.
    from cxr_mm.core.splits import assign_strata

    full = build(root, img_suffix='.png')
    strata = assign_strata(full.image_labels)
    for stratum in set(strata.values()):
        members = {i for i, s in strata.items() if s == stratum}
        for s, ratio in zip(('train', 'val', 'test'), (0.6, 0.2, 0.2)):
            assert abs(len(members & ids[s]) - ratio * len(members)) <= 2


def test_coco_export_loads_in_pycocotools_and_mmdet(kaggle_root, tmp_path):
    from mmdet.datasets import CocoDataset
    from pycocotools.coco import COCO

    ds = build(kaggle_root, on_invalid_row='drop')
    out = str(tmp_path / 'coco.json')
    ds.to_coco(out)
    coco = COCO(out)
    assert len(coco.getImgIds()) == len(ds) == 3
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(VINDR_CLASSES)
    assert len(coco.getAnnIds()) == sum(
        len(ds.get_data_info(i)['instances']) for i in range(len(ds))
    )

    cds = CocoDataset(
        ann_file=out,
        data_prefix=dict(img=osp.join(str(kaggle_root), 'train')),
        metainfo=dict(classes=VINDR_CLASSES),
        pipeline=[],
    )
    ours = {d['img_id']: d for d in (ds.get_data_info(i) for i in range(len(ds)))}
    assert len(cds) == len(ours)
    for i in range(len(cds)):
        theirs = cds.get_data_info(i)
        mine = ours[theirs['img_id']]
        assert osp.normpath(theirs['img_path']) == osp.normpath(mine['img_path'])
        assert (theirs['width'], theirs['height']) == (mine['width'], mine['height'])
        key = lambda inst: (inst['bbox_label'], inst['bbox'])  # noqa: E731
        t = sorted(theirs['instances'], key=key)
        m = sorted(mine['instances'], key=key)
        assert [x['bbox_label'] for x in t] == [x['bbox_label'] for x in m]
        for a, b in zip(t, m):
            np.testing.assert_allclose(a['bbox'], b['bbox'], atol=1e-3)


def test_pipeline_on_png_and_on_demo_dicoms(kaggle_root, tmp_path, small_demo_root):
    root = tmp_path / 'many'
    (root / 'train').mkdir(parents=True)
    many_vindr_images(root, n=6)
    ds = build(
        root,
        img_suffix='.png',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='mmdet.LoadAnnotations', with_bbox=True),
            dict(type='mmdet.PackDetInputs'),
        ],
    )
    item = ds[0]
    gt = item['data_samples'].gt_instances
    info = ds.get_data_info(0)
    assert item['inputs'].shape[1:] == (64, 64)
    assert len(gt) == len(info['instances'])

    ds = build(
        small_demo_root / 'vindr',
        split='train',
        pipeline=[
            dict(type='LoadCXRImage'),
            dict(type='mmdet.LoadAnnotations', with_bbox=True),
            dict(type='mmdet.Resize', scale=(128, 128), keep_ratio=True),
            dict(type='mmdet.PackDetInputs'),
        ],
    )
    assert len(ds) > 0 and ds.summary['images_missing_file'] == 0
    assert sum(ds.summary['boxes_per_class_fused'].values()) > 0
    for i in range(min(2, len(ds))):
        item = ds[i]
        info = ds.get_data_info(i)
        assert tuple(item['data_samples'].ori_shape) == (info['height'], info['width'])
        assert max(item['inputs'].shape[1:]) == 128
