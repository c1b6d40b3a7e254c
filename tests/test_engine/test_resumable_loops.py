"""ResumableEpochBasedTrainLoop / ResumableIterBasedTrainLoop + RNGStateHook, in process.

A toy model with dropout (torch stream) on data with numpy and python noise added
per sample, validated after every epoch (the validation loader draws from the torch
stream too). Resuming from any checkpoint, mid-epoch, at an epoch end before
validation, or the best checkpoint written during validation, must end with the
uninterrupted run's weights; the stock mmengine loop and a run without the hook must
not (which is what makes the test able to fail).
"""

import random

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from mmengine.runner import Runner

import cxr_mm.register  # noqa: F401
from cxr_mm.checkpoint import safe_torch_load
from cxr_mm.engine.hooks.rng_state_hook import get_rng_state, set_rng_state


@MODELS.register_module(force=True)
class _DropoutRegressor(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, inputs, targets=None, mode='tensor', **kwargs):
        out = self.fc(self.drop(inputs))
        if mode == 'loss':
            return dict(loss=((out - targets) ** 2).mean())
        return out


@DATASETS.register_module(force=True)
class _NoisyDataset(BaseDataset):
    """Samples with per-draw numpy and python noise: an augmentation stand-in."""

    def __init__(self, **kwargs):
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 8, generator=g)
        return [dict(inputs=x[i], targets=x[i, :4] * 2) for i in range(16)]

    def prepare_data(self, idx):
        item = dict(self.get_data_info(idx))
        noise = np.random.normal(0, 0.1, 8) + random.gauss(0, 0.1)
        item['inputs'] = item['inputs'] + torch.from_numpy(noise).float()
        return item


@METRICS.register_module(force=True)
class _NegLoss(BaseMetric):
    def process(self, data_batch, data_samples):
        for pred, target in zip(data_samples, data_batch['targets']):
            self.results.append(-float(((pred - target) ** 2).mean()))

    def compute_metrics(self, results):
        return dict(score=float(np.mean(results)))


def _loader(shuffle, sampler='DefaultSampler'):
    return dict(
        batch_size=4,  # 4 iterations per epoch
        num_workers=0,
        sampler=dict(type=sampler, shuffle=shuffle),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='_NoisyDataset'),
    )


def _train(work_dir, name, loop='ResumableEpochBasedTrainLoop', rng_hook=True, resume=None):
    by_epoch = loop.endswith('EpochBasedTrainLoop')
    runner = Runner(
        model=dict(type='_DropoutRegressor'),
        work_dir=str(work_dir),
        experiment_name=name,
        # (InfiniteSampler: mmengine's iteration loop sleeps 2 s at each restart of a
        # DefaultSampler loader)
        train_dataloader=_loader(True, 'DefaultSampler' if by_epoch else 'InfiniteSampler'),
        val_dataloader=_loader(False),
        val_evaluator=dict(type='_NegLoss'),
        train_cfg=dict(type=loop, max_epochs=3) if by_epoch else dict(type=loop, max_iters=12),
        val_cfg=dict(type='ValLoop'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=False, T_max=12)],
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=2,
                max_keep_ckpts=-1,
                save_best='score' if by_epoch else None,
                rule='greater',
            ),
            # mmengine refuses None for a key it does not know, so leave it out
            **(dict(rng_state=dict(type='RNGStateHook')) if rng_hook else {}),
        ),
        randomness=dict(seed=0),
        resume=resume is not None,
        load_from=resume,
        default_scope='mmengine',
    )
    runner.train()
    return runner


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work = tmp_path_factory.mktemp('full')
    _train(work, 'full')
    return work


def _final_weights(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def _assert_equal_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize(
    'ckpt',
    [
        'iter_2.pth',  # mid-epoch (batch 2 of 4)
        'iter_4.pth',  # last batch of epoch 1, before its validation
    ],
)
def test_resume_reaches_the_uninterrupted_weights(uninterrupted, tmp_path, ckpt):
    full = safe_torch_load(str(uninterrupted / 'iter_12.pth'))['state_dict']
    runner = _train(tmp_path, f'resume_{ckpt}', resume=str(uninterrupted / ckpt))
    assert runner.iter == 12 and runner.epoch == 3
    _assert_equal_weights(_final_weights(runner), full)


def test_resume_from_best_checkpoint_written_during_validation(uninterrupted, tmp_path):
    (best,) = uninterrupted.glob('best_score_iter_*.pth')
    ckpt = safe_torch_load(str(best))
    assert ckpt['meta']['iter'] % 4 == 0  # written by the validation after an epoch
    runner = _train(tmp_path, 'resume_best', resume=str(best))
    full = safe_torch_load(str(uninterrupted / 'iter_12.pth'))['state_dict']
    _assert_equal_weights(_final_weights(runner), full)


def test_stock_loop_replays_the_epoch_and_diverges(uninterrupted, tmp_path):
    """mmengine's own loop, resumed mid-epoch, trains batches 1-2 again: 14 iterations."""
    runner = _train(
        tmp_path, 'stock', loop='EpochBasedTrainLoop', resume=str(uninterrupted / 'iter_2.pth')
    )
    assert runner.iter == 14
    full = safe_torch_load(str(uninterrupted / 'iter_12.pth'))['state_dict']
    assert not torch.equal(runner.model.state_dict()['fc.weight'], full['fc.weight'])


def test_without_the_hook_the_random_draws_restart(uninterrupted, tmp_path):
    runner = _train(tmp_path, 'no_rng', rng_hook=False, resume=str(uninterrupted / 'iter_6.pth'))
    assert runner.iter == 12
    full = safe_torch_load(str(uninterrupted / 'iter_12.pth'))['state_dict']
    assert not torch.equal(runner.model.state_dict()['fc.weight'], full['fc.weight'])


def test_iter_based_loop_resumes_exactly(tmp_path):
    loop = 'ResumableIterBasedTrainLoop'
    full = _train(tmp_path / 'full', 'iter_full', loop=loop)
    resumed = _train(
        tmp_path / 'res', 'iter_res', loop=loop, resume=str(tmp_path / 'full' / 'iter_6.pth')
    )
    assert resumed.iter == 12
    _assert_equal_weights(_final_weights(resumed), _final_weights(full))
    # mmengine's own loop skips the same batches but draws from the seed's streams
    stock = _train(
        tmp_path / 'stock',
        'iter_stock',
        loop='IterBasedTrainLoop',
        resume=str(tmp_path / 'full' / 'iter_6.pth'),
    )
    assert not torch.equal(stock.model.fc.weight, full.model.fc.weight)


def test_rng_state_round_trips_through_the_safe_loader(tmp_path):
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    torch.save(dict(rng_state=get_rng_state()), tmp_path / 'rng.pth')
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(safe_torch_load(str(tmp_path / 'rng.pth'))['rng_state'])
    torch.testing.assert_close(torch.rand(3), expected[0], rtol=0, atol=0)
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_resume_into_a_changed_dataloader_is_refused(uninterrupted, tmp_path):
    """iter_6 was epoch 2, batch 2 of 4; with 2 batches per epoch it cannot be placed."""
    from mmengine.registry import DATASETS

    @DATASETS.register_module(name='_NoisyDataset', force=True)
    class _Half(_NoisyDataset):
        def load_data_list(self):
            return super().load_data_list()[:8]

    try:
        with pytest.raises(RuntimeError, match='iteration 6 in epoch 2, .* 2 batches per epoch'):
            _train(tmp_path, 'changed', resume=str(uninterrupted / 'iter_6.pth'))
    finally:
        DATASETS.register_module(name='_NoisyDataset', force=True, module=_NoisyDataset)
