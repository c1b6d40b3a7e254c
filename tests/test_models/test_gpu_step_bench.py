"""bench/gpu_step.py: the smoke version (CPU) runs both stages end to end and prints
every row of the GPU table (issue 11.4); the GPU figures come from --device cuda."""

import re

import pytest
from cxr_testing import run_tool


@pytest.mark.slow
def test_cpu_smoke_prints_the_table():
    proc = run_tool(['bench/gpu_step.py', '--device', 'cpu'], timeout=600)
    out = proc.stdout
    assert 'smoke version' in out
    row = re.search(r'stage 1 train, batch 2 x 64 px\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)', out)
    assert row, out
    ours, stock, ratio = map(float, row.groups())
    assert ours > 0 and stock > 0 and ratio == pytest.approx(ours / stock, rel=0.1)
    for name in ('stage 2 train, batch 1 x 128 px', 'stage 2 inference, batch 1 x 128 px'):
        rate = re.search(re.escape(name) + r'\s+([\d.]+)', out)
        assert rate and float(rate.group(1)) > 0, name
    assert re.search(r'projected stage 1, 800 epochs x 86524 images at batch 2 .*: [\d.]+ h', out)
