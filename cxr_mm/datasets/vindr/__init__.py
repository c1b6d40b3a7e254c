from .annotations import DEFAULT_LABEL_MAP, read_vindr_csv  # noqa: F401
from .coco_export import to_coco  # noqa: F401
from .dataset import SPLIT_NAMES, VinDrCXRDataset  # noqa: F401
