"""Our shared-forward Ablation-CAM equals grad-cam's AblationCAM per box.

grad-cam 1.5.7's ``AblationCAM`` is run once per box, exactly as the
authors' tooling does, on the same detector and image; heatmaps must agree
within 1e-4 after grad-cam's normalisation, while we run far fewer forwards
and never recompute the layers before the target.
"""

import numpy as np
import pytest
import torch
from cxr_testing import synthetic_cam_input
from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

from cxr_mm.cam import BatchedAblationCAM, DetCAM, TwoStageDetectorWrapper


@pytest.fixture(scope='module')
def image(detector):
    return synthetic_cam_input(detector, seed=7)


def _count_forwards(module, method='forward'):
    """Count real runs of ``module.<method>`` (hooks would also fire when a
    cached output is returned instead)."""
    calls = []
    original = getattr(module, method)

    def counting(*args, **kwargs):
        calls.append(len(args[-1]) if method == 'predict' else len(args[0]))
        return original(*args, **kwargs)

    setattr(module, method, counting)
    return calls, lambda: delattr(module, method)


def _reference(wrapper, layer, inputs, boxes, labels, batch_size, ratio):
    cams = []
    cam = AblationCAM(
        wrapper,
        [layer],
        ablation_layer=AblationLayer(),
        batch_size=batch_size,
        ratio_channels_to_ablate=ratio,
    )
    for box, label in zip(boxes, labels):
        target = FasterRCNNBoxScoreTarget(labels=[int(label)], bounding_boxes=[box])
        cams.append(cam(inputs, targets=[target])[0])
    cam.activations_and_grads.release()
    return np.stack(cams)


@pytest.mark.parametrize(
    'layer_name,ratio,batch_size',
    [
        ('backbone.layer3', 0.25, 8),  # ReLU output: ablation value 0
        ('neck.fpn_convs.1', 0.125, 3),  # no zero: grad-cam's min - k*1e7
        ('backbone.layer1', 1.0, 32),  # every channel
    ],
)
def test_equals_gradcam_ablationcam(detector, image, layer_name, ratio, batch_size):
    cam = DetCAM(
        detector,
        'ablation',
        target_layer=layer_name,
        ratio_channels_to_ablate=ratio,
        batch_size=batch_size,
    )
    dets = cam.detect(image.inputs, image.data_sample)
    assert len(dets['boxes']) >= 3, 'seeded detector must give boxes'
    boxes, labels = dets['boxes'][:3], dets['labels'][:3]

    stem_calls, h1 = _count_forwards(detector.backbone.conv1)
    head_calls, h2 = _count_forwards(detector.roi_head, 'predict')
    ours = cam(image.inputs, image.data_sample, boxes, labels)
    h1()
    h2()
    # The rest of the network ran once per channel batch for all boxes;
    # the layers before the target once per batch shape.
    n_ablated = ours.stats['channels_ablated']
    n_batches = -(-n_ablated // batch_size)
    sizes = [min(batch_size, n_ablated - i) for i in range(0, n_ablated, batch_size)]
    assert stem_calls == [1] + list(dict.fromkeys(sizes))
    assert ours.stats['upstream_runs'] == len(stem_calls)
    assert ours.stats['forwards'] == len(head_calls) == 1 + n_batches
    assert ours.stats['cached_modules'] >= 1
    assert ours.valid.all() and (ours.target_scores > 0).all()

    wrapper = TwoStageDetectorWrapper(detector, image.data_sample)
    layer = detector.get_submodule(layer_name)
    ref_calls, h3 = _count_forwards(detector.roi_head, 'predict')
    ref = _reference(wrapper, layer, image.inputs, boxes, labels, batch_size, ratio)
    h3()
    assert len(ref_calls) == 3 * (2 + n_batches)

    assert ours.cams.shape == ref.shape == (3,) + image.inputs.shape[-2:]
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(ours.cams, ref, rtol=0, atol=1e-4)
    # Non-trivial maps: a real spread of values, different per box.
    assert (ours.cams.max(axis=(1, 2)) > 0.99).all()
    assert ours.cams.std() > 0.05


def test_undetected_box_is_flagged_not_nan(detector, image):
    cam = DetCAM(detector, 'ablation', ratio_channels_to_ablate=0.125)
    # A 2x2 box far from any proposal: no output box overlaps it.
    res = cam(image.inputs, image.data_sample, np.array([[0, 0, 2, 2]], np.float32), np.array([5]))
    assert not res.valid[0] and res.target_scores[0] == 0
    assert (res.cams[0] == 0).all()
    assert res.stats['forwards'] == 1  # nothing to ablate for
    # next to a detected box, it stays flagged while the other is explained
    dets = cam.detect(image.inputs, image.data_sample)
    res = cam(
        image.inputs,
        image.data_sample,
        np.concatenate([dets['boxes'][:1], [[0, 0, 2, 2]]]),
        np.array([dets['labels'][0], 5]),
    )
    assert res.valid.tolist() == [True, False]
    assert res.cams[0].max() > 0.99 and (res.cams[1] == 0).all()


def test_methods_shapes_and_validation(detector, image):
    dets = DetCAM(detector).detect(image.inputs, image.data_sample)
    boxes, labels = dets['boxes'][:2], dets['labels'][:2]
    for method in ('eigen', 'grad'):
        res = DetCAM(detector, method)(image.inputs, image.data_sample, boxes, labels)
        assert res.cams.shape == (2,) + image.inputs.shape[-2:]
        assert np.isfinite(res.cams).all()
        assert res.cams.min() >= 0 and res.cams.max() == pytest.approx(1, abs=1e-3)
        assert res.valid.all()
    # Grad-CAM leaves no gradients behind on the detector.
    assert all(p.grad is None for p in detector.parameters())
    with pytest.raises(ValueError, match='not found'):
        DetCAM(detector, target_layer='backbone.layer9')
    with pytest.raises(ValueError, match='twice'):
        DetCAM(detector, ratio_channels_to_ablate=0.7)
    with pytest.raises(ValueError, match='unknown CAM method'):
        DetCAM(detector, method='score')
    with pytest.raises(TypeError, match='two-stage'):
        TwoStageDetectorWrapper(torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match='once'):
        BatchedAblationCAM(
            TwoStageDetectorWrapper(detector, image.data_sample), detector.backbone.layer1[0].relu
        )(image.inputs, [])


def test_fast_mode_reuses_single_image_activations(detector, image):
    """exact=False: the stem runs once in all; equal up to kernel noise."""
    dets = DetCAM(detector).detect(image.inputs, image.data_sample)
    boxes, labels = dets['boxes'][:2], dets['labels'][:2]
    kw = dict(ratio_channels_to_ablate=0.25, batch_size=8)
    exact = DetCAM(detector, **kw)(image.inputs, image.data_sample, boxes, labels)
    stem_calls, undo = _count_forwards(detector.backbone.conv1)
    fast = DetCAM(detector, exact=False, **kw)(image.inputs, image.data_sample, boxes, labels)
    undo()
    assert stem_calls == [1] and fast.stats['upstream_runs'] == 1
    assert exact.stats['upstream_runs'] == 2
    np.testing.assert_allclose(fast.cams, exact.cams, rtol=0, atol=1e-2)
