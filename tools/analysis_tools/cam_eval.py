# Copyright (c) cxr-mm contributors. All rights reserved.
"""Compare how well two checkpoints' CAMs localise the ground-truth boxes.

Both detectors explain the same ground-truth boxes (box target: the GT box
and its class) of a split; each heatmap is scored against its box with the
pointing game, the energy inside the box and the IoU of the thresholded
heatmap. Prints a per-class table per score with the paired difference
(B - A) and its bootstrap 95% CI: the quantitative form of "BarlowTwins-CXR
localises abnormalities more precisely". The bootstrap resamples images (the boxes of
one image stay together, ``cxr_mm.evaluation.stats.paired_difference``); a class
with boxes in fewer than 2 images gets no interval.

A box the detector does not find (box target 0 at ``--iou-thr``) has no
Ablation/Grad-CAM; it is counted as undefined for that checkpoint and left
out of the pairs.

Example:
    python tools/analysis_tools/cam_eval.py CONFIG imagenet.pth btcxr.pth \
        --split val --names ImageNet BT-CXR --out work_dirs/cam_eval.json
"""

import argparse
import json
import time

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='detector config (shared by A and B)')
    p.add_argument('checkpoint_a', help='checkpoint A (e.g. ImageNet init)')
    p.add_argument('checkpoint_b', help='checkpoint B (e.g. BT-CXR init)')
    p.add_argument('--names', nargs=2, default=['A', 'B'])
    p.add_argument(
        '--split',
        default='val',
        choices=['val', 'test'],
        help='which dataloader of the config to score on',
    )
    p.add_argument(
        '--max-images', type=int, default=None, help='score the first N images with boxes'
    )
    p.add_argument('--method', default='ablation', choices=['ablation', 'eigen', 'grad'])
    p.add_argument('--target-layer', default='backbone.layer3')
    p.add_argument('--ratio-channels', type=float, default=1.0)
    p.add_argument(
        '--fast',
        action='store_true',
        help='Ablation-CAM: compute the layers before the target '
        'once (not once per batch shape); equal to grad-cam up '
        'to kernel rounding noise instead of float precision',
    )
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--iou-thr', type=float, default=0.5, help='box-target IoU threshold')
    p.add_argument(
        '--heatmap-thr', type=float, default=0.5, help='relative threshold for the heatmap IoU'
    )
    p.add_argument(
        '--input-size', type=int, default=None, help='override the Resize scale (long side, px)'
    )
    p.add_argument('--num-bootstrap', type=int, default=2000)
    p.add_argument('--out', default=None, help='write records + tables JSON')
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def score_records(records, names, num_bootstrap):
    """Per-class paired tables: ``{score: {class: paired_difference}}``, by image."""
    from cxr_mm.cam import SCORE_NAMES, paired_difference

    tables = {}
    classes = sorted({r['class_name'] for r in records})
    for key in SCORE_NAMES:
        rows = {}
        for cname in ['all'] + classes:
            recs = [r for r in records if cname == 'all' or r['class_name'] == cname]
            pairs = [
                (r['a'][key], r['b'][key], r['image'])
                for r in recs
                if r['a'][key] is not None and r['b'][key] is not None
            ]
            # Boxes of one image are resampled together; < 2 images: no interval.
            row = paired_difference(
                [p[0] for p in pairs],
                [p[1] for p in pairs],
                groups=[p[2] for p in pairs],
                num_bootstrap=num_bootstrap,
            )
            row['boxes'] = len(recs)
            row['undef_a'] = sum(r['a'][key] is None for r in recs)
            row['undef_b'] = sum(r['b'][key] is None for r in recs)
            rows[cname] = row
        tables[key] = rows
    return tables


def format_tables(tables, names) -> str:
    a, b = names
    lines = []
    for key, rows in tables.items():
        width = max(12, max(len(c) for c in rows))
        lines.append(f'\n{key}: mean per box, paired difference {b} - {a} (bootstrap 95% CI)')
        head = (
            f'{"class":<{width}} {"boxes":>5} {"pairs":>5} '
            f'{"undef " + a:>9} {"undef " + b:>9} {a:>8} {b:>8} '
            f'{"diff":>8}  95% CI'
        )
        lines.append(head)
        lines.append('-' * len(head))
        for cname, r in rows.items():
            ci = (
                f'[{r["ci_low"]:+.3f}, {r["ci_high"]:+.3f}]'
                if r['ci_low'] is not None
                else f'- ({r["n_groups"]} image(s): no interval)'
            )
            lines.append(
                f'{cname:<{width}} {r["boxes"]:>5} {r["n"]:>5} '
                f'{r["undef_a"]:>9} {r["undef_b"]:>9} {r["mean_a"]:>8.3f} '
                f'{r["mean_b"]:>8.3f} {r["diff"]:>+8.3f}  {ci}'
            )
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    from cxr_mm.cam import DetCAM, init_detector, label_name, load_dataset_item
    from cxr_mm.cam.explain import explain_item, score_explanation
    from cxr_mm.cam.inputs import build_split_dataset, resize_pipeline

    model_a, cfg, classes = init_detector(
        args.config, args.checkpoint_a, args.device, args.cfg_options
    )
    model_b, _, _ = init_detector(args.config, args.checkpoint_b, args.device, args.cfg_options)
    dataset = build_split_dataset(cfg, args.split)
    classes = dataset.metainfo.get('classes') or classes
    pipeline = resize_pipeline(dataset.pipeline, args.input_size)
    cams = [
        DetCAM(
            m,
            method=args.method,
            target_layer=args.target_layer,
            ratio_channels_to_ablate=args.ratio_channels,
            batch_size=args.batch_size,
            iou_thr=args.iou_thr,
            exact=not args.fast,
        )
        for m in (model_a, model_b)
    ]
    records, used, skipped = [], 0, 0
    t0 = time.perf_counter()
    for idx in range(len(dataset)):
        if args.max_images is not None and used >= args.max_images:
            break
        if not dataset.get_data_info(idx).get('instances'):
            skipped += 1
            continue
        # Same preprocessing for both: they share the config.
        item = load_dataset_item(model_a, dataset, pipeline, idx)
        if len(item.gt_boxes) == 0:
            skipped += 1
            continue
        used += 1
        # GT boxes scored against themselves; an undetected box has an
        # all-zero heatmap: None scores
        per_model = [
            score_explanation(explain_item(cam, item, 'gt', detect=False), args.heatmap_thr)
            for cam in cams
        ]
        path = item.data_sample.metainfo.get('img_path', str(idx))
        for k, lab in enumerate(item.gt_labels):
            name = label_name(lab, classes)
            records.append(
                dict(
                    image=path,
                    box=item.gt_boxes[k].tolist(),
                    label=int(lab),
                    class_name=name,
                    a=per_model[0][k],
                    b=per_model[1][k],
                )
            )
    seconds = time.perf_counter() - t0
    tables = score_records(records, args.names, args.num_bootstrap)
    print(
        f'{args.split}: {used} images with boxes scored, {skipped} without '
        f'boxes skipped, {len(records)} boxes; {args.method} CAM on '
        f'{args.target_layer}; {seconds:.1f} s'
    )
    print(format_tables(tables, args.names))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    names=args.names,
                    checkpoints=[args.checkpoint_a, args.checkpoint_b],
                    split=args.split,
                    method=args.method,
                    target_layer=args.target_layer,
                    images=used,
                    skipped_without_boxes=skipped,
                    tables=tables,
                    records=records,
                ),
                f,
                indent=1,
                default=lambda o: None if o is None else float(o),
            )
        print(f'written {args.out}')
    return tables


if __name__ == '__main__':
    main()
