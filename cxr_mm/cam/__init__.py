# Copyright (c) cxr-mm contributors. All rights reserved.
"""Box-level CAMs (Ablation-CAM, EigenCAM, Grad-CAM) for mmdet detectors.

See README.md in this folder for the layout. ``grad-cam`` (and its
scikit-learn/scipy imports), mmdet and OpenCV load on first use of a name that
needs them, so ``import cxr_mm.cam`` stays light for training processes that
never draw a CAM.
"""

import importlib

from .boxes import boxes_mask, label_name, renormalize_in_box, select_boxes
from .scores import (
    SCORE_NAMES,
    energy_in_boxes,
    heatmap_box_iou,
    localisation_scores,
    paired_difference,
    pointing_game,
    summarise,
)

_LAZY = {
    'BatchedAblationCAM': '.ablation_cam',
    'TwoStageDetectorWrapper': '.wrapper',
    'DetCAM': '.det_cam',
    'CAMResult': '.det_cam',
    'get_target_layer': '.det_cam',
    'CAM_METHODS': '.methods',
    'register_cam_method': '.methods',
    'box_targets': '.boxes',
    'init_detector': '.model',
    'class_names_from_config': '.model',
    'CAMInput': '.inputs',
    'build_test_pipeline': '.inputs',
    'load_image': '.inputs',
    'load_dataset_item': '.inputs',
    'resize_pipeline': '.inputs',
    'Explanation': '.explain',
    'explain_item': '.explain',
    'score_explanation': '.explain',
    'render_explanation': '.explain',
    'render_overlay': 'cxr_mm.visualization.cam_overlay',
    'save_rgb': 'cxr_mm.visualization.cam_overlay',
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'SCORE_NAMES',
    'boxes_mask',
    'energy_in_boxes',
    'heatmap_box_iou',
    'label_name',
    'localisation_scores',
    'paired_difference',
    'pointing_game',
    'renormalize_in_box',
    'select_boxes',
    'summarise',
] + list(_LAZY)
