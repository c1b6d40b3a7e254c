"""A tiny model/dataset pair registered in mmengine's root registries.

Used to test the runner plumbing (resume, DDP through tools/dist_train.sh and
tools/dist_test.sh, mim) in
seconds; the real models have their own tests.
"""

import os.path as osp

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS


@MODELS.register_module(force=True)
class ToyRegressor(BaseModel):
    """Linear regression with BN (a buffer) so state beyond weights is checked."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(8, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, inputs, targets=None, mode='tensor', **kwargs):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.bn(self.fc(inputs))
        if mode == 'loss':
            targets = torch.stack(targets) if isinstance(targets, list) else targets
            return dict(loss=((out - targets) ** 2).mean())
        return out


@DATASETS.register_module(force=True)
class ToyRegressionDataset(BaseDataset):
    """Deterministic random regression samples."""

    def __init__(self, num_samples=64, **kwargs):
        self.num_samples = num_samples
        super().__init__(serialize_data=False, lazy_init=False, **kwargs)

    def load_data_list(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.num_samples, 8, generator=g)
        y = x[:, :4] * 2 + 1
        return [dict(inputs=x[i], targets=y[i]) for i in range(self.num_samples)]


@HOOKS.register_module(force=True)
class DumpWeightsHook(Hook):
    """Saves each rank's final state dict so a test can compare ranks."""

    def after_train(self, runner):
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.save(
            {k: v.detach().cpu() for k, v in model.state_dict().items()},
            osp.join(runner.work_dir, f'final_weights_rank{rank}.pth'),
        )
        with open(osp.join(runner.work_dir, f'world_size_rank{rank}.txt'), 'w') as f:
            f.write(str(dist.get_world_size() if dist.is_initialized() else 1))


@METRICS.register_module(force=True)
class ToyMSEMetric(BaseMetric):
    """Mean squared error and the number of samples seen (all ranks gathered)."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        targets = data_batch['targets']
        targets = torch.stack(targets) if isinstance(targets, list) else targets
        for pred, target in zip(data_samples, targets):
            self.results.append(float(((pred - target) ** 2).mean()))

    def compute_metrics(self, results):
        return dict(mse=sum(results) / len(results), count=len(results))
