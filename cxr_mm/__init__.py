"""cxr-mm: BarlowTwins-CXR for OpenMMLab (mmengine, mmcv, mmdet 3.x, mmpretrain 1.x).

Importing the package registers every component (datasets, transforms, models,
metrics, hooks) into mmdet's and mmpretrain's registries; configs load it with
``custom_imports = dict(imports=['cxr_mm'], allow_failed_imports=False)``.
"""
from .utils import install_safe_checkpoint_loader
from .version import __version__

# Before anything can load a checkpoint: allow-listed weights_only loading.
install_safe_checkpoint_loader()

from . import datasets  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import evaluation  # noqa: E402,F401
from . import engine  # noqa: E402,F401
from . import cam  # noqa: E402,F401

__all__ = ['__version__']
