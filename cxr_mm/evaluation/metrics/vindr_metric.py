"""VinDr-CXR detection metric: VOC mAP50, Kaggle VinBigData mAP40, COCO mAP, per class.

One pass over the predictions gives the three numbers papers on VinDr-CXR report, so a
run is never evaluated twice with subtly different matching rules:

* ``mAP50`` - PASCAL VOC 2012 style: area under the full (all-points interpolated)
  precision-recall curve at IoU 0.5, averaged over the classes that have ground truth.
  Same matching as mmdet's ``VOCMetric(eval_mode='area')`` (built from its
  ``tpfp_default`` and ``average_precision``).
* ``mAP40_kaggle`` - the VinBigData Chest X-ray Abnormalities Detection (Kaggle 2021)
  score: the same VOC area AP at IoU 0.4 over 15 classes, the 14 lesions plus
  ``No finding``. Kaggle scores ``No finding`` as one more detection class whose ground
  truth is the box ``[0, 0, 1, 1]`` on every image without a lesion, and every
  submission predicts that box with a score. A detector has no such output, so we
  use the detector-only rule: **no-finding score = 1 - max detection score of the
  image** (1.0 when the detector returns nothing). ``AP40_no_finding`` is therefore the
  image-level AP of "this radiograph is normal", ranked by the detector's confidence.
* ``coco_mAP`` (IoU .50:.05:.95), ``coco_mAP50``, ``coco_mAP75`` - pycocotools
  ``COCOeval`` on the same predictions (boxes converted as mmdet's ``CocoMetric`` does).

Per-class AP50 is returned as ``AP50_<class>`` (lower case, non-alphanumerics -> ``_``).
A table of every class is logged, and PR curves (IoU 0.5), a per-class AP bar chart and
``metrics.json`` are written to ``out_dir`` (default: ``<run log dir>/vindr_eval``).
"""

import contextlib
import io
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.evaluation.functional import average_precision
from mmdet.evaluation.functional.mean_ap import tpfp_default
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from ...core.classes import NO_FINDING

# Kaggle's full-image box for the 'No finding' class.
NO_FINDING_BOX = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)


def class_slug(name: str) -> str:
    """Metric-key-safe class name: 'Nodule/Mass' -> 'nodule_mass'."""
    return re.sub(r'[^0-9a-z]+', '_', name.lower()).strip('_')


def voc_ap_per_class(
    anns: Sequence[dict],
    dets: Sequence[List[np.ndarray]],
    num_classes: int,
    iou_thr: float,
    use_legacy_coordinate: bool = False,
) -> List[dict]:
    """VOC 'area' AP per class, as mmdet's ``eval_map`` but in-process.

    Args:
        anns (Sequence[dict]): per image ``bboxes`` (n, 4), ``labels`` (n,),
            ``bboxes_ignore`` (k, 4), ``labels_ignore`` (k,).
        dets (Sequence[list[np.ndarray]]): per image, per class (m, 5) boxes + score.
        num_classes (int): number of classes.
        iou_thr (float): IoU for a true positive.
        use_legacy_coordinate (bool): mmdet 1.x ``+1`` box size (VOC pixel indices).

    Returns:
        list[dict]: ``num_gts``, ``num_dets``, ``recall``, ``precision``, ``ap``.
    """
    results = []
    for c in range(num_classes):
        tps, fps, scores = [], [], []
        num_gts = 0
        for ann, img_dets in zip(anns, dets):
            cls_dets = img_dets[c]
            gt = ann['bboxes'][ann['labels'] == c]
            gt_ignore = ann['bboxes_ignore'][ann['labels_ignore'] == c]
            tp, fp = tpfp_default(cls_dets, gt, gt_ignore, iou_thr, None, use_legacy_coordinate)
            tps.append(tp[0])
            fps.append(fp[0])
            scores.append(cls_dets[:, -1])
            num_gts += gt.shape[0]
        scores = np.concatenate(scores)
        # The same (unstable) sort as eval_map, so ties break identically.
        order = np.argsort(-scores)
        tp = np.cumsum(np.concatenate(tps)[order])
        fp = np.cumsum(np.concatenate(fps)[order])
        eps = np.finfo(np.float32).eps
        recall = tp / max(num_gts, eps)
        precision = tp / np.maximum(tp + fp, eps)
        results.append(
            dict(
                num_gts=num_gts,
                num_dets=len(scores),
                recall=recall,
                precision=precision,
                ap=float(average_precision(recall, precision, 'area')),
            )
        )
    return results


def mean_ap(per_class: Sequence[dict]) -> float:
    """Mean AP over the classes that have ground truth (VOC devkit rule)."""
    aps = [r['ap'] for r in per_class if r['num_gts'] > 0]
    return float(np.mean(aps)) if aps else 0.0


@METRICS.register_module()
class VinDrMetric(BaseMetric):
    """VOC mAP50, Kaggle VinBigData mAP40 and COCO mAP for VinDr-CXR detection.

    VinDr-CXR: Nguyen et al., "VinDr-CXR: An open dataset of chest X-rays with
    radiologist's annotations", Scientific Data 2022. Kaggle metric: "VinBigData Chest
    X-ray Abnormalities Detection" (2021), PASCAL VOC 2010 mAP at IoU 0.4 with
    ``No finding`` as a 15th class (see the module docstring for its scoring rule).

    Ground truth is read from ``gt_instances`` / ``ignored_instances``, so the test
    pipeline must run ``LoadAnnotations`` after ``Resize`` (boxes stay in original pixel
    coordinates, like the predictions).

    Args:
        iou_thr (float): IoU of the VOC mAP. Defaults to 0.5.
        kaggle_iou_thr (float): IoU of the Kaggle mAP. Defaults to 0.4.
        coco (bool): also compute COCO mAP with pycocotools. Defaults to True.
        use_legacy_coordinate (bool): ``+1`` box sizes as mmdet's ``VOCMetric`` (made for
            VOC's integer pixel indices). VinDr boxes are continuous, so False.
        plot (bool): write PR curves and the AP bar chart. Defaults to True.
        out_dir (str, optional): where plots and ``metrics.json`` go; None = the
            ``vindr_eval`` folder of the current run's log dir (nothing is written when
            there is no run log, e.g. in a bare Python session).
        collect_device (str): 'cpu' or 'gpu' for collecting results across ranks.
        prefix (str, optional): metric name prefix. Defaults to 'vindr'.
    """

    default_prefix: Optional[str] = 'vindr'

    def __init__(
        self,
        iou_thr: float = 0.5,
        kaggle_iou_thr: float = 0.4,
        coco: bool = True,
        use_legacy_coordinate: bool = False,
        plot: bool = True,
        out_dir: Optional[str] = None,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thr = iou_thr
        self.kaggle_iou_thr = kaggle_iou_thr
        self.coco = coco
        self.use_legacy_coordinate = use_legacy_coordinate
        self.plot = plot
        self.out_dir = out_dir

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep ground truth and predictions of each image as numpy arrays."""
        for sample in data_samples:
            gt = sample['gt_instances']
            ignored = sample.get('ignored_instances', {})
            ann = dict(
                height=int(sample['ori_shape'][0]),
                width=int(sample['ori_shape'][1]),
                bboxes=_np(gt['bboxes']).reshape(-1, 4).astype(np.float32),
                labels=_np(gt['labels']).astype(np.int64),
                bboxes_ignore=_np(ignored.get('bboxes', np.zeros((0, 4))))
                .reshape(-1, 4)
                .astype(np.float32),
                labels_ignore=_np(ignored.get('labels', np.zeros(0))).astype(np.int64),
            )
            pred = sample['pred_instances']
            self.results.append(
                (
                    ann,
                    dict(
                        bboxes=_np(pred['bboxes']).reshape(-1, 4).astype(np.float32),
                        scores=_np(pred['scores']).astype(np.float32),
                        labels=_np(pred['labels']).astype(np.int64),
                    ),
                )
            )

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """VOC, Kaggle and COCO mAP plus per-class AP50 (see module docstring)."""
        classes = self.dataset_meta.get('classes') if self.dataset_meta else None
        if not classes:
            raise ValueError(
                'VinDrMetric needs dataset_meta["classes"] '
                '(set by the dataset, e.g. VinDrCXRDataset).'
            )
        num_classes = len(classes)
        anns, preds = zip(*results) if results else ((), ())
        bad = [
            p['labels'].max()
            for p in preds
            if p['labels'].size and p['labels'].max() >= num_classes
        ]
        if bad:
            raise ValueError(
                f'prediction label {max(bad)} >= number of classes '
                f'{num_classes}: the model and dataset disagree.'
            )
        dets = [_split_by_class(p, num_classes) for p in preds]

        voc = voc_ap_per_class(anns, dets, num_classes, self.iou_thr, self.use_legacy_coordinate)
        k_anns, k_dets = self._with_no_finding(anns, preds, dets)
        kaggle = voc_ap_per_class(
            k_anns, k_dets, num_classes + 1, self.kaggle_iou_thr, self.use_legacy_coordinate
        )

        metrics = OrderedDict()
        metrics['mAP50'] = mean_ap(voc)
        metrics['mAP40_kaggle'] = mean_ap(kaggle)
        metrics['AP40_no_finding'] = kaggle[-1]['ap']
        coco_per_class = [float('nan')] * num_classes
        if self.coco:
            coco_stats, coco_per_class = coco_map(anns, preds, num_classes)
            metrics.update(coco_stats)
        for name, res in zip(classes, voc):
            metrics[f'AP50_{class_slug(name)}'] = res['ap']

        table = self._table(classes, voc, kaggle, coco_per_class, metrics)
        print_log('\n' + table, logger='current')
        out_dir = self._resolve_out_dir()
        if out_dir is not None:
            self._write_outputs(out_dir, classes, voc, kaggle, coco_per_class, metrics, table)
        return metrics

    def _with_no_finding(self, anns, preds, dets) -> Tuple[list, list]:
        """Add Kaggle's 15th class: GT box on normal images, a scored box on all."""
        k_anns, k_dets = [], []
        for ann, pred, img_dets in zip(anns, preds, dets):
            normal = ann['labels'].size == 0 and ann['labels_ignore'].size == 0
            nf_label = len(img_dets)
            k_ann = dict(ann)
            if normal:
                k_ann['bboxes'] = NO_FINDING_BOX[None].copy()
                k_ann['labels'] = np.array([nf_label], dtype=np.int64)
            k_anns.append(k_ann)
            score = 1.0 - float(pred['scores'].max()) if pred['scores'].size else 1.0
            nf_det = np.append(NO_FINDING_BOX, np.float32(score))[None]
            k_dets.append(img_dets + [nf_det.astype(np.float32)])
        return k_anns, k_dets

    def _table(self, classes, voc, kaggle, coco_per_class, metrics) -> str:
        from terminaltables import AsciiTable

        rows = [
            [
                'class',
                'gts',
                'dets',
                f'recall@{self.iou_thr:g}',
                f'AP{int(self.iou_thr * 100)}',
                f'AP{int(self.kaggle_iou_thr * 100)}',
                'COCO AP',
            ]
        ]
        for name, v, k, c in zip(classes, voc, kaggle, coco_per_class):
            recall = v['recall'][-1] if v['recall'].size else 0.0
            rows.append(
                [
                    name,
                    v['num_gts'],
                    v['num_dets'],
                    f'{recall:.3f}',
                    f'{v["ap"]:.3f}',
                    f'{k["ap"]:.3f}',
                    _fmt(c),
                ]
            )
        nf = kaggle[-1]
        rows.append(
            [f'{NO_FINDING} (Kaggle)', nf['num_gts'], nf['num_dets'], '', '', f'{nf["ap"]:.3f}', '']
        )
        rows.append(
            [
                'mean',
                '',
                '',
                '',
                f'{metrics["mAP50"]:.3f}',
                f'{metrics["mAP40_kaggle"]:.3f}',
                _fmt(metrics.get('coco_mAP')),
            ]
        )
        table = AsciiTable(rows)
        table.inner_footing_row_border = True
        table.title = 'VinDr-CXR detection'
        return table.table

    def _resolve_out_dir(self) -> Optional[str]:
        if self.out_dir is not None:
            return self.out_dir
        log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
        if not log_file:
            return None
        return osp.join(osp.dirname(log_file), 'vindr_eval')

    def _write_outputs(self, out_dir, classes, voc, kaggle, coco_per_class, metrics, table) -> None:
        os.makedirs(out_dir, exist_ok=True)
        summary = dict(
            metrics=dict(metrics),
            per_class=[
                dict(
                    name=n,
                    num_gts=int(v['num_gts']),
                    num_dets=int(v['num_dets']),
                    ap50=v['ap'],
                    ap40=k['ap'],
                    coco_ap=None if np.isnan(c) else c,
                )
                for n, v, k, c in zip(classes, voc, kaggle, coco_per_class)
            ],
            no_finding=dict(
                num_gts=int(kaggle[-1]['num_gts']),
                ap40=kaggle[-1]['ap'],
                rule='score = 1 - max detection score of the image',
            ),
        )
        with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        with open(osp.join(out_dir, 'table.txt'), 'w') as f:
            f.write(table + '\n')
        if self.plot:
            plot_pr_curves(osp.join(out_dir, 'pr_curves.png'), classes, voc, self.iou_thr)
            plot_ap_bars(
                osp.join(out_dir, 'per_class_ap.png'),
                classes,
                voc,
                kaggle,
                self.iou_thr,
                self.kaggle_iou_thr,
            )
        print_log(f'VinDrMetric: table, metrics.json and plots in {out_dir}', logger='current')


def coco_map(
    anns: Sequence[dict], preds: Sequence[dict], num_classes: int
) -> Tuple[Dict[str, float], List[float]]:
    """COCO mAP with pycocotools on in-memory json (boxes as mmdet's CocoMetric)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, gts, dts = [], [], []
    for idx, (ann, pred) in enumerate(zip(anns, preds)):
        images.append(dict(id=idx, width=ann['width'], height=ann['height']))
        for boxes, labels, crowd in (
            (ann['bboxes'], ann['labels'], 0),
            (ann['bboxes_ignore'], ann['labels_ignore'], 1),
        ):
            for box, label in zip(boxes, labels):
                xywh = _xywh(box)
                gts.append(
                    dict(
                        id=len(gts) + 1,
                        image_id=idx,
                        category_id=int(label),
                        bbox=xywh,
                        area=xywh[2] * xywh[3],
                        iscrowd=crowd,
                    )
                )
        for box, score, label in zip(pred['bboxes'], pred['scores'], pred['labels']):
            dts.append(
                dict(image_id=idx, category_id=int(label), bbox=_xywh(box), score=float(score))
            )
    keys = ['coco_mAP', 'coco_mAP50', 'coco_mAP75']
    if not gts or not dts:
        return dict.fromkeys(keys, 0.0), [0.0] * num_classes

    coco_gt = COCO()
    coco_gt.dataset = dict(
        images=images, annotations=gts, categories=[dict(id=i) for i in range(num_classes)]
    )
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress prints
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dts)
        coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
        coco_eval.evaluate()
        coco_eval.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.summarize()
    print_log('pycocotools COCOeval (bbox):\n' + summary.getvalue(), logger='current')
    stats = dict(zip(keys, map(float, coco_eval.stats[:3])))
    # precision: [IoU, recall, class, area, maxDets]; area 'all', maxDets 100.
    precision = coco_eval.eval['precision']
    per_class = []
    for c in range(num_classes):
        p = precision[:, :, c, 0, -1]
        p = p[p > -1]
        per_class.append(float(p.mean()) if p.size else float('nan'))
    return stats, per_class


def plot_pr_curves(
    path: str, classes: Sequence[str], per_class: Sequence[dict], iou_thr: float
) -> None:
    """One precision-recall panel per class, AP in the title."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    cols = 4
    rows = int(np.ceil(len(classes) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, name, res in zip(axes.flat, classes, per_class):
        if res['recall'].size:
            ax.plot(np.r_[0, res['recall']], np.r_[1, res['precision']], lw=1.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(
            f'{name}\nAP{int(iou_thr * 100)}={res["ap"]:.3f} (gts={res["num_gts"]})', fontsize=9
        )
        ax.set_xlabel('recall', fontsize=8)
        ax.set_ylabel('precision', fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(classes) :]:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_ap_bars(
    path: str,
    classes: Sequence[str],
    voc: Sequence[dict],
    kaggle: Sequence[dict],
    iou_thr: float,
    kaggle_iou_thr: float,
) -> None:
    """Horizontal bars of per-class AP at both IoUs (and Kaggle's No finding)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(classes) + [NO_FINDING]
    ap_voc = [r['ap'] for r in voc] + [np.nan]
    ap_kaggle = [r['ap'] for r in kaggle]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    ax.barh(y - 0.2, np.nan_to_num(ap_voc), 0.4, label=f'AP{int(iou_thr * 100)}')
    ax.barh(y + 0.2, ap_kaggle, 0.4, label=f'AP{int(kaggle_iou_thr * 100)} (Kaggle)')
    ax.set_yticks(y, [f'{n} ({r["num_gts"]})' for n, r in zip(names, kaggle)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel('average precision (ground-truth boxes in brackets)')
    ax.legend(loc='lower right')
    ax.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _split_by_class(pred: dict, num_classes: int) -> List[np.ndarray]:
    boxes = np.hstack([pred['bboxes'], pred['scores'][:, None]]).astype(np.float32)
    return [boxes[pred['labels'] == c] for c in range(num_classes)]


def _xywh(box) -> List[float]:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return [x1, y1, x2 - x1, y2 - y1]


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _fmt(v) -> str:
    return '' if v is None or np.isnan(v) else f'{v:.3f}'
