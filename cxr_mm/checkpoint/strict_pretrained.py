"""``StrictPretrained``: the stage-1 -> stage-2 link that fails loudly.

mmengine's ``Pretrained`` initializer loads with ``strict=False`` and only *warns* about
missing keys, so a typo in a prefix (or a full stage-1 checkpoint loaded without
``prefix='backbone.'``) silently fine-tunes a randomly initialised backbone and the
comparison ImageNet vs BarlowTwins-CXR is meaningless. This initializer loads the same
files but stops with an error that lists what is missing.

Usage (one variable in a stage-2 config)::

    pretrained_backbone = 'work_dirs/barlowtwins-cxr/epoch_800.pth'
    model = dict(backbone=dict(init_cfg=dict(
        type='StrictPretrained', checkpoint=pretrained_backbone)))

mmengine applies only ``type='Pretrained'`` after the children's own ``init_weights``;
other initializers run before them. ResNet's blocks have no initializer of their own
when the backbone gets an ``init_cfg``, so nothing overwrites the loaded weights
(tests/test_checkpoint/test_strict_pretrained.py asserts the tensors after the *whole
detector's* ``init_weights``).
"""

import os.path as osp
from collections import OrderedDict
from typing import Optional, Sequence

from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from .state_dict import (
    diff_state_dict,
    list_keys,
    strip_prefix,
    strip_wrapper_prefix,
    unwrap_state_dict,
)

__all__ = ['StrictPretrainedInit', 'PretrainedLinkError', 'select_state_dict']

# Keys listed per error message before it says "... and N more".
_MAX_LISTED = 20


class PretrainedLinkError(RuntimeError):
    """The pretrained checkpoint does not cover the module it should initialise."""


def _top_level_names(keys: Sequence[str]) -> str:
    names = sorted({k.split('.', 1)[0] + '.' for k in keys})
    return ', '.join(names[:_MAX_LISTED]) + (' ...' if len(names) > _MAX_LISTED else '')


def select_state_dict(checkpoint: dict, prefix: Optional[str], source: str) -> dict:
    """The tensors meant for the module: a prefix's sub-dict, or the whole dict.

    Args:
        checkpoint (dict): a loaded checkpoint (see ``unwrap_state_dict`` for the
            containers understood).
        prefix (str, optional): ``'auto'`` takes ``backbone.*`` when present (a full
            stage-1 or detector checkpoint) and otherwise the whole dict (an extracted
            backbone or a torchvision ImageNet file); ``None`` or ``''`` the whole dict;
            any other string must prefix at least one key.
        source (str): the file name, for error messages.
    """
    try:
        state_dict = unwrap_state_dict(checkpoint, source)
    except ValueError as err:
        raise PretrainedLinkError(str(err)) from None
    state_dict = strip_wrapper_prefix(state_dict)
    if prefix == 'auto':
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state_dict) else ''
    if not prefix:
        return state_dict
    if not prefix.endswith('.'):
        prefix += '.'
    selected = strip_prefix(state_dict, prefix)
    if not selected:
        raise PretrainedLinkError(
            f'{source}: no key starts with prefix {prefix!r}; the file has keys under '
            f'{_top_level_names(list(state_dict))} (use prefix=None for an extracted '
            f'backbone, or prefix="auto").'
        )
    return selected


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit:
    """Load pretrained weights and raise unless every module tensor is covered.

    The stage-1 -> stage-2 link of BarlowTwins-CXR (Sheng et al., 2024, "BarlowTwins-CXR:
    enhancing chest X-ray abnormality localization in heterogeneous data with
    cross-domain self-supervised learning"): the detector's ResNet-50 must start from
    the self-supervised weights, all of them.

    Args:
        checkpoint (str): path (or any mmengine checkpoint URI) of a full stage-1
            checkpoint, an extracted backbone, or a torchvision ResNet-50 file.
        prefix (str, optional): sub-module prefix in the checkpoint; ``'auto'``
            (default) accepts ``backbone.``-prefixed and un-prefixed files alike.
        map_location (str): where tensors are loaded. Defaults to 'cpu'.
        ignore_missing (Sequence[str]): key suffixes that may be missing (BN's
            ``num_batches_tracked`` is absent from old torchvision files and is not a
            weight). Defaults to ``('num_batches_tracked',)``.
    """

    def __init__(
        self,
        checkpoint: Optional[str],
        prefix: Optional[str] = 'auto',
        map_location: str = 'cpu',
        ignore_missing: Sequence[str] = ('num_batches_tracked',),
    ) -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location
        self.ignore_missing = tuple(ignore_missing)

    def __call__(self, module: nn.Module) -> None:
        if not self.checkpoint:
            raise PretrainedLinkError(
                f'StrictPretrained on {module.__class__.__name__}: no checkpoint set. '
                'Set `pretrained_backbone` (and model.backbone.init_cfg.checkpoint) in '
                'the config, or use the *_random config for a random backbone.'
            )
        path = self.checkpoint
        if '://' not in path and not osp.isfile(osp.expanduser(path)):
            raise PretrainedLinkError(
                f'pretrained backbone checkpoint not found: {path!r} (cwd '
                f'{osp.abspath(".")}). Check `pretrained_backbone` in the config or '
                f'--cfg-options model.backbone.init_cfg.checkpoint=PATH.'
            )
        ckpt = CheckpointLoader.load_checkpoint(path, map_location=self.map_location)
        source = select_state_dict(ckpt, self.prefix, path)

        expected = module.state_dict()
        diff = diff_state_dict(
            {k: v.shape for k, v in expected.items()}, source, self.ignore_missing
        )
        if diff.missing or diff.mismatched:
            lines = [
                f'{path} does not initialise all of {module.__class__.__name__} '
                f'({len(expected)} tensors; prefix={self.prefix!r}):'
            ]
            if diff.missing:
                lines.append(
                    f'  missing {len(diff.missing)}: {list_keys(diff.missing, _MAX_LISTED)}'
                )
                lines.append(f'  the checkpoint has keys under {_top_level_names(list(source))}')
            if diff.mismatched:
                lines.append(
                    f'  shape mismatch {len(diff.mismatched)}: '
                    + '; '.join(diff.mismatched[:_MAX_LISTED])
                )
            raise PretrainedLinkError('\n'.join(lines))

        to_load = OrderedDict((k, source[k]) for k in expected if k in source)
        module.load_state_dict(to_load, strict=False)
        unused = diff.unexpected
        print_log(
            f'StrictPretrained: loaded {len(to_load)}/{len(expected)} tensors of '
            f'{module.__class__.__name__} from {path}'
            + (
                f'; {len(unused)} checkpoint tensors not used (e.g. {", ".join(unused[:3])})'
                if unused
                else ''
            ),
            logger='current',
        )
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'StrictPretrained: load from {path}')
