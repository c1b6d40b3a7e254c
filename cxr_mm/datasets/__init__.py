# Importing registers the datasets and transforms (see cxr_mm.register).
from . import transforms  # noqa: F401
from .nih import NIHChestXrayDataset  # noqa: F401
from .vindr import VinDrCXRDataset  # noqa: F401
from .wrappers import LabelFractionDataset  # noqa: F401
