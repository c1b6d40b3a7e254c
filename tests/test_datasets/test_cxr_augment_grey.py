"""The one-channel 'cxr' view: same random draws and same pixels as the 3-channel pipeline."""

import cv2
import numpy as np
import pytest
from mmengine.registry import TRANSFORMS
from pydicom.data import get_testdata_file

import cxr_mm.register  # noqa: F401
from cxr_mm.core.dicom import read_dicom


@pytest.fixture(scope='module')
def chest():
    """The real chest CR (RG1), 8-bit, long side 160: varied content and histogram."""
    img, _ = read_dicom(get_testdata_file('RG1_UNCR.dcm', download=False), dtype='uint8')
    return cv2.resize(img, (150, 160), interpolation=cv2.INTER_AREA)


def _views(view, preset='cxr', scale=64):
    return TRANSFORMS.build(dict(type='BarlowTwinsCXRView', preset=preset, view=view, scale=scale))


@pytest.mark.parametrize('view', [0, 1])
def test_grey_path_identical_to_rgb_pipeline_for_each_seed(chest, view):
    t = _views(view)
    assert t._grey is not None
    rgb = np.repeat(chest[..., None], 3, axis=2)
    solarised = jittered = 0
    for seed in range(40):
        np.random.seed(seed)
        fast = t(dict(img=chest.copy()))
        after_fast = np.random.rand()
        np.random.seed(seed)
        ref = t.pipeline(dict(img=rgb.copy()))  # the mmpretrain transforms themselves
        assert np.random.rand() == after_fast  # same number of draws
        np.testing.assert_array_equal(fast['img'], ref['img'])
        assert fast['img'].shape == (64, 64, 3) and fast['img'].flags.c_contiguous
        assert (fast['flip'], fast['flip_direction']) == (ref['flip'], ref['flip_direction'])
        assert fast['img_shape'] == ref['img_shape']
        # What the seeds exercised (the test must cover jitter and solarize).
        np.random.seed(seed)
        t.pipeline.transforms[0].rand_crop_params(rgb)
        t.pipeline.transforms[1]._choose_direction()
        if t.pipeline.transforms[2].random_apply():
            jittered += 1
            t.pipeline.transforms[2].transforms.transforms[0]._rand_params()
        blur = t.pipeline.transforms[3]
        if not blur.random_disable():
            blur.random_magnitude()
        solarised += not t.pipeline.transforms[4].random_disable()
    assert jittered >= 20
    assert (solarised >= 3) if view == 1 else (solarised == 0)


# ('imagenet' as well, but mmcv 2.1's adjust_hue overflows uint8 under numpy 2 on ~30 %
# of draws, with or without this path: reported, not ours to patch here.)
@pytest.mark.parametrize('preset', ['medaugment'])
def test_other_presets_take_grey_as_three_channels(chest, preset):
    t = _views(0, preset)
    assert t._grey is None
    np.random.seed(3)
    a = t(dict(img=chest.copy()))['img']
    np.random.seed(3)
    b = t(dict(img=np.repeat(chest[..., None], 3, axis=2)))['img']
    np.testing.assert_array_equal(a, b)
