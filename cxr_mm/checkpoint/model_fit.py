"""Does a checkpoint fit the model it is about to be evaluated with?

mmengine's runner loads ``load_from`` with ``strict=False``: a checkpoint of another
model, or one without the head, is evaluated with random tensors in their place and
only a log warning says so. ``tools/test.py`` asks here first and stops (or, with
``--allow-partial-checkpoint``, warns with the keys).
"""

from typing import Optional

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from .safe_load import safe_torch_load
from .state_dict import (
    StateDictDiff,
    diff_state_dict,
    list_keys,
    strip_wrapper_prefix,
    unwrap_state_dict,
)

__all__ = ['CheckpointMismatchError', 'checkpoint_fit', 'check_checkpoint_fits']


class CheckpointMismatchError(RuntimeError):
    """A checkpoint given for evaluation does not fit the model built from the config."""


def checkpoint_fit(model: nn.Module, checkpoint: str) -> StateDictDiff:
    """Missing, unexpected and wrong-shape keys of ``checkpoint`` against ``model``.

    Reads the file the way mmengine's runner loads it (safe loader, ``state_dict``
    container, a DDP ``module.`` prefix removed).
    """
    model = model.module if is_model_wrapper(model) else model
    state_dict = unwrap_state_dict(safe_torch_load(checkpoint, map_location='cpu'), checkpoint)
    state_dict = strip_wrapper_prefix(state_dict)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    return diff_state_dict(expected, state_dict)


def check_checkpoint_fits(
    model: nn.Module, checkpoint: str, allow_partial: bool = False, config: Optional[str] = None
) -> StateDictDiff:
    """Raise ``CheckpointMismatchError`` unless ``checkpoint`` fits ``model`` exactly.

    Args:
        model (nn.Module): the model built from the config (a DDP wrapper is looked through).
        checkpoint (str): the file to evaluate.
        allow_partial (bool): log the differences as a warning instead of raising.
        config (str, optional): the config file, for the message.
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
