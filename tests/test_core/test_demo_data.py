"""Demo data: official formats, determinism, learnable lesions."""

import csv
import filecmp
import os
import os.path as osp
from collections import defaultdict

import cv2
import numpy as np
import pandas as pd
import pydicom
import pytest
from cxr_testing import run_tool

from cxr_mm.core.demo_data import (
    NIH_CLASSES,
    NIH_CSV_COLUMNS,
    VINDR_CLASSES,
    VINDR_CSV_COLUMNS,
    make_demo_data,
    render_chest,
)
from cxr_mm.core.dicom import read_dicom

SMALL = dict(nih_patients=12, nih_images=30, vindr_images=24)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo'))
    summary = make_demo_data(root, seed=0, **SMALL)
    return root, summary


def _tree(root):
    return sorted(osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_deterministic_by_seed(demo, tmp_path):
    root, _ = demo
    again = str(tmp_path / 'again')
    make_demo_data(again, seed=0, **SMALL)
    files = _tree(root)
    assert files == _tree(again)
    _, mismatch, errors = filecmp.cmpfiles(root, again, files, shallow=False)
    assert not mismatch and not errors
    other = str(tmp_path / 'other')
    make_demo_data(other, seed=1, **SMALL)
    assert not filecmp.cmp(
        osp.join(root, 'vindr', 'train.csv'), osp.join(other, 'vindr', 'train.csv'), shallow=False
    )


def test_nih_format(demo):
    root, summary = demo
    nih = osp.join(root, 'nih')
    with open(osp.join(nih, 'Data_Entry_2017.csv')) as f:
        header = f.readline().rstrip('\n')
    assert header == ','.join(NIH_CSV_COLUMNS) + ','  # official: trailing ,
    df = pd.read_csv(osp.join(nih, 'Data_Entry_2017.csv'))
    assert list(df.columns[:11]) == NIH_CSV_COLUMNS
    assert len(df) == SMALL['nih_images']
    for labels in df['Finding Labels']:
        names = labels.split('|')
        assert names == ['No Finding'] or set(names) <= set(NIH_CLASSES)
    assert (df['Finding Labels'] == 'No Finding').any()
    assert df.groupby('Patient ID').size().max() > 1  # several per patient
    for _, row in df.iterrows():
        assert row['Image Index'] == f'{row["Patient ID"]:08d}_{row["Follow-up #"]:03d}.png'
        img = cv2.imread(osp.join(nih, 'images', row['Image Index']), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint8 and img.shape == (256, 256)
    tv = open(osp.join(nih, 'train_val_list.txt')).read().split()
    te = open(osp.join(nih, 'test_list.txt')).read().split()
    assert sorted(tv + te) == sorted(df['Image Index'])
    pid = dict(zip(df['Image Index'], df['Patient ID']))
    assert te and not {pid[i] for i in tv} & {pid[i] for i in te}


def test_vindr_format(demo):
    root, summary = demo
    vindr = osp.join(root, 'vindr')
    df = pd.read_csv(osp.join(vindr, 'train.csv'))
    assert list(df.columns) == VINDR_CSV_COLUMNS
    meta = pd.read_csv(osp.join(vindr, 'image_meta.csv'))
    assert list(meta.columns) == ['image_id', 'width', 'height']
    assert len(meta) == SMALL['vindr_images']
    assert set(df['image_id']) == set(meta['image_id'])
    sizes = {r.image_id: (r.width, r.height) for r in meta.itertuples()}
    names = dict(enumerate(VINDR_CLASSES))
    names[14] = 'No finding'
    for r in df.itertuples():
        assert names[r.class_id] == r.class_name
        assert r.rad_id in {f'R{i}' for i in range(1, 18)}
        if r.class_id == 14:
            assert np.isnan([r.x_min, r.y_min, r.x_max, r.y_max]).all()
        else:
            w, h = sizes[r.image_id]
            assert 0 <= r.x_min < r.x_max <= w
            assert 0 <= r.y_min < r.y_max <= h
    rads = df.groupby('image_id')['rad_id'].nunique()
    assert (rads == 3).all()
    negative = df.groupby('image_id')['class_id'].apply(lambda s: (s == 14).all())
    assert 0.1 < negative.mean() < 0.5

    seen = defaultdict(set)
    for image_id, (w, h) in sizes.items():
        path = osp.join(vindr, 'train', f'{image_id}.dicom')
        ds = pydicom.dcmread(path)
        assert (ds.Columns, ds.Rows) == (w, h)
        assert 384 <= max(w, h) <= 512
        seen['photometric'].add(ds.PhotometricInterpretation)
        seen['bits'].add(ds.BitsStored)
        seen['syntax'].add(ds.file_meta.TransferSyntaxUID.name)
        seen['window'].add('WindowCenter' in ds)
        img, m = read_dicom(path, dtype='uint8')
        assert img.shape == (h, w)
        assert img.std() > 20  # a real picture after VOI, not flat
    assert seen['photometric'] == {'MONOCHROME1', 'MONOCHROME2'}
    assert seen['bits'] == {12, 16}
    assert any('JPEG 2000' in s for s in seen['syntax'])
    assert seen['window'] == {True, False}


def test_lesions_have_class_specific_appearance():
    """Each demo class changes the image where its box is, as described."""
    h = w = 160
    rng = np.random.default_rng(0)
    normal = np.mean([render_chest(rng, h, w, [])[0] for _ in range(6)], 0)
    expect = {0: 'brighter', 3: 'brighter', 8: 'brighter', 10: 'brighter', 12: 'darker'}
    for cls, direction in expect.items():
        diffs = []
        for _ in range(6):
            img, boxes = render_chest(rng, h, w, [cls])
            assert [b[0] for b in boxes] == [cls]
            _, x1, y1, x2, y2 = boxes[0]
            diffs.append(img[y1:y2, x1:x2].mean() - normal[y1:y2, x1:x2].mean())
        mean = float(np.mean(diffs))
        assert (mean > 0.02) if direction == 'brighter' else (mean < -0.02), (
            VINDR_CLASSES[cls],
            mean,
        )


def test_cli(tmp_path):
    out = str(tmp_path / 'cli')
    proc = run_tool(
        [
            'tools/dataset_converters/make_demo_data.py',
            '--out',
            out,
            '--seed',
            '2',
            '--nih-patients',
            '3',
            '--nih-images',
            '4',
            '--vindr-images',
            '3',
        ]
    )
    assert 'demo data written' in proc.stdout
    assert len(os.listdir(osp.join(out, 'nih', 'images'))) == 4
    assert len(os.listdir(osp.join(out, 'vindr', 'train'))) == 3
    with open(osp.join(out, 'vindr', 'image_meta.csv')) as f:
        assert len(list(csv.DictReader(f))) == 3


def test_lesions_are_learnable_from_pixels():
    """A linear classifier on 24x24 thumbnails finds every demo class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    kinds = [0, 3, 8, 10, 12]
    x, y = [], []
    for _ in range(160):
        lesions = [k for k in kinds if rng.random() < 0.3]
        img, _ = render_chest(rng, 128, 128, lesions)
        x.append(cv2.resize(img, (24, 24), interpolation=cv2.INTER_AREA).ravel())
        y.append([k in lesions for k in kinds])
    x, y = np.array(x), np.array(y)
    for j, k in enumerate(kinds):
        clf = LogisticRegression(max_iter=2000).fit(x[:110], y[:110, j])
        auc = roc_auc_score(y[110:, j], clf.decision_function(x[110:]))
        assert auc > 0.85, (VINDR_CLASSES[k], auc)
