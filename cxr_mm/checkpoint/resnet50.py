"""Read ResNet-50 weights in torchvision, mmpretrain/mmdet or stage-1 layout, verified.

torchvision, mmpretrain and mmdet name ResNet-50 tensors identically
(``conv1``, ``bn1``, ``layer1.0.downsample.1`` ...); files differ only by the
container (``state_dict``/``model`` key), a prefix (``module.``, ``backbone.``)
and extra tensors (torchvision's ``fc``, a Barlow Twins projector). We strip
and drop those, then insist on exactly the 318 ResNet-50 parameters and
buffers with the right shapes, so a wrong file fails here instead of loading
half-random weights with a warning.
"""

import hashlib
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Tuple

import torch

from .safe_load import safe_torch_load
from .state_dict import diff_state_dict, strip_prefix, unwrap_state_dict

__all__ = [
    'resnet50_reference_state',
    'load_resnet50_state_dict',
    'extract_resnet50_state_dict',
    'verify_resnet50_state_dict',
    'verify_saved_backbone',
    'file_sha256',
]

_REFERENCE: Optional[Dict[str, torch.Size]] = None
# Prefixes tried in order; the first under which ResNet keys are found wins.
DEFAULT_PREFIXES = ('module.backbone.', 'backbone.', 'module.encoder.', 'encoder.', 'module.', '')


def resnet50_reference_state() -> Dict[str, torch.Size]:
    """Names and shapes of every ResNet-50 parameter and buffer (no ``fc``)."""
    global _REFERENCE
    if _REFERENCE is None:
        from torchvision.models import resnet50

        with torch.device('meta'):
            model = resnet50(weights=None)
        _REFERENCE = OrderedDict(
            (k, v.shape) for k, v in model.state_dict().items() if not k.startswith('fc.')
        )
    return _REFERENCE


def extract_resnet50_state_dict(
    state_dict: Dict[str, torch.Tensor],
    source: str = '<state_dict>',
    prefixes: Iterable[str] = DEFAULT_PREFIXES,
) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Select the ResNet-50 tensors under the first matching prefix.

    Returns the renamed state dict and the list of source keys left out
    (e.g. ``fc.*``, ``projector.*``, ``neck.*``, ``head.*``) so callers can
    report them.
    """
    reference = resnet50_reference_state()
    for prefix in prefixes:
        under = strip_prefix(state_dict, prefix)
        selected = OrderedDict((k, v) for k, v in under.items() if k in reference)
        if selected:
            dropped = [
                k
                for k in state_dict
                if not k.startswith(prefix) or k[len(prefix) :] not in reference
            ]
            return selected, dropped
    raise ValueError(
        f'{source}: no ResNet-50 tensor found under any of the prefixes '
        f'{list(prefixes)}; first keys: {list(state_dict)[:5]}'
    )


def verify_resnet50_state_dict(
    state_dict: Dict[str, torch.Tensor], source: str = '<state_dict>'
) -> None:
    """Raise unless ``state_dict`` holds exactly the ResNet-50 tensors with their shapes.

    Every parameter and every BN running mean/var counts: a file without BN
    statistics would start the network from statistics it was never trained with.
    ``num_batches_tracked`` may be absent (older torchvision releases omit it; it is
    no weight, and ``load_state_dict`` fills it with 0 as PyTorch does for such files).
    """
    diff = diff_state_dict(
        resnet50_reference_state(), state_dict, ignore_missing=('num_batches_tracked',)
    )
    if not diff.ok:
        raise ValueError(
            f'{source} is not a complete ResNet-50: {len(diff.missing)} missing '
            f'{diff.missing[:8]}, {len(diff.unexpected)} unexpected {diff.unexpected[:8]}, '
            f'{len(diff.mismatched)} with wrong shape {diff.mismatched[:8]}'
        )


def load_resnet50_state_dict(path: str) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Load and verify ResNet-50 weights from any supported file layout.

    Raises ``FileNotFoundError`` for a missing file (there is no download).
    Returns the state dict and the list of dropped source keys.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'ResNet-50 checkpoint {path} does not exist (nothing is '
            f'downloaded; put the file there or set the path to None '
            f'for random initialisation)'
        )
    state_dict, dropped = extract_resnet50_state_dict(
        unwrap_state_dict(safe_torch_load(path, map_location='cpu'), path), source=path
    )
    verify_resnet50_state_dict(state_dict, source=path)
    return state_dict, dropped


def verify_saved_backbone(out_path: str, source: Dict[str, torch.Tensor], prefix: str = '') -> None:
    """Re-read a written backbone file: exact ResNet-50 keys (after ``prefix``),
    tensors equal to ``source``."""
    saved = safe_torch_load(out_path, map_location='cpu')
    if not isinstance(saved, dict) or 'state_dict' not in saved:
        raise ValueError(f'{out_path}: expected a dict with a state_dict entry')
    state_dict = {
        k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in saved['state_dict'].items()
    }
    verify_resnet50_state_dict(state_dict, source=out_path)
    differing = [
        k
        for k, v in state_dict.items()
        if k not in source or v.dtype != source[k].dtype or not torch.equal(v, source[k])
    ]
    if differing:
        raise ValueError(
            f'{out_path}: {len(differing)} tensors differ from the source, e.g. {differing[:5]}'
        )


def file_sha256(path: str) -> str:
    """SHA-256 of a file, recorded in converted files' meta to trace them to their source."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
