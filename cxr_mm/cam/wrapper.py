# Copyright (c) cxr-mm contributors. All rights reserved.
"""Make an mmdet 3 two-stage detector look like a torchvision detector.

grad-cam's detection targets (``FasterRCNNBoxScoreTarget``) read one dict
per image with ``boxes``, ``labels`` and ``scores``; its CAM classes call
``model(input_tensor)`` on a bare (N, C, H, W) batch. mmdet detectors need
data samples and return ``DetDataSample``s, hence this thin adapter.
"""

import contextlib
import copy
from typing import Dict, Iterator, List, Optional

from mmdet.structures import DetDataSample
from torch import Tensor, nn


class TwoStageDetectorWrapper(nn.Module):
    """Torchvision-style view of an mmdet ``TwoStageDetector``.

    Boxes stay in the coordinates of the network input (``rescale=False``),
    which is the frame the heatmaps live in. Every image of a batch shares
    the meta information of ``data_sample`` (CAM batches are copies of one
    image with different channels ablated).

    Args:
        detector (nn.Module): an mmdet two-stage detector (``extract_feat``,
            ``rpn_head``, ``roi_head``), e.g. Faster R-CNN.
        data_sample (DetDataSample, optional): meta information of the
            image (``img_shape``, ``batch_input_shape``...). Can be set later
            with :meth:`set_data_sample`.
    """

    def __init__(self, detector: nn.Module, data_sample: Optional[DetDataSample] = None) -> None:
        super().__init__()
        for attr in ('extract_feat', 'rpn_head', 'roi_head'):
            if not hasattr(detector, attr):
                raise TypeError(
                    f'{type(detector).__name__} is not a two-stage detector '
                    f'(no `{attr}`); CAM needs RPN proposals and an RoI head'
                )
        self.detector = detector
        self.data_sample = None
        if data_sample is not None:
            self.set_data_sample(data_sample)

    def set_data_sample(self, data_sample: DetDataSample) -> None:
        """Keep only the meta information: ground truth is not needed."""
        self.data_sample = DetDataSample(metainfo=copy.deepcopy(data_sample.metainfo))

    def forward(self, inputs: Tensor) -> List[Dict[str, Tensor]]:
        if self.data_sample is None:
            raise RuntimeError('call set_data_sample() before the forward')
        samples = [self.data_sample] * inputs.shape[0]
        feats = self.detector.extract_feat(inputs)
        rpn_results = self.detector.rpn_head.predict(feats, samples, rescale=False)
        results = self.detector.roi_head.predict(feats, rpn_results, samples, rescale=False)
        return [dict(boxes=r.bboxes, labels=r.labels, scores=r.scores) for r in results]


@contextlib.contextmanager
def cam_test_cfg(
    model: nn.Module, rpn_max_per_img: Optional[int] = None, score_thr: Optional[float] = None
) -> Iterator[None]:
    """Temporarily change the detector's ``test_cfg`` (restored on exit).

    ``rpn_max_per_img`` bounds the proposals (the RoI head dominates the
    cost); ``score_thr`` lowers the RoI head's threshold so that an early
    detector still has detections. None leaves a setting as it is.
    """
    overrides = []
    rpn_cfg = getattr(getattr(model, 'rpn_head', None), 'test_cfg', None)
    if rpn_max_per_img is not None and rpn_cfg is not None:
        overrides.append((rpn_cfg, 'max_per_img', rpn_max_per_img))
    rcnn_cfg = getattr(getattr(model, 'roi_head', None), 'test_cfg', None)
    if score_thr is not None and rcnn_cfg is not None and rcnn_cfg.get('score_thr', 0) > score_thr:
        overrides.append((rcnn_cfg, 'score_thr', score_thr))
    saved = [(c, k, c.get(k)) for c, k, _ in overrides]
    for c, k, v in overrides:
        c[k] = v
    try:
        yield
    finally:
        for c, k, v in saved:
            c[k] = v
