# Copyright (c) cxr-mm contributors. All rights reserved.
import cv2
import mmcv
import numpy as np
from mmdet.datasets.transforms import Brightness
from mmengine.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GreyBrightness(Brightness):
    """mmdet's ``Brightness`` on a grey ``(h, w)`` radiograph, one channel.

    The stage-2 photometric jitter of BarlowTwins-CXR (Sheng et al., 2024)
    runs on chest X-rays whose three channels are identical, so jittering
    one channel and expanding at the end (:class:`GreyToColor`) gives the
    same image as mmdet's ``Brightness`` on the 3-channel copy at a third of
    the cost; on uint8 the blend is a 256-entry table computed by
    ``mmcv.adjust_brightness`` itself, so pixels match exactly. Probability
    and magnitude are drawn by mmdet's ``Brightness`` (same draws from
    numpy's global RNG); a 3-channel image goes through mmdet unchanged.

    Required Keys:
        - img

    Modified Keys:
        - img

    Args:
        prob (float): Probability of applying the jitter. Defaults to 1.0.
        level (int, optional): mmdet's magnitude level; None draws one.
            Defaults to None.
        min_mag (float): Smallest brightness factor. Defaults to 0.1.
        max_mag (float): Largest brightness factor. Defaults to 1.9.
    """

    def _transform_img(self, results: dict, mag: float) -> None:
        img = results['img']
        if img.ndim != 2:
            return super()._transform_img(results, mag)
        if img.dtype == np.uint8:
            table = mmcv.adjust_brightness(np.arange(256, dtype=np.uint8)[None], mag)
            results['img'] = cv2.LUT(img, table)
        else:
            results['img'] = mmcv.adjust_brightness(img, mag).astype(img.dtype)
