"""Train a cxr-mm model: stage-1 (mmpretrain scope) or stage-2 (mmdet scope) config.

Flags follow mmdet's ``tools/train.py`` so OpenMMLab users need nothing new::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]
"""

import argparse
import os.path as osp
import sys

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
from cxr_mm.utils.launch import (  # noqa: E402
    add_launch_args,
    load_tool_cfg,
    prepare_cfg_for_device,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a cxr-mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision (the stage-1/2 recipes already use it on GPU; '
        'without a GPU training falls back to fp32)',
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by (GPUs x batch) / auto_scale_lr.base_batch_size',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir '
        'when no path is given',
    )
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation during training'
    )
    add_launch_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_tool_cfg(args)

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError(
                f'{args.config}: --auto-scale-lr needs '
                '`auto_scale_lr = dict(base_batch_size=...)` in the config'
            )
        cfg.auto_scale_lr.enable = True

    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    prepare_cfg_for_device(cfg)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
