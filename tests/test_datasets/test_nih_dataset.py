"""NIHChestXrayDataset on synthetic files in the official NIH format."""

import os
import os.path as osp
from collections import defaultdict

import pytest
from cxr_testing import make_nih
from mmpretrain.registry import DATASETS

import cxr_mm.register  # noqa: F401
from cxr_mm.core.classes import NIH_CLASSES
from cxr_mm.datasets.nih import NIHChestXrayDataset


def build(root, **kw):
    # Scoped type: the default scope may be mmdet's in a shared run.
    cfg = dict(type='mmpretrain.NIHChestXrayDataset', data_root=str(root))
    cfg.update(kw)
    return DATASETS.build(cfg)


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def names(ds):
    return {osp.basename(d['img_path']) for d in infos(ds)}


def patients(ds):
    return {d['patient_id'] for d in infos(ds)}


@pytest.mark.parametrize('layout,version', [('flat', '2017'), ('nested', '2020')])
def test_multilabel_both_csv_versions_and_layouts(tmp_path, layout, version):
    truth = make_nih(tmp_path, layout=layout, version=version)
    ds = build(tmp_path, ann_file=truth['ann_file'], split='train_val')
    assert isinstance(ds, NIHChestXrayDataset)
    assert names(ds) == truth['tv']
    for d in infos(ds):
        name = osp.basename(d['img_path'])
        assert osp.isfile(d['img_path'])
        assert d['gt_label'] == truth['labels'][name]
        assert d['patient_id'] == truth['patient'][name]
    assert any(d['gt_label'] == [] for d in infos(ds))  # No Finding
    assert ds.summary['images_missing_file'] == 0
    if layout == 'nested':
        assert any('images_002' in d['img_path'] for d in infos(ds))


def test_validation_carved_by_patient(tmp_path):
    truth = make_nih(tmp_path)
    train = build(tmp_path, split='train')
    val = build(tmp_path, split='val')
    tv = build(tmp_path, split='train_val')
    assert not patients(train) & patients(val)
    assert names(train) | names(val) == names(tv) == truth['tv']
    assert not names(train) & names(val)
    n_tv_patients = len(patients(tv))
    assert len(patients(val)) == round(0.1 * n_tv_patients)
    assert names(build(tmp_path, split='val')) == names(val)  # seeded
    assert names(build(tmp_path, split='val', seed=5)) != names(val)
    assert len(patients(build(tmp_path, split='val', val_ratio=0.25))) == round(
        0.25 * n_tv_patients
    )


def test_test_split_and_pretraining_guard(tmp_path):
    truth = make_nih(tmp_path)
    test = build(tmp_path, split='test')
    assert names(test) == truth['test']
    with pytest.raises(ValueError, match='test'):
        build(tmp_path, split='test', mode='unlabeled')
    pre = build(tmp_path, split='train_val', mode='unlabeled')
    assert names(pre) == truth['tv']
    assert all('gt_label' not in d for d in infos(pre))
    assert not patients(pre) & patients(test)
    assert pre.get_cat_ids(0) == []


def test_leaking_lists_are_rejected(tmp_path):
    truth = make_nih(tmp_path)
    tv_list = tmp_path / 'train_val_list.txt'
    test_name = sorted(truth['test'])[0]
    # A test image also listed for train/val.
    tv_list.write_text('\n'.join(sorted(truth['tv'] | {test_name})) + '\n')
    for mode in ('unlabeled', 'multilabel'):
        with pytest.raises(ValueError, match='in both'):
            build(tmp_path, split='train', mode=mode)
    # A test patient's other image moved to train/val.
    pid = truth['patient'][test_name]
    other = sorted(n for n, p in truth['patient'].items() if p == pid and n != test_name)[0]
    test_list = tmp_path / 'test_list.txt'
    test_list.write_text('\n'.join(sorted(truth['test'] - {other})) + '\n')
    tv_list.write_text('\n'.join(sorted(truth['tv'] | {other})) + '\n')
    with pytest.raises(ValueError, match=f'Patient ID \\[{pid}\\]'):
        build(tmp_path, split='train_val', mode='unlabeled')


def test_label_fraction_patient_level_and_stratified(tmp_path):
    truth = make_nih(tmp_path)
    train = build(tmp_path, split='train')
    train_names = names(train)
    by_patient = defaultdict(set)
    for n in train_names:
        by_patient[truth['patient'][n]].add(n)
    hernia = NIH_CLASSES.index('Hernia')
    hernia_patients = {truth['patient'][n] for n in train_names if hernia in truth['labels'][n]}
    assert len(hernia_patients) >= 6

    for frac in (0.1, 0.5):
        sub = build(tmp_path, split='train', label_fraction=frac)
        chosen = patients(sub)
        # Patient-level: a chosen patient comes with all their train images.
        assert names(sub) == set().union(*(by_patient[p] for p in chosen))
        assert abs(len(chosen) - frac * len(by_patient)) <= 1
        # Stratified: the rarest finding is represented in proportion.
        n_hernia = len(chosen & hernia_patients)
        assert n_hernia >= 1
        assert abs(n_hernia - frac * len(hernia_patients)) <= 2
        assert sub.summary['removed_by_label_fraction'] == len(train_names) - len(names(sub))
    # seeded and nested: the 10 % set lies inside the 50 % set
    assert names(build(tmp_path, split='train', label_fraction=0.1)) == names(
        build(tmp_path, split='train', label_fraction=0.1)
    )
    assert names(build(tmp_path, split='train', label_fraction=0.1)) < names(
        build(tmp_path, split='train', label_fraction=0.5)
    )
    assert names(build(tmp_path, split='train', label_fraction=1.0)) == train_names
    # Evaluation splits are never subsampled.
    assert names(build(tmp_path, split='val', label_fraction=0.1)) == names(
        build(tmp_path, split='val')
    )
    with pytest.raises(ValueError, match='label_fraction'):
        build(tmp_path, label_fraction=0)


def test_view_position_filter(tmp_path):
    truth = make_nih(tmp_path)
    pa = build(tmp_path, split='train_val', view_positions=['PA'])
    assert names(pa) == {n for n in truth['tv'] if truth['view'][n] == 'PA'}
    assert all(d['view_position'] == 'PA' for d in infos(pa))
    assert pa.summary['removed_by_view'] == len(truth['tv']) - len(pa)


def test_missing_image_files_counted_or_error(tmp_path):
    truth = make_nih(tmp_path)
    gone = sorted(truth['tv'])[:2]
    for n in gone:
        os.remove(tmp_path / 'images' / n)
    ds = build(tmp_path, split='train_val')
    assert ds.summary['images_missing_file'] == 2
    assert sorted(ds.summary['missing']) == gone
    assert names(ds) == truth['tv'] - set(gone)
    with pytest.raises(FileNotFoundError, match=gone[0]):
        build(tmp_path, split='train_val', missing_files='error')


def _rewrite_csv(root, extra_rows):
    path = root / 'Data_Entry_2017.csv'
    lines = path.read_text().splitlines()
    path.write_text('\n'.join(lines + extra_rows) + '\n')
    return len(lines)  # number of lines before the extra rows


def test_ugly_rows(tmp_path):
    make_nih(tmp_path)
    path = tmp_path / 'Data_Entry_2017.csv'
    original = path.read_text()
    first_row = original.splitlines()[1]
    n = _rewrite_csv(
        tmp_path,
        [
            first_row,  # exact duplicate: dropped and counted
            '00000099_000.png,Pneumonitis,0,99,050Y,F,PA,2048,2500,0.14,0.14,',
            '00000099_001.png,No Finding|Mass,0,99,050Y,F,PA,2048,2500,0.14,0.14,',
        ],
    )
    with pytest.raises(ValueError) as e:
        build(tmp_path, split='train')
    msg = str(e.value)
    assert 'Data_Entry_2017.csv' in msg and '2 invalid row(s)' in msg
    assert f"line {n + 2}: unknown finding(s) ['Pneumonitis']" in msg
    assert f'line {n + 3}: "No Finding" combined with findings' in msg

    ds = build(tmp_path, split='train', on_invalid_row='drop')
    assert ds.summary['rows']['rows_duplicate'] == 1
    assert ds.summary['rows']['rows_invalid_dropped'] == 2
    # dropped rows never reach the list check
    assert ds.summary['rows']['in_csv_not_listed'] == 0

    # Same image twice with different labels: an error, not a silent pick.
    path.write_text(original)
    name = first_row.split(',')[0]
    _rewrite_csv(tmp_path, [first_row.replace(first_row.split(',')[1], 'Hernia', 1)])
    with pytest.raises(ValueError, match=f'{name} listed again'):
        build(tmp_path, split='train')

    path.write_text(original.replace('Patient ID', 'PatientID'))
    with pytest.raises(ValueError) as e:
        build(tmp_path, split='train')
    assert 'Data_Entry_2017.csv' in str(e.value)
    assert "['Patient ID']" in str(e.value)


def test_unlisted_rows_and_unknown_list_entries_are_counted(tmp_path):
    truth = make_nih(tmp_path)
    tv_list = tmp_path / 'train_val_list.txt'
    dropped = sorted(truth['tv'])[0]
    tv_list.write_text('\n'.join(sorted(truth['tv'] - {dropped}) + ['99999999_000.png']) + '\n')
    ds = build(tmp_path, split='train_val')
    assert ds.summary['rows']['in_csv_not_listed'] == 1
    assert ds.summary['rows']['listed_not_in_csv'] == 1
    assert dropped not in names(ds)


def test_pipeline_from_config_and_demo_data(tmp_path, small_demo_root):
    make_nih(tmp_path / 'synthetic')
    ds = build(
        tmp_path / 'synthetic',
        split='train',
        pipeline=[dict(type='LoadImageFromFile'), dict(type='mmpretrain.PackInputs')],
    )
    item = ds[0]
    assert item['inputs'].shape[1:] == (16, 16)
    assert item['data_samples'].gt_label.tolist() == ds.get_data_info(0)['gt_label']

    root = small_demo_root / 'nih'
    tr = build(root, split='train')
    va = build(root, split='val')
    te = build(root, split='test')
    pre = build(root, split='train_val', mode='unlabeled')
    assert len(tr) and len(te) and len(pre)
    assert not patients(tr) & patients(va)
    assert not patients(pre) & patients(te)
    assert tr.summary['images_missing_file'] == 0

    ds = build(
        root,
        split='train',
        pipeline=[dict(type='LoadCXRImage'), dict(type='mmpretrain.PackInputs')],
    )
    item = ds[0]
    assert item['inputs'].shape[0] == 3 and item['inputs'].shape[1] > 16
    assert item['data_samples'].gt_label.tolist() == ds.get_data_info(0)['gt_label']


def test_wrong_columns_and_bad_option_are_named(tmp_path):
    make_nih(tmp_path, n_patients=5)
    csv = tmp_path / 'Data_Entry_2017.csv'
    lines = csv.read_text().splitlines()
    csv.write_text('\n'.join([lines[0].replace('Patient ID', 'PatientID')] + lines[1:]))
    with pytest.raises(ValueError) as e:
        build(tmp_path)
    assert 'Data_Entry_2017.csv' in str(e.value)
    assert "['Patient ID']" in str(e.value)
    with pytest.raises(ValueError, match='on_invalid_row must be one of'):
        build(tmp_path, on_invalid_row='skip')
