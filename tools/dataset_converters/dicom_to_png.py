# Copyright (c) cxr-mm contributors. All rights reserved.
"""Convert a DICOM tree to PNG (8 or 16 bit) with the CXR grayscale pipeline.

Decoding full-size JPEG 2000 DICOMs dominates data loading; converting once
to long-side-resized PNGs makes training I/O cheap. The conversion is
resumable (finished PNGs are skipped, every write is temp file + rename),
runs N worker processes, and exits non-zero listing every file that failed.

Example:
    python tools/dataset_converters/dicom_to_png.py \
        data/vindr/train data/vindr/train_png_1024 --long-side 1024 \
        --bits 8 --workers 8 --meta-csv data/vindr/image_meta.csv
"""

import argparse
import csv
import multiprocessing as mp
import os
import os.path as osp
import sys
import traceback
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
from cxr_mm.core import dicom  # noqa: E402  (framework-free: fast workers)

META_COLUMNS = [
    'image_id',
    'width',
    'height',
    'pixel_spacing_row',
    'pixel_spacing_col',
    'photometric_interpretation',
]


def find_dicoms(src: str, suffixes: Tuple[str, ...]) -> List[str]:
    """Relative paths of DICOM files under ``src``, sorted."""
    found = []
    for root, _, files in os.walk(src):
        for name in files:
            if name.lower().endswith(suffixes):
                found.append(osp.relpath(osp.join(root, name), src))
    return sorted(found)


def image_id_of(rel_path: str) -> str:
    """Relative path without suffix, '/'-separated."""
    return osp.splitext(rel_path)[0].replace(os.sep, '/')


def resize_long_side(img: np.ndarray, long_side: Optional[int]) -> np.ndarray:
    """Shrink (never enlarge) so that max(h, w) == long_side."""
    h, w = img.shape[:2]
    if not long_side or max(h, w) <= long_side:
        return img
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _meta_row(image_id: str, meta: Dict) -> Dict:
    h, w = meta['ori_shape'] if 'ori_shape' in meta else (meta['height'], meta['width'])
    sp = meta.get('pixel_spacing') or ('', '')
    return dict(
        image_id=image_id,
        width=w,
        height=h,
        pixel_spacing_row=sp[0],
        pixel_spacing_col=sp[1],
        photometric_interpretation=meta['photometric_interpretation'],
    )


def convert_one(task: Tuple[str, str, Dict]) -> Tuple[str, Optional[Dict], Optional[str], bool]:
    """Convert one file. Returns (rel_path, meta_row, error, skipped)."""
    src_path, dst_path, opts = task
    rel = opts['rel']
    try:
        if osp.exists(dst_path):  # resume: done earlier
            header = dicom.dicom_header(src_path)
            return rel, _meta_row(image_id_of(rel), header), None, True
        dtype = 'uint16' if opts['bits'] == 16 else 'float32'
        img, meta = dicom.read_dicom(
            src_path,
            window=opts['window'],
            percentiles=opts['percentiles'],
            target_long_side=opts['long_side'],
            dtype=dtype,
        )
        img = resize_long_side(img, opts['long_side'])
        if opts['bits'] == 8:
            img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode('.png', img)
        if not ok:
            raise RuntimeError('PNG encoding failed')
        os.makedirs(osp.dirname(dst_path) or '.', exist_ok=True)
        tmp = f'{dst_path}.tmp-{os.getpid()}'
        with open(tmp, 'wb') as f:
            f.write(buf.tobytes())
        os.replace(tmp, dst_path)  # atomic: a PNG is complete or absent
        return rel, _meta_row(image_id_of(rel), meta), None, False
    except Exception as e:
        msg = (
            str(e)
            if isinstance(e, dicom.DicomReadError)
            else f'{src_path}: {type(e).__name__}: {e}'
        )
        if opts.get('debug'):
            msg += '\n' + traceback.format_exc()
        return rel, None, msg, False


def write_meta_csv(path: str, rows: List[Dict]) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', newline='') as f:
        writer = csv.DictWriter(f, META_COLUMNS, lineterminator='\n')
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r['image_id']))
    os.replace(tmp, path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert DICOM files to PNG (resumable, parallel).'
    )
    parser.add_argument('src', help='folder searched recursively for DICOMs')
    parser.add_argument('out', help='output folder (same relative layout)')
    parser.add_argument(
        '--long-side',
        type=int,
        default=None,
        help='shrink so the long side is at most this (default: keep)',
    )
    parser.add_argument('--bits', type=int, choices=(8, 16), default=8)
    parser.add_argument('--window', choices=('voi', 'minmax', 'percentile'), default='voi')
    parser.add_argument('--percentiles', type=float, nargs=2, default=(0.5, 99.5))
    parser.add_argument(
        '--workers',
        type=int,
        default=max(1, (os.cpu_count() or 1) // 2),
        help='worker processes (0 = in this process)',
    )
    parser.add_argument(
        '--meta-csv', default=None, help='meta CSV path (default: OUT/image_meta.csv)'
    )
    parser.add_argument(
        '--suffixes', nargs='+', default=['.dicom', '.dcm'], help='file suffixes to convert'
    )
    parser.add_argument('--debug', action='store_true', help='print tracebacks of failures')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    suffixes = tuple(s.lower() for s in args.suffixes)
    rels = find_dicoms(args.src, suffixes)
    if not rels:
        print(f'no files with suffix {suffixes} under {args.src}', file=sys.stderr)
        return 1
    opts = dict(
        bits=args.bits,
        window=args.window,
        percentiles=tuple(args.percentiles),
        long_side=args.long_side,
        debug=args.debug,
    )
    tasks = [
        (
            osp.join(args.src, rel),
            osp.join(args.out, osp.splitext(rel)[0] + '.png'),
            dict(opts, rel=rel),
        )
        for rel in rels
    ]
    rows, failures, skipped = [], [], 0
    bar = tqdm(total=len(tasks), desc='dicom->png', unit='img')
    pool = None
    if args.workers > 0:
        ctx = mp.get_context('spawn' if sys.platform == 'win32' else 'fork')
        pool = ctx.Pool(args.workers)
        results = pool.imap_unordered(convert_one, tasks, chunksize=4)
    else:
        results = map(convert_one, tasks)
    try:
        for rel, row, err, was_done in results:
            if err is None:
                rows.append(row)
                skipped += was_done
            else:
                failures.append((rel, err))
            bar.update()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    bar.close()
    meta_csv = args.meta_csv or osp.join(args.out, 'image_meta.csv')
    write_meta_csv(meta_csv, rows)
    print(
        f'{len(tasks)} files: {len(rows) - skipped} converted, '
        f'{skipped} already done (skipped), '
        f'{len(failures)} failed; meta CSV: {meta_csv}'
    )
    if failures:
        print(f'FAILED ({len(failures)}):', file=sys.stderr)
        for rel, err in sorted(failures):
            print(f'  {rel}: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
