# Copyright (c) cxr-mm contributors. All rights reserved.
"""Ablation-CAM for the top-k boxes of one image: ours vs grad-cam per box.

The authors' workload: Ablation-CAM heatmaps of the 10 best detections of a
radiograph. Baseline: grad-cam 1.5.7's ``AblationCAM`` called once per box
(as in its Faster R-CNN tutorial). Ours: :class:`cxr_mm.cam.DetCAM` with one
set of ablated forwards for all boxes, layers before the target computed
once. Same detector (Faster R-CNN R50-FPN from the project's base config,
seeded random init, ``score_thr=0`` so it has boxes), same image, settings
and process. Prints both times, the speed-up, and the largest heatmap
difference; exits with status 1 when the heatmaps differ by more than 1e-4,
contain NaN/inf, or one of them is all zero (:func:`check_heatmaps`).

CPU (~10 min on 2 busy cores): python bench/cam_speed.py [--fast]
smoke run (seconds, ResNet-18 at 96 px): python bench/cam_speed.py --tiny
GPU, full size: python bench/cam_speed.py --device cuda --size 1024 \
    --ratio 1.0 --rpn-max-per-img 1000
"""

import argparse
import os
import os.path as osp
import platform
import sys
import time
from typing import List

os.environ.setdefault('TQDM_DISABLE', '1')  # grad-cam's per-batch bars

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'faster-rcnn_r50_fpn_cxr.py')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--size', type=int, default=256, help='input long side (px)')
    p.add_argument(
        '--ratio',
        type=float,
        default=1 / 32,
        help='ratio_channels_to_ablate (grad-cam ablates 2x this '
        'share when < 1: top and bottom channels); default: 64 of '
        "layer3's 1024 channels, two batches of 32",
    )
    p.add_argument(
        '--fast',
        action='store_true',
        help='also time exact=False (single-image activations reused for every batch)',
    )
    p.add_argument('--topk', type=int, default=10)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--target-layer', default='backbone.layer3')
    p.add_argument(
        '--rpn-max-per-img',
        type=int,
        default=100,
        help='RPN proposals per image (test_cfg; 1000 in the base config)',
    )
    p.add_argument('--depth', type=int, default=50)
    p.add_argument('--image', default=None, help='DICOM/PNG; default pydicom-data RG1_UNCR.dcm')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument(
        '--tiny',
        action='store_true',
        help='smoke run: ResNet-18, 96 px, 3 boxes, 30 proposals (checks, not timings)',
    )
    p.add_argument('--atol', type=float, default=1e-4, help='largest heatmap difference allowed')
    args = p.parse_args(argv)
    if args.tiny:
        args.depth, args.size, args.topk, args.rpn_max_per_img = 18, 96, 3, 30
    return args


def check_heatmaps(ours: np.ndarray, ref: np.ndarray, atol: float = 1e-4) -> List[str]:
    """What is wrong with the two stacks of (K, H, W) heatmaps, if anything.

    A comparison passes only when both are finite, no map of either is all
    zero (a CAM that explains nothing would match another trivially), and
    they agree within ``atol``.
    """
    ours, ref = np.asarray(ours), np.asarray(ref)
    problems = []
    if ours.shape != ref.shape:
        return [f'shapes differ: ours {ours.shape}, grad-cam {ref.shape}']
    for name, maps in (('ours', ours), ('grad-cam', ref)):
        bad = [k for k in range(len(maps)) if not np.isfinite(maps[k]).all()]
        if bad:
            problems.append(f'{name}: heatmaps {bad} contain NaN or inf')
        zero = [k for k in range(len(maps)) if not np.any(maps[k])]
        if zero:
            problems.append(f'{name}: heatmaps {zero} are all zero')
    if len(ours) == 0:
        problems.append('no heatmaps to compare')
    elif not problems:
        diff = float(np.abs(ours - ref).max())
        if not diff <= atol:
            problems.append(f'heatmaps differ: max |diff| {diff:.2e} > {atol:g}')
    return problems


def load_image(path, size):
    """Gray radiograph -> (1, 3, H, W) network input and its data sample."""
    import cv2
    from mmdet.structures import DetDataSample

    if path is None:
        from pydicom.data import get_testdata_file

        path = get_testdata_file('RG1_UNCR.dcm')
    if path.lower().endswith(('.dcm', '.dicom')):
        from cxr_mm.core.dicom import read_dicom

        img = read_dicom(path)[0]
    else:
        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2)
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-6) * 255
    h, w = img.shape
    s = size / max(h, w)
    nh, nw = round(h * s), round(w * s)
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(np.repeat(img[None], 3, axis=0)).round()
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            img_path=path,
            ori_shape=(h, w),
            img_shape=(nh, nw),
            scale_factor=(nw / w, nh / h),
        )
    )
    return dict(inputs=x.to(torch.uint8), data_samples=sample), path


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from pytorch_grad_cam import AblationCAM
    from pytorch_grad_cam.ablation_layer import AblationLayer
    from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

    import cxr_mm.register  # noqa: F401
    from cxr_mm.cam import DetCAM, TwoStageDetectorWrapper
    from cxr_mm.cam.inputs import preprocess

    init_default_scope('mmdet')
    cfg = Config.fromfile(BASE_MODEL)
    cfg.model.backbone.depth = args.depth
    if args.depth < 50:
        cfg.model.neck.in_channels = [64, 128, 256, 512]
    cfg.model.test_cfg.rpn.max_per_img = args.rpn_max_per_img
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model).to(args.device).eval()
    packed, path = load_image(args.image, args.size)
    item = preprocess(model, packed)
    inputs, sample = item.inputs, item.data_sample

    cam = DetCAM(
        model,
        'ablation',
        target_layer=args.target_layer,
        ratio_channels_to_ablate=args.ratio,
        batch_size=args.batch_size,
    )
    dets = cam.detect(inputs, sample)
    boxes, labels = dets['boxes'][: args.topk], dets['labels'][: args.topk]
    if len(boxes) < args.topk:
        print(f'only {len(boxes)} detections, need {args.topk}')
        return 1

    def sync():
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()

    # Warm-up (allocator, kernels) outside both timings.
    with torch.no_grad():
        cam.wrapper(inputs.expand(2, -1, -1, -1))
    sync()

    t0 = time.perf_counter()
    ours = cam(inputs, sample, boxes, labels)
    sync()
    t_ours = time.perf_counter() - t0

    wrapper = TwoStageDetectorWrapper(model, sample)
    layer = model.get_submodule(args.target_layer)
    t0 = time.perf_counter()
    ref = []
    gc = AblationCAM(
        wrapper,
        [layer],
        ablation_layer=AblationLayer(),
        batch_size=args.batch_size,
        ratio_channels_to_ablate=args.ratio,
    )
    for box, label in zip(boxes, labels):
        target = FasterRCNNBoxScoreTarget(labels=[int(label)], bounding_boxes=[box])
        ref.append(gc(inputs, targets=[target])[0])
    sync()
    t_ref = time.perf_counter() - t0
    gc.activations_and_grads.release()
    ref = np.stack(ref)
    diff = float(np.abs(ref - ours.cams).max())

    c = ours.stats['channels_ablated']
    print(
        f'image {osp.basename(path)} -> input {tuple(inputs.shape[-2:])}, '
        f'Faster R-CNN R{args.depth}-FPN (random init, seed {args.seed}), '
        f'target {args.target_layer}, {c} channels ablated '
        f'(ratio {args.ratio}), batch {args.batch_size}, '
        f'RPN {args.rpn_max_per_img} proposals, {len(boxes)} boxes'
    )
    print(
        f'device {args.device} ({platform.processor() or platform.machine()}'
        f', torch {torch.__version__}, {torch.get_num_threads()} threads)'
    )
    print(f'grad-cam AblationCAM, once per box: {t_ref:8.2f} s')
    print(
        f'cxr_mm DetCAM (shared forwards)   : {t_ours:8.2f} s  '
        f'({ours.stats["forwards"]} forwards, layers before the target '
        f'run {ours.stats["upstream_runs"]}x, '
        f'{ours.stats["cached_modules"]} modules cached)'
    )
    if args.fast:
        fast = DetCAM(
            model,
            'ablation',
            target_layer=args.target_layer,
            ratio_channels_to_ablate=args.ratio,
            batch_size=args.batch_size,
            exact=False,
        )
        t0 = time.perf_counter()
        res = fast(inputs, sample, boxes, labels)
        sync()
        t_fast = time.perf_counter() - t0
        print(
            f'cxr_mm DetCAM exact=False         : {t_fast:8.2f} s  '
            f'(speed-up {t_ref / t_fast:.1f}x, max |diff| '
            f'{float(np.abs(ref - res.cams).max()):.1e})'
        )
    problems = check_heatmaps(ours.cams, ref, args.atol)
    print(
        f'speed-up: {t_ref / t_ours:.1f}x   max |heatmap diff|: {diff:.2e} '
        f'({"EQUAL" if not problems else "FAILED"} at {args.atol:g})'
    )
    for problem in problems:
        print(f'FAILED: {problem}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
