# Copyright (c) cxr-mm contributors. All rights reserved.
"""VinDr-CXR lesion detection dataset (Kaggle VinBigData and PhysioNet)."""

import json
import logging
import os
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from ...core.box_fusion import FUSION_METHODS, count_by_label, fuse_reader_boxes
from ...core.classes import (
    DICOM_SUFFIXES,
    NO_FINDING,
    NO_FINDING_ID,
    PHYSIONET_EXTRA_LOCAL_LABELS,
    PHYSIONET_GLOBAL_LABELS,
    VINDR_CLASSES,
)
from ...core.csv_table import (
    check_on_invalid_row,
    drop_duplicate_rows,
    raise_invalid_rows,
    read_annotation_csv,
)
from ...core.splits import load_or_create_split

SPLIT_NAMES = ('train', 'val', 'test')
#: Default name -> class table. Values: one of :data:`VINDR_CLASSES`,
#: ``'No finding'`` (a negative read) or ``None`` (row ignored, counted).
#: The PhysioNet release has 22 local labels; the 14 challenge classes map to
#: themselves, the 8 others are ignored by default. Pass e.g.
#: ``label_map={'Edema': 'Other lesion'}`` to fold them in instead.
DEFAULT_LABEL_MAP: Dict[str, Optional[str]] = {
    **{c: c for c in VINDR_CLASSES},
    NO_FINDING: NO_FINDING,
    **{c: None for c in PHYSIONET_EXTRA_LOCAL_LABELS + PHYSIONET_GLOBAL_LABELS},
}

REQUIRED_COLUMNS = ('image_id', 'rad_id', 'class_name', 'x_min', 'y_min', 'x_max', 'y_max')
COORDS = ('x_min', 'y_min', 'x_max', 'y_max')

# In-process cache of image sizes: (abspath, mtime_ns) -> (w, h).
_SIZE_CACHE: Dict[Tuple[str, int], Tuple[int, int]] = {}


def _palette(n: int) -> List[Tuple[int, int, int]]:
    import colorsys

    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.9, 1.0)) for i in range(n)]


def build_label_lookup(
    label_map: Optional[Mapping[str, Optional[str]]], classes: Sequence[str]
) -> Dict[str, Optional[str]]:
    """Merge ``label_map`` over the default table; keys case-insensitive."""
    table = dict(DEFAULT_LABEL_MAP)
    table.update(label_map or {})
    lookup = {}
    for name, target in table.items():
        if target is not None and target != NO_FINDING and target not in classes:
            raise ValueError(
                f'label_map maps {name!r} to {target!r}, which '
                f'is not one of the classes {tuple(classes)}'
            )
        lookup[str(name).strip().lower()] = target
    return lookup


def read_vindr_csv(
    ann_file: str,
    label_map: Optional[Mapping[str, Optional[str]]] = None,
    classes: Sequence[str] = VINDR_CLASSES,
    on_invalid_row: str = 'error',
) -> Tuple[pd.DataFrame, Dict[str, set], Counter]:
    """Parse a VinDr annotation CSV into clean box rows.

    Reads Kaggle ``train.csv`` (``image_id, class_name, class_id, rad_id,
    x_min, y_min, x_max, y_max``) and PhysioNet ``annotations_*.csv``
    (``image_id, rad_id, class_name, x_min ... y_max``) alike.

    Returns:
        tuple: ``(boxes, readers, stats)``: a DataFrame of box rows with
        columns ``image_id, rad_id, label, x_min .. y_max, line``; the readers
        (rad_ids) of every image, including readers whose rows carried no box;
        counters of what was dropped and why.
    """
    check_on_invalid_row(on_invalid_row)
    df = read_annotation_csv(
        ann_file,
        REQUIRED_COLUMNS,
        'Kaggle VinBigData train.csv '
        '(image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max) '
        'or PhysioNet annotations_*.csv '
        '(image_id,rad_id,class_name,x_min,y_min,x_max,y_max)',
    )
    stats: Counter = Counter()
    stats['rows_total'] = len(df)
    for c in ('image_id', 'rad_id', 'class_name') + COORDS:
        df[c] = df[c].str.strip()
    if 'class_id' in df.columns:
        df['class_id'] = df['class_id'].str.strip()

    # Exact duplicate rows (same reader, class and coordinates): drop.
    df, stats['rows_duplicate'] = drop_duplicate_rows(df)

    lookup = build_label_lookup(label_map, classes)
    drop_tag = '\0drop'
    mapped = (
        df['class_name']
        .str.lower()
        .map(lambda n: drop_tag if (t := lookup.get(n, '\0unknown')) is None else t)
    )
    coords = pd.DataFrame(
        {c: pd.to_numeric(df[c].replace('', np.nan), errors='coerce') for c in COORDS}
    )
    has_any = (df[list(COORDS)] != '').any(axis=1)
    all_finite = np.isfinite(coords.to_numpy(dtype=np.float64)).all(axis=1)

    reasons = pd.Series('', index=df.index, dtype=object)
    reasons[df['image_id'] == ''] = 'empty image_id'
    unknown = (mapped == '\0unknown') & (reasons == '')
    reasons[unknown] = 'unknown class_name ' + df['class_name'][unknown].map(repr)
    if 'class_id' in df.columns:
        kaggle_ids = {c.lower(): i for i, c in enumerate(VINDR_CLASSES)}
        kaggle_ids[NO_FINDING.lower()] = NO_FINDING_ID
        expected = df['class_name'].str.lower().map(kaggle_ids)
        given = pd.to_numeric(df['class_id'].replace('', np.nan), errors='coerce')
        bad_id = expected.notna() & (df['class_id'] != '') & (given != expected) & (reasons == '')
        reasons[bad_id] = (
            'class_id '
            + df['class_id'][bad_id]
            + ' does not match class_name '
            + df['class_name'][bad_id].map(repr)
        )
    is_finding = ~mapped.isin(['\0unknown', drop_tag, NO_FINDING])
    bad_coords = is_finding & ~all_finite & (reasons == '')
    reasons[bad_coords] = 'missing or non-numeric box coordinates on a finding'

    invalid = reasons != ''
    if invalid.any():
        if on_invalid_row == 'error':
            raise_invalid_rows(ann_file, list(zip(df['line'][invalid], reasons[invalid])))
        for why in reasons[invalid]:
            key = (
                'unknown class_name'
                if why.startswith('unknown')
                else 'class_id mismatch'
                if why.startswith('class_id')
                else why
            )
            stats[f'rows_invalid: {key}'] += 1

    # Every reader of an image counts (also for majority votes), whatever
    # their rows carried.
    readers: Dict[str, set] = defaultdict(set)
    valid_img = df['image_id'] != ''
    for img, rad in zip(df['image_id'][valid_img], df['rad_id'][valid_img]):
        readers[img].add(rad)

    no_finding = (mapped == NO_FINDING) & ~invalid
    stats['rows_no_finding'] = int(no_finding.sum())
    stats['no_finding_rows_with_coords'] = int((no_finding & has_any).sum())
    ignored = (mapped == drop_tag) & ~invalid
    for name in df['class_name'][ignored]:
        stats[f'rows_ignored_by_label_map: {name}'] += 1

    keep = is_finding & ~invalid
    cls_idx = {c: i for i, c in enumerate(classes)}
    boxes = pd.DataFrame(
        {
            'image_id': df['image_id'][keep],
            'rad_id': df['rad_id'][keep],
            'label': mapped[keep].map(cls_idx).astype(np.int64),
            **{c: coords[c][keep].astype(np.float64) for c in COORDS},
            'line': df['line'][keep],
        }
    )
    stats['rows_box'] = len(boxes)
    return boxes.reset_index(drop=True), dict(readers), stats


def read_size_table(meta_file: str) -> Dict[str, Tuple[int, int]]:
    """``image_id -> (width, height)`` from ``image_id,width,height``."""
    df = pd.read_csv(meta_file, dtype={'image_id': str})
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ('image_id', 'width', 'height') if c not in df.columns]
    if missing:
        raise ValueError(
            f'{meta_file}: missing column(s) {missing}; found '
            f'{list(df.columns)}; expected image_id,width,height'
        )
    bad = df[['width', 'height']].isna().any(axis=1) | (df['width'] <= 0) | (df['height'] <= 0)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise ValueError(f'{meta_file}: line {line}: width/height must be positive numbers')
    return {
        str(i).strip(): (int(w), int(h))
        for i, w, h in zip(df['image_id'], df['width'], df['height'])
    }


def read_image_size(path: str) -> Tuple[int, int]:
    """(width, height) from a DICOM header or an image header, no pixels."""
    if path.lower().endswith(DICOM_SUFFIXES):
        import pydicom

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=['Rows', 'Columns'])
            return int(ds.Columns), int(ds.Rows)
        except Exception as e:
            raise ValueError(f'{path}: cannot read Rows/Columns from the DICOM header: {e}') from e
    from PIL import Image

    try:
        with Image.open(path) as im:
            return tuple(im.size)
    except Exception as e:
        raise ValueError(f'{path}: cannot read the image size: {e}') from e


@DATASETS.register_module()
class VinDrCXRDataset(BaseDetDataset):
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
        if missing_files not in ('skip', 'error'):
            raise ValueError(f"missing_files must be 'skip' or 'error', got {missing_files!r}")
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

    # ------------------------------------------------------------------ paths
    def _root_path(self, path: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

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

    # ------------------------------------------------------------------ sizes
    def _load_disk_cache(self) -> Dict[str, Tuple[int, int, int]]:
        path = self._root_path(self.size_cache_file)
        if path is None or not osp.isfile(path):
            return {}
        try:
            df = pd.read_csv(path, dtype={'file': str})
            return {
                f: (int(m), int(w), int(h))
                for f, m, w, h in zip(df['file'], df['mtime_ns'], df['width'], df['height'])
            }
        except Exception as e:  # a broken cache is rebuilt, not fatal
            print_log(
                f'Ignoring unreadable size cache {path}: {e}',
                logger='current',
                level=logging.WARNING,
            )
            return {}

    def _save_disk_cache(self, entries: Dict[str, Tuple[int, int, int]]):
        path = self._root_path(self.size_cache_file)
        if path is None or not entries:
            return
        rows = [(f, m, w, h) for f, (m, w, h) in sorted(entries.items())]
        tmp = f'{path}.tmp{os.getpid()}'
        try:
            pd.DataFrame(rows, columns=['file', 'mtime_ns', 'width', 'height']).to_csv(
                tmp, index=False
            )
            os.replace(tmp, path)
        except OSError as e:
            print_log(
                f'Could not write the size cache {path}: {e}',
                logger='current',
                level=logging.WARNING,
            )

    def _image_sizes(self, image_ids: Sequence[str]):
        """Paths, image sizes and annotation-frame sizes; missing files."""
        img_dir = self.data_prefix.get('img', '')
        meta_path = self._root_path(self.meta_file)
        meta = read_size_table(meta_path) if meta_path and osp.isfile(meta_path) else {}
        disk = self._load_disk_cache()
        n_disk = len(disk)
        is_dicom = self.img_suffix.lower().endswith(DICOM_SUFFIXES)
        out, missing = {}, []
        header_reads = 0
        for image_id in image_ids:
            path = osp.join(img_dir, image_id + self.img_suffix)
            try:
                st = os.stat(path)
            except OSError:
                missing.append(path)
                continue
            if is_dicom and image_id in meta:
                size = meta[image_id]
            else:
                key = (osp.abspath(path), st.st_mtime_ns)
                rel = osp.relpath(path, self.data_root or '.')
                if key in _SIZE_CACHE:
                    size = _SIZE_CACHE[key]
                elif rel in disk and disk[rel][0] == st.st_mtime_ns:
                    size = disk[rel][1:]
                else:
                    size = read_image_size(path)
                    header_reads += 1
                    disk[rel] = (st.st_mtime_ns, *size)
                _SIZE_CACHE[key] = tuple(size)
            ann_size = meta.get(image_id, size)
            out[image_id] = (path, tuple(size), tuple(ann_size))
        if header_reads:
            self._save_disk_cache(disk)
        self.summary['sizes'] = dict(
            from_meta_file=sum(1 for i in out if i in meta),
            header_reads=header_reads,
            disk_cache_entries=n_disk,
        )
        return out, missing

    # ------------------------------------------------------------------ load
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
        labels_per_image = {i: set() for i in all_ids}
        for image_id, label in zip(boxes['image_id'], boxes['label']):
            labels_per_image[image_id].add(classes[label])
        self.image_labels = labels_per_image

        selected = all_ids
        if self.split is not None:
            assignment = self.split_assignment()
            selected = [i for i in all_ids if assignment[i] == self.split]

        sizes, missing = self._image_sizes(selected)
        if missing and self.missing_files == 'error':
            raise FileNotFoundError(
                f'{len(missing)} image(s) listed in {self.ann_file} are missing, e.g. {missing[:5]}'
            )
        if missing:
            print_log(
                f'VinDrCXRDataset: {len(missing)} image file(s) listed in '
                f'{self.ann_file} are missing and skipped, e.g. '
                f'{missing[:3]}',
                logger='current',
                level=logging.WARNING,
            )

        boxes = boxes[boxes['image_id'].isin(sizes.keys())]
        raw_per_class = count_by_label(boxes['label'], num_classes)
        # Clip to the annotation frame, drop boxes < 1 px.
        ann_wh = np.array([sizes[i][2] for i in boxes['image_id']], dtype=np.float64).reshape(-1, 2)
        xyxy = boxes[list(COORDS)].to_numpy(dtype=np.float64).reshape(-1, 4)
        lim = np.concatenate([ann_wh, ann_wh], axis=1)
        clipped = np.clip(xyxy, 0, lim)
        n_clipped = int((clipped != xyxy).any(axis=1).sum())
        ok = ((clipped[:, 2] - clipped[:, 0]) >= 1) & ((clipped[:, 3] - clipped[:, 1]) >= 1)
        boxes = boxes.assign(
            x_min=clipped[:, 0], y_min=clipped[:, 1], x_max=clipped[:, 2], y_max=clipped[:, 3]
        )
        stats['boxes_clipped_to_image'] = n_clipped
        stats['boxes_degenerate_dropped'] = int((~ok).sum())
        boxes = boxes[ok]
        clean_per_class = count_by_label(boxes['label'], num_classes)

        # Group rows by image with numpy (pandas groupby per image is slow
        # on the 15k-image release).
        img_arr = boxes['image_id'].to_numpy()
        rad_arr = boxes['rad_id'].to_numpy()
        lab_arr = boxes['label'].to_numpy()
        box_arr = boxes[list(COORDS)].to_numpy(dtype=np.float64)
        order = np.argsort(img_arr, kind='stable')
        grouped = {}
        if len(order):
            uniq, start = np.unique(img_arr[order], return_index=True)
            for u, a, b in zip(uniq, start, list(start[1:]) + [len(order)]):
                grouped[u] = order[a:b]
        data_list = []
        fused_per_class = np.zeros(num_classes, np.int64)
        n_neg = n_neg_dropped = 0
        for image_id in selected:
            if image_id not in sizes:
                continue
            path, (w, h), (aw, ah) = sizes[image_id]
            idx = grouped.get(image_id)
            per_reader = {}
            if idx is not None:
                for rad in sorted(set(rad_arr[idx])):
                    sel = idx[rad_arr[idx] == rad]
                    per_reader[rad] = (box_arr[sel], lab_arr[sel])
            fb, fl, _ = fuse_reader_boxes(
                per_reader,
                aw,
                ah,
                method=self.fusion,
                iou_thr=self.fusion_iou_thr,
                skip_box_thr=self.fusion_skip_box_thr,
                num_readers=len(readers[image_id]),
                min_votes=self.min_votes,
            )
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

    # --------------------------------------------------------------- reports
    def format_summary(self) -> str:
        """Human-readable summary of what was loaded and dropped."""
        s = self.summary
        if not s:
            return 'VinDrCXRDataset: not loaded'
        lines = [
            f'VinDrCXRDataset summary ({s["ann_file"]}, split={s["split"]}, fusion={s["fusion"]}):',
            f'  images: {s["images"]} kept of {s["images_in_split"]} in split'
            f' ({s["images_annotated"]} annotated); negatives '
            f'{s["images_negative"]} ({s["images_negative_dropped"]} '
            f'dropped); missing files {s["images_missing_file"]}',
        ]
        lines.append('  rows: ' + ', '.join(f'{k}={v}' for k, v in s['rows'].items()))
        lines.append(f'  {"class":<20} {"raw":>7} {"clean":>7} {"fused":>7}')
        for c in s['boxes_per_class_raw']:
            lines.append(
                f'  {c:<20} {s["boxes_per_class_raw"][c]:>7} '
                f'{s["boxes_per_class_clean"][c]:>7} '
                f'{s["boxes_per_class_fused"][c]:>7}'
            )
        return '\n'.join(lines)

    def to_coco(self, out_file: Optional[str] = None) -> dict:
        """Export the loaded images and fused boxes as COCO JSON.

        ``file_name`` is relative to ``data_prefix['img']`` and category ids
        are ``label + 1``, so mmdet's ``CocoDataset`` with
        ``metainfo=dict(classes=VINDR_CLASSES)`` and the same ``data_prefix``
        loads the same images and boxes.
        """
        img_dir = self.data_prefix.get('img', '')
        classes = self.metainfo['classes']
        images, annotations = [], []
        for i in range(len(self)):
            info = self.get_data_info(i)
            images.append(
                dict(
                    id=int(info['img_id']),
                    file_name=osp.relpath(info['img_path'], img_dir),
                    width=int(info['width']),
                    height=int(info['height']),
                    vindr_image_id=info['image_id'],
                )
            )
            for inst in info['instances']:
                x1, y1, x2, y2 = inst['bbox']
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=int(info['img_id']),
                        category_id=int(inst['bbox_label']) + 1,
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        area=(x2 - x1) * (y2 - y1),
                        iscrowd=0,
                    )
                )
        coco = dict(
            info=dict(
                description='VinDr-CXR exported by cxr-mm',
                ann_file=osp.basename(self.ann_file),
                split=self.split,
                fusion=self.fusion,
                fusion_iou_thr=self.fusion_iou_thr,
            ),
            images=images,
            annotations=annotations,
            categories=[
                dict(id=i + 1, name=c, supercategory='lesion') for i, c in enumerate(classes)
            ],
        )
        if out_file is not None:
            os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
            tmp = f'{out_file}.tmp{os.getpid()}'
            with open(tmp, 'w') as f:
                json.dump(coco, f)
            os.replace(tmp, out_file)
        return coco


__all__ = [
    'VinDrCXRDataset',
    'VINDR_CLASSES',
    'DEFAULT_LABEL_MAP',
    'read_vindr_csv',
    'read_size_table',
    'read_image_size',
]
