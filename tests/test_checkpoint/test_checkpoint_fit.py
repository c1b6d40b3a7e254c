"""tools/test.py refuses a checkpoint that does not fit the model (issue 10.2), unless
--allow-partial-checkpoint; mmengine alone evaluates random tensors in their place."""

import pytest
import torch
from cxr_testing import TOY_CONFIG, run_tool

from cxr_mm.checkpoint import CheckpointMismatchError, check_checkpoint_fits, checkpoint_fit


class Toy(torch.nn.Module):
    """The toy config's model layout (tests/test_tools/toy: fc 8->4, BatchNorm1d)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)
        self.bn = torch.nn.BatchNorm1d(4)


def save(path, state_dict):
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=1)), path)
    return str(path)


@pytest.fixture
def good(tmp_path):
    torch.manual_seed(0)
    return save(tmp_path / 'good.pth', Toy().state_dict())


@pytest.fixture
def partial(tmp_path):
    """Another model's checkpoint: the BN is missing, a head the toy lacks is present."""
    state = {k: v for k, v in Toy().state_dict().items() if not k.startswith('bn.')}
    state['head.fc.weight'] = torch.zeros(2, 4)
    return save(tmp_path / 'other_model.pth', state)


def test_fit_is_exact(good, tmp_path):
    assert checkpoint_fit(Toy(), good).ok
    ddp = {f'module.{k}': v for k, v in Toy().state_dict().items()}  # saved without unwrapping
    assert checkpoint_fit(Toy(), save(tmp_path / 'ddp.pth', ddp)).ok
    wide = dict(Toy().state_dict(), **{'fc.weight': torch.zeros(4, 9)})
    diff = checkpoint_fit(Toy(), save(tmp_path / 'wide.pth', wide))
    assert diff.mismatched == ['fc.weight: checkpoint (4, 9) vs model (4, 8)']


def test_partial_is_refused_unless_allowed(partial):
    with pytest.raises(CheckpointMismatchError, match='other_model.pth does not fit') as err:
        check_checkpoint_fits(Toy(), partial)
    message = str(err.value)
    assert 'bn.running_var' in message and 'head.fc.weight' in message
    assert '--allow-partial-checkpoint' in message
    diff = check_checkpoint_fits(Toy(), partial, allow_partial=True)
    assert 'bn.weight' in diff.missing and diff.unexpected == ['head.fc.weight']


@pytest.mark.slow
def test_tool_refuses_then_allows(good, partial, tmp_path):
    args = ['tools/test.py', TOY_CONFIG]
    ok = run_tool(args + [good, '--work-dir', str(tmp_path / 'good')], timeout=300)
    assert 'toy/mse' in ok.stdout + ok.stderr

    refused = run_tool(
        args + [partial, '--work-dir', str(tmp_path / 'p')], timeout=300, check=False
    )
    assert refused.returncode != 0
    assert 'CheckpointMismatchError' in refused.stderr and 'bn.running_mean' in refused.stderr
    assert 'toy/mse' not in refused.stdout + refused.stderr  # nothing was evaluated

    allowed = run_tool(
        args + [partial, '--work-dir', str(tmp_path / 'a'), '--allow-partial-checkpoint'],
        timeout=300,
    )
    log = allowed.stdout + allowed.stderr
    assert '--allow-partial-checkpoint: ' in log and 'toy/mse' in log
