# Copyright (c) cxr-mm contributors. All rights reserved.
"""Synthetic demo data in the official NIH ChestX-ray14 and VinDr-CXR formats.

The real releases are hundreds of GB behind data-use agreements, so the demo
pipeline, the tests and the README commands run on a tiny stand-in written in
exactly the published file formats (CSV columns, split lists, DICOM encodings).
Images are rendered to look like frontal chest radiographs and every lesion
class has its own appearance *and* place, so a short detector training run
shows real learning rather than memorised noise.
"""

import csv
import hashlib
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .classes import NIH_CLASSES, NIH_NO_FINDING, NO_FINDING, NO_FINDING_ID, VINDR_CLASSES

# The lesion kinds the renderer draws: VinDr class id -> NIH finding.
DEMO_LESIONS = {
    0: None,  # Aortic enlargement has no NIH counterpart
    3: 'Cardiomegaly',
    8: 'Nodule',  # Nodule/Mass; a large one is called Mass in NIH terms
    10: 'Effusion',
    12: 'Pneumothorax',
}

NIH_CSV_COLUMNS = [
    'Image Index',
    'Finding Labels',
    'Follow-up #',
    'Patient ID',
    'Patient Age',
    'Patient Gender',
    'View Position',
    'OriginalImage[Width',
    'Height]',
    'OriginalImagePixelSpacing[x',
    'y]',
]
VINDR_CSV_COLUMNS = [
    'image_id',
    'class_name',
    'class_id',
    'rad_id',
    'x_min',
    'y_min',
    'x_max',
    'y_max',
]


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Band-limited noise in [-1, 1]: bilinear upsampling of a coarse grid."""
    grid = rng.uniform(-1, 1, size=(cells + 1, cells + 1))
    ys = np.linspace(0, cells, h)
    xs = np.linspace(0, cells, w)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    return g00 * (1 - fy) * (1 - fx) + g01 * (1 - fy) * fx + g10 * fy * (1 - fx) + g11 * fy * fx


def _soft_ellipse(yy, xx, cy, cx, ry, rx, edge=0.08):
    """1 inside, 0 outside, with a soft edge (relative width `edge`)."""
    d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    return np.clip((1 + edge - d) / (2 * edge), 0, 1)


def _box_of(mask: np.ndarray, thr: float = 0.5) -> Tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask > thr)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def render_chest(
    rng: np.random.Generator,
    height: int,
    width: int,
    lesions: Sequence[int] = (),
    noise: float = 0.012,
) -> Tuple[np.ndarray, List[Tuple]]:
    """Render a frontal chest radiograph-like image.

    Args:
        rng: Random generator (the only source of randomness).
        height, width: Output size in pixels.
        lesions: VinDr class ids to draw (subset of ``DEMO_LESIONS``).
        noise: Std of the pixel noise, relative to the [0, 1] range.

    Returns:
        ``(img, boxes)``: float32 image in [0, 1] in display convention
        (dense = bright, like MONOCHROME2) and a list of
        ``(class_id, x1, y1, x2, y2)`` true lesion boxes in pixels.
    """
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= h
    xx /= w
    # Patient-specific anatomy.
    j = lambda s: rng.normal(0, s)  # noqa: E731
    body_rx = 0.46 + j(0.02)
    lung_cy = 0.45 + j(0.02)
    lung_ry = 0.30 + j(0.015)
    lung_rx = 0.17 + j(0.01)
    lung_dx = 0.21 + j(0.01)
    heart_cy = 0.64 + j(0.015)
    heart_cx = 0.54 + j(0.01)
    heart_ry = 0.12 + j(0.008)
    heart_rx = 0.13 + j(0.008)
    if 3 in lesions:  # Cardiomegaly: cardiothoracic ratio > 0.5
        heart_rx *= 1.55 + rng.uniform(0, 0.15)
        heart_ry *= 1.2
        heart_cx += 0.03

    img = np.full((h, w), 0.04, np.float32)  # air outside the patient
    body = _soft_ellipse(yy, xx, 0.55, 0.5, 0.62, body_rx, 0.05)
    img += 0.4 * body
    # Lungs (dark), with vascular markings fading to the periphery.
    lungs = []
    for side in (-1, 1):
        cx = 0.5 + side * lung_dx
        lung = _soft_ellipse(yy, xx, lung_cy, cx, lung_ry, lung_rx, 0.1)
        lungs.append(lung)
    lung = np.maximum(lungs[0], lungs[1])
    markings = 0.5 + 0.5 * _smooth_noise(rng, h, w, 24)
    hilum = np.exp(-(((xx - 0.5) / 0.2) ** 2 + ((yy - 0.45) / 0.2) ** 2))
    lung_val = 0.36 - 0.34 * lung + lung * (0.05 + 0.08 * hilum) * markings
    img = img * (1 - 0.6 * lung) + lung_val * 0.6 * lung
    # Ribs: curved bright bands over the lungs.
    rib_phase = 2 * np.pi * (yy * 9.5 + 0.9 * (xx - 0.5) ** 2 * 6)
    ribs = np.clip(np.sin(rib_phase + j(0.3)), 0, 1) ** 2
    thorax = _soft_ellipse(yy, xx, lung_cy, 0.5, lung_ry * 1.08, lung_dx + lung_rx * 1.15, 0.1)
    img += 0.06 * ribs * thorax
    # Mediastinum, spine and heart (bright).
    med = _soft_ellipse(yy, xx, 0.45, 0.5, 0.30, 0.075, 0.1)
    spine = _soft_ellipse(yy, xx, 0.55, 0.5, 0.6, 0.035, 0.2)
    heart = _soft_ellipse(yy, xx, heart_cy, heart_cx, heart_ry, heart_rx, 0.06)
    img = np.maximum(img, 0.62 * med + 0.1 * spine)
    img = np.maximum(img, 0.66 * heart)
    # Diaphragm domes: everything below them is dense abdomen.
    dome = (
        lung_cy
        + lung_ry * 0.95
        - 0.06 * np.cos(np.pi * (xx - 0.5 + 0.21 * np.sign(xx - 0.5)) / 0.35)
    )
    abdomen = np.clip((yy - dome) / 0.015, 0, 1) * body
    img = np.maximum(img, 0.6 * abdomen)

    boxes = []
    if 3 in lesions:
        boxes.append((3,) + _box_of(heart))
    if 0 in lesions:  # Aortic enlargement: bulge at the aortic knob.
        ky, kx = 0.27 + j(0.01), 0.575 + j(0.008)
        r = 0.055 + rng.uniform(0, 0.015)
        knob = _soft_ellipse(yy, xx, ky, kx, r, r * 0.9, 0.1)
        img = np.maximum(img, 0.66 * knob)
        boxes.append((0,) + _box_of(knob))
    if 10 in lesions:  # Pleural effusion: basal meniscus, blunted angle.
        side = rng.choice([-1, 1])
        cx = 0.5 + side * (lung_dx + 0.02)
        level = lung_cy + lung_ry * (0.45 + rng.uniform(0, 0.2))
        meniscus = level - 0.05 * np.abs((xx - cx) / lung_rx)
        fluid = np.clip((yy - meniscus) / 0.02, 0, 1) * lungs[0 if side < 0 else 1]
        img = np.maximum(img, 0.58 * fluid)
        boxes.append((10,) + _box_of(fluid, 0.3))
    if 12 in lesions:  # Pneumothorax: lucent lateral-apical rim, no markings.
        side = rng.choice([-1, 1])
        sl = lungs[0 if side < 0 else 1]
        cx = 0.5 + side * lung_dx
        inner = _soft_ellipse(
            yy, xx, lung_cy + 0.04, cx - side * 0.035, lung_ry * 0.88, lung_rx * 0.72, 0.04
        )
        rim = np.clip(sl - inner, 0, 1) * (yy < lung_cy + 0.1)
        img = img * (1 - rim) + 0.06 * rim
        # Visible pleural line at the collapsed lung edge.
        line = np.clip(1 - np.abs(inner - 0.5) / 0.12, 0, 1) * (yy < lung_cy + 0.1) * sl
        img = np.maximum(img, 0.3 * line)
        boxes.append((12,) + _box_of(rim, 0.4))
    if 8 in lesions:  # Nodule/Mass: bright round blob inside a lung field.
        side = rng.choice([-1, 1])
        cx = 0.5 + side * (lung_dx + rng.uniform(-0.07, 0.07))
        cy = lung_cy + rng.uniform(-0.18, 0.12)
        r = rng.uniform(0.025, 0.07)
        blob = _soft_ellipse(yy, xx, cy, cx, r, r * rng.uniform(0.85, 1.15), 0.25)
        img = np.maximum(img, img * (1 - blob) + 0.62 * blob)
        boxes.append((8,) + _box_of(blob, 0.25))

    img += noise * rng.standard_normal((h, w)).astype(np.float32)
    img += 0.01 * _smooth_noise(rng, h, w, 4)
    return np.clip(img, 0, 1).astype(np.float32), boxes


# --------------------------------------------------------------------------
# NIH ChestX-ray14 format
# --------------------------------------------------------------------------
def _nih_labels(rng: np.random.Generator) -> Tuple[List[int], List[str]]:
    """Random findings; 40% No Finding; drawn lesions match the labels."""
    if rng.random() < 0.4:
        return [], []
    kinds = [3, 8, 10, 12]
    lesions = [int(k) for k in kinds if rng.random() < 0.3]
    names = [DEMO_LESIONS[k] for k in lesions]
    # Findings without a drawn appearance (label noise, as in the real set).
    for extra in ('Infiltration', 'Atelectasis'):
        if rng.random() < 0.12:
            names.append(extra)
    if not names:
        lesions, names = [8], ['Nodule']
    names = sorted(set(names), key=NIH_CLASSES.index)
    return lesions, names


def make_nih(
    out_dir: str,
    rng: np.random.Generator,
    num_patients: int = 60,
    num_images: int = 200,
    size: int = 256,
    test_ratio: float = 0.2,
) -> Dict[str, int]:
    """Write an NIH ChestX-ray14-format set (PNGs, Data_Entry csv, lists)."""
    from PIL import Image

    img_dir = osp.join(out_dir, 'images')
    os.makedirs(img_dir, exist_ok=True)
    # Several images per patient: every patient gets one, the rest spread.
    counts = np.ones(num_patients, int)
    extra = rng.choice(num_patients, num_images - num_patients, replace=True)
    np.add.at(counts, extra, 1)
    pids = np.arange(1, num_patients + 1)
    rows = []
    for pid, n in zip(pids, counts):
        age = int(rng.integers(18, 90))
        sex = 'M' if rng.random() < 0.55 else 'F'
        for follow_up in range(n):
            name = f'{pid:08d}_{follow_up:03d}.png'
            lesions, labels = _nih_labels(rng)
            img, _ = render_chest(rng, size, size, lesions, noise=0.0)
            Image.fromarray(np.round(img * 255).astype(np.uint8)).save(osp.join(img_dir, name))
            view = 'PA' if rng.random() < 0.6 else 'AP'
            ow, oh = (2500, 2048) if rng.random() < 0.5 else (2992, 2991)
            spacing = 0.143 if ow == 2500 else 0.139
            rows.append(
                [
                    name,
                    '|'.join(labels) or NIH_NO_FINDING,
                    follow_up,
                    pid,
                    age + follow_up // 4,
                    sex,
                    view,
                    ow,
                    oh,
                    spacing,
                    spacing,
                ]
            )
    # Official format: trailing comma -> one unnamed empty column.
    with open(osp.join(out_dir, 'Data_Entry_2017.csv'), 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(NIH_CSV_COLUMNS + [''])
        for r in rows:
            writer.writerow(r + [''])
    # Patient-disjoint official split.
    n_test = max(1, int(round(num_patients * test_ratio)))
    test_pids = set(int(p) for p in rng.choice(pids, n_test, replace=False))
    with (
        open(osp.join(out_dir, 'train_val_list.txt'), 'w') as f_tv,
        open(osp.join(out_dir, 'test_list.txt'), 'w') as f_te,
    ):
        for r in rows:
            (f_te if r[3] in test_pids else f_tv).write(r[0] + '\n')
    return dict(images=len(rows), patients=num_patients, test_patients=n_test)


# --------------------------------------------------------------------------
# VinDr-CXR (Kaggle VinBigData) format
# --------------------------------------------------------------------------
def _uid(*parts) -> str:
    """Deterministic DICOM UID from the given parts."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _dicom_dataset(
    arr: np.ndarray,
    image_id: str,
    photometric: str,
    bits_stored: int,
    window: Optional[Tuple[float, float]],
    spacing: float,
    seed: int,
):
    """A conformant DX 'For Presentation' dataset holding `arr`."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.1'
    meta.MediaStorageSOPInstanceUID = _uid(seed, image_id, 'sop')
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = '1.2.826.0.1.3680043.8.498.1'
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = _uid(seed, image_id, 'study')
    ds.SeriesInstanceUID = _uid(seed, image_id, 'series')
    ds.Modality = 'DX'
    ds.PatientID = hashlib.sha1(image_id.encode()).hexdigest()[:10]
    ds.PatientSex = 'O'
    ds.StudyDate = '20200101'
    ds.BodyPartExamined = 'CHEST'
    ds.ViewPosition = 'PA'
    ds.PresentationIntentType = 'FOR PRESENTATION'
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = 'US'
    ds.PixelSpacing = [spacing, spacing]
    ds.ImagerPixelSpacing = [spacing, spacing]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
        ds.VOILUTFunction = 'LINEAR'
    ds.PixelData = arr.astype('<u2').tobytes()
    return ds


def make_vindr(
    out_dir: str,
    rng: np.random.Generator,
    num_images: int = 110,
    negative_ratio: float = 0.25,
    size_range: Tuple[int, int] = (384, 512),
    seed: int = 0,
) -> Dict[str, int]:
    """Write a VinDr-CXR/Kaggle-format set (DICOMs, train.csv, meta csv)."""
    from pydicom.uid import JPEG2000, JPEG2000Lossless, RLELossless

    img_dir = osp.join(out_dir, 'train')
    os.makedirs(img_dir, exist_ok=True)
    kinds = sorted(DEMO_LESIONS)
    rad_pool = [f'R{i}' for i in range(1, 18)]
    csv_rows, meta_rows = [], []
    counts = dict(negatives=0, boxes=0, j2k=0, rle=0, uncompressed=0)
    for i in range(num_images):
        image_id = hashlib.md5(f'cxr-mm-demo-{seed}-{i}'.encode()).hexdigest()
        h = int(rng.integers(size_range[0], size_range[1] + 1))
        w = int(np.clip(h * rng.uniform(0.85, 1.05), *size_range))
        if rng.random() < negative_ratio:
            lesions = []
        else:
            n = 1 + int(rng.random() < 0.35)
            lesions = [int(k) for k in rng.choice(kinds, n, replace=False)]
        img, boxes = render_chest(rng, h, w, lesions, noise=0.0)

        # Stored values: 12- or 16-bit, either photometric interpretation,
        # occupying a sub-range of the bit depth (as detectors do).
        bits = 12 if rng.random() < 0.6 else 16
        top = 2**bits - 1
        lo = rng.uniform(0.02, 0.12) * top
        hi = rng.uniform(0.75, 0.95) * top
        photometric = 'MONOCHROME1' if rng.random() < 0.4 else 'MONOCHROME2'
        disp = img if photometric == 'MONOCHROME2' else 1 - img
        # Quantum noise of half a stored level keeps lossless codecs small.
        stored = lo + disp * (hi - lo) + 0.5 * rng.standard_normal(disp.shape)
        stored = np.clip(np.round(stored), 0, top).astype(np.uint16)
        window = None
        if rng.random() < 0.8:
            window = (round((lo + hi) / 2, 1), round(hi - lo, 1))
        spacing = round(float(rng.uniform(0.14, 0.2)) * 2500 / max(h, w), 4)
        ds = _dicom_dataset(stored, image_id, photometric, bits, window, spacing, seed)
        # Transfer syntax mix; compress() would draw random instance UIDs.
        r = rng.random()
        if r < 0.3:
            ds.compress(JPEG2000Lossless, encoding_plugin='pylibjpeg', generate_instance_uid=False)
            counts['j2k'] += 1
        elif r < 0.84:
            ds.compress(
                JPEG2000, j2k_cr=[12], encoding_plugin='pylibjpeg', generate_instance_uid=False
            )
            counts['j2k'] += 1
        elif r < 0.92:
            ds.compress(RLELossless, encoding_plugin='pydicom', generate_instance_uid=False)
            counts['rle'] += 1
        else:
            counts['uncompressed'] += 1
        ds.save_as(osp.join(img_dir, f'{image_id}.dicom'), enforce_file_format=True)
        meta_rows.append([image_id, w, h])

        rads = [str(r) for r in rng.choice(rad_pool, 3, replace=False)]
        if not boxes:
            counts['negatives'] += 1
        for rad in rads:
            drawn = 0
            for cls, x1, y1, x2, y2 in boxes:
                if rng.random() < 0.08:  # a radiologist misses it
                    continue
                bw, bh = x2 - x1, y2 - y1
                jit = rng.normal(0, 0.06, 4) * [bw, bh, bw, bh]
                bx = np.array([x1, y1, x2, y2], float) + jit
                bx[[0, 2]] = np.clip(bx[[0, 2]], 0, w - 1)
                bx[[1, 3]] = np.clip(bx[[1, 3]], 0, h - 1)
                bx = np.round(bx)
                if bx[2] <= bx[0] or bx[3] <= bx[1]:
                    continue
                csv_rows.append([image_id, VINDR_CLASSES[cls], cls, rad, *map(float, bx)])
                drawn += 1
                counts['boxes'] += 1
            if not drawn:
                csv_rows.append([image_id, NO_FINDING, NO_FINDING_ID, rad, '', '', '', ''])
    with open(osp.join(out_dir, 'train.csv'), 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(VINDR_CSV_COLUMNS)
        writer.writerows(csv_rows)
    with open(osp.join(out_dir, 'image_meta.csv'), 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(['image_id', 'width', 'height'])
        writer.writerows(meta_rows)
    counts['images'] = num_images
    return counts


def make_demo_data(
    out_dir: str,
    seed: int = 0,
    nih_patients: int = 60,
    nih_images: int = 200,
    nih_size: int = 256,
    vindr_images: int = 110,
    vindr_size_range: Tuple[int, int] = (384, 512),
    vindr_negative_ratio: float = 0.25,
) -> Dict[str, Dict]:
    """Write the demo NIH and VinDr sets under ``out_dir/{nih,vindr}``.

    Deterministic for a given ``seed`` (byte-identical files).

    Args:
        out_dir: Root folder, e.g. ``data/demo``.
        seed: Random seed.
        nih_patients, nih_images, nih_size: NIH set size (PNG side length).
        vindr_images, vindr_size_range, vindr_negative_ratio: VinDr set size,
            DICOM side lengths and share of ``No finding`` images.

    Returns:
        Summary counts per set.
    """
    nih_rng, vindr_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    nih = make_nih(osp.join(out_dir, 'nih'), nih_rng, nih_patients, nih_images, nih_size)
    vindr = make_vindr(
        osp.join(out_dir, 'vindr'),
        vindr_rng,
        vindr_images,
        vindr_negative_ratio,
        tuple(vindr_size_range),
        seed=seed,
    )
    return dict(nih=nih, vindr=vindr)
