# Importing registers the components (see cxr_mm.register).
from .global_cross_correlation_head import GlobalCrossCorrelationHead  # noqa: F401
