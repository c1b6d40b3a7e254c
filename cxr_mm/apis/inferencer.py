# Copyright (c) cxr-mm contributors. All rights reserved.
"""Detector inference on radiograph files (DICOM, PNG, JPEG).

Built on mmdet's :class:`~mmdet.apis.DetInferencer`: same model building,
checkpoint loading, collate and ``test_step``. What differs, and why:

* the loader stays ``LoadCXRImage`` (mmdet swaps the test pipeline's loader for
  ``InferencerLoader``, which cannot read DICOM) and ``LoadAnnotations`` is
  dropped (no ground truth at inference);
* images are batched only with images of the same padded input shape, so a
  box does not depend on which other images shared its batch (zero padding
  changes the features near the border): a batch of any size gives the boxes
  ``tools/test.py`` gives with one image per batch;
* a file that cannot be read is reported and skipped, never stops the others;
* class names fall back to the config's dataset (never mmdet's COCO names);
* boxes are returned in the file's own pixels (JPEG 2000 decoded at reduced
  resolution by ``LoadCXRImage(target_long_side=...)`` is scaled back).
"""

import copy
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.apis import DetInferencer
from mmengine.config import Config
from mmengine.dataset import Compose

from ..core.dicom import is_dicom

#: Per-image keys the pipeline must pass to the data sample.
META_KEYS = ('img_path', 'ori_shape', 'img_shape', 'scale_factor', 'pixel_spacing', 'decode_scale')


@dataclass
class Prediction:
    """Detections of one file, boxes in the file's pixels (x1, y1, x2, y2).

    ``error`` is set (and the arrays empty) when the file could not be read.
    """

    path: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    height: Optional[int] = None
    width: Optional[int] = None
    pixel_spacing: Optional[Tuple[float, float]] = None
    sop_instance_uid: Optional[str] = None
    error: Optional[str] = None


def sop_instance_uid(path: str) -> Optional[str]:
    """The DICOM's SOP Instance UID (header only), None for other files."""
    if not is_dicom(path):
        return None
    import pydicom

    ds = pydicom.dcmread(
        path, stop_before_pixels=True, force=True, specific_tags=['SOPInstanceUID']
    )
    uid = ds.get('SOPInstanceUID')
    return str(uid) if uid else None


class CXRInferencer(DetInferencer):
    """mmdet ``DetInferencer`` for radiographs (see the module docstring).

    Args:
        model (str | Config): detector config.
        weights (str, optional): local checkpoint (loaded through the safe
            loader installed by ``cxr_mm.register``).
        device (str, optional): e.g. ``'cuda:0'``; None picks one.
        show_progress (bool): progress bar over the files.
    """

    def __init__(
        self,
        model: Union[str, Config],
        weights: Optional[str] = None,
        device: Optional[str] = None,
        show_progress: bool = True,
    ) -> None:
        import cxr_mm.register  # noqa: F401  (safe checkpoint loader, registries)

        if isinstance(model, str):
            model = Config.fromfile(model)
        self._cfg = model
        super().__init__(
            model=model, weights=weights, device=device, scope='mmdet', show_progress=show_progress
        )

    # -- DetInferencer hooks ------------------------------------------------
    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        from mmengine.runner.checkpoint import _load_checkpoint_to_model

        from ..cam.model import class_names_from_config

        classes = None
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
            ds_meta = (checkpoint.get('meta') or {}).get('dataset_meta') or {}
            classes = ds_meta.get('classes')
        if not classes:
            classes = class_names_from_config(cfg)
        if not classes:
            raise ValueError('class names neither in the checkpoint meta nor in the config')
        model.dataset_meta = dict(classes=list(classes), palette='random')

    def _init_pipeline(self, cfg) -> Compose:
        from mmdet.utils import get_test_pipeline_cfg

        steps = []
        for step in copy.deepcopy(get_test_pipeline_cfg(cfg)):
            kind = step['type'].split('.')[-1] if isinstance(step['type'], str) else ''
            if kind == 'LoadAnnotations':
                continue  # no ground truth at inference
            if kind == 'LoadImageFromFile':  # mmcv's loader cannot read DICOM
                step = dict(type='LoadCXRImage', color_type='color', window='voi')
            if kind == 'PackDetInputs':
                step['meta_keys'] = META_KEYS
            steps.append(step)
        if not any(str(s['type']).endswith('LoadCXRImage') for s in steps):
            raise ValueError(f'the test pipeline has no image loader: {[s["type"] for s in steps]}')
        return Compose(steps)

    def _init_visualizer(self, cfg):
        return None  # overlays are drawn by cxr_mm (boxes and CAMs)

    # -- batched prediction ---------------------------------------------------
    def _padded_shape(self, packed: dict) -> Tuple[int, int]:
        div = int(getattr(self.model.data_preprocessor, 'pad_size_divisor', 1) or 1)
        h, w = packed['inputs'].shape[-2:]
        return (-(-h // div) * div, -(-w // div) * div)

    def _to_prediction(self, path: str, sample) -> Prediction:
        meta = sample.metainfo
        pred = sample.pred_instances
        boxes = pred.bboxes.detach().cpu().numpy().astype(np.float32).reshape(-1, 4)
        # Rescaled boxes are in the decoded frame; the file's frame differs only
        # when JPEG 2000 was decoded at reduced resolution.
        boxes = boxes / float(meta.get('decode_scale') or 1.0)
        h, w = meta['ori_shape'][:2]
        spacing = meta.get('pixel_spacing')
        return Prediction(
            path=path,
            boxes=boxes,
            labels=pred.labels.detach().cpu().numpy().astype(np.int64),
            scores=pred.scores.detach().cpu().numpy().astype(np.float32),
            height=int(h),
            width=int(w),
            pixel_spacing=tuple(float(v) for v in spacing) if spacing else None,
            sop_instance_uid=sop_instance_uid(path),
        )

    def _forward_group(self, group: List[Tuple[str, dict]]) -> List[Prediction]:
        data = self.collate_fn([packed for _, packed in group])
        samples = self.forward(data)
        return [self._to_prediction(path, s) for (path, _), s in zip(group, samples)]

    def predict_files(self, paths: Sequence[str], batch_size: int = 1) -> Iterator[Prediction]:
        """Yield one :class:`Prediction` per path (not in input order).

        Images wait in a buffer per padded input shape until ``batch_size`` of
        them are there (the rest go at the end), so at most
        ``(distinct shapes) x (batch_size - 1)`` preprocessed images are held.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        groups: Dict[Tuple[int, int], List[Tuple[str, dict]]] = defaultdict(list)
        items: Iterable[str] = paths
        if self.show_progress:
            from rich.progress import track

            items = track(paths, description='Inference', total=len(paths))
        for path in items:
            try:
                packed = self.pipeline(dict(img_path=os.fspath(path)))
                if packed is None:
                    raise ValueError('the test pipeline dropped the image')
            except Exception as e:  # any unreadable file: report, go on
                yield Prediction(path=path, error=f'{type(e).__name__}: {e}')
                continue
            group = groups[self._padded_shape(packed)]
            group.append((path, packed))
            if len(group) == batch_size:
                yield from self._forward_group(group)
                group.clear()
        for group in groups.values():
            if group:
                yield from self._forward_group(group)


def to_input_frame(pred: Prediction, metainfo: dict) -> np.ndarray:
    """Boxes of ``pred`` (file pixels) in the network input frame of ``metainfo``."""
    sx, sy = metainfo.get('scale_factor', (1.0, 1.0))[:2]
    d = float(metainfo.get('decode_scale') or 1.0)
    return pred.boxes * np.asarray([sx, sy, sx, sy], np.float32) * d


__all__ = ['CXRInferencer', 'Prediction', 'META_KEYS', 'sop_instance_uid', 'to_input_frame']
