# Importing registers the components (see cxr_mm.register).
from .barlowtwins_cxr import BarlowTwinsCXR  # noqa: F401
