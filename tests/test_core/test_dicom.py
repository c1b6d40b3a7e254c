"""DICOM / PNG loading: exact agreement with pydicom on real files."""

import os.path as osp
import shutil

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from cxr_mm.core.dicom import DicomReadError, is_dicom, read_dicom, voi_output_range
from cxr_mm.core.j2k import choose_reduce, decode_j2k, pillow_can_reduce
from cxr_mm.datasets.transforms.loading import LoadCXRImage


def _data(name):
    """pydicom test file; never triggers a download."""
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(
            f'{name}: not installed; pydicom-data is part of requirements/tests.txt'
        )
    return path


def pydicom_reference(path):
    """pydicom's own pipeline: modality LUT -> apply_voi_lut -> invert."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if int(ds.get('NumberOfFrames', 1) or 1) > 1:
        arr = arr[0]
    out = apply_voi_lut(apply_modality_lut(arr, ds), ds)
    return ds, out


# ---------------------------------------------------------------- real CR --
def test_rg1_voi_matches_pydicom_exactly():
    path = _data('RG1_UNCR.dcm')
    ds, ref = pydicom_reference(path)
    assert ds.PhotometricInterpretation == 'MONOCHROME1'
    # Window 15000/30000 on 15-bit unsigned data: output range 0..2**15-1.
    lo, hi = 0.0, float(2**ds.BitsStored - 1)
    raw, meta = read_dicom(path, dtype='raw')
    assert meta['voi_range'] == (lo, hi)
    assert meta['window_used'] == 'voi'
    np.testing.assert_array_equal(raw, hi - (ref - lo))  # MONOCHROME1
    u8, _ = read_dicom(path, dtype='uint8')
    np.testing.assert_array_equal(u8, np.round((hi - ref) / (hi - lo) * 255).astype(np.uint8))
    f32, meta = read_dicom(path, dtype='float32')
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, (hi - ref) / (hi - lo) * 255, rtol=1e-6)
    # 16-bit precision survives to the end: many more levels than 256.
    assert len(np.unique(f32)) > 1000
    assert meta['ori_shape'] == (1955, 1841)
    assert meta['photometric_interpretation'] == 'MONOCHROME1'
    assert meta['bits_stored'] == 15


@pytest.mark.parametrize(
    'pair', [('RG1_UNCR.dcm', 'RG1_J2KR.dcm'), ('RG3_UNCR.dcm', 'RG3_J2KR.dcm')]
)
def test_lossless_j2k_equals_uncompressed(pair):
    unc, j2k = (_data(n) for n in pair)
    a, _ = read_dicom(unc, dtype='raw')
    b, meta = read_dicom(j2k, dtype='raw')
    assert meta['transfer_syntax'] == '1.2.840.10008.1.2.4.90'
    np.testing.assert_array_equal(a, b)
    # Our Pillow path at full resolution decodes the same stored values as
    # pydicom's plugin.
    ds = pydicom.dcmread(j2k)
    frame = pydicom.encaps.get_frame(ds.PixelData, 0, number_of_frames=1)
    np.testing.assert_array_equal(decode_j2k(frame, 0), pydicom.dcmread(unc).pixel_array)


def test_reduced_resolution_j2k_decode():
    path = _data('RG1_J2KR.dcm')
    full, _ = read_dicom(path, dtype='float32')
    half, meta = read_dicom(path, target_long_side=512, dtype='float32')
    # 1955 / 2 = 978 >= 512 but 1955 / 4 = 489 < 512: one level dropped.
    assert half.shape == (978, 921)
    assert meta['decode_scale'] == pytest.approx(978 / 1955)
    assert meta['ori_shape'] == (1955, 1841)
    ref = cv2.resize(full, (921, 978), interpolation=cv2.INTER_AREA)
    assert np.abs(half - ref).mean() < 2.0  # same picture, 0-255 scale
    # No reduction when the target needs full resolution.
    same, meta = read_dicom(path, target_long_side=1024, dtype='float32')
    assert same.shape == full.shape and meta['decode_scale'] == 1.0
    # ... unless a small shortfall is allowed.
    tol, _ = read_dicom(path, target_long_side=1024, reduce_tolerance=0.05)
    assert tol.shape == (978, 921)
    # 1/4 size would be (489, 461), but Pillow's rounding of 1841 / 4 disagrees
    # with openjpeg's: one level less (pillow_can_reduce).
    lossy, _ = read_dicom(_data('RG1_J2KI.dcm'), target_long_side=256, dtype='float32')
    assert lossy.shape == (978, 921)
    lossy, _ = read_dicom(_data('RG3_J2KI.dcm'), target_long_side=256, dtype='float32')
    assert lossy.shape == (440, 440)


def test_pillow_can_reduce():
    assert pillow_can_reduce(1955, 1841, 1) and pillow_can_reduce(2801, 2301, 1)
    assert not pillow_can_reduce(1955, 1841, 2)  # 1841 / 4: Pillow 460, openjpeg 461
    assert pillow_can_reduce(1760, 1760, 4)


def test_choose_reduce():
    assert choose_reduce(1955, None, 5) == 0
    assert choose_reduce(1955, 1024, 5) == 0
    assert choose_reduce(1955, 978, 5) == 1
    assert choose_reduce(1955, 489, 5) == 2
    assert choose_reduce(1955, 10, 3) == 3  # capped by the codestream
    assert choose_reduce(1955, 1024, 5, tolerance=0.05) == 1


# ------------------------------------------------- other transfer syntaxes --
@pytest.mark.parametrize(
    'reference,encoded',
    [
        ('MR_small.dcm', 'MR_small_jpeg_ls_lossless.dcm'),
        ('MR_small.dcm', 'MR_small_RLE.dcm'),
        ('MR_small.dcm', 'MR_small_jp2klossless.dcm'),
        ('emri_small.dcm', 'emri_small_jpeg_ls_lossless.dcm'),
        ('emri_small.dcm', 'emri_small_RLE.dcm'),
        ('emri_small.dcm', 'emri_small_jpeg_2k_lossless.dcm'),
    ],
)
def test_lossless_syntaxes_equal_uncompressed(reference, encoded):
    frame = 0 if reference == 'emri_small.dcm' else None  # 10 frames
    a, _ = read_dicom(_data(reference), window='minmax', dtype='raw', frame=frame)
    b, meta = read_dicom(_data(encoded), window='minmax', dtype='raw', frame=frame)
    assert meta['transfer_syntax'] != ExplicitVRLittleEndian
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    'name',
    [
        'JPEG-LL.dcm',
        'JPGLosslessP14SV1_1s_1f_8b.dcm',
        'MR_small.dcm',
        'vlut_04.dcm',
        'mlut_18.dcm',
        'CT_small.dcm',
    ],
)
def test_matches_pydicom_pipeline(name):
    """JPEG lossless, signed data, VOI LUT Sequence, Modality LUT."""
    path = _data(name)
    ds, ref = pydicom_reference(path)
    raw, meta = read_dicom(path, dtype='raw')
    if meta['window_used'] != 'voi':
        ref = apply_modality_lut(ds.pixel_array, ds)  # no VOI in the file
    if ds.PhotometricInterpretation == 'MONOCHROME1':
        lo, hi = meta['voi_range']
        ref = hi - (ref - lo)
    np.testing.assert_array_equal(raw, ref)


def test_voi_lut_sequence_range():
    ds = pydicom.dcmread(_data('vlut_04.dcm'))
    lut = np.asarray(ds.VOILUTSequence[0].LUTData)
    assert voi_output_range(ds) == (float(lut.min()), float(lut.max()))


def test_rle_roundtrip_16bit(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 2**16, (40, 30), dtype=np.uint16)
    plain = _write(tmp_path / 'plain.dcm', arr, 'MONOCHROME2', bits=16)
    rle = _write(tmp_path / 'rle.dcm', arr, 'MONOCHROME2', bits=16, syntax=RLELossless)
    assert pydicom.dcmread(rle).file_meta.TransferSyntaxUID == RLELossless
    a, _ = read_dicom(plain, window='minmax', dtype='raw')
    b, _ = read_dicom(rle, window='minmax', dtype='raw')
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, arr)


# --------------------------------------------------------- synthetic DICOM --
def _write(
    path,
    arr,
    photometric,
    bits=12,
    window=None,
    rescale=None,
    signed=False,
    syntax=None,
    pixels=True,
):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.1'
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'DX'
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelSpacing = [0.2, 0.25]
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if pixels:
        ds.PixelData = arr.astype('<i2' if signed else '<u2').tobytes()
    if syntax is not None:
        ds.compress(syntax, encoding_plugin='pydicom')
    ds.save_as(str(path), enforce_file_format=True)
    return str(path)


@pytest.mark.parametrize('window', ['voi', 'minmax', 'percentile'])
def test_monochrome1_is_inverted(tmp_path, window):
    rng = np.random.default_rng(1)
    arr = rng.integers(100, 4000, (32, 48)).astype(np.uint16)
    kw = dict(window=(2000, 3000))
    m1 = _write(tmp_path / 'm1.dcm', arr, 'MONOCHROME1', **kw)
    m2 = _write(tmp_path / 'm2.dcm', arr, 'MONOCHROME2', **kw)
    a, meta1 = read_dicom(m1, window=window, dtype='float32')
    b, meta2 = read_dicom(m2, window=window, dtype='float32')
    assert meta1['photometric_interpretation'] == 'MONOCHROME1'
    np.testing.assert_allclose(a, 255 - b, atol=1e-4)
    assert not np.allclose(a, b)
    # Highest stored value is darkest in MONOCHROME1.
    assert a.flat[arr.argmax()] == a.min()
    assert meta1['pixel_spacing'] == (0.2, 0.25)


def test_window_modes(tmp_path):
    arr = np.arange(0, 1000, dtype=np.uint16).reshape(20, 50)
    path = _write(tmp_path / 'w.dcm', arr, 'MONOCHROME2', window=(500, 200), rescale=(2.0, -100.0))
    ds, ref = pydicom_reference(path)
    raw, meta = read_dicom(path, dtype='raw')
    np.testing.assert_array_equal(raw, ref)  # rescale then window
    u8, _ = read_dicom(path, dtype='uint8')
    assert (u8 == 0).sum() > 0 and (u8 == 255).sum() > 0  # clipped window
    mm, meta = read_dicom(path, window='minmax', dtype='float32')
    assert meta['voi_range'] == (-100.0, 999 * 2 - 100.0)
    assert mm.min() == 0 and mm.max() == 255
    pc, meta = read_dicom(path, window='percentile', percentiles=(10, 90), dtype='float32')
    modality = arr.astype(float) * 2 - 100
    lo, hi = np.percentile(modality, (10, 90))
    np.testing.assert_allclose(meta['voi_range'], (lo, hi))
    np.testing.assert_allclose(pc, np.clip((modality - lo) / (hi - lo), 0, 1) * 255, atol=1e-3)
    # No window tags: 'voi' falls back to min-max and says so.
    nowin = _write(tmp_path / 'n.dcm', arr, 'MONOCHROME2')
    out, meta = read_dicom(nowin, dtype='float32')
    assert meta['window_used'].startswith('minmax')
    assert out.min() == 0 and out.max() == 255


def test_signed_data_with_window(tmp_path):
    arr = np.arange(-1024, 1024, dtype=np.int16).reshape(32, 64)
    path = _write(
        tmp_path / 's.dcm',
        arr,
        'MONOCHROME2',
        bits=16,
        window=(40, 400),
        rescale=(1, -1024),
        signed=True,
    )
    _, ref = pydicom_reference(path)
    raw, _ = read_dicom(path, dtype='raw')
    np.testing.assert_array_equal(raw, ref)


# ------------------------------------------------------------------ errors --
def test_corrupt_truncated_pixelless_name_the_file(tmp_path):
    corrupt = tmp_path / 'corrupt.dcm'
    corrupt.write_bytes(b'this is not a DICOM file' * 20)
    full = open(_data('RG1_UNCR.dcm'), 'rb').read()
    truncated = tmp_path / 'truncated.dcm'
    truncated.write_bytes(full[: len(full) // 2])
    pixelless = _write(tmp_path / 'nopixels.dcm', np.zeros((4, 4)), 'MONOCHROME2', pixels=False)
    j2k = open(_data('RG1_J2KR.dcm'), 'rb').read()
    truncated_j2k = tmp_path / 'truncated_j2k.dcm'
    truncated_j2k.write_bytes(j2k[: len(j2k) // 3])
    for path in (corrupt, truncated, pixelless, truncated_j2k):
        with pytest.raises(DicomReadError, match=osp.basename(str(path))):
            read_dicom(path)
        with pytest.raises(DicomReadError, match=osp.basename(str(path))):
            LoadCXRImage()(dict(img_path=str(path)))
    with pytest.raises(DicomReadError, match='no Pixel Data'):
        read_dicom(pixelless)


def test_read_from_bytes_and_local_backend():
    path = _data('RG1_J2KR.dcm')
    ref, _ = read_dicom(path, dtype='uint8', target_long_side=512)
    data = open(path, 'rb').read()
    out, meta = read_dicom('s3://bucket/rg1.dcm', data=data, dtype='uint8', target_long_side=512)
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(DicomReadError, match='s3://bucket/bad.dcm'):
        read_dicom('s3://bucket/bad.dcm', data=data[:1000])
    t = LoadCXRImage(backend_args=dict(backend='local'))
    assert t(dict(img_path=path))['img'].shape == (1955, 1841, 3)


def test_is_dicom_sniffs_header(tmp_path):
    copy = tmp_path / 'image_without_suffix'
    shutil.copy(_data('RG1_UNCR.dcm'), copy)
    assert is_dicom(copy)
    png = tmp_path / 'x.png'
    cv2.imwrite(str(png), np.zeros((4, 4), np.uint8))
    assert not is_dicom(png)
    out = LoadCXRImage(color_type='grayscale')(dict(img_path=str(copy)))
    assert out['photometric_interpretation'] == 'MONOCHROME1'


# ---------------------------------------------------------- LoadCXRImage --
def test_transform_outputs_dicom():
    path = _data('RG1_UNCR.dcm')
    ref8, _ = read_dicom(path, dtype='uint8')
    out = LoadCXRImage()(dict(img_path=path))
    assert out['img'].shape == (1955, 1841, 3) and out['img'].dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out['img'][..., c], ref8)
    assert out['img_shape'] == (1955, 1841)
    assert out['ori_shape'] == (1955, 1841)
    assert out['photometric_interpretation'] == 'MONOCHROME1'
    assert 'pixel_spacing' in out
    g = LoadCXRImage(color_type='grayscale', to_float32=True)(dict(img_path=path))
    assert g['img'].shape == (1955, 1841) and g['img'].dtype == np.float32
    np.testing.assert_allclose(np.round(g['img']), ref8, atol=0)


def test_transform_reduced_decode_rescales_boxes():
    path = _data('RG1_J2KR.dcm')
    box = [100.0, 200.0, 1000.0, 1800.0]
    out = LoadCXRImage(target_long_side=512)(
        dict(img_path=path, instances=[dict(bbox=box, bbox_label=3)])
    )
    assert out['img_shape'] == (978, 921)
    assert out['ori_shape'] == (1955, 1841)
    sx, sy = 921 / 1841, 978 / 1955
    assert out['instances'][0]['bbox'] == pytest.approx([100 * sx, 200 * sy, 1000 * sx, 1800 * sy])
    assert out['instances'][0]['bbox_label'] == 3


def test_transform_png_8_and_16_bit(tmp_path):
    ramp16 = (np.arange(64 * 80, dtype=np.uint32) * 13 % 65536).astype(np.uint16).reshape(64, 80)
    p16 = str(tmp_path / 'sixteen.png')
    cv2.imwrite(p16, ramp16)
    out = LoadCXRImage(color_type='grayscale', to_float32=True)(dict(img_path=p16))
    np.testing.assert_allclose(out['img'], ramp16 / 65535 * 255, rtol=1e-6)
    assert len(np.unique(out['img'])) > 256  # not quantised to 8 bit
    out8 = LoadCXRImage()(dict(img_path=p16))
    assert out8['img'].shape == (64, 80, 3) and out8['img'].dtype == np.uint8
    np.testing.assert_array_equal(
        out8['img'][..., 1], np.round(ramp16 / 65535 * 255).astype(np.uint8)
    )
    gray8 = (np.arange(64 * 80) % 251).astype(np.uint8).reshape(64, 80)
    p8 = str(tmp_path / 'eight.png')
    cv2.imwrite(p8, gray8)
    out = LoadCXRImage(color_type='grayscale')(dict(img_path=p8))
    np.testing.assert_array_equal(out['img'], gray8)
    assert out['ori_shape'] == (64, 80)
    out = LoadCXRImage(window='minmax', to_float32=True)(dict(img_path=p8))
    assert out['img'].max() == 255 and out['img'].min() == 0
    with pytest.raises(OSError, match='missing.png'):
        LoadCXRImage()(dict(img_path=str(tmp_path / 'missing.png')))


def test_registered_in_both_scopes():
    from mmdet.registry import TRANSFORMS as DET
    from mmpretrain.registry import TRANSFORMS as PRE

    for reg in (DET, PRE):
        t = reg.build(dict(type='LoadCXRImage', color_type='grayscale'))
        assert isinstance(t, LoadCXRImage)
