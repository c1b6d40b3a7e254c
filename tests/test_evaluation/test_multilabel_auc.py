"""MultiLabelAUC equals sklearn's roc_auc_score and skips undefined classes visibly."""

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import METRICS
from sklearn.metrics import roc_auc_score

import cxr_mm.register  # noqa: F401


@pytest.fixture(autouse=True)
def _scope():
    """Build in the mmpretrain scope whatever scope an earlier test left current."""
    init_default_scope('mmpretrain')


def _run(metric, scores, labels, as_index_labels=True, batch=7):
    samples = []
    for s, y in zip(scores, labels):
        d = dict(pred_score=torch.as_tensor(s, dtype=torch.float32))
        if as_index_labels:
            d['gt_label'] = torch.as_tensor(np.flatnonzero(y), dtype=torch.long)
        else:
            d['gt_score'] = torch.as_tensor(y, dtype=torch.float32)
        samples.append(d)
    for i in range(0, len(samples), batch):
        metric.process(None, samples[i : i + batch])
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('as_index_labels', [True, False])
def test_auc_equals_sklearn(as_index_labels):
    rng = np.random.default_rng(0)
    n, c = 300, 14
    labels = (rng.random((n, c)) < rng.uniform(0.05, 0.5, c)).astype(int)
    scores = labels * rng.normal(0.5, 1, (n, c)) + rng.normal(0, 1, (n, c))
    scores[:, 3] = np.round(scores[:, 3])  # ties
    metric = METRICS.build(dict(type='MultiLabelAUC'))
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(c)])
    out = _run(metric, scores, labels, as_index_labels)
    expected = [roc_auc_score(labels[:, i], scores[:, i]) for i in range(c)]
    for i in range(c):
        assert out[f'AUC/c{i}'] == pytest.approx(expected[i], abs=1e-9)
    assert out['AUC/mean'] == pytest.approx(np.mean(expected), abs=1e-9)
    assert out['AUC/num_skipped'] == 0 and out['AUC/num_samples'] == n
    assert roc_auc_score(labels, scores, average='macro') == pytest.approx(out['AUC/mean'])


def test_single_valued_class_is_reported_and_skipped():
    rng = np.random.default_rng(1)
    n, c = 60, 4
    labels = (rng.random((n, c)) < 0.3).astype(int)
    labels[:, 1] = 0  # never positive
    labels[:, 2] = 1  # always positive
    scores = rng.normal(size=(n, c))
    metric = METRICS.build(dict(type='MultiLabelAUC'))
    out = _run(metric, scores, labels)
    assert np.isnan(out['AUC/1']) and np.isnan(out['AUC/2'])
    assert out['AUC/num_skipped'] == 2
    expected = np.mean([roc_auc_score(labels[:, i], scores[:, i]) for i in (0, 3)])
    assert out['AUC/mean'] == pytest.approx(expected, abs=1e-12)
