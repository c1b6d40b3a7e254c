# Copyright (c) cxr-mm contributors. All rights reserved.
"""VinDr-CXR lesion detection dataset (Kaggle VinBigData and PhysioNet)."""

import colorsys
import logging
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from ...core.box_fusion import FUSION_METHODS, count_by_label
from ...core.classes import DICOM_SUFFIXES, VINDR_CLASSES
from ...core.image_size import annotation_frames
from ...core.splits import load_or_create_split
from ..base import CXRDatasetMixin, check_missing_files
from .annotations import (
    clip_boxes,
    fuse_images,
    image_labels_next_to,
    outside_regions,
    read_image_labels,
    read_vindr_csv,
    test_set_info,
)
from .coco_export import to_coco
from .summary import summary_lines

SPLIT_NAMES = ('train', 'val', 'test')
#: What becomes of boxes of labels outside the classes (see the class doc).
OUTSIDE_LABELS = ('ignore', 'drop_image', 'as_class')


def _palette(n: int) -> List[Tuple[int, int, int]]:
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.9, 1.0)) for i in range(n)]


@DATASETS.register_module()
class VinDrCXRDataset(CXRDatasetMixin, BaseDetDataset):
    """VinDr-CXR lesion detection: 14 classes, radiologists' boxes fused.

    Dataset of Nguyen et al., "VinDr-CXR: An open dataset of chest X-rays
    with radiologist's annotations" (Sci. Data 2022), as released for the
    Kaggle VinBigData challenge (``train.csv``) or on PhysioNet
    (``annotations_train.csv`` / ``annotations_test.csv``, 22 local labels
    mapped by ``label_map``). Each train image was read by three
    radiologists; their boxes are fused per image and class (see
    :mod:`cxr_mm.core.box_fusion`).

    Treatment of the input, in order (each one counted in ``self.summary``
    and logged when the dataset loads):

    - Missing columns: ``ValueError`` naming the file and the columns.
    - Exact duplicate rows: dropped, counted.
    - ``No finding`` rows: a negative read; empty coordinates expected
      (coordinates present are ignored, counted).
    - Unknown class names, ``class_id`` not matching ``class_name`` (Kaggle),
      findings with empty or non-numeric coordinates: ``ValueError`` naming
      the file and line numbers, or dropped and counted with
      ``on_invalid_row='drop'``.
    - Labels outside the classes (mapped to ``None`` by ``label_map``; by
      default the 8 PhysioNet local labels outside the 14 and the global
      labels) and rows dropped as invalid are findings all the same, never
      discarded silently. ``outside_labels`` decides (counted per label):
      ``'ignore'`` (default) makes their boxes ignore regions: instances with
      ``ignore_flag=1``, one per class because mmdet matches ignore regions per
      class, so a detection there is neither a true nor a false positive
      (mmdet's ``eval_map``, :class:`VinDrMetric`); ``'drop_image'`` removes
      their images; ``'as_class'`` makes their boxes boxes of
      ``outside_class`` (invalid rows stay ignore regions).
    - Image files missing under ``data_prefix['img']``: skipped and reported
      (``missing_files='skip'``) or ``FileNotFoundError`` listing them
      (``missing_files='error'``).
    - Boxes past the border: clipped to the image, counted.
    - Boxes under 1 px wide or high after clipping (zero-area, inverted):
      dropped, counted. mmdet's ``CocoDataset`` drops the same boxes, so the
      COCO export loads back identically.
    - Images without any box of the classes (negatives): kept unless
      ``keep_negatives=False``.

    Normal means normal: ``data_info['is_normal']`` (Kaggle's ``No finding``
    class) is True only when every row of the image, of every reader, is a
    valid ``No finding`` row, and, where PhysioNet's ``image_labels_*.csv``
    lies next to the annotation file (or ``image_labels_file`` names it),
    every reader's row there says ``No finding``. An image whose boxes fusion
    drops, or whose only findings are outside the classes, has no positive
    box yet is not normal. The test pipelines pack ``is_normal`` into the
    data sample for the metric.

    Image sizes: boxes are drawn in the original DICOM's pixel frame. For
    DICOM images that frame comes from ``meta_file`` (``image_id,width,
    height``) when it lists the image, else from the DICOM header. A PNG/JPEG
    (converted) image must be listed in the size table, read from
    ``meta_file`` when given and present, else from
    ``<data_prefix['img']>/image_meta.csv`` (where
    ``tools/dataset_converters/dicom_to_png.py`` writes it); its boxes are
    scaled from the original frame to the converted image. An unlisted one
    is an error naming it and the fix, never a fallback to the PNG's own
    size. Header-read sizes are cached in memory and in ``size_cache_file``.

    ``metainfo['test_set']`` names the held-out test set of the layout
    (``'kaggle-split-seed<N>'`` for the Kaggle 80/10/10 split,
    ``'physionet-official'`` for PhysioNet's ``annotations_test.csv``) and
    ``metainfo['split']`` the part this dataset is, so result files can say
    what they were computed on.

    ``split`` selects a deterministic, class-stratified (rarest class per
    image) part of the annotated images: the assignment is read from
    ``split_file`` or computed from ``split_ratios``/``split_seed`` and
    written there. VinDr images carry no patient id, so the split is by
    image. ``img_id`` is the 1-based rank of the image id among all images of
    the annotation file, the same whatever the split.

    Args:
        ann_file (str): ``train.csv`` (Kaggle) or ``annotations_*.csv``
            (PhysioNet), relative to ``data_root``.
        data_prefix (dict): ``dict(img='train/')``: the image folder.
        img_suffix (str): image file suffix. Defaults to ``'.dicom'``.
        fusion (str): ``'wbf'``, ``'majority'`` or ``'none'``.
        fusion_iou_thr (float): WBF / vote IoU threshold. Defaults to 0.4.
        fusion_skip_box_thr (float): ensemble-boxes ``skip_box_thr``.
        min_votes (int, optional): readers needed by ``'majority'``
            (default: more than half of the image's readers).
        keep_negatives (bool): keep images without boxes. Defaults to True.
        split (str, optional): ``None`` (all images), ``'train'``, ``'val'``
            or ``'test'``.
        split_file (str, optional): split JSON; defaults to ``splits.json``
            next to ``ann_file``.
        split_ratios (Sequence[float]): train/val/test ratios.
        split_seed (int): split seed.
        meta_file (str, optional): ``image_id,width,height`` CSV, relative to
            ``data_root``; ignored when absent.
        size_cache_file (str, optional): where header-read sizes are cached
            (relative to ``data_root``); None disables the disk cache.
        label_map (dict, optional): overrides of :data:`DEFAULT_LABEL_MAP`.
        on_invalid_row (str): ``'error'`` or ``'drop'``.
        missing_files (str): ``'skip'`` or ``'error'``.
        outside_labels (str): ``'ignore'``, ``'drop_image'`` or ``'as_class'``.
        outside_class (str): the class of ``outside_labels='as_class'``.
        image_labels_file (str, optional): PhysioNet ``image_labels_*.csv``;
            defaults to the one next to ``annotations_<part>.csv`` if present.
        test_set (str, optional): name of the test set (see above); derived
            from the file name and split options when None.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments
            (``pipeline``, ``test_mode``, ``filter_cfg`` with
            ``filter_empty_gt`` / ``min_size`` as in ``CocoDataset`` ...).
    """

    METAINFO = dict(classes=VINDR_CLASSES, palette=_palette(14))

    def __init__(
        self,
        ann_file: str = 'train.csv',
        data_prefix: dict = dict(img='train/'),
        img_suffix: str = '.dicom',
        fusion: str = 'wbf',
        fusion_iou_thr: float = 0.4,
        fusion_skip_box_thr: float = 0.0,
        min_votes: Optional[int] = None,
        keep_negatives: bool = True,
        split: Optional[str] = None,
        split_file: Optional[str] = None,
        split_ratios: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        meta_file: Optional[str] = 'image_meta.csv',
        size_cache_file: Optional[str] = 'image_sizes_cache.csv',
        label_map: Optional[Dict[str, Optional[str]]] = None,
        on_invalid_row: str = 'error',
        missing_files: str = 'skip',
        outside_labels: str = 'ignore',
        outside_class: str = 'Other lesion',
        image_labels_file: Optional[str] = None,
        test_set: Optional[str] = None,
        **kwargs,
    ) -> None:
        if fusion not in FUSION_METHODS:
            raise ValueError(f'fusion must be one of {FUSION_METHODS}, got {fusion!r}')
        if split is not None and split not in SPLIT_NAMES:
            raise ValueError(f"split must be None, 'train', 'val' or 'test', got {split!r}")
        if len(split_ratios) != 3:
            raise ValueError('split_ratios must give (train, val, test)')
        check_missing_files(missing_files)
        if outside_labels not in OUTSIDE_LABELS:
            raise ValueError(
                f'outside_labels must be one of {OUTSIDE_LABELS}, got {outside_labels!r}'
            )
        self.img_suffix = img_suffix
        self.fusion = fusion
        self.fusion_iou_thr = fusion_iou_thr
        self.fusion_skip_box_thr = fusion_skip_box_thr
        self.min_votes = min_votes
        self.keep_negatives = keep_negatives
        self.split = split
        self.split_file = split_file
        self.split_ratios = tuple(float(r) for r in split_ratios)
        self.split_seed = split_seed
        self.meta_file = meta_file
        self.size_cache_file = size_cache_file
        self.label_map = label_map
        self.on_invalid_row = on_invalid_row
        self.missing_files = missing_files
        self.outside_labels = outside_labels
        self.outside_class = outside_class
        self.image_labels_file = image_labels_file
        self.summary: dict = {}
        self.image_labels: Dict[str, set] = {}
        # Set after loading: mmengine would try string metainfo values as file names.
        self.test_set_info = test_set_info(ann_file, split, self.split_ratios, split_seed, test_set)
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)
        self._metainfo.update(self.test_set_info)

    def split_assignment(self) -> Dict[str, str]:
        """image_id -> 'train' | 'val' | 'test', from the split file (made once)."""
        return load_or_create_split(
            self.split_path(),
            self.image_labels,
            SPLIT_NAMES,
            self.split_ratios,
            self.split_seed,
            source=osp.basename(self.ann_file),
        )

    def split_path(self) -> str:
        """The split JSON used for ``split`` (see ``split_file``)."""
        if self.split_file is not None:
            return self._root_path(self.split_file)
        return osp.join(osp.dirname(osp.abspath(self.ann_file)), 'splits.json')

    def _image_sizes(self, image_ids: Sequence[str]):
        """Original frames of the images (see :func:`annotation_frames`)."""
        tables = [self._root_path(self.meta_file)]
        if not self.img_suffix.lower().endswith(DICOM_SUFFIXES):
            tables.append(osp.join(self.data_prefix.get('img', ''), 'image_meta.csv'))
        out, missing, self.summary['sizes'] = annotation_frames(
            image_ids,
            self.data_prefix.get('img', ''),
            self.img_suffix,
            [t for t in tables if t],
            root=self.data_root or '.',
            cache_file=self._root_path(self.size_cache_file),
            warn=lambda msg: print_log(msg, logger='current', level=logging.WARNING),
        )
        return out, missing

    def load_data_list(self) -> List[dict]:
        """Parse, clean, fuse and split the annotations (see class doc)."""
        classes = self.metainfo['classes']
        num_classes = len(classes)
        as_class = self.outside_class if self.outside_labels == 'as_class' else None
        rows = read_vindr_csv(self.ann_file, self.label_map, classes, self.on_invalid_row, as_class)
        boxes, readers, stats = rows.boxes, rows.readers, rows.stats
        all_ids = sorted(readers)
        id_rank = {image_id: i + 1 for i, image_id in enumerate(all_ids)}
        labels_path = (
            self._root_path(self.image_labels_file)
            if self.image_labels_file is not None
            else image_labels_next_to(self.ann_file)
        )
        normal_by_labels = read_image_labels(labels_path) if labels_path else None

        # Labels for stratification: any reader's class, before fusion.
        self.image_labels = {i: set() for i in all_ids}
        for image_id, label in zip(boxes['image_id'], boxes['label']):
            self.image_labels[image_id].add(classes[label])

        selected = all_ids
        if self.split is not None:
            assignment = self.split_assignment()
            selected = [i for i in all_ids if assignment[i] == self.split]

        sizes, missing = self._image_sizes(selected)
        self._report_missing(missing, f'listed in {self.ann_file}')

        boxes = boxes[boxes['image_id'].isin(sizes.keys())]
        raw_per_class = count_by_label(boxes['label'], num_classes)
        boxes, stats['boxes_clipped_to_image'], stats['boxes_degenerate_dropped'] = clip_boxes(
            boxes, np.array([sizes[i][2] for i in boxes['image_id']], np.float64).reshape(-1, 2)
        )
        clean_per_class = count_by_label(boxes['label'], num_classes)
        fused = fuse_images(
            boxes,
            readers,
            {i: sizes[i][2] for i in selected if i in sizes},
            method=self.fusion,
            iou_thr=self.fusion_iou_thr,
            skip_box_thr=self.fusion_skip_box_thr,
            min_votes=self.min_votes,
        )
        regions = rows.regions[rows.regions['image_id'].isin(sizes.keys())]
        region_images = set(regions['image_id'])
        regions, region_counts = outside_regions(regions, {i: sizes[i][2] for i in region_images})

        data_list = []
        fused_per_class = np.zeros(num_classes, np.int64)
        n = Counter()
        for image_id, (fb, fl) in fused.items():
            path, (w, h), (aw, ah) = sizes[image_id]
            if self.outside_labels == 'drop_image' and image_id in region_images:
                n['images_dropped_outside_labels'] += 1
                continue
            scale = np.array([w / aw, h / ah, w / aw, h / ah], dtype=np.float32)
            is_normal = image_id not in rows.abnormal
            if normal_by_labels is not None:
                if image_id not in normal_by_labels:
                    n['images_not_in_image_labels'] += 1
                elif is_normal and not normal_by_labels[image_id]:
                    n['images_abnormal_by_image_labels_only'] += 1
                is_normal = is_normal and normal_by_labels.get(image_id, True)
            ignore = regions.get(image_id, np.zeros((0, 4), np.float32))
            n['images_normal'] += is_normal
            if len(fb) == 0:
                n['images_negative'] += 1
                n['images_no_box_not_normal'] += not is_normal
                if not self.keep_negatives:
                    n['images_negative_dropped'] += 1
                    continue
            fused_per_class += count_by_label(fl, num_classes)
            instances = [
                dict(bbox=[float(v) for v in b], bbox_label=int(lab), ignore_flag=0)
                for b, lab in zip(fb * scale, fl)
            ] + [
                dict(bbox=[float(v) for v in b], bbox_label=c, ignore_flag=1)
                for b in ignore * scale
                for c in range(num_classes)
            ]
            data_list.append(
                dict(
                    img_path=path,
                    img_id=id_rank[image_id],
                    image_id=image_id,
                    height=int(h),
                    width=int(w),
                    num_readers=len(readers[image_id]),
                    is_normal=bool(is_normal),
                    instances=instances,
                )
            )

        self.summary.update(
            ann_file=self.ann_file,
            split=self.split,
            test_set=self.test_set_info['test_set'],
            fusion=self.fusion,
            outside_labels=self.outside_labels,
            image_labels_file=labels_path,
            images_annotated=len(all_ids),
            images_in_split=len(selected),
            images_missing_file=len(missing),
            missing_examples=missing[:10],
            images=len(data_list),
            **{
                k: int(n[k])
                for k in (
                    'images_normal',
                    'images_negative',
                    'images_negative_dropped',
                    'images_no_box_not_normal',
                    'images_dropped_outside_labels',
                    'images_not_in_image_labels',
                    'images_abnormal_by_image_labels_only',
                )
            },
            rows={k: int(v) for k, v in sorted(stats.items())},
            outside_or_invalid_per_label=region_counts,
            boxes_per_class_raw=dict(zip(classes, raw_per_class.tolist())),
            boxes_per_class_clean=dict(zip(classes, clean_per_class.tolist())),
            boxes_per_class_fused=dict(zip(classes, fused_per_class.tolist())),
        )
        print_log(self.format_summary(), logger='current')
        return data_list

    def filter_data(self) -> List[dict]:
        """``filter_cfg``: ``filter_empty_gt`` and ``min_size``, as mmdet's
        ``CocoDataset`` (an image with ignore regions only has no ground truth);
        skipped in test mode. Counted in the summary."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        kept = [
            d
            for d in self.data_list
            if not (filter_empty_gt and all(i['ignore_flag'] for i in d['instances']))
            and min(d['width'], d['height']) >= min_size
        ]
        n = len(self.data_list) - len(kept)
        self.summary['images_removed_by_filter_cfg'] = n
        if n:
            print_log(
                f'VinDrCXRDataset: filter_cfg={self.filter_cfg} removed {n} image(s)',
                logger='current',
            )
        return kept

    def get_cat_ids(self, idx: int) -> List[int]:
        """Classes of the image's boxes; ignore regions are no class."""
        instances = self.get_data_info(idx)['instances']
        return [i['bbox_label'] for i in instances if not i['ignore_flag']]

    def summary_lines(self) -> List[str]:
        return summary_lines(self.summary)

    def to_coco(self, out_file: Optional[str] = None) -> dict:
        """Export as COCO JSON (see :func:`.coco_export.to_coco`)."""
        return to_coco(self, out_file)
