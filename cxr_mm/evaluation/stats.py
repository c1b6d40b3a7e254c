"""The one home of cxr-mm's statistics: t-intervals, paired tests, bootstrap.

``compare_runs.py`` (runs over seeds) and ``cam_eval.py`` (paired CAM scores) use
these, so an interval means the same thing everywhere. Only numpy/scipy: no
OpenMMLab import.
"""

import math
from typing import Dict, Sequence, Tuple

import numpy as np


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Tuple[float, float]:
    """Mean and half-width of the t-distribution confidence interval (nan if n < 2)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    n = values.size
    mean = float(values.mean()) if n else float('nan')
    if n < 2:
        return mean, float('nan')
    sem = values.std(ddof=1) / math.sqrt(n)
    return mean, float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sem)


def paired_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p-value of b - a (nan if undefined)."""
    from scipy import stats

    d = np.asarray(b, float) - np.asarray(a, float)
    if d.size < 2:
        return float('nan')
    if np.allclose(d, d[0]):
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_rel(b, a).pvalue)


def paired_difference(
    a: Sequence[float], b: Sequence[float], num_bootstrap: int = 2000, seed: int = 0
) -> Dict[str, float]:
    """Mean of ``b - a`` over paired items with a percentile bootstrap 95% CI.

    Used by ``cam_eval.py``: both checkpoints explain the same ground-truth
    boxes, so the comparison is paired.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f'paired samples differ in length: {a.shape} vs {b.shape}')
    if a.size == 0:
        return dict(
            n=0,
            mean_a=float('nan'),
            mean_b=float('nan'),
            diff=float('nan'),
            ci_low=float('nan'),
            ci_high=float('nan'),
        )
    d = b - a
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(num_bootstrap, d.size))
    boot = d[idx].mean(axis=1)
    return dict(
        n=int(d.size),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=float(d.mean()),
        ci_low=float(np.percentile(boot, 2.5)),
        ci_high=float(np.percentile(boot, 97.5)),
    )
