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
import time

import torch

NIH_TRAIN_VAL_IMAGES = 86524
EPOCHS = 800

BASE = dict(
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=8192, out_channels=8192,
              num_layers=3, with_last_bn=False, with_last_bn_affine=False, with_avg_pool=True,
              norm_cfg=dict(type='BN1d'),
              init_cfg=dict(type='Kaiming', distribution='uniform', layer=['Linear'])),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True))
STOCK = dict(BASE, type='BarlowTwins',
             head=dict(type='LatentCrossCorrelationHead', in_channels=8192,
                       loss=dict(type='CrossCorrelationLoss', lambd=0.0051)))
OURS = dict(BASE, type='BarlowTwinsCXR', backbone_checkpoint=None,
            head=dict(type='GlobalCrossCorrelationHead', in_channels=8192,
                      loss=dict(type='FusedCrossCorrelationLoss', lambd=0.0051)))
OPTIM = dict(
    optimizer=dict(type='LARS', lr=0.6, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
        'bias': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True)}))


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
    optim_cfg = copy.deepcopy(OPTIM)
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

    import cxr_mm  # noqa: F401  (registers BarlowTwinsCXR and friends)
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-tensor init report

    names = ['ours'] if args.only_ours else ['stock', 'ours']
    cfgs = dict(stock=STOCK, ours=OURS)
    built = {n: build(cfgs[n], args.device, cuda, cuda, args.hidden) for n in names}
    g = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    views = [torch.randn(batch, 3, size, size, generator=g).to(args.device, memory_format=fmt)
             for _ in range(2)]

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

    print(f'device={args.device} ({torch.cuda.get_device_name() if cuda else f"{torch.get_num_threads()} threads"}) '
          f'batch={batch} size={size} projector=2048-{args.hidden}-{args.hidden}-{args.hidden} '
          f'steps={steps} amp={cuda} channels_last={cuda}')
    ips = {}
    for n in names:
        ips[n] = batch * steps / elapsed[n]
        print(f'{n:>5}: {ips[n]:8.2f} images/s  ({elapsed[n] / steps * 1000:.0f} ms/step, '
              f'last loss {losses[n]:.2f})')
    if 'stock' in ips:
        print(f'ratio ours/stock: {ips["ours"] / ips["stock"]:.3f}  (goal >= 1.0)')
    if cuda:
        hours = EPOCHS * NIH_TRAIN_VAL_IMAGES / ips['ours'] / 3600
        print(f'implied time for {EPOCHS} epochs x {NIH_TRAIN_VAL_IMAGES} NIH train_val images '
              f'on this one GPU: {hours:.1f} h (goal <= 12 h; model step only, data loading '
              f'must keep up at {ips["ours"]:.0f} images/s)')


if __name__ == '__main__':
    main()
