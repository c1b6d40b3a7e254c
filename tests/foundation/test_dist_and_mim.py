"""Multi-process training through tools/dist_train.sh (torchrun + gloo) and mim."""
import os.path as osp
import shutil
import sys

import pytest
import torch

from cxr_testing import run_tool

TOY_CONFIG = osp.join(osp.dirname(__file__), 'toy_config.py')


def test_dist_train_two_cpu_ranks_agree(tmp_path):
    proc = run_tool(['bash', 'tools/dist_train.sh', TOY_CONFIG, '2',
                     '--work-dir', str(tmp_path)],
                    env={'PYTHON': sys.executable, 'PORT': '29517'}, timeout=300)
    assert 'gloo' in proc.stdout + proc.stderr
    for rank in (0, 1):
        assert (tmp_path / f'world_size_rank{rank}.txt').read_text() == '2'
    w0 = torch.load(tmp_path / 'final_weights_rank0.pth')
    w1 = torch.load(tmp_path / 'final_weights_rank1.pth')
    # parameters are all-reduced each step; BN running stats stay per rank
    # (mmengine's default broadcast_buffers=False)
    params = [k for k in w0 if not k.endswith(('running_mean', 'running_var',
                                                'num_batches_tracked'))]
    assert params == ['fc.weight', 'fc.bias', 'bn.weight', 'bn.bias']
    for key in params:
        torch.testing.assert_close(w0[key], w1[key], rtol=0, atol=0)
    # and they did train: the ranks saw different data, yet agree
    assert not torch.equal(w0['bn.running_mean'], w1['bn.running_mean'])
    assert (tmp_path / 'iter_8.pth').is_file()


@pytest.mark.parametrize('codebase', ['mmdet', 'mmpretrain'])
def test_mim_train(codebase, tmp_path):
    mim = shutil.which('mim', path=osp.dirname(sys.executable))
    assert mim, 'openmim is part of the install'
    run_tool([mim, 'train', codebase, TOY_CONFIG, '--gpus', '0',
              '--work-dir', str(tmp_path), '--cfg-options',
              f'default_scope={codebase}'], timeout=300)
    assert (tmp_path / 'iter_8.pth').is_file()
