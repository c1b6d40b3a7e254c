"""Compare detection runs: mean +- 95 % CI per metric and class, and paired differences.

A single fine-tuning run says little: on VinDr-CXR the seed alone moves mAP50 by about a
point, the size of the effect BarlowTwins-CXR claims (+3 mAP50 over ImageNet). Give each
initialisation as a group of runs (one per seed); the tool prints, per metric and per
class, mean +- half-width of the 95 % t-interval, and for every group after the first the
difference to the first group, paired by seed (t-interval of the per-seed differences
and the paired t-test p-value)::

    python tools/analysis_tools/compare_runs.py \\
        --group imagenet work_dirs/in_seed0 work_dirs/in_seed1 work_dirs/in_seed2 \\
        --group bt-cxr   work_dirs/bt_seed0 work_dirs/bt_seed1 work_dirs/bt_seed2 \\
        --out work_dirs/compare.json

A run is a work dir (the newest ``tools/test.py`` result in it, i.e.
``<timestamp>/<timestamp>.json``, else the newest ``vindr_eval/metrics.json``) or one of
those json files. Seeds are read from the run path (``seed0``, ``seed-1``, ``seed_2``);
``--pair-by order`` pairs the i-th runs instead. Values are printed x100 (points).
"""

import argparse
import glob
import json
import math
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from cxr_mm.evaluation.stats import mean_ci, paired_test

HEADLINE = ['mAP50', 'mAP40_kaggle', 'AP40_no_finding', 'coco_mAP', 'coco_mAP50', 'coco_mAP75']
_SEED_RE = re.compile(r'seed[-_=]?(\d+)', re.IGNORECASE)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='mean +- 95% CI of detection metrics over seeds, and paired '
        'differences between groups of runs',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        '--group',
        nargs='+',
        action='append',
        required=True,
        metavar=('NAME', 'RUN'),
        help='a group name then its runs (work dirs or metric json files); repeat '
        'for each group; differences are taken against the first group',
    )
    parser.add_argument(
        '--pair-by',
        choices=['seed', 'order'],
        default='seed',
        help='pair runs of two groups by the seed in their path (default), or by position',
    )
    parser.add_argument('--confidence', type=float, default=0.95)
    parser.add_argument(
        '--scale',
        type=float,
        default=100.0,
        help='multiply values for printing (default 100: points)',
    )
    parser.add_argument(
        '--no-per-class', action='store_true', help='print only the headline metrics'
    )
    parser.add_argument('--out', help='write the summary as json')
    args = parser.parse_args(argv)
    for group in args.group:
        if len(group) < 2:
            parser.error(f'--group {group[0]}: give at least one run after the name')
    return args


def find_result_file(run: str) -> str:
    """The metric json of a run (a file, or the newest test result in a work dir)."""
    if osp.isfile(run):
        return run
    if not osp.isdir(run):
        raise FileNotFoundError(f'run not found: {run}')
    candidates = []
    for path in glob.glob(osp.join(run, '**', '*.json'), recursive=True):
        stem = osp.splitext(osp.basename(path))[0]
        # tools/test.py (mmengine LoggerHook) writes <log_dir>/<timestamp>.json.
        is_test_json = stem == osp.basename(osp.dirname(path))
        is_metric_json = (
            osp.basename(path) == 'metrics.json' and osp.basename(osp.dirname(path)) == 'vindr_eval'
        )
        if is_test_json or is_metric_json:
            candidates.append((is_test_json, osp.getmtime(path), path))
    for _, _, path in sorted(candidates, reverse=True):
        try:
            load_metrics(path)
        except ValueError:
            continue
        return path
    raise FileNotFoundError(
        f'{run}: no VinDrMetric result found (expected <timestamp>/<timestamp>.json '
        f'from tools/test.py or vindr_eval/metrics.json)'
    )


def load_metrics(path: str) -> Dict[str, float]:
    """Metrics of one result json, keys without the ``vindr/`` prefix."""
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}: not a json file ({err})') from None
    if isinstance(data, dict) and isinstance(data.get('metrics'), dict):
        data = data['metrics']
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a json object of metrics')
    metrics = OrderedDict()
    for key, value in data.items():
        name = key.split('/', 1)[1] if key.startswith('vindr/') else key
        if isinstance(value, (int, float)) and (name in HEADLINE or name.startswith('AP50_')):
            metrics[name] = float(value)
    if 'mAP50' not in metrics:
        raise ValueError(f'{path}: no VinDrMetric values (vindr/mAP50) in it')
    return metrics


def run_seed(path: str) -> Optional[int]:
    found = _SEED_RE.findall(path)
    return int(found[-1]) if found else None


def load_groups(groups: List[List[str]]) -> 'OrderedDict[str, List[dict]]':
    loaded = OrderedDict()
    for name, *runs in groups:
        if name in loaded:
            raise ValueError(f'group {name!r} given twice')
        loaded[name] = []
        for run in runs:
            path = find_result_file(run)
            loaded[name].append(
                dict(run=run, file=path, seed=run_seed(run), metrics=load_metrics(path))
            )
    return loaded


def pair_runs(ref: List[dict], other: List[dict], pair_by: str) -> List[Tuple[dict, dict]]:
    """Runs of two groups matched by seed (or position)."""
    if pair_by == 'seed':
        seeds_ref = [r['seed'] for r in ref]
        seeds_other = [r['seed'] for r in other]
        if None in seeds_ref or None in seeds_other:
            raise ValueError(
                '--pair-by seed: no seed in the path of run(s) '
                + ', '.join(r['run'] for r in ref + other if r['seed'] is None)
                + '; name runs ...seed<N>... or use --pair-by order'
            )
        for runs, seeds in ((ref, seeds_ref), (other, seeds_other)):
            if len(set(seeds)) != len(seeds):
                raise ValueError(f'seed given twice among {[r["run"] for r in runs]}')
        by_seed = {r['seed']: r for r in other}
        pairs = [(r, by_seed[r['seed']]) for r in ref if r['seed'] in by_seed]
        unpaired = sorted(set(seeds_ref) ^ set(seeds_other))
        if unpaired:
            print(
                f'note: seeds {unpaired} are in only one group and are left out of '
                f'the paired difference',
                file=sys.stderr,
            )
        return pairs
    if len(ref) != len(other):
        raise ValueError(
            f'--pair-by order needs equal group sizes, got {len(ref)} and {len(other)}'
        )
    return list(zip(ref, other))


def summarise(groups: 'OrderedDict[str, List[dict]]', pair_by: str, confidence: float) -> dict:
    names = list(groups)
    keys = [k for k in HEADLINE if all(k in r['metrics'] for g in groups.values() for r in g)]
    classes = sorted(
        {k for g in groups.values() for r in g for k in r['metrics'] if k.startswith('AP50_')}
    )
    keys += [k for k in classes if all(k in r['metrics'] for g in groups.values() for r in g)]
    summary = OrderedDict(
        confidence=confidence,
        pair_by=pair_by,
        metrics=keys,
        groups=OrderedDict(),
        differences=OrderedDict(),
    )
    for name, runs in groups.items():
        summary['groups'][name] = OrderedDict(
            runs=[dict(run=r['run'], file=r['file'], seed=r['seed']) for r in runs],
            stats=OrderedDict(
                (k, dict(zip(('mean', 'ci'), mean_ci([r['metrics'][k] for r in runs], confidence))))
                for k in keys
            ),
        )
    ref = names[0]
    for name in names[1:]:
        pairs = pair_runs(groups[ref], groups[name], pair_by)
        diff = OrderedDict(n=len(pairs), stats=OrderedDict())
        for k in keys:
            a = [p[0]['metrics'][k] for p in pairs]
            b = [p[1]['metrics'][k] for p in pairs]
            mean, ci = mean_ci(np.subtract(b, a), confidence)
            diff['stats'][k] = dict(mean=mean, ci=ci, p=paired_test(a, b))
        summary['differences'][f'{name} - {ref}'] = diff
    return summary


def format_table(summary: dict, scale: float, per_class: bool = True) -> str:
    from terminaltables import AsciiTable

    def fmt(stat):
        mean, ci = stat['mean'] * scale, stat['ci'] * scale
        return f'{mean:.2f}' if math.isnan(ci) else f'{mean:.2f} ± {ci:.2f}'

    conf = int(round(summary['confidence'] * 100))
    header = ['metric'] + [f'{g} (n={len(v["runs"])})' for g, v in summary['groups'].items()]
    for name, diff in summary['differences'].items():
        header += [f'{name} (paired n={diff["n"]})', 'p']
    rows = [header]
    for k in summary['metrics']:
        if not per_class and k.startswith('AP50_'):
            continue
        row = [k] + [fmt(g['stats'][k]) for g in summary['groups'].values()]
        for diff in summary['differences'].values():
            s = diff['stats'][k]
            row += [
                ('+' if s['mean'] >= 0 else '') + fmt(s),
                '' if math.isnan(s['p']) else f'{s["p"]:.3f}',
            ]
        rows.append(row)
    table = AsciiTable(rows)
    table.title = f'mean ± {conf}% CI (t), x{scale:g}'
    return table.table


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    groups = load_groups(args.group)
    for name, runs in groups.items():
        for r in runs:
            print(f'{name}: {r["file"]} (seed {r["seed"]})')
    summary = summarise(groups, args.pair_by, args.confidence)
    print(format_table(summary, args.scale, per_class=not args.no_per_class))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2, allow_nan=True)
        print(f'summary written to {args.out}')
    return summary


if __name__ == '__main__':
    main()
