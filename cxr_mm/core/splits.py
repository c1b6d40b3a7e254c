# Copyright (c) cxr-mm contributors. All rights reserved.
"""Deterministic, stratified, group-level splits shared by the CXR datasets.

Both datasets need the same thing: put *groups* (NIH patients, VinDr images)
into named parts with given ratios, so that every finding is spread over the
parts in proportion, reproducibly from a seed. Splitting groups rather than
images is what keeps one patient's follow-up films out of both train and
validation.

Method (stratified interleaving):

1. Each group gets one stratum: its rarest label (rarest by group count over
   the whole input), or ``'<none>'`` for groups without labels. The rarest
   label is used because common labels get spread anyway; rare ones are
   what random splits leave out of validation.
2. Inside a stratum, groups are shuffled by
   ``numpy.random.default_rng(seed)`` (sorted first, so the input order does
   not matter).
3. The strata are interleaved into one order: position ``k`` of ``N`` goes to
   the stratum furthest behind its share ``n_s * k / N``. Every prefix of the
   order is then stratified (each stratum within about one group of its
   share), so a label fraction is a prefix (and fractions are nested) and a
   split is a set of consecutive chunks (each stratum within about two
   groups of its quota per part).

The result depends only on (groups, labels, ratios, seed).
"""

import json
import os
import os.path as osp
import warnings
from collections import Counter
from typing import Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

NO_LABEL = '<none>'


def assign_strata(group_labels: Mapping[Hashable, Iterable]) -> Dict:
    """Map each group to its rarest label (``'<none>'`` when unlabeled)."""
    freq: Counter = Counter()
    for labels in group_labels.values():
        freq.update(set(labels))
    strata = {}
    for group, labels in group_labels.items():
        labels = set(labels)
        if not labels:
            strata[group] = NO_LABEL
        else:
            strata[group] = str(min(labels, key=lambda x: (freq[x], str(x))))
    return strata


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim != 1 or len(r) == 0 or (r < 0).any() or r.sum() <= 0:
        raise ValueError(
            f'Split ratios must be non-negative and sum to a positive number, got {ratios!r}.'
        )
    return r / r.sum()


def stratified_order(group_labels: Mapping[Hashable, Iterable], seed: int = 0) -> List:
    """Order groups so that every prefix is stratified by rarest label.

    Strata are interleaved by largest deficit: position ``k`` goes to the
    stratum ``s`` maximising ``n_s * k / N - taken_s`` (ties: rarest first),
    and inside a stratum groups come in a seeded random order.
    """
    strata = assign_strata(group_labels)
    by_stratum: Dict[str, List] = {}
    for group, stratum in strata.items():
        by_stratum.setdefault(stratum, []).append(group)
    rng = np.random.default_rng(seed)
    names = sorted(by_stratum, key=lambda s: (len(by_stratum[s]), s))
    members = []
    for name in names:
        m = sorted(by_stratum[name], key=str)
        members.append([m[i] for i in rng.permutation(len(m))])
    sizes = np.array([len(m) for m in members], dtype=np.float64)
    total = int(sizes.sum())
    taken = np.zeros(len(members), dtype=np.int64)
    order: List = []
    for k in range(1, total + 1):
        s = int(np.argmax(sizes * (k / total) - taken))
        order.append(members[s][taken[s]])
        taken[s] += 1
    return order


def stratified_group_split(
    group_labels: Mapping[Hashable, Iterable], ratios: Sequence[float], seed: int = 0
) -> List[List]:
    """Split groups into ``len(ratios)`` parts, stratified by rarest label.

    Consecutive chunks of :func:`stratified_order`, sized
    ``round(cumsum(ratios) * N)``.

    Args:
        group_labels (Mapping): group id -> labels of that group (a patient's
            findings over all their images, an image's classes).
        ratios (Sequence[float]): relative size of each part (normalised).
        seed (int): seed of the within-stratum shuffle.

    Returns:
        list[list]: the group ids of each part, each sorted.
    """
    r = _check_ratios(ratios)
    order = stratified_order(group_labels, seed)
    bounds = [0] + [int(round(c * len(order))) for c in np.cumsum(r)]
    bounds[-1] = len(order)
    return [sorted(order[a:b], key=str) for a, b in zip(bounds[:-1], bounds[1:])]


def stratified_group_subset(
    group_labels: Mapping[Hashable, Iterable], fraction: float, seed: int = 0
) -> List:
    """Pick ``fraction`` of the groups (at least one), stratified.

    A prefix of :func:`stratified_order`: for one seed, smaller fractions
    are subsets of larger ones (1 % within 10 % within 100 %).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction must be in (0, 1], got {fraction}.')
    order = stratified_order(group_labels, seed)
    k = max(1, int(round(fraction * len(order)))) if order else 0
    return sorted(order[:k], key=str)


def save_split_file(path: str, parts: Mapping[str, Sequence], meta: Mapping) -> None:
    """Write ``{'meta': ..., 'train': [...], ...}`` as JSON, atomically."""
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    payload = {'meta': dict(meta)}
    payload.update({k: [str(x) for x in v] for k, v in parts.items()})
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def load_split_file(path: str) -> Tuple[Dict, Dict[str, List[str]]]:
    """Read a file written by :func:`save_split_file`: (meta, parts)."""
    with open(path) as f:
        payload = json.load(f)
    if not isinstance(payload, dict) or 'meta' not in payload:
        raise ValueError(f'{path}: not a cxr-mm split file (no "meta").')
    meta = payload.pop('meta')
    return meta, {k: list(v) for k, v in payload.items()}


def load_or_create_split(
    path: Optional[str],
    group_labels: Mapping[str, Iterable],
    names: Sequence[str],
    ratios: Sequence[float],
    seed: int,
    source: str = '',
) -> Dict[str, str]:
    """Return group -> part name, reading ``path`` or creating it.

    An existing file is reused only if it was made with the same ratios, seed
    and names and covers exactly the given groups; otherwise this raises,
    because silently re-splitting would move images between train and test.
    ``path=None`` computes the split without writing it.
    """
    if len(names) != len(ratios):
        raise ValueError(f'{len(names)} split names but {len(ratios)} ratios')
    meta = dict(
        ratios=[float(x) for x in ratios],
        seed=int(seed),
        names=list(names),
        source=source,
        method='rarest-label stratified interleaving',
        num_groups=len(group_labels),
    )
    groups = {str(g) for g in group_labels}
    if path is not None and osp.isfile(path):
        old_meta, parts = load_split_file(path)
        for key in ('ratios', 'seed', 'names'):
            if old_meta.get(key) != meta[key]:
                raise ValueError(
                    f'{path} was written with {key}={old_meta.get(key)!r} '
                    f'but {meta[key]!r} was requested; delete it or point '
                    f'split_file elsewhere.'
                )
        in_file = set()
        for name in names:
            in_file.update(parts.get(name, []))
        if in_file != groups:
            missing = sorted(groups - in_file)[:5]
            extra = sorted(in_file - groups)[:5]
            raise ValueError(
                f'{path} does not match the annotations ({source}): '
                f'{len(groups - in_file)} images not in the file '
                f'(e.g. {missing}), {len(in_file - groups)} in the file but '
                f'not annotated (e.g. {extra}). Delete it to re-split.'
            )
        return {g: name for name in names for g in parts.get(name, [])}
    split = stratified_group_split({str(k): v for k, v in group_labels.items()}, ratios, seed)
    parts = dict(zip(names, split))
    if path is not None:
        try:
            save_split_file(path, parts, meta)
        except OSError as e:  # read-only data: the split is still seeded
            warnings.warn(
                f'Could not write the split file {path}: {e}; '
                f'the split is recomputed from the seed.'
            )
    return {g: name for name, members in parts.items() for g in members}
