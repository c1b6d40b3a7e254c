"""Evaluate a checkpoint (stage-2 mAP table, or stage-1 linear-eval AUCs).

python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out preds.pkl]
                     [--show-dir DIR] [--allow-partial-checkpoint]
                     [--cfg-options k=v ...] [--launcher pytorch]

The checkpoint must fit the config's model: a missing, unexpected or wrong-shape tensor
is an error naming the keys (mmengine alone would evaluate random tensors in their place
with a warning), unless --allow-partial-checkpoint is given.
"""

import argparse
import os.path as osp
import sys

from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
from cxr_mm.checkpoint import check_checkpoint_fits  # noqa: E402
from cxr_mm.utils.launch import (  # noqa: E402
    add_launch_args,
    load_tool_cfg,
    prepare_cfg_for_device,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a cxr-mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file (offline evaluation)')
    parser.add_argument('--show-dir', help='draw predictions into this folder of the work dir')
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='evaluate even when the checkpoint misses model tensors or holds others '
        '(they are listed in a warning); by default that is an error',
    )
    add_launch_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_tool_cfg(args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint

    if args.show_dir:
        vis_hook = cfg.default_hooks.get('visualization')
        if vis_hook is None:
            raise RuntimeError(
                f'{args.config}: --show-dir needs a visualization hook in default_hooks'
            )
        if cfg.get('default_scope') == 'mmdet':
            vis_hook.update(draw=True, test_out_dir=args.show_dir)
        else:  # mmpretrain's VisualizationHook
            vis_hook.update(enable=True, out_dir=args.show_dir)

    prepare_cfg_for_device(cfg)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_checkpoint_fits(
        runner.model, args.checkpoint, args.allow_partial_checkpoint, config=args.config
    )
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
