"""Multi-process training and testing through tools/dist_{train,test}.sh (torchrun +
gloo), and mim."""

import os.path as osp
import re
import shutil
import sys

import pytest
import torch
from cxr_testing import (
    TOY_CONFIG,  # noqa: E402
    run_tool,
)


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory):
    """One 2-rank training run of the toy config: (work dir, its output)."""
    work_dir = tmp_path_factory.mktemp('dist_train')
    proc = run_tool(
        ['bash', 'tools/dist_train.sh', TOY_CONFIG, '2', '--work-dir', str(work_dir)],
        env={'PYTHON': sys.executable, 'PORT': '29517'},
        timeout=300,
    )
    return work_dir, proc


def test_dist_train_two_cpu_ranks_agree(dist_run):
    tmp_path, proc = dist_run
    assert 'gloo' in proc.stdout + proc.stderr
    for rank in (0, 1):
        assert (tmp_path / f'world_size_rank{rank}.txt').read_text() == '2'
    w0 = torch.load(tmp_path / 'final_weights_rank0.pth')
    w1 = torch.load(tmp_path / 'final_weights_rank1.pth')
    # parameters are all-reduced each step; BN running stats stay per rank
    # (mmengine's default broadcast_buffers=False)
    params = [
        k for k in w0 if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))
    ]
    assert params == ['fc.weight', 'fc.bias', 'bn.weight', 'bn.bias']
    for key in params:
        torch.testing.assert_close(w0[key], w1[key], rtol=0, atol=0)
    # and they did train: the ranks saw different data, yet agree
    assert not torch.equal(w0['bn.running_mean'], w1['bn.running_mean'])
    assert (tmp_path / 'iter_8.pth').is_file()


def toy_metrics(output):
    found = re.findall(r'toy/mse: ([0-9.]+)\s+toy/count: ([0-9.]+)', output)
    assert found, output[-3000:]
    mse, count = found[-1]
    return float(mse), float(count)


def test_dist_test_two_cpu_ranks_gather_every_sample(dist_run, tmp_path):
    ckpt = str(dist_run[0] / 'iter_8.pth')
    single = run_tool(
        ['tools/test.py', TOY_CONFIG, ckpt, '--work-dir', str(tmp_path / 'single')], timeout=300
    )
    dist = run_tool(
        ['bash', 'tools/dist_test.sh', TOY_CONFIG, ckpt, '2', '--work-dir', str(tmp_path / 'dist')],
        env={'PYTHON': sys.executable, 'PORT': '29518'},
        timeout=300,
    )
    assert 'gloo' in dist.stdout + dist.stderr
    mse_single, n_single = toy_metrics(single.stdout + single.stderr)
    mse_dist, n_dist = toy_metrics(dist.stdout + dist.stderr)
    # each rank scores half of the 64 samples; the metric sees all of them once
    assert n_single == n_dist == 64
    assert abs(mse_single - mse_dist) <= 1e-4 * max(1.0, mse_single)


@pytest.mark.parametrize('codebase', ['mmdet', 'mmpretrain'])
def test_mim_train(codebase, tmp_path):
    mim = shutil.which('mim', path=osp.dirname(sys.executable))
    assert mim, 'openmim is part of the install'
    run_tool(
        [
            mim,
            'train',
            codebase,
            TOY_CONFIG,
            '--gpus',
            '0',
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            f'default_scope={codebase}',
        ],
        timeout=300,
    )
    assert (tmp_path / 'iter_8.pth').is_file()
