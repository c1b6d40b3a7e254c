from .dataset import NIHChestXrayDataset  # noqa: F401
