"""Weights in and out: the whole stage-1 -> stage-2 handoff lives here.

- ``safe_load``: ``torch.load(weights_only=True)`` plus the types mmengine stores,
  installed as mmengine's loader (resume, ``load_from``, initialisers).
- ``state_dict``: container unwrapping, prefix stripping and the missing / unexpected /
  wrong-shape comparison, shared by the two modules below.
- ``resnet50``: ResNet-50 files in torchvision, mmpretrain/mmdet or stage-1 layout,
  verified complete (the converters and the stage-1 ImageNet start).
- ``strict_pretrained``: the ``StrictPretrained`` initializer (the detector's and the
  linear-eval backbone's start), an error instead of mmengine's warning.
- ``model_fit``: does a checkpoint fit the model ``tools/test.py`` evaluates it with.
"""

from .model_fit import CheckpointMismatchError, check_checkpoint_fits, checkpoint_fit
from .resnet50 import (
    extract_resnet50_state_dict,
    file_sha256,
    load_resnet50_state_dict,
    resnet50_reference_state,
    verify_resnet50_state_dict,
    verify_saved_backbone,
)
from .safe_load import (
    UnsafeCheckpointError,
    install_safe_checkpoint_loader,
    mmengine_safe_globals,
    safe_torch_load,
)
from .state_dict import (
    StateDictDiff,
    diff_state_dict,
    strip_prefix,
    strip_wrapper_prefix,
    unwrap_state_dict,
)
from .strict_pretrained import PretrainedLinkError, StrictPretrainedInit

__all__ = [
    'CheckpointMismatchError',
    'check_checkpoint_fits',
    'checkpoint_fit',
    'extract_resnet50_state_dict',
    'file_sha256',
    'load_resnet50_state_dict',
    'resnet50_reference_state',
    'verify_resnet50_state_dict',
    'verify_saved_backbone',
    'UnsafeCheckpointError',
    'install_safe_checkpoint_loader',
    'mmengine_safe_globals',
    'safe_torch_load',
    'StateDictDiff',
    'diff_state_dict',
    'strip_prefix',
    'strip_wrapper_prefix',
    'unwrap_state_dict',
    'PretrainedLinkError',
    'StrictPretrainedInit',
]
