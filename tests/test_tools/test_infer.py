"""tools/infer.py and cxr_mm.apis: DICOM/PNG inference equal to tools/test.py, box for box."""

import csv
import json
import os.path as osp
import pickle
import shutil
import sys

import numpy as np
import pytest
from cxr_testing import load_tool, small_vindr_setup

from cxr_mm.core.classes import NO_FINDING_ID


def _run_test_py(cfg, ckpt, out_pkl, work_dir):
    """tools/test.py in this process (its main() reads sys.argv)."""
    argv = sys.argv
    sys.argv = ['test.py', cfg, ckpt, '--out', out_pkl, '--work-dir', work_dir]
    try:
        load_tool('tools/test.py').main()
    finally:
        sys.argv = argv
    with open(out_pkl, 'rb') as f:
        return pickle.load(f)


def _infer(*argv):
    return load_tool('tools/infer.py').main([*map(str, argv), '--no-progress'])


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('infer')
    cfg, ckpt, data_root = small_vindr_setup(root, num_images=5)
    results = _run_test_py(cfg, ckpt, str(root / 'results.pkl'), str(root / 'test_wd'))
    out = root / 'out'
    images = osp.join(data_root, 'train')
    assert _infer(cfg, ckpt, images, '--out-dir', out, '--batch-size', 2, '--kaggle') == 0
    return root, cfg, ckpt, images, results, out


def _records(out):
    recs = {}
    for path in (out / 'predictions').glob('*.json'):
        rec = json.loads(path.read_text())
        recs[rec['file']] = rec
    return recs


def test_infer_equals_test_py_box_for_box(setup):
    """Batches of 2 (grouped by padded shape) give test.py's 1-image-batch boxes."""
    root, cfg, ckpt, images, results, out = setup
    recs = _records(out)
    assert len(results) == 5 and set(recs) == {osp.abspath(r['img_path']) for r in results}
    total = 0
    for r in results:
        rec = recs[osp.abspath(r['img_path'])]
        pred = r['pred_instances']
        dets = rec['detections']
        assert len(dets) == len(pred['scores']) > 0
        np.testing.assert_array_equal([d['class_id'] for d in dets], pred['labels'].numpy())
        np.testing.assert_allclose([d['box'] for d in dets], pred['bboxes'].numpy(), atol=1e-3)
        np.testing.assert_allclose([d['score'] for d in dets], pred['scores'].numpy(), atol=1e-5)
        assert (rec['height'], rec['width']) == tuple(r['ori_shape'])
        assert rec['sop_instance_uid'] and rec['pixel_spacing'] and len(rec['pixel_spacing']) == 2
        total += len(dets)
    rows = list(csv.DictReader(open(out / 'predictions.csv')))
    assert len(rows) == total
    sub = list(csv.DictReader(open(out / 'submission.csv')))
    assert len(sub) == 5
    for row in sub:
        rec = next(v for v in recs.values() if v['image_id'] == row['image_id'])
        tokens = row['PredictionString'].split()
        assert len(tokens) == 6 * (len(rec['detections']) + 1)
        nf = tokens[-6:]  # the metric's rule: 1 - best score, box 0 0 1 1
        assert int(nf[0]) == NO_FINDING_ID and nf[2:] == ['0', '0', '1', '1']
        best = max(d['score'] for d in rec['detections'])
        assert float(nf[1]) == pytest.approx(1 - best, abs=1e-5)


def test_resume_and_failures(setup, tmp_path):
    """Finished images are skipped; a broken DICOM and a missing file are
    reported, the others still predicted, exit status 1."""
    root, cfg, ckpt, images, results, out = setup
    out2 = tmp_path / 'out'
    shutil.copytree(out, out2)
    first = sorted((out2 / 'predictions').glob('*.json'))[0]
    first.unlink()  # one image left to do
    broken = tmp_path / 'broken.dcm'
    broken.write_bytes(b'\0' * 128 + b'DICM' + b'\x02\x00\x10\x00garbage')
    lst = tmp_path / 'list.txt'
    lst.write_text(f'# list\n{broken}\nmissing.png\n')
    tool = load_tool('tools/infer.py')
    from cxr_mm.apis import run_inference

    summary = run_inference(cfg, ckpt, [images, str(lst)], str(out2), show_progress=False)
    assert (summary['images'], summary['predicted'], summary['skipped']) == (7, 1, 4)
    assert summary['failed'] == 2
    failed = {row['file']: row['error'] for row in csv.DictReader(open(out2 / 'failures.csv'))}
    assert set(failed) == {str(broken), str(tmp_path / 'missing.png')}
    assert 'broken.dcm' in failed[str(broken)]
    assert len(_records(out2)) == 5
    assert tool.main([cfg, ckpt, str(lst), '--out-dir', str(out2), '--no-progress']) == 1


def test_dicom_and_its_png_give_the_same_boxes(setup, tmp_path):
    """A real chest CR (pydicom-data RG1_UNCR, MONOCHROME1, 1955x1841) and the
    PNG dicom_to_png.py makes of it: boxes within 1 px in file pixels."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    root, cfg, ckpt, *_ = setup
    src = tmp_path / 'dcm'
    src.mkdir()
    dcm = src / 'rg1.dcm'
    shutil.copy(get_testdata_file('RG1_UNCR.dcm'), dcm)
    conv = load_tool('tools/dataset_converters/dicom_to_png.py')
    assert conv.main([str(src), str(tmp_path / 'png'), '--workers', '0']) == 0
    png = tmp_path / 'png' / 'rg1.png'
    assert _infer(cfg, ckpt, dcm, png, '--out-dir', tmp_path / 'out', '--batch-size', 2) == 0
    recs = _records(tmp_path / 'out')
    a, b = recs[str(dcm)], recs[str(png)]
    assert a['image_id'] != b['image_id']  # same stem: told apart by a path hash
    ds = dcmread(dcm, stop_before_pixels=True)
    assert (a['height'], a['width']) == (b['height'], b['width']) == (ds.Rows, ds.Columns)
    assert a['sop_instance_uid'] == ds.SOPInstanceUID and b['sop_instance_uid'] is None
    # RG1_UNCR's PixelSpacing is 0\0 (unknown): reported as absent, like the PNG's
    assert a['pixel_spacing'] is None and b['pixel_spacing'] is None
    boxes_a = np.array([d['box'] for d in a['detections']])
    boxes_b = np.array([d['box'] for d in b['detections']])
    assert boxes_a.shape == boxes_b.shape and len(boxes_a) > 0
    assert boxes_a.max() > 500  # file pixels, not the 128 px network input
    np.testing.assert_allclose(boxes_a, boxes_b, atol=1.0)


def test_overlay_and_cam_pictures(setup, tmp_path):
    import cv2

    root, cfg, ckpt, images, *_ = setup
    one = sorted(osp.join(images, f) for f in __import__('os').listdir(images))[0]
    argv = [cfg, ckpt, one, '--out-dir', tmp_path, '--cam', '--cam-topk', 2, '--draw-thr', 0]
    assert _infer(*argv, '--cam-ratio-channels', 0.05) == 0
    pics = sorted((tmp_path / 'overlays').glob('*.png'))
    assert len(pics) == 3  # the boxes, and one CAM for each of the two best boxes
    for p in pics:
        img = cv2.imread(str(p))
        assert img is not None and max(img.shape[:2]) == 128
    cam = cv2.imread(str(pics[1])).astype(np.float32)
    assert np.abs(cam[..., 0] - cam[..., 2]).mean() > 1  # a coloured heatmap, not grey
