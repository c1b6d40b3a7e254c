"""bench/cam_speed.py fails loudly on heatmaps that differ, are NaN or all zero."""

import numpy as np
from cxr_testing import load_tool


def test_check_heatmaps_catches_each_failure():
    bench = load_tool('bench/cam_speed.py')
    rng = np.random.default_rng(0)
    ref = rng.random((3, 8, 8)).astype(np.float32)
    assert bench.check_heatmaps(ref.copy(), ref) == []
    assert bench.check_heatmaps(ref + 5e-5, ref) == []

    differ = ref.copy()
    differ[1, 2, 2] += 1e-3
    assert 'differ' in ' '.join(bench.check_heatmaps(differ, ref))

    nan = ref.copy()
    nan[2, 0, 0] = np.nan  # max |diff| would be NaN, which compares False
    msg = bench.check_heatmaps(nan, ref)
    assert msg == ['ours: heatmaps [2] contain NaN or inf']

    zero = ref.copy()
    zero[0] = 0
    assert bench.check_heatmaps(zero, zero) == [
        'ours: heatmaps [0] are all zero',
        'grad-cam: heatmaps [0] are all zero',
    ]
    assert 'shapes differ' in bench.check_heatmaps(ref[:2], ref)[0]
    assert bench.check_heatmaps(ref[:0], ref[:0]) == ['no heatmaps to compare']


def test_tiny_run_passes(capsys):
    bench = load_tool('bench/cam_speed.py')
    assert bench.main(['--tiny', '--threads', '1']) == 0
    out = capsys.readouterr().out
    assert 'EQUAL' in out and 'FAILED' not in out
