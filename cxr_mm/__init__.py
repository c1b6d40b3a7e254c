"""cxr-mm: BarlowTwins-CXR for OpenMMLab (mmengine, mmcv, mmdet 3.x, mmpretrain 1.x).

``import cxr_mm`` is light: it imports neither mmdet nor mmpretrain, so tools
that only read DICOMs or class lists start fast. Configs register every
component with ``custom_imports = dict(imports=['cxr_mm.register'])``.
"""

from .version import __version__

__all__ = ['__version__']
