# Copyright (c) cxr-mm contributors. All rights reserved.
"""Resumable detector inference over files, folders and lists of radiographs.

Writes into ``out_dir``:

* ``predictions/{key}.json``: one record per image (boxes in the file's
  pixels, class names, scores, image size, SOP Instance UID and pixel spacing
  of a DICOM); an image whose record exists is skipped on the next run;
* ``predictions.csv``: one row per box of every image (an image without boxes
  has one row with empty box fields, so no image is silently absent);
* ``submission.csv`` (``kaggle=True``): Kaggle VinBigData ``image_id,
  PredictionString`` with the metric's ``No finding`` rule;
* ``failures.csv``: every file that could not be read, with the reason;
* ``overlays/`` (``overlay`` or ``cam_topk``): pictures of the boxes and CAMs.
"""

import csv
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..core.classes import DICOM_SUFFIXES, NO_FINDING, NO_FINDING_ID
from .inferencer import CXRInferencer, Prediction

IMAGE_SUFFIXES = DICOM_SUFFIXES + ('.png', '.jpg', '.jpeg')
CSV_COLUMNS = (
    'image_id',
    'file',
    'width',
    'height',
    'class_id',
    'class_name',
    'score',
    'x_min',
    'y_min',
    'x_max',
    'y_max',
)


def collect_inputs(inputs: Sequence[str]) -> List[str]:
    """Image paths from files, folders (recursive) and ``.txt`` lists.

    A list holds one path a line (relative to the list's folder; blank lines
    and ``#`` comments ignored). Missing paths are kept: they are reported as
    failures like any unreadable file. Duplicates are dropped.
    """
    out: List[str] = []
    for item in inputs:
        item = os.fspath(item)
        if osp.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                out += [
                    osp.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_SUFFIXES)
                ]
        elif item.lower().endswith('.txt'):
            base = osp.dirname(osp.abspath(item))
            with open(item) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith('#'):
                        out.append(line if osp.isabs(line) else osp.join(base, line))
        else:
            out.append(item)
    seen, unique = set(), []
    for p in out:
        a = osp.abspath(p)
        if a not in seen:
            seen.add(a)
            unique.append(a)
    return unique


def record_keys(paths: Sequence[str]) -> Dict[str, str]:
    """File stem per path (the VinDr image_id); a stem shared by two paths
    gets a short hash of the path appended."""
    stems: Dict[str, int] = {}
    for p in paths:
        s = osp.splitext(osp.basename(p))[0]
        stems[s] = stems.get(s, 0) + 1
    keys = {}
    for p in paths:
        s = osp.splitext(osp.basename(p))[0]
        if stems[s] > 1:
            s = f'{s}_{hashlib.sha1(p.encode()).hexdigest()[:8]}'
        keys[p] = s
    return keys


def prediction_record(pred: Prediction, key: str, classes: Sequence[str]) -> dict:
    """JSON-ready record of one image (boxes in file pixels)."""
    dets = [
        dict(
            class_id=int(lab),
            class_name=str(classes[int(lab)]),
            score=float(score),
            box=[float(v) for v in box],
        )
        for box, lab, score in zip(pred.boxes, pred.labels, pred.scores)
    ]
    return dict(
        image_id=key,
        file=pred.path,
        width=pred.width,
        height=pred.height,
        sop_instance_uid=pred.sop_instance_uid,
        pixel_spacing=list(pred.pixel_spacing) if pred.pixel_spacing else None,
        detections=dets,
    )


def kaggle_prediction_string(record: dict) -> str:
    """VinBigData ``PredictionString``: ``class score x1 y1 x2 y2`` per box,
    then ``14 s 0 0 1 1`` with the score the metric gives ``No finding``
    (an image without boxes gets ``14 1 0 0 1 1``)."""
    from ..evaluation.functional.kaggle import NO_FINDING_BOX, no_finding_score

    parts = []
    for d in record['detections']:
        x1, y1, x2, y2 = d['box']
        parts.append(f'{d["class_id"]} {d["score"]:.6g} {x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}')
    nf = no_finding_score(np.array([d['score'] for d in record['detections']]))
    box = ' '.join(f'{v:g}' for v in NO_FINDING_BOX)
    parts.append(f'{NO_FINDING_ID} {nf:.6g} {box}')
    return ' '.join(parts)


def _write_json(path: str, obj) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)  # an interrupted run never leaves half a record


def _done(path: str, file: str) -> bool:
    try:
        with open(path) as f:
            return json.load(f).get('file') == file
    except (OSError, ValueError):
        return False


def run_inference(
    config: str,
    checkpoint: str,
    inputs: Sequence[str],
    out_dir: str,
    batch_size: int = 1,
    device: Optional[str] = None,
    score_thr: float = 0.0,
    kaggle: bool = False,
    overlay: bool = False,
    cam_topk: Optional[int] = None,
    cam_ratio_channels: Optional[float] = None,
    draw_thr: float = 0.3,
    resume: bool = True,
    show_progress: bool = True,
) -> dict:
    """Predict every input image, write the outputs (module docstring).

    Returns a summary: ``images``, ``predicted``, ``skipped`` (done by an
    earlier run), ``failed``, ``failures`` (file, error) and output paths.
    """
    files = collect_inputs(inputs)
    keys = record_keys(files)
    pred_dir = osp.join(out_dir, 'predictions')
    os.makedirs(pred_dir, exist_ok=True)
    rec_path = {p: osp.join(pred_dir, f'{keys[p]}.json') for p in files}
    todo = [p for p in files if not (resume and _done(rec_path[p], p))]
    skipped = len(files) - len(todo)

    infer = CXRInferencer(config, checkpoint, device=device, show_progress=show_progress)
    classes = infer.model.dataset_meta['classes']
    if kaggle and len(classes) != NO_FINDING_ID:  # Kaggle ids: 14 lesions, 14 = No finding
        raise ValueError(
            f'--kaggle needs the 14 VinDr classes (id {NO_FINDING_ID} = {NO_FINDING!r}); '
            f'the model has {len(classes)}'
        )
    vis_dir = osp.join(out_dir, 'overlays')
    settings = None
    if overlay or cam_topk:
        os.makedirs(vis_dir, exist_ok=True)
        from .overlays import cam_settings

        settings = cam_settings(infer.cfg, cam_ratio_channels)
    failures, predicted = [], 0
    for pred in infer.predict_files(todo, batch_size) if todo else []:
        if pred.error is None and (overlay or cam_topk):
            try:
                from .overlays import draw_overlays

                draw_overlays(
                    infer.model,
                    infer.pipeline,
                    pred,
                    classes,
                    vis_dir,
                    keys[pred.path],
                    draw_thr,
                    cam_topk,
                    settings,
                )
            except Exception as e:  # the prediction stands; the picture failed
                pred.error = f'overlay: {type(e).__name__}: {e}'
        if pred.error is not None:
            failures.append((pred.path, pred.error))
            continue
        keep = pred.scores >= score_thr
        pred.boxes, pred.labels, pred.scores = (
            pred.boxes[keep],
            pred.labels[keep],
            pred.scores[keep],
        )
        _write_json(rec_path[pred.path], prediction_record(pred, keys[pred.path], classes))
        predicted += 1

    records = []
    for p in files:
        if osp.isfile(rec_path[p]) and _done(rec_path[p], p):
            with open(rec_path[p]) as f:
                records.append(json.load(f))
    csv_path = osp.join(out_dir, 'predictions.csv')
    with open(csv_path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(CSV_COLUMNS)
        for r in records:
            head = [r['image_id'], r['file'], r['width'], r['height']]
            if not r['detections']:
                w.writerow(head + [''] * 7)
            for d in r['detections']:
                w.writerow(head + [d['class_id'], d['class_name'], f'{d["score"]:.6g}', *d['box']])
    summary = dict(
        images=len(files),
        predicted=predicted,
        skipped=skipped,
        failed=len(failures),
        failures=failures,
        csv=csv_path,
    )
    if kaggle:
        sub = osp.join(out_dir, 'submission.csv')
        with open(sub, 'w', newline='') as f:
            w = csv.writer(f, lineterminator='\n')
            w.writerow(['image_id', 'PredictionString'])
            for r in records:
                w.writerow([r['image_id'], kaggle_prediction_string(r)])
        summary['submission'] = sub
    fail_path = osp.join(out_dir, 'failures.csv')
    with open(fail_path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(['file', 'error'])
        w.writerows(failures)
    summary['failures_csv'] = fail_path
    return summary


__all__ = [
    'collect_inputs',
    'record_keys',
    'prediction_record',
    'kaggle_prediction_string',
    'run_inference',
]
