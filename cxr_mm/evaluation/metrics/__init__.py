# Importing registers the metrics (see cxr_mm.register).
from .multilabel_auc import MultiLabelAUC  # noqa: F401
from .vindr_metric import VinDrMetric  # noqa: F401
