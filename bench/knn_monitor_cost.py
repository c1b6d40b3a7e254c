"""Cost of KNNMonitorHook against the stage-1 training it monitors, same process.

Per image: the hook's embedding (backbone forward, no gradients, one view) against a
recipe training step (two views, forward + backward + LARS; bench/pretrain_throughput's
model and optimiser), alternated so machine noise hits both alike. Synthetic tensors:
image decoding is not included (the hook decodes each of its images once, as training
does, so with loading-bound training the hook's share is at most its image count over
the epoch's, also printed).

    python bench/knn_monitor_cost.py                                  # CPU, batch 8, 64 px
    python bench/knn_monitor_cost.py --device cuda --batch 96 --size 224 --steps 20
"""

import argparse
import os.path as osp
import sys
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--batch', type=int, default=None, help='batch (8 CPU / 96 GPU)')
    p.add_argument('--size', type=int, default=None, help='image side (64 CPU / 224 GPU)')
    p.add_argument('--hidden', type=int, default=8192, help='projector width')
    p.add_argument('--steps', type=int, default=3, help='timed steps of each')
    args = p.parse_args()
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import cxr_mm.register  # noqa: F401

    init_default_scope('mmpretrain')
    sys.path.insert(0, HERE)
    import pretrain_throughput as tp  # the recipe's model, optimiser and step

    cuda = args.device == 'cuda'
    batch = args.batch or (96 if cuda else 8)
    size = args.size or (224 if cuda else 64)
    model, optim = tp.build(
        tp.cpu_safe_model(tp.RECIPE, backbone_checkpoint=None), args.device, cuda, cuda, args.hidden
    )
    hook = next(
        h
        for h in Config.fromfile(osp.join(tp.REPO, tp.RECIPE)).custom_hooks
        if h['type'] == 'KNNMonitorHook'
    )
    g = torch.Generator().manual_seed(0)
    views = [torch.rand(batch, 3, size, size, generator=g).to(args.device) for _ in range(2)]
    if cuda:
        views = [v.contiguous(memory_format=torch.channels_last) for v in views]

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def embed():
        model.eval()
        with torch.no_grad(), torch.autocast(args.device, enabled=cuda):
            model.backbone(views[0])[-1].float().mean(dim=(2, 3))
        model.train()

    train_s, embed_s = [], []
    for i in range(args.steps + 1):  # the first of each is warm-up
        sync()
        t0 = time.perf_counter()
        tp.step(model, optim, views)
        sync()
        t1 = time.perf_counter()
        embed()
        sync()
        t2 = time.perf_counter()
        if i:
            train_s.append((t1 - t0) / batch)
            embed_s.append((t2 - t1) / batch)
    tr, em = sum(train_s) / len(train_s), sum(embed_s) / len(embed_s)
    n_hook = hook['num_query'] + hook['num_reference']
    epoch = tp.NIH_TRAIN_VAL_IMAGES
    print(
        f'{args.device}, batch {batch}, {size} px: '
        f'train {1 / tr:.2f} img/s, embed {1 / em:.2f} img/s'
    )
    print(f'embed / train time per image: {em / tr:.3f}')
    print(
        f'recipe hook ({n_hook} images every {hook["interval"]} epochs): compute '
        f'{100 * n_hook * em / (epoch * tr):.2f} % of an epoch per evaluation '
        f'({100 * n_hook * em / (epoch * tr * hook["interval"]):.3f} % per epoch); '
        f'if training is loading-bound, at most {100 * n_hook / epoch:.2f} % per evaluation'
    )


if __name__ == '__main__':
    main()
