# Copyright (c) cxr-mm contributors. All rights reserved.
import cv2
import numpy as np
from mmdet.datasets.transforms import Contrast
from mmengine.registry import TRANSFORMS


def _blend(values: np.ndarray, factor: float, mean: float, dtype: np.dtype) -> np.ndarray:
    """mmcv ``adjust_contrast``'s cv2 blend with the mean grey, value by value."""
    degenerated = np.full(values.shape, mean).astype(dtype).astype(np.float32)
    out = cv2.addWeighted(values.astype(np.float32), factor, degenerated, 1 - factor, 0)
    return np.clip(out, 0, 255).astype(dtype)


@TRANSFORMS.register_module()
class GreyContrast(Contrast):
    """mmdet's ``Contrast`` on a grey ``(h, w)`` radiograph, one channel.

    The stage-2 photometric jitter of BarlowTwins-CXR (Sheng et al., 2024)
    runs on chest X-rays whose three channels are identical. mmcv's
    ``adjust_contrast`` converts BGR to grey (the identity on equal
    channels), blends every channel with the rounded mean grey and clips;
    this does the same on the one channel (on uint8 through a 256-entry
    table), so with :class:`GreyToColor` at the end the image equals mmdet's
    ``Contrast`` on the 3-channel copy at a fraction of the cost.
    Probability and magnitude are drawn by mmdet's ``Contrast`` (same draws
    from numpy's global RNG); a 3-channel image goes through mmdet unchanged.

    Required Keys:
        - img

    Modified Keys:
        - img

    Args:
        prob (float): Probability of applying the jitter. Defaults to 1.0.
        level (int, optional): mmdet's magnitude level; None draws one.
            Defaults to None.
        min_mag (float): Smallest contrast factor. Defaults to 0.1.
        max_mag (float): Largest contrast factor. Defaults to 1.9.
    """

    def _transform_img(self, results: dict, mag: float) -> None:
        img = results['img']
        if img.ndim != 2:
            return super()._transform_img(results, mag)
        # mmcv: round(sum(grey) / number of pixels its 256-bin [0, 255] histogram counts)
        count = img.size if img.dtype == np.uint8 else np.count_nonzero((img >= 0) & (img <= 255))
        mean = round(np.sum(img) / count)
        if img.dtype == np.uint8:
            table = _blend(np.arange(256, dtype=np.uint8)[None], mag, mean, img.dtype)
            results['img'] = cv2.LUT(img, table)
        else:
            results['img'] = _blend(img, mag, mean, img.dtype)
