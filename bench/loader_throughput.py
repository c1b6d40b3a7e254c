"""Samples/s PER LOADER WORKER of the real training pipelines, prepared data vs not.

The pipelines are the shipped configs' ``train_dataloader.dataset.pipeline`` (stage 1:
LoadCXRImage + two BarlowTwins-CXR views at 224; stage 2: LoadCXRImage, Resize 1024,
flip, brightness/contrast jitter), run through mmengine's DataLoader (DefaultSampler,
the config's collate function, ``--workers`` processes); the rate is taken in steady
state after ``--warmup`` batches, divided by the number of workers. Rows and their
baselines, all measured in this run:

- stage 1 from 1024 px NIH-format PNGs vs from the prepared 256 px copy
  (nih_prepare.py --resize 256), each with the config's one-grey-channel views and
  with the 3-channel pipeline the configs used before (the baseline); goal >= 150
  samples/s per worker from the prepared copy;
- stage 2 from VinDr-size DICOMs (bench/vindr_size.py: 2,800 x 2,300, 16 bit,
  MONOCHROME1, window tags), uncompressed and JPEG 2000 lossless (full decode as the
  DICOM config ships, and at reduced resolution with ``target_long_side=1024``), vs
  the prepared 1024 px 16-bit PNGs (dicom_to_png.py), with the config's one-grey-channel
  jitter (GreyBrightness/GreyContrast, GreyToColor last) and with the 3-channel load and
  mmdet Brightness/Contrast the configs used before; goal >= 30 per worker from PNG.

Two rates per row: wall-clock samples/s per worker, and samples per worker CPU-second
(what a worker reaches on a core of its own; robust when other jobs share the cores).
The goals are judged on the second.

Images are a real chest radiograph (pydicom-data's RG1), written once into
``~/.cache/cxr-mm/bench`` (outside the checkout); several file names point at copies
so the loader reads files, as in training (from the page cache after the first pass).

    python bench/loader_throughput.py                      # 2 workers, short
    python bench/loader_throughput.py --workers 8 --batches 10
"""

import argparse
import copy
import os
import os.path as osp
import shutil
import sys
import time

import cv2

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from vindr_size import CACHE, vindr_size_dicoms  # noqa: E402

STAGE1_CFG = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'
STAGE2_CFG = 'configs/faster_rcnn_cxr/faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'
STAGE2_PNG_CFG = 'configs/faster_rcnn_cxr/faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-png-1024.py'
STAGE1_GOAL, STAGE2_GOAL = 150.0, 30.0
N_FILES = 8


def make_files(cache: str = CACHE) -> dict:
    """Paths of the bench images, made once: NIH 1024 / 256 px PNGs, VinDr DICOMs, PNGs."""
    from cxr_mm.core.dicom import read_dicom
    from cxr_mm.core.prepared import resize_long_side, write_png_atomic

    dicoms = vindr_size_dicoms(cache)
    out = {}
    nih = osp.join(cache, 'nih_1024', 'rg1.png')
    if not osp.exists(nih):
        from pydicom.data import get_testdata_file

        img, _ = read_dicom(get_testdata_file('RG1_UNCR.dcm', download=False), dtype='uint8')
        write_png_atomic(nih, cv2.resize(img, (1024, 1024), interpolation=cv2.INTER_AREA))
    small = osp.join(cache, 'nih_256', 'rg1.png')
    if not osp.exists(small):  # what nih_prepare.py --resize 256 writes
        write_png_atomic(small, resize_long_side(cv2.imread(nih, cv2.IMREAD_UNCHANGED), 256))
    vpng = osp.join(cache, 'vindr_png_1024', 'rg1.png')
    if not osp.exists(vpng):  # what dicom_to_png.py --long-side 1024 --bits 16 writes
        img, _ = read_dicom(dicoms['uncompressed'], dtype='uint16', target_long_side=1024)
        write_png_atomic(vpng, resize_long_side(img, 1024))
    sources = dict(
        nih_1024=nih,
        nih_256=small,
        dicom_uncompressed=dicoms['uncompressed'],
        dicom_j2k=dicoms['jpeg2000'],
        vindr_png_1024=vpng,
    )
    for name, src in sources.items():
        folder = osp.join(cache, 'copies', name)
        os.makedirs(folder, exist_ok=True)
        ext = osp.splitext(src)[1]
        paths = []
        for i in range(N_FILES):
            dst = osp.join(folder, f'{i}{ext}')
            if not osp.exists(dst):
                shutil.copyfile(src, dst + '.tmp')
                os.replace(dst + '.tmp', dst)
            paths.append(dst)
        out[name] = paths
    return out


class ListDataset:
    """``data_info`` dicts through a pipeline: the part of a dataset that runs per sample."""

    def __init__(self, infos, pipeline, length):
        self.infos, self.pipeline, self.length = infos, pipeline, length

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        return self.pipeline(copy.deepcopy(self.infos[idx % len(self.infos)]))


def build_pipeline(cfg_file, scope, edit=None):
    """The config's train pipeline, built in its scope; ``edit`` changes the config list."""
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(osp.join(REPO, cfg_file))
    init_default_scope(scope)
    steps = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    if edit:
        edit(steps)
    collate = cfg.train_dataloader.get('collate_fn', dict(type='pseudo_collate'))
    if scope == 'mmdet':
        from mmdet.registry import TRANSFORMS
    else:
        from mmpretrain.registry import TRANSFORMS
    return Compose([TRANSFORMS.build(t) for t in steps]), collate


def _cpu_seconds(pids) -> float:
    """User + system CPU time of processes (Linux /proc), in seconds."""
    tick = os.sysconf('SC_CLK_TCK')
    total = 0
    for pid in pids:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _rss_mib(pid: int) -> float:
    """Resident set size of a process (Linux /proc), MiB."""
    with open(f'/proc/{pid}/status') as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
    return kib / 1024


def _loader(dataset, collate, workers, batch):
    """mmengine's training DataLoader (DefaultSampler, shuffled, seed 0) over ``dataset``."""
    from mmengine.runner import Runner

    return Runner.build_dataloader(
        dict(
            batch_size=batch,
            num_workers=workers,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=collate,
            dataset=dataset,
        ),
        seed=0,
    )


def worker_rss_over_epoch(dataset, collate, workers, batch, samples=5):
    """Each loader worker's RSS (MiB) at ``samples`` points of one whole epoch.

    A worker that grows over an epoch (a cache keyed by sample, a leaked decoder buffer)
    runs out of memory on the 86,524-image NIH epoch long before this bench would see it
    in speed; the last point against the first shows it.
    """
    loader = _loader(dataset, collate, workers, batch)
    it = iter(loader)
    n = len(loader)
    marks = {max(1, round(n * k / (samples - 1))) for k in range(samples)}
    trace = []
    for i in range(1, n + 1):
        next(it)
        if i in marks:
            trace.append([_rss_mib(w.pid) for w in it._workers])
    del it
    return trace


def rate_per_worker(dataset, collate, workers, batch, warmup, batches):
    """Steady-state samples/s of an mmengine DataLoader per worker, and per worker CPU-second.

    The second figure is what a worker reaches on a core of its own: it does not drop
    when other jobs share the machine's cores.
    """
    loader = _loader(dataset, collate, workers, batch)
    it = iter(loader)
    # Warm-up: every worker has delivered ``warmup`` batches (started, caches filled).
    for _ in range(warmup * max(workers, 1)):
        next(it)
    pids = [w.pid for w in getattr(it, '_workers', [])] or [os.getpid()]
    cpu0, t0 = _cpu_seconds(pids), time.perf_counter()
    n = batches * max(workers, 1)
    for _ in range(n):
        next(it)
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(pids) - cpu0
    del it
    return n * batch / elapsed / max(workers, 1), n * batch / max(cpu, 1e-9)


def three_channel_load(steps):
    """The stage-1 pipeline as the configs shipped it before: 3-channel load and views."""
    steps[0]['color_type'] = 'color'


def three_channel_jitter(steps):
    """The stage-2 pipeline as the configs shipped it before: 3-channel load, mmdet's jitter."""
    steps[0]['color_type'] = 'color'
    steps[:] = [
        dict(s, type=s['type'].replace('Grey', '')) for s in steps if s['type'] != 'GreyToColor'
    ]


def reduced_j2k(steps):
    """The stage-2 DICOM pipeline decoding JPEG 2000 at reduced resolution."""
    steps[0]['target_long_side'] = 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--batch1', type=int, default=16, help='stage-1 batch per step')
    parser.add_argument('--batch2', type=int, default=4, help='stage-2 batch per step')
    parser.add_argument('--warmup', type=int, default=1, help='warm-up batches per worker')
    parser.add_argument('--batches', type=int, default=3, help='timed batches per worker')
    parser.add_argument(
        '--rss-batches', type=int, default=40, help='batches per worker in the RSS epoch'
    )
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    cv2.setNumThreads(1)  # one core per worker, as in training with many workers
    import cxr_mm.register  # noqa: F401

    files = make_files()
    length = 10**6
    box = dict(bbox=[600.0, 700.0, 1400.0, 1500.0], bbox_label=3, ignore_flag=0)

    def stage1(source, edit=None):
        pipe, collate = build_pipeline(STAGE1_CFG, 'mmpretrain', edit)
        infos = [dict(img_path=p, sample_idx=i) for i, p in enumerate(files[source])]
        return ListDataset(infos, pipe, length), collate, args.batch1

    def stage2(source, cfg=STAGE2_CFG, edit=None, size=(2800, 2300)):
        pipe, collate = build_pipeline(cfg, 'mmdet', edit)
        scale = 1.0 if size == (2800, 2300) else 1024 / 2800
        inst = dict(box, bbox=[v * scale for v in box['bbox']])
        infos = [
            dict(img_path=p, img_id=i, height=size[0], width=size[1], instances=[inst])
            for i, p in enumerate(files[source])
        ]
        return ListDataset(infos, pipe, length), collate, args.batch2

    rows = [
        # (label, dataset builder, baseline label, goal)
        ('stage 1  1024 px PNG, 3-channel views', lambda: stage1('nih_1024', three_channel_load),
         None, None),
        ('stage 1  1024 px PNG, grey views (config)', lambda: stage1('nih_1024'),
         'stage 1  1024 px PNG, 3-channel views', None),
        ('stage 1  256 px prepared, 3-channel views', lambda: stage1('nih_256', three_channel_load),
         'stage 1  1024 px PNG, 3-channel views', None),
        ('stage 1  256 px prepared, grey views (config)', lambda: stage1('nih_256'),
         'stage 1  1024 px PNG, 3-channel views', STAGE1_GOAL),
        ('stage 2  DICOM uncompressed 2800 px', lambda: stage2('dicom_uncompressed'), None, None),
        ('stage 2  DICOM J2K lossless, full decode', lambda: stage2('dicom_j2k'),
         'stage 2  DICOM uncompressed 2800 px', None),
        ('stage 2  DICOM J2K lossless, target_long_side',
         lambda: stage2('dicom_j2k', edit=reduced_j2k),
         'stage 2  DICOM uncompressed 2800 px', None),
        ('stage 2  1024 px prepared PNG, 3-channel jitter',
         lambda: stage2('vindr_png_1024', STAGE2_PNG_CFG, edit=three_channel_jitter,
                        size=(1024, 841)),
         'stage 2  DICOM uncompressed 2800 px', None),
        ('stage 2  1024 px prepared PNG (png config)',
         lambda: stage2('vindr_png_1024', STAGE2_PNG_CFG, size=(1024, 841)),
         'stage 2  DICOM uncompressed 2800 px', STAGE2_GOAL),
    ]  # fmt: skip
    print(
        f'{args.workers} loader workers, steady state after {args.warmup} batch(es) per '
        f'worker, {args.batches} timed batch(es) per worker; samples/s PER WORKER'
    )
    header = (
        f'{"row":<48}{"samples/s":>10}{"/CPU-s":>8}{"baseline":>10}{"ratio":>8}{"goal":>7}  '
        'status (on /CPU-s)'
    )
    print(header)
    print('-' * len(header))
    measured = {}
    for label, build, base, goal in rows:
        dataset, collate, batch = build()
        r, r_cpu = rate_per_worker(dataset, collate, args.workers, batch, args.warmup, args.batches)
        measured[label] = r_cpu
        b = measured.get(base)
        status = '' if goal is None else ('meets goal' if r_cpu >= goal else 'BELOW goal')
        print(
            f'{label:<48}{r:>10.1f}{r_cpu:>8.1f}{(f"{b:.1f}" if b else "-"):>10}'
            f'{(f"{r_cpu / b:.2f}x" if b else "-"):>8}{(f"{goal:g}" if goal else "-"):>7}  '
            f'{status}',
            flush=True,
        )
    # One whole epoch per pipeline: does a worker's memory stay flat?
    workers = max(args.workers, 1)
    for label, build in (
        ('stage 1  256 px prepared (config)', lambda: stage1('nih_256')),
        ('stage 2  1024 px prepared PNG (png config)',
         lambda: stage2('vindr_png_1024', STAGE2_PNG_CFG, size=(1024, 841))),
    ):  # fmt: skip
        dataset, collate, batch = build()
        dataset.length = args.rss_batches * batch * workers
        trace = worker_rss_over_epoch(dataset, collate, workers, batch)
        first, last = trace[0], trace[-1]
        growth = max(b - a for a, b in zip(first, last))
        print(
            f'worker RSS over one epoch of {dataset.length} samples, {label}: '
            + ' -> '.join('/'.join(f'{v:.0f}' for v in point) for point in trace)
            + f' MiB (per worker; largest growth {growth:+.1f} MiB)',
            flush=True,
        )
    print(
        'samples/s: wall clock per worker; /CPU-s: per worker CPU-second (a worker on a core '
        'of its own). baseline (/CPU-s): stage 1 -> 1024 px PNG, 3-channel views; stage 2 -> '
        'uncompressed DICOM'
    )


if __name__ == '__main__':
    main()
