"""explain_detections (tools/infer.py --cam) and the hook settings tools reuse."""

import os.path as osp

import numpy as np
import pytest
import torch
from cxr_testing import REPO_ROOT, VINDR_CLASSES, synthetic_cxr
from mmdet.structures import DetDataSample
from mmengine.config import Config

from cxr_mm.cam import DetCAM
from cxr_mm.cam.explain import cam_settings_from_config, explain_detections
from cxr_mm.cam.inputs import preprocess


def _packed(size=128, scale=0.5):
    """A pipeline output as tools/infer.py has it: a 256 px file resized to 128."""
    img, _, _ = synthetic_cxr(5, size)
    return dict(
        inputs=torch.from_numpy(np.repeat(img[None], 3, axis=0)),
        data_samples=DetDataSample(
            metainfo=dict(
                img_id=0,
                img_path='file.png',
                ori_shape=(int(size / scale),) * 2,
                img_shape=(size, size),
                scale_factor=(scale, scale),
            )
        ),
    )


def test_explain_detections_original_frame_topk_and_overlay(detector):
    packed = _packed()
    item = preprocess(detector, packed)
    dets = DetCAM(detector).detect(item.inputs, item.data_sample)
    boxes_orig = dets['boxes'][:4] / 0.5  # as infer writes them: original pixels
    labels, scores = dets['labels'][:4], dets['scores'][:4]
    # given in a shuffled order: the topk by score are explained
    order = np.array([2, 0, 3, 1])
    out = explain_detections(
        detector,
        packed,
        boxes_orig[order],
        labels[order],
        scores[order],
        topk=2,
        class_names=VINDR_CLASSES,
        ratio_channels_to_ablate=0.05,
        batch_size=16,
    )
    assert out.index.tolist() == [1, 3]  # positions of detections 0 and 1 in the input
    np.testing.assert_allclose(out.boxes, dets['boxes'][:2], atol=1e-4)
    np.testing.assert_allclose(out.boxes_original, boxes_orig[:2], atol=1e-3)
    assert out.heatmaps.shape == (2, 128, 128) and out.valid.all()
    assert np.isfinite(out.heatmaps).all() and (out.heatmaps.max(axis=(1, 2)) > 0.99).all()
    # the same maps as DetCAM on the input-frame boxes
    ref = DetCAM(detector, ratio_channels_to_ablate=0.05, batch_size=16)(
        item.inputs, item.data_sample, dets['boxes'][:2], dets['labels'][:2]
    )
    np.testing.assert_allclose(out.heatmaps, ref.cams, atol=1e-5)
    assert len(out.overlays) == 2 and out.overlays[0].shape == (128, 128, 3)
    assert out.overlay.shape == (128, 256, 3) and out.overlay.dtype == np.uint8
    assert out.overlay.std() > 5
    assert not np.array_equal(out.overlays[0], out.overlays[1])
    # nothing to explain: the picture itself, no maps
    none = explain_detections(detector, item, np.zeros((0, 4)), np.zeros(0), topk=3)
    assert none.heatmaps.shape == (0, 128, 128) and none.overlay.shape == (128, 128, 3)
    with pytest.raises(ValueError, match='differ in length'):
        explain_detections(detector, item, boxes_orig, labels[:1])


def test_cam_settings_from_config():
    demo = 'faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py'
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'faster_rcnn_cxr', demo))
    s = cam_settings_from_config(cfg)
    assert s == dict(
        method='ablation',
        target_layer='backbone.layer3',
        ratio_channels_to_ablate=0.01,
        batch_size=20,
        rpn_max_per_img=30,
        iou_thr=0.5,
        exact=False,  # the hook's default
    )
    with pytest.raises(KeyError, match='no CAMHook'):
        cam_settings_from_config(Config(dict(custom_hooks=[])))
