from . import transforms  # noqa: F401
from .nih import NIHChestXrayDataset  # noqa: F401,E402
from .vindr import VinDrCXRDataset  # noqa: F401,E402
from .label_fraction import LabelFractionDataset  # noqa: F401,E402  (helper stage2)
