"""Resuming full mmengine checkpoints under torch's weights_only loading."""

import pickle
import re

import pytest
import torch
from cxr_testing import (
    TOY_CONFIG,  # noqa: E402
    run_tool,
)
from mmengine.runner.checkpoint import CheckpointLoader

import cxr_mm.register  # noqa: F401  (installs the loader)
from cxr_mm.checkpoint import UnsafeCheckpointError, safe_torch_load


@pytest.fixture(scope='module')
def uninterrupted_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('full')
    run_tool(['tools/train.py', TOY_CONFIG, '--work-dir', str(work_dir)])
    return work_dir


def test_plain_torch_load_refuses_mmengine_checkpoint(uninterrupted_run):
    """Proves the fix is needed: torch's default unpickler rejects the runner state."""
    with pytest.raises(pickle.UnpicklingError):
        torch.load(uninterrupted_run / 'iter_4.pth')


def test_safe_loader_reads_full_checkpoint(uninterrupted_run):
    ckpt = CheckpointLoader.load_checkpoint(
        str(uninterrupted_run / 'iter_4.pth'), map_location='cpu'
    )
    assert ckpt['meta']['iter'] == 4
    assert 'message_hub' in ckpt and 'optimizer' in ckpt
    # SGD momentum buffers survive the round trip
    assert any('momentum_buffer' in s for s in ckpt['optimizer']['state'].values())


def test_resume_continues_exactly(uninterrupted_run, tmp_path):
    """Resume from iter 4 and finish: weights equal the uninterrupted 8-iteration run."""
    proc = run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(tmp_path),
            '--resume',
            str(uninterrupted_run / 'iter_4.pth'),
        ]
    )
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 4' in log
    logged_iters = [int(m) for m in re.findall(r'Iter\(train\) \[\s*(\d+)/8\]', log)]
    assert logged_iters and min(logged_iters) == 5 and max(logged_iters) == 8
    resumed = torch.load(tmp_path / 'final_weights_rank0.pth')
    full = torch.load(uninterrupted_run / 'final_weights_rank0.pth')
    assert resumed.keys() == full.keys()
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], rtol=0, atol=0)
    # the optimizer state written at the end matches too
    a = safe_torch_load(str(tmp_path / 'iter_8.pth'))['optimizer']
    b = safe_torch_load(str(uninterrupted_run / 'iter_8.pth'))['optimizer']
    for idx in b['state']:
        torch.testing.assert_close(
            a['state'][idx]['momentum_buffer'], b['state'][idx]['momentum_buffer'], rtol=0, atol=0
        )


class _Payload:
    """Pickles to a call of os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f'touch {self.marker}',))


def test_arbitrary_object_is_refused_not_executed(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match=re.escape(str(path))):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        safe_torch_load(str(tmp_path / 'nothere.pth'))


class _SneakyGetattr:
    """Pickles to getattr(HistoryBuffer, '__init__'): attribute walking, refused."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'meta': _SneakyGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match='__init__'):
        safe_torch_load(str(path))
