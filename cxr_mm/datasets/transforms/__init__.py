# Components are imported here so that 'import cxr_mm' registers them.
from .cxr_augment import BarlowTwinsCXRView, RandomAffineCXR  # noqa: F401
from .loading import LoadCXRImage  # noqa: F401
