# Copyright (c) cxr-mm contributors. All rights reserved.
"""Render what a config's pipeline feeds the model, with its labels, to PNG.

Works for both stages: an mmdet config (VinDr-CXR; boxes drawn by mmdet's
``DetLocalVisualizer``) and an mmpretrain config (NIH; labels drawn by
mmpretrain's ``UniversalVisualizer``; the views of a multi-view pretraining
pipeline are put side by side). Headless: images are written, never shown.

Example::

    python tools/analysis_tools/browse_dataset.py \\
        configs/faster_rcnn_cxr/<config>.py --output-dir work_dirs/browse -n 8
"""

import argparse
import os
import os.path as osp
import sys
import time
from typing import List, Optional

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='config file path')
    p.add_argument('--output-dir', '-o', required=True, help='folder the PNGs are written to')
    p.add_argument('--phase', '-p', default='train', choices=['train', 'val', 'test'])
    p.add_argument('--show-number', '-n', type=int, default=8, help='number of samples to render')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (as in tools/train.py)',
    )
    return p.parse_args(argv)


def to_display(t) -> np.ndarray:
    """(C, H, W) tensor/array -> (H, W, 3) uint8 RGB for the visualizers.

    Float inputs (``to_float32`` pipelines) are min-max scaled; BGR (mmcv's
    loading order) is turned into RGB; grey is repeated to 3 channels.
    """
    a = t.detach().cpu().numpy() if hasattr(t, 'detach') else np.asarray(t)
    if a.ndim == 2:
        a = a[None]
    a = a.transpose(1, 2, 0)
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[..., ::-1])


def side_by_side(images: List[np.ndarray]) -> np.ndarray:
    """Concatenate views horizontally (padded to the tallest)."""
    h = max(i.shape[0] for i in images)
    padded = [np.pad(i, ((0, h - i.shape[0]), (0, 4), (0, 0)), constant_values=255) for i in images]
    return np.concatenate(padded, axis=1)


def render_det(item, dataset, out_file: str, visualizer) -> None:
    from mmdet.structures.bbox import BaseBoxes

    img = to_display(item['inputs'])
    sample = item['data_samples'].numpy()
    gt = sample.gt_instances
    if isinstance(gt.get('bboxes', None), BaseBoxes):
        gt.bboxes = gt.bboxes.tensor
    sample.gt_instances = gt
    visualizer.add_datasample(
        osp.basename(out_file), img, sample, draw_pred=False, show=False, out_file=out_file
    )


def render_cls(item, dataset, out_file: str, visualizer) -> None:
    inputs = item['inputs']
    if isinstance(inputs, (list, tuple)):
        img = side_by_side([to_display(v) for v in inputs])
    else:
        img = to_display(inputs)
    sample = item.get('data_samples')
    if sample is not None and 'gt_label' in sample:
        visualizer.visualize_cls(
            img,
            sample,
            classes=dataset.metainfo.get('classes'),
            draw_gt=True,
            draw_pred=False,
            show=False,
            out_file=out_file,
        )
    else:  # unlabeled (pretraining) samples: the views only
        import mmcv

        mmcv.imwrite(img[..., ::-1], out_file)


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    import cxr_mm.register  # noqa: F401  (registers the datasets and transforms)

    scope = cfg.get('default_scope', 'mmdet')
    loader = cfg.get(f'{args.phase}_dataloader')
    if loader is None:
        print(f'error: {args.config} has no {args.phase}_dataloader', file=sys.stderr)
        return 1
    # Scoped for the whole run, and restored after (main() may be called
    # from another program with another default scope).
    with DefaultScope.overwrite_default_scope(scope):
        return _browse(args, loader.dataset, scope)


def _browse(args, dataset_cfg, scope: str) -> int:
    from mmengine.registry import DATASETS, VISUALIZERS

    dataset = DATASETS.build(dataset_cfg)
    os.makedirs(args.output_dir, exist_ok=True)

    is_det = scope == 'mmdet'
    vis_type = 'DetLocalVisualizer' if is_det else 'UniversalVisualizer'
    # A fresh name: visualizers are per-name singletons.
    vis_cfg = dict(type=vis_type, name=f'browse_{vis_type}_{time.time_ns()}')
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo
    render = render_det if is_det else render_cls

    n = min(args.show_number, len(dataset))
    for i in range(n):
        item = dataset[i]
        info = dataset.get_data_info(i)
        stem = osp.splitext(osp.basename(info['img_path']))[0]
        out_file = osp.join(args.output_dir, f'{i:05d}_{stem}.png')
        render(item, dataset, out_file, visualizer)
        print(out_file)
    print(f'{n} image(s) written to {args.output_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
