"""Every DICOM file of pydicom's test corpus, and every JPEG 2000 one at reduced resolution."""

import glob
import os.path as osp
import warnings

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.encaps import get_frame

from cxr_mm.core.dicom import JPEG2000_UIDS, DicomReadError, read_dicom
from cxr_mm.core.j2k import decode_j2k, j2k_available
from cxr_mm.datasets.transforms.loading import LoadCXRImage

CORPUS = osp.join(osp.dirname(pydicom.__file__), 'data', 'test_files')
FILES = sorted(f for f in glob.glob(osp.join(CORPUS, '**', '*'), recursive=True) if osp.isfile(f))


def _dataset(path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            return pydicom.dcmread(path)
        except Exception:
            return None


def _j2k_grey_files():
    out = []
    for path in FILES:
        ds = _dataset(path)
        meta = getattr(ds, 'file_meta', None)
        if (
            meta is not None
            and str(meta.get('TransferSyntaxUID', '')) in JPEG2000_UIDS
            and int(ds.get('SamplesPerPixel', 1)) == 1
        ):
            out.append(osp.relpath(path, CORPUS))
    return out


J2K_GREY = _j2k_grey_files()


def test_corpus_is_there():
    assert len(FILES) > 100
    # Unsigned, signed, signed-coded-as-unsigned, broken stream.
    assert len(J2K_GREY) >= 4 and 'J2K_pixelrep_mismatch.dcm' in J2K_GREY


def test_every_corpus_file_loads_grey_or_names_itself():
    """A 2-D grey image, or a DicomReadError naming the file; nothing else."""
    loaded = refused = colour = multi = 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for path in FILES:
            try:
                img, meta = read_dicom(path, dtype='uint8')
            except DicomReadError as e:
                assert path in str(e)
                refused += 1
                multi += 'multi-frame' in str(e)
                continue
            assert img.ndim == 2 and img.dtype == np.uint8 and img.size > 0, path
            loaded += 1
            if meta['colour_conversion']:
                colour += 1
                assert 'luma' in meta['colour_conversion']
    assert loaded > 50 and refused > 20 and colour > 5 and multi >= 3


def test_multi_frame_refused_unless_a_frame_is_picked():
    path = osp.join(CORPUS, 'rtdose.dcm')
    with pytest.raises(DicomReadError, match=r'rtdose.dcm.*15 frames'):
        read_dicom(path)
    frames = pydicom.dcmread(path).pixel_array
    for i in (0, 7):
        raw, meta = read_dicom(path, window='minmax', dtype='raw', frame=i)
        assert meta['frame'] == i
        np.testing.assert_array_equal(
            raw, pydicom.pixels.apply_modality_lut(frames[i], _dataset(path))
        )
    with pytest.raises(DicomReadError, match='frame 15 requested'):
        read_dicom(path, frame=15)
    with pytest.raises(DicomReadError, match='rtdose.dcm'):
        LoadCXRImage()(dict(img_path=path))
    out = LoadCXRImage(frame=3)(dict(img_path=path))
    assert out['frame'] == 3 and out['img'].shape[2] == 3


def test_colour_file_recorded():
    path = osp.join(CORPUS, 'SC_rgb_small_odd.dcm')
    raw, meta = read_dicom(path, window='minmax', dtype='raw')
    assert raw.ndim == 2 and 'RGB' in meta['colour_conversion']
    rgb = pydicom.dcmread(path).pixel_array.astype(np.float64)
    np.testing.assert_allclose(raw, rgb @ [0.299, 0.587, 0.114])
    out = LoadCXRImage(color_type='grayscale')(dict(img_path=path))
    assert 'luma' in out['colour_conversion']
    grey = LoadCXRImage()(dict(img_path=osp.join(CORPUS, 'MR_small.dcm')))
    assert grey['colour_conversion'] is None and grey['frame'] is None


def test_pillow_has_openjpeg():
    assert j2k_available()


@pytest.mark.parametrize('name', J2K_GREY)
def test_j2k_full_decode_equals_pydicom(name):
    """Pillow path at full resolution = pydicom's stored values, sign-corrected."""
    ds = _dataset(osp.join(CORPUS, name))
    try:
        ref = ds.pixel_array
    except Exception:  # a broken stream: ours must fail too, not invent pixels
        with pytest.raises(Exception):
            decode_j2k(get_frame(ds.PixelData, 0, number_of_frames=1), 0, 1)
        return
    out = decode_j2k(get_frame(ds.PixelData, 0, number_of_frames=1), 0, ds.PixelRepresentation)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize('name', J2K_GREY)
def test_j2k_reduced_read_equals_full_downscaled(name):
    """read_dicom at half size vs the full decode area-downscaled, 0-255 scale."""
    path = osp.join(CORPUS, name)
    ds = _dataset(path)
    try:
        ds.pixel_array
    except Exception:  # broken stream: an error naming the file, at any size
        with pytest.raises(DicomReadError, match=osp.basename(name)):
            read_dicom(path, target_long_side=8)
        return
    long_side = max(ds.Rows, ds.Columns)
    full, _ = read_dicom(path, window='minmax', dtype='raw')
    half, meta = read_dicom(path, window='minmax', dtype='raw', target_long_side=long_side // 2)
    ref = cv2.resize(full.astype(np.float64), half.shape[::-1], interpolation=cv2.INTER_AREA)
    lo, hi = float(full.min()), float(full.max())
    err = np.abs(half.astype(np.float64) - ref).mean() / (hi - lo) * 255
    if name == 'J2K_pixelrep_mismatch.dcm':
        # Signed data in an unsigned codestream: no reduced image is right
        # (it was 165 grey levels off), so it is decoded in full, exactly.
        assert meta['decode_scale'] == 1.0 and err == 0
        return
    assert meta['decode_scale'] == pytest.approx(0.5, abs=0.01)
    # The wavelet low-pass band is not an area average: a few grey levels
    # on tiny images (MR_small, 64 px), < 1 on real-size ones.
    assert err < (8.0 if long_side < 256 else 1.0), err
