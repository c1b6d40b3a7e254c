# Importing registers the components (see cxr_mm.register).
from .cxr_augment import BarlowTwinsCXRView, RandomAffineCXR  # noqa: F401
from .loading import LoadCXRImage  # noqa: F401
