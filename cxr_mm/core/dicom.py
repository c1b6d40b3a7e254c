# Copyright (c) cxr-mm contributors. All rights reserved.
"""Read chest radiographs from DICOM the way the standard says.

The BarlowTwins-CXR authors never published their DICOM conversion; VinDr-CXR
ships MONOCHROME1 and MONOCHROME2 images with 10-16 bit data, rescale tags,
window tags and VOI LUTs, mostly JPEG 2000 compressed. This module applies the
DICOM grayscale pipeline (Modality LUT -> VOI LUT/window -> presentation) with
pydicom's own functions, so results equal pydicom's ``apply_voi_lut``; only the
last step converts to 8-bit or float.

Speed: every step before the final conversion is an elementwise function of
the stored value, so it is evaluated once per possible stored value (<= 65536)
and applied as a single table lookup. JPEG 2000 can be decoded at 1/2, 1/4 ...
resolution (Pillow's openjpeg ``reduce``) when the pipeline shrinks the image
anyway.
"""

import io
import os
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .classes import DICOM_SUFFIXES, RASTER_SUFFIXES
from .j2k import (
    choose_reduce,
    decode_j2k,
    j2k_available,
    j2k_decomposition_levels,
    pillow_can_reduce,
)

WINDOW_MODES = ('voi', 'minmax', 'percentile')
OUT_DTYPES = ('uint8', 'uint16', 'float32', 'raw')
JPEG2000_UIDS = ('1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91')
# ITU-R BT.601 luma: how a colour file becomes grey (recorded in the meta).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


class DicomReadError(ValueError):
    """A DICOM file could not be read; the message names the file."""


def is_dicom(path: Union[str, os.PathLike]) -> bool:
    """True for a ``.dcm``/``.dicom`` suffix or a ``DICM`` preamble."""
    path = str(path)
    if path.lower().endswith(DICOM_SUFFIXES):
        return True
    if path.lower().endswith(RASTER_SUFFIXES):
        return False
    try:
        with open(path, 'rb') as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b'DICM'


# --------------------------------------------------------------------------
# grayscale pipeline
# --------------------------------------------------------------------------
def _pydicom_voi(values: np.ndarray, ds, index: int) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    return apply_voi_lut(apply_modality_lut(values, ds), ds, index=index)


def has_voi(ds) -> bool:
    """Whether the dataset carries a VOI LUT Sequence or window tags."""
    return bool(
        ds.get('VOILUTSequence')
        or (
            'WindowCenter' in ds
            and 'WindowWidth' in ds
            and ds.WindowCenter is not None
            and ds.WindowWidth is not None
        )
    )


def voi_output_range(ds, index: int = 0) -> Tuple[float, float]:
    """(lo, hi) of the VOI output: what black and white map to."""
    seq = ds.get('VOILUTSequence')
    if seq:
        from pydicom.pixels import apply_voi_lut

        item = seq[index]
        nr_entries = item.LUTDescriptor[0] or 2**16
        first = item.LUTDescriptor[1]
        probe = np.arange(first, first + nr_entries)
        out = apply_voi_lut(probe, ds, index=index)
        return float(out.min()), float(out.max())
    # Window: pydicom clips to [y_min, y_max]; read them off the extremes.
    from pydicom.pixels import apply_windowing

    with np.errstate(over='ignore'):
        out = apply_windowing(np.array([-1e30, 1e30]), ds, index=index)
    return float(out.min()), float(out.max())


def _weighted_percentiles(values: np.ndarray, counts: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """np.percentile('linear') of a histogram (value -> count)."""
    order = np.argsort(values, kind='stable')
    v, c = values[order], counts[order]
    keep = c > 0
    v, cum = v[keep], np.cumsum(c[keep])
    n = cum[-1]
    out = []
    for p in q:
        rank = p / 100 * (n - 1)
        lo_r = int(np.floor(rank))
        frac = rank - lo_r
        a = v[np.searchsorted(cum, lo_r, side='right')]
        b = v[np.searchsorted(cum, min(lo_r + 1, n - 1), side='right')]
        out.append(a + (b - a) * frac)
    return np.asarray(out, float)


def _to_output(x01: np.ndarray, dtype: str) -> np.ndarray:
    """[0, 1] float -> final dtype (float32 stays in the 0-255 scale)."""
    if dtype == 'uint8':
        return np.round(x01 * 255).astype(np.uint8)
    if dtype == 'uint16':
        return np.round(x01 * 65535).astype(np.uint16)
    return (x01 * 255).astype(np.float32)


def _present(
    v: np.ndarray,
    ds,
    window: str,
    percentiles,
    index: int,
    dtype: str,
    invert: bool,
    counts: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, Dict]:
    """Stored-value domain -> presentation. ``v`` = VOI/modality output.

    ``counts`` (optional) is the histogram of the stored values when ``v`` is
    a table over all stored values; percentiles are then computed from it.
    """
    info: Dict[str, Any] = {}
    if window == 'voi' and has_voi(ds):
        lo, hi = voi_output_range(ds, index)
        info['window_used'] = 'voi'
    else:
        if counts is None:
            vals, cnt = v.ravel(), None
        else:
            vals, cnt = v, counts
        if window == 'percentile':
            if cnt is None:
                lo, hi = np.percentile(vals, percentiles)
            else:
                lo, hi = _weighted_percentiles(vals, cnt, percentiles)
            info['window_used'] = 'percentile'
        else:
            present = vals if cnt is None else vals[cnt > 0]
            lo, hi = float(present.min()), float(present.max())
            info['window_used'] = 'minmax'
            if window == 'voi':
                info['window_used'] = 'minmax (no VOI in file)'
    info['voi_range'] = (float(lo), float(hi))
    if dtype == 'raw':
        out = (lo + hi) - v if invert else v
        return out, info
    scale = 1.0 / (hi - lo) if hi > lo else 0.0
    x = np.clip((np.asarray(v, np.float64) - lo) * scale, 0, 1)
    if invert:
        x = 1 - x
    return _to_output(x, dtype), info


def _spacing(ds) -> Optional[Tuple[float, float]]:
    for key in ('PixelSpacing', 'ImagerPixelSpacing'):
        val = ds.get(key)
        if val is not None and len(val) == 2:
            sp = (float(val[0]), float(val[1]))
            if sp[0] > 0 and sp[1] > 0:
                return sp
    return None


def read_dicom(
    path: Union[str, os.PathLike],
    window: str = 'voi',
    percentiles: Sequence[float] = (0.5, 99.5),
    target_long_side: Optional[int] = None,
    reduce_tolerance: float = 0.0,
    dtype: str = 'float32',
    voi_index: int = 0,
    data: Optional[bytes] = None,
    frame: Optional[int] = None,
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Read a grayscale radiograph from a DICOM file.

    The DICOM grayscale pipeline is Modality LUT / rescale, then VOI (mode
    ``voi``: the file's VOI LUT Sequence or window, via pydicom's
    ``apply_voi_lut``; a file without VOI falls back to ``minmax``), then
    MONOCHROME1 inversion. ``minmax`` and ``percentile`` replace the VOI by a
    linear window over the modality values. A multi-frame file is refused
    unless ``frame`` picks one; a colour file becomes grey by ITU-R BT.601
    luma, recorded as ``meta['colour_conversion']``.

    Args:
        path: DICOM file.
        window: ``'voi'`` | ``'minmax'`` | ``'percentile'``.
        percentiles: Lower/upper percentile for ``window='percentile'``.
        target_long_side: The long side the pipeline resizes to; JPEG 2000
            is then decoded at the smallest 1/2**r resolution that still
            reaches it. ``None`` decodes at full resolution.
        reduce_tolerance: Fraction by which the decoded long side may fall
            short of ``target_long_side`` (0 = never upsample).
        dtype: ``'uint8'`` (0-255), ``'uint16'`` (0-65535), ``'float32'``
            (0-255 scale, not quantised) or ``'raw'`` (VOI output in its own
            units, MONOCHROME1 inverted as ``lo + hi - v``; for checks).
        voi_index: Which window / VOI LUT to use when the file has several.
        frame: Frame of a multi-frame file to read (recorded as
            ``meta['frame']``). ``None`` refuses multi-frame files: a
            radiograph is one frame, a series is not a radiograph.
        data: The file's bytes, when fetched from a non-local storage
            backend; ``path`` then only names the file in errors.

    Returns:
        ``(img, meta)``: (h, w) image and a dict with ``ori_shape`` (rows,
        columns in the file), ``pixel_spacing`` ((row, col) mm or None),
        ``photometric_interpretation``, ``transfer_syntax``, ``bits_stored``,
        ``decode_scale`` (decoded / original size), ``window_used``,
        ``voi_range``, ``frame`` (None for single-frame files) and
        ``colour_conversion`` (None for grey files).

    Raises:
        DicomReadError: Unreadable, truncated or pixel-less file (the message
            names the file).
    """
    import pydicom

    if window not in WINDOW_MODES:
        raise ValueError(f'window must be one of {WINDOW_MODES}, got {window}')
    if dtype not in OUT_DTYPES:
        raise ValueError(f'dtype must be one of {OUT_DTYPES}, got {dtype}')
    path = os.fspath(path)
    try:
        ds = pydicom.dcmread(
            path if data is None else io.BytesIO(data), force=path.lower().endswith(DICOM_SUFFIXES)
        )
    except Exception as e:  # pydicom raises many types for bad input
        raise DicomReadError(f'{path}: not a readable DICOM file ({type(e).__name__}: {e})') from e
    if 'PixelData' not in ds and 'FloatPixelData' not in ds and 'DoubleFloatPixelData' not in ds:
        raise DicomReadError(f'{path}: DICOM file has no Pixel Data')
    try:
        return _read_dataset(
            ds, window, percentiles, target_long_side, reduce_tolerance, dtype, voi_index, frame
        )
    except DicomReadError as e:
        raise DicomReadError(f'{path}: {e}') from e
    except Exception as e:
        raise DicomReadError(f'{path}: cannot decode pixel data ({type(e).__name__}: {e})') from e


def _read_dataset(
    ds, window, percentiles, target_long_side, reduce_tolerance, dtype, voi_index, frame
):
    if 'TransferSyntaxUID' not in getattr(ds, 'file_meta', {}):
        # Headerless (raw) dataset read with force=True: the DICOM default.
        from pydicom.uid import ImplicitVRLittleEndian

        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    tsyntax = str(ds.file_meta.TransferSyntaxUID)
    rows, cols = int(ds.Rows), int(ds.Columns)
    photometric = str(ds.get('PhotometricInterpretation', 'MONOCHROME2'))
    samples = int(ds.get('SamplesPerPixel', 1))
    frames = int(ds.get('NumberOfFrames', 1) or 1)
    if frames > 1 and frame is None:
        raise DicomReadError(
            f'multi-frame file ({frames} frames) is not a single radiograph; '
            'pick one with frame=<index>'
        )
    if frame is not None and not 0 <= frame < frames:
        raise DicomReadError(f'frame {frame} requested, file has {frames} frame(s)')
    index = frame or 0
    meta: Dict[str, Any] = dict(
        ori_shape=(rows, cols),
        pixel_spacing=_spacing(ds),
        photometric_interpretation=photometric,
        transfer_syntax=tsyntax,
        bits_stored=int(ds.get('BitsStored', ds.get('BitsAllocated', 8))),
        decode_scale=1.0,
        frame=frame,
        colour_conversion=None,
    )

    arr = None
    if tsyntax in JPEG2000_UIDS and target_long_side and samples == 1:
        arr = _reduced_j2k(ds, index, frames, rows, cols, target_long_side, reduce_tolerance)
        if arr is not None:
            meta['decode_scale'] = arr.shape[0] / rows
    if arr is None:
        arr = ds.pixel_array if frames == 1 else ds.pixel_array[index]
    if arr.size == 0:
        raise DicomReadError('empty pixel data')

    invert = photometric == 'MONOCHROME1'
    if samples > 1 or arr.ndim == 3:
        # Colour radiographs (secondary captures): luminance, no VOI.
        gray = arr[..., :3].astype(np.float64) @ LUMA_WEIGHTS
        meta['colour_conversion'] = (
            f'{photometric} ({samples} samples) -> grey by ITU-R BT.601 luma '
            f'{LUMA_WEIGHTS} of RGB, min-max window'
        )
        out, info = _present(
            gray,
            None,  # never 'voi': ds is not read
            'minmax' if window == 'voi' else window,
            percentiles,
            voi_index,
            dtype,
            False,
        )
        meta.update(info)
        return out, meta

    if arr.dtype.kind in 'ui' and arr.dtype.itemsize <= 2:
        # Table over every possible stored value, then one gather.
        n = 2 ** (8 * arr.dtype.itemsize)
        idx_dtype = np.uint8 if n == 256 else np.uint16
        probe = np.arange(n, dtype=idx_dtype).view(arr.dtype)
        idx = arr.view(idx_dtype)
        counts = None
        if window == 'percentile' or window == 'minmax' or not has_voi(ds):
            counts = np.bincount(idx.ravel(), minlength=n)
        table = _pydicom_voi(probe, ds, voi_index) if window == 'voi' else _modality(probe, ds)
        table, info = _present(table, ds, window, percentiles, voi_index, dtype, invert, counts)
        out = table[idx]
    else:
        v = _pydicom_voi(arr, ds, voi_index) if window == 'voi' else _modality(arr, ds)
        out, info = _present(v, ds, window, percentiles, voi_index, dtype, invert)
    meta.update(info)
    return out, meta


def _reduced_j2k(ds, index, frames, rows, cols, target_long_side, tolerance):
    """Stored values at 1/2**r resolution, or None when full resolution is needed.

    A codestream Pillow cannot open, or one whose signedness disagrees with
    Pixel Representation, falls back to pydicom's full decode (same pixels,
    slower), which also reports the real errors.
    """
    from pydicom.encaps import get_frame
    from pydicom.pixels.utils import get_j2k_parameters

    if not j2k_available():
        return None
    try:
        codestream = get_frame(ds.PixelData, index, number_of_frames=frames)
        levels = j2k_decomposition_levels(codestream)
    except (ValueError, IndexError, TypeError):
        return None
    pixel_representation = int(ds.get('PixelRepresentation', 0))
    if bool(get_j2k_parameters(codestream).get('is_signed')) != bool(pixel_representation):
        # Signed data coded as unsigned (or back): the low-pass bands average
        # across the wrap at zero, so no reduced image is right; pydicom's sign
        # correction is exact only on the full decode.
        return None
    r = choose_reduce(max(rows, cols), target_long_side, levels, tolerance)
    while r > 1 and not pillow_can_reduce(rows, cols, r):
        r -= 1  # a larger image than needed, never a wrong one
    if r == 0:
        return None
    try:
        return decode_j2k(codestream, r, pixel_representation)
    except Exception:  # Pillow's own errors (OSError, DecompressionBombError ...)
        return None


def _modality(values: np.ndarray, ds) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    return apply_modality_lut(values, ds)


def dicom_header(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Size, spacing and photometric interpretation without decoding."""
    import pydicom

    path = os.fspath(path)
    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, force=path.lower().endswith(DICOM_SUFFIXES)
        )
        return dict(
            height=int(ds.Rows),
            width=int(ds.Columns),
            pixel_spacing=_spacing(ds),
            photometric_interpretation=str(ds.get('PhotometricInterpretation', '')),
        )
    except Exception as e:
        raise DicomReadError(f'{path}: cannot read DICOM header ({type(e).__name__}: {e})') from e


__all__ = ['DicomReadError', 'is_dicom', 'read_dicom', 'dicom_header', 'voi_output_range']
