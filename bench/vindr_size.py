"""VinDr-size DICOM test files, made once from a real chest radiograph.

VinDr-CXR ships ~2,500-3,000 px, 12-16 bit DICOMs, a share of them JPEG 2000.
Nothing of that size may ship in the checkout, so the benches build it from
pydicom-data's ``RG1_UNCR`` (a real chest CR, 1955 x 1841, 15 bit, MONOCHROME1,
window tags): upsampled to 2,800 x 2,300, scaled to 16 bit (window tags scaled
alike), written uncompressed and as JPEG 2000 lossless with pydicom's own encoder
(``Dataset.compress``, pylibjpeg-openjpeg). The files go to a cache outside the
checkout (``~/.cache/cxr-mm/bench``, or ``$CXR_MM_BENCH_CACHE``) and are reused.
"""

import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

ROWS, COLS = 2800, 2300
CACHE = os.environ.get('CXR_MM_BENCH_CACHE', osp.expanduser('~/.cache/cxr-mm/bench'))


def vindr_size_dicoms(cache: str = CACHE) -> Dict[str, str]:
    """``{'uncompressed': path, 'jpeg2000': path}``, generated on first use."""
    paths = {
        'uncompressed': osp.join(cache, f'RG1_{ROWS}x{COLS}_uncompressed.dcm'),
        'jpeg2000': osp.join(cache, f'RG1_{ROWS}x{COLS}_j2k_lossless.dcm'),
    }
    if all(osp.exists(p) for p in paths.values()):
        return paths
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import JPEG2000Lossless

    src = get_testdata_file('RG1_UNCR.dcm', download=False)
    if src is None:
        raise FileNotFoundError('RG1_UNCR.dcm: install pydicom-data (requirements/tests.txt)')
    ds = pydicom.dcmread(src)
    shift = 16 - int(ds.BitsStored)
    big = cv2.resize(ds.pixel_array, (COLS, ROWS), interpolation=cv2.INTER_CUBIC)
    big = (big.astype(np.uint32) << shift).clip(0, 65535).astype(np.uint16)
    ds.Rows, ds.Columns = ROWS, COLS
    ds.BitsStored, ds.HighBit = 16, 15
    ds.WindowCenter = float(ds.WindowCenter) * 2**shift
    ds.WindowWidth = float(ds.WindowWidth) * 2**shift
    ds.PixelData = big.tobytes()
    os.makedirs(cache, exist_ok=True)
    tmp = paths['uncompressed'] + f'.tmp-{os.getpid()}'
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, paths['uncompressed'])
    ds.compress(JPEG2000Lossless)
    tmp = paths['jpeg2000'] + f'.tmp-{os.getpid()}'
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, paths['jpeg2000'])
    return paths


if __name__ == '__main__':
    for name, path in vindr_size_dicoms().items():
        print(f'{name}: {path} ({osp.getsize(path) / 1e6:.1f} MB)')
