# Copyright (c) cxr-mm contributors. All rights reserved.
"""NIH ChestX-ray14 for self-supervised pretraining and multi-label eval."""

import logging
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Set

from mmengine.logging import print_log
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS

from ...core.classes import NIH_CLASSES
from ...core.splits import stratified_group_split, stratified_group_subset
from ..base import CXRDatasetMixin, check_missing_files
from .annotations import index_images, read_image_list, read_nih_csv

SPLITS = ('train', 'val', 'test', 'train_val')
MODES = ('unlabeled', 'multilabel')


@DATASETS.register_module()
class NIHChestXrayDataset(CXRDatasetMixin, MultiLabelDataset):
    """NIH ChestX-ray14 with official, patient-level splits.

    Dataset of Wang et al., "ChestX-ray8: Hospital-scale Chest X-ray Database
    and Benchmarks on Weakly-Supervised Classification and Localization of
    Common Thorax Diseases" (CVPR 2017). Used unlabeled for BarlowTwins-CXR
    pretraining (Sheng et al., 2024) and with its 14 findings for linear
    evaluation.

    Splits, in this order:

    1. ``test`` is the official ``test_list.txt``; ``train_val`` the official
       ``train_val_list.txt``. An image in both lists, or a patient with
       images in both, raises ``ValueError``: the official lists are
       patient-disjoint, so this means the lists were altered.
    2. ``val`` is ``val_ratio`` of the ``train_val`` *patients*, stratified by
       their rarest finding and seeded; ``train`` is the rest. It is computed
       on the whole list, so filters below never move a patient between
       train and val.
    3. ``view_positions`` keeps only those views (e.g. ``['PA']``).
    4. ``label_fraction`` keeps that fraction of the *patients* of
       ``train`` / ``train_val`` (stratified by rarest finding, seeded, and
       nested: for one seed the 1 % patients are among the 10 % ones);
       ignored for ``val`` and ``test`` (logged), which are never
       subsampled.
    5. Image files are looked up in ``data_prefix`` and in
       ``images_001/images`` ... ``images_012/images`` under ``data_root``;
       missing ones are skipped, counted and logged
       (``missing_files='skip'``), or raise ``FileNotFoundError``
       (``missing_files='error'``).

    ``mode='unlabeled'`` (pretraining) refuses ``split='test'`` and
    re-checks that no selected image or patient appears in ``test_list``.

    Input treatment: missing columns raise naming the file and columns;
    exact duplicate rows are dropped and counted; a repeated image with
    different values, an unknown or empty finding, ``No Finding`` combined
    with a finding or a non-integer Patient ID raise naming the file and
    line (or are dropped and counted with ``on_invalid_row='drop'``). CSV rows
    in neither list and list entries without a CSV row are counted and
    excluded. Everything is in ``self.summary`` and logged.

    Args:
        data_root (str): dataset root.
        ann_file (str): ``Data_Entry_2017.csv`` or the v2020 variant.
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'train_val'``.
        mode (str): ``'multilabel'`` (``gt_label`` = finding indices, empty
            for ``No Finding``) or ``'unlabeled'``.
        label_fraction (float): fraction of training patients to keep
            (e.g. 0.01, 0.1, 1.0).
        view_positions (Sequence[str], optional): views to keep.
        val_ratio (float): share of train_val patients used for ``val``.
        seed (int): seed of the val carve-out and of ``label_fraction``.
        train_val_list (str): official train/val list, relative to root.
        test_list (str): official test list, relative to root.
        data_prefix (str): flat image folder. Defaults to ``'images'``.
        missing_files (str): ``'skip'`` or ``'error'``.
        on_invalid_row (str): ``'error'`` or ``'drop'``.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments.
    """

    METAINFO = dict(classes=NIH_CLASSES)

    def __init__(
        self,
        data_root: str = '',
        ann_file: str = 'Data_Entry_2017.csv',
        split: str = 'train',
        mode: str = 'multilabel',
        label_fraction: float = 1.0,
        view_positions: Optional[Sequence[str]] = None,
        val_ratio: float = 0.1,
        seed: int = 0,
        train_val_list: str = 'train_val_list.txt',
        test_list: str = 'test_list.txt',
        data_prefix: str = 'images',
        missing_files: str = 'skip',
        on_invalid_row: str = 'error',
        **kwargs,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        if mode == 'unlabeled' and split == 'test':
            raise ValueError(
                "mode='unlabeled' (pretraining) cannot use split='test': "
                'test images must never be seen in pretraining.'
            )
        if not 0 < label_fraction <= 1:
            raise ValueError(f'label_fraction must be in (0, 1], got {label_fraction}')
        if not 0 <= val_ratio < 1:
            raise ValueError(f'val_ratio must be in [0, 1), got {val_ratio}')
        check_missing_files(missing_files)
        self.split = split
        self.mode = mode
        self.label_fraction = float(label_fraction)
        self.view_positions = None if view_positions is None else tuple(view_positions)
        self.val_ratio = float(val_ratio)
        self.seed = seed
        self.train_val_list = train_val_list
        self.test_list = test_list
        self.missing_files = missing_files
        self.on_invalid_row = on_invalid_row
        self.summary: dict = {}
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix, **kwargs)

    @staticmethod
    def _patient_labels(
        pid_of: Dict[str, int], labels_of: Dict[str, tuple], images: Sequence[str]
    ) -> Dict[int, Set[int]]:
        out: Dict[int, Set[int]] = defaultdict(set)
        for i in images:
            out[pid_of[i]].update(labels_of[i])
        return dict(out)

    def load_data_list(self) -> List[dict]:
        """Read the CSV and lists, split by patient, filter (see class doc)."""
        classes = self.metainfo['classes']
        table, stats = read_nih_csv(self.ann_file, classes, self.on_invalid_row)
        tv_path = self._root_path(self.train_val_list)
        test_path = self._root_path(self.test_list)
        tv_listed, test_listed = read_image_list(tv_path), read_image_list(test_path)
        tv_set, test_set = set(tv_listed), set(test_listed)
        # Plain dicts: per-image pandas lookups are slow on 112k images.
        pid_of = dict(zip(table.index, table['patient_id'].astype(int)))
        view_of = dict(zip(table.index, table['view']))
        labels_of = dict(zip(table.index, table['labels']))

        both = tv_set & test_set
        if both:
            raise ValueError(
                f'{len(both)} image(s) are in both {tv_path} and {test_path}'
                f', e.g. {sorted(both)[:5]}: the test set would leak.'
            )
        known = set(table.index)
        stats['listed_not_in_csv'] = len((tv_set | test_set) - known)
        stats['in_csv_not_listed'] = len(known - tv_set - test_set)
        tv_images = sorted(tv_set & known)
        test_images = sorted(test_set & known)
        test_patients = {pid_of[i] for i in test_images}
        leak = sorted({pid_of[i] for i in tv_images} & test_patients)
        if leak:
            raise ValueError(
                f'{len(leak)} patient(s) have images in both {tv_path} and '
                f'{test_path} (e.g. Patient ID {leak[:5]}); the official NIH '
                f'lists are patient-disjoint, so these lists would leak test '
                f'patients into training.'
            )

        # Validation carved out of train_val by patient, on the full list.
        tv_patient_labels = self._patient_labels(pid_of, labels_of, tv_images)
        val_p = (
            set(
                stratified_group_split(
                    tv_patient_labels, [1 - self.val_ratio, self.val_ratio], self.seed
                )[1]
            )
            if self.val_ratio > 0
            else set()
        )
        if self.split == 'test':
            images = test_images
        elif self.split == 'train_val':
            images = tv_images
        else:
            want_val = self.split == 'val'
            images = [i for i in tv_images if (pid_of[i] in val_p) == want_val]
        n_split = len(images)

        if self.view_positions is not None:
            keep = set(self.view_positions)
            images = [i for i in images if view_of[i] in keep]
        n_view_removed = n_split - len(images)

        n_before_fraction = len(images)
        if self.label_fraction < 1:
            if self.split in ('train', 'train_val'):
                plabels = self._patient_labels(pid_of, labels_of, images)
                chosen = set(stratified_group_subset(plabels, self.label_fraction, self.seed))
                images = [i for i in images if pid_of[i] in chosen]
            else:
                print_log(
                    f'NIHChestXrayDataset: label_fraction='
                    f'{self.label_fraction} ignored for split={self.split!r}'
                    f' (evaluation sets are never subsampled)',
                    logger='current',
                    level=logging.WARNING,
                )

        if self.mode == 'unlabeled':
            # Defence in depth: nothing above may have let test data in.
            bad = [i for i in images if i in test_set or pid_of[i] in test_patients]
            if bad:
                raise ValueError(
                    f'Pretraining selection contains test images or patients, e.g. {bad[:5]}'
                )

        index = index_images(self.img_prefix, self.data_root)
        missing = [i for i in images if i not in index]
        self._report_missing(
            missing, f'of split {self.split!r} (under {self.img_prefix} or images_*/images)'
        )
        if missing and len(missing) == len(images):
            raise FileNotFoundError(
                f'None of the {len(images)} images of split '
                f'{self.split!r} was found under {self.img_prefix} or '
                f'{self.data_root}/images_*/images.'
            )

        data_list = []
        for i in images:
            if i not in index:
                continue
            info = dict(img_path=index[i], patient_id=int(pid_of[i]), view_position=view_of[i])
            if self.mode == 'multilabel':
                info['gt_label'] = list(labels_of[i])
            data_list.append(info)

        self.summary = dict(
            ann_file=self.ann_file,
            split=self.split,
            mode=self.mode,
            rows={k: int(v) for k, v in sorted(stats.items())},
            train_val_patients=len(tv_patient_labels),
            val_patients=len(val_p),
            test_patients=len(test_patients),
            images_in_split=n_split,
            removed_by_view=n_view_removed,
            removed_by_label_fraction=n_before_fraction - len(images),
            images_missing_file=len(missing),
            missing=missing,
            images=len(data_list),
            patients=len({d['patient_id'] for d in data_list}),
        )
        print_log(self.format_summary(), logger='current')
        return data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        """Finding indices of an image (empty in unlabeled mode)."""
        return list(self.get_data_info(idx).get('gt_label', []))

    def summary_lines(self) -> List[str]:
        s = self.summary
        rows = ', '.join(f'{k}={v}' for k, v in s['rows'].items())
        return [
            f'NIHChestXrayDataset summary ({s["ann_file"]}, split='
            f'{s["split"]}, mode={s["mode"]}): {s["images"]} images of '
            f'{s["patients"]} patients; split had {s["images_in_split"]}'
            f'; removed by view {s["removed_by_view"]}, by label fraction'
            f' {s["removed_by_label_fraction"]}; missing files '
            f'{s["images_missing_file"]}; rows: {rows}'
        ]

    def extra_repr(self) -> List[str]:
        return [
            f'Split: \t{self.split}',
            f'Mode: \t{self.mode}',
            f'Label fraction: \t{self.label_fraction}',
        ]
