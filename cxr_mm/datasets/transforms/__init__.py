# Importing registers the components (see cxr_mm.register).
from .cxr_augment import BarlowTwinsCXRView, RandomAffineCXR  # noqa: F401
from .grey_brightness import GreyBrightness  # noqa: F401
from .grey_contrast import GreyContrast  # noqa: F401
from .grey_to_color import GreyToColor  # noqa: F401
from .loading import LoadCXRImage  # noqa: F401
