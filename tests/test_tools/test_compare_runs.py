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


def write_test_json(
    work_dir, values, timestamp='20260101_120000', split='test', test_set='kaggle-split-seed0'
):
    """What tools/test.py leaves in a work dir: <ts>/<ts>.json of prefixed metrics,
    with the split and test set VinDrMetric records."""
    log_dir = osp.join(work_dir, timestamp)
    os.makedirs(log_dir, exist_ok=True)
    record = {f'vindr/{k}': v for k, v in values.items()}
    if split is not None:
        record.update({'vindr/split': split, 'vindr/test_set': test_set})
    with open(osp.join(log_dir, f'{timestamp}.json'), 'w') as f:
        json.dump(record, f)
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


def test_refuses_results_of_different_splits_or_test_sets(tmp_path):
    a = write_test_json(str(tmp_path / 'a_seed0'), metrics(0.3, 0.1))
    b = write_test_json(str(tmp_path / 'b_seed0'), metrics(0.3, 0.1), test_set='physionet-official')
    with pytest.raises(ValueError, match='different splits / test sets'):
        compare_runs.main(['--group', 'a', a, '--group', 'b', b, '--bootstrap-draws', '0'])
    v = write_test_json(str(tmp_path / 'v_seed0'), metrics(0.3, 0.1), split='val')
    # even when non-test results are allowed, a val result never meets a test result
    with pytest.raises(ValueError, match='different splits'):
        compare_runs.main(['--group', 'a', a, '--group', 'v', v, '--allow-non-test'])


def test_refuses_validation_and_unrecorded_results_unless_asked(tmp_path):
    runs = {}
    for split in ('val', None):
        runs[split] = [
            write_test_json(str(tmp_path / f'{g}_{split}_seed0'), metrics(0.3, 0.1), split=split)
            for g in ('a', 'b')
        ]
    args = ['--group', 'a', runs['val'][0], '--group', 'b', runs['val'][1]]
    with pytest.raises(ValueError, match="on the 'val' split.*--allow-non-test"):
        compare_runs.main(args)
    assert compare_runs.main(args + ['--allow-non-test'])['split'] == 'val'
    args = ['--group', 'a', runs[None][0], '--group', 'b', runs[None][1]]
    with pytest.raises(ValueError, match='does not record its split'):
        compare_runs.main(args)


def test_per_class_p_values_are_holm_adjusted(runs, capsys):
    paths, _, _ = runs
    summary = compare_runs.main(
        ['--group', 'imagenet', *paths['in'].values(), '--group', 'bt-cxr', *paths['bt'].values()]
    )
    stats = summary['differences']['bt-cxr - imagenet']['stats']
    family = [k for k in summary['metrics'] if k.startswith('AP50_')]
    assert family == ['AP50_cardiomegaly', 'AP50_nodule_mass']
    from cxr_mm.evaluation.stats import holm

    expected = holm([stats[k]['p'] for k in family])
    assert [stats[k]['p_holm'] for k in family] == pytest.approx(expected.tolist())
    # cardiomegaly is 0.8 everywhere: constant (zero) difference, p = 1, not nan
    assert stats['AP50_cardiomegaly']['p'] == 1.0
    # nodule: two tests, the smaller p doubled
    assert stats['AP50_nodule_mass']['p_holm'] == pytest.approx(
        min(1.0, 2 * stats['AP50_nodule_mass']['p'])
    )
    assert 'p_holm' not in stats['mAP50']  # headline metrics are not a per-class family
    assert 'p (Holm)' in capsys.readouterr().out


def test_constant_difference_gets_sign_flip_p(tmp_path):
    a = [
        write_test_json(str(tmp_path / f'a_seed{s}'), metrics(0.30 + s / 100, 0.1))
        for s in range(3)
    ]
    b = [
        write_test_json(str(tmp_path / f'b_seed{s}'), metrics(0.33 + s / 100, 0.1))
        for s in range(3)
    ]
    diff = compare_runs.main(['--group', 'a', *a, '--group', 'b', *b])['differences']['b - a']
    # +3 points on every seed: the t-test is undefined (zero variance); exact p = 2/2**3
    assert diff['stats']['mAP50']['p'] == pytest.approx(0.25)
    assert diff['stats']['mAP50']['test'].startswith('sign-flip')


def test_fewer_than_three_paired_seeds_give_no_interval(runs, capsys):
    paths, _, _ = runs
    summary = compare_runs.main(
        ['--group', 'imagenet', paths['in'][0], paths['in'][1]]
        + ['--group', 'bt-cxr', paths['bt'][0], paths['bt'][1]]
    )
    diff = summary['differences']['bt-cxr - imagenet']
    assert diff['n'] == 2 and diff['interval'].startswith('not meaningful')
    assert math.isnan(diff['stats']['mAP50']['ci'])
    assert diff['stats']['mAP50']['mean'] == pytest.approx(0.035)
    assert 'interval not meaningful (fewer than 3 paired seeds)' in capsys.readouterr().out


def metric_run(work_dir, seed, quality, timestamp='20260101_120000'):
    """A real VinDrMetric evaluation written as tools/test.py would: <ts>/<ts>.json and
    <ts>/vindr_eval/{metrics.json,matches.npz}. ``quality`` = share of lesions found."""
    import numpy as np

    from cxr_mm.evaluation.metrics import VinDrMetric

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(40):
        n = int(rng.integers(0, 3))
        xy = rng.uniform(0, 300, (n, 2))
        gt = np.hstack([xy, xy + rng.uniform(30, 120, (n, 2))])
        labels = rng.integers(0, 2, n)
        found = rng.random(n) < quality
        boxes = np.vstack(
            [gt[found] + rng.normal(0, 3, (found.sum(), 4)), rng.uniform(0, 300, (1, 4))]
        )
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 10)
        samples.append(
            dict(
                ori_shape=(512, 512),
                gt_instances=dict(bboxes=gt, labels=labels),
                pred_instances=dict(
                    bboxes=boxes,
                    scores=rng.uniform(0.05, 1, len(boxes)),
                    labels=np.concatenate([labels[found], rng.integers(0, 2, 1)]),
                ),
            )
        )
    log_dir = osp.join(work_dir, timestamp)
    metric = VinDrMetric(coco=False, plot=False, out_dir=osp.join(log_dir, 'vindr_eval'))
    metric.dataset_meta = dict(classes=('A', 'B'), split='test', test_set='kaggle-split-seed0')
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    with open(osp.join(log_dir, f'{timestamp}.json'), 'w') as f:
        json.dump(res, f)
    return work_dir, res


def test_single_run_gets_image_bootstrap_interval(tmp_path, capsys):
    run, res = metric_run(str(tmp_path / 'bt_seed0'), seed=0, quality=0.7)
    summary = compare_runs.main(['--group', 'bt', run, '--bootstrap-draws', '300'])
    boot = summary['groups']['bt']['bootstrap']
    for key in ('mAP50', 'CPM'):
        assert boot[key]['estimate'] == pytest.approx(res[f'vindr/{key}'], abs=1e-6)
        assert boot[key]['ci_low'] < boot[key]['estimate'] < boot[key]['ci_high']
        assert boot[key]['num_draws'] == 300 and boot[key]['seed'] == 0
    assert 'image-level bootstrap interval' in capsys.readouterr().out
    again = compare_runs.main(['--group', 'bt', run, '--bootstrap-draws', '300'])
    assert again['groups']['bt']['bootstrap'] == boot  # seeded
    # a result without matches.npz says how to get one instead of inventing an interval
    bare = write_test_json(str(tmp_path / 'old_seed0'), metrics(0.3, 0.1))
    note = compare_runs.main(['--group', 'old', bare])['groups']['old']['bootstrap']
    assert 'no matches.npz' in note


def test_label_efficiency_plot(tmp_path):
    args, expected = [], {}
    for init, quality in (('imagenet', 0.4), ('bt-cxr', 0.6)):
        for pct in (10, 100):
            q = quality + (0.3 if pct == 100 else 0.0)
            run, res = metric_run(str(tmp_path / f'{init}_{pct}_seed0'), seed=pct, quality=q)
            args += ['--group', f'{init}@{pct}', run]
            expected[(init, pct)] = res['vindr/mAP50']
    png = tmp_path / 'plots' / 'label_efficiency.png'
    summary = compare_runs.main(
        args + ['--plot', str(png), '--bootstrap-draws', '200', '--pair-by', 'order']
    )
    # differences within a label fraction, never across
    assert list(summary['differences']) == ['bt-cxr@10 - imagenet@10', 'bt-cxr@100 - imagenet@100']
    series = summary['plot']['series']
    assert list(series) == ['imagenet', 'bt-cxr'] and sorted(series['imagenet']) == [0.1, 1.0]
    for (init, pct), value in expected.items():
        point = series[init][pct / 100]['mAP50']
        assert point['mean'] == pytest.approx(value)
        assert point['low'] < point['mean'] < point['high']  # bootstrap of the single run
        assert 'CPM' in series[init][pct / 100]
    import matplotlib.image as mpimg

    img = mpimg.imread(str(png))
    assert img.shape[1] > 400 and img[..., :3].std() > 0.01
    with pytest.raises(ValueError, match='not named <init>@<percent>'):
        compare_runs.main(['--group', 'imagenet', args[2], '--plot', str(png)])


@pytest.mark.slow
def test_real_test_run_records_split_and_is_compared(tmp_path):
    """mmengine's Runner with VinDrMetric: the split strings pass validation logging and
    reach tools/test.py's <ts>/<ts>.json, and compare_runs reads the run (with bootstrap)."""
    from cxr_testing import full_config, make_coco_set
    from mmengine.runner import Runner

    import cxr_mm.register  # noqa: F401  (custom_imports only act in Config.fromfile)

    (tmp_path / 'data').mkdir()
    root = make_coco_set(tmp_path / 'data')
    cfg = full_config(root, tmp_path / 'run_seed0')
    for split in ('val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        ds.metainfo = dict(ds.metainfo, split=split, test_set='toy-coco')
        cfg[f'{split}_evaluator'] = dict(type='VinDrMetric', coco=False)
    cfg.visualizer.vis_backends = cfg.vis_backends = [dict(type='LocalVisBackend')]
    runner = Runner.from_cfg(cfg)
    assert runner.val()['vindr/split'] == 'val'
    metrics = runner.test()
    assert metrics['vindr/split'] == 'test' and metrics['vindr/test_set'] == 'toy-coco'
    result = compare_runs.find_result_file(str(tmp_path / 'run_seed0'))
    with open(result) as f:
        record = json.load(f)
    assert record['vindr/split'] == 'test' and 'vindr/CPM' in record
    summary = compare_runs.main(['--group', 'toy', str(tmp_path / 'run_seed0')])
    assert summary['split'] == 'test' and summary['test_set'] == 'toy-coco'
    assert isinstance(summary['groups']['toy']['bootstrap'], dict)
