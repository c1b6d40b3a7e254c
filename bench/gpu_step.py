"""Training and inference step rates of both stages on one device, and what they imply.

Stage 1: BarlowTwins-CXR vs stock mmpretrain ``BarlowTwins`` on the same settings (same
ResNet-50, 2048-8192-8192-8192 projector, the recipe's LARS groups, batch and image size;
they differ only in what BarlowTwins-CXR changes: ``GlobalCrossCorrelationHead`` +
``FusedCrossCorrelationLoss``). Steps alternate between the two models so machine noise
hits both alike; the ratio ours/stock is the figure to read. Measured at per-GPU batch 96
(the recipe) and, on a GPU, at the largest batch that fits. Stage 2: Faster R-CNN + FPN
(the stage-2 recipe's model) training and inference images/s at 1024 px. Peak GPU memory
per row, and the projected wall time of the 800-epoch stage-1 recipe on this one GPU.

Synthetic input tensors: this times the model step (forward, backward, optimizer update;
for stage 2 also mmdet's data preprocessor and target assignment), not image decoding
(bench/loader_throughput.py measures that side).

    python bench/gpu_step.py --device cuda          # the figures for the READMEs
    python bench/gpu_step.py --device cpu           # tiny smoke version (the default
                                                    # without a GPU; tests run it)
    python bench/gpu_step.py --device cpu --s1-batch 8 --hidden 8192 --steps 5
                                                    # the stage-1 ratio with the real head

With ``--device cuda`` both stages run as the recipes train: AMP (fp16 autocast, dynamic
loss scaling, mmengine's ``AmpOptimWrapper``), stage 1 with channels_last tensors.
"""

import argparse
import copy
import logging
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

NIH_TRAIN_VAL_IMAGES = 86524
EPOCHS = 800
STAGE1_GOAL_HOURS = 12

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE1_RECIPE = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'
STOCK_MODEL = 'configs/_base_/models/barlowtwins_r50.py'
STAGE2_RECIPE = 'configs/faster_rcnn_cxr/faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'

# Settings per device: the recipe's on a GPU, a few seconds' worth on a CPU.
SETTINGS = dict(
    cuda=dict(
        s1_batch=96,
        s1_size=224,
        hidden=8192,
        s1_max_batches=(128, 192, 256, 320, 384, 512, 640, 768, 1024),
        s2_size=1024,
        s2_train_batch=2,
        s2_test_batch=8,
        steps=20,
        warmup=3,
    ),
    cpu=dict(
        s1_batch=2,
        s1_size=64,
        hidden=256,
        s1_max_batches=(),
        s2_size=128,
        s2_train_batch=1,
        s2_test_batch=1,
        steps=1,
        warmup=1,
    ),
)


def load_cfg(config: str):
    from mmengine.config import Config

    return Config.fromfile(osp.join(REPO, config))


# ---------------------------------------------------------------- stage 1
def stage1_model_cfg(config: str, hidden: int, **overrides) -> dict:
    """The config's model with plain BN (SyncBN needs a process group), ``hidden``-wide."""
    model = load_cfg(config).model.to_dict()
    model['backbone']['norm_cfg'] = dict(type='BN')
    model['neck'].update(norm_cfg=dict(type='BN1d'), hid_channels=hidden, out_channels=hidden)
    model['head']['in_channels'] = hidden
    model.update(overrides)
    return model


def recipe_optim(amp: bool) -> dict:
    """The stage-1 recipe's LARS parameter groups, lr for its batch of 768 (0.2 x 3)."""
    optim = load_cfg(STAGE1_RECIPE).optim_wrapper.to_dict()
    optim['optimizer']['lr'] = 0.6
    optim['type'] = 'AmpOptimWrapper' if amp else 'OptimWrapper'
    if not amp:
        optim.pop('loss_scale', None)
    return optim


def build_stage1(model_cfg: dict, device: str, amp: bool, channels_last: bool):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model, build_optim_wrapper(model, recipe_optim(amp))


def stage1_views(batch: int, size: int, device: str, channels_last: bool) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [
        torch.randn(batch, 3, size, size, generator=g).to(device, memory_format=fmt)
        for _ in range(2)
    ]


def stage1_step(model, optim_wrapper, views) -> float:
    with optim_wrapper.optim_context(model):
        loss = model.loss(views, None)['loss']
    optim_wrapper.update_params(loss)
    return float(loss.detach())


# ---------------------------------------------------------------- stage 2
def build_stage2(device: str, amp: bool):
    from mmdet.registry import MODELS
    from mmengine.optim import build_optim_wrapper

    cfg = load_cfg(STAGE2_RECIPE)
    model_cfg = copy.deepcopy(cfg.model)  # a ConfigDict: mmdet reads train_cfg.rpn
    model_cfg.backbone.init_cfg = None  # random weights: the rate does not depend on them
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.to(device).train()
    optim = cfg.optim_wrapper.to_dict()
    optim['type'] = 'AmpOptimWrapper' if amp else 'OptimWrapper'
    if not amp:
        optim.pop('loss_scale', None)
    return model, build_optim_wrapper(model, optim)


def stage2_batch(batch: int, size: int, seed: int = 0) -> dict:
    """Synthetic radiographs with 3 lesion boxes each, as mmdet's packer hands them over."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        xy = torch.rand(3, 2, generator=g) * size * 0.7
        wh = size * (0.05 + 0.2 * torch.rand(3, 2, generator=g))
        sample = DetDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0))
        )
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1), labels=torch.randint(0, 14, (3,), generator=g)
        )
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------- timing
class Timer:
    """Wall time of device work: synchronises CUDA before reading the clock."""

    def __init__(self, device: str) -> None:
        self.cuda = device == 'cuda'

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> Optional[float]:
        return torch.cuda.max_memory_allocated() / 2**30 if self.cuda else None


def time_interleaved(
    fns: Dict[str, Callable[[], object]], steps: int, warmup: int, timer: Timer
) -> Dict[str, float]:
    """Seconds per call of each function, calls interleaved after ``warmup`` calls each."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    timer.sync()
    elapsed = dict.fromkeys(fns, 0.0)
    for _ in range(steps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            timer.sync()
            elapsed[name] += time.perf_counter() - t0
    return {name: t / steps for name, t in elapsed.items()}


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or 'out of memory' in str(err)


def run_stage1(args, s: dict, timer: Timer, rows: list) -> Dict[int, float]:
    """Ours vs stock at the recipe's per-GPU batch, then at the largest batch that fits."""
    cuda = args.device == 'cuda'
    channels_last = cuda and not args.no_channels_last
    cfgs = dict(
        stock=stage1_model_cfg(STOCK_MODEL, s['hidden']),
        ours=stage1_model_cfg(STAGE1_RECIPE, s['hidden'], backbone_checkpoint=None),
    )
    names = ['ours'] if args.only_ours else ['stock', 'ours']
    built = {n: build_stage1(cfgs[n], args.device, cuda, channels_last) for n in names}

    def measure(batch: int) -> Dict[str, float]:
        views = stage1_views(batch, s['s1_size'], args.device, channels_last)
        timer.reset_peak()
        per_step = time_interleaved(
            {n: (lambda n=n: stage1_step(*built[n], views)) for n in names},
            s['steps'],
            s['warmup'],
            timer,
        )
        return {n: batch / t for n, t in per_step.items()}

    ours_ips = {}
    batches = [s['s1_batch']]
    if cuda and not args.skip_max_batch:  # the largest batch that fits, ours
        largest = None
        for batch in s['s1_max_batches']:
            try:
                views = stage1_views(batch, s['s1_size'], args.device, channels_last)
                stage1_step(*built['ours'], views)
                timer.sync()
                largest = batch
            except RuntimeError as err:
                if not is_oom(err):
                    raise
                break
            finally:
                views = None
                timer.reset_peak()
        if largest is not None:
            batches.append(largest)
    for batch in batches:
        try:
            ips = measure(batch)
            peak = timer.peak_gib()
        except RuntimeError as err:  # stock may not fit where ours does
            if not is_oom(err):
                raise
            rows.append((f'stage 1, batch {batch}', 'out of memory', '', '', ''))
            timer.reset_peak()
            continue
        ours_ips[batch] = ips['ours']
        ratio = f'{ips["ours"] / ips["stock"]:.3f}' if 'stock' in ips else ''
        rows.append(
            (
                f'stage 1 train, batch {batch} x {s["s1_size"]} px',
                f'{ips["ours"]:.1f}',
                f'{ips["stock"]:.1f}' if 'stock' in ips else '',
                ratio,
                f'{peak:.1f}' if peak is not None else '',
            )
        )
    return ours_ips


def run_stage2(args, s: dict, timer: Timer, rows: list) -> None:
    cuda = args.device == 'cuda'
    model, optim_wrapper = build_stage2(args.device, cuda)
    size = s['s2_size']

    train_data = stage2_batch(s['s2_train_batch'], size)
    timer.reset_peak()
    per_step = time_interleaved(
        {'train': lambda: model.train_step(train_data, optim_wrapper)},
        s['steps'],
        s['warmup'],
        timer,
    )
    rows.append(
        (
            f'stage 2 train, batch {s["s2_train_batch"]} x {size} px',
            f'{s["s2_train_batch"] / per_step["train"]:.2f}',
            '',
            '',
            f'{timer.peak_gib():.1f}' if cuda else '',
        )
    )

    model.eval()
    test_data = stage2_batch(s['s2_test_batch'], size, seed=1)

    def infer():
        with torch.no_grad(), torch.autocast('cuda', torch.float16, enabled=cuda):
            return model.test_step(test_data)

    timer.reset_peak()
    per_step = time_interleaved({'test': infer}, s['steps'], s['warmup'], timer)
    rows.append(
        (
            f'stage 2 inference, batch {s["s2_test_batch"]} x {size} px',
            f'{s["s2_test_batch"] / per_step["test"]:.2f}',
            '',
            '',
            f'{timer.peak_gib():.1f}' if cuda else '',
        )
    )


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device',
        choices=['cpu', 'cuda'],
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cuda: the recipe settings; cpu (default without a GPU): a tiny smoke version',
    )
    parser.add_argument('--steps', type=int, help='timed steps per row')
    parser.add_argument('--s1-batch', type=int, help='stage-1 per-device batch (96 GPU / 2 CPU)')
    parser.add_argument('--s1-size', type=int, help='stage-1 view size (224 GPU / 64 CPU)')
    parser.add_argument('--hidden', type=int, help='projector width (8192 GPU / 256 CPU)')
    parser.add_argument('--s2-size', type=int, help='stage-2 image side (1024 GPU / 128 CPU)')
    parser.add_argument('--only-ours', action='store_true', help='skip stock BarlowTwins')
    parser.add_argument('--skip-max-batch', action='store_true', help='no largest-batch search')
    parser.add_argument('--no-channels-last', action='store_true', help='stage 1 on GPU')
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    args = parser.parse_args(argv)
    cuda = args.device == 'cuda'
    if cuda and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device visible')
    s = dict(SETTINGS[args.device])
    for key in ('steps', 's1_batch', 's1_size', 'hidden', 's2_size'):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    if args.threads:
        torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cudnn.benchmark = True

    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import cxr_mm.register  # noqa: F401  (BarlowTwinsCXR and friends)

    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-tensor init report
    timer = Timer(args.device)
    rows: list = []
    init_default_scope('mmpretrain')
    ours_ips = run_stage1(args, s, timer, rows)
    init_default_scope('mmdet')
    run_stage2(args, s, timer, rows)

    where = torch.cuda.get_device_name() if cuda else f'CPU, {torch.get_num_threads()} threads'
    print(
        f'device: {args.device} ({where}); amp={cuda}; stage-1 projector '
        f'2048-{s["hidden"]}-{s["hidden"]}-{s["hidden"]}; {s["steps"]} timed steps per row'
        + ('' if cuda else ' [smoke version: tiny sizes, rates not comparable to a GPU]')
    )
    header = ('row', 'ours img/s', 'stock img/s', 'ours/stock', 'peak GiB')
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print('  '.join(str(c).ljust(w) for c, w in zip(row, widths)))
    for batch, ips in ours_ips.items():
        hours = EPOCHS * NIH_TRAIN_VAL_IMAGES / ips / 3600
        print(
            f'projected stage 1, {EPOCHS} epochs x {NIH_TRAIN_VAL_IMAGES} images at batch '
            f'{batch} on this one {"GPU" if cuda else "CPU"}: {hours:.1f} h'
            + (f' (goal <= {STAGE1_GOAL_HOURS} h; model step only)' if cuda else '')
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
