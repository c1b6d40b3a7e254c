# Copyright (c) cxr-mm contributors. All rights reserved.
"""NIH ChestX-ray14 files: ``Data_Entry_2017.csv``, the official lists, the image folders."""

import glob
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import pandas as pd

from ...core.classes import NIH_CLASSES, NIH_NO_FINDING
from ...core.csv_table import (
    check_on_invalid_row,
    drop_duplicate_rows,
    raise_invalid_rows,
    read_annotation_csv,
)

REQUIRED_COLUMNS = ('Image Index', 'Finding Labels', 'Patient ID', 'View Position')


def read_nih_csv(
    ann_file: str, classes: Sequence[str] = NIH_CLASSES, on_invalid_row: str = 'error'
) -> Tuple[pd.DataFrame, Counter]:
    """Parse ``Data_Entry_2017.csv`` (or its v2020 variant).

    Returns a DataFrame indexed by image name with columns ``patient_id``
    (int), ``labels`` (tuple of class indices, empty for ``No Finding``),
    ``view`` and ``line``, and counters of dropped rows.
    """
    check_on_invalid_row(on_invalid_row)
    # The 2017 file has a trailing comma (an unnamed empty column); the v2020
    # file does not. Both are fine.
    df = read_annotation_csv(
        ann_file,
        REQUIRED_COLUMNS,
        f'the NIH Data_Entry_2017.csv columns {list(REQUIRED_COLUMNS)} (and the others)',
    )
    stats: Counter = Counter(rows_total=len(df))
    for c in REQUIRED_COLUMNS:
        df[c] = df[c].str.strip()

    df, stats['rows_duplicate'] = drop_duplicate_rows(df)

    cls_idx = {c: i for i, c in enumerate(classes)}

    def parse_labels(labels: str) -> Tuple[str, tuple]:
        """(why invalid or '', class indices) of one Finding Labels value."""
        parts = [p.strip() for p in labels.split('|')] if labels else []
        if not parts or '' in parts:
            return f'empty finding in Finding Labels {labels!r}', ()
        if NIH_NO_FINDING in parts and len(parts) > 1:
            return f'"No Finding" combined with findings: {labels!r}', ()
        bad = [p for p in parts if p not in cls_idx and p != NIH_NO_FINDING]
        if bad:
            return f'unknown finding(s) {bad}', ()
        return '', tuple(sorted({cls_idx[p] for p in parts if p != NIH_NO_FINDING}))

    # NIH has ~800 distinct label strings over 112,120 rows: parse each once.
    parsed = {v: parse_labels(v) for v in df['Finding Labels'].unique()}
    records, invalid = [], []
    seen: Dict[str, int] = {}
    for name, labels, pid, view, line in zip(
        df['Image Index'], df['Finding Labels'], df['Patient ID'], df['View Position'], df['line']
    ):
        why, lab = parsed[labels]
        if not name:
            why = 'empty Image Index'
        elif name in seen:
            why = f'{name} listed again with different values (first at line {seen[name]})'
        elif not why and not pid.isdigit():
            why = f'Patient ID {pid!r} is not an integer'
        if why:
            invalid.append((line, why))
            continue
        seen[name] = line
        records.append((name, int(pid), lab, view, line))
    if invalid:
        if on_invalid_row == 'error':
            raise_invalid_rows(ann_file, invalid)
        stats['rows_invalid_dropped'] = len(invalid)
    out = pd.DataFrame(records, columns=['image', 'patient_id', 'labels', 'view', 'line'])
    return out.set_index('image', drop=False), stats


def read_image_list(path: str) -> List[str]:
    """One image name per line; blank lines ignored."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: official NIH split list not found (train_val_list.txt '
            f'/ test_list.txt ship with the dataset).'
        )
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def index_images(img_dir: str, data_root: str) -> Dict[str, str]:
    """Map file name -> path over ``img_dir`` and ``images_*/images``.

    The NIH download unpacks into ``images_001/images/`` ...
    ``images_012/images/``; many mirrors flatten it into ``images/``. Both
    are searched (``img_dir`` first).
    """
    dirs = [img_dir] + sorted(
        glob.glob(osp.join(data_root or '.', 'images_[0-9][0-9][0-9]', 'images'))
    )
    index: Dict[str, str] = {}
    for d in dirs:
        if not d or not osp.isdir(d):
            continue
        with os.scandir(d) as it:
            for e in it:
                if e.name not in index and e.is_file():
                    index[e.name] = e.path
    return index


__all__ = ['read_nih_csv', 'read_image_list', 'index_images']
