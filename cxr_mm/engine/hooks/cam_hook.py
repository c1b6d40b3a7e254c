# Copyright (c) cxr-mm contributors. All rights reserved.
"""Periodic CAM heatmaps of fixed validation images during training."""

import os.path as osp
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import mmengine
import numpy as np
from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class CAMHook(Hook):
    """Draw and score box-level CAMs of K fixed validation images.

    The BarlowTwins-CXR paper (Sheng et al., 2024) argues with Ablation-CAM
    pictures (Desai & Ramaswamy, WACV 2020); this hook makes them during
    training and scores them against the ground truth (pointing game, energy
    inside the box, IoU of the thresholded heatmap), so the claim can be
    followed over epochs. After every ``interval``-th validation it writes
    ``work_dir/{out_dir}/epoch_X/*.png`` (or ``iter_X`` for iteration-based
    training), sends the overlays to the visualizer backends (TensorBoard)
    and logs the scores and its own cost.

    Cost grows with ``num_images * input_size**2 * channels ablated`` (all
    boxes of an image share the ablated forwards); keep them small on CPU.

    Args:
        interval (int): run after every ``interval`` epochs (or validations
            in iteration-based training). Defaults to 1.
        num_images (int): validation images (the first ones with boxes,
            fixed for the whole run) when ``image_indices`` is None.
        image_indices (Sequence[int], optional): explicit validation indices.
        max_boxes (int): boxes explained per image.
        box_source (str): ``'pred'`` explains the top detections (scored
            against the ground truth of the same class), ``'gt'`` explains
            the ground-truth boxes themselves.
        score_thr (float): minimal detection score in ``'pred'`` mode
            (the RoI head's ``test_cfg.score_thr`` is lowered to it while
            the hook runs).
        method (str): ``ablation`` | ``eigen`` | ``grad`` (see
            :class:`cxr_mm.cam.DetCAM`).
        target_layer (str): detector sub-module, ``backbone.layer3`` or an
            FPN level such as ``neck.fpn_convs.1``.
        ratio_channels_to_ablate (float): Ablation-CAM channel budget;
            0.02 ablates 2 x 20 of ResNet-50 layer3's 1024 channels (grad-cam
            keeps the top and bottom share), two forwards of 32 and 8.
        batch_size (int): ablated channels per forward.
        input_size (int, optional): long side the validation ``Resize`` is
            changed to for the CAMs; None keeps the validation size.
        rpn_max_per_img (int, optional): proposals kept by the RPN while the
            hook runs (the RoI head dominates the cost): the hook explains
            the detections of the detector with this budget. None keeps
            test_cfg.
        iou_thr (float): box-target IoU threshold.
        heatmap_thr (float): relative threshold of the heatmap-IoU score.
        norm_in_box (bool): draw the heatmap renormalised inside the box.
        exact (bool): bit-match grad-cam (recompute the layers before the
            target per batch shape); False (default) computes them once,
            cheaper, equal up to kernel rounding noise.
        out_dir (str): folder under ``work_dir``.
        add_to_visualizer (bool): also send overlays to the visualizer.
    """

    priority = 'LOW'

    def __init__(
        self,
        interval: int = 1,
        num_images: int = 2,
        image_indices: Optional[Sequence[int]] = None,
        max_boxes: int = 3,
        box_source: str = 'pred',
        score_thr: float = 0.05,
        method: str = 'ablation',
        target_layer: str = 'backbone.layer3',
        ratio_channels_to_ablate: float = 0.02,
        batch_size: int = 32,
        input_size: Optional[int] = None,
        rpn_max_per_img: Optional[int] = 100,
        iou_thr: float = 0.5,
        heatmap_thr: float = 0.5,
        norm_in_box: bool = False,
        exact: bool = False,
        out_dir: str = 'cam',
        add_to_visualizer: bool = True,
    ) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if box_source not in ('pred', 'gt'):
            raise ValueError(f"box_source must be 'pred' or 'gt', got {box_source!r}")
        if method not in ('ablation', 'eigen', 'grad'):
            raise ValueError(f"method must be 'ablation', 'eigen' or 'grad', got {method!r}")
        self.interval = interval
        self.num_images = num_images
        self.image_indices = None if image_indices is None else [int(i) for i in image_indices]
        self.max_boxes = max_boxes
        self.box_source = box_source
        self.score_thr = score_thr
        self.method = method
        self.target_layer = target_layer
        self.ratio_channels_to_ablate = ratio_channels_to_ablate
        self.batch_size = batch_size
        self.input_size = input_size
        self.rpn_max_per_img = rpn_max_per_img
        self.iou_thr = iou_thr
        self.heatmap_thr = heatmap_thr
        self.norm_in_box = norm_in_box
        self.exact = exact
        self.out_dir = out_dir
        self.add_to_visualizer = add_to_visualizer
        self._val_count = 0
        self._run_start = None
        self.total_seconds = 0.0

    def before_run(self, runner) -> None:
        self._run_start = time.perf_counter()

    # ------------------------------------------------------------------
    def _pick_images(self, dataset, logger) -> List[int]:
        if self.image_indices is not None:
            bad = [i for i in self.image_indices if not 0 <= i < len(dataset)]
            if bad:
                raise IndexError(
                    f'CAMHook image_indices {bad} out of range '
                    f'(validation set has {len(dataset)} items)'
                )
            return list(self.image_indices)
        picked, skipped = [], 0
        for i in range(len(dataset)):
            if len(dataset.get_data_info(i).get('instances', [])) > 0:
                picked.append(i)
                if len(picked) == self.num_images:
                    break
            else:
                skipped += 1
        logger.info(
            f'CAMHook: validation images {picked} (first with boxes; '
            f'{skipped} without boxes skipped)'
        )
        return picked

    def _tag(self, runner) -> Optional[str]:
        from mmengine.runner import IterBasedTrainLoop

        self._val_count += 1
        loop = getattr(runner, '_train_loop', None)
        if isinstance(loop, IterBasedTrainLoop):
            if self._val_count % self.interval:
                return None
            return f'iter_{runner.iter}'
        if runner.epoch % self.interval:
            return None
        return f'epoch_{runner.epoch}'

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        tag = self._tag(runner)
        if tag is None or not is_main_process():
            return
        t0 = time.perf_counter()
        records, stats = self._run(runner, tag)
        seconds = time.perf_counter() - t0
        self.total_seconds += seconds
        self._log(runner, tag, records, stats, seconds)

    # ------------------------------------------------------------------
    def _run(self, runner, tag: str):
        from cxr_mm.cam import DetCAM, load_dataset_item, save_rgb
        from cxr_mm.cam.explain import (
            explain_item,
            overlay_name,
            render_explanation,
            score_explanation,
        )
        from cxr_mm.cam.inputs import resize_pipeline
        from cxr_mm.cam.wrapper import cam_test_cfg

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset = runner.val_dataloader.dataset
        if not hasattr(self, '_indices'):
            self._indices = self._pick_images(dataset, runner.logger)
        pipeline = resize_pipeline(dataset.pipeline, self.input_size)
        class_names = dataset.metainfo.get('classes')
        out_dir = Path(runner.work_dir) / self.out_dir / tag
        mmengine.mkdir_or_exist(str(out_dir))

        cam = DetCAM(
            model,
            method=self.method,
            target_layer=self.target_layer,
            ratio_channels_to_ablate=self.ratio_channels_to_ablate,
            batch_size=self.batch_size,
            iou_thr=self.iou_thr,
            exact=self.exact,
        )
        records = []
        stats = dict(
            images=0, boxes=0, forwards=0, channels_ablated=0, input_shape='-', no_gt=0, no_dets=0
        )
        step = runner.epoch if tag.startswith('epoch') else runner.iter
        # Bounded cost: fewer proposals for the detections and the CAMs alike
        # (each box is then found by the CAMs' detector); and detections down
        # to score_thr (an early detector may have none above test_cfg's).
        score_thr = self.score_thr if self.box_source == 'pred' else None
        with cam_test_cfg(model, self.rpn_max_per_img, score_thr):
            for idx in self._indices:
                item = load_dataset_item(model, dataset, pipeline, idx)
                expl = explain_item(
                    cam, item, self.box_source, topk=self.max_boxes, score_thr=self.score_thr
                )
                stats['no_dets'] += int(self.box_source == 'pred' and len(expl.boxes) == 0)
                stats['images'] += 1
                stats['boxes'] += len(expl.boxes)
                stats['input_shape'] = 'x'.join(str(v) for v in item.inputs.shape[-2:])
                stats['forwards'] += int(expl.stats.get('forwards', 0))
                stats['channels_ablated'] += int(expl.stats.get('channels_ablated', 0))
                for rec in score_explanation(expl, self.heatmap_thr):
                    if rec is None:
                        stats['no_gt'] += 1
                    else:
                        records.append(rec)
                stem = Path(item.data_sample.metainfo.get('img_path', f'img{idx}')).stem
                for k, label in enumerate(expl.labels):
                    overlay = render_explanation(expl, k, class_names, self.norm_in_box)
                    fname = overlay_name(stem, self.box_source, k, label, class_names)
                    save_rgb(osp.join(out_dir, fname), overlay)
                    if self.add_to_visualizer:
                        runner.visualizer.add_image(
                            f'{self.out_dir}_{stem}_{self.box_source}{k}', overlay, step=step
                        )
        return records, stats

    def _log(self, runner, tag, records, stats, seconds) -> None:
        from cxr_mm.cam import summarise

        summary = summarise(records)['all']
        elapsed = (
            time.perf_counter() - self._run_start if self._run_start is not None else float('nan')
        )
        # What the hook adds: its time over the time of everything else.
        rest = elapsed - self.total_seconds
        added = self.total_seconds / rest if rest > 0 else float('nan')
        runner.logger.info(
            f'CAMHook {tag}: {self.method} CAM on {self.target_layer}, '
            f'{self.box_source} boxes, input {stats["input_shape"]}, '
            f'{stats["images"]} images, {stats["boxes"]} boxes, '
            f'{stats["forwards"]} forwards, {stats["channels_ablated"]} '
            f'channels ablated, {seconds:.1f} s '
            f'(CAM total {self.total_seconds:.1f} s: adds {100 * added:.1f}% '
            f'to the run so far)'
        )
        fmt = (
            'pointing {pointing:.3f}, energy {energy:.3f}, '
            'iou {iou:.3f} over {n} boxes ({n_undefined} not detected'
        )
        msg = fmt.format(**summary)
        if self.box_source == 'pred':
            msg += (
                f', {stats["no_gt"]} without a same-class GT box; '
                f'{stats["no_dets"]} images without detections >= '
                f'{self.score_thr}'
            )
        runner.logger.info(f'CAMHook {tag} localisation vs GT: {msg})')
        step = runner.epoch if tag.startswith('epoch') else runner.iter
        scalars = {
            f'{self.out_dir}/{k}': summary[k]
            for k in ('pointing', 'energy', 'iou')
            if np.isfinite(summary[k])
        }
        scalars[f'{self.out_dir}/seconds'] = seconds
        runner.visualizer.add_scalars(scalars, step=step)
