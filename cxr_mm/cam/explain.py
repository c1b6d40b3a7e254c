# Copyright (c) cxr-mm contributors. All rights reserved.
"""Explain -> score -> render: the one CAM workflow of the hook and the tools.

:class:`cxr_mm.engine.hooks.CAMHook`, ``tools/analysis_tools/vis_cam.py`` and
``cam_eval.py`` all do the same three steps on a preprocessed image
(:class:`cxr_mm.cam.inputs.CAMInput`):

1. :func:`explain_item`: detect, choose the boxes (top detections, ground
   truth, or boxes given by the caller) and compute one heatmap per box;
2. :func:`score_explanation`: localisation scores of each heatmap against the
   ground truth (:mod:`cxr_mm.cam.scores`);
3. :func:`render_explanation`: one overlay picture per box
   (:mod:`cxr_mm.visualization.cam_overlay`).

:func:`explain_detections` does all three for detections a caller already
has (``tools/infer.py --cam``); :func:`cam_settings_from_config` gives the
config's CAMHook cost settings to a tool.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from torch import nn

from .boxes import label_name, renormalize_in_box, safe_filename, select_boxes
from .inputs import CAMInput
from .scores import localisation_scores

BOX_SOURCES = ('pred', 'gt', 'given')


@dataclass
class Explanation:
    """Heatmaps of the chosen boxes of one image.

    Attributes:
        item (CAMInput): the image (picture, network input, ground truth).
        box_source (str): ``'pred'`` (detections), ``'gt'`` or ``'given'``.
        boxes (np.ndarray): (K, 4) explained boxes, input frame.
        labels (np.ndarray): (K,) their labels.
        scores (np.ndarray, optional): (K,) detection scores (None for GT).
        heatmaps (np.ndarray): (K, h, w) in [0, 1], cropped to the picture.
        valid (np.ndarray): (K,) False where the detector does not find the
            box (no heatmap, see :class:`cxr_mm.cam.CAMResult`).
        target_scores (np.ndarray): (K,) box targets on the unablated image.
        dets (dict): every detection (``boxes``, ``labels``, ``scores``,
            sorted by score); empty arrays when detection was not run.
        context (np.ndarray): indices into ``dets`` drawn as context.
        index (np.ndarray, optional): (K,) indices into ``dets`` of the
            explained boxes (``'pred'`` only).
        stats (dict): the CAM's cost figures.
    """

    item: CAMInput
    box_source: str
    boxes: np.ndarray
    labels: np.ndarray
    scores: Optional[np.ndarray]
    heatmaps: np.ndarray
    valid: np.ndarray
    target_scores: np.ndarray
    dets: Dict[str, np.ndarray]
    context: np.ndarray
    index: Optional[np.ndarray] = None
    stats: Dict[str, float] = field(default_factory=dict)


def _no_dets() -> Dict[str, np.ndarray]:
    return dict(
        boxes=np.zeros((0, 4), np.float32),
        labels=np.zeros(0, np.int64),
        scores=np.zeros(0, np.float32),
    )


def explain_item(
    cam,
    item: CAMInput,
    box_source: str = 'pred',
    topk: Optional[int] = None,
    score_thr: float = 0.0,
    box_index: Optional[Sequence[int]] = None,
    boxes: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    scores: Optional[np.ndarray] = None,
    detect: bool = True,
) -> Explanation:
    """Detect, choose the boxes and compute their heatmaps.

    Args:
        cam (DetCAM): the CAM of the detector.
        item (CAMInput): the preprocessed image.
        box_source (str): ``'pred'``: detections with ``score >= score_thr``,
            at most ``topk`` (or ``box_index``, see :func:`select_boxes`);
            ``'gt'``: the first ``topk`` ground-truth boxes; ``'given'``:
            ``boxes``/``labels``/``scores`` (input frame).
        detect (bool): run the detector (always for ``'pred'``); the
            detections are the context drawn on the overlays.
    """
    if box_source not in BOX_SOURCES:
        raise ValueError(f'box_source must be one of {BOX_SOURCES}, got {box_source!r}')
    dets = cam.detect(item.inputs, item.data_sample) if detect or box_source == 'pred' else None
    dets = dets if dets is not None else _no_dets()
    index = None
    if box_source == 'pred':
        index = select_boxes(dets, topk, score_thr, box_index)
        boxes, labels, scores = dets['boxes'][index], dets['labels'][index], dets['scores'][index]
        context = index
    else:
        if box_source == 'gt':
            boxes, labels, scores = item.gt_boxes[:topk], item.gt_labels[:topk], None
        elif boxes is None or labels is None:
            raise ValueError("box_source='given' needs boxes and labels")
        context = np.arange(min(len(dets['scores']), topk if topk is not None else 0))
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    res = cam(item.inputs, item.data_sample, boxes, labels)
    h, w = item.image.shape[:2]
    return Explanation(
        item=item,
        box_source=box_source,
        boxes=boxes,
        labels=labels,
        scores=None if scores is None else np.asarray(scores, np.float32).reshape(-1),
        heatmaps=res.cams[:, :h, :w],
        valid=res.valid,
        target_scores=res.target_scores,
        dets=dets,
        context=np.asarray(context, np.int64),
        index=index,
        stats=res.stats,
    )


def score_explanation(expl: Explanation, heatmap_thr: float = 0.5) -> List[Optional[dict]]:
    """Localisation scores per box, with its ``label``.

    A ground-truth box is scored against itself; a detection against the
    ground-truth boxes of its class (None when the image has none). A box
    the detector does not find has an all-zero heatmap: None scores.
    """
    item = expl.item
    records = []
    for k, label in enumerate(expl.labels):
        if expl.box_source == 'gt':
            ref = expl.boxes[k : k + 1]
        else:
            ref = item.gt_boxes[item.gt_labels == label]
        if not len(ref):
            records.append(None)
            continue
        rec = localisation_scores(expl.heatmaps[k], ref, heatmap_thr)
        rec['label'] = int(label)
        records.append(rec)
    return records


def box_caption(expl: Explanation, k: int, class_names: Optional[Sequence[str]]) -> str:
    """``class score``, and a warning when the box has no heatmap."""
    text = label_name(expl.labels[k], class_names)
    if expl.scores is not None:
        text += f' {float(expl.scores[k]):.2f}'
    if not expl.valid[k]:
        text += ' (not detected: no heatmap)'
    return text


def render_explanation(
    expl: Explanation,
    k: int,
    class_names: Optional[Sequence[str]] = None,
    norm_in_box: bool = False,
) -> np.ndarray:
    """Overlay of box ``k``: its heatmap, the ground truth, the context
    detections and the explained box in white (RGB uint8, input frame)."""
    from cxr_mm.visualization.cam_overlay import render_overlay

    heat = expl.heatmaps[k]
    if norm_in_box:
        heat = renormalize_in_box(heat, expl.boxes[k])
    context = expl.context
    if expl.index is not None:  # the focal detection is drawn as the focal box
        context = context[context != expl.index[k]]
    scores = expl.dets['scores'][context]
    return render_overlay(
        expl.item.image,
        heat,
        expl.item.gt_boxes,
        expl.item.gt_labels,
        expl.dets['boxes'][context],
        expl.dets['labels'][context],
        None if np.isnan(scores).all() else scores,
        focal_box=expl.boxes[k],
        focal_text=box_caption(expl, k, class_names),
        class_names=class_names,
    )


def overlay_name(stem: str, tag: str, k: int, label: int, class_names) -> str:
    """File name of an overlay: ``{stem}_{tag}{k}_{class}.png``."""
    return f'{stem}_{tag}{k}_{safe_filename(label_name(label, class_names))}.png'


#: CAMHook arguments that set what a CAM costs and means (vis_cam's
#: ``--hook-settings`` and ``infer.py --cam`` take them from the config).
CAM_COST_KEYS = (
    'method',
    'target_layer',
    'ratio_channels_to_ablate',
    'batch_size',
    'rpn_max_per_img',
    'iou_thr',
    'exact',
)


def cam_settings_from_config(cfg) -> Dict[str, object]:
    """The ``DetCAM`` arguments of the config's first ``CAMHook``.

    Arguments the hook entry leaves out take the hook's defaults, so a tool
    run with these settings costs and means what the hook's CAMs do.
    """
    import inspect

    from cxr_mm.engine.hooks import CAMHook

    hooks = [h for h in (cfg.get('custom_hooks') or []) if h.get('type') in ('CAMHook', CAMHook)]
    if not hooks:
        raise KeyError('the config has no CAMHook in custom_hooks')
    params = inspect.signature(CAMHook.__init__).parameters
    return {k: hooks[0].get(k, params[k].default) for k in CAM_COST_KEYS}


@dataclass
class DetectionExplanation:
    """Per-box CAMs of given detections, for ``tools/infer.py --cam``.

    Attributes:
        heatmaps (np.ndarray): (K, h, w) in [0, 1], input frame (the
            network-input picture ``image``), one per explained box.
        boxes (np.ndarray): (K, 4) explained boxes, input frame.
        boxes_original (np.ndarray): (K, 4) the same in original pixels.
        labels, scores (np.ndarray): (K,) of the explained boxes.
        index (np.ndarray): (K,) their indices in the boxes given.
        valid (np.ndarray): (K,) False where the detector in CAM mode does
            not find the box (all-zero heatmap).
        image (np.ndarray): (h, w, 3) uint8 RGB network-input picture.
        overlays (list): K overlay pictures (h, w, 3), one per box.
        overlay (np.ndarray): the K overlays side by side, one picture
            (the image itself when K = 0).
        stats (dict): the CAM's cost figures.
    """

    heatmaps: np.ndarray
    boxes: np.ndarray
    boxes_original: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    index: np.ndarray
    valid: np.ndarray
    image: np.ndarray
    overlays: List[np.ndarray]
    overlay: np.ndarray
    stats: Dict[str, float]


def explain_detections(
    model: nn.Module,
    data,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: Optional[np.ndarray] = None,
    topk: Optional[int] = 3,
    boxes_frame: str = 'original',
    class_names: Optional[Sequence[str]] = None,
    norm_in_box: bool = False,
    **cam_kwargs,
) -> DetectionExplanation:
    """One CAM per detection of one image, and an overlay picture.

    Args:
        model (nn.Module): the mmdet two-stage detector (any mode; it is
            left in the mode it was found in).
        data (dict | CAMInput): the test pipeline's output for the image,
            ``{'inputs': (C, H, W) tensor, 'data_samples': DetDataSample}``
            (normalised here by the model's data preprocessor), or a
            :class:`CAMInput` from :mod:`cxr_mm.cam.inputs`.
        boxes (np.ndarray): (N, 4) detections to explain, ``[x1, y1, x2,
            y2]``; in original image pixels (``pred_instances.bboxes`` with
            ``rescale=True``, what ``tools/infer.py`` writes) when
            ``boxes_frame='original'``, else in the network-input frame.
        labels (np.ndarray): (N,) their labels.
        scores (np.ndarray, optional): (N,) their scores; the ``topk``
            highest are explained (else the first ``topk``).
        topk (int, optional): at most this many boxes (None: all); all of
            them share the ablated forwards, so more boxes cost little.
        class_names (Sequence[str], optional): for the captions.
        norm_in_box (bool): draw each heatmap renormalised in its box.
        **cam_kwargs: :class:`cxr_mm.cam.DetCAM` arguments (``method``,
            ``target_layer``, ``ratio_channels_to_ablate``, ``batch_size``,
            ``rpn_max_per_img``, ``exact``, ``iou_thr``), e.g.
            ``cam_settings_from_config(cfg)`` for the hook's settings.

    Returns:
        DetectionExplanation: per-box heatmaps and overlays, one mosaic.
    """
    from cxr_mm.visualization.cam_overlay import mosaic

    from .det_cam import DetCAM
    from .inputs import preprocess

    if boxes_frame not in ('original', 'input'):
        raise ValueError(f"boxes_frame must be 'original' or 'input', got {boxes_frame!r}")
    item = data if isinstance(data, CAMInput) else preprocess(model, data)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(boxes) != len(labels) or (scores is not None and len(scores) != len(boxes)):
        raise ValueError('boxes, labels and scores differ in length')
    order = np.arange(len(boxes))
    if scores is not None:
        scores = np.asarray(scores, np.float32).reshape(-1)
        order = np.argsort(-scores, kind='stable')
    index = order[:topk]
    sx, sy = item.data_sample.metainfo.get('scale_factor', (1.0, 1.0))[:2]
    scale = np.asarray([sx, sy, sx, sy], np.float32)
    chosen = boxes[index]
    in_input = chosen * scale if boxes_frame == 'original' else chosen
    cam = DetCAM(model, **cam_kwargs)
    expl = explain_item(
        cam,
        item,
        'given',
        topk=0,
        boxes=in_input,
        labels=labels[index],
        scores=None if scores is None else scores[index],
        detect=False,
    )
    # The other explained boxes are drawn as context on each overlay.
    expl.dets = dict(
        boxes=in_input,
        labels=expl.labels,
        scores=expl.scores if expl.scores is not None else np.full(len(index), np.nan),
    )
    expl.index = expl.context = np.arange(len(index))
    overlays = [render_explanation(expl, k, class_names, norm_in_box) for k in range(len(index))]
    return DetectionExplanation(
        heatmaps=expl.heatmaps,
        boxes=expl.boxes,
        boxes_original=expl.boxes / scale,
        labels=expl.labels,
        scores=expl.scores if expl.scores is not None else np.full(len(index), np.nan),
        index=index,
        valid=expl.valid,
        image=item.image,
        overlays=overlays,
        overlay=mosaic(overlays) if overlays else item.image.copy(),
        stats=expl.stats,
    )
