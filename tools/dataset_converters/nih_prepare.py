# Copyright (c) cxr-mm contributors. All rights reserved.
"""Check an NIH ChestX-ray14 download and write its split / fraction lists.

Uses :class:`cxr_mm.datasets.NIHChestXrayDataset` (same patient-level split
and stratified label fractions as training) to write

- ``<out>/train.txt``, ``val.txt``, ``test.txt``: image names per split;
- ``<out>/train_frac{1,10,100}.txt``: the label-fraction subsets;
- ``<out>/missing.txt``: listed images not found on disk;
- with ``--resize 256``: ``<out>/images_256/*.png`` (long side shrunk with
  INTER_AREA, 8-bit grey), the folder the stage-1 configs read by default
  (``img_dir`` in ``configs/_base_/datasets/nih_bs96_barlowtwins-cxr-224.py``).
  Worker processes, a progress bar, temp file + rename per PNG, resumable
  (finished PNGs are skipped), options recorded in ``images_256/conversion.json``
  (another source folder stops the run unless ``--overwrite``), failures
  listed in ``images_256/failures.txt`` with exit status 1.

Exit status 1 also when files are missing and ``--strict`` is given.

Example (the documented path; the lists and ``images_256/`` land in data/nih)::

    python tools/dataset_converters/nih_prepare.py data/nih --resize 256 --workers 8
"""

import argparse
import os
import os.path as osp
import sys
from typing import Dict, Optional, Tuple

from mmengine.logging import MMLogger

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
from cxr_mm.core.prepared import (  # noqa: E402
    claim_output_dir,
    remove_stale_temps,
    report_failures,
    resize_long_side,
    run_parallel,
    write_png_atomic,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('data_root')
    p.add_argument('--ann-file', default='Data_Entry_2017.csv')
    p.add_argument('--train-val-list', default='train_val_list.txt')
    p.add_argument('--test-list', default='test_list.txt')
    p.add_argument('--img-dir', default='images')
    p.add_argument('--out-dir', default=None, help='default: data_root')
    p.add_argument('--val-ratio', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fractions', type=float, nargs='+', default=[0.01, 0.1, 1.0])
    p.add_argument('--view-positions', nargs='+', default=None)
    p.add_argument(
        '--resize', type=int, nargs='*', default=[], help='long-side sizes of the resized PNG cache'
    )
    p.add_argument(
        '--workers',
        type=int,
        default=max(1, (os.cpu_count() or 1) // 2),
        help='worker processes of the resize (0 = in this process)',
    )
    p.add_argument(
        '--overwrite',
        action='store_true',
        help='images_<size> holds PNGs made with other options: delete them first',
    )
    p.add_argument('--drop-invalid-rows', action='store_true')
    p.add_argument('--strict', action='store_true', help='exit 1 when listed images are missing')
    return p.parse_args(argv)


_LOADER = None


def resize_one(task: Tuple[str, str, int]) -> Tuple[str, Optional[str], bool]:
    """Long side to ``size`` (8-bit grey PNG, written atomically).

    Returns ``(name, error, was_done)``; runs in a worker process.
    """
    global _LOADER
    src, dst, size = task
    if osp.exists(dst):
        return src, None, True
    try:
        if _LOADER is None:
            from cxr_mm.datasets.transforms.loading import LoadCXRImage

            _LOADER = LoadCXRImage(color_type='grayscale')  # 8-bit (h, w)
        img = _LOADER(dict(img_path=src))['img']
        write_png_atomic(dst, resize_long_side(img, size))
        return src, None, False
    except Exception as e:  # report, keep going
        return src, f'{type(e).__name__}: {e}', False


def write_resized(all_paths: Dict[str, str], out: str, size: int, args) -> int:
    """The resized copy of every listed image; returns the number of failures."""
    tasks = [
        (path, osp.join(out, osp.splitext(name)[0] + '.png'), size)
        for name, path in sorted(all_paths.items())
    ]
    options = dict(
        tool='nih_prepare',
        long_side=size,
        bits=8,
        interpolation='area',
        source=osp.abspath(args.data_root),
    )
    removed = claim_output_dir(out, options, [t[1] for t in tasks], args.overwrite)
    if removed:
        print(f'--overwrite: deleted {removed} PNGs made with other options')
    remove_stale_temps(out)
    done = skipped = 0
    failures = []
    for src, err, was_done in run_parallel(resize_one, tasks, args.workers, f'images_{size}'):
        if err is None:
            done += 1
            skipped += was_done
        else:
            failures.append((src, err))
    print(
        f'resized copy {out}: {done} images ({done - skipped} written, {skipped} already '
        f'done), {len(failures)} failed'
    )
    report_failures(failures, out)
    return len(failures)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out_dir = args.out_dir or args.data_root
    import cxr_mm.register  # noqa: F401
    from cxr_mm.datasets.nih import NIHChestXrayDataset

    MMLogger.get_instance('nih_prepare', log_level='WARNING')
    os.makedirs(args.out_dir, exist_ok=True)
    common = dict(
        data_root=args.data_root,
        ann_file=args.ann_file,
        train_val_list=args.train_val_list,
        test_list=args.test_list,
        data_prefix=args.img_dir,
        val_ratio=args.val_ratio,
        seed=args.seed,
        view_positions=args.view_positions,
        on_invalid_row='drop' if args.drop_invalid_rows else 'error',
        mode='multilabel',
        serialize_data=False,
    )

    def names(ds):
        return [osp.basename(d['img_path']) for d in ds.data_list]

    def write(fname, items):
        with open(osp.join(args.out_dir, fname), 'w') as f:
            f.writelines(f'{x}\n' for x in items)

    missing, all_paths = [], {}
    try:
        for split in ('train', 'val', 'test'):
            ds = NIHChestXrayDataset(split=split, **common)
            print(ds.format_summary())
            write(f'{split}.txt', names(ds))
            missing += ds.summary['missing']
            all_paths.update({osp.basename(d['img_path']): d['img_path'] for d in ds.data_list})
        for frac in args.fractions:
            ds = NIHChestXrayDataset(split='train', label_fraction=frac, **common)
            tag = f'{frac * 100:g}'
            write(f'train_frac{tag}.txt', names(ds))
            print(
                f'label fraction {frac:g}: {len(ds)} images of '
                f'{ds.summary["patients"]} patients -> '
                f'train_frac{tag}.txt'
            )
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    write('missing.txt', sorted(missing))
    print(
        f'missing image files: {len(missing)}'
        + (f' (listed in {osp.join(args.out_dir, "missing.txt")})' if missing else '')
    )

    for size in args.resize:
        try:
            failed = write_resized(all_paths, osp.join(args.out_dir, f'images_{size}'), size, args)
        except ValueError as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
        if failed:
            return 1
    return 1 if (missing and args.strict) else 0


if __name__ == '__main__':
    sys.exit(main())
