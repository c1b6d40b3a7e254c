"""tools/dataset_converters/dicom_to_png.py end to end on demo DICOMs."""

import csv
import os
import os.path as osp

import cv2
import numpy as np
import pydicom
import pytest
from cxr_testing import run_tool

from cxr_mm.core.demo_data import make_vindr
from cxr_mm.core.dicom import read_dicom

TOOL = 'tools/dataset_converters/dicom_to_png.py'


@pytest.fixture(scope='module')
def dicom_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('vindr')
    make_vindr(str(root), np.random.default_rng(3), num_images=6, size_range=(96, 128))
    return osp.join(str(root), 'train')


def _read_meta(path):
    with open(path) as f:
        return {r['image_id']: r for r in csv.DictReader(f)}


def test_convert_resume_and_meta(dicom_dir, tmp_path):
    out = str(tmp_path / 'png')
    # A nested folder is mirrored in the output.
    nested = osp.join(dicom_dir, 'sub')
    os.makedirs(nested, exist_ok=True)
    first = sorted(os.listdir(dicom_dir))[0]
    src = osp.join(dicom_dir, first)
    pydicom.dcmread(src).save_as(osp.join(nested, 'copy.dcm'))
    try:
        proc = run_tool(
            [TOOL, dicom_dir, out, '--long-side', '64', '--bits', '16', '--workers', '2']
        )
    finally:
        os.remove(osp.join(nested, 'copy.dcm'))
        os.rmdir(nested)
    assert '7 converted, 0 already done' in proc.stdout
    meta = _read_meta(osp.join(out, 'image_meta.csv'))
    assert len(meta) == 7 and 'sub/copy' in meta
    for image_id, row in meta.items():
        png = cv2.imread(osp.join(out, image_id + '.png'), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and max(png.shape) == 64
        src_path = (
            osp.join(dicom_dir, first)
            if image_id == 'sub/copy'
            else osp.join(dicom_dir, image_id + '.dicom')
        )
        ds = pydicom.dcmread(src_path, stop_before_pixels=True)
        assert (int(row['width']), int(row['height'])) == (ds.Columns, ds.Rows)
        assert row['photometric_interpretation'] == ds.PhotometricInterpretation
        assert float(row['pixel_spacing_row']) == pytest.approx(float(ds.PixelSpacing[0]))
        # Content: the DICOM pipeline, resized with INTER_AREA.
        ref, _ = read_dicom(src_path, dtype='uint16', target_long_side=64)
        scale = 64 / max(ref.shape)
        ref = cv2.resize(
            ref,
            (round(ref.shape[1] * scale), round(ref.shape[0] * scale)),
            interpolation=cv2.INTER_AREA,
        )
        np.testing.assert_array_equal(png, ref)
    assert not [f for f in os.listdir(out) if '.tmp-' in f]

    # Resume: nothing redone, files untouched.
    stamps = {
        f: os.stat(osp.join(out, f)).st_mtime_ns for f in os.listdir(out) if f.endswith('.png')
    }
    victim = sorted(stamps)[0]
    os.remove(osp.join(out, victim))
    proc = run_tool([TOOL, dicom_dir, out, '--long-side', '64', '--bits', '16', '--workers', '0'])
    assert '1 converted, 5 already done' in proc.stdout
    for f, stamp in stamps.items():
        if f != victim:
            assert os.stat(osp.join(out, f)).st_mtime_ns == stamp
    assert osp.exists(osp.join(out, victim))
    assert len(_read_meta(osp.join(out, 'image_meta.csv'))) == 6


def test_failure_report_and_exit_code(dicom_dir, tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    good = sorted(os.listdir(dicom_dir))[:2]
    for name in good:
        (src / name).write_bytes(open(osp.join(dicom_dir, name), 'rb').read())
    (src / 'broken.dicom').write_bytes(b'\x00' * 50)
    data = open(osp.join(dicom_dir, good[0]), 'rb').read()
    (src / 'cut.dicom').write_bytes(data[: len(data) // 2])
    out = tmp_path / 'png'
    meta_csv = tmp_path / 'meta' / 'm.csv'
    proc = run_tool(
        [TOOL, str(src), str(out), '--bits', '8', '--workers', '2', '--meta-csv', str(meta_csv)],
        check=False,
    )
    assert proc.returncode != 0
    assert 'FAILED (2)' in proc.stderr
    assert 'broken.dicom' in proc.stderr and 'cut.dicom' in proc.stderr
    assert '2 converted' in proc.stdout and '2 failed' in proc.stdout
    pngs = sorted(f for f in os.listdir(out) if f.endswith('.png'))
    assert pngs == sorted(n.replace('.dicom', '.png') for n in good)
    assert sorted(set(os.listdir(out)) - set(pngs)) == ['conversion.json', 'failures.txt']
    report = (out / 'failures.txt').read_text()
    assert 'broken.dicom' in report and 'cut.dicom' in report
    img = cv2.imread(str(out / pngs[0]), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and img.ndim == 2
    assert set(_read_meta(meta_csv)) == {n[:-6] for n in good}
