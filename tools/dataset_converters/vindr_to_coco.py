# Copyright (c) cxr-mm contributors. All rights reserved.
"""VinDr-CXR CSV -> fused boxes -> stratified split -> COCO JSON per split.

Reads the Kaggle VinBigData ``train.csv`` or the PhysioNet
``annotations_*.csv`` through :class:`cxr_mm.datasets.VinDrCXRDataset`
(same cleaning, fusion and split as training), writes the split file and
one COCO file per split for mmdet's own ``CocoDataset``, and prints what
was kept, fused and dropped.

Example::

    python tools/dataset_converters/vindr_to_coco.py data/vindr \\
        --ann-file train.csv --img-dir train --out-dir data/vindr/coco
"""

import argparse
import json
import os
import os.path as osp
import sys

from mmengine.logging import MMLogger


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('data_root', help='VinDr root (holds the CSV and images)')
    p.add_argument(
        '--ann-file', default='train.csv', help='train.csv (Kaggle) or annotations_train.csv'
    )
    p.add_argument('--img-dir', default='train', help='image folder')
    p.add_argument('--img-suffix', default='.dicom')
    p.add_argument(
        '--meta-file', default='image_meta.csv', help='image_id,width,height CSV (optional)'
    )
    p.add_argument('--fusion', default='wbf', choices=['wbf', 'majority', 'none'])
    p.add_argument('--iou-thr', type=float, default=0.4)
    p.add_argument('--min-votes', type=int, default=None)
    p.add_argument(
        '--ratios', type=float, nargs=3, default=[0.8, 0.1, 0.1], metavar=('TRAIN', 'VAL', 'TEST')
    )
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--split-file',
        default=None,
        help='split JSON (default: splits.json next to the CSV, as VinDrCXRDataset uses it)',
    )
    p.add_argument('--no-negatives', action='store_true', help='drop images without boxes')
    p.add_argument(
        '--drop-invalid-rows',
        action='store_true',
        help='drop and count invalid rows instead of failing',
    )
    p.add_argument('--strict-files', action='store_true', help='fail when image files are missing')
    p.add_argument('--out-dir', required=True)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import cxr_mm.register  # noqa: F401  (registers the dataset)
    from cxr_mm.datasets.vindr import SPLIT_NAMES, VinDrCXRDataset

    MMLogger.get_instance('vindr_to_coco', log_level='WARNING')
    os.makedirs(args.out_dir, exist_ok=True)
    common = dict(
        data_root=args.data_root,
        ann_file=args.ann_file,
        data_prefix=dict(img=args.img_dir),
        img_suffix=args.img_suffix,
        meta_file=args.meta_file,
        fusion=args.fusion,
        fusion_iou_thr=args.iou_thr,
        min_votes=args.min_votes,
        keep_negatives=not args.no_negatives,
        on_invalid_row='drop' if args.drop_invalid_rows else 'error',
        missing_files='error' if args.strict_files else 'skip',
        split_file=args.split_file,
        split_ratios=args.ratios,
        split_seed=args.seed,
        serialize_data=False,
    )
    try:
        ds = VinDrCXRDataset(split=None, **common)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1

    split_file = ds.split_path()
    assignment = ds.split_assignment()

    print(ds.format_summary())
    written = {}
    coco_all = ds.to_coco()
    for name in SPLIT_NAMES:
        ids = {i['id'] for i in coco_all['images'] if assignment[i['vindr_image_id']] == name}
        coco = dict(
            info=dict(coco_all['info'], split=name),
            images=[i for i in coco_all['images'] if i['id'] in ids],
            annotations=[a for a in coco_all['annotations'] if a['image_id'] in ids],
            categories=coco_all['categories'],
        )
        out = osp.join(args.out_dir, f'vindr_{name}_coco.json')
        with open(out + '.tmp', 'w') as f:
            json.dump(coco, f)
        os.replace(out + '.tmp', out)
        # Negatives: no box of the classes (ignore regions are iscrowd=1).
        n_neg = len(ids) - len({a['image_id'] for a in coco['annotations'] if not a['iscrowd']})
        written[name] = (out, len(coco['images']), n_neg, len(coco['annotations']))
    print(f'split file: {split_file} (ratios {args.ratios}, seed {args.seed})')
    for name, (out, n_img, n_neg, n_box) in written.items():
        print(f'  {name:<5} {n_img:>6} images ({n_neg} negatives), {n_box:>6} boxes -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
