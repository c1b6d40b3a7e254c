# Copyright (c) cxr-mm contributors. All rights reserved.
"""Seconds to build the VinDr and NIH datasets at full release scale, per split.

Goal (issue 11): under 15 s per split on one core, fusion included, for a
15,000-image Kaggle ``train.csv`` (3 readers per image) and for NIH's 112,120
``Data_Entry_2017.csv`` rows. The files are synthetic but in the official
formats; image files are empty placeholders (the datasets only stat them; the
VinDr sizes come from a size table, as after ``dicom_to_png.py``). The
baseline printed beside each row is ``pandas.read_csv`` of the same CSV in the
same run (CPU seconds), so the ratio says how much work the dataset adds to
reading the file. The goal is judged on the process's CPU time, which is its time
on one core even when other processes share the machine; wall time is printed too.

Usage:
    python bench/dataset_scale.py [--vindr-images 15000] [--nih-images 112120]
        [--workdir /tmp/cxr_mm_dataset_scale]
"""

import argparse
import os
import os.path as osp
import tempfile
import time

import numpy as np
import pandas as pd

GOAL_S = 15.0


def one_core() -> None:
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def write_vindr(root: str, n: int, seed: int = 0) -> str:
    """Kaggle train.csv: ~30 % abnormal images, 1-3 lesions, 3 jittered readers."""
    from cxr_mm.core.classes import NO_FINDING, NO_FINDING_ID, VINDR_CLASSES

    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, 'train')
    os.makedirs(img_dir, exist_ok=True)
    rows, sizes = [], []
    for k in range(n):
        image_id = f'{k:032x}'
        w, h = int(rng.integers(2000, 3000)), int(rng.integers(2300, 3100))
        sizes.append((image_id, w, h))
        open(osp.join(img_dir, image_id + '.dicom'), 'wb').close()
        lesions = []
        if rng.random() < 0.3:
            for _ in range(int(rng.integers(1, 4))):
                c = int(rng.integers(0, 14))
                x, y = rng.uniform(0, w * 0.7), rng.uniform(0, h * 0.7)
                bw, bh = rng.uniform(50, w * 0.3), rng.uniform(50, h * 0.3)
                lesions.append((c, x, y, x + bw, y + bh))
        for r in rng.choice(17, 3, replace=False):
            drawn = 0
            for c, x1, y1, x2, y2 in lesions:
                if rng.random() < 0.2:
                    continue
                j = rng.normal(0, 15, 4)
                rows.append(
                    (image_id, VINDR_CLASSES[c], c, f'R{r + 1}', *np.round([x1, y1, x2, y2] + j))
                )
                drawn += 1
            if not drawn:
                rows.append((image_id, NO_FINDING, NO_FINDING_ID, f'R{r + 1}', '', '', '', ''))
    cols = ['image_id', 'class_name', 'class_id', 'rad_id', 'x_min', 'y_min', 'x_max', 'y_max']
    pd.DataFrame(rows, columns=cols).to_csv(osp.join(root, 'train.csv'), index=False)
    pd.DataFrame(sizes, columns=['image_id', 'width', 'height']).to_csv(
        osp.join(root, 'image_meta.csv'), index=False
    )
    return osp.join(root, 'train.csv')


def write_nih(root: str, n: int, seed: int = 0) -> str:
    """Data_Entry_2017.csv, official-style patient-disjoint lists, empty images/."""
    from cxr_mm.core.classes import NIH_CLASSES, NIH_NO_FINDING

    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, 'images')
    os.makedirs(img_dir, exist_ok=True)
    rows, tv, test = [], [], []
    pid, k = 0, 0
    while len(rows) < n:
        pid += 1
        for f in range(min(int(rng.integers(1, 8)), n - len(rows))):
            name = f'{pid:08d}_{f:03d}.png'
            labels = [c for c in NIH_CLASSES if rng.random() < 0.04] or [NIH_NO_FINDING]
            rows.append(
                (
                    name,
                    '|'.join(labels),
                    f,
                    pid,
                    50,
                    'M',
                    'PA' if k % 3 else 'AP',
                    2500,
                    2048,
                    0.143,
                    0.143,
                )
            )
            (test if pid % 5 == 0 else tv).append(name)
            open(osp.join(img_dir, name), 'wb').close()
            k += 1
    cols = [
        'Image Index', 'Finding Labels', 'Follow-up #', 'Patient ID', 'Patient Age',
        'Patient Gender', 'View Position', 'OriginalImage[Width', 'Height]',
        'OriginalImagePixelSpacing[x', 'y]',
    ]  # fmt: skip
    pd.DataFrame(rows, columns=cols).to_csv(osp.join(root, 'Data_Entry_2017.csv'), index=False)
    for name, lst in (('train_val_list.txt', tv), ('test_list.txt', test)):
        with open(osp.join(root, name), 'w') as f:
            f.write('\n'.join(lst) + '\n')
    return osp.join(root, 'Data_Entry_2017.csv')


def timed(fn):
    """(CPU seconds of this process, wall seconds, result): on a shared machine the
    CPU time is the time on one core; the wall time also counts other processes."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - t0, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--vindr-images', type=int, default=15000)
    p.add_argument('--nih-images', type=int, default=112120)
    p.add_argument('--workdir', default=None, help='default: a fresh temporary folder')
    args = p.parse_args(argv)
    one_core()

    from mmengine.logging import MMLogger

    import cxr_mm.register  # noqa: F401
    from cxr_mm.datasets.nih import NIHChestXrayDataset
    from cxr_mm.datasets.vindr import VinDrCXRDataset

    MMLogger.get_instance('dataset_scale', log_level='WARNING')
    work = args.workdir or tempfile.mkdtemp(prefix='cxr_mm_dataset_scale_')
    vroot, nroot = osp.join(work, 'vindr'), osp.join(work, 'nih')
    print(f'writing synthetic files under {work} ...', flush=True)
    vcsv = write_vindr(vroot, args.vindr_images)
    ncsv = write_nih(nroot, args.nih_images)

    rows = []
    base_v, _, _ = timed(lambda: pd.read_csv(vcsv, dtype=str, keep_default_na=False))
    for split in ('train', 'val', 'test'):
        t, wall, ds = timed(
            lambda: VinDrCXRDataset(
                data_root=vroot,
                split=split,
                pipeline=[],
                serialize_data=False,
                size_cache_file=None,
            )  # fmt: skip
        )
        n_boxes = sum(ds.summary['boxes_per_class_fused'].values())
        rows.append((f'VinDr {split} (wbf, {n_boxes} fused boxes)', len(ds), t, wall, base_v))
    base_n, _, _ = timed(lambda: pd.read_csv(ncsv, dtype=str, keep_default_na=False))
    for split in ('train', 'val', 'test'):
        t, wall, ds = timed(
            lambda: NIHChestXrayDataset(
                data_root=nroot, split=split, pipeline=[], serialize_data=False
            )
        )
        rows.append((f'NIH {split}', len(ds), t, wall, base_n))

    print(f'\n{"dataset / split":<40} {"images":>7} {"cpu s":>7} {"wall s":>7} {"goal s":>7} '
          f'{"read_csv s":>10} {"ratio":>6}  ok')  # fmt: skip
    ok = True
    for name, n, t, wall, base in rows:
        good = t < GOAL_S
        ok &= good
        print(
            f'{name:<40} {n:>7} {t:>7.2f} {wall:>7.2f} {GOAL_S:>7.0f} {base:>10.2f} '
            f'{t / base:>6.1f}  {"yes" if good else "NO"}'
        )
    print(f'\none core, {args.vindr_images} VinDr images, {args.nih_images} NIH rows')
    return 0 if ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
