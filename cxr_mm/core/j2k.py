# Copyright (c) cxr-mm contributors. All rights reserved.
"""Reduced-resolution JPEG 2000 decoding through Pillow's openjpeg plugin.

VinDr-CXR stores many radiographs as JPEG 2000; when the pipeline shrinks the
image anyway, decoding at 1/2, 1/4 ... resolution (openjpeg's ``reduce``,
exposed by Pillow as ``Jpeg2KImageFile.reduce``) skips most of the wavelet
work. Pillow widens the decoded samples to its 8/16-bit modes (an offset for
signed data, a left shift up to the mode's width); both are undone here so the
result holds the stored values, and pydicom's sign correction (a codestream
whose signedness disagrees with Pixel Representation) is applied as pydicom
applies it on its full-resolution path.
"""

import io
from typing import Optional

import numpy as np

_MODE_BITS = {'L': 8, 'I;16': 16}


def j2k_available() -> bool:
    """Whether the installed Pillow was built with openjpeg."""
    from PIL import features

    return bool(features.check('jpg_2000'))


def j2k_decomposition_levels(codestream: bytes) -> int:
    """Number of wavelet decompositions in a J2K codestream's COD marker."""
    start = 4 if codestream[:4] == b'\xff\x4f\xff\x51' else 0
    end = codestream.find(b'\xff\x90')  # first tile-part: main header ends
    i = codestream.find(b'\xff\x52', start, end if end > 0 else None)
    if i < 0:
        raise ValueError('no COD marker in the JPEG 2000 main header')
    return codestream[i + 9]


def decode_j2k(
    codestream: bytes, reduce: int = 0, pixel_representation: Optional[int] = None
) -> np.ndarray:
    """Decode a single-component J2K codestream at 1 / 2**reduce resolution.

    Args:
        codestream: JPEG 2000 codestream or JP2 file (a DICOM frame).
        reduce: Number of highest resolution levels to discard.
        pixel_representation: The DICOM Pixel Representation (0 unsigned,
            1 signed). When given, the result has the DICOM signedness and a
            codestream of the other signedness is corrected like pydicom does;
            ``None`` keeps the codestream's signedness.

    Returns:
        ``(h, w)`` uint16/int16 (uint8/int8 for <= 8 bit) stored values;
        size ``ceil(size / 2**reduce)``.

    Raises:
        ValueError: Not a single-component JPEG 2000 image of <= 16 bits.
    """
    from PIL import Image
    from pydicom.pixels.utils import get_j2k_parameters

    info = get_j2k_parameters(codestream)
    if 'precision' not in info:
        raise ValueError('not a JPEG 2000 codestream (no SIZ marker)')
    precision, signed = int(info['precision']), bool(info['is_signed'])
    im = Image.open(io.BytesIO(codestream), formats=['JPEG2000'])
    im.reduce = reduce  # Jpeg2KImageFile's openjpeg cp_reduce
    im.load()
    if im.mode not in _MODE_BITS:
        raise ValueError(f'expected one grey component of <= 16 bits, got Pillow mode {im.mode}')
    width = _MODE_BITS[im.mode]
    if precision > width:
        raise ValueError(f'{precision}-bit samples in Pillow mode {im.mode}')
    # Pillow stores (value + 2**(precision-1) if signed) << (width - precision).
    values = np.asarray(im).astype(np.int32) >> (width - precision)
    if signed:
        values -= 1 << (precision - 1)
    if pixel_representation is None:
        pixel_representation = int(signed)
    dtype = np.dtype(f'{"i" if pixel_representation else "u"}{width // 8}')
    arr = values.astype(dtype)
    # pydicom.pixels.decoders.base._apply_sign_correction: re-extend the sign
    # bit of a codestream whose signedness disagrees with Pixel Representation.
    shift = 8 * dtype.itemsize - precision
    if shift and signed != bool(pixel_representation):
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    return arr


def pillow_can_reduce(rows: int, cols: int, reduce: int) -> bool:
    """Whether Pillow's reduced size equals openjpeg's for this image.

    Pillow sizes a reduced image as ``(n + 2**(r-1)) // 2**r`` while openjpeg
    decodes ``ceil(n / 2**r)``; where the two differ Pillow refuses the decode
    ("broken data stream"). They always agree for ``r <= 1``.
    """
    power = 1 << reduce
    return all((n + (power >> 1)) // power == -(-n // power) for n in (rows, cols))


def choose_reduce(
    long_side: int, target_long_side: Optional[int], max_reduce: int, tolerance: float = 0.0
) -> int:
    """Largest ``r`` whose decoded long side still reaches the target.

    ``tolerance`` lets the decoded side fall short of the target by that
    fraction (the pipeline then upsamples slightly).
    """
    if not target_long_side:
        return 0
    need = target_long_side * (1 - tolerance)
    r = 0
    while r < max_reduce and -(-long_side // 2 ** (r + 1)) >= need:
        r += 1
    return r
