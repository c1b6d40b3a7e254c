# Components are imported here so that 'import cxr_mm' registers them.
from .barlowtwins_cxr import BarlowTwinsCXR  # noqa: F401
