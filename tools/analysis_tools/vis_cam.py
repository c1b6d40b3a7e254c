# Copyright (c) cxr-mm contributors. All rights reserved.
"""Draw box-level CAMs of a detector on one radiograph (DICOM or PNG).

One overlay PNG per explained box: the heatmap, the ground truth if any
(none for a bare image), the detections and the explained box in white.

Examples:
    python tools/analysis_tools/vis_cam.py CONFIG CKPT image.dicom \
        --method ablation --topk 5 --score-thr 0.3 --out-dir work_dirs/cam
    python tools/analysis_tools/vis_cam.py CONFIG CKPT image.png \
        --method grad --target-layer neck.fpn_convs.1 --box-index 0 2
"""

import argparse
import json
import os.path as osp
from pathlib import Path

import numpy as np
from mmengine.config import DictAction

#: DetCAM settings when neither the command line nor --hook-settings sets them.
DEFAULTS = dict(
    method='ablation',
    target_layer='backbone.layer3',
    ratio_channels_to_ablate=1.0,
    batch_size=32,
    rpn_max_per_img=None,
    iou_thr=0.5,
    exact=True,
)


def parse_args(argv=None):
    from cxr_mm.cam import CAM_METHODS

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='detector config file')
    p.add_argument('checkpoint', help='local checkpoint file')
    p.add_argument('image', help='DICOM or PNG/JPEG image')
    p.add_argument(
        '--hook-settings',
        action='store_true',
        help="take the CAM's cost settings (method, target layer, channel ratio, batch, "
        "RPN proposals, exact) from the config's CAMHook; the options below override them",
    )
    p.add_argument('--method', default=None, help=f'one of {list(CAM_METHODS)} (ablation)')
    p.add_argument(
        '--target-layer', default=None, help='backbone.layer3 (default), neck.fpn_convs.0 (P2)...'
    )
    p.add_argument(
        '--ratio-channels', type=float, default=None, help='share of channels to ablate (1.0)'
    )
    p.add_argument(
        '--fast',
        action='store_true',
        help='Ablation-CAM: compute the layers before the target '
        'once (not once per batch shape); equal to grad-cam up '
        'to kernel rounding noise instead of float precision',
    )
    p.add_argument('--batch-size', type=int, default=None, help='ablated channels per forward (32)')
    p.add_argument(
        '--rpn-max-per-img',
        type=int,
        default=None,
        help='RPN proposals in the CAM forwards (the detections keep test_cfg; 0: '
        "test_cfg's too, i.e. no reduction); see cxr_mm/cam/README.md",
    )
    p.add_argument('--topk', type=int, default=5, help='explain at most this many detections')
    p.add_argument(
        '--score-thr', type=float, default=0.3, help='explain detections scoring at least this'
    )
    p.add_argument(
        '--box-index',
        type=int,
        nargs='+',
        default=None,
        help='explain these detections (0 = best); overrides --topk/--score-thr',
    )
    p.add_argument(
        '--iou-thr',
        type=float,
        default=None,
        help='IoU an output box needs with the focal box in the box target (0.5)',
    )
    p.add_argument(
        '--split',
        choices=['val', 'test'],
        default=None,
        help="draw the image's ground truth, from this split's dataset of the config "
        '(the image must belong to it)',
    )
    p.add_argument(
        '--norm-in-box', action='store_true', help='renormalise the heatmap inside each box'
    )
    p.add_argument(
        '--input-size',
        type=int,
        default=None,
        help='override the test Resize scale (long side, px)',
    )
    p.add_argument('--out-dir', default='work_dirs/vis_cam')
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value'
    )
    args = p.parse_args(argv)
    if args.method is not None and args.method not in CAM_METHODS:
        p.error(f'--method must be one of {list(CAM_METHODS)}')
    return args


def cam_settings(args, cfg) -> dict:
    """DetCAM arguments: defaults < the config's CAMHook (--hook-settings) <
    the command line."""
    from cxr_mm.cam.explain import cam_settings_from_config

    settings = dict(DEFAULTS)
    if args.hook_settings:
        settings.update(cam_settings_from_config(cfg))
    given = dict(
        method=args.method,
        target_layer=args.target_layer,
        ratio_channels_to_ablate=args.ratio_channels,
        batch_size=args.batch_size,
        rpn_max_per_img=args.rpn_max_per_img,
        iou_thr=args.iou_thr,
        exact=False if args.fast else None,
    )
    settings.update({k: v for k, v in given.items() if v is not None})
    if settings['rpn_max_per_img'] == 0:
        settings['rpn_max_per_img'] = None
    return settings


def load_item(args, model, cfg):
    """The image through the test pipeline; with its ground truth when it
    belongs to the ``--split`` dataset of the config."""
    from cxr_mm.cam import build_test_pipeline, load_dataset_item, load_image
    from cxr_mm.cam.inputs import build_split_dataset, find_image, resize_pipeline

    if args.split is None:
        return load_image(model, build_test_pipeline(cfg, args.input_size), args.image)
    dataset = build_split_dataset(cfg, args.split)
    index = find_image(dataset, args.image)
    pipeline = resize_pipeline(dataset.pipeline, args.input_size)
    return load_dataset_item(model, dataset, pipeline, index)


def main(argv=None):
    args = parse_args(argv)
    from cxr_mm.cam import DetCAM, init_detector, label_name
    from cxr_mm.cam.explain import explain_item, overlay_name, render_explanation
    from cxr_mm.visualization.cam_overlay import save_rgb

    if not osp.isfile(args.image):
        raise FileNotFoundError(f'image not found: {args.image}')
    model, cfg, classes = init_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    settings = cam_settings(args, cfg)
    item = load_item(args, model, cfg)
    cam = DetCAM(model, **settings)
    method = settings['method']
    expl = explain_item(cam, item, 'pred', args.topk, args.score_thr, args.box_index)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(args.image).stem
    dets = expl.dets
    if len(expl.boxes) == 0:
        best = float(dets['scores'][0]) if len(dets['scores']) else None
        print(
            f'{args.image}: no detection with score >= {args.score_thr} '
            f'({len(dets["scores"])} detections, best score {best}); '
            'nothing written. Lower --score-thr or use --box-index.'
        )
        return []
    scale = item.data_sample.metainfo.get('scale_factor', (1.0, 1.0))
    written, summary = [], []
    for k, i in enumerate(expl.index):
        box, label, score = expl.boxes[k], int(expl.labels[k]), float(expl.scores[k])
        name = label_name(label, classes)
        overlay = render_explanation(expl, k, classes, args.norm_in_box)
        path = out_dir / overlay_name(stem, f'{method}_box', int(i), label, classes)
        save_rgb(str(path), overlay)
        written.append(str(path))
        orig_box = (np.asarray(box) / np.tile(np.asarray(scale, dtype=np.float32), 2)).tolist()
        summary.append(
            dict(
                file=str(path),
                box_index=int(i),
                label=label,
                class_name=name,
                score=score,
                box_input=[float(v) for v in box],
                box_original=[round(v, 1) for v in orig_box],
                target_score=float(expl.target_scores[k]),
                explained=bool(expl.valid[k]),
            )
        )
        print(f'{path}  {name} score {score:.3f} box(orig px) {[round(v) for v in orig_box]}')
    with open(out_dir / f'{stem}_{method}_boxes.json', 'w') as f:
        json.dump(
            dict(
                image=args.image,
                method=method,
                target_layer=cam.target_layer_name,
                settings=settings,
                split=args.split,
                gt_boxes=len(item.gt_boxes),
                stats=expl.stats,
                boxes=summary,
            ),
            f,
            indent=1,
        )
    print(
        f'{len(written)} overlays in {out_dir} ({method} CAM on '
        f'{cam.target_layer_name}, {expl.stats.get("seconds", 0):.1f} s)'
    )
    return written


if __name__ == '__main__':
    main()
