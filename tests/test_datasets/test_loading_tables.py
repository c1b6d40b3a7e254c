"""LoadCXRImage's table path for 8/16-bit PNGs: the same numbers as windowing each pixel."""

import cv2
import numpy as np
import pytest

from cxr_mm.core.dicom import _to_output
from cxr_mm.datasets.transforms.loading import LoadCXRImage


@pytest.mark.parametrize('window', ['voi', 'minmax', 'percentile'])
@pytest.mark.parametrize('to_float32', [False, True])
def test_16bit_png_table_equals_elementwise_window(tmp_path, window, to_float32):
    rng = np.random.default_rng(0)
    img = rng.integers(900, 60000, (37, 53)).astype(np.uint16)
    path = str(tmp_path / 'sixteen.png')
    cv2.imwrite(path, img)
    t = LoadCXRImage(color_type='grayscale', window=window, to_float32=to_float32)
    out = t(dict(img_path=path))['img']
    lo, hi = {
        'voi': (0.0, 65535.0),
        'minmax': (float(img.min()), float(img.max())),
        'percentile': tuple(np.percentile(img, (0.5, 99.5))),
    }[window]
    x = (img.astype(np.float32) - lo) / max(hi - lo, 1e-12)
    ref = _to_output(np.clip(x, 0, 1), 'float32' if to_float32 else 'uint8')
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
    # Colour output: three equal channels of the same numbers.
    rgb = LoadCXRImage(window=window, to_float32=to_float32)(dict(img_path=path))['img']
    assert rgb.shape == (37, 53, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], ref)
