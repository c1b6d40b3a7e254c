"""Register every cxr-mm component into mmdet's and mmpretrain's registries.

The module that configs name in ``custom_imports = dict(imports=['cxr_mm.register'],
allow_failed_imports=False)``. It first installs the allow-listed checkpoint
loader, so nothing that loads a checkpoint afterwards can unpickle arbitrary
objects.
"""

from .checkpoint.safe_load import install_safe_checkpoint_loader

install_safe_checkpoint_loader()

from . import (
    checkpoint,  # noqa: E402,F401  StrictPretrained initialiser
    datasets,  # noqa: E402,F401
    engine,  # noqa: E402,F401
    models,  # noqa: E402,F401
)
from .evaluation import metrics  # noqa: E402,F401  VinDrMetric, MultiLabelAUC
