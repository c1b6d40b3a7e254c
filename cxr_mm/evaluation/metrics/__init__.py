# Components are imported here so that 'import cxr_mm' registers them.
from .vindr_metric import VinDrMetric  # noqa: F401,E402  (helper stage2)
from .multilabel_auc import MultiLabelAUC  # noqa: F401
