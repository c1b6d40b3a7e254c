"""Run a trained detector on DICOM/PNG/JPEG files, folders or a text list of paths.

Writes per-image JSON records (boxes in the file's own pixels), one CSV for all
images, optionally a Kaggle VinBigData submission and overlay PNGs with an
Ablation-CAM per box. Re-running with the same --out-dir skips finished images.
Exits with status 1 when any file could not be read (listed in failures.csv).

Examples:
    python tools/infer.py CONFIG CKPT data/dicoms/ --out-dir work_dirs/infer --batch-size 4
    python tools/infer.py CONFIG CKPT list.txt a.dicom b.png --kaggle --overlay
    python tools/infer.py CONFIG CKPT case.dicom --cam --cam-topk 3 --out-dir work_dirs/infer
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='detector config file')
    p.add_argument('checkpoint', help='local checkpoint file')
    p.add_argument('inputs', nargs='+', help='image files, folders (recursive) or .txt lists')
    p.add_argument('--out-dir', default='work_dirs/infer', help='output folder')
    p.add_argument('--batch-size', type=int, default=1, help='images per forward')
    p.add_argument('--device', default=None, help="e.g. 'cuda:0' or 'cpu' (default: auto)")
    p.add_argument('--score-thr', type=float, default=0.0, help='keep boxes scoring >= this')
    p.add_argument('--kaggle', action='store_true', help='also write submission.csv (VinBigData)')
    p.add_argument('--overlay', action='store_true', help='draw the boxes on each image')
    p.add_argument('--draw-thr', type=float, default=0.3, help='draw boxes scoring >= this')
    p.add_argument(
        '--cam',
        action='store_true',
        help="also a CAM per drawn box, with the config's CAMHook settings (Ablation-CAM)",
    )
    p.add_argument('--cam-topk', type=int, default=3, help='CAMs of at most this many boxes')
    p.add_argument(
        '--cam-ratio-channels',
        type=float,
        default=None,
        help="share of channels to ablate (default: the config's CAMHook's, else 1.0)",
    )
    p.add_argument('--no-resume', action='store_true', help='predict finished images again')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from cxr_mm.apis import run_inference

    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    summary = run_inference(
        args.config,
        args.checkpoint,
        args.inputs,
        args.out_dir,
        batch_size=args.batch_size,
        device=args.device,
        score_thr=args.score_thr,
        kaggle=args.kaggle,
        overlay=args.overlay or args.cam,
        cam_topk=args.cam_topk if args.cam else None,
        cam_ratio_channels=args.cam_ratio_channels,
        draw_thr=args.draw_thr,
        resume=not args.no_resume,
        show_progress=not args.no_progress,
    )
    print(
        f'{summary["images"]} images: {summary["predicted"]} predicted, '
        f'{summary["skipped"]} already done, {summary["failed"]} failed -> {args.out_dir}'
    )
    for path, err in summary['failures']:
        print(f'FAILED {path}: {err}', file=sys.stderr)
    return 1 if summary['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
