"""VinDr-CXR detection metric: VOC mAP50, Kaggle mAP40, FROC/CPM, AUROC, COCO mAP.

One pass over the predictions gives the numbers papers on VinDr-CXR report, so a run is
never evaluated twice with subtly different matching rules (the math lives in
``cxr_mm.evaluation.functional``, the plots in ``cxr_mm.visualization.eval_plots``):

* ``mAP50`` - PASCAL VOC 2012 style: area under the full (all-points interpolated)
  precision-recall curve at IoU 0.5, averaged over the classes that have ground truth.
  Same matching as mmdet's ``VOCMetric(eval_mode='area')`` (``functional/voc_ap.py``).
* ``mAP40_kaggle`` - the VinBigData (Kaggle 2021) score: the same VOC area AP at IoU 0.4
  over 15 classes, the 14 lesions plus ``No finding`` (``functional/kaggle.py``: no-finding
  score = 1 - max detection score of the image). ``AP40_no_finding`` is its 15th class.
* ``CPM`` and ``FROC_sens_<r>`` - lesion-level FROC (``functional/froc.py``): sensitivity
  at 0.125 ... 8 false positives per image, and their mean; ``FROC1_<class>`` the
  sensitivity of each class at 1 FP/image (the VinDr-CXR paper's figure). Hit: IoU >= 0.4
  with a ground-truth box of the same class, each ground truth hit once.
* ``AUROC_abnormal`` - image level, abnormal vs normal, scored by the highest detection.
* ``coco_mAP`` (IoU .50:.05:.95), ``coco_mAP50``, ``coco_mAP75`` - pycocotools.

Ignore regions (mmdet ``ignored_instances``, from instances with ``ignore_flag=1``, e.g.
boxes of labels outside the 14 classes) are passed to every matching as eval_map's
``bboxes_ignore``: a detection on one is neither a true nor a false positive.

Per-class AP50 is returned as ``AP50_<class>`` (lower case, non-alphanumerics -> ``_``).
The result also records ``split`` and ``test_set`` (from the dataset's metainfo), so a
result file always says what it was computed on. A table of every class is logged, and
``metrics.json``, ``table.txt``, ``matches.npz`` (per-detection hit flags and per-image
ground-truth counts: enough to bootstrap mAP50 and CPM over test images, see
``tools/analysis_tools/compare_runs.py --bootstrap``), PR curves, the FROC curve and a
per-class AP bar chart are written to ``out_dir`` (default: ``<run log dir>/vindr_eval``).
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
from ..functional import (
    FROC_IOU,
    FROC_RATES,
    NO_FINDING_RULE,
    abnormal_auroc,
    ap_from_matches,
    coco_map,
    froc,
    is_normal_default,
    match_detections,
    mean_ap,
    voc_ap_per_class,
    with_no_finding,
)

# Per-image flag the dataset may pack into each data sample's metainfo (PackDetInputs
# meta_keys): True = every reader said 'No finding'. Absent: "no box and no ignore box".
IS_NORMAL_KEY = 'is_normal'


def class_slug(name: str) -> str:
    """Metric-key-safe class name: 'Nodule/Mass' -> 'nodule_mass'."""
    return re.sub(r'[^0-9a-z]+', '_', name.lower()).strip('_')


def froc_key(rate: float) -> str:
    """Metric key of the sensitivity at ``rate`` FPs per image: 'FROC_sens_0.125'."""
    return f'FROC_sens_{rate:g}'


@METRICS.register_module()
class VinDrMetric(BaseMetric):
    """VOC mAP50, Kaggle VinBigData mAP40, FROC/CPM and COCO mAP for VinDr-CXR detection.

    VinDr-CXR: Nguyen et al., "VinDr-CXR: An open dataset of chest X-rays with
    radiologist's annotations", Scientific Data 2022. Kaggle metric: "VinBigData Chest
    X-ray Abnormalities Detection" (2021), PASCAL VOC 2010 mAP at IoU 0.4 with
    ``No finding`` as a 15th class (see the module docstring for its scoring rule).

    Ground truth is read from ``gt_instances`` / ``ignored_instances``, so the test
    pipeline must run ``LoadAnnotations`` after ``Resize`` (boxes stay in original pixel
    coordinates, like the predictions). An image is a ``No finding`` image when its data
    sample carries ``is_normal=True`` (add ``'is_normal'`` to PackDetInputs' meta_keys);
    without that key, when it has no box and no ignore box.

    Args:
        iou_thr (float): IoU of the VOC mAP. Defaults to 0.5.
        kaggle_iou_thr (float): IoU of the Kaggle mAP. Defaults to 0.4.
        froc_iou_thr (float): IoU of a FROC hit. Defaults to 0.4.
        froc_rates (Sequence[float]): FPs per image of the CPM. Defaults to
            0.125, 0.25, 0.5, 1, 2, 4, 8.
        coco (bool): also compute COCO mAP with pycocotools. Defaults to True.
        use_legacy_coordinate (bool): ``+1`` box sizes as mmdet's ``VOCMetric`` (made for
            VOC's integer pixel indices). VinDr boxes are continuous, so False.
        plot (bool): write PR curves, the FROC curve and the AP bar chart.
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
        froc_iou_thr: float = FROC_IOU,
        froc_rates: Sequence[float] = FROC_RATES,
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
        self.froc_iou_thr = froc_iou_thr
        self.froc_rates = tuple(float(r) for r in froc_rates)
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
                img_path=sample.get('img_path', str(sample.get('img_id', '?'))),
                is_normal=sample.get(IS_NORMAL_KEY),
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
        """All metrics of the module docstring (floats), plus ``split``/``test_set``."""
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
        normal = _normal_flags(anns)

        matches = match_detections(
            anns, dets, num_classes, self.iou_thr, self.use_legacy_coordinate
        )
        voc = ap_from_matches(matches, num_classes)
        k_anns, k_dets = with_no_finding(anns, [p['scores'] for p in preds], dets, normal)
        kaggle = voc_ap_per_class(
            k_anns, k_dets, num_classes + 1, self.kaggle_iou_thr, self.use_legacy_coordinate
        )
        froc_matches = match_detections(
            anns, dets, num_classes, self.froc_iou_thr, self.use_legacy_coordinate
        )
        fr = froc(froc_matches, num_classes, self.froc_rates)
        max_scores = [float(p['scores'].max()) if p['scores'].size else 0.0 for p in preds]

        metrics = OrderedDict()
        metrics['mAP50'] = mean_ap(voc)
        metrics['mAP40_kaggle'] = mean_ap(kaggle)
        metrics['AP40_no_finding'] = kaggle[-1]['ap']
        metrics['CPM'] = fr['cpm']
        for rate, sens in zip(fr['rates'], fr['sensitivity_at']):
            metrics[froc_key(rate)] = sens
        metrics['AUROC_abnormal'] = abnormal_auroc(~np.asarray(normal, bool), max_scores)
        coco_per_class = [float('nan')] * num_classes
        if self.coco:
            coco_stats, coco_per_class = coco_map(anns, preds, num_classes)
            metrics.update(coco_stats)
        for name, res in zip(classes, voc):
            metrics[f'AP50_{class_slug(name)}'] = res['ap']
        for name, sens in zip(classes, fr['per_class_at']):
            metrics[f'FROC1_{class_slug(name)}'] = sens
        # What the numbers were computed on (strings: kept in tools/test.py's json).
        metrics['split'] = str(self.dataset_meta.get('split') or 'unknown')
        metrics['test_set'] = str(self.dataset_meta.get('test_set') or 'unknown')

        table = self._table(classes, voc, kaggle, fr, coco_per_class, metrics)
        print_log('\n' + table, logger='current')
        out_dir = self._resolve_out_dir()
        if out_dir is not None:
            self._write_outputs(
                out_dir, classes, voc, kaggle, fr, coco_per_class, metrics, table,
                matches, froc_matches, normal, max_scores,
            )  # fmt: skip
        return metrics

    def _table(self, classes, voc, kaggle, fr, coco_per_class, metrics) -> str:
        from terminaltables import AsciiTable

        rows = [
            [
                'class',
                'gts',
                'dets',
                f'recall@{self.iou_thr:g}',
                f'AP{int(self.iou_thr * 100)}',
                f'AP{int(self.kaggle_iou_thr * 100)}',
                f'sens@{fr["per_class_rate"]:g}FP',
                'COCO AP',
            ]
        ]
        for name, v, k, s, c in zip(classes, voc, kaggle, fr['per_class_at'], coco_per_class):
            recall = v['recall'][-1] if v['recall'].size else 0.0
            rows.append(
                [
                    name,
                    v['num_gts'],
                    v['num_dets'],
                    f'{recall:.3f}',
                    f'{v["ap"]:.3f}',
                    f'{k["ap"]:.3f}',
                    _fmt(s),
                    _fmt(c),
                ]
            )
        nf = kaggle[-1]
        rows.append(
            [f'{NO_FINDING} (Kaggle)', nf['num_gts'], nf['num_dets'], '', '', f'{nf["ap"]:.3f}']
            + ['', '']
        )
        rows.append(
            [
                'mean',
                '',
                '',
                '',
                f'{metrics["mAP50"]:.3f}',
                f'{metrics["mAP40_kaggle"]:.3f}',
                f'CPM {_fmt(metrics["CPM"])}',
                _fmt(metrics.get('coco_mAP')),
            ]
        )
        table = AsciiTable(rows)
        table.inner_footing_row_border = True
        table.title = 'VinDr-CXR detection'
        # A table title wider than the table is dropped: say it on a line of its own.
        return (
            f'{metrics["split"]} split, test set {metrics["test_set"]}; image-level AUROC '
            f'abnormal vs normal {_fmt(metrics["AUROC_abnormal"])}\n' + table.table
        )

    def _resolve_out_dir(self) -> Optional[str]:
        if self.out_dir is not None:
            return self.out_dir
        log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
        if not log_file:
            return None
        return osp.join(osp.dirname(log_file), 'vindr_eval')

    def _write_outputs(
        self,
        out_dir,
        classes,
        voc,
        kaggle,
        fr,
        coco_per_class,
        metrics,
        table,
        matches,
        froc_matches,
        normal,
        max_scores,
    ) -> None:
        from ...visualization.eval_plots import plot_ap_bars, plot_froc, plot_pr_curves

        os.makedirs(out_dir, exist_ok=True)
        # Enough to bootstrap mAP50 and CPM over test images without the detections.
        np.savez_compressed(
            osp.join(out_dir, 'matches.npz'),
            img=matches['img'].astype(np.int32),
            label=matches['label'].astype(np.int16),
            score=matches['score'],
            tp=matches['tp'],
            fp=matches['fp'],
            froc_tp=froc_matches['tp'],
            froc_fp=froc_matches['fp'],
            num_gts=matches['num_gts'].astype(np.int32),
            normal=np.asarray(normal, bool),
            max_score=np.asarray(max_scores, np.float32),
        )
        summary = dict(
            split=metrics['split'],
            test_set=metrics['test_set'],
            num_images=len(normal),
            metrics=dict(metrics),
            per_class=[
                dict(
                    name=n,
                    num_gts=int(v['num_gts']),
                    num_dets=int(v['num_dets']),
                    ap50=v['ap'],
                    ap40=k['ap'],
                    froc_sens_at_1fp=_none_if_nan(s),
                    coco_ap=_none_if_nan(c),
                )
                for n, v, k, s, c in zip(classes, voc, kaggle, fr['per_class_at'], coco_per_class)
            ],
            no_finding=dict(
                num_gts=int(kaggle[-1]['num_gts']),
                ap40=kaggle[-1]['ap'],
                rule=NO_FINDING_RULE,
            ),
            froc=dict(
                iou_thr=self.froc_iou_thr,
                rates=fr['rates'],
                sensitivity=[_none_if_nan(v) for v in fr['sensitivity_at']],
                cpm=_none_if_nan(fr['cpm']),
                num_lesions=fr['num_gts'],
                hit='IoU >= iou_thr with a ground-truth box of the same class, each hit '
                'once; detections on ignore regions are neither hits nor FPs',
            ),
            matches=dict(
                file='matches.npz', ap_iou_thr=self.iou_thr, froc_iou_thr=self.froc_iou_thr
            ),
        )
        with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
            json.dump(_json_safe(summary), f, indent=2)
        with open(osp.join(out_dir, 'table.txt'), 'w') as f:
            f.write(table + '\n')
        if self.plot:
            plot_pr_curves(osp.join(out_dir, 'pr_curves.png'), classes, voc, self.iou_thr)
            plot_froc(osp.join(out_dir, 'froc.png'), fr, self.froc_iou_thr)
            plot_ap_bars(
                osp.join(out_dir, 'per_class_ap.png'),
                classes,
                voc,
                kaggle,
                self.iou_thr,
                self.kaggle_iou_thr,
            )
        print_log(f'VinDrMetric: table, metrics.json and plots in {out_dir}', logger='current')


def _normal_flags(anns: Sequence[dict]) -> List[bool]:
    """Which images are truly normal: the dataset's flag, else no box at all."""
    given = [a['is_normal'] is not None for a in anns]
    if any(given) and not all(given):
        missing = [a['img_path'] for a, g in zip(anns, given) if not g]
        raise ValueError(
            f'{len(missing)} data samples lack {IS_NORMAL_KEY!r} while others have it '
            f'(first: {missing[0]}): pack it for every image or for none'
        )
    if not any(given):
        return [is_normal_default(a) for a in anns]
    flags = [bool(a['is_normal']) for a in anns]
    for a, flag in zip(anns, flags):
        if flag and a['labels'].size:
            raise ValueError(
                f'{a["img_path"]}: {IS_NORMAL_KEY}=True but it has {a["labels"].size} '
                'lesion box(es); the dataset and its annotations disagree'
            )
    return flags


def _split_by_class(pred: dict, num_classes: int) -> List[np.ndarray]:
    boxes = np.hstack([pred['bboxes'], pred['scores'][:, None]]).astype(np.float32)
    return [boxes[pred['labels'] == c] for c in range(num_classes)]


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _none_if_nan(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if np.isnan(obj) else float(obj)
    return obj


def _fmt(v) -> str:
    return '' if v is None or np.isnan(v) else f'{v:.3f}'
