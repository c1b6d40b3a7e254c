# Copyright (c) cxr-mm contributors. All rights reserved.
"""Image sizes without decoding pixels: the size table, headers and their caches.

VinDr boxes are drawn in the pixel frame of the original DICOM, so the dataset
needs every image's original size before it can clip, fuse or scale a box.
Reading 15,000 DICOM headers takes minutes on a network disk; sizes are taken
from a size table (``image_id,width,height``) when one is given, else from the
file headers, cached in memory and in a small CSV keyed by file and mtime.
"""

import os
import os.path as osp
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .classes import DICOM_SUFFIXES
from .dicom import dicom_header

SIZE_TABLE_COLUMNS = ('image_id', 'width', 'height')
#: In-process cache of header-read sizes: (abspath, mtime_ns) -> (w, h).
_SIZE_CACHE: Dict[Tuple[str, int], Tuple[int, int]] = {}


def read_size_table(meta_file: str) -> Dict[str, Tuple[int, int]]:
    """``image_id -> (width, height)`` from ``image_id,width,height``."""
    df = pd.read_csv(meta_file, dtype={'image_id': str})
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in SIZE_TABLE_COLUMNS if c not in df.columns]
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
        header = dicom_header(path)  # DicomReadError (a ValueError) names the file
        return header['width'], header['height']
    from PIL import Image

    try:
        with Image.open(path) as im:
            return tuple(im.size)
    except Exception as e:
        raise ValueError(f'{path}: cannot read the image size: {e}') from e


def _load_disk_cache(path: Optional[str], warn: Callable[[str], None]):
    if path is None or not osp.isfile(path):
        return {}
    try:
        df = pd.read_csv(path, dtype={'file': str})
        return {
            f: (int(m), int(w), int(h))
            for f, m, w, h in zip(df['file'], df['mtime_ns'], df['width'], df['height'])
        }
    except Exception as e:  # a broken cache is rebuilt, not fatal
        warn(f'Ignoring unreadable size cache {path}: {e}')
        return {}


def _save_disk_cache(path: Optional[str], entries, warn: Callable[[str], None]) -> None:
    if path is None or not entries:
        return
    rows = [(f, m, w, h) for f, (m, w, h) in sorted(entries.items())]
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        pd.DataFrame(rows, columns=['file', 'mtime_ns', 'width', 'height']).to_csv(tmp, index=False)
        os.replace(tmp, path)
    except OSError as e:
        warn(f'Could not write the size cache {path}: {e}')


def header_sizes(
    paths: Iterable[str],
    root: str = '.',
    cache_file: Optional[str] = None,
    warn: Callable[[str], None] = print,
) -> Tuple[Dict[str, Tuple[int, int]], List[str], dict]:
    """Sizes of existing files from their headers, through both caches.

    Args:
        paths: image files.
        root: folder the disk cache keys are relative to.
        cache_file: the disk cache CSV (``file,mtime_ns,width,height``);
            None disables it.
        warn: called with a message when the cache cannot be read or written.

    Returns:
        tuple: ``(path -> (w, h), missing paths, stats)`` where stats counts
        ``header_reads`` and ``disk_cache_entries`` (entries found on disk).
    """
    disk = _load_disk_cache(cache_file, warn)
    n_disk = len(disk)
    out, missing, header_reads = {}, [], 0
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            missing.append(path)
            continue
        key = (osp.abspath(path), st.st_mtime_ns)
        rel = osp.relpath(path, root or '.')
        if key in _SIZE_CACHE:
            size = _SIZE_CACHE[key]
        elif rel in disk and disk[rel][0] == st.st_mtime_ns:
            size = disk[rel][1:]
        else:
            size = read_image_size(path)
            header_reads += 1
            disk[rel] = (st.st_mtime_ns, *size)
        _SIZE_CACHE[key] = tuple(size)
        out[path] = tuple(size)
    if header_reads:
        _save_disk_cache(cache_file, disk, warn)
    return out, missing, dict(header_reads=header_reads, disk_cache_entries=n_disk)


def annotation_frames(
    image_ids: Sequence[str],
    img_dir: str,
    img_suffix: str,
    size_tables: Sequence[str],
    root: str = '.',
    cache_file: Optional[str] = None,
    warn: Callable[[str], None] = print,
) -> Tuple[Dict[str, tuple], List[str], dict]:
    """Each image's file, its size and the pixel frame its boxes were drawn in.

    The frame is the original DICOM's: for a DICOM the first existing of
    ``size_tables`` when it lists the image (no header read), else its header;
    for a converted image (PNG, JPEG ...) the size table, which must list it:
    a missing entry is an error naming the image and the fix, never a
    fallback to the converted image's own size.

    Returns:
        tuple: ``(image_id -> (path, (w, h), (frame w, frame h)), missing
        paths, stats)``.
    """
    is_dicom = img_suffix.lower().endswith(DICOM_SUFFIXES)
    table = next((t for t in size_tables if osp.isfile(t)), None)
    meta = read_size_table(table) if table else {}
    paths = {i: osp.join(img_dir, i + img_suffix) for i in image_ids}
    # A DICOM listed in the size table needs no header read.
    from_meta = {i for i in image_ids if is_dicom and i in meta}
    read, missing_read, stats = header_sizes(
        [paths[i] for i in image_ids if i not in from_meta], root, cache_file, warn
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
    unlisted = [] if is_dicom else [out[i][0] for i in out if i not in meta]
    if unlisted:
        where = table or f'(none found; looked for {list(size_tables)})'
        raise ValueError(
            f'{len(unlisted)} {img_suffix} image(s) have no entry in the size table '
            f'{where}, e.g. {unlisted[:5]}. VinDr boxes are in the original DICOM '
            f'pixels, so a converted image needs its original size: convert with '
            f'tools/dataset_converters/dicom_to_png.py (it writes <out>/image_meta.csv, '
            f'columns image_id,width,height) or pass meta_file=<that CSV>.'
        )
    stats = dict(size_table=table, from_meta_file=sum(1 for i in out if i in meta), **stats)
    return out, missing, stats


def clear_size_cache() -> None:
    """Forget the in-process cache (as a fresh process would)."""
    _SIZE_CACHE.clear()


__all__ = [
    'read_size_table',
    'read_image_size',
    'header_sizes',
    'annotation_frames',
    'clear_size_cache',
]
