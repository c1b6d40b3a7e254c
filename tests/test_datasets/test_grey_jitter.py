"""Stage-2 jitter on one grey channel: same draws and same pixels as mmdet on 3 channels."""

import copy
import os.path as osp

import cv2
import numpy as np
import pytest
from cxr_testing import REPO_ROOT
from mmcv.transforms import Compose
from mmdet.datasets.transforms import Brightness, Contrast
from mmdet.registry import TRANSFORMS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from pydicom.data import get_testdata_file

import cxr_mm.register  # noqa: F401
from cxr_mm.core.dicom import read_dicom
from cxr_mm.datasets.transforms import GreyBrightness, GreyContrast, GreyToColor

DEMO = 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py'
MAGS = [0.1, 0.55, 0.8, 0.9, 1.0, 1.1, 1.2, 1.9]


@pytest.fixture(scope='module')
def chest():
    """The real chest CR (RG1), 16-bit and 8-bit, long side 160."""
    path = get_testdata_file('RG1_UNCR.dcm', download=False)
    img16, _ = read_dicom(path, dtype='float32')
    img16 = np.round(img16 / 255 * 65535).astype(np.uint16)
    return cv2.resize(img16, (130, 160), interpolation=cv2.INTER_AREA)


def _grey_images(chest):
    rng = np.random.default_rng(0)
    yield (chest >> 8).astype(np.uint8)  # real radiograph
    yield np.zeros((9, 11), np.uint8)
    yield np.full((9, 11), 255, np.uint8)
    for _ in range(20):  # every mean and range, odd sizes (SIMD tails)
        lo, hi = sorted(rng.integers(0, 256, 2))
        h, w = rng.integers(3, 70, 2)
        yield rng.integers(lo, hi + 1, (h, w)).astype(np.uint8)


@pytest.mark.parametrize(
    'mmdet_cls,grey_cls', [(Brightness, GreyBrightness), (Contrast, GreyContrast)]
)
def test_fixed_magnitude_equals_mmdet_on_three_channels(chest, mmdet_cls, grey_cls):
    for grey in _grey_images(chest):
        for mag in MAGS:
            ref = dict(img=cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
            mmdet_cls()._transform_img(ref, mag)
            out = dict(img=grey.copy())
            grey_cls()._transform_img(out, mag)
            assert out['img'].shape == grey.shape and out['img'].dtype == np.uint8
            np.testing.assert_array_equal(GreyToColor()(out)['img'], ref['img'])


def test_float_grey_within_rounding(chest):
    """to_float32 images: the same blend, up to cv2's float BGR->grey rounding."""
    grey = (chest / 257.0).astype(np.float32)
    for mmdet_cls, grey_cls in [(Brightness, GreyBrightness), (Contrast, GreyContrast)]:
        for mag in MAGS:
            ref = dict(img=np.repeat(grey[..., None], 3, axis=2))
            mmdet_cls()._transform_img(ref, mag)
            out = dict(img=grey.copy())
            grey_cls()._transform_img(out, mag)
            assert out['img'].dtype == np.float32
            np.testing.assert_allclose(GreyToColor()(out)['img'], ref['img'], atol=1.0)


def test_three_channel_input_goes_through_mmdet(chest):
    img = np.random.default_rng(1).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    for mmdet_cls, grey_cls in [(Brightness, GreyBrightness), (Contrast, GreyContrast)]:
        ref, out = dict(img=img.copy()), dict(img=img.copy())
        mmdet_cls()._transform_img(ref, 1.2)
        grey_cls()._transform_img(out, 1.2)
        np.testing.assert_array_equal(out['img'], ref['img'])
    assert GreyToColor()(dict(img=img))['img'] is img


def test_grey_to_color_is_channel_first_in_memory():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = GreyToColor()(dict(img=img))['img']
    assert out.shape == (3, 4, 3) and all((out[..., c] == img).all() for c in range(3))
    assert out.transpose(2, 0, 1).flags.c_contiguous  # PackDetInputs: no further copy


def _old_pipeline(steps):
    """The config's train pipeline as shipped before: 3-channel load, mmdet's jitter."""
    old = []
    for s in copy.deepcopy(steps):
        if s['type'] == 'LoadCXRImage':
            s['color_type'] = 'color'
        elif s['type'] in ('GreyBrightness', 'GreyContrast'):
            s['type'] = s['type'][len('Grey') :]
        elif s['type'] == 'GreyToColor':
            continue
        old.append(s)
    return old


def test_config_pipeline_equals_three_channel_pipeline_for_each_seed(chest, tmp_path):
    """The demo's train pipeline from a 16-bit PNG: same draws, same packed tensor and boxes."""
    path = str(tmp_path / 'rg1.png')
    cv2.imwrite(path, chest)
    init_default_scope('mmdet')
    steps = Config.fromfile(osp.join(REPO_ROOT, DEMO)).train_dataloader.dataset.pipeline
    assert [s['type'] for s in steps][-2:] == ['GreyToColor', 'PackDetInputs']
    new = Compose([TRANSFORMS.build(s) for s in steps])
    old = Compose([TRANSFORMS.build(s) for s in _old_pipeline(steps)])
    plain = Compose(
        [
            TRANSFORMS.build(s)
            for s in _old_pipeline(steps)
            if s['type']
            in ('LoadCXRImage', 'LoadAnnotations', 'Resize', 'RandomFlip', 'PackDetInputs')
        ]
    )
    info = dict(
        img_path=path,
        img_id=0,
        height=160,
        width=130,
        instances=[dict(bbox=[10.0, 20.0, 90.0, 120.0], bbox_label=3, ignore_flag=0)],
    )
    jittered = 0
    for seed in range(30):
        np.random.seed(seed)
        a = new(copy.deepcopy(info))
        after = np.random.rand()
        np.random.seed(seed)
        b = old(copy.deepcopy(info))
        assert np.random.rand() == after  # same number of draws
        assert a['inputs'].shape == b['inputs'].shape == (3, 256, 208)
        assert a['inputs'].dtype == b['inputs'].dtype
        assert (a['inputs'] == b['inputs']).all()
        boxes_a, boxes_b = (r['data_samples'].gt_instances.bboxes.tensor for r in (a, b))
        assert boxes_a.equal(boxes_b)
        assert a['data_samples'].flip == b['data_samples'].flip
        np.random.seed(seed)
        c = plain(copy.deepcopy(info))
        jittered += not (c['inputs'] == b['inputs']).all()
    assert 5 < jittered < 30  # the jitter ran, with its probability
