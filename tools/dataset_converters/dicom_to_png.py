# Copyright (c) cxr-mm contributors. All rights reserved.
"""Convert a DICOM tree to PNG (8 or 16 bit) with the CXR grayscale pipeline.

Decoding full-size JPEG 2000 DICOMs dominates data loading; converting once
to long-side-resized PNGs makes training I/O cheap (the stage-2 ``*_vindr-png``
configs read them). The conversion is resumable (finished PNGs are skipped,
every write is temp file + rename), runs N worker processes with a progress
bar, records its options in ``OUT/conversion.json`` (a re-run with other
options stops, naming them, unless ``--overwrite``), writes the size table
``OUT/image_meta.csv`` (ORIGINAL DICOM width/height: boxes stay in DICOM
pixels) and exits non-zero listing every file that failed (``OUT/failures.txt``).

Example (the documented VinDr-CXR path)::

    python tools/dataset_converters/dicom_to_png.py \
        data/vindr/train data/vindr/train_png_1024 --long-side 1024 --bits 16 --workers 8
"""

import argparse
import csv
import os
import os.path as osp
import sys
import traceback
from typing import Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
from cxr_mm.core import dicom  # noqa: E402  (framework-free: fast workers)
from cxr_mm.core.prepared import (  # noqa: E402
    claim_output_dir,
    remove_stale_temps,
    report_failures,
    resize_long_side,
    run_parallel,
    write_png_atomic,
)

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
            frame=opts['frame'],
        )
        img = resize_long_side(img, opts['long_side'])
        if opts['bits'] == 8:
            img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        write_png_atomic(dst_path, img)  # a PNG is complete or absent
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
        help='shrink so the long side is at most this (default: keep the size)',
    )
    parser.add_argument(
        '--frame',
        type=int,
        default=None,
        help='frame to convert from multi-frame files (default: refuse them)',
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='OUT holds PNGs made with other options: delete them and convert again',
    )
    parser.add_argument('--bits', type=int, choices=(8, 16), default=16)
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
        frame=args.frame,
    )
    tasks = [
        (
            osp.join(args.src, rel),
            osp.join(args.out, osp.splitext(rel)[0] + '.png'),
            dict(opts, rel=rel, debug=args.debug),
        )
        for rel in rels
    ]
    try:
        removed = claim_output_dir(
            args.out, dict(opts, tool='dicom_to_png'), [t[1] for t in tasks], args.overwrite
        )
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if removed:
        print(f'--overwrite: deleted {removed} PNGs made with other options')
    remove_stale_temps(args.out)
    rows, failures, skipped = [], [], 0
    for rel, row, err, was_done in run_parallel(convert_one, tasks, args.workers, 'dicom->png'):
        if err is None:
            rows.append(row)
            skipped += was_done
        else:
            failures.append((rel, err))
    meta_csv = args.meta_csv or osp.join(args.out, 'image_meta.csv')
    write_meta_csv(meta_csv, rows)
    print(
        f'{len(tasks)} files: {len(rows) - skipped} converted, '
        f'{skipped} already done (skipped), '
        f'{len(failures)} failed; meta CSV: {meta_csv}'
    )
    report_failures(failures, args.out)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
