# Copyright (c) cxr-mm contributors. All rights reserved.
"""Inference on radiograph files: ``CXRInferencer`` and ``run_inference``."""

from .inferencer import CXRInferencer, Prediction
from .run import collect_inputs, kaggle_prediction_string, prediction_record, run_inference

__all__ = [
    'CXRInferencer',
    'Prediction',
    'collect_inputs',
    'kaggle_prediction_string',
    'prediction_record',
    'run_inference',
]
