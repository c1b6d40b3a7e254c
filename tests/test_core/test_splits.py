"""Stratified group splits (cxr_mm.core.splits)."""

import json
from collections import Counter

import numpy as np
import pytest

from cxr_mm.core.splits import (
    assign_strata,
    load_or_create_split,
    stratified_group_split,
    stratified_group_subset,
)


def _groups(n=400, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for g in range(n):
        labels = set()
        if rng.random() < 0.5:
            labels.add('common')
        if rng.random() < 0.1:
            labels.add('rare')
        if rng.random() < 0.03:
            labels.add('very_rare')
        out[f'g{g:04d}'] = labels
    return out


def test_split_is_a_deterministic_partition_with_the_ratios():
    groups = _groups()
    parts = stratified_group_split(groups, [0.7, 0.2, 0.1], seed=3)
    flat = [g for p in parts for g in p]
    assert sorted(flat) == sorted(groups)  # every group once
    assert [len(p) for p in parts] == [280, 80, 40]
    assert parts == stratified_group_split(dict(reversed(groups.items())), [0.7, 0.2, 0.1], seed=3)
    assert parts != stratified_group_split(groups, [0.7, 0.2, 0.1], seed=4)


def test_each_stratum_is_within_two_groups_of_its_quota():
    groups = _groups()
    strata = assign_strata(groups)
    ratios = np.array([0.7, 0.2, 0.1])
    parts = stratified_group_split(groups, ratios, seed=0)
    total = Counter(strata.values())
    for stratum, n in total.items():
        got = np.array([sum(strata[g] == stratum for g in p) for p in parts])
        assert np.all(np.abs(got - ratios * n) <= 2), (stratum, got, n)
    # the rarest label reaches every part
    assert all(any('very_rare' in groups[g] for g in p) for p in parts)


def test_subset_fraction_size_nested_stratified_and_minimum_one():
    groups = _groups()
    strata = assign_strata(groups)
    total = Counter(strata.values())
    sub = stratified_group_subset(groups, 0.1, seed=0)
    assert len(sub) == 40 and set(sub) <= set(groups)
    got = Counter(strata[g] for g in sub)
    for stratum, n in total.items():
        assert abs(got[stratum] - 0.1 * n) <= 1, (stratum, got, n)
    # nested: 1 % within 10 % within 50 %
    s1, s10, s50 = (set(stratified_group_subset(groups, f, seed=0)) for f in (0.01, 0.1, 0.5))
    assert s1 < s10 < s50
    assert set(stratified_group_subset(groups, 0.1, seed=1)) != s10
    assert stratified_group_subset(groups, 1.0) == sorted(groups)
    assert len(stratified_group_subset({'a': {'x'}, 'b': set()}, 0.01)) == 1
    with pytest.raises(ValueError):
        stratified_group_subset(groups, 0)


def test_split_file_round_trip_and_mismatch_errors(tmp_path):
    groups = _groups(50)
    path = tmp_path / 'splits.json'
    a = load_or_create_split(str(path), groups, ('train', 'val', 'test'), (0.8, 0.1, 0.1), 0)
    payload = json.loads(path.read_text())
    assert payload['meta']['seed'] == 0
    assert sorted(payload['train'] + payload['val'] + payload['test']) == sorted(groups)
    b = load_or_create_split(str(path), groups, ('train', 'val', 'test'), (0.8, 0.1, 0.1), 0)
    assert a == b
    with pytest.raises(ValueError, match='seed'):
        load_or_create_split(str(path), groups, ('train', 'val', 'test'), (0.8, 0.1, 0.1), 1)
    more = dict(groups, extra={'x'})
    with pytest.raises(ValueError, match='does not match'):
        load_or_create_split(str(path), more, ('train', 'val', 'test'), (0.8, 0.1, 0.1), 0)
