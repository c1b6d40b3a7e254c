from .dataset import SPLIT_NAMES, VinDrCXRDataset  # noqa: F401
