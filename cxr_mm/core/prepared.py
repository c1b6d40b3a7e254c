# Copyright (c) cxr-mm contributors. All rights reserved.
"""The shared machinery of the prepared-data converters (dicom_to_png, nih_prepare).

Full-scale training reads 86,524 NIH PNGs 800 times and 15,000 VinDr DICOMs
50 times; converting once to small PNGs makes loading cheap. A conversion must
then survive being killed and re-run, and never mix outputs of two option sets:

- every output is written to a temp file and renamed (complete or absent);
- the options are recorded in the output folder (``conversion.json``) and a
  re-run with other options stops, naming the option, unless told to
  overwrite (then the earlier outputs are deleted first);
- finished outputs are skipped on a re-run; stale temp files are removed;
- worker processes with a progress bar; failures are collected, not fatal.
"""

import json
import multiprocessing as mp
import os
import os.path as osp
import sys
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import cv2
import numpy as np

OPTIONS_FILE = 'conversion.json'
TMP_MARK = '.tmp-'


def resize_long_side(img: np.ndarray, long_side: Optional[int]) -> np.ndarray:
    """Shrink (never enlarge) with INTER_AREA so that max(h, w) == long_side."""
    h, w = img.shape[:2]
    if not long_side or max(h, w) <= long_side:
        return img
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def write_png_atomic(path: str, img: np.ndarray) -> None:
    """Encode to PNG and rename into place: a reader sees all of it or nothing."""
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise RuntimeError(f'{path}: PNG encoding failed')
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = f'{path}{TMP_MARK}{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def remove_stale_temps(out_dir: str) -> int:
    """Delete temp files a killed run left behind; returns how many."""
    n = 0
    for root, _, files in os.walk(out_dir):
        for name in files:
            if TMP_MARK in name:
                os.remove(osp.join(root, name))
                n += 1
    return n


def _normalise(options: Dict[str, Any]) -> Dict[str, Any]:
    return json.loads(json.dumps(options, sort_keys=True))


def claim_output_dir(
    out_dir: str, options: Dict[str, Any], outputs: Sequence[str], overwrite: bool = False
) -> int:
    """Check ``out_dir`` was made with ``options`` (or is new) and record them.

    Args:
        out_dir: Output folder.
        options: Everything that changes the outputs' content (JSON-able).
        outputs: Paths of all the outputs this run would write.
        overwrite: Delete existing outputs made with other (or unrecorded)
            options instead of stopping.

    Returns:
        Number of earlier outputs deleted (with ``overwrite``).

    Raises:
        ValueError: The folder holds outputs of other or unknown options; the
            message names each differing option.
    """
    options = _normalise(options)
    record = osp.join(out_dir, OPTIONS_FILE)
    existing = [p for p in outputs if osp.exists(p)]
    problem = None
    if osp.exists(record):
        with open(record) as f:
            old = json.load(f)
        diff = sorted(k for k in set(old) | set(options) if old.get(k) != options.get(k))
        if diff:
            problem = '; '.join(f'{k}: {old.get(k)!r} there, {options.get(k)!r} now' for k in diff)
    elif existing:
        problem = f'{len(existing)} outputs without a {OPTIONS_FILE} record of their options'
    removed = 0
    if problem and existing:
        if not overwrite:
            raise ValueError(
                f'{out_dir} holds outputs made with other options ({problem}); '
                'use another output folder or --overwrite (deletes them first)'
            )
        for p in existing:
            os.remove(p)
            removed += 1
    os.makedirs(out_dir, exist_ok=True)
    tmp = f'{record}{TMP_MARK}{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(options, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(tmp, record)
    return removed


_TASK_FN: Optional[Callable] = None


def _install(fn: Callable) -> None:
    global _TASK_FN
    _TASK_FN = fn
    if sys.platform.startswith('linux'):
        # A worker ends with its parent, even one killed by SIGKILL (no orphans
        # blocked on the task queue); PR_SET_PDEATHSIG = 1.
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)


def _call(task):
    return _TASK_FN(task)


def run_parallel(
    fn: Callable, tasks: Sequence, workers: int, desc: str, unit: str = 'img'
) -> Iterator:
    """``fn(task)`` for every task in ``workers`` processes, with a progress bar.

    Results come in completion order. ``fn`` reaches forked workers without
    pickling (so a function of a script loaded by path works); ``workers=0``
    runs in this process.
    """
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit=unit, file=sys.stderr)
    pool = None
    if workers > 0:
        ctx = mp.get_context('spawn' if sys.platform == 'win32' else 'fork')
        pool = ctx.Pool(workers, initializer=_install, initargs=(fn,))
        results: Iterable = pool.imap_unordered(_call, tasks, chunksize=1)
    else:
        results = map(fn, tasks)
    try:
        for result in results:
            bar.update()
            yield result
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()


def report_failures(failures: List[tuple], out_dir: str, name: str = 'failures.txt') -> str:
    """Print failures to stderr and write them to ``out_dir/name`` (removed when none)."""
    path = osp.join(out_dir, name)
    if not failures:
        if osp.exists(path):
            os.remove(path)
        return path
    lines = [f'{item}: {err}' for item, err in sorted(failures)]
    print(f'FAILED ({len(failures)}), also listed in {path}:', file=sys.stderr)
    for line in lines:
        print(f'  {line}', file=sys.stderr)
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return path
