"""What tools/train.py and tools/test.py share: flags, config loading, device fallbacks
(gloo and plain fp32 where no GPU is visible) and the checkpoint-fits-the-model check."""

import argparse
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from cxr_mm.checkpoint import (
    StateDictDiff,
    diff_state_dict,
    safe_torch_load,
    strip_prefix,
    unwrap_state_dict,
)
from cxr_mm.checkpoint.state_dict import list_keys

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


class CheckpointMismatchError(RuntimeError):
    """A checkpoint given for evaluation does not fit the model built from the config."""


def checkpoint_fit(model: nn.Module, checkpoint: str) -> StateDictDiff:
    """Missing, unexpected and wrong-shape keys of ``checkpoint`` against ``model``.

    Reads the file the way mmengine's runner loads it (safe loader, ``state_dict``
    container, a DDP ``module.`` prefix removed).
    """
    model = model.module if is_model_wrapper(model) else model
    state_dict = unwrap_state_dict(safe_torch_load(checkpoint, map_location='cpu'), checkpoint)
    if all(k.startswith('module.') for k in state_dict):
        state_dict = strip_prefix(state_dict, 'module.')
    expected = {k: v.shape for k, v in model.state_dict().items()}
    return diff_state_dict(expected, state_dict)


def check_checkpoint_fits(
    model: nn.Module, checkpoint: str, allow_partial: bool = False, config: Optional[str] = None
) -> StateDictDiff:
    """Refuse to evaluate a checkpoint that does not fit the model (or warn, if allowed).

    mmengine's runner loads ``load_from`` with ``strict=False``: a checkpoint of another
    model, or one missing the head, is evaluated with random tensors in its place and
    only a log warning says so. ``tools/test.py`` calls this first.
    """
    diff = checkpoint_fit(model, checkpoint)
    if diff.ok:
        return diff
    what = (
        f'{checkpoint} does not fit the model of {config or "the config"}: '
        f'{len(diff.missing)} model tensors missing from the file '
        f'[{list_keys(diff.missing, 10)}], {len(diff.unexpected)} file tensors the model '
        f'does not have [{list_keys(diff.unexpected, 10)}], {len(diff.mismatched)} with '
        f'another shape [{list_keys(diff.mismatched, 5)}]'
    )
    if not allow_partial:
        raise CheckpointMismatchError(
            f'{what}. Evaluating it would score a partly untrained model. Use the checkpoint '
            'of this config, or pass --allow-partial-checkpoint to evaluate it anyway.'
        )
    print_log(f'--allow-partial-checkpoint: {what}', logger='current', level=30)
    return diff
