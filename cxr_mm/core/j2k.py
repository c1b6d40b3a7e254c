# Copyright (c) cxr-mm contributors. All rights reserved.
"""Reduced-resolution JPEG 2000 decoding through the openjpeg of pylibjpeg-openjpeg.

VinDr-CXR stores many radiographs as JPEG 2000; when the pipeline shrinks the
image anyway, decoding at 1/2, 1/4 ... resolution (openjpeg's ``reduce``)
skips most of the wavelet work.
"""

import ctypes
from typing import Optional

import numpy as np


# --------------------------------------------------------------------------
# reduced-resolution JPEG 2000 decoding (openjpeg via pylibjpeg-openjpeg)
# --------------------------------------------------------------------------
class _OpjImageComp(ctypes.Structure):
    _fields_ = [
        ('dx', ctypes.c_uint32),
        ('dy', ctypes.c_uint32),
        ('w', ctypes.c_uint32),
        ('h', ctypes.c_uint32),
        ('x0', ctypes.c_uint32),
        ('y0', ctypes.c_uint32),
        ('prec', ctypes.c_uint32),
        ('bpp', ctypes.c_uint32),
        ('sgnd', ctypes.c_uint32),
        ('resno_decoded', ctypes.c_uint32),
        ('factor', ctypes.c_uint32),
        ('data', ctypes.POINTER(ctypes.c_int32)),
        ('alpha', ctypes.c_uint16),
    ]


class _OpjImage(ctypes.Structure):
    _fields_ = [
        ('x0', ctypes.c_uint32),
        ('y0', ctypes.c_uint32),
        ('x1', ctypes.c_uint32),
        ('y1', ctypes.c_uint32),
        ('numcomps', ctypes.c_uint32),
        ('color_space', ctypes.c_int),
        ('comps', ctypes.POINTER(_OpjImageComp)),
        ('icc_profile_buf', ctypes.c_void_p),
        ('icc_profile_len', ctypes.c_uint32),
    ]


_READ_FN = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_SKIP_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
_SEEK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)
_OPJ = None


def _openjpeg_lib():
    """The openjpeg C library bundled in pylibjpeg-openjpeg's extension.

    pylibjpeg-openjpeg's Python ``decode`` has no ``reduce`` argument, but its
    extension exports openjpeg's C API, which has.
    """
    global _OPJ
    if _OPJ is None:
        import _openjpeg  # pylibjpeg-openjpeg's compiled extension

        lib = ctypes.CDLL(_openjpeg.__file__)
        vp = ctypes.c_void_p
        sigs = {
            'opj_create_decompress': (vp, [ctypes.c_int]),
            'opj_set_default_decoder_parameters': (None, [vp]),
            'opj_setup_decoder': (ctypes.c_int, [vp, vp]),
            'opj_stream_create': (vp, [ctypes.c_size_t, ctypes.c_int]),
            'opj_stream_set_read_function': (None, [vp, _READ_FN]),
            'opj_stream_set_skip_function': (None, [vp, _SKIP_FN]),
            'opj_stream_set_seek_function': (None, [vp, _SEEK_FN]),
            'opj_stream_set_user_data_length': (None, [vp, ctypes.c_uint64]),
            'opj_read_header': (ctypes.c_int, [vp, vp, ctypes.POINTER(ctypes.POINTER(_OpjImage))]),
            'opj_decode': (ctypes.c_int, [vp, vp, ctypes.POINTER(_OpjImage)]),
            'opj_end_decompress': (ctypes.c_int, [vp, vp]),
            'opj_image_destroy': (None, [ctypes.POINTER(_OpjImage)]),
            'opj_stream_destroy': (None, [vp]),
            'opj_destroy_codec': (None, [vp]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        _OPJ = lib
    return _OPJ


def openjpeg_available() -> bool:
    try:
        _openjpeg_lib()
        return True
    except (ImportError, OSError, AttributeError):
        return False


def j2k_decomposition_levels(codestream: bytes) -> int:
    """Number of wavelet decompositions in a J2K codestream's COD marker."""
    start = 4 if codestream[:4] == b'\xff\x4f\xff\x51' else 0
    end = codestream.find(b'\xff\x90')  # first tile-part: main header ends
    i = codestream.find(b'\xff\x52', start, end if end > 0 else None)
    if i < 0:
        raise ValueError('no COD marker in the JPEG 2000 main header')
    return codestream[i + 9]


def decode_j2k(codestream: bytes, reduce: int = 0) -> np.ndarray:
    """Decode a single-component J2K codestream at 1 / 2**reduce resolution.

    Args:
        codestream: Raw JPEG 2000 codestream (a DICOM frame).
        reduce: Number of highest resolution levels to discard.

    Returns:
        ``(h, w)`` uint16/int16 (or uint8/int8 for <= 8 bit) array with the
        stored values; size ``ceil(size / 2**reduce)``.
    """
    lib = _openjpeg_lib()
    data = bytes(codestream)
    pos = [0]

    def read(buf, nbytes, _):
        n = min(nbytes, len(data) - pos[0])
        if n <= 0:
            return ctypes.c_size_t(-1).value  # (OPJ_SIZE_T)-1: end of stream
        ctypes.memmove(buf, data[pos[0] : pos[0] + n], n)
        pos[0] += n
        return n

    def skip(nbytes, _):
        pos[0] = min(max(pos[0] + nbytes, 0), len(data))
        return nbytes

    def seek(offset, _):
        if offset > len(data):
            return 0
        pos[0] = offset
        return 1

    cbs = (_READ_FN(read), _SKIP_FN(skip), _SEEK_FN(seek))
    params = ctypes.create_string_buffer(65536)  # > sizeof(opj_dparameters_t)
    lib.opj_set_default_decoder_parameters(params)
    ctypes.c_uint32.from_buffer(params, 0).value = reduce  # cp_reduce
    fmt = 2 if data[4:8] == b'jP  ' else 0  # JP2 box or raw codestream
    codec = lib.opj_create_decompress(fmt)
    stream = lib.opj_stream_create(1 << 20, 1)
    image = ctypes.POINTER(_OpjImage)()
    try:
        lib.opj_stream_set_read_function(stream, cbs[0])
        lib.opj_stream_set_skip_function(stream, cbs[1])
        lib.opj_stream_set_seek_function(stream, cbs[2])
        lib.opj_stream_set_user_data_length(stream, len(data))
        if not lib.opj_setup_decoder(codec, params):
            raise RuntimeError('openjpeg: failed to set up the decoder')
        if not lib.opj_read_header(stream, codec, ctypes.byref(image)):
            raise RuntimeError('openjpeg: failed to read the header')
        if not (lib.opj_decode(codec, stream, image) and lib.opj_end_decompress(codec, stream)):
            raise RuntimeError('openjpeg: failed to decode the image')
        img = image.contents
        if img.numcomps != 1:
            raise RuntimeError(f'expected 1 component, got {img.numcomps}')
        comp = img.comps[0]
        arr = np.ctypeslib.as_array(comp.data, shape=(comp.h, comp.w))
        bits = 8 if comp.prec <= 8 else 16
        dtype = f'{"i" if comp.sgnd else "u"}{bits // 8}'
        return arr.astype(dtype)
    finally:
        if image:
            lib.opj_image_destroy(image)
        lib.opj_stream_destroy(stream)
        lib.opj_destroy_codec(codec)


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
