# Copyright (c) cxr-mm contributors. All rights reserved.
"""Check an NIH ChestX-ray14 download and write its split / fraction lists.

Uses :class:`cxr_mm.datasets.NIHChestXrayDataset` (same patient-level split
and stratified label fractions as training) to write

- ``<out>/train.txt``, ``val.txt``, ``test.txt``: image names per split;
- ``<out>/train_frac{1,10,100}.txt``: the label-fraction subsets;
- ``<out>/missing.txt``: listed images not found on disk;
- with ``--resize 224 512``: ``<out>/images_224/*.png`` ... (long side
  resized, 8-bit grey), usable as ``data_prefix`` of the dataset.

Exit status 1 when files are missing and ``--strict`` is given.

Example::

    python tools/dataset_converters/nih_prepare.py data/nih \\
        --out-dir data/nih/prepared --fractions 0.01 0.1 1.0 --resize 224
"""

import argparse
import os
import os.path as osp
import sys

from mmengine.logging import MMLogger


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('data_root')
    p.add_argument('--ann-file', default='Data_Entry_2017.csv')
    p.add_argument('--train-val-list', default='train_val_list.txt')
    p.add_argument('--test-list', default='test_list.txt')
    p.add_argument('--img-dir', default='images')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--val-ratio', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fractions', type=float, nargs='+', default=[0.01, 0.1, 1.0])
    p.add_argument('--view-positions', nargs='+', default=None)
    p.add_argument(
        '--resize', type=int, nargs='*', default=[], help='long-side sizes of the resized PNG cache'
    )
    p.add_argument('--drop-invalid-rows', action='store_true')
    p.add_argument('--strict', action='store_true', help='exit 1 when listed images are missing')
    return p.parse_args(argv)


def write_resized(loader, src: str, dst: str, size: int) -> None:
    """Long side to ``size`` (8-bit PNG, written atomically)."""
    import cv2

    img = loader(dict(img_path=src))['img']
    h, w = img.shape[:2]
    s = size / max(h, w)
    if s != 1:
        img = cv2.resize(
            img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    tmp = dst + '.tmp.png'
    if not cv2.imwrite(tmp, img):
        raise OSError(f'cannot write {dst}')
    os.replace(tmp, dst)


def main(argv=None) -> int:
    args = parse_args(argv)
    import cxr_mm.register  # noqa: F401
    from cxr_mm.datasets.nih import NIHChestXrayDataset
    from cxr_mm.datasets.transforms.loading import LoadCXRImage

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

    loader = LoadCXRImage(color_type='grayscale')  # 8-bit (h, w)
    for size in args.resize:
        out = osp.join(args.out_dir, f'images_{size}')
        os.makedirs(out, exist_ok=True)
        done = failed = 0
        for name, path in sorted(all_paths.items()):
            dst = osp.join(out, osp.splitext(name)[0] + '.png')
            if osp.exists(dst):
                done += 1
                continue
            try:
                write_resized(loader, path, dst, size)
                done += 1
            except Exception as e:  # report, keep going
                failed += 1
                print(f'resize failed: {path}: {e}', file=sys.stderr)
        print(f'resized cache {out}: {done} images, {failed} failed')
        if failed:
            return 1
    return 1 if (missing and args.strict) else 0


if __name__ == '__main__':
    sys.exit(main())
