"""compare_runs: mean +- 95 % t-interval per metric and class, paired by seed."""

import json
import math
import os
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import compare_runs  # noqa: E402

sys.path.pop(0)

T_975_DF2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom


def write_test_json(work_dir, values, timestamp='20260101_120000'):
    """What tools/test.py leaves in a work dir: <ts>/<ts>.json of prefixed metrics."""
    log_dir = osp.join(work_dir, timestamp)
    os.makedirs(log_dir, exist_ok=True)
    with open(osp.join(log_dir, f'{timestamp}.json'), 'w') as f:
        json.dump({f'vindr/{k}': v for k, v in values.items()}, f)
    return work_dir


def metrics(map50, nodule):
    return {
        'mAP50': map50,
        'mAP40_kaggle': map50 + 0.05,
        'coco_mAP': map50 / 2,
        'AP50_nodule_mass': nodule,
        'AP50_cardiomegaly': 0.8,
    }


@pytest.fixture
def runs(tmp_path):
    imagenet = {0: metrics(0.30, 0.10), 1: metrics(0.31, 0.12), 2: metrics(0.32, 0.14)}
    btcxr = {0: metrics(0.33, 0.15), 1: metrics(0.35, 0.12), 2: metrics(0.34, 0.20)}
    paths = {}
    for group, values in (('in', imagenet), ('bt', btcxr)):
        paths[group] = {
            s: write_test_json(str(tmp_path / f'{group}_seed{s}'), v) for s, v in values.items()
        }
    return paths, imagenet, btcxr


def test_mean_ci_known_values():
    mean, ci = compare_runs.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert ci == pytest.approx(T_975_DF2 * 1.0 / math.sqrt(3))
    assert math.isnan(compare_runs.mean_ci([0.5])[1])


def test_groups_and_paired_difference(runs, capsys):
    paths, imagenet, btcxr = runs
    # bt-cxr runs given in another order: pairing must follow the seed, not the order
    summary = compare_runs.main(
        ['--group', 'imagenet']
        + [paths['in'][s] for s in (0, 1, 2)]
        + ['--group', 'bt-cxr']
        + [paths['bt'][s] for s in (2, 0, 1)]
    )
    stats = summary['groups']['imagenet']['stats']['mAP50']
    assert stats['mean'] == pytest.approx(0.31)
    assert stats['ci'] == pytest.approx(T_975_DF2 * 0.01 / math.sqrt(3))
    diff = summary['differences']['bt-cxr - imagenet']
    assert diff['n'] == 3
    # per-seed differences of mAP50: 0.03, 0.04, 0.02 -> mean 0.03, sd 0.01
    assert diff['stats']['mAP50']['mean'] == pytest.approx(0.03)
    assert diff['stats']['mAP50']['ci'] == pytest.approx(T_975_DF2 * 0.01 / math.sqrt(3))
    # per class: nodule differences 0.05, 0.00, 0.06
    assert diff['stats']['AP50_nodule_mass']['mean'] == pytest.approx(0.11 / 3)
    # the paired t-test agrees with scipy on the same pairs
    from scipy import stats as st

    p = st.ttest_rel([0.33, 0.35, 0.34], [0.30, 0.31, 0.32]).pvalue
    assert diff['stats']['mAP50']['p'] == pytest.approx(p)
    out = capsys.readouterr().out
    assert 'mAP50' in out and 'AP50_nodule_mass' in out and '±' in out
    assert '31.00 ± 2.48' in out  # x100 points


def test_pairing_by_position_differs_from_seed(runs):
    paths, _, _ = runs
    args = (
        ['--group', 'imagenet']
        + [paths['in'][s] for s in (0, 1, 2)]
        + ['--group', 'bt-cxr']
        + [paths['bt'][s] for s in (2, 0, 1)]
    )
    by_order = compare_runs.main(args + ['--pair-by', 'order'])
    by_seed = compare_runs.main(args)
    # same mean difference either way, different spread of the pairs
    d_order = by_order['differences']['bt-cxr - imagenet']['stats']['AP50_nodule_mass']
    d_seed = by_seed['differences']['bt-cxr - imagenet']['stats']['AP50_nodule_mass']
    assert d_order['mean'] == pytest.approx(d_seed['mean'])
    assert d_order['ci'] != pytest.approx(d_seed['ci'])


def test_reads_metric_json_and_newest_test_result(tmp_path, runs):
    paths, _, _ = runs
    wd = paths['in'][0]
    # a later test run in the same work dir wins
    write_test_json(wd, metrics(0.9, 0.9), timestamp='20260102_120000')
    later = osp.join(wd, '20260102_120000', '20260102_120000.json')
    os.utime(later, (2e9, 2e9))
    assert compare_runs.find_result_file(wd) == later
    # VinDrMetric's own metrics.json works too
    metric_json = tmp_path / 'metrics.json'
    metric_json.write_text(json.dumps({'metrics': {'mAP50': 0.4, 'coco_mAP': 0.2}}))
    assert compare_runs.load_metrics(str(metric_json))['mAP50'] == 0.4


def test_errors_are_explicit(tmp_path, runs):
    paths, _, _ = runs
    empty = tmp_path / 'empty_run'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no VinDrMetric result'):
        compare_runs.find_result_file(str(empty))
    no_seed = write_test_json(str(tmp_path / 'run_a'), metrics(0.3, 0.1))
    with pytest.raises(ValueError, match='no seed in the path'):
        compare_runs.main(['--group', 'a', no_seed, '--group', 'b', paths['bt'][0]])
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'bbox_mAP': 0.3}))
    with pytest.raises(ValueError, match='no VinDrMetric values'):
        compare_runs.load_metrics(str(bad))


def test_command_line(runs, tmp_path):
    from cxr_testing import run_tool

    paths, _, _ = runs
    out = tmp_path / 'summary.json'
    proc = run_tool(
        [
            'tools/analysis_tools/compare_runs.py',
            '--group',
            'imagenet',
            *paths['in'].values(),
            '--group',
            'bt-cxr',
            *paths['bt'].values(),
            '--out',
            str(out),
        ]
    )
    assert 'bt-cxr - imagenet (paired n=3)' in proc.stdout
    assert json.loads(out.read_text())['differences']['bt-cxr - imagenet']['n'] == 3
