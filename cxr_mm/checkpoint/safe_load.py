"""Load full mmengine checkpoints under torch >= 2.6 ``weights_only`` rules.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7 calls
``torch.load`` without the argument, so resuming a training checkpoint (which holds a
``MessageHub`` with ``HistoryBuffer`` objects and numpy arrays) fails with
``UnpicklingError``. Passing ``weights_only=False`` would execute any pickled object in a
downloaded file; instead we allow-list exactly the types mmengine itself stores and keep
the safe unpickler. Anything else is refused with an error naming the file and the type.
"""

import os.path as osp
import pickle
from typing import Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'UnsafeCheckpointError',
    'mmengine_safe_globals',
    'safe_torch_load',
    'install_safe_checkpoint_loader',
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a pickled object outside the allow-list."""


def _history_buffer_getattr(obj, name: str):
    """Stands in for ``builtins.getattr`` while unpickling, for one use only.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which pickle as
    ``getattr(HistoryBuffer, 'min')``. A general ``getattr`` would let a crafted file
    reach arbitrary attributes, so only those lookups are answered.
    """
    from mmengine.logging import HistoryBuffer

    # the four built-in statistics (registered lazily on first instance) + custom ones
    allowed = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed and name in vars(HistoryBuffer):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def mmengine_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Types found in checkpoints written by mmengine's ``CheckpointHook`` and runner.

    ``message_hub``: ``HistoryBuffer`` (numpy arrays of logged scalars, its statistics
    methods) and numpy scalars in ``runtime_info``; ``meta``: dicts, strings, tuples.
    """
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(t))
        for t in (
            np.bool_,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint32,
            np.uint64,
            np.float16,
            np.float32,
            np.float64,
        )
    ]
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        _reconstruct,
        scalar,
        *dtype_classes,
        (_history_buffer_getattr, 'builtins.getattr'),
    ]


def safe_torch_load(filename: str, map_location: Optional[str] = None):
    """``torch.load`` with ``weights_only=True`` plus the mmengine allow-list."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(mmengine_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refusing to load {filename}: it contains a pickled object that is not a '
            f'tensor, a container or a type mmengine stores, so loading it could run '
            f'arbitrary code. If you trust the file, inspect it and add the type with '
            f'torch.serialization.add_safe_globals. Details: {err}'
        ) from None


def install_safe_checkpoint_loader() -> None:
    """Make ``safe_torch_load`` mmengine's loader for local paths (scheme '')."""
    CheckpointLoader.register_scheme(prefixes='', loader=safe_torch_load, force=True)
