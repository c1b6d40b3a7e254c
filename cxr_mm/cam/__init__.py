# Copyright (c) cxr-mm contributors. All rights reserved.
"""Box-level CAMs (Ablation-CAM, EigenCAM, Grad-CAM) for mmdet detectors.

``grad-cam`` (and its scikit-learn/scipy imports) loads on first use, so
``import cxr_mm`` stays fast for training processes that never draw a CAM.
"""

import importlib

from .scores import (
    SCORE_NAMES,
    boxes_mask,
    energy_in_boxes,
    heatmap_box_iou,
    localisation_scores,
    paired_difference,
    pointing_game,
    summarise,
)

_LAZY = {
    'BatchedAblationCAM': 'ablation_cam',
    'TwoStageDetectorWrapper': 'wrapper',
    'DetCAM': 'det_cam',
    'CAMResult': 'det_cam',
    'CAM_METHODS': 'det_cam',
    'box_targets': 'det_cam',
    'get_target_layer': 'det_cam',
    'renormalize_in_box': 'det_cam',
    'select_boxes': 'det_cam',
    'init_detector': 'model',
    'class_names_from_config': 'model',
    'CAMInput': 'inputs',
    'build_test_pipeline': 'inputs',
    'load_image': 'inputs',
    'load_dataset_item': 'inputs',
    'resize_pipeline': 'inputs',
    'render_overlay': 'visualize',
    'save_rgb': 'visualize',
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f'.{_LAZY[name]}', __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'SCORE_NAMES',
    'boxes_mask',
    'energy_in_boxes',
    'heatmap_box_iou',
    'localisation_scores',
    'paired_difference',
    'pointing_game',
    'summarise',
] + list(_LAZY)
