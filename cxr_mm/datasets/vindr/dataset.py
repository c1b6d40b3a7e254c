# Copyright (c) cxr-mm contributors. All rights reserved.
"""VinDr-CXR lesion detection dataset (Kaggle VinBigData and PhysioNet)."""

import colorsys
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from ...core.box_fusion import FUSION_METHODS, count_by_label
from ...core.classes import DICOM_SUFFIXES, VINDR_CLASSES
from ...core.image_size import header_sizes, read_size_table
from ...core.splits import load_or_create_split
from ..base import CXRDatasetMixin, check_missing_files
from .annotations import clip_boxes, fuse_images, read_vindr_csv
from .coco_export import to_coco

SPLIT_NAMES = ('train', 'val', 'test')


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
    - Names mapped to ``None`` by ``label_map`` (by default the 8 PhysioNet
      local labels outside the 14 classes and the global labels): ignored,
      counted by name. Their reader still counts as a reader of the image.
    - Image files missing under ``data_prefix['img']``: skipped and reported
      (``missing_files='skip'``) or ``FileNotFoundError`` listing them
      (``missing_files='error'``).
    - Boxes past the border: clipped to the image, counted.
    - Boxes under 1 px wide or high after clipping (zero-area, inverted):
      dropped, counted. mmdet's ``CocoDataset`` drops the same boxes, so the
      COCO export loads back identically.
    - Images without any box of the 14 classes (all readers ``No finding``):
      kept with no instances (negatives) unless ``keep_negatives=False``.

    Image sizes (annotation pixel frame) come from ``meta_file``
    (``image_id,width,height``) when it lists the image, else from the DICOM
    header (or the PNG/JPEG header for converted images), cached in memory
    and in ``size_cache_file``. When images were converted and resized (not
    DICOM) and ``meta_file`` gives the original size, boxes are scaled to the
    converted image.

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
        **kwargs,
    ) -> None:
        if fusion not in FUSION_METHODS:
            raise ValueError(f'fusion must be one of {FUSION_METHODS}, got {fusion!r}')
        if split is not None and split not in SPLIT_NAMES:
            raise ValueError(f"split must be None, 'train', 'val' or 'test', got {split!r}")
        if len(split_ratios) != 3:
            raise ValueError('split_ratios must give (train, val, test)')
        check_missing_files(missing_files)
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
        self.summary: dict = {}
        self.image_labels: Dict[str, set] = {}
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

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
        """``image_id -> (path, image size, annotation-frame size)``; missing files."""
        img_dir = self.data_prefix.get('img', '')
        meta_path = self._root_path(self.meta_file)
        meta = read_size_table(meta_path) if meta_path and osp.isfile(meta_path) else {}
        is_dicom = self.img_suffix.lower().endswith(DICOM_SUFFIXES)
        paths = {i: osp.join(img_dir, i + self.img_suffix) for i in image_ids}
        # A DICOM listed in the size table needs no header read.
        from_meta = {i for i in image_ids if is_dicom and i in meta}
        read, missing_read, stats = header_sizes(
            [paths[i] for i in image_ids if i not in from_meta],
            root=self.data_root or '.',
            cache_file=self._root_path(self.size_cache_file),
            warn=lambda msg: print_log(msg, logger='current', level=logging.WARNING),
        )
        missing_read = set(missing_read)
        out, missing = {}, []
        for i in image_ids:
            path = paths[i]
            if path in missing_read or (i in from_meta and not osp.exists(path)):
                missing.append(path)
                continue
            size = meta[i] if i in from_meta else read[path]
            out[i] = (path, tuple(size), tuple(meta.get(i, size)))
        self.summary['sizes'] = dict(from_meta_file=sum(1 for i in out if i in meta), **stats)
        return out, missing

    def load_data_list(self) -> List[dict]:
        """Parse, clean, fuse and split the annotations (see class doc)."""
        classes = self.metainfo['classes']
        num_classes = len(classes)
        boxes, readers, stats = read_vindr_csv(
            self.ann_file,
            label_map=self.label_map,
            classes=classes,
            on_invalid_row=self.on_invalid_row,
        )
        all_ids = sorted(readers)
        id_rank = {image_id: i + 1 for i, image_id in enumerate(all_ids)}

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
        ann_wh = np.array([sizes[i][2] for i in boxes['image_id']], dtype=np.float64)
        boxes, stats['boxes_clipped_to_image'], stats['boxes_degenerate_dropped'] = clip_boxes(
            boxes, ann_wh.reshape(-1, 2)
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

        data_list = []
        fused_per_class = np.zeros(num_classes, np.int64)
        n_neg = n_neg_dropped = 0
        for image_id, (fb, fl) in fused.items():
            path, (w, h), (aw, ah) = sizes[image_id]
            if (w, h) != (aw, ah):
                fb = fb * np.array([w / aw, h / ah, w / aw, h / ah], dtype=np.float32)
            if len(fb) == 0:
                n_neg += 1
                if not self.keep_negatives:
                    n_neg_dropped += 1
                    continue
            fused_per_class += count_by_label(fl, num_classes)
            data_list.append(
                dict(
                    img_path=path,
                    img_id=id_rank[image_id],
                    image_id=image_id,
                    height=int(h),
                    width=int(w),
                    num_readers=len(readers[image_id]),
                    instances=[
                        dict(bbox=[float(v) for v in b], bbox_label=int(lab), ignore_flag=0)
                        for b, lab in zip(fb, fl)
                    ],
                )
            )

        self.summary.update(
            ann_file=self.ann_file,
            split=self.split,
            fusion=self.fusion,
            images_annotated=len(all_ids),
            images_in_split=len(selected),
            images_missing_file=len(missing),
            missing_examples=missing[:10],
            images_negative=n_neg,
            images_negative_dropped=n_neg_dropped,
            images=len(data_list),
            rows={k: int(v) for k, v in sorted(stats.items())},
            boxes_per_class_raw=dict(zip(classes, raw_per_class.tolist())),
            boxes_per_class_clean=dict(zip(classes, clean_per_class.tolist())),
            boxes_per_class_fused=dict(zip(classes, fused_per_class.tolist())),
        )
        print_log(self.format_summary(), logger='current')
        return data_list

    def filter_data(self) -> List[dict]:
        """``filter_cfg``: ``filter_empty_gt`` and ``min_size``, as mmdet's
        ``CocoDataset``; skipped in test mode. Counted in the summary."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        kept = [
            d
            for d in self.data_list
            if not (filter_empty_gt and not d['instances'])
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

    def summary_lines(self) -> List[str]:
        s = self.summary
        lines = [
            f'VinDrCXRDataset summary ({s["ann_file"]}, split={s["split"]}, fusion={s["fusion"]}):',
            f'  images: {s["images"]} kept of {s["images_in_split"]} in split'
            f' ({s["images_annotated"]} annotated); negatives '
            f'{s["images_negative"]} ({s["images_negative_dropped"]} '
            f'dropped); missing files {s["images_missing_file"]}',
            '  rows: ' + ', '.join(f'{k}={v}' for k, v in s['rows'].items()),
            f'  {"class":<20} {"raw":>7} {"clean":>7} {"fused":>7}',
        ]
        for c in s['boxes_per_class_raw']:
            lines.append(
                f'  {c:<20} {s["boxes_per_class_raw"][c]:>7} '
                f'{s["boxes_per_class_clean"][c]:>7} '
                f'{s["boxes_per_class_fused"][c]:>7}'
            )
        return lines

    def to_coco(self, out_file: Optional[str] = None) -> dict:
        """Export as COCO JSON (see :func:`.coco_export.to_coco`)."""
        return to_coco(self, out_file)
