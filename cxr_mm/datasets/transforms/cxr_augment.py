"""The two asymmetric Barlow Twins views for chest X-rays, and the authors' alternatives.

Presets (``BarlowTwinsCXRView(preset=...)``), all built from mmpretrain transforms:

``'cxr'`` (default)
    RandomResizedCrop (bicubic, scale 0.08-1) -> horizontal flip 0.5 ->
    brightness/contrast jitter 0.4 with p 0.8 -> Gaussian blur sigma 0.1-2
    (p 1.0 / 0.1) -> solarize at 128 (p 0.0 / 0.2). This is the authors'
    pipeline with the colour operations that are identities on a grey image
    (saturation, hue, RandomGrayscale) removed: same distribution of views,
    less CPU per image.
``'imagenet'``
    The pipeline the authors trained with (``Transform`` in their fork of
    facebookresearch/barlowtwins ``main.py``): as above plus saturation 0.2,
    hue 0.1 and RandomGrayscale 0.2.
``'medaugment'``
    The MedAugment-style set the authors tried and left commented out (their
    note: "got poor performance"): jitter (p 1), rotation +-15/+-5 deg with p
    0.5, horizontal and vertical flips, blur p 1.0/0.1 and an affine
    (translate 0.1/0.05, scale 0.9-1.1/0.95-1.05, shear 15/10 deg). The
    authors fed pre-resized 224 px images and had no crop; we resize to
    ``scale`` first so any input size works (assumption).

Views need 3-channel uint8 images (``LoadCXRImage(color_type='color')``): the
ImageNet ResNet-50 takes RGB, and solarize's threshold 128 is on the 8-bit scale.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmengine.registry import TRANSFORMS

__all__ = ['RandomAffineCXR', 'BarlowTwinsCXRView', 'barlowtwins_cxr_view_pipeline']

PRESETS = ('cxr', 'imagenet', 'medaugment')


@TRANSFORMS.register_module()
class RandomAffineCXR(BaseTransform):
    """Random rotation, translation, scale and shear about the image centre.

    Same parameterisation as ``torchvision.transforms.RandomAffine`` (used by
    MedAugment, Liu et al., 2023, and by the BarlowTwins-CXR authors' trial
    pipeline), on numpy images with OpenCV so it runs in mmcv pipelines.

    Args:
        degrees (float | tuple): Rotation range in degrees; a number ``d``
            means ``(-d, d)``.
        translate (tuple, optional): Maximum absolute fraction of width and
            height for horizontal and vertical shifts.
        scale (tuple, optional): Range of the isotropic scale factor.
        shear (float | tuple, optional): x-shear range in degrees; a number
            ``s`` means ``(-s, s)``.
        prob (float): Probability of applying the transform. Defaults to 1.
        fill (int): Value of pixels outside the source. Defaults to 0 (black,
            like the background of a radiograph).
        interpolation (str): 'nearest', 'bilinear' or 'bicubic'.
    """

    _INTERP = dict(nearest=cv2.INTER_NEAREST, bilinear=cv2.INTER_LINEAR, bicubic=cv2.INTER_CUBIC)

    def __init__(
        self,
        degrees: Union[float, Sequence[float]] = 0.0,
        translate: Optional[Sequence[float]] = None,
        scale: Optional[Sequence[float]] = None,
        shear: Union[None, float, Sequence[float]] = None,
        prob: float = 1.0,
        fill: int = 0,
        interpolation: str = 'bilinear',
    ) -> None:
        self.degrees = self._range(degrees, 'degrees')
        self.shear = self._range(shear, 'shear') if shear is not None else (0.0, 0.0)
        if translate is not None and not all(0 <= t <= 1 for t in translate):
            raise ValueError(f'translate must be fractions in [0, 1], got {translate}')
        self.translate = tuple(translate) if translate is not None else (0.0, 0.0)
        if scale is not None and not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(f'scale must be (min, max) with 0 < min <= max, got {scale}')
        self.scale = tuple(scale) if scale is not None else (1.0, 1.0)
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if interpolation not in self._INTERP:
            raise ValueError(
                f'interpolation must be one of {list(self._INTERP)}, got {interpolation}'
            )
        self.prob = prob
        self.fill = fill
        self.interpolation = interpolation

    @staticmethod
    def _range(value, name: str) -> Tuple[float, float]:
        if isinstance(value, (int, float)):
            if value < 0:
                raise ValueError(f'{name} must be non-negative when a single number, got {value}')
            return (-float(value), float(value))
        if len(value) != 2:
            raise ValueError(f'{name} must be a number or (min, max), got {value}')
        return (float(value[0]), float(value[1]))

    @cache_randomness
    def _rand_params(self, h: int, w: int):
        apply = np.random.rand() < self.prob
        angle = np.random.uniform(*self.degrees)
        tx = np.round(np.random.uniform(-self.translate[0], self.translate[0]) * w)
        ty = np.round(np.random.uniform(-self.translate[1], self.translate[1]) * h)
        scale = np.random.uniform(*self.scale)
        shear = np.random.uniform(*self.shear)
        return apply, angle, tx, ty, scale, shear

    @staticmethod
    def affine_matrix(
        h: int, w: int, angle: float, tx: float, ty: float, scale: float, shear: float
    ) -> np.ndarray:
        """2x3 forward matrix: centre -> x-shear -> rotate and scale -> centre + shift."""
        cx, cy = (w - 1) * 0.5, (h - 1) * 0.5
        rot, sx = math.radians(angle), math.radians(shear)
        rotation = np.array([[math.cos(rot), math.sin(rot)], [-math.sin(rot), math.cos(rot)]])
        shear_x = np.array([[1.0, -math.tan(sx)], [0.0, 1.0]])
        linear = scale * rotation @ shear_x
        offset = np.array([cx + tx, cy + ty]) - linear @ np.array([cx, cy])
        return np.hstack([linear, offset[:, None]])

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        h, w = img.shape[:2]
        apply, angle, tx, ty, scale, shear = self._rand_params(h, w)
        if not apply:
            return results
        matrix = self.affine_matrix(h, w, angle, tx, ty, scale, shear)
        out = cv2.warpAffine(
            img,
            matrix,
            (w, h),
            flags=self._INTERP[self.interpolation],
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=self.fill,
        )
        if img.ndim == 3 and out.ndim == 2:
            out = out[..., None]
        results['img'] = out
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(degrees={self.degrees}, translate={self.translate}, '
            f'scale={self.scale}, shear={self.shear}, prob={self.prob}, fill={self.fill})'
        )


def barlowtwins_cxr_view_pipeline(
    preset: str = 'cxr',
    view: int = 0,
    scale: int = 224,
    crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
) -> List[dict]:
    """Transform configs of one of the two asymmetric views (``view`` 0 or 1)."""
    if preset not in PRESETS:
        raise ValueError(f'preset must be one of {PRESETS}, got {preset!r}')
    if view not in (0, 1):
        raise ValueError(f'view must be 0 or 1, got {view!r}')
    blur_prob = (1.0, 0.1)[view]
    if preset == 'medaugment':
        rotation, translate, affine_scale, shear = (
            (15, (0.1, 0.1), (0.9, 1.1), 15),
            (5, (0.05, 0.05), (0.95, 1.05), 10),
        )[view]
        return [
            dict(
                type='mmpretrain.Resize',
                scale=(scale, scale),
                interpolation='bicubic',
                backend='pillow',
            ),
            dict(type='mmpretrain.ColorJitter', brightness=0.4, contrast=0.4),
            dict(type='RandomAffineCXR', degrees=rotation, prob=0.5),
            dict(type='mmpretrain.RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='mmpretrain.RandomFlip', prob=0.5, direction='vertical'),
            dict(
                type='mmpretrain.GaussianBlur',
                magnitude_range=(0.1, 2.0),
                magnitude_std='inf',
                prob=blur_prob,
            ),
            dict(
                type='RandomAffineCXR',
                degrees=0,
                translate=translate,
                scale=affine_scale,
                shear=shear,
            ),
        ]
    jitter = dict(brightness=0.4, contrast=0.4)
    if preset == 'imagenet':
        jitter.update(saturation=0.2, hue=0.1)
    pipeline = [
        dict(
            type='mmpretrain.RandomResizedCrop',
            scale=scale,
            crop_ratio_range=crop_ratio_range,
            interpolation='bicubic',
            backend='pillow',
        ),
        dict(type='mmpretrain.RandomFlip', prob=0.5),
        dict(
            type='RandomApply',  # mmcv's, in the root registry
            transforms=[dict(type='mmpretrain.ColorJitter', **jitter)],
            prob=0.8,
        ),
    ]
    if preset == 'imagenet':
        pipeline.append(
            dict(
                type='mmpretrain.RandomGrayscale',
                prob=0.2,
                keep_channels=True,
                channel_weights=(0.114, 0.587, 0.2989),
            )
        )
    pipeline += [
        dict(
            type='mmpretrain.GaussianBlur',
            magnitude_range=(0.1, 2.0),
            magnitude_std='inf',
            prob=blur_prob,
        ),
        dict(type='mmpretrain.Solarize', thr=128, prob=(0.0, 0.2)[view]),
    ]
    return pipeline


@TRANSFORMS.register_module()
class BarlowTwinsCXRView(BaseTransform):
    """One view of the BarlowTwins-CXR augmentation, selected by preset.

    BarlowTwins-CXR (Sheng et al., 2024) keeps Barlow Twins' two asymmetric
    views: view 0 always blurs and never solarises, view 1 rarely blurs and
    solarises 20 % of the time. Use inside mmpretrain's ``MultiView``::

        dict(type='MultiView', num_views=[1, 1], transforms=[
            [dict(type='BarlowTwinsCXRView', preset='cxr', view=0, scale=224)],
            [dict(type='BarlowTwinsCXRView', preset='cxr', view=1, scale=224)]])

    Args:
        preset (str): 'cxr', 'imagenet' or 'medaugment' (see module docstring).
        view (int): 0 or 1.
        scale (int): Output side length.
        crop_ratio_range (tuple): Area range of the random resized crop.
            Defaults to (0.08, 1.0), the authors' (torchvision default).
    """

    def __init__(
        self,
        preset: str = 'cxr',
        view: int = 0,
        scale: int = 224,
        crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
    ) -> None:
        from mmcv.transforms import Compose

        self.preset, self.view, self.scale = preset, view, scale
        self.pipeline = Compose(
            [
                TRANSFORMS.build(t)
                for t in barlowtwins_cxr_view_pipeline(preset, view, scale, tuple(crop_ratio_range))
            ]
        )

    def transform(self, results: Dict) -> Dict:
        img = results.get('img')
        if img is None or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            desc = 'missing' if img is None else f'{img.dtype} {img.shape}'
            raise ValueError(
                f'BarlowTwinsCXRView needs a 3-channel uint8 image (LoadCXRImage with '
                f"color_type='color'), got {desc} for {results.get('img_path', '<no img_path>')}"
            )
        return self.pipeline(results)

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(preset={self.preset!r}, view={self.view}, '
            f'scale={self.scale}, pipeline={self.pipeline})'
        )
