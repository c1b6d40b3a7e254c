# Importing registers the components (see cxr_mm.register).
from .cross_correlation_loss import FusedCrossCorrelationLoss  # noqa: F401
