# Copyright (c) cxr-mm contributors. All rights reserved.
"""Turn an image file or a dataset item into the detector's input.

Images go through the config's test pipeline (``LoadCXRImage`` reads DICOM
with its VOI LUT and photometric interpretation, or PNG), then through the
detector's data preprocessor, exactly as in ``runner.test()``.
"""

import copy
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from torch import Tensor, nn


@dataclass
class CAMInput:
    """One preprocessed image.

    Attributes:
        inputs (Tensor): (1, C, H, W) normalised, padded network input.
        data_sample: the ``DetDataSample`` (meta, and ground truth if any).
        image (np.ndarray): (h, w, 3) uint8 RGB picture of the network
            input before normalisation, cropped to ``img_shape`` (no pad).
        gt_boxes (np.ndarray): (N, 4) ground truth in the input frame.
        gt_labels (np.ndarray): (N,) ground-truth labels.
    """

    inputs: Tensor
    data_sample: object
    image: np.ndarray
    gt_boxes: np.ndarray
    gt_labels: np.ndarray


def resize_pipeline(pipeline: Compose, input_size: Optional[int]) -> Compose:
    """Copy of ``pipeline`` whose ``Resize`` steps fit ``input_size`` px.

    Bounds CAM cost (it grows with the pixels) independently of the
    validation resolution.
    """
    if input_size is None:
        return pipeline
    pipeline = copy.deepcopy(pipeline)
    found = False
    for t in pipeline.transforms:
        if type(t).__name__ in ('Resize', 'FixShapeResize') and hasattr(t, 'scale'):
            t.scale = (int(input_size), int(input_size))
            t.scale_factor = None
            if hasattr(t, 'keep_ratio'):
                t.keep_ratio = True
            found = True
    if not found:
        raise ValueError(
            'input_size is set but the pipeline has no Resize '
            f'step: {[type(t).__name__ for t in pipeline]}'
        )
    return pipeline


def build_test_pipeline(cfg, input_size: Optional[int] = None) -> Compose:
    """The config's test pipeline (mmdet's ``get_test_pipeline_cfg``)."""
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.registry import init_default_scope

    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return resize_pipeline(Compose(get_test_pipeline_cfg(cfg)), input_size)


def _to_rgb_uint8(img: Tensor, bgr: bool) -> np.ndarray:
    arr = img.detach().cpu().numpy()
    arr = np.transpose(arr, (1, 2, 0)) if arr.ndim == 3 else arr[..., None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif bgr:
        arr = arr[..., ::-1]
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0 and hi <= 255:
            arr = arr.round()
        else:
            arr = (arr - lo) / max(hi - lo, 1e-6) * 255
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr)


def _instances_to_input_frame(instances, metainfo):
    """Ground truth of a data_info (original pixels) in the input frame.

    Taken from the data_info rather than the packed sample: test pipelines
    may load annotations after ``Resize`` (mmdet keeps GT in original
    pixels there, to compare with rescaled predictions).
    """
    keep = [i for i in instances if not i.get('ignore_flag', 0)]
    boxes = np.asarray([i['bbox'] for i in keep], dtype=np.float32).reshape(-1, 4)
    labels = np.asarray([i['bbox_label'] for i in keep], dtype=np.int64)
    sx, sy = metainfo.get('scale_factor', (1.0, 1.0))[:2]
    boxes = boxes * np.asarray([sx, sy, sx, sy], dtype=np.float32)
    if metainfo.get('flip', False):
        raise ValueError('CAM inputs must not be flipped (test pipeline)')
    return boxes, labels


def preprocess(model: nn.Module, packed: dict, instances: Optional[list] = None) -> CAMInput:
    """Run the data preprocessor on one packed pipeline output.

    ``instances`` (a data_info's, original pixels) give the ground truth;
    else the packed ``gt_instances`` are taken as they are.
    """
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([packed]), False)
    sample = data['data_samples'][0]
    h, w = sample.metainfo['img_shape'][:2]
    bgr = bool(getattr(model.data_preprocessor, '_channel_conversion', False))
    image = _to_rgb_uint8(packed['inputs'], bgr)[:h, :w]
    gt_boxes = np.zeros((0, 4), np.float32)
    gt_labels = np.zeros((0,), np.int64)
    if instances is not None:
        gt_boxes, gt_labels = _instances_to_input_frame(instances, sample.metainfo)
    elif 'gt_instances' in sample:
        b = sample.gt_instances.bboxes
        b = getattr(b, 'tensor', b)
        gt_boxes = b.detach().cpu().numpy().astype(np.float32).reshape(-1, 4)
        gt_labels = sample.gt_instances.labels.cpu().numpy().astype(np.int64)
    return CAMInput(data['inputs'], sample, image, gt_boxes, gt_labels)


def load_image(model: nn.Module, pipeline: Callable, img_path: str) -> CAMInput:
    """Read ``img_path`` (DICOM or PNG) with the test pipeline."""
    packed = pipeline(dict(img_path=str(img_path), img_id=0))
    if packed is None:
        raise ValueError(f'{img_path}: the test pipeline dropped the image')
    return preprocess(model, packed)


def load_dataset_item(model: nn.Module, dataset, pipeline: Callable, index: int) -> CAMInput:
    """Item ``index`` of ``dataset`` through ``pipeline`` (with its GT)."""
    info = dataset.get_data_info(index)
    packed = pipeline(copy.deepcopy(info))
    if packed is None:
        raise ValueError(f'dataset item {index} ({info.get("img_path")}): dropped by the pipeline')
    return preprocess(model, packed, info.get('instances', []))


def build_split_dataset(cfg, split: str):
    """The dataset of the config's ``{split}_dataloader`` (``val``/``test``)."""
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope(cfg.get('default_scope', 'mmdet'))
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        raise KeyError(f'config has no {key}')
    return DATASETS.build(cfg[key]['dataset'])


def find_image(dataset, img_path: str) -> int:
    """Index of the item of ``dataset`` whose image is the file ``img_path``."""
    import os.path as osp

    want = osp.realpath(img_path)
    for i in range(len(dataset)):
        if osp.realpath(dataset.get_data_info(i)['img_path']) == want:
            return i
    raise ValueError(
        f'{img_path} is not an image of the {type(dataset).__name__} '
        f'({len(dataset)} items; data_root {getattr(dataset, "data_root", None)!r})'
    )
