# Copyright (c) cxr-mm contributors. All rights reserved.
"""VinDr-CXR annotation CSVs: validation, label map, readers, clipping, fusion.

Framework-free apart from pandas/numpy, so the dataset, the COCO converter and
the benchmarks read the CSV the same way.
"""

import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np
import pandas as pd

from ...core.box_fusion import fuse_reader_boxes
from ...core.classes import (
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


class VinDrRows(NamedTuple):
    """What :func:`read_vindr_csv` makes of an annotation CSV."""

    #: Box rows of the classes: ``image_id, rad_id, label, x_min .. y_max, line``.
    boxes: pd.DataFrame
    #: image_id -> its readers (rad_ids), also those whose rows carried no box.
    readers: Dict[str, set]
    #: Counters of what was dropped, ignored or mapped, and why.
    stats: Counter
    #: Rows that are no class box but a finding all the same: labels outside
    #: the classes (``reason='outside label'``) and invalid rows dropped with
    #: ``on_invalid_row='drop'`` (``reason='invalid row'``). Columns
    #: ``image_id, rad_id, name, reason, x_min .. y_max, located, line``;
    #: ``located`` is False when the row has no usable coordinates.
    regions: pd.DataFrame
    #: Images with at least one row that is not a valid ``No finding`` row:
    #: never a ``No finding`` negative, whatever fusion keeps.
    abnormal: Set[str]


def read_vindr_csv(
    ann_file: str,
    label_map: Optional[Mapping[str, Optional[str]]] = None,
    classes: Sequence[str] = VINDR_CLASSES,
    on_invalid_row: str = 'error',
    outside_class: Optional[str] = None,
) -> VinDrRows:
    """Parse a VinDr annotation CSV into clean box rows.

    Reads Kaggle ``train.csv`` (``image_id, class_name, class_id, rad_id,
    x_min, y_min, x_max, y_max``) and PhysioNet ``annotations_*.csv``
    (``image_id, rad_id, class_name, x_min ... y_max``) alike.

    Args:
        ann_file: the CSV.
        label_map: overrides of :data:`DEFAULT_LABEL_MAP`.
        classes: the detection classes.
        on_invalid_row: ``'error'`` or ``'drop'`` (dropped rows are counted
            and returned in ``regions``).
        outside_class: when given, located boxes of labels mapped to None
            (outside the classes) become boxes of this class.

    Returns:
        VinDrRows: ``(boxes, readers, stats, regions, abnormal)``.
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
    if outside_class is not None and outside_class not in classes:
        raise ValueError(f'outside_class {outside_class!r} is not one of {tuple(classes)}')
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
    if outside_class is not None:
        as_class = (mapped == drop_tag) & all_finite
        for name in df['class_name'][as_class]:
            stats[f'rows_outside_label_as {outside_class}: {name}'] += 1
        mapped[as_class] = outside_class

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
    outside = (mapped == drop_tag) & ~invalid
    for name in df['class_name'][outside]:
        stats[f'rows_ignored_by_label_map: {name}'] += 1
    # Normal means normal: one row that is not a valid 'No finding' makes the
    # image abnormal, whatever later steps (fusion, clipping) keep of it.
    abnormal = set(df['image_id'][valid_img & ~no_finding])

    region = (outside | invalid) & valid_img
    regions = pd.DataFrame(
        {
            'image_id': df['image_id'][region],
            'rad_id': df['rad_id'][region],
            'name': df['class_name'][region],
            'reason': np.where(invalid[region], 'invalid row', 'outside label'),
            **{c: coords[c][region].astype(np.float64) for c in COORDS},
            'located': all_finite[region.to_numpy()],
            'line': df['line'][region],
        }
    )

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
    return VinDrRows(
        boxes.reset_index(drop=True),
        dict(readers),
        stats,
        regions.reset_index(drop=True),
        abnormal,
    )


def read_image_labels(path: str) -> Dict[str, bool]:
    """image_id -> every reader said ``No finding``, from PhysioNet ``image_labels_*.csv``.

    The file has one row per image and reader (``image_id, rad_id`` or
    ``rad_ID``, then one 0/1 column per global and local label, among them
    ``No finding``); the test file has one consensus row per image.

    Raises:
        ValueError: a missing column or a value other than 0/1, naming the
            file and line.
    """
    df = read_annotation_csv(
        path, ('image_id',), 'PhysioNet image_labels_*.csv (image_id[,rad_id],<labels>...)'
    )
    cols = {c.lower(): c for c in df.columns}
    col = cols.get(NO_FINDING.lower())
    if col is None:
        raise ValueError(
            f'{path}: no {NO_FINDING!r} column; found {list(df.columns)}. Expected '
            f'PhysioNet image_labels_*.csv with one 0/1 column per label.'
        )
    values = pd.to_numeric(df[col].str.strip(), errors='coerce')
    bad = ~values.isin([0, 1])
    if bad.any():
        raise_invalid_rows(
            path,
            [
                (ln, f'{NO_FINDING!r} is {v!r}, not 0 or 1')
                for ln, v in zip(df['line'][bad], df[col][bad])
            ],
        )
    ids = df['image_id'].str.strip()
    normal: Dict[str, bool] = {}
    for image_id, v in zip(ids, values):
        normal[image_id] = normal.get(image_id, True) and bool(v == 1)
    return normal


def clip_boxes(boxes: pd.DataFrame, ann_wh: np.ndarray) -> Tuple[pd.DataFrame, int, int]:
    """Clip box rows to their image's annotation frame; drop those under 1 px.

    Args:
        boxes: rows of :func:`read_vindr_csv`.
        ann_wh: (n, 2) width and height of each row's image.

    Returns:
        tuple: ``(kept rows, number clipped, number dropped as degenerate)``.
    """
    xyxy = boxes[list(COORDS)].to_numpy(dtype=np.float64).reshape(-1, 4)
    lim = np.concatenate([ann_wh, ann_wh], axis=1).reshape(-1, 4)
    clipped = np.clip(xyxy, 0, lim)
    n_clipped = int((clipped != xyxy).any(axis=1).sum())
    ok = ((clipped[:, 2] - clipped[:, 0]) >= 1) & ((clipped[:, 3] - clipped[:, 1]) >= 1)
    boxes = boxes.assign(
        x_min=clipped[:, 0], y_min=clipped[:, 1], x_max=clipped[:, 2], y_max=clipped[:, 3]
    )
    return boxes[ok], n_clipped, int((~ok).sum())


def outside_regions(
    regions: pd.DataFrame, ann_sizes: Mapping[str, Tuple[int, int]]
) -> Tuple[Dict[str, np.ndarray], Dict[str, Dict[str, int]]]:
    """Ignore regions from the ``regions`` rows of :func:`read_vindr_csv`.

    Located boxes are clipped to the annotation frame; those under 1 px are
    dropped. Returns ``image_id -> (k, 4) float32 boxes`` and, per label
    (``'invalid row: <name>'`` for invalid rows), the counts of ignore regions,
    unlocated rows (no coordinates: no region, the image stays abnormal) and
    degenerate boxes.
    """
    counts: Dict[str, Dict[str, int]] = {}
    keys = np.where(
        regions['reason'] == 'invalid row', 'invalid row: ' + regions['name'], regions['name']
    )
    for key, located in zip(keys, regions['located']):
        c = counts.setdefault(str(key), dict(ignore_regions=0, unlocated=0, degenerate=0))
        c['ignore_regions' if located else 'unlocated'] += 1
    located = regions[regions['located'].to_numpy(dtype=bool)]
    keys = keys[regions['located'].to_numpy(dtype=bool)]
    ann_wh = np.array([ann_sizes[i] for i in located['image_id']], np.float64).reshape(-1, 2)
    xyxy = located[list(COORDS)].to_numpy(dtype=np.float64).reshape(-1, 4)
    lim = np.concatenate([ann_wh, ann_wh], axis=1)
    clipped = np.clip(xyxy, 0, lim)
    ok = ((clipped[:, 2] - clipped[:, 0]) >= 1) & ((clipped[:, 3] - clipped[:, 1]) >= 1)
    for key in keys[~ok]:
        counts[str(key)]['ignore_regions'] -= 1
        counts[str(key)]['degenerate'] += 1
    out: Dict[str, np.ndarray] = {}
    img = located['image_id'].to_numpy()[ok]
    for image_id, idx in group_rows_by_image(img).items():
        out[image_id] = clipped[ok][idx].astype(np.float32)
    return out, dict(sorted(counts.items()))


def group_rows_by_image(image_ids: np.ndarray) -> Dict[str, np.ndarray]:
    """image_id -> row indices, with numpy (a pandas groupby per image is slow
    on the 15,000-image release)."""
    order = np.argsort(image_ids, kind='stable')
    grouped = {}
    if len(order):
        uniq, start = np.unique(image_ids[order], return_index=True)
        for u, a, b in zip(uniq, start, list(start[1:]) + [len(order)]):
            grouped[u] = order[a:b]
    return grouped


def fuse_images(
    boxes: pd.DataFrame,
    readers: Mapping[str, set],
    ann_sizes: Mapping[str, Tuple[int, int]],
    **fusion_kwargs,
) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Fuse every listed image's reader boxes (see :mod:`cxr_mm.core.box_fusion`).

    Args:
        boxes: clipped rows of :func:`read_vindr_csv`.
        readers: image_id -> its readers (all of them, also those who drew
            no box: they count in majority votes).
        ann_sizes: image_id -> annotation-frame (width, height); the images
            to fuse.
        **fusion_kwargs: ``method``, ``iou_thr``, ``skip_box_thr``,
            ``min_votes`` of :func:`fuse_reader_boxes`.

    Returns:
        dict: image_id -> ``(boxes (m, 4) float32, labels (m,) int64)`` in the
        annotation frame.
    """
    img_arr = boxes['image_id'].to_numpy()
    rad_arr = boxes['rad_id'].to_numpy()
    lab_arr = boxes['label'].to_numpy()
    box_arr = boxes[list(COORDS)].to_numpy(dtype=np.float64)
    grouped = group_rows_by_image(img_arr)
    out = {}
    for image_id, (aw, ah) in ann_sizes.items():
        idx = grouped.get(image_id)
        per_reader = {}
        if idx is not None:
            for rad in sorted(set(rad_arr[idx])):
                sel = idx[rad_arr[idx] == rad]
                per_reader[rad] = (box_arr[sel], lab_arr[sel])
        fb, fl, _ = fuse_reader_boxes(
            per_reader, aw, ah, num_readers=len(readers[image_id]), **fusion_kwargs
        )
        out[image_id] = (fb, fl)
    return out


def image_labels_next_to(ann_file: str) -> Optional[str]:
    """PhysioNet ``image_labels_<part>.csv`` next to ``annotations_<part>.csv``, if present."""
    name = osp.basename(ann_file)
    if not name.startswith('annotations_'):
        return None
    path = osp.join(osp.dirname(ann_file), 'image_labels_' + name[len('annotations_') :])
    return path if osp.isfile(path) else None


def test_set_info(
    ann_file: str,
    split: Optional[str],
    split_ratios: Sequence[float],
    split_seed: int,
    test_set: Optional[str] = None,
) -> Dict[str, str]:
    """``test_set`` (which held-out test set this layout is scored on) and ``split``.

    ``'physionet-official'`` for PhysioNet's ``annotations_test.csv`` and for
    ``annotations_train.csv`` split without a test share; otherwise the test
    part of the seeded split, ``'kaggle-split-seed<N>'`` (or
    ``'physionet-train-split-seed<N>'``). An explicit ``test_set`` wins.
    """
    name = osp.basename(ann_file).lower()
    physionet = name.startswith('annotations_')
    official_test = name.startswith('annotations_test')
    if test_set is None:
        if official_test or (physionet and split_ratios[2] == 0):
            test_set = 'physionet-official'
        else:
            test_set = f'{"physionet-train" if physionet else "kaggle"}-split-seed{split_seed}'
    return dict(test_set=test_set, split=split or ('test' if official_test else 'all'))


__all__ = [
    'DEFAULT_LABEL_MAP',
    'VinDrRows',
    'read_image_labels',
    'build_label_lookup',
    'read_vindr_csv',
    'clip_boxes',
    'group_rows_by_image',
    'outside_regions',
    'fuse_images',
    'image_labels_next_to',
    'test_set_info',
]
