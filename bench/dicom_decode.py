# Copyright (c) cxr-mm contributors. All rights reserved.
"""Images/s of LoadCXRImage vs a naive pydicom -> numpy -> PIL path.

Both paths produce the same thing: the VOI-windowed, MONOCHROME1-inverted
radiograph, 8-bit, long side resized to ``--target``. The naive path is the
usual notebook recipe (``ds.pixel_array`` -> ``apply_voi_lut`` -> invert ->
normalise -> ``PIL.Image.resize``). Ours is ``LoadCXRImage(target_long_side=
...)`` followed by ``mmcv.imrescale`` (what a pipeline ``Resize`` does).
Measured in the same run on the real chest CR from pydicom-data (uncompressed
and lossless JPEG 2000); single-threaded (cv2 threads = 1), CPU time, for fairness.

JPEG 2000 gains most when the source is at least twice the target (then a
resolution level is skipped exactly): RG1 is 1955 px, so at 1024 it must be
decoded in full, at 512 it is not. VinDr-CXR's ~2,500-3,000 px images are
not: the last rows use RG1 upsampled to 2,800 x 2,300, 16 bit
(bench/vindr_size.py, cached outside the checkout), at 1024, where the >= 2x
JPEG 2000 goal applies (one level skipped, Pillow's openjpeg ``reduce``).

Usage:
    python bench/dicom_decode.py [--targets 1024 512] [--repeats 5]
"""

import argparse
import os.path as osp
import sys
import time

import cv2
import mmcv
import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from cxr_mm.datasets.transforms.loading import LoadCXRImage

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from vindr_size import COLS, ROWS, vindr_size_dicoms  # noqa: E402

VINDR_TARGET, VINDR_GOAL = 1024, 2.0


def naive(path: str, target: int) -> np.ndarray:
    ds = pydicom.dcmread(path)
    arr = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    arr = arr.astype(np.float64)
    arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12)
    if ds.PhotometricInterpretation == 'MONOCHROME1':
        arr = 1 - arr
    img = Image.fromarray((arr * 255).astype(np.uint8))
    scale = target / max(img.size)
    size = (round(img.size[0] * scale), round(img.size[1] * scale))
    return np.asarray(img.resize(size, Image.BILINEAR))


def ours(loader: LoadCXRImage, path: str, target: int) -> np.ndarray:
    img = loader(dict(img_path=path))['img']
    return mmcv.imrescale(img, (target, target), interpolation='bilinear')


def rate(fn, repeats: int) -> float:
    """Calls per CPU-second of this process: fair when other jobs share the cores."""
    fn()  # warm-up (imports, page cache)
    t0 = time.process_time()
    for _ in range(repeats):
        fn()
    return repeats / (time.process_time() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--targets', type=int, nargs='+', default=[1024, 512])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--tolerance',
        type=float,
        default=0.05,
        help='reduce_tolerance of the tolerant JPEG 2000 rows',
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    files = dict(
        uncompressed=get_testdata_file('RG1_UNCR.dcm'), jpeg2000=get_testdata_file('RG1_J2KR.dcm')
    )
    print(f'RG1 chest CR 1955x1841, 15 bit, MONOCHROME1; {args.repeats} repeats')
    print(
        f'{"file":<22}{"target":>7}{"naive img/s":>12}{"ours img/s":>12}'
        f'{"ratio":>8}{"decoded at":>14}'
    )
    for target in args.targets:
        strict = LoadCXRImage(color_type='grayscale', target_long_side=target)
        tolerant = LoadCXRImage(
            color_type='grayscale', target_long_side=target, reduce_tolerance=args.tolerance
        )
        rows = [
            ('uncompressed', files['uncompressed'], strict),
            ('jpeg2000', files['jpeg2000'], strict),
            (f'jpeg2000 tol={args.tolerance}', files['jpeg2000'], tolerant),
        ]
        for name, path, loader in rows:
            _row(name, path, loader, target, args.repeats)
    vindr = vindr_size_dicoms()
    print(f'\nVinDr size: RG1 upsampled to {ROWS}x{COLS} (rows x columns), 16 bit, MONOCHROME1;')
    print(
        f'goal: JPEG 2000 at {VINDR_TARGET} >= {VINDR_GOAL:g}x the naive path (one level skipped)'
    )
    loader = LoadCXRImage(color_type='grayscale', target_long_side=VINDR_TARGET)
    for name in ('uncompressed', 'jpeg2000'):
        ratio = _row(name, vindr[name], loader, VINDR_TARGET, args.repeats)
        if name == 'jpeg2000':
            print(f'{"":<22}goal {VINDR_GOAL:g}x: {"met" if ratio >= VINDR_GOAL else "NOT met"}')


def _row(name, path, loader, target, repeats) -> float:
    r_naive = rate(lambda: naive(path, target), repeats)
    r_ours = rate(lambda: ours(loader, path, target), repeats)
    decoded = loader(dict(img_path=path))['img'].shape
    print(
        f'{name:<22}{target:>7}{r_naive:>12.2f}{r_ours:>12.2f}'
        f'{r_ours / r_naive:>7.2f}x{str(decoded):>14}',
        flush=True,
    )
    return r_ours / r_naive


if __name__ == '__main__':
    main()
