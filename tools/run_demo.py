"""The whole BarlowTwins-CXR pipeline on the synthetic demo data, on a CPU, in minutes.

    python tools/run_demo.py --work-dir work_dirs/demo          # (make demo) ~5-10 min
    python tools/run_demo.py --work-dir /tmp/demo --quick       # smoke run, ~2 min

Each step runs the real command-line tool a user would run (printed before it runs):

1. demo data      tools/dataset_converters/make_demo_data.py  (NIH + VinDr formats)
2. stage 1        tools/train.py configs/barlowtwins_cxr/*demo*.py (Barlow Twins, NIH)
3. backbone       tools/model_converters/extract_backbone.py, then
                  tools/model_converters/save_init.py: the detector as stage 2 starts it
4. stage 2        tools/train.py configs/faster_rcnn_cxr/*demo*.py, backbone from step 3
                  (validation each epoch, best checkpoint by validation mAP50)
5. evaluation     tools/test.py: the untrained detector (step-4 initialisation) on the
                  validation split, to compare with the validation mAP50 of the kept
                  checkpoint; then the kept checkpoint on the test split (the mAP table)
6. CAM overlays   tools/analysis_tools/vis_cam.py
7. summary        where every output is, and validation mAP50 before vs after training

The demo "shows learning" when the trained detector's validation mAP50 is clearly above
the untrained one's; the run exits with status 1 when it is not (not in --quick mode,
which trains too briefly to promise it).
"""

import argparse
import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE1_CONFIGS = 'configs/barlowtwins_cxr/*demo*.py'
STAGE2_CONFIG = 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py'
VIS_CAM = 'tools/analysis_tools/vis_cam.py'
SAVE_INIT = 'tools/model_converters/save_init.py'
# Learning = validation mAP50 gain over the untrained detector of at least this much.
MIN_GAIN = 0.05


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='BarlowTwins-CXR end to end on the demo data (CPU)'
    )
    parser.add_argument(
        '--work-dir', default='work_dirs/demo', help='all outputs go here (default work_dirs/demo)'
    )
    parser.add_argument(
        '--data-root', default='data/demo', help='demo data folder; written when missing'
    )
    parser.add_argument(
        '--quick', action='store_true', help='a shortened run (smaller data, a few steps) for tests'
    )
    parser.add_argument(
        '--regenerate-data', action='store_true', help='rewrite the demo data even if present'
    )
    parser.add_argument('--seed', type=int, default=0, help='data and training seed')
    return parser.parse_args(argv)


class Demo:
    """Runs the steps, times them and remembers where their outputs went."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.data_root = osp.abspath(args.data_root)
        self.outputs: Dict[str, str] = {}
        self.timings: Dict[str, float] = {}
        self.env = dict(os.environ)
        self.env['PYTHONPATH'] = os.pathsep.join(
            [REPO] + ([self.env['PYTHONPATH']] if self.env.get('PYTHONPATH') else [])
        )
        self.env.setdefault('MPLBACKEND', 'Agg')
        os.makedirs(self.work_dir, exist_ok=True)
        self.log_dir = osp.join(self.work_dir, 'logs')
        os.makedirs(self.log_dir, exist_ok=True)

    def run(self, step: str, args: List[str]) -> None:
        """Run a repo tool; stream a short status, keep the full log."""
        cmd = [sys.executable, *args]
        log = osp.join(self.log_dir, f'{step}.log')
        print(f'\n[{step}] $ {" ".join(shlex.quote(str(a)) for a in args)}', flush=True)
        t0 = time.time()
        with open(log, 'w') as f:  # streamed, so `tail -f` shows progress
            proc = subprocess.run(
                cmd, cwd=REPO, env=self.env, stdout=f, stderr=subprocess.STDOUT, text=True
            )
        self.timings[step] = time.time() - t0
        if proc.returncode != 0:
            with open(log) as f:
                print(f.read()[-5000:])
            raise SystemExit(f'[{step}] failed with status {proc.returncode}; full log: {log}')
        print(f'[{step}] done in {self.timings[step]:.0f} s (log: {log})', flush=True)

    # ------------------------------------------------------------------ steps
    def make_data(self) -> None:
        vindr_csv = osp.join(self.data_root, 'vindr', 'train.csv')
        if osp.isfile(vindr_csv) and not self.args.regenerate_data:
            print(
                f'\n[data] using the existing demo data in {self.data_root} '
                '(--regenerate-data to rewrite it)'
            )
        else:
            sizes = (
                ['--nih-images', '32', '--nih-patients', '12', '--vindr-images', '24']
                if self.args.quick
                else []
            )
            self.run(
                'data',
                [
                    'tools/dataset_converters/make_demo_data.py',
                    '--out',
                    self.data_root,
                    '--seed',
                    str(self.args.seed),
                    *sizes,
                ],
            )
        self.outputs['demo data'] = self.data_root

    def stage1(self) -> str:
        out = osp.join(self.work_dir, 'stage1')
        opts = [
            f'train_dataloader.dataset.data_root={self.data_root}/nih/',
            f'randomness.seed={self.args.seed}',
        ]
        if self.args.quick:
            opts += ['train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=4']
        self.run(
            'stage1', ['tools/train.py', stage1_config(), '--work-dir', out, '--cfg-options', *opts]
        )
        ckpt = last_checkpoint(out)
        self.outputs['stage-1 checkpoint'] = ckpt
        return ckpt

    def extract(self, stage1_ckpt: str) -> str:
        backbone = osp.join(self.work_dir, 'stage1', 'backbone.pth')
        self.run('extract', ['tools/model_converters/extract_backbone.py', stage1_ckpt, backbone])
        self.outputs['stage-1 backbone (ResNet-50)'] = backbone
        return backbone

    def stage2_options(self, backbone: str) -> List[str]:
        root = f'{self.data_root}/vindr/'
        return [
            f'model.backbone.init_cfg.checkpoint={backbone}',
            f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
        ]

    def initial_detector(self, backbone: str) -> str:
        """The detector exactly as stage 2 starts: stage-1 backbone, untrained heads."""
        out = osp.join(self.work_dir, 'stage2_init', 'init_detector.pth')
        self.run(
            'init-detector',
            [SAVE_INIT, STAGE2_CONFIG, out, '--cfg-options', *self.stage2_options(backbone)],
        )
        self.outputs['untrained detector'] = out
        return out

    def stage2(self, backbone: str) -> str:
        out = osp.join(self.work_dir, 'stage2')
        opts = self.stage2_options(backbone) + [f'randomness.seed={self.args.seed}']
        if self.args.quick:
            opts += ['train_cfg.max_epochs=1']
        self.run(
            'stage2', ['tools/train.py', STAGE2_CONFIG, '--work-dir', out, '--cfg-options', *opts]
        )
        best = glob.glob(osp.join(out, 'best_vindr_mAP50_*.pth'))
        ckpt = newest(best) if best else last_checkpoint(out)
        self.outputs['stage-2 work dir (logs, tensorboard, val PR curves)'] = out
        self.outputs['stage-2 best checkpoint (validation mAP50)'] = ckpt
        hook_cams = osp.join(out, 'cam')
        if glob.glob(osp.join(hook_cams, '*', '*.png')):
            self.outputs['CAMHook overlays per epoch (scores in the stage-2 log)'] = hook_cams
        return ckpt

    def test(self, name: str, ckpt: str, backbone: str, split: str) -> Dict[str, float]:
        out = osp.join(self.work_dir, name)
        opts = self.stage2_options(backbone) + [f'test_dataloader.dataset.split={split}']
        self.run(
            name, ['tools/test.py', STAGE2_CONFIG, ckpt, '--work-dir', out, '--cfg-options', *opts]
        )
        metrics_file = newest(glob.glob(osp.join(out, '*', 'vindr_eval', 'metrics.json')))
        with open(metrics_file) as f:
            metrics = json.load(f)['metrics']
        self.outputs[f'{name}: mAP table, metrics.json, PR curves, AP bars'] = osp.dirname(
            metrics_file
        )
        if split == 'test':
            with open(osp.join(osp.dirname(metrics_file), 'table.txt')) as f:
                print(f.read())
        return metrics

    def cam(self, ckpt: str, backbone: str) -> None:
        images = self.test_images(1)
        out = osp.join(self.work_dir, 'cam')
        # Ablation-CAM at the channel budget of the config's CAMHook (1 % of layer3's
        # channels, one ablated forward shared by the top 3 boxes) with the detector's
        # own proposals (the exact CAM of the detector tested; see cxr_mm/cam/README.md).
        # --split test: checked to be a test image, drawn with its ground truth.
        extra = (
            ['--method', 'grad', '--topk', '1']
            if self.args.quick
            else ['--hook-settings', '--rpn-max-per-img', '0', '--topk', '3']
        )
        for i, image in enumerate(images):
            # Explain the top detections whatever their score (a demo model is weak).
            self.run(
                f'cam-{i}',
                [
                    VIS_CAM,
                    STAGE2_CONFIG,
                    ckpt,
                    image,
                    '--out-dir',
                    out,
                    '--score-thr',
                    '0',
                    '--split',
                    'test',
                    *extra,
                    '--cfg-options',
                    *self.stage2_options(backbone),
                    'model.test_cfg.rcnn.score_thr=0.0',
                ],
            )
        if glob.glob(osp.join(out, '*.png')):
            self.outputs['Ablation-CAM overlays'] = out
        else:
            print(f'\n[cam] no overlay written (no detection to explain); see {self.log_dir}')

    def test_images(self, n: int) -> List[str]:
        """A few test-split images with lesions (from the dataset's split file)."""
        split_file = osp.join(self.data_root, 'vindr', 'splits.json')
        with open(split_file) as f:
            split = json.load(f)
        parts = split.get('parts', split)
        ids = list(parts.get('test', [])) if isinstance(parts, dict) else []
        img_dir = osp.join(self.data_root, 'vindr', 'train')
        with open(osp.join(self.data_root, 'vindr', 'train.csv')) as f:
            positives = {line.split(',')[0] for line in f if ',No finding,' not in line}
        chosen = [i for i in ids if i in positives][:n] or ids[:n]
        return [osp.join(img_dir, f'{i}.dicom') for i in chosen]


def stage1_config() -> str:
    """The stage-1 demo config (configs/barlowtwins_cxr/*demo*.py, exactly one)."""
    found = sorted(glob.glob(osp.join(REPO, STAGE1_CONFIGS)))
    if len(found) != 1:
        raise SystemExit(f'expected one stage-1 demo config {STAGE1_CONFIGS}, found {found}')
    return osp.relpath(found[0], REPO)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's CheckpointHook recorded as the last one."""
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    ckpts = glob.glob(osp.join(work_dir, '*.pth'))
    if not ckpts:
        raise SystemExit(f'no checkpoint in {work_dir}')
    return newest(ckpts)


def newest(paths: List[str]) -> str:
    if not paths:
        raise SystemExit('expected output file not found')
    return max(paths, key=osp.getmtime)


def val_history(work_dir: str) -> List[float]:
    """Validation mAP50 per epoch, from the run's scalars.json."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    if not files:
        return []
    values = []
    with open(newest(files)) as f:
        for line in f:
            record = json.loads(line)
            if 'vindr/mAP50' in record:
                values.append(record['vindr/mAP50'])
    return values


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    demo = Demo(args)
    demo.make_data()
    stage1_ckpt = demo.stage1()
    backbone = demo.extract(stage1_ckpt)
    init_ckpt = demo.initial_detector(backbone)
    best = demo.stage2(backbone)
    before = demo.test('eval_untrained_val', init_ckpt, backbone, 'val')
    # The trained detector's validation mAP50: what the training run's validation
    # measured for the checkpoint it kept (same metric, same split).
    history = val_history(osp.join(demo.work_dir, 'stage2'))
    if not history:
        raise SystemExit('stage 2 logged no validation mAP50')
    after = max(history)
    test = demo.test('eval_trained_test', best, backbone, 'test')
    demo.cam(best, backbone)

    gain = after - before['mAP50']
    learned = gain >= MIN_GAIN
    summary = dict(
        quick=args.quick,
        minutes=(time.time() - t0) / 60,
        val_mAP50_untrained=before['mAP50'],
        val_mAP50_trained=after,
        val_mAP50_per_epoch=history,
        test_metrics=test,
        learned=learned,
        outputs=demo.outputs,
        step_seconds=demo.timings,
    )
    with open(osp.join(demo.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)

    print('\n' + '=' * 78)
    print(
        f'BarlowTwins-CXR demo finished in {summary["minutes"]:.1f} min'
        + (' (--quick)' if args.quick else '')
    )
    print(
        f'  validation mAP50: untrained detector {before["mAP50"]:.3f} -> '
        f'trained {after:.3f} ({"+" if gain >= 0 else ""}{gain:.3f}; per epoch '
        f'{", ".join(f"{v:.3f}" for v in history)})'
    )
    print(
        f'  test: mAP50 {test["mAP50"]:.3f}, Kaggle mAP40 {test["mAP40_kaggle"]:.3f}, '
        f'COCO mAP {test.get("coco_mAP", float("nan")):.3f}'
    )
    print('  outputs:')
    for name, path in demo.outputs.items():
        print(f'    {name}:\n      {path}')
    print(f'    step logs: {demo.log_dir}')
    print(f'    this summary: {osp.join(demo.work_dir, "summary.json")}')
    print('=' * 78)
    if not learned and not args.quick:
        print(f'The detector did not learn: validation mAP50 gain {gain:.3f} < {MIN_GAIN}.')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
