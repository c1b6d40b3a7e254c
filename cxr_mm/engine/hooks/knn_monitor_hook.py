# Copyright (c) cxr-mm contributors. All rights reserved.
"""A stage-1 progress signal: weighted k-NN multi-label AUC of the backbone."""

import copy
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import collect_results, get_dist_info, is_distributed, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

#: Keys of the training dataset config that name the NIH files (copied when
#: ``dataset`` is None, so ``--cfg-options`` on the data root reach the hook).
DATASET_KEYS = (
    'type',
    'data_root',
    'ann_file',
    'data_prefix',
    'train_val_list',
    'test_list',
    'val_ratio',
    'seed',
    'view_positions',
)


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Weighted k-NN mean AUC of the backbone's pooled features during pretraining.

    Barlow Twins (Zbontar et al., ICML 2021) and BarlowTwins-CXR (Sheng et al.,
    2024) judge the representation by a linear evaluation after pretraining;
    this hook gives the signal during it, as solo-learn's and lightly's k-NN
    monitors do for ImageNet, but multi-label: every ``interval`` epochs (or
    iterations with ``by_epoch=False``) it embeds a fixed labelled NIH
    ``query_split`` subset and a labelled ``reference_split`` subset (global
    average pooled last stage, no gradients, each rank its share, gathered
    with ``mmengine.dist``), scores each finding by
    :func:`~cxr_mm.evaluation.functional.knn.knn_multilabel_scores` and logs
    the mean ROC AUC and the AUC per finding to the logger and the visualizer
    backends (TensorBoard), tags ``{prefix}/mAUC``, ``{prefix}/AUC_<finding>``,
    ``{prefix}/seconds``. It also runs before the first epoch (``epoch 0``:
    the ImageNet or random start), so the curve shows whether pretraining
    helps. Its cost is bounded by the subset sizes and the interval and
    logged against the rest of training.

    The official test list is never used. Train and val are the dataset's
    patient-disjoint carve-out of the train_val list; pretraining sees both
    images unlabeled, never their labels.

    Args:
        interval (int): epochs (iterations when ``by_epoch=False``) between
            evaluations; the last one always runs. Defaults to 10.
        by_epoch (bool): count ``interval`` in epochs. Defaults to True.
        num_query (int): query images (fixed seeded subset). Defaults to 1000.
        num_reference (int): reference images. Defaults to 2000.
        k (int): neighbours. Defaults to 20.
        query_split (str): NIH split of the queries. Defaults to 'val'.
        reference_split (str): NIH split of the references. Defaults to 'train'.
        dataset (dict, optional): ``NIHChestXrayDataset`` arguments; None
            takes the files from ``train_dataloader.dataset``.
        image_size (int): square resize of the embedded images. Defaults to 224.
        batch_size (int): images per forward (per rank). Defaults to 64.
        num_workers (int): data loader workers. Defaults to 4.
        seed (int): seed of the subsets. Defaults to 0.
        before_train (bool): evaluate the starting weights. Defaults to True.
        prefix (str): scalar name prefix. Defaults to 'knn'.
    """

    priority = 'LOW'

    def __init__(
        self,
        interval: int = 10,
        by_epoch: bool = True,
        num_query: int = 1000,
        num_reference: int = 2000,
        k: int = 20,
        query_split: str = 'val',
        reference_split: str = 'train',
        dataset: Optional[dict] = None,
        image_size: int = 224,
        batch_size: int = 64,
        num_workers: int = 4,
        seed: int = 0,
        before_train: bool = True,
        prefix: str = 'knn',
    ) -> None:
        if interval < 1 or num_query < 1 or num_reference < 1 or k < 1:
            raise ValueError('interval, num_query, num_reference and k must be >= 1')
        self.interval = interval
        self.by_epoch = by_epoch
        self.num = dict(query=num_query, reference=num_reference)
        self.split = dict(query=query_split, reference=reference_split)
        self.k = k
        self.dataset_cfg = dataset
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.eval_before_train = before_train
        self.prefix = prefix
        self.total_seconds = 0.0
        self._run_start: Optional[float] = None
        self._sets: Dict[str, Tuple[object, np.ndarray]] = {}
        self.history: List[Tuple[str, int, Dict[str, float]]] = []

    # -- data ------------------------------------------------------------------
    def _base_dataset_cfg(self, runner) -> dict:
        if self.dataset_cfg is not None:
            return copy.deepcopy(dict(self.dataset_cfg))
        src = runner.cfg.train_dataloader.dataset
        while 'dataset' in src and 'ann_file' not in src:  # dataset wrappers
            src = src.dataset
        return {key: copy.deepcopy(src[key]) for key in DATASET_KEYS if key in src}

    def _build_sets(self, runner) -> None:
        from mmpretrain.registry import DATASETS
        from mmpretrain.structures import label_to_onehot

        base = self._base_dataset_cfg(runner)
        pipeline = [
            dict(type='LoadCXRImage', color_type='color'),
            dict(type='Resize', scale=(self.image_size, self.image_size), backend='pillow'),
            dict(type='PackInputs'),
        ]
        rank, world = get_dist_info()
        for role in ('query', 'reference'):
            cfg = dict(base, split=self.split[role], mode='multilabel', pipeline=pipeline)
            ds = DATASETS.build(cfg)
            n = len(ds)
            rng = np.random.default_rng(self.seed + (role == 'reference'))
            chosen = np.sort(rng.permutation(n)[: min(self.num[role], n)])
            num_classes = len(ds.metainfo['classes'])
            labels = np.stack(
                [
                    label_to_onehot(ds.get_data_info(int(i))['gt_label'], num_classes).numpy()
                    for i in chosen
                ]
            ).astype(np.float32)
            ds.get_subset_([int(i) for i in chosen[rank::world]])  # this rank's share
            self._sets[role] = (ds, labels)
        self.classes = list(ds.metainfo['classes'])

    # -- embedding -------------------------------------------------------------
    @torch.no_grad()
    def _embed(self, model, dataset, size: int) -> np.ndarray:
        from mmengine.dataset import default_collate
        from torch.utils.data import DataLoader

        loader = DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            shuffle=False,
            collate_fn=default_collate,
        )
        rows: List[np.ndarray] = []
        for batch in loader:
            data = model.data_preprocessor(dict(inputs=[batch['inputs']], data_samples=None))
            feats = model.backbone(data['inputs'][0])[-1]
            rows += list(feats.float().mean(dim=(2, 3)).cpu().numpy())
        device = 'gpu' if is_distributed() and torch.cuda.is_available() else 'cpu'
        # Each rank holds chosen[rank::world]; collect_results interleaves them back.
        gathered = collect_results(rows, size, device=device)
        return np.stack(gathered) if gathered is not None else None

    def evaluate(self, runner) -> Optional[Dict[str, float]]:
        """Embed both subsets with the current backbone; the metrics on rank 0."""
        from ...evaluation.functional.knn import knn_multilabel_auc

        if not self._sets:
            self._build_sets(runner)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        training = model.training
        model.eval()
        try:
            emb = {
                role: self._embed(model, ds, len(labels))
                for role, (ds, labels) in self._sets.items()
            }
        finally:
            model.train(training)
        if not is_main_process():
            return None
        device = next(model.parameters()).device
        return knn_multilabel_auc(
            torch.from_numpy(emb['query']).to(device),
            torch.from_numpy(self._sets['query'][1]),
            torch.from_numpy(emb['reference']).to(device),
            torch.from_numpy(self._sets['reference'][1]).to(device),
            k=self.k,
            classes=self.classes,
        )

    # -- hook points -------------------------------------------------------------
    def before_run(self, runner) -> None:
        self._run_start = time.perf_counter()

    def before_train(self, runner) -> None:
        # Not after a resume: epoch 0 is the starting weights only.
        if self.eval_before_train and runner.iter == 0:
            self._run(runner, 'epoch' if self.by_epoch else 'iter', 0)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and (
            self.every_n_epochs(runner, self.interval) or self.is_last_train_epoch(runner)
        ):
            self._run(runner, 'epoch', runner.epoch + 1)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.by_epoch and (
            self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner)
        ):
            self._run(runner, 'iter', runner.iter + 1)

    def _run(self, runner, unit: str, step: int) -> None:
        t0 = time.perf_counter()
        metrics = self.evaluate(runner)
        seconds = time.perf_counter() - t0
        self.total_seconds += seconds
        if metrics is None:
            return
        self.history.append((unit, step, metrics))
        elapsed = time.perf_counter() - (self._run_start or t0)
        rest = elapsed - self.total_seconds
        # at step 0 nothing else has run yet: a ratio would be meaningless
        cost = (
            f'adds {100 * self.total_seconds / rest:.1f}% to the run so far'
            if step > 0 and rest > 0
            else 'before training'
        )
        n_q, n_r = (len(self._sets[r][1]) for r in ('query', 'reference'))
        runner.logger.info(
            f'KNNMonitorHook {unit} {step}: {self.k}-NN mean AUC {metrics["mean"]:.4f} '
            f'({n_q} {self.split["query"]} queries, {n_r} {self.split["reference"]} references, '
            f'{metrics["num_skipped"]} findings without both labels), {seconds:.1f} s '
            f'(kNN total {self.total_seconds:.1f} s: {cost})'
        )
        per = ', '.join(f'{c} {metrics[c]:.3f}' for c in self.classes)
        runner.logger.info(f'KNNMonitorHook {unit} {step} AUC per finding: {per}')
        scalars = {f'{self.prefix}/mAUC': metrics['mean'], f'{self.prefix}/seconds': seconds}
        for c in self.classes:
            if np.isfinite(metrics[c]):
                scalars[f'{self.prefix}/AUC_{c.replace(" ", "_")}'] = metrics[c]
        runner.visualizer.add_scalars(scalars, step=step)
        runner.message_hub.update_info(f'{self.prefix}/mAUC', metrics['mean'])


__all__ = ['KNNMonitorHook']
