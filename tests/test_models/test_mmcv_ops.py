"""mmcv 2.1.0 was compiled here with C++ ops: they must agree with torchvision's."""

import torch
import torchvision.ops as tv_ops
from mmcv.ops import RoIAlign, batched_nms


def _random_boxes(n, size, generator):
    xy = torch.rand(n, 2, generator=generator) * size * 0.7
    wh = torch.rand(n, 2, generator=generator) * size * 0.3 + 2
    return torch.cat([xy, xy + wh], dim=1)


def test_roi_align_matches_torchvision():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 16, 32, 32, generator=g)
    boxes = _random_boxes(20, 128, g)
    batch_idx = torch.randint(0, 2, (20, 1), generator=g).float()
    rois = torch.cat([batch_idx, boxes], dim=1)
    for aligned in (True, False):
        ours = RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=aligned)(feats, rois)
        ref = tv_ops.roi_align(
            feats, rois, (7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=aligned
        )
        assert ours.shape == (20, 16, 7, 7)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_roi_align_backward_runs_on_cpu():
    feats = torch.randn(1, 4, 16, 16, requires_grad=True)
    rois = torch.tensor([[0.0, 1.0, 1.0, 40.0, 40.0]])
    RoIAlign((3, 3), spatial_scale=0.25, sampling_ratio=2)(feats, rois).sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_batched_nms_matches_torchvision():
    g = torch.Generator().manual_seed(1)
    boxes = _random_boxes(300, 256, g)
    scores = torch.rand(300, generator=g)
    labels = torch.randint(0, 5, (300,), generator=g)
    dets, keep = batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.5))
    ref_keep = tv_ops.batched_nms(boxes, scores, labels, 0.5)
    assert 0 < len(keep) < 300
    assert sorted(keep.tolist()) == sorted(ref_keep.tolist())
    # mmcv returns kept boxes with their scores, sorted by score
    torch.testing.assert_close(dets[:, 4], scores[keep])
    assert torch.all(dets[:-1, 4] >= dets[1:, 4])
