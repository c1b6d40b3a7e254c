# Components are imported here so that 'import cxr_mm' registers them.
from .global_cross_correlation_head import GlobalCrossCorrelationHead  # noqa: F401
