"""VinDr-CXR detection metric: VOC mAP50, Kaggle VinBigData mAP40, COCO mAP, per class.

One pass over the predictions gives the three numbers papers on VinDr-CXR report, so a
run is never evaluated twice with subtly different matching rules (the math lives in
``cxr_mm.evaluation.functional``, the plots in ``cxr_mm.visualization.eval_plots``):

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

import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from ...core.classes import NO_FINDING
from ..functional import NO_FINDING_RULE, coco_map, mean_ap, voc_ap_per_class, with_no_finding


def class_slug(name: str) -> str:
    """Metric-key-safe class name: 'Nodule/Mass' -> 'nodule_mass'."""
    return re.sub(r'[^0-9a-z]+', '_', name.lower()).strip('_')


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
        k_anns, k_dets = with_no_finding(anns, [p['scores'] for p in preds], dets)
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
                rule=NO_FINDING_RULE,
            ),
        )
        with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        with open(osp.join(out_dir, 'table.txt'), 'w') as f:
            f.write(table + '\n')
        if self.plot:
            from ...visualization.eval_plots import plot_ap_bars, plot_pr_curves

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


def _split_by_class(pred: dict, num_classes: int) -> List[np.ndarray]:
    boxes = np.hstack([pred['bboxes'], pred['scores'][:, None]]).astype(np.float32)
    return [boxes[pred['labels'] == c] for c in range(num_classes)]


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _fmt(v) -> str:
    return '' if v is None or np.isnan(v) else f'{v:.3f}'
