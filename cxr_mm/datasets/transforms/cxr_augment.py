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

Views take uint8 images, grey ``(h, w)`` (``LoadCXRImage(color_type='grayscale')``,
what the configs load) or 3-channel, and return 3 identical channels: the ImageNet
ResNet-50 takes RGB, and solarize's threshold 128 is on the 8-bit scale.

Speed: a grey image through the ``'cxr'`` preset runs every step on ONE channel
(``_GreyCXRView``): the random parameters come from the very mmpretrain/mmcv
transforms of the pipeline (same draws from numpy's global RNG, in the same
order), crop-resize and blur stay Pillow's (one ``L`` band: the same pixels as
each band of the RGB image), brightness/contrast/solarize become 256-entry
tables that reproduce Pillow's float32 blend exactly. Output: identical to the
3-channel mmpretrain pipeline for the same seed, 3x less pixel work, no RGB
round trips.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, RandomApply
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
        self._grey = _GreyCXRView(self.pipeline.transforms) if preset == 'cxr' else None

    def transform(self, results: Dict) -> Dict:
        img = results.get('img')
        grey = img is not None and img.ndim == 2
        if (
            img is None
            or img.dtype != np.uint8
            or not (grey or (img.ndim == 3 and img.shape[2] == 3))
        ):
            desc = 'missing' if img is None else f'{img.dtype} {img.shape}'
            raise ValueError(
                f'BarlowTwinsCXRView needs a grey (h, w) or 3-channel uint8 image '
                f'(LoadCXRImage), got {desc} for {results.get("img_path", "<no img_path>")}'
            )
        if grey and self._grey is not None:
            return self._grey(results)
        if grey:
            results['img'] = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        return self.pipeline(results)

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(preset={self.preset!r}, view={self.view}, '
            f'scale={self.scale}, pipeline={self.pipeline})'
        )


def _blend_table(lo: np.ndarray, factor: float, hi: np.ndarray) -> np.ndarray:
    """Pillow's ``Image.blend(lo, hi, factor)`` on uint8, as float32 like its C code."""
    x = lo.astype(np.float32) + np.float32(factor) * (hi.astype(np.float32) - lo)
    return np.clip(x, 0, 255).astype(np.uint8)  # truncation, as Pillow's cast


class _GreyCXRView:
    """The ``'cxr'`` view pipeline on one grey channel, same draws and pixels.

    Holds the built transforms of :func:`barlowtwins_cxr_view_pipeline`
    (``'cxr'`` preset) and asks each for its random parameters, so the RNG
    stream and the distribution are theirs; only the pixel work is done here,
    on one band. Not registered: used by :class:`BarlowTwinsCXRView`.
    """

    def __init__(self, transforms: Sequence) -> None:
        from mmpretrain.datasets.transforms import (
            ColorJitter,
            GaussianBlur,
            RandomResizedCrop,
            Solarize,
        )

        crop, flip, apply, blur, solarize = transforms
        (jitter,) = apply.transforms.transforms
        ok = (
            isinstance(crop, RandomResizedCrop)
            and crop.backend == 'pillow'
            and crop.interpolation == 'bicubic'
            and isinstance(apply, RandomApply)
            and isinstance(jitter, ColorJitter)
            and jitter.saturation is None
            and jitter.hue is None
            and isinstance(blur, GaussianBlur)
            and blur.radius is None
            and isinstance(solarize, Solarize)
            and solarize.thr is not None
        )
        if not ok:
            raise TypeError(f'not the cxr preset pipeline: {transforms}')
        self.crop, self.flip, self.apply, self.jitter = crop, flip, apply, jitter
        self.blur, self.solarize = blur, solarize
        self.size = tuple(crop.scale[::-1])  # (w, h) for Pillow
        self.values = np.arange(256, dtype=np.uint8)

    def __call__(self, results: Dict) -> Dict:
        from PIL import Image, ImageFilter

        img = results['img']
        # RandomResizedCrop (mmcv.imcrop + Pillow bicubic resize).
        top, left, h, w = self.crop.rand_crop_params(img)
        img = Image.fromarray(np.ascontiguousarray(img[top : top + h, left : left + w]))
        img = img.resize(self.size, Image.BICUBIC)
        # RandomFlip.
        direction = self.flip._choose_direction()
        results['flip'] = direction is not None
        results['flip_direction'] = direction
        if direction == 'horizontal':
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        elif direction is not None:
            raise ValueError(f'unexpected flip direction {direction}')
        # RandomApply(ColorJitter) as one table: Pillow's ImageEnhance blends.
        if self.apply.random_apply():
            order, brightness, contrast, _, _ = self.jitter._rand_params()
            table = self.values
            hist = None
            for index in order:
                if index == 0 and brightness is not None:
                    table = _blend_table(np.zeros(256, np.uint8), brightness, table)
                elif index == 1 and contrast is not None:
                    if hist is None:
                        hist = np.bincount(np.asarray(img).ravel(), minlength=256)
                    # ImageStat mean of the current image, rounded as Pillow does.
                    mean = int(float(hist @ table.astype(np.float64)) / hist.sum() + 0.5)
                    table = _blend_table(np.full(256, mean, np.uint8), contrast, table)
            img = img.point(table.tolist())
        # GaussianBlur (Pillow's, on the one band: each RGB band is the same).
        if not self.blur.random_disable():
            img = img.filter(ImageFilter.GaussianBlur(radius=self.blur.random_magnitude()))
        out = np.asarray(img)
        # Solarize (mmcv.solarize: v < thr kept, else 255 - v).
        if not self.solarize.random_disable():
            table = np.where(self.values < self.solarize.thr, self.values, 255 - self.values)
            out = cv2.LUT(out, table.astype(np.uint8))
        out = np.repeat(out[..., None], 3, axis=2)
        results['img'] = out
        results['img_shape'] = out.shape
        return results
