# Copyright (c) cxr-mm contributors. All rights reserved.
"""Weighted k-nearest-neighbour multi-label scores and their ROC AUC.

The k-NN probe of self-supervised learning (Wu et al., CVPR 2018; used as a
training monitor by solo-learn and lightly), made multi-label for chest
radiographs: the score of a finding is the inverse-distance weighted share of
the k nearest reference images that have it. On L2-normalised embeddings the
Euclidean neighbours are the cosine ones. The weighting is scikit-learn's
``KNeighborsClassifier(weights='distance')`` (a query at distance 0 from some
references takes only those), so the two give the same scores; this one runs
on the embeddings' device (GPU) in chunks.
"""

from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def knn_multilabel_scores(
    query: Tensor, reference: Tensor, reference_labels: Tensor, k: int = 20, chunk: int = 1024
) -> Tensor:
    """(Nq, C) scores in [0, 1] of ``query`` (Nq, D) from ``reference`` (Nr, D)
    with multi-hot ``reference_labels`` (Nr, C).

    Embeddings are L2-normalised here, in float64 like scikit-learn (a copy of
    a reference is then at distance exactly 0); ``k`` is capped at Nr.
    """
    if reference.shape[0] == 0:
        raise ValueError('k-NN needs at least one reference embedding')
    q = F.normalize(query.double(), dim=1)
    r = F.normalize(reference.double().to(q.device), dim=1)
    y = reference_labels.to(r.device, torch.float64)
    k = min(int(k), r.shape[0])
    out = []
    for start in range(0, q.shape[0], chunk):
        # Exact distances (no matrix-product shortcut): neighbours as scikit-learn's.
        dist = torch.cdist(q[start : start + chunk], r, compute_mode='donot_use_mm_for_euclid_dist')
        d, idx = dist.topk(k, dim=1, largest=False)
        exact = d == 0
        w = torch.where(exact.any(1, keepdim=True), exact.double(), 1.0 / d.clamp_min(1e-300))
        out.append((w.unsqueeze(2) * y[idx]).sum(1) / w.sum(1, keepdim=True))
    return torch.cat(out) if out else q.new_zeros((0, y.shape[1]))


def knn_multilabel_auc(
    query: Tensor,
    query_labels: Tensor,
    reference: Tensor,
    reference_labels: Tensor,
    k: int = 20,
    classes: Optional[Sequence[str]] = None,
) -> Dict[str, float]:
    """``mean`` ROC AUC over the findings that have both label values among
    the queries, ``num_skipped`` findings without, and the AUC per finding
    (NaN where undefined)."""
    from ..metrics.multilabel_auc import binary_auc

    scores = knn_multilabel_scores(query, reference, reference_labels, k).cpu().numpy()
    targets = query_labels.cpu().numpy() > 0.5
    names = list(classes) if classes is not None else [str(i) for i in range(scores.shape[1])]
    aucs = np.array([binary_auc(scores[:, c], targets[:, c]) for c in range(scores.shape[1])])
    defined = ~np.isnan(aucs)
    out = dict(
        mean=float(aucs[defined].mean()) if defined.any() else float('nan'),
        num_skipped=int((~defined).sum()),
    )
    out.update({n: float(a) for n, a in zip(names, aucs)})
    return out


__all__ = ['knn_multilabel_scores', 'knn_multilabel_auc']
