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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='detector config file')
    p.add_argument('checkpoint', help='local checkpoint file')
    p.add_argument('image', help='DICOM or PNG/JPEG image')
    p.add_argument(
        '--method',
        default='ablation',
        choices=['ablation', 'eigen', 'grad', 'ablation-gradcam'],
        help='ablation: our exact fast Ablation-CAM; ablation-gradcam: '
        "grad-cam's AblationCAM once per box (slow reference)",
    )
    p.add_argument(
        '--target-layer',
        default='backbone.layer3',
        help='e.g. backbone.layer3, neck.fpn_convs.0 (P2)',
    )
    p.add_argument(
        '--ratio-channels',
        type=float,
        default=1.0,
        help='share of channels to ablate (1.0 or <= 0.5)',
    )
    p.add_argument(
        '--fast',
        action='store_true',
        help='Ablation-CAM: compute the layers before the target '
        'once (not once per batch shape); equal to grad-cam up '
        'to kernel rounding noise instead of float precision',
    )
    p.add_argument('--batch-size', type=int, default=32, help='ablated channels per forward')
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
        default=0.5,
        help='IoU an output box needs with the focal box in the box target',
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
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from cxr_mm.cam import DetCAM, build_test_pipeline, init_detector, label_name, load_image
    from cxr_mm.cam.explain import explain_item, overlay_name, render_explanation
    from cxr_mm.visualization.cam_overlay import save_rgb

    if not osp.isfile(args.image):
        raise FileNotFoundError(f'image not found: {args.image}')
    model, cfg, classes = init_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    pipeline = build_test_pipeline(cfg, args.input_size)
    item = load_image(model, pipeline, args.image)
    cam = DetCAM(
        model,
        method=args.method,
        target_layer=args.target_layer,
        ratio_channels_to_ablate=args.ratio_channels,
        batch_size=args.batch_size,
        iou_thr=args.iou_thr,
        exact=not args.fast,
    )
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
        path = out_dir / overlay_name(stem, f'{args.method}_box', int(i), label, classes)
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
    with open(out_dir / f'{stem}_{args.method}_boxes.json', 'w') as f:
        json.dump(
            dict(
                image=args.image,
                method=args.method,
                target_layer=args.target_layer,
                stats=expl.stats,
                boxes=summary,
            ),
            f,
            indent=1,
        )
    print(
        f'{len(written)} overlays in {out_dir} ({args.method} CAM on '
        f'{args.target_layer}, {expl.stats.get("seconds", 0):.1f} s)'
    )
    return written


if __name__ == '__main__':
    main()
