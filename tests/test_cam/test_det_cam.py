"""DetCAM front end: train/eval mode, method registry, CAM-only proposal budget."""

import numpy as np
import pytest
from cxr_testing import synthetic_cam_input

from cxr_mm.cam import CAM_METHODS, DetCAM
from cxr_mm.cam.methods import BaseCAMMethod, register_cam_method


@pytest.fixture(scope='module')
def image(detector):
    return synthetic_cam_input(detector, seed=3)


def _modes(model):
    return {name: m.training for name, m in model.named_modules()}


@pytest.mark.parametrize('train', [False, True])
def test_detector_left_in_the_mode_it_was_found(detector, image, train):
    detector.train(train)
    try:
        before = _modes(detector)
        if train:  # a mix: the backbone's BatchNorm stays frozen (norm_eval)
            assert any(before.values()) and not all(before.values())
        else:
            assert not any(before.values())
        boxes = np.array([[20, 20, 60, 60]], np.float32)
        for method in CAM_METHODS:
            cam = DetCAM(detector, method, ratio_channels_to_ablate=0.05, batch_size=16)
            cam.detect(image.inputs, image.data_sample)
            assert _modes(detector) == before, method
            cam(image.inputs, image.data_sample, boxes, np.array([0]))
            assert _modes(detector) == before, method
    finally:
        detector.eval()


def test_methods_come_from_the_registry(detector, image):
    assert set(CAM_METHODS) == {'ablation', 'ablation-gradcam', 'eigen', 'grad'}

    @register_cam_method('test-uniform')
    class Uniform(BaseCAMMethod):
        def __call__(self, inputs, targets):
            scores = np.float32(self.box_scores(inputs, targets))
            maps = np.ones((len(targets),) + tuple(inputs.shape[-2:]), np.float32)
            return maps, scores, dict(forwards=1)

    try:
        dets = DetCAM(detector).detect(image.inputs, image.data_sample)
        res = DetCAM(detector, 'test-uniform')(
            image.inputs, image.data_sample, dets['boxes'][:2], dets['labels'][:2]
        )
        assert res.stats['forwards'] == 1 and res.valid.all()
        assert (res.cams == 1).all()
        with pytest.raises(KeyError, match='already registered'):
            register_cam_method('test-uniform')(Uniform)
    finally:
        del CAM_METHODS['test-uniform']


def test_rpn_budget_applies_to_cam_forwards_only(detector, image):
    rpn_cfg = detector.rpn_head.test_cfg
    full = rpn_cfg['max_per_img']
    seen = []
    original = detector.roi_head.predict

    def spy(feats, rpn_results, *args, **kwargs):
        seen.append(max(len(r) for r in rpn_results))
        return original(feats, rpn_results, *args, **kwargs)

    detector.roi_head.predict = spy
    try:
        cam = DetCAM(detector, ratio_channels_to_ablate=0.05, batch_size=16, rpn_max_per_img=20)
        dets = cam.detect(image.inputs, image.data_sample)
        assert seen == [full]  # the detections keep test_cfg's proposals
        seen.clear()
        res = cam(image.inputs, image.data_sample, dets['boxes'][:2], dets['labels'][:2])
        assert len(seen) == res.stats['forwards'] >= 2 and res.valid.all()
        # reference and ablated forwards alike; then test_cfg's budget for a
        # box the reduced one does not find
        assert seen[0] == 20 and set(seen) <= {20, full}
        assert (full in seen) == (res.stats['full_budget_boxes'] > 0)
        # A budget too small to find a box: it is explained with test_cfg's.
        seen.clear()
        kw = dict(ratio_channels_to_ablate=0.05, batch_size=16)
        small = DetCAM(detector, rpn_max_per_img=1, **kw)
        res = small(image.inputs, image.data_sample, dets['boxes'][:3], dets['labels'][:3])
        assert res.stats['full_budget_boxes'] >= 1 and res.valid.all()
        assert max(seen) == full and min(seen) == 1
        ref = DetCAM(detector, **kw)(
            image.inputs, image.data_sample, dets['boxes'][:3], dets['labels'][:3]
        )
        same = [np.allclose(res.cams[k], ref.cams[k], atol=1e-5) for k in range(3)]
        assert sum(same) >= res.stats['full_budget_boxes']
    finally:
        del detector.roi_head.predict
    assert rpn_cfg['max_per_img'] == full  # restored
