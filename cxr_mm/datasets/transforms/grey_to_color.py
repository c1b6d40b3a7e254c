# Copyright (c) cxr-mm contributors. All rights reserved.
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GreyToColor(BaseTransform):
    """Expand a grey ``(h, w)`` radiograph to 3 identical channels, last.

    BarlowTwins-CXR (Sheng et al., 2024) trains an ImageNet-shaped ResNet-50
    that takes 3 channels. Loading one channel
    (``LoadCXRImage(color_type='grayscale')``) and expanding only here, after
    resize, flip and :class:`GreyBrightness` / :class:`GreyContrast`, gives
    the pixels of the 3-channel pipeline with a third of the work. The copy is
    laid out channel-first in memory (an ``(h, w, 3)`` view of a ``(3, h, w)``
    array), so ``PackDetInputs`` hands it to torch without another copy.
    A 3-channel image passes through unchanged.

    Required Keys:
        - img

    Modified Keys:
        - img
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            results['img'] = np.repeat(img[None], 3, axis=0).transpose(1, 2, 0)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'
