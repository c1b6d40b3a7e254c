from .label_fraction import LabelFractionDataset  # noqa: F401
