# Copyright (c) cxr-mm contributors. All rights reserved.
"""Write the synthetic demo data (NIH ChestX-ray14 and VinDr-CXR formats).

Example:
    python tools/dataset_converters/make_demo_data.py --out data/demo --seed 0
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
# framework-free: runs where mmcv/mmdet are not installed yet (e.g. a login node)
from cxr_mm.core import demo_data as demo  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/demo', help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--nih-patients', type=int, default=60)
    parser.add_argument('--nih-images', type=int, default=200)
    parser.add_argument('--nih-size', type=int, default=256)
    parser.add_argument('--vindr-images', type=int, default=110)
    parser.add_argument('--vindr-size-range', type=int, nargs=2, default=(384, 512))
    parser.add_argument('--vindr-negative-ratio', type=float, default=0.25)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    summary = demo.make_demo_data(
        args.out,
        seed=args.seed,
        nih_patients=args.nih_patients,
        nih_images=args.nih_images,
        nih_size=args.nih_size,
        vindr_images=args.vindr_images,
        vindr_size_range=tuple(args.vindr_size_range),
        vindr_negative_ratio=args.vindr_negative_ratio,
    )
    print(json.dumps(summary, indent=2))
    print(f'demo data written to {args.out} in {time.time() - t0:.1f} s')


if __name__ == '__main__':
    sys.exit(main())
