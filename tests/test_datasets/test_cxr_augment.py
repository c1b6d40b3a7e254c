"""BarlowTwins-CXR views on real decoded images, through mmpretrain's MultiView."""

import numpy as np
import pytest
from mmengine.registry import TRANSFORMS

import cxr_mm.register  # noqa: F401
from cxr_mm.datasets.transforms.cxr_augment import RandomAffineCXR


def _radiograph(size=96):
    """A grey test image with a bright off-centre blob (3 equal channels, uint8)."""
    yy, xx = np.mgrid[:size, :size]
    img = (60 + 120 * np.exp(-((yy - 30) ** 2 + (xx - 60) ** 2) / 200.0)).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


@pytest.mark.parametrize('preset', ['cxr', 'imagenet', 'medaugment'])
def test_multiview_presets(preset):
    np.random.seed(0)
    pipeline = TRANSFORMS.build(
        dict(
            type='mmpretrain.MultiView',
            num_views=[1, 1],
            transforms=[
                [dict(type='BarlowTwinsCXRView', preset=preset, view=0, scale=48)],
                [dict(type='BarlowTwinsCXRView', preset=preset, view=1, scale=48)],
            ],
        )
    )
    img = _radiograph()
    out = pipeline(dict(img=img.copy(), img_path='x.png'))
    v1, v2 = out['img']
    assert v1.shape == v2.shape == (48, 48, 3) and v1.dtype == np.uint8
    assert not np.array_equal(v1, v2)
    # Grey stays grey: no hue/saturation invention on a radiograph.
    if preset != 'imagenet':
        for v in (v1, v2):
            assert np.array_equal(v[..., 0], v[..., 1]) and np.array_equal(v[..., 1], v[..., 2])


def test_view_asymmetry_blur_and_solarize():
    # View 0 always blurs and never solarises; view 1 solarises ~20 % of the time.
    from cxr_mm.datasets.transforms.cxr_augment import barlowtwins_cxr_view_pipeline

    v0 = {t['type']: t for t in barlowtwins_cxr_view_pipeline('cxr', 0)}
    v1 = {t['type']: t for t in barlowtwins_cxr_view_pipeline('cxr', 1)}
    assert (v0['mmpretrain.GaussianBlur']['prob'], v1['mmpretrain.GaussianBlur']['prob']) == (
        1.0,
        0.1,
    )
    assert (v0['mmpretrain.Solarize']['prob'], v1['mmpretrain.Solarize']['prob']) == (0.0, 0.2)
    jitter = v0['RandomApply']['transforms'][0]
    assert 'hue' not in jitter and 'saturation' not in jitter

    np.random.seed(1)
    view1 = TRANSFORMS.build(
        dict(type='BarlowTwinsCXRView', preset='cxr', view=1, scale=32, crop_ratio_range=(1.0, 1.0))
    )
    flat = np.full((64, 64, 3), 200, np.uint8)
    solarised = sum(int(view1(dict(img=flat.copy()))['img'].mean() < 128) for _ in range(300))
    assert 30 <= solarised <= 90  # ~60 expected (0.2 x 300)


def test_view_rejects_non_rgb_uint8():
    view = TRANSFORMS.build(dict(type='BarlowTwinsCXRView'))
    # Grey (h, w) is accepted since the one-channel fast path (test_cxr_augment_grey.py).
    with pytest.raises(ValueError, match='grey .* or 3-channel uint8.*a.png'):
        view(dict(img=np.zeros((32, 32), np.float32), img_path='a.png'))
    with pytest.raises(ValueError, match='a.png'):
        view(dict(img=np.zeros((32, 32, 4), np.uint8), img_path='a.png'))
    with pytest.raises(ValueError, match='preset'):
        TRANSFORMS.build(dict(type='BarlowTwinsCXRView', preset='autoaugment'))


def test_random_affine_geometry():
    img = np.zeros((41, 41, 3), np.uint8)
    img[20, 30] = 255  # 10 px right of the centre
    # 90 degrees about the centre moves the point onto the vertical axis, 10 px away.
    m = RandomAffineCXR.affine_matrix(41, 41, angle=90, tx=0, ty=0, scale=1, shear=0)
    x, y = m @ np.array([30.0, 20.0, 1.0])
    assert abs(x - 20) < 1e-9 and abs(abs(y - 20) - 10) < 1e-9
    # Pure translation by (3, -2) pixels.
    t = RandomAffineCXR(degrees=0, translate=(0.1, 0.1))
    t._rand_params = lambda h, w: (True, 0.0, 3.0, -2.0, 1.0, 0.0)  # fixed draw
    out = t.transform(dict(img=img.copy()))['img']
    assert out[18, 33, 0] == 255 and out.sum() == 255 * 3
    # prob=0 is the identity.
    same = RandomAffineCXR(degrees=15, prob=0.0)(dict(img=img.copy()))['img']
    assert np.array_equal(same, img)
    with pytest.raises(ValueError):
        RandomAffineCXR(scale=(1.2, 0.8))
