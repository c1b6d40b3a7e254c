# Copyright (c) cxr-mm contributors. All rights reserved.
"""CAM methods, one file each; importing this package registers them all."""

from .ablation import AblationMethod
from .ablation_gradcam import AblationGradCAMMethod
from .base import CAM_METHODS, BaseCAMMethod, build_cam_method, register_cam_method
from .eigen import EigenMethod
from .grad import GradMethod

__all__ = [
    'CAM_METHODS',
    'AblationGradCAMMethod',
    'AblationMethod',
    'BaseCAMMethod',
    'EigenMethod',
    'GradMethod',
    'build_cam_method',
    'register_cam_method',
]
