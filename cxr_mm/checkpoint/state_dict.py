"""Key bookkeeping shared by every weight path of the stage-1 -> stage-2 handoff.

A checkpoint reaches us in several containers (mmengine ``{'state_dict': ...}``, the
BarlowTwins-CXR authors' ``{'model': ...}``, a bare tensor dict) and under several
prefixes (``module.``, ``backbone.``). ``resnet50.py`` (converters, stage-1 start) and
``strict_pretrained.py`` (stage-2 / linear-eval start) both unwrap the container and
compare the tensors with what the module expects; they do it here, once, so a file
accepted by one is read the same way by the other.
"""

from collections import OrderedDict
from typing import Dict, List, Mapping, NamedTuple, Sequence

import torch

__all__ = [
    'StateDictDiff',
    'unwrap_state_dict',
    'strip_prefix',
    'strip_wrapper_prefix',
    'diff_state_dict',
    'list_keys',
]

# Containers tried in order; mmengine writes 'state_dict', the authors' script 'model'.
CONTAINER_KEYS = ('state_dict', 'model', 'model_state_dict')


class StateDictDiff(NamedTuple):
    """How a state dict differs from the names and shapes a module expects."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]  # 'key: checkpoint (shape) vs model (shape)'

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def unwrap_state_dict(checkpoint: object, source: str) -> Dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint; ``ValueError`` naming ``source`` if none.

    Args:
        checkpoint: what ``torch.load`` returned.
        source (str): the file name, for the error message.
    """
    if isinstance(checkpoint, dict):
        for key in CONTAINER_KEYS:
            if isinstance(checkpoint.get(key), dict) and checkpoint[key]:
                return checkpoint[key]
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint
    raise ValueError(
        f'{source}: no state dict found (looked for a tensor dict at the top level or under '
        f'{"/".join(repr(k) for k in CONTAINER_KEYS)})'
    )


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """The tensors whose key starts with ``prefix``, with the prefix removed."""
    return OrderedDict((k[len(prefix) :], v) for k, v in state_dict.items() if k.startswith(prefix))


def strip_wrapper_prefix(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove the ``module.`` of a DDP model saved without unwrapping (on every key)."""
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return strip_prefix(state_dict, 'module.')
    return dict(state_dict)


def diff_state_dict(
    expected: Mapping[str, torch.Size],
    state_dict: Mapping[str, torch.Tensor],
    ignore_missing: Sequence[str] = (),
) -> StateDictDiff:
    """Missing, unexpected and wrong-shape keys of ``state_dict`` against ``expected``.

    Args:
        expected: key -> shape the module holds (``{k: v.shape for k, v in
            module.state_dict().items()}``).
        state_dict: the tensors read from the file.
        ignore_missing: key suffixes whose absence is no error (e.g. BN's
            ``num_batches_tracked``, absent from old torchvision files, not a weight).
    """
    missing = [k for k in expected if k not in state_dict and not k.endswith(tuple(ignore_missing))]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(shape)}'
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(shape)
    ]
    return StateDictDiff(missing, unexpected, mismatched)


def list_keys(keys: Sequence[str], limit: int = 20) -> str:
    """``'a, b, c ... and N more'``: key lists in error messages stay readable."""
    shown = ', '.join(keys[:limit])
    return shown + (f' ... and {len(keys) - limit} more' if len(keys) > limit else '')
