# Copyright (c) cxr-mm contributors. All rights reserved.
"""Label-efficiency ablations: train on a stratified fraction of the labelled images."""

import copy
from typing import Union

from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from ...core.splits import stratified_group_subset


@DATASETS.register_module()
class LabelFractionDataset:
    """A fixed, class-stratified fraction of a detection dataset's images.

    Self-supervised pretraining is claimed to matter most when labels are scarce
    (BarlowTwins-CXR, Sheng et al., 2024), so the stage-2 ablations fine-tune on 10, 25
    and 50 % of the training images. The subset depends only on the images, their
    classes, ``fraction`` and ``seed`` (not on the initialisation or the training seed),
    so ImageNet and BarlowTwins-CXR runs see the same labelled images. Images are
    stratified by their rarest class (negatives form their own stratum) with
    :func:`cxr_mm.core.splits.stratified_group_subset`; the kept share is logged.

    Args:
        dataset (dict | BaseDataset): the full training dataset (config or object).
        fraction (float): share of images kept, in (0, 1].
        seed (int): subset seed. Defaults to 0.
        lazy_init (bool): defer loading annotations to the first access.
    """

    def __init__(
        self,
        dataset: Union[dict, BaseDataset],
        fraction: float,
        seed: int = 0,
        lazy_init: bool = False,
    ) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f'fraction must be in (0, 1], got {fraction}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.fraction = fraction
        self.seed = seed
        self._metainfo = self.dataset.metainfo
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        # Strata from the images' boxes; ignore regions (ignore_flag=1) are no class.
        box_labels = [
            [
                inst['bbox_label']
                for inst in self.dataset.get_data_info(i)['instances']
                if not inst.get('ignore_flag', 0)
            ]
            for i in range(len(self.dataset))
        ]
        labels = {i: set(b) for i, b in enumerate(box_labels)}
        self.indices = sorted(stratified_group_subset(labels, self.fraction, self.seed))
        n_boxes = sum(len(box_labels[i]) for i in self.indices)
        print_log(
            f'LabelFractionDataset: {len(self.indices)} of {len(self.dataset)} images '
            f'(fraction {self.fraction:g}, seed {self.seed}), {n_boxes} boxes',
            logger='current',
        )
        self._fully_initialized = True

    def get_data_info(self, idx: int) -> dict:
        self.full_init()
        return self.dataset.get_data_info(self.indices[idx])

    def __getitem__(self, idx: int) -> dict:
        self.full_init()
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        self.full_init()
        return len(self.indices)
