"""Weights in and out: safe loading, ResNet-50 key handling, StrictPretrained.

The whole stage-1 -> stage-2 handoff lives here.
"""

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
from .strict_pretrained import PretrainedLinkError, StrictPretrainedInit

__all__ = [
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
    'PretrainedLinkError',
    'StrictPretrainedInit',
]
