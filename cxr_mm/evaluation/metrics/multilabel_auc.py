"""Per-finding ROC AUC for multi-label chest X-ray classification."""

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS
from mmpretrain.structures import label_to_onehot

__all__ = ['MultiLabelAUC', 'binary_auc']


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``; tied values share the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # rank of the last member of each group of ties
    return (last - (counts - 1) / 2.0)[inverse]


def binary_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count one half).

    NaN when ``labels`` hold a single value: AUC is undefined there.
    """
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@METRICS.register_module()
class MultiLabelAUC(BaseMetric):
    """Area under the ROC curve per class and its mean, for multi-label outputs.

    The NIH ChestX-ray14 benchmark metric (Wang et al., 2017; CheXNet,
    Rajpurkar et al., 2017; BarlowTwins-CXR linear evaluation). A class whose
    evaluation labels are all positive or all negative has no AUC: it is
    reported as NaN, excluded from the mean and counted in ``num_skipped``
    with a warning, never silently averaged as 0.5.

    Args:
        collect_device (str): 'cpu' or 'gpu' for collecting results across
            ranks. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to 'AUC'.
    """

    default_prefix: Optional[str] = 'AUC'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for data_sample in data_samples:
            score = data_sample['pred_score'].detach().cpu().float()
            if 'gt_score' in data_sample:
                target = data_sample['gt_score'].detach().cpu()
            else:
                target = label_to_onehot(data_sample['gt_label'], score.numel())
            self.results.append(dict(pred_score=score, gt_score=target.reshape(-1)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        scores = torch.stack([r['pred_score'] for r in results]).numpy()
        targets = torch.stack([r['gt_score'] for r in results]).numpy() > 0.5
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None or len(classes) != scores.shape[1]:
            classes = [str(i) for i in range(scores.shape[1])]
        aucs = np.array([binary_auc(scores[:, i], targets[:, i]) for i in range(scores.shape[1])])
        skipped = [c for c, a in zip(classes, aucs) if np.isnan(a)]
        if skipped:
            MMLogger.get_current_instance().warning(
                f'MultiLabelAUC: {len(skipped)} of {len(classes)} classes have only one label '
                f'value among {len(results)} samples and no AUC; excluded from the mean: {skipped}'
            )
        metrics = {
            'mean': float(np.nanmean(aucs)) if len(skipped) < len(classes) else float('nan'),
            'num_skipped': len(skipped),
            'num_samples': len(results),
        }
        metrics.update({name: float(a) for name, a in zip(classes, aucs)})
        return metrics
