"""Compare detection runs: mean +- 95 % CI per metric and class, and paired differences.

A single fine-tuning run says little: on VinDr-CXR the seed alone moves mAP50 by about a
point, the size of the effect BarlowTwins-CXR claims (+3 mAP50 over ImageNet). Give each
initialisation as a group of runs (one per seed); the tool prints, per metric and per
class, mean +- half-width of the 95 % t-interval, and for every group after the first the
difference to the first group, paired by seed (t-interval of the per-seed differences,
the paired test's p-value, and over the per-class rows the Holm-adjusted p-value)::

    python tools/analysis_tools/compare_runs.py \\
        --group imagenet work_dirs/in_seed0 work_dirs/in_seed1 work_dirs/in_seed2 \\
        --group bt-cxr   work_dirs/bt_seed0 work_dirs/bt_seed1 work_dirs/bt_seed2 \\
        --out work_dirs/compare.json

Honest by construction:

* every result records the split and test set it was computed on (VinDrMetric writes
  ``split`` / ``test_set``); results of different splits or test sets are never
  compared, and results that are not on the test split (validation, or not recorded)
  are refused unless ``--allow-non-test``;
* with fewer than 3 paired seeds the difference's interval is not printed (a t-interval
  on 1 degree of freedom is 12.7 standard errors wide: not meaningful);
* equal differences on every seed get the exact sign-flip p-value, not nan or 0;
* a group of ONE run gets an image-level bootstrap interval of mAP50 and CPM instead
  (test images resampled, 2,000 draws, seeded, BCa), from the ``matches.npz`` VinDrMetric
  writes beside ``metrics.json``.

``--plot FILE.png`` draws test mAP50 and CPM against the label fraction, one line per
initialisation, for groups named ``<init>@<percent>`` (``imagenet@10``, ``bt-cxr@100``);
with such names each difference is taken against the first group of the same fraction.

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

from cxr_mm.evaluation.stats import (
    MIN_PAIRED_SEEDS,
    holm,
    image_bootstrap,
    mean_ci,
    paired_test,
)

HEADLINE = [
    'mAP50',
    'mAP40_kaggle',
    'AP40_no_finding',
    'CPM',
    'AUROC_abnormal',
    'coco_mAP',
    'coco_mAP50',
    'coco_mAP75',
]
# Per-class families; each gets its own Holm adjustment.
PER_CLASS = ('AP50_', 'FROC1_')
BOOTSTRAP_METRICS = ('mAP50', 'CPM')
_SEED_RE = re.compile(r'seed[-_=]?(\d+)', re.IGNORECASE)
_FRACTION_RE = re.compile(r'^(?P<init>.+)@(?P<percent>\d+(?:\.\d+)?)%?$')


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
        'for each group; differences are taken against the first group (of the same '
        'label fraction when every group is named <init>@<percent>)',
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
    parser.add_argument(
        '--allow-non-test',
        action='store_true',
        help='also compare results not computed on the test split (validation, or '
        'results that do not record their split); they must still share one split',
    )
    parser.add_argument(
        '--bootstrap-draws',
        type=int,
        default=2000,
        help='image-level bootstrap draws for single-run groups (0: off)',
    )
    parser.add_argument('--bootstrap-seed', type=int, default=0)
    parser.add_argument(
        '--plot',
        metavar='PNG',
        help='label-efficiency figure: mAP50 and CPM vs label fraction, groups named '
        '<init>@<percent>',
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


def load_result(path: str) -> dict:
    """Metrics (keys without ``vindr/``), split, test set and matches file of a result."""
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}: not a json file ({err})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a json object of metrics')
    top = data
    if isinstance(data.get('metrics'), dict):
        data = data['metrics']
    metrics, info = OrderedDict(), {}
    for key, value in data.items():
        name = key.split('/', 1)[1] if key.startswith('vindr/') else key
        if name in ('split', 'test_set') and isinstance(value, str):
            info[name] = value
        elif isinstance(value, (int, float)) and (
            name in HEADLINE or name.startswith(PER_CLASS) or name.startswith('FROC_sens_')
        ):
            metrics[name] = float(value)
    if 'mAP50' not in metrics:
        raise ValueError(f'{path}: no VinDrMetric values (vindr/mAP50) in it')
    for name in ('split', 'test_set'):
        if isinstance(top.get(name), str):
            info[name] = top[name]
    here = osp.dirname(osp.abspath(path))
    matches = None
    for candidate in (osp.join(here, 'matches.npz'), osp.join(here, 'vindr_eval', 'matches.npz')):
        if osp.isfile(candidate):
            matches = candidate
            break
    return dict(
        metrics=metrics,
        split=info.get('split', 'unknown'),
        test_set=info.get('test_set', 'unknown'),
        matches=matches,
    )


def load_metrics(path: str) -> Dict[str, float]:
    """Metrics of one result json, keys without the ``vindr/`` prefix."""
    return load_result(path)['metrics']


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
            loaded[name].append(dict(run=run, file=path, seed=run_seed(run), **load_result(path)))
    return loaded


def check_splits(groups: 'OrderedDict[str, List[dict]]', allow_non_test: bool) -> Tuple[str, str]:
    """One split and one test set for every run; the test split unless allowed."""
    runs = [r for g in groups.values() for r in g]
    seen = sorted({(r['split'], r['test_set']) for r in runs})
    if len(seen) > 1:
        lines = '\n'.join(
            f'  {r["file"]}: split={r["split"]} test_set={r["test_set"]}' for r in runs
        )
        raise ValueError(
            'results were computed on different splits / test sets and cannot be '
            f'compared:\n{lines}'
        )
    split, test_set = seen[0]
    if split != 'test' and not allow_non_test:
        why = (
            'does not record its split (re-run tools/test.py with this version)'
            if split == 'unknown'
            else f'is on the {split!r} split'
        )
        raise ValueError(
            f'{runs[0]["file"]} {why}: compare test-split results (model selection used '
            'validation), or pass --allow-non-test'
        )
    return split, test_set


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


def bootstrap_run(
    matches_file: str, draws: int, seed: int, confidence: float
) -> Dict[str, Dict[str, Optional[float]]]:
    """Image-level bootstrap intervals of mAP50 and CPM for one run (test images resampled)."""
    from cxr_mm.evaluation.functional import weighted_cpm, weighted_map

    with np.load(matches_file) as z:
        m = {k: z[k] for k in z.files}
    ap = dict(img=m['img'], label=m['label'], score=m['score'], tp=m['tp'], fp=m['fp'])
    ap['num_gts'] = m['num_gts']
    fr = dict(ap, tp=m['froc_tp'], fp=m['froc_fp'])
    n = m['num_gts'].shape[0]
    return dict(
        mAP50=image_bootstrap(lambda w: weighted_map(ap, w), n, draws, seed, confidence),
        CPM=image_bootstrap(lambda w: weighted_cpm(fr, w), n, draws, seed, confidence),
    )


def reference_groups(names: Sequence[str]) -> List[Tuple[str, str]]:
    """(group, reference) of every difference: the first group, or, when every group is
    named ``<init>@<percent>``, the first group of the same label fraction."""
    fractions = [_FRACTION_RE.match(n) for n in names]
    if not all(fractions):
        return [(n, names[0]) for n in names[1:]]
    first: Dict[float, str] = {}
    out = []
    for name, match in zip(names, fractions):
        frac = float(match['percent'])
        if frac in first:
            out.append((name, first[frac]))
        else:
            first[frac] = name
    return out


def summarise(
    groups: 'OrderedDict[str, List[dict]]',
    pair_by: str,
    confidence: float,
    bootstrap_draws: int = 0,
    bootstrap_seed: int = 0,
) -> dict:
    names = list(groups)
    keys = [k for k in HEADLINE if all(k in r['metrics'] for g in groups.values() for r in g)]
    classes = sorted(
        {k for g in groups.values() for r in g for k in r['metrics'] if k.startswith(PER_CLASS)}
    )
    keys += [k for k in classes if all(k in r['metrics'] for g in groups.values() for r in g)]
    first = next(iter(groups.values()))[0]
    summary = OrderedDict(
        confidence=confidence,
        pair_by=pair_by,
        split=first['split'],
        test_set=first['test_set'],
        metrics=keys,
        groups=OrderedDict(),
        differences=OrderedDict(),
    )
    for name, runs in groups.items():
        group = OrderedDict(
            runs=[
                dict(run=r['run'], file=r['file'], seed=r['seed'], matches=r['matches'])
                for r in runs
            ],
            stats=OrderedDict(
                (k, dict(zip(('mean', 'ci'), mean_ci([r['metrics'][k] for r in runs], confidence))))
                for k in keys
            ),
        )
        if len(runs) == 1 and bootstrap_draws > 0:
            if runs[0]['matches'] is None:
                group['bootstrap'] = (
                    f'no matches.npz beside {runs[0]["file"]}: re-run tools/test.py with '
                    'this version to get an image-level interval'
                )
            else:
                group['bootstrap'] = bootstrap_run(
                    runs[0]['matches'], bootstrap_draws, bootstrap_seed, confidence
                )
        summary['groups'][name] = group
    for name, ref in reference_groups(names):
        pairs = pair_runs(groups[ref], groups[name], pair_by)
        meaningful = len(pairs) >= MIN_PAIRED_SEEDS
        diff = OrderedDict(
            n=len(pairs),
            interval=(
                'paired t'
                if meaningful
                else f'not meaningful (fewer than {MIN_PAIRED_SEEDS} paired seeds)'
            ),
            stats=OrderedDict(),
        )
        for k in keys:
            a = [p[0]['metrics'][k] for p in pairs]
            b = [p[1]['metrics'][k] for p in pairs]
            mean, ci = mean_ci(np.subtract(b, a), confidence)
            test = paired_test(a, b)
            diff['stats'][k] = dict(
                mean=mean, ci=ci if meaningful else float('nan'), p=test['p'], test=test['test']
            )
        for prefix in PER_CLASS:
            family = [k for k in keys if k.startswith(prefix)]
            adjusted = holm([diff['stats'][k]['p'] for k in family])
            for k, p in zip(family, adjusted):
                diff['stats'][k]['p_holm'] = float(p)
        summary['differences'][f'{name} - {ref}'] = diff
    return summary


def format_table(summary: dict, scale: float, per_class: bool = True) -> str:
    from terminaltables import AsciiTable

    def fmt(stat):
        mean, ci = stat['mean'] * scale, stat['ci'] * scale
        return f'{mean:.2f}' if math.isnan(ci) else f'{mean:.2f} ± {ci:.2f}'

    def fmt_p(p):
        return '' if p is None or math.isnan(p) else f'{p:.3f}'

    conf = int(round(summary['confidence'] * 100))
    header = ['metric'] + [f'{g} (n={len(v["runs"])})' for g, v in summary['groups'].items()]
    for name, diff in summary['differences'].items():
        header += [f'{name} (paired n={diff["n"]})', 'p', 'p (Holm)']
    rows = [header]
    for k in summary['metrics']:
        if not per_class and k.startswith(PER_CLASS):
            continue
        row = [k]
        for g in summary['groups'].values():
            cell = fmt(g['stats'][k])
            boot = g.get('bootstrap')
            if isinstance(boot, dict) and k in boot and boot[k]['ci_low'] is not None:
                cell += f' [{boot[k]["ci_low"] * scale:.2f}, {boot[k]["ci_high"] * scale:.2f}]'
            row.append(cell)
        for diff in summary['differences'].values():
            s = diff['stats'][k]
            row += [('+' if s['mean'] >= 0 else '') + fmt(s), fmt_p(s['p']), fmt_p(s.get('p_holm'))]
        rows.append(row)
    table = AsciiTable(rows)
    table.title = (
        f'{summary["split"]} split, test set {summary["test_set"]}: mean ± {conf}% CI (t), '
        f'x{scale:g}'
    )
    notes = []
    if any(isinstance(g.get('bootstrap'), dict) for g in summary['groups'].values()):
        notes.append(
            f'[low, high]: {conf}% image-level bootstrap interval of a single run '
            '(test images resampled)'
        )
    for name, g in summary['groups'].items():
        if isinstance(g.get('bootstrap'), str):
            notes.append(f'{name}: {g["bootstrap"]}')
    for name, diff in summary['differences'].items():
        if diff['interval'] != 'paired t':
            notes.append(f'{name}: interval {diff["interval"]}; p-values are indicative only')
    return table.table + ''.join(f'\nnote: {n}' for n in notes)


def label_efficiency_series(summary: dict, metrics: Sequence[str] = BOOTSTRAP_METRICS) -> dict:
    """``{init: {fraction: {metric: {mean, low, high}}}}`` from groups named init@percent.

    The interval is the t-interval over seeds for a group of several runs, the
    image-level bootstrap interval for a single run.
    """
    series: Dict[str, dict] = OrderedDict()
    for name, g in summary['groups'].items():
        match = _FRACTION_RE.match(name)
        if not match:
            raise ValueError(
                f'--plot: group {name!r} is not named <init>@<percent> (e.g. imagenet@10)'
            )
        frac = float(match['percent']) / 100
        point = {}
        for k in metrics:
            if k not in g['stats']:
                continue
            mean, ci = g['stats'][k]['mean'], g['stats'][k]['ci']
            low = high = None
            boot = g.get('bootstrap')
            if len(g['runs']) > 1 and not math.isnan(ci):
                low, high = mean - ci, mean + ci
            elif isinstance(boot, dict) and boot[k]['ci_low'] is not None:
                low, high = boot[k]['ci_low'], boot[k]['ci_high']
            point[k] = dict(mean=mean, low=low, high=high)
        series.setdefault(match['init'], OrderedDict())[frac] = point
    return series


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    groups = load_groups(args.group)
    for name, runs in groups.items():
        for r in runs:
            print(f'{name}: {r["file"]} (seed {r["seed"]}, {r["split"]} split, {r["test_set"]})')
    check_splits(groups, args.allow_non_test)
    summary = summarise(
        groups, args.pair_by, args.confidence, args.bootstrap_draws, args.bootstrap_seed
    )
    print(format_table(summary, args.scale, per_class=not args.no_per_class))
    if args.plot:
        from cxr_mm.visualization.eval_plots import plot_label_efficiency

        os.makedirs(osp.dirname(osp.abspath(args.plot)), exist_ok=True)
        series = label_efficiency_series(summary)
        plot_label_efficiency(
            args.plot,
            series,
            scale=args.scale,
            title=f'{summary["split"]} split, test set {summary["test_set"]}',
        )
        summary['plot'] = dict(file=args.plot, series=series)
        print(f'label-efficiency plot written to {args.plot}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2, allow_nan=True)
        print(f'summary written to {args.out}')
    return summary


if __name__ == '__main__':
    main()
