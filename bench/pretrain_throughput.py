"""Stage-1 training throughput: BarlowTwins-CXR vs stock mmpretrain BarlowTwins.

Both models get the same ResNet-50, the same 2048-8192-8192-8192 projector, the same
LARS parameter groups, batch and image size; they differ only in what BarlowTwins-CXR
changes (GlobalCrossCorrelationHead + FusedCrossCorrelationLoss). Steps alternate
between the two models so machine noise hits both alike. Synthetic input tensors: this
measures the training step (forward, backward, LARS update), not image decoding.

    python bench/pretrain_throughput.py                       # CPU, batch 8, 64 px
    python bench/pretrain_throughput.py --device cuda --batch 96 --size 224 --steps 20

With ``--device cuda`` the step runs under AMP (fp16 autocast + dynamic loss scaling,
mmengine's AmpOptimWrapper) with channels_last tensors, and the hours for 800 epochs of
the NIH train_val list (86,524 images) on that one GPU are printed.
"""

import argparse
import copy
import logging
import os.path as osp
import time

import torch

NIH_TRAIN_VAL_IMAGES = 86524
EPOCHS = 800

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPE = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_8xb96-coslr-800e_nih-224.py'
STOCK_MODEL = 'configs/_base_/models/barlowtwins_r50.py'


def cpu_safe_model(config: str, **overrides) -> dict:
    """The config's model with plain BN (SyncBN needs a process group)."""
    from mmengine.config import Config

    model = Config.fromfile(osp.join(REPO, config)).model.to_dict()
    model['backbone']['norm_cfg'] = dict(type='BN')
    model['neck']['norm_cfg'] = dict(type='BN1d')
    model.update(overrides)
    return model


def recipe_optim() -> dict:
    """The recipe's LARS parameter groups, lr for its batch of 768 (0.2 x 3)."""
    from mmengine.config import Config

    optim = Config.fromfile(osp.join(REPO, RECIPE)).optim_wrapper.to_dict()
    optim.pop('type')
    optim.pop('loss_scale', None)
    optim['optimizer']['lr'] = 0.6
    return optim


def build(model_cfg: dict, device: str, amp: bool, channels_last: bool, hidden: int):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    cfg = copy.deepcopy(model_cfg)
    cfg['neck'].update(hid_channels=hidden, out_channels=hidden)
    cfg['head']['in_channels'] = hidden
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optim_cfg = recipe_optim()
    optim_cfg['type'] = 'AmpOptimWrapper' if amp else 'OptimWrapper'
    if amp:
        optim_cfg['loss_scale'] = 'dynamic'
    return model, build_optim_wrapper(model, optim_cfg)


def step(model, optim_wrapper, views) -> float:
    with optim_wrapper.optim_context(model):
        loss = model.loss(views, None)['loss']
    optim_wrapper.update_params(loss)
    return float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch', type=int, default=None, help='per-device batch (8 CPU / 96 GPU)')
    parser.add_argument('--size', type=int, default=None, help='image side (64 CPU / 224 GPU)')
    parser.add_argument('--hidden', type=int, default=8192, help='projector width')
    parser.add_argument('--steps', type=int, default=None, help='timed steps per model')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--only-ours', action='store_true', help='skip the stock model')
    args = parser.parse_args()
    cuda = args.device == 'cuda'
    if cuda and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device visible')
    batch = args.batch or (96 if cuda else 8)
    size = args.size or (224 if cuda else 64)
    steps = args.steps or (20 if cuda else 5)
    if args.threads:
        torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cudnn.benchmark = True

    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import cxr_mm.register  # noqa: F401  (registers BarlowTwinsCXR and friends)

    init_default_scope('mmpretrain')
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-tensor init report

    names = ['ours'] if args.only_ours else ['stock', 'ours']
    cfgs = dict(
        stock=cpu_safe_model(STOCK_MODEL), ours=cpu_safe_model(RECIPE, backbone_checkpoint=None)
    )
    built = {n: build(cfgs[n], args.device, cuda, cuda, args.hidden) for n in names}
    g = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    views = [
        torch.randn(batch, 3, size, size, generator=g).to(args.device, memory_format=fmt)
        for _ in range(2)
    ]

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for n in names:
        for _ in range(args.warmup):
            step(*built[n], views)
    sync()
    elapsed = {n: 0.0 for n in names}
    losses = {n: None for n in names}
    for _ in range(steps):
        for n in names:  # interleaved
            t0 = time.perf_counter()
            losses[n] = step(*built[n], views)
            sync()
            elapsed[n] += time.perf_counter() - t0

    where = torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} threads'
    print(
        f'device={args.device} ({where}) '
        f'batch={batch} size={size} projector=2048-{args.hidden}-{args.hidden}-{args.hidden} '
        f'steps={steps} amp={cuda} channels_last={cuda}'
    )
    ips = {}
    for n in names:
        ips[n] = batch * steps / elapsed[n]
        print(
            f'{n:>5}: {ips[n]:8.2f} images/s  ({elapsed[n] / steps * 1000:.0f} ms/step, '
            f'last loss {losses[n]:.2f})'
        )
    if 'stock' in ips:
        print(f'ratio ours/stock: {ips["ours"] / ips["stock"]:.3f}  (goal >= 1.0)')
    if cuda:
        hours = EPOCHS * NIH_TRAIN_VAL_IMAGES / ips['ours'] / 3600
        print(
            f'implied time for {EPOCHS} epochs x {NIH_TRAIN_VAL_IMAGES} NIH train_val images '
            f'on this one GPU: {hours:.1f} h (goal <= 12 h; model step only, data loading '
            f'must keep up at {ips["ours"]:.0f} images/s)'
        )


if __name__ == '__main__':
    main()
