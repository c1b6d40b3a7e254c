"""Under DDP (2 CPU processes, gloo) the loss and gradients equal one process on the full batch."""

import os.path as osp

import torch
import torch.multiprocessing as mp

N, D_IN, D_OUT = 16, 12, 32


def _data():
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(N, D_IN, generator=g)
    x2 = x1 + 0.5 * torch.randn(N, D_IN, generator=g)
    return x1, x2


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(D_IN, D_OUT), torch.nn.ReLU(), torch.nn.Linear(D_OUT, D_OUT)
    )


def _heads():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')

    import cxr_mm.register  # noqa: F401

    ours = MODELS.build(
        dict(
            type='GlobalCrossCorrelationHead',
            in_channels=D_OUT,
            loss=dict(type='FusedCrossCorrelationLoss'),
        )
    )
    stock = MODELS.build(
        dict(
            type='mmpretrain.LatentCrossCorrelationHead',
            in_channels=D_OUT,
            loss=dict(type='CrossCorrelationLoss'),
        )
    )
    return ours, stock


def _worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    torch.distributed.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=world_size
    )
    try:
        ours, stock = _heads()
        x1, x2 = _data()
        # Unequal shares (10 + 6) also exercise the global batch-size count.
        sl = slice(0, 10) if rank == 0 else slice(10, N)
        model = torch.nn.parallel.DistributedDataParallel(_model())
        loss = ours.loss(model(x1[sl]), model(x2[sl]))
        loss.backward()
        with torch.no_grad():
            stock_loss = stock.loss(model(x1[sl]), model(x2[sl]))
        torch.save(
            dict(
                loss=loss.detach(),
                stock_loss=stock_loss,
                grads=[p.grad.clone() for p in model.parameters()],
            ),
            osp.join(out_dir, f'rank{rank}.pth'),
        )
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_loss_and_grads_equal_single_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in range(2)]

    ours, stock = _heads()
    x1, x2 = _data()
    model = _model()
    loss = ours.loss(model(x1), model(x2))
    loss.backward()
    with torch.no_grad():
        stock_single = stock.loss(model(x1), model(x2))
    assert abs(float(stock_single) - float(loss)) / float(loss) < 1e-5

    for r in ranks:
        assert abs(float(r['loss']) - float(loss)) / float(loss) <= 1e-5
        # DDP averaged the per-rank gradients: equal to the full-batch gradient.
        for g_ddp, p in zip(r['grads'], model.parameters()):
            torch.testing.assert_close(g_ddp, p.grad, rtol=1e-4, atol=1e-6)
    # mmpretrain's head normalises with per-GPU statistics: its DDP loss is not the
    # full-batch loss (the reason GlobalCrossCorrelationHead exists).
    assert abs(float(ranks[0]['stock_loss']) - float(stock_single)) / float(stock_single) > 1e-3
