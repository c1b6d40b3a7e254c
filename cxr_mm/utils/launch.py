"""What tools/train.py and tools/test.py share: flags, config loading and the device
fallbacks (gloo and plain fp32 where no GPU is visible)."""

import argparse
import os
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

# Optimizer-wrapper arguments only AmpOptimWrapper takes.
_AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def add_launch_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags tools/train.py and tools/test.py share with mmdet's tools."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (e.g. randomness.seed=1)',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def load_tool_cfg(args: argparse.Namespace) -> Config:
    """Config from ``args.config`` with launcher, --cfg-options and work dir applied.

    The work dir defaults to ``work_dirs/<config name>`` as in mmdet.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def prepare_cfg_for_device(cfg: Config) -> Config:
    """Run a GPU recipe on a CPU-only machine: fp32 instead of AMP, gloo instead of nccl.

    The stage-1 and stage-2 recipes train with mmengine's ``AmpOptimWrapper`` (fp16
    autocast, dynamic loss scaling), which refuses to start without a GPU; with no GPU
    it becomes a plain ``OptimWrapper`` with the same optimizer, groups, clipping and
    accumulation (AMP has no CPU benefit here), and the log says so.

    mmengine 0.10.7's ``init_dist('pytorch')`` always calls ``torch.cuda.set_device``,
    which fails without a driver, and gives DDP ``device_ids`` that CPU modules
    reject. With no GPU we start the gloo process group from torchrun's environment
    ourselves (the runner then skips its own ``init_dist``) and build DDP without
    ``device_ids``. Nothing changes when CUDA is available.
    """
    if torch.cuda.is_available():
        return cfg
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is not None and optim_wrapper.get('type') == 'AmpOptimWrapper':
        print_log(
            'No GPU visible: training in fp32 with OptimWrapper instead of AmpOptimWrapper.',
            logger='current',
        )
        optim_wrapper.type = 'OptimWrapper'
        for key in _AMP_ONLY_KEYS:
            optim_wrapper.pop(key, None)
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none':
        return cfg
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        print_log('No GPU visible: using the gloo backend instead of nccl.', logger='current')
        dist_cfg['backend'] = 'gloo'
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=dist_cfg['backend'])
    # The runner passes device_ids=[LOCAL_RANK] to DDP, which CPU modules reject.
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False),
    )
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    return cfg
