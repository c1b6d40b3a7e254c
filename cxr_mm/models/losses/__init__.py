# Components are imported here so that 'import cxr_mm' registers them.
from .cross_correlation_loss import FusedCrossCorrelationLoss  # noqa: F401
