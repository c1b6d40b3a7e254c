# Copyright (c) cxr-mm contributors. All rights reserved.
"""Build a detector from a config and a local checkpoint for CAM tools."""

from typing import List, Optional, Tuple

from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from torch import nn


def class_names_from_config(cfg: Config) -> Optional[List[str]]:
    """Class names of the test dataset: ``metainfo`` in the config, else the
    dataset class's ``METAINFO``."""
    from mmdet.registry import DATASETS

    ds = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'dataset' in ds and 'metainfo' not in ds:
        ds = ds['dataset']
    meta = ds.get('metainfo') or {}
    if meta.get('classes'):
        return list(meta['classes'])
    cls = DATASETS.get(ds.get('type')) if ds.get('type') else None
    classes = getattr(cls, 'METAINFO', {}).get('classes') if cls else None
    return list(classes) if classes else None


def init_detector(
    config, checkpoint: Optional[str], device: str = 'cpu', cfg_options: Optional[dict] = None
) -> Tuple[nn.Module, Config, Optional[List[str]]]:
    """Detector in eval mode, its config and its class names.

    Class names come from the checkpoint's ``dataset_meta`` when saved by
    mmengine, else from the config's test dataset (never mmdet's COCO
    fallback).
    """
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint

    import cxr_mm.register  # noqa: F401  (safe checkpoint loader, registries)

    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    classes = None
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        ds_meta = meta.get('dataset_meta') or {}
        if ds_meta.get('classes'):
            classes = list(ds_meta['classes'])
    if classes is None:
        classes = class_names_from_config(cfg)
    model.dataset_meta = dict(classes=classes)
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model, cfg, classes
